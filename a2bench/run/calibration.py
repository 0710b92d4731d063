"""The machine's ceilings around a sweep: calibrated at its start and end, and what they say.

environment.json's `roofline` and `rooflines` records are defined here, with the rule that a
ceiling which moved more than DRIFT_LIMIT between the two calibrations is a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from a2bench.run.runner import WorkerLost

if TYPE_CHECKING:
    from a2bench.run.runner import Worker

DRIFT_LIMIT = 0.05  # start vs end GEMM ceiling

Calibration = tuple[dict[str, Any] | None, str | None]  # the ceilings, or None and why not


def calibration_timeout(case_timeout: float, calibration_time: float) -> float:
    # About 30 timings of at least calibration_time each, plus first calls and allocation; a
    # slow machine or dtype needs more, and only a hang should ever reach this.
    return max(case_timeout, 300.0 + 100 * calibration_time)


def calibrate(worker: Worker, device: str, dtype: str, calibration_time: float,
              case_timeout: float, sizes: tuple[int, ...] | None = None) -> Calibration:
    """The ceilings from one calibration in `worker` (at the GEMM `sizes`, or the device's
    own), or None and why not."""
    payload = {"device": device, "dtype": dtype, "min_time_s": calibration_time,
               "sizes": list(sizes) if sizes else None}
    try:
        kind, reply = worker.request("calibrate", payload,
                                     calibration_timeout(case_timeout, calibration_time))
    except WorkerLost as lost:
        return None, lost.reason
    return (reply, None) if kind == "calibration" else (None, reply["reason"])


def ceilings(device: str, dtypes: tuple[str, ...], threads: int,
             starts: dict[str, Calibration], ends: dict[str, Calibration]) -> dict[str, Any]:
    """environment.json's `roofline` (the suite's first dtype, as runs have always had) and
    `rooflines`, one record per dtype the suite runs in."""
    records = {}
    for d in dtypes:
        start, start_error = starts.get(d, (None, None))
        end, end_error = ends.get(d, (None, None))
        records[d] = roofline_record(device, d, threads, start, end, start_error, end_error)
    return {"roofline": records[dtypes[0]], "rooflines": records}


def end_sizes(start: Calibration) -> tuple[int, ...] | None:
    """The GEMM size to measure again at the end: the start's best. The drift is then one
    product against itself, and the end takes about half the start's time (6.1 s against
    13.3 s on this repository's 2-core CPU); None (every size) where the start measured none."""
    ceilings, _ = start
    size = (ceilings or {}).get("gemm_size")
    return (int(size),) if size else None


# Timings beyond the repeats: the first call, and those that calibrate the number of calls.
CALIBRATING_SHARE = 0.25  # measured here: 6.1 s against 5.1 s of repeats


def end_cost_s(start: dict[str, Any] | None) -> float | None:
    """What the end's calibration will take, from the start's own timings of the GEMM size it
    measures again (end_sizes) and of the copy; None where the start has none to go by."""
    if not start or not start.get("gemm") or not start.get("copy"):
        return None
    best = next((g for g in start["gemm"] if g.get("size") == start.get("gemm_size")), None)
    if best is None:
        return None
    spent = sum(sum(r["timings"]) * r["number"] for r in (best, start["copy"]))
    return (1 + CALIBRATING_SHARE) * spent


def end_calibration_s(start: dict[str, Any] | None, start_took_s: float) -> float:
    """What a planner counts for the end's calibration: end_cost_s, or, where the start has
    no timings to go by, what the start took (`a2bench plan` and a run count it alike)."""
    return end_cost_s(start) or start_took_s


def roofline_record(device: str, dtype: str, threads: int, start: dict[str, Any] | None,
                    end: dict[str, Any] | None, start_error: str | None = None,
                    end_error: str | None = None) -> dict[str, Any]:
    """environment.json's roofline: the better of the start and end ceilings, and their drift.

    The better one, not the first: a ceiling is what the machine can do, and whatever disturbed
    one calibration only lowered it. The drift says how far to trust either.
    """
    done = [c for c in (start, end) if c]

    def best(key: str) -> float | None:
        values = [c[key] for c in done if c.get(key) is not None]
        return max(values) if values else None

    gemm_start = (start or {}).get("gemm_flops_per_s")
    gemm_end = (end or {}).get("gemm_flops_per_s")
    record: dict[str, Any] = {
        "device": device, "dtype": dtype, "threads": threads,
        "gemm_flops_per_s": best("gemm_flops_per_s"),
        "bandwidth_bytes_per_s": best("bandwidth_bytes_per_s"),
        "gemm_flops_per_s_start": gemm_start,
        "gemm_flops_per_s_end": gemm_end,
        "drift": gemm_end / gemm_start - 1 if gemm_start and gemm_end else None,
        "start": start,
        "end": end,
    }
    if start_error:
        record["error"] = start_error
    if end_error:
        record["end_error"] = end_error
    return record


def drift_warnings(roofline: dict[str, Any]) -> list[str]:
    drift = roofline.get("drift")
    if drift is None or abs(drift) <= DRIFT_LIMIT:
        return []
    return [f"the GEMM ceiling moved {drift:+.1%} between the start and the end of the sweep "
            f"(more than {DRIFT_LIMIT:.0%}): the machine changed under it; latencies may too"]
