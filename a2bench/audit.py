"""`a2bench audit`: what the field's FLOP counters report for each block, against the exact model.

Every counter is run on every block (the registered ones, or a suite's) at a few shapes, and
its total is set beside a2bench's model, in MACs. Where they differ, the audit says why, with
numbers it computes:

1. Each counter's *convention* for each kind of work is probed on a tiny module that does only
   that work (a 1x1 convolution without bias, one with bias, a bmm, a fused attention, an
   average and a max pooling, a ReLU module, a functional relu, a LayerNorm, an eval BatchNorm):
   its count per unit of that work.
2. The block's own amounts of each kind are measured once: the products from FlopCounterMode's
   per-operator breakdown (it counts products exactly), the bias adds, pooled, ReLU'd and
   normalised (LayerNorm, BatchNorm) elements from module hooks and the operators that ran.
3. A counter's count is then predicted as the sum of convention x amount. The terms where its
   convention differs from the model's (products 1 MAC each, everything else 0) are what it
   missed or added; whatever the prediction does not reach is reported as unexplained.

The verdict per counter and block is `exact`, `over by X %` or `under by X %`, and a counter
that misses the attention products (bmm, matmul, fused attention) is flagged with the operator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from a2bench.case import Case
from a2bench.measure import counters

COUNTERS = ("torch", "fvcore", "ptflops", "thop")
COUNTER_LABELS = {"torch": "FlopCounterMode", "fvcore": "fvcore", "ptflops": "ptflops",
                  "thop": "thop"}
COUNT: dict[str, Callable[[nn.Module, Tensor], counters.Count]] = {
    "torch": counters.count_torch, "fvcore": counters.count_fvcore,
    "ptflops": counters.count_ptflops, "thop": counters.count_thop}


@dataclass(frozen=True)
class Work:
    """One kind of work a counter may count: its name, what it is, and the model's rate."""

    name: str
    label: str
    model_rate: int  # MACs the model counts per unit: 1 for a product's MAC, 0 for the rest
    attention: bool = False  # one of the attention products


WORK = (
    Work("conv", "convolution products (aten.convolution)", 1),
    Work("linear", "linear-layer products (aten.addmm, aten.mm)", 1),
    Work("bmm", "batched matrix products (aten.bmm, from bmm/matmul/einsum)", 1, True),
    Work("sdpa", "fused attention products (scaled_dot_product_attention)", 1, True),
    Work("bias", "bias adds (one per output element of a layer with a bias)", 0),
    Work("pool", "average pooling (one per input element)", 0),
    Work("relu_module", "ReLU modules (one per element)", 0),
    Work("relu_functional", "functional relu (one per element)", 0),
    Work("layernorm", "LayerNorm (one per input element)", 0),
    Work("batchnorm", "BatchNorm (one per input element)", 0),
    Work("maxpool", "max pooling (one per input element)", 0),
)
_POOL_OPS = ("adaptive_avg_pool2d", "_adaptive_avg_pool2d", "adaptive_avg_pool3d",
             "_adaptive_avg_pool3d", "avg_pool2d", "avg_pool3d", "mean")


class _OpElements(TorchDispatchMode):
    """Input elements of the pooling operators and output elements of relu, as they run."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = 0
        self.maxpool = 0
        self.relu = 0
        self.sdpa = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in _POOL_OPS and args and isinstance(args[0], Tensor):
            self.pool += args[0].numel()
        elif name.startswith("max_pool") and args and isinstance(args[0], Tensor):
            self.maxpool += args[0].numel()
        elif name in ("relu", "relu_") and isinstance(out, Tensor):
            self.relu += out.numel()
        elif "scaled_dot_product" in name and not name.endswith("backward"):
            # A fused kernel (flash, memory-efficient): q k^T and then (.) v, from the shapes,
            # since FlopCounterMode has no formula for every backend (CPU flash among them).
            q, k, v = args[:3]
            self.sdpa += (q.numel() // q.shape[-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])
        return out


def amounts(module: nn.Module, x: Tensor) -> dict[str, int]:
    """How much of each kind of work one forward pass of `module` on `x` does."""
    bias = relu_module = layernorm = batchnorm = 0

    def hook(mod: nn.Module, inputs: tuple[Any, ...], out: Any) -> None:
        nonlocal bias, relu_module, layernorm, batchnorm
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and mod.bias is not None:
            bias += out.numel()
        elif isinstance(mod, nn.ReLU):
            relu_module += out.numel()
        elif isinstance(mod, nn.LayerNorm):
            layernorm += inputs[0].numel()
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
            batchnorm += inputs[0].numel()

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    flops = FlopCounterMode(display=False)
    ops = _OpElements()
    try:
        with torch.no_grad(), flops, ops:
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
        "bmm": sum(v for k, v in by_op.items() if k in ("bmm", "baddbmm")),
        "sdpa": ops.sdpa,
        "bias": bias,
        "pool": ops.pool,
        "relu_module": relu_module,
        "relu_functional": max(0, ops.relu - relu_module),
        "layernorm": layernorm,
        "batchnorm": batchnorm,
        "maxpool": ops.maxpool,
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
        "bias": _Probe(lambda s, x: s.mods[0](x), nn.Conv2d(8, 8, 1, bias=True)),
        "pool": _Probe(lambda s, x: F.adaptive_avg_pool2d(x, 1)),
        "relu_module": _Probe(lambda s, x: s.mods[0](x), nn.ReLU()),
        "relu_functional": _Probe(lambda s, x: F.relu(x)),
        "layernorm": _Probe(lambda s, x: s.mods[0](x), nn.LayerNorm([8, 4, 4])),
        "batchnorm": _Probe(lambda s, x: s.mods[0](x), nn.BatchNorm2d(8).eval()),
        "maxpool": _Probe(lambda s, x: F.max_pool2d(x, 3, 2, 1)),
    }


@dataclass(frozen=True)
class Convention:
    counter: str
    rates: dict[str, float]  # MACs the counter reports per unit of each kind of work
    missing: str | None = None  # why the counter did not run at all


def conventions(names: Sequence[str] = COUNTERS) -> dict[str, Convention]:
    """Each counter's rate for each kind of work, read off the probes."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, 4, 4)
    probes = _probes()
    probe_amounts = {work: amounts(p, x) for work, p in probes.items()}
    out = {}
    for name in names:
        rates: dict[str, float] = {}
        missing = None
        for work, probe in probes.items():
            got = COUNT[name](probe, x)
            if got.macs is None:
                missing = got.error or "no count"
                break
            a = probe_amounts[work]
            # everything else in the probe at the rates already read (bias: the convolution)
            known = sum(rates[w] * n for w, n in a.items()
                        if w != work and n and not math.isnan(rates.get(w, math.nan)))
            rates[work] = (got.macs - known) / a[work] if a[work] else math.nan
        out[name] = Convention(name, rates if missing is None else {}, missing)
    return out


@dataclass(frozen=True)
class Row:
    """One counter on one case."""

    block: str  # the block with its categorical parameters, e.g. nonlocal[sdpa]
    case: str
    counter: str
    macs: int | None
    model_macs: int
    missed: tuple[tuple[str, int], ...] = ()  # (work, MACs) the counter left out
    added: tuple[tuple[str, int], ...] = ()  # (work, MACs) the counter counts the model does not
    unexplained: int = 0
    reason: str = ""  # why there is no count

    @property
    def ratio(self) -> float:
        if self.macs is None or not self.model_macs:
            return math.nan
        return self.macs / self.model_macs

    @property
    def verdict(self) -> str:
        if self.macs is None:
            return "not run"
        if self.macs == self.model_macs:
            return "exact"
        pct = 100 * abs(self.ratio - 1) if self.model_macs else math.inf
        return f"{'over' if self.macs > self.model_macs else 'under'} by {pct:.3g} %"

    @property
    def misses_attention(self) -> tuple[str, ...]:
        attention = {w.name for w in WORK if w.attention}
        return tuple(w for w, _ in self.missed if w in attention)


@dataclass(frozen=True)
class Audit:
    rows: tuple[Row, ...]
    conventions: dict[str, Convention] = field(default_factory=dict)


def variant(case: Case) -> str:
    """The block and its categorical parameters (a different kernel): nonlocal[sdpa]."""
    choices = [str(v) for _, v in case.params if isinstance(v, str)]
    return f"{case.block}[{', '.join(choices)}]" if choices else case.block


def audit_case(case: Case, model_macs: int, conv: dict[str, Convention],
               module: nn.Module, x: Tensor) -> list[Row]:
    a = amounts(module, x)
    rows = []
    block = variant(case)
    for name, c in conv.items():
        if c.missing is not None:
            rows.append(Row(block, case.label(), name, None, model_macs, reason=c.missing))
            continue
        got = COUNT[name](module, x)
        if got.macs is None:
            rows.append(Row(block, case.label(), name, None, model_macs, reason=got.error))
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
                        tuple(added), int(round(got.macs - predicted))))
    return rows


def default_cases() -> list[Case]:
    """Every registered block at a few shapes (its defaults; every choice of a categorical
    parameter): c = 64 at 48x48 (the shape of the README's table), c = 256 at 14x14, and a
    clip of 4 frames of 14x14 at c = 64 where the block takes clips."""
    from a2bench.catalog import blocks

    shapes = ({"batch": 1, "channels": 64, "t": 1, "h": 48, "w": 48},
              {"batch": 1, "channels": 256, "t": 1, "h": 14, "w": 14},
              {"batch": 1, "channels": 64, "t": 4, "h": 14, "w": 14})
    out = []
    for name, spec in blocks().items():
        choices = [{}]
        for p in spec.params:
            if p.choices:
                choices = [{**c, p.name: v} for c in choices for v in p.choices]
        for shape in shapes:
            for choice in choices:
                params = spec.resolve({**shape, **choice})
                if spec.problems({**shape, **params}):
                    continue  # e.g. criss-cross on a clip
                out.append(Case(name, "cpu", "float32", *shape.values(), params=params))
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
        picks = sorted({round(i * (len(ordered) - 1) / max(per_block - 1, 1))
                        for i in range(min(per_block, len(ordered)))})
        out += [ordered[i] for i in picks]
    return out


def run_audit(cases: Sequence[Case]) -> Audit:
    from a2bench.blocks import build
    from a2bench.catalog import cost_of

    conv = conventions()
    rows: list[Row] = []
    for case in cases:
        module, x = build(case)
        rows += audit_case(case, cost_of(case).macs, conv, module, x)
    return Audit(tuple(rows), conv)


# ---------------------------------------------------------------------------------------------
# Rendering


def _n(x: int | None) -> str:
    return "n/a" if x is None else f"{x:,}"


def table(audit: Audit) -> list[dict[str, str]]:
    """One row per case: the model and every counter's total in MACs, with its ratio."""
    by_case: dict[str, dict[str, str]] = {}
    for r in audit.rows:
        row = by_case.setdefault(r.case, {"block": r.block, "case": r.case,
                                          "model MACs": _n(r.model_macs)})
        ratio = f" ({r.ratio:.4g}×)" if r.macs is not None and r.macs != r.model_macs else ""
        row[COUNTER_LABELS[r.counter]] = _n(r.macs) + ratio
    return list(by_case.values())


def explanation(r: Row) -> str:
    labels = {w.name: w.label for w in WORK}
    parts = [f"missed {labels[w]}: {n:,} MACs" for w, n in r.missed]
    parts += [f"added {labels[w]}: {n:,}" for w, n in r.added]
    if r.unexplained:
        parts.append(f"unexplained: {r.unexplained:+,}")
    return "; ".join(parts)


def verdict_lines(audit: Audit) -> list[str]:
    """One line per counter and block: the verdict at every audited shape."""
    lines = []
    keyed: dict[tuple[str, str], list[Row]] = {}
    for r in audit.rows:
        keyed.setdefault((r.counter, r.block), []).append(r)
    for (counter, block), rows in keyed.items():
        if rows[0].macs is None:
            lines.append(f"{COUNTER_LABELS[counter]} on {block}: not run ({rows[0].reason})")
            continue
        line = f"{COUNTER_LABELS[counter]} on {block}: {summary(rows)}"
        attention = sorted({w for r in rows for w in r.misses_attention})
        if attention:
            ops = {"bmm": "aten.bmm (torch.bmm/matmul/einsum)",
                   "sdpa": "scaled_dot_product_attention"}
            line += ("; MISSES THE ATTENTION PRODUCTS: " + ", ".join(ops[w] for w in attention))
        lines.append(line)
    return lines


def summary(rows: Sequence[Row]) -> str:
    """The verdicts over several shapes: exact, or the range by which the count is off."""
    parts = []
    exact = sum(r.macs == r.model_macs for r in rows)
    if exact:
        parts.append("exact" + (f" at {exact} of {len(rows)} shapes" if exact < len(rows)
                                else f" at every shape ({len(rows)})"))
    for word, sel in (("over", [r for r in rows if r.macs > r.model_macs]),
                      ("under", [r for r in rows if r.macs < r.model_macs])):
        if sel:
            pct = sorted(100 * abs(r.ratio - 1) for r in sel)
            span = f"{pct[0]:.3g} %" if len(pct) == 1 else f"{pct[0]:.3g}–{pct[-1]:.3g} %"
            parts.append(f"{word} by {span} at {len(sel)} of {len(rows)} shapes")
    return "; ".join(parts)


def to_markdown(audit: Audit) -> str:
    rows = table(audit)
    columns = ["block", "case", "model MACs", *COUNTER_LABELS.values()]
    out = ["# Counter audit", "",
           "Every count in multiply-accumulates (MACs): FlopCounterMode's total is halved (it "
           "reports 2 per MAC); fvcore, ptflops and thop report MACs. The model is a2bench's "
           "exact count of the products that run; a ratio follows each count that differs.", "",
           "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(r.get(c, "n/a") for c in columns) + " |" for r in rows]
    out += ["", "## Each counter's conventions (probed)", "",
            "MACs each counter reports per unit of each kind of work, read off a tiny module "
            "that does only that work; the model counts 1 per product MAC and 0 for the rest.",
            "", "| work | model | " + " | ".join(COUNTER_LABELS[c] for c in audit.conventions)
            + " |", "|" + "---|" * (2 + len(audit.conventions))]
    for w in WORK:
        cells = []
        for c in audit.conventions.values():
            rate = c.rates.get(w.name)
            cells.append("n/a" if rate is None or math.isnan(rate) else f"{rate:g}")
        out.append(f"| {w.label} | {w.model_rate} | " + " | ".join(cells) + " |")
    out += ["", "## Where each count differs from the model", ""]
    for r in audit.rows:
        if r.macs is not None and r.macs != r.model_macs:
            out.append(f"- {COUNTER_LABELS[r.counter]}, {r.case}: {_n(r.macs)} against "
                       f"{_n(r.model_macs)}: {explanation(r)}")
    out += ["", "## Verdicts", ""]
    out += [f"- {line}" for line in verdict_lines(audit)]
    missing = {c: v.missing for c, v in audit.conventions.items() if v.missing}
    if missing:
        out += ["", "Not run: " + "; ".join(f"{COUNTER_LABELS[c]}: {why}"
                                            for c, why in missing.items())]
    return "\n".join(out) + "\n"


def write(audit: Audit, out: Path) -> None:
    import csv

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "audit.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["block", "case", "counter", "macs", "model_macs", "ratio", "verdict",
                    "missed", "added", "unexplained", "reason"])
        for r in audit.rows:
            w.writerow([r.block, r.case, r.counter, "" if r.macs is None else r.macs,
                        r.model_macs, "" if math.isnan(r.ratio) else f"{r.ratio:.6g}",
                        r.verdict, " ".join(f"{k}={v}" for k, v in r.missed),
                        " ".join(f"{k}={v}" for k, v in r.added), r.unexplained, r.reason])
    (out / "audit.md").write_text(to_markdown(audit), encoding="utf-8")
