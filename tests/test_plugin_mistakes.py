"""A plugin's mistakes in its spec are one line naming the plugin's file and line, found when it
registers or when the suite is read, before anything is measured or written:

1. a Param check (or a shape_checks rule) that returns a bool rather than None or a phrase;
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest
from conftest import cli

from a2bench.registry import REGISTRY, BlockSpec, Param, SpecError, register

HERE = Path(__file__).resolve()

# docs/your-block.md's token mixer, small: a test writes its spec's own lines at {spec}
PLUGIN = '''\
from torch import nn

from a2bench.cost import Cost, elementwise
from a2bench.registry import BlockSpec, Param, register


class Mixer(nn.Module):
    def __init__(self, positions):
        super().__init__()
        self.mix = nn.Linear(positions, positions)

    def forward(self, x):
        return x + self.mix(x.flatten(2)).view_as(x)


{register}
class MixerSpec(BlockSpec):
    name = "s27_mixer"
{spec}
    def module(self, case):
        return Mixer(case.positions)
'''
SUITE = "name: s\nblocks: [s27_mixer]\nthreads: 1\nparams: {channels: [4], h: [4], w: [4]}\n"


def _plugin(tmp_path: Path, spec: str, register_line: str = "@register") -> Path:
    path = tmp_path / "mixer.py"
    path.write_text(PLUGIN.format(register=register_line, spec=textwrap.indent(
        textwrap.dedent(spec), "    ")))
    return path


def _line(path: Path, text: str) -> int:
    """The first line of `path` holding `text` (a decorated class or function is placed at
    its first decorator, as inspect and a2bench's messages place it)."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _run(tmp_path: Path, plugin: Path, *args: str):
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    return cli("run", str(suite), "--out", str(tmp_path / "out"), "--time-budget", "0.02",
               "--calibration-time", "0.01", "--no-progress", *args,
               env={"A2BENCH_PLUGINS": str(plugin)})


def _one_line(done) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


# --- 1. a check that returns a bool --------------------------------------------------------


def _spec(**attrs):
    return type("Spec", (BlockSpec,), {"name": "s27_spec", "module": lambda self, c: None,
                                       **attrs})


def test_a_check_that_returns_a_bool_is_the_blocks_mistake_either_way(scratch_registry):
    # `p["k"] <= 4` had refused every valid case as the suite's ("params.k: True") and let
    # k = 8 through (False reads as valid)
    spec = REGISTRY[register(_spec(params=(Param("k", 2, "k", check=lambda p: p["k"] <= 4),)
                                   )).name]
    line = inspect.currentframe().f_lineno - 2  # type: ignore[union-attr]
    for k, said in ((2, "True"), (8, "False")):
        with pytest.raises(SpecError) as e:
            spec.problems({"k": k})
        assert str(e.value) == (
            f"block s27_spec: parameter k's check returned {said}; expected None for a valid "
            "case, else why not as one phrase \"expected ..., got ...\" (e.g. lambda p: None "
            f"if p[\"k\"] <= 4 else f\"expected at most 4, got {{p['k']}}\") (at {HERE}:{line})")
    shape = REGISTRY[register(_spec(shape_checks=(("t", lambda v: v["t"] == 1),))).name]
    with pytest.raises(SpecError, match=r"shape_checks' rule on t returned True; .* p\[\"t\"\]"):
        shape.problems({"t": 1})
    # None, a phrase and "" (nothing to say) are a check's answers, as before
    fine = REGISTRY[register(_spec(params=(Param("k", 2, "k", check=lambda p: None if p["k"] < 4
                                                 else "" if p["k"] == 4 else "expected less"),)
                                   )).name]
    assert fine.problems({"k": 2}) == fine.problems({"k": 4}) == []
    assert fine.problems({"k": 5}) == [("k", "expected less")]


def test_a_suite_with_a_bool_check_stops_naming_the_plugins_line(tmp_path: Path):
    plugin = _plugin(tmp_path, 'params = (Param("e", 1, "e", check=lambda p: p["e"] <= 4),)\n')
    line = _one_line(_run(tmp_path, plugin))
    assert line.startswith("a2bench: error: block s27_mixer: parameter e's check returned True; "
                           "expected None for a valid case")
    assert line.endswith(f"(at {plugin}:{_line(plugin, 'check=')})")
    assert not (tmp_path / "out").exists()
