"""`a2bench audit`: what the field's FLOP counters report for each block, against the exact model.

Every counter is run on every block (the registered ones, or a suite's) at a few shapes, and
its total is set beside a2bench's model, in MACs. Where they differ, the audit says why, with
numbers it computes:

1. Each counter's *convention* for each kind of work is probed on a tiny module that does only
   that work (a 1x1 convolution without bias, one with bias, a bmm, a fused attention, an
   attention on SDPA's math path, an average and a max pooling, a ReLU module, a functional
   relu, a LayerNorm, an eval BatchNorm):
   its count per unit of that work.
2. The block's own amounts of each kind are measured once: the products from FlopCounterMode's
   per-operator breakdown (it counts products exactly), the bias adds, pooled, ReLU'd and
   normalised (LayerNorm, BatchNorm) elements from module hooks and the operators that ran.
3. A counter's count is then predicted as the sum of convention x amount. The terms where its
   convention differs from the model's (products 1 MAC each, everything else 0) are what it
   missed or added; whatever the prediction does not reach is reported as unexplained. Where
   the model itself is off the products that ran (a plugin's cost()), that is said apart, as
   the model's: every counter's difference from it holds it.

The verdict per counter and block is `exact`, `over by X %` or `under by X %`, and a counter
that misses the attention products (bmm, matmul, fused attention) is flagged with the operator.
"""

from __future__ import annotations

import math
import os
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

# The records and the renderings live beside this module (model.py, text.py); every name that
# the CLI and the tests reach as `a2bench.audit.X` is imported here so that it keeps working.
from a2bench.audit.model import (
    COUNTER_LABELS,
    COUNTERS,
    WORK,
    Audit,
    Convention,
    NotCounted,
    Row,
    Work,
)
from a2bench.audit.text import (
    UNITS,
    explanation,
    folder_problem,
    notes,
    summary,
    table,
    to_markdown,
    verdict_lines,
    write,
)
from a2bench.case import Case
from a2bench.errors import InputError
from a2bench.formatting import format_bytes
from a2bench.measure import counters
from a2bench.measure.eager_dispatch import EagerDispatchMode, eager_flop_counter

__all__ = [
    "COUNT", "COUNTER_LABELS", "COUNTERS", "UNITS", "WORK", "Audit", "Convention", "NotCounted",
    "Row", "Work", "amounts", "audit_case", "cases_of_suite", "conventions", "counted_blocks",
    "default_cases", "explanation", "folder_problem", "notes", "reduced", "run_audit",
    "suite_cases", "summary", "table", "to_markdown", "variant", "verdict_lines", "write",
]

COUNT: dict[str, Callable[[nn.Module, Tensor], counters.Count]] = {
    "torch": counters.count_torch, "fvcore": counters.count_fvcore,
    "ptflops": counters.count_ptflops, "thop": counters.count_thop}
_POOL_OPS = ("adaptive_avg_pool2d", "_adaptive_avg_pool2d", "avg_pool2d", "mean")
_POOL3D_OPS = ("adaptive_avg_pool3d", "_adaptive_avg_pool3d", "avg_pool3d")


class _OpElements(EagerDispatchMode):
    """Input elements of the pooling operators and output elements of relu, as they run."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = 0
        self.pool3d = 0
        self.maxpool = 0
        self.relu = 0
        self.sdpa = 0
        self.in_sdpa = 0  # depth of F.scaled_dot_product_attention calls (_InSdpa)
        self.sdpa_bmm = 0  # bmm MACs run inside one: its math path

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        # A pooling to one value reaches the dispatcher as a mean: its input's rank tells a
        # clip's 3-D pooling from a map's 2-D one, which a counter may count (fvcore) or not
        if name in _POOL_OPS + _POOL3D_OPS and args and isinstance(args[0], Tensor):
            if name in _POOL3D_OPS or args[0].dim() == 5:
                self.pool3d += args[0].numel()
            else:
                self.pool += args[0].numel()
        elif name.startswith("max_pool") and args and isinstance(args[0], Tensor):
            self.maxpool += args[0].numel()
        elif name in ("relu", "relu_") and isinstance(out, Tensor):
            self.relu += out.numel()
        elif name in ("bmm", "baddbmm") and self.in_sdpa:
            a, b = args[-2:] if name == "baddbmm" else args[:2]
            self.sdpa_bmm += a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
        elif "scaled_dot_product" in name and not name.endswith("backward"):
            # A fused kernel (flash, memory-efficient): q k^T and then (.) v, from the shapes,
            # since FlopCounterMode has no formula for every backend (CPU flash among them).
            q, k, v = args[:3]
            self.sdpa += (q.numel() // q.shape[-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])
        return out


class _InSdpa(TorchFunctionMode):
    """Marks the dispatches made inside F.scaled_dot_product_attention: a composite call that
    reaches the dispatcher as its math path's bmm where no fused kernel takes it."""

    def __init__(self, ops: _OpElements) -> None:
        super().__init__()
        self.ops = ops

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func is not F.scaled_dot_product_attention:
            return func(*args, **(kwargs or {}))
        self.ops.in_sdpa += 1
        try:
            return func(*args, **(kwargs or {}))
        finally:
            self.ops.in_sdpa -= 1


def amounts(module: nn.Module, x: Tensor) -> dict[str, int]:
    """How much of each kind of work one forward pass of `module` on `x` does."""
    bias = relu_module = layernorm = batchnorm = pool_in = pool_out = maxpool_module = 0

    def hook(mod: nn.Module, inputs: tuple[Any, ...], out: Any) -> None:
        nonlocal bias, relu_module, layernorm, batchnorm, pool_in, pool_out, maxpool_module
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and mod.bias is not None:
            bias += out.numel()
        elif isinstance(mod, nn.ReLU):
            relu_module += out.numel()
        elif isinstance(mod, nn.AdaptiveAvgPool2d):
            pool_in += inputs[0].numel()
            pool_out += out.numel()
        elif isinstance(mod, nn.MaxPool2d):
            maxpool_module += inputs[0].numel()
        elif isinstance(mod, nn.LayerNorm):
            layernorm += inputs[0].numel()
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
            batchnorm += inputs[0].numel()

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    flops = FlopCounterMode(display=False)
    ops = _OpElements()
    try:
        with eager_flop_counter(), torch.no_grad(), flops, ops, _InSdpa(ops):
            module(x)
    finally:
        for h in handles:
            h.remove()
    by_op: dict[str, int] = {}
    for op, n in flops.get_flop_counts().get("Global", {}).items():
        by_op[str(getattr(op, "__name__", op))] = int(n) // 2
    return {
        "conv": sum(v for k, v in by_op.items() if "convolution" in k),
        "linear": sum(v for k, v in by_op.items() if k in ("addmm", "mm")),
        "bmm": sum(v for k, v in by_op.items() if k in ("bmm", "baddbmm")) - ops.sdpa_bmm,
        "sdpa": ops.sdpa,
        "sdpa_math": ops.sdpa_bmm,
        "bias": bias,
        # the functional kinds: what ran less what the modules ran
        "pool": max(0, ops.pool - pool_in),
        "pool3d": ops.pool3d,
        "relu_module": relu_module,
        "relu_functional": max(0, ops.relu - relu_module),
        "layernorm": layernorm,
        "batchnorm": batchnorm,
        "maxpool": max(0, ops.maxpool - maxpool_module),
        "pool_module": pool_in,
        "pool_module_out": pool_out,
        "maxpool_module": maxpool_module,
    }


class _Probe(nn.Module):
    def __init__(self, fn: Callable[[nn.Module, Tensor], Tensor], *mods: nn.Module):
        super().__init__()
        self.mods = nn.ModuleList(mods)
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(self, x)


def _probes() -> dict[str, _Probe]:
    """One tiny module per kind of work; bias is read from a convolution with one."""
    def flat(x: Tensor) -> Tensor:
        return x.flatten(2)

    return {
        "conv": _Probe(lambda s, x: s.mods[0](x), nn.Conv2d(8, 8, 1, bias=False)),
        "linear": _Probe(lambda s, x: s.mods[0](x.flatten(1)), nn.Linear(128, 8, bias=False)),
        "bmm": _Probe(lambda s, x: torch.bmm(flat(x), flat(x).transpose(1, 2))),
        # (b, heads, L, d): the fused kernel the blocks reach, not the 3-D math fallback
        "sdpa": _Probe(lambda s, x: F.scaled_dot_product_attention(x, x, x)),
        # 3-D: no fused kernel takes it, so its math path's bmm run
        "sdpa_math": _Probe(lambda s, x: F.scaled_dot_product_attention(flat(x), flat(x),
                                                                        flat(x))),
        "bias": _Probe(lambda s, x: s.mods[0](x), nn.Conv2d(8, 8, 1, bias=True)),
        "pool": _Probe(lambda s, x: F.adaptive_avg_pool2d(x, 1)),
        "pool3d": _Probe(lambda s, x: F.adaptive_avg_pool3d(x.unsqueeze(2), 1)),
        "relu_module": _Probe(lambda s, x: s.mods[0](x), nn.ReLU()),
        "relu_functional": _Probe(lambda s, x: F.relu(x)),
        "layernorm": _Probe(lambda s, x: s.mods[0](x), nn.LayerNorm([8, 4, 4])),
        "batchnorm": _Probe(lambda s, x: s.mods[0](x), nn.BatchNorm2d(8).eval()),
        "maxpool": _Probe(lambda s, x: F.max_pool2d(x, 3, 2, 1)),
        # two output sizes tell a rate per input element from one per output element
        "pool_module": _Probe(lambda s, x: s.mods[0](x), nn.AdaptiveAvgPool2d(1)),
        "pool_module_out": _Probe(lambda s, x: s.mods[0](x), nn.AdaptiveAvgPool2d(2)),
        "maxpool_module": _Probe(lambda s, x: s.mods[0](x), nn.MaxPool2d(3, 2, 1)),
    }



def conventions(names: Sequence[str] = COUNTERS) -> dict[str, Convention]:
    """Each counter's rate for each kind of work, read off the probes: one probe a kind, so
    the rates solve a square system (probe amounts x rates = counts). A probe may do other
    kinds' work too (a convolution with a bias; a pooling module's input and its output)."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, 4, 4)
    probes = _probes()
    kinds = [w for w in probes if amounts(probes[w], x)[w]]  # a probe that does its own work
    matrix = np.array([[amounts(probes[w], x)[v] for v in kinds] for w in kinds], dtype=float)
    out = {}
    for name in names:
        counts = []
        missing = None
        for work in kinds:
            got = COUNT[name](probes[work], x)
            if got.macs is None:
                missing = got.error or "no count"
                break
            counts.append(got.macs)
        if missing is not None:
            out[name] = Convention(name, {}, missing)
            continue
        # rounded to a millionth: a rate is a counter's rule, and the solve's float error
        # would otherwise print as 0.999999999 (and + 0.0: no -0)
        solved = np.round(np.linalg.solve(matrix, np.array(counts, dtype=float)), 6)
        rates = {w: math.nan for w in probes} | {w: float(r) + 0.0 for w, r in
                                                 zip(kinds, solved, strict=True)}
        out[name] = Convention(name, rates, None)
    return out


def variant(case: Case) -> str:
    """The block and its categorical parameters (a different kernel): nonlocal[sdpa]."""
    choices = [str(v) for _, v in case.params if isinstance(v, str)]
    return f"{case.block}[{', '.join(choices)}]" if choices else case.block


def audit_case(case: Case, model_macs: int, conv: dict[str, Convention],
               module: nn.Module, x: Tensor) -> list[Row]:
    a = amounts(module, x)
    rows = []
    block = variant(case)
    # the products that ran, as the model counts them: where a block's cost() is off them, each
    # counter's difference from the model holds that too, and is not the counter's doing
    model_off = model_macs - sum(w.model_rate * a[w.name] for w in WORK)
    for name, c in conv.items():
        if c.missing is not None:
            rows.append(Row(block, case.label(), name, None, model_macs, reason=c.missing,
                            model_off=model_off))
            continue
        got = COUNT[name](module, x)
        if got.macs is None:
            rows.append(Row(block, case.label(), name, None, model_macs, reason=got.error,
                            model_off=model_off))
            continue
        missed, added, predicted = [], [], 0.0
        for w in WORK:
            rate = c.rates.get(w.name, math.nan)
            if not a[w.name] or math.isnan(rate):
                continue
            predicted += rate * a[w.name]
            delta = round((rate - w.model_rate) * a[w.name])
            if delta < 0:
                missed.append((w.name, -delta))
            elif delta > 0:
                added.append((w.name, delta))
        rows.append(Row(block, case.label(), name, got.macs, model_macs, tuple(missed),
                        tuple(added), int(round(got.macs - predicted)), model_off=model_off))
    return rows


def default_cases() -> list[Case]:
    """Every registered block at a few shapes (its defaults; every choice of a categorical
    parameter): c = 64 at 48x48 (the shape of docs/results.md's table), c = 256 at 14x14, and a
    clip of 4 frames of 14x14 at c = 64 where the block takes clips; a block whose examples
    all take one channel count (ResNet-50's images) at that one."""
    from a2bench.catalog import blocks

    shapes = ({"batch": 1, "channels": 64, "t": 1, "h": 48, "w": 48},
              {"batch": 1, "channels": 256, "t": 1, "h": 14, "w": 14},
              {"batch": 1, "channels": 64, "t": 4, "h": 14, "w": 14})
    out = []
    for name, spec in blocks().items():  # counted blocks too: run_audit names them unaudited
        choices = [{}]
        for p in spec.params:
            if p.choices:
                choices = [{**c, p.name: v} for c in choices for v in p.choices]
        # a block whose every example has one channel count takes that input (ResNet-50:
        # images, c = 3), not a feature map of 64 or 256 channels
        fixed = {e.get("channels") for e in spec.examples}
        own = {"channels": fixed.pop()} if len(fixed) == 1 and None not in fixed else {}
        for shape in dict.fromkeys(tuple({**base, **own}.items()) for base in shapes):
            for choice in choices:
                params = spec.resolve({**dict(shape), **choice})
                if spec.problems({**dict(shape), **params}):
                    continue  # e.g. criss-cross on a clip
                out.append(Case(name, "cpu", "float32", *dict(shape).values(), params=params))
    return out


def suite_cases(cases: Sequence[Case], per_block: int = 3) -> list[Case]:
    """A suite's forward float32 eager cases on CPU, up to `per_block` per block variant,
    spread over its sizes (smallest, middle, largest): counts need no more to be compared."""
    groups: dict[tuple[str, tuple[Any, ...]], list[Case]] = {}
    for c in cases:
        c = Case(c.block, "cpu", "float32", c.batch, c.channels, c.t, c.h, c.w,
                 params=dict(c.params))
        categorical = tuple((k, v) for k, v in c.params if isinstance(v, str))
        groups.setdefault((c.block, categorical), []).append(c)
    out: list[Case] = []
    for group in groups.values():
        ordered = sorted(dict.fromkeys(group), key=lambda c: (c.positions, c.channels, c.batch))
        k = min(per_block, len(ordered))  # spread k picks over the sizes it has, ends included
        picks = sorted({round(i * (len(ordered) - 1) / max(k - 1, 1)) for i in range(k)})
        out += [ordered[i] for i in picks]
    return out


def reduced(cases: Sequence[Case]) -> str | None:
    """What suite_cases changed in a suite's cases, said as a note (the counters are compared on
    one forward float32 eager pass on the CPU), or None where every case was one already. A
    suite for another device is named with it: its cases were counted on the CPU."""
    changed = sorted({what for c in cases for what, differs in (
        ("train", c.train), (c.dtype, c.dtype != "float32"), ("compiled", c.compile))
        if differs})
    devices = sorted({c.device for c in cases if c.device != "cpu"})
    whose = "its" if changed else "the suite's"
    said = ([f"the suite's {', '.join(changed)} cases are audited as that"] if changed else []) \
        + ([f"{whose} cases for {' and '.join(devices)} are counted on the CPU"] if devices
           else [])
    return (f"the audit compares one forward float32 eager pass on the CPU: "
            f"{', and '.join(said)}" if said else None)


def cases_of_suite(path: str | Path) -> tuple[list[Case], str | None]:
    """A suite's cases to audit (suite_cases) and the note on what they became (reduced). The
    suite is read for its own device, with that device's section: read for the CPU, a
    `device: cuda` suite's cases were never said to be counted on the CPU, and its `cpu:`
    section's sizes were audited instead of its own. InputError where no size is listed."""
    from a2bench.suite import expand, load_suite

    every = expand(load_suite(path))
    cases = suite_cases(every)
    if not cases:  # expand leaves auto sweeps out: their sizes come from a run's plan
        raise InputError(f"{path}: no sizes to audit (its sizes are auto); expected a suite "
                         "that lists its sizes (a2bench plan shows the ones a run would choose)")
    return cases, reduced(every)


def run_audit(cases: Sequence[Case], memory_budget: int | None = None) -> Audit:
    """Every counter on every case of a block with a cost model, as a run treats its cases: one
    whose modelled peak passes `memory_budget` (run's memory guard, runner.predicted_bytes at
    this process's torch threads; run's default on a CPU, half the available RAM, where None)
    is skipped unrun, and one whose block fails (its module(), its forward) is kept with its
    error and the line that raised (status error, or oom where memory ran out), and the audit
    goes on: the other cases' counts stand.
    Raises InputError where no case was counted at all."""
    import torch

    from a2bench.blocks import build
    from a2bench.catalog import cost_of, spec
    from a2bench.run.runner import predicted_bytes
    from a2bench.run.sweep import default_budget
    from a2bench.run.worker import classify_failure

    budget = default_budget("cpu", {}) if memory_budget is None else memory_budget
    conv = conventions()
    rows: list[Row] = []
    not_counted: list[NotCounted] = []
    for case in cases:
        if not spec(case.block).has_cost:  # a counted block's count is its only figure
            continue
        model_macs = cost_of(case).macs
        need = predicted_bytes(case, torch.get_num_threads())
        if need is not None and need > budget:  # nonlocal_right at 1000x1000 asked for 4 TB
            not_counted.append(NotCounted(
                variant(case), case.label(), "skipped", f"predicted peak {format_bytes(need)} "
                f"exceeds the memory budget of {format_bytes(budget)}" + (
                    " (half the available RAM, as a run's)" if memory_budget is None else ""),
                model_macs))
            continue
        try:
            module, x = build(case)
            rows += audit_case(case, model_macs, conv, module, x)
        except Exception as e:  # the block's own error, as a run records it; the rest go on
            not_counted.append(NotCounted(variant(case), case.label(), classify_failure(e),
                                          failure(e), model_macs))
    if not rows and not_counted:
        first, rest = not_counted[0], len(not_counted) - 1
        more = f"; {rest} more {'case' if rest == 1 else 'cases'} not audited either" * bool(rest)
        raise InputError(f"nothing audited: {first.case}: {first.status}: {first.reason}{more}")
    return Audit(tuple(rows), conv, unaudited=counted_blocks(cases),
                 not_counted=tuple(not_counted))


# Where a block's error is looked for: not in torch, nor in the audit's and counters' own
# dispatch modes, through which a forward's every operator runs (the innermost frame outside
# torch alone had named audit/__init__.py's __torch_dispatch__, not the block's line).
_COUNTING = tuple(str(Path(__file__).resolve().parent.parent / d) for d in ("audit", "measure"))


def failure(e: BaseException) -> str:
    """One line: the error and the innermost line of it in the block's code (a plugin's
    file:line), as a run's case error says it (run.worker.describe)."""
    frames = traceback.extract_tb(e.__traceback__)
    own = [f for f in frames if f"{os.sep}torch{os.sep}" not in f.filename
           and not str(Path(f.filename).resolve()).startswith(_COUNTING)]
    where = (own or frames)[-1] if frames else None
    message = f": {str(e).splitlines()[0]}" if str(e).strip() else ""  # MemoryError: none
    return f"{type(e).__name__}{message}" + (f" (at {where.filename}:{where.lineno})"
                                             if where else "")


def counted_blocks(cases: Sequence[Case]) -> tuple[str, ...]:
    """The blocks among `cases` with no cost model: nothing to set the counters beside."""
    from a2bench.catalog import spec

    return tuple(dict.fromkeys(c.block for c in cases if not spec(c.block).has_cost))
