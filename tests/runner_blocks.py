"""A plugin (A2BENCH_PLUGINS=runner_blocks) for the tests that stop a sweep while a case runs.

Its block stalls in every case but answers the per-call overhead's entry (taken at 1x1, before
the cases): faulty_blocks' hangs hangs there too, and each such sweep had waited out its
--case-timeout and started a second worker (an import of torch) before its first case. It
stalls only in a worker whose environment sets STALL_VAR (the sweep a test stops), so the
resume that runs what the stop left ends its case, in the worker it has. A worker whose
environment sets KILL_VAR to a case's width kills itself by SIGKILL in that case, as a userspace
out-of-memory killer (systemd-oomd, earlyoom) would: the kernel's oom_kill count does not rise.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import torch
from torch import nn

from a2bench.blocks.se import SESpec
from a2bench.case import Case
from a2bench.cost import Cost
from a2bench.registry import register

STALL_VAR = "A2BENCH_TEST_STALL"
KILL_VAR = "A2BENCH_TEST_KILL"


class Stalls(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 1 and os.environ.get(STALL_VAR):  # a case; not the 1x1 overhead entry
            time.sleep(3600)
        if os.environ.get(KILL_VAR) == str(x.shape[-1]) and mp.parent_process() is not None:
            os.kill(os.getpid(), signal.SIGKILL)  # in a worker only, never the tests' process
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
