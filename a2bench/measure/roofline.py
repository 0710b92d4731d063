"""Machine ceilings measured in the same run: GEMM throughput, memory bandwidth, a reference kernel.

The CLI calibrates at the start of a sweep and again at its end; the two disagreeing says the
machine changed under the sweep (clocks, thermal limits, other load).

The reference kernel is timed in the worker right before every case, so a comparison of two runs
can divide out a machine that is uniformly slower (a2bench compare --normalize).
"""

from __future__ import annotations

import math
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import torch
from torch.utils.benchmark import Timer

from a2bench.measure.dtypes import DTYPES

# Several sizes: the ceiling is the best of them, and a size that falls out of a cache level or
# under-fills the cores shows in the per-size table instead of lowering the ceiling unseen.
GEMM_SIZES = {"cpu": (512, 1024, 2048), "cuda": (2048, 4096, 8192)}
# A size whose single product outlasts this many timing windows (min_time_s each) ends the
# sweep of sizes: a bigger product is no better timed, only slower. At the default 0.5 s that
# is 1 s, which a dtype the processor only emulates reaches (bf16 without AVX-512 BF16 runs near
# 1 GFLOP/s here) before it would spend minutes on a 2048³ product.
MAX_GEMM_CALL_WINDOWS = 2.0
COPY_BYTES = 256 * 2**20
COPY_MIN_TIME_S = 0.25
REFERENCE_SIZE = 256


def _median(stmt: str, env: dict[str, Any], threads: int, min_run_time: float) -> float:
    return Timer(stmt=stmt, globals=env, num_threads=threads).blocked_autorange(
        min_run_time=min_run_time).median


def _clock(device: str) -> Callable[[], float]:
    if device != "cuda":
        return timeit.default_timer

    def synced() -> float:  # the kernels queued so far end inside the timing that queued them
        torch.cuda.synchronize()
        return timeit.default_timer()

    return synced


def best_of(stmt: str, env: dict[str, Any], device: str, min_time_s: float,
            repeats: int) -> dict[str, Any]:
    """Best per-call time of `stmt` over `repeats` timings of at least `min_time_s` each.

    The stdlib timeit, not torch's Timer.timeit: that one runs two untimed calls before every
    timing, which triples the cost of a 2048 GEMM on one thread. The best, not the median: a
    ceiling is what the machine can do, and everything that disturbs a timing only slows it.
    """
    timer = timeit.Timer(stmt, timer=_clock(device), globals=env)
    # One untimed call first: first-touch page faults and kernel selection can make it many
    # times slower than the rest, and `number` calibrated on it would leave timings too short.
    timer.timeit(1)
    number = 1
    while True:  # calibrate `number`
        total = timer.timeit(number)
        if total >= min_time_s:
            break
        grow = math.ceil(number * 1.2 * min_time_s / max(total, 1e-9))
        number = min(10 * number, max(2 * number, grow))
    # The calibrating timing that reached min_time_s is a valid timing; a warm-up cost left in
    # it can only make it slower, never better than the best.
    totals = [total] + [timer.timeit(number) for _ in range(repeats - 1)]
    per_call = [t / number for t in totals]
    return {"best_s": min(per_call), "timings": per_call, "number": number,
            "min_time_s": min_time_s}


def calibrate(device: str, dtype: str, threads: int, min_time_s: float = 0.5,
              repeats: int = 5, sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Peak-ish GEMM FLOP/s (the best over several sizes: GEMM_SIZES, or `sizes`) and copy
    bandwidth at these settings."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        dt = DTYPES[dtype]
        gemm: list[dict[str, Any]] = []
        skipped: list[int] = []
        for size in sizes or GEMM_SIZES.get(device, GEMM_SIZES["cpu"]):
            if gemm and gemm[-1]["best_s"] > MAX_GEMM_CALL_WINDOWS * min_time_s:
                skipped.append(size)
                continue
            a = torch.randn(size, size, device=device).to(dt)
            b = torch.randn(size, size, device=device).to(dt)
            timed = best_of("torch.mm(a, b)", {"torch": torch, "a": a, "b": b}, device,
                            min_time_s, repeats)
            gemm.append({"size": size, **timed, "flops_per_s": 2 * size**3 / timed["best_s"]})
            del a, b
        best = max(gemm, key=lambda g: g["flops_per_s"])
        probe = torch.empty((), dtype=dt)
        elements = COPY_BYTES // probe.element_size()
        src = torch.ones(elements, device=device, dtype=dt)
        dst = torch.empty_like(src)
        copy = best_of("dst.copy_(src)", {"dst": dst, "src": src}, device,
                       min(min_time_s, COPY_MIN_TIME_S), repeats)
        moved = 2 * elements * probe.element_size()  # read + write
        return {
            "device": device,
            "dtype": dtype,
            "threads": threads,
            "at": at,
            "gemm_size": best["size"],
            "gemm_flops_per_s": best["flops_per_s"],
            "gemm": gemm,
            **({"gemm_sizes_skipped": skipped,
                "gemm_skip_reason": f"one product of the previous size took over "
                                    f"{MAX_GEMM_CALL_WINDOWS * min_time_s:g} s"}
               if skipped else {}),
            "copy_bytes": moved,
            "bandwidth_bytes_per_s": moved / copy["best_s"],
            "copy": copy,
        }
    finally:
        torch.set_num_threads(previous_threads)


class ReferenceKernel:
    """A fixed matmul timed beside each case; its drift is the machine's, not the code's."""

    def __init__(self, device: str, threads: int):
        self.a = torch.randn(REFERENCE_SIZE, REFERENCE_SIZE, device=device)
        self.threads = threads

    def median_s(self) -> float:
        return _median("torch.mm(a, a)", {"torch": torch, "a": self.a}, self.threads, 0.05)
