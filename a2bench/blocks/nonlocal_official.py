"""The non-local block as the official code configures it, for ResNet-50's `nonlocal_official`.

Wang et al. (CVPR 2018) §4.1 and the official Caffe2 code (facebookresearch/video-nonlocal-net,
lib/models/nonlocal_helper.py, config defaults USE_MAXPOOL, USE_BN, BN_INIT_GAMMA = 0,
USE_SCALE, USE_SOFTMAX, NO_BIAS = 0), on an image (b, c, h, w):

- theta: a 1x1 convolution c -> d (d = c/2, with bias) at full resolution, N = h w positions;
- x max-pooled 2x2, stride 2, no padding (the official MaxPool [1, 2, 2] pools x BEFORE phi and
  g), N' = floor(h/2) floor(w/2) positions; phi and g: 1x1 convolutions c -> d on the pooled x;
- the affinity theta^T phi (N x N'), scaled by d^-1/2, a softmax over the N' keys, y = g p^T;
- W_z: a 1x1 convolution d -> c (with bias), then a BatchNorm whose scale (gamma) starts at zero,
  so the block is the identity at initialisation; then the residual add.

The registered `nonlocal` block (nonlocal_block.py) is the paper's block without this BN and,
with `subsample` 2, pools after phi and g (mmcv's NonLocal2d); this one is a part of ResNet-50
only, not a block of its own. MACs per sample: theta c d N, phi and g 2 c d N', the two products
2 N N' d, W_z d c N: c d (2N + 2N') + 2 d N N', i.e. c^2 (N + N') + c N N' at d = c/2 (the
official row of notes/more-blocks.md, 1.25 c^2 N + c N^2 / 4 at even sides).

Counters: FlopCounterMode counts the model's MACs; fvcore adds 2 per element of the BN (an
inference BN with affine; resnet50 declares it with its other BNs); neither counts the pool.

Evaluation order (the cost model's, for the live peak): theta, the pool (its int64 indices live
while it runs), phi, g, the pooled x freed, the affinity (scaled in place), the softmax (both
N x N' tensors live at once), y, W_z, the BN, the residual.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a2bench.case import Case
from a2bench.cost import INPUT, Cost, Term, batch_norm, bmm, elementwise, pointwise, softmax

NAME = "nonlocal_official"


class NonLocalOfficial(nn.Module):
    """The official non-local block on images: pooled phi and g, BN (gamma 0) after W_z."""

    def __init__(self, channels: int, inner: int):
        super().__init__()
        self.inner = inner
        self.scale = 1.0 / math.sqrt(inner)
        self.theta = nn.Conv1d(channels, inner, 1)
        self.phi = nn.Conv1d(channels, inner, 1)
        self.g = nn.Conv1d(channels, inner, 1)
        self.w_z = nn.Conv1d(inner, channels, 1)
        self.bn = nn.BatchNorm1d(channels)
        nn.init.zeros_(self.bn.weight)  # BN_INIT_GAMMA = 0: the block starts as the identity

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected (b, c, h, w), got shape {tuple(x.shape)}")
        flat = x.flatten(2)  # (b, c, N), a view
        q = self.theta(flat)  # (b, d, N)
        pooled = F.max_pool2d(x, kernel_size=2, stride=2).flatten(2)  # (b, c, N')
        k = self.phi(pooled)  # (b, d, N')
        v = self.g(pooled)  # (b, d, N')
        del pooled
        affinity = torch.bmm(q.transpose(1, 2), k)  # (b, N, N')
        del q, k
        affinity.mul_(self.scale)
        attn = torch.softmax(affinity, dim=2)  # over the N' keys
        del affinity
        y = torch.bmm(v, attn.transpose(1, 2))  # (b, d, N)
        del v, attn
        z = self.w_z(y)
        del y
        z = self.bn(z)
        return (z + flat).view_as(x)


def keys(case: Case) -> int:
    """N': the pooled positions phi and g see."""
    return (case.h // 2) * (case.w // 2)


def official_cost(case: Case) -> Cost:
    """The exact forward model (with the backward annotations a train cost needs) of one
    official block at the case's shape; `inner` from the case's parameters (c/2 by default)."""
    b, c, n = case.batch, case.channels, case.positions
    d = int(dict(case.params).get("inner", max(1, c // 2)))
    n_kv = keys(case)
    pooled = b * c * n_kv
    indices = pooled * 8 // case.dtype_bytes  # int64, in elements of the case dtype
    affinity = b * n * n_kv
    terms = (
        # theta's gradient arrives transposed (q is read transposed): its backward copies it
        pointwise("theta", b, n, c, d, inputs=(INPUT,), backward_scratch=b * d * n),
        # max_pool2d_with_indices on x: 3 comparisons per output; saves x and the indices; its
        # backward zero-fills x's gradient and scatters (1 per input, 1 per pooled element)
        elementwise("pool", 3 * pooled, pooled, inputs=(INPUT,), saves=(INPUT, "pool_indices"),
                    backward_elementwise=b * c * n + pooled),
        Term("pool_indices", 0, 0, indices, ("pool_indices",), inputs=()),
        pointwise("phi", b, n_kv, c, d, inputs=("pool",)),
        pointwise("g", b, n_kv, c, d, frees=("pool",), inputs=("pool",)),
        bmm("affinity", b, n, d, n_kv, frees=("theta", "phi"), inputs=("theta", "phi")),
        # in place: nothing new; its backward multiplies the gradient into a new tensor
        elementwise("scale", affinity, 0, inputs=("affinity",), grad_elements=affinity,
                    backward_elementwise=affinity),
        softmax("softmax", b * n, n_kv, frees=("affinity",), inputs=("scale",),
                backward_scratch=affinity, device=case.device),
        bmm("y", b, d, n_kv, n, frees=("g", "softmax"), inputs=("g", "softmax")),
        pointwise("w_z", b, n, d, c, frees=("y",), inputs=("y",)),
        batch_norm("bn", b, n, c, frees=("w_z",), inputs=("w_z",)),
        elementwise("residual", b * c * n, b * c * n, frees=("bn",), inputs=("bn", INPUT),
                    passes=("bn", INPUT)),
    )
    return Cost(terms, case.dtype_bytes)

