"""The command line run by its own main() in the test's process, for the tests of the runner,
remodel and interleaving that read what a command wrote, not how a process ends.

A child's start (conftest.cli) had cost each call about 6 s of CPU in the imports of torch,
pandas and scipy that the test's process holds already. What a process does with a signal, and
its exit status end to end, stay with conftest.cli.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import subprocess


def cli_here(*args: str) -> subprocess.CompletedProcess[str]:
    """`a2bench ARGS` by a2bench.cli.main in this process; stdout and stderr as strings, each a
    stream of its own (as two pipes are to a child)."""
    from a2bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert not multiprocessing.active_children()  # a sweep leaves no worker behind
    return subprocess.CompletedProcess(["a2bench", *args], code, out.getvalue(), err.getvalue())
