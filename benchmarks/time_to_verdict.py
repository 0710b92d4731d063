"""Time to a verdict: how long a plain `a2bench run` takes to a decisive latency verdict.

    .venv/bin/python benchmarks/time_to_verdict.py [SUITE ...] [--repeats R] [--keep DIR]
        [-- RUN FLAGS]

For each suite and repeat: the whole command's wall time (start-up, calibration, planning and
every pass), the harness overhead (wall ÷ time inside timed regions), and each block's latency
exponent along positions with its 95 % half-width and verdict, read by the same analysis the
report uses. Prints one Markdown row per run, ready for docs/results.md. `--keep DIR` keeps
each run's folder as DIR/run-<n> (results/cpu-default-plain holds three so kept), so that a
figure quoted from the table can be checked against the run it came from.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from a2bench import analysis as an
from a2bench.run.store import load_passes


def one_run(suite: str, flags: list[str], keep: Path | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp) / "run"
        cmd = [sys.executable, "-m", "a2bench.cli", "run", suite, "--out", str(out),
               "--no-progress", *flags]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        timed = sum(m.timed_s or 0.0 for m in load_passes(out))
        answer = an.verdicts(out)
    run = next(iter(answer["runs"].values()))
    latency = [f for f in run["fits"] if f["metric"] == "latency"]
    return {"wall": wall, "overhead": wall / timed if timed else float("nan"),
            "verdict": run["verdict"], "latency": latency}


def latency_cells(fits: list[dict[str, object]]) -> str:
    """Each block's latency exponent, its 95 % half-width and verdict; a block whose window
    gave no fit (too few sizes: the smoke suite's two) says so, where its None had raised a
    TypeError after the run."""
    def cell(f: dict[str, object]) -> str:
        k, lo, hi = f["exponent"], f["ci_low"], f["ci_high"]
        if k is None:
            return f"{f['block']} not fitted ({f['verdict']})"
        width = "" if lo is None or hi is None else f" ±{(hi - lo) / 2:.2f}"  # type: ignore
        return f"{f['block']} {k:.2f}{width} ({f['verdict']})"

    return "; ".join(cell(f) for f in fits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", default=["suites/default.yaml"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep each run as DIR/run-<n> (one suite only)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)  # after --: a2bench run's flags
    args, flags = parser.parse_args(argv[:cut]), argv[cut + 1:]
    print("| suite | run | wall (s) | harness overhead | headline | latency exponents "
          "(95 % half-width, verdict) |")
    print("|---|---|---|---|---|---|")
    if args.keep and len(args.suites) > 1:
        parser.error("--keep: expected one suite (its runs are DIR/run-1 ...)")
    for suite in args.suites:
        for r in range(args.repeats):
            keep = args.keep / f"run-{r + 1}" if args.keep else None
            if keep is not None and keep.exists():
                parser.error(f"--keep: {keep} exists; expected a new folder")
            res = one_run(suite, flags, keep)
            cells = latency_cells(res["latency"])  # type: ignore[arg-type]
            print(f"| {suite} | {r + 1} | {res['wall']:.0f} | {res['overhead']:.2f}x | "
                  f"{res['verdict']} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
