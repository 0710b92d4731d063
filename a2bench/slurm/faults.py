"""Slurm job states, and the records of the cases a job ended without.

A job that fails or runs out of memory without a result for some of its cases gets those cases
recorded by the driver, with Slurm's state in the reason, so that every case of the sweep has a
record and a resume does not run them again. One that was stopped (cancelled, out of time,
preempted, its node lost) leaves them unrecorded: they did not fail, and --resume runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a2bench.case import Case
from a2bench.measurement import Measurement
from a2bench.run.store import ResultsWriter

# Slurm job states that may still write results (submitit counts UNKNOWN and PREEMPTED so too:
# a preempted checkpointable job is requeued under the same id).
ACTIVE = frozenset({"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED",
                    "RESIZING", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT",
                    "STOPPED", "PREEMPTED", "READY", "UNKNOWN"})
# A job sacct no longer lists (see cluster.Watch); it ran no further.
GONE = "UNLISTED"


def base_state(state: str) -> str:
    """'CANCELLED by 0' -> 'CANCELLED'."""
    return (state or "UNKNOWN").split()[0].upper()


def fault_status(state: str) -> str:
    s = base_state(state)
    if s in ("TIMEOUT", "DEADLINE"):
        return "timeout"
    if s == "OUT_OF_MEMORY":
        return "oom"
    return "error"


# States of a job that was stopped rather than failed: its unfinished cases say nothing of
# themselves (GONE: cancelled while pending, as a rule).
STOPPED_STATES = frozenset({"CANCELLED", "TIMEOUT", "DEADLINE", "PREEMPTED", "NODE_FAIL",
                            "BOOT_FAIL", GONE})


# submitit's error where a job near its time limit was not requeued again (its --slurm
# time= used up max_num_timeout requeues): Slurm says FAILED, though the job ran out of time.
NOT_REQUEUED = "Job not requeued because:"


def out_of_time(detail: str | None, state: str = "") -> bool:
    """Whether the job ran out of its time limit: Slurm's TIMEOUT, or submitit's last requeue
    used up (a 2-minute job of 40 passes had recorded 96 of them as errors)."""
    return base_state(state) in ("TIMEOUT", "DEADLINE") or bool(detail) and NOT_REQUEUED in detail


def left_to_resume(detail: str | None, state: str = "") -> bool:
    """Whether an ended job's unfinished cases are left unrecorded, for --resume to run again:
    the job was stopped (scancel, its time limit, preemption, its node lost: its sweep got
    SIGTERM, or Slurm's state says so; or a worker of its was killed by someone other than the
    out-of-memory killer), or its node started no worker (runner.WorkersFailed).
    Neither says anything of the cases; recorded as `error` or `timeout`, they would never run
    again (the worker sent SIGTERM leaves its case for resume likewise)."""
    from a2bench.run.runner import WORKERS_FAILED
    from a2bench.slurm.job import KILLED, STOPPED

    if base_state(state) in STOPPED_STATES or out_of_time(detail, state):
        return True
    return bool(detail) and any(m in detail for m in (WORKERS_FAILED, STOPPED, KILLED))


def fault_reason(job_id: str, state: str, detail: str | None) -> str:
    if base_state(state) == GONE:
        text = (f"Slurm job {job_id} ended before this case finished, and sacct no longer "
                "lists it (state UNLISTED: cancelled while pending, or its record purged)")
    else:
        text = f"Slurm job {job_id} ended {base_state(state)} before this case finished"
    return f"{text}: {detail}" if detail else text


def expected(cases: Sequence[Case], processes: int) -> set[tuple[Any, int]]:
    return {(c.key(), p) for c in cases for p in range(processes)}


def record_faults(folder: Path, cases: Sequence[Case], processes: int, status: str,
                  reason: str) -> int:
    """Append a record for every (case, pass) the shard lacks; how many were missing."""
    from a2bench.run.runner import modelled
    from a2bench.run.worker import now

    writer = ResultsWriter(folder, resume=True, order=[c.key() for c in cases])
    done = writer.done_keys()
    added = 0
    for process in range(processes):
        for case in cases:
            if (case.key(), process) in done:
                continue
            writer.append(modelled(Measurement(case, status, reason, finished_at=now()), process))
            added += 1
    return added
