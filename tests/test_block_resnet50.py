"""ResNet-50 v1 as one block: the published cost numbers, the parameter count, the placement
of the attention blocks and the counters at a small input (model-level numbers at 224^2 need
no forward pass)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from a2bench.blocks import build
from a2bench.blocks.double_attention import DoubleAttention
from a2bench.blocks.gc import GlobalContext
from a2bench.blocks.nonlocal_block import NonLocal
from a2bench.blocks.resnet50 import ATTENTIONS, ResNet50, _inserted
from a2bench.blocks.se import SqueezeExcitation
from a2bench.case import Case
from a2bench.catalog import blocks
from a2bench.measure.counters import count_fvcore, count_torch
from a2bench.measure.step import make_step

SPEC = blocks()["resnet50"]


def case(attention: str, side: int = 224, batch: int = 1, **kw) -> Case:
    return Case("resnet50", "cpu", "float32", batch, 3, 1, side, side, attention=attention, **kw)


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_registered_last_with_its_attention_choices():
    names = list(blocks())
    assert names.index("resnet50") == names.index("criss_cross") + 1  # appended at the end
    (param,) = SPEC.params
    assert param.name == "attention" and param.default == "none"
    assert param.choices == ATTENTIONS


def test_macs_at_224_match_the_resnet_and_senet_papers():
    # SENet Table 2: ResNet-50 3.86 GFLOPs, SE-ResNet-50 3.87 (multiply-adds), ResNet-50 v1
    none, se = SPEC.cost(case("none")).macs, SPEC.cost(case("se")).macs
    assert none == pytest.approx(3.86e9, rel=0.005)
    assert se == pytest.approx(3.87e9, rel=0.005)
    assert none == 3_857_973_248
    # GC r16 in c3-c5 adds 8.71 M MACs (notes/more-blocks.md)
    assert SPEC.cost(case("gc")).macs - none == pytest.approx(8.71e6, rel=0.01)


def test_parameters_model_equals_module():
    counts = {}
    for attention in ATTENTIONS:
        module = ResNet50(3, attention)
        counts[attention] = parameters(module)
        assert SPEC.cost(case(attention)).parameters == counts[attention], attention
    assert counts["none"] == 25_557_032
    assert 2.4e6 < counts["se"] - counts["none"] < 2.6e6  # SENet: "~2.5 million"
    assert counts["gc"] - counts["none"] == pytest.approx(2.52e6, rel=0.01)


def test_v1_stride_on_the_first_1x1_and_projection_shortcuts():
    module = ResNet50()
    for layer in (module.layer2, module.layer3, module.layer4):
        first = layer[0]
        assert first.conv1.stride == (2, 2) and first.conv2.stride == (1, 1)
        assert first.downsample[0].stride == (2, 2)
        assert all(block.downsample is None for block in list(layer)[1:])
    assert module.layer1[0].downsample is not None and module.layer1[0].conv1.stride == (1, 1)
    assert [len(layer) for layer in (module.layer1, module.layer2, module.layer3,
                                     module.layer4)] == [3, 4, 6, 3]


@pytest.mark.parametrize("attention,kind,places", [
    ("se", SqueezeExcitation, 16), ("gc", GlobalContext, 13), ("nonlocal", NonLocal, 5),
    ("double_attention", DoubleAttention, 5)])
def test_attention_placement(attention: str, kind: type, places: int):
    module = ResNet50(3, attention)
    found = [m for m in module.modules() if isinstance(m, kind)]
    assert len(found) == places == len(_inserted(case(attention)))
    if attention == "gc":
        assert all(block.attention is None for block in module.layer1)
    if attention in ("nonlocal", "double_attention"):
        # after residual blocks 1 and 3 of res3 and 1, 3, 5 of res4 (0-based)
        assert [type(m).__name__ for m in module.layer2][2] == kind.__name__
        assert sum(isinstance(m, kind) for m in module.layer2) == 2
        assert sum(isinstance(m, kind) for m in module.layer3) == 3
        assert not any(isinstance(m, kind) for m in (*module.layer1, *module.layer4))


@pytest.mark.parametrize("attention", ["none", "se", "gc", "double_attention"])
def test_counters_equal_the_model_at_a_small_input(attention: str):
    c = case(attention, side=64)
    module, x = build(c)
    with torch.no_grad():
        assert module(x).shape == (1, 1000)
    model = SPEC.cost(c).macs
    assert count_torch(module, x).macs == model
    assert count_fvcore(module, x).macs == model + SPEC.declared(c)["fvcore"]


def test_train_step_macs_are_three_forwards():
    c = case("gc", side=64, mode="train")
    module, x = build(c)
    step = make_step(module, x, "train")
    with FlopCounterMode(display=False) as counter:
        step.run()
    forward = SPEC.cost(dataclasses.replace(c, mode="forward"))
    assert counter.get_total_flops() // 2 == SPEC.cost(c).macs == 3 * forward.macs


def test_a_train_step_whose_batch_norm_would_see_one_value_is_refused_before_it_runs(
        tmp_path, capsys):
    """At batch 1 on a map of 32 x 32 or less, res5's map is 1 x 1 and torch's BatchNorm
    refuses to train on one value per channel: the suite is refused in one line (it was an
    error record, its traceback's last line, after the calibration)."""
    from a2bench.cli import main

    shape = {"batch": 1, "channels": 3, "t": 1, "h": 32, "w": 32, "attention": "none"}
    ((axis, why),) = SPEC.problems({**shape, "mode": "train"})
    assert axis == "batch" and "res5's map is 1x1" in why and "got batch 1 at 32x32" in why
    assert SPEC.problems({**shape, "mode": "forward"}) == SPEC.problems(shape) == []
    assert SPEC.problems({**shape, "mode": "train", "batch": 2}) == []
    assert SPEC.problems({**shape, "mode": "train", "h": 33}) == []  # res5's map 2 x 1
    suite = tmp_path / "rn.yaml"
    suite.write_text("name: rn\ndescription: x\nblocks: [resnet50]\ndevice: cpu\n"
                     "params:\n  batch: [1]\n  channels: [3]\n  mode: [train]\n  h: [32]\n"
                     "  w: [32]\nzip: [[h, w]]\n")
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch: expected batch 2 or more" in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("attention", ["none", "se"])
def test_the_float32_forward_peak_at_one_thread_is_its_model_to_the_byte(attention: str):
    """Each convolution's buffers follow the kernel torch runs it on (cost.cpu_f32_conv2d_
    memory): oneDNN's copies for the 7 x 7 stem (its input as it is, 3 channels), the 3 x 3s
    and the strided 1 x 1s (with the input reduced to unit stride where the stride divides the
    map: not on 7 x 7), ATen's im2col for a small batch-1 one; and a stage's input lives
    until the stage returns. Without them the forward was +196 % at 64 x 64 and the batch-2 one
    at 112 x 112 peaked in layer4.1 with layer3's output live."""
    from a2bench.catalog import cost_of
    from a2bench.measure.memory import warm_peak_cpu

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for batch, side in ((1, 64), (2, 56), (1, 97), (2, 112)):
            c = case(attention, side=side, batch=batch)
            module, x = build(c)
            measured = warm_peak_cpu(make_step(module, x, "forward"))
            assert measured == cost_of(c).peak_bytes, (c.label(), measured, cost_of(c).peak_bytes)
    finally:
        torch.set_num_threads(before)
