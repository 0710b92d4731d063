"""The exponent on a window: the weighted slope of ln(t − a) on ln x, with Huber weights for
timings, and its interval, the wider of the regression's t interval and a bootstrap of the raw
samples (a2bench.fitting chooses the window and the overhead a; see its docstring for why).

Pure numpy/scipy; never torch, never pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from a2bench.per_size import Sizes

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


@dataclass(frozen=True)
class FittedOverhead:
    """An overhead a that was fitted, t = a + b·x^k over every size swept (fitting.fit_power),
    where none was timed: its error is the exponent's too, so its interval reads it."""

    sizes: Sizes  # every size the fit read, the window's among them
    a: float
    b: float
    k: float


def _draws(sizes: Sizes, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, sizes) bootstrap replicates of each size's latency: each pass's samples
    resampled, summarised as the pass was, the median over passes; a size without samples
    stays at its value."""
    summary = sizes.summary
    draws = np.empty((resamples, len(sizes)))
    for i, passes in enumerate(sizes.samples):
        if passes is None or sum(map(len, passes)) < 2:
            draws[:, i] = sizes.y[i]
            continue
        lows = np.empty((resamples, len(passes)))
        for j, s in enumerate(passes):
            if len(s) < 2:
                lows[:, j] = summary(s)
                continue
            idx = rng.integers(0, len(s), size=(resamples, len(s)))
            lows[:, j] = summary(s[idx], axis=1)
        draws[:, i] = np.median(lows, axis=1)
    return draws


def _has_samples(sizes: Sizes) -> bool:
    return any(p is not None and sum(map(len, p)) >= 2 for p in sizes.samples)


def _scaled(fit: FittedOverhead) -> tuple[np.ndarray, float, np.ndarray]:
    """u = x / its geometric mean, the scale of y (its median, as fit_power rescales), and the
    fit's parameters there: (a / scale, ln of b's, k)."""
    x, y = fit.sizes.x, fit.sizes.y
    xs, ys = math.exp(float(np.log(x).mean())), float(np.median(y))
    return x / xs, ys, np.array([fit.a / ys, math.log(fit.b * xs**fit.k / ys), fit.k])


def _curve(p: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a + b·u^k (scaled) for parameters p (..., 3), and d ln(it) / d(a, ln b, k)."""
    power = np.exp(p[..., 1:2]) * u ** p[..., 2:3]
    t = p[..., 0:1] + power
    jac = np.stack([1 / t, power / t, power * np.log(u) / t], axis=-1)
    return t, jac


def refit_overhead(fit: FittedOverhead, draws: np.ndarray, iterations: int = 60) -> np.ndarray:
    """a of t = a + b·x^k refitted to each row of ``draws`` (replicates of fit.sizes.y): the
    weighted least squares of fit_power in log space (a ≥ 0, k in [-4, 4]), all rows at once
    by Levenberg-Marquardt started from the fit to the data. A few Newton steps from the
    data's estimate suffice for a bootstrap of an extremum estimator (Davidson & MacKinnon
    1999, Andrews 2002); this one iterates to convergence."""
    u, ys, p0 = _scaled(fit)
    w = 1 / fit.sizes.log_se
    lv = np.log(draws / ys)
    p = np.tile(p0, (len(draws), 1))

    def cost(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t, jac = _curve(p, u)
        r = w * (lv - np.log(t))
        return np.sum(r**2, axis=1), r, w[:, None] * jac

    c, r, jw = cost(p)
    damping = np.full(len(p), 1e-3)
    for _ in range(iterations):
        h = np.einsum("rmi,rmj->rij", jw, jw)
        g = np.einsum("rmi,rm->ri", jw, r)
        held = (p[:, 0] <= 0) & (g[:, 0] <= 0)  # a at its bound and pulled below it
        h[held, 0, :] = h[held, :, 0] = 0.0
        h[held, 0, 0], g[held, 0] = 1.0, 0.0
        diag = np.einsum("rii->ri", h)
        try:
            step = np.linalg.solve(h + (damping[:, None] * diag + 1e-12)[:, :, None] * np.eye(3),
                                   g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular system: keep what the steps so far reached
            break
        trial = p + step
        trial[:, 0] = np.maximum(trial[:, 0], 0.0)
        trial[:, 1] = np.clip(trial[:, 1], -60.0, 60.0)
        trial[:, 2] = np.clip(trial[:, 2], -4.0, 4.0)
        ct, rt, jt = cost(trial)
        better = np.isfinite(ct) & (ct < c)
        # converged: a step that gains next to nothing, or none found at any damping
        done = (better & (c - ct <= 1e-12 * (1 + c))) | (~better & (damping > 1e6))
        p[better], c[better], r[better], jw[better] = trial[better], ct[better], rt[better], \
            jt[better]
        damping = np.where(better, damping * 0.3, damping * 10.0)
        if done.all():
            break
    return p[:, 0] * ys


def overhead_variance(fit: FittedOverhead, at: np.ndarray, c: np.ndarray, a: float) -> float:
    """What the fitted overhead's error adds to the variance of a window's slope Σ c·ln(y − a),
    to first order (the two-step estimator's correction of Murphy & Topel 1985): the slope's
    gradient in every size's ln y, through its own terms and through a (the fit's
    linearisation, weights 1/se², its residual variance), against its own terms alone.
    ``at``: the window's sizes' index in fit.sizes; c: the slope's weights on them. The fit
    must be a curve (finite, b > 0) of 4 sizes or more, as exponent() checks."""
    s = fit.sizes
    m = len(s)
    u, ys, p0 = _scaled(fit)
    t, jac = _curve(p0, u)
    wt = 1 / s.log_se**2
    rss = float(np.sum(wt * (np.log(s.y / ys) - np.log(t)) ** 2))
    s2 = max(rss, 1e-12) / (m - 3)
    da = (np.linalg.pinv(jac.T @ (wt[:, None] * jac)) @ (jac.T * wt))[0]  # d a/ys / d ln y
    y = s.y[at]
    net = np.maximum(y - a, y * 1e-6)
    own = np.zeros(m)
    own[at] = c * y / net
    grad = own - float(np.sum(c * ys / net)) * da
    return s2 * float(np.sum(grad**2 * s.log_se**2) - np.sum(own**2 * s.log_se**2))


def exponent(sizes: Sizes, overhead: float, *, resamples: int = BOOTSTRAP_RESAMPLES,
             seed: int = BOOTSTRAP_SEED, robust: bool = True,
             fitted: FittedOverhead | None = None) -> Exponent:
    """Slope of ln(y − a) on ln x, weights 1/se², with the wider of two intervals.

    ``robust`` (timings) adds Huber weights; exact counts have no outliers to resist, and
    their residuals are the model's own curvature, which must weigh in full.
    ``fitted``: a is fitted.a, fitted on every size swept, not timed; both intervals then
    carry its error: the t interval adds it to first order (overhead_variance), and each
    bootstrap replicate refits a from the replicates of every size (refit_overhead) before it
    reads the window's slope. A timed a is taken as known, as before.
    """
    m = len(sizes)
    nan2 = (math.nan, math.nan)
    a = overhead if math.isfinite(overhead) else 0.0
    if m < 3 or np.ptp(np.log(sizes.x)) == 0:
        return Exponent(math.nan, math.nan, nan2, nan2, nan2, nan2, nan2, nan2, "", m)
    if fitted is not None and not (len(fitted.sizes) > 3 and fitted.b > 0 and all(
            map(math.isfinite, (fitted.a, fitted.b, fitted.k)))):
        fitted = None  # no curve to refit
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
    var = max(s2, 0.0) / np.sum(w * (lx - xm) ** 2)
    at = None if fitted is None else np.searchsorted(fitted.sizes.x, sizes.x)
    if at is not None:
        c = w * (lx - xm) / np.sum(w * (lx - xm) ** 2)  # k = Σ c·ly
        var += max(overhead_variance(fitted, at, c, a), 0.0)
    se = math.sqrt(var)

    def t_ci(level: float) -> tuple[float, float]:
        from scipy import stats  # at the first fit, not with fitting (its docstring)

        q = stats.t.ppf(0.5 + level / 2, m - 2)
        return (k - q * se, k + q * se)

    t95, t90 = t_ci(0.95), t_ci(0.90)
    boot95 = boot90 = nan2
    rng = np.random.default_rng(seed)
    if fitted is not None and at is not None and _has_samples(fitted.sizes):
        every = _draws(fitted.sizes, resamples, rng)
        draws = every[:, at]
        a_each = refit_overhead(fitted, every)[:, None]
        slopes = _wls_slope(lx, np.log(np.maximum(draws - a_each, draws * 1e-6)), w)
    elif _has_samples(sizes):
        draws = _draws(sizes, resamples, rng)
        slopes = _wls_slope(lx, np.log(np.maximum(draws - a, draws * 1e-6)), w)
    else:
        slopes = None
    if slopes is not None:
        boot95 = tuple(float(q) for q in np.quantile(slopes, [0.025, 0.975]))  # type: ignore
        boot90 = tuple(float(q) for q in np.quantile(slopes, [0.05, 0.95]))  # type: ignore
    use_boot = _width(boot95) > _width(t95)
    ci95 = boot95 if use_boot else t95
    ci90 = boot90 if _width(boot90) > _width(t90) else t90
    return Exponent(k, intercept, t95, t90, boot95, boot90, ci95, ci90,
                    "bootstrap" if use_boot else "t", m)
