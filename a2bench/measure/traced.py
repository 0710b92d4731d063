"""A counted block's cost at one size, traced without storage: what auto sizes plan with where a
block has no cost model.

The planner (run/plan.py) needs each candidate size's MACs, to predict its time from the
block's measured rate, and its bytes, to keep the window inside one cache regime and within
the memory budget. A modelled block's Cost gives both; a counted block (no cost()) gets them
here. Its module is built on the meta device, then given storage-less tensors on the case's
device (FakeTensorMode), so that one call of the case's step (measure/step.py: the forward
pass, or forward and backward) dispatches the kernels that device would pick. The step runs
under FlopCounterMode (the MACs, as the worker counts them: counters.completed_counter) and
under a dispatch mode that keeps the bytes of the tensors each op allocates until the last
tensor on that storage dies (the live peak, as the worker's profiler replay measures it on the
CPU). Where that cannot run, or runs a fused path that hides its scratch (trace), the step runs
on the meta device instead. Nothing is allocated, so the largest sizes cost milliseconds.

How close it is (tests/test_traced.py, the built-in blocks at one thread): in forward mode the
MACs equal the exact models and the live peak equals the CPU's measured peak. In train mode the
MACs equal the models; the peak equals the measurement for the non-local order and criss-cross,
lies above it for double attention, SE and GC, and below it for the non-local block (scratch its
backward kernels allocate below the dispatcher). Above: any Python dispatch mode, even one that
does nothing, keeps autograd from summing a gradient into its buffer in place. SE's train step
at b 2, c 64, 12 x 12 peaks at 224,028 bytes on the CPU, and at 297,232 under a do-nothing mode,
which is what the trace counts: under such a mode the CPU's measured train peak equals the
trace for every built-in block but the non-local one. A block on SDPA's CPU flash kernel is
traced as that kernel runs (tests/test_fused_attention_counts.py: its forward peak but for the
kernel's tiles). The planner reads the trace as a prediction; the run still measures and
counts every size.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._pytree import tree_flatten

from a2bench.allocator import fragmentation_bytes
from a2bench.case import Case
from a2bench.catalog import spec
from a2bench.errors import InputError
from a2bench.measure import counters
from a2bench.measure.counters import completed_counter
from a2bench.measure.dtypes import DTYPES
from a2bench.measure.eager_dispatch import EagerDispatchMode, eager_flop_counter
from a2bench.measure.step import make_step
from a2bench.registry import SpecError, built_module


class NotTraceable(InputError):
    """A counted block that the meta device cannot run, or that does no MACs: no auto sizes."""


@dataclass(frozen=True)
class Traced:
    """One case's step as the trace saw it, under the names the planner reads from a Cost."""

    device: str
    macs: int  # FlopCounterMode's count halved: MACs
    live_peak_bytes: int  # tensors the step allocates, at their largest sum (as peak_bytes)
    largest_activation_bytes: int  # the largest single storage the step allocated
    parameter_bytes: int  # the module's parameters and buffers, allocated before the step
    bytes_per_element: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def peak_bytes(self) -> int:
        """The case's footprint as the planner reads it (its working set, its size against
        the per-case limit): the live peak and the parameters. A cost model leaves the
        parameters out, as they are small beside its activations; a block without one may
        hold weights that grow with N (a token mixer's N x N) and stream them every call."""
        return self.live_peak_bytes + self.parameter_bytes

    @property
    def runnable_bytes(self) -> int:
        """What the case needs free to run: its footprint, and on CUDA room for a block of its
        largest tensor that the allocator may strand (as Cost.runnable_bytes)."""
        return self.peak_bytes + fragmentation_bytes(self.device, self.largest_activation_bytes)


class _LiveBytes(EagerDispatchMode):
    """The running sum of the storages ops allocate, each held until its last tensor dies.

    An op's output on a storage it did not get as an input is a new allocation; one on an
    input's storage is a view or an in-place result, which adds a reference, not bytes, and
    storages made before the mode (the parameters, the input) are never counted."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: dict[int, list[int]] = {}  # storage -> [tensors alive on it, its bytes]
        self.live = self.peak = self.largest = 0

    def _release(self, key: int) -> None:
        ref = self.refs.get(key)
        if ref is None:
            return
        ref[0] -= 1
        if ref[0] == 0:
            self.live -= ref[1]
            del self.refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        given = {t.untyped_storage()._cdata for t in tree_flatten((args, kwargs))[0]
                 if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in self.refs:
                self.refs[key][0] += 1
            elif key in given:
                continue  # a view of, or an in-place write to, something made before the mode
            else:
                size = storage.nbytes()
                self.refs[key] = [1, size]
                self.live += size
                self.largest = max(self.largest, size)
                self.peak = max(self.peak, self.live)
            weakref.finalize(t, self._release, key)
        return out


@contextlib.contextmanager
def _quiet_fake() -> Iterator[None]:
    """FakeTensorMode, with its logger's traceback of an op that failed kept off the user's
    terminal: such a step is traced again on the meta device, which says why in one line."""
    log = logging.getLogger("torch._subclasses.fake_tensor")
    before = log.level
    log.setLevel(logging.CRITICAL)
    try:
        with FakeTensorMode(allow_non_fake_inputs=True):
            yield
    finally:
        log.setLevel(before)


def _run(case: Case, fake: bool) -> tuple[int, _LiveBytes, frozenset[object], nn.Module]:
    """One step of the case under the counters: (MACs, the live bytes, the operators that ran,
    the module). `fake`: on the case's own device as FakeTensorMode has it, else on meta."""
    dtype = DTYPES[case.dtype]
    with torch.device("meta"):
        module = built_module(spec(case.block), case)
    module = module.to(device="meta", dtype=dtype).eval()
    with _quiet_fake() if fake else contextlib.nullcontext():
        device = case.device if fake else "meta"
        if fake:  # storage-less tensors on the device, which then picks its kernels
            module = module.to_empty(device=device)
        x = torch.empty(case.input_shape, device=device, dtype=dtype)
        step = make_step(module, x, case.mode)
        counter, live, ops = completed_counter(), _LiveBytes(), counters.OpRecorder()
        with eager_flop_counter(), torch.set_grad_enabled(step.grad_enabled), counter, live, ops:
            step.run()
    return counter.get_total_flops() // 2, live, frozenset(ops.ops), module


# The longest a trace may take. It runs the block's forward in a2bench's own process, before
# any worker (the memory budget's check, the auto plan), where --case-timeout cannot reach: a
# plugin block whose forward hung had hung the sweep before its first case. A trace takes well
# under a second for the blocks here.
TRACE_LIMIT_S = 120.0


class TraceExpired(NotTraceable):
    """A trace past TRACE_LIMIT_S: the block's other sizes would wait as long."""


class _Expired(BaseException):  # not an Exception: trace's handlers of the block's own errors
    pass                        # must not take it for one


@contextlib.contextmanager
def _limited(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds`, in the main thread (the only one a signal reaches)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    theirs, _ = signal.setitimer(signal.ITIMER_REAL, seconds)  # a caller's own alarm, if any
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if theirs > 0:  # armed again for what was left of it (at once, if it is past)
            signal.setitimer(signal.ITIMER_REAL,
                             max(theirs - (time.monotonic() - started), 1e-6))


def check_module(case: Case) -> None:
    """SpecError (one line) where the block's module() returns no nn.Module (a forgotten
    return): built on the meta device, so it allocates nothing, within TRACE_LIMIT_S. Anything
    else module() raises there (an op meta has no kernel for) is left to the case, whose worker
    builds it on its own device and records what it raises."""
    try:
        with _limited(TRACE_LIMIT_S), torch.device("meta"):
            built_module(spec(case.block), case)
    except SpecError:
        raise
    except (Exception, _Expired):
        pass


def trace(case: Case) -> Traced:
    """_trace within TRACE_LIMIT_S; NotTraceable (one line) past it."""
    try:
        with _limited(TRACE_LIMIT_S):
            return _trace(case)
    except _Expired:
        raise TraceExpired(
            f"block {case.block} has no cost() and its step without storage did not end within "
            f"{TRACE_LIMIT_S:g} s at {case.label()} (a forward that waits, or loops?); its memory "
            "is not checked before it runs, and auto sizes need it: list its sizes (h and w, "
            "or t), or give the spec a cost() method") from None


def _trace(case: Case) -> Traced:
    """The case's MACs and bytes from one step without storage; NotTraceable (one line) where
    the block cannot run so or does no work the counter sees.

    First as fake tensors on the case's device, so that the step dispatches the kernels the
    device would (on a CPU, SDPA's flash kernel for 4-d inputs with a contiguous last
    dimension, which holds no N x N' tensor; on the meta device SDPA always runs its math
    path, which holds one), and counted as the worker counts (counters.completed_counter).
    On meta where the fake step fails (a device this process has none of), or where it ran a
    fused inference path whose scratch the dispatcher does not see (counters.FUSED_PATHS:
    nn.MultiheadAttention's CPU path holds the heads' N x N scores, which the meta trace's
    decomposed step holds too)."""
    try:
        ran = _run(case, fake=True)
    except SpecError:  # module() returned no module: said as it is, on any device
        raise
    except Exception:  # a device this process has none of, or an op with no fake kernel
        ran = None
    if ran is None or ran[2] & counters.FUSED_PATHS:
        try:
            ran = _run(case, fake=False)
        except SpecError:
            raise
        except Exception as e:  # the user's module, on a device it may not support
            first = (str(e).splitlines() or [""])[0]
            raise NotTraceable(
                f"block {case.block} has no cost() and could not run on the meta device at "
                f"{case.label()} ({type(e).__name__}: {first}); auto sizes need each size's "
                "MACs and bytes: list its sizes (h and w, or t), or give the spec a cost() "
                "method"
            ) from None
    macs, live, _, module = ran
    if not macs:
        raise NotTraceable(
            f"block {case.block} has no cost() and FlopCounterMode counted no MACs in it at "
            f"{case.label()}; auto sizes predict each size's time from its MACs: give the spec "
            "a cost() method, or list its sizes (h and w, or t)")
    held = sum(t.numel() * t.element_size()
               for t in (*module.parameters(), *module.buffers()))
    return Traced(case.device, macs, live.peak, live.largest, held, case.dtype_bytes)
