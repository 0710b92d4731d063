"""ResNet-50's `nonlocal_official`: the non-local blocks as the official code configures them
(x max-pooled 2x2 before phi and g, BN with gamma 0 after W_z), beside today's `nonlocal`."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from a2bench.blocks import build
from a2bench.blocks.nonlocal_official import NonLocalOfficial, official_cost
from a2bench.blocks.resnet50 import ResNet50, _inserted
from a2bench.case import Case
from a2bench.catalog import blocks
from a2bench.cost import train_cost
from a2bench.measure.counters import count_fvcore, count_torch
from a2bench.measure.memory import peak_tensor_bytes_cpu
from a2bench.measure.step import make_step

SPEC = blocks()["resnet50"]


def case(attention: str, side: int = 224, **kw) -> Case:
    return Case("resnet50", "cpu", "float32", 1, 3, 1, side, side, attention=attention, **kw)


def block_case(b: int, c: int, h: int, w: int) -> Case:
    return Case("nonlocal_official", "cpu", "float32", b, c, 1, h, w, params={"inner": c // 2})


def test_the_default_and_todays_nonlocal_are_unchanged():
    (param,) = SPEC.params
    assert param.default == "none" and "nonlocal" in param.choices
    assert SPEC.cost(case("none")).macs == 3_857_973_248
    assert SPEC.cost(case("nonlocal")).macs == 6_660_603_904


def test_macs_at_224_follow_the_official_formula():
    # per block c^2 (N + N') + c N N' with N' = N/4: res3 (c 512, 28x28) twice, res4 (c 1024,
    # 14x14) three times (notes/more-blocks.md, the official row)
    def per_block(c: int, side: int) -> int:
        n, n_kv = side * side, (side // 2) ** 2
        return c * c * (n + n_kv) + c * n * n_kv

    added = 2 * per_block(512, 28) + 3 * per_block(1024, 14)
    official = SPEC.cost(case("nonlocal_official")).macs
    assert official == 3_857_973_248 + added == 5_329_334_272


def test_five_official_blocks_with_zero_gamma_where_the_nonlocal_ones_are():
    module = ResNet50(3, "nonlocal_official")
    found = [m for m in module.modules() if isinstance(m, NonLocalOfficial)]
    assert len(found) == 5 == len(_inserted(case("nonlocal_official")))
    assert sum(isinstance(m, NonLocalOfficial) for m in module.layer2) == 2
    assert sum(isinstance(m, NonLocalOfficial) for m in module.layer3) == 3
    assert all(torch.equal(m.bn.weight, torch.zeros_like(m.bn.weight)) for m in found)
    assert SPEC.cost(case("nonlocal_official")).parameters == sum(
        p.numel() for p in module.parameters())


def test_an_official_block_starts_as_the_identity():
    block = NonLocalOfficial(16, 8).eval()
    x = torch.randn(2, 16, 6, 10)
    with torch.no_grad():
        assert torch.equal(block(x), x)  # BN gamma 0 and beta 0: W_z's branch adds zero


def test_counters_equal_the_model_at_a_small_input():
    c = case("nonlocal_official", side=64)
    module, x = build(c)
    with torch.no_grad():
        assert module(x).shape == SPEC.output_shape(c) == (1, 1000)
    model = SPEC.cost(c).macs
    assert count_torch(module, x).macs == model
    assert count_fvcore(module, x).macs == model + SPEC.declared(c)["fvcore"]


@pytest.mark.parametrize("shape", [(1, 64, 32, 32), (2, 32, 30, 22), (1, 16, 17, 9)])
def test_one_block_peak_and_macs_forward_and_train(shape: tuple[int, int, int, int]):
    sub = block_case(*shape)
    b, c, h, w = shape
    torch.manual_seed(0)
    x = torch.randn(b, c, h, w)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        block = NonLocalOfficial(c, c // 2).eval()
        with torch.no_grad():
            measured = peak_tensor_bytes_cpu(lambda: block(x))
        forward = official_cost(sub)
        assert measured == forward.peak_bytes  # exact at one thread
        assert count_torch(block, x).macs == forward.macs
        train = train_cost(forward, b * c * h * w)
        step = make_step(NonLocalOfficial(c, c // 2), x.clone(), "train")
        step.run()
        step.release()
        with torch.enable_grad():
            measured_train = peak_tensor_bytes_cpu(step.run)
        with FlopCounterMode(display=False) as counter:
            step.run()
    finally:
        torch.set_num_threads(threads)
    assert counter.get_total_flops() // 2 == train.macs == 3 * forward.macs
    # BatchNorm's num_batches_tracked step allocates one int64 scalar the model leaves out
    assert 0 <= measured_train - train.peak_bytes <= 8


def test_train_step_of_the_network_is_three_forwards():
    c = case("nonlocal_official", side=64, mode="train")  # res5 2x2: BN needs > 1 value
    module, x = build(c)
    step = make_step(module, x, "train")
    with FlopCounterMode(display=False) as counter:
        step.run()
    forward = SPEC.cost(dataclasses.replace(c, mode="forward"))
    assert counter.get_total_flops() // 2 == SPEC.cost(c).macs == 3 * forward.macs


def test_images_too_small_for_res4s_pool_are_refused():
    assert SPEC.problems({**case("nonlocal_official", side=17).to_dict()}) == []
    ((name, why),) = SPEC.problems({**case("nonlocal_official", side=16).to_dict()})
    assert name == "attention" and "at least 17" in why
    assert SPEC.problems({**case("nonlocal", side=16).to_dict()}) == []
