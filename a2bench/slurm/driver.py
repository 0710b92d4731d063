"""The driver of a Slurm sweep, on the login node, in four steps:

    driver = SlurmDriver(suite, cases, options)
    driver.plan()    # refuse what cannot go on; restore DIR/.slurm.json or begin it; the shards
    driver.submit()  # re-attach to the jobs that may still write; submit the other unfinished
    driver.watch()   # poll Slurm; record what an ended job lacks; merge partitions that grew
    driver.finish()  # the summary and the exit code

`run_on_slurm` runs them in order. Ctrl-C during submit or watch leaves the submitted jobs
running and says how to re-attach (exit 130); a refusal is a SlurmError (one line, exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a2bench.case import Case
from a2bench.formatting import plural
from a2bench.run.listener import ConsoleListener, clock_text, interactive
from a2bench.run.lock import holding
from a2bench.run.options import RunOptions, auto_flags_problem
from a2bench.run.passes import merge_passes
from a2bench.run.store import JSONL, atomic_write, holds_results, resume_problem
from a2bench.run.summary import failure_lines, status_counts
from a2bench.sinfo import cluster_partitions, default_partition, unknown_partitions_line
from a2bench.slurm.cluster import Watch, job_failure, sacct_states
from a2bench.slurm.cluster import submit as submit_array
from a2bench.slurm.errors import SlurmError
from a2bench.slurm.faults import (
    ACTIVE,
    GONE,
    STOPPED_STATES,
    base_state,
    expected,
    fault_reason,
    fault_status,
    left_to_resume,
    out_of_time,
    record_faults,
)
from a2bench.slurm.job import SPLITS, ShardTask, default_per_job, split
from a2bench.slurm.layout import JOBS, SUBMITIT, SWEEP, read_json, shard_folder
from a2bench.slurm.merge import merge_partition, shard_records
from a2bench.slurm.options import DEFAULT_TIMEOUT_MIN, parameters, parse_options

POLL_ENV = "A2BENCH_SLURM_POLL_S"  # seconds between two sacct calls (default 10)
UNANSWERED_POLLS = 3  # polls without an answer before the progress says its states are stale


@dataclass(frozen=True)
class Plan:
    """What plan() settled: the sweep as DIR/.slurm.json records it."""

    partitions: tuple[str, ...]
    named: bool  # partitions named by --partition (now or when it began): sbatch is told them
    per_job: int  # cases a job
    shards: int  # shards (jobs) per partition
    seed: int  # the order seed every job runs with
    resumed: bool  # DIR held this sweep before this run
    overrides: dict[str, Any]  # --slurm, as submitit parameters
    split: str = "cases"  # how the cases became jobs (slurm.job.SPLITS)


@dataclass
class Shard:
    """One array task's cases and folder, and what the driver knows of its job (mutable: the
    steps attach jobs and mark shards finished)."""

    partition: str
    index: int
    folder: Path
    cases: tuple[Case, ...]
    lacking: int = 0  # (case, pass) records the shard lacked when the driver started
    job: Any = None  # a submitit SlurmJob while one may still write here
    finished: bool = False


def run_on_slurm(suite: Any, cases: Sequence[Case], options: RunOptions,
                 caught: Any = None) -> int:
    """`a2bench run --executor slurm`: the driver's steps in order; the exit code (`caught`:
    the signal that stopped it, interrupts.Caught, for 128 + it)."""
    with holding(options.out, "a2bench run --executor slurm"):
        driver = SlurmDriver(suite, cases, options)
        try:  # a stop while planning or in the last merge too: 128 + the signal
            driver.plan()
            if driver.submit() and driver.watch():
                return driver.finish()
        except KeyboardInterrupt:
            pass
        return driver.interrupted(caught.exit_status(130) if caught else 130)


class SlurmDriver:
    """One Slurm sweep of `cases` into `options.out` (see the module's docstring)."""

    def __init__(self, suite: Any, cases: Sequence[Case], options: RunOptions) -> None:
        self.suite = suite
        self.cases = cases
        self.options = options
        self.out: Path = options.out
        self.processes = options.processes
        self.order = [c.key() for c in cases]
        self.sweep: Plan | None = None  # set by plan()
        self.shards: list[Shard] = []
        self.jobs_of: dict[str, dict[str, str]] = {}  # partition -> shard -> Slurm job id
        self._sizes: dict[Path, int] = {}  # each shard's results.jsonl at the last look
        self._in_merged: dict[str, int] = {}  # records in each partition's merged set
        self._result_seen: dict[str, float] = {}  # job -> when its result was first seen
        self._timed_out = False  # a job ran out of time with cases left for --resume

    # -----------------------------------------------------------------------------------------
    # plan

    def plan(self) -> Plan:
        """Refuse, before anything is written, a sweep that cannot go on as asked; then restore
        the sweep DIR holds (with --resume) or begin one: its partitions, split and order seed
        in DIR/.slurm.json, and its shards with what each lacks."""
        _check_login_node()
        o = self.options
        if problem := auto_flags_problem(False, o, self.suite.path):  # auto runs locally only
            raise SlurmError(problem)
        stored = self._restore()
        overrides = parse_options(o.slurm, [str(p) for p in stored.get("slurm") or ()])
        if stored and isinstance(stored.get("processes"), int) and \
                o.processes != stored["processes"]:
            # jobs still running make the old count, and the passes they lack would be
            # recorded as errors for good (--resume never runs those again)
            raise SlurmError(f"--processes {o.processes}: {self.out} runs "
                             f"{stored['processes']} passes a case; resume with --processes "
                             f"{stored['processes']}, as its jobs (running or requeued) make "
                             "that many")
        partitions, named = self._partitions(stored)
        if stored and o.cases_per_job and o.cases_per_job != stored.get("cases_per_job"):
            raise SlurmError(f"--cases-per-job {o.cases_per_job}: {self.out} was split "
                             f"{stored.get('cases_per_job')} cases a job; resume with that (or "
                             "leave it out), since each shard's folder holds its cases")
        per_job = (stored.get("cases_per_job") or o.cases_per_job
                   or default_per_job(len(self.cases)))
        # a sweep begun before --split existed was split case by case
        how = stored.get("split", "cases") if stored else (o.split or next(iter(SPLITS)))
        if o.split and o.split != how:
            raise SlurmError(f"--split {o.split}: {self.out} was split by {how}; resume with "
                             "that (or leave it out), since each shard's folder holds its cases")
        seed = o.seed if o.seed is not None else stored.get("order_seed")
        seed = seed if isinstance(seed, int) else secrets.randbelow(2**31)
        shard_cases = SPLITS[how](self.cases, per_job)
        self.sweep = Plan(tuple(partitions), named, per_job, len(shard_cases), seed,
                          bool(stored), overrides, how)
        self.shards = [Shard(p, i, shard_folder(self.out / p, i), chunk)
                       for p in partitions for i, chunk in enumerate(shard_cases)]
        self.jobs_of = {p: {str(k): str(v) for k, v in read_json(self.out / p / JOBS).items()}
                        for p in partitions}
        for s in self.shards:
            # a shard resumed with other timing fails in its job, on the node, and records
            # every case it lacks as an error: refused here, before anything is submitted
            # (so is one whose records are of cases this suite does not give it: its file
            # edited, another --dtype; its jobs had recorded errors for the cases they lacked)
            if stored and (problem := resume_problem(s.folder, self.suite.name,
                                                     [c.key() for c in s.cases],
                                                     o.timing(self.suite.device))):
                raise SlurmError(f"--resume: {s.folder}: {problem}")
            s.lacking = self._missing(s)
        # written once nothing is refused: a refused resume had rewritten it as it asked
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out / SWEEP, json.dumps({
            "suite": str(self.suite.path), "suite_name": self.suite.name,
            "device": self.suite.device, "partitions": partitions if named else [],
            "cases": len(self.order), "cases_digest": cases_digest(self.order),
            "cases_per_job": per_job, "split": how, "shards": len(shard_cases),
            "processes": self.processes, "order_seed": seed, "slurm": list(o.slurm),
            # the jobs' flags, for the resume line of a partition no job has begun yet
            "run_flags": o.for_shard(self.out, seed).flags(),
        }, indent=2) + "\n")
        return self.sweep

    def _restore(self) -> dict[str, Any]:
        """The sweep DIR already holds ({} for none), checked against this run's."""
        if (self.out.parent / SWEEP).is_file() and (self.out / "shards").is_dir():
            # its merged files had been called "the results of a local run"
            raise SlurmError(f"{self.out}: is partition {self.out.name} of the Slurm sweep in "
                             f"{self.out.parent}; resume that sweep with --out "
                             f"{self.out.parent} (it runs each of its partitions), or choose "
                             "another --out")
        stored = read_json(self.out / SWEEP)
        if stored and not self.options.resume:
            raise SlurmError(f"{self.out}: already holds a Slurm sweep; pass --resume to "
                             "re-attach to its jobs and run what has no result, or choose "
                             "another --out")
        if holds_results(self.out):
            raise SlurmError(f"{self.out}: holds the results of a local run; choose another "
                             "--out for a Slurm sweep")
        if not stored and self.options.resume:  # a typo in --out had submitted the whole sweep
            raise SlurmError(f"--resume: {self.out} holds no Slurm sweep (no {SWEEP}); expected "
                             "the --out of an earlier a2bench run --executor slurm, or leave "
                             "out --resume to begin one")
        if not stored:
            return stored
        again = ("; resume with the suite and options it began with, or choose another --out")
        name = stored.get("suite_name")
        if isinstance(name, str) and name != self.suite.name:
            raise SlurmError(f"{self.out}: holds a Slurm sweep of suite {name!r}, not "
                             f"{self.suite.name!r}" + again)
        if stored.get("cases") != len(self.order):
            raise SlurmError(f"{self.out}: its sweep has {stored.get('cases')} cases and "
                             f"{self.options.suite} now gives {len(self.order)}" + again)
        # the same count of other cases (an edited file, another --dtype or --device): pending
        # jobs run the cases they were pickled with, and the driver had recorded every case of
        # the new set as an error when they ended
        digest = stored.get("cases_digest")
        if isinstance(digest, str) and digest != cases_digest(self.order):
            raise SlurmError(f"{self.out}: its sweep's cases are not those "
                             f"{self.options.suite} now gives (its file edited, or another "
                             "--device or --dtype)" + again)
        return stored

    def _partitions(self, stored: dict[str, Any]) -> tuple[list[str], bool]:
        """The partitions to run on, and whether they were named (else the cluster's default,
        which sbatch picks itself)."""
        partitions = list(self.options.partition or stored.get("partitions") or [])
        if stored and self.options.partition:
            # another list had rewritten .slurm.json's, and the sweep's own partitions were
            # never run again (nor named by report's resume line)
            began = list(stored.get("partitions") or []) or [default_partition() or "default"]
            if set(partitions) != set(began):
                raise SlurmError(f"--partition {','.join(partitions)}: {self.out} is a sweep on "
                                 f"partition{'s' if len(began) > 1 else ''} "
                                 f"{', '.join(began)}; resume with --partition "
                                 f"{','.join(began)} (or leave it out), or choose another --out "
                                 "for other partitions")
            partitions = list(stored.get("partitions") or [])  # in its order, named or not
        # the CLI's run asked of named ones already (sinfo.refuse_partitions); here too for
        # a resume's stored ones and a2bench.sweep's
        if line := unknown_partitions_line(partitions, cluster_partitions()):
            raise SlurmError(line)
        if partitions:
            return partitions, True
        return [default_partition() or "default"], False

    def _missing(self, s: Shard) -> int:
        done = {(m.case.key(), m.process) for m in shard_records(s.folder)}
        return len(expected(s.cases, self.processes) - done)

    @property
    def _plan(self) -> Plan:
        if self.sweep is None:
            raise RuntimeError("SlurmDriver: plan() comes first")
        return self.sweep

    @property
    def total(self) -> int:
        """Records the sweep ends with: every case, pass and partition."""
        return len(self.cases) * self.processes * len(self._plan.partitions)

    @property
    def stored_at_start(self) -> int:
        """Records the shards held when the driver started."""
        return self.total - sum(s.lacking for s in self.shards)

    # -----------------------------------------------------------------------------------------
    # submit

    def submit(self) -> bool:
        """Re-attach each unfinished shard to its job where that may still write, submit the
        others (one array per partition) and say so; False when Ctrl-C stopped a submission."""
        plan = self._plan
        to_submit = self._reattach()
        attached = sum(s.job is not None for s in self.shards)
        submitted_any = False
        said: list[str] = []
        for p, group in to_submit.items():
            params = parameters(p if plan.named else None, self.suite.device, self.suite.name,
                                plan.overrides)
            try:
                jobs = submit_array(self.out / p, params, [
                    ShardTask(p, s.index, str(s.folder), self.suite, s.cases,
                              self.options.for_shard(s.folder, plan.seed)) for s in group])
            except KeyboardInterrupt:
                return False
            except SlurmError:
                if not plan.resumed and not submitted_any:  # a refused first submission
                    (self.out / SWEEP).unlink(missing_ok=True)  # leaves no sweep behind
                raise
            submitted_any = True
            for s, job in zip(group, jobs, strict=True):
                s.job = job
                self.jobs_of[p][str(s.index)] = job.job_id
            atomic_write(self.out / p / JOBS, json.dumps(self.jobs_of[p], indent=2) + "\n")
            said.append(f"a2bench: {p}: submitted {plural(len(group), 'job')} as array "
                        f"{jobs[0].job_id.split('_')[0]}")
        print(f"a2bench: {self.suite.name}: {len(self.cases)} cases"
              + (f" x {self.processes} processes" if self.processes > 1 else "")
              + f" on Slurm partition{'s' if len(plan.partitions) > 1 else ''} "
              f"{', '.join(plan.partitions)}, {plural(plan.shards, 'job')} each ("
              + (f"whole findings, at least {plan.per_job} cases a job" if plan.split == "findings"
                 else f"{plural(plan.per_job, 'case')} a job") + f"), order seed {plan.seed}; "
              f"{self.stored_at_start} of {self.total} stored, {plural(attached, 'job')} "
              "re-attached, "
              f"results in {self.out}, job logs in "
              + (f"{self.out / plan.partitions[0] / SUBMITIT}/" if len(plan.partitions) == 1
                 else f"{self.out}/<partition>/{SUBMITIT}/"), file=sys.stderr)
        if plan.split == "findings" and not plan.resumed:
            more = len(split(self.cases, plan.per_job))
            if more > plan.shards:  # say what the split costs, and the way round it
                print(f"a2bench: {plural(plan.shards, 'job')} a partition, since every case "
                      "that a finding compares with another runs on one node; --split cases "
                      f"makes {more} (a finding over several nodes then decides nothing "
                      "on latency)", file=sys.stderr)
        for line in said:
            print(line, file=sys.stderr)
        return True

    def _reattach(self) -> dict[str, list[Shard]]:
        """Mark the finished shards, attach each other one to its job where that may still
        write, and return the rest, by partition, to be submitted."""
        from submitit import SlurmJob

        to_submit: dict[str, list[Shard]] = {}
        known: dict[str, str] | None = None
        for s in self.shards:
            if not s.lacking:
                s.finished = True
                continue
            job_id = self.jobs_of[s.partition].get(str(s.index))
            if job_id:
                job = SlurmJob(folder=self.out / s.partition / SUBMITIT, job_id=job_id)
                if known is None:
                    known = sacct_states([j for jobs in self.jobs_of.values()
                                          for j in jobs.values()])
                    if known is None:  # not knowing which jobs run, resubmitting could run twice
                        raise SlurmError(f"{self.out}: neither sacct nor squeue answered, so "
                                         "which of the sweep's jobs still run is unknown; try "
                                         "--resume again")
                state = base_state(known.get(job_id, GONE))
                if state in ACTIVE and not job.paths.result_pickle.exists():
                    s.job = job
                    continue
            to_submit.setdefault(s.partition, []).append(s)
        return to_submit

    # -----------------------------------------------------------------------------------------
    # watch

    def watch(self) -> bool:
        """Poll Slurm (one sacct call for the sweep's jobs every A2BENCH_SLURM_POLL_S seconds)
        until every shard has ended, with a progress bar; False when Ctrl-C stopped it."""
        from tqdm import tqdm

        # a log (no terminal, no notebook) gets a plain line at most every LOG_EVERY_S, as a
        # local run's: a bar's carriage returns made one long line of it
        plain = self.options.progress and not interactive()
        progress = tqdm(total=self.total, initial=self.stored_at_start, unit="case",
                        disable=not self.options.progress or plain, file=sys.stderr,
                        dynamic_ncols=True)
        poll = float(os.environ.get(POLL_ENV, "10"))
        watch = Watch()
        said_at = began = time.monotonic()
        try:
            last_poll = 0.0
            while True:
                if time.monotonic() - last_poll >= poll:
                    watch.poll([s.job.job_id for s in self.shards if s.job and not s.finished])
                    last_poll = time.monotonic()
                    # what the jobs wait on shows: a job pending for a down partition said
                    # nothing for a minute
                    progress.set_postfix_str(self._job_states(watch), refresh=True)
                for s in self.shards:
                    if not s.finished and s.job is not None:
                        self._settle(s, watch.state(s.job.job_id), poll)
                if self._merge_grown():
                    progress.update(sum(self._in_merged.values()) - progress.n)
                if plain and time.monotonic() - said_at >= ConsoleListener.LOG_EVERY_S:
                    said_at = time.monotonic()
                    # each partition's merged records, once merged (all stored, the first too)
                    stored = max(self.stored_at_start, sum(self._in_merged.values()))
                    # no time left: when a pending job starts, and how long a case of another
                    # job or node takes, the driver cannot know
                    print(f"a2bench: {stored}/{self.total} case passes stored "
                          f"({stored / max(self.total, 1):.0%}) in "
                          f"{clock_text(said_at - began)}; "
                          f"jobs {self._job_states(watch) or 'ended'}", file=sys.stderr)
                if all(s.finished for s in self.shards):
                    return True
                time.sleep(min(1.0, poll))
        except KeyboardInterrupt:
            return False
        finally:
            progress.close()

    def _job_states(self, watch: Watch) -> str:
        """The unfinished jobs by Slurm state, a pending one's with squeue's reason: "1 PENDING
        (JobHeldUser), 2 RUNNING" (a held job, or one waiting on a drained node, had read as
        any queued job)."""
        states = Counter((base_state(watch.state(s.job.job_id)),
                          watch.reasons.get(s.job.job_id, ""))
                         for s in self.shards if s.job is not None and not s.finished)
        said = ", ".join(f"{n} {state}" + (f" ({why})" if why else "")
                         for (state, why), n in sorted(states.items()))
        if watch.unanswered >= UNANSWERED_POLLS:  # the states above are the last known
            said += (f"; as last known: neither sacct nor squeue answered the last "
                     f"{watch.unanswered} polls")
        return said

    def _settle(self, s: Shard, state: str, poll: float) -> None:
        """Mark the shard finished once its job has ended, recording the cases it lacks with
        Slurm's state as the reason, and say so."""
        from tqdm import tqdm

        running = base_state(state) in ACTIVE
        if running and not s.job.paths.result_pickle.exists():
            return
        lacking = self._missing(s)
        if running and lacking:
            # The job wrote its result before Slurm ended it: the reason needs Slurm's last
            # word (CANCELLED, TIMEOUT, ...), so wait a few polls for it.
            first = self._result_seen.setdefault(s.job.job_id, time.monotonic())
            if time.monotonic() - first < 3 * poll + 5:
                return
        detail = job_failure(s.job)
        if running:
            state = "FAILED" if detail else "COMPLETED"
        s.finished = True
        kept = left_to_resume(detail, state)
        if lacking and not kept:
            record_faults(s.folder, s.cases, self.processes, fault_status(state),
                          fault_reason(s.job.job_id, state, detail))
        if lacking and kept and out_of_time(detail, state):
            self._timed_out = True
        tqdm.write(f"a2bench: {s.partition} shard {s.index} (job {s.job.job_id}): "
                   f"{base_state(state)}"
                   + (f", {_passes(lacking)} left for --resume"  # the state says why, else:
                      + (f" ({detail})" if detail and base_state(state) not in STOPPED_STATES
                         else "") if lacking and kept
                      else f", {lacking} results recorded as {fault_status(state)}"
                      if lacking else ""), file=sys.stderr)

    def _merge_grown(self) -> bool:
        """Merge again each partition a shard of which grew since the last look (the others
        not); whether any did."""
        stale = set()
        for s in self.shards:
            path = s.folder / JSONL
            size = path.stat().st_size if path.exists() else 0
            if self._sizes.get(path) != size:
                self._sizes[path] = size
                stale.add(s.partition)
        for p in stale:
            self._in_merged[p] = len(merge_partition(self.out / p, self._plan.shards, self.order,
                                                     p, self.jobs_of[p], self.processes))
        return bool(stale)

    # -----------------------------------------------------------------------------------------
    # finish

    def finish(self) -> int:
        """Each partition's merged cases by status and nodes, and where they are; exit 0, or 1
        where no case ended ok anywhere (as a local run's exit says) or case passes are left for
        --resume: a script that ran `a2bench run ... && a2bench report ...` had read a sweep
        whose jobs were cancelled or ran out of time as a success."""
        partitions = self._plan.partitions
        print()
        any_ok = False
        # case passes no record holds: left for --resume by a job that was stopped (cancelled,
        # out of time, its node lost), not failed; a case with one pass stored had counted as
        # held, and nothing said that its other passes were still to run
        left = {p: sum(self._missing(s) for s in self.shards if s.partition == p)
                for p in partitions}
        for p in partitions:
            # Once more, every partition: a job writes its end-of-sweep calibration and `ended`
            # after its last case, which grows no results.jsonl for _merge_grown to see.
            # the records it wrote, not read back: a partition none of whose jobs stored a
            # case has an empty results.jsonl, which load() refuses as a run's lost results
            merged = merge_passes(merge_partition(self.out / p, self._plan.shards, self.order,
                                                  p, self.jobs_of[p], self.processes))
            any_ok = any_ok or any(m.status == "ok" for m in merged)
            # the sweep's cases with a record: a count of records had read "12 of 6 cases", then
            # "-6 case(s) have no result yet", for a set that held another sweep's cases too
            held = len(set(self.order) & {m.case.key() for m in merged})
            hosts = sorted({m.host for m in merged if m.host})
            print(f"{p}: {held} of {len(self.cases)} cases, {status_counts(merged)}"
                  + (f"; nodes {', '.join(hosts)}" if hosts else "")
                  + (f"; {_passes(left[p])} left for --resume" if left[p] else ""))
            for line in failure_lines(merged):  # which cases, and why, as a local run says
                print(line)
        folders = " ".join(str(self.out / p) for p in partitions)
        print(f"Results: {folders} (results.csv, results.jsonl, environment.json each)")
        print(f"Side by side: a2bench report {self.out}/* --out {self.out}-report")
        if any(left.values()):  # left for --resume (a job stopped, a node that started no
            # worker), not failed for good
            limit = self._plan.overrides.get("timeout_min", DEFAULT_TIMEOUT_MIN)
            print(f"{_passes(sum(left.values()))} have no result yet; re-attach to run them"
                  + (f" (raise --slurm time= above the {plural(limit, 'minute')} a job ran out "
                     "of)" if self._timed_out else "") + f": {self.options.resume_command()}")
        return 0 if any_ok and not any(left.values()) else 1

    def interrupted(self, code: int = 130) -> int:
        """What Ctrl-C (or SIGTERM, SIGHUP) during submit or watch leaves, and how to
        re-attach; exit 128 + the signal, as a local run's (it had been 130 for each)."""
        o = self.options
        if not (o.out / SWEEP).is_file():  # stopped while planning: --resume would be refused
            print(f"a2bench: interrupted before the sweep began in {o.out}; nothing was "
                  f"submitted. Run it again with: {o.resume_command(resume=False)}",
                  file=sys.stderr)
            return code
        print(f"a2bench: interrupted; the submitted jobs go on, and every finished case is kept "
              f"in {o.out}. Re-attach with: {o.resume_command()}", file=sys.stderr)
        return code


def _passes(count: int) -> str:
    return f"{count} case pass{'' if count == 1 else 'es'}"


def cases_digest(order: Sequence[Any]) -> str:
    """The sweep's case keys, in order, as a short hash in .slurm.json: a resume with the same
    count of other cases is told apart before anything is submitted."""
    text = json.dumps([list(k) for k in order], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_login_node() -> None:
    """submitit to submit with, and sbatch to submit to."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise SlurmError("--executor slurm: the submitit package is not installed; expected "
                         "it in a2bench's environment (pip install submitit)") from None
    if shutil.which("sbatch") is None:
        raise SlurmError("--executor slurm: sbatch is not on PATH; expected a Slurm login "
                         "node (or run without --executor slurm to measure on this machine)")
