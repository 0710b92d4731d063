"""How a pass's latency summary biases the fitted exponent, through a2bench's own fit.

Synthetic latency windows (8 sizes over 11.3x, true exponent 1, no overhead) whose passes hold
fewer samples at the slow sizes, as a time budget leaves them (20, 20, 20, 15, 10, 6, 4, 3),
under four kinds of one-sided noise; each fitted by fitting.summarise and fitting.exponent (Huber
weights, the wider of the t and bootstrap intervals) once with the pass summarised by its 10th
percentile and its standard error read there (the method until 2026-12-06) and once as the fit
reads it now (fitting.summary_of, the expected fastest of 3, its error at the 25th). Prints
the exponent's bias and spread and the 95 % interval's coverage of the truth.

    .venv/bin/python benchmarks/estimator_bias.py [DATASETS] [RESAMPLES]

docs/reports.md ("Per size") quotes its output at 1000 datasets and 500 resamples.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from multiprocessing import Pool

import numpy as np

from a2bench.argtypes import positive_int

X = 1024 * 2.0 ** (np.arange(8) * 0.5)
COUNTS = (20, 20, 20, 15, 10, 6, 4, 3)  # samples a pass, fast sizes to slow
PASSES = 3
PASS_SD = 0.01  # a pass's own level, process to process (log)
NOISE = ("lognormal 3%", "lognormal 10%", "skewed with stalls", "waves of 30%")


def tenth_percentile(samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """The summary until 2026-12-06: the 10th percentile as an order statistic."""
    return np.quantile(samples, 0.10, axis=axis, method="lower")


@functools.cache
def summaries() -> dict[str, tuple[Callable, Callable]]:
    """Each summary with the quantile its sizes' standard errors were read at, as fitting.summarise
    takes them. Loaded only once the arguments are read: a refused count had paid fitting's
    imports (scipy, 1.2 s of CPU) first."""
    from a2bench import fitting as ft

    se_at = ft.log_se_of_quantile
    return {"10th percentile": (tenth_percentile, functools.partial(se_at, q=0.10)),
            "fastest of 3": (ft.summary_of, se_at)}


def noise(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Log noise of n samples: other work only adds time."""
    if kind == "lognormal 3%":
        return rng.normal(0, 0.03, n)
    if kind == "lognormal 10%":
        return rng.normal(0, 0.10, n)
    e = rng.normal(0, 0.02, n)
    if kind == "skewed with stalls":  # as the stored CPU runs' samples sit about their lows
        e += (rng.random(n) < 0.15) * rng.exponential(0.10, n)
        e += (rng.random(n) < 0.02) * rng.uniform(0.3, 1.0, n)
    else:  # 30 % of samples in a slow spell, 10-50 % slower
        e += (rng.random(n) < 0.30) * np.log1p(rng.uniform(0.1, 0.5, n))
    return e


def scenario(args: tuple[str, int, int]) -> tuple[str, dict[str, np.ndarray]]:
    from a2bench import fitting as ft

    kind, datasets, resamples = args
    summary_by_name = summaries()
    rng = np.random.default_rng(NOISE.index(kind) + 1)
    out: dict[str, list[tuple[float, float, float]]] = {name: [] for name in summary_by_name}
    truth = 1e-3 * X / X[0]
    for _ in range(datasets):
        samples = [[t * np.exp(rng.normal(0, PASS_SD) + noise(kind, rng, n))
                    for _ in range(PASSES)] for t, n in zip(truth, COUNTS, strict=True)]
        for name, (summary, se) in summary_by_name.items():
            # the Sizes carry the summary, so the bootstrap resamples each pass with it too
            sizes = ft.summarise(X, truth, samples, summary=summary, log_se=se)
            e = ft.exponent(sizes, 0.0, resamples=resamples)
            out[name].append((e.k, *e.ci95))
    return kind, {name: np.array(v) for name, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="?", type=positive_int, default=1000)
    parser.add_argument("resamples", nargs="?", type=positive_int, default=500)
    args = parser.parse_args()
    datasets, resamples = args.datasets, args.resamples
    started = time.time()
    summaries()  # here, so the forked workers inherit fitting's imports
    with Pool(2) as pool:
        results = pool.map(scenario, [(k, datasets, resamples) for k in NOISE])
    print(f"{datasets} datasets a noise, {resamples} resamples, true exponent 1 "
          f"({time.time() - started:.0f} s)")
    print("| noise | summary | bias of k | sd of k | 95 % interval covers 1 | its width |")
    print("|---|---|---|---|---|---|")
    for kind, res in results:
        for name, a in res.items():
            covered = np.mean((a[:, 1] <= 1.0) & (a[:, 2] >= 1.0))
            print(f"| {kind} | {name} | {a[:, 0].mean() - 1:+.4f} | {a[:, 0].std():.4f} | "
                  f"{covered:.3f} | {np.mean(a[:, 2] - a[:, 1]):.4f} |")


if __name__ == "__main__":
    main()
