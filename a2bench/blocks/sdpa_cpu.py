"""SDPA's CPU flash kernel (ATen's FlashAttentionKernel.cpp), as far as its memory goes: its name
in a record, its tiling and the per-thread scratch the tiles take, in elements. Pure functions of
sequence lengths and the head dimension; nonlocal_block's cost model places them in its terms
(as sdpa_cuda's for the CUDA kernels).
"""

from __future__ import annotations

# SDPA's CPU flash kernel, as a record names it: with the thread count at more than one
# (kernel_names.threaded), since it keeps a scratch per thread
FLASH_CPU = "flash_cpu"

# The key block size; the query block size by query length is q_split's
# (FlashAttentionKernel.cpp: flash_attention_kernel_impl).
KV_SPLIT = 512

# On AMX the kernel packs key and value for oneDNN's brgemm, in bf16, where both sequences are
# at least this long (cpublas's packing follows oneDNN's ISA, as the convolutions' kernel
# does: ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 turns both off).
FLASH_PACK_MIN = 64


def q_split(n_q: int) -> int:
    """The query block size the kernel picks for `n_q` queries."""
    return 256 if n_q >= 768 else 64 if n_q >= 192 else 32


def flash_cpu_scratch_elements(n_q: int, n_kv: int, head_dim: int, threads: int = 1) -> int:
    """Elements of the CPU flash kernel's per-thread scratch `buf` (fp32 or fp64 inputs, no mask):
    threads x (qSplit*kvSplit (the q k^T tile) + 2 qSplit (row max, row sum) + qSplit*d (the
    output accumulator)), each split clipped to its sequence length. Allocated and freed inside
    the call; bf16/fp16 add a reduced-type tile and keep this buffer in fp32."""
    qs, kvs = min(q_split(n_q), n_q), min(KV_SPLIT, n_kv)
    return threads * (qs * kvs + 2 * qs + qs * head_dim)
