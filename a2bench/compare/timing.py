"""The timing statistics: Holm, Mann-Whitney, Welch, the two-level bootstrap, pass scores and the
reference kernel's smoothing. The method and why it is built so is in the package docstring
(a2bench/compare/__init__.py).
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from a2bench.compare.model import (
    ALPHA,
    BOOTSTRAP_CHUNK_ELEMENTS,
    BOOTSTRAP_RESAMPLES,
    CI_LEVEL,
    MIN_PASSES,
    MIN_SAMPLES,
    REFERENCE_WINDOW,
    Key,
    Side,
    SuiteResult,
    Timing,
)
from a2bench.measurement import Measurement


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
    """All timed cases together, or None when none was timed (one alone is its own suite: a
    3x slower single case at 3 passes had passed with no test that could fail it).

    With MIN_PASSES+ passes a side (the passes present, a case missing from one included): a
    Welch t analysis of the per-pass scores (each pass's mean log latency over the cases, see
    pass_scores): ratio = exp(mean head score - mean base
    score), the geometric mean over cases and passes; its t interval and one-sided p. A pass is
    the replicate, and a t interval is honest with 3-5 of them, where a percentile bootstrap
    over so few clusters is too narrow. Otherwise the geometric mean of the case ratios with the
    bootstrap interval (shared pass draws), reported but not tested.
    """
    if not timings:
        return None
    s = SuiteResult(cases=len(timings), ratio=math.nan, ci_low=math.nan, ci_high=math.nan,
                    passes_base=min(t.passes_base for t in timings),
                    passes_head=min(t.passes_head for t in timings))
    # the passes present: a case missing from one pass (a record lost) still joins the other
    # passes' scores, since each case's centre is subtracted (pass_scores); requiring every
    # case at pass level let one lost record turn a 1.5x suite slowdown into "not tested"
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


def case_level(cases: int) -> float:
    """The one-sided confidence level of the lower bound a case's verdict compares with the
    threshold, among `cases` cases in the Holm family. The suite row's bound is its 95% CI's low
    end (ALPHA/2 of error); the cases share the other ALPHA/2 (Bonferroni): 1 - ALPHA/2/cases.
    So where no case is truly slower than the threshold, the chance that any bound exceeds it
    is at most ALPHA, however many cases; one case alone is judged on its 95% CI's low end."""
    return 1 - ALPHA / 2 / max(cases, 1)


def case_bound(t: Timing, level: float) -> float:
    """The case ratio's one-sided lower bound at `level`, from its pass medians: Moses's
    distribution-free bound for a shift, the k-th lowest of the P_h x P_b ratios (head pass
    median / base pass median), k the largest with P(U <= k - 1) <= 1 - level under the exact
    null distribution of the Mann-Whitney count U (rank_count_cdf). Where head's pass medians are
    base's scaled by the true ratio, it exceeds that ratio with chance P(U <= k - 1), exactly, for
    any distribution of pass medians: the same test the case's p comes from, inverted. The
    two-level bootstrap's k-th lowest replicate it replaces was narrow at 5-6 passes: simulated
    at the threshold with 9 cases at 6 passes, case bounds crossed it in 2.7-3.7% of gates
    against their 2.5% share. 0.0 (no bound) where even k = 1 would miss the level, which the
    Holm family's entry rule (family_entry_p) keeps out of the family: there P(U <= 0) =
    1/C(P_b + P_h, P_b) is the case's smallest p."""
    b = np.array(list(t.base_pass_logs.values()), dtype=float)
    h = np.array(list(t.head_pass_logs.values()), dtype=float)
    if not (b.size and h.size):  # a Timing built without its pass medians: its CI's low end
        return t.ci_low
    cdf = rank_count_cdf(b.size, h.size)
    k = int(np.searchsorted(cdf, 1 - level + 1e-12, side="right"))  # P(U <= k-1) <= 1 - level
    if k < 1:
        return 0.0
    diffs = (h[:, None] - b[None, :]).ravel()
    return math.exp(float(np.partition(diffs, k - 1)[k - 1]))


@functools.cache
def _rank_counts(n_base: int, n_head: int) -> tuple[int, ...]:
    """How many of the C(n_base + n_head, n_base) orderings give each Mann-Whitney count
    u = 0 .. n_base * n_head (pairs with the head value above the base value). The largest
    value is either a head value, above all n_base base values, or a base value, above none."""
    if n_base == 0 or n_head == 0:
        return (1,)
    out = [0] * (n_base * n_head + 1)
    for u, c in enumerate(_rank_counts(n_base, n_head - 1)):
        out[u + n_base] += c
    for u, c in enumerate(_rank_counts(n_base - 1, n_head)):
        out[u] += c
    return tuple(out)


@functools.cache
def rank_count_cdf(n_base: int, n_head: int) -> np.ndarray:
    """P(U <= u) for u = 0 .. n_base * n_head, U the Mann-Whitney count, where both sides come
    from one distribution (no ties). Its first value is smallest_rank_p. Cached, so read-only."""
    counts = np.array(_rank_counts(n_base, n_head), dtype=float)
    cdf = np.cumsum(counts) / counts.sum()
    cdf.flags.writeable = False
    return cdf


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


def smallest_p(t: Timing) -> float:
    """The smallest p the case's test can give, from its pass counts alone. A test on the raw
    samples (fewer than MIN_PASSES passes a side) is reported and never tested: 1, out of the
    family, where its pseudo-replicated p (4.9e-08 for a 1.06x case) had taken Holm's first
    ranks and printed as if tested."""
    return smallest_rank_p(t.passes_base, t.passes_head) if t.pass_level else 1.0


def family_entry_p(cases: int) -> float:
    """The p a case's test must be able to go under to enter a Holm family of `cases` cases:
    ALPHA/2/cases, the cases' share of ALPHA (case_level), not ALPHA/cases. Its exact test's
    smallest p, 1/C(2P, P) for P passes a side, is P(U <= 0): under it the case's bound
    (case_bound, the same test inverted) exists at its level; over it, none does. Admitted at
    ALPHA/K, with the two-level bootstrap's bound then used, a case at the threshold had failed
    with up to twice its ALPHA/2/K share (6.4-6.9% false FAILs at 5 passes and 12 cases, 4 and
    3). The same rule covers Holm's K + 1 tests (the suite row too): (K + 1) / C(2P, P) < ALPHA
    where K / C(2P, P) < ALPHA/2 and K >= 1, so an admitted case can be significant before the
    suite row is rejected (13/252 > 0.05 had made 12 cases at 5 passes untestable for a lone
    slow case, while the report said "PASS")."""
    return ALPHA / 2 / max(cases, 1)


def holm_family(timings: Sequence[Timing]) -> list[bool]:
    """Which cases enter the Holm family beside the suite row, from their pass counts alone,
    before any latency is read (any such choice keeps Holm's family-wise error): Tarone's rule
    for a step-down test. The least K for which the cases whose smallest p is under
    family_entry_p(K) = ALPHA/2/K number K or fewer. At 5 passes a side (smallest p 1/252) 6
    cases can fail and 7 cannot; at 6 (1/924), 23; at 4 (1/70), 1. 30 cases at 5 passes had
    stood in a family of 31, where none could and the suite row's p was multiplied by 31."""
    k = family_divisor(timings)
    return [smallest_p(t) < family_entry_p(k) for t in timings]


def family_divisor(timings: Sequence[Timing]) -> int:
    """Tarone's K for holm_family: a case is in the family when its smallest p is under
    family_entry_p(K) = ALPHA/2/K (1 where there is no case)."""
    floors = [smallest_p(t) for t in timings]
    return next((k for k in range(1, len(floors) + 1)
                 if sum(f < family_entry_p(k) for f in floors) <= k), 1)


def passes_for_one_case(cases: int) -> int:
    """The fewest passes a side that let a case fail among `cases` (holm_family): 4 for one
    case, 5 for up to 6, 6 for up to 23, 7 for up to 85."""
    n = MIN_PASSES
    while smallest_rank_p(n, n) >= family_entry_p(cases):
        n += 1
    return n
