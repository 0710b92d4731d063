"""The document model: what report.md and index.html both say, element by element.

Sections build a list of these elements; render.py turns the one list into Markdown and into
HTML, so the two files can never say different things. Also here: the few words every part of
the report shares (block names, metric titles) and the record a drawn figure hands on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from a2bench import analysis as an

METRIC_TITLES = {"macs": "MACs", "latency": "Latency", "memory": "Peak memory"}
MAX_TABLE_ROWS = 60  # a longer table is cut here in the page; its CSV holds every row

# What one measured call is, for every unit that says "per call": a train row's MACs, latency
# and memory are those of the whole step (results-format.md, mode).
PER_CALL = "per call (a forward pass; in a train row, the whole step: forward and backward)"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Image:
    """A figure: its file, alt text and caption; its size in pixels and the fewest CSS pixels
    the page may draw it in (0: not known; the page then only fits it to its width)."""

    file: str
    alt: str
    caption: str
    width: int = 0
    height: int = 0
    least_width: int = 0


Element = Heading | Para | Bullets | Table | Image


@dataclass(frozen=True)
class FigureFile:
    """A figure written beside the report: its file name, a short title and the caption; its
    PNG's width and height in pixels and least_width, plotting.least_width's (0: not read)."""

    file: str
    title: str
    caption: str
    width: int = 0
    height: int = 0
    least_width: int = 0


def figure(figs: Mapping[str, FigureFile], name: str) -> list[Element]:
    """The figure `name` as an Image, or nothing when the data did not call for it."""
    f = figs.get(name)
    return ([Image(f.file, f.title, f.caption, f.width, f.height, f.least_width)]
            if f is not None else [])


def block_name(result: an.Analysis, block: str, short: bool = False) -> str:
    """A block's name as the report writes it; a run's own labels win over the built-in ones."""
    return an.block_label(block, result.environments, short=short)


def expected_from(row: Mapping[str, object]) -> str:
    """Where a fit's expected exponent comes from, in words: a block without a cost model is
    judged against its counted MACs (fits.csv's expected_from)."""
    return "counted MACs" if row.get("expected_from") == "counted" else "model"
