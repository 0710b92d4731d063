"""Latency of a forward pass: first call, settled warm-up, then sampling until the median is known.

CPU: torch.utils.benchmark.Timer at an explicit thread count. Its adaptive_autorange gives blocks
of a calibrated size; a2bench keeps adding blocks until the 95% confidence interval of the median
(a distribution-free order-statistic interval) is narrower than `ci_target` of the median, or the
time budget runs out.
CUDA: per-iteration CUDA events, synchronisation only outside the timed region, and an L2 flush
sized from the device's L2 between iterations (kept out of the timed region) unless warm_cache.

Interleaved (CPU, `a2bench run --interleave`): the cases of a pass are timed together, in
chunks of about INTERLEAVE_CHUNK_S, shuffled from a seed. A shared machine runs at one speed for
seconds and then at another (this project's 2-core VM: a fixed GEMM reads 1.0x, then 1.3x, in
episodes of 1-10 s). Timed one after another, each case's second of samples lands in whatever
episode was running, and the sizes of a scaling sweep get different slowdowns: scatter about
the fitted line that more samples do not remove. Timed in shuffled chunks, every case samples
the same mix of episodes, so the slowdown is common to all sizes and drops out of the exponent.
An auto run's chunks last at least its window's slowest call, so that every size's low quantile
is taken at one timescale too (measure/chunks.py).
"""

from __future__ import annotations

import random
import time
import timeit
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch.utils.benchmark import Timer

from a2bench.measure.chunks import INTERLEAVE_CHUNK_S, chunk_plan
from a2bench.stats import MIN_SAMPLES, ci_is_tight, iqr, median_ci

Forward = Callable[[], object]
K = TypeVar("K", bound=Hashable)

SETTLE_TOLERANCE = 0.05  # warm-up ends when two consecutive medians agree this closely
MAX_WARMUP_ROUNDS = 8
PREPARE_ESTIMATE_S = 0.02  # calls timed to size a case's chunks
MAX_CUDA_CHUNK = 20  # CUDA iterations queued per synchronisation (cuda_chunk)


@dataclass(frozen=True)
class Timing:
    first_call_s: float
    samples_s: tuple[float, ...]  # per-call seconds, one per timed block (CPU) or iteration (CUDA)
    timed_s: float  # wall seconds spent inside timed regions
    # Wall seconds spent on the case before measure_case was handed this Timing (an interleaved
    # case's build, first call, estimate and chunks), which measure_case adds to its own wall
    # clock so that a case's wall_s holds its timed_s; 0 where the timing ran inside that clock.
    spent_s: float = 0.0

    @property
    def median_s(self) -> float:
        return float(np.median(self.samples_s))

    @property
    def iqr_s(self) -> float:
        return iqr(self.samples_s)

    @property
    def median_ci_s(self) -> tuple[float, float]:
        return median_ci(self.samples_s)


def time_cpu(forward: Forward, threads: int, ci_target: float = 0.02,
             budget_s: float = 1.0) -> Timing:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    forward()  # first call of this shape: oneDNN builds its kernels here
    first = time.perf_counter() - start

    timer = Timer(stmt="forward()", globals={"forward": forward}, num_threads=threads)
    chunk = max(budget_s / 10, 0.01)
    previous = None
    # Capped: a slow shape has settled after a call or two, and more would only cost wall time.
    warmup_deadline = time.perf_counter() + budget_s / 4
    for _ in range(MAX_WARMUP_ROUNDS):
        median = timer.blocked_autorange(min_run_time=chunk / 2).median
        settled = previous is not None and abs(median - previous) <= SETTLE_TOLERANCE * previous
        if settled or time.perf_counter() >= warmup_deadline:
            break
        previous = median

    samples: list[float] = []
    timed = 0.0
    deadline = time.perf_counter() + budget_s
    while True:
        remaining = deadline - time.perf_counter()
        m = timer.adaptive_autorange(threshold=ci_target, min_run_time=min(chunk, remaining),
                                     max_run_time=max(remaining, chunk))
        samples.extend(m.times)
        timed += sum(m.raw_times)
        if ci_is_tight(samples, ci_target) or time.perf_counter() >= deadline:
            break
    return Timing(first, tuple(samples), timed)


@dataclass(frozen=True)
class Prepared:
    """A forward with its first call timed and its per-call time estimated, waiting to be timed
    with the others of its pass."""

    forward: Forward
    grad: bool  # autograd on during its calls (a training step) or off
    first_call_s: float
    per_call_s: float  # from calls lasting PREPARE_ESTIMATE_S: what the chunk plan is sized from
    spent_s: float = 0.0  # wall seconds preparing it took (worker.prepare: its build included)


def prepare_cpu(forward: Forward, grad: bool, threads: int,
                estimate_s: float = PREPARE_ESTIMATE_S) -> Prepared:
    """The first call, timed alone; then calls, doubling in number, until they last estimate_s:
    the per-call time the chunk plan is sized from.

    No settle-until-stable warm-up as in time_cpu: a case's first chunks are its warm-up here,
    and the low quantile the fits read is not moved by a slow chunk or two.
    """
    torch.set_num_threads(threads)
    with torch.set_grad_enabled(grad):
        start = time.perf_counter()
        forward()
        first = time.perf_counter() - start
        calls = 1
        while True:
            start = time.perf_counter()
            for _ in range(calls):
                forward()
            elapsed = time.perf_counter() - start
            if elapsed >= estimate_s:
                return Prepared(forward, grad, first, elapsed / calls)
            calls *= 2


def time_cpu_interleaved(prepared: Mapping[K, Prepared], threads: int, budget_s: float,
                         seed: int, chunk_s: float = INTERLEAVE_CHUNK_S
                         ) -> tuple[dict[K, Timing], dict[K, BaseException]]:
    """Every prepared forward timed in chunks dealt in one random order (see the module notes).

    Each gets chunk_plan's chunks, about budget_s of calls; the order is drawn from ``seed``. A
    forward that raises is left out, with its exception, and the others go on. An auto run
    passes its window's slowest predicted call as `chunk_s` (chunks.batch_chunk_s).
    """
    torch.set_num_threads(threads)
    plan = {key: chunk_plan(p.per_call_s, budget_s, chunk_s) for key, p in prepared.items()}
    # The chunks run on the standard library's timer, the one torch's Timer wraps: torch's
    # Timer.timeit first makes two untimed calls of its own, which would triple the cost of a
    # chunk of one slow call. The thread count is set above, as torch's Timer would set it.
    clocks = {key: timeit.Timer(stmt="forward()", globals={"forward": p.forward})
              for key, p in prepared.items()}
    deal = [key for key in prepared for _ in range(plan[key][1])]
    random.Random(seed).shuffle(deal)
    samples: dict[K, list[float]] = {key: [] for key in prepared}
    timed = dict.fromkeys(prepared, 0.0)
    spent = {key: p.spent_s for key, p in prepared.items()}  # the chunks' wall time added below
    failed: dict[K, BaseException] = {}
    for key in deal:
        if key in failed:
            continue
        calls = plan[key][0]
        start = time.perf_counter()
        try:
            with torch.set_grad_enabled(prepared[key].grad):
                seconds = clocks[key].timeit(calls)
        except Exception as exc:
            failed[key] = exc
            continue
        finally:
            spent[key] += time.perf_counter() - start
        samples[key].append(seconds / calls)
        timed[key] += seconds
    return ({key: Timing(p.first_call_s, tuple(samples[key]), timed[key], spent[key])
             for key, p in prepared.items() if key not in failed}, failed)


def _l2_flusher(device: torch.device) -> Callable[[], None]:
    l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 64 * 2**20
    buffer = torch.empty(2 * l2, dtype=torch.int8, device=device)
    return lambda: buffer.zero_()


def cuda_chunk(per_call_s: float, budget_s: float) -> int:
    """Iterations per synchronised chunk of time_cuda.

    Up to MAX_CUDA_CHUNK, so that a fast call is queued many times per synchronisation; but a
    slow call's chunk lasts about a tenth of the budget, never fewer than the MIN_SAMPLES the
    median's interval needs. A fixed 20 queued at least 40 calls (a warm-up chunk and a sampled
    one) whatever the budget: for the GPU sweep's slowest case, the non-local order at N = 65536
    (8.8 TFLOP a call, over 0.13 s at an H100's 67 TFLOP/s float32 peak), over 5 s against a
    0.3 s budget.
    """
    if not per_call_s > 0:
        return MAX_CUDA_CHUNK
    return int(min(MAX_CUDA_CHUNK, max(MIN_SAMPLES, round(budget_s / 10 / per_call_s))))


def time_cuda(forward: Forward, ci_target: float = 0.02, budget_s: float = 1.0,
              warm_cache: bool = False, chunk: int | None = None) -> Timing:
    """chunk: iterations per synchronisation; by default cuda_chunk of one warm call."""
    device = torch.device("cuda", torch.cuda.current_device())
    flush = (lambda: None) if warm_cache else _l2_flusher(device)

    def one_call() -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        forward()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3

    first = one_call()  # cuDNN/cuBLAS choose algorithms and lazy modules load here
    if chunk is None:
        flush()
        chunk = cuda_chunk(one_call(), budget_s)

    def run_chunk(n: int) -> list[float]:
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(n)]
        for s, e in events:
            flush()  # outside the timed region: the flush is queued before the start event
            s.record()
            forward()
            e.record()
        torch.cuda.synchronize()
        return [s.elapsed_time(e) / 1e3 for s, e in events]

    previous = None
    warmup_deadline = time.perf_counter() + budget_s / 4
    for _ in range(MAX_WARMUP_ROUNDS):
        median = float(np.median(run_chunk(chunk)))
        settled = previous is not None and abs(median - previous) <= SETTLE_TOLERANCE * previous
        if settled or time.perf_counter() >= warmup_deadline:
            break
        previous = median

    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while True:
        samples.extend(run_chunk(chunk))
        if ci_is_tight(samples, ci_target) or time.perf_counter() >= deadline:
            break
    return Timing(first, tuple(samples), float(sum(samples)))


def cuda_flags() -> dict[str, object]:
    """Fix the numerics flags that change which kernels run, and say what they are."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = False
    return {
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
    }
