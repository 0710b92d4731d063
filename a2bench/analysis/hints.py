"""What a run could change to decide what its headline left undecided: hints, as data.

The headline names what is missing; a hint names the remedy where the run's own settings, not
the block, left a latency verdict undecided: the sizes a suite fixed (not for a run whose sizes
a2bench chose for its machine, whose plan says what its budget lacked), the threads (for any
run: auto sizes at 2 threads read double attention 0.91 too), or, for an auto run whose
planned window stayed undecided, the budget that buys a wider span.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from a2bench.analysis.autosizes import needed_budget
from a2bench.fitting import MIN_WINDOW, SHORT_WINDOW

# A suite's fixed sizes left a latency window short on this machine or dtype: auto sizes are
# chosen for the machine that runs them (the default suite in bfloat16 on an AMX CPU kept 2
# and 4 sizes).
AUTO_HINT = ("`h: auto` and `w: auto` (or `t: auto`) in the suite size N for this machine "
             "(`a2bench plan SUITE` shows the sizes)")
# More threads pay more at large sizes than at small ones, so a latency exponent falls with
# them: the default suite at 2 threads read the non-local order 1.65 against 1.76-1.81 at one,
# and auto sizes did not undo it (double attention 0.91 at 2 threads; results/
# cpu-default-threads-2). One thread measures each size's own growth.
THREADS_HINT = ("measured at {threads} threads, which gain more at large sizes than at small "
                "ones and lower a latency exponent (results/cpu-default-threads-2): "
                "`--threads 1` (or `threads: 1` in the suite) measures each size on one core")


# An auto-sized run whose latency stayed undecided in a window it had: its planner spends more
# budget on a wider span of N first, which raises ΔBIC and narrows the interval; more passes
# alone narrow it without raising ΔBIC, and the plan trades span for them (a run at
# --processes 5 on the same budget read ΔBIC 5.9 over a 3.5x span, with budget left).
BUDGET_HINT = ("the sizes were chosen for a {budget:g} s budget: a larger `--budget` (say "
               "{more}) buys a wider span of N first, which separates the classes; more "
               "`--processes` alone narrow an interval but do not raise ΔBIC")


def run_hints(latency: Sequence[Mapping[str, Any]], gaps: Sequence[str],
              environment: Mapping[str, Any], device: str) -> list[str]:
    """The hints of one run: `latency` its judged blocks' latency fits along positions
    (exponent, expected, verdict), `gaps` what its headline found missing."""
    out = []
    if not environment.get("auto_sizes") and any(f"latency: {SHORT_WINDOW}" in gap
                                                 for gap in gaps):
        out.append(AUTO_HINT)
    threads = int(environment.get("threads") or 1)
    below = [f for f in latency if f.get("verdict") in ("inconclusive", "contradicted")
             and _finite(f.get("exponent")) and _finite(f.get("expected"))
             and f["exponent"] < f["expected"]]
    if device == "cpu" and threads > 1 and below:
        out.append(THREADS_HINT.format(threads=threads))
    auto = environment.get("auto_sizes") or {}
    budget, needed = auto.get("budget_s"), needed_budget(auto)
    planned = {str((g.get("template") or {}).get("block")) for g in auto.get("groups") or ()}
    # a window it had (not one too small, nor a plan the budget fell short of: its own line
    # names the budget it needs, or that none affords one), of a block whose sizes were planned
    undecided = [f for f in latency if f.get("verdict") == "inconclusive"
                 and (f.get("points") or 0) >= MIN_WINDOW
                 and str(f.get("block")).partition("[")[0] in planned]
    none_affords = needed is not None and not _finite(needed)
    if _finite(budget) and undecided and not none_affords:
        # in whole seconds, rounded up as the plan's own line says it: "(say 167.868)" had
        # stood beside "--budget 168"
        more = math.ceil(max(2 * budget, needed) if _finite(needed) else 2 * budget)
        out.append(BUDGET_HINT.format(budget=budget, more=more))
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
