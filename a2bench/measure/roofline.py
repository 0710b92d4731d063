"""Machine ceilings measured in the same run: GEMM throughput, memory bandwidth, a reference kernel.

The reference kernel is timed in the worker right before every case, so a comparison of two runs
can divide out a machine that is uniformly slower (a2bench compare --normalize).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.benchmark import Timer

from a2bench.blocks import DTYPES

GEMM_SIZE = 1024
COPY_BYTES = 256 * 2**20
REFERENCE_SIZE = 256


def _median(stmt: str, env: dict[str, Any], threads: int, min_run_time: float) -> float:
    return Timer(stmt=stmt, globals=env, num_threads=threads).blocked_autorange(
        min_run_time=min_run_time).median


def calibrate(device: str, dtype: str, threads: int) -> dict[str, Any]:
    """Peak-ish GEMM FLOP/s and copy bandwidth of this device at these settings."""
    dt = DTYPES[dtype]
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, device=device).to(dt)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE, device=device).to(dt)
    gemm_s = _median("torch.mm(a, b)", {"torch": torch, "a": a, "b": b}, threads, 0.25)
    elements = COPY_BYTES // a.element_size()
    src = torch.ones(elements, device=device, dtype=dt)
    dst = torch.empty_like(src)
    copy_s = _median("dst.copy_(src)", {"dst": dst, "src": src}, threads, 0.25)
    return {
        "device": device,
        "dtype": dtype,
        "threads": threads,
        "gemm_size": GEMM_SIZE,
        "gemm_flops_per_s": 2 * GEMM_SIZE**3 / gemm_s,
        "copy_bytes": 2 * elements * a.element_size(),  # read + write
        "bandwidth_bytes_per_s": 2 * elements * a.element_size() / copy_s,
    }


class ReferenceKernel:
    """A fixed matmul timed beside each case; its drift is the machine's, not the code's."""

    def __init__(self, device: str, threads: int):
        self.a = torch.randn(REFERENCE_SIZE, REFERENCE_SIZE, device=device)
        self.threads = threads

    def median_s(self) -> float:
        return _median("torch.mm(a, a)", {"torch": torch, "a": self.a}, self.threads, 0.05)
