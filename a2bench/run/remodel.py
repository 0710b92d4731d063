"""`a2bench remodel`: a stored run's model columns from today's cost models, nothing re-measured.

A record keeps what was measured (latency, samples, peak, counters, the kernel that ran) and
what the exact model said at the time (macs_analytic, peak_bytes_analytic, ...). When a model
improves, as the CUDA memory models did once the caching allocator's blocks and the kernels'
buffers were known, a published run would go on comparing its measured peaks with the old
model. Remodelling rewrites only the model's columns, from the same function of each case (and
of its recorded `backend`) that a new run would call, and the counter check that rests on them.
The measurements are untouched (a kernel in `backend` whose buffers follow the threads, oneDNN's
float32 convolution or SDPA's CPU flash kernel, gains the record's own thread count in its name:
kernel_names), and the run's environment.json says when and at which commit the model columns
were last written.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from a2bench.blocks.nonlocal_block import FLASH_CPU
from a2bench.case import LEGACY_PARAMS, RUN_DEFAULTS, Case
from a2bench.catalog import blocks
from a2bench.errors import InputError
from a2bench.folders import refuse_unreadable
from a2bench.kernel_names import with_threads
from a2bench.measure.environment import git_commit
from a2bench.measurement import CSV_COLUMNS
from a2bench.onednn import ONEDNN_F32
from a2bench.run.lock import holding
from a2bench.run.runner import OVER_BUDGET, modelled, over_budget, predicted_bytes
from a2bench.run.store import (
    CSV,
    ENVIRONMENT,
    JSONL,
    atomic_write,
    load_environment,
    load_passes,
    merge_passes,
    write_csv,
)
from a2bench.run.summary import is_model_warning, model_warnings
from a2bench.slurm.layout import SWEEP

# Kernels a record names with its thread count (kernel_names.threaded): oneDNN's float32
# convolution, and SDPA's CPU flash kernel.
THREADED_KERNELS = (ONEDNN_F32, FLASH_CPU)
MODEL_FIELDS = ("macs_analytic", "flops_analytic", "elementwise_analytic", "peak_bytes_analytic",
                "peak_allowance_bytes_analytic",
                "activation_bytes_analytic", "largest_activation_bytes_analytic",
                "saved_bytes_analytic", "parameters_analytic", "macs_fvcore_declared",
                "macs_torch_declared", "model_mismatch",
                # the kernel's name, where it now carries what the model reads of it (a
                # threaded kernel's thread count): what ran is unchanged
                "backend")


@dataclass(frozen=True)
class Remodelled:
    run: Path
    records: int
    changed: int  # records whose model columns changed
    # (case label, before, after) for each modelled peak that moved, in bytes
    peaks: tuple[tuple[str, int | None, int | None], ...]
    warnings_rewritten: bool = False  # environment.json's model warnings said something else
    columns: tuple[str, ...] = ()  # the model columns that changed in some record
    first: str = ""  # the first record's case that changed

    def line(self) -> str:
        """What `a2bench remodel` prints for this run: how many records, which columns, the
        first case, and how far the modelled peaks moved (in bytes too: +104 B is +0.0 %)."""
        pairs = [(before, after) for _, before, after in self.peaks if before and after]
        moved = [after / before - 1 for before, after in pairs]
        grew = [after - before for before, after in pairs]
        # 3 figures: an 8-byte move of a 1 MiB peak read "-0.0 … -0.0 %"
        span = (f"; modelled peaks moved {100 * min(moved):+.3g} … {100 * max(moved):+.3g} % "
                f"({min(grew):+,} … {max(grew):+,} B)" if moved else "")
        what = (f" ({', '.join(self.columns)}; the first: {self.first})" if self.changed
                else "")
        said = "; its model warnings rewritten" if self.warnings_rewritten else ""
        return (f"{self.run}: {self.changed} of {self.records} records' model columns "
                f"rewritten{what}{span}{said}")


# The parts of a record's reason that its model check wrote (Measurement.checked_against_
# counters), dropped before the check runs again; the second is the advice that older records
# held as a part of its own (it followed a "; ").
MISMATCH_PARTS = ("model_mismatch:", "fix the cost model, or declare the difference")


def remodel(run: str | Path) -> Remodelled:
    """Rewrite one stored run's model columns (results.jsonl, results.csv) from today's models."""
    out = Path(run)
    refuse_unreadable([out])  # "no results.jsonl here" had been said of a folder not there
    # Not under a run that appends; a Slurm partition's set is written by its sweep's driver,
    # which holds the sweep folder above it.
    slurm = out.parent if (out.parent / SWEEP).is_file() else None
    with (holding(slurm, "a2bench remodel", create=False) if slurm else contextlib.nullcontext(),
          holding(out, "a2bench remodel", create=False)):
        return _remodel(out)


def _remodel(out: Path) -> Remodelled:
    records = load_passes(out)  # says what is wrong with a folder that is not a run
    # what a writer killed mid-write (store.atomic_write, write_csv) left beside the files it
    # was replacing; under the lock no one writes them now. A link is kept: not one of ours.
    for tmp in (out / f"{name}.tmp" for name in (ENVIRONMENT, JSONL, CSV)):
        if tmp.is_file() and not tmp.is_symlink():
            with contextlib.suppress(OSError):  # a read-only folder: left, as everything there
                tmp.unlink()
    if not records:
        raise InputError(f"{out}: no results in {JSONL}; expected a folder written by a2bench run")
    known = blocks()
    if unknown := sorted({m.case.block for m in records} - set(known)):
        raise InputError(f"{out}: its records name block {unknown[0]!r}, which is not "
                         f"registered ({', '.join(known)}); expected the plugin that registers "
                         "it named in A2BENCH_PLUGINS, as when the run measured it")
    fresh, peaks, changed, columns, first = [], [], 0, set(), ""
    for m in records:
        # Whatever became of the case, as a new run's record (runner.modelled): a skipped or
        # failed case's model columns had stayed the old model's, so compare read a model
        # change as an exact change against a run that had measured the case. A counted
        # block's record stays whole (it has no model).
        new = m
        if m.macs_source != "counted":
            kept = "; ".join(part for part in m.reason.split("; ")
                             if not part.startswith(MISMATCH_PARTS))
            # the kernels whose buffers follow the threads named for the record's (kernel_
            # names), which a record written before the names carried them lacks
            new = modelled(replace(m, reason=skip_reason(m.case, kept, m.threads or 1),
                                   backend=with_threads(m.backend, THREADED_KERNELS,
                                                        m.threads or 1)), m.process)
        if moved := [f for f in (*MODEL_FIELDS, "reason")
                     if not _same(getattr(new, f, None), getattr(m, f, None))]:
            changed += 1
            columns.update(moved)
            first = first or m.case.label()
            if new.peak_bytes_analytic != m.peak_bytes_analytic:
                peaks.append((m.case.label(), m.peak_bytes_analytic, new.peak_bytes_analytic))
        fresh.append(new)
    pooled = merge_passes(fresh)
    env = load_environment(out)
    # The warnings a sweep drew from its model columns, drawn again from the new ones: a
    # stored line may also be an older code's reading of the same columns (a CUDA miss once
    # blamed on CPU threads).
    before = list(env.get("warnings") or [])
    warnings = ([w for w in before if not is_model_warning(w)]
                + model_warnings(pooled))
    if (changed or warnings != before) and not os.access(out, os.W_OK):
        raise InputError(f"{out}: {changed} of {len(records)} records' model columns would be "
                         "rewritten, but the folder is not writable; expected a folder you may "
                         "write to (or a copy of it)")
    if changed and (tail := _unended_tail(out / JSONL)):
        # read_jsonl leaves a line without its newline out of the records (a write cut short),
        # and the rewrite below, of the records alone, had deleted it without a word: a whole
        # result whose newline an edit took went with it
        raise InputError(f"{out / JSONL}: its last line has no newline ({len(tail)} bytes: a "
                         f"write cut short, or an edit), and rewriting {changed} of "
                         f"{len(records)} records' model columns would drop it; expected every "
                         "line ended: end it with a newline if it is a whole result, or delete "
                         "it (a2bench run --resume measures its case again), then run a2bench "
                         "remodel again")
    stamp = {"at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
             "git_commit": git_commit()}
    if changed:  # when the model columns were last written
        env["remodelled"] = {**stamp, "records_changed": changed}
    if warnings != before:  # and, apart, when the warnings on them were
        env["warnings"] = warnings
        env["model_warnings_rewritten"] = stamp
    try:
        # results.csv and environment.json (its stamp) first, results.jsonl last: a remodel
        # cut short before the records leaves them old, and `remodel` again finds them to
        # rewrite, stamp and all. With the records first, a kill before environment.json lost
        # the stamp for good: the next remodel found nothing to change.
        if changed:
            # One row per case, passes pooled, in the order the run listed them (its suite's:
            # ResultsWriter.write_csv)
            order = _csv_order(out / CSV)
            pooled.sort(key=lambda m: order.get(_signature(m.to_row()), len(order)))
            write_csv(out / CSV, pooled)
        if changed or warnings != before:
            atomic_write(out / ENVIRONMENT, json.dumps(env, indent=2) + "\n")
        if changed:
            atomic_write(out / JSONL, "".join(json.dumps(m.to_json()) + "\n" for m in fresh))
    except OSError as e:  # a full disk: it had been a traceback
        raise InputError(f"{out}: its model columns could not be written ({e.strerror}); "
                         "expected room to write them: make room and run a2bench remodel "
                         "again") from None
    return Remodelled(out, len(records), changed, tuple(peaks), warnings != before,
                      tuple(f for f in (*MODEL_FIELDS, "reason") if f in columns), first)


def skip_reason(case: Case, reason: str, threads: int) -> str:
    """A skipped case's reason with today's predicted peak (runner.predicted_bytes): the old
    model's figure had stayed beside the new model column (the H100 training run's 256x256
    non-local step read 68,786,602,368 bytes beside a model of 85,949,694,976). Where today's
    model puts it within the budget, the reason says so: a new run would measure it."""
    found = OVER_BUDGET.search(reason)
    need = predicted_bytes(case, threads) if found else None
    if found is None or need is None:
        return reason
    budget = int(found.group(2))
    said = (over_budget(need, budget) if need > budget else
            f"skipped when its model predicted {found.group(1)} bytes, over the memory budget "
            f"of {budget} bytes; today's model predicts {need}, within it (a new run measures "
            "it)")
    return reason[:found.start()] + said + reason[found.end():]


def _unended_tail(path: Path) -> bytes:
    """What follows the last newline of `path` (blank space aside): a line that read_jsonl left
    out of the records, which a rewrite of the records alone would lose."""
    try:
        data = path.read_bytes()
    except OSError:
        return b""
    return data[data.rfind(b"\n") + 1:].strip()


def _same(new: object, old: object) -> bool:
    """Whether a model column says the same: a run older than a column left it empty, which
    says what 0 or False says (no allowance, no mismatch), so filling it in changes nothing."""
    nothing = (None, 0, False)
    return new == old or (new in nothing and old in nothing)


# The columns of results.csv that say which case a row is: Case's fields (its parameters
# apart), the parameters with columns of their own, and every other column that is not a
# measurement (the block's other parameters, see measurement.csv_columns).
CASE_COLUMNS = (*(f.name for f in fields(Case) if f.name != "params"), *LEGACY_PARAMS)


def _signature(row: dict) -> tuple[str, ...]:
    """Which case a results.csv row is, as its cells are written: the case's columns that
    hold a value, the run axes at their defaults left out (older files lack those columns)."""
    cells = {c: str(v) for c, v in row.items()
             if (c in CASE_COLUMNS or c not in CSV_COLUMNS) and v not in (None, "")}
    for axis, default in RUN_DEFAULTS.items():
        if cells.get(axis) == str(default):
            del cells[axis]
    return tuple(sorted(f"{c}={v}" for c, v in cells.items()))


def _csv_order(path: Path) -> dict[tuple[str, ...], int]:
    """The row number of each case in a results.csv (empty where there is none)."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {_signature(row): i for i, row in enumerate(csv.DictReader(f))}


def remodel_all(runs: Sequence[str | Path]) -> list[Remodelled]:
    return [remodel(run) for run in runs]
