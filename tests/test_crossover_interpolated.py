"""Each block against double attention where the two share fewer than two N (an auto-sized run
picks each block's own): latency read with one side interpolated in log-log, never outside its
measured range; the shared-size path as it was."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from a2bench import analysis as an
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.cli import main
from a2bench.measurement import Measurement
from a2bench.report.sections.crossovers import block_crossovers_section
from a2bench.report.sections.scaling import _cheaper
from a2bench.run.store import ResultsWriter

ROOT = Path(__file__).resolve().parent.parent
# No N in common: N 25-484 for double attention, 36-441 for the non-local order
REF_SIDES = (5, 7, 9, 12, 16, 22)
NL_SIDES = (6, 8, 11, 15, 21)


def case(block: str, side: int, *, c: int = 64, t: int = 1, h: int | None = None) -> Case:
    return Case(block, "cpu", "float32", 1, c, t, side if h is None else h, side, m=16, n=16)


def measured(c: Case, latency: float) -> Measurement:
    cost = cost_of(c)
    return Measurement(case=c, status="ok", threads=2, macs_torch=cost.macs,
                       macs_fvcore=cost.macs, latency_s=latency, latency_iqr_s=0.0,
                       peak_bytes=cost.peak_bytes).with_cost(cost)


def ref_latency(positions: float) -> float:
    return 1e-6 * positions  # a power law: log-log interpolation reads it exactly


def nl_latency(positions: float) -> float:
    return 1e-8 * positions ** 2  # so the ratio is N/100, 1 at N = 100


def auto_like(ref_sides=REF_SIDES, nl_sides=NL_SIDES, **nl) -> list[Measurement]:
    out = [measured(case("double_attention", s), ref_latency(s * s)) for s in ref_sides]
    for s in nl_sides:
        c = case("nonlocal_right", s, **nl)
        out.append(measured(c, nl_latency(c.t * c.h * c.w)))
    return out


def against(ms: list[Measurement]) -> pd.DataFrame:
    return an.crossovers_against(an.prepare(an.frame(ms, "auto")))


def test_log_interpolate_reads_between_measured_sizes_and_never_outside():
    xs, ys = np.array([100.0, 150.0, 400.0]), np.array([1.0, 2.25, 16.0])  # y = (x/100)^2
    assert an.log_interpolate(150.0, xs, ys) == (2.25, 150.0, 150.0)  # measured: as it is
    y, low, high = an.log_interpolate(120.0, xs, ys)
    assert y == pytest.approx(1.44) and (low, high) == (100.0, 150.0)
    for outside in (99.0, 401.0):  # no extrapolation
        assert all(math.isnan(v) for v in an.log_interpolate(outside, xs, ys))
    # 150 -> 400 is wider than INTERP_SPAN in N: nothing is read across it
    assert an.INTERP_SPAN < 400 / 150
    assert math.isnan(an.log_interpolate(200.0, xs, ys)[0])


def test_blocks_with_no_shared_n_are_compared_with_one_side_interpolated():
    table = against(auto_like())
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["block"], row["reference"]) == ("nonlocal_right", "double_attention")
    assert row["latency_basis"] == "interpolated"
    # the non-local order's 5 N all lie inside double attention's range; 4 of its lie inside
    # the non-local order's: the side with more N is read as measured
    assert row["interpolated"] == "double_attention"
    assert (row["n_points"], row["n_min"], row["n_max"]) == (5, 36, 441)
    assert row["ratio_at_max_latency"] == pytest.approx(4.41)  # 441/100, exactly
    assert (row["interp_n_low"], row["interp_n_high"]) == (256, 484)
    assert row["outcome_latency"] == "crosses"
    assert row["n_star_latency"] == pytest.approx(100, rel=0.05)
    for metric in ("macs", "memory"):  # only latency is interpolated
        assert row[f"outcome_{metric}"] == "not_shared" and math.isnan(row[f"n_star_{metric}"])


def test_the_block_is_interpolated_where_the_reference_has_more_n_inside_its_range():
    # the non-local order at N 49-225, 4 N inside the reference's range; the reference's 5 N
    # inside the non-local order's
    table = against(auto_like(ref_sides=(6, 8, 10, 11, 13, 14, 16), nl_sides=(7, 9, 12, 15)))
    row = table.iloc[0]
    assert row["interpolated"] == "nonlocal_right"
    assert (row["n_points"], row["n_min"], row["n_max"]) == (5, 64, 196)
    assert row["ratio_at_max_latency"] == pytest.approx(1.96)
    assert (row["interp_n_low"], row["interp_n_high"]) == (144, 225)
    # on a tie, 4 and 4, the block is read as measured
    tie = against(auto_like(ref_sides=(6, 8, 10, 13, 14, 16), nl_sides=(7, 9, 12, 15)))
    assert tie.iloc[0]["interpolated"] == "double_attention"


def test_one_shared_n_is_read_as_measured_and_the_rest_interpolated():
    table = against(auto_like(nl_sides=(6, 8, 11, 16, 21)))  # N = 256 is both's
    row = table.iloc[0]
    assert row["latency_basis"] == "interpolated" and row["n_points"] == 5
    assert row["ratio_at_max_latency"] == pytest.approx(4.41)


@pytest.mark.parametrize("nl, why", [
    ({"c": 128}, "other channels"),
    ({"t": 2}, "other frames"),
    ({"h": 1}, "another aspect: N through w alone"),
])
def test_no_interpolation_where_anything_but_positions_differs(nl, why):
    ms = auto_like(**nl)
    if "h" in nl:  # h fixed at 1: N = w, inside double attention's range
        ms = [m for m in ms if m.case.block == "double_attention"] + [
            measured(case("nonlocal_right", w, h=1), nl_latency(w)) for w in (40, 60, 90, 130)]
    assert against(ms).empty, why


def test_no_interpolation_where_the_ranges_do_not_overlap_or_are_too_sparse():
    # N 900-2500, past 484: nothing is interpolated; the measured figures either side of the
    # gap (tests/test_crossover_disjoint.py)
    apart = against(auto_like(nl_sides=(30, 40, 50)))
    assert list(apart["latency_basis"]) == ["disjoint"] and list(apart["interpolated"]) == [""]
    assert math.isnan(apart.iloc[0]["ratio_at_max_latency"])
    # the reference at N = 25 and 484 only: the step is wider than INTERP_SPAN
    assert against(auto_like(ref_sides=(5, 22))).empty


def test_the_shared_size_path_is_unchanged_and_preferred():
    ms = [measured(case(b, s), f(s * s)) for s in (5, 10, 20, 40)
          for b, f in (("double_attention", ref_latency), ("nonlocal_right", nl_latency))]
    table = against(ms)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["latency_basis"] == "shared" and row["interpolated"] == ""
    assert math.isnan(row["interp_n_low"]) and math.isnan(row["interp_n_high"])
    assert (row["n_points"], row["n_max"]) == (4, 1600)
    assert row["ratio_at_max_latency"] == pytest.approx(16)
    assert row["n_star_latency"] == pytest.approx(100)
    # a second family of shapes (t = 2) with no N shared comes after it, interpolated; the
    # headline keeps the shared one though the other holds more N
    ms += [measured(case("double_attention", s, t=2), ref_latency(2 * s * s))
           for s in REF_SIDES]
    ms += [measured(case("nonlocal_right", s, t=2), nl_latency(2 * s * s)) for s in NL_SIDES]
    table = against(ms)
    assert list(table["latency_basis"]) == ["shared", "interpolated"]
    assert list(table["t"]) == [1, 2]
    result = SimpleNamespace(block_crossovers=table, environments={})
    line = _cheaper(result, "auto")[0]  # type: ignore[arg-type]
    assert "16.0× its time at N = 1600" in line and "interpolated" not in line


def synthetic_report(tmp_path: Path, records: list[Measurement]) -> tuple[Path, str]:
    """A run of `records` (folder "auto") and its report: the report's folder and report.md."""
    run = tmp_path / "auto"
    w = ResultsWriter(run, resume=False)
    for m in records:
        w.append(m)
    w.write_environment({"cpu_model": "Synthetic CPU", "threads": 2, "torch": "0.0-synthetic",
                         "suite": "synthetic"})
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    return out, (out / "report.md").read_text()


def headline_of(md: str) -> str:
    return md[md.index("## Headline"):md.index("\n## ", md.index("## Headline") + 3)]


def test_the_headline_and_the_csv_say_the_figure_is_interpolated(tmp_path: Path):
    out, md = synthetic_report(tmp_path, auto_like())
    head = headline_of(md)
    assert ("latency against double attention: non-local order (m=16 n=16) at c=64 b=1: "
            "costlier from N ≈ 95.7, 4.41× its time at N = 441 (double attention's interpolated "
            "between N = 256 and 484); no two N shared, so double attention's latency is "
            "interpolated in log-log between its own measured N at the other's 5 N, 36 to 441"
            ) in head
    section = md.split("## Each block against double attention", 1)[1].split("\n## ", 1)[0]
    assert "MACs: not compared (no two N shared)" in section
    assert "interpolated between N = 256 and 484" in section
    cross = pd.read_csv(out / "block_crossovers.csv")
    assert list(cross[["latency_basis", "interpolated", "interp_n_low", "interp_n_high"]]
                .iloc[0]) == ["interpolated", "double_attention", 256, 484]


def test_the_published_auto_run_that_shares_one_n_gets_its_answer():
    # results/cpu-auto-heldout/auto-attention-c64-2: double attention at 10 N from 5776 to
    # 51984, the non-local order at 8 from 8464 to 30976, N = 10000 alone in common
    folder = ROOT / "results" / "cpu-auto-heldout" / "auto-attention-c64-2"
    data, runs = an.load_runs([folder])
    table = an.crossovers_against(data, an.REFERENCE, {r.label: r.environment for r in runs})
    row = table.iloc[0]
    assert (row["latency_basis"], row["interpolated"]) == ("interpolated", "double_attention")
    assert (row["n_points"], row["n_min"], row["n_max"]) == (8, 8464, 30976)
    assert (row["interp_n_low"], row["interp_n_high"]) == (24336, 32400)
    assert row["outcome_latency"] == "above"
    # double attention 5.775 ms at 24336 and 8.163 ms at 32400: 7.73 ms at 30976 in log-log,
    # against the non-local order's 1089 ms there
    assert row["ratio_at_max_latency"] == pytest.approx(140.84, rel=1e-3)


def test_a_grid_of_t_by_maps_reads_its_shared_rows_alone():
    # both blocks at t in {1, 2, 4}, sides 8-24: every N measured on both sides. Each map
    # across t (t NaN) had added an "interpolated" row beside the 3 shared ones, its
    # interp_n_low equal to its interp_n_high, MACs "not_shared", and "no two N shared"
    ms = [measured(case(block, s, t=t), (ref_latency if block == "double_attention"
                                         else nl_latency)(t * s * s))
          for t in (1, 2, 4) for s in (8, 12, 16, 24)
          for block in ("double_attention", "nonlocal_right")]
    table = against(ms)
    assert list(table["t"]) == [1, 2, 4]
    assert set(table["latency_basis"]) == {"shared"} and set(table["family"]) == {""}
    assert set(table["outcome_macs"]) == {"above"}


def test_two_aspects_at_one_t_are_told_apart_by_their_family():
    # square maps and 1:2 maps at t = 1, no N shared in either: two interpolated rows whose
    # identifying columns had been the same, and their lines alike
    ms = auto_like()
    ms += [measured(case("double_attention", s, h=2 * s), ref_latency(2 * s * s))
           for s in REF_SIDES]
    ms += [measured(case("nonlocal_right", s, h=2 * s), nl_latency(2 * s * s))
           for s in NL_SIDES]
    table = against(ms)
    assert list(table["latency_basis"]) == ["interpolated", "interpolated"]
    assert sorted(table["family"]) == ["h:w 1:1", "h:w 2:1"]
    data = an.prepare(an.frame(ms, "auto"))
    result = SimpleNamespace(block_crossovers=table, environments={}, data=data, runs=())
    lines = [item for element in block_crossovers_section(result)  # type: ignore[arg-type]
             for item in getattr(element, "items", ())]
    assert len(lines) == 2 and lines[0] != lines[1]
    # square maps at one t are the usual family: their line reads as it did
    assert sum("at c=64 b=1, h:w 2:1, against" in line for line in lines) == 1
    assert sum("at c=64 b=1, against" in line for line in lines) == 1


def test_a_map_across_t_that_no_row_by_t_holds_is_a_shared_row():
    # t = 1 at three maps (a shared row by t), and 20×20 at t = 2, 3, 4 on both sides: that
    # series across t is measured on both, so it is read at its shared N, not interpolated
    ms = [measured(case(block, s, t=t), (ref_latency if block == "double_attention"
                                         else nl_latency)(t * s * s))
          for t, s in ((1, 8), (1, 12), (1, 16), (2, 20), (3, 20), (4, 20))
          for block in ("double_attention", "nonlocal_right")]
    table = against(ms)
    assert list(table["latency_basis"]) == ["shared", "shared"]
    assert list(table["family"]) == ["", "h×w 20×20"]
    row = table.iloc[1]
    assert math.isnan(row["t"]) and (row["n_points"], row["n_max"]) == (3, 1600)
    assert row["outcome_macs"] == "above" and row["ratio_at_max_latency"] == pytest.approx(16)
