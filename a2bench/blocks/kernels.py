"""Which kernel torch ran for a block's operators, where the memory model depends on it: a block
that reports one in BlockSpec.backend gets it back in cost(case, backend=...).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from a2bench.case import Case
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


@functools.cache
def onednn_runs_bf16_convolutions() -> bool:
    """Whether torch runs a bfloat16 1x1 convolution on oneDNN on this machine: one tiny
    Conv1d's forward under the profiler, once per process. torch decides it by the CPU's ISA
    (oneDNN's bf16 support: AVX-512 or AVX2-VNNI-2 on x86), the same on every call, so the
    answer for one shape is the answer for all the blocks' convolutions."""
    from a2bench.measure.memory import ops_run

    conv = nn.Conv1d(16, 16, kernel_size=1).to(torch.bfloat16)
    x = torch.zeros(1, 16, 8, dtype=torch.bfloat16)
    return "aten::mkldnn_convolution" in ops_run(lambda: conv(x))


def expected_conv_kernel(case: Case) -> str:
    """The kernel a case's convolutions are expected to run before it runs (no module yet):
    what conv_kernel would record, for the budget check and the planner
    (BlockSpec.expected_backend)."""
    if case.dtype != "bfloat16" or case.device != "cpu":
        return ""
    return ONEDNN_BF16 if onednn_runs_bf16_convolutions() else ""
