"""The headline: does every metric along positions N confirm the study's claim, O(m·n·N) for
double attention against O((m+n)·N²) for the non-local order, and does every other block in the
run follow its own model? One verdict per run and one overall, from the primary fits, each
naming what contradicts it or what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from a2bench.analysis.columns import METRICS, STUDY, block_label, clean, fixed_columns
from a2bench.analysis.hints import run_hints
from a2bench.formatting import size

HEADLINE_STATUSES = ("confirmed", "contradicted", "inconclusive", "not swept")


def headline(fits: pd.DataFrame, runs: Sequence[str],
             environments: Mapping[str, Mapping[str, Any]] | None = None,
             data: pd.DataFrame | None = None) -> dict[str, Any]:
    """Per run, every block along positions N against its own model (or its counted MACs); the
    verdict is the A² question where both orders ran, else the blocks' own.

    A² question: ``confirmed`` only when all six fits (two orders × three metrics) are
    consistent; ``contradicted`` when any is; otherwise ``inconclusive``, naming what is missing.
    Without both orders, the same rule over the blocks that ran (a metric a block has no model
    for, such as memory without a cost model, is left out). A run with nothing along positions
    is ``not swept`` and says nothing either way.

    Each run's ``hints`` name what its own settings could change (hints.run_hints, from its
    environment.json in `environments`).

    With the run's records (`data`), a block judged above is also missing where none of its
    cases ended ok (it has no fit, so the fits alone never named it: a run whose one block
    failed at every size read CONFIRMED on the others), or where its cost model disagreed with
    both counters (model_mismatch: the model's verdicts are then moot).
    """
    per_run: dict[str, dict[str, Any]] = {}
    for run in runs:
        f = fits[(fits["run"] == run) & fits["primary"] & (fits["axis"] == "positions")] \
            if len(fits) else fits
        present = list(dict.fromkeys(f["block"])) if len(f) else []
        rows = data[data["run"] == run] if data is not None and len(data) else None
        ran = list(dict.fromkeys(rows["block"])) if rows is not None else present
        study = STUDY.left in ran and STUDY.right in ran
        order = [STUDY.left, STUDY.right] if study else []
        order += [b for b in present if b not in order]
        table, gaps, against, latency = [], [], [], []
        verdict_blocks = [b for b in ran if not study or b in (STUDY.left, STUDY.right)]
        # a block whose sweep along N left too few sizes ok to fit is missing, not unswept
        failed = _failed_sweeps(rows, verdict_blocks, environments) if rows is not None else {}
        for block in order:
            judged = study is False or block in (STUDY.left, STUDY.right)
            # said by the block's name (the report's "double attention", not "double_attention")
            name = block_label(block, environments, short=True)
            for metric in METRICS:
                said = f"{name} {'MACs' if metric == 'macs' else metric}"
                row = f[(f["block"] == block) & (f["metric"] == metric)]
                if not len(row):  # a failed sweep's line says why (not "not measured")
                    if judged and block in (STUDY.left, STUDY.right) and block not in failed:
                        gaps.append(f"{said}: not measured along positions")
                    continue
                r = row.iloc[0]
                table.append({"block": block, "metric": metric,
                              **{k: clean(r[k]) for k in ("exponent", "ci_low", "ci_high",
                                                          "expected", "verdict", "reason",
                                                          "points", "delta_bic", "group")},
                              # the interval the verdict reads (the table shows it beside the
                              # 95 % one: a reason's "90% interval" had stood unexplained)
                              **{k: clean(r.get(k)) for k in ("ci90_low", "ci90_high")},
                              "expected_from": clean(r["expected_from"])})
                if not judged or not r["verdict"]:  # another block, or no model to judge
                    continue
                if metric == "latency":
                    latency.append(table[-1])
                if r["verdict"] == "contradicted":
                    against.append(f"{said}: {r['reason']}")
                elif r["verdict"] != "consistent":
                    gaps.append(f"{said}: {r['reason']}")
        if rows is not None:
            gaps += _record_gaps(rows, verdict_blocks, environments)
        gaps += failed.values()
        if not table and not failed:
            status, gaps = "not swept", []  # nothing along positions: nothing is missing
        elif against:
            status = "contradicted"
        elif gaps:
            status = "inconclusive"
        else:
            status = "confirmed"
        device = str(f["device"].iloc[0]) if len(f) and "device" in f else ""
        per_run[run] = {"verdict": status, "fits": table, "contradicting": against,
                        "missing": gaps, "question": "a2" if study else "blocks",
                        "unmeasured": (_unmeasured(rows, [b for b in verdict_blocks
                                                          if b not in failed], environments)
                                       if rows is not None and table else []),
                        "hints": run_hints(latency, gaps, (environments or {}).get(run) or {},
                                           device)}
    swept = [v["verdict"] for v in per_run.values() if v["verdict"] != "not swept"]
    if not swept:
        overall = "not swept"
    elif "contradicted" in swept:
        overall = "contradicted"
    elif all(v == "confirmed" for v in swept):
        overall = "confirmed"
    else:
        overall = "inconclusive"
    # how many runs gave each verdict: the overall one is strict (one inconclusive run makes
    # it inconclusive), and the tally says how far from it the runs are
    counts = {s: swept.count(s) for s in HEADLINE_STATUSES[:3]}
    return {"verdict": overall, "runs": per_run, "counts": counts}


def _failed_sweeps(rows: pd.DataFrame, judged: Sequence[str],
                   environments: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> dict[str, str]:
    """Block -> a line, for each judged block some of whose cases ended ok and whose cases
    swept positions N (two values or more, the other sizes fixed) where fewer than two of those
    values ended ok, so nothing along N was fitted (a block with no case ok: _record_gaps).
    A run whose every case past the smallest timed out had read NOT SWEPT, left out of the
    headline as a run that never asked; a block of several that did so, left out of its
    run's verdict (CONFIRMED on the others)."""
    if "positions" not in rows or not len(rows):
        return {}
    keys = ["device", "dtype", *fixed_columns(rows, "positions")]
    out = {}
    for block in judged:
        own = rows[(rows["block"] == block) & rows["positions"].notna()]
        if not (own["status"] == "ok").any():
            continue
        groups = [g for _, g in own.groupby([k for k in keys if k in own], dropna=False)
                  if g["positions"].nunique() >= 2]
        if not groups or any(g.loc[g["status"] == "ok", "positions"].nunique() >= 2
                             for g in groups):
            continue  # never swept along N, or fitted along it
        group = max(groups, key=lambda g: g["positions"].nunique())
        ok = group.loc[group["status"] == "ok", "positions"].nunique()
        bad = group[group["status"] != "ok"]["status"].value_counts()
        out[block] = (f"{block_label(block, environments, short=True)}: swept over "
                      f"{group['positions'].nunique()} values of N, {ok} of them ended ok ("
                      + ", ".join(f"{n} {s}" for s, n in bad.items()) + "): too few to fit")
    return out


def _record_gaps(rows: pd.DataFrame, judged: Sequence[str],
                 environments: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """What a run's records leave missing for the blocks judged: a block none of whose cases
    ended ok, and a cost model that disagreed with both counters (headline's docstring)."""
    gaps = []
    for block in judged:
        own = rows[rows["block"] == block]
        name = block_label(block, environments, short=True)
        if not (own["status"] == "ok").any():
            counts = own["status"].value_counts()
            gaps.append(f"{name}: no case ended ok ("
                        + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")")
        elif flagged := int(_mismatched(own).sum()):
            gaps.append(f"{name} MACs: its cost model disagrees with both counters in "
                        f"{flagged} case(s) (model_mismatch), so its model's verdicts are moot")
    return gaps


def _unmeasured(rows: pd.DataFrame, judged: Sequence[str],
                environments: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """The cases of a judged block that did not end ok, where some did: its fits read the
    others, so a verdict stands on a shorter range than the suite asked for (three OOM sizes
    of the non-local order's largest had left the headline CONFIRMED without a word)."""
    out = []
    for block in judged:
        own = rows[rows["block"] == block]
        bad = own[own["status"] != "ok"]
        if bad.empty or bad.shape[0] == own.shape[0]:  # none, or all: _record_gaps says so
            continue
        n = sorted(set(bad["positions"].dropna()))
        at = (f" at N = {size(n[0])}" if len(n) == 1 else
              f" at N = {size(n[0])}–{size(n[-1])}" if n else "")
        out.append(f"{block_label(block, environments, short=True)}: {len(bad)} of {len(own)} "
                   "cases not measured ("
                   + ", ".join(f"{k} {s}" for s, k in bad["status"].value_counts().items())
                   + f"{at}); its fits read the others")
    return out


def _mismatched(rows: pd.DataFrame) -> pd.Series:
    """Which rows' cost model disagreed with both counters (results.csv's model_mismatch, true
    as read back from JSON or CSV); none where the column is absent (older results)."""
    if "model_mismatch" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["model_mismatch"].astype(str).str.lower() == "true"


def model_mismatches(data: pd.DataFrame) -> list[str]:
    """One line per (run, block) whose cost model disagreed with both counters (results.csv's
    model_mismatch), for the headline: a wrong model makes its MACs and memory verdicts moot."""
    if "model_mismatch" not in data or not len(data):
        return []
    flagged = data[_mismatched(data)]
    out = []
    for (run, block), rows in flagged.groupby(["run", "block"], sort=False):
        r = rows.iloc[0]
        out.append(f"{run}: {block}'s cost model disagrees with both counters in {len(rows)} "
                   f"case(s), e.g. {int(r['macs_analytic'])} MACs against "
                   f"{int(r['macs_torch'])} counted (model_mismatch in results.csv)")
    return out
