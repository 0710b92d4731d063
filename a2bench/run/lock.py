"""One writer to a results folder at a time.

A sweep (local, or the Slurm driver) and `a2bench remodel` hold an exclusive lock on the
results folder while they write. Without it two runs given one --out (the second with
--resume) both appended: 42 of 90 records came out twice, both timed on the same cores, and
the report and compare read the doubled passes without a word; and a remodel that rewrote a
folder under a live run dropped the records the run appended meanwhile. A second writer is
refused in one line naming the first. The lock goes with its process, however that ends.
Readers (report, compare, a run about to check the folder) ask live_writer, and name the live
run: they had called its folder unfinished and advised --resume, which it refuses.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from a2bench.errors import InputError

# Who holds the lock, for a second writer's message: written once the lock is held and removed
# before it is let go (the lock itself is on the folder: a lock file left behind would stand in
# every results folder, and removing one would let a waiting opener lock a file no one sees).
LOCK = ".a2bench.lock"
# The folders this process holds: its own probe (remodel reads the folder it holds) would
# otherwise find itself, since a second open of the folder is refused like another process.
_HELD: set[Path] = set()


def live_writer(out: Path) -> str | None:
    """Who writes `out` now, where another process holds its lock: its LOCK line ("a2bench run
    (pid 4242, since ...)"), for a reader or a second writer to name instead of calling the
    folder interrupted and advising --resume; else None (no one, this process, a folder that
    cannot be opened, a file system that locks no folder). The probe takes a shared lock and
    lets it go at once: readers never wait, nor refuse each other."""
    out = Path(out)
    try:
        if out.resolve() in _HELD:
            return None
        fd = os.open(out, os.O_RDONLY)
    except (OSError, RuntimeError):  # RuntimeError: a loop of links, before Python 3.13
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(out) or "another process"
    except OSError:  # NFS: no folder lock to probe, as holding() takes none there
        return None
    finally:
        os.close(fd)  # lets the probe's lock go
    return None


def held_here(out: Path) -> bool:
    """Whether this process holds `out`'s lock (its LOCK line is this process's own)."""
    try:
        return Path(out).resolve() in _HELD
    except (OSError, RuntimeError):
        return False


def busy(out: Path) -> str | None:
    """Why a writer may not start in `out` now (another holds it), or None; asked before a run
    checks what the folder holds, which a live run's half-written sweep would answer with
    --resume advice."""
    who = live_writer(out)
    return _writing(who) if who else None


def _holder(out: Path) -> str:
    try:
        return (out / LOCK).read_text().strip()
    except OSError:
        return ""


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
    info, key = out / LOCK, out.resolve()
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            _lock(fd, out)
            locked = True
        except OSError:  # NFS emulates flock with byte-range locks, which a folder cannot take
            locked = False
        if locked:
            since = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            info.write_text(f"{doing} (pid {os.getpid()}, since {since})\n")
            _HELD.add(key)
        try:
            yield
        finally:
            if locked:
                _HELD.discard(key)
                info.unlink(missing_ok=True)
    finally:
        os.close(fd)  # lets the lock go
        if made:  # a folder this made, and nothing was written into it
            with contextlib.suppress(OSError):
                out.rmdir()


def _lock(fd: int, out: Path) -> None:
    """Take `out`'s lock, or refuse in one line naming who holds it. A reader's probe
    (live_writer) holds it for microseconds: asked again over about a third of a second, so a
    report run just then does not refuse a sweep; whatever LOCK says, since a run killed with
    -9 leaves its line behind (a writer had been refused 6 times in 300, naming a dead pid)."""
    for wait in (0.05, 0.1, 0.2, None):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if wait is None:
                raise InputError(f"{out}: {_writing(_holder(out) or 'another process')}"
                                 ) from None
            time.sleep(wait)


def _writing(who: str) -> str:
    return (f"{who} is writing this folder now; expected one writer at a time: wait for it to "
            "end, or choose another folder")
