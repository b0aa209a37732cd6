"""Tests of tiering.build.render: executed notebook -> self-contained HTML -> A4 PDF."""

from __future__ import annotations

import base64
import logging
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tiering.build import render
from tiering.errors import RenderError
from tiering.present.css import tier_css
from tiering.style import TIER_COLORS

HAVE_POPPLER = shutil.which("pdftotext") is not None and shutil.which("pdffonts") is not None
needs_poppler = pytest.mark.skipif(
    not HAVE_POPPLER, reason="poppler-utils (pdftotext) not installed"
)

CODE_TEXT = "SECRET_CODE_TEXT = compute_tiers()"
PARAM_TEXT = "PARAM_NAME_XYZ = 'abc'"
INJECTED_TEXT = "INJECTED_VALUE_QWE"
STDERR_TEXT = "FutureWarning: STDERR_NOISE_TEXT is deprecated"
STDOUT_TEXT = "STDOUT_NOISE_TEXT"
PLAIN_TEXT = "PLAIN_RESULT_TEXT_42"
CHINESE = "客户分级显示出明显的差异"
TABLE_ROWS = 70  # long enough to span two pages


def _png(width: int = 24, height: int = 12) -> str:
    """A tiny solid-colour PNG, base64-encoded."""
    raw = b"".join(b"\x00" + b"\x1b\x4f\x72" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode("ascii")


def _html(fragment: str):
    return new_output(
        "display_data",
        data={"text/html": fragment, "text/plain": "<IPython.core.display.HTML object>"},
    )


def report_notebook(language: str = "en") -> nbformat.NotebookNode:
    """A small executed report notebook, as papermill and the library would leave it."""
    zh = language == "zh"
    nb = new_notebook()
    nb.metadata["tiering"] = {
        "title": "客户分级报告" if zh else "Customer tiering report",
        "client": "北风贸易" if zh else "Northwind Trading",
        "subtitle": "ABC 分级" if zh else "ABC tiering of active customers",
        "consultant": "张伟" if zh else "Jane Doe",
        "period": "2024-01-01 – 2024-12-31",
        "as_of": "2024-12-31",
        "generated": "2025-01-15",
        "language": language,
    }
    params = new_code_cell(PARAM_TEXT)
    params.metadata["tags"] = ["parameters"]
    injected = new_code_cell(
        f"method = '{INJECTED_TEXT}'",
        outputs=[new_output("stream", name="stdout", text=INJECTED_TEXT)],
    )
    injected.metadata["tags"] = ["injected-parameters"]
    noisy = new_code_cell(
        CODE_TEXT,
        outputs=[
            new_output("stream", name="stderr", text=STDERR_TEXT + "\n"),
            new_output("stream", name="stdout", text=STDOUT_TEXT + "\n"),
        ],
    )
    plain = new_code_cell(
        "1 + 1",
        outputs=[new_output("execute_result", data={"text/plain": PLAIN_TEXT}, execution_count=4)],
    )
    rows = "".join(
        f'<tr><td>C{1000 + i}</td><td><span class="tier-badge tier-{1 + (i % 3) * 2}">'
        f'{"ABC"[i % 3]}</span></td><td class="num">{(i * 7919) % 100000:,}</td></tr>'
        for i in range(TABLE_ROWS)
    )
    summary = _html(
        '<h2 id="sec-summary" class="section">Executive summary</h2>'
        '<p class="lead">Tier A holds most of the revenue.</p>'
        '<div class="kpis"><div class="kpi"><span class="kpi-value">12,345</span>'
        '<span class="kpi-label">Customers</span></div></div>'
        '<ul class="findings"><li>A-tier customers spent 6.1x the B-tier median.</li></ul>'
        f"<p>{CHINESE}。</p>"
        '<div class="warning">312 rows were rejected.</div>'
    )
    tiers = _html(
        '<h2 id="sec-tiers" class="section">Customer tiers</h2>'
        "<h3>Top customers</h3>"
        '<table class="data"><thead><tr><th>Customer</th><th>Tier</th>'
        f'<th class="num">NETSPEND_HEADER</th></tr></thead><tbody>{rows}</tbody></table>'
        f'<figure class="chart"><img src="data:image/png;base64,{_png()}">'
        "<figcaption>Figure 1. Revenue share by tier.</figcaption></figure>"
    )
    strategy = _html(
        '<h2 id="sec-strategy" class="section">Strategies by tier</h2>'
        '<div class="strategy-card tier-1"><h3>Protect tier A</h3>'
        '<p class="card-headline">Named account managers.</p>'
        "<dl><dt>Budget</dt><dd>¥1,200,000</dd></dl><ul><li>Quarterly reviews</li></ul></div>"
    )
    appendix = _html(
        '<h2 id="sec-method" class="section appendix">Method and data</h2>'
        "<p>Kruskal–Wallis with Dunn post-hoc tests.</p>"
    )
    chart = new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})
    nb.cells = [
        params,
        injected,
        noisy,
        new_code_cell("show()", outputs=[summary]),
        plain,
        new_markdown_cell("The tiers below were built with the **ABC** method."),
        new_code_cell("show()", outputs=[tiers, chart]),
        new_code_cell("show()", outputs=[strategy]),
        new_code_cell("show()", outputs=[appendix]),
    ]
    return nb


# ---- HTML ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def html_en() -> str:
    return render.notebook_to_html(report_notebook("en"))


def test_html_has_no_code_prompts_streams_or_plain_results(html_en):
    for text in (
        CODE_TEXT,
        "SECRET_CODE_TEXT",
        PARAM_TEXT,
        "PARAM_NAME_XYZ",
        INJECTED_TEXT,
        STDERR_TEXT,
        "STDERR_NOISE_TEXT",
        STDOUT_TEXT,
        PLAIN_TEXT,
        "In&nbsp;[",
        "Out[",
        "<IPython.core.display.HTML object>",
        "<Figure>",
    ):
        assert text not in html_en, text
    assert "Executive summary" in html_en
    assert "<strong>ABC</strong>" in html_en  # Markdown cells are rendered
    assert html_en.count("data:image/png;base64,") == 2  # figure in HTML + PNG output


def test_html_is_self_contained(html_en):
    lowered = html_en.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", lowered)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", lowered)
    assert "mathjax" not in lowered and "require.js" not in lowered
    assert '<meta name="viewport"' in html_en or 'name="viewport"' in html_en


def test_html_lang_cover_and_contents(html_en):
    assert '<html lang="en">' in html_en
    cover = html_en[html_en.index('<section class="cover') : html_en.index('class="toc"')]
    for text in (
        "Customer tiering report",
        "Northwind Trading",
        "ABC tiering of active customers",
        "2024-01-01 – 2024-12-31",
        "2024-12-31",
        "Jane Doe",
        "2025-01-15",
        "Analysis period",
        "Prepared by",
    ):
        assert text in cover, text
    links = re.findall(r'<a href="#(sec-[^"]+)">([^<]+)</a>', html_en)
    assert links == [
        ("sec-summary", "Executive summary"),
        ("sec-tiers", "Customer tiers"),
        ("sec-strategy", "Strategies by tier"),
        ("sec-method", "Method and data"),
    ]
    assert 'toc-entry toc-appendix"><a href="#sec-method"' in html_en


def test_html_chinese_labels_and_lang():
    html = render.notebook_to_html(report_notebook("zh"))
    assert '<html lang="zh-CN">' in html
    assert "目录" in html and "分析期间" in html and CHINESE in html
    assert '"第 " counter(page) " 页，共 " counter(pages) " 页"' in html


def test_language_argument_overrides_metadata():
    html = render.notebook_to_html(report_notebook("zh"), language="en")
    assert '<html lang="en">' in html and "Contents" in html
    with pytest.raises(RenderError, match="Unknown report language"):
        render.notebook_to_html(report_notebook("en"), language="fr")


def test_tier_css_uses_style_colours(html_en):
    for i, color in enumerate(TIER_COLORS, start=1):
        rule = re.search(rf"\.tier-badge\.tier-{i}\b[^{{]*\{{([^}}]*)\}}", html_en)
        assert rule and f"background: {color}" in rule.group(1), (i, color)
        assert re.search(rf"\.strategy-card\.tier-{i} \{{ border-left-color: {color}; \}}", html_en)
    static_css = (render.TEMPLATE_DIR / render.TEMPLATE_NAME / "report.css").read_text().lower()
    for color in TIER_COLORS:  # colours live in style.py only
        assert color.lower() not in static_css


def test_badge_text_contrast():
    css = tier_css(("#1b4f72", "#f5b041"))
    assert ".tier-1 { background: #1b4f72; color: #ffffff; }" in css
    assert ".tier-2 { background: #f5b041; color: #1f2933; }" in css


def test_accepts_path_and_leaves_input_untouched(tmp_path, html_en):
    nb = report_notebook("en")
    path = tmp_path / "report.ipynb"
    nbformat.write(nb, path)
    before = nbformat.writes(nb)
    assert render.notebook_to_html(path) == html_en
    assert render.notebook_to_html(str(path)) == html_en
    render.notebook_to_html(nb)
    assert nbformat.writes(nb) == before
    with pytest.raises(RenderError, match="not found"):
        render.notebook_to_html(tmp_path / "missing.ipynb")


def test_header_texts_are_escaped_for_css():
    nb = report_notebook("en")
    nb.metadata["tiering"]["client"] = 'Evil "Co" </style><script>x</script>'
    html = render.notebook_to_html(nb)
    assert "<script" not in html
    assert '"Evil \\000022Co\\000022 \\00003c/style\\00003e' in html


def test_error_outputs_are_dropped(caplog):
    nb = report_notebook("en")
    nb.cells.append(
        new_code_cell(
            "1/0",
            outputs=[
                new_output(
                    "error",
                    ename="ZeroDivisionError",
                    evalue="division by zero",
                    traceback=["TRACEBACK_TEXT"],
                )
            ],
        )
    )
    with caplog.at_level(logging.WARNING, logger="tiering.build.render"):
        html = render.notebook_to_html(nb)
    assert "TRACEBACK_TEXT" not in html and "ZeroDivisionError" not in html
    assert "ZeroDivisionError" in caplog.text


# ---- PDF ------------------------------------------------------------------------------


def _pdftotext(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    cmd = ["pdftotext", "-layout"]
    if first:
        cmd += ["-f", str(first)]
    if last:
        cmd += ["-l", str(last)]
    return subprocess.run(cmd + [str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def _pages(pdf: Path) -> list[str]:
    return _pdftotext(pdf).split("\f")[:-1]


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    if not HAVE_POPPLER:
        pytest.skip("poppler-utils (pdftotext) not installed")
    out = tmp_path_factory.mktemp("pdf")
    paths = {}
    for lang in ("en", "zh"):
        paths[lang] = out / f"report_{lang}.pdf"
        render.html_to_pdf(render.notebook_to_html(report_notebook(lang)), paths[lang])
    return paths


@needs_poppler
def test_pdf_text(pdfs):
    pages = _pages(pdfs["en"])
    body = "\n".join(pages[2:])
    for text in (
        "Executive summary",
        "Customer tiers",
        "Top customers",
        "Strategies by tier",
        "Method and data",
        "NETSPEND_HEADER",
        "C1000",
        f"C{1000 + TABLE_ROWS - 1}",
        "Protect tier A",
        "Figure 1. Revenue share by tier.",
        CHINESE,
        "Page 2 of",
    ):
        assert text in body or text in pages[1], text
    everything = "\n".join(pages)
    for text in (
        "SECRET_CODE_TEXT",
        "STDERR_NOISE_TEXT",
        "STDOUT_NOISE_TEXT",
        PLAIN_TEXT,
        "PARAM_NAME_XYZ",
        INJECTED_TEXT,
    ):
        assert text not in everything, text
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]


@needs_poppler
def test_pdf_cover_is_page_one_without_header_or_footer(pdfs):
    cover = _pages(pdfs["en"])[0]
    assert "Customer tiering report" in cover and "Northwind Trading" in cover
    assert "Jane Doe" in cover and "2024-12-31" in cover
    assert "Page 1 of" not in cover and "Executive summary" not in cover
    assert "Page 2 of" in _pages(pdfs["en"])[1]


@needs_poppler
def test_pdf_contents_page_numbers_point_at_the_sections(pdfs):
    pages = _pages(pdfs["en"])
    toc = pages[1]
    assert "Contents" in toc
    for heading in ("Executive summary", "Customer tiers", "Strategies by tier", "Method and data"):
        match = re.search(rf"^\s*{heading}[\s.]*?(\d+)\s*$", toc, re.MULTILINE)
        assert match, f"no page number for {heading!r} in:\n{toc}"
        number = int(match.group(1))
        assert number >= 3
        assert heading in pages[number - 1]
        assert all(heading not in page for page in pages[2 : number - 1])


@needs_poppler
def test_pdf_long_table_repeats_its_header(pdfs):
    pages = _pages(pdfs["en"])
    with_rows = [i for i, page in enumerate(pages) if re.search(r"\bC10\d\d\b", page)]
    assert len(with_rows) >= 2, "the test table should span pages"
    for i in with_rows:
        assert "NETSPEND_HEADER" in pages[i]


@needs_poppler
def test_pdf_sections_start_on_a_new_page_below_the_running_header(pdfs):
    pages = _pages(pdfs["en"])
    for heading in ("Executive summary", "Customer tiers", "Strategies by tier", "Method and data"):
        page = next(p for p in pages[2:] if heading in p)
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        assert re.fullmatch(r"Northwind Trading\s+Customer tiering report", lines[0]), lines[0]
        assert lines[1] == heading


@needs_poppler
def test_pdf_chinese_embeds_noto_cjk_with_bold(pdfs):
    pages = _pages(pdfs["zh"])
    text = "\n".join(pages)
    assert CHINESE in text and "目录" in pages[1]
    assert re.search(r"第 2 页，共 \d+ 页", pages[1])
    fonts = subprocess.run(
        ["pdffonts", str(pdfs["zh"])], check=True, capture_output=True, text=True
    ).stdout
    cjk = [line for line in fonts.splitlines() if "NotoSansCJK" in line.replace("-", "")]
    assert cjk, fonts
    assert all(" yes " in line for line in cjk)  # embedded
    assert any("Bold" in line for line in cjk), fonts


def test_pdf_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "report.pdf"
    target.write_bytes(b"old report")

    def fail(*args, **kwargs):
        raise ValueError("boom")

    import weasyprint

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", fail)
    with pytest.raises(RenderError, match="boom"):
        render.html_to_pdf("<p>x</p>", target)
    assert target.read_bytes() == b"old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]
    with pytest.raises(RenderError, match="does not exist"):
        render.html_to_pdf("<p>x</p>", tmp_path / "missing" / "report.pdf")


def test_weasyprint_warnings_go_to_logging(tmp_path, caplog, capfd):
    html = (
        '<html><head><style>p { font-family: "DejaVu Sans"; bogus-property: 1; }'
        '</style></head><body><p>x</p><img src="https://example.invalid/a.png"></body></html>'
    )
    target = tmp_path / "small.pdf"
    with caplog.at_level(logging.WARNING, logger="tiering.build.render"):
        render.html_to_pdf(html, target)
    assert target.read_bytes().startswith(b"%PDF")
    messages = [r.getMessage() for r in caplog.records if r.name == "tiering.build.render"]
    assert any("bogus-property" in m for m in messages), messages
    assert any("example.invalid" in m for m in messages), messages  # no network fetch
    assert "bogus-property" not in capfd.readouterr().err


# ---- cover logo and firm --------------------------------------------------------------


def _write_png(path: Path, width: int = 60, height: int = 20) -> Path:
    path.write_bytes(base64.b64decode(_png(width, height)))
    return path


def _cover(html: str) -> str:
    return html[html.index('<section class="cover') : html.index('class="toc"')]


def test_logo_is_embedded_on_the_cover(tmp_path):
    logo = tmp_path / "logo.svg"
    logo.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 4">'
        '<rect width="10" height="4" fill="#123456"/></svg>',
        encoding="utf-8",
    )
    html = render.notebook_to_html(report_notebook("en"), logo=logo)
    cover = _cover(html)
    expected = base64.b64encode(logo.read_bytes()).decode("ascii")
    img = re.search(r"<img [^>]*>", cover).group(0)
    assert 'class="cover-logo"' in img and 'alt="Jane Doe"' in img
    assert f'src="data:image/svg+xml;base64,{expected}"' in img
    assert 'class="cover has-brand"' in cover
    assert (
        'class="cover-firm"' not in cover
    )  # the logo stands for the firm; its name is in the table
    png = _write_png(tmp_path / "logo.png")
    assert "data:image/png;base64," in _cover(
        render.notebook_to_html(report_notebook("en"), logo=png)
    )


def test_firm_name_on_the_cover_without_logo_is_escaped():
    nb = report_notebook("en")
    nb.metadata["tiering"]["consultant"] = "Smith & <Partners>"
    cover = _cover(render.notebook_to_html(nb))
    assert '<span class="cover-firm">Smith &amp; &lt;Partners&gt;</span>' in cover
    nb.metadata["tiering"]["consultant"] = ""
    cover = _cover(render.notebook_to_html(nb))
    assert "cover-brand" not in cover and "has-brand" not in cover


def test_bad_logos_are_refused_with_a_clear_message(tmp_path, monkeypatch):
    with pytest.raises(RenderError, match="Logo file not found"):
        render.logo_data_url(tmp_path / "missing.png")
    fake = tmp_path / "logo.png"
    fake.write_text("not an image", encoding="utf-8")
    with pytest.raises(RenderError, match="not a PNG, JPEG or SVG"):
        render.logo_data_url(fake)
    big = _write_png(tmp_path / "big.png")
    monkeypatch.setattr(render, "MAX_LOGO_BYTES", 10)
    with pytest.raises(RenderError, match="bytes; it must hold 1 to 10 bytes"):
        render.logo_data_url(big)


@needs_poppler
def test_pdf_cover_shows_the_logo(tmp_path):
    pdf = tmp_path / "logo.pdf"
    html = render.notebook_to_html(
        report_notebook("en"), logo=_write_png(tmp_path / "logo.png", 90, 30)
    )
    render.html_to_pdf(html, pdf)
    listing = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    pages_with_90x30 = {
        int(line.split()[0]) for line in listing if line.split()[3:5] == ["90", "30"]
    }
    assert pages_with_90x30 == {1}


# ---- page breaks: headings, rows, short tables ---------------------------------------

FILLER = (
    "Tier B customers buy less often than tier A customers but still bring a large "
    "share of revenue, so they deserve targeted offers and regular care. "
)


def _flow_notebook() -> nbformat.NotebookNode:
    """Headings after paragraphs of many lengths (some land at a page foot), a table
    with three-line rows, and short tables after long text."""
    nb = report_notebook("en")
    parts = ['<h2 id="sec-flow" class="section">Flow</h2>']
    for k in range(40):
        parts.append(
            f"<h3>Heading {k:02d}</h3><p>Body {k:02d} starts. "
            + FILLER * (1 + (k * 7) % 6)
            + "</p>"
        )
    rows = "".join(
        f"<tr><td>Row {k:02d} top<br>{FILLER[:60]}<br>Row {k:02d} bottom</td>"
        f'<td class="num">{k}</td></tr>'
        for k in range(60)
    )
    parts.append(
        f'<table class="data"><thead><tr><th>Item</th><th class="num">n</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    for k in range(12):
        body = "".join(f"<tr><td>Short {k:02d} row {r}</td></tr>" for r in range(6))
        parts.append(
            f"<p>{FILLER * (2 + (k * 5) % 7)}</p>"
            f'<table class="data"><thead><tr><th>Short table {k:02d}</th></tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )
    nb.cells.append(new_code_cell("show()", outputs=[_html("".join(parts))]))
    return nb


@pytest.fixture(scope="module")
def flow_pages(tmp_path_factory) -> list[str]:
    if not HAVE_POPPLER:
        pytest.skip("poppler-utils (pdftotext) not installed")
    pdf = tmp_path_factory.mktemp("flow") / "flow.pdf"
    render.html_to_pdf(render.notebook_to_html(_flow_notebook()), pdf)
    return _pages(pdf)


def _page_of(pages: list[str], text: str) -> int:
    found = [i for i, page in enumerate(pages) if text in page]
    assert len(found) == 1, (text, found)
    return found[0]


@needs_poppler
def test_no_heading_is_stranded_at_the_foot_of_a_page(flow_pages):
    moved = 0
    for k in range(40):
        head, body = (
            _page_of(flow_pages, f"Heading {k:02d}"),
            _page_of(flow_pages, f"Body {k:02d} starts"),
        )
        assert head == body, f"Heading {k:02d} on page {head + 1}, its text on page {body + 1}"
        moved += head != _page_of(flow_pages, f"Heading {k - 1:02d}") if k else 0
    assert moved >= 3  # the headings really do cross page boundaries


@needs_poppler
def test_table_rows_are_never_split_across_pages(flow_pages):
    pages = {_page_of(flow_pages, f"Row {k:02d} top") for k in range(60)}
    assert len(pages) >= 2  # the table spans pages
    for k in range(60):
        assert _page_of(flow_pages, f"Row {k:02d} top") == _page_of(
            flow_pages, f"Row {k:02d} bottom"
        ), k


@needs_poppler
def test_short_tables_are_kept_whole(flow_pages):
    for k in range(12):
        page = _page_of(flow_pages, f"Short table {k:02d}")
        assert all(f"Short {k:02d} row {r}" in flow_pages[page] for r in range(6)), k
