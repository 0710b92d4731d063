"""Empirical complexity with an overhead term: t = a + b·x^k, data-chosen windows, verdicts.

Pure numpy/scipy on arrays; never torch, never pandas. a2bench.analysis feeds it one swept group
at a time and turns the results into fits.csv rows and findings. A size's samples are summarised
in a2bench.per_size, the exponent on a window and its interval read in a2bench.slope; their
names are importable from here too.

Why this shape (see shared/notes/latency-fitting.md):
- With a fixed per-call cost a, the log-log slope is k·(1 − a/t): an overhead that is half of the
  time halves the exponent. So the overhead is a term of the model, fitted (a ≥ 0) by weighted
  least squares in log space, where timing noise is multiplicative.
- Timing noise on a shared machine is one-sided (other work only adds time, in waves of seconds),
  so within a pass (one worker) a size's latency is a low order statistic of its samples: the
  expected fastest of 3 (summary_of), one target whatever the count (estimator_bias.py).
- The process is the unit of replication (as in pyperf): one pass's allocation addresses can make
  one size fast for the whole pass, so a size is the median over passes of each pass's value.
- The exponent is read only where the overhead is under 5 % of the time and no cache boundary
  lies strictly inside the window; rows on both sides of a boundary are fitted side by side.
- Past the last-level cache the step to memory is not sharp: a streaming block's time per position
  keeps rising until its working set is a few times that cache. So the first sizes past it are
  left out of the window where enough sizes lie beyond (LAST_CACHE_TRANSITION).
- Its interval is the wider of the regression's t interval (which widens with lack of fit) and
  a bootstrap that resamples the raw timing samples within each size's passes (the design and
  the passes stay fixed; resampling 5-10 rows gives degenerate slopes). An overhead fitted, not
  timed, is an estimate: both intervals carry its error (slope.exponent's ``fitted``).
- The verdict also asks the data which class it prefers: ΔBIC between the expected integer
  exponent and its competitor, each with its own overhead term.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from a2bench.formatting import size as size_text
from a2bench.per_size import (  # noqa: F401  (re-exported: callers read them here)
    MIN_OF,
    SE_FLOOR,
    SE_QUANTILE,
    STALL_FACTOR,
    Passes,
    Sizes,
    log_se_of_quantile,
    summarise,
    summary_of,
    summary_of_passes,
    without_stalls,
)
from a2bench.slope import (  # noqa: F401  (re-exported)
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    HUBER_C,
    Exponent,
    FittedOverhead,
    exponent,
    huber_weights,
)

OVERHEAD_SHARE = 0.05  # a row is in the window when the overhead is under this share of t
PAST_ANY_SIZE = 1e12  # a threshold past it is past any sweep (inf; it had read N = 4.11e+70)
MIN_WINDOW = 5  # fewer rows than this: inconclusive (Extra-P's minimum of five points)
SHORT_WINDOW = "window too small"  # the reason's words for it (analysis.hints reads them)
MARGIN = 0.15  # consistent: the 90 % interval inside expected ± MARGIN
BIC_DECISIVE = 10.0  # "very strong" on the Kass & Raftery scale
RSS_FLOOR = 1e-12  # exact counts fit some classes perfectly; keep log(RSS) finite

# Past the last-level cache, sizes whose working set is under this many times it are in the step
# to memory (DRAM, or a GPU's HBM). On an AMD EPYC's 32 MiB L3 (cpu-global-context-aliasing), ns
# a position at c 256: SE 46-49 up to 0.7x the L3, 64-82 at 1-2.9x, 92-101 at 4-64x; GC 71-79,
# 96-132, 137-142: from the cache SE read N^1.09, GC N^1.05; from 4x, N^0.98 and N^1.00 (read on
# 2026-12-07). The planner keeps this distance too (run.plan.regime_of); a GPU's L2, unmeasured.
LAST_CACHE_TRANSITION = 4.0
GRADUAL = "the step to memory is gradual"

VERDICTS = ("consistent", "contradicted", "inconclusive")


# ---------------------------------------------------------------------------------------------
# t = a + b·x^k


@dataclass(frozen=True)
class PowerFit:
    a: float  # overhead, in y's unit
    a_low: float  # 95 % interval of a (t-based, from the Jacobian)
    a_high: float
    b: float
    k: float
    rss: float  # weighted residual sum of squares in log space
    points: int
    params: int  # free parameters

    def overhead_below(self, share: float, overhead: float | None = None) -> float:
        """x above which `overhead` (a, or a timed one) is under `share` of t = a + b x^k."""
        o = self.a if overhead is None else overhead
        if not (math.isfinite(o + self.a + self.b) and self.k > 0 and self.b > 0):
            return math.nan
        if o <= 0 or o / share <= self.a:  # under `share` at every x
            return 0.0
        log_x = (math.log(o / share - self.a) - math.log(self.b)) / self.k
        return math.exp(log_x) if log_x < math.log(PAST_ANY_SIZE) else math.inf

    def bic(self) -> float:
        m = self.points
        return m * math.log(max(self.rss / m, RSS_FLOOR)) + self.params * math.log(m)


NAN_FIT = PowerFit(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0)


def fit_power(x: np.ndarray, y: np.ndarray, log_se: np.ndarray | None = None,
              k: float | None = None) -> PowerFit:
    """Fit ln y = ln(a + b·x^k) + ε, weights 1/se², a ≥ 0, b ≥ 0; k free in [-4, 4] or fixed.

    x and y are rescaled to O(1) before fitting so one tolerance suits seconds and bytes alike.
    """
    # scipy loads at the first fit, not with this module: the planner reads its constants
    # (run.plan), and a sweep refused before its first case had paid for scipy (about 1 s)
    from scipy import optimize, stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    m = len(x)
    free_k = k is None
    params = 3 if free_k else (1 if k == 0 else 2)
    if m < params + 1 or np.ptp(np.log(x)) == 0:
        return NAN_FIT
    w = 1 / np.asarray(log_se if log_se is not None else np.full(m, SE_FLOOR), float)
    xs, ys = math.exp(np.log(x).mean()), float(np.median(y))
    u, v = x / xs, y / ys
    lu, lv = np.log(u), np.log(v)

    def model(p: np.ndarray) -> np.ndarray:
        a, lb = p[0], p[1]
        kk = p[2] if free_k else k
        return a + np.exp(lb) * u**kk

    def resid(p: np.ndarray) -> np.ndarray:
        return w * (lv - np.log(np.maximum(model(p), 1e-300)))

    slope = float(np.polyfit(lu, lv, 1)[0]) if free_k else float(k)
    slope = min(max(slope, -3.9), 3.9)
    best = None
    for a0 in (0.0, 0.3 * v.min(), 0.8 * v.min()):
        kk = slope if free_k else k
        rest = np.maximum(v - a0, 1e-6 * v.max())
        lb0 = float(np.mean(np.log(rest) - kk * lu)) if kk else float(np.log(rest.mean()))
        p0 = [a0, lb0, slope] if free_k else [a0, lb0]
        lo = [0.0, -60.0, -4.0] if free_k else [0.0, -60.0]
        hi = [np.inf, 60.0, 4.0] if free_k else [np.inf, 60.0]
        try:
            r = optimize.least_squares(resid, p0, bounds=(lo, hi), x_scale="jac", max_nfev=2000)
        except (ValueError, FloatingPointError):
            continue
        if best is None or r.cost < best.cost:
            best = r
    if best is None:
        return NAN_FIT
    p = best.x
    rss = float(np.sum(best.fun**2))
    a, b = float(p[0]) * ys, float(math.exp(p[1])) * ys / xs ** (p[2] if free_k else k)
    kk = float(p[2]) if free_k else float(k)
    if k == 0:  # a and b are one constant: call it all overhead-free level
        a, b = 0.0, a + b
    a_low = a_high = math.nan
    dof = m - params
    if dof > 0 and k != 0:
        try:
            jac = best.jac
            cov = np.linalg.pinv(jac.T @ jac) * max(rss, RSS_FLOOR) / dof
            se = math.sqrt(max(cov[0, 0], 0.0)) * ys
            q = stats.t.ppf(0.975, dof)
            a_low, a_high = max(a - q * se, 0.0), a + q * se
        except np.linalg.LinAlgError:
            pass
    return PowerFit(a, a_low, a_high, b, kk, rss, m, params)


# ---------------------------------------------------------------------------------------------
# The window


@dataclass(frozen=True)
class Boundary:
    """Where a tensor of the cost model outgrows a cache between two swept values."""

    cache: str
    cache_bytes: float
    x_from: float  # last swept value below the cache size
    x_to: float  # first swept value above it
    bytes_from: float
    bytes_to: float


def boundaries(x: np.ndarray, working_set: np.ndarray, caches: dict[str, float]) -> list[Boundary]:
    """Every cache whose size the working set passes between two consecutive swept values."""
    x, ws = np.asarray(x, float), np.asarray(working_set, float)
    out = []
    for name, size in sorted(caches.items(), key=lambda kv: kv[1]):
        if not (size and math.isfinite(size)):
            continue
        for i in range(len(x) - 1):
            lo, hi = ws[i], ws[i + 1]
            if math.isfinite(lo) and math.isfinite(hi) and min(lo, hi) <= size < max(lo, hi):
                out.append(Boundary(name, float(size), float(x[i]), float(x[i + 1]),
                                    float(lo), float(hi)))
    return sorted(out, key=lambda b: (b.x_from, b.cache_bytes))


@dataclass(frozen=True)
class Window:
    mask: np.ndarray  # over the sizes
    segment: int  # 0 for the window the verdict uses
    note: str  # why these rows, in words


def _sizes(n: int) -> str:
    return f"{n} size" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Transition:
    """The rows in the step to memory: past the last-level cache (named) by less than
    LAST_CACHE_TRANSITION times it."""

    rows: np.ndarray
    cache: str


def transition(working_set: np.ndarray, caches: dict[str, float]) -> Transition:
    ws = np.asarray(working_set, float)
    sized = {k: v for k, v in caches.items() if v and math.isfinite(v)}
    if not sized:
        return Transition(np.zeros(len(ws), bool), "")
    name = max(sized, key=sized.__getitem__)
    last = sized[name]
    with np.errstate(invalid="ignore"):  # past it as boundaries() says
        return Transition((ws > last) & (ws < last * LAST_CACHE_TRANSITION), name)


def windows(x: np.ndarray, y: np.ndarray, overhead: float, bounds: Sequence[Boundary],
            step: Transition | None = None) -> list[Window]:
    """Overhead under OVERHEAD_SHARE, split at every cache boundary; the main one first.

    The rows of `step` (the step to memory) are left out of their side when at least
    MIN_WINDOW rows of it lie beyond; with fewer, they stay, and a window a verdict could
    rest on says so.
    The main window is the side with the most rows (ties: the larger sizes, where the leading
    term dominates most).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    quiet = (overhead / y < OVERHEAD_SHARE) if math.isfinite(overhead) else np.ones(len(x), bool)
    moving = np.zeros(len(x), bool) if step is None else np.asarray(step.rows, bool)
    cuts = sorted({b.x_to for b in bounds})
    side = np.searchsorted(np.array(cuts), x, side="right") if cuts else np.zeros(len(x), int)
    band = f"{LAST_CACHE_TRANSITION:g}x {step.cache if step else ''}"
    found = []
    for s in np.unique(side):
        mask, extra = quiet & (side == s), ""
        if (n := int((mask & moving).sum())):
            steady = mask & ~moving
            if steady.sum() >= MIN_WINDOW:
                mask, extra = steady, f"; {_sizes(n)} within {band} left out ({GRADUAL})"
            elif mask.sum() >= MIN_WINDOW:  # a verdict rests on them: say so
                extra = f"; {_sizes(n)} within {band} kept ({GRADUAL}; too few beyond)"
        if mask.any():
            found.append((int(mask.sum()), float(x[mask].max()), mask, extra))
    if not found:
        return [Window(np.zeros(len(x), bool), 0, "no size has the overhead under "
                                                   f"{OVERHEAD_SHARE:.0%} of the time")]
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    out = []
    for i, (_, _, mask, extra) in enumerate(found):
        lo, hi = x[mask].min(), x[mask].max()
        inside = [b.cache for b in bounds if lo < b.x_to and b.x_from < hi]
        below = [b.cache for b in bounds if b.x_to <= lo]
        above = [b.cache for b in bounds if b.x_from >= hi]
        where = ("past " + ", ".join(dict.fromkeys(below)) if below else "") + \
                (" and " if below and above else "") + \
                ("within " + ", ".join(dict.fromkeys(above)) if above else "")
        assert not inside  # a window never straddles a boundary
        note = (f"{_sizes(int(mask.sum()))} {size_text(lo)}"
                + ("" if lo == hi else f"–{size_text(hi)}") + " with the overhead under "
                f"{OVERHEAD_SHARE:.0%}" + (f"; {where}" if where else "; no cache boundary"))
        out.append(Window(mask, i, note + extra))
    return out


# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Which class, and the verdict


NO_CLASS = -99
# Criss-cross attention grows as N·(h + w), N^1.5 on square maps: the class between linear and
# quadratic, which a fit must tell from both. A model exponent within BAND of 1.5 is in it.
MIDDLE_CLASS = 1.5
MIDDLE_BAND = 0.25


def classes(expected: float) -> tuple[float, float]:
    """(expected class, the competing one): 1 against 2, 2 against 1, 0 against 1; 1.5 against
    1 (class_evidence picks the harder of 1 and 2); otherwise the neighbour towards 1 (SE's MACs
    fall as 1/r along its reduction r)."""
    if not math.isfinite(expected):
        return (NO_CLASS, NO_CLASS)
    if abs(expected - MIDDLE_CLASS) < MIDDLE_BAND:
        return (MIDDLE_CLASS, 1)
    k0 = int(min(max(round(expected), -3), 3))
    if k0 == 1:
        return (1, 2)
    return (k0, k0 + 1 if k0 < 1 else k0 - 1)


def class_evidence(sizes: Sizes, expected: float, model: np.ndarray | None = None
                   ) -> tuple[float, float, float]:
    """(expected class, competitor, ΔBIC) for a window. The middle class must beat both of its
    neighbours, so its competitor is whichever of 1 and 2 comes closer (the smaller ΔBIC).

    With ``model`` (the cost model's value at each size) the evidence is for the model's own
    curve, t = a + b·model, against the competing class: a block whose lower-order terms still
    weigh (criss-cross at c = 96 grows as N^1.3 where its leading term is N^1.5) follows its
    model, and no pure power of either class. Without it, the pure expected class competes."""
    k0, k1 = classes(expected)
    if k0 != MIDDLE_CLASS:
        return k0, k1, delta_bic(sizes, k0, k1, model)
    against = {k: delta_bic(sizes, k0, k, model) for k in (1, 2)}
    finite = {k: v for k, v in against.items() if math.isfinite(v)}
    if not finite:
        return k0, k1, math.nan
    worst = min(finite, key=finite.__getitem__)
    return k0, worst, finite[worst]


def delta_bic(sizes: Sizes, expected_class: float, competitor: float,
              model: np.ndarray | None = None) -> float:
    """BIC(competitor) − BIC(expected), each t = a + b·x^k with its own a: > 0 favours expected.
    With ``model`` the expected side is t = a + b·model (the same two parameters)."""
    if expected_class == NO_CLASS or len(sizes) < 3:
        return math.nan
    shaped = model is not None and len(model) == len(sizes) and bool(
        np.all(np.isfinite(model)) and np.all(np.asarray(model) > 0))
    f0 = (fit_power(np.asarray(model, float), sizes.y, sizes.log_se, k=1) if shaped
          else fit_power(sizes.x, sizes.y, sizes.log_se, k=expected_class))
    f1 = fit_power(sizes.x, sizes.y, sizes.log_se, k=competitor)
    if not (math.isfinite(f0.rss) and math.isfinite(f1.rss)):
        return math.nan
    return f1.bic() - f0.bic()


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str


def decide(expected: float, ci90: tuple[float, float], dbic: float, points: int,
           competitor: float, *, margin: float = MARGIN, decisive: float = BIC_DECISIVE,
           window_note: str = "", need_bic: bool = True,
           expected_class: float | None = None) -> Verdict:
    """consistent / contradicted / inconclusive, with the reason.

    ``expected_class``: the class of the model's own growth (classes() of its a + b·x^k fit),
    where the caller has it; only a class-0 (constant) model skips ΔBIC. Without it the class is
    read off ``expected``, the model's log-log slope over the window, which falls under 0.5 for
    a class-1 model whose constant terms still weigh (latency along m or n).

    ``need_bic`` is off for exact metrics (MACs, and memory, which the cost model lists term by
    term): their mixed linear and quadratic terms fit neither pure class, so only the interval
    against the model's own exponent decides; ΔBIC is still reported.
    """
    if points < MIN_WINDOW:
        short = f"{SHORT_WINDOW}: {_sizes(points)}, need {MIN_WINDOW}"
        return Verdict("inconclusive", f"{short} ({window_note})" if window_note else short)
    if not all(map(math.isfinite, (expected, *ci90))):
        return Verdict("inconclusive", "no exponent or no model value to compare")
    lo, hi = expected - margin, expected + margin
    inside = lo <= ci90[0] and ci90[1] <= hi
    outside = ci90[1] < lo or ci90[0] > hi
    span = f"90% interval [{ci90[0]:.2f}, {ci90[1]:.2f}]"
    band = f"expected {expected:.2f} ± {margin:.2f}"
    bic = f"ΔBIC {dbic:+.1f}" if math.isfinite(dbic) else "ΔBIC n/a"
    if outside:
        return Verdict("contradicted", f"{span} lies outside {band}")
    if need_bic and math.isfinite(dbic) and dbic < -decisive:
        return Verdict("contradicted", f"{bic} favours exponent {competitor:g}")
    if inside and not need_bic:
        return Verdict("consistent", f"{span} inside {band}; an exact metric, decided by the "
                                     f"interval ({bic} against exponent {competitor:g})")
    constant = (expected_class == 0 if expected_class is not None
                else round(expected) == 0)
    if inside and constant:
        # A constant is nested in a + b·x (b = 0), so BIC cannot favour it by more than ln m:
        # the interval alone decides.
        return Verdict("consistent", f"{span} inside {band}; a constant cost, decided by the "
                                     "interval alone")
    if inside and math.isfinite(dbic) and dbic > decisive:
        return Verdict("consistent", f"{span} inside {band}; {bic} against exponent "
                                     f"{competitor:g}")
    reasons = []
    if not inside:  # to 3 decimals: at 2, 1.696 against a band from 1.703 reads as inside
        reasons.append(f"90% interval [{ci90[0]:.3f}, {ci90[1]:.3f}] not inside {band} = "
                       f"[{lo:.3f}, {hi:.3f}]")
    if not (math.isfinite(dbic) and dbic > decisive):
        reasons.append(f"{bic} against exponent {competitor:g}, not above {decisive:g}")
    return Verdict("inconclusive", "; ".join(reasons))
