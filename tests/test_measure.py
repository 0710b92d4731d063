"""Timing, memory, ceilings and caches on small CPU cases; CUDA paths skip without a GPU."""

from __future__ import annotations

import math
import mmap
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
import torch
from conftest import child_pythonpath

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.measure import environment, memory, roofline, timing
from a2bench.run.worker import Settings, classify_failure, measure_case, overhead_entry
from a2bench.stats import MIN_SAMPLES, ci_is_tight, median_ci

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device on this machine; run on a GPU host")


def test_median_ci_is_distribution_free_and_contains_the_median():
    rng = np.random.default_rng(0)
    samples = list(rng.lognormal(0, 0.2, 200))
    low, high = median_ci(samples)
    assert low < np.median(samples) < high
    assert high - low < 0.2
    assert all(math.isnan(v) for v in median_ci(samples[:3]))


@pytest.mark.parametrize("level", [0.95, 0.9, 0.99, 0.5])
def test_median_ci_is_scipys_quantile_test_interval(level):
    """a2bench.stats computes the order statistics itself (scipy.stats costs every worker 0.5 s
    to import): the same interval as scipy's, at every sample count to 400 and at some past
    1029, where C(n, n/2) no longer fits a float; with ties, and with NaN ends."""
    from scipy import stats

    rng = np.random.default_rng(2)
    for n in [*range(MIN_SAMPLES, 400), 1029, 1030, 1500, 4099, 20011]:
        samples = np.round(rng.lognormal(0, 0.3, n), 1)  # rounded: many ties
        test = stats.quantile_test(samples, q=float(np.median(samples)), p=0.5)
        want = test.confidence_interval(confidence_level=level)
        got = median_ci(list(samples), level)
        assert np.array_equal(got, (want.low, want.high), equal_nan=True), (n, got, want)


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


def test_a_tensor_of_an_earlier_window_freed_inside_this_one_is_not_this_ones():
    """The allocator reports the free of anything an earlier profiled window allocated; a
    tensor an earlier case left in a reference cycle, collected mid-call, is not the call's.
    (A float32 convolution's peak once read 2 KiB under its model in a full test run.)"""
    import gc

    class Cycle:
        pass

    def leave() -> None:
        cycle = Cycle()
        cycle.me, cycle.tensor = cycle, torch.empty(2**20)  # 4 MiB, freed only by gc

    def allocate() -> float:
        a = torch.ones(1_000_000)
        gc.collect()  # frees the cycle's 4 MiB while a is alive
        b = a * 2
        return float(b[0])

    memory.peak_tensor_bytes_cpu(leave)
    assert 8_000_000 <= memory.peak_tensor_bytes_cpu(allocate) < 8_200_000


def test_peak_rss_sees_touched_pages():
    def touch() -> None:
        # 64 MiB of fresh anonymous pages, each written: new resident memory whatever malloc
        # keeps. (A 64 MiB tensor read 0 in some full runs, once in CI on a clean clone: pages
        # malloc kept resident from earlier tests in the same process do not raise the mark.)
        with mmap.mmap(-1, 64 * 2**20) as pages:
            for at in range(0, len(pages), mmap.PAGESIZE):
                pages[at] = 1

    rss = memory.peak_rss_bytes(touch)
    if rss is None:
        pytest.skip("this kernel does not let a process reset its RSS high-water mark")
    # the kernel's RSS counters are per CPU and summed lazily: the best of three readings
    rss = max([rss, *(memory.peak_rss_bytes(touch) or 0 for _ in range(2))])
    assert rss >= 60 * 2**20


def test_measure_case_fills_every_measured_field():
    case = Case("se", "cpu", "float32", 2, 16, 2, 4, 4, reduction=4)
    m = measure_case(case, Settings(threads=1, time_budget_s=0.1), reference=1e-5).with_cost(
        cost_of(case))
    assert m.status == "ok" and m.threads == 1 and m.reference_s == 1e-5
    assert m.macs_torch == m.macs_analytic == cost_of(case).macs
    assert m.latency_s and m.first_call_s and m.timed_runs == len(m.samples_s)
    assert m.peak_bytes is not None and m.peak_bytes_analytic is not None


def test_the_dtype_probe_runs_without_importing_dynamo():
    """torch wraps a dispatch mode's __torch_dispatch__ in torch._disable_dynamo unless the mode
    opts out, and the wrapper's first call imports torch._dynamo: 2.5 s of CPU in each worker
    of a run whose counters are off, where only the dtype probe (precision.observe) entered a
    mode. What the probe records is unchanged."""
    from a2bench.measure import precision

    dispatch = precision._DtypeRecorder.__torch_dispatch__
    assert dispatch is precision._DtypeRecorder.__dict__["__torch_dispatch__"]
    assert not hasattr(dispatch, "__wrapped__")  # not torch._disable_dynamo's wrapper
    x = torch.ones(1, 2, 4, 4, dtype=torch.bfloat16)
    ran = precision.observe(lambda: torch.nn.functional.adaptive_avg_pool2d(x, 1).float(),
                            "bfloat16")
    assert ran == precision.Precision(("bfloat16", "float32"), ("aten._to_copy",))


def test_a_case_without_counters_says_so_once():
    """fvcore and FlopCounterMode are both off with --no-counters, for one reason: the note had
    read "counters disabled; counters disabled"."""
    case = Case("se", "cpu", "float32", 1, 16, 1, 4, 4, reduction=4)
    m = measure_case(case, Settings(threads=1, time_budget_s=0.01, counters=False),
                     reference=1e-5)
    assert m.status == "ok" and m.macs_torch is None and m.reason == "counters disabled"


def test_a_counted_first_pass_runs_without_importing_dynamo():
    """Every dispatch mode a worker enters around the eager module (the counters' operator
    recorder, torch's FlopCounterMode, the dtype probe, the tensor-peak trace) skips torch's
    Dynamo guard, whose first call imports torch._dynamo: 2 s of CPU in the first pass of each
    case (measure/eager_dispatch.py). In a fresh interpreter, as a worker is; with the counts
    unchanged, and FlopCounterMode's guard set back after."""
    code = (
        "import sys\n"
        "from torch.utils.flop_counter import _FlopCounterMode as F\n"
        "from a2bench.case import Case\n"
        "from a2bench.catalog import cost_of\n"
        "from a2bench.run.worker import Settings, measure_case\n"
        "case = Case('double_attention', 'cpu', 'float32', 1, 8, 1, 4, 4, m=4, n=4)\n"
        "m = measure_case(case, Settings(threads=1, time_budget_s=0.01), reference=1e-5)\n"
        "assert m.status == 'ok' and m.macs_torch == cost_of(case).macs, m\n"
        "assert not hasattr(F.__dict__['__torch_dispatch__'].__wrapped__, '__dynamo_disable')\n"
        "print('torch._dynamo' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": child_pythonpath()})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False"]


def test_failures_are_classified():
    assert classify_failure(MemoryError()) == "oom"
    assert classify_failure(RuntimeError("CUDA out of memory. Tried to allocate")) == "oom"
    assert classify_failure(RuntimeError("shape mismatch")) == "error"


def test_cuda_chunk_fits_a_slow_call_to_the_budget():
    assert timing.cuda_chunk(1e-5, 0.3) == timing.MAX_CUDA_CHUNK  # fast: many calls per sync
    assert timing.cuda_chunk(0.003, 0.3) == 10  # a tenth of the budget per chunk
    assert timing.cuda_chunk(0.2, 0.3) == MIN_SAMPLES  # slow: no fewer than the interval needs
    assert timing.cuda_chunk(0.0, 0.3) == timing.MAX_CUDA_CHUNK  # an unreadable estimate


class _FakeCuda:
    """torch.cuda's events and synchronisation played on the CPU: each event reads the clock
    when recorded, and a log keeps the order of flushes, forwards and events, so that
    time_cuda's loop (chunk sizes, flushes outside the timed regions) is checked without a GPU.
    """

    def __init__(self) -> None:
        self.log: list[str] = []
        fake = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing
                self.at: float | None = None

            def record(self) -> None:
                self.at = time.perf_counter()
                fake.log.append("event")

            def elapsed_time(self, end: Event) -> float:
                return (end.at - self.at) * 1e3  # milliseconds, as CUDA events give them

        self.Event = Event

    def forward(self, seconds: float):
        def run() -> None:
            self.log.append("forward")
            time.sleep(seconds)
        return run

    def install(self, monkeypatch) -> None:
        monkeypatch.setattr(torch.cuda, "Event", self.Event)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(timing, "_l2_flusher",
                            lambda device: lambda: self.log.append("flush"))


def test_time_cuda_sizes_its_chunks_and_flushes_outside_the_timed_region(monkeypatch):
    fake = _FakeCuda()
    fake.install(monkeypatch)
    slow = timing.time_cuda(fake.forward(0.02), budget_s=0.1)
    # 20 ms a call against a 0.1 s budget: chunks of MIN_SAMPLES, one warm-up chunk and one
    # sampled (the deadline has passed), after the first call and the estimate.
    assert len(slow.samples_s) == MIN_SAMPLES and fake.log.count("forward") == 2 + 2 * MIN_SAMPLES
    assert all(0.019 < s < 0.2 for s in slow.samples_s) and slow.first_call_s > 0.019
    # Every call after the first has the L2 flushed before its start event, none inside.
    calls = "".join({"flush": "F", "event": "E", "forward": "C"}[e] for e in fake.log)
    assert calls == "ECE" + "FECE" * (1 + 2 * MIN_SAMPLES)

    fake.log.clear()
    fast = timing.time_cuda(fake.forward(0.0), budget_s=0.1, warm_cache=True)
    assert len(fast.samples_s) % timing.MAX_CUDA_CHUNK == 0 and "flush" not in fake.log


@pytest.mark.cuda  # `pytest -m cuda` selects it (scripts/gpu_run.sh)
@needs_cuda
def test_cuda_timing_and_memory():
    # 64x64: a modelled peak of 64 MiB; a library's own workspace (not in the model) would
    # have to reach as much to leave the 2x band, as it might at a fraction of a MiB
    case = Case("nonlocal_right", "cuda", "float32", 1, 32, 1, 64, 64, m=8, n=8)
    module, x = build(case)
    timing.cuda_flags()
    with torch.no_grad():
        t = timing.time_cuda(lambda: module(x), budget_s=0.2)
        peak = memory.peak_bytes_cuda(lambda: module(x))
    assert t.median_s > 0 and len(t.samples_s) >= MIN_SAMPLES
    modelled = cost_of(case).peak_bytes
    assert modelled / 2 <= peak <= 2 * modelled


@pytest.mark.cuda  # `pytest -m cuda` selects it (scripts/gpu_run.sh)
@needs_cuda
def test_cuda_left_equals_right():
    case = Case("double_attention", "cuda", "float64", 2, 16, 1, 9, 7, m=4, n=3)
    left, x = build(case)
    right, _ = build(Case(**{**case.to_dict(), "block": "nonlocal_right"}))
    right.load_state_dict(left.state_dict())
    with torch.no_grad():
        assert torch.allclose(left(x), right(x), rtol=0, atol=1e-10)


def test_no_collection_runs_while_the_collector_is_paused():
    """What peak_bytes_cuda's call runs in: an earlier case's cycle waits until after it."""
    import gc
    import weakref

    class Cycle:
        pass

    cycle = Cycle()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    with memory.collector_paused():
        junk = [[] for _ in range(20 * gc.get_threshold()[0])]  # would start collections
        assert gone() is not None
    del junk
    assert gc.isenabled()
    gc.collect()
    assert gone() is None


@pytest.mark.cuda  # `pytest -m cuda` selects it (scripts/gpu_run.sh)
@needs_cuda
def test_a_cuda_tensor_of_an_earlier_case_collected_mid_call_is_not_lost_from_its_peak():
    import gc

    class Cycle:
        pass

    def allocate() -> float:
        a = torch.ones(2**20, device="cuda")  # 4 MiB
        junk = [[] for _ in range(20 * gc.get_threshold()[0])]  # starts a collection if on
        b = a * 2
        del junk
        return float(b[0])

    gc.collect()
    cycle = Cycle()
    cycle.me, cycle.tensor = cycle, torch.empty(2**20, device="cuda")
    del cycle
    assert memory.peak_bytes_cuda(allocate) >= 8 * 2**20
    gc.collect()


def _cache(root, index: int, level: int, kind: str, size: str) -> None:
    d = root / f"index{index}"
    d.mkdir(parents=True)
    (d / "level").write_text(f"{level}\n")
    (d / "type").write_text(f"{kind}\n")
    (d / "size").write_text(f"{size}\n")


def test_cpu_caches_reads_sysfs_and_skips_the_instruction_cache(tmp_path):
    _cache(tmp_path, 0, 1, "Data", "48K")
    _cache(tmp_path, 1, 1, "Instruction", "32K")
    _cache(tmp_path, 2, 2, "Unified", "1M")
    _cache(tmp_path, 3, 3, "Unified", "32768K")
    assert environment.cpu_caches(tmp_path) == {"L1d": 48 * 2**10, "L2": 2**20, "L3": 32 * 2**20}
    assert environment.cpu_caches(tmp_path / "missing") == {}


def test_caches_getconf_never_fails(monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("getconf")

    monkeypatch.setattr(environment.subprocess, "run", missing)
    assert environment.caches_getconf() == {"L1d": None, "L2": None, "L3": None}


def test_calibrate_keeps_the_best_size_and_every_timing():
    r = roofline.calibrate("cpu", "float32", threads=1, min_time_s=1e-3)
    assert datetime.fromisoformat(r["at"]) and r["threads"] == 1 and r["dtype"] == "float32"
    # Sizes are timed in order until one product outlasts two timing windows (2 ms here);
    # the larger ones are skipped and named.
    timed = [g["size"] for g in r["gemm"]]
    assert timed and timed + r.get("gemm_sizes_skipped", []) == list(roofline.GEMM_SIZES["cpu"])
    assert all(g["best_s"] <= 2e-3 for g in r["gemm"][:-1])
    if r.get("gemm_sizes_skipped"):
        assert r["gemm"][-1]["best_s"] > 2e-3 and "took over 0.002 s" in r["gemm_skip_reason"]
    for g in r["gemm"]:
        assert len(g["timings"]) >= 5 and g["best_s"] == min(g["timings"]) and g["number"] >= 1
        assert g["flops_per_s"] == pytest.approx(2 * g["size"] ** 3 / g["best_s"])
    assert r["gemm_flops_per_s"] == max(g["flops_per_s"] for g in r["gemm"])
    assert r["gemm_size"] in roofline.GEMM_SIZES["cpu"]
    assert len(r["copy"]["timings"]) >= 5
    assert r["bandwidth_bytes_per_s"] == pytest.approx(r["copy_bytes"] / r["copy"]["best_s"])


def test_calibrate_at_given_sizes_times_only_those():
    r = roofline.calibrate("cpu", "float32", threads=1, min_time_s=1e-3, sizes=(96,))
    assert [g["size"] for g in r["gemm"]] == [96] and r["gemm_size"] == 96


def test_best_of_calibrates_the_number_of_calls():
    x = torch.randn(16)
    r = roofline.best_of("x.sum()", {"x": x}, "cpu", min_time_s=1e-3, repeats=6)
    assert len(r["timings"]) == 6 and r["best_s"] == min(r["timings"])
    assert r["number"] > 1  # one call of a 16-element sum is far below a millisecond


def test_overhead_entries_use_the_case_timing_path():
    settings = Settings(threads=1, time_budget_s=0.05)
    empty = overhead_entry("cpu", "float32", None, settings)
    case = Case("se", "cpu", "float32", 1, 16, 1, 1, 1, reduction=4)
    block = overhead_entry("cpu", "float32", case, settings)
    for r in (empty, block):
        assert set(r) == {"median_s", "ci_low_s", "ci_high_s", "samples", "samples_s"}
        assert r["median_s"] > 0 and r["samples"] == len(r["samples_s"]) >= 1


@pytest.mark.cuda  # `pytest -m cuda` selects it (scripts/gpu_run.sh)
@needs_cuda
def test_cuda_calibration_and_caches():
    r = roofline.calibrate("cuda", "float32", threads=1, min_time_s=1e-3)
    timed = [g["size"] for g in r["gemm"]]
    assert timed and timed + r.get("gemm_sizes_skipped", []) == list(roofline.GEMM_SIZES["cuda"])
    assert all(len(g["timings"]) >= 5 for g in r["gemm"]) and r["bandwidth_bytes_per_s"] > 0
    env = environment.collect(1, "cuda")
    assert env["caches_source"] == "cuda device properties" and env["caches"]["L2"] > 0
    assert "L1d" in env["cpu_caches"] or env["cpu_caches"] == {}
    case = Case("se", "cuda", "float32", 1, 16, 1, 1, 1, reduction=4)
    assert overhead_entry("cuda", "float32", case, Settings(1, time_budget_s=0.05))["median_s"]


def test_measure_case_records_the_kernel_a_block_picked():
    fused = Case("nonlocal", "cpu", "float32", 1, 8, 1, 6, 6, inner=4, subsample=1, impl="sdpa")
    settings = Settings(threads=1, time_budget_s=0.05)
    assert measure_case(fused, settings, count=False).backend == "flash_cpu"
    assert measure_case(replace(fused, impl="eager"), settings, count=False).backend == ""


def test_an_error_without_a_message_reads_without_an_empty_one():
    from a2bench.run.worker import describe

    try:
        raise MemoryError()
    except MemoryError as e:
        said = describe(e)
    assert said.startswith("MemoryError (at ") and "test_measure.py:" in said
