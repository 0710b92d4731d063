"""The sections on variants of a block: training against inference, compiled against eager,
reduced precision, the blocks inside a network, the field's counters, several runs side by side
and the cases that did not finish.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from a2bench import analysis as an
from a2bench.analysis.variants import COMPILE_TOLERANCE
from a2bench.case import REDUCED_DTYPES
from a2bench.formatting import (
    clipped,
    count,
    finite,
    fixed,
    format_bytes,
    integer,
    ratio_text,
    significant,
    size,
)
from a2bench.report.elements import (
    MAX_TABLE_ROWS,
    Element,
    FigureFile,
    Heading,
    Para,
    Table,
    block_name,
    figure,
)
from a2bench.report.sections.machine import ceiling_percent, failed_calibrations


def _largest(table: pd.DataFrame, group: Sequence[str]) -> pd.DataFrame:
    """Per group, the row at the largest positions N (ties: the first)."""
    if not len(table):
        return table
    idx = table.groupby(list(group), sort=False, dropna=False)["positions"].idxmax()
    return table.loc[idx.to_numpy()]


def _trend_cell(trends: pd.DataFrame, run: str, block: str, dtype: str, what: str,
                bytes_: bool = False) -> str:
    t = trends[(trends["run"] == run) & (trends["block"] == block) & (trends["dtype"] == dtype)
               & (trends["what"] == what)]
    if not len(t):
        return "n/a"
    r = t.iloc[0]
    interval = (f" [{fixed(r['slope_low'])}, {fixed(r['slope_high'])}]"
                if finite(r["slope_low"]) else "")
    show = format_bytes if bytes_ else fixed
    return (f"{r['verdict']}: {show(r['ratio_from'])} → {show(r['ratio_to'])} over N "
            f"{size(r['n_from'])}–{size(r['n_to'])}, exponent along N "
            f"{fixed(r['slope'])}{interval}")


def _memory_exponent(result: an.Analysis, run: str, block: str) -> str:
    f = result.fits
    if not len(f):
        return "n/a"
    row = f[(f["run"] == run) & (f["block"] == block) & (f["metric"] == "memory")
            & (f["axis"] == "positions") & f["primary"]]
    if not len(row) or not finite(row.iloc[0]["exponent"]):
        return "n/a"
    r = row.iloc[0]
    return (f"{fixed(r['exponent'])} [{fixed(r['ci_low'])}, {fixed(r['ci_high'])}] "
            f"(model {fixed(r['expected'])})")


def training_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    modes = result.modes
    if not len(modes):
        return []
    doc: list[Element] = [Heading(2, "Training against inference"), Para(
        "A train case times one training step: the forward pass and the backward pass of a "
        "fixed upstream gradient, with the input and every parameter requiring grad and the "
        "gradients dropped before each step. Its peak memory is the most the step holds above "
        "what existed before it, the gradients it leaves included; the model simulates the same "
        "step (activations saved for the backward pass, then the gradients in reverse order). "
        "Train MACs are forward plus backward MACs. Rows are each block's largest N; modes.csv "
        "holds every shape.")]
    rows = []
    picked = _largest(modes, ["run", "dtype", "block", "compile"])
    # rows at several batches name theirs (ResNet-50's stages at b 1 and 8 had read as one)
    batches = "batch" in picked and picked["batch"].nunique() > 1
    for _, r in picked.iterrows():
        if r["compile"] and (~modes["compile"]).any():
            continue  # eager rows speak for the block; the compiled ones are in modes.csv
        rows.append({
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "block": block_name(result, r["block"], short=True), "dtype": r["dtype"],
            **({"b": integer(r["batch"])} if batches else {}),
            "N": size(r["positions"]),
            "latency forward / train (ms)": f"{significant(r['latency_forward'] * 1e3)} / "
                                            f"{significant(r['latency_train'] * 1e3)}",
            "train ÷ forward latency": fixed(r["latency_ratio"]),
            "peak forward / train": f"{format_bytes(r['memory_forward'])} / "
                                    f"{format_bytes(r['memory_train'])}",
            "train ÷ forward peak": fixed(r["memory_ratio"]),
            "train peak, model (error)": f"{format_bytes(r['peak_bytes_analytic_train'])} "
                                         f"({fixed(100 * r['memory_model_error'], 1)}%)",
            "saved activations (model)": format_bytes(r["saved_bytes_analytic"]),
            "train ÷ forward MACs (model)": fixed(r["macs_ratio"]),
        })
    doc.append(Table(pd.DataFrame(rows)))
    trend_rows = []
    for (run, dtype, block), rows in modes[~modes["compile"]].groupby(["run", "dtype", "block"],
                                                                     sort=False):
        names = rows.iloc[0]
        trend_rows.append({
            **({"run": run} if len(result.runs) > 1 else {}),
            "block": block_name(result, block, short=True), "dtype": dtype,
            "train ÷ forward peak along N": _trend_cell(
                result.trends, run, names["block_train"], dtype, "memory_ratio"),
            "train − forward peak along N": _trend_cell(
                result.trends, run, names["block_train"], dtype, "memory_extra", bytes_=True),
            "memory exponent, forward": _memory_exponent(result, run, names["block_forward"]),
            "memory exponent, train": _memory_exponent(result, run, names["block_train"]),
        })
    doc.append(Para("How the train ÷ forward peak ratio and the bytes training adds (train − "
                    "forward peak) move along N (least squares of the log on log N, 95% "
                    f"interval; flat means within ±{an.TREND_FLAT:g}), and the peak-memory "
                    "exponents of both modes."))
    doc.append(Table(pd.DataFrame(trend_rows)))
    doc += figure(figs, "train_memory_ratio.png")
    return doc


def compile_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    comp = result.compiled
    if not len(comp):
        return []
    failed = failed_calibrations(result)
    doc: list[Element] = [Heading(2, "Compiled against eager"), Para(
        "torch.compile (inductor, the whole forward as one graph) against the same eager "
        "block. The first call includes the compilation (dynamo's trace and inductor's "
        "lowering, from a reset; C++ kernels inductor built before on this machine load from "
        "its cache) and is reported apart from the steady-state median. The fraction of the "
        "GEMM ceiling is analytic FLOPs ÷ latency ÷ "
        "the ceiling measured in the run for that dtype, at each block's largest N: what the "
        "block can reach, not only what naive eager PyTorch does. The peak-memory model "
        "follows eager autograd; a compiled training step keeps what inductor's partitioner "
        "chooses (it may recompute a tensor in the backward instead of saving it), so its "
        "peak is set against the eager block's. The largest |compiled − eager| is over the "
        "block's output on the case's input, in the timed step's grad mode (float32 is judged "
        f"against {COMPILE_TOLERANCE['float32']:g}: ✓ within, ✗ beyond). compiled.csv holds "
        "every shape.")]
    rows = []
    for _, r in _largest(comp, ["run", "dtype", "block", "mode"]).iterrows():
        bad = (r["run"], r["dtype"]) in failed
        rows.append({
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "block": block_name(result, r["block"], short=True), "dtype": r["dtype"],
            "mode": r["mode"], "N": size(r["positions"]),
            "latency eager / compiled (ms)": f"{significant(r['latency_eager'] * 1e3)} / "
                                             f"{significant(r['latency_compiled'] * 1e3)}",
            "speed-up": fixed(r["speedup"]),
            "peak memory compiled ÷ eager": fixed(r["memory_ratio"]),
            "first call, compiled (s)": significant(r["first_call_s_compiled"]),
            "% of GEMM ceiling, eager": ceiling_percent(r.get("fraction_of_peak_eager"), bad),
            "% of GEMM ceiling, compiled": ceiling_percent(r.get("fraction_of_peak_compiled"),
                                                           bad),
            "speed-up along N": _trend_cell(result.trends, r["run"], r["block_compiled"],
                                            r["dtype"], "speedup"),
            "largest |compiled − eager|": _agreement(comp, r),
        })
    doc.append(Table(pd.DataFrame(rows)))
    errors = result.data[(result.data["status"] == "error") & result.data["compile"]]
    if len(errors):
        doc.append(Para(f"{len(errors)} compiled case(s) failed; their reasons are under "
                        "'Cases without a measurement'."))
    doc += figure(figs, "compile_speedup.png")
    return doc


def _agreement(comp: pd.DataFrame, r: pd.Series) -> str:
    """The largest |compiled - eager| over every size of this row's block, dtype and mode,
    and whether all of them matched (the analysis's matches_eager)."""
    if "compile_max_abs_error" not in comp:
        return "not measured"
    same = comp[(comp["run"] == r["run"]) & (comp["block_compiled"] == r["block_compiled"])
                & (comp["dtype"] == r["dtype"]) & (comp["mode"] == r["mode"])]
    errors = same["compile_max_abs_error"].dropna()
    if errors.empty:
        return "not measured"
    judged = [m for m in same["matches_eager"] if m is not None]
    mark = "" if not judged else (" ✓" if all(judged) else " ✗")
    return f"{errors.max():.2g}{mark}"


def precision_section(result: an.Analysis) -> list[Element]:
    prec = result.precision
    reduced = result.data[result.data["dtype"].isin(REDUCED_DTYPES)]
    if not len(reduced):
        return []
    doc: list[Element] = [Heading(2, "Reduced precision")]
    for run in result.runs:
        rp = run.environment.get("reduced_precision") or {}
        if rp:
            flags = ", ".join(rp.get("flags") or []) or "none"
            doc.append(Para(
                f"{run.label}: torch's CPU dispatch level is {rp.get('cpu_capability', '?')}; "
                f"native bf16 instructions: {'yes' if rp.get('native_bf16') else 'no'}, native "
                f"fp16: {'yes' if rp.get('native_fp16') else 'no'} (CPU flags: {flags}). "
                + ("" if rp.get("native_bf16") else
                   "Without them bf16 and fp16 arithmetic is emulated through float32, so a "
                   "slow reduced-precision latency here says nothing of a CPU or GPU that has "
                   "them; its memory halves all the same.")))
    if len(prec):
        rows = []
        for _, r in _largest(prec, ["run", "dtype", "block", "mode", "compile"]).iterrows():
            rows.append({
                **({"run": r["run"]} if len(result.runs) > 1 else {}),
                "block": block_name(result, r["block"], short=True), "dtype": r["dtype"],
                "mode": r["mode"], "compiled": "yes" if r["compile"] else "no",
                "N": size(r["positions"]),
                "latency ÷ float32": fixed(r["latency_ratio"]),
                "peak memory ÷ float32": fixed(r["memory_ratio"]),
                "ran in": r.get("ran_dtypes_reduced") or "n/a",
                "ops that ran in float32": r.get("fallback_ops_reduced") or "none",
            })
        doc.append(Para("Each reduced-precision case against its float32 twin at the block's "
                        "largest N. 'Ran in' lists the dtypes of the operators' results; an op "
                        "whose result was float32 in a reduced-precision case is named. "
                        "precision.csv holds every shape."))
        doc.append(Table(pd.DataFrame(rows)))
    return doc


def context_section(result: an.Analysis) -> list[Element]:
    t = result.context
    if not len(t):
        return []
    rows = []
    for _, r in t.iterrows():
        rows.append({
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "network": r["network"], "attention": r["attention"], "mode": r["mode"],
            "batch": integer(r["batch"]), "input": f"{integer(r['h'])}×{integer(r['w'])}",
            "GMACs (model)": significant(r["gmacs"], 4),
            "published GMACs": (f"{significant(r['published_gmacs'], 3)} ({r['published_source']})"
                                if finite(r["published_gmacs"]) else ""),
            "parameters": count(r["parameters"]),
            "median latency (ms)": significant(r["latency"] * 1e3),
            "peak memory": format_bytes(r["memory"]),
            "latency overhead": f"{fixed(r['latency_overhead_pct'], 1)}%",
            "memory overhead (measured / model)":
                f"{fixed(r['memory_overhead_pct'], 1)}% / "
                f"{fixed(r['memory_overhead_pct_model'], 1)}%",
            "MACs overhead (model)": f"{fixed(r['macs_overhead_pct_model'], 2)}%",
            "parameters overhead": f"{fixed(r['parameters_overhead_pct'], 1)}%",
        })
    return [Heading(2, "In context: what each block adds to the network"), Para(
        "Each attention variant of a network against the same network without attention, at "
        "the same input, batch, mode and dtype. Overheads are in % over the plain network: "
        "latency and peak memory measured, MACs and peak memory also from the model. A "
        "published figure is given where one exists, with its source (multiply-adds)."),
        Table(pd.DataFrame(rows))]


def context_lines(result: an.Analysis) -> list[str]:
    """The in-context answer, a line per setting (run, network, mode, batch, input, dtype):
    what each attention variant adds over the plain network, latency / MACs (model) / peak
    memory in %, for the headline of a report that sweeps no N (ResNet-50's answer had sat at
    the foot of its page, folded, under "Headline: NOT SWEPT")."""
    t = result.context
    if not len(t):
        return []
    t = t[t["attention"] != "none"]
    several, networks = len(result.runs) > 1, t["network"].nunique() > 1
    out = []
    keys = ["run", "network", "mode", "batch", "h", "w", "dtype"]
    for (run, network, mode, batch, h, w, dtype), g in t.groupby(keys, sort=False):
        name = f"{block_name(result, network, short=True)}, " if networks else ""
        each = "; ".join(f"{r['attention']} {r['latency_overhead_pct']:+.1f}% / "
                         f"{r['macs_overhead_pct_model']:+.2f}% / {r['memory_overhead_pct']:+.1f}%"
                         for _, r in g.iterrows())
        out.append(f"{run + ': ' if several else ''}{name}{mode}, batch {integer(batch)}, "
                   f"{integer(h)}×{integer(w)}, {dtype}: {each}")
    return out


def counters_section(result: an.Analysis) -> list[Element]:
    t = result.counters
    if not len(t):
        return []
    rows = []
    batches = t["batch"].nunique() > 1 or (t["batch"] != 1).any()  # rows of one batch: said
    sizes = "size" in t and (t["size"] != t["shape"]).any()  # sizes beyond h×w: named (c=16)
    for _, r in t.iterrows():
        row = {**({"run": r["run"]} if len(result.runs) > 1 else {}),
               "block": block_name(result, r["block"], short=True),
               **({"size": r["size"]} if sizes else {}), "N": size(r["positions"]),
               **({"batch": integer(r["batch"])} if batches else {}),
               "model MACs": count(r["model"]) if finite(r["model"]) else "no model"}
        for name in an.COUNTER_COLUMNS.values():
            value, ratio = r[name], r[f"{name} ÷ model"]
            # a ratio where there is a model to divide by (a counted block has none)
            row[name] = ("n/a" if not finite(value) else count(value)
                         + ("" if value == r["model"] or not finite(ratio)
                            else f" ({ratio_text(ratio)}×)"))
        rows.append(row)
    return [Heading(2, "What the field's counters report"), Para(
        "Each counter's total at the block's largest N (at its smallest batch there, then "
        "its largest other sizes), in MACs "
        "(FlopCounterMode's 2 per MAC halved), against the model; a ratio follows a count that "
        "differs. `a2bench audit` says what each one missed or added."),
        Table(pd.DataFrame(rows))]


def comparison_section(result: an.Analysis) -> list[Element]:
    if len(result.runs) < 2:
        return []
    doc: list[Element] = [Heading(2, "Runs side by side")]
    cmp = result.comparison
    if not len(cmp):  # what else there is to compare depends on whether anything is fitted
        fitted = len(result.fits) and result.fits["exponent"].notna().any()
        return doc + [Para("The runs share no case (same block and sizes), so no case is timed "
                           "on both; " + ("their fits above compare how each run's costs grow."
                                          if fitted else
                                          "each run's sizes are in the tables above."))]
    runs = result.labels
    rows = []
    for _, r in cmp.head(MAX_TABLE_ROWS).iterrows():
        row = {"block": block_name(result, r["block"], short=True),
               "size": f"{integer(r['t']) + '×' if r['t'] > 1 else ''}"
                       f"{integer(r['h'])}×{integer(r['w'])}"
                       f" c={integer(r['channels'])} b={integer(r['batch'])}",
               "N": integer(r["positions"])}
        for run in runs:
            row[f"{run} median latency (ms)"] = significant(r[run] * 1e3)
        for run in runs[1:]:
            row[f"{run} ÷ {runs[0]}"] = significant(r[f"ratio {run} / {runs[0]}"])
        rows.append(row)
    doc.append(Para(f"Cases measured in every run (same block and sizes), median latency. "
                    f"{len(cmp)} cases matched"
                    + (f"; the first {MAX_TABLE_ROWS} are shown." if len(cmp) > MAX_TABLE_ROWS
                       else ".")))
    doc.append(Table(pd.DataFrame(rows)))
    return doc


REASON_CHARS = 160  # a failure's reason in the table; cases.csv keeps it whole


def failures_section(result: an.Analysis) -> list[Element]:
    bad = result.data[result.data["status"] != "ok"]
    if not len(bad):
        return []
    # by run, block and size, not in the order the shuffled passes ran them
    bad = bad.sort_values(["run_index", "block", "positions", "batch", "channels"],
                          kind="stable")
    rows = [{
        **({"run": r["run"]} if len(result.runs) > 1 else {}),
        "block": block_name(result, r["block"], short=True), "size": r["size"],
        "status": r["status"],
        "reason": clipped(r["reason"] if isinstance(r["reason"], str) else "", REASON_CHARS),
    } for _, r in bad.head(MAX_TABLE_ROWS).iterrows()]
    cut = any(row["reason"].endswith("…") for row in rows)
    return [Heading(2, "Cases without a measurement"),
            Para(f"{len(bad)} stored case(s) did not finish ok and are left out of every fit."
                 + (f" A reason longer than {REASON_CHARS} characters is cut after a sentence "
                    "or a word (…); cases.csv holds each whole (column reason)." if cut else "")),
            Table(pd.DataFrame(rows))]
