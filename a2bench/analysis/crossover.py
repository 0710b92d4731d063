"""Crossovers: where one block starts to cost more than another along positions N. pairs() and
crossovers() set the non-local order against double attention (the study's pair) shape by
shape, with the predicted N* = 2mn/(m+n); crossovers_against() sets every other block against
one reference block; crossing() reads where a ratio last passes 1 going up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from a2bench import fitting as ft
from a2bench.analysis.columns import (
    REFERENCE,
    STUDY,
    Pair,
    block_label,
    block_order,
    group_label,
    hosts_of,
    param_columns,
)
from a2bench.analysis.exponents import across_nodes, direct_overhead
from a2bench.analysis.load import ok_rows

# ---------------------------------------------------------------------------------------------
# Non-local order against double attention


def predicted_crossover(m: float, n: float) -> float:
    """N above which (m+n)N^2 + 2c(m+n)N exceeds 2mnN + 2c(m+n)N, i.e. right costs more MACs."""
    return 2 * m * n / (m + n)


def pairs(df: pd.DataFrame, pair: Pair = STUDY) -> pd.DataFrame:
    """Every shape measured in both orders (ok): right ÷ left for each metric and the model."""
    ok = ok_rows(df)
    key = ["run", "device", "dtype", "batch", "channels", "m", "n", "t", "h", "w"]
    cols = [*key, "run_index", "positions", "shape", "macs", "latency", "memory", "macs_analytic",
            "peak_bytes_analytic", "host", "samples"]
    left = ok[ok["block"] == pair.left][cols]
    right = ok[ok["block"] == pair.right][cols]
    merged = left.merge(right.drop(columns=["run_index", "positions", "shape"]), on=key,
                        suffixes=("_left", "_right"))
    out = merged[[*key, "run_index", "positions", "shape", "host_left", "host_right",
                  "samples_left", "samples_right"]].copy()
    for metric, col in (("macs", "macs"), ("latency", "latency"), ("memory", "memory"),
                        ("macs_model", "macs_analytic"), ("memory_model", "peak_bytes_analytic")):
        out[f"ratio_{metric}"] = merged[f"{col}_right"] / merged[f"{col}_left"]
    # Each order's own figures beside the ratios: the paper's video example asks for both
    # blocks' measured peak against its model, not only their quotient.
    for side in ("left", "right"):
        out[f"latency_{side}"] = merged[f"latency_{side}"]
        out[f"memory_{side}"] = merged[f"memory_{side}"]
        out[f"memory_model_{side}"] = merged[f"peak_bytes_analytic_{side}"]
        out[f"memory_error_{side}"] = (merged[f"memory_{side}"]
                                       / merged[f"peak_bytes_analytic_{side}"] - 1)
    out["n_star_predicted"] = predicted_crossover(out["m"], out["n"])
    return out.sort_values(["run_index", "channels", "m", "n", "batch", "t", "positions"],
                           ignore_index=True)


@dataclass(frozen=True)
class Crossing:
    """``outcome``: ``crosses`` (n_star is where the ratio last passes 1 going up; above 1 from
    there to the largest N), ``above`` (above 1 at every N), ``below`` (below 1 at every N),
    ``ends_below`` (at most 1 at the largest N, above or at 1 somewhere before), ``too_few``
    (fewer than two N), ``across_nodes`` (latency measured on several machines: not read),
    ``overhead_bound`` (a latency crossing inside the per-call overhead: not read),
    ``within_noise`` (a latency ratio within its noise of 1 around the crossing: not read)."""

    n_star: float
    reason: str = ""
    outcome: str = "crosses"


def crossing(positions: Sequence[float], ratio: Sequence[float], block: str = "the block",
             reference: str = "the reference") -> Crossing:
    """N at which block/reference passes 1 going up, interpolated linearly in log N.

    Measured ratios wobble around 1 at sizes where both blocks are overhead-bound, so the last
    upward crossing is reported: from there on, up to the largest N swept, ``block`` costs more.
    ``block`` and ``reference`` are the names the reasons use.
    """
    x = np.asarray(positions, float)
    r = np.asarray(ratio, float)
    keep = np.isfinite(x) & (x > 0) & np.isfinite(r)
    x, r = x[keep], r[keep]
    if len(np.unique(x)) < 2:
        return Crossing(math.nan, f"fewer than two positions N measured for both {block} and "
                                  f"{reference}", "too_few")
    # Several shapes with one N (h×w and w×h, or t·h·w ties): one geometric-mean ratio per N.
    xs, rs = _ratio_per_n(x, r)
    above = rs > 1
    ups = [i for i in range(len(xs) - 1) if not above[i] and above[i + 1]]
    if above.all():
        return Crossing(math.nan, f"{block} already costs more at the smallest N swept "
                                  f"({xs[0]:.0f}); the crossover lies below the range", "above")
    if not above[-1]:
        return Crossing(math.nan, f"{block} costs no more than {reference} at the "
                                  f"largest N swept ({xs[-1]:.0f})",
                        "below" if (rs < 1).all() else "ends_below")
    i = ups[-1]
    lx0, lx1 = math.log(xs[i]), math.log(xs[i + 1])
    frac = (1 - rs[i]) / (rs[i + 1] - rs[i])
    reason = "" if len(ups) == 1 else (f"ratio crosses 1 upward {len(ups)} times; "
                                       "the last crossing is reported")
    return Crossing(math.exp(lx0 + frac * (lx1 - lx0)), reason)


def on_one_node(c: Crossing, *hosts: pd.Series) -> Crossing:
    """A latency crossing as measured, unless its times came from several machines: a ratio
    of two machines' times holds their difference, which no interval shows (the
    reason of analysis.exponents.across_nodes)."""
    seen = hosts_of(*hosts)
    if len(seen) < 2:
        return c
    return Crossing(math.nan, across_nodes(seen), "across_nodes")


def _ratio_per_n(x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One ratio per distinct N: the geometric mean of the shapes at that N."""
    xs = np.unique(x)
    rs = np.array([math.exp(np.log(r[x == v]).mean()) if (r[x == v] > 0).all()
                   else float(np.mean(r[x == v])) for v in xs])
    return xs, rs


# A measured latency crossing is the blocks' only where their own work shows: where the per-call
# overhead is half the time of either order or more at the sizes either side of it, the ratio is
# the overhead's (the H100's two orders at N 192-768: 0.37-0.40 ms each, over 0.32 ms of
# overhead, crossed at 536 on a 0.3 % wobble).
OVERHEAD_BOUND = 0.5


def overhead_bound(positions: pd.Series, latencies: Sequence[pd.Series], n_star: float,
                   overheads: Sequence[float]) -> bool:
    """Whether, at the two sizes either side of `n_star`, a side's per-call overhead
    (`overheads`, one per side of `latencies`) is OVERHEAD_BOUND of its latency or more."""
    if not math.isfinite(n_star) or not all(math.isfinite(o) and o > 0 for o in overheads):
        return False
    x = positions.to_numpy(float)
    near = positions.isin([x[x <= n_star].max(initial=-math.inf),
                           x[x >= n_star].min(initial=math.inf)]).to_numpy()
    return bool(near.any()) and any(
        bool((overhead >= OVERHEAD_BOUND * latency.to_numpy(float)[near]).all())
        for latency, overhead in zip(latencies, overheads, strict=True))


def _overhead_crossing(c: Crossing, positions: pd.Series, latencies: Sequence[pd.Series],
                       overheads: Sequence[float]) -> Crossing:
    """The latency crossing, or none where it lies inside the per-call overhead."""
    if not overhead_bound(positions, latencies, c.n_star, overheads):
        return c
    return Crossing(math.nan, (
        f"the ratio crosses 1 near N = {c.n_star:.0f}, where the per-call overhead "
        f"({min(overheads) * 1e3:.3g}–{max(overheads) * 1e3:.3g} ms, timed directly) is half "
        "the time of a block or more: the crossing is the overhead's, not the blocks'"),
        "overhead_bound")


# A latency ratio that stays within its noise of 1 over a stretch of N places no crossing there:
# the H100's bf16 orders cost the same within 1 % from N = 96 to 1536, but for one slow size
# (0.815 at N = 1024), and the last upward pass of 1 read "costlier from N ≈ 1497". A size is
# level where |ln ratio| (a running median of three, so one size that disagrees with both
# neighbours takes the nearer's value) is within TIE_Z standard errors of the two sides' ln
# latencies (fitting.summarise's, from each pass's samples); a level stretch around the crossing
# that spans TIE_SPAN in N or more, over TIE_SIZES sizes at least, leaves it unread. In
# simulation (benchmarks/crossover_noise.py: 15 sizes √2 apart, 0.5-4 % noise, slow passes) a
# ratio of 1 throughout read a crossing in 49-52 % of runs by its last pass of 1, 0-9 % by this
# rule; one of 19 % a doubling of N was missed as often but at 4 % noise (1 % -> 3 %), one of
# 9 % a doubling 2-20 points more often (it is within noise).
TIE_Z = 2.0
TIE_SPAN = 2.0
TIE_SIZES = 3


def _median3(v: np.ndarray) -> np.ndarray:
    """The running median of three, the ends kept: a monotone sequence is left as it is."""
    out = v.copy()
    for i in range(1, len(v) - 1):
        out[i] = float(np.median(v[i - 1:i + 2]))
    return out


def _noise_crossing(c: Crossing, positions: pd.Series, ratio: pd.Series,
                    sides: Sequence[tuple[pd.Series, pd.Series]]) -> Crossing:
    """The latency crossing, or none where the ratio is level around it (TIE_Z, TIE_SPAN).
    `sides`: each side's (latency, samples by pass) along `positions`."""
    if c.outcome != "crosses" or not math.isfinite(c.n_star):
        return c
    x, r = positions.to_numpy(float), ratio.to_numpy(float)
    keep = np.isfinite(x) & (x > 0) & np.isfinite(r) & (r > 0)
    xs, rs = _ratio_per_n(x[keep], r[keep])
    se = [ft.summarise(x[keep], lat.to_numpy(float)[keep], list(samples[keep])).log_se
          for lat, samples in sides]
    if any(len(s) != len(xs) for s in se):
        return c
    return _level_crossing(c, xs, rs, TIE_Z * np.hypot(*se))


def _level_crossing(c: Crossing, xs: np.ndarray, rs: np.ndarray, band: np.ndarray) -> Crossing:
    """The latency crossing, or none where the ratio `rs` (one per N of `xs`) is within
    `band` (per N, of |ln ratio|) of 1 around it over TIE_SPAN and TIE_SIZES."""
    level = np.abs(_median3(np.log(rs))) <= band
    i = int(np.searchsorted(xs, c.n_star, side="right")) - 1  # xs[i] <= n_star < xs[i + 1]
    near = [j for j in (i, i + 1) if 0 <= j < len(xs) and level[j]]
    if not near:
        return c
    lo, hi = min(near), max(near)
    while lo > 0 and level[lo - 1]:
        lo -= 1
    while hi < len(xs) - 1 and level[hi + 1]:
        hi += 1
    # three sizes at least: on a grid that doubles N, two level neighbours span 2 already, and
    # a ratio rising 8 % a doubling had read level there
    if xs[hi] / xs[lo] < TIE_SPAN or hi - lo + 1 < TIE_SIZES:
        return c
    return Crossing(math.nan, (
        f"the ratio stays within its noise of 1 (±{float(band[lo:hi + 1].max()):.1%} at a size) "
        f"from N = {xs[lo]:.0f} to {xs[hi]:.0f}: the two cost the same there, and where it last "
        f"passes 1 (N ≈ {c.n_star:.0f}) is not read"), "within_noise")


def _series(frame: pd.DataFrame, keys: list[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """The groups of `keys` (t among them) that hold two N or more; and, where a group without
    t does and no group by t did, that one with t NaN: a sweep of frames at one map has one N
    per t, and grouping by t had left the published H100 frames run out of both crossover
    sections."""
    groups = [(tuple(v), rows) for v, rows in frame.groupby(keys, sort=True, dropna=False)
              if rows["positions"].nunique() >= 2]
    at = keys.index("t")
    seen = {repr((*v[:at], *v[at + 1:])) for v, _ in groups}  # repr: NaN equals itself there
    rest = [k for k in keys if k != "t"]
    for v, rows in frame.groupby(rest, sort=True, dropna=False):
        if rows["t"].nunique() > 1 and rows["positions"].nunique() >= 2 \
                and repr(tuple(v)) not in seen:
            groups.append(((*v[:at], math.nan, *v[at:]), rows))
    return groups


def crossovers(df: pd.DataFrame, pair: Pair = STUDY,
               environments: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Per (run, channels, m, n, batch, t) with both orders over >= 2 N: predicted and measured.
    With the runs' environments, a latency crossing where the per-call overhead (timed
    directly) is half a side's time or more is not read (overhead_bound)."""
    p = pairs(df, pair)
    columns = ["run", "device", "channels", "m", "n", "batch", "t", "n_points", "n_min",
               "n_max", "n_star_predicted", "n_star_macs", "n_star_latency", "n_star_memory",
               "n_star_memory_model", "predicted_in_range", "reason_macs", "reason_latency",
               "reason_memory", "reason_memory_model"]
    names = block_label(pair.right, short=True), block_label(pair.left, short=True)
    records = []
    keys = ["run_index", "run", "device", "channels", "m", "n", "batch", "t"]
    for key, rows in _series(p, keys):
        _, run, device, c, m, n, b, t = key
        rec: dict[str, Any] = {
            "run": run, "device": device, "channels": c, "m": m, "n": n, "batch": b, "t": t,
            "n_points": int(rows["positions"].nunique()),
            "n_min": float(rows["positions"].min()), "n_max": float(rows["positions"].max()),
            "n_star_predicted": predicted_crossover(m, n),
        }
        rec["predicted_in_range"] = bool(rec["n_min"] <= rec["n_star_predicted"] <= rec["n_max"])
        for metric in ("macs", "latency", "memory", "memory_model"):
            c_ = crossing(rows["positions"], rows[f"ratio_{metric}"], *names)
            if metric == "latency":
                c_ = on_one_node(c_, rows["host_left"], rows["host_right"])
                env = (environments or {}).get(run) or {}
                kind = {"dtype": rows["dtype"].iloc[0], "mode": "forward", "compile": False}
                fixed = {"channels": c, "m": m, "n": n, "batch": b}
                overheads = [direct_overhead(env, block, fixed, kind)
                             for block in (pair.left, pair.right)]
                c_ = _overhead_crossing(c_, rows["positions"],
                                        [rows["latency_left"], rows["latency_right"]], overheads)
                c_ = _noise_crossing(c_, rows["positions"], rows["ratio_latency"],
                                     [(rows["latency_left"], rows["samples_left"]),
                                      (rows["latency_right"], rows["samples_right"])])
            rec[f"n_star_{metric}"] = c_.n_star
            rec[f"reason_{metric}"] = c_.reason
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=columns)


# ---------------------------------------------------------------------------------------------
# Every block against one reference block


CROSS_METRICS = ("macs", "latency", "memory")
SHAPE_KEY = ("run", "device", "dtype", "batch", "channels", "t", "h", "w")
# A training step is set against the reference's training step, a compiled case against its
# compiled one: against the plain forward the ratio reads the mode, not the block.
SETTING_KEY = ("mode", "compile")


def crossovers_against(df: pd.DataFrame, reference: str = REFERENCE,
                       environments: Mapping[str, Mapping[str, Any]] | None = None
                       ) -> pd.DataFrame:
    """Each other block against ``reference`` along positions N, at the shapes both measured ok.

    Blocks differ in their own parameters, so rows are matched on the shape (run, device, dtype,
    batch, channels, t, h, w) and the setting (mode, compile) alone: ``reference`` names the
    reference's rows each group was set against (double_attention[train] for a training step,
    double_attention[bfloat16] for a second dtype of a run). One group per (run, device, dtype,
    block, batch, channels, t), per setting of the reference's parameters (``ref_m``, ``ref_n``
    for double attention) and per setting of the block's own (``params``, e.g. "r=16"). Per
    group and metric, the ratio block ÷ reference is read with crossing(): ``n_star_*`` is
    where it last passes 1 going up, ``outcome_*`` what it does over the range
    (Crossing.outcome), ``reason_*`` why there is no N*. ``ratio_at_max_latency`` is the
    latency ratio at the largest common N. ``latency_basis`` is ``shared`` for these. A
    group with fewer than two common N whose measured N overlap the reference's in one family
    of shapes is read from latency alone, one side interpolated (interpolated_against:
    ``latency_basis`` ``interpolated``); the others are left out. ``environments`` names the
    blocks in the reasons, and gives the per-call overheads a latency crossing is read against
    (overhead_bound).
    """
    ok = ok_rows(df)
    # `variant` is the block without its dtype, mode and compile suffixes: every setting of
    # the reference is one, matched below to the same setting of the others
    ref_rows = ok[ok["variant"] == reference]
    params = [c for c in param_columns(df) if c in df]
    ref_params = [c for c in params if ref_rows[c].notna().any()]
    columns = ["run", "device", "dtype", "block", "params", "reference", "batch", "channels",
               "t", *(f"ref_{c}" for c in ref_params), "n_points", "n_min", "n_max",
               *(f"n_star_{m}" for m in CROSS_METRICS),
               *(f"outcome_{m}" for m in CROSS_METRICS),
               *(f"reason_{m}" for m in CROSS_METRICS), "ratio_at_max_latency",
               *INTERP_COLUMNS]
    others = ok[ok["variant"] != reference]
    if ref_rows.empty or others.empty:
        return pd.DataFrame(columns=columns)
    key = [*SHAPE_KEY, *SETTING_KEY]
    taken = [*ref_params, *CROSS_METRICS, "host", "samples"]
    ref = ref_rows[[*key, "block", *taken]].rename(
        columns={"block": "reference", **{c: f"ref_{c}" for c in taken}})
    # The block's own settings, one label per row (NaN for parameters it does not have).
    others = others.assign(params=[group_label({c: getattr(r, c) for c in params})
                                   for r in others[params].itertuples(index=False)])
    order = {b: i for i, b in enumerate(block_order(df, environments))}
    others = others.assign(block_index=others["block"].map(order))
    merged = others[[*key, "run_index", "block", "block_index", "params", "positions", *params,
                     *CROSS_METRICS, "host", "samples"]].merge(ref, on=key)
    keys = ["run_index", "run", "device", "dtype", "block_index", "block", "params", "reference",
            "batch", "channels", "t", *(f"ref_{c}" for c in ref_params)]
    records = []
    for values, rows in _series(merged, keys):
        g = dict(zip(keys, values, strict=True))
        name = block_label(g["block"], environments, short=True)
        ref_name = block_label(g["reference"], environments, short=True)
        rec: dict[str, Any] = {k: g[k] for k in keys if k not in ("run_index", "block_index")}
        rec.update(n_points=int(rows["positions"].nunique()),
                   n_min=float(rows["positions"].min()), n_max=float(rows["positions"].max()))
        for metric in CROSS_METRICS:
            ratio = rows[metric] / rows[f"ref_{metric}"]
            c_ = crossing(rows["positions"], ratio, name, ref_name)
            if metric == "latency":
                c_ = on_one_node(c_, rows["host"], rows["ref_host"])
                env = (environments or {}).get(g["run"]) or {}
                shared = {"channels": g["channels"], "batch": g["batch"]}
                own = {c: rows[c].iloc[0] for c in params if pd.notna(rows[c].iloc[0])}
                mine = {c: g[f"ref_{c}"] for c in ref_params}
                # both sides ran in the same setting (SETTING_KEY)
                kind = {"dtype": g["dtype"], "mode": rows["mode"].iloc[0],
                        "compile": bool(rows["compile"].iloc[0])}
                overheads = [direct_overhead(env, reference, {**shared, **mine}, kind),
                             direct_overhead(env, g["block"], {**shared, **own}, kind)]
                c_ = _overhead_crossing(c_, rows["positions"],
                                        [rows["ref_latency"], rows["latency"]], overheads)
                c_ = _noise_crossing(c_, rows["positions"], ratio,
                                     [(rows["ref_latency"], rows["ref_samples"]),
                                      (rows["latency"], rows["samples"])])
            rec[f"n_star_{metric}"] = c_.n_star
            rec[f"outcome_{metric}"] = c_.outcome
            rec[f"reason_{metric}"] = c_.reason
        x = rows["positions"].to_numpy(float)
        r = (rows["latency"] / rows["ref_latency"]).to_numpy(float)
        timed = np.isfinite(r) & (r > 0)
        at_max = timed & (x == x[timed].max()) if timed.any() else timed
        rec["ratio_at_max_latency"] = (_ratio_per_n(x[at_max], r[at_max])[1][0]
                                       if at_max.any() and rec["outcome_latency"]
                                       != "across_nodes" else math.nan)
        rec.update(latency_basis="shared", interpolated="", interp_n_low=math.nan,
                   interp_n_high=math.nan)
        records.append(rec)
    # after every group at shared N, which keep their order
    records += interpolated_against(others, ref_rows, params, ref_params, records, environments)
    return pd.DataFrame.from_records(records, columns=columns)



# ---------------------------------------------------------------------------------------------
# Interpolated where the two share fewer than two N

# An auto-sized run picks each block's N for that block (a2bench/run/plan.py), so in one
# setting two blocks share one N or none. Where their measured N overlap, one side's median
# latency is read at the other's measured N, linearly in log N and log latency between its two
# measured N either side: never outside its measured range, nor across a gap wider than
# INTERP_SPAN in N (a cache cliff inside it would read as a straight line). The side read as
# measured is the one with more N inside the other's range (the block's on a tie).
INTERP_SPAN = 2.0
INTERP_COLUMNS = ("latency_basis", "interpolated", "interp_n_low", "interp_n_high")


def log_interpolate(x: float, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """(y at x, the measured N below, the one above): linear in log x and log y between the
    sorted `xs` either side; (y, x, x) where x was measured; NaNs outside xs or across a gap
    wider than INTERP_SPAN."""
    i = int(np.searchsorted(xs, x))
    if i < len(xs) and xs[i] == x:
        return float(ys[i]), float(x), float(x)
    if i == 0 or i == len(xs) or xs[i] / xs[i - 1] > INTERP_SPAN:
        return math.nan, math.nan, math.nan
    w = math.log(x / xs[i - 1]) / math.log(xs[i] / xs[i - 1])
    return (math.exp((1 - w) * math.log(ys[i - 1]) + w * math.log(ys[i])),
            float(xs[i - 1]), float(xs[i]))


def _families(rows: pd.DataFrame) -> dict[tuple[Any, ...], pd.DataFrame]:
    """A side's series along N with nothing else moving, each with two N or more: rows at one t
    and one h:w (N through h and w), and rows at one h×w (N through t)."""
    out = {}
    aspect = (rows["h"] / rows["w"]).round(6).rename("aspect")
    for (t, a), g in rows.groupby([rows["t"], aspect], sort=True):
        if g["positions"].nunique() >= 2:
            out[("t", float(t), float(a))] = g
    for (h, w), g in rows.groupby(["h", "w"], sort=True):
        if g["t"].nunique() >= 2:
            out[("map", float(h), float(w))] = g
    return out


def _side(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Per distinct N (sorted): the geometric mean of its median latencies, the standard error
    of its ln latency (fitting.summarise's, from each pass's samples); and the rows timed."""
    rows = rows[np.isfinite(rows["latency"]) & (rows["latency"] > 0)]
    x, y = rows["positions"].to_numpy(float), rows["latency"].to_numpy(float)
    sizes = ft.summarise(x, y, list(rows["samples"]))
    ys = np.array([math.exp(float(np.log(y[x == v]).mean())) for v in sizes.x])
    return sizes.x, ys, sizes.log_se, rows


def _key(rec: Mapping[str, Any], names: Sequence[str]) -> str:
    """A group's identity, numbers as floats and NaN as itself (dict keys and repr differ)."""
    return repr(tuple("nan" if isinstance(v, float) and math.isnan(v)
                      else float(v) if isinstance(v, (int, float, np.number))
                      and not isinstance(v, bool) else v for v in (rec[n] for n in names)))


def interpolated_against(others: pd.DataFrame, ref_rows: pd.DataFrame, params: list[str],
                         ref_params: list[str], shared: Sequence[Mapping[str, Any]],
                         environments: Mapping[str, Mapping[str, Any]] | None = None
                         ) -> list[dict[str, Any]]:
    """crossovers_against's records for the groups `shared` lacks (fewer than two common N),
    read along one family of shapes (_families) where the two measured N ranges overlap: the
    latency ratio at the measured side's N, the other side interpolated (INTERP_SPAN).
    ``interpolated`` names the side read between its N, ``interp_n_low`` and ``interp_n_high``
    its measured N either side of ``n_max``; MACs and memory are not read (``not_shared``).
    `others` carries crossovers_against's ``params`` and ``block_index``."""
    setting = ["run", "device", "dtype", "batch", "channels", *SETTING_KEY]
    names = ["run", "dtype", "block", "params", "reference", "batch", "channels", "t",
             *(f"ref_{c}" for c in ref_params)]
    done = {_key(rec, names) for rec in shared}
    refs: dict[str, list[tuple[str, dict[str, Any], pd.DataFrame]]] = {}
    for v, rows in ref_rows.groupby([*setting, "block", *ref_params], sort=True, dropna=False):
        g = dict(zip([*setting, "reference", *ref_params], v, strict=True))
        refs.setdefault(_key(g, setting), []).append(
            (g["reference"], {f"ref_{c}": g[c] for c in ref_params}, rows))
    keys = ["run_index", *setting, "block_index", "block", "params"]
    records = []
    for v, rows in others.groupby(keys, sort=True, dropna=False):
        g = dict(zip(keys, v, strict=True))
        families = _families(rows)
        for reference, mine, ref in refs.get(_key(g, setting), []):
            ref_families = _families(ref)
            for family in (f for f in families if f in ref_families):
                rec: dict[str, Any] = {
                    **{k: g[k] for k in ("run", "device", "dtype", "block", "params", "batch",
                                         "channels")},
                    "reference": reference, "t": family[1] if family[0] == "t" else math.nan,
                    **mine}
                if _key(rec, names) in done:
                    continue
                got = _interpolated(rec, families[family], ref_families[family], params,
                                    ref_params, environments)
                if got is not None:
                    records.append(got)
    return records


def _interpolated(rec: dict[str, Any], rows: pd.DataFrame, ref: pd.DataFrame,
                  params: list[str], ref_params: list[str],
                  environments: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """One group's record (interpolated_against), or None where fewer than two N compare."""
    block, reference = rec["block"], rec["reference"]
    sides = {block: _side(rows), reference: _side(ref)}
    reads = {}  # measured side -> (N, the other side's latency, N below, N above) at each
    for measured, other in ((block, reference), (reference, block)):
        got = [(x, *log_interpolate(x, sides[other][0], sides[other][1]))
               for x in sides[measured][0]]
        reads[measured] = [p for p in got if math.isfinite(p[1])]
    measured = max((block, reference), key=lambda s: len(reads[s]))  # max keeps the first
    other = reference if measured == block else block
    points = reads[measured]
    if len(points) < 2:
        return None
    x = np.array([p[0] for p in points])
    low, high = np.array([p[2] for p in points]), np.array([p[3] for p in points])
    xs_m, ys_m, se_m, rows_m = sides[measured]
    xs_o, _, se_o, rows_o = sides[other]
    at = np.searchsorted(xs_m, x)
    lat = {measured: ys_m[at], other: np.array([p[1] for p in points])}
    # an interpolated latency is known no better than the worse of the two it lies between
    se = {measured: se_m[at],
          other: np.maximum(se_o[np.searchsorted(xs_o, low)], se_o[np.searchsorted(xs_o, high)])}
    ratio = lat[block] / lat[reference]
    name = block_label(block, environments, short=True)
    ref_name = block_label(reference, environments, short=True)
    c_ = crossing(x, ratio, name, ref_name)
    used_o = rows_o[rows_o["positions"].isin(np.concatenate([low, high]))]
    c_ = on_one_node(c_, rows_m[rows_m["positions"].isin(x)]["host"], used_o["host"])
    env = (environments or {}).get(rec["run"]) or {}
    kind = {"dtype": rec["dtype"], "mode": rows["mode"].iloc[0],
            "compile": bool(rows["compile"].iloc[0])}
    shared = {"channels": rec["channels"], "batch": rec["batch"]}
    own = {c: rows[c].iloc[0] for c in params if pd.notna(rows[c].iloc[0])}
    overheads = [direct_overhead(env, reference, {**shared, **{c: rec[f"ref_{c}"]
                                                               for c in ref_params}}, kind),
                 direct_overhead(env, block, {**shared, **own}, kind)]
    c_ = _overhead_crossing(c_, pd.Series(x), [pd.Series(lat[reference]), pd.Series(lat[block])],
                            overheads)
    if c_.outcome == "crosses" and math.isfinite(c_.n_star):
        c_ = _level_crossing(c_, x, ratio, TIE_Z * np.hypot(se[block], se[reference]))
    why = (f"{name} and {ref_name} share fewer than two N: only latency is compared, "
           f"{block_label(other, environments, short=True)}'s interpolated")
    for metric in ("macs", "memory"):
        rec.update({f"n_star_{metric}": math.nan, f"outcome_{metric}": "not_shared",
                    f"reason_{metric}": why})
    rec.update(n_points=len(x), n_min=float(x[0]), n_max=float(x[-1]), n_star_latency=c_.n_star,
               outcome_latency=c_.outcome, reason_latency=c_.reason,
               ratio_at_max_latency=(float(ratio[-1]) if c_.outcome != "across_nodes"
                                     else math.nan),
               latency_basis="interpolated", interpolated=other,
               interp_n_low=float(low[-1]), interp_n_high=float(high[-1]))
    return rec
