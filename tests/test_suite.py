from __future__ import annotations

import pytest

from a2bench.case import Case
from a2bench.suite import SuiteError, expand, load_suite, parse_suite


def suite(**over):
    raw = {"name": "t", "blocks": ["double_attention"], "params": {"channels": [8], "h": [4],
                                                                   "w": [4]}}
    raw.update(over)
    return parse_suite(raw, "t.yaml")


def test_cartesian_product():
    s = suite(params={"channels": [8, 16], "h": [4, 8], "w": [4, 8]})
    cases = expand(s)
    assert len(cases) == 2 * 2 * 2
    assert {(c.channels, c.h, c.w) for c in cases} == {
        (c, h, w) for c in (8, 16) for h in (4, 8) for w in (4, 8)}


def test_zip_advances_axes_together():
    s = suite(params={"channels": [8], "h": [4, 8, 16], "w": [5, 9, 17]}, zip=[["h", "w"]])
    assert [(c.h, c.w) for c in expand(s)] == [(4, 5), (8, 9), (16, 17)]


def test_defaults_follow_the_paper():
    s = suite(blocks=["double_attention", "se"], params={"channels": [64], "h": [4], "w": [4]})
    da, se = expand(s)
    assert da == Case("double_attention", "cpu", "float32", 1, 64, 1, 4, 4, m=16, n=16)
    assert se == Case("se", "cpu", "float32", 1, 64, 1, 4, 4, reduction=16)


def test_blocks_ignore_axes_they_lack_and_duplicates_collapse():
    s = suite(blocks=["double_attention", "se"],
              params={"channels": [64], "h": [4], "w": [4], "m": [8, 16], "reduction": [4, 8]})
    cases = expand(s)
    da = [c for c in cases if c.block == "double_attention"]
    se = [c for c in cases if c.block == "se"]
    assert sorted(c.m for c in da) == [8, 16]  # not 4 copies: reduction does not apply
    assert sorted(c.reduction for c in se) == [4, 8]  # not 4 copies: m does not apply
    assert all(c.m is None and c.n is None for c in se)
    assert all(c.reduction is None for c in da)
    assert len(cases) == len(set(cases)) == 4


def test_scalar_axis_is_one_value():
    assert [c.batch for c in expand(suite(params={"channels": 8, "h": 4, "w": 4, "batch": 3}))] \
        == [3]


@pytest.mark.parametrize("over,field", [
    ({"blocks": ["transformer"]}, "blocks[0]"),
    ({"blocks": []}, "blocks"),
    ({"device": "tpu"}, "device"),
    ({"dtype": "int8"}, "dtype"),
    ({"colour": "red"}, "colour"),
    ({"name": ""}, "name"),
    ({"params": {"channels": [8], "h": [4], "w": [4], "depth": [2]}}, "params.depth"),
    ({"params": {"channels": [8], "h": [0], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": [4, -2], "w": [4, 4]}}, "params.h[1]"),
    ({"params": {"channels": [8], "h": [4.5], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": ["big"], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": [True], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": [4]}}, "params.w"),
    ({"params": {"channels": [8], "h": [4, 8], "w": [4]}, "zip": [["h", "w"]]}, "zip[0]"),
    ({"zip": [["h", "batch"]]}, "zip[0]"),
    ({"blocks": ["se"], "params": {"channels": [8], "h": [4], "w": [4], "reduction": [16]}},
     "params.reduction"),
])
def test_bad_suites_name_the_field(over, field):
    with pytest.raises(SuiteError) as info:
        suite(**over)
    message = str(info.value)
    assert message.startswith("t.yaml: ") and f" {field}: expected " in message
    assert "\n" not in message


def test_load_suite_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nblocks: [se\nparams: {}\n")
    with pytest.raises(SuiteError, match=r"bad.yaml: invalid YAML at line 3"):
        load_suite(bad)
