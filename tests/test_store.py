from __future__ import annotations

import csv
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from a2bench.case import Case
from a2bench.measurement import Measurement
from a2bench.run.store import (
    ResultsWriter,
    StoreError,
    ending,
    load_environment,
    load_passes,
    merge_passes,
)

CASE = Case("se", "cpu", "float32", 1, 8, 1, 4, 4, reduction=2)


def record(process: int, samples: tuple[float, ...], **kw) -> Measurement:
    return Measurement(CASE, "ok", threads=1, process=process, samples_s=samples,
                       latency_s=float(np.median(samples)), peak_bytes=100 + process,
                       first_call_s=1.0 + process, reference_s=0.1 * (process + 1),
                       timed_s=1.0, wall_s=2.0, **kw)


def test_single_pass_is_unchanged():
    m = record(0, (1.0, 2.0, 3.0))
    assert merge_passes([m]) == [m]


def test_passes_pool_samples_and_keep_the_worst_memory():
    a, b = record(0, (1.0, 1.1, 1.2, 1.3, 1.4)), record(1, (2.0, 2.1, 2.2, 2.3, 2.4, 2.5))
    (merged,) = merge_passes([b, a])
    assert merged.processes == 2 and merged.timed_runs == 11
    assert merged.samples_s[:5] == a.samples_s  # pass order, not file order
    assert merged.latency_s == float(np.median(a.samples_s + b.samples_s))
    assert merged.peak_bytes == 101 and merged.timed_s == 2.0 and merged.wall_s == 4.0
    assert merged.latency_ci_low_s is not None and merged.latency_ci_low_s <= merged.latency_s
    assert abs(merged.reference_s - 0.15) < 1e-12


def test_a_pass_stored_twice_counts_once_the_later_record():
    """results.jsonl appended to itself read as twice the passes: 6 pooled passes, twice the
    samples, narrower intervals."""
    from a2bench.run.passes import pass_samples

    a, b = record(0, (1.0, 1.1, 1.2)), record(1, (2.0, 2.1, 2.2))
    again = record(1, (3.0, 3.1, 3.2))
    (merged,) = merge_passes([a, b, a, again])
    assert merged.processes == 2 and merged.samples_s == a.samples_s + again.samples_s
    assert pass_samples([a, b, a, again]) == {CASE.key(): (a.samples_s, again.samples_s)}


def test_a_failed_pass_fails_the_case():
    ok = record(0, (1.0,))
    bad = replace(record(1, (1.0,)), status="timeout", reason="no answer after 5 s")
    (merged,) = merge_passes([ok, bad])
    assert merged.status == "timeout" and "pass 2 of 2" in merged.reason
    other = replace(ok, case=replace(CASE, channels=16))
    assert [m.case.channels for m in merge_passes([ok, other, bad])] == [8, 16]


def test_csv_follows_the_given_order_and_sessions_update_their_own_environment(tmp_path):
    other = replace(CASE, channels=16)
    writer = ResultsWriter(tmp_path, resume=False, order=[CASE.key(), other.key()])
    writer.append(replace(record(0, (1.0,)), case=other))
    writer.append(record(0, (1.0,)))
    with open(tmp_path / "results.csv") as f:
        assert [row["channels"] for row in csv.DictReader(f)] == ["8", "16"]
    assert [m.case.channels for m in load_passes(tmp_path)] == [16, 8]  # running order kept

    writer.write_environment({"order_seed": 1})
    writer.update_session(roofline={"end": 1})
    resumed = ResultsWriter(tmp_path, resume=True)
    resumed.write_environment({"order_seed": 1})
    resumed.update_session(roofline={"end": 2})
    env = load_environment(tmp_path)
    assert env["roofline"] == {"end": 1} and env["resumed_in"][0]["roofline"] == {"end": 2}


def test_a_resume_puts_results_csv_in_step_with_what_is_stored(tmp_path):
    # Killed between a record's fsync and the CSV's replace: 2 records, a CSV of 1 row, and a
    # resume with nothing left to run had left it so (a reader of the CSV read it so).
    other = replace(CASE, channels=16)
    order = [CASE.key(), other.key()]
    writer = ResultsWriter(tmp_path, resume=False, order=order)
    writer.append(record(0, (1.0,)))
    one_row = (tmp_path / "results.csv").read_text()
    writer.append(replace(record(0, (1.0,)), case=other))
    (tmp_path / "results.csv").write_text(one_row)
    ResultsWriter(tmp_path, resume=True, order=order)
    with open(tmp_path / "results.csv") as f:
        assert [row["channels"] for row in csv.DictReader(f)] == ["8", "16"]


def test_a_resume_refuses_a_results_jsonl_that_lost_lines_its_csv_still_counts(tmp_path):
    # results.jsonl cut short (emptied by a power loss, a copy cut short) beside the results.csv
    # written after its lines: a resume had rewritten the CSV from what was left, dropping the
    # lost passes' only copy without a word
    from a2bench.run.store import resume_problem

    writer = ResultsWriter(tmp_path, resume=False)
    writer.append(record(0, (1.0,)))
    one_pass = (tmp_path / "results.csv").read_bytes()
    writer.append(record(1, (2.0,)))
    jsonl, table = tmp_path / "results.jsonl", (tmp_path / "results.csv").read_bytes()
    lines = jsonl.read_bytes().splitlines(keepends=True)
    assert resume_problem(tmp_path, "s") is None
    # a line torn as it was written, which the CSV written after it never counted
    jsonl.write_bytes(lines[0] + lines[1][:-9])
    (tmp_path / "results.csv").write_bytes(one_pass)
    assert resume_problem(tmp_path, "s") is None
    (tmp_path / "results.csv").write_bytes(table)
    for kept, held in ((lines[0], 1), (b"", 0)):
        jsonl.write_bytes(kept)
        assert resume_problem(tmp_path, "s") == (
            f"its results.csv counts 2 case passes but its results.jsonl holds {held}: records "
            "lost from results.jsonl (an edit, a power loss, a copy cut short), whose rows a "
            "resume would drop from results.csv; expected results.jsonl whole: restore it from "
            "a copy, or, to measure the missing passes again, remove results.csv (a2bench "
            "rewrites it from results.jsonl) and resume")
    (tmp_path / "results.csv").unlink()  # the way on it names
    assert resume_problem(tmp_path, "s") is None


def test_a_folder_a_run_was_killed_in_before_its_first_result_is_told_so(tmp_path):
    # kill -9 in the calibration leaves the lock's line alone: report and compare had said "no
    # results.jsonl here (expected a folder written by a2bench run)" of the run's own folder
    from a2bench.run.lock import LOCK

    (tmp_path / LOCK).write_text("a2bench run (pid 4242, since then)\n")
    with pytest.raises(StoreError) as e:
        load_passes(tmp_path)
    assert str(e.value) == (f"{tmp_path}: a run here was stopped before it stored anything (it "
                            "left .a2bench.lock, and no results.jsonl); expected results to "
                            "read: run the sweep again into this folder, without --resume")
    from a2bench.run.lock import holding
    with (holding(tmp_path, "a2bench remodel", create=False),  # its own line: no run's
          pytest.raises(StoreError, match="no results.jsonl here")):
        load_passes(tmp_path)


def test_results_frame_holds_every_stored_result_in_the_csvs_order(tmp_path):
    # Stopped between a record's fsync and the CSV's rewrite, results.csv lags a row until a
    # resume rewrites it, and Results.frame had read the CSV: fits() counted a result it lacked
    import subprocess
    import sys

    import pandas as pd
    from conftest import child_pythonpath

    from a2bench import Results

    cases = [replace(CASE, channels=c) for c in (8, 16, 32)]
    order = [c.key() for c in cases]
    writer = ResultsWriter(tmp_path, resume=False, order=order)
    for c in (cases[2], cases[0]):  # running order: 32, 8, then 16
        writer.append(replace(record(0, (1.0,)), case=c))
    two_rows = (tmp_path / "results.csv").read_text()
    writer.append(replace(record(0, (1.0,)), case=cases[1]))
    (tmp_path / "results.csv").write_text(two_rows)
    # the CSV's order (the suite's, not results.jsonl's running order), what it lacks last
    assert list(Results(tmp_path).frame["channels"]) == [8, 32, 16]
    ResultsWriter(tmp_path, resume=True, order=order)  # in step again: the frame is the CSV
    pd.testing.assert_frame_equal(Results(tmp_path).frame,
                                  pd.read_csv(tmp_path / "results.csv"))
    code = (f"import sys, a2bench; print(len(a2bench.Results({str(tmp_path)!r}).frame), "
            "'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": child_pythonpath()})
    assert done.stdout.split() == ["3", "False"], done.stderr  # read without torch


def test_how_a_run_ended_is_read_from_its_last_session():
    roof = {"start": {"gemm_flops_per_s": 1e11}, "end": None}
    assert ending({"ended": "interrupted", "roofline": roof}) == "interrupted"
    assert ending({"roofline": roof}) == "stopped"  # no end recorded: died, or still running
    assert ending({"roofline": {**roof, "end": {"gemm_flops_per_s": 1e11}}}) == "finished"
    assert ending({"roofline": {**roof, "end_error": "worker lost"}}) == "finished"
    assert ending({"roofline": {"gemm_flops_per_s": 1e11}}) == ""  # older runs cannot tell
    assert ending({}) == ""
    # a resumed run: its last session decides
    assert ending({"ended": "interrupted", "resumed_in": [{"ended": "finished"}]}) == "finished"
    assert ending({"ended": "finished", "resumed_in": [{"roofline": roof}]}) == "stopped"


def test_passes_without_raw_samples_pool_to_their_medians():
    """Records that kept no samples (a hand-made or trimmed store) raised IndexError from the
    IQR of nothing in report, compare and remodel."""
    a = replace(record(0, (1.0,)), samples_s=(), latency_s=1.0)
    b = replace(record(1, (1.0,)), samples_s=(), latency_s=3.0)
    (merged,) = merge_passes([a, b])
    assert merged.latency_s == 2.0 and merged.processes == 2 and merged.samples_s == ()
    assert merged.latency_iqr_s is None and merged.latency_ci_low_s is None


@pytest.mark.parametrize("text,said", [
    ('{"host": "vm",', "not valid JSON"),
    ("[]", "holds a JSON list; expected an object"),
    ('{"roofline": "fast"}', "roofline is 'fast'; expected an object"),
    ('{"threads": "one"}', "threads is 'one'; expected a number"),
    ('{"overhead": {"cases": "x"}}', "overhead.cases is 'x'; expected a list of objects"),
    ('{"resumed_in": ["x"]}', "resumed_in is \\['x'\\]; expected a list of objects"),
    ('{"per_host": "x"}', "per_host is 'x'; expected an object"),
    ('{"resumed_in": [{"roofline": "fast"}]}', "resumed_in\\[0\\].roofline is 'fast'"),
    ('{"resumed_in": [{"rooflines": {"float32": 1}}]}', "resumed_in\\[0\\].rooflines.float32 is 1"),
    ('{"resumed_in": [{"rooflines": "x"}]}', "resumed_in\\[0\\].rooflines is 'x'"),
    ('{"warnings": "a string"}', "warnings is 'a string'; expected a list of strings"),
])
def test_a_damaged_environment_is_one_line(tmp_path, text, said):
    from a2bench.run.store import StoreError, load_environment

    (tmp_path / "environment.json").write_text(text)
    with pytest.raises(StoreError, match=said) as e:
        load_environment(tmp_path)
    assert "\n" not in str(e.value)
    assert load_environment(tmp_path / "none") == {}


def test_a_sweep_stopped_before_it_stored_anything_is_told_to_run_again_not_resume(tmp_path):
    # its folder went with it (run.lock), and the printed "--resume" had been refused there
    from a2bench.run.options import RunOptions

    options = RunOptions(out=tmp_path / "never", suite="s.yaml", threads=2)
    line = options.stopped_line(0)
    assert line.startswith(f"interrupted before anything was stored in {tmp_path / 'never'}; "
                           "run it again with: ")
    assert "--resume" not in line and "--threads 2" in line
    (tmp_path / "never").mkdir()
    (tmp_path / "never" / "results.jsonl").write_text("")
    line = options.stopped_line(3)
    assert line.startswith(f"interrupted; 3 results are saved in {tmp_path / 'never'}. Resume "
                           "with: ") and " --resume " in line


@pytest.mark.parametrize("code,said,remedy", [
    ("ENOSPC", "no space left on device", "make room"),
    # a file of its own it may not write (read-only, immutable): a PermissionError traceback
    ("EACCES", "permission denied", "make it writable")])
def test_a_full_disk_stops_the_sweep_in_one_line_keeping_what_was_stored(tmp_path, monkeypatch,
                                                                         code, said, remedy):
    # ENOSPC had ended `a2bench run` in three chained tracebacks (exit 1), with no resume line
    # and a 0-byte results.csv.tmp left beside the results.
    import errno
    import os

    import a2bench
    from a2bench.errors import InputError
    from a2bench.run import store

    append = store.ResultsWriter.append

    def full_after_one(self, m):
        if self.records:
            raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)),
                          str(self.jsonl))
        append(self, m)

    monkeypatch.setattr(store.ResultsWriter, "append", full_after_one)
    out = tmp_path / "out"
    suite = {"blocks": ["se"], "params": {"channels": [8], "reduction": [2], "h": [4, 8],
                                          "w": [4, 8]}, "zip": [["h", "w"]]}
    with pytest.raises(InputError) as error:
        a2bench.sweep(suite, out, threads=1, time_budget=0.05, calibration_time=0.01,
                      progress=False)
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"a2bench.sweep: {said} writing {out}/results.jsonl; 1 result is "
                           f"saved in {out}, each whole; {remedy}, then resume with: "), text
    # a sweep started from Python goes on with a call (its suite was a dict, no file)
    assert text.endswith(f"a2bench.sweep(SUITE, '{out}', resume=True, threads=1, "
                         "time_budget=0.05, calibration_time=0.01) with SUITE the dict it "
                         "began with"), text
    assert len(load_passes(out)) == 1 and not list(out.glob("*.tmp"))


def test_a_write_cut_short_leaves_no_half_file_behind(tmp_path, monkeypatch):
    # a full disk while results.csv or environment.json was rewritten had left a 0-byte or
    # partial .tmp beside the results
    import errno

    from a2bench.run import store

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full)
    with pytest.raises(OSError):
        store.write_csv(tmp_path / "results.csv", [record(0, (1.0,))])
    with pytest.raises(OSError):
        store.atomic_write(tmp_path / "environment.json", "{}")
    assert list(tmp_path.iterdir()) == []
    # files written together (a report's pages): the second's full disk takes the first's too
    from a2bench.run.durable import atomic_write_all

    synced = []
    monkeypatch.setattr(store.os, "fsync", lambda fd: full(fd) if synced else synced.append(fd))
    with pytest.raises(OSError):
        atomic_write_all({tmp_path / "report.md": "#", tmp_path / "index.html": "<"})
    assert synced and list(tmp_path.iterdir()) == []


def test_a_folder_sync_that_the_filesystem_refuses_is_let_be(tmp_path, monkeypatch):
    # FUSE and SMB mounts refuse fsync on a folder (EINVAL): every write had failed after its
    # data was safe. A full disk still says so.
    import errno

    from a2bench.run import store

    def refuse(code):
        def fsync(fd):
            raise OSError(code, os.strerror(code))
        return fsync

    monkeypatch.setattr(store.os, "fsync", refuse(errno.EINVAL))
    store.fsync_folder(tmp_path)
    monkeypatch.setattr(store.os, "fsync", refuse(errno.ENOSPC))
    with pytest.raises(OSError):
        store.fsync_folder(tmp_path)


def test_a_resume_line_takes_the_last_sessions_flags():
    # ci_gate.sh adds a pass a session (--processes i+1 --resume): the first session's flags
    # had resumed an interrupted fifth pass to the first's end, leaving it missing
    from a2bench.run.store import resume_line

    env = {"suite_path": "suites/gate.yaml", "run_flags": ["--processes", "1"],
           "resumed_in": [{"run_flags": ["--processes", "2"]}, {"run_flags": ["--processes", "5"]}]}
    assert resume_line(env, Path("out"), False) == ("a2bench run suites/gate.yaml --out out "
                                                    "--resume --processes 5")
    assert resume_line({**env, "resumed_in": [{}]}, Path("out"), False).endswith("--processes 1")


def test_a_resume_line_names_the_suite_from_where_it_is_printed(tmp_path, monkeypatch):
    # begun in one folder and reported from another, the line had joined the suite's path as
    # typed there to an --out relative to here: "tiny.yaml: no such suite file"
    from a2bench.run.store import resume_line

    (tmp_path / "work" / "suites").mkdir(parents=True)
    env = {"suite_path": "suites/tiny.yaml", "suite_from_out": "../../suites/tiny.yaml",
           "run_flags": []}
    monkeypatch.chdir(tmp_path)
    assert resume_line(env, Path("work/out/run"), False) == (
        "a2bench run work/suites/tiny.yaml --out work/out/run --resume")
    (tmp_path / "work" / "out").mkdir()
    monkeypatch.chdir(tmp_path / "work" / "out")  # the suite outside here: its whole path
    assert resume_line(env, Path("run"), False) == (
        f"a2bench run {tmp_path.resolve()}/work/suites/tiny.yaml --out run --resume")
    # a run from before suite_from_out: the path as typed
    old = {"suite_path": "suites/tiny.yaml", "run_flags": []}
    assert resume_line(old, Path("x"), False) == "a2bench run suites/tiny.yaml --out x --resume"


def test_a_reader_names_the_run_writing_a_folder_and_not_a_lock_of_its_own(tmp_path):
    # a report (or compare) on a folder a live sweep was calibrating in said "no results.jsonl
    # here" or "stored no result before it stopped; resume it with ...", a line the live run's
    # lock then refused
    import json

    from conftest import held_elsewhere

    from a2bench.run.lock import LOCK, busy, holding, live_writer
    from a2bench.run.store import StoreError

    out = tmp_path / "live"
    out.mkdir()
    assert live_writer(out) is None and busy(out) is None
    with held_elsewhere(out) as line:
        assert line.startswith("a2bench run (pid ") and live_writer(out) == line
        assert live_writer(out) == line  # the probe let its own lock go: asked again, the same
        assert busy(out) == (f"{line} is writing this folder now; expected one writer at a "
                             "time: wait for it to end, or choose another folder")
        for env in (None, {"suite": "s", "roofline": {"start": {}}}):  # calibrating
            if env:
                (out / "environment.json").write_text(json.dumps(env))
            with pytest.raises(StoreError) as e:
                load_passes(out)
            assert str(e.value) == (f"{out}: {line} is writing this folder now and has stored "
                                    "no result yet; expected results to read: try again once "
                                    "a case ends")
    sweep = tmp_path / "sweep"  # a Slurm driver's: its results are in its partitions'
    sweep.mkdir()
    (sweep / ".slurm.json").write_text("{}")
    with (held_elsewhere(sweep, "a2bench run --executor slurm"),
          pytest.raises(StoreError, match="a Slurm sweep's folder; its results are in each")):
        load_passes(sweep)
    assert live_writer(out) is None
    (out / LOCK).write_text("a2bench run (pid 1, since then)\n")  # a killed run's: no lock
    assert live_writer(out) is None
    with holding(out, "a2bench remodel", create=False):  # this process's own lock: no other
        assert live_writer(out) is None                  # writer (remodel reads what it holds)
        with pytest.raises(StoreError, match="stored no result before it stopped"):
            load_passes(out)


def test_a_writer_starting_while_a_reader_probes_is_not_refused(tmp_path):
    # the probe holds a shared lock for an instant: a sweep starting then had been refused as
    # if "another process" wrote the folder
    import fcntl
    import threading

    from a2bench.errors import InputError
    from a2bench.run.lock import holding

    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a reader's probe, no LOCK line
        threading.Timer(0.02, fcntl.flock, (fd, fcntl.LOCK_UN)).start()
        with holding(tmp_path, "a2bench run"):
            pass
        # a killed run's LOCK line left behind: a probe then had refused the new writer at
        # once, naming the dead pid
        (tmp_path / ".a2bench.lock").write_text("a2bench run (pid 999999, since then)\n")
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        threading.Timer(0.02, fcntl.flock, (fd, fcntl.LOCK_UN)).start()
        with holding(tmp_path, "a2bench run"):
            pass
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # held on: refused, in one line
        with (pytest.raises(InputError, match="another process is writing this folder now"),
              holding(tmp_path, "a2bench run")):
            pass
    finally:
        os.close(fd)
