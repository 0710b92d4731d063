"""The YAML sweep format, its validation, and its expansion into Cases. No torch here.

Every validation error names the file, the field and what is expected, in one line.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from a2bench.case import ATTENTION_BLOCKS, DTYPE_BYTES, SE_BLOCKS, SIZE_AXES, Case
from a2bench.cost import COST_MODELS
from a2bench.errors import InputError

TOP_KEYS = ("name", "description", "blocks", "device", "dtype", "params", "zip")
DEVICES = ("cpu", "cuda")
REQUIRED_AXES = ("channels", "h", "w")
DEFAULTS = {"batch": 1, "t": 1, "reduction": 16}  # m and n default to channels // 4 (the paper)


class SuiteError(InputError):
    """A suite that cannot be run; the message is the one line shown to the user."""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    blocks: tuple[str, ...]
    device: str
    dtype: str
    params: dict[str, tuple[int, ...]]
    zip: tuple[tuple[str, ...], ...]
    path: str = "<memory>"


def load_suite(path: str | Path) -> Suite:
    p = Path(path)
    if not p.is_file():
        raise SuiteError(f"{p}: no such suite file (expected a YAML file, e.g. suites/smoke.yaml)")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SuiteError(f"{p}: invalid YAML at {where}: {problem}") from None
    except UnicodeDecodeError:
        raise SuiteError(f"{p}: not a text file (expected YAML)") from None
    return parse_suite(raw, str(p))


def parse_suite(raw: Any, where: str = "<memory>") -> Suite:
    def fail(field: str, expected: str, got: Any) -> SuiteError:
        return SuiteError(f"{where}: {field}: expected {expected}, got {got!r}")

    if not isinstance(raw, dict):
        raise fail("top level", "a mapping with keys name, blocks, params", raw)
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise fail(str(unknown[0]), f"one of the keys {', '.join(TOP_KEYS)}", unknown[0])

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "a non-empty string", name)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "a string", description)

    known = tuple(COST_MODELS)
    blocks = raw.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise fail("blocks", f"a non-empty list drawn from {', '.join(known)}", blocks)
    for i, b in enumerate(blocks):
        if b not in known:
            raise fail(f"blocks[{i}]", f"a registered block ({', '.join(known)})", b)

    device = raw.get("device", "cpu")
    if device not in DEVICES:
        raise fail("device", " or ".join(DEVICES), device)
    dtype = raw.get("dtype", "float32")
    if dtype not in DTYPE_BYTES:
        raise fail("dtype", "one of " + ", ".join(DTYPE_BYTES), dtype)

    params_raw = raw.get("params")
    if not isinstance(params_raw, dict):
        raise fail("params", "a mapping of axis name to a list of sizes", params_raw)
    params: dict[str, tuple[int, ...]] = {}
    for axis, values in params_raw.items():
        if axis not in SIZE_AXES:
            raise fail(f"params.{axis}", f"an axis among {', '.join(SIZE_AXES)}", axis)
        seq = values if isinstance(values, list) else [values]
        if not seq:
            raise fail(f"params.{axis}", "a non-empty list of positive integers", values)
        for i, v in enumerate(seq):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise fail(f"params.{axis}[{i}]", "a positive integer", v)
        params[axis] = tuple(seq)
    for axis in REQUIRED_AXES:
        if axis not in params:
            raise fail(f"params.{axis}", "a list of positive integers (a required axis)", None)

    zip_raw = raw.get("zip", [])
    if not isinstance(zip_raw, list):
        raise fail("zip", "a list of axis groups, e.g. [[h, w]]", zip_raw)
    groups: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for gi, group in enumerate(zip_raw):
        if not isinstance(group, list) or len(group) < 2:
            raise fail(f"zip[{gi}]", "a list of at least two swept axes", group)
        for axis in group:
            if axis not in params:
                raise fail(f"zip[{gi}]", "axes that appear under params", axis)
            if axis in seen:
                raise fail(f"zip[{gi}]", "each axis in at most one group", axis)
            seen.add(axis)
        lengths = {len(params[a]) for a in group}
        if len(lengths) != 1:
            raise fail(f"zip[{gi}]", "axes whose lists have the same length", group)
        groups.append(tuple(group))

    suite = Suite(name, description, tuple(blocks), device, dtype, params, tuple(groups), where)
    _check_cases(suite)
    return suite


def _combinations(suite: Suite) -> Iterable[dict[str, int]]:
    zipped = {a for g in suite.zip for a in g}
    factors: list[list[dict[str, int]]] = []
    for group in suite.zip:
        factors.append([dict(zip(group, vals, strict=True)) for vals in zip(
            *(suite.params[a] for a in group), strict=True)])
    for axis, values in suite.params.items():
        if axis not in zipped:
            factors.append([{axis: v} for v in values])
    for combo in itertools.product(*factors):
        merged: dict[str, int] = dict(DEFAULTS)
        for part in combo:
            merged.update(part)
        yield merged


def _case(block: str, suite: Suite, p: dict[str, int]) -> Case:
    common = dict(block=block, device=suite.device, dtype=suite.dtype, batch=p["batch"],
                  channels=p["channels"], t=p["t"], h=p["h"], w=p["w"])
    if block in ATTENTION_BLOCKS:
        quarter = max(1, p["channels"] // 4)
        return Case(**common, m=p.get("m", quarter), n=p.get("n", quarter))
    if block in SE_BLOCKS:
        return Case(**common, reduction=p["reduction"])
    return Case(**common, m=p.get("m"), n=p.get("n"), reduction=p.get("reduction"))


def expand(suite: Suite) -> list[Case]:
    """Cartesian product of the axes (zip groups advance together), every block per shape.

    A block ignores the axes it does not have, so duplicates collapse, first occurrence kept.
    """
    cases = (_case(b, suite, p) for p in _combinations(suite) for b in suite.blocks)
    return list(dict.fromkeys(cases))


def _check_cases(suite: Suite) -> None:
    for case in expand(suite):
        if case.reduction is not None and case.reduction > case.channels:
            raise SuiteError(
                f"{suite.path}: params.reduction: expected at most channels ({case.channels}) "
                f"for block {case.block}, got {case.reduction}")
