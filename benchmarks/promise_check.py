"""How an auto run's plan kept its promise: each block's predicted ΔBIC and 95 % half-width
(environment.json's auto_sizes, run/promise.py) against what its latency fit measured.

    .venv/bin/python benchmarks/promise_check.py RESULTS_DIR [RESULTS_DIR ...]

Prints one Markdown row per block variant, then the measured-over-promised ΔBIC ratios per
block, as docs/running.md quotes them (results/cpu-auto-heldout/*). Reads stored results only.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

from a2bench import analysis as an


def rows(folder: Path) -> list[dict[str, object]]:
    data, runs = an.load_runs([folder])
    envs = {r.label: r.environment for r in runs}
    fits = an.fit_exponents(data, envs)
    fits = fits[(fits["metric"] == "latency") & (fits["axis"] == "positions")
                & (fits["segment"] == 0)]
    plan = json.loads((folder / "environment.json").read_text()).get("auto_sizes") or {}
    out = []
    for g in plan.get("groups") or []:
        fit = fits[fits["block"].str.partition("[")[0] == g["block"]]
        if fit.empty or g.get("predicted_delta_bic") is None:
            continue
        f = fit.iloc[0]
        out.append({"run": folder.name, "block": g["block"],
                    "promised_bic": g["predicted_delta_bic"], "bic": float(f["delta_bic"]),
                    "promised_hw": g["predicted_half_width"],
                    "hw": (float(f["ci_high"]) - float(f["ci_low"])) / 2,
                    "verdict": f["verdict"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    found = [r for d in ap.parse_args().folders for r in rows(d)]
    print("| run | block | promised ΔBIC | measured | promised ± | measured ± | verdict |")
    print("|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = defaultdict(list)
    for r in found:
        print(f"| {r['run']} | {r['block']} | {r['promised_bic']:.1f} | {r['bic']:.1f} | "
              f"{r['promised_hw']:.3f} | {r['hw']:.3f} | {r['verdict']} |")
        if math.isfinite(r["bic"]) and r["promised_bic"] > 0:
            ratios[str(r["block"])].append(r["bic"] / r["promised_bic"])
    for block, rs in sorted(ratios.items()):
        print(f"{block}: measured/promised ΔBIC {min(rs):.2f}-{max(rs):.2f} over {len(rs)}")


if __name__ == "__main__":
    main()
