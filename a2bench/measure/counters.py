"""MAC counts from the field's counters, with what each one skipped.

fvcore's FlopCountAnalysis reports MACs (it calls them flops) and names the operators it skipped.
torch's FlopCounterMode reports 2 x MAC and skips every operator without a formula silently, so
its skipped list is computed here: every aten op that ran and has no registered formula.
thop (`profile`) and ptflops (`get_model_complexity_info`, its pytorch backend) are optional
(`pip install a2bench[audit]`); both report MACs. Both hook modules, so they run on a copy (thop
adds buffers to the modules it counts), with their prints silenced. A missing package gives
an empty count and the reason, never an error.

Both counters are recorded as they are, blind spots and all (the audit's subject). For a block
without a cost model the counted MACs are its model, so a blind spot there would be a wrong
exponent: a2bench's own count (`Count.complete`, the results' macs_counted) is FlopCounterMode's
with two of them closed, each the same arithmetic as the operators FlopCounterMode does see:
- the CPU flash attention kernel (aten._scaled_dot_product_flash_attention_for_cpu and its
  backward), which F.scaled_dot_product_attention runs on a CPU for 4-d inputs whose last
  dimension is contiguous: counted by torch's own SDPA formulas, those it applies to the CUDA
  kernels (the two N x N' products; causal masks not discounted, as there);
- the fused inference path of nn.MultiheadAttention and nn.TransformerEncoderLayer
  (aten._native_multi_head_attention, aten._transformer_encoder_layer_fwd: eval mode without
  grad): the call is counted again with that path off (`unfused`), where the same projections
  and attention run as linear, bmm and SDPA operators. The timed calls keep the fast path.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import (
    FlopCounterMode,
    flop_registry,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

from a2bench.measure.eager_dispatch import EagerDispatchMode, eager_flop_counter


@dataclass(frozen=True)
class Count:
    macs: int | None  # the counter's own count
    skipped: tuple[str, ...] = ()
    error: str = ""
    # FlopCounterMode only: its count with the blind spots of the module docstring closed, and
    # the operators that closing counted (empty where the two counts agree).
    complete: int | None = None
    completed: tuple[str, ...] = ()


def _flash_cpu_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return sdpa_flop_count(query, key, value)


def _flash_cpu_backward_flop(grad_out, query, key, value, *args, out_shape=None,  # type: ignore[no-untyped-def]
                             **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


_aten = torch.ops.aten
# Operators FlopCounterMode has no formula for that do a block's MACs, with torch's formula for
# the same arithmetic on another backend (module docstring).
MISSING_FORMULAS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _flash_cpu_flop,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _flash_cpu_backward_flop,
}
# Fused inference paths whose MACs are counted with the path off (unfused).
FUSED_PATHS = frozenset({_aten._native_multi_head_attention,
                         _aten._transformer_encoder_layer_fwd})


@contextlib.contextmanager
def unfused() -> Iterator[None]:
    """nn.MultiheadAttention's and nn.TransformerEncoderLayer's fused inference path off for
    the duration, restored after."""
    mha = torch.backends.mha
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def completed_counter() -> FlopCounterMode:
    """FlopCounterMode with MISSING_FORMULAS added (the planner's trace counts with it)."""
    return FlopCounterMode(display=False, custom_mapping=dict(MISSING_FORMULAS))


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


class OpRecorder(EagerDispatchMode):
    """The operators a call ran (overload packets), views left out."""

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


def _closed(counter: FlopCounterMode) -> dict[object, int]:
    """The flops the counter counted with MISSING_FORMULAS, by operator."""
    by_op = counter.get_flop_counts().get("Global", {})
    return {op: int(f) for op, f in by_op.items() if op in MISSING_FORMULAS and f}


def count_torch_call(call: Callable[[], object]) -> Count:
    """FlopCounterMode's MACs for one call (a forward pass, or a train step, whose backward
    operators it counts too), and a2bench's complete count beside them (module docstring).
    The caller sets the grad mode."""
    try:
        recorder = OpRecorder()
        counter = completed_counter()
        with eager_flop_counter(), counter, recorder:
            call()
        # FlopCounterMode counts 2 per multiply-add; stored as MACs.
        closed = _closed(counter)
        total = int(counter.get_total_flops())
        raw = (total - sum(closed.values())) // 2
        fused = FUSED_PATHS & recorder.ops
        if fused:
            counter = completed_counter()
            with eager_flop_counter(), unfused(), counter:
                call()
            closed, total = _closed(counter), int(counter.get_total_flops())
        complete = total // 2
    except Exception as e:
        return Count(None, (), f"FlopCounterMode failed: {type(e).__name__}: {e}".splitlines()[0])
    # against torch's own formulas only: the ones closed here are still FlopCounterMode's gaps
    skipped = tuple(sorted(str(op) for op in recorder.ops if op not in flop_registry))
    completed = tuple(sorted(str(op) for op in (*closed, *fused))) if complete != raw else ()
    return Count(raw, skipped, complete=complete, completed=completed)


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

        # ptflops counts per input: it divides what its module hooks count by the batch, but
        # not what its functional patches (bmm, matmul) count, so a batch of b reads as neither
        # one sample nor b. It is run as its users run it, on one sample (input_res), and that
        # count times the batch is recorded (a block that mixed samples would read as b
        # independent ones; none of a2bench's does).
        one = x[:1]
        with torch.no_grad(), _quiet():
            macs, _ = ptflops.get_model_complexity_info(
                copy.deepcopy(module), tuple(x.shape[1:]), as_strings=False,
                print_per_layer_stat=False, verbose=False, backend="pytorch",
                input_constructor=lambda _shape: one)
    except Exception as e:
        return Count(None, (), f"ptflops failed: {type(e).__name__}: {e}".splitlines()[0])
    if macs is None:
        return Count(None, (), "ptflops returned no count")
    return Count(int(macs) * x.shape[0])
