"""Every registered block, at every shape its spec gives as an example, meets the same contract.

1. fvcore and FlopCounterMode equal the model's MACs, or differ by exactly the amount the spec
   declares (with its reason); a counted block (no cost()) has MACs FlopCounterMode sees;
2. the measured CPU peak is near the model's where the peak is large (blocks with a model);
3. building is deterministic;
4. the parameters survive suite -> Case -> results.jsonl -> results.csv.

A new block file is tested by this file with no edit here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch

from a2bench.blocks import build
from a2bench.case import SHAPE_AXES, Case
from a2bench.catalog import blocks
from a2bench.measure.counters import count_fvcore, count_torch
from a2bench.measure.memory import peak_tensor_bytes_cpu
from a2bench.measurement import Measurement
from a2bench.registry import BlockSpec
from a2bench.run.store import write_csv
from a2bench.suite import expand, parse_suite

SPECS = blocks()
EXAMPLES = [(name, i) for name, spec in SPECS.items() for i in range(len(spec.examples))]
LARGE_PEAK_BYTES = 8 * 2**20
PEAK_TOLERANCE = 0.2  # oneDNN's layout copies and padding are not in any model (see gc.py)


def example_case(spec: BlockSpec, example: Mapping[str, object]) -> Case:
    shape = {"batch": 1, "t": 1, **{k: v for k, v in example.items() if k in SHAPE_AXES}}
    given = {k: v for k, v in example.items() if k not in SHAPE_AXES}
    return Case(spec.name, "cpu", "float32", *(int(shape[a]) for a in SHAPE_AXES),
                params=spec.resolve({**shape, **given}))


def test_every_block_declares_examples_and_valid_ones():
    for name, spec in SPECS.items():
        assert spec.examples, f"{name} gives no example shapes"
        for example in spec.examples:
            case = example_case(spec, example)
            assert not spec.problems({**case.to_dict()}), (name, example)


@pytest.mark.parametrize("name,i", EXAMPLES)
def test_counters_equal_the_model_or_differ_as_declared(name: str, i: int):
    spec = SPECS[name]
    case = example_case(spec, spec.examples[i])
    module, x = build(case)
    if not spec.has_cost:  # a counted block: its count is its model, and must see work
        assert count_torch(module, x).macs, f"{name}: FlopCounterMode counts no MACs"
        return
    model = spec.cost(case).macs
    for counter, count in (("fvcore", count_fvcore(module, x)), ("torch", count_torch(module, x))):
        assert count.macs is not None, count.error
        declared = spec.counter_difference.get(counter)
        extra = declared[0](case) if declared else 0
        assert count.macs == model + extra, (counter, case.label(), count.macs, model, extra)
        if declared:
            assert declared[1].strip(), f"{name}: a declared difference needs its reason"


@pytest.mark.parametrize("name,i", EXAMPLES)
def test_building_is_deterministic(name: str, i: int):
    spec = SPECS[name]
    case = example_case(spec, spec.examples[i])
    (m1, x1), (m2, x2) = build(case), build(case)
    assert torch.equal(x1, x2)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    with torch.no_grad():
        assert torch.equal(m1(x1), m2(x2))


def _large(spec: BlockSpec, example: Mapping[str, object]) -> Case:
    """The example at batch 1 with its map doubled until the model's peak is large."""
    case = example_case(spec, {**example, "batch": 1})
    while spec.cost(case).peak_bytes < LARGE_PEAK_BYTES:
        case = Case(case.block, case.device, case.dtype, case.batch, case.channels, case.t,
                    2 * case.h, 2 * case.w, params=dict(case.params))
    return case


@pytest.mark.parametrize("name", list(SPECS))
def test_the_measured_peak_is_near_the_model_where_it_is_large(name: str):
    spec = SPECS[name]
    if not spec.has_cost:
        pytest.skip(f"{name} gives no cost model (a counted block): no peak to compare")
    case = _large(spec, spec.examples[0])
    module, x = build(case)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # SDPA's flash kernel keeps one scratch buffer per thread
    try:
        with torch.no_grad():
            measured = peak_tensor_bytes_cpu(lambda: module(x))
    finally:
        torch.set_num_threads(threads)
    model = spec.cost(case).peak_bytes
    assert abs(measured / model - 1) <= PEAK_TOLERANCE, (case.label(), measured, model)


@pytest.mark.parametrize("name,i", EXAMPLES)
def test_parameters_survive_suite_case_jsonl_csv(name: str, i: int, tmp_path: Path):
    spec = SPECS[name]
    example = dict(spec.examples[i])
    raw = {"name": "roundtrip", "blocks": [name],
           "params": {k: [v] for k, v in example.items()}}
    (case,) = expand(parse_suite(raw, "roundtrip.yaml"))
    assert case == example_case(spec, example)
    record = Measurement(case, "ok")
    if spec.has_cost:
        record = record.with_cost(spec.cost(case))
    line = json.dumps(record.to_json())
    back = Measurement.from_json(json.loads(line))
    assert back.case == case and back.case.key() == case.key()
    write_csv(tmp_path / "results.csv", [back])
    with open(tmp_path / "results.csv") as f:
        (row,) = list(csv.DictReader(f))
    for pname, value in case.params:
        assert row[pname] == str(value), (pname, row)
    assert Case.from_dict({k: _typed(v) for k, v in row.items() if k in case.to_dict()}) == case


def _typed(text: str) -> object:
    return int(text) if text.isdigit() else text
