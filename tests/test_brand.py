"""The brand (issue 22): ``brand:`` parameters checked (colours, logo, tier colours, the
text colour on the primary colour at WCAG AA) and applied alike to the HTML and PDF, the
charts, the slide deck and the workbook's header rows; the default brand is the house
style (the golden files, ``test_golden.py``, hold the default outputs byte for byte)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tiering import params, style
from tiering.analysis import pipeline
from tiering.build import deck, outputs, render
from tiering.errors import ParamsError
from tiering.present import charts
from tiering.present.css import brand_css, palette_of

from .conftest import ROOT, need_tool

EXAMPLE = ROOT / "params" / "examples" / "brand.yaml"
LOGO = ROOT / "params" / "examples" / "brand_logo.png"
FAST = ["tiering.compare_with=[]", "stats.n_boot=200"]
NS = {
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "p": "http://schemas.openxmlformats.org/presentationml/2006/main",
}
GREEN, ORANGE = "#0b6e4f", "#c2410c"


def _validate(brand: dict, **top):
    return params.validate({"data": {"path": "x.csv"}, "brand": brand, **top}, base_dir=ROOT)


def _problem(brand: dict, **top) -> str:
    with pytest.raises(ParamsError) as info:
        _validate(brand, **top)
    return str(info.value)


# --------------------------------------------------------------------------- checks


def test_a_bad_colour_is_refused_naming_its_key():
    msg = _problem({"primary": "#12345"})
    assert "brand.primary" in msg and "#rrggbb" in msg
    msg = _problem({"tier_colors": ["#fff", "greenish", "#000"]})
    assert "brand.tier_colors" in msg and "colour 2" in msg and "greenish" in msg
    assert "brand.secondary" in _problem({"secondary": "rgb(1,2,3)"})


def test_an_unquoted_hex_colour_in_yaml_is_explained(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("data: {path: x.csv}\nbrand:\n  secondary: #c2410c\n", encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        params.load(path)
    assert "secondary is empty" in str(info.value) and 'secondary: "#1b4f72"' in str(info.value)


def test_colours_are_read_as_css_writes_them():
    b = _validate(
        {"primary": "#ABC", "secondary": "navy", "tier_colors": ["red", "#00FF00"]},
        tiering={"labels": ["A", "B"], "abc": {"cutoffs": [0.8]}},
    ).brand
    assert b.primary == "#aabbcc"
    assert b.secondary == "#000080"
    assert b.tier_colors == ["#ff0000", "#00ff00"]
    with pytest.raises(ValueError, match="not a colour"):
        style.parse_color("transparent")


def test_too_few_tier_colours_says_how_many_are_needed():
    four = {"labels": ["A", "B", "C", "D"], "abc": {"cutoffs": [0.5, 0.8, 0.95]}}
    msg = _problem({"tier_colors": ["#111111", "#222222"]}, tiering=four)
    assert "brand" in msg and "tier_colors has 2 colours for 4 tiers" in msg
    assert "give 4 colours" in msg
    # more colours than tiers: the first ones, best tier first
    b = _validate({"tier_colors": ["#111111", "#222222", "#333333", "#444444"]}).brand
    assert b.palette(3).tier_palette(["A", "B", "C"]) == {
        "A": "#111111",
        "B": "#222222",
        "C": "#333333",
    }


def test_a_missing_logo_is_refused(tmp_path):
    msg = _problem({"logo": str(tmp_path / "nowhere.png")})
    assert "brand.logo" in msg and "no file" in msg and "nowhere.png" in msg


def test_a_text_file_named_logo_png_is_refused(tmp_path):
    fake = tmp_path / "logo.png"
    fake.write_text("not an image\n", encoding="utf-8")
    msg = _problem({"logo": str(fake)})
    assert "brand.logo" in msg and "not a readable image" in msg


def test_a_logo_must_be_the_image_its_name_says(tmp_path):
    jpeg = tmp_path / "logo.png"
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(jpeg, format="JPEG")
    assert "rename it to .jpeg" in _problem({"logo": str(jpeg)})
    svg = tmp_path / "logo.svg"
    svg.write_text("<html><body/></html>", encoding="utf-8")
    assert "not an SVG image" in _problem({"logo": str(svg)})
    bomb = tmp_path / "bomb.svg"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>',
        encoding="utf-8",
    )
    assert "brand.logo" in _problem({"logo": str(bomb)})
    assert "must be a .png" in _problem({"logo": str(tmp_path / "logo.gif")})


def test_a_real_svg_and_a_relative_logo_are_taken(tmp_path):
    svg = tmp_path / "logo.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        '<rect width="10" height="10" fill="#0b6e4f"/></svg>',
        encoding="utf-8",
    )
    assert _validate({"logo": str(svg)}).brand.logo == svg.resolve()
    cfg = params.load(EXAMPLE)
    assert cfg.brand.logo == LOGO.resolve()


def test_a_font_name_must_be_a_plain_family_name():
    assert "brand.font" in _problem({"font": 'Arial"; } body { color: red'})
    assert _validate({"font": "Liberation Serif"}).brand.font == "Liberation Serif"
    assert "brand.footer" in _problem({"footer": "two\nlines"})


# --------------------------------------------------------------------------- contrast


@pytest.mark.parametrize(
    ("fg", "bg", "ratio"),
    [
        # white on the house accent, by hand: channels 27, 79, 114 linearised to 0.010960,
        # 0.078187, 0.168269; L = 0.2126·0.010960 + 0.7152·0.078187 + 0.0722·0.168269
        # = 0.070400; (1 + 0.05) / (0.070400 + 0.05) = 8.72
        ("#ffffff", "#1b4f72", 8.72),
        ("#000000", "#ffffff", 21.0),  # the largest ratio there is
        ("#777777", "#ffffff", 4.48),  # WebAIM's example: #777 on white just fails AA
        ("#767676", "#ffffff", 4.54),  # ... and #767676 is the lightest grey that passes
        ("#ffffff", "#f5b041", 1.88),  # white on the amber tier colour: unreadable
    ],
)
def test_contrast_ratios_match_the_hand_computed_ones(fg, bg, ratio):
    assert style.contrast_ratio(fg, bg) == pytest.approx(ratio, abs=0.005)
    assert style.contrast_ratio(bg, fg) == pytest.approx(ratio, abs=0.005)


def test_the_text_colour_on_the_primary_is_picked_or_refused():
    assert _validate({"primary": "#1b4f72"}).brand.text_colour() == ("#ffffff", "automatic")
    light = _validate({"primary": "#f5b041"}).brand
    assert light.text_colour() == (style.NEAR_BLACK, "automatic")
    assert style.contrast_ratio(style.NEAR_BLACK, "#f5b041") >= style.MIN_CONTRAST
    assert light.summary()["text_on_primary"] == style.NEAR_BLACK
    assert light.summary()["text_on_primary_chosen"] == "automatic"
    # headings in the primary colour on white: 1.88:1, below the 3:1 of large text
    assert light.summary()["primary_on_white"] == pytest.approx(1.88, abs=0.005)
    msg = _problem({"primary": "#f5b041", "text_on_primary": "white"})
    assert "text_on_primary #ffffff" in msg and "1.88:1" in msg and "4.5:1" in msg
    assert _validate({"primary": "#0b6e4f", "text_on_primary": "#fff"}).brand.text_colour() == (
        "#ffffff",
        "given",
    )


def test_the_default_brand_is_the_house_style():
    cfg = _validate({})
    palette = cfg.brand.palette(3)
    assert palette == style.DEFAULT_PALETTE and palette.is_default
    assert palette.tier_palette(["A", "B", "C"]) == style.tier_palette(["A", "B", "C"])
    assert brand_css(palette) == ""
    assert "brand" not in cfg.to_notebook() and "brand" not in params.TOP_LEVEL_KEYS
    # the notebook's parameters are what they were; the build hands the brand on
    assert set(cfg.to_notebook()) == set(params.TOP_LEVEL_KEYS)


def test_papermill_may_pass_the_brand_of_a_parameter_file():
    """``papermill -f params/examples/brand.yaml`` sets ``brand`` as a global: the
    notebook lets it through (a misspelt name is still refused)."""
    namespace: dict = {"client": "x"}
    params.note_globals(namespace)
    namespace["brand"] = {"primary": GREEN}
    params.refuse_undeclared(namespace)
    params.note_globals(namespace)
    namespace["brnad"] = {}
    with pytest.raises(ParamsError, match="'brnad' is not a parameter"):
        params.refuse_undeclared(namespace)


def test_brand_tier_colours_sit_where_the_tiers_classes_point():
    palette = _validate({"tier_colors": [GREEN, "#e3a21a", "#7d8597"]}).brand.palette(3)
    labels = ["A", "B", "C"]
    classes = style.tier_css_classes(labels)
    for label, colour in palette.tier_palette(labels).items():
        number = int(classes[label].removeprefix("tier-"))
        assert palette.tier_colors[number - 1] == colour
    assert palette.tier_palette(labels) == {"A": GREEN, "B": "#e3a21a", "C": "#7d8597"}
    assert palette.stripe == (1, 3, 6)


# --------------------------------------------------------------------------- HTML and PDF


def _notebook(pages: int = 3):
    """A report notebook whose sections fill ``pages`` pages after the cover."""
    nb = new_notebook()
    for i in range(pages):
        html = (
            f'<h2 class="section" id="s{i}">Section {i}</h2>'
            + "<p>Text of the section.</p>" * 3
            + '<table class="data"><thead><tr><th>Tier</th><th>n</th></tr></thead>'
            + '<tbody><tr><td><span class="tier-badge tier-1">A</span></td><td>1</td></tr>'
            + "</tbody></table>"
        )
        out = new_output("display_data", data={"text/html": html})
        nb.cells.append(new_code_cell("show()", outputs=[out]))
    nb.metadata["tiering"] = {"title": "Report", "client": "Client Co.", "language": "en"}
    return nb


def _branded(**extra):
    cfg = params.load(EXAMPLE, overrides=[f"brand.{k}={v}" for k, v in extra.items()])
    return cfg.brand.palette(len(cfg.tiering.labels))


def test_the_html_carries_the_brand():
    palette = _branded()
    html = render.notebook_to_html(_notebook(), palette=palette)
    assert f"--accent: {GREEN};" in html
    assert f"h3, .kpi-value, .cover-firm {{ color: {ORANGE}; }}" in html
    # the tier badges and the cover stripe in the brand's tier colours
    assert f".tier-badge.tier-1, .cover-stripe .tier-1 {{ background: {GREEN};" in html
    assert ".tier-badge.tier-3, .cover-stripe .tier-3 { background: #e3a21a;" in html
    assert '<span class="tier-1"></span><span class="tier-3"></span><span class="tier-6">' in html
    assert '"Liberation Serif", "Noto Sans CJK SC"' in html  # the CJK font kept after it
    header = html[html.index('<header class="brand-header has-logo">') :].split("</header>")[0]
    assert 'src="data:image/png;base64,' in header and "<span>Client Co.</span>" in header
    assert '<footer class="brand-footer">Northwind Advisory · Berlin' in html
    # the default: none of it
    plain = render.notebook_to_html(_notebook())
    assert "brand-header" not in plain.split("</style>")[-1]
    assert "brand-footer" not in plain and "Liberation" not in plain


def test_the_footer_is_on_every_pdf_page(tmp_path):
    exe = need_tool("pdftotext")
    html = render.notebook_to_html(_notebook(3), palette=_branded())
    pdf = tmp_path / "report.pdf"
    render.html_to_pdf(html, pdf)
    text = subprocess.run([exe, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")[:-1]
    assert len(pages) >= 5  # cover, contents, three sections
    for page in pages:
        assert "Northwind Advisory · Berlin · northwind.example" in page
    # the confidentiality note stays on the pages after the cover
    assert all("Confidential" in page for page in pages[1:])


# --------------------------------------------------------------------------- charts


def _pixels(fig) -> set[tuple[int, int, int]]:
    import matplotlib.pyplot as plt

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    plt.close(fig)
    return {tuple(int(c) for c in px) for px in rgba[..., :3].reshape(-1, 3)}


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def analysis():
    """The demo analysis with the example's brand."""
    return pipeline.run(params.load(EXAMPLE, overrides=FAST))


def test_the_charts_draw_in_the_brand_colours(analysis):
    a = analysis[0]
    brand = palette_of(a)
    summary = a.tier_summary
    branded = _pixels(charts.tier_overview(summary, language="en", brand=brand).get_figure())
    house = _pixels(charts.tier_overview(summary, language="en").get_figure())
    assert _rgb(GREEN) in branded and _rgb("#7d8597") in branded
    assert _rgb(GREEN) not in house
    assert _rgb(style.TIER_COLORS[0]) in house and _rgb(style.TIER_COLORS[0]) not in branded


# --------------------------------------------------------------------------- deck and workbook


def _hexes(element, tag: str) -> set[str]:
    return {e.get("val") for e in element.iter(f"{{{NS['a']}}}{tag}")}


def test_the_deck_is_in_the_brand(analysis, tmp_path):
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    a = analysis[0]
    prs = Presentation(str(deck.write_deck(a, tmp_path / "report.pptx")))
    slides = list(prs.slides)
    cover = slides[0]
    band = [s for s in cover.shapes if s.shape_type == MSO_SHAPE_TYPE.AUTO_SHAPE][0]
    assert str(band.fill.fore_color.rgb) == GREEN[1:].upper()
    # the logo: large on the cover, small on every other slide
    pictures = [[s for s in sl.shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE] for sl in slides]
    assert pictures[0][0].height > 2 * pictures[1][0].height
    assert all(p for p in pictures)
    # each slide's title rule and title in the primary colour
    for slide in slides[1:]:
        lines = [s for s in slide.shapes if s.shape_type == MSO_SHAPE_TYPE.LINE]
        assert str(lines[0].line.color.rgb) == GREEN[1:].upper()
        assert GREEN[1:].upper() in _hexes(slide.shapes.title.element, "srgbClr")
    # the tier table's header row: the primary colour with its text colour
    tables = [s for sl in slides for s in sl.shapes if s.has_table]
    header = tables[0].table.cell(0, 1)
    assert str(header.fill.fore_color.rgb) == GREEN[1:].upper()
    assert "FFFFFF" in _hexes(header._tc, "srgbClr")
    # the key figures in the secondary colour; the footer line; the fonts
    assert any(ORANGE[1:].upper() in _hexes(s.element, "srgbClr") for s in slides[2].shapes)
    texts = [sh.text_frame.text for sh in slides[3].shapes if sh.has_text_frame]
    assert "Northwind Advisory · Berlin · northwind.example" in texts
    run = next(slides[1].element.iter(f"{{{NS['a']}}}rPr"))
    assert run.find("a:latin", NS).get("typeface") == "Liberation Serif"
    assert run.find("a:ea", NS).get("typeface") == style.CJK_FONT
    # the charts in the brand's tier colours: the profile chart's revenue bars
    import io

    from PIL import Image

    charts_drawn = [
        Image.open(io.BytesIO(s.image.blob)).convert("RGB")
        for sl in slides
        for s in sl.shapes
        if s.shape_type == MSO_SHAPE_TYPE.PICTURE and s.width > 4 * 914400
    ]
    colours = [{c for _, c in img.getcolors(1 << 24)} for img in charts_drawn]
    assert any(_rgb("#e3a21a") in c for c in colours)  # tier B, solid in the profile chart
    assert not any(_rgb(style.TIER_COLORS[2]) in c for c in colours)  # the house teal (B)
    assert deck.overflows(prs) == []


def test_an_svg_logo_is_left_off_the_slides_with_a_warning(analysis, tmp_path, caplog):
    """python-pptx places bitmaps only: an SVG logo stays on the PDF and HTML, and the
    deck says why it has none."""
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    svg = tmp_path / "logo.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="10">'
        f'<rect width="40" height="10" fill="{GREEN}"/></svg>',
        encoding="utf-8",
    )
    a = analysis[0]
    brand = a.params.brand.model_copy(update={"logo": svg})
    a = dataclasses.replace(a, params=a.params.model_copy(update={"brand": brand}))
    with caplog.at_level("WARNING", logger="tiering.build.deck"):
        prs = Presentation(str(deck.write_deck(a, tmp_path / "report.pptx")))
    assert "logo.svg is an SVG image" in caplog.text
    pictures = [s for s in prs.slides[0].shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE]
    assert pictures == []
    html = render.notebook_to_html(_notebook(1), palette=palette_of(a))
    assert "data:image/svg+xml;base64," in html


def test_a_font_wider_than_the_measured_one_is_not_used():
    assert deck.brand_font(None) == (deck.FONT, "default")
    assert deck.brand_font("No Such Font Family") == (deck.FONT, "not installed")
    assert deck.brand_font("Liberation Serif") == ("Liberation Serif", "fits")
    if deck.brand_font("DejaVu Sans")[1] != "not installed":
        assert deck.brand_font("DejaVu Sans") == (deck.FONT, "wider than " + deck.FONT)


def test_the_workbook_headers_take_the_brand(analysis, tmp_path):
    from openpyxl import load_workbook

    a, loaded = analysis
    outputs.write_tables(a, loaded, tmp_path)
    wb = load_workbook(tmp_path / "action_lists.xlsx")
    for ws in wb.worksheets:
        cell = ws["A1"]
        assert cell.fill.fgColor.rgb.endswith(GREEN[1:].upper()), ws.title
        assert cell.font.color.rgb.endswith("FFFFFF") and cell.font.b
        assert cell.font.name == "Liberation Serif"
    # the default brand: the house accent
    house = dataclasses.replace(a, params=a.params.model_copy(update={"brand": params.Brand()}))
    (tmp_path / "house").mkdir()
    outputs.write_tables(house, loaded, tmp_path / "house")
    cell = load_workbook(tmp_path / "house" / "action_lists.xlsx").worksheets[0]["A1"]
    assert cell.fill.fgColor.rgb.endswith(style.ACCENT[1:].upper())


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("path", sorted((ROOT / "params" / "examples").glob("*.yaml")), ids=str)
def test_every_example_parameter_file_is_valid(path: Path):
    params.load(path)


@pytest.mark.slow
def test_the_brand_example_builds_all_four_outputs(tmp_path):
    import json

    from openpyxl import load_workbook
    from pptx import Presentation

    from tiering.build import report

    exe = need_tool("pdftotext")
    folder = report.build(params.load(EXAMPLE), output=tmp_path / "brand", params_path=EXAMPLE)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert f"--accent: {GREEN};" in html and 'class="brand-header has-logo"' in html
    text = subprocess.run(
        [exe, str(folder / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.split("\f")[:-1]
    assert len(pages) > 10
    assert all("northwind.example" in page for page in pages)
    prs = Presentation(str(folder / "report.pptx"))
    assert len(prs.slides) > 10 and any(s.shape_type == 13 for s in prs.slides[0].shapes)
    wb = load_workbook(folder / "action_lists.xlsx")
    assert wb.worksheets[0]["A1"].fill.fgColor.rgb.endswith(GREEN[1:].upper())
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["brand"]["primary"] == GREEN
    assert manifest["brand"]["text_on_primary"] == "#ffffff"
    assert manifest["brand"]["text_on_primary_chosen"] == "automatic"
    assert manifest["brand"]["contrast"] == pytest.approx(6.25, abs=0.01)
    assert "brand_logo.png" in json.dumps(manifest["inputs"])
