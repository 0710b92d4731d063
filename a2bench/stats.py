"""Small statistics shared by measuring and storing. No torch here."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MIN_SAMPLES = 5


def median_ci(samples: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (order statistics of a binomial)."""
    if len(samples) < MIN_SAMPLES:
        return (math.nan, math.nan)
    # Imported here: scipy.stats takes 0.65 s to import, and every measuring worker process
    # imports this module (finite_or_none) whether or not its timing asks for a CI.
    from scipy import stats

    result = stats.quantile_test(np.asarray(samples), q=float(np.median(samples)), p=0.5)
    low, high = result.confidence_interval(confidence_level=level)
    return (float(low), float(high))


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
