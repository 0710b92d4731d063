"""The terminal text of `a2bench compare`: the table of cases and the report around it.

Rendering only: every verdict, failure and warning was decided by the comparison.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from a2bench.compare.model import ALPHA, MIN_PASSES, SUITE_LABEL, CaseResult, Comparison
from a2bench.compare.timing import passes_for_one_case
from a2bench.formatting import fixed, significant


def _ms(seconds: float | None) -> str:
    """A latency in ms to 4 significant figures; blank for a case with none (not run)."""
    return "" if seconds is None else significant(seconds * 1e3, 4)


def _ci(low: float, high: float) -> str:
    return f"{fixed(low, 3)}-{fixed(high, 3)}"


def table(c: Comparison) -> pd.DataFrame:
    rows = []
    for r in c.cases:
        m = r.head or r.base
        row: dict[str, Any] = {"case": r.label}
        if c.exact_only:
            row["MACs"] = m.macs_analytic if m and m.macs_analytic is not None else ""
            row["status"] = _statuses(r)
        else:
            t = r.timing
            row.update({
                "base ms": _ms(t.base_median_s) if t else _ms(r.base.latency_s if r.base else None),
                "head ms": _ms(t.head_median_s) if t else _ms(r.head.latency_s if r.head else None),
                "ratio": fixed(t.ratio, 3) if t else "",
                "95% CI": _ci(t.ci_low, t.ci_high) if t else "",
                # in parentheses: a case left out of the Holm family, its p uncorrected
                "p (Holm)": (significant(r.p_adjusted, 2) if r.p_adjusted is not None
                             else f"({significant(t.p_value, 2)})" if t else ""),
                "passes": f"{t.passes_base}/{t.passes_head}" if t else _passes(r),
                "n": f"{t.n_base}/{t.n_head}" if t else "",
            })
        row["verdict"] = r.verdict
        rows.append(row)
    s = c.suite
    if s is not None:
        rows.append({
            "case": SUITE_LABEL.replace("all timed", f"all {s.cases} timed"), "base ms": "",
            "head ms": "", "ratio": fixed(s.ratio, 3), "95% CI": _ci(s.ci_low, s.ci_high),
            "p (Holm)": significant(s.p_adjusted, 2) if s.p_adjusted is not None else "",
            "passes": f"{s.passes_base}/{s.passes_head}", "n": "", "verdict": s.verdict,
        })
    return pd.DataFrame(rows)


def _passes(r: CaseResult) -> str:
    b = r.base.processes if r.base else 0
    h = r.head.processes if r.head else 0
    return f"{b}/{h}"


def _statuses(r: CaseResult) -> str:
    b = r.base.status if r.base else "-"
    h = r.head.status if r.head else "-"
    return b if b == h else f"{b} -> {h}"


def _bound_rule(c: Comparison) -> str:
    """How the lower bound a case's verdict compares with the threshold was set, with this run's
    number of cases in the Holm family."""
    level = next((r.bound_level for r in c.cases if r.bound_level), None)
    rule = (f"Moses's bound from the head/base ratios of pass medians, the rank test inverted, "
            f"one-sided at 1 - {ALPHA / 2:g}/C for the C cases in the Holm family, the suite row "
            f"spending the other {ALPHA / 2:g}: where no case is truly slower than the "
            f"threshold, the gate fails on timing with chance at most {ALPHA:g}")
    if level is None:
        return rule
    cases = sum(r.p_adjusted is not None for r in c.cases)
    return f"{rule}; here C = {cases}: {significant(level * 100, 3)}%"


def limit_text(threshold_pct: float) -> str:
    """The ratio a bound must exceed, as applied: `--threshold 0.5` had printed 1.00 for 1.005.
    At least two decimals (1.10), and as many more as the threshold has (12 figures at most,
    which drops only float noise such as 1.0700000000000001)."""
    exact = f"{1 + threshold_pct / 100:.12g}"
    return exact if len(exact.partition(".")[2]) >= 2 else fixed(1 + threshold_pct / 100, 2)


def format_report(c: Comparison) -> str:
    if c.exact_only:
        what = ["exact metrics only (MACs, FLOPs, analytic bytes, statuses); timings not read"]
    else:
        norm = (", each pass divided by its reference kernel (--normalize)" if c.normalize
                else "")
        limit = limit_text(c.threshold_pct)
        what = [
            f"ratio = median of head pass medians / median of base pass medians{norm}; 95% CI "
            "by a two-level bootstrap (passes, then samples within each pass)",
            f"a case fails when its Holm-corrected one-sided p < {ALPHA:g} (Mann-Whitney on the "
            f"pass medians with {MIN_PASSES}+ passes a side, else on the raw samples) and its "
            f"ratio's lower bound > {limit} ({_bound_rule(c)})",
            f"the suite row: one score per pass, its mean log latency over the cases; ratio = "
            f"geometric mean, 95% Welch t interval; fails when its Holm-corrected one-sided Welch "
            f"t p < {ALPHA:g} and its CI low end > {limit} (with {MIN_PASSES}+ passes a side; "
            "else reported, not tested)",
        ]
    lines = [f"a2bench compare: base {c.base_dir}  head {c.head_dir}", *what, *c.notes, ""]
    df = table(c)
    width = int(df["case"].str.len().max())
    lines.append(df.to_string(index=False, justify="left",
                              formatters={"case": lambda s: s.ljust(width)}))
    failures, warnings = c.failures, c.all_warnings
    if warnings:
        lines += ["", f"warnings ({len(warnings)}):", *(f"  warning: {w}" for w in warnings)]
    if failures:
        lines += ["", f"failures ({len(failures)}):", *(f"  FAIL: {f}" for f in failures)]
    verdict = (f"FAIL: {len(failures)} failure(s)" if failures else "PASS: no regression")
    # a machine or thread count that differs moves every timing by itself: said on the verdict's
    # line, not only among the warnings (1 thread against 2 had read "2.90x slower"); only
    # beside a timing failure, as no machine moves an exact count or a status
    if c.timing_failed and c.machine_differs and not c.exact_only:
        verdict += (f"; the environments differ ({', '.join(c.machine_differs)}), which "
                    "alone moves timings: compare runs of one machine and thread count")
    if not failures and (caveats := _pass_caveats(c)):
        verdict += " found, but " + "; and ".join(caveats)
    lines += ["", f"a2bench compare: {verdict}"]
    return "\n".join(lines)


def _pass_caveats(c: Comparison) -> list[str]:
    """What a PASS did not rule out: a slowdown past the threshold that no test could judge
    (too few passes: 2.02x on a 95% CI of 2.00-2.03, and one case 3.01x, had ended "PASS: no
    regression found" with "a quieter machine" as the remedy), then a tested suite row whose
    interval still reaches past the threshold. The cause is named: the passes a side, and the
    flag that raises them."""
    if c.exact_only:
        return []
    limit, pct = 1 + c.threshold_pct / 100, f"{c.threshold_pct:g}%"
    timed = [r for r in c.cases if r.timing]
    need = passes_for_one_case(len(timed)) if timed else MIN_PASSES
    out = []
    s = c.suite
    # a case outside the Holm family (its p in parentheses) or with too few passes is untested,
    # unless it is the one timed case: then it is its own suite row, tested at 3+ passes a side
    # (it had read "NOT TESTED ... --processes 4" beside its tested suite row)
    own_suite = len(timed) == 1 and s is not None and s.p_adjusted is not None
    untested = sorted(((r.timing, r.label) for r in timed if r.timing and r.p_adjusted is None
                       and r.timing.ratio > limit and not own_suite), key=lambda x: -x[0].ratio)
    suite_untested = s is not None and s.p_adjusted is None and s.ratio > limit
    if untested or suite_untested:
        what = []
        if s is not None and suite_untested:
            what.append(f"the suite row reads {s.ratio:.2f}x slower (95% CI {s.ci_low:.2f}-"
                        f"{s.ci_high:.2f}) with {_per_side(s.passes_base, s.passes_head)}, "
                        f"tested only with {MIN_PASSES}+ a side")
        if untested:
            t, label = untested[0]
            more = f", the worst of {len(untested)} cases past the {pct} threshold" \
                if len(untested) > 1 else f", past the {pct} threshold"
            what.append(f"{label} reads {t.ratio:.2f}x slower (95% CI {t.ci_low:.2f}-"
                        f"{t.ci_high:.2f}{more}) with {_per_side(t.passes_base, t.passes_head)}"
                        f", where a case among {len(timed)} is tested with {need}+ a side")
        out.append(f"timing was NOT TESTED where it read slower: {'; '.join(what)}; to test it, "
                   f"a2bench run --processes {need if untested else MIN_PASSES} on both sides")
    if s is not None and s.p_adjusted is not None and s.ci_high > limit:
        # a pass that could not have failed says so: 5 noisy passes a side had read "PASS: no
        # regression" beside a suite interval of 0.41-5.13. A machine's noise widens the
        # interval; one narrower than the threshold is narrowed by passes, not by quiet.
        quiet = " or a quieter machine" if s.ci_high / s.ci_low >= limit else ""
        here = _per_side(s.passes_base, s.passes_head)
        out.append(f"the suite's 95% CI reaches {s.ci_high:.2f}x, past the {pct} threshold: a "
                   f"slowdown that large is not ruled out ({here} here: more, with a2bench run "
                   f"--processes,{quiet} narrow it)")
    return out


def _per_side(base: int, head: int) -> str:
    """Pass counts per side: `3 passes a side`, `1 base and 3 head passes`."""
    if base == head:
        return f"{base} pass{'' if base == 1 else 'es'} a side"
    return f"{base} base and {head} head pass{'' if head == 1 else 'es'}"
