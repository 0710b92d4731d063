"""The candidate sizes of an auto window: every legal size along positions, costed by the model.

plan.py chooses among them (its regimes, windows and promises); this module says which sizes
there are to choose from: square maps aligned to cache lines and kept off aliasing sides, each
of the block's side class where it has one, growing by GROWTH in N, up to the memory budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from a2bench.case import Case

MAX_SIDE = 4096  # square maps considered up to this side (frames up to this many)
GROWTH = 1.04  # candidate sizes step by at least this ratio in N
# Square maps from this side on: sides a multiple of ALIGN_SIDE only, so N is a multiple of 16
# and every row of a tensor N long starts on a 64-byte cache line. On this repository's VM the
# non-local order ran 20-25 % faster at such N (2.3-2.5 ps per N^2 at sides 104, 112, 116, 120,
# 128, 132, 136; 2.9-3.2 at 101, 102, 110, 113, 117, 131, 134), and a window that mixed the
# two classes grew as N^1.80 [1.60, 2.01] against its model's 1.98. Sides a multiple of
# ALIAS_SIDE are left out: N is then a multiple of 1024, the channels' planes lie a multiple
# of 4 KiB apart and alias in the caches' sets. Criss-cross at c = 96 ran at 26 GFLOP/s at
# side 192 against 35-37 at 188 and 196, 32 at 160 against 36-38 at 156 and 164, 50 at 64
# against 56 at 56 and 72; the non-local order 5 % slow at 128; and a held-out window with
# side 192 in it grew as N^1.44 [1.32, 1.57] (local slopes 1.71, 2.53, 0.28 around it).
ALIGN_FROM = 16
ALIGN_SIDE = 4
ALIAS_SIDE = 32


@dataclass(frozen=True)
class Point:
    """One candidate size and what the cost model says of it."""

    size: int  # the side of a square map, or the frames
    positions: int
    flops: int
    working_set: int  # bytes: the live peak and the input (as the fit's boundaries use)
    largest: int  # bytes of the largest single tensor
    peak: int  # bytes the memory model predicts
    macs: int = 0
    # The largest of the block's side classes that divides the side (side_classes); 0: none,
    # or the block has none.
    klass: int = 0

    def macs_ratio(self, other: Point) -> float:
        """This size's work over another's (FLOPs where MACs are not known)."""
        if self.macs and other.macs:
            return self.macs / other.macs
        return self.flops / other.flops if other.flops else math.inf


def at(template: Case, axis: Sequence[str], size: int) -> Case:
    return replace(template, t=size) if tuple(axis) == ("t",) else replace(template, h=size,
                                                                          w=size)


def candidates(template: Case, axis: Sequence[str], cost: Callable[[Case], Any],
               legal: Callable[[Case], bool], memory_budget: int,
               side_class: int = 0) -> list[Point]:
    """Legal sizes growing by GROWTH in N at least, up to the memory budget; square maps
    aligned from ALIGN_FROM on, and none whose planes alias (ALIAS_SIDE; frames keep every
    count: their N is the map's multiple). A square side from ALIGN_FROM on that is not a
    multiple of a class of `side_class` (the block's, where its kernels run along a side) is
    of none (Point.klass): plan_group prefers the strictest class that affords a window."""
    out: list[Point] = []
    levels = side_classes(side_class)
    size, last_n = 1, 0
    last_of = dict.fromkeys(levels, 0)  # the last N taken of each class (its sides exactly)
    square = tuple(axis) != ("t",)
    while size <= MAX_SIDE:
        case = at(template, axis, size)
        aligned = not square or size < ALIGN_FROM or (size % ALIGN_SIDE == 0
                                                      and size % ALIAS_SIDE != 0)
        klass = next((k for k in levels if size % k == 0), 0) if square and size >= ALIGN_FROM \
            else 0
        # Each class's sides are spaced by GROWTH among themselves: thinning the aligned sides
        # first would leave a class only what the thinning happened to keep.
        spaced = case.positions >= last_n * GROWTH or (
            klass in last_of and case.positions >= last_of[klass] * GROWTH)
        if aligned and spaced and legal(case):
            c = cost(case)
            if c.runnable_bytes > memory_budget:  # the peak, and room for fragmentation
                break
            input_bytes = case.batch * case.channels * case.positions * c.bytes_per_element
            out.append(Point(size, case.positions, c.flops, c.peak_bytes + input_bytes,
                             c.largest_activation_bytes, c.peak_bytes, c.macs, klass))
            last_n = case.positions
            if klass in last_of:
                last_of[klass] = case.positions
        size += 1
    return out


def side_classes(side_class: int) -> list[int]:
    """A block's side classes, the strictest first: its own, then halved while above
    ALIGN_SIDE (16: multiples of 16, then of 8), which every aligned side is of."""
    out = []
    while side_class > ALIGN_SIDE:
        out.append(side_class)
        side_class //= 2
    return out


def class_words(side_class: int, points: Sequence[Point]) -> str:
    """A side class in words: its sides exactly, so below the strictest class the odd
    multiples ("an odd multiple of 8": 8 mod 16)."""
    strictest = max((p.klass for p in points), default=0)
    return f"{'a' if side_class >= strictest else 'an odd'} multiple of {side_class}"
