"""scripts/publish.py's video example (issue 11): both orders at one clip shape per run, each
peak against its model, and the GPU runs joining the CPU one as they are published; the
section of every GPU run: its checks, its fits and where its peaks miss the memory model; and
the pages it writes (issue 26): the README's headline block, and docs/results.md whole from its
template."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from test_analysis import ENV, measured, write_folder
from test_report import draw_only

from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.report import write_report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import publish  # noqa: E402


def clip(block: str, device: str) -> Case:
    return Case(block, device, "float32", 1, 32, 4, 7, 7, m=16, n=16)


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "ROOT", tmp_path)
    monkeypatch.setattr(publish, "VIDEO_REPORT", tmp_path / "results" / "report-video")
    draw_only(monkeypatch)  # no figure: the video block reads the report's pairs.csv
    write_folder(tmp_path / "results" / "cpu-video",
                 [measured(clip("double_attention", "cpu"), latency=2e-3),
                  measured(clip("nonlocal_right", "cpu"), latency=5e-3)],
                 env={**ENV, "cpu_model": "Some CPU"})
    return tmp_path


def block(root: Path) -> str:
    runs = publish.published(publish.VIDEO_RUNS)
    write_report(runs, publish.VIDEO_REPORT)
    return publish.video_block(runs)


def test_the_cpu_video_row_and_the_note_that_no_gpu_run_is_published(root):
    text = block(root)
    row = next(line for line in text.splitlines() if line.startswith("| cpu-video "))
    right = cost_of(clip("nonlocal_right", "cpu")).peak_bytes
    left = cost_of(clip("double_attention", "cpu")).peak_bytes
    assert "| Some CPU | float32 | 4×7×7 (196) | 32 | 16, 16 | 150 KiB / 1 KiB |" in row
    assert "| 2 ms, " in row and "| 5 ms, " in row and "0.0 %" in row
    assert f"2.5×, {right / left:.1f}× ({right / left:.1f}×) |" in row
    assert "no GPU run has been published yet" in text


def test_a_gpu_video_run_joins_with_its_device_and_its_peak_against_the_model(root):
    over = int(cost_of(clip("nonlocal_right", "cuda")).peak_bytes * 1.2)
    write_folder(root / "results" / "gpu-nvidia-h100-video",
                 [measured(clip("double_attention", "cuda"), latency=1e-4),
                  measured(clip("nonlocal_right", "cuda"), latency=3e-4, peak=over)],
                 env={**ENV, "gpu_name": "NVIDIA H100 80GB HBM3"})
    text = block(root)
    row = next(line for line in text.splitlines() if line.startswith("| gpu-nvidia-h100-video"))
    assert "| NVIDIA H100 80GB HBM3 |" in row and "0.3 ms" in row and "20.0 %" in row
    assert "cpu-video" in text and "no GPU run has been published yet" not in text
    assert [p.name for p in publish.published(("cpu-video", "gpu-*-video", "cpu-*"))] == [
        "cpu-video", "gpu-nvidia-h100-video"]


def test_bytes_keep_the_figure_under_1024():
    from a2bench.formatting import format_bytes

    assert format_bytes(25088 ** 2 * 4) == "2.34 GiB"  # the paper's N×N matrix, fp32
    assert format_bytes(512 * 512 * 4) == "1 MiB"  # its m×n matrix
    assert format_bytes(1023 * 1024) == "1023 KiB" and format_bytes(float("nan")) == "n/a"
    assert format_bytes(100) == "100 B" and format_bytes(None) == "n/a"


@pytest.mark.slow
def test_the_gpu_section_groups_runs_by_gpu_and_shows_its_checks_fits_and_memory_misses(
        tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "ROOT", tmp_path)
    draw_only(monkeypatch)  # no figure: the GPU block reads the report's fits.csv
    results = tmp_path / "results"
    gpu = {**ENV, "gpu_name": "NVIDIA H100 80GB HBM3", "torch": "2.11.0+cu130",
           "cuda_version": "13.0", "cudnn_version": 91900, "suite": "positions"}
    sides = (8, 11, 16, 23, 32, 45, 64)
    ms = [measured(dataclasses.replace(clip(b, "cuda"), t=1, h=s, w=s))
          for s in sides for b in ("double_attention", "nonlocal_right")]
    # one non-local case 30 % (and over 1 MiB) above its model
    big = dataclasses.replace(clip("nonlocal_right", "cuda"), t=1, h=64, w=64)
    ms = [m for m in ms if m.case != big] + [
        measured(big, peak=int(cost_of(big).peak_bytes * 1.3))]
    write_folder(results / "gpu-nvidia-h100-80gb-hbm3-positions", ms, env=gpu)
    write_folder(results / "cpu-positions", ms[:2], env={**ENV, "cpu_model": "Some CPU"})
    checks = results / "checks-gpu-nvidia-h100-80gb-hbm3"
    checks.mkdir()
    (checks / "cuda_tests.txt").write_text(
        "..\nSKIPPED [1] tests/test_slurm.py:17: could not import 'submitit'\n"
        "10 passed, 1 skipped in 84.31s\n")
    row = {"case": "double_attention b1 c1024 m256 n256 128x128", "judged": True,
           "a2bench_s": 1.83e-3, "reference_s": 1.8317e-3, "ratio": 0.999, "agree": True}
    (checks / "timing_check.json").write_text(json.dumps(
        {"reference": "triton.testing.do_bench", "rounds": 3, "round_s": 0.4,
         "tolerance": 0.05, "rows": [row, {**row, "judged": False, "agree": False,
                                           "ratio": 1.61, "case": "launch-bound"}]}))
    (checks / "peak_trace.txt").write_text(
        "double_attention b1 c256 m128 n128 256x256 train on cuda\n"
        "measured peak above the baseline 1100 bytes; the profile's peak 1100 bytes; the model "
        "1000 bytes (+10.00%)\n  with cuDNN off: 1000 bytes (+0.00% against the model)\n\n"
        "live at the measured peak (2 allocations), reached in ConvolutionBackward0 > "
        "aten::convolution_backward:\n           600       0.00 MiB  forward > aten::add\n\n"
        "the model's tensors at its peak, reached in backward softmax_b (1):\n"
        "          1000       0.00 MiB\n\n"
        "double_attention b1 c256 m64 n64 256x256 train on cuda\n"
        "measured peak above the baseline 800 bytes; the profile's peak 800 bytes; the model "
        "800 bytes (+0.00%)\n\ndouble_attention b1 c8 m4 n4 8x8 train on cuda\n")
    groups = publish.gpu_groups()
    assert {k: [p.name for p in v] for k, v in groups.items()} == {
        "nvidia-h100-80gb-hbm3": ["gpu-nvidia-h100-80gb-hbm3-positions"]}
    write_report(groups["nvidia-h100-80gb-hbm3"],
                 results / "report-gpu-nvidia-h100-80gb-hbm3")
    text = publish.gpu_block(groups)
    assert text.startswith("**NVIDIA H100 80GB HBM3** (2.11.0+cu130, CUDA 13.0, cuDNN 91900)")
    assert ("- `pytest -m cuda`: 10 passed, 1 skipped in 84.31s (skipped: could not import "
            "'submitit').") in text
    assert "| double_attention b1 c1024 m256 n256 128x128 | 1.83 | 1.832 | 0.999 | agrees |" in text
    assert "| launch-bound | 1.83 | 1.832 | 1.610 | no: launch-bound |" in text
    assert ("- `double_attention b1 c256 m128 n128 256x256 train on cuda`: measured 1,100 bytes "
            "(+10.0 %) against the model's 1,000, reached in `ConvolutionBackward0 > "
            "aten::convolution_backward`; the model's in `backward softmax_b`; with cuDNN off, "
            "1,000 bytes (+0.0 %).") in text
    assert ("- `double_attention b1 c256 m64 n64 256x256 train on cuda`: measured 800 bytes "
            "(+0.0 %) against the model's 800, reached in `?`; the model's in `?`.") in text
    assert "- `double_attention b1 c8 m4 n4 8x8 train on cuda`: no peak recorded." in text
    fits = [line for line in text.splitlines()
            if line.startswith("| gpu-nvidia-h100-80gb-hbm3-positions | positions |")]
    assert [line.split(" | ")[2] for line in fits] == ["double attention", "non-local order"]
    assert "1.00 [1.00, 1.00] (1.00) ✓" in fits[0]  # MACs follow the model exactly
    miss = [line for line in text.splitlines() if "| nonlocal_right |" in line]
    assert len(miss) == 1 and "+0.0 … +30.0 %" in miss[0] and "+30.0 % at N = 4096" in miss[0]
    assert "| double_attention |" not in text  # within the model, so not listed


def test_no_gpu_run_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    assert publish.gpu_groups() == {}
    assert "No GPU run is published yet" in publish.gpu_block({})
    assert publish.gpu_kind({"gpu_name": "NVIDIA H200"}) == "nvidia-h200"


def test_the_results_template_places_every_section_and_nothing_else():
    import jinja2
    from jinja2 import meta

    env = jinja2.Environment()
    names = meta.find_undeclared_variables(env.parse(publish.TEMPLATE.read_text()))
    assert names == set(publish.SECTIONS)


def test_the_results_page_is_the_template_with_each_block_in_place():
    sections = {name: f"GENERATED {name} block" for name in publish.SECTIONS}
    page = publish.render_results(sections)
    assert page.startswith("<!-- Generated by scripts/publish.py")
    assert all(f"GENERATED {name} block" in page for name in publish.SECTIONS)
    assert "{{" not in page and "{#" not in page and page.endswith("\n")
    assert page.index("GENERATED headline") < page.index("GENERATED gpu")
    with pytest.raises(Exception, match="audit"):  # a missing block fails, never renders empty
        publish.render_results({k: v for k, v in sections.items() if k != "audit"})


def test_the_results_page_names_every_gpu_run_the_headline_holds():
    folders = [Path("results/gpu-nvidia-h100-80gb-hbm3-positions"),
               Path("results/gpu-nvidia-h200-auto-positions"),
               Path("results/gpu-nvidia-h200-auto-training-both")]
    line = publish.headline_gpu_line(folders)
    assert ("`results/gpu-nvidia-h100-80gb-hbm3-positions`, `results/gpu-nvidia-h200-auto-"
            "positions` and `results/gpu-nvidia-h200-auto-training-both`") in line
    assert "No GPU run" in publish.headline_gpu_line([])
    # The published page names what the published headline holds.
    published = publish.published(publish.GPU_RUNS)
    page = publish.RESULTS_PAGE.read_text()
    assert all(f"`results/{f.name}`" in page for f in published)


def test_a_section_without_its_run_says_so():
    assert publish.not_published("cpu-video", "gpu-*-video") == (
        "No run is published yet in `results/cpu-video` or `results/gpu-*-video`.")


def test_the_readme_keeps_only_the_headline_between_markers():
    text = publish.README.read_text()
    assert text.count(publish.BEGIN) == 1 and text.count(publish.END) == 1
    assert text.count("<!--") == 2, "every other published block lives in docs/results.md"
    new = publish.replace_between(text, publish.BEGIN, publish.END, "NEW")
    assert f"{publish.BEGIN}\nNEW\n{publish.END}" in new
    assert new.split(publish.BEGIN)[0] == text.split(publish.BEGIN)[0]


def test_which_block_when_is_read_from_the_global_context_report():
    """docs/results.md's "Which block when" lines carry no typed-in figure: each is read from
    the global-context report's tables, so a new run of the suite rewrites them all."""
    import pandas as pd

    report = publish.BLOCKS_REPORT
    cases = pd.read_csv(report / "cases.csv")
    classes = pd.read_csv(report / "complexity.csv")
    cross = pd.read_csv(report / "block_crossovers.csv")
    envs = {publish.BLOCKS_RUN.name: json.loads((publish.BLOCKS_RUN / "environment.json")
                                                .read_text())}
    lines = publish.which_block_lines(cases, classes, cross, envs)
    ranking = next(line for line in lines if line.startswith("- **By latency at N = "))
    common = int(ranking.split("N = ")[1].split("*")[0])
    ok = cases[(cases["status"] == "ok") & (cases["positions"] == common)
               & (cases["channels"] == 256) & (cases["batch"] == 1)]
    order = ok.sort_values("latency")["variant"].drop_duplicates().tolist()
    named = [part.rsplit(" ", 2)[0] for part in ranking.split("first: ")[1].rstrip(".")
             .split(", ")]
    assert len(named) == len(order) == len(set(cases["variant"]))
    # the reference's latency there, as cases.csv holds it
    da = float(ok[ok["variant"] == "double_attention"]["latency"].iloc[0])
    assert f"double attention {1e3 * da:.3g} ms" in ranking
    criss = classes[(classes["block"] == "criss_cross") & (classes["metric"] == "latency")]
    text = "\n".join(lines)
    assert f"N^{float(criss['exponent'].iloc[0]):.2f} [" in text
    assert publish.blocks_block().endswith("\n\n" + text)  # under the comparison table


def test_the_bf16_line_follows_the_runs_own_cpu_and_ceiling_check():
    """The training section's bf16 line is read from the run: native instructions or emulation
    from its CPU flags, the bf16 peak against float32's, and the ceiling's own check from the
    report's finding. It was typed in as 'emulated' and went stale on a CPU with AVX-512 BF16."""
    import pandas as pd

    prec = pd.DataFrame({"mode": ["forward", "forward", "train"],
                         "memory_ratio": [0.5, 0.52, 0.9]})
    none = pd.DataFrame(columns=["kind", "dtype", "value"])
    cases = pd.DataFrame({"dtype": ["bfloat16", "bfloat16", "bfloat16", "float32"],
                          "compile": [False, False, True, False],
                          "peak_bytes": [190_000, 2_000_000, 400_000, 300_000],
                          "peak_bytes_analytic": [100_000, 2_000_000, 100_000, 100_000]})
    native = publish._bf16_line({"native_bf16": True, "flags": ["avx512_bf16"],
                                 "cpu_capability": "AVX512"}, prec, none, cases)
    assert "native instructions (avx512_bf16; torch dispatches AVX512)" in native
    assert "0.50–0.52× float32's" in native and "emulated" not in native
    assert "fails its own check" not in native
    assert "1 of its 2 eager cases peak more than 2% above their memory model (up to +90 %" \
        in native, native
    failed = pd.DataFrame({"kind": ["calibration_failed", "calibration_failed"],
                           "dtype": ["bfloat16", "float32"], "value": [16.1265, 30.0]})
    emulated = publish._bf16_line({"native_bf16": False, "flags": [],
                                   "cpu_capability": "AVX2"}, prec, failed, cases.iloc[1:2])
    assert "is emulated (no AVX-512 BF16 or AMX; torch dispatches AVX2)" in emulated
    assert "ran at 16.13× the run's bf16 GEMM ceiling" in emulated, emulated
    assert "every eager case is within 2% of its memory model" in emulated


def test_a_headline_run_whose_orders_share_no_n_gets_the_figures_either_side_of_the_gap():
    # the H200 auto runs' answer (the non-local order slower at a ninth of the positions) had
    # stood only in their own reports: their orders share no N, so no crossover line
    row = {"run": "h200", "block": "nonlocal_right[train]", "reference": "double_attention",
           "channels": 256.0, "ref_m": 128.0, "ref_n": 128.0, "params": "m=128 n=128",
           "latency_basis": "disjoint",
           "outcome_latency": "costlier_at_fewer_n", "lower_n": 85264.0,
           "lower_latency": 0.2757, "upper_n": 219024.0, "upper_latency": 0.03793}
    summary = {"headline": {"runs": {"h200": {"verdict": "confirmed", "fits": [],
                                              "contradicting": [], "missing": []}},
                            "verdict": "confirmed"},
               "crossovers": [], "block_crossovers": [
                   row, {**row, "run": "not-in-headline"},
                   {**row, "outcome_latency": "figures_only"}]}
    assert publish.apart_lines(summary, set()) == [
        "- h200: at c = 256, m = 128, n = 128, no N in common (auto sizes): the non-local "
        "order [train] at its largest, N = 85264, took 276 ms, 7.27× double attention "
        "[train]'s 37.9 ms at its smallest, N = 219024 (2.6× more positions)."]
    # a run with a measured crossover keeps that line alone
    assert publish.apart_lines(summary, {"h200"}) == []
    # the non-local order at other m and n than double attention's is not the pair: its m and n
    # had been printed as the reference's
    other = {**summary, "block_crossovers": [{**row, "params": "m=16 n=16"}]}
    assert publish.apart_lines(other, set()) == []


def test_the_audit_table_gives_a_count_that_differs_a_ratio_that_differs_from_1(
        tmp_path, monkeypatch):
    # fvcore's 295,444 against GC's model of 295,424 had read "(1×)" in docs/results.md, the
    # very figure ratio_text keeps the audit's own tables from writing
    (tmp_path / "audit.csv").write_text(
        "block,case,counter,macs,model_macs,ratio,verdict,missed,added,unexplained,reason\n"
        "gc,gc b1 c64 r16 48x48,torch,295424,295424,1,exact,,,0,\n"
        "gc,gc b1 c64 r16 48x48,fvcore,295444,295424,1.00007,over by 0.00677 %,,"
        "layernorm=20,0,\n"
        "gc,gc b1 c64 r16 48x48,ptflops,297808,295424,1.00807,over by 0.807 %,,bias=2372,0,\n"
        "gc,gc b1 c64 r16 48x48,thop,147984,295424,0.500914,under by 49.9 %,bmm=147456,,0,\n")
    monkeypatch.setattr(publish, "AUDIT", tmp_path)
    monkeypatch.setattr(publish, "ROOT", tmp_path.parent)
    row = next(line for line in publish.audit_block().splitlines() if line.startswith("| gc "))
    assert row == ("| gc | 295,424 | 295,424 | 295,444 (1.0001×) | 297,808 (1.008×) | "
                   "147,984 (0.5009×) |")
