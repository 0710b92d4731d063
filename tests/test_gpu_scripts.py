"""The GPU run's scripts, checked on the CPU: what they can do without a GPU (issue 11).

scripts/gpu_run.sh runs whole only on the device (or as A2BENCH_GPU_DRY=1, about 2 minutes,
too long for `make test`); here its refusal of a missing OUTDIR, and the timing check's rounds,
JSON and bad input.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = [sys.executable, str(ROOT / "scripts" / "gpu_timing_check.py")]


def run(args: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120, **kw)


def script(name: str) -> ModuleType:
    """A module of scripts/, imported as the scripts run it (their folder first on the path)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def cpu_trace(tmp_path: Path, *case: str, child: bool = True) -> tuple[str, dict]:
    """scripts/gpu_peak_trace.py on the CPU for one case: the file it wrote, and its trace as
    make publish reads it. In a child process as the GPU run calls it, or (`child` False, under
    the one_thread fixture, as the script pins one thread) its main in this process: a child
    spends about 3 s of CPU importing torch."""
    out = tmp_path / "trace.txt"
    if child:
        r = run([sys.executable, str(ROOT / "scripts" / "gpu_peak_trace.py"), "--device", "cpu",
                 str(out), *case])
        assert r.returncode == 0, r.stderr
    else:
        assert script("gpu_peak_trace").main(["--device", "cpu", str(out), *case]) == 0
    text = out.read_text()
    [trace] = script("gpu_peak_trace").read_traces(text)
    return text, trace


def test_the_timing_check_alternates_rounds_and_takes_their_median(tmp_path, capsys, one_thread):
    # its main in this process (it times at one thread): a child imports torch, about 3 s of
    # CPU; its refusals below run as the GPU run calls it
    out = tmp_path / "check.json"
    code = script("gpu_timing_check").main([
        str(out), "--device", "cpu", "--channels", "16", "--sides", "8,12", "--launch-bound",
        "8:4", "--round-s", "0.05"])
    r = subprocess.CompletedProcess(CHECK, code, *capsys.readouterr())
    assert r.returncode in (0, 1), r.stderr  # 1: a size off by over 5 % on this noisy VM
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["rounds"] == 3 and result["round_s"] == 0.05
    rows = result["rows"]
    assert [(row["channels"], row["positions"], row["judged"]) for row in rows] == [
        (16, 64, True), (16, 144, True), (8, 16, False)]
    for row in rows:
        ours, theirs = row["rounds"]["a2bench_s"], row["rounds"]["reference_s"]
        assert len(ours) == len(theirs) == 3 and all(t > 0 for t in ours + theirs)
        assert row["a2bench_s"] == statistics.median(ours)
        assert row["reference_s"] == statistics.median(theirs)
        assert row["ratio"] == pytest.approx(row["a2bench_s"] / row["reference_s"])
        assert row["agree"] == (abs(row["ratio"] - 1) <= result["tolerance"])
    # the launch-bound size is stored and printed but takes no part in the verdict
    assert result["all_agree"] == all(row["agree"] for row in rows[:2]) == (r.returncode == 0)
    assert r.stdout.count(" ratio ") == 3 and r.stdout.count("not judged") == 1


def test_launch_bound_sizes_parse_or_are_refused():
    launch_bound_sizes = script("gpu_timing_check").launch_bound_sizes
    assert launch_bound_sizes("64:64, 16:32") == [(64, 64), (16, 32)]
    assert launch_bound_sizes("") == []
    for bad in ("64", "a:b", "0:8", "8:-1", "1:2:3"):
        assert launch_bound_sizes(bad) is None


@pytest.mark.parametrize("bad", [["--sides", "64,x"], ["--sides", "0"], ["--round-s", "0"],
                                 ["--launch-bound", "64"], ["--channels", "0"],
                                 ["--device", "cuda"]])
def test_the_timing_check_refuses_bad_input_in_one_line(tmp_path, capsys, bad):
    import torch

    if bad == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    out = tmp_path / "check.json"
    if bad == ["--device", "cuda"]:  # its main here: the one refusal a child imports torch for
        code = script("gpu_timing_check").main([str(out), "--device", "cpu", *bad])
        r = subprocess.CompletedProcess(CHECK, code, *capsys.readouterr())
    else:  # refused before torch loads, in a child as the GPU run calls it
        r = run([*CHECK, str(out), "--device", "cpu", *bad])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert bad[0] in r.stderr and not out.exists()


def test_gpu_run_without_an_outdir_says_how_to_call_it():
    r = run(["bash", str(ROOT / "scripts" / "gpu_run.sh")])
    assert r.returncode == 2 and "usage: scripts/gpu_run.sh OUTDIR" in r.stderr


@pytest.mark.parametrize(("setting", "said"), [
    ({"GPU_RUN_SWEEPS": "auto-training-both global-contxt"},
     "GPU_RUN_SWEEPS names 'global-contxt': expected sweep names from: compile "),
    ({"GPU_RUN_FRESH": "auto-trainig-both"}, "GPU_RUN_FRESH names 'auto-trainig-both'"),
    ({"GPU_RUN_BUDGET_S": "8m"}, "GPU_RUN_BUDGET_S is '8m': expected whole seconds"),
    ({"GPU_RUN_HARD_S": "545.5"}, "GPU_RUN_HARD_S is '545.5': expected whole seconds"),
    # bash's arithmetic reads a leading zero as octal: 0100 as 64 s, 0480 an error mid-run
    ({"GPU_RUN_HARD_S": "0100"}, "GPU_RUN_HARD_S is '0100': expected whole seconds"),
    ({"GPU_RUN_BUDGET_S": "0480"}, "GPU_RUN_BUDGET_S is '0480': expected whole seconds"),
    ({"GPU_AUTO_TRAINING_BUDGET_S": "-1"}, "GPU_AUTO_TRAINING_BUDGET_S is '-1'")])
def test_gpu_run_refuses_a_setting_it_cannot_follow_before_it_starts(tmp_path, setting, said):
    # a misspelt sweep had been skipped with a line in the log and the call had ended with
    # exit 0; GPU_RUN_HARD_S=545.5 had broken bash's arithmetic once device time was spent
    out = tmp_path / "out"
    r = run(["bash", str(ROOT / "scripts" / "gpu_run.sh"), str(out)],
            env={**os.environ, "A2BENCH_GPU_DRY": "1", **setting})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"gpu_run.sh: {said}"), r.stderr
    assert not out.exists() and not r.stdout


@pytest.mark.slow
def test_gpu_run_holds_the_environment_step_to_the_hard_stop(tmp_path):
    # the environment step had no time limit: a python that hangs there (a CUDA start that
    # never returns) had held the call until the device tool killed it, with nothing said
    # the python's own check that it imports torch and a2bench passes without the imports (2.5
    # s of CPU): this process's python has them, and the step under test comes after
    python = tmp_path / "python"
    python.write_text('#!/bin/bash\n[ "$1" = - ] && exec sleep 300\n'
                      '[ "$*" = "-c import torch, a2bench" ] && exit 0\n'
                      f'exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    out = tmp_path / "out"
    settings = {"A2BENCH_GPU_DRY": "1", "PYTHON": str(python), "GPU_RUN_SKIP_CHECKS": "1",
                "GPU_RUN_BUDGET_S": "0", "GPU_RUN_HARD_S": "4", "GPU_RUN_SWEEPS": "m"}
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "gpu_run.sh"), str(out)],
                            env={**os.environ, **settings}, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rc = proc.wait(timeout=150)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the sleep, where the step was not held
    log = (out / "gpu_run.log").read_text()
    assert "environment: cut at its time limit" in log and "SKIPPED m:" in log
    assert rc == 1 and "failed: environment (exit 124)" in log


def test_gpu_run_takes_every_sweep_name_its_docs_table_names():
    # the names the script checks GPU_RUN_SWEEPS against are the ones docs/gpu.md lists
    text = (ROOT / "scripts" / "gpu_run.sh").read_text()
    names = set(text.split('sweep_names="', 1)[1].split('"', 1)[0].replace("\\\n", " ").split())
    table = (ROOT / "docs" / "gpu.md").read_text().split("| name | suite | what for |")[1]
    listed = {n for row in table.split("\n\n")[0].splitlines()[2:]
              for n in row.split("|")[1].replace("`", "").replace(",", " ").split()}
    assert names == listed


@pytest.mark.slow
def test_replan_reproduces_why_the_training_suite_has_m_and_n_128(capsys):
    # docs/gpu.md and suites/gpu-auto-training-both.yaml: from the H200 train-mode run's own
    # figures, the non-local order has no plan at m = n = 64 however long its share, and 6
    # sizes from a 45 s share at m = n = 128
    # the plans from its main in this process (a child imports torch, about 3 s of CPU each);
    # the refusal from the script as a user runs it
    replan = script("replan").main
    run_dir = str(ROOT / "results" / "gpu-nvidia-h200-auto-training")
    assert replan([run_dir, "nonlocal_right", "45", "150"]) == 0
    at_64 = capsys.readouterr()
    assert at_64.out.count("no plan") == 2, at_64.err
    assert replan([run_dir, "nonlocal_right", "30", "45", "m=128", "n=128"]) == 0
    at_128 = capsys.readouterr().out
    assert "share 30 s: no plan" in at_128
    assert "share 45 s: 6 sizes, N 29584 … 94864" in at_128
    bad = run([sys.executable, str(ROOT / "scripts" / "replan.py"), str(ROOT), "nonlocal_right"])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_replan_refuses_a_folder_or_block_before_loading_torch_or_scipy():
    """Its refusals come before the planner's imports (torch, scipy: 4.8 s of CPU on the 2-core
    VM, against 0.04 s). One child: what was loaded after a folder that is no auto run and a
    block the run has no group of."""
    code = ("import sys; sys.path.insert(0, 'scripts'); import replan\n"
            f"codes = [replan.main([{str(ROOT)!r}, 'nonlocal_right']),\n"
            "         replan.main(['results/gpu-nvidia-h200-auto-training', 'nonlocl'])]\n"
            "print(*codes, 'torch' in sys.modules, 'scipy' in sys.modules)")
    done = run([sys.executable, "-c", code])
    assert done.stdout.split() == ["2", "2", "False", "False"], done.stderr
    assert "no auto group of block 'nonlocl'" in done.stderr


def test_the_peak_trace_replays_allocations_to_the_peak():
    trace = script("gpu_peak_trace")
    live_at_peak, made_by = trace.live_at_peak, trace.made_by
    # innermost first, as the profiler's event tree gives a memory event's parents
    chain = ["aten::empty_like", "aten::clone", "aten::contiguous", "aten::_softmax_backward_data",
             "SoftmaxBackward0", "autograd::engine::evaluate_function: SoftmaxBackward0"]
    assert made_by(chain) == "SoftmaxBackward0 > aten::_softmax_backward_data > aten::clone"
    assert made_by(["aten::empty", "aten::add"]) == "forward > aten::add"
    assert made_by(["aten::empty"]) == "forward > aten::empty"
    assert made_by([]) == "forward"
    events = [{"addr": 1, "size": 512, "where": "a"},
              {"addr": 2, "size": 1024, "where": "b"},
              {"addr": 1, "size": -512, "where": "c"},
              {"addr": 3, "size": 256, "where": "d"},
              {"addr": 2, "size": -1024, "where": "e"},
              {"addr": 9, "size": -64, "where": "allocated before the replay"}]
    peak, live, reached = live_at_peak(events)
    assert peak == 1536 and live == {1: (512, "a"), 2: (1024, "b")} and reached == "b"
    r = run([sys.executable, str(ROOT / "scripts" / "gpu_peak_trace.py"), "/tmp/x.txt", "a"])
    assert r.returncode == 2 and r.stderr.startswith("usage:")


def test_the_peak_trace_pairs_allocations_with_the_models_tensors_by_size_once_each():
    unpaired = script("gpu_peak_trace").unpaired
    measured = [(64, "forward > aten::bmm"), (64, "forward > aten::add"), (32, "x")]
    model = [("A", 64), ("B", 16)]
    assert unpaired(measured, model) == ([(64, "forward > aten::add"), (32, "x")], [("B", 16)])


@pytest.mark.slow
def test_the_peak_trace_names_what_each_live_tensor_at_the_cpu_peak_is(tmp_path):
    """The whole trace on the CPU, where the model is exact: the profile's peak is the measured
    one and the model's, reached in the softmax backward of B (its transposed gradient copied
    contiguous), as the model says."""
    text, trace = cpu_trace(tmp_path, "double_attention", "64", "16", "train", "float32",
                            "m=32", "n=32")
    measured = trace["measured"]
    assert measured == trace["profiled"] == trace["model"] > 0
    assert trace["reached"] == "SoftmaxBackward0 > aten::_softmax_backward_data > aten::clone"
    assert trace["model_at"] == "backward softmax_b" and trace["variants"] == {}
    assert trace["case"] == "double_attention b1 c64 m32 n32 16x16 train on cpu"
    live = text.split("live at the measured peak (")[1].split("\n\n")[0].splitlines()[1:]
    assert sum(int(line.split()[0]) for line in live) == measured
    assert any(line.endswith("BmmBackward0 > aten::bmm") for line in live)
    # the model's tensors by name; what pairs with nothing differs by what the peaks differ by
    model = text.split("the model's tensors at its peak")[1].split("\n\n")[0].splitlines()[1:]
    assert {line.split(maxsplit=3)[3] for line in model} >= {"residual", "grad x", "softmax_b"}
    alone = text.split("with no model tensor of its size (")[1].split("\n\n")[0]
    lacking = text.split("with no live allocation of its size (")[1]
    assert (sum(int(line.split()[0]) for line in alone.splitlines()[1:])
            - sum(int(line.split()[0]) for line in lacking.splitlines()[1:])
            == measured - trace["model"])
    # a term's parameter gradients are one tensor in the model, weight and bias on the device
    assert "proj params' grads" in lacking and "aten::sum" in alone


def peak_trace(argv: list[str], capsys, child: bool) -> tuple[int, str]:
    """scripts/gpu_peak_trace.py's exit status and stderr: in a child process, as a user runs
    it, or from its main in this one (a child spends about 3 s of CPU importing torch)."""
    if child:
        r = run([sys.executable, str(ROOT / "scripts" / "gpu_peak_trace.py"), *argv])
        return r.returncode, r.stderr
    code = script("gpu_peak_trace").main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("given", "said"), [
    (["subsampel=2"], "subsampel=2: nonlocal has no parameter 'subsampel'"),
    (["inner=0"], "inner: expected a positive integer, got 0"),
    (["subsample=2", "t=2"], "subsample: expected even h and w"),
    (["inner"], "'inner': expected NAME=VALUE")])
def test_the_peak_trace_refuses_what_names_no_case_in_one_line(tmp_path, capsys, given, said):
    # a misspelt parameter had been ignored (the default traced instead), inner=0 had stopped
    # in a ZeroDivisionError's traceback
    out = tmp_path / "trace.txt"
    out.write_text("an earlier trace\n")
    code, err = peak_trace(["--device", "cpu", str(out), "nonlocal", "16", "5", "forward",
                            "float32", *given], capsys, child=given == ["subsampel=2"])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"gpu_peak_trace: {said}"), err
    assert out.read_text() == "an earlier trace\n"


@pytest.mark.parametrize("side", ["4x", "x4", "0x4"])
def test_the_peak_trace_refuses_a_side_that_is_no_side_or_hxw(tmp_path, capsys, side):
    # "4x" had been taken as 4x4. Its main here: a case it refuses is refused end to end (exit
    # 2, one line) by the child of test_the_peak_trace_refuses_what_names_no_case_in_one_line
    code, err = peak_trace(["--device", "cpu", str(tmp_path / "trace.txt"), "se", "16", side,
                            "forward", "float32"], capsys, child=False)
    assert code == 2, err
    assert err.strip() == (f"gpu_peak_trace: SIDE {side!r}: expected a side or HxW of "
                           "positive integers, e.g. 2x64")


@pytest.mark.slow
def test_the_peak_trace_takes_the_frames_of_a_clip(tmp_path, one_thread):
    # t=3 had been dropped without a word: the 4x4 image traced, not the 3x4x4 clip
    _, trace = cpu_trace(tmp_path, "nonlocal", "16", "4", "forward", "float32", "impl=eager",
                         "inner=8", "t=3", child=False)
    assert trace["case"] == "nonlocal b1 c16 impl=eager inner=8 subsample=1 3x4x4 on cpu"
    assert trace["measured"] == trace["model"] == 2 * 48 * 48 * 4  # the N x N affinity, twice


@pytest.mark.slow
def test_the_peak_trace_takes_a_map_that_is_not_square(tmp_path, one_thread):
    _, trace = cpu_trace(tmp_path, "criss_cross", "16", "2x64", "train", "float32",
                         "recurrence=1", child=False)
    assert trace["case"] == "criss_cross b1 c16 recurrence=1 2x64 train on cpu"
    assert trace["measured"] == trace["model"] > 0  # the thin map's train peak, to the byte


@pytest.mark.slow
def test_the_peak_trace_takes_a_choice_and_fills_in_the_blocks_defaults(tmp_path, one_thread):
    _, trace = cpu_trace(tmp_path, "nonlocal", "32", "8", "forward", "float32", "impl=eager",
                         child=False)
    assert trace["case"] == "nonlocal b1 c32 impl=eager inner=16 subsample=1 8x8 on cpu"
    assert trace["measured"] == trace["model"] > 0  # fp32 on one thread: the model's own peak
