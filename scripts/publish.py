"""Regenerate the published report and the README's headline from the runs in results/.

    .venv/bin/python scripts/publish.py          # or: make publish

Nothing is measured: the report is `a2bench report` over the published folders, and the README
block between the headline markers is rewritten from that report's summary.json, so every figure
in it comes from the stored runs. Run it after re-running any published suite.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("cpu-default", "cpu-positions", "cpu-resnet-stages")
TRIALS = ROOT / "results" / "cpu-default-trials"  # repeated `make run`s, each a fresh clone
REPORT = ROOT / "results" / "report"
README = ROOT / "README.md"
BEGIN, END = "<!-- headline:begin -->", "<!-- headline:end -->"
NAMES = {"double_attention": "double attention", "nonlocal_right": "non-local order"}
WORDS = {"confirmed": "CONFIRMED", "contradicted": "CONTRADICTED",
         "inconclusive": "INCONCLUSIVE", "not swept": "NOT SWEPT"}


def num(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"


def cell(fit: dict[str, Any]) -> str:
    if fit.get("exponent") is None:
        return f"{fit['verdict']}"
    mark = {"consistent": "✓", "contradicted": "✗"}.get(fit["verdict"], "?")
    return (f"{num(fit['exponent'])} [{num(fit['ci_low'])}, {num(fit['ci_high'])}] "
            f"({num(fit['expected'])}) {mark}")


def headline_block(summary: dict[str, Any]) -> str:
    h = summary["headline"]
    lines = [f"**Headline: {WORDS[h['verdict']]}.** Exponent along positions N [95% interval] "
             "(the cost model's), per metric: ✓ consistent, ✗ contradicted, ? inconclusive. "
             "CONFIRMED needs MACs, peak memory and latency consistent for both orders in a run.",
             "", "| run | block | MACs | memory | latency | latency ΔBIC |",
             "|---|---|---|---|---|---|"]
    for run, r in h["runs"].items():
        if r["verdict"] == "not swept":
            continue
        by = {(f["block"], f["metric"]): f for f in r["fits"]}
        for block in ("double_attention", "nonlocal_right"):
            cells = [cell(by[(block, m)]) if (block, m) in by else "not measured"
                     for m in ("macs", "memory", "latency")]
            dbic = by.get((block, "latency"), {}).get("delta_bic")
            lines.append(f"| {run} | {NAMES[block]} | {' | '.join(cells)} | {num(dbic, 1)} |")
    lines.append("")
    for run, r in h["runs"].items():
        if r["verdict"] == "not swept":
            continue
        lines.append(f"- {run}: **{WORDS[r['verdict']]}**"
                     + ("." if not (r["missing"] or r["contradicting"]) else
                        ": " + "; ".join(r["contradicting"] + r["missing"]) + "."))
    for c in summary.get("crossovers", []):
        if c.get("n_star_latency") is None:
            continue
        lines.append(f"- {c['run']}: at c = {c['channels']:.0f}, m = {c['m']:.0f}, "
                     f"n = {c['n']:.0f}, the non-local order takes more time than double "
                     f"attention from N ≈ {c['n_star_latency']:.0f} (measured) against "
                     f"N* = 2mn/(m+n) = {c['n_star_predicted']:.0f} (predicted).")
    return "\n".join(lines)


def trials_block() -> str:
    """One line per repeated `make run`: its latency verdicts and 95% half-widths."""
    from a2bench import analysis as an

    dirs = sorted(p for p in TRIALS.glob("*") if (p / "results.jsonl").is_file())
    if not dirs:
        return ""
    data, runs = an.load_runs(dirs)
    h = an.analyse(data, runs).headline
    lines = [f"Repeated `make run` on this machine ({TRIALS.relative_to(ROOT)}, each from a fresh "
             "clone), latency along N, exponent [95% interval], half-width, ΔBIC:", ""]
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


def main() -> int:
    from a2bench.report import write_report

    folders = [ROOT / "results" / r for r in RUNS if (ROOT / "results" / r).is_dir()]
    write_report(folders, REPORT)
    summary = json.loads((REPORT / "summary.json").read_text())
    text = README.read_text()
    if BEGIN not in text or END not in text:
        print(f"publish: {README}: no {BEGIN} … {END} markers; expected them around the "
              "headline", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    trials = trials_block()
    block = headline_block(summary) + (f"\n\n{trials}" if trials else "")
    README.write_text(f"{head}{BEGIN}\n{block}\n{END}{tail}")
    print(f"publish: {REPORT} and the README headline rewritten from {len(folders)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
