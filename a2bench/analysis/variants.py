"""Variants of a case set beside each other: training against inference and compiled against
eager (mode_pairs, compile_pairs, with their trends along N), reduced precision against
float32, a network with each attention block against the same network without (in_context,
with PUBLISHED_MACS), the field's MAC counters against the model, and several runs side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from a2bench.analysis.columns import hosts_of, size_columns
from a2bench.analysis.load import ok_rows

# ---------------------------------------------------------------------------------------------
# Training against inference, compiled against eager


def _twins(df: pd.DataFrame, axis: str, first: Any, second: Any,
           extra: Sequence[str] = ()) -> pd.DataFrame:
    """Rows with `axis` == first beside their twin with `axis` == second: the same run, block
    variant and shape, and the same values of the other run axes (dtype, mode, compile). Each
    side's full block name (as fits and tables name it) is kept as block_<first|second>."""
    ok = ok_rows(df)
    if axis not in ok or ok.empty:
        return pd.DataFrame()
    sizes = [c for c in size_columns(ok) if c not in extra]  # an extra is no block parameter
    key = [c for c in ("run", "run_index", "device", "dtype", "variant", "mode", "compile",
                       *sizes, "positions", "shape") if c != axis]
    cols = [*key, axis, "block", "latency", "memory", "macs_analytic", "peak_bytes_analytic",
            "first_call_s", "host", *extra]
    cols = list(dict.fromkeys(c for c in cols if c in ok))
    a = ok[ok[axis] == first][cols].drop(columns=[axis])
    b = ok[ok[axis] == second][cols].drop(columns=[axis])
    if a.empty or b.empty:
        return pd.DataFrame()
    # Blocks without some parameter hold NaN there; a placeholder lets those rows match.
    fill = {c: -1.0 for c in sizes}
    merged = a.fillna(fill).merge(b.fillna(fill), on=[k for k in key if k in cols],
                                  suffixes=(f"_{first}", f"_{second}"))
    for c in sizes:
        if c in merged:
            merged[c] = merged[c].replace(-1.0, np.nan)
    # The machines that timed the two: a ratio of two machines' times holds their difference
    # (analysis.exponents.across_nodes), so the *_pairs below leave its latency unread.
    hosts = [hosts_of(pair) for pair in zip(merged[f"host_{first}"], merged[f"host_{second}"],
                                            strict=True)]
    merged["hosts"] = pd.Series([", ".join(h) for h in hosts], index=merged.index, dtype=object)
    merged["same_node"] = pd.Series([len(h) < 2 for h in hosts], index=merged.index, dtype=bool)
    merged = merged.drop(columns=[f"host_{v}" for v in (first, second)], errors="ignore")
    order = [c for c in ("run_index", "dtype", "variant", "mode", "compile", "positions")
             if c in merged]
    return merged.sort_values(order).rename(columns={"variant": "block"}).reset_index(drop=True)


def mode_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Each train case beside its forward twin: latency, peak memory (measured and modelled),
    saved activations, and the train ÷ forward ratios."""
    t = _twins(df, "mode", "forward", "train", ("saved_bytes_analytic",))
    if t.empty:
        return t
    t["latency_ratio"] = (t["latency_train"] / t["latency_forward"]).where(t["same_node"])
    t["memory_ratio"] = t["memory_train"] / t["memory_forward"]
    # What training adds in bytes: the N×N matrix's gradient and the saved activations. Its
    # exponent along N separates an order that keeps N² for the backward from one that keeps N.
    t["memory_extra"] = t["memory_train"] - t["memory_forward"]
    t["memory_ratio_model"] = t["peak_bytes_analytic_train"] / t["peak_bytes_analytic_forward"]
    t["memory_model_error"] = t["memory_train"] / t["peak_bytes_analytic_train"] - 1
    t["macs_ratio"] = t["macs_analytic_train"] / t["macs_analytic_forward"]
    t = t.rename(columns={"saved_bytes_analytic_train": "saved_bytes_analytic"})
    return t.drop(columns=["saved_bytes_analytic_forward"], errors="ignore")


# How far a compiled block's output may lie from the eager block's, by dtype: inductor fuses
# and reorders the same arithmetic, so in float32 the two agree to rounding (issue 28: 1e-4).
# Reduced precision rounds every fused intermediate differently: not judged.
COMPILE_TOLERANCE = {"float32": 1e-4, "float64": 1e-10}


def compile_pairs(df: pd.DataFrame, roof: pd.DataFrame) -> pd.DataFrame:
    """Each compiled case beside its eager twin: latency, speed-up, the first call (compile
    included), the fraction of the run's GEMM ceiling each reached, and whether the compiled
    output matched the eager one (`matches_eager`: within COMPILE_TOLERANCE; None where not
    judged or not measured)."""
    extra: tuple[str, ...] = ("compile_max_abs_error",) if "compile_max_abs_error" in df else ()
    if len(roof):
        sizes = [c for c in size_columns(df) if c in roof]
        key = ["run", "block", "dtype", *sizes]
        fill = {c: -1.0 for c in sizes}
        frac = roof[[*key, "fraction_of_peak"]].fillna(fill).drop_duplicates(subset=key)
        df = df.fillna(fill).merge(frac, on=key, how="left")
        for c in sizes:
            df[c] = df[c].replace(-1.0, np.nan)
        extra = (*extra, "fraction_of_peak")
    t = _twins(df, "compile", False, True, extra)
    if t.empty:
        return t
    t = t.rename(columns=lambda c: c.replace("_False", "_eager").replace("_True", "_compiled"))
    t["speedup"] = (t["latency_eager"] / t["latency_compiled"]).where(t["same_node"])
    t["compile_s"] = t["first_call_s_compiled"] - t["first_call_s_eager"]
    # The cost model follows eager autograd; a compiled training step saves what inductor's
    # partitioner chooses (it may recompute a tensor instead of keeping it), so its peak is
    # read against the eager twin's.
    t["memory_ratio"] = t["memory_compiled"] / t["memory_eager"]
    error = t.get("compile_max_abs_error_compiled", pd.Series(np.nan, index=t.index))
    limit = t["dtype"].map(COMPILE_TOLERANCE)
    t["compile_max_abs_error"] = error
    t["matches_eager"] = [None if pd.isna(e) or pd.isna(tol) else bool(e <= tol)
                          for e, tol in zip(error, limit, strict=True)]
    return t.drop(columns=["compile_max_abs_error_eager", "compile_max_abs_error_compiled"],
                  errors="ignore")


def precision_pairs(df: pd.DataFrame, reference: str = "float32") -> pd.DataFrame:
    """Each reduced-precision case beside its float32 twin: latency and peak memory ratios,
    and what the case actually ran in (ran_dtypes, fallback_ops)."""
    ok = ok_rows(df)
    if "dtype" not in ok:
        return pd.DataFrame()
    parts = []
    for other in sorted(set(ok["dtype"]) - {reference}):
        t = _twins(df, "dtype", reference, other, ("ran_dtypes", "fallback_ops"))
        if t.empty:
            continue
        names = {c: c.replace(f"_{reference}", "_reference").replace(f"_{other}", "_reduced")
                 for c in t.columns}
        t = t.rename(columns=names)
        t.insert(1, "dtype", other)
        t["latency_ratio"] = (t["latency_reduced"] / t["latency_reference"]).where(
            t["same_node"])
        t["memory_ratio"] = t["memory_reduced"] / t["memory_reference"]
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@dataclass(frozen=True)
class Trend:
    """How a ratio moves along positions N for one block: its values at the ends and the
    exponent of ratio ~ N^slope (least squares in log space) with its 95 % interval."""

    run: str
    dtype: str
    block: str  # the train or compiled variant it concerns, e.g. double_attention[train]
    what: str  # which quantity (memory_ratio, memory_extra, latency_ratio, speedup)
    n_from: float
    n_to: float
    ratio_from: float
    ratio_to: float
    slope: float
    slope_low: float
    slope_high: float
    points: int
    verdict: str  # grows, shrinks, flat, or too few sizes


TREND_FLAT = 0.05  # a slope whose 95 % interval lies within ±0.05 reads as flat
# (for memory_extra, bytes rather than a ratio, the slope is the exponent of N it grows with)
TREND_COLUMNS = tuple(f.name for f in fields(Trend))


def trends(pairs_frame: pd.DataFrame, what: str, fixed: Sequence[str],
           name: str = "block") -> pd.DataFrame:
    """Per (run, dtype, block, `fixed` columns): the trend of `what` along positions N. Each
    trend is named by the `name` column (block_train, block_compiled: the variant it is of)."""
    if pairs_frame.empty or what not in pairs_frame:
        return pd.DataFrame(columns=TREND_COLUMNS)
    from scipy import stats

    fixed = [c for c in fixed if c in pairs_frame]
    group = ["run", "dtype", name, *fixed]
    out = []
    for keys, rows in pairs_frame.fillna({c: -1 for c in fixed}).groupby(group, sort=False):
        rows = rows[np.isfinite(rows[what]) & (rows[what] > 0)].sort_values("positions")
        if rows["positions"].nunique() < 2:
            continue
        x, y = np.log(rows["positions"].to_numpy(float)), np.log(rows[what].to_numpy(float))
        if len(rows) >= 3 and np.ptp(x) > 0:
            fit = stats.linregress(x, y)
            half = stats.t.ppf(0.975, len(rows) - 2) * fit.stderr
            slope, low, high = fit.slope, fit.slope - half, fit.slope + half
            verdict = ("grows" if low > 0 and slope > TREND_FLAT else
                       "shrinks" if high < 0 and slope < -TREND_FLAT else
                       "flat" if low >= -TREND_FLAT and high <= TREND_FLAT else "unclear")
        else:
            slope = float((y[-1] - y[0]) / (x[-1] - x[0]))
            low = high = math.nan
            verdict = "too few sizes"
        first, last = rows.iloc[0], rows.iloc[-1]
        out.append(Trend(str(keys[0]), str(keys[1]), str(keys[2]), what,
                         float(first["positions"]), float(last["positions"]),
                         float(first[what]), float(last[what]), float(slope), float(low),
                         float(high), len(rows), verdict))
    return pd.DataFrame([asdict(t) for t in out], columns=TREND_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Blocks in context: a network with each attention variant against the same network without


# Published whole-network figures, in multiply-adds, with their source: (network, variant).
PUBLISHED_MACS = {
    ("resnet50", "none"): (3.86e9, "SENet (Hu et al.), Table 2: ResNet-50, 224², 3.86 GFLOPs"),
    ("resnet50", "se"): (3.87e9, "SENet (Hu et al.), Table 2: SE-ResNet-50, 224², 3.87 GFLOPs"),
}


def in_context(df: pd.DataFrame, baseline: str = "none") -> pd.DataFrame:
    """Each variant of a network block (resnet50[se], …) beside the same network without
    attention (resnet50[none]) at the same shape, batch, mode and dtype: GMACs, parameters,
    latency and peak memory, and the overhead over the plain network in %, measured (latency,
    memory) and modelled (MACs, the modelled peak). Empty when no run holds such a network."""
    ok = ok_rows(df)
    if ok.empty or "variant" not in ok:
        return pd.DataFrame()
    base_name = ok["variant"].str.extract(r"^([^\[]+)\[(.*)\]$")
    ok = ok.assign(network=base_name[0], attention=base_name[1])
    nets = ok[ok["attention"].notna()]
    plain = nets[nets["attention"] == baseline]
    if plain.empty:
        return pd.DataFrame()
    key = ["run", "run_index", "network", "device", "dtype", "mode", "compile", "batch",
           "channels", "t", "h", "w"]
    cols = [*key, "latency", "memory", "macs_analytic", "peak_bytes_analytic", "parameters",
            "parameters_analytic"]
    merged = nets[cols + ["attention"]].merge(plain[cols], on=key, suffixes=("", "_plain"))
    out = merged.assign(
        gmacs=merged["macs_analytic"] / 1e9,
        latency_overhead_pct=100 * (merged["latency"] / merged["latency_plain"] - 1),
        memory_overhead_pct=100 * (merged["memory"] / merged["memory_plain"] - 1),
        macs_overhead_pct_model=100 * (merged["macs_analytic"]
                                       / merged["macs_analytic_plain"] - 1),
        memory_overhead_pct_model=100 * (merged["peak_bytes_analytic"]
                                         / merged["peak_bytes_analytic_plain"] - 1),
        parameters_overhead_pct=100 * (merged["parameters"] / merged["parameters_plain"] - 1),
    )
    # The published figures are of one 224² image's forward pass: only such a row gets one.
    at_table = ((out["batch"] == 1) & (out["h"] == 224) & (out["w"] == 224)
                & (out["mode"] == "forward"))
    published = [PUBLISHED_MACS.get((n, a)) if here else None for n, a, here in zip(
        out["network"], out["attention"], at_table, strict=True)]
    out["published_gmacs"] = [p[0] / 1e9 if p else math.nan for p in published]
    out["published_source"] = [p[1] if p else "" for p in published]
    return out.sort_values(["run_index", "network", "mode", "batch", "h", "macs_analytic"]
                           ).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The field's counters against the model


COUNTER_COLUMNS = {"macs_torch": "FlopCounterMode", "macs_fvcore": "fvcore",
                   "macs_ptflops": "ptflops", "macs_thop": "thop"}


def counter_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (run, block), at its largest N with counts (its smallest batch there, then its
    largest c, m, n and r): the model's MACs and each counter's, with the ratio counter ÷ model.
    Empty unless the optional counters (thop, ptflops) counted."""
    ok = ok_rows(df)
    optional = [c for c in ("macs_thop", "macs_ptflops") if c in ok and ok[c].notna().any()]
    if not optional or ok.empty:
        return pd.DataFrame()
    have = ok[ok[optional].notna().any(axis=1)]
    # the largest N, at its smallest batch: every block's row at one batch where the run has it;
    # then the largest of the other sizes (a sweep of c at one N had taken each block's row at
    # whichever c its shuffled run stored first: c 16 beside c 256)
    rest = [c for c in size_columns(have) if c not in ("positions", "batch", "t", "h", "w")]
    order = have.sort_values(["positions", "batch", *rest],
                             ascending=[False, True, *[False] * len(rest)], kind="stable")
    first = order.groupby(["run", "block"], sort=False).head(1)
    rows = []
    for _, r in first.iterrows():
        rec = {"run": r["run"], "block": r["block"], "shape": r["shape"], "size": r.get("size"),
               "positions": r["positions"], "batch": r["batch"], "model": r["macs_analytic"]}
        for col, name in COUNTER_COLUMNS.items():
            value = r.get(col)
            rec[name] = value
            rec[f"{name} ÷ model"] = (value / r["macs_analytic"]
                                      if pd.notna(value) and r["macs_analytic"] else math.nan)
        rows.append(rec)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Several runs


def compare_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Cases measured (ok) in every run, matched by block and shape: latency side by side."""
    runs = list(dict.fromkeys(df["run"]))
    if len(runs) < 2:
        return pd.DataFrame()
    key = ["block", "dtype", *size_columns(df)]
    ok = ok_rows(df).copy()
    ok[key] = ok[key].fillna(-1)  # SE has no m, n; attention no r: still a key
    wide = ok.pivot_table(index=key, columns="run", values="latency", aggfunc="first")
    wide = wide.dropna()
    if wide.empty:
        return pd.DataFrame()
    wide = wide[runs].reset_index()
    wide[key] = wide[key].replace(-1, np.nan)
    wide["positions"] = wide["t"] * wide["h"] * wide["w"]
    for r in runs[1:]:
        wide[f"ratio {r} / {runs[0]}"] = wide[r] / wide[runs[0]]
    return wide.sort_values(["block", "channels", "positions"], ignore_index=True)

