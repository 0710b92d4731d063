"""Crossovers: where one block starts to cost more than another along positions N. pairs() and
crossovers() set the non-local order against double attention (the study's pair) shape by
shape, with the predicted N* = 2mn/(m+n); crossing() reads where a ratio last passes 1 going
up, and the checks beside it (on one node, outside the per-call overhead, beyond the noise) say
where a latency crossing is not read. Every other block against one reference block is
analysis.against's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from a2bench import fitting as ft
from a2bench.analysis.columns import STUDY, Pair, block_label, hosts_of
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


def run_overheads(environments: Mapping[str, Mapping[str, Any]] | None, run: str,
                  rows: pd.DataFrame, sides: Sequence[tuple[str, Mapping[str, Any]]]
                  ) -> list[float]:
    """Each side's per-call overhead (exponents.direct_overhead: timed directly; NaN where the
    run has none), one per (block, the sizes it holds fixed) of `sides`, from `run`'s
    environment and in the setting `rows` ran: their dtype, mode and compile (pairs' rows,
    the study's plain blocks alone, carry neither: the plain forward). The one reading of
    the overheads of every crossover (crossovers, and analysis.against's three paths)."""
    env = (environments or {}).get(run) or {}
    kind = {"dtype": rows["dtype"].iloc[0],
            "mode": rows["mode"].iloc[0] if "mode" in rows else "forward",
            "compile": bool(rows["compile"].iloc[0]) if "compile" in rows else False}
    return [direct_overhead(env, block, fixed, kind) for block, fixed in sides]


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
                fixed = {"channels": c, "m": m, "n": n, "batch": b}
                overheads = run_overheads(environments, run, rows,
                                          [(pair.left, fixed), (pair.right, fixed)])
                c_ = _overhead_crossing(c_, rows["positions"],
                                        [rows["latency_left"], rows["latency_right"]], overheads)
                c_ = _noise_crossing(c_, rows["positions"], rows["ratio_latency"],
                                     [(rows["latency_left"], rows["samples_left"]),
                                      (rows["latency_right"], rows["samples_right"])])
            rec[f"n_star_{metric}"] = c_.n_star
            rec[f"reason_{metric}"] = c_.reason
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=columns)
