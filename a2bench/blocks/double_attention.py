"""A²-Nets double attention (Chen et al., NeurIPS 2018), in both association orders.

`double_attention` gathers first, G = A softmax(B)^T (m x n), costing O(m n N);
`nonlocal_right` evaluates the same function in the non-local order,
S = softmax(B)^T softmax(V) (N x N) first, costing O((m + n) N^2). Both share one module class and
one parameter layout, so one state_dict loads into either.

Efficient attention (Shen et al., WACV 2021) with one head is this block: its keys normalised
over positions and its queries over the key channels, aggregated keys-with-values first
(tests/test_blocks.py checks the equivalence).

1x1 convolutions act on each position independently, so they are applied as kernel-1
convolutions over the flattened t*h*w positions: one operator, one parameter layout, for images
and clips alike. Softmax axes are always named; an unnamed softmax on a 3-D tensor normalises
over the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from a2bench.aten_cpu import runs_reduced_on_aten
from a2bench.blocks.kernels import conv_kernel, expected_conv_kernel
from a2bench.case import Case
from a2bench.cost import Cost, Term, bmm, elementwise, pointwise, softmax
from a2bench.registry import BlockSpec, Param, Value, register

Association = Literal["left", "right"]


def _pointwise(cin: int, cout: int) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel_size=1, bias=True)


class DoubleAttention(nn.Module):
    """Double attention with a residual; `association` picks the evaluation order."""

    def __init__(self, channels: int, m: int, n: int, association: Association = "left"):
        super().__init__()
        if association not in ("left", "right"):
            raise ValueError(f"association must be 'left' or 'right', got {association!r}")
        self.association = association
        self.phi = _pointwise(channels, m)  # A: features to gather
        self.theta = _pointwise(channels, n)  # B: attention maps, softmax over positions
        self.rho = _pointwise(channels, n)  # V: attention vectors, softmax over the n maps
        self.proj = _pointwise(m, channels)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (4, 5):
            raise ValueError(
                f"expected (b, c, h, w) or (b, c, t, h, w), got shape {tuple(x.shape)}")
        flat = x.flatten(2)  # (b, c, N), a view for contiguous input
        # The evaluation order below is the one the cost models follow for the activation peak.
        a = self.phi(flat)
        attn_b = torch.softmax(self.theta(flat), dim=2)  # each of the n maps over N positions
        if self.association == "left":
            g = torch.bmm(a, attn_b.transpose(1, 2))  # (b, m, n)
            del a, attn_b
            attn_v = torch.softmax(self.rho(flat), dim=1)  # each position over the n maps
            z = torch.bmm(g, attn_v)  # (b, m, N)
            del g, attn_v
        else:
            attn_v = torch.softmax(self.rho(flat), dim=1)
            s = torch.bmm(attn_b.transpose(1, 2), attn_v)  # (b, N, N)
            del attn_b, attn_v
            z = torch.bmm(a, s)  # (b, m, N)
            del a, s
        out = self.proj(z)
        del z
        return (out + flat).view_as(x)


def _quarter(p: Mapping[str, Value]) -> int:
    return max(1, int(p["channels"]) // 4)  # the paper's m = n = c/4


PARAMS = (
    Param("m", _quarter, "m (gathered features)"),
    Param("n", _quarter, "n (attention maps)"),
)
EXAMPLES = ({"batch": 2, "channels": 24, "h": 7, "w": 9, "m": 10, "n": 6},
            {"batch": 1, "channels": 16, "t": 3, "h": 5, "w": 4, "m": 4, "n": 8})


def _shared(case: Case, kernel: str) -> dict[str, Term]:
    """The terms both association orders share; only the two products in between differ.
    `kernel`: the convolutions' (conv_kernel, the record's `backend`)."""
    b, c, big_n = case.batch, case.channels, case.positions
    m, n = int(case.param("m")), int(case.param("n"))
    aten = runs_reduced_on_aten(case, kernel)  # the bias gradients' float32 sums
    return {
        "phi": pointwise("phi", b, big_n, c, m, inputs=("x",), kernel=kernel,
                         reduced_aten=aten),
        "theta": pointwise("theta", b, big_n, c, n, inputs=("x",), kernel=kernel,
                           reduced_aten=aten),
        # softmax(B) is read transposed by the next product, so its gradient arrives transposed
        # and the softmax backward first copies it contiguous (a scratch of its size)
        "softmax_b": softmax("softmax_b", b * n, big_n, frees=("theta",), inputs=("theta",),
                             backward_scratch=b * n * big_n, device=case.device),
        "rho": pointwise("rho", b, big_n, c, n, inputs=("x",), kernel=kernel,
                         reduced_aten=aten),
        "softmax_v": softmax("softmax_v", b * big_n, n, frees=("rho",), inputs=("rho",),
                             device=case.device),
        # the residual's gradient is the output's, for both operands
        "residual": elementwise("residual", b * c * big_n, b * c * big_n, frees=("proj",),
                                inputs=("proj", "x"), passes=("proj", "x")),
    }


@register
class DoubleAttentionSpec(BlockSpec):
    name = "double_attention"
    label = "double attention (A², gather first)"
    short_label = "double attention"
    params = PARAMS
    examples = EXAMPLES

    def module(self, case: Case) -> nn.Module:
        return DoubleAttention(case.channels, int(case.param("m")), int(case.param("n")), "left")

    def backend(self, module: nn.Module, x: Tensor) -> str:
        return conv_kernel(module, x)

    def expected_backend(self, case: Case, threads: int = 1) -> str:
        return expected_conv_kernel(case, threads)

    def cost(self, case: Case, backend: str = "") -> Cost:
        """Gather first: G = A softmax(B)^T (m x n), then Z = G softmax(V). `backend`: the
        convolutions' kernel that ran (the record's)."""
        t = _shared(case, backend)
        b, big_n = case.batch, case.positions
        m, n = int(case.param("m")), int(case.param("n"))
        terms = (
            t["phi"], t["theta"], t["softmax_b"],
            bmm("gather", b, m, big_n, n, frees=("phi", "softmax_b"), inputs=("phi", "softmax_b")),
            t["rho"], t["softmax_v"],
            bmm("distribute", b, m, n, big_n, frees=("gather", "softmax_v"),
                inputs=("gather", "softmax_v")),
            pointwise("proj", b, big_n, m, case.channels, frees=("distribute",),
                      inputs=("distribute",), kernel=backend,
                      reduced_aten=runs_reduced_on_aten(case, backend)),
            t["residual"],
        )
        return Cost(terms, case.dtype_bytes)


@register
class NonlocalOrderSpec(BlockSpec):
    name = "nonlocal_right"
    label = "non-local order (N×N first)"
    short_label = "non-local order"
    params = PARAMS
    examples = EXAMPLES

    def module(self, case: Case) -> nn.Module:
        return DoubleAttention(case.channels, int(case.param("m")), int(case.param("n")), "right")

    def backend(self, module: nn.Module, x: Tensor) -> str:
        return conv_kernel(module, x)

    def expected_backend(self, case: Case, threads: int = 1) -> str:
        return expected_conv_kernel(case, threads)

    def cost(self, case: Case, backend: str = "") -> Cost:
        """Non-local order: S = softmax(B)^T softmax(V) (N x N) first, then Z = A S.
        `backend`: the convolutions' kernel that ran (the record's)."""
        t = _shared(case, backend)
        b, big_n = case.batch, case.positions
        m, n = int(case.param("m")), int(case.param("n"))
        terms = (
            t["phi"], t["theta"], t["softmax_b"], t["rho"], t["softmax_v"],
            bmm("affinity", b, big_n, n, big_n, frees=("softmax_b", "softmax_v"),
                inputs=("softmax_b", "softmax_v")),
            bmm("aggregate", b, m, big_n, big_n, frees=("phi", "affinity"),
                inputs=("phi", "affinity")),
            pointwise("proj", b, big_n, m, case.channels, frees=("aggregate",),
                      inputs=("aggregate",), kernel=backend,
                      reduced_aten=runs_reduced_on_aten(case, backend)),
            t["residual"],
        )
        return Cost(terms, case.dtype_bytes)
