"""The device side of auto sizes: measure what the plan needs, plan, and narrow the intervals.

plan.py decides from numbers; this module gets them on the device (the per-call overhead at the
smallest shape, the block's rate at a probe size) through the measuring worker, and after the
first round reads the latency fits (a2bench.analysis) to spend the budget's rest on more passes
of the windows whose intervals are too wide."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from a2bench import fitting as ft
from a2bench.case import Case
from a2bench.catalog import expected_cost, spec
from a2bench.measure.cache_probe import planned_caches
from a2bench.run import plan as pl
from a2bench.run import promise, shares
from a2bench.run import walltime as wt
from a2bench.run.calibration import end_calibration_s
from a2bench.run.floor import with_reasons
from a2bench.run.narrowing import (  # noqa: F401  (moved there; re-exported)
    Width,
    decided,
    latency_widths,
    variant,
    window_cases,
)
from a2bench.run.runner import Worker, WorkerLost, overhead_cases, replacement
from a2bench.run.summary import budget_line, noise_line, off_model_line, plan_line
from a2bench.suite import Suite, auto_templates

PILOT_TIME_S = 0.25  # timed sampling per pilot size


def measured_llc(worker: Worker, device: str, memory_budget: int,
                 timeout: float) -> tuple[float | None, dict[str, Any]]:
    """The effective last-level cache from the worker's copy-bandwidth probe (None: not read)."""
    try:
        kind, reply = worker.request("cache_probe", {"device": device,
                                                     "memory_budget": memory_budget}, timeout)
    except WorkerLost:
        return None, {}
    if kind != "cache_probe":
        return None, {}
    return reply.get("llc_bytes"), reply


def low_quantile(entry: dict[str, Any]) -> float:
    """A pilot size's latency, summarised as the fit summarises a pass (fitting.summary_of)."""
    samples = [s for s in entry.get("samples_s") or []
               if isinstance(s, (int, float)) and math.isfinite(s) and s > 0]
    if samples:
        return float(ft.summary_of(np.array(samples, float)))
    return float(entry.get("median_s") or math.nan)


def _legal(case: Case) -> bool:
    return not spec(case.block).problems(case.to_dict())


def first_legal(template: Case, axis: tuple[str, ...]) -> Case | None:
    """The template at the smallest size along `axis` its block accepts (None: no size does):
    the planner chooses among legal sizes only, so a block is traced at one of them."""
    return next((c for c in (pl.at(template, axis, s) for s in range(1, pl.MAX_SIDE + 1))
                 if _legal(c)), None)


# The mmap threshold a run that keeps freed memory gives its workers (sweep.MALLOC_REUSE_ENV):
# a tensor past it is still mapped afresh on every call, so the planner keeps the largest
# tensor on one side of it (the non-local order's 5 GB N x N at b 1, c 8, N 35,344 ran 5.7x
# slower than at N 31,684 for 1.31x the positions, and left its window one size).
REUSED_MMAP_THRESHOLD = 2**32


def machine_of(suite: Suite, env: dict[str, Any], gemm: float | None, memory_budget: int,
               time_budget_s: float, passes: int, malloc_reuse: bool,
               llc: float | None = None, memory_every_pass: bool = False,
               threads: int = 1) -> pl.Machine:
    """The planner's machine; `llc` is the last-level cache measured by copy bandwidth
    (measure.cache_probe), which replaces one sysfs names where it lies well under it (a VM's
    share: cache_probe.planned_caches); `threads` the run's torch threads."""
    caches, _ = planned_caches(env.get("caches") or {}, llc, suite.device)
    mmap = (env.get("allocator") or {}).get("mmap_threshold_bytes")
    if suite.device != "cpu":  # CUDA's caching allocator keeps what it maps
        mmap = None
    elif malloc_reuse:  # glibc told to keep freed memory: past this it still maps every call
        mmap = REUSED_MMAP_THRESHOLD
    # An auto run's batches are windows, timed in chunks of one length on a CPU (planned_s)
    return pl.Machine(suite.device, caches, float(mmap) if mmap else None, memory_budget, gemm,
                      time_budget_s, passes, memory_every_pass,
                      matched_chunks=suite.device == "cpu", threads=threads)


@dataclass
class Prober:
    """Times cases for the plan in a worker of its own, with a short time budget (PILOT_TIME_S:
    the pilot needs a size's low quantile to a few per cent, not the run's precision). `worker`
    is the sweep's own, handed back to it after planning."""

    worker: Worker | None
    settings: Any  # the sweep's a2bench.run.worker.Settings
    device: str
    dtype: str
    timeout: float
    _quick: Worker | None = None
    # (first, second) timings of the pilot sizes timed twice (repeat_pilot): the machine's noise
    repeats: list[tuple[float, float]] = field(default_factory=list)

    def start(self) -> Worker:
        return replacement(self.settings)  # twice, then the sweep stops in one line

    def time(self, case: Case) -> float:
        payload = {"device": self.device, "dtype": self.dtype, "case": case.to_dict()}
        try:
            if self._quick is None or not self._quick.alive():
                self._quick = Worker(replace(self.settings, time_budget_s=PILOT_TIME_S))
            kind, reply = self._quick.request("overhead", payload, self.timeout)
        except WorkerLost:
            self._quick = None
            return math.nan
        return low_quantile(reply) if kind == "overhead" else math.nan

    def close(self) -> None:
        if self._quick is not None:
            self._quick.kill()
            self._quick = None


def overheads_of(templates: Sequence[Case], record: dict[str, Any]) -> list[float]:
    """Each template's per-call overhead: its entry at the smallest legal shape (NaN if none)."""
    entries = [e for e in record.get("cases") or [] if "error" not in e]
    out = []
    for t in templates:
        small = overhead_cases([t])
        want = small[0].to_dict() if small else None
        match = [e for e in entries if want and all(e.get(k) == v for k, v in want.items())]
        out.append(low_quantile(match[0]) if match else math.nan)
    return out


def make_plan(suite: Suite, machine: pl.Machine, overhead_record: dict[str, Any],
              prober: Prober, budget_s: float, started: float, fixed_s: float,
              on_stage: Callable[[str], None] = lambda s: None,
              target: float = pl.DEFAULT_TARGET) -> pl.Plan:
    """Every auto template's sizes (see plan_sizes), then planned once more with the time the
    probes left, shared out by need (shares.shared_out)."""
    templates = auto_templates(suite)
    overheads = overheads_of([t for t, _ in templates], overhead_record)
    groups = []
    for (template, axis), overhead in zip(templates, overheads, strict=True):
        on_stage(f"planning {template.label(auto=axis)}")
        share = shares.group_share(budget_s, time.perf_counter() - started, fixed_s, len(templates))
        groups.append(plan_sizes(template, axis, overhead, machine, prober, share, target))
    # Every pilot's repeats, pooled: the noise is the machine's, not a block's (promise.Noise).
    # The groups are planned again below with it.
    machine = replace(machine, noise_spread=promise.repeat_spread(prober.repeats),
                      noise_repeats=len(prober.repeats))

    # The candidates of each variant, costed once: shared_out plans each group a few dozen
    # times while it bisects for the least share.
    points = {(g.template, g.axis): candidate_points(g.template, g.axis, machine) for g in groups}

    def replan(g: pl.GroupPlan, share: float) -> pl.GroupPlan:
        return pl.plan_group(g.template, g.axis, points[(g.template, g.axis)], g.overhead_s,
                             g.rate, g.rate_measured, machine, share, g.limits, target,
                             g.fast_rate, g.excluded)

    share = shares.group_share(budget_s, time.perf_counter() - started, fixed_s, len(groups))
    groups = [replan(g, share) for g in groups]
    groups = shares.shared_out(groups, share * len(groups), replan,
                           most_s=share * len(groups) / pl.FIRST_ROUND)
    checked = []
    for g in groups:
        on_stage(f"timing the ends of {g.label}'s window")
        checked.append(check_ends(g, prober, machine, max(share, g.predicted_wall_s), target))
    noise = replace(machine.noise, ratios=promise.log_ratios(prober.repeats))
    plan = pl.Plan(tuple(checked), budget_s, time.perf_counter() - started, fixed_s, noise)
    if plan.predicted_wall_s <= budget_s:
        return with_noise_budget(with_reasons(plan, points, machine), replan)
    # The ends took time the shares still held (calls of 1-2 s, timed cold: 6-25 s a block on
    # this repository's VM, and a plan 32 s over its budget): share again what is left. Each
    # group keeps the regime and the limits its ends were checked in, and what they said.
    share = shares.group_share(budget_s, plan.startup_s, fixed_s, len(checked))
    again = shares.shared_out(checked, share * len(checked), replan,
                              most_s=share * len(checked) / pl.FIRST_ROUND)
    kept = tuple(replace(a, note=f"{c.note}; then planned again in that regime with the time "
                                 f"the ends left ({a.predicted_wall_s:.0f} s)")
                 if a.feasible and a.regime == c.regime and a != c else c
                 for a, c in zip(again, checked, strict=True))
    return with_noise_budget(with_reasons(pl.Plan(kept, budget_s, time.perf_counter() - started,
                                                  fixed_s, noise), points, machine), replan)


def with_noise_budget(plan: pl.Plan, replan: Callable[[pl.GroupPlan, float], pl.GroupPlan]
                      ) -> pl.Plan:
    """The plan with the budget its measured noise needs (shares.decisive_budget), where that
    noise is over the quiet constants': what `plan` and `run` name beside the promise a
    loaded machine will not keep."""
    if not plan.noise.noisy:
        return plan
    most = pl.NOISE_BUDGET_FACTOR * plan.budget_s * pl.FIRST_ROUND
    return replace(plan, noise_budget_s=shares.decisive_budget(plan, replan, most))


ENDS_TRIES = 4  # windows timed before the one closest to its model is kept


def check_ends(g: pl.GroupPlan, prober: Prober, machine: pl.Machine, share: float,
               target: float) -> pl.GroupPlan:
    """The plan whose window's two ends, timed, grow as the model does (plan.ends_slopes).

    Where they do not, the window holds a transition the caches and the pilot missed (the
    non-local block's 37 MB affinity at N = 3025 still partly in a 32 MiB cache, on this
    repository's VM): the window moves up its regime once (its third size becomes its first),
    where the share affords it, and then the regime gives way to the next one down. After
    ENDS_TRIES windows the one closest to its model is kept, said in its note."""
    points = {p.size: p for p in candidate_points(g.template, g.axis, machine)}
    # A counted block's slope is its traced MACs' (measure/traced.py), not a model's.
    modelled = spec(g.template.block).has_cost
    whose, timed_to = ("the model's", "its model") if modelled else ("the counted MACs'",
                                                                    "its counted MACs")
    tried: list[tuple[float, pl.GroupPlan]] = []
    limits, moved = g.limits, set[str]()
    for _ in range(ENDS_TRIES):
        if not g.feasible:
            break
        lo, hi = points[g.choices[0].size], points[g.choices[-1].size]
        t_lo, t_hi = (prober.time(pl.at(g.template, g.axis, p.size)) for p in (lo, hi))
        measured, model = pl.ends_slopes(lo, hi, t_lo, t_hi, g.overhead_s)
        gap = abs(measured - model) if math.isfinite(measured) else math.inf
        said = (f"window ends timed ({t_lo * 1e3:.3g} ms at N = {lo.positions}, "
                f"{t_hi * 1e3:.3g} ms at {hi.positions}): slope {measured:.2f} against "
                f"{whose} {model:.2f}" if math.isfinite(measured) else "window ends not timed")
        checked = replace(g, note="; ".join(x for x in (g.note, said) if x))
        tried.append((gap, checked))
        if gap <= pl.ENDS_TOLERANCE or not math.isfinite(measured):
            return checked
        if g.regime not in moved:  # up its regime once, where the share affords it
            moved.add(g.regime)
            up = pl.plan_group(g.template, g.axis, list(points.values()), g.overhead_s, g.rate,
                               g.rate_measured, machine, share,
                               (g.choices[2].positions, limits[1]), target, g.fast_rate,
                               g.excluded)
            if up.feasible and up.regime == g.regime:
                g = up
                continue
        g = pl.plan_group(g.template, g.axis, list(points.values()), g.overhead_s, g.rate,
                          g.rate_measured, machine, share, limits, target, g.fast_rate,
                          (*g.excluded, g.regime))
    if not tried:
        return g
    best = min(tried, key=lambda t: t[0])[1]
    return replace(best, note=f"{best.note}; the closest of {len(tried)} windows timed to "
                              f"{timed_to} (no window within ±{pl.ENDS_TOLERANCE:g})")


def candidate_points(template: Case, axis: tuple[str, ...],
                     machine: pl.Machine) -> list[pl.Point]:
    """The sizes a plan may choose for `template` along `axis` on `machine`: legal for the
    block, within the memory budget, and kept to its side class (planner.candidates). A
    block without a cost model is traced without storage for its MACs and bytes (traced.py)."""
    block = spec(template.block)
    if block.has_cost:
        return pl.candidates(template, axis, partial(expected_cost, threads=machine.threads),
                             _legal, machine.memory_budget, block.side_class)
    from a2bench.measure.traced import trace  # torch's dispatch modes, for counted blocks only

    return pl.candidates(template, axis, trace, _legal, machine.memory_budget,
                         block.side_class)


def plan_sizes(template: Case, axis: tuple[str, ...], overhead: float, machine: pl.Machine,
               prober: Prober, share: float, target: float) -> pl.GroupPlan:
    """One block variant: a pilot on the device, then the plan inside the regime it found.

    The pilot times the block at sizes a factor PILOT_STEP apart in N, from where the overhead
    is small up to what the time share could afford. Inside one regime the time follows the
    work: between neighbours, ln t grows as ln MACs does, within PILOT_TOLERANCE. The caches
    sysfs names (a VM's shared L3 among them) do not always say where that holds, so the plan
    keeps to a stretch where the pilot saw it hold, and predicts each size's time with the
    slowest rate the pilot measured there (the budget's side). Where no stretch of MIN_SPAN
    holds, the caches alone decide."""
    points = candidate_points(template, axis, machine)
    if not points:
        return pl.plan_group(template, axis, points, overhead, pl.guessed_rate(machine), False,
                             machine, share, target=target)
    if not math.isfinite(overhead):
        overhead = prober.time(pl.at(template, axis, points[0].size))
    pilot = run_pilot(template, axis, points, overhead, machine, prober, share)
    stretch = steady_stretch(pilot, overhead, target)
    rate = _rate(pilot, overhead, stretch) if pilot else pl.guessed_rate(machine)
    fast = _rate(pilot, overhead, stretch, fastest=True) if pilot else None
    measured = bool(pilot)
    limits = (0.0, math.inf) if stretch is None else (stretch[0].positions, stretch[1].positions)
    kept = pl.plan_group(template, axis, points, overhead, rate, measured, machine, share,
                         limits, target, fast)
    if stretch is None or (kept.feasible and not past_case_limit(kept, points, machine)):
        return kept
    # The stretch may hold no regime with room for the sizes (the caches' margins cut it), or
    # room only for cases past the CPU's case limit: then the caches alone decide, as where
    # the pilot found no stretch. A pilot's stretch is 2x steps of one timing each; the limit
    # is a measured hazard (a held-out run's stretch began at N = 10000 for the non-local
    # order, whose window then went to 3.8 GB cases, and one call of 1 s took 14 s in a pass:
    # the run ended 173 s past its budget).
    free = pl.plan_group(template, axis, points, overhead, rate, measured, machine, share,
                         target=target, fast_rate=fast)
    if kept.feasible and not (free.feasible and not past_case_limit(free, points, machine)):
        return kept
    return free


def past_case_limit(g: pl.GroupPlan, points: Sequence[pl.Point], machine: pl.Machine) -> bool:
    """A CPU window with a case past plan.MAX_CASE_BYTES (where the limit had to give way)."""
    peaks = {p.size: p.peak for p in points}
    return machine.device == "cpu" and any(peaks[c.size] > pl.MAX_CASE_BYTES
                                           for c in g.choices)


PILOT_STEP = 2.0  # in N between pilot sizes (wide enough that 5 % noise moves a slope by 0.1)
PILOT_TOLERANCE = 0.12  # |d ln t / d ln MACs − 1| between neighbours within one regime
PILOT_MAX_CALL_S = 0.5  # no pilot size beyond this predicted time per call
# ... and up to this one whatever the share: a budget below the start-up leaves no share, and
# the pilot stopped at its first size (0.5 ms for the non-local order), whose rate, 2.5x the
# one its larger sizes ran at, set every window and the budget `plan` then asked for (147-310 s
# for one suite, as the budget given went from 1 to 120 s).
PILOT_MIN_CALL_S = 0.05


def run_pilot(template: Case, axis: tuple[str, ...], points: Sequence[pl.Point],
              overhead: float, machine: pl.Machine, prober: Prober,
              share: float) -> list[tuple[pl.Point, float]]:
    """(size, low-quantile seconds) at sizes PILOT_STEP apart, smallest to largest affordable."""
    # The largest call a window could hold: its 6 sizes' passes within the share.
    ceiling = min(PILOT_MAX_CALL_S,
                  max(share / (pl.SIZES * wt.calls_per_case(machine)), PILOT_MIN_CALL_S))
    out: list[tuple[pl.Point, float]] = []
    last_n = 0
    for p in points:
        if p.positions < last_n * PILOT_STEP:
            continue
        if out:  # predicted from the last timing, scaled by the work
            prev, seconds = out[-1]
            guess = overhead + (seconds - overhead) * p.macs_ratio(prev)
            if guess > ceiling:
                break
        seconds = prober.time(pl.at(template, axis, p.size))
        if not math.isfinite(seconds):
            break
        last_n = p.positions
        if seconds >= overhead / pl.OVERHEAD_TARGET / 4:  # below: all overhead, no signal
            out.append((p, seconds))
    repeat_pilot(out, template, axis, prober)
    return out


# A pilot size timed twice is one whose call is under this (the largest such: nearest the
# window), else the quickest: a repeat costs a pilot timing, about a second or two here.
PILOT_REPEAT_MAX_CALL_S = 0.1


def repeat_pilot(pilot: Sequence[tuple[pl.Point, float]], template: Case,
                 axis: tuple[str, ...], prober: Prober) -> None:
    """Times promise.PILOT_REPEATS of the pilot's sizes again, seconds after their first
    timing, and keeps each pair in prober.repeats: the spread between them is the machine's
    noise, which make_plan plans for where it is over the quiet constants (promise.Noise)."""
    cheap = [e for e in pilot if e[1] <= PILOT_REPEAT_MAX_CALL_S] or \
        sorted(pilot, key=lambda e: e[1])[:1]
    for p, first in reversed(cheap[-promise.PILOT_REPEATS:]):
        again = prober.time(pl.at(template, axis, p.size))
        if math.isfinite(again):
            prober.repeats.append((first, again))


def steady_stretch(pilot: Sequence[tuple[pl.Point, float]], overhead: float,
                   target: float) -> tuple[pl.Point, pl.Point] | None:
    """The highest stretch of pilot sizes spanning MIN_SPAN in N where every neighbour pair
    grows in time as in work (the overhead off), and the overhead share is small enough."""
    usable = [(p, t) for p, t in pilot if overhead <= pl.OVERHEAD_TARGET * t]
    best: tuple[pl.Point, pl.Point] | None = None
    start = 0
    for i in range(1, len(usable) + 1):
        steady = i < len(usable) and _steady(usable[i - 1], usable[i], overhead)
        if not steady:
            lo, hi = usable[start][0], usable[i - 1][0]
            if hi.positions >= pl.MIN_SPAN * lo.positions:
                best = (lo, hi)  # later stretches are higher: the last one wins
            start = i
    return best


def _steady(a: tuple[pl.Point, float], b: tuple[pl.Point, float], overhead: float) -> bool:
    (pa, ta), (pb, tb) = a, b
    work = math.log(pb.macs_ratio(pa))
    if work <= 0 or ta <= overhead or tb <= overhead:
        return False
    return abs(math.log((tb - overhead) / (ta - overhead)) / work - 1) <= PILOT_TOLERANCE


def _rate(pilot: Sequence[tuple[pl.Point, float]], overhead: float,
          stretch: tuple[pl.Point, pl.Point] | None, fastest: bool = False) -> float:
    """FLOP/s from the pilot, over the stretch where there is one: the slowest of its sizes
    (a prediction on the budget's side), or the fastest (on the overhead share's side:
    criss-cross at N = 1681 ran twice as fast as the slowest rate predicted, and that size
    fell out of the fit's window)."""
    inside = [(p, t) for p, t in pilot
              if stretch is None or stretch[0].positions <= p.positions <= stretch[1].positions]
    rates = [pl.rate_from(p, t, overhead) for p, t in (inside or pilot)]
    return max(rates) if fastest else min(rates)


def stored_cases(record: dict[str, Any]) -> list[Case]:
    """The planned cases of a sweep that began before (environment.json's auto_sizes)."""
    out = []
    for g in record.get("groups") or []:
        template = Case.from_dict(g["template"])
        axis = tuple(g["axis"].split("x"))
        out += [pl.at(template, axis, int(s["size"])) for s in g.get("sizes") or []]
    return out



# ------------------------------------------------------------------------------ in a sweep


@dataclass
class AutoSizes:
    """A sweep's auto sizes: the plan (or the one a resumed sweep stored), and the rounds that
    narrow the intervals after the first."""

    sweep: Any  # the a2bench.run.sweep.Sweep running these sizes
    machine: pl.Machine
    prober: Prober
    cases: list[Case]
    record: dict[str, Any]
    overhead: dict[str, Any] | None
    budget_s: float
    started: float
    end_calibration_s: float
    worker_start_s: float
    plan: pl.Plan | None = None  # the plan made here (None: a resumed sweep keeps its record)

    @classmethod
    def begin(cls, sweep: Any, env: dict[str, Any], starts: dict[str, Any], memory_budget: int,
              stored: dict[str, Any], started: float, worker: Worker | None) -> AutoSizes:
        from a2bench.run.runner import measure_overhead

        suite, o = sweep.suite, sweep.options
        budget_s = o.budget or pl.DEFAULT_BUDGET_S.get(suite.device, 180.0)
        start = (starts.get(suite.dtype) or (None, None))[0] or {}
        before = time.perf_counter()
        prober = Prober(worker, sweep.settings, suite.device, suite.dtype, o.case_timeout)
        if prober.worker is None:
            prober.worker = prober.start()
        llc, probe = (None, {}) if stored.get("auto_sizes") else measured_llc(
            prober.worker, suite.device, memory_budget, o.case_timeout)
        machine = machine_of(suite, env, start.get("gemm_flops_per_s"), memory_budget,
                             o.time_budget, o.processes, o.malloc_reuse, llc,
                             sweep.settings.memory_every_pass, sweep.threads)
        caches_line = planned_caches(env.get("caches") or {}, llc, suite.device)[1]
        worker_start_s = max(time.perf_counter() - before, 1.0)
        end_s = end_calibration_s(start, before - started)
        if stored.get("auto_sizes"):  # a resumed sweep keeps the sizes it began with
            record = stored["auto_sizes"]
            return cls(sweep, machine, prober, stored_cases(record), record, None, budget_s,
                       started, end_s, worker_start_s)
        sweep.listener.note(f"caches planned against: {caches_line}")
        sweep.listener.stage("measuring the per-call overhead")
        templates = [t for t, _ in auto_templates(suite)]
        overhead, prober.worker = measure_overhead(templates, suite.device, suite.dtype,
                                                   sweep.settings, o.case_timeout,
                                                   prober.worker)
        fixed = end_s + o.processes * worker_start_s
        try:
            plan = make_plan(suite, machine, overhead, prober, budget_s, started, fixed,
                             sweep.listener.stage, o.target)
        finally:
            prober.close()
        for g in plan.groups:
            sweep.listener.note(plan_line(g))
            if off := off_model_line(g):
                sweep.listener.warning(off)
        if not plan.feasible:
            sweep.listener.warning(budget_line(plan))
        (sweep.listener.warning if plan.noise_budget_s else sweep.listener.note)(
            noise_line(plan))
        record = {**plan.to_dict(), "target": o.target, "rounds": [],
                  "caches_used": dict(machine.caches), "caches_planned": caches_line,
                  "cache_probe": probe}
        return cls(sweep, machine, prober, plan.cases(), record, overhead, budget_s, started,
                   end_s, worker_start_s, plan)

    def narrow(self, writer: Any, report: Any, seed: int, interleaved: bool,
               memory_budget: int) -> Any:
        """One more pass of the window of each block whose latency verdict is undecided or whose
        interval is wider than the target, round after round while the budget lasts; returns
        the sweep's report with them counted.

        Passes of the whole window, not sizes, nor its ends alone: a size added in a later
        round is measured apart from the others, at another moment of the machine, and on the
        held-out runs of docs/running.md such sizes disagreed with their neighbours (local
        slopes of 0.05 and 1.69 for GC) and widened the intervals (non-local ±0.085 to ±0.13);
        a pass of the ends alone does the same to the middle (window_cases). A block whose
        interval its last pass narrowed by less than MIN_NARROWING (promise.not_narrowed) gets no
        more: its width is curvature, not noise (the same runs widened from ±0.07 to ±0.2 over
        25 passes of their ends)."""
        o, listener = self.sweep.options, self.sweep.listener
        predicted = self.planned_s()
        deadline = self.started + self.budget_s
        rounds: list[dict[str, Any]] = []
        stopped = ""
        before: dict[str, float] = {}  # each block's half-width before its last extra pass
        given_up: list[str] = []
        for extra_pass in range(o.processes, o.processes + 50):
            widths = latency_widths(o.out)
            given_up += [b for b in promise.not_narrowed(
                {w.block: w.half_width for w in widths}, before) if b not in given_up]
            open_ = [w for w in widths if w.block not in given_up
                     and (w.half_width > o.target or w.verdict == "inconclusive")]
            if not open_:
                stopped = decided(widths, given_up, o.target)
                break
            before = {w.block: w.half_width for w in open_}
            cases = list(dict.fromkeys(c for w in open_ for c in window_cases(self.cases, w)))
            seconds = [predicted.get(c.key(), 0.1) for c in cases]
            longest: dict[tuple[Any, ...], float] = {}  # each window's slowest call
            for c, s in zip(cases, seconds, strict=True):
                longest[variant(c)] = max(longest.get(variant(c), 0.0), s)
            cost = self.worker_start_s + sum(
                wt.case_wall_s(s, self.machine, passes=1, first=False,
                               longest_s=longest[variant(c)])
                for c, s in zip(cases, seconds, strict=True))
            if time.perf_counter() + cost + self.end_calibration_s > deadline:
                stopped = (f"the budget ({self.budget_s:g} s): another round of "
                           f"{len(cases)} cases would take about {cost:.0f} s")
                break
            said = ", ".join(f"{w.block} {w.verdict} ±{w.half_width:.3f}" for w in open_)
            listener.note(f"auto sizes: {said}; one more pass of their windows' {len(cases)} "
                          "cases")
            report = self._run(cases, writer, report, seed, interleaved, memory_budget,
                               extra_pass + 1)
            rounds.append({"pass": extra_pass, "cases": len(cases),
                           "half_widths": {w.block: w.half_width for w in open_},
                           "verdicts": {w.block: w.verdict for w in open_}})
            if report.interrupted:
                break
        if stopped:  # said in the terminal too: a run could end with budget left, unsaid why
            listener.note(f"auto sizes: no more rounds: {stopped}")
        self.record = {**self.record, "rounds": rounds, "stopped": stopped,
                       "not_narrowed": given_up}
        writer.add_to_environment(auto_sizes=self.record)
        return report

    def planned_s(self) -> dict[tuple[Any, ...], float]:
        """Each planned case's predicted call (seconds) by case key: what sets its window's
        chunk length (runner.run_cases) and prices a narrowing round."""
        return {pl.at(Case.from_dict(g["template"]), tuple(g["axis"].split("x")),
                      int(c["size"])).key(): float(c["predicted_s"])
                for g in self.record.get("groups") or [] for c in g.get("sizes") or []}

    def _run(self, cases: list[Case], writer: Any, report: Any, seed: int, interleaved: bool,
             memory_budget: int, processes: int) -> Any:
        from a2bench.run.runner import run_cases

        o, listener = self.sweep.options, self.sweep.listener
        # pass `processes` of as many, its earlier passes stored; its end is the sweep's
        listener.begin(len(cases), 0, processes, first=processes - 1)
        more = run_cases(cases, writer, self.sweep.settings, memory_budget, o.case_timeout,
                         listener.case, report.worker, processes=processes, seed=seed,
                         keep_worker=True, interleave=interleaved, on_stage=listener.stage,
                         interleave_by=variant, planned_s=self.planned_s(),
                         killed_before=self.sweep.killed_before)
        report.ran += more.ran
        report.timed_s += more.timed_s
        for k, v in more.statuses.items():
            report.statuses[k] = report.statuses.get(k, 0) + v
        report.worker = more.worker
        report.interrupted = report.interrupted or more.interrupted
        report.stopped = report.stopped or more.stopped
        report.killed_at = report.killed_at or more.killed_at
        return report
