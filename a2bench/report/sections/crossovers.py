"""Each block against double attention (analysis.crossovers_against): the section's lines, and
the words the headline's "which is cheaper" line shares with them, where a ratio crosses 1 and
whether it was read at shared sizes or with one side interpolated between its own.
"""

from __future__ import annotations

import pandas as pd

from a2bench import analysis as an
from a2bench.formatting import finite, significant, size
from a2bench.report.elements import Bullets, Element, Heading, Para, block_name

CROSS_WORDS = {"macs": "MACs", "latency": "latency", "memory": "peak memory"}


def block_crossovers_section(result: an.Analysis) -> list[Element]:
    """One line per block (and setting): where it starts to cost more than the reference."""
    bc = result.block_crossovers
    reference = an.REFERENCE
    ref = block_name(result, reference, short=True)
    doc: list[Element] = [Heading(2, f"Each block against {ref}")]
    if not (result.data["variant"] == reference).any():
        return []  # the reference never ran: a section of nothing
    if not len(bc):
        return doc + [Para(
            f"No other block was measured at the same shapes as {ref} over two or more "
            f"positions N, nor over N that overlap {ref}'s, so no block can be set against it.")]
    doc.append(Para(
        f"Each block's MACs, latency and peak memory divided by {ref}'s at the same shape (run, "
        "device, dtype, batch, channels and t·h·w) and in the same setting, along positions N: "
        f"a training step against {ref}'s training step, a compiled case against its compiled "
        "one, each named where it is not the plain forward. \"Costlier from N ≈ x\" "
        "is where the ratio last passes 1 going up (interpolated linearly in log N); above it, "
        "up to the largest N swept, the block costs more (a latency crossing inside the per-call "
        "overhead, or within the ratio's noise of 1, is not read, and says so). Where the two "
        "ran fewer than two N alike (an auto-sized run picks each block's own), latency alone "
        "is compared where their N overlap: one side's median latency interpolated linearly in "
        "log N and log latency between its measured N either side of the other's, never "
        f"outside its range nor across more than a {an.INTERP_SPAN:g}-fold step in N; those "
        "lines say so. Each line names the sizes it holds "
        f"fixed, {ref}'s own parameters and the block's. All numbers are in "
        "block_crossovers.csv."))
    several = len(result.runs) > 1
    ref_params = [c for c in bc.columns if c.startswith("ref_")]
    lines = []
    for _, r in bc.iterrows():
        fixed = an.group_label({"channels": r["channels"], "batch": r["batch"],
                                **({"t": r["t"]} if r["t"] > 1 else {})})
        if pd.isna(r["t"]):  # a sweep of frames at one map: its series runs across t
            fixed += " across t"
        ref_set = an.group_label({c[4:]: r[c] for c in ref_params})
        against = (block_name(result, r["reference"], True)
                   if r["reference"] != reference else ref)
        if against != ref or ref_set:
            ref_set = f", against {against}" + (f" {ref_set}" if ref_set else "")
        own = f" ({r['params']})" if r["params"] else ""
        where = "; ".join(f"{CROSS_WORDS[m]}: {crossing_words(r, m)}" for m in an.CROSS_METRICS)
        ratio = (f"; latency ratio at N = {size(r['n_max'])}: "
                 f"{significant(r['ratio_at_max_latency'])}{at_max_words(result, r)}"
                 if finite(r["ratio_at_max_latency"]) else "")
        lines.append(f"{r['run'] + ': ' if several else ''}{block_name(result, r['block'], True)}"
                     f"{own} at "
                     f"{fixed}{ref_set}"
                     + f", N = {size(r['n_min'])}–{size(r['n_max'])} ({r['n_points']} values): "
                     f"{where}{ratio}{basis_words(result, r)}.")
    doc.append(Bullets(tuple(lines)))
    return doc


def crossing_words(r: pd.Series, metric: str) -> str:
    """What one ratio does over the range, from its outcome (analysis.Crossing)."""
    outcome, star = r[f"outcome_{metric}"], r[f"n_star_{metric}"]
    if outcome == "crosses" and finite(star):
        return f"costlier from N ≈ {size(star)}" + (
            " (the last of several upward crossings)" if r[f"reason_{metric}"] else "")
    return {"above": "costlier over the whole range",
            "below": "cheaper over the whole range",
            "ends_below": "no costlier at the largest N, though not cheaper at every N",
            "across_nodes": "not read: its sizes ran on several nodes",
            "overhead_bound": "not read: it crosses where the per-call overhead is half the "
                              "time or more",
            "within_noise": "not read: the two cost the same within noise around where it "
                            "crosses 1",
            "not_shared": "not compared (no two N shared)",
            }.get(outcome, "not measured at two or more N" if metric != "macs" else
                  # no counter ran, or every one is declared off the model for these cases
                  "not counted as the model counts them at two or more N")


def interpolated(r: pd.Series) -> bool:
    """Whether a row's latency ratio was read with one side interpolated (not shared N)."""
    return r.get("latency_basis", "shared") == "interpolated"


def at_max_words(result: an.Analysis, r: pd.Series) -> str:
    """Beside the ratio at the largest N: whose latency there is interpolated, between which
    of its measured N ('' at shared N, or where both were measured at that N)."""
    low, high = r.get("interp_n_low"), r.get("interp_n_high")
    if not interpolated(r) or not (finite(low) and finite(high)) or low == high:
        return ""
    return (f" ({block_name(result, r['interpolated'], True)}'s interpolated between "
            f"N = {size(low)} and {size(high)})")


def basis_words(result: an.Analysis, r: pd.Series) -> str:
    """After a line read with one side interpolated: that it was, which side, at which N."""
    if not interpolated(r):
        return ""
    return (f"; no two N shared, so {block_name(result, r['interpolated'], True)}'s latency is "
            "interpolated in log-log between its own measured N at the other's "
            f"{int(r['n_points'])} N, {size(r['n_min'])} to {size(r['n_max'])}")
