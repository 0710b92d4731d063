"""Findings: the causes behind the numbers, as data (Finding records): fixed overheads, cache and
mmap-threshold crossings, latency cliffs, windows split at a cache, and the GEMM ceiling's
calibration. a2bench.report turns each into a sentence; nothing here is worded for a reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import pandas as pd

from a2bench import fitting as ft
from a2bench.analysis.exponents import fit_points, run_caches, run_thresholds, steepest_step
from a2bench.analysis.roofline import CEILING_TOLERANCE

CLIFF_EXCESS = 0.5  # a step this much steeper than the model's local slope is a cliff


@dataclass(frozen=True)
class Finding:
    """One stated cause. ``kind`` says which fields matter:

    - overhead: value = fitted overhead a (s) [low, high]; expected = the direct measurement;
      x_from = where the overhead is half the time; x_to = where it falls under 5 %.
    - cache_crossing: ``tensor`` (the largest activation, or the working set: the live peak
      plus the input) grows from bytes_from to bytes_to between swept values x_from and x_to,
      passing ``cache`` (cache_bytes). Working-set crossings are where latency windows split.
    - cliff: the steepest sustained latency step beyond the model, x_from -> x_to, with local
      exponent value against the model's expected; ``cache`` names the caches the working set
      passes there (bytes_from -> bytes_to), or is empty: no cache boundary lies there.
    - window_split: rows lie on both sides of ``cache``; value, low, high = the exponent and 95 %
      interval of the other side (x_from..x_to), expected = the model's slope there.
    - calibration: value = start-to-end drift of the GEMM ceiling; low, high = start and end
      ceilings (FLOP/s).
    - calibration_failed: value = the largest fraction of the GEMM ceiling of ``dtype`` a case
      in that dtype reached (> 1 + CEILING_TOLERANCE).
    """

    kind: str
    run: str
    block: str = ""
    axis: str = ""
    metric: str = ""
    x_from: float = math.nan
    x_to: float = math.nan
    value: float = math.nan
    low: float = math.nan
    high: float = math.nan
    expected: float = math.nan
    cache: str = ""
    cache_bytes: float = math.nan
    bytes_from: float = math.nan
    bytes_to: float = math.nan
    tensor: str = ""
    dtype: str = ""  # calibration_failed: the dtype whose ceiling failed
    session: int = 0  # calibration: 0 the run's first session, 1 on its resumes in order


TENSORS = {"largest_activation_bytes": "largest activation", "working_set_bytes": "working set"}


def findings(fits: pd.DataFrame, data: pd.DataFrame, roof: pd.DataFrame,
             environments: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    """Overheads, cache crossings, cliffs, split windows and calibration, per primary fit."""
    out: list[Finding] = []
    lat = fits[(fits["metric"] == "latency")] if len(fits) else fits
    for _, f in lat[lat["primary"]].iterrows() if len(lat) else []:
        where = {"run": f["run"], "block": f["block"], "axis": f["axis"], "metric": "latency"}
        if math.isfinite(f["overhead"]) or math.isfinite(f["overhead_direct"]):
            out.append(Finding("overhead", **where, x_from=f["x_overhead_half"],
                               x_to=f["x_overhead_5pct"], value=f["overhead"],
                               low=f["overhead_ci_low"], high=f["overhead_ci_high"],
                               expected=f["overhead_direct"]))
        pts = fit_points(data, f)
        # A cliff is read only where the overhead is under a fifth of the time: below that,
        # noise in a flat floor makes steps of any slope.
        settled = pts[pts["y"] >= 5 * f["overhead_used"]] if math.isfinite(
            f["overhead_used"]) else pts
        env = environments.get(f["run"]) or {}
        caches = run_caches(env)
        # What splits windows: the working set against the caches, and the largest single
        # activation against the allocator's mmap threshold; each with the tensor it concerns.
        crossings: list[tuple[ft.Boundary, str]] = []
        for column, tensor in TENSORS.items():
            per_x = pts.groupby("x")[column].max()
            found = ft.boundaries(per_x.index.to_numpy(float), per_x.to_numpy(float), caches)
            if column == "largest_activation_bytes":
                limits = ft.boundaries(per_x.index.to_numpy(float), per_x.to_numpy(float),
                                       run_thresholds(env))
                found += limits
                crossings += [(b, tensor) for b in limits]
            else:
                crossings += [(b, tensor) for b in found]
            for b in found:
                out.append(Finding("cache_crossing", **where, x_from=b.x_from, x_to=b.x_to,
                                   cache=b.cache, cache_bytes=b.cache_bytes,
                                   bytes_from=b.bytes_from, bytes_to=b.bytes_to, tensor=tensor))
        working = pts.groupby("x")["working_set_bytes"].max()
        step = steepest_step(settled["x"], settled["y"], settled["model"])
        if step is not None and step.exponent > step.expected + CLIFF_EXCESS:
            there = [(b, t) for b, t in crossings
                     if b.x_from >= step.x_from and b.x_to <= step.x_to]
            tensor = there[0][1] if there else "working set"
            sizes_of = (pts.groupby("x")["largest_activation_bytes"].max()
                        if tensor == "largest activation" else working)
            out.append(Finding(
                "cliff", **where, x_from=step.x_from, x_to=step.x_to, value=step.exponent,
                expected=step.expected, cache=", ".join(b.cache for b, _ in there),
                cache_bytes=there[0][0].cache_bytes if there else math.nan,
                bytes_from=float(sizes_of.get(step.x_from, math.nan)),
                bytes_to=float(sizes_of.get(step.x_to, math.nan)), tensor=tensor))
        others = lat[(lat["run"] == f["run"]) & (lat["block"] == f["block"])
                     & (lat["axis"] == f["axis"]) & (lat["group"] == f["group"])
                     & (lat["segment"] > 0)]
        for _, o in others.iterrows():
            low_side, high_side = sorted([f, o], key=lambda r: r["fit_x_min"])
            cut = [b for b, _ in crossings if b.x_from >= low_side["fit_x_max"]
                   and b.x_to <= high_side["fit_x_min"]]
            out.append(Finding("window_split", **where, x_from=o["fit_x_min"],
                               x_to=o["fit_x_max"], value=o["exponent"], low=o["ci_low"],
                               high=o["ci_high"], expected=o["expected"],
                               cache=", ".join(dict.fromkeys(b.cache for b in cut))))
    for run, env in environments.items():
        for session, r in enumerate(env.get("roofline_sessions") or [env.get("roofline") or {}]):
            start, end = r.get("gemm_flops_per_s_start"), r.get("gemm_flops_per_s_end")
            if not isinstance(start, (int, float)):
                continue
            drift = r.get("drift")
            out.append(Finding("calibration", run,
                               value=float(drift) if isinstance(drift, (int, float)) else math.nan,
                               low=float(start), session=session,
                               high=float(end) if isinstance(end, (int, float)) else math.nan))
        sub = roof[roof["run"] == run] if len(roof) else roof
        for dtype, rows in sub.groupby("dtype", sort=True) if len(sub) else ():
            if (rows["fraction_of_peak_raw"] > 1 + CEILING_TOLERANCE).any():
                out.append(Finding("calibration_failed", run, dtype=str(dtype),
                                   value=float(rows["fraction_of_peak_raw"].max())))
    return out


def findings_frame(items: Sequence[Finding]) -> pd.DataFrame:
    return pd.DataFrame([asdict(f) for f in items],
                        columns=[f.name for f in fields(Finding)])

