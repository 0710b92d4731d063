from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from cli_here import cli_here
from conftest import ROOT, cli, refusals_in_a_child

from a2bench.case import Case
from a2bench.cli import main
from a2bench.listing import first_clause
from a2bench.measurement import CSV_COLUMNS
from a2bench.run.calibration import CALIBRATING_SHARE, end_cost_s, end_sizes, roofline_record
from a2bench.run.runner import pass_order
from a2bench.suite import expand, load_suite

REQUIRED = [
    "block", "device", "dtype", "threads", "batch", "channels", "m", "n", "t", "h", "w",
    "reduction", "positions", "macs_analytic", "flops_analytic", "macs_fvcore", "macs_torch",
    "latency_s", "latency_iqr_s", "peak_bytes", "peak_bytes_analytic", "status", "reason",
]

GOOD = """name: g
blocks: [se]
params: {channels: [8], h: [4], w: [4], reduction: [2]}
"""


# One stored record, as a run writes it (the first of a run this repository keeps).
RECORD = (ROOT / "results" / "cpu-your-block" / "full-1" / "results.jsonl").read_text(
    ).splitlines(keepends=True)[0]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("text,needle", [
    ("name: x\nblocks: [se\n", "invalid YAML at line"),
    ("name: x\nblocks: [unet]\nparams: {channels: [8], h: [4], w: [4]}\n", "blocks[0]"),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [4], w: [4], q: [1]}\n", "params.q"),
    ("name: x\nblocks: [se]\nruns: 3\nparams: {channels: [8], h: [4], w: [4]}\n", "runs"),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [-4], w: [4]}\n", "params.h[0]"),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [2.5], w: [4]}\n", "params.h[0]"),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [4], w: [4], reduction: [32]}\n",
     "params.reduction"),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [4], w: [4], reduction: [2]}\n"
     "cuda:\n  params: {h: [-2]}\n", "params.h[0]: expected a positive integer, got -2 (in the "
     "cuda: section"),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [4, 8], w: [4], reduction: [2]}\n"
     "zip: [[h, w]]\n", "with lengths h 2, w 1"),
    # a list or mapping where a word goes had been "unhashable type" tracebacks
    ("dtype: [float32]\n" + GOOD, "dtype: expected one of float32, float64, float16, bfloat16, "
     "got ['float32']"),
    ("dtype: {}\n" + GOOD, "dtype: expected one of float32, float64, float16, bfloat16, got {}"),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [4, 8], w: [4, 8], reduction: [2]}\n"
     "zip: [[[h], w]]\n", "zip[0]: expected axes that appear under params, got ['h']"),
])
def test_bad_suite_is_one_line_and_exit_2(tmp_path, capsys, write_suite, text, needle):
    path = write_suite(text)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert str(path) in err and needle in err and "expected" in err
    assert not out.exists()  # nothing was started or written
    if "zip[0]" in needle or "dtype" in needle:  # plan and audit read the suite alike
        for argv in (["plan", str(path)], ["audit", "--suite", str(path)]):
            assert main(argv) == 2
            assert needle in one_line_error(capsys)


def test_missing_suite_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "no such suite file" in one_line_error(capsys)


@pytest.mark.parametrize("flag", [["--threads", "0"], ["--threads", "two"],
                                  ["--memory-budget", "lots"], ["--case-timeout", "-1"],
                                  ["--seed", "x"], ["--seed", "-3"], ["--seed", "1.5"],
                                  ["--calibration-time", "0"], ["--calibration-time", "soon"],
                                  ["--time-budget", "inf"], ["--budget", "inf"],
                                  ["--case-timeout", "inf"], ["--ci-target", "5"],
                                  ["--memory-budget", "0.1"], ["--threads", "100000"]])
def test_bad_flags(tmp_path, capsys, write_suite, flag):
    assert main(["run", str(write_suite(GOOD)), "--out", str(tmp_path / "o"), *flag]) == 2
    assert flag[0] in one_line_error(capsys)


@pytest.mark.parametrize("command,flag,value,largest", [
    (command, *wait) for wait in (
        ("--case-timeout", "3e6", "1,000,000 seconds (about 11.6 days)"),
        ("--case-timeout", "1e308", "1,000,000 seconds (about 11.6 days)"),
        ("--time-budget", "2e6", "1,000,000 seconds (about 11.6 days)"),
        ("--budget", "1e10", "1,000,000 seconds (about 11.6 days)"),
        ("--calibration-time", "30000", "10,000 seconds (about 2.8 hours)"))
    for command in ("run", "plan") if command == "run" or wait[0] != "--case-timeout"])
def test_a_wait_past_what_a_worker_is_awaited_is_refused_naming_the_largest(
        tmp_path, capsys, write_suite, command, flag, value, largest):
    """--case-timeout 3e6 (or --calibration-time 30000, waited 300 + 100 times) had been taken,
    and the run died after its start in an OverflowError traceback: a worker's answer was
    awaited in one poll() of at most 2**31 ms."""
    # refused before the suite or --out is looked at (a file here, refused too had it been taken:
    # the test ends at once, not after a calibration of 30000 s a timing)
    taken = tmp_path / "a-file"
    taken.write_text("mine\n")
    argv = [command, str(write_suite(GOOD)), *(["--out", str(taken)] if command == "run" else [])]
    assert main([*argv, flag, value]) == 2
    assert one_line_error(capsys) == (f"a2bench: error: a2bench {command}: argument {flag}: "
                                      f"expected at most {largest}, got '{value}' (see a2bench "
                                      f"{command} --help)")


def test_a_worker_is_awaited_a_day_at_a_time_however_long_the_wait(monkeypatch):
    """A pass's interleaved timing waits twice its timing budget: over many cases, past the
    2**31 ms one poll() takes, which had raised OverflowError after hours of measuring."""
    from types import SimpleNamespace

    from a2bench.run import runner
    from a2bench.run.runner import POLL_S, answered

    clock = [0.0]  # the seconds each poll waited, without waiting them
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    class Silent:  # a worker that answers after some polls, or never
        def __init__(self, answer_after: int | None = None):
            self.polls: list[float] = []
            self.answer_after = answer_after

        def poll(self, timeout: float) -> bool:
            self.polls.append(timeout)
            if self.answer_after is not None and len(self.polls) > self.answer_after:
                return True
            clock[0] += timeout
            return False

    for timeout in (3e6, float("inf"), 1e308):
        conn = Silent(answer_after=5)
        assert answered(conn, timeout)
        assert len(conn.polls) == 6 and max(conn.polls) == POLL_S
    conn = Silent()
    assert not answered(conn, 0.01) and conn.polls == [pytest.approx(0.01)]
    conn = Silent()
    assert not answered(conn, 2.5 * POLL_S)
    assert conn.polls == [POLL_S, POLL_S, pytest.approx(0.5 * POLL_S)]


@pytest.mark.parametrize("flag", [["--memory-budget", "-1G"], ["--time-budget", "-5s"],
                                  ["--budget", "-.5"]])
def test_a_negative_value_is_checked_as_a_value_not_taken_for_an_option(tmp_path, capsys,
                                                                         write_suite, flag):
    assert main(["run", str(write_suite(GOOD)), "--out", str(tmp_path / "o"), *flag]) == 2
    said = one_line_error(capsys)  # the value's own check, not argparse's "expected one ..."
    assert f"{flag[0]}:" in said and flag[1] in said and "expected one argument" not in said


def test_a_suite_asking_more_threads_than_cpus_is_one_line(tmp_path, capsys, write_suite):
    path = write_suite(GOOD.replace("blocks:", "threads: 100000\nblocks:"))
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    said = one_line_error(capsys)
    assert f"{path}: threads 100000: expected at most the" in said
    assert "--threads N overrides the suite's" in said
    assert not (tmp_path / "o").exists()


def test_resuming_at_another_thread_count_is_one_line(tmp_path, capsys, write_suite):
    out = tmp_path / "o"
    out.mkdir()
    before = json.dumps({"suite": "g", "threads": 3, "note": "kept"})
    (out / "environment.json").write_text(before)
    path = write_suite(GOOD.replace("blocks:", "threads: 1\nblocks:"))
    assert main(["run", str(path), "--out", str(out), "--resume"]) == 2
    assert one_line_error(capsys) == (
        f"a2bench: error: --out {out}: its sweep ran at 3 threads, this one would run at 1 (the "
        "suite's threads:); expected --threads 3 to resume it, or another --out")
    assert (out / "environment.json").read_text() == before  # nothing stored is touched


def test_resume_of_nothing_and_a_fresh_run_onto_a_begun_sweep_are_refused(tmp_path, capsys,
                                                                         write_suite):
    """--resume onto a folder holding no sweep (a typo in --out) began a new one silently; a
    new run into a folder a killed run left with its environment.json alone was filed under
    that run's environment, its suite and timing misreported."""
    path = str(write_suite(GOOD))
    assert main(["run", path, "--out", str(tmp_path / "typo"), "--resume"]) == 2
    assert "--resume: " in one_line_error(capsys) and not (tmp_path / "typo").exists()
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "environment.json").write_text(json.dumps({"suite": "other"}))
    assert main(["run", path, "--out", str(killed)]) == 2
    assert "already holds a sweep of suite 'other', not 'g'; choose another --out" in \
        one_line_error(capsys)
    assert sorted(p.name for p in killed.iterdir()) == ["environment.json"]


@pytest.mark.parametrize(("env", "told"), [
    # another suite's sweep: "pass --resume" had sent the user to a resume refused for its suite
    ({"suite": "other", "ended": "finished"},
     "a sweep of suite 'other', not 'g'; choose another --out"),
    # a finished one: "pass --resume to continue it" had offered to continue what had ended
    ({"suite": "g", "ended": "finished"}, "a finished sweep of suite 'g'; choose another --out"),
    ({"suite": "g", "ended": "interrupted"}, "a sweep; pass --resume to continue it"),
])
def test_a_run_into_a_folder_with_a_sweep_is_told_whether_resume_would_go_on(
        tmp_path, capsys, write_suite, env, told):
    out = tmp_path / "out"
    out.mkdir()
    (out / "environment.json").write_text(json.dumps(env))
    assert main(["run", str(write_suite(GOOD)), "--out", str(out)]) == 2
    assert f"already holds {told}" in one_line_error(capsys)


def test_resume_of_a_run_killed_before_it_stored_anything_says_to_run_it_again(
        tmp_path, capsys, write_suite):
    """kill -9 in the start-up leaves the lock's line (and maybe a half-written
    environment.json): --resume there had said "holds no sweep to resume; expected an earlier
    run's --out", naming no way on, where a plain rerun is what works."""
    path = str(write_suite(GOOD))
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / ".a2bench.lock").write_text("a2bench run (pid 4242, since 06:00)\n")
    (killed / "environment.json.tmp").write_text('{"suite": "g", "thr')
    assert main(["run", path, "--out", str(killed), "--resume", "--time-budget", "0.1"]) == 2
    assert one_line_error(capsys) == (
        f"a2bench: error: --resume: {killed}: the run there was stopped before it stored "
        "anything (it left only .a2bench.lock and environment.json.tmp), so there is nothing "
        f"to resume; run it again without --resume: a2bench run {path} --out {killed} "
        "--time-budget 0.1")
    assert sorted(p.name for p in killed.iterdir()) == [".a2bench.lock", "environment.json.tmp"]


def test_a_stop_in_a_resumes_start_up_counts_the_results_already_stored(
        tmp_path, capsys, write_suite, monkeypatch):
    """Ctrl-C in the calibration of a resume, where the sweep raises rather than returns: it
    had said "0 results are saved" of a folder holding 6."""
    from a2bench.measurement import Measurement
    from a2bench.run import sweep
    from a2bench.run.store import ResultsWriter

    out = tmp_path / "out"
    writer = ResultsWriter(out, resume=False)
    for h in (4, 6):
        writer.append(Measurement(Case("se", "cpu", "float32", 1, 8, 1, h, h, reduction=2),
                                  "ok"))
    (out / "environment.json").write_text(json.dumps({"suite": "g"}))

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep.Sweep, "run", interrupted)
    assert main(["run", str(write_suite(GOOD)), "--out", str(out), "--resume"]) == 130
    assert (f"a2bench: interrupted; 2 results are saved in {out}. Resume with: "
            in capsys.readouterr().err)


def test_resume_without_out_says_which_folder_is_missing(tmp_path, capsys, write_suite):
    assert main(["run", str(write_suite(GOOD)), "--resume"]) == 2
    assert "--resume: expected --out DIR" in one_line_error(capsys)
    assert main(["run", str(write_suite(GOOD)), "--executor", "slurm"]) == 2
    assert "--executor slurm: expected --out DIR on a filesystem the nodes share" in \
        one_line_error(capsys)


def test_a_run_refused_for_its_input_loads_no_pandas_or_scipy(tmp_path, write_suite):
    """Its one line comes before the sweep and its summary load pandas and scipy, 2 s of CPU
    that each refusal (a bad --out, suite, plugin or option) had paid first; a given --out's
    (a file, a sweep's folder without --resume, a --resume of no sweep) also before the suite's
    blocks load torch (3 s more). One child: what was loaded is asked after each."""
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n")
    swept, empty = tmp_path / "swept", tmp_path / "empty"
    shutil.copytree(ROOT / "results" / "cpu-your-block" / "full-1", swept)
    empty.mkdir()
    suite = str(write_suite(GOOD))
    argvs = [["run", suite, "--out", str(afile)], ["run", suite, "--out", str(swept)],
             ["run", suite, "--out", str(empty), "--resume"]]
    said = refusals_in_a_child(argvs)
    assert said == [
        [2, f"a2bench: error: --out {afile}: is a file; expected a folder for the run (new, or "
            "one with no other results)", []],
        # another suite's sweep, named from the suite file's `name:` without loading it
        [2, f"a2bench: error: {swept}: already holds a sweep of suite 'mine', not 'g'; choose "
            "another --out", []],
        [2, f"a2bench: error: --resume: {empty} holds no sweep to resume; expected an earlier "
            "run's --out", []]]


def test_a_folder_to_read_that_is_not_one_is_refused_before_pandas_scipy_or_torch(tmp_path):
    """report, compare and remodel had loaded them first (3-6 s of CPU on the 2-core VM) to say
    that a mistyped folder is not there. One child: what was loaded is asked after each."""
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n")
    gone, stored = tmp_path / "gone", str(ROOT / "results" / "cpu-video")
    argvs = [["report", str(gone)], ["remodel", str(afile)], ["compare", str(gone), stored],
             ["compare", stored, str(afile)], ["report", stored, str(gone)]]
    said = refusals_in_a_child(argvs)
    expected = "(expected a results folder written by a2bench run, holding results.jsonl)"
    assert said == [
        [2, f"a2bench: error: {gone}: no such folder {expected}", []],
        [2, f"a2bench: error: {afile}: a file, not a folder {expected}", []],
        [2, f"a2bench: error: {gone}: no such folder (expected the base results folder written "
            "by a2bench run)", []],
        [2, f"a2bench: error: {afile}: a file, not a folder (expected the head results folder "
            "written by a2bench run)", []],
        [2, f"a2bench: error: {gone}: no such folder {expected}", []]]
    # the loaders say the same where they are called from Python (Results, a script)
    from a2bench.analysis import load_runs
    from a2bench.compare.load import load_side
    from a2bench.errors import InputError
    from a2bench.run.remodel import remodel

    calls = (lambda: load_runs([gone]), lambda: remodel(afile), lambda: load_side(gone, "base"))
    for call, (_, line, _) in zip(calls, said, strict=False):
        with pytest.raises(InputError) as e:
            call()
        assert f"a2bench: error: {e.value}" == line


@pytest.mark.parametrize("command", [["run", "SUITE"], ["audit"]])
def test_an_out_that_is_a_file_or_under_one_is_one_line(tmp_path, capsys, write_suite,
                                                          command):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine\n")
    argv = [str(write_suite(GOOD)) if a == "SUITE" else a for a in command]
    assert main([*argv, "--out", str(afile)]) == 2
    assert f"--out {afile}: is a file; expected a folder" in one_line_error(capsys)
    assert main([*argv, "--out", str(afile / "run")]) == 2
    assert f"--out {afile / 'run'}: {afile} is a file; expected a folder there" in \
        one_line_error(capsys)
    assert afile.read_text() == "mine\n"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", [["run", "SUITE"], ["audit"]])
def test_an_out_that_cannot_be_made_is_one_line_before_anything_runs(capsys, write_suite,
                                                                     command):
    """/proc takes no new folder (even as root): said in one line, before the calibration."""
    argv = [str(write_suite(GOOD)) if a == "SUITE" else a for a in command]
    assert main([*argv, "--out", "/proc/a2bench-nowhere/run"]) == 2
    assert "--out /proc/a2bench-nowhere/run: cannot be made in /proc" in one_line_error(capsys)


def test_resuming_with_another_suite_or_a_corrupt_store_is_refused_before_it_runs(
        tmp_path, capsys, write_suite):
    """--resume into a folder that holds another suite's sweep would mix two suites in one
    results set; a corrupt results.jsonl cannot be resumed. Both are one line, before the
    calibration, and leave the folder as it was."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "environment.json").write_text(json.dumps({"suite": "another"}))
    suite = str(write_suite(GOOD))
    assert main(["run", suite, "--out", str(out), "--resume"]) == 2
    err = one_line_error(capsys)
    assert f"--out {out}: holds a sweep of suite 'another', not 'g'" in err, err
    (out / "environment.json").write_text(json.dumps({"suite": "g"}))
    (out / "results.jsonl").write_text('{"broken\n')
    assert main(["run", suite, "--out", str(out), "--resume"]) == 2
    err = one_line_error(capsys)
    assert ("results.jsonl: line 1 is not a valid result (not JSON: Unterminated string "
            "starting at character 2); expected one JSON object per line, as a2bench run "
            "writes: repair that line, or delete it (its record lost: one case pass) "
            "and results.csv (rewritten from the records), and a2bench run --resume "
            "on this folder measures it again") in err, err
    (out / "results.jsonl").write_text('{"status": "ok"}\n')
    assert main(["run", suite, "--out", str(out), "--resume"]) == 2
    assert "line 1 is not a valid result (no field 'case')" in one_line_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["environment.json", "results.jsonl"]
    assert (out / "results.jsonl").read_text() == '{"status": "ok"}\n'


@pytest.mark.parametrize("stored,flags,said", [
    # the suite's file was edited since: its stored case is no longer one of the suite's
    ({"suite": "g"}, [], "holds 1 case pass of 1 case this suite does not have (the first: se "),
    ({"suite": "g", "time_budget_s": 1.0, "timing_schedule": "interleaved"},
     ["--time-budget", "0.05"], "its sweep ran with --time-budget 1, this one would run with "
                                "--time-budget 0.05; expected the options it began with"),
    # keeping freed memory moves a large tensor's time: one fit would read two allocators
    ({"suite": "g", "malloc_reuse": False}, ["--malloc-reuse"],
     "its sweep ran with --no-malloc-reuse, this one would run with --malloc-reuse"),
    ({"suite": "g", "time_budget_s": 1.0, "timing_schedule": "interleaved"},
     ["--no-interleave"], "its sweep ran with --interleave, this one would run with "
                          "--no-interleave; expected"),
])
def test_resuming_an_edited_suite_or_other_timing_is_refused_before_it_runs(
        tmp_path, capsys, write_suite, stored, flags, said):
    """One results set is one suite's cases timed one way: a sweep begun at h 5 and resumed at
    h 4, or at another --time-budget, would mix two sweeps; both are one line, nothing
    touched."""
    from a2bench.measurement import Measurement
    from a2bench.run.store import ResultsWriter

    out = tmp_path / "out"
    writer = ResultsWriter(out, resume=False)
    writer.write_environment(stored)
    h = 4 if flags else 5  # GOOD's h is 4
    writer.append(Measurement(Case("se", "cpu", "float32", 1, 8, 1, h, 4, reduction=2), "ok"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["run", str(write_suite(GOOD)), "--out", str(out), "--resume", *flags]) == 2
    err = one_line_error(capsys)
    assert err.startswith(f"a2bench: error: --out {out}: ") and said in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_out_holding_results_is_left_intact(tmp_path, capsys, write_suite):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text("precious\n")
    (out / "results.csv").write_text("precious too\n")
    assert main(["run", str(write_suite(GOOD)), "--out", str(out)]) == 2
    assert "already holds a sweep" in one_line_error(capsys)
    assert (out / "results.jsonl").read_text() == "precious\n"
    assert (out / "results.csv").read_text() == "precious too\n"
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "results.jsonl"]


def test_list_shows_blocks_and_suites(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("double_attention", "nonlocal_right", "se"):
        assert f"  {name}: " in out
    # one line a suite, its name and its description's first clause, to scan
    suites = out.split("\nsuites (in ", 1)[1].splitlines()[1:]
    assert len(suites) == len(list((ROOT / "suites").glob("*.yaml")))
    smoke = next(x for x in suites if x.split()[0] == "smoke")
    assert smoke.endswith("  a few tiny cases of each block (the tests and the exact CI gate)")
    default = next(x for x in suites if x.split()[0] == "default")
    assert default.split(None, 1)[1] == first_clause(load_suite(ROOT / "suites/default.yaml")
                                                     .description)
    assert main(["list", "--long"]) == 0
    long = capsys.readouterr().out
    assert "at 1 thread whatever the cores" in " ".join(long.split())  # wrapped at 100
    assert max(len(x) for x in long.split("\nsuites (in ", 1)[1].splitlines()[1:]) <= 100
    entry = long.split("\n  default ", 1)[1]
    entry = entry[:next((m.start() for m in re.finditer(r"\n  \S", entry)), len(entry))]
    assert entry.endswith("[threads: 1]")  # its last wrapped line


def test_first_clause_ends_outside_brackets_and_within_the_limit():
    assert first_clause("sizes (a; b. c) for all; then more") == "sizes (a; b. c) for all"
    assert first_clause("one sentence. Another") == "one sentence"
    assert first_clause("c=0.5 x") == "c=0.5 x"
    long = first_clause("word " * 40, limit=30)
    assert long == "word word word word word …" and len(long) <= 30


@pytest.mark.parametrize("suite_device,flag", [("device: cuda\n", []), ("", ["--device", "cuda"])])
def test_cuda_without_cuda_is_one_line_and_exit_2(tmp_path, capsys, write_suite, suite_device,
                                                  flag):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal path needs a machine without it")
    out = tmp_path / "out"
    assert main(["run", str(write_suite(GOOD + suite_device)), "--out", str(out), *flag]) == 2
    line = one_line_error(capsys)
    assert ("--device cuda" if flag else "device: cuda") in line and "no CUDA device" in line
    assert not out.exists()  # refused before a worker started or a file was written


@pytest.mark.parametrize("flag,needle", [(["--device", "tpu"], "--device"),
                                         (["--dtype", "int8"], "--dtype")])
def test_bad_device_or_dtype_flag(tmp_path, capsys, write_suite, flag, needle):
    assert main(["run", str(write_suite(GOOD)), "--out", str(tmp_path / "o"), *flag]) == 2
    assert needle in one_line_error(capsys)


FIRST = "blocks: [se]\nthreads: 1\nparams: {channels: [32], h: [4], w: [4], reduction: [8]}\n"
FIRST_FLAGS = ("--processes", "1", "--time-budget", "0.05", "--calibration-time", "0.01",
               "--no-progress", "--dtype", "float64", "--malloc-reuse")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A suite with no name run with no --out, from a folder of its own, by the CLI's main() in
    this process (test_run_smoke_end_to_end runs a child): (that folder, the finished command).
    Read by the three tests below, which had each run a sweep of their own; its --dtype and
    --malloc-reuse are the dtype test's."""
    here = tmp_path_factory.mktemp("first")
    (here / "first.yaml").write_text(FIRST)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(here)
        return here, cli_here("run", str(here / "first.yaml"), *FIRST_FLAGS)


def test_dtype_flag_overrides_the_suite_and_malloc_reuse_reaches_the_worker(first_run):
    tmp_path, result = first_run
    assert result.returncode == 0, result.stderr
    (out,) = (tmp_path / "results" / "local").iterdir()
    with open(out / "results.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["dtype"] == "float64" and row["status"] == "ok"  # the suite names no dtype
    assert int(row["peak_bytes_analytic"]) % 8 == 0
    env = json.loads((out / "environment.json").read_text())
    assert env["dtype"] == "float64" and env["roofline"]["dtype"] == "float64"
    assert env["blocks"]["se"]["params"][0]["name"] == "reduction"
    if env["allocator"]["name"] == "glibc":  # read in the worker, where glibc reads it
        assert env["allocator"]["mmap_threshold_source"] == "MALLOC_MMAP_THRESHOLD_"
        assert env["allocator"]["mmap_threshold_bytes"] == env["allocator"][
            "trim_threshold_bytes"] == 2**32


def test_a_first_suite_runs_and_reports_with_no_name_and_no_out(first_run, monkeypatch):
    tmp_path, result = first_run
    assert result.returncode == 0, result.stderr
    (out,) = (tmp_path / "results" / "local").iterdir()
    assert re.fullmatch(r"first-\d{8}-\d{6}", out.name) and (out / "results.csv").exists()
    # What runs before the first case, and after the last, is said as it starts.
    assert result.stderr.splitlines()[0] == ("a2bench: first: measuring this cpu's GEMM and "
                                             "copy ceilings, then the harness's per-call "
                                             "overhead, before the cases")
    assert "a2bench: first: 1 case (0 already stored) on cpu, 1 thread (the suite's)," in \
        result.stderr
    assert json.loads((out / "environment.json").read_text())["threads_source"] == "suite"
    assert "a2bench: measuring the GEMM ceiling again" in result.stderr
    where = out.relative_to(tmp_path)
    assert f"Report: a2bench report {where}  (writes {where / 'report'})" in result.stdout
    monkeypatch.chdir(tmp_path)
    report = cli_here("report", str(where))
    assert report.returncode == 0, report.stderr
    assert (out / "report" / "index.html").exists()


def test_a_resume_with_nothing_left_calibrates_nothing_and_writes_nothing(tmp_path, first_run):
    # `--resume` on a finished folder had measured the ceilings at both ends (seconds of CPU),
    # started a worker for no case and filed a session that ran nothing
    import shutil

    suite = tmp_path / "first.yaml"
    suite.write_text(FIRST)
    out = tmp_path / "out"
    assert first_run[1].returncode == 0, first_run[1].stderr
    (finished,) = (first_run[0] / "results" / "local").iterdir()  # that run, as it finished
    shutil.copytree(finished, out, ignore=shutil.ignore_patterns("report"))
    args = ("run", str(suite), "--out", str(out), *FIRST_FLAGS)
    env = (out / "environment.json").read_bytes()
    done = cli_here(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"a2bench: first: 1 case pass, all already stored in {out}, whose run "
                           "finished: nothing left to run, so nothing is calibrated or started\n")
    assert "0 case passes run (1 reused); the 1 case: ok 1." in done.stdout
    assert (out / "environment.json").read_bytes() == env
    # a run with no end recorded still has its end to record: it calibrates as it ends
    stopped = json.loads(env)
    stopped["ended"] = "interrupted"
    (out / "environment.json").write_text(json.dumps(stopped))
    again = cli_here(*args, "--resume")
    assert again.returncode == 0 and "measuring this cpu's GEMM" in again.stderr
    assert json.loads((out / "environment.json").read_text())["resumed_in"][-1][
        "ended"] == "finished"


@pytest.mark.slow
def test_run_smoke_end_to_end(tmp_path):
    out = tmp_path / "smoke"
    result = cli("run", "suites/smoke.yaml", "--out", str(out), "--threads", "1",
                 "--time-budget", "0.1", "--calibration-time", "0.01", "--seed", "42")
    assert result.returncode == 0, result.stderr
    assert "median ms" in result.stdout and str(out / "results.csv") in result.stdout
    # progress ran: to a pipe (no terminal) as lines, timed, the last at 100 %, and each pass's
    # interleaved timing said (no case ends while it runs)
    assert re.search(r"a2bench: 18/18 case passes \(100%\) in \d\d:\d\d; pass 3 of 3, last ",
                     result.stderr) and "%|" not in result.stderr
    assert re.search(r"; pass 2 of 3: timing 6 cases interleaved, about \d+ s\n", result.stderr)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[: len(REQUIRED)] == REQUIRED
    assert list(rows[0]) == list(CSV_COLUMNS)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(rows) == 6 and len(lines) == 3 * 6  # the default: 3 passes, merged in the CSV
    # run in the order the seed gives; listed in the suite's order
    cases = expand(load_suite(ROOT / "suites" / "smoke.yaml"))
    ran = [Case.from_dict(json.loads(line)["case"]) for line in lines[:6]]
    assert ran == pass_order(cases, 42, 0) and ran != cases
    assert [(r["block"], r["h"]) for r in rows] == [(c.block, str(c.h)) for c in cases]
    samples = [json.loads(line)["samples_s"] for line in lines]
    assert all(len(s) >= 2 for s in samples)
    for row in rows:
        assert row["status"] == "ok", row["reason"]
        assert row["threads"] == "1"
        assert int(row["positions"]) == int(row["t"]) * int(row["h"]) * int(row["w"])
        assert row["macs_torch"] == row["macs_analytic"]
        assert float(row["latency_s"]) > 0 and float(row["latency_iqr_s"]) >= 0
        assert int(row["peak_bytes"]) > 0
        assert int(row["flops_analytic"]) > 2 * int(row["macs_analytic"])
        if row["block"] == "se":
            assert row["m"] == row["n"] == "" and row["reduction"] == "8"
        else:
            assert row["macs_fvcore"] == row["macs_analytic"]
            assert row["reduction"] == "" and row["m"] == "8"
    env = json.loads((out / "environment.json").read_text())
    for key in ("torch", "fvcore", "numpy", "python", "cpu_model", "physical_cores", "threads",
                "roofline", "git_commit", "ram_bytes", "caches_getconf"):
        assert key in env
    assert ROOT.exists()
    assert env["order_seed"] == 42 and env["caches_source"] == "sysfs"
    assert env["ended"] == "finished"  # what tells a report a finished run from a stopped one
    assert env["timing_schedule"] == "interleaved"  # the default schedule on a CPU
    if env["allocator"]["name"] == "glibc":  # no --malloc-reuse: glibc's own threshold
        assert env["allocator"]["mmap_threshold_bytes"] == 32 * 2**20
    assert env["caches"] == env["cpu_caches"]
    assert set(env["caches"]) <= {"L1d", "L2", "L3"}

    overhead = env["overhead"]
    assert overhead["empty_module_s"] > 0
    assert [(e["block"], e["t"], e["h"], e["w"]) for e in overhead["cases"]] == [
        (b, 1, 1, 1) for b in ("double_attention", "nonlocal_right", "se")]
    for e in overhead["cases"]:
        assert e["median_s"] > 0 and e["samples"] >= 1 and e["channels"] == 32

    roof = env["roofline"]
    start, end = roof["start"], roof["end"]
    assert start["gemm"] and end["gemm"] and start["at"] <= end["at"]
    # The end measures the start's best size alone: the drift is one product against itself.
    assert [g["size"] for g in end["gemm"]] == [start["gemm_size"]] == [end["gemm_size"]]
    assert roof["gemm_flops_per_s_start"] == start["gemm_flops_per_s"]
    assert roof["gemm_flops_per_s_end"] == end["gemm_flops_per_s"]
    assert roof["gemm_flops_per_s"] == max(start["gemm_flops_per_s"], end["gemm_flops_per_s"])
    assert roof["bandwidth_bytes_per_s"] == max(start["bandwidth_bytes_per_s"],
                                                end["bandwidth_bytes_per_s"])
    assert roof["drift"] == pytest.approx(end["gemm_flops_per_s"] / start["gemm_flops_per_s"] - 1)
    assert (abs(roof["drift"]) > 0.05) == any("GEMM ceiling" in w for w in env.get("warnings", []))


def test_end_sizes_are_the_starts_best_or_all_where_it_has_none():
    assert end_sizes(({"gemm_size": 1024, "gemm_flops_per_s": 1e11}, None)) == (1024,)
    assert end_sizes((None, "worker lost")) is None
    assert end_sizes((None, None)) is None


def test_the_end_calibration_is_costed_from_the_starts_timings_of_what_it_repeats():
    start = {"gemm_size": 1024, "gemm": [{"size": 512, "timings": [9.0], "number": 9},
                                         {"size": 1024, "timings": [0.5, 0.5], "number": 2}],
             "copy": {"timings": [0.1] * 5, "number": 2}}
    assert end_cost_s(start) == pytest.approx((1 + CALIBRATING_SHARE) * (2.0 + 1.0))
    assert end_cost_s(None) is None and end_cost_s({"gemm_size": 512, "gemm": []}) is None


def test_roofline_record_without_an_end_or_a_start():
    start = {"gemm_flops_per_s": 2e11, "bandwidth_bytes_per_s": 1e10}
    r = roofline_record("cpu", "float32", 2, start, None)
    assert r["gemm_flops_per_s"] == 2e11 and r["bandwidth_bytes_per_s"] == 1e10
    assert r["end"] is r["gemm_flops_per_s_end"] is r["drift"] is None
    r = roofline_record("cpu", "float32", 2, None, start, start_error="no answer")
    assert r["gemm_flops_per_s"] == 2e11 and r["drift"] is None and r["error"] == "no answer"
    r = roofline_record("cpu", "float32", 2, start, {**start, "gemm_flops_per_s": 1.8e11})
    assert r["drift"] == pytest.approx(-0.1) and r["gemm_flops_per_s"] == 2e11


@pytest.mark.parametrize(("field", "value", "said"), [
    ("latency_s", "fast", "latency_s: expected a finite number or null, got 'fast'"),
    ("latency_s", float("nan"), "latency_s: expected a finite number or null, got nan"),
    ("peak_bytes", 1.5, "peak_bytes: expected an integer or null, got 1.5"),
    ("samples_s", ["x"], "samples_s: expected a list of finite numbers, got ['x']"),
    ("model_mismatch", "no", "model_mismatch: expected true, false or null, got 'no'"),
    ("process", None, "process: expected an integer, got None"),
    ("case", {"block": "se"}, "case.device: expected a non-empty string, got None"),
    ("case.h", 0, "case.h: expected a positive integer, got 0"),
    ("case.dtype", "fp8", "case.dtype: expected one of float32, float64, float16, bfloat16, "
                          "got 'fp8'"),
    ("case.dtype", ["float32"], "case.dtype: expected one of float32, float64, float16, "
                                "bfloat16, got ['float32']"),  # not "unhashable type"
    ("case.params", {"m": [64]}, "case.params.m: expected an integer or a string, got [64]"),
    ("case.mode", "eval", "case.mode: expected one of forward, train, got 'eval'"),
    # a newer a2bench's record: remodel rewrote it as schema 2 and dropped its new fields
    ("schema", 3, "schema: 3 is not a format this a2bench reads (1 to 2): read it with the "
                  "a2bench that wrote it"),
    ("latency_s", 0.0, "latency_s: expected positive seconds, got 0.0"),
    ("samples_s", [1e-3, -1e-3], "samples_s: expected positive seconds, got [0.001, -0.001]"),
])
@pytest.mark.parametrize("command", ["report", "compare", "remodel"])
def test_a_stored_record_of_the_wrong_type_is_one_line_naming_its_field(
        tmp_path, capsys, command, field, value, said):
    """A results.jsonl line edited by hand (or corrupted) with a field of the wrong type had
    gone on to a TypeError deep in an analysis, or, for a latency, into the fits unsaid. Every
    verb that reads a run says which line and which field, with exit 2, and rewrites nothing."""
    lines = (ROOT / "results/cpu-default/results.jsonl").read_text().splitlines()[:3]
    record = json.loads(lines[1])
    where, _, name = field.rpartition(".")
    (record[where] if where else record)[name] = value
    lines[1] = json.dumps(record)
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    before = (run / "results.jsonl").read_text()
    argv = {"report": ["report", str(run)], "compare": ["compare", str(run), str(run)],
            "remodel": ["remodel", str(run)]}[command]
    assert main(argv) == 2
    assert f"results.jsonl: line 2 is not a valid result ({said})" in one_line_error(capsys)
    assert sorted(p.name for p in run.iterdir()) == ["results.jsonl"]
    assert (run / "results.jsonl").read_text() == before


@pytest.mark.parametrize("command", ["report", "compare", "remodel"])
def test_a_record_missing_a_required_field_names_it_and_its_line(tmp_path, capsys, command):
    # "Measurement.__init__() missing 1 required positional argument: 'status'" had been said
    lines = (ROOT / "results/cpu-default/results.jsonl").read_text().splitlines()[:3]
    record = json.loads(lines[1])
    del record["status"]
    lines[1] = json.dumps(record)
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    argv = {"report": ["report", str(run)], "compare": ["compare", str(run), str(run)],
            "remodel": ["remodel", str(run)]}[command]
    assert main(argv) == 2
    assert "results.jsonl: line 2 is not a valid result (no field 'status'); expected " in \
        one_line_error(capsys)


@pytest.mark.parametrize("command", ["report", "compare", "remodel", "resume"])
def test_results_a_newer_a2bench_wrote_whole_are_said_so_not_damaged(tmp_path, capsys,
                                                                      write_suite, command):
    """Every line of a newer a2bench's format had been told "repair that line, or delete it
    and lose its record": nothing there is damaged, and this a2bench is the one too old."""
    lines = (ROOT / "results/cpu-default/results.jsonl").read_text().splitlines()[:3]
    run = tmp_path / "run"
    run.mkdir()
    text = "".join(json.dumps({**json.loads(line), "schema": 3}) + "\n" for line in lines)
    (run / "results.jsonl").write_text(text)
    (run / "environment.json").write_text(json.dumps({"suite": "g"}))
    argv = {"report": ["report", str(run)], "compare": ["compare", str(run), str(run)],
            "remodel": ["remodel", str(run)],
            "resume": ["run", str(write_suite(GOOD)), "--out", str(run), "--resume"]}[command]
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert err.endswith(f"{run / 'results.jsonl'}: written by a newer a2bench (its 3 records "
                        "are schema 3; this one reads schemas 1 to 2); expected a file this "
                        "a2bench reads: read it with the a2bench that wrote it, or update this "
                        "one; nothing in it is damaged"), err
    assert (run / "results.jsonl").read_text() == text


def test_every_published_record_is_of_its_fields_types():
    """The check above refuses no record a2bench run wrote: every stored run in results/."""
    from a2bench.measurement import record_problem

    runs = sorted((ROOT / "results").rglob("results.jsonl"))
    assert len(runs) > 40
    for path in runs:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            assert record_problem(json.loads(line)) is None, (path, number)


def test_remodel_of_a_block_no_plugin_registers_is_one_line(tmp_path, capsys):
    """A run of a plugin's block, remodelled without its plugin: said, and left as it was."""
    lines = [line for line in (ROOT / "results/cpu-default/results.jsonl").read_text()
             .splitlines() if json.loads(line)["case"]["block"] == "double_attention"][:2]
    run = tmp_path / "run"
    run.mkdir()
    text = "\n".join(lines).replace('"block": "double_attention"', '"block": "my_block"') + "\n"
    assert text.count('"block": "my_block"') == 2
    (run / "results.jsonl").write_text(text)
    assert main(["remodel", str(run)]) == 2
    assert f"{run}: its records name block 'my_block', which is not registered (" in \
        one_line_error(capsys)
    assert (run / "results.jsonl").read_text() == text


def test_progress_in_a_log_is_lines_not_a_bar(monkeypatch):
    """stderr that is no terminal (a log, CI, a Slurm job): a bar's carriage returns would make
    the log one long line, so progress is a plain line at most every LOG_EVERY_S, and the
    last."""
    import io

    from a2bench.measurement import Measurement
    from a2bench.run.listener import ConsoleListener

    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    listener = ConsoleListener(progress=True)
    listener.begin(total=3, done=1)
    case = Case("se", "cpu", "float32", 1, 8, 1, 4, 4, reduction=2)
    listener.case(case, Measurement(case, "ok"))  # within LOG_EVERY_S of the start: quiet
    listener.case(case, Measurement(case, "error"))  # the last: always said
    listener.end()
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines() == [
        "a2bench: 3/3 case passes (100%) in 00:00; last se b1 c8 r2 4x4: error"]


def test_warm_cache_on_a_cpu_run_is_one_line(tmp_path, capsys, write_suite):
    # a CPU run never flushes a cache, so the flag would be recorded as if it had done something
    assert main(["run", str(write_suite(GOOD)), "--out", str(tmp_path / "o"), "--warm-cache"]) == 2
    assert one_line_error(capsys) == ("a2bench: error: --warm-cache: expected a CUDA run "
                                      "(--device cuda); only CUDA timing flushes the L2 between "
                                      "calls, which it turns off")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["run", "plan", "list", "audit", "remodel", "report",
                                  "compare"])
def test_each_commands_help_opens_with_what_it_does(name, capsys):
    with pytest.raises(SystemExit):
        main([name, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"a2bench {name}: " in text
    if name == "audit":  # the unit of every count
        assert "Every count is in MACs (multiply-accumulates)" in text


def test_an_unknown_command_names_a2bench_once(capsys):
    assert main(["slurm"]) == 2
    err = one_line_error(capsys)
    assert err.startswith("a2bench: error: argument command: invalid choice: 'slurm'"), err
    assert err.count("a2bench:") == 1
    assert main(["run"]) == 2  # a subcommand's own errors name it
    assert one_line_error(capsys).startswith("a2bench: error: a2bench run: the following")


def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path, capsys, write_suite):
    # two runs on one --out had both appended (42 of 90 records twice) and both timed on the
    # same cores; the report and compare read the doubled passes without a word
    from a2bench.run.lock import holding

    out = tmp_path / "o"
    with holding(out, "a2bench run"):
        assert main(["run", str(write_suite(GOOD)), "--out", str(out)]) == 2
    line = one_line_error(capsys)
    assert "a2bench run (pid " in line and "is writing this folder now" in line
    assert not out.exists()  # the first writer's folder held nothing: it went with it


def test_a_run_into_a_folder_a_live_run_writes_names_that_run_not_resume(tmp_path, capsys,
                                                                         write_suite):
    # told "already holds a sweep; pass --resume" (or, while the live run calibrated, "holds no
    # sweep to resume"), the user's --resume was then refused by the live run's lock
    from conftest import held_elsewhere

    out, path = tmp_path / "live", str(write_suite(GOOD))
    out.mkdir()
    with held_elsewhere(out) as line:
        for stored in (False, True):  # calibrating (its lock alone), then with results
            if stored:
                (out / "environment.json").write_text(json.dumps({"suite": "g"}))
                (out / "results.jsonl").write_text("")
            for resume in ([], ["--resume"]):
                assert main(["run", path, "--out", str(out), *resume]) == 2
                assert one_line_error(capsys) == (
                    f"a2bench: error: --out {out}: {line} is writing this folder now; expected "
                    "one writer at a time: wait for it to end, or choose another folder")
    assert sorted(p.name for p in out.iterdir()) == ["environment.json", "results.jsonl"]


@pytest.mark.parametrize("text,said", [
    ('{"suite": "g", "threads"', "not JSON: Expecting ':' delimiter at line 1 column 25"),
    ("", "empty"), ("[1]", "an array, not an object"),
    # not let through as an environment: a resume would file its session under an empty one
    ("{}", "an empty object without suite, the key a2bench run writes first"),
    ('{"x": 1}', "an object without suite, the key a2bench run writes first")])
@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_a_damaged_environment_beside_results_is_named_damaged(tmp_path, capsys, write_suite,
                                                               text, said, resume):
    # "holds environment.json, which no a2bench run wrote there" had sent the user away from
    # their own sweep's results; beside no results that line stands (the next test)
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.jsonl").write_text(RECORD)
    (out / "environment.json").write_text(text)
    assert main(["run", str(write_suite(GOOD)), "--out", str(out), *resume]) == 2
    assert one_line_error(capsys) == (
        f"a2bench: error: --out {out}: its environment.json, beside the results.jsonl of the run "
        f"that wrote it, is damaged ({said}); expected the file as a2bench run wrote it: restore "
        "it from a copy (it holds the sweep's suite, seed and calibration, which results.jsonl "
        "does not), or choose another folder")
    assert (out / "environment.json").read_text() == text
    assert (out / "results.jsonl").read_text() == RECORD


def test_a_resume_names_the_key_of_its_environment_of_the_wrong_type(tmp_path, capsys,
                                                                      write_suite):
    # it had read "environment.json is not the JSON object a2bench run writes", naming nothing
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.jsonl").write_text(RECORD)
    (out / "environment.json").write_text('{"suite": "g", "threads": "two"}')
    assert main(["run", str(write_suite(GOOD)), "--out", str(out), "--resume"]) == 2
    assert one_line_error(capsys) == (
        f"a2bench: error: --out {out}: {out}/environment.json: threads is 'two'; expected a "
        "number, as a2bench run writes it")


@pytest.mark.parametrize("argv", [["run", "SUITE", "--out", ""], ["report", ""],
                                  ["report", "x", "--out", " "], ["compare", "", "x"]])
def test_an_empty_folder_path_is_refused(tmp_path, capsys, write_suite, argv):
    # Path("") is the current folder: `--out ""` had written a run's files into it
    argv = [str(write_suite(GOOD)) if a == "SUITE" else a for a in argv]
    assert main(argv) == 2
    assert "expected a folder's path, got an empty one" in one_line_error(capsys)


@pytest.mark.parametrize("name,text", [("results.csv", "a,b\n1,2\n"),
                                       ("environment.json", '{"x": 1}\n'),
                                       ("environment.json", "{}")])
@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_a_folder_holding_a_users_own_results_file_is_refused(tmp_path, capsys, write_suite,
                                                              name, text, resume):
    # told it "already holds a sweep; pass --resume", the resumed run replaced the user's
    # results.csv (or merged into their environment.json)
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text(text)
    assert main(["run", str(write_suite(GOOD)), "--out", str(out), *resume]) == 2
    assert f"holds {name}, which no a2bench run wrote there" in one_line_error(capsys)
    assert (out / name).read_text() == text and [p.name for p in out.iterdir()] == [name]


@pytest.mark.parametrize("flags,said", [(["--budget", "60"], "--budget: sizes"),
                                        (["--target", "0.1"], "--target: sizes"),
                                        (["--budget", "60", "--target", "0.1"],
                                         "--budget and --target: size")])
def test_auto_size_flags_on_a_suite_that_lists_its_sizes_are_refused(tmp_path, capsys,
                                                                      write_suite, flags, said):
    # taken and ignored without a word
    out = tmp_path / "o"
    assert main(["run", str(write_suite(GOOD)), "--out", str(out), *flags]) == 2
    line = one_line_error(capsys)
    assert said in line and "lists its sizes" in line
    assert not out.exists()


def test_output_piped_into_head_ends_without_a_traceback(monkeypatch, capsys):
    # `a2bench list | head -1` had ended in a BrokenPipeError traceback: a pipe whose reader
    # has left, as head leaves it
    import os

    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as gone:
        monkeypatch.setattr("sys.stdout", gone)
        assert main(["list", "--long"]) == 1
        monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_output_to_a_full_device_is_one_line_not_a_traceback(monkeypatch, capsys):
    # `a2bench list > /dev/full` had ended in an OSError traceback (ENOSPC from print); compare
    # keeps its verdict's status, the lost output said on stderr. list runs in a child, to the
    # interpreter's own flush at exit; compare in this process, where main() says it alike.
    import os
    import subprocess

    from conftest import A2BENCH, child_pythonpath

    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full on this system")
    said = ("a2bench: error: the output could not be written (No space left on device); "
            "expected a standard output with room")
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    with open(full, "w") as out:
        done = subprocess.run([*A2BENCH, "list"], stdout=out, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == said
    assert "Traceback" not in done.stderr
    base = Path(__file__).resolve().parents[1] / "results" / "cpu-default-plain-emr"
    with open(full, "w") as out:
        monkeypatch.setattr("sys.stdout", out)
        status = main(["compare", "--exact-only", str(base / "run-1"), str(base / "run-2")])
        monkeypatch.undo()
    err = capsys.readouterr().err
    assert status == 0, err
    assert err.strip().splitlines()[-1] == said and "Traceback" not in err
