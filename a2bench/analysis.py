"""Scaling fits with bootstrap CIs, verdicts, crossover and roofline from stored results.

Pure pandas/numpy; never torch. Data flows one way: results folders -> one DataFrame of ok and
failed rows (a ``run`` column per folder) -> tables and dicts that a2bench.report renders.

Choices, stated once:
- A metric's exponent is the least-squares slope of log(metric) on log(axis) over the ok rows
  whose axis value is at least the median of the swept (distinct) values: the upper half, where
  the leading term of a cost dominates and fixed overheads matter least.
- An axis counts as swept for a block when it takes >= 2 distinct values with every other size
  parameter fixed. Positions N = t*h*w is one axis (the cost models depend on N only), so zipped
  h, w (and t) are fitted against N. Every such group is fitted; per (run, block, axis) the group
  with the most distinct values (then the most rows, then the first in sorted order) is marked
  ``primary`` and is the one plotted and used for the headline.
- The expected exponent is the same regression on the cost model's numbers over the same rows:
  analytic MACs for ``macs`` and ``latency`` (latency follows MACs when compute-bound), analytic
  peak bytes for ``memory``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a2bench.case import DTYPE_BYTES
from a2bench.errors import InputError
from a2bench.store import load, load_environment

METRICS = ("macs", "latency", "memory")
AXES = ("positions", "batch", "channels", "m", "n", "t", "reduction")
AXIS_LABELS = {
    "positions": "positions N = t·h·w",
    "batch": "batch b",
    "channels": "channels c",
    "m": "m (gathered features)",
    "n": "n (attention maps)",
    "t": "frames t",
    "reduction": "SE reduction r",
}
LEFT, RIGHT = "double_attention", "nonlocal_right"
FIT_COLUMNS = ("block", "metric", "axis", "exponent", "ci_low", "ci_high", "expected", "verdict")
VERDICTS = ("consistent", "inconsistent", "insufficient")

SIZE_COLUMNS = ("batch", "channels", "m", "n", "t", "h", "w", "reduction")
# What stays fixed while an axis moves. Positions moves through t, h and w together.
_FIXED: dict[str, tuple[str, ...]] = {
    "positions": ("batch", "channels", "m", "n", "reduction"),
    "t": ("batch", "channels", "m", "n", "h", "w", "reduction"),
}
for _axis in ("batch", "channels", "m", "n", "reduction"):
    _FIXED[_axis] = tuple(c for c in SIZE_COLUMNS if c != _axis)
_IDENTITY = ("run", "block", "device", "dtype")
_NUMERIC = (
    "threads", "batch", "channels", "m", "n", "t", "h", "w", "reduction", "positions",
    "macs_analytic", "flops_analytic", "macs_fvcore", "macs_torch", "latency_s", "latency_iqr_s",
    "peak_bytes", "peak_bytes_analytic", "first_call_s", "timed_runs", "latency_ci_low_s",
    "latency_ci_high_s", "peak_rss_bytes", "elementwise_analytic", "activation_bytes_analytic",
    "reference_s", "timed_s", "wall_s",
)

CI_TOLERANCE = 0.1
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20180521  # fixed so the same results always give the same report
MIN_POINTS = 3


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class Run:
    label: str
    path: Path
    environment: dict[str, Any]
    rows: int
    ok: int


def run_labels(dirs: Sequence[Path]) -> list[str]:
    """A unique, readable label per folder: its name, more of its path only where names clash."""
    dirs = [Path(d) for d in dirs]
    labels = [d.resolve().name or str(d) for d in dirs]
    for depth in (2, 3):
        clashes = {x for x in labels if labels.count(x) > 1}
        if not clashes:
            break
        labels = [
            "/".join(d.resolve().parts[-depth:]) if lab in clashes else lab
            for d, lab in zip(dirs, labels, strict=True)
        ]
    seen: dict[str, int] = {}
    unique = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        unique.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return unique


def frame(measurements: Iterable[Any], run: str) -> pd.DataFrame:
    """Stored Measurements as rows (results.csv columns) with a ``run`` label."""
    rows = [m.to_row() for m in measurements]
    df = pd.DataFrame(rows)
    df.insert(0, "run", run)
    return df


def load_runs(dirs: Sequence[str | Path]) -> tuple[pd.DataFrame, list[Run]]:
    """Every folder's rows in one frame, and what each folder is. Raises InputError on bad input."""
    if not dirs:
        raise InputError("report: expected at least one results folder")
    paths = [Path(d) for d in dirs]
    if len({p.resolve() for p in paths}) != len(paths):
        raise InputError("report: the same results folder is named twice; name each folder once")
    frames, runs = [], []
    for path, label in zip(paths, run_labels(paths), strict=True):
        if not path.is_dir():
            raise InputError(f"{path}: not a folder (expected a results folder written by "
                             "a2bench run, holding results.jsonl)")
        measurements = load(path)  # StoreError (an InputError) without results.jsonl
        ok = sum(m.status == "ok" for m in measurements)
        if not ok:
            statuses = ", ".join(sorted({m.status for m in measurements})) or "none"
            raise InputError(f"{path}: no ok results in results.jsonl ({len(measurements)} "
                             f"cases, statuses: {statuses}); expected at least one case with "
                             "status ok")
        try:
            env = load_environment(path)
        except ValueError as e:  # JSONDecodeError: a hand-edited or truncated file
            raise InputError(f"{path}: environment.json is not valid JSON ({e}); expected the "
                             "file a2bench run writes, or no file at all") from None
        frames.append(frame(measurements, label))
        runs.append(Run(label, path, env if isinstance(env, dict) else {}, len(measurements),
                        ok))
    return prepare(pd.concat(frames, ignore_index=True)), runs


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns, de-duplicated cases, and the derived metric columns used everywhere."""
    df = df.copy()
    if "run" not in df:
        df.insert(0, "run", "run")
    for col in _NUMERIC:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    if "positions" not in df or df["positions"].isna().any():
        df["positions"] = df["t"] * df["h"] * df["w"]
    key = ["run", "block", "device", "dtype", *SIZE_COLUMNS]
    # A case stored twice (a resumed folder, merged by hand) counts once: the latest record.
    df = df.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
    df["macs"] = df["macs_torch"].where(df["macs_torch"].notna(), df["macs_fvcore"])
    df["latency"] = df["latency_s"]
    df["memory"] = df["peak_bytes"]
    df["input_bytes"] = (df["batch"] * df["channels"] * df["positions"]
                         * df["dtype"].map(DTYPE_BYTES).astype(float))
    # Runs keep the order they were named in, in every table sorted by run.
    df["run_index"] = df["run"].map({r: i for i, r in enumerate(dict.fromkeys(df["run"]))})
    df["shape"] = [shape_label(r) for r in df.itertuples()]
    df["size"] = size_labels(df)
    return df


def shape_label(row: Any) -> str:
    t, h, w = (int(getattr(row, a)) for a in ("t", "h", "w"))
    return f"{t}×{h}×{w}" if t > 1 else f"{h}×{w}"


def size_labels(df: pd.DataFrame) -> list[str]:
    """A block-independent name for each row's sizes, naming only what varies within its run.

    m, n and r are named only where they vary at a fixed (b, c, shape); where they follow c (as
    m = n = c/4 does) naming them would split SE from the attention blocks at the same size.
    """
    labels = pd.Series("", index=df.index, dtype=object)
    base = ["batch", "channels", "t", "h", "w"]
    short = {"batch": "b", "channels": "c", "reduction": "r"}
    for _, rows in df.groupby("run", sort=False):
        vary = [c for c in ("channels", "batch") if rows[c].nunique() > 1]
        vary += [c for c in ("m", "n", "reduction")
                 if (rows.groupby(base, dropna=False)[c].nunique() > 1).any()]
        for idx, row in rows.iterrows():
            parts = [row["shape"]] + [f"{short.get(c, c)}={int(row[c])}" for c in vary
                                      if pd.notna(row[c])]
            labels[idx] = " ".join(parts)
    return labels.tolist()


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"]


# ---------------------------------------------------------------------------------------------
# Exponents


@dataclass(frozen=True)
class Fit:
    exponent: float
    ci_low: float
    ci_high: float
    expected: float
    verdict: str
    points: int
    intercept: float = math.nan  # natural-log intercept of the fitted line
    log_x_mean: float = math.nan  # where the fitted and expected lines meet


def upper_half(x: np.ndarray) -> np.ndarray:
    """Rows whose axis value is at least the median of the distinct swept values."""
    values = np.unique(x)
    return x >= np.median(values) if len(values) else np.zeros(len(x), dtype=bool)


def log_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of log y on log x; NaN where x does not vary."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(slope), float(intercept)


def bootstrap_ci(x: np.ndarray, y: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the log-log slope, resampling (x, y) pairs with a fixed seed.

    Resamples whose x does not vary have no slope and are dropped; with 3-5 points the interval
    is coarse, which is why the verdict widens it by CI_TOLERANCE.
    """
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    k = len(lx)
    if k < 2 or np.ptp(lx) == 0:
        return math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, k, size=(resamples, k))
    xs, ys = lx[idx], ly[idx]
    xc = xs - xs.mean(axis=1, keepdims=True)
    var = (xc**2).sum(axis=1)
    keep = var > 1e-12 * max(1.0, float(np.abs(lx).max()) ** 2)
    if not keep.any():
        return math.nan, math.nan
    slopes = (xc[keep] * (ys[keep] - ys[keep].mean(axis=1, keepdims=True))).sum(axis=1) / var[keep]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(slopes, [alpha, 1 - alpha])
    return float(lo), float(hi)


def verdict(expected: float, ci_low: float, ci_high: float, points: int,
            tolerance: float = CI_TOLERANCE) -> str:
    if points < MIN_POINTS or not all(map(math.isfinite, (expected, ci_low, ci_high))):
        return "insufficient"
    return "consistent" if ci_low - tolerance <= expected <= ci_high + tolerance else "inconsistent"


def fit_exponent(x: Sequence[float], y: Sequence[float], model: Sequence[float] | None = None,
                 *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Fit:
    """The exponent of y in x over the upper half of x, its CI, the model's and the verdict.

    ``model`` holds the cost model's values of the same rows (NaN where unknown).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    model_arr = np.full(len(x), math.nan) if model is None else np.asarray(model, float)
    # The upper half is decided by the swept values, before rows without this metric drop out.
    has_x = np.isfinite(x) & (x > 0)
    x, y, model_arr = x[has_x], y[has_x], model_arr[has_x]
    rows = upper_half(x) & np.isfinite(y) & (y > 0)
    xu, yu, mu = x[rows], y[rows], model_arr[rows]
    slope, intercept = log_slope(xu, yu)
    lo, hi = bootstrap_ci(xu, yu, resamples, seed) if len(xu) >= 2 else (math.nan, math.nan)
    model_ok = np.isfinite(mu) & (mu > 0)
    expected = log_slope(xu, mu)[0] if model_ok.all() and len(mu) else math.nan
    return Fit(slope, lo, hi, expected, verdict(expected, lo, hi, len(xu)), len(xu), intercept,
               float(np.log(xu).mean()) if len(xu) else math.nan)


def _model_column(metric: str) -> str:
    return "peak_bytes_analytic" if metric == "memory" else "macs_analytic"


def _axis_values(df: pd.DataFrame, axis: str) -> pd.Series:
    return df["positions"] if axis == "positions" else df[axis]


def group_label(fixed: Mapping[str, Any]) -> str:
    short = {"batch": "b", "channels": "c", "reduction": "r"}
    return " ".join(f"{short.get(k, k)}={int(v)}" for k, v in fixed.items()
                    if v is not None and not (isinstance(v, float) and math.isnan(v)))


def swept_groups(df: pd.DataFrame, axis: str) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """(identity and fixed sizes, rows) for every group in which ``axis`` takes >= 2 values."""
    ok = ok_rows(df)
    ok = ok[_axis_values(ok, axis).notna()]
    keys = [*_IDENTITY, *_FIXED[axis]]
    out = []
    for values, rows in ok.groupby(keys, dropna=False, sort=True):
        if _axis_values(rows, axis).nunique() >= 2:
            out.append((dict(zip(keys, values, strict=True)), rows))
    return out


def fit_exponents(df: pd.DataFrame, *, resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """One row per (run, block, metric, axis, group): FIT_COLUMNS first, then details."""
    records: list[dict[str, Any]] = []
    for axis in AXES:
        groups = swept_groups(df, axis)
        best: dict[tuple[Any, ...], tuple[tuple[int, int], int]] = {}
        for i, (ident, rows) in enumerate(groups):
            k = (ident["run"], ident["block"], ident["device"], ident["dtype"])
            size = (_axis_values(rows, axis).nunique(), len(rows))
            if k not in best or size > best[k][0]:  # ties: the first group in sorted order
                best[k] = (size, i)
        primary = {i for _, i in best.values()}
        for i, (ident, rows) in enumerate(groups):
            x = _axis_values(rows, axis).to_numpy(float)
            fixed = {c: ident[c] for c in _FIXED[axis]}
            for metric in METRICS:
                y = rows[metric].to_numpy(float)
                model = rows[_model_column(metric)].to_numpy(float)
                f = fit_exponent(x, y, model, resamples=resamples, seed=seed)
                valid = np.isfinite(y) & (y > 0)
                slope_all = log_slope(x[valid], y[valid])[0]
                model_all = log_slope(x, model)[0] if np.all(model > 0) else math.nan
                upper = x[upper_half(x) & valid]
                # Latency may follow all the arithmetic rather than the MACs alone: SE's MACs
                # do not grow with N, its pooling and scaling do.
                flops = rows["flops_analytic"].to_numpy(float)[upper_half(x) & valid]
                expected_flops = (log_slope(upper, flops)[0] if len(flops) and np.all(flops > 0)
                                  else math.nan)
                records.append({
                    "block": ident["block"], "metric": metric, "axis": axis,
                    "exponent": f.exponent, "ci_low": f.ci_low, "ci_high": f.ci_high,
                    "expected": f.expected, "verdict": f.verdict,
                    "run": ident["run"], "device": ident["device"], "dtype": ident["dtype"],
                    "group": group_label(fixed), "primary": i in primary, "points": f.points,
                    "swept_values": int(np.unique(x).size),
                    "fit_x_min": float(upper.min()) if len(upper) else math.nan,
                    "fit_x_max": float(upper.max()) if len(upper) else math.nan,
                    "exponent_all": slope_all, "expected_all": model_all,
                    "expected_flops": expected_flops,
                    "intercept": f.intercept, "log_x_mean": f.log_x_mean,
                    **{f"fixed_{c}": ident[c] for c in _FIXED[axis]},
                })
    columns = [*FIT_COLUMNS, "run", "device", "dtype", "group", "primary", "points",
               "swept_values", "fit_x_min", "fit_x_max", "exponent_all", "expected_all",
               "expected_flops", "intercept", "log_x_mean"]
    out = pd.DataFrame.from_records(records)
    if out.empty:
        return pd.DataFrame(columns=columns)
    fixed_cols = sorted(c for c in out.columns if c.startswith("fixed_"))
    order = {r: i for i, r in enumerate(dict.fromkeys(df["run"]))}
    out = out.sort_values("run", key=lambda r: r.map(order), kind="stable")
    return out[columns + fixed_cols].reset_index(drop=True)


def fit_points(data: pd.DataFrame, fit: Mapping[str, Any]) -> pd.DataFrame:
    """The rows behind one fit: x, y, the model's y, and whether the row is in the fitted half."""
    axis, metric = fit["axis"], fit["metric"]
    rows = ok_rows(data)
    rows = rows[(rows["run"] == fit["run"]) & (rows["block"] == fit["block"])
                & (rows["device"] == fit["device"]) & (rows["dtype"] == fit["dtype"])]
    for c in _FIXED[axis]:
        v = fit.get(f"fixed_{c}")
        rows = rows[rows[c].isna()] if v is None or pd.isna(v) else rows[rows[c] == v]
    x = _axis_values(rows, axis).to_numpy(float)
    out = pd.DataFrame({"x": x, "y": rows[metric].to_numpy(float),
                        "model": rows[_model_column(metric)].to_numpy(float),
                        "size": rows["size"].to_numpy(), "block": fit["block"],
                        "run": fit["run"]})
    out["fitted"] = upper_half(x) & np.isfinite(out["y"]) & (out["y"] > 0)
    out = out[np.isfinite(out["y"]) & (out["y"] > 0)]
    return out.sort_values("x", ignore_index=True)


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


# ---------------------------------------------------------------------------------------------
# Non-local order against double attention


def predicted_crossover(m: float, n: float) -> float:
    """N above which (m+n)N^2 + 2c(m+n)N exceeds 2mnN + 2c(m+n)N, i.e. right costs more MACs."""
    return 2 * m * n / (m + n)


def pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Every shape measured in both orders (ok): right ÷ left for each metric and the model."""
    ok = ok_rows(df)
    key = ["run", "device", "dtype", "batch", "channels", "m", "n", "t", "h", "w"]
    cols = [*key, "run_index", "positions", "shape", "macs", "latency", "memory", "macs_analytic",
            "peak_bytes_analytic"]
    left = ok[ok["block"] == LEFT][cols]
    right = ok[ok["block"] == RIGHT][cols]
    merged = left.merge(right.drop(columns=["run_index", "positions", "shape"]), on=key,
                        suffixes=("_left", "_right"))
    out = merged[[*key, "run_index", "positions", "shape"]].copy()
    for metric, col in (("macs", "macs"), ("latency", "latency"), ("memory", "memory"),
                        ("macs_model", "macs_analytic"), ("memory_model", "peak_bytes_analytic")):
        out[f"ratio_{metric}"] = merged[f"{col}_right"] / merged[f"{col}_left"]
    out["n_star_predicted"] = predicted_crossover(out["m"], out["n"])
    return out.sort_values(["run_index", "channels", "m", "n", "batch", "t", "positions"],
                           ignore_index=True)


@dataclass(frozen=True)
class Crossing:
    n_star: float
    reason: str = ""


def crossing(positions: Sequence[float], ratio: Sequence[float]) -> Crossing:
    """N at which right/left passes 1 going up, interpolated linearly in log N.

    Measured ratios wobble around 1 at sizes where both orders are overhead-bound, so the last
    upward crossing is reported: from there on, up to the largest N swept, right costs more.
    """
    x = np.asarray(positions, float)
    r = np.asarray(ratio, float)
    keep = np.isfinite(x) & (x > 0) & np.isfinite(r)
    x, r = x[keep], r[keep]
    if len(np.unique(x)) < 2:
        return Crossing(math.nan, "fewer than two positions N measured in both orders")
    # Several shapes with one N (h×w and w×h, or t·h·w ties): one geometric-mean ratio per N.
    xs = np.unique(x)
    rs = np.array([math.exp(np.log(r[x == v]).mean()) if (r[x == v] > 0).all()
                   else float(np.mean(r[x == v])) for v in xs])
    above = rs > 1
    ups = [i for i in range(len(xs) - 1) if not above[i] and above[i + 1]]
    if above.all():
        return Crossing(math.nan, f"non-local already costs more at the smallest N swept "
                                  f"({xs[0]:.0f}); the crossover lies below the range")
    if not above[-1]:
        return Crossing(math.nan, f"non-local costs no more than double attention at the "
                                  f"largest N swept ({xs[-1]:.0f})")
    i = ups[-1]
    lx0, lx1 = math.log(xs[i]), math.log(xs[i + 1])
    frac = (1 - rs[i]) / (rs[i + 1] - rs[i])
    reason = "" if len(ups) == 1 else (f"ratio crosses 1 upward {len(ups)} times; "
                                       "the last crossing is reported")
    return Crossing(math.exp(lx0 + frac * (lx1 - lx0)), reason)


def crossovers(df: pd.DataFrame) -> pd.DataFrame:
    """Per (run, channels, m, n, batch, t) with both orders over >= 2 N: predicted and measured."""
    p = pairs(df)
    columns = ["run", "device", "channels", "m", "n", "batch", "t", "n_points", "n_min",
               "n_max", "n_star_predicted", "n_star_macs", "n_star_latency", "n_star_memory",
               "n_star_memory_model", "predicted_in_range", "reason_macs", "reason_latency",
               "reason_memory", "reason_memory_model"]
    records = []
    keys = ["run_index", "run", "device", "channels", "m", "n", "batch", "t"]
    for key, rows in p.groupby(keys, sort=True):
        if rows["positions"].nunique() < 2:
            continue
        _, run, device, c, m, n, b, t = key
        rec: dict[str, Any] = {
            "run": run, "device": device, "channels": c, "m": m, "n": n, "batch": b, "t": t,
            "n_points": int(rows["positions"].nunique()),
            "n_min": float(rows["positions"].min()), "n_max": float(rows["positions"].max()),
            "n_star_predicted": predicted_crossover(m, n),
        }
        rec["predicted_in_range"] = bool(rec["n_min"] <= rec["n_star_predicted"] <= rec["n_max"])
        for metric in ("macs", "latency", "memory", "memory_model"):
            c_ = crossing(rows["positions"], rows[f"ratio_{metric}"])
            rec[f"n_star_{metric}"] = c_.n_star
            rec[f"reason_{metric}"] = c_.reason
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=columns)


# ---------------------------------------------------------------------------------------------
# Roofline


def roofline(df: pd.DataFrame, environments: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per ok case: achieved GFLOP/s, fraction of the run's GEMM ceiling, arithmetic intensity.

    Intensity counts the bytes a forward pass must at least touch once: every activation it
    writes (cost model) plus the input. Ceilings come from the same run's calibration.
    """
    ok = ok_rows(df)
    ok = ok[(ok["latency"] > 0) & ok["flops_analytic"].notna()].copy()

    def ceiling(run: str, key: str) -> float:
        value = (environments.get(run) or {}).get("roofline", {}).get(key)
        return float(value) if value else math.nan

    peak = ok["run"].map(lambda r: ceiling(r, "gemm_flops_per_s")).astype(float)
    bandwidth = ok["run"].map(lambda r: ceiling(r, "bandwidth_bytes_per_s")).astype(float)
    achieved = ok["flops_analytic"] / ok["latency"]
    moved = ok["activation_bytes_analytic"] + ok["input_bytes"]
    intensity = ok["flops_analytic"] / moved
    attainable = np.minimum(peak, intensity * bandwidth)
    out = ok[["run", "run_index", "device", "block", *SIZE_COLUMNS, "positions", "shape",
              "flops_analytic", "latency"]].copy()
    out["bytes_moved"] = moved
    out["gflops"] = achieved / 1e9
    out["peak_gflops"] = peak / 1e9
    out["fraction_of_peak"] = achieved / peak
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
            "run": run, "block": block, "cases": len(rows),
            "best_gflops": float(best["gflops"]), "best_shape": best["shape"],
            "best_positions": float(best["positions"]),
            "best_fraction_of_peak": float(best["fraction_of_peak"]),
            "median_fraction_of_peak": float(rows["fraction_of_peak"].median()),
            "peak_gflops": float(best["peak_gflops"]),
        })
    return pd.DataFrame.from_records(records)


# ---------------------------------------------------------------------------------------------
# Several runs


def compare_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Cases measured (ok) in every run, matched by block and shape: latency side by side."""
    runs = list(dict.fromkeys(df["run"]))
    if len(runs) < 2:
        return pd.DataFrame()
    key = ["block", "dtype", *SIZE_COLUMNS]
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


# ---------------------------------------------------------------------------------------------
# Headline


def headline(fits: pd.DataFrame, runs: Sequence[str]) -> dict[str, Any]:
    """Do the MAC and memory exponents along N confirm O(m·n·N) against O((m+n)·N²)?"""
    per_run: dict[str, dict[str, Any]] = {}
    for run in runs:
        f = fits[(fits["run"] == run) & fits["primary"] & (fits["axis"] == "positions")] \
            if len(fits) else fits
        got: dict[tuple[str, str], pd.Series] = {}
        for block in (LEFT, RIGHT):
            for metric in METRICS:
                row = f[(f["block"] == block) & (f["metric"] == metric)]
                if len(row):
                    got[(block, metric)] = row.iloc[0]
        needed = [(b, m) for b in (LEFT, RIGHT) for m in ("macs", "memory")]
        verdicts = [got[k]["verdict"] if k in got else "insufficient" for k in needed]
        if all(v == "consistent" for v in verdicts):
            status = "confirmed"
        elif "inconsistent" in verdicts:
            status = "not confirmed"
        else:
            status = "insufficient data"

        fitted = [r for r in got.values() if math.isfinite(r["exponent"])]
        if status == "insufficient data" and not got:
            text = (f"{run}: no sweep of positions N with both attention orders, so the N vs N² "
                    "scaling cannot be checked from this run.")
        elif status == "insufficient data" and not fitted:
            values = max(int(r["swept_values"]) for r in got.values())
            text = (f"{run}: positions N takes only {values} values here, too few to fit an "
                    "exponent (5 or more give the 3 points in the upper half a verdict needs).")
        else:
            verb = {"confirmed": "confirm", "not confirmed": "do not confirm",
                    "insufficient data": "cannot confirm (too few points)"}[status]
            text = (f"{run}: the MAC and memory exponents along positions N {verb} O(m·n·N) for "
                    f"double attention against O((m+n)·N²) for the non-local order. "
                    f"MACs: double attention {_describe(got, LEFT, 'macs')}, non-local "
                    f"{_describe(got, RIGHT, 'macs')}. Memory: double attention "
                    f"{_describe(got, LEFT, 'memory')}, non-local "
                    f"{_describe(got, RIGHT, 'memory')}. Latency (follows MACs only when "
                    f"compute-bound): double attention {_describe(got, LEFT, 'latency')}, "
                    f"non-local {_describe(got, RIGHT, 'latency')}.")
            right_model = got.get((RIGHT, "macs"))
            if right_model is not None and math.isfinite(right_model["expected"]) \
                    and right_model["expected"] < 1.5:
                text += (" The swept N is small next to 2c, so even the model's exponent for "
                         "the non-local order is below 1.5 here; sweep larger N to see N².")
        per_run[run] = {"verdict": status, "text": text,
                        "exponents": {f"{b}/{m}": _fit_dict(got[(b, m)]) for (b, m) in got}}
    statuses = [v["verdict"] for v in per_run.values()]
    if statuses and all(s == "confirmed" for s in statuses):
        overall = "confirmed"
    elif "not confirmed" in statuses:
        overall = "not confirmed"
    elif "confirmed" in statuses:
        overall = "confirmed"  # runs without a positions sweep say nothing against it
    else:
        overall = "insufficient data"
    return {"verdict": overall, "runs": per_run}


def _describe(got: Mapping[tuple[str, str], pd.Series], block: str, metric: str) -> str:
    if (block, metric) not in got:
        return "not measured"
    r = got[(block, metric)]
    if not math.isfinite(r["exponent"]):
        return f"too few points to fit ({int(r['points'])} in the upper half)"
    return (f"{_num(r['exponent'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}] "
            f"(model {_num(r['expected'])}, {r['verdict']})")


def _fit_dict(row: pd.Series) -> dict[str, Any]:
    return {k: clean(row[k]) for k in ("exponent", "ci_low", "ci_high", "expected", "verdict",
                                       "points", "group")}


def _num(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.2f}"


def clean(value: Any) -> Any:
    """A JSON-safe scalar: NaN and infinities become None, numpy scalars plain Python."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


# ---------------------------------------------------------------------------------------------
# Everything at once


@dataclass(frozen=True)
class Analysis:
    data: pd.DataFrame
    runs: tuple[Run, ...]
    fits: pd.DataFrame
    pairs: pd.DataFrame
    crossovers: pd.DataFrame
    roofline: pd.DataFrame
    roofline_summary: pd.DataFrame
    comparison: pd.DataFrame
    headline: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    @property
    def environments(self) -> dict[str, dict[str, Any]]:
        return {r.label: r.environment for r in self.runs}


def analyse(data: pd.DataFrame, runs: Sequence[Run], *, resamples: int = BOOTSTRAP_RESAMPLES,
            seed: int = BOOTSTRAP_SEED) -> Analysis:
    envs = {r.label: r.environment for r in runs}
    fits = fit_exponents(data, resamples=resamples, seed=seed)
    roof = roofline(data, envs)
    return Analysis(
        data=data, runs=tuple(runs), fits=fits, pairs=pairs(data), crossovers=crossovers(data),
        roofline=roof, roofline_summary=roofline_summary(roof), comparison=compare_runs(data),
        headline=headline(fits, [r.label for r in runs]),
    )
