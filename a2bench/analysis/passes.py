"""How much a window's sizes moved from pass to pass, and what a user can do when it is a lot.

Each pass of a sweep runs in a fresh worker process, and a size's latency is the median over its
passes of each pass's low quantile (fitting.summary_of_passes). Where a process moves one size
against the others (a slow spell during some of its sizes), that median moves with it, and no
number of samples within a pass narrows the exponent's interval: only more passes, or a quieter
machine, do. A process that ran slow at every size moves the intercept alone, and is left out.
This reads that movement from the stored samples, as a finding the fits carry (`pass_scatter`)
and the reason an inconclusive latency verdict gives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from a2bench import fitting as ft

# The sd of ln latency from pass to pass, each pass's shift taken out (median over a window's
# sizes), above which an inconclusive latency verdict names it. Set in ce9c436 (2026-12-06),
# when the 90 latency windows of the held-out auto runs of docs/running.md (an Intel Xeon and an
# AMD EPYC VM, results/cpu-auto-heldout) read 0.3-3.3 % and the Emerald Rapids VM whose
# auto-attention runs left double attention inconclusive twice in four 2.3-6.7 %
# (results/cpu-auto-amx), 4.8 % and 3.9 % in those two. Read with the analysis of 2026-12-07
# (c22f3a2; nothing re-measured): 0.3-3.1 % and 2.5-6.8 %; double attention is still
# inconclusive twice in four there, but those two windows moved 3.0 % and 2.5 %, under this (ΔBIC
# 2.1 and 7.6 decide them), and the two inconclusive non-local order windows 6.8 % and 4.2 %,
# whose reasons name it.
NOISY_PASSES = 0.035


def pass_scatter(samples: Sequence[Sequence[Sequence[float]] | None]) -> float:
    """The sd of ln latency from pass to pass that the fit feels: the median over sizes (each
    its passes' raw samples, in pass order) of the sd of ln of each pass's summary, once each
    pass's own shift is taken out; NaN where no size has two passes.

    The shift: a pass times the window's sizes together (interleaved, or one after another in
    one process), so a process that ran slow slows them alike, which moves the fit's intercept
    and not its exponent, and more passes do not narrow what it never widened. Where every
    size has the same passes, each size is centred on its median over passes, and each pass's
    median of those over the sizes is taken out. On a busy Emerald Rapids VM two runs of the
    tutorial's token mixer moved 12 % and 8 % with the shift, 1.9 % and 1.2 % without it; the
    first, resumed to 12 passes, was no narrower: 2.09 [1.98, 2.20] against 2.07 [2.03, 2.12]
    at 3 (results/cpu-your-block-passes, as the fit reads them on 2026-12-07; on 2026-12-06,
    1.7 % and 2.2 %, and 2.07 [1.96, 2.19] against 2.10 [2.01, 2.19]). Where the sizes' passes
    differ, each size's sd stands.

    Medians throughout, as a size's latency is its passes' median: one pass that stalled moves
    neither its size nor its pass's shift (in results/cpu-auto-heldout/auto-frames-2 the
    non-local order's largest size read 2.27 s in one pass, 0.93-0.94 s in the others), where a
    pooled sd read 0.21 for that window and 0.33 for another whose other sizes moved 1-5 %."""
    lows = []
    for passes in samples:
        got = [float(ft.summary_of(np.asarray(p, float))) for p in passes or () if len(p)]
        lows.append([v for v in got if math.isfinite(v) and v > 0])
    counts = {len(v) for v in lows}
    if len(lows) >= 2 and len(counts) == 1 and min(counts) >= 2:
        logs = np.log(np.asarray(lows))  # sizes x passes
        centred = logs - np.median(logs, axis=1, keepdims=True)  # each size about its level
        shifted = centred - np.median(centred, axis=0, keepdims=True)  # less each pass's shift
        return float(np.median(shifted.std(axis=1, ddof=1)))
    sds = [float(np.std(np.log(v), ddof=1)) for v in lows if len(v) >= 2]
    return float(np.median(sds)) if sds else math.nan


def median_passes(samples: Sequence[Sequence[Sequence[float]] | None]) -> int:
    """The window's sizes' usual count of passes (0 where none kept samples)."""
    counts = [len(p) for p in samples if p]
    return int(np.median(counts)) if counts else 0


def noisy_passes_note(scatter: float, passes: int) -> str:
    """What the reason of an inconclusive latency verdict adds where the passes moved a lot: the
    movement, what it leaves each size's median uncertain by (1.25 σ/√passes, a median's
    standard error), and the remedy. Empty where they did not."""
    if not (math.isfinite(scatter) and scatter > NOISY_PASSES and passes >= 2):
        return ""
    return (f"its sizes moved {scatter:.0%} from pass to pass (sd of ln latency, each pass a "
            f"fresh process, less each pass's shift; under {NOISY_PASSES:.1%} on a quiet "
            f"machine), which leaves each size's median of {passes} passes uncertain by about "
            f"{1.25 * scatter / math.sqrt(passes):.0%}: more passes (--processes) or a quieter "
            "machine narrow it")
