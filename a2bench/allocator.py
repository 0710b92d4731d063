"""What a device's allocator counts for one tensor: the block a measured peak is made of.

The memory models count tensor bytes. A measured peak counts what the allocator hands out, and
the two differ where the allocator rounds. Pure functions, no torch.

CUDA (torch's caching allocator, c10/cuda/CUDACachingAllocator.cpp, default settings, which is
what max_memory_allocated counts: each allocated block's size):
- Every request is rounded up to a multiple of 512 bytes (kMinBlockSize).
- A request of at most 1 MiB (kSmallSize) takes a block of a 2 MiB segment; what is left of the
  segment is split off whenever it is 512 bytes or more, so the block is the rounded request.
- A larger request below 10 MiB (kMinLargeAlloc) is carved from a 20 MiB segment (kLargeBuffer);
  the remainder is more than 1 MiB, so it is split off: the block is again the rounded request.
- A request of 10 MiB or more gets a segment of its size rounded up to 2 MiB (kRoundLarge).
  The remainder is split off only when it is more than 1 MiB (should_split), so a tensor whose
  size lies within 1 MiB below a multiple of 2 MiB holds the whole segment. An 11.25 MiB tensor
  counts 12 MiB; a 12.25 MiB one counts 12.25 MiB.

The rule is the fresh segment's. A freed block is reused best-fit by a later request, which
takes it whole under the same "more than 1 MiB is split off" rule; a tensor of the same size
as the one freed gets the same block, which is how the blocks here reuse memory. A request
that lands in a larger freed block differs from this rule by less than 1 MiB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

MIB = 1024 * 1024
CUDA_MIN_BLOCK = 512  # kMinBlockSize
CUDA_SMALL = MIB  # kSmallSize: the largest request served from the small pool
CUDA_MIN_LARGE_ALLOC = 10 * MIB  # kMinLargeAlloc
CUDA_ROUND_LARGE = 2 * MIB  # kRoundLarge


def _round_up(nbytes: int, to: int) -> int:
    return -(-nbytes // to) * to


def cuda_block_bytes(nbytes: int) -> int:
    """The block the CUDA caching allocator counts for a request of `nbytes` (module docstring);
    0 for nothing requested."""
    if nbytes <= 0:
        return 0
    rounded = _round_up(nbytes, CUDA_MIN_BLOCK)
    if rounded < CUDA_MIN_LARGE_ALLOC:
        return rounded
    segment = _round_up(rounded, CUDA_ROUND_LARGE)
    return segment if segment - rounded <= CUDA_SMALL else rounded


def exact_bytes(nbytes: int) -> int:
    """An allocator that hands out what was asked: the CPU tensor peak (the profiler's
    allocation events) counts the tensor bytes themselves."""
    return max(nbytes, 0)


def cuda_allowance_bytes(tensors: Sequence[int]) -> int:
    """How much more than their fresh-segment blocks (cuda_block_bytes) the tensors live at a
    peak may count: up to 1 MiB (CUDA_SMALL) for each one of more than 1 MiB, less what its
    fresh block already counts above its size. A freed block is handed whole to a later
    request it exceeds by 1 MiB or less (only a larger remainder is split off), so which
    block a tensor gets depends on what was freed before it, and the allocation order within
    a kernel is not modelled."""
    return sum(CUDA_SMALL - (cuda_block_bytes(t) - t) for t in tensors if t > CUDA_SMALL)


ALLOWANCE_REASON = {
    "cuda": "the CUDA caching allocator may hand each tensor of more than 1 MiB a freed block "
            "up to 1 MiB larger than it (only a larger remainder is split off), and which "
            "block depends on the order of allocations, which the model does not follow "
            "inside a kernel",
    # not the allocator's: the kernels' own (Term.allowance, onednn.onednn_amx_scratch)
    "cpu": "oneDNN's AMX kernels book scratchpad pages and weight blocks by a heuristic of the "
           "shape, and a 1x1 Conv2d's transposed rows, which the model holds at their least",
}


# By Case.device. A device not listed is counted in tensor bytes.
BLOCK_BYTES: dict[str, Callable[[int], int]] = {"cuda": cuda_block_bytes}


def block_bytes(device: str) -> Callable[[int], int]:
    """The rounding a measured peak on `device` is made of."""
    return BLOCK_BYTES.get(device, exact_bytes)


def allowance_bytes(device: str, tensors: Sequence[int]) -> int:
    """The declared allowance of a peak on `device` made of `tensors` (bytes each): what its
    allocator may add that the model cannot place (ALLOWANCE_REASON); 0 on the CPU."""
    return cuda_allowance_bytes(tensors) if device == "cuda" else 0


def fragmentation_bytes(device: str, largest_tensor: int) -> int:
    """What a case needs on `device` beyond its modelled peak to run without running out of
    memory: on CUDA the block of its largest tensor; 0 on the CPU.

    A freed block is handed best-fit to any later request and split when more than 1 MiB is
    left over (module docstring), so a smaller tensor can land in the block a large one left,
    and the next tensor of that large size needs a segment of its own while most of the old
    block stays reserved and unused. On the H200 (2026-12-04) the non-local order's train step
    at c 256, m = n = 128, N = 115,600 (a modelled peak of 100.0 GiB on a 139.8 GiB GPU) failed
    so: 50.5 GiB allocated, 49.4 GiB reserved but free, a 49.8 GiB N x N tensor asked for.
    The planner and the runner count this much more, so that the sizes they keep run."""
    return cuda_block_bytes(largest_tensor) if device == "cuda" else 0
