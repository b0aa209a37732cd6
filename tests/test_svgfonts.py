"""Tests of tiering.build.svgfonts: the fonts embedded in the report's SVG charts, and of
the two pages tiering.build.render makes from charts (screen: SVG; print: PNG)."""

from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbformat
import pytest
from fontTools.ttLib import TTFont
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tiering.build import render, svgfonts
from tiering.errors import RenderError
from tiering.present import charts

CJK = charts.setup_fonts()
needs_cjk = pytest.mark.skipif(CJK is None, reason="no CJK font installed (fonts-noto-cjk)")


def _chart(title: str, xlabel: str) -> bytes:
    fig, ax = plt.subplots(figsize=(4, 2.5), layout="constrained")
    ax.plot([0, 1], [1, 2])
    ax.set_title(title, fontweight="bold", fontsize=10)
    ax.set_xlabel(xlabel)
    try:
        return charts.svg_bytes(fig)
    finally:
        plt.close(fig)


def _faces(svg: bytes) -> dict[tuple[str, str], set[int]]:
    """(family, weight) -> the code points of the embedded font's cmap."""
    out = {}
    for family, weight, flavor, data in re.findall(
        r"@font-face\{font-family:'([^']*)';font-weight:(\d+);font-style:normal;"
        r"src:url\(data:font/(woff2?);base64,([A-Za-z0-9+/=]+)\)",
        svg.decode("utf-8"),
    ):
        with TTFont(io.BytesIO(base64.b64decode(data))) as font:
            assert font.flavor == flavor
            out[(family, weight)] = set(font.getBestCmap())
    return out


def _texts(svg: bytes) -> list[tuple[str, str]]:
    """(text, weight) of every <text> element."""
    out = []
    for attributes, content in re.findall(r"<text\b([^>]*)>(.*?)</text>", svg.decode("utf-8")):
        weight = re.search(r"font-weight: (\d+)", attributes)
        out.append((content, weight.group(1) if weight else "400"))
    return out


@needs_cjk
def test_every_character_of_every_chart_is_in_its_embedded_fonts():
    svgs = [_chart("客户 Tier share", "Share of customers (%)"), _chart("Revenue", "营收 & <金额>")]
    embedded = svgfonts.embed_fonts(svgs)
    for svg in embedded:
        faces = _faces(svg)
        assert faces, "no @font-face in the chart"
        for text, weight in _texts(svg):
            plain = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
            for ch in plain:
                assert any(ord(ch) in cmap for (_, w), cmap in faces.items() if w == weight), (
                    ch,
                    text,
                )
    # the CJK face draws the Chinese and the Latin text (it is first in the family list);
    # the title's bold face is the real Bold
    first = _faces(embedded[0])
    assert (CJK, "400") in first and (CJK, "700") in first
    assert ord("客") in first[(CJK, "700")] and ord("客") not in first[(CJK, "400")]


@needs_cjk
def test_each_chart_gets_only_its_own_glyphs():
    a, b = svgfonts.embed_fonts([_chart("客户", "x"), _chart("营收", "y")])
    regular_a, regular_b = _faces(a)[(CJK, "400")], _faces(b)[(CJK, "400")]
    assert ord("x") in regular_a and ord("x") not in regular_b
    bold_a, bold_b = _faces(a)[(CJK, "700")], _faces(b)[(CJK, "700")]
    assert ord("客") in bold_a and ord("客") not in bold_b
    assert ord("营") in bold_b and ord("营") not in bold_a


def test_family_lists_are_shortened_and_metadata_dropped():
    (svg,) = svgfonts.embed_fonts([_chart("Title", "label")])
    text = svg.decode("utf-8")
    assert "<metadata>" not in text
    families = set(re.findall(r"font-family: ([^;\"]+)", text))
    declared = {f"'{family}'" for family, _ in _faces(svg)}
    for value in families:
        names = [n.strip() for n in value.split(",")]
        assert names[-1] == "sans-serif"
        assert set(names[:-1]) <= declared  # only embedded families before the generic
    assert "Bitstream Vera Sans" not in text and "Lucida Grande" not in text


def test_same_charts_same_bytes():
    svgs = [_chart("客户 Tier", "a"), _chart("B", "营收")]
    assert svgfonts.embed_fonts(svgs) == svgfonts.embed_fonts(svgs)


def test_a_chart_without_text_is_left_as_it_is():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1])
    ax.set_axis_off()
    svg = charts.svg_bytes(fig)
    plt.close(fig)
    assert b"<text" not in svg
    (out,) = svgfonts.embed_fonts([svg])
    assert out == re.sub(rb"\s*<metadata>.*?</metadata>", b"", svg, count=1, flags=re.DOTALL)
    assert b"@font-face" not in out and len(out) < len(svg)


# ---- the screen and print pages of render -----------------------------------------------


def _notebook() -> nbformat.NotebookNode:
    fig, ax = plt.subplots(figsize=(4, 2.5), layout="constrained")
    ax.bar(["A", "B"], [3, 1])
    ax.set_title("客户 by tier")
    snippet = charts.figure_html(fig, alt="Customers by tier", caption="Customers by tier.")
    nb = new_notebook()
    out = new_output("display_data", data={"text/html": snippet, "text/plain": "<HTML>"})
    nb.cells = [new_code_cell("show()", outputs=[out])]
    return nb


def test_screen_page_has_the_svg_with_fonts_and_no_png():
    page = render.notebook_to_html(_notebook())
    assert "data:image/png" not in page and "data-print-src" not in page
    src = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page).group(1)
    svg = base64.b64decode(src)
    assert b"@font-face" in svg and b">\xe5\xae\xa2\xe6\x88\xb7 by tier</text>" in svg  # 客户
    assert re.search(r'style="--chart-min-width: \d+px"', page)
    assert render.notebook_to_html(_notebook()) == page  # deterministic


def test_print_page_has_the_svg_as_drawn():
    """The PDF's page: the chart's own SVG, its text as text, no fonts embedded (WeasyPrint
    draws it with the installed fonts matplotlib laid it out with)."""
    nb = _notebook()
    drawn = re.search(
        r'src="data:image/svg\+xml;base64,([^"]+)"', nb.cells[0].outputs[0].data["text/html"]
    )
    page = render.notebook_to_html(nb, media="print")
    assert "data:image/png" not in page and "data-print-src" not in page
    src = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page).group(1)
    assert src == drawn.group(1)
    assert b"@font-face" not in base64.b64decode(src)
    assert (
        'alt="Customers by tier"' in page and "<figcaption>Customers by tier.</figcaption>" in page
    )


def test_a_notebook_with_the_old_png_print_copy_renders_without_it():
    """A report notebook run before the charts were SVG only carries a PNG print copy in
    ``data-print-src``: both pages drop it and show the SVG."""
    nb = _notebook()
    out = nb.cells[0].outputs[0]
    out.data["text/html"] = out.data["text/html"].replace(
        '" alt=', '" data-print-src="data:image/png;base64,iVBORw0KGgo=" alt=', 1
    )
    for media in ("screen", "print"):
        page = render.notebook_to_html(nb, media=media)
        assert "data-print-src" not in page and "data:image/png" not in page
        assert 'src="data:image/svg+xml;base64,' in page


def test_unknown_medium_is_refused():
    with pytest.raises(RenderError, match="Unknown medium 'paper'"):
        render.notebook_to_html(_notebook(), media="paper")
