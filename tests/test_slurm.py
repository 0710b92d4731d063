"""The Slurm executor: its parameters and batch file, the shard merge and fault records, and
whole sweeps against a real one-node Slurm (the tests marked slurm; they skip without one)."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import signal
import subprocess
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("submitit")

from cli_here import cli_here  # noqa: E402
from conftest import A2BENCH, ROOT, child_pythonpath, cli, refusals_in_a_child  # noqa: E402

import a2bench  # noqa: E402
from a2bench import slurm  # noqa: E402
from a2bench.case import Case  # noqa: E402
from a2bench.cli import main  # noqa: E402
from a2bench.errors import InputError  # noqa: E402
from a2bench.measurement import Measurement  # noqa: E402
from a2bench.run.options import RunOptions  # noqa: E402
from a2bench.run.store import ResultsWriter, load, load_passes  # noqa: E402
from a2bench.slurm import merge as slurm_merge  # noqa: E402

SMOKE = ROOT / "suites" / "smoke.yaml"
FAST = ("--processes", "1", "--threads", "1", "--time-budget", "0.05", "--calibration-time", "0.01",
        "--no-progress")


def case(h: int = 4, block: str = "double_attention") -> Case:
    return Case(block, "cpu", "float32", 1, 32, 1, h, h, {"m": 8, "n": 8})


# ---------------------------------------------------------------------------------------------
# Parameters and the generated batch file (no Slurm needed)


def test_options_map_to_submitit_names_and_raw_sbatch():
    params = slurm.parse_options(["account=mylab", "time=120", "qos=high",
                                  "constraint=fake_h100", "gpus_per_node=2",
                                  "reservation=bench", "--mail-type=END"])
    assert params["slurm_account"] == "mylab"
    assert params["timeout_min"] == 120
    assert params["slurm_qos"] == "high"
    assert params["slurm_constraint"] == "fake_h100"
    assert params["gpus_per_node"] == 2
    assert params["slurm_mail_type"] == "END"
    # what submitit has no name for goes to sbatch as written
    assert params["slurm_additional_parameters"] == {"reservation": "bench"}


@pytest.mark.parametrize("text,expected", [("90", 90), ("02:00:00", 120), ("1-00:00:00", 1440),
                                           ("30:30", 31), ("1-2", 1560)])
def test_time_limits_in_sbatch_formats(text, expected):
    assert slurm.parse_options([f"time={text}"])["timeout_min"] == expected


def test_a_bad_time_limit_is_one_line():
    with pytest.raises(slurm.SlurmError, match="time limit"):
        slurm.parse_options(["time=soon"])


@pytest.mark.parametrize("bad", ["account", "=x", "time="])
def test_bad_option_is_one_line(bad):
    with pytest.raises(slurm.SlurmError, match="expected KEY=VALUE"):
        slurm.parse_options([bad])


@pytest.mark.parametrize(("bad", "said"), [
    ("mem_gb=x", "expected a number of GB"), ("cpus_per_task=x", "expected a whole number"),
    ("gpus_per_node=1.5", "expected a whole number"),
    ("partition=a100", "expected the partition as --partition a100"),
])
def test_a_slurm_option_of_the_wrong_kind_is_one_line(bad, said):
    # submitit's assertion had stopped the run in a traceback, leaving a folder that refused
    # the corrected command; a partition given here had filed the results under another's name
    with pytest.raises(slurm.SlurmError, match=said):
        slurm.parse_options([bad])
    assert slurm.parse_options(["mem_gb=4.5"])["mem_gb"] == 4.5
    # a sweep begun with partition= before it was refused resumes as it began
    assert slurm.parse_options(["partition=a100"], ["partition=a100"])


@pytest.mark.parametrize("pairs,key", [(["time=5", "time=10"], "timeout_min"),
                                       (["time=5", "timeout_min=10"], "timeout_min"),
                                       (["account=a", "slurm_account=b"], "account"),
                                       (["mail-type=END", "mail_type=ALL"], "mail_type")])
def test_a_slurm_key_given_twice_is_refused_as_a_partition_given_twice_is(pairs, key):
    # the second had replaced the first unsaid: time=5 then time=10 ran with 10
    with pytest.raises(slurm.SlurmError) as error:
        slurm.parse_options(pairs)
    assert str(error.value) == (f"--slurm {pairs[1]!r}: sets {key} again, after --slurm "
                                f"{pairs[0]!r}; expected each key once")
    # a sweep begun with both before it was refused resumes as it began (the last wins)
    assert slurm.parse_options(pairs, pairs)


def test_a_repeated_slurm_key_is_one_line_before_anything_is_written(tmp_path, capsys,
                                                                      write_suite, monkeypatch):
    # an sbatch that submits nothing: the check comes before any submission, and without it
    # nothing reaches a real cluster
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\necho 'no submission here' >&2\nexit 1\n")
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    out = tmp_path / "sweep"
    suite = write_suite("name: g\nblocks: [se]\nparams: {channels: [8], h: [4], w: [4], "
                        "reduction: [2]}\n")
    assert main(["run", str(suite), "--executor", "slurm", "--out", str(out), "--slurm",
                 "time=5", "--slurm", "time=10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("a2bench: error: --slurm 'time=10': sets timeout_min again, after --slurm "
                   "'time=5'; expected each key once")
    assert not out.exists()


def test_a_slurm_sweeps_folder_is_told_apart(tmp_path, capsys):
    top = tmp_path / "sweep"
    (top / "h100").mkdir(parents=True)
    (top / ".slurm.json").write_text("{}")
    ResultsWriter(top / "h100", resume=False).append(_ok(case(4), host="n1"))
    assert main(["report", str(top)]) == 2
    assert (f"{top}: a Slurm sweep's folder; its results are in each partition's folder, "
            f"{top}/<partition> (here: h100)") in capsys.readouterr().err
    assert main(["run", str(SMOKE), "--out", str(top), "--resume"]) == 2
    assert "holds a Slurm sweep (.slurm.json); a local run there" in capsys.readouterr().err
    assert main(["run", str(SMOKE), "--out", str(top), "--executor", "slurm", "--partition",
                 "h100", "--partition", "a100"]) == 2
    assert "--partition given twice" in capsys.readouterr().err


@pytest.fixture
def srun_on_path(tmp_path, monkeypatch):
    """submitit's Slurm executor refuses to exist where `srun` is not on PATH (it only looks):
    the batch file's text needs no cluster, so a stand-in that is never run will do."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.usefixtures("srun_on_path")
def test_batch_file_is_exclusive_per_partition(tmp_path):
    text = slurm.sbatch_text(tmp_path, slurm.parameters("h100", "cpu", "smoke", {}), 3)
    assert "#SBATCH --exclusive" in text
    assert "#SBATCH --partition=h100" in text
    assert "#SBATCH --mem=0" in text
    assert "#SBATCH --array=0-2%3" in text
    assert f"#SBATCH --time={slurm.DEFAULT_TIMEOUT_MIN}" in text
    assert "--gpus-per-node" not in text  # a CPU suite asks for no GPU


@pytest.mark.usefixtures("srun_on_path")
def test_batch_file_of_a_cuda_suite_asks_for_gpus(tmp_path):
    text = slurm.sbatch_text(tmp_path, slurm.parameters("a100", "cuda", "positions", {}), 2)
    assert "#SBATCH --gpus-per-node=1" in text and "#SBATCH --exclusive" in text
    more = slurm.parse_options(["gpus_per_node=4", "account=lab", "time=30"])
    text = slurm.sbatch_text(tmp_path, slurm.parameters("a100", "cuda", "positions", more), 2)
    assert "#SBATCH --gpus-per-node=4" in text
    assert "#SBATCH --account=lab" in text and "#SBATCH --time=30" in text


def test_split_keeps_suite_order_and_default_spreads():
    cases = [case(h) for h in range(2, 12)]
    shards = slurm.split(cases, 3)
    assert [len(s) for s in shards] == [3, 3, 3, 1]
    assert [c for s in shards for c in s] == cases
    assert slurm.default_per_job(6) == 4  # a job's fixed start is worth several cases
    assert slurm.default_per_job(100) == 7  # at most 16 jobs per partition


def test_a_finding_is_never_cut_between_jobs():
    def at(block: str, c: int, side: int, dtype: str = "float32", **params) -> Case:
        return Case(block, "cpu", dtype, 1, c, 1, side, side, params)

    cases = ([at("double_attention", 32, h, m=m, n=8) for m in (4, 8) for h in (4, 6, 8)]
             + [at("nonlocal_right", 32, h, m=8, n=8) for h in (4, 6)]  # the pair, by shape
             + [at("se", 16, h, reduction=8) for h in (5, 7)]
             + [at("double_attention", 64, 12, "bfloat16", m=8, n=8)]
             + [at("nonlocal", 48, 9, impl=i) for i in ("eager", "sdpa")])
    groups = slurm.finding_groups(cases)
    # a grid over m and N is one fit family; the other order joins it at its shapes
    assert [len(g) for g in groups] == [8, 2, 1, 2]
    assert groups[0] == tuple(range(8)) and groups[-1] == (11, 12)
    # whole groups, a job closing once it holds per_job: so never more jobs than `split`
    for per_job in (1, 3, 4, 6, 20):
        shards = slurm.split_by_finding(cases, per_job)
        assert sorted(c for s in shards for c in s) == sorted(cases)
        assert all(len(s) >= per_job for s in shards[:-1])
        assert len(shards) <= len(slurm.split(cases, per_job))
        for group in groups:
            members = {cases[j] for j in group}
            assert len({i for i, s in enumerate(shards) for c in s if c in members}) == 1
    assert [len(s) for s in slurm.split_by_finding(cases, 4)] == [8, 5]
    assert slurm.split_by_finding(cases, 4) == slurm.split_by_finding(list(cases), 4)
    assert slurm.split_by_finding([], 4) == []


@pytest.mark.parametrize("state,status", [("CANCELLED by 0", "error"), ("FAILED", "error"),
                                          ("TIMEOUT", "timeout"), ("OUT_OF_MEMORY", "oom"),
                                          ("NODE_FAIL", "error")])
def test_fault_status_from_slurm_state(state, status):
    assert slurm.fault_status(state) == status
    assert slurm.base_state(state) in slurm.fault_reason("7_1", state, None)


# ---------------------------------------------------------------------------------------------
# Shards: faults recorded once, merged once


def _ok(c: Case, process: int = 0, host: str = "n1", at: str = "2026-11-26T10:00:00+00:00"):
    return Measurement(c, "ok", latency_s=1e-3, samples_s=(1e-3,), process=process, host=host,
                       started_at=at, finished_at=at)


def test_faults_fill_only_what_a_shard_lacks(tmp_path):
    cases = [case(4), case(8)]
    writer = ResultsWriter(tmp_path, resume=True)
    writer.append(_ok(cases[0]))
    added = slurm.record_faults(tmp_path, cases, 2, "error",
                                slurm.fault_reason("9_0", "CANCELLED by 0", None))
    assert added == 3  # (case 0, pass 1), (case 1, passes 0 and 1)
    records = load_passes(tmp_path)
    assert sorted((m.case.h, m.process, m.status) for m in records) == [
        (4, 0, "ok"), (4, 1, "error"), (8, 0, "error"), (8, 1, "error")]
    assert all("CANCELLED" in m.reason for m in records if m.status == "error")
    assert all(m.macs_analytic for m in records if m.status == "error")  # the model is filled
    assert slurm.record_faults(tmp_path, cases, 2, "error", "again") == 0


def test_a_job_whose_node_started_no_worker_leaves_its_cases_for_resume():
    # Recorded as error, a shard's cases would never run again on --resume, though the node
    # failed and not they (runner.WorkersFailed ends the job's sweep).
    from a2bench.run.runner import WORKERS_FAILED
    from a2bench.slurm.faults import left_to_resume

    detail = f"SweepError: {WORKERS_FAILED}: worker killed by SIGKILL (log: x.err)"
    assert left_to_resume(detail)
    assert not left_to_resume("RuntimeError: boom") and not left_to_resume(None)


def test_merge_dedups_orders_and_keeps_best_ceiling(tmp_path):
    part = tmp_path / "h100"
    a, b, c = case(4), case(8), case(6)
    for i, (records, gemm) in enumerate([([_ok(b, host="n1")], 1e11),
                                         ([_ok(a, host="n2"), _ok(a, host="n3")], 2e11),
                                         ([_ok(c, host="n2")], None)]):
        folder = slurm.shard_folder(part, i)
        w = ResultsWriter(folder, resume=True)
        for m in records:
            w.append(m)
        if gemm:
            roof = {"dtype": "float32", "gemm_flops_per_s": gemm}
            cases_ = [{"block": "double_attention", "channels": 32 * (i + 1), "median_s": 1e-5}]
            # the nodes differ in cores, so each took its own default thread count
            w.write_environment({"host": f"n{i + 1}", "roofline": roof,
                                 "rooflines": {"float32": roof}, "case_passes_planned": 1 + i,
                                 "overhead": {"empty_module_s": 1e-6, "cases": cases_},
                                 "threads": 3 + 4 * i, "physical_cores": 4 + 4 * i,
                                 "cpu_model": "EPYC"})
    order = [a.key(), c.key(), b.key()]
    merged = slurm.merge_partition(part, 3, order, "h100", {"0": "5_0", "1": "5_1"})
    assert len(merged) == 3  # shard 1's second record of case a is a duplicate
    assert [m.case for m in load(part)] == [b, a, c]  # results.jsonl: shard order
    csv = (part / "results.csv").read_text().splitlines()
    assert [line.split(",")[9] for line in csv[1:]] == ["4", "6", "8"]  # suite order (h)
    env = json.loads((part / "environment.json").read_text())
    assert env["executor"] == "slurm" and env["partition"] == "h100"
    assert env["roofline"]["gemm_flops_per_s"] == 2e11  # the best node's
    assert {h: r["float32"]["gemm_flops_per_s"] for h, r in env["rooflines_by_host"].items()} \
        == {"n1": 1e11, "n2": 2e11}  # and each node's own
    assert [s["job_id"] for s in env["shards"]] == ["5_0", "5_1"]
    assert env["hosts"] == ["n1", "n2"]
    assert env["ended"] == "stopped"  # no shard recorded its end
    # each shard's per-call overheads (its own blocks and sizes), with the node that timed them
    assert [(o["channels"], o["host"]) for o in env["overhead"]["cases"]] == [(32, "n1"),
                                                                            (64, "n2")]
    # what one node says of itself: each node's where they differ, not the first shard's
    assert env["threads"] is None and env["physical_cores"] is None
    assert env["per_host"] == {"threads": {"n1": 3, "n2": 7}, "physical_cores": {"n1": 4, "n2": 8}}
    assert env["cpu_model"] == "EPYC" and [s["threads"] for s in env["shards"]] == [3, 7]
    assert "case_passes_planned" not in env  # shard 2 has no plan yet: no total to fall short of
    ResultsWriter(slurm.shard_folder(part, 2), resume=True).write_environment(
        {"host": "n3", "case_passes_planned": 4})
    slurm.merge_partition(part, 3, order, "h100", {})
    assert json.loads((part / "environment.json").read_text())["case_passes_planned"] == 7


def test_a_requeued_shards_ceiling_is_the_best_of_its_sessions():
    # a requeue calibrates again, into resumed_in: the merge had read the first session's alone
    first = {"dtype": "float32", "gemm_flops_per_s": 62.2e9}
    again = {"dtype": "float32", "gemm_flops_per_s": 66.8e9}
    shard = {"host": "n1", "roofline": first, "rooflines": {"float32": first},
             "resumed_in": [{"roofline": again, "rooflines": {"float32": again}}]}
    env = slurm_merge.merge_environments([(0, shard)], "cpu", {})
    assert env["roofline"]["gemm_flops_per_s"] == 66.8e9
    assert env["rooflines"]["float32"]["gemm_flops_per_s"] == 66.8e9
    assert env["shards"][0]["requeued"] == 1 and "roofline_sessions" not in env


def test_a_partition_has_finished_once_every_shard_has():
    assert slurm_merge.merged_ending(["finished", "finished"], True) == "finished"
    assert slurm_merge.merged_ending(["finished"], False) == "stopped"  # a shard not begun
    assert slurm_merge.merged_ending(["finished", "stopped"], True) == "stopped"
    assert slurm_merge.merged_ending(["stopped", "interrupted"], True) == "interrupted"


def test_merge_drops_a_torn_last_line(tmp_path):
    part = tmp_path / "p"
    folder = slurm.shard_folder(part, 0)
    ResultsWriter(folder, resume=True).append(_ok(case(4)))
    with open(folder / "results.jsonl", "a") as f:
        f.write('{"schema": 2, "case": {"blo')  # a job killed mid-write
    assert len(slurm.merge_partition(part, 1, [], "p", {})) == 1


# ---------------------------------------------------------------------------------------------
# The command line, without a cluster


def test_slurm_flags_need_the_slurm_executor(tmp_path, capsys):
    code = main(["run", str(SMOKE), "--out", str(tmp_path / "o"), "--partition", "h100"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--partition" in err and "--executor slurm" in err


def test_slurm_executor_without_sbatch_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    code = main(["run", str(SMOKE), "--out", str(tmp_path / "o"), "--executor", "slurm"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "sbatch is not on PATH" in err
    assert not (tmp_path / "o").exists()


def test_resume_keeps_the_split_it_began_with(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / slurm.SWEEP).write_text(json.dumps({"cases": 6, "cases_per_job": 4}))
    monkeypatch.setattr(slurm.driver.shutil, "which", lambda name: "/usr/bin/" + name)
    code = main(["run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--resume",
                 "--cases-per-job", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "split 4 cases a job" in err
    code = main(["run", str(SMOKE), "--out", str(out), "--executor", "slurm"])
    assert code == 2 and "--resume" in capsys.readouterr().err  # never touched without it
    # begun before --split existed: split case by case, which a resume keeps
    code = main(["run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--resume",
                 "--split", "findings"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "was split by cases" in err


def test_a_resume_with_other_timing_is_refused_before_anything_is_submitted(tmp_path, capsys,
                                                                           monkeypatch):
    """A shard resumed at another --time-budget failed in its job, on the node, and recorded
    every case it lacked as an error, for good; the driver now refuses it first."""
    out = tmp_path / "sweep"
    out.mkdir()
    (out / slurm.SWEEP).write_text(json.dumps({"cases": 6, "cases_per_job": 6,
                                               "split": "cases", "partitions": ["debug"]}))
    shard = slurm.shard_folder(out / "debug", 0)
    shard.mkdir(parents=True)
    (shard / "environment.json").write_text(json.dumps({"suite": "smoke", "time_budget_s": 1.0}))
    monkeypatch.setattr(slurm.driver.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(slurm.driver, "cluster_partitions", lambda: ["debug"])
    monkeypatch.setattr(slurm.driver, "_check_login_node", lambda: None)
    code = main(["run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--resume",
                 "--time-budget", "0.5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--resume: " in err and "its sweep ran with --time-budget 1, this one would run " \
        "with --time-budget 0.5" in err
    assert not (out / "debug" / slurm.JOBS).exists()  # nothing submitted


def test_bad_partition_list_is_refused(tmp_path, capsys):
    code = main(["run", str(SMOKE), "--out", str(tmp_path / "o"), "--executor", "slurm",
                 "--partition", "h100,,a100"])
    assert code == 2 and "partition" in capsys.readouterr().err


def refused_in_a_child(argv: list[str], env: dict[str, str]) -> tuple[int, str, list[str]]:
    """`a2bench argv` run by main() in a child: its exit code, what it said on stderr, and
    which of pandas, scipy and torch it had loaded by then."""
    ((code, said, loaded),) = refusals_in_a_child([argv], env)
    return code, said, loaded


def test_a_partition_sinfo_does_not_list_is_refused_before_the_suite_and_pandas_load(tmp_path):
    """Its line had come from the driver, after the suite's blocks loaded torch and
    a2bench.slurm pandas, scipy and submitit: 4 s of CPU. No Slurm needed: an sinfo on PATH that
    lists three partitions stands for the cluster."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sinfo").write_text('#!/bin/sh\nprintf "debug*\\nh100\\na100\\n"\n')
    (bin_ / "sinfo").chmod(0o755)
    out = tmp_path / "o"
    said = refused_in_a_child(["run", str(SMOKE), "--out", str(out), "--executor", "slurm",
                               "--partition", "h100,nosuch,gone"],
                              {"PATH": f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert said == (2, "a2bench: error: --partition nosuch,gone: not a partition of this "
                       "cluster; expected one of debug, h100, a100", [])
    assert not out.exists()  # nothing written


@pytest.mark.usefixtures("no_submission")
def test_a_resume_on_a_partition_sinfo_does_not_list_names_the_sweep_s_own(tmp_path, capsys,
                                                                           monkeypatch):
    """The early refusal leaves a folder that holds a Slurm sweep to the driver, whose line
    says which partitions the sweep began on."""
    from a2bench import sinfo

    monkeypatch.setattr(sinfo, "cluster_partitions", lambda: ["debug*", "h100"])
    out = tmp_path / "sweep"
    _slurm_sweep(out, _smoke_cases())
    code = main(["run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--resume",
                 "--partition", "nosuch", *FAST])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"--partition nosuch: {out} is a sweep on partition debug; resume with " \
        "--partition debug" in err


# ---------------------------------------------------------------------------------------------
# Against a real one-node Slurm


def _intervals(records: list[Measurement]) -> list[tuple[datetime, datetime]]:
    return sorted((datetime.fromisoformat(m.started_at), datetime.fromisoformat(m.finished_at))
                  for m in records)


def here(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`a2bench ARGS` by the CLI's main() in this process (cli_here), in the environment and
    folder conftest.cli gives a child: the test Slurm's (SLURM_CONF, PATH, the poll) and
    PYTHONPATH, which the jobs inherit through sbatch. A driver's child had spent about 6 s of
    CPU importing what this process holds; the jobs are Slurm's children either way. What a
    driver's process does, killed or re-attached, stays with a child
    (test_resume_after_scancel_and_a_killed_driver), as does a refusal's one line and exit
    status (test_a_request_the_cluster_cannot_meet_is_one_line)."""
    from a2bench import plugins

    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"PYTHONPATH": child_pythonpath(), **env}.items():
            mp.setenv(key, value)
        mp.chdir(ROOT)
        # a plugin the driver loads here is not this process's after it (unknown_block_hint
        # names the plugins loaded that registered nothing)
        mp.setattr(plugins, "REGISTERED", dict(plugins.REGISTERED))
        return cli_here(*args)


def report_here(folders: list[Path], out: Path, roofline: bool = False
                ) -> subprocess.CompletedProcess[str]:
    """`a2bench report FOLDERS --out OUT` in this process, drawing the roofline figure or none:
    these tests read report.md, and the figures were most of a report child's 12 s of CPU. The
    roofline is the one figure drawn from what the Slurm merge computes (the partition's
    ceilings from its shards' calibrations); the others draw the records, as for any run."""
    from a2bench import report
    from a2bench.report import figures

    real = report.draw_figures

    def only_the_roofline(result, folder):
        none = result.fits.iloc[0:0]
        return real(replace(result, fits=none, crossovers=none, modes=none, compiled=none),
                    folder) if roofline else []

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "draw_figures", only_the_roofline)
        mp.setattr(figures, "_few_sizes", lambda data: False)
        return cli_here("report", *map(str, folders), "--out", str(out))


@pytest.fixture
def routed(slurm_env, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str],
                                                  bool, subprocess.CompletedProcess[str]]:
    """SMOKE over h100 and a100, one job each, into a folder where the same sweep with an
    option sbatch does not know had just been refused: (its folder, the refused run, whether
    that left a sweep there, the run). One sweep for both: a job costs 8-10 s of CPU (a
    Python that imports torch, its worker another) and half a minute of a loaded VM; a
    partition's several shards are merged in test_two_nodes_each_finding_on_one_... and in
    test_a_failed_job_records_its_cases_... Both drivers run here (`here`). One test reads
    it: a module fixture that two tests read ran once in each xdist worker the two landed
    in (both tests billed 36 s of it in a `make test`)."""
    out = tmp_path_factory.mktemp("routed") / "sweep"
    args = ["run", str(SMOKE), "--out", str(out), "--executor", "slurm",
            "--partition", "h100,a100", "--cases-per-job", "6", *FAST]
    refused = here(*args, "--slurm", "no_such_option=1", env=slurm_env)
    left = (out / slurm.SWEEP).exists()
    return out, refused, left, here(*args, env=slurm_env)


@pytest.mark.slow
@pytest.mark.slurm
def test_routing_isolation_and_same_counts(routed, tmp_path):
    out, refused, left, r = routed
    # an option sbatch does not know, passed through --slurm as it was written, is refused in
    # one line, and starts no sweep: the same --out is then used by the run read below
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
    assert "sbatch refused" in refused.stderr.strip().splitlines()[-1]
    assert not left
    assert r.returncode == 0, r.stderr[-3000:]
    passes = []
    for p in ("h100", "a100"):
        merged = load(out / p)
        assert len(merged) == 6 and {m.status for m in merged} == {"ok"}, p
        env = json.loads((out / p / "environment.json").read_text())
        assert env["partition"] == p and len(env["shards"]) == 1
        # merged once more at the end: what each job wrote after its last case is in it
        assert env["ended"] == "finished" and env["roofline"]["end"], p
        assert {s["slurm"]["job_partition"] for s in env["shards"]} == {p}
        batch = next((out / p / "submitit").rglob("*_submission.sh")).read_text()
        assert "#SBATCH --exclusive" in batch and f"#SBATCH --partition={p}" in batch
        passes += load_passes(out / p)
        # the same exact counts as the committed local run of the suite
        same = cli_here("compare", str(ROOT / "results" / "baseline" / "smoke"), str(out / p),
                        "--exact-only")
        assert same.returncode == 0, same.stdout + same.stderr
    # Isolation: across both partitions' jobs on the one node, no two cases overlapped.
    spans = _intervals(passes)
    assert len(spans) == 12 and all(m.host for m in passes)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end
    report = report_here([out / "h100", out / "a100"], tmp_path / "r", roofline=True)
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "r" / "report.md").read_text()
    assert "h100" in text and "a100" in text


TWO_GROUPS = """
name: two-groups
description: both orders at c 32, SE at c 16 on other sides; no finding joins the two
blocks: [double_attention, nonlocal_right, se]
device: cpu
params: {batch: [1], m: [8], n: [8], reduction: [8]}
zip: [[h, w]]
sweeps:
  - blocks: [double_attention, nonlocal_right]
    params: {channels: [32], h: [4, 8], w: [4, 8]}
  - blocks: [se]
    params: {channels: [16], h: [6, 10], w: [6, 10]}
"""


@pytest.mark.slow
@pytest.mark.slurm
def test_two_nodes_each_finding_on_one_and_the_merge_names_both(slurm_two_nodes, tmp_path):
    suite = tmp_path / "two-groups.yaml"
    suite.write_text(TWO_GROUPS)
    out = tmp_path / "sweep"
    r = here("run", str(suite), "--out", str(out), "--executor", "slurm", "--partition", "debug",
             "--cases-per-job", "2", *FAST, env=slurm_two_nodes)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 jobs each (whole findings, at least 2 cases a job)" in r.stderr
    assert "--split cases makes 3" in r.stderr  # the way to more jobs, and its cost
    merged = load(out / "debug")
    assert len(merged) == 6 and {m.status for m in merged} == {"ok"}
    env = json.loads((out / "debug" / "environment.json").read_text())
    assert env["hosts"] == ["node1", "node2"], env["hosts"]  # one job on each node, at once
    assert sorted(s["host"] for s in env["shards"]) == ["node1", "node2"]
    hosts: dict[str, set[str]] = {}
    for m in merged:
        hosts.setdefault(m.case.block, set()).add(m.host)
    assert all(len(h) == 1 for h in hosts.values()), hosts  # each block's fit on one node
    assert hosts["double_attention"] == hosts["nonlocal_right"] != hosts["se"]  # and the pair
    passes = load_passes(out / "debug")
    for node in ("node1", "node2"):  # on each node, no two timed cases overlapped
        spans = _intervals([m for m in passes if m.host == node])
        assert spans and all(start >= end for (_, end), (start, _) in zip(
            spans, spans[1:], strict=False))
    report = report_here([out / "debug"], tmp_path / "r")
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "r" / "report.md").read_text()
    assert "debug (2 jobs, 2 nodes)" in text and "ran on 2 nodes" not in text
    assert "(the best node's; each node's own: node1 " in text  # what its cases are read against


@pytest.mark.slow
@pytest.mark.slurm
def test_a_failed_job_records_its_cases_and_the_sweep_goes_on(slurm_env, tmp_path):
    out = tmp_path / "sweep"
    # the plugin loads here, as on a login node, and fails in each job (tests/slurm_node_fails)
    r = here("run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--partition", "h100",
             "--split", "cases", *FAST, env={**slurm_env, "A2BENCH_PLUGINS": "slurm_node_fails"})
    assert r.returncode == 1, r.stderr[-3000:]  # no case ended ok: as a local run exits
    merged = load(out / "h100")
    assert len(merged) == 6 and {m.status for m in merged} == {"error"}
    assert all("ended FAILED" in m.reason and "cannot import the plugin" in m.reason
               for m in merged), merged[0].reason
    assert r.stderr.count("FAILED, ") == 2  # both jobs (4 + 2 cases) said so as they ended
    # the end lists each failed case with why, as a local run does
    why = [line for line in r.stdout.splitlines() if line.startswith("  ")]
    assert len(why) == 6 and all(": error: " in w and "ended FAILED" in w for w in why), r.stdout


@pytest.mark.slow
@pytest.mark.slurm
def test_a_request_the_cluster_cannot_meet_is_one_line(slurm_env, tmp_path):
    # before the suite's blocks load torch and a2bench.slurm pandas and scipy: 4 s of CPU
    code, err, loaded = refused_in_a_child(
        ["run", str(SMOKE), "--out", str(tmp_path / "o"), "--executor", "slurm",
         "--partition", "nosuch", *FAST], slurm_env)
    assert code == 2, err[-2000:]
    (line,) = err.splitlines()
    assert "nosuch" in line and "not a partition" in line and "h100" in line
    assert loaded == []
    assert not (tmp_path / "o").exists()  # nothing written
    # an option sbatch does not know: test_routing_isolation_and_same_counts (its `routed`)


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.25)


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


@pytest.mark.slow
@pytest.mark.slurm
def test_resume_after_scancel_and_a_killed_driver(slurm_env, tmp_path):
    out = tmp_path / "sweep"
    # Two jobs of three cases, each case sampled for a second, so a job is still running when
    # it is cancelled after its first result.
    args = ["run", str(SMOKE), "--out", str(out), "--executor", "slurm",
            "--partition", "debug", "--cases-per-job", "3", "--split", "cases", *FAST,
            "--time-budget", "1", "--ci-target", "0.0001", "--no-interleave"]
    env = {**os.environ, "PYTHONPATH": child_pythonpath(), **slurm_env}
    log = tmp_path / "driver.log"
    with log.open("w") as said_to:
        driver = subprocess.Popen([*A2BENCH, *args], env=env, cwd=ROOT, stdout=said_to,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
    shards = out / "debug" / "shards"
    failed = None
    try:
        _wait(lambda: _lines(shards / "0" / "results.jsonl") >= 1, 120, "a first result")
        jobs = json.loads((out / "debug" / "jobs.json").read_text())
        # While the driver watches, the running job is cancelled: what it finished stays, and
        # the rest of its cases are left for --resume (they had been recorded as error, and
        # --resume then ran nothing); the sweep goes on.
        subprocess.run(["scancel", jobs["0"]], env=env, check=True)
        _wait(lambda: "CANCELLED" in log.read_text(), 60, "the driver to see the cancel")
    except AssertionError as e:
        failed = e
    finally:
        # The driver dies mid-sweep, as the second job starts (it needs seconds before its
        # first case); that job goes on.
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    said = log.read_text()
    assert failed is None, f"{failed}; the driver said:\n{said[-3000:]}"
    assert "left for --resume" in said and "recorded as" not in said, said[-3000:]
    kept = _lines(shards / "0" / "results.jsonl")
    assert 1 <= kept <= 2  # the cancelled job's finished cases, none recorded for it
    # The report reads the shards, which the dead driver's merged files lag (the second job
    # goes on writing), and writes nothing into the run's folder.
    from a2bench.analysis import load_runs
    from a2bench.analysis.unfinished import unfinished

    merged = (out / "debug" / "results.jsonl").read_bytes()
    low = sum(_lines(shards / str(i) / "results.jsonl") for i in range(2))
    (run,) = load_runs([out / "debug"])[1]
    assert low <= run.passes <= sum(_lines(shards / str(i) / "results.jsonl") for i in range(2))
    assert (out / "debug" / "results.jsonl").read_bytes() == merged
    before = {i: (shards / str(i) / "results.jsonl").read_bytes()
              for i in range(2) if (shards / str(i) / "results.jsonl").exists()}
    r = cli(*args, "--resume", env=slurm_env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    # the running job re-attached, the cancelled one's cases submitted again
    assert "1 job re-attached" in r.stderr and "debug: submitted 1 job" in r.stderr, r.stderr
    for i, data in before.items():  # what was stored is kept, byte for byte
        assert (shards / str(i) / "results.jsonl").read_bytes().startswith(data)
    passes = load_passes(out / "debug")
    keys = [m.case.key() for m in passes]
    assert len(keys) == 6 and len(set(keys)) == 6  # every case exactly once
    assert all(m.status == "ok" for m in passes), [m.reason for m in passes]
    assert [m for m in load_passes(shards / "1")] and all(
        m.status == "ok" for m in load_passes(shards / "1"))
    assert unfinished(load_runs([out / "debug"])[1]) == {}  # every case pass is recorded


def test_a_job_slurm_stops_listing_has_ended():
    answers = iter([{"4_0": "RUNNING", "4_1": "PENDING"}, {"4_0": "RUNNING"}, None,
                    {"4_0": "COMPLETED"}])
    watch = slurm.Watch(query=lambda ids: next(answers))
    assert watch.state("4_1") == "PENDING"  # not listed yet: just submitted
    for _ in range(2):
        watch.poll(["4_0", "4_1"])
    assert watch.state("4_1") == "PENDING"  # one silent poll is not enough
    watch.poll(["4_0", "4_1"])  # sacct did not answer: nothing concluded
    assert watch.state("4_1") == "PENDING"
    watch.poll(["4_0", "4_1"])
    assert watch.state("4_1") == slurm.GONE and watch.state("4_0") == "COMPLETED"
    assert "UNLISTED" in slurm.fault_reason("4_1", slurm.GONE, None)
    assert slurm.fault_status(slurm.GONE) == "error"


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("A2BENCH_SLURM_PREEMPT") != "1",
                    reason="a requeue waits out Slurm's cred_expire (about a minute); set "
                           "A2BENCH_SLURM_PREEMPT=1 to run it")
def test_preempted_job_is_requeued_and_keeps_its_cases(slurm_env, tmp_path):
    from submitit import SlurmJob

    out = tmp_path / "sweep"
    args = ["run", str(SMOKE), "--out", str(out), "--executor", "slurm",
            "--partition", "debug", "--cases-per-job", "6", *FAST, "--processes", "2"]
    env = {**os.environ, "PYTHONPATH": child_pythonpath(), **slurm_env}
    driver = subprocess.Popen([*A2BENCH, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    shard = out / "debug" / "shards" / "0"
    _wait(lambda: _lines(shard / "results.jsonl") >= 3, 180, "three results")
    job_id = json.loads((out / "debug" / "jobs.json").read_text())["0"]
    old_env = os.environ.copy()
    os.environ.update(slurm_env)
    try:
        SlurmJob(folder=out / "debug" / "submitit", job_id=job_id)._interrupt()  # preempt
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    kept = (shard / "results.jsonl").read_bytes()
    stdout, _ = driver.communicate(timeout=400)
    assert driver.returncode == 0, stdout[-3000:]
    assert (shard / "results.jsonl").read_bytes().startswith(kept)
    passes = load_passes(out / "debug")
    assert len(passes) == 12 and {m.status for m in passes} == {"ok"}
    assert len({(m.case.key(), m.process) for m in passes}) == 12
    env_json = json.loads((shard / "environment.json").read_text())
    assert env_json.get("resumed_in"), "the requeued job resumed its shard"


def test_error_line_is_the_traceback_end():
    text = ("Job (task=0) failed during processing with trace:\n----------------------\n"
            "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            "ImportError: no such thing\n----------------------\n"
            "You can check full logs with 'job.stderr(0)' and 'job.stdout(0)'or at paths:\n"
            "  - /d/5_0_0_log.err\n  - /d/5_0_0_log.out\n")
    assert slurm.error_line(text) == "ImportError: no such thing"
    assert slurm.error_line("just this") == "just this"


def _as_pickled_before(obj) -> bytes:
    """obj pickled as a2bench pickled it before a2bench.slurm was a package: its class under
    `a2bench.slurm` (protocol 2 names a class as text, so the module can be swapped)."""
    data = pickle.dumps(obj, protocol=2)
    new = f"c{type(obj).__module__}\n{type(obj).__qualname__}\n".encode()
    assert new in data
    return data.replace(new, f"ca2bench.slurm\n{type(obj).__qualname__}\n".encode())


def test_a_task_pickled_before_run_options_still_runs_its_shard(tmp_path):
    # Before RunOptions, a task carried the shard's argparse Namespace in `args`, and both
    # classes lived in the module a2bench.slurm: a sweep begun then must resume now.
    folder = tmp_path / "debug" / "shards" / "1"
    args = argparse.Namespace(
        command="run", suite=SMOKE, out=folder, device=None, dtype=None, threads=1,
        resume=True, case_timeout=300.0, memory_budget=None, time_budget=0.05, ci_target=0.02,
        processes=2, interleave=False, seed=1234, calibration_time=0.01, warm_cache=False,
        malloc_reuse=False, no_counters=True, no_progress=True, executor="local",
        partition=None, slurm=[], cases_per_job=None)
    old = object.__new__(slurm.ShardTask)  # the old class had `args` where `options` is now
    old.__dict__.update(partition="debug", index=1, folder=str(folder), suite=None,
                        cases=(case(4),), args=args)
    task = pickle.loads(_as_pickled_before(old))
    assert type(task) is slurm.ShardTask
    options = slurm.task_options(task)
    assert options == RunOptions(out=folder, suite=str(SMOKE), threads=1, resume=True,
                                 time_budget=0.05, processes=2, interleave=False, seed=1234,
                                 calibration_time=0.01, counters=False, progress=False,
                                 malloc_reuse=False)  # the old flag said so: kept as it was
    job = pickle.loads(_as_pickled_before(slurm.ShardJob()))
    assert type(job) is slurm.ShardJob and callable(job)
    # a task pickled now carries its options, and they are taken as they are
    now = RunOptions(out=tmp_path / "o", suite=str(SMOKE)).for_shard(folder, 7)
    task = slurm.ShardTask("debug", 1, str(folder), None, (case(4),), now)
    assert slurm.task_options(pickle.loads(pickle.dumps(task))) == now


def test_faulty_records_stay_valid_measurements():
    m = replace(_ok(case()), status="timeout", reason="Slurm job 3_0 ended TIMEOUT")
    assert Measurement.from_json(m.to_json()) == m


def test_the_driver_merges_once_more_at_the_end(tmp_path, capsys):
    """A job writes its end-of-sweep calibration and `ended` after its last case, which grows no
    results.jsonl: the final merge must still carry them into the partition's environment."""
    from a2bench.slurm.driver import Plan, SlurmDriver

    a = case(4)
    out = tmp_path / "sweep"
    driver = SlurmDriver(None, [a], RunOptions(out=out, suite="s.yaml", processes=1))
    driver.sweep = Plan(("p",), True, 1, 1, 0, False, {})
    driver.jobs_of = {"p": {"0": "5_0"}}
    w = ResultsWriter(slurm.shard_folder(out / "p", 0), resume=True)
    w.append(_ok(a))
    w.write_environment({"host": "n1", "roofline": {"start": {"gemm_flops_per_s": 1.0}}})
    slurm.merge_partition(out / "p", 1, driver.order, "p", driver.jobs_of["p"])  # mid-sweep
    merged = out / "p" / "environment.json"
    assert json.loads(merged.read_text())["ended"] == "stopped"
    w.update_session(ended="finished")  # the job's end: no new record
    assert driver.finish() == 0
    assert json.loads(merged.read_text())["ended"] == "finished"


def test_a_slurm_sweeps_resume_line_carries_its_own_flags_and_keeps_its_passes(tmp_path,
                                                                                monkeypatch):
    # report's line had read "--executor slurm --resume (and the options it ran with)": pasted,
    # it resumed at the default 3 passes beside jobs making 2, whose missing passes were then
    # recorded as errors for good
    from types import SimpleNamespace

    from a2bench.run.store import resume_line
    from a2bench.slurm import driver as slurm_driver

    top = tmp_path / "sweep"
    top.mkdir()
    (top / ".slurm.json").write_text(json.dumps({
        "partitions": ["a100"], "split": "cases", "cases_per_job": 1, "processes": 2,
        "slurm": ["time=30"], "cases": 1}))
    env = {"suite_path": "tiny.yaml", "run_flags": ["--calibration-time", "0.01",
                                                   "--processes", "2"]}
    assert resume_line(env, top, True) == (
        f"a2bench run tiny.yaml --out {top} --resume --executor slurm --partition a100 "
        "--split cases --cases-per-job 1 --processes 2 --slurm time=30 --calibration-time 0.01")
    # a .slurm.json without its passes, or not as the driver writes it: the line asks for them
    for damaged in ({}, {"partitions": "a100", "slurm": "time=30", "processes": 2}):
        (tmp_path / "other").mkdir(exist_ok=True)
        (tmp_path / "other" / ".slurm.json").write_text(json.dumps(damaged))
        assert resume_line(env, tmp_path / "other", True).endswith(
            "--executor slurm --resume (and the options it ran with)")
    monkeypatch.setattr(slurm_driver, "_check_login_node", lambda: None)
    suite = SimpleNamespace(path="tiny.yaml", name="tiny", device="cpu")
    options = RunOptions(out=top, suite="tiny.yaml", processes=3, resume=True)
    with pytest.raises(slurm.SlurmError, match="--processes 3: .* runs 2 passes a case; resume "
                                               "with --processes 2"):
        slurm_driver.SlurmDriver(suite, [case(4)], options).plan()


@pytest.mark.parametrize(("signum", "code"), [(0, 130), (15, 143), (1, 129)])
def test_a_stopped_driver_exits_as_a_local_run_does(tmp_path, monkeypatch, signum, code):
    # SIGTERM and SIGHUP had given 130, as Ctrl-C does; a local run gives 143 and 129
    from a2bench.run.interrupts import Caught
    from a2bench.slurm import driver as slurm_driver

    monkeypatch.setattr(slurm_driver.SlurmDriver, "plan", lambda self: None)
    monkeypatch.setattr(slurm_driver.SlurmDriver, "submit", lambda self: False)
    options = RunOptions(out=tmp_path / "sweep", suite="s.yaml", processes=1)
    assert slurm_driver.run_on_slurm(None, [case(4)], options, Caught(signum)) == code

    def stopped(self):  # a signal while planning (sinfo, the shards) or in the last merge
        raise KeyboardInterrupt

    monkeypatch.setattr(slurm_driver.SlurmDriver, "plan", stopped)
    assert slurm_driver.run_on_slurm(None, [case(4)], options, Caught(signum)) == code


@pytest.mark.parametrize("said,advice", [
    ("sbatch: fatal: Could not establish a configuration source",
     "expected a machine that reaches a Slurm controller"),
    ("sbatch: error: invalid partition specified: nosuch", "check --partition and --slurm"),
])
def test_sbatch_that_reaches_no_controller_is_not_blamed_on_the_flags(tmp_path, monkeypatch,
                                                                      said, advice):
    from a2bench.slurm import cluster

    class Refusing:
        def map_array(self, *args):
            raise RuntimeError(said)

    monkeypatch.setattr(cluster, "executor", lambda part, params: Refusing())
    with pytest.raises(slurm.SlurmError) as e:
        cluster.submit(tmp_path / "default", {}, [])
    assert str(e.value) == f"sbatch refused the jobs for partition default: {said}; {advice}" \
        + (" (a login node: sinfo answers there)" if "controller" in advice else "")
    assert not (tmp_path / "default").exists()  # made for jobs that never were: gone again
    kept = tmp_path / "earlier"
    (kept / "submitit").mkdir(parents=True)  # a partition folder of jobs that ran: kept
    with pytest.raises(slurm.SlurmError):
        cluster.submit(kept, {}, [])
    assert (kept / "submitit").is_dir()


def test_the_watch_says_what_the_jobs_wait_on():
    """A job pending on a down partition showed a bar at 0 % for a minute and nothing else."""
    from types import SimpleNamespace

    from a2bench.slurm.driver import SlurmDriver

    watch = SimpleNamespace(state=lambda job: {"1": "PENDING", "2": "RUNNING",
                                               "3": "PENDING"}[job], reasons={},
                            unanswered=0)
    shards = [SimpleNamespace(job=SimpleNamespace(job_id=i), finished=done)
              for i, done in (("1", False), ("2", False), ("3", False), ("4", True))]
    driver = SimpleNamespace(shards=shards)
    assert SlurmDriver._job_states(driver, watch) == "2 PENDING, 1 RUNNING"


# ---------------------------------------------------------------------------------------------
# --slurm's memory and time limit


@pytest.mark.usefixtures("srun_on_path")
@pytest.mark.parametrize(("pair", "line"), [("mem_gb=2", "#SBATCH --mem=2GB"),
                                            ("mem_per_cpu=2G", "#SBATCH --mem-per-cpu=2G"),
                                            ("mem_per_gpu=8G", "#SBATCH --mem-per-gpu=8G"),
                                            ("mem=4G", "#SBATCH --mem=4G")])
def test_a_memory_request_replaces_the_whole_node(tmp_path, pair, line):
    # submitit wrote the default slurm_mem over mem_gb (--mem=0, silently), and sbatch refuses
    # --mem beside --mem-per-cpu
    params = slurm.parameters("h100", "cpu", "smoke", slurm.parse_options([pair]))
    text = slurm.sbatch_text(tmp_path, params, 1)
    assert line in text and "--mem=0" not in text
    assert sum(w.startswith("#SBATCH --mem") for w in text.splitlines()) == 1, text


@pytest.mark.parametrize("bad", ["time=-5", "time=0", "time=00:00", "time=0-0", "time=1",
                                 "time=01:00", "time=00:30", "timeout_min=1"])
def test_a_time_limit_under_two_minutes_is_one_line(bad):
    # sbatch took -5 as some 8000 years and 0 as no limit at all; a 1-minute job was signalled
    # to requeue as it started, and its sweep ended FAILED with every case an error
    with pytest.raises(slurm.SlurmError, match="expected a time limit of at least 2 minutes"):
        slurm.parse_options([bad])
    assert slurm.parse_options(["time=01:30"])["timeout_min"] == 2  # up to a whole minute
    # a sweep begun with it before it was refused resumes as it began
    assert "timeout_min" in slurm.parse_options([bad], [bad])


@pytest.mark.usefixtures("srun_on_path")
@pytest.mark.parametrize(("pairs", "signal"), [([], 90), (["time=3"], 90), (["time=2"], 30),
                                               (["time=2", "signal_delay_s=10"], 10)])
def test_the_requeue_signal_comes_after_the_start(tmp_path, pairs, signal):
    # submitit's 90 s, up to 60 s early, came as a 1- or 2-minute job started
    params = slurm.parameters("h100", "cpu", "smoke", slurm.parse_options(pairs))
    assert f"#SBATCH --signal=USR2@{signal}" in slurm.sbatch_text(tmp_path, params, 1)
    stored = slurm.parameters("h100", "cpu", "smoke", slurm.parse_options(["time=1"], ["time=1"]))
    assert stored["slurm_signal_delay_s"] == 0


# ---------------------------------------------------------------------------------------------
# A partition's end, and what report and compare read of it


def _slurm_sweep(out: Path, cases: list[Case], **more) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / slurm.SWEEP).write_text(json.dumps({
        "suite_name": "smoke", "cases": len(cases), "cases_per_job": len(cases), "split": "cases",
        "shards": 1, "partitions": ["debug"], "processes": 1, **more}))


def _partition_with_a_cancelled_shard(top: Path) -> tuple[Path, list[Case]]:
    """Shard 0's job cancelled as it calibrated (before it planned its passes), its 3 cases
    recorded as error by the driver; shard 1 finished. Every case pass is recorded."""
    cases = [case(h) for h in (4, 6, 8, 10, 12, 14)]
    _slurm_sweep(top, cases, cases_per_job=3, shards=2)
    part = top / "debug"
    first = ResultsWriter(slurm.shard_folder(part, 0), resume=True)
    first.write_environment({"suite": "smoke", "suite_path": "smoke.yaml", "host": "n1",
                             "ended": "interrupted"})
    slurm.record_faults(slurm.shard_folder(part, 0), cases[:3], 1, "error",
                        slurm.fault_reason("7_0", "CANCELLED by 0", None))
    second = ResultsWriter(slurm.shard_folder(part, 1), resume=True)
    second.write_environment({"suite": "smoke", "suite_path": "smoke.yaml", "host": "n1",
                              "ended": "finished", "case_passes_planned": 3})
    for c in cases[3:]:
        second.append(_ok(c))
    return part, cases


def test_a_partition_with_every_case_pass_recorded_has_finished(tmp_path):
    """The driver recorded a cancelled job's lost cases as error, yet the partition read
    `interrupted`: report said "unfinished … resume it with …", compare failed "the sweep did
    not finish", and the resume ran nothing."""
    from a2bench.analysis import load_runs
    from a2bench.analysis.unfinished import unfinished
    from a2bench.compare import unfinished_sides
    from a2bench.compare.load import load_side

    part, cases = _partition_with_a_cancelled_shard(tmp_path / "sweep")
    slurm.merge_partition(part, 2, [c.key() for c in cases], "debug", {}, passes=1)
    env = json.loads((part / "environment.json").read_text())
    assert env["ended"] == "finished" and env["case_passes_planned"] == 6
    assert slurm_merge.merged_ending(["interrupted", "finished"], True, complete=True) \
        == "finished"
    assert unfinished(load_runs([part])[1]) == {}
    assert unfinished_sides({"head": (part, load_side(part, "head"))}) == []
    # one case pass short: still unfinished, with the line that goes on
    lines = (slurm.shard_folder(part, 1) / "results.jsonl").read_text().splitlines()
    (slurm.shard_folder(part, 1) / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    (said,) = unfinished(load_runs([part])[1]).values()
    assert said.startswith("unfinished: interrupted after 5 of 6 case passes") and \
        "--executor slurm" in said


def test_report_and_compare_read_the_shards_not_a_stale_merge(tmp_path):
    """After the driver died (kill -9, or a stop whose jobs went on), the merged results.jsonl
    held 0 lines while a shard held 6: "no ok results", and no word of the shards."""
    from a2bench.analysis import load_runs
    from a2bench.compare.load import load_side

    part, cases = _partition_with_a_cancelled_shard(tmp_path / "sweep")
    (part / "results.jsonl").write_text("")  # the driver's last merge, before any result
    (part / "environment.json").write_text(json.dumps({"suite": "smoke", "executor": "slurm"}))
    before = {p: p.read_bytes() for p in part.rglob("*") if p.is_file()}
    data, (run,) = load_runs([part])
    assert run.passes == 6 and run.ok == 3 and run.environment["hosts"] == ["n1"]
    assert len(load_side(part, "base").merged) == 6
    # `report .` inside the partition had read the lagging merged files (Path(".").parent)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(part)
        assert load_runs([Path(".")])[1][0].passes == 6
        mp.chdir(part / "shards")
        assert load_runs([Path("..")])[1][0].passes == 6
    # a2bench.Results(partition).frame had read the lagging results.csv (no rows) while its
    # fits() and verdict() read the shards
    (part / "results.csv").write_text("status\n")
    before = {p: p.read_bytes() for p in part.rglob("*") if p.is_file()}
    frame = a2bench.Results(part).frame
    assert len(frame) == 6 and sorted(frame["status"]) == ["error"] * 3 + ["ok"] * 3
    assert sorted(frame["h"]) == [c.h for c in cases]
    assert {p: p.read_bytes() for p in part.rglob("*") if p.is_file()} == before  # read-only
    # a set published without its shards is read as stored
    published = tmp_path / "published" / "debug"
    published.mkdir(parents=True)
    (tmp_path / "published" / slurm.SWEEP).write_text("{}")
    ResultsWriter(published, resume=True).append(_ok(cases[0]))
    assert load_runs([published])[1][0].passes == 1


# ---------------------------------------------------------------------------------------------
# A local run into a Slurm sweep's folder


def _smoke_cases(dtype: str = "float32") -> list[Case]:
    from a2bench.suite import expand, load_suite

    return expand(load_suite(SMOKE, dtype=dtype))


def test_a_local_run_into_a_slurm_sweep_is_refused(tmp_path, capsys):
    """It had written results beside .slurm.json: `report DIR/*` then failed on them, and the
    Slurm resume was refused."""
    out = tmp_path / "sweep"
    _slurm_sweep(out, _smoke_cases())
    (out / "debug" / "shards").mkdir(parents=True)
    (out / "debug" / "results.jsonl").write_text("")  # the merged set: a sweep to --resume
    said = {}
    # a partition without --resume had been told "already holds a sweep; pass --resume",
    # which was then refused: the Slurm folder's line comes first, with or without it
    for folder, flags in ((out, ()), (out, ("--resume",)), (out / "debug", ("--resume",)),
                          (out / "debug", ())):
        before = sorted(p.relative_to(out) for p in out.rglob("*"))
        code = main(["run", str(SMOKE), "--out", str(folder), *flags, *FAST])
        said[folder, flags] = err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        top = "" if folder == out else f" --out {out}"
        assert err.endswith("; a local run there would mix its results into that sweep's: "
                            "choose another --out, or resume the sweep with --executor slurm "
                            f"--resume{top} and the options it ran with"), err
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing written
        assert (f"--out {out}: holds a Slurm sweep (.slurm.json);" if folder == out else
                f"--out {out / 'debug'}: is partition debug of the Slurm sweep in {out};") in err
    # from Python: a call to resume, or the CLI line (sweep takes no executor= keyword)
    for resume in (False, True):
        with pytest.raises(InputError) as e:
            a2bench.sweep(str(SMOKE), out=out / "debug", resume=resume)
        assert str(e.value) == (
            f"a2bench.sweep: out {out / 'debug'}: is partition debug of the Slurm sweep in "
            f"{out}; a local sweep there would mix its results into that sweep's: choose "
            f"another out, or resume the sweep with a2bench run SUITE --executor slurm --resume "
            f"--out {out} and the options it ran with")
    # --executor slurm into a partition had been told it "holds the results of a local run"
    for flags in ((), ("--resume",)):
        code = main(["run", str(SMOKE), "--out", str(out / "debug"), "--executor", "slurm",
                     *flags, *FAST])
        err = capsys.readouterr().err.strip()
        assert code == 2 and f"{out / 'debug'}: is partition debug of the Slurm sweep in " \
            f"{out}; resume that sweep with --out {out}" in err, err


# ---------------------------------------------------------------------------------------------
# A resume that would mix two sweeps, or has none to resume


@pytest.fixture
def no_submission(monkeypatch):
    """A login node that plans (sinfo lists debug) but must never submit."""
    def submitted(*args, **kwargs):
        raise AssertionError("a job was submitted")

    monkeypatch.setattr(slurm.driver, "_check_login_node", lambda: None)
    monkeypatch.setattr(slurm.driver, "cluster_partitions", lambda: ["debug"])
    monkeypatch.setattr(slurm.driver, "submit_array", submitted)


@pytest.mark.usefixtures("no_submission")
def test_a_resume_with_another_dtype_is_refused_before_anything_is_submitted(tmp_path, capsys):
    """A resume with --dtype float64 (or an edited suite of the same name and count) had
    submitted jobs that failed on the node, recorded errors for the float64 cases beside the
    float32 ones, and ended with "12 of 6 cases" and "-6 case(s) have no result yet", exit 0."""
    out = tmp_path / "sweep"
    cases = _smoke_cases()
    _slurm_sweep(out, cases)  # begun before .slurm.json held its cases' digest
    shard = slurm.shard_folder(out / "debug", 0)
    w = ResultsWriter(shard, resume=True)
    w.write_environment({"suite": "smoke"})
    w.append(_ok(cases[0]))
    args = ["run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--resume", *FAST]
    code = main([*args, "--dtype", "float64"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"--resume: {shard}: holds 1 case pass of 1 case this suite does not have" in err
    assert "cases_digest" not in (out / slurm.SWEEP).read_text()  # the sweep's, as it was
    # with its digest, told apart before any shard holds a record
    shard.joinpath("results.jsonl").unlink()
    _slurm_sweep(out, cases, cases_digest=slurm.driver.cases_digest([c.key() for c in cases]))
    assert main([*args, "--dtype", "float64"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{out}: its sweep's cases are not those {SMOKE} now gives (its file edited, or " \
        "another --device or --dtype); resume with the suite" in err and "\n" not in err
    _slurm_sweep(out, cases, suite_name="other")
    assert main(args) == 2
    assert "holds a Slurm sweep of suite 'other', not 'smoke'" in capsys.readouterr().err
    assert not (out / "debug" / slurm.JOBS).exists()


def test_the_end_counts_only_the_sweeps_own_cases(tmp_path, capsys):
    from a2bench.slurm.driver import Plan, SlurmDriver

    a, b = case(4), case(8)
    out = tmp_path / "sweep"
    driver = SlurmDriver(None, [a], RunOptions(out=out, suite="s.yaml", processes=1))
    driver.sweep = Plan(("p",), True, 1, 1, 0, False, {})
    driver.jobs_of = {"p": {}}
    w = ResultsWriter(slurm.shard_folder(out / "p", 0), resume=True)
    w.append(_ok(a))
    w.append(_ok(b))  # another sweep's case
    assert driver.finish() == 0
    said = capsys.readouterr().out
    assert "p: 1 of 1 cases" in said and "have no result yet" not in said, said


@pytest.mark.usefixtures("no_submission")
def test_resume_into_a_folder_with_no_slurm_sweep_is_refused(tmp_path, capsys):
    # a typo in --out had submitted the whole sweep again, as the local executor refuses
    out = tmp_path / "typo"
    code = main(["run", str(SMOKE), "--out", str(out), "--executor", "slurm", "--resume", *FAST])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"--resume: {out} holds no Slurm sweep (no .slurm.json); expected the --out" in err
    assert not out.exists()


def test_a_stop_before_the_sweep_began_says_to_run_it_again(tmp_path, monkeypatch, capsys):
    from a2bench.slurm import driver as slurm_driver

    def stopped(self):  # Ctrl-C while sinfo answers, before .slurm.json is written
        raise KeyboardInterrupt

    monkeypatch.setattr(slurm_driver.SlurmDriver, "plan", stopped)
    options = RunOptions(out=tmp_path / "sweep", suite="s.yaml", processes=1, executor="slurm")
    assert slurm_driver.run_on_slurm(None, [case(4)], options) == 130
    err = capsys.readouterr().err
    assert "interrupted before the sweep began" in err and "nothing was submitted" in err
    assert "--resume" not in err and "--executor slurm" in err
    _slurm_sweep(tmp_path / "sweep", [case(4)])  # begun: the jobs go on, re-attach
    assert slurm_driver.run_on_slurm(None, [case(4)], options) == 130
    assert "Re-attach with: " in (err := capsys.readouterr().err) and "--resume" in err
