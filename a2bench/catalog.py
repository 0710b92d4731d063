"""The blocks a run can name: the built-in blocks and the plugins' blocks, loaded on first use.

registry.py is the declaration kit (Param, BlockSpec, register) and imports no block; this module
is the one place that loads them, so that declaring a block and finding one stay apart and
neither imports the other in a circle.
"""

from __future__ import annotations

import functools
import importlib
import inspect

from a2bench.case import Case
from a2bench.cost import Cost
from a2bench.errors import InputError
from a2bench.plugins import load_plugins
from a2bench.registry import (
    REGISTRY,
    BlockSpec,
    NoCostModel,
    cost_definition,
    reports_kernel,
    where_raised,
)

_loaded = False


def blocks() -> dict[str, BlockSpec]:
    """The registry with the built-in blocks and the A2BENCH_PLUGINS blocks loaded."""
    global _loaded
    if not _loaded:
        importlib.import_module("a2bench.blocks")  # registers the built-ins (imports torch)
        load_plugins()
        _loaded = True
    return REGISTRY


def spec(name: str) -> BlockSpec:
    return blocks()[name]


class CostError(InputError):
    """A block's cost() that raises: one line naming the block, the case and its own line."""


def cost_of(case: Case, backend: str = "") -> Cost:
    """The exact cost model of a case (its train cost for a train case). `backend`: the kernel
    that ran, for a block that reports one (BlockSpec.backend); its model follows that kernel.

    Raises CostError where the block's cost() raises (a plugin's mistake: a misspelt Term
    field, a name in `frees` no term has), so the sweep stops in one line, not a traceback."""
    block = spec(case.block)
    try:
        # A block that reports the kernel that ran is always given backend=, "" included: the
        # check before the calibration (Sweep._check_costs, through expected_cost) then calls
        # its cost() as the measured records will. A cost() that took no backend= (one a
        # plugin set on a spec after it registered, past register's check) had passed that
        # check and failed only once the cases had been measured.
        return (block.cost(case, backend=backend) if backend or reports_kernel(type(block))
                else block.cost(case))
    except (NoCostModel, InputError):
        raise
    except Exception as e:
        raise CostError(f"block {case.block}: its cost() failed at {case.label()}: "
                        f"{type(e).__name__}: {e} "
                        f"({where_raised(e, type(block), cost_definition(type(block)))})") from None


def expected_cost(case: Case, threads: int = 1) -> Cost:
    """The model of a case before it runs at `threads` torch threads: with the kernel it is
    expected to run there (BlockSpec.expected_backend), where it runs none yet. The memory
    budget check and the planner read it; a record's model is cost_of(case, the backend that
    ran)."""
    return cost_of(case, expected_backend(spec(case.block), case, threads))


def expected_backend(block: BlockSpec, case: Case, threads: int) -> str:
    """block.expected_backend(case, threads); a plugin written before the thread count reached
    it overrides expected_backend(self, case), which is called so rather than failing.

    Raises CostError where it raises, naming its own line as cost_of does for cost(): it had
    been a traceback through the check before the calibration."""
    try:
        if _takes_threads(type(block)):
            return block.expected_backend(case, threads)
        return block.expected_backend(case)  # type: ignore[call-arg]
    except InputError:
        raise
    except Exception as e:
        kind = type(block)
        raise CostError(f"block {case.block}: its expected_backend() failed at {case.label()}: "
                        f"{type(e).__name__}: {e} "
                        f"({where_raised(e, kind, kind.expected_backend)})") from None


@functools.cache
def _takes_threads(kind: type[BlockSpec]) -> bool:
    """Whether a spec class's expected_backend takes the thread count (read once per class:
    the planner asks it of every candidate size)."""
    try:
        params = inspect.signature(kind.expected_backend).parameters.values()
    except (TypeError, ValueError):  # no signature to read: call it as documented
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    # unbound: self, case and threads
    return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)
