"""Timing and memory measurement on small CPU cases; CUDA paths skip without a GPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.cost import cost_of
from a2bench.measure import memory, timing
from a2bench.stats import MIN_SAMPLES, ci_is_tight, median_ci
from a2bench.worker import Settings, classify_failure, measure_case

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device on this machine; run on a GPU host")


def test_median_ci_is_distribution_free_and_contains_the_median():
    rng = np.random.default_rng(0)
    samples = list(rng.lognormal(0, 0.2, 200))
    low, high = median_ci(samples)
    assert low < np.median(samples) < high
    assert high - low < 0.2
    assert all(math.isnan(v) for v in median_ci(samples[:3]))


def test_ci_is_tight_follows_the_target():
    rng = np.random.default_rng(1)
    tight = list(1 + rng.normal(0, 0.01, 100))
    loose = list(1 + rng.normal(0, 0.5, 10))
    assert ci_is_tight(tight, 0.02)
    assert not ci_is_tight(loose, 0.02)


def test_time_cpu_reports_first_call_samples_and_time_inside_timed_regions():
    case = Case("double_attention", "cpu", "float32", 1, 16, 1, 8, 8, m=4, n=4)
    module, x = build(case)
    with torch.no_grad():
        t = timing.time_cpu(lambda: module(x), threads=1, budget_s=0.2)
    assert t.first_call_s > 0 and len(t.samples_s) >= MIN_SAMPLES
    assert 0 < t.median_s < 0.1 and t.iqr_s >= 0
    # each sample is the mean of a block of one or more calls, all inside timed regions
    assert sum(t.samples_s) * 0.999 <= t.timed_s < 1.0


def test_time_cpu_sees_the_work_grow():
    small = torch.randn(64, 64)
    big = torch.randn(512, 512)
    t_small = timing.time_cpu(lambda: small @ small, threads=1, budget_s=0.2).median_s
    t_big = timing.time_cpu(lambda: big @ big, threads=1, budget_s=0.2).median_s
    assert t_big > 20 * t_small  # 512 times the multiply-adds


@pytest.mark.parametrize("hw", [48, 64])
def test_measured_peak_agrees_with_the_model_where_nxn_dominates(hw):
    case = Case("nonlocal_right", "cpu", "float32", 1, 16, 1, hw, hw, m=4, n=4)
    module, x = build(case)
    with torch.no_grad():
        module(x)
        measured = memory.peak_tensor_bytes_cpu(lambda: module(x))
    modelled = cost_of(case).peak_bytes
    n_by_n = (hw * hw) ** 2 * 4
    assert n_by_n > 0.9 * modelled  # the N x N matrix dominates here
    assert modelled / 2 <= measured <= 2 * modelled


def test_peak_tensor_bytes_sees_a_known_allocation():
    def allocate() -> float:
        a = torch.ones(1_000_000)  # 4 MB
        b = a * 2  # another 4 MB while a is alive
        return float(b[0])

    peak = memory.peak_tensor_bytes_cpu(allocate)
    assert 8_000_000 <= peak < 8_200_000


def test_peak_rss_sees_touched_pages():
    def touch() -> float:
        return float(torch.ones(64 * 2**20 // 4).sum())  # 64 MiB, written

    rss = memory.peak_rss_bytes(touch)
    if rss is None:
        pytest.skip("this kernel does not let a process reset its RSS high-water mark")
    assert rss >= 60 * 2**20


def test_measure_case_fills_every_measured_field():
    case = Case("se", "cpu", "float32", 2, 16, 2, 4, 4, reduction=4)
    m = measure_case(case, Settings(threads=1, time_budget_s=0.1), reference=1e-5).with_cost(
        cost_of(case))
    assert m.status == "ok" and m.threads == 1 and m.reference_s == 1e-5
    assert m.macs_torch == m.macs_analytic == cost_of(case).macs
    assert m.latency_s and m.first_call_s and m.timed_runs == len(m.samples_s)
    assert m.peak_bytes is not None and m.peak_bytes_analytic is not None


def test_failures_are_classified():
    assert classify_failure(MemoryError()) == "oom"
    assert classify_failure(RuntimeError("CUDA out of memory. Tried to allocate")) == "oom"
    assert classify_failure(RuntimeError("shape mismatch")) == "error"


@needs_cuda
def test_cuda_timing_and_memory():
    case = Case("nonlocal_right", "cuda", "float32", 1, 32, 1, 32, 32, m=8, n=8)
    module, x = build(case)
    timing.cuda_flags()
    with torch.no_grad():
        t = timing.time_cuda(lambda: module(x), budget_s=0.2)
        peak = memory.peak_bytes_cuda(lambda: module(x))
    assert t.median_s > 0 and len(t.samples_s) >= MIN_SAMPLES
    modelled = cost_of(case).peak_bytes
    assert modelled / 2 <= peak <= 2 * modelled


@needs_cuda
def test_cuda_left_equals_right():
    case = Case("double_attention", "cuda", "float64", 2, 16, 1, 9, 7, m=4, n=3)
    left, x = build(case)
    right, _ = build(Case(**{**case.to_dict(), "block": "nonlocal_right"}))
    right.load_state_dict(left.state_dict())
    with torch.no_grad():
        assert torch.allclose(left(x), right(x), rtol=0, atol=1e-10)
