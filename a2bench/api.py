"""The Python API: `a2bench.sweep(suite, out=None, **options) -> Results`, for notebooks and
scripts, the same sweep `a2bench run` makes.

    import a2bench
    res = a2bench.sweep({"name": "mine", "blocks": ["my_block"],
                         "params": {"channels": [32], "h": [8, 16, 32], "w": [8, 16, 32]},
                         "zip": [["h", "w"]]}, time_budget=0.2)
    res.frame      # results.csv as a DataFrame
    res.fits()     # fits.csv's frame: exponents and verdicts
    res.report("my-report")  # report.md, index.html, figures

`suite` is a YAML file or a dict in the YAML's form (a tuple or range as a list, numpy's
integers as ints); the options are `a2bench run`'s flags by
their names (RunOptions: threads, processes, interleave, time_budget, ci_target, seed, ...).
Blocks registered in this process with @register (a notebook cell, a script) reach the
measuring worker without A2BENCH_PLUGINS (a2bench.plugins.for_worker). A script that calls
sweep() must do so under `if __name__ == "__main__":`, as for any spawned process.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from argparse import ArgumentTypeError
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from a2bench.argtypes import parse_size
from a2bench.errors import InputError
from a2bench.folders import read_problem
from a2bench.formatting import plural, saved_text
from a2bench.run.interrupts import deferred
from a2bench.run.result import SweepResult  # at run time: typing.get_type_hints(Results)

if TYPE_CHECKING:
    import pandas as pd

    from a2bench.measurement import Measurement

T = TypeVar("T")

# What only the CLI's other executors or the API itself set.
NOT_OPTIONS = ("out", "suite", "executor", "partition", "slurm", "cases_per_job", "split")


def option_names() -> tuple[str, ...]:
    from a2bench.run.options import RunOptions

    return tuple(f.name for f in fields(RunOptions) if f.name not in NOT_OPTIONS)


def _at_the_call(method: Callable[..., T]) -> Callable[..., T]:
    """`method`'s InputError raised from its call (see _said_at_the_call)."""
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except InputError as e:
            raise _said_at_the_call(e) from None
    return call


def _said_at_the_call(e: InputError) -> InputError:
    """Bad input's one line with no traceback inside a2bench: it had shown two to five frames
    of the API's own (its checks, contextlib's __exit__) above a message that says it all."""
    return e.with_traceback(None)


@dataclass(frozen=True, repr=False)
class Results:
    """A results folder as the API hands it back; the sweep's own record is `sweep`."""

    out: Path
    sweep: SweepResult | None = None

    def __repr__(self) -> str:
        # a notebook cell ending in `res` had printed every measurement and its samples
        # (19,000 characters for 12 cases)
        if self.sweep is None:
            return f"Results({str(self.out)!r})"
        # each stored case's status, passes merged: `statuses` counts this call's passes
        # (2 passes of 6 cases had read "6 cases, 12 ok"; a resume with nothing left, none)
        tally = Counter(m.status for m in self.sweep.records)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(tally.items()))
        return (f"Results({str(self.out)!r}: {plural(len(self.sweep.records), 'case')}"
                + (f", {counts}" if counts else "") + ")")

    @_at_the_call
    def __post_init__(self) -> None:  # Results("results/mine") reopens a run from Python
        if not isinstance(self.out, str | Path) or not str(self.out):
            raise InputError(f"a2bench.Results: {self.out!r}: expected a results folder's path "
                             "(a str or a pathlib.Path)")
        # absolute: a relative one had read another folder after os.chdir (or none: a raw
        # FileNotFoundError from .frame)
        object.__setattr__(self, "out", Path(self.out).absolute())
        # as `a2bench report` says it, with the API's own writer named: a missing folder had
        # read "no results.jsonl here (expected a folder written by a2bench run)"
        wrote = "a2bench.sweep(...) or a2bench run"
        if problem := read_problem(self.out, f"a results folder written by {wrote}, holding "
                                             "results.jsonl"):
            raise InputError(f"a2bench.Results: {self.out}: {problem}")
        if not any((self.out / name).is_file() for name in ("results.jsonl", "results.csv")):
            from a2bench.run.store import load_passes
            from a2bench.slurm.merge import read_partition

            if read_partition(self.out) is not None:  # a partition's shards, not merged yet
                return  # (its driver died): read as `a2bench report` reads them
            try:  # why not, as `a2bench report` says it: a sweep calibrating, a Slurm sweep's
                load_passes(self.out, wrote)  # folder (its partitions named), a run stopped
            except InputError as e:  # its first result (the call that resumes it); all had
                raise InputError(f"a2bench.Results: {e}") from None  # read "holds no results"

    @property
    @_at_the_call
    def frame(self) -> pd.DataFrame:
        """results.csv as a DataFrame (one row per case, passes pooled, in its order), made now
        from every stored result, as fits() and verdict() read them: the CSV lags
        results.jsonl where a stop came between a record's fsync and the CSV's rewrite (a
        stopped sweep's last result had been missing until a resume rewrote it). A Slurm
        partition's is merged from its shards: its merged files lag them where the driver died
        (kill -9) while its jobs went on."""
        import tempfile

        import pandas as pd

        from a2bench.run.store import CSV, JSONL, load_passes, merge_passes, write_csv
        from a2bench.slurm.merge import read_partition

        if (view := read_partition(self.out)) is not None:
            records = merge_passes(view[0])
        elif (self.out / JSONL).is_file():
            records = _as_listed(merge_passes(load_passes(self.out)), self.out / CSV)
        else:  # a results.csv copied without its store: all there is
            return pd.read_csv(self.out / CSV)
        with tempfile.TemporaryDirectory(prefix="a2bench-frame-") as tmp:  # results.csv's form
            write_csv(Path(tmp) / CSV, records)
            return pd.read_csv(Path(tmp) / CSV)

    @_at_the_call
    def fits(self) -> pd.DataFrame:
        """fits.csv's frame: every scaling fit with its exponent, interval and verdict (an auto
        run's plan that fell short of its budget says so, as in the report)."""
        from a2bench.analysis import fit_exponents, load_runs, with_budget_notes

        data, runs = load_runs([self.out])
        envs = {r.label: r.environment for r in runs}
        return with_budget_notes(fit_exponents(data, envs), envs)

    @_at_the_call
    def verdict(self) -> dict[str, Any]:
        """The answer `a2bench run` prints: `verdict` overall, and per run in `runs` its
        verdict, its fits along positions, what contradicts it or is missing, its hints, and
        `unfinished` (how far a stopped sweep got and the call that resumes it, else "")."""
        from a2bench.analysis import verdicts

        return verdicts(self.out)

    @_at_the_call
    def report(self, out: str | Path | None = None) -> Path:
        """Write the report (report.md, index.html, fits.csv, figures); returns its folder."""
        from a2bench.report import write_report

        if out is not None and (not isinstance(out, str | Path) or not str(out)):
            # "" had written the report into the working folder; 5, a raw TypeError
            raise InputError(f"a2bench.Results.report: out={out!r}: expected a folder's path "
                             "(a str or a pathlib.Path), or None for the run's report folder")
        folder = Path(out) if out is not None else self.out / "report"
        with _as_keywords("a2bench.Results.report"):
            write_report([self.out], folder)
        return folder


def _as_listed(records: list[Measurement], listed: Path) -> list[Measurement]:
    """`records` (cases, in the running order results.jsonl keeps) in the order results.csv
    `listed` lists them, the suite's; those it lacks last (a resume's rewrite of the CSV puts
    them in the suite's order: the frame's rows may then move, never change)."""
    import csv

    from a2bench.measurement import Measurement

    measured = {f.name for f in fields(Measurement)} | {"positions"}

    def case_cells(row: dict[str, Any]) -> frozenset[tuple[str, str]]:
        # a row's case columns as the CSV writes them; one block's empty cells are another's
        return frozenset((k, str(v)) for k, v in row.items()
                         if k not in measured and v not in (None, ""))

    try:
        with open(listed, newline="", encoding="utf-8") as f:
            order = {case_cells(row): i for i, row in enumerate(csv.DictReader(f))}
    except (OSError, UnicodeDecodeError, csv.Error):  # none, or not readable: running order
        order = {}
    return sorted(records, key=lambda m: order.get(case_cells(m.to_row()), len(order)))


def sweep(suite: str | Path | dict[str, Any], out: str | Path | None = None,
          **options: Any) -> Results:
    """Run a suite on this machine and return its Results (see the module docstring).

    Raises InputError (one line) on a bad suite, an unknown option or an --out that already
    holds results without resume=True; KeyboardInterrupt stops it, keeping what was saved."""
    caller = sys._getframe(1)
    _refuse_in_a_worker(caller)  # before torch, pandas and scipy load: 3-4 s of CPU a worker
    try:
        with deferred():  # numpy and torch load here, not as a2bench.api is imported
            import torch  # noqa: F401  (and numpy, through it)
        return _sweep(suite, out, options, caller)
    except InputError as e:
        raise _said_at_the_call(e) from None
    except KeyboardInterrupt as e:
        if e.args:  # the sweep's own stop, said with what it kept
            raise
        # A Ctrl-C before the sweep handles one (torch and the blocks loading, the suite read:
        # its first 1.5-3 s) had been a bare KeyboardInterrupt, a traceback through torch's
        # imports; it is the same stop, said as a later one is. (Importing a2bench.api loads no
        # numpy: a Ctrl-C there, as `a2bench.sweep` was first read, had been the bare one.)
        folder = Path(out).absolute() if isinstance(out, str | Path) and str(out) else None
        raise _stopped(folder, _stored(folder)) from None


def _refuse_in_a_worker(caller: Any) -> None:
    """Exit 2 with one line where the call is a script's top level run again by a worker."""
    if caller.f_globals.get("__name__") == "__mp_main__" and caller.f_code.co_name == "<module>":
        # A measuring worker is a spawned process: it runs the top level of the script that
        # started the sweep as __mp_main__, where this call would start a sweep of its own.
        # One line and out: raised, it was a 20-line traceback of the worker's spawn, before
        # the script's own error says the same.
        print(f"a2bench.sweep: called while a measuring worker imported "
              f"{caller.f_globals.get('__file__', 'the calling script')}; expected the call "
              "under `if __name__ == \"__main__\":` (each worker imports the script)",
              file=sys.stderr)
        raise SystemExit(2)


def _sweep(suite: str | Path | dict[str, Any], out: str | Path | None, options: dict[str, Any],
           caller: Any) -> Results:
    from a2bench.catalog import blocks
    from a2bench.run.listener import ConsoleListener
    from a2bench.run.lock import busy
    from a2bench.run.options import RunOptions, left_by_a_kill
    from a2bench.run.store import folder_problem, fresh_folder, held_sweep, holds_sweep
    from a2bench.run.sweep import Sweep, SweepError, slurm_folder_problem
    from a2bench.suite import expand, load_suite, parse_suite

    main = sys.modules.get("__main__")
    known = option_names()
    unknown = [k for k in options if k not in known]
    if unknown:
        raise InputError(f"a2bench.sweep: unknown option {unknown[0]!r}; expected one of "
                         f"{', '.join(known)}")
    if not isinstance(resume := options.get("resume", False), bool):  # read as a truth below:
        # resume="yes" had been told its folder "holds no sweep to resume"
        raise InputError(f"a2bench.sweep: resume={resume!r}: expected True or False")
    blocks()  # the built-ins and plugins load before the caller's blocks are looked up
    device, dtype = options.get("device"), options.get("dtype")
    if isinstance(suite, dict):
        with _as_keywords():
            parsed, named = parse_suite(suite, "<dict>", device=device, dtype=dtype,
                                        default_name="sweep"), ""
    elif isinstance(suite, (str, Path)):
        with _as_keywords():
            parsed, named = load_suite(suite, device=device, dtype=dtype), str(suite)
    else:
        raise InputError(f"a2bench.sweep: suite: expected a YAML file's path or a dict in the "
                         f"YAML's form, got {type(suite).__name__}")
    if out is None and options.get("resume"):
        raise InputError("a2bench.sweep: resume=True: expected out, the results folder of the "
                         "sweep to continue (a sweep without out goes to a new folder)")
    if out is not None and (not isinstance(out, str | Path) or not str(out)):
        raise InputError(f"a2bench.sweep: out={out!r}: expected a folder's path (a str or a "
                         "pathlib.Path)" + (", got an empty one" if out == "" else ""))
    # absolute, as Results keeps it: an os.chdir after the call had lost the folder
    folder = (Path(out) if out is not None else fresh_folder("api")).absolute()
    if problem := busy(folder) or folder_problem(folder):  # a live run named, not resume=True
        raise InputError(f"a2bench.sweep: out {folder}: {problem}")
    # holds_sweep, as the CLI: a folder a killed run left holding its environment.json alone
    # had taken a fresh sweep, filed under the dead run's environment; and resume=True on a
    # folder with none (a typo in out) had quietly run the whole sweep afresh
    if problem := slurm_folder_problem(folder, python=True):  # a Slurm sweep or partition:
        raise InputError(f"a2bench.sweep: out {folder}: {problem}")  # before holds_sweep
    if holds_sweep(folder) != bool(options.get("resume")):
        raise InputError(f"a2bench.sweep: out {folder}: "
                         f"{held_sweep(folder, parsed.name, 'resume=True', 'out')}"
                         if not options.get("resume") else f"a2bench.sweep: resume=True: "
                         f"{folder} holds no sweep to resume; " + (
                             "the run there stopped before it stored anything: call it again "
                             "without resume=True" if left_by_a_kill(folder) else
                             "expected an earlier run's out"))
    if isinstance(options.get("memory_budget"), str):  # the CLI's form: "8GiB"
        try:
            options["memory_budget"] = parse_size(options["memory_budget"])
        except ArgumentTypeError as e:
            raise InputError(f"a2bench.sweep: memory_budget: {e}") from None
    try:
        run_options = RunOptions(out=folder, suite=named, **options)
    except (TypeError, InputError) as e:  # a value RunOptions does not take
        raise InputError(f"a2bench.sweep: {e}") from None
    listener = ConsoleListener(run_options.progress)
    try:
        with _as_keywords():  # the checks a sweep makes as it starts (threads, the device)
            result = Sweep(parsed, expand(parsed), run_options, listener, "python").run()
    except SweepError as e:
        raise InputError(f"a2bench.sweep: {e}{_worker_hint(main, str(e))}") from None
    if result.interrupted:
        raise _stopped(folder, result.saved)
    for line in _summary(result):
        listener.note(line)
    return Results(folder, result)


def _stopped(folder: Path | None, saved: int) -> KeyboardInterrupt:
    """What a2bench.sweep raises where Ctrl-C stopped it: what it kept, and how to go on
    (`folder`: None where none was chosen yet)."""
    from a2bench.run.store import holds_sweep

    if folder is not None and holds_sweep(folder):
        return KeyboardInterrupt(f"a2bench.sweep: interrupted; {saved_text(saved)} in {folder} "
                                 "(resume=True continues)")
    where = "" if folder is None else f" in {folder}"
    return KeyboardInterrupt(f"a2bench.sweep: interrupted before anything was stored{where}; "
                             "call it again to start afresh")


def _stored(folder: Path | None) -> int:
    """The case passes `folder` holds (a resume stopped before its sweep began keeps them)."""
    from a2bench.run.options import RunOptions

    return 0 if folder is None else RunOptions(out=folder).stored()


@contextlib.contextmanager
def _as_keywords(caller: str = "a2bench.sweep") -> Iterator[None]:
    """An InputError that names CLI flags ("--threads 999: expected ...") said as this call's
    keywords ("a2bench.sweep: threads=999: expected ..."), as its own option checks say them."""
    from a2bench.run.sweep import SweepError

    try:
        yield
    except SweepError:
        raise
    except InputError as e:
        text = _keywords(str(e))
        if text.startswith(f"{caller}: "):
            raise
        raise InputError(f"{caller}: {text}") from None


# `--time-budget 0.05`, `--device cuda`, `--interleave`: a flag with at most one value, not
# inside a word; the value stops at a space or at the punctuation that follows it in a sentence
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z-]*)(?: ([^\s,;:)]+))?")


_WORDS = frozenset(("and", "or", "to", "with", "the", "as", "in", "on", "of", "for", "is",
                    "are", "was", "that", "which", "where", "not", "given", "when", "it", "its",
                    "overrides", "alone", "too", "also", "only", "once", "twice"))


def _keywords(text: str) -> str:
    """Every flag of `text` as a keyword: `--time-budget 0.05` as time_budget=0.05, a switch
    (`--interleave`, `--no-interleave`) as interleave=True or False; `--out` as out."""
    from a2bench.run.options import RunOptions

    switches = {f.name for f in fields(RunOptions) if f.type in ("bool", "bool | None")}

    def keyword(m: re.Match[str]) -> str:
        name, value = m[1].replace("-", "_"), m[2]
        if value in _WORDS:  # "the same --device and --dtype": prose, not a value
            return f"{name}{m[0][len(m[1]) + 2:]}"
        if value is None or value.startswith("-"):  # a switch, or an option named alone
            if name.startswith("no_") and name[3:] in switches:
                return f"{name[3:]}=False"
            return f"{name}=True" if name in switches else name
        return f"{name}={value}"

    return _FLAG.sub(keyword, text)


def _worker_hint(main: Any, error: str) -> str:
    """Why a spawned worker may have failed to start: it imports the calling script first."""
    from a2bench.run.sweep import WORKER_FAILED
    from a2bench.run.worker import BLOCKS_FAILED

    script = getattr(main, "__file__", None)
    if not script or not error.startswith(WORKER_FAILED) or BLOCKS_FAILED in error:
        return ""  # (the worker said what failed: a block it was sent did not load)
    if not Path(script).is_file():  # `python - < x.py`: <stdin>, which no worker imports
        return ""  # (a2bench.run.runner starts its workers as a notebook's)
    return (" (a script that calls a2bench.sweep at its top level must call it under `if "
            "__name__ == \"__main__\":`)")


def _summary(result: SweepResult) -> list[str]:
    from a2bench.run.summary import failure_lines, outcome_line

    return [f"{outcome_line(result.ran, result.reused, result.records)} Results in "
            f"{result.out / 'results.csv'}", *failure_lines(result.records)]
