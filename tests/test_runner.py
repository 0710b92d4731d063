"""Isolation, the memory guard and crash-proof, resumable sweeps, through the real CLI."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import A2BENCH, ROOT, cli

PLUGIN = {"A2BENCH_PLUGINS": "faulty_blocks"}
FAST = ("--threads", "1", "--time-budget", "0.1", "--no-counters", "--no-progress")


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def suite_with(write_suite, blocks: str, extra: str = "") -> Path:
    return write_suite(f"name: faults\nblocks: [{blocks}]\n"
                       f"params: {{channels: [4], h: [2], w: [2], reduction: [2]{extra}}}\n")


def test_each_failure_is_recorded_and_the_sweep_goes_on(tmp_path, write_suite):
    path = suite_with(write_suite, "raises, se, exits, allocator, killed, se, hangs, se",
                      ", t: [1, 2]")
    out = tmp_path / "out"
    result = cli("run", str(path), "--out", str(out), "--case-timeout", "5", *FAST, env=PLUGIN)
    assert result.returncode == 0, result.stderr
    by_block: dict[str, list[dict[str, str]]] = {}
    for row in rows(out):
        by_block.setdefault(row["block"], []).append(row)
    assert [r["status"] for r in by_block["se"]] == ["ok", "ok"]
    assert {r["status"] for r in by_block["raises"]} == {"error"}
    assert "this block always fails" in by_block["raises"][0]["reason"]
    assert {r["status"] for r in by_block["exits"]} == {"error"}
    assert "exit code 3" in by_block["exits"][0]["reason"]
    assert {r["status"] for r in by_block["killed"]} == {"oom"}
    assert "SIGKILL" in by_block["killed"][0]["reason"]
    assert {r["status"] for r in by_block["allocator"]} == {"oom"}
    assert {r["status"] for r in by_block["hangs"]} == {"timeout"}
    assert "5 s" in by_block["hangs"][0]["reason"]
    assert len(rows(out)) == 12  # six distinct blocks at two clip lengths


def test_memory_budget_skips_without_running(tmp_path, write_suite):
    # The non-local order at 512x512 needs N^2 * 4 bytes = 256 GiB for S: never run it.
    path = write_suite("name: big\nblocks: [nonlocal_right, double_attention]\n"
                       "params: {channels: [8], m: [2], n: [2], h: [512], w: [512]}\n")
    out = tmp_path / "out"
    result = cli("run", str(path), "--out", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    right, left = rows(out)
    assert right["status"] == "skipped" and right["latency_s"] == ""
    predicted, allowed = [int(w) for w in right["reason"].split() if w.isdigit()]
    assert predicted > 256 * 2**30 > allowed
    assert left["status"] == "ok" and float(left["latency_s"]) > 0


def test_explicit_budget_is_used(tmp_path, write_suite):
    path = suite_with(write_suite, "se")
    out = tmp_path / "out"
    assert cli("run", str(path), "--out", str(out), "--memory-budget", "10B", *FAST).returncode == 0
    (row,) = rows(out)
    assert row["status"] == "skipped" and "budget of 10 bytes" in row["reason"]


def _start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), **PLUGIN}
    return subprocess.Popen([*A2BENCH, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for_lines(path: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")


def test_kill_and_resume_with_a_torn_line(tmp_path, write_suite):
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

    again = cli(*args)
    assert again.returncode == 2 and "--resume" in again.stderr  # never touched without it
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    data = jsonl.read_bytes()
    assert data.startswith(kept)  # every line written before the kill, byte for byte
    keys = [json.dumps(json.loads(line)["case"], sort_keys=True) for line in data.splitlines()]
    assert len(keys) == len(set(keys)) == 9
    assert len(rows(out)) == 9 and all(r["status"] == "ok" for r in rows(out))
    env = json.loads((out / "environment.json").read_text())
    assert env["resumed_in"]  # both sessions' environments are kept

    noop = cli(*args, "--resume")  # nothing left to run
    assert noop.returncode == 0 and jsonl.read_bytes() == data


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, write_suite):
    path = suite_with(write_suite, "se, hangs")
    out = tmp_path / "out"
    proc = _start(["run", str(path), "--out", str(out), *FAST])
    _wait_for_lines(out / "results.jsonl", 1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert [r["status"] for r in rows(out)] == ["ok"]


def test_processes_run_each_case_in_several_workers_and_pool(tmp_path, write_suite):
    path = suite_with(write_suite, "se, double_attention", ", m: [2], n: [2]")
    out = tmp_path / "out"
    counted = [f for f in FAST if f != "--no-counters"]
    result = cli("run", str(path), "--out", str(out), "--processes", "2", *counted)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["case"]["block"], r["process"]) for r in lines] == [
        ("se", 0), ("double_attention", 0), ("se", 1), ("double_attention", 1)]
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
