#!/usr/bin/env python3
"""Real-run evidence for the timing gate of `a2bench compare`.

Runs the gate suite RUNS times on the current checkout, each run with PASSES passes (every pass
in a fresh worker process, as the CI gate runs it), and compares run 1 with each later run (same
code: every flag is a false alarm), then two real slowdowns against run 1:
- one thread instead of two (a ~1.5-2x slowdown of the attention blocks; --normalize divides
  most of it out, because the reference kernel also loses the thread, so it is judged raw);
- a simulated 1.5x code regression (scripts/slowdown_plugin.py), which --normalize must keep.
The passes are interleaved: round i runs pass i of every run, so the two sides of every comparison
share the same stretches of time, as scripts/ci_gate.sh interleaves base and head. On a shared
2-core machine a state lasting tens of seconds (measured: single cases 1.3-1.4x slower for a whole
40 s run) otherwise falls on one side only; --sequential runs each run back to back to show that.
Every comparison is made raw and with --normalize; the reports go to OUT/compare-*.txt, and each
run's pass medians (the replicates the gate compares) to OUT/pass-medians.txt.

Run it on a quiet machine: other load makes the timings, and so the evidence, meaningless.
  .venv/bin/python scripts/gate_evidence.py        # 8 runs of 5 passes, about 12 minutes on 2 cores
  .venv/bin/python scripts/gate_evidence.py --runs 2 --processes 3 --no-slowdowns  # a quick check
Exit status 0 when the targets hold (no false alarm; both slowdowns caught), else 1.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from a2bench.compare import Comparison, compare, format_report  # noqa: E402
from a2bench.run.store import load_passes  # noqa: E402


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
        ratios = sorted(t.ratio for t in timed) or [math.nan]
        slower = sum(1 for r in self.comparison.cases if r.verdict == "SLOWER")
        s = self.comparison.suite
        suite = (f"suite {s.ratio:.2f} (CI {s.ci_low:.2f}-{s.ci_high:.2f}, p "
                 + (f"{s.p_adjusted:.2g}" if s.p_adjusted is not None else "-")
                 + f") {s.verdict}") if s else "suite -"
        want = {True: "flag", False: "pass", None: "(info)"}[self.expect_flag]
        ok = "" if self.expect_flag is None else ("  ok" if self.flagged == self.expect_flag
                                                  else "  MISSED TARGET")
        return (f"{self.name:<22} {self.mode:<10} {'FLAG' if self.flagged else 'pass':<5} "
                f"want {want:<7} slower cases {slower}/{len(timed)}  case ratios "
                f"{ratios[0]:.2f}..{ratios[-1]:.2f}  {suite}{ok}")


def run_suite(suite: str, out: Path, threads: int, processes: int, time_budget: float,
              env: dict[str, str] | None = None, resume: bool = False) -> None:
    """Run the suite into `out` up to `processes` passes (with resume: only the missing ones)."""
    start = time.perf_counter()
    # this checkout's a2bench, not the venv's console script: from a worktree sharing the venv
    # that had run the installed package's code
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full.get("PYTHONPATH")]))
    with open(out.with_suffix(".log"), "a") as log:
        subprocess.run([sys.executable, "-m", "a2bench.cli", "run", suite, "--out", str(out),
                        "--threads", str(threads), "--processes", str(processes),
                        "--time-budget", str(time_budget), "--no-progress",
                        *(["--resume"] if resume else [])], check=True,
                       stdout=log, stderr=subprocess.STDOUT, env=full, cwd=ROOT)
    what = f"pass {processes}" if resume or processes == 1 else f"{processes} passes"
    print(f"  ran {out.name} ({threads} threads, {what}) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)


def pass_medians(runs: list[Path]) -> str:
    """Each run's median latency per case and pass, in ms: what the gate compares."""
    lines = []
    for run in runs:
        by_case: dict[str, dict[int, float]] = {}
        for m in load_passes(run):
            if m.samples_s:
                by_case.setdefault(m.case.label(), {})[m.process] = float(
                    np.median(m.samples_s)) * 1e3
        lines.append(f"{run.name}:")
        for label, passes in by_case.items():
            lines.append(f"  {label:<40} " + " ".join(f"{passes[p]:8.4g}" for p in sorted(passes)))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=6, help="runs of the same commit (default 6)")
    p.add_argument("--suite", default="suites/gate.yaml")
    p.add_argument("--threads", type=int, default=2, help="threads of the same-commit runs")
    p.add_argument("--processes", type=int, default=5,
                   help="passes per run, each in a fresh worker process (default 5, as in CI)")
    p.add_argument("--time-budget", type=float, default=0.3,
                   help="timed sampling per case and pass, seconds (default 0.3, as in CI)")
    p.add_argument("--threshold", type=float, default=10.0)
    p.add_argument("--slowdown", type=float, default=1.5, help="factor of the simulated regression")
    p.add_argument("--no-slowdowns", action="store_true", help="only the same-commit reruns")
    p.add_argument("--sequential", action="store_true",
                   help="run each run's passes back to back instead of interleaving the runs' "
                        "passes round by round (the CI gate interleaves base and head)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    p.add_argument("--out", type=Path, default=ROOT / "results/local" / f"gate-evidence-{stamp}")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=False)
    how = "one run after another" if args.sequential else "passes of all runs interleaved"
    print(f"gate evidence: {args.runs} runs of {args.suite} x {args.processes} passes "
          f"(--time-budget {args.time_budget:g}, {how}) in {args.out}", flush=True)

    runs = [args.out / f"run{i}" for i in range(1, args.runs + 1)]
    # what to run: folder, threads, extra environment
    specs: list[tuple[Path, int, dict[str, str] | None]] = [(r, args.threads, None) for r in runs]
    # name, folder, whether a flag is expected: (raw, --normalize); None reports without a target
    slow: list[tuple[str, Path, tuple[bool, bool | None]]] = []
    if not args.no_slowdowns:
        one = args.out / "threads1"
        code = args.out / f"slowdown{args.slowdown:g}"
        specs += [(one, 1, None), (code, args.threads, {
            "A2BENCH_PLUGINS": "slowdown_plugin", "A2BENCH_SLOWDOWN": str(args.slowdown),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts"),
                                                        os.environ.get("PYTHONPATH")]))})]
        slow = [("1 thread vs 2", one, (True, None)),
                (f"code {args.slowdown:g}x slower", code, (True, True))]
    if args.sequential:
        for folder, threads, env in specs:
            run_suite(args.suite, folder, threads, args.processes, args.time_budget, env)
    else:
        # Round i runs pass i of every run, starting one run later each round, so that every
        # comparison's two sides share the same stretches of time, as scripts/ci_gate.sh does.
        for i in range(args.processes):
            print(f" round {i + 1}/{args.processes}", flush=True)
            for folder, threads, env in specs[i % len(specs):] + specs[:i % len(specs)]:
                run_suite(args.suite, folder, threads, i + 1, args.time_budget, env, resume=i > 0)

    rows: list[Row] = []
    for normalize in (False, True):
        mode = "normalize" if normalize else "raw"
        pairs = [(f"same commit run{i + 2}", r, False) for i, r in enumerate(runs[1:])]
        pairs += [(n, d, expect[normalize]) for n, d, expect in slow]
        for name, head, expect in pairs:
            c = compare(runs[0], head, args.threshold, normalize)
            (args.out / f"compare-{head.name}-{mode}.txt").write_text(format_report(c) + "\n")
            rows.append(Row(name, mode, expect, c))

    medians = pass_medians(runs + [d for _, d, _ in slow])
    (args.out / "pass-medians.txt").write_text(medians + "\n")
    print(f"\npass medians (ms), also in {args.out / 'pass-medians.txt'}:\n{medians}")
    print(f"\nthreshold {args.threshold:g}%; base = run1 ({args.threads} threads, "
          f"{args.processes} passes)")
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
