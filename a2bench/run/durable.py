"""Writes that a crash cannot leave half done: results.csv replaced whole, any file replaced
whole (atomic_write), and a folder synced so that a new name in it survives a power loss. Split
from store.py; store re-exports each name. No torch here.
"""

from __future__ import annotations

import csv
import errno
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from a2bench.measurement import Measurement, csv_columns
from a2bench.run.interrupts import deferred


def write_csv(path: Path, records: Iterable[Measurement]) -> None:
    records = list(records)
    tmp = path.with_suffix(".csv.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=csv_columns(records), restval="")
            writer.writeheader()
            for m in records:
                writer.writerow({k: "" if v is None else v for k, v in m.to_row().items()})
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # a full disk: no half-written file left beside the results
        tmp.unlink(missing_ok=True)
        raise
    # no folder sync: written after every record, and rebuilt from results.jsonl on resume
    os.replace(tmp, path)


def fsync_folder(folder: Path) -> None:
    """A rename or a new file is durable once its folder is synced (POSIX); without it a power
    loss may keep the old name though the data was synced."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a folder that can be written but not read: the data is synced already
        return
    try:
        os.fsync(fd)
    except OSError as e:  # FUSE, SMB and the like refuse it for a folder, as SQLite allows
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES,
                           errno.EISDIR):
            raise
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` whole: a reader sees the old file or the new one, never half."""
    os.replace(_staged(path, text), path)
    fsync_folder(path.parent)


def atomic_write_all(texts: Mapping[Path, str]) -> None:
    """Replace each path with its text, whole and together (a report's pages): every one
    written beside its path first, then all renamed, a Ctrl-C held until the last rename. A
    report stopped between its pages had left report.md without index.html; here a stop
    leaves the new files or none of them (SIGKILL, between renames of microseconds, aside)."""
    staged: list[Path] = []
    try:
        for path, text in texts.items():
            staged.append(_staged(path, text))
    except BaseException:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        raise
    with deferred():
        for tmp, path in zip(staged, texts, strict=True):
            os.replace(tmp, path)
    for folder in dict.fromkeys(path.parent for path in texts):
        fsync_folder(folder)


def _staged(path: Path, text: str) -> Path:
    """`text` written and synced beside `path` (its name + .tmp), for a rename into place."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
