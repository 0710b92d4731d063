"""How often a latency crossover is read where there is none, and missed where there is one.

Two blocks' latencies along 15 sizes √2 apart (N 64 … 8192), each size timed in passes of 20
one-sided samples, with a pass's own level and, now and then, a pass slowed 10-25 % throughout;
their ratio either 1 everywhere, 1 up to N = 1024 and then growing as N, or (N/512)^k crossing
at 512. Each ratio is read as a2bench reads it: crossover.crossing (where it last passes 1 going
up), then crossover._noise_crossing (not read where it stays within its noise of 1). A false
crossing is one read on a ratio of 1 (or below N = 724 on the one that rises from 1024); a miss
is a true crossing not read, or read more than 1.5x off.

    .venv/bin/python benchmarks/crossover_noise.py [REPEATS]

docs/reports.md ("Crossover") quotes its output at 400 repeats.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from a2bench.argtypes import positive_int

XS = 64 * np.sqrt(2.0) ** np.arange(15)
SAMPLES = 20
# passes, a pass's level (sd of log), a sample's one-sided spread, chance of a slow pass a size
PROFILES = {"GPU-like: 1 pass, 1 %": (1, 0.01, 0.05, 0.05),
            "CPU-like: 3 passes, 2 %": (3, 0.02, 0.15, 0.05),
            "noisy: 3 passes, 4 %": (3, 0.04, 0.15, 0.10),
            "quiet: 1 pass, 0.5 %, no slow passes": (1, 0.005, 0.05, 0.0)}
RATIOS = {"1 throughout": (np.ones_like(XS), None),
          "1 to 1024, then N": (np.maximum(1.0, XS / 1024), None),
          **{f"(N/512)^{k:g}": ((XS / 512) ** k, 512.0) for k in (1, 0.5, 0.25, 0.125)}}


def side(rng: np.random.Generator, truth: np.ndarray,
         profile: tuple[int, float, float, float]) -> tuple[list[float], list[tuple]]:
    """One block's stored latency (the pooled median) and samples by pass, per size."""
    passes, level, spread, slow = profile
    lat, samples = [], []
    for t in truth:
        ps = []
        for _ in range(passes):
            shift = math.exp(rng.normal(0, level))
            if rng.random() < slow / passes:
                shift *= math.exp(rng.uniform(0.10, 0.25))
            ps.append(tuple(t * shift * np.exp(np.abs(rng.normal(0, spread, SAMPLES)))))
        samples.append(tuple(ps))
        lat.append(float(np.median(np.concatenate(ps))))
    return lat, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repeats", nargs="?", type=positive_int, default=400)
    repeats = parser.parse_args().repeats
    # after the arguments: a refused count or --help had paid these imports first (1.7 s of CPU)
    import pandas as pd

    from a2bench import fitting as ft
    from a2bench.analysis.crossover import _noise_crossing, crossing

    rng = np.random.default_rng(1)
    started = time.time()
    x = pd.Series(XS)
    print("| noise | ratio | last pass of 1: wrong | with the noise rule: wrong |")
    print("|---|---|---|---|")
    for pname, profile in PROFILES.items():
        for rname, (ratio, n_star) in RATIOS.items():
            wrong = {"plain": 0, "rule": 0}
            for _ in range(repeats):
                left, ls = map(pd.Series, side(rng, 1e-3 * (XS / 64) ** 0.3, profile))
                right, rs = map(pd.Series, side(rng, 1e-3 * (XS / 64) ** 0.3 * ratio, profile))
                r = right / left
                plain = crossing(x, r)
                for name, c in (("plain", plain),
                                ("rule", _noise_crossing(plain, x, r, [(left, ls),
                                                                       (right, rs)]))):
                    read = c.outcome == "crosses"
                    if n_star is None:  # any crossing read on a ratio of 1 is false
                        wrong[name] += read and (rname == "1 throughout"
                                                 or c.n_star < 1024 / math.sqrt(2))
                    else:
                        wrong[name] += not (read and abs(math.log(c.n_star / n_star))
                                            < math.log(1.5))
            kind = "false crossing" if n_star is None else "missed"
            print(f"| {pname} | {rname} ({kind}) | {wrong['plain'] / repeats:.1%} | "
                  f"{wrong['rule'] / repeats:.1%} |")
    print(f"\n{repeats} repeats a cell, {time.time() - started:.0f} s; a size's noise as "
          f"fitting.summarise reads it (at least {ft.SE_FLOOR:.0%})")


if __name__ == "__main__":
    main()
