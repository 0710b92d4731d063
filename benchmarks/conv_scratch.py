"""What a reduced-precision 1x1 convolution allocates on this CPU beyond its output (docs/blocks.md,
where a memory model stops being exact).

    .venv/bin/python benchmarks/conv_scratch.py [--dtype bfloat16]

For a kernel-1 nn.Conv1d (the blocks' pointwise convolutions) at one thread, the peak of the
tensors its forward call allocates (a2bench.measure.memory.peak_tensor_bytes_cpu, the probe a
run uses) less its output, beside what a float32 buffer of one sample's output, copies of the
input and the weights in the call's dtype, and 128 B would take. On this repository's CPU
(`avx512_bf16`) oneDNN's native bf16 kernel holds exactly those, and float32 holds none; on a CPU
that emulates bf16 the scratch was 0 (results/cpu-training-avx2). Then the same for the
backward (weight, bias and input gradients), beside copies of the input and the output gradient
(the whole batch's, and one sample's again), float32 weight and bias gradients, and 384 B.
Prints one Markdown row per shape and pass.
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from a2bench.measure.dtypes import DTYPES
from a2bench.measure.memory import peak_tensor_bytes_cpu

# (batch, c_in, c_out, N): double attention's convolutions at c = 64, m = n = 16, and others
SHAPES = ((1, 64, 16, 2304), (1, 16, 64, 2304), (1, 16, 64, 576), (1, 64, 64, 1296),
          (2, 16, 64, 576), (1, 256, 64, 1024))


def scratch(b: int, cin: int, cout: int, n: int, dtype: torch.dtype) -> tuple[int, int]:
    conv = nn.Conv1d(cin, cout, kernel_size=1).to(dtype)
    x = torch.randn(b, cin, n).to(dtype)
    with torch.no_grad():
        conv(x)  # the first call: whatever it sets up once is not the call's
        peak = peak_tensor_bytes_cpu(lambda: conv(x))
    size = dtype.itemsize
    out = b * cout * n * size
    return peak - out, cout * n * 4 + b * cin * n * size + cout * cin * size + 128


def backward_scratch(b: int, cin: int, cout: int, n: int, dtype: torch.dtype) -> tuple[int, int]:
    conv = nn.Conv1d(cin, cout, kernel_size=1).to(dtype)
    x = torch.randn(b, cin, n).to(dtype).requires_grad_(True)
    grad = torch.randn(b, cout, n).to(dtype)
    conv(x).backward(grad)  # the first call
    y = conv(x)
    conv.zero_grad(set_to_none=True)
    x.grad = None
    peak = peak_tensor_bytes_cpu(lambda: y.backward(grad, retain_graph=True))
    size = dtype.itemsize
    grads = b * cin * n * size + cout * cin * size + cout * size
    copies = (b + 1) * (cin + cout) * n * size + (cout * cin + cout) * 4 + 384
    return peak - grads, copies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = DTYPES[args.dtype]
    print("| b, c_in → c_out, N | scratch | fp32 output of a sample + input + weights + 128 B |")
    print("|---|---|---|")
    for b, cin, cout, n in SHAPES:
        got, three = scratch(b, cin, cout, n, dtype)
        print(f"| {b}, {cin} → {cout}, {n} | {got:,} B | {three:,} B |")
    print()
    print("| b, c_in → c_out, N | backward scratch | input and output-gradient copies, a sample's "
          "again, fp32 weight and bias gradients, 384 B |")
    print("|---|---|---|")
    for b, cin, cout, n in SHAPES:
        got, copies = backward_scratch(b, cin, cout, n, dtype)
        print(f"| {b}, {cin} → {cout}, {n} | {got:,} B | {copies:,} B |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
