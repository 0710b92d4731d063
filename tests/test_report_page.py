"""index.html as a browser lays it out: printed, and on screens of a few widths (headless
Chromium, where it is installed), from small documents rendered by render.to_html."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from a2bench.report.elements import Heading, Image, Table
from a2bench.report.render import _environment, to_html

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium")


def css() -> str:
    return _environment().loader.get_source(_environment(), "report.css")[0]


def page(folder: Path, wide: tuple[int, int] = (2600, 500)) -> Path:
    """A page holding a figure `wide` pixels big, drawn no narrower than half that (a
    three-panel figure's least width), and a table folded for its 40 rows."""
    from PIL import Image as PILImage

    PILImage.new("RGB", wide, "#336699").save(folder / "wide.png")
    doc = [Heading(1, "a2bench report"), Heading(2, "Figures"),
           Image("wide.png", "a wide figure", "caption", *wide, wide[0] // 2),
           Heading(2, "Environment"),
           Table(pd.DataFrame({"row": [f"folded-row-{i}" for i in range(40)]}))]
    (folder / "index.html").write_text(to_html(doc, "a2bench report"))
    return folder / "index.html"


def test_printed_figures_fit_the_paper_and_folded_tables_open():
    """Printed, a figure kept its least width (the rule for screens narrower than 77rem held on
    paper) and was cut at the page's right edge, and every folded table printed closed."""
    rules = re.search(r"@media print \{(.*?)\n\}", css(), re.S)
    assert rules, "report.css has no @media print block"
    printed = rules.group(1)
    assert re.search(r"figure img \{[^}]*min-width: 0", printed)
    assert re.search(r"\.scroll \{[^}]*overflow: visible", printed)
    assert re.search(r"figure \{[^}]*break-inside: avoid", printed)
    assert re.search(r"details::details-content \{[^}]*content-visibility: visible", printed)
    # the print rules come after the screen's, so they win on paper
    assert css().index("@media print") > css().index("@media (width < 77rem)")
    # and where a browser lacks ::details-content, a script opens them as the page prints
    html = to_html([Table(pd.DataFrame({"n": range(40)}))], "t")
    assert "addEventListener('beforeprint'" in html and "<details><summary>" in html


@pytest.mark.slow
@needs_chromium
def test_a_printed_page_shows_the_whole_figure_and_the_folded_rows(tmp_path: Path):
    if not (shutil.which("pdftotext") and shutil.which("pdfimages") and shutil.which("pdfinfo")):
        pytest.skip("needs poppler-utils")
    index = page(tmp_path)
    pdf = tmp_path / "page.pdf"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                    f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", index.as_uri()],
                   capture_output=True, timeout=120)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "folded-row-0" in text and "folded-row-39" in text
    width_pt = float(re.search(r"Page size:\s+([\d.]+) x", subprocess.run(
        ["pdfinfo", str(pdf)], capture_output=True, text=True).stdout).group(1))
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True,
                            text=True).stdout.splitlines()[2:]
    assert len(images) == 1, images  # on one page, not split over two
    ppi = float(images[0].split()[12])
    assert 2600 / ppi <= width_pt / 72, "the figure runs past the paper's edge"


def laid_out(index: Path, width: int, script: str) -> str:
    """What `script` (run once the page has loaded, its value a string) reads from index.html
    laid out `width` CSS pixels wide in headless Chromium."""
    probe = index.with_name("probe.html")
    probe.write_text(index.read_text().replace(
        "</body>", f"<script>addEventListener('load', () => {{ const p = "
        f"document.createElement('pre'); p.id = 'probe'; p.textContent = 'PROBE' + ({script})"
        " + 'EBORP'; document.body.append(p); });</script></body>"))
    dom = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={index.parent / 'profile'}", "--hide-scrollbars",
                          f"--window-size={width},900", "--virtual-time-budget=3000",
                          "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"<pre id=\"probe\">PROBE(.*?)EBORP</pre>", dom, re.S)
    assert found, dom[-500:]
    return found.group(1)


def test_a_figure_wider_than_its_box_says_it_scrolls():
    """At 800 pixels a three-panel figure showed two panels, its third reachable only by a
    scrollbar under the figure, a screen further down: a line above it now says it scrolls."""
    html = to_html([Image("wide.png", "a wide figure", "caption", 2600, 500, 1300),
                    Image("old.png", "a figure of unknown size", "caption")], "t")
    figures = re.findall(r"<figure[^>]*>.*?</figure>", html, re.S)
    assert figures[0].startswith('<figure style="--least: 1300px"><p class="wide"')
    assert 'class="wide"' not in figures[1]  # its width unknown, it never scrolls
    assert re.search(r"@media screen and \(width < 77rem\) \{\s*figure > \.wide \{[^}]*"
                     r"max-height: clamp\(0px, \(var\(--least", css())


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("width", [1280, 800, 500])
def test_the_scroll_line_shows_where_a_figure_scrolls_and_only_there(tmp_path: Path, width):
    index = page(tmp_path)
    from PIL import Image as PILImage

    PILImage.new("RGB", (600, 500), "#336699").save(tmp_path / "narrow.png")
    index.write_text(to_html([Image("wide.png", "wide", "caption", 2600, 500, 1300),
                              Image("narrow.png", "narrow", "caption", 600, 500, 300)], "t"))
    seen = laid_out(index, width, "[...document.querySelectorAll('figure')].map(f => "
                    "[f.querySelector('.scroll').scrollWidth > f.querySelector('.scroll')"
                    ".clientWidth, f.querySelector('.wide').offsetHeight > 0].join()).join(' ')")
    wide, narrow = seen.split()
    assert wide == ("false,false" if width == 1280 else "true,true")
    assert narrow == "false,false"


# The two tables that had run past the 1,200-pixel column at 1280 pixels, as their reports
# have them: the H100 report's environment (8 runs) and the ResNet-50 report's "In context"
H100_RUNS = [f"gpu-nvidia-h100-80gb-hbm3-{s}" for s in (
    "frames", "global-context", "m", "n", "positions", "positions-bfloat16", "training",
    "video")]
ENVIRONMENT = pd.DataFrame(
    [["results folder", *(f"../{r}/" for r in H100_RUNS)],
     ["suite", *(f"suites/{r.rpartition('hbm3-')[2]}.yaml" for r in H100_RUNS)],
     ["CUDA numerics flags", *["matmul_allow_tf32 off, cudnn_allow_tf32 off, cudnn_benchmark "
                               "off, cudnn_deterministic off"] * 8],
     ["a2bench / commit", *["0.1.0 / 097717c5d9a8"] * 8],
     ["C++ compiler (torch.compile)",
      *["g++-real (Ubuntu 13.3.0-6ubuntu2~24.04) 13.3.0"] * 8]], columns=["", *H100_RUNS])
IN_CONTEXT = pd.DataFrame(
    [["resnet50", a, "forward", "1", "224×224", "5.014", "", "29234216", "145", "10.5 MiB",
      "27.2%", "0.0% / 0.0%", "29.97%", "14.4%"] for a in ("double_attention", "nonlocal")],
    columns=["network", "attention", "mode", "batch", "input", "GMACs (model)",
             "published GMACs", "parameters", "median latency (ms)", "peak memory",
             "latency overhead", "memory overhead (measured / model)",
             "MACs overhead (model)", "parameters overhead"])


def test_a_word_in_a_table_may_wrap_after_its_slash_underscore_or_tilde():
    html = to_html([Table(ENVIRONMENT), Table(IN_CONTEXT)], "t")
    for cell in ("<td>suites/<wbr>frames.yaml</td>", "<td>double_<wbr>attention</td>",
                 "13.3.0-6ubuntu2~<wbr>24.04)", "<td>0.1.0 / 097717c5d9a8</td>",
                 "<th>memory overhead (measured / model)</th>"):
        assert cell in html, cell
    # still escaped: a cell's markup is text
    assert "<td>a&lt;b_<wbr>c</td>" in to_html([Table(pd.DataFrame({"x": ["a<b_c"]}))], "t")


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("table", [ENVIRONMENT, IN_CONTEXT], ids=["environment", "in context"])
def test_the_widest_published_tables_fit_a_1280_pixel_screen(tmp_path: Path, table):
    index = tmp_path / "index.html"
    index.write_text(to_html([Table(table)], "t"))
    box = laid_out(index, 1280, "(s => s.scrollWidth + ' ' + s.clientWidth)"
                                "(document.querySelector('.scroll'))")
    wide, room = map(int, box.split())
    assert wide <= room, f"the table is {wide} pixels wide in a box of {room}"
