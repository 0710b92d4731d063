"""Per-size summaries of timings: a swept size's raw samples, by pass, into one latency and the
standard error of its log (a2bench.fitting fits them; see its docstring for why this shape).

- Timing noise on a shared machine is one-sided (other work only adds time, in waves of seconds),
  so within a pass (one worker) a size's latency is a low order statistic of its samples: the
  expected fastest of 3 (summary_of), one target whatever the count (estimator_bias.py).
- The process is the unit of replication (as in pyperf): one pass's allocation addresses can make
  one size fast for the whole pass, so a size is the median over passes of each pass's value.

Pure numpy; never torch, never pandas.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

SE_FLOOR = 0.01  # per-size log standard error floor: process-to-process drift is ~1 % or more
MIN_OF = 3  # a pass's latency: the expected fastest of this many of its samples (summary_of)
# The quantile a pass's summary sits at, about, for the standard error of a size (the expected
# fastest of 3 lies near the 20th-25th percentile of the samples)
SE_QUANTILE = 0.25
# A sample over this many times its pass's fastest is a stall (calls of 0.53 s read 5-18 s on
# this VM, 2 GiB cases); left in, a resample of a 3-sample pass of stalls read it 30x slow.
STALL_FACTOR = 2.0


Passes = tuple[np.ndarray, ...]  # one size's raw samples, an array per pass (worker process)
# A pass's samples -> its latency, along an axis (summary_of is a2bench's; a study of summaries,
# benchmarks/estimator_bias.py, passes others to summarise, and the bootstrap reads it back here)
Summary = Callable[..., np.ndarray]


def summary_of(samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """One pass's latency: the fastest of MIN_OF samples, its log averaged over every MIN_OF of
    the pass's n samples. The i-th fastest is the fastest of C(n-i, 2) of the C(n, 3) triples,
    so this weighs the sorted samples by that share, the slowest two by none: the same target
    at every n (a pass of 3 reads its minimum), where a quantile moved with n. Fewer than
    MIN_OF samples (stalls dropped): the minimum."""
    a = np.sort(np.asarray(samples, float), axis=axis)
    shape = [1] * a.ndim
    shape[axis] = a.shape[axis]
    low = np.take(a, [0], axis=axis)  # relative to the fastest: equal samples read exactly it
    weights = _min_weights(a.shape[axis]).reshape(shape)
    return np.squeeze(low * np.exp(np.sum(np.log(a / low) * weights, axis=axis, keepdims=True)),
                      axis=axis)


@functools.cache
def _min_weights(n: int) -> np.ndarray:
    """summary_of's weights of n sorted samples: C(n - i, k - 1) / C(n, k), k = min(MIN_OF, n)."""
    k = min(MIN_OF, n)
    return np.array([math.comb(n - i, k - 1) for i in range(1, n + 1)], float) / math.comb(n, k)


@dataclass(frozen=True)
class Sizes:
    """One entry per distinct swept value, sorted by x."""

    x: np.ndarray
    y: np.ndarray  # per size: summary_of_passes of its samples, else the rows' mean
    log_se: np.ndarray  # standard error of ln y (floored at SE_FLOOR)
    samples: tuple[Passes | None, ...]  # raw samples behind y, by pass, where there are any
    summary: Summary = summary_of  # how each pass's samples made y (summarise's summary)

    def __len__(self) -> int:
        return len(self.x)

    def take(self, mask: np.ndarray) -> Sizes:
        idx = np.flatnonzero(mask)
        return Sizes(self.x[idx], self.y[idx], self.log_se[idx],
                     tuple(self.samples[i] for i in idx), self.summary)


def without_stalls(samples: Sequence[float]) -> np.ndarray:
    """A pass's samples as a size's latency reads them: finite, positive, and no stall. The
    figures' points read them so too, or a noisy run's points sat 40-70 % above their fit."""
    a = np.asarray(samples, float)
    a = a[np.isfinite(a) & (a > 0)]
    return a[a <= STALL_FACTOR * a.min()] if len(a) else a


def summary_of_passes(passes: Sequence[Sequence[float]], summary: Summary = summary_of) -> float:
    """A size's latency: the median over passes of each pass's summary (NaN if none)."""
    lows = [float(summary(np.asarray(p, float))) for p in passes if len(p)]
    return float(np.median(lows)) if lows else math.nan


def log_se_of_quantile(samples: np.ndarray, q: float = SE_QUANTILE) -> float:
    """Standard error of ln(q-quantile), distribution-free: the order statistics n·q ± 1.96·
    √(n·q·(1−q)) bound a 95 % interval of the quantile; its log-width over 3.92 is the SE."""
    s = np.sort(np.asarray(samples, float))
    s = s[np.isfinite(s) & (s > 0)]
    n = len(s)
    if n < 2:
        return SE_FLOOR
    half = 1.96 * math.sqrt(n * q * (1 - q))
    lo = int(min(max(math.floor(n * q - half), 0), n - 1))
    hi = int(min(max(math.ceil(n * q + half), 0), n - 1))
    return max((math.log(s[hi]) - math.log(s[lo])) / 3.92, SE_FLOOR)


def summarise(x: Sequence[float], y: Sequence[float],
              samples: Sequence[Sequence[Sequence[float]] | None] | None = None,
              summary: Summary = summary_of,
              log_se: Callable[[np.ndarray], float] = log_se_of_quantile) -> Sizes:
    """Rows -> sizes. ``samples``, per row: its raw samples, one sequence per pass. Rows sharing
    x (h×w and w×h) pool their passes, or their values. ``summary`` (a pass's latency) and
    ``log_se`` (a size's error from its pooled samples) are a2bench's unless a study of them
    gives others; the Sizes carry the summary, so a bootstrap of them resamples as they were
    made."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(xa) & (xa > 0) & np.isfinite(ya) & (ya > 0)
    rows = np.flatnonzero(keep)
    xs = np.unique(xa[rows])
    out_y, out_se, out_s = [], [], []
    unknown = []  # sizes with samples, but too few to read a spread from
    for v in xs:
        idx = rows[xa[rows] == v]
        passes: list[np.ndarray] = []
        for i in idx:
            for p in (samples[i] if samples is not None and samples[i] is not None else ()):
                a = without_stalls(p)
                if len(a):
                    passes.append(a)
        if passes:
            pooled = np.concatenate(passes)
            out_y.append(summary_of_passes(passes, summary))
            out_se.append(log_se(pooled))
            out_s.append(tuple(passes))
            if len(pooled) < 2:
                unknown.append(len(out_se) - 1)
        else:
            out_y.append(float(np.exp(np.log(ya[idx]).mean())))
            out_se.append(SE_FLOOR)
            out_s.append(None)
    se = np.array(out_se, float)
    known = [e for i, e in enumerate(out_se) if out_s[i] is not None and i not in unknown]
    # A size timed once has no spread; the floor would weigh the least known size most of all.
    if unknown and known:
        se[unknown] = max(float(np.median(known)), SE_FLOOR)
    return Sizes(xs, np.array(out_y, float), se, tuple(out_s), summary)
