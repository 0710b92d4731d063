from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
A2BENCH = [sys.executable, "-m", "a2bench.cli"]


def child_pythonpath() -> str:
    """The tests' plugins first, then the checkout and whatever the caller had: the GPU machine
    runs the project from its checkout with the carried wheels on PYTHONPATH, uninstalled."""
    return os.pathsep.join(filter(None, (str(ROOT / "tests"), str(ROOT),
                                         os.environ.get("PYTHONPATH"))))


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as a user would."""
    full_env = {**os.environ, "PYTHONPATH": child_pythonpath(), **(env or {})}
    return subprocess.run([*A2BENCH, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=cwd)


def softmax_calls(module, x) -> list[tuple]:
    """(input, dim, output) of every torch.softmax a no-grad forward makes, in order: how the
    tests check which axis each softmax normalises over."""
    import torch

    calls: list[tuple] = []
    real = torch.softmax

    def spy(t, dim, *a, **k):
        out = real(t, dim, *a, **k)
        calls.append((t, dim, out))
        return out

    torch.softmax = spy
    try:
        with torch.no_grad():
            module(x)
    finally:
        torch.softmax = real
    return calls


@pytest.fixture
def write_suite(tmp_path: Path):
    def _write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write
