"""ATen's own CPU kernels in bfloat16 and float16 (a2bench.aten_cpu): where a case's 1x1
convolutions do not run on oneDNN (an AVX2-only CPU), their bias gradient sums a float32 copy
of the whole output gradient at batch 2 and more, which the train models hold.

Measured here at one thread and at two: double attention's bf16 train peak had been 12-21 %
over its model at every batch over 1 (b 16, c 64, 24 x 24: 5,022,080 B against 4,141,216).
"""

from __future__ import annotations

import functools
import itertools
from unittest import mock

import pytest
import torch

from a2bench.aten_cpu import bias_sum_scratch, layout_strides, sums_float_copy
from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import blocks, cost_of
from a2bench.measure.memory import ops_run, warm_peak_cpu
from a2bench.measure.step import make_step
from a2bench.onednn import ONEDNN_BF16, ONEDNN_BF16_AMX, ONEDNN_BF16_EMULATED

SPECS = blocks()


def _torch_sums_a_float32_copy(sizes: tuple[int, ...], order: tuple[int, ...],
                               reduced: tuple[int, ...]) -> bool:
    """Whether torch's own CPU sum of a bf16 tensor of `sizes`, laid out in `order` (outermost
    first), over `reduced` converts it to float32 first (sum_out's aten::to)."""
    storage = torch.zeros([sizes[d] for d in order], dtype=torch.bfloat16)
    x = storage.permute([order.index(d) for d in range(len(sizes))])
    out = torch.empty([s for d, s in enumerate(sizes) if d not in reduced], dtype=torch.bfloat16)
    return "aten::to" in ops_run(lambda: torch.sum(x, dim=list(reduced), out=out))


def test_the_float32_copy_rule_is_torchs_own_at_every_layout():
    """aten_cpu.sums_float_copy (TensorIterator's reordering and merging of dimensions, then
    should_use_acc_buffer) says what torch's sum does, at every layout of 4-d tensors with
    sides of 1 and more over the reductions a convolution's bias gradient and others make:
    among them a contiguous gradient at b 1 (no copy) and b 2 (a copy), one output channel
    (none) and channels last (none)."""
    cases = 0
    for sizes in itertools.product((1, 3), (1, 2), (1, 4), (1, 5)):
        for order in itertools.permutations(range(4)):
            for reduced in ((0, 2, 3), (0, 2), (2, 3)):
                assert sums_float_copy(sizes, layout_strides(sizes, order), reduced) \
                    == _torch_sums_a_float32_copy(sizes, order, reduced), (sizes, order, reduced)
                cases += 1
    assert cases == 16 * 24 * 3
    # the bias gradient of a contiguous (b, c, 1, N) gradient, as an nn.Conv1d's
    assert [sums_float_copy(s, layout_strides(s), (0, 2, 3))
            for s in ((1, 8, 1, 144), (2, 8, 1, 144), (2, 1, 1, 144), (2, 8, 1, 1))] \
        == [False, True, False, False]


def test_a_layout_order_must_name_each_dimension_once():
    with pytest.raises(ValueError, match=r"layout order \(0, 2, 1\): expected a permutation"):
        layout_strides((2, 8, 1, 144), (0, 2, 1))


def test_the_bias_sum_adds_above_a_gradients_copy_and_beside_a_held_input_copy():
    """The float32 sum's moment (2 out + 3 c_out elements over the input gradient) lies above
    the term's params and scratch where the scratch is the strided output gradient's copy,
    freed before it; a copy that convolution_backward holds through it (`held`) adds."""
    b, cout, sides, cin = 2, 8, (1, 144), 4
    params, out = cin * cout + cout, b * cout * 144
    assert bias_sum_scratch(b, cout, sides, params, 0) \
        == {"backward_scratch": 2 * out + 3 * cout - params}
    assert bias_sum_scratch(b, cout, sides, params, out) \
        == {"backward_scratch": out + 3 * cout - params}
    assert bias_sum_scratch(b, cout, sides, params, out, held=out) \
        == {"backward_scratch": 2 * out + 3 * cout - params}
    assert bias_sum_scratch(1, cout, sides, params, 0) == {}  # b 1: no copy
    assert bias_sum_scratch(b, cout, sides, params, 0, (0, 2, 3, 1)) == {}  # channels last


def _without_the_sum(case: Case, kernel: str) -> int:
    with mock.patch("a2bench.cost.bias_sum_scratch", lambda *args: {}):
        return cost_of(case, kernel).peak_bytes


def test_the_rule_leaves_onednn_cuda_and_float32_models_as_they_were():
    """Only ATen's reduced-precision CPU kernel sums a float32 copy: the models of oneDNN's
    bf16 kernels (on every ISA), of CUDA and of float32 are those without the rule."""
    case = Case("double_attention", "cpu", "bfloat16", 16, 64, 1, 24, 24, m=16, n=16,
                mode="train")
    for kernel in (ONEDNN_BF16, ONEDNN_BF16_EMULATED, ONEDNN_BF16_AMX):
        assert cost_of(case, kernel).peak_bytes == _without_the_sum(case, kernel), kernel
    for other in (Case("double_attention", "cuda", "bfloat16", 16, 64, 1, 24, 24, m=16, n=16,
                       mode="train"),
                  Case("double_attention", "cpu", "float32", 8, 64, 1, 24, 24, m=16, n=16,
                       mode="train")):
        assert cost_of(other).peak_bytes == _without_the_sum(other, ""), other.label()
    assert cost_of(case, "").peak_bytes > 1.2 * _without_the_sum(case, "")


@functools.cache
def _onednn_runs(dtype: str) -> bool:
    """Whether torch runs a 1x1 convolution of `dtype` on oneDNN on this CPU (one tiny
    Conv1d's forward, profiled): where it does, ATen's kernel is not what runs."""
    conv = torch.nn.Conv1d(16, 16, 1).to(getattr(torch, dtype))
    x = torch.zeros(1, 16, 8, dtype=getattr(torch, dtype))
    return "aten::mkldnn_convolution" in ops_run(lambda: conv(x))


CASES = [
    # (block, b, c, side, params): the first set the peak at the bias gradient's float32 sum
    ("double_attention", 2, 64, 12, {}),
    ("double_attention", 16, 64, 12, {}),
    ("double_attention", 16, 8, 17, {}),
    ("nonlocal_right", 16, 64, 8, {}),
    ("nonlocal", 2, 64, 12, {"impl": "eager", "subsample": 2}),
    # W_z's input, a strided view behind SDPA, is copied contiguous through its whole backward
    ("nonlocal", 2, 64, 12, {"impl": "sdpa", "subsample": 2}),
    ("nonlocal", 16, 64, 8, {"impl": "sdpa", "subsample": 1}),
    # the rule holds here too, where it sets no peak: strided gradients, one channel, one position
    ("criss_cross", 2, 16, 12, {"recurrence": 2}),
    ("gc", 16, 64, 12, {}),
    ("se", 16, 64, 12, {}),
]


RUNS = [(dtype, threads, *case) for case in CASES
        for dtype, threads in (("bfloat16", 1), ("bfloat16", 2), ("float16", 1))]


@pytest.mark.parametrize("dtype,threads,block,b,c,side,params", RUNS,
                         ids=[f"{r[0]}-t{r[1]}-{r[2]}-b{r[3]}-c{r[4]}-{r[6].get('impl', '')}"
                              for r in RUNS])
def test_atens_reduced_precision_train_peaks_are_their_model(dtype: str, threads: int,
                                                             block: str, b: int, c: int,
                                                             side: int, params: dict):
    """On a CPU whose reduced-precision convolutions run ATen's kernel each block's training
    step is its model to the byte at batch 2 and 16, bf16 at one thread and at two, fp16 at
    one; where they run on oneDNN the test skips, saying so."""
    if _onednn_runs(dtype):
        pytest.skip(f"this CPU runs {dtype} convolutions on oneDNN, not on ATen's kernel")
    spec = SPECS[block]
    shape = {"batch": b, "channels": c, "t": 1, "h": side, "w": side}
    case = Case(block, "cpu", dtype, b, c, 1, side, side, mode="train",
                params=spec.resolve({**shape, **params}))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        module, x = build(case)
        kernel = spec.backend(module, x)
        measured = warm_peak_cpu(make_step(module, x, "train"))
    finally:
        torch.set_num_threads(before)
    assert measured == cost_of(case, kernel).peak_bytes, (case.label(), kernel)
