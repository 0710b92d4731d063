"""Paths the system refuses, named on the command line: a file or folder a2bench may not read,
a name too long, a link that leads nowhere or round a loop. Each is one line naming it and what
is expected, exit 2, before anything runs, and nothing already written is touched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
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


COMMANDS = ("report", "compare", "remodel", "resume")
LOCKED = ("results.jsonl", "environment.json", ".")

# Runs each argv given (JSON in argv[1]) through the command line's main() in this one child,
# as `python -m a2bench.cli` does, and prints [status, stderr] of each: one child, one import
# of torch, pandas and scipy for the twelve refusals below, which had been twelve children.
BATCH = """
import contextlib, io, json, sys, traceback
from a2bench.cli import main
said = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except BaseException:
            traceback.print_exc()
            status = None
    said.append([status, err.getvalue()])
print(json.dumps(said))
"""


@pytest.fixture(scope="module")
def refused_results(tmp_path_factory):
    """Each command on a stored run whose file or folder it may not read, every pair locked in a
    copy of its own at once: {(command, locked): (status, stderr, copy, its digest before)}."""
    drop = _unprivileged()
    base = tmp_path_factory.mktemp("refused")
    suite = base / "suite.yaml"
    suite.write_text(SUITE)
    pairs, argvs, targets = {}, [], []
    for i, (command, locked) in enumerate((c, f) for c in COMMANDS for f in LOCKED):
        stored = base / f"run{i}"
        shutil.copytree(RUN, stored)
        pairs[command, locked] = (stored, digest(stored))
        argvs.append({"report": ["report", str(stored)],
                      "compare": ["compare", str(RUN), str(stored)],
                      "remodel": ["remodel", str(stored)],
                      "resume": ["run", str(suite), "--out", str(stored), "--resume",
                                 *FAST]}[command])
        targets.append((stored / locked, 0o755 if locked == "." else 0o644))
    for target, _ in targets:
        target.chmod(0)
    try:
        done = subprocess.run([*drop, sys.executable, "-c", BATCH, json.dumps(argvs)],
                              capture_output=True, text=True, timeout=600, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": child_pythonpath()})
    finally:
        for target, mode in targets:
            target.chmod(mode)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.splitlines()[-1])
    return {pair: (status, err.strip(), *pairs[pair])
            for pair, (status, err) in zip(pairs, said, strict=True)}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("locked", LOCKED)
def test_a_results_folder_or_file_it_may_not_read_is_one_line(refused_results, command, locked):
    """report, compare and remodel had been PermissionError tracebacks, an unreadable
    environment.json "not valid JSON: restore it from a copy", and run --resume had calibrated,
    then said "0 results are saved" of the 6 it kept (exit 1)."""
    status, err, stored_run, before = refused_results[command, locked]
    assert "Traceback" not in err and "\n" not in err, err
    assert status == 2
    assert "permission denied; expected " in err and err.endswith(": check the permissions")
    if locked != ".":  # the file by name; a folder's files are stat()ed by theirs
        assert f"{stored_run / locked}: permission denied" in err, err
    assert "valid JSON" not in err and "measuring" not in err
    assert digest(stored_run) == before


def test_a_results_file_it_may_not_read_is_one_line_from_the_command_line(tmp_path):
    """The refusals above, through `python -m a2bench.cli` itself: its status and one line."""
    drop = _unprivileged()
    stored_run = tmp_path / "run"
    shutil.copytree(RUN, stored_run)
    before = digest(stored_run)
    (stored_run / "results.jsonl").chmod(0)
    try:
        status, err = a2bench("report", str(stored_run), prefix=drop)
    finally:
        (stored_run / "results.jsonl").chmod(0o644)
    assert status == 2
    assert err == (f"a2bench: error: {stored_run / 'results.jsonl'}: permission denied; "
                   "expected a results file you may read: check the permissions")
    assert digest(stored_run) == before


LONG = "x" * 300  # one name past the 255 bytes a file system's folder entry holds


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "\n" not in err, err
    return err


@pytest.mark.parametrize("argv", [
    ["report", "LONG"], ["report", "RUN", "--out", "LONG"], ["compare", "RUN", "LONG"],
    ["remodel", "LONG"], ["run", "LONG.yaml"], ["run", "SUITE", "--out", "LONG"],
    ["plan", "LONG.yaml"], ["audit", "--out", "LONG"], ["audit", "--suite", "LONG.yaml"]])
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, capsys, argv):
    """Each had been an OSError traceback (ENAMETOOLONG)."""
    from a2bench.cli import main

    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    words = {"LONG": str(tmp_path / LONG), "LONG.yaml": str(tmp_path / f"{LONG}.yaml"),
             "RUN": str(RUN), "SUITE": str(suite)}
    assert main([words.get(a, a) for a in argv]) == 2
    err = one_line(capsys)
    assert err.startswith("a2bench: error: ") and str(tmp_path / LONG) in err
    assert err.endswith(": file name too long; expected a suite file with no name in its path "
                        "over 255 bytes" if "LONG.yaml" in argv else
                        " with no name in its path over 255 bytes"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.yaml"]


@pytest.mark.parametrize("name", ["x" * 240, "a\0b", "tab\there", "é" * 120])
def test_a_suite_name_no_folder_can_take_is_refused_when_read(tmp_path, capsys, monkeypatch,
                                                              name):
    """A run without --out makes results/local/<name>-<time>: a name of 240 bytes or with a
    NUL had failed there, after the suite was read, in a traceback."""
    from a2bench.cli import main

    monkeypatch.chdir(tmp_path)
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: {json.dumps(name)}\n" + SUITE.split("\n", 1)[1])
    assert main(["run", str(suite), *FAST]) == 2
    assert (f"{suite}: name: expected a name usable as one folder's (no / or \\, not starting "
            "with a dot, no control character, at most 239 bytes), got ") in one_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.yaml"]


@pytest.mark.parametrize("argv,expected", [
    (["run", "SUITE", "--out", "LINK"], "a folder"), (["audit", "--out", "LINK"], "a folder"),
    (["report", "RUN", "--out", "LINK"], "a folder"), (["report", "LINK"], "a results folder"),
    (["compare", "RUN", "LINK"], "the head results folder"),
    (["remodel", "LINK"], "a results folder")])
@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_link_that_leads_nowhere_is_one_line(tmp_path, capsys, argv, expected, kind):
    """A link to a folder not made yet had been a FileExistsError from the run's lock, after
    an audit had counted every case; a loop of links a RuntimeError (Python 3.11's resolve)."""
    from a2bench.cli import main

    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    link = tmp_path / "link"
    target = tmp_path / ("nowhere/deeper" if kind == "dangling" else "other")
    link.symlink_to(target)
    if kind == "loop":
        target.symlink_to(link)
    words = {"LINK": str(link), "RUN": str(RUN), "SUITE": str(suite)}
    assert main([words.get(a, a) for a in argv]) == 2
    assert one_line(capsys).endswith(
        f"{link}: is a link to {target}, which leads to nothing (its target is missing, or links "
        f"lead round a loop); expected {expected}, or a link to one")
    assert not (tmp_path / "nowhere").exists()
