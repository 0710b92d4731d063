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
from collections.abc import Callable
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
