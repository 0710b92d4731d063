"""Which allocations are live at a CUDA case's measured peak, beside the model's tensors there.

    python scripts/gpu_peak_trace.py OUT.txt [BLOCK CHANNELS SIDE MODE DTYPE NAME=VALUE ...]

Runs one case's step as the worker measures it (a warm call, then the measured call) under
torch's allocator history (torch.cuda.memory._record_memory_history, with Python and C++
stacks), replays the measured call's allocation events to the moment the allocated bytes
peak, and writes every allocation live then (its size and where it was made) and the memory
model's tensors at its own peak (Cost._peak), largest first. A tensor the model lacks is one
line in the first list with no partner in the second.

Made for the one miss the H200 left (2026-12-04, results/gpu-nvidia-h200-auto-training-both):
double attention's train step at c 256, m = n = 128 measured 10 % above its model, one
(b, 128, N) fp32 tensor more at every N, on CUDA only (the CPU peak is the model's to the
byte, and so are the CUDA ones at m = n = 16 and 64). The default case is that one at
N = 256², where the tensor is 32 MiB. scripts/gpu_run.sh runs it; a CPU host has nothing to
trace and says so (exit 2). The replay (live_at_peak) is pure and tested on CPU.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT = ("double_attention", "256", "256", "train", "float32", "m=128", "n=128")
Live = dict[int, tuple[int, str]]  # address -> (bytes, where it was made)


def _where(frames: Sequence[Mapping[str, Any]]) -> str:
    """The innermost frame in this repository's Python and the innermost C++ (ATen) frame."""
    ours = next((f"{Path(f['filename']).name}:{f['line']} {f['name']}" for f in frames
                 if "/a2bench/" in f.get("filename", "")), "")
    aten = next((f["name"] for f in frames
                 if f.get("name", "").startswith(("at::", "cudnn", "cublas", "pytorch_flash"))),
                "")
    return " | ".join(p for p in (ours, aten[:90]) if p) or "?"


def live_at_peak(events: Iterable[Mapping[str, Any]]) -> tuple[int, Live]:
    """Replay allocator trace events ('alloc', then 'free_completed' or, where the trace
    has none, 'free_requested') from zero: the largest total allocated, and the allocations
    live at that moment."""
    events = list(events)
    free = "free_completed" if any(e["action"] == "free_completed" for e in events) \
        else "free_requested"
    live: Live = {}
    total = peak = 0
    at_peak: Live = {}
    for e in events:
        if e["action"] == "alloc":
            live[e["addr"]] = (e["size"], _where(e.get("frames", ())))
            total += e["size"]
            if total > peak:
                peak, at_peak = total, dict(live)
        elif e["action"] == free and e["addr"] in live:
            total -= live.pop(e["addr"])[0]
    return peak, at_peak


def _parse(args: Sequence[str]) -> tuple[str, int, int, str, str, dict[str, int]]:
    block, channels, side, mode, dtype, *more = args
    params = {}
    for item in more:
        name, _, value = item.partition("=")
        params[name] = int(value)
    return block, int(channels), int(side), mode, dtype, params


def main(argv: list[str]) -> int:
    if len(argv) != 1 and len(argv) < 6:  # OUT alone, or OUT and a whole case
        print("usage: scripts/gpu_peak_trace.py OUT.txt [BLOCK CHANNELS SIDE MODE DTYPE "
              "NAME=VALUE ...]", file=sys.stderr)
        return 2
    import torch

    if not torch.cuda.is_available():
        print("gpu_peak_trace: no CUDA device here: nothing to trace", file=sys.stderr)
        return 2
    from a2bench.blocks import build
    from a2bench.case import Case
    from a2bench.catalog import cost_of
    from a2bench.measure.step import make_step
    from a2bench.measure.timing import cuda_flags

    block, channels, side, mode, dtype, params = _parse(argv[1:] or DEFAULT)
    case = Case(block, "cuda", dtype, 1, channels, 1, side, side, params, mode=mode)
    cuda_flags()
    module, x = build(case)
    step = make_step(module, x, case.mode)
    with torch.set_grad_enabled(step.grad_enabled):
        step.run()  # the warm call, as the worker makes before its memory probe
        step.release()
        # then as measure.memory.peak_bytes_cuda: cached blocks released, peak from here
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        torch.cuda.memory._record_memory_history(max_entries=200_000, stacks="all")
        step.run()
        torch.cuda.synchronize()
        measured = torch.cuda.max_memory_allocated() - base
        snapshot = torch.cuda.memory._snapshot()
        torch.cuda.memory._record_memory_history(enabled=None)
    events = [e for trace in snapshot["device_traces"] for e in trace]
    peak, live = live_at_peak(events)
    cost = cost_of(case)
    model_peak, model_tensors = cost._peak
    lines = [case.label(),
             f"measured peak above the baseline {measured} bytes; the trace's peak {peak} "
             f"bytes; the model {model_peak} bytes ({measured / model_peak - 1:+.2%})",
             "", f"live at the measured peak ({len(live)} allocations):"]
    lines += [f"{size:>14} {size / 2**20:10.2f} MiB  {where}"
              for size, where in sorted(live.values(), reverse=True)]
    lines += ["", f"the model's tensors at its peak ({len(model_tensors)}):"]
    lines += [f"{size:>14} {size / 2**20:10.2f} MiB" for size in sorted(model_tensors,
                                                                        reverse=True)]
    Path(argv[0]).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
