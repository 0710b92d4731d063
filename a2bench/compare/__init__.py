"""Gate HEAD results against BASE results: exact metrics must match, timings must not regress.

Two kinds of evidence, two rules:
- Exact metrics (analytic MACs, FLOPs and bytes, and the counters' MACs) are deterministic, so any
  difference is a failure. `--exact-only` checks these (and statuses) and never reads a timing,
  so it cannot flake and can gate every commit.
- Latency is noisy, so a case fails only when it is slower beyond the threshold *with confidence*:
  a one-sided test (head slower) is significant after a Holm correction, AND a lower confidence
  bound of the head/base latency ratio exceeds 1 + threshold. The test alone would flag a 1% shift
  once there is enough data. The bound: the suite row's is the low end of its 95% interval (2.5%
  error); the C cases in the Holm family share the other 2.5% (Bonferroni), each one-sided at
  1 - 0.025/C: Moses's bound, the case's rank test inverted (timing.case_bound), exact for any
  distribution of pass medians where head's are base's scaled. So where no case is truly slower
  than the threshold, the chance that any bound exceeds it, and so that the gate fails on
  timing, is at most ALPHA, however many cases. Each case's 95% CI low end alone had no
  multiplicity control, and the bootstrap's bound that followed was narrow at 5-6 passes.

The unit of replication is the pass (`a2bench run --processes P`: each pass runs the suite in a
fresh worker process). Measured on a 2-core machine, one process's samples of a case are all fast
or all slow (up to 1.55x apart between processes of the same code), while each process's own
interval is +-1.5%: the state that decides (allocation addresses, thread placement) is fixed per
process, so samples from one process say nothing about it. Hence, per case and side, each pass is
summarised by its median, and:
- ratio = median over head pass medians / median over base pass medians (each process one vote,
  however many samples its time budget allowed, and one disturbed pass of three cannot move it);
- 95% CI: two-level (cluster) bootstrap: passes resampled with replacement, then samples within
  each chosen pass, so the interval carries both the between-process and the sampling spread;
- p: with >= MIN_PASSES passes on both sides, the exact one-sided Mann-Whitney test on the pass
  medians. Its smallest p is 1 / C(2P, P) (0.05 for 3 passes a side, 1/70 for 4, 1/252 for 5,
  1/924 for 6), so a case can only fail with head's every pass slower than base's every pass,
  and in a Holm family of K cases only where that p is under 0.025/K, the cases' share of ALPHA
  (timing.family_entry_p: there the bound's error is that p, and it covers Holm's K + 1 tests):
  4 passes for 1 case, 5 for up to 6, 6 for up to 23, 7 for up to 85 (passes_for_one_case). With
  fewer passes the p-value falls back to the raw samples, as before --processes existed, and the
  report says that the between-process variance was not measured.
- The suite row: all timed cases together, one score per pass (that process's mean log latency
  over the cases, each case centred on its base mean), which averages the per-case process noise
  over the suite while keeping what the cases of one process share. ratio = exp(mean head score -
  mean base score), the geometric mean over cases and passes; 95% Welch t interval; p: one-sided
  Welch t-test. A t interval stays honest with 3-5 replicates, where a percentile bootstrap over
  so few clusters is too narrow. It needs >= MIN_PASSES passes a side and joins the cases in one
  Holm family, so the family-wise error stays at ALPHA. With 3 passes a side it is the only
  timing test that can fail (see above); with fewer it is reported (geometric mean of the case
  ratios, bootstrap interval) but not tested.
- Holm family: the suite row and every case whose test can reach significance in it with its
  pass counts (Tarone's rule, timing.holm_family: the least K for which K or fewer cases can
  reach ALPHA/2/K); with 3 passes a side no case can (smallest p 0.05), and with 5 (1/252) none
  among 7 or more: decided from the pass counts before any latency is read, it costs nothing
  in validity. A single timed case is a suite of one.

`--normalize` divides each pass's samples by the reference kernel (a fixed matmul) timed in the
same worker right before each case, so a machine that is uniformly slower does not read as a
regression. The divisor is the median reference over the few cases run around that one in the same
pass, so that a burst of load during one 50 ms reference measurement does not become a regression
of its case. It also divides out most of a change in thread count (the reference uses the same
threads), which is one reason a thread difference is reported as an environment warning.

Pure analysis: pandas, numpy and scipy over the stored results. Never imports torch.

The package: model.py holds the rules (the constants above) and the records; load.py reads a
results folder; timing.py the statistics; checks.py the exact, status, environment and run
checks; text.py the terminal text. This module compares, judges and sets the exit status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

# Every name tests and scripts reach as `a2bench.compare.X` is imported here, so that it keeps
# working (and a test's monkeypatch of it reaches the code below, which looks it up here).
from a2bench.compare.checks import (
    differing,
    environment_warnings,
    exact_failures,
    pass_warnings,
    peak_warning,
    reference_note,
    reference_spread_warnings,
    sequence_warnings,
    status_failures,
)
from a2bench.compare.load import load_side
from a2bench.compare.model import (
    ALPHA,
    BOOTSTRAP_CHUNK_ELEMENTS,
    BOOTSTRAP_RESAMPLES,
    CI_LEVEL,
    COUNTER_METRICS,
    COUNTER_OFF_MARKERS,
    ENV_KEYS,
    EXACT_ENV_KEYS,
    EXACT_METRICS,
    MACHINE_KEYS,
    MIN_PASSES,
    MIN_SAMPLES,
    RECOMMENDED_PASSES,
    REFERENCE_NOTE_PCT,
    REFERENCE_SPREAD,
    REFERENCE_WINDOW,
    SUITE_LABEL,
    CaseResult,
    Comparison,
    Key,
    Side,
    SuiteResult,
    Timing,
)
from a2bench.compare.text import format_report, table
from a2bench.compare.timing import (
    bootstrap_ratio_ci,
    case_bound,
    case_level,
    case_seed,
    compare_timing,
    family_divisor,
    family_entry_p,
    hierarchical_medians,
    holm,
    holm_family,
    mann_whitney_slower,
    pass_indices,
    pass_scores,
    passes_for_one_case,
    percentile_ci,
    rank_count_cdf,
    samples_of,
    side_references,
    smallest_p,
    smallest_rank_p,
    smoothed_references,
    suite_timing,
    welch_slower,
)
from a2bench.errors import InputError, output_lost
from a2bench.formatting import plural, significant
from a2bench.run.lock import live_writer
from a2bench.run.store import (
    FINISHED,
    INTERRUPTED,
    STOPPED,
    ending,
    planned_passes,
    resume_line,
    stopped_past_its_plan,
    stored_ending,
)
from a2bench.slurm.merge import ending_now

__all__ = [
    # rules and records (model.py)
    "ALPHA", "BOOTSTRAP_CHUNK_ELEMENTS", "BOOTSTRAP_RESAMPLES", "CI_LEVEL",
    "COUNTER_METRICS", "COUNTER_OFF_MARKERS", "ENV_KEYS", "EXACT_ENV_KEYS", "EXACT_METRICS",
    "MIN_PASSES", "MIN_SAMPLES", "RECOMMENDED_PASSES", "REFERENCE_NOTE_PCT", "REFERENCE_SPREAD",
    "REFERENCE_WINDOW", "SUITE_LABEL", "CaseResult", "Comparison", "Key", "Side", "SuiteResult",
    "Timing",
    # loading (load.py)
    "load_side",
    # statistics (timing.py)
    "bootstrap_ratio_ci", "case_bound", "case_level", "case_seed", "compare_timing",
    "family_divisor", "family_entry_p", "hierarchical_medians", "holm",
    "holm_family", "mann_whitney_slower", "pass_indices", "pass_scores", "passes_for_one_case",
    "percentile_ci", "rank_count_cdf", "samples_of", "side_references", "smallest_p",
    "smallest_rank_p", "smoothed_references",
    "suite_timing", "welch_slower",
    # checks (checks.py)
    "environment_warnings", "exact_failures", "pass_warnings", "peak_warning", "reference_note",
    "reference_spread_warnings", "sequence_warnings", "status_failures",
    # text (text.py)
    "format_report", "table",
    # the comparison (here)
    "compare", "exit_status", "judge_timings", "run_compare",
]

# ----------------------------------------------------------------------------- the comparison

def compare(base_dir: Path, head_dir: Path, threshold_pct: float = 10.0, normalize: bool = False,
            exact_only: bool = False) -> Comparison:
    base = load_side(Path(base_dir), "base")
    head = load_side(Path(head_dir), "head")
    if Path(base_dir).resolve() == Path(head_dir).resolve():  # it would pass, whatever it holds
        raise InputError(f"{head_dir}: the same results folder as the base; expected the head "
                         "run's own folder")
    common = [k for k in base.merged if k in head.merged]
    if not common:
        raise InputError(f"{head_dir}: no case in common with {base_dir} (expected results of "
                         "the same suite, matched by block, device, dtype and shape)")
    base_refs = {} if exact_only else side_references(base)
    head_refs = {} if exact_only else side_references(head)
    if normalize and not exact_only:
        for role, refs, folder in (("base", base_refs, base_dir), ("head", head_refs, head_dir)):
            if not refs:  # every case would read "not timed", and the gate pass on nothing
                raise InputError(f"--normalize: {folder} ({role}) holds no reference kernel "
                                 "time (reference_s); expected runs that timed it, or compare "
                                 "without --normalize")
    results = [_compare_case(key, base, head, threshold_pct, normalize, exact_only,
                             base_refs, head_refs)
               for key in sorted(set(base.merged) | set(head.merged), key=_sort_key)]

    # Holm over every case that was timed, and the suite row when it is tested: the gate asks
    # "is anything slower?", so the error rate to control is that of the whole family. A case
    # whose exact test on pass medians cannot reach significance in the family with its pass
    # counts (3 a side: smallest p 1/20; 5 a side, 1/252, among 7 cases or more) can never fail
    # on timing whatever its data, so it is left out (holm_family: Tarone's rule, from the pass
    # counts alone, before any latency is read) instead of diluting the tests that can.
    tested = [r for r in results if r.timing is not None]
    unfinished = unfinished_sides({"base": (base_dir, base), "head": (head_dir, head)})
    lost_cases, lost = lost_records({"base": (base_dir, base), "head": (head_dir, head)})
    unfinished += lost_cases
    if not (exact_only or tested or unfinished or any(r.failures for r in results)):
        # it had printed "PASS: no regression" having timed nothing (a base of older records
        # without raw samples, or one whose every case failed)
        why = next((w.split("timing not compared: ", 1)[1] for r in results for w in r.warnings
                    if "timing not compared: " in w),
                   "no case ended ok on both sides")
        raise InputError(f"{base_dir} against {head_dir}: no case was timed on both sides (e.g. "
                         f"{why}), so nothing could pass or fail on timing; expected ok cases "
                         "with raw samples on both sides, or --exact-only for the exact checks "
                         "alone")
    suite = None if exact_only else suite_timing([r.timing for r in tested if r.timing])
    family = judge_timings(tested, suite, threshold_pct)

    pairs = [(base.merged[k], head.merged[k]) for k in common]
    warnings = environment_warnings(base.env, head.env, Path(base_dir), Path(head_dir),
                                    exact_only)
    sides = {"base": base, "head": head}
    warnings += lost + unended_sides({"base": (base_dir, base), "head": (head_dir, head)})
    if not exact_only:
        warnings += pass_warnings(sides)
        warnings += sequence_warnings(base, head)
        warnings += reference_note(pairs, normalize)
        warnings += reference_spread_warnings(sides)
    notes = [f"{sum(1 for r in results if r.base and r.head)} cases in common, "
             f"{sum(1 for r in results if r.head is None)} only in base, "
             f"{sum(1 for r in results if r.base is None)} only in head"]
    if not exact_only:
        notes.append(_passes_note(base.pass_count, head.pass_count, tested, family,
                                  _short_cases(sides)))
    return Comparison(Path(base_dir), Path(head_dir), threshold_pct, normalize, exact_only,
                      results, warnings, notes, suite, unfinished,
                      tuple(differing(base.env, head.env, MACHINE_KEYS)))


def judge_timings(tested: list[CaseResult], suite: SuiteResult | None,
                  threshold_pct: float) -> list[CaseResult]:
    """Holm over the family (holm_family's cases and the suite row when it is tested), then
    each timed case's and the suite row's verdict; returns the cases in the family.

    A verdict SLOWER needs both the Holm-corrected p (against no change) under ALPHA and a lower
    confidence bound of the ratio above the threshold: the suite row's 95% CI low end, and for
    the C cases in the family one-sided at case_level(C) = 1 - ALPHA/2/C (Bonferroni), so that
    when no case is truly slower than the threshold the chance of any timing failure is at most
    ALPHA/2 + C * ALPHA/2/C = ALPHA. Each case's 95% CI low end alone had no such control."""
    limit = 1 + threshold_pct / 100
    in_family = holm_family([r.timing for r in tested if r.timing])
    family = [r for r, member in zip(tested, in_family, strict=True) if member]
    p_values = [r.timing.p_value for r in family if r.timing]
    if suite is not None and suite.p_value is not None:
        p_values.append(suite.p_value)
    adjusted = holm(p_values)
    level = case_level(len(family))
    for r, p in zip(family, adjusted, strict=False):
        r.p_adjusted = p
        if r.timing:
            r.bound, r.bound_level = case_bound(r.timing, level), level
    for r in tested:
        _judge_timing(r, limit, threshold_pct, r in family, len(tested))
    if suite is not None:
        if suite.p_value is not None:
            suite.p_adjusted = adjusted[-1]
        _judge_suite(suite, limit, threshold_pct)
    return family


def unfinished_sides(sides: dict[str, tuple[Path, Side]]) -> list[str]:
    """A failure for each side whose sweep did not reach its end (interrupted, died, or still
    running): its missing cases are not compared, so a gate that passed on it would pass on
    whatever a crash left out. A run too old to record its end (store.ending ""), or one that
    stored every case pass it planned (stopped in its closing calibration, a Slurm set cancelled
    then), counts as finished."""
    out = []
    for role, (folder, side) in sides.items():
        # a side without its environment.json is bad input, refused by load_side
        how = stored_ending(side.env, sum(len(g) for g in side.passes.values()))
        if how in (INTERRUPTED, STOPPED):
            why = "interrupted" if how == INTERRUPTED else "no end recorded: it died or still runs"
            # as the run was started (its flags); a Slurm partition's sweep is its parent
            slurm = side.env.get("executor") == "slurm"
            sweep = Path(folder).parent if slurm else Path(folder)
            if who := live_writer(sweep):  # resuming it would be refused: it is being written
                out.append(f"{role} {folder}: the sweep has not finished: {who} is writing "
                           f"{sweep} now; its missing cases are not compared: compare once it "
                           "ends")
                continue
            if ending_now(Path(folder)) == FINISHED:  # read before the probe: it ended between
                out.append(f"{role} {folder}: the sweep finished while it was read; the cases "
                           "it stored meanwhile are not compared: compare again")
                continue
            again = resume_line(side.env, sweep, slurm)
            out.append(f"{role} {folder}: the sweep did not finish ({why}); its missing cases "
                       f"are not compared: resume it ({again}) or run it again")
    return out


def unended_sides(sides: dict[str, tuple[Path, Side]]) -> list[str]:
    """A warning for each side that stored every case pass it planned but recorded no end
    (stopped after its last case, before its closing calibration): compared on them all, as
    read from results.jsonl, but its results.csv may lag them (a kill between a record's fsync
    and the CSV's rewrite), which nothing had said, nor that --resume rewrites it."""
    out = []
    for role, (folder, side) in sides.items():
        where = stopped_past_its_plan(side.env, sum(len(g) for g in side.passes.values()))
        if not where:
            continue
        slurm = side.env.get("executor") == "slurm"
        sweep = Path(folder).parent if slurm else Path(folder)
        kept = f"all {planned_passes(side.env)} case passes it planned are stored and compared"
        if who := live_writer(sweep):
            out.append(f"{role} {folder}: {who} is writing {sweep} now; {kept}")
        elif ending_now(Path(folder), recorded=True) != FINISHED:  # not ended since it was read
            why = "interrupted" if ending(side.env) == INTERRUPTED else "no end recorded"
            out.append(f"{role} {folder}: {why} {where}; {kept}, but its results.csv may lag "
                       f"results.jsonl: finish it with: {resume_line(side.env, sweep, slurm)}")
    return out


def lost_records(sides: dict[str, tuple[Path, Side]]) -> tuple[list[str], list[str]]:
    """Failures and warnings for a finished run that stored fewer case passes than it planned:
    it lost records (a torn last line of results.jsonl, dropped when read, or a line removed).
    Where a case of the other side is then missing from it entirely, and the missing passes
    could hold a whole case, that is a failure naming the case, as for an unfinished run: the
    case would pass as "only in base" unseen (it had passed --exact-only with two warnings).
    Otherwise a warning: compared on what is left (it had been silent, the case reading one
    pass fewer).

    Which cases a run planned is not stored (environment.json names the suite's file, which may
    have changed since, and auto_sizes records only its auto sizes), so whether a case only in
    the other side was lost is told from the count: a case lost whole took all its passes, at
    least as many as the fewest any case of this side holds. Missing passes fewer than that
    cannot have held one, so the cases only in the other side are its suite's own (auto sizes
    of another run, a case added): one lost record had failed the gate naming every one of
    them."""
    fails, warns = [], []
    for role, (folder, side) in sides.items():
        stored = sum(len(g) for g in side.passes.values())
        planned = planned_passes(side.env)
        if not (planned and stored < planned and stored_ending(side.env, stored) == FINISHED):
            continue
        other_role, (_, other) = next((r, s) for r, s in sides.items() if r != role)
        gone = [m.case.label() for k, m in other.merged.items() if k not in side.merged]
        missing = planned - stored
        missing_text = f"{missing} {'pass is' if missing == 1 else 'passes are'} missing"
        fewest = max(1, min((len(g) for g in side.passes.values()), default=1))
        whole = missing // fewest  # the most cases the missing passes could have held
        kept = f"{role} {folder}: {stored} of the {planned} case passes it planned are stored"
        if not gone or not whole:
            mine = "" if not gone else (
                f"; the {'case' if len(gone) == 1 else f'{len(gone)} cases'} only in "
                f"{other_role} cannot be among them "
                f"({missing_text}, and a case lost whole takes {fewest} or more, as each case "
                f"here holds): {other_role}'s own suite's, such as sizes it chose itself")
            warns.append(f"{kept} (a record lost, such as a torn last line of results.jsonl); "
                         f"compared on those, and --resume runs the missing ones{mine}")
            continue
        names = ", ".join(gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
        slurm = side.env.get("executor") == "slurm"
        again = resume_line(side.env, Path(folder).parent if slurm else folder, slurm)
        it = "it" if len(gone) == 1 else "them"
        which = ("" if whole >= len(gone) else
                 f" ({missing_text}, enough for {whole} of these {len(gone)} cases whole; the "
                 f"rest may be {other_role}'s suite's own)")
        fails.append(f"{kept}, none of them of {names} (which {other_role} has){which}: records "
                     "lost (a line of results.jsonl removed or torn), and a case lost whole would "
                     f"pass as \"only in {other_role}\"; restore the file, or measure {it} again "
                     f"({again})")
    return fails, warns


def _short_cases(sides: Mapping[str, Side]) -> str:
    """The cases a side holds fewer passes of than its run has (a pass lost, or resumed with
    fewer): each is tested on its own passes, and the note's count is the run's."""
    short = []
    for role, side in sides.items():
        counts = [len(g) for g in side.passes.values()]
        fewer = sum(c < side.pass_count for c in counts)
        if fewer:
            have = (f"{min(counts)}" if min(counts) == side.pass_count - 1
                    else f"{min(counts)}-{side.pass_count - 1}")
            short.append(f"{plural(fewer, 'case')} of the {role} "
                         f"{'has' if fewer == 1 else 'have'} {have} passes")
    return "; " + "; ".join(short) if short else ""


def _passes_note(n_base: int, n_head: int, tested: Sequence[CaseResult],
                 family: Sequence[CaseResult], short: str = "") -> str:
    """The runs' pass counts, the cases' own where they have fewer (`short`), and which cases
    the Holm family holds: said from each case's own pass counts, as holm_family decides (the
    runs' counts had claimed "only the suite row can fail" beside 6 cases in the family)."""
    note = (f"passes (worker processes) per case: {n_base} base, {n_head} head{short}; the pass "
            "is the unit of replication")
    if min(n_base, n_head) < MIN_PASSES:
        return note + f" only with {MIN_PASSES}+ passes a side (see the warnings)"
    left = [r for r in tested if r not in family and r.timing]
    if not left:
        return note
    k = family_divisor([r.timing for r in tested if r.timing])
    entry = family_entry_p(k)
    level = f"{entry:g}" if k == 1 else f"{ALPHA / 2:g}/{k} = {entry:.2g}"
    groups: dict[tuple[int, int], list[CaseResult]] = {}
    for r in left:
        assert r.timing is not None
        groups.setdefault((r.timing.passes_base, r.timing.passes_head), []).append(r)
    parts = []
    for (b, h), rs in sorted(groups.items()):
        blocks = Counter(r.label.split()[0] for r in rs)
        what = (rs[0].label if len(rs) == 1 else
                ", ".join(f"{n} {block}" for block, n in blocks.items()) + " cases")
        floor = (f"smallest p {smallest_rank_p(b, h):.2g}" if min(b, h) >= MIN_PASSES
                 else f"under {MIN_PASSES} passes a side: not tested")
        parts.append(f"{what} at {b}/{h} passes ({floor})")
    where = (f"none of the {plural(len(tested), 'timed case')} is in the Holm family, so only "
             "the suite row can fail on timing" if not family else
             f"the Holm family holds the suite row and {len(family)} of the "
             f"{plural(len(tested), 'timed case')}")
    return (f"{note}; {where}; left out (p in parentheses), their exact test unable to reach "
            f"p < {level} with their passes: {'; '.join(parts)}; "
            f"{passes_for_one_case(len(tested))}+ passes a side let a single case fail among "
            f"{len(tested)}")


def _compare_case(key: Key, base: Side, head: Side, threshold_pct: float, normalize: bool,
                  exact_only: bool, base_refs: Mapping[tuple[Key, int], float],
                  head_refs: Mapping[tuple[Key, int], float]) -> CaseResult:
    """Everything about one case except the timing verdict, which needs all cases' p-values."""
    b, h = base.merged.get(key), head.merged.get(key)
    if b is None or h is None:
        present = b if b is not None else h
        assert present is not None
        r = CaseResult(key, present.case.label(), b, h,
                       verdict="only in base" if h is None else "only in head")
        if b is not None and b.status == "ok":
            r.warnings.append(f"{r.label}: ok in base but missing from head; not compared")
        return r
    r = CaseResult(key, b.case.label(), b, h)
    exact, exact_warns = exact_failures(b, h)
    status = status_failures(b, h)
    r.failures += exact + status
    r.warnings += exact_warns
    if exact:
        r.verdict = "EXACT CHANGED"
    elif status:
        r.verdict = f"NOW {h.status.upper()}"
    elif b.status != "ok" or h.status != "ok":
        r.verdict = b.status if b.status == h.status else f"{b.status} -> {h.status}"
    else:
        r.verdict = "ok" if exact_only else "not timed"
    if exact_only or b.status != "ok" or h.status != "ok":
        return r
    r.warnings += peak_warning(b, h, threshold_pct)
    bp, hp = base.passes[key], head.passes[key]
    t = compare_timing(bp, hp, normalize, case_seed(key),
                       {m.process: base_refs[(key, m.process)] for m in bp
                        if (key, m.process) in base_refs},
                       {m.process: head_refs[(key, m.process)] for m in hp
                        if (key, m.process) in head_refs})
    if isinstance(t, Timing):
        r.timing = t
    else:
        r.warnings.append(f"{r.label}: timing not compared: {t}")
    return r


# ----------------------------------------------------------------------------- judgement

def _verdict(ratio: float, bound: float | None, ci_high: float, p: float | None,
             limit: float) -> str:
    """`bound`: the ratio's lower bound at the family's level (judge_timings); None, as p, for
    a test outside the family."""
    if p is not None and bound is not None and p < ALPHA and bound > limit:
        return "SLOWER"
    if ci_high < 1 / limit:
        return "faster"
    if ratio > limit:
        return "slower?"
    return "ok"


def _judge_timing(r: CaseResult, limit: float, threshold_pct: float, in_family: bool,
                  cases: int) -> None:
    t, p = r.timing, r.p_adjusted
    assert t is not None
    verdict = _verdict(t.ratio, r.bound, t.ci_high, p, limit)
    fewest = min(t.passes_base, t.passes_head)
    if fewest < MIN_PASSES and verdict in ("SLOWER", "slower?"):
        # One process's samples share its luck (a slow core, a noisy neighbour): a run twice
        # on one commit differed by up to 1.55x, so fewer passes than this are reported only.
        word = "pass" if fewest == 1 else "passes"
        counts = (f"{fewest} {word} a side" if t.passes_base == t.passes_head
                  else f"{t.passes_base} base, {t.passes_head} head passes")
        r.warnings.append(
            f"{r.label}: median {t.ratio:.2f}x slower (95% CI {t.ci_low:.2f}-{t.ci_high:.2f}); "
            f"not tested: {counts} (a case fails on timing only with "
            f"{MIN_PASSES} or more passes on each side)")
        verdict = f"not tested: {counts}"
    elif verdict == "SLOWER":
        r.failures.append(
            f"{r.label}: {t.ratio:.2f}x slower (95% CI {t.ci_low:.2f}-{t.ci_high:.2f}, "
            f"p={p:.2g} after Holm, {_bound_text(r.bound, r.bound_level)}), beyond the "
            f"{threshold_pct:g}% threshold")
    elif verdict == "slower?":
        # a rerun with as few passes could not confirm it either: its test cannot reach ALPHA
        advice = (f"{_bound_text(r.bound, r.bound_level)}; rerun to check" if in_family else
                  f"with {t.passes_base}/{t.passes_head} passes a case's test cannot reach "
                  f"p < {family_entry_p(cases):.2g} among {plural(cases, 'case')}: rerun both "
                  f"sides with --processes "
                  f"{passes_for_one_case(cases)} or more to test it")
        r.warnings.append(
            f"{r.label}: median {t.ratio:.2f}x slower but not confirmed (95% CI "
            f"{t.ci_low:.2f}-{t.ci_high:.2f}, p={t.p_value if p is None else p:.2g}); {advice}")
    # a case whose exact metrics changed keeps that verdict first, and adds the timing one
    r.verdict = verdict if r.verdict in ("ok", "not timed") else f"{r.verdict}, {verdict}"


def _judge_suite(s: SuiteResult, limit: float, threshold_pct: float) -> None:
    what = f"the {s.cases} timed cases together" if s.cases > 1 else "the one timed case"
    ci = f"95% CI {s.ci_low:.2f}-{s.ci_high:.2f}"
    if s.p_adjusted is None:
        s.verdict = "not tested"
        if s.ci_low > limit:
            s.warnings.append(
                f"{what} are {s.ratio:.2f}x slower (geometric mean, {ci}) but not tested: fewer "
                f"than {MIN_PASSES} passes a side; rerun both sides with --processes "
                f"{RECOMMENDED_PASSES} or more")
        return
    s.verdict = _verdict(s.ratio, s.ci_low, s.ci_high, s.p_adjusted, limit)
    if s.verdict == "SLOWER":
        s.failures.append(
            f"{what}: {s.ratio:.2f}x slower (geometric mean, {ci}, p={s.p_adjusted:.2g} after "
            f"Holm, Welch t on {s.passes_base}/{s.passes_head} passes), beyond the "
            f"{threshold_pct:g}% threshold")
    elif s.verdict == "slower?":
        s.warnings.append(
            f"{what}: {s.ratio:.2f}x slower (geometric mean) but not confirmed ({ci}, "
            f"p={s.p_adjusted:.2g}); rerun to check")


def _bound_text(bound: float | None, level: float | None) -> str:
    """The bound the verdict compared with the threshold, and its level."""
    if bound is None or level is None:
        return "no bound: not tested"
    return f"one-sided {significant(level * 100, 3)}% lower bound {bound:.2f}"


def _sort_key(key: Key) -> tuple[str, ...]:
    # None and int fields mixed in one tuple do not order; strings with padded ints do.
    return tuple("" if v is None else f"{v:>12}" if isinstance(v, int) else str(v) for v in key)


# ----------------------------------------------------------------------------- the command

def exit_status(c: Comparison) -> int:
    """The exit status of `a2bench compare`: 1 when anything failed (a regression), else 0."""
    return c.exit_code


def run_compare(base: Path, head: Path, threshold_pct: float = 10.0, normalize: bool = False,
                exact_only: bool = False) -> int:
    """The `a2bench compare` command: print the report; 1 on a regression, else 0.

    The status is the verdict's even where the report's reader has left (`| head`, `| true`):
    a PASS had exited 1 there, as a regression, from the command line's closed-pipe branch."""
    c = compare(base, head, threshold_pct, normalize, exact_only)
    status = exit_status(c)
    try:
        print(format_report(c), flush=True)
    except OSError as e:  # its reader left, or it is full: the verdict's status all the same
        output_lost(e)
    return status
