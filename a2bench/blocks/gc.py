"""GCNet global context block (Cao et al., 2019, arXiv 1904.11492), the official default variant.

Definition from the official code (mmcv `ContextBlock`, xvjiarui/GCNet), with its defaults
`pooling_type='att'` and `fusion_types=('channel_add',)`:

1. Context modelling: a 1x1 conv c->1 with bias (`conv_mask`) gives one logit per position; a
   softmax over the N = t*h*w positions turns them into attention weights p; attention pooling
   gives one context vector per sample, context = X p^T, a (c x N)(N x 1) product.
2. Transform: 1x1 conv c->c/r, LayerNorm over the c/r channels (the official
   `LayerNorm([planes, 1, 1])`, with affine), ReLU, 1x1 conv c/r->c; every conv has a bias.
3. Fusion ('channel_add'): the transformed context is added to every position of x.

The official code zero-initialises the last conv (`last_zero_init`, a training choice that makes
the block start as the identity); here every layer keeps PyTorch's default init, so the attention
path contributes to the output and can be checked. The init changes neither the cost nor the
speed. The official `ratio` is a float (1/16 means r16, planes = int(c * ratio)); here the
reduction r is an integer and the hidden width is c // r, as in the SE block.

1x1 convolutions act on each position independently, so they run as kernel-1 convolutions over
the flattened t*h*w positions: one operator and one parameter layout for images and clips.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from a2bench.aten_cpu import runs_reduced_on_aten
from a2bench.blocks.kernels import conv_kernel, expected_conv_kernel
from a2bench.case import Case
from a2bench.cost import Cost, Term, bmm, elementwise, pointwise, softmax
from a2bench.registry import BlockSpec, Param, Value, register


def _pointwise(cin: int, cout: int) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel_size=1, bias=True)


class GlobalContext(nn.Module):
    """GC block: attention pooling over positions, bottleneck transform, broadcast add."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        if not 1 <= reduction <= channels:
            raise ValueError(f"reduction must be in [1, channels={channels}], got {reduction}")
        hidden = channels // reduction
        self.conv_mask = _pointwise(channels, 1)  # one attention logit per position
        self.transform = nn.Sequential(
            _pointwise(channels, hidden),
            # Normalises each sample's c/r hidden values together, as the official
            # LayerNorm([planes, 1, 1]) does on a (b, planes, 1, 1) tensor.
            nn.LayerNorm([hidden, 1]),
            nn.ReLU(),
            _pointwise(hidden, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (4, 5):
            raise ValueError(
                f"expected (b, c, h, w) or (b, c, t, h, w), got shape {tuple(x.shape)}")
        flat = x.flatten(2)  # (b, c, N), a view for contiguous input
        # The evaluation order below is the one the cost model follows for the activation peak.
        logits = self.conv_mask(flat)  # (b, 1, N)
        weights = torch.softmax(logits, dim=2)  # over the N positions of each sample
        del logits
        context = torch.bmm(flat, weights.transpose(1, 2))  # (b, c, N)(b, N, 1) -> (b, c, 1)
        del weights
        term = self.transform(context)  # (b, c, 1)
        del context
        # 'channel_add' fusion: the (b, c, 1) term broadcasts over the N positions; the sum is a
        # new (b, c, N) tensor (the input is never modified).
        return (flat + term).view_as(x)


def _check_reduction(p: Mapping[str, Value]) -> str | None:
    r, c = int(p["reduction"]), int(p["channels"])
    if not 1 <= r <= c:
        return f"expected 1 <= reduction <= channels ({c}), got {r}"
    return None


def _layernorm_ops(rows: int, length: int) -> int:
    """LayerNorm with affine over rows of `length`: 7 operations per element and 2 per row.

    Per row: mean (L - 1 adds, 1 divide), centre (L subtracts), square (L multiplies), variance
    (L - 1 adds, 1 divide), eps add and rsqrt (2), normalise (L multiplies), affine (L
    multiplies, L adds): 7L + 2.
    """
    return rows * (7 * length + 2)


def _fvcore_layernorm(case: Case) -> int:
    # fvcore's norm handle reports 5 "flops" per input element of a LayerNorm with affine (its
    # own "rough estimate"), counted with the MACs; the model has no MACs there.
    return 5 * case.batch * (case.channels // int(case.param("reduction")))


@register
class GlobalContextSpec(BlockSpec):
    name = "gc"
    label = "GC (global context)"
    short_label = "GC"
    params = (Param("reduction", 16, "GC reduction r", short="r", check=_check_reduction),)
    examples = ({"batch": 2, "channels": 48, "h": 7, "w": 9, "reduction": 16},
                {"batch": 1, "channels": 20, "t": 3, "h": 5, "w": 7, "reduction": 4})
    counter_difference = {
        "fvcore": (_fvcore_layernorm,
                   "fvcore counts a LayerNorm with affine as 5 MACs per element (b*c/r elements); "
                   "the model counts it as elementwise work"),
    }

    def module(self, case: Case) -> nn.Module:
        return GlobalContext(case.channels, int(case.param("reduction")))

    def backend(self, module: nn.Module, x: Tensor) -> str:
        return conv_kernel(module, x)

    def expected_backend(self, case: Case, threads: int = 1) -> str:
        return expected_conv_kernel(case, threads)

    def cost(self, case: Case, backend: str = "") -> Cost:
        """MACs per sample: c*N (mask) + c*N (pooling) + 2*c*(c//r) (transform).

        The peak is the (b, c, N) output plus the (b, c) term being added. On this
        repository's CPU a float32 case's peak is the model's to the byte (its convolutions
        run on ATen's kernel). Where they run on oneDNN the mask conv holds transients of its
        own, a copy of the input in its blocked layout and its one output channel padded to
        the SIMD block: the model holds them for a bfloat16 case that recorded the kernel
        (`backend`, onednn.onednn_bf16_scratch); a float32 one on oneDNN (the AVX2 host of
        earlier runs) measured about the model plus 8/c (3 % at c = 256).
        """
        b, c, big_n = case.batch, case.channels, case.positions
        hidden = c // int(case.param("reduction"))
        big = b * c * big_n
        # ATen's bf16 bias gradients sum no float32 copy here: one output channel, or one
        # position (aten_cpu.sums_float_copy); passed so that the model says so itself
        aten = runs_reduced_on_aten(case, backend)
        terms = (
            pointwise("mask", b, big_n, c, 1, inputs=("x",), kernel=backend, reduced_aten=aten),
            softmax("softmax", b, big_n, frees=("mask",), inputs=("mask",), device=case.device),
            bmm("pool", b, c, big_n, 1, frees=("softmax",), inputs=("x", "softmax")),
            # the pooled context lives through the whole transform (forward's `del context`
            # follows it), so it is freed with the expand, not at the reduce
            pointwise("reduce", b, 1, c, hidden, inputs=("pool",), kernel=backend,
                      reduced_aten=aten),
            # native_layer_norm also returns each row's mean and inverse std, freed as it returns
            Term("layernorm", 0, _layernorm_ops(b, hidden), b * hidden, ("reduce",),
                 inputs=("reduce",), saves=("reduce",), params=2 * hidden,
                 backward_elementwise=11 * b * hidden, scratch=2 * b),
            elementwise("relu", b * hidden, b * hidden, frees=("layernorm",),
                        inputs=("layernorm",), saves=("relu",), backward_elementwise=b * hidden),
            pointwise("expand", b, 1, hidden, c, frees=("relu", "pool"), inputs=("relu",),
                      kernel=backend, reduced_aten=aten),
            # One add per output element; the (b, c, N) sum is the block's output. Backward: x's
            # gradient is the output's; the broadcast term's is its sum over positions.
            elementwise("add", big, big, frees=("expand",), inputs=("x", "expand"),
                        passes=("x",), backward_elementwise=big),
        )
        return Cost(terms, case.dtype_bytes)
