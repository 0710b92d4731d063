"""MAC counts from the field's counters, with what each one skipped.

fvcore's FlopCountAnalysis reports MACs (it calls them flops) and names the operators it skipped.
torch's FlopCounterMode reports 2 x MAC and skips every operator without a formula silently, so
its skipped list is computed here: every aten op that ran and has no registered formula.
thop (`profile`) and ptflops (`get_model_complexity_info`, its pytorch backend) are optional
(`pip install a2bench[audit]`); both report MACs. Both hook modules, so they run on a copy (thop
adds buffers to the modules it counts), with their prints silenced. A missing package gives
an empty count and the reason, never an error.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Count:
    macs: int | None
    skipped: tuple[str, ...] = ()
    error: str = ""


def count_fvcore(module: nn.Module, x: Tensor) -> Count:
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError as e:  # fvcore ships as an sdist only; some GPU images lack it
        return Count(None, (), f"fvcore unavailable: {e}")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(module, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            total = int(analysis.total())
            skipped = tuple(sorted(analysis.unsupported_ops()))
    except Exception as e:  # a counter failing must not fail the case; record why
        return Count(None, (), f"fvcore failed: {type(e).__name__}: {e}".splitlines()[0])
    return Count(total, skipped)


class _OpRecorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: set[object] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if not getattr(func, "is_view", False):  # views move no data; not worth reporting
            self.ops.add(func.overloadpacket)
        return func(*args, **(kwargs or {}))


def count_torch(module: nn.Module, x: Tensor) -> Count:
    """The forward pass's MACs, as FlopCounterMode counts them (inference, no autograd)."""
    with torch.no_grad():
        return count_torch_call(lambda: module(x))


def count_torch_call(call: Callable[[], object]) -> Count:
    """FlopCounterMode's MACs for one call: a forward pass, or a train step, whose backward
    operators it counts too. The caller sets the grad mode."""
    try:
        recorder = _OpRecorder()
        counter = FlopCounterMode(display=False)
        with counter, recorder:
            call()
        flops = int(counter.get_total_flops())
    except Exception as e:
        return Count(None, (), f"FlopCounterMode failed: {type(e).__name__}: {e}".splitlines()[0])
    known = set(counter.flop_registry)
    skipped = tuple(sorted(str(op) for op in recorder.ops if op not in known))
    # FlopCounterMode counts 2 per multiply-add; store MACs.
    return Count(flops // 2, skipped)


OPTIONAL = {"thop": "thop", "ptflops": "ptflops"}  # counter -> the package that provides it


def optional_missing(counter: str) -> str | None:
    """Why an optional counter cannot run here, or None when its package is installed."""
    package = OPTIONAL[counter]
    if importlib.util.find_spec(package) is None:
        return f"{package} is not installed (pip install a2bench[audit])"
    return None


@contextlib.contextmanager
def _quiet() -> object:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def count_thop(module: nn.Module, x: Tensor) -> Count:
    if (why := optional_missing("thop")) is not None:
        return Count(None, (), why)
    try:
        import thop

        with torch.no_grad(), _quiet():
            macs, _ = thop.profile(copy.deepcopy(module), inputs=(x,), verbose=False)
    except Exception as e:
        return Count(None, (), f"thop failed: {type(e).__name__}: {e}".splitlines()[0])
    return Count(int(macs))


def count_ptflops(module: nn.Module, x: Tensor) -> Count:
    if (why := optional_missing("ptflops")) is not None:
        return Count(None, (), why)
    try:
        import ptflops

        with torch.no_grad(), _quiet():
            macs, _ = ptflops.get_model_complexity_info(
                copy.deepcopy(module), tuple(x.shape[1:]), as_strings=False,
                print_per_layer_stat=False, verbose=False, backend="pytorch",
                input_constructor=lambda _shape: x)
    except Exception as e:
        return Count(None, (), f"ptflops failed: {type(e).__name__}: {e}".splitlines()[0])
    if macs is None:
        return Count(None, (), "ptflops returned no count")
    return Count(int(macs))
