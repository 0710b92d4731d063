"""One point of a sweep: which block, on which device, at which shape, with which parameters.

No torch here. The shape fields (batch, channels, t, h, w) are shared by every block; everything
else a block declares (m and n for double attention, reduction for SE, ...) is in `params`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SHAPE_AXES = ("batch", "channels", "t", "h", "w")
# Schema-1 records held these three block parameters as fields of their own; results.csv keeps
# their columns in place, and other parameters follow at the end.
LEGACY_PARAMS = ("m", "n", "reduction")
DTYPE_BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2}
REDUCED_DTYPES = ("float16", "bfloat16")  # reduced precision: native or emulated by the CPU
# What is measured: `forward` is inference without autograd; `train` is one forward and one
# backward pass with the input and every parameter requiring grad.
MODES = ("forward", "train")
_FIELDS = ("block", "device", "dtype", *SHAPE_AXES)
# How a case runs rather than what it computes; every block has them, with these defaults, and
# records written before they existed read back with the defaults.
RUN_FIELDS = ("mode", "compile")
RUN_DEFAULTS = {"mode": "forward", "compile": False}

ParamValue = int | str


@dataclass(frozen=True, order=True, init=False)
class Case:
    """Immutable, hashable and ordered; `Case(..., m=64, n=64)` sets parameters by keyword, and
    dataclasses.replace(case, reduction=8) changes one."""

    block: str
    device: str
    dtype: str
    batch: int
    channels: int
    t: int
    h: int
    w: int
    params: tuple[tuple[str, ParamValue], ...]  # sorted by name
    mode: str  # forward or train (MODES)
    compile: bool  # run through torch.compile

    def __init__(self, block: str, device: str, dtype: str, batch: int, channels: int, t: int,
                 h: int, w: int, params: Mapping[str, ParamValue] | tuple = (), *,
                 mode: str = "forward", compile: bool = False, **more: ParamValue | None):
        merged = dict(params)
        merged.update({k: v for k, v in more.items() if v is not None})
        for name, value in zip(_FIELDS, (block, device, dtype, batch, channels, t, h, w),
                               strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "params", tuple(sorted(merged.items())))
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "compile", bool(compile))

    def key(self) -> tuple[Any, ...]:
        """Identity used to match results across runs and to resume."""
        return (*(getattr(self, f) for f in _FIELDS), self.params, self.mode, self.compile)

    @property
    def train(self) -> bool:
        return self.mode == "train"

    def param(self, name: str, default: ParamValue | None = None) -> ParamValue | None:
        return dict(self.params).get(name, default)

    # The double attention and SE parameters by their old field names (None when absent).
    @property
    def m(self) -> int | None:
        return self.param("m")  # type: ignore[return-value]

    @property
    def n(self) -> int | None:
        return self.param("n")  # type: ignore[return-value]

    @property
    def reduction(self) -> int | None:
        return self.param("reduction")  # type: ignore[return-value]

    @property
    def positions(self) -> int:
        return self.t * self.h * self.w

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def input_shape(self) -> tuple[int, ...]:
        # t == 1 means an image (b, c, h, w); t > 1 a clip (b, c, t, h, w).
        if self.t == 1:
            return (self.batch, self.channels, self.h, self.w)
        return (self.batch, self.channels, self.t, self.h, self.w)

    def to_dict(self) -> dict[str, Any]:
        """Flat: the shape fields and one entry per parameter (a results.csv row's case part)."""
        return {**{f: getattr(self, f) for f in _FIELDS}, **dict(self.params),
                "mode": self.mode, "compile": self.compile}

    def to_json(self) -> dict[str, Any]:
        """Schema 2: the parameters nested, so a reader never guesses which keys are parameters."""
        return {**{f: getattr(self, f) for f in _FIELDS}, "params": dict(self.params),
                "mode": self.mode, "compile": self.compile}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Case:
        """From to_json (schema 2), to_dict, or a schema-1 record (m, n, reduction at top level,
        None where the block lacks them). Keys other than the fields are parameters."""
        base = {f: d.get(f) for f in _FIELDS}
        params = dict(d.get("params") or {})
        params.update({k: v for k, v in d.items() if k not in _FIELDS and k != "params"
                       and k not in RUN_FIELDS and v is not None})
        compiled = d.get("compile")
        if isinstance(compiled, str):  # a CSV cell
            compiled = compiled.strip().lower() in ("true", "1")
        return cls(**base, params=params, mode=d.get("mode") or "forward",
                   compile=bool(compiled))

    def label(self, auto: Sequence[str] = ()) -> str:
        """`auto`: the axes whose sizes are still to be chosen (a plan's template), named so."""
        parts = [self.block, f"b{self.batch}", f"c{self.channels}"]
        for name, value in self.params:
            short = {"reduction": "r"}.get(name, name)
            parts.append(f"{short}{value}" if name in LEGACY_PARAMS else f"{name}={value}")
        sides = {a: a if a in auto else str(getattr(self, a)) for a in ("t", "h", "w")}
        shown = ("t", "h", "w") if self.t > 1 or "t" in auto else ("h", "w")
        parts.append("x".join(sides[a] for a in shown) + (" auto" if auto else ""))
        if self.dtype != "float32":
            parts.append(self.dtype)
        if self.train:
            parts.append("train")
        if self.compile:
            parts.append("compiled")
        return " ".join(parts)


def case_problem(d: Mapping[str, Any]) -> str | None:
    """What is wrong with a stored record's case (Case.to_json, or schema 1's flat fields):
    "field: expected ..., got ..." for the first field that is not of its type, None where
    every one is. The record is read back from a file a person may have edited."""
    for name in ("block", "device"):
        if not isinstance(d.get(name), str) or not d.get(name):
            return f"{name}: expected a non-empty string, got {d.get(name)!r}"
    if not isinstance(d.get("dtype"), str) or d["dtype"] not in DTYPE_BYTES:
        return f"dtype: expected one of {', '.join(DTYPE_BYTES)}, got {d.get('dtype')!r}"
    for name in SHAPE_AXES:
        value = d.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{name}: expected a positive integer, got {value!r}"
    params = d.get("params") or {}
    if not isinstance(params, dict):
        return f"params: expected an object of the block's parameters, got {params!r}"
    flat = {k: v for k, v in d.items() if k not in (*_FIELDS, *RUN_FIELDS, "params")}
    for name, value in {**params, **flat}.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            return f"params.{name}: expected an integer or a string, got {value!r}"
    if (d.get("mode") or "forward") not in MODES:
        return f"mode: expected one of {', '.join(MODES)}, got {d.get('mode')!r}"
    if not isinstance(d.get("compile") or False, bool):
        return f"compile: expected true or false, got {d.get('compile')!r}"
    return None
