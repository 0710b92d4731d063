"""Dispatch modes around eager calls that do not import torch._dynamo.

torch wraps every TorchDispatchMode's __torch_dispatch__ in torch._disable_dynamo, which imports
torch._dynamo on its first call: 2.0 s of CPU in a fresh process on this repository's loaded
2-core AVX2 VM (counters.count_torch_call of a 1x1 convolution: 0.01 s without), in a worker
that nothing else makes import it. a2bench's modes (the
counters' operator recorder, the dtype probe, the tensor-peak trace, the audit's element count)
and torch's own FlopCounterMode are only ever entered around an eager call, never inside a
graph torch.compile traces, so there is no Dynamo to keep out of them. A compiled case's counts
and probes read its eager module too (run.worker.measure_case).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import _FlopCounterMode


class EagerDispatchMode(TorchDispatchMode):
    """A dispatch mode for eager calls only: torch leaves its __torch_dispatch__ unwrapped."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False


@contextlib.contextmanager
def eager_flop_counter() -> Iterator[None]:
    """torch's FlopCounterMode entered within it does not import Dynamo (module docstring).

    FlopCounterMode enters a _FlopCounterMode of its own, whose __torch_dispatch__ torch wrapped.
    The wrapper looks up the Dynamo-disabled function it made on its first call in an attribute
    of the function it wraps, and imports Dynamo only where that is unset: set to the function
    itself, each call goes straight through. It is set back after, so a process that goes on to
    use FlopCounterMode around a compiled call (a notebook that imported a2bench) gets torch's
    guard. Where a later torch wraps differently (no __wrapped__), nothing changes and the first
    call imports Dynamo as before."""
    raw = getattr(_FlopCounterMode.__dict__.get("__torch_dispatch__"), "__wrapped__", None)
    ours = raw is not None and getattr(raw, _CACHE, None) is None
    if ours:
        setattr(raw, _CACHE, raw)
    try:
        yield
    finally:
        if ours and getattr(raw, _CACHE, None) is raw:
            delattr(raw, _CACHE)


# The attribute torch._disable_dynamo caches its disabled function in (set outside a class, so
# not name-mangled)
_CACHE = "__dynamo_disable"
