"""Checks beside the timing test: environments, exact metrics, statuses, measured peaks, the
reference kernel, how the two sides' passes were sequenced, and how many passes each side has.
Each returns the lines it has to say (failures or warnings); none reads a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from a2bench.compare.model import (
    COUNTER_METRICS,
    COUNTER_OFF_MARKERS,
    ENV_KEYS,
    EXACT_ENV_KEYS,
    EXACT_METRICS,
    MIN_PASSES,
    RECOMMENDED_PASSES,
    REFERENCE_NOTE_PCT,
    REFERENCE_SPREAD,
    Side,
)
from a2bench.formatting import per_node
from a2bench.measurement import Measurement
from a2bench.run.store import ENVIRONMENT, node_values


def environment_warnings(base_env: Mapping[str, Any], head_env: Mapping[str, Any],
                         base_dir: Path, head_dir: Path, exact_only: bool = False) -> list[str]:
    out = []
    for side, env, path in (("base", base_env, base_dir), ("head", head_env, head_dir)):
        if not env:
            out.append(f"{path}: no {ENVIRONMENT}; cannot check that the {side} environment "
                       "matches")
    if not (base_env and head_env):
        return out
    for key in differing(base_env, head_env, EXACT_ENV_KEYS if exact_only else ENV_KEYS):
        base, head = (per_node(node_values(e, key)) or None for e in (base_env, head_env))
        out.append(f"environments differ: {key} {base} (base) vs {head} (head); "
                   "compared anyway")
    if exact_only:
        return out  # the runs' own noise warnings are about timings, which are not read
    for side, env in (("base", base_env), ("head", head_env)):
        for w in env.get("warnings") or ():
            out.append(f"the {side} run warned: {w}")
    return out


def differing(base_env: Mapping[str, Any], head_env: Mapping[str, Any],
              keys: Sequence[str]) -> list[str]:
    """The keys whose values differ between two environments (each node's, for a Slurm
    partition whose nodes differ); none where either side has no environment."""
    if not (base_env and head_env):
        return []
    return [k for k in keys if node_values(base_env, k) != node_values(head_env, k)]


# The exact metrics that follow the kernel a case ran (its record's `backend`)
KERNEL_METRICS = ("peak_bytes_analytic",)


def exact_failures(base: Measurement, head: Measurement) -> tuple[list[str], list[str]]:
    """Failures (a changed exact metric) and warnings (a counter one side did not run)."""
    fails: list[str] = []
    warns: list[str] = []
    missing: dict[tuple[str, str], list[str]] = {}
    label = base.case.label()
    both_ran = base.status == "ok" and head.status == "ok"
    for name in EXACT_METRICS:
        if name in COUNTER_METRICS and not both_ran:
            continue  # counters only exist for cases that ran; the status check covers the rest
        b, h = getattr(base, name), getattr(head, name)
        if b == h:
            continue
        if name in KERNEL_METRICS and b is not None and h is not None \
                and base.backend != head.backend:
            # the same model of another kernel: float32 convolutions go to oneDNN at more than
            # one thread, bf16 ones follow the CPU's ISA (onednn.py)
            warns.append(f"{label}: {name} {b} -> {h}: the kernels differ (backend "
                         f"{base.backend or 'ATen'} -> {head.backend or 'ATen'}), not compared")
            continue
        if b is not None and h is not None:
            change = f" ({_percent_change(b, h)})" if b else ""
            fails.append(f"{label}: {name} changed {b} -> {h}{change}; exact metrics must match")
        elif h is None and not any(k in head.reason for k in COUNTER_OFF_MARKERS):
            fails.append(f"{label}: {name} was {b}, now missing ({head.reason or 'no reason'})")
        else:
            side = "head" if h is None else "base"
            missing.setdefault((side, (head if h is None else base).reason), []).append(name)
    # one line per case and cause (a block that gained a cost model lacks four on the base)
    # a record without a reason lacks the column: it was written before the column was
    warns += [f"{label}: {', '.join(names)} not compared: missing on the {side} side "
              f"({reason or 'stored without it: written before the column'})"
              for (side, reason), names in missing.items()]
    return fails, warns


def _percent_change(base: float, head: float) -> str:
    """A relative change in percent, to as many digits as show it is one: MACs 41943040 ->
    41943041 had read "+0.00%" beside "changed", as if nothing had."""
    pct = (head - base) / base * 100
    return f"{pct:+.2f}%" if abs(pct) >= 0.01 else f"{pct:+.2g}%"


def status_failures(base: Measurement, head: Measurement) -> list[str]:
    """A case whose status changed to any but ok (docs/ci.md: each case's status must match):
    one skipped or out of memory in base that now crashes had passed the exact gate in
    silence. A case not ok in base that is ok in head is a fix, not a failure."""
    if head.status != base.status and head.status != "ok":
        why = f": {head.reason}" if head.reason else ""
        return [f"{base.case.label()}: status {base.status} -> {head.status}{why}"]
    return []


def peak_warning(base: Measurement, head: Measurement, threshold_pct: float) -> list[str]:
    # The measured peak depends on the allocator, so it only warns; the analytic peak is exact.
    b, h = base.peak_bytes, head.peak_bytes
    if b and h and h > b * (1 + threshold_pct / 100):
        return [f"{base.case.label()}: measured peak memory {b / 2**20:.2f} -> {h / 2**20:.2f} "
                f"MiB ({h / b - 1:+.0%}); not an exact metric, so a warning only"]
    return []


def reference_note(pairs: Sequence[tuple[Measurement, Measurement]],
                   normalize: bool) -> list[str]:
    """How much slower the head machine ran, from the reference kernel timed beside each case."""
    ratios = [h.reference_s / b.reference_s for b, h in pairs
              if b.reference_s and h.reference_s and b.status == h.status == "ok"]
    if not ratios:
        return []
    r = float(np.median(ratios))
    if abs(r - 1) * 100 < REFERENCE_NOTE_PCT:
        return []
    how = "divided out (--normalize)" if normalize else "not divided out; consider --normalize"
    # as times: 0.30 is 3.3x the speed, not "70% faster"; 22.16 is 22x the time, not "2116%"
    pace = (f"took {r:.2f}x the base's time" if r > 1 else f"ran {1 / r:.2f}x the base's speed")
    return [f"reference kernel: head/base time = {r:.2f} (median over cases): the head machine "
            f"{pace}; {how}"]


def reference_spread_warnings(sides: Mapping[str, Side]) -> list[str]:
    """A pass whose reference kernel times disagree had load that came and went during it.

    Seen on a shared 2-core machine: the same 256x256 matmul took 0.17 ms or 16 ms depending on
    whether another process held a core. Dividing by such a reference adds noise, not removes it.
    """
    out = []
    for name, side in sides.items():
        for p, records in side.by_process.items():
            refs = [m.reference_s for m in records if m.status == "ok" and m.reference_s]
            if len(refs) >= 2 and max(refs) > REFERENCE_SPREAD * min(refs):
                where = (f" in pass {p + 1} of {side.pass_count}" if side.pass_count > 1 else "")
                weight = ("; it is one vote among the passes' medians"
                          if side.pass_count >= MIN_PASSES else "")
                out.append(f"the {name} run's reference kernel ranged {min(refs) * 1e3:.3g}-"
                           f"{max(refs) * 1e3:.3g} ms across its cases{where}: load came and went "
                           f"during the run, so its timings (normalised or not) are unreliable"
                           f"{weight}")
    return out


def _window(records: Iterable[Measurement]) -> tuple[datetime, datetime] | None:
    times = []
    for m in records:
        try:
            times.append(datetime.fromisoformat(m.finished_at))
        except (TypeError, ValueError):
            continue
    return (min(times), max(times)) if times else None


def sequence_warnings(base: Side, head: Side) -> list[str]:
    """Say when one side ran entirely before the other instead of interleaved with it.

    Measured on a shared 2-core machine: a state lasting tens of seconds (as slow as one thread,
    so presumably a core taken by other load) made single cases of the same code 1.3-1.4x slower
    in all 5 passes of one 40 s run. Passes replicate the process, not such a state;
    interleaving the sides' passes makes it fall on both alike. That figure is another
    machine's, so the warning points to docs/ci.md instead of printing it beside these runs.
    """
    b = _window(m for g in base.by_process.values() for m in g)
    h = _window(m for g in head.by_process.values() for m in g)
    if b is None or h is None or (b[0] <= h[1] and h[0] <= b[1]):
        return []
    # with the date where the sides ran on different days (16:29-16:30 against 06:59-07:01
    # hid the weeks between them)
    days = b[0].date() != h[1].date() or b[1].date() != h[0].date()
    clock = "%Y-%m-%d %H:%M:%S" if days else "%H:%M:%S"
    span = lambda w: f"{w[0]:{clock}}-{w[1]:{clock}}"  # noqa: E731
    return [f"base ({span(b)}) and head ({span(h)}) ran one after the other, not interleaved: a "
            "machine state lasting tens of seconds falls on one side only (docs/ci.md, Noise); to "
            "gate, interleave the two sides' passes as scripts/ci_gate.sh does"]


def pass_warnings(sides: Mapping[str, Side]) -> list[str]:
    """Say when a side cannot measure the between-process variance, and how far apart the
    passes of one case are in these runs where a side has several (a figure measured on some
    other machine had been printed instead)."""
    out = []
    spreads = [(*spread, name) for name, side in sides.items()
               if (spread := pass_spread(side)) is not None]
    for name, side in sides.items():
        n = side.pass_count
        if n == 1:
            if spreads:
                ratio, label, other = max(spreads)
                seen = (f"; the {other} run's passes of one case differed by up to "
                        f"{ratio:.2f}x ({label}: slowest pass median / fastest)")
            else:
                seen = " (docs/ci.md, Timings: how far apart the processes of one code can be)"
            out.append(f"the {name} run has 1 pass per case (one worker process): the variance "
                       f"between processes is not measured{seen}; timing p-values come from the "
                       f"raw samples. Run both sides with --processes {RECOMMENDED_PASSES} or more")
        elif n < MIN_PASSES:
            out.append(f"the {name} run has {n} passes per case: too few for a test on pass "
                       "medians, so timing p-values come from the pooled raw samples; run both "
                       f"sides with --processes {RECOMMENDED_PASSES} or more")
    return out


def pass_spread(side: Side) -> tuple[float, str] | None:
    """The largest ratio between the slowest and the fastest pass median of one case (cases ok
    with samples in 2+ passes), and that case's label; None where no case has 2 such passes."""
    worst: tuple[float, str] | None = None
    for group in side.passes.values():
        medians = [float(np.median(m.samples_s)) for m in group if m.status == "ok"
                   and m.samples_s]
        if len(medians) >= 2 and min(medians) > 0:
            ratio = max(medians) / min(medians)
            if worst is None or ratio > worst[0]:
                worst = (ratio, group[0].case.label())
    return worst
