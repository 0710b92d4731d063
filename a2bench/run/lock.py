"""One writer to a results folder at a time.

A sweep (local, or the Slurm driver) and `a2bench remodel` hold an exclusive lock on the
results folder while they write. Without it two runs given one --out (the second with
--resume) both appended: 42 of 90 records came out twice, both timed on the same cores, and
the report and compare read the doubled passes without a word; and a remodel that rewrote a
folder under a live run dropped the records the run appended meanwhile. A second writer is
refused in one line naming the first. The lock goes with its process, however that ends.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from a2bench.errors import InputError

# Who holds the lock, for a second writer's message: written once the lock is held and removed
# before it is let go (the lock itself is on the folder: a lock file left behind would stand in
# every results folder, and removing one would let a waiting opener lock a file no one sees).
LOCK = ".a2bench.lock"


@contextlib.contextmanager
def holding(out: Path, doing: str, create: bool = True) -> Iterator[None]:
    """Hold `out`'s lock for the block; `doing` is what the holder does ("a2bench run"), said
    to a second writer. `create`: make the folder if it is missing (a sweep's); otherwise a
    missing folder is left for the caller to refuse. A folder no one may write to is not
    locked (nothing can be written there, and the write says so), nor one on a file system
    that locks no folder."""
    out = Path(out)
    made = create and not out.exists()
    if made:
        out.mkdir(parents=True, exist_ok=True)
    if not out.is_dir() or not os.access(out, os.W_OK):
        yield
        return
    info = out / LOCK
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            try:
                holder = info.read_text().strip()
            except OSError:
                holder = ""
            raise InputError(f"{out}: {holder or 'another process'} is writing this folder "
                             "now; expected one writer at a time: wait for it to end, or "
                             "choose another folder") from None
        except OSError:  # NFS emulates flock with byte-range locks, which a folder cannot take
            locked = False
        if locked:
            since = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            info.write_text(f"{doing} (pid {os.getpid()}, since {since})\n")
        try:
            yield
        finally:
            if locked:
                info.unlink(missing_ok=True)
    finally:
        os.close(fd)  # lets the lock go
        if made:  # a folder this made, and nothing was written into it
            with contextlib.suppress(OSError):
                out.rmdir()
