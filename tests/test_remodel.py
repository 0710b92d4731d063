"""`a2bench remodel`: a stored run's model columns from today's models, its measurements kept."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from cli_here import cli_here
from conftest import cli, held_elsewhere

from a2bench.case import Case
from a2bench.catalog import cost_of

RUN = Path(__file__).resolve().parents[1] / "results" / "gpu-nvidia-h100-80gb-hbm3-training"
MEASURED = ("latency_s", "samples_s", "peak_bytes", "macs_torch", "macs_fvcore", "backend",
            "status", "first_call_s")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def stale_copy(tmp_path: Path) -> Path:
    """A copy of RUN as written under an older model: every modelled peak off by 4 KiB, as they
    were before the CUDA memory models (the published copy is already remodelled)."""
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    stale = _lines(run / "results.jsonl")
    for r in stale:
        if r["peak_bytes_analytic"]:
            r["peak_bytes_analytic"] += 4096
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))
    return run


@pytest.mark.slow
def test_remodel_rewrites_the_model_columns_and_keeps_what_was_measured(tmp_path):
    run = stale_copy(tmp_path)
    before = _lines(run / "results.jsonl")
    done = cli("remodel", str(run))
    assert done.returncode == 0, done.stderr
    assert "records' model columns rewritten (peak_bytes_analytic" in done.stdout
    assert "; the first: " in done.stdout and "… -4,096 B)" in done.stdout  # what, where, how much
    after = _lines(run / "results.jsonl")
    assert len(after) == len(before)
    moved = 0
    for old, new in zip(before, after, strict=True):
        assert {k: old.get(k) for k in MEASURED} == {k: new.get(k) for k in MEASURED}
        if new["peak_bytes_analytic"]:  # every modelled record, whether or not it ran
            model = cost_of(Case.from_dict(new["case"]), new.get("backend") or "")
            assert new["peak_bytes_analytic"] == model.peak_bytes
            moved += new["peak_bytes_analytic"] != old["peak_bytes_analytic"]
    assert moved == sum(1 for r in before if r["peak_bytes_analytic"])
    assert any(r["status"] != "ok" for r in before if r["peak_bytes_analytic"])
    with open(run / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["peak_bytes_analytic"]) for r in rows if r["status"] == "ok"] == [
        r["peak_bytes_analytic"] for r in after if r["status"] == "ok"]
    assert "remodelled" in json.loads((run / "environment.json").read_text())
    # a second pass finds nothing to change, and writes nothing
    again = cli_here("remodel", str(run))
    assert again.returncode == 0 and ": 0 of" in again.stdout


@pytest.mark.slow
def test_remodel_of_a_folder_that_is_not_a_run_says_so_in_one_line(tmp_path):
    done = cli("remodel", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no results.jsonl" in done.stderr


def test_remodel_keeps_results_csv_one_pooled_row_per_case_in_its_order(tmp_path):
    # the H200 positions run: three passes of each case in results.jsonl, one row per case in
    # results.csv, in the suite's order
    run = tmp_path / "run"
    shutil.copytree(RUN.parent / "gpu-nvidia-h200-auto-positions", run)
    with open(run / "results.csv") as f:
        before = [(r["block"], r["h"], r["w"]) for r in csv.DictReader(f)]
    stale = _lines(run / "results.jsonl")
    assert len(stale) > len(before)  # several passes per case
    for r in stale:
        r["peak_bytes_analytic"] += 4096
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))
    assert cli_here("remodel", str(run)).returncode == 0
    with open(run / "results.csv") as f:
        after = list(csv.DictReader(f))
    assert [(r["block"], r["h"], r["w"]) for r in after] == before
    assert all(int(r["processes"]) > 1 for r in after)


@pytest.mark.slow
def test_remodel_draws_the_model_warnings_again(tmp_path):
    """A run's warnings about its model columns follow the columns: the H200 train run's
    double attention misses were once blamed on the sweep's 16 CPU threads, which do not touch
    a CUDA peak. Other warnings are kept as they were."""
    run = tmp_path / "run"
    shutil.copytree(RUN.parent / "gpu-nvidia-h200-auto-training-both", run)
    env = json.loads((run / "environment.json").read_text())
    stale = ("measured peak above the memory model on 9 case(s), by up to 10%, at 16 threads: "
             "kernels' per-thread buffers, which the model does not hold; --threads 1 gives "
             "peaks the model matches")
    kept = "noisy run: IQR above 10% of the median on 3 of 14 cases"
    env["warnings"] = [kept, stale]
    (run / "environment.json").write_text(json.dumps(env))
    done = cli_here("remodel", str(run))
    assert done.returncode == 0, done.stderr
    assert ": 0 of" in done.stdout and "its model warnings rewritten" in done.stdout
    after = json.loads((run / "environment.json").read_text())
    warnings = after["warnings"]
    # no model column moved, so the columns' own stamp is not touched
    assert after.get("remodelled") == env.get("remodelled") and after["model_warnings_rewritten"]
    assert warnings[0] == kept and len(warnings) == 2
    assert warnings[1].startswith("measured peak above the memory model on ")
    assert "on CUDA" in warnings[1] and "threads" not in warnings[1]
    again = cli_here("remodel", str(run))
    assert again.returncode == 0 and "warnings rewritten" not in again.stdout


def test_a_stored_backend_is_named_for_its_records_threads():
    # records written before the kernels' names carried the threads their buffers follow
    from a2bench.kernel_names import with_threads
    from a2bench.run.remodel import THREADED_KERNELS

    def named(backend: str, threads: int) -> str:
        return with_threads(backend, THREADED_KERNELS, threads)

    assert named("flash_cpu+onednn_f32", 2) == "flash_cpu_t2+onednn_f32_t2"
    assert named("flash_cpu+onednn_bf16_amx", 4) == "flash_cpu_t4+onednn_bf16_amx"
    assert named("onednn_f32", 1) == "onednn_f32" and named("", 8) == ""
    assert named("onednn_f32_t2", 2) == "onednn_f32_t2"  # named already
    assert named("efficient", 16) == "efficient"  # a CUDA kernel: threads only launch


def test_remodel_drops_a_mismatch_said_by_an_older_model_whole(tmp_path):
    """A record flagged model_mismatch by a wrong model, remodelled after the fix: its reason
    kept "fix the cost model, or declare the difference ..." (the old text held a "; ", on
    which the reason's parts are split)."""
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    stale = _lines(run / "results.jsonl")
    ok = next(r for r in stale if r["status"] == "ok")
    ok["model_mismatch"], ok["macs_analytic"] = True, 1  # the wrong model's count
    ok["reason"] = ("model_mismatch: cost() gives 1 MACs, the counters FlopCounterMode 2, "
                    "fvcore 2; fix the cost model, or declare the difference in "
                    "counter_difference; " + ok["reason"]).rstrip("; ")
    own = ok["reason"].split("counter_difference")[1]
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))
    assert cli_here("remodel", str(run)).returncode == 0
    fixed = next(r for r in _lines(run / "results.jsonl") if r["case"] == ok["case"]
                 and r["process"] == ok["process"])
    assert "fix the cost model" not in fixed["reason"] and "model_mismatch" not in fixed["reason"]
    assert fixed["reason"] == own.removeprefix("; ")


@pytest.mark.slow
def test_remodel_under_a_live_run_or_in_a_read_only_folder_is_one_line(tmp_path):
    from a2bench.run.lock import LOCK

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    stale = _lines(run / "results.jsonl")
    stale[0]["peak_bytes_analytic"] += 4096  # one record to rewrite
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale))
    text = (run / "results.jsonl").read_text()
    # a run appending to the folder: a rewrite now would drop what it appends meanwhile
    with held_elsewhere(run, "a2bench run"):  # in a child: this process's own is no other's
        done = cli_here("remodel", str(run))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "a2bench run (pid " in line and "is writing this folder now" in line
    assert (run / "results.jsonl").read_text() == text
    run.chmod(0o555)  # read-only (root writes anyway: the check reads the folder's mode)
    try:
        done = cli_here("remodel", str(run))
    finally:
        run.chmod(0o755)
    if done.returncode != 0:  # as root access() grants the write: nothing to check there
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "the folder is not writable" in done.stderr.strip()
    assert not (run / LOCK).exists()  # who held the lock is said only while it is held


@pytest.mark.slow
def test_remodel_of_a_slurm_partitions_set_waits_for_its_driver(tmp_path):
    # the driver holds the sweep folder and merges into DIR/<partition>: a remodel of that set
    # had gone ahead under it
    sweep = tmp_path / "sweep"
    shutil.copytree(RUN, sweep / "h100")
    (sweep / ".slurm.json").write_text("{}")
    with held_elsewhere(sweep, "a2bench run --executor slurm"):
        done = cli_here("remodel", str(sweep / "h100"))
    assert done.returncode == 2 and "a2bench run --executor slurm (pid " in done.stderr
    assert cli_here("remodel", str(sweep / "h100")).returncode == 0


def test_a_skipped_cases_reason_gives_todays_predicted_peak(tmp_path):
    # the H100 training run's skipped 256x256 non-local step read the old model's
    # 68,786,602,368 bytes beside its remodelled peak
    from a2bench.run.runner import predicted_bytes

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    rows = _lines(run / "results.jsonl")
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert skipped
    need = predicted_bytes(Case.from_dict(skipped[0]["case"]), skipped[0].get("threads") or 1)
    for r in skipped:
        r["reason"] = f"predicted peak 1234 bytes exceeds the memory budget of {need - 1} bytes"
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = cli_here("remodel", str(run))
    assert done.returncode == 0 and "(reason;" in done.stdout
    after = [r for r in _lines(run / "results.jsonl") if r["status"] == "skipped"]
    assert after[0]["reason"] == (f"predicted peak {need} bytes exceeds the memory budget of "
                                  f"{need - 1} bytes")
    # where today's model puts it within the budget it was skipped under, a new run measures it
    from a2bench.run.remodel import skip_reason

    case = Case.from_dict(skipped[0]["case"])
    assert skip_reason(case, f"predicted peak 1234 bytes exceeds the memory budget of {need} "
                       "bytes", skipped[0].get("threads") or 1) == (
        f"skipped when its model predicted 1234 bytes, over the memory budget of {need} bytes; "
        f"today's model predicts {need}, within it (a new run measures it)")
    assert skip_reason(case, "timed out", 1) == "timed out"


def test_a_full_disk_is_the_folders_one_line_not_the_outputs(tmp_path):
    # a file's failed write had been taken for the standard output's ("the output could not be
    # written ... expected a standard output with room", exit 1)
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full on this system")
    run = stale_copy(tmp_path)
    before = (run / "results.jsonl").read_text()
    (run / "results.csv.tmp").symlink_to(full)
    done = cli_here("remodel", str(run))
    assert done.returncode == 2 and done.stderr.strip() == (
        f"a2bench: error: {run}: its model columns could not be written (No space left on "
        "device); expected room to write them: make room and run a2bench remodel again")
    assert (run / "results.jsonl").read_text() == before  # the records are as they were


@pytest.mark.parametrize("killed_at", ["environment.json", "results.jsonl"])
def test_a_remodel_killed_as_it_writes_keeps_its_stamp_and_leaves_no_temporary_file(
        tmp_path, monkeypatch, killed_at):
    """Killed after results.jsonl was rewritten but before environment.json, a remodel had lost
    its `remodelled` stamp for good (the next found nothing to change) and left
    environment.json.tmp. The stamp is written before the records now, and a remodel clears
    what a killed write left."""
    from dataclasses import replace

    from a2bench.measurement import Measurement
    from a2bench.run import remodel as remodel_module
    from a2bench.run.store import ResultsWriter

    run = tmp_path / "run"
    writer = ResultsWriter(run, resume=False)
    for h in (4, 6):
        case = Case("se", "cpu", "float32", 1, 8, 1, h, h, reduction=2)
        m = Measurement(case, "ok", latency_s=1e-4).with_cost(cost_of(case))
        writer.append(replace(m, peak_bytes_analytic=m.peak_bytes_analytic + 4096))  # stale
    (run / "environment.json").write_text(json.dumps({"suite": "g"}))
    real = remodel_module.atomic_write

    def killed(path: Path, text: str) -> None:
        if path.name == killed_at:
            (path.parent / f"{path.name}.tmp").write_text(text[:10])  # as a kill leaves it
            raise KeyboardInterrupt  # through everything, as a kill
        real(path, text)

    monkeypatch.setattr(remodel_module, "atomic_write", killed)
    with pytest.raises(KeyboardInterrupt):
        remodel_module.remodel(run)
    monkeypatch.setattr(remodel_module, "atomic_write", real)
    assert remodel_module.remodel(run).changed == 2  # the records were not yet rewritten
    assert json.loads((run / "environment.json").read_text())["remodelled"]["records_changed"] == 2
    assert not list(run.glob("*.tmp"))
    (run / "environment.json.tmp").write_text('{"suite": "g", "re')  # an earlier kill's
    assert remodel_module.remodel(run).changed == 0
    assert not list(run.glob("*.tmp"))  # cleared, though this remodel writes nothing


def test_a_last_line_without_its_newline_is_not_dropped_by_a_rewrite(tmp_path):
    """read_jsonl leaves a line without its newline out of the records (a write cut short); a
    remodel that rewrote the records had deleted it with them, exit 0, though it was a whole
    result whose newline an edit had taken. The rewrite is refused in one line, nothing
    touched; a remodel that rewrites nothing leaves it be."""
    from a2bench.errors import InputError
    from a2bench.run import remodel as remodel_module

    run = tmp_path / "run"
    shutil.copytree(RUN.parent / "cpu-video", run)  # its model columns are today's
    path = run / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines))  # the last result whole, its newline gone
    assert remodel_module.remodel(run).changed == 0  # nothing to rewrite: left as it is
    assert path.read_text() == "\n".join(lines)
    first = json.loads(lines[0])
    first["peak_bytes_analytic"] += 4096  # a stale model column: a rewrite
    text = "\n".join([json.dumps(first), *lines[1:]])
    path.write_text(text)
    with pytest.raises(InputError, match=r"results\.jsonl: its last line has no newline "
                                         r"\(\d+ bytes: a write cut short, or an edit\)"):
        remodel_module.remodel(run)
    assert path.read_text() == text
    path.write_text(text + "\n")
    assert remodel_module.remodel(run).changed == 1
    assert len(path.read_text().splitlines()) == len(lines)
