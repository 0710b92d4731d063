"""A block added from one file outside the package, as a user would: run, fit and report it.

The plugin declares a parameter no built-in block has (`depth`), the suite sweeps it, and the
results, the fits and the report carry it with no edit anywhere in a2bench.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli
from plugins_here import with_plugins
from test_report import draw_only

PLUGIN = '''
"""A stack of `depth` 1x1 convolutions c->c, each followed by a ReLU."""
from torch import nn

from a2bench.cost import Cost, elementwise, pointwise
from a2bench.registry import BlockSpec, Param, register


@register
class ToyStack(BlockSpec):
    name = "toy_stack"
    label = "Toy stack of 1x1 convolutions"
    short_label = "toy stack"
    params = (Param("depth", 2, "stack depth d", short="d",
                    check=lambda p: None if p["depth"] <= 64 else
                    f"expected at most 64, got {p['depth']}"),)
    examples = ({"batch": 1, "channels": 8, "h": 3, "w": 5, "depth": 3},)

    def module(self, case):
        c = case.channels
        layers = []
        for _ in range(case.param("depth")):
            layers += [nn.Conv2d(c, c, 1), nn.ReLU()]
        return nn.Sequential(*layers)

    def cost(self, case):
        b, c, n = case.batch, case.channels, case.positions
        terms = []
        previous = ()
        for i in range(case.param("depth")):
            terms.append(pointwise(f"conv{i}", b, n, c, c, frees=previous))
            terms.append(elementwise(f"relu{i}", b * c * n, b * c * n, frees=(f"conv{i}",)))
            previous = (f"relu{i}",)
        return Cost(tuple(terms), case.dtype_bytes)

    def expected_backend(self, case):  # the form before the thread count reached it
        return ""
'''

SUITE = """name: toy
blocks: [toy_stack, se]
params: {channels: [16], h: [8], w: [8], depth: [1, 2, 3, 4, 6, 8]}
"""


@pytest.mark.slow
def test_a_plugin_block_from_a_file_is_swept_fitted_and_reported(tmp_path: Path, monkeypatch):
    plugin = tmp_path / "elsewhere" / "toy_block.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN)
    suite = tmp_path / "toy.yaml"
    suite.write_text(SUITE)
    env = {"A2BENCH_PLUGINS": str(plugin)}
    out = tmp_path / "run"

    ran = cli("run", str(suite), "--out", str(out), "--processes", "1", "--threads", "1",
              "--time-budget", "0.05",
              "--calibration-time", "0.01", "--no-progress", env=env)
    assert ran.returncode == 0, ran.stderr

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    toy = [r for r in rows if r["block"] == "toy_stack"]
    assert [int(r["depth"]) for r in toy] == [1, 2, 3, 4, 6, 8]
    assert all(r["status"] == "ok" for r in rows), [r["reason"] for r in rows]
    for r in toy:  # the plugin's own cost model, checked by both counters
        assert r["macs_analytic"] == r["macs_torch"] == r["macs_fvcore"]
        assert int(r["macs_analytic"]) == int(r["depth"]) * 64 * 16 * 16
    assert {r["depth"] for r in rows if r["block"] == "se"} == {""}  # SE has no depth
    record = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert record["schema"] == 2 and "params" in record["case"]
    env_json = json.loads((out / "environment.json").read_text())
    assert env_json["blocks"]["toy_stack"]["params"][0]["label"] == "stack depth d"

    # the report in this process, the plugin loaded as in a fresh one, drawing only its MACs
    # fit figure, whose caption names the plugin's parameter (the others were most of its time)
    draw_only(monkeypatch, fits=("macs",))
    report = tmp_path / "report"
    made = with_plugins(plugin, "report", str(out), "--out", str(report))
    assert made.returncode == 0, made.stderr
    fits = pd.read_csv(report / "fits.csv")
    depth = fits[(fits["block"] == "toy_stack") & (fits["axis"] == "depth")
                 & (fits["metric"] == "macs") & fits["primary"]]
    assert len(depth) == 1
    assert depth.iloc[0]["verdict"] == "consistent" and abs(depth.iloc[0]["exponent"] - 1) < 0.01
    text = (report / "report.md").read_text()
    assert "Toy stack of 1x1 convolutions" in text or "toy stack" in text
    assert "stack depth d" in text


def test_an_expected_backend_written_before_threads_is_called_in_its_own_form():
    from a2bench.case import Case
    from a2bench.catalog import expected_backend
    from a2bench.registry import BlockSpec

    case = Case("toy", "cpu", "float32", 1, 8, 1, 4, 4)

    class Plain(BlockSpec):
        def module(self, case):
            raise AssertionError("not built")

    class Old(Plain):
        def expected_backend(self, case):
            return f"old {case.h}"

    class New(Plain):
        def expected_backend(self, case, threads=1):
            return f"new {threads}"

    class Open(Plain):
        def expected_backend(self, *args):
            return f"open {len(args)}"

    assert expected_backend(Old(), case, 2) == "old 4"
    assert expected_backend(New(), case, 2) == "new 2"
    assert expected_backend(Open(), case, 2) == "open 2"
    assert expected_backend(Plain(), case, 2) == ""
