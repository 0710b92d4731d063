"""The three blocks and the registry that builds them from a Case.

1x1 convolutions act on each position independently, so they are applied as kernel-1 convolutions
over the flattened t*h*w positions: one operator, one parameter layout, for images and clips alike.
Softmax axes are always named; an unnamed softmax on a 3-D tensor normalises over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from a2bench.case import Case

Association = Literal["left", "right"]


def _pointwise(cin: int, cout: int) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel_size=1, bias=True)


class DoubleAttention(nn.Module):
    """A^2-Nets double attention block (Chen et al., NeurIPS 2018), with a residual.

    association="left" gathers first, G = A softmax(B)^T (m x n), costing O(m n N);
    association="right" evaluates the same function in the non-local order,
    S = softmax(B)^T softmax(V) (N x N), costing O((m + n) N^2). Parameters are identical, so one
    state_dict loads into either.
    """

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
        # The evaluation order below is the one a2bench.cost models for the activation peak.
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


class SqueezeExcitation(nn.Module):
    """SE block (Hu et al., SENet): pool, FC c->c/r, ReLU, FC c/r->c, sigmoid, channel scale."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        if not 1 <= reduction <= channels:
            raise ValueError(f"reduction must be in [1, channels={channels}], got {reduction}")
        hidden = channels // reduction
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4:
            pooled = nn.functional.adaptive_avg_pool2d(x, 1)
        elif x.dim() == 5:
            pooled = nn.functional.adaptive_avg_pool3d(x, 1)
        else:
            raise ValueError(
                f"expected (b, c, h, w) or (b, c, t, h, w), got shape {tuple(x.shape)}")
        s = torch.sigmoid(self.fc2(self.relu(self.fc1(pooled.flatten(1)))))
        return x * s.view(*s.shape, *([1] * (x.dim() - 2)))


BlockFactory = Callable[[Case], nn.Module]

REGISTRY: dict[str, BlockFactory] = {
    "double_attention": lambda c: DoubleAttention(c.channels, c.m, c.n, "left"),
    "nonlocal_right": lambda c: DoubleAttention(c.channels, c.m, c.n, "right"),
    "se": lambda c: SqueezeExcitation(c.channels, c.reduction),
}

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def build(case: Case, seed: int = 0) -> tuple[nn.Module, Tensor]:
    """The module (eval mode) and one input for a case, on its device and dtype."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dtype = DTYPES[case.dtype]
    module = REGISTRY[case.block](case).to(device=case.device, dtype=dtype).eval()
    x = torch.randn(case.input_shape, generator=gen, dtype=torch.float32)
    return module, x.to(device=case.device, dtype=dtype).contiguous()
