"""RunOptions: how one sweep runs, the only record of the run flags below the command line.

The CLI turns its parsed flags into a RunOptions once; the local sweep, the Slurm driver and each
Slurm job read this frozen record and never see argparse. It pickles into a Slurm array task, so
its fields are plain values.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from a2bench.argtypes import MAX_SECONDS
from a2bench.errors import InputError
from a2bench.formatting import saved_text
from a2bench.plugins import ENV_VAR as PLUGINS_VAR

DEFAULT_CASE_TIMEOUT_S = 300.0
DEFAULT_TIME_BUDGET_S = 1.0
DEFAULT_CI_TARGET = 0.02
DEFAULT_CALIBRATION_S = 0.5
# The schedule the published CPU results need (shared/notes/auto-sizing.md): three passes, each
# in a fresh worker process, timed interleaved; fewer leave the exponent's interval to chance.
DEFAULT_PROCESSES = 3
DEFAULT_TARGET = 0.05  # auto sizes: the 95 % half-width of a latency exponent worth stopping at
EXECUTORS = ("local", "slurm")
SPLITS = ("findings", "cases")  # how a Slurm sweep's cases become jobs (slurm.job.SPLITS)


@dataclass(frozen=True)
class RunOptions:
    """Every option of `a2bench run`, by its flag's name (``--no-counters`` is `counters`)."""

    out: Path
    suite: str = ""  # the suite file as the user named it, for the resume hint
    device: str | None = None  # --device: overrides the suite's device
    dtype: str | None = None  # --dtype: overrides the suite's dtype
    threads: int | None = None  # None: a CPU suite's `threads:`, else threads.default_threads
    resume: bool = False
    case_timeout: float = DEFAULT_CASE_TIMEOUT_S
    memory_budget: int | None = None  # bytes; None: the device's default rule
    time_budget: float = DEFAULT_TIME_BUDGET_S
    ci_target: float = DEFAULT_CI_TARGET
    processes: int = DEFAULT_PROCESSES
    interleave: bool = True  # CPU only: CUDA times case by case
    seed: int | None = None
    calibration_time: float = DEFAULT_CALIBRATION_S
    warm_cache: bool = False
    # None: on for a CPU suite with auto sizes (its windows reach past glibc's mmap threshold,
    # where each call pays page faults, or not, by what the process freed before), else off.
    malloc_reuse: bool | None = None
    counters: bool = True
    progress: bool = True
    executor: str = "local"
    partition: tuple[str, ...] | None = None
    slurm: tuple[str, ...] = field(default_factory=tuple)
    cases_per_job: int | None = None
    split: str | None = None  # Slurm: how cases become jobs (slurm.job.SPLITS); None: default
    budget: float | None = None  # auto sizes: the whole run's wall seconds (None: per device)
    target: float = DEFAULT_TARGET

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "slurm", tuple(self.slurm))
        for name, value in ((f.name, getattr(self, f.name)) for f in fields(self)):
            if (expected := _value_problem(name, value)) is not None:
                raise InputError(f"{name}={value!r}: expected {expected}")
            # numpy's numbers pass the checks, but json (results.jsonl, environment.json) and
            # random.seed refuse them: a threads=np.int64(1) had left a folder no call accepted
            object.__setattr__(self, name, _plain(value))

    def replace(self, **changes: Any) -> RunOptions:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        """The options of a parsed `a2bench run` (also of a Namespace pickled into a Slurm task
        by a2bench before RunOptions existed, so such a sweep resumes)."""
        given = vars(args)
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in given.items() if k in names}
        values["counters"] = not given.get("no_counters", False)
        values["progress"] = not given.get("no_progress", False)
        if values.get("suite") is not None:
            values["suite"] = str(values["suite"])
        if values.get("executor", "local") != "slurm":
            for name in ("partition", "slurm", "cases_per_job", "split"):
                if values.get(name):
                    raise InputError(f"--{name.replace('_', '-')}: only applies with --executor "
                                     "slurm (the local executor runs every case on this machine)")
        return cls(**values)

    def stopped_line(self, saved: int) -> str:
        """What `a2bench run` says when the sweep stops early: how many results it kept and
        the line that resumes it; or, where it stopped before anything was stored (its folder
        gone again), the line that runs it afresh: "--resume" there had been refused."""
        from a2bench.run.store import holds_sweep

        if Path(self.out).is_dir() and holds_sweep(Path(self.out)):
            return (f"interrupted; {saved_text(saved)} in {self.out}. Resume with: "
                    f"{self.resume_command()}")
        return (f"interrupted before anything was stored in {self.out}; run it again with: "
                f"{self.resume_command(resume=False)}")

    def stored(self) -> int:
        """The case passes the folder holds now: what a sweep that stopped (an error, a full
        disk, a stop before it had a writer to count them) leaves there; a resume stopped in
        its calibration keeps every earlier one (it had said "0 results are saved" of 6)."""
        from a2bench.run.store import JSONL, holds_sweep, read_jsonl

        out = Path(self.out)
        try:
            return len(read_jsonl(out / JSONL)[0]) if holds_sweep(out) else 0
        except (OSError, InputError):  # not readable, or a damaged line: a resume says which
            return 0

    def sweep_problem(self, suite: str | None) -> str | None:
        """Why the folder does not hold what --resume says (an earlier sweep of `suite`, the
        suite's name where it is known, to go on with, or none), or None. Asked before anything
        starts or is written."""
        from a2bench.run.store import held_sweep, holds_sweep

        out = Path(self.out)
        if holds_sweep(out) == self.resume:
            return None
        if not self.resume:
            return f"{out}: {held_sweep(out, suite)}"
        # a run killed (kill -9, a power loss) before its environment.json was whole leaves
        # its lock's line and maybe a half-written environment: it ran here, but a fresh run,
        # not a resume, is what goes on, and "expected an earlier run's --out" had named none
        if left := left_by_a_kill(out):
            return (f"--resume: {out}: the run there was stopped before it stored anything (it "
                    f"left only {' and '.join(left)}), so there is nothing to resume; run it "
                    f"again without --resume: {self.resume_command(resume=False)}")
        return f"--resume: {out} holds no sweep to resume; expected an earlier run's --out"

    def resume_command(self, resume: bool = True) -> str:
        """The `a2bench run` line that resumes this sweep as it began: every flag whose value is
        not the default, and the plugins it loaded, so a printed hint runs as printed."""
        words = [program(), "run", self.suite, "--out", str(self.out),
                 *(("--resume",) if resume else ()), *self.flags()]
        plugins = os.environ.get(PLUGINS_VAR, "").strip()
        line = " ".join(shlex.quote(w) for w in words)
        return f"{PLUGINS_VAR}={shlex.quote(plugins)} {line}" if plugins else line

    def flags(self) -> list[str]:
        """The flags, as typed, of every option not at its default (but those a resume sets or
        takes from the folder: the suite, --out, --resume, --seed; and --no-progress)."""
        words: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _NOT_RESUMED or value == f.default or (
                    f.default_factory is not dataclasses.MISSING and not value):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):  # --no-interleave, --no-counters, --warm-cache, ...
                words.append(flag if value else flag.replace("--", "--no-", 1))
            elif f.name == "slurm":
                words += [w for item in value for w in ("--slurm", item)]
            elif isinstance(value, tuple):
                words += [flag, ",".join(value)]
            else:
                words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        return words

    def timing(self, device: str) -> dict[str, Any]:
        """How a sweep on `device` times its cases, as environment.json records it: a resumed
        sweep must agree (store.RESUMED_SETTINGS), locally and in each Slurm shard."""
        interleaved = self.interleave and device == "cpu"  # CUDA times case by case
        return dict(time_budget_s=self.time_budget, ci_target=self.ci_target,
                    warm_cache=self.warm_cache,
                    timing_schedule="interleaved" if interleaved else "per case",
                    # glibc keeping freed memory moves a large tensor's time (5.7x past 4 GiB)
                    malloc_reuse=bool(self.malloc_reuse))

    def for_shard(self, folder: Path, seed: int) -> RunOptions:
        """These options as one Slurm job runs them: into its shard, resuming, quietly, here."""
        return self.replace(out=folder, resume=True, seed=seed, progress=False,
                            executor="local", partition=None, slurm=(), cases_per_job=None,
                            split=None)


def refuse_out(options: RunOptions, suite: str | None = None) -> None:
    """Raise InputError where a run may not write into options.out: a live run holds it
    (lock.busy, asked before what the folder holds, which a live run's half-written sweep would
    answer with --resume advice), store.folder_problem, and for a local run a Slurm sweep's
    folder or what the folder holds against --resume (sweep_problem). Asked of a given --out
    before the plugins and the suite's blocks load torch: each such refusal had cost 3 s of CPU,
    and its sweep_problem ("already holds a sweep; pass --resume") pandas' and scipy's too.
    `suite`: the suite's name, else the one its file names (suite_name)."""
    from a2bench.run.lock import busy
    from a2bench.run.store import folder_problem

    out = options.out
    if problem := busy(out) or folder_problem(out) or (
            options.executor == "local" and slurm_folder_problem(out)):
        raise InputError(f"--out {out}: {problem}")
    if options.executor == "local" and (
            problem := options.sweep_problem(suite or suite_name(options.suite))):
        raise InputError(problem)


def suite_name(path: str) -> str | None:
    """The name a suite file gives (its `name:`, else its stem), read without loading the
    suite (whose blocks import torch); None where the file does not read as a mapping, which
    loading it then says in its own line."""
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeError, yaml.YAMLError):
        return None
    name = raw.get("name", Path(path).stem) if isinstance(raw, dict) else None
    return name if isinstance(name, str) else None


def slurm_folder_problem(out: Path, python: bool = False) -> str | None:
    """Why `out`, a Slurm sweep's folder or one of its partitions', takes no local run, or None.
    A local run there had written beside .slurm.json (`report DIR/*` then failed on its files,
    and the Slurm resume was refused), or into a partition's merged files, which its driver
    rewrites from the shards. A shard (DIR/<partition>/shards/<i>) is its job's own run.
    Asked before holds_sweep: a partition's merged files had been taken for a local sweep
    ("pass --resume"), and --resume then refused. `python`: a2bench.sweep's words (its
    keywords take no executor: the CLI line resumes a Slurm sweep)."""
    from a2bench.run.store import SLURM_SWEEP

    if (out / SLURM_SWEEP).is_file():
        where, top = f"holds a Slurm sweep ({SLURM_SWEEP})", out
    elif (out.parent / SLURM_SWEEP).is_file() and (out / "shards").is_dir():
        where, top = f"is partition {out.name} of the Slurm sweep in {out.parent}", out.parent
    else:
        return None
    resume = "--executor slurm --resume" + ("" if top == out else f" --out {top}")
    if python:
        return (f"{where}; a local sweep there would mix its results into that sweep's: choose "
                f"another out, or resume the sweep with a2bench run SUITE --executor slurm "
                f"--resume --out {top} and the options it ran with")
    return (f"{where}; a local run there would mix its results into that sweep's: choose "
            f"another --out, or resume the sweep with {resume} and the options it ran with")


def program() -> str:
    """How to call a2bench again as this process was called: `a2bench` where that is on PATH,
    else the path it was started by (`.venv/bin/a2bench` from make, an unactivated venv)."""
    started = sys.argv[0] if sys.argv else ""
    if Path(started).name != "a2bench" or shutil.which("a2bench"):
        return "a2bench"
    return started


# What each option's value must be, as the CLI's flag types (argtypes) check it, so a sweep from
# Python (a2bench.sweep) refuses the same values in one line before anything runs.
_POSITIVE_INT = ("processes",)
_POSITIVE_INT_OR_NONE = ("threads", "memory_budget", "cases_per_job")
_POSITIVE_FLOAT = ("case_timeout", "time_budget", "calibration_time", "target")
_FLAGS = ("resume", "interleave", "warm_cache", "counters", "progress")
# Not in a resume command: set by it (out, suite, resume), taken from the folder (seed), or
# free to differ (progress).
_NOT_RESUMED = ("out", "suite", "resume", "seed", "progress")
_CHOICES = {"executor": EXECUTORS, "split": (None, *SPLITS)}


def _is_int(value: Any) -> bool:  # numpy's integers too; a bool is not a count
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def left_by_a_kill(out: Path) -> list[str]:
    """What a run killed in its start-up left in `out` (its lock's line, a half-written
    environment.json) where it stored nothing: a fresh run goes on there, not a resume."""
    from a2bench.run.lock import LOCK
    from a2bench.run.store import ENVIRONMENT

    return [n for n in (LOCK, ENVIRONMENT + ".tmp") if (out / n).is_file()]


def _positive_finite(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, numbers.Real) and not isinstance(value, bool)) \
        and math.isfinite(value) and value > 0


def _plain(value: Any) -> Any:
    """A number as Python's own int or float (numpy's: np.int64, np.float32), else `value`."""
    if isinstance(value, bool) or type(value) in (int, float):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        # np.float32(0.02) is 0.0199999995... as a float, which a resume given 0.02 refused as
        # another --time-budget: numpy's str is the shortest decimal, the number as typed
        try:
            return float(str(value))
        except ValueError:  # a Fraction's "1/3"
            return float(value)
    return value


def _value_problem(name: str, value: Any) -> str | None:
    """What `name`'s value should have been, or None where it is one."""
    if name in _POSITIVE_INT or (name in _POSITIVE_INT_OR_NONE and value is not None):
        ok, expected = _is_int(value) and value > 0, "a positive integer"
        if name == "memory_budget":
            expected += " of bytes (a2bench.sweep also takes the CLI's '8GiB')"
    elif name in _POSITIVE_FLOAT or (name == "budget" and value is not None):
        ok = _positive_finite(value) and value <= MAX_SECONDS.get(name, math.inf)
        expected = "a positive finite number" + ("" if name == "target" else " of seconds") + (
            f", at most {MAX_SECONDS[name]:,.0f}" if name in MAX_SECONDS else "")
    elif name == "ci_target":
        ok, expected = _positive_finite(value) and value < 1, "a fraction between 0 and 1"
    elif name == "seed" and value is not None:
        ok, expected = _is_int(value) and value >= 0, "a non-negative integer"
    elif name in _FLAGS or (name == "malloc_reuse" and value is not None):
        ok, expected = isinstance(value, bool), "True or False"
    elif name in _CHOICES:
        ok = value in _CHOICES[name]
        expected = "one of " + ", ".join(repr(c) for c in _CHOICES[name])
    else:
        return None
    return None if ok else expected


def auto_flags_problem(auto: bool, options: RunOptions, where: str) -> str | None:
    """--budget and --target size a suite's auto sizes; given to a suite that lists its sizes,
    they had been taken and ignored without a word."""
    given = [f for f, on in (("--budget", options.budget is not None),
                             ("--target", options.target != DEFAULT_TARGET)) if on]
    if auto or not given:
        return None
    return (f"{' and '.join(given)}: {'size' if len(given) > 1 else 'sizes'} a suite's auto "
            f"sizes (h: auto, t: auto), and {where} lists its sizes; expected a suite with "
            "auto sizes, or the flag left out")

