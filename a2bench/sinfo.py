"""The cluster's Slurm partitions, as sinfo lists them, outside a2bench.slurm: importing anything
in that package runs its __init__, which loads the driver and with it pandas, scipy and
submitit, and the CLI asks this before any of them (and before the suite's blocks load torch)
so that a partition the cluster lacks is refused at once (refuse_partitions)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING

from a2bench.errors import InputError

if TYPE_CHECKING:
    from a2bench.run.options import RunOptions


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


def refuse_partitions(options: RunOptions) -> None:
    """Raise InputError, the Slurm driver's own line, where a Slurm run names partitions the
    cluster does not list. Asked by the CLI of a given --out before the plugins and the suite's
    blocks load torch, and before a2bench.slurm loads pandas, scipy and submitit: the refusal
    had cost 4 s of CPU. Not where --out holds a Slurm sweep: the driver compares --partition
    with the partitions the sweep began on first, and its line names those."""
    from a2bench.run.store import SLURM_SWEEP

    if options.executor != "slurm" or not options.partition or \
            (options.out / SLURM_SWEEP).is_file():
        return
    if line := unknown_partitions_line(options.partition, cluster_partitions()):
        raise InputError(line)
