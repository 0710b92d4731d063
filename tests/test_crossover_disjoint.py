"""Each block against double attention where the two ran no N in common at all (an auto-sized
run gave the non-local order N = 4624–14400 and double attention 44944 and up): the measured
figures either side of the gap, nothing interpolated or extrapolated; "costlier even at fewer
positions" only where the block with the lower N took longer."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from test_crossover_interpolated import headline_of, synthetic_report

from a2bench import analysis as an
from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.cli import main
from a2bench.measurement import Measurement
from a2bench.report.sections.crossovers import disjoint_words
from a2bench.report.sections.scaling import _cheaper

ROOT = Path(__file__).resolve().parent.parent
LOW = (6, 8, 11, 15, 21)  # N 36-441
HIGH = (30, 40, 50)  # N 900-2500


def case(block: str, side: int, *, c: int = 64, t: int = 1, h: int | None = None) -> Case:
    return Case(block, "cpu", "float32", 1, c, t, side if h is None else h, side, m=16, n=16)


def measured(c: Case, latency: float, host: str = "") -> Measurement:
    cost = cost_of(c)
    return replace(Measurement(case=c, status="ok", threads=2, macs_torch=cost.macs,
                               macs_fvcore=cost.macs, latency_s=latency, latency_iqr_s=0.0,
                               peak_bytes=cost.peak_bytes).with_cost(cost), host=host)


def sweep(block: str, sides, per_n: float, power: float = 1.0, **kw) -> list[Measurement]:
    out = []
    for s in sides:
        c = case(block, s, **kw)
        out.append(measured(c, per_n * (c.t * c.h * c.w) ** power))
    return out


def gap(nl_per_n2: float = 1e-8) -> list[Measurement]:
    """Double attention at N 900-2500, 1 µs a position; the non-local order below, at N 36-441,
    nl_per_n2 · N² (1e-8: 1.94 ms at 441, against double attention's 0.9 ms at 900)."""
    return (sweep("double_attention", HIGH, 1e-6)
            + sweep("nonlocal_right", LOW, nl_per_n2, power=2))


def against(ms: list[Measurement], env: dict | None = None) -> pd.DataFrame:
    return an.crossovers_against(an.prepare(an.frame(ms, "auto")),
                                 environments={"auto": env} if env else None)


def words(row: pd.Series) -> str:
    return disjoint_words(SimpleNamespace(environments={}), row)  # type: ignore[arg-type]


def headline_line(table: pd.DataFrame) -> str:
    result = SimpleNamespace(block_crossovers=table, environments={})
    return _cheaper(result, "auto")[0]  # type: ignore[arg-type]


def test_the_lower_block_slower_at_its_largest_n_is_costlier_even_at_fewer_positions():
    table = against(gap())
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["latency_basis"], row["interpolated"]) == ("disjoint", "")
    # the block's own N, and double attention's: nothing read between or beyond them
    assert (row["n_points"], row["n_min"], row["n_max"]) == (5, 36, 441)
    assert (row["reference_n_points"], row["reference_n_min"], row["reference_n_max"]) == (
        3, 900, 2500)
    assert (row["lower"], row["lower_n"], row["upper_n"]) == ("nonlocal_right", 441, 900)
    assert row["lower_latency"] == pytest.approx(1e-8 * 441 ** 2)
    assert row["upper_latency"] == pytest.approx(1e-6 * 900)
    assert row["outcome_latency"] == "costlier_at_fewer_n"
    assert math.isnan(row["ratio_at_max_latency"]) and math.isnan(row["n_star_latency"])
    for metric in ("macs", "memory"):
        assert row[f"outcome_{metric}"] == "not_shared" and math.isnan(row[f"n_star_{metric}"])
    assert words(row) == (
        "costlier even at fewer positions (no N in common: non-local order N = 36–441, double "
        "attention 900–2500): at its largest N, 441, it took 1.94 ms, 2.16× double attention's "
        "0.900 ms at its smallest, N = 900 (2.0× more positions)")


def test_the_reference_below_and_slower_makes_the_block_cheaper_even_at_more_positions():
    ms = (sweep("double_attention", (5, 7, 9, 12, 16, 22), 1e-6)  # 0.484 ms at N = 484
          + sweep("nonlocal_right", HIGH, 1e-7))  # 0.09 ms at N = 900
    row = against(ms).iloc[0]
    assert (row["lower"], row["outcome_latency"]) == ("double_attention", "cheaper_at_more_n")
    assert words(row) == (
        "cheaper even at more positions (no N in common: non-local order N = 900–2500, double "
        "attention 25–484): at double attention's largest N, 484, it took 0.484 ms, 5.38× "
        "non-local order's 0.0900 ms at its smallest, N = 900 (1.9× more positions)")


def test_the_lower_block_faster_gets_the_two_figures_and_no_word_of_cheaper():
    row = against(gap(nl_per_n2=1e-9)).iloc[0]  # 0.194 ms at N = 441
    assert row["outcome_latency"] == "figures_only"
    said = words(row)
    assert said == ("no N in common (non-local order N = 36–441, double attention 900–2500): "
                    "at its largest N, 441, it took 0.194 ms; double attention took 0.900 ms "
                    "at its smallest, N = 900 (2.0× more positions)")
    assert "cheaper" not in said and "costlier" not in said


def test_noise_overhead_and_several_machines_leave_the_figures_unread():
    # 0.9 ms against 0.9045: within two standard errors (1 % each at least) of each other
    row = against(gap(nl_per_n2=0.9045e-3 / 441 ** 2)).iloc[0]
    assert row["outcome_latency"] == "within_noise"
    assert words(row).endswith(": the same within their noise") and "costlier" not in words(row)
    # double attention's per-call overhead, timed directly, is half its 0.9 ms or more
    entry = {"block": "double_attention", "device": "cpu", "dtype": "float32", "batch": 1,
             "channels": 64, "t": 1, "h": 1, "w": 1, "m": 16, "n": 16, "median_s": 9.0,
             "samples_s": [5e-4] * 20}
    env = {"overhead": {"empty_module_s": 1e-6, "cases": [entry]}}
    row = against(gap(), env).iloc[0]
    assert row["outcome_latency"] == "overhead_bound"
    assert "the per-call overhead is half a block's time there or more" in words(row)
    assert "costlier" not in words(row)
    # the two figures from two machines: not compared
    ms = [replace(m, host="node2" if m.case.block == "double_attention" else "node1")
          for m in gap()]
    row = against(ms).iloc[0]
    assert row["outcome_latency"] == "across_nodes" and "2 nodes" in row["reason_latency"]
    assert words(row).endswith("not compared: the two figures ran on different machines")


@pytest.mark.parametrize("nl, why", [
    ({"c": 128}, "other channels"),
    ({"t": 2}, "other frames"),
    ({"h": 1}, "another aspect: N through w alone"),
])
def test_no_row_where_anything_but_positions_differs(nl, why):
    ms = sweep("double_attention", HIGH, 1e-6)
    ms += sweep("nonlocal_right", (6, 8, 11, 15) if "h" not in nl else (36, 64, 121, 225),
                1e-8, power=2, **nl)
    assert against(ms).empty, why


def test_overlapping_n_are_interpolated_not_set_across_a_gap():
    ms = sweep("double_attention", (5, 7, 9, 12, 16, 22), 1e-6) + sweep(
        "nonlocal_right", LOW, 1e-8, power=2)
    assert list(against(ms)["latency_basis"]) == ["interpolated"]


def test_the_headline_prefers_shared_then_interpolated_then_disjoint():
    # t = 1: shared N (4 of them); t = 2: no N in common
    ms = [measured(case(b, s), f * s ** (2 * p)) for s in (5, 10, 20, 40)
          for b, f, p in (("double_attention", 1e-6, 1), ("nonlocal_right", 1e-8, 2))]
    ms += sweep("double_attention", HIGH, 1e-6, t=2)
    ms += sweep("nonlocal_right", LOW, 1e-8, power=2, t=2)
    table = against(ms)
    assert list(table["latency_basis"]) == ["shared", "disjoint"]
    line = headline_line(table)
    assert "16.0× its time at N = 1600" in line and "no N in common" not in line
    # interpolated (t = 1) before disjoint (t = 2)
    ms = sweep("double_attention", (5, 7, 9, 12, 16, 22), 1e-6) + sweep(
        "nonlocal_right", LOW, 1e-8, power=2)
    ms += sweep("double_attention", HIGH, 1e-6, t=2)
    ms += sweep("nonlocal_right", LOW, 1e-8, power=2, t=2)
    table = against(ms)
    assert list(table["latency_basis"]) == ["interpolated", "disjoint"]
    line = headline_line(table)
    assert "interpolated" in line and "no N in common" not in line


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report draws no figure: these tests read its words and its csv, which the figures do
    not change (drawing them was most of each report's time)."""
    from a2bench import report

    monkeypatch.setattr(report, "draw_figures", lambda result, out: [])


def test_a_report_says_it_in_the_headline_the_section_and_the_csv(tmp_path: Path, no_figures):
    out, md = synthetic_report(tmp_path, gap())
    head = headline_of(md)
    assert ("- auto: latency against double attention: non-local order (m=16 n=16) at c=64 b=1: "
            "costlier even at fewer positions (no N in common: non-local order N = 36–441, "
            "double attention 900–2500): at its largest N, 441, it took 1.94 ms, 2.16× double "
            "attention's 0.900 ms at its smallest, N = 900 (2.0× more positions) (each metric and "
            "setting under Each block against double attention)") in head
    section = md.split("## Each block against double attention", 1)[1].split("\n## ", 1)[0]
    assert "latency costlier even at fewer positions (no N in common:" in section
    assert "MACs and peak memory: not compared (no N in common)." in section
    cross = pd.read_csv(out / "block_crossovers.csv")
    assert list(cross[["latency_basis", "lower", "lower_n", "upper_n"]].iloc[0]) == [
        "disjoint", "nonlocal_right", 441, 900]


def published_report(tmp_path: Path, folder: str) -> str:
    """The report of a copy of a published run: its headline."""
    run = tmp_path / Path(folder).name
    shutil.copytree(ROOT / "results" / folder, run)
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    return headline_of((out / "report.md").read_text())


def test_the_published_auto_b2_run_gets_its_answer(tmp_path: Path, no_figures):
    # results/cpu-auto-heldout/auto-attention-b2-1: the non-local order at N = 4624-14400,
    # double attention at 44944-524176; the brief's line, measured figures only
    head = published_report(tmp_path, "cpu-auto-heldout/auto-attention-b2-1")
    assert ("auto-attention-b2-1: latency against double attention: non-local order (m=32 n=48) "
            "at c=128 b=2: costlier even at fewer positions (no N in common: non-local order "
            "N = 4624–14400, double attention 44944–524176): at its largest N, 14400, it took "
            "954 ms, 10.7× double attention's 89.0 ms at its smallest, N = 44944 (3.1× more "
            "positions)") in head


def test_a_published_training_run_is_set_against_its_own_setting(tmp_path: Path, no_figures):
    # every case a training step: the line sets the blocks its verdict table fits
    head = published_report(tmp_path, "gpu-nvidia-h200-auto-training-both")
    assert ("latency against double attention [train]: non-local order [train] (m=128 n=128) at "
            "c=256 b=1: costlier even at fewer positions (no N in common: non-local order "
            "[train] N = 28224–85264, double attention [train] 219024–929296): at its largest "
            "N, 85264, it took 276 ms, 7.27× double attention [train]'s 37.9 ms at its "
            "smallest, N = 219024 (2.6× more positions)") in head


def test_every_published_run_with_no_n_in_common_gets_a_disjoint_row():
    folders = [f"cpu-auto-heldout/auto-attention-b2-{i}" for i in (1, 2, 3, 4, 5, 7)]
    folders += ["gpu-nvidia-h200-auto-positions", "gpu-nvidia-h200-auto-training-both"]
    for folder in folders:
        data, runs = an.load_runs([ROOT / "results" / folder])
        table = an.crossovers_against(data, an.REFERENCE, {r.label: r.environment for r in runs})
        assert list(table["latency_basis"]) == ["disjoint"], folder
        assert table.iloc[0]["outcome_latency"] == "costlier_at_fewer_n", folder
    # b2-6's N overlap: read as before (interpolated), not across a gap
    data, runs = an.load_runs([ROOT / "results" / "cpu-auto-heldout" / "auto-attention-b2-6"])
    table = an.crossovers_against(data, an.REFERENCE, {r.label: r.environment for r in runs})
    assert "disjoint" not in set(table["latency_basis"])
    # a run of other blocks alone has no double attention to set them against
    data, _ = an.load_runs([ROOT / "results" / "cpu-auto-heldout" / "auto-others-1"])
    assert an.crossovers_against(data).empty


def test_milliseconds_keep_three_figures():
    from a2bench.formatting import ms_text

    assert [ms_text(s) for s in (0.954256, 0.089014, 0.0041712, 1.119068, 0.0009, math.nan)] == [
        "954 ms", "89.0 ms", "4.17 ms", "1119 ms", "0.900 ms", "n/a"]
    # at the boundary: what rounds to 100 at 3 figures is whole ("100. ms" before); under it,
    # 3 figures; negative alike
    assert [ms_text(s) for s in (0.09996, 0.0999499, 0.1, -0.09996, 0.0099996)] == [
        "100 ms", "99.9 ms", "100 ms", "-100 ms", "10.0 ms"]


def test_every_crossover_reads_its_overheads_through_one_helper(monkeypatch):
    # crossovers and crossovers_against's shared, interpolated and disjoint paths each rebuilt
    # the sides' fixed sizes and setting and called direct_overhead twice, reading mode and
    # compile from different places (crossovers had them typed in): one helper,
    # crossover.run_overheads, now serves all four, the setting read from the rows
    from a2bench.analysis import crossover

    calls: list[tuple[str, dict, dict]] = []

    def spy(env, block, fixed, kind):
        calls.append((block, dict(fixed), dict(kind)))
        return math.nan

    monkeypatch.setattr(crossover, "direct_overhead", spy)
    envs = {"auto": {"overhead": {"cases": []}}}
    fixed = {"channels": 64, "batch": 1, "m": 16, "n": 16}

    def setting(ms: list[Measurement], **how) -> list[Measurement]:
        return [measured(replace(m.case, **how), m.latency_s) for m in ms]

    shared = sweep("double_attention", HIGH, 1e-6) + sweep("nonlocal_right", HIGH, 1e-8, 2)
    interpolated = (sweep("double_attention", (5, 7, 9, 12, 16, 22), 1e-6)
                    + sweep("nonlocal_right", (6, 8, 11, 15, 21), 1e-8, 2))
    for ms, how, basis in ((shared, {}, "shared"),
                           (setting(interpolated, mode="train"), {"mode": "train"},
                            "interpolated"),
                           (setting(gap(), compile=True), {"compile": True}, "disjoint")):
        data = an.prepare(an.frame(ms, "auto"))
        kind = {"dtype": "float32", "mode": "forward", "compile": False, **how}
        if basis == "shared":
            calls.clear()
            an.crossovers(data, environments=envs)  # the study's pair, plain forward
            assert calls == [(b, fixed, kind) for b in ("double_attention", "nonlocal_right")]
        calls.clear()
        table = an.crossovers_against(data, an.REFERENCE, envs)
        assert list(table["latency_basis"]) == [basis]
        suffix = "[train]" if how.get("mode") else "[compiled]" if how else ""
        assert calls == [(f"{b}{suffix}", fixed, kind)
                         for b in ("double_attention", "nonlocal_right")]
