"""a2bench compare on synthetic results folders whose samples are chosen, so each rule is pinned.

The stores are written with the real ResultsWriter, and the command runs through a2bench.cli.main,
so exit codes and the one-line bad-input error are the user's.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from a2bench import compare as cmp
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.cli import main
from a2bench.measurement import Measurement
from a2bench.run.store import ResultsWriter

CASES = [
    Case("double_attention", "cpu", "float32", 1, 64, 1, 16, 16, m=16, n=16),
    Case("nonlocal_right", "cpu", "float32", 1, 64, 1, 16, 16, m=16, n=16),
    Case("se", "cpu", "float32", 1, 64, 1, 16, 16, reduction=16),
]
BASE_MS = {"double_attention": 1.0, "nonlocal_right": 2.0, "se": 0.2}
ENV = {"suite": "smoke", "a2bench_version": "0.1.0", "git_commit": "aaaa", "python": "3.11.7",
       "torch": "2.13.0+cpu", "fvcore": "0.1.5", "numpy": "2.4.6", "cpu_model": "Test CPU",
       "threads": 2, "physical_cores": 2}


def samples(median_ms: float, seed: int, n: int = 60, spread: float = 0.04) -> tuple[float, ...]:
    """Right-skewed timings with a few stragglers, like a shared runner's."""
    rng = np.random.default_rng(seed)
    s = median_ms / 1e3 * np.exp(rng.normal(0, spread, n))
    s[rng.choice(n, n // 20, replace=False)] *= 3  # preemptions
    return tuple(float(x) for x in s)


def record(case: Case, seed: int, slowdown: float = 1.0, reference_s: float = 1e-3,
           n: int = 60, **changes: Any) -> Measurement:
    s = samples(BASE_MS[case.block] * slowdown, seed, n)
    cost = cost_of(case)  # one model call, not five: it is the same pure function's value
    m = Measurement(case, "ok", threads=2, latency_s=float(np.median(s)), samples_s=s,
                    reference_s=reference_s, first_call_s=0.01, macs_fvcore=cost.macs,
                    macs_torch=cost.macs, macs_counted=cost.macs, peak_bytes=cost.peak_bytes)
    return replace(m.with_cost(cost), **changes)


def store(path: Path, records: list[Measurement], env: dict[str, Any] | None = None) -> Path:
    w = ResultsWriter(path, resume=False)
    w.write_environment(ENV if env is None else env)
    for m in records:
        w.append(m)
    return path


def run(base: Path, head: Path, *flags: str) -> int:
    return main(["compare", str(base), str(head), *flags])


PASSES = 5  # a case fails on timing only with 3 or more passes a side; 5 lets one case fail


def passes(case: Case, seed: int, count: int = PASSES, **per_record: Any) -> list[Measurement]:
    """One record per pass (worker process), each with its own samples."""
    n = per_record.pop("n", 60)
    return [replace(record(case, seed=seed * 100 + p, n=max(n // count, 3), **per_record),
                    process=p, processes=count) for p in range(count)]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return store(tmp_path / "base", [m for i, c in enumerate(CASES) for m in passes(c, seed=i)])


def head_with(tmp_path: Path, name: str = "head", env: dict[str, Any] | None = None,
              **per_record: Any) -> Path:
    return store(tmp_path / name, [m for i, c in enumerate(CASES)
                                   for m in passes(c, seed=100 + i, **per_record)], env)


def test_a_folder_against_itself_is_refused(base, capsys):
    assert run(base, base) == 2  # it passed, whatever the folder held
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the same results folder as the base" in err


def test_same_distribution_passes(tmp_path, base, capsys):
    assert run(base, head_with(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "ms" in out and "95% CI" in out and "p (Holm)" in out
    for c in CASES:
        assert c.label() in out


def test_no_false_alarm_over_many_reruns_of_the_same_distribution(tmp_path, base, capsys):
    flagged = 0
    for i in range(10):
        head = store(tmp_path / f"rerun{i}", [record(c, seed=1000 + 10 * i + j)
                                              for j, c in enumerate(CASES)])
        flagged += run(base, head)
    capsys.readouterr()
    assert flagged == 0


def test_one_and_a_half_times_slower_fails(tmp_path, base, capsys):
    assert run(base, head_with(tmp_path, slowdown=1.5)) == 1
    out = capsys.readouterr().out
    assert "SLOWER" in out and "FAIL" in out and "1.5" in out


def test_one_slow_case_among_fast_ones_is_named(tmp_path, base, capsys):
    records = [m for i, c in enumerate(CASES)
               for m in passes(c, seed=100 + i, slowdown=1.5 if c.block == "se" else 1.0)]
    assert run(base, store(tmp_path / "head", records)) == 1
    fails = [line for line in capsys.readouterr().out.splitlines() if "FAIL:" in line]
    assert len(fails) >= 2  # the case line and the verdict line (the suite row may join them)
    assert CASES[2].label() in fails[0]


def test_five_percent_slower_passes_at_ten_percent(tmp_path, base, capsys):
    assert run(base, head_with(tmp_path, slowdown=1.05)) == 0
    assert run(base, tmp_path / "head", "--threshold", "2") == 1  # but not at 2%


@pytest.mark.parametrize("threshold,limit", [("0.5", "1.005"), ("10", "1.10"), ("2.25", "1.0225"),
                                             ("200", "3.00")])
def test_the_printed_limit_is_the_one_applied(tmp_path, base, capsys, threshold, limit):
    # --threshold 0.5 had printed "lower bound > 1.00" for the 1.005 it applied
    run(base, head_with(tmp_path), "--threshold", threshold)
    header = capsys.readouterr().out.split("\n\n")[0]
    assert f"lower bound > {limit} (" in header and f"CI low end > {limit} (" in header


def test_exact_metric_change_fails(tmp_path, base, capsys):
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[0] = replace(records[0], macs_analytic=records[0].macs_analytic + 1)
    assert run(base, store(tmp_path / "head", records)) == 1
    out = capsys.readouterr().out
    assert "macs_analytic changed" in out and "EXACT CHANGED" in out
    # one MAC in 10^6 or more is not "+0.00%"
    assert f"{records[0].macs_analytic - 1} -> {records[0].macs_analytic} (+" in out
    assert "(+0.00%)" not in out and "e-0" in out


def test_a_machine_difference_is_not_blamed_for_an_exact_failure(tmp_path, base, capsys):
    # "the environments differ (cpu_model), which alone moves timings" had followed a FAIL
    # whose only failure was a changed MAC count, which no machine moves
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[0] = replace(records[0], macs_analytic=records[0].macs_analytic + 1)
    other = store(tmp_path / "other", records, {**ENV, "cpu_model": "Other CPU"})
    assert run(base, other) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "a2bench compare: FAIL: 1 failure(s)"


@pytest.mark.parametrize("metric", cmp.EXACT_METRICS)
def test_every_exact_metric_is_checked(tmp_path, base, metric):
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[1] = replace(records[1], **{metric: getattr(records[1], metric) * 2})
    assert run(base, store(tmp_path / "head", records), "--exact-only") == 1


def test_a_base_written_before_macs_counted_warns_and_a_changed_count_fails(
        tmp_path, base, capsys):
    head = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    older = [replace(r, macs_counted=None) for r in head]
    assert run(store(tmp_path / "older", older), store(tmp_path / "h", head), "--exact-only") == 0
    assert "macs_counted not compared: missing on the base side (stored without it: written " \
        "before the column)" in capsys.readouterr().out
    head[0] = replace(head[0], macs_counted=head[0].macs_counted + 1)
    assert run(base, store(tmp_path / "changed", head), "--exact-only") == 1
    assert "macs_counted changed" in capsys.readouterr().out


def test_an_analytic_peak_of_another_kernel_is_said_not_failed(tmp_path, base, capsys):
    """A head whose case ran another kernel (float32 convolutions on oneDNN at more threads)
    has another analytic peak from the same model: a warning, not an exact failure; the same
    kernel with another peak still fails."""
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    bigger = records[1].peak_bytes_analytic * 2
    records[1] = replace(records[1], peak_bytes_analytic=bigger, backend="onednn_f32")
    assert run(base, store(tmp_path / "head", records), "--exact-only") == 0
    assert "the kernels differ (backend ATen -> onednn_f32), not compared" in \
        capsys.readouterr().out
    records[1] = replace(records[1], backend="")
    assert run(base, store(tmp_path / "same", records), "--exact-only") == 1


def test_exact_only_ignores_timings(tmp_path, base, capsys):
    slow = head_with(tmp_path, slowdown=3.0)
    assert run(base, slow) == 1  # the timing gate sees it
    capsys.readouterr()
    assert run(base, slow, "--exact-only") == 0
    out = capsys.readouterr().out
    assert "timings not read" in out and "ratio" not in out and "warning" not in out
    # no samples, no latency, no reference: nothing timing-related is needed either
    bare = store(tmp_path / "bare", [record(c, seed=100 + i, samples_s=(), latency_s=None,
                                            reference_s=None) for i, c in enumerate(CASES)])
    assert run(base, bare, "--exact-only") == 0


def test_a_block_that_gained_a_cost_model_warns_once_a_case(tmp_path, base, capsys):
    """A counted base (no model) against a modelled head: one warning per case naming every
    metric left out, not one per metric."""
    counted = [replace(record(c, seed=100 + i), macs_analytic=None, flops_analytic=None,
                       peak_bytes_analytic=None, activation_bytes_analytic=None,
                       macs_source="counted", reason="no cost model: MACs counted")
               for i, c in enumerate(CASES)]
    assert run(store(tmp_path / "counted", counted), base, "--exact-only") == 0
    warned = [x for x in capsys.readouterr().out.splitlines() if "not compared" in x]
    assert len(warned) == len(CASES)
    assert warned[0].endswith(": macs_analytic, flops_analytic, peak_bytes_analytic, "
                              "activation_bytes_analytic not compared: missing on the base side "
                              "(no cost model: MACs counted)")


def test_status_ok_to_error_fails(tmp_path, base, capsys):
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[1] = Measurement(CASES[1], "error", "RuntimeError: boom").with_cost(cost_of(CASES[1]))
    assert run(base, store(tmp_path / "head", records), "--exact-only") == 1
    assert "status ok -> error: RuntimeError: boom" in capsys.readouterr().out


@pytest.mark.parametrize(("was", "now", "code"), [("skipped", "error", 1), ("oom", "error", 1),
                                                  ("timeout", "oom", 1), ("error", "ok", 0),
                                                  ("skipped", "skipped", 0)])
def test_a_status_that_changes_to_any_but_ok_fails(tmp_path, capsys, was, now, code):
    # docs/ci.md: each case's status must match; skipped -> error had passed the exact gate
    def side(name: str, status: str) -> Path:
        records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
        if status != "ok":
            records[1] = Measurement(CASES[1], status, f"{status} here").with_cost(
                cost_of(CASES[1]))
        return store(tmp_path / name, records)

    assert run(side("base", was), side("head", now), "--exact-only") == code
    out = capsys.readouterr().out
    assert (f"status {was} -> {now}: {now} here" in out) == (code == 1), out


def test_case_missing_from_head_warns_but_passes(tmp_path, base, capsys):
    head = store(tmp_path / "head", [record(c, seed=100 + i) for i, c in enumerate(CASES[:2])])
    assert run(base, head) == 0
    out = capsys.readouterr().out
    assert "only in base" in out and "missing from head" in out


@pytest.mark.parametrize("ended,why", [("interrupted", "interrupted"),
                                        ("", "no end recorded")])
def test_an_unfinished_run_fails_the_gate_whatever_its_cases_say(tmp_path, base, capsys, ended,
                                                                 why):
    """A head whose sweep was interrupted, died or still runs (environment.json's `ended`, or a
    start calibration with no end one) fails: its missing cases would pass unseen. A run too
    old to say how it ended (no roofline) compares as before."""
    env = ({**ENV, "ended": ended, "suite_path": "suites/smoke.yaml"} if ended
           else {**ENV, "roofline": {"start": {}}, "suite_path": "suites/smoke.yaml"})
    head = head_with(tmp_path, env=env)
    for flags in ((), ("--exact-only",)):
        assert run(base, head, *flags) == 1
        out = capsys.readouterr().out
        assert f"FAIL: head {head}: the sweep did not finish ({why}" in out, out
        assert f"a2bench run suites/smoke.yaml --out {head} --resume" in out
    assert run(base, head_with(tmp_path, name="old", env=ENV)) == 0
    # stopped in its closing calibration, or a Slurm set cancelled then, with every case pass
    # it planned stored: nothing is missing, so it is not failed (it was, for good)
    every = PASSES * len(CASES)
    whole = head_with(tmp_path, name="whole", env={**env, "case_passes_planned": every})
    assert run(base, whole, "--exact-only") == 0
    # but its results.csv may be a pass short (killed between the last record's fsync and the
    # CSV's rewrite), which nothing had said, nor that --resume rewrites it
    assert (f"warning: head {whole}: {why} after its last case, before its closing "
            f"calibration; all {every} case passes it planned are stored and compared, but its "
            "results.csv may lag results.jsonl: finish it with: a2bench run suites/smoke.yaml "
            f"--out {whole} --resume") in capsys.readouterr().out
    # an auto run plans its first round alone: one that stored it stopped in a narrowing round
    # or before its closing calibration (it had been said to be the latter only)
    auto = head_with(tmp_path, name="auto", env={**env, "case_passes_planned": every,
                                                 "auto_sizes": {}})
    assert run(base, auto, "--exact-only") == 0
    assert (f"warning: head {auto}: {why} in a narrowing round or before its closing "
            "calibration; all") in capsys.readouterr().out
    short = head_with(tmp_path, name="short", env={**env, "case_passes_planned": every + 1})
    assert run(base, short, "--exact-only") == 1
    capsys.readouterr()
    # a run that recorded its flags is resumed as it was started: the line runs as printed
    flagged = head_with(tmp_path, name="flagged", env={
        **ENV, "ended": "interrupted", "suite_path": "suites/smoke.yaml",
        "run_flags": ["--time-budget", "0.05"]})
    assert run(base, flagged, "--exact-only") == 1
    assert (f"resume it (a2bench run suites/smoke.yaml --out {flagged} --resume --time-budget "
            "0.05)") in capsys.readouterr().out


def test_a_side_a_live_sweep_writes_fails_naming_that_sweep_not_a_resume(tmp_path, base,
                                                                         capsys):
    # it read "no end recorded: it died or still runs ... resume it (a2bench run ... --resume)",
    # a line the live run's lock refuses
    from conftest import held_elsewhere

    head = head_with(tmp_path, env={**ENV, "roofline": {"start": {}},
                                    "suite_path": "suites/smoke.yaml"})
    with held_elsewhere(head) as line:
        assert run(base, head, "--exact-only") == 1
    out = capsys.readouterr().out
    assert (f"FAIL: head {head}: the sweep has not finished: {line} is writing {head} now; its "
            "missing cases are not compared: compare once it ends") in out
    assert "--resume" not in out


def test_a_side_whose_sweep_ends_before_its_lock_is_probed_is_not_told_to_resume(
        tmp_path, base, capsys, monkeypatch):
    """Read with no end recorded, and no writer by the time the lock is probed: the sweep may
    have ended between the two (it records its end, then lets the lock go). It had been told
    to resume, which reruns nothing; its folder is read again (as the report does)."""
    import a2bench.compare as compare_module

    env = {**ENV, "roofline": {"start": {}}, "suite_path": "suites/smoke.yaml"}
    head = head_with(tmp_path, env=env)

    def ends_meanwhile(folder: Path) -> None:
        (head / "environment.json").write_text(json.dumps({**env, "ended": "finished"}))
        return None

    monkeypatch.setattr(compare_module, "live_writer", ends_meanwhile)
    assert run(base, head, "--exact-only") == 1
    out = capsys.readouterr().out
    assert (f"FAIL: head {head}: the sweep finished while it was read; the cases it stored "
            "meanwhile are not compared: compare again") in out
    assert "--resume" not in out
    assert run(base, head, "--exact-only") == 0  # and so it does


def test_a_side_without_its_environment_is_bad_input(tmp_path, base, capsys):
    # an interrupted run whose environment.json was lost had passed, where with the file it
    # failed as unfinished; then it failed as a regression (exit 1) beside the whole table. A
    # run writes the file before its first record: results without it are a damaged folder
    head = head_with(tmp_path)
    (head / "environment.json").unlink()
    for flags in ((), ("--exact-only",)):
        assert run(base, head, *flags) == 2
        assert one_line_error(capsys) == (
            f"a2bench: error: {head}: holds results.jsonl but no environment.json, which a2bench "
            "run writes before its first result, so whether its sweep finished and on what "
            "machine cannot be told; expected the head results folder as a2bench run left it: "
            "restore environment.json from a copy, or run it again")
    (head / "environment.json").write_text("{}")
    assert run(head, base) == 2
    assert "environment.json is damaged (an empty object without suite" in capsys.readouterr().err
    # an object without suite, which run --resume calls damaged, had passed (exit 0)
    (head / "environment.json").write_text('{"a": 1}')
    assert run(base, head) == 2
    assert one_line_error(capsys).startswith(
        f"a2bench: error: {head}: environment.json is damaged (an object without suite, the "
        "key a2bench run writes first), which a2bench run writes")


@pytest.mark.parametrize("command", ["compare", "report", "remodel"])
@pytest.mark.parametrize("lost", ["missing", "empty"])
def test_a_finished_run_whose_results_are_missing_is_told_so_not_to_resume(tmp_path, base,
                                                                           capsys, command,
                                                                           lost):
    # it had read "the run here stored no result before it stopped (finished); resume it"; an
    # emptied file (a power loss after its creation) had read "no ok results in results.jsonl
    # (0 cases, statuses: none)", "holds no results" and "no results", with no word of the loss
    head = head_with(tmp_path, env={**ENV, "suite": "smoke", "ended": "finished",
                                    "suite_path": "suites/smoke.yaml"})
    if lost == "missing":
        (head / "results.jsonl").unlink()
    else:
        (head / "results.jsonl").write_bytes(b"")
    argv = {"compare": ["compare", str(base), str(head)], "remodel": ["remodel", str(head)],
            "report": ["report", str(head), "--out", str(tmp_path / "r")]}[command]
    assert main(argv) == 2
    said = ("is missing (removed, or not copied with the folder)" if lost == "missing" else
            "holds no result (emptied: a power loss, or a copy cut short)")
    assert one_line_error(capsys) == (
        f"a2bench: error: {head}: the run here recorded that it finished, but its results.jsonl "
        f"{said}; restore it, or measure every case again with: a2bench run suites/smoke.yaml "
        f"--out {head} --resume (and the options it ran with)")


def test_environment_difference_warns_and_still_compares(tmp_path, base, capsys):
    env = {**ENV, "threads": 1, "torch": "2.14.0+cpu", "git_commit": "bbbb"}
    assert run(base, head_with(tmp_path, env=env)) == 0
    out = capsys.readouterr().out
    assert "environments differ: threads 2 (base) vs 1 (head)" in out
    assert "environments differ: torch" in out
    assert "git_commit" not in out  # expected to differ between base and head
    assert "PASS" in out
    # a failure beside a machine that differs says so on the verdict's line
    assert run(base, head_with(tmp_path, name="slow", env=env, slowdown=1.5)) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("a2bench compare: FAIL") and "the environments differ (threads)" in last


def test_a_partition_whose_nodes_differ_is_compared_node_by_node(tmp_path):
    # slurm.merge leaves threads empty and keeps each node's in per_host
    mixed = {**ENV, "threads": None, "per_host": {"threads": {"n1": 2, "n2": 7}}}
    (line,) = [w for w in cmp.environment_warnings(ENV, mixed, tmp_path, tmp_path)
               if "threads" in w]
    assert line == ("environments differ: threads 2 (base) vs n1 2, n2 7 (head); "
                    "compared anyway")
    assert not [w for w in cmp.environment_warnings(mixed, mixed, tmp_path, tmp_path)
                if "differ" in w]


def test_normalize_cancels_a_uniformly_slower_machine(tmp_path, base, capsys):
    head = head_with(tmp_path, slowdown=1.3, reference_s=1.3e-3)
    assert run(base, head) == 1
    assert ("reference kernel: head/base time = 1.30 (median over cases): the head machine took "
            "1.30x the base's time") in capsys.readouterr().out
    assert run(base, head, "--normalize") == 0


def test_normalize_still_catches_a_code_slowdown(tmp_path, base):
    # the block got 1.5x slower while the reference kernel beside it did not move
    assert run(base, head_with(tmp_path, slowdown=1.5), "--normalize") == 1


def test_normalize_shrugs_off_a_burst_during_one_reference(tmp_path):
    # one base reference measurement caught 20x load; the case itself ran normally
    records = [record(c, seed=i) for i, c in enumerate(CASES)]
    records[2] = replace(records[2], reference_s=20e-3)
    base = store(tmp_path / "base", records)
    assert run(base, head_with(tmp_path), "--normalize") == 0


def test_a_disturbed_reference_kernel_is_reported(tmp_path, base, capsys):
    records = [record(c, seed=100 + i, reference_s=1e-3 * (1 + 15 * (i == 1)))
               for i, c in enumerate(CASES)]
    run(base, store(tmp_path / "head", records))
    out = capsys.readouterr().out
    assert "the head run's reference kernel ranged 1-16 ms" in out
    assert "the base run's reference" not in out


def test_smoothed_reference_is_a_running_median_in_run_order():
    refs = [1.0, 1.0, 50.0, 1.1, 1.1, 2.0, 2.0, 2.0]
    records = [record(replace(CASES[0], channels=8 * (i + 1)), seed=1, reference_s=r)
               for i, r in enumerate(refs)]
    out = list(cmp.smoothed_references(records).values())
    assert out[2] == pytest.approx(1.1)  # the burst is gone
    assert out[-1] == pytest.approx(2.0)  # a lasting change is kept
    assert len(out) == len(refs)


def test_a_case_so_slow_it_got_few_samples_is_still_caught(tmp_path, base):
    records = [m for i, c in enumerate(CASES) for m in passes(c, seed=100 + i)]
    records[:PASSES] = [replace(m, samples_s=(0.04, 0.05, 0.045, 0.06))  # 40x, 4 samples
                        for m in records[:PASSES]]
    assert run(base, store(tmp_path / "head", records)) == 1


def test_measured_peak_growth_only_warns(tmp_path, base, capsys):
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[0] = replace(records[0], peak_bytes=records[0].peak_bytes * 2)
    assert run(base, store(tmp_path / "head", records)) == 0
    assert "measured peak memory" in capsys.readouterr().out


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_bad_input_is_one_line_and_exit_2(tmp_path, base, capsys):
    missing = tmp_path / "nope"
    assert run(base, missing) == 2
    err = one_line_error(capsys)
    assert str(missing) in err and "no such folder" in err and "expected" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(empty, base) == 2
    err = one_line_error(capsys)
    assert str(empty) in err and "results.jsonl" in err

    other = store(tmp_path / "other", [record(replace(CASES[0], channels=128), seed=5)])
    assert run(base, other) == 2
    err = one_line_error(capsys)
    assert "no case in common" in err and str(other) in err


def test_holm_adjusts_and_stays_monotone():
    assert cmp.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert cmp.holm([]) == []


def test_bootstrap_interval_is_deterministic_and_covers_the_ratio():
    b = np.asarray(samples(1.0, 1))
    h = np.asarray(samples(1.5, 2))
    first = cmp.bootstrap_ratio_ci(b, h, seed=7)
    assert first == cmp.bootstrap_ratio_ci(b, h, seed=7)
    assert first[0] < np.median(h) / np.median(b) < first[1]
    assert first[0] > 1.3 and first[1] < 1.7


def test_compare_never_imports_torch():
    code = "import sys, a2bench.compare; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ----------------------------------------------------------------------------- several passes
# Each pass is one worker process. Measured: one process's samples of a case are all fast or all
# slow, up to 1.55x apart between processes of the same code, while each process's own interval
# is +-1.5%. These stores have the same between-process spread of +-30% in pass medians on both
# sides, shared by the cases of a pass (a process state), plus a little per-case jitter.

SPREAD = (0.77, 0.9, 1.0, 1.12, 1.3)  # pass medians relative to the code's true latency


def multi_pass(path: Path, factors: Sequence[float], seed: int, slowdown: float = 1.0,
               machine: Sequence[float] | None = None,
               case_slowdown: dict[str, float] | None = None, n: int = 30,
               case_factors: dict[str, Sequence[float]] | None = None,
               cases: Sequence[Case] | None = None) -> Path:
    """A store with one pass per factor; `machine` scales a pass's samples and reference.

    `case_factors` gives a block its own pass factors instead of the shared ones.
    """
    rng = np.random.default_rng(seed)
    records = []
    for p, f in enumerate(factors):
        speed = machine[p] if machine else 1.0
        for i, c in enumerate(cases or CASES):
            jitter = float(np.exp(rng.normal(0, 0.02)))
            extra = (case_slowdown or {}).get(c.block, 1.0)
            own = (case_factors or {}).get(c.block)
            records.append(record(c, seed=seed + 100 * p + i, n=n, process=p,
                                  slowdown=slowdown * (own[p] if own else f) * speed * jitter
                                  * extra,
                                  reference_s=1e-3 * speed))
    return store(path, records)


def pooled(path: Path, source: Path) -> Path:
    """The same samples as one pass per case, as a run without --processes would store them."""
    from a2bench.run.store import load
    return store(path, [replace(m, process=0, processes=1) for m in load(source)])


def test_spread_between_processes_without_a_shift_passes(tmp_path, capsys):
    base = multi_pass(tmp_path / "base", SPREAD, seed=1)
    head = multi_pass(tmp_path / "head", SPREAD[::-1], seed=2)
    assert run(base, head) == 0
    out = capsys.readouterr().out
    assert "passes (worker processes) per case: 5 base, 5 head" in out
    assert "suite: all 3 timed cases" in out and "5/5" in out
    assert "not measured" not in out


def test_no_false_alarm_over_reruns_that_the_sample_level_rule_flags(tmp_path, capsys):
    """Random process states, same code: the pass-level rule passes all; pooled into one pass a
    side, the samples would false-alarm, so one pass is reported and not tested."""
    rng = np.random.default_rng(3)
    draw = lambda: tuple(float(x) for x in np.exp(rng.uniform(-0.26, 0.26, 5)))  # noqa: E731
    base = multi_pass(tmp_path / "base", draw(), seed=10)
    base_pooled = pooled(tmp_path / "base-pooled", base)
    flagged = flagged_pooled = 0
    for i in range(8):
        head = multi_pass(tmp_path / f"rerun{i}", draw(), seed=20 + i)
        flagged += run(base, head)
        flagged_pooled += run(base_pooled, pooled(tmp_path / f"rerun{i}-pooled", head))
    out = capsys.readouterr().out
    assert flagged == 0
    assert flagged_pooled == 0  # one pass a side: reported, never failed on timing
    assert "between processes is not measured" in out  # said by the pooled comparisons
    assert "not tested: 1 pass a side" in out


def test_one_and_a_half_times_slower_with_process_spread_fails(tmp_path, capsys):
    base = multi_pass(tmp_path / "base", SPREAD, seed=1)
    head = multi_pass(tmp_path / "head", SPREAD[::-1], seed=2, slowdown=1.5)
    assert run(base, head) == 1
    out = capsys.readouterr().out
    suite = next(line for line in out.splitlines() if line.startswith("suite:")).split()
    assert suite[-1] == "SLOWER" and float(suite[6]) == pytest.approx(1.5, abs=0.03)
    assert "FAIL: the 3 timed cases together: 1.50x slower (geometric mean" in out


def test_an_unconfirmed_case_that_no_rerun_could_confirm_says_how_many_passes(tmp_path,
                                                                               capsys):
    # 3 passes a side: the case's exact test cannot reach p < 0.025/3, so "rerun" would not help
    three = (0.9, 1.0, 1.1)
    base = multi_pass(tmp_path / "base", three, seed=1)
    run(base, multi_pass(tmp_path / "head", three[::-1], seed=2, slowdown=1.5))
    unconfirmed = [x for x in capsys.readouterr().out.splitlines() if "not confirmed" in x
                   and "timed cases" not in x]
    assert unconfirmed and all(x.endswith("with 3/3 passes a case's test cannot reach p < 0.0083"
                                          " among 3 cases: rerun both sides with --processes 5 "
                                          "or more to test it") for x in unconfirmed)


def test_ten_percent_slower_with_process_spread_is_not_claimed(tmp_path, capsys):
    base = multi_pass(tmp_path / "base", SPREAD, seed=1)
    assert run(base, multi_pass(tmp_path / "head", SPREAD[::-1], seed=2, slowdown=1.1)) == 0


def test_three_passes_leave_cases_out_of_the_family_but_the_suite_catches_it(tmp_path, capsys):
    three = (0.9, 1.0, 1.1)  # with 3 passes a +-30% spread shared by all cases hides 1.5x
    base = multi_pass(tmp_path / "base", three, seed=1)
    assert run(base, multi_pass(tmp_path / "same", three[::-1], seed=2)) == 0
    assert run(base, multi_pass(tmp_path / "slow", three[::-1], seed=3, slowdown=1.5)) == 1
    out = capsys.readouterr().out
    assert "none of the 3 timed cases is in the Holm family" in out
    assert "5+ passes a side let a single case fail among 3" in out
    slow_report = out[out.rindex("a2bench compare: base"):]
    assert "(0.050)" in slow_report  # complete separation: 1/20, shown unadjusted
    assert sum("SLOWER" in line for line in slow_report.splitlines()) == 1  # the suite row only


def test_a_record_lost_from_one_pass_leaves_the_suite_test_on_the_passes_present(
        tmp_path, capsys):
    """HEAD 1.5x slower with one (case, pass) record missing: the suite row was "not tested"
    and the gate passed; the case's own row says each side's passes."""
    three = (0.9, 1.0, 1.1)
    base = multi_pass(tmp_path / "base", three, seed=1)
    slow = multi_pass(tmp_path / "slow", three[::-1], seed=3, slowdown=1.5)
    lines = (slow / "results.jsonl").read_text().splitlines(keepends=True)
    (slow / "results.jsonl").write_text("".join(lines[:-1]))
    assert run(base, slow) == 1
    out = capsys.readouterr().out
    suite = next(line for line in out.splitlines() if line.startswith("suite"))
    assert suite.rstrip().endswith("SLOWER") and " 3/3 " in suite
    assert "not tested: 3 base, 2 head passes" in out


def test_five_passes_can_name_one_slow_case(tmp_path, capsys):
    tight = (0.97, 0.99, 1.0, 1.01, 1.03)
    base = multi_pass(tmp_path / "base", tight, seed=1)
    head = multi_pass(tmp_path / "head", tight[::-1], seed=2, case_slowdown={"se": 1.5})
    assert run(base, head) == 1
    fails = [line for line in capsys.readouterr().out.splitlines() if "FAIL: " in line]
    assert any(CASES[2].label() in line for line in fails)
    assert not any(CASES[0].label() in line for line in fails)


def test_a_case_interval_carries_the_spread_between_processes(tmp_path, capsys):
    """Head's passes all slower (p = 1/252), but by 3% to 80%: not claimed beyond 10%."""
    tight = (0.97, 0.99, 1.0, 1.01, 1.03)
    base = multi_pass(tmp_path / "base", tight, seed=1,
                      case_factors={"se": (0.70, 0.72, 0.74, 0.97, 0.98)})
    head = multi_pass(tmp_path / "head", tight[::-1], seed=2,
                      case_factors={"se": (1.0, 1.3, 1.01, 1.25, 1.02)})
    run(base, head)
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(CASES[2].label()))
    assert row.split()[-1] == "slower?"  # pooled samples would say 1.36x, CI low ~1.3: SLOWER
    assert not any(CASES[2].label() in line for line in out.splitlines() if "FAIL: " in line)


def test_a_disturbed_pass_is_one_vote(tmp_path, capsys):
    """Load during one head pass (every case 20x slower) does not fail the gate."""
    base = multi_pass(tmp_path / "base", SPREAD, seed=1)
    head = multi_pass(tmp_path / "head", SPREAD[::-1], seed=2, machine=(1, 1, 20, 1, 1))
    assert run(base, head) == 0


def test_single_pass_falls_back_to_samples_and_says_so(tmp_path, capsys):
    base = multi_pass(tmp_path / "base", SPREAD, seed=1)
    one = multi_pass(tmp_path / "one", (1.0,), seed=2)
    assert run(base, one) == 0
    out = capsys.readouterr().out
    assert "the head run has 1 pass per case" in out and "not measured" in out
    assert "--processes 3 or more" in out and "the base run has" not in out
    # the spread between processes is the base run's own, not "on a 2-core machine ... 1.55x"
    medians = {}
    for line in (base / "results.jsonl").read_text().splitlines():
        m = json.loads(line)
        medians.setdefault(json.dumps(m["case"]), []).append(float(np.median(m["samples_s"])))
    widest = max(max(v) / min(v) for v in medians.values())
    assert "2-core" not in out and (f"the base run's passes of one case differed by up to "
                                    f"{widest:.2f}x (") in out
    # with no side of several passes there is no spread to give: the docs are named instead
    run(pooled(tmp_path / "pooled", base), one)
    assert "not measured (docs/ci.md, Timings" in capsys.readouterr().out
    assert "5/1" in out and "not tested" in out  # the suite row is reported, not tested
    # a 1.5x slowdown from a single pass is reported, not failed: one pass a side is too few
    assert run(base, multi_pass(tmp_path / "slow", (1.0,), seed=3, slowdown=1.5)) == 0
    out = capsys.readouterr().out
    assert "not tested: 5 base, 1 head passes" in out and "1.5" in out


def test_two_passes_are_too_few_for_a_pass_level_test(tmp_path, capsys):
    base = multi_pass(tmp_path / "base", SPREAD[:2], seed=1)
    assert run(base, multi_pass(tmp_path / "head", SPREAD[:2], seed=2)) == 0
    assert "has 2 passes per case: too few" in capsys.readouterr().out


def test_normalize_divides_each_pass_by_its_own_reference(tmp_path, capsys):
    tight = (0.95, 1.0, 1.05, 0.98, 1.02)
    base = multi_pass(tmp_path / "base", tight, seed=1)
    # every head pass ran on a slower machine, by a different amount, the reference with it
    head = multi_pass(tmp_path / "head", tight[::-1], seed=2, machine=(1.3, 1.4, 1.25, 1.3, 1.35))
    assert run(base, head) == 1
    capsys.readouterr()
    assert run(base, head, "--normalize") == 0
    suite = next(line for line in capsys.readouterr().out.splitlines()
                 if line.startswith("suite:"))
    assert " 1.0" in suite or " 0.9" in suite
    # a code slowdown is not in the reference, so normalising keeps it
    code = multi_pass(tmp_path / "code", tight[::-1], seed=3, slowdown=1.5,
                      machine=(1.3, 1.4, 1.25, 1.3, 1.35))
    assert run(base, code, "--normalize") == 1


def test_exact_and_status_checks_see_every_pass(tmp_path, capsys):
    base = multi_pass(tmp_path / "base", SPREAD, seed=1)
    head = multi_pass(tmp_path / "head", SPREAD, seed=2)
    from a2bench.run.store import load_passes
    records = load_passes(head)
    bad = next(i for i, m in enumerate(records) if m.process == 3 and m.case == CASES[1])
    records[bad] = replace(Measurement(CASES[1], "timeout", "no answer after 300 s",
                                       process=3).with_cost(cost_of(CASES[1])))
    assert run(base, store(tmp_path / "one-pass-timed-out", records), "--exact-only") == 1
    assert "status ok -> timeout: no answer after 300 s (pass 4 of 5)" in capsys.readouterr().out


def test_exact_only_never_reads_pass_timings(tmp_path, capsys):
    base = multi_pass(tmp_path / "base", SPREAD, seed=1)
    slow = multi_pass(tmp_path / "slow", SPREAD, seed=2, slowdown=3.0)
    assert run(base, slow, "--exact-only") == 0
    out = capsys.readouterr().out
    assert "passes" not in out and "suite" not in out and "warning" not in out


def test_a_pass_level_case_test_that_cannot_reach_alpha_is_left_out():
    t = cmp.Timing(1e-3, 1e-3, 1.0, 0.9, 1.1, 0.05, 90, 90, False, passes_base=3,
                   passes_head=3, pass_level=True)
    assert cmp.holm_family([t]) == [False]
    five = replace(t, passes_base=5, passes_head=5)
    assert cmp.holm_family([five] * 5) == [True] * 5
    # fewer than 3 passes a side: the p of the pooled samples is reported, never tested
    assert cmp.holm_family([replace(t, pass_level=False), five]) == [False, True]
    assert cmp.smallest_rank_p(3, 3) == pytest.approx(0.05)
    assert cmp.smallest_rank_p(5, 5) == pytest.approx(1 / 252)
    # At 5 passes (1/252) a case enters among 6 (6/252 < 0.025), not among 7; 30 had diluted
    # the suite row's Holm by x31
    assert cmp.holm_family([five] * 6) == [True] * 6
    assert cmp.holm_family([five] * 7) == [False] * 7


def test_a_case_enters_the_family_only_under_the_cases_share_of_alpha():
    # admitted at ALPHA/K, 12 cases at 5 passes stood in a family whose Holm multiplies a case's
    # p by 13 (13/252 > 0.05: a lone 2x case caught 31% of the time), and a case at the
    # threshold failed on its bound with up to 1/C(2P, P) > ALPHA/2/K (6.4% false FAILs)
    assert [cmp.passes_for_one_case(c) for c in (1, 2, 6, 7, 12, 23, 24, 46, 85, 86)] == \
        [4, 5, 5, 6, 6, 6, 7, 7, 7, 8]
    t = cmp.Timing(1e-3, 1e-3, 1.0, 0.9, 1.1, 0.05, 90, 90, False, passes_base=3,
                   passes_head=3, pass_level=True)
    for passes in range(4, 8):
        one = replace(t, passes_base=passes, passes_head=passes)
        admitted = [k for k in range(1, 100) if all(cmp.holm_family([one] * k))]
        k = max(admitted)
        assert admitted == list(range(1, k + 1))
        floor = cmp.smallest_rank_p(passes, passes)
        assert k * floor < cmp.ALPHA / 2  # within the bound's own share of error
        assert (k + 1) * floor < cmp.ALPHA  # significant before the suite row is rejected
        assert cmp.passes_for_one_case(k) <= passes < cmp.passes_for_one_case(k + 1)


def _lone_slow_case(cases: int) -> list:
    """`cases` cases at 5 passes a side: the first 2x slower with head's every pass slower
    than base's (p = 1/252), the rest unchanged."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(cases):
        ratio, p = (2.0, 1 / 252) if i == 0 else (1.0, 0.5)
        logs = math.log(ratio) + 0.02 * rng.standard_normal(cmp.BOOTSTRAP_RESAMPLES)
        t = cmp.Timing(1e-3, 1e-3 * ratio, ratio, ratio * 0.96, ratio * 1.04, p, 50, 50, False,
                       passes_base=5, passes_head=5, pass_level=True, log_replicates=logs)
        out.append(cmp.CaseResult(("k", i), f"se case {i}", None, None, t, verdict="not timed"))
    return out


def test_a_lone_slow_case_fails_where_the_family_admits_it_with_the_suite_row_not_rejected():
    tested = _lone_slow_case(6)
    suite = cmp.SuiteResult(cases=6, ratio=1.12, ci_low=0.9, ci_high=1.4, passes_base=5,
                            passes_head=5, p_value=0.2)  # one slow case barely moves it
    assert len(cmp.judge_timings(tested, suite, 10.0)) == 6
    assert tested[0].p_adjusted == pytest.approx(7 / 252) and tested[0].failures
    # among 12 it is left out, and says which passes would test it
    tested = _lone_slow_case(12)
    assert cmp.judge_timings(tested, None, 10.0) == []
    assert tested[0].p_adjusted is None and not tested[0].failures
    assert "rerun both sides with --processes 6 or more" in tested[0].warnings[0]


def test_thirty_cases_at_five_passes_leave_the_suite_row_undiluted():
    # left in the family, 30 cases that could never be significant multiplied the suite row's
    # p by 31; and the note promised that 5 passes let a case fail
    from a2bench.compare import timing

    five = cmp.Timing(1e-3, 1e-3, 1.0, 0.9, 1.1, 0.004, 90, 90, False, passes_base=5,
                      passes_head=5, pass_level=True)
    assert timing.holm_family([five] * 30) == [False] * 30
    cases = [cmp.CaseResult(("k", i), f"se case {i}", None, None, timing=five) for i in range(30)]
    note = cmp._passes_note(5, 5, cases, [])
    assert "none of the 30 timed cases is in the Holm family" in note
    assert "30 se cases at 5/5 passes (smallest p 0.004)" in note
    assert "7+ passes a side let a single case fail among 30" in note


def test_a_single_timed_case_is_a_suite_of_one(tmp_path, capsys):
    # a 3x slower single case at 3 passes had passed: no case test could fail it and the suite
    # row needed two cases
    three = (0.9, 1.0, 1.1)
    base = multi_pass(tmp_path / "base", three, seed=1, cases=CASES[:1])
    assert run(base, multi_pass(tmp_path / "slow", three[::-1], seed=3, slowdown=3.0,
                                cases=CASES[:1])) == 1
    assert "FAIL: the one timed case: 2.94x slower" in capsys.readouterr().out


def test_a_single_timed_case_tested_as_its_suite_row_is_not_called_untested(tmp_path, capsys):
    # 1.2x, not confirmed: the last line had said the case was NOT TESTED and advised
    # --processes 4, though its suite row of one had tested it at 3 passes
    three = (0.9, 1.0, 1.1)
    base = multi_pass(tmp_path / "base", three, seed=1, cases=CASES[:1])
    assert run(base, multi_pass(tmp_path / "slow", three[::-1], seed=3, slowdown=1.3,
                                cases=CASES[:1])) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "NOT TESTED" not in last and "--processes 4" not in last
    assert last.startswith("a2bench compare: PASS: no regression found, but the suite's 95% CI "
                           "reaches")


def test_hierarchical_bootstrap_is_wider_than_pooling_when_passes_disagree():
    rng = np.random.default_rng(4)
    b = [np.asarray(samples(f, int(rng.integers(1e6)), n=40)) for f in SPREAD]
    h = [np.asarray(samples(f, int(rng.integers(1e6)), n=40)) for f in SPREAD[::-1]]
    low, high = cmp.bootstrap_ratio_ci(b, h, seed=7)
    pooled_low, pooled_high = cmp.bootstrap_ratio_ci(np.concatenate(b), np.concatenate(h), seed=7)
    assert (low, high) == cmp.bootstrap_ratio_ci(b, h, seed=7)  # deterministic
    assert low < 1 < high
    assert math.log(high / low) > 3 * math.log(pooled_high / pooled_low)


def test_sides_run_one_after_the_other_are_warned_about(tmp_path, capsys):
    def timed(path: Path, minutes: Sequence[int], day: int = 25) -> Path:
        records = [replace(record(c, seed=10 * p + i, process=p),
                           finished_at=f"2026-11-{day}T21:{m:02d}:{i:02d}+00:00")
                   for p, m in enumerate(minutes) for i, c in enumerate(CASES)]
        return store(path, records)

    base = timed(tmp_path / "base", (0, 2, 4))
    assert run(base, timed(tmp_path / "after", (10, 12, 14))) == 0
    out = capsys.readouterr().out
    assert "base (21:00:00-21:04:02) and head (21:10:00-21:14:02) ran one after the other, " \
           "not interleaved" in out
    # it had printed another machine's figures ("1.3-1.4x slower for a whole 40 s run")
    assert "2-core" not in out and "docs/ci.md, Noise" in out
    assert run(base, timed(tmp_path / "days", (10, 12, 14), day=27)) == 0  # the dates said
    assert "base (2026-11-25 21:00:00-2026-11-25 21:04:02) and head (2026-11-27 21:10:00-" in \
        capsys.readouterr().out
    run(base, timed(tmp_path / "interleaved", (1, 3, 5)))
    assert "not interleaved" not in capsys.readouterr().out


def test_the_default_three_passes_never_fail_a_same_commit_pair_and_catch_a_quarter(tmp_path,
                                                                                     capsys):
    # a2bench run's default is 3 passes a side: 10 reruns of one distribution give no timing
    # failure, and a 1.25x slowdown of every case is still caught (by the suite's test).
    base = store(tmp_path / "base", [m for i, c in enumerate(CASES)
                                     for m in passes(c, seed=i, count=3)])
    flagged = 0
    for r in range(10):
        head = store(tmp_path / f"same{r}", [m for i, c in enumerate(CASES)
                                             for m in passes(c, seed=500 + 10 * r + i, count=3)])
        flagged += run(base, head)
    assert flagged == 0
    slow = store(tmp_path / "slow", [m for i, c in enumerate(CASES)
                                     for m in passes(c, seed=900 + i, count=3, slowdown=1.25)])
    capsys.readouterr()
    assert run(base, slow) == 1
    assert "SLOWER" in capsys.readouterr().out


def test_one_pass_a_side_reports_a_slowdown_without_failing(tmp_path, capsys):
    base = store(tmp_path / "base", [record(c, seed=i) for i, c in enumerate(CASES)])
    head = store(tmp_path / "head", [record(c, seed=100 + i, slowdown=1.5)
                                     for i, c in enumerate(CASES)])
    assert run(base, head) == 0
    out = capsys.readouterr().out
    assert "not tested: 1 pass a side" in out and "1.5" in out


def test_the_timing_gate_refuses_a_base_without_its_own_package(tmp_path):
    """A base folder with no a2bench/ would import the venv's (the head's, in CI): the gate
    compared the head with itself and passed."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    empty = tmp_path / "base"
    empty.mkdir()
    done = subprocess.run(["bash", str(root / "scripts" / "ci_gate.sh"), str(empty),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "holds no a2bench/ package" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_timing_gate_without_a_base_is_bad_input_not_a_regression():
    """No BASE_SRC had exited 1, which the gate's own contract reads as a regression."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    for args in ([], [""]):
        done = subprocess.run(["bash", str(root / "scripts" / "ci_gate.sh"), *args],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        err = done.stderr.strip()
        assert err.count("\n") == 0 and "no BASE_SRC given" in err


def test_normalize_without_a_sides_reference_times_is_bad_input(tmp_path, capsys):
    # every case had read "not timed" and the gate passed a 3x slowdown, with a warning only
    three = (0.9, 1.0, 1.1)
    base = multi_pass(tmp_path / "base", three, seed=1)
    head = multi_pass(tmp_path / "head", three[::-1], seed=2, slowdown=3.0)
    lines = [json.loads(x) for x in (head / "results.jsonl").read_text().splitlines()]
    (head / "results.jsonl").write_text("".join(json.dumps({**x, "reference_s": None}) + "\n"
                                                for x in lines))
    assert run(base, head, "--normalize") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--normalize: " in err and "(head) holds no reference " \
        "kernel time" in err


def test_a_compare_that_timed_nothing_is_bad_input_not_a_pass(tmp_path, base, capsys):
    # records without raw samples (an older base) had read "PASS: no regression"
    bare = store(tmp_path / "bare", [replace(m, samples_s=()) for i, c in enumerate(CASES)
                                     for m in passes(c, seed=i)])
    assert run(base, bare) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no case was timed on both sides" in err
    assert "--exact-only" in err and run(base, bare, "--exact-only") == 0
    # an unfinished side is a failure of its own (exit 1), timed or not
    stopped = store(tmp_path / "stopped", [replace(m, samples_s=()) for i, c in enumerate(CASES)
                                           for m in passes(c, seed=i)],
                    {**ENV, "ended": "interrupted", "suite_path": "suites/smoke.yaml"})
    assert run(base, stopped) == 1
    assert "the sweep did not finish (interrupted)" in capsys.readouterr().out


def test_a_pass_that_could_not_have_failed_says_so(tmp_path, base, capsys):
    noisy = store(tmp_path / "noisy", [replace(m, samples_s=tuple(s * f for s in m.samples_s))
                                       for i, c in enumerate(CASES)
                                       for m, f in zip(passes(c, seed=200 + i),
                                                       (0.3, 3.0, 1.0, 0.5, 2.5), strict=True)])
    assert run(base, noisy) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("a2bench compare: PASS: no regression found, but the suite's 95% CI "
                           "reaches") and "past the 10% threshold" in last
    # an interval this wide is the passes' disagreement: a quieter machine narrows it too
    assert last.endswith("(5 passes a side here: more, with a2bench run --processes, or a "
                         "quieter machine narrow it)")
    assert run(base, head_with(tmp_path)) == 0
    assert capsys.readouterr().out.strip().endswith("PASS: no regression")


def test_a_pass_with_an_untested_slowdown_says_timing_was_not_tested(tmp_path, capsys):
    # 1 pass a side, every case 1.5x: it had ended "PASS: no regression found, but the suite's
    # 95% CI reaches 1.5x ... (more passes a side, or a quieter machine, narrow it)", the exit
    # status 0 as documented, though no timing was tested and the interval was narrow
    base = store(tmp_path / "base", [record(c, seed=i) for i, c in enumerate(CASES)])
    head = store(tmp_path / "head", [record(c, seed=100 + i, slowdown=1.5)
                                     for i, c in enumerate(CASES)])
    assert run(base, head) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("a2bench compare: PASS: no regression found, but timing was NOT "
                           "TESTED where it read slower: the suite row reads 1.5")
    worst = max((r for r in cmp.compare(base, head).cases if r.timing),
                key=lambda r: r.timing.ratio)
    assert (f"; {worst.label} reads {worst.timing.ratio:.2f}x slower (95% CI "
            f"{worst.timing.ci_low:.2f}-{worst.timing.ci_high:.2f}, the worst of 3 cases past the "
            "10% threshold) with 1 pass a side") in last
    assert "with 1 pass a side" in last and "quieter machine" not in last
    assert last.endswith("to test it, a2bench run --processes 5 on both sides")


def test_one_case_far_past_the_threshold_that_no_test_could_judge_is_on_the_last_line(tmp_path,
                                                                                     capsys):
    # 3 passes a side, one case 1.3x slower: out of the Holm family (smallest p 0.05 among 3),
    # so "slower?" among the warnings, and the last line had read "PASS: no regression"
    tight = (0.99, 1.0, 1.01)
    base = multi_pass(tmp_path / "base", tight, seed=1)
    head = multi_pass(tmp_path / "head", tight[::-1], seed=2, case_slowdown={"se": 1.3})
    assert run(base, head) == 0
    out = capsys.readouterr().out
    row = next(x for x in out.splitlines() if x.startswith(CASES[2].label())).split()
    t = next(r.timing for r in cmp.compare(base, head).cases if r.label == CASES[2].label())
    assert row[-1] == "slower?" and t.ci_low > 1.1  # measured far past it, yet untestable
    last = out.strip().splitlines()[-1]
    assert (f"timing was NOT TESTED where it read slower: {CASES[2].label()} reads "
            f"{t.ratio:.2f}x slower (95% CI {t.ci_low:.2f}-{t.ci_high:.2f}, past "
            "the 10% threshold) with 3 passes a side, where a case among 3 is tested with 5+ a "
            "side; to test it, a2bench run --processes 5 on both sides") in last


def test_a_closed_pipe_keeps_the_verdicts_exit_status(tmp_path, base, monkeypatch, capsys):
    # `a2bench compare A B | true` exited 1, a regression, for a PASS: the command line's
    # closed-pipe branch answered for the verdict. `list` keeps that branch's 1 (test_cli)
    import os

    slow = head_with(tmp_path, name="slow", slowdown=1.5)
    for head, status in ((head_with(tmp_path), 0), (slow, 1)):
        read, write = os.pipe()
        os.close(read)  # the reader has left before a word is written
        with open(write, "w", buffering=1) as gone:  # each line written as printed
            monkeypatch.setattr("sys.stdout", gone)
            assert run(base, head) == status
            monkeypatch.undo()
        assert capsys.readouterr().err == ""
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as gone:
        monkeypatch.setattr("sys.stdout", gone)
        assert main(["list", "--long"]) == 1  # other commands as they were
        monkeypatch.undo()


def test_a_file_given_for_a_folder_and_runs_of_two_suites_are_told(tmp_path, base, capsys):
    assert run(base / "results.jsonl", base) == 2
    assert "results.jsonl: a file, not a folder" in capsys.readouterr().err
    assert run(base, head_with(tmp_path, env={**ENV, "suite": "other"})) == 0
    assert "environments differ: suite" in capsys.readouterr().out


def test_a_finished_run_that_lost_a_record_is_said_and_compared_on_the_rest(tmp_path, base,
                                                                           capsys):
    # a torn last line of results.jsonl is dropped when read: the case read one pass fewer
    every = PASSES * len(CASES)
    head = head_with(tmp_path, env={**ENV, "ended": "finished", "case_passes_planned": every})
    with open(head / "results.jsonl", "rb+") as f:
        f.truncate(f.seek(0, 2) - 300)
    assert run(base, head) == 0
    assert (f"head {head}: {every - 1} of the {every} case passes it planned are stored (a "
            "record lost") in capsys.readouterr().out


def test_a_finished_run_that_lost_a_whole_case_fails(tmp_path, base, capsys):
    # a finished head with every pass of one case gone (lines removed) had passed the exact
    # gate with two warnings: the case read "only in base", as an unfinished run's would
    every = PASSES * len(CASES)
    env = {**ENV, "ended": "finished", "case_passes_planned": every,
           "suite_path": "suites/smoke.yaml"}
    head = head_with(tmp_path, env=env)
    lines = (head / "results.jsonl").read_text().splitlines(keepends=True)
    (head / "results.jsonl").write_text("".join(x for x in lines if '"block": "se"' not in x))
    for flags in (("--exact-only",), ()):
        assert run(base, head, *flags) == 1
        out = capsys.readouterr().out
        assert (f"FAIL: head {head}: {every - PASSES} of the {every} case passes it planned are "
                f"stored, none of them of {CASES[2].label()} (which base has)") in out
        assert f"measure it again (a2bench run suites/smoke.yaml --out {head} --resume" in out
    # the same loss on the base side leaves the head's case uncompared: as much a failure
    assert run(head, base, "--exact-only") == 1
    assert f"none of them of {CASES[2].label()} (which head has)" in capsys.readouterr().out


def test_one_lost_record_does_not_blame_the_cases_new_to_the_other_side(tmp_path, base, capsys):
    # a base that lost one pass (a torn last line) beside a head with cases of its own (auto
    # sizes it chose, a case added) had failed the gate naming every one of them as "lost":
    # one missing pass cannot hold a case, each of whose passes would be gone
    every = PASSES * len(CASES)
    env = {**ENV, "ended": "finished", "case_passes_planned": every,
           "suite_path": "suites/smoke.yaml"}
    lines = (base / "results.jsonl").read_text().splitlines(keepends=True)
    torn = store(tmp_path / "torn", [], env)
    (torn / "results.jsonl").write_text("".join(lines[:-1]) + lines[-1][:40])
    new = [Case("se", "cpu", "float32", 1, 64, 1, s, s, reduction=16) for s in (24, 32)]
    head = store(tmp_path / "head", [m for i, c in enumerate(CASES + new)
                                     for m in passes(c, seed=100 + i)])
    for flags in (("--exact-only",), ()):
        assert run(torn, head, *flags) == 0
        out = capsys.readouterr().out
        assert (f"base {torn}: {every - 1} of the {every} case passes it planned are stored (a "
                "record lost") in out
        assert ("the 2 cases only in head cannot be among them (1 pass is missing, and a case "
                f"lost whole takes {PASSES - 1} or more, as each case here holds)") in out
        assert "FAIL" not in out
    # a whole case lost beside cases new to head: the missing passes could hold one of the
    # three, so the gate fails naming them, and says that the rest may be head's own
    (torn / "results.jsonl").write_text("".join(x for x in lines if '"block": "se"' not in x))
    assert run(torn, head, "--exact-only") == 1
    out = capsys.readouterr().out
    names = ", ".join(c.label() for c in [CASES[2], *new])
    assert (f"none of them of {names} (which head has) ({PASSES} passes are missing, enough "
            "for 1 of these 3 cases whole; the rest may be head's suite's own)") in out


def test_cases_with_fewer_passes_than_their_run_are_counted_in_the_note(tmp_path, base, capsys):
    # the note's "5 head" had stood for cases that held 4 (a pass resumed short)
    records = [m for i, c in enumerate(CASES) for m in passes(c, seed=100 + i)
               if not (c.block == "se" and m.process == 4)]
    assert run(base, store(tmp_path / "head", records)) == 0
    assert "passes (worker processes) per case: 5 base, 5 head" in (out := capsys.readouterr().out)
    assert "; 1 case of the head has 4 passes" in out


def test_the_note_names_the_holm_family_from_each_cases_own_passes(tmp_path, base, capsys):
    # from the runs' 5/5 it had said "1 case left out ... and only the suite row can fail on
    # timing" while the report's C = 2 cases stood in the family with p-values of their own
    records = [m for i, c in enumerate(CASES) for m in passes(c, seed=100 + i)
               if not (c.block == "se" and m.process >= 3)]
    assert run(base, store(tmp_path / "head", records)) == 0
    note = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("passes "))
    assert "only the suite row" not in note
    assert "the Holm family holds the suite row and 2 of the 3 timed cases" in note
    assert (f"unable to reach p < 0.025/2 = 0.013 with their passes: {CASES[2].label()} at 5/3 "
            "passes (smallest p 0.018)") in note


def _exact_slower_p(base_logs: np.ndarray, head_logs: np.ndarray) -> float:
    """mann_whitney_slower's p where no two values tie, from the exact null (rank_count_cdf,
    checked against scipy's exact test above): P(U_head >= u) = P(U <= nb * nh - u). scipy's
    call costs about 3 ms, most of a Monte Carlo loop of thousands of cases."""
    u = int((head_logs[:, None] > base_logs[None, :]).sum())
    return float(cmp.rank_count_cdf(len(base_logs), len(head_logs))[
        len(base_logs) * len(head_logs) - u])


def _pass_timing(base_logs: np.ndarray, head_logs: np.ndarray, test: bool = True,
                 exact: bool = False) -> cmp.Timing:
    """A pass-level Timing from each pass's log median alone (the case bound's only input; its
    p, the Holm family's, only where `test`; from the exact null without scipy where `exact`).
    The medians are statistics.median's of 3-6 values, np.median's to the bit (the middle one,
    or the two middle ones' sum over 2) at a twentieth of its call: np.median had been half of
    the Monte Carlo loops' CPU."""
    ratio = math.exp(statistics.median(head_logs.tolist())
                     - statistics.median(base_logs.tolist()))
    p = (math.nan if not test else _exact_slower_p(base_logs, head_logs) if exact
         else cmp.mann_whitney_slower(np.exp(base_logs), np.exp(head_logs)))
    return cmp.Timing(1e-3, 1e-3 * ratio, ratio, math.nan, math.nan, p, 50, 50, False,
                      passes_base=len(base_logs), passes_head=len(head_logs), pass_level=True,
                      base_pass_logs=dict(enumerate(base_logs.tolist())),
                      head_pass_logs=dict(enumerate(head_logs.tolist())))


def test_the_rank_count_distribution_is_the_exact_mann_whitney_null():
    from scipy import stats

    for nb, nh in ((3, 3), (5, 6), (6, 6), (4, 7)):
        cdf = cmp.rank_count_cdf(nb, nh)
        assert cdf[0] == pytest.approx(cmp.smallest_rank_p(nb, nh)) and cdf[-1] == 1.0
        rng = np.random.default_rng(nb * 10 + nh)
        for _ in range(5):
            b, h = rng.standard_normal(nb), rng.standard_normal(nh)
            u = int((h[:, None] > b[None, :]).sum())  # head above base
            exact = stats.mannwhitneyu(h, b, alternative="less", method="exact").pvalue
            assert cdf[u] == pytest.approx(exact)


@pytest.mark.parametrize("passes", [(6, 6), (5, 6)])
def test_a_case_bound_exceeds_the_true_ratio_exactly_as_often_as_its_level_allows(passes):
    """The bound is the Mann-Whitney test inverted (Moses): where head's pass medians are base's
    scaled by the true ratio, it exceeds that ratio with chance P(U <= k - 1), whatever the
    distribution of pass medians; here a heavy-tailed one (t, 2 degrees of freedom), where a
    bootstrap over 5-6 passes is narrow. At 0.975 and 6/6 passes k = 6: 19/924 = 2.06%."""
    nb, nh = passes
    cdf = cmp.rank_count_cdf(nb, nh)
    k = int(np.sum(cdf <= 0.025))  # the largest k with P(U <= k - 1) <= 0.025
    rng = np.random.default_rng(11)
    truth, reps = math.log(1.10), 20000
    # drawn at once: a rep's row is its nb base then nh head draws, the stream that drawing
    # them rep by rep, base then head, gives (numpy fills an array draw by draw)
    draws = 0.03 * rng.standard_t(2, (reps, nb + nh))
    over = 0
    for row in draws:
        b, h = row[:nb], truth + row[nb:]
        over += cmp.case_bound(_pass_timing(b, h, test=False), 0.975) > 1.10
    expected = cdf[k - 1]
    assert expected <= 0.025 and abs(over / reps - expected) < 4 * math.sqrt(expected / reps)


def test_cases_at_the_threshold_fail_the_gate_together_at_most_alpha_of_the_time():
    """The guarantee the docs state: where no case is truly slower than the threshold, the gate
    fails on timing with chance at most ALPHA, however many cases it tests: the suite row
    spends 2.5% and the cases share the other 2.5%. Here 9 cases at 6 passes a side (the CI
    gate's) each sit exactly at 1.10x, skewed noise between passes. Judged on each case's 95%
    interval's low end, one case in 40 failed, so the cases alone failed the gate
    1 - 0.975^9 = 20% of the time; each bound at 1 - 0.025/9 (k = 2 of 36 ratios: 2/924) keeps
    them at 9 x 2/924 = 1.9% at most."""
    rng = np.random.default_rng(5)
    truth = math.log(1.10)
    cases = [replace(CASES[0], h=8 + i) for i in range(9)]
    reps, failed = 1500, 0
    # a pass is slow, never faster than its floor; drawn at once, case by case base then head
    # as a loop of draws would take them (numpy fills an array draw by draw)
    draws = 0.04 * rng.standard_exponential((reps, len(cases), 2, 6))
    for rep in draws:
        tested = []
        for c, (b, slow) in zip(cases, rep, strict=True):
            h = truth + slow
            tested.append(cmp.CaseResult(c.key(), c.label(), None, None,
                                         _pass_timing(b, h, exact=True), verdict="not timed"))
        assert len(cmp.judge_timings(tested, None, 10.0)) == 9  # all in the Holm family
        failed += any(r.failures for r in tested)
    assert failed / reps <= 9 * 2 / 924 + 0.009  # Monte Carlo error (sd 0.0035) at 2.5 sd
    # the p the loop used is the one compare computes (scipy's), for the last rep's cases
    for t in tested:
        base = np.array(list(t.timing.base_pass_logs.values()))
        head = np.array(list(t.timing.head_pass_logs.values()))
        assert t.timing.p_value == pytest.approx(cmp.mann_whitney_slower(np.exp(base),
                                                                          np.exp(head)))
    assert tested[0].bound_level == pytest.approx(1 - 0.025 / 9)  # Bonferroni over the 9
    r = tested[0]  # the 2nd lowest of the 36 head/base pass ratios
    diffs = np.subtract.outer(list(r.timing.head_pass_logs.values()),
                              list(r.timing.base_pass_logs.values()))
    assert r.bound == pytest.approx(math.exp(np.sort(diffs.ravel())[1]))


def test_one_case_alone_is_judged_on_its_one_sided_level_of_0975():
    assert cmp.case_level(1) == pytest.approx(0.975)
    assert cmp.case_level(9) == pytest.approx(1 - 0.025 / 9)
    rng = np.random.default_rng(6)
    t = _pass_timing(0.05 * rng.standard_normal(5), 0.2 + 0.05 * rng.standard_normal(5))
    diffs = np.subtract.outer(list(t.head_pass_logs.values()), list(t.base_pass_logs.values()))
    # 5/5 passes: P(U <= 2) = 4/252 <= 0.025 < P(U <= 3) = 7/252, so the 3rd lowest of 25
    assert cmp.case_bound(t, 0.975) == pytest.approx(math.exp(np.sort(diffs.ravel())[2]))
    # with too few passes for the level there is no bound (the family keeps such cases out)
    three = _pass_timing(np.zeros(3), np.ones(3))
    assert cmp.case_bound(three, 0.975) == 0.0
