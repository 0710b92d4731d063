"""A plugin (A2BENCH_PLUGINS=faulty_blocks) with blocks that fail in each way a worker can."""

from __future__ import annotations

import os
import time

import torch
from torch import nn

from a2bench.blocks.se import SESpec
from a2bench.case import Case
from a2bench.cost import Cost
from a2bench.registry import register


class Faulty(nn.Module):
    def __init__(self, how: str):
        super().__init__()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "raises":
            raise RuntimeError("this block always fails")
        if self.how == "exits":
            os._exit(3)
        if self.how == "allocator":
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                               "can't allocate memory: you tried to allocate 1099511627776 bytes")
        if self.how == "hangs":
            time.sleep(3600)
        if self.how == "graph_break":  # eager: nothing; torch.compile(fullgraph=True): refused
            torch._dynamo.graph_break()
        return x


def _faulty(how: str) -> type[SESpec]:
    """A block that fails `how`, costed as SE with r = 1 (something small and valid)."""

    class Spec(SESpec):
        name = how
        label = f"faulty block ({how})"

        def module(self, case: Case) -> nn.Module:
            return Faulty(how)

        def cost(self, case: Case) -> Cost:
            return super().cost(case.__class__(**{**case.to_dict(), "reduction": 1}))

    return Spec


for how in ("raises", "exits", "allocator", "hangs", "graph_break"):
    register(_faulty(how))
