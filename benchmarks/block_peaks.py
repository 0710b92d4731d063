"""A block's measured peak against its memory model over a grid of shapes, forward and train.

    .venv/bin/python benchmarks/block_peaks.py criss_cross --dtype bfloat16 --batch 1 2 \
        --channels 16 64 128 --sides 8 14 15 32 48 --param recurrence=1,2

Each case is built and stepped as a run does (a2bench.measure.step, one thread unless
--threads says otherwise, after a warm-up call: a2bench.measure.memory.warm_peak_cpu, a run's
CPU memory probe); the model is the one its record would get (the kernel the block reports,
BlockSpec.backend). Prints one Markdown row per case, then per mode how many cases are their
model to the byte and the largest miss. docs/blocks.md quotes criss-cross's bf16 grid from the
command above.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import blocks, cost_of
from a2bench.cost import within_allowance
from a2bench.measure.dtypes import DTYPES
from a2bench.measure.memory import warm_peak_cpu
from a2bench.measure.step import make_step


def measured(case: Case) -> tuple[str, int]:
    """The kernel the block reports and the tensor peak of one call (forward or train step)."""
    module, x = build(case)
    return blocks()[case.block].backend(module, x), warm_peak_cpu(make_step(module, x, case.mode))


def map_size(text: str) -> tuple[int, int]:
    """A square map's side ("48"), or h x w ("2x64") for one that is not square."""
    h, _, w = text.partition("x")
    if not (h.isdigit() and (w.isdigit() or not w)) or int(h) < 1 or (w and int(w) < 1):
        raise argparse.ArgumentTypeError(f"expected a side or HxW, got {text!r}")
    return int(h), int(w or h)


def parameter(text: str) -> tuple[str, list[int | str]]:
    name, _, values = text.partition("=")
    if not name or not values:
        raise argparse.ArgumentTypeError(f"expected NAME=V1,V2,..., got {text!r}")
    return name, [int(v) if v.isdigit() else v for v in values.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("block", choices=sorted(blocks()))
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--channels", type=int, nargs="+", default=[64])
    parser.add_argument("--sides", type=map_size, nargs="+", default=[(12, 12), (24, 24),
                                                                      (48, 48)],
                        help="maps: a side (h = w), or HxW (2x64) for one that is not square")
    parser.add_argument("--param", type=parameter, action="append", default=[],
                        help="a block parameter's values, NAME=V1,V2,...")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch's threads (the models hold one: at more, torch runs float32 "
                             "1x1 convolutions on oneDNN, whose copies they lack)")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: expected 1 or more")
    torch.set_num_threads(args.threads)
    names = [name for name, _ in args.param]
    print("| b | c | side | " + "".join(f"{n} | " for n in names)
          + "mode | kernel | measured | model | measured − model |")
    print("|---" * (8 + len(names)) + "|")
    misses: dict[str, list[int]] = {"forward": [], "train": []}
    allowed: dict[str, list[int]] = {"forward": [], "train": []}  # the models' allowances
    spec = blocks()[args.block]
    for b, c, (h, w), *values in itertools.product(args.batch, args.channels, args.sides,
                                                   *(v for _, v in args.param)):
        side = str(h) if h == w else f"{h}x{w}"
        shape = {"batch": b, "channels": c, "t": 1, "h": h, "w": w}
        params = spec.resolve({**shape, **dict(zip(names, values, strict=True))})
        for mode in ("forward", "train"):
            # a grid point the block refuses (in train mode alone, for resnet50's BatchNorm)
            if problems := spec.problems({**shape, **params, "mode": mode}):
                print(f"skipped {args.block} {mode} at b {b}, c {c}, side {side}, {params}: "
                      + "; ".join(f"{name}: {why}" for name, why in problems), file=sys.stderr)
                continue
            case = Case(args.block, "cpu", args.dtype, b, c, 1, h, w, mode=mode, params=params)
            kernel, peak = measured(case)
            cost = cost_of(case, kernel)
            model = cost.peak_bytes
            misses[mode].append(peak - model)
            allowed[mode].append(cost.peak_allowance_bytes)
            print(f"| {b} | {c} | {side} | " + "".join(f"{v} | " for v in values)
                  + f"{mode} | {kernel or '-'} | {peak:,} B | {model:,} B | "
                  f"{peak - model:+,} B ({(peak - model) / model:+.2%}) |", flush=True)
    if not any(misses.values()):
        parser.exit(2, f"{parser.prog}: no case of the grid is valid for {args.block}\n")
    for mode, off in misses.items():
        if not off:  # every train case refused (resnet50 at batch 1 on small maps)
            continue
        print(f"\n{mode}: {sum(d == 0 for d in off)} of {len(off)} cases on their model to the "
              f"byte; measured − model from {min(off):+,} B to {max(off):+,} B")
        if any(allowed[mode]):  # oneDNN's AMX kernels: a model of the least, and an allowance
            held = sum(within_allowance(d, a) for d, a in zip(off, allowed[mode], strict=True))
            print(f"{mode}: {held} of {len(off)} cases within the model's allowance "
                  "(model ≤ measured ≤ model + allowance)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
