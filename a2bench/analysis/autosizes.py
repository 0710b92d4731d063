"""Auto sizes as data: what the plan of each run chose, and why (environment.json auto_sizes).

The report shows these rows; a latency fit whose run could not afford one regime for its block
is inconclusive with the plan's own figure for the budget it needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

AUTO_COLUMNS = ("run", "block", "case", "regime", "positions", "predicted_ms", "overhead_share",
                "overhead_ms", "rate_gflops", "rate_measured", "note")


def auto_sizes(runs: Sequence[Any]) -> pd.DataFrame:
    """One row per chosen size of every run that chose its sizes."""
    rows = []
    for run in runs:
        record = (run.environment or {}).get("auto_sizes") or {}
        for g in record.get("groups") or []:
            for s in g.get("sizes") or [{}]:
                rows.append({
                    "run": run.label, "block": g.get("block"), "case": g.get("case"),
                    "regime": g.get("regime"), "positions": s.get("positions"),
                    "predicted_ms": 1e3 * s["predicted_s"] if "predicted_s" in s else math.nan,
                    "overhead_share": s.get("overhead_share", math.nan),
                    "overhead_ms": 1e3 * (g.get("overhead_s") or math.nan),
                    "rate_gflops": (g.get("rate_flops_per_s") or math.nan) / 1e9,
                    "rate_measured": g.get("rate_measured"), "note": g.get("note") or ""})
    return pd.DataFrame(rows, columns=list(AUTO_COLUMNS))


def needed_budget(record: Mapping[str, Any]) -> float | None:
    """The budget a stored plan's line named (summary.budget_line): over the variants some
    budget affords, where another has none (plan.Plan.affordable_budget_s; one variant no budget
    affords had made a variant 192 s would afford read "no budget affords one"), else the
    plan's whole need; None where the budget sufficed."""
    afford = record.get("affordable_budget_s")
    return afford if afford is not None else record.get("needed_budget_s")


def auto_summary(runs: Sequence[Any]) -> list[dict[str, Any]]:
    """Per run: its budget, predicted and narrowing rounds, and what stopped them."""
    out = []
    for run in runs:
        record = (run.environment or {}).get("auto_sizes")
        if record:
            out.append({"run": run.label, "budget_s": record.get("budget_s"),
                        "predicted_wall_s": record.get("predicted_wall_s"),
                        "needed_budget_s": needed_budget(record),
                        "rounds": len(record.get("rounds") or []),
                        "stopped": record.get("stopped") or ""})
    return out


def short_budgets(environments: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(run, block) -> why its budget afforded no regime, for the blocks a plan fell short on."""
    out = {}
    for label, env in environments.items():
        record = env.get("auto_sizes") or {}
        needed = needed_budget(record)
        if needed is None:
            continue
        groups = record.get("groups") or []
        need = (f"about {math.ceil(needed)} s needed (--budget {math.ceil(needed)})"
                if math.isfinite(float(needed)) else
                "no budget affords one (the run's plan notes say what stops it)")
        for g in groups:
            if g.get("no_window"):  # what stops it at any budget, and what would give one
                out[(label, str(g.get("block")))] = (
                    f"no budget affords one regime of 6 sizes: {g['no_window']}")
            elif g.get("needed_budget_s") is not None or len(g.get("sizes") or []) < 6:
                out[(label, str(g.get("block")))] = (
                    f"budget {record.get('budget_s'):g} s too small for one regime of 6 sizes: "
                    f"{need}")
    return out


def with_budget_notes(fits: pd.DataFrame,
                      environments: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Latency fits of a block whose plan fell short: inconclusive, with the budget it needed.
    A block the plan gave no size at all has no fit: it gets a latency row saying so, so the
    verdict tables never leave it out (nor call a run confirmed without it)."""
    short = short_budgets(environments)
    if not short:
        return fits
    fits = fits.copy()
    for i, r in fits.iterrows():
        why = short.get((str(r.get("run")), str(r.get("block"))))
        if why and r.get("metric") == "latency":
            fits.at[i, "verdict"] = "inconclusive"
            fits.at[i, "reason"] = f"{why}; {r.get('reason') or ''}".rstrip("; ")
    fitted = set() if fits.empty else {
        (str(r["run"]), str(r["block"]).partition("[")[0]) for _, r in fits.iterrows()
        if r.get("metric") == "latency"}
    missing = [{"run": run, "block": block, "metric": "latency", "axis": "positions",
                "device": (environments[run].get("roofline") or {}).get("device", "cpu"),
                "dtype": environments[run].get("dtype", "float32"), "primary": True,
                "segment": 0, "points": 0, "verdict": "inconclusive",
                "reason": f"{why}; no size was run"}
               for (run, block), why in short.items() if (run, block) not in fitted]
    if missing:
        fits = pd.concat([fits, pd.DataFrame(missing)], ignore_index=True) if not fits.empty \
            else pd.DataFrame(missing, columns=list(dict.fromkeys([*fits.columns,
                                                                   *missing[0]])))
    return fits
