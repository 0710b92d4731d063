"""docs/your-block.md works as written: its files are written and its commands run, in order.

A fenced block whose info string names a file (```python my_block.py) is written to that file;
a ```sh block is run line by line, `a2bench` and `python` being this interpreter's; other
blocks (output, TOML) are shown only. Then what the page says of the results is checked.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, child_pythonpath

DOC = ROOT / "docs" / "your-block.md"
FENCE = re.compile(r"^```(\w+)(?: (\S+))?\n(.*?)^```$", re.M | re.S)


def blocks() -> list[tuple[str, str, str]]:
    """(language, file name or "", text) of every top-level fenced block, in order."""
    return [(m.group(1), m.group(2) or "", m.group(3)) for m in FENCE.finditer(DOC.read_text())]


def command(line: str) -> str:
    """A command of the page with this interpreter for `a2bench` and `python`."""
    words = shlex.split(line)
    i = next(i for i, w in enumerate(words) if "=" not in w)  # after VAR=value assignments
    program = {"a2bench": [sys.executable, "-m", "a2bench.cli"],
               "python": [sys.executable]}[words[i]]
    return shlex.join([*words[:i], *program, *words[i + 1:]])


def test_the_page_states_the_line_count_of_its_block_file():
    first = next(text for lang, name, text in blocks() if name == "my_block.py")
    assert f"Save this as `my_block.py`\n({len(first.splitlines())} lines)" in DOC.read_text()


@pytest.mark.slow
def test_the_tutorial_runs_from_an_empty_folder_to_reports(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    ran = []
    for lang, name, text in blocks():
        if name:
            (tmp_path / name).write_text(text)
        elif lang == "sh":
            for line in filter(None, (x.strip() for x in text.splitlines())):
                done = subprocess.run(command(line), shell=True, cwd=tmp_path, env=env,
                                      capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, (line, done.stderr[-3000:])
                assert "Traceback" not in done.stderr, (line, done.stderr[-3000:])
                ran.append(line)
    assert len(ran) == 4

    # 3: the counted block, its report
    rows = pd.read_csv(tmp_path / "results/mine/results.csv", keep_default_na=False)
    assert set(rows["macs_source"]) == {"counted"} and set(rows["status"]) == {"ok"}
    assert set(rows["macs_analytic"]) == {""}
    fits = pd.read_csv(tmp_path / "results/mine/report/fits.csv")
    primary = fits[fits["primary"] & (fits["axis"] == "positions")].set_index("metric")
    assert primary.loc["macs", "exponent"] == 2.0 and primary.loc["macs", "verdict"] == \
        "consistent"
    assert set(primary["expected_from"]) == {"counted"}
    assert pd.isna(primary.loc["memory", "verdict"])  # no model: no memory verdict
    assert (tmp_path / "results/mine/report/index.html").is_file()
    # the report says what the latency was judged against: the counted MACs, not a model
    classes = pd.read_csv(tmp_path / "results/mine/report/complexity.csv")
    assert set(classes["expected_from"]) == {"counted"}
    report = (tmp_path / "results/mine/report/report.md").read_text()
    assert "N² (counted MACs 2.00): measured" in report
    # and so does the headline: its "model" column had read as a cost model's
    assert "| 2.00 (counted) |" in report and "(counted): the slope of the MACs" in report
    # 4: the Python API wrote its results and report
    assert (tmp_path / "results/mine-api/report/index.html").is_file()
    # 5: with the model, checked against both counters
    model = pd.read_csv(tmp_path / "results/mine-model/results.csv")
    assert set(model["macs_source"]) == {"model"} and not model["model_mismatch"].any()
    assert (model["macs_analytic"] == model["macs_torch"]).all()
