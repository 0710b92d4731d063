"""How an interleaved pass cuts each case's timed calls into chunks. Pure: the planner prices a
pass with the same arithmetic the worker times it with (run/walltime.py, measure/timing.py).

Why chunks as long as a window's slowest call, up to a third of the time budget (an auto run's
batches, `batch_chunk_s`): a pass reads a size's latency as a low order statistic of its
chunks (fitting.summary_of, their expected fastest of 3; a 10 % quantile until commit 844ed25),
and such a statistic depends on the timescale it is taken at. A shared
machine also runs fast for a moment: a chunk of 0.05 s can land inside such a moment, a call of
1 s only averages over it. So a window whose small sizes were timed in 0.05 s chunks and whose
large ones in single 1 s calls read its small sizes fast and grew too steeply: on a held-out run
of docs/running.md the non-local block at side 68 (calls of 0.06 s) read 76 GFLOP/s at its 10 %
quantile against a median of 59, 58 at its largest sizes (calls of 0.5-0.8 s), and all three
blocks of that run came out steeper than their models (non-local 2.15, GC 1.10, criss-cross
1.58, inconclusive). With every size timed in chunks of one length, each chunk averages the
machine over the same time, the quantile lands the same way at every size, and it drops out of
the exponent.

Up to a third of the time budget, not further: past it a fast size's MIN_CHUNKS chunks would
cost it more than its budget (3 chunks of 1 s against 1 s), a window's first passes up to 1.8x,
and left the narrowing rounds no time (on the held-out runs of docs/running.md). The moments of
speed were short: in that run the non-local block's 10 % quantile sat 0.77, 0.89, 0.94, 0.99 and
0.98 of its median at calls of 0.06, 0.10, 0.16, 0.25 and 0.47 s, so chunks of a third of a
second (the default 1 s budget) already average them out.
"""

from __future__ import annotations

from collections.abc import Iterable

# One interleaved chunk: much shorter than the machine's speed episodes (seconds), long enough
# that the switch between cases (a Timer call, a few microseconds) is noise.
INTERLEAVE_CHUNK_S = 0.05
MIN_CHUNKS = 3  # even a case whose one call outlasts its budget is sampled at 3 moments


def chunk_plan(per_call_s: float, budget_s: float,
               chunk_s: float = INTERLEAVE_CHUNK_S) -> tuple[int, int]:
    """(calls per chunk, chunks) so that the chunks add up to about budget_s of calls."""
    if not per_call_s > 0:
        return 1, MIN_CHUNKS
    calls = max(1, round(chunk_s / per_call_s))
    return calls, max(MIN_CHUNKS, round(budget_s / (calls * per_call_s)))


def batch_chunk_s(per_call_s: Iterable[float], budget_s: float,
                  chunk_s: float = INTERLEAVE_CHUNK_S) -> float:
    """The chunk length of a window timed together: its slowest call, at most a third of the
    time budget, `chunk_s` at least (see the module notes). The calls are the plan's
    predictions: a worker's own estimate of a slow case's call, from its second call in a fresh
    process, can be 10x its warm calls (a 1 GB case whose pages the host faults in), and made
    every chunk of one window 10 s long."""
    slowest = max([0.0, *(s for s in per_call_s if s > 0)])
    return max(chunk_s, min(slowest, budget_s / MIN_CHUNKS))


def timed_s(per_call_s: float, budget_s: float, chunk_s: float = INTERLEAVE_CHUNK_S) -> float:
    """Seconds of calls chunk_plan gives a case in one pass."""
    calls, chunks = chunk_plan(per_call_s, budget_s, chunk_s)
    return calls * chunks * max(per_call_s, 0.0)
