"""What measuring a case costs in wall time, as the planner prices a window of sizes.

A case's pass is its timed calls (the time budget, cut into chunks as measure/chunks.py cuts
them), its extra calls (building, first call, probes) and a fixed cost. Pure; the planner
(plan.py) and the narrowing rounds (autosize.py) sum it over a window's sizes. `machine` is a
plan.Machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from a2bench.measure import chunks

if TYPE_CHECKING:
    from a2bench.run.plan import Machine

# What a case costs besides its timed calls, per pass: building it twice (the interleaved stage
# and the case), its first calls, the memory probes (profiled calls); the first pass also runs
# the counters, the output check and the dtype probe. Measured on a held-out auto run of
# docs/running.md (18 cases whose calls summed to 5.7 s, 21 s timed per pass): later passes took
# 109-119 s, about 14 calls of each case besides its timed ones, the first 155 s, about 22.
CASE_FIXED_S = 0.3
CASE_EXTRA_CALLS = 14
FIRST_PASS_EXTRA_CALLS = 8
# A later pass of an auto run probes no memory (the first pass's peaks hold: Settings'
# memory_every_pass): building twice, the first call and the call that sizes its chunks.
TIMING_PASS_EXTRA_CALLS = 4
MIN_TIMED_CALLS = 3  # calls a case gets per pass however long (chunks.MIN_CHUNKS)


def timed_s(predicted_s: float, machine: Machine, longest_s: float = 0.0) -> float:
    """Seconds of timed calls a case gets in one pass: the time budget, MIN_TIMED_CALLS calls at
    least. With matched chunks (an auto run on a CPU), its calls are cut into chunks as long as
    the window's slowest call (`longest_s`), up to a third of the budget (chunks.batch_chunk_s):
    about what 0.05 s chunks cost, give or take the rounding of calls to a chunk."""
    if machine.matched_chunks:
        chunk = chunks.batch_chunk_s((predicted_s, longest_s), machine.time_budget_s)
        return chunks.timed_s(predicted_s, machine.time_budget_s, chunk)
    return max(machine.time_budget_s, MIN_TIMED_CALLS * predicted_s)


def case_wall_s(predicted_s: float, machine: Machine, passes: int | None = None,
                first: bool = True, longest_s: float = 0.0) -> float:
    """What measuring one case costs in wall time over its passes (`first`: they include its
    first, which counts; `longest_s`: its window's slowest call, for matched chunks)."""
    timed = timed_s(predicted_s, machine, longest_s)
    n = passes or machine.passes
    extra = ((machine.extra_calls(True) if first else machine.extra_calls(False))
             + (n - 1) * machine.extra_calls(False))
    return n * (timed + CASE_FIXED_S) + extra * predicted_s


def window_wall_s(seconds: Sequence[float], machine: Machine, passes: int | None = None,
                  first: bool = True) -> float:
    """What measuring a window's sizes costs (their predicted calls `seconds`), timed together."""
    longest = max(seconds, default=0.0)
    return sum(case_wall_s(s, machine, passes, first, longest) for s in seconds)


def timed_calls(seconds: Sequence[float], machine: Machine) -> list[float]:
    """Each size's timed calls over the passes, its window timed together."""
    longest = max(seconds, default=0.0)
    return [machine.passes * timed_s(s, machine, longest) / max(s, 1e-9) for s in seconds]


def calls_per_case(machine: Machine) -> float:
    """The calls a slow case costs over all its passes, timed or not: a case whose call
    takes s seconds costs about s times this."""
    return (machine.passes * MIN_TIMED_CALLS + machine.extra_calls(True)
            + (machine.passes - 1) * machine.extra_calls(False))
