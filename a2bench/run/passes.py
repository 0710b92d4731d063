"""A run's records pooled by case: each case's passes (one per worker process, --processes) as
one measurement, and its raw samples kept apart by pass for the fits. No torch here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from a2bench.measurement import Measurement
from a2bench.stats import finite_or_none, iqr, median_ci


def pass_samples(records: Iterable[Measurement]
                 ) -> dict[tuple[Any, ...], tuple[tuple[float, ...], ...]]:
    """Each case's raw samples kept apart by pass, in pass order (case key -> one tuple a pass):
    the fits summarise each pass on its own, since the process is the unit of replication."""
    return {k: tuple(tuple(m.samples_s) for m in g) for k, g in _by_case(records).items()}


def _by_case(records: Iterable[Measurement]) -> dict[tuple[Any, ...], list[Measurement]]:
    """Each case's passes in pass order, in the order cases first appear. A (case, pass)
    stored twice (results files joined by hand, a line pasted twice) counts once, the later
    record: a resumed sweep never stores one twice, and a copy is not another pass."""
    groups: dict[tuple[Any, ...], dict[int, Measurement]] = {}
    for m in records:
        passes = groups.setdefault(m.case.key(), {})
        passes.pop(m.process, None)
        passes[m.process] = m
    return {k: [g[p] for p in sorted(g)] for k, g in groups.items()}


def merge_passes(records: Iterable[Measurement]) -> list[Measurement]:
    """Pool the passes of each case into one record, in the order cases first appear.

    Each pass ran in a fresh worker process, so pooling its samples averages over the
    per-process state (allocation addresses, thread placement) that one process cannot vary.
    A case any of whose passes failed takes that failure's status; a pass stored twice
    counts once (_by_case).
    """
    return [_pool(g) for g in _by_case(records).values()]


def _pool(passes: list[Measurement]) -> Measurement:
    first = passes[0]
    if len(passes) == 1:
        return first
    failed = [m for m in passes if m.status != "ok"]
    if failed:
        bad = failed[0]
        return replace(bad, processes=len(passes),
                       reason=f"{bad.reason} (pass {bad.process + 1} of {len(passes)})")
    samples = tuple(s for m in passes for s in m.samples_s)
    if not samples:  # records that kept no raw samples: the passes' medians are all there is
        return replace(first, processes=len(passes), samples_s=(), timed_runs=None,
                       latency_s=_median_or_none(m.latency_s for m in passes),
                       latency_iqr_s=None, latency_ci_low_s=None, latency_ci_high_s=None)
    low, high = median_ci(samples)
    rss = [m.peak_rss_bytes for m in passes if m.peak_rss_bytes is not None]
    peaks = [m.peak_bytes for m in passes if m.peak_bytes is not None]
    return replace(
        first, processes=len(passes), samples_s=samples, timed_runs=len(samples),
        latency_s=float(np.median(samples)), latency_iqr_s=iqr(samples),
        latency_ci_low_s=finite_or_none(low), latency_ci_high_s=finite_or_none(high),
        first_call_s=_median_or_none(m.first_call_s for m in passes),
        peak_bytes=max(peaks) if peaks else None, peak_rss_bytes=max(rss) if rss else None,
        reference_s=_median_or_none(m.reference_s for m in passes),
        timed_s=sum(m.timed_s or 0.0 for m in passes), wall_s=sum(m.wall_s or 0.0 for m in passes),
        finished_at=passes[-1].finished_at,
        compile_max_abs_error=next((m.compile_max_abs_error for m in passes
                                    if m.compile_max_abs_error is not None), None),
    )


def _median_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None
