"""The Slurm driver when a job is stopped rather than failed (cancelled, out of time), a resume
that names other partitions, a partition with nothing stored yet, and what the watch says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("submitit")

from a2bench import slurm  # noqa: E402
from a2bench.case import Case  # noqa: E402
from a2bench.cli import main  # noqa: E402
from a2bench.measurement import Measurement  # noqa: E402
from a2bench.run.options import RunOptions  # noqa: E402
from a2bench.run.store import ResultsWriter, load_passes  # noqa: E402
from a2bench.slurm.driver import Plan, Shard, SlurmDriver  # noqa: E402


def case(h: int) -> Case:
    return Case("double_attention", "cpu", "float32", 1, 32, 1, h, h, {"m": 8, "n": 8})


def _ok(c: Case, process: int = 0) -> Measurement:
    at = "2026-11-26T10:00:00+00:00"
    return Measurement(c, "ok", latency_s=1e-3, samples_s=(1e-3,), process=process, host="n1",
                       started_at=at, finished_at=at)


def _ended_job(folder: Path, job_id: str) -> SimpleNamespace:
    """A submitit job as the driver sees one whose result it never read (none written)."""
    return SimpleNamespace(job_id=job_id, paths=SimpleNamespace(
        result_pickle=folder / f"{job_id}_result.pkl", stderr=folder / f"{job_id}.err"))


def _driver(out: Path, cases: list[Case], overrides: dict | None = None) -> SlurmDriver:
    """A driver watching one shard of `cases` (2 passes a case), the first case's first pass
    stored, its job `7`."""
    options = RunOptions(out=out, suite="s.yaml", processes=2, executor="slurm",
                         partition=("debug",), split="cases")
    driver = SlurmDriver(None, cases, options)
    driver.sweep = Plan(("debug",), True, len(cases), 1, 0, False, overrides or {})
    folder = slurm.shard_folder(out / "debug", 0)
    ResultsWriter(folder, resume=True).append(_ok(cases[0]))
    shard = Shard("debug", 0, folder, tuple(cases), job=_ended_job(folder, "7"))
    shard.lacking = driver._missing(shard)
    driver.shards = [shard]
    driver.jobs_of = {"debug": {"0": "7"}}
    return driver


@pytest.mark.parametrize("state", ["CANCELLED by 0", "TIMEOUT", slurm.GONE, "NODE_FAIL"])
def test_a_stopped_job_leaves_its_cases_for_resume(tmp_path, capsys, state):
    # scancel (or the time limit) seen by the driver had recorded 3 passes as error (timeout),
    # so --resume found "4 of 4 stored", submitted nothing and nothing said how to measure them
    cases = [case(4), case(8)]
    driver = _driver(tmp_path / "sweep", cases, {"timeout_min": 1})
    driver._settle(driver.shards[0], state, poll=1)
    said = capsys.readouterr().err
    assert f"debug shard 0 (job 7): {slurm.base_state(state)}, 3 case passes left for " \
        "--resume" in said and "recorded as" not in said, said
    assert len(load_passes(driver.shards[0].folder)) == 1  # the ok pass alone: none recorded
    assert driver._missing(driver.shards[0]) == 3  # what --resume submits again
    assert driver.finish() == 1  # an unfinished sweep, though a case is ok: had been 0
    out = capsys.readouterr().out
    assert "debug: 1 of 2 cases, ok 1; nodes n1; 3 case passes left for --resume" in out, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("3 case passes have no result yet; re-attach to run them")
    assert last.endswith(f"s.yaml --out {tmp_path / 'sweep'} --resume --processes 2 "
                         "--executor slurm --partition debug --split cases"), last
    timed_out = "(raise --slurm time= above the 1 minute a job ran out of)"
    assert (timed_out in last) == (state == "TIMEOUT"), last


def test_a_job_out_of_requeues_leaves_its_cases_for_resume(tmp_path, capsys, monkeypatch):
    # seen live: a 2-minute job of 40 passes a case requeued until submitit gave up, Slurm said
    # FAILED, and the driver had recorded its 96 unrun passes as errors, every case an error
    from a2bench.slurm import driver as slurm_driver

    detail = ("submitit.core.utils.UncompletedJobError: Job not requeued because: timed-out too "
              "many times. (log: x.err)")
    monkeypatch.setattr(slurm_driver, "job_failure", lambda job: detail)
    driver = _driver(tmp_path / "sweep", [case(4), case(8)], {"timeout_min": 2})
    driver._settle(driver.shards[0], "FAILED", poll=1)
    assert "FAILED, 3 case passes left for --resume" in capsys.readouterr().err
    assert len(load_passes(driver.shards[0].folder)) == 1  # nothing recorded as an error
    assert driver.finish() == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "(raise --slurm time= above the 2 minutes a job ran out of)" in last, last


@pytest.mark.parametrize(("state", "status"), [("FAILED", "error"), ("OUT_OF_MEMORY", "oom")])
def test_a_failed_job_still_records_what_it_lacks(tmp_path, capsys, state, status):
    driver = _driver(tmp_path / "sweep", [case(4), case(8)])
    driver._settle(driver.shards[0], state, poll=1)
    assert f"{state}, 3 results recorded as {status}" in capsys.readouterr().err
    assert driver._missing(driver.shards[0]) == 0
    assert driver.finish() == 1  # no case ended ok (none is left for --resume either)
    assert "re-attach" not in capsys.readouterr().out


def test_a_job_whose_sweep_got_sigterm_is_stopped_whatever_slurm_says():
    from a2bench.slurm.faults import left_to_resume

    # a job that wrote its error while Slurm still listed it RUNNING is settled as FAILED
    assert left_to_resume("RuntimeError: stopped by SIGTERM (scancel, preemption or the time "
                          "limit) before the shard's cases were done (log: x.err)", "FAILED")
    assert not left_to_resume("RuntimeError: boom (log: x.err)", "FAILED")
    assert not left_to_resume(None, "OUT_OF_MEMORY")


# ---------------------------------------------------------------------------------------------
# A resume names the sweep's own partitions


SMOKE = Path(__file__).resolve().parent.parent / "suites" / "smoke.yaml"
FAST = ("--processes", "1", "--threads", "1", "--time-budget", "0.05", "--calibration-time",
        "0.01", "--no-progress")


@pytest.fixture
def no_submission(monkeypatch):
    """A login node that plans (sinfo lists debug, h100 and a100) but must never submit."""
    def submitted(*args, **kwargs):
        raise AssertionError("a job was submitted")

    monkeypatch.setattr(slurm.driver, "_check_login_node", lambda: None)
    monkeypatch.setattr(slurm.driver, "cluster_partitions", lambda: ["debug*", "h100", "a100"])
    monkeypatch.setattr(slurm.driver, "default_partition", lambda: "debug")
    monkeypatch.setattr(slurm.driver, "submit_array", submitted)


def _sweep(out: Path, partitions: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / slurm.SWEEP).write_text(json.dumps({
        "suite_name": "smoke", "cases": 6, "cases_per_job": 6, "split": "cases", "shards": 1,
        "partitions": partitions, "processes": 1}))


@pytest.mark.usefixtures("no_submission")
@pytest.mark.parametrize(("began", "given", "named"), [
    (["h100", "a100"], "a100", "partitions h100, a100; resume with --partition h100,a100 "),
    (["h100"], "h100,a100", "partition h100; resume with --partition h100 "),
    ([], "h100", "partition debug; resume with --partition debug "),  # the cluster's default
])
def test_a_resume_on_other_partitions_is_refused(tmp_path, capsys, began, given, named):
    # it had rewritten .slurm.json's partitions, and the sweep's own were never run again
    from a2bench.cli import main

    out = tmp_path / "sweep"
    _sweep(out, began)
    before = (out / slurm.SWEEP).read_text()
    args = ["run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--resume", *FAST]
    assert main([*args, "--partition", given]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"a2bench: error: --partition {given}: {out} is a sweep on {named}(or leave " \
        "it out), or choose another --out for other partitions", err
    assert (out / slurm.SWEEP).read_text() == before and not (out / "a100").exists()


@pytest.mark.usefixtures("no_submission")
def test_a_resume_naming_its_own_partitions_keeps_their_order(tmp_path):
    from a2bench.suite import expand, load_suite

    out = tmp_path / "sweep"
    _sweep(out, ["h100", "a100"])
    suite = load_suite(SMOKE)
    options = RunOptions(out=out, suite=str(SMOKE), processes=1, resume=True,
                         executor="slurm", partition=("a100", "h100"), calibration_time=0.01)
    plan = SlurmDriver(suite, expand(suite), options).plan()
    assert plan.partitions == ("h100", "a100") and plan.named
    stored = json.loads((out / slurm.SWEEP).read_text())
    assert stored["partitions"] == ["h100", "a100"]
    # the jobs' own flags, for the resume line of a partition whose jobs have begun none
    assert stored["run_flags"] == ["--processes", "1", "--calibration-time", "0.01"]


# ---------------------------------------------------------------------------------------------
# report and compare on a partition whose jobs have stored nothing yet


def test_a_partition_with_nothing_stored_yet_says_so_with_its_resume_line(tmp_path, capsys,
                                                                          monkeypatch):
    # it had read "no ok results in results.jsonl (0 cases, statuses: none)" and "results.jsonl
    # holds no results", with no word of the pending jobs nor of the line that goes on
    from a2bench.analysis.load import load_runs
    from a2bench.compare.load import load_side
    from a2bench.errors import InputError

    monkeypatch.chdir(tmp_path)
    top = Path("sweep")
    _sweep(top, ["h100", "a100"])
    sweep = json.loads((top / slurm.SWEEP).read_text())
    sweep.update(suite="suites/smoke.yaml", run_flags=["--calibration-time", "0.01"])
    (top / slurm.SWEEP).write_text(json.dumps(sweep))
    done, pending = top / "h100", top / "a100"
    w = ResultsWriter(slurm.shard_folder(done, 0), resume=True)
    w.write_environment({"suite": "smoke", "suite_path": "suites/smoke.yaml", "ended": "finished",
                         "run_flags": ["--calibration-time", "0.01"]})
    w.append(_ok(case(4)))
    pending.mkdir()  # as the driver leaves it when its job has not started
    (pending / slurm.JOBS).write_text('{"0": "6"}')
    (pending / "results.jsonl").write_text("")
    line = ("partition a100 of the Slurm sweep in sweep holds no result yet (0 of 6 case passes "
            "stored): its jobs are pending, running or were stopped, and no driver watches them; "
            "re-attach with: a2bench run suites/smoke.yaml --out sweep --resume --executor slurm "
            "--partition h100,a100 --split cases --cases-per-job 6 --processes 1 "
            "--calibration-time 0.01, then ")
    with pytest.raises(InputError) as e:
        load_runs([done, pending])
    assert str(e.value) == f"{pending}: {line}report again once their cases end (or leave " \
        "this folder out)"
    assert len(load_runs([done])[1]) == 1  # the other partition reads
    # a report of both (the driver's `a2bench report sweep/*`) leaves the unbegun one out and
    # says so, where it had stopped on it
    left_out: list[str] = []
    assert [r.path for r in load_runs([done, pending], left_out)[1]] == [done]
    assert left_out == [f"{pending}: {line}report again once their cases end"]
    with pytest.raises(InputError, match="holds no result yet"):  # nothing else to read
        load_runs([pending], left_out)
    assert main(["report", str(done), str(pending), "--out", "both"]) == 0
    said = capsys.readouterr().out
    assert f"a2bench: left out {pending}: partition a100 of the Slurm sweep" in said, said
    with pytest.raises(InputError) as e:
        load_side(pending, "head")
    assert str(e.value) == f"{pending}: {line}compare again once their cases end"
    # a local run's empty folder keeps its own words
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "results.jsonl").write_text("")
    with pytest.raises(InputError, match="holds no results"):
        load_side(tmp_path / "local", "head")


# ---------------------------------------------------------------------------------------------
# What the watch says


def test_a_pending_job_shows_why_it_waits():
    # a held job (scontrol hold) and one bound to a drained node had read "2 PENDING", as any
    # job queued behind others
    asked = []

    def reasons(ids):
        asked.append(sorted(ids))
        return {"8_0": "JobHeldUser", "8_1": "ReqNodeNotAvail, UnavailableNodes:n1"}

    watch = slurm.Watch(query=lambda ids: {"8_0": "PENDING", "8_1": "PENDING", "8_2": "PENDING",
                                           "9_0": "RUNNING"}, reasons=reasons)
    watch.poll(["8_0", "8_1", "8_2", "9_0"])
    assert asked == [["8_0", "8_1", "8_2"]]  # the pending jobs alone
    shards = [SimpleNamespace(job=SimpleNamespace(job_id=j), finished=False)
              for j in ("8_0", "8_1", "8_2", "9_0")]
    said = SlurmDriver._job_states(SimpleNamespace(shards=shards), watch)
    assert said == ("1 PENDING, 1 PENDING (JobHeldUser), 1 PENDING (ReqNodeNotAvail, "
                    "UnavailableNodes:n1), 1 RUNNING"), said
    watch.query = lambda ids: {j: "RUNNING" for j in ids}
    watch.poll(["8_0", "8_1", "8_2", "9_0"])  # none pending: squeue is not asked
    assert asked == [["8_0", "8_1", "8_2"]] and watch.reasons == {}


def test_pending_reasons_reads_squeue(monkeypatch):
    from a2bench.slurm import cluster

    def run(command, **kwargs):
        assert command[:7] == ["squeue", "-h", "-r", "-t", "PENDING", "-o", "%i|%r"]
        assert command[-2:] == ["-j", "12,13"]
        return SimpleNamespace(returncode=0, stdout="12_1|JobHeldAdmin\n12_2|None\n13|Priority\n")

    monkeypatch.setattr(cluster.subprocess, "run", run)
    assert cluster.pending_reasons(["12_1", "12_2", "13"]) == {"12_1": "JobHeldAdmin",
                                                               "13": "Priority"}
    monkeypatch.setattr(cluster.subprocess, "run",
                        lambda *a, **k: SimpleNamespace(returncode=1, stdout=""))
    assert cluster.pending_reasons(["12_1"]) is None  # squeue could not say: nothing shown


def test_job_states_come_from_squeue_where_sacct_cannot_answer(monkeypatch):
    # a cluster without accounting (no slurmdbd): sacct fails, and the jobs had read PENDING
    # for ever, ended or not
    from a2bench.slurm import cluster

    asked = []

    def run(command, **kwargs):
        asked.append(command[0])
        if command[0] == "sacct":
            return SimpleNamespace(returncode=1, stdout="")
        assert "-j" not in command and "--states=all" in command and "-r" in command
        return SimpleNamespace(returncode=0, stdout="12_0|COMPLETED|n1\n12_1|RUNNING|n2\n"
                                                    "40|PENDING|\n")

    monkeypatch.setattr(cluster.subprocess, "run", run)
    assert cluster.sacct_states(["12_0", "12_1", "12_2"]) == {"12_0": "COMPLETED",
                                                              "12_1": "RUNNING"}
    assert asked == ["sacct", "squeue"]
    watch = cluster.Watch(query=cluster.sacct_states)
    for _ in range(3):  # 12_2 unlisted, but never seen: just submitted
        watch.poll(["12_0", "12_2"])
    assert watch.state("12_0") == "COMPLETED" and watch.state("12_2") == "PENDING"
    monkeypatch.setattr(cluster.subprocess, "run",
                        lambda *a, **k: SimpleNamespace(returncode=1, stdout=""))
    assert cluster.sacct_states(["12_0"]) is None  # neither could say: nothing concluded
    shards = [SimpleNamespace(job=SimpleNamespace(job_id=j), finished=False)
              for j in ("12_0", "12_2")]
    for polls in range(1, 4):
        watch.poll(["12_0", "12_2"])
        said = SlurmDriver._job_states(SimpleNamespace(shards=shards), watch)
        assert ("neither sacct nor squeue answered the last 3 polls" in said) == (polls == 3)
    assert watch.state("12_0") == "COMPLETED", said  # the last known, not concluded from


def test_progress_in_a_log_says_the_share_and_the_time(tmp_path, capsys, monkeypatch):
    # a log had read "1/4 case passes stored; jobs 1 RUNNING", with no time nor share
    from a2bench.slurm import driver as slurm_driver

    driver = _driver(tmp_path / "sweep", [case(4), case(8)])
    states = iter(["PENDING", "RUNNING", "RUNNING", "CANCELLED by 0"])

    class Watch:
        reasons: dict = {}
        unanswered = 0

        def poll(self, ids):
            self.now = next(states)

        def state(self, job_id):
            return self.now

    clock = iter(range(0, 10_000, 40))
    monkeypatch.setattr(slurm_driver, "Watch", Watch)
    monkeypatch.setattr(slurm_driver, "time", SimpleNamespace(monotonic=lambda: next(clock),
                                                              sleep=lambda s: None))
    monkeypatch.setattr(slurm_driver, "interactive", lambda: False)
    monkeypatch.setenv(slurm_driver.POLL_ENV, "0")
    assert driver.watch()
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "stored" in ln]
    assert lines and all(re.fullmatch(r"a2bench: 1/4 case passes stored \(25%\) in "
                                      r"[0-9]{2}:[0-5][0-9]; jobs (1 PENDING|1 RUNNING|ended)",
                                      ln) for ln in lines), lines
    assert len(lines) > 2 and lines[0].endswith("PENDING")
    assert lines[-1] != lines[0] and "in 00:00" not in lines[-1]  # the clock moves


def test_the_start_line_says_where_the_job_logs_are(tmp_path, capsys, monkeypatch):
    from a2bench.slurm import driver as slurm_driver

    driver = _driver(tmp_path / "sweep", [case(4), case(8)])
    driver.suite = SimpleNamespace(device="cpu", name="smoke")
    driver.jobs_of = {"debug": {}}
    driver.shards[0].job = None  # not submitted yet
    monkeypatch.setattr(slurm_driver, "submit_array",
                        lambda part, params, tasks: [SimpleNamespace(job_id="7")])
    assert driver.submit()
    said = capsys.readouterr().err
    assert f"results in {tmp_path / 'sweep'}, job logs in " \
        f"{tmp_path / 'sweep' / 'debug' / 'submitit'}/\n" in said, said
    driver.sweep = Plan(("h100", "a100"), True, 2, 1, 0, False, {})
    driver.shards = []
    driver.submit()
    assert f"job logs in {tmp_path / 'sweep'}/<partition>/submitit/\n" in capsys.readouterr().err


def test_the_docs_source_the_test_slurm():
    # `scripts/slurm-up.sh` run as a command starts the daemons but exports SLURM_CONF and the
    # PATH of its sacct stand-in to no shell: sinfo then finds no controller
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md")),
             *sorted((root / "results").glob("*/README.md"))]
    told = []
    for page in pages:
        text = page.read_text()
        for m in re.finditer(r"slurm-up\.sh", text):
            if not text[:m.start()].endswith("source scripts/"):
                told.append(f"{page.relative_to(root)}: {text[m.start() - 40:m.end()]!r}")
    assert not told, told


def test_a_partition_whose_jobs_stored_no_case_is_counted_not_refused(tmp_path, capsys):
    # its job calibrated (an environment.json) and was cancelled before its first case: the
    # merge writes the partition an empty results.jsonl, which the driver had read back with
    # store.load, that refuses an emptied results.jsonl as a run's lost results
    cases = [case(4), case(8)]
    options = RunOptions(out=tmp_path / "sweep", suite="s.yaml", processes=2, executor="slurm",
                         partition=("debug",), split="cases")
    driver = SlurmDriver(None, cases, options)
    driver.sweep = Plan(("debug",), True, len(cases), 1, 0, False, {})
    folder = slurm.shard_folder(tmp_path / "sweep" / "debug", 0)
    ResultsWriter(folder, resume=True).write_environment(
        {"suite": "s", "suite_path": "s.yaml", "executor": "slurm"})
    shard = Shard("debug", 0, folder, tuple(cases), job=_ended_job(folder, "7"))
    shard.lacking = driver._missing(shard)
    driver.shards, driver.jobs_of = [shard], {"debug": {"0": "7"}}
    assert driver.finish() == 1
    assert "debug: 0 of 2 cases" in capsys.readouterr().out


@pytest.mark.parametrize("killed_from_outside", [False, True])
def test_a_shard_whose_worker_was_killed_from_outside_says_sigkill_not_sigterm(
        tmp_path, monkeypatch, killed_from_outside):
    # A worker killed by `kill -9` or a watchdog stops the shard's sweep as SIGTERM does
    # (runner.killed), and the job's error had said "stopped by SIGTERM (scancel, preemption or
    # the time limit)" of it; its cases are left for --resume either way.
    from a2bench.run import sweep as sweep_module
    from a2bench.run.result import SweepResult
    from a2bench.run.runner import killed
    from a2bench.slurm.faults import left_to_resume
    from a2bench.slurm.job import ShardJob, ShardTask
    from a2bench.suite import expand, load_suite

    why = str(killed("running se b1 c8 4x4", for_memory=False)) if killed_from_outside else ""
    monkeypatch.setattr(sweep_module.Sweep, "run", lambda self: SweepResult(
        out=tmp_path, interrupted=True, stopped=why))
    suite = load_suite(SMOKE)
    task = ShardTask("p", 0, str(tmp_path), suite, tuple(expand(suite)[:1]),
                     RunOptions(out=tmp_path, suite=str(SMOKE)))
    with pytest.raises(RuntimeError) as e:
        ShardJob()(task)
    assert str(e.value) == (f"stopped by SIGKILL ({why}) before the shard's cases were done"
                            if killed_from_outside else "stopped by SIGTERM (scancel, preemption "
                            "or the time limit) before the shard's cases were done")
    assert left_to_resume(f"RuntimeError: {e.value} (log: x.err)", "FAILED")
