"""The machine sections: the environment each run recorded, the units, the roofline, the cost
at each measured size and how the numbers were computed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from a2bench import analysis as an
from a2bench import fitting as ft
from a2bench.formatting import (
    finite,
    fixed,
    format_bytes,
    integer,
    per_node,
    percent,
    plural,
    significant,
)
from a2bench.report.elements import (
    MAX_TABLE_ROWS,
    PER_CALL,
    Bullets,
    Element,
    FigureFile,
    Heading,
    Para,
    Table,
    block_name,
    figure,
)
from a2bench.run import plan
from a2bench.run.store import node_values


def _slurm(run: Any, env: dict[str, Any]) -> str:
    if env.get("executor") != "slurm":
        return ""
    shards = env.get("shards") or []
    return (f"{env.get('partition', '')} ({len(shards)} jobs, "
            f"{len(env.get('hosts') or [])} nodes)")


def _node(key: str) -> Any:
    """A field one node describes (its threads, cores, CPU): one value, or each node's where a
    partition's nodes differ (store.node_values)."""
    return lambda run, env: per_node(node_values(env, key))


def _ceiling(run: Any, env: dict[str, Any]) -> str:
    """The run's GEMM ceiling; a partition merged from several nodes adds each node's own,
    which its cases are read against (analysis.roofline.run_ceiling)."""
    main = env.get("roofline") or {}
    text = significant(main.get("gemm_flops_per_s", math.nan) / 1e9)
    nodes = env.get("rooflines_by_host") or {}
    if len(nodes) < 2:
        return text
    each = [f"{host} {significant(r['gemm_flops_per_s'] / 1e9)}" for host, by_dtype in
            nodes.items() if (r := by_dtype.get(main.get("dtype")) or {}).get("gemm_flops_per_s")]
    return f"{text} (the best node's; each node's own: {', '.join(each)})" if each else text


def _schedule(run: Any, env: dict[str, Any]) -> str:
    schedule = env.get("timing_schedule") or ""
    if schedule == "interleaved":
        chunk = float(env.get("interleave_chunk_s") or math.nan) * 1e3
        if env.get("interleave_chunks_matched"):
            return (f"interleaved, chunks of {chunk:g} ms or the window's slowest "
                    "call, whichever is longer")
        return f"interleaved, {chunk:g} ms chunks"  # a setting: 50 ms, not 50.0
    return schedule


def relative(path: Any, here: Path | None) -> str:
    """A results folder as seen from the report's folder (provenance that survives moving
    both), ending in a slash: a report inside its run's folder reads '../', not '..'."""
    if here is None:
        return _folder(str(path))
    try:
        return _folder(os.path.relpath(Path(path).resolve(), Path(here).resolve()))
    except ValueError:  # another drive
        return _folder(str(path))


def _folder(path: str) -> str:
    return path if path.endswith(("/", os.sep)) else path + "/"


def environment_section(result: an.Analysis, here: Path | None = None) -> list[Element]:
    fields: list[tuple[str, Any]] = [
        ("results folder", lambda r, e: relative(r.path, here)),
        ("host", lambda r, e: ", ".join(e.get("hosts") or [e.get("host") or ""])),
        ("Slurm partition (jobs, nodes)", _slurm),
        ("suite", lambda r, e: e.get("suite_path") or e.get("suite", "")),
        ("device", lambda r, e: (e.get("roofline") or {}).get("device", "")
         + (f" ({gpu})" if (gpu := _node("gpu_name")(r, e)) else "")),
        ("CPU", _node("cpu_model")),
        ("cores (physical / logical)", _cores),
        ("torch threads", _node("threads")),
        ("torch", lambda r, e: e.get("torch", "")),
        ("CUDA / cuDNN", lambda r, e: (f"{e.get('cuda_version')} / {e.get('cudnn_version')}"
                                       if e.get("cuda_version") else "")),
        ("GPU memory total / free at start (GiB)", _gpu_memory),
        ("GPU driver, SM clock / max, memory clock, temperature (°C), power (nvidia-smi at start)",
         lambda r, e: e.get("driver_and_clocks") or ""),
        ("CUDA numerics flags", _cuda_flags),
        ("python", lambda r, e: e.get("python", "")),
        ("a2bench / commit",
         lambda r, e: f"{e.get('a2bench_version', '')} / {str(e.get('git_commit', ''))[:12]}"),
        ("GEMM ceiling (GFLOP/s, measured)", _ceiling),
        ("GEMM ceiling at start / end (GFLOP/s), drift", _ceilings),
        ("GEMM ceiling per dtype (GFLOP/s)", _dtype_ceilings),
        ("native bf16 / fp16 instructions (CPU)", _reduced_precision),
        ("C++ compiler (torch.compile)", lambda r, e: e.get("compiler") or ""),
        ("caches (sysfs or device properties)", _caches),
        ("caches per getconf, where they differ (not used)", _getconf_caches),
        ("CPU allocator (a tensor past its mmap threshold page-faults on every call)",
         _allocator),
        ("per-call overhead, empty module (µs)",
         lambda r, e: significant(
             ((e.get("overhead") or {}).get("empty_module_s") or math.nan) * 1e6)),
        ("case order seed", lambda r, e: str(e.get("order_seed", ""))),
        ("copy bandwidth (GB/s, measured)",
         lambda r, e: significant(
             (e.get("roofline") or {}).get("bandwidth_bytes_per_s", math.nan) / 1e9)),
        ("timing budget per case (s)", lambda r, e: str(e.get("time_budget_s", ""))),
        ("timing schedule (per case, or a pass's cases interleaved in chunks)", _schedule),
        ("cases ok / stored", lambda r, e: f"{r.ok} / {r.rows}"),
        ("warnings recorded", lambda r, e: ("; ".join(e.get("warnings", [])) or "none") if e
         else "unknown"),
        # every row above is unknown for a run without environment.json, and doubtful for one
        # a2bench did not write (a `{}` had read "no environment.json"); empty rows are dropped
        ("environment", lambda r, e: _environment(r)),
    ]
    table = pd.DataFrame({"": [name for name, _ in fields]})
    for r in result.runs:
        table[r.label] = [fn(r, r.environment) for _, fn in fields]  # type: ignore[operator]
    table = table[[any(str(v) for v in row[1:]) for row in table.itertuples(index=False)]]
    return [Heading(2, "Environment"), Table(table.reset_index(drop=True))]


def _environment(run: an.Run) -> str:
    from a2bench.slurm.merge import environment_problem  # as analysis.unfinished asks it

    problem = environment_problem(run.path, run.environment)
    return "" if problem is None else f"not recorded: {problem}"


def _cores(run: an.Run, env: dict[str, Any]) -> str:
    physical, logical = node_values(env, "physical_cores"), node_values(env, "logical_cores")

    def of(values: dict[str, Any], host: str) -> Any:
        return values.get(host, values.get("")) or "?"  # a host's own, or the common value

    hosts = [h for h in dict.fromkeys([*physical, *logical]) if h] or [""]
    return ", ".join(" ".join(filter(None, (h, f"{of(physical, h)} / {of(logical, h)}")))
                     for h in hosts)


def _gpu_memory(run: an.Run, env: dict[str, Any]) -> str:
    total, free = env.get("gpu_memory_bytes"), env.get("gpu_free_bytes")
    if not total:
        return ""
    return f"{significant(total / 2**30)} / {significant(free / 2**30) if free else '?'}"


def _cuda_flags(run: an.Run, env: dict[str, Any]) -> str:
    """Which kernels a CUDA run allowed: TF32 off, cuDNN's autotuner off (timing.cuda_flags)."""
    flags = env.get("cuda_flags") or {}
    return ", ".join(f"{k} {'on' if v else 'off'}" for k, v in flags.items())


def _ceilings(run: an.Run, env: dict[str, Any]) -> str:
    sessions = env.get("roofline_sessions") or [env.get("roofline") or {}]
    cells = []
    for i, r in enumerate(sessions):
        start, end = r.get("gemm_flops_per_s_start"), r.get("gemm_flops_per_s_end")
        if start is None:
            continue
        drift = r.get("drift")
        cells.append(("" if len(sessions) < 2 else "first: " if not i else f"resumed {i}: ")
                     + f"{significant(start / 1e9)} / "
                     + (significant(end / 1e9) if end else "not measured")
                     + (f", drift {percent(drift)}" if drift is not None else ""))
    return "; ".join(cells)


def _dtype_ceilings(run: an.Run, env: dict[str, Any]) -> str:
    records = env.get("rooflines") or {}
    if len(records) < 2:
        return ""
    return ", ".join(f"{d} {significant((r.get('gemm_flops_per_s') or math.nan) / 1e9)}"
                     for d, r in records.items())


def _reduced_precision(run: an.Run, env: dict[str, Any]) -> str:
    rp = env.get("reduced_precision") or {}
    if not rp:
        return ""
    yes = {True: "yes", False: "no"}
    return (f"{yes[bool(rp.get('native_bf16'))]} / {yes[bool(rp.get('native_fp16'))]} "
            f"(dispatch {rp.get('cpu_capability', '?')})")


def _caches(run: an.Run, env: dict[str, Any]) -> str:
    caches = an.run_caches(env)
    return ", ".join(f"{k} {format_bytes(v)}"
                     for k, v in sorted(caches.items(), key=lambda kv: kv[1]))


def _allocator(run: an.Run, env: dict[str, Any]) -> str:
    a = env.get("allocator") or {}
    if not a:
        return ""
    size = an.run_thresholds(env).get(an.MMAP)
    return f"{a.get('name', '')} {a.get('version', '')}".strip() + (
        f", mmap threshold {format_bytes(size)} ({a.get('mmap_threshold_source', '')})"
        if size else "")


def _getconf_caches(run: an.Run, env: dict[str, Any]) -> str:
    getconf = {k: v for k, v in (env.get("caches_getconf") or {}).items() if v}
    if not getconf or getconf == (env.get("cpu_caches") or {}):
        return ""
    return ", ".join(f"{k} {format_bytes(v)}"
                     for k, v in sorted(getconf.items(), key=lambda kv: kv[1]))


def units_section() -> list[Element]:
    return [
        Heading(2, "Units"),
        Bullets((
            f"MACs: multiply-accumulates {PER_CALL} (a (p×K)(K×q) product is p·q·K MACs), "
            "counted by torch's FlopCounterMode (fvcore where it is missing); a block without "
            "a cost model by a2bench's count, FlopCounterMode's with the CPU flash attention "
            "kernel and nn.MultiheadAttention's fused path counted (macs_counted).",
            f"Latency: seconds {PER_CALL}; tables show the median of the timed runs in "
            "milliseconds (ms = 10⁻³ s), while the fits and their figures read each size's "
            f"median over its passes of each pass's expected fastest of {ft.MIN_OF} runs (the "
            "method, below).",
            "Memory: bytes allocated at the peak of one call above the input (tables show MiB "
            "= 2²⁰ bytes).",
            "Exponent: k in cost = a + b·size^k; 1 means linear, 2 quadratic. The overhead "
            "a is in the cost's unit (seconds for latency).",
            "GFLOP/s: 10⁹ floating-point operations per second, with FLOPs = 2·MACs + "
            "elementwise operations from the cost model.",
            "N: positions = t·h·w (frames × height × width).",
        )),
    ]


def roofline_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    failed = failed_calibrations(result)
    doc: list[Element] = [Heading(2, "Roofline")]
    s = result.roofline_summary
    if not len(s):
        return doc + [Para("No case has both a latency and an analytic FLOP count (a block "
                           "without a cost model has no analytic FLOPs or bytes to place it; "
                           "its rate R in the latency fits is read from 2 × its counted MACs).")]
    doc.append(Para(
        "Achieved GFLOP/s = analytic FLOPs ÷ median latency ÷ 10⁹; the ceiling is the GEMM "
        "throughput measured in the same run (environment.json, roofline; in a Slurm "
        "partition of several nodes, the node's own that ran the case, rooflines_by_host), "
        "the best of a few square products. A block's own, differently shaped products can "
        f"run a little past it: up to {an.CEILING_TOLERANCE:.0%} over reads as reaching the "
        "ceiling, and beyond that the ceiling counts as mis-measured and no fraction of it is "
        "shown. Arithmetic intensity = FLOPs ÷ bytes of activations written plus the input. "
        "Per-case numbers are in cases.csv."))
    rows = [{
        **({"run": r["run"]} if len(result.runs) > 1 else {}),
        "block": block_name(result, r["block"], short=True), "cases": r["cases"],
        "best GFLOP/s": significant(r["best_gflops"]), "at size": r["best_shape"],
        "best % of GEMM ceiling": ceiling_percent(r["best_fraction_of_peak"],
                                                  (r["run"], r["dtype"]) in failed),
        "median % of ceiling": ceiling_percent(r["median_fraction_of_peak"],
                                               (r["run"], r["dtype"]) in failed),
        "GEMM ceiling (GFLOP/s)": significant(r["peak_gflops"]),
    } for _, r in s.iterrows()]
    doc.append(Table(pd.DataFrame(rows)))
    roof = result.roofline
    over_roof = roof[roof["fraction_of_attainable"] > 1]
    for run, dtype in sorted(failed):
        top = roof.loc[(roof["run"] == run) & (roof["dtype"] == dtype),
                       "fraction_of_peak_raw"].max()
        doc.append(Para(
            f"{run}: the {dtype} calibration failed. A {dtype} case ran at {fixed(100 * top, 0)}% "
            f"of the {dtype} GEMM ceiling measured in the same run, so that ceiling is too low "
            f"to be one; no {dtype} fraction of the ceiling is reported for this run."))
    if len(over_roof):
        doc.append(Para(
            f"{len(over_roof)} case(s) sit above the bandwidth slope: their activations are "
            "small enough to stay in cache, so they never pay the main-memory bandwidth that "
            "the intensity assumes."))
    doc += figure(figs, "roofline.png")
    return doc


def failed_calibrations(result: an.Analysis) -> set[tuple[str, str]]:
    """(run, dtype) pairs whose GEMM calibration failed (a case beat the ceiling)."""
    return {(f.run, f.dtype) for f in result.findings if f.kind == "calibration_failed"}


def ceiling_percent(fraction: Any, failed: bool) -> str:
    """A fraction of the GEMM ceiling in percent; never one from a failed calibration."""
    if failed:
        return "calibration failed"
    return fixed(100 * fraction, 1) if fraction is not None else "n/a"


def sizes_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    failed = failed_calibrations(result)
    doc: list[Element] = [Heading(2, "Costs at each size")]
    sizes = an.size_columns(result.data)
    ok = an.ok_rows(result.data).merge(
        result.roofline[["run", "block", "device", *sizes, "gflops", "fraction_of_peak"]],
        on=["run", "block", "device", *sizes], how="left")
    # every size column in the key (m, n, r too): along m the rows had run 8, 64, 128, 32, 4, 16
    extra = [c for c in sizes if c not in ("positions", "channels", "batch") and c in ok]
    ok = ok.sort_values(["run_index", "positions", "channels", "batch", *extra, "block"],
                        kind="stable")
    doc += figure(figs, "sizes.png")
    if len(result.pairs):
        p = result.pairs
        left, right = (block_name(result, b, short=True) for b in (an.STUDY.left, an.STUDY.right))
        rows = [{
            **({"run": r["run"]} if len(result.runs) > 1 else {}),
            "size": _size_of(result.data, r), "N": integer(r["positions"]),
            "c": integer(r["channels"]), "m": integer(r["m"]), "n": integer(r["n"]),
            "MACs ratio": significant(r["ratio_macs"]),
            "latency ratio": significant(r["ratio_latency"]),
            "memory ratio": significant(r["ratio_memory"]),
            "memory ratio (model)": significant(r["ratio_memory_model"]),
            f"{left} peak vs model": percent(r["memory_error_left"]),
            f"{right} peak vs model": percent(r["memory_error_right"]),
        } for _, r in p.head(MAX_TABLE_ROWS).iterrows()]
        doc.append(Para("Non-local order ÷ double attention at each size measured in both "
                        "orders (ratios, dimensionless; above 1 the non-local order costs more), "
                        "the same ratio of the modelled peaks, and each order's measured peak "
                        "memory against its model (measured ÷ model − 1, in %)."
                        + (f" First {MAX_TABLE_ROWS} of {len(p)} rows; all are in pairs.csv."
                           if len(p) > MAX_TABLE_ROWS else "")))
        doc.append(Table(pd.DataFrame(rows)))
    rows = [{
        **({"run": r["run"]} if len(result.runs) > 1 else {}),
        "size": r["size"], "N": integer(r["positions"]),
        "block": block_name(result, r["block"], short=True),
        "MACs (millions)": significant(r["macs"] / 1e6),
        "median latency (ms)": significant(r["latency"] * 1e3),
        "IQR (ms)": significant(r["latency_iqr_s"] * 1e3),
        "peak memory (MiB)": significant(r["memory"] / 2**20),
        "model peak (MiB)": significant(r["peak_bytes_analytic"] / 2**20),
        "GFLOP/s": significant(r["gflops"]),
        "% of GEMM ceiling": ceiling_percent(r["fraction_of_peak"],
                                             (r["run"], r["dtype"]) in failed),
    } for _, r in ok.head(MAX_TABLE_ROWS).iterrows()]
    doc.append(Para("Every ok case: MACs in millions of multiply-accumulates, median latency and "
                    "its interquartile range in milliseconds, peak memory in MiB."
                    + (f" First {MAX_TABLE_ROWS} of {len(ok)} rows; all are in cases.csv."
                       if len(ok) > MAX_TABLE_ROWS else "")))
    doc.append(Table(pd.DataFrame(rows)))
    return doc


def _size_of(data: pd.DataFrame, pair: pd.Series) -> str:
    rows = data[(data["run"] == pair["run"]) & (data["block"] == an.STUDY.left)
                & (data["positions"] == pair["positions"]) & (data["channels"] == pair["channels"])
                & (data["m"] == pair["m"]) & (data["n"] == pair["n"])
                & (data["batch"] == pair["batch"]) & (data["h"] == pair["h"])
                & (data["t"] == pair["t"])]
    return str(rows["size"].iloc[0]) if len(rows) else str(pair["shape"])


def method_section() -> list[Element]:
    return [
        Heading(2, "How these numbers were computed"),
        Bullets((
            "Only rows with status ok enter the analysis; a case stored twice counts once.",
            "Axes: positions N = t·h·w (h and w zipped, or t for clips, move N together), "
            "batch, channels, m, n, t and reduction r. An axis is fitted for a block where it "
            "takes at least two values with every other size fixed; where several such groups "
            "exist each is fitted (fits.csv) and the one with the most values is shown.",
            "MACs are the measured counter (torch FlopCounterMode, halved to MACs; fvcore where "
            "torch's is missing), latency the median of the timed runs, memory the measured "
            "peak of allocated bytes above the input.",
            "Latency fits read, per size, the median over its passes of each pass's expected "
            f"fastest of {ft.MIN_OF} raw samples (each pass a fresh worker process, cases in a "
            "seeded "
            "random order: the process is the unit of replication). The overhead "
            "is measured directly as well: the block at its smallest legal shape (t = 1 and "
            "the smallest square map up to 8x8 it accepts) through the same timing path "
            "(environment.json, overhead).",
            "Cache sizes come from /sys/devices/system/cpu/cpu0/cache, or the GPU's device "
            "properties; getconf's figures are shown beside them only where they differ, as "
            "they can be wrong. A cliff names a cache only when the working set (the cost "
            "model's live peak plus the input; a block with no cost model: its measured peak, "
            "its weights and the input) crosses its size between the two sizes in "
            "question.",
            "The GEMM ceiling is the best of 5 timings, each at least the run's calibration "
            "time (--calibration-time, 0.5 s unless set), over the GEMM sizes that fit in "
            "that time, measured at the start and at the end of the sweep; the larger is "
            "used and the drift between them is reported (environment.json's "
            "calibration_time_s and roofline hold each run's own).",
        )),
    ]


def auto_sizes_section(result: an.Analysis) -> list[Element]:
    """The sizes a2bench chose for a run's auto axes, and why (environment.json auto_sizes)."""
    rows = an.auto_sizes(result.runs)
    if rows.empty:
        return []
    doc: list[Element] = [Heading(2, "Sizes a2bench chose"), Para(
        "These runs left the sizes along positions to a2bench (`h: auto, w: auto` or `t: auto`). "
        f"Per block: {plan.SIZES} to {plan.MAX_SIZES} sizes inside one regime (the working "
        f"set at least {plan.CACHE_MARGIN_WITHIN:g}x under a cache, or "
        f"{plan.CACHE_MARGIN:g}x past it ({plan.LAST_CACHE_MARGIN:g}x past the last level); "
        f"the largest tensor a factor {plan.BOUNDARY_MARGIN:g} off the mmap threshold), the "
        f"per-call overhead measured on the device at most {plan.OVERHEAD_TARGET:.0%} of the "
        "predicted time, the peak its memory model predicts within the memory budget; the time "
        "predicted from the exact cost model and the block's rate measured at a probe size. "
        "Narrowing rounds add passes of the same sizes, never sizes. `ended`: how each size's "
        "cases ended (a plan predicts; a case may still fail, such as out of memory).")]
    multi = len(result.runs) > 1
    data = result.data
    base = data["block"].str.partition("[")[0]  # a plan names the block; its cases, variants

    def ended(r: pd.Series) -> str:
        own = data[(data["run"] == r["run"]) & (base == r["block"])
                   & (data["positions"] == r["positions"])]
        return ", ".join(sorted(set(own["status"]))) or "not run"

    doc.append(Table(pd.DataFrame([{
        **({"run": r["run"]} if multi else {}),
        "block": block_name(result, r["block"], short=True), "regime": r["regime"],
        "N": integer(r["positions"]), "predicted (ms)": significant(r["predicted_ms"]),
        "overhead share": f"{float(r['overhead_share']):.1%}"
        if finite(r["overhead_share"]) else "n/a", "ended": ended(r),
    } for _, r in rows.iterrows()])))
    notes = [(f"{run}, " if multi else "") + f"{block_name(result, b, short=True)}: overhead "
             f"{significant(g['overhead_ms'].iloc[0])} ms per call, rate "
             f"{significant(g['rate_gflops'].iloc[0])} GFLOP/s "
             f"({'measured' if g['rate_measured'].iloc[0] else 'guessed'})"
             + (f"; {g['note'].iloc[0]}" if g["note"].iloc[0] else "")
             for (run, b), g in rows.groupby(["run", "block"], sort=False)]
    for s in an.auto_summary(result.runs):
        notes.append(f"{s['run']}: budget {s['budget_s']:g} s, first round predicted "
                     f"{significant(s['predicted_wall_s'])} s; {s['rounds']} narrowing "
                     f"round(s)" + (f", stopped at {s['stopped']}" if s["stopped"] else "")
                     + _needed(s["needed_budget_s"]))
    doc.append(Bullets(tuple(notes)))
    return doc


def _needed(needed: Any) -> str:
    """What budget one regime needs, in whole seconds rounded up as `plan` and the headline
    say it (it had read "about 167.868 s" there, and "about n/a s" where none would do)."""
    if needed is None:
        return ""
    if not finite(needed):
        return "; no budget affords one regime (the plan's notes say what stops it)"
    return f"; about {math.ceil(needed)} s needed for one regime (--budget {math.ceil(needed)})"


# How run.runner words a worker lost while timing (WorkerLost), and an out-of-memory error: a
# rerun may time those; an error the block raised itself at that shape (ResNet-50's BatchNorm
# in training, on a 1x1 map at batch 1) recurs on every rerun.
_TRANSIENT = ("worker died", "worker killed", "no answer after")
_SIZES = ("batch", "channels", "m", "n", "t", "h", "w", "reduction")
_UNSAID = ("block", "device", "error", "t", "h", "w", "channels", "m", "n", "reduction")


def _transient(error: str) -> bool:
    return error.startswith(_TRANSIENT) or "out of memory" in error.lower()


def _settings(entry: dict[str, Any], keys: list[str]) -> str:
    """An overhead entry's settings in words, mode first: "train mode, batch 1, float32"."""
    words = {"mode": "{} mode", "batch": "batch {}", "dtype": "{}"}
    order = sorted(keys, key=lambda k: list(words).index(k) if k in words else len(words))
    return ", ".join(words.get(k, f"{k} {{}}").format(entry[k]) for k in order
                     if entry.get(k) is not None and k != "compile") + (
        ", compiled" if "compile" in keys and entry.get("compile") else "")


def _stand_ins(failed: dict[str, Any], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries that timed the same variant as `failed` (same block, kind and choices) at
    other sizes."""
    return [t for t in entries if not t.get("error") and t.get("block") == failed.get("block")
            and all(t.get(k) == v for k, v in failed.items() if k not in (*_SIZES, "error"))]


def untimed(result: an.Analysis) -> list[Element]:
    """Each per-call overhead the run could not time, said once per block and error: at which
    settings it failed (the variants it failed for), which timing of the same variants stands in
    for it where the run has one (direct_overhead reads another batch's) and whether --resume
    could time it (a lost worker or out of memory), or not (an error the block raises there).
    ResNet-50 had said the same line five times, one per attention setting, that its window
    rested on the fitted overhead alone, beside a table that showed the batch-8 timing."""
    lines = []
    for r in result.runs:
        entries = [e for e in (r.environment.get("overhead") or {}).get("cases") or []
                   if isinstance(e, dict)]
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for e in entries:
            if e.get("error"):
                groups.setdefault((str(e.get("block")), str(e["error"])), []).append(e)
        for (block, error), failed in groups.items():
            keys = list(dict.fromkeys(k for e in failed for k in e if k not in _UNSAID))
            same = [k for k in keys if len({repr(e.get(k)) for e in failed}) == 1]
            vary = [k for k in keys if k not in same]
            shape = "×".join(str(failed[0][k]) for k in ("t", "h", "w") if k in failed[0]
                             and (k != "t" or (failed[0]["t"] or 1) > 1))
            where = _settings(failed[0], same)
            each = "; ".join(f"{k} " + ", ".join(dict.fromkeys(str(e.get(k)) for e in failed))
                             for k in vary)
            # the same variant timed at other sizes: what direct_overhead reads instead
            timed = [_stand_ins(e, entries) for e in failed]
            stand = sorted({_settings(t, [k for k in _SIZES if k not in ("t", "h", "w")
                                          and t.get(k) != e.get(k)]) or "another shape"
                            for e, ts in zip(failed, timed, strict=True) for t in ts})
            covered = all(timed)
            name = block_name(result, block, short=True)
            said = "; ".join(x for x in (shape, where) if x)
            text = (f"{r.label}: {name}'s per-call overhead could not be timed"
                    + (f" at its smallest shape ({said})" if said else "")
                    + (f" for {plural(len(failed), 'variant')} ({each})" if vary else "")
                    + f": {error}. ")
            who = "Each variant's" if len(failed) > 1 else "Its"
            if covered and stand:
                text += (f"{who} latency window is cut "
                         f"by its own timing at {' or '.join(stand)} instead (the timed column "
                         "above)")
            else:
                text += f"{who} latency window rests on the fitted overhead alone"
            text += ("; --resume times it again." if _transient(error) else
                     "; the block raises this at that shape, so a rerun would meet it again.")
            lines.append(text)
    return [Bullets(tuple(lines))] if lines else []
