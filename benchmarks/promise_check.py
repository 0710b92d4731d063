"""How an auto run's plan kept its promise: each block's predicted ΔBIC and 95 % half-width
(environment.json's auto_sizes, run/promise.py) against what its latency fit measured.

    .venv/bin/python benchmarks/promise_check.py RESULTS_DIR [RESULTS_DIR ...]

Prints one Markdown row per block variant, then the measured-over-promised ΔBIC ratios per
block, as docs/running.md quotes them (results/cpu-auto-heldout/*), then how far the half-width
promise is off: the measured half-width over what promise.half_width gives the window's sizes
and their timed calls, and the per-call noise and size scatter that fit the measured widths
best (least squares in log). The measured width is the first round's (3 passes) where a
narrowing round ran, else the run's. Reads stored results only.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from a2bench.errors import InputError
from a2bench.folders import refuse_unreadable


def rows(folder: Path) -> list[dict[str, object]]:
    from a2bench import analysis as an

    data, runs = an.load_runs([folder])
    envs = {r.label: r.environment for r in runs}
    fits = an.fit_exponents(data, envs)
    fits = fits[(fits["metric"] == "latency") & (fits["axis"] == "positions")
                & (fits["segment"] == 0)]
    plan = json.loads((folder / "environment.json").read_text()).get("auto_sizes") or {}
    first = (plan.get("rounds") or [{}])[0].get("half_widths") or {}
    out = []
    for g in plan.get("groups") or []:
        fit = fits[fits["block"].str.partition("[")[0] == g["block"]]
        if fit.empty or g.get("predicted_delta_bic") is None:
            continue
        f = fit.iloc[0]
        label = str(f["block"])
        sizes = [int(c["positions"]) for c in g["sizes"]]
        rows_of = data[(data["block"] == g["block"]) & data["positions"].isin(sizes)]
        calls = rows_of.groupby("positions")["timed_runs"].sum()
        passes = rows_of.groupby("positions")["processes"].max()
        # the first round's calls: 3 passes of however many ran
        share = np.minimum(1.0, 3 / passes) if label in first else 1.0
        out.append({"run": folder.name, "block": g["block"],
                    "positions": sizes,
                    "calls": [float(c) for c in (calls * share).reindex(sizes).fillna(3)],
                    "window_hw": first.get(label),
                    "promised_bic": g["predicted_delta_bic"], "bic": float(f["delta_bic"]),
                    "promised_hw": g["predicted_half_width"],
                    "hw": (float(f["ci_high"]) - float(f["ci_low"])) / 2,
                    "verdict": f["verdict"]})
    return out


def promised(r: dict[str, object], call_noise: float, scatter: float) -> float:
    from a2bench.run import promise

    return promise.half_width(r["positions"], r["calls"], call_noise, scatter)  # type: ignore


def measured(r: dict[str, object]) -> float:
    """The width the plan promised for: its first round's, where a round ran."""
    return float(r["window_hw"] if r["window_hw"] is not None else r["hw"])


def half_width_fit(found: list[dict[str, object]]) -> None:
    """How far promise.half_width is off the measured widths, with its constants and fitted."""
    from scipy import optimize

    from a2bench.run import promise

    found = [r for r in found if math.isfinite(measured(r)) and measured(r) > 0]

    def logs(v: np.ndarray) -> np.ndarray:
        return np.array([math.log(measured(r) / promised(r, *np.exp(v))) for r in found])

    def said(name: str, v: np.ndarray) -> str:
        e = logs(v)
        lo, hi = np.exp(np.quantile(e, [0.1, 0.9]))
        return (f"{name}: call noise {math.exp(v[0]):.3f}, size scatter {math.exp(v[1]):.4f}: "
                f"measured/promised median {math.exp(np.median(e)):.2f}, 10-90 % "
                f"{lo:.2f}-{hi:.2f}, rms of the log ratio {np.sqrt(np.mean(e**2)):.2f}, "
                f"{np.mean(e > 0):.0%} wider than promised")

    now = np.log([promise.CALL_NOISE, promise.HALF_WIDTH_SCATTER])
    best = optimize.least_squares(logs, now).x
    stored = np.array([math.log(measured(r) / float(r["promised_hw"])) for r in found])
    print(f"half-width over {len(found)} windows: measured/promised as each plan stored it, "
          f"median {math.exp(np.median(stored)):.2f}, rms of the log ratio "
          f"{np.sqrt(np.mean(stored**2)):.2f}")
    print(said("promise.half_width", now))
    print(said("best fit", best))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    folders = ap.parse_args().folders
    try:  # a README a glob picked up, or a folder no run wrote: one line, before the table
        # (a path that is no folder before scipy and pandas load: they had cost it 3 s of CPU)
        refuse_unreadable(folders)
        found = [r for d in folders for r in rows(d)]
    except (InputError, OSError, ValueError) as e:
        ap.error(str(e))
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
    half_width_fit(found)


if __name__ == "__main__":
    main()
