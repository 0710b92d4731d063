"""What the measurements were taken on, recorded beside them (pyperf-style metadata)."""

from __future__ import annotations

import os
import platform
import socket
import struct
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import torch

import a2bench


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """HEAD of the checkout a2bench runs from, "-dirty" when its package has uncommitted changes."""
    root = Path(a2bench.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "a2bench"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


SLURM_VARS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION",
              "SLURM_JOB_NODELIST", "SLURM_CLUSTER_NAME", "SLURM_JOB_ACCOUNT", "SLURM_JOB_QOS",
              "SLURM_JOB_GPUS", "SLURM_RESTART_COUNT")

SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
GETCONF_CACHES = {"L1d": "LEVEL1_DCACHE_SIZE", "L2": "LEVEL2_CACHE_SIZE",
                  "L3": "LEVEL3_CACHE_SIZE"}


def _parse_cache_size(text: str) -> int | None:
    """sysfs writes sizes as "32K", "32768K" or "1M" (binary units)."""
    text = text.strip().upper()
    unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
    number = text[: len(text) - len(unit)]
    return int(number) * _SIZE_UNITS[unit] if number.isdigit() else None


def cpu_caches(root: Path = SYSFS_CACHE) -> dict[str, int]:
    """Data cache sizes of cpu0 in bytes, as L1d, L2 and L3, read from sysfs.

    sysfs, not getconf: on these machines getconf's LEVEL3_CACHE_SIZE is several times what the
    kernel reports for one core's L3 (320 MiB vs 32 MiB). Instruction caches are left out.
    """
    out: dict[str, int] = {}
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_cache_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind not in ("Data", "Unified") or size is None:
            continue
        out.setdefault("L1d" if level == 1 else f"L{level}", size)
    return {name: out[name] for name in ("L1d", "L2", "L3") if name in out}


def caches_getconf() -> dict[str, int | None]:
    """What getconf says, kept only for the record (see cpu_caches for why it is not used)."""
    out: dict[str, int | None] = {}
    for name, variable in GETCONF_CACHES.items():
        try:
            text = subprocess.run(["getconf", variable], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
            out[name] = int(text)
        except (OSError, subprocess.SubprocessError, ValueError):
            out[name] = None
    return out


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def allocator() -> dict[str, Any]:
    """What serves large CPU allocations. glibc's malloc maps a fresh region for each allocation
    above its mmap threshold and unmaps it on free, so a tensor past it page-faults all of its
    memory again on every call: a latency cliff no cache explains. The threshold moves up with
    freed sizes but never past 4 MiB × sizeof(long) (32 MiB on 64-bit), unless
    MALLOC_MMAP_THRESHOLD_ fixes it (man mallopt)."""
    preload = os.environ.get("LD_PRELOAD", "")
    for other in ("jemalloc", "tcmalloc", "mimalloc"):
        if other in preload:
            return {"name": other, "source": "LD_PRELOAD"}
    name, version = platform.libc_ver()
    if name != "glibc":
        return {"name": name or "unknown"}
    fixed = os.environ.get("MALLOC_MMAP_THRESHOLD_", "")
    if fixed.isdigit():
        return {"name": "glibc", "version": version, "mmap_threshold_bytes": int(fixed),
                "mmap_threshold_source": "MALLOC_MMAP_THRESHOLD_",
                "trim_threshold_bytes": int(os.environ.get("MALLOC_TRIM_THRESHOLD_", "0") or 0)
                or None}
    return {"name": "glibc", "version": version,
            "mmap_threshold_bytes": 4 * 1024 * 1024 * struct.calcsize("l"),
            "mmap_threshold_source": "glibc's dynamic threshold at its maximum"}


def _compiler() -> str | None:
    """The C++ compiler torch.compile's CPU backend (inductor) would build its kernels with."""
    import shutil
    import subprocess

    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        return None
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines()[0] if out.stdout else cxx


def optional_counters() -> dict[str, dict[str, str | None]]:
    """thop and ptflops: the version that counted, or why their columns stay empty."""
    from a2bench.measure.counters import OPTIONAL, optional_missing

    return {name: {"version": _version(package), "missing": optional_missing(name)}
            for name, package in OPTIONAL.items()}


def collect(threads: int, device: str) -> dict[str, Any]:
    vm = psutil.virtual_memory()
    env: dict[str, Any] = {
        "host": socket.gethostname(),
        # A case run by a Slurm job: which job, array task, partition and node it had.
        "slurm": {k[6:].lower(): v for k, v in sorted(os.environ.items())
                  if k in SLURM_VARS} or None,
        "a2bench_version": a2bench.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "fvcore": _version("fvcore"),
        "optional_counters": optional_counters(),
        "compiler": _compiler(),
        "numpy": _version("numpy"),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "physical_cores": physical_cores(),
        "logical_cores": psutil.cpu_count(logical=True),
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "mkldnn_enabled": torch.backends.mkldnn.enabled,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "parallel_info": torch.__config__.parallel_info(),
        "flush_denormal": False,
        "ram_bytes": vm.total,
        "ram_available_bytes": vm.available,
        "load_average": list(os.getloadavg()),
        "cpu_busy_percent": psutil.cpu_percent(interval=0.3),
        "cuda_available": torch.cuda.is_available(),
        "cpu_caches": cpu_caches(),
        "caches_getconf": caches_getconf(),
    }
    # The caches the suite's device works through: the CPU's own, or the GPU's L2.
    env["caches"], env["caches_source"] = env["cpu_caches"], "sysfs"
    if device == "cpu":  # CUDA tensors come from torch's caching allocator instead
        env["allocator"] = allocator()
        from a2bench.measure.precision import cpu_reduced_precision

        # Whether a bf16/fp16 case runs on native instructions or is emulated (and slow).
        env["reduced_precision"] = cpu_reduced_precision()
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info()
        env.update({
            "gpu_name": props.name,
            "gpu_memory_bytes": total,
            "gpu_free_bytes": free,
            "gpu_l2_bytes": getattr(props, "L2_cache_size", None),
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version(),
            "driver_and_clocks": _nvidia_smi(),
            "caches": {"L2": getattr(props, "L2_cache_size", None)},
            "caches_source": "cuda device properties",
        })
    return env


def _nvidia_smi() -> str | None:
    query = "driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw"
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def apply_cpu_settings(threads: int) -> None:
    """Fix what changes CPU timings, so every case and every run sees the same settings."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)
