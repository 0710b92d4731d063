"""The gate's rules (levels, thresholds, what counts as exact) and its records.

The rules are the constants below; the records are what one comparison produces: a `Timing` per
timed case, a `CaseResult` per case, one `SuiteResult` for all timed cases together, and the
`Comparison` that holds them. `Side` is one results folder as the comparison reads it.
Nothing here reads a file or computes a statistic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from a2bench.measurement import Measurement

# macs_counted is a counted block's only MACs (its block gives no cost()), so a change in what
# the block computes shows there first; a base written before the column warns, never fails.
EXACT_METRICS = ("macs_analytic", "flops_analytic", "peak_bytes_analytic",
                 "activation_bytes_analytic", "macs_fvcore", "macs_torch", "macs_counted")
COUNTER_METRICS = EXACT_METRICS[4:]  # from running the block: only for cases that ran
# What changes timings or counts between machines and installs. The git commit and the a2bench
# version are expected to differ between base and head, so they are not here.
ENV_KEYS = ("suite", "threads", "interop_threads", "torch", "fvcore", "numpy", "python",
            "cpu_model", "cpu_capability", "physical_cores", "mkldnn_enabled", "gpu_name",
            "cuda_version", "time_budget_s", "ci_target", "warm_cache")
# What a machine is, for timings: a difference in any moves every case by itself
MACHINE_KEYS = ("threads", "cpu_model", "physical_cores", "gpu_name")
EXACT_ENV_KEYS = ("suite", "torch", "fvcore", "python")  # what can change a count; not the CPU
# A counter missing for these reasons is a setting or an install, not a change in the code.
COUNTER_OFF_MARKERS = ("counters disabled", "unavailable")

ALPHA = 0.05
CI_LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_CHUNK_ELEMENTS = 4_000_000  # bounds memory when a CUDA case has 10^4+ samples
# Fewer samples still go to the test, whose exact small-sample p-value cannot reach ALPHA
# unless the two sides separate completely; a hard floor would hide a case that ran so slowly
# that its time budget allowed only a few samples.
MIN_SAMPLES = 2
# Passes a side needs before the p-value comes from the pass medians (and the suite row is
# tested): with 2, a rank test's smallest p is 1/6 and a t-test has 1 degree of freedom a side.
MIN_PASSES = 3
RECOMMENDED_PASSES = 3
# The reference kernel is one 50 ms measurement per case; a burst of other load during it alone
# would swing that case's normalised ratio by the burst's size (seen on a shared machine: one
# reference 17x the others). The median over the cases run around it keeps drift across the run
# and drops such a burst.
REFERENCE_WINDOW = 5
REFERENCE_NOTE_PCT = 5.0  # say how much slower the machine was when the reference moved this much
REFERENCE_SPREAD = 1.5  # max/min reference time within one pass beyond which it was disturbed
SUITE_LABEL = "suite: all timed cases (geomean)"

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Timing:
    """Head against base for one case, from its passes' samples."""

    base_median_s: float  # median over the passes' medians, raw (never normalised)
    head_median_s: float
    ratio: float  # median of head pass medians / median of base pass medians, normalised if asked
    ci_low: float
    ci_high: float
    p_value: float  # one-sided, head slower; before correction
    n_base: int  # samples, all passes
    n_head: int
    normalized: bool
    passes_base: int = 1
    passes_head: int = 1
    pass_level: bool = False  # p from the pass medians; False: from the pooled raw samples
    # the bootstrap's log ratios, in the same replicate order for every case (the suite row)
    log_replicates: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False,
                                       compare=False)
    # process -> log of that pass's median (normalised if asked): the suite's pass scores, and
    # the case's lower bound (timing.case_bound)
    base_pass_logs: Mapping[int, float] = field(default_factory=dict, repr=False, compare=False)
    head_pass_logs: Mapping[int, float] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class CaseResult:
    key: Key
    label: str
    base: Measurement | None  # the passes merged (passes.merge_passes)
    head: Measurement | None
    timing: Timing | None = None
    p_adjusted: float | None = None
    # the lower confidence bound the verdict compares with the threshold, one-sided at
    # bound_level (timing.case_level: Bonferroni over the cases in the Holm family); None outside
    bound: float | None = None
    bound_level: float | None = None
    verdict: str = ""
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class SuiteResult:
    """All timed cases together: geometric mean of the case ratios."""

    cases: int
    ratio: float
    ci_low: float
    ci_high: float
    passes_base: int
    passes_head: int
    p_value: float | None = None  # None: not tested (fewer than MIN_PASSES passes a side)
    p_adjusted: float | None = None
    verdict: str = "not tested"
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    base_dir: Path
    head_dir: Path
    threshold_pct: float
    normalize: bool
    exact_only: bool
    cases: list[CaseResult]
    warnings: list[str]  # run-level: environments, reference kernel, passes, noisy runs
    notes: list[str]
    suite: SuiteResult | None = None
    run_failures: list[str] = field(default_factory=list)  # a side whose sweep did not finish
    machine_differs: tuple[str, ...] = ()  # MACHINE_KEYS whose values differ between the sides

    @property
    def failures(self) -> list[str]:
        return (self.run_failures + [f for c in self.cases for f in c.failures]
                + (self.suite.failures if self.suite else []))

    @property
    def all_warnings(self) -> list[str]:
        return (self.warnings + [w for c in self.cases for w in c.warnings]
                + (self.suite.warnings if self.suite else []))

    @property
    def timing_failed(self) -> bool:
        """Whether a timing row (a case or the suite row) failed: what a machine difference
        alone can explain, where an exact metric or a status cannot."""
        return (any(r.verdict.endswith("SLOWER") for r in self.cases)
                or (self.suite is not None and self.suite.verdict == "SLOWER"))

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


@dataclass
class Side:
    """One results folder: merged records for the exact checks, passes for the timings."""

    merged: dict[Key, Measurement]
    passes: dict[Key, list[Measurement]]  # by process index
    by_process: dict[int, list[Measurement]]  # each pass's records in the order they ran
    env: dict[str, Any]

    @property
    def pass_count(self) -> int:
        return len(self.by_process)
