"""Which precision the operators actually ran in, and what the CPU offers for reduced precision.

A module converted to bfloat16 may still run an operator in float32 (an op without a reduced
precision kernel that upcasts, or a fused kernel's output); on a CPU without bf16 instructions a
bfloat16 case is emulated and slow. Both are recorded so a result is read for what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._pytree import tree_leaves

from a2bench.case import REDUCED_DTYPES
from a2bench.measure.eager_dispatch import EagerDispatchMode

# /proc/cpuinfo flags of native reduced-precision arithmetic on x86 (AVX-512 BF16 and FP16,
# AMX tiles, AVX-VNNI-INT8's sibling AVX-NE-CONVERT for bf16 conversions).
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "avx_ne_convert")
FP16_FLAGS = ("avx512_fp16", "amx_fp16")


@dataclass(frozen=True)
class Precision:
    ran_dtypes: tuple[str, ...]  # floating dtypes of the operators' results
    # ops whose floating output was float32 in a reduced-precision case
    fallback_ops: tuple[str, ...]


class _DtypeRecorder(EagerDispatchMode):  # entered around the eager module only (measure_case)
    def __init__(self) -> None:
        super().__init__()
        self.outputs: list[tuple[str, str]] = []  # (op, dtype)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if not getattr(func, "is_view", False):
            # The first floating output is the op's result; later ones are side outputs kept in
            # float32 by design (flash attention's logsumexp, batch norm's statistics).
            for leaf in tree_leaves(out):
                if isinstance(leaf, torch.Tensor) and leaf.is_floating_point():
                    self.outputs.append((str(func.overloadpacket), str(leaf.dtype)))
                    break
        return out


def observe(call: Callable[[], object], dtype: str) -> Precision:
    """Run `call` once (forward or train step, grad mode set by the caller) and record dtypes."""
    recorder = _DtypeRecorder()
    with recorder:
        call()
    ran = tuple(sorted({d.removeprefix("torch.") for _, d in recorder.outputs}))
    fallback: tuple[str, ...] = ()
    if dtype in REDUCED_DTYPES:
        fallback = tuple(sorted({op for op, d in recorder.outputs if d == "torch.float32"}))
    return Precision(ran, fallback)


def cpu_reduced_precision() -> dict[str, object]:
    """What the CPU offers: torch's dispatch level and the native bf16/fp16 instruction flags."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    bf16 = [f for f in BF16_FLAGS if f in flags]
    fp16 = [f for f in FP16_FLAGS if f in flags]
    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": bool(set(bf16) & {"avx512_bf16", "amx_bf16"}),
        "native_fp16": bool(fp16),
        "flags": bf16 + fp16,
    }
