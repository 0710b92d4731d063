"""torch's dtype for each dtype name a suite may use (case.DTYPE_BYTES), without the blocks."""

from __future__ import annotations

import torch

from a2bench.case import DTYPE_BYTES

DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPE_BYTES}
