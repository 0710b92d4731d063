"""The torch threads a sweep runs at: the cores this process may use, and who chose the count."""

from __future__ import annotations

import os

import psutil

from a2bench.suite import Suite


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def allowed_cpus() -> int:
    """The logical CPUs this process may run on (a Slurm task's or a taskset's, where bound)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def usable_cores() -> int:
    """Physical cores, but no more than the CPUs this process may run on: a Slurm task bound to
    fewer CPUs than its node has (or a taskset) would otherwise run more threads than CPUs."""
    return max(1, min(physical_cores(), allowed_cpus()))


def default_threads(device: str) -> int:
    """A CPU sweep leaves one core to the harness and the OS: measured on 2 cores, double
    attention at N = 1024 took 0.54 ms at 1 thread and 1.07 ms at 2, whose peak memory also
    left its model by 25 % until the model held oneDNN's float32 convolutions, which torch runs
    at more than one thread (onednn.onednn_f32_scratch). On CUDA the threads only launch."""
    cores = usable_cores()  # on a Slurm node: that node's (or task's) cores
    return max(1, cores - 1) if device == "cpu" else cores


def run_threads(suite: Suite, option: int | None) -> tuple[int, str]:
    """The torch threads a sweep runs at, and what chose them: --threads ("option"), else a CPU
    suite's `threads:` ("suite"; the threads its sizes were chosen for), else default_threads
    ("default"). A CUDA run ignores the suite's: its threads only launch kernels."""
    if option:
        return option, "option"
    if suite.threads and suite.device == "cpu":
        return suite.threads, "suite"
    return default_threads(suite.device), "default"
