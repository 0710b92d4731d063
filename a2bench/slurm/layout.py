"""The names in a Slurm sweep's folder DIR, and reading its JSON files (see a2bench.slurm).

`--resume` finds a sweep by these names, so they never change: a sweep begun by an older
a2bench resumes in the same folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from a2bench.run.store import SLURM_SWEEP
from a2bench.slurm.errors import SlurmError

SWEEP = SLURM_SWEEP  # ".slurm.json": hidden, so that DIR/* names only the partitions' folders
JOBS = "jobs.json"
SHARDS = "shards"
SUBMITIT = "submitit"


def shard_folder(part: Path, index: int) -> Path:
    return part / SHARDS / str(index)


def read_json(path: Path) -> dict[str, Any]:
    """One of the sweep's own JSON files ({} when absent); a damaged one is a one-line error."""
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as e:
        raise SlurmError(f"{path}: not valid JSON ({e}); expected the file a2bench run "
                         "--executor slurm writes") from None
    return data if isinstance(data, dict) else {}
