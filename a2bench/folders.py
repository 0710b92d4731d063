"""A results folder to read, named by a user: is it one at all? Standard library only, so that
the commands check what they were given before they import pandas, scipy or torch: a mistyped
path had been refused only after 3-6 s of CPU spent loading them. Each command's own loader
asks the same question here, so the line a user gets is the same either way."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from a2bench.errors import InputError

RUN_FOLDER = "a results folder written by a2bench run, holding results.jsonl"


def link_problem(path: Path, what: str = "a folder") -> str | None:
    """Why `path` is a link that leads to nothing (its target missing, or links that lead round a
    loop), or None: a run's --out there had been a FileExistsError, a loop a RuntimeError."""
    if not path.is_symlink() or path.exists():
        return None
    return (f"is a link to {os.readlink(path)}, which leads to nothing (its target is missing, "
            f"or links lead round a loop); expected {what}, or a link to one")


def read_problem(path: Path, expected: str = RUN_FOLDER, named: str = "a results folder"
                 ) -> str | None:
    """Why `path` cannot be read as a results folder (`expected` says what one is, `named` what
    a link should lead to): a link to nothing, a file, or nothing there; None for a folder,
    whose contents its reader judges."""
    if problem := link_problem(path, named):
        return problem
    if path.is_dir():
        return None
    return f"{'a file, not a folder' if path.exists() else 'no such folder'} (expected {expected})"


def refuse_unreadable(paths: Sequence[Path], roles: Sequence[str] = ()) -> None:
    """InputError for the first of `paths` that read_problem refuses; `roles` names each as
    `a2bench compare` does ("base", "head")."""
    for i, path in enumerate(paths):
        named = f"the {roles[i]} results folder" if roles else "a results folder"
        expected = f"{named} written by a2bench run" if roles else RUN_FOLDER
        if problem := read_problem(path, expected, named):
            raise InputError(f"{path}: {problem}")
