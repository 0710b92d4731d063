"""Scaling fits, verdicts, findings, crossover and roofline from stored results.

Pure pandas/numpy/scipy; never torch. Data flows one way: results folders -> one DataFrame of ok
and failed rows (a ``run`` column per folder) -> tables, findings and dicts that a2bench.report
renders without deciding anything. This module holds Analysis and analyse(), which run every
step at once, and re-exports every name the package's modules define (an.fit_exponents, ...):

- columns: the vocabulary analysis and report share (metrics, STUDY, labels, clean/records);
- load: results folders -> one prepared frame (load_runs, prepare, Run);
- exponents: fits and verdicts per swept group (fit_exponents; the method's choices);
- findings, crossover, against, roofline, variants, headline: what is read from the data and
  the fits.

Three modules share a name with the function they define (findings, roofline, headline): the
package attribute is the function, as before the split; import the module by its full name
(``from a2bench.analysis.roofline import ...``) to reach the rest of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from a2bench.analysis.against import (
    CROSS_METRICS,
    INTERP_SPAN,
    SHAPE_KEY,
    crossovers_against,
    log_interpolate,
)
from a2bench.analysis.autosizes import (
    AUTO_COLUMNS,
    auto_sizes,
    auto_summary,
    with_budget_notes,
)
from a2bench.analysis.columns import (
    AXES,
    AXIS_LABELS,
    FIT_COLUMNS,
    LEGACY_LABELS,
    METRICS,
    REFERENCE,
    SIZE_COLUMNS,
    STUDY,
    Pair,
    axes,
    axis_label,
    block_label,
    block_order,
    clean,
    distinct_sizes,
    fixed_columns,
    group_label,
    param_columns,
    records,
    shape_label,
    size_columns,
    size_labels,
)
from a2bench.analysis.crossover import (
    Crossing,
    crossing,
    crossovers,
    pairs,
    predicted_crossover,
)
from a2bench.analysis.exponents import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    COMPLEXITY_COLUMNS,
    COMPLEXITY_METRICS,
    FITS_EXTRA_COLUMNS,
    MMAP,
    VERDICTS,
    Step,
    complexity_classes,
    direct_overhead,
    fit_exponents,
    fit_group,
    fit_points,
    per_size,
    run_caches,
    run_thresholds,
    steepest_step,
    swept_groups,
)
from a2bench.analysis.findings import (
    CLIFF_EXCESS,
    TENSORS,
    Finding,
    findings,
    findings_frame,
)
from a2bench.analysis.headline import (
    HEADLINE_STATUSES,
    headline,
    model_mismatches,
)
from a2bench.analysis.load import (
    Run,
    frame,
    largest_activation,
    load_runs,
    ok_rows,
    prepare,
    run_labels,
)
from a2bench.analysis.roofline import (
    CEILING_TOLERANCE,
    roofline,
    roofline_summary,
)
from a2bench.analysis.unfinished import unfinished
from a2bench.analysis.variants import (
    COUNTER_COLUMNS,
    PUBLISHED_MACS,
    TREND_COLUMNS,
    TREND_FLAT,
    Trend,
    compare_runs,
    compile_pairs,
    counter_table,
    in_context,
    mode_pairs,
    precision_pairs,
    trends,
)
from a2bench.run.store import (  # how a run ended: Run.ended
    FINISHED,
    INTERRUPTED,
    STOPPED,
    ending,
)

# Every name a2bench.analysis defined before it became a package: tests, scripts and the
# report use them as an.<name>.
__all__ = [
    "AUTO_COLUMNS", "model_mismatches", "auto_sizes", "auto_summary", "verdicts",
    "with_budget_notes",
    "FINISHED", "INTERRUPTED", "STOPPED", "ending",
    "AXES", "AXIS_LABELS", "Analysis", "BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "CEILING_TOLERANCE",
    "CLIFF_EXCESS", "COMPLEXITY_COLUMNS", "COMPLEXITY_METRICS", "COUNTER_COLUMNS", "CROSS_METRICS",
    "Crossing", "FITS_EXTRA_COLUMNS", "FIT_COLUMNS", "Finding", "HEADLINE_STATUSES", "INTERP_SPAN",
    "LEGACY_LABELS", "METRICS", "MMAP", "PUBLISHED_MACS", "Pair", "REFERENCE", "Run", "SHAPE_KEY",
    "SIZE_COLUMNS", "STUDY", "Step", "TENSORS", "TREND_COLUMNS", "TREND_FLAT", "Trend", "VERDICTS",
    "analyse", "axes", "axis_label", "block_label", "block_order", "clean", "compare_runs",
    "compile_pairs", "complexity_classes", "counter_table", "crossing", "crossovers",
    "crossovers_against", "direct_overhead", "distinct_sizes", "findings", "findings_frame",
    "fit_exponents", "fit_group", "fit_points", "fixed_columns", "frame", "group_label",
    "headline", "in_context", "log_interpolate",
    "largest_activation", "load_runs", "mode_pairs", "ok_rows", "pairs", "param_columns",
    "per_size", "precision_pairs", "predicted_crossover", "prepare", "records", "roofline",
    "roofline_summary", "run_caches", "run_labels", "run_thresholds", "shape_label", "size_columns",
    "size_labels", "steepest_step", "swept_groups", "trends", "unfinished",
]

# ---------------------------------------------------------------------------------------------
# Everything at once


@dataclass(frozen=True)
class Analysis:
    data: pd.DataFrame
    runs: tuple[Run, ...]
    fits: pd.DataFrame
    pairs: pd.DataFrame
    crossovers: pd.DataFrame
    block_crossovers: pd.DataFrame
    complexity: pd.DataFrame
    roofline: pd.DataFrame
    roofline_summary: pd.DataFrame
    comparison: pd.DataFrame
    findings: tuple[Finding, ...] = ()
    modes: pd.DataFrame = field(default_factory=pd.DataFrame)  # mode_pairs
    compiled: pd.DataFrame = field(default_factory=pd.DataFrame)  # compile_pairs
    precision: pd.DataFrame = field(default_factory=pd.DataFrame)  # precision_pairs
    counters: pd.DataFrame = field(default_factory=pd.DataFrame)  # counter_table
    context: pd.DataFrame = field(default_factory=pd.DataFrame)  # in_context
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)  # of modes and compiled
    headline: dict[str, Any] = field(default_factory=dict)
    # How far each run that did not finish got (unfinished()), asked once: the report's page
    # and the lines `report` prints both read it. Asked again after the figures, a run that
    # ended meanwhile was "being written now" on the page and told to resume on the terminal.
    unfinished: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    @property
    def environments(self) -> dict[str, dict[str, Any]]:
        return {r.label: r.environment for r in self.runs}


def analyse(data: pd.DataFrame, runs: Sequence[Run], *, resamples: int = BOOTSTRAP_RESAMPLES,
            seed: int = BOOTSTRAP_SEED) -> Analysis:
    envs = {r.label: r.environment for r in runs}
    fits = with_budget_notes(fit_exponents(data, envs, resamples=resamples, seed=seed), envs)
    roof = roofline(data, envs)
    modes, compiled = mode_pairs(data), compile_pairs(data, roof)
    fixed = fixed_columns(data, "positions")
    return Analysis(
        data=data, runs=tuple(runs), fits=fits, pairs=pairs(data),
        crossovers=crossovers(data, environments=envs),
        block_crossovers=crossovers_against(data, REFERENCE, envs),
        complexity=complexity_classes(fits), roofline=roof, roofline_summary=roofline_summary(roof),
        comparison=compare_runs(data),
        findings=tuple(findings(fits, data, roof, envs)),
        headline=headline(fits, [r.label for r in runs], envs, data),
        unfinished=unfinished(runs),
        modes=modes, compiled=compiled, precision=precision_pairs(data),
        counters=counter_table(data), context=in_context(data),
        trends=pd.concat([trends(modes, w, fixed, "block_train")
                          for w in ("memory_ratio", "memory_extra", "latency_ratio")]
                         + [trends(compiled, "speedup", fixed, "block_compiled")],
                         ignore_index=True),
    )


def verdicts(folder: str | Path) -> dict[str, Any]:
    """The headline of one results folder (every block along positions against its model), as
    `a2bench run` prints it at its end: the fits alone, no report."""
    data, runs = load_runs([folder])
    envs = {r.label: r.environment for r in runs}
    fits = with_budget_notes(fit_exponents(data, envs), envs)
    out = headline(fits, [r.label for r in runs], envs, data)
    stopped = unfinished(runs)  # "" for a run that stored every pass it planned and its end
    for run, h in out["runs"].items():
        h["unfinished"] = stopped.get(run, "")
    return out
