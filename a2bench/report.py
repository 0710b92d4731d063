"""The report folder: fits.csv, summary.json, report.md, index.html and the PNG figures.

Renders what a2bench.analysis computed from stored results; never measures and never imports
torch. report.md and index.html are written from one document model so they say the same thing.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a window, also on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from a2bench import __version__  # noqa: E402
from a2bench import analysis as an  # noqa: E402

# matplotlib's tab10. The compared pair (analysis.STUDY) keeps the blue and red its figures
# always had; every other block takes the next of the remaining colours, green first (the third
# block of the earlier reports had it), in analysis.block_order's order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
PINNED_COLORS = {an.STUDY.left: "#1f77b4", an.STUDY.right: "#d62728"}
METRIC_TITLES = {"macs": "MACs", "latency": "Latency", "memory": "Peak memory"}
METRIC_AXIS = {
    "macs": "MACs per forward (multiply-accumulates)",
    "latency": "latency per forward (s, 10th percentile of the samples)",
    "memory": "peak memory above input (bytes)",
}
RATIO_METRICS = (("macs", "MACs (counted)"), ("latency", "latency"), ("memory", "peak memory"))
RATIO_COLORS = {"macs": "#4c4c4c", "latency": "#ff7f0e", "memory": "#9467bd"}
DPI = 130
MAX_TABLE_ROWS = 60


def write_report(dirs: Sequence[Path], out: Path) -> int:
    """Analyse one or more results folders and write the report into ``out``. Returns 0."""
    data, runs = an.load_runs(dirs)
    result = an.analyse(data, runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.png"):  # a rerun into the same folder must not show old figures
        stale.unlink()
    figures = draw_figures(result, out)
    write_tables(result, out)
    (out / "summary.json").write_text(
        json.dumps(summary(result, figures), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    doc = document(result, figures)
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    (out / "index.html").write_text(to_html(doc, "a2bench report"), encoding="utf-8")
    print(f"a2bench: report on {len(runs)} run(s) written to {out}: report.md, index.html, "
          f"fits.csv, summary.json and {len(figures)} figures")
    print(f"headline: {result.headline['verdict']}")
    for run in result.labels:
        h = result.headline["runs"][run]
        print(f"  {run}: {h['verdict']}")
        for line in h["contradicting"] + h["missing"]:
            print(f"    {line}")
    return 0


# ---------------------------------------------------------------------------------------------
# Files beside the report


def write_tables(result: an.Analysis, out: Path) -> None:
    result.fits.to_csv(out / "fits.csv", index=False, float_format="%.6g")
    an.findings_frame(result.findings).to_csv(out / "findings.csv", index=False,
                                              float_format="%.6g")
    result.crossovers.to_csv(out / "crossovers.csv", index=False, float_format="%.6g")
    result.pairs.to_csv(out / "pairs.csv", index=False, float_format="%.6g")
    result.block_crossovers.to_csv(out / "block_crossovers.csv", index=False,
                                   float_format="%.6g")
    result.complexity.to_csv(out / "complexity.csv", index=False, float_format="%.6g")
    for name, table in (("modes", result.modes), ("compiled", result.compiled),
                        ("precision", result.precision), ("trends", result.trends),
                        ("context", result.context)):
        if len(table):  # 10 digits: MAC and parameter counts stay exact
            table.to_csv(out / f"{name}.csv", index=False, float_format="%.10g")
    sizes = an.size_columns(result.data)
    cases = result.data.drop(columns=["samples"]).merge(
        result.roofline[["run", "block", *sizes, "device", "gflops",
                         "fraction_of_peak", "calibration_ok", "intensity", "attainable_gflops",
                         "fraction_of_attainable", "bound"]],
        on=["run", "block", "device", *sizes], how="left")
    cases.to_csv(out / "cases.csv", index=False, float_format="%.6g")


def summary(result: an.Analysis, figures: Sequence[FigureFile]) -> dict[str, Any]:
    return {
        "generated_by": f"a2bench {__version__}",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": [{"label": r.label, "path": str(r.path), "cases": r.rows, "ok": r.ok}
                 for r in result.runs],
        "headline": result.headline,
        "fits": an.records(result.fits),
        "findings": an.records(an.findings_frame(result.findings)),
        "crossovers": an.records(result.crossovers),
        "complexity": an.records(result.complexity),
        "block_crossovers": an.records(result.block_crossovers),
        "roofline": an.records(result.roofline_summary),
        "trends": an.records(result.trends),
        "environment": {r.label: _json_safe(r.environment) for r in result.runs},
        "units": {
            "macs": "multiply-accumulates per forward pass",
            "latency": "seconds per forward pass (median of timed runs)",
            "memory": "bytes, peak allocated above the input during one forward pass",
            "exponent": "k in metric = a + b·axis^k, read on the window where the overhead a "
                        "is under 5% and no cache boundary lies inside",
            "overhead": "a, in the metric's unit (seconds for latency)",
            "gflops": "1e9 floating-point operations per second (flops = 2 MACs + elementwise)",
            "intensity": "floating-point operations per byte moved (activations + input)",
            "n_star": "positions N = t*h*w",
        },
        "figures": [f.file for f in figures],
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return an.clean(value)


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass(frozen=True)
class FigureFile:
    file: str
    title: str
    caption: str


def block_colors(blocks: Sequence[str]) -> dict[str, str]:
    """One colour per block, in the given order: the compared pair's own, then the palette."""
    free = [c for c in PALETTE[2:] + PALETTE[:2] if c not in PINNED_COLORS.values()]
    out: dict[str, str] = {}
    for block in blocks:
        if block in PINNED_COLORS:
            out[block] = PINNED_COLORS[block]
        else:
            out[block] = free[sum(b not in PINNED_COLORS for b in out) % len(free)]
    return out


def _colors(result: an.Analysis) -> dict[str, str]:
    """Every block of the report's data with its colour, the same in every figure."""
    return block_colors(an.block_order(result.data, result.environments))


def _label(result: an.Analysis, block: str, short: bool = False) -> str:
    return an.block_label(block, result.environments, short=short)


def draw_figures(result: an.Analysis, out: Path) -> list[FigureFile]:
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    figures: list[FigureFile] = []
    primary = result.fits[result.fits["primary"]] if len(result.fits) else result.fits
    for axis in an.axes(result.data):
        if len(primary) and (primary["axis"] == axis).any():
            for metric in an.METRICS:
                figures.append(fit_figure(result, primary, axis, metric, out))
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
    return figures


def _log_x(ax: plt.Axes) -> None:
    """Log x axis labelled 1, 2, 5 × 10^k in plain numbers, so sizes read as sizes."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}" if v < 1e6 else f"{v:.0e}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _save(fig: plt.Figure, out: Path, name: str) -> str:
    fig.savefig(out / name, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return name


def _panels(n: int, width: float = 6.4, height: float = 5.0) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), sharey=True, squeeze=False)
    return fig, axes[0]


def fit_figure(result: an.Analysis, primary: pd.DataFrame, axis: str, metric: str,
               out: Path) -> FigureFile:
    fits = primary[(primary["axis"] == axis) & (primary["metric"] == metric)]
    runs = [r for r in result.labels if (fits["run"] == r).any()]
    colors = _colors(result)
    order = {b: i for i, b in enumerate(colors)}  # legends list blocks as block_order does
    crossings = [f for f in result.findings if f.kind == "cache_crossing" and f.axis == axis]
    fig, axes = _panels(len(runs))
    for ax, run in zip(axes, runs, strict=True):
        handles = []
        sub = fits[fits["run"] == run]
        sub = sub.iloc[np.argsort([order.get(b, len(order)) for b in sub["block"]], kind="stable")]
        for _, fit in sub.iterrows():
            pts = an.fit_points(result.data, fit)
            color = colors[fit["block"]]
            ax.plot(pts["x"], pts["y"], color=color, alpha=0.35, lw=1, zorder=1)
            sns.scatterplot(data=pts[pts["fitted"]], x="x", y="y", color=color, s=46,
                            edgecolor="white", linewidth=0.6, ax=ax, legend=False, zorder=3)
            lower = pts[~pts["fitted"]]
            ax.scatter(lower["x"], lower["y"], facecolors="white", edgecolors=color, s=40,
                       linewidths=1.3, zorder=3)
            a = fit["overhead_used"] if math.isfinite(fit["overhead_used"]) else 0.0
            if math.isfinite(fit["exponent"]) and math.isfinite(fit["intercept"]):
                xs = np.geomspace(fit["fit_x_min"], fit["fit_x_max"], 50)
                ax.plot(xs, a + np.exp(fit["intercept"]) * xs ** fit["exponent"], color=color,
                        lw=2.4, zorder=2)
                if math.isfinite(fit["expected"]):
                    mid = fit["intercept"] + fit["exponent"] * fit["log_x_mean"]
                    ax.plot(xs, a + np.exp(mid + fit["expected"]
                                           * (np.log(xs) - fit["log_x_mean"])),
                            color=color, lw=1.6, ls=(0, (4, 2)), zorder=2, alpha=0.9)
            if math.isfinite(fit["exponent"]):
                label = (f"{_label(result, fit['block'])}: k = {_f(fit['exponent'])} "
                         f"[{_f(fit['ci_low'])}, {_f(fit['ci_high'])}], model "
                         f"{_f(fit['expected'])}: {fit['verdict']}")
            else:
                label = (f"{_label(result, fit['block'])}: {fit['verdict']} "
                         f"({_int(fit['points'])} sizes in the window)")
            handles.append(Line2D([], [], color=color, marker="o", lw=2.4, label=label))
            if metric == "latency":
                for c in crossings:
                    if c.run != run or c.block != fit["block"]:
                        continue
                    at = math.sqrt(c.x_from * c.x_to)  # between the two swept values
                    largest = c.tensor == "largest activation"
                    ax.axvline(at, color=color, lw=1.1, alpha=0.7,
                               ls=(0, (2, 2)) if largest else (0, (6, 2, 1, 2)), zorder=1)
                    ax.annotate(f"{c.cache} ({'largest' if largest else 'working set'})",
                                (at, 0.02 if largest else 0.98),
                                xycoords=("data", "axes fraction"), color=color, fontsize=7,
                                rotation=90, ha="right", va="bottom" if largest else "top")
        handles += [
            Line2D([], [], color="0.2", lw=2.4, label="fit a + b·x^k on the window (filled)"),
            Line2D([], [], color="0.2", lw=1.6, ls=(0, (4, 2)), label="cost-model slope"),
            Line2D([], [], color="0.2", marker="o", lw=0, markerfacecolor="white",
                   label="outside the window (overhead ≥ 5%, or past a cache boundary)"),
        ]
        if metric == "latency" and any(c.run == run for c in crossings):
            handles += [
                Line2D([], [], color="0.4", lw=1.1, ls=(0, (2, 2)),
                       label="largest activation passes a cache (block's colour)"),
                Line2D([], [], color="0.4", lw=1.1, ls=(0, (6, 2, 1, 2)),
                       label="working set passes a cache: windows split here"),
            ]
        _log_x(ax)
        ax.set_yscale("log")
        ax.set_xlabel(an.axis_label(axis, result.environments))
        ax.set_ylabel(METRIC_AXIS[metric])
        groups = "; ".join(sorted(set(fits[fits["run"] == run]["group"])))
        ax.set_title((f"{run}\n" if len(runs) > 1 else "") + f"fixed: {groups}", fontsize=9)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8,
                  frameon=False)
    axis_name = an.axis_label(axis, result.environments)
    fig.suptitle(f"{METRIC_TITLES[metric]} vs {axis_name} (log-log)", y=1.0)
    name = _save(fig, out, f"fit_{axis}_{metric}.png")
    caption = (f"{METRIC_TITLES[metric]} against {axis_name} on log-log axes. Solid "
               "lines: the fit a + b·x^k over the window (filled points), where the overhead a "
               "is under 5% of the value and no cache boundary lies inside; dashed: the slope "
               "the cost model predicts over the same window. Hollow points are outside it."
               + (" Latency points are each size's 10th percentile of the raw samples, the "
                  "value the fit reads. Vertical lines mark where each block's largest "
                  "activation (dotted) and its working set (dash-dot; live peak plus input, "
                  "where windows split) outgrow one of the run's measured caches."
                  if metric == "latency" else ""))
    return FigureFile(name, f"{METRIC_TITLES[metric]} vs {axis}", caption)


def ratio_figure(result: an.Analysis, out: Path) -> FigureFile:
    cross = result.crossovers
    runs = [r for r in result.labels if (cross["run"] == r).any()]
    fig, axes = _panels(len(runs), width=7.0)
    for ax, run in zip(axes, runs, strict=True):
        c = cross[cross["run"] == run].sort_values("n_points", ascending=False, kind="stable")
        row = c.iloc[0]
        p = result.pairs
        p = p[(p["run"] == run) & (p["channels"] == row["channels"]) & (p["m"] == row["m"])
              & (p["n"] == row["n"]) & (p["batch"] == row["batch"]) & (p["t"] == row["t"])]
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
                              label=f"predicted N* = 2mn/(m+n) = {star:.3g}"))
        for m, label in RATIO_METRICS:
            value = row[f"n_star_{m}"]
            if m == "macs":
                continue  # equals the predicted line up to interpolation; do not draw it twice
            if isinstance(value, float) and math.isfinite(value):
                ax.plot([value], [1], marker="D", ms=10, color=RATIO_COLORS[m], mec="black",
                        zorder=5)
                text = f"measured from {label}: N* ≈ {value:.3g}"
            else:
                text = f"{label}: no crossing in the swept range"
            handles.append(Line2D([], [], color=RATIO_COLORS[m], marker="D", lw=0, mec="black",
                                  label=text))
        _log_x(ax)
        ax.set_yscale("log")
        lo = min(float(p["positions"].min()), star) / 1.4
        ax.set_xlim(lo, float(p["positions"].max()) * 1.4)
        ax.set_xlabel(an.axis_label("positions", result.environments))
        ax.set_ylabel("non-local order ÷ double attention (ratio, log)")
        title = (f"c={int(row['channels'])}, m={int(row['m'])}, n={int(row['n'])}, "
                 f"b={int(row['batch'])}" + (f", t={int(row['t'])}" if row["t"] > 1 else ""))
        ax.set_title((f"{run}\n" if len(runs) > 1 else "") + title, fontsize=9)
        ax.text(0.98, 0.03, "above 1: the non-local order costs more", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="0.3")
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8,
                  frameon=False, ncol=2)
    fig.suptitle("Where the non-local order starts to cost more than double attention", y=1.0)
    name = _save(fig, out, "crossover_ratio.png")
    caption = ("Cost of the non-local order divided by double attention's at the same shape, "
               "against positions N. The dashed line is the MAC crossover predicted by the "
               "cost model; diamonds mark where the measured latency and memory ratios cross 1 "
               "(interpolated linearly in log N).")
    return FigureFile(name, "Crossover", caption)


def roofline_figure(result: an.Analysis, out: Path) -> FigureFile:
    roof = result.roofline.copy()
    roof = roof[np.isfinite(roof["intensity"]) & (roof["gflops"] > 0)]
    roof["block"] = roof["block"].map(lambda b: _label(result, b))
    palette = {_label(result, b): c for b, c in _colors(result).items()}
    fig, ax = plt.subplots(figsize=(8.0, 5.6))
    several = len(result.labels) > 1
    sns.scatterplot(data=roof, x="intensity", y="gflops", hue="block",
                    style="run" if several else None, palette=palette, s=55, ax=ax,
                    edgecolor="white", linewidth=0.5, zorder=3)
    x_lo = float(roof["intensity"].min()) / 2 if len(roof) else 0.1
    x_hi = float(roof["intensity"].max()) * 2 if len(roof) else 100
    run_styles = ("-", "--", ":", "-.")
    for i, run in enumerate(result.labels):
        ceiling = (result.environments.get(run) or {}).get("roofline") or {}
        peak, bw = ceiling.get("gemm_flops_per_s"), ceiling.get("bandwidth_bytes_per_s")
        if not peak or not bw:
            continue
        ridge = peak / bw
        xs = np.geomspace(min(x_lo, ridge / 4), max(x_hi, ridge * 4), 200)
        label = (f"{run + ': ' if several else ''}roof: GEMM {peak / 1e9:.3g} GFLOP/s, "
                 f"copy {bw / 1e9:.3g} GB/s (measured)")
        ax.plot(xs, np.minimum(peak, xs * bw) / 1e9, color="0.25", lw=1.6,
                ls=run_styles[i % len(run_styles)], label=label, zorder=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of activations + input)")
    ax.set_ylabel("achieved GFLOP/s (analytic FLOPs ÷ median latency)")
    ax.set_title("Roofline: how close each case gets to the machine's ceilings")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    name = _save(fig, out, "roofline.png")
    caption = ("Each point is one case: its analytic FLOPs (2 MACs + elementwise operations) "
               "divided by its median latency, against FLOPs per byte it must move. The roof is "
               "the minimum of the GEMM throughput and the copy bandwidth × intensity, both "
               "measured in the same run.")
    return FigureFile(name, "Roofline", caption)


def _few_sizes(data: pd.DataFrame, limit: int = 16) -> bool:
    ok = an.ok_rows(data)
    return bool(len(ok)) and int(ok.groupby("run")["size"].nunique().max()) <= limit


def sizes_figure(result: an.Analysis, out: Path) -> FigureFile:
    ok = an.ok_rows(result.data).copy()
    ok["block name"] = ok["block"].map(lambda b: _label(result, b))
    palette = {_label(result, b): c for b, c in _colors(result).items()}
    runs = [r for r in result.labels if (ok["run"] == r).any()]
    n_sizes = int(ok.groupby("run")["size"].nunique().max())
    # Runs stack vertically: their sizes differ, and a wide row of panels shrinks in a page.
    fig, axes = plt.subplots(3 * len(runs), 1, figsize=(max(7.0, 1.0 * n_sizes + 3),
                                                        8.5 * len(runs)), squeeze=False)
    for j, run in enumerate(runs):
        rows = ok[ok["run"] == run].sort_values(["positions", "channels", "batch"])
        rows = rows.assign(size=rows["size"].str.replace(" ", "\n"))  # short tick lines
        order = list(dict.fromkeys(rows["size"]))
        for i, metric in enumerate(an.METRICS):
            ax = axes[3 * j + i][0]
            sns.barplot(data=rows, x="size", y=metric, hue="block name", order=order,
                        palette=palette, ax=ax, legend=(i == 0 and j == 0), errorbar=None)
            ax.set_yscale("log")
            ax.set_ylabel(METRIC_AXIS[metric].replace(" per forward", "").replace(" (", "\n("))
            ax.set_xlabel("size (h×w or t×h×w, then what varies)" if i == 2 else "")
            if i < 2:
                ax.set_xticklabels([])
            ax.tick_params(axis="x", rotation=0, labelsize=8)
            if i == 0 and len(runs) > 1:
                ax.set_title(run, fontweight="bold")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if axes[0][0].get_legend():
        axes[0][0].get_legend().remove()
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.suptitle("Cost of each block at each measured size (log scale)", y=1.0)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.985),
               ncol=len(labels), frameon=False, fontsize=8)
    name = _save(fig, out, "sizes.png")
    caption = ("Bars: MACs, median latency and peak memory of each block at each measured size "
               "(for the ResNet-stages suite, the shapes where these blocks sit in a ResNet-50).")
    return FigureFile(name, "Cost at each size", caption)


# ---------------------------------------------------------------------------------------------
# The document (rendered to Markdown and to HTML)


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
    file: str
    alt: str
    caption: str


Element = Heading | Para | Bullets | Table | Image


def _f(x: Any, digits: int = 2) -> str:
    """A number for a table cell; blank stands for 'not available'."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    value = float(x)
    text = f"{value:.{digits}f}"
    return text[1:] if re.fullmatch(r"-0\.0*", text) else text


def _g(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{float(x):.{digits}g}"


def _pct(x: Any) -> str:
    """A relative difference as a signed percentage."""
    return f"{float(x) * 100:+.1f} %" if _finite(x) else "n/a"


def _int(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{int(x)}"


def document(result: an.Analysis, figures: Sequence[FigureFile]) -> list[Element]:
    figs = {f.file: f for f in figures}
    doc: list[Element] = [Heading(1, "a2bench scaling report")]
    doc.append(Para(
        f"Generated by a2bench {__version__} from {len(result.runs)} results folder(s): "
        + "; ".join(f"{r.label} ({r.path}, {r.ok} of {r.rows} cases ok)" for r in result.runs)
        + ". Nothing here was re-measured; every number comes from those folders."))
    doc += headline_section(result, figs)
    doc += complexity_section(result)
    doc += environment_section(result)
    doc += units_section()
    doc += fits_section(result, figs)
    doc += crossover_section(result, figs)
    doc += block_crossovers_section(result)
    doc += roofline_section(result, figs)
    doc += sizes_section(result, figs)
    doc += training_section(result, figs)
    doc += compile_section(result, figs)
    doc += precision_section(result)
    doc += counters_section(result)
    doc += context_section(result)
    doc += comparison_section(result)
    doc += failures_section(result)
    doc += method_section()
    return doc


HEADLINE_WORDS = {"confirmed": "CONFIRMED", "contradicted": "CONTRADICTED",
                  "inconclusive": "INCONCLUSIVE", "not swept": "NOT SWEPT"}


def headline_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    """The verdict first: block × metric along positions, then the latency figure."""
    h = result.headline
    doc: list[Element] = [
        Heading(2, f"Headline: {HEADLINE_WORDS[h['verdict']]}"),
        Para("Do MACs, peak memory and latency along positions N all grow as the cost model "
             "says: O(m·n·N) for double attention and O((m+n)·N²) for the non-local order? "
             "CONFIRMED needs all six fits consistent in a run; any contradicted fit makes it "
             "CONTRADICTED; otherwise it is INCONCLUSIVE and the missing evidence is named."),
    ]
    for run in result.labels:
        r = h["runs"][run]
        if r["verdict"] == "not swept":
            continue
        rows = [{
            "block": _label(result, f["block"], short=True), "metric": f["metric"],
            "exponent [95% CI]": (f"{_f(f['exponent'])} [{_f(f['ci_low'])}, {_f(f['ci_high'])}]"
                                  if f["exponent"] is not None else "n/a"),
            "model": _f(f["expected"]), "ΔBIC": _f(f["delta_bic"], 1),
            "sizes": _int(f["points"]), "verdict": f["verdict"],
        } for f in r["fits"]]
        doc.append(Table(pd.DataFrame(rows),
                         f"{run}: {HEADLINE_WORDS[r['verdict']]} (exponents dimensionless; "
                         "ΔBIC > 0 favours the model's class)."))
        if r["contradicting"] or r["missing"]:
            doc.append(Bullets(tuple(f"{run}: {x}" for x in r["contradicting"] + r["missing"])))
    if "fit_positions_latency.png" in figs:
        f = figs["fit_positions_latency.png"]
        doc.append(Image(f.file, f.title, f.caption))
    return doc


def complexity_section(result: an.Analysis) -> list[Element]:
    """Per block, the class its MACs and latency grow in along N, each against its own model."""
    c = result.complexity
    doc: list[Element] = [Heading(2, "Complexity class per block")]
    if not len(c):
        return doc + [Para("No block was swept along positions N with its other sizes fixed, "
                           "so no complexity class can be read off.")]
    doc.append(Para(
        "Every block swept along positions N, each against its own cost model. A cell reads: "
        "the class the model predicts, N^k, with the model's exponent over the same window in "
        "parentheses; the measured exponent [95% interval]; the verdict; and ΔBIC of the "
        "model's class against its competitor (above 0 favours the model's class). Classes "
        "and exponents are dimensionless. All rows, with each verdict's reason, are in "
        "complexity.csv."))
    several = len(result.runs) > 1
    rows, notes = [], []
    for (run, block), g in c.groupby(["run", "block"], sort=False):
        row = {**({"run": run} if several else {}), "block": _label(result, block)}
        for metric in an.COMPLEXITY_METRICS:
            f = g[g["metric"] == metric]
            row[METRIC_TITLES[metric]] = _class_cell(f.iloc[0]) if len(f) else "not fitted"
            if len(f) and f.iloc[0]["verdict"] != "consistent" and f.iloc[0]["reason"]:
                notes.append(f"{run + ': ' if several else ''}{_label(result, block, True)}, "
                             f"{METRIC_TITLES[metric]}: {f.iloc[0]['reason']}")
        rows.append(row)
    doc.append(Table(pd.DataFrame(rows), "Complexity class along positions N, per block."))
    if notes:
        doc.append(Bullets(tuple(notes)))
    return doc


def _class_cell(r: pd.Series) -> str:
    """'N^1.5 (model 1.47): measured 1.52 [1.45, 1.60], consistent; ΔBIC 31.2 against N^2'."""
    k, other = r["expected_class"], r["competitor"]
    cls = f"N^{float(k):g}" if _finite(k) else "no class"
    measured = (f"measured {_f(r['exponent'])} [{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
                if _finite(r["exponent"]) else f"no exponent ({_int(r['points'])} sizes)")
    bic = (f"; ΔBIC {_f(r['delta_bic'], 1)} against N^{float(other):g}"
           if _finite(r["delta_bic"]) and _finite(other) else "")
    return f"{cls} (model {_f(r['expected'])}): {measured}, {r['verdict']}{bic}"


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _slurm(run: Any, env: dict[str, Any]) -> str:
    if env.get("executor") != "slurm":
        return ""
    shards = env.get("shards") or []
    return (f"{env.get('partition', '')} ({len(shards)} jobs, "
            f"{len(env.get('hosts') or [])} nodes)")


def _schedule(run: Any, env: dict[str, Any]) -> str:
    schedule = env.get("timing_schedule") or ""
    if schedule == "interleaved":
        chunk = float(env.get("interleave_chunk_s") or math.nan) * 1e3
        return f"interleaved, {_g(chunk)} ms chunks"
    return schedule


def environment_section(result: an.Analysis) -> list[Element]:
    fields: list[tuple[str, Any]] = [
        ("results folder", lambda r, e: str(r.path)),
        ("host", lambda r, e: ", ".join(e.get("hosts") or [e.get("host") or ""])),
        ("Slurm partition (jobs, nodes)", _slurm),
        ("suite", lambda r, e: e.get("suite_path") or e.get("suite", "")),
        ("device", lambda r, e: (e.get("roofline") or {}).get("device", "")
         + (f" ({e['gpu_name']})" if e.get("gpu_name") else "")),
        ("CPU", lambda r, e: e.get("cpu_model", "")),
        ("cores (physical / logical)",
         lambda r, e: f"{e.get('physical_cores', '?')} / {e.get('logical_cores', '?')}"),
        ("torch threads", lambda r, e: str(e.get("threads", ""))),
        ("torch", lambda r, e: e.get("torch", "")),
        ("CUDA / cuDNN", lambda r, e: (f"{e.get('cuda_version')} / {e.get('cudnn_version')}"
                                       if e.get("cuda_version") else "")),
        ("GPU memory total / free at start (GiB)", _gpu_memory),
        ("GPU driver, SM clock / max, memory clock, temperature, power (nvidia-smi at start)",
         lambda r, e: e.get("driver_and_clocks") or ""),
        ("CUDA numerics flags", _cuda_flags),
        ("python", lambda r, e: e.get("python", "")),
        ("a2bench / commit",
         lambda r, e: f"{e.get('a2bench_version', '')} / {str(e.get('git_commit', ''))[:12]}"),
        ("GEMM ceiling (GFLOP/s, measured)",
         lambda r, e: _g((e.get("roofline") or {}).get("gemm_flops_per_s", math.nan) / 1e9)),
        ("GEMM ceiling at start / end (GFLOP/s), drift", _ceilings),
        ("GEMM ceiling per dtype (GFLOP/s)", _dtype_ceilings),
        ("native bf16 / fp16 instructions (CPU)", _reduced_precision),
        ("C++ compiler (torch.compile)", lambda r, e: e.get("compiler") or ""),
        ("caches (sysfs or device properties)", _caches),
        ("caches per getconf, where they differ (not used)", _getconf_caches),
        ("CPU allocator (a tensor past its mmap threshold page-faults on every call)",
         _allocator),
        ("per-call overhead, empty module (µs)",
         lambda r, e: _g(((e.get("overhead") or {}).get("empty_module_s") or math.nan) * 1e6)),
        ("case order seed", lambda r, e: str(e.get("order_seed", ""))),
        ("copy bandwidth (GB/s, measured)",
         lambda r, e: _g((e.get("roofline") or {}).get("bandwidth_bytes_per_s", math.nan) / 1e9)),
        ("timing budget per case (s)", lambda r, e: str(e.get("time_budget_s", ""))),
        ("timing schedule (per case, or a pass's cases interleaved in chunks)", _schedule),
        ("cases ok / stored", lambda r, e: f"{r.ok} / {r.rows}"),
        ("warnings recorded", lambda r, e: "; ".join(e.get("warnings", [])) or "none"),
    ]
    table = pd.DataFrame({"": [name for name, _ in fields]})
    for r in result.runs:
        table[r.label] = [fn(r, r.environment) for _, fn in fields]  # type: ignore[operator]
    table = table[[any(str(v) for v in row[1:]) for row in table.itertuples(index=False)]]
    return [Heading(2, "Environment"), Table(table.reset_index(drop=True))]


def _gpu_memory(run: an.Run, env: dict[str, Any]) -> str:
    total, free = env.get("gpu_memory_bytes"), env.get("gpu_free_bytes")
    if not total:
        return ""
    return f"{_g(total / 2**30)} / {_g(free / 2**30) if free else '?'}"


def _cuda_flags(run: an.Run, env: dict[str, Any]) -> str:
    """Which kernels a CUDA run allowed: TF32 off, cuDNN's autotuner off (timing.cuda_flags)."""
    flags = env.get("cuda_flags") or {}
    return ", ".join(f"{k} {'on' if v else 'off'}" for k, v in flags.items())


def _ceilings(run: an.Run, env: dict[str, Any]) -> str:
    r = env.get("roofline") or {}
    start, end = r.get("gemm_flops_per_s_start"), r.get("gemm_flops_per_s_end")
    if start is None:
        return ""
    drift = r.get("drift")
    return (f"{_g(start / 1e9)} / {_g(end / 1e9) if end else 'not measured'}"
            + (f", drift {_f(100 * drift, 1)}%" if drift is not None else ""))


def _dtype_ceilings(run: an.Run, env: dict[str, Any]) -> str:
    records = env.get("rooflines") or {}
    if len(records) < 2:
        return ""
    return ", ".join(f"{d} {_g((r.get('gemm_flops_per_s') or math.nan) / 1e9)}"
                     for d, r in records.items())


def _reduced_precision(run: an.Run, env: dict[str, Any]) -> str:
    rp = env.get("reduced_precision") or {}
    if not rp:
        return ""
    yes = {True: "yes", False: "no"}
    return (f"{yes[bool(rp.get('native_bf16'))]} / {yes[bool(rp.get('native_fp16'))]} "
            f"(dispatch {rp.get('cpu_capability', '?')})")


def _caches(run: an.Run, env: dict[str, Any]) -> str:
    caches = an.run_caches(env)
    return ", ".join(f"{k} {format_bytes(v)}"
                     for k, v in sorted(caches.items(), key=lambda kv: kv[1]))


def _allocator(run: an.Run, env: dict[str, Any]) -> str:
    a = env.get("allocator") or {}
    if not a:
        return ""
    size = an.run_thresholds(env).get(an.MMAP)
    return f"{a.get('name', '')} {a.get('version', '')}".strip() + (
        f", mmap threshold {format_bytes(size)} ({a.get('mmap_threshold_source', '')})"
        if size else "")


def _getconf_caches(run: an.Run, env: dict[str, Any]) -> str:
    getconf = {k: v for k, v in (env.get("caches_getconf") or {}).items() if v}
    if not getconf or getconf == (env.get("cpu_caches") or {}):
        return ""
    return ", ".join(f"{k} {format_bytes(v)}"
                     for k, v in sorted(getconf.items(), key=lambda kv: kv[1]))


def format_bytes(n: Any) -> str:
    """Bytes in the largest binary unit that keeps the figure at 1 or more (3 significant
    digits, no exponent); n/a for a missing figure."""
    if not _finite(n):
        return "n/a"
    n = float(n)
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"


def units_section() -> list[Element]:
    return [
        Heading(2, "Units"),
        Bullets((
            "MACs: multiply-accumulates per forward pass (a (p×K)(K×q) product is p·q·K MACs), "
            "counted by torch's FlopCounterMode (fvcore where it is missing).",
            "Latency: seconds per forward pass, the median of the timed runs (tables show "
            "milliseconds, ms = 10⁻³ s).",
            "Memory: bytes allocated at the peak of one forward pass above the input (tables "
            "show MiB = 2²⁰ bytes).",
            "Exponent: k in cost = a + b·size^k; 1 means linear, 2 quadratic. The overhead "
            "a is in the cost's unit (seconds for latency).",
            "GFLOP/s: 10⁹ floating-point operations per second, with FLOPs = 2·MACs + "
            "elementwise operations from the cost model.",
            "N: positions = t·h·w (frames × height × width).",
        )),
    ]


def _fit_cell(row: pd.Series) -> str:
    if not math.isfinite(row["exponent"]):
        return "n/a"
    return f"{_f(row['exponent'])} [{_f(row['ci_low'])}, {_f(row['ci_high'])}]"


def _run_cell(row: pd.Series | None) -> str:
    if row is None:
        return "not swept"
    if not math.isfinite(row["exponent"]):
        return f"{row['verdict']}: {row['reason']}"
    return (f"{_fit_cell(row)}; model {_f(row['expected'])}; ΔBIC {_f(row['delta_bic'], 1)}; "
            f"{row['verdict']} ({_int(row['points'])} sizes)")


def fits_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    doc: list[Element] = [Heading(2, "Scaling exponents")]
    fits = result.fits
    if not len(fits):
        return doc + [Para(
            "No axis was swept with the other sizes fixed (for example the ResNet-stages suite, "
            "where c, m, n and N change together), so there is nothing to fit; see the costs at "
            "each size below.")]
    doc.append(Para(
        "Each cost is fitted as a + b·x^k, with the overhead a ≥ 0, by weighted least squares "
        "in log space over every swept size. The exponent k is then read on a window chosen "
        "from the data: the sizes where a is under 5% of the cost (for latency, a is the run's "
        "own timing of the block at its smallest shape where there is one) and, for latency, "
        "with no cache boundary inside: where the working set (the cost model's live peak plus "
        "the input) outgrows one of the run's measured caches, the sizes on each side are "
        "fitted apart. Latency per size is the 10th percentile of its raw samples, pooled over "
        "the passes, and the fit weighs sizes with Huber's loss. Interval: the "
        "wider of the regression's t interval and a bootstrap that resamples the raw timing "
        "samples within each size (2000 seeded resamples). Model: the slope of the cost model "
        "over the same window (MACs; all FLOPs for latency; peak bytes for memory). ΔBIC "
        "compares a + b·x^k at the model's integer class against its competitor (1 against 2), "
        "each with its own overhead; above 0 favours the model's class. Verdict: consistent "
        "when the 90% interval lies inside the model's value ± 0.15 and ΔBIC > 10; "
        "contradicted when the interval lies outside that band or ΔBIC < −10; inconclusive "
        "otherwise, or with fewer than 5 sizes in the window. Each verdict's reason is in "
        "fits.csv."))
    primary = fits[fits["primary"]]
    runs = [r for r in result.labels if (primary["run"] == r).any()]
    key = ["axis", "block", "metric"]
    order = {a: i for i, a in enumerate(an.axes(result.data))}
    table = primary[key].drop_duplicates()
    table = table.assign(_o=table["axis"].map(order)).sort_values(["_o", "block"], kind="stable")
    table = table.drop(columns="_o")
    wide = table.copy()
    wide["block"] = wide["block"].map(lambda b: _label(result, b, short=True))
    for run in runs:
        sub = primary[primary["run"] == run].set_index(key)
        cells = [sub.loc[tuple(k)] if tuple(k) in sub.index else None
                 for k in table[key].itertuples(index=False)]
        if len(runs) == 1:
            wide["exponent [95% CI]"] = [_fit_cell(c) if c is not None else "" for c in cells]
            wide["model"] = [_f(c["expected"]) if c is not None else "" for c in cells]
            wide["ΔBIC"] = [_f(c["delta_bic"], 1) if c is not None else "" for c in cells]
            wide["window"] = [_window_cell(c) if c is not None else "" for c in cells]
            wide["verdict"] = [c["verdict"] if c is not None else "" for c in cells]
            wide["fixed"] = [c["group"] if c is not None else "" for c in cells]
        else:  # one compact column per run keeps several runs readable side by side
            wide[run] = [_run_cell(c) for c in cells]
    caption = ("Fitted exponents (dimensionless)" + ("." if len(runs) == 1 else
               ": per run, exponent [95% CI]; the cost model's exponent; ΔBIC; verdict (sizes "
               "in the window). The sizes held fixed are in each figure's title and in "
               "fits.csv."))
    doc.append(Table(wide.reset_index(drop=True), caption))
    extra = len(fits) - len(primary)
    if extra:
        doc.append(Para(f"{extra} more fits (other groups of the same axis, and windows past a "
                        "cache boundary) are in fits.csv; the table and figures show, per block "
                        "and axis, the main window of the group with the most swept values."))
    doc += latency_detail(result)
    doc.append(Heading(3, "Why the costs look the way they do"))
    doc.append(Bullets(tuple(finding_lines(result))))
    for name, f in figs.items():
        if name.startswith("fit_") and name != "fit_positions_latency.png":
            doc.append(Image(name, f.title, f.caption))
    return doc


def latency_detail(result: an.Analysis) -> list[Element]:
    """Per primary latency fit: the overhead, the window and the rate the block reaches."""
    failed = _failed_runs(result)
    lat = result.fits[result.fits["primary"] & (result.fits["metric"] == "latency")]
    if not len(lat):
        return []
    several = len(result.runs) > 1
    rows = [{
        **({"run": r["run"]} if several else {}),
        "block": _label(result, r["block"], short=True), "axis": r["axis"],
        "overhead a, fitted (ms)": (f"{_g(r['overhead'] * 1e3)} [{_g(r['overhead_ci_low'] * 1e3)}"
                                    f", {_g(r['overhead_ci_high'] * 1e3)}]"),
        "a, timed at the smallest shape (ms)": _g(r["overhead_direct"] * 1e3),
        "a < 5% above": _n(r["x_overhead_5pct"]),
        "window": _window_cell(r),
        "achieved GFLOP/s (t = t₀ + FLOPs/R)": _g(r["achieved_flops_per_s"] / 1e9),
        "% of GEMM ceiling": _pct_of_ceiling(r["fraction_of_ceiling"],
                                             (r["run"], r["dtype"]) in failed),
    } for _, r in lat.iterrows()]
    return [Table(pd.DataFrame(rows),
                  "Latency fits: the per-call overhead a (fitted with its 95% interval, and "
                  "timed directly), the size above which it is under 5% of the time, the "
                  "window the exponent is read on, and the rate R over that window against the "
                  "GEMM ceiling measured in the same run.")]


def _window_cell(row: pd.Series) -> str:
    if not row["points"]:
        return "none"
    return f"{_int(row['points'])} sizes, {_n(row['fit_x_min'])}–{_n(row['fit_x_max'])}"


def _n(x: Any) -> str:
    """A swept size: whole numbers as they are (2816, not 2.82e+03)."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    return f"{float(x):.0f}" if float(x) >= 100 else f"{float(x):.3g}"


def _axis_word(axis: str, environments: dict[str, dict[str, Any]]) -> str:
    return "N" if axis == "positions" else an.axis_label(axis, environments).split(" ")[0]


def finding_lines(result: an.Analysis) -> list[str]:
    """Each finding of a2bench.analysis as one sentence; nothing is decided here."""
    lines = []
    several = len(result.runs) > 1
    for f in result.findings:
        who = (f"{f.run}: " if several else "") + (_label(result, f.block, short=True)
                                                    if f.block else "")
        x = _axis_word(f.axis, result.environments)
        if f.kind == "overhead":
            direct = (f" (timed directly at the smallest shape: {_g(f.expected * 1e3)} ms)"
                      if math.isfinite(f.expected) else "")
            if math.isfinite(f.value) and f.value > 0 and math.isfinite(f.x_to):
                lines.append(
                    f"{who}: a per-call overhead of {_g(f.value * 1e3)} ms "
                    f"[{_g(f.low * 1e3)}, {_g(f.high * 1e3)}] (fitted){direct} is half of the "
                    f"latency below {x} = {_n(f.x_from)} and under 5% above {x} = "
                    f"{_n(f.x_to)}.")
            else:
                lines.append(f"{who}: the fit finds no overhead term in the latency{direct}.")
        elif f.kind == "cache_crossing":
            lines.append(
                f"{who}: its {f.tensor} grows from {format_bytes(f.bytes_from)} to "
                f"{format_bytes(f.bytes_to)} between {x} = {_n(f.x_from)} and "
                f"{x} = {_n(f.x_to)}, "
                f"passing the {f.cache} size ({format_bytes(f.cache_bytes)}).")
        elif f.kind == "cliff":
            where = (f"there its {f.tensor} passes the {f.cache} "
                     f"({format_bytes(f.bytes_from)} to {format_bytes(f.bytes_to)})" if f.cache else
                     f"no cache boundary lies there (the working set grows from "
                     f"{format_bytes(f.bytes_from)} to {format_bytes(f.bytes_to)})")
            lines.append(
                f"{who}: latency outpaces the model most between {x} = {_n(f.x_from)} and "
                f"{x} = {_n(f.x_to)} (local exponent {_f(f.value)} against the model's "
                f"{_f(f.expected)}); {where}.")
        elif f.kind == "window_split":
            other = (f"has its own exponent {_f(f.value)} [{_f(f.low)}, {_f(f.high)}] (model "
                     f"{_f(f.expected)})" if math.isfinite(f.value) else
                     "has too few sizes for an exponent of its own")
            span = (f"{x} = {_n(f.x_from)}" if f.x_from == f.x_to else
                    f"{x} = {_n(f.x_from)}–{_n(f.x_to)}")
            lines.append(
                f"{who}: sizes lie on both sides of the {f.cache or 'cache'} boundary, fitted "
                f"apart; the other side, {span}, {other}.")
        elif f.kind == "calibration":
            end = (f"{_g(f.high / 1e9)} GFLOP/s at the end, a drift of {_f(100 * f.value, 1)}%"
                   if math.isfinite(f.high) else "no end-of-sweep calibration")
            lines.append(f"{who}GEMM ceiling {_g(f.low / 1e9)} GFLOP/s at the start of the "
                         f"sweep, {end}; the ceiling used is the larger.")
        elif f.kind == "calibration_failed":
            lines.append(f"{who}the {f.dtype} calibration failed: a {f.dtype} case ran at "
                         f"{_f(100 * f.value, 0)}% of the measured {f.dtype} GEMM ceiling, so "
                         f"no {f.dtype} fraction of the ceiling is reported for this run.")
    if not lines:
        lines.append("No overhead, cache crossing or cliff was found in the primary fits.")
    return lines


def crossover_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    doc: list[Element] = [Heading(2, "Crossover: where the non-local order costs more")]
    cross = result.crossovers
    if not len(cross):
        return doc + [Para(
            "No run measured both attention orders over several N with c, m, n, b and t fixed, "
            "so no crossover can be read off. The cost model predicts the non-local order "
            "needs more MACs once N > 2mn/(m+n).")]
    doc.append(Para(
        "The cost model predicts the non-local order needs more MACs than double attention once "
        "(m+n)·N² > 2mn·N, i.e. N > N* = 2mn/(m+n). The measured N* is where the ratio "
        "non-local ÷ double attention of latency (or peak memory) crosses 1, interpolated "
        "linearly in log N; where the ratio crosses 1 more than once (noise at small sizes) the "
        "last upward crossing is reported. N is in positions."))
    rows = []
    for _, c in cross.iterrows():
        notes = "; ".join(dict.fromkeys(
            f"{m}: {c[f'reason_{m}']}" for m in ("latency", "memory") if c[f"reason_{m}"]))
        rows.append({
            **({"run": c["run"]} if len(result.runs) > 1 else {}),
            "c": _int(c["channels"]), "m": _int(c["m"]), "n": _int(c["n"]),
            "b": _int(c["batch"]), "t": _int(c["t"]),
            "N swept": f"{c['n_min']:.0f}–{c['n_max']:.0f} ({c['n_points']} values)",
            "predicted N* (MACs)": _g(c["n_star_predicted"]),
            "measured N* (latency)": _g(c["n_star_latency"]),
            "measured N* (memory)": _g(c["n_star_memory"]),
            "notes": notes,
        })
    doc.append(Table(pd.DataFrame(rows), "Crossover positions N* (positions)."))
    if "crossover_ratio.png" in figs:
        f = figs["crossover_ratio.png"]
        doc.append(Image(f.file, f.title, f.caption))
    return doc


CROSS_WORDS = {"macs": "MACs", "latency": "latency", "memory": "peak memory"}


def block_crossovers_section(result: an.Analysis) -> list[Element]:
    """One line per block (and setting): where it starts to cost more than the reference."""
    bc = result.block_crossovers
    reference = str(bc["reference"].iloc[0]) if len(bc) else an.REFERENCE
    ref = _label(result, reference, short=True)
    doc: list[Element] = [Heading(2, f"Each block against {ref}")]
    if not len(bc):
        return doc + [Para(
            f"No other block was measured at the same shapes as {ref} over two or more "
            "positions N, so no block can be set against it.")]
    doc.append(Para(
        f"Each block's MACs, latency and peak memory divided by {ref}'s at the same shape (run, "
        "device, dtype, batch, channels and t·h·w), along positions N. \"Costlier from N ≈ x\" "
        "is where the ratio last passes 1 going up (interpolated linearly in log N); above it, "
        "up to the largest N swept, the block costs more. Each line names the sizes it holds "
        f"fixed, {ref}'s own parameters and the block's. All numbers are in "
        "block_crossovers.csv."))
    several = len(result.runs) > 1
    ref_params = [c for c in bc.columns if c.startswith("ref_")]
    lines = []
    for _, r in bc.iterrows():
        fixed = an.group_label({"channels": r["channels"], "batch": r["batch"],
                                **({"t": r["t"]} if r["t"] > 1 else {})})
        ref_set = an.group_label({c[4:]: r[c] for c in ref_params})
        own = f" ({r['params']})" if r["params"] else ""
        where = "; ".join(f"{CROSS_WORDS[m]}: {_crossing_words(r, m)}" for m in an.CROSS_METRICS)
        ratio = (f"; latency ratio at N = {_n(r['n_max'])}: {_g(r['ratio_at_max_latency'])}"
                 if _finite(r["ratio_at_max_latency"]) else "")
        lines.append(f"{r['run'] + ': ' if several else ''}{_label(result, r['block'], True)}"
                     f"{own} at "
                     f"{fixed}" + (f", {ref} {ref_set}" if ref_set else "")
                     + f", N = {_n(r['n_min'])}–{_n(r['n_max'])} ({r['n_points']} values): "
                     f"{where}{ratio}.")
    doc.append(Bullets(tuple(lines)))
    return doc


def _crossing_words(r: pd.Series, metric: str) -> str:
    """What one ratio does over the range, from its outcome (analysis.Crossing)."""
    outcome, star = r[f"outcome_{metric}"], r[f"n_star_{metric}"]
    if outcome == "crosses" and _finite(star):
        return f"costlier from N ≈ {_g(star)}" + (
            " (the last of several upward crossings)" if r[f"reason_{metric}"] else "")
    return {"above": "costlier over the whole range",
            "below": "cheaper over the whole range",
            "ends_below": "no costlier at the largest N, though not cheaper at every N",
            }.get(outcome, "not measured at two or more N")


def roofline_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    failed = _failed_runs(result)
    doc: list[Element] = [Heading(2, "Roofline")]
    s = result.roofline_summary
    if not len(s):
        return doc + [Para("No case has both a latency and an analytic FLOP count.")]
    doc.append(Para(
        "Achieved GFLOP/s = analytic FLOPs ÷ median latency ÷ 10⁹; the ceiling is the GEMM "
        "throughput measured in the same run (environment.json, roofline), the best of a few "
        "square products. A block's own, differently shaped products can run a little past it: "
        f"up to {an.CEILING_TOLERANCE:.0%} over reads as reaching the ceiling, and beyond that "
        "the ceiling counts as mis-measured and no fraction of it is shown. Arithmetic "
        "intensity = FLOPs ÷ bytes of activations written plus the input. Per-case numbers are "
        "in cases.csv."))
    rows = [{
        **({"run": r["run"]} if len(result.runs) > 1 else {}),
        "block": _label(result, r["block"], short=True), "cases": r["cases"],
        "best GFLOP/s": _g(r["best_gflops"]), "at size": r["best_shape"],
        "best % of GEMM ceiling": _pct_of_ceiling(r["best_fraction_of_peak"],
                                                  (r["run"], r["dtype"]) in failed),
        "median % of ceiling": _pct_of_ceiling(r["median_fraction_of_peak"],
                                               (r["run"], r["dtype"]) in failed),
        "GEMM ceiling (GFLOP/s)": _g(r["peak_gflops"]),
    } for _, r in s.iterrows()]
    doc.append(Table(pd.DataFrame(rows)))
    roof = result.roofline
    over_roof = roof[roof["fraction_of_attainable"] > 1]
    for run, dtype in sorted(failed):
        top = roof.loc[(roof["run"] == run) & (roof["dtype"] == dtype),
                       "fraction_of_peak_raw"].max()
        doc.append(Para(
            f"{run}: the {dtype} calibration failed. A {dtype} case ran at {_f(100 * top, 0)}% "
            f"of the {dtype} GEMM ceiling measured in the same run, so that ceiling is too low "
            f"to be one; no {dtype} fraction of the ceiling is reported for this run."))
    if len(over_roof):
        doc.append(Para(
            f"{len(over_roof)} case(s) sit above the bandwidth slope: their activations are "
            "small enough to stay in cache, so they never pay the main-memory bandwidth that "
            "the intensity assumes."))
    if "roofline.png" in figs:
        f = figs["roofline.png"]
        doc.append(Image(f.file, f.title, f.caption))
    return doc


def _failed_runs(result: an.Analysis) -> set[tuple[str, str]]:
    """(run, dtype) pairs whose GEMM calibration failed (a case beat the ceiling)."""
    return {(f.run, f.dtype) for f in result.findings if f.kind == "calibration_failed"}


def _pct_of_ceiling(fraction: Any, failed: bool) -> str:
    """A fraction of the GEMM ceiling in percent; never one from a failed calibration."""
    if failed:
        return "calibration failed"
    return _f(100 * fraction, 1) if fraction is not None else "n/a"


def sizes_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    failed = _failed_runs(result)
    doc: list[Element] = [Heading(2, "Costs at each size")]
    sizes = an.size_columns(result.data)
    ok = an.ok_rows(result.data).merge(
        result.roofline[["run", "block", "device", *sizes, "gflops", "fraction_of_peak"]],
        on=["run", "block", "device", *sizes], how="left")
    ok = ok.sort_values(["run_index", "positions", "channels", "batch", "block"], kind="stable")
    if "sizes.png" in figs:
        f = figs["sizes.png"]
        doc.append(Image(f.file, f.title, f.caption))
    if len(result.pairs):
        p = result.pairs
        left, right = (_label(result, b, short=True) for b in (an.STUDY.left, an.STUDY.right))
        rows = [{
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "size": _size_of(result.data, r), "N": _int(r["positions"]),
            "c": _int(r["channels"]), "m": _int(r["m"]), "n": _int(r["n"]),
            "MACs ratio": _g(r["ratio_macs"]), "latency ratio": _g(r["ratio_latency"]),
            "memory ratio": _g(r["ratio_memory"]),
            "memory ratio (model)": _g(r["ratio_memory_model"]),
            f"{left} peak vs model": _pct(r["memory_error_left"]),
            f"{right} peak vs model": _pct(r["memory_error_right"]),
        } for _, r in p.head(MAX_TABLE_ROWS).iterrows()]
        doc.append(Para("Non-local order ÷ double attention at each size measured in both "
                        "orders (ratios, dimensionless; above 1 the non-local order costs more), "
                        "the same ratio of the modelled peaks, and each order's measured peak "
                        "memory against its model (measured ÷ model − 1, in %)."
                        + (f" First {MAX_TABLE_ROWS} of {len(p)} rows; all are in pairs.csv."
                           if len(p) > MAX_TABLE_ROWS else "")))
        doc.append(Table(pd.DataFrame(rows)))
    rows = [{
        **({"run": r["run"]} if len(result.runs) > 1 else {}),
        "size": r["size"], "N": _int(r["positions"]),
        "block": _label(result, r["block"], short=True),
        "MACs (millions)": _g(r["macs"] / 1e6), "latency (ms)": _g(r["latency"] * 1e3),
        "IQR (ms)": _g(r["latency_iqr_s"] * 1e3),
        "peak memory (MiB)": _g(r["memory"] / 2**20),
        "model peak (MiB)": _g(r["peak_bytes_analytic"] / 2**20),
        "GFLOP/s": _g(r["gflops"]),
        "% of GEMM ceiling": _pct_of_ceiling(r["fraction_of_peak"],
                                             (r["run"], r["dtype"]) in failed),
    } for _, r in ok.head(MAX_TABLE_ROWS).iterrows()]
    doc.append(Para("Every ok case: MACs in millions of multiply-accumulates, median latency and "
                    "its interquartile range in milliseconds, peak memory in MiB."
                    + (f" First {MAX_TABLE_ROWS} of {len(ok)} rows; all are in cases.csv."
                       if len(ok) > MAX_TABLE_ROWS else "")))
    doc.append(Table(pd.DataFrame(rows)))
    return doc


def _size_of(data: pd.DataFrame, pair: pd.Series) -> str:
    rows = data[(data["run"] == pair["run"]) & (data["block"] == an.STUDY.left)
                & (data["positions"] == pair["positions"]) & (data["channels"] == pair["channels"])
                & (data["m"] == pair["m"]) & (data["n"] == pair["n"])
                & (data["batch"] == pair["batch"]) & (data["h"] == pair["h"])
                & (data["t"] == pair["t"])]
    return str(rows["size"].iloc[0]) if len(rows) else str(pair["shape"])


PAIR_FIGURES = {
    "memory_ratio": ("train_memory_ratio.png", "Training against inference: peak memory",
                     "train ÷ forward peak memory",
                     "Peak memory of one training step (forward and backward, gradients "
                     "included) divided by the forward pass's at the same shape, against "
                     "positions N; one line per block, precision and compile setting."),
    "speedup": ("compile_speedup.png", "Compiled against eager: speed-up",
                "eager ÷ compiled latency (speed-up)",
                "Median latency of the eager block divided by the torch.compile'd block's at "
                "the same shape, against positions N; above 1 compiling pays."),
}


def pair_figure(result: an.Analysis, table: pd.DataFrame, what: str, out: Path) -> FigureFile:
    """One ratio of twin cases along N, a line per block (and dtype, and the other run axis)."""
    file, title, ylabel, caption = PAIR_FIGURES[what]
    runs = [r for r in result.labels if (table["run"] == r).any()]
    fig, axes = _panels(len(runs), width=6.8)
    colors = _colors(result)
    other = "compile" if what == "memory_ratio" else "mode"
    for ax, run in zip(axes, runs, strict=True):
        t = table[(table["run"] == run) & np.isfinite(table[what]) & (table[what] > 0)]
        fixed = [c for c in an.fixed_columns(result.data, "positions") if c in t]
        for keys, rows in t.fillna({c: -1 for c in fixed}).groupby(
                ["block", "dtype", other, *fixed], sort=False):
            rows = rows.sort_values("positions")
            block, dtype, side = keys[0], keys[1], keys[2]
            label = _label(result, block, short=True)
            if t["dtype"].nunique() > 1:
                label += f", {dtype}"
            if t[other].nunique() > 1:
                label += {"compile": ", compiled" if side is True else ", eager",
                          "mode": f", {side}"}[other]
            ax.plot(rows["positions"], rows[what], marker="o", lw=1.6, ms=5,
                    color=colors.get(block, None), ls="-" if dtype == "float32" else "--",
                    label=label)
        ax.axhline(1, color="0.3", lw=1)
        _log_x(ax)
        ax.set_xlabel(an.axis_label("positions", result.environments))
        ax.set_ylabel(ylabel)
        if len(runs) > 1:
            ax.set_title(run, fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="best")
    fig.suptitle(title, y=1.0)
    return FigureFile(_save(fig, out, file), title, caption)


def _largest(table: pd.DataFrame, group: Sequence[str]) -> pd.DataFrame:
    """Per group, the row at the largest positions N (ties: the first)."""
    if not len(table):
        return table
    idx = table.groupby(list(group), sort=False, dropna=False)["positions"].idxmax()
    return table.loc[idx.to_numpy()]


def _trend_cell(trends: pd.DataFrame, run: str, block: str, dtype: str, what: str,
                bytes_: bool = False) -> str:
    t = trends[(trends["run"] == run) & (trends["block"] == block) & (trends["dtype"] == dtype)
               & (trends["what"] == what)]
    if not len(t):
        return "n/a"
    r = t.iloc[0]
    interval = (f" [{_f(r['slope_low'])}, {_f(r['slope_high'])}]"
                if _finite(r["slope_low"]) else "")
    show = format_bytes if bytes_ else _f
    return (f"{r['verdict']}: {show(r['ratio_from'])} → {show(r['ratio_to'])} over N "
            f"{_n(r['n_from'])}–{_n(r['n_to'])}, ∝ N^{_f(r['slope'])}{interval}")


def _memory_exponent(result: an.Analysis, run: str, block: str) -> str:
    f = result.fits
    if not len(f):
        return "n/a"
    row = f[(f["run"] == run) & (f["block"] == block) & (f["metric"] == "memory")
            & (f["axis"] == "positions") & f["primary"]]
    if not len(row) or not _finite(row.iloc[0]["exponent"]):
        return "n/a"
    r = row.iloc[0]
    return (f"{_f(r['exponent'])} [{_f(r['ci_low'])}, {_f(r['ci_high'])}] "
            f"(model {_f(r['expected'])})")


def training_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    modes = result.modes
    if not len(modes):
        return []
    doc: list[Element] = [Heading(2, "Training against inference"), Para(
        "A train case times one training step: the forward pass and the backward pass of a "
        "fixed upstream gradient, with the input and every parameter requiring grad and the "
        "gradients dropped before each step. Its peak memory is the most the step holds above "
        "what existed before it, the gradients it leaves included; the model simulates the same "
        "step (activations saved for the backward pass, then the gradients in reverse order). "
        "Train MACs are forward plus backward MACs. Rows are each block's largest N; modes.csv "
        "holds every shape.")]
    rows = []
    for _, r in _largest(modes, ["run", "dtype", "block", "compile"]).iterrows():
        if r["compile"] and (~modes["compile"]).any():
            continue  # eager rows speak for the block; the compiled ones are in modes.csv
        rows.append({
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "block": _label(result, r["block"], short=True), "dtype": r["dtype"],
            "N": _n(r["positions"]),
            "latency forward / train (ms)": f"{_g(r['latency_forward'] * 1e3)} / "
                                            f"{_g(r['latency_train'] * 1e3)}",
            "train ÷ forward latency": _f(r["latency_ratio"]),
            "peak forward / train": f"{format_bytes(r['memory_forward'])} / "
                                    f"{format_bytes(r['memory_train'])}",
            "train ÷ forward peak": _f(r["memory_ratio"]),
            "train peak, model (error)": f"{format_bytes(r['peak_bytes_analytic_train'])} "
                                         f"({_f(100 * r['memory_model_error'], 1)}%)",
            "saved activations (model)": format_bytes(r["saved_bytes_analytic"]),
            "train ÷ forward MACs (model)": _f(r["macs_ratio"]),
        })
    doc.append(Table(pd.DataFrame(rows)))
    trend_rows = []
    for (run, dtype, block), rows in modes[~modes["compile"]].groupby(["run", "dtype", "block"],
                                                                     sort=False):
        names = rows.iloc[0]
        trend_rows.append({
            **({"run": run} if len(result.runs) > 1 else {}),
            "block": _label(result, block, short=True), "dtype": dtype,
            "train ÷ forward peak along N": _trend_cell(
                result.trends, run, names["block_train"], dtype, "memory_ratio"),
            "train − forward peak along N": _trend_cell(
                result.trends, run, names["block_train"], dtype, "memory_extra", bytes_=True),
            "memory exponent, forward": _memory_exponent(result, run, names["block_forward"]),
            "memory exponent, train": _memory_exponent(result, run, names["block_train"]),
        })
    doc.append(Para("How the train ÷ forward peak ratio and the bytes training adds (train − "
                    "forward peak) move along N (least squares of the log on log N, 95% "
                    f"interval; flat means within ±{an.TREND_FLAT:g}), and the peak-memory "
                    "exponents of both modes."))
    doc.append(Table(pd.DataFrame(trend_rows)))
    if "train_memory_ratio.png" in figs:
        f = figs["train_memory_ratio.png"]
        doc.append(Image(f.file, f.title, f.caption))
    return doc


def compile_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    comp = result.compiled
    if not len(comp):
        return []
    failed = _failed_runs(result)
    doc: list[Element] = [Heading(2, "Compiled against eager"), Para(
        "torch.compile (inductor, the whole forward as one graph) against the same eager "
        "block. The first call includes the compilation (dynamo's trace and inductor's "
        "lowering, from a reset; C++ kernels inductor built before on this machine load from "
        "its cache) and is reported apart from the steady-state median. The fraction of the "
        "GEMM ceiling is analytic FLOPs ÷ latency ÷ "
        "the ceiling measured in the run for that dtype, at each block's largest N: what the "
        "block can reach, not only what naive eager PyTorch does. The peak-memory model "
        "follows eager autograd; a compiled training step keeps what inductor's partitioner "
        "chooses (it may recompute a tensor in the backward instead of saving it), so its "
        "peak is set against the eager block's. compiled.csv holds every shape.")]
    rows = []
    for _, r in _largest(comp, ["run", "dtype", "block", "mode"]).iterrows():
        bad = (r["run"], r["dtype"]) in failed
        rows.append({
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "block": _label(result, r["block"], short=True), "dtype": r["dtype"],
            "mode": r["mode"], "N": _n(r["positions"]),
            "latency eager / compiled (ms)": f"{_g(r['latency_eager'] * 1e3)} / "
                                             f"{_g(r['latency_compiled'] * 1e3)}",
            "speed-up": _f(r["speedup"]),
            "peak memory compiled ÷ eager": _f(r["memory_ratio"]),
            "first call, compiled (s)": _g(r["first_call_s_compiled"]),
            "% of GEMM ceiling, eager": _pct_of_ceiling(r.get("fraction_of_peak_eager"), bad),
            "% of GEMM ceiling, compiled": _pct_of_ceiling(r.get("fraction_of_peak_compiled"),
                                                           bad),
            "speed-up along N": _trend_cell(result.trends, r["run"], r["block_compiled"],
                                            r["dtype"], "speedup"),
        })
    doc.append(Table(pd.DataFrame(rows)))
    errors = result.data[(result.data["status"] == "error") & result.data["compile"]]
    if len(errors):
        doc.append(Para(f"{len(errors)} compiled case(s) failed; their reasons are under "
                        "'Cases without a measurement'."))
    if "compile_speedup.png" in figs:
        f = figs["compile_speedup.png"]
        doc.append(Image(f.file, f.title, f.caption))
    return doc


def precision_section(result: an.Analysis) -> list[Element]:
    prec = result.precision
    reduced = result.data[result.data["dtype"].isin(("float16", "bfloat16"))]
    if not len(reduced):
        return []
    doc: list[Element] = [Heading(2, "Reduced precision")]
    for run in result.runs:
        rp = run.environment.get("reduced_precision") or {}
        if rp:
            flags = ", ".join(rp.get("flags") or []) or "none"
            doc.append(Para(
                f"{run.label}: torch's CPU dispatch level is {rp.get('cpu_capability', '?')}; "
                f"native bf16 instructions: {'yes' if rp.get('native_bf16') else 'no'}, native "
                f"fp16: {'yes' if rp.get('native_fp16') else 'no'} (CPU flags: {flags}). "
                + ("" if rp.get("native_bf16") else
                   "Without them bf16 and fp16 arithmetic is emulated through float32, so a "
                   "slow reduced-precision latency here says nothing of a CPU or GPU that has "
                   "them; its memory halves all the same.")))
    if len(prec):
        rows = []
        for _, r in _largest(prec, ["run", "dtype", "block", "mode", "compile"]).iterrows():
            rows.append({
                **({"run": r["run"]} if len(result.runs) > 1 else {}),
                "block": _label(result, r["block"], short=True), "dtype": r["dtype"],
                "mode": r["mode"], "compiled": "yes" if r["compile"] else "no",
                "N": _n(r["positions"]),
                "latency ÷ float32": _f(r["latency_ratio"]),
                "peak memory ÷ float32": _f(r["memory_ratio"]),
                "ran in": r.get("ran_dtypes_reduced") or "n/a",
                "ops that ran in float32": r.get("fallback_ops_reduced") or "none",
            })
        doc.append(Para("Each reduced-precision case against its float32 twin at the block's "
                        "largest N. 'Ran in' lists the dtypes of the operators' results; an op "
                        "whose result was float32 in a reduced-precision case is named. "
                        "precision.csv holds every shape."))
        doc.append(Table(pd.DataFrame(rows)))
    return doc


def context_section(result: an.Analysis) -> list[Element]:
    t = result.context
    if not len(t):
        return []
    rows = []
    for _, r in t.iterrows():
        rows.append({
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "network": r["network"], "attention": r["attention"], "mode": r["mode"],
            "batch": _int(r["batch"]), "input": f"{_int(r['h'])}×{_int(r['w'])}",
            "GMACs (model)": _g(r["gmacs"], 4),
            "published GMACs": (f"{_g(r['published_gmacs'], 3)} ({r['published_source']})"
                                if _finite(r["published_gmacs"]) else ""),
            "parameters": _int(r["parameters"]),
            "latency (ms)": _g(r["latency"] * 1e3),
            "peak memory": format_bytes(r["memory"]),
            "latency overhead": f"{_f(r['latency_overhead_pct'], 1)}%",
            "memory overhead (measured / model)":
                f"{_f(r['memory_overhead_pct'], 1)}% / {_f(r['memory_overhead_pct_model'], 1)}%",
            "MACs overhead (model)": f"{_f(r['macs_overhead_pct_model'], 2)}%",
            "parameters overhead": f"{_f(r['parameters_overhead_pct'], 1)}%",
        })
    return [Heading(2, "In context: what each block adds to the network"), Para(
        "Each attention variant of a network against the same network without attention, at "
        "the same input, batch, mode and dtype. Overheads are in % over the plain network: "
        "latency and peak memory measured, MACs and peak memory also from the model. A "
        "published figure is given where one exists, with its source (multiply-adds)."),
        Table(pd.DataFrame(rows))]


def counters_section(result: an.Analysis) -> list[Element]:
    t = result.counters
    if not len(t):
        return []
    rows = []
    for _, r in t.iterrows():
        row = {**({"run": r["run"]} if len(result.runs) > 1 else {}),
               "block": _label(result, r["block"], short=True), "N": _n(r["positions"]),
               "model MACs": _int(r["model"])}
        for name in an.COUNTER_COLUMNS.values():
            value, ratio = r[name], r[f"{name} ÷ model"]
            row[name] = ("n/a" if not _finite(value) else
                         _int(value) + ("" if value == r["model"] else f" ({_g(ratio, 4)}×)"))
        rows.append(row)
    return [Heading(2, "What the field's counters report"), Para(
        "Each counter's total at the block's largest N, in MACs (FlopCounterMode's 2 per MAC "
        "halved), against the model; a ratio follows a count that differs. `a2bench audit` "
        "says what each one missed or added."), Table(pd.DataFrame(rows))]


def comparison_section(result: an.Analysis) -> list[Element]:
    if len(result.runs) < 2:
        return []
    doc: list[Element] = [Heading(2, "Runs side by side")]
    cmp = result.comparison
    if not len(cmp):
        return doc + [Para("The runs share no case (same block and sizes), so only their fits "
                           "above can be compared.")]
    runs = result.labels
    rows = []
    for _, r in cmp.head(MAX_TABLE_ROWS).iterrows():
        row = {"block": _label(result, r["block"], short=True),
               "size": f"{_int(r['t']) + '×' if r['t'] > 1 else ''}{_int(r['h'])}×{_int(r['w'])}"
                       f" c={_int(r['channels'])} b={_int(r['batch'])}",
               "N": _int(r["positions"])}
        for run in runs:
            row[f"{run} latency (ms)"] = _g(r[run] * 1e3)
        for run in runs[1:]:
            row[f"{run} ÷ {runs[0]}"] = _g(r[f"ratio {run} / {runs[0]}"])
        rows.append(row)
    doc.append(Para(f"Cases measured in every run (same block and sizes), median latency. "
                    f"{len(cmp)} cases matched"
                    + (f"; the first {MAX_TABLE_ROWS} are shown." if len(cmp) > MAX_TABLE_ROWS
                       else ".")))
    doc.append(Table(pd.DataFrame(rows)))
    return doc


def failures_section(result: an.Analysis) -> list[Element]:
    bad = result.data[result.data["status"] != "ok"]
    if not len(bad):
        return []
    rows = [{
        **({"run": r["run"]} if len(result.runs) > 1 else {}),
        "block": _label(result, r["block"], short=True), "size": r["size"], "status": r["status"],
        "reason": str(r["reason"] or "")[:160],
    } for _, r in bad.head(MAX_TABLE_ROWS).iterrows()]
    return [Heading(2, "Cases without a measurement"),
            Para(f"{len(bad)} stored case(s) did not finish ok and are left out of every fit."),
            Table(pd.DataFrame(rows))]


def method_section() -> list[Element]:
    return [
        Heading(2, "How these numbers were computed"),
        Bullets((
            "Only rows with status ok enter the analysis; a case stored twice counts once.",
            "Axes: positions N = t·h·w (h and w zipped, or t for clips, move N together), "
            "batch, channels, m, n, t and SE reduction r. An axis is fitted for a block where it "
            "takes at least two values with every other size fixed; where several such groups "
            "exist each is fitted (fits.csv) and the one with the most values is shown.",
            "MACs are the measured counter (torch FlopCounterMode, halved to MACs; fvcore where "
            "torch's is missing), latency the median of the timed runs, memory the measured "
            "peak of allocated bytes above the input.",
            "Latency fits use the per-size median of the raw samples, pooled over the passes "
            "(each pass a fresh worker process, cases in a seeded random order). The overhead "
            "is measured directly as well: the block at its smallest shape (t = h = w = 1) "
            "through the same timing path (environment.json, overhead).",
            "Cache sizes come from /sys/devices/system/cpu/cpu0/cache, or the GPU's device "
            "properties; getconf's figures are shown beside them only where they differ, as "
            "they can be wrong. A cliff names a cache only when the working set (the cost "
            "model's live peak plus the input) crosses its size between the two sizes in "
            "question.",
            "The GEMM ceiling is the best of 5 timings of at least 0.5 s at several sizes, "
            "measured at the start and at the end of the sweep; the larger is used and the "
            "drift between them is reported.",
        )),
    ]


# ---------------------------------------------------------------------------------------------
# Rendering


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Iterable[Element]) -> str:
    parts: list[str] = []
    for el in doc:
        if isinstance(el, Heading):
            parts.append(f"{'#' * el.level} {el.text}")
        elif isinstance(el, Para):
            parts.append(el.text)
        elif isinstance(el, Bullets):
            parts.append("\n".join(f"- {item}" for item in el.items))
        elif isinstance(el, Table):
            cols = [str(c) for c in el.frame.columns]
            lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |",
                     "|" + "|".join("---" for _ in cols) + "|"]
            lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |"
                      for row in el.frame.itertuples(index=False)]
            if el.caption:
                lines.insert(0, f"*{el.caption}*\n")
            parts.append("\n".join(lines))
        elif isinstance(el, Image):
            parts.append(f"![{el.alt}]({el.file})\n\n*{el.caption}*")
    return "\n\n".join(parts) + "\n"


_CSS = """
body { font-family: system-ui, -apple-system, 'DejaVu Sans', sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .86rem; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr:nth-child(even) td { background: #fafafa; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: .3rem; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9rem; color: #444; margin-top: .3rem; }
"""


def to_html(doc: Iterable[Element], title: str) -> str:
    e = html.escape
    body: list[str] = []
    for el in doc:
        if isinstance(el, Heading):
            body.append(f"<h{el.level}>{e(el.text)}</h{el.level}>")
        elif isinstance(el, Para):
            body.append(f"<p>{e(el.text)}</p>")
        elif isinstance(el, Bullets):
            body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in el.items) + "</ul>")
        elif isinstance(el, Table):
            head = "".join(f"<th>{e(str(c))}</th>" for c in el.frame.columns)
            rows = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>"
                           for row in el.frame.itertuples(index=False))
            cap = f"<caption>{e(el.caption)}</caption>" if el.caption else ""
            body.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
                        "</table>")
        elif isinstance(el, Image):
            body.append(f'<figure><img src="{e(el.file)}" alt="{e(el.alt)}">'
                        f"<figcaption>{e(el.caption)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
