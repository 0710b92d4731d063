"""Reading one results folder into a `Side`: its records merged and per pass, and its
environment."""

from __future__ import annotations

from pathlib import Path

from a2bench.compare.model import Key, Side
from a2bench.errors import InputError
from a2bench.folders import refuse_unreadable
from a2bench.measurement import Measurement
from a2bench.run.store import ENVIRONMENT, JSONL, merge_passes


def load_side(path: Path, role: str) -> Side:
    """The records of one results folder by case key (merged and per pass), and its environment."""
    refuse_unreadable([path], [role])  # the command line asked it before imports
    # one line where there is no results.jsonl, or it is damaged; a Slurm partition's read from
    # its shards, which its merged files lag where no driver watches (slurm.merge.read_partition)
    from a2bench.slurm.merge import environment_problem, stored_set, unbegun_partition

    records, env = stored_set(path)
    if not records and (line := unbegun_partition(path, records, env, "compare")):
        raise InputError(line)  # a Slurm partition whose jobs are pending, say
    if not records:
        raise InputError(f"{path}: {JSONL} holds no results (expected the {role} results of a "
                         "finished a2bench run)")
    # A resumed sweep never stores a (case, pass) twice; should one appear, the later one wins.
    unique: dict[tuple[Key, int], Measurement] = {}
    for m in records:
        unique.pop((m.case.key(), m.process), None)
        unique[(m.case.key(), m.process)] = m
    passes: dict[Key, list[Measurement]] = {}
    by_process: dict[int, list[Measurement]] = {}
    for m in unique.values():
        passes.setdefault(m.case.key(), []).append(m)
        by_process.setdefault(m.process, []).append(m)
    for group in passes.values():
        group.sort(key=lambda m: m.process)
    merged = {m.case.key(): m for m in merge_passes(unique.values())}
    if problem := environment_problem(path, env):
        # a run writes it before its first record, so results without it are a damaged folder:
        # whether its sweep finished, and on what machine, cannot be told. It had been a
        # failure (exit 1, "regression") beside the whole table; a `{"a": 1}` had passed
        what = (f"holds {JSONL} but no {ENVIRONMENT}" if problem == f"no {ENVIRONMENT}"
                else problem.removeprefix("its "))
        raise InputError(f"{path}: {what}, which a2bench run writes before its first result, so "
                         f"whether its sweep finished and on what machine cannot be told; "
                         f"expected the {role} results folder as a2bench run left it: restore "
                         f"{ENVIRONMENT} from a copy, or run it again")
    return Side(merged, passes, dict(sorted(by_process.items())), env)
