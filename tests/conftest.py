from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
A2BENCH = [sys.executable, "-m", "a2bench.cli"]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as a user would."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), **(env or {})}
    return subprocess.run([*A2BENCH, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=cwd)


@pytest.fixture
def write_suite(tmp_path: Path):
    def _write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write
