"""Slurm job states, and the records of the cases a job ended without.

A job that ends without a result for some of its cases (cancelled, failed, out of time or
memory) gets those cases recorded by the driver, with Slurm's state in the reason, so that
every case of the sweep has a record and a resume does not run them again.
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


def left_to_resume(detail: str | None) -> bool:
    """Whether a failed job's cases are left unrecorded, for --resume to run again: its node
    started no worker (runner.WorkersFailed), which says nothing of the cases. Recorded as
    `error`, they would never run again."""
    from a2bench.run.runner import WORKERS_FAILED

    return bool(detail) and WORKERS_FAILED in detail


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
