"""What a reduced-precision bmm allocates on this CPU beyond its output (docs/blocks.md, where a
memory model stops being exact).

    .venv/bin/python benchmarks/bmm_scratch.py [--dtype bfloat16] [--k 16] \
        [--product P,K,Q ...]

For a (1, N, k) x (1, k, N) product at one thread, the peak of the tensors the call allocates
(a2bench.measure.memory.peak_tensor_bytes_cpu, the probe a run uses) less its N x N output,
with both operands contiguous and with the first one transposed. Prints one Markdown row each.
`--product P,K,Q` measures a (1, P, K) x (1, K, Q) product instead, with its second operand
row-major and transposed: on AMX oneDNN packs a row-major one (docs/blocks.md: 16,576,576,
16,512,1024, 64,1024,1024).
"""

from __future__ import annotations

import argparse
import sys

import torch

from a2bench.measure.dtypes import DTYPES
from a2bench.measure.memory import peak_tensor_bytes_cpu

SIZES = (36, 64, 144, 256, 1024)


def scratch(n: int, k: int, dtype: torch.dtype, transposed: bool, q: int | None = None,
            second_transposed: bool = False) -> int:
    """The scratch of a (1, n, k) x (1, k, q) product (q: n), its first or second operand read
    transposed."""
    q = n if q is None else q
    a = (torch.randn(1, k, n).transpose(1, 2) if transposed else torch.randn(1, n, k)).to(dtype)
    b = (torch.randn(1, q, k).transpose(1, 2) if second_transposed
         else torch.randn(1, k, q)).to(dtype)
    torch.bmm(a, b)  # the first call: whatever it sets up once is not the call's
    return peak_tensor_bytes_cpu(lambda: torch.bmm(a, b)) - n * q * a.element_size()


def product(text: str) -> tuple[int, int, int]:
    try:
        p, k, q = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected P,K,Q (three integers), got {text!r}") \
            from None
    if min(p, k, q) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return p, k, q


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--product", type=product, action="append", default=[],
                        metavar="P,K,Q", help="a (1, P, K) x (1, K, Q) product instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = DTYPES[args.dtype]
    if args.product:
        print("| P × K × Q | scratch, second operand row-major | second operand transposed |")
        print("|---|---|---|")
        for p, k, q in args.product:
            cells = [f"{scratch(p, k, dtype, False, q, t):,} B" for t in (False, True)]
            print(f"| {p} × {k} × {q} | " + " | ".join(cells) + " |")
        return 0
    print("| N | " + " | ".join(str(n) for n in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for transposed in (False, True):
        cells = [f"{scratch(n, args.k, dtype, transposed):,} B" for n in SIZES]
        label = "first operand transposed" if transposed else "operands contiguous"
        print(f"| scratch, {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
