"""What each Slurm array task runs: a `run.sweep.Sweep` of its cases into its shard folder.

Tasks and the job are pickled into DIR/<partition>/submitit/ and unpickled on the node, by
class name: a sweep begun by an older a2bench pickled them as `a2bench.slurm.ShardTask` and
`a2bench.slurm.ShardJob`, names the package re-exports, so its jobs still run and resume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from a2bench.analysis.columns import axes
from a2bench.case import Case
from a2bench.run import options
from a2bench.run.options import RunOptions

# The default split: the suite over at most 16 jobs per partition, and at least 4 cases a job,
# since each job pays a fixed start (a worker, the ceilings at both ends, the overhead entries:
# about 10 s on a 2-core VM with --calibration-time 0.01, more with the default).
MAX_JOBS_PER_PARTITION = 16
MIN_CASES_PER_JOB = 4
# A shape (on one device): the ratios of analysis.crossover and analysis.variants set blocks,
# dtypes, modes and compilation against each other at one.
SHAPE = ("batch", "channels", "t", "h", "w")
# What a job's error says when its sweep got SIGTERM, or a worker SIGKILL from someone other
# than the out-of-memory killer (faults.left_to_resume looks for them).
STOPPED = "stopped by SIGTERM"
KILLED = "stopped by SIGKILL"


@dataclass(frozen=True)
class ShardTask:
    """One array task: these cases, run by a `run.sweep.Sweep` into this shard folder."""

    partition: str
    index: int
    folder: str
    suite: Any  # a2bench.suite.Suite (frozen, picklable)
    cases: tuple[Case, ...]
    options: RunOptions  # the driver's run options, pointed at the shard


def task_options(task: Any) -> RunOptions:
    """The run options of a task, also of one pickled by a2bench before RunOptions existed:
    that one has no `options` but the argparse Namespace of its shard in `args`."""
    options = getattr(task, "options", None)
    return options if options is not None else RunOptions.from_args(task.args)


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
        options = task_options(task)
        result = Sweep(task.suite, task.cases, options, ConsoleListener(progress=False)).run()
        if result.interrupted:  # its worker got SIGTERM, or SIGKILL from outside (runner.Stopped)
            raise RuntimeError(stop_line(result.stopped))
        return {"host": socket.gethostname(), "partition": task.partition, "shard": task.index}


def stop_line(stopped: str) -> str:
    """A stopped shard's error: SIGKILL where a worker was killed from outside (`stopped`, the
    sweep's why) had read "stopped by SIGTERM (scancel, preemption or the time limit)"."""
    from a2bench.run.stops import KILLED_FROM_OUTSIDE

    how = (f"{KILLED} ({stopped})" if stopped.startswith(KILLED_FROM_OUTSIDE)
           else f"{STOPPED} (scancel, preemption or the time limit)")
    return f"{how} before the shard's cases were done"


def split(cases: Sequence[Case], per_job: int) -> list[tuple[Case, ...]]:
    """The suite's cases in order, `per_job` at a time: shard i is always the same cases
    (`--split cases`, and every sweep begun before `--split` existed)."""
    return [tuple(cases[i:i + per_job]) for i in range(0, len(cases), per_job)]


def finding_groups(cases: Sequence[Case]) -> list[tuple[int, ...]]:
    """The cases' indices in groups such that every finding the analysis makes lies inside
    one group: a fit (a swept group along one axis, analysis.exponents.swept_groups: cases
    that differ along that axis alone) and a ratio at one shape (one block, dtype, mode or
    compilation against another: crossovers, variants). Joined groups merge, so a grid over m
    and N is one group. Each group is in suite order; the groups in the order of their first
    case.

    Why: each job may run on a node of its own, and a fit whose sizes ran on two nodes reads
    the nodes' difference as growth, as a ratio of two nodes' times reads it as the blocks'.
    Their intervals cannot show it: the passes replicate processes on one node."""
    if not cases:
        return []
    df = pd.DataFrame([c.to_dict() for c in cases]).astype(object).fillna("")
    parent = list(range(len(cases)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    numeric = {c for c in df.columns if all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in df[c] if v != "")}
    joins = [list(SHAPE) + ["device"]]  # one shape: every block, dtype, mode against another
    for axis in axes(df):
        moving = ("t", "h", "w") if axis == "positions" else (axis,)
        if axis == "positions" or axis in numeric:  # a categorical parameter is no axis
            joins.append([c for c in df.columns if c not in moving])
    for keys in joins:
        for rows in df.groupby(keys, sort=False).indices.values():
            first = root(int(rows[0]))
            for i in rows[1:]:
                parent[root(int(i))] = first
    groups: dict[int, list[int]] = {}
    for i in range(len(cases)):
        groups.setdefault(root(i), []).append(i)
    return sorted((tuple(g) for g in groups.values()), key=lambda g: g[0])


def split_by_finding(cases: Sequence[Case], per_job: int) -> list[tuple[Case, ...]]:
    """Whole finding groups (finding_groups) a job, in suite order: a job takes groups until
    it holds at least `per_job` cases, so a group larger than that is one job of its own, and
    every job but the last holds at least `per_job` (no more jobs than `split` makes)."""
    shards: list[list[int]] = []
    current: list[int] = []
    for group in finding_groups(cases):
        current.extend(group)
        if len(current) >= per_job:
            shards.append(current)
            current = []
    if current:
        shards.append(current)
    return [tuple(cases[i] for i in sorted(s)) for s in shards]


# `--split`: how a partition's cases become jobs (the first is the default), by the names
# RunOptions takes (options.SPLITS).
SPLITS = dict(zip(options.SPLITS, (split_by_finding, split), strict=True))


def default_per_job(n_cases: int) -> int:
    return max(MIN_CASES_PER_JOB, math.ceil(n_cases / MAX_JOBS_PER_PARTITION))
