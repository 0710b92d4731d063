"""CCNet criss-cross attention (Huang et al., ICCV 2019 / TPAMI 2020, arXiv 1811.11721).

Each position u of an h x w map attends to the h + w - 1 positions of its own row and column
(itself once): energies q_u . k_v from 1x1-conv queries and keys (c -> c' = max(1, c // 8)), one
joint softmax over the cross, and the softmax-weighted sum of 1x1-conv values (c -> c). The output
is gamma * aggregate + x. The block applies this one module `recurrence` times with shared
weights, as the official RCCAModule does (speedinghzl/CCNet `networks/ccnet.py`; the paper's
R = 2); two passes reach every position of the map. RCCAModule also wraps the loop: `conva`
(3x3 conv to c/4 + BN) before it, `convb` (3x3 conv + BN) after it, then a concat with its input,
a 3x3 bottleneck conv and the classifier. Those are a segmentation head, not the attention, so
this block is the R-times-applied attention only.

H + W energies, not H + W - 1. The official CUDA kernel (`ca_weight` in
`cc_attention/functions.py`) writes exactly h + w - 1 energies per position. Without a custom
kernel the usual PyTorch form (Serge-weihao/CCNet-Pure-Pytorch, the form the official repo's 3-D
variant `cc_attention/functions3d.py` borrows) computes, with two batched matrix products, h
energies along each position's column and w along its row, masks the column copy of the position
itself with -inf (so it counts once), and takes one softmax over the joint h + w axis. This module
does that with torch.bmm: the -inf entry's exp is 0, so the softmax equals the one over the
h + w - 1 distinct positions, and the column aggregation multiplies that zero weight. Computing
exactly h + w - 1 entries with tensor ops would need a per-position gather of h + w - 1 key and
value vectors, which allocates far more than the one wasted entry per position costs. The cost
model counts what runs: h + w energies and h + w aggregation weights per position, i.e.
N (c' + c) MACs per pass above the paper's h + w - 1 count. (The pure-PyTorch code adds a
(b w, h, h) -inf tensor; here the diagonal is filled in place, with no allocation.)

gamma: the official code initialises it to 0, so at initialisation the block is the identity and
the attention never reaches the output. a2bench initialises it to 1.0 so the reference test checks
the attention path (with gamma = 0 any attention bug would pass, and the second recurrence would
see x unchanged); gamma's value changes no cost.

Images only: the cross is a row and a column of a 2-D map. A clip would need a third axis in the
cross (CrissCrossAttention3D, h + w + d entries: a different block), so a case needs t = 1.

Layout and copies (all in the cost model): the batched products batch over (b, w) for columns and
(b, h) for rows, which are not views of (b, c, h, w), so queries, keys and values are permuted
into each layout with an explicit contiguous copy, as the pure-PyTorch code does. The joint
energies are one (b, h, w, h + w) tensor (torch.cat); the row part of its softmax is used as a
strided view (bmm accepts it without a copy), the column part is copied into a (b * w, h, h)
batch. Not modelled: a transient buffer PyTorch's CPU 1x1 convolution may allocate and free inside
the call (up to its input's size; seen at 64 x 64); it never coincides with the peak.

bfloat16 on a CPU whose convolutions run it on oneDNN (`backend` onednn_bf16): the model holds
oneDNN's convolution scratch (onednn.onednn_bf16_scratch, with the map's sides: a 1x1 Conv2d on a
map with both sides 15 or more keeps no per-sample copies in its weight gradient) and the copy
oneDNN's bf16 bmm makes of the row aggregation's strided operand (cost.bmm's `copied`). At 120
cases (b 1-2, c 16-128, sides 8-48, R 1-2) the train peaks were their model to the byte at 46
and within 5.4 KiB (13 KiB at 48 x 48) at the rest; forward peaks were up to 34 KiB over it, the
bf16 bmm's own scratchpad (oneDNN's packing buffers, which its blocking heuristics size), within
2 % from 32 x 32 on. Without these the forward peaks were up to 72 % over the model.

Counters: fvcore and torch's FlopCounterMode both count the three convolutions (no bias) and the
four bmm products exactly as the model does (h + w entries, masked one included), and neither
counts the cat, softmax, fill, add or addcmul, so neither differs from the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from a2bench.aten_cpu import runs_reduced_on_aten
from a2bench.blocks.kernels import conv_kernel, expected_conv_kernel
from a2bench.case import Case
from a2bench.cost import Cost, Term, bmm, elementwise, pointwise, softmax
from a2bench.onednn import is_onednn_bf16
from a2bench.registry import BlockSpec, Param, Value, register


def reduced(channels: int) -> int:
    """Query and key channels: c // 8 as in CCNet, at least 1."""
    return max(1, channels // 8)


class CrissCrossAttention(nn.Module):
    """One criss-cross attention pass: gamma * (attention over the row and column) + x."""

    def __init__(self, channels: int, gamma: float = 1.0):
        super().__init__()
        cq = reduced(channels)
        self.query = nn.Conv2d(channels, cq, kernel_size=1)
        self.key = nn.Conv2d(channels, cq, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        # Official init is 0 (identity at init); 1.0 here so the attention path is exercised.
        self.gamma = nn.Parameter(torch.full((1,), float(gamma)))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError("criss-cross attention works on a row and a column of an image: "
                             f"expected (b, c, h, w), got shape {tuple(x.shape)}")
        b, c, h, w = x.shape
        # The order below (and each del) is the one the cost model follows for the live peak.
        q = self.query(x)  # (b, c', h, w)
        k = self.key(x)
        cq = q.shape[1]
        # Column energies, batched over (b, w): e_col[bw, i, j] = q(i, w) . k(j, w).
        q_col = q.permute(0, 3, 2, 1).contiguous().view(b * w, h, cq)
        k_col = k.permute(0, 3, 1, 2).contiguous().view(b * w, cq, h)
        e_col = torch.bmm(q_col, k_col)  # (b * w, h, h)
        del q_col, k_col
        # The position itself is also in its row: mask its column copy so the cross holds it once
        # (in place; exp(-inf) = 0 in the softmax).
        e_col.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
        # Row energies, batched over (b, h): e_row[bh, i, j] = q(h, i) . k(h, j).
        q_row = q.permute(0, 2, 3, 1).contiguous().view(b * h, w, cq)
        k_row = k.permute(0, 2, 1, 3).contiguous().view(b * h, cq, w)
        e_row = torch.bmm(q_row, k_row)  # (b * h, w, w)
        # q and k die here, not at their last copy: a copy that is a view (some size-1 shapes)
        # keeps them alive until now anyway, so the model frees them at one place for all shapes.
        del q_row, k_row, q, k
        # Joint energies (b, h, w, h + w): the column part first, then the row part.
        energy = torch.cat([e_col.view(b, w, h, h).permute(0, 2, 1, 3),
                            e_row.view(b, h, w, w)], dim=3)
        del e_col, e_row
        # One softmax per position over the joint h + w axis (dim 3): its h + w - 1 distinct
        # neighbours plus the masked duplicate of itself, which gets weight 0.
        att = torch.softmax(energy, dim=3)
        del energy
        v = self.value(x)  # (b, c, h, w); computed late so it is not live during the softmax
        # Column weights into a (b * w, h, h) batch: a copy (its batch axes do not merge).
        att_col = att[..., :h].permute(0, 2, 1, 3).contiguous().view(b * w, h, h)
        # Row aggregation: out_row[bh, :, i] = sum_j v(h, j) att[b, h, i, h + j]; the row slice of
        # att is a strided view that bmm reads without a copy.
        v_row = v.permute(0, 2, 1, 3).contiguous().view(b * h, c, w)
        out = torch.bmm(v_row, att[..., h:].reshape(b * h, w, w).transpose(1, 2))
        del v_row, att
        # Column aggregation: out_col[bw, :, i] = sum_j v(j, w) att_col[bw, i, j].
        v_col = v.permute(0, 3, 1, 2).contiguous().view(b * w, c, h)
        out_col = torch.bmm(v_col, att_col.transpose(1, 2))  # (b * w, c, h)
        del v_col, att_col, v  # v here too, for the same reason as q and k
        # Sum both parts in place in the row result, seen as (b, c, h, w).
        out = out.view(b, h, c, w).permute(0, 2, 1, 3)
        out.add_(out_col.view(b, w, c, h).permute(0, 2, 3, 1))
        del out_col
        return torch.addcmul(x, self.gamma, out)  # x + gamma * out, laid out like x


class RecurrentCrissCross(nn.Module):
    """The CCA module applied `recurrence` times with shared weights (RCCAModule's loop)."""

    def __init__(self, channels: int, recurrence: int = 2, gamma: float = 1.0):
        super().__init__()
        if recurrence < 1:
            raise ValueError(f"recurrence must be at least 1, got {recurrence}")
        self.recurrence = recurrence
        self.cca = CrissCrossAttention(channels, gamma)

    def forward(self, x: Tensor) -> Tensor:
        for _ in range(self.recurrence):
            x = self.cca(x)
        return x


def _images_only(p: Mapping[str, Value]) -> str | None:
    if int(p.get("t", 1)) != 1:
        return ("expected t = 1 (criss-cross attention is defined on the row and column of an "
                f"h x w image, not on clips), got t = {p['t']}")
    return None


def _copy(name: str, elements: int, *, frees: tuple[str, ...] = (),
          source: str = "", source_grad: int | None = None,
          grad_elements: int | None = None) -> Term:
    """A permute(...).contiguous() copy: allocates, moves data, no arithmetic counted.

    Backward: the gradient passes back as a permuted view of the copy's gradient (nothing
    saved, nothing allocated), unless `source_grad` is given: then the copy reads a slice of
    `source` and the slice's backward allocates the whole source (zeros, then the slice).
    `grad_elements`: the gradient's size where it is not the output's (a view: none)."""
    if not source:
        return Term(name, 0, 0, elements, frees, inputs=(), grad_elements=grad_elements)
    if source_grad is None:
        return Term(name, 0, 0, elements, frees, inputs=(source,), passes=(source,),
                    grad_elements=grad_elements)
    return Term(name, 0, 0, elements, frees, inputs=(source,), input_grads=(source_grad,),
                grad_elements=grad_elements)


def _strides(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides of a contiguous tensor of `sizes`."""
    out, step = [], 1
    for s in reversed(sizes):
        out.append(step)
        step *= s
    return tuple(reversed(out))


def _is_contiguous(sizes: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """torch's is_contiguous: dims of size 1 are ignored, the rest must be row-major."""
    expected = 1
    for size, stride in zip(reversed(sizes), reversed(strides), strict=True):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def _permuted_copy(name: str, sizes: tuple[int, ...], order: tuple[int, ...],
                   strides: tuple[int, ...] | None = None, *,
                   frees: tuple[str, ...] = (), source: str = "",
                   source_grad: int | None = None) -> Term:
    """x.permute(order).contiguous() for x of `sizes` (contiguous unless `strides` is given):
    a copy, with no arithmetic counted, unless the permuted tensor is already contiguous (then
    .contiguous() returns it and nothing is allocated; the gradient a product gives it is still
    whole, and a product that saves it keeps its source: _kept)."""
    strides = strides or _strides(sizes)
    new_sizes = tuple(sizes[d] for d in order)
    new_strides = tuple(strides[d] for d in order)
    elements = 1
    for s in sizes:
        elements *= s
    view = _is_contiguous(new_sizes, new_strides)
    return _copy(name, 0 if view else elements, frees=frees, source=source,
                 source_grad=source_grad, grad_elements=elements if view else None)


def _kept(term: Term) -> str:
    """What a product that saves `term` keeps alive: the term, or the tensor it is a view of
    (a permuted copy that copied nothing: a size-1 side; a 1 x w map's k_row, an h x 1 map's
    k_col and v_col)."""
    return term.inputs[0] if term.out_elements == 0 and term.inputs else term.name


# The layouts (b, c, h, w)'s dimensions take, outermost first, in the summed gradients that
# reach the convolutions (measured: the same at every shape, pass and batch), which decide
# whether ATen's bf16 bias gradient sums a float32 copy (aten_cpu.sums_float_copy): the value's
# and the key's do, on maps of both sides over 1; the query's, channels last, never does
GRAD_ORDERS = {"query": (0, 2, 3, 1), "key": (0, 2, 1, 3), "value": (0, 3, 1, 2)}

# ATen's CPU bmm computes a product of contraction x rows x columns under this in its own loop,
# without BLAS (LinearAlgebra.cpp, bmm_out_or_baddbmm_), so it copies no operand
ATEN_SMALL_BMM = 400


def _column_grad_copy(case: Case, kernel: str) -> int:
    """The column aggregation's backward copy of its output gradient. At batch 1 that gradient
    arrives as a permuted view (at a larger batch the view's backward cannot merge b and w,
    and copies it contiguous), whose batch matrices no BLAS call takes: ATen's CPU bmm copies
    each (c x h) one in turn, oneDNN's bf16 bmm the whole gradient, in each of the backward's
    two products (measured on the CPU only: none elsewhere)."""
    if case.batch > 1 or case.device != "cpu":
        return 0
    # No copy where the products take the gradient as it is: one matrix (w = 1: a transposed
    # one, which BLAS takes), or products ATen computes in its own loop, below 400 products
    # of the contraction and result sizes, c h h here (at 3 x 5, c 16: 144)
    if case.w == 1 or case.channels * case.h * case.h < ATEN_SMALL_BMM:
        return 0
    whole = case.w * case.channels * case.h
    return whole if is_onednn_bf16(kernel) else case.channels * case.h


def _pass_terms(case: Case, r: int, kernel: str = "") -> list[Term]:
    """One criss-cross pass, in the forward's order; names end in the pass index.

    Backward annotations (measured with the autograd profiler, one CPU thread): the convolutions
    save the pass input, the products their operands, the softmax its output, the residual
    (addcmul) `out` for gamma's gradient; copies and cat pass the gradient back as views. The
    gradients that reach q, k and v are permuted views summed out of place, so each convolution
    backward copies its output gradient contiguous (a scratch of its output's size). Each slice
    of the softmax output (the row part, read as a view, and the column part, copied) has a
    backward that allocates a whole (b, h, w, h + w) gradient; the two are summed in place. The
    parameters are shared by the R passes: their gradients are allocated by the last pass's
    backward (the first to run) and are a transient in the others (accumulated in place). At
    batch 1 the column aggregation's bmm copies its output gradient as it goes (see there): with
    it the float32 train peak is the model to the byte at all 60 cases of `benchmarks/
    block_peaks.py criss_cross --dtype float32 --batch 1 2 --channels 16 64 128 --sides 8 14 15
    32 48 --param recurrence=1,2` (at batch 1 it was 0.1-1.8 % over before). On CUDA that copy
    is not measured, so not modelled. On maps that are not square (docs/blocks.md), the row
    slice of att is taken after v_row's copy, whose backward therefore runs later, and a copy
    that is a view (a side of 1) has a whole gradient and keeps what it views (_kept).
    """
    b, c, h, w = case.batch, case.channels, case.h, case.w
    cq, big_n = reduced(c), case.h * case.w
    recurrence = int(case.param("recurrence"))
    prev = (f"residual{r - 1}",) if r else ()  # the pass input, held by the caller until now
    source = f"residual{r - 1}" if r else "x"

    def n(s: str) -> str:
        return f"{s}{r}"

    aten = runs_reduced_on_aten(case, kernel)

    def conv(name: str, cin: int, cout: int) -> Term:
        weights = cin * cout + cout
        first = r == recurrence - 1  # its backward runs first: the parameter gradients
        # On a map one column wide (w = 1) k_col and v_col are contiguous views, so the key's
        # and the value's summed gradients arrive contiguous and are not copied
        copied = b * cout * big_n if not (w == 1 and name in ("key", "value")) else 0
        return pointwise(n(name), b, big_n, cin, cout, inputs=(source,),
                         params=weights if first else 0,
                         backward_scratch=copied + (0 if first else weights),
                         kernel=kernel, sides=(h, w), reduced_aten=aten,
                         grad_order=GRAD_ORDERS[name])

    energy = b * big_n * (h + w)
    qk = (b, cq, h, w)
    vv = (b, c, h, w)
    # the column weights: the att[..., :h] slice (strides of the (b, h, w, h + w) softmax)
    att_col = _permuted_copy(n("att_col"), (b, h, w, h), (0, 2, 1, 3),
                             _strides((b, h, w, h + w)), source=n("softmax"),
                             source_grad=energy)
    att_alias = att_col.out_elements == 0
    e_col = b * w * h * h
    residual = b * c * big_n
    q_col = _permuted_copy(n("q_col"), qk, (0, 3, 2, 1), source=n("query"))
    k_col = _permuted_copy(n("k_col"), qk, (0, 3, 1, 2), source=n("key"))
    q_row = _permuted_copy(n("q_row"), qk, (0, 2, 3, 1), source=n("query"))
    k_row = _permuted_copy(n("k_row"), qk, (0, 2, 1, 3), source=n("key"))
    v_row = _permuted_copy(n("v_row"), vv, (0, 2, 1, 3), source=n("value"))
    v_col = _permuted_copy(n("v_col"), vv, (0, 3, 1, 2), source=n("value"))
    return [
        conv("query", c, cq),
        conv("key", c, cq),
        q_col,
        k_col,
        bmm(n("e_col"), b * w, h, cq, h, frees=(n("q_col"), n("k_col")),
            inputs=(n("q_col"), n("k_col")), saves=(_kept(q_col), _kept(k_col))),
        # the -inf fill of each position's column copy of itself: one write per position. In
        # place; its backward clones the gradient and zeroes the filled entries.
        elementwise(n("mask"), b * big_n, 0, inputs=(n("e_col"),), grad_elements=e_col,
                    backward_elementwise=b * big_n, backward_scratch=2 * b * big_n),
        q_row,
        k_row,
        bmm(n("e_row"), b * h, w, cq, w,
            frees=(n("q_row"), n("k_row"), n("query"), n("key")),
            inputs=(n("q_row"), n("k_row")), saves=(_kept(q_row), _kept(k_row))),
        # torch.cat; its backward slices the gradient (views)
        Term(n("energy"), 0, 0, energy, (n("e_col"), n("e_row")),
             inputs=(n("mask"), n("e_row")), passes=(n("mask"), n("e_row"))),
        softmax(n("softmax"), b * big_n, h + w, frees=(n("energy"),), inputs=(n("energy"),),
                device=case.device),
        conv("value", c, c),
        att_col,
        # training also names the row slice of att, a view that out_row reads (its backward
        # allocates the whole energy-sized gradient from the (b h, w, w) one). It is taken
        # after v_row's copy, so its backward runs first: v_row's and v_col's gradients are
        # both still apart then (the peak on thin maps, w >> h)
        dataclasses.replace(v_row, train_extra=(
            Term(n("att_row"), 0, 0, 0, inputs=(n("softmax"),), input_grads=(energy,),
                 grad_elements=b * h * w * w),)),
        # att dies here, unless att_col is a view of it (a 1 x 1 map): then after out_col
        # its second operand, the row slice of att, is strided: oneDNN's bf16 bmm copies it
        bmm(n("out_row"), b * h, c, w, w,
            frees=(n("v_row"), *(() if att_alias else (n("softmax"),))),
            inputs=(n("v_row"), n("att_row")), saves=(_kept(v_row), n("att_row")),
            kernel=kernel, copied=b * h * w * w),
        v_col,
        bmm(n("out_col"), b * w, c, h, h, frees=(n("v_col"), n("att_col"), n("value"),
                                               *((n("softmax"),) if att_alias else ())),
            inputs=(n("v_col"), n("att_col")), saves=(_kept(v_col), _kept(att_col)),
            backward_scratch=_column_grad_copy(case, kernel)),
        # in place into out_row (a permuted view): its backward gives both addends a gradient
        elementwise(n("sum"), residual, 0, frees=(n("out_col"),),
                    inputs=(n("out_row"), n("out_col")), grad_elements=residual),
        # x + gamma * out: a multiply and an add per element. Backward: x's gradient passes
        # through; out's is g gamma, gamma's the sum of g out (a full-size temporary).
        elementwise(n("residual"), 2 * residual, residual,
                    frees=(n("out_row"), *prev), inputs=(source, n("sum")),
                    passes=(source,), saves=(n("out_row"),), backward_elementwise=3 * residual,
                    backward_scratch=residual, params=1 if r == recurrence - 1 else 0),
    ]


@register
class CrissCrossSpec(BlockSpec):
    name = "criss_cross"
    label = "criss-cross (CCNet)"
    short_label = "criss-cross"
    params = (Param("recurrence", 2, "CCA recurrence R", short="R"),)
    shape_checks = (("t", _images_only),)
    examples = ({"batch": 2, "channels": 24, "h": 7, "w": 9},
                {"batch": 1, "channels": 12, "h": 5, "w": 6, "recurrence": 3})
    counter_difference = {}  # both count the convs and bmms as the model does (module docstring)
    # Its energies and aggregations are bmms along one row or one column, h or w long, whose
    # speed follows the side's remainder by AVX-512's 16 floats. On this repository's VM (1
    # thread), past the cache: at b 2, c 64, 26.7-28.2 GFLOP/s at sides 176 and 208 (multiples
    # of 16), 25.3-26.5 at 168, 184 and 200 (8 mod 16), 22.5-24.6 at 164 ... 204 (4 mod 8); at
    # b 1, c 128, 41.7-42.6 at 240, 272 and 304, 38.8-39.5 at 216, 37.2-38.8 at 172 and 196,
    # so a window whose multiples of 16 fell at its top grew as N^1.26 [1.20, 1.33] against
    # its model's 1.38. Within the cache at c 96: 55-57 at multiples of 8, 51-54 at the others.
    # The planner takes multiples of 16 where a window of them fits, else the odd multiples of
    # 8 (8 mod 16: a window that mixed them with multiples of 16 read side 176 fast against
    # its neighbours at b 2, c 64, ΔBIC 8.8), else any.
    side_class = 16

    def module(self, case: Case) -> nn.Module:
        return RecurrentCrissCross(case.channels, int(case.param("recurrence")))

    def backend(self, module: nn.Module, x: Tensor) -> str:
        return conv_kernel(module, x)

    def expected_backend(self, case: Case, threads: int = 1) -> str:
        return expected_conv_kernel(case, threads)

    def cost(self, case: Case, backend: str = "") -> Cost:
        """Per pass: N [c (2c' + c) + (h + w)(c' + c)] MACs per sample (convs q, k, v; h + w
        energies; h + w aggregation weights), times R; c' = max(1, c // 8), N = h w.
        `backend`: the convolutions' kernel that ran (the record's)."""
        terms: list[Term] = []
        for r in range(int(case.param("recurrence"))):
            terms += _pass_terms(case, r, backend)
        return Cost(tuple(terms), case.dtype_bytes)
