"""Every block against one reference block (double attention) along positions N:
crossovers_against() at the N both measured (crossover.crossing's reading, its overhead and
noise checks); where the two share fewer than two N (an auto-sized run picks each block's own),
latency alone, one side interpolated between its own measured N where the two ranges overlap,
or the measured figures either side of the gap where they do not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from a2bench import fitting as ft
from a2bench.analysis.columns import (
    REFERENCE,
    block_label,
    block_order,
    group_label,
    hosts_of,
    param_columns,
)
from a2bench.analysis.crossover import (
    OVERHEAD_BOUND,
    TIE_Z,
    Crossing,
    _level_crossing,
    _noise_crossing,
    _overhead_crossing,
    _ratio_per_n,
    _series,
    crossing,
    on_one_node,
    run_overheads,
)
from a2bench.analysis.exponents import across_nodes
from a2bench.analysis.load import ok_rows
from a2bench.formatting import ms_text

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
    group with fewer than two common N is read from latency alone in one family of shapes both
    ran (unshared_against): where its measured N overlap the reference's, one side interpolated
    (``latency_basis`` ``interpolated``); where they do not overlap at all, the two measured
    figures either side of the gap (``disjoint``: the DISJOINT_COLUMNS); the others are left
    out. ``environments`` names the blocks in the reasons, and gives the per-call overheads a
    latency crossing is read against (overhead_bound).
    """
    ok = ok_rows(df)
    # `variant` is the block without its dtype, mode and compile suffixes: every setting of
    # the reference is one, matched below to the same setting of the others
    ref_rows = ok[ok["variant"] == reference]
    params = [c for c in param_columns(df) if c in df]
    ref_params = [c for c in params if ref_rows[c].notna().any()]
    columns = ["run", "device", "dtype", "block", "params", "reference", "batch", "channels",
               "t", "family", *(f"ref_{c}" for c in ref_params), "n_points", "n_min", "n_max",
               *(f"n_star_{m}" for m in CROSS_METRICS),
               *(f"outcome_{m}" for m in CROSS_METRICS),
               *(f"reason_{m}" for m in CROSS_METRICS), "ratio_at_max_latency",
               *INTERP_COLUMNS, *DISJOINT_COLUMNS]
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
    series = [(values, rows, "") for values, rows in _series(merged, keys)]
    for values, rows, family in series + _map_series(merged, keys, series):
        g = dict(zip(keys, values, strict=True))
        name = block_label(g["block"], environments, short=True)
        ref_name = block_label(g["reference"], environments, short=True)
        rec: dict[str, Any] = {k: g[k] for k in keys if k not in ("run_index", "block_index")}
        rec.update(family=family, n_points=int(rows["positions"].nunique()),
                   n_min=float(rows["positions"].min()), n_max=float(rows["positions"].max()))
        for metric in CROSS_METRICS:
            ratio = rows[metric] / rows[f"ref_{metric}"]
            c_ = crossing(rows["positions"], ratio, name, ref_name)
            if metric == "latency":
                c_ = on_one_node(c_, rows["host"], rows["ref_host"])
                # both sides ran in the same setting (SETTING_KEY)
                c_ = _overhead_crossing(c_, rows["positions"],
                                        [rows["ref_latency"], rows["latency"]],
                                        _overheads(rec, rows, params, ref_params, environments))
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
        rec.update(latency_basis="shared", **NOT_INTERPOLATED, **NOT_DISJOINT)
        records.append(rec)
    # after every group at shared N, which keep their order
    records += unshared_against(others, ref_rows, params, ref_params, records, environments)
    return pd.DataFrame.from_records(records, columns=columns)


def _map_series(merged: pd.DataFrame, keys: list[str],
                series: Sequence[tuple[tuple[Any, ...], pd.DataFrame, str]]
                ) -> list[tuple[tuple[Any, ...], pd.DataFrame, str]]:
    """The series across t at one h×w (t NaN, ``family`` "h×w 16×16") of the shapes both sides
    ran that no group of _series holds: a run of some maps at several t beside others at one
    (a frames-only run's series is _series' own across t, and a t × h·w grid's every shape is
    in its series by t, so neither gets one)."""
    at = keys.index("t")
    rest = [k for k in keys if k != "t"]
    shape = [*rest, "t", "h", "w"]
    held = {_key(dict(zip(keys, v, strict=True)) | {"t": t, "h": h, "w": w}, shape)
            for v, rows, _ in series for t, h, w in zip(rows["t"], rows["h"], rows["w"],
                                                        strict=True)}
    out = []
    for v, rows in merged.groupby([*rest, "h", "w"], sort=True, dropna=False):
        g = dict(zip([*rest, "h", "w"], v, strict=True))
        if rows["t"].nunique() < 2 or all(
                _key(g | {"t": t}, shape) in held for t in rows["t"]):
            continue
        out.append(((*v[:at], math.nan, *v[at:len(rest)]), rows,
                    _family_label(("map", float(g["h"]), float(g["w"])), rows)))
    return out


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
NOT_INTERPOLATED = {"interpolated": "", "interp_n_low": math.nan, "interp_n_high": math.nan}


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


def _family_label(family: tuple[Any, ...], rows: pd.DataFrame) -> str:
    """A family of _families in words: "h:w 1:2" (one t, one aspect), "h×w 16×16" (one map,
    N through t)."""
    if family[0] == "map":
        return f"h×w {family[1]:g}×{family[2]:g}"
    h, w = int(rows["h"].iloc[0]), int(rows["w"].iloc[0])
    k = math.gcd(h, w) or 1
    return f"h:w {h // k}:{w // k}"


def _side(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Per distinct N (sorted): the geometric mean of its median latencies, the standard error
    of its ln latency (fitting.summarise's, from each pass's samples); and the rows timed."""
    rows = rows[np.isfinite(rows["latency"]) & (rows["latency"] > 0)]
    x, y = rows["positions"].to_numpy(float), rows["latency"].to_numpy(float)
    sizes = ft.summarise(x, y, list(rows["samples"]))
    ys = np.array([math.exp(float(np.log(y[x == v]).mean())) for v in sizes.x])
    return sizes.x, ys, sizes.log_se, rows


def _overheads(rec: Mapping[str, Any], rows: pd.DataFrame, params: list[str],
               ref_params: list[str], environments: Mapping[str, Mapping[str, Any]] | None
               ) -> list[float]:
    """The reference's and the block's per-call overheads (crossover.run_overheads) for one
    group `rec` of crossovers_against or unshared_against: the sizes both hold fixed (channels,
    batch), the reference's own parameters (``ref_*``) and the block's (its first row of
    `rows`, which also give the setting)."""
    shared = {"channels": rec["channels"], "batch": rec["batch"]}
    mine = {c: rec[f"ref_{c}"] for c in ref_params}
    own = {c: rows[c].iloc[0] for c in params if pd.notna(rows[c].iloc[0])}
    return run_overheads(environments, rec["run"], rows,
                         [(rec["reference"], shared | mine), (rec["block"], shared | own)])


def _key(rec: Mapping[str, Any], names: Sequence[str]) -> str:
    """A group's identity, numbers as floats and NaN as itself (dict keys and repr differ)."""
    return repr(tuple("nan" if isinstance(v, float) and math.isnan(v)
                      else float(v) if isinstance(v, (int, float, np.number))
                      and not isinstance(v, bool) else v for v in (rec[n] for n in names)))


def unshared_against(others: pd.DataFrame, ref_rows: pd.DataFrame, params: list[str],
                     ref_params: list[str], shared: Sequence[Mapping[str, Any]],
                     environments: Mapping[str, Mapping[str, Any]] | None = None
                     ) -> list[dict[str, Any]]:
    """crossovers_against's records for the groups `shared` lacks (fewer than two common N),
    each along one family of shapes (_families) both sides ran with nothing else different:
    where the two measured N ranges overlap, the latency ratio at the measured side's N, the
    other side interpolated (INTERP_SPAN; ``interpolated`` names the side read between its N,
    ``interp_n_low`` and ``interp_n_high`` its measured N either side of ``n_max``); then,
    where no such record was made and the ranges do not overlap at all, the measured figures
    either side of the gap (_disjoint). MACs and memory are not read (``not_shared``).
    ``family`` names the family ("h:w 1:2" at one t, "h×w 16×16" across t), so that two at one
    t (two aspects) can be told apart. A family whose two sides share two N or more is the
    shared path's (a t × h·w grid's every map across t had read "no two N shared" beside its
    rows by t, its N all shared), as is every family at a t (or, across t, of a setting) that
    path read whole.
    `others` carries crossovers_against's ``params`` and ``block_index``."""
    setting = ["run", "device", "dtype", "batch", "channels", *SETTING_KEY]
    names = ["run", "dtype", "block", "params", "reference", "batch", "channels", "t",
             *(f"ref_{c}" for c in ref_params)]
    whole = {_key(rec, names) for rec in shared if not rec["family"]}
    done = {_key(rec, [*names, "family"]) for rec in shared}
    refs: dict[str, list[tuple[str, dict[str, Any], pd.DataFrame]]] = {}
    for v, rows in ref_rows.groupby([*setting, "block", *ref_params], sort=True, dropna=False):
        g = dict(zip([*setting, "reference", *ref_params], v, strict=True))
        refs.setdefault(_key(g, setting), []).append(
            (g["reference"], {f"ref_{c}": g[c] for c in ref_params}, rows))
    keys = ["run_index", *setting, "block_index", "block", "params"]
    records, rest = [], []
    for v, rows in others.groupby(keys, sort=True, dropna=False):
        g = dict(zip(keys, v, strict=True))
        families = _families(rows)
        for reference, mine, ref in refs.get(_key(g, setting), []):
            ref_families = _families(ref)
            for family in (f for f in families if f in ref_families):
                rows, ref_family = families[family], ref_families[family]
                rec: dict[str, Any] = {
                    **{k: g[k] for k in ("run", "device", "dtype", "block", "params", "batch",
                                         "channels")},
                    "reference": reference, "t": family[1] if family[0] == "t" else math.nan,
                    "family": _family_label(family, rows), **mine}
                common = set(rows["positions"]) & set(ref_family["positions"])
                if (len(common) >= 2 or _key(rec, names) in whole
                        or _key(rec, [*names, "family"]) in done):
                    continue
                got = _interpolated(dict(rec), rows, ref_family, params, ref_params,
                                    environments)
                if got is not None:
                    records.append(got)
                else:
                    rest.append((rec, rows, ref_family))
    # shared, then interpolated, then disjoint: a group read either way before is left be
    done |= {_key(rec, [*names, "family"]) for rec in records}
    for rec, rows, ref in rest:
        got = _disjoint(rec, rows, ref, params, ref_params, environments)
        if got is not None and _key(got, [*names, "family"]) not in done:
            records.append(got)
    return records


def _interpolated(rec: dict[str, Any], rows: pd.DataFrame, ref: pd.DataFrame,
                  params: list[str], ref_params: list[str],
                  environments: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """One group's record (unshared_against), or None where fewer than two N compare."""
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
    overheads = _overheads(rec, rows, params, ref_params, environments)
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
               interp_n_low=float(low[-1]), interp_n_high=float(high[-1]), **NOT_DISJOINT)
    return rec


# ---------------------------------------------------------------------------------------------
# Disjoint: the two measured N ranges do not overlap

# An auto-sized run can give the two blocks N that do not overlap at all (the non-local order's
# N² leaves it the smaller ones): nothing is read between or beyond anyone's measured N. The
# side whose N all lie below the other's is set, at its largest N, against the other at its
# smallest: the two measured figures nearest each other. Where the lower side took longer,
# it costs more even at fewer positions, a measured fact with no model between them; where it
# took less, neither is called cheaper (the other ran more positions). The figures are those of
# crossovers_against's other paths: each N's median latency, and ft.summarise's standard errors
# for the noise check (TIE_Z); the per-call overhead (OVERHEAD_BOUND) and one machine as there.
DISJOINT_COLUMNS = ("reference_n_points", "reference_n_min", "reference_n_max", "lower",
                    "lower_n", "lower_latency", "upper_n", "upper_latency")
NOT_DISJOINT = {"reference_n_points": math.nan, "reference_n_min": math.nan,
                "reference_n_max": math.nan, "lower": "", "lower_n": math.nan,
                "lower_latency": math.nan, "upper_n": math.nan, "upper_latency": math.nan}


def _disjoint(rec: dict[str, Any], rows: pd.DataFrame, ref: pd.DataFrame, params: list[str],
              ref_params: list[str], environments: Mapping[str, Mapping[str, Any]] | None
              ) -> dict[str, Any] | None:
    """One group's record where the two sides' measured N do not overlap (unshared_against),
    or None where they do, or a side has fewer than two N timed. ``n_points``, ``n_min`` and
    ``n_max`` are the block's measured N, ``reference_n_*`` the reference's; ``lower`` names
    the side whose N lie below, ``lower_n`` and ``lower_latency`` its largest N and its median
    latency there, ``upper_n`` and ``upper_latency`` the other's smallest N and latency.
    ``outcome_latency``: ``costlier_at_fewer_n`` (the block's N lie below, and it took longer
    at its largest than the reference at its smallest), ``cheaper_at_more_n`` (the reference's
    N lie below, and it took longer), ``figures_only`` (the lower side took no longer: neither
    is called cheaper), or, calling neither costlier, ``across_nodes`` (the two figures ran on
    several machines), ``overhead_bound`` (a side's per-call overhead is OVERHEAD_BOUND of its
    figure or more) or ``within_noise`` (the two within TIE_Z standard errors of each other).
    ``ratio_at_max_latency`` is NaN: no N is common."""
    block, reference = rec["block"], rec["reference"]
    sides = {block: _side(rows), reference: _side(ref)}
    if any(len(xs) < 2 for xs, *_ in sides.values()):
        return None
    if sides[block][0][-1] < sides[reference][0][0]:
        lower, upper = block, reference
    elif sides[reference][0][-1] < sides[block][0][0]:
        lower, upper = reference, block
    else:
        return None  # overlapping N: interpolated, or not read
    xs_l, ys_l, se_l, rows_l = sides[lower]
    xs_u, ys_u, se_u, rows_u = sides[upper]
    n_l, lat_l, n_u, lat_u = float(xs_l[-1]), float(ys_l[-1]), float(xs_u[0]), float(ys_u[0])
    names = {s: block_label(s, environments, short=True) for s in (block, reference)}
    hosts = hosts_of(rows_l[rows_l["positions"] == n_l]["host"],
                     rows_u[rows_u["positions"] == n_u]["host"])
    overhead = dict(zip((reference, block),
                        _overheads(rec, rows, params, ref_params, environments), strict=True))
    bound = [s for s, lat in ((lower, lat_l), (upper, lat_u))
             if math.isfinite(overhead[s]) and overhead[s] >= OVERHEAD_BOUND * lat]
    band = TIE_Z * math.hypot(float(se_l[-1]), float(se_u[0]))
    gap = (f"no N in common ({names[block]} N = {_range(sides, block)}, {names[reference]} "
           f"{_range(sides, reference)}): {names[lower]} at its largest N, {n_l:.0f}, "
           f"{ms_text(lat_l)}; {names[upper]} at its smallest, {n_u:.0f}, {ms_text(lat_u)}")
    if len(hosts) > 1:
        c_ = Crossing(math.nan, across_nodes(hosts), "across_nodes")
    elif bound:
        c_ = Crossing(math.nan, (
            f"{gap}; the per-call overhead ({overhead[bound[0]] * 1e3:.3g} ms, timed directly) "
            f"is half {names[bound[0]]}'s time there or more: the figures are the overhead's, "
            "not the blocks'"), "overhead_bound")
    elif math.isfinite(band) and abs(math.log(lat_l / lat_u)) <= band:
        c_ = Crossing(math.nan, f"{gap}: the same within their noise (±{band:.1%})",
                      "within_noise")
    else:
        outcome = ("figures_only" if lat_l <= lat_u else
                   "costlier_at_fewer_n" if lower == block else "cheaper_at_more_n")
        c_ = Crossing(math.nan, f"{gap}: " + (
            f"{names[lower]} took less time at fewer positions, which calls neither cheaper"
            if outcome == "figures_only" else
            f"{names[lower]} costs more even at fewer positions"), outcome)
    why = (f"{names[block]} and {names[reference]} share no N: only the latency figures "
           "either side of the gap are set side by side")
    for metric in ("macs", "memory"):
        rec.update({f"n_star_{metric}": math.nan, f"outcome_{metric}": "not_shared",
                    f"reason_{metric}": why})
    xs_block, xs_ref = sides[block][0], sides[reference][0]
    rec.update(n_points=len(xs_block), n_min=float(xs_block[0]), n_max=float(xs_block[-1]),
               n_star_latency=math.nan, outcome_latency=c_.outcome, reason_latency=c_.reason,
               ratio_at_max_latency=math.nan, latency_basis="disjoint", **NOT_INTERPOLATED,
               reference_n_points=len(xs_ref), reference_n_min=float(xs_ref[0]),
               reference_n_max=float(xs_ref[-1]), lower=lower, lower_n=n_l, lower_latency=lat_l,
               upper_n=n_u, upper_latency=lat_u)
    return rec


def _range(sides: Mapping[str, tuple[np.ndarray, ...]], side: str) -> str:
    """A side's measured N as a range, 4624–14400."""
    xs = sides[side][0]
    return f"{xs[0]:.0f}–{xs[-1]:.0f}"
