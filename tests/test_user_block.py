"""A user's own block (issue 27): no cost model needed, a Python API, one line per mistake.

1. A spec without cost() registers, lists and runs: its MACs are counted (macs_source counted),
   its latency is judged against the counted MACs, its memory is not judged. A spec whose
   cost() disagrees with both counters is flagged (model_mismatch, a warning line).
2. a2bench.sweep runs a suite (a dict or a file) with blocks registered in the calling
   process, A2BENCH_PLUGINS or the a2bench.blocks entry points.
3. A plugin that fails to import, an incomplete spec, a forward that raises, an output of the
   wrong shape and a counter that sees no work each get one line, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, child_pythonpath, cli
from plugins_here import with_plugins

from a2bench import analysis as an
from a2bench.case import Case
from a2bench.cost import Cost
from a2bench.errors import InputError
from a2bench.measurement import CSV_COLUMNS, Measurement
from a2bench.plugins import file_module_name, for_worker, load_one
from a2bench.registry import REGISTRY, BlockSpec, NoCostModel, Param, SpecError, register
from a2bench.suite import SuiteError, parse_suite

FAST = ("--threads", "1", "--time-budget", "0.05", "--calibration-time", "0.01",
        "--no-progress")

# Three blocks in one file: a counted one (module and params only), one whose cost() leaves
# out a projection (its counters agree on more), and three that fail at run time.
PLUGIN = '''
import torch
from torch import nn

from a2bench.cost import Cost, pointwise
from a2bench.registry import BlockSpec, Param, register


class Mixer(nn.Module):
    def __init__(self, channels, hidden):
        super().__init__()
        self.proj = nn.Conv2d(channels, hidden, 1)
        self.back = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        return x + self.back(self.proj(x).relu())


@register
class MixerSpec(BlockSpec):
    name = "mixer"
    params = (Param("hidden", 16, "hidden channels"),)

    def module(self, case):
        return Mixer(case.channels, case.param("hidden"))


@register
class WrongModel(MixerSpec):
    name = "wrong_model"

    def cost(self, case):  # leaves out `back`
        b, c, n = case.batch, case.channels, case.positions
        return Cost((pointwise("proj", b, n, c, case.param("hidden")),), case.dtype_bytes)


class Raises(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lin = nn.Linear(c + 1, c)

    def forward(self, x):
        return self.lin(x.flatten(2).transpose(1, 2))


class Shrinks(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 2, stride=2)

    def forward(self, x):
        return self.conv(x)


class Gate(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) * x


@register
class RaisesSpec(BlockSpec):
    name = "raises_fwd"

    def module(self, case):
        return Raises(case.channels)


@register
class ShrinksSpec(BlockSpec):
    name = "shrinks"

    def module(self, case):
        return Shrinks(case.channels)


@register
class GateSpec(BlockSpec):
    name = "gate"

    def module(self, case):
        return Gate()
'''

SUITE = """name: mine
blocks: [mixer, wrong_model, raises_fwd, shrinks, gate]
params: {channels: [8], h: [4, 6, 8], w: [4, 6, 8]}
zip: [[h, w]]
"""


def _case(block: str, side: int, **params: object) -> Case:
    return Case(block, "cpu", "float32", 1, 8, 1, side, side, params=params)


def listing(plugins: str | Path) -> tuple[int, str, str]:
    """`a2bench list` with A2BENCH_PLUGINS=plugins, in this process as in a fresh one
    (plugins_here): its status, stdout and stderr. Each `a2bench list` child had paid torch's
    import, 3-4 s of CPU."""
    done = with_plugins(plugins, "list")
    return done.returncode, done.stdout, done.stderr


# --- 1. no cost model -------------------------------------------------------------------------


def test_a_spec_with_module_and_params_only_registers(scratch_registry):
    from torch import nn

    @register
    class Plain(BlockSpec):
        name = "plain_block"
        params = (Param("k", 2, "k"),)

        def module(self, case):
            return nn.Identity()

    spec = REGISTRY["plain_block"]
    assert not spec.has_cost and spec.label == "plain_block"
    with pytest.raises(NoCostModel):
        spec.cost(_case("plain_block", 4, k=2))
    assert REGISTRY["se"].has_cost
    assert spec.output_shape(_case("plain_block", 4)) == (1, 8, 4, 4)


def test_results_columns_keep_their_order_and_end_with_the_new_ones():
    assert CSV_COLUMNS[-5:] == ("macs_source", "model_mismatch", "peak_allowance_bytes_analytic",
                                "compile_max_abs_error", "macs_counted")
    assert CSV_COLUMNS[:3] == ("block", "device", "dtype") and "host" in CSV_COLUMNS[:-5]


def _record(**fields: object) -> Measurement:
    base = {"macs_analytic": 100, "macs_torch": 100, "macs_fvcore": 100,
            "macs_torch_declared": 0, "macs_fvcore_declared": 0}
    return Measurement(_case("se", 4), "ok", **{**base, **fields})


@pytest.mark.parametrize("fields,flag", [
    ({}, False),
    ({"macs_torch": 150, "macs_fvcore": 150}, True),  # both counters against the model
    ({"macs_torch": 150}, False),  # one counter off: its blind spot, not the model's
    ({"macs_torch": 150, "macs_fvcore": 150, "macs_torch_declared": 50,
      "macs_fvcore_declared": 50}, False),  # declared
    ({"macs_torch": 150, "macs_fvcore": None}, None),  # fvcore did not count (train): unchecked
    # a fused kernel hides the attention from both counters; a2bench's count sees it
    ({"macs_torch": 60, "macs_fvcore": 60, "macs_counted": 100}, False),
    ({"macs_torch": 60, "macs_fvcore": 60, "macs_counted": 120}, True),
])
def test_model_mismatch_needs_both_counters_against_the_model(fields, flag):
    m = _record(**fields).checked_against_counters()
    assert m.model_mismatch is flag
    assert ("model_mismatch" in m.reason) is bool(flag)


def _counted(side: int, latency: float, macs: int) -> Measurement:
    return Measurement(_case("mine", side), "ok", threads=1, macs_torch=macs, macs_fvcore=macs,
                       latency_s=latency, latency_iqr_s=0.0, peak_bytes=64 * side * side,
                       macs_source="counted")


@pytest.mark.parametrize("power,verdict", [(1, "consistent"), (2, "contradicted")])
def test_a_counted_block_is_judged_against_its_counted_macs(power: int, verdict: str):
    sides = (8, 12, 16, 24, 32, 48, 64, 96)
    records = [_counted(s, 1e-9 * (s * s) ** power + 1e-9, 1000 * s * s) for s in sides]
    fits = an.fit_exponents(an.prepare(an.frame(records, "run")))
    rows = fits[fits["primary"] & (fits["axis"] == "positions")].set_index("metric")
    assert set(rows["expected_from"]) == {"counted"}
    assert rows.loc["macs", "exponent"] == pytest.approx(1.0)
    assert rows.loc["latency", "expected"] == pytest.approx(1.0)
    assert rows.loc["latency", "verdict"] == verdict
    # no model of its memory: measured, not judged
    assert rows.loc["memory", "verdict"] == "" and math.isnan(rows.loc["memory", "expected"])
    assert "no cost model" in rows.loc["memory", "reason"]


def test_a_counted_block_is_budgeted_from_its_trace_or_not_at_all(scratch_registry,
                                                                  monkeypatch):
    from torch import nn

    from a2bench.measure import traced
    from a2bench.run.runner import modelled, predicted_bytes, within_budget

    traces = []
    real = traced.trace
    monkeypatch.setattr(traced, "trace", lambda case: traces.append(case) or real(case))

    @register
    class Plain(BlockSpec):  # no MACs for the trace to count: it runs unchecked
        name = "plain_block"

        def module(self, case):
            return nn.Identity()

    @register
    class Mixing(BlockSpec):  # weights N x N: 4 * (256^2 + 256) bytes at 16 x 16
        name = "mixing_block"

        def module(self, case):
            return nn.Sequential(nn.Flatten(2), nn.Linear(case.positions, case.positions),
                                 nn.Unflatten(2, (case.h, case.w)))

    case = _case("plain_block", 4)
    assert predicted_bytes(case) is None and within_budget(case, 1)
    m = modelled(Measurement(case, "ok", macs_torch=10), 0)
    assert m.macs_source == "counted" and m.macs_analytic is None
    assert m.peak_bytes_analytic is None and "memory budget not checked" in m.reason
    mixing = _case("mixing_block", 16)
    need = predicted_bytes(mixing)
    weights, activations = 4 * (256 * 256 + 256), 4 * 8 * 256  # an output, and the input
    assert need == weights + 2 * activations and not within_budget(mixing, need - 1)
    m = modelled(Measurement(mixing, "ok", macs_torch=10), 0)
    assert "memory budget checked against its trace without storage" in m.reason
    assert traces == [case, mixing]  # each case traced once, however often it is asked

    register(Mixing)  # registered again (a re-run cell): its spec is new, so it is traced anew
    assert predicted_bytes(mixing) == need and traces == [case, mixing, mixing]
    se = modelled(Measurement(_case("se", 4, reduction=4), "ok"), 0)
    assert se.macs_source == "model" and se.macs_analytic is not None


# --- 1 and 3 end to end: one run of a counted, a wrong and three failing blocks ---------------


@pytest.mark.slow
def test_counted_wrong_and_failing_blocks_in_one_run(tmp_path: Path, capfd):
    plugin = tmp_path / "my_blocks.py"
    plugin.write_text(PLUGIN)
    suite = tmp_path / "mine.yaml"
    suite.write_text(SUITE)

    status, listed, err = listing(plugin)
    assert status == 0, err
    assert "  mixer: mixer; parameters hidden; no cost model (MACs counted)" in listed
    assert "  wrong_model: mixer; parameters hidden\n" in listed  # it has a model

    out = tmp_path / "run"
    # two passes, one fewer than the default: the second is the one not run again. main() in
    # this process, the plugin loaded as in a fresh one (its workers are spawned all the same):
    # tests/test_plugin_block.py's sweep of a plugin file stays a child's
    ran = with_plugins(plugin, "run", str(suite), "--out", str(out), "--processes", "2", *FAST)
    assert ran.returncode == 0, ran.stderr
    workers = capfd.readouterr()  # what its workers wrote, to the file descriptors they share
    assert "Traceback" not in ran.stderr + ran.stdout + workers.err + workers.out
    warnings = [line for line in ran.stderr.splitlines() if "wrong_model" in line]
    assert len(warnings) == 1 and "disagrees with both counters" in warnings[0], ran.stderr

    rows = pd.read_csv(out / "results.csv", keep_default_na=False)
    by = {b: g for b, g in rows.groupby("block")}
    mixer = by["mixer"]
    assert set(mixer["status"]) == {"ok"} and set(mixer["macs_source"]) == {"counted"}
    assert list(mixer["macs_torch"].astype(int)) == [2 * 8 * 16 * s * s for s in (4, 6, 8)]
    assert set(mixer["macs_analytic"]) == {""} and set(mixer["peak_bytes_analytic"]) == {""}
    wrong = by["wrong_model"]
    assert set(wrong["status"]) == {"ok"} and set(wrong["macs_source"]) == {"model"}
    assert set(wrong["model_mismatch"].astype(str)) == {"True"}
    assert all(r.startswith("model_mismatch: cost() gives") for r in wrong["reason"])
    reasons = {b: by[b]["reason"].iloc[0] for b in ("raises_fwd", "shrinks", "gate")}
    assert all(set(by[b]["status"]) == {"error"} for b in reasons)
    assert "mat1 and mat2 shapes cannot be multiplied" in reasons["raises_fwd"]
    assert "my_blocks.py:" in reasons["raises_fwd"]  # the block's own line, not torch's
    assert "returned shape (1, 8, 2, 2) for an input of shape (1, 8, 4, 4)" \
        in reasons["shrinks"]
    assert "FlopCounterMode counted no MACs" in reasons["gate"] and "cost()" in reasons["gate"]
    assert all("\n" not in r for r in reasons.values())
    # A case that failed a pass is not run again: the shape and the counted MACs are checked in
    # the counting pass only, so later passes once left "ok" beside that pass's error.
    passes = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    failing = [p for p in passes if p["case"]["block"] in reasons]
    assert len(failing) == 3 * 3 * 2  # 3 blocks, 3 sizes, every pass recorded
    assert {p["status"] for p in failing} == {"error"}
    later = [p for p in failing if p["process"] > 0]
    assert all(p["reason"].startswith("not run again: pass 1 gave error (")
               and not p["samples_s"] for p in later)
    # the run's own output says which cases failed and why, one line each, eight at most
    why = ran.stdout.split("Not ok, and why:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(why) == 9 and why[-1] == "  ... and 1 more (results.csv's reason column)"
    assert {line.split()[0] for line in why[:-1]} == set(reasons)
    assert any("returned shape (1, 8, 2, 2)" in line for line in why)
    assert f"the {len(rows)} cases: error 9, ok {len(rows) - 9}." in ran.stdout
    # the verdict table says the mixer was judged against its counted MACs
    table = ran.stdout.split("Verdict (", 1)[1].splitlines()
    judged = [w for w in map(str.split, table) if w[:2] in (["mixer", "macs"],
                                                           ["mixer", "latency"])]
    assert len(judged) == 2 and all("(counted)" in w for w in judged), table

    from a2bench.api import Results

    fits = Results(out).fits()
    macs = fits[(fits["block"] == "mixer") & (fits["metric"] == "macs") & fits["primary"]]
    assert macs["exponent"].iloc[0] == pytest.approx(1.0)
    assert set(fits[fits["block"] == "mixer"]["expected_from"]) == {"counted"}
    # the answer the run printed, from Python: the mixer judged in its run's headline
    answer = Results(out).verdict()
    (run,) = answer["runs"].values()
    assert answer["verdict"] == run["verdict"] and run["question"] == "blocks"
    assert {f["block"] for f in run["fits"]} >= {"mixer"}


# --- 2. the Python API ------------------------------------------------------------------------


def test_sweep_refuses_an_unknown_option_in_one_line():
    import a2bench

    with pytest.raises(InputError, match="unknown option 'time_budgett'.*time_budget"):
        a2bench.sweep({"name": "x"}, time_budgett=1)
    with pytest.raises(InputError, match="resume=True: expected out"):
        a2bench.sweep({"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}},
                      resume=True)


@pytest.mark.parametrize("option,value,expected", [
    ("threads", -3, "threads=-3: expected a positive integer"),
    ("threads", 0, "threads=0: expected a positive integer"),
    ("processes", 0, "processes=0: expected a positive integer"),
    ("processes", "3", "processes='3': expected a positive integer"),
    ("time_budget", -1, "time_budget=-1: expected a positive finite number of seconds"),
    # past 2**31 ms a worker's answer had been awaited with an OverflowError, after the start
    ("case_timeout", 3e6, "case_timeout=3000000.0: expected a positive finite number of "
                          "seconds, at most 1,000,000"),
    ("calibration_time", 30000, "calibration_time=30000: expected a positive finite number of "
                                "seconds, at most 10,000"),
    ("budget", float("inf"), "budget=inf: expected a positive finite number of seconds"),
    ("ci_target", 2, "ci_target=2: expected a fraction between 0 and 1"),
    ("seed", -5, "seed=-5: expected a non-negative integer"),
    ("interleave", "no", "interleave='no': expected True or False"),
    ("memory_budget", "lots", "memory_budget: invalid size 'lots'"),
    ("warm_cache", 1, "warm_cache=1: expected True or False"),
    ("resume", "yes", "resume='yes': expected True or False"),  # not "holds no sweep"
    # checked by the suite and as the sweep starts, where they read as the CLI's flags
    ("threads", 999, "threads=999: expected at most the"),
    ("device", "tpu", "device: expected cpu or cuda, got 'tpu'"),
    ("dtype", "int8", "dtype: expected one of float32, float64, float16, bfloat16, got 'int8'"),
    ("dtype", ["float32"], "dtype: expected one of float32, float64, float16, bfloat16, got "
     "['float32']"),  # had been "unhashable type: 'list'"
])
def test_sweep_refuses_a_bad_option_value_in_one_line_before_anything_runs(tmp_path, option,
                                                                           value, expected):
    """The values `a2bench run`'s flags refuse, a2bench.sweep refuses too (RunOptions checks
    them), before the calibration and without making its out."""
    import a2bench

    suite = {"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}}
    with pytest.raises(InputError) as error:
        a2bench.sweep(suite, out=tmp_path / "out", **{option: value})
    assert str(error.value).startswith(f"a2bench.sweep: {expected}"), str(error.value)
    assert "\n" not in str(error.value) and not (tmp_path / "out").exists()


def test_sweep_names_its_keywords_not_the_clis_flags_and_takes_only_a_path_for_out(tmp_path):
    import torch

    import a2bench

    suite = {"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}}
    if not torch.cuda.is_available():  # the flag came after the suite's name: "<dict>: --device"
        with pytest.raises(InputError) as error:
            a2bench.sweep(suite, out=tmp_path / "out", device="cuda")
        assert str(error.value).startswith("a2bench.sweep: <dict>: device=cuda: expected a "
                                           "device this machine has"), str(error.value)
    with pytest.raises(InputError, match=r"^a2bench.sweep: out=5: expected a folder's path"):
        a2bench.sweep(suite, 5)  # had been a TypeError from pathlib


def test_results_print_in_one_line(tmp_path):
    # A notebook cell ending in the result had printed every measurement and its samples.
    from a2bench.api import Results
    from a2bench.run.sweep import SweepResult

    (tmp_path / "results.jsonl").write_text("")
    assert repr(Results(tmp_path)) == f"Results({str(tmp_path)!r})"
    records = tuple(Measurement(case=_case("se", side), status=status)
                    for side, status in ((4, "ok"), (6, "ok"), (8, "error")))
    # the stored cases' statuses, not this call's passes (2 passes of 6 had read "12 ok")
    done = Results(tmp_path, SweepResult(tmp_path, records, statuses={"ok": 4, "error": 2}))
    assert repr(done) == f"Results({str(tmp_path)!r}: 3 cases, 1 error, 2 ok)"
    for wrong in (5, None, ""):
        with pytest.raises(InputError, match=r"^a2bench.Results: .*expected a results folder"):
            Results(wrong)  # pathlib's TypeError, or the working folder


def test_the_api_names_a_live_sweep_writing_its_folder(tmp_path):
    # a2bench.sweep had said "already holds a sweep; pass resume=True", which the live sweep's
    # lock then refused; Results, "holds no results.jsonl" of a folder it had not filled yet
    from conftest import held_elsewhere

    import a2bench

    out = tmp_path / "live"
    out.mkdir()
    with held_elsewhere(out) as line:
        with pytest.raises(InputError) as e:
            a2bench.Results(out)
        assert str(e.value) == (f"a2bench.Results: {out}: {line} is writing this folder now "
                                "and has stored no result yet; expected results to read: try "
                                "again once a case ends")
        (out / "environment.json").write_text(json.dumps({"suite": "sweep"}))
        (out / "results.jsonl").write_text("")
        for resume in (False, True):
            with pytest.raises(InputError) as e:
                a2bench.sweep({"blocks": ["se"], "params": {"channels": [32], "h": [4],
                                                            "w": [4]}}, out, resume=resume)
            assert str(e.value) == (f"a2bench.sweep: out {out}: {line} is writing this folder "
                                    "now; expected one writer at a time: wait for it to end, "
                                    "or choose another folder")


def test_sweep_refuses_resume_without_a_sweep_and_an_empty_out(tmp_path, monkeypatch):
    import a2bench

    monkeypatch.chdir(tmp_path)
    suite = {"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}}
    # a typo in out had quietly run the whole sweep afresh
    with pytest.raises(InputError, match=r"^a2bench.sweep: resume=True: .*typo holds no sweep "
                                         r"to resume; expected an earlier run's out$"):
        a2bench.sweep(suite, tmp_path / "typo", resume=True)
    # a kill -9 in the start-up leaves the lock's line alone: a fresh call is the way on
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / ".a2bench.lock").write_text("a2bench run (pid 4242, since 06:00)\n")
    with pytest.raises(InputError, match=r"^a2bench.sweep: resume=True: .*killed holds no sweep "
                                         r"to resume; the run there stopped before it stored "
                                         r"anything: call it again without resume=True$"):
        a2bench.sweep(suite, tmp_path / "killed", resume=True)
    with pytest.raises(InputError, match=r"^a2bench.sweep: out='': expected a folder's path"):
        a2bench.sweep(suite, "")  # had written its files into the working folder
    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / ".slurm.json").write_text("{}")
    for resume in (True, False):  # a local sweep beside .slurm.json had broken the Slurm one
        with pytest.raises(InputError, match=r"^a2bench.sweep: out .*slurm: holds a Slurm sweep "
                                             r"\(\.slurm\.json\); a local sweep there would "
                                             "mix its results into that sweep's: choose another "
                                             "out, or resume the sweep with a2bench run SUITE "
                                             "--executor slurm --resume --out "):
            a2bench.sweep(suite, tmp_path / "slurm", resume=resume)
    assert [p.name for p in (tmp_path / "slurm").iterdir()] == [".slurm.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed", "slurm"]  # none written
    assert [p.name for p in (tmp_path / "killed").iterdir()] == [".a2bench.lock"]


def test_ctrl_c_while_calibrating_stops_the_worker_and_says_nothing_was_stored(tmp_path,
                                                                              monkeypatch):
    import multiprocessing

    import a2bench
    from a2bench.run.sweep import Sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Sweep, "_calibrate", interrupted)
    suite = {"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}}
    # a bare KeyboardInterrupt had left a defunct worker in the notebook's process
    with pytest.raises(KeyboardInterrupt, match="interrupted before anything was stored in "
                                                ".*; call it again to start afresh"):
        a2bench.sweep(suite, tmp_path / "out")
    assert not multiprocessing.active_children()


def test_ctrl_c_before_the_sweep_begins_is_said_as_a_later_one(tmp_path, monkeypatch):
    # A Ctrl-C while torch and the blocks load (a sweep's first 1.5-3 s) had been a bare
    # KeyboardInterrupt with no line, where a moment later it said what was kept
    import a2bench
    from a2bench import catalog

    def loading():
        raise KeyboardInterrupt

    monkeypatch.setattr(catalog, "blocks", loading)
    suite = {"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}}
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt, match=f"^a2bench.sweep: interrupted before anything "
                                                f"was stored in {out}; call it again to start "
                                                "afresh$"):
        a2bench.sweep(suite, out)
    assert not out.exists()
    with pytest.raises(KeyboardInterrupt, match="^a2bench.sweep: interrupted before anything "
                                                "was stored; call it again to start afresh$"):
        a2bench.sweep(suite)  # no folder chosen yet
    out.mkdir()  # a resume: what its folder holds, and the call that goes on
    (out / "environment.json").write_text(json.dumps({"suite": "sweep"}))
    (out / "results.jsonl").write_text(json.dumps(Measurement(_case("se", 4), "ok").to_json())
                                       + "\n")
    with pytest.raises(KeyboardInterrupt, match=rf"^a2bench.sweep: interrupted; 1 result is "
                                                rf"saved in {out} \(resume=True continues\)$"):
        a2bench.sweep(suite, str(out), resume=True)


@pytest.mark.parametrize("loading", ["a2bench.cost", "datetime"])
def test_ctrl_c_as_the_api_loads_is_its_own_stop(tmp_path, loading):
    # A Ctrl-C (SIGINT) as `a2bench.sweep` is first read (a2bench.api importing) had been a
    # bare KeyboardInterrupt; one inside numpy's C extension (its import of datetime), an
    # ImportError blaming the install, after which numpy could not load again in that process
    # The child takes Python's own Ctrl-C handler as a terminal gives it: one started in the
    # background by a non-interactive shell (nohup cmd &) inherits SIGINT ignored, and the
    # raised signal would then do nothing.
    code = textwrap.dedent(f"""
        import signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        class CtrlC:
            def find_spec(self, name, path=None, target=None):
                if name == {loading!r}:
                    sys.meta_path.remove(self)
                    signal.raise_signal(signal.SIGINT)
        sys.meta_path.insert(0, CtrlC())
        import a2bench
        try:
            a2bench.sweep({{"blocks": ["se"], "params": {{"channels": [8], "h": [4], "w": [4]}}}},
                          "out", processes=1)
        except KeyboardInterrupt as e:
            print(e)
        import numpy
        print(numpy.zeros(2).sum())
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": child_pythonpath()}, timeout=300)
    said = {"a2bench.cost": "a2bench.sweep: interrupted as a2bench loaded, before the call "
                            "began; nothing was stored: call it again",
            "datetime": f"a2bench.sweep: interrupted before anything was stored in "
                        f"{tmp_path / 'out'}; call it again to start afresh"}[loading]
    assert done.stdout.splitlines() == [said, "0.0"], done.stderr
    assert not (tmp_path / "out").exists()


def test_a_second_ctrl_c_while_stopping_still_records_the_stop(tmp_path, monkeypatch):
    # A second Ctrl-C during the first one's stop (its join of the worker) had escaped:
    # "interrupted; 0 results are saved" said of a folder holding them, and no end recorded
    import multiprocessing

    import a2bench
    from a2bench.run import sweep as sweep_module

    real = sweep_module.run_cases

    def twice(cases, writer, *args, **kwargs):
        real(cases[:1], writer, *args, **kwargs)
        raise KeyboardInterrupt  # as if from the runner's finally

    monkeypatch.setattr(sweep_module, "run_cases", twice)
    suite = {"blocks": ["se"], "params": {"channels": [8], "reduction": [2], "h": [4, 6],
                                          "w": [4, 6]}, "zip": [["h", "w"]]}
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt, match=r"interrupted; 1 result is saved in "):
        a2bench.sweep(suite, out, processes=1, threads=1, time_budget=0.05,
                      calibration_time=0.01, progress=False)
    assert json.loads((out / "environment.json").read_text())["ended"] == "interrupted"
    assert not multiprocessing.active_children()


def test_a_resume_times_again_an_overhead_its_first_session_lost(tmp_path, monkeypatch):
    # an entry lost while timing (its worker killed) had stayed lost through every resume
    import a2bench
    from a2bench.run import sweep as sweep_module

    real = sweep_module.measure_overhead

    def lost(cases, *args, **kwargs):
        overhead, worker = real(cases, *args, **kwargs)
        overhead["cases"][0] = {**overhead["cases"][0], "error": "worker killed by SIGKILL"}
        return overhead, worker

    suite = {"blocks": ["se"], "params": {"channels": [8], "reduction": [2], "h": [4, 6],
                                          "w": [4, 6]}, "zip": [["h", "w"]]}
    options = {"processes": 1, "threads": 1, "time_budget": 0.02, "calibration_time": 0.01,
               "progress": False}
    out = tmp_path / "out"
    monkeypatch.setattr(sweep_module, "measure_overhead", lost)
    a2bench.sweep(suite, out, **options)
    env = json.loads((out / "environment.json").read_text())
    assert "error" in env["overhead"]["cases"][0]
    monkeypatch.undo()
    a2bench.sweep(suite, out, resume=True, **options)
    env = json.loads((out / "environment.json").read_text())
    assert not any("error" in e for e in env["overhead"]["cases"])


def test_api_errors_name_every_flag_as_a_keyword():
    from a2bench.api import _keywords

    assert _keywords("out=r: its sweep ran with --time-budget 0.01, this one would run with "
                     "--time-budget 0.05; expected the same --device and --dtype") == (
        "out=r: its sweep ran with time_budget=0.01, this one would run with time_budget=0.05; "
        "expected the same device and dtype")
    assert _keywords("ran with --interleave, this one with --no-interleave") == (
        "ran with interleave=True, this one with interleave=False")
    assert _keywords("--out afile: is a file (run with --device cpu)") == (
        "out=afile: is a file (run with device=cpu)")


def test_a_sweep_started_from_python_resumes_with_a_call(tmp_path):
    from a2bench.run.store import resume_line

    env = {"suite_path": "<dict>", "started_from": "python",
           "run_flags": ["--time-budget", "0.05", "--no-interleave", "--device", "cpu"]}
    # the CLI's line had named '<dict>' for a suite file, and could not find a notebook's block
    assert resume_line(env, Path("rd1"), False) == (
        "a2bench.sweep(SUITE, 'rd1', resume=True, time_budget=0.05, interleave=False, "
        "device='cpu') with SUITE the dict it began with")
    env = {"suite_path": "my_suite.yaml", "started_from": "python", "run_flags": []}
    assert resume_line(env, Path("out"), False) == (
        "a2bench.sweep('my_suite.yaml', 'out', resume=True)")


def test_a_module_that_is_not_a_module_instance_is_named(scratch_registry):
    from torch import nn

    from a2bench.blocks import build
    from a2bench.measure.traced import trace

    @register
    class NoReturn(BlockSpec):
        name = "no_return"

        def module(self, case):
            nn.Identity()  # forgot the return

    @register
    class TheClass(BlockSpec):
        name = "the_class"

        def module(self, case):
            return nn.Identity  # the class, not an instance

    for name, what in (("no_return", "NoneType"), ("the_class", "the class Identity")):
        # it had failed in a2bench's own .to() call, and auto sizes had blamed a missing cost()
        for call in (build, trace):
            with pytest.raises(SpecError, match=rf"^block {name}: its module\(\) returned "
                                                rf"{what} at .*; expected an nn.Module "
                                                "instance"):
                call(_case(name, 4))


def test_sweep_takes_the_clis_size_for_its_memory_budget():
    from a2bench.argtypes import parse_size
    from a2bench.run.options import RunOptions

    assert parse_size("8GiB") == 8 * 2**30
    assert RunOptions(out=Path("x"), memory_budget=parse_size("500MB")).memory_budget == 500e6


def test_numpys_numbers_for_options_are_kept_as_pythons():
    # they passed the checks, then broke the sweep: threads in results.jsonl and seed in
    # random.seed (TypeError, a folder no call accepted), time_budget stored as "0.02"
    import random

    import numpy as np

    from a2bench.run.options import RunOptions

    o = RunOptions(out=Path("x"), threads=np.int64(1), seed=np.int64(3),
                   time_budget=np.float32(0.02), memory_budget=np.int64(2**30),
                   processes=np.int32(2), budget=np.float64(5))
    values = {n: getattr(o, n) for n in ("threads", "seed", "memory_budget", "processes")}
    assert values == {"threads": 1, "seed": 3, "memory_budget": 2**30, "processes": 2}
    assert all(type(v) is int for v in values.values())
    # the number as typed: a resume given 0.02 agrees (np.float32(0.02) is 0.0199999995...)
    assert type(o.time_budget) is float and o.time_budget == 0.02
    assert type(o.budget) is float and o.budget == 5.0
    assert json.loads(json.dumps(o.timing("cpu")))["time_budget_s"] == 0.02
    random.Random(o.seed)
    with pytest.raises(InputError, match=r"^threads=.*0\)?: expected a positive integer"):
        RunOptions(out=Path("x"), threads=np.int64(0))


def test_ctrl_c_as_a_resume_starts_says_what_its_folder_holds(tmp_path, monkeypatch):
    # a Ctrl-C in a resume's calibration had said "0 results are saved" of 2
    from a2bench.run.options import RunOptions
    from a2bench.run.sweep import Sweep

    out = tmp_path / "out"
    out.mkdir()
    (out / "environment.json").write_text(json.dumps({"suite": "sweep"}))
    (out / "results.jsonl").write_text("".join(
        json.dumps(Measurement(_case("se", side), "ok").to_json()) + "\n" for side in (4, 6)))
    suite = parse_suite({"blocks": ["se"], "zip": [["h", "w"]],
                         "params": {"channels": [32], "h": [4, 6], "w": [4, 6]}},
                        "<dict>", default_name="sweep")

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Sweep, "_run", interrupted)
    sweep = Sweep(suite, [], RunOptions(out=out, resume=True, threads=1, progress=False))
    result = sweep.run()
    assert result.interrupted and result.saved == 2


def test_results_report_takes_only_a_folders_path(tmp_path, monkeypatch):
    # report("") had written the report into the working folder; report(5), a raw TypeError
    from a2bench import Results

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.jsonl").write_text("")
    monkeypatch.chdir(tmp_path)
    for wrong in ("", 5):
        with pytest.raises(InputError, match=rf"^a2bench.Results.report: out={wrong!r}: "
                                             "expected a folder's path"):
            Results("run").report(wrong)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_sweep_names_its_folder_absolute(tmp_path, monkeypatch):
    # a relative out had been kept relative: an os.chdir after the call lost the results
    import a2bench

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=rf"resume=True: {tmp_path}/typo holds no sweep"):
        a2bench.sweep({"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}},
                      "typo", resume=True)


def test_sweep_refuses_an_out_under_a_file_in_one_line(tmp_path):
    import a2bench

    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match=r"out .*f/run: .*f is a file; expected a folder there"):
        a2bench.sweep({"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}},
                      tmp_path / "f" / "run")


def test_importing_the_package_or_the_analysis_loads_no_torch():
    # dir() lists the lazy names, and Results' hints resolve (SweepResult had been a NameError)
    code = ("import sys, typing, a2bench, a2bench.analysis; assert callable(a2bench.sweep); "
            "assert {'sweep', 'Results', '__version__'} <= set(dir(a2bench)); "
            "assert 'SweepResult' in str(typing.get_type_hints(a2bench.Results)['sweep']); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath()})
    assert done.stdout.strip() == "False", done.stderr


def test_the_error_bad_input_raises_is_the_packages_and_named_where_the_api_is():
    # only CONTRIBUTING.md had named a2bench.errors.InputError: a script had to catch
    # ValueError, or find the module, to tell bad input from a failure
    code = ("import sys, a2bench; from a2bench.errors import InputError; "
            "assert a2bench.InputError is InputError and issubclass(InputError, ValueError); "
            "assert 'InputError' in dir(a2bench) and 'InputError' in a2bench.__all__; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath()})
    assert done.stdout.strip() == "False", done.stderr
    import a2bench

    with pytest.raises(a2bench.InputError, match=r"^a2bench.sweep: unknown option"):
        a2bench.sweep("suites/smoke.yaml", nope=1)
    api = (ROOT / "docs" / "your-block.md").read_text().split("## 4. ")[1].split("\n## ")[0]
    for text in (api, (ROOT / "README.md").read_text()):
        assert "`a2bench.InputError`" in text


NOTEBOOK = '''
import dataclasses
import json
import a2bench
from torch import nn
from a2bench.registry import BlockSpec, register


class Twice(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.a(self.a(x))


@register
class TwiceSpec(BlockSpec):
    name = "twice"

    def module(self, case):
        return Twice(case.channels)


res = a2bench.sweep({"blocks": ["twice"],
                     "params": {"channels": [8], "h": [4, 8], "w": [4, 8]}, "zip": [["h", "w"]]},
                    OUT, processes=1, threads=1, time_budget=0.05, calibration_time=0.01,
                    progress=False)
print("FRAME", res.frame[["block", "macs_torch", "macs_source", "status"]].to_json())
print("FITS", len(res.fits()))
print("VERDICT", res.verdict()["verdict"])
print("SUITE", json.loads((res.out / "environment.json").read_text())["suite"])
'''


@pytest.mark.slow
@pytest.mark.parametrize("piped", [False, True])
def test_a_block_defined_in_a_notebook_reaches_the_worker(tmp_path: Path, piped: bool):
    # `python -c` has no __main__ file, as a notebook kernel: the class travels by value.
    # `python - < x.py` names '<stdin>', which no worker can run: spawn had tried (a
    # FileNotFoundError's traceback, then "could not start a measuring worker")
    out = tmp_path / "nb"
    code = f"OUT = {str(out)!r}\n" + NOTEBOOK
    done = subprocess.run([sys.executable, *(["-"] if piped else ["-c", code])],
                          input=code if piped else None, capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath(), "PATH": "/usr/bin:/bin"},
                          timeout=300, cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("FRAME"))
    frame = pd.DataFrame(json.loads(line.split(" ", 1)[1]))
    assert list(frame["macs_torch"]) == [2 * 64 * 16, 2 * 64 * 64]
    assert set(frame["macs_source"]) == {"counted"} and set(frame["status"]) == {"ok"}
    assert "SUITE sweep" in done.stdout.splitlines()  # a dict needs no name
    # two sizes fit nothing: the answer says so rather than confirming
    assert "VERDICT inconclusive" in done.stdout.splitlines()


@pytest.mark.slow
def test_a_scripts_block_that_fails_is_named_at_its_own_line(tmp_path: Path):
    # its class goes to the worker by value, where cloudpickle names its code <dynamic-code>:
    # the case's reason had said "(at <dynamic-code>:9)"
    script = tmp_path / "mine.py"
    script.write_text(textwrap.dedent("""\
        import a2bench
        from a2bench.registry import BlockSpec, register

        if __name__ == "__main__":
            @register
            class FailingSpec(BlockSpec):
                name = "failing"
                def module(self, case):
                    raise RuntimeError("no module today")

            res = a2bench.sweep({"blocks": ["failing"], "params": {"channels": [8], "h": [4],
                                 "w": [4]}}, "out", processes=1, threads=1, time_budget=0.05,
                                calibration_time=0.01, progress=False)
            print("REASON", res.frame["reason"][0])
        """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath(), "PATH": "/usr/bin:/bin"},
                          timeout=300, cwd=tmp_path)
    assert (f"REASON RuntimeError: no module today (at {script}:9)"
            in done.stdout.splitlines()), done.stdout + done.stderr


def test_a_script_calling_sweep_at_its_top_level_is_told_to_guard_it(tmp_path: Path):
    # A worker is spawned: it runs the script's top level again, where the call would start a
    # sweep of its own. The worker says why it stopped, and so does the script's error, before
    # pandas and scipy load (they had, about 2 s of CPU): the script says what it loaded at exit.
    script = tmp_path / "unguarded.py"
    script.write_text("import atexit, sys\nimport a2bench\n"
                      "if __name__ == '__main__':\n"
                      "    atexit.register(lambda: print(sorted({'pandas', 'scipy'} & "
                      "set(sys.modules))))\n"
                      "a2bench.sweep({'name': 'u', 'blocks': ['se'], 'params': {'channels': [32], "
                      "'h': [4], 'w': [4]}}, 'out', threads=1, progress=False)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath(), "PATH": "/usr/bin:/bin"},
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == "[]\n", done.stdout
    # the worker's one line, with no traceback of its spawn; then the script's error
    assert done.stderr.count("Traceback") == 1, done.stderr
    assert (f"a2bench.sweep: called while a measuring worker imported {script}; expected the "
            "call under `if __name__ == \"__main__\":` (each worker imports the script)"
            in done.stderr.splitlines())
    errors = [x for x in done.stderr.splitlines() if x.startswith("a2bench.errors.InputError")]
    assert len(errors) == 1, done.stderr
    assert "could not start a measuring worker" in errors[0]
    assert errors[0].endswith("must call it under `if __name__ == \"__main__\":`)")
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_a_worker_importing_an_unguarded_script_stops_before_torch_loads(tmp_path: Path):
    # The call's frame is the script's top level run as __mp_main__, as spawn runs it in each
    # worker (runpy.run_path): the line had come after torch, pandas and scipy loaded, 3-4 s
    # of CPU in every worker of such a script
    script = tmp_path / "unguarded.py"
    script.write_text("import a2bench\na2bench.sweep({'blocks': ['se']}, 'out')\n")
    code = ("import runpy, sys\n"
            "try:\n"
            f"    runpy.run_path({str(script)!r}, run_name='__mp_main__')\n"
            "except SystemExit as e:\n"
            "    print(e.code, sorted({'numpy', 'torch', 'pandas', 'scipy'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath()}, timeout=300, cwd=tmp_path)
    assert done.stdout.splitlines() == ["2 []"], done.stdout + done.stderr
    assert done.stderr.startswith("a2bench.sweep: called while a measuring worker imported "
                                  f"{script}; expected"), done.stderr
    assert not (tmp_path / "out").exists()


def test_the_guard_is_named_only_for_a_script_a_worker_imports():
    """`python - < x.py`: __main__ is <stdin>, which no worker imports (the runner starts it
    as a notebook's): the guard is not what is missing there."""
    from types import SimpleNamespace

    from a2bench.api import _worker_hint
    from a2bench.run.sweep import WORKER_FAILED

    assert _worker_hint(SimpleNamespace(__file__="<stdin>"), f"{WORKER_FAILED}: died") == ""
    assert "__main__" in _worker_hint(SimpleNamespace(__file__=__file__), WORKER_FAILED)
    assert _worker_hint(SimpleNamespace(), WORKER_FAILED) == ""  # a notebook: no script


def test_results_reopen_a_run_from_a_string_path(tmp_path, monkeypatch):
    import shutil

    from a2bench import Results

    # a stored run of 30 case passes: cpu-default's 102 had cost twice as long to analyse
    stored = ROOT / "results" / "cpu-your-block" / "quick-1"
    res = Results(str(stored))
    assert isinstance(res.out, Path) and len(res.frame) > 0
    assert {run["unfinished"] for run in res.verdict()["runs"].values()} == {""}
    # an interrupted run says so beside its verdict, with the call that resumes it (it had
    # read "inconclusive" with no word of the stop)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(stored, tmp_path / "stopped")
    env = json.loads((tmp_path / "stopped" / "environment.json").read_text())
    env.update(ended="interrupted", case_passes_planned=200, started_from="python",
               suite_path="<dict>", run_flags=["--processes", "4"])
    (tmp_path / "stopped" / "environment.json").write_text(json.dumps(env))
    stopped = Results("stopped")
    # absolute: after os.chdir a relative one had read no folder (or another one)
    assert stopped.out == tmp_path / "stopped"
    monkeypatch.chdir(ROOT)
    (run,) = stopped.verdict()["runs"].values()
    assert run["unfinished"] == (
        "unfinished: interrupted after 30 of 200 case passes; its verdicts read only the "
        f"cases stored so far; resume it with: a2bench.sweep(SUITE, {str(stopped.out)!r}, "
        "resume=True, processes=4) with SUITE the dict it began with")
    monkeypatch.chdir(tmp_path)
    # at once, not a FileNotFoundError from .frame later; and what is expected names the API's
    # own writer, as `a2bench report` words it ("no results.jsonl here (expected a folder
    # written by a2bench run)" had been said of a folder that is not there)
    expected = ("(expected a results folder written by a2bench.sweep(...) or a2bench run, "
                "holding results.jsonl)")
    (tmp_path / "a-file").write_text("")
    for wrong, said in (("nowhere", "no such folder"), ("a-file", "a file, not a folder")):
        with pytest.raises(InputError) as e:
            Results(wrong)
        assert str(e.value) == f"a2bench.Results: {tmp_path / wrong}: {said} {expected}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no results.jsonl here \(expected a folder "
                                         r"written by a2bench.sweep\(...\) or a2bench run\)$"):
        Results("empty")


def test_bad_input_is_raised_from_the_api_call_itself(tmp_path):
    # the message says it all: its traceback had gone on through two to five frames of the
    # API's own (_sweep, contextlib's __exit__, _as_keywords) below the caller's line
    import traceback

    import a2bench

    suite = {"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}}
    (tmp_path / "a-file").write_text("")
    run = a2bench.Results(ROOT / "results" / "cpu-your-block" / "quick-1")
    for call in (lambda: a2bench.sweep({**suite, "parms": 1}, tmp_path / "out"),
                 lambda: a2bench.sweep(suite, tmp_path / "out", threads=0),
                 lambda: a2bench.Results(tmp_path),
                 lambda: run.report(tmp_path / "a-file")):
        with pytest.raises(InputError) as e:
            call()
        inside = [f.name for f in traceback.extract_tb(e.value.__traceback__)
                  if Path(f.filename).is_relative_to(ROOT / "a2bench")]
        assert len(inside) == 1, (inside, str(e.value))
        assert e.value.__cause__ is None and e.value.__suppress_context__


def test_results_reads_or_names_what_a_report_does_in_a_folder_without_results(tmp_path):
    # Results had said "holds no results.jsonl; expected a folder a2bench run or a2bench.sweep
    # wrote" of each, where `a2bench report` reads the partition and names the rest
    import shutil

    from a2bench import Results

    top = tmp_path / "slurm-smoke"
    shutil.copytree(ROOT / "results" / "slurm-smoke", top)
    with pytest.raises(InputError, match=rf"^a2bench.Results: {top}: a Slurm sweep's folder; its "
                                         r"results are in each partition's folder, .* \(here: "
                                         r"a100, h100\)$"):
        Results(top)
    merged = len(Results(top / "h100").frame)
    for name in ("results.jsonl", "results.csv"):  # its driver died before it merged them
        (top / "h100" / name).unlink()
    assert len(Results(top / "h100").frame) == merged > 0  # read from its shards
    done = tmp_path / "done"  # a finished run whose results.jsonl was not copied
    shutil.copytree(top / "h100" / "shards" / "0", done)
    for name in ("results.jsonl", "results.csv"):
        (done / name).unlink()
    with pytest.raises(InputError, match=rf"^a2bench.Results: {done}: the run here recorded "
                                         "that it finished, but its results.jsonl is missing"):
        Results(done)


def test_for_worker_names_files_and_modules_and_pickles_main(tmp_path: Path, scratch_registry):
    plugin = tmp_path / "from_file.py"
    plugin.write_text("from torch import nn\nfrom a2bench.registry import BlockSpec, register\n"
                      "@register\nclass F(BlockSpec):\n    name = 'from_file'\n"
                      "    def module(self, case):\n        return nn.Identity()\n")
    load_one(str(plugin))
    assert type(REGISTRY["from_file"]).__module__ == file_module_name(plugin.resolve())

    class Main(BlockSpec):
        name = "in_main"

        def module(self, case):
            return None

    Main.__module__ = "__main__"
    register(Main)
    modules, pickled = for_worker()
    assert str(plugin.resolve()) in modules
    assert not any(m.startswith("a2bench.blocks") for m in modules)
    assert len(pickled) == 1


def test_only_the_suites_blocks_go_to_the_worker(scratch_registry):
    # a block of this process's that the suite does not use, which cannot be pickled, had
    # stopped every sweep ("block spec bad_lock: cannot be sent to the measuring worker")
    import threading

    from a2bench.run.options import RunOptions
    from a2bench.run.sweep import Sweep

    class Locked(BlockSpec):
        name = "bad_lock"
        lock = threading.Lock()

        def module(self, case):
            return None

    Locked.__module__ = "__main__"
    register(Locked)
    with pytest.raises(InputError, match="block spec bad_lock: cannot be sent"):
        for_worker()
    with pytest.raises(InputError, match="block spec bad_lock: cannot be sent"):
        for_worker(("bad_lock",))
    assert for_worker(("se",)) == ((), ())
    suite = parse_suite({"blocks": ["se"], "params": {"channels": [32], "h": [4], "w": [4]}},
                        "<dict>", default_name="sweep")
    assert Sweep(suite, [], RunOptions(out=Path("x"), threads=1)).settings.extra_blocks \
        == ((), ())

    # the others that can be sent still go: a block may build another by name in its module()
    # (spec("inner").module(case)), and the inner one had been left out ("KeyError: 'inner'")
    class Inner(BlockSpec):
        name = "s28_inner"

        def module(self, case):
            return None

    Inner.__module__ = "__main__"
    register(Inner)
    modules, pickled = for_worker(("se",))
    assert modules == () and len(pickled) == 1


def test_a_module_loaded_from_its_file_goes_to_the_worker_as_its_file(tmp_path: Path,
                                                                     scratch_registry,
                                                                     monkeypatch):
    # importlib.util.spec_from_file_location("hidden_blk", path): a worker had failed on
    # "hidden_blk: no such module", and the API had blamed a missing __main__ guard
    import importlib
    import importlib.util
    from types import SimpleNamespace

    from a2bench.api import _worker_hint
    from a2bench.run.sweep import WORKER_FAILED
    from a2bench.run.worker import BLOCKS_FAILED

    path = tmp_path / "hidden_blk_file.py"
    path.write_text("from torch import nn\nfrom a2bench.registry import BlockSpec, register\n"
                    "@register\nclass H(BlockSpec):\n    name = 'hidden_mix'\n"
                    "    def module(self, case):\n        return nn.Identity()\n")
    spec = importlib.util.spec_from_file_location("a2bench_test_hidden_blk", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["a2bench_test_hidden_blk"] = module
    try:
        spec.loader.exec_module(module)
        assert str(path) in for_worker(("hidden_mix",))[0]
    finally:
        del sys.modules["a2bench_test_hidden_blk"]
    # one importable by its name goes by its name
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a2bench_test_importable_blk.py").write_text(
        path.read_text().replace("hidden_mix", "importable_mix"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.import_module("a2bench_test_importable_blk")
    try:
        assert "a2bench_test_importable_blk" in for_worker(("importable_mix",))[0]
    finally:
        del sys.modules["a2bench_test_importable_blk"]
    # a dotted name whose package was never imported: a fresh process cannot import it,
    # though the finders, asked for it alone, find its last part on sys.path
    dotted = tmp_path / "site" / "a2bench_test_dotted_blk.py"
    dotted.write_text(path.read_text().replace("hidden_mix", "dotted_mix"))
    spec = importlib.util.spec_from_file_location("a2bench_test_pkg.a2bench_test_dotted_blk",
                                                  dotted)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert str(dotted) in for_worker(("dotted_mix",))[0]
    finally:
        del sys.modules[spec.name]
    failed = f"{WORKER_FAILED}: {BLOCKS_FAILED}: a block registered in the calling process: x"
    assert _worker_hint(SimpleNamespace(__file__=__file__), failed) == ""


def _entry_point_list(tmp_path: Path, module: str) -> subprocess.CompletedProcess[str]:
    """`a2bench list` where a distribution declares `mine = ep_block_module` in the
    a2bench.blocks group: in this process (plugins_here), its site first on sys.path, which
    importlib.metadata reads as a fresh process reads its own. Each test had started an
    `a2bench list` child; test_two_plugins_may_not_name_a_block_alike keeps list's child."""
    site = tmp_path / "site"
    (site / "ep_blocks-1.0.dist-info").mkdir(parents=True)
    (site / "ep_blocks-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ep-blocks\nVersion: 1.0\n")
    (site / "ep_blocks-1.0.dist-info" / "entry_points.txt").write_text(
        "[a2bench.blocks]\nmine = ep_block_module\n")
    (site / "ep_block_module.py").write_text(module)
    from a2bench import catalog

    catalog.blocks()  # the blocks with_plugins puts back: loaded before the site is seen
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        try:
            return with_plugins("", "list")
        finally:
            sys.modules.pop("ep_block_module", None)


def test_blocks_load_through_the_entry_point_group(tmp_path: Path):
    listed = _entry_point_list(tmp_path, (
        "from torch import nn\nfrom a2bench.registry import BlockSpec, register\n"
        "@register\nclass E(BlockSpec):\n    name = 'from_entry_point'\n"
        "    def module(self, case):\n        return nn.Identity()\n"))
    assert listed.returncode == 0, listed.stderr
    assert "  from_entry_point: from_entry_point" in listed.stdout
    from a2bench import catalog

    assert "from_entry_point" not in catalog.blocks()  # gone with its site, as after a child


def test_an_entry_point_that_exits_while_imported_is_one_line(tmp_path: Path):
    # `a2bench list` had printed nothing and exited 0
    listed = _entry_point_list(tmp_path, "import sys\nsys.exit(0)\n")
    assert listed.returncode == 2
    (line,) = listed.stderr.strip().splitlines()
    assert "entry point a2bench.blocks: mine = ep_block_module: called sys.exit(0)" in line


# --- 3. bad input: one line, exit 2 at load time ----------------------------------------------


@pytest.mark.parametrize("source,expected", [
    ("x = 1\ndef f(:\n    pass\n", "syntax.py: failed to import: SyntaxError: invalid syntax "
                                     "(line 2)"),
    ("import os\nimport not_a_module_xyz\n", "syntax.py: failed to import: "
     "ModuleNotFoundError: No module named 'not_a_module_xyz' (line 2)"),
    ("from a2bench.registry import BlockSpec, register\n\n@register\nclass S(BlockSpec):\n"
     "    name = 'no_module'\n", "block spec no_module ("),
    ("from a2bench.registry import BlockSpec, register\n\n@register\nclass S(BlockSpec):\n"
     "    def module(self, case):\n        return None\n",
     "expected a class attribute name = \"my_block\""),
    # a built-in's name: the built-ins registered again over it in the parent, so the worker
    # ran the plugin's module under the built-in's parameters and cost model
    ("from torch import nn\nfrom a2bench.registry import BlockSpec, register\n\n@register\n"
     "class MySE(BlockSpec):\n    name = 'se'\n    def module(self, case):\n"
     "        return nn.Identity()\n",
     "block spec MySE ("),
    # sys.exit at import had ended the command with its own code (0: success) and no word
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while being imported"),
    ("import sys\nsys.exit(3)\n", "called sys.exit(3) while being imported"),
])
def test_a_broken_plugin_is_one_line_and_exit_2(tmp_path: Path, source: str, expected: str):
    plugin = tmp_path / "syntax.py"
    plugin.write_text(source)
    status, _, err = listing(plugin)  # through the child, test_two_plugins_may_not_name_...
    assert status == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("a2bench: error: A2BENCH_PLUGINS: syntax.py: ") and expected in line


def test_incomplete_specs_are_refused_when_they_register(scratch_registry):
    class NoModule(BlockSpec):
        name = "no_module"

    with pytest.raises(SpecError, match=r"block spec no_module \(.*\): no module\(\); define"):
        register(NoModule)

    class NoName(BlockSpec):
        def module(self, case):
            return None

    with pytest.raises(SpecError, match="expected a class attribute name"):
        register(NoName)

    class OddSide(BlockSpec):
        name = "odd_side"
        side_class = "8"

        def module(self, case):
            return None

    with pytest.raises(SpecError, match=r"side_class: expected a non-negative integer .*'8'"):
        register(OddSide)

    class OddCheck(BlockSpec):
        name = "odd_check"
        shape_checks = (("frames", lambda p: None),)  # the axis is t

        def module(self, case):
            return None

    with pytest.raises(SpecError, match=r"shape_checks: expected a tuple of \(axis, check\) "
                       r"pairs, axis one of batch, channels, t, h, w, got \(\('frames'"):
        register(OddCheck)


@pytest.mark.parametrize("param,why", [
    (Param("h", 3, "k"), "is a case field or a results column"),  # dropped from every record
    (Param("mode", 3, "k"), "is a case field or a results column"),  # read as the step's mode
    (Param("status", 3, "k"), "is a case field or a results column"),
    ((Param("k", 3, "k"), Param("k", 4, "k")), "is given twice"),
    (Param("two words", 3, "k"), "is not a Python name"),
])
def test_a_parameter_may_not_take_a_case_fields_or_a_columns_name(scratch_registry, param, why):
    class Clash(BlockSpec):
        name = "clash"
        params = param if isinstance(param, tuple) else (param,)

        def module(self, case):
            return None

    with pytest.raises(SpecError, match=rf"block spec clash \(.*\): Param '.*' {why}; expected "
                       "another name"):
        register(Clash)


def test_a_rule_of_the_blocks_that_raises_is_one_line_naming_it_and_its_line(scratch_registry):
    class Rules(BlockSpec):
        name = "rules"
        params = (Param("k", lambda p: p["chans"] // 2, "k"),)

        def module(self, case):
            return None

    spec = REGISTRY[register(Rules).name]
    here = Path(__file__).name
    with pytest.raises(SpecError, match=rf"block rules: parameter k's default raised KeyError: "
                       rf"'chans' \(at .*{here}:\d+\)"):
        spec.resolve({"channels": 8})

    class Checks(Rules):
        name = "checks"
        params = (Param("k", 2, "k", check=lambda p: 1 / 0),)
        shape_checks = (("t", lambda v: v["frames"]),)

    spec = REGISTRY[register(Checks).name]
    with pytest.raises(SpecError, match=r"block checks: shape_checks' rule on t raised KeyError"):
        spec.problems({"t": 1, "k": 2})
    Checks.shape_checks = ()
    with pytest.raises(SpecError, match=r"parameter k's check raised ZeroDivisionError"):
        spec.problems({"t": 1, "k": 2})


def test_a_cost_that_returns_no_cost_is_one_line(scratch_registry):
    class NoReturn(BlockSpec):
        name = "no_return"

        def module(self, case):
            return None

        def cost(self, case):
            Cost((), case.dtype_bytes)  # the return forgotten

    spec = REGISTRY[register(NoReturn).name]
    case = Case("no_return", "cpu", "float32", 1, 8, 1, 4, 4)
    for c in (case, dataclasses.replace(case, mode="train")):
        with pytest.raises(SpecError, match=r"block no_return: its cost\(\) returned NoneType "
                           r"at no_return .*; expected an a2bench.cost.Cost"):
            spec.cost(c)


@pytest.mark.parametrize(("term", "bytes_per_element", "said"), [
    ("Term('conv', float('nan'), 0, 128)", 4, "cost term 'conv': macs nan"),
    ("elementwise('r', -5, -7)", 4, "cost term 'r': elementwise -5"),
    ("Term('conv', 1.5 * 1024, 0, 128)", 4, "cost term 'conv': macs 1536.0"),
    ("Term('conv', 1024, 0, 128)", "4", "bytes_per_element '4'; expected a Python int >= 1"),
    # numpy's integers passed as counts, then failed the store's JSON as NaN had
    ("Term('conv', __import__('numpy').int64(1024), 0, 128)", 4,
     "cost term 'conv': macs np.int64(1024); expected a Python int >= 0 (int() of a numpy "
     "count)"),
])
def test_a_cost_model_with_a_count_that_is_no_count_is_one_line(tmp_path: Path, monkeypatch,
                                                                capsys, scratch_registry, term,
                                                                bytes_per_element, said):
    # A NaN had stopped the sweep at its first store (no JSON for NaN) with a 33-line traceback
    # and exit 1, leaving a folder that refused a rerun; "4" failed in the allocator alike; a
    # negative count was stored as the case's peak without a word.
    plugin = tmp_path / "odd_cost.py"
    plugin.write_text(textwrap.dedent(f"""
        from torch import nn
        from a2bench.cost import Cost, Term, elementwise
        from a2bench.registry import BlockSpec, register

        @register
        class OddCost(BlockSpec):
            name = "odd_cost"

            def module(self, case):
                return nn.Conv2d(case.channels, case.channels, 1, bias=False)

            def cost(self, case):
                return Cost(({term},), {bytes_per_element!r})
    """))
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nblocks: [odd_cost]\nparams: {channels: [8], h: [4], w: [4]}\n")
    # in this process, where torch is loaded (test_a_cost_model_that_raises_... runs the child)
    from a2bench.cli import main

    monkeypatch.setenv("A2BENCH_PLUGINS", str(plugin))
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"a2bench: error: block odd_cost: its cost() at odd_cost b1 c8 4x4: {said}"
        + ("" if "expected" in said else "; expected a Python int >= 0") + f" ({plugin}:13)"]
    assert not (tmp_path / "out").exists()


def test_a_block_may_not_take_a_built_ins_name(scratch_registry):
    class MyGC(BlockSpec):
        name = "gc"

        def module(self, case):
            return None

    with pytest.raises(SpecError, match=r"name 'gc' is a2bench's built-in block \(.*gc\.py:\d+"
                       r"\); expected another name, e.g. name = \"my_gc\""):
        register(MyGC)
    from a2bench.registry import REGISTRY

    assert type(REGISTRY["gc"]).__module__ == "a2bench.blocks.gc"

    class Mine(BlockSpec):  # a name of its own registers again, as a re-run notebook cell does
        name = "mine_twice"

        def module(self, case):
            return None

    register(Mine)
    register(Mine)
    assert type(REGISTRY["mine_twice"]) is Mine


def test_a_cost_model_that_raises_is_one_line_before_anything_runs(tmp_path: Path):
    """And before pandas and scipy load: `a2bench run` and a2bench.sweep had imported the
    sweep's summary, fits and narrowing rounds first, about 2 s of CPU a refusal. One child, the
    CLI's refusal then a2bench.sweep's of a counted block it cannot trace for auto sizes."""
    plugin = tmp_path / "bad_cost.py"
    plugin.write_text(textwrap.dedent("""
        from torch import nn
        from a2bench.cost import Cost, pointwise
        from a2bench.registry import BlockSpec, register

        @register
        class BadCost(BlockSpec):
            name = "bad_cost"

            def module(self, case):
                return nn.Conv2d(case.channels, case.channels, 1, bias=False)

            def cost(self, case):
                conv = pointwise("conv", case.batch, case.positions, case.channels,
                                 case.channels, bias=False, frees=("cnov",))
                return Cost((conv,), case.dtype_bytes)

        class Scalar(nn.Module):
            def forward(self, x):
                return x * float(x.mean())

        @register
        class ScalarSpec(BlockSpec):  # counted, and the meta device cannot run it
            name = "scalar"

            def module(self, case):
                return Scalar()
    """))
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nblocks: [bad_cost]\nparams: {channels: [8], h: [4], w: [4]}\n")
    code = textwrap.dedent(f"""
        import contextlib, io, json, sys
        import a2bench
        from a2bench.cli import main

        def loaded():
            return [m for m in ('pandas', 'scipy') if m in sys.modules]

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(['run', {str(suite)!r}, '--out', {str(tmp_path / "out")!r}])
        print(json.dumps([code, err.getvalue().strip(), loaded()]))
        try:
            a2bench.sweep({{'blocks': ['scalar'], 'params': {{'channels': [8], 'h': 'auto',
                           'w': 'auto'}}}}, {str(tmp_path / "auto")!r}, progress=False)
        except a2bench.InputError as e:
            print(json.dumps([str(e), loaded()]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath(), "A2BENCH_PLUGINS": str(plugin)},
                          timeout=300, cwd=tmp_path)
    said = [json.loads(line) for line in done.stdout.splitlines()]
    assert said == [
        [2, "a2bench: error: block bad_cost: its cost() failed at bad_cost b1 c8 4x4: "
            "ValueError: cost term 'conv': frees 'cnov', which names no earlier term; expected "
            f"one of x (at {plugin}:16)", []],
        ["a2bench.sweep: block scalar has no cost() and could not run on the meta device at "
         "scalar b1 c8 1x1 (RuntimeError: Tensor.item() cannot be called on meta tensors); auto "
         "sizes need each size's MACs and bytes: list its sizes (h and w, or t), or give the "
         "spec a cost() method", []]], done.stdout + done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "auto").exists()


def test_an_unknown_block_names_a2bench_plugins():
    with pytest.raises(SuiteError, match="A2BENCH_PLUGINS"):
        parse_suite({"name": "x", "blocks": ["not_a_block"],
                     "params": {"channels": [8], "h": [4], "w": [4]}})


def test_a_scalar_where_a_list_is_expected_is_a_one_item_list():
    suite = parse_suite({"name": "x", "blocks": ["se"], "params": {"channels": 32, "h": 8,
                                                                   "w": [8]}})
    assert suite.sweeps[0].params["h"] == (8,) and suite.sweeps[0].params["channels"] == (32,)


def test_plugin_errors_name_the_line_in_the_plugin(tmp_path: Path):
    plugin = tmp_path / "late.py"
    plugin.write_text(textwrap.dedent("""
        def helper():
            raise RuntimeError("cannot build the table")

        TABLE = helper()
    """))
    with pytest.raises(InputError) as e:
        load_one(str(plugin))
    assert str(e.value) == ("A2BENCH_PLUGINS: late.py: failed to import: RuntimeError: "
                            "cannot build the table (line 3)")


def test_your_blocks_memory_on_a_cpu_holds_the_kernel_it_reports(scratch_registry, one_thread):
    """docs/your-block.md, 'Memory on a CPU': a residual 1x1 nn.Conv1d block at batch 16, c 8,
    80x80 runs on oneDNN and peaks at its model to the byte where the block reports the kernel
    and passes it to its term (on AVX-512, twice the model without it)."""
    from torch import nn

    from a2bench.blocks import build
    from a2bench.blocks.kernels import conv_kernel, expected_conv_kernel, onednn_f32_isa
    from a2bench.catalog import cost_of
    from a2bench.cost import elementwise, pointwise
    from a2bench.measure.memory import warm_peak_cpu
    from a2bench.measure.step import make_step
    from a2bench.onednn import onednn_f32_kernel

    class Pointwise(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv1d(c, c, 1)

        def forward(self, x):
            return x + self.conv(x.flatten(2)).view_as(x)

    @register
    class PointwiseSpec(BlockSpec):
        name = "doc_pointwise"

        def module(self, case):
            return Pointwise(case.channels)

        def backend(self, module, x):
            return conv_kernel(module, x)

        def expected_backend(self, case, threads=1):
            return expected_conv_kernel(case, threads)

        def cost(self, case, backend=""):
            b, c, n = case.batch, case.channels, case.positions
            return Cost((pointwise("conv", b, n, c, c, kernel=backend),
                         elementwise("res", b * c * n, b * c * n, frees=("conv",))),
                        case.dtype_bytes)

    case = Case("doc_pointwise", "cpu", "float32", 16, 8, 1, 80, 80)
    module, x = build(case)
    kernel = REGISTRY["doc_pointwise"].backend(module, x)
    peak = warm_peak_cpu(make_step(module, x, "forward"))
    # the page's figures, on both layouts whatever this CPU is: AVX-512's oneDNN pads the 8
    # channels to 16 (twice the model without the kernel), AVX2's keeps them (a copy of the
    # weights, 256 B, over it)
    on = {"onednn_f32": 13_108_416, "onednn_f32_avx2": 6_553_856}
    assert {k: cost_of(case, k).peak_bytes for k in on} == on
    assert cost_of(case).peak_bytes == 6_553_600  # without the kernel
    assert kernel == onednn_f32_kernel(1, onednn_f32_isa()) and kernel in on, kernel
    assert peak == cost_of(case, kernel).peak_bytes == on[kernel]


def test_two_plugins_may_not_name_a_block_alike(tmp_path: Path):
    # the last one loaded had won, unsaid; registered again from its own module (a notebook
    # cell run again) a block still replaces itself
    body = ("from torch import nn\nfrom a2bench.registry import BlockSpec, register\n\n"
            "@register\nclass {cls}(BlockSpec):\n    name = 'twin'\n"
            "    def module(self, case):\n        return nn.Identity()\n")
    first, second = tmp_path / "one.py", tmp_path / "two.py"
    first.write_text(body.format(cls="One"))
    second.write_text(body.format(cls="Two"))
    done = cli("list", env={"A2BENCH_PLUGINS": f"{first},{second}"})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "two.py: block spec Two (" in line and "name 'twin' is taken by block spec One (" \
        in line
    assert listing(f"{first},{first}")[0] == 0  # the child above is this file's one for list
