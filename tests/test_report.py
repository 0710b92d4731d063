"""`a2bench report` end to end on synthetic results folders: files, contents, errors, browser."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.cli import main
from a2bench.measurement import Measurement
from a2bench.run.store import ResultsWriter

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SIDES = (4, 6, 8, 11, 16, 23, 32, 45, 64, 90, 128)  # N on a √2 grid
FIT_HEADER = ["block", "metric", "axis", "exponent", "ci_low", "ci_high", "expected", "verdict"]
SUMMARY_KEYS = {"fits", "crossovers", "environment", "headline"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FEW_DPI = 20  # a figure saved for what it draws, not for its pixels (draw_only)


def record(c: Case, seconds_per_mac: float, rng: np.random.Generator,
           status: str = "ok", counted: bool = True) -> Measurement:
    cost = cost_of(c)
    if status != "ok":
        return Measurement(case=c, status=status, reason="synthetic failure").with_cost(cost)
    latency = (cost.macs * seconds_per_mac + 2e-6) * math.exp(rng.normal(0, 0.03))
    macs = cost.macs if counted else None  # a run with --no-counters counts nothing
    return Measurement(case=c, status="ok", threads=2, macs_torch=macs,
                       macs_fvcore=macs, latency_s=latency, latency_iqr_s=0.02 * latency,
                       peak_bytes=cost.peak_bytes, timed_runs=10).with_cost(cost)


def results_folder(path: Path, *, seconds_per_mac: float = 1e-10, sides=SIDES, seed: int = 0,
                   resnet: bool = False, failures: bool = False,
                   gemm_flops_per_s: float = 1.5e11, counted: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    w = ResultsWriter(path, resume=False)
    if resnet:
        shapes = [(256, 56), (512, 28), (1024, 14), (2048, 7)]
        cases = [Case(b, "cpu", "float32", 1, c, 1, s, s, m=c // 4, n=c // 4)
                 for c, s in shapes for b in ("double_attention", "nonlocal_right")]
        cases += [Case("se", "cpu", "float32", 1, c, 1, s, s, reduction=16) for c, s in shapes]
    else:
        cases = []
        for s in sides:
            cases += [Case(b, "cpu", "float32", 1, 64, 1, s, s, m=16, n=16)
                      for b in ("double_attention", "nonlocal_right")]
            cases.append(Case("se", "cpu", "float32", 1, 64, 1, s, s, reduction=16))
    for c in cases:
        w.append(record(c, seconds_per_mac, rng, counted=counted))
    if failures:
        w.append(record(Case("nonlocal_right", "cpu", "float32", 1, 64, 1, 512, 512, m=16, n=16),
                        seconds_per_mac, rng, status="skipped"))
    w.write_environment({
        "cpu_model": "Synthetic CPU", "physical_cores": 2, "logical_cores": 2, "threads": 2,
        "torch": "0.0-synthetic", "python": "3.11", "suite": "synthetic",
        "roofline": {"device": "cpu", "gemm_flops_per_s": gemm_flops_per_s,
                     "bandwidth_bytes_per_s": 2e10},
    })
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("single")
    run = results_folder(base / "cpu-run", failures=True)
    out = base / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    return out


def images_in(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


def test_report_writes_every_file(report: Path):
    for name in ("fits.csv", "summary.json", "report.md", "index.html"):
        assert (report / name).stat().st_size > 0, name
    pngs = sorted(report.glob("*.png"))
    assert {p.name for p in pngs} >= {"fit_positions_macs.png", "fit_positions_latency.png",
                                      "fit_positions_memory.png", "crossover_ratio.png",
                                      "roofline.png"}
    for p in pngs:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, p


def test_fits_csv_columns_and_values(report: Path):
    with open(report / "fits.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:8] == FIT_HEADER
    fits = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    primary = {(r["block"], r["metric"]): r for r in fits
               if r["axis"] == "positions" and r["primary"] == "True"}
    assert float(primary[("double_attention", "macs")]["exponent"]) == pytest.approx(1.0)
    assert primary[("nonlocal_right", "memory")]["verdict"] == "consistent"
    assert {r["verdict"] for r in fits} <= {"consistent", "contradicted", "inconclusive"}
    assert all(r["reason"] for r in fits)
    lat = primary[("double_attention", "latency")]
    assert float(lat["fit_x_min"]) > 16 and float(lat["overhead"]) > 0  # overhead rows left out


def test_cases_csv_holds_counts_to_the_unit(report: Path):
    # %.6g had printed a peak of 23855104 B as 2.38551e+07: "measured = model" was uncheckable
    cases = pd.read_csv(report / "cases.csv")
    kept = pd.read_csv(report.parent / "cpu-run" / "results.csv")
    for col in ("macs_analytic", "peak_bytes", "peak_bytes_analytic"):
        assert set(cases[col].dropna()) <= set(kept[col].dropna())
    assert (cases["peak_bytes"] >= 1e6).any()  # counts of 7 digits or more, which %.6g rounds


def test_summary_json(report: Path):
    s = json.loads((report / "summary.json").read_text())
    assert set(s) >= SUMMARY_KEYS
    assert s["headline"]["verdict"] == "confirmed"
    assert len(s["fits"]) >= 9
    cross = s["crossovers"][0]
    assert cross["n_star_predicted"] == pytest.approx(16)  # 2mn/(m+n) with m = n = 16
    assert s["environment"]["cpu-run"]["roofline"]["gemm_flops_per_s"] == 1.5e11
    assert all((report / f).is_file() for f in s["figures"])


def test_html_shows_the_images_beside_it_and_nothing_external(report: Path):
    html = (report / "index.html").read_text()
    srcs = images_in(html)
    assert len(srcs) >= 5
    for src in srcs:
        assert "/" not in src and (report / src).stat().st_size > 0
    assert "http://" not in html and "https://" not in html
    assert "<table>" in html and "CONFIRMED" in html


def test_a_figure_is_drawn_no_narrower_than_its_legends_can_be_read(report: Path):
    """On a 390-pixel phone the page had shrunk a three-panel figure to its width, legends 2.5
    pixels tall: each image now says its size and its least width, and the page keeps that
    width on a screen narrower than its column, in a box that scrolls as a wide table's does."""
    from PIL import Image as PILImage

    from a2bench.report.plotting import DPI, LEGEND_PT
    from a2bench.report.render import _environment

    html = (report / "index.html").read_text()
    tags = re.findall(r'<figure style="--least: (\d+)px"><p class="wide"[^>]*>[^<]*</p>'
                      r'<div class="scroll"><a href="([^"]+)"[^>]*><img src="([^"]+)"'
                      r' alt="[^"]*" width="(\d+)" height="(\d+)">', html)
    assert len(tags) == len(images_in(html)) >= 5
    for least, href, src, width, height in tags:
        with PILImage.open(report / src) as im:
            assert href == src and im.size == (int(width), int(height))
        scale = int(least) / int(width)  # CSS pixels per pixel of the PNG at its least width
        assert scale <= 1 and LEGEND_PT / 72 * DPI * scale >= 8.99, (src, least)
    css = _environment().loader.get_source(_environment(), "report.css")[0]
    assert re.search(r"@media \(width < 77rem\) \{ figure img \{ min-width: var\(--least", css)
    # a border past the column's width had scrolled a desktop's box by 2 pixels
    assert "box-sizing: border-box" in re.search(r"figure img \{[^}]*\}", css).group(0)


def test_markdown_states_units_and_embeds_figures(report: Path):
    md = (report / "report.md").read_text()
    for text in ("multiply-accumulates", "seconds", "bytes", "## Headline", "## Environment",
                 "## Scaling exponents", "## Crossover", "## Roofline", "Synthetic CPU",
                 "Cases without a measurement"):
        assert text in md, text
    for src in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (report / src).is_file()
    assert "nan" not in md.lower().replace("nanosecond", "")


def test_two_folders_are_compared_side_by_side(tmp_path: Path, capsys, no_figures):
    cpu = results_folder(tmp_path / "cpu" / "results", sides=SIDES[:6])
    gpu = results_folder(tmp_path / "gpu" / "results", seconds_per_mac=1e-12, seed=1,
                         sides=SIDES[:6])
    out = tmp_path / "report"
    assert main(["report", str(cpu), str(gpu), "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    labels = [r["label"] for r in s["runs"]]
    assert labels == ["cpu/results", "gpu/results"]
    assert {f["run"] for f in s["fits"]} == set(labels)
    assert set(s["environment"]) == set(labels)
    assert set(s["headline"]["runs"]) == set(labels)
    md = (out / "report.md").read_text()
    assert "| axis | block | metric | cpu/results | gpu/results |" in md
    assert "## Runs side by side" in md and "gpu/results ÷ cpu/results" in md
    assert "cpu/results" in capsys.readouterr().out


def test_a_report_inside_its_run_names_the_folder_as_a_folder(tmp_path: Path, no_figures):
    run = results_folder(tmp_path / "swept", sides=SIDES[:3])
    assert main(["report", str(run)]) == 0  # into run/report, as `make report` writes it
    md = (run / "report" / "report.md").read_text()
    assert "results folder(s): swept (../, " in md, md.split("results folder(s):")[1][:80]


def test_a_run_without_sweeps_still_reports(tmp_path: Path, monkeypatch):
    draw_only(monkeypatch, sizes=True)  # the figure read below
    run = results_folder(tmp_path / "resnet", resnet=True)
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    with open(out / "fits.csv", newline="") as f:
        assert next(csv.reader(f))[:8] == FIT_HEADER
    s = json.loads((out / "summary.json").read_text())
    assert s["headline"]["verdict"] == "not swept"
    assert (out / "sizes.png").stat().st_size > 0
    md = (out / "report.md").read_text()
    assert "56×56" in md and "nothing to fit" in md


@pytest.mark.parametrize("resnet", [False, True])
def test_a_run_with_no_counters_reports_without_a_macs_figure(tmp_path: Path, resnet: bool,
                                                             monkeypatch):
    # --no-counters leaves the measured MACs empty: no MACs fit to draw, and a sizes figure
    # whose MACs panel has nothing for a log axis (both raised in matplotlib before).
    draw_only(monkeypatch, fits=("macs", "latency"), sizes=True)  # the figures read below
    run = results_folder(tmp_path / "uncounted", resnet=resnet, counted=False,
                         sides=SIDES[:6])
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert not (out / "fit_positions_macs.png").exists()
    assert (out / "sizes.png").stat().st_size > 0
    if not resnet:
        assert (out / "fit_positions_latency.png").stat().st_size > 0
        assert "double attention MACs: not measured along positions" in (
            out / "report.md").read_text()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(empty) in err and "results.jsonl" in err
    w = ResultsWriter(tmp_path / "failed", resume=False)
    w.append(Measurement(case=Case("se", "cpu", "float32", 1, 16, 1, 4, 4, reduction=4),
                         status="error", reason="boom"))
    assert main(["report", str(tmp_path / "failed"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no ok results" in err
    assert main(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    # a run stopped before its first result: a2bench's own folder, and the way on
    early = tmp_path / "early"
    early.mkdir()
    (early / "environment.json").write_text(json.dumps({
        "suite": "smoke", "suite_path": "suites/smoke.yaml", "run_flags": ["--passes", "1"],
        "ended": "interrupted"}))
    assert main(["report", str(early), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stored no result before it stopped (interrupted)" in err
    assert f"a2bench run suites/smoke.yaml --out {early} --resume --passes 1" in err


def test_rerun_replaces_old_figures_and_only_those(tmp_path: Path, capsys, report: Path,
                                                   no_figures):
    out = tmp_path / "report"
    shutil.copytree(report, out)  # an earlier report, of a swept run
    assert (out / "fit_positions_latency.png").exists()
    (out / "mine.png").write_bytes(b"a user's own image")
    run = results_folder(tmp_path / "run", resnet=True)
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert not (out / "fit_positions_latency.png").exists()  # the earlier report's figure
    assert (out / "mine.png").read_bytes() == b"a user's own image"
    # --out that is a file, or under one: one line, exit 2, the file untouched
    results = run / "results.csv"
    before = results.read_bytes()
    for bad in (results, results / "report"):
        capsys.readouterr()
        assert main(["report", str(run), "--out", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"a2bench: error: --out {bad}: ")
    assert results.read_bytes() == before


def test_a_report_out_is_judged_as_a_report_folder_not_a_runs(tmp_path: Path, capsys):
    """report --out was checked as run's --out: a file read "expected a folder for the run (new,
    or one with no other results)", and a folder holding the user's own results.csv, which no
    report writes, was refused for "a new or empty folder, or a run's own", which is refused."""
    run = results_folder(tmp_path / "run", sides=SIDES[:3])
    afile, mine = tmp_path / "notes.txt", tmp_path / "mine"
    afile.write_text("mine\n")
    mine.mkdir()
    (mine / "results.csv").write_text("my,own\n1,2\n")
    assert main(["report", str(run), "--out", str(afile)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"a2bench: error: --out {afile}: is a file; expected a folder")
    assert main(["report", str(run), "--out", str(mine)]) == 0
    assert (mine / "results.csv").read_text() == "my,own\n1,2\n"
    assert (mine / "report.md").is_file()


@pytest.mark.parametrize("name", ["report.md", "index.html"])
def test_a_folder_holding_a_users_own_report_file_is_refused(tmp_path: Path, capsys, name):
    """The report rewrites an earlier report's files; one of the user's by the same name (their
    own report.md) is refused in one line and kept."""
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / name).write_text("my own notes\n")
    run = results_folder(tmp_path / "run")
    assert main(["report", str(run), "--out", str(mine)]) == 2
    article = "an" if name == "index.html" else "a"  # it had read "a index.html"
    assert capsys.readouterr().err.strip() == (
        f"a2bench: error: --out {mine}: holds {article} {name} that is not an a2bench "
        "report's, which the report would overwrite; expected an empty folder, a new one, or "
        "an earlier report's")
    assert [p.name for p in mine.iterdir()] == [name]
    assert (mine / name).read_text() == "my own notes\n"


def test_a_table_only_an_earlier_report_wrote_is_removed_and_the_folder_stays_its_own(
        tmp_path: Path, capsys, monkeypatch):
    """A table written only sometimes (modes.csv, of a run with train cases) had stayed on disk
    after a report of another run into the folder, dropped from .a2bench-report, so that the
    next report there refused it as the user's own."""
    from a2bench import report

    run, out = results_folder(tmp_path / "run", sides=SIDES[:3]), tmp_path / "report"
    monkeypatch.setattr(report, "draw_figures", lambda result, out: [])  # not under test
    real = report.write_tables

    def with_modes(result, out):
        (out / "modes.csv").write_text("mode\nforward\ntrain\n")
        return [*real(result, out), out / "modes.csv"]

    for modes in (True, False, True):
        with monkeypatch.context() as m:
            if modes:
                m.setattr(report, "write_tables", with_modes)
            assert main(["report", str(run), "--out", str(out)]) == 0, capsys.readouterr().err
        assert (out / "modes.csv").exists() == modes  # not beside a report it is not of


def test_a_folder_holding_a_users_own_table_or_a_runs_results_is_refused(
        tmp_path: Path, capsys, monkeypatch):
    """`report --out mine` had overwritten the user's own fits.csv and cases.csv (only report.md
    and index.html were guarded), and `--out OTHER_RUN` had written its files among that run's
    results. Both are refused in one line with nothing written; a report's own folder stays
    re-writable: one this a2bench wrote (.a2bench-report names its files), one an earlier
    a2bench wrote (its summary.json), and one whose report was cut short writing its tables."""
    from a2bench import report

    run = results_folder(tmp_path / "run", sides=SIDES[:3])
    mine, other = tmp_path / "mine", results_folder(tmp_path / "other", sides=SIDES[:3])
    mine.mkdir()
    (mine / "fits.csv").write_text("my,own,data\n")
    (mine / "cases.csv").write_text("my notes\n")
    for out, said in (
            (mine, "holds cases.csv and fits.csv, which the report would overwrite and no "
                   "a2bench report wrote; expected an empty folder, a new one, or an earlier "
                   "report's"),
            (other, "is a run's results folder, and the report's files would be written among "
                    f"that run's results; expected a folder of its own, e.g. --out "
                    f"{other / 'report'}")):
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        assert main(["report", str(run), "--out", str(out)]) == 2
        assert capsys.readouterr().err.strip() == f"a2bench: error: --out {out}: {said}"
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    out = tmp_path / "report"
    monkeypatch.setattr(report, "draw_figures", lambda result, out: [])  # not under test
    for step in ("new", "again", "an earlier a2bench's"):
        if step == "an earlier a2bench's":
            (out / report.CLAIM).unlink()
        assert main(["report", str(run), "--out", str(out)]) == 0, capsys.readouterr().err
    assert set(json.loads((out / report.CLAIM).read_text())["files"]) == {
        p.name for p in out.iterdir() if p.name != report.CLAIM}
    # every file it wrote is one report_names guards (a table added to write_tables alone
    # would be written over a user's file of that name unchecked)
    from a2bench import analysis as an

    assert {p.name for p in out.iterdir()} - {report.CLAIM} <= report.report_names(
        an.load_runs([run])[0])
    real = report.write_tables

    def killed_after_fits(result, out):
        real(result, out)
        raise KeyboardInterrupt  # a kill, once the tables are written and before any page

    for p in out.iterdir():  # a new folder
        p.unlink()
    with monkeypatch.context() as m:
        m.setattr(report, "write_tables", killed_after_fits)
        with pytest.raises(KeyboardInterrupt):
            report.build_report([run], out)
    assert (out / "fits.csv").exists() and not (out / "summary.json").exists()
    assert main(["report", str(run), "--out", str(out)]) == 0, capsys.readouterr().err


def test_a_report_killed_as_it_writes_a_page_leaves_none_that_blocks_the_next(
        tmp_path: Path, monkeypatch):
    """A report killed as it wrote index.html (SIGKILL after the file was opened) had left it
    empty, and every later report into the folder was refused: "holds a index.html that is
    not an a2bench report's". Pages are written whole (a temporary file, renamed), and a page
    that holds only a part of its opening, or nothing, is one a report was cut short writing."""
    import builtins
    import io

    from a2bench import report

    run, out = results_folder(tmp_path / "run", sides=SIDES[:3]), tmp_path / "report"
    monkeypatch.setattr(report, "draw_figures", lambda result, out: [])  # not under test
    real = builtins.open

    def killed_writing_the_page(file, mode="r", *args, **kwargs):
        f = real(file, mode, *args, **kwargs)
        if "w" in mode and Path(file).name.startswith("index.html"):
            f.close()  # the file as the kill left it: opened, nothing written
            raise KeyboardInterrupt  # a BaseException the report lets through, as a kill
        return f

    with monkeypatch.context() as m:  # Path.write_text opens by io.open, the rest by open
        m.setattr(builtins, "open", killed_writing_the_page)
        m.setattr(io, "open", killed_writing_the_page)
        with pytest.raises(KeyboardInterrupt):
            report.build_report([run], out)
    assert not (out / "index.html").exists()  # none, rather than an empty one
    report.build_report([run], out)  # the next report goes on over what was left
    assert (out / "index.html").read_text().startswith(report.PAGE_OPENING)
    assert not (out / "index.html.tmp").exists()
    # a page an earlier a2bench cut short: empty, or a part of its opening
    for cut in ("", report.PAGE_OPENING[:30]):
        (out / "index.html").write_text(cut)
        (out / "report.md").write_text(cut and "# a2bench sca")
        assert report._not_a_report(out) is None
    (out / "index.html").write_text("<!DOCTYPE html>\n<html><head><title>Mine</title>")
    assert "holds an index.html that is not" in report._not_a_report(out)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                    "(apt-get install -y chromium) to screenshot the HTML")
def test_html_renders_in_headless_chromium(report: Path, tmp_path: Path):
    shot = tmp_path / "page.png"
    script = ROOT / "scripts" / "check_report_html.sh"
    done = subprocess.run(["bash", str(script), str(report), str(shot), "4000"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 4000)
        gray = np.asarray(im.convert("L"), dtype=float)
    # A page that rendered text, tables and figures is far from one flat colour.
    assert gray.std() > 20
    assert (gray < 100).mean() > 0.005  # dark pixels: text and plot lines


def test_check_script_flags_a_missing_image(report: Path, tmp_path: Path):
    if not shutil.which("bash"):
        pytest.skip("needs bash")
    broken = tmp_path / "broken"
    shutil.copytree(report, broken)
    (broken / "roofline.png").unlink()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check_report_html.sh"), str(broken)],
                          capture_output=True, text=True, timeout=60,
                          env={"CHROMIUM": "/bin/true", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1 and "roofline.png" in done.stderr


def test_a_failed_calibration_is_said_and_no_fraction_above_one_is_printed(tmp_path: Path,
                                                                          no_figures):
    # 1e-10 s per MAC is 20 GFLOP/s; a 1 GFLOP/s "ceiling" cannot be one.
    run = results_folder(tmp_path / "run", sides=SIDES[:6], gemm_flops_per_s=1e9)
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "the float32 calibration failed" in md
    with open(out / "cases.csv", newline="") as f:
        fractions = [r["fraction_of_peak"] for r in csv.DictReader(f)]
    assert fractions and all(v == "" for v in fractions)
    roofline = md.split("## Roofline", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in roofline.splitlines() if line.startswith("| double attention")]
    assert rows and all("calibration failed" in line for line in rows)
    with open(out / "findings.csv", newline="") as f:
        findings = list(csv.DictReader(f))
    assert any(r["kind"] == "calibration_failed" for r in findings)


def catch_figures(mp: pytest.MonkeyPatch) -> SimpleNamespace:
    """What each figure shows, by its file name, caught as it is written: `legends` (every
    legend's texts, a panel's and the figure's), `titles` (each panel's), `sizes` (the point
    size of each text drawn, legends' apart) and `over` (whether a panel's legend overlaps
    its own axes)."""
    from matplotlib.text import Text

    from a2bench.report import figures as rp  # the figures write their files through it

    seen = SimpleNamespace(legends={}, titles={}, sizes={}, over={})
    save = rp._save

    def spy(fig, out, name):
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
        seen.legends[name] = [t.get_text() for leg in legends for t in leg.get_texts()]
        seen.titles[name] = [ax.get_title() for ax in fig.axes]
        seen.sizes[name] = SimpleNamespace(
            legend={t.get_fontsize() for leg in legends for t in leg.get_texts()},
            all={t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()})
        renderer = fig.canvas.get_renderer()
        seen.over[name] = [ax.get_legend().get_window_extent(renderer).overlaps(
            ax.get_window_extent(renderer)) for ax in fig.axes if ax.get_legend()]
        return save(fig, out, name)

    mp.setattr(rp, "_save", spy)
    return seen


@pytest.fixture
def drawn(monkeypatch) -> SimpleNamespace:
    """catch_figures for one test."""
    return catch_figures(monkeypatch)


@pytest.fixture
def no_figures(monkeypatch) -> None:
    """The report draws no figure: for a test of its pages' words or its tables, which the
    figures do not change (drawing them is most of a report's time)."""
    from a2bench import report

    monkeypatch.setattr(report, "draw_figures", lambda result, out: [])


def draw_only(mp: pytest.MonkeyPatch, *, fits: tuple[str, ...] = (), crossover: bool = False,
              roofline: bool = False, sizes: bool = False, pairs: bool = False) -> None:
    """The report draws only the figures a test reads (the others are most of its time): the
    fit figures of the metrics in `fits`, the crossover, roofline and sizes figures and the
    pair figures (train against forward, compiled against eager) if asked.
    Each of the others is left out as a run without its data leaves it out; the pages and
    tables still read the whole analysis. The figures drawn are saved at few dots an inch:
    what these tests read of them (texts, sizes in points, positions at the figure's own dpi)
    is drawn before the save and does not change with it, and none reads their pixels."""
    from a2bench import report
    from a2bench.report import figures as rp
    from a2bench.report import plotting

    real = report.draw_figures

    def only(result, out):
        none = pd.DataFrame()
        return real(replace(result, fits=result.fits[result.fits["metric"].isin(fits)],
                            crossovers=result.crossovers if crossover else none,
                            roofline=result.roofline if roofline else none,
                            modes=result.modes if pairs else none,
                            compiled=result.compiled if pairs else none), out)

    if not sizes:
        mp.setattr(rp, "_few_sizes", lambda data: False)
    mp.setattr(report, "draw_figures", only)
    mp.setattr(plotting, "DPI", FEW_DPI)


def toy_folder(path: Path, seed: int = 3) -> Path:
    """The three original blocks plus "toy", a block the built-in labels do not know: its MACs
    grow as N² (c·N²/8), and environment.json declares its labels as a2bench run records them."""
    from a2bench.cost import Cost, Term

    rng = np.random.default_rng(seed)
    w = ResultsWriter(path, resume=False)
    for s in SIDES:
        for b in ("double_attention", "nonlocal_right"):
            w.append(record(Case(b, "cpu", "float32", 1, 64, 1, s, s, m=16, n=16), 1e-10, rng))
        w.append(record(Case("se", "cpu", "float32", 1, 64, 1, s, s, reduction=16), 1e-10, rng))
        c = Case("toy", "cpu", "float32", 1, 64, 1, s, s, k=3)
        n = c.positions
        cost = Cost((Term("scores", 64 * n * n // 8, n * n, n * n),
                     Term("out", 64 * n, 64 * n, 64 * n)), 4)
        latency = (cost.macs * 1e-10 + 2e-6) * math.exp(rng.normal(0, 0.03))
        w.append(Measurement(case=c, status="ok", threads=2, macs_torch=cost.macs,
                             macs_fvcore=cost.macs, latency_s=latency,
                             latency_iqr_s=0.02 * latency, peak_bytes=cost.peak_bytes,
                             timed_runs=10).with_cost(cost))
    w.write_environment({
        "cpu_model": "Synthetic CPU", "threads": 2,
        "roofline": {"device": "cpu", "gemm_flops_per_s": 1.5e11, "bandwidth_bytes_per_s": 2e10},
        "blocks": {"toy": {"label": "Toy block", "short_label": "toy",
                           "params": [{"name": "k", "label": "toy width k", "short": "k",
                                       "choices": [], "default": 3}]}},
    })
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> SimpleNamespace:
    """toy_folder's run (`run`), its report (`out`) and what its figures showed (`drawn`, as
    catch_figures): the tests below read them, and none changes them."""
    base = tmp_path_factory.mktemp("toy")
    run, out = toy_folder(base / "run"), base / "report"
    with pytest.MonkeyPatch.context() as mp:
        drawn = catch_figures(mp)
        draw_only(mp, fits=("macs", "latency", "memory"), roofline=True)  # the figures read
        assert main(["report", str(run), "--out", str(out)]) == 0
    return SimpleNamespace(run=run, out=out, drawn=drawn)


def test_a_block_unknown_to_the_builtin_labels_is_labelled_tabled_and_drawn(toy):
    legends, out = toy.drawn.legends, toy.out
    md = (out / "report.md").read_text()
    assert "Toy block" in md
    # Old runs without "blocks" in environment.json keep the built-in labels.
    assert "SE (squeeze-excitation)" in md and "double attention (A², gather first)" in md
    complexity = md.split("## Complexity class per block", 1)[1].split("\n## ", 1)[0]
    assert md.index("## Complexity class per block") < md.index("## Environment")
    toy_row = next(line for line in complexity.splitlines() if line.startswith("| Toy block"))
    assert "N² (model" in toy_row and "measured" in toy_row
    against = md.split("## Each block against double attention", 1)[1].split("\n## ", 1)[0]
    assert "- toy (k=3) at c=64 b=1, against double attention m=16 n=16, N = 16–16384" in against
    # and beside the verdict, which is cheaper (it had been sections further down)
    head = md[md.index("## Headline"):md.index("## ", md.index("## Headline") + 3)]
    assert "latency against double attention: toy (k=3) at c=64 b=1: costlier from N ≈ 563, " \
           "27.3× its time at N = 16384; " in head
    assert "latency: costlier from N ≈" in against
    assert "latency: cheaper over the whole range" in against  # SE
    for name in ("fit_positions_macs.png", "fit_positions_latency.png",
                 "fit_positions_memory.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
        drawn = [t for t in legends[name] if t.startswith("Toy block: ")]
        assert len(drawn) == 1, legends[name]
    assert any(t == "Toy block" for t in legends["roofline.png"])
    with open(out / "complexity.csv", newline="") as f:
        rows = {(r["block"], r["metric"]): r for r in csv.DictReader(f)}
    assert set(rows) == {(b, m) for b in ("double_attention", "nonlocal_right", "se", "toy")
                         for m in ("macs", "latency")}
    assert float(rows[("toy", "macs")]["expected_class"]) == 2
    assert float(rows[("double_attention", "latency")]["expected_class"]) == 1
    with open(out / "block_crossovers.csv", newline="") as f:
        cross = {r["block"]: r for r in csv.DictReader(f)}
    assert set(cross) == {"nonlocal_right", "se", "toy"}
    assert math.isfinite(float(cross["toy"]["n_star_latency"]))
    s = json.loads((out / "summary.json").read_text())
    assert {"complexity", "block_crossovers"} <= set(s)


def test_block_colours_keep_the_study_pair_and_give_others_their_own():
    from a2bench import analysis as an
    from a2bench.report import PINNED_COLORS, block_colors

    blocks = ["toy", an.STUDY.right, "gc", an.STUDY.left, "criss_cross"]
    colors = block_colors(blocks)
    assert colors[an.STUDY.left] == "#1f77b4" and colors[an.STUDY.right] == "#d62728"
    assert len(set(colors.values())) == len(blocks)
    assert not {colors[b] for b in ("toy", "gc", "criss_cross")} & set(PINNED_COLORS.values())
    assert block_colors(["toy"]) == {"toy": colors["toy"]}  # by order, whatever else is there
    # the pair's variants (train, bf16, compiled) take shades of its hue, each its own; other
    # blocks past tab10's ten still get colours of their own
    import colorsys

    from matplotlib.colors import to_rgb

    variants = [an.STUDY.left] + [f"{an.STUDY.left}[v{i}]" for i in range(7)]
    many = block_colors([*variants, an.STUDY.right, f"{an.STUDY.right}[train]",
                         *(f"b{i}" for i in range(22))])
    assert len(set(many.values())) == len(many)
    hue = colorsys.rgb_to_hls(*to_rgb("#1f77b4"))[0]  # each within 15 degrees (0.04) of it
    assert all(abs(colorsys.rgb_to_hls(*to_rgb(many[v]))[0] - hue) < 0.045 for v in variants)
    assert many[an.STUDY.left] == "#1f77b4"
    assert block_colors([f"{an.STUDY.left}[train]"]) == {f"{an.STUDY.left}[train]": "#1f77b4"}


def test_report_source_names_no_block():
    files = [p for p in sorted((ROOT / "a2bench" / "report").rglob("*"))
             if p.suffix in (".py", ".j2", ".css")]
    assert len(files) > 5
    for path in files:
        source = path.read_text()
        for name in ("nonlocal_right", "double_attention", '"se"', "'se'", "criss_cross"):
            assert name not in source, (path.name, name)


def test_train_compiled_and_bf16_runs_get_their_sections_tables_and_figures(tmp_path: Path,
                                                                           drawn, monkeypatch):
    from a2bench.report import plotting

    # every figure is drawn (their texts' sizes are read), saved at few dots an inch: the
    # sizes are in points and the overlaps are read before the save, at the figure's own dpi
    monkeypatch.setattr(plotting, "DPI", FEW_DPI)
    rng = np.random.default_rng(5)
    w = ResultsWriter(tmp_path / "run", resume=False)
    for s in (8, 11, 16, 23, 32):
        for b in ("nonlocal_right",):
            for dtype, mode, compiled in (("float32", "forward", False),
                                          ("float32", "train", False),
                                          ("bfloat16", "forward", False),
                                          ("float32", "forward", True)):
                c = Case(b, "cpu", dtype, 1, 32, 1, s, s, m=8, n=8, mode=mode, compile=compiled)
                m = record(c, 1e-10 * (0.5 if compiled else 1), rng)
                w.append(replace(m, first_call_s=2.0 if compiled else 1e-3,
                                 ran_dtypes=dtype))
    w.write_environment({"threads": 1, "reduced_precision": {
        "cpu_capability": "AVX2", "native_bf16": False, "native_fp16": False, "flags": []},
        "rooflines": {d: {"dtype": d, "gemm_flops_per_s": g, "bandwidth_bytes_per_s": 1e10}
                      for d, g in (("float32", 1e11), ("bfloat16", 1e10))}})
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "run"), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    for heading in ("## Training against inference", "## Compiled against eager",
                    "## Reduced precision"):
        assert heading in md
    assert "native bf16 instructions: no" in md
    for name in ("modes.csv", "compiled.csv", "precision.csv", "trends.csv",
                 "train_memory_ratio.png", "compile_speedup.png"):
        assert (out / name).stat().st_size > 0, name
    modes = pd.read_csv(out / "modes.csv")
    assert (modes["macs_ratio"] == 3).all() and (modes["memory_ratio"] > 1).all()
    compiled = pd.read_csv(out / "compiled.csv")
    assert compiled["speedup"].between(1.5, 2.5).all()  # half the seconds per MAC, plus noise
    fits = pd.read_csv(out / "fits.csv")
    # every variant is fitted apart: a dtype other than the run's float32 names itself
    assert {"nonlocal_right", "nonlocal_right[train]", "nonlocal_right[bfloat16]",
            "nonlocal_right[compiled]"} <= set(fits["block"])
    # the pair figures' legends at the others' size and under their panel: at 7 points inside
    # it, the training run's 15 lines had covered a third of it
    from a2bench.report.plotting import LEGEND_PT

    for name in ("train_memory_ratio.png", "compile_speedup.png"):
        assert drawn.sizes[name].legend == {LEGEND_PT} and drawn.over[name] == [False], name
    # no text of any figure is under LEGEND_PT but the cache labels, a point less
    assert all(min(s.all) >= LEGEND_PT - 1 and s.legend == {LEGEND_PT}
               for s in drawn.sizes.values()), drawn.sizes


def test_a_pair_figure_names_the_sizes_that_tell_its_lines_apart(tmp_path: Path, drawn,
                                                                 monkeypatch):
    """A run of two batches, forward and train: one train/forward line per block and batch,
    and the legend says which batch each is (the ResNet-50 run's listed every block twice under
    one name, at batch 1 and 8, in one colour and marker)."""
    rng = np.random.default_rng(7)
    w = ResultsWriter(tmp_path / "run", resume=False)
    for s in (8, 11, 16):
        for batch in (1, 2):
            for mode in ("forward", "train"):
                c = Case("nonlocal_right", "cpu", "float32", batch, 32, 1, s, s, m=8, n=8,
                         mode=mode)
                w.append(record(c, 1e-10, rng))
        for mode in ("forward", "train"):  # a block of its own parameters, one batch
            w.append(record(Case("se", "cpu", "float32", 1, 32, 1, s, s, reduction=8,
                                 mode=mode), 1e-10, rng))
    w.write_environment({"threads": 1})
    out = tmp_path / "report"
    draw_only(monkeypatch, pairs=True)  # the figure read below
    assert main(["report", str(tmp_path / "run"), "--out", str(out)]) == 0
    legend = drawn.legends["train_memory_ratio.png"]
    assert len(legend) == 3 and len(set(legend)) == 3, legend
    # m, n and r differ between blocks alone, and tell no two lines apart: the H200 report's
    # legend had read 'double attention, float32, m=16 n=16' and 'SE, float32, r=16'
    assert sorted(legend) == ["SE, b=1", "non-local order, b=1", "non-local order, b=2"], legend


def test_the_environment_table_says_how_cases_were_timed():
    from a2bench.report import _schedule

    assert _schedule(None, {"timing_schedule": "interleaved", "interleave_chunk_s": 0.05}) == \
        "interleaved, 50 ms chunks"
    assert _schedule(None, {"timing_schedule": "per case"}) == "per case"
    assert _schedule(None, {}) == ""  # a run from before the schedule was recorded


def test_a_run_without_environment_json_says_so_not_that_it_had_no_warnings(tmp_path):
    from types import SimpleNamespace

    from a2bench.report.sections.machine import environment_section

    (tmp_path / "odd").mkdir()  # a `{}` a2bench did not write had read "no environment.json"
    (tmp_path / "odd" / "environment.json").write_text("{}")
    runs = [SimpleNamespace(label=label, environment=env, ok=1, rows=1, path=tmp_path / label)
            for label, env in (("kept", {"suite": "s", "warnings": ["load"], "python": "3.11"}),
                               ("lost", {}), ("odd", {}))]
    table = environment_section(SimpleNamespace(runs=runs))[-1].frame.set_index("")
    assert table.loc["warnings recorded"].tolist() == ["load", "unknown", "unknown"]  # not none
    assert table.loc["environment"].tolist() == [
        "", "not recorded: no environment.json",
        "not recorded: its environment.json is damaged (an empty object without suite, the key "
        "a2bench run writes first)"]


def test_the_environment_table_names_the_gpu_its_clocks_and_its_flags():
    from a2bench.report import _cuda_flags, _gpu_memory

    env = {"gpu_memory_bytes": 80 * 2**30, "gpu_free_bytes": 79.5 * 2**30,
           "cuda_flags": {"matmul_allow_tf32": False, "cudnn_benchmark": False}}
    assert _gpu_memory(None, env) == "80.0 / 79.5"  # both to 3 figures
    assert _cuda_flags(None, env) == "matmul_allow_tf32 off, cudnn_benchmark off"
    assert _gpu_memory(None, {}) == "" and _cuda_flags(None, {}) == ""  # a CPU run: no rows


def test_a_run_whose_block_got_no_window_still_reports(tmp_path, monkeypatch):
    # The H200 training run: the non-local order in train mode got no auto window (its budget
    # note is a fits row with no group), and the latency figure's title sorted a NaN among the
    # groups' labels.
    from a2bench.report import build_report

    draw_only(monkeypatch, fits=("latency",))  # the figure that raised

    runs = [ROOT / "results" / "gpu-nvidia-h200-auto-training"]
    files = build_report(runs, tmp_path / "report")
    fits = pd.read_csv(tmp_path / "report" / "fits.csv")
    assert (fits["group"].isna() & (fits["block"] == "nonlocal_right")).any()
    assert (tmp_path / "report" / "index.html").exists() and files.lines


def test_an_unfinished_run_is_named_with_the_command_that_resumes_it(monkeypatch, tmp_path):
    from a2bench.analysis import Run, unfinished

    monkeypatch.chdir(tmp_path)
    roof = {"start": {"gemm_flops_per_s": 1e11}, "end": None}
    local = Run("a", tmp_path / "results" / "a", {
        "suite": "x", "suite_path": "suites/x.yaml", "roofline": roof, "case_passes_planned": 9},
        3, 3, 5)
    shard = Run("h100", tmp_path / "sweep" / "h100",
                {"suite": "x", "suite_path": "suites/x.yaml", "executor": "slurm",
                 "ended": "interrupted"},
                1, 1, 1)
    done = Run("b", tmp_path / "b", {"suite": "x", "ended": "finished"}, 1, 1, 1)
    old = Run("c", tmp_path / "c", {"suite": "x", "roofline": {"gemm_flops_per_s": 1e11}}, 1,
              1, 1)
    flagged = Run("d", tmp_path / "d", {"suite": "x", "suite_path": "my suite.yaml",
                                        "ended": "interrupted",
                                        "run_flags": ["--time-budget", "0.5", "--no-interleave"],
                                        "plugins": "my_block.py"}, 1, 1, 1)
    bare = Run("h", tmp_path / "h", {}, 1, 1, 1)  # environment.json lost: its end unknown
    # one a2bench did not write (no suite, the key it writes first): as a resume judges it, not
    # a run with no end recorded
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "environment.json").write_text('{"a": 1}')
    odd = Run("k", tmp_path / "k", {"a": 1}, 1, 1, 1)
    said = unfinished((local, shard, done, old, flagged, bare, odd))
    assert said.pop("h").startswith("no environment.json, so whether its sweep finished cannot "
                                    "be told")
    assert said.pop("k").startswith("its environment.json is damaged (an object without suite")
    # a run that recorded its flags is resumed as it was started: the line runs as printed
    assert said.pop("d").endswith(
        "; resume it with: A2BENCH_PLUGINS=my_block.py a2bench run 'my suite.yaml' --out d "
        "--resume --time-budget 0.5 --no-interleave")
    assert said == {
        "a": "unfinished: no end recorded (it stopped before its end, or it is still running) "
             "after 5 of 9 case passes; its verdicts read only the cases stored so far; resume "
             "it with: a2bench run suites/x.yaml --out results/a --resume (and the options it "
             "ran with)",
        "h100": "unfinished: interrupted after 1 case pass; its verdicts read only the cases "
                "stored so far; resume it with: a2bench run suites/x.yaml --out sweep "
                "--executor slurm --resume (and the options it ran with)"}
    # a finished run that stores fewer passes than it planned lost a record (a torn last line)
    ended = {"suite": "x", "ended": "finished", "case_passes_planned": 102}
    torn = Run("e", tmp_path / "e", ended, 34, 34, 101)
    whole = Run("f", tmp_path / "f", ended, 34, 34, 102)
    # no end recorded, but every planned pass stored (stopped in its closing calibration):
    # nothing is missing, as compare reads it too; but a kill between the last record's fsync
    # and results.csv's rewrite left the CSV a pass short, which nothing had said, nor that
    # --resume rewrites it and records the end
    closed = Run("g", tmp_path / "g", {"suite": "x", "suite_path": "suites/x.yaml",
                                       "ended": "interrupted", "case_passes_planned": 102},
                 34, 34, 102)
    assert closed.ended == "finished"
    assert unfinished((torn, whole, closed)) == {
        "e": "finished, but 101 of 102 case passes are stored (a record lost, such as a torn "
             "last line, which is dropped when read); its verdicts read the ones stored, and "
             "--resume runs the missing ones",
        "g": "unfinished: interrupted, though all 102 case passes it planned are stored (it "
             "stopped after its last case, before its closing calibration); its verdicts read "
             "them all, but its results.csv may lag results.jsonl and its end-of-sweep checks "
             "(the GEMM ceiling measured again, the noise warnings) were not made; finish it "
             "with: a2bench run suites/x.yaml --out g --resume (and the options it ran with)"}
    # an auto run plans its first round alone: stopped in a narrowing round, it stores more
    # than it planned, and had been said to have stopped before its closing calibration
    narrowing = Run("h", tmp_path / "h", {**closed.environment, "auto_sizes": {}}, 34, 34, 110)
    assert unfinished((narrowing,))["h"].startswith(
        "unfinished: interrupted, though all 102 case passes it planned and 8 of its narrowing "
        "rounds' are stored (it stopped in a narrowing round or before its closing "
        "calibration); its verdicts read them all")


def test_a_run_a_live_sweep_writes_is_named_with_that_sweep_not_told_to_resume(monkeypatch,
                                                                               tmp_path):
    # it read "no end recorded (...) or it is still running; resume it with: ...", a line the
    # live run's lock refuses; a Slurm partition's sweep is held by its driver, on its parent
    from conftest import held_elsewhere

    from a2bench.analysis import Run, unfinished

    monkeypatch.chdir(tmp_path)
    env = {"suite": "x", "suite_path": "suites/x.yaml", "roofline": {"start": {}},
           "case_passes_planned": 9}
    for folder in ("results/a", "sweep/h100"):
        (tmp_path / folder).mkdir(parents=True)
    local = Run("a", tmp_path / "results" / "a", env, 3, 3, 5)
    shard = Run("h100", tmp_path / "sweep" / "h100", {**env, "executor": "slurm"}, 1, 1, 1)
    with (held_elsewhere(tmp_path / "results" / "a") as line,
          held_elsewhere(tmp_path / "sweep", "a2bench run --executor slurm") as driver):
        assert unfinished((local, shard)) == {
            "a": f"unfinished: {line} is writing results/a now, 5 of 9 case passes stored so "
                 "far; its verdicts read only those: report again once it ends",
            "h100": f"unfinished: {driver} is writing sweep now, 1 of 9 case passes stored so "
                    "far; its verdicts read only those: report again once it ends"}
    assert "; resume it with: a2bench run suites/x.yaml --out results/a " in \
        unfinished((local,))["a"]  # once it has ended


def part_way(tmp_path: Path) -> tuple[Path, dict, dict]:
    """A copy of a finished run cut part way: no end recorded yet, 20 of its 30 case passes
    stored. Returns its folder, its environment as cut, and as the finished run wrote it."""
    run = tmp_path / "live"
    shutil.copytree(Path(__file__).resolve().parents[1] / "results" / "cpu-your-block" / "full-1",
                    run)
    ended = json.loads((run / "environment.json").read_text())
    env = json.loads(json.dumps(ended))
    del env["ended"], env["roofline"]["end"]
    (run / "environment.json").write_text(json.dumps(env))
    lines = (run / "results.jsonl").read_text().splitlines(keepends=True)
    (run / "results.jsonl").write_text("".join(lines[:20]))
    return run, env, ended


def test_a_report_on_a_folder_a_live_sweep_writes_reads_it_and_says_so(tmp_path, capsys,
                                                                        no_figures):
    from conftest import held_elsewhere

    run, _, _ = part_way(tmp_path)
    with held_elsewhere(run) as line:
        assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    said = f"unfinished: {line} is writing {run} now, 20 of 30 case passes stored so far"
    assert f"    {said}; " in capsys.readouterr().out
    md = (tmp_path / "report" / "report.md").read_text()
    assert f"- live: {said}" in md and "--resume" not in md


def test_a_report_says_on_its_page_and_the_terminal_alike_of_a_sweep_that_ends_meanwhile(
        tmp_path, monkeypatch):
    """The sweep holds its folder when the report reads it and has let it go by the time the
    figures are drawn: the page had named the live sweep, and the lines printed after the
    figures, asking again, told the run to resume."""
    from a2bench import report

    run, _, _ = part_way(tmp_path)
    asked = []

    def writing_until_asked(folder: Path) -> str | None:
        asked.append(folder)
        return "a2bench run (pid 4242, since 06:00)" if len(asked) == 1 else None

    # the module, which a2bench.analysis's function of the same name hides
    monkeypatch.setattr(sys.modules["a2bench.analysis.unfinished"], "live_writer",
                        writing_until_asked)
    monkeypatch.setattr(report, "draw_figures", lambda result, out: [])  # not under test
    files = report.build_report([run], tmp_path / "report")
    said = (f"unfinished: a2bench run (pid 4242, since 06:00) is writing {run} now, 20 of 30 "
            "case passes stored so far")
    assert f"\n    {said}; " in "\n".join(files.lines)
    assert f"- live: {said}" in (tmp_path / "report" / "report.md").read_text()
    assert len(asked) == 1


def test_a_sweep_that_ends_before_its_lock_is_probed_is_not_told_to_resume(tmp_path,
                                                                           monkeypatch):
    """Read with no end recorded, and no writer by the time the lock is probed: the sweep may
    have ended between the two (it records its end, then lets the lock go). Its folder is read
    again: a finished sweep had been told to resume, which reruns nothing."""
    from a2bench.analysis import Run, unfinished

    run, env, ended = part_way(tmp_path)
    read = Run("live", run, env, 10, 10, 20)

    def ends_meanwhile(folder: Path) -> None:
        (run / "environment.json").write_text(json.dumps(ended))  # it ends, then unlocks
        return None

    said = unfinished((read,))["live"]  # still no end recorded: a dead sweep, to resume
    assert said.startswith("unfinished: no end recorded") and "--resume" in said
    monkeypatch.setattr(sys.modules["a2bench.analysis.unfinished"], "live_writer",
                        ends_meanwhile)
    assert unfinished((read,)) == {
        "live": "unfinished when read: its sweep finished while it was read, 20 of 30 case "
                "passes read; its verdicts read only those: report again to read them all"}
    # read with every pass stored and no end, in its closing calibration: one that records its
    # end before the probe is not told to finish, one that does not is
    closing = Run("live", run, {**env, "case_passes_planned": 20}, 10, 10, 20)
    monkeypatch.setattr(sys.modules["a2bench.analysis.unfinished"], "live_writer",
                        lambda folder: None)
    (run / "environment.json").write_text(json.dumps(env))
    assert unfinished((closing,))["live"].startswith("unfinished: no end recorded, though all "
                                                     "20 case passes it planned are stored")
    monkeypatch.setattr(sys.modules["a2bench.analysis.unfinished"], "live_writer",
                        lambda folder: "a2bench run (pid 4242, since 06:00)")
    assert unfinished((closing,)) == {
        "live": f"unfinished: a2bench run (pid 4242, since 06:00) is writing {run} now, with "
                "all 20 case passes it planned stored; report again once it ends"}
    monkeypatch.setattr(sys.modules["a2bench.analysis.unfinished"], "live_writer",
                        ends_meanwhile)
    assert unfinished((closing,)) == {}


def test_a_partition_whose_nodes_differ_shows_each_nodes_threads_and_cores():
    """slurm.merge leaves threads and cores empty where the nodes differ and keeps each node's
    in per_host: the environment table shows those, not one node's value for all."""
    from types import SimpleNamespace

    from a2bench.analysis.load import Run
    from a2bench.report.sections.machine import environment_section

    def table(env: dict) -> dict[str, str]:
        run = Run("p", Path("p"), env, rows=1, ok=1)
        (_, t) = environment_section(SimpleNamespace(runs=[run]))
        return dict(zip(t.frame[""], t.frame["p"], strict=True))

    same = table({"threads": 3, "physical_cores": 4, "logical_cores": 8, "cpu_model": "EPYC"})
    assert same["torch threads"] == "3" and same["cores (physical / logical)"] == "4 / 8"
    assert same["CPU"] == "EPYC"
    mixed = table({"threads": None, "physical_cores": None, "logical_cores": 8,
                   "cpu_model": "EPYC", "per_host": {"threads": {"n1": 3, "n2": 7},
                                                     "physical_cores": {"n1": 4, "n2": 8}}})
    assert mixed["torch threads"] == "n1 3, n2 7"
    assert mixed["cores (physical / logical)"] == "n1 4 / 8, n2 8 / 8"
    assert mixed["CPU"] == "EPYC"


def test_index_html_shows_markdown_code_spans_as_code_and_escapes_the_rest():
    """report.md's `code` spans (a hint's `h: auto`, a flag) are <code> in index.html, not
    literal backticks; their text and the rest stay escaped, and an unpaired backtick stays."""
    from a2bench.report.elements import Bullets, Para
    from a2bench.report.render import to_html

    html = to_html([Para("write `h: auto` <b>here</b>"),
                    Bullets(("`<script>x</script>` and `--processes`", "it`s one"))], "t")
    assert "<p>write <code>h: auto</code> &lt;b&gt;here&lt;/b&gt;</p>" in html
    assert ("<li><code>&lt;script&gt;x&lt;/script&gt;</code> and <code>--processes</code></li>"
            in html)
    # the page's own script (opening folded tables to print) is in its head, none in its body
    assert "<li>it`s one</li>" in html and "<script>" not in html.partition("<body>")[2]


def test_cases_without_a_measurement_are_listed_by_size():
    from types import SimpleNamespace

    from a2bench.report.sections.variants import failures_section

    data = pd.DataFrame([{"run": "r", "run_index": 0, "block": "mine", "positions": n,
                          "batch": 1, "channels": 8, "size": f"N {n}", "status": "error",
                          "reason": "boom"} for n in (64, 576, 144, 400, 256)])
    result = SimpleNamespace(data=data, runs=["r"], environments={})
    table = failures_section(result)[-1].frame
    assert table["size"].tolist() == ["N 64", "N 144", "N 256", "N 400", "N 576"]


def test_a_long_failure_reason_is_cut_at_a_sentence_or_a_word_and_kept_whole_in_the_csv():
    # the H200 report's OOM reason was cut at 160 characters mid-word: "Including non-PyTorch me"
    from types import SimpleNamespace

    from a2bench.formatting import clipped
    from a2bench.report.sections.variants import failures_section

    oom = ("OutOfMemoryError: CUDA out of memory. Tried to allocate 49.78 GiB. GPU 0 has a total "
           "capacity of 139.80 GiB of which 39.14 GiB is free. Including non-PyTorch memory, "
           "this process has 100.65 GiB memory in use.")
    data = pd.DataFrame([{"run": "r", "run_index": 0, "block": "mine", "positions": 64,
                          "batch": 1, "channels": 8, "size": "N 64", "status": "oom",
                          "reason": oom}])
    doc = failures_section(SimpleNamespace(data=data, runs=["r"], environments={}))
    cell = doc[-1].frame["reason"].iloc[0]
    assert cell == oom[:oom.index(" Including")] + " …"  # whole sentences
    assert "cases.csv holds each whole" in doc[1].text
    words = "a reason of many words " * 10
    assert clipped(words) == words[:words.rindex(" ", 0, 161)].rstrip() + "…"
    assert clipped("boom") == "boom" and len(clipped("x" * 200)) == 161


def test_a_folded_table_keeps_its_caption_in_view():
    """A long table folds into <details>; its caption (a run's verdict) was inside the fold."""
    from a2bench.report.elements import Table
    from a2bench.report.render import to_html

    long = Table(pd.DataFrame({"n": range(40)}), "run-a: CONFIRMED")
    html = to_html([long, Table(pd.DataFrame({"n": range(40)}))], "t")
    assert "<summary>run-a: CONFIRMED (40 rows)</summary>" in html
    assert "<p class=\"caption\">run-a: CONFIRMED</p>" not in html  # said once
    # an unfolded table's caption stands above its scrolling box, not in it (a phone had cut
    # the verdict off at the screen's edge)
    short = to_html([Table(pd.DataFrame({"n": range(3)}), "run-b: CONFIRMED")], "t")
    assert '<p class="caption">run-b: CONFIRMED</p><div class="scroll"><table>' in short
    assert "<summary>table of 40 rows</summary>" in html
    # without a caption, the section it is in names it ("table of 20 rows" alone had hidden
    # the ResNet-50 report's answer)
    from a2bench.report.elements import Heading

    html = to_html([Heading(2, "In context"), Table(pd.DataFrame({"n": range(40)}))], "t")
    assert "<summary>In context: table of 40 rows</summary>" in html


def test_a_run_of_a_block_without_a_cost_model_reads_as_one(tmp_path: Path, no_figures):
    """The tutorial's counted block: no 'n/a×' after each counter, no 'no model' told apart
    from an empty verdict, no crossover sections for orders that never ran."""
    run = Path(__file__).resolve().parents[1] / "results" / "cpu-your-block" / "full-1"
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "n/a×" not in md and "| token_mixer | 3600 | no model | 1,658,880,000 |" in md
    assert "## Crossover" not in md and "## Each block against" not in md
    fits = md.split("## Scaling exponents", 1)[1].split("\n## ", 1)[0]
    assert "| memory |" in fits and "no model" in fits.split("| memory |", 1)[1].split("\n")[0]


@pytest.mark.slow
def test_a_run_with_many_variants_is_drawn_a_panel_per_condition(tmp_path: Path, drawn,
                                                                 monkeypatch):
    # 3 blocks x 4 conditions: 12 lines in one panel crossed each other at every size (the H200
    # training run drew 20); past MAX_LINES_A_PANEL each condition gets its own panel.
    from a2bench.report import plotting

    titles = drawn.titles
    # the figures read below, drawn in full and saved at few dots an inch (draw_only; the test
    # reads their panels' titles): the 12-panel sizes figure took 1.2 s of CPU to rasterise at
    # 130 dpi; 4 sizes are as many lines a panel as 6, and 4 a line keep every fit
    draw_only(monkeypatch, fits=("latency", "macs"), sizes=True)
    rng = np.random.default_rng(3)
    w = ResultsWriter(tmp_path / "run", resume=False)
    for s in (8, 16, 32, 45):
        for dtype, mode in (("float32", "forward"), ("float32", "train"),
                            ("bfloat16", "forward"), ("bfloat16", "train")):
            for b in ("double_attention", "nonlocal_right", "se"):
                c = Case(b, "cpu", dtype, 1, 32, 1, s, s, m=8, n=8, reduction=4, mode=mode)
                w.append(replace(record(c, 1e-10, rng), ran_dtypes=dtype))
    w.write_environment({"threads": 1})
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert plotting.MAX_LINES_A_PANEL < 3 * 4
    for name in ("fit_positions_latency.png", "fit_positions_macs.png"):
        heads = [t.split("\n")[0] for t in titles[name]]
        assert heads == ["float32, forward", "float32, train", "bfloat16, forward",
                         "bfloat16, train"], titles[name]
    # and the cost at each size, a row of panels each
    assert [t for t in titles["sizes.png"] if t] == [
        f"run: {c}" for c in ("float32, forward", "float32, train", "bfloat16, forward",
                              "bfloat16, train")]


def test_the_constant_along_m_is_not_called_the_per_call_overhead(tmp_path: Path, no_figures):
    # Along m the fitted constant holds the non-local order's N² (1.56 ms, where the call's own
    # overhead was timed at 0.159 ms): the report had called it "a per-call overhead" and the
    # timed one "half of the latency below m = 32.7", where it was a tenth at every m.
    run = ROOT / "results" / "gpu-nvidia-h100-80gb-hbm3-m"
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("- non-local order: a part that"))
    assert "does not grow with m (the per-call overhead, and the work independent of m)" in line
    assert "under half of the latency at every size, and under 5% above m = 286" in line
    assert "per-call overhead of" not in md


def test_a_threshold_past_any_size_prints_in_three_figures():
    # the H100 report's "window's a < 5% above" had printed 40567235983172041564696556339200
    from a2bench.formatting import size

    assert size(4.0567235983172041e31) == "4.06e+31"
    assert (size(2816), size(1.5), size(9.9e11)) == ("2816", "1.5", "990000000000")


def test_a_figure_in_thousands_reads_whole_beside_its_neighbours():
    # a rate column read "5.16e+04" beside "158"; 999.96 had read "1e+03"
    from a2bench.formatting import significant

    assert [significant(v) for v in (51634.2, 158.2, 999.96, -2345.6, 0.00123, 2e9, None)] == [
        "51600", "158", "1000", "-2350", "0.00123", "2.00e+09", "n/a"]


def test_a_figure_keeps_its_trailing_zeros_and_no_stray_dot():
    # "4× its time" and "latency ratio at N = 2816: 4." (a ratio of 4.00), 89.987 read "90"
    # beside "75.7" and 3.86 read "3.86" beside "3.858" in a column of 4 figures
    from a2bench.formatting import significant

    assert [significant(v) for v in (4.0, 89.987, 75.7, 0.3, 2, 100.0, 123.4, 99.96)] == [
        "4.00", "90.0", "75.7", "0.300", "2.00", "100", "123", "100"]
    assert significant(3.86, 4) == "3.860" and significant(0.05, 2) == "0.050"
    assert significant(4, 1) == "4" and significant(-0.0001) == "-0.000100"
    assert significant(-0.0) == "0.00" and significant(1e-5) == "1.00e-05"


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory) -> Path:
    """The report of results/cpu-resnet50, which the tests below read and none changes."""
    out = tmp_path_factory.mktemp("cpu-resnet50") / "r"
    with pytest.MonkeyPatch.context() as mp:
        draw_only(mp, fits=("latency",))  # one fit figure's caption is read; the rest are not
        assert main(["report", str(ROOT / "results" / "cpu-resnet50"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """The report of results/cpu-video, which the tests below read and none changes."""
    out = tmp_path_factory.mktemp("cpu-video")  # a folder that is there, empty
    with pytest.MonkeyPatch.context() as mp:
        draw_only(mp)  # its tests read the page's words and pairs.csv, no figure
        assert main(["report", str(ROOT / "results" / "cpu-video"), "--out", str(out)]) == 0
    return out


def test_a_report_that_sweeps_no_n_heads_with_its_answer(resnet50: Path, video: Path):
    # ResNet-50's page read "Headline: NOT SWEPT" above the fold, its answer (what each block
    # adds to the network) folded at its foot; the video report's ratios sat in a table below
    def headline(md: str) -> str:
        return md[md.index("## Headline"):md.index("\n## ", md.index("## Headline") + 1)]

    top = headline((resnet50 / "report.md").read_text())
    assert top.startswith("## Headline: what each attention variant adds to ResNet-50 (NOT SWEPT")
    t = pd.read_csv(resnet50 / "context.csv")
    r = t[(t["attention"] == "nonlocal") & (t["mode"] == "train") & (t["batch"] == 8)].iloc[0]
    assert ("- train, batch 8, 224×224, float32: se " in top and
            f"nonlocal {r['latency_overhead_pct']:+.1f}% / {r['macs_overhead_pct_model']:+.2f}% "
            f"/ {r['memory_overhead_pct']:+.1f}%" in top)
    assert "no run here sweeps N" in top  # and why there is no verdict, after it
    top = headline((video / "report.md").read_text())
    p = pd.read_csv(video / "pairs.csv").iloc[0]
    assert top.startswith("## Headline: the non-local order against double attention")
    assert (f"the non-local order takes {p['ratio_latency']:#.3g}× double attention's time, "
            f"{p['ratio_macs']:#.3g}× its MACs") in top


def test_a_run_that_sweeps_no_axis_is_not_said_to_be_fitted_below(video: Path):
    # the video report (two cases, one shape each order) said "Each run's own axes are fitted
    # below" over a section that fitted nothing
    md = (video / "report.md").read_text()
    assert "nothing is fitted" in md and "fitted below" not in md


def test_the_headline_shows_the_interval_its_verdict_reads(toy):
    # the table showed "1.92 [1.84, 1.99]" (95%) while the reason below it read "90% interval
    # [1.86, 1.97]": two intervals of one fit, with nothing to say which decides
    fits = pd.read_csv(toy.out / "fits.csv")
    fits = fits[(fits["axis"] == "positions") & fits["primary"]]
    md = (toy.out / "report.md").read_text()
    assert "| exponent [95% CI] | 90% interval (decides) |" in md
    assert "the 90% interval decides" in md
    f = fits[(fits["block"] == "nonlocal_right") & (fits["metric"] == "latency")].iloc[0]
    assert (f"| {f['exponent']:.2f} [{f['ci_low']:.2f}, {f['ci_high']:.2f}] | "
            f"[{f['ci90_low']:.2f}, {f['ci90_high']:.2f}] |") in md
    said = json.loads((toy.out / "summary.json").read_text())
    assert said["headline"]["runs"]["run"]["fits"][0]["ci90_low"] is not None


def test_a_sweep_of_n_at_several_channels_shows_every_group(tmp_path: Path, drawn,
                                                            monkeypatch):
    # N swept at c = 16, 32 and 64: the figures drew, and the tables named, one group only (the
    # smallest c, by a tie), with a pointer to "42 more fits" in fits.csv.
    legends, titles = drawn.legends, drawn.titles
    draw_only(monkeypatch, fits=("macs",), crossover=True)  # the figures read below
    rng = np.random.default_rng(5)
    w = ResultsWriter(tmp_path / "run", resume=False)
    for c in (16, 32, 64):
        for s in (8, 11, 16, 23, 32, 45):
            for b in ("double_attention", "nonlocal_right"):
                w.append(record(Case(b, "cpu", "float32", 1, c, 1, s, s, m=8, n=8), 1e-10, rng))
    w.write_environment({"threads": 1})
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "run"), "--out", str(out)]) == 0
    macs = legends["fit_positions_macs.png"]
    assert sum(t.startswith("double attention (A², gather first) (c=") for t in macs) == 3
    assert any(t.startswith("non-local order (N×N first) (c=16): k = ") for t in macs)
    md = (out / "report.md").read_text()
    assert "| block | metric | at | exponent [95% CI] |" in md  # the headline names the group
    assert "| double attention | macs | c=64 |" in md
    assert "double attention along positions N = t·h·w: c=16, c=32 (the table's: c=64)" in md
    # the crossover figure draws each c's ratio, not the first c's alone
    assert [t.partition(",")[0] for t in titles["crossover_ratio.png"]] == ["c=16", "c=32",
                                                                          "c=64"]


def test_the_crossover_figure_says_why_a_crossing_is_not_read(tmp_path: Path, drawn,
                                                              monkeypatch):
    # The H100's latency ratio crosses 1 near N = 536, where the per-call overhead is half the
    # time: the table said so, but the figure's legend read "no crossing in the swept range".
    legends = drawn.legends
    draw_only(monkeypatch, crossover=True)
    run = ROOT / "results" / "gpu-nvidia-h100-80gb-hbm3-positions"
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    texts = [t.replace("\n", " ") for t in legends["crossover_ratio.png"]]
    assert any(t.startswith("latency: not read: the ratio crosses 1 near N = 536") for t in texts)
    assert "latency: no crossing in the swept range" not in texts
    assert "measured from peak memory: N* ≈ 256" in texts


def test_the_chosen_sizes_say_how_their_cases_ended(tmp_path: Path, no_figures):
    # The report said the plan kept "the peak within the memory budget" beside a size whose
    # case ran out of memory (the H200's non-local order at N = 115600).
    run = ROOT / "results" / "gpu-nvidia-h200-auto-training-both"
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| non-local order | ")
                and "| 115600 |" in x)
    assert line.endswith("| oom |")
    assert "| double attention | " in md and "| 929296 |" in md
    assert all(x.endswith("| ok |") for x in md.splitlines()
               if x.startswith("| double attention | ") and "| 929296 |" in x)


@pytest.fixture(scope="module")
def cpu_default(tmp_path_factory) -> Path:
    """The report of results/cpu-default, which the tests below read and none changes."""
    out = tmp_path_factory.mktemp("cpu-default") / "r"
    with pytest.MonkeyPatch.context() as mp:
        draw_only(mp, fits=("latency",))  # the headline's figure; no other is read
        assert main(["report", str(ROOT / "results" / "cpu-default"), "--out", str(out)]) == 0
    return out


def test_a_runs_warnings_stand_beside_its_verdict(cpu_default: Path):
    # cpu-default reads CONFIRMED; its "noisy run" warning had been folded away in the
    # environment table, screens below.
    md = (cpu_default / "report.md").read_text()
    headline = md.split("\n## ")[1]
    assert headline.startswith("Headline: CONFIRMED")
    assert "- cpu-default: warned as it ran: noisy run: IQR above 10% of the median" in headline
    assert headline.index("warned as it ran") < headline.index("![Latency vs positions]")


def test_the_page_is_titled_by_its_runs_and_lists_its_sections(cpu_default: Path):
    # every report's tab had read "a2bench report", and a 30,000-pixel page had no way in
    page = (cpu_default / "index.html").read_text()
    assert "<title>a2bench report: cpu-default: CONFIRMED</title>" in page
    links = re.findall(r'<a href="#([a-z0-9-]+)">', page)
    ids = set(re.findall(r'<h2 id="([a-z0-9-]+)">', page))
    assert "headline" in links and len(links) > 3 and set(links) <= ids


def test_a_report_with_nothing_fitted_says_so_and_names_each_rows_batch(resnet50: Path):
    # cpu-resnet50: its figures' captions promised solid fit lines none of them drew, and its
    # train-against-forward rows at batch 1 and 8 read as one
    md = (resnet50 / "report.md").read_text()
    assert md.count("*No window here held enough sizes for a fit") >= 1
    assert "| block | dtype | b | N | latency forward / train (ms) |" in md


@pytest.mark.parametrize(("x_from", "x_to", "words"), [
    (math.inf, math.inf, "half of the latency or more at every size swept, and not under 5% at "
                         "any size swept."),
    (300.0, 6000.0, "half of the latency below N = 300 and under 5% above N = 6000."),
])
def test_an_overhead_past_every_size_is_said_so(x_from: float, x_to: float, words: str):
    from a2bench.analysis.findings import Finding
    from a2bench.report.sections.scaling import finding_lines
    found = Finding("overhead", "run", "double_attention", "positions", "latency", x_from=x_from,
                    x_to=x_to, value=1e-3, low=9e-4, high=1.1e-3)
    (line,) = finding_lines(SimpleNamespace(findings=[found], runs=["run"], environments={}))
    assert line.endswith(words) and "inf" not in line


def test_an_overhead_timed_but_not_fitted_is_not_said_to_be_under_5_percent():
    # Two sizes, 0.107 and 0.132 ms, against 0.0659 ms timed: the line had read "the timed one
    # is under 5% of the latency at every size" beside "n/a ms [n/a, n/a] (fitted)".
    from a2bench.analysis import exponents
    from a2bench.analysis.findings import Finding
    from a2bench.fitting import NAN_FIT, summarise
    from a2bench.report.sections.scaling import finding_lines
    sizes = summarise([144, 400], [1.07e-4, 1.32e-4])
    assert exponents._overhead_below(NAN_FIT, sizes, 0.05, 6.59e-5) == math.inf
    assert exponents._overhead_below(NAN_FIT, sizes, 0.5, 6.59e-5) == 400
    assert exponents._overhead_below(NAN_FIT, sizes, 0.5, 7e-5) == math.inf
    assert exponents._overhead_below(NAN_FIT, sizes, 0.05, 1e-6) == 0
    found = Finding("overhead", "run", "se", "positions", "latency", x_from=math.inf,
                    x_to=math.inf, expected=6.59e-5)
    (line,) = finding_lines(SimpleNamespace(findings=[found], runs=["run"], environments={}))
    assert "0.0659 ms, timed directly at the smallest shape (too few sizes to fit one)" in line
    assert line.endswith("not under 5% at any size swept.") and "n/a" not in line


@pytest.mark.parametrize(("sizes", "ticks"), [
    ([2304, 9216, 2304], [2304, 9216]),  # few: at the sizes run
    ([2 ** k for k in range(6, 16)], None),  # many: 1-2-5 x 10^k
])
def test_a_size_axis_is_labelled_at_its_few_swept_sizes(sizes: list[int], ticks):
    import matplotlib.pyplot as plt

    from a2bench.report import plotting
    fig, ax = plt.subplots()
    ax.plot(sizes, np.ones(len(sizes)))
    plotting._log_x(ax, sizes)
    shown = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    plt.close(fig)
    if ticks:
        assert shown == ticks
    else:
        assert set(shown) <= {a * 10 ** k for a in (1, 2, 5) for k in range(6)} and shown


@pytest.mark.parametrize("ratios", [[0.3, 1.0, 50.0], [2.5, 4.0, 7.0]])
def test_a_ratio_axis_reads_in_plain_multiples(ratios: list[float]):
    """The crossover figure's ratio: matplotlib's own log labels read 10⁰ and 10¹, and within
    a decade 3×10⁰ on its minor ticks."""
    import matplotlib.pyplot as plt

    from a2bench.report import plotting
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], ratios)
    plotting.log_ratio_y(ax)
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    labels = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
    minor = [t.get_text() for t in ax.get_yticklabels(minor=True) if t.get_text()]
    plt.close(fig)
    assert labels and minor == [] and all(t.replace(".", "").isdigit() for t in labels), labels
    assert ("1" in labels and "10" in labels) if ratios[0] < 1 else "5" in labels


def test_a_report_cut_short_leaves_no_page_over_old_and_new(tmp_path: Path, monkeypatch, toy,
                                                            no_figures):
    # a full disk had ended in a matplotlib traceback, and a report killed partway had left the
    # old report.md and index.html (naming figures it then deleted) beside new figures
    import errno

    import a2bench.report as rep
    from a2bench.errors import InputError

    run, out = toy.run, tmp_path / "report"
    shutil.copytree(toy.out, out)  # an earlier report of the run, whole
    assert (out / "index.html").is_file() and (out / "summary.json").is_file()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "fits.csv"))

    monkeypatch.setattr(rep, "write_tables", full)
    with pytest.raises(InputError, match=r"^no space left on device writing .*fits.csv; the "
                                         r"report in .* is not whole, and no page of it is "
                                         r"left there; free space or choose another --out"):
        rep.build_report([run], out)
    assert not any((out / name).exists() for name in rep.PAGES)


def test_a_report_stopped_between_pages_leaves_all_of_them_or_none(tmp_path: Path,
                                                                    monkeypatch, no_figures):
    # a Ctrl-C after report.md was in place had left it without index.html (and summary.json
    # beside it): the pages are renamed into place together, the Ctrl-C after the last
    import os
    import signal

    import a2bench.report as rep

    run, out = results_folder(tmp_path / "run", sides=SIDES[:3]), tmp_path / "report"
    real = os.replace

    def then_ctrl_c(src, dst, *args, **kwargs):
        real(src, dst, *args, **kwargs)
        if Path(dst).name == "report.md":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(os, "replace", then_ctrl_c)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # `make test &` ignores it
    try:
        with pytest.raises(KeyboardInterrupt):
            rep.build_report([run], out)
    finally:
        signal.signal(signal.SIGINT, before)
    assert all((out / name).is_file() for name in rep.PAGES)
    assert (out / "index.html").read_text().rstrip().endswith("</html>")
    assert not any(out.glob("*.tmp"))


def test_an_overhead_the_run_could_not_time_is_named(tmp_path: Path, no_figures):
    # a worker killed while timing a block's per-call overhead had left its column n/a and its
    # window moved, with nothing said (a run of 3 sizes: the line is the environment's)
    run = results_folder(tmp_path / "run", sides=SIDES[:3])
    env = json.loads((run / "environment.json").read_text())
    env["overhead"] = {"empty_module_s": 1e-6, "cases": [
        {"block": "nonlocal_right", "error": "worker killed by SIGKILL while timing"}]}
    (run / "environment.json").write_text(json.dumps(env))
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert ("run: non-local order's per-call overhead could not be timed: worker killed by "
            "SIGKILL while timing. Its latency window rests on the fitted overhead alone; "
            "--resume times it again.") in md


def test_an_overhead_a_block_cannot_time_is_said_once_with_what_stands_in(tmp_path: Path):
    # ResNet-50's train step raised at batch 1 on a 1x1 map (BatchNorm), for each of 5 attention
    # settings: five identical lines had said the window rested on the fitted overhead alone
    # (its table showed the batch-8 timing that stood in) and that --resume times it again
    from types import SimpleNamespace

    from a2bench.report.sections.machine import untimed

    error = "ValueError: Expected more than 1 value per channel when training"
    entry = {"block": "resnet50", "device": "cpu", "dtype": "float32", "channels": 3, "t": 1,
             "h": 1, "w": 1, "mode": "train", "compile": False}
    cases = [{**entry, "batch": b, "attention": a, **({"error": error} if b == 1 else
                                                      {"median_s": 0.1})}
             for a in ("none", "se", "gc") for b in (1, 8)]
    run = SimpleNamespace(label="r50", environment={"overhead": {"cases": cases}})
    result = SimpleNamespace(runs=[run], environments={})
    (line,) = untimed(result)[0].items
    assert line == ("r50: resnet50's per-call overhead could not be timed at its smallest shape "
                    "(1×1; train mode, batch 1, float32) for 3 variants (attention none, se, "
                    f"gc): {error}. Each variant's latency window is cut by its own timing at "
                    "batch 8 instead (the timed column above); the block raises this at that "
                    "shape, so a rerun would meet it again.")


def test_classes_read_as_powers_and_a_ratio_off_one_shows_its_digits():
    from a2bench.formatting import power_of_n, ratio_text

    assert [power_of_n(k) for k in (0, 1, 1.5, 2, -1)] == ["N⁰", "N¹", "N¹·⁵", "N²", "N⁻¹"]
    # ptflops' 1.000187 of the model had read "(1×)" beside a count said to differ
    assert ratio_text(1.000187) == "1.0002" and ratio_text(1.0) == "1.000"
    assert ratio_text(0.5) == "0.5000" and ratio_text(float("nan")) == "n/a"


def test_the_budget_a_plan_needed_reads_in_whole_seconds_rounded_up():
    # the plan notes had said "about 168 s" to 3 figures beside "--budget 168", "about 1230 s"
    # for 1234.5, and "about n/a s needed" where no budget affords a regime
    from a2bench.report.sections.machine import _needed

    assert _needed(167.868) == "; about 168 s needed for one regime (--budget 168)"
    assert _needed(1234.5) == "; about 1235 s needed for one regime (--budget 1235)"
    assert "no budget affords one regime" in _needed(math.inf) and _needed(None) == ""
