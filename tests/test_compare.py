"""a2bench compare on synthetic results folders whose samples are chosen, so each rule is pinned.

The stores are written with the real ResultsWriter, and the command runs through a2bench.cli.main,
so exit codes and the one-line bad-input error are the user's.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from a2bench import compare as cmp
from a2bench.case import Case
from a2bench.cli import main
from a2bench.cost import cost_of
from a2bench.measurement import Measurement
from a2bench.store import ResultsWriter

CASES = [
    Case("double_attention", "cpu", "float32", 1, 64, 1, 16, 16, 16, 16, None),
    Case("nonlocal_right", "cpu", "float32", 1, 64, 1, 16, 16, 16, 16, None),
    Case("se", "cpu", "float32", 1, 64, 1, 16, 16, None, None, 16),
]
BASE_MS = {"double_attention": 1.0, "nonlocal_right": 2.0, "se": 0.2}
ENV = {"a2bench_version": "0.1.0", "git_commit": "aaaa", "python": "3.11.7",
       "torch": "2.13.0+cpu", "fvcore": "0.1.5", "numpy": "2.4.6", "cpu_model": "Test CPU",
       "threads": 2, "physical_cores": 2}


def samples(median_ms: float, seed: int, n: int = 60, spread: float = 0.04) -> tuple[float, ...]:
    """Right-skewed timings with a few stragglers, like a shared runner's."""
    rng = np.random.default_rng(seed)
    s = median_ms / 1e3 * np.exp(rng.normal(0, spread, n))
    s[rng.choice(n, n // 20, replace=False)] *= 3  # preemptions
    return tuple(float(x) for x in s)


def record(case: Case, seed: int, slowdown: float = 1.0, reference_s: float = 1e-3,
           **changes: Any) -> Measurement:
    s = samples(BASE_MS[case.block] * slowdown, seed)
    m = Measurement(case, "ok", threads=2, latency_s=float(np.median(s)), samples_s=s,
                    reference_s=reference_s, macs_fvcore=cost_of(case).macs,
                    macs_torch=cost_of(case).macs, peak_bytes=cost_of(case).peak_bytes)
    return replace(m.with_cost(cost_of(case)), **changes)


def store(path: Path, records: list[Measurement], env: dict[str, Any] | None = None) -> Path:
    w = ResultsWriter(path, resume=False)
    w.write_environment(ENV if env is None else env)
    for m in records:
        w.append(m)
    return path


def run(base: Path, head: Path, *flags: str) -> int:
    return main(["compare", str(base), str(head), *flags])


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return store(tmp_path / "base", [record(c, seed=i) for i, c in enumerate(CASES)])


def head_with(tmp_path: Path, name: str = "head", env: dict[str, Any] | None = None,
              **per_record: Any) -> Path:
    return store(tmp_path / name, [record(c, seed=100 + i, **per_record)
                                   for i, c in enumerate(CASES)], env)


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
    records = [record(c, seed=100 + i, slowdown=1.5 if c.block == "se" else 1.0)
               for i, c in enumerate(CASES)]
    assert run(base, store(tmp_path / "head", records)) == 1
    fails = [line for line in capsys.readouterr().out.splitlines() if "FAIL:" in line]
    assert len(fails) == 2  # the case line and the verdict line
    assert CASES[2].label() in fails[0]


def test_five_percent_slower_passes_at_ten_percent(tmp_path, base, capsys):
    assert run(base, head_with(tmp_path, slowdown=1.05)) == 0
    assert run(base, tmp_path / "head", "--threshold", "2") == 1  # but not at 2%


def test_exact_metric_change_fails(tmp_path, base, capsys):
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[0] = replace(records[0], macs_analytic=records[0].macs_analytic + 1)
    assert run(base, store(tmp_path / "head", records)) == 1
    out = capsys.readouterr().out
    assert "macs_analytic changed" in out and "EXACT CHANGED" in out


@pytest.mark.parametrize("metric", cmp.EXACT_METRICS)
def test_every_exact_metric_is_checked(tmp_path, base, metric):
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[1] = replace(records[1], **{metric: getattr(records[1], metric) * 2})
    assert run(base, store(tmp_path / "head", records), "--exact-only") == 1


def test_exact_only_ignores_timings(tmp_path, base, capsys):
    slow = head_with(tmp_path, slowdown=3.0)
    assert run(base, slow) == 1  # the timing gate sees it
    capsys.readouterr()
    assert run(base, slow, "--exact-only") == 0
    out = capsys.readouterr().out
    assert "timings not read" in out and "ratio" not in out and "warning" not in out
    # no samples, no latency, no reference: nothing timing-related is needed either
    bare = head_with(tmp_path, "bare", samples_s=(), latency_s=None, reference_s=None)
    assert run(base, bare, "--exact-only") == 0


def test_status_ok_to_error_fails(tmp_path, base, capsys):
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[1] = Measurement(CASES[1], "error", "RuntimeError: boom").with_cost(cost_of(CASES[1]))
    assert run(base, store(tmp_path / "head", records), "--exact-only") == 1
    assert "status ok -> error: RuntimeError: boom" in capsys.readouterr().out


def test_case_missing_from_head_warns_but_passes(tmp_path, base, capsys):
    head = store(tmp_path / "head", [record(c, seed=100 + i) for i, c in enumerate(CASES[:2])])
    assert run(base, head) == 0
    out = capsys.readouterr().out
    assert "only in base" in out and "missing from head" in out


def test_environment_difference_warns_and_still_compares(tmp_path, base, capsys):
    env = {**ENV, "threads": 1, "torch": "2.14.0+cpu", "git_commit": "bbbb"}
    assert run(base, head_with(tmp_path, env=env)) == 0
    out = capsys.readouterr().out
    assert "environments differ: threads 2 (base) vs 1 (head)" in out
    assert "environments differ: torch" in out
    assert "git_commit" not in out  # expected to differ between base and head
    assert "PASS" in out


def test_normalize_cancels_a_uniformly_slower_machine(tmp_path, base, capsys):
    head = head_with(tmp_path, slowdown=1.3, reference_s=1.3e-3)
    assert run(base, head) == 1
    assert "reference kernel: head/base = 1.30" in capsys.readouterr().out
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
    records = [record(c, seed=100 + i) for i, c in enumerate(CASES)]
    records[0] = replace(records[0], samples_s=(0.04, 0.05, 0.045, 0.06))  # 40x, 4 samples
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
