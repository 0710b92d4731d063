"""The run axes: mode (forward, train), dtype and compile, from a suite to a stored record.

The train-mode cost model itself is tested in test_train_cost.py; here: the axes parse and
fail as a suite error should, records keep them, old records read as forward and eager, the
worker measures a training step, reduced precision says what it ran in, and a compiled block
computes what the eager one does.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from a2bench import analysis as an
from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import cost_of, spec
from a2bench.measure.precision import observe
from a2bench.measure.step import make_step
from a2bench.measurement import Measurement
from a2bench.run.worker import Settings, classify_failure, describe, measure_case
from a2bench.suite import SuiteError, expand, parse_suite

SUITE = {"name": "runaxes", "blocks": ["double_attention", "se"],
         "params": {"channels": [16], "h": [4], "w": [4], "mode": ["forward", "train"],
                    "dtype": ["float32", "bfloat16"], "compile": [False, True]}}
FAST = Settings(threads=1, time_budget_s=0.05)


def _case(block: str = "double_attention", **kw) -> Case:
    shape = {"batch": 1, "channels": 16, "t": 1, "h": 6, "w": 5}
    params = spec(block).resolve(shape)
    return Case(block, "cpu", kw.pop("dtype", "float32"), *shape.values(), params=params, **kw)


def test_run_axes_expand_into_cases_of_every_combination():
    suite = parse_suite(SUITE)
    cases = expand(suite)
    assert len(cases) == 2 * 2 * 2 * 2
    assert {(c.mode, c.dtype, c.compile) for c in cases} == {
        (m, d, k) for m in ("forward", "train") for d in ("float32", "bfloat16")
        for k in (False, True)}
    assert suite.dtypes == ("float32", "bfloat16")
    # --dtype wins over the swept dtype
    assert {c.dtype for c in expand(parse_suite(SUITE, dtype="float16"))} == {"float16"}


@pytest.mark.parametrize("axis,value,expected", [
    ("mode", "backward", "expected one of forward, train, got 'backward'"),
    ("compile", "yes", "expected true or false, got 'yes'"),
    ("dtype", "int8", "expected one of float32, float64, float16, bfloat16, got 'int8'"),
])
def test_bad_run_axis_values_are_one_line_suite_errors(axis, value, expected):
    raw = {**SUITE, "params": {**SUITE["params"], axis: [value]}}
    with pytest.raises(SuiteError) as e:
        parse_suite(raw, "s.yaml")
    assert str(e.value) == f"s.yaml: params.{axis}[0]: {expected}"


def test_records_keep_the_run_axes_and_old_records_read_as_forward_eager():
    case = _case(mode="train", compile=True, dtype="bfloat16")
    back = Measurement.from_json(Measurement(case, "ok").to_json()).case
    assert back == case and back.key() != dataclasses.replace(case, mode="forward").key()
    row = Measurement(case, "ok").to_row()
    assert (row["mode"], row["compile"], row["dtype"]) == ("train", True, "bfloat16")
    old = case.to_json()
    del old["mode"], old["compile"]  # a record written before the axes existed
    assert Case.from_dict(old) == dataclasses.replace(case, mode="forward", compile=False)
    assert Case.from_dict({**case.to_dict(), "compile": "False"}).compile is False  # a CSV cell


def test_train_step_counts_backward_and_holds_more_memory():
    forward = measure_case(_case(), FAST)
    train = measure_case(_case(mode="train"), FAST)
    model = cost_of(_case()).macs
    assert forward.macs_torch == model
    assert train.macs_torch == 3 * model == cost_of(_case(mode="train")).macs
    assert train.macs_fvcore is None  # fvcore traces the forward pass only
    assert train.peak_bytes > forward.peak_bytes


def test_train_step_drops_gradients_between_calls():
    module, x = build(_case())
    step = make_step(module, x, "train")
    step.run()
    first = [p.grad.clone() for p in module.parameters()]
    step.run()  # accumulating would double every gradient
    for g, p in zip(first, module.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g)


def test_a_train_step_through_a_detached_output_names_the_block_not_a2benchs_line():
    class Detaching(torch.nn.Module):
        def forward(self, x):
            return x.detach() * 2  # as a block that builds its output from .data would

    step = make_step(Detaching(), torch.randn(1, 4, 2, 2), "train")
    with pytest.raises(Exception) as info:
        step.run()
    said = describe(info.value)
    assert said.startswith("Detaching's output does not require grad in train mode: it "
                           "depends on no parameter") and "step.py" not in said
    assert said.endswith("(element 0 of tensors does not require grad and does not have a "
                         "grad_fn)")


def test_reduced_precision_records_what_ran_and_names_float32_ops():
    module, x = build(_case(dtype="bfloat16"))
    with torch.no_grad():
        ran = observe(lambda: module(x), "bfloat16")
    assert ran.ran_dtypes == ("bfloat16",) and ran.fallback_ops == ()

    def upcast() -> object:
        return module(x).float().softmax(dim=1)

    with torch.no_grad():
        mixed = observe(upcast, "bfloat16")
    assert "float32" in mixed.ran_dtypes and "aten._softmax" in mixed.fallback_ops


def test_analysis_makes_train_and_compiled_variants_and_pairs_their_twins():
    ms = []
    for side in (4, 8, 16):
        for mode in ("forward", "train"):
            case = dataclasses.replace(_case(), h=side, w=side, mode=mode)
            cost = cost_of(case)
            ms.append(Measurement(case, "ok", latency_s=cost.macs * 1e-9,
                                  peak_bytes=cost.peak_bytes).with_cost(cost))
    df = an.prepare(an.frame(ms, "run"))
    assert set(df["block"]) == {"double_attention", "double_attention[train]"}
    pairs = an.mode_pairs(df)
    assert len(pairs) == 3 and (pairs["macs_ratio"] == 3).all()
    assert (pairs["memory_ratio"] > 1).all() and (pairs["latency_ratio"] > 1).all()
    # a train case timed on another node than its forward twin (a Slurm sweep with --split
    # cases): its latency ratio holds the nodes' difference, so it is not read; memory is
    ms = [dataclasses.replace(m, host="node1") for m in ms[:-1]] + [
        dataclasses.replace(ms[-1], host="node2")]
    pairs = an.mode_pairs(an.prepare(an.frame(ms, "run")))
    assert list(pairs["same_node"]) == [True, True, False]
    assert list(pairs["hosts"]) == ["node1", "node1", "node1, node2"]
    assert pairs["latency_ratio"].isna().tolist() == [False, False, True]
    # train and forward at no common shape: no twins, and no error
    apart = [m for m in ms if (m.case.h == 4) == (m.case.mode == "train")]
    assert an.mode_pairs(an.prepare(an.frame(apart, "run"))).empty
    assert (pairs["memory_ratio"] > 1).all()


def test_compiled_twins_say_whether_the_output_matched_eager():
    from a2bench.analysis.variants import compile_pairs

    ms = []
    for side, drift in ((4, 3e-7), (8, 2e-3)):
        for compiled_ in (False, True):
            case = dataclasses.replace(_case(), h=side, w=side, compile=compiled_)
            cost = cost_of(case)
            ms.append(Measurement(case, "ok", latency_s=cost.macs * 1e-9,
                                  peak_bytes=cost.peak_bytes,
                                  compile_max_abs_error=drift if compiled_ else None
                                  ).with_cost(cost))
    pairs = compile_pairs(an.prepare(an.frame(ms, "run")), pd.DataFrame())
    assert list(pairs["compile_max_abs_error"]) == [3e-7, 2e-3]
    assert list(pairs["matches_eager"]) == [True, False]  # float32: within 1e-4 or not


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["forward", "train"])
def test_a_compiled_case_records_how_far_its_output_is_from_the_eager_one(mode):
    # forward compares compiled(module)(x) with module(x) under no_grad on one build: a compiled
    # block computes what the eager one does, within 1e-4 of every output (one compile less in
    # the file than a test of its own, which had asserted the looser rtol=1e-4, atol=1e-4)
    case = _case(mode=mode, compile=True)
    m = measure_case(case, FAST)
    assert m.status == "ok"
    assert 0 <= m.compile_max_abs_error < 1e-4  # the tolerance for fp32
    assert measure_case(dataclasses.replace(case, compile=False),
                        FAST).compile_max_abs_error is None


@pytest.fixture
def faulty_registered():
    """tests/faulty_blocks registered for one test, the registry restored after it."""
    import importlib
    import sys

    from a2bench.registry import REGISTRY

    saved = dict(REGISTRY)
    if "faulty_blocks" in sys.modules:
        importlib.reload(sys.modules["faulty_blocks"])
    else:
        importlib.import_module("faulty_blocks")
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)


def test_a_block_that_fails_to_compile_is_an_error_with_its_reason(faulty_registered):
    # graph_break runs eagerly, and torch.compile(fullgraph=True) refuses its graph break.
    shape = {"batch": 1, "channels": 16, "t": 1, "h": 4, "w": 4}
    case = Case("graph_break", "cpu", "float32", *shape.values(), params={"reduction": 1})
    assert measure_case(case, FAST).status == "ok"  # eager runs
    with pytest.raises(Exception) as e:
        measure_case(dataclasses.replace(case, compile=True), FAST)
    # What the worker sends back (serve): status error and a one-line reason naming the break.
    assert classify_failure(e.value) == "error"
    reason = describe(e.value)
    assert "\n" not in reason and "graph" in reason.lower(), reason


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_every_block_runs_forward_and_train_in_reduced_precision(dtype):
    from test_block_conformance import example_case

    from a2bench.catalog import blocks

    for name, block in blocks().items():
        case = dataclasses.replace(example_case(block, block.examples[0]), dtype=dtype)
        for mode in ("forward", "train"):
            module, x = build(case)
            step = make_step(module, x, mode)
            with torch.set_grad_enabled(step.grad_enabled):
                ran = observe(step.run, dtype)
            assert ran.ran_dtypes == (dtype,) and not ran.fallback_ops, (name, mode, ran)
