"""The built-in blocks, one file each, and `build`: a case's module and input.

Importing this package registers every built-in block in a2bench.registry.REGISTRY. A block file
holds its nn.Module, its parameters and its exact cost model together (see registry.BlockSpec).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# isort: off
# Registration order is the order `a2bench list`, suites and reports show the blocks in.
from a2bench.blocks import (  # noqa: F401
    double_attention, se, nonlocal_block, gc, criss_cross, resnet50)
# isort: on
from a2bench.blocks.double_attention import DoubleAttention
from a2bench.blocks.se import SqueezeExcitation
from a2bench.case import Case
from a2bench.measure.dtypes import DTYPES
from a2bench.registry import REGISTRY, built_module

__all__ = ["DTYPES", "REGISTRY", "DoubleAttention", "SqueezeExcitation", "build"]

def build(case: Case, seed: int = 0) -> tuple[nn.Module, Tensor]:
    """The module (eval mode) and one input for a case, on its device and dtype.

    The seed fixes both the weights and the input, so two builds of one case are identical.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dtype = DTYPES[case.dtype]
    module = built_module(REGISTRY[case.block], case).to(device=case.device, dtype=dtype).eval()
    x = torch.randn(case.input_shape, generator=gen, dtype=torch.float32)
    return module, x.to(device=case.device, dtype=dtype).contiguous()
