"""Results folders into one DataFrame: each folder's rows with a ``run`` label, numeric columns,
de-duplicated cases, block variants (nonlocal[sdpa], double_attention[train]) and the derived
metric columns (macs, latency, memory, latency_fit, working set) that every other analysis
module reads. Raises InputError on a folder that is not a usable results folder.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from a2bench import fitting as ft
from a2bench.analysis.columns import param_columns, shape_label, size_columns, size_labels
from a2bench.case import DTYPE_BYTES, Case
from a2bench.errors import InputError
from a2bench.folders import refuse_unreadable
from a2bench.run.passes import merge_passes, pass_samples
from a2bench.run.store import over_sessions, planned_passes, stored_ending

_NUMERIC = (
    "threads", "batch", "channels", "m", "n", "t", "h", "w", "reduction", "positions",
    "macs_analytic", "flops_analytic", "macs_fvcore", "macs_torch", "latency_s", "latency_iqr_s",
    "peak_bytes", "peak_bytes_analytic", "first_call_s", "timed_runs", "latency_ci_low_s",
    "latency_ci_high_s", "peak_rss_bytes", "elementwise_analytic", "activation_bytes_analytic",
    "reference_s", "timed_s", "wall_s", "largest_activation_bytes_analytic",
    "macs_fvcore_declared", "macs_torch_declared", "saved_bytes_analytic", "macs_thop",
    "macs_ptflops", "parameters", "parameters_analytic", "peak_allowance_bytes_analytic",
    "compile_max_abs_error", "macs_counted",
)



@dataclass(frozen=True)
class Run:
    label: str
    path: Path
    environment: dict[str, Any]
    rows: int
    ok: int
    passes: int = 0  # case passes stored (results.jsonl's records)

    @property
    def ended(self) -> str:
        return stored_ending(self.environment, self.passes)

    @property
    def planned_passes(self) -> int | None:
        return planned_passes(self.environment)


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


def frame(measurements: Iterable[Any], run: str,
          passes: Mapping[tuple[Any, ...], tuple[tuple[float, ...], ...]] | None = None
          ) -> pd.DataFrame:
    """Stored Measurements as rows (results.csv columns) with a ``run`` label. ``samples`` holds
    each case's raw samples by pass: from ``passes`` (case key -> a tuple a pass) where given,
    else the measurement's samples as one pass."""
    rows = [{**m.to_row(),
             "samples": (passes or {}).get(m.case.key()) or (tuple(m.samples_s),)}
            for m in measurements]
    df = pd.DataFrame(rows)
    df.insert(0, "run", run)
    return df


def load_runs(dirs: Sequence[str | Path], left_out: list[str] | None = None
              ) -> tuple[pd.DataFrame, list[Run]]:
    """Every folder's rows in one frame, and what each folder is. Raises InputError on bad input.

    With `left_out`, a Slurm partition whose jobs have stored no ok case yet is left out where
    another folder has some, and the line saying why (and how to re-attach) goes there: the
    driver's own `a2bench report DIR/*` had stopped on a partition no node had yet run."""
    if not dirs:
        raise InputError("report: expected at least one results folder")
    paths = [Path(d) for d in dirs]
    refuse_unreadable(paths)  # before resolve(), which a loop of links had crashed
    if len({p.resolve() for p in paths}) != len(paths):
        raise InputError("report: the same results folder is named twice; name each folder once")
    frames, runs, unbegun = [], [], []
    for path, label in zip(paths, run_labels(paths), strict=True):
        # StoreError (an InputError) without results.jsonl; a Slurm partition's from its shards
        # (lazily: a2bench.slurm's package imports analysis.columns, and submitit)
        from a2bench.slurm.merge import stored_set, unbegun_partition

        records, env = stored_set(path)
        measurements = merge_passes(records)
        ok = sum(m.status == "ok" for m in measurements)
        if not ok and (line := unbegun_partition(path, records, env, "report")):
            if left_out is None or len(paths) == 1:
                raise InputError(line)  # a Slurm partition whose jobs are pending, say
            unbegun.append(line.removesuffix(" (or leave this folder out)"))
            continue
        if not ok:
            statuses = ", ".join(sorted({m.status for m in measurements})) or "none"
            raise InputError(f"{path}: no ok results in results.jsonl ({len(measurements)} "
                             f"cases, statuses: {statuses}); expected at least one case with "
                             "status ok")
        env = over_sessions(env)
        frames.append(frame(measurements, label, pass_samples(records)))
        runs.append(Run(label, path, env, len(measurements),
                        ok, len(records)))
    if not frames:  # every folder an unbegun partition: the first one's line
        raise InputError(unbegun[0])
    if left_out is not None:
        left_out.extend(unbegun)
    return prepare(pd.concat(frames, ignore_index=True)), runs


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns, de-duplicated cases, and the derived metric columns used everywhere."""
    df = df.copy()
    if "run" not in df:
        df.insert(0, "run", "run")
    for col in _NUMERIC:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    # The machine that measured each case ("" where a record does not say): findings whose
    # latency spans machines are not read (columns.hosts_of)
    df["host"] = df["host"].fillna("").astype(str) if "host" in df else ""
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
    df["variant"] = [variant_name(b, p) for b, p in zip(df["block"], suffixes, strict=True)]
    df["mode"] = df["mode"].fillna("forward") if "mode" in df else "forward"
    df["compile"] = (df["compile"].map(_as_bool) if "compile" in df else False)
    # A run in several dtypes names the others too (double_attention[bfloat16]): each is
    # fitted, plotted and tabled apart. A run in one dtype keeps plain names, whatever it is.
    main = {run: main_dtype(list(rows))
            for run, rows in df.groupby("run", sort=False)["dtype"] if rows.nunique() > 1}
    df["block"] = [variant_name(b, p, str(dtype) if run in main and dtype != main[run] else None,
                                mode == "train", bool(compiled))
                   for b, p, run, dtype, mode, compiled in zip(
                       df["block"], suffixes, df["run"], df["dtype"], df["mode"], df["compile"],
                       strict=True)]
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
    # A counted block is judged by a2bench's count, which closes FlopCounterMode's blind spots
    # for fused attention (measure/counters.py); records written before it hold the counter's.
    if "macs_counted" in df and "macs_source" in df:
        own = pd.to_numeric(df["macs_counted"], errors="coerce")
        df["macs"] = df["macs"].where(~((df["macs_source"] == "counted") & own.notna()), own)
    df["latency"] = df["latency_s"]
    df["memory"] = df["peak_bytes"]
    if "samples" not in df:
        df["samples"] = [() for _ in range(len(df))]
    # The per-case latency the fits read: the median over passes of each pass's low quantile
    # of its raw samples (a2bench.fitting).
    df["latency_fit"] = [_fit_latency(s, lat)
                         for s, lat in zip(df["samples"], df["latency"], strict=True)]
    df["largest_activation_bytes"] = largest_activation(df)
    df["input_bytes"] = (df["batch"] * df["channels"] * df["positions"]
                         * df["dtype"].map(DTYPE_BYTES).astype(float))
    # What one forward pass holds at once: the model's live peak of activations plus the input
    # (the measured peak for a block without a cost model). A latency window never straddles
    # the size where this outgrows a cache.
    peak = df["peak_bytes_analytic"]
    if "macs_source" in df:
        # a counted block (no model): its measured peak, and its weights, as the planner counts
        # them (measure/traced.py: a token mixer's N x N weights stream from memory every call;
        # a cost model leaves its small weights out)
        counted = df["macs_source"] == "counted"
        weights = (pd.to_numeric(df["parameters"], errors="coerce").fillna(0)
                   * df["dtype"].map(DTYPE_BYTES).astype(float)
                   if "parameters" in df else 0.0)
        peak = peak.where(~counted, df["peak_bytes"] + weights)
    df["working_set_bytes"] = peak + df["input_bytes"]
    # Runs keep the order they were named in, in every table sorted by run.
    df["run_index"] = df["run"].map({r: i for i, r in enumerate(dict.fromkeys(df["run"]))})
    df["shape"] = [shape_label(r) for r in df.itertuples()]
    df["size"] = size_labels(df)
    return df


def main_dtype(dtypes: Sequence[str]) -> str:
    """The dtype a run in several keeps plain names in: float32 where it ran, else the first."""
    return "float32" if "float32" in dtypes else dtypes[0]


def variant_name(block: str, choices: Sequence[str], dtype: str | None = None,
                 train: bool = False, compiled: bool = False) -> str:
    """A block's name with what makes a variant of it: its categorical parameters, a dtype
    other than its run's main one, train and compiled (nonlocal[eager, bfloat16, train])."""
    parts = [*choices, *([dtype] if dtype else []), *(["train"] if train else []),
             *(["compiled"] if compiled else [])]
    return f"{block}[{', '.join(parts)}]" if parts else block


def case_variant(case: Case, dtypes: Sequence[str]) -> str:
    """The name prepare() gives a case's rows in a run of these dtypes."""
    other = len(set(dtypes)) > 1 and case.dtype != main_dtype(dtypes)
    return variant_name(case.block, [str(v) for _, v in case.params if isinstance(v, str)],
                        case.dtype if other else None, case.mode == "train", case.compile)


def _fit_latency(passes: Any, latency: float) -> float:
    """summary_of_passes of a case's samples less their stalls, as the fit reads a size (so a
    figure's points are the fit's); its stored latency where it kept none."""
    value = (ft.summary_of_passes([ft.without_stalls(p) for p in passes])
             if isinstance(passes, tuple) else math.nan)
    return value if math.isfinite(value) else latency


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


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"]
