"""The YAML sweep format, its validation, and its expansion into Cases.

Every validation error names the file, the field and what is expected, in one line. The axes a
suite may sweep are the shape axes (batch, channels, t, h, w) and the parameters its blocks
declare in the registry; a block ignores the axes it does not have.

One YAML serves every device: a top-level `cpu:` or `cuda:` section may replace the
description, blocks, params, zip and sweeps for that device (`a2bench run SUITE --device cuda`).

A suite may declare several `sweeps`, each a few lines in the manner of triton.testing's
Benchmark list: its own blocks, params (axis by axis over the top level) and zip. The suite's
cases are every sweep's, each case once. One sweep can so take the cheap blocks to sizes the
expensive ones cannot afford, while both share the sizes they have in common.
"""

from __future__ import annotations

import itertools
import math
import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from a2bench.case import DTYPE_BYTES, MODES, RUN_DEFAULTS, SHAPE_AXES, Case
from a2bench.catalog import blocks
from a2bench.errors import InputError, os_problem
from a2bench.plugins import unknown_block_hint
from a2bench.registry import BlockSpec, Value
from a2bench.suite_yaml import NumberForm, OnceLoader

DEVICES = ("cpu", "cuda")
TOP_KEYS = ("name", "description", "blocks", "device", "dtype", "threads", "params", "zip",
            "sweeps", *DEVICES)
OVERLAY_KEYS = ("description", "blocks", "params", "zip", "sweeps")
SWEEP_KEYS = ("description", "blocks", "params", "zip")
REQUIRED_AXES = ("channels", "h", "w")
SHAPE_DEFAULTS = {"batch": 1, "t": 1}
# How a case runs, an axis of every block: the dtype (the suite's `dtype` when not swept),
# forward or train, eager or torch.compile.
RUN_AXES = ("dtype", "mode", "compile")
RUN_CHOICES: dict[str, tuple[Value | bool, ...]] = {
    "dtype": tuple(DTYPE_BYTES), "mode": MODES, "compile": (False, True)}


# The most elements a case's input (b x c x t x h x w) may hold, and so any size or parameter:
# 2**40 is 2 TiB even in 16 bits, past any machine's memory, so a case above it is a slip (h:
# [2 * 10**12]), and a linear block's counts stay far inside a record's int64 (2**63).
MAX_ELEMENTS = 2**40
MAX_NAME_BYTES = 255 - len("-20250101-120000")  # a folder's name, less run.store.fresh_folder's


class SuiteError(InputError):
    """A suite that cannot be run; the message is the one line shown to the user."""


@dataclass(frozen=True)
class Sweep:
    """One grid: these blocks over the product of these axes (zip groups advance together)."""

    blocks: tuple[str, ...]
    params: dict[str, tuple[Value, ...]]
    zip: tuple[tuple[str, ...], ...]
    description: str = ""
    # The axes a2bench chooses the sizes of (`h: auto, w: auto` or `t: auto`); their entry in
    # params is a placeholder of size 1 until a plan (a2bench.run.plan) fills it.
    auto: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    blocks: tuple[str, ...]  # every sweep's, in order of first appearance
    device: str
    dtype: str
    sweeps: tuple[Sweep, ...]
    path: str = "<memory>"
    overlays: tuple[str, ...] = ()  # devices with a section of their own in the file
    # The CPU threads its sizes were chosen for (`threads:`), which a CPU run takes unless
    # --threads says otherwise: a latency exponent depends on it, since more threads gain more
    # at large sizes (results/cpu-default-threads-2). None: unstated, the run's default.
    threads: int | None = None

    @property
    def auto(self) -> bool:
        """Whether a2bench chooses some sweep's sizes along positions."""
        return any(sw.auto for sw in self.sweeps)

    @property
    def dtypes(self) -> tuple[str, ...]:
        """Every dtype a case of the suite runs in, the suite's own first where it runs."""
        swept = [str(v) for sw in self.sweeps for v in sw.params.get("dtype", (self.dtype,))]
        return tuple(dict.fromkeys(sorted(swept, key=lambda d: d != self.dtype)))


def load_suite(path: str | Path, device: str | None = None, dtype: str | None = None) -> Suite:
    """Parse a suite file for `device` and `dtype` (the suite's own when None)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise SuiteError(f"{p}: a folder, not a suite file (expected a YAML file, e.g. "
                             "suites/smoke.yaml)")
        if not p.is_file():
            raise SuiteError(f"{p}: no such suite file (expected a YAML file, e.g. "
                             "suites/smoke.yaml)")
        text = p.read_text()
    except OSError as e:  # one it may not read (a traceback had said so), a name too long
        raise SuiteError(f"{p}: {os_problem(e, 'a suite file')}") from None
    except UnicodeDecodeError:
        raise SuiteError(f"{p}: not a text file (expected YAML)") from None
    try:
        raw = yaml.load(text, Loader=OnceLoader)  # noqa: S506 (a SafeLoader)
    except NumberForm as e:
        mark = e.problem_mark
        raise SuiteError(f"{p}:{mark.line + 1}:{mark.column + 1}: {e.problem}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SuiteError(f"{p}: invalid YAML at {where}: {problem}") from None
    return parse_suite(raw, str(p), device=device, dtype=dtype, default_name=p.stem)


def parse_suite(raw: Any, where: str = "<memory>", *, device: str | None = None,
                dtype: str | None = None, default_name: str | None = None,
                others: bool = True) -> Suite:
    """The suite in `raw`; `name` may be left out where `default_name` is given (a file's
    stem: a first suite needs no more than its blocks and sizes). `others`: the sections for
    the other devices are checked too, so a mistake in the cuda: section is found on the
    machine that wrote it, not on the GPU host."""
    def fail(field: str, expected: str, got: Any) -> SuiteError:
        return SuiteError(f"{where}: {field}: expected {expected}, got {got!r}")

    if not isinstance(raw, dict):
        raise fail("top level", "a mapping with keys name, blocks, params", raw)
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise fail(str(unknown[0]), f"one of the keys {', '.join(TOP_KEYS)}", unknown[0])

    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "a non-empty string", name)
    if any(ch in "/\\" or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name) or \
            name.startswith(".") or len(name.encode(errors="replace")) > MAX_NAME_BYTES:
        # a run without --out goes to results/local/<name>-<time>: a path would leave it, and a
        # control character ("\0") or a name past 255 bytes with its time was an OSError there
        raise fail("name", "a name usable as one folder's (no / or \\, not starting with a dot, "
                   f"no control character, at most {MAX_NAME_BYTES} bytes)", name)

    suite_device = raw.get("device", "cpu")
    if suite_device not in DEVICES:
        raise fail("device", " or ".join(DEVICES), suite_device)
    if device is not None and device not in DEVICES:
        raise SuiteError(f"--device: expected {' or '.join(DEVICES)}, got {device!r}")
    device = device or suite_device
    suite_dtype = raw.get("dtype", "float32")
    if not _word_of(suite_dtype, DTYPE_BYTES):  # a list or mapping there: no TypeError
        raise fail("dtype", "one of " + ", ".join(DTYPE_BYTES), suite_dtype)
    if dtype is not None and not _word_of(dtype, DTYPE_BYTES):
        raise SuiteError(f"--dtype: expected one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    dtype_override, dtype = dtype, dtype or suite_dtype
    threads = _integer(raw.get("threads"))
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise fail("threads", "a whole number of CPU threads, 1 or more", threads)

    overlays = tuple(d for d in DEVICES if d in raw)
    for d in overlays:
        section = raw[d]
        if not isinstance(section, dict):
            raise fail(d, f"a mapping of {', '.join(OVERLAY_KEYS)} for {d} runs", section)
        bad = [k for k in section if k not in OVERLAY_KEYS]
        if bad:
            raise fail(f"{d}.{bad[0]}", f"one of the keys {', '.join(OVERLAY_KEYS)}", bad[0])
    # The device's section replaces whole keys; params are replaced axis by axis.
    merged = {k: raw[k] for k in OVERLAY_KEYS if k in raw}
    section = raw.get(device) or {}
    for key in ("description", "blocks", "zip", "sweeps"):
        if key in section:
            merged[key] = section[key]
    if "params" in section:
        if not isinstance(section["params"], dict):
            raise fail(f"{device}.params", "a mapping of axis name to a list of values",
                       section["params"])
        merged["params"] = {**(merged.get("params") or {}), **section["params"]}

    description = merged.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "a string", description)

    sweeps_raw = merged.get("sweeps")
    if sweeps_raw is None:
        sweeps = (_sweep(merged, "", fail),)
    else:
        if not _is_list(sweeps_raw) or not sweeps_raw:
            raise fail("sweeps", "a non-empty list of sweeps (each with blocks, params, zip)",
                       sweeps_raw)
        parts = []
        for i, item in enumerate(sweeps_raw):
            if not isinstance(item, dict):
                raise fail(f"sweeps[{i}]", "a mapping with keys " + ", ".join(SWEEP_KEYS), item)
            bad = [k for k in item if k not in SWEEP_KEYS]
            if bad:
                raise fail(f"sweeps[{i}].{bad[0]}", "one of the keys " + ", ".join(SWEEP_KEYS),
                           bad[0])
            params = item.get("params", {})
            if not isinstance(params, dict):
                raise fail(f"sweeps[{i}].params", "a mapping of axis name to a list of values",
                           params)
            # a sweep's list under a top-level `auto` would replace it unsaid (plan then found
            # no auto sizes, a plain run ran the list)
            auto = [a for a, v in (merged.get("params") or {}).items()
                    if v == "auto" and a in params and params[a] != "auto"]
            if auto:
                raise fail(f"sweeps[{i}].params.{auto[0]}", f"no list where the top level says "
                           f"{auto[0]}: auto, which it would replace: write auto in the sweep, "
                           "or sizes at the top", params[auto[0]])
            names = _listed(item.get("blocks", merged.get("blocks")))
            # Top-level axes reach the sweeps whose blocks have them (impl only nonlocal's).
            own = _axes_of(names)
            top = {a: v for a, v in (merged.get("params") or {}).items()
                   if own is None or a in own}
            part = {"blocks": names, "params": {**top, **params},
                    "zip": item.get("zip", merged.get("zip", [])),
                    "description": item.get("description", "")}
            parts.append(_sweep(part, f"sweeps[{i}].", fail))
        sweeps = tuple(parts)
        for a in section.get("params") or {}:  # every sweep's own wins: the section's had
            if all(a in (item.get("params") or {}) for item in sweeps_raw):  # run unsaid
                raise fail(f"{device}.params.{a}", f"an axis not every sweep sets (its own {a} "
                           f"wins); give the {device}: section sweeps: of its own",
                           section["params"][a])
        unused = [a for a in (merged.get("params") or {})
                  if not any(a in sw.params for sw in sweeps)]
        if unused:
            raise fail(f"params.{unused[0]}", "an axis of some sweep's blocks", unused[0])
    if dtype_override is not None:  # --dtype wins over a swept dtype too
        sweeps = tuple(replace(sw, params={**sw.params, "dtype": (dtype_override,)})
                       if "dtype" in sw.params else sw for sw in sweeps)
    names = tuple(dict.fromkeys(b for sw in sweeps for b in sw.blocks))
    suite = Suite(name, description, names, device, dtype, sweeps, where, overlays, threads)
    _check_cases(suite)
    for other in (d for d in overlays if others and d != device):
        try:
            parse_suite(raw, where, device=other, dtype=dtype_override,
                        default_name=default_name, others=False)
        except SuiteError as e:
            raise SuiteError(f"{e} (in the {other}: section, which --device {other} "
                             "uses)") from None
    return suite


def _axes_of(names: Any) -> set[str] | None:
    """The axes these blocks have, or None when `names` is not a list of known blocks (the
    sweep's own validation then says what is wrong)."""
    registry = blocks()
    if not isinstance(names, list) or not all(isinstance(b, str) and b in registry
                                              for b in names):
        return None
    return {*SHAPE_AXES, *RUN_AXES, *(p.name for b in names for p in registry[b].params)}


def _is_list(values: Any) -> bool:
    """A list, or any sequence but text (a tuple or range from the Python API, a2bench.sweep;
    YAML gives lists only)."""
    return isinstance(values, Sequence) and not isinstance(values, (str, bytes))


def _word_of(value: Any, words: Iterable[str]) -> bool:
    """Whether `value` is one of `words`: a list or mapping where a word goes is not (`in` a
    dict had raised "unhashable type")."""
    return isinstance(value, str) and value in words


def _listed(names: Any) -> Any:
    """`blocks: se` as `blocks: [se]`, as an axis takes one value unlisted; a tuple or range as
    the list it stands for."""
    return [names] if isinstance(names, str) else list(names) if _is_list(names) else names


def _plain(values: Any) -> Any:
    """A numpy array (`np.arange(8, 20, 4)` from the Python API) as the list of Python values it
    holds; anything else as given. An array is no Sequence: `v == "auto"` on it had raised
    numpy's "truth value of an array" ValueError, and a one-element array read as one value.
    numpy is looked up only where the caller imported it (this module does not need it)."""
    np = sys.modules.get("numpy")
    return values.tolist() if np is not None and isinstance(values, np.ndarray) else values


def _integer(v: Any) -> Any:
    """A whole number of any integral type (numpy's int64 from np.arange) as the Python int it
    stands for; a bool (true: 1 in Python) and everything else as given, for the checks."""
    return int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v


def _sweep(part: dict[str, Any], prefix: str, fail: Any) -> Sweep:
    """Validate one grid's blocks, params and zip; field names carry the sweep's prefix."""
    registry = blocks()
    known = tuple(registry)
    names = _listed(part.get("blocks"))
    if not isinstance(names, list) or not names:
        raise fail(f"{prefix}blocks", f"a non-empty list drawn from {', '.join(known)}", names)
    alone = isinstance(part.get("blocks"), str)  # named without an index, as an axis's value
    for i, b in enumerate(names):
        if b not in known:
            raise fail(f"{prefix}blocks" + ("" if alone else f"[{i}]"),
                       f"a registered block ({', '.join(known)}), or "
                       + unknown_block_hint(), b)
    specs = [registry[b] for b in names]
    declared = {p.name: p for s in specs for p in s.params}
    axes = (*SHAPE_AXES, *RUN_AXES, *declared)

    params_raw = part.get("params")
    if not isinstance(params_raw, dict):
        raise fail(f"{prefix}params", "a mapping of axis name to a list of sizes", params_raw)
    params_raw = {a: _plain(v) for a, v in params_raw.items()}  # np.arange as its list
    params: dict[str, tuple[Value, ...]] = {}
    auto = _auto_axes(params_raw, prefix, fail)
    for axis, values in params_raw.items():
        if axis not in axes:
            raise fail(f"{prefix}params.{axis}", f"an axis of these blocks ({', '.join(axes)})",
                       axis)
        if axis in auto:
            params[axis] = (1,)  # a placeholder: the plan chooses the sizes
            continue
        listed = _is_list(values)  # a value given alone is named without an index
        seq = [_integer(v) for v in values] if listed else [_integer(values)]
        if not seq:
            raise fail(f"{prefix}params.{axis}", "a non-empty list", values)
        choices: tuple[Any, ...] = (RUN_CHOICES[axis] if axis in RUN_CHOICES else
                                    declared[axis].choices if axis in declared else ())
        for i, v in enumerate(seq):
            field = f"{prefix}params.{axis}" + (f"[{i}]" if listed else "")
            if axis == "compile" and not isinstance(v, bool):
                raise fail(field, "true or false", v)
            if choices and v not in choices:
                raise fail(field, "one of " + ", ".join(choices), v)
            if not choices and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                said = (f" (auto sizes are `{axis}: auto`, not in a list)"
                        if _is_auto(v) and axis in ("h", "w", "t") else
                        f" (a YAML list of sizes reads [{v}])"
                        if isinstance(v, str) and "," in v else "")
                raise fail(field, f"a positive integer{said}", v)
            if not choices and v > MAX_ELEMENTS:
                raise fail(field, f"a positive integer at most {MAX_ELEMENTS:,} (2**40, 2 TiB "
                           "even in 16 bits: more memory than a machine holds)", v)
        params[axis] = tuple(seq)
    for axis in REQUIRED_AXES:
        if axis not in params:
            raise fail(f"{prefix}params.{axis}", "a list of positive integers (a required axis)",
                       None)

    zip_raw = part.get("zip", [])
    if not _is_list(zip_raw):
        raise fail(f"{prefix}zip", "a list of axis groups, e.g. [[h, w]]", zip_raw)
    groups: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for gi, group in enumerate(zip_raw):
        if not _is_list(group) or len(group) < 2:
            raise fail(f"{prefix}zip[{gi}]", "a list of at least two swept axes", group)
        for axis in group:
            if not _word_of(axis, params):
                raise fail(f"{prefix}zip[{gi}]", "axes that appear under params", axis)
            if axis in auto:
                raise fail(f"{prefix}zip[{gi}]", "axes with lists of sizes (auto sizes are "
                           "chosen by a2bench, not zipped)", axis)
            if axis in seen:
                raise fail(f"{prefix}zip[{gi}]", "each axis in at most one group", axis)
            seen.add(axis)
        lengths = {a: len(params[a]) for a in group}
        if len(set(lengths.values())) != 1:
            said = ", ".join(f"{a} {n}" for a, n in lengths.items())
            raise fail(f"{prefix}zip[{gi}]", "axes whose lists have the same length",
                       f"{group} with lengths {said}")
        groups.append(tuple(group))
    _check_elements(params, groups, {a for a, v in params_raw.items() if _is_list(v)}, prefix,
                    fail)

    return Sweep(names, params, tuple(groups), str(part.get("description") or ""), auto)


def _check_elements(params: dict[str, tuple[Value, ...]], groups: list[tuple[str, ...]],
                    listed: set[str], prefix: str, fail: Any) -> None:
    """Refuse a grid whose largest case holds more than MAX_ELEMENTS input elements, naming its
    largest size. The largest case is found without expanding the grid: the product of each
    independent factor's largest (a zip group's largest row, an axis's largest value)."""
    zipped = {a for g in groups for a in g}
    factors = [[{a: int(params[a][i]) for a in g if a in SHAPE_AXES}
                for i in range(len(params[g[0]]))] for g in groups]
    factors += [[{a: int(v)} for v in params[a]]
                for a in SHAPE_AXES if a in params and a not in zipped]
    largest: dict[str, int] = dict(SHAPE_DEFAULTS)
    row_of: dict[str, int] = {}  # each axis's index in its list: its zip row's, not its value's
    for rows in factors:
        i = max(range(len(rows)), key=lambda i: math.prod(rows[i].values()))
        largest.update(rows[i])
        row_of.update(dict.fromkeys(rows[i], i))
    elements = math.prod(largest[a] for a in SHAPE_AXES)
    if elements <= MAX_ELEMENTS:
        return
    axis = max((a for a in SHAPE_AXES if a in params), key=lambda a: largest[a])
    field = f"{prefix}params.{axis}" + (f"[{row_of[axis]}]" if axis in listed else "")
    shape = " x ".join(f"{a} {largest[a]}" for a in SHAPE_AXES)
    raise fail(field, f"sizes whose cases hold at most {MAX_ELEMENTS:,} input elements (2**40 of "
               "batch x channels x t x h x w, 2 TiB even in 16 bits: more memory than a machine "
               "holds)", _Said(f"{largest[axis]}, whose case {shape} holds {elements:,}"))


class _Said(str):
    """A "got" said as it is, not quoted."""

    def __repr__(self) -> str:
        return str(self)


AUTO = "auto"


def _is_auto(v: Any) -> bool:
    """Whether `v` is `auto`; asked of text only, as `v == AUTO` on an array is no bool."""
    return isinstance(v, str) and v == AUTO


def _auto_axes(params: dict[str, Any], prefix: str, fail: Any) -> tuple[str, ...]:
    """The axes marked `auto`: h and w together (square maps), or t with h and w fixed."""
    marked = {a for a, v in params.items() if _is_auto(v)}
    for axis in sorted(marked - {"h", "w", "t"}):
        raise fail(f"{prefix}params.{axis}", "a list of values (auto applies only to h and w "
                   "together, or to t)", AUTO)
    if marked & {"h", "w"} and not {"h", "w"} <= marked:
        other = "w" if "h" in marked else "h"
        raise fail(f"{prefix}params.{other}", f"auto, as {'h' if other == 'w' else 'w'} is "
                   "(auto sizes are square maps: h: auto with w: auto)",
                   params[other] if other in params else _Said(f"no {other} at all"))
    if "t" in marked and marked & {"h", "w"}:
        raise fail(f"{prefix}params.t", "a list of frames when h and w are auto (auto sizes "
                   "run along one axis: h and w, or t)", AUTO)
    if "t" in marked:
        for axis in ("h", "w"):
            value = params.get(axis)
            if _is_list(value) and len(value) != 1:
                raise fail(f"{prefix}params.{axis}", "one size when t is auto (t: auto runs "
                           "along frames at a fixed map)", value)
    return ("h", "w") if "h" in marked else ("t",) if marked else ()


def _combinations(sweep: Sweep) -> Iterable[dict[str, Value]]:
    zipped = {a for g in sweep.zip for a in g}
    factors: list[list[dict[str, Value]]] = []
    for group in sweep.zip:
        factors.append([dict(zip(group, vals, strict=True)) for vals in zip(
            *(sweep.params[a] for a in group), strict=True)])
    for axis, values in sweep.params.items():
        if axis not in zipped:
            factors.append([{axis: v} for v in values])
    for combo in itertools.product(*factors):
        merged: dict[str, Value] = dict(SHAPE_DEFAULTS)
        for part in combo:
            merged.update(part)
        yield merged


def _values(spec: BlockSpec, point: Mapping[str, Value]) -> dict[str, Value]:
    """A point's shape axes, its mode (a block may refuse a shape in train mode alone:
    resnet50's BatchNorm) and the block's resolved parameters (given, else defaults)."""
    shape = {a: point[a] for a in SHAPE_AXES}
    own = {p.name: point[p.name] for p in spec.params if p.name in point}
    return {**shape, "mode": point.get("mode", RUN_DEFAULTS["mode"]),
            **spec.resolve({**shape, **own})}


def _case(spec: BlockSpec, suite: Suite, point: Mapping[str, Value]) -> Case:
    v = _values(spec, point)
    return Case(spec.name, suite.device, str(point.get("dtype", suite.dtype)),
                *(int(v[a]) for a in SHAPE_AXES), params={p.name: v[p.name] for p in spec.params},
                mode=str(v["mode"]),
                compile=bool(point.get("compile", RUN_DEFAULTS["compile"])))


def expand(suite: Suite) -> list[Case]:
    """Cartesian product of the axes (zip groups advance together), every block per shape.

    A block ignores the axes it does not have, so duplicates collapse, first occurrence kept.
    Sweeps with auto sizes give no case here: their templates (auto_templates) are planned.
    """
    registry = blocks()
    cases = (_case(registry[b], suite, p) for sw in suite.sweeps if not sw.auto
             for p in _combinations(sw) for b in sw.blocks)
    return list(dict.fromkeys(cases))


def auto_templates(suite: Suite) -> list[tuple[Case, tuple[str, ...]]]:
    """Each distinct case of the auto sweeps with its auto axes at size 1, and those axes: one
    planning problem each (a block variant at its channels, batch and parameters)."""
    registry = blocks()
    out = (( _case(registry[b], suite, p), sw.auto) for sw in suite.sweeps if sw.auto
           for p in _combinations(sw) for b in sw.blocks)
    return list(dict.fromkeys(out))


def _check_auto_clips(suite: Suite, sw: Sweep) -> None:
    """`t: auto` for a block that takes no clip at all (criss-cross) no plan can satisfy: said
    here, as a listed clip is, not as a budget too small for it."""
    if "t" not in sw.auto:
        return
    registry = blocks()
    for point, b in ((p, b) for p in _combinations(sw) for b in sw.blocks):
        spec = registry[b]
        found = [why for axis, why in spec.problems(_values(spec, {**point, "t": 2}))
                 if axis == "t"]
        if found:
            rule = found[0].rsplit(", got", 1)[0]  # the t it was probed at is no one's
            raise SuiteError(f"{suite.path}: t: auto: block {b} takes no clip ({rule}); "
                             "expected t: auto only for blocks that take clips")


# The sizes an auto axis is probed at for a rule it breaks at every size: the planner's range
# (sides and frames up to run.plan.MAX_SIDE, odd and even)
AUTO_PROBES = (1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 64, 127, 128, 256, 512, 1024, 2048, 4096)


def _check_auto_params(suite: Suite, sw: Sweep) -> None:
    """A rule an auto sweep breaks at every size the planner could pick (SE's reduction above
    channels; criss-cross at a listed t of 2) no plan can satisfy: said here in one line, as a
    listed size's is (the planner had found no legal size, calibrated for half a minute and
    blamed the budget). Rules are matched by what they name, not by their words."""
    registry = blocks()
    for point, b in ((p, b) for p in _combinations(sw) for b in sw.blocks):
        spec = registry[b]
        named: dict[str, str] = {}
        broken: set[str] | None = None
        for size in AUTO_PROBES:
            found = [(n, w) for n, w in spec.problems(_values(spec, {
                **point, **dict.fromkeys(sw.auto, size)})) if n not in sw.auto]
            named.update((n, w) for n, w in found if n not in named)
            broken = {n for n, _ in found} if broken is None else broken & {n for n, _ in found}
        if broken:
            name = sorted(broken)[0]
            field = name if name in SHAPE_AXES else f"params.{name}"
            unset = (f"; {name} was not set, so it took {b}'s default: set params.{name}"
                     if name not in SHAPE_AXES and name not in sw.params else "")
            raise SuiteError(f"{suite.path}: {field}: {named[name]} (block {b} at "
                             f"c={point['channels']}, at every size auto could pick{unset})")


# The most cases a suite may expand to: its grid is checked and expanded case by case, and a
# slip (a list of 10,000 sizes where 100 were meant) sat silent for minutes in that check
# before a sweep of weeks began.
MAX_CASES = 100_000


def _grid_size(sw: Sweep) -> int:
    """The cases a grid can give: per block, the product of the lengths of the axes it takes
    (shape, run and its own parameters; a zip group once; an auto axis as the one template
    it is planned from), as expand() collapses the axes a block does not take."""
    registry = blocks()
    total = 0
    for b in sw.blocks:
        takes = {*SHAPE_AXES, *RUN_AXES, *(p.name for p in registry[b].params)}
        groups = [g for g in sw.zip if takes & set(g)]
        zipped = {a for g in sw.zip for a in g}
        lengths = [1 if a in sw.auto else len(v) for a, v in sw.params.items()
                   if a in takes and a not in zipped]
        total += math.prod([*lengths, *(len(sw.params[g[0]]) for g in groups)])
    return total


def _check_cases(suite: Suite) -> None:
    registry = blocks()
    total = sum(_grid_size(sw) for sw in suite.sweeps)
    if total > MAX_CASES:
        raise SuiteError(f"{suite.path}: expands to {total:,} cases (each block times the product "
                         f"of the lists it takes); expected at most {MAX_CASES:,}: check the "
                         "lists, or zip axes that advance together (zip: [[h, w]])")
    for sw in suite.sweeps:
        if sw.auto:  # checked size by size when planned: the plan takes only legal sizes
            _check_auto_clips(suite, sw)
            _check_auto_params(suite, sw)
            continue
        for point, b in ((p, b) for p in _combinations(sw) for b in sw.blocks):
            spec = registry[b]
            problems = spec.problems(_values(spec, point))
            if problems:
                name, why = problems[0]
                shape = "x".join(str(point[a]) for a in ("t", "h", "w") if a != "t"
                                 or point["t"] != 1)
                # A parameter's default the user never wrote is named as one, with where to
                # set it; a rule on the shape alone (BlockSpec.shape_checks) names its axis.
                is_param = name not in SHAPE_AXES
                unset = (f"; {name} was not set, so it took {b}'s default: set "
                         f"params.{name}" if is_param and name not in point else "")
                field = f"params.{name}" if is_param else name
                raise SuiteError(f"{suite.path}: {field}: {why} (block {b} at "
                                 f"c={point['channels']}, {shape}{unset})")

