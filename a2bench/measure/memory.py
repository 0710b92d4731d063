"""Peak memory of one forward pass, above what was allocated before it.

CPU tensor peak: replay the profiler's allocation events (the c10 allocator's, by address) in time
order and take the highest sum of what the call allocated and has not freed. Process peak: reset
the kernel's RSS high-water mark (write 5 to /proc/self/clear_refs), run once, read VmHWM minus
the RSS before.
CUDA: the caching allocator's max_memory_allocated after a reset, minus the baseline.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.autograd import profiler

if TYPE_CHECKING:
    from a2bench.measure.step import Step

Forward = Callable[[], object]


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):  # no C library to ask: nothing buffered
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def _native_fd(fd: int, target: int) -> Iterator[None]:
    """File descriptor `fd` (1 or 2) points at `target` inside the block, for what native code
    writes there; what Python and C's stdio buffered before stays the caller's, and what C
    buffered inside goes to `target`."""
    (sys.stdout if fd == 1 else sys.stderr).flush()
    _flush_c_stdio()
    saved = os.dup(fd)
    try:
        os.dup2(target, fd)
        yield
    finally:
        _flush_c_stdio()
        os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Kineto prints profiler_start/stop lines from C++ on fd 2, over the progress bar."""
    with open(os.devnull, "w") as devnull, _native_fd(2, devnull.fileno()):
        yield


@contextlib.contextmanager
def native_stdout_lines() -> Iterator[list[str]]:
    """The lines native code prints to fd 1 inside the block (oneDNN's verbose mode prints
    there with C's stdio, which Python's sys.stdout does not see); filled when it ends."""
    lines: list[str] = []
    with tempfile.TemporaryFile() as sink:
        with _native_fd(1, sink.fileno()):
            yield lines
        sink.seek(0)
        lines.extend(sink.read().decode(errors="replace").splitlines())


@contextlib.contextmanager
def _profiled(memory: bool = False) -> Iterator[profiler.profile]:
    """Kineto's CPU profiler, as torch.profiler.profile runs it, but entered through autograd's
    profiler: torch.profiler's own start asks hasattr(torch, "_inductor"), which imports inductor
    and dynamo (1.5 s of every measuring worker's start on this repository's VM) for a flag
    that only CUDA graphs read."""
    with _native_stderr_silenced(), profiler.profile(use_cpu=True, use_kineto=True,
                                                     profile_memory=memory) as prof:
        yield prof


def ops_run(forward: Forward) -> set[str]:
    """The names of the operators one call ran (the profiler's events, e.g. aten::bmm): which
    kernel torch chose for a block's own memory model (BlockSpec.backend)."""
    with _profiled() as prof, torch.no_grad():
        forward()
    return {e.name for e in prof.function_events}


def allocations(kineto_results: Any, device: str = "cpu") -> list[tuple[int, int, int, Any]]:
    """The allocations and frees on `device` (a torch.device type) a profile recorded
    (profile_memory=True), in time order: (time in ns, address, bytes, the event tree's node),
    bytes < 0 a free. From the profiler's event tree rather than its flat [memory] events,
    because only the tree says which address each one is."""
    from torch._C._profiler import _EventType

    out = []
    stack = list(kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == device:
            fields = node.extra_fields
            out.append((node.start_time_ns, fields.ptr, fields.alloc_size, node))
    return sorted(out, key=lambda a: a[0])


def window_peak(events: Iterable[tuple[int, int, int, Any]]) -> int:
    """The highest sum of the bytes allocated inside a window and not yet freed, replaying
    `allocations` in order. A free of what was allocated before the window is not counted:
    the allocator reports one wherever an earlier profiled window allocated it (c10's
    ProfiledCPUMemoryReporter keeps the sizes it saw while profiling), so a tensor of an
    earlier case or test that the garbage collector frees mid-window would otherwise lower
    this one's peak by its size (2 KiB under a convolution's model, once in a full test run)."""
    live: dict[int, int] = {}
    running = peak = 0
    for _, ptr, nbytes, _ in events:
        if nbytes > 0:
            live[ptr] = nbytes
            running += nbytes
            peak = max(peak, running)
        elif ptr in live:
            running -= live.pop(ptr)
    return peak


def peak_tensor_bytes_cpu(forward: Forward) -> int:
    with _profiled(memory=True) as prof:
        forward()
    return window_peak(allocations(prof.kineto_results))


def warm_peak_cpu(step: Step) -> int:
    """The tensor peak of one call of `step` after a warm-up call, in its grad mode: what a
    run's memory probe reads on the CPU (run/worker.py, where the warm call is the timing's),
    for the benchmarks and tests that hold a model to it."""
    with torch.set_grad_enabled(step.grad_enabled):
        step.run()  # whatever the first call sets up once is not the call's
        step.release()
        try:
            return peak_tensor_bytes_cpu(step.run)
        finally:
            step.release()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def peak_rss_bytes(forward: Forward) -> int | None:
    """None where the high-water mark cannot be reset (not Linux, or no permission)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
        forward()
        return max(0, _status_kib("VmHWM") - before) * 1024
    except OSError:
        return None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection inside: a collection mid-call frees earlier cases'
    tensors left in reference cycles, and CUDA's allocated bytes, which count every tensor,
    would fall by their size before the call's peak (the CPU peak counts only the call's own
    allocations, window_peak). An explicit gc.collect() still runs."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def peak_bytes_cuda(forward: Forward) -> int:
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    with collector_paused():
        base = torch.cuda.memory_allocated()
        forward()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
