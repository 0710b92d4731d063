"""The last-level cache a process actually gets, measured: copy bandwidth against buffer size.

sysfs names the caches of the chip; a virtual machine or a shared host gives a tenant a share of
the last level that nothing reports (a 2-core VM here reports a 480 MiB L3, and its block
timings bend near 16-32 MiB). Copy bandwidth over doubling buffers falls from a cache plateau to
the DRAM floor; the largest buffer still clearly above the floor marks the cache's reach.

On a loaded machine one sweep's reading moved by a factor of 2-8 from call to call (8, 64, 8,
32 and 8 MiB in five calls, where sysfs names a 32 MiB L3), and the plans built on it with it.
So the sweep runs ROUNDS times, interleaved (every size once a round), each size keeping its
best rate: what disturbs a copy only slows it; and the planner keeps the OS's figure wherever
the reading agrees with it within the probe's resolution (planned_caches).
"""

from __future__ import annotations

import timeit
from collections.abc import Mapping
from typing import Any

import torch

from a2bench.formatting import format_bytes

SMALLEST = 256 * 2**10  # bytes per buffer (two buffers: source and destination)
LARGEST = 512 * 2**20
ABOVE_FLOOR = 1.6  # a buffer this much faster than DRAM still lives in a cache
MIN_TIME_S = 0.02  # per timing of a size
ROUNDS = 5  # sweeps over the sizes, interleaved; each size keeps its best rate
# A reading this far under the OS's last level, or closer, agrees with it: a copy of one buffer
# fills two, and a loaded machine's reading moves by a doubling either way. Only one further
# under replaces it (a VM's 32 MiB against the 480 MiB its sysfs names).
AGREES = 4


def probe(device: str, threads: int, memory_budget: int | None = None) -> dict[str, Any]:
    """Copy bandwidth per buffer size (the best of ROUNDS interleaved sweeps), and the
    effective last-level cache in bytes: one buffer of the largest copy still well above the
    floor. A copy streams; a block's kernels revisit their tensors and share the cache with
    weights and scratch, and on this repository's VM its timings bend where the working set
    passes one such buffer, not two. The buffers are prefixes of one pair of the largest size,
    allocated and touched once."""
    if device != "cpu":
        return {"skipped": "CUDA's L2 is the device's own; torch reports it"}
    cap = min(LARGEST, (memory_budget or 8 * LARGEST) // 8)
    sizes = []
    while SMALLEST * 2 ** len(sizes) <= cap:
        sizes.append(SMALLEST * 2 ** len(sizes))
    if not sizes:
        return {"sizes": [], "bandwidth_bytes_per_s": [], "llc_bytes": None, "rounds": 0}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        src = torch.ones(sizes[-1] // 4, dtype=torch.float32)
        dst = torch.empty_like(src)
        dst.copy_(src)  # first touch: page faults are no copy's
        timers = [timeit.Timer("d.copy_(s)", globals={"d": dst[:n // 4], "s": src[:n // 4]})
                  for n in sizes]
        # the calibrating timing that reached MIN_TIME_S is the first round's
        numbers, best = map(list, zip(*(_calls(t) for t in timers), strict=True))
        for _ in range(ROUNDS - 1):
            for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
                if number > 1:  # a short copy: one untimed call brings its buffers back in
                    timer.timeit(1)
                best[i] = min(best[i], timer.timeit(number) / number)
        del src, dst, timers
    finally:
        torch.set_num_threads(previous)
    rates = [2 * size / s for size, s in zip(sizes, best, strict=True)]
    return {"sizes": sizes, "bandwidth_bytes_per_s": rates, "llc_bytes": llc_from(sizes, rates),
            "rounds": ROUNDS}


def _calls(timer: timeit.Timer) -> tuple[int, float]:
    """Calls per timing, so that one lasts MIN_TIME_S, and the per-call time of that timing."""
    number = 1
    while (total := timer.timeit(number)) < MIN_TIME_S:
        number = min(10 * number, max(2 * number, int(number * 1.2 * MIN_TIME_S
                                                      / max(total, 1e-9)) + 1))
    return number, total / number


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


def planned_caches(caches: Mapping[str, float], llc: float | None,
                   device: str = "cpu") -> tuple[dict[str, float], str]:
    """The caches a plan holds windows against, from the OS's (`caches`, sysfs) and the probe's
    reading (`llc`), and a line that says the last level's size and which of the two gave it.

    The reading replaces the OS's last level only where it lies well under it (AGREES): a
    tenant's share of a host's cache. One at or under an inner cache is that cache's step,
    read where the probe could not reach the last one (its buffers capped at an eighth of a
    small --memory-budget: at 256 MB, L2's step at 1 MiB read as the last level)."""
    caches = {str(k): float(v) for k, v in caches.items()
              if isinstance(v, (int, float)) and v > 0}
    if not caches:
        return caches, "no cache sizes known (the OS names none)"
    last = max(caches, key=lambda k: caches[k])
    size, inner = caches[last], max((v for k, v in caches.items() if k != last), default=0)
    if device != "cpu":
        return caches, _sizes(caches) + " (as the device reports them)"
    if llc and inner < llc < size / AGREES:
        kept = {k: v for k, v in caches.items() if k != last and v < llc}
        kept[f"{last} (measured)"] = float(llc)
        return kept, (_sizes(kept) + f" (the last measured by copy bandwidth, where the OS "
                      f"names {format_bytes(size)}, more than this process gets)")
    if not llc:
        read = "the copy-bandwidth probe gave no reading"
    elif llc <= inner:
        read = (f"the copy-bandwidth probe read {format_bytes(llc)}, an inner cache's step: "
                "its buffers stopped short of the last level")
    elif llc > size:
        read = f"the copy-bandwidth probe read {format_bytes(llc)}, more: the OS's figure stands"
    else:
        read = f"the copy-bandwidth probe's {format_bytes(llc)} agrees within its resolution"
    return caches, _sizes(caches) + f" (as the OS names them; {read})"


def _sizes(caches: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {format_bytes(v)}" for k, v in sorted(caches.items(),
                                                                 key=lambda kv: kv[1]))
