"""The exponent on a window: the weighted slope of ln(t − a) on ln x, with Huber weights for
timings, and its interval, the wider of the regression's t interval and a bootstrap of the raw
samples (a2bench.fitting chooses the window and the overhead a; see its docstring for why).

Pure numpy/scipy; never torch, never pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from a2bench.per_size import Sizes, summary_of

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20180521  # fixed: the same results always give the same report


@dataclass(frozen=True)
class Exponent:
    k: float
    intercept: float  # of ln(y − a) on ln x
    t95: tuple[float, float]
    t90: tuple[float, float]
    boot95: tuple[float, float]
    boot90: tuple[float, float]
    ci95: tuple[float, float]  # the wider of t and bootstrap
    ci90: tuple[float, float]
    interval_from: str  # "t" or "bootstrap"
    points: int


def _wls_slope(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted slope of ly on lx; ly may be (resamples, m)."""
    xm = np.sum(w * lx) / np.sum(w)
    xc = lx - xm
    ym = np.sum(w * ly, axis=-1, keepdims=True) / np.sum(w)
    return np.sum(w * xc * (ly - ym), axis=-1) / np.sum(w * xc**2)


def _width(ci: tuple[float, float]) -> float:
    return ci[1] - ci[0] if all(map(math.isfinite, ci)) else -math.inf


HUBER_C = 1.345  # 95 % efficiency under Gaussian residuals


def huber_weights(lx: np.ndarray, ly: np.ndarray, w: np.ndarray,
                  iterations: int = 30) -> np.ndarray:
    """Huber IRLS multipliers of the weights w for the line of ly on lx.

    On a shared machine one size can run slow in every pass (a page placement, a neighbour that
    stayed for the whole case); squared error lets that one size drag the slope and then blame
    the whole fit. Huber's loss keeps squared error for residuals within HUBER_C robust scales
    and grows linearly beyond, so such a size counts for less; the scale is the median absolute
    standardised residual (×1.4826), never below 1: no fit is trusted beyond each size's own
    standard error.
    """
    h = np.ones_like(w)
    for _ in range(iterations):
        k = float(_wls_slope(lx, ly, w * h))
        c = float(np.sum(w * h * (ly - k * lx)) / np.sum(w * h))
        r = (ly - c - k * lx) * np.sqrt(w)
        scale = max(1.4826 * float(np.median(np.abs(r))), 1.0)
        new = np.minimum(1.0, HUBER_C * scale / np.maximum(np.abs(r), 1e-12))
        if np.allclose(new, h, atol=1e-6):
            break
        h = new
    return h


def exponent(sizes: Sizes, overhead: float, *, resamples: int = BOOTSTRAP_RESAMPLES,
             seed: int = BOOTSTRAP_SEED, robust: bool = True) -> Exponent:
    """Slope of ln(y − a) on ln x, weights 1/se², with the wider of two intervals.

    ``robust`` (timings) adds Huber weights; exact counts have no outliers to resist, and
    their residuals are the model's own curvature, which must weigh in full.
    """
    m = len(sizes)
    nan2 = (math.nan, math.nan)
    a = overhead if math.isfinite(overhead) else 0.0
    if m < 3 or np.ptp(np.log(sizes.x)) == 0:
        return Exponent(math.nan, math.nan, nan2, nan2, nan2, nan2, nan2, nan2, "", m)
    lx = np.log(sizes.x)
    net = np.maximum(sizes.y - a, sizes.y * 1e-6)
    ly = np.log(net)
    w = 1 / sizes.log_se**2
    if robust:
        w = w * huber_weights(lx, ly, w)
    k = float(_wls_slope(lx, ly, w))
    xm = np.sum(w * lx) / np.sum(w)
    intercept = float(np.sum(w * ly) / np.sum(w) - k * xm)
    resid = ly - (intercept + k * lx)
    s2 = float(np.sum(w * resid**2) / (m - 2))
    se = math.sqrt(max(s2, 0.0) / np.sum(w * (lx - xm) ** 2))

    def t_ci(level: float) -> tuple[float, float]:
        q = stats.t.ppf(0.5 + level / 2, m - 2)
        return (k - q * se, k + q * se)

    t95, t90 = t_ci(0.95), t_ci(0.90)
    boot95 = boot90 = nan2
    if any(p is not None and sum(map(len, p)) >= 2 for p in sizes.samples):
        rng = np.random.default_rng(seed)
        draws = np.empty((resamples, m))
        for i, passes in enumerate(sizes.samples):
            if passes is None or sum(map(len, passes)) < 2:
                draws[:, i] = sizes.y[i]
                continue
            lows = np.empty((resamples, len(passes)))
            for j, s in enumerate(passes):
                if len(s) < 2:
                    lows[:, j] = summary_of(s)
                    continue
                idx = rng.integers(0, len(s), size=(resamples, len(s)))
                lows[:, j] = summary_of(s[idx], axis=1)
            draws[:, i] = np.median(lows, axis=1)
        slopes = _wls_slope(lx, np.log(np.maximum(draws - a, draws * 1e-6)), w)
        boot95 = tuple(float(q) for q in np.quantile(slopes, [0.025, 0.975]))  # type: ignore
        boot90 = tuple(float(q) for q in np.quantile(slopes, [0.05, 0.95]))  # type: ignore
    use_boot = _width(boot95) > _width(t95)
    ci95 = boot95 if use_boot else t95
    ci90 = boot90 if _width(boot90) > _width(t90) else t90
    return Exponent(k, intercept, t95, t90, boot95, boot90, ci95, ci90,
                    "bootstrap" if use_boot else "t", m)
