"""The audit's records: the counters, the kinds of work a counter may count, each counter's
conventions, and one row per counter and case.

They sit apart from the run (audit/__init__.py, which needs torch) so that the renderings
(audit/text.py) import the records without importing the run: the run re-exports the renderings,
and text.py importing it back would be an import cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from a2bench.formatting import share

COUNTERS = ("torch", "fvcore", "ptflops", "thop")
COUNTER_LABELS = {"torch": "FlopCounterMode", "fvcore": "fvcore", "ptflops": "ptflops",
                  "thop": "thop"}


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
    # SDPA on its math path (3-D inputs; the non-local block at inner 1) runs bmm, which
    # FlopCounterMode counts and fvcore, seeing one composite call, does not
    Work("sdpa_math", "attention products of scaled_dot_product_attention's math path (aten.bmm "
         "under it)", 1, True),
    Work("bias", "bias adds (one per output element of a layer with a bias)", 0),
    Work("pool", "average pooling, 2-D (one per input element)", 0),
    # a counter may handle one and not the other: fvcore counts 2-D adaptive pooling, not 3-D
    Work("pool3d", "average pooling, 3-D (one per input element)", 0),
    Work("relu_module", "ReLU modules (one per element)", 0),
    Work("relu_functional", "functional relu (one per element)", 0),
    Work("layernorm", "LayerNorm (one per input element)", 0),
    Work("batchnorm", "BatchNorm (one per input element)", 0),
    Work("maxpool", "max pooling (one per input element)", 0),
    # A pooling module is hooked as a module by some counters and, inside its forward, patched
    # as a function by others or by both (ptflops counts nn.MaxPool2d twice; thop counts
    # nn.AdaptiveAvgPool2d (kernel + 1) per output: input plus output elements). ResNet-50's
    # two were left as +10,240 (thop) and +45,056 (ptflops) unexplained at 48x48.
    Work("pool_module", "nn.AdaptiveAvgPool2d modules (one per input element)", 0),
    Work("pool_module_out", "nn.AdaptiveAvgPool2d modules (one per output element)", 0),
    Work("maxpool_module", "nn.MaxPool2d modules (one per input element)", 0),
)


@dataclass(frozen=True)
class Convention:
    counter: str
    rates: dict[str, float]  # MACs the counter reports per unit of each kind of work
    missing: str | None = None  # why the counter did not run at all


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
    # MACs the model counts beyond the products that ran (negative: fewer): its cost()'s own
    # difference, which no counter's convention explains and every counter's count carries
    model_off: int = 0

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
        return f"{'over' if self.macs > self.model_macs else 'under'} by {share(pct)} %"

    @property
    def misses_attention(self) -> tuple[str, ...]:
        attention = {w.name for w in WORK if w.attention}
        return tuple(w for w, _ in self.missed if w in attention)


@dataclass(frozen=True)
class NotCounted:
    """A case no counter was run on: its block failed on it (status error, or oom where an
    allocation failed; the reason names the error and its line) or its modelled peak passes the
    memory budget (skipped), as a run records such a case."""

    block: str  # as Row.block
    case: str
    status: str  # "error", "oom" or "skipped"
    reason: str
    model_macs: int

    def line(self) -> str:
        return f"{self.case}: {self.status}: {self.reason}; not audited"


@dataclass(frozen=True)
class Audit:
    rows: tuple[Row, ...]
    conventions: dict[str, Convention] = field(default_factory=dict)
    unaudited: tuple[str, ...] = ()  # counted blocks: no model to set the counters beside
    not_counted: tuple[NotCounted, ...] = ()  # cases that failed or passed the memory budget

    @property
    def failed(self) -> tuple[NotCounted, ...]:
        return tuple(n for n in self.not_counted if n.status == "error")
