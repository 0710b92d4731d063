"""What a resume line names: the suite's path as it reads from where the line is printed, the
call that resumes a sweep started from Python (a2bench.sweep), as store.resume_line says it
for a run started from the CLI, and a Slurm sweep's own flags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def python_call(suite: str, out: str, flags: list[str]) -> str:
    """The a2bench.sweep call that resumes a sweep started from Python, its flags as keywords:
    the CLI's line had named a suite file a dict never had ('<dict>'), and a block registered in
    the notebook that no A2BENCH_PLUGINS names."""
    words = [suite if suite != "<dict>" else "SUITE", out]
    i = 0
    while i < len(flags):
        name = flags[i].removeprefix("--").replace("-", "_")
        if i + 1 < len(flags) and not flags[i + 1].startswith("--"):
            value = flags[i + 1]
            try:
                float(value)
            except ValueError:
                value = repr(value)
            words.append(f"{name}={value}")
            i += 2
        else:  # a switch: --warm-cache, --no-interleave
            words.append(f"{name[3:]}=False" if name.startswith("no_") else f"{name}=True")
            i += 1
    args = [repr(words[0]) if suite != "<dict>" else words[0], repr(words[1]), "resume=True",
            *words[2:]]
    return (f"a2bench.sweep({', '.join(args)})"
            + (" with SUITE the dict it began with" if suite == "<dict>" else ""))


def typed_suite(env: dict[str, Any], folder: Path | None) -> str | None:
    """The suite's path from the working folder here: environment.json's suite_from_out (the
    path from the run's folder, `folder`, to the suite) where it has one, else the path as it
    was typed (suite_path), which holds only from where the run began. A line printed from
    another folder had joined that path to an --out relative to here, and could not run."""
    rel, typed = env.get("suite_from_out"), env.get("suite_path")
    if folder is None or not isinstance(rel, str):
        sessions = env.get("resumed_in") or [{}]
        return typed or (sessions[-1] or {}).get("suite_path")
    path = os.path.normpath(os.path.join(os.path.abspath(folder), rel))
    here = os.getcwd()
    return os.path.relpath(path, here) if path.startswith(here + os.sep) else path


def slurm_flags(path: Path) -> list[str] | None:
    """A Slurm sweep's own flags, from its .slurm.json (`path`): a resume line without them had
    re-run at the default passes beside jobs still making the old count, whose missing passes
    were then recorded as errors for good. None where the file is not there, not readable, or not
    as the driver writes it (the line then asks for the options)."""
    try:
        sweep = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(sweep, dict):
        return None
    parts, pairs = sweep.get("partitions") or [], sweep.get("slurm") or []
    if not (isinstance(parts, list) and isinstance(pairs, list)
            and all(isinstance(x, str) for x in (*parts, *pairs))
            and isinstance(sweep.get("processes"), int)):
        return None
    out = ["--executor", "slurm", *(["--partition", ",".join(parts)] if parts else [])]
    for flag, key in (("--split", "split"), ("--cases-per-job", "cases_per_job"),
                      ("--processes", "processes")):
        if isinstance(sweep.get(key), (str, int)):
            out += [flag, str(sweep[key])]
    for pair in pairs:
        out += ["--slurm", pair]
    return out


def without(flags: list[str], names: Sequence[str]) -> list[str]:
    """`flags` less each named flag and its value (the next word, unless it is a flag)."""
    out, skip = [], False
    for word in flags:
        if skip and not word.startswith("--"):
            skip = False
            continue
        skip = word in names
        if not skip:
            out.append(word)
    return out
