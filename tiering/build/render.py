"""Executed report notebook -> one self-contained HTML file -> A4 PDF.

The HTML comes from nbconvert's ``HTMLExporter`` with the ``tiering_report``
template (``tiering/templates/tiering_report``): a cover, a table of contents built
from the ``<h2 class="section">`` headings, then the rendered outputs. Code, prompts,
streams (stdout and stderr, so warnings too), errors, plain-text results and the
papermill parameter cells never reach the page. The file has no scripts and no
external links: it opens without a network.

Charts (:func:`tiering.present.charts.figure_html`) reach the page as SVG, text kept as
text and the fonts it uses embedded as subsets, so they stay sharp and readable on any
screen; the PDF is made from the ``media="print"`` page, whose charts are the same
SVGs without embedded fonts (WeasyPrint draws them as vector graphics with the
installed fonts).

The PDF comes from WeasyPrint on that HTML, using the template's print CSS (A4,
cover without header or footer, running header, "Page N of M", contents with page
numbers). WeasyPrint's warnings are sent to the ``tiering.build.render`` logger, and the
file is written atomically.

Report metadata is read from ``nb.metadata["tiering"]``:
``{"title", "client", "subtitle", "consultant", "period", "as_of", "generated",
"language"}``; every key is optional. The consultant is the consulting firm's name;
its logo (``logo=``, a PNG, JPEG or SVG file) is embedded in the HTML as a ``data:``
URL, so the page stays self-contained.
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import logging
import os
import re
import string
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiering import locale
from tiering.build import svgfonts
from tiering.errors import RenderError, require
from tiering.present.css import brand_css, colour_properties, css_string, font_family, tier_css
from tiering.present.i18n import t
from tiering.style import DEFAULT_PALETTE, MUTED, Palette

if TYPE_CHECKING:
    import nbformat

__all__ = [
    "MAX_LOGO_BYTES",
    "TEMPLATE_DIR",
    "TEMPLATE_NAME",
    "html_to_pdf",
    "logo_data_url",
    "notebook_to_html",
]

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE_NAME = "tiering_report"

# Output types that may appear in the report; everything else (text/plain results,
# JavaScript, widgets, LaTeX) is dropped.
_SHOWN_MIMETYPES = ("text/html", "text/markdown", "image/png", "image/jpeg", "image/svg+xml")
# Cells removed entirely: papermill's parameter cells and the usual "remove" tags.
_HIDDEN_CELL_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell", "remove_cell"})
_META_KEYS = ("title", "client", "subtitle", "consultant", "period", "as_of", "generated")
MAX_LOGO_BYTES = 2 * 1024 * 1024
_MEDIA = ("screen", "print")
# A chart of figure_html, exactly as it writes it: its SVG (a notebook run by tiering
# before 2026-12-07 also carries a PNG print copy, which is dropped).
_CHART_IMG = re.compile(
    r'<figure class="chart"><img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]*)"'
    r'(?: data-print-src="data:image/png;base64,[A-Za-z0-9+/=]*")?'
)


# ---- public API ----------------------------------------------------------------


def notebook_to_html(
    nb: nbformat.NotebookNode | str | os.PathLike[str],
    *,
    language: str | None = None,
    logo: str | os.PathLike[str] | None = None,
    palette: Palette | None = None,
    media: str = "screen",
) -> str:
    """Render an executed report notebook as one self-contained HTML page.

    ``nb`` is a ``nbformat.NotebookNode`` or the path of an ``.ipynb`` file. The
    ``language`` (``"en"``, ``"zh"`` or an added one: :func:`tiering.locale.languages`)
    of the cover, contents and page furniture defaults to
    ``nb.metadata["tiering"]["language"]``, then ``"en"``. ``logo`` is the consulting
    firm's logo for the cover (see :func:`logo_data_url`). ``palette`` is the report's
    brand (:meth:`tiering.params.Brand.palette`; default: the house style): colours,
    font, footer line, and its logo (instead of ``logo``) on the cover and in the
    page's header.

    Only rendered outputs appear: ``text/html``, ``text/markdown``, PNG, JPEG and
    SVG outputs of code cells, and Markdown cells. Code, prompts, streams, errors,
    plain-text-only results and cells tagged ``parameters``,
    ``injected-parameters`` or ``remove-cell`` are left out. The input notebook is
    not modified.

    ``media`` is what the page is for. The charts of
    :func:`tiering.present.charts.figure_html` are SVGs, their text as text;
    ``"screen"`` (the HTML report) embeds the glyphs they use as font subsets
    (:mod:`tiering.build.svgfonts`: a browser shows an ``<img>`` SVG without the page's
    fonts); ``"print"`` (the page :func:`html_to_pdf` gets) leaves them as they are:
    WeasyPrint draws them as vector graphics with the installed fonts matplotlib laid
    them out with.
    """
    from nbconvert import HTMLExporter

    node = _load_notebook(nb)
    meta = dict(node.metadata.get("tiering") or {})
    lang = language or meta.get("language") or "en"
    require(
        lang in locale.languages(),
        f"Unknown report language {lang!r}",
        where="notebook_to_html(language=...) or notebook metadata tiering.language",
        hint=f"use one of {', '.join(locale.languages())}",
        error=RenderError,
    )

    require(
        media in _MEDIA,
        f"Unknown medium {media!r}",
        where="notebook_to_html(media=...)",
        hint=f"use one of {', '.join(_MEDIA)}",
        error=RenderError,
    )
    clean = _report_cells(node)
    _charts_for(clean, media)
    palette = palette or DEFAULT_PALETTE
    context = _report_context(meta, lang, toc=_table_of_contents(clean), palette=palette)
    if palette.logo is not None:
        logo = palette.logo
    context["logo"] = logo_data_url(logo) if logo is not None else ""

    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        extra_template_paths=[str(TEMPLATE_DIR / TEMPLATE_NAME)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        sanitize_html=False,
        log=log.getChild("nbconvert"),
    )
    try:
        html, _ = exporter.from_notebook_node(clean, resources={"tiering": context})
    except Exception as exc:  # nbconvert/jinja raise many types
        raise RenderError(
            f"Could not render the report notebook as HTML: {exc}",
            where=f"template {TEMPLATE_DIR / TEMPLATE_NAME}",
            hint="check the notebook outputs and the template",
        ) from exc
    return html


def html_to_pdf(
    html: str, pdf_path: str | os.PathLike[str], *, base_url: str | None = None
) -> None:
    """Write ``html`` (from :func:`notebook_to_html`; for the report,
    ``media="print"``: the charts as vector SVG) as an A4 PDF at ``pdf_path``.

    The PDF is first written to a temporary file next to ``pdf_path`` and then moved
    into place, so a failed run never leaves a half-written report. Resources are
    only loaded from ``data:`` URLs and local files (relative to ``base_url``); any
    network URL is refused. WeasyPrint's warnings go to the ``tiering.build.render``
    logger.
    """
    from weasyprint import HTML

    target = Path(pdf_path)
    require(
        target.parent.is_dir(),
        f"Output folder {target.parent} does not exist",
        where=str(target),
        hint="create the folder first",
        error=RenderError,
    )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _weasyprint_logs_to_logging():
            document = HTML(string=html, base_url=base_url, url_fetcher=_local_url_fetcher())
            document.write_pdf(tmp)
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, RenderError) or not isinstance(exc, Exception):
            raise
        raise RenderError(
            f"Could not write the PDF report: {exc}",
            where=str(target),
            hint="see the log for WeasyPrint's messages",
        ) from exc


def logo_data_url(path: str | os.PathLike[str]) -> str:
    """The logo file as a ``data:`` URL (PNG, JPEG or SVG, at most ``MAX_LOGO_BYTES``).

    The type is read from the file's first bytes, not its name, so a renamed file is
    caught here rather than showing as a broken image on the cover.
    """
    path = Path(path)
    where = f"output.logo ({path})"
    require(
        path.is_file(),
        f"Logo file not found: {path}",
        where=where,
        hint="check output.logo; a relative path is relative to the parameter file",
        error=RenderError,
    )
    size = path.stat().st_size
    require(
        0 < size <= MAX_LOGO_BYTES,
        f"The logo file is {size:,} bytes; it must hold 1 to {MAX_LOGO_BYTES:,} bytes",
        where=where,
        hint="use a smaller PNG or an SVG (a cover logo needs about 600 px width)",
        error=RenderError,
    )
    data = path.read_bytes()
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    elif head.startswith(b"<") and b"<svg" in data[:4096].lower():
        mime = "image/svg+xml"
    else:
        raise RenderError(
            f"The logo {path.name} is not a PNG, JPEG or SVG image",
            where=where,
            hint="export the logo as PNG or SVG",
        )
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# ---- notebook preparation ------------------------------------------------------


def _load_notebook(nb: Any):
    import nbformat

    if isinstance(nb, (str, os.PathLike)):
        path = Path(nb)
        require(
            path.is_file(),
            f"Notebook {path} not found",
            where=str(path),
            hint="pass the executed notebook (.ipynb) or a NotebookNode",
            error=RenderError,
        )
        try:
            return nbformat.read(path, as_version=4)
        except Exception as exc:
            raise RenderError(
                f"Could not read notebook {path}: {exc}",
                where=str(path),
                hint="is it a valid .ipynb file?",
            ) from exc
    require(
        isinstance(nb, Mapping) and "cells" in nb,
        "Not a notebook",
        where=f"notebook_to_html({type(nb).__name__})",
        hint="pass a nbformat.NotebookNode or a path to an .ipynb file",
        error=RenderError,
    )
    return nb


def _report_cells(nb):
    """A copy of ``nb`` holding only what the reader may see."""
    import nbformat

    clean = copy.deepcopy(nb)
    if not isinstance(clean, nbformat.NotebookNode):
        clean = nbformat.from_dict(clean)
    cells = []
    for cell in clean.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & _HIDDEN_CELL_TAGS:
            continue
        if cell.cell_type == "code":
            outputs = [_shown_output(out) for out in cell.get("outputs", [])]
            cell.outputs = [out for out in outputs if out is not None]
            cell.source = ""
            if cell.outputs:
                cells.append(cell)
        elif cell.cell_type == "markdown":
            cell.source = _joined(cell.source)
            if cell.source.strip():
                cells.append(cell)
        elif cell.cell_type == "raw":
            cell.source = _joined(cell.source)
            if cell.get("metadata", {}).get("raw_mimetype", "").lower() == "text/html":
                cells.append(cell)
    clean.cells = cells
    return clean


def _charts_for(nb, media: str) -> None:
    """Make each chart of the notebook's HTML outputs what ``media`` shows, in place: the
    SVG with its fonts embedded (screen) or as it is (print)."""
    outputs = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if _CHART_IMG.search(out.get("data", {}).get("text/html", ""))
    ]
    if media == "print":
        for out in outputs:
            out.data["text/html"] = _CHART_IMG.sub(
                r'<figure class="chart"><img src="data:image/svg+xml;base64,\1"',
                out.data["text/html"],
            )
        return
    svgs = [
        base64.b64decode(match.group(1))
        for out in outputs
        for match in _CHART_IMG.finditer(out.data["text/html"])
    ]
    if not svgs:
        return
    with_fonts = iter(svgfonts.embed_fonts(svgs))

    def screen(_match: re.Match) -> str:
        svg = base64.b64encode(next(with_fonts)).decode("ascii")
        return f'<figure class="chart"><img src="data:image/svg+xml;base64,{svg}"'

    for out in outputs:
        out.data["text/html"] = _CHART_IMG.sub(screen, out.data["text/html"])


def _shown_output(output):
    """The output reduced to its displayable MIME types, or None if nothing shows."""
    if output.get("output_type") not in ("display_data", "execute_result"):
        if output.get("output_type") == "error":
            log.warning(
                "The report notebook contains an error output (%s); it is left out of the report",
                output.get("ename", "error"),
            )
        return None
    data = output.get("data", {})
    shown = {mime: _joined(data[mime]) for mime in _SHOWN_MIMETYPES if mime in data}
    if not shown:
        return None
    output.data = shown
    return output


def _joined(text: Any) -> str:
    """Notebook text fields may be stored as lists of lines."""
    return "".join(text) if isinstance(text, list) else text


class _SectionCollector(HTMLParser):
    """Collects ``<h2 class="section" id="...">`` headings (id, text, appendix)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag != "h2" or self._current is not None:
            return
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "section" in classes and attributes.get("id"):
            self._current = {"id": attributes["id"], "appendix": "appendix" in classes}
            self._text = []

    def handle_endtag(self, tag):
        if tag == "h2" and self._current is not None:
            self._current["text"] = " ".join("".join(self._text).split())
            self.sections.append(self._current)
            self._current = None

    def handle_data(self, data):
        if self._current is not None:
            self._text.append(data)


def _table_of_contents(nb) -> list[dict[str, Any]]:
    fragments = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for out in cell.outputs:
                data = out.get("data", {})
                fragments += [data[m] for m in ("text/html", "text/markdown") if m in data]
        else:  # markdown and raw HTML cells may hold literal <h2 class="section">
            fragments.append(cell.source)
    sections = []
    for fragment in fragments:
        collector = _SectionCollector()
        collector.feed(fragment)
        collector.close()
        sections += collector.sections
    seen: set[str] = set()
    toc = []
    for entry in sections:
        if entry["id"] in seen:
            log.warning(
                "Duplicate section id %r in the report; the contents link only to the first",
                entry["id"],
            )
            continue
        seen.add(entry["id"])
        toc.append(entry)
    return toc


# ---- template context and generated CSS -----------------------------------------


def _report_context(
    meta: Mapping[str, Any],
    lang: str,
    *,
    toc: list[dict[str, Any]],
    palette: Palette = DEFAULT_PALETTE,
) -> dict:
    values = {key: _text(meta.get(key)) for key in _META_KEYS}
    values["title"] = values["title"] or t("render.default_title", lang)
    labels = {
        key: t(f"render.{key}", lang)
        for key in (
            "client",
            "period",
            "as_of",
            "consultant",
            "generated",
            "prepared_for",
            "contents",
            "appendix",
            "confidential",
        )
    }
    return {
        **values,
        "lang": lang,
        "html_lang": locale.get(lang).html_lang,
        "generated_iso": _iso_date(meta.get("generated")),
        "labels": labels,
        "toc": toc,
        "stripe": palette.stripe,
        "footer": palette.footer,
        "brand_header": not palette.is_default,
        "dynamic_css": _dynamic_css(values, lang, palette),
        "phone_css": (TEMPLATE_DIR / TEMPLATE_NAME / "report-phone.css").read_text(
            encoding="utf-8"
        ),
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value).strip()


def _iso_date(value: Any) -> str:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    text = _text(value)
    try:
        return _dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return ""


def _dynamic_css(values: Mapping[str, str], lang: str, palette: Palette = DEFAULT_PALETTE) -> str:
    """Colour properties, tier rules, the @page rules with the running texts, and the
    brand's rules (:func:`tiering.present.css.brand_css`; none for the house style)."""
    root = colour_properties(palette=palette)
    # the brand's footer line: above the confidentiality note in every page's foot (the
    # cover shows it in its own foot, see the template)
    confidential = _css_string(t("render.confidential", lang))
    bottom_left = (
        f'{_css_string(palette.footer)} "\\a " {confidential};\n    white-space: pre-line'
        if palette.footer
        else confidential
    )
    header_left = values["client"] or values["title"]
    header_right = values["title"] if values["client"] else ""
    page = f"""
@page {{
  size: A4;
  margin: 20mm 19mm 20mm 19mm;
  font-family: {font_family(palette)};
  font-size: 7.5pt;
  color: {MUTED};
  /* the header rule: the page area's top border spans the full text width */
  border-top: 0.5pt solid #c5ccd3;
  padding-top: 5mm;
  @top-left {{
    content: {_css_string(header_left)};
    vertical-align: bottom; padding-bottom: 2.5mm;
  }}
  @top-right {{
    content: {_css_string(header_right)};
    vertical-align: bottom; padding-bottom: 2.5mm;
  }}
  @bottom-left {{
    content: {bottom_left};
    vertical-align: top; padding-top: 2.5mm;
  }}
  @bottom-right {{
    content: {_page_counter_content(t("render.page_of", lang))};
    vertical-align: top; padding-top: 2.5mm; white-space: nowrap;
  }}
}}
@page cover {{
  margin: 0;
  border: none;
  padding: 0;
  @top-left {{ content: none; }}
  @top-right {{ content: none; }}
  @bottom-left {{ content: none; }}
  @bottom-right {{ content: none; }}
}}
"""
    return root + tier_css(palette.tier_colors) + "\n" + page + brand_css(palette)


def _page_counter_content(pattern: str) -> str:
    """``"Page {page} of {pages}"`` -> ``"Page " counter(page) " of " counter(pages)``."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(pattern):
        if literal:
            parts.append(_css_string(literal))
        if field is not None:
            require(
                field in ("page", "pages"),
                f"Unknown field {{{field}}} in render.page_of",
                where="tiering/present/i18n/render.yaml",
                hint="use {page} and {pages}",
                error=RenderError,
            )
            parts.append(f"counter({field})")
    return " ".join(parts) or '""'


_css_string = css_string


def _new_file_mode() -> int:
    """The mode a newly created file gets under the current umask (mkstemp uses 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


# ---- WeasyPrint plumbing ----------------------------------------------------------


def _local_url_fetcher():
    """A WeasyPrint URL fetcher that never touches the network (data: and file: only)."""
    try:  # WeasyPrint >= 68: fetchers are URLFetcher objects
        from weasyprint.urls import URLFetcher
    except ImportError:  # older WeasyPrint: a plain function
        from weasyprint import default_url_fetcher

        def fetch(url, *args, **kwargs):
            if not url.startswith(("data:", "file:")):
                raise ValueError(f"URI uses disallowed protocol: {url}")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch
    return URLFetcher(allowed_protocols={"data", "file"})


_SLOW_SUBSET_HINT = (
    "WeasyPrint subsets fonts with fontTools because the HarfBuzz subsetting library is "
    "missing; CJK reports then take about 10 s instead of 2 s. Install the system "
    "package libharfbuzz-subset0 (Debian/Ubuntu) or harfbuzz (Homebrew, conda-forge)."
)


class _ForwardHandler(logging.Handler):
    """Re-emits WeasyPrint / fontTools records on the ``tiering.build.render`` logger.

    Progress messages and font-subsetting chatter go to DEBUG; the missing
    HarfBuzz-Subset notice becomes one actionable warning per process.
    """

    _subset_hint_shown = False

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelno
        message = record.getMessage()
        if record.name.startswith(("fontTools", "weasyprint.progress")):
            level = logging.DEBUG
        elif "HarfBuzz-Subset" in message:
            if not _ForwardHandler._subset_hint_shown:
                _ForwardHandler._subset_hint_shown = True
                log.warning(_SLOW_SUBSET_HINT)
            level = logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s: %s", record.name, message)


@contextmanager
def _weasyprint_logs_to_logging() -> Iterator[None]:
    handler = _ForwardHandler()
    saved = []
    for name in ("weasyprint", "weasyprint.progress", "fontTools"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, propagate in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate
