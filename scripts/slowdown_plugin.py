"""A simulated code regression, for scripts/gate_evidence.py: every block runs FACTOR times longer.

Loaded as an a2bench plugin (A2BENCH_PLUGINS=slowdown_plugin, PYTHONPATH=scripts). The extra time
is a busy wait proportional to each call's own forward time, so the block's arithmetic, its exact
counts and the reference kernel timed beside it are all unchanged: only the code got slower, which
is what --normalize must not divide out. A2BENCH_SLOWDOWN sets FACTOR (default 1.5).
"""

from __future__ import annotations

import os
import time

from torch import Tensor, nn

from a2bench import blocks, catalog, registry

FACTOR = float(os.environ.get("A2BENCH_SLOWDOWN", "1.5"))


class SlowedDown(nn.Module):
    def __init__(self, inner: nn.Module, factor: float = FACTOR):
        super().__init__()
        self.inner = inner
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        start = time.perf_counter()
        out = self.inner(x)
        deadline = start + self.factor * (time.perf_counter() - start)
        while time.perf_counter() < deadline:  # spin: sleeping would hand the core to others
            pass
        return out


def _slowed(spec: registry.BlockSpec) -> None:
    build = spec.module
    spec.module = lambda case: SlowedDown(build(case))  # type: ignore[method-assign]


if not getattr(blocks, "_slowdown_plugin_applied", False):  # once per process
    for _spec in list(catalog.blocks().values()):
        _slowed(_spec)
    blocks._slowdown_plugin_applied = True  # type: ignore[attr-defined]
