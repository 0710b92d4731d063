"""The roofline figure names each run's roof: three GPU roofs, grey and on top of one another,
had been told apart by their dash patterns alone (results/report/roofline.png)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
from test_report import draw_only, results_folder

from a2bench.cli import main


def test_each_roof_ends_in_its_runs_marker_and_none_hides_another(tmp_path: Path,
                                                                   monkeypatch):
    from a2bench.report import figures as rp

    runs = [results_folder(tmp_path / "run-a"), results_folder(tmp_path / "run-b", seed=1),
            results_folder(tmp_path / "run-c", seed=2, gemm_flops_per_s=1.6e11)]
    seen = {}
    save = rp._save

    def spy(fig, out, name):
        if name == "roofline.png":
            ax = fig.axes[0]
            legend = ax.get_legend()
            seen["legend"] = {t.get_text(): h.get_marker()
                              for h, t in zip(legend.legend_handles, legend.get_texts(),
                                              strict=True)}
            seen["roofs"] = [line for line in ax.get_lines() if "roof:" in line.get_label()]
            seen["ends"] = [ax.transData.transform(
                np.column_stack(line.get_data())[line.get_markevery()][0])
                for line in seen["roofs"]]
            seen["points"] = max(line.get_markersize() for line in seen["roofs"]) * fig.dpi / 72
        return save(fig, out, name)

    monkeypatch.setattr(rp, "_save", spy)
    draw_only(monkeypatch, roofline=True)  # the other figures, most of the time, are not read
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "out")]) == 0
    assert len(seen["roofs"]) == 3
    for line in seen["roofs"]:
        run = line.get_label().partition(":")[0]
        # the roof's marker is its run's, in the plot and in the legend
        assert line.get_marker() not in ("None", None, "")
        assert line.get_marker() == seen["legend"][run] == seen["legend"][line.get_label()]
        assert len(line.get_markevery()) == 1  # at its end alone, not along it
    assert len({line.get_marker() for line in seen["roofs"]}) == 3
    # two roofs alike and a third 7% above: three markers, none over another
    for a, b in itertools.combinations(seen["ends"], 2):
        assert math.dist(a, b) >= seen["points"], (a, b)


def test_a_marker_stepped_left_of_its_own_end_lands_on_no_other():
    """Two roofs whose ridges end them at 30 and 32 FLOP/byte, at about one height: the second's
    marker had stepped a marker's width left of its own end, onto the first's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from a2bench.report.plotting import _mark_line_ends

    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    lines = [ax.plot(xs, np.full_like(xs, height), marker="o", ms=8)[0]
             for xs, height in ((np.geomspace(0.1, 30, 200), 100.0),
                                (np.geomspace(0.1, 32, 200), 104.0))]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(0.05, 100)
    ax.set_ylim(1, 1000)
    _mark_line_ends(ax, lines)
    ends = [ax.transData.transform(np.column_stack(line.get_data())[line.get_markevery()][0])
            for line in lines]
    assert lines[0].get_markevery() == [199]  # the first at its end
    assert math.dist(*ends) >= 8 * fig.dpi / 72, ends  # the second beside it, not over it
    plt.close(fig)
