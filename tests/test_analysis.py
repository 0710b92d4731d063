"""a2bench.analysis on synthetic results with known exponents, crossovers and ceilings."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from a2bench import analysis as an
from a2bench import fitting as ft
from a2bench.analysis.hints import AUTO_HINT, THREADS_HINT
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.errors import InputError
from a2bench.measurement import Measurement
from a2bench.run.store import ResultsWriter

SIDES = (8, 12, 16, 24, 32, 48, 64, 96)  # N from 64 to 9216
ENV = {"roofline": {"gemm_flops_per_s": 1e11, "bandwidth_bytes_per_s": 2e10}}


def case(block: str, side: int, *, c: int = 64, m: int = 16, n: int = 16, b: int = 1,
         t: int = 1, r: int = 16) -> Case:
    attention = block != "se"
    return Case(block, "cpu", "float32", b, c, t, side, side, m=m if attention else None,
                n=n if attention else None, reduction=None if attention else r)


def measured(c: Case, *, latency: float | None = None, peak: int | None = None,
             status: str = "ok", seconds_per_mac: float = 1e-10) -> Measurement:
    """A record whose counters and peak equal the cost model unless told otherwise."""
    cost = cost_of(c)
    if status != "ok":
        return Measurement(case=c, status=status, reason="synthetic").with_cost(cost)
    return Measurement(
        case=c, status="ok", threads=2, macs_torch=cost.macs, macs_fvcore=cost.macs,
        latency_s=latency if latency is not None else cost.macs * seconds_per_mac + 1e-6,
        latency_iqr_s=0.0,
        peak_bytes=peak if peak is not None else cost.peak_bytes,
    ).with_cost(cost)


def frame(ms: list[Measurement], run: str = "synthetic") -> pd.DataFrame:
    return an.prepare(an.frame(ms, run))


def positions_sweep(noise: float = 0.0, seed: int = 1, **sizes: int) -> list[Measurement]:
    rng = np.random.default_rng(seed)
    out = []
    for side in SIDES:
        for block in ("double_attention", "nonlocal_right", "se"):
            c = case(block, side, **sizes)
            lat = cost_of(c).macs * 1e-10 * math.exp(rng.normal(0, noise)) + 1e-7
            out.append(measured(c, latency=lat))
    return out


def fit_row(fits: pd.DataFrame, block: str, metric: str, axis: str = "positions") -> pd.Series:
    sel = fits[(fits["block"] == block) & (fits["metric"] == metric) & (fits["axis"] == axis)
               & fits["primary"]]
    assert len(sel) == 1, sel
    return sel.iloc[0]



@pytest.fixture(autouse=True, scope="module")
def each_fit_once():
    """fit_power is fitted once per distinct input in this module. Its tests build many sweeps
    from the same blocks and cost models, so most of their least-squares fits (the model's own
    curve at each window, a block left as it was, a Monte Carlo's timed and fitted overheads on
    the same data) repeat one already made: 1162 of 1823 calls, 33 of the 54 s of CPU they
    took. fit_power is a pure function of its arrays (least_squares from fixed starts), so
    every fit, and so every assertion, reads what the call itself would return."""
    real, memo = ft.fit_power, {}

    def once(x, y, log_se=None, k=None):
        key = tuple(None if a is None else np.asarray(a, float).tobytes()
                    for a in (x, y, log_se)) + (k,)
        if key not in memo:
            memo[key] = real(x, y, log_se, k)
        return memo[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ft, "fit_power", once)
        yield

# --- fits over a stored-looking frame --------------------------------------------------------


def test_positions_fits_match_the_cost_model():
    fits = an.fit_exponents(frame(positions_sweep(noise=0.03)))
    assert tuple(fits.columns[:8]) == an.FIT_COLUMNS
    left = fit_row(fits, "double_attention", "macs")
    right = fit_row(fits, "nonlocal_right", "macs")
    se = fit_row(fits, "se", "macs")
    assert left["exponent"] == pytest.approx(1.0) and left["verdict"] == "consistent"
    assert right["exponent"] == pytest.approx(right["expected"])
    assert right["verdict"] == "consistent"
    assert right["expected_class"] == 2 and right["delta_bic"] > 10
    assert se["exponent"] == pytest.approx(0.0, abs=1e-9) and se["verdict"] == "consistent"
    assert fit_row(fits, "nonlocal_right", "memory")["expected"] > 1.85
    assert fit_row(fits, "nonlocal_right", "latency")["verdict"] == "consistent"
    assert left["group"] == "b=1 c=64 m=16 n=16" and se["group"] == "b=1 c=64 r=16"
    assert left["points"] == 8 and left["swept_values"] == 8  # exact counts: no overhead
    assert set(fits["axis"]) == {"positions"}  # nothing else moved


def test_an_axis_counts_only_with_the_others_fixed():
    # channels swept with m = n = c/4 (the suite default): m and n move too, so no channels fit.
    tied = [measured(case(b, 16, c=c, m=c // 4, n=c // 4)) for c in (16, 32, 64, 128, 256)
            for b in ("double_attention", "se")]
    fits = an.fit_exponents(frame(tied))
    assert set(fits[fits["block"] == "double_attention"]["axis"]) == set()
    assert set(fits[fits["block"] == "se"]["axis"]) == {"channels"}
    fixed = [measured(case("double_attention", 16, c=c, m=32, n=32))
             for c in (16, 32, 64, 128, 256)]
    fits = an.fit_exponents(frame(fixed))
    row = fit_row(fits, "double_attention", "macs", "channels")
    assert row["verdict"] == "consistent" and 0.5 < row["exponent"] <= 1.0


def test_several_groups_are_all_fitted_and_the_largest_is_primary():
    ms = [measured(case("double_attention", s, c=64)) for s in SIDES]
    ms += [measured(case("double_attention", s, c=128)) for s in SIDES[:5]]
    fits = an.fit_exponents(frame(ms))
    pos = fits[(fits["axis"] == "positions") & (fits["metric"] == "macs")]
    assert len(pos) == 2
    assert pos[pos["primary"]]["group"].tolist() == ["b=1 c=64 m=16 n=16"]
    # And channels is swept (2 values) at each of the 5 shared N.
    assert (fits["axis"] == "channels").any()
    assert set(fits[fits["axis"] == "channels"]["verdict"]) == {"inconclusive"}


def test_a_tie_goes_to_the_group_the_blocks_share_then_to_the_largest_sizes():
    # A suite sweeping N at c = 32, 64 and 128: every group ties on sizes. The smallest c had
    # won (the most overhead-bound); now the largest does, for both blocks alike.
    ms = [measured(case(b, s, c=c)) for b in ("double_attention", "nonlocal_right")
          for c in (32, 64, 128) for s in SIDES[:6]]
    fits = an.fit_exponents(frame(ms))
    pos = fits[(fits["axis"] == "positions") & fits["primary"]]
    assert set(pos["group"]) == {"b=1 c=128 m=16 n=16"}
    # double attention alone at c = 256: the tie goes to a group the other block measured too
    ms += [measured(case("double_attention", s, c=256)) for s in SIDES[:6]]
    fits = an.fit_exponents(frame(ms))
    pos = fits[(fits["axis"] == "positions") & fits["primary"]]
    assert set(pos["group"]) == {"b=1 c=128 m=16 n=16"}
    assert len(fits[(fits["axis"] == "positions") & (fits["block"] == "double_attention")
                    & (fits["metric"] == "macs")]) == 4  # every group is still fitted


def test_frames_and_zipped_sides_both_fit_against_positions():
    ms = [measured(case("nonlocal_right", 14, t=t, c=256, m=64, n=64)) for t in (1, 2, 4, 8, 16)]
    fits = an.fit_exponents(frame(ms))
    assert {"positions", "t"} <= set(fits["axis"])
    assert fit_row(fits, "nonlocal_right", "macs")["exponent"] == pytest.approx(
        fit_row(fits, "nonlocal_right", "macs", "t")["exponent"])


def test_failed_rows_are_left_out():
    ms = positions_sweep()
    ms += [measured(case("nonlocal_right", 128), status="oom")]
    df = frame(ms)
    fits = an.fit_exponents(df)
    assert fit_row(fits, "nonlocal_right", "macs")["fit_x_max"] == 96 * 96
    assert len(an.roofline(df, {"synthetic": ENV})) == len(positions_sweep())


def test_steepest_step_ignores_a_single_noisy_point():
    x = [100, 200, 400, 800, 1600]
    spike = [1.0, 50.0, 4.0, 16.0, 64.0]  # 200 is an outlier the next size undoes
    step = an.steepest_step(x, spike, [1, 4, 16, 64, 256])
    assert step is not None and step.x_from == 400  # equal slopes: the first sustained one
    cliff = [1.0, 4.0, 16.0, 200.0, 800.0]
    step = an.steepest_step(x, cliff, [1, 4, 16, 64, 256])
    assert (step.x_from, step.x_to) == (400, 800) and step.exponent > 3


# --- crossover -------------------------------------------------------------------------------


def test_crossing_interpolates_in_log_n():
    c = an.crossing([10, 100], [0.5, 1.5])
    assert c.n_star == pytest.approx(math.sqrt(10 * 100))
    assert c.reason == ""


def test_crossing_reasons_when_it_never_crosses():
    above = an.crossing([10, 100, 1000], [1.2, 2, 5])
    assert math.isnan(above.n_star) and "smallest N" in above.reason
    below = an.crossing([10, 100, 1000], [0.2, 0.5, 0.9])
    assert math.isnan(below.n_star) and "largest N" in below.reason
    single = an.crossing([10, 10], [0.5, 2])
    assert math.isnan(single.n_star)


def test_crossing_reports_the_last_upward_crossing():
    c = an.crossing([10, 20, 40, 80, 160], [0.9, 1.1, 0.95, 1.05, 3])
    assert 40 < c.n_star < 80
    assert "2 times" in c.reason


def test_measured_crossover_matches_the_prediction_when_latency_follows_macs():
    # m = n = 32: N* = 2mn/(m+n) = 32, so a 4x8 image sits exactly on it.
    ms = []
    for h, w in ((2, 2), (2, 4), (4, 4), (4, 8), (8, 8), (16, 16), (32, 32)):
        for block in ("double_attention", "nonlocal_right"):
            c = Case(block, "cpu", "float32", 1, 64, 1, h, w, m=32, n=32)
            ms.append(measured(c, latency=cost_of(c).macs * 1e-10))
    cross = an.crossovers(frame(ms))
    assert len(cross) == 1
    row = cross.iloc[0]
    assert row["n_star_predicted"] == pytest.approx(32)
    assert row["n_star_latency"] == pytest.approx(32)
    assert row["n_star_macs"] == pytest.approx(32)
    assert bool(row["predicted_in_range"])
    assert math.isfinite(row["n_star_memory"])


def test_a_latency_crossing_inside_the_overhead_is_not_read():
    """Both orders a little above a per-call overhead of 0.3 ms cross on a wobble (the H100's
    536 against 512): not read where the overhead timed directly is half a side's time."""
    ms = []
    for h, w in ((2, 2), (2, 4), (4, 4), (4, 8), (8, 8), (16, 16), (32, 32)):
        for block in ("double_attention", "nonlocal_right"):
            c = Case(block, "cpu", "float32", 1, 64, 1, h, w, m=32, n=32)
            ms.append(measured(c, latency=3e-4 + cost_of(c).macs * 1e-14))
    env = overhead_env("double_attention", 3e-4)
    env["overhead"]["cases"] += [{**env["overhead"]["cases"][0], "block": "nonlocal_right"}]
    for e in env["overhead"]["cases"]:
        e.update(m=32, n=32)
    row = an.crossovers(frame(ms), environments={"synthetic": env}).iloc[0]
    assert math.isnan(row["n_star_latency"]) and "the crossing is the overhead's" in \
        row["reason_latency"]
    assert row["n_star_macs"] == pytest.approx(32)
    # without the timed overhead, the ratio within noise of 1 from N = 4 to 64 is not read
    # either (TIE_Z, TIE_SPAN)
    alone = an.crossovers(frame(ms)).iloc[0]
    assert math.isnan(alone["n_star_latency"])
    assert "within its noise of 1 (±2.8% at a size) from N = 4 to 1024" in alone["reason_latency"]
    against = an.crossovers_against(frame(ms), environments={"synthetic": env}).iloc[0]
    assert against["outcome_latency"] == "overhead_bound"
    assert math.isnan(against["n_star_latency"]) and against["outcome_macs"] == "crosses"


def test_a_latency_crossing_within_noise_of_one_is_not_read_and_a_clear_one_is():
    """The H100's bf16 orders cost the same within 1 % from N = 96 to 1536 but for one slow
    size (0.815 at N = 1024), and the last upward pass of 1 had read "costlier from N ≈ 1497".
    A ratio that leaves 1 by 20 % or more a doubling of N is still read where it crosses."""
    rng = np.random.default_rng(4)
    sides = [(h, w) for h, w in ((8, 8), (8, 16), (16, 16), (16, 32), (32, 32), (32, 64),
                                 (64, 64))]

    def rows(ratio_at) -> list[Measurement]:
        out = []
        for h, w in sides:
            for block in ("double_attention", "nonlocal_right"):
                c = Case(block, "cpu", "float32", 1, 64, 1, h, w, m=32, n=32)
                lat = 1e-3 * (ratio_at(h * w) if block == "nonlocal_right" else 1.0)
                passes = tuple(tuple(lat * np.exp(rng.normal(0, 0.005, 5))) for _ in range(3))
                out.append(replace(measured(c, latency=lat), samples_s=sum(passes, ())))
        return out

    # one slow size of the reference (N = 1024) in a ratio of 1 ± 1 %
    level = {64: 0.99, 128: 1.01, 256: 0.995, 512: 1.005, 1024: 0.815, 2048: 1.01, 4096: 1.008}
    flat = an.crossovers(frame(rows(level.get)))
    assert math.isnan(flat.iloc[0]["n_star_latency"])
    assert "the two cost the same there" in flat.iloc[0]["reason_latency"]
    steep = an.crossovers(frame(rows(lambda n: (n / 512) ** 0.5))).iloc[0]
    assert steep["n_star_latency"] == pytest.approx(512, rel=0.05)
    # on a grid that doubles N, two level neighbours span a factor 2 alone: a ratio rising 8 %
    # a doubling is read (three level sizes at least)
    from a2bench.analysis.crossover import _noise_crossing, crossing

    x = pd.Series([16.0, 32, 64, 128, 256, 512])
    r = pd.Series([0.8, 0.9, 0.985, 1.015, 1.1, 1.2])
    lat, none = pd.Series([1e-3] * 6), pd.Series([()] * 6)
    c = crossing(x, r)
    assert _noise_crossing(c, x, r, [(lat, none), (lat * r, none)]) == c


def test_latency_measured_on_several_nodes_decides_nothing():
    """A Slurm sweep split case by case (--split cases) may time a fit's sizes, or the two
    blocks of a ratio, on different machines: no interval holds their difference."""
    ms = positions_sweep(noise=0.03)
    fits = an.fit_exponents(frame([replace(m, host="node1") for m in ms]))
    one = fit_row(fits, "double_attention", "latency")
    assert one["verdict"] == "consistent" and one["hosts"] == "node1"
    two = [replace(m, host=f"node{1 + i % 2}") for i, m in enumerate(ms)]  # sizes alternate
    fits = an.fit_exponents(frame(two))
    lat = fit_row(fits, "double_attention", "latency")
    assert lat["verdict"] == "inconclusive" and lat["hosts"] == "node1, node2"
    assert "ran on 2 nodes (node1, node2)" in lat["reason"] and "--split findings" in lat["reason"]
    # counts and peaks are no machine's: their verdicts stand
    assert fit_row(fits, "double_attention", "macs")["verdict"] == "consistent"
    assert fit_row(fits, "nonlocal_right", "memory")["verdict"] == "consistent"
    # a ratio of two blocks timed on two machines is not read either; MACs still cross
    ms = []
    for h, w in ((2, 2), (2, 4), (4, 4), (4, 8), (8, 8), (16, 16)):
        for block, host in (("double_attention", "node1"), ("nonlocal_right", "node2")):
            c = Case(block, "cpu", "float32", 1, 64, 1, h, w, m=32, n=32)
            ms.append(replace(measured(c, latency=cost_of(c).macs * 1e-10), host=host))
    row = an.crossovers(frame(ms)).iloc[0]
    assert math.isnan(row["n_star_latency"]) and "2 nodes" in row["reason_latency"]
    assert row["n_star_macs"] == pytest.approx(32)
    against = an.crossovers_against(frame(ms)).iloc[0]
    assert against["outcome_latency"] == "across_nodes" and against["outcome_macs"] == "crosses"
    assert math.isnan(against["ratio_at_max_latency"])
    same = an.crossovers(frame([replace(m, host="node1") for m in ms])).iloc[0]
    assert same["n_star_latency"] == pytest.approx(32)


def test_pairs_keep_each_orders_peak_against_its_model():
    # The paper's video example at a small size: both orders at one clip shape, the non-local
    # order's peak 10 % above its model, double attention's on it.
    left, right = (Case(b, "cpu", "float32", 1, 32, 4, 7, 7, m=16, n=16)
                   for b in ("double_attention", "nonlocal_right"))
    over = int(cost_of(right).peak_bytes * 1.1)
    p = an.pairs(frame([measured(left, latency=1e-3), measured(right, latency=3e-3, peak=over)]))
    assert len(p) == 1
    r = p.iloc[0]
    assert r["positions"] == 196 and r["latency_left"] == 1e-3 and r["latency_right"] == 3e-3
    assert r["memory_model_left"] == cost_of(left).peak_bytes == r["memory_left"]
    assert r["memory_model_right"] == cost_of(right).peak_bytes and r["memory_right"] == over
    assert r["memory_error_left"] == 0 and r["memory_error_right"] == pytest.approx(0.1, abs=1e-4)
    assert r["ratio_memory"] == pytest.approx(over / cost_of(left).peak_bytes)
    assert r["ratio_memory_model"] == pytest.approx(
        cost_of(right).peak_bytes / cost_of(left).peak_bytes)


def test_crossover_needs_both_orders_over_several_n():
    ms = [measured(case("double_attention", s)) for s in SIDES]
    ms += [measured(case("nonlocal_right", 8))]
    assert an.crossovers(frame(ms)).empty


# --- roofline --------------------------------------------------------------------------------


def test_roofline_numbers():
    c = case("double_attention", 32)
    cost = cost_of(c)
    df = frame([measured(c, latency=1e-3)])
    roof = an.roofline(df, {"synthetic": ENV})
    row = roof.iloc[0]
    assert row["gflops"] == pytest.approx(cost.flops / 1e-3 / 1e9)
    assert row["fraction_of_peak"] == pytest.approx(cost.flops / 1e-3 / 1e11)
    input_bytes = 1 * 64 * 32 * 32 * 4
    assert row["intensity"] == pytest.approx(cost.flops / (cost.activation_bytes + input_bytes))
    assert row["attainable_gflops"] == pytest.approx(
        min(1e11, row["intensity"] * 2e10) / 1e9)
    assert row["bound"] in ("memory", "compute")


def test_each_node_is_read_against_its_own_ceiling():
    """A Slurm partition merged from nodes that differ keeps each node's ceilings: a case,
    and a fit one node measured, read the node's own; a case of an unlisted node the run's."""
    env = {**ENV, "roofline": {**ENV["roofline"], "dtype": "float32"},
           "rooflines_by_host": {"slow": {"float32": {"dtype": "float32",
                                                      "gemm_flops_per_s": 5e10}}}}
    ms = [replace(m, host="slow" if m.case.block == "nonlocal_right" else "fast")
          for m in positions_sweep()]
    df = frame(ms)
    roof = an.roofline(df, {"synthetic": env})
    for block, ceiling in (("nonlocal_right", 5e10), ("double_attention", 1e11)):
        rows = roof[roof["block"] == block]
        assert (rows["peak_gflops"] == ceiling / 1e9).all()
        assert np.allclose(rows["fraction_of_peak_raw"], rows["gflops"] * 1e9 / ceiling)
    fits = an.fit_exponents(df, {"synthetic": env})
    slow, fast = (fit_row(fits, b, "latency") for b in ("nonlocal_right", "double_attention"))
    assert slow["fraction_of_ceiling"] == pytest.approx(slow["achieved_flops_per_s"] / 5e10)
    assert fast["fraction_of_ceiling"] == pytest.approx(fast["achieved_flops_per_s"] / 1e11)


def test_roofline_without_ceilings_gives_nan_fractions():
    df = frame([measured(case("se", 16))])
    roof = an.roofline(df, {})
    assert roof.iloc[0]["gflops"] > 0
    assert math.isnan(roof.iloc[0]["fraction_of_peak"])


# --- headline --------------------------------------------------------------------------------


def test_headline_confirms_when_macs_memory_and_latency_follow_the_model():
    h = an.headline(an.fit_exponents(frame(positions_sweep())), ["synthetic"])
    assert h["verdict"] == "confirmed"
    run = h["runs"]["synthetic"]
    study = [f for f in run["fits"] if f["block"] in ("double_attention", "nonlocal_right")]
    assert len(study) == 6 and not run["missing"] and not run["contradicting"]


def test_headline_refutes_when_memory_grows_linearly_for_the_non_local_order():
    ms = []
    for m in positions_sweep():
        if m.case.block == "nonlocal_right":
            m = measured(m.case, peak=1000 * m.case.positions)
        ms.append(m)
    h = an.headline(an.fit_exponents(frame(ms)), ["synthetic"])
    assert h["verdict"] == "contradicted"
    against = h["runs"]["synthetic"]["contradicting"]
    assert any(x.startswith("non-local order memory") for x in against)


def test_headline_names_latency_that_is_missing():
    ms = [m for m in positions_sweep()]
    ms = [measured(m.case, latency=1e-3) if m.case.block == "nonlocal_right" else m for m in ms]
    h = an.headline(an.fit_exponents(frame(ms)), ["synthetic"])
    assert h["verdict"] != "confirmed"
    assert any("non-local order latency" in x
               for x in h["runs"]["synthetic"]["missing"] + h["runs"]["synthetic"]["contradicting"])


def test_a_counted_blocks_working_set_holds_its_weights_as_the_planners_does():
    """A token mixer's N x N weights (2.5 MiB at 24²) were left out of its working set, so the
    report cut its window at L2 where the planner, which counts them, saw none."""
    from dataclasses import replace

    c = case("double_attention", 24)
    counted = replace(measured(c), macs_analytic=None, peak_bytes_analytic=None,
                      macs_source="counted", parameters=1_000_000, peak_bytes=4096)
    df = an.prepare(pd.concat([an.frame([counted], "a"), an.frame([measured(c)], "b")],
                              ignore_index=True))
    own, modelled = df["working_set_bytes"].tolist()
    input_bytes = c.batch * c.channels * c.positions * 4
    assert own == 4096 + 4_000_000 + input_bytes
    assert modelled == cost_of(c).peak_bytes + input_bytes  # a model's weights stay out


def test_a_counted_block_missing_its_count_at_one_size_is_fitted_not_a_traceback():
    """A counted block's MACs are stored with its first pass only; a folder that lost that one
    record at one size (a line deleted) has no model value there. The latency window still
    holds that size, and its throughput had set the model at the other sizes against the
    window's latencies: a ValueError (shapes (7,) (8,)) out of a2bench report."""
    ms = []
    for i, side in enumerate(SIDES):
        m = replace(measured(case("double_attention", side)), macs_analytic=None,
                    flops_analytic=None, peak_bytes_analytic=None, macs_source="counted")
        ms.append(replace(m, macs_torch=None, macs_fvcore=None) if i == 3 else m)
    fits = an.fit_exponents(frame(ms))
    lat = fit_row(fits, "double_attention", "latency")
    assert lat["points"] == len(SIDES) and lat["verdict"] == "inconclusive"
    assert lat["achieved_flops_per_s"] == pytest.approx(2 / 1e-10, rel=0.01)  # 2 FLOPs a MAC


def test_headline_names_a_block_none_of_whose_cases_ended_ok():
    """A run whose non-local order failed at every size was judged on double attention alone
    (the blocks question) and read CONFIRMED; a third block that failed everywhere was not
    named either. With the records both are missing."""
    from dataclasses import replace

    ms = [m for m in positions_sweep() if m.case.block != "se"]
    failed = [replace(m, status="error", reason="boom") if m.case.block == "nonlocal_right"
              else m for m in ms]
    df = frame(failed)
    fits = an.fit_exponents(df)
    assert an.headline(fits, ["synthetic"])["verdict"] == "confirmed"  # the fits alone
    run = an.headline(fits, ["synthetic"], data=df)["runs"]["synthetic"]
    assert run["verdict"] == "inconclusive" and run["question"] == "a2"
    assert f"non-local order: no case ended ok ({len(SIDES)} error)" in run["missing"]
    gc = [measured(Case("gc", "cpu", "float32", 1, 64, 1, side, side, reduction=16), status="oom")
          for side in SIDES]
    alone = frame([m for m in failed if m.case.block == "double_attention"] + gc)
    run = an.headline(an.fit_exponents(alone), ["synthetic"], data=alone)["runs"]["synthetic"]
    assert run["verdict"] == "inconclusive" and run["question"] == "blocks"
    assert run["missing"] == [f"gc: no case ended ok ({len(SIDES)} oom)"]  # no labels stored
    df = frame(ms)
    assert an.headline(an.fit_exponents(df), ["synthetic"], data=df)["verdict"] == "confirmed"


def test_a_sweep_along_n_whose_cases_failed_past_one_size_is_missing_not_unswept():
    """Every case past the smallest timed out: the run had read NOT SWEPT, "no block was swept
    along positions N", and was left out of the overall verdict; a third block that did so
    beside two that fitted was left out of its run's, which read CONFIRMED."""
    ms = [m for m in positions_sweep() if m.case.block != "se"]
    timed_out = [replace(m, status="timeout", reason="timed out") if m.case.h > SIDES[0] else m
                 for m in ms]
    df = frame(timed_out)
    h = an.headline(an.fit_exponents(df), ["synthetic"], data=df)
    run = h["runs"]["synthetic"]
    assert h["verdict"] == run["verdict"] == "inconclusive"
    assert (f"double attention: swept over {len(SIDES)} values of N, 1 of them ended ok "
            f"({len(SIDES) - 1} timeout): too few to fit") in run["missing"]
    se = [replace(m, status="timeout", reason="timed out")
          if m.case.block == "se" and m.case.h > SIDES[0] else m for m in positions_sweep()]
    alone = frame([m for m in se if m.case.block != "nonlocal_right"])  # no A² pair: blocks
    run = an.headline(an.fit_exponents(alone), ["synthetic"], data=alone)["runs"]["synthetic"]
    assert run["question"] == "blocks" and run["verdict"] == "inconclusive", run
    assert any(g.startswith("SE: swept over") for g in run["missing"]), run["missing"]
    assert not any(u.startswith("SE:") for u in run["unmeasured"])  # no fits to read others
    one = frame([m for m in ms if m.case.h == SIDES[0]])
    assert an.headline(an.fit_exponents(one), ["synthetic"], data=one)["verdict"] == "not swept"


def test_a_study_block_whose_sweep_failed_past_one_size_is_not_said_unmeasured():
    """Double attention timed out past its smallest size beside the non-local order: its
    verdict list had said "double attention MACs: not measured along positions" (and latency,
    memory) above "double attention: swept over 8 values of N, 1 of them ended ok"."""
    ms = [replace(m, status="timeout", reason="timed out")
          if m.case.block == "double_attention" and m.case.h > SIDES[0] else m
          for m in positions_sweep() if m.case.block != "se"]
    df = frame(ms)
    run = an.headline(an.fit_exponents(df), ["synthetic"], data=df)["runs"]["synthetic"]
    assert run["question"] == "a2" and run["verdict"] == "inconclusive", run
    assert not any("not measured along positions" in g for g in run["missing"]), run["missing"]
    assert any(g.startswith("double attention: swept over") for g in run["missing"])


def test_headline_takes_no_verdict_from_a_model_that_disagrees_with_both_counters():
    from dataclasses import replace

    ms = [replace(m, model_mismatch=True) for m in positions_sweep()
          if m.case.block == "double_attention"]
    df = frame(ms)
    assert an.headline(an.fit_exponents(df), ["synthetic"])["verdict"] == "confirmed"
    run = an.headline(an.fit_exponents(df), ["synthetic"], data=df)["runs"]["synthetic"]
    assert run["verdict"] == "inconclusive"
    assert run["missing"] == [f"double attention MACs: its cost model disagrees with both "
                              f"counters in {len(SIDES)} case(s) (model_mismatch), so its "
                              "model's verdicts are moot"]


def test_headline_points_a_run_whose_sizes_left_latency_short_to_auto_sizes():
    """Sizes a suite fixed for another machine or dtype leave the per-call overhead above 5 %
    at most of them (the default suite in bfloat16 on an AMX CPU: 2 and 4 sizes): the run's
    hint names auto sizes, which a run that already chose them for its machine is not told."""
    ms = [measured(m.case, latency=1e-3 + 1e-9 * m.case.positions) for m in positions_sweep()]
    fits = an.fit_exponents(frame(ms))
    run = an.headline(fits, ["synthetic"])["runs"]["synthetic"]
    assert any("latency: window too small" in x for x in run["missing"]), run["missing"]
    assert run["hints"] == [AUTO_HINT] and "`h: auto` and `w: auto`" in AUTO_HINT
    auto = {"synthetic": {"auto_sizes": {"groups": [{}]}}}
    assert an.headline(fits, ["synthetic"], auto)["runs"]["synthetic"]["hints"] == []
    good = an.headline(an.fit_exponents(frame(positions_sweep())), ["synthetic"])
    assert good["runs"]["synthetic"]["hints"] == []


def test_headline_names_the_threads_where_a_latency_exponent_fell_below_its_model():
    """At more threads larger sizes gain more than small ones, and a fixed suite's latency
    exponent falls (the default suite at 2 threads: the non-local order 1.66 against 1.88,
    inconclusive): a CPU run at more than one thread whose latency verdict is undecided below
    its model is told so, and what to change, auto sizes or not; at one thread, on CUDA, or
    with the exponent above its model, it is not."""
    ms = [measured(m.case, latency=1e-10 * cost_of(m.case).macs * m.case.positions ** -0.3)
          if m.case.block == "nonlocal_right" else m for m in positions_sweep()]
    fits = an.fit_exponents(frame(ms))
    row = fit_row(fits, "nonlocal_right", "latency")
    assert row["verdict"] != "consistent" and row["exponent"] < row["expected"]

    def hints(env: dict, data: pd.DataFrame = fits) -> list[str]:
        return an.headline(data, ["synthetic"], {"synthetic": env})["runs"]["synthetic"]["hints"]

    assert hints({"threads": 4}) == [THREADS_HINT.format(threads=4)]
    assert "measured at 4 threads" in hints({"threads": 4})[0]
    assert hints({"threads": 1}) == [] and hints({}) == []
    # auto sizes do not undo it (2 threads: double attention 0.91 in an auto run)
    assert hints({"threads": 4, "auto_sizes": {"groups": [{}]}}) == \
        [THREADS_HINT.format(threads=4)]
    assert hints({"threads": 4}, fits.assign(device="cuda")) == []
    steeper = [measured(m.case, latency=1e-10 * cost_of(m.case).macs * m.case.positions ** 0.3)
               if m.case.block == "nonlocal_right" else m for m in positions_sweep()]
    assert hints({"threads": 4}, an.fit_exponents(frame(steeper))) == []


def test_an_auto_run_left_undecided_in_its_window_is_told_what_budget_buys():
    # An auto run ended inconclusive with budget left and no hint; the one given elsewhere
    # (more passes) narrowed its span instead (ΔBIC 5.9 at --processes 5)
    from a2bench.analysis.hints import BUDGET_HINT

    ms = [measured(m.case, latency=1e-10 * cost_of(m.case).macs * m.case.positions ** -0.15)
          if m.case.block == "nonlocal_right" else m for m in positions_sweep()]
    fits = an.fit_exponents(frame(ms))
    assert fit_row(fits, "nonlocal_right", "latency")["verdict"] == "inconclusive"

    def hints(env: dict) -> list[str]:
        return an.headline(fits, ["synthetic"], {"synthetic": env})["runs"]["synthetic"]["hints"]

    planned = {"budget_s": 240.0, "groups": [{"template": {"block": "nonlocal_right"}}]}
    assert hints({"auto_sizes": planned}) == [BUDGET_HINT.format(budget=240, more=480)]
    assert "a larger `--budget` (say 480)" in hints({"auto_sizes": planned})[0]
    assert "(say 600)" in hints({"auto_sizes": {**planned, "needed_budget_s": 600.0}})[0]
    # in whole seconds rounded up, as the plan's line beside it says: "(say 167.868)" had stood
    # beside "--budget 168"
    short = {**planned, "budget_s": 60.0, "needed_budget_s": 167.868}
    assert "(say 168)" in hints({"auto_sizes": short})[0]
    # a plan no budget affords, listed sizes, or a block whose sizes were not planned: no hint
    assert hints({"auto_sizes": {**planned, "needed_budget_s": math.inf}}) == []
    assert hints({}) == []
    assert hints({"auto_sizes": {**planned, "groups": [{"template": {"block": "se"}}]}}) == []
    good = an.fit_exponents(frame(positions_sweep()))
    assert an.headline(good, ["synthetic"], {"synthetic": {"auto_sizes": planned}}
                       )["runs"]["synthetic"]["hints"] == []


def test_headline_tallies_the_runs_and_says_how_far_the_strict_verdict_is():
    from a2bench.report.sections.scaling import headline_phrase

    good = an.fit_exponents(frame(positions_sweep()))
    flat = an.fit_exponents(frame([measured(m.case, latency=1e-3)
                                   if m.case.block == "nonlocal_right" else m
                                   for m in positions_sweep()]))
    both = pd.concat([good, good.assign(run="again"), flat.assign(run="flat")])
    h = an.headline(both, ["synthetic", "again", "flat"])
    assert h["verdict"] != "confirmed"  # one run short of it is enough
    assert h["counts"]["confirmed"] == 2 and sum(h["counts"].values()) == 3
    other = "contradicted" if h["verdict"] == "contradicted" else "inconclusive"
    assert h["counts"][other] == 1
    words = headline_phrase(h)
    assert words.startswith(f"{other.upper()} overall: 2 of 3 runs CONFIRMED, ")
    assert ("none CONTRADICTED" in words) == (other == "inconclusive")
    assert headline_phrase(an.headline(pd.concat([good, good.assign(run="again")]),
                                       ["synthetic", "again"])) == "CONFIRMED in both runs"
    assert headline_phrase(an.headline(good, ["synthetic"])) == "CONFIRMED"


def test_headline_of_a_run_without_both_orders_judges_the_blocks_it_has():
    ms = [m for m in positions_sweep() if m.case.block == "double_attention"]
    h = an.headline(an.fit_exponents(frame(ms)), ["synthetic"])
    run = h["runs"]["synthetic"]
    assert run["question"] == "blocks" and h["verdict"] == "confirmed"
    assert {f["block"] for f in run["fits"]} == {"double_attention"} and len(run["fits"]) == 3
    assert not run["missing"]  # the non-local order is not asked for where it did not run


def test_headline_keeps_the_a2_question_and_shows_the_other_blocks():
    ms = [measured(m.case, latency=1e-3) if m.case.block == "se" else m  # se's latency flat
          for m in positions_sweep()]
    h = an.headline(an.fit_exponents(frame(ms)), ["synthetic"])
    run = h["runs"]["synthetic"]
    assert run["question"] == "a2" and h["verdict"] == "confirmed"
    assert [f["block"] for f in run["fits"]][:6] == ["double_attention"] * 3 + [
        "nonlocal_right"] * 3
    assert "se" in {f["block"] for f in run["fits"]}  # shown, but it does not decide the A²


def test_headline_without_a_positions_sweep_says_not_swept():
    ms = [measured(case(b, 16, c=c, m=c // 4, n=c // 4)) for c in (256, 512)
          for b in ("double_attention", "nonlocal_right")]
    h = an.headline(an.fit_exponents(frame(ms)), ["synthetic"])
    assert h["verdict"] == "not swept"


# --- loading ---------------------------------------------------------------------------------


def write_folder(path, ms, env=ENV):
    w = ResultsWriter(path, resume=False)
    for m in ms:
        w.append(m)
    w.write_environment(env)
    return path


def test_a_stored_size_is_the_median_of_its_passes_lows(tmp_path):
    # Three passes (worker processes) of each size; the smallest size's first pass ran 15 %
    # fast throughout. Its latency is the median of the passes' summaries, not the low
    # quantile of all samples pooled (which would be that pass's).
    rng = np.random.default_rng(5)
    ms = []
    for side in SIDES[2:]:
        c = case("double_attention", side)
        base = cost_of(c).macs * 1e-10
        for p in range(3):
            fast = 0.85 if side == SIDES[2] and p == 0 else 1.0
            samples = tuple(base * fast * np.exp(np.abs(rng.normal(0, 0.01, 4))))
            ms.append(replace(measured(c, latency=float(np.median(samples))),
                              samples_s=samples, process=p))
    df, _ = an.load_runs([write_folder(tmp_path / "run", ms)])
    row = df[df["h"] == SIDES[2]].iloc[0]
    assert [len(p) for p in row["samples"]] == [4, 4, 4]
    lows = sorted(float(ft.summary_of(np.asarray(p, float))) for p in row["samples"])
    assert row["latency_fit"] == pytest.approx(lows[1])
    assert row["latency_fit"] > 1.1 * np.quantile(np.concatenate(row["samples"]), 0.1)
    lat = fit_row(an.fit_exponents(df), "double_attention", "latency")
    assert lat["ci_high"] - lat["ci_low"] < 0.05, lat


def test_a_figures_points_are_the_values_its_fit_reads(tmp_path):
    # Every pass of every size stalled on 6 of its 10 calls (3x its fastest): the fit drops
    # stalls, and so must the points drawn beside its line. A noisy 2-core run had drawn its
    # points 35-70 % above the fit line at every size, under a caption saying they were the
    # values the fit reads.
    ms = []
    for side in SIDES[2:]:
        c = case("double_attention", side)
        base = cost_of(c).macs * 1e-10
        for p in range(3):
            samples = tuple(base * np.array([1.0, 1.01, 1.02, 1.03, *[3.0] * 6]))
            ms.append(replace(measured(c, latency=float(np.median(samples))),
                              samples_s=samples, process=p))
    df, runs = an.load_runs([write_folder(tmp_path / "run", ms)])
    lat = fit_row(an.fit_exponents(df), "double_attention", "latency")
    pts = an.fit_points(df, lat)
    pts = pts[pts["fitted"]]
    line = lat["overhead_used"] + np.exp(lat["intercept"]) * pts["x"] ** lat["exponent"]
    assert len(pts) >= ft.MIN_WINDOW
    assert np.allclose(pts["y"] / line, 1.0, rtol=0.01), (pts["y"] / line).tolist()


def passes_that_move(tmp_path, sd: float, seed: int = 7,
                     sides: tuple[int, ...] = (24, 28, 32, 36, 40, 44, 48), shared: float = 0.0):
    """Double attention over a span of 4x in N, 3 passes of 20 samples (1 % apart) a size,
    each pass's speed moved by `sd` (log-normal) on its own, and the passes by 0, +`shared` and
    -`shared` in ln alike at every size (a process that ran slow or fast throughout): the fits
    of that folder."""
    rng = np.random.default_rng(seed)
    shifts = (0.0, shared, -shared)
    ms = []
    for side in sides:
        c = case("double_attention", side)
        base = cost_of(c).macs * 1e-10
        for p in range(3):
            moved = base * math.exp(rng.normal(0, sd) + shifts[p])
            samples = tuple(moved * np.exp(np.abs(rng.normal(0, 0.01, 20))))
            ms.append(replace(measured(c, latency=float(np.median(samples))),
                              samples_s=samples, process=p))
    df, _ = an.load_runs([write_folder(tmp_path / f"run-{sd}-{shared}", ms)])
    return fit_row(an.fit_exponents(df), "double_attention", "latency")


def test_an_inconclusive_latency_says_how_much_its_passes_moved(tmp_path):
    from a2bench.analysis import passes

    noisy = passes_that_move(tmp_path, 0.15)
    # a median of 2-dof sds reads low (about 0.83 σ, and 7 sizes scatter it)
    assert passes.NOISY_PASSES < noisy["pass_scatter"] < 0.2
    assert noisy["verdict"] == "inconclusive", noisy["reason"]
    assert "from pass to pass" in noisy["reason"] and "--processes" in noisy["reason"]
    quiet = passes_that_move(tmp_path, 0.005)
    assert quiet["pass_scatter"] < passes.NOISY_PASSES
    assert quiet["verdict"] == "consistent" and "pass to pass" not in quiet["reason"]
    # the rule itself: quiet passes, or a single one, add nothing
    assert passes.noisy_passes_note(0.03, 3) == passes.noisy_passes_note(0.2, 1) == ""
    assert "about 14%" in passes.noisy_passes_note(0.2, 3)  # 1.25 × 0.2 / √3
    assert math.isnan(passes.pass_scatter([((1.0, 1.1),), None]))  # one pass: no scatter


def test_a_pass_that_ran_slow_at_every_size_is_not_scatter(tmp_path):
    """A pass times its sizes together, so a process that ran slow throughout moves the fit's
    intercept, not its exponent: its shift is not counted, and more passes are not asked for."""
    from a2bench.analysis import passes

    common = passes_that_move(tmp_path, 0.005, shared=0.15)  # each size's passes: sd 0.15
    assert common["pass_scatter"] < 0.01 and common["verdict"] == "consistent"
    # by hand: 3 sizes, 4 passes; pass 2 ran 20 % slow at every size, and one size's pass 0
    # stalled (3x): neither moves the median of the sizes' sds, whose own movement is 1-2 %
    levels = np.array([1.0, 4.0, 16.0])[:, None]
    own = np.exp(np.array([[0.01, -0.01, 0.0, 0.02], [-0.02, 0.0, 0.01, 0.0],
                           [1.1, 0.01, -0.01, 0.0]]))
    lows = levels * own * np.array([1.0, 1.0, 1.2, 1.0])
    scatter = passes.pass_scatter([[(v,) for v in size] for size in lows])
    assert 0.005 < scatter < 0.03, scatter
    # where the sizes' passes differ, no pass can be matched across them: each size's own sd
    ragged = [[(1.0,), (1.2,)], [(4.0,), (4.0,), (4.0,)]]
    assert passes.pass_scatter(ragged) == pytest.approx(np.median([np.std(np.log([1, 1.2]),
                                                                          ddof=1), 0.0]))


def test_load_runs_labels_and_environment(tmp_path):
    a = write_folder(tmp_path / "x" / "run", positions_sweep())
    b = write_folder(tmp_path / "y" / "run", positions_sweep(noise=0.1))
    df, runs = an.load_runs([a, b])
    assert [r.label for r in runs] == ["x/run", "y/run"]
    assert set(df["run"]) == {"x/run", "y/run"}
    assert runs[0].environment["roofline"]["gemm_flops_per_s"] == 1e11
    assert runs[0].ok == runs[0].rows == 24


def test_load_runs_rejects_bad_folders(tmp_path):
    with pytest.raises(InputError, match="no results.jsonl") as e:
        (tmp_path / "empty").mkdir()
        an.load_runs([tmp_path / "empty"])
    assert str(tmp_path / "empty") in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="missing: no such folder"):
        an.load_runs([tmp_path / "missing"])
    bad = write_folder(tmp_path / "bad", [measured(case("se", 8), status="error")])
    with pytest.raises(InputError, match="no ok results") as e:
        an.load_runs([bad])
    assert str(bad) in str(e.value)
    good = write_folder(tmp_path / "good", positions_sweep())
    with pytest.raises(InputError, match="named twice"):
        an.load_runs([good, good])


def test_a_case_stored_twice_counts_once():
    ms = positions_sweep()
    df = frame(ms + [measured(ms[0].case, latency=9.0)])
    assert len(df) == len(ms)
    assert df[(df["block"] == "double_attention") & (df["h"] == 8)]["latency"].item() == 9.0


def test_records_are_json_safe():
    fits = an.fit_exponents(frame(positions_sweep()[:6]))  # 2 sides: NaN exponents
    json.dumps(an.records(fits), allow_nan=False)


def test_a_short_macs_or_memory_window_says_it_reads_every_size_not_the_overhead():
    fits = an.fit_exponents(frame(positions_sweep()[:6]))  # 2 sides
    for metric in ("macs", "memory"):
        reason = fit_row(fits, "double_attention", metric)["reason"]
        assert reason.startswith("window too small: 2 sizes, need 5 (every size swept, "), reason
        assert "overhead" not in reason
    assert "overhead" in fit_row(fits, "double_attention", "latency")["reason"]


def test_analysis_and_report_do_not_import_torch():
    code = ("import sys, a2bench.analysis, a2bench.report; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- overhead, windows and findings ----------------------------------------------------------

GRID_SIDES = ((8, 8), (8, 12), (8, 16), (8, 24), (16, 16), (16, 24), (16, 32), (24, 32),
              (32, 32), (32, 48), (32, 64), (44, 64), (64, 64), (64, 90), (64, 128))


def timed(c: Case, seconds: float, rng: np.random.Generator, n: int = 40) -> Measurement:
    """A record with raw samples around `seconds` (log-normal, 2 %)."""
    samples = tuple(seconds * np.exp(rng.normal(0, 0.02, n)))
    return replace(measured(c, latency=float(np.median(samples))), samples_s=samples)


def cliff_sweep(overhead: float = 2e-4, step: float = 3.0) -> list[Measurement]:
    """The non-local order at c=64, m=n=512: t = a + F/R, R dropping `step`-fold past L3."""
    rng = np.random.default_rng(3)
    out = []
    for h, w in GRID_SIDES:
        c = Case("nonlocal_right", "cpu", "float32", 1, 64, 1, h, w, m=512, n=512)
        cost = cost_of(c)
        slow = step if cost.peak_bytes + 64 * h * w * 4 > 32 * 2**20 else 1.0
        out.append(timed(c, overhead + cost.flops / 8e10 * slow, rng))
    return out


CACHES = {"L1d": 32 * 2**10, "L2": 512 * 2**10, "L3": 32 * 2**20}


def overhead_env(block: str, seconds: float) -> dict:
    entry = {"block": block, "device": "cpu", "dtype": "float32", "batch": 1, "channels": 64,
             "t": 1, "h": 1, "w": 1, "m": 512, "n": 512, "reduction": None,
             "median_s": 9.0, "samples_s": [seconds] * 20}
    return {**ENV, "caches": CACHES, "overhead": {"empty_module_s": 1e-6, "cases": [entry]}}


def test_the_direct_overhead_is_read_from_its_samples_and_sets_the_window():
    env = overhead_env("nonlocal_right", 2e-4)
    assert an.direct_overhead(env, "nonlocal_right", {"channels": 64.0, "m": 512.0}) == 2e-4
    assert math.isnan(an.direct_overhead(env, "se", {}))
    fits = an.fit_exponents(frame(cliff_sweep()), {"synthetic": env})
    lat = fit_row(fits, "nonlocal_right", "latency")
    assert lat["overhead_direct"] == 2e-4 and lat["overhead_used"] == 2e-4
    assert lat["overhead_share_max"] < 0.05  # no row in the window has overhead >= 5 %


def test_the_direct_overhead_is_the_entry_of_the_same_kind():
    """A compiled forward's timing stood for the eager one (the smaller of the two won), and a
    compiled or train block's name matched no entry: each now takes its own kind's."""
    base = overhead_env("double_attention", 1.0)["overhead"]["cases"][0]
    entries = [{**base, "mode": mode, "compile": compiled, "samples_s": [seconds] * 20}
               for mode, compiled, seconds in (("forward", False, 3e-4), ("forward", True, 2e-4),
                                               ("train", False, 5e-4), ("train", True, 4e-4))]
    entries.append({**base, "block": "nonlocal", "impl": "sdpa", "mode": "forward",
                    "compile": False, "samples_s": [6e-4] * 20})
    env = {"overhead": {"cases": entries}}
    fixed = {"channels": 64.0}

    def direct(block: str, mode: str = "forward", compiled: bool = False) -> float:
        return an.direct_overhead(env, block, fixed,
                                  {"dtype": "float32", "mode": mode, "compile": compiled})

    assert direct("double_attention") == 3e-4
    assert direct("double_attention[compiled]", compiled=True) == 2e-4
    assert direct("double_attention[train]", "train") == 5e-4
    assert direct("double_attention[train, compiled]", "train", True) == 4e-4
    assert direct("nonlocal[sdpa]") == 6e-4 and math.isnan(direct("nonlocal[eager]"))


def test_rows_past_a_cache_are_fitted_apart_and_named_in_the_findings():
    df = frame(cliff_sweep())
    env = overhead_env("nonlocal_right", 2e-4)
    fits = an.fit_exponents(df, {"synthetic": env})
    lat = fits[(fits["block"] == "nonlocal_right") & (fits["metric"] == "latency")]
    assert sorted(lat["segment"]) == [0, 1]
    main, other = (lat[lat["segment"] == i].iloc[0] for i in (0, 1))
    assert main["fit_x_max"] == 2048 and other["fit_x_min"] == 2816  # the L3 boundary between
    assert main["verdict"] == "consistent", main["reason"]
    assert main["exponent"] == pytest.approx(main["expected"], abs=0.05)  # not averaged
    found = an.findings(fits, df, an.roofline(df, {"synthetic": env}), {"synthetic": env})
    kinds = {f.kind for f in found}
    assert {"overhead", "cache_crossing", "cliff", "window_split"} <= kinds
    cliff = next(f for f in found if f.kind == "cliff")
    assert (cliff.x_from, cliff.x_to, cliff.cache) == (2048, 2816, "L3")
    split = next(f for f in found if f.kind == "window_split")
    assert split.cache == "L3" and split.x_from == 2816


def test_a_cliff_where_no_cache_boundary_lies_says_so():
    ms = cliff_sweep(step=1.0)
    # A 3x step between N = 768 and 1024, where the working set passes no cache.
    ms = [replace(m, samples_s=tuple(3 * s for s in m.samples_s), latency_s=3 * m.latency_s)
          if m.case.positions >= 1024 else m for m in ms]
    df = frame(ms)
    env = {**overhead_env("nonlocal_right", 2e-4), "caches": {"L3": 32 * 2**20}}
    fits = an.fit_exponents(df, {"synthetic": env})
    found = an.findings(fits, df, an.roofline(df, {"synthetic": env}), {"synthetic": env})
    cliff = next(f for f in found if f.kind == "cliff")
    assert (cliff.x_from, cliff.x_to) == (768, 1024) and cliff.cache == ""


def test_a_case_above_the_ceiling_is_a_failed_calibration_not_a_fraction():
    c = case("double_attention", 32)
    df = frame([measured(c, latency=cost_of(c).flops / 2e11)])  # twice the 1e11 ceiling
    env = {"roofline": {"gemm_flops_per_s": 1e11, "bandwidth_bytes_per_s": 2e10,
                        "gemm_flops_per_s_start": 1e11, "gemm_flops_per_s_end": 0.9e11,
                        "drift": -0.1}}
    roof = an.roofline(df, {"synthetic": env})
    assert math.isnan(roof.iloc[0]["fraction_of_peak"]) and not roof.iloc[0]["calibration_ok"]
    found = an.findings(an.fit_exponents(df), df, roof, {"synthetic": env})
    failed = [f for f in found if f.kind == "calibration_failed"]
    assert len(failed) == 1 and failed[0].value == pytest.approx(2.0)
    calib = next(f for f in found if f.kind == "calibration")
    assert (calib.low, calib.high, calib.value) == (1e11, 0.9e11, -0.1)


def test_a_case_just_past_the_ceiling_reaches_it_and_keeps_every_fraction():
    # On an H100 the non-local order's large fp32 bmm ran at 100.5 % of the square-GEMM ceiling.
    big, small = case("nonlocal_right", 64), case("double_attention", 32)
    df = frame([measured(big, latency=cost_of(big).flops / 1.005e11),
                measured(small, latency=cost_of(small).flops / 0.5e11)])
    env = {"roofline": {"gemm_flops_per_s": 1e11, "bandwidth_bytes_per_s": 2e10}}
    roof = an.roofline(df, {"synthetic": env}).set_index("block")
    assert roof["calibration_ok"].all()
    assert roof.loc["nonlocal_right", "fraction_of_peak"] == pytest.approx(1.005)
    assert roof.loc["double_attention", "fraction_of_peak"] == pytest.approx(0.5)
    found = an.findings(an.fit_exponents(df), df, roof.reset_index(), {"synthetic": env})
    assert not [f for f in found if f.kind == "calibration_failed"]
    # past the tolerance the same run's fractions are withheld
    over = frame([measured(big, latency=cost_of(big).flops / 1.06e11),
                  measured(small, latency=cost_of(small).flops / 0.5e11)])
    assert not an.roofline(over, {"synthetic": env})["calibration_ok"].any()


def test_a_failed_ceiling_of_one_dtype_leaves_the_others_fractions():
    # An emulated bf16 torch.mm can run slower than a block's bf16 convolutions: that bf16
    # "ceiling" fails, the float32 one of the same run still holds.
    fp32 = case("double_attention", 32)
    bf16 = dataclasses.replace(fp32, dtype="bfloat16")
    df = frame([measured(fp32, latency=cost_of(fp32).flops / 5e10),
                measured(bf16, latency=cost_of(bf16).flops / 5e10)])
    env = {"rooflines": {"float32": {"dtype": "float32", "gemm_flops_per_s": 1e11},
                         "bfloat16": {"dtype": "bfloat16", "gemm_flops_per_s": 1e9}}}
    roof = an.roofline(df, {"synthetic": env}).set_index("dtype")
    assert roof.loc["float32", "fraction_of_peak"] == pytest.approx(0.5)
    assert math.isnan(roof.loc["bfloat16", "fraction_of_peak"])
    found = an.findings(an.fit_exponents(df), df, roof.reset_index(), {"synthetic": env})
    assert [(f.kind, f.dtype) for f in found if f.kind == "calibration_failed"] == [
        ("calibration_failed", "bfloat16")]


# --- blocks from the environment, complexity classes, every block against one ----------------


def test_block_labels_come_from_the_environment_else_the_builtin_fallback():
    env = {"run": {"blocks": {"toy": {"label": "Toy block", "short_label": "toy", "params": []},
                              "nonlocal": {"label": "non-local (embedded Gaussian)",
                                           "short_label": "non-local", "params": []}}}}
    assert an.block_label("toy", env) == "Toy block"
    assert an.block_label("toy", env, short=True) == "toy"
    assert an.block_label("nonlocal[sdpa]", env, short=True) == "non-local [sdpa]"
    # Runs written before environment.json held "blocks" keep the labels they always had.
    assert an.block_label("se", {}) == "SE (squeeze-excitation)"
    assert an.block_label(an.STUDY.right, {"run": {}}, short=True) == "non-local order"
    assert an.block_label("toy", {}) == "toy"


def test_block_order_follows_the_environment_then_the_data():
    df = pd.DataFrame({"block": ["se", "gc", "nonlocal[sdpa]", "double_attention", "toy"]})
    env = {"a": {"blocks": {"double_attention": {}, "nonlocal": {}, "gc": {}}}}
    assert an.block_order(df, env) == ["double_attention", "nonlocal[sdpa]", "gc", "se", "toy"]
    assert an.block_order(df) == list(df["block"])


def test_crossing_reasons_name_the_two_blocks():
    above = an.crossing([10, 100], [2, 3], "GC", "double attention")
    assert above.outcome == "above" and above.reason.startswith("GC already costs more")
    below = an.crossing([10, 100], [0.5, 0.9], "GC", "double attention")
    assert below.outcome == "below" and "GC costs no more than double attention" in below.reason
    assert an.crossing([10, 100, 1000], [2, 0.5, 0.9]).outcome == "ends_below"
    assert an.crossing([10, 100], [0.5, 2]).outcome == "crosses"
    assert an.crossing([10], [0.5]).outcome == "too_few"


def test_complexity_classes_one_row_per_block_and_metric_against_its_model():
    fits = an.fit_exponents(frame(positions_sweep()))
    table = an.complexity_classes(fits)
    assert list(table.columns) == list(an.COMPLEXITY_COLUMNS)
    assert len(table) == 6  # three blocks × (MACs, latency)
    got = {(r.block, r.metric): r for r in table.itertuples()}
    assert set(got) == {(b, m) for b in ("double_attention", "nonlocal_right", "se")
                        for m in ("macs", "latency")}
    for metric in ("macs", "latency"):
        assert got[("double_attention", metric)].expected_class == 1
        assert got[("double_attention", metric)].competitor == 2
        assert got[("nonlocal_right", metric)].expected_class == 2
        assert got[("nonlocal_right", metric)].verdict == "consistent"
    assert got[("se", "macs")].expected_class == 0  # SE's MACs do not grow with N
    row = fit_row(fits, "nonlocal_right", "latency")
    assert got[("nonlocal_right", "latency")].exponent == row["exponent"]
    assert an.complexity_classes(an.fit_exponents(frame(positions_sweep()[:3]))).empty


def against_sweep() -> list[Measurement]:
    """N = 25, 100, 400, 1600. Reference latency 1e-6·N (at m = 16 and at m = 32); the
    non-local order 1e-8·N², so its ratio N/100 passes 1 exactly at N = 100; SE far faster at
    every N but with far more memory."""
    out = []
    for side in (5, 10, 20, 40):
        positions = side * side
        for m in (16, 32):
            out.append(measured(case("double_attention", side, m=m), latency=1e-6 * positions))
        out.append(measured(case("nonlocal_right", side), latency=1e-8 * positions ** 2))
        out.append(measured(case("se", side), latency=1e-9, peak=10**12))
    return out


def test_crossovers_against_finds_a_known_crossing_and_whole_range_cases():
    table = an.crossovers_against(frame(against_sweep()))
    for col in ("run", "device", "block", "reference", "batch", "channels", "t", "ref_m",
                "ref_n", "n_points", "n_min", "n_max", "n_star_macs", "n_star_latency",
                "n_star_memory", "reason_macs", "reason_latency", "reason_memory",
                "ratio_at_max_latency"):
        assert col in table.columns, col
    assert (table["reference"] == "double_attention").all()
    assert "double_attention" not in set(table["block"])
    # One group per setting of the reference's parameters (m = 16 and m = 32).
    nl = table[table["block"] == "nonlocal_right"].set_index("ref_m")
    assert sorted(nl.index) == [16, 32]
    row = nl.loc[16]
    assert (row["n_points"], row["n_min"], row["n_max"]) == (4, 25, 1600)
    assert row["n_star_latency"] == pytest.approx(100)
    assert row["outcome_latency"] == "crosses" and row["reason_latency"] == ""
    assert row["ratio_at_max_latency"] == pytest.approx(16)
    se = table[(table["block"] == "se") & (table["ref_m"] == 16)].iloc[0]
    assert math.isnan(se["n_star_latency"]) and se["outcome_latency"] == "below"
    assert "largest N" in se["reason_latency"]
    assert math.isnan(se["n_star_memory"]) and se["outcome_memory"] == "above"
    assert "smallest N" in se["reason_memory"]
    assert se["params"] == "r=16"


def test_crossovers_against_sets_each_setting_against_the_same_setting_of_the_reference():
    # A training step takes 3x its forward: SE's training step against double attention's
    # forward had read 3x costlier; against its training step it is what it is forward.
    ms = []
    for side in (5, 10, 20, 40):
        for mode, factor in (("forward", 1), ("train", 3)):
            for block, latency in (("double_attention", 1e-6), ("se", 5e-7)):
                c = dataclasses.replace(case(block, side), mode=mode)
                ms.append(measured(c, latency=factor * latency * side * side))
    ms += [measured(dataclasses.replace(case("se", s), dtype="bfloat16")) for s in (5, 10)]
    table = an.crossovers_against(frame(ms))
    got = {r.block: r for r in table.itertuples()}
    assert set(got) == {"se", "se[train]"}  # a bf16 SE has no bf16 double attention to meet
    assert got["se[train]"].reference == "double_attention[train]"
    assert got["se"].reference == "double_attention"
    for row in got.values():
        assert row.outcome_latency == "below"
        assert row.ratio_at_max_latency == pytest.approx(0.5)


def test_crossovers_against_needs_the_reference_at_two_or_more_n():
    ms = [measured(case("nonlocal_right", s)) for s in SIDES]
    ms += [measured(case("double_attention", 8))]
    assert an.crossovers_against(frame(ms)).empty
    only = frame([measured(case("se", s)) for s in SIDES])
    assert an.crossovers_against(only).empty


def test_a_cliff_where_the_largest_activation_passes_the_mmap_threshold_is_named_and_split():
    # Double attention at c=256: no cache boundary past L3 up to N = 131044, but its input-sized
    # activations pass glibc's 32 MiB mmap threshold at N = 32768, where every call starts to
    # page-fault them: a 3x step. Measured on this repository's VM (SE at c=256: 10 ms at
    # N = 46225 with the threshold fixed high, 51 ms without).
    rng = np.random.default_rng(5)
    ms = []
    for side in (91, 108, 128, 152, 181, 215, 256, 304, 362, 430):
        c = Case("double_attention", "cpu", "float32", 1, 256, 1, side, side, m=64, n=64)
        cost = cost_of(c)
        slow = 3.0 if cost.largest_activation_bytes > 32 * 2**20 else 1.0
        ms.append(timed(c, 2e-4 + cost.flops / 4e10 * slow, rng))
    entry = {"block": "double_attention", "channels": 256, "m": 64, "n": 64, "t": 1, "h": 1,
             "w": 1, "median_s": 2e-4, "samples_s": [2e-4] * 20}
    env = {**ENV, "caches": {"L3": 8 * 2**20}, "overhead": {"cases": [entry]},
           "allocator": {"name": "glibc", "mmap_threshold_bytes": 32 * 2**20}}
    df = frame(ms)
    fits = an.fit_exponents(df, {"synthetic": env})
    lat = fits[(fits["block"] == "double_attention") & (fits["metric"] == "latency")
               & (fits["axis"] == "positions")]
    assert len(lat) == 2 and set(lat["points"]) == {5}
    for _, row in lat.iterrows():
        assert row["verdict"] == "consistent", row["reason"]
        assert "mmap threshold" in row["window"]
    found = an.findings(fits, df, an.roofline(df, {"synthetic": env}), {"synthetic": env})
    cliff = next(f for f in found if f.kind == "cliff")
    assert (cliff.cache, cliff.tensor, cliff.x_from, cliff.x_to) == (
        "mmap threshold", "largest activation", 181 * 181, 215 * 215)
    # Without the allocator recorded (runs written before), the step is no cache's.
    old = {k: v for k, v in env.items() if k != "allocator"}
    found = an.findings(an.fit_exponents(df, {"synthetic": old}), df,
                        an.roofline(df, {"synthetic": old}), {"synthetic": old})
    assert next(f for f in found if f.kind == "cliff").cache == ""


def test_in_context_sets_each_attention_variant_against_the_plain_network():
    ms = []
    for attention in ("none", "se", "nonlocal"):
        for batch in (1, 8):
            c = Case("resnet50", "cpu", "float32", batch, 3, 1, 224, 224, attention=attention)
            cost = cost_of(c)
            ms.append(Measurement(c, "ok", latency_s=cost.macs * 1e-11,
                                  peak_bytes=cost.peak_bytes,
                                  parameters=cost.parameters).with_cost(cost))
    t = an.in_context(frame(ms)).set_index(["attention", "batch"])
    assert len(t) == 6 and t.loc[("none", 1), "latency_overhead_pct"] == 0
    se = t.loc[("se", 1)]
    # latency is MACs x 1e-11 here, so its overhead is the modelled MAC overhead
    assert se["latency_overhead_pct"] == pytest.approx(se["macs_overhead_pct_model"])
    assert 0 < se["macs_overhead_pct_model"] < 1 < t.loc[("nonlocal", 1), "macs_overhead_pct_model"]
    assert se["published_gmacs"] == 3.87 and "SENet" in se["published_source"]
    assert t.loc[("none", 1), "published_gmacs"] == 3.86
    assert math.isnan(t.loc[("none", 8), "published_gmacs"])  # the figure is per image
    assert se["parameters_overhead_pct"] == pytest.approx(100 * (28_088_024 / 25_557_032 - 1))


def test_headline_names_the_sizes_a_judged_block_did_not_measure():
    # Three OOM sizes of the non-local order's largest had left CONFIRMED without a word.
    ms = [m for m in positions_sweep() if m.case.block != "se"]
    big = {s * s for s in SIDES[-2:]}
    ms = [replace(m, status="oom", reason="synthetic")
          if m.case.block == "nonlocal_right" and m.case.h * m.case.w in big else m for m in ms]
    df = frame(ms)
    run = an.headline(an.fit_exponents(df), ["synthetic"], data=df)["runs"]["synthetic"]
    assert run["unmeasured"] == [f"non-local order: 2 of {len(SIDES)} cases not measured "
                                 "(2 oom at N = 4096–9216); its fits read the others"]
    assert an.headline(an.fit_exponents(frame(positions_sweep())), ["synthetic"],
                       data=frame(positions_sweep()))["runs"]["synthetic"]["unmeasured"] == []


def test_a_model_that_disagrees_with_both_counters_reaches_the_headline():
    data = pd.DataFrame([
        {"run": "r", "block": "mine", "model_mismatch": True, "macs_analytic": 32768,
         "macs_torch": 49152},
        {"run": "r", "block": "mine", "model_mismatch": "True", "macs_analytic": 65536,
         "macs_torch": 98304},
        {"run": "r", "block": "double_attention", "model_mismatch": False,
         "macs_analytic": 1, "macs_torch": 1}])
    (line,) = an.model_mismatches(data)
    assert "mine's cost model disagrees with both counters in 2 case(s)" in line
    assert "32768 MACs against 49152 counted" in line
    assert an.model_mismatches(data.drop(columns=["model_mismatch"])) == []


@pytest.mark.parametrize("direct", [math.nan, 3e-5])
def test_a_flat_latency_without_a_direct_overhead_is_inconclusive_not_contradicted(direct):
    # 30 µs at every size: a + b·x^k splits that one constant anyhow (often a = 0), and without
    # a direct timing every size then read "overhead under 5 %" and the run read contradicted
    # against the model's k = 1 in about half of simulated sweeps.
    from a2bench.analysis import exponents

    rng = np.random.default_rng(1)
    n = 256 * 64 ** (np.arange(10) / 9)
    verdicts = set()
    for _ in range(6):
        samples = [[list(3e-5 * np.exp(rng.normal(0, 0.03, 20))) for _ in range(5)] for _ in n]
        df = pd.DataFrame({"positions": n, "latency": 1.0, "samples": samples,
                           "flops_analytic": n, "working_set_bytes": 1.0,
                           "largest_activation_bytes": 1.0, "host": ""})
        fit = exponents.fit_group(df, "positions", "latency", {}, direct, resamples=200)[0]
        verdicts.add(fit["verdict"])
        assert fit["points"] == 0, fit["window"]
        said = "it may be all per-call overhead" in fit["reason"]
        assert said == math.isnan(direct), fit["reason"]
    assert verdicts == {"inconclusive"}


@pytest.mark.parametrize("stored", [True, False])
def test_a_fitted_overhead_s_error_reaches_the_interval(stored, monkeypatch):
    # No overhead timed (direct NaN): a is fitted over every size and subtracted. Both intervals
    # had taken it as known: over t = 2e-4 + 1e-6·N at 8 sizes (the overhead 4.7 % of the
    # smallest), 3 passes of 10 samples, the 95 % interval covered k = 1 in 69 % of 200 sweeps
    # with samples stored and 69 % without (97.5 % and 95 % with the overhead timed).
    from a2bench.analysis import exponents

    x = np.round(np.geomspace(4096, 65536, 8))
    # the interval is read, not the class evidence (ΔBIC) or the verdict it feeds: its two
    # fits of t = a + b·x^k a window were most of this Monte Carlo's CPU
    monkeypatch.setattr(ft, "class_evidence",
                        lambda sizes, expected, model=None: (*ft.classes(expected), math.nan))
    covered = {"fitted": 0, "timed": 0}
    for seed in range(40):
        rng = np.random.default_rng(seed)
        samples = [tuple((2e-4 + 1e-6 * v) * np.exp(rng.normal(0, 0.05, 10)) for _ in range(3))
                   for v in x]
        df = pd.DataFrame({"positions": x, "flops_analytic": x, "working_set_bytes": np.nan,
                           "largest_activation_bytes": np.nan, "host": "h",
                           "latency": [float(np.median(np.concatenate(s))) for s in samples]})
        if stored:
            df["samples"] = samples
        for how, direct in (("fitted", math.nan), ("timed", 2e-4)):
            fit = exponents.fit_group(df, "positions", "latency", {}, direct, resamples=200)[0]
            assert fit["points"] >= 5, fit["window"]
            covered[how] += fit["ci_low"] <= 1.0 <= fit["ci_high"]
    assert covered["fitted"] >= 36 and covered["timed"] >= 36, covered


def test_peaks_that_equal_the_model_at_every_size_are_consistent_whatever_the_power_fit():
    # along c, peaks to the byte of a + b·c + d·c² read 0.22 [-0.15, 0.59], inconclusive: the
    # interval measured how badly a pure power fits the model's own curve
    from a2bench.analysis import exponents

    c = np.array([8.0, 16, 32, 64, 128, 256])
    model = np.where(c < 64, 1e7, 3e7) + 1e4 * c  # a buffer that doubles past c = 32
    df = pd.DataFrame({"channels": c, "memory": model, "peak_bytes_analytic": model,
                       "samples": [()] * len(c), "working_set_bytes": 1.0,
                       "largest_activation_bytes": 1.0, "host": ""})
    fit = exponents.fit_group(df, "channels", "memory", {}, resamples=100)[0]
    assert fit["verdict"] == "consistent", fit["reason"]
    assert fit["reason"] == "equals the model within 0.1% at every size swept (6)"
    off = exponents.fit_group(df.assign(memory=model * np.linspace(1, 1.5, len(c))), "channels",
                              "memory", {}, resamples=100)[0]
    assert not off["reason"].startswith("equals the model")


def test_a_sweep_of_frames_at_one_map_has_its_crossover_across_t():
    # one N per t: grouped by t, the published H100 frames run (10 values of t, both orders)
    # had been left out of the crossover section
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    data, runs = an.load_runs([root / "results" / "gpu-nvidia-h100-80gb-hbm3-frames"])
    cross = an.crossovers(data, environments={r.label: r.environment for r in runs})
    (row,) = cross.itertuples(index=False)
    assert math.isnan(row.t) and row.n_points == 10 and row.n_min == 784


def test_each_block_against_double_attention_runs_across_t_too(tmp_path, monkeypatch):
    from pathlib import Path

    from test_report import draw_only

    root = Path(__file__).resolve().parent.parent
    data, runs = an.load_runs([root / "results" / "gpu-nvidia-h100-80gb-hbm3-frames"])
    bc = an.crossovers_against(data, environments={r.label: r.environment for r in runs})
    assert set(bc["block"]) == {"nonlocal_right", "se"}
    assert bc["t"].isna().all() and (bc["n_points"] == 10).all()
    from a2bench.report import build_report  # and its lines render (a NaN t had raised)

    # the page's lines are read; of the figures (most of the report's time: 8.4 s of CPU of
    # its 9), the latency fits' are drawn, along N and across t
    draw_only(monkeypatch, fits=("latency",))
    build_report([root / "results" / "gpu-nvidia-h100-80gb-hbm3-frames"], tmp_path / "r")
    md = (tmp_path / "r" / "report.md").read_text()
    assert ("SE (r=16) at c=256 b=1 across t, against double attention m=64 n=64, "
            "N = 784–50176") in md
    # a run of images (t = 1 throughout) keeps its groups by t
    data, runs = an.load_runs([root / "results" / "cpu-default"])
    bc = an.crossovers_against(data, environments={r.label: r.environment for r in runs})
    assert len(bc) and (bc["t"] == 1).all()


def test_the_counter_table_takes_each_blocks_largest_case_at_its_largest_n_and_names_it():
    # A sweep of c at one N, stored in a shuffled order: each block's row had been whichever c
    # came first (the non-local order at c 16 beside double attention at c 256).
    ms = []
    for c, block in ((16, "nonlocal_right"), (256, "double_attention"), (256, "nonlocal_right"),
                     (16, "double_attention"), (64, "double_attention")):
        m = measured(case(block, 20, c=c))
        ms.append(replace(m, macs_thop=m.macs_analytic, macs_ptflops=m.macs_analytic))
    t = an.counter_table(frame(ms))
    assert sorted(zip(t["block"], t["size"], strict=True)) == [
        ("double_attention", "20×20 c=256"), ("nonlocal_right", "20×20 c=256")]


def test_a_resumed_runs_ceiling_is_the_best_of_its_sessions_and_each_calibration_is_found():
    # Interrupted before its end calibration, then resumed: the report had read the first
    # session's "62.2 / not measured" beside the resumed session's warning of a +5.6 % drift.
    from a2bench.analysis.load import over_sessions

    def roof(start, end):
        return {"dtype": "float32", "gemm_flops_per_s": max(start, end or 0),
                "bandwidth_bytes_per_s": 3e10, "gemm_flops_per_s_start": start,
                "gemm_flops_per_s_end": end, "drift": end / start - 1 if end else None}

    first, resumed = roof(62.2e9, None), roof(59.5e9, 62.8e9)
    env = {"suite": "s", "roofline": first, "rooflines": {"float32": first},
           "resumed_in": [{"roofline": resumed, "rooflines": {"float32": resumed}}]}
    joined = over_sessions(env)
    assert joined["roofline"]["gemm_flops_per_s"] == 62.8e9
    assert joined["rooflines"]["float32"]["gemm_flops_per_s"] == 62.8e9
    assert env["roofline"]["gemm_flops_per_s"] == 62.2e9  # the stored file's dict is untouched
    found = [f for f in an.findings(pd.DataFrame(columns=["metric", "primary"]), pd.DataFrame(),
                                    pd.DataFrame(), {"r": joined}) if f.kind == "calibration"]
    assert [(f.session, f.low, f.high) for f in found][1] == (1, 59.5e9, 62.8e9)
    assert math.isnan(found[0].high)
    assert over_sessions({"roofline": first}) == {"roofline": first}  # never resumed: as stored
