"""The cluster's Slurm partitions, as sinfo lists them, outside a2bench.slurm: importing anything
in that package runs its __init__, which loads the driver and with it pandas, scipy and
submitit."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


def cluster_partitions() -> list[str] | None:
    """The cluster's partitions as sinfo lists them (the default marked with *), or None."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.split() if out.returncode == 0 else None


def default_partition() -> str | None:
    """The cluster's default partition, for the folder's name."""
    marked = [p[:-1] for p in cluster_partitions() or [] if p.endswith("*")]
    return marked[0] if marked else None


def unknown_partitions_line(named: Sequence[str], listed: Sequence[str] | None) -> str | None:
    """The line that refuses the `named` partitions sinfo does not list (`listed`, its default
    marked with *), or None: none unknown, or the cluster could not be asked (listed None;
    sbatch then says what it makes of them)."""
    if listed is None:
        return None
    names = [p.rstrip("*") for p in listed]
    unknown = [p for p in named if p not in names]
    if not unknown:
        return None
    return (f"--partition {','.join(unknown)}: not a partition of this cluster; expected one "
            f"of {', '.join(names)}")
