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

from a2bench.case import Case
from a2bench.run.options import RunOptions

# The default split: the suite over at most 16 jobs per partition, and at least 4 cases a job,
# since each job pays a fixed start (a worker, the ceilings at both ends, the overhead entries:
# about 10 s on a 2-core VM with --calibration-time 0.01, more with the default).
MAX_JOBS_PER_PARTITION = 16
MIN_CASES_PER_JOB = 4


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
        if result.interrupted:  # its worker got SIGTERM (runner.Stopped)
            raise RuntimeError("stopped by SIGTERM (scancel, preemption or the time limit) "
                               "before the shard's cases were done")
        return {"host": socket.gethostname(), "partition": task.partition, "shard": task.index}


def split(cases: Sequence[Case], per_job: int) -> list[tuple[Case, ...]]:
    """The suite's cases in order, `per_job` at a time: shard i is always the same cases."""
    return [tuple(cases[i:i + per_job]) for i in range(0, len(cases), per_job)]


def default_per_job(n_cases: int) -> int:
    return max(MIN_CASES_PER_JOB, math.ceil(n_cases / MAX_JOBS_PER_PARTITION))
