"""Isolation, the memory guard and crash-proof, resumable sweeps, through the real CLI."""

from __future__ import annotations

import csv
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_here import cli_here
from conftest import A2BENCH, ROOT, child_pythonpath, cli

from a2bench.case import Case
from a2bench.measurement import Measurement
from a2bench.report import build_report
from a2bench.run.oom import oom_kills
from a2bench.run.runner import (
    Stopped,
    WorkerLost,
    measure_overhead,
    overhead_cases,
    pass_order,
    run_cases,
)
from a2bench.run.stops import KilledFromOutside
from a2bench.run.store import ResultsWriter, ending, load
from a2bench.run.worker import Settings

PLUGIN = {"A2BENCH_PLUGINS": "faulty_blocks"}
# a block that stalls in its cases, not in the 1x1 overhead entry before them, in a sweep
# whose environment asks it to (tests/runner_blocks.py)
STALLS = {"A2BENCH_PLUGINS": "runner_blocks", "A2BENCH_TEST_STALL": "1"}
FAST = ("--processes", "1",
        "--threads", "1", "--time-budget", "0.1", "--no-counters", "--no-progress",
        "--calibration-time", "0.01")


def _plugin_here(monkeypatch, name: str) -> Iterator[None]:
    """tests/<name>.py loaded by cli_here's sweeps as the CLI loads it (A2BENCH_PLUGINS),
    registered afresh (an earlier test may have restored the registry after its import) and
    gone from the registry after the test."""
    from a2bench.catalog import blocks
    from a2bench.registry import REGISTRY

    blocks()  # the built-ins first, so that they are kept
    saved = dict(REGISTRY)
    monkeypatch.setenv("A2BENCH_PLUGINS", name)
    if name in sys.modules:
        importlib.reload(sys.modules[name])
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)


@pytest.fixture
def faulty(monkeypatch):
    yield from _plugin_here(monkeypatch, "faulty_blocks")


@pytest.fixture
def stalling(monkeypatch):
    yield from _plugin_here(monkeypatch, "runner_blocks")


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def report_lines(folder: Path, out: Path) -> list[str]:
    """What `a2bench report FOLDER --out OUT` says, its figures not drawn: the tests here read
    its words, and the figures were most of its CPU."""
    from unittest import mock

    from a2bench import report

    with mock.patch.object(report, "draw_figures", lambda result, out: []):
        return build_report([folder], out).lines


def suite_with(write_suite, blocks: str, extra: str = "") -> Path:
    return write_suite(f"name: faults\nblocks: [{blocks}]\n"
                       f"params: {{channels: [4], h: [2], w: [2], reduction: [2]{extra}}}\n")


@pytest.mark.slow
def test_each_failure_is_recorded_and_the_sweep_goes_on(tmp_path, write_suite, faulty):
    path = suite_with(write_suite, "raises, se, exits, allocator, se, hangs, se")
    out = tmp_path / "out"
    result = cli_here("run", str(path), "--out", str(out), "--case-timeout", "5", *FAST)
    assert result.returncode == 0, result.stderr
    by_block: dict[str, list[dict[str, str]]] = {}
    for row in rows(out):
        by_block.setdefault(row["block"], []).append(row)
    assert [r["status"] for r in by_block["se"]] == ["ok"]
    assert {r["status"] for r in by_block["raises"]} == {"error"}
    assert "this block always fails" in by_block["raises"][0]["reason"]
    assert {r["status"] for r in by_block["exits"]} == {"error"}
    assert "exit code 3" in by_block["exits"][0]["reason"]
    assert {r["status"] for r in by_block["allocator"]} == {"oom"}
    assert {r["status"] for r in by_block["hangs"]} == {"timeout"}
    assert "5 s" in by_block["hangs"][0]["reason"]
    assert len(rows(out)) == 5  # five distinct blocks
    # the overhead entries (t = h = w = 1) fail alike, each recorded, none stopping the run
    entries = json.loads((out / "environment.json").read_text())["overhead"]["cases"]
    assert [e["block"] for e in entries] == ["raises", "se", "exits", "allocator", "hangs"]
    assert all(("error" in e) == (e["block"] != "se") for e in entries)
    assert entries[1]["median_s"] > 0 and (entries[0]["t"], entries[0]["h"]) == (1, 1)


@pytest.mark.slow
def test_memory_budget_skips_without_running(tmp_path, write_suite):
    # The non-local order at 512x512 needs N^2 * 4 bytes = 256 GiB for S: never run it.
    path = write_suite("name: big\nblocks: [nonlocal_right, double_attention]\n"
                       "params: {channels: [8], m: [2], n: [2], h: [512], w: [512]}\n")
    out = tmp_path / "out"
    result = cli_here("run", str(path), "--out", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    right, left = rows(out)
    assert right["status"] == "skipped" and right["latency_s"] == ""
    predicted, allowed = [int(w) for w in right["reason"].split() if w.isdigit()]
    assert predicted > 256 * 2**30 > allowed
    assert left["status"] == "ok" and float(left["latency_s"]) > 0


@pytest.mark.slow
def test_explicit_budget_is_used(tmp_path, write_suite):
    path = suite_with(write_suite, "se")
    out = tmp_path / "out"
    done = cli_here("run", str(path), "--out", str(out), "--memory-budget", "10B", *FAST)
    (row,) = rows(out)
    assert row["status"] == "skipped" and "budget of 10 bytes" in row["reason"]
    # nothing was measured: a script or CI job must not read the run as a success
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(  # stdout is another stream
        "a2bench: error: no case ended ok (skipped 1); the reasons are under \"Not ok, and why:\" "
        "on standard output")


@pytest.mark.slow
def test_a_sweep_whose_every_case_fails_exits_1(tmp_path, write_suite):
    done = cli("run", str(suite_with(write_suite, "raises")), "--out", str(tmp_path / "out"),
               *FAST, env=PLUGIN)
    assert done.returncode == 1, done.stderr
    assert "this block always fails" in done.stdout  # the reasons, in the run's table
    last = done.stderr.strip().splitlines()[-1]  # stdout is another pipe: the first reason
    assert last.startswith("a2bench: error: no case ended ok (error 1); the reasons are under ")
    assert "; the first: raises b1 c4 r2 2x2: error: RuntimeError: this block always fails" in last


def test_no_case_ok_says_where_its_reasons_went(tmp_path, monkeypatch):
    """The reasons are printed on stdout: "above" holds where stderr goes with it (a terminal,
    `> log 2>&1`); `run ... > table.txt` had been told they were above, on a screen that showed
    only stderr."""
    from a2bench.run.result import SweepResult
    from a2bench.run.summary import no_ok_line

    case = Case("se", "cpu", "float32", 1, 32, 1, 8, 8, reduction=8)
    failed = SweepResult(out=tmp_path, records=(
        Measurement(case, "timeout", "no answer after 6 s while running the case\nmore"),))
    assert no_ok_line(SweepResult(out=tmp_path, records=(Measurement(case, "ok"),))) is None
    with open(tmp_path / "both", "w") as both, open(tmp_path / "table.txt", "w") as table:
        monkeypatch.setattr("sys.stdout", both)
        monkeypatch.setattr("sys.stderr", both)
        assert no_ok_line(failed) == "no case ended ok (timeout 1); the reasons are above"
        monkeypatch.setattr("sys.stdout", table)
        assert no_ok_line(failed) == (
            'no case ended ok (timeout 1); the reasons are under "Not ok, and why:" on standard '
            f"output and in {tmp_path / 'results.csv'}'s reason column; the first: se b1 c32 r8 "
            "8x8: timeout: no answer after 6 s while running the case")


def _start(args: list[str], plugins: dict[str, str] = PLUGIN) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": child_pythonpath(), **plugins}
    # A shell that starts the tests in the background (`make test &`) leaves SIGINT ignored,
    # and a child would inherit that and never see the Ctrl-C sent below: restore the default.
    return subprocess.Popen([*A2BENCH, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_lines(path: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


@pytest.mark.slow
def test_kill_and_resume_with_a_torn_line(tmp_path, write_suite, faulty):
    path = write_suite("name: r\nblocks: [double_attention, nonlocal_right, se]\n"
                       "params: {channels: [8], h: [2, 3, 4], w: [2, 3, 4], reduction: [2]}\n"
                       "zip: [[h, w]]\n")
    out = tmp_path / "out"
    args = ["run", str(path), "--out", str(out), *FAST]
    proc = _start(args)
    jsonl = out / "results.jsonl"
    _wait_for_lines(jsonl, 3)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, mid-flight
    proc.wait()
    kept = jsonl.read_bytes()
    kept = kept[: kept.rfind(b"\n") + 1]
    with open(jsonl, "ab") as f:  # a record cut short by the crash
        f.write(b'{"case": {"block": "se", "dev')
    assert jsonl.read_bytes() != kept
    # Reported as it is: a run that stopped before its end, with how to go on.
    lines = report_lines(out, tmp_path / "report")
    assert lines[2] == f"  out: {lines[2].split(': ')[1]}"
    assert lines[3].startswith("    unfinished: no end recorded (it stopped before its end, or "
                               "it is still running) after ")
    assert lines[3].endswith(f"; resume it with: A2BENCH_PLUGINS=faulty_blocks a2bench run "
                             f"{path} --out {out} --resume --threads 1 --time-budget 0.1 "
                             "--processes 1 --calibration-time 0.01 --no-counters")

    again = cli_here(*args)
    assert again.returncode == 2 and "--resume" in again.stderr  # never touched without it
    resumed = cli_here(*args, "--resume")  # as the hint above runs it (the faulty fixture)
    assert resumed.returncode == 0, resumed.stderr
    data = jsonl.read_bytes()
    assert data.startswith(kept)  # every line written before the kill, byte for byte
    keys = [json.dumps(json.loads(line)["case"], sort_keys=True) for line in data.splitlines()]
    assert len(keys) == len(set(keys)) == 9
    assert len(rows(out)) == 9 and all(r["status"] == "ok" for r in rows(out))
    env = json.loads((out / "environment.json").read_text())
    assert env["resumed_in"]  # both sessions' environments are kept
    assert "ended" not in env and env["resumed_in"][-1]["ended"] == "finished" == ending(env)
    assert not any("unfinished" in x for x in report_lines(out, tmp_path / "report"))
    # the resumed session goes on in the order the sweep began with, and does not measure the
    # per-call overhead again
    assert env["resumed_in"][0]["order_seed"] == env["order_seed"]
    assert "overhead" in env and "overhead" not in env["resumed_in"][0]

    noop = cli_here(*args, "--resume")  # nothing left to run
    assert noop.returncode == 0 and jsonl.read_bytes() == data


def _worker_of(pid: int) -> int:
    """The measuring worker the sweep `pid` runs now (multiprocessing's spawned child)."""
    import psutil

    (worker,) = [c for c in psutil.Process(pid).children()
                 if "spawn_main" in " ".join(c.cmdline())]
    return worker.pid


# kill -9 of a worker (a user's, scancel --signal=KILL, a watchdog) had stored its case as oom,
# which --resume never runs again: the case was lost for good, though it could run
@pytest.mark.slow
@pytest.mark.skipif(oom_kills() is None, reason="no out-of-memory kill count here (run.oom)")
def test_a_worker_killed_from_outside_is_no_oom_and_its_case_runs_on_resume(
        tmp_path, write_suite, stalling):
    path = suite_with(write_suite, "se, stalls")
    out = tmp_path / "out"
    seed = next(s for s in range(100) if pass_order(["se", "stalls"], s, 0)[0] == "se")
    flags = [*FAST, "--case-timeout", "5", "--no-interleave"]
    proc = _start(["run", str(path), "--out", str(out), *flags, "--seed", str(seed)], STALLS)
    _wait_for_lines(out / "results.jsonl", 1)  # se stored: its worker is on stalls now
    time.sleep(0.5)
    os.kill(_worker_of(proc.pid), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # stopped, as on Ctrl-C, and says why
    assert "a2bench: worker killed by SIGKILL while running the case, not by the kernel's " \
        "out-of-memory killer" in err and "Traceback" not in err
    assert "Resume with: " in err.strip().splitlines()[-1]
    assert [r["status"] for r in rows(out)] == ["ok"]  # stalls: no record, to run on resume
    assert ending(json.loads((out / "environment.json").read_text())) == "interrupted"
    # resumed here, where stalls is not asked to stall: its case runs, and ends
    resumed = cli_here("run", str(path), "--out", str(out), *flags, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert [(r["block"], r["status"]) for r in rows(out)] == [("se", "ok"), ("stalls", "ok")]
    assert "1 case pass run (1 reused)" in resumed.stdout  # ran again, in the resume


# A userspace out-of-memory killer (systemd-oomd, earlyoom) kills by SIGKILL, and the kernel's
# oom_kill count does not rise: a case too large for the machine had stopped the sweep on every
# --resume, killed again each time, and the run could never finish. Here the worker kills itself
# at the width A2BENCH_TEST_KILL names (tests/runner_blocks.py), and the count stands still.
KILLS = ("name: kills\nblocks: [stalls]\nzip: [[h, w]]\n"
         "params: {channels: [4], h: [2, 3, 4], w: [2, 3, 4], reduction: [2]}\n")
CHEAP = ("--processes", "1", "--threads", "1", "--time-budget", "0.01", "--no-counters",
         "--no-progress", "--calibration-time", "0.01")


def _killed_at(out: Path) -> str | None:
    """The case a kill from outside stopped the folder's last session on (its label), if any."""
    from a2bench.run.store import last_session

    env = json.loads((out / "environment.json").read_text())
    return (last_session(env).get("killed_from_outside") or {}).get("label")


def _statuses(out: Path) -> list[str]:
    """Each stored case's status (none where a stop in the preparing of a pass's interleaved
    cases came before any was stored)."""
    return [r["status"] for r in rows(out)] if (out / "results.csv").exists() else []


@pytest.mark.slow
# killed as it prepares (interleaved), or as it runs; then, once, a kill on another case, and
# the way back (the store's, not theirs)
@pytest.mark.parametrize("schedule,way_back", [("--interleave", False), ("--no-interleave", True)])
def test_a_case_killed_from_outside_in_two_sessions_in_a_row_is_stored_as_oom(
        tmp_path, write_suite, stalling, monkeypatch, schedule, way_back):
    from a2bench.run import runner

    monkeypatch.setattr(runner, "oom_kills", lambda: 0)  # (where none is read here too)
    monkeypatch.setenv("A2BENCH_TEST_KILL", "3")
    out = tmp_path / "out"
    # widths 3, 4, 2 in that order: the first session stores none, a second 3 before 4
    seed = next(s for s in range(100) if pass_order([2, 3, 4], s, 0) == [3, 4, 2])
    args = ["run", str(write_suite(KILLS)), "--out", str(out), *CHEAP, schedule,
            "--seed", str(seed)]
    first = cli_here(*args)  # a first kill stops, as ever: scancel --signal=KILL loses nothing
    assert first.returncode == 130, first.stderr
    assert "runs what it left; a userspace out-of-memory killer (systemd-oomd, earlyoom) kills " \
        "so too, and a second such kill of the same case on --resume stores it as oom\n" \
        in first.stderr
    assert "oom" not in _statuses(out)
    assert _killed_at(out) == "stalls b1 c4 r2 3x3"
    if way_back:  # a kill in the next session that lands on another case still stops
        other = tmp_path / "other"
        shutil.copytree(out, other)
        monkeypatch.setenv("A2BENCH_TEST_KILL", "4")
        elsewhere = cli_here(*[str(other) if a == str(out) else a for a in args], "--resume")
        assert elsewhere.returncode == 130, elsewhere.stderr
        assert [(r["w"], r["status"]) for r in rows(other)] == [("3", "ok")]
        assert _killed_at(other) == "stalls b1 c4 r2 4x4"
        monkeypatch.setenv("A2BENCH_TEST_KILL", "3")
    second = cli_here(*args, "--resume")  # killed on it again: stored as oom, and it goes on
    assert second.returncode == 0, second.stderr
    assert {r["w"]: r["status"] for r in rows(out)} == {"2": "ok", "3": "oom", "4": "ok"}
    (reason,) = [r["reason"] for r in rows(out) if r["status"] == "oom"]
    assert reason.startswith("worker killed by SIGKILL while ") and (
        "in two sessions in a row, the oom_kill count of its memory cgroup unchanged both "
        "times: as a userspace out-of-memory killer (systemd-oomd, earlyoom) kills") in reason
    assert ending(json.loads((out / "environment.json").read_text())) == "finished"
    if not way_back:
        return
    # the reason's way back, were it no memory kill: its lines gone, --resume runs it again
    jsonl = out / "results.jsonl"
    jsonl.write_text("".join(line for line in jsonl.read_text().splitlines(keepends=True)
                             if json.loads(line)["status"] != "oom"))
    (out / "results.csv").unlink()
    monkeypatch.delenv("A2BENCH_TEST_KILL")
    again = cli_here(*args, "--resume")
    assert again.returncode == 0, again.stderr
    assert {r["w"]: r["status"] for r in rows(out)} == {"2": "ok", "3": "ok", "4": "ok"}


@pytest.mark.slow
def test_a_slurm_shard_killed_from_outside_on_a_case_twice_stores_it_as_oom(
        tmp_path, write_suite, stalling, monkeypatch):
    # a job runs its shard through the same Sweep, always resuming (RunOptions.for_shard): the
    # job --resume submits again finds the first one's stop in the shard's environment.json
    from a2bench.plugins import load_plugins
    from a2bench.run import runner
    from a2bench.run.options import RunOptions
    from a2bench.slurm.job import KILLED, ShardJob, ShardTask
    from a2bench.suite import expand, load_suite

    load_plugins()  # (the suite names the plugin's block, as the driver's planning loads it)
    monkeypatch.setattr(runner, "oom_kills", lambda: 0)
    monkeypatch.setenv("A2BENCH_TEST_KILL", "3")
    path = write_suite(KILLS)
    suite, shard = load_suite(path), tmp_path / "debug" / "shards" / "0"
    options = RunOptions(out=tmp_path, suite=str(path), processes=1, threads=1,
                         time_budget=0.01, calibration_time=0.01, counters=False,
                         interleave=False).for_shard(shard, seed=3)
    task = ShardTask("debug", 0, str(shard), suite, tuple(expand(suite)), options)
    with pytest.raises(RuntimeError, match=f"^{KILLED} "):  # left to --resume, as ever
        ShardJob()(task)
    assert ShardJob()(task)["shard"] == 0  # submitted again: it finishes
    assert {r["w"]: r["status"] for r in rows(shard)} == {"2": "ok", "3": "oom", "4": "ok"}


@pytest.mark.slow
@pytest.mark.parametrize("before,after,status", [(4, 5, "oom"), (4, 4, None)])
def test_a_worker_killed_by_sigkill_is_oom_where_the_kernels_count_rose(
        monkeypatch, before, after, status):
    # run.oom reads the kill count of the worker's memory cgroup: here, one the test sets,
    # `before` until the kill and `after` from then on
    import threading

    from a2bench.run import runner

    killed, asked = threading.Event(), threading.Event()

    def count() -> int | None:
        if killed.is_set():
            return after
        asked.set()  # (the request reads its count just before it is sent)
        return before

    monkeypatch.setattr(runner, "oom_kills", count)
    worker = runner.Worker(Settings(threads=1))
    asked.clear()

    def kill() -> None:  # once the request reads its count, in the calibration it asks for
        asked.wait(60)
        time.sleep(0.2)
        killed.set()
        os.kill(worker.process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        with pytest.raises((WorkerLost, Stopped)) as lost:  # a calibration far past the kill
            worker.request("calibrate", {"device": "cpu", "dtype": "float32",
                                         "min_time_s": 60}, 120)
    finally:
        killer.join()
        worker.kill()
    _lost_as(lost.value, before, status)


def test_a_worker_killed_where_no_kill_count_is_read_is_most_likely_oom():
    # the third reading of the count (none before the request) beside the two real kills
    # above: what Worker._receive raises for it is killed() of killed_for_memory's answer
    from a2bench.run.oom import killed_for_memory
    from a2bench.run.runner import killed

    _lost_as(killed("calibrate", killed_for_memory(None, 4)), None, "oom")


def _lost_as(lost: BaseException, before: int | None, status: str | None) -> None:
    """What a worker killed by SIGKILL while it calibrates is lost as, by the OOM kill count
    read before its request (`before`) and after it; status None: it stops the sweep."""
    assert str(lost).startswith("worker killed by SIGKILL while calibrate")
    if status is None:  # a kill from outside: the sweep stops and --resume runs the case
        assert type(lost) is KilledFromOutside  # a Stopped: the sweep stops on it (run.stops)
        assert "not by the kernel's out-of-memory killer" in str(lost)
    else:
        assert isinstance(lost, WorkerLost) and lost.status == status
        assert ("count of its memory cgroup rose" if before is not None
                else "most likely the kernel's out-of-memory killer") in lost.reason


# A kill (SIGTERM) had ended the sweep at once with nothing said; SIGHUP takes the same path
# (test_a_closed_terminal_stops_a_sweep_as_ctrl_c_does)
@pytest.mark.slow
@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, write_suite, signum, status):
    path = suite_with(write_suite, "se, stalls")
    out = tmp_path / "out"
    # a seed that runs se first (the shuffle depends only on the number of cases), then stalls,
    # which the Ctrl-C lands in; the timeout is far beyond it
    seed = next(s for s in range(100) if pass_order(["se", "stalls"], s, 0)[0] == "se")
    proc = _start(["run", str(path), "--out", str(out), *FAST, "--seed", str(seed),
                   "--case-timeout", "10", "--no-interleave"], STALLS)
    _wait_for_lines(out / "results.jsonl", 1)
    time.sleep(0.5)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    # the hint runs as printed: the plugin and every flag that is not the default
    hint = err.strip().splitlines()[-1].split("Resume with: ")[1]
    assert hint.startswith(f"A2BENCH_PLUGINS=runner_blocks a2bench run {path} --out {out} "
                           "--resume ")
    assert set(hint.split()) >= {"--case-timeout", "10", "--no-interleave", "--no-counters",
                                 "--time-budget", "0.1", "--processes", "1"}
    assert "--seed" not in hint  # on --resume the folder's own
    assert [r["status"] for r in rows(out)] == ["ok"]
    env = json.loads((out / "environment.json").read_text())
    assert env["ended"] == "interrupted" == ending(env)
    assert "    unfinished: interrupted after 1 of 2 case passes; its verdicts read only the " \
        "cases stored so far" in "\n".join(report_lines(out, tmp_path / "report"))


@pytest.mark.slow
def test_processes_run_each_case_in_several_workers_and_pool(tmp_path, write_suite):
    path = suite_with(write_suite, "se, double_attention", ", m: [2], n: [2]")
    out = tmp_path / "out"
    counted = [f for f in FAST if f != "--no-counters"]
    result = cli_here("run", str(path), "--out", str(out), *counted, "--processes", "2")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    seed = json.loads((out / "environment.json").read_text())["order_seed"]
    assert [(r["case"]["block"], r["process"]) for r in lines] == [
        (b, p) for p in (0, 1) for b in pass_order(["se", "double_attention"], seed, p)]
    # the counts are exact, so only the first pass runs the counters
    assert [r["macs_torch"] is None for r in lines] == [False, False, True, True]
    table = rows(out)
    assert [r["block"] for r in table] == ["se", "double_attention"]  # one row per case
    assert all(r["macs_torch"] == r["macs_analytic"] for r in table)
    for row, block in zip(table, ("se", "double_attention"), strict=True):
        passes = [r for r in lines if r["case"]["block"] == block]
        pooled = sorted(s for r in passes for s in r["samples_s"])
        assert row["processes"] == "2" and int(row["timed_runs"]) == len(pooled)
        assert float(row["latency_s"]) == pytest.approx(float(np.median(pooled)))


def _cases(n: int) -> list[Case]:
    return [Case("se", "cpu", "float32", 1, 8, 1, h, h, reduction=2) for h in range(1, n + 1)]


def test_pass_order_is_reproducible_and_differs_between_passes():
    cases = _cases(12)
    assert pass_order(cases, None, 3) == cases  # no seed: the given order
    first = [pass_order(cases, 7, p) for p in range(3)]
    assert first == [pass_order(cases, 7, p) for p in range(3)]
    assert all(sorted(o, key=lambda c: c.h) == cases for o in first)
    assert first[0] != first[1] != first[2]
    assert pass_order(cases, 8, 0) != first[0]


def test_run_cases_runs_each_case_once_per_pass_in_the_seeded_order(tmp_path):
    # a zero memory budget records every case as skipped without starting a worker
    cases = _cases(6)
    writer = ResultsWriter(tmp_path, resume=False)
    report = run_cases(cases, writer, Settings(threads=1), memory_budget=0, case_timeout=5,
                       processes=3, seed=11)
    assert report.ran == 18 and report.statuses == {"skipped": 18}
    for p in range(3):
        ran = [m.case for m in writer.records if m.process == p]
        assert ran == pass_order(cases, 11, p)


def test_a_replacement_worker_that_will_not_start_is_tried_again_then_stops_the_sweep(
        tmp_path, monkeypatch):
    # A worker killed (or hung) while it started raised WorkerLost out of run_cases: a 25-line
    # traceback, exit 1. One failed start is tried again; two stop the sweep in one line
    # (WorkersFailed), the case not blamed: it would not run again on --resume.
    from a2bench.run.runner import WorkersFailed

    starts = []

    class Flaky(_FakeWorker):
        def __init__(self, settings: Settings):
            starts.append(1)
            if len(starts) in failing:
                raise WorkerLost("oom", "worker killed by SIGKILL while starting the worker")
            self.up = True

        def request(self, kind, payload, timeout):
            self.up = False  # each case takes its worker down with it
            raise WorkerLost("oom", "worker killed by SIGKILL")

        def kill(self) -> None:
            self.up = False

    monkeypatch.setattr("a2bench.run.runner.Worker", Flaky)
    cases = _cases(3)
    failing = {2}  # the first case's replacement fails once, and starts on the second try
    writer = ResultsWriter(tmp_path / "a", resume=False)
    report = run_cases(cases, writer, Settings(threads=1), memory_budget=2**40, case_timeout=5,
                       processes=1, seed=1)
    assert report.statuses == {"oom": 3} and len(starts) == 4
    starts.clear()
    failing = {2, 3}  # twice: the sweep stops, the cases so far stored
    writer = ResultsWriter(tmp_path / "b", resume=False)
    with pytest.raises(WorkersFailed, match="a new measuring worker did not start, twice: "
                       "worker killed by SIGKILL while starting the worker"):
        run_cases(cases, writer, Settings(threads=1), memory_budget=2**40, case_timeout=5,
                  processes=1, seed=1)
    assert [m.reason for m in writer.records] == ["worker killed by SIGKILL"]


def test_a_case_failed_in_a_stored_pass_is_not_run_again_on_resume(tmp_path):
    # Pass 1 of the case is stored as an error: resuming records passes 2 and 3 as not run
    # (no worker starts), and its pooled row keeps pass 1's reason.
    case = _cases(1)[0]
    writer = ResultsWriter(tmp_path, resume=False)
    writer.append(Measurement(case, "error", "RuntimeError: broken\nmore lines", process=0))
    resumed = ResultsWriter(tmp_path, resume=True)
    report = run_cases([case], resumed, Settings(threads=1), memory_budget=2**40,
                       case_timeout=5, processes=3, seed=1)
    assert report.ran == 2 and report.reused == 1 and report.statuses == {"error": 2}
    later = [m for m in resumed.records if m.process > 0]
    assert [m.process for m in later] == [1, 2]
    assert all(m.reason == "not run again: pass 1 gave error (RuntimeError: broken)"
               and not m.samples_s for m in later)
    pooled = load(tmp_path)
    assert len(pooled) == 1 and pooled[0].status == "error"
    assert pooled[0].reason == "RuntimeError: broken\nmore lines (pass 1 of 3)"


def test_overhead_cases_project_to_the_smallest_shape():
    cases = [*_cases(3), Case("double_attention", "cpu", "float32", 2, 8, 4, 5, 5, m=2, n=2)]
    assert overhead_cases(cases) == [
        Case("se", "cpu", "float32", 1, 8, 1, 1, 1, reduction=2),
        Case("double_attention", "cpu", "float32", 2, 8, 1, 1, 1, m=2, n=2)]
    # not always 1x1: the smallest square map the block accepts up to 8x8 (docs/running.md)
    pooled = dict(impl="eager", inner=4, subsample=2)
    assert overhead_cases([Case("nonlocal", "cpu", "float32", 1, 8, 1, 6, 6, **pooled)]) == [
        Case("nonlocal", "cpu", "float32", 1, 8, 1, 2, 2, **pooled)]


class _FakeWorker:
    """Answers overhead requests; the double_attention entry crashes it."""

    started = 0

    def __init__(self, settings: Settings):
        _FakeWorker.started += 1
        self.up = True

    def alive(self) -> bool:
        return self.up

    def request(self, kind: str, payload: dict, timeout: float) -> tuple[str, dict]:
        block = (payload["case"] or {}).get("block")
        if block == "double_attention":
            self.up = False
            raise WorkerLost("oom", "worker killed by SIGKILL")
        if block == "nonlocal_right":
            return ("failure", {"status": "error", "reason": "RuntimeError: boom"})
        return ("overhead", {"median_s": 1e-6, "ci_low_s": None, "ci_high_s": None,
                             "samples": 3})


def test_overhead_failures_stay_in_their_entry(monkeypatch):
    monkeypatch.setattr("a2bench.run.runner.Worker", _FakeWorker)
    _FakeWorker.started = 0
    cases = [Case(b, "cpu", "float32", 1, 8, 1, 4, 4, m=2, n=2)
             for b in ("double_attention", "nonlocal_right")] + _cases(1)
    out, worker = measure_overhead(cases, "cpu", "float32", Settings(threads=1), timeout=5)
    assert out["empty_module_s"] == 1e-6 and "error" not in out
    da, nl, se = out["cases"]
    assert da["block"] == "double_attention" and "SIGKILL" in da["error"] and da["h"] == 1
    assert nl["error"] == "RuntimeError: boom"
    assert se["median_s"] == 1e-6 and se["samples"] == 3 and "error" not in se
    assert _FakeWorker.started == 2 and worker is not None and worker.alive()


def test_the_outcome_line_counts_cases_by_their_pooled_status():
    from a2bench.run.summary import failure_lines, outcome_line

    one = Case("se", "cpu", "float32", 1, 32, 1, 4, 4, reduction=8)
    two = Case("se", "cpu", "float32", 1, 32, 1, 8, 8, reduction=8)
    assert outcome_line(1, 0, [Measurement(one, "ok")]) == (
        "1 case pass run (0 reused); the 1 case: ok 1.")
    pooled = [Measurement(one, "ok"), Measurement(two, "error", "boom\ntrace")]
    assert outcome_line(6, 2, pooled) == (
        "6 case passes run (2 reused); the 2 cases: error 1, ok 1.")
    assert failure_lines(pooled) == [f"  {two.label()}: error: boom"]


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds the child in /proc")
def test_a_ctrl_c_while_the_worker_starts_leaves_it_to_the_runner(capfd):
    """Ctrl-C at a terminal signals the whole process group, the worker too. While it still
    imports (before serve ignores SIGINT) it used to die there with its own traceback; it now
    ignores SIGINT from its first instruction and comes up. The runner's own handler is back
    after the start."""
    import threading

    from a2bench.run.runner import Worker, _child_ignores_sigint

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are the main thread's")
    def handler(*_: object) -> None:
        pass

    previous = signal.signal(signal.SIGINT, handler)
    try:
        with _child_ignores_sigint():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is handler
        children: list[int] = []

        def parent_of(pid: str) -> str | None:  # None: it ended after /proc was listed
            try:
                return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1]
            except (FileNotFoundError, ProcessLookupError):
                return None

        def interrupt_the_child() -> None:  # while it imports torch, seconds before serve
            time.sleep(0.3)
            children.extend(int(p) for p in os.listdir("/proc")
                            if p.isdigit() and parent_of(p) == str(os.getpid()))
            for pid in children:
                os.kill(pid, signal.SIGINT)

        poke = threading.Thread(target=interrupt_the_child)
        poke.start()
        worker = Worker(Settings(threads=1))
        poke.join()
        assert children and worker.alive()
        worker.kill()
        assert "Traceback" not in capfd.readouterr().err
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_closed_terminal_stops_a_sweep_as_ctrl_c_does():
    from a2bench.run.interrupts import as_interrupts

    before = signal.getsignal(signal.SIGHUP)
    with pytest.raises(KeyboardInterrupt), as_interrupts() as caught:
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)  # the handler raises before this ends
    assert caught.signum == signal.SIGHUP and caught.exit_status(130) == 129
    assert signal.getsignal(signal.SIGHUP) == before


def test_a_deferred_ctrl_c_comes_after_the_block_and_a_handler_set_outside_python_is_kept(
        monkeypatch):
    # signal.signal returns None for a handler set outside Python (an embedding program's), and
    # setting None back had raised TypeError as the deferred block ended
    from a2bench.run.interrupts import deferred

    previous = signal.getsignal(signal.SIGINT)
    real = signal.signal
    first = []

    def unknown_first(signum, handler):
        got = real(signum, handler)
        if not first:
            first.append(got)
            return None
        return got

    reached = []
    try:
        with pytest.raises(KeyboardInterrupt), monkeypatch.context() as m:
            m.setattr(signal, "signal", unknown_first)
            with deferred():
                signal.raise_signal(signal.SIGINT)
                reached.append("the block's end")  # the Ctrl-C waits for it
        assert reached and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        real(signal.SIGINT, previous)



def test_a_kill_in_the_calibration_says_how_to_go_on(tmp_path, write_suite):
    # before the cases began, SIGTERM had read as a bare "a2bench: interrupted", exit 130
    path = suite_with(write_suite, "se")
    out = tmp_path / "out"
    proc = _start(["run", str(path), "--out", str(out), "--threads", "1", "--processes", "1",
                   "--calibration-time", "5", "--no-counters"])
    assert proc.stderr is not None
    for line in proc.stderr:  # the note said before the calibration
        if "measuring this cpu's GEMM" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert last.startswith(("a2bench: interrupted before anything was stored",
                            "a2bench: interrupted; 0 results are saved")), last


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="Linux's prctl and /proc")
def test_a_worker_dies_with_the_sweep_that_spawned_it(tmp_path):
    # kill -9 of `a2bench run` had left its worker timing a case at a full core beside the
    # resumed sweep (it noticed only when its case ended and the pipe was gone).
    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing as mp, time\n"
        "from a2bench.run.worker import _die_with_parent\n"
        "def busy():\n"
        "    _die_with_parent()\n"
        "    time.sleep(60)  # a long case: no pipe read to notice the parent is gone\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=busy)\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": child_pythonpath()})
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # past the child's prctl
    parent.kill()
    parent.wait()

    def alive(pid: int) -> bool:  # a zombie no one has reaped yet counts as gone
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
        except (FileNotFoundError, IndexError):
            return False

    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the worker outlived its parent")


def test_a_ctrl_c_while_a_worker_starts_stops_it(tmp_path, monkeypatch):
    # A Ctrl-C between passes lands in the replacement's start (Worker.__init__), where no
    # caller holds the new worker: it had lived on, and printed a BrokenPipeError seconds later
    import multiprocessing as mp

    from a2bench.run import runner

    def interrupted(self, timeout, doing):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.Worker, "_receive", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.Worker(Settings(threads=1))
        assert not mp.active_children()
        # one started but stopped before run_cases held it goes with the stop too (kill_all)
        monkeypatch.setattr(runner.Worker, "_receive", lambda self, timeout, doing: ("ready", 0))

        def replacement(settings):
            started = runner.Worker(settings)  # noqa: F841 (the traceback holds it, as the
            raise KeyboardInterrupt  # frame of a Worker.__init__ stopped past its start)

        monkeypatch.setattr(runner, "replacement", replacement)
        report = run_cases(_cases(1), ResultsWriter(tmp_path, resume=False), Settings(threads=1),
                           memory_budget=2**40, case_timeout=5)
        assert report.interrupted and not mp.active_children()
    finally:
        runner.kill_all()


def test_a_worker_that_cannot_load_its_blocks_says_why():
    # it had died with a traceback of its own, "worker died (exit code 1)" to the sweep
    from a2bench.run.runner import Worker
    from a2bench.run.worker import BLOCKS_FAILED

    with pytest.raises(WorkerLost) as lost:
        Worker(Settings(threads=1, extra_blocks=(("a2bench_no_such_blocks",), ())))
    assert lost.value.reason == (
        f"{BLOCKS_FAILED}: a block registered in the calling process: a2bench_no_such_blocks: "
        "no such module (expected an importable module name on sys.path, or a path to a .py "
        "file)")


def test_a_worker_stopped_from_outside_is_said_in_the_sweeps_result(tmp_path, monkeypatch):
    # SweepResult.stopped is what a Slurm job's error reads (slurm.job.stop_line): a worker
    # killed from outside had been "stopped by SIGTERM" there. The sweep is real; its cases stop
    # after the first as the runner stops on runner.killed(..., for_memory=False).
    from a2bench.run import runner
    from a2bench.run import sweep as sweep_module
    from a2bench.run.listener import ConsoleListener
    from a2bench.run.options import RunOptions
    from a2bench.suite import expand, parse_suite

    why = str(runner.killed("running se b1 c8 4x4", for_memory=False))
    real = sweep_module.run_cases

    def killed_after_one(cases, *args, **kwargs):
        report = real(cases[:1], *args, **kwargs)
        runner.kill_all()
        report.interrupted, report.stopped, report.worker = True, why, None
        return report

    monkeypatch.setattr(sweep_module, "run_cases", killed_after_one)
    suite = parse_suite({"name": "s", "blocks": ["se"], "params": {
        "channels": [8], "reduction": [2], "h": [4, 6], "w": [4, 6]}, "zip": [["h", "w"]]})
    options = RunOptions(out=tmp_path / "out", processes=1, threads=1, time_budget=0.02,
                         calibration_time=0.01, progress=False)
    result = sweep_module.Sweep(suite, expand(suite), options, ConsoleListener(False)).run()
    assert result.interrupted and result.stopped == why and result.saved == 1
    assert json.loads((tmp_path / "out" / "environment.json").read_text())["ended"] == \
        "interrupted"
