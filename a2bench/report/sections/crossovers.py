"""Each block against double attention (analysis.crossovers_against): the section's lines, and
the words the headline's "which is cheaper" line shares with them, where a ratio crosses 1 and
whether it was read at shared sizes or with one side interpolated between its own; and, where
the two ran no N in common, the measured figures either side of the gap.
"""

from __future__ import annotations

import pandas as pd

from a2bench import analysis as an
from a2bench.formatting import finite, integer, ms_text, significant, size
from a2bench.report.elements import MAX_TABLE_ROWS, Bullets, Element, Heading, Para, block_name

CROSS_WORDS = {"macs": "MACs", "latency": "latency", "memory": "peak memory"}


def pair_lines(result: an.Analysis) -> list[str]:
    """The non-local order against double attention at each size both ran (pairs.csv), a line
    each, for the headline of a report that sweeps no N (the video report's answer had sat in a
    table further down, under "Headline: NOT SWEPT")."""
    p = result.pairs
    if not len(p):
        return []
    ref = block_name(result, an.STUDY.left, short=True)
    other = block_name(result, an.STUDY.right, short=True)
    several = len(result.runs) > 1
    return [f"{r['run'] + ': ' if several else ''}at {r['shape']} (N = {size(r['positions'])}, "
            f"c = {integer(r['channels'])}, m = {integer(r['m'])}, n = {integer(r['n'])}, "
            f"b = {integer(r['batch'])}): the {other} takes {significant(r['ratio_latency'])}× "
            f"{ref}'s time, {significant(r['ratio_macs'])}× its MACs and "
            f"{significant(r['ratio_memory'])}× its peak memory"
            for _, r in p.head(MAX_TABLE_ROWS).iterrows()]


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
            f"No other block was measured over two or more positions N in the same setting "
            f"as {ref} (the same device, dtype, batch and channels, along one family of shapes), "
            "so no block can be set against it.")]
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
        "lines say so. Where their N do not overlap at all, nothing is read between them: the "
        "block with the lower N at its largest is set against the other at its smallest, two "
        "measured figures, and called costlier even at fewer positions only where it took "
        "longer there (beyond their noise, outside the per-call overhead, on one machine). "
        "Each line names the sizes it holds "
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
        if family_words(r):  # one family of several at a t (two aspects), or a map across t
            fixed += f", {family_words(r)}"
        ref_set = an.group_label({c[4:]: r[c] for c in ref_params})
        against = (block_name(result, r["reference"], True)
                   if r["reference"] != reference else ref)
        if against != ref or ref_set:
            ref_set = f", against {against}" + (f" {ref_set}" if ref_set else "")
        own = f" ({r['params']})" if r["params"] else ""
        if disjoint(r):
            lines.append(f"{r['run'] + ': ' if several else ''}"
                         f"{block_name(result, r['block'], True)}{own} at {fixed}{ref_set}: "
                         f"latency {disjoint_words(result, r)}; MACs and peak memory: not "
                         "compared (no N in common).")
            continue
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


def family_words(r: pd.Series) -> str:
    """The family of shapes a row holds (analysis.against's ``family``), "h:w 1:2" or
    "h×w 16×16"; '' for a row read over every shape at its t, and for square maps at one t
    (the usual family, which a line has always meant)."""
    family = r.get("family", "")
    return family if isinstance(family, str) and family != "h:w 1:1" else ""


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


def disjoint(r: pd.Series) -> bool:
    """Whether a row sets two measured figures side by side across N ranges that do not
    overlap (analysis.against's _disjoint)."""
    return r.get("latency_basis", "shared") == "disjoint"


# how a disjoint row's block stands against the reference, where the figures are read
DISJOINT_LEADS = {"costlier_at_fewer_n": "costlier even at fewer positions",
                  "cheaper_at_more_n": "cheaper even at more positions"}
DISJOINT_UNREAD = {
    "across_nodes": "not compared: the two figures ran on different machines",
    "overhead_bound": "not read: the per-call overhead is half a block's time there or more",
    "within_noise": "the same within their noise",
}


def disjoint_words(result: an.Analysis, r: pd.Series) -> str:
    """A disjoint row in words: the two N ranges, then the lower side at its largest N beside
    the other at its smallest. Only where the lower side took longer (a measured fact: it costs
    more even at fewer positions) is either called costlier, and only then is the ratio given;
    where it took less, the two figures alone."""
    outcome = r["outcome_latency"]
    names = {s: block_name(result, s, True) for s in (r["block"], r["reference"])}
    lower = r["lower"]
    upper = r["reference"] if lower == r["block"] else r["block"]
    ranges = (f"{names[r['block']]} N = {size(r['n_min'])}–{size(r['n_max'])}, "
              f"{names[r['reference']]} {size(r['reference_n_min'])}–"
              f"{size(r['reference_n_max'])}")
    if outcome == "across_nodes":
        return f"no N in common ({ranges}): {DISJOINT_UNREAD[outcome]}"
    whose = "its" if lower == r["block"] else f"{names[lower]}'s"
    at = f"at {whose} largest N, {size(r['lower_n'])}, it took {ms_text(r['lower_latency'])}"
    smallest = (f"at its smallest, N = {size(r['upper_n'])} "
                f"({significant(r['upper_n'] / r['lower_n'], 2)}× more positions)")
    if outcome in DISJOINT_LEADS:
        ratio = significant(r["lower_latency"] / r["upper_latency"])
        return (f"{DISJOINT_LEADS[outcome]} (no N in common: {ranges}): {at}, {ratio}× "
                f"{names[upper]}'s {ms_text(r['upper_latency'])} {smallest}")
    said = (f"no N in common ({ranges}): {at}; {names[upper]} took "
            f"{ms_text(r['upper_latency'])} {smallest}")
    return said + (f": {DISJOINT_UNREAD[outcome]}" if outcome in DISJOINT_UNREAD else "")


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
