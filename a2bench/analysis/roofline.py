"""The roofline: per ok case, the achieved GFLOP/s against the run's own GEMM ceiling and memory
bandwidth (per dtype), its arithmetic intensity and which roof bounds it; a ceiling that cases
clearly beat is withheld as mis-measured. roofline_summary() gives each block's best case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from a2bench.analysis.columns import size_columns
from a2bench.analysis.load import ok_rows

# How far past the run's GEMM ceiling a case may run before that ceiling counts as mis-measured;
# the same 5 % as the start-to-end drift a run warns about.
CEILING_TOLERANCE = 0.05


def run_ceiling(env: Mapping[str, Any], dtype: str | None, key: str, host: str = "") -> float:
    """A run's ceiling `key` (gemm_flops_per_s, bandwidth_bytes_per_s) for a dtype: each dtype
    against its own GEMM (runs since the dtype axis keep one per dtype), and in a Slurm
    partition merged from several nodes, the node's own (`rooflines_by_host`); NaN if none."""
    per_node = ((env.get("rooflines_by_host") or {}).get(host) or {}).get(dtype)
    record = per_node or (env.get("rooflines") or {}).get(dtype) or env.get("roofline") or {}
    if record.get("dtype", dtype) != dtype:
        return math.nan
    value = record.get(key)
    return float(value) if value else math.nan


def roofline(df: pd.DataFrame, environments: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per ok case: achieved GFLOP/s, fraction of the run's GEMM ceiling, arithmetic intensity.

    Intensity counts the bytes a forward pass must at least touch once: every activation it
    writes (cost model) plus the input. Ceilings come from the same run's calibration.
    """
    ok = ok_rows(df)
    ok = ok[(ok["latency"] > 0) & ok["flops_analytic"].notna()].copy()

    def column(key: str) -> pd.Series:
        return pd.Series([run_ceiling(environments.get(r) or {}, d, key, h) for r, d, h in zip(
            ok["run"], ok["dtype"], ok["host"], strict=True)], index=ok.index, dtype=float)

    peak, bandwidth = column("gemm_flops_per_s"), column("bandwidth_bytes_per_s")
    achieved = ok["flops_analytic"] / ok["latency"]
    moved = ok["activation_bytes_analytic"] + ok["input_bytes"]
    intensity = ok["flops_analytic"] / moved
    attainable = np.minimum(peak, intensity * bandwidth)
    out = ok[["run", "run_index", "device", "dtype", "block", "variant", "mode", "compile",
              *size_columns(ok), "positions", "shape", "flops_analytic", "latency"]].copy()
    out["bytes_moved"] = moved
    out["gflops"] = achieved / 1e9
    out["peak_gflops"] = peak / 1e9
    out["fraction_of_peak_raw"] = achieved / peak
    # A case clearly faster than the ceiling means the ceiling was mis-measured, not that the
    # block beat the GEMM: every fraction of that run and dtype is then withheld, and a finding
    # says so. (Per dtype: an emulated bf16 torch.mm can be slower than the blocks' bf16
    # convolutions, which says nothing about the float32 ceiling of the same run.) Up to
    # CEILING_TOLERANCE over is a case reaching the ceiling: the calibration's square GEMMs
    # (at most 8192³) are not the block's shapes, and on an H100 the non-local order's
    # 65536×512×65536 product ran at 100.5 % of them in fp32.
    out["host"] = ok["host"]  # (each node's ceilings fail or hold on their own)
    failed = out.groupby(["run", "dtype", "host"])["fraction_of_peak_raw"].transform(
        lambda v: (v > 1 + CEILING_TOLERANCE).any())
    out["calibration_ok"] = ~failed.astype(bool)
    out["fraction_of_peak"] = out["fraction_of_peak_raw"].where(out["calibration_ok"])
    out["intensity"] = intensity
    out["ridge_intensity"] = peak / bandwidth
    out["attainable_gflops"] = attainable / 1e9
    out["fraction_of_attainable"] = achieved / attainable
    out["bound"] = np.where(intensity < peak / bandwidth, "memory", "compute")
    out.loc[~np.isfinite(peak / bandwidth), "bound"] = ""
    return out.reset_index(drop=True)


def roofline_summary(roof: pd.DataFrame) -> pd.DataFrame:
    """Per (run, block): the best case and the median fraction of the GEMM ceiling."""
    records = []
    for (_, run, block), rows in roof.groupby(["run_index", "run", "block"], sort=True):
        best = rows.loc[rows["gflops"].idxmax()]
        records.append({
            "run": run, "block": block, "dtype": best["dtype"], "cases": len(rows),
            "best_gflops": float(best["gflops"]), "best_shape": best["shape"],
            "best_positions": float(best["positions"]),
            "best_fraction_of_peak": float(best["fraction_of_peak"]),
            "median_fraction_of_peak": float(rows["fraction_of_peak"].median()),
            "peak_gflops": float(best["peak_gflops"]),
        })
    return pd.DataFrame.from_records(records)


# The rate a latency fit's window reaches: t = t0 + F/R, the overhead t0 removed.


@dataclass(frozen=True)
class Throughput:
    t0: float
    rate: float  # work units per second (R)


def throughput(work: np.ndarray, t: np.ndarray) -> Throughput:
    """Least squares in relative error of t = t0 + F/R (t0 ≥ 0): the achieved rate R, NaN
    where F/R is under 5% of t at the largest F (a flat t had read as 1e25 GFLOP/s)."""
    f, t = np.asarray(work, float), np.asarray(t, float)
    ok = np.isfinite(f) & np.isfinite(t) & (f > 0) & (t > 0)
    f, t = f[ok], t[ok]
    if len(f) < 2 or np.ptp(f) == 0:
        return Throughput(math.nan, math.nan)
    design = np.column_stack([np.ones_like(f), f]) / t[:, None]
    r = optimize.lsq_linear(design, np.ones_like(t), bounds=([0, 0], [np.inf, np.inf]))
    t0, inv_rate = r.x
    top = int(np.argmax(f))
    return Throughput(float(t0), float(1 / inv_rate) if inv_rate * f[top] >= 0.05 * t[top]
                      else math.nan)
