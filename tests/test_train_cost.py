"""The training-step cost model (forward + backward) of every registered block.

1. train MACs are 3x the forward's and equal FlopCounterMode's count of one train step;
2. the measured CPU peak of one train step (a2bench.measure.step, one thread) is within 10 % of
   the model's wherever the model's peak exceeds 8 MiB;
3. saved_bytes > 0 and the train peak is at least the forward peak;
4. model-level: what training adds to the non-local order grows with N, not to double attention.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

import pytest
import torch
from test_block_conformance import example_case
from torch.utils.flop_counter import FlopCounterMode

from a2bench.blocks import build
from a2bench.blocks.se import SESpec
from a2bench.case import Case
from a2bench.catalog import blocks, cost_of
from a2bench.cost import Cost, Term, bmm, elementwise, pointwise, train_cost, within_allowance
from a2bench.kernel_names import threaded
from a2bench.measure.memory import warm_peak_cpu
from a2bench.measure.step import make_step
from a2bench.onednn import ONEDNN_BF16, ONEDNN_BF16_AMX, is_onednn_amx
from a2bench.registry import BlockSpec

SPECS = blocks()
EXAMPLES = [(name, i) for name, spec in SPECS.items() for i in range(len(spec.examples))]
LARGE_PEAK_BYTES = 8 * 2**20
TOLERANCE = 0.10
# Every block's first example, plus the non-local variants whose backward differs most.
PEAK_CASES = [(name, dict(spec.examples[0])) for name, spec in SPECS.items()] + [
    # SDPA's peak grows with c N, not N^2: wide channels reach 8 MiB at a map that is fast
    ("nonlocal", {"channels": 256, "h": 8, "w": 8, "impl": "sdpa"}),
    ("nonlocal", {"channels": 20, "h": 8, "w": 8, "subsample": 2, "impl": "eager"}),
    ("nonlocal", {"channels": 256, "h": 8, "w": 8, "subsample": 2, "impl": "sdpa"}),
]


def measured_onednn(kernel: str) -> str:
    """`kernel` (a case's convolution kernel) where oneDNN runs it on an ISA whose scratch was
    measured (onednn.ONEDNN_BF16_MEASURED); else the test skips, saying why."""
    from a2bench.onednn import ONEDNN_BF16_MEASURED, is_onednn_bf16

    if not is_onednn_bf16(kernel):
        pytest.skip("this CPU's bf16 convolutions do not run on oneDNN")
    if kernel not in ONEDNN_BF16_MEASURED:
        pytest.skip(f"oneDNN runs this CPU's bf16 convolutions as {kernel}, whose scratch is "
                    "not measured (benchmarks/conv_scratch.py measures it)")
    return kernel


def assert_peak(measured: int, cost: Cost, slack: int, why: object) -> None:
    """A measured peak against its model: where the model declares an allowance (oneDNN's AMX
    kernels: onednn.onednn_amx_scratch holds the least their blocking books), between the
    model and the model plus it; elsewhere within `slack` bytes above it (0: to the byte)."""
    allowance = cost.peak_allowance_bytes
    assert within_allowance(measured - cost.peak_bytes, allowance or slack), (
        why, measured, cost.peak_bytes, allowance)


def train(case: Case) -> Case:
    return dataclasses.replace(case, mode="train")


@pytest.mark.parametrize("name,i", EXAMPLES)
def test_train_macs_are_three_forwards_and_match_flop_counter(name: str, i: int):
    spec = SPECS[name]
    case = example_case(spec, spec.examples[i])
    forward, trained = spec.cost(case), spec.cost(train(case))
    assert trained.mode == "train" and cost_of(train(case)) == trained
    assert trained.macs == 3 * forward.macs
    assert trained.flops == 2 * trained.macs + trained.elementwise
    assert trained.elementwise > forward.elementwise
    module, x = build(case)
    step = make_step(module, x, "train")
    with FlopCounterMode(display=False) as counter:
        step.run()
    declared = spec.counter_difference.get("torch")
    missing = 3 * declared[0](case) if declared else 0  # skipped in forward and backward alike
    assert counter.get_total_flops() // 2 == trained.macs + missing, case.label()


@pytest.mark.parametrize("name,i", EXAMPLES)
def test_saved_bytes_and_train_peak_at_least_forward(name: str, i: int):
    spec = SPECS[name]
    case = example_case(spec, spec.examples[i])
    forward, trained = spec.cost(case), spec.cost(train(case))
    assert forward.saved_bytes == 0 < trained.saved_bytes
    assert trained.peak_bytes >= forward.peak_bytes
    assert trained.saved_bytes <= trained.peak_bytes


def _large(spec: BlockSpec, example: Mapping[str, object]) -> Case:
    """The example at batch 1 in train mode with its map doubled until the model's train peak
    is large."""
    case = train(example_case(spec, {**example, "batch": 1}))
    while spec.cost(case).peak_bytes < LARGE_PEAK_BYTES:
        case = dataclasses.replace(case, h=2 * case.h, w=2 * case.w)
    return case


def measured_train_peak(case: Case) -> int:
    return measured_peak(train(case))


def one_thread_backend(case: Case) -> str:
    """The kernels a case records at one thread, measured_peak's."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return SPECS[case.block].backend(*build(case))
    finally:
        torch.set_num_threads(threads)


def measured_peak(case: Case) -> int:
    module, x = build(case)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # SDPA's flash kernels keep one scratch buffer per thread
    try:
        return warm_peak_cpu(make_step(module, x, case.mode))
    finally:
        torch.set_num_threads(threads)


def _id(name: str, example: Mapping[str, object]) -> str:
    return "-".join([name, *(f"{k}{v}" for k, v in example.items() if k in ("impl", "subsample"))])


@pytest.mark.parametrize("name,example", PEAK_CASES, ids=[_id(*c) for c in PEAK_CASES])
def test_the_measured_train_peak_is_near_the_model(name: str, example: dict):
    spec = SPECS[name]
    case = _large(spec, example)
    model = spec.cost(case).peak_bytes
    measured = measured_train_peak(case)
    assert abs(measured / model - 1) <= TOLERANCE, (case.label(), measured, model)


def _attention(block: str, side: int) -> Case:
    return Case(block, "cpu", "float32", 1, 64, 1, side, side, m=16, n=16, mode="train")


def test_training_adds_n_squared_to_the_nonlocal_order_only():
    """Per position, what training adds (train peak - forward peak) and what it saves grow
    linearly with N in the non-local order (the N x N matrix is saved, and its gradient
    allocated), and stay flat for double attention."""
    def per_position(block: str, side: int) -> tuple[float, float]:
        trained = cost_of(_attention(block, side))
        forward = cost_of(dataclasses.replace(_attention(block, side), mode="forward"))
        n = side * side
        return (trained.peak_bytes - forward.peak_bytes) / n, trained.saved_bytes / n

    sides = (32, 64, 128)
    right = [per_position("nonlocal_right", s) for s in sides]
    left = [per_position("double_attention", s) for s in sides]
    for a, b in zip(right, right[1:], strict=False):
        assert b[0] > 3 * a[0] and b[1] > 3 * a[1]  # N quadruples each step
    for a, b in zip(left, left[1:], strict=False):
        assert b[0] == pytest.approx(a[0], rel=0.05) and b[1] == pytest.approx(a[1], rel=0.05)
    # the train/forward peak ratio: the non-local order tends to 2 (S and its gradient), double
    # attention to a constant below it
    ratio = {blk: cost_of(_attention(blk, 64)).peak_bytes
             / cost_of(dataclasses.replace(_attention(blk, 64), mode="forward")).peak_bytes
             for blk in ("nonlocal_right", "double_attention")}
    assert 1.9 < ratio["nonlocal_right"] < 2.1 and ratio["double_attention"] < 1.8


def test_the_simulation_on_a_hand_counted_chain():
    # x -> conv (saves x) -> relu (saves itself) -> conv (saves relu) -> add x (passes both)
    terms = (pointwise("a", 1, 10, 4, 4, inputs=("x",)),
             elementwise("r", 40, 40, frees=("a",), inputs=("a",), saves=("r",),
                         backward_elementwise=40),
             pointwise("b", 1, 10, 4, 4, frees=("r",), inputs=("r",)),
             elementwise("out", 40, 40, frees=("b",), inputs=("b", "x"), passes=("b", "x")))
    forward = Cost(terms, 4)
    trained = train_cost(forward, 40)
    assert forward.peak_bytes == 80 * 4  # b and out
    assert trained.macs == 3 * forward.macs
    # The forward keeps r (saved by the relu and by b): 120 at most. The backward peaks in the
    # relu's: out, r (saved), grad r, grad a, and b's parameter gradients (16 + 4).
    assert trained.saved_bytes == 40 * 4
    assert trained.peak_bytes == (40 + 40 + 40 + 40 + 20) * 4
    # two bias gradients, the relu's select, and x's gradients summed (the first is the upstream
    # one passed through the add, so the conv's is summed into a new buffer)
    assert trained.elementwise == forward.elementwise + 2 * 40 + 40 + 40


def test_terms_default_to_a_chain_and_a_plugin_subclass_is_transformed_once():
    terms = (Term("a", 5, 0, 10, grad_operands=2), Term("b", 0, 0, 10, ("a",)))
    assert train_cost(Cost(terms, 4), 10).macs == 15

    class Sub(SESpec):  # a plugin reusing a built-in's model through super()
        name = "se_sub"

        def cost(self, case: Case) -> Cost:
            return super().cost(case)

    case = Case("se_sub", "cpu", "float32", 1, 32, 1, 4, 4, reduction=4)
    assert Sub().cost(train(case)).macs == 3 * Sub().cost(case).macs
    assert Sub().cost(train(case)) == SESpec().cost(train(case))
    assert bmm("p", 1, 2, 3, 4).saves is None  # its inputs, resolved in the simulation


def test_a_onednn_bf16_convolution_is_modelled_to_the_byte():
    """onednn.onednn_bf16_scratch on one convolution, against the peaks benchmarks/conv_scratch.py
    measured on this repository's CPU (avx512_bf16, torch 2.13.0+cpu): forward and train step,
    to the byte, also where the copies of one sample's input and output gradient hold one block
    of the channels (c_in 256: 128 of them; c_out 768: 256; onednn.onednn_copied_channels);
    without the kernel (float32 here runs ATen's), no scratch."""
    from a2bench.onednn import ONEDNN_BF16, onednn_copied_channels

    def peaks(b: int, cin: int, cout: int, n: int, size: int, kernel: str) -> tuple[int, int]:
        term = pointwise("conv", b, n, cin, cout, inputs=("x",), kernel=kernel)
        forward = Cost((term,), size, input_elements=b * cin * n)
        return forward.peak_bytes, train_cost(forward, b * cin * n).peak_bytes

    assert peaks(1, 64, 16, 2304, 2, ONEDNN_BF16) == (518_272, 1_112_544)
    assert peaks(2, 16, 64, 576, 2, ONEDNN_BF16) == (333_952, 467_712)
    assert peaks(1, 256, 64, 1024, 2, ONEDNN_BF16) == (950_400, 1_867_904)
    # from 3 samples on, oneDNN's own output of the batch beside torch's, where it is larger
    # (measured: benchmarks/conv_scratch.py --batch 3 8 is exact at all 252 of its shapes)
    assert peaks(4, 16, 64, 256, 2, ONEDNN_BF16)[0] == 2 * 4 * 64 * 256 * 2
    assert peaks(8, 128, 256, 256, 2, ONEDNN_BF16)[0] == 2 * 8 * 256 * 256 * 2
    assert peaks(8, 64, 16, 256, 2, ONEDNN_BF16)[0] == 346_240  # the buffers stay larger
    assert [onednn_copied_channels(c, 5) for c in (128, 160, 176, 256, 384)] == \
        [128, 80, 176, 128, 96]
    assert [onednn_copied_channels(c, 16) for c in (496, 512, 528, 768)] == [496, 256, 528, 256]
    assert peaks(1, 256, 64, 1024, 4, "") == (262_144, 1_376_512)
    # a block's own backward scratch (a transposed gradient's copy) adds to the kernel's
    alone = pointwise("conv", 1, 16, 16, 16, kernel=ONEDNN_BF16)
    both = pointwise("conv", 1, 16, 16, 16, kernel=ONEDNN_BF16, backward_scratch=256)
    assert both.backward_scratch == alone.backward_scratch + 256 and both.scratch == alone.scratch


def test_onednn_rounds_its_float32_buffers_to_its_register_block_which_follows_the_isa():
    """onednn.onednn_register_block, oneDNN's own heuristic (jit_avx512_core_bf16_1x1_conv_
    kernel::init_conf), at the shapes whose allocations showed it: the largest count of
    registers that divides the positions (below a height of 14) or the height, else the one
    leaving the largest remainder; a third as many without bf16 instructions. The kernel a case
    records names the ISA; an unmeasured one is modelled as the nearest measured one."""
    from a2bench.onednn import (
        ONEDNN_BF16,
        ONEDNN_BF16_AMX,
        ONEDNN_BF16_EMULATED,
        ONEDNN_BF16_MEASURED,
        is_onednn_bf16,
        onednn_bf16_kernel,
        onednn_register_block,
        onednn_store_positions,
    )

    # (positions, height, padded channels written) -> (with bf16 instructions, without)
    blocks = {(100, 1, 16): (8, 6), (256, 1, 16): (8, 6), (144, 12, 16): (9, 6),
              (225, 15, 16): (9, 6), (289, 17, 16): (7, 6), (169, 13, 16): (9, 6),
              (225, 15, 160): (5, 4), (196, 14, 144): (6, 4)}
    for (n, h, load), want in blocks.items():
        got = tuple(onednn_register_block(n, h, load, native) for native in (True, False))
        assert got == want, ((n, h, load), got)
    assert [onednn_store_positions(n, h, 16) for n, h in ((100, 1), (289, 17), (144, 12))] \
        == [104, 294, 144]
    assert onednn_store_positions(256, 1, 16, bf16_instructions=False) == 258
    assert onednn_store_positions(225, 15, 16, bf16_instructions=False) == 228

    assert onednn_bf16_kernel("avx512_core_bf16") == onednn_bf16_kernel("") == ONEDNN_BF16
    assert onednn_bf16_kernel("avx512_core") == onednn_bf16_kernel("avx512_core_vnni") \
        == ONEDNN_BF16_EMULATED
    # AMX under both of oneDNN's names for it; an unmeasured ISA named for itself
    assert onednn_bf16_kernel("avx10_1_512_amx") == onednn_bf16_kernel("avx512_core_amx") \
        == ONEDNN_BF16_AMX
    vnni, fp16 = onednn_bf16_kernel("avx2_vnni_2"), onednn_bf16_kernel("avx512_core_amx_fp16")
    assert vnni == "onednn_bf16_avx2_vnni_2" and vnni not in ONEDNN_BF16_MEASURED
    assert fp16 == "onednn_bf16_avx512_core_amx_fp16" and fp16 not in ONEDNN_BF16_MEASURED
    assert all(map(is_onednn_bf16, (ONEDNN_BF16, ONEDNN_BF16_EMULATED, ONEDNN_BF16_AMX, vnni)))
    assert not is_onednn_bf16("flash_cpu") and not is_onednn_bf16("")
    assert is_onednn_amx(fp16) and not is_onednn_amx(vnni) and not is_onednn_amx(ONEDNN_BF16)
    # an unmeasured ISA's scratch is the nearest measured one's; each measured one has its own
    term = {k: pointwise("conv", 1, 256, 64, 64, kernel=k)
            for k in (ONEDNN_BF16, ONEDNN_BF16_EMULATED, ONEDNN_BF16_AMX, vnni, fp16)}
    assert term[vnni] == term[ONEDNN_BF16] != term[ONEDNN_BF16_EMULATED]
    assert term[fp16] == term[ONEDNN_BF16_AMX] != term[ONEDNN_BF16]
    assert term[ONEDNN_BF16_AMX].allowance > 0 == term[ONEDNN_BF16].allowance


def test_the_isa_oneDNN_runs_bf16_on_is_read_from_onednn_and_named_in_the_kernel():
    """kernels.onednn_bf16_isa reads oneDNN's own verbose line of one tiny convolution; the
    kernel the blocks record (conv_kernel) names it. Here: a non-empty ISA name where oneDNN
    runs bf16 convolutions, none where it does not."""
    from a2bench.blocks.kernels import (
        conv_kernel,
        onednn_bf16_isa,
        onednn_runs_bf16_convolutions,
    )
    from a2bench.onednn import onednn_bf16_kernel

    isa = onednn_bf16_isa()
    if not onednn_runs_bf16_convolutions():
        assert isa == ""
        pytest.skip("this CPU's bf16 convolutions do not run on oneDNN")
    assert isa.replace("_", "").isalnum(), isa  # e.g. avx512_core_bf16
    conv = torch.nn.Conv1d(16, 16, 1).to(torch.bfloat16)
    assert conv_kernel(conv, torch.zeros(1, 16, 8, dtype=torch.bfloat16)) \
        == onednn_bf16_kernel(isa)


def test_the_float32_kernel_is_named_for_an_isa_narrower_than_avx512_and_pads_to_its_block():
    """oneDNN's float32 layout blocks channels by its vector's width: 16 on AVX-512, whose name
    the stored runs keep, 8 on AVX2 (onednn_f32_avx2; an AVX2-only host's peaks were 2x the
    AVX-512 model at c 8, the model's to the byte with 8)."""
    from a2bench.onednn import (
        ONEDNN_F32,
        onednn_f32_channel_block,
        onednn_f32_kernel,
        onednn_f32_threads,
    )

    assert onednn_f32_kernel(1, "") == onednn_f32_kernel(1, "avx512_core") == ONEDNN_F32
    assert onednn_f32_kernel(1, "avx10_1_512_amx") == ONEDNN_F32
    # an ISA of no family the names hold is read as unknown, as an unreadable line is: every
    # name onednn_f32_kernel writes is one the model reads
    assert onednn_f32_kernel(2, "acl") == onednn_f32_kernel(2, "") == "onednn_f32_t2"
    assert onednn_f32_kernel(1, "avx2") == "onednn_f32_avx2"
    assert onednn_f32_kernel(4, "avx2") == "onednn_f32_avx2_t4"
    assert onednn_f32_kernel(4, "avx512_core") == "onednn_f32_t4"
    names = {"onednn_f32": (1, 16), "onednn_f32_t2": (2, 16), "onednn_f32_avx2": (1, 8),
             "onednn_f32_avx2_t4": (4, 8), "onednn_f32_sse41": (1, 8)}
    assert {k: (onednn_f32_threads(k), onednn_f32_channel_block(k)) for k in names} == names
    assert all(onednn_f32_threads(k) is None
               for k in ("onednn_f32_", "onednn_bf16", "flash_cpu_t2", "", "onednn_f32_t1"))
    # only the names onednn_f32_kernel writes: an AVX-512 ISA's is the bare name, one thread
    # takes no _t1 (they had read as the 8-channel layout, the second with an ISA "avx2_t1")
    assert all(onednn_f32_threads(k) is None and onednn_f32_channel_block(k) == 16
               for k in ("onednn_f32_avx512_core", "onednn_f32_avx512_core_t2",
                         "onednn_f32_avx2_t1", "onednn_f32_avx2_t0"))
    # c 8 pads to 16 on AVX-512 alone: a forward holds copies of the input, the weights and
    # its own output (and a padded bias, with its alignment) beside torch's output, less that
    wide, narrow = (pointwise("conv", 16, 64, 8, 8, kernel=k)
                    for k in ("onednn_f32", "onednn_f32_avx2"))
    out = 16 * 8 * 64
    assert wide.scratch == 2 * 16 * 16 * 64 + 16 * 16 + (16 + 128 // 4) - out
    assert narrow.scratch == 2 * out + 8 * 8 - out
    # c 12 pads to 16 on both
    assert pointwise("conv", 16, 64, 12, 12, kernel="onednn_f32").scratch \
        == pointwise("conv", 16, 64, 12, 12, kernel="onednn_f32_avx2").scratch


def test_the_isa_oneDNN_runs_float32_on_is_named_in_the_kernel():
    """kernels.onednn_f32_isa reads oneDNN's verbose line of one tiny convolution at batch 16;
    conv_kernel names it (the bare name on AVX-512)."""
    from a2bench.blocks.kernels import conv_kernel, onednn_f32_isa
    from a2bench.onednn import onednn_f32_kernel

    isa = onednn_f32_isa()
    assert isa.replace("_", "").isalnum(), isa  # e.g. avx512_core, avx2
    conv = torch.nn.Conv1d(8, 8, 1)
    assert conv_kernel(conv, torch.zeros(16, 8, 8)) \
        == onednn_f32_kernel(torch.get_num_threads(), isa)


@pytest.mark.parametrize("isa", ["", "AVX512_CORE"])
def test_onednn_bf16_convolutions_are_their_model_to_the_byte_on_each_measured_isa(isa: str):
    """benchmarks/conv_scratch.py --positions in a fresh process (oneDNN reads its ISA cap
    once): positions and map heights no register block divides, forward and train step, to the
    byte, on this CPU's ISA and capped at AVX512_CORE (an AVX-512 CPU without bf16
    instructions, the kernel onednn_bf16_emulated)."""
    import os
    import subprocess
    import sys

    from conftest import ROOT, child_pythonpath

    from a2bench.blocks.kernels import onednn_runs_bf16_convolutions

    # torch puts bf16 convolutions on oneDNN by the CPU's ISA, which a cap only lowers: where
    # they do not run there uncapped, neither child would (each measured its 144 shapes on
    # ATen's kernel, 10-11 s of CPU, and then skipped)
    if not onednn_runs_bf16_convolutions():
        measured_onednn("")
    env = {**os.environ, "PYTHONPATH": child_pythonpath(), "ONEDNN_MAX_CPU_ISA": isa}
    result = subprocess.run([sys.executable, "benchmarks/conv_scratch.py", "--positions"],
                            cwd=ROOT, env=env, text=True, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    kernels = {row.split("|")[2].strip() for row in result.stdout.splitlines()
               if row.startswith("| 1,") or row.startswith("| 2,")}
    assert len(kernels) == 1, kernels
    kernel = measured_onednn(kernels.pop())
    for step in ("forward", "train step"):
        said = (f"{step}: measured peak within the model's allowance" if is_onednn_amx(kernel)
                else f"{step}: the model is the measured peak to the byte")
        assert said in result.stdout and (
            "at 144 of 144" in result.stdout.split(said)[1].splitlines()[0]), \
            result.stdout[-900:]


def test_a_onednn_bf16_conv2d_keeps_no_sample_copies_on_maps_with_sides_of_15_or_more():
    """A 1x1 nn.Conv2d on oneDNN (onednn.onednn_sample_copies): on a map with a side under 15 its
    scratch is nn.Conv1d's, blocks of the copies included (c_in 384: 96 channels, c_out 768:
    256); with both sides 15 or more its weight gradient keeps no copies of one sample's input
    and output gradient. Measured against the model, forward and train step, to the byte
    (benchmarks/conv_scratch.py --conv2d)."""
    from torch import nn

    from a2bench.blocks.kernels import conv_kernel
    from a2bench.onednn import onednn_sample_copies

    assert onednn_sample_copies(None) and onednn_sample_copies((14, 200))
    assert not onednn_sample_copies((15, 15))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for b, cin, cout, sides in ((1, 64, 16, (12, 12)), (2, 16, 64, (16, 40)),
                                    (1, 256, 64, (15, 15)), (2, 64, 512, (24, 24)),
                                    (1, 384, 768, (12, 12))):
            conv = nn.Conv2d(cin, cout, 1).to(torch.bfloat16)
            x = torch.randn(b, cin, *sides).to(torch.bfloat16)
            kernel = measured_onednn(conv_kernel(conv, x))
            n = sides[0] * sides[1]
            term = pointwise("conv", b, n, cin, cout, inputs=("x",), kernel=kernel, sides=sides)
            forward = Cost((term,), 2, input_elements=b * cin * n)
            for cost, mode in ((forward, "forward"), (train_cost(forward, b * cin * n), "train")):
                measured = warm_peak_cpu(make_step(conv, x, mode))
                assert_peak(measured, cost, 0, (b, cin, cout, sides, mode))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("threads, batch", [(1, 16), (2, 2), (3, 2), (4, 1)])
def test_float32_convolutions_on_onednn_are_their_model(threads: int, batch: int):
    """torch runs a float32 1x1 convolution on oneDNN at batch 16 and more, and at more than one
    thread (ConvParams::use_mkldnn): the record names onednn_f32 (with the thread count at more
    than one, whose split of the weight gradient books the other threads' partial gradients)
    and the model holds oneDNN's copies and scratchpad (onednn.onednn_f32_scratch): forward and
    train step to the byte, odd channels and weights that outweigh the maps among them."""
    from torch import nn

    from a2bench.blocks.kernels import conv_kernel, onednn_f32_isa
    from a2bench.onednn import onednn_f32_kernel, onednn_f32_runs

    assert onednn_f32_runs(2, 16, 16) and onednn_f32_runs(1, 64, 321)
    assert not onednn_f32_runs(1, 64, 320)  # 20,480 input elements: ATen's kernel
    # on AVX2, past one thread, within the model's declared allowance (onednn_f32_scratch)
    kernel = onednn_f32_kernel(threads, onednn_f32_isa())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for cin, cout, sides in ((64, 128, None), (128, 64, None), (16, 256, None),
                                 (24, 100, None), (512, 768, None),
                                 (64, 64, (12, 12)), (32, 96, (16, 20)), (72, 12, (7, 9))):
            n = sides[0] * sides[1] if sides else 256
            conv = nn.Conv2d(cin, cout, 1) if sides else nn.Conv1d(cin, cout, 1)
            x = torch.randn(batch, cin, *(sides or (n,)))
            if batch == 1 and not onednn_f32_runs(1, cin, n):
                continue  # ATen's kernel, the model of ""
            assert conv_kernel(conv, x) == kernel
            if batch > 1:  # batch 1: oneDNN only at more than one thread, above 20,480 inputs
                one = kernel if threads > 1 and onednn_f32_runs(1, cin, n) else ""
                assert conv_kernel(conv, x[:1]) == one, (cin, cout, sides)
            term = pointwise("conv", batch, n, cin, cout, inputs=("x",), kernel=kernel,
                             sides=sides)
            forward = Cost((term,), 4, input_elements=batch * cin * n)
            for cost, mode in ((forward, "forward"),
                               (train_cost(forward, batch * cin * n), "train")):
                measured = warm_peak_cpu(make_step(conv, x, mode))
                assert_peak(measured, cost, 0, (cin, cout, sides, mode, threads))
    finally:
        torch.set_num_threads(before)


def test_onednn_splits_a_float32_weight_gradient_as_its_balance_does():
    """onednn.onednn_f32_weight_split and _scratchpad against what oneDNN 3.12 booked on this
    repository's Emerald Rapids VM (torch.profiler's allocation in the weight gradient's call):
    the other threads' partial weight gradients, 128 B of alignment and a page-aligned barrier
    where it splits positions; the bias's reducer partials over samples; a padded bias."""
    from a2bench.onednn import (
        _best_divider,
        onednn_f32_kernel,
        onednn_f32_threads,
        onednn_f32_weight_scratchpad,
        onednn_f32_weight_split,
    )

    # oneDNN's best_divider scans down from the largest: where blocks tie, find_max keeps the
    # first (the largest), else the last (the smallest); a prime leaves no exact block
    assert (_best_divider(12, 4, 12, True), _best_divider(12, 4, 12, False)) == (12, 4)
    assert _best_divider(1_000_003, 4, 1_000_003, False) == 1_000_003
    assert onednn_f32_weight_split(1, 4096, 4096, 256, 64, 2) == (2, 1, 1)
    assert onednn_f32_weight_split(1, 4096, 4096, 512, 512, 8) == (2, 2, 2)
    assert onednn_f32_weight_split(1, 256, 256, 512, 768, 2) == (1, 2, 1)
    # (batch, positions, c_in, c_out, threads): bytes booked
    for shape, booked in (((1, 4096, 256, 64, 2), 73_856), ((1, 1296, 64, 16, 3), 16_512),
                          ((2, 1296, 64, 16, 2), 24_768), ((2, 4096, 256, 64, 8), 229_760),
                          ((1, 4096, 512, 512, 8), 1_056_896), ((1, 4096, 512, 512, 2), 0),
                          ((1, 400, 72, 12, 1), 192)):
        b, n, cin, cout, threads = shape
        assert onednn_f32_weight_scratchpad(b, n, cin, cout, True, threads) == booked, shape
    assert onednn_f32_weight_scratchpad(1, 4096, 256, 64, False, 1) == 0
    assert [onednn_f32_kernel(t) for t in (1, 2, 16)] == ["onednn_f32", "onednn_f32_t2",
                                                          "onednn_f32_t16"]
    assert [onednn_f32_threads(k) for k in ("onednn_f32", "onednn_f32_t8", "onednn_f32_t1",
                                            "onednn_bf16", "flash_cpu", "onednn_f32_tx")] \
        == [1, 8, None, None, None, None]


def test_a_block_whose_float32_convolutions_ran_on_onednn_is_its_model():
    """Double attention at batch 16 (oneDNN's convolutions at any thread count): to the byte,
    forward and train step, where the model of ATen's kernel was 25 % under (block_peaks.py)."""
    from a2bench.blocks.kernels import onednn_f32_isa
    from a2bench.onednn import onednn_f32_kernel

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for mode in ("forward", "train"):
            case = Case("double_attention", "cpu", "float32", 16, 64, 1, 16, 16, mode=mode,
                        params={"m": 32, "n": 32})
            module, x = build(case)
            kernel = blocks()[case.block].backend(module, x)
            assert kernel == onednn_f32_kernel(1, onednn_f32_isa())  # one thread: no split
            measured = warm_peak_cpu(make_step(module, x, mode))
            assert measured == cost_of(case, kernel).peak_bytes
            assert measured > 1.2 * cost_of(case, "").peak_bytes
    finally:
        torch.set_num_threads(before)


def test_onednn_bf16_bmm_copies_a_strided_operand_above_its_size_threshold():
    """cost.bmm's `copied`: a scratch of the forward and of the backward on oneDNN's bf16 bmm,
    which runs above 16^3 MACs (measured: a strided operand copied at 4,160 MACs, not at
    4,096); nothing for another kernel."""
    from a2bench.onednn import ONEDNN_BF16

    big = bmm("p", 1, 4, 32, 33, kernel=ONEDNN_BF16, copied=1056)
    assert (big.scratch, big.backward_scratch) == (1056, 1056)
    for term in (bmm("p", 1, 4, 32, 32, kernel=ONEDNN_BF16, copied=1024),
                 bmm("p", 1, 4, 32, 33, copied=1056)):
        assert (term.scratch, term.backward_scratch) == (0, 0)


@pytest.mark.parametrize("block", ["double_attention", "nonlocal_right"])
def test_a_bf16_block_records_its_convolutions_kernel_and_double_attention_is_exact(block: str):
    """On a CPU whose bfloat16 convolutions run on oneDNN the block records `onednn_bf16`, and
    double attention's model, with that kernel's scratch, is its measured peak to the byte,
    forward and train (at b 2 with channels that are not multiples of 16: within 1 KiB). The
    non-local order also holds the bf16 bmm's scratch, which is not modelled (docs/blocks.md)."""
    spec = SPECS[block]
    fp32 = Case(block, "cpu", "float32", 1, 64, 1, 12, 12, m=16, n=16)
    assert spec.backend(*build(fp32)) == ""  # float32 runs ATen's kernel: no scratch
    for b, c, m, n in ((1, 64, 16, 16), (2, 32, 8, 12)):
        for mode in ("forward", "train"):
            case = Case(block, "cpu", "bfloat16", b, c, 1, 12, 12, m=m, n=n, mode=mode)
            module, x = build(case)
            kernel = measured_onednn(spec.backend(module, x))
            if block != "double_attention":
                continue
            assert_peak(measured_peak(case), cost_of(case, kernel),
                        0 if c % 16 == 0 == m % 16 else 1024, case.label())


def test_gc_records_its_convolutions_kernel_and_its_bf16_peak_follows_the_model():
    """GC's c → 1 mask convolution on oneDNN held +78 … +107 % over the model without its
    scratch; with it the peak is within 160 B forward (c_out = 1 is not a multiple of 16:
    onednn.onednn_bf16_scratch) and 2,080 B in a training step, at c = 64 and 48."""
    for c, r, side in ((64, 16, 12), (48, 4, 16)):
        for mode in ("forward", "train"):
            case = Case("gc", "cpu", "bfloat16", 1, c, 1, side, side, reduction=r, mode=mode)
            kernel = measured_onednn(SPECS["gc"].backend(*build(case)))
            assert_peak(measured_peak(case), cost_of(case, kernel),
                        160 if mode == "forward" else 2080, case.label())


def test_scalars_autograd_keeps_are_in_the_train_models():
    """Two 0-dim tensors a training step allocates on the CPU: SE's mean backward divides by N
    as an int64 cast to the dtype (12 B in float32, 10 B in bf16), and the eager non-local
    block's scale saves its Python float as a float64 (8 B). Both train peaks were those bytes
    over the model; now they are their model to the byte, in float32 and float64."""
    for dtype in ("float32", "float64"):
        for case in (Case("se", "cpu", dtype, 2, 32, 1, 8, 8, reduction=4, mode="train"),
                     Case("nonlocal", "cpu", dtype, 1, 32, 1, 8, 8, inner=16, subsample=1,
                          impl="eager", mode="train")):
            assert measured_peak(case) == cost_of(case).peak_bytes, case.label()


def test_criss_cross_train_peak_is_its_model_at_batch_1_and_2():
    """At batch 1 the column aggregation's output gradient reaches its bmm as a permuted view,
    whose (c x h) matrices ATen's CPU bmm copies one at a time (at batch 2 the view's backward
    has copied it contiguous): the float32 train peak was c h elements over the model at every
    batch-1 case, its model to the byte with the copy, on square and oblong maps."""
    for b, c, h, w in ((1, 64, 12, 12), (1, 32, 8, 20), (2, 64, 12, 12)):
        case = Case("criss_cross", "cpu", "float32", b, c, 1, h, w, recurrence=2, mode="train")
        assert measured_peak(case) == cost_of(case).peak_bytes, case.label()


def test_criss_cross_records_its_convolutions_kernel_and_its_bf16_peak_is_its_model():
    """Criss-cross's 1x1 Conv2d convolutions on oneDNN, with the copy its bf16 bmm makes of the
    row aggregation's strided operand: +7 … +27 % over the model without them; with them, to
    the byte forward and train, on a map with a side under 15 (per-sample copies) and on one
    without; and at b 2, c 32 on 20 x 20, where the row aggregation's bmm sets the forward peak,
    within the bmm's own scratchpad (+13 % over the model without the copy)."""
    for c, side in ((64, 12), (128, 32)):
        for mode in ("forward", "train"):
            case = Case("criss_cross", "cpu", "bfloat16", 1, c, 1, side, side, recurrence=2,
                        mode=mode)
            kernel = measured_onednn(SPECS["criss_cross"].backend(*build(case)))
            assert_peak(measured_peak(case), cost_of(case, kernel), 0, case.label())
    # b 2, c 32 on 20 x 20: the forward peak is in the row aggregation's bmm, beside its copy of
    # the strided operand (32,000 B, modelled) and oneDNN's own scratchpad (7,680 B, not)
    case = Case("criss_cross", "cpu", "bfloat16", 2, 32, 1, 20, 20, recurrence=2)
    assert_peak(measured_peak(case), cost_of(case, kernel), 8192, case.label())


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_the_nonlocal_block_records_both_kernels_and_its_conv_bound_bf16_peaks_are_exact(
        impl: str):
    """At c = 128 on 12 × 12 the non-local block's convolutions set its bf16 peak: +98 % forward
    (eager) and +31 … +65 % (SDPA) without oneDNN's scratch; with it, its model to the byte
    (eager's train step too, with the scale's saved 8-byte scalar). `backend` joins the SDPA
    kernel and `onednn_bf16` with "+"."""
    spec = SPECS["nonlocal"]
    before = torch.get_num_threads()
    for mode, threads in itertools.product(("forward", "train"), (1, 2)):
        case = Case("nonlocal", "cpu", "bfloat16", 1, 128, 1, 12, 12, inner=64, subsample=1,
                    impl=impl, mode=mode)
        torch.set_num_threads(threads)
        try:
            backend = spec.backend(*build(case))
        finally:
            torch.set_num_threads(before)
        kernel = measured_onednn(backend.split("+")[-1])
        # the flash kernel named with the threads, whose scratch it keeps per thread
        flash = threaded("flash_cpu", threads)
        assert backend == {"eager": kernel, "sdpa": f"{flash}+{kernel}"}[impl]
        if threads == 1:  # measured_peak's
            assert_peak(measured_peak(case), cost_of(case, backend), 0, case.label())


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request):
    """torch at one thread and at two for the test: float32 convolutions run on oneDNN at more
    than one (torch's ConvParams::use_mkldnn), whatever the machine's cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", [name for name, spec in SPECS.items() if spec.has_cost])
def test_the_model_expected_before_a_case_runs_is_the_one_its_record_gets(name: str,
                                                                        torch_threads: int):
    """BlockSpec.expected_backend (known before the case runs, for the budget check and the
    planner) gives the model that the kernel the case then records (BlockSpec.backend) gives,
    in float32 and bfloat16, in both modes: on a CPU whose bf16 convolutions run on oneDNN and
    on one whose do not; float32 at batch 16, which runs on oneDNN; and at one thread and at
    two, where float32 at any batch may run on oneDNN (kernels.expected_conv_kernel) and the
    non-local block's SDPA flash kernel keeps a scratch per thread."""
    spec = SPECS[name]
    first = example_case(spec, spec.examples[0])
    sdpa = dataclasses.replace(first, params={**dict(first.params), "impl": "sdpa"})
    variants = [first, sdpa] if name == "nonlocal" else [first]
    for variant, (dtype, batch) in itertools.product(
            variants, (("float32", None), ("bfloat16", None), ("float32", 16), ("float32", 2))):
        case = dataclasses.replace(variant, dtype=dtype)
        case = dataclasses.replace(case, batch=batch) if batch else case
        ran = spec.backend(*build(case))
        for mode in ("forward", "train"):
            case = dataclasses.replace(case, mode=mode)
            expected = spec.expected_backend(case, torch_threads)
            assert cost_of(case, expected) == cost_of(case, ran), (case.label(), expected, ran)


def test_the_memory_budget_check_holds_onednn_scratch_of_a_float32_case_at_two_threads():
    """At more than one thread torch runs a float32 1x1 convolution of batch 2 on oneDNN, with
    its blocked copies: the runner's check holds them at the sweep's threads (double attention
    at c 64, m = n = 16 on 32 x 32), and a budget a byte short of that skips the case there,
    while at one thread (ATen's kernel) it needs less."""
    import torch

    from a2bench.blocks.kernels import onednn_f32_isa
    from a2bench.onednn import onednn_f32_kernel
    from a2bench.run.runner import predicted_bytes, within_budget

    case = Case("double_attention", "cpu", "float32", 2, 64, 1, 32, 32, m=16, n=16)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ran = SPECS["double_attention"].backend(*build(case))
    finally:
        torch.set_num_threads(before)
    assert ran == onednn_f32_kernel(2, onednn_f32_isa())
    x_bytes = 2 * 64 * 32 * 32 * 4
    need = predicted_bytes(case, threads=2)
    assert need == cost_of(case, ran).runnable_bytes + x_bytes
    assert predicted_bytes(case, threads=1) == cost_of(case).runnable_bytes + x_bytes < need
    assert within_budget(case, need, threads=2) and not within_budget(case, need - 1, threads=2)
    assert within_budget(case, need - 1, threads=1)


def test_the_memory_budget_check_holds_onednn_scratch_of_a_bf16_case():
    """The runner checks a case against its budget before it runs, with the kernel it is
    expected to run: a bf16 double attention case on oneDNN needs its scratch too (+75 % at
    c 64, m = n = 16 on 48 × 48), and a budget a byte short of that skips it."""
    from a2bench.run.runner import predicted_bytes, within_budget

    case = Case("double_attention", "cpu", "bfloat16", 1, 64, 1, 48, 48, m=16, n=16)
    kernel = measured_onednn(SPECS["double_attention"].backend(*build(case)))
    x_bytes = 64 * 48 * 48 * 2
    need = predicted_bytes(case)
    assert need == cost_of(case, kernel).runnable_bytes + x_bytes
    assert need > cost_of(case).runnable_bytes + x_bytes
    assert within_budget(case, need) and not within_budget(case, need - 1)


def test_the_cpu_flash_kernel_packs_key_and_value_on_amx():
    """On AMX torch's CPU flash kernel packs k and v for oneDNN's brgemm (bf16, both sequences
    64 or longer): whole copies of both and each thread's block of key rows, which set the SDPA
    non-local block's forward peak (up to +23 % over the model without them, c 64-128 on 8 x 8
    to 32 x 32). Measured where oneDNN runs on AMX; the rule itself everywhere."""
    from a2bench.blocks.nonlocal_block import flash_packed_elements

    def case(side: int, dtype: str = "bfloat16", subsample: int = 1, mode: str = "forward"):
        return Case("nonlocal", "cpu", dtype, 2, 64, 1, side, side, inner=32,
                    subsample=subsample, impl="sdpa", mode=mode)

    # N = N' = 144: 2 b N' d (v's positions even) and min(512, N') d
    assert flash_packed_elements(case(12), ONEDNN_BF16_AMX) == 2 * 2 * 144 * 32 + 144 * 32
    # a block of key rows per thread (measured at two: benchmarks/block_peaks.py)
    assert flash_packed_elements(case(12), ONEDNN_BF16_AMX, threads=2) == \
        2 * 2 * 144 * 32 + 2 * 144 * 32
    assert flash_packed_elements(case(16, subsample=2), ONEDNN_BF16_AMX) == 2 * 2 * 64 * 32 \
        + 64 * 32  # N' = 64: just long enough
    assert flash_packed_elements(case(14, subsample=2), ONEDNN_BF16_AMX) == 0  # N' = 49
    assert flash_packed_elements(case(12), ONEDNN_BF16) == 0  # no AMX, no packing
    assert flash_packed_elements(case(12, "float32"), ONEDNN_BF16_AMX) == 0
    # (from 16 x 16 on, a training step's peak lies in the backward's oneDNN gemm scratchpads,
    # which no model holds: docs/blocks.md)
    for side, mode in ((8, "forward"), (12, "forward"), (16, "forward"), (32, "forward"),
                       (8, "train"), (12, "train")):
        c = case(side, mode=mode)
        backend = one_thread_backend(c)
        if not is_onednn_amx(backend.split("+")[-1]):
            pytest.skip(f"oneDNN does not run on AMX here ({backend})")
        assert_peak(measured_peak(c), cost_of(c, backend), 0, c.label())


@pytest.mark.parametrize("b, cin, cout, k, stride, side", [
    (1, 3, 64, 7, 2, 64),  # the stem: oneDNN, its input as it is (a first convolution)
    (2, 20, 64, 7, 2, 32),  # a stem of 20 channels: copied, padded to 32
    (1, 64, 64, 3, 1, 56),  # oneDNN's direct 3 x 3: input, weights and output copied
    (1, 64, 64, 3, 1, 16),  # 16,384 input elements at batch 1: ATen's im2col
    (1, 256, 128, 1, 2, 56),  # a strided 1 x 1 on jit_1x1, its input reduced to unit stride
    (2, 1024, 512, 1, 2, 7),  # the stride does not divide 7: a direct convolution
    (1, 256, 128, 1, 2, 8),  # 16,384 input elements: ATen's strided im2col
    (1, 64, 256, 1, 1, 28),  # a 1 x 1 of unit stride at one thread: a plain product
])
def test_a_float32_conv2d_forward_is_its_model_on_the_kernel_torch_runs(b, cin, cout, k, stride,
                                                                        side):
    """cost.cpu_f32_conv2d_memory at one thread, to the byte against the forward's peak."""
    from torch import nn

    from a2bench.blocks.kernels import onednn_f32_isa
    from a2bench.cost import conv2d, cpu_f32_conv2d_memory
    from a2bench.onednn import onednn_f32_channel_block, onednn_f32_kernel

    block = onednn_f32_channel_block(onednn_f32_kernel(1, onednn_f32_isa()))
    out = (side + 2 * (k // 2) - k) // stride + 1
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
    x = torch.randn(b, cin, side, side)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        measured = warm_peak_cpu(make_step(conv, x, "forward"))
    finally:
        torch.set_num_threads(before)
    term = conv2d("conv", b, out * out, cin, cout, k, inputs=("x",),
                  **cpu_f32_conv2d_memory(b, cin, cout, k, stride, (side, side), (out, out),
                                          block))
    assert measured == Cost((term,), 4, input_elements=b * cin * side * side).peak_bytes
