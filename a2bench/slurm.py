"""A suite on a Slurm cluster: its cases as job arrays through submitit, merged per partition.

`a2bench run SUITE --out DIR --executor slurm --partition h100,a100` lays DIR out as

    DIR/.slurm.json                      the sweep: suite, partitions, seed, cases per job
    DIR/<partition>/results.jsonl, .csv  every case of that partition, merged from its shards
    DIR/<partition>/environment.json     its nodes, ceilings and shards
    DIR/<partition>/shards/<i>/          what job i wrote: a results folder of its own
    DIR/<partition>/jobs.json            shard -> Slurm job id, for --resume to re-attach
    DIR/<partition>/submitit/            submitit's pickles, batch files and job logs

so `a2bench report DIR/*` sets the partitions (GPU types) side by side, as it sets any folders.

Why this shape:
- A job is one exclusive node (`--exclusive`, and a GPU on a CUDA suite), so no two timed cases
  share a machine; within the job the cases run one after another through `run.sweep.Sweep`, the
  local executor's own code, on a shard that is an ordinary results folder (fsynced per case).
- The shard is the unit of resumption: a requeued job (preempted, or past its time limit) and a
  resubmitted one go on in the same folder, so finished cases are kept and none runs twice.
- The merged files are derived and rewritten atomically; the shards stay the source of truth.
- A job that ends without a result for some of its cases (cancelled, failed, out of time or
  memory) gets those cases recorded from here, with Slurm's state in the reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a2bench.case import Case
from a2bench.errors import InputError
from a2bench.measurement import Measurement
from a2bench.run.options import RunOptions
from a2bench.run.store import (
    CSV,
    ENVIRONMENT,
    JSONL,
    ResultsWriter,
    atomic_write,
    holds_results,
    merge_passes,
    read_jsonl,
    write_csv,
)

SWEEP = ".slurm.json"  # hidden, so that DIR/* names only the partitions' folders
JOBS = "jobs.json"
SHARDS = "shards"
SUBMITIT = "submitit"
# The default split: the suite over at most 16 jobs per partition, and at least 4 cases a job,
# since each job pays a fixed start (a worker, the ceilings at both ends, the overhead entries:
# about 10 s on a 2-core VM with --calibration-time 0.01, more with the default).
MAX_JOBS_PER_PARTITION = 16
MIN_CASES_PER_JOB = 4
DEFAULT_TIMEOUT_MIN = 60  # submitit's own default is 5; and below ~15 a preemption is not requeued
POLL_ENV = "A2BENCH_SLURM_POLL_S"  # seconds between two sacct calls (default 10)

# Slurm job states that may still write results (submitit counts UNKNOWN and PREEMPTED so too:
# a preempted checkpointable job is requeued under the same id).
ACTIVE = frozenset({"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED",
                    "RESIZING", "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT",
                    "STOPPED", "PREEMPTED", "READY", "UNKNOWN"})
# submitit's generic parameter names; everything else is a Slurm one (slurm_<name>).
GENERIC = frozenset({"timeout_min", "mem_gb", "nodes", "cpus_per_task", "gpus_per_node",
                     "tasks_per_node", "name", "stderr_to_stdout"})
ALIASES = {"time": "timeout_min", "job_name": "name", "ntasks_per_node": "tasks_per_node"}


# A job sacct no longer lists (see Watch); it ran no further.
GONE = "UNLISTED"


class SlurmError(InputError):
    """A Slurm sweep that cannot go on as asked; the message is one line for the user."""


# ---------------------------------------------------------------------------------------------
# What is submitted


@dataclass(frozen=True)
class ShardTask:
    """One array task: these cases, run by a `run.sweep.Sweep` into this shard folder."""

    partition: str
    index: int
    folder: str
    suite: Any  # a2bench.suite.Suite (frozen, picklable)
    cases: tuple[Case, ...]
    options: RunOptions  # the driver's run options, pointed at the shard


def _checkpointable() -> type:
    try:
        from submitit.helpers import Checkpointable
    except ImportError:  # the job class must import where submitit is absent, for the tests
        return object
    return Checkpointable


class ShardJob(_checkpointable()):  # type: ignore[misc]
    """The callable each array task runs (pickled by reference: a2bench must import there).

    Checkpointable: on preemption, or near its time limit, submitit requeues the same call, and
    the sweep resumes in its shard, so what finished before is kept and not run again.
    """

    def __call__(self, task: ShardTask) -> dict[str, Any]:
        import socket

        from a2bench.plugins import load_plugins
        from a2bench.run.listener import ConsoleListener
        from a2bench.run.sweep import Sweep

        load_plugins()
        # A task pickled by a2bench before RunOptions carried a Namespace in `args`.
        options = getattr(task, "options", None) or RunOptions.from_args(task.args)
        result = Sweep(task.suite, task.cases, options, ConsoleListener(progress=False)).run()
        if result.interrupted:  # its worker got SIGTERM (runner.Stopped)
            raise RuntimeError("stopped by SIGTERM (scancel, preemption or the time limit) "
                               "before the shard's cases were done")
        return {"host": socket.gethostname(), "partition": task.partition, "shard": task.index}


def split(cases: Sequence[Case], per_job: int) -> list[tuple[Case, ...]]:
    """The suite's cases in order, `per_job` at a time: shard i is always the same cases."""
    return [tuple(cases[i:i + per_job]) for i in range(0, len(cases), per_job)]


def default_per_job(n_cases: int) -> int:
    return max(MIN_CASES_PER_JOB, math.ceil(n_cases / MAX_JOBS_PER_PARTITION))


def parse_value(text: str) -> Any:
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def minutes(text: str, pair: str) -> int:
    """sbatch's time formats, MM:SS, HH:MM:SS and D-HH[:MM[:SS]], as whole minutes (up)."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise SlurmError(f"--slurm {pair!r}: expected a time limit in minutes, HH:MM:SS or "
                         "D-HH:MM:SS")
    days, a, b, c = (int(g) if g else None for g in match.groups())
    if days is None and c is None:  # MM or MM:SS
        seconds = a * 60 + (b or 0)
    else:  # HH:MM:SS, or D-HH[:MM[:SS]]
        seconds = (days or 0) * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    return max(1, math.ceil(seconds / 60))


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """--slurm KEY=VALUE ... as submitit parameters: time=120 -> timeout_min, account=x ->
    slurm_account; a key submitit does not know goes to sbatch as it is (#SBATCH --key=value)."""
    from submitit.slurm.slurm import _get_default_parameters

    known = set(_get_default_parameters())
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key or not value.strip():
            raise SlurmError(f"--slurm {pair!r}: expected KEY=VALUE, e.g. account=mylab or "
                             "time=120")
        key = ALIASES.get(key, key)
        key = key[len("slurm_"):] if key.startswith("slurm_") else key
        parsed = parse_value(value.strip())
        if key == "timeout_min" and isinstance(parsed, str):
            parsed = minutes(parsed, pair)
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
    params.update({k: v for k, v in overrides.items() if k != "slurm_additional_parameters"})
    if extra:
        params["slurm_additional_parameters"] = extra
    return params


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


# ---------------------------------------------------------------------------------------------
# Job states and fault records


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


# ---------------------------------------------------------------------------------------------
# Merging the shards


def shard_folder(part: Path, index: int) -> Path:
    return part / SHARDS / str(index)


def shard_records(folder: Path) -> list[Measurement]:
    return read_jsonl(folder / JSONL)[0]  # a torn last line (a job killed mid-write) is dropped


def merge_partition(part: Path, shards: int, order: Sequence[Any], partition: str,
                    jobs: dict[str, str]) -> list[Measurement]:
    """Write part's results.jsonl, results.csv and environment.json from its shards.

    Records are deduplicated on (case, pass), the first shard's kept: one case is never in two
    shards of a sweep, so a duplicate can only be a job that ran twice on the same shard.
    """
    records: list[Measurement] = []
    seen: set[tuple[Any, int]] = set()
    envs: list[tuple[int, dict[str, Any]]] = []
    for i in range(shards):
        folder = shard_folder(part, i)
        for m in shard_records(folder):
            key = (m.case.key(), m.process)
            if key not in seen:
                seen.add(key)
                records.append(m)
        env_path = folder / ENVIRONMENT
        if env_path.is_file():
            # ValueError: seen mid-rewrite (atomic here; only a shared FS's stale view can)
            with contextlib.suppress(ValueError):
                envs.append((i, json.loads(env_path.read_text())))
    part.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(m.to_json(), allow_nan=False) + "\n" for m in records)
    atomic_write(part / JSONL, text)
    rank = {key: i for i, key in enumerate(order)}
    merged = sorted(merge_passes(records), key=lambda m: rank.get(m.case.key(), len(rank)))
    write_csv(part / CSV, merged)
    if envs:
        env = merge_environments(envs, partition, jobs)
        atomic_write(part / ENVIRONMENT, json.dumps(env, indent=2, default=str) + "\n")
    return records


def merge_environments(envs: Sequence[tuple[int, dict[str, Any]]], partition: str,
                       jobs: dict[str, str]) -> dict[str, Any]:
    """One environment for a partition: the first shard's, with every shard's node listed and
    each dtype's ceiling the best any node measured (what that kind of machine can do)."""
    env = dict(envs[0][1])
    env.pop("resumed_in", None)
    env.update(executor="slurm", partition=partition)
    env["shards"] = [
        {"shard": i, "job_id": jobs.get(str(i)), "host": e.get("host"),
         "slurm": e.get("slurm"), "gpu_name": e.get("gpu_name"),
         "driver_and_clocks": e.get("driver_and_clocks"), "cpu_model": e.get("cpu_model"),
         "gemm_flops_per_s": {d: r.get("gemm_flops_per_s")
                              for d, r in (e.get("rooflines") or {}).items()},
         "requeued": len(e.get("resumed_in") or [])}
        for i, e in envs]
    env["hosts"] = sorted({e.get("host") for _, e in envs if e.get("host")})

    def best(records: list[dict[str, Any]]) -> dict[str, Any]:
        return max(records, key=lambda r: r.get("gemm_flops_per_s") or 0.0)

    rooflines: dict[str, list[dict[str, Any]]] = {}
    for _, e in envs:
        for d, r in (e.get("rooflines") or {}).items():
            if isinstance(r, dict):
                rooflines.setdefault(d, []).append(r)
    if rooflines:
        env["rooflines"] = {d: best(rs) for d, rs in rooflines.items()}
    roofs = [e["roofline"] for _, e in envs if isinstance(e.get("roofline"), dict)]
    if roofs:
        env["roofline"] = best(roofs)
    warnings = [w for _, e in envs for w in (e.get("warnings") or [])]
    if warnings:
        env["warnings"] = list(dict.fromkeys(warnings))
    return env


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as e:
        raise SlurmError(f"{path}: not valid JSON ({e}); expected the file a2bench run "
                         "--executor slurm writes") from None
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------------------------------------
# The driver


@dataclass
class Shard:
    partition: str
    index: int
    folder: Path
    cases: tuple[Case, ...]
    job: Any = None  # a submitit SlurmJob while one may still write here
    finished: bool = False


def cluster_partitions() -> list[str] | None:
    """The cluster's partitions as sinfo lists them (the default marked with *), or None."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.split() if out.returncode == 0 else None


def default_partition() -> str | None:
    """The cluster's default partition, for the folder's name."""
    marked = [p[:-1] for p in cluster_partitions() or [] if p.endswith("*")]
    return marked[0] if marked else None


def run_on_slurm(suite: Any, cases: Sequence[Case], args: RunOptions) -> int:
    from tqdm import tqdm

    try:
        import submitit  # noqa: F401
    except ImportError:
        raise SlurmError("--executor slurm: the submitit package is not installed; expected "
                         "it in a2bench's environment (pip install submitit)") from None
    if shutil.which("sbatch") is None:
        raise SlurmError("--executor slurm: sbatch is not on PATH; expected a Slurm login "
                         "node (or run without --executor slurm to measure on this machine)")
    overrides = parse_options(args.slurm)
    out: Path = args.out
    state_path = out / SWEEP
    stored = _read_json(state_path)
    if stored and not args.resume:
        raise SlurmError(f"{out}: already holds a Slurm sweep; pass --resume to re-attach to its "
                         "jobs and run what has no result, or choose another --out")
    if holds_results(out):
        raise SlurmError(f"{out}: holds the results of a local run; choose another --out for "
                         "a Slurm sweep")
    keys = [c.key() for c in cases]
    if stored and stored.get("cases") != len(keys):
        raise SlurmError(f"{out}: its sweep has {stored.get('cases')} cases and "
                         f"{args.suite} now gives {len(keys)}; resume with the suite and options "
                         "it began with, or choose another --out")
    partitions = list(args.partition or stored.get("partitions") or [])
    named = bool(partitions)
    listed = cluster_partitions()
    unknown = [p for p in partitions if listed is not None and p not in
               {x.rstrip("*") for x in listed}]
    if unknown:  # before anything is written or submitted
        raise SlurmError(f"--partition {','.join(unknown)}: not a partition of this cluster; "
                         f"expected one of {', '.join(x.rstrip('*') for x in listed or [])}")
    if not partitions:
        partitions = [default_partition() or "default"]
    if stored and args.cases_per_job and args.cases_per_job != stored.get("cases_per_job"):
        raise SlurmError(f"--cases-per-job {args.cases_per_job}: {out} was split "
                         f"{stored.get('cases_per_job')} cases a job; resume with that (or "
                         "leave it out), since each shard's folder holds its cases")
    per_job = stored.get("cases_per_job") or args.cases_per_job or default_per_job(len(cases))
    seed = args.seed if args.seed is not None else stored.get("order_seed")
    seed = seed if isinstance(seed, int) else secrets.randbelow(2**31)
    processes = args.processes
    shard_cases = split(cases, per_job)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(state_path, json.dumps({
        "suite": str(suite.path), "suite_name": suite.name, "device": suite.device,
        "partitions": partitions if named else [], "cases": len(keys),
        "cases_per_job": per_job, "shards": len(shard_cases), "processes": processes,
        "order_seed": seed, "slurm": list(args.slurm),
    }, indent=2) + "\n")

    shards: list[Shard] = []
    for p in partitions:
        part = out / p
        for i, chunk in enumerate(shard_cases):
            shards.append(Shard(p, i, shard_folder(part, i), chunk))
    jobs_of = {p: {str(k): str(v) for k, v in _read_json(out / p / JOBS).items()}
               for p in partitions}

    def missing(s: Shard) -> int:
        done = {(m.case.key(), m.process) for m in shard_records(s.folder)}
        return len(expected(s.cases, processes) - done)

    # Re-attach to jobs that may still write; the rest of the unfinished shards are submitted.
    from submitit import SlurmJob

    to_submit: dict[str, list[Shard]] = {}
    known: dict[str, str] | None = None
    lacking_at_start = [missing(s) for s in shards]
    for s, lacking in zip(shards, lacking_at_start, strict=True):
        if not lacking:
            s.finished = True
            continue
        job_id = jobs_of[s.partition].get(str(s.index))
        if job_id:
            job = SlurmJob(folder=out / s.partition / SUBMITIT, job_id=job_id)
            if known is None:
                known = sacct_states([j for p in partitions for j in jobs_of[p].values()])
                if known is None:  # not knowing which jobs run, resubmitting could run twice
                    raise SlurmError(f"{out}: sacct did not answer, so which of the sweep's "
                                     "jobs still run is unknown; try --resume again")
            state = base_state(known.get(job_id, GONE))
            if state in ACTIVE and not job.paths.result_pickle.exists():
                s.job = job
                continue
        to_submit.setdefault(s.partition, []).append(s)

    attached = sum(s.job is not None for s in shards)
    submitted_any = False
    said: list[str] = []
    for p, group in to_submit.items():
        params = parameters(p if named else None, suite.device, suite.name, overrides)
        try:
            submitted = submit(out / p, params, [
                ShardTask(p, s.index, str(s.folder), suite, s.cases,
                          args.for_shard(s.folder, seed)) for s in group])
        except KeyboardInterrupt:
            return _interrupted(args)
        except SlurmError:
            if not stored and not submitted_any:  # a refused first submission leaves no sweep
                state_path.unlink(missing_ok=True)
            raise
        submitted_any = True
        for s, job in zip(group, submitted, strict=True):
            s.job = job
            jobs_of[p][str(s.index)] = job.job_id
        atomic_write(out / p / JOBS, json.dumps(jobs_of[p], indent=2) + "\n")
        said.append(f"a2bench: {p}: submitted {len(group)} jobs as array "
                    f"{submitted[0].job_id.split('_')[0]}")
    total = len(cases) * processes * len(partitions)
    done_now = total - sum(lacking_at_start)
    print(f"a2bench: {suite.name}: {len(cases)} cases"
          + (f" x {processes} processes" if processes > 1 else "")
          + f" on Slurm partition{'s' if len(partitions) > 1 else ''} {', '.join(partitions)}, "
          f"{per_job} per job, order seed {seed}; {done_now} of {total} stored, "
          f"{attached} jobs re-attached, results in {out}", file=sys.stderr)
    for line in said:
        print(line, file=sys.stderr)

    order = keys
    progress = tqdm(total=total, initial=done_now, unit="case", disable=not args.progress,
                    file=sys.stderr, dynamic_ncols=True)
    poll = float(os.environ.get(POLL_ENV, "10"))
    sizes: dict[Path, int] = {}
    in_merged: dict[str, int] = {}  # records in each partition's merged set
    watch = Watch()
    result_seen: dict[str, float] = {}
    try:
        last_poll = 0.0
        while True:
            if time.monotonic() - last_poll >= poll:  # one sacct call for the sweep's jobs
                watch.poll([s.job.job_id for s in shards if s.job and not s.finished])
                last_poll = time.monotonic()
            for s in shards:
                if s.finished or s.job is None:
                    continue
                state = watch.state(s.job.job_id)
                running = base_state(state) in ACTIVE
                if running and not s.job.paths.result_pickle.exists():
                    continue
                lacking = missing(s)
                if running and lacking:
                    # The job wrote its result before Slurm ended it: the reason needs Slurm's
                    # last word (CANCELLED, TIMEOUT, ...), so wait a few polls for it.
                    first = result_seen.setdefault(s.job.job_id, time.monotonic())
                    if time.monotonic() - first < 3 * poll + 5:
                        continue
                detail = _failure(s.job)
                if running:
                    state = "FAILED" if detail else "COMPLETED"
                s.finished = True
                if lacking:
                    record_faults(s.folder, s.cases, processes, fault_status(state),
                                  fault_reason(s.job.job_id, state, detail))
                tqdm.write(f"a2bench: {s.partition} shard {s.index} (job {s.job.job_id}): "
                           f"{base_state(state)}"
                           + (f", {lacking} results recorded as {fault_status(state)}"
                              if lacking else ""), file=sys.stderr)
            stale = set()  # partitions a shard of which grew: merged again, the others not
            for s in shards:
                path = s.folder / JSONL
                size = path.stat().st_size if path.exists() else 0
                if sizes.get(path) != size:
                    sizes[path] = size
                    stale.add(s.partition)
            for p in stale:
                in_merged[p] = len(merge_partition(out / p, len(shard_cases), order, p,
                                                   jobs_of[p]))
            if stale:
                progress.update(sum(in_merged.values()) - progress.n)
            if all(s.finished for s in shards):
                break
            time.sleep(min(1.0, poll))
    except KeyboardInterrupt:
        progress.close()
        return _interrupted(args)
    progress.close()
    return _summary(out, partitions, cases, processes)


def submit(part: Path, params: dict[str, Any], tasks: Sequence[ShardTask]) -> list[Any]:
    """One job array for `tasks`."""
    ex = executor(part, params)
    part.mkdir(parents=True, exist_ok=True)
    said = io.StringIO()  # submitit prints sbatch's complaint itself; it goes in our one line
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
            return ex.map_array(ShardJob(), list(tasks))
    except (subprocess.CalledProcessError, FileNotFoundError, RuntimeError) as e:
        # RuntimeError: submitit's FailedJobError (sbatch's exit status) and its own checks
        lines = [ln.strip() for ln in (str(e) or said.getvalue()).splitlines() if ln.strip()]
        raise SlurmError(f"sbatch refused the jobs for partition {part.name}: "
                         f"{lines[-1] if lines else type(e).__name__}; check --partition and "
                         "--slurm") from None


def sacct_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """Each listed job's state, from one sacct call (the query submitit makes); None when sacct
    could not be asked, so that nothing is concluded from its silence."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    arrays = sorted({j.split("_")[0] for j in job_ids})
    if not arrays:
        return {}
    command = ["sacct", "-o", "JobID,State,NodeList", "--parsable2"]
    for a in arrays:
        command += ["-j", a]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    info = SlurmInfoWatcher().read_info(out.stdout)
    return {j: info[j].get("State") or "UNKNOWN" for j in job_ids if j in info}


class Watch:
    """The jobs' states over the polls, and the jobs Slurm stopped listing.

    A job that was listed and then is not, on two polls in a row, has ended: without an
    accounting database, Slurm forgets a pending array task cancelled before it started, and a
    finished job after MinJobAge; a real sacct may also lose old jobs. submitit's own watcher
    would keep the last state it saw (PENDING) for ever.
    """

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.seen: set[str] = set()
        self.absent: dict[str, int] = {}

    def poll(self, job_ids: Sequence[str]) -> None:
        states = sacct_states(job_ids)
        if states is None:
            return
        for j in job_ids:
            if j in states:
                self.states[j] = states[j]
                self.seen.add(j)
                self.absent.pop(j, None)
            elif j in self.seen:
                self.absent[j] = self.absent.get(j, 0) + 1
                if self.absent[j] >= 2:
                    self.states[j] = GONE

    def state(self, job_id: str) -> str:
        return self.states.get(job_id, "PENDING")  # not listed yet: just submitted


def _failure(job: Any) -> str | None:
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


def _interrupted(args: RunOptions) -> int:
    print(f"a2bench: interrupted; the submitted jobs go on, and every finished case is kept in "
          f"{args.out}. Re-attach with: a2bench run {args.suite} --out {args.out} "
          "--executor slurm --resume (and the same options)", file=sys.stderr)
    return 130


def _summary(out: Path, partitions: Sequence[str], cases: Sequence[Case],
             processes: int) -> int:
    from a2bench.run.store import load

    print()
    for p in partitions:
        merged = load(out / p)
        statuses: dict[str, int] = {}
        for m in merged:
            statuses[m.status] = statuses.get(m.status, 0) + 1
        hosts = sorted({m.host for m in merged if m.host})
        print(f"{p}: {len(merged)} of {len(cases)} cases, "
              + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
              + (f"; nodes {', '.join(hosts)}" if hosts else ""))
    folders = " ".join(str(out / p) for p in partitions)
    print(f"Results: {folders} (results.csv, results.jsonl, environment.json each)")
    print(f"Side by side: a2bench report {out}/* --out {out}-report")
    return 0
