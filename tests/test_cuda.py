"""The CUDA paths on a real GPU: `pytest -m cuda` (scripts/gpu_run.sh runs it there).

Without a GPU every test here skips with its reason. With one, they check what CPU runs cannot:
the L2 flush between timed iterations, the numerics flags, the CUDA memory budget (80 % of
free memory), an out-of-memory case stored as `oom` while the sweep goes on, a training step
and bf16 on the device, and the environment fields of a CUDA run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import cli

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.measure import timing
from a2bench.run.worker import Settings, measure_case

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="no CUDA device on this machine; run on a GPU host")]
FAST = ("--processes", "1",
        "--device", "cuda", "--time-budget", "0.1", "--calibration-time", "0.01",
        "--no-progress")


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def test_the_l2_flush_buffer_is_twice_the_l2_and_is_written():
    device = torch.device("cuda", torch.cuda.current_device())
    l2 = torch.cuda.get_device_properties(device).L2_cache_size
    before = torch.cuda.memory_allocated()
    flush = timing._l2_flusher(device)
    assert torch.cuda.memory_allocated() - before >= 2 * l2
    flush()
    torch.cuda.synchronize()


def test_flags_turn_tf32_off_and_say_so():
    flags = timing.cuda_flags()
    assert flags == {"matmul_allow_tf32": False, "cudnn_allow_tf32": False,
                     "cudnn_benchmark": False, "cudnn_deterministic": False}
    assert not torch.backends.cuda.matmul.allow_tf32


def test_a_flushed_timing_is_not_faster_than_a_warm_one():
    # A case whose GPU work (34 GFLOP, about 0.6 ms) outlasts Python's launching of its kernels
    # many times over. A launch-bound one would not do: the flush, queued unsynchronised before
    # the start event, lets the CPU queue its kernels while the GPU writes the buffer, so its
    # flushed timing starts with a head start that a warm timing lacks (the timing check's
    # docstring, scripts/gpu_timing_check.py).
    case = Case("nonlocal_right", "cuda", "float32", 1, 16, 1, 64, 64, m=512, n=512)
    module, x = build(case)
    with torch.no_grad():
        cold = timing.time_cuda(lambda: module(x), budget_s=0.3)
        warm = timing.time_cuda(lambda: module(x), budget_s=0.3, warm_cache=True)
    assert cold.median_s >= 0.9 * warm.median_s


def test_train_mode_and_bf16_run_on_the_device():
    # 64x64: a modelled peak of 65 MiB, so that what cuDNN or cuBLAS may allocate for their own
    # workspace (not in the model) cannot double it, as it could a fraction of a MiB.
    case = Case("nonlocal_right", "cuda", "bfloat16", 1, 32, 1, 64, 64, m=8, n=8, mode="train")
    m = measure_case(case, Settings(threads=1, time_budget_s=0.1))
    assert m.status == "ok" and m.latency_s > 0 and m.ran_dtypes == "bfloat16"
    assert m.macs_torch == cost_of(case).macs  # forward and backward, 3x the forward
    model = cost_of(case).peak_bytes
    assert model / 2 <= m.peak_bytes <= 2 * model


def test_a_case_over_80_percent_of_free_memory_is_skipped(tmp_path, write_suite):
    # S alone, N^2 floats at N = 512^2, is 256 GiB: over any GPU's budget, never run.
    path = write_suite("name: big\nblocks: [nonlocal_right, double_attention]\n"
                       "params: {channels: [8], m: [2], n: [2], h: [512], w: [512]}\n")
    out = tmp_path / "out"
    result = cli("run", str(path), "--out", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    right, left = rows(out)
    assert right["status"] == "skipped" and "exceeds the memory budget" in right["reason"]
    free = json.loads((out / "environment.json").read_text())["gpu_free_bytes"]
    budget = [int(w) for w in right["reason"].split() if w.isdigit()][1]
    assert budget == int(0.8 * free)
    assert left["status"] == "ok"


def test_an_out_of_memory_case_is_oom_and_the_sweep_goes_on(tmp_path, write_suite):
    # A budget far above the card lets the 256 GiB case run into the allocator's refusal.
    path = write_suite("name: oom\nblocks: [nonlocal_right, double_attention]\n"
                       "params: {channels: [8], m: [2], n: [2], h: [512], w: [512]}\n")
    out = tmp_path / "out"
    result = cli("run", str(path), "--out", str(out), "--memory-budget", "100TiB", *FAST)
    assert result.returncode == 0, result.stderr
    right, left = rows(out)
    assert right["status"] == "oom" and "out of memory" in right["reason"].lower()
    assert left["status"] == "ok" and float(left["latency_s"]) > 0


def test_a_cuda_run_records_the_gpu_environment(tmp_path, write_suite):
    path = write_suite("name: env\nblocks: [se]\nparams: {channels: [16], h: [8], w: [8]}\n")
    out = tmp_path / "out"
    assert cli("run", str(path), "--out", str(out), *FAST).returncode == 0
    env = json.loads((out / "environment.json").read_text())
    assert env["gpu_name"] and env["gpu_memory_bytes"] > 0 and env["cuda_flags"]
    assert env["caches"]["L2"] > 0 and env["roofline"]["gemm_flops_per_s"] > 0
