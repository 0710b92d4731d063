"""How an auto run's first round is shared among its block variants (plan.GroupPlan).

Pure functions over plans: each variant is planned again (`replan`) at the share it gets,
which takes milliseconds, so the least share a window needs is found by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from a2bench.run.plan import FIRST_ROUND, GroupPlan, Plan, side_classes


def group_share(budget_s: float, startup_s: float, fixed_s: float, groups: int) -> float:
    """Each group's part of the first round's time."""
    left = max(budget_s - startup_s - fixed_s, 0.0)
    return FIRST_ROUND * left / max(groups, 1)


def least_share(g: GroupPlan, total_s: float,
                replan: Callable[[GroupPlan, float], GroupPlan], side_class: int = 0,
                decisive: bool = False) -> float:
    """The least time share within `total_s` that affords the group a window (a bisection:
    planning is pure and takes milliseconds), of sides a multiple of `side_class` where it is
    set (a looser class's window is cheaper), and (`decisive`) one that promises a decisive
    ΔBIC (GroupPlan.decisive: a wider span or more sizes); inf where even `total_s` does not."""

    def affords(p: GroupPlan) -> bool:
        return p.feasible and p.side_class >= side_class and (p.decisive or not decisive)

    if not affords(replan(g, total_s)):
        return math.inf

    lo, hi = 0.0, total_s
    while hi - lo > max(0.5, 0.005 * hi):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if affords(replan(g, mid)) else (mid, hi)
    return hi


def wanted(g: GroupPlan, total_s: float, replan: Callable[[GroupPlan, float], GroupPlan]
           ) -> list[tuple[float, bool]]:
    """(least share, decisive) of each window a group would rather have than a bare one, the
    most wanted first: a decisive ΔBIC of each side class, the strictest first, then each
    class without it (a window of mixed sides tilts its slope: not wanted, decisive or not)."""
    classes = side_classes(replan(g, total_s).side_class)
    if not classes:
        return [(least_share(g, total_s, replan, decisive=True), True)]
    return [(least_share(g, total_s, replan, k, decisive), decisive)
            for decisive in (True, False) for k in classes]


def shared_out(groups: Sequence[GroupPlan], total_s: float,
               replan: Callable[[GroupPlan, float], GroupPlan],
               most_s: float | None = None) -> list[GroupPlan]:
    """The groups planned again with the first round's time shared by need, not evenly.

    An even share left one block short of any window while the others spent theirs on the widest
    spans they afforded (a held-out run of docs/running.md: criss-cross 56 s short, GC's span
    6.6x). Here each group first gets the least share that affords it a window (least_share),
    raised to the least that affords it the most wanted window the time allows (`wanted`: a
    decisive ΔBIC, with the narrowing rounds' time too, then its strictest side class within
    the first round and the same regime), the cheapest raises first, and what is left of the
    first round is shared evenly, for wider spans or higher regimes. Where the least shares
    outgrow `total_s` (the first round's) but fit `most_s` (the time the narrowing rounds would
    have had too), each group gets its least share: a window for every block comes before
    narrowing any of them (a held-out run gave criss-cross, 131 s of the 245 s the three
    windows needed, no share of a first round of 221 s, with 276 s left). Where they do not fit
    even that, the cheapest groups get theirs, as many as fit, and the rest keep their plans,
    short (the run warns with the budget they need)."""
    if not groups:
        return []
    most = max(most_s or total_s, total_s)
    least = [least_share(g, most, replan) for g in groups]
    fits = [i for i, s in enumerate(least) if math.isfinite(s)]
    need = sum(least[i] for i in fits)
    if len(fits) == len(groups) and need <= most:
        first_round = need <= total_s  # else the narrowing rounds' time too, and no spare
        limit = total_s if first_round else most
        raises = [wanted(g, most, replan) for g in groups]
        for i in sorted(range(len(groups)), key=lambda i: min(
                (s for s, _ in raises[i]), default=math.inf) - least[i]):
            regime = replan(groups[i], least[i]).regime
            for s, decisive in raises[i]:
                if s <= least[i]:  # the least share has it already: nothing looser is wanted
                    break
                # A class within the regime the least share gives: a higher regime is the
                # spare's to give (a class raise had taken criss-cross past the cache, 146 s
                # of a 360 s budget, and left the non-local block a window of ±0.10). A
                # decisive ΔBIC may need the higher regime (a cache can cap a span below it),
                # and the narrowing rounds' time: their passes narrow an interval, they do
                # not raise ΔBIC (run.promise).
                if sum(least) - least[i] + s <= (most if decisive else limit) and (
                        decisive or replan(groups[i], s).regime == regime):
                    least[i] = s
                    break
        spare = max(limit - sum(least), 0.0) / len(groups) if first_round else 0.0
        return [replan(g, least[i] + spare) for i, g in enumerate(groups)]
    out = list(groups)
    left = most
    for i in sorted(fits, key=lambda i: least[i]):  # the cheapest first: as many as fit
        if least[i] <= left:
            out[i] = replan(groups[i], least[i])
            left -= least[i]
    return out


def decisive_budget(plan: Plan, replan: Callable[[GroupPlan, float], GroupPlan],
                    most_s: float) -> float | None:
    """The budget whose first round affords every window a decisive ΔBIC (least_share, each
    group's least share up to `most_s`), where some window does not promise one; None where
    every window does, inf where no share up to `most_s` gives some group one. Counted as
    Plan.needed_budget_s counts (Plan.budget_for), every other group at GroupPlan.needed_s:
    a group short of its budget with no class to test had been counted at its planned wall,
    not its need. `replan` plans on the machine the plan was made for (its noise). A group
    with no window at any budget, or no class to test (ΔBIC NaN), no noise decides: it keeps
    its own need (budget_line's), and one no budget affords is left out, as
    Plan.affordable_budget_s leaves it."""
    wanting = [g for g in plan.groups if wants_delta_bic(g)]
    if not wanting:
        return None
    need = []
    for g in plan.groups:
        if g.needed_budget_s == math.inf:
            continue
        share = least_share(g, most_s, replan, decisive=True) if g in wanting else g.needed_s
        if not math.isfinite(share):
            return math.inf
        need.append(share)
    return plan.budget_for(need)


def wants_delta_bic(g: GroupPlan) -> bool:
    """A window planned whose ΔBIC could decide its class and does not promise to: one its
    budget affords, or the cheapest one a budget too small runs (a plan at load 11 had said
    'every window promises ΔBIC 15' beside a window short of its budget that promised 5)."""
    return g.needed_budget_s != math.inf and not math.isnan(g.promised_bic) and not g.decisive
