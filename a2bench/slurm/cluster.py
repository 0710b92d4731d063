"""The cluster, through submitit and Slurm's own commands: submitting an array, asking sacct
for the jobs' states, and reading a job's failure (sinfo's partitions: a2bench.sinfo, which the
CLI asks before this package loads)."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from a2bench.slurm.errors import SlurmError
from a2bench.slurm.faults import GONE, base_state
from a2bench.slurm.job import ShardJob, ShardTask
from a2bench.slurm.layout import SUBMITIT

# ---------------------------------------------------------------------------------------------
# Submitting


def executor(part: Path, params: dict[str, Any]) -> Any:
    """submitit's Slurm executor for one partition's array, the cluster named explicitly (its
    AutoExecutor would pick one by what is on PATH)."""
    import submitit

    ex = submitit.AutoExecutor(folder=part / SUBMITIT, cluster="slurm")
    try:
        ex.update_parameters(**params)
    except ValueError as e:  # submitit lists every valid name; the first line says which
        raise SlurmError(f"--slurm: {str(e).splitlines()[0]}") from None
    return ex


def sbatch_text(part: Path, params: dict[str, Any], count: int) -> str:
    """The batch file `submit` sends for `count` array tasks: submitit's own text, from the
    same executor and its own conversion of the parameters."""
    from submitit.slurm.slurm import _make_sbatch_string

    slurm = executor(part, params)._executor
    return _make_sbatch_string(command="python -u -m submitit.core._submit",
                               folder=slurm.folder, map_count=count, **slurm.parameters)


def submit(part: Path, params: dict[str, Any], tasks: Sequence[ShardTask]) -> list[Any]:
    """One job array for `tasks`."""
    fresh = not part.exists()  # made here: removed again if sbatch takes nothing
    ex = executor(part, params)
    part.mkdir(parents=True, exist_ok=True)
    said = io.StringIO()  # submitit prints sbatch's complaint itself; it goes in our one line
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
            return ex.map_array(ShardJob(), list(tasks))
    except (subprocess.CalledProcessError, FileNotFoundError, RuntimeError) as e:
        # RuntimeError: submitit's FailedJobError (sbatch's exit status) and its own checks
        if fresh:  # submitit's pickles and sbatch script of jobs that never were
            shutil.rmtree(part, ignore_errors=True)
        lines = [ln.strip() for ln in (str(e) or said.getvalue()).splitlines() if ln.strip()]
        last = lines[-1] if lines else type(e).__name__
        # sbatch that finds no controller says so in these words: no flag would mend that
        unreachable = any(w in last for w in UNREACHABLE)
        raise SlurmError(f"sbatch refused the jobs for partition {part.name}: {last}; "
                         + ("expected a machine that reaches a Slurm controller (a login "
                            "node: sinfo answers there)" if unreachable
                            else "check --partition and --slurm")) from None


UNREACHABLE = ("Could not establish a configuration source", "Unable to contact slurm controller",
               "Unable to establish Slurm configuration")


# ---------------------------------------------------------------------------------------------
# Asking the cluster


def sacct_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """Each listed job's state, from one sacct call (the query submitit makes), or from squeue
    where sacct cannot answer; None when neither could be asked, so that nothing is concluded
    from their silence."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    arrays = sorted({j.split("_")[0] for j in job_ids})
    if not arrays:
        return {}
    command = ["sacct", "-o", "JobID,State,NodeList", "--parsable2"]
    for a in arrays:
        command += ["-j", a]
    text = _answer(command)
    if text is None:
        # a cluster without accounting (no slurmdbd): sacct says "Slurm accounting storage is
        # disabled", and the jobs had read PENDING for ever. squeue lists a job until MinJobAge
        # after it ends, and Watch takes one it stops listing as ended. Not `-j`: squeue
        # refuses the call once none of the jobs is listed; --me (Slurm 20.11 on), where a
        # user name may not resolve in a container
        listed = _answer(["squeue", "-h", "-r", "--states=all", "-o", "%i|%T|%N", "--me"])
        text = None if listed is None else "JobID|State|NodeList\n" + listed
    if text is None:
        return None
    info = SlurmInfoWatcher().read_info(text)
    return {j: info[j].get("State") or "UNKNOWN" for j in job_ids if j in info}


def _answer(command: list[str]) -> str | None:
    """The command's output, or None where it could not run or failed."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def pending_reasons(job_ids: Sequence[str]) -> dict[str, str] | None:
    """Why each listed pending job waits, as squeue says it (%r: Resources, Priority,
    JobHeldUser, ReqNodeNotAvail, ...), from one squeue call; None when it could not be asked.
    sacct keeps no reason, and a held job or one bound to a drained node had looked like any
    queued job."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    if not arrays:
        return {}
    command = ["squeue", "-h", "-r", "-t", "PENDING", "-o", "%i|%r", "-j", ",".join(arrays)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    said = dict(line.split("|", 1) for line in out.stdout.splitlines() if "|" in line)
    return {j: said[j].strip() for j in job_ids if said.get(j, "").strip() not in ("", "None")}


class Watch:
    """The jobs' states over the polls, and the jobs Slurm stopped listing.

    A job that was listed and then is not, on two polls in a row, has ended: without an
    accounting database, Slurm forgets a pending array task cancelled before it started, and a
    finished job after MinJobAge; a real sacct may also lose old jobs. submitit's own watcher
    would keep the last state it saw (PENDING) for ever.

    `query` asks for the states (sacct_states; the tests pass their own answers), and
    `reasons` why the pending ones wait (pending_reasons; none asked where `query` is given).
    """

    def __init__(self, query: Callable[[Sequence[str]], dict[str, str] | None] | None = None,
                 reasons: Callable[[Sequence[str]], dict[str, str] | None] | None = None
                 ) -> None:
        self.query = query or sacct_states
        self.ask_reasons = reasons or (pending_reasons if query is None else lambda ids: {})
        self.reasons: dict[str, str] = {}  # pending job -> why it waits, at the last poll
        self.states: dict[str, str] = {}
        self.seen: set[str] = set()
        self.absent: dict[str, int] = {}
        self.unanswered = 0  # polls in a row that neither sacct nor squeue answered

    def poll(self, job_ids: Sequence[str]) -> None:
        states = self.query(job_ids)
        if states is None:
            self.unanswered += 1
            return
        self.unanswered = 0
        for j in job_ids:
            if j in states:
                self.states[j] = states[j]
                self.seen.add(j)
                self.absent.pop(j, None)
            elif j in self.seen:
                self.absent[j] = self.absent.get(j, 0) + 1
                if self.absent[j] >= 2:
                    self.states[j] = GONE
        pending = [j for j in job_ids if base_state(self.state(j)) == "PENDING"]
        self.reasons = (self.ask_reasons(pending) or {}) if pending else {}

    def state(self, job_id: str) -> str:
        return self.states.get(job_id, "PENDING")  # not listed yet: just submitted


# ---------------------------------------------------------------------------------------------
# A job's own account of its failure


def job_failure(job: Any) -> str | None:
    """The job's Python error in one line, and where its log is, where it wrote a result."""
    if not job.paths.result_pickle.exists():
        return None
    try:
        e = job.exception()
    except Exception as err:  # an unreadable result is itself the failure
        return f"unreadable result ({type(err).__name__})"
    if e is None:
        return None
    return f"{error_line(str(e))} (log: {job.paths.stderr})"


def error_line(text: str) -> str:
    """The last line of the traceback in submitit's failure text, which puts the traceback
    between two dashed lines and the paths of the logs after it."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    rules = [i for i, ln in enumerate(lines) if set(ln) == {"-"}]
    if len(rules) >= 2 and rules[1] > rules[0] + 1:
        return lines[rules[1] - 1]
    return lines[-1] if lines else "no message"
