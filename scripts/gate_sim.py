"""Monte Carlo of `a2bench compare`'s timing decision, through the package's own functions
(compare_timing, suite_timing, judge_timings): the false-FAIL rate at true shifts at or below
the threshold and the detection rate above it, for 1, 9 and 30 cases.

Noise model per case and pass: log latency = shift + process effect (shared by all cases of a
pass, sd PROC) + case-in-pass effect (sd CASE_PASS); within the pass, N lognormal samples of
sd WITHIN. Every case carries the same true shift (the hardest null for a family).
Usage: python gate_sim.py [reps] [passes] [proc_sd] [case_pass_sd] [within_sd]
(SIM_CASES=1,9,30 and SIM_SHIFTS=1.00,1.05,1.10,1.15 in the environment choose the grid)
"""
import os
import sys
import time

import numpy as np

from a2bench import compare as cmp
from a2bench.case import Case
from a2bench.compare.model import CaseResult
from a2bench.measurement import Measurement

REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
PASSES = int(sys.argv[2]) if len(sys.argv) > 2 else 5
PROC = float(sys.argv[3]) if len(sys.argv) > 3 else 0.04
CASE_PASS = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
WITHIN = float(sys.argv[5]) if len(sys.argv) > 5 else 0.07
N = 10
THRESHOLD_PCT = 10.0
SHIFTS = tuple(float(x) for x in os.environ.get("SIM_SHIFTS", "1.00,1.05,1.10,1.15").split(","))
CASE_COUNTS = tuple(int(x) for x in os.environ.get("SIM_CASES", "1,9,30").split(","))

CASES = [Case("double_attention", "cpu", "float32", 1, 64, 1, 8 + i, 8, m=16, n=16)
         for i in range(max(CASE_COUNTS))]


def side(rng, cases, shift):
    proc = rng.normal(0, PROC, PASSES)  # one process's state, shared by its cases
    out = []
    for c in cases:
        recs = []
        for p in range(PASSES):
            centre = np.log(shift) + proc[p] + rng.normal(0, CASE_PASS)
            s = np.exp(centre + rng.normal(0, WITHIN, N)) * 1e-3
            recs.append(Measurement(c, "ok", samples_s=tuple(s.tolist()), process=p))
        out.append(recs)
    return out


def one(rng, k, shift):
    cases = CASES[:k]
    base, head = side(rng, cases, 1.0), side(rng, cases, shift)
    tested = []
    for c, b, h in zip(cases, base, head, strict=True):
        r = CaseResult(c.key(), c.label(), b[0], h[0], verdict="not timed")
        r.timing = cmp.compare_timing(b, h, False, cmp.case_seed(c.key()))
        tested.append(r)
    suite = cmp.suite_timing([r.timing for r in tested])
    cmp.judge_timings(tested, suite, THRESHOLD_PCT)
    case_fail = any(r.failures for r in tested)
    suite_fail = bool(suite.failures)
    return case_fail or suite_fail, case_fail, suite_fail


def main():
    t0 = time.time()
    print(f"reps {REPS}, passes {PASSES}/side, process sd {PROC}, case-in-pass sd {CASE_PASS}, "
          f"within sd {WITHIN}, {N} samples/pass, threshold {THRESHOLD_PCT:g}%")
    print("cases  shift   FAIL rate (any)  [case rows, suite row]")
    full = cmp.timing.pass_indices.__defaults__
    for k in CASE_COUNTS:
        # Shortcut, not a change of rule: where no case can enter the Holm family (holm_family,
        # from the pass counts alone) the case bootstraps decide nothing, so they run with 100
        # resamples; the suite row's Welch t uses the pass medians, not the bootstrap.
        probe = cmp.Timing(1, 1, 1, 1, 1, 1, 1, 1, False, PASSES, PASSES, pass_level=True)
        out = not any(cmp.holm_family([probe] * k))
        cmp.timing.pass_indices.__defaults__ = (100,) if out else full
        for shift in SHIFTS:
            rng = np.random.default_rng(1000 * k + int(round(shift * 100)))
            res = np.array([one(rng, k, shift) for _ in range(REPS)])
            rate = res.mean(axis=0)
            se = np.sqrt(rate[0] * (1 - rate[0]) / REPS)
            print(f"{k:5d}  {shift:.2f}   {rate[0]:6.3f} +- {se:.3f}   "
                  f"[{rate[1]:.3f}, {rate[2]:.3f}]", flush=True)
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
