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

from collections.abc import Sequence
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


# Operator factories, so a block's cost model reads like its forward pass. Each returns one
# Term; `frees` names the tensors whose last use it is (for the live peak).

def pointwise(name: str, b: int, positions: int, cin: int, cout: int, *, bias: bool = True,
              frees: tuple[str, ...] = ()) -> Term:
    """A 1x1 convolution (or Linear) over `positions`: cin*cout MACs per position, bias adds."""
    return Term(name, b * positions * cin * cout, b * positions * cout if bias else 0,
                b * cout * positions, frees)


def bmm(name: str, b: int, p: int, k: int, q: int, *, frees: tuple[str, ...] = ()) -> Term:
    """A batched (p x k)(k x q) product: p*q*k MACs per batch, a (p x q) output."""
    return Term(name, b * p * q * k, 0, b * p * q, frees)


def softmax(name: str, rows: int, length: int, *, frees: tuple[str, ...] = ()) -> Term:
    return Term(name, 0, softmax_ops(rows, length), rows * length, frees)


def elementwise(name: str, ops: int, out_elements: int, *,
                frees: tuple[str, ...] = ()) -> Term:
    return Term(name, 0, ops, out_elements, frees)


def cost_of(case: Case) -> Cost:
    """The model of a case's block, from the registry (which imports the block, hence torch)."""
    from a2bench.registry import cost_of as registered

    return registered(case)
