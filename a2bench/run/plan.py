"""Auto sizes: the sizes along positions that give a block's latency exponent a decisive window.

A suite says `h: auto, w: auto` (square maps) or `t: auto` (frames), and a2bench chooses, for each
block variant (a template case), the sizes its latency fit needs (shared/notes/auto-sizing.md):
- inside ONE regime: every size's working set on the same side of each cache, and its largest
  tensor on the same side of glibc's mmap threshold (CPU), kept a margin away from each
  boundary, so no window of the fit is cut (fitting.windows);
- with the per-call overhead (measured on the device at the smallest shape) at most
  OVERHEAD_TARGET of the predicted time, half of what the fit allows, so prediction error
  does not push a size out of the window;
- with the peak (the exact memory model) within the memory budget, on CUDA with room for the
  allocator's fragmentation (Cost.runnable_bytes);
- in the highest regime the time budget affords, since complexity is about the asymptote, over
  as wide a span as it affords: the slope's error falls with the spread of ln N.

The prediction of a size's time is t = overhead + FLOPs / rate, the rate measured on the device
by timing the block at a probe size of the chosen regime (then planned again with it). Pure
functions over the cost model and those measurements; the Sweep does the measuring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from a2bench.case import Case
from a2bench.fitting import LAST_CACHE_TRANSITION
from a2bench.run import promise
from a2bench.run import walltime as wt
from a2bench.run.candidates import (  # noqa: F401  (moved there; re-exported)
    ALIAS_SIDE,
    ALIGN_FROM,
    ALIGN_SIDE,
    GROWTH,
    MAX_SIDE,
    Point,
    at,
    candidates,
    class_words,
    side_classes,
)

SIZES = 6  # sizes per block variant (the fit needs 5 in its window: one to spare)
# Predicted overhead share, at the fastest rate the pilot measured (so a size runs at least that
# long): the fit's window allows 5 % measured.
OVERHEAD_TARGET = 0.04
# No planned call predicted past this where a window fits under it (a slow device gets longer
# calls rather than no window): a longer call buys little precision for its share of the
# budget, and the longest calls met what no cost model has. On the 2-core VM of
# docs/running.md: without --malloc-reuse, calls of 0.5 s and more (700 MiB and more allocated)
# ran 1-3.5x slow in some samples; with it, the non-local order's call of 2.3 GB ran 25 %
# faster than its trend (1.4 s), and GC's of 1.25 GB varied by 160 % between passes.
MAX_CALL_S = 1.0
ENDS_TOLERANCE = 0.10  # the window's two ends, timed, may grow this much off the model's slope
# Stay this factor in bytes from a boundary. The mmap threshold is sharp (one tensor's size
# decides it); a cache is not. Measured on the 2-core VM of docs/running.md: blocks whose working
# set was 0.7x the last-level cache already ran up to 2x slower in some calls (non-local at
# N = 1764, 24 MiB of 32); past it the slope kept falling until about 4x the cache (the
# non-local order grew as N^2.11 from 42 to 80 MiB, N^2.07 to 170, N^2.03 to 340; the non-local
# block as N^2.25 from 70 to 120 MiB, then as N^1.7-2.0).
BOUNDARY_MARGIN = 1.25
CACHE_MARGIN = 2.0  # past a cache
LAST_CACHE_MARGIN = LAST_CACHE_TRANSITION  # past the last level: the step to memory is long
CACHE_MARGIN_WITHIN = 1.5  # within one: the sizes below a cache are worth a wider span
MIN_SPAN = 3.0  # the least ratio of largest to smallest N worth a window
# A window of one side class may have calls up to this times MAX_CALL_S before a window of a
# looser class (or of any side) is taken (plan_group).
CLASS_CALL_FACTOR = 2.0
MAX_SIZES = 10  # sizes a window takes where its share affords more than SIZES (denser)
# A CPU case's modelled peak, where a window fits under it (doubled with the call limit where
# none does): on this repository's VM the first call of a case of 1.2 GB or more, in each
# pass's fresh worker, took 3-12 s more than its warm calls (double attention at 1.4 GB:
# 13.6 s against 1.6 s), and its samples up to 8x; under 1 GB, 1 s more at most. The host
# backs memory the guest has not touched lately page by page (docs/running.md).
MAX_CASE_BYTES = 2**30
DEFAULT_BUDGET_S = {"cpu": 180.0, "cuda": 240.0}  # the whole run's wall time
# Of the time left after start-up: the rest narrows the intervals. Most of it goes to the first
# round: extra passes narrow an interval whose width is sample noise, not one whose width is
# curvature, which a wider span in the first round does narrow (the held-out runs of
# docs/running.md). The rest affords one more pass of every window (a later pass costs about
# 0.3-0.4 of a window's first three, which hold its first pass's counters and memory probes),
# since a narrowing round is a pass of the whole window (autosize.window_cases); 0.8 left
# 0.25 of the first round, and rounds ran only where the first round spent less than its share.
FIRST_ROUND = 0.7
# How far past its budget a noisy machine's plan looks for the windows its noise needs
# (Plan.noise_budget_s): further, the line says no budget it tried does.
NOISE_BUDGET_FACTOR = 10.0
GUESSED_EFFICIENCY = 0.3  # of the GEMM ceiling, before the block is probed on the device
DEFAULT_TARGET = 0.05  # the 95 % half-width worth planning for (RunOptions.target)




@dataclass(frozen=True)
class Machine:
    """What the planner knows of the device, measured there."""

    device: str
    caches: Mapping[str, float]  # bytes by level
    mmap_threshold: float | None  # glibc's, where a large tensor pays page faults per call
    memory_budget: int
    gemm_flops_per_s: float | None
    time_budget_s: float  # timed sampling per case and pass
    passes: int
    memory_every_pass: bool = False  # as the sweep's Settings; auto runs probe it once
    # Interleaved chunks as long as the window's slowest planned call (run_cases' planned_s)
    matched_chunks: bool = False
    # torch's threads in the run: float32 convolutions run on oneDNN, with its copies, at more
    # than one (kernels.expected_conv_kernel), which the memory budget check must hold
    threads: int = 1
    # The pilot's measure of the machine's noise (promise.Noise): one timing's spread in ln t,
    # from this many repeated timings; NaN: not measured, the quiet constants are planned for
    noise_spread: float = math.nan
    noise_repeats: int = 0

    @property
    def noise(self) -> promise.Noise:
        return promise.Noise(self.noise_spread, self.noise_repeats, self.passes)

    def extra_calls(self, first: bool) -> float:
        """Calls of a case a pass costs besides its timed ones (`first`: its first pass)."""
        if first:
            return wt.CASE_EXTRA_CALLS + wt.FIRST_PASS_EXTRA_CALLS
        return wt.CASE_EXTRA_CALLS if self.memory_every_pass else wt.TIMING_PASS_EXTRA_CALLS


@dataclass(frozen=True)
class Choice:
    """One chosen size and why: its regime, its overhead share and its predicted time."""

    size: int
    positions: int
    predicted_s: float
    overhead_share: float
    regime: str

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "positions": self.positions,
                "predicted_s": self.predicted_s, "overhead_share": self.overhead_share,
                "regime": self.regime}


@dataclass(frozen=True)
class GroupPlan:
    """The sizes of one block variant, or why there are not enough."""

    template: Case
    axis: tuple[str, ...]  # ("h", "w") or ("t",)
    regime: str
    choices: tuple[Choice, ...]
    overhead_s: float
    rate: float  # FLOP/s the prediction uses
    rate_measured: bool
    predicted_wall_s: float
    note: str  # regimes passed over, and why; empty when the top one was taken
    needed_budget_s: float | None = None  # set when the budget affords no regime
    limits: tuple[float, float] = (0.0, math.inf)  # N kept inside, where probes found the rate
    fast_rate: float | None = None  # the fastest probed rate: the overhead share's side
    excluded: tuple[str, ...] = ()  # regimes whose window ends, timed, left the model's slope
    side_class: int = 0  # the side class every size is of (Point.klass); 0: mixed, or none
    # What the window promises (promise): its 95 % half-width and ΔBIC over the competitor.
    promised_half_width: float = math.nan
    promised_bic: float = math.nan
    no_window: str = ""  # where no budget affords a window: what stops it (floor.no_window_why)

    @property
    def feasible(self) -> bool:
        return len(self.choices) >= SIZES and self.needed_budget_s is None

    @property
    def needed_s(self) -> float:
        """The group's part of a first round that affords its window: its needed share where
        its budget affords none (inf where no budget does), else its planned wall time. What
        Plan.needed_budget_s and shares.decisive_budget both count for it."""
        return self.predicted_wall_s if self.needed_budget_s is None else self.needed_budget_s

    @property
    def label(self) -> str:
        """The template's label with its sizes still to be chosen named so (hxw auto)."""
        return self.template.label(auto=self.axis)

    @property
    def decisive(self) -> bool:
        """A window whose ΔBIC is planned to decide the class (promise.PLANNED_BIC)."""
        return self.feasible and promise.decisive(self.promised_bic)

    def cases(self) -> list[Case]:
        return [at(self.template, self.axis, c.size) for c in self.choices]

    def to_dict(self) -> dict[str, Any]:
        return {"block": self.template.block, "case": self.label,
                "template": self.template.to_json(),
                "axis": "x".join(self.axis), "regime": self.regime,
                "overhead_s": self.overhead_s, "rate_flops_per_s": self.rate,
                "rate_measured": self.rate_measured,
                "predicted_wall_s": self.predicted_wall_s, "note": self.note,
                "needed_budget_s": self.needed_budget_s,
                "limits": [self.limits[0], self.limits[1] if math.isfinite(self.limits[1])
                           else None],
                "fastest_rate_flops_per_s": self.fast_rate,
                "excluded_regimes": list(self.excluded),
                "side_class": self.side_class,
                "predicted_half_width": _finite(self.promised_half_width),
                "predicted_delta_bic": _finite(self.promised_bic),
                "no_window": self.no_window,
                "sizes": [c.to_dict() for c in self.choices]}


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None



def boundaries(machine: Machine) -> list[tuple[str, float, str]]:
    """(name, bytes, what crosses it): the caches for the working set, the mmap threshold for
    the largest tensor (a CPU run that does not keep freed memory)."""
    out = [(name, float(size), "working_set") for name, size in machine.caches.items() if size]
    if machine.mmap_threshold:
        out.append(("mmap threshold", float(machine.mmap_threshold), "largest"))
    return sorted(out, key=lambda b: b[1])


def regime_of(p: Point, bounds: Sequence[tuple[str, float, str]]) -> str | None:
    """The regime's name ("past L2, within L3"), or None within the margin of a boundary."""
    past, within = [], []
    last = max((size for _, size, what in bounds if what == "working_set"), default=0.0)
    for name, size, what in bounds:
        value = getattr(p, what)
        cache = what == "working_set"
        margin = (LAST_CACHE_MARGIN if size == last else CACHE_MARGIN) if cache else \
            BOUNDARY_MARGIN
        if value >= size * margin:
            past.append(name)
        elif value * (CACHE_MARGIN_WITHIN if cache else BOUNDARY_MARGIN) <= size:
            within.append(name)
        else:
            return None
    words = ([f"past {', '.join(past)}"] if past else []) + \
            ([f"within {', '.join(within)}"] if within else [])
    return "; ".join(words) or "no boundary"


def geometric(points: Sequence[Point], lo: int, hi: int, count: int) -> list[Point]:
    """`count` points of points[lo..hi] nearest to a geometric grid in N (distinct)."""
    span = points[lo:hi + 1]
    if len(span) <= count:
        return list(span)
    # The planner asks this of every span it tries (about 7,700 times in a plan of two blocks
    # whose ends are shared again): each point's log once, and a point taken known by the
    # index of the first point equal to it, where `p not in chosen` had compared every field
    # of every chosen point (two make_plan calls took 8.5 s of CPU, now 3.2 s).
    logs = [math.log(p.positions) for p in span]
    equal: dict[Point, int] = {}
    kind = [equal.setdefault(p, j) for j, p in enumerate(span)]  # equal points, one index
    a, b = logs[0], logs[-1]
    taken: set[int] = set()
    chosen: list[Point] = []
    for i in range(count):
        target = a + (b - a) * i / (count - 1)
        best = min((j for j in range(len(span)) if kind[j] not in taken),
                   key=lambda j: abs(logs[j] - target))
        taken.add(kind[best])
        chosen.append(span[best])
    return sorted(chosen, key=lambda p: p.positions)


def denser(points: Sequence[Point], lo: int, hi: int, sizes: list[Point],
           predict: Callable[[Point], float], machine: Machine, share_s: float) -> list[Point]:
    """Up to MAX_SIZES sizes over the same span where the share affords them (a window its
    regime caps: within a cache, or under the call limit).

    A CPU's kernels run some sizes a few per cent faster than their neighbours whatever the
    repeats (criss-cross within the cache of this repository's VM: 50-57 GFLOP/s from side to
    side, ±4 %), which only more sizes average out: over a span of 3 that scatter gave
    criss-cross 1.26 [1.15, 1.38] and 1.35 [1.27, 1.44] with 6 sizes."""
    for count in range(MAX_SIZES, len(sizes), -1):
        more = geometric(points, lo, hi, count)
        if len({p.size for p in more}) < count:
            continue
        if wt.window_wall_s([predict(p) for p in more], machine) <= share_s:
            return more
    return sizes


def widest(pool: Sequence[Point], predict: Callable[[Point], float], machine: Machine,
           share_s: float) -> tuple[list[Point] | None, tuple[float, list[Point]] | None]:
    """(sizes, cheapest): the widest window of SIZES sizes or more from `pool` (a span of
    MIN_SPAN at least) within `share_s`, or None; and the cheapest window tried that did not
    fit (its wall, its sizes), or None."""
    cheapest: tuple[float, list[Point]] | None = None
    for hi in reversed(range(len(pool))):  # the widest span that fits the share
        if pool[hi].positions < MIN_SPAN * pool[0].positions:
            break
        sizes = geometric(pool, 0, hi, SIZES)
        if len({p.size for p in sizes}) < SIZES:
            continue
        wall = wt.window_wall_s([predict(p) for p in sizes], machine)
        if wall <= share_s:
            return denser(pool, 0, hi, sizes, predict, machine, share_s), cheapest
        if cheapest is None or wall < cheapest[0]:
            cheapest = (wall, sizes)
    return None, cheapest


def choose(points: Sequence[Point], regimes: Sequence[str | None],
           predict: Callable[[Point], float], overhead: float, machine: Machine,
           share_s: float, target: float = DEFAULT_TARGET,
           quickest: Callable[[Point], float] | None = None, max_call_s: float = math.inf,
           max_bytes: float = math.inf,
           side_class: int = 0) -> tuple[str, list[Point], str, float | None]:
    """(regime, sizes, note, needed share). The highest regime whose widest affordable window
    of SIZES sizes (a span of MIN_SPAN at least, within `share_s`) promises the target
    half-width and a decisive ΔBIC (promise.PLANNED_BIC), else the affordable window that
    promises the narrowest of those that promise the ΔBIC (of all, where none does); needed
    share is set when no regime affords one.

    The highest first, since complexity is about the asymptote; but not at any price: on the
    2-core VM of docs/running.md, double attention's calls past the last-level cache (0.3-1.2 s,
    120-525 MiB) scattered by up to 16 % between neighbouring sizes (±0.18) where its sizes
    within the cache gave ±0.03-0.05. `quickest` predicts from the fastest rate measured: a
    size must keep the overhead small even if it runs that fast (the wall time is planned from
    the slowest, `predict`). `side_class`: only sides of exactly that class (Point.klass)."""
    quickest = quickest or predict
    order: list[str] = []
    for r in regimes:
        if r is not None and r not in order:
            order.append(r)
    passed: list[str] = []
    cheapest: tuple[float, str, list[Point]] | None = None
    # (short of the planned ΔBIC, predicted half-width, regime, sizes)
    afforded: list[tuple[bool, float, str, list[Point]]] = []
    for regime in reversed(order):  # the highest regime first
        idx = [i for i, r in enumerate(regimes) if r == regime
               and overhead <= OVERHEAD_TARGET * quickest(points[i])
               and predict(points[i]) <= max_call_s and points[i].peak <= max_bytes
               and (not side_class or points[i].klass == side_class)]
        if len(idx) < SIZES:
            calls = f" {class_words(side_class, points)}" if side_class else ""
            calls += f" and calls under {max_call_s:g} s" if math.isfinite(max_call_s) else ""
            if math.isfinite(max_bytes):
                calls += f" and peaks under {max_bytes / 2**30:g} GiB"
            passed.append(f"{regime}: {len(idx)} legal sizes with the overhead under "
                          f"{OVERHEAD_TARGET:.1%}{calls} within the memory budget")
            continue
        best, dearest = widest([points[i] for i in idx], predict, machine, share_s)
        if dearest is not None and (cheapest is None or dearest[0] < cheapest[0]):
            cheapest = (dearest[0], regime, dearest[1])
        if best is None:
            span = points[idx[-1]].positions / points[idx[0]].positions
            # a regime whose legal sizes span under MIN_SPAN no budget widens (t: auto at a
            # 10 x 10 map stops at MAX_SIDE frames); it had read as a time share too short
            last = idx[-1] == len(points) - 1  # the largest candidate: MAX_SIDE stops it
            passed.append(f"{regime}: no span of {MIN_SPAN:g}x in N fits the time share"
                          if dearest is not None or span >= MIN_SPAN else
                          f"{regime}: its legal sizes span {span:.1f}x in N, under {MIN_SPAN:g}x"
                          + (f" (sides and frames stop at {MAX_SIDE})" if last else ""))
            continue
        width = promise.predicted_half_width(best, predict, machine)
        bic = promise.predicted_bic(best, predict, machine)
        short = not promise.decisive(bic)
        if width <= target and not short:
            return regime, best, "; ".join(f"passed over {p}" for p in passed), None
        afforded.append((short, width, regime, best))
        passed.append(f"{regime}: predicted ±{width:.3f}" + (
            f" and ΔBIC {bic:.0f}, under {promise.PLANNED_BIC:g}" if short
            else f", wider than ±{target:g}"))
    if afforded:
        # A window that promises a decisive ΔBIC before a narrower one that does not: extra
        # passes narrow an interval, they do not raise ΔBIC (promise).
        _, width, regime, best = min(afforded, key=lambda a: a[:2])
        return regime, best, "; ".join(f"passed over {p}" for p in passed
                                       if not p.startswith(regime + ":")), None
    note = "; ".join(passed)
    if cheapest is None:
        return "none", [], note or "no legal size within the memory budget", math.inf
    wall, regime, sizes = cheapest
    return regime, sizes, note, wall


def plan_group(template: Case, axis: tuple[str, ...], points: Sequence[Point],
               overhead: float, rate: float, rate_measured: bool, machine: Machine,
               share_s: float, limits: tuple[float, float] = (0.0, math.inf),
               target: float = DEFAULT_TARGET, fast_rate: float | None = None,
               excluded: tuple[str, ...] = ()) -> GroupPlan:
    """The sizes of one block variant; `limits` keep N inside (lo, hi), where probes found the
    rate change inside a regime the caches did not announce; `excluded` regimes are not
    chosen (their window's ends, timed, left the model's slope: ends_slopes)."""
    bounds = boundaries(machine)
    regimes = [regime_of(p, bounds) if limits[0] <= p.positions <= limits[1] else None
               for p in points]
    regimes = [None if r in excluded else r for r in regimes]

    def predict(p: Point) -> float:
        return overhead + p.flops / rate

    def quickest(p: Point) -> float:
        return overhead + p.flops / max(fast_rate or rate, rate)

    peak = MAX_CASE_BYTES if machine.device == "cpu" else math.inf
    # The block's side classes first, the strictest first, each with calls up to
    # CLASS_CALL_FACTOR times the limit: a window that mixes classes tilts its slope where one
    # class falls at one end, a longer call does not. A class is its sides exactly: multiples
    # of 8 are the odd ones (8 mod 16), since criss-cross ran 5 % faster at multiples of 16
    # among them (b 2, c 64: 34-35 GFLOP/s at 176 and 272 against 32-33 at 152, 200, 232, 312),
    # and a window of both read side 176 fast against its neighbours (local slopes 1.02 and
    # 1.78 either side; inconclusive, ΔBIC 8.8). A looser class's window that promises a
    # decisive ΔBIC comes before a stricter one's that does not: a class's sides are sparser.
    classes = sorted({p.klass for p in points if p.klass}, reverse=True)
    for k, decisive, cap in ((k, d, c) for d in (True, False) for k in classes
                             for c in (MAX_CALL_S, MAX_CALL_S * CLASS_CALL_FACTOR)):
        found = choose(points, regimes, predict, overhead, machine, share_s, target,
                       quickest, cap, peak, k)
        if found[3] is None and (not decisive or promise.decisive(
                promise.predicted_bic(found[1], predict, machine))):
            why = f"sides {class_words(k, points)} (the block's side class)" + (
                f", calls up to {cap:g} s: no window of them under {MAX_CALL_S:g} s"
                if cap > MAX_CALL_S else "")
            return _group(template, axis, found[0], found[1],
                          "; ".join(x for x in (found[2], why) if x), None, overhead,
                          rate, rate_measured, machine, limits, fast_rate, excluded,
                          predict, quickest)
    # Any aligned side: the limits, then each relaxed in turn, as far as a window needs: larger
    # cases first, then longer calls (doubled up to 64x), rather than no window.
    # The peak doubles once before it goes: a window of 3.8 GB cases had one call of 1 s take
    # 14 s in a pass (a held-out run, 173 s past its budget), where 2 GiB would have held one.
    steps = [(MAX_CALL_S, peak),
             *([(MAX_CALL_S, 2 * peak), (MAX_CALL_S, math.inf)] if math.isfinite(peak) else []),
             *((MAX_CALL_S * 2**k, math.inf) for k in range(1, 7))]
    regime, sizes, note, needed = choose(points, regimes, predict, overhead, machine, share_s,
                                         target, quickest, *steps[0])
    for cap, max_bytes in steps[1:]:
        if needed is None:
            break
        found = choose(points, regimes, predict, overhead, machine, share_s, target, quickest,
                       cap, max_bytes)
        why = (f"calls up to {cap:g} s: no regime affords {SIZES} sizes under "
               f"{MAX_CALL_S:g} s" if cap > MAX_CALL_S else
               f"peaks over {MAX_CASE_BYTES / 2**30:g} GiB: no regime affords {SIZES} "
               "sizes under it" + (f" (up to {max_bytes / 2**30:g} GiB)"
                                   if math.isfinite(max_bytes) else ""))
        if found[3] is None:
            regime, sizes, needed = found[0], found[1], None
            note = "; ".join(x for x in (why, found[2]) if x)
        elif math.isinf(needed) and math.isfinite(found[3]):  # what a budget would afford
            # said as on the feasible path: the fallback's long calls had come with no reason
            regime, sizes, needed = found[0], found[1], found[3]
            note = "; ".join(x for x in (f"{why} at any budget", found[2]) if x)
    if classes:
        note = "; ".join(x for x in (note, f"sides of every class: no window of multiples of "
                                           f"{classes[-1]}") if x)
    return _group(template, axis, regime, sizes, note, needed, overhead, rate, rate_measured,
                  machine, limits, fast_rate, excluded, predict, quickest)


def _group(template: Case, axis: tuple[str, ...], regime: str, sizes: Sequence[Point],
           note: str, needed: float | None, overhead: float, rate: float, rate_measured: bool,
           machine: Machine, limits: tuple[float, float], fast_rate: float | None,
           excluded: tuple[str, ...], predict: Callable[[Point], float],
           quickest: Callable[[Point], float]) -> GroupPlan:
    if limits != (0.0, math.inf):
        note = "; ".join(x for x in (note, f"kept to N in [{limits[0]:.0f}, {limits[1]:.0f}] where "
                                           "the probed rate held") if x)
    choices = tuple(Choice(p.size, p.positions, predict(p), overhead / quickest(p), regime)
                    for p in sizes)
    wall = wt.window_wall_s([c.predicted_s for c in choices], machine)
    promised = (promise.predicted_half_width(sizes, predict, machine),
                promise.predicted_bic(sizes, predict, machine)) if len(sizes) >= SIZES else \
        (math.nan, math.nan)
    return GroupPlan(template, axis, regime, choices, overhead, rate, rate_measured, wall, note,
                     needed, limits, fast_rate, excluded, min((p.klass for p in sizes), default=0),
                     *promised)


def guessed_rate(machine: Machine) -> float:
    """FLOP/s before the block is probed: a share of the GEMM ceiling (or 10 GFLOP/s)."""
    return GUESSED_EFFICIENCY * (machine.gemm_flops_per_s or 1e10)


def rate_from(point: Point, seconds: float, overhead: float) -> float:
    """The block's FLOP/s at a probe, the overhead taken off (at least 1 % of the time left)."""
    return point.flops / max(seconds - overhead, 0.01 * seconds)


@dataclass(frozen=True)
class Plan:
    groups: tuple[GroupPlan, ...]
    budget_s: float
    startup_s: float  # spent before planning (worker, calibration, overhead, probes)
    fixed_s: float  # still to spend besides the cases (end calibration, a worker per pass)
    noise: promise.Noise = promise.QUIET  # the machine's, as the pilot measured it
    # Where that noise is over the quiet constants and some window does not promise a decisive
    # ΔBIC at it: the budget that would afford every one such a window (inf: none up to
    # NOISE_BUDGET_FACTOR times this one's); None otherwise (shares.decisive_budget)
    noise_budget_s: float | None = None

    @property
    def predicted_wall_s(self) -> float:
        return self.startup_s + self.fixed_s + sum(g.predicted_wall_s for g in self.groups)

    @property
    def feasible(self) -> bool:
        return all(g.feasible for g in self.groups)

    @property
    def needed_budget_s(self) -> float | None:
        """The budget that would afford every group's cheapest regime, when this one does not."""
        if self.feasible:
            return None
        walls = [g.needed_s for g in self.groups]
        if not all(math.isfinite(w) for w in walls):
            return math.inf
        return self.budget_for(walls)

    def budget_for(self, walls: Sequence[float]) -> float:
        """The budget whose first round holds `walls` (a group's part each): start-up, fixed,
        and their sum over FIRST_ROUND."""
        return self.startup_s + self.fixed_s + sum(walls) / FIRST_ROUND

    @property
    def affordable_budget_s(self) -> float | None:
        """needed_budget_s over the groups some budget affords: what `plan` names beside a
        variant no budget affords, whose infinite need would hide it (summary.budget_line, and
        the report from the stored plan)."""
        some = tuple(g for g in self.groups if g.needed_budget_s != math.inf)
        return replace(self, groups=some).needed_budget_s if some else None

    def cases(self) -> list[Case]:
        return [c for g in self.groups for c in g.cases()]

    def to_dict(self) -> dict[str, Any]:
        return {"budget_s": self.budget_s, "startup_s": self.startup_s, "fixed_s": self.fixed_s,
                "predicted_wall_s": self.predicted_wall_s,
                "needed_budget_s": self.needed_budget_s,
                "affordable_budget_s": self.affordable_budget_s,
                "noise": {**self.noise.to_dict(), "needed_budget_s": self.noise_budget_s},
                "groups": [g.to_dict() for g in self.groups]}


def ends_slopes(lo: Point, hi: Point, t_lo: float, t_hi: float,
                overhead: float) -> tuple[float, float]:
    """(measured, model) slopes between a window's two ends: ln t (the overhead off) and ln
    FLOPs over ln N. Where they part by more than ENDS_TOLERANCE the window holds a transition
    the caches did not announce (the non-local block's 37 MB affinity at N = 3025, still
    partly in a 32 MiB cache, on this repository's VM); NaN measured where a timing is missing
    or all overhead."""
    span = math.log(hi.positions / lo.positions)
    model = math.log(hi.flops / lo.flops) / span if span > 0 else math.nan
    if span <= 0 or not (t_lo > overhead and t_hi > overhead):
        return math.nan, model
    return math.log((t_hi - overhead) / (t_lo - overhead)) / span, model
