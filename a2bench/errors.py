"""The errors a user is shown as one line: InputError (the CLI exits 2) and CaseError (a case
stored as `error`, the sweep going on); and output_lost, a standard output not written."""

import errno
import os
import sys


class InputError(ValueError):
    """Bad input from the user (a file, a field, a flag); the message is the line shown."""


class CaseError(Exception):
    """A case the block cannot run as written; the message is the one line that says what to
    fix (stored as the case's reason with status error, the sweep going on)."""


# What writing to a full or failing standard output raises (`a2bench list > /dev/full`)
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


def output_lost(e: OSError) -> None:
    """Standard output closed by its reader (`| head`, nothing to say: the reader chose it) or
    not writable (`> /dev/full`, one line on stderr; it had been a traceback); either way what is
    left, and the flush at exit, goes nowhere. Any other OSError is not this one, and is raised
    again (a file's error names its file)."""
    if not isinstance(e, BrokenPipeError) and (e.filename is not None or e.errno not in FULL):
        raise e
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if not isinstance(e, BrokenPipeError):
        print(f"a2bench: error: the output could not be written ({e.strerror}); expected a "
              "standard output with room", file=sys.stderr)
