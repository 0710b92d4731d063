"""The block registry: what a block declares, and where suites, the worker and `list` find it.

A block is one file under a2bench/blocks/ (or a plugin file, or a notebook cell) that defines
its nn.Module, a BlockSpec subclass with its parameters and, optionally, its exact cost model,
and decorates the spec with @register. A spec without cost() is a *counted* block: its MACs
come from the counters (FlopCounterMode, fvcore beside it) and it has no memory model. This
module itself imports no torch: analysis, compare and report never import the registry; they
read the `blocks` entry that `run` writes into environment.json from describe().
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from a2bench.case import SHAPE_AXES, Case
from a2bench.cost import Cost, train_cost
from a2bench.errors import InputError
from a2bench.measurement import CSV_COLUMNS

if TYPE_CHECKING:  # the module type only; block files import torch themselves
    from torch import nn

Value = int | str
BUILT_INS = "a2bench.blocks"  # the package whose modules are the built-in blocks
# A default is a constant or a rule over the values already resolved (shape axes and the
# parameters listed before it), e.g. m = channels // 4.
Default = Value | Callable[[Mapping[str, Value]], Value]


@dataclass(frozen=True)
class Param:
    """One block parameter: a suite axis, a results column and a Case entry, all of one name."""

    name: str
    default: Default
    label: str  # axis label in reports, e.g. "GC reduction r"
    short: str = ""  # prefix in case labels ("r" gives r16); the name when empty
    choices: tuple[str, ...] = ()  # a categorical parameter's values; empty means a positive int
    # Why a fully resolved case is invalid, or None: checked when a suite is parsed. One phrase
    # in the form "expected <what>, got <value>", shown after the parameter's name.
    check: Callable[[Mapping[str, Value]], str | None] | None = None

    def resolve(self, given: Mapping[str, Value]) -> Value:
        if self.name in given:
            return given[self.name]
        return self.default(given) if callable(self.default) else self.default

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "short": self.short or self.name,
                "choices": list(self.choices),
                "default": None if callable(self.default) else self.default}


class SpecError(InputError):
    """A block spec that cannot be registered; the message is one line saying what to add."""


class NoCostModel(LookupError):
    """cost() of a block that gives none (a counted block); check BlockSpec.has_cost first."""


class BlockSpec(ABC):
    """A block's declaration. Subclasses set `name` (and the other class variables they want)
    and implement module(); cost() is optional. register() checks the class and instantiates
    it, so an incomplete block fails with one line when it registers."""

    name: ClassVar[str]
    label: ClassVar[str] = ""  # long label in reports; the name when empty
    short_label: ClassVar[str] = ""  # legend and table label; the label when empty
    params: ClassVar[tuple[Param, ...]] = ()
    # Small shapes (shape axes and parameters) the conformance test runs every block at.
    examples: ClassVar[tuple[Mapping[str, Value], ...]] = ()
    # Where a counter legitimately differs from the model: counter name ("fvcore" or "torch") ->
    # (MACs the counter adds over the model for a case, why). None means exactly equal.
    counter_difference: ClassVar[Mapping[str, tuple[Callable[[Case], int], str]]] = {}
    # Auto sizes along square maps prefer sides a multiple of this (0: any aligned side), for a
    # block whose kernels run along a side (a row or a column), where the side's remainder by
    # the vector width sets the speed (criss_cross.py).
    side_class: ClassVar[int] = 0
    # Rules on a case's shape axes alone, each reported under its axis: (axis, check), where
    # check is a Param's kind of check, e.g. ("t", images_only) for a block defined on images.
    # A rule that also reads a parameter belongs to that Param, so the message names it.
    shape_checks: ClassVar[tuple[tuple[str, Callable[[Mapping[str, Value]], str | None]],
                                 ...]] = ()

    @abstractmethod
    def module(self, case: Case) -> nn.Module:
        """The block's nn.Module for a case (weights from torch's global seed; see build)."""

    def cost(self, case: Case) -> Cost:
        """The exact cost model: every operator that runs, in forward order (optional).

        A block implements the forward model only, its Terms annotated with what their backward
        needs (a2bench.cost.Term); a train-mode case gets the train cost (see __init_subclass__).
        A block without one is measured against the counted MACs (macs_source "counted")."""
        raise NoCostModel(f"block {self.name!r} gives no cost model (a counted block)")

    @property
    def has_cost(self) -> bool:
        """Whether the block gives its own cost model (else its MACs are counted)."""
        return type(self).cost is not BlockSpec.cost

    def output_shape(self, case: Case) -> tuple[int, ...]:
        """The shape module(case) returns for the case's input: the input's own, for a block
        that drops into a network; a whole network (resnet50) says otherwise."""
        return case.input_shape

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every subclass's own `cost` is wrapped once, where it is defined: the block (or plugin)
        # writes the forward model only, and `spec.cost(case)` and `catalog.cost_of(case)` both
        # give the train cost of a train case (a2bench.cost.train_cost, the generic transform).
        # The wrapped method is always called with the forward case, so a subclass's cost that
        # calls super().cost(...) gets a forward model and is transformed once, by the outer
        # wrapper.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("cost")
        if own is not None and not getattr(own, "__isabstractmethod__", False):
            cls.cost = _train_aware(own)  # type: ignore[method-assign]

    def declared(self, case: Case, backend: str = "") -> dict[str, int]:
        """MACs each counter is declared to report above the model for this case, where
        `backend` ran (the record's: a block whose counters see another kernel's work
        otherwise overrides this).

        A train case counts forward and backward: an operator a counter misses in the forward
        pass it misses in the backward too, where it costs twice its forward MACs (the model's
        convention), so the difference triples. fvcore counts no train case (it traces the
        forward pass only), so it declares nothing there."""
        forward = dataclasses.replace(case, mode="forward")
        out = {name: int(how(forward)) for name, (how, _) in self.counter_difference.items()}
        if case.train:
            out = {name: 3 * macs for name, macs in out.items() if name != "fvcore"}
        return out

    def backend(self, module: nn.Module, x: Any) -> str:
        """Which kernel ran, for a block that picks one at run time (recorded per case). A block
        that reports one takes it back in `cost(case, backend=...)`, so that its memory model
        is the kernel's that ran."""
        return ""

    def expected_backend(self, case: Case, threads: int = 1) -> str:
        """The kernel `backend` is expected to report, known before the case runs (no module
        yet) at `threads` torch threads: the model the memory budget check and the planner
        read. "" for a block whose model does not depend on the kernel."""
        return ""

    def resolve(self, given: Mapping[str, Value]) -> dict[str, Value]:
        """The block's parameters for one suite point: given values, then defaults in order.
        A default rule that raises is one line (SpecError), naming it and its line."""
        known = dict(given)
        out: dict[str, Value] = {}
        for p in self.params:
            out[p.name] = known[p.name] = _rule(self, f"parameter {p.name}'s default", p.resolve,
                                                known, p.default)
        return out

    def problems(self, values: Mapping[str, Value]) -> list[tuple[str, str]]:
        """(parameter or shape axis, why) for each reason a resolved case (shape axes and
        parameters) is invalid, the shape axes' first; empty when it is valid."""
        found = [(axis, why) for axis, check in self.shape_checks
                 if (why := _verdict(self, f"shape_checks' rule on {axis}", check, values,
                                     axis))]
        for p in self.params:
            v = values.get(p.name)
            if p.choices and v not in p.choices:
                found.append((p.name, f"expected one of {', '.join(p.choices)}, got {v!r}"))
            elif not p.choices and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                found.append((p.name, f"expected a positive integer, got {v!r}"))
            elif p.check is not None and (
                    why := _verdict(self, f"parameter {p.name}'s check", p.check, values,
                                    p.name)):
                found.append((p.name, why))
        return found

    def describe(self) -> dict[str, Any]:
        """What analysis and report need to know, without importing the block (environment.json)."""
        return {"label": self.label, "short_label": self.short_label or self.label,
                "params": [p.describe() for p in self.params]}


def _rule(spec: BlockSpec, what: str, rule: Callable[[Mapping[str, Value]], Any],
          values: Mapping[str, Value], defined: object = None) -> Any:
    """A block's own rule (a default, a check) applied to a case's values; where it raises (a
    misspelt key, a division by zero), one line naming the block, the rule and its line
    (`defined`: the block's own function, where `rule` is a2bench's call of it)."""
    try:
        return rule(values)
    except InputError:
        raise
    except Exception as e:
        raise SpecError(f"block {spec.name}: {what} raised {type(e).__name__}: {e} "
                        f"({where_raised(e, type(spec), defined or rule)})") from None


def _verdict(spec: BlockSpec, what: str, rule: Callable[[Mapping[str, Value]], Any],
             values: Mapping[str, Value], key: str) -> str | None:
    """A check's verdict on a case: None (or "") where it is valid, else why not. A check
    written as a condition (`lambda p: p["e"] <= 4`) returns a bool, which had been read the
    wrong way round: True shown as the suite's mistake for every valid case, False letting an
    invalid one through. So anything but None or a str is the block's mistake, said here."""
    why = _rule(spec, what, rule, values)
    if why is None or isinstance(why, str):
        return why or None
    raise SpecError(f"block {spec.name}: {what} returned {why!r}; expected None for a valid "
                    "case, else why not as one phrase \"expected ..., got ...\" (e.g. "
                    f"lambda p: None if p[\"{key}\"] <= 4 else f\"expected at most 4, got "
                    f"{{p['{key}']}}\") (at {_where(rule)})")


def where_raised(e: BaseException, kind: type, defined: object = None) -> str:
    """The innermost line of the error in the file that defines `kind` (a block's spec: its
    own rule or cost model) or `defined` (the rule or cost model itself, which a base class
    elsewhere may hold). Where neither is on the traceback (a TypeError from calling it with
    arguments it does not take, raised in a2bench's own call), the line `defined` starts on:
    a2bench's own line had said nothing about the block. Else the innermost line."""
    frames = traceback.extract_tb(e.__traceback__)
    files = {_source_file(kind), _source_file(defined)} - {None}
    mine = [f for f in frames if f.filename in files]
    if not mine and defined is not None:
        return f"at {_where(defined)}"
    where = (mine or frames)[-1] if frames else None
    return f"at {where.filename}:{where.lineno}" if where else "where is unknown"


def _source_file(obj: object) -> str | None:
    try:
        return inspect.getsourcefile(obj) if obj is not None else None  # type: ignore[arg-type]
    except TypeError:
        return None


def built_module(spec: BlockSpec, case: Case) -> Any:
    """The block's module for a case, which must be an nn.Module instance: a forgotten return
    (None) or the class itself had failed inside a2bench's own .to() call, and auto sizes had
    blamed a missing cost()."""
    from torch import nn

    module = spec.module(case)
    if not isinstance(module, nn.Module):
        what = (f"the class {module.__name__}" if isinstance(module, type)
                else type(module).__name__)
        raise SpecError(f"block {spec.name}: its module() returned {what} at {case.label()}; "
                        "expected an nn.Module instance, e.g. return MyBlock(case.channels) "
                        f"({_where(type(spec))})")
    return module


def _forward_cost(forward_model: Callable[..., Any], spec: BlockSpec, case: Case,
                  kernel: Mapping[str, str]) -> Cost:
    """The block's own forward model, which must be a Cost (a forgotten return gave None, and
    a TypeError from dataclasses.replace that named no line of the block's)."""
    model = forward_model(spec, case, **kernel)
    if not isinstance(model, Cost):
        raise SpecError(f"block {spec.name}: its cost() returned {type(model).__name__} at "
                        f"{case.label()}; expected an a2bench.cost.Cost, e.g. "
                        f"return Cost((pointwise(...), ...), case.dtype_bytes) "
                        f"({_where(forward_model)})")
    if wrong := _wrong_count(model):
        raise SpecError(f"block {spec.name}: its cost() at {case.label()}: {wrong} "
                        f"({_where(forward_model)})")
    return model


# A Term's counts: MACs, elements, scratch and allowance bytes, parameters
_COUNTS = ("macs", "elementwise", "out_elements", "grad_operands", "backward_elementwise",
           "backward_scratch", "scratch", "allowance", "params", "grad_elements", "itemsize")


def _wrong_count(model: Cost) -> str:
    """What in a model is not a count (an integer >= 0), or ''. A NaN, float or str in a
    user's model had stopped the sweep at its first store (no JSON for NaN) with a traceback,
    and a negative count was stored as the case's peak."""
    def wrong(value: Any, least: int = 0) -> bool:
        # a Python int (a numpy integer passed here and then failed the store's JSON alike),
        # and one a results column holds (int64)
        return type(value) is not int or not least <= value < 2**63

    if wrong(model.bytes_per_element, 1) or wrong(model.input_elements):
        bad = "bytes_per_element" if wrong(model.bytes_per_element, 1) else "input_elements"
        return (f"{bad} {getattr(model, bad)!r}; expected a Python int >= "
                f"{1 if bad == 'bytes_per_element' else 0}")
    for t in (t for term in model.terms for t in (term, *term.train_extra)):
        values = [(f, getattr(t, f)) for f in _COUNTS if getattr(t, f) is not None]
        values += [("input_grads", v) for v in t.input_grads or ()]
        for field, value in values:
            if type(value) is int and value >= 2**63:  # the sizes', not the model's, mistake
                return (f"cost term {t.name!r}: {field} {value:,}, past 2**63 - 1, what a "
                        "results column holds: the case is too large to store; expected "
                        "smaller sizes")
            if wrong(value):
                return (f"cost term {t.name!r}: {field} {value!r}; expected a Python int >= 0 "
                        "(int() of a numpy count)" if "numpy" in type(value).__module__
                        else f"cost term {t.name!r}: {field} {value!r}; expected a Python "
                        "int >= 0")
    return ""


def _train_aware(forward_model: Callable[[BlockSpec, Case], Cost]) -> Callable[..., Cost]:
    @functools.wraps(forward_model)
    def cost(self: BlockSpec, case: Case, **kernel: str) -> Cost:
        # kernel: `backend=` for a block that reports which kernel ran (BlockSpec.backend)
        if not case.train:
            model = _forward_cost(forward_model, self, case, kernel)
        else:
            forward = _forward_cost(forward_model, self, dataclasses.replace(case, mode="forward"),
                                    kernel)
            model = train_cost(forward, case.batch * case.channels * case.positions)
        # the peak in what the case's device allocates (a2bench.allocator)
        return dataclasses.replace(model, device=case.device)

    cost.forward_model = forward_model  # type: ignore[attr-defined]
    return cost


REGISTRY: dict[str, BlockSpec] = {}
# Names a block parameter may not take: the case's own fields (a parameter `h` was dropped from
# every record, one named `mode` read as the step's mode) and every results column.
RESERVED_CASE = frozenset({*SHAPE_AXES, "positions", "device", "dtype", "mode", "compile",
                           "block", "params"})
# (m, n and reduction are in the column list for the built-in blocks that own them)
RESERVED = RESERVED_CASE | frozenset(CSV_COLUMNS) - {"m", "n", "reduction"}


def register(cls: type[BlockSpec]) -> type[BlockSpec]:
    """Class decorator: add a block to the registry (registering a name again replaces its
    spec, so a notebook cell can be re-run; a built-in's name is refused to any other block).

    Raises SpecError, one line naming the class and what to add, for an incomplete spec."""
    if not (isinstance(cls, type) and issubclass(cls, BlockSpec)):
        raise SpecError(f"@register: expected a BlockSpec subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip() or any(ch in name for ch in " ,[]/"):
        raise SpecError(f"block spec {cls.__name__} ({_where(cls)}): expected a class attribute "
                        f"name = \"my_block\" (no spaces, commas, brackets or slashes), got "
                        f"{name!r}")
    if "module" in getattr(cls, "__abstractmethods__", ()):
        raise SpecError(f"block spec {name} ({_where(cls)}): no module(); define "
                        "`def module(self, case): return MyModule(case.channels, ...)`, "
                        "returning the nn.Module for a case")
    _check_module(cls, name)
    params = cls.params if isinstance(cls.params, (tuple, list)) else (cls.params,)
    seen: set[str] = set()
    for p in params:
        if not isinstance(p, Param):
            raise SpecError(f"block spec {name} ({_where(cls)}): params: expected a tuple of "
                            f"Param(name, default, label) entries, got {p!r}")
        if p.name in RESERVED or p.name in seen or not p.name.isidentifier():
            why = ("is given twice" if p.name in seen else "is not a Python name"
                   if not p.name.isidentifier() else "is a case field or a results column")
            raise SpecError(f"block spec {name} ({_where(cls)}): Param {p.name!r} {why}; "
                            f"expected another name (not {', '.join(sorted(RESERVED_CASE))}, "
                            "or a results column)")
        seen.add(p.name)
        _check_values(cls, name, p)
    checks = cls.shape_checks
    if not isinstance(checks, tuple) or not all(
            isinstance(c, tuple) and len(c) == 2 and c[0] in SHAPE_AXES and callable(c[1])
            for c in checks):
        raise SpecError(f"block spec {name} ({_where(cls)}): shape_checks: expected a tuple of "
                        f"(axis, check) pairs, axis one of {', '.join(SHAPE_AXES)}, got "
                        f"{checks!r}")
    side = cls.side_class
    if isinstance(side, bool) or not isinstance(side, int) or side < 0:
        raise SpecError(f"block spec {name} ({_where(cls)}): side_class: expected a "
                        f"non-negative integer (0: any side), got {side!r}")
    _check_cost(cls, name)
    if not cls.__module__.startswith(BUILT_INS + "."):
        _refuse_built_in_name(cls, name)
        _refuse_another_modules_name(cls, name)
    if not isinstance(cls.params, tuple):  # a list, or one Param: a tuple from here on
        cls.params = tuple(params)
    if not cls.label:
        cls.label = name
    REGISTRY[name] = cls()
    return cls


def _check_values(cls: type[BlockSpec], name: str, p: Param) -> None:
    """A Param's choices are words and its constant default is one of its own values. An int
    among the choices had crashed `list` and the suite's check with a TypeError traceback
    (they join the choices as words; an integer parameter's allowed values go in check=), and
    a default outside its values was blamed on every suite that left the parameter out.
    The class's line is looked up only for an error: _where parses its module's source, which
    every valid Param of every block had paid at each registration (0.2 s of CPU a process)."""
    def where() -> str:
        return f"block spec {name} ({_where(cls)}): Param {p.name!r}"

    choices = p.choices
    if not isinstance(choices, (tuple, list)) or not all(
            isinstance(c, str) and c for c in choices):
        raise SpecError(f"{where()}: choices: expected a tuple of words, e.g. choices=(\"relu\", "
                        f"\"gelu\"), got {choices!r}; an integer parameter takes no choices: "
                        "its allowed values go in check=")
    d = p.default
    if callable(d):  # a rule: its values are checked per case, as a suite's are
        return
    if choices and d not in choices:
        raise SpecError(f"{where()}: default {d!r}: expected one of its choices "
                        f"({', '.join(choices)})")
    if not choices and (isinstance(d, bool) or not isinstance(d, int) or d <= 0):
        raise SpecError(f"{where()}: default {d!r}: expected a positive integer, a word with "
                        "choices=(...), or a rule such as lambda p: p[\"channels\"] // 4")


def reports_kernel(kind: type[BlockSpec]) -> bool:
    """Whether a spec reports which kernel ran (its own backend()): a2bench passes that kernel
    back to its cost() as backend=, known only once the case has run. (A kernel
    expected_backend() names is known before: the check before the calibration calls cost()
    with it, so a spec whose expected_backend() gives "" needs no backend= and may omit it.)"""
    return kind.backend is not BlockSpec.backend


def cost_definition(kind: type[BlockSpec]) -> object:
    """The spec's own cost as written (a function, or whatever the class bound to `cost`),
    under the train-aware wrapper __init_subclass__ puts around it; None for a counted block."""
    owner = next(k for k in kind.__mro__ if "cost" in k.__dict__)
    if owner is BlockSpec:
        return None
    held = owner.__dict__["cost"]
    return getattr(held, "forward_model", held)


def _check_module(cls: type[BlockSpec], name: str) -> None:
    """module() must be callable as spec.module(case). A wrong one (`def module(self)`, an
    extra argument, a property) had run every case to status error with a TypeError naming
    a2bench's own call in this file."""
    held = inspect.getattr_static(cls, "module")
    want = "expected def module(self, case) returning the nn.Module for a case"
    inner = getattr(held, "__func__", getattr(held, "fget", held))
    if isinstance(held, property) or not (callable(held) or isinstance(held, classmethod)):
        what = "a property" if isinstance(held, property) else f"{held!r}, not a method"
        raise SpecError(f"block spec {name} ({_where(inner if callable(inner) else cls)}): "
                        f"module is {what}; {want}")
    # what spec.module(case) passes: self to a function, the class to a classmethod
    first = ((cls,) if inspect.isfunction(held) or isinstance(held, classmethod) else ())
    try:
        signature = inspect.signature(inner)
    except (TypeError, ValueError):  # nothing to read (a builtin): called as documented
        return
    try:
        signature.bind(*first, "case")
    except TypeError:
        raise SpecError(f"block spec {name} ({_where(inner)}): module{signature} cannot be "
                        f"called as module(case); {want}") from None


def _check_cost(cls: type[BlockSpec], name: str) -> None:
    """cost() must be a method a2bench can call as cost(case), and as cost(case, backend=...)
    for a block that reports the kernel that ran (catalog.cost_of). A wrong one (no `case`, an
    extra argument, a property, a staticmethod, `cost = 42`) had failed in a2bench's own call
    with a TypeError naming registry.py, and a cost() without backend= in a block with
    backend() only once every case had been measured, leaving a folder a rerun refused."""
    model = cost_definition(cls)
    if model is None:
        return
    kernel = reports_kernel(cls)
    want = 'def cost(self, case, backend="")' if kernel else "def cost(self, case)"
    why = (" (its backend() names the kernel that ran, which a2bench passes back to cost() "
           "as backend=)" if kernel else "")
    inner = getattr(model, "__func__", getattr(model, "fget", model))
    if isinstance(model, (property, staticmethod, classmethod)) or not callable(model):
        what = (f"a {type(model).__name__}" if isinstance(model, (property, staticmethod,
                                                                   classmethod))
                else f"{model!r}, not a method")
        raise SpecError(f"block spec {name} ({_where(inner if callable(inner) else cls)}): cost "
                        f"is {what}; expected a method {want} returning a Cost{why}")
    try:
        signature = inspect.signature(model)
    except (TypeError, ValueError):  # nothing to read (a builtin): called as documented
        return
    try:
        signature.bind(cls, "case")
        if kernel:
            signature.bind(cls, "case", backend="")
    except TypeError:
        raise SpecError(f"block spec {name} ({_where(model)}): cost{signature} cannot be called "
                        f"as cost(case{', backend=...' if kernel else ''}); expected {want} "
                        f"returning a Cost{why}") from None


def _refuse_built_in_name(cls: type[BlockSpec], name: str) -> None:
    """A block of a plugin or a script may not take a built-in's name. The built-ins register
    whenever a2bench.blocks is imported, which can come after the plugin (the worker, the API),
    so one name would mean the plugin's module under the built-in's parameters and cost model.
    Importing them first makes the clash show here, where the plugin registers."""
    import importlib

    importlib.import_module(BUILT_INS)
    if (held := REGISTRY.get(name)) is not None \
            and type(held).__module__.startswith(BUILT_INS + "."):
        raise SpecError(f"block spec {cls.__name__} ({_where(cls)}): name {name!r} is a2bench's "
                        f"built-in block ({_where(type(held))}); expected another name, e.g. "
                        f"name = \"my_{name}\"")


SCRIPTS = ("__main__", "__mp_main__")  # a script or notebook: as its worker imports it again


def _refuse_another_modules_name(cls: type[BlockSpec], name: str) -> None:
    """A name registered is its holder's: registered again by the same class (its module
    imported again, a plugin file loaded again after it failed) or from a script or notebook
    (a cell run again, perhaps with the class renamed) it is replaced. Two plugins that named
    one block alike had left the last one loaded to win, unsaid, and so had two specs of one
    name in one file."""
    held = REGISTRY.get(name)
    if held is None:
        return
    mine, theirs = cls.__module__, type(held).__module__
    if {mine, theirs} & set(SCRIPTS):
        return
    if mine == theirs and cls.__qualname__ == type(held).__qualname__:
        return
    raise SpecError(f"block spec {cls.__name__} ({_where(cls)}): name {name!r} is taken by "
                    f"block spec {type(held).__name__} ({_where(type(held))}); expected "
                    + ("each block in a file to have a name of its own" if mine == theirs
                       else "each plugin's blocks to have names of their own"))


def _where(cls: object) -> str:
    """file:line of a class, for an error message (the file alone where Python cannot say)."""
    try:
        return f"{inspect.getsourcefile(cls)}:{inspect.getsourcelines(cls)[1]}"  # type: ignore
    except (TypeError, OSError):
        module = sys.modules.get(getattr(cls, "__module__", ""), None)
        return getattr(module, "__file__", None) or "<unknown file>"
