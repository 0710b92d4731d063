"""How numbers read, in every rendering of a run: the report, compare's table, the audit, the
run summary and the published pages. One helper per kind of figure, so a figure that reads
"2.34 GiB" in the report reads the same in the README.

Blank or "n/a" stands for a figure that is not available; nothing here decides anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any


def finite(x: Any) -> bool:
    """True for a number that is neither missing, NaN nor infinite."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fixed(x: Any, digits: int = 2) -> str:
    """A number with `digits` decimals for a table cell; n/a when not available."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    text = f"{float(x):.{digits}f}"
    return text[1:] if re.fullmatch(r"-0\.0*", text) else text  # "-0.00" reads as "0.00"


def significant(x: Any, digits: int = 3) -> str:
    """A number to `digits` significant figures, trailing zeros kept (4.00, 90.0 beside 75.7,
    3.860 beside 3.858: a figure shows the precision it has); n/a when not available. Whole
    from 100 (123 and 100, never "123." nor "100." with a stray dot) and from 1000 to 10^9
    (51600, not 5.16e+04, in a column beside 158)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    text = f"{float(x):#.{digits}g}".replace(".e", "e")
    if "e+" in text and abs(float(text)) < 1e9:
        return f"{float(text):.0f}"
    text = text.removesuffix(".")
    return text[1:] if re.fullmatch(r"-0\.?0*", text) else text  # "-0.00" reads as "0.00"


def share(pct: float) -> str:
    """A percentage off, to 3 figures and whole from 100 (28800, not 2.88e+04; 999.7 reads
    1000, not 1e+03); inf as is."""
    return f"{pct:.0f}" if math.isfinite(pct) and pct >= 100 else f"{pct:.3g}"


def percent(x: Any) -> str:
    """A relative difference as a signed percentage."""
    return f"{float(x) * 100:+.1f} %" if finite(x) else "n/a"


def integer(x: Any) -> str:
    """A count; blank when not available."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{int(x)}"


def count(x: Any) -> str:
    """A large count with thousands separators (66,853,011,456 MACs, as the audit writes them,
    not 66853011456); blank when not available."""
    return f"{int(x):,}" if finite(x) else ""


def size(x: Any) -> str:
    """A swept size: whole numbers as they are (2816, not 2.82e+03); a threshold computed past
    any size (where an overhead would fall under 5 %) in 3 figures, not 32 digits."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    if float(x) >= 1e12:
        return f"{float(x):.3g}"
    return f"{float(x):.0f}" if float(x) >= 100 else f"{float(x):.3g}"


def format_bytes(n: Any) -> str:
    """Bytes in the largest binary unit that keeps the figure at 1 or more (3 significant
    digits, no exponent); n/a for a missing figure."""
    if not finite(n):
        return "n/a"
    n = float(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"


def mebibytes(n: Any, digits: int = 2) -> str:
    """Bytes in MiB with fixed decimals (the run summary's column), below 1 to 3 significant
    digits (a tiny case's 4 KiB reads 0.00391, not 0.00); blank when not available."""
    return _fixed_or_small(float(n) / 2**20, digits) if finite(n) else ""


def _fixed_or_small(x: float, digits: int) -> str:
    return f"{x:.{digits}f}" if x == 0 or abs(x) >= 1 else f"{x:.3g}"


def milliseconds(seconds: Any, digits: int = 3) -> str:
    """Seconds as milliseconds with fixed decimals; blank when not available."""
    return f"{float(seconds) * 1e3:.{digits}f}" if finite(seconds) else ""


def ms_text(seconds: Any) -> str:
    """A time in milliseconds to 3 significant figures, trailing zeros kept and whole from 100
    (954 ms, 89.0 ms, 4.17 ms; 1119 ms, not 1.12e+03); n/a when not available. Whole from
    what rounds to 100 at 3 figures: 99.96 ms reads 100 ms (it had read "100. ms")."""
    if not finite(seconds):
        return "n/a"
    v = float(seconds) * 1e3
    return f"{v:.0f} ms" if abs(float(f"{v:.3g}")) >= 100 else f"{v:#.3g} ms"


_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def power_of_n(k: Any) -> str:
    """A class of growth along positions N as a power, N¹, N¹·⁵ (the pages write O(N²))."""
    return "N" + f"{float(k):g}".translate(_SUPERSCRIPT)


def ratio_text(x: Any, digits: int = 4) -> str:
    """A ratio to `digits` significant figures, or as many more as tell it from 1: a count
    0.02 % off its model had read "(1×)" beside a count that differs."""
    text = significant(x, digits)
    while finite(x) and float(x) != 1 and float(text) == 1 and digits < 12:
        digits += 1
        text = significant(x, digits)
    return text


def millions(n: Any, digits: int = 2) -> str:
    """A count in millions (MMACs), below one million to 3 significant digits (SE's 512 MACs
    read 0.000512, not 0.00); blank when not available."""
    return _fixed_or_small(float(n) / 1e6, digits) if finite(n) else ""


def clipped(text: Any, limit: int = 160) -> str:
    """A long text for a table cell, at most `limit` characters and a mark: whole where it fits,
    else the whole sentences that fit (where they fill half of it or more), else cut at a word,
    with "…" where the rest is left out (a failure's reason had ended "Including non-PyTorch
    me")."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", head)]
    if ends and ends[-1] >= limit // 2:
        return head[:ends[-1]] + " …"
    cut = head.rfind(" ")
    return (head[:cut] if cut > 0 else text[:limit]).rstrip(" ,;:") + "…"


def plural(count: int, noun: str) -> str:
    """`1 job`, `2 jobs`: a count with its noun."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def saved_text(count: int) -> str:
    """What a stopped sweep kept: `1 result is saved`, `3 results are saved`."""
    return f"{plural(count, 'result')} {'is' if count == 1 else 'are'} saved"


def per_node(values: Mapping[str, Any]) -> str:
    """`3` where the nodes agree (keyed ""), `n1 3, n2 7` where they differ (run.store's
    node_values); an empty value is left out."""
    return ", ".join(" ".join(filter(None, (host, str(v)))) for host, v in values.items()
                     if v not in (None, ""))
