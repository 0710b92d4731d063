"""The worker process: builds one case at a time, measures it, sends back a Measurement.

It never decides what runs next; the runner does. Running cases here keeps a crash, an
out-of-memory kill or a hang from taking the sweep down, and gives each case a clean RSS mark.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from a2bench.case import Case
from a2bench.errors import CaseError, InputError
from a2bench.kernel_names import UNCOUNTED, uncounted
from a2bench.measurement import Measurement
from a2bench.plugins import for_worker
from a2bench.stats import finite_or_none

if TYPE_CHECKING:
    from a2bench.measure.timing import Prepared, Timing


def _registered_here() -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    return for_worker()


@dataclass(frozen=True)
class Settings:
    threads: int
    ci_target: float = 0.02
    time_budget_s: float = 1.0
    warm_cache: bool = False
    counters: bool = True
    # Memory probed on every pass (the max is kept), or on the first only: the tensor peak is
    # exact and the same every pass, and the probes cost about 7 calls of the case a pass (a
    # profiled call, an RSS call, a warm call), which an auto run's budget spends on timing.
    memory_every_pass: bool = True
    # The blocks the creating process registered beyond the built-ins, A2BENCH_PLUGINS and the
    # entry points (a script's or a notebook's @register): (modules or files to load, classes
    # pickled by value), read from the registry when the Settings is made (plugins.for_worker).
    extra_blocks: tuple[tuple[str, ...], tuple[bytes, ...]] = field(
        default_factory=_registered_here)


# A worker's answer to its start where the blocks it was sent did not load (serve)
BLOCKS_FAILED = "it could not load the blocks"


OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def classify_failure(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or any(k in str(exc).lower() for k in OOM_MARKERS):
        return "oom"
    return "error"


def measure_case(case: Case, settings: Settings, reference: float | None = None,
                 count: bool = True, timing: Timing | None = None,
                 memory_probe: bool = True) -> Measurement:
    """Time, profile and (when `count`) run the MAC counters on one case, in its mode.

    ``timing``: the case was already timed (interleaved with the rest of its pass); only its
    memory, counters and dtypes are measured here. Without ``memory_probe`` its peaks are
    left unknown (a later pass of a run whose first pass measured them).
    """
    import torch

    from a2bench.blocks import build
    from a2bench.catalog import spec
    from a2bench.measure import counters, memory, precision
    from a2bench.measure.step import make_step

    block = spec(case.block)
    counted = not block.has_cost  # its MACs come from the counters: count it even with them off
    # An interleaved case's build, first call and chunks ran before this call: they count too.
    wall_start = time.perf_counter() - (timing.spent_s if timing is not None else 0.0)
    eager, x = build(case)  # built outside every timed region
    runner = compiled(eager) if case.compile else eager
    step = make_step(runner, x, case.mode)
    with grad_mode(step.grad_enabled):
        # A compiled case compiles in the first call: first_call_s holds the compile time.
        if timing is None:
            t = time_forward(step.run, case.device, settings)
        else:
            if memory_probe:
                step.run()  # this build's first call, so the memory probes see a warm call
            t = timing
        step.release()
        peak = rss = None
        if memory_probe and case.device == "cuda":
            peak = memory.peak_bytes_cuda(step.run)
        elif memory_probe:
            peak = memory.peak_tensor_bytes_cpu(step.run)
            step.release()
            rss = memory.peak_rss_bytes(step.run)
        step.release()
    # What compilation changed in the output (the first pass: it is the same graph in every
    # pass), in the step's grad mode, so the graph the timings ran answers it.
    drift = compile_error(runner, eager, step, x) if case.compile and count else None
    # The counters and the dtype probe read the eager module: they count the block's
    # arithmetic, which compilation fuses but does not change.
    plain = make_step(eager, x, case.mode) if case.compile else step
    if count:  # once per case (the first pass): the block's output must have its shape
        with torch.no_grad():
            check_output(block, case, x, eager(x))
    ran = precision.Precision((), ())
    # fvcore, thop and ptflops count the forward pass only: they do not count a train case.
    none = counters.Count(None)
    th = pf = none
    if (settings.counters or counted) and count:
        fv = none if case.train else counters.count_fvcore(eager, x)
        with grad_mode(plain.grad_enabled):
            tc = counters.count_torch_call(plain.run)
            plain.release()
        if not case.train:
            th, pf = counters.count_thop(eager, x), counters.count_ptflops(eager, x)
    elif settings.counters or counted:  # a later pass: the first pass holds the exact counts
        fv = tc = none
    else:
        fv = tc = counters.Count(None, (), "counters disabled")
    if counted and count and not tc.complete:
        raise CaseError(no_work(case, tc, fv))
    if count:  # exact, so the first pass's answer holds for every pass
        with grad_mode(plain.grad_enabled):
            ran = precision.observe(plain.run, case.dtype)
            plain.release()
    # A missing optional package is said once, in environment.json and by `run`, not per case.
    optional = [c for c in (th, pf) if c.error and "not installed" not in c.error]
    # each reason once: with the counters off, fvcore's and FlopCounterMode's are the same one
    notes = "; ".join(dict.fromkeys(c.error for c in (fv, tc, *optional) if c.error))
    if counted and tc.completed:  # the MACs this block is judged by hold more than the counter's
        notes = "; ".join(filter(None, (notes, closed_note(tc))))
    if counted and (left := uncounted(tc.skipped)):  # and less than it computes
        notes = "; ".join(filter(None, (notes, f"{UNCOUNTED}: {' '.join(left)}")))
    if ran.fallback_ops:
        notes = "; ".join(filter(None, (notes, f"ran in float32: {' '.join(ran.fallback_ops)}")))
    with torch.no_grad():
        backend = block.backend(eager, x)
    low, high = t.median_ci_s
    return Measurement(
        case=case, status="ok", reason=notes, threads=settings.threads,
        macs_fvcore=fv.macs, macs_torch=tc.macs, macs_counted=tc.complete,
        fvcore_skipped=" ".join(fv.skipped), torch_skipped=" ".join(tc.skipped),
        latency_s=t.median_s, latency_iqr_s=t.iqr_s,
        latency_ci_low_s=finite_or_none(low), latency_ci_high_s=finite_or_none(high),
        first_call_s=t.first_call_s, timed_runs=len(t.samples_s), samples_s=t.samples_s,
        peak_bytes=peak, peak_rss_bytes=rss, reference_s=reference, timed_s=t.timed_s,
        wall_s=time.perf_counter() - wall_start, finished_at=now(), backend=backend,
        ran_dtypes=" ".join(ran.ran_dtypes), fallback_ops=" ".join(ran.fallback_ops),
        macs_thop=th.macs, macs_ptflops=pf.macs,
        parameters=sum(p.numel() for p in eager.parameters()),
        compile_max_abs_error=drift,
    )


def compile_error(runner: Any, eager: Any, step: Any, x: Any) -> float:
    """The largest absolute difference between the compiled block's output and the eager
    block's, on the case's input, in the step's grad mode (a train case's input requires grad,
    as its timed step's does, so the compiled graph that ran is the one compared)."""
    with grad_mode(step.grad_enabled):
        given = x.detach().requires_grad_(step.grad_enabled)
        fast, plain = runner(given), eager(given)
        step.release()
        return float((fast.detach().float() - plain.detach().float()).abs().max())


def check_output(block: Any, case: Case, x: Any, out: Any) -> None:
    """Raise CaseError unless the module returned one tensor of the block's output shape (the
    input's own, unless the spec's output_shape says otherwise)."""
    want = tuple(block.output_shape(case))
    got = tuple(out.shape) if hasattr(out, "shape") else None
    if got == want:
        return
    what = f"shape {got}" if got is not None else f"a {type(out).__name__}"
    raise CaseError(f"block {case.block} returned {what} for an input of shape "
                    f"{tuple(x.shape)}; expected one tensor of shape {want} (a block returns its "
                    "input's shape; a spec whose module returns another overrides "
                    "output_shape(case))")


def closed_note(count: Any) -> str:
    """What a counted block's MACs (macs_counted) hold beyond FlopCounterMode's (macs_torch)."""
    return (f"macs_counted {count.complete} holds what FlopCounterMode ({count.macs}) has no "
            f"formula for: {' '.join(count.completed)} (measure/counters.py)")


def no_work(case: Case, torch_count: Any, fvcore: Any) -> str:
    """The reason of a counted block whose counter saw no work (nothing to judge latency by)."""
    seen = (f"{torch_count.error}" if torch_count.error else
            "operators without a formula: " + (" ".join(torch_count.skipped) or "none"))
    beside = f"; fvcore counted {fvcore.macs}" if fvcore.macs else ""
    return (f"block {case.block} has no cost() and FlopCounterMode counted no MACs in it "
            f"({seen}{beside}): give the spec a cost() method, or use operators the counter "
            "sees (convolutions, linear layers, matmul/bmm)")


def grad_mode(enabled: bool) -> Any:
    import torch

    return torch.enable_grad() if enabled else torch.no_grad()


def compiled(module: Any) -> Any:
    """torch.compile with the whole forward as one graph: a graph break raises (and the case is
    recorded as an error with the reason) instead of silently running part of it eagerly.

    Dynamo's caches are reset first: its guards hold the previous case's module, and each new
    one would count as a recompile of the same forward until the recompile limit made dynamo
    give up and run eagerly. Inductor's FX graph cache is off, so every pass traces and lowers
    the block again and first_call_s is not a cache hit of the last pass's whole graph (C++
    kernels inductor built before are still loaded from its on-disk code cache).
    """
    import warnings

    import torch
    import torch._inductor.config as inductor_config

    # Inductor's own deprecation warnings would print over the progress bar in every case.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\._inductor")
    torch._dynamo.reset()
    inductor_config.fx_graph_cache = False
    return torch.compile(module, fullgraph=True, dynamic=False)


def time_forward(forward: Callable[[], object], device: str, settings: Settings) -> Timing:
    """The one timing path: cases and the per-call overhead entries are timed alike."""
    from a2bench.measure import timing

    if device == "cuda":
        timing.cuda_flags()
        return timing.time_cuda(forward, settings.ci_target, settings.time_budget_s,
                                settings.warm_cache)
    return timing.time_cpu(forward, settings.threads, settings.ci_target, settings.time_budget_s)


def interleavable(case: Case) -> bool:
    """Eager CPU cases: CUDA has its own timing path, and a compiled case compiles per build."""
    return case.device == "cpu" and not case.compile


def prepare(case: Case, settings: Settings) -> Prepared:
    """A CPU case built, its first call timed and its chunks sized (timing.prepare_cpu), to be
    timed interleaved with the rest of its pass."""
    from a2bench.blocks import build
    from a2bench.measure import timing
    from a2bench.measure.step import make_step

    if not interleavable(case):
        raise ValueError(f"{case.label()}: only eager CPU cases are timed interleaved")
    start = time.perf_counter()
    module, x = build(case)
    step = make_step(module, x, case.mode)
    ready = timing.prepare_cpu(step.run, step.grad_enabled, settings.threads)
    # What preparing took is part of the wall time the worker spends on the case (its wall_s).
    return replace(ready, spent_s=time.perf_counter() - start)


@dataclass
class State:
    """What a worker keeps from one request to the next."""

    references: dict[str, Any] = field(default_factory=dict)  # device -> ReferenceKernel
    prepared: dict[tuple[Any, ...], Prepared] = field(default_factory=dict)  # until "interleave"
    pretimed: dict[tuple[Any, ...], Timing] = field(default_factory=dict)  # until their "case"


def overhead_entry(device: str, dtype: str, case: Case | None,
                   settings: Settings) -> dict[str, Any]:
    """Median per-call time of an empty module (case None) or of a case, as the sweep times it.

    What a block costs at the smallest legal shape is its fixed per-call cost (Python dispatch,
    kernel launches, allocator calls); latencies near it say nothing about how the work scales.
    """
    import torch
    from torch import nn

    from a2bench.blocks import build
    from a2bench.measure.dtypes import DTYPES
    from a2bench.measure.step import make_step

    if case is None:
        module: nn.Module = nn.Identity()  # forward returns its input: the call alone
        x = torch.zeros(1, device=device, dtype=DTYPES[dtype])
        step = make_step(module, x, "forward")
    else:
        module, x = build(case)
        step = make_step(compiled(module) if case.compile else module, x, case.mode)

    with grad_mode(step.grad_enabled):
        t = time_forward(step.run, device, settings)
    low, high = t.median_ci_s
    # The raw samples too: the analysis summarises them as it does a case's (a low quantile).
    return {"median_s": t.median_s, "ci_low_s": finite_or_none(low),
            "ci_high_s": finite_or_none(high), "samples": len(t.samples_s),
            "samples_s": list(t.samples_s)}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def _die_with_parent() -> None:
    """Be killed with the sweep that spawned us (Linux). A `kill -9` of `a2bench run` had left
    its worker timing a case at a full core for as long as the case lasted, beside the resumed
    sweep's calibration and cases, and printing a BrokenPipeError at the end. (Linux sends it
    when the spawning *thread* ends: a2bench starts its workers from the main thread.)"""
    parent = mp.parent_process()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # its -1 (not taken) is let be
    except (OSError, AttributeError):  # not Linux: the pipe's EOF still ends us, later
        return
    if parent is not None and os.getppid() != parent.pid:  # it died before prctl took
        os._exit(1)


def serve(conn: Connection, settings: Settings) -> None:
    """Entry point of the worker process; answers requests until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner handles Ctrl-C and stops us
    _die_with_parent()
    from a2bench.catalog import blocks
    from a2bench.measure import environment
    from a2bench.plugins import load_pickled, load_plugins

    try:
        blocks()  # the built-ins, A2BENCH_PLUGINS and the entry points, in that order
        modules, pickled = settings.extra_blocks
        load_plugins(modules)  # then the creating process's own blocks, which may replace them
        load_pickled(pickled)
    except Exception as exc:  # said to the runner, which had read only "worker died (exit
        # code 1)", and the API had blamed a missing `if __name__ == "__main__":` for it
        reason = str(exc) if isinstance(exc, InputError) else describe(exc)
        conn.send(("failure", {"status": "error", "reason": f"{BLOCKS_FAILED}: {reason}"}))
        return
    environment.apply_cpu_settings(settings.threads)
    state = State()
    conn.send(("ready", None))
    while True:
        try:
            request, payload = conn.recv()
        except EOFError:
            return
        try:
            reply = _handle(request, payload, settings, state)
        except Exception as exc:  # reported to the runner as data; the worker lives on
            reply = ("failure", {"status": classify_failure(exc), "reason": describe(exc)})
        if request in ("case", "overhead", "calibrate") and _on_cuda(request, payload):
            _release_cuda()
        conn.send(reply)


def describe(exc: BaseException) -> str:
    """One line: the error and where it arose, in the innermost frame outside torch (the
    block's own line, not the torch function it called); a CaseError says it all itself."""
    if isinstance(exc, CaseError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not _in_torch(f.filename)]
    where = (own or frames)[-1]
    message = f": {str(exc).splitlines()[0]}" if str(exc).strip() else ""  # MemoryError: none
    return f"{type(exc).__name__}{message} (at {_file(where.filename)}:{where.lineno})"


def _file(name: str) -> str:
    """Where code sent by value (plugins.for_worker) was written: cloudpickle names all such
    code <dynamic-code>, so a block in the calling script had read "(at <dynamic-code>:12)";
    it is that script's, this worker's __main__ (a notebook's has no file: the name stays)."""
    if name != "<dynamic-code>":
        return name
    return getattr(sys.modules.get("__main__"), "__file__", None) or name


def _in_torch(filename: str) -> bool:
    import os

    return f"{os.sep}torch{os.sep}" in filename


def _handle(request: str, payload: Any, settings: Settings, state: State) -> tuple[str, Any]:
    from a2bench.measure import environment

    if request == "environment":
        env = environment.collect(settings.threads, payload)
        if payload == "cuda" and env["cuda_available"]:
            from a2bench.measure.timing import cuda_flags

            env["cuda_flags"] = cuda_flags()
        return ("environment", env)
    if request == "calibrate":
        from a2bench.measure.roofline import calibrate

        sizes = payload.get("sizes")
        return ("calibration", calibrate(payload["device"], payload["dtype"], settings.threads,
                                         min_time_s=payload.get("min_time_s", 0.5),
                                         sizes=tuple(sizes) if sizes else None))
    if request == "cache_probe":
        from a2bench.measure.cache_probe import probe

        return ("cache_probe", probe(payload["device"], settings.threads,
                                     payload.get("memory_budget")))
    if request == "overhead":
        case = Case.from_dict(payload["case"]) if payload.get("case") else None
        return ("overhead", overhead_entry(payload["device"], payload["dtype"], case, settings))
    if request == "prepare":
        from a2bench.measure.chunks import chunk_plan

        case = Case.from_dict(payload["case"])
        ready = state.prepared[case.key()] = prepare(case, settings)
        calls, chunks = chunk_plan(ready.per_call_s, settings.time_budget_s)
        return ("prepared", {"expected_s": calls * chunks * ready.per_call_s,
                             "per_call_s": ready.per_call_s})
    if request == "interleave":
        from a2bench.measure.chunks import INTERLEAVE_CHUNK_S
        from a2bench.measure.timing import time_cpu_interleaved

        # An auto run's window: chunks as long as its slowest planned call (measure/chunks.py)
        timings, failed = time_cpu_interleaved(state.prepared, settings.threads,
                                               settings.time_budget_s, payload["seed"],
                                               payload.get("chunk_s", INTERLEAVE_CHUNK_S))
        state.prepared.clear()  # the modules and inputs go; each case is built again to finish
        # Added to, not replaced: an auto run times each block variant's batch in turn before
        # any of them finishes (runner.run_cases' interleave_by). A case that failed here is
        # timed (and fails) on its own.
        state.pretimed.update(timings)
        return ("interleaved", {"timed": len(timings), "failed": len(failed)})
    if request == "case":
        case = Case.from_dict(payload["case"])
        if case.device not in state.references:
            from a2bench.measure.roofline import ReferenceKernel

            state.references[case.device] = ReferenceKernel(case.device, settings.threads)
        reference = state.references[case.device].median_s()
        measured = measure_case(case, settings, reference, count=payload["count"],
                                timing=state.pretimed.pop(case.key(), None),
                                memory_probe=payload.get("memory", True))
        return ("measurement", measured.to_json())
    return ("failure", {"status": "error", "reason": f"unknown request {request!r}"})


def _on_cuda(request: str, payload: Any) -> bool:
    if request == "case":
        return payload["case"].get("device") == "cuda"
    return payload.get("device") == "cuda"


def _release_cuda() -> None:
    import torch

    torch.cuda.empty_cache()
