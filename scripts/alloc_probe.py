"""How much glibc's mmap threshold costs a block per call, on maps on either side of it.

    .venv/bin/python scripts/alloc_probe.py [se|nonlocal]

`se` (the default): SE at c = 256 on maps around 32 MiB per tensor. `nonlocal`: the
embedded-Gaussian non-local block of suites/auto-others.yaml (c = 96, inner 48, eager), whose
N x N affinity passes 32 MiB at N = 2896, on maps of its auto-sized windows (docs/running.md).

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

# (block, channels, parameters, sides)
PROBES = {
    # N = 32761 (a 32 MiB tensor at c = 256 is N = 32768), 46656, 65536
    "se": ("se", 256, {"reduction": 16}, (181, 216, 256)),
    "nonlocal": ("nonlocal", 96, {"impl": "eager", "inner": 48, "subsample": 1}, (55, 77, 99)),
}

CHILD = """
import torch
from torch.utils.benchmark import Timer
from a2bench.blocks import build
from a2bench.case import Case
torch.set_num_threads(1)
for side in {sides}:
    module, x = build(Case({block!r}, "cpu", "float32", 1, {channels}, 1, side, side, {params!r}))
    with torch.no_grad():
        t = Timer("m(x)", globals={{"m": module, "x": x}}).blocked_autorange(min_run_time=1)
    print(f"  N = {{side * side:6d}}: {{t.median * 1e3:7.2f}} ms")
"""


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "se"
    if which not in PROBES or len(argv) > 1:
        print(f"alloc_probe: expected one of {', '.join(PROBES)}, got {' '.join(argv)}",
              file=sys.stderr)
        return 2
    block, channels, params, sides = PROBES[which]
    child = CHILD.format(block=block, channels=channels, params=params, sides=sides)
    for name, extra in (("glibc defaults", {}), ("--malloc-reuse", MALLOC_REUSE_ENV)):
        print(name, flush=True)
        env = {**os.environ, **extra}
        subprocess.run([sys.executable, "-c", child], env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
