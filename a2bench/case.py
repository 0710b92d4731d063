"""One point of a sweep: which block, on which device, at which shape. No torch here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

ATTENTION_BLOCKS = ("double_attention", "nonlocal_right")
SE_BLOCKS = ("se",)
SIZE_AXES = ("batch", "channels", "m", "n", "t", "h", "w", "reduction")
DTYPE_BYTES = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True, order=True)
class Case:
    block: str
    device: str
    dtype: str
    batch: int
    channels: int
    t: int
    h: int
    w: int
    m: int | None = None
    n: int | None = None
    reduction: int | None = None

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

    def key(self) -> tuple[Any, ...]:
        """Identity used to match results across runs and to resume."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})

    def label(self) -> str:
        parts = [self.block, f"b{self.batch}", f"c{self.channels}"]
        if self.m is not None:
            parts += [f"m{self.m}", f"n{self.n}"]
        if self.reduction is not None:
            parts.append(f"r{self.reduction}")
        parts.append(f"{self.t}x{self.h}x{self.w}" if self.t > 1 else f"{self.h}x{self.w}")
        return " ".join(parts)
