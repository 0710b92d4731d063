"""How much glibc's mmap threshold costs a block per call: SE at c = 256 on maps around it.

    .venv/bin/python scripts/alloc_probe.py

Each setting runs in a fresh process, because glibc reads its thresholds when the process
starts: once with glibc's defaults, once with the settings `a2bench run --malloc-reuse` gives
its worker. Past 32 MiB per tensor the default process maps fresh memory on every call and
pays its page faults; the other keeps freed memory. Prints the median ms per call at each N.
"""

from __future__ import annotations

import os
import subprocess
import sys

from a2bench.run.sweep import MALLOC_REUSE_ENV

SIDES = (181, 216, 256)  # N = 32761 (a 32 MiB tensor at c = 256 is N = 32768), 46656, 65536

CHILD = """
import torch
from torch.utils.benchmark import Timer
from a2bench.blocks import build
from a2bench.case import Case
torch.set_num_threads(1)
for side in {sides}:
    module, x = build(Case("se", "cpu", "float32", 1, 256, 1, side, side, reduction=16))
    with torch.no_grad():
        t = Timer("m(x)", globals={{"m": module, "x": x}}).blocked_autorange(min_run_time=1)
    print(f"  N = {{side * side:6d}}: {{t.median * 1e3:7.2f}} ms")
"""


def main() -> int:
    for name, extra in (("glibc defaults", {}), ("--malloc-reuse", MALLOC_REUSE_ENV)):
        print(name, flush=True)
        env = {**os.environ, **extra}
        subprocess.run([sys.executable, "-c", CHILD.format(sides=SIDES)], env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
