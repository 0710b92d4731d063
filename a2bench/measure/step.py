"""What one timed call runs, per mode: a forward pass, or a forward and a backward pass.

`forward`: inference, run by the caller under torch.no_grad().
`train`: the input and every parameter require grad; one call runs the forward pass and
backpropagates a fixed upstream gradient (drawn once, outside the timed region, the shape of the
output). Gradients are dropped (set to None) at the start of each call, so no call accumulates
into the previous one's buffers and every call allocates what a training step allocates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from a2bench.errors import CaseError


@dataclass(frozen=True)
class Step:
    run: Callable[[], object]
    grad_enabled: bool  # False: run it under torch.no_grad()
    release: Callable[[], None]  # drop the gradients the last call left (before a memory probe)


def make_step(module: nn.Module, x: Tensor, mode: str) -> Step:
    if mode == "forward":
        return Step(lambda: module(x), False, lambda: None)
    if mode != "train":
        raise ValueError(f"mode: expected forward or train, got {mode!r}")
    module.train()
    x = x.detach().requires_grad_(True)
    params = [p for p in module.parameters() if p.requires_grad]
    with torch.no_grad():
        shape = module(x).shape
    if x.device.type == "meta":  # a trace (measure/traced.py): no values to draw, none to hold
        grad_out = torch.empty(shape, device="meta", dtype=x.dtype)
    else:
        gen = torch.Generator().manual_seed(1)
        grad_out = torch.randn(shape, generator=gen, dtype=torch.float32).to(x.device, x.dtype)

    def release() -> None:
        x.grad = None
        for p in params:
            p.grad = None

    def run() -> object:
        release()
        out = module(x)
        try:
            out.backward(grad_out)
        except RuntimeError as e:
            if out.requires_grad:
                raise
            # torch's "element 0 of tensors does not require grad" names no line of the block
            raise CaseError(f"{type(module).__name__}'s output does not require grad in train "
                            "mode: it depends on no parameter and not on the input through "
                            "operations autograd follows (a .detach(), .data, torch.no_grad() "
                            "or a non-float cast in forward?); expected an output a backward "
                            f"can run through ({e})") from None
        return None  # the output is freed here, as a training loop frees it after backward

    return Step(run, True, release)
