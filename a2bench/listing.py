"""What `a2bench list` shows: the registered blocks with their parameters, the axes every block
takes, and the shipped suites, one line a suite so that a person can scan them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from a2bench.case import SHAPE_AXES


def suites_dir() -> Path:
    """The suites folder: the working directory's, else the one beside the package."""
    here = Path.cwd() / "suites"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "suites"


def first_clause(text: str, limit: int = 84) -> str:
    """A description's first clause (to the first `;` or `. ` outside brackets), cut at a word
    within `limit` characters."""
    depth, end = 0, len(text)
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and (ch == ";" or (ch == "." and text[i + 1:i + 2] in (" ", ""))):
            end = i
            break
    clause = " ".join(text[:end].split())
    if len(clause) <= limit:
        return clause
    return clause[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:(") + " …"


def listing(long: bool = False) -> list[str]:
    """The lines of `a2bench list`; `long`: each suite's whole description."""
    from a2bench.catalog import blocks
    from a2bench.suite import RUN_CHOICES, load_suite

    lines = ["blocks:"]
    for name, spec in blocks().items():
        params = ", ".join(f"{p.name}" + (f" ({'|'.join(p.choices)})" if p.choices else "")
                           for p in spec.params)
        lines.append(f"  {name}: {spec.label}" + (f"; parameters {params}" if params else "")
                     + ("" if spec.has_cost else "; no cost model (MACs counted)"))
    lines.append("axes of every block: shape " + ", ".join(SHAPE_AXES) + "; "
                 + ", ".join(f"{axis} ({'|'.join(str(v).lower() for v in values)})"
                             for axis, values in RUN_CHOICES.items()))
    lines.append("your own block: a Python file or module named in A2BENCH_PLUGINS "
                 "(comma-separated), or a package's a2bench.blocks entry point; see "
                 "docs/your-block.md")
    here = suites_dir()
    shown = here.relative_to(Path.cwd()) if here.is_relative_to(Path.cwd()) else here
    lines.append(f"suites (in {shown}/; a2bench run {shown}/NAME.yaml"
                 + ("" if long else "; a2bench list --long: whole descriptions") + "):")
    paths = sorted(here.glob("*.yaml"))
    width = max((len(p.stem) for p in paths), default=0)
    for path in paths:
        try:
            s = load_suite(path)
        except ValueError as e:
            lines.append(f"  {path.stem:<{width}}  invalid: {e}")
            continue
        text = s.description.strip() if long else first_clause(s.description)
        devices = f" [{', '.join(s.overlays)} section]" if s.overlays else ""
        threads = f" [threads: {s.threads}]" if long and s.threads else ""
        line = f"  {path.stem:<{width}}  {text}{devices}{threads}"
        # a whole description runs to a paragraph: wrapped under its suite's name
        lines += textwrap.wrap(line, LONG_WIDTH, subsequent_indent=" " * (width + 4),
                               break_on_hyphens=False) if long else [line]
    return lines


LONG_WIDTH = 100  # `list --long` wraps each description at this width
