"""ATen's own CPU kernels, as far as a memory model needs them: what torch's kernels allocate
inside a call where a case's convolutions do not run on oneDNN (onednn.py holds oneDNN's), and
the 0-dim tensors it wraps Python numbers in. Pure functions over shapes: no torch here.

A 1x1 convolution in bfloat16 or float16 that torch runs on its own kernel (slow_conv2d: a
CPU without oneDNN's bf16 support, an AVX2-only one say) computes its bias gradient with
`at::sum_out(grad_bias, grad_output, {0, 2, 3})` (slow_conv2d_backward_out_cpu), between the
input gradient and the weight gradient. Where the sum's iterator is left with two reduced
dimensions (ReduceOps.cpp's should_use_acc_buffer: sums_float_copy), torch sums a float32 copy
of the whole output gradient into a float32 bias gradient, then copies that into the bf16 one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from a2bench.case import REDUCED_DTYPES, Case
from a2bench.onednn import is_onednn_conv


def wrapped_scalar_elements(device: str, dtype_bytes: int) -> int:
    """A Python number an operator takes (x / N, x * 0.125) is wrapped in a 0-dim 8-byte
    tensor (int64 or float64), which autograd saves where the backward needs it, and which a
    mean's backward allocates: in elements of the case dtype, on the CPU, where it was measured
    (SE's and the eager non-local block's train peaks were 8-12 B over the model without it).
    CUDA keeps wrapped numbers on the host, outside the device's peak (the H100 and H200 SE
    train records were exact without it); another device is not measured: none."""
    return max(1, 8 // dtype_bytes) if device == "cpu" else 0


def runs_reduced_on_aten(case: Case, kernel: str) -> bool:
    """Whether a case's convolutions run ATen's own CPU kernel in bfloat16 or float16 (`kernel`:
    the convolutions' one, the record's; "" for ATen's)."""
    return case.device == "cpu" and case.dtype in REDUCED_DTYPES and not is_onednn_conv(kernel)


def layout_strides(sizes: Sequence[int], order: Sequence[int] = ()) -> tuple[int, ...]:
    """The strides, in elements, of a dense tensor of `sizes` laid out in `order` (its
    dimensions from the outermost to the innermost; () for contiguous)."""
    if order and sorted(order) != list(range(len(sizes))):
        raise ValueError(f"layout order {tuple(order)}: expected a permutation of the "
                         f"{len(sizes)} dimensions of sizes {tuple(sizes)}")
    strides, step = [0] * len(sizes), 1
    for d in reversed(tuple(order) or range(len(sizes))):
        strides[d], step = step, step * sizes[d]
    return tuple(strides)


def sums_float_copy(sizes: Sequence[int], strides: Sequence[int],
                    reduced: Collection[int]) -> bool:
    """Whether ATen's CPU sum of a bfloat16 or float16 tensor (`sizes`, `strides`) over the
    dimensions `reduced`, into a result of their dtype, sums a float32 copy of it
    (ReduceOps.cpp, sum_out's should_use_acc_buffer). TensorIterator sorts the dimensions, the
    reduced ones first, each group by ascending stride (reorder_dimensions), then merges
    neighbours whose strides run on into each other, or of which one has size 1
    (coalesce_dimensions); where two reduced dimensions are left at the front, its loop would
    accumulate across the second in the tensor's own dtype, so it sums the copy instead. A
    contiguous (b, c, h, w) gradient summed over b, h and w: at b > 1 with h w > 1 and c > 1,
    where b does not run on from h and w."""
    kept = [d for d in range(len(sizes)) if d not in reduced]
    out = [0] * len(sizes)  # the result's strides: 0 on a reduced dimension
    for d, s in zip(kept, layout_strides([sizes[d] for d in kept]), strict=True):
        out[d] = s
    operands = (out, list(strides))

    def should_swap(d0: int, d1: int) -> int:  # TensorIterator's, for a reduction
        for arg, st in enumerate(operands):
            s0, s1 = st[d0], st[d1]
            if arg == 0 and (s0 == 0) != (s1 == 0):
                return 1 if s1 == 0 else -1
            if s0 == 0 or s1 == 0:
                continue
            if s0 != s1:
                return -1 if s0 < s1 else 1
            if sizes[d0] > sizes[d1]:
                return 1
        return 0

    perm = list(range(len(sizes) - 1, -1, -1))  # the innermost first
    for i in range(1, len(perm)):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            way = should_swap(perm[d0], perm[d1])
            if way > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif way < 0:
                break
    shape = [sizes[d] for d in perm]
    st = [[op[d] for d in perm] for op in operands]
    last = 0
    for d in range(1, len(shape)):
        if shape[last] == 1 or shape[d] == 1 or all(s[last] * shape[last] == s[d] for s in st):
            if shape[last] == 1:
                for s in st:
                    s[last] = s[d]
            shape[last] *= shape[d]
        else:
            last += 1
            for s in st:
                s[last] = s[d]
            shape[last] = shape[d]
    return last >= 1 and st[0][0] == 0 and st[0][1] == 0


def bias_sum_scratch(b: int, cout: int, sides: tuple[int, int], params: int, scratch: int,
                     order: Sequence[int] = (), held: int = 0) -> dict[str, int]:
    """What ATen's bf16 or fp16 1x1 convolution adds to its backward's `scratch` (the term's
    own, in elements), as Term's `backward_scratch`, for the bias gradient's float32 sum where
    it makes one (sums_float_copy of the output gradient, of `sides`, laid out in `order` over
    (b, c, h, w): cost.pointwise's grad_order; an nn.Conv1d is a map of height 1).

    That moment holds the input gradient, the bf16 bias gradient (`cout`), a float32 one
    (2 `cout`) and the float32 copy (2 b `cout` h w); not yet the weight gradient, nor the
    contiguous copy of a strided output gradient (slow_conv2d's, made and freed by the input
    gradient's step and again by the weight gradient's: the term's scratch holds it), but
    `held` of the term's scratch: an nn.Conv1d's copy of a strided input, which
    convolution_backward makes before it all (the non-local block's W_z behind SDPA). So it
    adds what lies above the term's `params` and `scratch`. Measured to the byte at one
    thread: double attention, the non-local block and criss-cross, b 1-16 (docs/blocks.md)."""
    sizes = (b, cout, *sides)
    if not sums_float_copy(sizes, layout_strides(sizes, order), (0, 2, 3)):
        return {}
    return {"backward_scratch": max(0, held + 3 * cout + 2 * b * cout * sides[0] * sides[1]
                                    - params - scratch)}
