"""Small statistics shared by measuring and storing. No torch here."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MIN_SAMPLES = 5


def median_ci(samples: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median: the order statistics a Binomial(n,
    1/2) puts `level` between, the interval scipy.stats.quantile_test(samples, p=0.5) gives
    (tests/test_measure.py checks they agree). Computed here rather than by scipy.stats: every
    measuring worker asks for it to stop sampling, and scipy.stats takes 0.5 s to import, a cost
    each worker process paid once per pass."""
    n = len(samples)
    if n < MIN_SAMPLES:
        return (math.nan, math.nan)
    low_index, high_index = _median_ci_ranks(n, level)
    ordered = np.sort(np.asarray(samples, dtype=float))
    low = float(ordered[low_index]) if low_index >= 0 else math.nan
    high = float(ordered[high_index]) if high_index < n else math.nan
    return (low, high)


def _median_ci_ranks(n: int, level: float) -> tuple[int, int]:
    """(ppf(a) - 1, isf(a)) of Binomial(n, 1/2), a = (1 - level) / 2: the 0-based ranks of the
    interval's ends, as scipy's QuantileTestResult.confidence_interval takes them."""
    alpha = (1 - level) / 2
    k = np.arange(n)
    # log C(n, k) by C(n, k + 1) = C(n, k) (n - k) / (k + 1); in logs, as C(n, n/2) overflows a
    # float past n = 1029
    log_c = np.concatenate(([0.0], np.cumsum(np.log(n - k) - np.log(k + 1))))
    cdf = np.cumsum(np.exp(log_c - n * math.log(2)))
    low = int(np.searchsorted(cdf, alpha, side="left")) - 1  # least k with cdf(k) >= a, less 1
    # least k with sf(k) <= a, where sf(k) = cdf(n - k - 1) by symmetry, and sf(n) = 0
    sf = np.concatenate((cdf[-2::-1], [0.0]))
    high = int(np.argmax(sf <= alpha))
    return low, high


def ci_is_tight(samples: Sequence[float], target: float) -> bool:
    low, high = median_ci(samples)
    if not (math.isfinite(low) and math.isfinite(high)):
        return False
    return (high - low) / 2 <= target * float(np.median(samples))


def iqr(samples: Sequence[float]) -> float:
    q1, q3 = np.percentile(samples, [25, 75])
    return float(q3 - q1)


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
