"""A partition's results, merged from its shards.

The merged files are derived and rewritten atomically; the shards stay the source of truth, so
a merge can run at any time (the driver merges as shards grow) and always gives the same files.
`report` and `compare` merge in memory (read_partition), since the files lag the shards where
no driver watches.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a2bench.errors import InputError
from a2bench.measurement import Measurement
from a2bench.run.store import (
    CSV,
    ENVIRONMENT,
    FINISHED,
    INTERRUPTED,
    JSONL,
    STOPPED,
    atomic_write,
    ending,
    environment_damage,
    last_session,
    load_environment,
    load_passes,
    merge_passes,
    over_sessions,
    read_jsonl,
    resume_line,
    stored_ending,
    write_csv,
)
from a2bench.slurm.layout import JOBS, SHARDS, SWEEP, read_json, shard_folder

# Environment keys that describe one node; a partition whose nodes differ keeps each node's.
PER_NODE = ("threads", "physical_cores", "logical_cores", "cpu_model", "cpu_capability",
            "gpu_name")


def shard_records(folder: Path) -> list[Measurement]:
    return read_jsonl(folder / JSONL)[0]  # a torn last line (a job killed mid-write) is dropped


def merge_partition(part: Path, shards: int, order: Sequence[Any], partition: str,
                    jobs: dict[str, str], passes: int | None = None) -> list[Measurement]:
    """Write part's results.jsonl, results.csv and environment.json from its shards (`passes`:
    the sweep's passes a case, which tell a partition that holds every case pass it owes)."""
    wanted = len(order) * passes if passes else None
    records, env = partition_view(part, shards, partition, jobs, wanted)
    part.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(m.to_json(), allow_nan=False) + "\n" for m in records)
    atomic_write(part / JSONL, text)
    rank = {key: i for i, key in enumerate(order)}
    merged = sorted(merge_passes(records), key=lambda m: rank.get(m.case.key(), len(rank)))
    write_csv(part / CSV, merged)
    if env is not None:
        atomic_write(part / ENVIRONMENT, json.dumps(env, indent=2, default=str) + "\n")
    return records


def partition_view(part: Path, shards: int, partition: str, jobs: dict[str, str],
                   wanted: int | None = None) -> tuple[list[Measurement], dict[str, Any] | None]:
    """A partition's records and environment as merged from its shards, written nowhere (None
    for the environment until a shard has one). `wanted`: the (case, pass) records the
    partition ends with, where known.

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
    if not envs:
        return records, None
    env = merge_environments(envs, partition, jobs)
    # every case pass recorded: the driver recorded what a failed job lost as error, so
    # nothing is left to resume, whatever signal that job's own sweep ended on
    complete = wanted is not None and len(seen) >= wanted
    env["ended"] = merged_ending([ending(e) for _, e in envs], len(envs) == shards, complete)
    # what an unfinished partition falls short of: every case pass where the sweep says how
    # many (a shard cancelled before it planned had left no total), else every shard's plan
    planned = [last_session(e).get("case_passes_planned") for _, e in envs]
    env.pop("case_passes_planned", None)
    if wanted is not None:
        env["case_passes_planned"] = wanted
    elif len(envs) == shards and all(isinstance(p, int) for p in planned):
        env["case_passes_planned"] = sum(planned)
    return records, env


def read_partition(part: Path) -> tuple[list[Measurement], dict[str, Any]] | None:
    """What `report` and `compare` read of a Slurm sweep's partition folder: its records and
    environment merged from the shards now, as the driver would write them, but written
    nowhere (a reader never writes into a run's folder). The merged files lag the shards where
    the driver died or was stopped while its jobs went on: they had read 0 results beside a
    shard's 6, and no word of why. None where `part` is no partition of a sweep (no
    DIR/.slurm.json above it) or holds no shards (a set published without them)."""
    # `report .` inside the partition: Path(".").parent is "." and its name "", so the lagging
    # merged files had been read; its parent and name are those of the folder it stands for
    where = part.resolve()
    sweep = read_json(where.parent / SWEEP)  # SlurmError, one line, where damaged
    if not sweep or not (part / SHARDS).is_dir():
        return None
    shards = sweep.get("shards")
    if not isinstance(shards, int):  # a sweep begun before .slurm.json counted them
        shards = 1 + max((int(p.name) for p in (part / SHARDS).iterdir() if p.name.isdigit()),
                         default=-1)
    cases, processes = sweep.get("cases"), sweep.get("processes")
    wanted = cases * processes if isinstance(cases, int) and isinstance(processes, int) else None
    jobs = {str(k): str(v) for k, v in read_json(part / JOBS).items()}
    records, env = partition_view(part, shards, where.name, jobs, wanted)
    return records, env or {}


def stored_set(folder: Path) -> tuple[list[Measurement], dict[str, Any]]:
    """A results folder's records (case passes) and environment, as `report` and `compare`
    read them: a Slurm partition's merged from its shards now (read_partition), any other
    folder's as stored. StoreError (one line) where the folder is not a run's."""
    return read_partition(folder) or (load_passes(folder), load_environment(folder))


def unbegun_partition(folder: Path, records: Sequence[Measurement], env: dict[str, Any],
                      again: str) -> str | None:
    """Why `folder`, a Slurm partition with no ok record yet whose sweep has not finished, has
    nothing to read, and the next step (`again`: "report", "compare"), in one line; None for any
    other folder. It had read "no ok results in results.jsonl (0 cases ...)" with no word of its
    jobs (pending, held) nor of the resume line."""
    from a2bench.run.lock import live_writer

    where = Path(folder).resolve()
    sweep = read_json(where.parent / SWEEP)
    begun = (Path(folder) / SHARDS).is_dir() or (Path(folder) / JOBS).is_file()  # submitted
    if not sweep or not begun or any(
            m.status == "ok" for m in records) or stored_ending(env, len(records)) == FINISHED:
        return None
    top, here = where.parent, Path.cwd().resolve()
    top = top.relative_to(here) if top.is_relative_to(here) else top  # as typed from here
    cases, processes = sweep.get("cases"), sweep.get("processes")
    of = f" of {cases * processes}" if isinstance(cases, int) and isinstance(processes, int) \
        else ""
    statuses = ", ".join(sorted({m.status for m in records}))
    head = (f"{folder}: partition {where.name} of the Slurm sweep in {top} holds no "
            + (f"ok result yet ({len(records)}{of} case passes stored: {statuses})" if records
               else f"result yet (0{of} case passes stored)"))
    if who := live_writer(top):
        return f"{head}; {who} watches its jobs: {again} again once their cases end"
    if not env.get("suite_path"):  # no job has begun: the sweep's own record of its flags
        env = {"suite_path": sweep.get("suite"), "run_flags": sweep.get("run_flags")}
    return (f"{head}: its jobs are pending, running or were stopped, and no driver watches "
            f"them; re-attach with: {resume_line(env, top, True)}, then {again} again once "
            "their cases end" + (" (or leave this folder out)" if again == "report" else ""))


def ending_now(folder: Path, recorded: bool = False) -> str | None:
    """How the sweep in `folder` ended, its folder read again now: store.stored_ending, or with
    `recorded` store.ending (what the sweep recorded, nothing told from what it stored); None
    where it cannot be read. A reader reads a folder and then probes its lock: a sweep that
    ended between the two (it records its end, then lets the lock go) read as one that had
    died, and report and compare had told it to resume."""
    try:
        records, env = stored_set(folder)
    except (InputError, OSError):
        return None
    return ending(env) if recorded else stored_ending(env, len(records))


def environment_problem(folder: Path, env: dict[str, Any]) -> str | None:
    """Why `env`, what stored_set read of `folder`, is no environment a2bench run wrote, or None:
    as a resume judges it (store.environment_damage), so report, compare and run --resume agree
    (compare had passed a `{"a": 1}`, and report called a `{}` "no environment.json")."""
    if "suite" in env:
        return None
    if not (folder / ENVIRONMENT).exists():
        return f"no {ENVIRONMENT}"
    damage = environment_damage(folder / ENVIRONMENT) or "an object without suite"
    return f"its {ENVIRONMENT} is damaged ({damage})"


def merged_ending(ends: Sequence[str], every_shard: bool, complete: bool = False) -> str:
    """How a partition ended: finished once it holds every case pass (`complete`), or once
    every shard's sweep finished; otherwise interrupted where a shard was, else stopped (a
    shard still running, dead or not begun)."""
    if complete or every_shard and all(e == FINISHED for e in ends):
        return FINISHED
    return INTERRUPTED if INTERRUPTED in ends else STOPPED


def merge_environments(envs: Sequence[tuple[int, dict[str, Any]]], partition: str,
                       jobs: dict[str, str]) -> dict[str, Any]:
    """One environment for a partition: the first shard's, with every shard's node listed,
    each dtype's ceiling the best any node measured (what that kind of machine can do), and
    each node's own PER_NODE values where the nodes differ."""
    # a requeued shard's ceilings are the best over its sessions (a requeue calibrates again)
    envs = [(i, over_sessions(e)) for i, e in envs]
    env = dict(envs[0][1])
    env.pop("resumed_in", None)
    env.pop("roofline_sessions", None)  # one shard's sessions are not the partition's
    env.update(executor="slurm", partition=partition)
    env["shards"] = [
        {"shard": i, "job_id": jobs.get(str(i)), "host": e.get("host"),
         "slurm": e.get("slurm"), "gpu_name": e.get("gpu_name"), "threads": e.get("threads"),
         "driver_and_clocks": e.get("driver_and_clocks"), "cpu_model": e.get("cpu_model"),
         "gemm_flops_per_s": {d: r.get("gemm_flops_per_s")
                              for d, r in (e.get("rooflines") or {}).items()},
         "requeued": len(e.get("resumed_in") or [])}
        for i, e in envs]
    env["hosts"] = sorted({e.get("host") for _, e in envs if e.get("host")})
    # What a node says of itself: without --threads each job takes its own node's cores less
    # one (run.threads.default_threads), so nodes of two kinds run at two thread counts. Where the
    # shards differ, the first shard's value would misstate the others: the key is left empty
    # and `per_host` holds each node's.
    per_host: dict[str, dict[str, Any]] = {}
    for key in PER_NODE:
        values = {str(e["host"]): e[key] for _, e in envs if e.get("host") and key in e}
        if len({json.dumps(v) for v in values.values()}) > 1:
            per_host[key] = dict(sorted(values.items()))
            env[key] = None
    if per_host:
        env["per_host"] = per_host

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
    # Each node's own ceilings too: a case's fraction of the ceiling is read against the node
    # that ran it (analysis.roofline), where a partition's nodes differ.
    by_host: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for _, e in envs:
        if e.get("host"):
            for d, r in (e.get("rooflines") or {}).items():
                if isinstance(r, dict):
                    by_host.setdefault(str(e["host"]), {}).setdefault(d, []).append(r)
    if by_host:
        env["rooflines_by_host"] = {h: {d: best(rs) for d, rs in ds.items()}
                                    for h, ds in sorted(by_host.items())}
    # Each shard times its own blocks' per-call overhead (at their smallest legal shape,
    # runner.overhead_cases, at its cases' other sizes), on its own node: a fit reads the entry
    # of its block and sizes, so every shard's entries are kept, each with its node.
    overheads = [(e.get("host"), e["overhead"]) for _, e in envs
                 if isinstance(e.get("overhead"), dict)]
    if overheads:
        env["overhead"] = {**overheads[0][1], "cases": [
            {**entry, "host": host} for host, o in overheads for entry in o.get("cases") or []]}
    warnings = [w for _, e in envs for w in (e.get("warnings") or [])]
    if warnings:
        env["warnings"] = list(dict.fromkeys(warnings))
    return env
