"""The least memory budget an auto suite's plan can work with, and a plan that found no window
because of the memory budget said so in one line.

`a2bench plan suites/auto-attention.yaml --memory-budget 1KB` had calibrated, found "no legal
size" and blamed the time budget ("budget 180 s too small ... no budget affords one", exit 1),
when no time budget could help: a window takes plan.SIZES legal sizes within the memory budget
(plan.candidates stops at the first size over it), large enough beside the per-call overhead.
A budget that holds fewer sizes than that is refused before anything is calibrated
(memory_floor_problem); one whose sizes, once the overhead is measured, give no window at any
time budget is named with the least budget that gives one (memory_plan_problem).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from functools import partial

from a2bench.case import Case
from a2bench.catalog import expected_cost, spec
from a2bench.formatting import format_bytes, plural
from a2bench.run import plan as pl
from a2bench.suite import Suite, auto_templates


def memory_floor_problem(suite: Suite, memory_budget: int | None, threads: int) -> str | None:
    """One line where `memory_budget` (--memory-budget; None, the device's default, is known only
    on the device) holds fewer than a window's plan.SIZES sizes of some auto block variant,
    naming the one that needs most, else None. Blocks without a cost model are left to the
    plan: their sizes are traced, not modelled, and the trace takes longer than the plan's."""
    if memory_budget is None or not suite.auto:
        return None
    short: list[tuple[int, str, int, int, int, int]] = []
    for template, axis in auto_templates(suite):
        sized = _sized(template, axis, threads)
        if sized is None or len(sized[0]) < pl.SIZES:
            continue  # too few legal sizes at any memory: the plan's note says so
        points, needs = sized
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
        sized = _sized(g.template, g.axis, machine.threads)
        if sized is None:
            continue
        points, needs = sized

        def window(k: int, g: pl.GroupPlan = g, points: list[pl.Point] = points,
                   needs: list[int] = needs) -> pl.GroupPlan | None:
            """The plan of the sizes a budget of needs[k - 1] holds, where it has a window at
            some time budget."""
            at_k = pl.plan_group(g.template, g.axis, points[:k], g.overhead_s, g.rate,
                                 g.rate_measured, replace(machine, memory_budget=needs[k - 1]),
                                 plan.budget_s, g.limits, fast_rate=g.fast_rate,
                                 excluded=g.excluded)
            finite = at_k.needed_budget_s is None or math.isfinite(at_k.needed_budget_s)
            return at_k if len(at_k.choices) >= pl.SIZES and finite else None

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


def _sized(template: Case, axis: tuple[str, ...],
           threads: int) -> tuple[list[pl.Point], list[int]] | None:
    """The candidate sizes at any memory, smallest first, and the least budget that holds each
    with those before it (plan.candidates stops at the first size over its budget); None for a
    block without a cost model."""
    block = spec(template.block)
    if not block.has_cost:
        return None
    cost = partial(expected_cost, threads=threads)

    def legal(case: Case) -> bool:
        return not block.problems(case.to_dict())

    points = pl.candidates(template, axis, cost, legal, 2**62, block.side_class)
    needs = [cost(pl.at(template, axis, p.size)).runnable_bytes for p in points]
    return points, list(itertools.accumulate(needs, max))


def flag_size(n: int) -> str:
    """Bytes as --memory-budget takes them, rounded up in the last digit shown."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{math.ceil(n / scale * 10) / 10:g}{unit}"
    return f"{n}B"
