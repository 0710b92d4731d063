"""What a 1x1 convolution allocates on this CPU, against the memory model's rule for oneDNN's
bfloat16 kernel (a2bench.onednn.onednn_bf16_scratch) and, with --dtype float32 at more than one
thread, its float32 kernel (onednn_f32_scratch; docs/blocks.md, where a memory model stops being
exact).

    .venv/bin/python benchmarks/conv_scratch.py [--dtype bfloat16] [--threads N] [--batch B ...] \
        [--odd | --conv2d | --scan | --positions]

For a kernel-1 nn.Conv1d (the blocks' pointwise convolutions) at one thread, the peak of the
tensors a forward call and a training step allocate (a2bench.measure.memory.warm_peak_cpu on
a2bench.measure.step's step, the probe and step a run uses) beside the model of that one
convolution, with oneDNN's scratch where torch ran it on oneDNN (aten::mkldnn_convolution) and
without it where it did not (float32 here; a CPU that emulates bf16, results/cpu-training-avx2).
Prints one Markdown row per shape; `--odd` takes channel counts that are not multiples of 16,
`--conv2d` a 1x1 nn.Conv2d on h x w maps (criss-cross's convolutions), whose weight gradient
keeps copies of one sample's input and output gradient only on a map with a side under 15
(onednn.onednn_sample_copies), `--scan` every multiple of 16 up to 1,024 input channels (16
out) and output channels (16 in) at N = 256, which copies one block of (cost.
onednn_copied_channels), `--positions` positions and map heights that oneDNN's register block
does not divide (onednn.onednn_store_positions). ONEDNN_MAX_CPU_ISA=AVX512_CORE runs oneDNN as on
an AVX-512 CPU without bf16 instructions (the kernel onednn_bf16_emulated). On AMX
(onednn_bf16_amx) the model holds the least oneDNN's blocking may book, and says how many peaks
lie within its allowance (onednn.onednn_amx_scratch).
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch
from torch import nn

from a2bench.blocks.kernels import conv_kernel
from a2bench.cost import Cost, pointwise, train_cost, within_allowance
from a2bench.measure.dtypes import DTYPES
from a2bench.measure.memory import warm_peak_cpu
from a2bench.measure.step import make_step


# (batch, c_in, c_out, N): channel counts whose per-sample copies oneDNN takes whole and in
# blocks (c_in 160, 256, 384; c_out 512, 768: onednn.onednn_copied_channels)
def grid(batches: tuple[int, ...]) -> tuple[tuple[int, int, int, int], ...]:
    return tuple(itertools.product(batches, (16, 64, 128, 160, 256, 384, 512),
                                   (16, 64, 128, 256, 512, 768), (256, 1024, 4096)))


SHAPES = grid((1, 2))
ODD = tuple(itertools.product((1, 2), (8, 24, 72), (12, 36, 100), (100, 400)))
# (batch, c_in, c_out, (h, w)) for nn.Conv2d: maps with a side under 15 and maps without
SCAN = tuple((1, c, 16, 256) for c in range(16, 1025, 16)) + tuple(
    (1, 16, c, 256) for c in range(32, 1025, 16))
# (batch, c_in, c_out, (h, w)): positions (h 1: nn.Conv1d) and heights no register block
# divides, among them 144-256 channels written on 11-27 rows, which take fewer registers
POSITIONS = tuple(itertools.product((1, 2), (16, 64, 160), (16, 144, 256),
                                    ((1, 77), (1, 100), (1, 1000), (13, 13), (15, 15),
                                     (17, 17), (29, 29), (15, 30))))
CONV2D = tuple(itertools.product((1, 2), (16, 64, 256, 384), (16, 64, 512, 768),
                                 ((12, 12), (7, 64), (15, 15), (24, 24), (16, 40), (48, 48))))


def peaks(b: int, cin: int, cout: int, n: int, dtype: torch.dtype,
          sides: tuple[int, int] | None = None) -> tuple[str, int, int]:
    """The kernel torch ran and the measured peaks of a forward call and of a training step:
    an nn.Conv1d over n positions, or an nn.Conv2d on an h x w map (`sides`)."""
    if sides is None:
        conv: nn.Module = nn.Conv1d(cin, cout, kernel_size=1).to(dtype)
        x = torch.randn(b, cin, n).to(dtype)
    else:
        conv = nn.Conv2d(cin, cout, kernel_size=1).to(dtype)
        x = torch.randn(b, cin, *sides).to(dtype)
    kernel = conv_kernel(conv, x)
    forward, train = (warm_peak_cpu(make_step(conv, x, mode)) for mode in ("forward", "train"))
    return kernel, forward, train


def model(b: int, cin: int, cout: int, n: int, size: int, kernel: str,
          sides: tuple[int, int] | None = None) -> tuple[int, int, int]:
    """The modelled peaks of a forward call and a training step, and the bytes a measured peak
    may lie above them (the AMX kernel's allowance, Term.allowance; 0 for the others)."""
    term = pointwise("conv", b, n, cin, cout, inputs=("x",), kernel=kernel, sides=sides)
    forward = Cost((term,), size, input_elements=b * cin * n)
    return (forward.peak_bytes, train_cost(forward, b * cin * n).peak_bytes,
            forward.peak_allowance_bytes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--odd", action="store_true",
                       help="channel counts that are not multiples of 16")
    which.add_argument("--conv2d", action="store_true",
                       help="a 1x1 nn.Conv2d on h x w maps")
    which.add_argument("--scan", action="store_true",
                       help="every multiple of 16 up to 1,024 input and output channels")
    which.add_argument("--positions", action="store_true",
                       help="positions and map heights the kernel's register block does not "
                            "divide")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 2], metavar="B",
                        help="the default grid's batches (1 2): from 3 on, the forward can hold "
                             "oneDNN's output of the whole batch beside torch's")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch's threads: at more than one torch runs float32 1x1 "
                             "convolutions on oneDNN, whose split of the weight gradient over "
                             "the threads the model follows (onednn_f32_weight_scratchpad)")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: expected 1 or more")
    if min(args.batch) < 1:
        parser.error(f"--batch {min(args.batch)}: expected 1 or more")
    torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]
    maps = CONV2D if args.conv2d else POSITIONS if args.positions else ()
    print(f"| b, c_in → c_out, {'h × w' if maps else 'N'} | kernel | forward: measured | "
          "model − measured | train step: measured | model − measured |")
    print("|---|---|---|---|---|---|")
    shapes = ([(b, cin, cout, h * w, (h, w) if h > 1 else None) for b, cin, cout, (h, w) in maps]
              or [(*shape, None) for shape in
                  (ODD if args.odd else SCAN if args.scan else grid(tuple(args.batch)))])
    off: list[tuple[int, int]] = []
    allowed: list[int] = []
    for b, cin, cout, n, sides in shapes:
        kernel, forward, train = peaks(b, cin, cout, n, dtype, sides)
        f_model, t_model, allowance = model(b, cin, cout, n, dtype.itemsize, kernel, sides)
        off.append((f_model - forward, t_model - train))
        allowed.append(allowance)
        where = f"{sides[0]} × {sides[1]}" if sides else n
        print(f"| {b}, {cin} → {cout}, {where} | {kernel or 'ATen'} | {forward:,} B | "
              f"{f_model - forward:+,} B | {train:,} B | {t_model - train:+,} B |", flush=True)
    for i, step in enumerate(("forward", "train step")):
        print(f"\n{step}: the model is the measured peak to the byte at "
              f"{sum(o[i] == 0 for o in off)} of {len(off)} shapes; model − measured from "
              f"{min(o[i] for o in off):+,} B to {max(o[i] for o in off):+,} B")
        if any(allowed):  # a model that holds the least and declares the rest
            held = sum(within_allowance(-o[i], a) for o, a in zip(off, allowed, strict=True))
            print(f"{step}: measured peak within the model's allowance (model ≤ measured ≤ "
                  f"model + allowance, {min(allowed):,}-{max(allowed):,} B) at {held} of "
                  f"{len(off)} shapes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
