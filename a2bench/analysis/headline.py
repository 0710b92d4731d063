"""The headline: does every metric along positions N confirm the study's claim, O(m·n·N) for
double attention against O((m+n)·N²) for the non-local order? One verdict per run and one
overall, from the primary fits, each naming what contradicts it or what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from a2bench.analysis.columns import METRICS, STUDY, clean

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

