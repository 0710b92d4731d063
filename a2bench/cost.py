"""Exact analytic cost of each block: MACs, other elementwise work, activation bytes, peak.

Pure functions, no torch. Conventions (also in README):
- MAC: one multiply-add. A (p x K)(K x q) product is p*q*K MACs. Bias adds are *not* MACs; they are
  counted with the elementwise work.
- Elementwise operations: a softmax over a row of length L is 3L - 1 (L exp, L - 1 adds, L divides);
  exp, sigmoid and ReLU count one operation per element; average pooling c*N per sample
  (N - 1 adds and one divide per channel); scale and residual one per element.
- flops = 2 * MACs + elementwise operations.
- Bytes: every activation the forward pass allocates (the input is not counted, it exists before).
  The peak simulates the forward in the order a2bench.blocks evaluates it, freeing each tensor
  after its last use, so it is comparable with the measured peak above the pre-forward baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from a2bench.case import Case


@dataclass(frozen=True)
class Term:
    name: str
    macs: int
    elementwise: int
    out_elements: int
    frees: tuple[str, ...] = ()  # tensors whose last use is this term


@dataclass(frozen=True)
class Cost:
    terms: tuple[Term, ...]
    bytes_per_element: int

    @property
    def macs(self) -> int:
        return sum(t.macs for t in self.terms)

    @property
    def elementwise(self) -> int:
        return sum(t.elementwise for t in self.terms)

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.elementwise

    @property
    def activation_bytes(self) -> int:
        return sum(t.out_elements for t in self.terms) * self.bytes_per_element

    @property
    def largest_activation_bytes(self) -> int:
        """The biggest single tensor the forward allocates: what must fit in a cache at once."""
        return max((t.out_elements for t in self.terms), default=0) * self.bytes_per_element

    @property
    def peak_bytes(self) -> int:
        return peak_live_elements(self.terms) * self.bytes_per_element


def peak_live_elements(terms: Sequence[Term]) -> int:
    """Largest sum of live outputs while a term runs (its inputs and output coexist)."""
    live: dict[str, int] = {}
    peak = 0
    for t in terms:
        live[t.name] = t.out_elements
        peak = max(peak, sum(live.values()))
        for name in t.frees:
            live.pop(name, None)
    return peak


def softmax_ops(rows: int, length: int) -> int:
    return rows * (3 * length - 1)


def _attention_terms(case: Case) -> dict[str, Term]:
    """The terms both association orders share; only the two products in between differ."""
    assert case.m is not None and case.n is not None
    b, c, m, n, big_n = case.batch, case.channels, case.m, case.n, case.positions
    return {
        "phi": Term("phi", b * big_n * c * m, b * big_n * m, b * m * big_n),
        "theta": Term("theta", b * big_n * c * n, b * big_n * n, b * n * big_n),
        "softmax_b": Term("softmax_b", 0, softmax_ops(b * n, big_n), b * n * big_n, ("theta",)),
        "rho": Term("rho", b * big_n * c * n, b * big_n * n, b * n * big_n),
        "softmax_v": Term("softmax_v", 0, softmax_ops(b * big_n, n), b * n * big_n, ("rho",)),
        "residual": Term("residual", 0, b * c * big_n, b * c * big_n, ("proj",)),
    }


def _proj(case: Case, frees: str) -> Term:
    assert case.m is not None
    b, c, m, big_n = case.batch, case.channels, case.m, case.positions
    return Term("proj", b * big_n * m * c, b * big_n * c, b * c * big_n, (frees,))


def double_attention_cost(case: Case) -> Cost:
    """Gather first: G = A softmax(B)^T (m x n), then Z = G softmax(V)."""
    t = _attention_terms(case)
    b, m, n, big_n = case.batch, case.m or 0, case.n or 0, case.positions
    terms = (
        t["phi"], t["theta"], t["softmax_b"],
        Term("gather", b * m * n * big_n, 0, b * m * n, ("phi", "softmax_b")),
        t["rho"], t["softmax_v"],
        Term("distribute", b * m * big_n * n, 0, b * m * big_n, ("gather", "softmax_v")),
        _proj(case, "distribute"), t["residual"],
    )
    return Cost(terms, case.dtype_bytes)


def nonlocal_right_cost(case: Case) -> Cost:
    """Non-local order: S = softmax(B)^T softmax(V) (N x N) first, then Z = A S."""
    t = _attention_terms(case)
    b, m, n, big_n = case.batch, case.m or 0, case.n or 0, case.positions
    terms = (
        t["phi"], t["theta"], t["softmax_b"], t["rho"], t["softmax_v"],
        Term("affinity", b * big_n * big_n * n, 0, b * big_n * big_n, ("softmax_b", "softmax_v")),
        Term("aggregate", b * m * big_n * big_n, 0, b * m * big_n, ("phi", "affinity")),
        _proj(case, "aggregate"), t["residual"],
    )
    return Cost(terms, case.dtype_bytes)


def se_cost(case: Case) -> Cost:
    assert case.reduction is not None
    b, c, big_n = case.batch, case.channels, case.positions
    hidden = c // case.reduction
    terms = (
        Term("pool", 0, b * c * big_n, b * c),
        Term("fc1", b * c * hidden, b * hidden, b * hidden, ("pool",)),
        Term("relu", 0, b * hidden, b * hidden, ("fc1",)),
        Term("fc2", b * hidden * c, b * c, b * c, ("relu",)),
        Term("sigmoid", 0, b * c, b * c, ("fc2",)),
        Term("scale", 0, b * c * big_n, b * c * big_n, ("sigmoid",)),
    )
    return Cost(terms, case.dtype_bytes)


COST_MODELS: dict[str, Callable[[Case], Cost]] = {
    "double_attention": double_attention_cost,
    "nonlocal_right": nonlocal_right_cost,
    "se": se_cost,
}


def cost_of(case: Case) -> Cost:
    return COST_MODELS[case.block](case)

