"""Paths the system refuses, named on the command line: a file or folder a2bench may not read,
a name too long, a link that leads nowhere or round a loop. Each is one line naming it and what
is expected, exit 2, before anything runs, and nothing already written is touched."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import A2BENCH, ROOT, child_pythonpath

RUN = ROOT / "results" / "cpu-video"  # a small stored run: results.jsonl, environment.json
SUITE = "name: g\nblocks: [se]\nparams: {channels: [8], h: [4], w: [4], reduction: [2]}\n"
FAST = ["--no-progress", "--processes", "1", "--calibration-time", "0.01", "--time-budget",
        "0.05"]


def _unprivileged() -> list[str]:
    """The words that start a child who may not read what chmod 000 denies: root reads it
    anyway, unless its capabilities to override file permissions are dropped (setpriv)."""
    if os.geteuid() != 0:
        return []
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None or subprocess.run(
            [*drop, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("as root, needs setpriv permitted to drop the capability to read any file")
    return drop


def a2bench(*args: str, prefix: tuple[str, ...] | list[str] = ()) -> tuple[int, str]:
    """The command line's status and its one line on stderr (asserted one, no traceback)."""
    done = subprocess.run([*prefix, *A2BENCH, *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": child_pythonpath()})
    err = done.stderr.strip()
    assert "Traceback" not in err and "\n" not in err, err
    return done.returncode, err


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def stored_run(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    return run


@pytest.mark.parametrize("command", [["run", "SUITE"], ["plan", "SUITE"],
                                     ["audit", "--suite", "SUITE"]])
def test_a_suite_file_it_may_not_read_is_one_line(tmp_path, command):
    drop = _unprivileged()
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    suite.chmod(0)
    status, err = a2bench(*[str(suite) if a == "SUITE" else a for a in command], prefix=drop)
    assert status == 2
    assert err == (f"a2bench: error: {suite}: permission denied; expected a suite file you may "
                   "read: check the permissions")


@pytest.mark.parametrize("command", ["report", "compare", "remodel", "resume"])
@pytest.mark.parametrize("locked", ["results.jsonl", "environment.json", "."])
def test_a_results_folder_or_file_it_may_not_read_is_one_line(tmp_path, stored_run, command,
                                                              locked):
    """report, compare and remodel had been PermissionError tracebacks, an unreadable
    environment.json "not valid JSON: restore it from a copy", and run --resume had calibrated,
    then said "0 results are saved" of the 6 it kept (exit 1)."""
    drop = _unprivileged()
    before = digest(stored_run)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    argv = {"report": ["report", str(stored_run)],
            "compare": ["compare", str(RUN), str(stored_run)],
            "remodel": ["remodel", str(stored_run)],
            "resume": ["run", str(suite), "--out", str(stored_run), "--resume", *FAST]}[command]
    target = stored_run / locked
    target.chmod(0)
    try:
        status, err = a2bench(*argv, prefix=drop)
    finally:
        target.chmod(0o755 if locked == "." else 0o644)
    assert status == 2
    assert "permission denied; expected " in err and err.endswith(": check the permissions")
    if locked != ".":  # the file by name; a folder's files are stat()ed by theirs
        assert f"{stored_run / locked}: permission denied" in err, err
    assert "valid JSON" not in err and "measuring" not in err
    assert digest(stored_run) == before
