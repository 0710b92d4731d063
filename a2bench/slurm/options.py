"""`--slurm KEY=VALUE` as submitit parameters, and the parameters of one partition's array."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from a2bench.slurm.errors import SlurmError

DEFAULT_TIMEOUT_MIN = 60  # submitit's own default is 5; and below ~15 a preemption is not requeued
# submitit has Slurm signal a job this long before its time limit, to requeue it there; Slurm may
# send the signal up to a minute earlier still (sbatch --signal). With a 1-minute limit the signal
# came as the job started: each try requeued at once, or died of it before submitit's handler
# was in place, and the sweep ended FAILED with every case an error.
SIGNAL_DELAY_S = 90
SIGNAL_EARLY_S = 60
MIN_TIMEOUT_MIN = 2  # the shortest limit whose signal comes after the start (parameters)
# submitit's generic parameter names; everything else is a Slurm one (slurm_<name>).
GENERIC = frozenset({"timeout_min", "mem_gb", "nodes", "cpus_per_task", "gpus_per_node",
                     "tasks_per_node", "name", "stderr_to_stdout"})
ALIASES = {"time": "timeout_min", "job_name": "name", "ntasks_per_node": "tasks_per_node"}
# A job's memory, as submitit names it: any of these takes the place of the whole node's (--mem=0).
MEMORY = frozenset({"mem_gb", "slurm_mem", "slurm_mem_per_cpu", "slurm_mem_per_gpu"})
# submitit's numeric parameters: another value had stopped the run in submitit's assertion (a
# traceback, and a folder holding only .slurm.json that refused the corrected command)
WHOLE = frozenset({"nodes", "cpus_per_task", "gpus_per_node", "tasks_per_node", "timeout_min",
                   "signal_delay_s"})


def parse_value(text: str) -> Any:
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def minutes(text: str, pair: str) -> int:
    """sbatch's time formats, MM:SS, HH:MM:SS and D-HH[:MM[:SS]], as whole minutes (up; 0 for
    00:00, which parse_options refuses)."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise SlurmError(f"--slurm {pair!r}: expected a time limit in minutes, HH:MM:SS or "
                         "D-HH:MM:SS")
    days, a, b, c = (int(g) if g else None for g in match.groups())
    if days is None and c is None:  # MM or MM:SS
        seconds = a * 60 + (b or 0)
    else:  # HH:MM:SS, or D-HH[:MM[:SS]]
        seconds = (days or 0) * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    return math.ceil(seconds / 60)


def parse_options(pairs: Sequence[str], stored: Sequence[str] = ()) -> dict[str, Any]:
    """--slurm KEY=VALUE ... as submitit parameters: time=120 -> timeout_min, account=x ->
    slurm_account; a key submitit does not know goes to sbatch as it is (#SBATCH --key=value).
    A key given twice is refused, as --partition twice is: the second had replaced the first
    unsaid (time and timeout_min, account and slurm_account are one key)."""
    from submitit.slurm.slurm import _get_default_parameters

    known = set(_get_default_parameters())
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    first: dict[str, str] = {}  # each key's pair
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key or not value.strip():
            raise SlurmError(f"--slurm {pair!r}: expected KEY=VALUE, e.g. account=mylab or "
                             "time=120")
        key = ALIASES.get(key, key)
        key = key[len("slurm_"):] if key.startswith("slurm_") else key
        if key in first and not {first[key], pair} <= set(stored):  # one begun so resumes so
            raise SlurmError(f"--slurm {pair!r}: sets {key} again, after --slurm "
                             f"{first[key]!r}; expected each key once")
        first.setdefault(key, pair)
        if key in ("partition", "p") and pair not in stored:  # filed under --partition's name;
            # a sweep begun with it before (its .slurm.json holds it) resumes as it began
            raise SlurmError(f"--slurm {pair!r}: expected the partition as --partition "
                             f"{value.strip()}, which names its results folder")
        parsed = parse_value(value.strip())
        if key == "timeout_min" and isinstance(parsed, str):
            parsed = minutes(parsed, pair)
            # 00:00 had been rounded up to a minute, and a sweep begun with it still is
            parsed = max(1, parsed) if pair in stored else parsed
        if (key == "timeout_min" and isinstance(parsed, int) and parsed < MIN_TIMEOUT_MIN
                and pair not in stored):  # a sweep begun with it resumes as it began
            # sbatch takes -5 (as some 8000 years) and 0 (as no limit) without a word, and a
            # 1-minute job is signalled to requeue as it starts (SIGNAL_DELAY_S)
            raise SlurmError(f"--slurm {pair!r}: expected a time limit of at least "
                             f"{MIN_TIMEOUT_MIN} minutes, e.g. time=120 or time=02:00:00 "
                             f"(default {DEFAULT_TIMEOUT_MIN}): Slurm signals a job to requeue "
                             f"up to {SIGNAL_DELAY_S + SIGNAL_EARLY_S} s before its limit")
        if key == "mem_gb" and isinstance(parsed, str):
            try:
                parsed = float(parsed)
            except ValueError:
                raise SlurmError(f"--slurm {pair!r}: expected a number of GB, e.g. mem_gb=64"
                                 ) from None
        if (key in WHOLE and (not isinstance(parsed, int) or isinstance(parsed, bool))
                or key == "mem_gb" and isinstance(parsed, bool)):
            raise SlurmError(f"--slurm {pair!r}: expected a whole number, e.g. {key}=4")
        if key in GENERIC:
            out[key] = parsed
        elif key in known:
            out[f"slurm_{key}"] = parsed
        else:  # any other sbatch option, written as given
            extra[key.replace("_", "-")] = parsed
    if extra:
        out["slurm_additional_parameters"] = extra
    return out


def parameters(partition: str | None, device: str, name: str,
               overrides: dict[str, Any]) -> dict[str, Any]:
    """The submitit parameters of one partition's array: exclusive nodes unless overridden."""
    params: dict[str, Any] = {
        "name": f"a2bench-{name}",
        "nodes": 1,
        "tasks_per_node": 1,
        "timeout_min": DEFAULT_TIMEOUT_MIN,
        # The whole node: no other job's work beside a timed case.
        "slurm_exclusive": True,
        # All of the node's memory (sbatch --mem=0), so the memory budget is the node's.
        "slurm_mem": "0",
    }
    if partition:
        params["slurm_partition"] = partition
    if device == "cuda":  # a2bench measures on the job's first GPU
        params["gpus_per_node"] = 1
    extra = {**params.pop("slurm_additional_parameters", {}),
             **overrides.get("slurm_additional_parameters", {})}
    if MEMORY & overrides.keys():
        # submitit writes slurm_mem over mem_gb (mem_gb=2 had run with --mem=0), and sbatch
        # takes one of --mem, --mem-per-cpu and --mem-per-gpu
        del params["slurm_mem"]
    params.update({k: v for k, v in overrides.items() if k != "slurm_additional_parameters"})
    if "slurm_signal_delay_s" not in overrides:
        # the requeue signal after the start, early as Slurm may send it: 30 s into a 2-minute
        # job at the earliest, where submitit's 90 s had come as it started (SIGNAL_DELAY_S)
        limit_s = 60 * int(params["timeout_min"])
        params["slurm_signal_delay_s"] = max(0, min(SIGNAL_DELAY_S, limit_s - SIGNAL_DELAY_S))
    if extra:
        params["slurm_additional_parameters"] = extra
    return params
