"""Which kernel torch ran for a block's operators, where the memory model depends on it: a block
that reports one in BlockSpec.backend gets it back in cost(case, backend=...).
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from a2bench.case import Case
from a2bench.onednn import (
    ONEDNN_F32_BATCH,
    onednn_bf16_kernel,
    onednn_f32_kernel,
    onednn_f32_possible,
)

# oneDNN's verbose line of one primitive's call names its implementation and the ISA it ran
# on: "onednn_verbose,v1,primitive,exec,cpu,convolution,jit_bf16_1x1:avx512_core_bf16,...".
_CONVOLUTION_IMPL = re.compile(r",convolution,[^,:]*:([^,]+),")


def conv_kernel(module: nn.Module, x: Tensor, ops: set[str] | None = None) -> str:
    """The oneDNN kernel where the block's convolutions run on oneDNN (aten::mkldnn_convolution),
    whose scratch the model then holds: onednn.onednn_bf16_kernel for bfloat16 (onednn.
    onednn_bf16_scratch), onednn.onednn_f32_kernel of torch's thread count for float32, which
    torch runs there at more than one thread or batch 16 and more (onednn.onednn_f32_scratch,
    whose weight gradient oneDNN splits by the threads); "" for ATen's own kernel (float32 at one
    thread and batch under 16, bf16 on a CPU without AVX-512). `ops`: the operators one forward
    ran (measure.memory.ops_run), where the caller has them; else one forward is profiled
    here."""
    if x.dtype not in (torch.bfloat16, torch.float32) or x.device.type != "cpu":
        return ""
    # torch's own rule keeps float32 on ATen here, so no forward need be profiled: the worker
    # asks this of every case in every pass, and most runs are float32 at one thread
    if x.dtype == torch.float32 and not onednn_f32_possible(x.shape[0], torch.get_num_threads()):
        return ""
    if ops is None:
        from a2bench.measure.memory import ops_run

        ops = ops_run(lambda: module(x))
    if "aten::mkldnn_convolution" not in ops:
        return ""
    if x.dtype == torch.float32:
        return onednn_f32_kernel(torch.get_num_threads(), onednn_f32_isa())
    return onednn_bf16_kernel(onednn_bf16_isa())


def _impl_isa(conv: nn.Module, x: Tensor) -> str:
    """The ISA oneDNN's verbose line names for one forward of `conv` on `x`; "" where it printed
    none (torch ran ATen's kernel) or the line could not be read."""
    from a2bench.measure.memory import native_stdout_lines

    try:
        with native_stdout_lines() as lines, torch.no_grad(), \
                torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            conv(x)
    except (OSError, RuntimeError):  # no fd 1 to borrow, or a torch without oneDNN's verbose
        return ""
    found = (_CONVOLUTION_IMPL.search(line) for line in lines)
    return next((m.group(1) for m in found if m), "")


@functools.cache
def onednn_f32_isa() -> str:
    """The ISA oneDNN runs a float32 1x1 convolution on in this process ("avx512_core" on
    AVX-512, "avx2" without it), read from its verbose line of one tiny Conv1d's forward at
    batch ONEDNN_F32_BATCH (where torch runs it on oneDNN at any thread count), once per
    process: its channel block follows the ISA (onednn.onednn_f32_channel_block)."""
    with _threads(1):
        return _impl_isa(nn.Conv1d(8, 8, kernel_size=1),
                         torch.zeros(ONEDNN_F32_BATCH, 8, 8))


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """torch's thread count set to `n` for a probe, and given back."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def onednn_bf16_isa() -> str:
    """The ISA oneDNN runs a bfloat16 1x1 convolution on in this process ("avx512_core_bf16"
    with bf16 instructions, "avx512_core" without them; ONEDNN_MAX_CPU_ISA caps it), read from
    oneDNN's verbose line of one tiny Conv1d's forward, once per process; "" where torch does
    not run it on oneDNN or oneDNN printed no such line. The scratch oneDNN allocates follows
    the ISA (onednn.onednn_bf16_kernel)."""
    if not onednn_runs_bf16_convolutions():
        return ""
    return _impl_isa(*_tiny_bf16_conv())


@functools.cache
def onednn_runs_bf16_convolutions() -> bool:
    """Whether torch runs a bfloat16 1x1 convolution on oneDNN on this machine: one tiny
    Conv1d's forward under the profiler, once per process. torch decides it by the CPU's ISA
    (oneDNN's bf16 support: AVX-512 or AVX2-VNNI-2 on x86), the same on every call, so the
    answer for one shape is the answer for all the blocks' convolutions."""
    from a2bench.measure.memory import ops_run

    conv, x = _tiny_bf16_conv()
    return "aten::mkldnn_convolution" in ops_run(lambda: conv(x))


def _tiny_bf16_conv() -> tuple[nn.Module, Tensor]:
    """A 1x1 Conv1d and its input in bfloat16: the probe of what torch and oneDNN run it on."""
    return (nn.Conv1d(16, 16, kernel_size=1).to(torch.bfloat16),
            torch.zeros(1, 16, 8, dtype=torch.bfloat16))


def expected_conv_kernel(case: Case, threads: int = 1) -> str:
    """The kernel a case's convolutions are expected to run before it runs (no module yet):
    what conv_kernel would record at `threads` torch threads, for the budget check and the
    planner (BlockSpec.expected_backend). float32 runs on oneDNN at batch 16 and more, or at
    more than one thread (torch's ConvParams::use_mkldnn); at more threads a batch-1
    convolution of at most ONEDNN_F32_MIN_INPUT input elements stays on ATen's kernel, which
    the model of onednn_f32 holds per convolution (onednn.onednn_f32_runs)."""
    if case.device != "cpu":
        return ""
    if case.dtype == "float32":
        return (onednn_f32_kernel(threads, onednn_f32_isa())
                if onednn_f32_possible(case.batch, threads) else "")
    if case.dtype != "bfloat16":
        return ""
    return onednn_bf16_kernel(onednn_bf16_isa()) if onednn_runs_bf16_convolutions() else ""
