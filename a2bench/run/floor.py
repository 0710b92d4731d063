"""The least memory budget an auto suite's plan can work with, and a plan that found no window
because of the memory budget said so in one line.

`a2bench plan suites/auto-attention.yaml --memory-budget 1KB` had calibrated, found "no legal
size" and blamed the time budget ("budget 180 s too small ... no budget affords one", exit 1),
when no time budget could help: a window takes plan.SIZES legal sizes within the memory budget
(plan.candidates stops at the first size over it), large enough beside the per-call overhead.
A budget that holds fewer sizes than that is refused before anything is calibrated
(memory_floor_problem); one whose sizes, once the overhead is measured, give no window at any
time budget is named with the least budget that gives one (memory_plan_problem). A block
without a cost model is sized by its trace (measure.traced), as the plan sizes it: a token mixer
given 1000 B had calibrated 36 s and blamed the time budget the same way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from a2bench.case import Case
from a2bench.catalog import expected_cost, spec
from a2bench.errors import InputError
from a2bench.formatting import format_bytes, plural
from a2bench.run import plan as pl
from a2bench.suite import Suite, auto_templates


def memory_floor_problem(suite: Suite, memory_budget: int | None, threads: int) -> str | None:
    """One line where `memory_budget` (--memory-budget; None, the device's default, is known only
    on the device) holds fewer than a window's plan.SIZES sizes of some auto block variant,
    naming the one that needs most, else None. A block without a cost model has its first
    sizes traced (milliseconds each; measure.traced.NotTraceable where it cannot be)."""
    if memory_budget is None or not suite.auto:
        return None
    short: list[tuple[int, str, int, int, int, int]] = []
    for template, axis in auto_templates(suite):
        points, needs = _sized(template, axis, threads, count=pl.SIZES)
        if len(points) < pl.SIZES:
            continue  # too few legal sizes at any memory: the plan's note says so
        held = sum(n <= memory_budget for n in needs)
        if held < pl.SIZES:
            short.append((needs[pl.SIZES - 1], template.label(auto=axis), held,
                          points[0].positions, needs[0], points[pl.SIZES - 1].positions))
    if not short:
        return None
    need, label, held, first, first_need, last = max(short)
    smallest = (f" (its smallest legal size, N = {first}, needs {format_bytes(first_need)})"
                if not held else "")
    more = f" (and {plural(len(short) - 1, 'more block variant')})" if len(short) > 1 else ""
    return (f"--memory-budget {format_bytes(memory_budget)}: holds {held} of the {pl.SIZES} "
            f"sizes a window of {label}{more} takes{smallest}, and no --budget makes up for "
            f"it: the {pl.SIZES} smallest, up to N = {last}, need {format_bytes(need)}; "
            f"expected --memory-budget {flag_size(need)} or more")


def memory_plan_problem(plan: pl.Plan, machine: pl.Machine, given: int | None) -> str | None:
    """One line where some block variant has no window at any time budget (the plan's needed
    budget infinite) and a larger memory budget would give it one, naming the least such
    budget; else None (a time budget, or the block's sizes, are what stop it: the plan's
    budget line and notes say so). `given`: --memory-budget, where the run was given one."""
    found: list[tuple[int, str, int, int]] = []
    for g in plan.groups:
        if g.feasible or g.needed_budget_s is None or math.isfinite(g.needed_budget_s):
            continue
        # a traced block's sizes up to a budget 16x larger each time, until one holds a
        # window (its trace takes milliseconds a size, and its largest sizes hundreds of them)
        modelled = spec(g.template.block).has_cost
        limit, memo = (2**62 if modelled else max(machine.memory_budget, 1)), {}
        while True:
            limit = min(16 * limit, 2**62)
            points, needs = _sized(g.template, g.axis, machine.threads, limit, memo=memo)
            if limit == 2**62 or _window(points, needs, g, machine, plan) is not None:
                break

        window = partial(_window, points, needs, g, machine, plan)

        # the least number of sizes, smallest first, with a window: more sizes never take one
        # away (the sizes within a budget are a prefix of the candidates), so bisect
        lo, hi = pl.SIZES, len(points)
        if hi < lo or window(hi) is None or needs[-1] <= machine.memory_budget:
            continue
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if window(mid) is not None else (mid + 1, hi)
        best = window(lo)
        if best is None or needs[lo - 1] <= machine.memory_budget:
            continue  # within the budget already: another limit stopped it
        found.append((needs[lo - 1], g.label, best.choices[0].positions,
                      best.choices[-1].positions))
    if not found:
        return None
    need, label, first, last = max(found)
    whose = (f"--memory-budget {format_bytes(given)}" if given is not None else
             f"the memory budget, {format_bytes(machine.memory_budget)} (the device's default)")
    more = f" (and {plural(len(found) - 1, 'more block variant')})" if len(found) > 1 else ""
    # the rate and overhead are those probed within this budget: a plan with more memory
    # probes its own, so the window it takes may need less than this one
    return (f"{whose}: holds no window of {pl.SIZES} sizes of {label}{more} at any --budget; "
            f"at the rate probed within it, a window (N = {first} ... {last}) needs "
            f"{format_bytes(need)}: expected --memory-budget {flag_size(need)} or more")


def with_reasons(plan: pl.Plan, points: Mapping[tuple[Case, tuple[str, ...]], list[pl.Point]],
                 machine: pl.Machine) -> pl.Plan:
    """The plan, each block variant no time budget gives a window saying why (no_window_why);
    `points`: each variant's candidate sizes within the memory budget."""
    return replace(plan, groups=tuple(
        replace(g, no_window=no_window_why(g, points[(g.template, g.axis)], machine))
        if g.needed_budget_s == math.inf else g for g in plan.groups))


def no_window_why(g: pl.GroupPlan, points: Sequence[pl.Point], machine: pl.Machine) -> str:
    """Why no time budget gives `g` a window of plan.SIZES sizes, from its candidate sizes
    within the memory budget (`points`): where they end and what ends them (the cap on sides
    and frames, the block's legal sizes, the memory budget), the per-call overhead's share of
    a call there, and what would give one. SE's `t: auto` on a 7 x 7 map had said "budget
    180 s too small ... no budget affords one", which reads as "raise the budget"."""
    frames = tuple(g.axis) == ("t",)
    fixes = [*(["a larger map (h and w) for t: auto"] if frames else []),
             "other channels or block parameters", "the sizes listed"]
    if not points:
        return (f"no legal size within the memory budget, {format_bytes(machine.memory_budget)};"
                f" expected a larger --memory-budget, {', '.join(fixes[:-1])}, or "
                f"{fixes[-1]}")
    top = points[-1]
    every, needs = _sized(g.template, g.axis, machine.threads, count=len(points) + 1)
    where = f"{top.size} frames" if frames else f"a {top.size}x{top.size} map"
    if len(every) > len(points):  # the next size is past the memory budget
        ends = (f"its sizes end at {where} (N = {top.positions}): the next, N = "
                f"{every[-1].positions}, needs {format_bytes(needs[-1])}, past the memory "
                f"budget, {format_bytes(machine.memory_budget)}")
        fixes.insert(0, "a larger --memory-budget")
    elif top.size * (pl.GROWTH if frames else math.sqrt(pl.GROWTH)) + (
            0 if frames else pl.ALIGN_SIDE) > pl.MAX_SIDE:
        ends = (f"its sizes end at {where} (N = {top.positions}), as a2bench takes "
                f"{'frames' if frames else 'sides'} up to {pl.MAX_SIDE}")
    else:
        ends = f"its legal sizes end at {where} (N = {top.positions})"
    fast = max(g.fast_rate or g.rate, g.rate)
    share = [g.overhead_s / (g.overhead_s + p.flops / fast) for p in points]
    kept = [p for p, s in zip(points, share, strict=True) if s <= pl.OVERHEAD_TARGET]
    if not kept:
        why = (f", where the per-call overhead ({g.overhead_s * 1e3:.3g} ms) is still "
               f"{share[-1]:.1%} of a call, over the {pl.OVERHEAD_TARGET:.1%} a window's sizes "
               "keep")
    else:
        bounds = pl.boundaries(machine)
        why = (f"; its {len(kept)} sizes with the overhead under {pl.OVERHEAD_TARGET:.1%} of a "
               f"call (N = {kept[0].positions} ... {kept[-1].positions})")
        # as plan_group reads them: within the limits the probes left, their regimes not
        # passed over (a window's ends off the model's slope); "30 sizes over 7.8x" had been
        # said to "give no regime 6 over 3x" where the limits were what stopped it
        lo, hi = g.limits
        if (inside := [p for p in kept if lo <= p.positions <= hi]) != kept:
            why += (f", {len(inside)} of them kept to N in [{lo:.0f}, {hi:.0f}] where the "
                    "probed rate held,")
        kept, regimes = inside, [pl.regime_of(p, bounds) for p in inside]
        if passed := sorted({r for r in regimes if r in g.excluded}):
            why += (f", {'; '.join(passed)} passed over (its window's ends, timed, left the "
                    "model's slope)")
        counts = {r: [p for p, q in zip(kept, regimes, strict=True) if q == r]
                  for r in regimes if r is not None and r not in g.excluded}
        near = sorted({_near(p, bounds) for p, r in zip(kept, regimes, strict=True) if r is None})
        if counts:  # the regime whose sizes span most
            wide = max(counts, key=lambda r: counts[r][-1].positions / counts[r][0].positions)
            within = counts[wide]
            why += (f" give no regime {pl.SIZES} over a span of {pl.MIN_SPAN:g}x in N (the "
                    f"widest, {wide}: {len(within)} over "
                    f"{within[-1].positions / within[0].positions:.1f}x)")
        if near:
            why += (" and the rest" if counts or passed else " all") + (
                f" lie too near the {' and the '.join(near)} to say which side (within the "
                "planner's margins)")
    return f"{ends}{why}; expected {', '.join(fixes[:-1])}, or {fixes[-1]}"


def _near(p: pl.Point, bounds: Sequence[tuple[str, float, str]]) -> str:
    """The boundary a size lies too near for a regime (plan.regime_of's None: its margins)."""
    last = max((size for _, size, what in bounds if what == "working_set"), default=0.0)
    for name, size, what in bounds:
        cache, value = what == "working_set", getattr(p, what)
        past = (pl.LAST_CACHE_MARGIN if size == last else pl.CACHE_MARGIN) if cache \
            else pl.BOUNDARY_MARGIN
        within = pl.CACHE_MARGIN_WITHIN if cache else pl.BOUNDARY_MARGIN
        if size * past > value > size / within:
            return name
    return "caches"


def _window(points: list[pl.Point], needs: list[int], g: pl.GroupPlan, machine: pl.Machine,
            plan: pl.Plan, k: int | None = None) -> pl.GroupPlan | None:
    """The plan of the first `k` sizes (all), within a budget of the last one's need, where it
    has a window at some time budget."""
    k = len(points) if k is None else k
    if k < pl.SIZES:
        return None
    at_k = pl.plan_group(g.template, g.axis, points[:k], g.overhead_s, g.rate, g.rate_measured,
                         replace(machine, memory_budget=needs[k - 1]), plan.budget_s, g.limits,
                         fast_rate=g.fast_rate, excluded=g.excluded)
    finite = at_k.needed_budget_s is None or math.isfinite(at_k.needed_budget_s)
    return at_k if len(at_k.choices) >= pl.SIZES and finite else None


class _Past:
    """What candidates() reads past the sizes wanted: a size no budget holds, so it stops."""

    runnable_bytes = math.inf


def _sized(template: Case, axis: tuple[str, ...], threads: int, budget: int = 2**62,
           count: int | None = None,
           memo: dict[Case, Any] | None = None) -> tuple[list[pl.Point], list[int]]:
    """The candidate sizes within `budget` (any memory), at most `count`, smallest first, and
    the least budget that holds each with those before it (plan.candidates stops at the first
    size over its budget). A block without a cost model is traced without storage (`memo`
    keeps its traces between calls); a size past its first that it cannot trace ends its
    sizes."""
    block = spec(template.block)
    cost: Callable[[Case], Any] = (partial(expected_cost, threads=threads) if block.has_cost
                                   else _trace)
    memo = {} if memo is None else memo

    def sized(case: Case) -> Any:
        if count is not None and len(taken) >= count:
            return _Past()
        if case not in memo:
            try:
                memo[case] = cost(case)
            except InputError:  # NotTraceable: at its first size, one line, exit status 2
                if not taken:
                    raise
                memo[case] = _Past()  # a size too large for the trace: the sizes end there
        taken.append(case)
        return memo[case]

    def legal(case: Case) -> bool:
        return not block.problems(case.to_dict())

    taken: list[Case] = []
    points = pl.candidates(template, axis, sized, legal, budget, block.side_class)
    needs = [int(memo[pl.at(template, axis, p.size)].runnable_bytes) for p in points]
    return points, list(itertools.accumulate(needs, max))


def _trace(case: Case) -> Any:
    from a2bench.measure.traced import trace  # torch's dispatch modes, for counted blocks only

    return trace(case)


def flag_size(n: int) -> str:
    """Bytes as --memory-budget takes them, rounded up in the last digit shown."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{math.ceil(n / scale * 10) / 10:g}{unit}"
    return f"{n}B"
