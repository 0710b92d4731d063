"""Writes that a crash cannot leave half done: results.csv replaced whole, any file replaced
whole (atomic_write), and a folder synced so that a new name in it survives a power loss. Split
from store.py; store re-exports each name. No torch here.
"""

from __future__ import annotations

import csv
import errno
import os
from collections.abc import Iterable
from pathlib import Path

from a2bench.measurement import Measurement, csv_columns


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
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    fsync_folder(path.parent)
