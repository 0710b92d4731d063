"""The errors a user is shown as one line: InputError (the CLI exits 2) and CaseError (a case
stored as `error`, the sweep going on); output_lost, a standard output not written; and
os_problem, a path the system refused said as what is expected."""

import errno
import os
import sys
from typing import Any


class InputError(ValueError):
    """Bad input from the user (a file, a field, a flag); the message is the line shown."""


class CaseError(Exception):
    """A case the block cannot run as written; the message is the one line that says what to
    fix (stored as the case's reason with status error, the sweep going on)."""


class StdoutLost(OSError):
    """Writing the standard output failed: its reader left (`| head`) or it is full (`> /dev/full`).
    Raised by StdoutGuard, so that a file's failed write (also an OSError with no file name
    where Python's write() raises it) is never taken for the output's."""


class StdoutGuard:
    """The standard output, its write and flush errors raised as StdoutLost (cli.main)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as e:
            raise StdoutLost(e.errno, e.strerror) from e

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise StdoutLost(e.errno, e.strerror) from e

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding: the stream's own
        return getattr(self._stream, name)


def os_problem(e: OSError | RuntimeError, what: str, may: str = "read") -> str:
    """Why a path the user named cannot be used, from the OSError met on it (or the RuntimeError
    pathlib's resolve() raises for a loop of links before Python 3.13), as the tail of one
    line: the system's words, then what is expected instead. `what` names the file or folder
    ("a suite file"), `may` what a2bench does with it ("read", "read and write")."""
    said = (getattr(e, "strerror", None) or str(e)).lower()
    number = getattr(e, "errno", None)
    if isinstance(e, RuntimeError) or number == errno.ELOOP:
        return f"{said}; expected {what}, or a link to one, not links that lead round a loop"
    if number == errno.ENAMETOOLONG:
        return f"{said}; expected {what} with no name in its path over 255 bytes"
    if number in (errno.EACCES, errno.EPERM):
        return f"{said}; expected {what} you may {may}: check the permissions"
    return f"{said}; expected {what} you may {may}"


def output_lost(e: OSError) -> None:
    """The standard output lost (StdoutLost, or an OSError raised while only it was written;
    EPIPE where its reader left):
    closed by its reader, nothing to say (the reader chose it); not writable, one line on
    stderr (it had been a traceback). Either way what is left, and the flush at exit, goes
    nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if e.errno != errno.EPIPE:
        print(f"a2bench: error: the output could not be written ({e.strerror}); expected a "
              "standard output with room", file=sys.stderr)
