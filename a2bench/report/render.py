"""The two renderings of one document: report.md, and index.html from templates/page.html.j2.

Both walk the same element list (elements.py), so they say the same thing. The HTML is
escaped by Jinja's autoescape, never by hand; the look lives in templates/report.css.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from a2bench.report.elements import Bullets, Element, Heading, Image, Para, Table


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Iterable[Element]) -> str:
    """report.md: GitHub-flavoured Markdown, a table's caption in italics above it."""
    parts: list[str] = []
    for el in doc:
        if isinstance(el, Heading):
            parts.append(f"{'#' * el.level} {el.text}")
        elif isinstance(el, Para):
            parts.append(el.text)
        elif isinstance(el, Bullets):
            parts.append("\n".join(f"- {item}" for item in el.items))
        elif isinstance(el, Table):
            cols = [str(c) for c in el.frame.columns]
            lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |",
                     "|" + "|".join("---" for _ in cols) + "|"]
            lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |"
                      for row in el.frame.itertuples(index=False)]
            if el.caption:
                lines.insert(0, f"*{el.caption}*\n")
            parts.append("\n".join(lines))
        elif isinstance(el, Image):
            parts.append(f"![{el.alt}]({el.file})\n\n*{el.caption}*")
    return "\n\n".join(parts) + "\n"


def _rows(frame: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """A table's cells row by row, as report.md reads them (the index is not a column)."""
    return frame.itertuples(index=False)


FOLD_ROWS = 12  # a longer table or list folds in index.html (report.md keeps it whole)


@cache
def _environment() -> jinja2.Environment:
    """The templates ship inside the package (package data), so the loader finds them in an
    installed wheel as well as in a checkout."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("a2bench.report", "templates"),
        autoescape=True,  # every value in the page is text from the data, never markup
        trim_blocks=True, lstrip_blocks=True,  # a block tag on its own line leaves no line
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    # The template asks what each element is; the element classes stay free of rendering.
    env.tests.update(heading=lambda el: isinstance(el, Heading),
                     para=lambda el: isinstance(el, Para),
                     bullets=lambda el: isinstance(el, Bullets),
                     table=lambda el: isinstance(el, Table),
                     image=lambda el: isinstance(el, Image))
    env.filters["rows"] = _rows
    env.filters["code"] = _inline_code
    env.filters["breakable"] = _breakable
    env.filters["slug"] = slug
    return env


def slug(text: str) -> str:
    """A heading's id: its words in lower case joined by hyphens ("Headline: CONFIRMED" ->
    "headline-confirmed"), so a link can name a section."""
    words = re.findall(r"[a-z0-9]+", str(text).lower())
    # the headline's by its name alone: its verdict changes, and a link to it must not
    return "headline" if words[:1] == ["headline"] else "-".join(words) or "section"


def _inline_code(text: Any) -> Markup:
    """The text escaped, its Markdown code spans (`h: auto`) as <code>, as report.md shows
    them; a text with an unpaired backtick stays plain."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:
        return Markup.escape(text)
    return Markup("").join(Markup("<code>%s</code>") % part if i % 2 else Markup.escape(part)
                           for i, part in enumerate(parts))


# Where a word in a table's cell may wrap: after the / _ or ~ inside it (suites/positions.yaml,
# cudnn_deterministic, a compiler's 13.3.0-6ubuntu2~24.04), where a browser breaks no line. Such
# words had set their columns' least widths, and two tables ran past the 1,200-pixel column:
# the H100 report's environment (8 runs) and the ResNet-50 report's "In context" (14 columns).
JOINT = re.compile(r"(?<=[\w.])([/_~])(?=\w)")


def _breakable(value: Any) -> Markup:
    """A cell's text escaped, with a line break allowed (<wbr>) after each JOINT."""
    return Markup(JOINT.sub(r"\1<wbr>", str(Markup.escape(value))))


def to_html(doc: Iterable[Element], title: str) -> str:
    """index.html: the elements inside templates/page.html.j2, one self-contained page."""
    env = _environment()
    # The style sheet is our own file, not data: inlined as it is, so index.html stays one
    # self-contained page (it is read as source, not rendered, so CSS braces are never Jinja).
    css = Markup(env.loader.get_source(env, "report.css")[0])  # type: ignore[union-attr]
    doc = list(doc)
    # a list of the sections under the page's title: pages run to 30,000 pixels
    sections = [el.text for el in doc if isinstance(el, Heading) and el.level == 2]
    return env.get_template("page.html.j2").render(doc=doc, title=title, css=css,
                                                   fold=FOLD_ROWS, sections=sections)
