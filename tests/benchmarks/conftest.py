"""Shared setup of the pytest-benchmark benchmarks: a fixed thread count, no autograd.

The thread count is fixed (A2BENCH_BENCH_THREADS, default 1) because a saved baseline is only
comparable with a run at the same count, and one thread is the least noisy on a shared machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="session")
def bench_threads() -> int:
    return int(os.environ.get("A2BENCH_BENCH_THREADS", "1"))


@pytest.fixture(autouse=True)
def fixed_torch_settings(bench_threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(bench_threads)
    with torch.no_grad():
        yield
    torch.set_num_threads(before)
