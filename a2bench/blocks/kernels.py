"""Which kernel torch ran for a block's operators, where the memory model depends on it: a block
that reports one in BlockSpec.backend gets it back in cost(case, backend=...).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from a2bench.cost import ONEDNN_BF16


def conv_kernel(module: nn.Module, x: Tensor, ops: set[str] | None = None) -> str:
    """ONEDNN_BF16 where the block's bfloat16 convolutions run on oneDNN (aten::
    mkldnn_convolution), whose scratch the model then holds (cost.onednn_bf16_scratch); ""
    for the others (float32 here runs ATen's own kernel, and a CPU that emulates bf16 too).
    `ops`: the operators one forward ran (measure.memory.ops_run), where the caller has them;
    else one forward is profiled here."""
    if x.dtype != torch.bfloat16 or x.device.type != "cpu":
        return ""
    if ops is None:
        from a2bench.measure.memory import ops_run

        ops = ops_run(lambda: module(x))
    return ONEDNN_BF16 if "aten::mkldnn_convolution" in ops else ""
