"""pytest-benchmark benchmarks of the three blocks at a few small shapes.

Run with `pytest tests/benchmarks --benchmark-only` (the default addopts skip them). Each records
the cost model's exact counts as extra_info, so a saved run says what work was timed.
"""

from __future__ import annotations

import pytest

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import cost_of

# (channels, m = n, h = w): small enough for seconds on two cores, large enough that the
# attention products, not Python overhead, dominate the larger shapes.
SHAPES = [(32, 8, 8), (64, 16, 16), (64, 16, 32)]
BLOCKS = ("double_attention", "nonlocal_right", "se")


def make_case(block: str, channels: int, mn: int, hw: int) -> Case:
    attention = block != "se"
    return Case(block=block, device="cpu", dtype="float32", batch=1, channels=channels, t=1,
                h=hw, w=hw, m=mn if attention else None, n=mn if attention else None,
                reduction=None if attention else 8)


CASES = [make_case(b, *s) for b in BLOCKS for s in SHAPES]


@pytest.mark.parametrize("case", CASES, ids=[c.label().replace(" ", "-") for c in CASES])
def test_forward(benchmark, bench_threads: int, case: Case) -> None:
    module, x = build(case)
    cost = cost_of(case)
    benchmark.group = case.block
    benchmark.extra_info.update({
        "macs": cost.macs, "flops": cost.flops, "peak_bytes_analytic": cost.peak_bytes,
        "activation_bytes_analytic": cost.activation_bytes, "positions": case.positions,
        "threads": bench_threads, "case": case.to_dict(),
    })
    out = benchmark(module, x)
    assert out.shape == x.shape
