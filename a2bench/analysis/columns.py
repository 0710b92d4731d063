"""The vocabulary that a2bench.analysis and a2bench.report share: metric and axis names, the
study's pair of blocks, column sets, the labels of blocks, axes, groups and sizes, and clean()
and records() for JSON-safe values. Its one job is to name things, so that the report can word
a table without importing the science: pandas and numpy only (no scipy, never torch), and no
other module of a2bench.analysis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from a2bench.case import LEGACY_PARAMS
from a2bench.measurement import CSV_COLUMNS

METRICS = ("macs", "latency", "memory")
# The axes of the built-in blocks, in report order. A run's axes are these and every other
# numeric block parameter it holds (see axes()); labels of those come from environment.json.
AXES = ("positions", "batch", "channels", "m", "n", "t", "reduction")
AXIS_LABELS = {
    "positions": "positions N = t·h·w",
    "batch": "batch b",
    "channels": "channels c",
    "m": "m (gathered features)",
    "n": "n (attention maps)",
    "t": "frames t",
    "reduction": "reduction r (SE's and GC's bottleneck)",
}


@dataclass(frozen=True)
class Pair:
    """Two blocks compared shape by shape: ``right`` ÷ ``left`` in pairs() and crossovers()."""

    left: str
    right: str


# The study this benchmark was built for: the same function in two orders of evaluation.
STUDY = Pair(left="double_attention", right="nonlocal_right")
# The block every other one is set against in crossovers_against (the report's section).
REFERENCE = STUDY.left
FIT_COLUMNS = ("block", "metric", "axis", "exponent", "ci_low", "ci_high", "expected", "verdict")

# The built-in blocks' size columns; size_columns(df) adds every other numeric block parameter.
SIZE_COLUMNS = ("batch", "channels", "m", "n", "t", "h", "w", "reduction")
# Columns prepare() adds; with results.csv's own columns, they are not block parameters.
_DERIVED = ("run", "samples", "macs", "latency", "memory", "latency_fit",
            "largest_activation_bytes", "input_bytes", "working_set_bytes", "run_index", "shape",
            "size", "block_name", "variant")


def param_columns(df: pd.DataFrame) -> list[str]:
    """The block-parameter columns of a frame: m, n, reduction, then any other a block added."""
    known = set(CSV_COLUMNS) | set(_DERIVED)
    return [*LEGACY_PARAMS, *(c for c in df.columns if c not in known and c not in LEGACY_PARAMS)]


def size_columns(df: pd.DataFrame) -> list[str]:
    """Shape axes and numeric block parameters: what identifies a case within a block."""
    return [*SIZE_COLUMNS, *(c for c in param_columns(df) if c not in LEGACY_PARAMS)]


def axes(df: pd.DataFrame) -> list[str]:
    """The axes a frame can be fitted along, in report order: the built-in ones, then others."""
    return [*AXES, *(c for c in param_columns(df) if c not in AXES)]


def fixed_columns(df: pd.DataFrame, axis: str) -> tuple[str, ...]:
    """What stays fixed while an axis moves. Positions moves through t, h and w together."""
    sizes = size_columns(df)
    if axis == "positions":
        return tuple(c for c in sizes if c not in ("t", "h", "w"))
    if axis == "t":
        return tuple(c for c in sizes if c != "t")
    return tuple(c for c in sizes if c != axis)


def axis_label(axis: str, environments: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """An axis's label: the built-in table, else the label a block declared (environment)."""
    if axis in AXIS_LABELS:
        return AXIS_LABELS[axis]
    for env in (environments or {}).values():
        for desc in (env.get("blocks") or {}).values():
            for p in desc.get("params") or ():
                if p.get("name") == axis and p.get("label"):
                    return str(p["label"])
    return axis


# Labels of the blocks that existed before runs recorded their blocks in environment.json, so
# that results written then still read as they did: name -> (label, short label).
LEGACY_LABELS = {
    "double_attention": ("double attention (A², gather first)", "double attention"),
    "nonlocal_right": ("non-local order (N×N first)", "non-local order"),
    "se": ("SE (squeeze-excitation)", "SE"),
}


def block_label(block: str, environments: Mapping[str, Mapping[str, Any]] | None = None, *,
                short: bool = False) -> str:
    """A block's label from environment.json (what its spec declared when it ran); a variant
    such as nonlocal[sdpa] keeps its suffix. Runs written before environment.json held
    ``blocks`` fall back to LEGACY_LABELS; other unknown blocks are shown by name."""
    name, _, variant = block.partition("[")
    label = None
    for env in (environments or {}).values():
        desc = (env.get("blocks") or {}).get(name)
        if desc:
            label = desc.get("short_label" if short else "label") or name
            break
    if label is None:
        if name not in LEGACY_LABELS:
            return block
        label = LEGACY_LABELS[name][1 if short else 0]
    return f"{label} [{variant}" if variant else label


def block_order(df: pd.DataFrame,
                environments: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """The blocks of a frame in a stable order: as the runs' environment.json lists them (the
    suite's order; a variant such as nonlocal[sdpa] follows its block), then the others in the
    order they first appear. The order cases ran in is shuffled, so it alone would not do."""
    declared: list[str] = []
    for env in (environments or {}).values():
        declared += [b for b in (env.get("blocks") or {}) if b not in declared]
    rank = {b: i for i, b in enumerate(declared)}
    present = list(dict.fromkeys(df["block"])) if "block" in df else []
    first = {b: i for i, b in enumerate(present)}
    return sorted(present, key=lambda b: (rank.get(b.partition("[")[0], len(rank)), first[b]))


def shape_label(row: Any) -> str:
    t, h, w = (int(getattr(row, a)) for a in ("t", "h", "w"))
    return f"{t}×{h}×{w}" if t > 1 else f"{h}×{w}"


def size_labels(df: pd.DataFrame) -> list[str]:
    """A block-independent name for each row's sizes, naming only what varies within its run.

    m, n and r are named only where they vary at a fixed (b, c, shape); where they follow c (as
    m = n = c/4 does) naming them would split SE from the attention blocks at the same size.
    """
    labels = pd.Series("", index=df.index, dtype=object)
    base = ["batch", "channels", "t", "h", "w"]
    short = {"batch": "b", "channels": "c", "reduction": "r"}
    for _, rows in df.groupby("run", sort=False):
        vary = [c for c in ("channels", "batch") if rows[c].nunique() > 1]
        vary += [c for c in param_columns(df) if c in rows
                 and (rows.groupby(base, dropna=False)[c].nunique() > 1).any()]
        for idx, row in rows.iterrows():
            parts = [row["shape"]] + [f"{short.get(c, c)}={row[c]:g}" for c in vary
                                      if pd.notna(row[c])]
            labels[idx] = " ".join(parts)
    return labels.tolist()


def group_label(fixed: Mapping[str, Any]) -> str:
    short = {"batch": "b", "channels": "c", "reduction": "r"}
    return " ".join(f"{short.get(k, k)}={v:g}" for k, v in fixed.items()
                    if v is not None and not (isinstance(v, float) and math.isnan(v)))


def distinct_sizes(groups: Sequence[str]) -> list[str]:
    """Each group label less the sizes every one of them shares: 'c=64' of 'b=1 c=64 m=16'
    beside 'b=1 c=128 m=16'; '' for each where they are all one group."""
    tokens = [str(g).split() for g in groups]
    common = set.intersection(*map(set, tokens)) if tokens else set()
    return [" ".join(t for t in each if t not in common) for each in tokens]


def clean(value: Any) -> Any:
    """A JSON-safe scalar: NaN and infinities become None, numpy scalars plain Python."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def hosts_of(*columns: Any) -> list[str]:
    """The machines named in some `host` columns (prepare() fills one, "" where unknown),
    sorted: a latency finding over more than one decides nothing (exponents.across_nodes)."""
    return sorted({h for col in columns for h in col if isinstance(h, str) and h})
