"""The measuring scripts under benchmarks/ that docs quote run and say what they measured."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, child_pythonpath


def script_main(name: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """benchmarks/NAME.py's main() in this process, given argv as its command line: a child
    spends about 3 s of CPU importing torch, which this process holds already. The scripts that
    pin torch's threads run under the one_thread fixture, which sets them back."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv])
    return module.main()


def test_block_peaks_prints_each_case_against_its_model(monkeypatch, capsys, one_thread):
    """Double attention in float32 is its model to the byte (test_block_conformance checks
    the same), so the summary says so; the table has one row per case and mode."""
    assert script_main("block_peaks", [
        "double_attention", "--dtype", "float32", "--channels", "16", "--sides", "8", "6x12",
        "--param", "m=4", "--param", "n=4"], monkeypatch) == 0
    printed = capsys.readouterr()
    rows = [line for line in printed.out.splitlines() if line.startswith("| 1 | 16 |")]
    assert len(rows) == 4 and all(row.count("|") == 11 for row in rows)
    assert sum("| 6x12 |" in row for row in rows) == 2  # a map that is not square, as HxW
    assert "forward: 2 of 2 cases on their model to the byte" in printed.out
    assert "train: 2 of 2 cases on their model to the byte" in printed.out


def test_block_peaks_skips_a_train_case_its_block_refuses_in_one_line(monkeypatch, capsys,
                                                                    one_thread):
    """ResNet-50 at batch 1 on 32 x 32 cannot train (its BatchNorm would see one value per
    channel): the forward row is measured, the train case skipped with the block's reason, and
    the summary covers what ran (it had crashed with torch's traceback). In this process: a
    crash is this test's error; the file's children check exit statuses and tracebacks."""
    assert script_main("block_peaks", ["resnet50", "--dtype", "float32", "--channels", "3",
                                       "--sides", "32"], monkeypatch) == 0
    printed = capsys.readouterr()
    assert [line.split("|")[4].strip() for line in printed.out.splitlines()
            if line.startswith("| 1 | 3 |")] == ["forward"]
    assert "skipped resnet50 train at b 1" in printed.err and "Traceback" not in printed.err
    assert " of 1 cases on their model to the byte" in printed.out.split("\nforward: ")[1]
    assert "train:" not in printed.out


def test_bmm_scratch_measures_a_product_of_any_shape(monkeypatch, capsys, one_thread):
    """--product P,K,Q: one row per product, its scratch with the second operand row-major and
    transposed (docs/blocks.md quotes AMX's packing from it); a bad one is argparse's line."""
    assert script_main("bmm_scratch", ["--product", "4,64,48", "--product", "2,32,8"],
                       monkeypatch) == 0
    printed = capsys.readouterr()
    rows = [line for line in printed.out.splitlines() if " × " in line and "B |" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["4 × 64 × 48", "2 × 32 × 8"]
    assert all(int(cell.strip().rstrip(" B").replace(",", "")) >= 0
               for row in rows for cell in row.split("|")[2:4])
    with pytest.raises(SystemExit) as bad:
        script_main("bmm_scratch", ["--product", "1,2"], monkeypatch)
    assert bad.value.code == 2 and "expected P,K,Q" in capsys.readouterr().err


def test_timescale_check_reads_a_stored_run():
    """It had imported fitting.SAMPLE_QUANTILE, gone since the fit reads each pass's expected
    fastest of 3 (commit 844ed25), so it died in an ImportError before reading anything."""
    result = subprocess.run(
        [sys.executable, "benchmarks/timescale_check.py",
         "results/cpu-auto-heldout/auto-others-c64-1"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": child_pythonpath()}, text=True,
        capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| auto-others")]
    assert sorted(row.split("|")[3].strip() for row in rows) == ["criss_cross", "gc", "nonlocal"]


def test_time_to_verdict_prints_a_block_its_run_could_not_fit(monkeypatch, capsys):
    """A suite of two sizes (smoke.yaml) fits no exponent: its row says so, where the None had
    raised a TypeError after the run (and, without --keep, lost it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "time_to_verdict", ROOT / "benchmarks" / "time_to_verdict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fits = [{"block": "se", "metric": "latency", "exponent": None, "ci_low": None,
             "ci_high": None, "verdict": "inconclusive"},
            {"block": "gc", "metric": "latency", "exponent": 1.004, "ci_low": 0.98,
             "ci_high": 1.02, "verdict": "consistent"}]
    monkeypatch.setattr(module, "one_run", lambda suite, flags, keep: {
        "wall": 20.0, "overhead": 1.5, "verdict": "inconclusive", "latency": fits})
    monkeypatch.setattr(sys, "argv", ["time_to_verdict.py", "suites/smoke.yaml"])
    assert module.main() == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.endswith("| se not fitted (inconclusive); gc 1.00 ±0.02 (consistent) |"), row


def test_estimator_bias_fits_each_summary_it_compares():
    """Its two rows had read the same figures since summary_of moved to per_size: it set the
    10th percentile into fitting, which only re-exports it, so both fits read the fastest of 3.
    It now passes each summary to summarise. Three windows in this process: the two summaries'
    exponents differ, and per_size's own functions are untouched."""
    import importlib.util

    from a2bench import per_size

    kept = per_size.summary_of, per_size.log_se_of_quantile
    spec = importlib.util.spec_from_file_location(
        "estimator_bias", ROOT / "benchmarks" / "estimator_bias.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kind, fits = module.scenario(("lognormal 10%", 3, 20))
    assert kind == "lognormal 10%" and set(fits) == {"10th percentile", "fastest of 3"}
    assert all(a.shape == (3, 3) for a in fits.values())
    assert (fits["10th percentile"][:, 0] != fits["fastest of 3"][:, 0]).all()
    assert (per_size.summary_of, per_size.log_se_of_quantile) == kept


def test_the_simulations_refuse_a_count_below_one_in_one_line():
    """crossover_noise.py 0 had divided by zero, estimator_bias.py 0 indexed an empty array,
    and --help or a word had raised int()'s ValueError, each in a traceback."""
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    for script, args in (("crossover_noise.py", ["0"]), ("crossover_noise.py", ["many"]),
                         ("estimator_bias.py", ["0"]), ("estimator_bias.py", ["5", "0"])):
        bad = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT, env=env,
                             text=True, capture_output=True, timeout=300)
        assert bad.returncode == 2, (script, args, bad.stderr)
        assert "expected a positive integer" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr and bad.stdout == "", (script, args)


def test_the_scripts_refuse_bad_input_before_loading_pandas_or_scipy():
    """Their arguments, and promise_check's folders, are read first: each refusal had paid
    pandas', scipy's and a2bench's analysis imports (1.7-3 s of CPU) before its line. One child:
    what was loaded after all three."""
    code = ("import contextlib, io, runpy, sys\n"
            "for script, arg in (('crossover_noise.py', '0'), ('estimator_bias.py', '0'),\n"
            "                    ('promise_check.py', 'results/cpu-auto-heldout/README.md')):\n"
            "    sys.argv = [script, arg]\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stderr(io.StringIO()):\n"
            "        runpy.run_path(f'benchmarks/{script}', run_name='__main__')\n"
            "print(*(name in sys.modules for name in ('pandas', 'scipy', 'a2bench.fitting')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": child_pythonpath()}, timeout=300)
    assert done.stdout.split() == ["False", "False", "False"], done.stderr


@pytest.mark.parametrize("script", ["promise_check.py", "timescale_check.py"])
def test_the_checks_refuse_a_folder_no_run_wrote_in_one_line(script, tmp_path):
    # a README a glob picked up, or a typo: an InputError or FileNotFoundError traceback, the
    # second after the table's header
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "results/cpu-auto-heldout/README.md",
         str(tmp_path / "nowhere")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": child_pythonpath()}, text=True,
        capture_output=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].endswith("README.md: a file, not a folder (expected a "
                                                   "results folder written by a2bench run, "
                                                   "holding results.jsonl)") \
        or "README.md: not a results folder" in result.stderr
