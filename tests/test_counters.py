from __future__ import annotations

import pytest

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.measure.counters import count_fvcore, count_torch

SHAPES = [(2, 64, 1, 8, 8, 32, 16), (1, 12, 1, 5, 7, 3, 5), (2, 16, 3, 4, 6, 8, 4),
          (1, 32, 1, 16, 16, 8, 8)]


@pytest.mark.parametrize("block", ["double_attention", "nonlocal_right"])
@pytest.mark.parametrize("b,c,t,h,w,m,n", SHAPES)
def test_counters_equal_analytic_macs(block, b, c, t, h, w, m, n):
    case = Case(block, "cpu", "float32", b, c, t, h, w, m=m, n=n)
    module, x = build(case)
    expected = cost_of(case).macs
    fv, tc = count_fvcore(module, x), count_torch(module, x)
    assert fv.macs == expected, fv
    assert tc.macs == expected, tc  # FlopCounterMode's 2 x MAC, halved
    # what each counter left out: the softmaxes and the residual add
    assert {"aten::softmax", "aten::add"} <= set(fv.skipped)
    assert {"aten._softmax", "aten.add"} <= set(tc.skipped)


def test_se_counters_and_what_fvcore_adds():
    case = Case("se", "cpu", "float32", 2, 64, 1, 8, 8, reduction=16)
    module, x = build(case)
    fc_macs = cost_of(case).macs
    assert fc_macs == 1024
    # FlopCounterMode counts the two FCs only
    assert count_torch(module, x).macs == fc_macs
    # fvcore adds its adaptive_avg_pool2d count: one per input element, b*c*N
    fv = count_fvcore(module, x)
    assert fv.macs == fc_macs + 2 * 64 * 8 * 8
    assert {"aten::sigmoid", "aten::mul"} <= set(fv.skipped)


def test_fvcore_skips_the_3d_pool_of_se_on_clips():
    case = Case("se", "cpu", "float32", 2, 64, 3, 4, 4, reduction=16)
    module, x = build(case)
    fv = count_fvcore(module, x)
    assert fv.macs == cost_of(case).macs  # no pooling count on 3-D input
    assert "aten::adaptive_avg_pool3d" in fv.skipped


def test_counter_failure_is_recorded_not_raised():
    case = Case("se", "cpu", "float32", 1, 8, 1, 2, 2, reduction=2)
    module, _ = build(case)
    import torch

    bad = torch.randn(1, 3, 2, 2)  # wrong channel count: the module raises
    assert count_fvcore(module, bad).macs is None and count_fvcore(module, bad).error
    assert count_torch(module, bad).macs is None and count_torch(module, bad).error
