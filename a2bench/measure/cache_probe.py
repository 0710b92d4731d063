"""The last-level cache a process actually gets, measured: copy bandwidth against buffer size.

sysfs names the caches of the chip; a virtual machine or a shared host gives a tenant a share of
the last level that nothing reports (a 2-core VM here reports a 480 MiB L3, and its block
timings bend near 16-32 MiB). Copy bandwidth over doubling buffers falls from a cache plateau to
the DRAM floor; the largest buffer still clearly above the floor marks the cache's reach.
"""

from __future__ import annotations

from typing import Any

import torch

from a2bench.measure.roofline import best_of

SMALLEST = 256 * 2**10  # bytes per buffer (two buffers: source and destination)
LARGEST = 512 * 2**20
ABOVE_FLOOR = 1.6  # a buffer this much faster than DRAM still lives in a cache
MIN_TIME_S = 0.02


def probe(device: str, threads: int, memory_budget: int | None = None) -> dict[str, Any]:
    """Copy bandwidth per buffer size, and the effective last-level cache in bytes: one buffer
    of the largest copy still well above the floor. A copy streams; a block's kernels revisit
    their tensors and share the cache with weights and scratch, and on this repository's VM
    its timings bend where the working set passes one such buffer, not two."""
    if device != "cpu":
        return {"skipped": "CUDA's L2 is the device's own; torch reports it"}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        sizes, rates = [], []
        size = SMALLEST
        cap = min(LARGEST, (memory_budget or 8 * LARGEST) // 8)
        while size <= cap:
            src = torch.ones(size // 4, dtype=torch.float32)
            dst = torch.empty_like(src)
            best = best_of("dst.copy_(src)", {"dst": dst, "src": src}, device, MIN_TIME_S, 3)
            sizes.append(size)
            rates.append(2 * size / best["best_s"])
            size *= 2
            del src, dst
    finally:
        torch.set_num_threads(previous)
    return {"sizes": sizes, "bandwidth_bytes_per_s": rates, "llc_bytes": llc_from(sizes, rates)}


def llc_from(sizes: list[int], rates: list[float]) -> int | None:
    """The largest buffer whose copy is still ABOVE_FLOOR times the DRAM floor (the median of
    the three largest), where the floor was reached; None when the sweep never left the cache.
    The median, not the slower of the two largest: DRAM's copies scattered 23-41 GB/s on a
    shared VM, and a floor of the slowest put the 512 MiB buffer's 39 above 1.6x it, so the
    probe read "never left the cache" in one run of a suite and 16 MiB in the plan before it.
    Where only the largest reached DRAM, the median is a cache's rate: the slower of the two."""
    if len(rates) < 4:
        return None
    floor = sorted(rates[-3:])[1]
    if floor > ABOVE_FLOOR * rates[-1]:  # the largest alone reached DRAM: the median is a cache's
        floor = min(rates[-2:])
    fast = [s for s, r in zip(sizes, rates, strict=True) if r >= ABOVE_FLOOR * floor]
    return max(fast) if fast and max(fast) < sizes[-2] else None
