"""A worker stopped from outside (runner.Stopped), and the rule for one killed so twice on a case.

A SIGKILL that the kernel's out-of-memory count does not account for (run.oom) stops the sweep,
and --resume runs the case again (runner.killed says why). A userspace out-of-memory killer
(systemd-oomd, earlyoom) kills so too, and never counts: a case too large for the machine was
killed on every resume, the sweep stopped each time, and the run could never finish. So the
stopped session records which case pass it stopped on (environment.json's session entry,
rewritten atomically by store.ResultsWriter.update_session), and the next session, killed from
outside on that same case pass again, stores it as `oom` and goes on. A first such kill still
stops: `scancel --signal=KILL` of a job's worker must not lose its case. No torch here.
"""

from __future__ import annotations

from typing import Any

from a2bench.case import Case

KILLED_FROM_OUTSIDE = "worker killed by SIGKILL"  # how runner.killed begins, which Slurm reads
# environment.json: the (case, pass) a session's worker was killed from outside on, as it stopped
KILLED_AT = "killed_from_outside"
CasePass = tuple[tuple[Any, ...], int]  # (Case.key(), pass)
USERSPACE = ("a userspace out-of-memory killer (systemd-oomd, earlyoom) kills so too, and a "
             "second such kill of the same case on --resume stores it as oom")


class Stopped(KeyboardInterrupt):
    """The worker was sent SIGTERM: someone asked the sweep to stop (Slurm does so on scancel,
    preemption and the time limit), or SIGKILL by someone other than the kernel's out-of-memory
    killer (runner.killed: KilledFromOutside). Not a failure of the case, so the case is left
    without a result, to run again on resume, and the sweep stops as on Ctrl-C."""


class KilledFromOutside(Stopped):
    """A SIGKILL the kernel's oom_kill count did not rise for; `at`: the case pass it stopped,
    where the worker was running (or preparing) one case, else None (calibrating, timing a
    pass's cases interleaved)."""

    def __init__(self, message: str, doing: str):
        super().__init__(message)
        self.doing = doing
        self.at: tuple[Case, int] | None = None


def killed_twice(e: KilledFromOutside, case: Case, process: int,
                 before: CasePass | None) -> str:
    """The `oom` reason of `case`'s pass `process`, whose worker was killed from outside (`e`)
    where the session before stopped on the same case pass (`before`); where it did not, `e`
    is raised again, marked with the case pass it stopped on."""
    if before != (case.key(), process):
        e.at = (case, process)
        raise e
    return (f"{KILLED_FROM_OUTSIDE} while {e.doing} in two sessions in a row, the oom_kill "
            "count of its memory cgroup unchanged both times: as a userspace out-of-memory "
            "killer (systemd-oomd, earlyoom) kills, which the kernel does not count; were it "
            "not one, delete this case's lines from results.jsonl, and results.csv (rewritten "
            "from them), and --resume runs it again")


def killed_at(at: tuple[Case, int] | None) -> dict[str, Any]:
    """The session fields that record the case pass a kill from outside stopped on (none)."""
    if at is None:
        return {}
    case, process = at
    return {KILLED_AT: {"case": case.to_json(), "pass": process, "label": case.label()}}


def stopped_on(session: dict[str, Any]) -> CasePass | None:
    """The case pass a session (environment.json's entry) was stopped on by a kill from outside,
    or None: none recorded, or not as a2bench writes it (a hand edit: the rule is not applied)."""
    at = session.get(KILLED_AT)
    if not isinstance(at, dict) or not isinstance(at.get("case"), dict):
        return None
    process = at.get("pass")
    if not isinstance(process, int) or isinstance(process, bool):
        return None
    try:
        return Case.from_dict(at["case"]).key(), process
    except (TypeError, ValueError, KeyError):
        return None
