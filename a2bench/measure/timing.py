"""Latency of a forward pass: first call, settled warm-up, then sampling until the median is known.

CPU: torch.utils.benchmark.Timer at an explicit thread count. Its adaptive_autorange gives blocks
of a calibrated size; a2bench keeps adding blocks until the 95% confidence interval of the median
(a distribution-free order-statistic interval) is narrower than `ci_target` of the median, or the
time budget runs out.
CUDA: per-iteration CUDA events, synchronisation only outside the timed region, and an L2 flush
sized from the device's L2 between iterations (kept out of the timed region) unless warm_cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.benchmark import Timer

from a2bench.stats import ci_is_tight, iqr, median_ci

Forward = Callable[[], object]

SETTLE_TOLERANCE = 0.05  # warm-up ends when two consecutive medians agree this closely
MAX_WARMUP_ROUNDS = 8


@dataclass(frozen=True)
class Timing:
    first_call_s: float
    samples_s: tuple[float, ...]  # per-call seconds, one per timed block (CPU) or iteration (CUDA)
    timed_s: float  # wall seconds spent inside timed regions

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


def _l2_flusher(device: torch.device) -> Callable[[], None]:
    l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 64 * 2**20
    buffer = torch.empty(2 * l2, dtype=torch.int8, device=device)
    return lambda: buffer.zero_()


def time_cuda(forward: Forward, ci_target: float = 0.02, budget_s: float = 1.0,
              warm_cache: bool = False, chunk: int = 20) -> Timing:
    device = torch.device("cuda", torch.cuda.current_device())
    flush = (lambda: None) if warm_cache else _l2_flusher(device)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    forward()  # cuDNN/cuBLAS choose algorithms and lazy modules load here
    end.record()
    torch.cuda.synchronize()
    first = start.elapsed_time(end) / 1e3

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
