"""The audit's renderings: the terminal table and verdict lines, audit.md and audit.csv.

Rendering only: every count, difference and verdict comes from the audit run (audit/__init__.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from a2bench.audit.model import COUNTER_LABELS, WORK, Audit, Row
from a2bench.errors import os_problem
from a2bench.formatting import ratio_text, share

# What every count of the audit is in, said above its table wherever it is printed: the
# terminal's had said "model MACs" alone, beside a FlopCounterMode column half of what
# FlopCounterMode itself reports.
UNITS = ("Every count in multiply-accumulates (MACs): FlopCounterMode's total is halved (it "
         "reports 2 per MAC); fvcore, ptflops and thop report MACs.")


def _n(x: int | None) -> str:
    # a MAC count with thousands separators: the audit compares counts digit by digit
    return "n/a" if x is None else f"{x:,}"


def table(audit: Audit) -> list[dict[str, str]]:
    """One row per case: the model and every counter's total in MACs, with its ratio."""
    by_case: dict[str, dict[str, str]] = {}
    for r in audit.rows:
        row = by_case.setdefault(r.case, {"block": r.block, "case": r.case,
                                          "model MACs": _n(r.model_macs)})
        differs = r.macs is not None and r.macs != r.model_macs
        ratio = f" ({ratio_text(r.ratio)}×)" if differs else ""  # 1.0002×, never 1.000×
        row[COUNTER_LABELS[r.counter]] = _n(r.macs) + ratio
    return list(by_case.values())


def explanation(r: Row) -> str:
    labels = {w.name: w.label for w in WORK}
    parts = ([f"the model counts {r.model_off:+,} MACs against the products that ran "
              f"({r.model_macs - r.model_off:,}): its cost()'s, not the counter's"]
             if r.model_off else [])
    parts += [f"missed {labels[w]}: {n:,} MACs" for w, n in r.missed]
    parts += [f"added {labels[w]}: {n:,}" for w, n in r.added]
    if r.unexplained:
        parts.append(f"unexplained: {r.unexplained:+,}")
    return "; ".join(parts)


def verdict_lines(audit: Audit) -> list[str]:
    """One line per counter and block: the verdict at every audited shape."""
    lines = []
    keyed: dict[tuple[str, str], list[Row]] = {}
    for r in audit.rows:
        keyed.setdefault((r.counter, r.block), []).append(r)
    for (counter, block), rows in keyed.items():
        if rows[0].macs is None:
            lines.append(f"{COUNTER_LABELS[counter]} on {block}: not run ({rows[0].reason})")
            continue
        line = f"{COUNTER_LABELS[counter]} on {block}: {summary(rows)}"
        attention = sorted({w for r in rows for w in r.misses_attention})
        if attention:
            ops = {"bmm": "aten.bmm (torch.bmm/matmul/einsum)",
                   "sdpa": "scaled_dot_product_attention",
                   "sdpa_math": "scaled_dot_product_attention (its math path)"}
            line += ("; MISSES THE ATTENTION PRODUCTS: " + ", ".join(ops[w] for w in attention))
        lines.append(line)
    off: dict[str, dict[str, int]] = {}  # block: case: the model's own difference
    for r in audit.rows:
        off.setdefault(r.block, {})[r.case] = r.model_off
    for block, cases in off.items():
        if moved := [n for n in cases.values() if n]:
            lines.append(f"the model of {block}: off the products that ran at {len(moved)} of "
                         f"{len(cases)} shapes ({', '.join(f'{n:+,}' for n in moved)} MACs); "
                         "every counter's difference from it holds that")
    if audit.unaudited:
        # a counted block's MACs are macs_counted: FlopCounterMode's with its blind spots for
        # fused attention closed, not FlopCounterMode's own (an SDPA block's: 3x them at 16x16,
        # results/cpu-fused-attention-counts)
        lines.append(f"not audited: {', '.join(audit.unaudited)} (no cost() to set the counters "
                     "beside; a counted block's MACs are a2bench's own count, FlopCounterMode's "
                     "with its blind spots for fused attention closed)")
    return lines


def notes(audit: Audit) -> list[str]:
    """What the audit did not count, one line each: a counter that could not run (once, not per
    case) and each case skipped for its memory or out of it (a case that failed is an error)."""
    return ([f"{COUNTER_LABELS[c]} not run: {v.missing}" for c, v in audit.conventions.items()
             if v.missing] + [n.line() for n in audit.not_counted if n.status != "error"])


def summary(rows: Sequence[Row]) -> str:
    """The verdicts over several shapes: exact, or the range by which the count is off."""
    parts = []
    exact = sum(r.macs == r.model_macs for r in rows)
    if exact:
        parts.append("exact" + (f" at {exact} of {len(rows)} shapes" if exact < len(rows)
                                else f" at every shape ({len(rows)})"))
    for word, sel in (("over", [r for r in rows if r.macs > r.model_macs]),
                      ("under", [r for r in rows if r.macs < r.model_macs])):
        if sel:
            pct = sorted(100 * abs(r.ratio - 1) for r in sel)
            low, high = share(pct[0]), share(pct[-1])  # one value said once
            span = f"{low} %" if low == high else f"{low}–{high} %"
            parts.append(f"{word} by {span} at {len(sel)} of {len(rows)} shapes")
    return "; ".join(parts)


def to_markdown(audit: Audit) -> str:
    rows = table(audit)
    columns = ["block", "case", "model MACs", *COUNTER_LABELS.values()]
    out = ["# Counter audit", "",
           f"{UNITS} The model is a2bench's exact count of the products that run; a ratio "
           "follows each count that differs.", "",
           "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(r.get(c, "n/a") for c in columns) + " |" for r in rows]
    out += ["", "## Each counter's conventions (probed)", "",
            "MACs each counter reports per unit of each kind of work, read off a tiny module "
            "that does only that work; the model counts 1 per product MAC and 0 for the rest.",
            "", "| work | model | " + " | ".join(COUNTER_LABELS[c] for c in audit.conventions)
            + " |", "|" + "---|" * (2 + len(audit.conventions))]
    for w in WORK:
        cells = []
        for c in audit.conventions.values():
            rate = c.rates.get(w.name)
            # an exact rate (2 per MAC), not a measured figure: 2, not 2.00000; n/a where no
            # probe could read one
            cells.append(f"{rate:.6g}" if rate is not None and math.isfinite(rate) else "n/a")
        out.append(f"| {w.label} | {w.model_rate} | " + " | ".join(cells) + " |")
    out += ["", "## Where each count differs from the model", ""]
    for r in audit.rows:
        if r.macs is not None and r.macs != r.model_macs:
            out.append(f"- {COUNTER_LABELS[r.counter]}, {r.case}: {_n(r.macs)} against "
                       f"{_n(r.model_macs)}: {explanation(r)}")
    out += ["", "## Verdicts", ""]
    out += [f"- {line}" for line in verdict_lines(audit)]
    if audit.not_counted:  # a block that failed, a case past the memory budget
        out += ["", "## Cases not audited", ""] + [f"- {n.line()}" for n in audit.not_counted]
    missing = {c: v.missing for c, v in audit.conventions.items() if v.missing}
    if missing:
        out += ["", "Not run: " + "; ".join(f"{COUNTER_LABELS[c]}: {why}"
                                            for c, why in missing.items())]
    return "\n".join(out) + "\n"


# What the files an earlier audit wrote begin with: a rerun into its folder rewrites them, and
# a file of the user's by those names is never touched.
CSV_HEADER = ("block,case,counter,macs,model_macs,ratio,verdict,missed,added,unexplained,"
              "reason")
OWN_BEGINNINGS = {"audit.md": "# Counter audit", "audit.csv": CSV_HEADER}


def folder_problem(out: Path) -> str | None:
    """Why the audit must not write into `out`, or None. Asked before the audit runs. A run's
    results folder is refused: the audit counts a suite's cases afresh, not that run's records,
    and an audit.md beside them would read as that run's."""
    from a2bench.run.store import run_environment

    # a run's results, or the environment.json of a run stopped before its first result (a
    # resume's folder): an audit had been written beside the latter
    if (out / "results.jsonl").is_file() or run_environment(out / "environment.json"):
        return ("is a run's results folder, and the audit does not read a run (it counts a "
                f"suite's cases afresh); expected a folder of its own, e.g. --out {out / 'audit'}")
    for name, beginning in OWN_BEGINNINGS.items():
        try:
            with open(out / name, encoding="utf-8", errors="replace") as f:
                head = f.read(len(beginning))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:
            return f"its {name}: {os_problem(e, 'an audit folder', 'read and write')}"
        # nothing, or only a part of its opening: a file whose writing an older audit was
        # killed in, which the next audit rewrites (it had refused every later audit)
        if head != beginning and not beginning.startswith(head):
            return (f"its {name} is not an a2bench audit's, and the audit would "
                    "overwrite; expected an empty folder, a new one, or an earlier audit's")
    return None


def write(audit: Audit, out: Path) -> None:
    """audit.csv and audit.md, each whole or not at all (store.atomic_write): an audit killed
    as it wrote one had left it empty or cut short."""
    import csv
    import io

    from a2bench.run.store import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    with io.StringIO(newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER.split(","))
        for r in audit.rows:
            w.writerow([r.block, r.case, r.counter, "" if r.macs is None else r.macs,
                        r.model_macs, "" if math.isnan(r.ratio) else f"{r.ratio:.6g}",
                        r.verdict, " ".join(f"{k}={v}" for k, v in r.missed),
                        " ".join(f"{k}={v}" for k, v in r.added), r.unexplained, r.reason])
        for n in audit.not_counted:  # one row a case, with no counter: none ran on it
            w.writerow([n.block, n.case, "", "", n.model_macs, "", n.status, "", "", "",
                        n.reason])
        table = f.getvalue()
    atomic_write(out / "audit.csv", table)
    atomic_write(out / "audit.md", to_markdown(audit))
