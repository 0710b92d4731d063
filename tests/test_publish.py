"""scripts/publish.py's video example (issue 11): both orders at one clip shape per run, each
peak against its model, and the GPU runs joining the CPU one as they are published."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_analysis import ENV, measured, write_folder

from a2bench.case import Case
from a2bench.cost import cost_of
from a2bench.report import write_report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import publish  # noqa: E402


def clip(block: str, device: str) -> Case:
    return Case(block, device, "float32", 1, 32, 4, 7, 7, m=16, n=16)


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "ROOT", tmp_path)
    monkeypatch.setattr(publish, "VIDEO_REPORT", tmp_path / "results" / "report-video")
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
    from a2bench.report import format_bytes

    assert format_bytes(25088 ** 2 * 4) == "2.34 GiB"  # the paper's N×N matrix, fp32
    assert format_bytes(512 * 512 * 4) == "1 MiB"  # its m×n matrix
    assert format_bytes(1023 * 1024) == "1023 KiB" and format_bytes(float("nan")) == "n/a"
    assert format_bytes(100) == "100 B" and format_bytes(None) == "n/a"
