"""The figures' colours (plotting.block_colors) on the blocks of the published reports: a block
keeps its hue in every panel, every colour stands out on white, and no two blocks of a report
are near the same colour."""

from __future__ import annotations

import colorsys
import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from a2bench.report.plotting import block_colors

# the blocks of results/report-gpu-nvidia-h100-80gb-hbm3, in analysis.block_order's order
H100 = ["double_attention", "double_attention[bfloat16]", "double_attention[bfloat16, train]",
        "double_attention[train]", "nonlocal_right", "nonlocal_right[train]",
        "nonlocal_right[bfloat16, train]", "nonlocal_right[bfloat16]", "se",
        "se[bfloat16, train]", "se[train]", "se[bfloat16]", "nonlocal[sdpa]", "nonlocal[eager]",
        "nonlocal[sdpa, bfloat16, train]", "nonlocal[sdpa, bfloat16]",
        "nonlocal[eager, bfloat16]", "nonlocal[eager, train]",
        "nonlocal[eager, bfloat16, train]", "nonlocal[sdpa, train]", "criss_cross", "gc"]
# results/report-resnet50's: a train variant may come first (cases run shuffled)
RESNET = ["resnet50[double_attention, train]", "resnet50[se]", "resnet50[gc]",
          "resnet50[nonlocal]", "resnet50[gc, train]", "resnet50[se, train]",
          "resnet50[nonlocal, train]", "resnet50[none]", "resnet50[double_attention]",
          "resnet50[none, train]"]
HEADLINE = ["double_attention", "double_attention[train]", "nonlocal_right",
            "nonlocal_right[train]", "se"]
CONDITIONS = {"float32", "float16", "bfloat16", "float64", "train", "compiled"}


def linear(color: str) -> list[float]:
    return [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(color)]


def contrast(color: str) -> float:
    """WCAG 2's contrast ratio of the colour against white."""
    r, g, b = linear(color)
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def delta_e(a: str, b: str) -> float:
    """CIELAB ΔE (1976), D65."""
    def lab(color: str) -> np.ndarray:
        m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                      [0.0193, 0.1192, 0.9505]])
        x, y, z = m @ np.array(linear(color)) / np.array([0.95047, 1.0, 1.08883])
        f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])
    return float(np.linalg.norm(lab(a) - lab(b)))


def split(block: str) -> tuple[str, frozenset[str]]:
    """(the block with its choices, its condition): resnet50[se, train] -> resnet50[se], train."""
    base, _, rest = block.partition("[")
    parts = [p.strip() for p in rest.rstrip("]").split(",") if p.strip()]
    choices = [p for p in parts if p not in CONDITIONS]
    return (f"{base}[{', '.join(choices)}]" if choices else base,
            frozenset(p for p in parts if p in CONDITIONS))


def hue_apart(a: str, b: str) -> float:
    """How far apart two colours' hues are, in turns (0.06: about 20 degrees)."""
    d = abs(colorsys.rgb_to_hls(*to_rgb(a))[0] - colorsys.rgb_to_hls(*to_rgb(b))[0])
    return min(d, 1 - d)


def test_a_block_keeps_its_hue_in_every_panel():
    """ResNet-50's blocks had changed colour between the forward and train panels (SE purple,
    then olive): each condition of a block is now a shade of the block's own colour, and the
    plainest (float32, forward) has that colour itself, whichever ran first."""
    colors = block_colors(RESNET)
    assert len(set(colors.values())) == len(RESNET)
    for block in RESNET:
        name, condition = split(block)
        if condition:
            assert hue_apart(colors[block], colors[name]) < 0.06, (block, colors)
    assert colors["resnet50[double_attention]"] == block_colors(["resnet50[double_attention]"])[
        "resnet50[double_attention]"]
    families = {split(b)[0] for b in RESNET}
    assert len({colors[f] for f in families}) == len(families)
    # the H100 report's SE: green in its forward, train, bf16 and bf16 train panels alike
    h100 = block_colors(H100)
    assert all(hue_apart(h100[f"se{c}"], h100["se"]) < 0.06
               for c in ("[train]", "[bfloat16]", "[bfloat16, train]"))


@pytest.mark.parametrize("blocks", [H100, RESNET, HEADLINE,
                                    ["double_attention"] + [f"double_attention[v{i}]"
                                                            for i in range(7)]
                                    + [f"b{i}" for i in range(22)]])
def test_every_colour_stands_three_to_one_against_the_page(blocks):
    """Pale partners (#bedef4, 1.41:1; tab20's light half) had been hard to see on white."""
    from a2bench.report.figures import OTHER_GROUPS
    from a2bench.report.plotting import _shade

    for block, color in block_colors(blocks).items():
        assert contrast(color) >= 3.0, (block, color, round(contrast(color), 2))
        # a block's further groups of fixed sizes, drawn thinner in shades of its colour
        for i in range(1, OTHER_GROUPS + 1):
            shade = _shade(color, i, OTHER_GROUPS + 1)
            assert contrast(shade) >= 3.0, (block, shade, round(contrast(shade), 2))


@pytest.mark.parametrize("blocks", [H100, RESNET, HEADLINE])
def test_no_two_blocks_of_a_report_are_near_one_colour(blocks):
    """The roofline draws every block of a report in one panel: the bf16 non-local order and
    criss-cross there (#f3bebf, #f7b6d2, 14 apart) had been the same pink."""
    colors = block_colors(blocks)
    for a, b in itertools.combinations(blocks, 2):
        assert delta_e(colors[a], colors[b]) >= 18, (a, colors[a], b, colors[b])
