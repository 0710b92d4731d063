"""The report's figures: matplotlib (through seaborn) PNG files written beside report.md.

Each figure function draws from an Analysis and returns the FigureFile that the sections place
in the document; nothing here decides what a number means.
"""

from __future__ import annotations

import math
import struct
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a window, also on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from a2bench import analysis as an  # noqa: E402
from a2bench import fitting as ft  # noqa: E402
from a2bench.fitting import LAST_CACHE_TRANSITION  # noqa: E402
from a2bench.formatting import fixed, integer, significant  # noqa: E402
from a2bench.formatting import size as size_text  # noqa: E402
from a2bench.report.elements import (  # noqa: E402
    METRIC_TITLES,
    FigureFile,
    block_name,
    expected_from,
)
from a2bench.report.plotting import (  # noqa: E402
    LEGEND_LINE,
    LEGEND_PT,
    RUN_MARKERS,
    _colors,
    _condition_panels,
    _log_x,
    _mark_line_ends,
    _panels,
    _save,
    _shade,
    least_width,
    log_ratio_y,
)

METRIC_AXIS = {
    # per call: a forward, or in train mode a forward and its backward
    "macs": "MACs per call (multiply-accumulates)",
    "latency": f"latency per call (s, fastest of {ft.MIN_OF} a pass, median of passes)",
    "memory": "peak memory above input (bytes)",
}
# The sizes figure plots the tables' columns: latency there is the median of all samples
SIZES_AXIS = {"latency": "median latency per call (s, all passes' samples)"}
RATIO_METRICS = (("macs", "MACs (counted)"), ("latency", "latency"), ("memory", "peak memory"))
RATIO_COLORS = {"macs": "#4c4c4c", "latency": "#ff7f0e", "memory": "#9467bd"}


def draw_figures(result: an.Analysis, out: Path) -> list[FigureFile]:
    """Every figure the data calls for, written into ``out``; summary.json lists them in this
    order."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    figures: list[FigureFile] = []
    shown = _shown_fits(result.fits)
    for axis in an.axes(result.data):
        if len(shown) and (shown["axis"] == axis).any():
            # none for a metric nothing measured: MACs in a run with --no-counters
            for metric in (m for m in an.METRICS if _drawn(shown, axis, m)):
                figures.append(fit_figure(result, shown, axis, metric, out))
    if len(result.crossovers):
        figures.append(ratio_figure(result, out))
    if len(result.roofline):
        figures.append(roofline_figure(result, out))
    if _few_sizes(result.data):
        figures.append(sizes_figure(result, out))
    if len(result.modes):
        figures.append(pair_figure(result, result.modes, "memory_ratio", out))
    if len(result.compiled):
        figures.append(pair_figure(result, result.compiled, "speedup", out))
    plt.close("all")
    return [_sized(f, out) for f in figures]


def _sized(figure: FigureFile, out: Path) -> FigureFile:
    """The figure with its PNG's size in pixels (bbox_inches="tight" sets it, not figsize) and
    the fewest CSS pixels the page may draw it in."""
    head = (out / figure.file).read_bytes()[:24]  # the PNG signature, then IHDR's width, height
    width, height = struct.unpack(">II", head[16:24])
    return replace(figure, width=width, height=height, least_width=least_width(width))


# Other groups of fixed sizes a block's fit panel draws beside its primary one (a suite that
# sweeps N at c = 32, 64 and 128 draws all three); more stay in fits.csv, and the legend says so.
OTHER_GROUPS = 3
_KEY = ["run", "block", "device", "dtype", "axis", "metric"]


def _shown_fits(fits: pd.DataFrame) -> pd.DataFrame:
    """The fits a figure draws: each primary fit, and the main windows of up to OTHER_GROUPS
    other groups of the same block and axis that have an exponent (spread over them), with
    `groups_left` (how many of its other groups are not drawn) and `group_text` (the fixed
    sizes that tell its drawn groups apart, '' for a block drawn at one group)."""
    if not len(fits):
        return fits.assign(groups_left=0, group_text="")
    main = fits[fits["segment"] == 0]  # every group's main window (a primary fit's among them)
    parts = []
    for _, rows in main.groupby(_KEY, sort=False, dropna=False):
        first = rows[rows["primary"].astype(bool)]
        if not len(first):
            continue
        others = rows[~rows["primary"].astype(bool)]
        fitted = others[np.isfinite(others["exponent"].astype(float))]
        # groups come in sorted order: past OTHER_GROUPS, the smallest, the largest and
        # between them evenly, so the lines span what the suite swept
        pick = np.unique(np.round(np.linspace(0, len(fitted) - 1, min(len(fitted),
                                                                       OTHER_GROUPS))))
        drawn = fitted.iloc[pick.astype(int)]
        both = pd.concat([first, drawn])
        parts.append(both.assign(groups_left=len(others) - len(drawn),
                                 group_text=an.distinct_sizes(list(both["group"]))))
    return pd.concat(parts) if parts else fits.iloc[:0].assign(groups_left=0, group_text="")


def _drawable(primary: pd.DataFrame, axis: str, metric: str) -> pd.DataFrame:
    fits = primary[(primary["axis"] == axis) & (primary["metric"] == metric)]
    # A block whose auto plan afforded no window ran no size: its fits row is the budget's note
    # alone (no group, no points), and has nothing to draw.
    return fits[fits["swept_values"].fillna(0) > 0]


def _drawn(primary: pd.DataFrame, axis: str, metric: str) -> bool:
    return bool(len(_drawable(primary, axis, metric)))


def fit_figure(result: an.Analysis, shown: pd.DataFrame, axis: str, metric: str,
               out: Path) -> FigureFile:
    fits = _drawable(shown, axis, metric)
    panels = _condition_panels(result, fits)
    runs = list(dict.fromkeys(run for run, _, _ in panels))
    colors = _colors(result)
    order = {b: i for i, b in enumerate(colors)}  # legends list blocks as block_order does
    crossings = [f for f in result.findings if f.kind == "cache_crossing" and f.axis == axis]
    titles = [_fit_title(run, condition, sub, len(runs) > 1) for run, condition, sub in panels]
    exact = metric != "latency"  # no overhead, no window: every size, against the model
    fig, axes = _panels(len(panels), below=[  # legend under each: a line a fit, a note a block
        LEGEND_LINE * (len(sub) + sub.loc[sub["groups_left"] > 0, "block"].nunique() + 5) + 0.4
        for _, _, sub in panels], title_lines=max(t.count("\n") + 1 for t in titles))
    for ax, (run, _, sub), title in zip(axes, panels, titles, strict=True):
        handles = []
        placed: list[tuple[float, float]] = []  # the cache labels drawn: (log10 x, y)
        sub = sub.iloc[np.lexsort((~sub["primary"].astype(bool).to_numpy(),
                                   [order.get(b, len(order)) for b in sub["block"]]))]
        seen: dict[str, int] = {}  # each block's lines so far: its primary group comes first
        swept: list[float] = []
        for _, fit in sub.iterrows():
            pts = an.fit_points(result.data, fit)
            swept += list(pts["x"])
            shade = seen[fit["block"]] = seen.get(fit["block"], -1) + 1
            main = bool(fit["primary"])  # other groups: thinner, in shades of the block's hue
            color = (colors[fit["block"]] if main
                     else _shade(colors[fit["block"]], shade, OTHER_GROUPS + 1))
            ax.plot(pts["x"], pts["y"], color=color, alpha=0.35, lw=1, zorder=1)
            sns.scatterplot(data=pts[pts["fitted"]], x="x", y="y", color=color,
                            s=46 if main else 30, edgecolor="white", linewidth=0.6, ax=ax,
                            legend=False, zorder=3)
            lower = pts[~pts["fitted"]]
            ax.scatter(lower["x"], lower["y"], facecolors="white", edgecolors=color,
                       s=40 if main else 26, linewidths=1.3, zorder=3)
            a = fit["overhead_used"] if math.isfinite(fit["overhead_used"]) else 0.0
            if math.isfinite(fit["exponent"]) and math.isfinite(fit["intercept"]):
                xs = np.geomspace(fit["fit_x_min"], fit["fit_x_max"], 50)
                ax.plot(xs, a + np.exp(fit["intercept"]) * xs ** fit["exponent"], color=color,
                        lw=2.4 if main else 1.4, zorder=2)
                model = pts[np.isfinite(pts["model"]) & (pts["model"] > 0)]
                if exact and len(model) and fit["expected_from"] == "model":
                    # MACs and memory: the model's own value at each size, which the points
                    # sit on where it is exact (a pure power misses its constant terms)
                    ax.plot(model["x"], model["model"], color=color, lw=1.6, ls=(0, (4, 2)),
                            zorder=2, alpha=0.9)
                elif math.isfinite(fit["expected"]):
                    mid = fit["intercept"] + fit["exponent"] * fit["log_x_mean"]
                    ax.plot(xs, a + np.exp(mid + fit["expected"]
                                           * (np.log(xs) - fit["log_x_mean"])),
                            color=color, lw=1.6, ls=(0, (4, 2)), zorder=2, alpha=0.9)
            name = block_name(result, fit["block"]) + (f" ({fit['group_text']})"
                                                        if fit["group_text"] else "")
            if math.isfinite(fit["exponent"]) and not math.isfinite(fit["expected"]):
                # nothing to judge it by (a block without a cost model has no memory model)
                label = (f"{name}: k = {fixed(fit['exponent'])} "
                         f"[{fixed(fit['ci_low'])}, {fixed(fit['ci_high'])}], no model")
            elif math.isfinite(fit["exponent"]):
                label = (f"{name}: k = {fixed(fit['exponent'])} "
                         f"[{fixed(fit['ci_low'])}, {fixed(fit['ci_high'])}], "
                         f"{expected_from(fit)} {fixed(fit['expected'])}: {fit['verdict']}")
            else:
                size_word = "size" if integer(fit["points"]) == "1" else "sizes"
                label = (f"{name}: {fit['verdict']} "
                         f"({integer(fit['points'])} {size_word} in the window)")
            handles.append(Line2D([], [], color=color, marker="o", lw=2.4 if main else 1.4,
                                  label=label))
            if shade == (sub["block"] == fit["block"]).sum() - 1 and fit["groups_left"] > 0:
                handles.append(Line2D([], [], lw=0, label=(  # after the block's last line
                    f"{block_name(result, fit['block'])}: {integer(fit['groups_left'])} more "
                    f"group{'s' if fit['groups_left'] > 1 else ''} of fixed sizes in "
                    "fits.csv")))
            if main and metric == "latency":
                for c in crossings:
                    if c.run == run and c.block == fit["block"]:
                        _cache_mark(ax, c, color, placed)
        counted = (sub["expected_from"] == "counted").any()
        handles += [
            Line2D([], [], color="0.2", lw=2.4, label="power b·x^k, the log-log slope over "
                   "every size" if exact else "fit a + b·x^k on the window (filled)"),
            Line2D([], [], color="0.2", lw=1.6, ls=(0, (4, 2)),
                   label=("cost model's value at each size" + (
                       " (slope of the counted MACs where there is none)" if counted else ""))
                   if exact else "cost-model slope" if not counted
                   else "expected slope (cost model, or the counted MACs)"),
            *([] if exact else [Line2D(
                [], [], color="0.2", marker="o", lw=0, markerfacecolor="white",
                label="outside the window (overhead ≥ 5%, past a cache boundary, "
                      "or in the step to memory)")]),
        ]
        if metric == "latency" and any(c.run == run for c in crossings):
            handles += [
                Line2D([], [], color="0.4", lw=1.1, ls=(0, (2, 2)),
                       label="largest activation passes a cache (block's colour)"),
                Line2D([], [], color="0.4", lw=1.1, ls=(0, (6, 2, 1, 2)),
                       label="working set passes a cache: windows split here"),
            ]
        _log_x(ax, swept)
        ax.set_yscale("log")
        ax.set_xlabel(an.axis_label(axis, result.environments))
        ax.set_ylabel(METRIC_AXIS[metric])
        ax.set_title(title, fontsize=9)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14),
                  fontsize=LEGEND_PT, frameon=False)
    axis_name = an.axis_label(axis, result.environments)
    fig.suptitle(f"{METRIC_TITLES[metric]} vs {axis_name} (log-log)", y=1.0)
    name = _save(fig, out, f"fit_{axis}_{metric}.png")
    # a figure none of whose windows held a fit says so (its caption had promised lines)
    none = ("" if np.isfinite(fits["exponent"].astype(float)).any() else
            "No window here held enough sizes for a fit: the points are the measurements "
            "alone, each line's label says why. ")
    caption = (f"{none}{METRIC_TITLES[metric]} against {axis_name} on log-log axes. " + (
        "Solid lines: the power b·x^k whose exponent k is the log-log slope over every size "
        "swept (MACs and memory have no per-call overhead or cache window; the verdict reads "
        "k against the model's own slope, or the model's value at every size); dashed: the "
        "cost model's value at each size, on which the points sit where it is exact (a pure "
        "power misses its constant terms)." if exact else
        "Solid lines: the fit a + b·x^k over the window (filled points), where the overhead a "
        "is under 5% of the value and no cache boundary lies inside (nor, where "
        f"enough sizes lie beyond, the step to memory up to {LAST_CACHE_TRANSITION:g}x "
        "the last cache); dashed: the slope the cost model predicts over the same window. "
        "Hollow points are outside it.")
               + (" Latency points are each size's median over its passes of each pass's "
                  f"expected fastest of {ft.MIN_OF} raw samples, the value the fit reads."
                  + (" Vertical lines mark where each block's largest activation (dotted) and "
                     "its working set (dash-dot; live peak plus input, and a block's weights "
                     "where it has no cost model; where windows split) "
                     "outgrow one of the run's measured caches."
                     if any(c.run in runs for c in crossings) else "")
                  if metric == "latency" else ""))
    return FigureFile(name, f"{METRIC_TITLES[metric]} vs {axis}", caption)


def _fit_title(run: str, condition: str, sub: pd.DataFrame, several: bool) -> str:
    """A fit panel's title: its run where a figure has several, its condition, and the sizes
    held fixed (the primary groups'; the others' are in their labels)."""
    groups = "; ".join(sorted(set(sub.loc[sub["primary"].astype(bool), "group"])))
    if (sub["group_text"] != "").any():  # other groups drawn: their labels name them
        groups += " (thick lines; thin: as labelled)"
    return ((f"{run}\n" if several else "") + (f"{condition}\n" if condition else "")
            + textwrap.fill(f"fixed: {groups}", TITLE_WIDTH))


# Characters a line of a 9-point panel title holds over a 6.4-inch panel: 80 had run past the
# figure's right edge (the title is centred on the axes, right of the figure's middle)
TITLE_WIDTH = 68


# Where a cache mark's label may sit, in axes fractions: the largest activation's from the
# bottom, the working set's from the top; a label too close to one drawn takes the next slot.
# A label is about a fifth of a panel tall ("L2 (working set)" at 7 points), so the four slots
# hold four labels apart (slots at 0.36 and 0.64 had printed the two kinds over each other).
LABEL_SLOTS = {True: (0.02, 0.25), False: (0.98, 0.75)}
LABEL_GAP_DECADES = 0.09  # rotated 7-point text and its neighbour's, on a panel of 3-4 decades


def _cache_mark(ax: plt.Axes, c: Any, color: str, placed: list[tuple[float, float]]) -> None:
    """A vertical line where a block's tensor outgrows a cache, and its label where it does not
    print over another (two blocks crossing one cache at nearly one size: one label, the
    second block's line in its colour beside it)."""
    at = math.sqrt(c.x_from * c.x_to)  # between the two swept values
    largest = c.tensor == "largest activation"
    ax.axvline(at, color=color, lw=1.1, alpha=0.7,
               ls=(0, (2, 2)) if largest else (0, (6, 2, 1, 2)), zorder=1)
    free = [y for y in LABEL_SLOTS[largest] if all(
        abs(math.log10(at) - x) > LABEL_GAP_DECADES or y != py for x, py in placed)]
    if not free:
        return
    placed.append((math.log10(at), free[0]))
    ax.annotate(f"{c.cache} ({'largest' if largest else 'working set'})", (at, free[0]),
                xycoords=("data", "axes fraction"), color=color, fontsize=LEGEND_PT - 1,
                rotation=90, ha="right", va="bottom" if largest else "top")


def ratio_figure(result: an.Analysis, out: Path) -> FigureFile:
    cross = result.crossovers
    # a panel per series, up to RATIO_SERIES a run, those with the most sizes (a sweep of N at
    # three c had drawn the first c alone, and said nothing of the others)
    picked = [(run, row) for run in result.labels
              for _, row in cross[cross["run"] == run].sort_values(
                  "n_points", ascending=False, kind="stable").head(RATIO_SERIES).iterrows()]
    left = len(cross) - len(picked)
    runs = list(dict.fromkeys(run for run, _ in picked))
    notes = [_crossing_notes(row) for _, row in picked]
    # legend room under each panel: 2 columns, 5 entries, and a wrapped note as tall as it is
    fig, axes = _panels(len(picked), width=7.0, below=[
        LEGEND_LINE * (3 + max(t.count("\n") for _, t in n)) + 0.4 for n in notes])
    for ax, (run, row), note in zip(axes, picked, notes, strict=True):
        p = result.pairs
        p = p[(p["run"] == run) & (p["channels"] == row["channels"]) & (p["m"] == row["m"])
              & (p["n"] == row["n"]) & (p["batch"] == row["batch"])
              & ((p["t"] == row["t"]) | pd.isna(row["t"]))]  # NaN: a series across frames
        long = pd.concat([pd.DataFrame({"N": p["positions"], "ratio": p[f"ratio_{m}"],
                                        "metric": label, "key": m})
                          for m, label in RATIO_METRICS], ignore_index=True)
        long = long[np.isfinite(long["ratio"]) & (long["ratio"] > 0)]
        palette = {label: RATIO_COLORS[m] for m, label in RATIO_METRICS}
        sns.lineplot(data=long, x="N", y="ratio", hue="metric", style="metric", markers=True,
                     dashes=False, palette=palette, estimator=None, ax=ax, legend=False, lw=1.8,
                     markersize=7)
        ax.axhline(1, color="0.3", lw=1, ls="-")
        handles = [Line2D([], [], color=RATIO_COLORS[m], marker=mk, lw=1.8, label=label)
                   for (m, label), mk in zip(RATIO_METRICS, ("o", "X", "s"), strict=True)]
        star = row["n_star_predicted"]
        ax.axvline(star, color="0.2", ls=(0, (4, 2)), lw=1.4)
        handles.append(Line2D([], [], color="0.2", ls=(0, (4, 2)), lw=1.4,
                              label=f"predicted N* = 2mn/(m+n) = {size_text(star)}"))
        for m, text in note:
            value = row[f"n_star_{m}"]
            read = isinstance(value, float) and math.isfinite(value)
            if read:
                ax.plot([value], [1], marker="D", ms=10, color=RATIO_COLORS[m], mec="black",
                        zorder=5)
            # a diamond in the legend only for one drawn: an unread N* is its note alone
            handles.append(Line2D([], [], color=RATIO_COLORS[m], marker="D" if read else None,
                                  lw=0, mec="black", label=text))
        _log_x(ax, long["N"])
        log_ratio_y(ax)
        lo = min(float(p["positions"].min()), star) / 1.4
        ax.set_xlim(lo, float(p["positions"].max()) * 1.4)
        ax.set_xlabel(an.axis_label("positions", result.environments))
        ax.set_ylabel("non-local order ÷ double attention (ratio, log)")
        title = (f"c={int(row['channels'])}, m={int(row['m'])}, n={int(row['n'])}, "
                 f"b={int(row['batch'])}" + (f", t={int(row['t'])}" if row["t"] > 1 else
                                             ", across t" if pd.isna(row["t"]) else ""))
        ax.set_title((f"{run}\n" if len(runs) > 1 else "") + title, fontsize=9)
        # on a white ground: where the ratio's 1 runs along the bottom it would strike it out
        ax.text(0.98, 0.03, "above 1: the non-local order costs more", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=LEGEND_PT, color="0.3", zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14),
                  fontsize=LEGEND_PT, frameon=False, ncol=2)
    fig.suptitle("Where the non-local order starts to cost more than double attention", y=1.0)
    name = _save(fig, out, "crossover_ratio.png")
    caption = ("Cost of the non-local order divided by double attention's at the same shape, "
               "against positions N. The dashed line is the MAC crossover predicted by the "
               "cost model; diamonds mark where the measured latency and memory ratios cross 1 "
               "(interpolated linearly in log N)."
               + (f" {left} more series (other fixed sizes) are in crossovers.csv and the "
                  "crossover table." if left else ""))
    return FigureFile(name, "Crossover", caption)


RATIO_SERIES = 3  # crossover panels a run draws at most


def _crossing_notes(row: pd.Series) -> list[tuple[str, str]]:
    """(metric, legend text) for the measured crossings (MACs' equals the predicted line up to
    interpolation, so it is not drawn twice): where one lies, or why none is read (a crossing
    that is the per-call overhead's had read 'no crossing in the swept range')."""
    notes = []
    for m, label in RATIO_METRICS[1:]:
        value, reason = row[f"n_star_{m}"], row.get(f"reason_{m}")
        if isinstance(value, float) and math.isfinite(value):
            notes.append((m, f"measured from {label}: N* ≈ {size_text(value)}"))
        elif isinstance(reason, str) and reason:
            notes.append((m, textwrap.fill(f"{label}: not read: {reason}", 48)))
        else:
            notes.append((m, f"{label}: no crossing in the swept range"))
    return notes


def roofline_figure(result: an.Analysis, out: Path) -> FigureFile:
    roof = result.roofline.copy()
    roof = roof[np.isfinite(roof["intensity"]) & (roof["gflops"] > 0)]
    roof["block"] = roof["block"].map(lambda b: block_name(result, b))
    palette = {block_name(result, b): c for b, c in _colors(result).items()}
    fig, ax = plt.subplots(figsize=(8.0, 5.6))
    several = len(result.labels) > 1
    # each run's marker, on its points and at its roof's right end: three GPUs' grey roofs had
    # lain on one another, told apart by their dashes alone
    markers = {r: RUN_MARKERS[i % len(RUN_MARKERS)] for i, r in enumerate(result.labels)}
    sns.scatterplot(data=roof, x="intensity", y="gflops", hue="block",
                    style="run" if several else None, palette=palette, s=55, ax=ax,
                    markers=markers if several else True,
                    style_order=[r for r in result.labels if (roof["run"] == r).any()] or None,
                    edgecolor="white", linewidth=0.5, zorder=3)
    x_lo = float(roof["intensity"].min()) / 2 if len(roof) else 0.1
    x_hi = float(roof["intensity"].max()) * 2 if len(roof) else 100
    # one dash pattern per run's roof (a report of 8 runs must tell 8 roofs apart)
    run_styles = ("-", "--", ":", "-.", (0, (8, 2)), (0, (1, 3)), (0, (5, 1, 1, 1, 1, 1)),
                  (0, (3, 3, 1, 3)), (0, (12, 3)), (0, (2, 1)))
    roofs: list[Line2D] = []
    for i, run in enumerate(result.labels):
        ceiling = (result.environments.get(run) or {}).get("roofline") or {}
        peak, bw = ceiling.get("gemm_flops_per_s"), ceiling.get("bandwidth_bytes_per_s")
        if not peak or not bw:
            continue
        ridge = peak / bw
        xs = np.geomspace(min(x_lo, ridge / 4), max(x_hi, ridge * 4), 200)
        label = (f"{run + ': ' if several else ''}roof: GEMM {significant(peak / 1e9)} "
                 f"GFLOP/s, copy {significant(bw / 1e9)} GB/s (measured)")
        roofs += ax.plot(xs, np.minimum(peak, xs * bw) / 1e9, color="0.25", lw=1.6,
                         ls=run_styles[i % len(run_styles)], label=label, zorder=2,
                         **({"marker": markers[run], "ms": 8, "mec": "white", "mew": 0.5} if several
                            else {}))
    ax.set_xscale("log")
    ax.set_yscale("log")
    if several:
        _mark_line_ends(ax, roofs)
    ax.set_xlabel("arithmetic intensity (FLOP per byte of activations + input)")
    ax.set_ylabel("achieved GFLOP/s (analytic FLOPs ÷ median latency)")
    ax.set_title("Roofline: how close each case gets to the machine's ceilings")
    entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=LEGEND_PT,
              frameon=False, ncol=1 if entries <= 24 else 2)
    name = _save(fig, out, "roofline.png")
    caption = ("Each point is one case: its analytic FLOPs (2 MACs + elementwise operations) "
               "divided by its median latency, against FLOPs per byte it must move. The roof is "
               "the minimum of the GEMM throughput and the copy bandwidth × intensity, both "
               "measured in the same run" + ("; each run's roof ends in its points' marker, "
                                             "side by side where roofs end together."
                                             if several else "."))
    return FigureFile(name, "Roofline", caption)


def _few_sizes(data: pd.DataFrame, limit: int = 16) -> bool:
    ok = an.ok_rows(data)
    return bool(len(ok)) and int(ok.groupby("run")["size"].nunique().max()) <= limit


def sizes_figure(result: an.Analysis, out: Path) -> FigureFile:
    ok = an.ok_rows(result.data).copy()
    ok["block name"] = ok["block"].map(lambda b: block_name(result, b))
    palette = {block_name(result, b): c for b, c in _colors(result).items()}
    n_sizes = int(ok.groupby("run")["size"].nunique().max())
    # a run of more than MAX_LINES_A_PANEL blocks: a set of panels per condition, as fit_figure
    panels = _condition_panels(result, ok, lambda rows: rows["block"].nunique())
    # Runs stack vertically: their sizes differ, and a wide row of panels shrinks in a page.
    fig, axes = plt.subplots(3 * len(panels), 1, figsize=(max(7.0, 1.0 * n_sizes + 3),
                                                          8.5 * len(panels)), squeeze=False)
    for j, (run, condition, mine) in enumerate(panels):
        key = [c for c in ("positions", "channels", "batch", *an.size_columns(mine))
               if c in mine]  # m, n, r too, in order
        rows = mine.sort_values(list(dict.fromkeys(key)), kind="stable")
        rows = rows.assign(size=rows["size"].str.replace(" ", "\n"))  # short tick lines
        order = list(dict.fromkeys(rows["size"]))
        for i, metric in enumerate(an.METRICS):
            ax = axes[3 * j + i][0]
            # points, not bars: a bar on a log axis is as long as its axis' floor makes it,
            # and 3x read as 30x (the video report's two orders)
            hues = [b for b in palette if (rows["block name"] == b).any()]
            sns.pointplot(data=rows, x="size", y=metric, hue="block name", order=order,
                          hue_order=hues, palette=palette, ax=ax, legend=i == 0,
                          errorbar=None, linestyle="none", markers="o", markersize=6,
                          dodge=0.4 if len(hues) > 1 else False)  # seaborn divides by hues-1
            if (rows[metric] > 0).any():
                ax.set_yscale("log")
            else:  # nothing to draw on a log axis: a run with --no-counters counts no MACs
                ax.text(0.5, 0.5, "not measured in this run", transform=ax.transAxes,
                        ha="center", va="center", color="0.4")
            # wrapped to the panel's height: a longer line runs into the panels beside it
            # the tables' latency, the median of every sample (the fits read another statistic)
            label = SIZES_AXIS.get(metric, METRIC_AXIS[metric])
            ax.set_ylabel(textwrap.fill(label, 26), fontsize=9)
            ax.grid(axis="y", which="major", alpha=0.3)
            ax.set_xlabel("size (h×w or t×h×w, then what varies)" if i == 2 else "")
            if i < 2:
                ax.set_xticklabels([])
            ax.tick_params(axis="x", rotation=0, labelsize=LEGEND_PT)
            if i == 0 and len(panels) > 1:
                ax.set_title(f"{run}: {condition}" if condition else run, fontweight="bold")
    # one legend for every run's blocks, in the report's order (each run has its own blocks)
    named: dict[str, Any] = {}
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            named.setdefault(label, handle)
        if ax.get_legend():
            ax.get_legend().remove()
    labels = [label for label in palette if label in named]
    ncol = min(len(labels), 4)
    rows_of_legend = math.ceil(len(labels) / max(ncol, 1))
    top = 1 - (0.35 + 0.22 * rows_of_legend) / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.suptitle("Cost of each block at each measured size (log scale)", y=1.0)
    fig.legend([named[x] for x in labels], labels, loc="upper center",
               bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()), ncol=ncol, frameon=False,
               fontsize=LEGEND_PT)
    name = _save(fig, out, "sizes.png")
    caption = ("MACs, median latency and peak memory of each block at each measured size, one "
               "point each on log axes (for the ResNet-stages suite, the shapes where these "
               "blocks sit in a ResNet-50).")
    return FigureFile(name, "Cost at each size", caption)


PAIR_FIGURES = {
    "memory_ratio": ("train_memory_ratio.png", "Training against inference: peak memory",
                     "train ÷ forward peak memory",
                     "Peak memory of one training step (forward and backward, gradients "
                     "included) divided by the forward pass's at the same shape, against "
                     "positions N; one line per block, precision and compile setting, and "
                     "per batch or other size held fixed where they differ (the legend names "
                     "it)."),
    "speedup": ("compile_speedup.png", "Compiled against eager: speed-up",
                "eager ÷ compiled latency (speed-up)",
                "Median latency of the eager block divided by the torch.compile'd block's at "
                "the same shape, against positions N; above 1 compiling pays."),
}


PAIR_LEGEND_ROWS = 6  # lines a pair figure's legend lists in one column


def pair_figure(result: an.Analysis, table: pd.DataFrame, what: str, out: Path) -> FigureFile:
    """One ratio of twin cases along N, a line per block (and dtype, and the other run axis)."""
    file, title, ylabel, caption = PAIR_FIGURES[what]
    runs = [r for r in result.labels if (table["run"] == r).any()]
    other = "compile" if what == "memory_ratio" else "mode"
    held = [c for c in an.fixed_columns(result.data, "positions") if c in table]
    keys = ["block", "dtype", other, *held]
    tables = [table[(table["run"] == run) & np.isfinite(table[what]) & (table[what] > 0)]
              .fillna({c: -1 for c in held}) for run in runs]
    # the legend under its panel, in two columns past PAIR_LEGEND_ROWS lines: inside it, the
    # training run's 15 lines had covered a third of the panel and the lines under them
    cols = [1 if t.groupby(keys).ngroups <= PAIR_LEGEND_ROWS else 2 for t in tables]
    fig, axes = _panels(len(runs), width=6.8, below=[
        LEGEND_LINE * math.ceil(t.groupby(keys).ngroups / c) + 0.4
        for t, c in zip(tables, cols, strict=True)])
    colors = _colors(result)
    for ax, run, t, ncol in zip(axes, runs, tables, cols, strict=True):
        # the held sizes that differ between lines of one block, dtype and run axis (batch 1
        # and 8 of the ResNet-50 run): named in each label, which had listed every block twice
        # under one name; a parameter of one block only (m, r) tells no two lines apart
        vary = [c for c in held if (t.groupby(keys[:3])[c].nunique() > 1).any()]
        for keys_of, rows in t.groupby(keys, sort=False):
            rows = rows.sort_values("positions")
            block, dtype, side = keys_of[0], keys_of[1], keys_of[2]
            label = block_name(result, block, short=True)
            if t["dtype"].nunique() > 1:
                label += f", {dtype}"
            if t[other].nunique() > 1:
                label += {"compile": ", compiled" if side is True else ", eager",
                          "mode": f", {side}"}[other]
            sizes = an.group_label({c: None if v == -1 else v
                                    for c, v in zip(held, keys_of[3:], strict=True) if c in vary})
            if sizes:
                label += f", {sizes}"
            # the other run axis by marker: train beside forward, compiled beside eager, had
            # drawn two lines alike in colour, style and marker
            marker = "s" if side is True or side == "train" else "o"
            ax.plot(rows["positions"], rows[what], marker=marker, lw=1.6, ms=5,
                    color=colors.get(block, None), ls="-" if dtype == "float32" else "--",
                    label=label)
        ax.axhline(1, color="0.3", lw=1)
        _log_x(ax, t["positions"])
        ax.set_xlabel(an.axis_label("positions", result.environments))
        ax.set_ylabel(ylabel)
        if len(runs) > 1:
            ax.set_title(run, fontsize=9)
        ax.legend(fontsize=LEGEND_PT, frameon=False, loc="upper center",
                  bbox_to_anchor=(0.5, -0.14), ncol=ncol)
    fig.suptitle(title, y=1.0)
    return FigureFile(_save(fig, out, file), title, caption)
