"""The scaling sections: the headline verdict, each block's complexity class, the fitted
exponents with the sentences that explain them, and where one block starts to cost more than
another. Every sentence renders a number or a verdict a2bench.analysis computed.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from a2bench import analysis as an
from a2bench import fitting as ft
from a2bench.analysis import crossover
from a2bench.formatting import (
    finite,
    fixed,
    format_bytes,
    integer,
    percent,
    plural,
    power_of_n,
    significant,
    size,
)
from a2bench.report.elements import (
    METRIC_TITLES,
    Bullets,
    Element,
    FigureFile,
    Heading,
    Para,
    Table,
    block_name,
    expected_from,
    figure,
)
from a2bench.report.figures import OTHER_GROUPS
from a2bench.report.sections.crossovers import (
    at_max_words,
    basis_words,
    crossing_words,
    disjoint,
    disjoint_words,
    pair_lines,
)
from a2bench.report.sections.machine import ceiling_percent, failed_calibrations, untimed
from a2bench.report.sections.variants import context_lines
from a2bench.run.summary import MODEL_MISMATCH

HEADLINE_WORDS = {"confirmed": "CONFIRMED", "contradicted": "CONTRADICTED",
                  "inconclusive": "INCONCLUSIVE", "not swept": "NOT SWEPT"}


def headline_phrase(h: dict[str, Any]) -> str:
    """The overall verdict and, over several runs, their tally in words: "CONFIRMED in all 3
    runs", or "INCONCLUSIVE overall: 4 of 5 runs CONFIRMED, 1 INCONCLUSIVE, none CONTRADICTED"
    (the overall verdict is strict: one inconclusive run makes it inconclusive)."""
    word = HEADLINE_WORDS[h["verdict"]]
    counts = h.get("counts") or {}
    total = sum(counts.values())
    if h["verdict"] == "not swept" or total < 2:  # one run: its own verdict says it all
        return word
    if counts.get(h["verdict"], 0) == total:
        return f"{word} in {'both' if total == 2 else f'all {total}'} runs"
    parts = [f"{counts['confirmed']} of {total} runs CONFIRMED"]
    parts += [f"{counts[s] or 'none'} {HEADLINE_WORDS[s]}"
              for s in ("inconclusive", "contradicted")]
    return f"{word} overall: " + ", ".join(parts)


def counted(fit: dict[str, Any]) -> bool:
    """A headline fit judged against the counted MACs: its block has no cost model."""
    return fit.get("expected_from") == "counted"


def headline_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    """The verdict first: block × metric along positions, then the latency figure."""
    h = result.headline
    a2 = any(r.get("question") == "a2" for r in h["runs"].values())
    unswept = [run for run in result.labels if h["runs"][run]["verdict"] == "not swept"]
    # "fitted below" only where something is: the video report's two cases had said so
    fitted = set(result.fits["run"]) if len(result.fits) else set()
    if len(unswept) == len(result.labels):  # the question needs a sweep along N
        return [*_unswept_answer(result, h), Para(
            "The headline asks whether MACs, peak memory and latency grow along positions N "
            "as each block's model says, and no run here sweeps N. "
            + ("Each run's own axes are fitted below (Fitted exponents), and its sizes "
               "compared in the sections after." if fitted & set(unswept) else
               "No run sweeps another axis over two values or more either, so nothing is "
               "fitted; the sizes are compared in the sections after."))]
    doc: list[Element] = [
        Heading(2, f"Headline: {headline_phrase(h)}"),
        Para("Do MACs, peak memory and latency along positions N all grow as the cost model "
             "says: O(m·n·N) for double attention and O((m+n)·N²) for the non-local order? "
             "CONFIRMED needs all six fits consistent in a run; any contradicted fit makes it "
             "CONTRADICTED; otherwise it is INCONCLUSIVE and the missing evidence is named. "
             "Other blocks in a run are shown against their own models."
             if a2 else
             "Do MACs, peak memory and latency along positions N grow as each block's model "
             "says (its cost model, or the MACs the counters counted)? CONFIRMED needs every "
             "fit with a model consistent in a run; any contradicted fit makes it "
             "CONTRADICTED; otherwise it is INCONCLUSIVE and the missing evidence is named."),
    ]
    mismatched = an.model_mismatches(result.data) + [
        f"{run}: {text}" for run, text in result.unfinished.items()] + [
        f"{run}: not swept along positions N, so not counted in the headline "
        + ("(its own axes are fitted below)" if run in fitted else "(nor along another axis)")
        for run in unswept]
    if mismatched:
        doc.append(Bullets(tuple(mismatched)))
    for run in result.labels:
        r = h["runs"][run]
        if r["verdict"] == "not swept":
            continue
        # a run that swept N at more than one group of fixed sizes names each row's
        along = result.fits[(result.fits["run"] == run) & (result.fits["axis"] == "positions")]
        named = dict(zip(along["group"], an.distinct_sizes(list(along["group"])), strict=True))
        rows = [{
            "block": block_name(result, f["block"], short=True), "metric": f["metric"],
            **({"at": named.get(f["group"], f["group"])}
               if len(along) and along.groupby("block")["group"].nunique().max() > 1 else {}),
            "exponent [95% CI]": (f"{fixed(f['exponent'])} "
                                  f"[{fixed(f['ci_low'])}, {fixed(f['ci_high'])}]"
                                  if f["exponent"] is not None else "n/a"),
            # the interval the verdict reads, as the reasons below it name it
            "90% interval (decides)": (f"[{fixed(f['ci90_low'])}, {fixed(f['ci90_high'])}]"
                                       if finite(f.get("ci90_low")) else "n/a"),
            # a block with no cost model is judged against its counted MACs' slope
            "model": fixed(f["expected"]) + (" (counted)" if counted(f)
                                             and finite(f["expected"]) else ""),
            "ΔBIC": fixed(f["delta_bic"], 1),
            "sizes": integer(f["points"]), "verdict": f["verdict"] or "no model",
        } for f in r["fits"]]
        if rows:  # a run whose sweep along N left too few sizes ok has nothing to table
            doc.append(Table(pd.DataFrame(rows),
                             f"{run}: {HEADLINE_WORDS[r['verdict']]} (exponents dimensionless; "
                             "model: the cost model's own slope over the same sizes, which nears "
                             "its class only as N grows"
                             + ("; (counted): the slope of the MACs FlopCounterMode counted, for a "
                                "block with no cost model, so its MACs are consistent by "
                                "construction" if any(counted(f) for f in r["fits"]) else "")
                             + "; "
                             "ΔBIC > 0 favours the model's curve over the competing class; "
                             "the 95% CI shows how well the exponent is known, the 90% interval "
                             "decides: consistent where it lies "
                             f"within the model's exponent ± {ft.MARGIN:g}, and for latency ΔBIC > "
                             f"{ft.BIC_DECISIVE:g}; MACs and memory also where they equal the "
                             "model at every size)."))
        # what the run warned of as it ran, beside its verdict (a CONFIRMED run's "noisy run"
        # had been folded away in the environment table)
        warned = [w for x in result.runs if x.label == run
                   for w in x.environment.get("warnings") or []
                   if MODEL_MISMATCH not in w]  # a model mismatch is said above already
        said = (_cheaper(result, run) + r["contradicting"] + r["missing"]
                + r.get("unmeasured", []) + [f"hint: {h}" for h in r.get("hints", ())])
        if said:
            doc.append(Bullets(tuple(f"{run}: {x}" for x in said)))
        if warned:  # a list of their own, so that many never fold the answer away
            doc.append(Bullets(tuple(f"{run}: warned as it ran: {w}" for w in warned)))
    # after every run's table: the figure draws them all (it had sat under the first run's)
    doc += figure(figs, "fit_positions_latency.png")
    return doc


def _unswept_answer(result: an.Analysis, h: dict[str, Any]) -> list[Element]:
    """The headline of a report that sweeps no N: what it does answer, from its analysis (what
    each attention variant adds to a network, or the non-local order against double attention
    at each size both ran), above the line that says why no verdict."""
    context, pairs = context_lines(result), pair_lines(result)
    if context:
        network = block_name(result, str(result.context["network"].iloc[0]), short=True)
        return [Heading(2, f"Headline: what each attention variant adds to {network} "
                           f"({headline_phrase(h)} along N)"),
                Para("Over the same network without attention, at the same input, batch, mode "
                     "and dtype: latency / MACs (model) / peak memory, each in % (In context, "
                     "below, has every figure)."), Bullets(tuple(context + pairs))]
    if pairs:
        return [Heading(2, f"Headline: the non-local order against double attention at each "
                           f"size ({headline_phrase(h)} along N)"),
                Para("Non-local order ÷ double attention at each size measured in both orders "
                     "(above 1 the non-local order costs more; Costs at each size, below, has "
                     "every figure)."), Bullets(tuple(pairs))]
    return [Heading(2, f"Headline: {headline_phrase(h)}")]


def _cheaper(result: an.Analysis, run: str) -> list[str]:
    """Which block is cheaper, beside the verdict: each block's latency against double
    attention's in the plain setting, over its widest series (the page had answered it only
    sections further down, 9,000 px into the CPU report); in a run with no plain setting (every
    case a training step), in the setting the verdict table above it fits. A series at shared N
    comes before one read with a side interpolated, and that before one across a gap in N."""
    bc = result.block_crossovers
    rows = bc[bc["run"] == run] if len(bc) else bc
    plain = rows[rows["reference"] == an.REFERENCE] if len(rows) else rows
    if not len(plain) and len(rows):
        fitted = {f["block"] for f in result.headline["runs"][run]["fits"]}
        plain = rows[rows["reference"].isin(fitted) & rows["block"].isin(fitted)]
    rows = plain
    if not len(rows):
        return []
    rank = [2 - ("shared", "interpolated", "disjoint").index(r.get("latency_basis", "shared"))
            for _, r in rows.iterrows()]
    rows = rows.assign(rank=rank).sort_values(
        ["rank", "n_points", "n_max", "channels"], ascending=False,
        kind="stable").drop_duplicates("block").sort_index()
    parts = []
    for _, r in rows.iterrows():
        own = f" ({r['params']})" if r["params"] else ""
        ratio = (f", {significant(r['ratio_at_max_latency'])}× its time at N = "
                 f"{size(r['n_max'])}{at_max_words(result, r)}"
                 if finite(r["ratio_at_max_latency"]) else "")
        said = (disjoint_words(result, r) if disjoint(r) else
                f"{crossing_words(r, 'latency')}{ratio}{basis_words(result, r)}")
        parts.append(f"{block_name(result, r['block'], True)}{own} at "
                     f"{an.group_label({'channels': r['channels'], 'batch': r['batch']})}: "
                     f"{said}")
    ref = block_name(result, rows["reference"].iloc[0], short=True)
    section = block_name(result, an.REFERENCE, short=True)
    return [f"latency against {ref}: " + "; ".join(parts)
            + f" (each metric and setting under Each block against {section})"]


def complexity_section(result: an.Analysis) -> list[Element]:
    """Per block, the class its MACs and latency grow in along N, each against its own model."""
    c = result.complexity
    doc: list[Element] = [Heading(2, "Complexity class per block")]
    if not len(c):
        return doc + [Para("No block has two sizes or more along positions N, its other sizes "
                           "fixed, that ended ok, so no complexity class can be read off.")]
    doc.append(Para(
        "Every block swept along positions N, each against its own cost model. A cell reads: "
        "the class the model predicts, N^k, with the model's exponent over the same window in "
        "parentheses; the measured exponent [95% interval]; the verdict; and ΔBIC of the "
        "model's own curve against the competing class (above 0 favours the model). Classes "
        "and exponents are dimensionless. All rows, with each verdict's reason, are in "
        "complexity.csv."))
    several = len(result.runs) > 1
    rows, notes = [], []
    for (run, block), g in c.groupby(["run", "block"], sort=False):
        row = {**({"run": run} if several else {}), "block": block_name(result, block)}
        for metric in an.COMPLEXITY_METRICS:
            f = g[g["metric"] == metric]
            row[METRIC_TITLES[metric]] = _class_cell(f.iloc[0]) if len(f) else "not fitted"
            if len(f) and f.iloc[0]["verdict"] != "consistent" and f.iloc[0]["reason"]:
                notes.append(f"{run + ': ' if several else ''}{block_name(result, block, True)}, "
                             f"{METRIC_TITLES[metric]}: {f.iloc[0]['reason']}")
        rows.append(row)
    doc.append(Table(pd.DataFrame(rows), "Complexity class along positions N, per block."))
    if notes:
        doc.append(Bullets(tuple(notes)))
    return doc


def _class_cell(r: pd.Series) -> str:
    """'N^1.5 (model 1.47): measured 1.52 [1.45, 1.60], consistent; ΔBIC 31.2 against N^2'."""
    k, other = r["expected_class"], r["competitor"]
    cls = power_of_n(k) if finite(k) else "no class"
    measured = (f"measured {fixed(r['exponent'])} [{fixed(r['ci_low'])}, {fixed(r['ci_high'])}]"
                if finite(r["exponent"])
                else f"no exponent ({plural(int(r['points']), 'size')})")
    bic = (f"; ΔBIC {fixed(r['delta_bic'], 1)} against {power_of_n(other)}"
           if finite(r["delta_bic"]) and finite(other) else "")
    return f"{cls} ({expected_from(r)} {fixed(r['expected'])}): {measured}, {r['verdict']}{bic}"


def _fit_cell(row: pd.Series) -> str:
    if not math.isfinite(row["exponent"]):
        return "n/a"
    return f"{fixed(row['exponent'])} [{fixed(row['ci_low'])}, {fixed(row['ci_high'])}]"


def _run_cell(row: pd.Series | None) -> str:
    if row is None:
        return "not swept"
    if not math.isfinite(row["exponent"]):
        return f"{row['verdict']}: {row['reason']}"
    if not math.isfinite(row["expected"]):  # measured, with nothing to judge it by
        return f"{_fit_cell(row)}; no model ({integer(row['points'])} sizes)"
    return (f"{_fit_cell(row)}; {expected_from(row)} {fixed(row['expected'])}; "
            f"ΔBIC {fixed(row['delta_bic'], 1)}; "
            f"{row['verdict']} ({integer(row['points'])} sizes)")


def fits_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    doc: list[Element] = [Heading(2, "Scaling exponents")]
    fits = result.fits
    if not len(fits):
        return doc + [Para(
            "No axis has two sizes or more that ended ok with the other sizes fixed (for example "
            "the ResNet-stages suite, where c, m, n and N change together, or a sweep whose "
            "cases failed: see Cases without a measurement), so there is nothing to fit; see "
            "the costs at each size below.")]
    doc.append(Para(
        "Each cost is fitted as a + b·x^k, with the overhead a ≥ 0, by weighted least squares "
        "in log space over every swept size. The exponent k is then read on a window chosen "
        "from the data: the sizes where a is under 5% of the cost (for latency, a is the run's "
        "own timing of the block at its smallest shape where there is one) and, for latency, "
        "with no cache boundary inside: where the working set (the cost model's live peak plus "
        "the input; for a block with no cost model, its measured peak, its weights and the "
        "input) outgrows one of the run's measured caches, the sizes on each side are "
        "fitted apart. Latency per size is the median over the passes of each pass's expected "
        f"fastest of {ft.MIN_OF} raw samples (the mean log of the fastest over every "
        f"{ft.MIN_OF} of them: one "
        "target whatever a pass's sample count), and the fit weighs sizes with Huber's loss. "
        "Interval: "
        "the wider of the regression's t interval and a bootstrap that resamples the raw "
        "timing samples within each pass of each size (2000 seeded resamples). Model: the "
        "slope of the cost model over the same window (MACs; all FLOPs for latency; peak "
        "bytes for memory). ΔBIC compares the model's own curve, a + b·model(x), against "
        "a + b·x^k at the competing class (2 for a model of class 1, 1 for class 2, the closer "
        "of 1 and 2 for class 1.5), each with its own overhead; above 0 favours the model. "
        "Verdict: consistent "
        "when the 90% interval lies inside the model's value ± 0.15 and, for latency, ΔBIC "
        "> 10 (MACs and memory follow an exact model, and a constant one, such as SE's MACs "
        "along N, has no competing class: ΔBIC n/a), or where MACs or memory equal the model "
        "within 0.1% at every one of 3 or more sizes; "
        "contradicted when the interval lies outside that band or ΔBIC < −10; inconclusive "
        "otherwise, or with fewer than 5 sizes in the window. Each verdict's reason is in "
        "fits.csv."))
    primary = fits[fits["primary"]]
    runs = [r for r in result.labels if (primary["run"] == r).any()]
    key = ["axis", "block", "metric"]
    order = {a: i for i, a in enumerate(an.axes(result.data))}
    table = primary[key].drop_duplicates()
    table = table.assign(_o=table["axis"].map(order)).sort_values(["_o", "block"], kind="stable")
    table = table.drop(columns="_o")
    wide = table.copy()
    wide["block"] = wide["block"].map(lambda b: block_name(result, b, short=True))
    for run in runs:
        sub = primary[primary["run"] == run].set_index(key)
        cells = [sub.loc[tuple(k)] if tuple(k) in sub.index else None
                 for k in table[key].itertuples(index=False)]
        if len(runs) == 1:
            wide["exponent [95% CI]"] = [_fit_cell(c) if c is not None else "" for c in cells]
            wide["model"] = [fixed(c["expected"]) if c is not None else "" for c in cells]
            wide["ΔBIC"] = [fixed(c["delta_bic"], 1) if c is not None else "" for c in cells]
            wide["window"] = [_window_cell(c) if c is not None else "" for c in cells]
            wide["verdict"] = [(c["verdict"] or "no model") if c is not None else ""
                               for c in cells]  # as the headline says it
            wide["fixed"] = [c["group"] if c is not None else "" for c in cells]
        else:  # one compact column per run keeps several runs readable side by side
            wide[run] = [_run_cell(c) for c in cells]
    caption = ("Fitted exponents (dimensionless)" + ("." if len(runs) == 1 else
               ": per run, exponent [95% CI]; the cost model's exponent; ΔBIC; verdict (sizes "
               "in the window). The sizes held fixed are in each figure's title and in "
               "fits.csv."))
    doc.append(Table(wide.reset_index(drop=True), caption))
    if len(fits) > len(primary):
        doc.append(Para(_other_fits(result, fits)))
    doc += latency_detail(result)
    doc.append(Heading(3, "Why the costs look the way they do"))
    doc.append(Bullets(tuple(finding_lines(result))))
    for name in figs:  # the headline shows the latency along N; the other fits come here
        if name.startswith("fit_") and name != "fit_positions_latency.png":
            doc += figure(figs, name)
    return doc


def _other_fits(result: an.Analysis, fits: pd.DataFrame) -> str:
    """What the table leaves out: each block's other groups of fixed sizes along an axis (named,
    up to 3), and how many windows lie past a cache boundary."""
    main = fits[fits["segment"] == 0]
    parts = []
    for (run, _, _, block, axis), rows in main.groupby(["run", "device", "dtype", "block",
                                                         "axis"], sort=False):
        groups = list(dict.fromkeys(rows["group"]))
        first = rows.loc[rows["primary"].astype(bool), "group"]
        if len(groups) < 2 or not len(first):
            continue
        first_group = first.iloc[0]
        names = an.distinct_sizes([first_group, *(g for g in groups if g != first_group)])
        listed = (", ".join(names[1:]) if len(names) <= 4
                  else f"{len(names) - 1} groups, {names[1]} … {names[-1]}")
        parts.append(f"{block_name(result, block, short=True)} along "
                     f"{an.axis_label(axis, result.environments)}"
                     + (f" in {run}" if len(result.runs) > 1 else "")
                     + f": {listed} (the table's: {names[0]})")
    past = int((fits["segment"] > 0).sum())
    text = ("The table shows, per block and axis, the main window of the group of fixed sizes "
            "with the most swept values (on a tie, the group the most blocks measured, then the "
            "largest sizes). ")
    if parts:
        text += ("Other groups were fitted too: their rows are in fits.csv, and the figures "
                 f"draw up to {OTHER_GROUPS} a block that have an exponent, in thinner lines: "
                 + "; ".join(parts) + ". ")
    if past:
        text += (f"{past} more fit{'s' if past > 1 else ''} of windows past a cache boundary "
                 f"{'are' if past > 1 else 'is'} in fits.csv.")
    return text.strip()


def _ms(seconds: float) -> str:
    """Seconds as milliseconds to 3 figures; under a nanosecond, 0 (a fit's overhead at its
    bound read 6.76e-17)."""
    return "0" if finite(seconds) and abs(seconds) < 1e-9 else significant(seconds * 1e3)


def latency_detail(result: an.Analysis) -> list[Element]:
    """Per primary latency fit: the overhead, the window and the rate the block reaches."""
    failed = failed_calibrations(result)
    lat = result.fits[result.fits["primary"] & (result.fits["metric"] == "latency")]
    if not len(lat):
        return []
    several = len(result.runs) > 1
    rows = [{
        **({"run": r["run"]} if several else {}),
        "block": block_name(result, r["block"], short=True), "axis": r["axis"],
        "overhead a, fitted (ms)": (f"{_ms(r['overhead'])} [{_ms(r['overhead_ci_low'])}, "
                                    f"{_ms(r['overhead_ci_high'])}]"
                                    if finite(r["overhead"]) else "not fitted"),
        "a, timed at the smallest shape (ms)": significant(r["overhead_direct"] * 1e3),
        "window's a < 5% above": (size(r["x_overhead_5pct"])  # NaN: n/a
                                  if not r["x_overhead_5pct"] >= math.inf else "no size swept"),
        "window": _window_cell(r),
        # not the roofline's FLOPs ÷ median latency: the slope, the overhead t₀ removed
        "rate R, GFLOP/s (t = t₀ + FLOPs/R)": significant(r["achieved_flops_per_s"] / 1e9),
        "R, % of GEMM ceiling": ceiling_percent(r["fraction_of_ceiling"],
                                                (r["run"], r["dtype"]) in failed),
    } for _, r in lat.iterrows()]
    return [Table(pd.DataFrame(rows),
                  "Latency fits: the per-call overhead a (fitted with its 95% interval, and "
                  "timed directly), the size above which the one the window is cut by (the "
                  "timed one where there is one) is under 5% of the time, the "
                  "window the exponent is read on, and the rate R over that window (the slope "
                  "of time against FLOPs, the overhead t₀ removed, so above the roofline's "
                  "FLOPs ÷ median latency; a block without a cost model: 2 × its counted MACs) "
                  "against the GEMM ceiling measured in the same run.")] + untimed(result)



def _window_cell(row: pd.Series) -> str:
    if not row["points"]:
        return "none"
    if row["points"] == 1:  # "1 sizes, 2048–2048"
        return f"1 size, {size(row['fit_x_min'])}"
    return f"{integer(row['points'])} sizes, {size(row['fit_x_min'])}–{size(row['fit_x_max'])}"


def _axis_word(axis: str, environments: dict[str, dict[str, Any]]) -> str:
    # the axis's own name (channels, m, reduction, recurrence): a label's first word had read
    # "SE" for GC's reduction and "CCA" for criss-cross's recurrence
    return "N" if axis == "positions" else axis


def finding_lines(result: an.Analysis) -> list[str]:
    """Each finding of a2bench.analysis as one sentence; nothing is decided here."""
    lines = []
    several = len(result.runs) > 1
    for f in result.findings:
        who = (f"{f.run}: " if several else "") + (block_name(result, f.block, short=True)
                                                    if f.block else "")
        x = _axis_word(f.axis, result.environments)
        if f.kind == "overhead":
            direct = (f" (timed directly at the smallest shape: {significant(f.expected * 1e3)} ms)"
                      if math.isfinite(f.expected) else "")
            which = "timed" if math.isfinite(f.expected) else "fitted"
            # Along N the fitted constant is the per-call overhead; along another axis it also
            # holds the work that axis does not scale (the non-local order's N² along m).
            constant = ("a per-call overhead" if f.axis in ("positions", "t") else
                        f"a part that does not grow with {x} (the per-call overhead, and the "
                        f"work independent of {x})")
            half = ("is half of the latency or more at every size swept, and"
                    if f.x_from == math.inf else
                    f"is half of the latency below {x} = {size(f.x_from)} and"
                    if f.x_from > 0 else "is under half of the latency at every size, and")
            fitted = (f"{constant} of {_ms(f.value)} ms [{_ms(f.low)}, {_ms(f.high)}] "
                      f"(fitted){direct}" if math.isfinite(f.value) else
                      f"{constant} of {significant(f.expected * 1e3)} ms, timed directly at the "
                      "smallest shape (too few sizes to fit one)")
            if ((math.isfinite(f.value) or math.isfinite(f.expected)) and not math.isnan(f.x_to)
                    and f.x_to > 0):
                under = (f"under 5% above {x} = {size(f.x_to)}" if f.x_to < math.inf
                         else "not under 5% at any size swept")  # not "above N = 4.11e+70"
                lines.append(f"{who}: {fitted}; the {which} one, which cuts the window, {half} "
                             f"{under}.")
            elif math.isfinite(f.value) and f.value > 0 and not math.isfinite(f.x_to):
                # no x_to: the latency does not grow along the axis (a reduction r)
                lines.append(f"{who}: {fitted}; the latency does not grow along {x}, so no "
                             "size is clear of it.")
            elif math.isfinite(f.value) and f.value > 0 or math.isfinite(f.expected):
                lines.append(f"{who}: {fitted}; the {which} one is under 5% of the latency at "
                             "every size.")
            else:
                lines.append(f"{who}: the fit finds no overhead term in the latency{direct}.")
        elif f.kind == "cache_crossing":
            sizes = [format_bytes(b) for b in (f.bytes_from, f.bytes_to, f.cache_bytes)]
            if len(set(sizes)) < 3:  # "from 1 MiB ... passing the L2 size (1 MiB)": in bytes
                sizes = [f"{int(b):,} B" for b in (f.bytes_from, f.bytes_to, f.cache_bytes)]
            lines.append(
                f"{who}: its {f.tensor} grows from {sizes[0]} to {sizes[1]} between "
                f"{x} = {size(f.x_from)} and {x} = {size(f.x_to)}, "
                f"passing the {f.cache} size ({sizes[2]}).")
        elif f.kind == "cliff":
            where = (f"there its {f.tensor} passes the {f.cache} "
                     f"({format_bytes(f.bytes_from)} to {format_bytes(f.bytes_to)})" if f.cache else
                     f"no cache boundary lies there (the working set grows from "
                     f"{format_bytes(f.bytes_from)} to {format_bytes(f.bytes_to)})")
            lines.append(
                f"{who}: latency outpaces the model most between {x} = {size(f.x_from)} and "
                f"{x} = {size(f.x_to)} (local exponent {fixed(f.value)} against the model's "
                f"{fixed(f.expected)}); {where}.")
        elif f.kind == "window_split":
            other = (f"has its own exponent {fixed(f.value)} [{fixed(f.low)}, {fixed(f.high)}] "
                     "(model "
                     f"{fixed(f.expected)})" if math.isfinite(f.value) else
                     "has too few sizes for an exponent of its own")
            span = (f"{x} = {size(f.x_from)}" if f.x_from == f.x_to else
                    f"{x} = {size(f.x_from)}–{size(f.x_to)}")
            lines.append(
                f"{who}: sizes lie on both sides of the {f.cache or 'cache'} boundary, fitted "
                f"apart; the other side, {span}, {other}.")
        elif f.kind == "calibration":
            end = (f"{significant(f.high / 1e9)} GFLOP/s at the end, a drift of "
                   f"{percent(f.value)}"
                   if math.isfinite(f.high) else "no end-of-sweep calibration")
            resumed = (len((result.environments.get(f.run) or {}).get("roofline_sessions")
                           or ()) > 1)
            lines.append(f"{who}GEMM ceiling {significant(f.low / 1e9)} GFLOP/s at the start of "
                         + (f"the resumed session {f.session}" if f.session else
                            "the sweep's first session" if resumed else "the sweep")
                         + f", {end}; the ceiling used is the "
                         + ("best of every session's." if resumed else "larger."))
        elif f.kind == "calibration_failed":
            lines.append(f"{who}the {f.dtype} calibration failed: a {f.dtype} case ran at "
                         f"{fixed(100 * f.value, 0)}% of the measured {f.dtype} GEMM ceiling, so "
                         f"no {f.dtype} fraction of the ceiling is reported for this run.")
    if not lines:
        lines.append("No overhead, cache crossing or cliff was found in the primary fits.")
    return lines


def crossover_section(result: an.Analysis, figs: dict[str, FigureFile]) -> list[Element]:
    doc: list[Element] = [Heading(2, "Crossover: where the non-local order costs more")]
    cross = result.crossovers
    if not result.data["block"].isin((an.STUDY.left, an.STUDY.right)).any():
        return []  # neither order ran (a user's own block): nothing to say about them
    if not len(cross):
        return doc + [Para(
            "No run measured both attention orders over several N with c, m, n, b and t fixed, "
            "so no crossover can be read off. The cost model predicts the non-local order "
            "needs more MACs once N > 2mn/(m+n).")]
    doc.append(Para(
        "The cost model predicts the non-local order needs more MACs than double attention once "
        "(m+n)·N² > 2mn·N, i.e. N > N* = 2mn/(m+n). The measured N* is where the ratio "
        "non-local ÷ double attention of latency (or peak memory) crosses 1, interpolated "
        "linearly in log N; where the ratio crosses 1 more than once (noise at small sizes) the "
        "last upward crossing is reported. A latency crossing is not read where the per-call "
        f"overhead (timed directly) is {crossover.OVERHEAD_BOUND:.0%} of a block's time or more "
        "at the sizes either side, nor "
        f"where the ratio stays within {crossover.TIE_Z:g} standard errors of 1 over "
        f"{crossover.TIE_SIZES} sizes or more spanning a factor {crossover.TIE_SPAN:g} in N "
        "around it: the reason says which. N is in positions."))
    rows = []
    for _, c in cross.iterrows():
        notes = "; ".join(dict.fromkeys(
            f"{m}: {c[f'reason_{m}']}" for m in ("latency", "memory") if c[f"reason_{m}"]))
        rows.append({
            **({"run": c["run"]} if len(result.runs) > 1 else {}),
            "c": integer(c["channels"]), "m": integer(c["m"]), "n": integer(c["n"]),
            "b": integer(c["batch"]), "t": "several" if pd.isna(c["t"]) else integer(c["t"]),
            "N swept": f"{c['n_min']:.0f}–{c['n_max']:.0f} ({c['n_points']} values)",
            "predicted N* (MACs)": size(c["n_star_predicted"]),
            "measured N* (latency)": size(c["n_star_latency"]),
            "measured N* (memory)": size(c["n_star_memory"]),
            "notes": notes,
        })
    doc.append(Table(pd.DataFrame(rows), "Crossover positions N* (positions)."))
    doc += figure(figs, "crossover_ratio.png")
    return doc
