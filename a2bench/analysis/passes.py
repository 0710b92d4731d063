"""How much a window's sizes moved from pass to pass, and what a user can do when it is a lot.

Each pass of a sweep runs in a fresh worker process, and a size's latency is the median over its
passes of each pass's low quantile (fitting.summary_of_passes). Where the machine's speed moves
from process to process, that median moves with it, and no number of samples within a pass
narrows the exponent's interval: only more passes, or a quieter machine, do. This reads that
movement from the stored samples, as a finding the fits carry (`pass_scatter`) and the reason an
inconclusive latency verdict gives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from a2bench import fitting as ft

# The sd of ln latency from pass to pass (median over a window's sizes) above which an
# inconclusive latency verdict names it. The held-out auto runs of docs/running.md gave
# 0.5-5.3 % (an Intel Xeon and an AMD EPYC VM, results/cpu-auto-heldout); an Emerald Rapids VM
# that left double attention inconclusive twice in three auto-attention runs gave 7.7-16.8 %
# (results/cpu-auto-amx).
NOISY_PASSES = 0.06


def pass_scatter(samples: Sequence[Sequence[Sequence[float]] | None]) -> float:
    """The sd of ln latency from pass to pass: the median over sizes (each its passes' raw
    samples) of the sd of ln of each pass's summary; NaN where no size has two passes. The
    median, as a size's latency is its passes' median: one pass that stalled moves neither (in
    results/cpu-auto-heldout/auto-frames-2 the non-local order's largest size read 2.27 s in
    one pass, 0.93-0.94 s in the others), where a pooled sd read 0.21 for that window and 0.33
    for another whose other sizes moved 1-5 %."""
    sds = []
    for passes in samples:
        lows = [float(ft.summary_of(np.asarray(p, float))) for p in passes or () if len(p)]
        lows = [v for v in lows if math.isfinite(v) and v > 0]
        if len(lows) >= 2:
            sds.append(float(np.std(np.log(lows), ddof=1)))
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
            f"fresh process; under {NOISY_PASSES:.0%} on a quiet machine), which leaves each "
            f"size's median of {passes} passes uncertain by about "
            f"{1.25 * scatter / math.sqrt(passes):.0%}: more passes (--processes) or a quieter "
            "machine narrow it")
