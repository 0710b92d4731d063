"""What a reduced-precision bmm allocates on this CPU beyond its output (docs/blocks.md, where a
memory model stops being exact).

    .venv/bin/python benchmarks/bmm_scratch.py [--dtype bfloat16] [--k 16]

For a (1, N, k) x (1, k, N) product at one thread, the peak of the tensors the call allocates
(a2bench.measure.memory.peak_tensor_bytes_cpu, the probe a run uses) less its N x N output,
with both operands contiguous and with the first one transposed. Prints one Markdown row each.
"""

from __future__ import annotations

import argparse
import sys

import torch

from a2bench.measure.dtypes import DTYPES
from a2bench.measure.memory import peak_tensor_bytes_cpu

SIZES = (36, 64, 144, 256, 1024)


def scratch(n: int, k: int, dtype: torch.dtype, transposed: bool) -> int:
    a = (torch.randn(1, k, n).transpose(1, 2) if transposed else torch.randn(1, n, k)).to(dtype)
    b = torch.randn(1, k, n).to(dtype)
    torch.bmm(a, b)  # the first call: whatever it sets up once is not the call's
    return peak_tensor_bytes_cpu(lambda: torch.bmm(a, b)) - n * n * a.element_size()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    parser.add_argument("--k", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = DTYPES[args.dtype]
    print("| N | " + " | ".join(str(n) for n in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for transposed in (False, True):
        cells = [f"{scratch(n, args.k, dtype, transposed):,} B" for n in SIZES]
        label = "first operand transposed" if transposed else "operands contiguous"
        print(f"| scratch, {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
