"""What the non-local block's fused attention kernels allocate on CUDA, beside their output: pure
functions of a case (and the kernel that ran), in elements of the case dtype, read from ATen's
sources and checked against the peaks measured on an H100 and an H200
(tests/test_cuda_memory_model.py). nonlocal_block's cost model places them in its terms.
"""

from __future__ import annotations

from a2bench.case import Case
from a2bench.cost import Term


def in_dtype_elements(elements_fp32: int, case: Case) -> int:
    """fp32 buffers of a bf16/fp16 case expressed in elements of the case dtype (fp64 keeps
    fp64 accumulators: one element each)."""
    size = case.dtype_bytes
    return elements_fp32 if size >= 4 else elements_fp32 * 4 // size


CUDA_KERNELS = ("flash", "efficient", "cudnn")
INT64_BYTES = 8


def int64_elements(count: int, case: Case) -> int:
    """`count` int64 values in elements of the case dtype (at least one element)."""
    return max(1, count * INT64_BYTES // case.dtype_bytes)


def lse_elements(case: Case, kernel: str) -> int:
    """The logsumexp the kernel keeps for its backward, (b, 1, N) in the accumulation dtype
    (fp32 for 16-bit inputs), in elements of the case dtype. The memory-efficient kernel pads
    each row to a multiple of 32 (kAlignLSE in ATen's attention.cu)."""
    rows = case.positions
    if kernel == "efficient":
        rows = -(-rows // 32) * 32
    return in_dtype_elements(case.batch * rows, case)


def rng_terms(case: Case, kernel: str) -> tuple[Term, ...]:
    """The small int64 tensors a CUDA kernel returns beside its output, each its own allocator
    block: cuDNN's philox seed and offset (one value each, made on the device whatever the
    dropout), the flash kernel's rng_state (two values). The memory-efficient kernel returns
    its seed and offset as CPU scalars: nothing on the device."""
    counts = {"cudnn": (("philox_seed", 1), ("philox_offset", 1)),
              "flash": (("rng_state", 2),)}.get(kernel, ())
    return tuple(Term(name, 0, 0, int64_elements(n, case), (name,), inputs=())
                 for name, n in counts)


# flash-attention 2's forward splits the keys among thread blocks when the query blocks alone
# would fill under 80 % of the GPU's slots (ATen's flash_api.cpp, mha_fwd: set_params_splitkv
# and num_splits_heuristic, without dropout); each split writes a partial output and
# logsumexp in fp32, and these two buffers live for the call. The choice reads the device's
# SM count: FLASH_SMS is the H100's and the H200's, the GPUs this project measures.
FLASH_SMS = 132
FLASH_SPLIT_QUERY_BLOCK = 64


def flash_splits(batch_heads: int, n_q: int, n_kv: int, head_dim: int,
                 sms: int = FLASH_SMS) -> int:
    """How many splits of the keys the CUDA flash kernel's forward makes (1: none), as
    num_splits_heuristic chooses: the fewest splits whose waves of work fill the GPU's 2 x SMs
    slots at least 85 % as well as the best eligible count does."""
    block_n = 256 if head_dim <= 64 else 128 if head_dim <= 128 else 64
    n_blocks = -(-n_kv // block_n)
    work = batch_heads * -(-n_q // FLASH_SPLIT_QUERY_BLOCK)
    slots = 2 * sms  # two thread blocks of 128 threads per SM
    if work >= 0.8 * slots:
        return 1
    # a count that gives each split as many key blocks as one split fewer would is no new count
    counts = [s for s in range(1, min(128, slots, n_blocks) + 1)
              if s == 1 or -(-n_blocks // s) != -(-n_blocks // (s - 1))]
    efficiency = {s: (work * s / slots) / -(-work * s // slots) for s in counts}
    best = max(efficiency.values())
    return next(s for s in counts if efficiency[s] >= 0.85 * best)


def flash_split_terms(case: Case, kernel: str, n_kv: int) -> tuple[Term, ...]:
    """The CUDA flash forward's split buffers (FLASH_SMS above), each its own allocator block:
    the partial logsumexps (splits, b, 1, N) and outputs (splits, b, 1, N, d rounded up to 32),
    in fp32, for `n_kv` keys; none when it does not split. They live until the call returns
    (the term after them frees them)."""
    d = int(case.param("inner"))
    splits = flash_splits(case.batch, case.positions, n_kv, d) if kernel == "flash" else 1
    if splits == 1:
        return ()
    rows = splits * case.batch * case.positions
    width = -(-d // 32) * 32 if d <= 192 else 256
    return (Term("flash_split_lse", 0, 0, in_dtype_elements(rows, case), (), inputs=()),
            Term("flash_split_out", 0, 0, in_dtype_elements(rows * width, case), (),
                 inputs=()))


# The memory-efficient backward's dQ accumulator: one tile of EFFICIENT_TILE x EFFICIENT_TILE
# fp32 values (and a 16-byte counter) per block of EFFICIENT_TILE queries and per EFFICIENT_TILE
# columns of d (cutlass kernel_backward.h: workspace_elements_gq, GradQTempStorage), for the
# kernels of head dimension up to 64.
EFFICIENT_TILE = 64
EFFICIENT_TILE_BYTES = EFFICIENT_TILE * EFFICIENT_TILE * 4 + 16


def cuda_backward_buffers(case: Case, kernel: str) -> int:
    """What a CUDA kernel's backward allocates besides the output gradient's copy and the q, k,
    v gradients, in elements of the case dtype. Each also computes the row sums of dO * O
    (delta, b N in fp32) first.

    efficient: delta, from a b N d product of dO and O that is freed before the workspace is
    allocated, so the peak holds delta and the dQ accumulator workspace (EFFICIENT_TILE
    above): ceil(N/64) ceil(d/64) tiles per sample, which for d = 32 is twice b N d.
    cudnn: cuDNN's workspace, a dQ accumulator in fp32 (b N d) and the row sums (b N).
    flash: flash-attention 2's (ATen's flash_api.cpp, mha_bwd): softmax_d, (b, 1, N rounded up
    to 128) in fp32, and dq_accum, (b, N rounded up to 128, 1, d rounded up to 32) in fp32;
    the H200's bf16 train peaks at N = 4096 and 16384 (d = 32) are within 2 % or 1 MiB of it
    (results/checks-gpu-nvidia-h200-2: the flash train test passed).

    On the H100 (results/gpu-nvidia-h100-80gb-hbm3-training, d = 32, N 1024 to 65536) these
    give the measured train peaks to within 512 bytes for cuDNN (7 of 7) and exactly for
    efficient at 5 of 7 sizes (the others -0.6 % and +0.87 MiB, the allocator's reuse)."""
    b, big_n, d = case.batch, case.positions, int(case.param("inner"))
    delta = in_dtype_elements(b * big_n, case)
    if kernel == "efficient":
        tiles = -(-big_n // EFFICIENT_TILE) * -(-d // EFFICIENT_TILE)
        workspace = -(-b * tiles * EFFICIENT_TILE_BYTES // case.dtype_bytes)
        return delta + workspace
    if kernel == "flash":
        rows, width = -(-big_n // 128) * 128, -(-d // 32) * 32
        return in_dtype_elements(b * rows + b * rows * width, case)
    return delta + in_dtype_elements(b * big_n * d, case)
