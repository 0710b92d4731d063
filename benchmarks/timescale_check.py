"""Does a run's low quantile read every size at one timescale? Per block, each size's 10 %
quantile over its median (pooled samples), from stored runs.

    .venv/bin/python benchmarks/timescale_check.py RESULTS_DIR [RESULTS_DIR ...]

The fit read a size's latency as this quantile until commit 844ed25 (docs/running.md quotes
this script's slopes from then); it now reads each pass's expected fastest of 3 (fitting.
summary_of), a low order statistic as well. Timed in chunks
shorter than its window's slowest call, a small size's quantile can catch a moment of speed
that a long call only averages over (measure/chunks.py): its quantile then sits further below
its median than a large size's does. Prints, per run and block, that ratio's range over the
sizes and the slope of ln(quantile/median) against ln(median time): near 0 when the sizes are
read alike, positive when the small sizes read fast. Reads stored results only.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

QUANTILE = 0.10  # the low quantile read (fitting.SAMPLE_QUANTILE until commit 844ed25)


def ratios(folder: Path) -> dict[str, list[tuple[float, float]]]:
    """(median seconds, quantile/median) per size, by block variant, forward cases only."""
    pooled: dict[tuple[str, str], list[float]] = defaultdict(list)
    for line in (folder / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        case = r.get("case") or {}
        if r.get("status") != "ok" or case.get("mode") != "forward" or not r.get("samples_s"):
            continue
        block = f"{case['block']} {json.dumps(case.get('params'), sort_keys=True)}"
        pooled[(block, f"{case['t']}x{case['h']}x{case['w']}")] += r["samples_s"]
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (block, _), s in pooled.items():
        a = np.asarray(s, float)
        med = float(np.median(a))
        out[block].append((med, float(np.quantile(a, QUANTILE)) / med))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    folders = ap.parse_args().folders  # --help and bad arguments print before the table
    for folder in folders:  # one line, before the table, where a traceback had come after it
        if not (folder / "results.jsonl").is_file() or not (folder / "environment.json").is_file():
            ap.error(f"{folder}: not a results folder (expected results.jsonl and "
                     "environment.json, as a2bench run writes them)")
    print("| run | matched chunks | block | sizes | quantile/median | slope against ln t |")
    print("|---|---|---|---|---|---|")
    for folder in folders:
        env = json.loads((folder / "environment.json").read_text())
        matched = "yes" if env.get("interleave_chunks_matched") else "no"
        for block, rows in sorted(ratios(folder).items()):
            if len(rows) < 3:
                continue
            t, r = np.log([x for x, _ in rows]), np.log([y for _, y in rows])
            slope = float(np.polyfit(t, r, 1)[0])
            lo, hi = float(np.exp(r.min())), float(np.exp(r.max()))
            print(f"| {folder.name} | {matched} | {block.split()[0]} | {len(rows)} | "
                  f"{lo:.3f}-{hi:.3f} | {slope:+.4f} |")


if __name__ == "__main__":
    main()
