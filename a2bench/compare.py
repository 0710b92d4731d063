"""Gate HEAD results against BASE results: exact metrics must match, timings must not regress.

Two kinds of evidence, two rules:
- Exact metrics (analytic MACs, FLOPs and bytes, and the counters' MACs) are deterministic, so any
  difference is a failure. `--exact-only` checks these (and statuses) and never reads a timing,
  so it cannot flake and can gate every commit.
- Latency is noisy, so a case fails only when it is slower beyond the threshold *with confidence*:
  the one-sided Mann-Whitney U test on the raw samples (head slower) is significant after a Holm
  correction across the cases, AND the lower bound of the bootstrap 95% interval of
  median(head) / median(base) exceeds 1 + threshold. The test alone would flag a 1% shift once
  there are enough samples; the interval alone has no multiplicity control. Requiring both makes
  a false alarm need a shift beyond the threshold, not merely a detectable one.

`--normalize` divides each side's samples by the reference kernel (a fixed matmul) timed in the
same worker right before each case, so a machine that is uniformly slower does not read as a
regression. The divisor is the median reference over the few cases run around that one, so that
a burst of load during one 50 ms reference measurement does not become a regression of its case.
It also divides out most of a change in thread count (the reference uses the same threads), which
is one reason a thread difference is reported as an environment warning.

Pure analysis: pandas, numpy and scipy over the stored results. Never imports torch.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from a2bench.errors import InputError
from a2bench.measurement import Measurement
from a2bench.store import ENVIRONMENT, JSONL, load, load_environment

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
# The reference kernel is one 50 ms measurement per case; a burst of other load during it alone
# would swing that case's normalised ratio by the burst's size (seen on a shared machine: one
# reference 17x the others). The median over the cases run around it keeps drift across the run
# and drops such a burst.
REFERENCE_WINDOW = 5
REFERENCE_NOTE_PCT = 5.0  # say how much slower the machine was when the reference moved this much
REFERENCE_SPREAD = 1.5  # max/min reference time within one run beyond which the run was disturbed


@dataclass(frozen=True)
class Timing:
    """Head against base for one case, from the raw samples."""

    base_median_s: float
    head_median_s: float
    ratio: float  # median(head) / median(base), after normalisation when asked
    ci_low: float
    ci_high: float
    p_value: float  # one-sided Mann-Whitney U, head slower; before correction
    n_base: int
    n_head: int
    normalized: bool


@dataclass
class CaseResult:
    key: tuple[Any, ...]
    label: str
    base: Measurement | None
    head: Measurement | None
    timing: Timing | None = None
    p_adjusted: float | None = None
    verdict: str = ""
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
    warnings: list[str]  # run-level: environments, reference kernel, noisy runs
    notes: list[str]

    @property
    def failures(self) -> list[str]:
        return [f for c in self.cases for f in c.failures]

    @property
    def all_warnings(self) -> list[str]:
        return self.warnings + [w for c in self.cases for w in c.warnings]

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


# ----------------------------------------------------------------------------- loading

def load_side(path: Path, role: str) -> tuple[dict[tuple[Any, ...], Measurement], dict[str, Any]]:
    """The measurements of one results folder by case key, and its environment."""
    if not path.is_dir():
        raise InputError(f"{path}: no such folder (expected the {role} results folder written by "
                         "a2bench run)")
    if not (path / JSONL).is_file():
        raise InputError(f"{path}: no {JSONL} here (expected the {role} results folder written "
                         "by a2bench run)")
    records = load(path)
    if not records:
        raise InputError(f"{path}: {JSONL} holds no results (expected the {role} results of a "
                         "finished a2bench run)")
    # A resumed sweep never stores a key twice; should one appear, the later record wins.
    return {m.case.key(): m for m in records}, load_environment(path)


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
    """One-sided p-value that head's samples are stochastically larger (slower) than base's."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = float(stats.mannwhitneyu(head, base, alternative="greater").pvalue)
    return p if math.isfinite(p) else 1.0  # all samples tied: no evidence of a change


def bootstrap_ratio_ci(base: np.ndarray, head: np.ndarray, seed: int,
                       resamples: int = BOOTSTRAP_RESAMPLES,
                       level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of median(head) / median(base), resampling each side.

    Seeded per case so a report is reproducible and does not depend on the other cases.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, BOOTSTRAP_CHUNK_ELEMENTS // max(base.size, head.size))
    ratios: list[np.ndarray] = []
    done = 0
    while done < resamples:
        k = min(rows, resamples - done)
        b = np.median(rng.choice(base, size=(k, base.size), replace=True), axis=1)
        h = np.median(rng.choice(head, size=(k, head.size), replace=True), axis=1)
        ratios.append(h / b)
        done += k
    all_ratios = np.concatenate(ratios)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(all_ratios, [tail, 100 - tail])
    return float(low), float(high)


def case_seed(key: tuple[Any, ...]) -> int:
    # crc32 rather than hash(): hash() of a str changes between processes.
    return zlib.crc32(repr(key).encode())


def smoothed_references(records: Sequence[Measurement],
                        window: int = REFERENCE_WINDOW) -> dict[tuple[Any, ...], float]:
    """Each case's reference time: the median over the `window` cases run around it.

    `records` must be in the order the cases ran (the order of results.jsonl).
    """
    timed = [(m.case.key(), m.reference_s) for m in records
             if m.reference_s and math.isfinite(m.reference_s) and m.reference_s > 0]
    half = window // 2
    out = {}
    for i, (key, _) in enumerate(timed):
        lo = max(0, min(i - half, len(timed) - window))
        out[key] = float(np.median([r for _, r in timed[lo:lo + window]]))
    return out


def samples_of(m: Measurement, reference_s: float | None = None) -> np.ndarray | None:
    """The raw samples, divided by the reference time when one is given."""
    s = np.asarray(m.samples_s, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    if s.size == 0:
        return None
    return s / reference_s if reference_s else s


def compare_timing(base: Measurement, head: Measurement, normalize: bool, seed: int,
                   base_ref: float | None = None, head_ref: float | None = None) -> Timing | str:
    """The timing comparison, or why none could be made."""
    if normalize and not (base_ref and head_ref):
        return f"no reference kernel time on the {'base' if not base_ref else 'head'} side"
    b = samples_of(base, base_ref if normalize else None)
    h = samples_of(head, head_ref if normalize else None)
    if b is None or h is None:
        return f"no raw samples on the {'base' if b is None else 'head'} side"
    if b.size < MIN_SAMPLES or h.size < MIN_SAMPLES:
        return f"too few samples to test ({b.size} base, {h.size} head; need {MIN_SAMPLES})"
    low, high = bootstrap_ratio_ci(b, h, seed)
    raw_b = np.asarray(base.samples_s, dtype=float)
    raw_h = np.asarray(head.samples_s, dtype=float)
    return Timing(
        base_median_s=float(np.median(raw_b)), head_median_s=float(np.median(raw_h)),
        ratio=float(np.median(h) / np.median(b)), ci_low=low, ci_high=high,
        p_value=mann_whitney_slower(b, h), n_base=int(b.size), n_head=int(h.size),
        normalized=normalize,
    )


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


def reference_spread_warnings(runs: Mapping[str, Sequence[Measurement]]) -> list[str]:
    """A run whose reference kernel times disagree had load that came and went during it.

    Seen on a shared 2-core machine: the same 256x256 matmul took 0.17 ms or 16 ms depending on
    whether another process held a core. Dividing by such a reference adds noise, not removes it.
    """
    out = []
    for side, records in runs.items():
        refs = [m.reference_s for m in records if m.status == "ok" and m.reference_s]
        if len(refs) >= 2 and max(refs) > REFERENCE_SPREAD * min(refs):
            out.append(f"the {side} run's reference kernel ranged {min(refs) * 1e3:.3g}-"
                       f"{max(refs) * 1e3:.3g} ms across its cases: load came and went during "
                       "the run, so its timings (normalised or not) are unreliable")
    return out


# ----------------------------------------------------------------------------- the comparison

def compare(base_dir: Path, head_dir: Path, threshold_pct: float = 10.0, normalize: bool = False,
            exact_only: bool = False) -> Comparison:
    base, base_env = load_side(Path(base_dir), "base")
    head, head_env = load_side(Path(head_dir), "head")
    common = [k for k in base if k in head]
    if not common:
        raise InputError(f"{head_dir}: no case in common with {base_dir} (expected results of "
                         "the same suite, matched by block, device, dtype and shape)")
    limit = 1 + threshold_pct / 100
    base_refs = smoothed_references(list(base.values()))
    head_refs = smoothed_references(list(head.values()))
    results = [_compare_case(key, base.get(key), head.get(key), threshold_pct, normalize,
                             exact_only, base_refs.get(key), head_refs.get(key))
               for key in sorted(set(base) | set(head), key=_sort_key)]

    # Holm over every case that was timed: the gate asks "is any case slower?", so the error
    # rate to control is that of the whole family, however many cases the suite has.
    tested = [r for r in results if r.timing is not None]
    for r, p in zip(tested, holm([r.timing.p_value for r in tested if r.timing]), strict=True):
        r.p_adjusted = p
    for r in tested:
        _judge_timing(r, limit, threshold_pct)

    pairs = [(base[k], head[k]) for k in common]
    warnings = environment_warnings(base_env, head_env, Path(base_dir), Path(head_dir),
                                    exact_only)
    if not exact_only:
        warnings += reference_note(pairs, normalize)
        warnings += reference_spread_warnings({"base": list(base.values()),
                                               "head": list(head.values())})
    notes = [f"{sum(1 for r in results if r.base and r.head)} cases in common, "
             f"{sum(1 for r in results if r.head is None)} only in base, "
             f"{sum(1 for r in results if r.base is None)} only in head"]
    return Comparison(Path(base_dir), Path(head_dir), threshold_pct, normalize, exact_only,
                      results, warnings, notes)


def _compare_case(key: tuple[Any, ...], b: Measurement | None, h: Measurement | None,
                  threshold_pct: float, normalize: bool, exact_only: bool,
                  base_ref: float | None, head_ref: float | None) -> CaseResult:
    """Everything about one case except the timing verdict, which needs all cases' p-values."""
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
    t = compare_timing(b, h, normalize, case_seed(key), base_ref, head_ref)
    if isinstance(t, Timing):
        r.timing = t
    else:
        r.warnings.append(f"{r.label}: timing not compared: {t}")
    return r


def _judge_timing(r: CaseResult, limit: float, threshold_pct: float) -> None:
    t, p = r.timing, r.p_adjusted
    assert t is not None and p is not None
    if p < ALPHA and t.ci_low > limit:
        verdict = "SLOWER"
        r.failures.append(
            f"{r.label}: {t.ratio:.2f}x slower (95% CI {t.ci_low:.2f}-{t.ci_high:.2f}, "
            f"p={p:.2g} after Holm), beyond the {threshold_pct:g}% threshold")
    elif t.ci_high < 1 / limit:
        verdict = "faster"
    elif t.ratio > limit:
        verdict = "slower?"
        r.warnings.append(
            f"{r.label}: median {t.ratio:.2f}x slower but not confirmed (95% CI "
            f"{t.ci_low:.2f}-{t.ci_high:.2f}, p={p:.2g}); rerun to check")
    else:
        verdict = "ok"
    # a case whose exact metrics changed keeps that verdict first, and adds the timing one
    r.verdict = verdict if r.verdict in ("ok", "not timed") else f"{r.verdict}, {verdict}"


def _sort_key(key: tuple[Any, ...]) -> tuple[str, ...]:
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
                "p (Holm)": f"{r.p_adjusted:.2g}" if r.p_adjusted is not None else "",
                "n": f"{t.n_base}/{t.n_head}" if t else "",
            })
        row["verdict"] = r.verdict
        rows.append(row)
    return pd.DataFrame(rows)


def _statuses(r: CaseResult) -> str:
    b = r.base.status if r.base else "-"
    h = r.head.status if r.head else "-"
    return b if b == h else f"{b} -> {h}"


def format_report(c: Comparison) -> str:
    if c.exact_only:
        what = "exact metrics only (MACs, FLOPs, analytic bytes, statuses); timings not read"
    else:
        norm = (", each side divided by its reference kernel (--normalize)" if c.normalize
                else "")
        what = (f"ratio = median(head) / median(base) latency{norm}; fails when Holm-corrected "
                f"one-sided Mann-Whitney p < {ALPHA:g} and the 95% CI low end > "
                f"{1 + c.threshold_pct / 100:.2f}")
    lines = [f"a2bench compare: base {c.base_dir}  head {c.head_dir}", what, *c.notes, ""]
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
