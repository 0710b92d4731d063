"""The measuring scripts under benchmarks/ that docs quote run and say what they measured."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, child_pythonpath


def test_block_peaks_prints_each_case_against_its_model():
    """Double attention in float32 is its model to the byte (test_block_conformance checks
    the same), so the summary says so; the table has one row per case and mode."""
    result = subprocess.run(
        [sys.executable, "benchmarks/block_peaks.py", "double_attention", "--dtype", "float32",
         "--channels", "16", "--sides", "8", "12", "--param", "m=4", "--param", "n=4"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": child_pythonpath()}, text=True,
        capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 1 | 16 |")]
    assert len(rows) == 4 and all(row.count("|") == 11 for row in rows)
    assert "forward: 2 of 2 cases their model to the byte" in result.stdout
    assert "train: 2 of 2 cases their model to the byte" in result.stdout
