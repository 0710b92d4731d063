"""A plugin (A2BENCH_PLUGINS=runner_blocks) for the tests that stop a sweep while a case runs.

Its block stalls in every case but answers the per-call overhead's entry (taken at 1x1, before
the cases): faulty_blocks' hangs hangs there too, and each such sweep had waited out its
--case-timeout and started a second worker (an import of torch) before its first case. It
stalls only in a worker whose environment sets STALL_VAR (the sweep a test stops), so the
resume that runs what the stop left ends its case, in the worker it has.
"""

from __future__ import annotations

import os
import time

import torch
from torch import nn

from a2bench.blocks.se import SESpec
from a2bench.case import Case
from a2bench.cost import Cost
from a2bench.registry import register

STALL_VAR = "A2BENCH_TEST_STALL"


class Stalls(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 1 and os.environ.get(STALL_VAR):  # a case; not the 1x1 overhead entry
            time.sleep(3600)
        return x


@register
class StallsSpec(SESpec):
    """Costed as SE with r = 1, as faulty_blocks' blocks are (something small and valid)."""

    name = "stalls"
    label = "a block that stalls in its cases (where asked), not at 1x1"

    def module(self, case: Case) -> nn.Module:
        return Stalls()

    def cost(self, case: Case) -> Cost:
        return super().cost(case.__class__(**{**case.to_dict(), "reduction": 1}))
