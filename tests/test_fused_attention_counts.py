"""a2bench's own MAC count (macs_counted) closes FlopCounterMode's blind spots for fused attention.

A block without a cost model is judged by its counted MACs. On a CPU,
F.scaled_dot_product_attention on 4-d inputs whose last dimension is contiguous runs
aten._scaled_dot_product_flash_attention_for_cpu, which FlopCounterMode has no formula for (and
fvcore skips): the N x N' products went uncounted, so a user's attention block counted as
linear in N and its latency was "contradicted". In eval mode nn.MultiheadAttention runs one
fused operator that neither counter sees: 0 MACs, and the case failed. The field's counters
stay recorded as they are (macs_torch, macs_fvcore).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from a2bench import analysis as an
from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.measure.counters import count_fvcore, count_torch, count_torch_call
from a2bench.measure.step import make_step
from a2bench.measurement import Measurement
from a2bench.registry import BlockSpec, Param, register
from a2bench.run.worker import Settings, measure_case

FLASH = "aten._scaled_dot_product_flash_attention_for_cpu"


class HeadsAttention(nn.Module):
    """Multi-head self-attention over a map's positions, q, k and v laid out (b, heads, N, d)
    with d contiguous, as most public code has them: the CPU flash kernel's layout."""

    def __init__(self, c: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(c, 3 * c, 1, bias=False)
        self.out = nn.Conv2d(c, c, 1, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(x).flatten(2).transpose(1, 2)  # (b, N, 3c)
        q, k, v = (t.reshape(b, h * w, self.heads, c // self.heads).transpose(1, 2).contiguous()
                   for t in qkv.chunk(3, dim=2))
        o = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(o.transpose(1, 2).reshape(b, h * w, c).transpose(1, 2)
                            .reshape(b, c, h, w))


def _macs(b: int, c: int, n: int) -> tuple[int, int]:
    """(the four 1 x 1 projections, one N x N' product over all heads: b N N c)."""
    return 4 * b * c * c * n, b * n * n * c


def test_the_cpu_flash_kernel_is_counted_where_the_field_counters_miss_it():
    b, c, side = 2, 32, 10
    module, x = HeadsAttention(c, 4).eval(), torch.randn(b, c, side, side)
    projections, product = _macs(b, c, side * side)
    tc = count_torch(module, x)
    # the field's counters as they are: neither sees the attention (what the audit records)
    assert tc.macs == projections and FLASH in tc.skipped
    assert count_fvcore(module, x).macs == projections
    # a2bench's count: both products, QK^T and PV
    assert tc.complete == projections + 2 * product and tc.completed == (FLASH,)


def test_a_train_step_counts_the_flash_backward_with_torchs_formula():
    b, c, side = 1, 16, 8
    module, x = HeadsAttention(c, 2), torch.randn(b, c, side, side, requires_grad=True)
    projections, product = _macs(b, c, side * side)

    def step() -> None:
        module(x).sum().backward()

    tc = count_torch_call(step)
    # forward and backward of the projections (x 3), the forward's two products, and torch's
    # formula for a flash backward: five more (four gradients and the recomputed scores)
    assert tc.macs == 3 * projections
    assert tc.complete == 3 * projections + 2 * product + 5 * product
    assert tc.completed == (FLASH, FLASH + "_backward")


def test_multihead_attentions_fused_path_is_counted_with_it_off_and_left_on():
    b, n, c = 2, 50, 32
    mha = nn.MultiheadAttention(c, 4, batch_first=True).eval()
    x = torch.randn(b, n, c)
    with torch.no_grad():
        tc = count_torch_call(lambda: mha(x, x, x))
    assert tc.macs == 0 and "aten._native_multi_head_attention" in tc.skipped
    # in projection (3 c^2 per position), the two products, out projection (c^2)
    assert tc.complete == 3 * b * n * c * c + 2 * b * n * n * c + b * n * c * c
    assert "aten._native_multi_head_attention" in tc.completed
    assert torch.backends.mha.get_fastpath_enabled()  # restored for the timed calls


def test_a2benchs_count_is_the_sdpa_non_locals_exact_model_on_a_cpu():
    case = Case.from_dict({"block": "nonlocal", "device": "cpu", "dtype": "float32", "batch": 2,
                           "channels": 32, "t": 1, "h": 12, "w": 12,
                           "params": {"impl": "sdpa", "inner": 16, "subsample": 2}})
    module, x = build(case)
    tc = count_torch(module, x)
    model = cost_of(case).macs
    assert tc.macs < model and tc.complete == model
    # train: the kernel's backward recomputes the scores, one product the model (the function's
    # arithmetic) does not hold; FlopCounterMode's own count is declared off the model instead
    train = Case.from_dict({**case.to_dict(), "mode": "train"})
    module, x = build(train)
    step = make_step(module, x, "train")
    with torch.enable_grad():
        tc = count_torch_call(step.run)
    one = 2 * 144 * 36 * 16  # b N N' d, N' = 36 (the 2 x 2 pooled keys)
    assert tc.complete == cost_of(train).macs + one


@pytest.fixture
def heads_block(scratch_registry):
    @register
    class HeadsSpec(BlockSpec):
        name = "heads_attention"
        params = (Param("heads", 4, "attention heads"),)

        def module(self, case):
            return HeadsAttention(case.channels, case.param("heads"))

    return "heads_attention"


def test_a_counted_block_is_judged_by_a2benchs_count(heads_block):
    records = []
    for side in (4, 6, 8):
        case = Case.from_dict({"block": heads_block, "device": "cpu", "dtype": "float32",
                               "batch": 1, "channels": 16, "t": 1, "h": side, "w": side,
                               "params": {"heads": 2}})
        m = measure_case(case, Settings(threads=1, time_budget_s=0.01))
        projections, product = _macs(1, 16, side * side)
        assert (m.macs_torch, m.macs_counted) == (projections, projections + 2 * product)
        assert f"macs_counted {m.macs_counted} holds what FlopCounterMode" in m.reason
        assert FLASH in m.reason
        records.append(Measurement.from_json({**m.to_json(), "macs_source": "counted"}))
    frame = an.prepare(an.frame(records, "run"))
    assert list(frame["macs"]) == [r.macs_counted for r in records]


def test_the_planners_trace_runs_the_kernel_the_cpu_runs(heads_block):
    """Auto sizes trace a counted block without storage. On the meta device SDPA runs its math
    path, which holds the heads' N x N scores: at 24 x 24 the trace held 10.6 MiB against the
    0.76 MiB the CPU measured, so the planner put the block's working set past caches it fits
    in and capped its sizes by memory it never uses. As fake tensors on the CPU the step runs
    the flash kernel: its MACs are a2bench's count, and its live peak the measured one but for
    the kernel's tiles, which it allocates below the dispatcher (126 KiB here)."""
    from a2bench.measure import memory
    from a2bench.measure.traced import _run, trace

    for mode in ("forward", "train"):
        case = Case.from_dict({"block": heads_block, "device": "cpu", "dtype": "float32",
                               "batch": 1, "channels": 32, "t": 1, "h": 24, "w": 24,
                               "params": {"heads": 4}, "mode": mode})
        module, x = build(case)
        step = make_step(module, x, mode)
        with torch.set_grad_enabled(step.grad_enabled):
            counted = count_torch_call(step.run)
            step.release()
            peak = memory.peak_tensor_bytes_cpu(step.run)
        traced = trace(case)
        assert traced.macs == counted.complete, mode
        if mode == "forward":
            assert traced.live_peak_bytes <= peak <= traced.live_peak_bytes + 256 * 2**10
        scores = 4 * (24 * 24) ** 2 * 4  # the four heads' N x N scores in float32
        assert traced.live_peak_bytes < scores
        # the meta device's step (the trace before) runs SDPA's math path, which holds them
        assert _run(case, fake=False)[1].peak >= scores


def test_multihead_attentions_fused_path_is_traced_as_its_decomposed_step(scratch_registry):
    """nn.MultiheadAttention's fused CPU path holds the heads' scores below the dispatcher,
    where a fake step cannot see them; the meta step's decomposed attention holds them too."""
    from a2bench.measure import memory
    from a2bench.measure.traced import trace

    @register
    class MHASpec(BlockSpec):
        name = "mha_block"

        def module(self, case):
            class Block(nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.attn = nn.MultiheadAttention(case.channels, 4, batch_first=True)

                def forward(self, x):
                    b, c, h, w = x.shape
                    s = x.flatten(2).transpose(1, 2)
                    o, _ = self.attn(s, s, s, need_weights=False)
                    return x + o.transpose(1, 2).reshape(b, c, h, w)

            return Block()

    case = Case.from_dict({"block": "mha_block", "device": "cpu", "dtype": "float32",
                           "batch": 1, "channels": 32, "t": 1, "h": 16, "w": 16})
    module, x = build(case)
    with torch.no_grad():
        counted = count_torch_call(lambda: module(x))
        peak = memory.peak_tensor_bytes_cpu(lambda: module(x))
    traced = trace(case)
    n = 16 * 16
    assert traced.macs == counted.complete == 4 * n * 32 * 32 + 2 * n * n * 32
    assert peak >= 4 * n * n * 4 and traced.live_peak_bytes >= 4 * n * n * 4


def test_work_no_count_sees_is_said_in_the_case_and_the_run(scratch_registry):
    """torch.cdist's distance kernel multiply-adds and has no formula: a counted block built on
    it is judged against less work than it does, which its reason and the run's warning say."""
    from a2bench.kernel_names import UNCOUNTED
    from a2bench.run.summary import uncounted_warnings

    @register
    class DistanceSpec(BlockSpec):
        name = "distance_attention"

        def module(self, case):
            class Block(nn.Module):
                def forward(self, x):
                    s = x.flatten(2).transpose(1, 2)  # (b, N, c)
                    mixed = torch.cdist(s, s).neg().softmax(-1) @ s
                    return x + mixed.transpose(1, 2).reshape(x.shape)

            return Block()

    case = Case.from_dict({"block": "distance_attention", "device": "cpu", "dtype": "float32",
                           "batch": 1, "channels": 8, "t": 1, "h": 8, "w": 8})
    m = measure_case(case, Settings(threads=1, time_budget_s=0.01))
    assert m.macs_counted == 64 * 64 * 8  # the product with s only: the distances are missing
    assert f"{UNCOUNTED}: aten._euclidean_dist" in m.reason
    counted = Measurement.from_json({**m.to_json(), "macs_source": "counted"})
    (line,) = uncounted_warnings([counted, counted])
    assert line.startswith(f"distance_attention: {UNCOUNTED} (aten._euclidean_dist)")
    # a block with a cost model holds that work itself; one that ran none of it says nothing
    modelled = Measurement.from_json({**m.to_json(), "macs_source": "model"})
    plain = Measurement.from_json({**counted.to_json(), "torch_skipped": "aten.add"})
    assert uncounted_warnings([modelled, plain]) == []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA device on this machine; run on a GPU host")
def test_the_planners_trace_on_cuda_runs_a_fused_kernel(heads_block):
    """On a GPU the fake step asks the device which SDPA kernel to run (in float32 the
    mem-efficient one, on an H100 or H200): no N x N' tensor, as on the device. Without the
    device (a CPU build) it falls back to the meta trace, which holds one."""
    from a2bench.measure.memory import peak_bytes_cuda
    from a2bench.measure.traced import trace

    case = Case.from_dict({"block": heads_block, "device": "cuda", "dtype": "float32",
                           "batch": 1, "channels": 64, "t": 1, "h": 64, "w": 64,
                           "params": {"heads": 4}})
    module, x = build(case)
    with torch.no_grad():
        counted = count_torch_call(lambda: module(x))
        peak = peak_bytes_cuda(lambda: module(x))
    traced = trace(case)
    scores = 4 * 4096 * 4096 * 4  # the heads' N x N' scores in float32: 256 MiB
    assert traced.macs == counted.complete
    assert traced.live_peak_bytes < scores and peak < scores
