"""A kernel's name as a record's `backend` holds it, with the thread count where its buffers
follow it: `<kernel>_t<N>` at N threads, the bare name at one.

oneDNN's float32 convolution splits its weight gradient over its threads (onednn.
onednn_f32_weight_scratchpad), and SDPA's CPU flash kernel keeps a scratch per thread
(blocks.nonlocal_block); the memory model of a stored record reads the count from the name, as
it reads the kernel, so `remodel` and `report` need nothing but the record. Pure string
functions: no torch here.
"""

from __future__ import annotations

from collections.abc import Iterable


def threaded(kernel: str, threads: int) -> str:
    """`kernel` named for `threads` torch threads: the bare name at one."""
    return kernel if threads <= 1 else f"{kernel}_t{threads}"


def thread_count(name: str, kernel: str) -> int | None:
    """The thread count `name` carries if it names `kernel` (threaded's form), else None."""
    if name == kernel:
        return 1
    head, _, count = name.rpartition("_t")
    return int(count) if head == kernel and count.isdigit() and int(count) > 1 else None


def with_threads(backend: str, kernels: tuple[str, ...], threads: int) -> str:
    """A stored `backend` ("+"-joined parts) with each bare part among `kernels` named for the
    record's thread count: records written before the names carried it."""
    return "+".join(threaded(part, threads) if part in kernels else part
                    for part in backend.split("+")) if backend else backend


# Operators that multiply-add and that neither FlopCounterMode has a formula for nor a2bench's
# count closes (measure/counters.py): FFTs (a spectral token mixer's), the distance kernels
# torch.cdist runs, and oneDNN's fused RNN layer (nn.LSTM on a CPU). A counted block that runs
# one is judged against less work than it does; the run says so (run/summary.py).
UNCOUNTED_OPS = frozenset({
    "aten._fft_r2c", "aten._fft_c2r", "aten._fft_c2c",
    "aten._euclidean_dist", "aten._cdist_forward", "aten._cdist_backward",
    "aten.mkldnn_rnn_layer", "aten.mkldnn_rnn_layer_backward",
})


UNCOUNTED = "macs_counted leaves out the work of operators FlopCounterMode has no formula for"


def uncounted(skipped: Iterable[str]) -> list[str]:
    """The operators FlopCounterMode skipped (a record's `torch_skipped`, split) among
    UNCOUNTED_OPS."""
    return sorted(set(skipped) & UNCOUNTED_OPS)
