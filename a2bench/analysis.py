"""Scaling fits, verdicts, findings, crossover and roofline from stored results.

Pure pandas/numpy/scipy; never torch. Data flows one way: results folders -> one DataFrame of ok
and failed rows (a ``run`` column per folder) -> tables, findings and dicts that a2bench.report
renders without deciding anything.

Choices, stated once (the method itself is in a2bench.fitting):
- An axis counts as swept for a block when it takes >= 2 distinct values with every other size
  parameter fixed. Positions N = t*h*w is one axis (the cost models depend on N only), so zipped
  h, w (and t) are fitted against N. Every such group is fitted; per (run, block, axis) the group
  with the most distinct values (then the most rows, then the first in sorted order) is marked
  ``primary`` (its main window only) and is the one plotted and used for the headline.
- Each metric is fitted as t = a + b·x^k; the exponent is read on the window where the overhead
  a is under 5 % of the metric and, for latency, no cache boundary of the run's measured caches
  lies inside. Rows past a boundary form another window (segment 1, 2, ...), fitted and
  reported beside the main one.
- The expected exponent is the slope of the cost model's numbers over the same window: analytic
  MACs for ``macs``, analytic FLOPs for ``latency`` (all the arithmetic, so SE's elementwise
  work counts), analytic peak bytes for ``memory``.
- Verdicts: consistent, contradicted or inconclusive, each with its reason (a2bench.fitting).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from a2bench import fitting as ft
from a2bench.case import DTYPE_BYTES, LEGACY_PARAMS
from a2bench.errors import InputError
from a2bench.measurement import CSV_COLUMNS
from a2bench.run.store import load, load_environment

METRICS = ("macs", "latency", "memory")
# The axes of the built-in blocks, in report order. A run's axes are these and every other
# numeric block parameter it holds (see axes()); labels of those come from environment.json.
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


@dataclass(frozen=True)
class Pair:
    """Two blocks compared shape by shape: ``right`` ÷ ``left`` in pairs() and crossovers()."""

    left: str
    right: str


# The study this benchmark was built for: the same function in two orders of evaluation.
STUDY = Pair(left="double_attention", right="nonlocal_right")
# The block every other one is set against in crossovers_against (the report's section).
REFERENCE = STUDY.left
FIT_COLUMNS = ("block", "metric", "axis", "exponent", "ci_low", "ci_high", "expected", "verdict")
VERDICTS = ft.VERDICTS

# The built-in blocks' size columns; size_columns(df) adds every other numeric block parameter.
SIZE_COLUMNS = ("batch", "channels", "m", "n", "t", "h", "w", "reduction")
# Columns prepare() adds; with results.csv's own columns, they are not block parameters.
_DERIVED = ("run", "samples", "macs", "latency", "memory", "latency_fit",
            "largest_activation_bytes", "input_bytes", "working_set_bytes", "run_index", "shape",
            "size", "block_name", "variant")
_IDENTITY = ("run", "block", "device", "dtype")


def param_columns(df: pd.DataFrame) -> list[str]:
    """The block-parameter columns of a frame: m, n, reduction, then any other a block added."""
    known = set(CSV_COLUMNS) | set(_DERIVED)
    return [*LEGACY_PARAMS, *(c for c in df.columns if c not in known and c not in LEGACY_PARAMS)]


def size_columns(df: pd.DataFrame) -> list[str]:
    """Shape axes and numeric block parameters: what identifies a case within a block."""
    return [*SIZE_COLUMNS, *(c for c in param_columns(df) if c not in LEGACY_PARAMS)]


def axes(df: pd.DataFrame) -> list[str]:
    """The axes a frame can be fitted along, in report order: the built-in ones, then others."""
    return [*AXES, *(c for c in param_columns(df) if c not in AXES)]


def fixed_columns(df: pd.DataFrame, axis: str) -> tuple[str, ...]:
    """What stays fixed while an axis moves. Positions moves through t, h and w together."""
    sizes = size_columns(df)
    if axis == "positions":
        return tuple(c for c in sizes if c not in ("t", "h", "w"))
    if axis == "t":
        return tuple(c for c in sizes if c != "t")
    return tuple(c for c in sizes if c != axis)


def axis_label(axis: str, environments: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """An axis's label: the built-in table, else the label a block declared (environment)."""
    if axis in AXIS_LABELS:
        return AXIS_LABELS[axis]
    for env in (environments or {}).values():
        for desc in (env.get("blocks") or {}).values():
            for p in desc.get("params") or ():
                if p.get("name") == axis and p.get("label"):
                    return str(p["label"])
    return axis


# Labels of the blocks that existed before runs recorded their blocks in environment.json, so
# that results written then still read as they did: name -> (label, short label).
LEGACY_LABELS = {
    "double_attention": ("double attention (A², gather first)", "double attention"),
    "nonlocal_right": ("non-local order (N×N first)", "non-local order"),
    "se": ("SE (squeeze-excitation)", "SE"),
}


def block_label(block: str, environments: Mapping[str, Mapping[str, Any]] | None = None, *,
                short: bool = False) -> str:
    """A block's label from environment.json (what its spec declared when it ran); a variant
    such as nonlocal[sdpa] keeps its suffix. Runs written before environment.json held
    ``blocks`` fall back to LEGACY_LABELS; other unknown blocks are shown by name."""
    name, _, variant = block.partition("[")
    label = None
    for env in (environments or {}).values():
        desc = (env.get("blocks") or {}).get(name)
        if desc:
            label = desc.get("short_label" if short else "label") or name
            break
    if label is None:
        if name not in LEGACY_LABELS:
            return block
        label = LEGACY_LABELS[name][1 if short else 0]
    return f"{label} [{variant}" if variant else label


def block_order(df: pd.DataFrame,
                environments: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """The blocks of a frame in a stable order: as the runs' environment.json lists them (the
    suite's order; a variant such as nonlocal[sdpa] follows its block), then the others in the
    order they first appear. The order cases ran in is shuffled, so it alone would not do."""
    declared: list[str] = []
    for env in (environments or {}).values():
        declared += [b for b in (env.get("blocks") or {}) if b not in declared]
    rank = {b: i for i, b in enumerate(declared)}
    present = list(dict.fromkeys(df["block"])) if "block" in df else []
    first = {b: i for i, b in enumerate(present)}
    return sorted(present, key=lambda b: (rank.get(b.partition("[")[0], len(rank)), first[b]))
_NUMERIC = (
    "threads", "batch", "channels", "m", "n", "t", "h", "w", "reduction", "positions",
    "macs_analytic", "flops_analytic", "macs_fvcore", "macs_torch", "latency_s", "latency_iqr_s",
    "peak_bytes", "peak_bytes_analytic", "first_call_s", "timed_runs", "latency_ci_low_s",
    "latency_ci_high_s", "peak_rss_bytes", "elementwise_analytic", "activation_bytes_analytic",
    "reference_s", "timed_s", "wall_s", "largest_activation_bytes_analytic",
    "macs_fvcore_declared", "macs_torch_declared", "saved_bytes_analytic", "macs_thop",
    "macs_ptflops", "parameters", "parameters_analytic",
)

BOOTSTRAP_RESAMPLES = ft.BOOTSTRAP_RESAMPLES
BOOTSTRAP_SEED = ft.BOOTSTRAP_SEED


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
    rows = [{**m.to_row(), "samples": tuple(m.samples_s)} for m in measurements]
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
    # A categorical parameter (nonlocal's impl) makes a variant of its block: fitted, plotted
    # and tabled as a block of its own, nonlocal[sdpa], since it is a different kernel.
    # Train mode and torch.compile make variants too (double_attention[train],
    # nonlocal[sdpa, train, compiled]); `variant` is the block without them, what a train or
    # compiled row is set against (mode_pairs, compile_pairs).
    df["block_name"] = df["block"]
    suffixes: list[list[str]] = [[] for _ in range(len(df))]
    for col in param_columns(df):
        if col not in df:
            df[col] = math.nan
            continue
        numeric = pd.to_numeric(df[col], errors="coerce")
        given = df[col].notna() & (df[col] != "")
        if numeric.notna().sum() == given.sum():  # numeric, or nowhere given
            df[col] = numeric.astype(float)
        else:
            for parts, v in zip(suffixes, df[col].where(given), strict=True):
                if not pd.isna(v):
                    parts.append(str(v))
            df = df.drop(columns=[col])
    df["variant"] = [f"{b}[{', '.join(p)}]" if p else b
                     for b, p in zip(df["block"], suffixes, strict=True)]
    df["mode"] = df["mode"].fillna("forward") if "mode" in df else "forward"
    df["compile"] = (df["compile"].map(_as_bool) if "compile" in df else False)
    # A run in several dtypes names the others too (double_attention[bfloat16]): each is
    # fitted, plotted and tabled apart. A run in one dtype keeps plain names, whatever it is.
    main = {run: ("float32" if "float32" in set(rows) else rows.iloc[0])
            for run, rows in df.groupby("run", sort=False)["dtype"] if rows.nunique() > 1}
    for parts, run, dtype, mode, compiled in zip(suffixes, df["run"], df["dtype"], df["mode"],
                                                 df["compile"], strict=True):
        if run in main and dtype != main[run]:
            parts.append(str(dtype))
        parts += [m for m, on in (("train", mode == "train"), ("compiled", compiled)) if on]
    df["block"] = [f"{b}[{', '.join(p)}]" if p else b
                   for b, p in zip(df["block"], suffixes, strict=True)]
    key = ["run", "block", "device", "dtype", *size_columns(df)]
    # A case stored twice (a resumed folder, merged by hand) counts once: the latest record.
    df = df.drop_duplicates(subset=key, keep="last").reset_index(drop=True)
    # The counted MACs: FlopCounterMode's, else fvcore's, each only where the block does not
    # declare that counter off the model (SDPA's fused kernel is invisible to both on CPU).
    # Records written before the declarations existed count as undeclared.
    def counted(name: str) -> pd.Series:
        declared = df.get(f"macs_{name}_declared")
        exact = (pd.to_numeric(declared, errors="coerce").fillna(0) == 0
                 if declared is not None else True)
        return df[f"macs_{name}"].where(exact)

    torch_macs, fvcore_macs = counted("torch"), counted("fvcore")
    df["macs"] = torch_macs.where(torch_macs.notna(), fvcore_macs)
    df["latency"] = df["latency_s"]
    df["memory"] = df["peak_bytes"]
    if "samples" not in df:
        df["samples"] = [() for _ in range(len(df))]
    # The per-case latency the fits read: a low quantile of the raw samples (a2bench.fitting).
    df["latency_fit"] = [float(ft.summary_of(np.asarray(s))) if len(s) else lat
                         for s, lat in zip(df["samples"], df["latency"], strict=True)]
    df["largest_activation_bytes"] = largest_activation(df)
    df["input_bytes"] = (df["batch"] * df["channels"] * df["positions"]
                         * df["dtype"].map(DTYPE_BYTES).astype(float))
    # What one forward pass holds at once: the model's live peak of activations plus the input.
    # A latency window never straddles the size where this outgrows a cache.
    df["working_set_bytes"] = df["peak_bytes_analytic"] + df["input_bytes"]
    # Runs keep the order they were named in, in every table sorted by run.
    df["run_index"] = df["run"].map({r: i for i, r in enumerate(dict.fromkeys(df["run"]))})
    df["shape"] = [shape_label(r) for r in df.itertuples()]
    df["size"] = size_labels(df)
    return df


def _as_bool(v: Any) -> bool:
    """A compile cell: a bool from results.jsonl, or text from a CSV; empty means eager."""
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1")
    return bool(v) if not pd.isna(v) else False


def largest_activation(df: pd.DataFrame) -> pd.Series:
    """The cost model's largest single tensor per row, as a2bench run stored it; NaN for results
    written before the column existed (their cache crossings are then not located)."""
    if "largest_activation_bytes_analytic" not in df:
        return pd.Series(math.nan, index=df.index, dtype=float)
    return df["largest_activation_bytes_analytic"].astype(float)


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
        vary += [c for c in param_columns(df) if c in rows
                 and (rows.groupby(base, dropna=False)[c].nunique() > 1).any()]
        for idx, row in rows.iterrows():
            parts = [row["shape"]] + [f"{short.get(c, c)}={row[c]:g}" for c in vary
                                      if pd.notna(row[c])]
            labels[idx] = " ".join(parts)
    return labels.tolist()


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"]


# ---------------------------------------------------------------------------------------------
# Exponents


def _model_column(metric: str) -> str:
    # Latency follows all the arithmetic, not the MACs alone: SE's MACs do not grow with N, its
    # pooling and scaling do. For the attention blocks FLOPs and 2·MACs differ by a few percent.
    return {"memory": "peak_bytes_analytic", "latency": "flops_analytic"}.get(metric,
                                                                              "macs_analytic")


def _axis_values(df: pd.DataFrame, axis: str) -> pd.Series:
    return df["positions"] if axis == "positions" else df[axis]


def group_label(fixed: Mapping[str, Any]) -> str:
    short = {"batch": "b", "channels": "c", "reduction": "r"}
    return " ".join(f"{short.get(k, k)}={v:g}" for k, v in fixed.items()
                    if v is not None and not (isinstance(v, float) and math.isnan(v)))


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
    """The cache sizes a2bench run recorded (bytes by level name); {} for older runs."""
    caches = env.get("caches") or {}
    return {str(k): float(v) for k, v in caches.items() if isinstance(v, (int, float)) and v > 0}


def direct_overhead(env: Mapping[str, Any], block: str, fixed: Mapping[str, Any]) -> float:
    """The run's own timing of this block at the smallest legal shape (summarised as cases are:
    the low quantile of the samples, for entries that kept them), matched on the sizes
    held fixed; the block's smallest such timing where none matches (other axes); NaN if none."""
    name, _, variant = block.partition("[")  # nonlocal[sdpa]: the entry whose impl is sdpa
    variant = variant.rstrip("]")
    entries = [e for e in ((env.get("overhead") or {}).get("cases") or [])
               if e.get("block") == name and isinstance(e.get("median_s"), (int, float))
               and (not variant or variant in {str(v) for v in e.values()})]
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
    model = ft.summarise(x, rows[_model_column(metric)].to_numpy(float))
    return (sizes, model, per_size(rows, axis, "working_set_bytes", sizes.x),
            per_size(rows, axis, "largest_activation_bytes", sizes.x))


def _model_slope(model: ft.Sizes, x: np.ndarray) -> float:
    sel = np.isin(model.x, x)
    if sel.sum() < 2 or sel.sum() != len(x):
        return math.nan
    return float(np.polyfit(np.log(model.x[sel]), np.log(model.y[sel]), 1)[0])


def fit_group(rows: pd.DataFrame, axis: str, metric: str, env: Mapping[str, Any],
              direct: float = math.nan, *, resamples: int = ft.BOOTSTRAP_RESAMPLES,
              seed: int = ft.BOOTSTRAP_SEED) -> list[dict[str, Any]]:
    """Every window of one metric along one axis: the main one (segment 0) first."""
    sizes, model, working_set, largest = _sizes_for(rows, axis, metric)
    full = ft.fit_power(sizes.x, sizes.y, sizes.log_se) if len(sizes) >= 4 else ft.NAN_FIT
    # Latency's window is cut where the overhead is under 5 % of the time: the cost model has
    # no term for it. A direct timing of the block at its smallest shape is the cleaner
    # estimate when there is one. MACs and memory are compared with a model that holds their
    # constant terms too (SE's MACs along N, the 2mnN of double attention along c), so every
    # row is in their window; their fitted a is still reported.
    overhead = (direct if math.isfinite(direct) else full.a) if metric == "latency" else 0.0
    if not math.isfinite(overhead):
        overhead = 0.0
    bounds = _bounds(sizes.x, working_set, largest, env) if metric == "latency" else []
    ceiling = float((env.get("roofline") or {}).get("gemm_flops_per_s") or math.nan)
    base = {
        "swept_values": len(sizes),
        "overhead": full.a, "overhead_ci_low": full.a_low, "overhead_ci_high": full.a_high,
        "overhead_direct": direct if metric == "latency" else math.nan,
        "overhead_used": overhead,
        "x_overhead_half": full.overhead_below(0.5),
        "x_overhead_5pct": full.overhead_below(ft.OVERHEAD_SHARE),
        "exponent_full": full.k,
        "cache_boundaries": "; ".join(f"{b.cache} between {b.x_from:g} and {b.x_to:g}"
                                      for b in bounds),
    }
    out = []
    for win in ft.windows(sizes.x, sizes.y, overhead, bounds):
        sub = sizes.take(win.mask)
        e = ft.exponent(sub, overhead, resamples=resamples, seed=seed,
                        robust=metric == "latency")
        expected = _model_slope(model, sub.x)
        # The class under test is the model's own growth, read with the same a + b·x^k form:
        # MACs of m·(2nN + 2cN) + 2cnN along m are class 1 though their log-log slope is 0.5.
        sel = np.isin(model.x, sub.x)  # the model at the window's sizes
        own = ft.fit_power(model.x[sel], model.y[sel]) if sel.sum() >= 4 else ft.NAN_FIT
        k0, k1 = ft.classes(own.k if math.isfinite(own.k) else expected)
        dbic = math.nan
        if len(sub) >= ft.MIN_WINDOW:
            k0, k1, dbic = ft.class_evidence(sub, own.k if math.isfinite(own.k) else expected)
        v = ft.decide(expected, e.ci90, dbic, len(sub), k1, window_note=win.note,
                      need_bic=metric == "latency")
        rec = {
            "exponent": e.k, "ci_low": e.ci95[0], "ci_high": e.ci95[1], "expected": expected,
            "verdict": v.verdict, "reason": v.reason, "segment": win.segment,
            "points": len(sub),
            "window": win.note if metric == "latency" else (
                f"all {len(sub)} sizes {sub.x.min():g}–{sub.x.max():g} (the model holds its "
                "constant terms too)" if len(sub) else "no size"),
            "fit_x_min": float(sub.x.min()) if len(sub) else math.nan,
            "fit_x_max": float(sub.x.max()) if len(sub) else math.nan,
            "ci90_low": e.ci90[0], "ci90_high": e.ci90[1], "interval_from": e.interval_from,
            "t_ci_low": e.t95[0], "t_ci_high": e.t95[1],
            "bootstrap_ci_low": e.boot95[0], "bootstrap_ci_high": e.boot95[1],
            "expected_class": k0, "competitor": k1, "delta_bic": dbic,
            "overhead_share_max": float((overhead / sub.y).max()) if len(sub) else math.nan,
            "intercept": e.intercept,
            "log_x_mean": float(np.log(sub.x).mean()) if len(sub) else math.nan,
            **base,
        }
        if metric == "latency" and len(sub) >= 2:
            tp = ft.throughput(model.y[sel], sub.y)
            rec.update(throughput_t0=tp.t0, achieved_flops_per_s=tp.rate,
                       fraction_of_ceiling=tp.rate / ceiling if ceiling > 0 else math.nan)
        out.append(rec)
    return out


FITS_EXTRA_COLUMNS = (
    "reason", "run", "device", "dtype", "group", "primary", "segment", "points",
    "swept_values", "window", "fit_x_min", "fit_x_max", "ci90_low", "ci90_high",
    "interval_from", "t_ci_low", "t_ci_high", "bootstrap_ci_low", "bootstrap_ci_high",
    "expected_class", "competitor", "delta_bic", "overhead", "overhead_ci_low",
    "overhead_ci_high", "overhead_direct", "overhead_used", "overhead_share_max",
    "x_overhead_half", "x_overhead_5pct", "exponent_full", "cache_boundaries",
    "achieved_flops_per_s", "fraction_of_ceiling", "throughput_t0", "intercept", "log_x_mean",
)


def fit_exponents(df: pd.DataFrame, environments: Mapping[str, Mapping[str, Any]] | None = None,
                  *, resamples: int = ft.BOOTSTRAP_RESAMPLES,
                  seed: int = ft.BOOTSTRAP_SEED) -> pd.DataFrame:
    """One row per (run, block, metric, axis, group, window): FIT_COLUMNS first, then details.

    ``primary`` marks, per (run, block, metric, axis), the main window of the group with the
    most swept values; the headline, tables and figures read those rows.
    """
    environments = environments or {}
    records: list[dict[str, Any]] = []
    for axis in axes(df):
        groups = swept_groups(df, axis)
        best: dict[tuple[Any, ...], tuple[tuple[int, int], int]] = {}
        for i, (ident, rows) in enumerate(groups):
            k = (ident["run"], ident["block"], ident["device"], ident["dtype"])
            size = (_axis_values(rows, axis).nunique(), len(rows))
            if k not in best or size > best[k][0]:  # ties: the first group in sorted order
                best[k] = (size, i)
        primary = {i for _, i in best.values()}
        for i, (ident, rows) in enumerate(groups):
            env = environments.get(ident["run"]) or {}
            fixed = {c: ident[c] for c in fixed_columns(df, axis)}
            direct = direct_overhead(env, ident["block"], fixed)
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
                        "model": rows[_model_column(metric)].to_numpy(float),
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
                      "delta_bic", "verdict", "reason")


def complexity_classes(fits: pd.DataFrame) -> pd.DataFrame:
    """Per run, block and metric (MACs, latency): the class its cost grows in along positions N,
    each against its own cost model. From the primary positions fits: the measured exponent
    with its 95% interval, the model's exponent over the same window (``expected``), the class
    the model predicts (``expected_class``, e.g. 1, 1.5 or 2) and the one it is tested against
    (``competitor``) with ΔBIC (> 0 favours the model's class), and the verdict with its reason.
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


# ---------------------------------------------------------------------------------------------
# Findings: the causes behind the numbers, as data. a2bench.report renders them.

CLIFF_EXCESS = 0.5  # a step this much steeper than the model's local slope is a cliff
# How far past the run's GEMM ceiling a case may run before that ceiling counts as mis-measured;
# the same 5 % as the start-to-end drift a run warns about.
CEILING_TOLERANCE = 0.05


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
        r = env.get("roofline") or {}
        start, end = r.get("gemm_flops_per_s_start"), r.get("gemm_flops_per_s_end")
        if isinstance(start, (int, float)):
            drift = r.get("drift")
            out.append(Finding("calibration", run,
                               value=float(drift) if isinstance(drift, (int, float)) else math.nan,
                               low=float(start),
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
            "peak_bytes_analytic"]
    left = ok[ok["block"] == pair.left][cols]
    right = ok[ok["block"] == pair.right][cols]
    merged = left.merge(right.drop(columns=["run_index", "positions", "shape"]), on=key,
                        suffixes=("_left", "_right"))
    out = merged[[*key, "run_index", "positions", "shape"]].copy()
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
    (fewer than two N)."""

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


def _ratio_per_n(x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One ratio per distinct N: the geometric mean of the shapes at that N."""
    xs = np.unique(x)
    rs = np.array([math.exp(np.log(r[x == v]).mean()) if (r[x == v] > 0).all()
                   else float(np.mean(r[x == v])) for v in xs])
    return xs, rs


def crossovers(df: pd.DataFrame, pair: Pair = STUDY) -> pd.DataFrame:
    """Per (run, channels, m, n, batch, t) with both orders over >= 2 N: predicted and measured."""
    p = pairs(df, pair)
    columns = ["run", "device", "channels", "m", "n", "batch", "t", "n_points", "n_min",
               "n_max", "n_star_predicted", "n_star_macs", "n_star_latency", "n_star_memory",
               "n_star_memory_model", "predicted_in_range", "reason_macs", "reason_latency",
               "reason_memory", "reason_memory_model"]
    names = block_label(pair.right, short=True), block_label(pair.left, short=True)
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
            c_ = crossing(rows["positions"], rows[f"ratio_{metric}"], *names)
            rec[f"n_star_{metric}"] = c_.n_star
            rec[f"reason_{metric}"] = c_.reason
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=columns)


# ---------------------------------------------------------------------------------------------
# Every block against one reference block


CROSS_METRICS = ("macs", "latency", "memory")
SHAPE_KEY = ("run", "device", "dtype", "batch", "channels", "t", "h", "w")


def crossovers_against(df: pd.DataFrame, reference: str = REFERENCE,
                       environments: Mapping[str, Mapping[str, Any]] | None = None
                       ) -> pd.DataFrame:
    """Each other block against ``reference`` along positions N, at the shapes both measured ok.

    Blocks differ in their own parameters, so rows are matched on the shape (run, device, dtype,
    batch, channels, t, h, w) alone. One group per (run, device, dtype, block, batch, channels,
    t), per setting of the reference's parameters (``ref_m``, ``ref_n`` for double attention)
    and per setting of the block's own (``params``, e.g. "r=16"). Per group and metric, the
    ratio block ÷ reference is read with crossing(): ``n_star_*`` is where it last passes 1
    going up, ``outcome_*`` what it does over the range (Crossing.outcome), ``reason_*`` why
    there is no N*. ``ratio_at_max_latency`` is the latency ratio at the largest common N.
    Groups with fewer than two common N are left out. ``environments`` only names the blocks
    in the reasons.
    """
    ok = ok_rows(df)
    ref_rows = ok[ok["block"] == reference]
    params = [c for c in param_columns(df) if c in df]
    ref_params = [c for c in params if ref_rows[c].notna().any()]
    columns = ["run", "device", "dtype", "block", "params", "reference", "batch", "channels",
               "t", *(f"ref_{c}" for c in ref_params), "n_points", "n_min", "n_max",
               *(f"n_star_{m}" for m in CROSS_METRICS),
               *(f"outcome_{m}" for m in CROSS_METRICS),
               *(f"reason_{m}" for m in CROSS_METRICS), "ratio_at_max_latency"]
    others = ok[ok["block"] != reference]
    if ref_rows.empty or others.empty:
        return pd.DataFrame(columns=columns)
    key = list(SHAPE_KEY)
    ref = ref_rows[[*key, *ref_params, *CROSS_METRICS]].rename(
        columns={c: f"ref_{c}" for c in [*ref_params, *CROSS_METRICS]})
    merged = others[[*key, "run_index", "block", "positions", *params, *CROSS_METRICS]].merge(
        ref, on=key)
    if merged.empty:
        return pd.DataFrame(columns=columns)
    # The block's own settings, one label per row (NaN for parameters it does not have).
    merged["params"] = [group_label({c: getattr(r, c) for c in params})
                        for r in merged[params].itertuples(index=False)]
    ref_name = block_label(reference, environments, short=True)
    order = {b: i for i, b in enumerate(block_order(df, environments))}
    merged["block_index"] = merged["block"].map(order)
    keys = ["run_index", "run", "device", "dtype", "block_index", "block", "params", "batch",
            "channels", "t", *(f"ref_{c}" for c in ref_params)]
    records = []
    for values, rows in merged.groupby(keys, sort=True, dropna=False):
        if rows["positions"].nunique() < 2:
            continue
        g = dict(zip(keys, values, strict=True))
        name = block_label(g["block"], environments, short=True)
        rec: dict[str, Any] = {k: g[k] for k in keys if k not in ("run_index", "block_index")}
        rec.update(reference=reference, n_points=int(rows["positions"].nunique()),
                   n_min=float(rows["positions"].min()), n_max=float(rows["positions"].max()))
        for metric in CROSS_METRICS:
            ratio = rows[metric] / rows[f"ref_{metric}"]
            c_ = crossing(rows["positions"], ratio, name, ref_name)
            rec[f"n_star_{metric}"] = c_.n_star
            rec[f"outcome_{metric}"] = c_.outcome
            rec[f"reason_{metric}"] = c_.reason
        x = rows["positions"].to_numpy(float)
        r = (rows["latency"] / rows["ref_latency"]).to_numpy(float)
        timed = np.isfinite(r) & (r > 0)
        at_max = timed & (x == x[timed].max()) if timed.any() else timed
        rec["ratio_at_max_latency"] = (_ratio_per_n(x[at_max], r[at_max])[1][0]
                                       if at_max.any() else math.nan)
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

    def ceiling(run: str, dtype: str, key: str) -> float:
        env = environments.get(run) or {}
        # Each dtype against its own GEMM (runs since the dtype axis keep one per dtype).
        record = (env.get("rooflines") or {}).get(dtype) or env.get("roofline") or {}
        if record.get("dtype", dtype) != dtype:
            return math.nan
        value = record.get(key)
        return float(value) if value else math.nan

    peak = pd.Series([ceiling(r, d, "gemm_flops_per_s") for r, d in zip(
        ok["run"], ok["dtype"], strict=True)], index=ok.index, dtype=float)
    bandwidth = pd.Series([ceiling(r, d, "bandwidth_bytes_per_s") for r, d in zip(
        ok["run"], ok["dtype"], strict=True)], index=ok.index, dtype=float)
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
    failed = out.groupby(["run", "dtype"])["fraction_of_peak_raw"].transform(
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
            "first_call_s", *extra]
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
    order = [c for c in ("run_index", "dtype", "variant", "mode", "compile", "positions")
             if c in merged]
    return merged.sort_values(order).rename(columns={"variant": "block"}).reset_index(drop=True)


def mode_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Each train case beside its forward twin: latency, peak memory (measured and modelled),
    saved activations, and the train ÷ forward ratios."""
    t = _twins(df, "mode", "forward", "train", ("saved_bytes_analytic",))
    if t.empty:
        return t
    t["latency_ratio"] = t["latency_train"] / t["latency_forward"]
    t["memory_ratio"] = t["memory_train"] / t["memory_forward"]
    # What training adds in bytes: the N×N matrix's gradient and the saved activations. Its
    # exponent along N separates an order that keeps N² for the backward from one that keeps N.
    t["memory_extra"] = t["memory_train"] - t["memory_forward"]
    t["memory_ratio_model"] = t["peak_bytes_analytic_train"] / t["peak_bytes_analytic_forward"]
    t["memory_model_error"] = t["memory_train"] / t["peak_bytes_analytic_train"] - 1
    t["macs_ratio"] = t["macs_analytic_train"] / t["macs_analytic_forward"]
    t = t.rename(columns={"saved_bytes_analytic_train": "saved_bytes_analytic"})
    return t.drop(columns=["saved_bytes_analytic_forward"], errors="ignore")


def compile_pairs(df: pd.DataFrame, roof: pd.DataFrame) -> pd.DataFrame:
    """Each compiled case beside its eager twin: latency, speed-up, the first call (compile
    included) and the fraction of the run's GEMM ceiling each reached."""
    extra: tuple[str, ...] = ()
    if len(roof):
        sizes = [c for c in size_columns(df) if c in roof]
        key = ["run", "block", "dtype", *sizes]
        fill = {c: -1.0 for c in sizes}
        frac = roof[[*key, "fraction_of_peak"]].fillna(fill).drop_duplicates(subset=key)
        df = df.fillna(fill).merge(frac, on=key, how="left")
        for c in sizes:
            df[c] = df[c].replace(-1.0, np.nan)
        extra = ("fraction_of_peak",)
    t = _twins(df, "compile", False, True, extra)
    if t.empty:
        return t
    t = t.rename(columns=lambda c: c.replace("_False", "_eager").replace("_True", "_compiled"))
    t["speedup"] = t["latency_eager"] / t["latency_compiled"]
    t["compile_s"] = t["first_call_s_compiled"] - t["first_call_s_eager"]
    # The cost model follows eager autograd; a compiled training step saves what inductor's
    # partitioner chooses (it may recompute a tensor instead of keeping it), so its peak is
    # read against the eager twin's.
    t["memory_ratio"] = t["memory_compiled"] / t["memory_eager"]
    return t


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
        t["latency_ratio"] = t["latency_reduced"] / t["latency_reference"]
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
    """Per (run, block), at its largest N with counts: the model's MACs and each counter's, with
    the ratio counter ÷ model. Empty unless the optional counters (thop, ptflops) counted."""
    ok = ok_rows(df)
    optional = [c for c in ("macs_thop", "macs_ptflops") if c in ok and ok[c].notna().any()]
    if not optional or ok.empty:
        return pd.DataFrame()
    have = ok[ok[optional].notna().any(axis=1)]
    idx = have.groupby(["run", "block"], sort=False)["positions"].idxmax()
    rows = []
    for _, r in have.loc[idx.to_numpy()].iterrows():
        rec = {"run": r["run"], "block": r["block"], "shape": r["shape"],
               "positions": r["positions"], "model": r["macs_analytic"]}
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


# ---------------------------------------------------------------------------------------------
# Headline


HEADLINE_STATUSES = ("confirmed", "contradicted", "inconclusive", "not swept")


def headline(fits: pd.DataFrame, runs: Sequence[str]) -> dict[str, Any]:
    """Do MACs, memory and latency along N all confirm O(m·n·N) against O((m+n)·N²)?

    Per run: ``confirmed`` only when all six fits (two orders × three metrics) are consistent;
    ``contradicted`` when any is; otherwise ``inconclusive``, naming what is missing. A run with
    no positions sweep of both orders is ``not swept`` and says nothing either way.
    """
    per_run: dict[str, dict[str, Any]] = {}
    for run in runs:
        f = fits[(fits["run"] == run) & fits["primary"] & (fits["axis"] == "positions")] \
            if len(fits) else fits
        table, gaps, against = [], [], []
        for block in (STUDY.left, STUDY.right):
            for metric in METRICS:
                row = f[(f["block"] == block) & (f["metric"] == metric)]
                if not len(row):
                    gaps.append(f"{block} {metric}: not measured along positions")
                    continue
                r = row.iloc[0]
                table.append({"block": block, "metric": metric,
                              **{k: clean(r[k]) for k in ("exponent", "ci_low", "ci_high",
                                                          "expected", "verdict", "reason",
                                                          "points", "delta_bic", "group")}})
                if r["verdict"] == "contradicted":
                    against.append(f"{block} {metric}: {r['reason']}")
                elif r["verdict"] != "consistent":
                    gaps.append(f"{block} {metric}: {r['reason']}")
        if not table:
            status, gaps = "not swept", []  # nothing along positions: nothing is missing
        elif against:
            status = "contradicted"
        elif gaps:
            status = "inconclusive"
        else:
            status = "confirmed"
        per_run[run] = {"verdict": status, "fits": table, "contradicting": against,
                        "missing": gaps}
    swept = [v["verdict"] for v in per_run.values() if v["verdict"] != "not swept"]
    if not swept:
        overall = "not swept"
    elif "contradicted" in swept:
        overall = "contradicted"
    elif all(v == "confirmed" for v in swept):
        overall = "confirmed"
    else:
        overall = "inconclusive"
    return {"verdict": overall, "runs": per_run}


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
    block_crossovers: pd.DataFrame
    complexity: pd.DataFrame
    roofline: pd.DataFrame
    roofline_summary: pd.DataFrame
    comparison: pd.DataFrame
    findings: tuple[Finding, ...] = ()
    modes: pd.DataFrame = field(default_factory=pd.DataFrame)  # mode_pairs
    compiled: pd.DataFrame = field(default_factory=pd.DataFrame)  # compile_pairs
    precision: pd.DataFrame = field(default_factory=pd.DataFrame)  # precision_pairs
    counters: pd.DataFrame = field(default_factory=pd.DataFrame)  # counter_table
    context: pd.DataFrame = field(default_factory=pd.DataFrame)  # in_context
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)  # of modes and compiled
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
    fits = fit_exponents(data, envs, resamples=resamples, seed=seed)
    roof = roofline(data, envs)
    modes, compiled = mode_pairs(data), compile_pairs(data, roof)
    fixed = fixed_columns(data, "positions")
    return Analysis(
        data=data, runs=tuple(runs), fits=fits, pairs=pairs(data), crossovers=crossovers(data),
        block_crossovers=crossovers_against(data, REFERENCE, envs),
        complexity=complexity_classes(fits), roofline=roof, roofline_summary=roofline_summary(roof),
        comparison=compare_runs(data),
        findings=tuple(findings(fits, data, roof, envs)),
        headline=headline(fits, [r.label for r in runs]),
        modes=modes, compiled=compiled, precision=precision_pairs(data),
        counters=counter_table(data), context=in_context(data),
        trends=pd.concat([trends(modes, w, fixed, "block_train")
                          for w in ("memory_ratio", "memory_extra", "latency_ratio")]
                         + [trends(compiled, "speedup", fixed, "block_compiled")],
                         ignore_index=True),
    )
