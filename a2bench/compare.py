"""Gate HEAD results against BASE results: exact metrics must match, timings must not regress.

Two kinds of evidence, two rules:
- Exact metrics (analytic MACs, FLOPs and bytes, and the counters' MACs) are deterministic, so any
  difference is a failure. `--exact-only` checks these (and statuses) and never reads a timing,
  so it cannot flake and can gate every commit.
- Latency is noisy, so a case fails only when it is slower beyond the threshold *with confidence*:
  a one-sided test (head slower) is significant after a Holm correction, AND the lower bound of
  the 95% interval of the head/base latency ratio exceeds 1 + threshold. The test alone would flag
  a 1% shift once there is enough data; the interval alone has no multiplicity control. Requiring
  both makes a false alarm need a shift beyond the threshold, not merely a detectable one.

The unit of replication is the pass (`a2bench run --processes P`: each pass runs the suite in a
fresh worker process). Measured on a 2-core machine, one process's samples of a case are all fast
or all slow (up to 1.55x apart between processes of the same code), while each process's own
interval is +-1.5%: the state that decides (allocation addresses, thread placement) is fixed per
process, so samples from one process say nothing about it. Hence, per case and side, each pass is
summarised by its median, and:
- ratio = median over head pass medians / median over base pass medians (each process one vote,
  however many samples its time budget allowed, and one disturbed pass of three cannot move it);
- 95% CI: two-level (cluster) bootstrap: passes resampled with replacement, then samples within
  each chosen pass, so the interval carries both the between-process and the sampling spread;
- p: with >= MIN_PASSES passes on both sides, the exact one-sided Mann-Whitney test on the pass
  medians. Its smallest p is 1 / C(2P, P) (0.05 for 3 passes a side, 0.004 for 5), so one case
  alone can only fail with 5+ passes and head's every pass slower than base's every pass. With
  fewer passes the p-value falls back to the raw samples, as before --processes existed, and the
  report says that the between-process variance was not measured.
- The suite row: all timed cases together, one score per pass (that process's mean log latency
  over the cases, each case centred on its base mean), which averages the per-case process noise
  over the suite while keeping what the cases of one process share. ratio = exp(mean head score -
  mean base score), the geometric mean over cases and passes; 95% Welch t interval; p: one-sided
  Welch t-test. A t interval stays honest with 3-5 replicates, where a percentile bootstrap over
  so few clusters is too narrow. It needs >= MIN_PASSES passes a side and joins the cases in one
  Holm family, so the family-wise error stays at ALPHA. With 3 passes a side it is the only
  timing test that can fail (see above); with fewer it is reported (geometric mean of the case
  ratios, bootstrap interval) but not tested.
- Holm family: the suite row and every case whose test can reach p < ALPHA with its pass counts;
  with 3 passes a side no case can (smallest p 0.05), so none is counted: decided from the pass
  counts before any latency is read, it costs nothing in validity (Tarone's idea).

`--normalize` divides each pass's samples by the reference kernel (a fixed matmul) timed in the
same worker right before each case, so a machine that is uniformly slower does not read as a
regression. The divisor is the median reference over the few cases run around that one in the same
pass, so that a burst of load during one 50 ms reference measurement does not become a regression
of its case. It also divides out most of a change in thread count (the reference uses the same
threads), which is one reason a thread difference is reported as an environment warning.

Pure analysis: pandas, numpy and scipy over the stored results. Never imports torch.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from a2bench.errors import InputError
from a2bench.measurement import Measurement
from a2bench.run.store import ENVIRONMENT, JSONL, load_environment, load_passes, merge_passes

EXACT_METRICS = ("macs_analytic", "flops_analytic", "peak_bytes_analytic",
                 "activation_bytes_analytic", "macs_fvcore", "macs_torch")
COUNTER_METRICS = EXACT_METRICS[4:]  # from running the block: only for cases that ran
# What changes timings or counts between machines and installs. The git commit and the a2bench
# version are expected to differ between base and head, so they are not here.
ENV_KEYS = ("threads", "interop_threads", "torch", "fvcore", "numpy", "python", "cpu_model",
            "cpu_capability", "physical_cores", "mkldnn_enabled", "gpu_name", "cuda_version",
            "time_budget_s", "ci_target", "warm_cache")
EXACT_ENV_KEYS = ("torch", "fvcore", "python")  # what can change a count; the CPU cannot
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
    # process -> log of that pass's median (normalised if asked), for the suite's pass scores
    base_pass_logs: Mapping[int, float] = field(default_factory=dict, repr=False, compare=False)
    head_pass_logs: Mapping[int, float] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class CaseResult:
    key: Key
    label: str
    base: Measurement | None  # the passes merged (store.merge_passes)
    head: Measurement | None
    timing: Timing | None = None
    p_adjusted: float | None = None
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

    @property
    def failures(self) -> list[str]:
        return ([f for c in self.cases for f in c.failures]
                + (self.suite.failures if self.suite else []))

    @property
    def all_warnings(self) -> list[str]:
        return (self.warnings + [w for c in self.cases for w in c.warnings]
                + (self.suite.warnings if self.suite else []))

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


# ----------------------------------------------------------------------------- loading

def load_side(path: Path, role: str) -> Side:
    """The records of one results folder by case key (merged and per pass), and its environment."""
    if not path.is_dir():
        raise InputError(f"{path}: no such folder (expected the {role} results folder written by "
                         "a2bench run)")
    if not (path / JSONL).is_file():
        raise InputError(f"{path}: no {JSONL} here (expected the {role} results folder written "
                         "by a2bench run)")
    records = load_passes(path)
    if not records:
        raise InputError(f"{path}: {JSONL} holds no results (expected the {role} results of a "
                         "finished a2bench run)")
    # A resumed sweep never stores a (case, pass) twice; should one appear, the later one wins.
    unique: dict[tuple[Key, int], Measurement] = {}
    for m in records:
        unique.pop((m.case.key(), m.process), None)
        unique[(m.case.key(), m.process)] = m
    passes: dict[Key, list[Measurement]] = {}
    by_process: dict[int, list[Measurement]] = {}
    for m in unique.values():
        passes.setdefault(m.case.key(), []).append(m)
        by_process.setdefault(m.process, []).append(m)
    for group in passes.values():
        group.sort(key=lambda m: m.process)
    merged = {m.case.key(): m for m in merge_passes(unique.values())}
    return Side(merged, passes, dict(sorted(by_process.items())), load_environment(path))


# ----------------------------------------------------------------------------- statistics

def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: controls the family-wise error across all cases."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))  # keeps them monotone
        adjusted[i] = running
    return adjusted


def mann_whitney_slower(base: np.ndarray, head: np.ndarray) -> float:
    """One-sided p-value that head's values are stochastically larger (slower) than base's."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = float(stats.mannwhitneyu(head, base, alternative="greater").pvalue)
    return p if math.isfinite(p) else 1.0  # all values tied: no evidence of a change


def welch_slower(base: np.ndarray, head: np.ndarray) -> float:
    """One-sided Welch t-test p-value that head's mean is larger (slower) than base's."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = float(stats.ttest_ind(head, base, equal_var=False, alternative="greater").pvalue)
    return p if math.isfinite(p) else 1.0  # no spread on either side: nothing to test against


def smallest_rank_p(n_base: int, n_head: int) -> float:
    """The smallest one-sided exact Mann-Whitney p-value: 1 / C(n_base + n_head, n_base)."""
    return 1 / math.comb(n_base + n_head, n_base)


def _resampled_medians(rng: np.random.Generator, s: np.ndarray, count: int) -> np.ndarray:
    """`count` medians of resamples (with replacement) of `s`, in chunks that bound memory."""
    rows = max(1, BOOTSTRAP_CHUNK_ELEMENTS // s.size)
    out = np.empty(count)
    done = 0
    while done < count:
        k = min(rows, count - done)
        out[done:done + k] = np.median(rng.choice(s, size=(k, s.size), replace=True), axis=1)
        done += k
    return out


def pass_indices(side: str, processes: Sequence[int],
                 resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Which passes each bootstrap replicate draws: (resamples, passes) positions.

    Seeded by the side and the set of passes only, so that every case with the same passes
    draws the same processes in the same replicate: a pass is one worker process that ran all
    its cases, and the suite row must keep what those cases shared.
    """
    rng = np.random.default_rng(zlib.crc32(f"{side}:{tuple(processes)}".encode()))
    return rng.integers(0, len(processes), size=(resamples, len(processes)))


def hierarchical_medians(passes: Sequence[np.ndarray], indices: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """Two-level bootstrap of the median over pass medians, one value per replicate.

    Replicate r takes the passes indices[r] (drawn with replacement), resamples each chosen
    pass's samples with replacement, and returns the median over those passes' medians. With
    one pass this is the ordinary bootstrap of that pass's median.
    """
    resamples, slots = indices.shape
    meds = np.empty((resamples, slots))
    for slot in range(slots):
        for i, s in enumerate(passes):
            rows = np.flatnonzero(indices[:, slot] == i)
            if rows.size:
                meds[rows, slot] = _resampled_medians(rng, s, rows.size)
    return np.median(meds, axis=1)


def percentile_ci(values: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ratio_ci(base: np.ndarray | Sequence[np.ndarray],
                       head: np.ndarray | Sequence[np.ndarray], seed: int,
                       resamples: int = BOOTSTRAP_RESAMPLES,
                       level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile interval of (median of head pass medians) / (same for base).

    Each side is one array of samples (one pass) or a list of arrays (one per pass). Seeded per
    case so a report is reproducible and does not depend on the other cases.
    """
    b = [base] if isinstance(base, np.ndarray) else list(base)
    h = [head] if isinstance(head, np.ndarray) else list(head)
    logs = _log_ratio_replicates(b, h, pass_indices("base", range(len(b)), resamples),
                                 pass_indices("head", range(len(h)), resamples), seed)
    low, high = percentile_ci(logs, level)
    return math.exp(low), math.exp(high)


def _log_ratio_replicates(base: Sequence[np.ndarray], head: Sequence[np.ndarray],
                          base_idx: np.ndarray, head_idx: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    b = hierarchical_medians(base, base_idx, rng)
    h = hierarchical_medians(head, head_idx, rng)
    return np.log(h) - np.log(b)


def case_seed(key: Key) -> int:
    # crc32 rather than hash(): hash() of a str changes between processes.
    return zlib.crc32(repr(key).encode())


def smoothed_references(records: Sequence[Measurement],
                        window: int = REFERENCE_WINDOW) -> dict[Key, float]:
    """Each case's reference time: the median over the `window` cases run around it.

    `records` must be one pass, in the order its cases ran (the order of results.jsonl).
    """
    timed = [(m.case.key(), m.reference_s) for m in records
             if m.reference_s and math.isfinite(m.reference_s) and m.reference_s > 0]
    half = window // 2
    out = {}
    for i, (key, _) in enumerate(timed):
        lo = max(0, min(i - half, len(timed) - window))
        out[key] = float(np.median([r for _, r in timed[lo:lo + window]]))
    return out


def side_references(side: Side) -> dict[tuple[Key, int], float]:
    """Smoothed reference time by (case, pass), smoothing within each pass."""
    return {(key, p): r for p, records in side.by_process.items()
            for key, r in smoothed_references(records).items()}


def samples_of(m: Measurement, reference_s: float | None = None) -> np.ndarray | None:
    """The raw samples, divided by the reference time when one is given."""
    s = np.asarray(m.samples_s, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    if s.size == 0:
        return None
    return s / reference_s if reference_s else s


def compare_timing(base: Sequence[Measurement], head: Sequence[Measurement], normalize: bool,
                   seed: int, base_refs: Mapping[int, float] | None = None,
                   head_refs: Mapping[int, float] | None = None) -> Timing | str:
    """The timing comparison of one case from its passes on each side, or why none was made.

    `base_refs` and `head_refs` map a pass (process index) to its reference time at this case.
    """
    sides: dict[str, tuple[list[int], list[np.ndarray], list[np.ndarray]]] = {}
    for name, passes, refs in (("base", base, base_refs or {}), ("head", head, head_refs or {})):
        processes, scaled, raw = [], [], []
        for m in passes:
            ref = refs.get(m.process)
            if normalize and not ref:
                return f"no reference kernel time on the {name} side (pass {m.process + 1})"
            s = samples_of(m)
            if s is None:
                continue  # a pass without samples has nothing to say about latency
            processes.append(m.process)
            raw.append(s)
            scaled.append(s / ref if normalize and ref else s)
        sides[name] = (processes, scaled, raw)
    (bp, b, b_raw), (hp, h, h_raw) = sides["base"], sides["head"]
    if not b or not h:
        return f"no raw samples on the {'base' if not b else 'head'} side"
    n_b, n_h = sum(s.size for s in b), sum(s.size for s in h)
    if n_b < MIN_SAMPLES or n_h < MIN_SAMPLES:
        return f"too few samples to test ({n_b} base, {n_h} head; need {MIN_SAMPLES})"
    b_med = np.array([np.median(s) for s in b])
    h_med = np.array([np.median(s) for s in h])
    logs = _log_ratio_replicates(b, h, pass_indices("base", bp), pass_indices("head", hp), seed)
    low, high = percentile_ci(logs)
    pass_level = len(b) >= MIN_PASSES and len(h) >= MIN_PASSES
    if pass_level:
        p = mann_whitney_slower(b_med, h_med)
    else:
        p = mann_whitney_slower(np.concatenate(b), np.concatenate(h))
    return Timing(
        base_median_s=float(np.median([np.median(s) for s in b_raw])),
        head_median_s=float(np.median([np.median(s) for s in h_raw])),
        ratio=float(np.median(h_med) / np.median(b_med)),
        ci_low=math.exp(low), ci_high=math.exp(high), p_value=p, n_base=n_b, n_head=n_h,
        normalized=normalize, passes_base=len(b), passes_head=len(h), pass_level=pass_level,
        log_replicates=logs,
        base_pass_logs={p_: float(np.log(v)) for p_, v in zip(bp, b_med, strict=True)},
        head_pass_logs={p_: float(np.log(v)) for p_, v in zip(hp, h_med, strict=True)},
    )


def suite_timing(timings: Sequence[Timing]) -> SuiteResult | None:
    """All timed cases together, or None when fewer than two cases were timed.

    With MIN_PASSES+ passes a side: a Welch t analysis of the per-pass scores (each pass's mean
    log latency over the cases, see pass_scores): ratio = exp(mean head score - mean base
    score), the geometric mean over cases and passes; its t interval and one-sided p. A pass is
    the replicate, and a t interval is honest with 3-5 of them, where a percentile bootstrap
    over so few clusters is too narrow. Otherwise the geometric mean of the case ratios with the
    bootstrap interval (shared pass draws), reported but not tested.
    """
    if len(timings) < 2:
        return None
    s = SuiteResult(cases=len(timings), ratio=math.nan, ci_low=math.nan, ci_high=math.nan,
                    passes_base=min(t.passes_base for t in timings),
                    passes_head=min(t.passes_head for t in timings))
    if all(t.pass_level for t in timings):
        base, head = pass_scores(timings)
        if len(base) >= MIN_PASSES and len(head) >= MIN_PASSES:
            diff = float(np.mean(head) - np.mean(base))
            with np.errstate(invalid="ignore", divide="ignore"):
                two_sided = stats.ttest_ind(head, base, equal_var=False)
                low, high = two_sided.confidence_interval(confidence_level=CI_LEVEL)
            if not (math.isfinite(low) and math.isfinite(high)):  # no spread at all
                low = high = diff
            s.ratio, s.ci_low, s.ci_high = math.exp(diff), math.exp(low), math.exp(high)
            s.p_value = welch_slower(base, head)
            s.passes_base, s.passes_head = len(base), len(head)
            return s
    low, high = percentile_ci(np.mean([t.log_replicates for t in timings], axis=0))
    s.ratio = math.exp(float(np.mean([math.log(t.ratio) for t in timings])))
    s.ci_low, s.ci_high = math.exp(low), math.exp(high)
    return s


def pass_scores(timings: Sequence[Timing]) -> tuple[np.ndarray, np.ndarray]:
    """Each pass's mean log latency over the cases, relative to each case's base mean.

    The centre is subtracted per case so that a pass missing a case is still comparable; with
    every case in every pass it cancels out of the head-minus-base difference.
    """
    centres = [float(np.mean(list(t.base_pass_logs.values()))) for t in timings]
    out = []
    for attr in ("base_pass_logs", "head_pass_logs"):
        by_pass: dict[int, list[float]] = {}
        for t, centre in zip(timings, centres, strict=True):
            for p, v in getattr(t, attr).items():
                by_pass.setdefault(p, []).append(v - centre)
        out.append(np.array([np.mean(v) for _, v in sorted(by_pass.items())]))
    return out[0], out[1]


# ----------------------------------------------------------------------------- checks

def environment_warnings(base_env: Mapping[str, Any], head_env: Mapping[str, Any],
                         base_dir: Path, head_dir: Path, exact_only: bool = False) -> list[str]:
    out = []
    for side, env, path in (("base", base_env, base_dir), ("head", head_env, head_dir)):
        if not env:
            out.append(f"{path}: no {ENVIRONMENT}; cannot check that the {side} environment "
                       "matches")
    if not (base_env and head_env):
        return out
    for key in EXACT_ENV_KEYS if exact_only else ENV_KEYS:
        b, h = base_env.get(key), head_env.get(key)
        if b != h:
            out.append(f"environments differ: {key} {b} (base) vs {h} (head); compared anyway")
    if exact_only:
        return out  # the runs' own noise warnings are about timings, which are not read
    for side, env in (("base", base_env), ("head", head_env)):
        for w in env.get("warnings") or ():
            out.append(f"the {side} run warned: {w}")
    return out


def exact_failures(base: Measurement, head: Measurement) -> tuple[list[str], list[str]]:
    """Failures (a changed exact metric) and warnings (a counter one side did not run)."""
    fails: list[str] = []
    warns: list[str] = []
    label = base.case.label()
    both_ran = base.status == "ok" and head.status == "ok"
    for name in EXACT_METRICS:
        if name in COUNTER_METRICS and not both_ran:
            continue  # counters only exist for cases that ran; the status check covers the rest
        b, h = getattr(base, name), getattr(head, name)
        if b == h:
            continue
        if b is not None and h is not None:
            change = f" ({(h - b) / b:+.2%})" if b else ""
            fails.append(f"{label}: {name} changed {b} -> {h}{change}; exact metrics must match")
        elif h is None and not any(k in head.reason for k in COUNTER_OFF_MARKERS):
            fails.append(f"{label}: {name} was {b}, now missing ({head.reason or 'no reason'})")
        else:
            side = "head" if h is None else "base"
            warns.append(f"{label}: {name} not compared: missing on the {side} side "
                         f"({(head if h is None else base).reason or 'no reason'})")
    return fails, warns


def status_failures(base: Measurement, head: Measurement) -> list[str]:
    if base.status == "ok" and head.status != "ok":
        why = f": {head.reason}" if head.reason else ""
        return [f"{base.case.label()}: status ok -> {head.status}{why}"]
    return []


def peak_warning(base: Measurement, head: Measurement, threshold_pct: float) -> list[str]:
    # The measured peak depends on the allocator, so it only warns; the analytic peak is exact.
    b, h = base.peak_bytes, head.peak_bytes
    if b and h and h > b * (1 + threshold_pct / 100):
        return [f"{base.case.label()}: measured peak memory {b / 2**20:.2f} -> {h / 2**20:.2f} "
                f"MiB ({h / b - 1:+.0%}); not an exact metric, so a warning only"]
    return []


def reference_note(pairs: Sequence[tuple[Measurement, Measurement]],
                   normalize: bool) -> list[str]:
    """How much slower the head machine ran, from the reference kernel timed beside each case."""
    ratios = [h.reference_s / b.reference_s for b, h in pairs
              if b.reference_s and h.reference_s and b.status == h.status == "ok"]
    if not ratios:
        return []
    r = float(np.median(ratios))
    if abs(r - 1) * 100 < REFERENCE_NOTE_PCT:
        return []
    how = "divided out (--normalize)" if normalize else "not divided out; consider --normalize"
    return [f"reference kernel: head/base = {r:.2f} (median over cases), so the head machine "
            f"ran {abs(r - 1):.0%} {'slower' if r > 1 else 'faster'}; {how}"]


def reference_spread_warnings(sides: Mapping[str, Side]) -> list[str]:
    """A pass whose reference kernel times disagree had load that came and went during it.

    Seen on a shared 2-core machine: the same 256x256 matmul took 0.17 ms or 16 ms depending on
    whether another process held a core. Dividing by such a reference adds noise, not removes it.
    """
    out = []
    for name, side in sides.items():
        for p, records in side.by_process.items():
            refs = [m.reference_s for m in records if m.status == "ok" and m.reference_s]
            if len(refs) >= 2 and max(refs) > REFERENCE_SPREAD * min(refs):
                where = (f" in pass {p + 1} of {side.pass_count}" if side.pass_count > 1 else "")
                weight = ("; it is one vote among the passes' medians"
                          if side.pass_count >= MIN_PASSES else "")
                out.append(f"the {name} run's reference kernel ranged {min(refs) * 1e3:.3g}-"
                           f"{max(refs) * 1e3:.3g} ms across its cases{where}: load came and went "
                           f"during the run, so its timings (normalised or not) are unreliable"
                           f"{weight}")
    return out


def _window(records: Iterable[Measurement]) -> tuple[datetime, datetime] | None:
    times = []
    for m in records:
        try:
            times.append(datetime.fromisoformat(m.finished_at))
        except (TypeError, ValueError):
            continue
    return (min(times), max(times)) if times else None


def sequence_warnings(base: Side, head: Side) -> list[str]:
    """Say when one side ran entirely before the other instead of interleaved with it.

    Measured on a shared 2-core machine: a state lasting tens of seconds (as slow as one thread,
    so presumably a core taken by other load) made single cases of the same code 1.3-1.4x slower
    in all 5 passes of one 40 s run. Passes replicate the process, not such a state;
    interleaving the sides' passes makes it fall on both alike.
    """
    b = _window(m for g in base.by_process.values() for m in g)
    h = _window(m for g in head.by_process.values() for m in g)
    if b is None or h is None or (b[0] <= h[1] and h[0] <= b[1]):
        return []
    span = lambda w: f"{w[0]:%H:%M:%S}-{w[1]:%H:%M:%S}"  # noqa: E731
    return [f"base ({span(b)}) and head ({span(h)}) ran one after the other, not interleaved: a "
            "machine state lasting tens of seconds falls on one side only (measured on a shared "
            "2-core machine: single cases of the same code 1.3-1.4x slower for a whole 40 s run);"
            " to gate, interleave the two sides' passes as scripts/ci_gate.sh does"]


def pass_warnings(sides: Mapping[str, Side]) -> list[str]:
    """Say when a side cannot measure the between-process variance."""
    out = []
    for name, side in sides.items():
        n = side.pass_count
        if n == 1:
            out.append(f"the {name} run has 1 pass per case (one worker process): the variance "
                       "between processes is not measured, and on a 2-core machine the same code "
                       "differed by up to 1.55x between processes; timing p-values come from the "
                       f"raw samples. Run both sides with --processes {RECOMMENDED_PASSES} or more")
        elif n < MIN_PASSES:
            out.append(f"the {name} run has {n} passes per case: too few for a test on pass "
                       "medians, so timing p-values come from the pooled raw samples; run both "
                       f"sides with --processes {RECOMMENDED_PASSES} or more")
    return out


# ----------------------------------------------------------------------------- the comparison

def compare(base_dir: Path, head_dir: Path, threshold_pct: float = 10.0, normalize: bool = False,
            exact_only: bool = False) -> Comparison:
    base = load_side(Path(base_dir), "base")
    head = load_side(Path(head_dir), "head")
    common = [k for k in base.merged if k in head.merged]
    if not common:
        raise InputError(f"{head_dir}: no case in common with {base_dir} (expected results of "
                         "the same suite, matched by block, device, dtype and shape)")
    limit = 1 + threshold_pct / 100
    base_refs = {} if exact_only else side_references(base)
    head_refs = {} if exact_only else side_references(head)
    results = [_compare_case(key, base, head, threshold_pct, normalize, exact_only,
                             base_refs, head_refs)
               for key in sorted(set(base.merged) | set(head.merged), key=_sort_key)]

    # Holm over every case that was timed, and the suite row when it is tested: the gate asks
    # "is anything slower?", so the error rate to control is that of the whole family. A case
    # whose exact test on pass medians cannot reach p < ALPHA with its pass counts (3 a side:
    # smallest p 1/20) can never fail on timing whatever its data, so it is left out of the
    # family (decided from the pass counts alone, before any latency is read; Tarone's idea)
    # instead of diluting the tests that can.
    tested = [r for r in results if r.timing is not None]
    family = [r for r in tested if r.timing and can_be_significant(r.timing)]
    suite = None if exact_only else suite_timing([r.timing for r in tested if r.timing])
    p_values = [r.timing.p_value for r in family if r.timing]
    if suite is not None and suite.p_value is not None:
        p_values.append(suite.p_value)
    adjusted = holm(p_values)
    for r, p in zip(family, adjusted, strict=False):
        r.p_adjusted = p
    for r in tested:
        _judge_timing(r, limit, threshold_pct)
    if suite is not None:
        if suite.p_value is not None:
            suite.p_adjusted = adjusted[-1]
        _judge_suite(suite, limit, threshold_pct)

    pairs = [(base.merged[k], head.merged[k]) for k in common]
    warnings = environment_warnings(base.env, head.env, Path(base_dir), Path(head_dir),
                                    exact_only)
    sides = {"base": base, "head": head}
    if not exact_only:
        warnings += pass_warnings(sides)
        warnings += sequence_warnings(base, head)
        warnings += reference_note(pairs, normalize)
        warnings += reference_spread_warnings(sides)
    notes = [f"{sum(1 for r in results if r.base and r.head)} cases in common, "
             f"{sum(1 for r in results if r.head is None)} only in base, "
             f"{sum(1 for r in results if r.base is None)} only in head"]
    if not exact_only:
        notes.append(_passes_note(base.pass_count, head.pass_count, len(tested) - len(family)))
    return Comparison(Path(base_dir), Path(head_dir), threshold_pct, normalize, exact_only,
                      results, warnings, notes, suite)


def _passes_note(n_base: int, n_head: int, left_out: int) -> str:
    note = (f"passes (worker processes) per case: {n_base} base, {n_head} head; the pass is the "
            "unit of replication")
    if min(n_base, n_head) < MIN_PASSES:
        return note + f" only with {MIN_PASSES}+ passes a side (see the warnings)"
    if left_out:
        note += (f"; with {n_base}/{n_head} passes a case's exact test cannot reach p < "
                 f"{ALPHA:g} (smallest p {smallest_rank_p(n_base, n_head):.2g}), so {left_out} "
                 "cases are left out of the Holm family (p in parentheses) and only the suite "
                 "row can fail on timing; 5+ passes a side let a single case fail")
    return note


def can_be_significant(t: Timing) -> bool:
    """Whether the case's test can reach p < ALPHA at all, from its pass counts alone."""
    return not t.pass_level or smallest_rank_p(t.passes_base, t.passes_head) < ALPHA


def _compare_case(key: Key, base: Side, head: Side, threshold_pct: float, normalize: bool,
                  exact_only: bool, base_refs: Mapping[tuple[Key, int], float],
                  head_refs: Mapping[tuple[Key, int], float]) -> CaseResult:
    """Everything about one case except the timing verdict, which needs all cases' p-values."""
    b, h = base.merged.get(key), head.merged.get(key)
    if b is None or h is None:
        present = b if b is not None else h
        assert present is not None
        r = CaseResult(key, present.case.label(), b, h,
                       verdict="only in base" if h is None else "only in head")
        if b is not None and b.status == "ok":
            r.warnings.append(f"{r.label}: ok in base but missing from head; not compared")
        return r
    r = CaseResult(key, b.case.label(), b, h)
    exact, exact_warns = exact_failures(b, h)
    status = status_failures(b, h)
    r.failures += exact + status
    r.warnings += exact_warns
    if exact:
        r.verdict = "EXACT CHANGED"
    elif status:
        r.verdict = f"NOW {h.status.upper()}"
    elif b.status != "ok" or h.status != "ok":
        r.verdict = b.status if b.status == h.status else f"{b.status} -> {h.status}"
    else:
        r.verdict = "ok" if exact_only else "not timed"
    if exact_only or b.status != "ok" or h.status != "ok":
        return r
    r.warnings += peak_warning(b, h, threshold_pct)
    bp, hp = base.passes[key], head.passes[key]
    t = compare_timing(bp, hp, normalize, case_seed(key),
                       {m.process: base_refs[(key, m.process)] for m in bp
                        if (key, m.process) in base_refs},
                       {m.process: head_refs[(key, m.process)] for m in hp
                        if (key, m.process) in head_refs})
    if isinstance(t, Timing):
        r.timing = t
    else:
        r.warnings.append(f"{r.label}: timing not compared: {t}")
    return r


def _verdict(ratio: float, ci_low: float, ci_high: float, p: float | None,
             limit: float) -> str:
    if p is not None and p < ALPHA and ci_low > limit:
        return "SLOWER"
    if ci_high < 1 / limit:
        return "faster"
    if ratio > limit:
        return "slower?"
    return "ok"


def _judge_timing(r: CaseResult, limit: float, threshold_pct: float) -> None:
    t, p = r.timing, r.p_adjusted
    assert t is not None
    verdict = _verdict(t.ratio, t.ci_low, t.ci_high, p, limit)
    if verdict == "SLOWER":
        r.failures.append(
            f"{r.label}: {t.ratio:.2f}x slower (95% CI {t.ci_low:.2f}-{t.ci_high:.2f}, "
            f"p={p:.2g} after Holm), beyond the {threshold_pct:g}% threshold")
    elif verdict == "slower?":
        r.warnings.append(
            f"{r.label}: median {t.ratio:.2f}x slower but not confirmed (95% CI "
            f"{t.ci_low:.2f}-{t.ci_high:.2f}, p={t.p_value if p is None else p:.2g}); "
            "rerun to check")
    # a case whose exact metrics changed keeps that verdict first, and adds the timing one
    r.verdict = verdict if r.verdict in ("ok", "not timed") else f"{r.verdict}, {verdict}"


def _judge_suite(s: SuiteResult, limit: float, threshold_pct: float) -> None:
    what = f"the {s.cases} timed cases together"
    ci = f"95% CI {s.ci_low:.2f}-{s.ci_high:.2f}"
    if s.p_adjusted is None:
        s.verdict = "not tested"
        if s.ci_low > limit:
            s.warnings.append(
                f"{what} are {s.ratio:.2f}x slower (geometric mean, {ci}) but not tested: fewer "
                f"than {MIN_PASSES} passes a side; rerun both sides with --processes "
                f"{RECOMMENDED_PASSES} or more")
        return
    s.verdict = _verdict(s.ratio, s.ci_low, s.ci_high, s.p_adjusted, limit)
    if s.verdict == "SLOWER":
        s.failures.append(
            f"{what}: {s.ratio:.2f}x slower (geometric mean, {ci}, p={s.p_adjusted:.2g} after "
            f"Holm, Welch t on {s.passes_base}/{s.passes_head} passes), beyond the "
            f"{threshold_pct:g}% threshold")
    elif s.verdict == "slower?":
        s.warnings.append(
            f"{what}: {s.ratio:.2f}x slower (geometric mean) but not confirmed ({ci}, "
            f"p={s.p_adjusted:.2g}); rerun to check")


def _sort_key(key: Key) -> tuple[str, ...]:
    # None and int fields mixed in one tuple do not order; strings with padded ints do.
    return tuple("" if v is None else f"{v:>12}" if isinstance(v, int) else str(v) for v in key)


# ----------------------------------------------------------------------------- the report

def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e3:.4g}"


def table(c: Comparison) -> pd.DataFrame:
    rows = []
    for r in c.cases:
        m = r.head or r.base
        row: dict[str, Any] = {"case": r.label}
        if c.exact_only:
            row["MACs"] = m.macs_analytic if m and m.macs_analytic is not None else ""
            row["status"] = _statuses(r)
        else:
            t = r.timing
            row.update({
                "base ms": _ms(t.base_median_s) if t else _ms(r.base.latency_s if r.base else None),
                "head ms": _ms(t.head_median_s) if t else _ms(r.head.latency_s if r.head else None),
                "ratio": f"{t.ratio:.3f}" if t else "",
                "95% CI": f"{t.ci_low:.3f}-{t.ci_high:.3f}" if t else "",
                "p (Holm)": (f"{r.p_adjusted:.2g}" if r.p_adjusted is not None
                             else f"({t.p_value:.2g})" if t else ""),
                "passes": f"{t.passes_base}/{t.passes_head}" if t else _passes(r),
                "n": f"{t.n_base}/{t.n_head}" if t else "",
            })
        row["verdict"] = r.verdict
        rows.append(row)
    s = c.suite
    if s is not None:
        rows.append({
            "case": SUITE_LABEL.replace("all timed", f"all {s.cases} timed"), "base ms": "",
            "head ms": "", "ratio": f"{s.ratio:.3f}", "95% CI": f"{s.ci_low:.3f}-{s.ci_high:.3f}",
            "p (Holm)": f"{s.p_adjusted:.2g}" if s.p_adjusted is not None else "",
            "passes": f"{s.passes_base}/{s.passes_head}", "n": "", "verdict": s.verdict,
        })
    return pd.DataFrame(rows)


def _passes(r: CaseResult) -> str:
    b = r.base.processes if r.base else 0
    h = r.head.processes if r.head else 0
    return f"{b}/{h}"


def _statuses(r: CaseResult) -> str:
    b = r.base.status if r.base else "-"
    h = r.head.status if r.head else "-"
    return b if b == h else f"{b} -> {h}"


def format_report(c: Comparison) -> str:
    if c.exact_only:
        what = ["exact metrics only (MACs, FLOPs, analytic bytes, statuses); timings not read"]
    else:
        norm = (", each pass divided by its reference kernel (--normalize)" if c.normalize
                else "")
        limit = f"{1 + c.threshold_pct / 100:.2f}"
        what = [
            f"ratio = median of head pass medians / median of base pass medians{norm}; 95% CI "
            "by a two-level bootstrap (passes, then samples within each pass)",
            f"a case fails when its Holm-corrected one-sided p < {ALPHA:g} (Mann-Whitney on the "
            f"pass medians with {MIN_PASSES}+ passes a side, else on the raw samples) and its CI "
            f"low end > {limit}",
            f"the suite row: one score per pass, its mean log latency over the cases; ratio = "
            f"geometric mean, 95% Welch t interval; fails when its Holm-corrected one-sided Welch "
            f"t p < {ALPHA:g} and its CI low end > {limit} (with {MIN_PASSES}+ passes a side; "
            "else reported, not tested)",
        ]
    lines = [f"a2bench compare: base {c.base_dir}  head {c.head_dir}", *what, *c.notes, ""]
    df = table(c)
    width = int(df["case"].str.len().max())
    lines.append(df.to_string(index=False, justify="left",
                              formatters={"case": lambda s: s.ljust(width)}))
    failures, warnings = c.failures, c.all_warnings
    if warnings:
        lines += ["", f"warnings ({len(warnings)}):", *(f"  warning: {w}" for w in warnings)]
    if failures:
        lines += ["", f"failures ({len(failures)}):", *(f"  FAIL: {f}" for f in failures)]
    verdict = (f"FAIL: {len(failures)} failure(s)" if failures else "PASS: no regression")
    lines += ["", f"a2bench compare: {verdict}"]
    return "\n".join(lines)


def run_compare(base: Path, head: Path, threshold_pct: float = 10.0, normalize: bool = False,
                exact_only: bool = False) -> int:
    """The `a2bench compare` command: print the report; 1 on a regression, else 0."""
    c = compare(base, head, threshold_pct, normalize, exact_only)
    print(format_report(c))
    return c.exit_code
