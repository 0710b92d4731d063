#!/usr/bin/env python3
"""Real-run evidence for the timing gate of `a2bench compare`.

Runs the gate suite RUNS times on the current checkout and compares run 1 with each later run
(same code: every flag is a false alarm), then two real slowdowns against run 1:
- one thread instead of two (a ~1.5-2x slowdown of the attention blocks; --normalize divides
  most of it out, because the reference kernel also loses the thread, so it is judged raw);
- a simulated 1.5x code regression (scripts/slowdown_plugin.py), which --normalize must keep.
Every comparison is made raw and with --normalize; the reports go to OUT/compare-*.txt.

Run it on a quiet machine: other load makes the timings, and so the evidence, meaningless.
  .venv/bin/python scripts/gate_evidence.py                 # 6 runs, about 5 minutes on 2 cores
  .venv/bin/python scripts/gate_evidence.py --runs 2 --no-slowdowns   # a quick check of the script
Exit status 0 when the targets hold (no false alarm; both slowdowns caught), else 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from a2bench.compare import Comparison, compare, format_report  # noqa: E402


@dataclass(frozen=True)
class Row:
    name: str
    mode: str
    expect_flag: bool | None  # None: reported, not a target
    comparison: Comparison

    @property
    def flagged(self) -> bool:
        return self.comparison.exit_code == 1

    def line(self) -> str:
        timed = [r.timing for r in self.comparison.cases if r.timing is not None]
        ratios = sorted(t.ratio for t in timed) or [float("nan")]
        slower = sum(1 for r in self.comparison.cases if r.verdict == "SLOWER")
        lows = max((t.ci_low for t in timed), default=float("nan"))
        want = {True: "flag", False: "pass", None: "(info)"}[self.expect_flag]
        ok = "" if self.expect_flag is None else ("  ok" if self.flagged == self.expect_flag
                                                  else "  MISSED TARGET")
        return (f"{self.name:<22} {self.mode:<10} {'FLAG' if self.flagged else 'pass':<5} "
                f"want {want:<7} slower cases {slower}/{len(timed)}  ratios "
                f"{ratios[0]:.2f}..{ratios[-1]:.2f}  max CI low {lows:.2f}{ok}")


def run_suite(a2bench: str, suite: str, out: Path, threads: int,
              env: dict[str, str] | None = None) -> None:
    start = time.perf_counter()
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run([a2bench, "run", suite, "--out", str(out), "--threads", str(threads),
                        "--no-progress"], check=True, stdout=log, stderr=subprocess.STDOUT,
                       env={**os.environ, **(env or {})}, cwd=ROOT)
    print(f"  ran {out.name} ({threads} threads) in {time.perf_counter() - start:.0f} s",
          flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=6, help="runs of the same commit (default 6)")
    p.add_argument("--suite", default="suites/gate.yaml")
    p.add_argument("--threads", type=int, default=2, help="threads of the same-commit runs")
    p.add_argument("--threshold", type=float, default=10.0)
    p.add_argument("--slowdown", type=float, default=1.5, help="factor of the simulated regression")
    p.add_argument("--no-slowdowns", action="store_true", help="only the same-commit reruns")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    p.add_argument("--out", type=Path, default=ROOT / "results/local" / f"gate-evidence-{stamp}")
    args = p.parse_args()
    a2bench = str(Path(sys.executable).parent / "a2bench")
    args.out.mkdir(parents=True, exist_ok=False)
    print(f"gate evidence: {args.runs} runs of {args.suite} in {args.out}", flush=True)

    runs = [args.out / f"run{i}" for i in range(1, args.runs + 1)]
    for r in runs:
        run_suite(a2bench, args.suite, r, args.threads)
    # name, folder, whether a flag is expected: (raw, --normalize); None reports without a target
    slow: list[tuple[str, Path, tuple[bool, bool | None]]] = []
    if not args.no_slowdowns:
        one = args.out / "threads1"
        run_suite(a2bench, args.suite, one, 1)
        code = args.out / f"slowdown{args.slowdown:g}"
        run_suite(a2bench, args.suite, code, args.threads,
                  env={"A2BENCH_PLUGINS": "slowdown_plugin", "A2BENCH_SLOWDOWN": str(args.slowdown),
                       "PYTHONPATH": os.pathsep.join(filter(None, [
                           str(ROOT / "scripts"), os.environ.get("PYTHONPATH")]))})
        slow = [("1 thread vs 2", one, (True, None)),
                (f"code {args.slowdown:g}x slower", code, (True, True))]

    rows: list[Row] = []
    for normalize in (False, True):
        mode = "normalize" if normalize else "raw"
        pairs = [(f"same commit run{i + 2}", r, False) for i, r in enumerate(runs[1:])]
        pairs += [(n, d, expect[normalize]) for n, d, expect in slow]
        for name, head, expect in pairs:
            c = compare(runs[0], head, args.threshold, normalize)
            (args.out / f"compare-{head.name}-{mode}.txt").write_text(format_report(c) + "\n")
            rows.append(Row(name, mode, expect, c))

    print(f"\nthreshold {args.threshold:g}%; base = run1 ({args.threads} threads)")
    for row in rows:
        print(row.line())
    same = [r for r in rows if r.name.startswith("same commit")]
    false_alarms = {m: sum(r.flagged for r in same if r.mode == m) for m in ("raw", "normalize")}
    print(f"\nfalse alarms over {len(same) // 2} reruns: raw {false_alarms['raw']}, "
          f"normalize {false_alarms['normalize']}")
    missed = [r for r in rows if r.expect_flag is not None and r.flagged != r.expect_flag]
    print("targets met" if not missed else f"targets missed: {len(missed)}")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
