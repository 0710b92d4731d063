"""Harness overhead of a sweep: whole-command wall time / time spent inside timed regions.

    .venv/bin/python benchmarks/harness_overhead.py [SUITE] [--threads N]

Everything a user waits for counts as wall time: interpreter and worker start-up, calibration,
counters, warm-up, memory passes. Timed regions are the blocks torch.utils.benchmark timed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from a2bench.run.store import load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", default="suites/default.yaml")
    parser.add_argument("--threads", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "a2bench.cli", "run", args.suite, "--out", str(out),
               "--no-progress"]
        if args.threads:
            cmd += ["--threads", args.threads]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        records = load(out)
    timed = sum(m.timed_s or 0.0 for m in records)
    print(f"suite {args.suite}: {len(records)} cases, wall {wall:.1f} s, "
          f"timed {timed:.1f} s, harness overhead {wall / timed:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
