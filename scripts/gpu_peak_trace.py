"""Which allocations are live at a case's measured peak, which operator made each, beside the
memory model's tensors at its own peak.

    python scripts/gpu_peak_trace.py OUT.txt [BLOCK CHANNELS SIDE MODE DTYPE NAME=VALUE ...]
    (SIDE: a square map's side, or HxW, e.g. 2x64; batch=B and t=T, the frames of a clip,
    among the NAME=VALUE, beside the block's parameters; those not given take its defaults)
    python scripts/gpu_peak_trace.py --device cpu OUT.txt ...   # the same on the CPU

Runs one case's step as the worker measures it (a warm call, then the measured call) under
torch's profiler with its memory events, and walks the profiler's event tree: every allocation
and free, with the operators enclosing it (the ATen op, and in a backward pass the autograd
node, e.g. SoftmaxBackward0 > aten::_softmax_backward_data > aten::mul). It replays them to the
moment the allocated bytes peak and writes every allocation live then, largest first; then the
model's tensors at its own peak, each by name (Cost.peak_tensors), and the step that reaches it
(Cost.peak_at); last, the allocations that no model tensor of the same size pairs with, and the
model's tensors that no allocation pairs with. A tensor the model lacks is one line in the
first of those, and its operator says what made it. No C++ stack symbolisation is needed, so
the trace takes seconds.

On CUDA it also measures the same step's peak with cuDNN off, and with cuDNN's deterministic
kernels: a workspace that cuDNN's heuristics choose by shape changes the peak there.

Made for the one miss the H200 left (2026-12-04, results/gpu-nvidia-h200-auto-training-both):
double attention's train step at c 256, m = n = 128 measured 10 % above its model, one
(b, 128, N) fp32 tensor more at every N, on CUDA only (the CPU peak is the model's to the
byte, and so are the CUDA ones at m = n = 16 and 64). The default case is that one at
N = 256², where the tensor is 32 MiB; scripts/gpu_run.sh runs it. Without a CUDA device it
says so (exit 2) unless asked for the CPU; tests/test_gpu_scripts.py runs it there.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT = ("double_attention", "256", "256", "train", "float32", "m=128", "n=128")
Live = dict[int, tuple[int, str]]  # address -> (bytes, what made it)
NODE = "autograd::engine::evaluate_function: "
# ops that only allocate for the op around them: the op that asked is the one to name
PLUMBING = frozenset({"aten::empty", "aten::empty_like", "aten::empty_strided", "aten::zeros",
                      "aten::zeros_like", "aten::resize_", "aten::new_empty",
                      "aten::new_empty_strided", "aten::as_strided"})


def made_by(chain: Sequence[str]) -> str:
    """What made an allocation, from the names enclosing it (innermost first): the autograd
    node (or "forward"), then the outermost ATen op, then the innermost one that is not an
    allocation helper, where it differs."""
    node = next((n.removeprefix(NODE) for n in chain if n.startswith(NODE)), "forward")
    ops = [n for n in chain if n.startswith("aten::")]
    inner = next((n for n in ops if n not in PLUMBING), ops[0] if ops else "")
    parts = [node, *dict.fromkeys(p for p in (ops[-1] if ops else "", inner) if p)]
    return " > ".join(parts)


def live_at_peak(events: Iterable[Mapping[str, Any]]) -> tuple[int, Live, str]:
    """Replay allocation events in time order (size > 0 an allocation, < 0 a free of the same
    address) from zero: the largest total allocated, the allocations live at that moment, and
    what made the one that reached it."""
    live: Live = {}
    total = peak = 0
    at_peak: Live = {}
    reached = ""
    for e in events:
        if e["size"] > 0:
            live[e["addr"]] = (e["size"], e["where"])
            total += e["size"]
            if total > peak:
                peak, at_peak, reached = total, dict(live), e["where"]
        elif e["addr"] in live:
            total -= live.pop(e["addr"])[0]
    return peak, at_peak, reached


def allocation_events(prof: Any, device: str) -> list[dict[str, Any]]:
    """The allocations and frees on `device` of a profile (profile_memory=True), in time
    order, each with what made it (made_by of its enclosing events)."""
    from a2bench.measure.memory import allocations

    out = []
    for time, addr, size, node in allocations(prof.profiler.kineto_results, device):
        chain, p = [], node.parent
        while p is not None:
            chain.append(p.name)
            p = p.parent
        out.append({"time": time, "addr": addr, "size": size, "where": made_by(chain)})
    return out


def read_traces(text: str) -> list[dict[str, Any]]:
    """The headline of each trace in a file this script wrote (several follow one another, a
    blank line between): the case, the measured, profiled and modelled peaks in bytes, the
    peaks of the variants, what reached the measured peak and the step that reaches the
    model's."""
    traces: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.endswith((" on cuda", " on cpu")):
            traces.append({"case": line, "variants": {}})
        elif not traces:
            continue
        elif line.startswith("measured peak above the baseline "):
            words = line.split()
            traces[-1].update(measured=int(words[5]), profiled=int(words[10]),
                              model=int(words[14]))
        elif line.startswith("  with "):
            name, _, rest = line.removeprefix("  with ").partition(": ")
            traces[-1]["variants"][name] = int(rest.split()[0])
        elif line.startswith("live at the measured peak ("):
            traces[-1]["reached"] = line.split(", reached in ", 1)[1].removesuffix(":")
        elif line.startswith("the model's tensors at its peak, reached in "):
            traces[-1]["model_at"] = line.split(" reached in ", 1)[1].rsplit(" (", 1)[0]
    return traces


class BadCase(ValueError):
    """Arguments that name no case the block takes; the message is one line."""


def _positive(what: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise BadCase(f"{what} {text!r}: expected a positive integer")
    return int(text)


def parse_case(args: Sequence[str], device: str) -> Any:
    """The Case that BLOCK CHANNELS SIDE MODE DTYPE NAME=VALUE ... name, the block's
    parameters not given at its defaults; BadCase where they name none: an unknown block, mode,
    dtype or parameter (a misspelt one had been ignored, the default traced instead), or one
    the block refuses (spec.problems: inner=0 had stopped in a traceback)."""
    from a2bench.case import DTYPE_BYTES, MODES, Case
    from a2bench.catalog import blocks

    block, channels, side, mode, dtype, *more = args
    if block not in blocks():
        raise BadCase(f"block {block!r}: expected one of {', '.join(sorted(blocks()))}")
    spec = blocks()[block]
    c = _positive("CHANNELS", channels)
    h, x, w = side.partition("x")  # SIDE, or HxW for a map that is not square ("4x": neither)
    if not (h.isdigit() and int(h) > 0 and (not x or w.isdigit() and int(w) > 0)):
        raise BadCase(f"SIDE {side!r}: expected a side or HxW of positive integers, e.g. 2x64")
    if mode not in MODES:
        raise BadCase(f"MODE {mode!r}: expected one of {', '.join(MODES)}")
    if dtype not in DTYPE_BYTES:
        raise BadCase(f"DTYPE {dtype!r}: expected one of {', '.join(DTYPE_BYTES)}")
    names = ("batch", "t", *(p.name for p in spec.params))
    given: dict[str, int | str] = {}
    for item in more:  # NAME=VALUE: a number, or a choice such as impl=eager
        name, eq, value = item.partition("=")
        if not eq:
            raise BadCase(f"{item!r}: expected NAME=VALUE, NAME one of {', '.join(names)}")
        if name not in names:
            raise BadCase(f"{item}: {block} has no parameter {name!r}; expected one of "
                          f"{', '.join(names)}")
        if name in given:
            raise BadCase(f"{item}: {name} given twice; expected one value")
        given[name] = int(value) if value.lstrip("-").isdigit() else value
    batch, t = (_positive(n, str(given.pop(n, 1))) for n in ("batch", "t"))
    shape = {"batch": batch, "channels": c, "t": t, "h": int(h), "w": int(w or h)}
    params = spec.resolve({**shape, **given})
    if problems := spec.problems({**shape, "mode": mode, **params}):
        name, why = problems[0]
        sides = "x".join(str(shape[a]) for a in ("t", "h", "w") if a != "t" or t > 1)
        raise BadCase(f"{name}: {why} ({block} at b {batch}, c {c}, {sides}, {mode})")
    return Case(block, device, dtype, batch, c, t, int(h), int(w or h), params=params, mode=mode)


def unpaired(measured: Sequence[tuple[int, str]], model: Sequence[tuple[str, int]]
             ) -> tuple[list[tuple[int, str]], list[tuple[str, int]]]:
    """The measured allocations (bytes, what made it) and the model's tensors (name, bytes)
    that pair with none of the other side's of the same size, each paired once, largest
    first."""
    left = sorted(model, key=lambda t: -t[1])
    alone = []
    for size, where in sorted(measured, reverse=True):
        match = next((i for i, (_, n) in enumerate(left) if n == size), None)
        if match is None:
            alone.append((size, where))
        else:
            left.pop(match)
    return alone, left


def _mib(size: int) -> str:
    return f"{size:>14} {size / 2**20:10.2f} MiB"


def main(argv: list[str]) -> int:
    device = "cuda"
    if argv[:1] == ["--device"] and len(argv) > 1:
        device, argv = argv[1], argv[2:]
    if device not in ("cuda", "cpu") or (len(argv) != 1 and len(argv) < 6):
        print("usage: scripts/gpu_peak_trace.py [--device cpu] OUT.txt [BLOCK CHANNELS SIDE|HxW "
              "MODE DTYPE NAME=VALUE ...]", file=sys.stderr)
        return 2
    import torch
    from torch.profiler import ProfilerActivity, profile

    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_peak_trace: no CUDA device here: nothing to trace (--device cpu traces the "
              "CPU)", file=sys.stderr)
        return 2
    from a2bench.blocks import build
    from a2bench.catalog import cost_of, spec
    from a2bench.measure import memory
    from a2bench.measure.step import make_step
    from a2bench.measure.timing import cuda_flags

    try:
        case = parse_case(argv[1:] or DEFAULT, device)
    except BadCase as e:
        print(f"gpu_peak_trace: {e}", file=sys.stderr)
        return 2
    block = case.block
    if device == "cuda":
        cuda_flags()
    else:  # one thread, as the CPU models hold one thread's scratch (oneDNN's grows with more)
        torch.set_num_threads(1)
    module, x = build(case)
    step = make_step(module, x, case.mode)
    measure = memory.peak_bytes_cuda if device == "cuda" else memory.peak_tensor_bytes_cpu
    # the model of the kernel that ran, as a run's record takes it (BlockSpec.backend)
    cost = cost_of(case, spec(block).backend(module, x))
    model_peak, model_tensors, model_at = cost.peak_bytes, cost.peak_tensors, cost.peak_at
    with torch.set_grad_enabled(step.grad_enabled):
        step.run()  # the warm call, as the worker makes before its memory probe
        step.release()
        measured = measure(step.run)  # as the worker measures it
        step.release()
        variants = []
        if device == "cuda":  # the same step without cuDNN, and with its deterministic kernels
            cudnn = torch.backends.cudnn
            saved = (cudnn.enabled, cudnn.deterministic)
            for name, enabled, deterministic in (("cuDNN off", False, saved[1]),
                                                 ("cuDNN deterministic", True, True)):
                cudnn.enabled, cudnn.deterministic = enabled, deterministic
                step.run()
                step.release()
                variants.append((name, measure(step.run)))
                step.release()
            cudnn.enabled, cudnn.deterministic = saved
            step.run()
            step.release()
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        # the allocator reports CUDA allocations to the profiler from the CPU side: no CUPTI
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            step.run()
        if device == "cuda":
            torch.cuda.synchronize()
    peak, live, reached = live_at_peak(allocation_events(prof, device))
    lines = [case.label() + f" on {device}",
             f"measured peak above the baseline {measured} bytes; the profile's peak {peak} "
             f"bytes; the model {model_peak} bytes ({measured / model_peak - 1:+.2%})"]
    lines += [f"  with {name}: {bytes_} bytes ({bytes_ / model_peak - 1:+.2%} against the "
              "model)" for name, bytes_ in variants]
    lines += ["", f"live at the measured peak ({len(live)} allocations), reached in {reached}:"]
    lines += [f"{_mib(size)}  {where}" for size, where in sorted(live.values(), reverse=True)]
    lines += ["", f"the model's tensors at its peak, reached in {model_at} "
              f"({len(model_tensors)}):"]
    lines += [f"{_mib(size)}  {name}" for name, size in sorted(model_tensors,
                                                               key=lambda t: -t[1])]
    alone, lacking = unpaired(list(live.values()), model_tensors)
    lines += ["", f"live at the measured peak, with no model tensor of its size ({len(alone)}):"]
    lines += [f"{_mib(size)}  {where}" for size, where in alone]
    lines += ["", f"the model's, with no live allocation of its size ({len(lacking)}):"]
    lines += [f"{_mib(size)}  {name}" for name, size in lacking]
    Path(argv[0]).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:2 + len(variants)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
