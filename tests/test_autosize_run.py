"""An auto-sized sweep end to end on small sizes: plan, passes, the rounds that narrow, the store.

Its verdicts depend on the machine and are not asserted; what must hold anywhere is asserted:
every planned size is measured in every pass, the plan and its rounds are in environment.json,
each round is a pass of the whole window, and freed memory was kept (the default).
"""

from __future__ import annotations

import csv
import json

import pytest
from conftest import cli

from a2bench.case import Case
from a2bench.run.autosize import Width, window_cases


@pytest.mark.slow
def test_an_auto_sweep_measures_its_plan_and_what_its_rounds_add(tmp_path):
    suite = tmp_path / "auto.yaml"
    # Double attention at c 32, m 32, n 32: compute-bound, so its window holds calls of a few ms
    # on maps that fit the caches. gc at c 8 (memory-bound) had needed maps of 2-16 M positions
    # (0.5 GB inputs) for calls long enough, and 73 s of its 70 s budget on this repository's
    # 2-core VM, leaving a loaded machine no round to run; this one ran two rounds in 45 s.
    suite.write_text("name: auto-e2e\nblocks: [double_attention]\nparams:\n  batch: [1]\n"
                     "  channels: [32]\n  m: [32]\n  n: [32]\n  h: auto\n  w: auto\n")
    out = tmp_path / "out"
    # An unreachable target keeps the rounds going until the budget stops them.
    result = cli("run", str(suite), "--out", str(out), "--budget", "45", "--target", "0.001",
                 "--time-budget", "0.2", "--calibration-time", "0.02", "--no-counters",
                 "--no-progress", timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    env = json.loads((out / "environment.json").read_text())
    auto = env["auto_sizes"]
    (group,) = auto["groups"]
    assert len(group["sizes"]) >= 6 and group["regime"] != "none"
    assert auto["stopped"]  # what ended the rounds is said, in the terminal too
    assert f"auto sizes: no more rounds: {auto['stopped']}" in result.stderr
    assert env["allocator"].get("mmap_threshold_source") in (None, "MALLOC_MMAP_THRESHOLD_")
    with open(out / "results.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["block"] == "double_attention"]
    measured = {int(r["h"]) * int(r["w"]) for r in rows if r["status"] == "ok"}
    assert {int(s["positions"]) for s in group["sizes"]} <= measured
    with open(out / "results.jsonl") as f:
        passes = [json.loads(line) for line in f]
    per_size: dict[int, set[int]] = {}
    for m in passes:
        c = m.get("case", m)
        per_size.setdefault(c["h"] * c["w"], set()).add(m.get("process", 0))
    for s in group["sizes"]:  # every planned size ran in every pass
        assert per_size[int(s["positions"])] >= {0, 1, 2}
    # Each round adds one pass of the whole window: every size keeps the same passes, so the
    # machine's drift between passes lands on all of them alike.
    planned = sorted(int(s["positions"]) for s in group["sizes"])
    # The target is unreachable: rounds ran until the budget stopped them (on a loaded machine
    # the first round may leave too little for one; the stop says so).
    assert auto["rounds"] or auto["stopped"].startswith("the budget")
    for r in auto["rounds"]:
        got = [n for n in planned if r["pass"] in per_size[n]]
        assert len(got) == r["cases"] >= 5  # the fit's window (5 sizes at least), no fewer
        first = planned.index(got[0])
        assert planned[first:first + len(got)] == got  # one run of sizes, not its ends


def test_a_round_is_a_pass_of_the_whole_window():
    # Each size pools its passes: a round of the window's ends alone gave them a pass the
    # middle did not get (docs/running.md, step 8).
    planned = [Case("gc", "cpu", "float32", 1, 8, 1, s, s, reduction=2)
               for s in (40, 48, 56, 64, 72, 80, 88)]
    other = Case("se", "cpu", "float32", 1, 8, 1, 48, 48, reduction=2)
    width = Width("gc", 0.2, "inconclusive", (48 * 48, 56 * 56, 64 * 64, 72 * 72, 80 * 80))
    assert [c.h for c in window_cases([*reversed(planned), other], width)] == [48, 56, 64, 72,
                                                                                80]
    assert window_cases(planned, Width("gc", 0.2, "inconclusive", ())) == planned


def test_a_round_for_one_variant_times_that_variant_alone():
    # nonlocal[eager]'s round had timed nonlocal[sdpa]'s sizes (and every dtype's, mode's) too:
    # passes a decided sibling never asked for, which cost budget and could move its verdict.
    from dataclasses import replace

    from a2bench import analysis as an
    from a2bench.measurement import Measurement

    eager = [Case("nonlocal", "cpu", "float32", 1, 8, 1, s, s, impl="eager") for s in (6, 7, 8)]
    sdpa = [replace(c, params=(("impl", "sdpa"),)) for c in eager]
    bf16 = [replace(c, dtype="bfloat16") for c in eager]
    train = [replace(c, mode="train", compile=True) for c in eager]
    planned = [*eager, *sdpa, *bf16, *train]
    width = Width("nonlocal[eager]", 0.2, "inconclusive", (36, 49, 64))
    assert window_cases(planned, width) == eager
    assert window_cases(planned, Width("nonlocal[eager, bfloat16]", 0.2, "", ())) == bf16
    assert window_cases(planned, Width("nonlocal[eager, train, compiled]", 0.2, "", ())) == train
    # the names are the ones the analysis gives the same cases' rows
    named = an.prepare(an.frame([Measurement(case=c, status="ok") for c in planned], "r"))
    dtypes = [c.dtype for c in planned]
    assert {an.load.case_variant(c, dtypes) for c in planned} == set(named["block"])


def test_a_round_leaves_the_displays_end_to_the_sweep(monkeypatch):
    """A round adds its case passes to the display the first passes began; the sweep ends it
    once, after the last round: a round's own end had closed the bar at 100 % and a log had
    said "(100%)" once per round."""
    from types import SimpleNamespace

    from a2bench.run import runner
    from a2bench.run.autosize import AutoSizes
    from a2bench.run.listener import SweepListener
    from a2bench.run.runner import SweepReport

    events: list[tuple[object, ...]] = []

    class Recorder(SweepListener):
        def begin(self, total: int, done: int, passes: int = 1, first: int = 0) -> None:
            events.append(("begin", total, done, passes, first))

        def end(self) -> None:
            events.append(("end",))

    cases = [Case("gc", "cpu", "float32", 1, 8, 1, s, s, reduction=2) for s in (40, 48)]
    monkeypatch.setattr(runner, "run_cases", lambda *a, **k: SweepReport(ran=2))
    sweep = SimpleNamespace(options=SimpleNamespace(case_timeout=1.0), listener=Recorder(),
                            settings=None, killed_before=None)
    auto = AutoSizes(sweep, None, None, cases, {}, None, 60.0, 0.0, 0.0, 1.0)
    report = auto._run(cases, None, SweepReport(ran=6), 1, True, 1 << 30, 4)
    assert report.ran == 8
    # its pass, the 4th, is said "of 4", as the stages say it ("pass 4" had said no total)
    assert events == [("begin", 2, 0, 4, 3)]


@pytest.mark.slow
def test_a_run_whose_plan_gives_no_variant_a_window_stops_in_one_line(tmp_path):
    """A block whose legal maps are all tiny (here h at most 4) has no size where the per-call
    overhead is a small share of a call: no window at any budget. The run had timed 0 cases,
    then told the user to resume, which planned (or kept) the same nothing again."""
    plugin = tmp_path / "tiny_only.py"
    plugin.write_text(
        "from torch import nn\n"
        "from a2bench.registry import BlockSpec, register\n\n\n"
        "@register\n"
        "class TinySpec(BlockSpec):\n"
        "    name = 'tiny_only'\n"
        "    shape_checks = (('h', lambda v: None if v['h'] <= 4 else\n"
        "                     f\"expected h at most 4, got h = {v['h']}\"),)\n\n"
        "    def module(self, case):\n"
        "        return nn.Conv2d(case.channels, case.channels, 1)\n")
    suite = tmp_path / "tiny.yaml"
    suite.write_text("name: tiny\nblocks: [tiny_only]\nparams:\n  channels: [8]\n"
                     "  h: auto\n  w: auto\n")
    out = tmp_path / "out"
    result = cli("run", str(suite), "--out", str(out), "--budget", "30", "--calibration-time",
                 "0.02", "--no-counters", "--no-progress", env={"A2BENCH_PLUGINS": str(plugin)},
                 timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("a2bench: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "auto sizes found no window of 6 sizes for tiny_only" in errors[0]
    assert "--resume" not in errors[0]
    assert not out.exists()  # nothing stored, not even a folder to resume
