"""The figures' drawing kit: each block's colour, the log size axes, a figure's panels (a
row of at most three, a legend's room under each) and how a run's fits split into panels by
condition. figures.py draws the report's figures with it.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window, also on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
)

from a2bench import analysis as an  # noqa: E402
from a2bench.case import DTYPE_BYTES  # noqa: E402

# matplotlib's tab10. The compared pair (analysis.STUDY) keeps the blue and red its figures
# always had; every other block takes the next of the remaining colours, green first (the third
# block of the earlier reports had it), in analysis.block_order's order, then the hue farthest
# from those taken: no two blocks of a report share a colour. A block's variants by condition
# (train, a dtype, compiled) take shades of its hue, in every panel: ResNet-50's blocks had
# changed colour between its forward and train panels; a categorical choice (nonlocal[sdpa],
# resnet50[se]) is a block of its own, but for the pair, whose every variant is a shade.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


# tab10's grey is no block's: it has no hue to shade, and the legends' keys are grey
GREY = "#7f7f7f"

# the pair's colours; their variants take shades of them (block_colors)
PINNED_COLORS = {an.STUDY.left: "#1f77b4", an.STUDY.right: "#d62728"}

# Every colour at least 3:1 against the white page (WCAG's contrast for graphics): tab20's pale
# half and the palest shades (#bedef4, 1.41:1) had been hard to see, tab10's olive (2.0:1) too.
LEAST_CONTRAST = 3.0
# A shade, or a hue past the palette, is picked as far as it can be (CIELAB ΔE, 1976) from the
# colours taken that may share a panel with it, its block's and its condition's (a panel holds a
# run's lines, or one condition's where they are many), up to APART; then from every colour
# taken, up to APART_ALL (the roofline draws every block in one panel: a bf16 non-local order
# and criss-cross there, #f3bebf and #f7b6d2, had been 14 apart, one pink to the eye); then as
# near its block's own colour as it can be, so it still reads as that block.
CONDITION_WORDS = frozenset({*DTYPE_BYTES, "train", "compiled"})
APART = 25.0
APART_ALL = 20.0


def block_colors(blocks: Sequence[str]) -> dict[str, str]:
    """One colour per block (or variant, `block[train]`), none twice: each block's own colour
    to its plainest variant (float32, forward, eager first), shades of it to the others."""
    family: dict[str, list[str]] = {}
    for block in blocks:
        family.setdefault(_family(block), []).append(block)
    free = [_legible(c) for c in PALETTE[2:] + PALETTE[:2]
            if c not in PINNED_COLORS.values() and c != GREY]
    hues = [_legible(to_hex(c)) for c in sns.color_palette("husl", 36)]
    out: dict[str, str] = {}
    for name, members in family.items():
        members.sort(key=_condition)
        out[members[0]] = (PINNED_COLORS.get(name) or (free.pop(0) if free else
                           _farthest(hues, out.values(), out.values())))
    for name, members in family.items():
        for block in members[1:]:
            near = [c for b, c in out.items()
                    if _family(b) == name or _condition(b) == _condition(block)]
            out[block] = _farthest(_shades(out[members[0]]), near, out.values(),
                                   like=out[members[0]])
    return {block: out[block] for block in blocks}


def _parts(block: str) -> tuple[str, list[str]]:
    base, _, rest = block.partition("[")
    return base, [p.strip() for p in rest.rstrip("]").split(",") if p.strip()]


def _family(block: str) -> str:
    """The block a variant is a shade of: its name and its categorical choices, without its
    condition (resnet50[se, train]: resnet50[se]); the pair's name alone."""
    base, parts = _parts(block)
    choices = [p for p in parts if p not in CONDITION_WORDS]
    return base if base in PINNED_COLORS or not choices else f"{base}[{', '.join(choices)}]"


def _condition(block: str) -> tuple[bool, bool, bool, tuple[str, ...]]:
    """A variant's condition, float32, forward and eager first (plotting._conditions), from
    its name: block_colors knows the blocks by name alone."""
    words = tuple(p for p in _parts(block)[1] if p in CONDITION_WORDS)
    return (any(p in DTYPE_BYTES for p in words), "train" in words, "compiled" in words, words)


def _linear(color: str) -> np.ndarray:
    """An sRGB colour's linear light, channel by channel."""
    rgb = np.array(to_rgb(color))
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _contrast(color: str) -> float:
    """The colour's contrast ratio against white (WCAG 2's relative luminance)."""
    return float(1.05 / (np.array([0.2126, 0.7152, 0.0722]) @ _linear(color) + 0.05))


@cache
def _lab(color: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ _linear(color) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def color_distance(a: str, b: str) -> float:
    """How far apart two colours look: CIELAB ΔE (1976); about 2 is just noticeable."""
    return float(np.linalg.norm(_lab(a) - _lab(b)))


def _legible(color: str) -> str:
    """The colour, darkened in its own hue until it stands LEAST_CONTRAST from white."""
    hue, light, sat = colorsys.rgb_to_hls(*to_rgb(color))
    while _contrast(color) < LEAST_CONTRAST:
        light -= 0.01
        color = to_hex(colorsys.hls_to_rgb(hue, light, sat))
    return color


def _shades(color: str) -> list[str]:
    """Shades of the colour's hue (within 15 degrees of it), each legible and none so dark it
    reads black: its lightness, saturation and hue varied a little."""
    hue, _, sat = colorsys.rgb_to_hls(*to_rgb(color))
    found = {to_hex(colorsys.hls_to_rgb((hue + turn) % 1, light, sat * part))
             for light in np.linspace(0.2, 0.8, 31) for part in (1.0, 0.7, 0.45)
             for turn in (0.0, -0.04, 0.04)}
    return sorted(c for c in found if _contrast(c) >= LEAST_CONTRAST)


def _farthest(candidates: Sequence[str], near: Iterable[str], taken: Iterable[str],
              like: str | None = None) -> str:
    """The candidate farthest from the nearest of `near` (up to APART), then of all `taken`
    (up to APART_ALL), then the nearest to `like` (see APART)."""
    lab = np.array([_lab(c) for c in candidates])

    def least(colors: Iterable[str]) -> np.ndarray:
        others = np.array([_lab(c) for c in colors]).reshape(-1, 3)
        if not len(others):
            return np.zeros(len(lab))
        return np.linalg.norm(lab[:, None] - others[None], axis=2).min(axis=1)

    alike = -least([like]) if like else np.zeros(len(lab))
    apart = least(taken)
    keys = (apart, alike, np.minimum(apart, APART_ALL), np.minimum(least(near), APART))
    return candidates[int(np.lexsort(keys)[-1])]  # lexsort: its last key first


def _shade(color: str, i: int, n: int) -> str:
    """The i-th of n shades of one hue: the colour itself first, then the other n - 1 spread
    over the legible lightness range (LEAST_CONTRAST), darkest first."""
    if i == 0:
        return color
    hue, light, sat = colorsys.rgb_to_hls(*to_rgb(color))
    lightest = colorsys.rgb_to_hls(*to_rgb(_legible(to_hex(colorsys.hls_to_rgb(hue, 0.85,
                                                                                sat)))))[1]
    levels = list(np.linspace(0.18, lightest, n))
    levels.remove(min(levels, key=lambda v: abs(v - light)))  # the colour's own place
    level = 0.25 if n == 2 else float(levels[i - 1])  # one variant: a dark shade reads best
    return _legible(to_hex(colorsys.hls_to_rgb(hue, level, sat)))


def _colors(result: an.Analysis) -> dict[str, str]:
    """Every block of the report's data with its colour, the same in every figure."""
    return block_colors(an.block_order(result.data, result.environments))


DPI = 130

# Point size of the figures' legends and notes, the least text in them but the cache labels
# (a point less: a crowded strip of rotated labels, which 9 points had printed over each other).
# On a screen narrower than the page's column, index.html draws a figure at PAGE_PX_PER_INCH CSS
# pixels per inch of it at least, where this text is 9 pixels tall, and scrolls it sideways:
# scaled to a 390-pixel phone, a three-panel figure's legends had been 2.5 pixels tall.
LEGEND_PT = 8
LEGEND_LINE = 0.17  # inches a legend's entry takes at LEGEND_PT, its gap to the next included
PAGE_PX_PER_INCH = 9 * 72 / LEGEND_PT  # 81


def least_width(pixels: int) -> int:
    """The fewest CSS pixels a PNG figure `pixels` wide may be drawn in (PAGE_PX_PER_INCH)."""
    return min(pixels, round(pixels * PAGE_PX_PER_INCH / DPI))


# A log axis of this many swept sizes or fewer is labelled at them: two sizes 4x apart had
# read 3000 4000 5000 6000 7000 8000 9000 (matplotlib labels every multiple inside a decade),
# none of them a size that was run.
FEW_SIZES = 6


def _log_x(ax: plt.Axes, sizes: Sequence[float] = ()) -> None:
    """Log x axis labelled 1, 2, 5 × 10^k in plain numbers, so sizes read as sizes; or at the
    swept `sizes`, where they are few."""
    ax.set_xscale("log")
    at = sorted({float(v) for v in sizes if v > 0 and math.isfinite(v)})
    if 2 <= len(at) <= FEW_SIZES:
        ax.xaxis.set_major_locator(FixedLocator(at))
        ax.xaxis.set_minor_locator(NullLocator())
    else:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: size_tick(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def log_ratio_y(ax: plt.Axes) -> None:
    """Log y axis of a ratio labelled 0.2, 0.5, 1, 2, 5, 10 … in plain numbers: a ratio reads
    as a multiple, and matplotlib's own labels read 10⁰ and 10¹, or 4×10⁰ within a decade."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def size_tick(v: float) -> str:
    """A tick of a size axis in one style from 1 to 10^9: 500, 5k, 50k, 500k, 5M (the axis mixed
    100000 with 1e+06)."""
    for at_least, unit, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if v >= at_least:
            return f"{v / unit:g}{suffix}"
    return f"{v:g}"


WIDE_DECADES = 2.5  # a log axis spanning more decades than this labels its decades only


def _thin_log_ticks(fig: plt.Figure) -> None:
    """On a log x axis that spans many decades, 1-2-5 labels run into each other ("50 100200
    500"): there only the decades are labelled."""
    for ax in fig.axes:
        if ax.get_xscale() != "log" or isinstance(ax.xaxis.get_major_locator(), FixedLocator):
            continue
        lo, hi = ax.get_xlim()
        if lo > 0 and math.log10(hi / lo) > WIDE_DECADES:
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0,)))


def _save(fig: plt.Figure, out: Path, name: str) -> str:
    _thin_log_ticks(fig)
    fig.savefig(out / name, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return name


# Filled markers, one a run: on its points and at its roof's right end (the roofline figure)
RUN_MARKERS = ("o", "X", "s", "P", "D", "^", "v", "<", ">", "p", "h", "8")


def _mark_line_ends(ax: plt.Axes, lines: Sequence[Line2D]) -> None:
    """Each line's marker alone, on log-log axes, at the rightmost of its points where it hides
    no marker placed before it (within a marker's width and height): at its end, or leftward
    along it. Stepping a marker a fixed distance left of its own end had put it on another's
    where two ends lay that far apart (roofs whose ridges ended them at 30 and 32 FLOP/byte)."""
    wide = ax.get_position().width * ax.figure.get_figwidth()  # inches
    tall = ax.get_position().height * ax.figure.get_figheight()
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    across = 0.14 / wide * math.log10(x_hi / x_lo)  # decades a marker and its gap take
    up = 0.12 / tall * math.log10(y_hi / y_lo)
    placed: list[tuple[float, float]] = []  # each marker's (log x, log y)
    for line in lines:
        xs, ys = (np.log10(np.asarray(v, dtype=float)) for v in line.get_data())
        at = len(xs) - 1
        while at > 0 and any(abs(xs[at] - x) < across and abs(ys[at] - y) < up
                             for x, y in placed):
            at -= 1
        placed.append((float(xs[at]), float(ys[at])))
        line.set_markevery([at])


# Panels a row holds: five runs in one row made a 3,400-pixel figure whose ticks and legends a
# page shrank to 3 pixels (the published headline figure); more wrap to the next row.
MAX_PANELS_A_ROW = 3


def _panels(n: int, width: float = 6.4, height: float = 5.0,
            below: float | Sequence[float] = 0.0,
            title_lines: int = 2) -> tuple[plt.Figure, np.ndarray]:
    """n panels sharing y, at most MAX_PANELS_A_ROW a row; `below`: inches of legend under each
    panel (one for all, or one each). Each row leaves room for its own longest legend only: one
    20-entry legend had opened the same gap under every row of the figure. `title_lines`: the
    most lines a panel's title has, under the figure's own (a third line had run into it)."""
    cols = min(n, MAX_PANELS_A_ROW)
    rows = math.ceil(n / cols)
    each = [float(below)] * n if isinstance(below, int | float) else [float(b) for b in below]
    # under a row: its tick labels and axis name (about 1.1 inch), then its longest legend
    extra = 0.17 * max(title_lines - 2, 0)  # a title's third line and on
    # (and above a row after the first, the next row's title lines past two)
    under = [max(each[r * cols:(r + 1) * cols]) + 1.1 + (extra if r < rows - 1 else 0.0)
             for r in range(rows)]
    top = 0.6 + extra  # inches above the first row
    tall = rows * height + sum(under) + extra
    fig = plt.figure(figsize=(width * cols, tall))
    grid = fig.add_gridspec(2 * rows - 1, cols, hspace=0, wspace=0.2, top=1 - top / tall,
                            bottom=under[-1] / tall,
                            height_ratios=[h for r in range(rows)
                                           for h in ((height, under[r]) if r < rows - 1
                                                     else (height,))])
    axes: list[plt.Axes] = []
    for i in range(n):
        axes.append(fig.add_subplot(grid[2 * (i // cols), i % cols],
                                    sharey=axes[0] if axes else None))
    for ax in axes:  # every panel its own y ticks: a row's first may sit above an empty one
        ax.yaxis.set_tick_params(labelleft=True)
    return fig, np.array(axes, dtype=object)


# A panel holding more fits than this is split by the run's conditions (dtype, train or
# forward, compiled or eager): the H200 training run's 20 lines in one panel crossed each
# other at every size and needed a 25-entry legend.
MAX_LINES_A_PANEL = 8


def _conditions(result: an.Analysis, run: str,
                blocks: Sequence[str]) -> dict[str, tuple[tuple[bool, ...], str]]:
    """Each of a run's fitted blocks' condition: a key that puts float32, forward and eager
    first, and its name by the run axes that vary among the blocks ("bfloat16, train"); read
    from the rows, not by parsing the block's label."""
    rows = result.data[result.data["run"] == run].drop_duplicates("block").set_index("block")
    values = {}
    for b in blocks:
        row = rows.loc[b] if b in rows.index else None
        values[b] = {"dtype": "" if row is None else str(row["dtype"]),
                     "mode": "" if row is None else str(row["mode"]),
                     "compile": "compiled" if row is not None and bool(row["compile"])
                     else "eager"}
    varying = [k for k in ("dtype", "mode", "compile")
               if len({v[k] for v in values.values()}) > 1]
    return {b: ((v["dtype"] != "float32", v["mode"] == "train", v["compile"] == "compiled"),
                ", ".join(v[k] for k in varying)) for b, v in values.items()}


def _condition_panels(result: an.Analysis, frame: pd.DataFrame,
                      lines: Callable[[pd.DataFrame], int] = len
                      ) -> list[tuple[str, str, pd.DataFrame]]:
    """(run, condition, its rows) a panel each: a run's rows in one panel, or one panel per
    condition where they draw more than MAX_LINES_A_PANEL lines (`lines`: a fit a line; the
    sizes figure, a block a hue)."""
    panels = []
    for run in (r for r in result.labels if (frame["run"] == r).any()):
        sub = frame[frame["run"] == run]
        if lines(sub) <= MAX_LINES_A_PANEL:
            panels.append((run, "", sub))
            continue
        named = _conditions(result, run, list(dict.fromkeys(sub["block"])))
        for key, condition in sorted(set(named.values())):
            panels.append((run, condition, sub[sub["block"].map(named) == (key, condition)]))
    return panels
