"""Non-local block, embedded-Gaussian version (Wang et al., CVPR 2018, arXiv 1711.07971).

z = W_z y + x, with y_i = sum_j softmax_j(theta(x_i)^T phi(x_j) / sqrt(d)) g(x_j):

- theta, phi and g are 1x1 convolutions c -> d (`inner`, default c/2 as in the paper), with
  biases (the official code's NO_BIAS=0); W_z is a 1x1 convolution d -> c, then the residual add.
- The softmax runs over the key positions j (the last axis of the N x N' affinity), once per
  query position i.
- Scale: 1/sqrt(d) before the softmax. The paper has none; the official code (USE_SCALE=True)
  and mmcv use it, SDPA's default scale, so both implementations below compute one function.
- No BatchNorm: the paper's BN after W_z (gamma initialised to zero) folds into W_z at
  inference, so it is left out and not counted.
- `subsample` 2: a 2x2 max-pooling (stride 2) of the phi and g outputs, after their convolutions,
  as the paper describes ("adding a max pooling layer after phi and g") and mmcv's
  NonLocal2d(sub_sample=True) does; the official Caffe2 code pools x before the phi and g
  convolutions instead (cheaper convolutions, the same attention size). Clips pool h and w only,
  per frame, so the attention has N' = t (h/2) (w/2) = N/4 keys.

`impl` picks how the attention runs, from the same weights (one state_dict loads into either):
- "eager" materialises the (b, N, N') affinity with bmm, scales it in place, takes a softmax over
  its last axis into a second N x N' tensor (both live at once) and aggregates with a bmm.
- "sdpa" calls torch.nn.functional.scaled_dot_product_attention with one head: query
  (b, 1, N, d), key and value (b, 1, N', d), each made contiguous so that the CPU flash kernel's
  gates pass (its last-dimension-stride-1 check fails for a transposed convolution output, and
  then the math backend would build the N x N' matrix). `NonLocalSpec.backend` reports which SDPA
  kernel ran.

1x1 convolutions run as kernel-1 convolutions over the flattened t*h*w positions (as in
double_attention.py): one operator and one parameter layout for images and clips alike.

Cost model (`build_cost`): both impls count the same math, b (4 c d N + 2 N N' d) MACs, and the
same elementwise work; they differ in what is live. Eager peaks at the affinity and the softmax
output together, 2 b N N' elements. SDPA's memory follows the kernel that ran (the record's
`backend`, or the one expected: sdpa_kernel): the fused kernels never hold an N x N' tensor
(the model lists the contiguous q, k, v copies, the kernel's output, logsumexp and buffers,
and on CPU the flash kernel's scratch for each thread); the math kernel does (_math_terms).
At T CPU threads the flash kernel allocates T scratches and the 1x1 convolutions' oneDNN
kernel splits its weight gradient over them: the record's backend names both with the count
(flash_cpu_t<T>, onednn_f32_t<T>; kernel_names), and the model holds them (tested to the byte
at 1 to 4 threads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2bench.aten_cpu import runs_reduced_on_aten, wrapped_scalar_elements
from a2bench.blocks.kernels import conv_kernel, expected_conv_kernel
from a2bench.blocks.sdpa_cpu import (
    FLASH_CPU,
    FLASH_PACK_MIN,
    KV_SPLIT,
    flash_cpu_scratch_elements,
    q_split,
)
from a2bench.blocks.sdpa_cuda import (
    CUDA_KERNELS,
    cuda_backward_buffers,
    flash_split_terms,
    lse_elements,
    rng_terms,
)
from a2bench.blocks.sdpa_cuda import in_dtype_elements as _in_dtype_elements
from a2bench.case import Case
from a2bench.cost import (
    Cost,
    Term,
    bmm,
    elementwise,
    pointwise,
    softmax,
    softmax_backward_ops,
    softmax_ops,
)
from a2bench.kernel_names import thread_count, threaded
from a2bench.onednn import is_onednn_amx, is_onednn_conv
from a2bench.registry import BlockSpec, Param, Value, register

IMPLS = ("eager", "sdpa")
SUBSAMPLES = (1, 2)


def _pointwise(cin: int, cout: int) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel_size=1, bias=True)


class NonLocal(nn.Module):
    """Embedded-Gaussian non-local block with a residual; `impl` picks eager or SDPA attention."""

    def __init__(self, channels: int, inner: int, subsample: int = 1, impl: str = "eager"):
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(IMPLS)}, got {impl!r}")
        if subsample not in SUBSAMPLES:
            raise ValueError(f"subsample must be 1 or 2, got {subsample!r}")
        self.inner, self.subsample, self.impl = inner, subsample, impl
        self.scale = 1.0 / math.sqrt(inner)  # SDPA's default scale for head dimension d
        self.theta = _pointwise(channels, inner)  # queries
        self.phi = _pointwise(channels, inner)  # keys
        self.g = _pointwise(channels, inner)  # values
        self.w_z = _pointwise(inner, channels)

    def _pool(self, y: Tensor, x: Tensor) -> Tensor:
        """2x2 max-pooling over h and w of a (b, d, N) convolution output, each frame alone."""
        if self.subsample == 1:
            return y
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        if h % 2 or w % 2:
            raise ValueError(f"subsample 2 needs even h and w, got {h}x{w}")
        frames = y.view(b, -1, h, w)  # (b, d*t, h, w): the frames of every channel
        return F.max_pool2d(frames, kernel_size=2, stride=2).flatten(2).view(b, self.inner, -1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (4, 5):
            raise ValueError(
                f"expected (b, c, h, w) or (b, c, t, h, w), got shape {tuple(x.shape)}")
        flat = x.flatten(2)  # (b, c, N), a view for contiguous input
        # The evaluation order below is the one the cost model follows for the activation peak;
        # each `del` drops a tensor at its last use.
        if self.impl == "eager":
            q = self.theta(flat)  # (b, d, N)
            k = self._pool(self.phi(flat), x)  # (b, d, N')
            affinity = torch.bmm(q.transpose(1, 2), k)  # (b, N, N')
            del q, k
            affinity.mul_(self.scale)  # in place, as mmcv does: no second N x N' here
            attn = torch.softmax(affinity, dim=2)  # over the N' keys, per query position
            del affinity
            v = self._pool(self.g(flat), x)  # (b, d, N')
            y = torch.bmm(v, attn.transpose(1, 2))  # (b, d, N)
            del v, attn
        else:
            # One head; contiguous (b, 1, positions, d) so the fused CPU kernel is eligible.
            q = self.theta(flat).transpose(1, 2).contiguous().unsqueeze(1)  # (b, 1, N, d)
            k = self._pool(self.phi(flat), x).transpose(1, 2).contiguous().unsqueeze(1)
            v = self._pool(self.g(flat), x).transpose(1, 2).contiguous().unsqueeze(1)
            # softmax over the N' keys, scaled by 1/sqrt(d) (the default scale)
            out = F.scaled_dot_product_attention(q, k, v)  # (b, 1, N, d)
            del q, k, v
            b, _, n, d = out.shape
            # (b, d, N): a transposed view; where d or N is 1, the same memory viewed with
            # standard strides (the transposed view's, though contiguous too, send W_z's oneDNN
            # down another path, with buffers of its own)
            y = out.view(b, d, n) if min(d, n) == 1 else out.squeeze(1).transpose(1, 2)
            del out
        z = self.w_z(y)  # (b, c, N)
        del y
        return (z + flat).view_as(x)


# --- parameters -----------------------------------------------------------------------------

def _half(p: Mapping[str, Value]) -> int:
    return max(1, int(p["channels"]) // 2)  # the paper's d = c/2


def _check_subsample(p: Mapping[str, Value]) -> str | None:
    s = p["subsample"]
    if s not in SUBSAMPLES:
        return f"expected 1 or 2, got {s!r}"
    if s == 2 and (int(p["h"]) % 2 or int(p["w"]) % 2):
        return f"expected even h and w with subsample 2 (2x2 pooling), got {p['h']}x{p['w']}"
    return None


PARAMS = (
    Param("inner", _half, "non-local inner channels d", short="d"),
    Param("subsample", 1, "non-local φ/g max-pool stride", short="sub", check=_check_subsample),
    Param("impl", "eager", "attention implementation", choices=IMPLS),
)
EXAMPLES = ({"batch": 2, "channels": 24, "h": 7, "w": 9},
            {"batch": 1, "channels": 20, "t": 3, "h": 6, "w": 4, "inner": 6, "subsample": 2,
             "impl": "sdpa"})


# --- cost model -----------------------------------------------------------------------------

def keys(case: Case) -> int:
    """N': the key (and value) positions of the attention."""
    s = int(case.param("subsample"))
    return case.t * (case.h // s) * (case.w // s)


def flash_packed_elements(case: Case, conv: str, threads: int = 1) -> int:
    """What the CPU flash kernel's forward allocates on AMX to pack its operands (`conv`: the
    convolutions' kernel, onednn_bf16_amx there): whole copies of k and of v (its positions
    rounded up to pairs) and each of its `threads` threads' block of key rows; none below
    FLASH_PACK_MIN positions on either side. Read from the kernel's allocations on an Emerald
    Rapids Xeon (torch 2.13.0+cpu, one and two threads), and held to the byte there by the SDPA
    block's forward peaks (benchmarks/block_peaks.py nonlocal --param impl=sdpa;
    tests/test_train_cost.py)."""
    b, big_n, n_kv, d = case.batch, case.positions, keys(case), int(case.param("inner"))
    if not is_onednn_amx(conv) or case.dtype != "bfloat16" or min(big_n, n_kv) < FLASH_PACK_MIN:
        return 0
    return b * n_kv * d + b * (n_kv + n_kv % 2) * d + threads * min(KV_SPLIT, n_kv) * d


def sdpa_kernel(case: Case, backend: str = "") -> str:
    """The SDPA kernel a case's memory model is for: the one that ran (the record's `backend`,
    passed back by the runner), else the one expected to run. On CPU that is the flash kernel.
    On CUDA, torch 2.11 ran the memory-efficient kernel for fp32 (flash and cuDNN take 16-bit
    inputs only) and cuDNN's for bf16 on the H100 (results/gpu-nvidia-h100-80gb-hbm3-training);
    another GPU or torch may pick flash, which the record then names."""
    fused = [k for k in backend.split("+") if k and not is_onednn_conv(k)]
    if fused:
        return fused[0]
    if case.device != "cuda":
        return FLASH_CPU
    return "efficient" if case.dtype_bytes >= 4 else "cudnn"


def _flash_buffers(case: Case, kernel: str, conv: str = "") -> int:
    """What the fused kernel allocates besides its output in an inference call, in elements of
    the case dtype (the rng tensors of rng_terms apart).

    flash_cpu: the logsumexp in the accumulation dtype (fp32 for bf16/fp16, else the dtype)
    and a scratch per thread (at::get_num_threads(): the count the kernel's name carries,
    kernel_names.threaded). On AMX (`conv`, the convolutions' kernel) it also packs its operands
    (flash_packed_elements).
    CUDA: the flash kernel always writes the logsumexp; the memory-efficient and cuDNN kernels
    compute it only for a backward (compute_log_sumexp), so an inference call allocates none
    (the H100's inference peaks equal the model without it)."""
    b, big_n, n_kv, d = case.batch, case.positions, keys(case), int(case.param("inner"))
    if kernel == "flash":
        return lse_elements(case, kernel)
    if kernel in CUDA_KERNELS:
        return 0
    threads = thread_count(kernel, FLASH_CPU) or 1
    accumulated = b * big_n + flash_cpu_scratch_elements(big_n, n_kv, d, threads)
    reduced = 0
    if case.dtype_bytes == 2:  # bf16/fp16 also keep a reduced-type copy of the q k^T tile
        reduced = threads * min(q_split(big_n), big_n) * min(KV_SPLIT, n_kv)
    return (_in_dtype_elements(accumulated, case) + reduced
            + flash_packed_elements(case, conv, threads))


def _pool_terms(name: str, case: Case, source: str, *, transposed_grad: bool) -> tuple[Term, ...]:
    """The optional 2x2 max-pool of one convolution output: 3 comparisons per output element.

    max_pool2d runs as max_pool2d_with_indices even without autograd: its int64 indices (one
    per output element) live while it runs, together with its input and output. In training
    it saves its input and the indices; its backward zero-fills the input's gradient and
    scatters into it (one write per input and per pooled element), first copying the gradient
    contiguous when it arrives transposed (sdpa's contiguous k and v copies pass it through)."""
    if int(case.param("subsample")) == 1:
        return ()
    out = case.batch * int(case.param("inner")) * keys(case)
    indices = out * 8 // case.dtype_bytes  # int64, in elements of the case dtype
    full = case.batch * int(case.param("inner")) * case.positions
    return (elementwise(name, 3 * out, out, inputs=(source,),
                        saves=(source, f"{name}_indices"), backward_elementwise=full + out,
                        backward_scratch=_copied(case.batch, int(case.param("inner")),
                                                 keys(case), transposed_grad)),
            Term(f"{name}_indices", 0, 0, indices, (f"{name}_indices", source)))


def _key_value(case: Case, conv: str, kernel: str) -> tuple[tuple[Term, ...], str]:
    """phi or g: the convolution, then its max-pool; returns the terms and the result's name.
    With sdpa and no pooling, the convolution's gradient arrives transposed (through the
    contiguous copy) and its backward copies it contiguous (a scratch of its output's size)."""
    b, c, big_n, d = case.batch, case.channels, case.positions, int(case.param("inner"))
    sdpa = case.param("impl") == "sdpa"
    pool = _pool_terms(f"{conv}_pool", case, conv, transposed_grad=sdpa)
    return ((pointwise(conv, b, big_n, c, d, inputs=("x",),
                       backward_scratch=_copied(b, d, big_n, sdpa and not pool),
                       kernel=kernel, reduced_aten=runs_reduced_on_aten(case, kernel),
                       grad_order=TRANSPOSED if sdpa and not pool else ()), *pool),
            (f"{conv}_pool" if pool else conv))


# A (b, d, N) gradient that arrives as the transpose of a contiguous (b, N, d) one: the order
# of its layout, outermost first, over the (b, d, 1, N) an nn.Conv1d runs as (channels last),
# whose bias sum ATen makes without a float32 copy (aten_cpu.sums_float_copy)
TRANSPOSED = (0, 2, 3, 1)


def _copied(b: int, d: int, positions: int, transposed: bool = True) -> int:
    """A transposed (b, d, N) gradient's contiguous copy: none where d or N is 1, as such a
    view is contiguous already (the model had held b·d·N too many there)."""
    return b * d * positions if transposed and min(d, positions) > 1 else 0


def _copy(name: str, source: str, elements: int) -> Term:
    """A contiguous copy of a transposed tensor: no arithmetic, a new tensor; `source` (when
    named) is freed, being used only here. Backward: the gradient passes through (as a
    transposed view), nothing is saved."""
    return Term(name, 0, 0, elements, (source,) if source else (),
                inputs=(source,) if source else (), passes=(source,) if source else ())


def _flash_backward_scratch(case: Case, kernel: str) -> int:
    """What the kernel's backward allocates and frees inside the call, in elements of the case
    dtype. Every kernel first copies the output gradient (b, 1, N, d) contiguous: it arrives
    transposed, from W_z's input.

    flash_cpu: per thread (the count its name carries, as for the forward) the attention and
    gradient tiles (2 qSplit kvSplit), in the accumulation dtype, and bf16/fp16 reduced-type
    copies of both; and the row sums dsum (qSplit) of the calling thread. Each other thread
    that takes a sample allocates its own dsum too, but inside the parallel loop, on an OpenMP
    worker thread, whose allocations the profiler's tensor peak (the measurement) does not see:
    measured at 2 and 3 threads, batch 2 and 3, one dsum only.
    CUDA: see cuda_backward_buffers."""
    b, big_n, n_kv, d = case.batch, case.positions, keys(case), int(case.param("inner"))
    copy = b * big_n * d
    if kernel in CUDA_KERNELS:
        return copy + cuda_backward_buffers(case, kernel)
    threads = thread_count(kernel, FLASH_CPU) or 1
    qs, kvs = min(q_split(big_n), big_n), min(KV_SPLIT, n_kv)
    reduced = threads * 2 * qs * kvs if case.dtype_bytes == 2 else 0
    return copy + _in_dtype_elements(threads * 2 * qs * kvs + qs, case) + reduced


def _saved_scalar(case: Case) -> dict[str, object]:
    """In training, autograd saves the Python float the affinity is scaled by, a wrapped
    number (aten_cpu.wrapped_scalar_elements), until the scale's backward."""
    elements = wrapped_scalar_elements(case.device, case.dtype_bytes)
    if not elements:
        return {}
    scalar = Term("scale_scalar", 0, 0, elements, ("scale_scalar",), inputs=())
    return {"saves": ("scale_scalar",), "train_extra": (scalar,)}


def _math_terms(case: Case) -> tuple[Term, ...]:
    """SDPA's math kernel (ATen's _scaled_dot_product_attention_math, composite, so the same on
    every device), in elements of the case dtype:

    - bf16/fp16 inputs are first copied to fp32 (q, k and v: "kept in high precision for
      accuracy"), and everything up to the outputs is fp32;
    - q and k^T are each scaled by the square root of the scale into new tensors (q's kept to
      the end of the call, k's freed by the product), then the (b, N, N') scores;
    - a safe softmax of them: the softmax, then a boolean -inf mask of the scores, its all()
      over each row and a zero scalar (what a row that is all masked would take);
    - the product with v; a bf16/fp16 call casts the output, and the softmax it returns
      beside it, back to the input dtype.

    In training the products save their operands and the softmax its output; the scaled q
    and k, and the fp32 copies, pass each gradient back as a new tensor. The same products as
    the fused kernels; its elementwise work is what it runs: the two scalings and the softmax
    (and the casts, which are copies)."""
    b, big_n, n_kv, d = case.batch, case.positions, keys(case), int(case.param("inner"))
    wide = 4 // case.dtype_bytes if case.dtype_bytes == 2 else 1  # fp32 elements, in case units
    scores = b * big_n * n_kv
    q, k, v = "q", "k", "v"
    upcast: tuple[Term, ...] = ()
    if wide > 1:
        q, k, v = "q_fp32", "k_fp32", "v_fp32"
        upcast = tuple(Term(f"{name}_fp32", 0, 0, wide * n, (), inputs=(name,), saves=())
                       for name, n in (("q", b * big_n * d), ("k", b * n_kv * d),
                                       ("v", b * n_kv * d)))
    out = "y_fp32" if wide > 1 else "y"
    terms = (
        *upcast,
        Term("q_scaled", 0, b * big_n * d, wide * b * big_n * d, (), inputs=(q,), saves=(),
             backward_elementwise=b * big_n * d),
        Term("k_scaled", 0, b * n_kv * d, wide * b * n_kv * d, (), inputs=(k,), saves=(),
             backward_elementwise=b * n_kv * d),
        replace(bmm("scores", b, big_n, d, n_kv, frees=("k_scaled",),
                    inputs=("q_scaled", "k_scaled")), out_elements=wide * scores),
        replace(softmax("softmax", b * big_n, n_kv, inputs=("scores",), device=case.device),
                out_elements=wide * scores,
                backward_scratch=(wide * scores if case.device == "cuda" else 0)),
        Term("neg_inf_mask", 0, 0, scores, (), inputs=(), itemsize=1),  # bool: a byte each
        Term("masked_rows", 0, 0, b * big_n, (), inputs=(), itemsize=1),
        Term("zero", 0, 0, wide, ("neg_inf_mask", "masked_rows", "zero", "scores"), inputs=()),
        # the output, (b, 1, N, d); the call's q, k, v (the block's contiguous copies, and
        # their fp32 copies) and the scaled q go with it
        replace(bmm(out, b, big_n, n_kv, d,
                    frees=("softmax", "q_scaled", "q", "k", "v", *(t.name for t in upcast)),
                    inputs=("softmax", v)), out_elements=wide * b * big_n * d),
    )
    if wide == 1:
        return terms
    # the casts back: the softmax the call returns beside the output (dropped by SDPA), then
    # the output itself
    *body, product = terms
    return (*body, Term("softmax_cast", 0, 0, scores, (), inputs=(), forward_only=True),
            replace(product, frees=(*product.frees, "softmax_cast")),
            Term("y", 0, 0, b * big_n * d, ("y_fp32",), inputs=("y_fp32",), saves=()))


def build_cost(case: Case, backend: str = "") -> Cost:
    """Both impls: the same MACs and elementwise work (the math), different live tensors.

    MACs per sample: theta, phi, g: 3 c d N; theta^T phi: N N' d; aggregation: N N' d;
    W_z: d c N. Total b (4 c d N + 2 N N' d). Elementwise: biases (3 d N + c N), the scale
    (N N'), softmax (N rows of 3N' - 1), max-pools (3 per pooled element), residual (c N).

    Training (backward annotations): theta's gradient always arrives transposed (q is read
    transposed), so its convolution backward copies it contiguous. Eager saves the softmax
    output (b N N') and both products' operands; its softmax backward holds the saved
    softmax, its output gradient, its input gradient and a contiguous copy of the output
    gradient (read transposed by the aggregation): 4 b N N' at once, the train peak (on CUDA
    one more: the softmax backward's product, cost.softmax). A fused SDPA kernel saves q, k,
    v, its output and the logsumexp; its backward allocates the q, k, v gradients and the
    scratch of _flash_backward_scratch, never an N x N' tensor. The math kernel is composite
    autograd over its own terms (_math_terms). `backend` names the kernel (sdpa_kernel); a
    label the model does not know is modelled as the CPU flash kernel.
    """
    b, c, big_n, d = case.batch, case.channels, case.positions, int(case.param("inner"))
    n_kv = keys(case)
    sdpa = case.param("impl") == "sdpa"
    # the convolutions' kernel
    conv = next((k for k in backend.split("+") if is_onednn_conv(k)), "")
    phi, k = _key_value(case, "phi", conv)
    g, v = _key_value(case, "g", conv)
    aten = runs_reduced_on_aten(case, conv)  # the bias gradients' float32 sums
    theta = pointwise("theta", b, big_n, c, d, inputs=("x",),
                      backward_scratch=_copied(b, d, big_n), kernel=conv, reduced_aten=aten,
                      grad_order=TRANSPOSED)
    y_copy = _copied(b, d, big_n, sdpa)
    tail = (
        # sdpa: W_z reads y, a transposed view of the kernel output; it saves the view and its
        # backward copies it contiguous again for the weight gradient
        pointwise("w_z", b, big_n, d, c, frees=("y", "y_copy") if sdpa else ("y",), inputs=("y",),
                  backward_scratch=y_copy, kernel=conv, reduced_aten=aten, held=y_copy),
        elementwise("residual", b * c * big_n, b * c * big_n, frees=("w_z",),
                    inputs=("w_z", "x"), passes=("w_z", "x")),
    )
    if not sdpa:
        affinity = b * big_n * n_kv
        terms = (
            theta,
            *phi,
            bmm("affinity", b, big_n, d, n_kv, frees=("theta", k), inputs=("theta", k)),
            # in place: nothing new; its backward multiplies the gradient into a new tensor
            elementwise("scale", affinity, 0, inputs=("affinity",), grad_elements=affinity,
                        backward_elementwise=affinity, **_saved_scalar(case)),
            softmax("softmax", b * big_n, n_kv, frees=("affinity",), inputs=("scale",),
                    backward_scratch=affinity, device=case.device),
            *g,
            bmm("y", b, d, n_kv, big_n, frees=(v, "softmax"), inputs=(v, "softmax")),
            *tail,
        )
    else:
        # The fused kernel does the same math: both products, the scale, the softmax. Its
        # backward: the softmax's (4N' - 1 per row) and the scale's (N N') operations.
        kernel = sdpa_kernel(case, backend)
        lse = lse_elements(case, kernel) if kernel in CUDA_KERNELS else _in_dtype_elements(
            b * big_n, case)
        rng = rng_terms(case, kernel)
        splits = flash_split_terms(case, kernel, n_kv)
        split_names = tuple(t.name for t in splits)
        # Training keeps the logsumexp and the rng tensors (saved) apart from the per-call
        # scratch and split buffers, and q, k, v. (The scratch frees itself and the split
        # buffers, and q, k, v their last forward use: each is then kept only until the
        # kernel's backward, which saves them.)
        train_buffers = (
            Term("logsumexp", 0, 0, lse, ("logsumexp",), inputs=()),
            *rng,
            *splits,
            Term("flash_scratch", 0, 0, 0 if kernel in CUDA_KERNELS
                 else _flash_buffers(case, kernel, conv) - lse,
                 ("flash_scratch", "q", "k", "v", *split_names), inputs=()),
        )
        attend = Term("y", 2 * b * big_n * n_kv * d,
                      b * big_n * n_kv + softmax_ops(b * big_n, n_kv), b * big_n * d,
                      inputs=("q", "k", "v"),
                      saves=("q", "k", "v", "y", "logsumexp", *(t.name for t in rng)),
                      grad_operands=2,
                      backward_elementwise=softmax_backward_ops(b * big_n, n_kv)
                      + b * big_n * n_kv,
                      backward_scratch=_flash_backward_scratch(case, kernel),
                      train_extra=train_buffers)
        terms = (
            theta,
            _copy("q", "theta", b * big_n * d),
            *phi,
            _copy("k", k, b * n_kv * d),
            *g,
            _copy("v", v, b * n_kv * d),
            *((attend,  # the output, (b, 1, N, d); the scale and the softmax fused in it
               # the rng tensors returned beside the output, dropped once the call returns
               *(replace(t, frees=(), forward_only=True) for t in rng),
               *(replace(t, forward_only=True) for t in splits),
               Term("flash_buffers", 0, 0, _flash_buffers(case, kernel, conv),
                    ("flash_buffers", "q", "k", "v", *(t.name for t in rng), *split_names),
                    forward_only=True))
              if kernel != "math" else _math_terms(case)),
            # W_z's convolution copies its transposed input to a contiguous one first (none where
            # d or N is 1: forward's y is then contiguous, with standard strides)
            _copy("y_copy", "", _copied(b, d, big_n)),
            *tail,
        )
    return Cost(terms, case.dtype_bytes)


def _attention_macs(case: Case) -> int:
    return 2 * case.batch * case.positions * keys(case) * int(case.param("inner"))


def _fvcore_difference(case: Case) -> int:
    # fvcore's JIT trace records the composite aten::scaled_dot_product_attention, which has no
    # handle: both attention products are skipped. max_pool2d has no handle either (0, as here).
    return -_attention_macs(case) if case.param("impl") == "sdpa" else 0


def _math_on_cpu(case: Case) -> bool:
    """Whether SDPA on a CPU takes its math path, not the flash kernel: at inner 1, q, k and v
    (b, 1, N, 1) keep their stride N in the last dimension (contiguous() ignores the stride of
    a dimension of size 1, so it copies nothing), and the flash kernel needs stride 1 there."""
    return int(case.param("inner")) == 1 and case.positions > 1


def _torch_difference(case: Case) -> int:
    # FlopCounterMode has formulas for the CUDA fused kernels (flash, efficient, cudnn) but none
    # for aten._scaled_dot_product_flash_attention_for_cpu, which it skips silently; the math
    # path it counts whole.
    if case.param("impl") == "sdpa" and case.device == "cpu" and not _math_on_cpu(case):
        return -_attention_macs(case)
    return 0


@register
class NonLocalSpec(BlockSpec):
    name = "nonlocal"
    label = "non-local (embedded Gaussian)"
    short_label = "non-local"
    params = PARAMS
    examples = EXAMPLES
    counter_difference = {
        "fvcore": (_fvcore_difference,
                   "with impl=sdpa fvcore skips aten::scaled_dot_product_attention (no handle), "
                   "so both attention products, 2 b N N' d MACs, are missing"),
        "torch": (_torch_difference,
                  "with impl=sdpa on CPU FlopCounterMode has no formula for "
                  "_scaled_dot_product_flash_attention_for_cpu, so 2 b N N' d MACs are missing; "
                  "a train step on CUDA's fused kernels counts b N N' d more: the scores their "
                  "backward recomputes"),
    }

    def declared(self, case: Case, backend: str = "") -> dict[str, int]:
        """The forward's differences (tripled in a train step), and on CUDA the scores q kᵀ
        (b N N' d MACs) that a fused kernel's backward recomputes: FlopCounterMode's formula
        for it counts them (sdpa_backward_flop_count, step 1) and the model of the function
        does not. The 28 stored H100 and H200 train records on efficient and cuDNN counted
        exactly this above the model."""
        out = super().declared(case, backend)
        if (case.train and case.device == "cuda" and case.param("impl") == "sdpa"
                and sdpa_kernel(case, backend) in CUDA_KERNELS):
            out["torch"] = out.get("torch", 0) + _attention_macs(case) // 2
        return out

    def module(self, case: Case) -> nn.Module:
        return NonLocal(case.channels, int(case.param("inner")), int(case.param("subsample")),
                        str(case.param("impl")))

    def cost(self, case: Case, backend: str = "") -> Cost:
        """`backend`: the SDPA kernel that ran (the record's), which the memory model follows."""
        return build_cost(case, backend)

    def backend(self, module: nn.Module, x: Tensor) -> str:
        """Which SDPA kernel ran on this input (none for eager), and "onednn_bf16" (or its ISA's
        kernel) where the bfloat16 convolutions ran on oneDNN (blocks.kernels.conv_kernel),
        joined by "+": e.g. "flash_cpu+onednn_bf16". One forward under the profiler answers both."""
        from a2bench.measure.memory import ops_run

        if getattr(module, "impl", "eager") != "sdpa":
            return conv_kernel(module, x)
        ops = ops_run(lambda: module(x))
        fused = next((label for op, label in SDPA_KERNELS if op in ops), "unknown")
        if fused == FLASH_CPU:
            fused = threaded(FLASH_CPU, torch.get_num_threads())
        return "+".join(filter(None, (fused, conv_kernel(module, x, ops))))

    def expected_backend(self, case: Case, threads: int = 1) -> str:
        """The convolutions' kernel, and on a CPU with sdpa the flash kernel at `threads` (its
        scratch is per thread), or its math path at inner 1 (_math_on_cpu); on CUDA the SDPA
        kernel expected is sdpa_kernel's without one."""
        flash = ""
        if case.param("impl") == "sdpa" and case.device == "cpu":
            flash = "math" if _math_on_cpu(case) else threaded(FLASH_CPU, threads)
        return "+".join(filter(None, (flash, expected_conv_kernel(case, threads))))


# aten op names of the SDPA kernels, most specific first (math last: the fused kernels never
# call it, while the math fallback is the op itself).
SDPA_KERNELS = (
    ("aten::_scaled_dot_product_flash_attention_for_cpu", FLASH_CPU),
    ("aten::_scaled_dot_product_flash_attention", "flash"),
    ("aten::_scaled_dot_product_efficient_attention", "efficient"),
    ("aten::_scaled_dot_product_cudnn_attention", "cudnn"),
    ("aten::_scaled_dot_product_fused_attention_overrideable", "overrideable"),
    ("aten::_scaled_dot_product_attention_math_for_mps", "math_mps"),
    ("aten::_scaled_dot_product_attention_math", "math"),
)
