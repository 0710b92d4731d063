"""The report folder: fits.csv and the other tables, summary.json, report.md, index.html and the
PNG figures.

Renders what a2bench.analysis computed from stored results; never measures and never imports
torch. report.md and index.html are written from one document model so they say the same thing.

    files.py     the CSV tables and summary.json
    figures.py   the PNG figures (plotting.py: their colours, axes and panels)
    elements.py  the document model (Heading, Para, Bullets, Table, Image)
    sections/    the document, section by section
    render.py    Markdown, and HTML from templates/page.html.j2 with templates/report.css
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a2bench import analysis as an
from a2bench.errors import InputError, os_problem
from a2bench.formatting import format_bytes
from a2bench.report.elements import (
    MAX_TABLE_ROWS,
    METRIC_TITLES,
    Bullets,
    Element,
    FigureFile,
    Heading,
    Image,
    Para,
    Table,
)
from a2bench.report.figures import _save, draw_figures, pair_figure
from a2bench.report.files import TABLES, _json_safe, summary, write_tables
from a2bench.report.plotting import PALETTE, PINNED_COLORS, block_colors
from a2bench.report.render import to_html, to_markdown
from a2bench.report.sections import document
from a2bench.report.sections.machine import _cuda_flags, _gpu_memory, _schedule
from a2bench.run.durable import atomic_write_all
from a2bench.run.store import atomic_write, folder_problem

# Names that tests and scripts import from a2bench.report; they keep working from here.
__all__ = [
    "MAX_TABLE_ROWS", "METRIC_TITLES", "PALETTE", "PINNED_COLORS", "Bullets", "Element",
    "FigureFile", "Heading", "Image", "Para", "ReportFiles", "Table", "_cuda_flags",
    "_gpu_memory", "_json_safe", "_save", "_schedule", "block_colors", "build_report",
    "document", "draw_figures", "format_bytes", "pair_figure", "summary", "to_html",
    "to_markdown", "write_report", "write_tables",
]


@dataclass(frozen=True)
class ReportFiles:
    """What one report wrote, and the lines `a2bench report` prints about it."""

    out: Path
    files: tuple[Path, ...]  # every file written into out, figures first
    figures: tuple[str, ...]  # the PNG file names among them
    lines: tuple[str, ...]  # where it went, then the headline and each run's verdict


def build_report(dirs: Sequence[Path], out: Path) -> ReportFiles:
    """Analyse one or more results folders and write the report into ``out``. Prints nothing:
    the caller decides what to say about it (``ReportFiles.lines`` is what the CLI says)."""
    left_out: list[str] = []  # Slurm partitions with nothing to read yet
    data, runs = an.load_runs(dirs, left_out)
    out = Path(out)
    names = report_names(data)
    # run=False: a report writes no results.csv, and a run's folder is _not_a_report's to refuse
    if problem := folder_problem(out, run=False) or _not_a_report(out, names):
        raise InputError(f"--out {out}: {problem}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: cannot be made ({e.strerror}); expected a folder "
                         "that can be written") from None
    result = an.analyse(data, runs)
    claimed = _claimed(out)
    try:
        # claimed before the first file is written: a report cut short leaves its files
        # claimed, so the next report into the folder rewrites them, not refuse them as yours
        atomic_write(out / CLAIM, json.dumps({"files": sorted(claimed | names)}) + "\n")
        # A rerun into the same folder must not show old figures; and its old pages go first,
        # so that a report cut short (killed, a full disk) leaves no page over a mix of old and
        # new (and the temporary file of a page whose writing was killed)
        for stale in [*_earlier_figures(out), *(out / n for n in PAGES),
                      *(out / f"{n}.tmp" for n in PAGES)]:
            stale.unlink(missing_ok=True)
        figures = draw_figures(result, out)
        written = [out / f.file for f in figures]
        written += write_tables(result, out)
        doc = document(result, figures, here=out)
        # the page's title names its runs and answer: every tab had read "a2bench report"
        named = ", ".join(result.labels[:3]) + (f" and {len(result.labels) - 3} more"
                                                 if len(result.labels) > 3 else "")
        title = f"a2bench report: {named}: {result.headline['verdict'].upper()}"
        # whole or not at all: a report killed as it wrote index.html had left it empty, which
        # refused every later report into the folder as not a report's page; and together: one
        # stopped between pages had left report.md without index.html
        atomic_write_all({out / name: text for name, text in zip(PAGES, (
            json.dumps(summary(result, figures), indent=2, allow_nan=False) + "\n",
            to_markdown(doc), to_html(doc, title)), strict=True)})
        written += [out / name for name in PAGES]
        done = {p.name for p in written}
        # an earlier report's table this one did not write (modes.csv of a run with train
        # cases) would sit beside a report it is not of, and had dropped out of the claim, so
        # that the next report into the folder refused it as the user's
        for stale in claimed & set(TABLES) - done:
            (out / stale).unlink(missing_ok=True)
        kept = {n for n in claimed - done if (out / n).exists()}  # an earlier report's, left
        atomic_write(out / CLAIM, json.dumps({"files": sorted(kept | {p.name for p in written})})
                     + "\n")
    except OSError as e:  # a full disk had ended in a matplotlib traceback
        for name in PAGES:
            with contextlib.suppress(OSError):
                (out / name).unlink(missing_ok=True)
        raise InputError(f"{(e.strerror or str(e)).lower()} writing {e.filename or out}; the "
                         f"report in {out} is not whole, and no page of it is left there; free "
                         "space or choose another --out, then report again") from None
    lines = [f"a2bench: report on {len(runs)} run(s) written to {out}: report.md, index.html, "
             f"fits.csv, summary.json and {len(figures)} figures",
             *(f"a2bench: left out {line}" for line in left_out),
             f"headline: {result.headline['verdict'].upper()}"]
    stopped = result.unfinished  # as the page says it: asked once, before the figures
    for run in result.labels:
        h = result.headline["runs"][run]
        lines.append(f"  {run}: {h['verdict'].upper()}")
        if run in stopped:
            lines.append(f"    {stopped[run]}")
        lines += [f"    {line}" for line in h["contradicting"] + h["missing"]
                  + h.get("unmeasured", [])]
        lines += [f"    hint: {hint}" for hint in h.get("hints", ())]
    return ReportFiles(out, tuple(written), tuple(f.file for f in figures), tuple(lines))


# What an earlier report in the folder begins with (sections.document's heading, the page's
# title): a rerun into it rewrites it, and a file of the user's by those names is never touched.
OWN_BEGINNINGS = {"report.md": "# a2bench scaling report", "index.html": "<!DOCTYPE html>"}
# How today's page opens, up to its title (templates/page.html.j2): a file that holds only a
# part of it, or nothing, is a page whose writing was cut short (a report killed before pages
# were written whole), and the report it belongs to rewrites it.
PAGE_OPENING = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta '
                'name="viewport" content="width=device-width, initial-scale=1">\n<title>'
                'a2bench report')
CUT_SHORT = {"report.md": OWN_BEGINNINGS["report.md"], "index.html": PAGE_OPENING}


def _not_a_report(out: Path, names: Iterable[str] = ()) -> str | None:
    """Why `out` holds files a report would overwrite that no report wrote, or None. `names`
    are the files this report may write (report_names)."""
    if (out / "results.jsonl").is_file():
        return ("is a run's results folder, and the report's files would be written among that "
                f"run's results; expected a folder of its own, e.g. --out {out / 'report'}")
    for name, beginning in OWN_BEGINNINGS.items():
        try:
            with open(out / name, encoding="utf-8", errors="replace") as f:
                head = f.read(4096)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            return f"its {name}: {os_problem(e, 'a report folder', 'read and write')}"
        if CUT_SHORT[name].startswith(head):
            continue
        if not head.startswith(beginning) or (name == "index.html"
                                              and "<title>a2bench report" not in head):
            return (f"holds {'an' if name[0] in 'aeiou' else 'a'} {name} that is not an a2bench "
                    "report's, which the report would overwrite; expected an empty folder, a "
                    "new one, or an earlier report's")
    claimed = _claimed(out)
    # the user's own fits.csv or cases.csv had been overwritten without a word
    theirs = sorted(n for n in set(names) - claimed - set(OWN_BEGINNINGS)
                    if os.path.lexists(out / n))
    if theirs:
        held = " and ".join([", ".join(theirs[:-1]), theirs[-1]] if len(theirs) > 1 else theirs)
        return (f"holds {held}, which the report would overwrite and no a2bench report wrote; "
                "expected an empty folder, a new one, or an earlier report's")
    return None


# The file in a report's folder that names every file a report wrote there: a later report
# rewrites those, and refuses a file by one of its names that no report wrote.
CLAIM = ".a2bench-report"
# The figures of fixed names (figures.draw_figures; a fit's is fit_{axis}_{metric}.png)
FIXED_FIGURES = ("crossover_ratio.png", "roofline.png", "sizes.png", "train_memory_ratio.png",
                 "compile_speedup.png")


def report_names(data: Any) -> set[str]:
    """Every file name a report on `data` (an.load_runs's frame) may write into its folder."""
    return {*TABLES, *PAGES, *FIXED_FIGURES,
            *(f"fit_{axis}_{metric}.png" for axis in an.axes(data) for metric in an.METRICS)}


def _claimed(out: Path) -> set[str]:
    """The files earlier reports wrote in `out`: those its CLAIM names; where there is none (a
    report of an a2bench before it), every table and page and the figures its summary.json
    lists, if that summary.json is an a2bench report's."""
    for name in (CLAIM, "summary.json"):
        try:
            found = json.loads((out / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(found, dict):
            continue
        if name == CLAIM and isinstance(found.get("files"), list):
            return {n for n in found["files"] if isinstance(n, str)}
        if name == "summary.json" and str(found.get("generated_by", "")).startswith("a2bench"):
            figures = found.get("figures")
            figures = figures if isinstance(figures, list) else []
            return {*TABLES, *PAGES, *(n for n in figures if isinstance(n, str))}
    return set()


# A report's pages, written last (summary.json names its figures): none is left of a report
# that did not end
PAGES = ("summary.json", "report.md", "index.html")


def _earlier_figures(out: Path) -> list[Path]:
    """The figures an earlier report in `out` listed in its summary.json, and nothing else: a
    user's own images in that folder stay."""
    try:
        names = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("figures")
    except (OSError, ValueError, AttributeError):
        return []
    return [out / n for n in names or () if isinstance(n, str) and n == Path(n).name
            and n.endswith(".png")]


def write_report(dirs: Sequence[Path], out: Path) -> int:
    """Analyse one or more results folders, write the report into ``out`` and print where it
    went and its headline. Returns 0."""
    report = build_report(dirs, out)
    for line in report.lines:
        print(line)
    return 0
