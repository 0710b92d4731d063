"""What a resume line names: the suite's path as it reads from where the line is printed, and
the call that resumes a sweep started from Python (a2bench.sweep), as store.resume_line says it
for a run started from the CLI.
"""

from __future__ import annotations

import os
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
