"""Agreement of a2bench's CPU median with torch.utils.benchmark's blocked_autorange.

    .venv/bin/python benchmarks/agreement.py [--threads N] [--min-run-time S]

Same module, same input, same thread count, same process: only the sampling policy differs.
The two are interleaved over several rounds and each reports the median of its round medians, so
drift of the machine during the comparison falls on both.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch.utils.benchmark import Timer

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.measure.timing import time_cpu

CASES = [
    Case("double_attention", "cpu", "float32", 1, 64, 1, 32, 32, m=16, n=16),
    Case("nonlocal_right", "cpu", "float32", 1, 64, 1, 32, 32, m=16, n=16),
    Case("double_attention", "cpu", "float32", 1, 64, 1, 64, 64, m=16, n=16),
    Case("nonlocal_right", "cpu", "float32", 1, 64, 1, 48, 48, m=16, n=16),
    Case("se", "cpu", "float32", 1, 256, 1, 56, 56, reduction=16),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    worst = 0.0
    for case in CASES:
        module, x = build(case)
        timer = Timer("m(x)", globals={"m": module, "x": x}, num_threads=args.threads)
        ours_runs, ref_runs = [], []
        with torch.no_grad():
            for _ in range(args.rounds):
                ours_runs.append(time_cpu(lambda m=module, x=x: m(x), args.threads).median_s)
                ref_runs.append(timer.blocked_autorange(min_run_time=args.min_run_time).median)
        ours, ref = float(np.median(ours_runs)), float(np.median(ref_runs))
        diff = ours / ref - 1
        worst = max(worst, abs(diff))
        print(f"{case.label():45s} a2bench {ours * 1e3:9.4f} ms  blocked_autorange "
              f"{ref * 1e3:9.4f} ms  diff {diff:+.1%}")
    print(f"largest difference {worst:.1%} at {args.threads} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
