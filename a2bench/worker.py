"""The worker process: builds one case at a time, measures it, sends back a Measurement.

It never decides what runs next; the runner does. Running cases here keeps a crash, an
out-of-memory kill or a hang from taking the sweep down, and gives each case a clean RSS mark.
"""

from __future__ import annotations

import signal
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from a2bench.case import Case
from a2bench.measurement import Measurement
from a2bench.stats import finite_or_none


@dataclass(frozen=True)
class Settings:
    threads: int
    ci_target: float = 0.02
    time_budget_s: float = 1.0
    warm_cache: bool = False
    counters: bool = True


OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def classify_failure(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or any(k in str(exc).lower() for k in OOM_MARKERS):
        return "oom"
    return "error"


def measure_case(case: Case, settings: Settings, reference: float | None = None,
                 count: bool = True) -> Measurement:
    """Time, profile and (when `count`) run the MAC counters on one case."""
    import torch

    from a2bench.blocks import build
    from a2bench.measure import counters, memory, timing

    wall_start = time.perf_counter()
    module, x = build(case)  # built outside every timed region

    def forward() -> object:
        return module(x)

    with torch.no_grad():
        if case.device == "cuda":
            timing.cuda_flags()
            t = timing.time_cuda(forward, settings.ci_target, settings.time_budget_s,
                                 settings.warm_cache)
            peak = memory.peak_bytes_cuda(forward)
            rss = None
        else:
            t = timing.time_cpu(forward, settings.threads, settings.ci_target,
                                settings.time_budget_s)
            peak = memory.peak_tensor_bytes_cpu(forward)
            rss = memory.peak_rss_bytes(forward)
    if settings.counters and count:
        fv, tc = counters.count_fvcore(module, x), counters.count_torch(module, x)
    elif settings.counters:  # a later pass: the first pass holds the (exact) counts
        fv = tc = counters.Count(None)
    else:
        fv = tc = counters.Count(None, (), "counters disabled")
    notes = "; ".join(c.error for c in (fv, tc) if c.error)
    low, high = t.median_ci_s
    return Measurement(
        case=case, status="ok", reason=notes, threads=settings.threads,
        macs_fvcore=fv.macs, macs_torch=tc.macs,
        fvcore_skipped=" ".join(fv.skipped), torch_skipped=" ".join(tc.skipped),
        latency_s=t.median_s, latency_iqr_s=t.iqr_s,
        latency_ci_low_s=finite_or_none(low), latency_ci_high_s=finite_or_none(high),
        first_call_s=t.first_call_s, timed_runs=len(t.samples_s), samples_s=t.samples_s,
        peak_bytes=peak, peak_rss_bytes=rss, reference_s=reference, timed_s=t.timed_s,
        wall_s=time.perf_counter() - wall_start, finished_at=now(),
    )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def serve(conn: Connection, settings: Settings) -> None:
    """Entry point of the worker process; answers requests until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner handles Ctrl-C and stops us
    from a2bench.measure import environment
    from a2bench.plugins import load_plugins

    load_plugins()
    environment.apply_cpu_settings(settings.threads)
    references: dict[str, Any] = {}
    conn.send(("ready", None))
    while True:
        try:
            request, payload = conn.recv()
        except EOFError:
            return
        try:
            reply = _handle(request, payload, settings, references)
        except Exception as exc:  # reported to the runner as data; the worker lives on
            reply = ("failure", {"status": classify_failure(exc), "reason": describe(exc)})
        if request == "case" and payload["case"].get("device") == "cuda":
            _release_cuda()
        conn.send(reply)


def describe(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message} (at {where.filename}:{where.lineno})"


def _handle(request: str, payload: Any, settings: Settings,
            references: dict[str, Any]) -> tuple[str, Any]:
    from a2bench.measure import environment

    if request == "environment":
        env = environment.collect(settings.threads, payload)
        if payload == "cuda" and env["cuda_available"]:
            from a2bench.measure.timing import cuda_flags

            env["cuda_flags"] = cuda_flags()
        return ("environment", env)
    if request == "calibrate":
        from a2bench.measure.roofline import calibrate

        return ("calibration", calibrate(payload["device"], payload["dtype"], settings.threads))
    if request == "case":
        case = Case.from_dict(payload["case"])
        if case.device not in references:
            from a2bench.measure.roofline import ReferenceKernel

            references[case.device] = ReferenceKernel(case.device, settings.threads)
        reference = references[case.device].median_s()
        measured = measure_case(case, settings, reference, count=payload["count"])
        return ("measurement", measured.to_json())
    return ("failure", {"status": "error", "reason": f"unknown request {request!r}"})


def _release_cuda() -> None:
    import torch

    torch.cuda.empty_cache()
