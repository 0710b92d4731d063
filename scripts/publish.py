"""Regenerate the published reports, the README's headline and docs/results.md from results/.

    .venv/bin/python scripts/publish.py          # or: make publish

Nothing is measured: each report is `a2bench report` over published folders, and every table
and line written here is built from those reports' files, so every figure comes from the stored
runs. Two pages are written:

- README.md: only the block between the headline markers (the verdict table), from the combined
  report's summary.json; the rest of the README is hand-written.
- docs/results.md: the whole page, rendered from the Jinja2 template docs/results.md.j2, whose
  hand-written prose surrounds one generated block per published section (SECTIONS).

Run it after re-running any published suite.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from a2bench import fitting as ft  # the verdict's margins, for the tables' legend (no torch)
from a2bench.formatting import fixed, ms_text, ratio_text, significant  # "-0.00" reads as "0.00"

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("cpu-default", "cpu-positions", "cpu-resnet-stages")
# GPU positions runs (scripts/gpu_run.sh: results/gpu-<kind>-positions and -auto-positions),
# and the train-mode runs of both orders (-auto-training-both, -2, ...), join the headline and
# its report as they are published, beside the CPU runs; bf16 and other suites stay out of it.
GPU_RUNS = ("gpu-*-positions", "gpu-*-training-both", "gpu-*-training-both-*")
TRIALS = ROOT / "results" / "cpu-default-trials"  # repeated `make run`s, one after another
REPORT = ROOT / "results" / "report"
README = ROOT / "README.md"
BEGIN, END = "<!-- headline:begin -->", "<!-- headline:end -->"
# docs/results.md is generated whole from its template; the README keeps only the headline.
RESULTS_PAGE = ROOT / "docs" / "results.md"
TEMPLATE = ROOT / "docs" / "results.md.j2"
# The generated blocks the template places, one per published section.
SECTIONS = ("headline", "headline_gpu", "trials", "video", "gpu", "blocks", "training",
            "resnet50", "audit")
# The comparison of every block (suites/global-context.yaml) has a report of its own.
BLOCKS_RUN = ROOT / "results" / "cpu-global-context"
BLOCKS_REPORT = ROOT / "results" / "report-global-context"
# Training, precision and compilation (suites/training.yaml) have a report of their own too.
TRAINING_RUN = ROOT / "results" / "cpu-training"
TRAINING_REPORT = ROOT / "results" / "report-training"
# The counter audit (`a2bench audit --out results/audit`): a section from its audit.csv.
AUDIT = ROOT / "results" / "audit"
# Blocks in a ResNet-50 (suites/resnet50.yaml): a report of its own and a table.
RESNET_RUN = ROOT / "results" / "cpu-resnet50"
RESNET_REPORT = ROOT / "results" / "report-resnet50"
RESNET_STAGES = ((256, 56), (512, 28), (1024, 14), (2048, 7))
# The A² paper's video example (suites/video.yaml): CPU at a clip that fits this machine, each
# GPU at the paper's own 32×28×28; a report of its own and a table of both orders.
VIDEO_RUNS = ("cpu-video", "gpu-*-video")
VIDEO_REPORT = ROOT / "results" / "report-video"
# The Slurm sweeps docs/slurm.md shows, each report with its runs (they had been left out of
# publish, and kept an older method's words and figures)
SLURM_REPORTS = {"report-slurm-smoke": ("slurm-smoke/h100", "slurm-smoke/a100"),
                 "report-slurm-two-nodes": ("slurm-two-nodes/debug",)}
# Every GPU run (scripts/gpu_run.sh), one report per GPU kind, a section per kind from
# that report's fits, and the run's checks (the CUDA tests' summary and the timing check)
# copied from its OUTDIR into results/checks-gpu-<kind> (or -1, -2, ... per device call).
GPU_ALL = "gpu-*"
# The axis each GPU suite sweeps; the others sweep positions.
SUITE_AXES = {"m": "m", "n": "n", "frames": "t"}
NAMES = {"double_attention": "double attention", "nonlocal_right": "non-local order"}
WORDS = {"confirmed": "CONFIRMED", "contradicted": "CONTRADICTED",
         "inconclusive": "INCONCLUSIVE", "not swept": "NOT SWEPT"}


def num(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else fixed(float(x), digits)


def cell(fit: dict[str, Any]) -> str:
    if fit.get("exponent") is None:
        return f"{fit['verdict']}"
    mark = {"consistent": "✓", "contradicted": "✗"}.get(fit["verdict"], "?")
    return (f"{num(fit['exponent'])} [{num(fit['ci_low'])}, {num(fit['ci_high'])}] "
            f"({num(fit['expected'])}) {mark}")


# The verdict's rule, beside every table of ✓ marks: a 95 % interval shown may miss the model's
# exponent by a little and still be consistent, which the table alone would not say.
RULE = (f"Consistent: the 90 % interval lies within the model's exponent ± {ft.MARGIN:g}, and "
        f"for latency ΔBIC > {ft.BIC_DECISIVE:g} favours the model's curve over the competing "
        "class; MACs and memory also where they equal the model at every size (docs/reports.md, "
        "the method).")


def headline_block(summary: dict[str, Any]) -> str:
    from a2bench.report.sections.scaling import headline_phrase

    h = summary["headline"]
    lines = [f"**Headline: {headline_phrase(h)}.** Exponent along positions N [95% interval] "
             "(the cost model's), per metric: ✓ consistent, ✗ contradicted, ? inconclusive. "
             f"{RULE} CONFIRMED needs MACs, peak memory and latency consistent for both orders "
             "in a run.",
             "", "| run | block | MACs | memory | latency | latency ΔBIC |",
             "|---|---|---|---|---|---|"]
    for run, r in h["runs"].items():
        if r["verdict"] == "not swept":
            continue
        # a train-mode run's fits are its blocks' train variants ("double_attention[train]")
        by = {(f["block"].removesuffix("[train]"), f["metric"]): f for f in r["fits"]}
        train = any(f["block"].endswith("[train]") for f in r["fits"])
        for block in ("double_attention", "nonlocal_right"):
            cells = [cell(by[(block, m)]) if (block, m) in by else "not measured"
                     for m in ("macs", "memory", "latency")]
            dbic = by.get((block, "latency"), {}).get("delta_bic")
            lines.append(f"| {run} | {NAMES[block]}{' [train]' if train else ''} | "
                         f"{' | '.join(cells)} | {num(dbic, 1)} |")
    lines.append("")
    for run, r in h["runs"].items():
        if r["verdict"] == "not swept":  # named, so the runs' tally adds up
            lines.append(f"- {run}: not swept along positions N, so not counted above.")
            continue
        said = r["contradicting"] + r["missing"] + r.get("unmeasured", [])
        lines.append(f"- {run}: **{WORDS[r['verdict']]}**"
                     + (": " + "; ".join(said) + "." if said else "."))
    for c in summary.get("crossovers", []):
        if c.get("n_star_latency") is None:
            if "the crossing is the overhead's" in (c.get("reason_latency") or ""):
                lines.append(f"- {c['run']}: at c = {c['channels']:.0f}, m = {c['m']:.0f}, "
                             f"n = {c['n']:.0f}, no measured crossover: "
                             f"{c['reason_latency']} (N* = {c['n_star_predicted']:.0f}, "
                             "predicted).")
            continue
        lines.append(f"- {c['run']}: at c = {c['channels']:.0f}, m = {c['m']:.0f}, "
                     f"n = {c['n']:.0f}, the non-local order takes more time than double "
                     f"attention from N ≈ {c['n_star_latency']:.0f} (measured) against "
                     f"N* = 2mn/(m+n) = {c['n_star_predicted']:.0f} (predicted).")
    lines += apart_lines(summary, {c["run"] for c in summary.get("crossovers", [])})
    return "\n".join(lines)


def apart_lines(summary: dict[str, Any], said: set[str]) -> list[str]:
    """For a headline run with no crossover line because its two orders ran no N in common
    (auto sizes give each block its own), the measured figures either side of the gap where
    the non-local order took longer at fewer positions (analysis.against's disjoint rows):
    the H200 runs' answer had stood only in their own reports."""
    out = []
    for r in summary.get("block_crossovers", []):
        if (r["run"] in said or r["run"] not in summary["headline"]["runs"]
                or r.get("latency_basis") != "disjoint"
                or r["block"].removesuffix("[train]") != "nonlocal_right"
                or r.get("outcome_latency") != "costlier_at_fewer_n"
                # the pair's own m and n, as the crossover lines' pairs() match them
                or r.get("params") != f"m={r['ref_m']:.0f} n={r['ref_n']:.0f}"):
            continue
        said.add(r["run"])
        train = " [train]" if r["block"].endswith("[train]") else ""
        out.append(f"- {r['run']}: at c = {r['channels']:.0f}, m = {r['ref_m']:.0f}, "
                   f"n = {r['ref_n']:.0f}, no N in common (auto sizes): the non-local "
                   f"order{train} at its largest, N = {r['lower_n']:.0f}, took "
                   f"{ms_text(r['lower_latency'])}, "
                   f"{significant(r['lower_latency'] / r['upper_latency'])}× double "
                   f"attention{train}'s {ms_text(r['upper_latency'])} at its smallest, "
                   f"N = {r['upper_n']:.0f} ({significant(r['upper_n'] / r['lower_n'], 2)}× "
                   "more positions).")
    return out


def trials_block() -> str:
    """One line per repeated `make run`: its latency verdicts and 95% half-widths."""
    from a2bench import analysis as an

    dirs = sorted(p for p in TRIALS.glob("*") if (p / "results.jsonl").is_file())
    if not dirs:
        return ""
    data, runs = an.load_runs(dirs)
    h = an.analyse(data, runs).headline
    lines = [f"Repeated `make run` on this machine ({TRIALS.relative_to(ROOT)}, one after "
             "another), latency along N, exponent [95% interval], half-width, ΔBIC:", ""]
    for run in runs:
        r = h["runs"][run.label]
        cells = []
        for f in r["fits"]:
            if f["metric"] != "latency":
                continue
            half = ((f["ci_high"] - f["ci_low"]) / 2 if f["ci_high"] is not None
                    and f["ci_low"] is not None else None)
            cells.append(f"{NAMES[f['block']]} {num(f['exponent'])} [{num(f['ci_low'])}, "
                         f"{num(f['ci_high'])}] ±{num(half)}, ΔBIC {num(f['delta_bic'], 1)}, "
                         f"{f['verdict']}")
        lines.append(f"- {run.label}: {WORDS[r['verdict']]}: " + "; ".join(cells) + ".")
    return "\n".join(lines)


def blocks_block() -> str:
    """The comparison table of every block, from the global-context report's own tables."""
    import pandas as pd

    from a2bench import analysis as an

    env = json.loads((BLOCKS_RUN / "environment.json").read_text())
    envs = {BLOCKS_RUN.name: env}
    classes = pd.read_csv(BLOCKS_REPORT / "complexity.csv")
    cross = pd.read_csv(BLOCKS_REPORT / "block_crossovers.csv")
    cases = pd.read_csv(BLOCKS_REPORT / "cases.csv")
    stage = {(c, s): "×".join(str(x) for x in (s, s)) for c, s in RESNET_STAGES}
    from a2bench.formatting import format_bytes

    caches = ", ".join(f"{level} {format_bytes(size)}"
                       for level, size in (env.get("caches") or {}).items())
    lines = [f"Measured in `{BLOCKS_RUN.relative_to(ROOT)}` (suites/global-context.yaml, "
             f"{env.get('cpu_model', 'CPU')}" + (f" with {caches}" if caches else "")
             + f", {env.get('threads')} thread, "
             f"{env.get('torch')}); full report in `{BLOCKS_REPORT.relative_to(ROOT)}`. "
             "Exponent along N of the primary fit [95% interval] (the block's own model), and "
             "the verdict; latency in ms at batch 1 at the ResNet-50 stage shapes "
             "(c at h×w); the latency ratio to double attention at the largest N both ran.",
             "", "| block | MACs ∝ N^k | latency ∝ N^k | "
             + " | ".join(f"c={c} {stage[(c, s)]}" for c, s in RESNET_STAGES)
             + " | latency ÷ double attention |",
             "|---|---|---|" + "---|" * len(RESNET_STAGES) + "---|"]
    for block in an.block_order(cases, envs):
        cells = []
        for metric in ("macs", "latency"):
            rows = classes[(classes["block"] == block) & (classes["metric"] == metric)]
            if not len(rows):
                cells.append("n/a")
                continue
            r = rows.iloc[0]
            cells.append(f"{num(r['exponent'])} [{num(r['ci_low'])}, {num(r['ci_high'])}] "
                         f"({num(r['expected'])}), {r['verdict']}")
        for c, s in RESNET_STAGES:
            at = cases[(cases["block"] == block) & (cases["channels"] == c) & (cases["h"] == s)
                       & (cases["w"] == s) & (cases["batch"] == 1)]
            cells.append(num(at["latency"].iloc[0] * 1e3) if len(at) else "n/a")
        x = cross[cross["block"] == block]
        if len(x):
            r = x.sort_values("n_points").iloc[-1]
            ratio = f"{float(r['ratio_at_max_latency']):.3g} at N = {float(r['n_max']):.0f}"
            if isinstance(r["outcome_latency"], str) and r["outcome_latency"] == "crosses":
                ratio += f" (costlier from N ≈ {float(r['n_star_latency']):.0f})"
            cells.append(ratio)
        else:
            cells.append("(the reference)" if block == an.REFERENCE else "n/a")
        label = an.block_label(block, envs, short=True)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", *which_block_lines(cases, classes, cross, envs)])


def which_block_lines(cases: Any, classes: Any, cross: Any, envs: dict[str, Any]) -> list[str]:
    """"Which block when": the lines under the comparison table, every figure read from the
    global-context report's tables (cases.csv, complexity.csv, block_crossovers.csv)."""
    from a2bench import analysis as an

    def name(block: str) -> str:
        return an.block_label(block, envs, short=True)

    def fit(block: str, metric: str) -> Any:
        rows = classes[(classes["block"] == block) & (classes["metric"] == metric)]
        return rows.iloc[0] if len(rows) else None

    def grows(block: str) -> str:
        r = fit(block, "latency")
        return ("n/a" if r is None else f"N^{num(r['exponent'])} [{num(r['ci_low'])}, "
                f"{num(r['ci_high'])}] against its model's {num(r['expected'])}, {r['verdict']}")

    ok = cases[(cases["status"] == "ok") & (cases["batch"] == 1)]
    stages = ok[[(int(c), int(h)) in RESNET_STAGES and h == w
                 for c, h, w in zip(ok["channels"], ok["h"], ok["w"], strict=True)]]

    def at_stages(block: str) -> Any:
        return stages[stages["variant"] == block].set_index(["channels", "h"])["latency"]

    def ms(seconds: float) -> str:
        v = 1e3 * seconds
        return f"{v:.3g} ms" if v < 100 else f"{v:,.0f} ms"

    def ms_range(block: str) -> str:
        t = at_stages(block) * 1e3
        return f"{t.min():.2f}–{t.max():.2f} ms" if len(t) else "n/a"

    def ratio_range(block: str) -> str:
        r = (at_stages(block) / at_stages(an.REFERENCE)).dropna()
        return f"{r.min():.1f}–{r.max():.1f}×" if len(r) else "n/a"

    # the positions sweep every block ran: its channels, and the largest N each ran there
    c0 = int(ok[ok["variant"] == an.REFERENCE]["channels"].mode().iloc[0])
    along = ok[(ok["channels"] == c0) & (ok["h"] == ok["w"])]
    common = int(min(along[along["variant"] == v]["positions"].max()
                     for v in along["variant"].unique()))
    top = along[along["positions"] == common].drop_duplicates("variant").sort_values("latency")
    env = envs[BLOCKS_RUN.name]
    threads = int(env.get("threads") or 1)
    lines = [f"**Which block when**, from this run only ({env.get('dtype')}, batch 1, "
             f"{threads} thread{'s' if threads > 1 else ''} of this CPU; a GPU run may rank "
             "them differently):",
             f"- **By latency at N = {common}** (c = {c0}, the largest N every block ran), "
             "cheapest first: " + ", ".join(f"{name(r.variant)} {ms(r.latency)}"
                                             for r in top.itertuples()) + "."]
    ref = along[along["variant"] == an.REFERENCE].set_index("positions")["latency"]
    channel = ("se", "gc")  # channel context only
    shares = {b: (along[along["variant"] == b].set_index("positions")["latency"] / ref).dropna()
              for b in channel}
    lines.append(f"- **Channel context only ({', '.join(name(b) for b in channel)}).** At the "
                 "ResNet-50 stage shapes " + " and ".join(f"{name(b)} takes {ms_range(b)}"
                                                          for b in channel)
                 + "; latency grows as " + "; ".join(f"{name(b)} {grows(b)}" for b in channel)
                 + ". Along positions " + " and ".join(
                     f"{name(b)} takes at most {shares[b].max():.1%}" for b in channel)
                 + f" of {name(an.REFERENCE)}'s time at any N both ran.")
    nl = cross[cross["block"] == "nonlocal_right"]
    if len(nl):
        r = nl.iloc[0]
        m, n = int(r["ref_m"]), int(r["ref_n"])
        macs = {"above": f"its MACs exceed {name(an.REFERENCE)}'s from the smallest N swept "
                         f"({float(r['n_min']):.0f})",
                "crosses": f"its MACs exceed {name(an.REFERENCE)}'s from N ≈ "
                           f"{float(r['n_star_macs']):.0f}"}.get(r["outcome_macs"], "")
        when = {"crosses": f"takes more time from N ≈ {float(r['n_star_latency']):.0f} on",
                "above": f"takes more time from the smallest N swept ({float(r['n_min']):.0f}) "
                         "on"}.get(r["outcome_latency"], f"({r['reason_latency']})")
        lines.append(f"- **Global context at linear cost ({name(an.REFERENCE)}, which is also "
                     f"one-head efficient attention).** {ms_range(an.REFERENCE)} at the stage "
                     f"shapes; latency grows as {grows(an.REFERENCE)}. The same function in the "
                     f"non-local order {when} (m = {m}, n = {n}; {macs}, against N* = "
                     f"2mn/(m+n) = {2 * m * n / (m + n):.0f}); its latency grows as "
                     f"{grows('nonlocal_right')}.")
    cc, cc_macs = fit("criss_cross", "latency"), fit("criss_cross", "macs")
    if cc is not None and cc_macs is not None:
        lines.append(f"- **Criss-cross.** Along square maps at {cc['group']} (where its "
                     f"attention term dominates), latency grows as {grows('criss_cross')}; its "
                     f"MACs as N^{num(cc_macs['exponent'])}, {cc_macs['verdict']}. At the stage "
                     f"shapes, where its 1×1 convolutions dominate, it takes "
                     f"{ratio_range('criss_cross')} {name(an.REFERENCE)}'s time.")
    fused, eager = "nonlocal[sdpa]", "nonlocal[eager]"
    pair = along[along["variant"].isin((fused, eager))]
    both = pair.groupby("positions")["variant"].nunique()
    if len(both[both == 2]):
        big = int(both[both == 2].index.max())
        at = pair[pair["positions"] == big].drop_duplicates("variant").set_index("variant")
        counted = " and ".join(
            f"{who} {at.loc[fused, col] / at.loc[fused, 'macs_analytic']:.0%}"
            for who, col in (("FlopCounterMode counts", "macs_torch"), ("fvcore", "macs_fvcore"))
            if col in at and at.loc[fused, col] == at.loc[fused, col])  # NaN: not counted
        lines.append(f"- **Canonical non-local.** Fused (SDPA), its latency grows as "
                     f"{grows(fused)}; eager, as {grows(eager)}. Fused attention removes the "
                     f"N×N memory, not the N² work: at N = {big} its measured peak was "
                     f"{at.loc[fused, 'peak_bytes'] / 2**20:.1f} MiB against eager's "
                     f"{at.loc[eager, 'peak_bytes'] / 2**20:,.0f} MiB, and its latency "
                     f"{ms(at.loc[fused, 'latency'])} against {ms(at.loc[eager, 'latency'])}."
                     + (f" {counted} of the fused block's MACs there: its attention runs in "
                        "one kernel, and what a counter misses of it is declared in "
                        "`macs_*_declared`." if counted else ""))
    return lines


def published(patterns: tuple[str, ...]) -> list[Path]:
    """The results folders named (or matched) by ``patterns``, in that order, that hold runs."""
    found: list[Path] = []
    for pattern in patterns:
        for path in sorted((ROOT / "results").glob(pattern)):
            if (path / "results.jsonl").is_file() and path not in found:
                found.append(path)
    return found


def _device(env: dict[str, Any]) -> str:
    return str(env.get("gpu_name") or env.get("cpu_model") or env.get("device") or "?")


def video_block(runs: list[Path]) -> str:
    """Both orders at the video clip shape of each run, from the video report's pairs.csv:
    latency, peak memory against the model, and the non-local ÷ double attention ratios."""
    import pandas as pd

    from a2bench.case import DTYPE_BYTES
    from a2bench.formatting import format_bytes

    pairs = pd.read_csv(VIDEO_REPORT / "pairs.csv")
    envs = {r.name: json.loads((r / "environment.json").read_text()) for r in runs}
    lines = [f"Measured in {', '.join(f'`{r.relative_to(ROOT)}`' for r in runs)} "
             f"(suites/video.yaml); full report in `{VIDEO_REPORT.relative_to(ROOT)}`. Latency "
             "is the median in ms; peak is the forward pass's memory above its input, "
             "measured (model, measured ÷ model − 1). The two attention matrices are computed "
             "from the shape: the non-local order's N×N and double attention's m×n.", "",
             "| run | device | dtype | t×h×w (N) | c | m, n | N×N / m×n matrix | "
             "double attention: latency, peak (model, error) | non-local order: latency, peak "
             "(model, error) | non-local ÷ double attention: latency, peak (model) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in pairs.iterrows():
        size = DTYPE_BYTES.get(r["dtype"], float("nan")) * r["batch"]
        matrices = (f"{format_bytes(size * r['positions'] ** 2)} / "
                    f"{format_bytes(size * r['m'] * r['n'])}")
        orders = [f"{r[f'latency_{s}'] * 1e3:.3g} ms, {format_bytes(r[f'memory_{s}'])} "
                  f"({format_bytes(r[f'memory_model_{s}'])}, "
                  f"{num(100 * r[f'memory_error_{s}'], 1)} %)" for s in ("left", "right")]
        lines.append(
            f"| {r['run']} | {_device(envs.get(r['run'], {}))} | {r['dtype']} | "
            f"{r['t']:.0f}×{r['h']:.0f}×{r['w']:.0f} ({r['positions']:.0f}) | "
            f"{r['channels']:.0f} | {r['m']:.0f}, {r['n']:.0f} | {matrices} | "
            f"{orders[0]} | {orders[1]} | {num(r['ratio_latency'], 1)}×, "
            f"{num(r['ratio_memory'], 1)}× ({num(r['ratio_memory_model'], 1)}×) |")
    if not any(str(r).startswith("gpu-") for r in pairs["run"]):
        lines += ["", "The paper's own clip, 32×28×28 (N = 25088) at c = 1024, m = n = 512, "
                  "is the CUDA section of suites/video.yaml: `scripts/gpu_run.sh` runs it, and "
                  "no GPU run has been published yet."]
    return "\n".join(lines)


def gpu_kind(env: dict[str, Any]) -> str:
    """The GPU's name as scripts/gpu_run.sh spells it in folder names ("nvidia-h100-80gb-hbm3")."""
    name = str(env.get("gpu_name") or "unknown gpu").lower().replace(" ", "-")
    return "".join(ch for ch in name if ch.isalnum() or ch == "-")


def gpu_groups() -> dict[str, list[Path]]:
    """Published GPU runs by GPU kind, each kind's runs in name order."""
    groups: dict[str, list[Path]] = {}
    for path in published((GPU_ALL,)):
        env = json.loads((path / "environment.json").read_text())
        if env.get("gpu_name"):
            groups.setdefault(gpu_kind(env), []).append(path)
    return groups


def _checks_lines(kind: str) -> list[str]:
    """Per device call that ran them (results/checks-gpu-KIND, or checks-gpu-KIND-1, -2, ...
    for several): the CUDA tests' summary line and the timing check's rows."""
    results = ROOT / "results"
    folders = [f for f in (results / f"checks-gpu-{kind}",
                           *sorted(results.glob(f"checks-gpu-{kind}-*"))) if f.is_dir()]
    lines: list[str] = []
    for folder in folders:
        if len(folders) > 1:
            lines += [f"Checks of `{folder.relative_to(ROOT)}`:", ""]
        lines += _checks_of(folder)
        lines.append("")
    return lines[:-1]


def _checks_of(folder: Path) -> list[str]:
    lines: list[str] = []
    tests = folder / "cuda_tests.txt"
    printed = [t for t in tests.read_text().splitlines() if t.strip()] if tests.is_file() else []
    if printed:
        skips = [t.split(": ", 1)[-1] for t in printed if t.startswith("SKIPPED")]
        # each failure's header in the FAILURES section: "____ test_name[params] ____"
        failed = [t.strip("_ ") for t in printed if t.startswith("_") and t.endswith("_")
                  and t.strip("_ ").startswith("test")]
        lines.append(f"- `pytest -m cuda`: {printed[-1].strip('= ')}"
                     + (f" (failed: {'; '.join(failed)})" if failed else "")
                     + (f" (skipped: {'; '.join(skips)})" if skips else "") + ".")
    check = folder / "timing_check.json"
    if check.is_file():
        c = json.loads(check.read_text())
        lines += ["", f"Timing check (`{check.relative_to(ROOT)}`): a2bench's CUDA median "
                  f"against {c['reference']}, {c['rounds']} alternating rounds of "
                  f"{c['round_s']} s each, tolerance {100 * c['tolerance']:.0f} %:", "",
                  "| case | a2bench ms | reference ms | ratio | judged |", "|---|---|---|---|---|"]
        for r in c["rows"]:
            verdict = ("agrees" if r["agree"] else "disagrees") if r["judged"] else \
                "no: launch-bound"
            lines.append(f"| {r['case']} | {1e3 * r['a2bench_s']:.4g} | "
                         f"{1e3 * r['reference_s']:.4g} | {r['ratio']:.3f} | {verdict} |")
    trace = folder / "peak_trace.txt"
    if trace.is_file():
        lines += ["", f"Peak traces (`{trace.relative_to(ROOT)}`: every allocation live at the "
                  "measured peak, and the operator that made it):", ""]
        lines += [_trace_line(t) for t in _read_traces(trace.read_text())]
    return lines


def _read_traces(text: str) -> list[dict[str, Any]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # beside this script
    try:
        from gpu_peak_trace import read_traces
    finally:
        sys.path.pop(0)
    return read_traces(text)


def _trace_line(t: dict[str, Any]) -> str:
    """One trace's headline: the peak against the model, and where each is reached."""
    if not t.get("model") or "measured" not in t:  # a trace cut short
        return f"- `{t['case']}`: no peak recorded."

    def against(nbytes: int) -> str:
        return f"{nbytes:,} bytes ({100 * (nbytes / t['model'] - 1):+.1f} %)"

    variants = "".join(f"; with {name}, {against(b)}" for name, b in t["variants"].items())
    return (f"- `{t['case']}`: measured {against(t['measured'])} against the model's "
            f"{t['model']:,}, reached in `{t.get('reached', '?')}`; the model's in "
            f"`{t.get('model_at', '?')}`{variants}.")


def gpu_block(groups: dict[str, list[Path]]) -> str:
    """Per GPU kind: where its runs and report are, its checks, and the exponent of every
    attention order along each run's swept axis (the report's primary fits)."""
    import pandas as pd

    if not groups:
        return ("No GPU run is published yet: `scripts/gpu_run.sh` makes one "
                "([gpu.md](gpu.md)).")
    lines: list[str] = []
    for kind, runs in groups.items():
        report = ROOT / "results" / f"report-gpu-{kind}"
        envs = {run: json.loads((run / "environment.json").read_text()) for run in runs}
        env = envs[runs[0]]
        fits = pd.read_csv(report / "fits.csv")
        fits = fits[fits["primary"].astype(bool)]
        lines += [f"**{env.get('gpu_name')}** ({env.get('torch')}, CUDA "
                  f"{env.get('cuda_version')}, cuDNN {env.get('cudnn_version')}): "
                  f"{len(runs)} runs in `results/gpu-{kind}-*`, full report in "
                  f"`{report.relative_to(ROOT)}`.", ""]
        checks = _checks_lines(kind)
        if checks:
            lines += [*checks, ""]
        lines += ["Exponent of each attention order along the run's swept axis [95% interval] "
                  "(the cost model's), per metric: ✓ consistent, ✗ contradicted, "
                  f"? inconclusive (each reason in the report's fits.csv). {RULE}", "",
                  "| run | axis | block | MACs | memory | latency |", "|---|---|---|---|---|---|"]
        for run in runs:
            axis = SUITE_AXES.get(str(envs[run].get("suite", "")), "positions")
            mine = fits[(fits["run"] == run.name) & (fits["axis"] == axis)]
            for block, own in mine.groupby("block", sort=True):
                base, _, variant = str(block).partition("[")  # "nonlocal_right[train]"
                if base not in NAMES:
                    continue
                by = {r["metric"]: {k: None if pd.isna(v) else v for k, v in r.items()}
                      for r in own.to_dict("records")}
                cells = [cell(by[m]) if m in by else "not measured"
                         for m in ("macs", "memory", "latency")]
                label = NAMES[base] + (f" [{variant}" if variant else "")  # variant keeps "]"
                lines.append(f"| {run.name} | {axis} | {label} | {' | '.join(cells)} |")
        lines += ["", *_memory_misses(runs), *_unfinished(runs), ""]
    return "\n".join(lines).rstrip()


def _unfinished(runs: list[Path]) -> list[str]:
    """A line per run whose last session recorded no end (the report says the same): its
    marks read the cases it stored."""
    from a2bench import analysis as an
    from a2bench.analysis import unfinished

    _, loaded = an.load_runs(runs)
    said = unfinished(tuple(loaded))
    return [f"- {run}: {text}" for run, text in said.items()]


def _memory_misses(runs: list[Path]) -> list[str]:
    """Where the memory model misses on this GPU: per run, block (and impl), dtype and mode with
    a case off by more than both tolerances of a2bench.cost.peak_within, the range of measured ÷
    model − 1 over all its cases and the worst such case; a case above its model by no more
    than its declared allowance is listed apart, with the allowance's reason. From the runs'
    results.csv, which keep each case's impl (the report's tables fold it into a variant
    label)."""
    import pandas as pd

    from a2bench.allocator import ALLOWANCE_REASON
    from a2bench.cost import MEMORY_TOLERANCE as MISS
    from a2bench.cost import MEMORY_TOLERANCE_BYTES as MISS_BYTES
    from a2bench.cost import peak_within

    d = pd.concat([pd.read_csv(run / "results.csv").assign(run=run.name) for run in runs])
    d = d[(d["status"] == "ok") & (d["peak_bytes_analytic"] > 0)].copy()
    # A compiled case runs Inductor's fused kernels, not the eager operators the model follows:
    # its peak is compared with eager's in the report's compile table, not here.
    compiled = (d["compile"].fillna(False).astype(bool) if "compile" in d
                else pd.Series(False, index=d.index))
    n_compiled = int(compiled.sum())
    d = d[~compiled].copy()
    d["error"] = d["peak_bytes"] / d["peak_bytes_analytic"] - 1
    allowance = (d["peak_allowance_bytes_analytic"].fillna(0) if "peak_allowance_bytes_analytic"
                 in d else pd.Series(0, index=d.index))
    pairs = list(zip(d["peak_bytes"].astype(int), d["peak_bytes_analytic"].astype(int),
                     allowance.astype(int), strict=True))
    d["off"] = [not peak_within(peak, model) for peak, model, _ in pairs]
    d["allowed"] = [off and peak_within(peak, model, extra)
                    for off, (peak, model, extra) in zip(d["off"], pairs, strict=True)]
    for col, default in (("impl", ""), ("mode", "forward")):
        d[col] = d[col].fillna(default) if col in d else default
    rows, allowed, devices = [], [], set()
    for (run, block, impl, dtype, mode), g in d.groupby(["run", "block", "impl", "dtype", "mode"]):
        off = g[g["off"]]
        for kind, cases in ((rows, off[~off["allowed"]]), (allowed, off[off["allowed"]])):
            if len(cases):
                if kind is allowed:
                    devices |= set(cases["device"])
                worst = cases.loc[cases["error"].abs().idxmax()]
                kind.append(f"| {run} | {block}{f' [{impl}]' if impl else ''} | {dtype} | {mode} | "
                            f"{len(g)} | {100 * g['error'].min():+.1f} … "
                            f"{100 * g['error'].max():+.1f} % | "
                            f"{100 * worst['error']:+.1f} % at N = {worst['positions']:.0f} |")
    within = f"{MISS:.0%} or {MISS_BYTES / 2**20:.0f} MiB"
    head = ["| run | block | dtype | mode | cases | measured ÷ model − 1 | worst |",
            "|---|---|---|---|---|---|---|"]
    lines = ([f"Every measured peak is within {within} of its memory model"
              + (", or above it by no more than its declared allowance (below)." if allowed
                 else ".")] if not rows else
             [f"Where a measured peak is further than both {MISS:.0%} and "
              f"{MISS_BYTES / 2**20:.0f} MiB from its memory model (each "
              "case's peak and model are in the runs' results.csv; every other block, dtype and "
              "mode is within that):", "", *head, *rows])
    if allowed:
        lines += ["", f"Above the model by more than both {MISS:.0%} and {MISS_BYTES / 2**20:.0f} "
                  "MiB, and within the model's declared "
                  f"allowance (`peak_allowance_bytes_analytic`): "
                  + "; ".join(ALLOWANCE_REASON[dev] + (f" ({dev})" if len(devices) > 1 else "")
                              for dev in sorted(devices)) + ".",
                  "", *head, *allowed]
    if n_compiled:
        lines += ["", f"The {n_compiled} compiled cases are left out: their peaks are Inductor's "
                  "fused kernels', set beside eager's in the reports' compile tables."]
    return lines


def _mib(x: Any) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x) / 2**20:.3g} MiB"


def training_block() -> str:
    """Training against inference, compiled against eager and bf16 against fp32, per block,
    from the training report's own tables (modes.csv, compiled.csv, precision.csv, trends.csv)."""
    import pandas as pd

    from a2bench import analysis as an

    env = json.loads((TRAINING_RUN / "environment.json").read_text())
    envs = {TRAINING_RUN.name: env}

    def table(name: str) -> pd.DataFrame:
        path = TRAINING_REPORT / f"{name}.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    modes, comp, prec, trends = (table(n) for n in ("modes", "compiled", "precision", "trends"))
    rp = env.get("reduced_precision") or {}
    lines = [f"Measured in `{TRAINING_RUN.relative_to(ROOT)}` ({env.get('suite_path', '')}, "
             f"{env.get('cpu_model', 'CPU')}, {env.get('threads')} thread, {env.get('torch')}, "
             f"native bf16: {'yes' if rp.get('native_bf16') else 'no'}); full report in "
             f"`{TRAINING_REPORT.relative_to(ROOT)}`. Float32 and eager unless a column says "
             "otherwise; each block at its largest N.", "",
             "| block | N | train ÷ forward latency | train ÷ forward peak (N small → large) "
             "| train − forward peak ∝ N^k [95%] | train peak vs model | compile speed-up "
             "forward / train | train peak compiled ÷ eager | % of GEMM ceiling eager → "
             "compiled (forward) | bf16 ÷ fp32 latency (N) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    fp32 = modes[(modes["dtype"] == "float32") & (modes["compile"].astype(str) == "False")]
    for block in an.block_order(fp32, envs):
        rows = fp32[fp32["block"] == block].sort_values("positions")
        if not len(rows):
            continue
        big = rows.iloc[-1]
        tr = {w: trends[(trends["block"] == big["block_train"])
                        & (trends["dtype"] == "float32") & (trends["what"] == w)]
              for w in ("memory_ratio", "memory_extra")}
        ratio = (f"{num(tr['memory_ratio'].iloc[0]['ratio_from'])} → "
                 f"{num(tr['memory_ratio'].iloc[0]['ratio_to'])} "
                 f"({tr['memory_ratio'].iloc[0]['verdict']})" if len(tr["memory_ratio"])
                 else "n/a")
        extra = tr["memory_extra"]
        extra_cell = (f"{num(extra.iloc[0]['slope'])} [{num(extra.iloc[0]['slope_low'])}, "
                      f"{num(extra.iloc[0]['slope_high'])}]" if len(extra) else "n/a")
        model = f"{num(100 * big['memory_model_error'], 1)} %"
        speed, ceiling, memory = [], "n/a", "n/a"
        for mode in ("forward", "train"):
            c = comp[(comp["block"] == block) & (comp["mode"] == mode)
                     & (comp["dtype"] == "float32")].sort_values("positions") if len(comp) else comp
            speed.append(num(c.iloc[-1]["speedup"]) if len(c) else "n/a")
            if mode == "train" and len(c):
                memory = num(c.iloc[-1]["memory_ratio"])
            if mode == "forward" and len(c):
                last = c.iloc[-1]
                ceiling = (f"{num(100 * last['fraction_of_peak_eager'], 1)} → "
                           f"{num(100 * last['fraction_of_peak_compiled'], 1)}")
        b = prec[(prec["block"] == block) & (prec["mode"] == "forward")].sort_values(
            "positions") if len(prec) else prec
        bf16 = (f"{num(b.iloc[-1]['latency_ratio'])} ({b.iloc[-1]['positions']:.0f})"
                if len(b) else "n/a")
        label = an.block_label(block, envs, short=True)
        lines.append(f"| {label} | {big['positions']:.0f} | {num(big['latency_ratio'])} | "
                     f"{ratio} | {extra_cell} | {model} | {' / '.join(speed)} | {memory} | "
                     f"{ceiling} | {bf16} |")
    lines.append("")
    for block in ("nonlocal_right", "double_attention"):
        rows = fp32[fp32["block"] == block].sort_values("positions")
        extra = trends[(trends["block"] == f"{block}[train]") & (trends["dtype"] == "float32")
                       & (trends["what"] == "memory_extra")]
        if not len(rows) or not len(extra):
            continue
        e = extra.iloc[0]
        lines.append(f"- {an.block_label(block, envs, short=True)}: training adds "
                     f"{_mib(e['ratio_from'])} at N = {e['n_from']:.0f} and {_mib(e['ratio_to'])} "
                     f"at N = {e['n_to']:.0f} to the forward peak, growing as N^"
                     f"{num(e['slope'])}; the train ÷ forward ratio goes "
                     f"{num(rows.iloc[0]['memory_ratio'])} → {num(rows.iloc[-1]['memory_ratio'])}.")
    lines.append(_bf16_line(rp, prec, table("findings"), table("cases")))
    return "\n".join(lines)


def _bf16_line(rp: dict[str, Any], prec: Any, findings: Any, cases: Any) -> str:
    """What the bf16 column can say on the run's CPU: native instructions or emulation (from the
    run's own CPU flags), its memory against float32's and against the model (eager cases), and
    whether its GEMM ceiling held (the report's finding)."""
    from a2bench.cost import MEMORY_TOLERANCE as MISS

    flags = ", ".join(rp.get("flags") or [])
    fwd = prec[prec["mode"] == "forward"] if len(prec) else prec
    if rp.get("native_bf16"):
        what = (f"- **bf16 on this CPU** runs on native instructions ({flags}; torch dispatches "
                f"{rp.get('cpu_capability', '?')}), so the bf16 ÷ fp32 column is what bf16 "
                "buys or costs here")
    else:
        what = (f"- **bf16 on this CPU** is emulated (no AVX-512 BF16 or AMX; torch dispatches "
                f"{rp.get('cpu_capability', '?')}), so its latencies say how slow emulation is, "
                "not what bf16 buys")
    if len(fwd):
        what += (f"; its forward peak is {num(fwd['memory_ratio'].min())}–"
                 f"{num(fwd['memory_ratio'].max())}× float32's")
    eager = (cases[(cases["dtype"] == "bfloat16") & (cases["compile"].astype(str) == "False")]
             if len(cases) else cases)
    if len(eager):
        over = eager["peak_bytes"] - eager["peak_bytes_analytic"]
        miss = eager[over > MISS * eager["peak_bytes_analytic"]]
        if len(miss):
            worst = (miss["peak_bytes"] / miss["peak_bytes_analytic"] - 1).max()
            what += (f"; {len(miss)} of its {len(eager)} eager cases peak more than {MISS:.0%} "
                     f"above their memory model (up to +{100 * worst:.0f} %, "
                     f"{_mib(over.max())} at most)")
        else:
            what += f"; every eager case is within {MISS:.0%} of its memory model"
    failed = (findings[(findings["kind"] == "calibration_failed")
                       & (findings["dtype"] == "bfloat16")] if len(findings) else findings)
    if len(failed):
        what += (f". A bf16 case ran at {num(failed['value'].max())}× the run's bf16 GEMM "
                 "ceiling (torch.mm in bf16), so that ceiling fails its own check and no bf16 "
                 "fraction of the ceiling is reported")
    return what + "."


def resnet_block() -> str:
    """Every attention variant of ResNet-50 against the plain network, from context.csv."""
    import pandas as pd

    env = json.loads((RESNET_RUN / "environment.json").read_text())
    t = pd.read_csv(RESNET_REPORT / "context.csv")
    lines = [f"Measured in `{RESNET_RUN.relative_to(ROOT)}` ({env.get('suite_path', '')}, "
             f"{env.get('cpu_model', 'CPU')}, {env.get('threads')} thread, {env.get('torch')}); "
             f"full report in `{RESNET_REPORT.relative_to(ROOT)}`. Overheads over plain "
             "ResNet-50 at the same batch and mode, measured (model in brackets).", "",
             "| attention | mode | batch | GMACs (published) | parameters | latency ms "
             "| latency overhead | memory overhead | MACs overhead (model) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in t.sort_values(["mode", "batch", "macs_analytic"]).iterrows():
        pub = (f" ({r['published_gmacs']:.2f}, {r['published_source'].split(':')[0]})"
               if pd.notna(r["published_gmacs"]) else "")
        lines.append(
            f"| {r['attention']} | {r['mode']} | {r['batch']:.0f} | {r['gmacs']:.3f}{pub} | "
            f"{r['parameters']:,.0f} | {r['latency'] * 1e3:.1f} | "
            f"{r['latency_overhead_pct']:+.1f} % | {r['memory_overhead_pct']:+.1f} % "
            f"({r['memory_overhead_pct_model']:+.1f} %) | {r['macs_overhead_pct_model']:+.2f} % |")
    lines.append("")
    for batch in sorted(t["batch"].unique()):
        sel = t[(t["mode"] == "forward") & (t["batch"] == batch) & (t["attention"] != "none")]
        if len(sel):
            lo = sel.loc[sel["latency_overhead_pct"].idxmin()]
            hi = sel.loc[sel["latency_overhead_pct"].idxmax()]
            lines.append(f"- At 224², batch {batch:.0f}, forward: the cheapest global-context "
                         f"option is {lo['attention']} ({lo['latency_overhead_pct']:+.1f} % "
                         f"latency, {lo['macs_overhead_pct_model']:+.2f} % MACs), the most "
                         f"expensive {hi['attention']} ({hi['latency_overhead_pct']:+.1f} % "
                         f"latency, {hi['macs_overhead_pct_model']:+.2f} % MACs).")
    return "\n".join(lines)


def audit_block() -> str:
    """The audit's totals at c = 64, 48×48 for every block (ResNet-50 on 3-channel images, as
    the audit runs it), and per counter what it gets wrong."""
    import pandas as pd

    rows = pd.read_csv(AUDIT / "audit.csv", dtype={"macs": "Int64"})
    rows["missed"] = rows["missed"].fillna("")
    images = rows["block"].str.startswith("resnet50")  # a network: its input is an image
    shape = rows[rows["case"].str.contains(" c64 ").where(~images, rows["case"].str.contains(
        " c3 ")) & rows["case"].str.endswith(" 48x48")]
    labels = {"torch": "FlopCounterMode", "fvcore": "fvcore", "ptflops": "ptflops",
              "thop": "thop"}
    lines = [f"From `{AUDIT.relative_to(ROOT)}` (`a2bench audit`; every registered block at three "
             "shapes, the full tables and each difference's explanation in audit.md). MACs at "
             "c = 64, 48×48, batch 1, each block's defaults (ResNet-50 on a 48×48 image, "
             "c = 3):", "",
             "| block | model | " + " | ".join(labels.values()) + " |",
             "|---|---|" + "---|" * len(labels)]
    for block, g in shape.groupby("block", sort=False):
        by = dict(zip(g["counter"], g["macs"], strict=True))
        model = int(g["model_macs"].iloc[0])
        cells = []
        for c in labels:
            v = by.get(c)
            if v is None or pd.isna(v):
                cells.append("n/a")
            else:
                # as the audit writes it: 295,444 against 295,424 had read "(1×)"
                cells.append(f"{int(v):,}" if int(v) == model
                             else f"{int(v):,} ({ratio_text(v / model)}×)")
        lines.append(f"| {block} | {model:,} | " + " | ".join(cells) + " |")
    lines.append("")
    for counter, label in labels.items():
        g = rows[rows["counter"] == counter]
        if g["macs"].isna().all():
            lines.append(f"- {label}: not run ({g['reason'].iloc[0]}).")
            continue
        exact = sorted(set(g.loc[g["verdict"] == "exact", "block"]))
        attention = sorted(set(g.loc[g["missed"].str.contains("bmm|sdpa"), "block"]))
        off = sorted(set(g.loc[g["verdict"] != "exact", "block"]) - set(attention))
        parts = []
        if exact:
            parts.append(f"exact on {', '.join(exact)} (at one shape or more)")
        if attention:
            ops = sorted({m.split("=")[0] for m in g["missed"] if m for m in m.split()})
            parts.append(f"misses the attention products ({', '.join(ops)}) of "
                         f"{', '.join(attention)}")
        if off:
            parts.append(f"off the model on {', '.join(off)}")
        lines.append(f"- {label}: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def replace_between(text: str, begin: str, end: str, block: str) -> str | None:
    if begin not in text or end not in text:
        return None
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}\n{end}{tail}"


def headline_gpu_line(folders: list[Path]) -> str:
    """The GPU runs that join the headline (the folders GPU_RUNS publishes), by name."""
    gpu = [f"`results/{f.name}`" for f in folders]
    if not gpu:
        return "No GPU run is published yet in the headline (`results/gpu-*-positions`)."
    listed = gpu[0] if len(gpu) == 1 else ", ".join(gpu[:-1]) + " and " + gpu[-1]
    return (f"The headline also holds the GPU run{'s' if len(gpu) > 1 else ''} along positions "
            f"(train mode where the folder says so): {listed} "
            "([Published GPU runs](#published-gpu-runs)).")


def not_published(*folders: str) -> str:
    """The line a section holds while none of its runs is stored, in place of its table."""
    return f"No run is published yet in {' or '.join(f'`results/{f}`' for f in folders)}."


def render_results(sections: dict[str, str]) -> str:
    """docs/results.md: the template with each generated block in its place.

    Markdown, so nothing is escaped; a block the template names but `sections` lacks is an
    error rather than a silently empty section."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)
    return env.get_template(TEMPLATE.name).render(**sections)


def write_report(runs: list[Path], out: Path) -> None:
    """a2bench's report of `runs`, named from the repository's root: summary.json keeps each
    run's path as given, and the published ones had held this machine's /work/main/..."""
    from a2bench.report import write_report as write

    os.chdir(ROOT)
    write([p.relative_to(ROOT) for p in runs], out)


def main() -> int:
    folders = published((*RUNS, *GPU_RUNS))
    write_report(folders, REPORT)
    summary = json.loads((REPORT / "summary.json").read_text())
    headline = headline_block(summary)
    readme = replace_between(README.read_text(), BEGIN, END, headline)
    if readme is None:
        print(f"publish: {README}: no {BEGIN} … {END} markers; expected them around the "
              "headline", file=sys.stderr)
        return 2
    sections = {"headline": headline, "headline_gpu": headline_gpu_line(published(GPU_RUNS)),
                "trials": trials_block() or not_published(f"{TRIALS.name}/run-*")}
    # Each section with a run (and report) of its own; the order is the order they are written.
    for key, run, report, make in (("blocks", BLOCKS_RUN, BLOCKS_REPORT, blocks_block),
                                   ("training", TRAINING_RUN, TRAINING_REPORT, training_block),
                                   ("resnet50", RESNET_RUN, RESNET_REPORT, resnet_block)):
        if (run / "results.jsonl").is_file():
            write_report([run], report)
            sections[key] = make()
        else:
            sections[key] = not_published(run.name)
    video = published(VIDEO_RUNS)
    if video:
        write_report(video, VIDEO_REPORT)
        sections["video"] = video_block(video)
    else:
        sections["video"] = not_published(*VIDEO_RUNS)
    for name, runs in SLURM_REPORTS.items():
        found = [ROOT / "results" / r for r in runs if (ROOT / "results" / r).is_dir()]
        if found:
            write_report(found, ROOT / "results" / name)
    groups = gpu_groups()
    for kind, runs in groups.items():
        write_report(runs, ROOT / "results" / f"report-gpu-{kind}")
    sections["gpu"] = gpu_block(groups)
    sections["audit"] = (audit_block() if (AUDIT / "audit.csv").is_file()
                         else not_published(AUDIT.name))
    page = render_results(sections)
    README.write_text(readme)
    RESULTS_PAGE.write_text(page)
    gpu_reports = "".join(f", results/report-gpu-{k}" for k in groups)
    print(f"publish: {REPORT}, {BLOCKS_REPORT}, {TRAINING_REPORT}, {RESNET_REPORT}, "
          f"{VIDEO_REPORT}{gpu_reports}, the README's headline and {RESULTS_PAGE} rewritten "
          "from the runs and the audit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
