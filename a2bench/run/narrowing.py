"""The narrowing rounds' reading of a round: each block's latency window and its half-width.

After the first round an auto run (autosize.AutoSizes.narrow) fits the folder as the report
does, and spends the budget's rest on one more pass of each window still too wide or undecided.
This module reads those fits and names each window's cases; autosize.py runs the rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from a2bench.case import Case


@dataclass(frozen=True)
class Width:
    """A block variant's latency fit after a round: its 95 % half-width and window sizes."""

    block: str
    half_width: float
    verdict: str
    window: tuple[int, ...]  # positions in the main window


def latency_widths(out: Path) -> list[Width]:
    """The main latency window along positions of each block in the folder, read by the same
    analysis the report uses (fewer bootstrap resamples: this only steers the budget)."""
    from a2bench import analysis as an

    data, runs = an.load_runs([out])
    fits = an.fit_exponents(data, {r.label: r.environment for r in runs},
                            resamples=300)
    rows = fits[(fits["metric"] == "latency") & (fits["axis"] == "positions")
                & fits["primary"].astype(bool) & (fits["segment"] == 0)]
    found = []
    for _, r in rows.iterrows():
        lo, hi = float(r["fit_x_min"] or math.nan), float(r["fit_x_max"] or math.nan)
        half = (float(r["ci_high"]) - float(r["ci_low"])) / 2 if r["points"] else math.inf
        own = data.loc[data["block"] == r["block"], "positions"]  # not a sibling variant's
        window = tuple(int(n) for n in sorted(set(own)) if lo <= n <= hi) \
            if math.isfinite(lo) else ()
        found.append(Width(str(r["block"]), half if math.isfinite(half) else math.inf,
                           str(r["verdict"]), window))
    return found


def window_cases(plan_cases: Sequence[Case], width: Width) -> list[Case]:
    """The block's planned cases in its fit's window: a narrowing round is one more pass of
    all of them. A pass of the ends alone (where a slope's variance falls most) made a window
    worse: each size's latency pools its passes, so where the machine drifts between passes the
    ends took the extra pass's luck and the middle did not (on docs/running.md's held-out
    auto-others-c128 run, criss-cross went from consistent to inconclusive). Matched by the
    analysis's variant name: nonlocal[eager]'s round had timed nonlocal[sdpa]'s sizes too."""
    from a2bench.analysis.load import case_variant  # pandas: loaded once a round has run

    dtypes = [c.dtype for c in plan_cases]
    return sorted((c for c in plan_cases if case_variant(c, dtypes) == width.block
                   and (not width.window or c.positions in width.window)),
                  key=lambda c: c.positions)


def decided(widths: Sequence[Width], given_up: Sequence[str], target: float) -> str:
    """Why narrowing stopped with nothing left open: the blocks given up are named with how
    they read (it had said "every latency verdict decided" of one left inconclusive)."""
    left = [f"{w.block} {w.verdict} ±{w.half_width:.3f}" for w in widths if w.block in given_up]
    if not left:
        return f"every latency verdict decided within ±{target:g}"
    rest = f"every other latency verdict decided within ±{target:g}; " * (len(left) < len(widths))
    return f"{rest}{', '.join(left)} not narrowed by its last pass, so no more"


def variant(case: Case) -> tuple[Any, ...]:
    """A case's block variant (its sizes along positions set aside). An auto sweep times each
    variant's sizes together, one after another within a pass: a block whose calls stream
    gigabytes evicts another's cache between its chunks (criss-cross's IQR rose from 3-9 % to
    9-14 % beside the non-local block's 1 s calls, on this repository's VM)."""
    return replace(case, t=0, h=0, w=0).key()
