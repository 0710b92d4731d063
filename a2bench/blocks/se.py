"""Squeeze-and-excitation (Hu et al., CVPR 2018): a channel-only global context baseline."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from a2bench.aten_cpu import wrapped_scalar_elements
from a2bench.case import Case
from a2bench.cost import Cost, Term, elementwise, pointwise
from a2bench.registry import BlockSpec, Param, register


class SqueezeExcitation(nn.Module):
    """SE block: pool, FC c->c/r, ReLU, FC c/r->c, sigmoid, channel scale."""

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


def _pool_macs(case: Case) -> int:
    # fvcore counts 2-D adaptive average pooling as one MAC per input element; it has no
    # handle for the 3-D pooling of clips, which it skips.
    return case.batch * case.channels * case.positions if case.t == 1 else 0


def _upcasts(case: Case) -> bool:
    return case.device == "cpu" and case.dtype_bytes == 2


def _upcast_pool(case: Case, big: int) -> tuple[Term, ...]:
    """On a CPU, the average pooling of a bf16 or fp16 x reduces in fp32: it copies x to fp32
    and takes the fp32 mean, then casts it to x's dtype (ATen's mean on a reduced float; the
    profiler names both copies aten::_to_copy under adaptive_avg_pool2d). All three are live
    at once, and in inference that is SE's peak: twice the modelled peak at 12 x 12, c 64,
    before (results/cpu-training). In elements of the case's dtype; forward_only, because in
    training the backward's peak is higher (the train peaks matched without these terms) and
    autograd sees the mean of x, not of the copy."""
    if not _upcasts(case):
        return ()
    wide = 4 // case.dtype_bytes  # an fp32 element in elements of the case's dtype
    return (Term("pool_x_fp32", 0, 0, wide * big, inputs=("x",), forward_only=True),
            Term("pool_fp32", 0, 0, wide * case.batch * case.channels,
                 inputs=("pool_x_fp32",), forward_only=True))


def _divisor_elements(case: Case) -> int:
    """The mean's backward divides the gradient by N, a wrapped number (aten_cpu.
    wrapped_scalar_elements) that it also casts to the gradient's dtype, one element more
    (MeanBackward1 > aten::div, > aten::_to_copy: 12 B in float32, 10 B in bfloat16)."""
    wrapped = wrapped_scalar_elements(case.device, case.dtype_bytes)
    return wrapped + 1 if wrapped else 0


@register
class SESpec(BlockSpec):
    name = "se"
    label = "SE (squeeze-excitation)"
    short_label = "SE"
    params = (Param("reduction", 16, "SE reduction r", short="r",
                    check=lambda p: None if int(p["reduction"]) <= int(p["channels"]) else
                    f"expected at most channels ({p['channels']}), got {p['reduction']}"),)
    examples = ({"batch": 2, "channels": 48, "h": 7, "w": 5, "reduction": 16},
                {"batch": 1, "channels": 32, "t": 3, "h": 4, "w": 6, "reduction": 4})
    counter_difference = {
        "fvcore": (_pool_macs, "fvcore counts the average pooling as one MAC per input element; "
                               "the model counts it as elementwise work"),
    }

    def module(self, case: Case) -> nn.Module:
        return SqueezeExcitation(case.channels, int(case.param("reduction")))

    def cost(self, case: Case) -> Cost:
        b, c, big_n = case.batch, case.channels, case.positions
        hidden = c // int(case.param("reduction"))
        big = b * c * big_n
        terms = (
            *_upcast_pool(case, big),
            # mean over positions; its backward spreads the gradient over x (1 per element)
            Term("pool", 0, big, b * c, inputs=("x",), backward_elementwise=big,
                 frees=("pool_x_fp32", "pool_fp32") if _upcasts(case) else (),
                 backward_scratch=_divisor_elements(case)),
            # `pooled`, a local of forward(), keeps the mean alive until the scale in eager
            # mode; a compiled graph frees it at its last use (measured: eager and compiled
            # forward peaks exact in results/cpu-training, every GPU run's eager ones too)
            pointwise("fc1", b, 1, c, hidden, inputs=("pool",),
                      frees=("pool",) if case.compile else ()),
            elementwise("relu", b * hidden, b * hidden, frees=("fc1",), inputs=("fc1",),
                        saves=("relu",), backward_elementwise=b * hidden),
            pointwise("fc2", b, 1, hidden, c, frees=("relu",), inputs=("relu",)),
            elementwise("sigmoid", b * c, b * c, frees=("fc2",), inputs=("fc2",),
                        saves=("sigmoid",), backward_elementwise=3 * b * c),
            # x * s broadcast: grad x = g s, grad s = sum over positions of g x, whose product
            # is a full-size temporary before the reduction
            elementwise("scale", big, big, inputs=("x", "sigmoid"),
                        frees=("sigmoid",) if case.compile else ("sigmoid", "pool"),
                        saves=("x", "sigmoid"), backward_elementwise=3 * big,
                        backward_scratch=big),
        )
        return Cost(terms, case.dtype_bytes)
