"""What a window of sizes promises before it runs: the 95 % half-width of its latency exponent,
and the evidence (ΔBIC) its fit would give the model's class over the competing one.

A latency verdict needs both (fitting.decide): the interval inside the model's band, and ΔBIC
above fitting.BIC_DECISIVE. Extra passes narrow the interval; they do little for ΔBIC, whose
noise is each size's scatter about the model's curve (a kernel runs some sizes a few per cent
faster than their neighbours whatever the repeats). Only a wider span, or more sizes, raise it
(or, on a noisy machine, more passes: Noise).
Pure functions over predicted times; the planner (plan.choose) asks them of each window
(predicted_half_width, predicted_bic). The
narrowing rounds ask `not_narrowed` whether a pass still narrowed an interval as noise would.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from a2bench import fitting as ft
from a2bench.run import walltime as wt

if TYPE_CHECKING:
    from a2bench.run.plan import Machine, Point

SE_FLOOR = ft.SE_FLOOR  # a size's log error never counts below 1 %
# A size's log error in the latency fit, for the half-width: its timed calls' noise (CALL_NOISE
# per √call) and its scatter about the model's curve (HALF_WIDTH_SCATTER) together, as fitted
# (benchmarks/promise_check.py) to the first-round half-widths of the 90 windows of
# results/cpu-auto-heldout: measured/promised a median 1.01, 80 % within 0.48-1.88x (as the fits
# read on 2026-12-06; on 2026-12-07 these constants give a median 0.95, 0.47-1.91x, and the best
# fit is 0.029 and 0.016, a median 0.99). The
# scatter sets it: a size's summary, the median over its passes of each pass's low summary,
# is steady to about 1 % over its 9-30 calls, while the kernels run some sizes faster than
# their neighbours whatever the repeats. The promise had left the scatter out (a call noise of
# 0.10, floored at 1 %): windows of many calls were promised half their width (double attention
# at 10 sizes: ±0.013-0.018 promised, ±0.019-0.027 measured), and the log ratio's rms was 0.64
# against 0.56.
CALL_NOISE = 0.026
HALF_WIDTH_SCATTER = 0.017
# Each size's scatter about the model's curve (rms of ln t about t = a + b·model), for ΔBIC. Over
# the held-out auto runs of docs/running.md (this repository's 2-core VM): 0.005-0.04 where the
# verdict held, a median of about 0.02; criss-cross at b 2, c 64 (0.017-0.019) got ΔBIC 12.1
# and 9.8 where this scatter predicts 10.5. Above HALF_WIDTH_SCATTER since ΔBIC's fits weigh
# every size in full, where the exponent's Huber weights count a size far off its neighbours
# for less (fitting.huber_weights).
SIZE_SCATTER = 0.025
# ΔBIC a window is planned for: a margin above fitting.BIC_DECISIVE, since the measured ΔBIC of
# those runs' 81 windows came out a median 1.0x the prediction, 80 % within 0.4-1.7x (the
# scatter differs from window to window).
PLANNED_BIC = 15.0
# The machine's own noise, where a loaded machine has more than the quiet constants hold: the
# pilot times a few of its sizes twice (autosize.run_pilot), seconds apart, and the spread of
# ln t between the two timings of a size is each timing's noise (Noise). On this repository's
# VM under load 3.4-5.9 (2 cores), four held-out auto runs each planned a window enough and
# came out inconclusive: sizes moved 7-16 % from pass to pass, against under 3.5 % quiet. A
# size's summary is the median of its passes' values, so that noise reaches a window's fit as
# each size's scatter about the model's curve, less by the median's gain over the passes
# (median_factor), and it adds nothing per call: the planned scatters are the quiet ones or
# that, whichever is larger (the quiet constants were fitted to held-out runs: the floor).
# Pilot sizes per block variant timed a second time. Two gave 0.022 on a run under load 8 whose
# sizes then scattered 0.045 about each pass's level (a spread from 2 pairs is known to within
# 0.2-1.7x at 90 %): each repeat costs a pilot timing of a call under 0.1 s, a second or so.
PILOT_REPEATS = 4


def median_factor(passes: int) -> float:
    """The error of a median of `passes` values over one value's, for normal noise: exact for
    1 and 2 (a mean), the large-sample sqrt(π / 2n) from 3 on (0.72 at 3, where the exact is
    0.67: on the side of a wider promise)."""
    n = max(int(passes), 1)
    return 1 / math.sqrt(n) if n <= 2 else math.sqrt(math.pi / (2 * n))


def log_ratios(pairs: Sequence[tuple[float, float]]) -> tuple[float, ...]:
    """ln(t2 / t1) of each pair of timings of one size with both timings usable."""
    return tuple(math.log(b / a) for a, b in pairs
                 if a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b))


def repeat_spread(pairs: Sequence[tuple[float, float]]) -> float:
    """One timing's noise in ln t from pairs of timings of the same size: the median of
    |ln(t2 / t1)|, over 0.6745 (a normal's sd from it) and over √2 (a difference holds two
    timings' noise); NaN without a usable pair. A median, as a size's latency is its passes'
    median: one timing that stalled moves neither (with an rms, one pair of the 4-8 a plan
    has set the noise; three runs under load 8-11 read 0.022, 0.25 and 0.29 by rms where the
    passes then moved 0.053, 0.16 and 0.055 about their shift, analysis.passes.pass_scatter).
    From CENTRED_FROM pairs on, about their median ratio, as pass_scatter reads each pass about
    its shift: a second timing faster at every size (a warmer process, load that fell: -0.21,
    -0.005 and -0.09 in one run) is a level every size shares, which moves no exponent."""
    d = np.asarray(log_ratios(pairs))
    if not len(d):
        return math.nan
    if len(d) < CENTRED_FROM:
        return float(np.median(np.abs(d))) / (0.6745 * math.sqrt(2))
    centre = float(np.median(d))
    return mad_factor(len(d)) * float(np.median(np.abs(d - centre))) / (0.6745 * math.sqrt(2))


CENTRED_FROM = 3  # fewer pairs cannot tell a shift from noise: one pair about itself reads 0


def mad_factor(n: int) -> float:
    """The small-sample factor of a median absolute deviation about the sample's own median
    (Croux and Rousseeuw 1992, b_n), which reads a normal's sd low with few values: its own
    median lies at the middle value, so one deviation (two of four) is all but nil. Without
    it 4 pairs read 0.74x the noise on average and 3 pairs 0.67x (seeded normal noise; the
    uncentred median, about a known 0, reads 1.0x at the median), so a machine 1.4x over the
    quiet scatter read as quiet."""
    small = {2: 1.196, 3: 1.495, 4: 1.363, 5: 1.206, 6: 1.200, 7: 1.140, 8: 1.129, 9: 1.107}
    return small.get(n, n / (n - 0.8) if n > 9 else 1.0)


@dataclass(frozen=True)
class Noise:
    """What the pilot measured of the machine's noise, and the scatters a plan takes from it."""

    spread: float  # one timing's noise in ln t (repeat_spread); NaN: none measured
    repeats: int  # the pairs of timings it rests on
    passes: int  # the passes a size's median is taken over
    ratios: tuple[float, ...] = ()  # each pair's ln(t2 / t1), kept in the plan's record

    @property
    def moved(self) -> float:
        """The scatter this noise leaves a size's median over its passes (0 where unmeasured)."""
        return self.spread * median_factor(self.passes) if math.isfinite(self.spread) else 0.0

    @property
    def half_width_scatter(self) -> float:
        return max(HALF_WIDTH_SCATTER, self.moved)

    @property
    def size_scatter(self) -> float:
        return max(SIZE_SCATTER, self.moved)

    @property
    def noisy(self) -> bool:
        """Planned for more scatter than the quiet constants (the half-width's, the lower)."""
        return self.moved > HALF_WIDTH_SCATTER

    def passes_for_quiet(self, most: int = 50) -> int | None:
        """The least passes whose median leaves no more than the quiet scatter (None: over
        `most`, or nothing measured)."""
        if not self.noisy:
            return self.passes
        return next((n for n in range(self.passes, most + 1)
                     if self.spread * median_factor(n) <= SIZE_SCATTER), None)

    def to_dict(self) -> dict[str, Any]:
        return {"repeat_spread": self.spread if math.isfinite(self.spread) else None,
                "repeats": self.repeats, "log_ratios": list(self.ratios),
                "passes": self.passes,
                "half_width_scatter": self.half_width_scatter,
                "size_scatter": self.size_scatter,
                "quiet_half_width_scatter": HALF_WIDTH_SCATTER,
                "quiet_size_scatter": SIZE_SCATTER, "noisy": self.noisy}


QUIET = Noise(math.nan, 0, 1)  # no measurement: the quiet constants


# A narrowing pass that took less than this share off a block's half-width is its last: noise
# narrows by more (a 4th pass about 13 %, an 11th about 5 %), curvature by less (the non-local
# order's window across a transition: 0.223, 0.216, 0.216, 0.214 ... 0.206 over 9 passes).
MIN_NARROWING = 0.03


def decisive(bic: float) -> bool:
    """A promised ΔBIC the plan counts on (NaN, where there is no class to test, is not)."""
    return bic >= PLANNED_BIC


def half_width(positions: Sequence[float], calls: Sequence[float],
               call_noise: float = CALL_NOISE, scatter: float = HALF_WIDTH_SCATTER) -> float:
    """The 95 % half-width a fit would likely give: a weighted slope's error in log-log, each
    size's error its timed calls' noise (call_noise per √call) and the sizes' scatter about the
    model's curve together (as the fit's t interval widens with its residuals), floored at the
    fit's 1 %; the t quantile of a fit of a line to these sizes (n - 2 degrees of freedom, as
    fitting.exponent takes it: a denser window of 10 sizes takes 2.306 where 6 take 2.776)."""
    if len(positions) < 3:
        return math.inf
    x = np.log(np.asarray(positions, float))
    se = np.maximum(SE_FLOOR, np.hypot(call_noise / np.sqrt(np.asarray(calls, float)), scatter))
    w = 1 / se**2
    spread = float(np.sum(w * (x - np.sum(w * x) / np.sum(w)) ** 2))
    return _t_975(len(positions) - 2) / math.sqrt(spread) if spread > 0 else math.inf


@functools.cache
def _t_975(dof: int) -> float:
    """Cached: the planner asks it of a few hundred windows a plan, of a few sizes each. scipy
    loads here, not with the planner: a sweep refused before its first case had loaded it."""
    from scipy import stats

    return float(stats.t.ppf(0.975, dof))


def delta_bic(positions: Sequence[float], work: Sequence[float], seconds: Sequence[float],
              scatter: float = SIZE_SCATTER) -> float:
    """The ΔBIC a fit would likely give the model's class over its competitor at these sizes.

    The predicted times follow the model's curve (t = overhead + work/rate), so the model's own
    fit (fitting.delta_bic's t = a + b·model) leaves only the sizes' scatter: about (m − 2)·s²
    of log residual. The competitor (t = a + b·N^k) adds its misfit M to the curve. With the
    BIC of fitting.PowerFit (m·ln(RSS/m), the same two parameters), ΔBIC ≈ m·ln(1 + M/((m−2)s²)).
    The class is read as the analysis reads it (fitting.classes of the model's own exponent);
    the middle class must beat both 1 and 2, so the smaller of the two counts. A constant cost
    needs no ΔBIC (the interval alone decides it): inf."""
    x = np.asarray(positions, float)
    m = len(x)
    if m < 4 or np.ptp(np.log(x)) == 0:
        return math.nan
    k0, k1 = ft.classes(ft.fit_power(x, np.asarray(work, float)).k)
    if k0 == ft.NO_CLASS:
        return math.nan
    if round(k0) == 0:
        return math.inf
    t = np.asarray(seconds, float)
    worst = math.inf
    for k in ((1, 2) if k0 == ft.MIDDLE_CLASS else (k1,)):
        fit = ft.fit_power(x, t, k=k)
        if not math.isfinite(fit.rss):
            return math.nan
        misfit = fit.rss * SE_FLOOR**2  # fit_power weighs every size 1/SE_FLOOR here
        worst = min(worst, m * math.log1p(misfit / ((m - 2) * scatter**2)))
    return worst


@functools.lru_cache(maxsize=4096)
def cached_delta_bic(positions: tuple[float, ...], work: tuple[float, ...],
                     seconds: tuple[float, ...], scatter: float = SIZE_SCATTER) -> float:
    """delta_bic over tuples, cached (the planner asks it of the same windows many times)."""
    return delta_bic(positions, work, seconds, scatter)


def not_narrowed(widths: Mapping[str, float], before: Mapping[str, float]) -> list[str]:
    """The blocks whose last narrowing pass took less than MIN_NARROWING off their 95 %
    half-width (`before`: each block's width before that pass, where it had one)."""
    return [b for b, w in widths.items()
            if b in before and not w < before[b] * (1 - MIN_NARROWING)]


def predicted_half_width(sizes: Sequence[Point], predict: Callable[[Point], float],
                         machine: Machine) -> float:
    """The 95 % half-width these sizes promise (half_width), each size's timed calls
    as a pass gives them (walltime.timed_calls), at the scatter the machine's measured noise
    leaves (Noise.half_width_scatter; the quiet constant where none was measured)."""
    return half_width([p.positions for p in sizes],
                      wt.timed_calls([predict(p) for p in sizes], machine),
                      scatter=machine.noise.half_width_scatter)


def predicted_bic(sizes: Sequence[Point], predict: Callable[[Point], float],
                  machine: Machine | None = None) -> float:
    """The ΔBIC these sizes promise the model's class over its competitor (delta_bic), at the
    scatter the machine's measured noise leaves (Noise.size_scatter; quiet without a machine).
    Cached: sharing the first round plans each group a few hundred times, over few windows."""
    scatter = machine.noise.size_scatter if machine is not None else SIZE_SCATTER
    return cached_delta_bic(tuple(p.positions for p in sizes), tuple(p.flops for p in sizes),
                            tuple(predict(p) for p in sizes), scatter)
