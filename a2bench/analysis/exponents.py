"""Scaling exponents: every swept group of every block fitted along each axis, per metric, with
its verdict against the cost model (fit_exponents), the rows behind one fit (fit_points), the
complexity classes along positions N, and the steepest step of a measured cost.

Choices, stated once (the method itself is in a2bench.fitting):
- An axis counts as swept for a block when it takes >= 2 distinct values with every other size
  parameter fixed. Positions N = t*h*w is one axis (the cost models depend on N only), so zipped
  h, w (and t) are fitted against N. Every such group is fitted; per (run, block, axis) the group
  with the most distinct values is marked ``primary`` (its main window only) and is the one the
  headline and tables read (the fit figures draw the others beside it). Ties go to the group
  the most of the run's blocks measured (so two blocks are read at the same fixed sizes), then
  to the most rows, then to the largest fixed sizes, where a per-call overhead weighs least.
- Each metric is fitted as t = a + b·x^k; the exponent is read on the window where the overhead
  a is under 5 % of the metric and, for latency, no cache boundary of the run's measured caches
  lies inside. Rows past a boundary form another window (segment 1, 2, ...), fitted and
  reported beside the main one.
- The expected exponent is the slope of the cost model's numbers over the same window: analytic
  MACs for ``macs``, analytic FLOPs for ``latency`` (all the arithmetic, so SE's elementwise
  work counts), analytic peak bytes for ``memory``. A counted block (no cost(); macs_source
  ``counted``) is judged against its counted MACs for ``macs`` and ``latency`` (the FLOPs the
  counter sees, 2 per MAC), and has no memory verdict: nothing models its memory
  (``expected_from`` says which: model or counted).
- Verdicts: consistent, contradicted or inconclusive, each with its reason (a2bench.fitting).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from a2bench import fitting as ft
from a2bench.analysis import passes
from a2bench.analysis.columns import (
    FIT_COLUMNS,
    METRICS,
    axes,
    fixed_columns,
    group_label,
    hosts_of,
)
from a2bench.analysis.load import ok_rows
from a2bench.analysis.roofline import run_ceiling, throughput
from a2bench.formatting import size as size_text

VERDICTS = ft.VERDICTS
BOOTSTRAP_RESAMPLES = ft.BOOTSTRAP_RESAMPLES
BOOTSTRAP_SEED = ft.BOOTSTRAP_SEED
# What a swept group always holds fixed, besides the sizes (fixed_columns).
_IDENTITY = ("run", "block", "device", "dtype")


def _model_column(metric: str) -> str:
    # Latency follows all the arithmetic, not the MACs alone: SE's MACs do not grow with N, its
    # pooling and scaling do. For the attention blocks FLOPs and 2·MACs differ by a few percent.
    return {"memory": "peak_bytes_analytic", "latency": "flops_analytic"}.get(metric,
                                                                              "macs_analytic")


def counted_rows(rows: pd.DataFrame) -> pd.Series:
    """Rows of a counted block (no cost model): their MACs come from the counters."""
    if "macs_source" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["macs_source"].astype(str) == "counted"


def model_values(rows: pd.DataFrame, metric: str) -> pd.Series:
    """The model's number per row for a metric: the analytic column, or for a counted block
    the counted MACs (``macs``), as FLOPs for latency; NaN for a counted block's memory."""
    column = _model_column(metric)
    values = (pd.to_numeric(rows[column], errors="coerce").astype(float) if column in rows
              else pd.Series(math.nan, index=rows.index))
    counted = counted_rows(rows)
    if metric != "memory" and counted.any() and "macs" in rows:
        macs = pd.to_numeric(rows["macs"], errors="coerce").astype(float)
        values = values.where(~counted, macs * (2 if metric == "latency" else 1))
    return values


NO_MODEL = "no cost model: the block gives no cost(), so its memory is measured, not judged"


def _axis_values(df: pd.DataFrame, axis: str) -> pd.Series:
    return df["positions"] if axis == "positions" else df[axis]



def swept_groups(df: pd.DataFrame, axis: str) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """(identity and fixed sizes, rows) for every group in which ``axis`` takes >= 2 values."""
    ok = ok_rows(df)
    ok = ok[_axis_values(ok, axis).notna()]
    keys = [*_IDENTITY, *fixed_columns(df, axis)]
    out = []
    for values, rows in ok.groupby(keys, dropna=False, sort=True):
        if _axis_values(rows, axis).nunique() >= 2:
            out.append((dict(zip(keys, values, strict=True)), rows))
    return out


def run_thresholds(env: Mapping[str, Any]) -> dict[str, float]:
    """Single-allocation sizes past which every call pays more per byte: glibc's mmap threshold
    on a CPU run (a2bench.measure.environment.allocator); {} where none was recorded."""
    size = (env.get("allocator") or {}).get("mmap_threshold_bytes")
    return {MMAP: float(size)} if isinstance(size, (int, float)) and size > 0 else {}


MMAP = "mmap threshold"


def _bounds(x: np.ndarray, working_set: np.ndarray, largest: np.ndarray,
            env: Mapping[str, Any]) -> list[ft.Boundary]:
    """Where the working set passes a cache, or the largest single activation the allocator's
    mmap threshold: the latency windows never straddle either."""
    found = ft.boundaries(x, working_set, run_caches(env))
    found += ft.boundaries(x, largest, run_thresholds(env))
    return sorted(found, key=lambda b: (b.x_from, b.cache_bytes))


def run_caches(env: Mapping[str, Any]) -> dict[str, float]:
    """The cache sizes a2bench run recorded (bytes by level name); {} for older runs. A run
    that chose its own sizes measured the last level it got (copy bandwidth) and planned
    around it: its windows are cut where its sizes were chosen, at the caches it used."""
    caches = (env.get("auto_sizes") or {}).get("caches_used") or env.get("caches") or {}
    return {str(k): float(v) for k, v in caches.items() if isinstance(v, (int, float)) and v > 0}


def direct_overhead(env: Mapping[str, Any], block: str, fixed: Mapping[str, Any],
                    kind: Mapping[str, Any] | None = None) -> float:
    """The run's own timing of this block at the smallest legal shape (summarised as cases are:
    the low quantile of the samples, for entries that kept them), matched on the sizes
    held fixed; the block's smallest such timing where none matches (other axes); NaN if none.
    Only entries of the same kind count: `kind` (the rows' dtype, mode and compile) where an
    entry records them, and each choice the block's name carries (nonlocal[sdpa]: impl sdpa),
    so that a compiled or train step's timing never stands for an eager forward's."""
    kind = kind or {}
    name, _, variant = block.partition("[")
    # the name's parts that are the block's own choices; dtype, train and compiled are `kind`
    choices = [p.strip() for p in variant.rstrip("]").split(",")
               if p.strip() and p.strip() not in ("train", "compiled", kind.get("dtype"))]

    def same_kind(e: Mapping[str, Any]) -> bool:
        values = {str(v) for v in e.values()}
        return all(c in values for c in choices) and all(
            k not in e or (bool(e[k]) == bool(v) if k == "compile" else str(e[k]) == str(v))
            for k, v in kind.items())

    entries = [e for e in ((env.get("overhead") or {}).get("cases") or [])
               if e.get("block") == name and isinstance(e.get("median_s"), (int, float))
               and same_kind(e)]
    if not entries:
        return math.nan

    def same(e: Mapping[str, Any]) -> bool:
        for c, v in fixed.items():
            if c not in e or c in ("t", "h", "w"):
                continue
            if (v is None or (isinstance(v, float) and math.isnan(v))) != (e[c] is None):
                return False
            if e[c] is not None and v is not None and float(e[c]) != float(v):
                return False
        return True

    matched = [e for e in entries if same(e)]
    return float(min(_entry_time(e) for e in (matched or entries)))


def _entry_time(entry: Mapping[str, Any]) -> float:
    """An overhead entry summarised like a case: the low quantile of its raw samples."""
    samples = [s for s in entry.get("samples_s") or [] if isinstance(s, (int, float))]
    return float(ft.summary_of(np.asarray(samples))) if samples else float(entry["median_s"])


def per_size(rows: pd.DataFrame, axis: str, column: str, at: np.ndarray) -> np.ndarray:
    """A model column's value at each swept value in ``at`` (NaN where missing)."""
    s = ft.summarise(_axis_values(rows, axis).to_numpy(float), rows[column].to_numpy(float))
    return np.array([s.y[s.x == v][0] if (s.x == v).any() else math.nan for v in at])


def _sizes_for(rows: pd.DataFrame, axis: str, metric: str
               ) -> tuple[ft.Sizes, ft.Sizes, np.ndarray, np.ndarray]:
    """The metric, its model, the working set and the largest activation, one per value."""
    x = _axis_values(rows, axis).to_numpy(float)
    y = rows[metric].to_numpy(float)
    samples = list(rows["samples"]) if metric == "latency" and "samples" in rows else None
    sizes = ft.summarise(x, y, samples)
    model = ft.summarise(x, model_values(rows, metric).to_numpy(float))
    return (sizes, model, per_size(rows, axis, "working_set_bytes", sizes.x),
            per_size(rows, axis, "largest_activation_bytes", sizes.x))


def _model_slope(model: ft.Sizes, x: np.ndarray) -> float:
    sel = np.isin(model.x, x)
    if sel.sum() < 2 or sel.sum() != len(x):
        return math.nan
    return float(np.polyfit(np.log(model.x[sel]), np.log(model.y[sel]), 1)[0])


EXACT_SHARE = 0.001  # MACs or peaks this close to the model at every size equal it
EXACT_SIZES = 3  # ... over at least this many sizes, to say it of a growth


def _equals_model(y: np.ndarray, want: np.ndarray) -> bool:
    """Whether measured `y` equal the model's `want`, size by size, within EXACT_SHARE."""
    return bool(np.all(np.isfinite(want) & (want > 0))
                and np.all(np.abs(y / want - 1) <= EXACT_SHARE))


def _overhead_below(full: ft.PowerFit, sizes: ft.Sizes, share: float,
                    cut: float | None) -> float:
    """The size above which the overhead is under `share` of the time: on the fitted curve, or,
    where too few sizes gave no curve, the first swept size from which every measured time is
    over overhead ÷ share (0: all of them; inf: none). Three sizes had read "under 5 % at every
    size" where the overhead timed directly was half of each."""
    if math.isfinite(full.k) or cut is None or not len(sizes):
        return full.overhead_below(share, cut)
    clear = sizes.y * share > cut
    if clear.all():
        return 0.0
    last = int(np.flatnonzero(~clear)[-1])
    return float(sizes.x[last + 1]) if last + 1 < len(sizes) else math.inf


# A latency growing by less than this exponent over the whole sweep, where the model's grows by
# more, is read as possibly all overhead when no overhead was timed directly (fit_group).
FLAT_GROWTH = 0.1


def fit_group(rows: pd.DataFrame, axis: str, metric: str, env: Mapping[str, Any],
              direct: float = math.nan, *, resamples: int = ft.BOOTSTRAP_RESAMPLES,
              seed: int = ft.BOOTSTRAP_SEED) -> list[dict[str, Any]]:
    """Every window of one metric along one axis: the main one (segment 0) first."""
    sizes, model, working_set, largest = _sizes_for(rows, axis, metric)
    counted = bool(counted_rows(rows).any())
    full = ft.fit_power(sizes.x, sizes.y, sizes.log_se) if len(sizes) >= 4 else ft.NAN_FIT
    # Latency's window is cut where the overhead is under 5 % of the time: the cost model has
    # no term for it. A direct timing of the block at its smallest shape is the cleaner
    # estimate when there is one. MACs and memory are compared with a model that holds their
    # constant terms too (SE's MACs along N, the 2mnN of double attention along c), so every
    # row is in their window; their fitted a is still reported.
    overhead = (direct if math.isfinite(direct) else full.a) if metric == "latency" else 0.0
    if not math.isfinite(overhead):
        overhead = 0.0
    # Without a direct timing, a latency that does not grow cannot tell the overhead from the
    # block's work: a + b·x^k with k near 0 splits one constant anyhow, often a = 0, and every
    # size then read "overhead under 5 %" (a simulated flat sweep was called contradicted half
    # the time). The fastest size bounds the overhead instead, so no size is clear of it.
    growth = (float(np.polyfit(np.log(sizes.x), np.log(sizes.y), 1)[0])
              if metric == "latency" and len(sizes) >= 2 else math.nan)
    flat = (not math.isfinite(direct) and growth < FLAT_GROWTH
            and _model_slope(model, sizes.x) >= FLAT_GROWTH)
    if flat:
        overhead = float(sizes.y.min())
    # A fitted overhead is an estimate: each window's interval carries its error (ft.exponent)
    fitted = (ft.FittedOverhead(sizes, full.a, full.b, full.k)
              if metric == "latency" and not math.isfinite(direct) and not flat
              and math.isfinite(full.a) else None)
    # the overhead that cuts the window (latency's, timed where it was) against the fitted curve
    cut = overhead if metric == "latency" and overhead > 0 else None
    bounds = _bounds(sizes.x, working_set, largest, env) if metric == "latency" else []
    step = ft.transition(working_set, run_caches(env)) if metric == "latency" else None
    base = {
        "swept_values": len(sizes),
        "overhead": full.a, "overhead_ci_low": full.a_low, "overhead_ci_high": full.a_high,
        "overhead_direct": direct if metric == "latency" else math.nan,
        "overhead_used": overhead,
        # where the overhead the window is cut by (latency's, timed where it was) is half and
        # 5 % of the fitted curve: the window's first size, not the fitted a's, when they differ
        "x_overhead_half": _overhead_below(full, sizes, 0.5, cut),
        "x_overhead_5pct": _overhead_below(full, sizes, ft.OVERHEAD_SHARE, cut),
        "exponent_full": full.k,
        "cache_boundaries": "; ".join(f"{b.cache} between {b.x_from:g} and {b.x_to:g}"
                                      for b in bounds),
        "expected_from": "counted" if counted else "model",
    }
    out = []
    for win in ft.windows(sizes.x, sizes.y, overhead, bounds, step):
        sub = sizes.take(win.mask)
        e = ft.exponent(sub, overhead, resamples=resamples, seed=seed,
                        robust=metric == "latency", fitted=fitted)
        expected = _model_slope(model, sub.x)
        # The class under test is the model's own growth, read with the same a + b·x^k form:
        # MACs of m·(2nN + 2cN) + 2cnN along m are class 1 though their log-log slope is 0.5.
        sel = np.isin(model.x, sub.x)  # the model at the window's sizes
        own = ft.fit_power(model.x[sel], model.y[sel]) if sel.sum() >= 4 else ft.NAN_FIT
        k0, k1 = ft.classes(own.k if math.isfinite(own.k) else expected)
        dbic = math.nan
        at = dict(zip(model.x, model.y, strict=True))
        shape = np.array([at.get(v, math.nan) for v in sub.x], float)  # the model, size by size
        if len(sub) >= ft.MIN_WINDOW:
            k0, k1, dbic = ft.class_evidence(sub, own.k if math.isfinite(own.k) else expected,
                                             shape)
        # MACs and memory read every size (the overhead and the caches play no part): their
        # window and a short window's reason say so
        window = why = win.note
        if metric != "latency":
            span = f"{size_text(sub.x.min())}–{size_text(sub.x.max())}" if len(sub) else ""
            window = (f"all {len(sub)} sizes {span} (the model holds its constant terms too)"
                      if len(sub) else "no size")
            why = f"every size swept, {span}" if len(sub) else ""
        v = ft.decide(expected, e.ci90, dbic, len(sub), k1, window_note=why,
                      need_bic=metric == "latency", expected_class=k0)
        if flat and v.verdict == "inconclusive":
            v = ft.Verdict(v.verdict, f"{v.reason}; the latency does not grow over the "
                           f"sizes swept (log-log slope {growth:.2f} over all of them) and no "
                           "overhead was timed directly: it may be all per-call overhead")
        if metric != "latency" and v.verdict in ("inconclusive", "contradicted") \
                and len(sub) >= EXACT_SIZES and not counted and _equals_model(sub.y, shape):
            # measured = modelled at every size: its growth is the model's, whatever a pure
            # power's interval makes of a + b·c (peaks to the byte along c read 0.22 [-0.15,
            # 0.59], inconclusive)
            v = ft.Verdict("consistent", f"equals the model within {EXACT_SHARE:.1%} at every "
                           f"size swept ({len(sub)})")
        if counted and metric == "memory":  # absent, not inconclusive: there is no model
            v = ft.Verdict("", NO_MODEL)
        scatter = passes.pass_scatter(sub.samples) if metric == "latency" else math.nan
        note = passes.noisy_passes_note(scatter, passes.median_passes(sub.samples))
        # A window too small is inconclusive for want of sizes, whatever its passes did
        if v.verdict == "inconclusive" and note and len(sub) >= ft.MIN_WINDOW:
            v = ft.Verdict(v.verdict, f"{v.reason}; {note}")
        hosts = window_hosts(rows, axis, sub.x)
        if metric == "latency" and len(hosts) > 1 and v.verdict:
            v = ft.Verdict("inconclusive", across_nodes(hosts) if v.verdict != "inconclusive"
                           else f"{v.reason}; and {across_nodes(hosts)}")
        rec = {
            "exponent": e.k, "ci_low": e.ci95[0], "ci_high": e.ci95[1], "expected": expected,
            "verdict": v.verdict, "reason": v.reason, "segment": win.segment,
            "points": len(sub), "hosts": ", ".join(hosts),
            "window": window,
            "fit_x_min": float(sub.x.min()) if len(sub) else math.nan,
            "fit_x_max": float(sub.x.max()) if len(sub) else math.nan,
            "ci90_low": e.ci90[0], "ci90_high": e.ci90[1], "interval_from": e.interval_from,
            "t_ci_low": e.t95[0], "t_ci_high": e.t95[1],
            "bootstrap_ci_low": e.boot95[0], "bootstrap_ci_high": e.boot95[1],
            "expected_class": k0, "competitor": k1, "delta_bic": dbic,
            "overhead_share_max": float((overhead / sub.y).max()) if len(sub) else math.nan,
            "pass_scatter": scatter,
            "intercept": e.intercept,
            "log_x_mean": float(np.log(sub.x).mean()) if len(sub) else math.nan,
            **base,
        }
        if metric == "latency" and len(sub) >= 2:
            tp = throughput(shape, sub.y)  # the model size by size (NaN where it has none)
            ceiling = _gemm_ceiling(env, hosts)
            rec.update(throughput_t0=tp.t0, achieved_flops_per_s=tp.rate,
                       fraction_of_ceiling=tp.rate / ceiling if ceiling > 0 else math.nan)
        out.append(rec)
    return out


def _gemm_ceiling(env: Mapping[str, Any], hosts: Sequence[str]) -> float:
    """The run's GEMM ceiling (its main dtype's); a window one node measured reads that node's
    own, where a Slurm partition kept each node's (roofline.run_ceiling)."""
    return run_ceiling(env, (env.get("roofline") or {}).get("dtype"), "gemm_flops_per_s",
                       hosts[0] if len(hosts) == 1 else "")


def window_hosts(rows: pd.DataFrame, axis: str, at: np.ndarray) -> list[str]:
    """The machines (records' `host`) that measured a window's sizes, sorted."""
    return hosts_of(rows.loc[_axis_values(rows, axis).isin(at), "host"])


def across_nodes(hosts: Sequence[str]) -> str:
    """Why a latency fit over several machines decides nothing. Its interval comes from the
    passes, processes on one machine, so a difference between machines (clocks, memory, a
    slower part) is not in it and reads as growth between the sizes each one ran."""
    return (f"its sizes ran on {len(hosts)} nodes ({', '.join(hosts)}): their difference is "
            "read as growth and is not in the interval (a2bench run --split findings, "
            "Slurm's default, keeps a finding on one node)")


FITS_EXTRA_COLUMNS = (
    "reason", "run", "device", "dtype", "group", "primary", "segment", "points", "hosts",
    "swept_values", "window", "fit_x_min", "fit_x_max", "ci90_low", "ci90_high",
    "interval_from", "t_ci_low", "t_ci_high", "bootstrap_ci_low", "bootstrap_ci_high",
    "expected_class", "competitor", "delta_bic", "overhead", "overhead_ci_low",
    "overhead_ci_high", "overhead_direct", "overhead_used", "overhead_share_max",
    "x_overhead_half", "x_overhead_5pct", "exponent_full", "cache_boundaries",
    "achieved_flops_per_s", "fraction_of_ceiling", "throughput_t0", "intercept", "log_x_mean",
    "expected_from", "pass_scatter",
)


def fit_exponents(df: pd.DataFrame, environments: Mapping[str, Mapping[str, Any]] | None = None,
                  *, resamples: int = ft.BOOTSTRAP_RESAMPLES,
                  seed: int = ft.BOOTSTRAP_SEED) -> pd.DataFrame:
    """One row per (run, block, metric, axis, group, window): FIT_COLUMNS first, then details.

    ``primary`` marks, per (run, block, metric, axis), the main window of the group with the
    most swept values (ties: see the module's docstring); the headline and tables read those.
    """
    environments = environments or {}
    records: list[dict[str, Any]] = []
    for axis in axes(df):
        groups = swept_groups(df, axis)
        where = [(ident["run"], ident["device"], ident["dtype"],
                  group_label({c: ident[c] for c in fixed_columns(df, axis)}))
                 for ident, _ in groups]
        shared = Counter(where)  # how many of a run's blocks measured each group
        best: dict[tuple[Any, ...], tuple[tuple[int, ...], int]] = {}
        for i, (ident, rows) in enumerate(groups):
            k = (ident["run"], ident["block"], ident["device"], ident["dtype"])
            # groups come in sorted order, so the later of a tie has the larger fixed sizes
            size = (_axis_values(rows, axis).nunique(), shared[where[i]], len(rows), i)
            if k not in best or size > best[k][0]:
                best[k] = (size, i)
        primary = {i for _, i in best.values()}
        for i, (ident, rows) in enumerate(groups):
            env = environments.get(ident["run"]) or {}
            fixed = {c: ident[c] for c in fixed_columns(df, axis)}
            kind = {k: rows[k].iloc[0] for k in ("dtype", "mode", "compile") if k in rows}
            direct = direct_overhead(env, ident["block"], fixed, kind)
            for metric in METRICS:
                values = pd.to_numeric(rows[metric], errors="coerce")
                if not (values > 0).any():  # e.g. MACs no counter can see (declared)
                    continue
                for rec in fit_group(rows, axis, metric, env, direct, resamples=resamples,
                                     seed=seed):
                    records.append({
                        "block": ident["block"], "metric": metric, "axis": axis,
                        "run": ident["run"], "device": ident["device"], "dtype": ident["dtype"],
                        "group": group_label(fixed),
                        "primary": i in primary and rec["segment"] == 0,
                        **rec, **{f"fixed_{c}": v for c, v in fixed.items()},
                    })
    columns = [*FIT_COLUMNS, *FITS_EXTRA_COLUMNS]
    out = pd.DataFrame.from_records(records)
    if out.empty:
        return pd.DataFrame(columns=columns)
    for c in columns:
        if c not in out:
            out[c] = math.nan
    fixed_cols = sorted(c for c in out.columns if c.startswith("fixed_"))
    order = {r: i for i, r in enumerate(dict.fromkeys(df["run"]))}
    out = out.sort_values("run", key=lambda r: r.map(order), kind="stable")
    return out[columns + fixed_cols].reset_index(drop=True)


def fit_points(data: pd.DataFrame, fit: Mapping[str, Any]) -> pd.DataFrame:
    """The rows behind one fit: x, y, the model's y, and whether the row is in its window."""
    axis, metric = fit["axis"], fit["metric"]
    rows = ok_rows(data)
    rows = rows[(rows["run"] == fit["run"]) & (rows["block"] == fit["block"])
                & (rows["device"] == fit["device"]) & (rows["dtype"] == fit["dtype"])]
    for c in fixed_columns(data, axis):
        v = fit.get(f"fixed_{c}")
        rows = rows[rows[c].isna()] if v is None or pd.isna(v) else rows[rows[c] == v]
    x = _axis_values(rows, axis).to_numpy(float)
    shown = "latency_fit" if metric == "latency" else metric  # what the fit reads, per row
    out = pd.DataFrame({"x": x, "y": rows[shown].to_numpy(float),
                        "model": model_values(rows, metric).to_numpy(float),
                        "largest_activation_bytes": rows["largest_activation_bytes"]
                        .to_numpy(float),
                        "working_set_bytes": rows["working_set_bytes"].to_numpy(float),
                        "size": rows["size"].to_numpy(), "block": fit["block"],
                        "run": fit["run"]})
    lo, hi = fit.get("fit_x_min", math.nan), fit.get("fit_x_max", math.nan)
    out["fitted"] = (out["x"] >= lo) & (out["x"] <= hi) if pd.notna(lo) else False
    out = out[np.isfinite(out["y"]) & (out["y"] > 0)]
    return out.sort_values("x", ignore_index=True)


COMPLEXITY_METRICS = ("macs", "latency")
COMPLEXITY_COLUMNS = ("run", "device", "dtype", "block", "metric", "group", "points", "exponent",
                      "ci_low", "ci_high", "expected", "expected_class", "competitor",
                      "delta_bic", "verdict", "reason", "expected_from")


def complexity_classes(fits: pd.DataFrame) -> pd.DataFrame:
    """Per run, block and metric (MACs, latency): the class its cost grows in along positions N,
    each against its own cost model. From the primary positions fits: the measured exponent
    with its 95% interval, the model's exponent over the same window (``expected``), the class
    the model predicts (``expected_class``, e.g. 1, 1.5 or 2) and the one it is tested against
    (``competitor``) with ΔBIC (> 0 favours the model: its own curve, a + b·model, against the
    competing class), and the verdict with its reason.
    Classes are floats; a model without a class (NaN exponent) has NaN there."""
    if fits.empty:
        return pd.DataFrame(columns=list(COMPLEXITY_COLUMNS))
    sel = fits[fits["primary"].astype(bool) & (fits["axis"] == "positions")
               & fits["metric"].isin(COMPLEXITY_METRICS)]
    out = sel[[c for c in COMPLEXITY_COLUMNS if c in sel]].copy()
    for c in ("expected_class", "competitor"):
        v = pd.to_numeric(out[c], errors="coerce").astype(float)
        out[c] = v.where(v != ft.NO_CLASS)
    runs = {r: i for i, r in enumerate(dict.fromkeys(fits["run"]))}
    blocks = {b: i for i, b in enumerate(dict.fromkeys(fits["block"]))}
    out = out.assign(_r=out["run"].map(runs), _b=out["block"].map(blocks),
                     _m=out["metric"].map({m: i for i, m in enumerate(COMPLEXITY_METRICS)}))
    out = out.sort_values(["_r", "_b", "_m"], kind="stable").drop(columns=["_r", "_b", "_m"])
    return out[list(COMPLEXITY_COLUMNS)].reset_index(drop=True)


@dataclass(frozen=True)
class Step:
    x_from: float
    x_to: float
    exponent: float  # local log-log slope of the measured cost over this step
    expected: float  # the model's local slope over the same step


def steepest_step(x: Sequence[float], y: Sequence[float],
                  model: Sequence[float] | None = None) -> Step | None:
    """The step between consecutive swept values where the cost outpaces the model the most.

    A cost that leaves a cache level shows up as one step much steeper than the model. Only
    sustained steps count: a rise that a later, larger size undoes is a noisy point, not a cliff.
    """
    m = np.full(len(x), math.nan) if model is None else np.asarray(model, float)
    f = pd.DataFrame({"x": np.asarray(x, float), "y": np.asarray(y, float), "m": m})
    f = f[(f["x"] > 0) & (f["y"] > 0)]
    if f["x"].nunique() < 2:
        return None
    per_x = f.groupby("x").agg(ly=("y", lambda v: np.log(v).mean()),
                               lm=("m", lambda v: np.log(v).mean() if (v > 0).all() else np.nan))
    lx = np.log(per_x.index.to_numpy(float))
    ly, lm = per_x["ly"].to_numpy(float), per_x["lm"].to_numpy(float)
    local, local_model = np.diff(ly) / np.diff(lx), np.diff(lm) / np.diff(lx)
    excess = local - np.nan_to_num(local_model, nan=0.0)
    sustained = np.array([ly[i + 1:].min() >= ly[i + 1] - 1e-12 for i in range(len(local))])
    if not sustained.any():
        return None
    i = int(np.argmax(np.where(sustained, excess, -np.inf)))
    return Step(float(per_x.index[i]), float(per_x.index[i + 1]), float(local[i]),
                float(local_model[i]))

