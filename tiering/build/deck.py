"""The slide deck ``report.pptx``: the report's findings as 16:9 slides (python-pptx).

``write_deck(analysis, path)`` writes the deck of one analysis in the report's language:
cover; agenda; executive summary with the key figures as large numbers; the key
findings; the tier table (a native, editable table); the Pareto curve; the tier
profiles; "how different are the tiers"; the holdout check and the tier migration (when
the analysis has them); the budget; one slide per tier with its plan and the priority
actions the data calls for; next steps; an appendix with the method and the provenance.
Every number and sentence comes from the report's own functions and catalogues (the
executive summary is read from :func:`tiering.present.narrative.section_summary`); the
findings' full text is in the speaker notes. Charts are the report's charts, as PNG
at :data:`CHART_DPI`.

Text fitting, by a measured rule (:func:`text_overflow`, which the tests apply to every
text frame and table cell): the text of a frame is wrapped to the frame's width less its
insets (and a paragraph's hanging indent) with the glyph widths of the deck's font
(:data:`FONT`, the file fontconfig finds, measured with Pillow), Latin words breaking at
spaces and Chinese between characters (no line starting with closing punctuation, none
ending with opening punctuation), with :data:`AUTOSPACE` between a Chinese character and
a Latin letter or digit (LibreOffice adds it); lines may fill only :data:`WIDTH_SLACK` of
the width, a margin for the applications' own line breaking. The lines times the
paragraph's line spacing, plus the space before paragraphs, must not exceed the frame's
height less its insets. Every paragraph of the deck has an exact line spacing of
:data:`LINE` times its size, so PowerPoint and LibreOffice space lines alike (a
paragraph without one is measured with the font's own line height). A text that does
not fit is set smaller, within limits; then a list goes on onto a continuation slide,
and other text is shortened with "…" (its full text is in the speaker notes). Frames
never grow or shrink their text by themselves (``noAutofit``); table rows are as tall as
their measured text.

Every run names :data:`FONT` as its Latin and East Asian (``a:ea``) typeface, and the
report language; a brand's font (``brand.font``) becomes the Latin typeface when it is
installed and no wider than :data:`FONT` (:func:`brand_font`), Chinese keeps
:data:`FONT`. The brand's colours, logo (PNG or JPEG) and footer line are applied as in
the report (:class:`tiering.params.Brand`). The same analysis and date give the same bytes: fixed core
properties and ZIP time stamps.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from tiering import __version__, locale
from tiering.analysis.pipeline import Analysis
from tiering.analysis.transitions import LAPSED
from tiering.present import charts, narrative
from tiering.present import stats as stats_text
from tiering.present.css import palette_of
from tiering.present.htmlkit import fmt_date, fmt_int, fmt_money, fmt_num, fmt_pct
from tiering.present.i18n import t, tn
from tiering.present.methods import method_name, method_subtitle
from tiering.present.strategy import (
    budget_share_text,
    budget_share_total,
    budget_shares,
    recommendations_of,
)
from tiering.present.strategy_text import (
    budget_rule_text,
    findings,
    money_text,
    share_text,
    strategies_of,
)
from tiering.style import ACCENT, CJK_FONT, MUTED

log = logging.getLogger(__name__)

__all__ = [
    "CHART_DPI",
    "FONT_SAMPLE",
    "brand_font",
    "FONT",
    "Overflow",
    "deck_bytes",
    "overflows",
    "text_overflow",
    "write_deck",
]

#: The deck's typeface, Latin and East Asian: the one the PDF report is set in.
FONT = CJK_FONT
CHART_DPI = 200
#: Lines may fill this share of a frame's width (the applications break lines a little
#: differently from the measurement).
WIDTH_SLACK = 0.95

_EMU_PER_INCH = 914400
_EMU_PER_PT = 12700
SLIDE_W, SLIDE_H = 13.333, 7.5  # inches: 16:9
_MARGIN = 0.6
_INSET_X, _INSET_Y = 0.05, 0.03  # inches: a text box's insets
_CELL_X, _CELL_Y = 0.08, 0.04  # inches: a table cell's margins
_BULLET = 1.1  # a bullet's hanging indent, in ems of the paragraph's size
_NUMBER = 1.9  # a number's ("12.")
#: The distance between lines, in ems of the largest run of a paragraph: set exactly on
#: every paragraph, so that every application spaces the lines alike.
LINE = 1.2
_TEXT, _LIGHT, _WHITE = "333333", "EEF3F7", "FFFFFF"
_ACCENT, _MUTED = ACCENT.lstrip("#").upper(), MUTED.lstrip("#").upper()
_ELLIPSIS = "…"


# --------------------------------------------------------------------------- the font


@dataclass(frozen=True)
class _Face:
    path: str
    index: int


def _fc_match(pattern: str) -> tuple[_Face, str] | None:
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-f", "%{file}\n%{index}\n%{family}\n", pattern],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) < 3 or not out[0] or not Path(out[0]).is_file():
        return None
    return _Face(out[0], int(out[1] or 0)), out[2]


@functools.cache
def _face(bold: bool) -> tuple[_Face, bool]:
    """The font file measured for regular or bold text, and whether it is the real
    bold face (else the regular one, widened: applications embolden it)."""
    found = _fc_match(f"{FONT}:style={'Bold' if bold else 'Regular'}")
    if found is not None and FONT in found[1].split(","):
        return found[0], True
    if bold:
        return _face(False)[0], False
    from matplotlib import font_manager  # no CJK font: DejaVu Sans, as the charts fall back

    return _Face(font_manager.findfont("DejaVu Sans"), 0), True


_EM = 400  # the pixel size the widths are measured at


@functools.cache
def _pil_font(bold: bool):
    from PIL import ImageFont

    face, _ = _face(bold)
    return ImageFont.truetype(
        face.path, _EM, index=face.index, layout_engine=ImageFont.Layout.BASIC
    )


@functools.cache
def line_height_em() -> float:
    """The font's own line height in ems (FreeType's ascent + descent of the face): what
    an application may use for a paragraph without an exact line spacing."""
    ascent, descent = _pil_font(False).getmetrics()
    return (ascent + descent) / _EM


@functools.lru_cache(maxsize=1 << 16)
def _em_width(text: str, bold: bool) -> float:
    width = _pil_font(bold).getlength(text) / _EM
    return width if _face(bold)[1] else width * 1.06


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """The width of ``text`` in points at ``size`` points, on one line."""
    return _em_width(text, bold) * size


#: Latin text a brand's font is measured on against :data:`FONT` (see :func:`brand_font`).
FONT_SAMPLE = (
    "The quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ %,.¥$"
)


@functools.cache
def brand_font(family: str | None) -> tuple[str, str]:
    """The Latin typeface of the deck for a brand's font ``family`` and why: the family
    when fontconfig finds it and its Latin text, regular and bold, is no wider than
    :data:`FONT`'s (the text boxes are fitted with :data:`FONT`'s widths, so a narrower
    face cannot overflow them); else :data:`FONT` and the reason."""
    if not family or family == FONT:
        return FONT, "default"
    from PIL import ImageFont

    for bold in (False, True):
        found = _fc_match(f"{family}:style={'Bold' if bold else 'Regular'}")
        if found is None or family.lower() not in [f.lower() for f in found[1].split(",")]:
            return FONT, "not installed"
        face = ImageFont.truetype(
            found[0].path, _EM, index=found[0].index, layout_engine=ImageFont.Layout.BASIC
        )
        if face.getlength(FONT_SAMPLE) > _pil_font(bold).getlength(FONT_SAMPLE) * (
            1 if _face(bold)[1] else 1.06
        ):
            return FONT, "wider than " + FONT
    return family, "fits"


# --------------------------------------------------------------------------- line breaking

_CJK = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_TOKEN = re.compile(rf"\s+|[{_CJK}]|[^\s{_CJK}]+")
_NO_START = frozenset("，。、；：？！）》」』】〕〉”’%‰…,.;:?!)]}·")  # never begins a line
_NO_END = frozenset("（《「『【〔〈“‘([{")  # never ends a line

Segment = tuple[str, float, bool]  # text, size in points, bold


_IDEOGRAPH = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ALNUM = re.compile(r"[A-Za-z0-9]")
#: The space some applications (LibreOffice) add between a Chinese character and a Latin
#: letter or digit ("2024 年"), in ems.
AUTOSPACE = 0.25


def _autospaced(text: str, i: int) -> bool:
    """Whether an application may add :data:`AUTOSPACE` between ``text[i - 1]`` and ``text[i]``."""
    if i <= 0 or i >= len(text):
        return False
    x, y = text[i - 1], text[i]
    return bool(
        (_IDEOGRAPH.match(x) and _ALNUM.match(y)) or (_ALNUM.match(x) and _IDEOGRAPH.match(y))
    )


def _width(segments: Sequence[Segment], start: int, end: int) -> float:
    """The width of characters ``start:end`` of the segments' joined text, with the
    :data:`AUTOSPACE` before each of them that follows a change of script."""
    joined = "".join(s[0] for s in segments)
    total, pos = 0.0, 0
    for text, size, bold in segments:
        a, b = max(start, pos), min(end, pos + len(text))
        if a < b:
            total += text_width(text[a - pos : b - pos], size, bold=bold)
            total += AUTOSPACE * size * sum(_autospaced(joined, i) for i in range(a, b))
        pos += len(text)
    return total


def _pieces(segments: Sequence[Segment]) -> list[tuple[bool, int, int]]:
    """(is_space, start, end) of the breakable pieces of the segments' joined text:
    spaces, Latin words (with their punctuation) and single Chinese characters; a
    character that may not start a line joins the piece before it, one that may not end
    a line the piece after it."""
    text = "".join(s[0] for s in segments)
    out: list[list] = []
    for m in _TOKEN.finditer(text):
        space = m.group().isspace()
        if (
            out
            and not space
            and not out[-1][0]
            and (m.group()[0] in _NO_START or text[out[-1][2] - 1] in _NO_END)
        ):
            out[-1][2] = m.end()
        else:
            out.append([space, m.start(), m.end()])
    return [tuple(p) for p in out]


def line_count(segments: Sequence[Segment], width: float) -> int:
    """How many lines the segments take when wrapped to ``width`` points (an empty text:
    one line; "\\n" breaks a line)."""
    text = "".join(s[0] for s in segments)
    if "\n" in text:  # forced breaks: each part wrapped on its own
        count, pos = 0, 0
        for part in text.split("\n"):
            count += line_count(_slice(segments, pos, pos + len(part)), width)
            pos += len(part) + 1
        return count
    lines, current, space, started = 1, 0.0, 0.0, False
    for is_space, a, b in _pieces(segments):
        w = _width(segments, a, b)
        if is_space:
            space += w if started else 0.0
            continue
        if started and current + space + w <= width:
            current += space + w
        else:
            if started:
                lines += 1
            current = 0.0
            if w > width:  # a word longer than the line breaks between its characters
                for i in range(a, b):
                    cw = _width(segments, i, i + 1)
                    if current and current + cw > width:
                        lines += 1
                        current = 0.0
                    current += cw
            else:
                current = w
            started = True
        space = 0.0
    return lines


def _slice(segments: Sequence[Segment], start: int, end: int) -> list[Segment]:
    out, pos = [], 0
    for text, size, bold in segments:
        a, b = max(start, pos), min(end, pos + len(text))
        if a < b:
            out.append((text[a - pos : b - pos], size, bold))
        pos += len(text)
    return out or [("", segments[0][1] if segments else 18.0, False)]


@dataclass(frozen=True)
class _Measured:
    """A paragraph as measured: its runs, left margin, space before and the distance
    between its lines (points)."""

    segments: tuple[Segment, ...]
    margin: float
    space_before: float
    pitch: float


def _height(paragraphs: Sequence[_Measured], width: float) -> float:
    """Points the paragraphs take in a frame whose text is ``width`` points wide."""
    total = 0.0
    for p in paragraphs:
        lines = line_count(p.segments, (width - p.margin) * WIDTH_SLACK)
        total += p.space_before + lines * p.pitch
    return total


# --------------------------------------------------------------------------- the measured rule

_NS = {
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "p": "http://schemas.openxmlformats.org/presentationml/2006/main",
}


def _q(tag: str) -> str:
    prefix, name = tag.split(":")
    return f"{{{_NS[prefix]}}}{name}"


def _paragraphs_of(tx_body) -> list[_Measured]:
    """The paragraphs of an ``a:txBody``/``p:txBody`` element, as measured."""
    out = []
    for p in tx_body.findall(_q("a:p")):
        ppr = p.find(_q("a:pPr"))
        margin = int(ppr.get("marL", "0")) / _EMU_PER_PT if ppr is not None else 0.0
        segments: list[Segment] = []
        for child in p:
            if child.tag in (_q("a:r"), _q("a:fld")):
                rpr = child.find(_q("a:rPr"))
                size = int(rpr.get("sz", "1800")) / 100 if rpr is not None else 18.0
                bold = rpr is not None and rpr.get("b") in ("1", "true")
                node = child.find(_q("a:t"))
                segments.append(((node.text or "") if node is not None else "", size, bold))
            elif child.tag == _q("a:br"):
                segments.append(("\n", segments[-1][1] if segments else 18.0, False))
        if not segments:
            end = p.find(_q("a:endParaRPr"))
            segments.append(
                ("", int(end.get("sz", "1800")) / 100 if end is not None else 18.0, False)
            )
        size = max(s[1] for s in segments)
        before, pitch = 0.0, size * line_height_em()
        if ppr is not None:
            pts = ppr.find(f"{_q('a:spcBef')}/{_q('a:spcPts')}")
            pct = ppr.find(f"{_q('a:spcBef')}/{_q('a:spcPct')}")
            if pts is not None:
                before = int(pts.get("val")) / 100
            elif pct is not None:
                before = int(pct.get("val")) / 100000 * size * line_height_em()
            line_pct = ppr.find(f"{_q('a:lnSpc')}/{_q('a:spcPct')}")
            line_pts = ppr.find(f"{_q('a:lnSpc')}/{_q('a:spcPts')}")
            if line_pts is not None:
                pitch = int(line_pts.get("val")) / 100
            elif line_pct is not None:
                pitch *= int(line_pct.get("val")) / 100000
        out.append(_Measured(tuple(segments), margin, before, pitch))
    return out


@dataclass(frozen=True)
class Overflow:
    """A text that does not fit its frame: where, the points it needs and has."""

    where: str
    needed: float
    available: float


def _check(where: str, tx_body, width_emu: int, height_emu: int, insets) -> Overflow | None:
    left, right, top, bottom = insets
    paragraphs = _paragraphs_of(tx_body)
    if not any(s[0].strip() for p in paragraphs for s in p.segments):
        return None
    width = (width_emu - left - right) / _EMU_PER_PT
    available = (height_emu - top - bottom) / _EMU_PER_PT
    needed = _height(paragraphs, width)
    return (
        Overflow(where, round(needed, 2), round(available, 2))
        if needed > available + 0.05
        else None
    )


def text_overflow(shape, where: str = "") -> list[Overflow]:
    """The measured rule for one shape: every text frame of it (a text box, placeholder
    or auto shape, or each cell of a table) whose wrapped text is taller than the frame
    (see the module's docstring); [] when everything fits."""
    element = shape.element
    where = where or shape.name
    body = element.find(_q("p:txBody"))
    if body is not None:
        bpr = body.find(_q("a:bodyPr"))
        get = bpr.get if bpr is not None else {}.get
        insets = [
            int(get(k, d))
            for k, d in (("lIns", 91440), ("rIns", 91440), ("tIns", 45720), ("bIns", 45720))
        ]
        found = _check(where, body, shape.width, shape.height, insets)
        return [found] if found else []
    out = []
    table = element.find(f".//{_q('a:tbl')}")
    if table is None:
        return out
    widths = [int(c.get("w")) for c in table.findall(f"{_q('a:tblGrid')}/{_q('a:gridCol')}")]
    for r, row in enumerate(table.findall(_q("a:tr"))):
        col = 0
        for cell in row.findall(_q("a:tc")):
            span = int(cell.get("gridSpan", "1"))
            tcpr = cell.find(_q("a:tcPr"))
            get = tcpr.get if tcpr is not None else {}.get
            insets = [
                int(get(k, d))
                for k, d in (("marL", 91440), ("marR", 91440), ("marT", 45720), ("marB", 45720))
            ]
            body = cell.find(_q("a:txBody"))
            if body is not None and cell.get("hMerge") != "1" and cell.get("vMerge") != "1":
                found = _check(
                    f"{where}, row {r + 1}, column {col + 1}",
                    body,
                    sum(widths[col : col + span]),
                    int(row.get("h")),
                    insets,
                )
                if found:
                    out.append(found)
            col += span
    return out


def overflows(presentation) -> list[Overflow]:
    """:func:`text_overflow` of every shape of every slide, and every shape that reaches
    past the slide's edge (needed: its far edge, available: the slide's)."""
    out = []
    width, height = presentation.slide_width, presentation.slide_height
    for n, slide in enumerate(presentation.slides, start=1):
        for shape in slide.shapes:
            where = f"slide {n}, {shape.name}"
            out += text_overflow(shape, where)
            for far, edge in (
                (shape.left + shape.width, width),
                (shape.top + shape.height, height),
            ):
                if far > edge:
                    out.append(
                        Overflow(where + " (off the slide)", far / _EMU_PER_PT, edge / _EMU_PER_PT)
                    )
    return out


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class R:
    """A run: text, size relative to its frame's, bold, colour (hex; None: the frame's)."""

    text: str
    rel: float = 1.0
    bold: bool = False
    color: str | None = None


@dataclass(frozen=True)
class P:
    """A paragraph: its runs, a bullet, space before (in ems of the frame's size),
    alignment, its number in a numbered list."""

    runs: tuple[R, ...]
    bullet: bool = False
    before: float = 0.0
    align: str = "l"
    number: int | None = None

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)


def para(text: str, *, rel: float = 1.0, bold: bool = False, color: str | None = None, **kw) -> P:
    return P((R(text, rel, bold, color),), **kw)


def _pt(x: float) -> float:
    return round(x * 2) / 2


@dataclass(frozen=True)
class Box:
    """A rectangle on the slide, in inches."""

    x: float
    y: float
    w: float
    h: float

    def emu(self) -> tuple[int, int, int, int]:
        return tuple(round(v * _EMU_PER_INCH) for v in (self.x, self.y, self.w, self.h))

    def below(self, h: float, gap: float = 0.0) -> Box:
        return Box(self.x, self.y + self.h + gap, self.w, h)


def _measured(paras: Sequence[P], size: float) -> list[_Measured]:
    return [
        _Measured(
            tuple((r.text, _pt(size * r.rel), r.bold) for r in p.runs),
            _emu_pt(_indent(p) * size),
            _emu_pt(p.before * size),
            _pitch(p, size),
        )
        for p in paras
    ]


def _indent(p: P) -> float:
    """A paragraph's hanging indent in ems: bullets, and numbers up to 99."""
    return _NUMBER if p.number is not None else _BULLET if p.bullet else 0.0


def _pitch(p: P, size: float) -> float:
    """The distance between a paragraph's lines: :data:`LINE` times its largest run."""
    return _emu_pt(LINE * max(_pt(size * r.rel) for r in p.runs))


def _emu_pt(points: float) -> float:
    """Points as they come back from the file (written in EMU or hundredths)."""
    return round(points * 100) / 100


def _fits(paras: Sequence[P], box: Box, size: float) -> bool:
    e = box.emu()
    width = (e[2] - 2 * round(_INSET_X * _EMU_PER_INCH)) / _EMU_PER_PT
    height = (e[3] - 2 * round(_INSET_Y * _EMU_PER_INCH)) / _EMU_PER_PT
    return _height(_measured(paras, size), width) <= height - 0.5  # a rounding margin


def _sizes(largest: float, smallest: float) -> list[float]:
    n = int(round((largest - smallest) * 2))
    return [largest - i / 2 for i in range(n + 1)]


def best_size(paras: Sequence[P], box: Box, largest: float, smallest: float) -> float | None:
    """The largest size (half points) from ``largest`` down to ``smallest`` at which the
    paragraphs fit the box; None when they do not fit even at ``smallest``."""
    return next((s for s in _sizes(largest, smallest) if _fits(paras, box, s)), None)


def _shorten(done: list[P], p: P, box: Box, size: float) -> P | None:
    """``p`` cut (with "…") to what fits in the box after ``done``; None if nothing does."""
    text = p.text
    cut_at = [m.start() for m in re.finditer(r"\s", text)] if " " in text.strip() else []
    cut_at = [i for i in cut_at if i > 0] or list(range(1, len(text)))
    if not cut_at:
        return None

    def cut(n: int) -> P:
        runs, pos = [], 0
        for r in p.runs:
            if pos >= n:
                break
            runs.append(replace(r, text=r.text[: n - pos]))
            pos += len(r.text)
        last = runs[-1]
        runs[-1] = replace(last, text=last.text.rstrip(" ,;:，；：、") + _ELLIPSIS)
        return replace(p, runs=tuple(runs))

    lo, hi = 0, len(cut_at) - 1
    if not _fits([*done, cut(cut_at[0])], box, size):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits([*done, cut(cut_at[mid])], box, size):
            lo = mid
        else:
            hi = mid - 1
    return cut(cut_at[lo])


def fit(
    paras: Sequence[P], box: Box, largest: float, smallest: float, *, split: bool = False
) -> tuple[list[P], float, list[P]]:
    """(paragraphs to set, size, paragraphs left over). All paragraphs at the largest size
    that fits; else at ``smallest`` the leading paragraphs that fit, then (unless
    ``split``, or when not even the first fits) the next one shortened with "…"; what is
    left over goes onto a continuation slide (``split``) or only into the notes."""
    size = best_size(paras, box, largest, smallest)
    if size is not None:
        return list(paras), size, []
    kept: list[P] = []
    for p in paras:
        if not _fits([*kept, p], box, smallest):
            break
        kept.append(p)
    rest = list(paras[len(kept) :])
    if rest and (not split or not kept):
        short = _shorten(kept, rest[0], box, smallest)
        if short is not None:
            kept.append(short)
            rest = rest[1:]
    return kept, best_size(kept, box, largest, smallest) or smallest, rest


# --------------------------------------------------------------------------- writing


def _emu(inches: float) -> int:
    return round(inches * _EMU_PER_INCH)


def _rgb(hex_colour: str):
    from pptx.dml.color import RGBColor

    return RGBColor.from_string(hex_colour.lstrip("#").upper())


def _write(
    frame,
    p_elements: Callable[[], list],
    paras: Sequence[P],
    size: float,
    *,
    color: str,
    anchor: str = "t",
    accent: str = _ACCENT,
) -> None:
    """Set a text frame's paragraphs at ``size`` (insets, no autofit, wrapping); a
    numbered list's numbers in ``accent``."""
    from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
    from pptx.oxml.ns import qn
    from pptx.util import Emu, Pt

    frame.clear()
    frame.word_wrap = True
    frame.auto_size = MSO_AUTO_SIZE.NONE
    frame.vertical_anchor = {"t": MSO_ANCHOR.TOP, "m": MSO_ANCHOR.MIDDLE, "b": MSO_ANCHOR.BOTTOM}[
        anchor
    ]
    align = {"l": PP_ALIGN.LEFT, "ctr": PP_ALIGN.CENTER, "r": PP_ALIGN.RIGHT}
    for i, p in enumerate(paras):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        paragraph.alignment = align[p.align]
        paragraph.line_spacing = Pt(_pitch(p, size))
        paragraph.space_before = Pt(_emu_pt(p.before * size))
        for r in p.runs:
            run = paragraph.add_run()
            run.text = r.text
            run.font.size = Pt(_pt(size * r.rel))
            run.font.bold = r.bold
            run.font.color.rgb = _rgb(r.color or color)
    for p, element in zip(paras, p_elements()):
        if not p.bullet and p.number is None:
            continue
        ppr = element.get_or_add_pPr()
        indent = round(_emu_pt(_indent(p) * size) * _EMU_PER_PT)
        ppr.set("marL", str(Emu(indent)))
        ppr.set("indent", str(-Emu(indent)))
        if p.number is not None:  # "1.", "2." ... in the accent colour
            colour = ppr.makeelement(qn("a:buClr"), {})
            colour.append(colour.makeelement(qn("a:srgbClr"), {"val": accent}))
            ppr.append(colour)
            ppr.append(ppr.makeelement(qn("a:buFont"), {"typeface": FONT}))
            number = {"type": "arabicPeriod", "startAt": str(p.number)}
            ppr.append(ppr.makeelement(qn("a:buAutoNum"), number))
        else:
            ppr.append(ppr.makeelement(qn("a:buFont"), {"typeface": FONT}))
            ppr.append(ppr.makeelement(qn("a:buChar"), {"char": "•"}))


def _plain(shape) -> None:
    """No theme style on a shape (the default theme's shadow): its fill and line are set."""
    from pptx.oxml.ns import qn

    for style in shape.element.findall(qn("p:style")):
        shape.element.remove(style)


class _Summary(HTMLParser):
    """The executive summary's lead, KPI tiles and findings, read from the report's own
    HTML section (:func:`tiering.present.narrative.section_summary`)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.lead = ""
        self.kpis: list[list[str]] = []
        self.findings: list[str] = []
        self._into: str | None = None
        self._ul = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        if tag == "p" and cls == "lead":
            self._into = "lead"
        elif tag == "span" and cls in ("kpi-value", "kpi-label"):
            if cls == "kpi-value":
                self.kpis.append(["", ""])
            self._into = cls
        elif tag == "ul" and "findings" in cls.split():
            self._ul = True
        elif tag == "li" and self._ul:
            self.findings.append("")
            self._into = "li"

    def handle_endtag(self, tag):
        if tag in ("p", "span", "li"):
            self._into = None
        if tag == "ul":
            self._ul = False

    def handle_data(self, data):
        if self._into == "lead":
            self.lead += data
        elif self._into == "kpi-value":
            self.kpis[-1][0] += data
        elif self._into == "kpi-label":
            self.kpis[-1][1] += data
        elif self._into == "li":
            self.findings[-1] += data


_CJK_LABEL = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _hex(colour: str) -> str:
    """``#1b4f72`` → ``1B4F72`` (python-pptx's and the XML's spelling)."""
    return colour.lstrip("#").upper()


def _text_on(hex_colour: str) -> str:
    colour = charts.text_colour_on("#" + hex_colour.lstrip("#"))
    return _WHITE if colour == "white" else colour.lstrip("#").upper()


# --------------------------------------------------------------------------- the deck

_TITLE = Box(_MARGIN, 0.32, SLIDE_W - 2 * _MARGIN, 0.86)
_TOP = 1.4  # the body's top
_BOTTOM = 6.95  # the body's bottom (the footer below)
_BODY = Box(_MARGIN, _TOP, SLIDE_W - 2 * _MARGIN, _BOTTOM - _TOP)
_CHART = Box(_MARGIN, _TOP, 7.9, _BOTTOM - _TOP)
_SIDE = Box(_MARGIN + 8.2, _TOP, SLIDE_W - 2 * _MARGIN - 8.2, _BOTTOM - _TOP)


class _Deck:
    def __init__(self, a: Analysis, generated: dt.date):
        from pptx import Presentation

        self.a = a
        self.lang = a.params.language
        self.cur = a.params.currency
        self.generated = generated
        self.prs = Presentation()
        self.prs.slide_width = _emu(SLIDE_W)
        self.prs.slide_height = _emu(SLIDE_H)
        self.title = a.params.title or t("report.title", self.lang)
        self.summary = _Summary(narrative.section_summary(a))
        self.recs = recommendations_of(a)
        self.strategies = strategies_of(a)
        self.found = findings(self.recs, language=self.lang)
        # the brand (tiering.params.Brand): primary for title rules, titles, the cover
        # band and table headers (with its readable text colour), secondary for key
        # figures and sub-headings, the logo on the cover and small on every slide
        self.brand = palette_of(a)
        self.accent = _hex(self.brand.primary)
        self.second = _hex(self.brand.secondary)
        self.on_accent = _hex(self.brand.text_on_primary)
        self.colours = self.brand.tier_palette(a.labels)
        # the brand's logo, else (with a brand of its own) the cover logo output.logo
        self.logo_file = self.brand.logo or (
            None
            if self.brand.is_default or a.params.output.logo is None
            else Path(a.params.output.logo).resolve()
        )
        if self.logo_file is not None and self.logo_file.suffix.lower() == ".svg":
            # python-pptx places bitmaps only, and no SVG rasteriser is a dependency
            log.warning(
                "The slide deck shows no logo: %s is an SVG image, and slides take a PNG "
                "or JPEG; give brand.logo as PNG to have it on the slides too",
                self.logo_file.name,
            )
            self.logo_file = None
        self.font, why = brand_font(self.brand.font)
        if why in ("not installed", "wider than " + FONT):
            log.warning(
                "The slide deck keeps %s: brand.font %r is %s (the slides' text is fitted "
                "with %s's widths)",
                FONT,
                self.brand.font,
                "not installed here" if why == "not installed" else f"wider than {FONT}",
                FONT,
            )

    # ------------------------------------------------------------------ kit

    def slide(self, title: str, notes: Sequence[str] = ()):
        """A new slide with its title (placeholder, fitted) and speaker notes."""
        slide = self.prs.slides.add_slide(self.prs.slide_layouts[5])
        shape = slide.shapes.title
        self._title(shape, title, _TITLE, largest=28, smallest=18, notes=notes)
        from pptx.enum.shapes import MSO_CONNECTOR

        line = slide.shapes.add_connector(
            MSO_CONNECTOR.STRAIGHT, _emu(_MARGIN), _emu(1.22), _emu(SLIDE_W - _MARGIN), _emu(1.22)
        )
        line.line.color.rgb = _rgb(self.accent)
        line.line.width = _emu(0.015)
        _plain(line)
        return slide

    def _title(self, shape, title, box, *, largest, smallest, notes, color=None, anchor="m"):
        shape.left, shape.top, shape.width, shape.height = box.emu()
        kept, size, _ = fit([para(title, bold=True)], box, largest, smallest)
        self._fill(shape, kept, size, color=color or self.accent, anchor=anchor)
        full = [title] if kept[0].text != title else []
        shape.part.slide.notes_slide.notes_text_frame.text = "\n".join([*full, *notes])

    def _fill(self, shape, paras, size, *, color=_TEXT, anchor="t"):
        from pptx.util import Emu

        tf = shape.text_frame
        for side in ("left", "right"):
            setattr(tf, f"margin_{side}", Emu(_emu(_INSET_X)))
        for side in ("top", "bottom"):
            setattr(tf, f"margin_{side}", Emu(_emu(_INSET_Y)))
        _write(
            tf,
            lambda: shape.element.txBody.findall(_q("a:p")),
            paras,
            size,
            color=color,
            anchor=anchor,
            accent=self.accent,
        )

    def text(
        self,
        slide,
        box: Box,
        paras,
        *,
        largest=18,
        smallest=12,
        split=False,
        color=_TEXT,
        anchor="t",
    ):
        """A text box with ``paras`` fitted (see :func:`fit`); returns what was left over."""
        kept, size, rest = fit(paras, box, largest, smallest, split=split)
        if kept:
            shape = slide.shapes.add_textbox(*box.emu())
            self._fill(shape, kept, size, color=color, anchor=anchor)
        return rest

    def kpi(self, slide, box: Box, value: str, label: str, *, big=40, small=14):
        from pptx.enum.shapes import MSO_SHAPE

        tile = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, *box.emu())
        tile.fill.solid()
        tile.fill.fore_color.rgb = _rgb(_LIGHT)
        tile.line.fill.background()
        _plain(tile)
        # the value above the tile's middle, the label below it
        value_h = min((LINE * big + 1) / 72 + 2 * _INSET_Y, box.h * 0.6)
        mid = box.y + max(box.h * 0.55, 0.08 + value_h)
        top = Box(box.x + 0.1, box.y + 0.08, box.w - 0.2, mid - box.y - 0.08)
        self.text(
            slide,
            top,
            [para(value, bold=True, align="ctr")],
            largest=big,
            smallest=big * 0.5,
            color=self.second,
            anchor="b",
        )
        bottom = Box(box.x + 0.1, mid + 0.02, box.w - 0.2, box.y + box.h - mid - 0.1)
        self.text(slide, bottom, [para(label, align="ctr")], largest=small, smallest=8, color=_TEXT)

    def chart(self, slide, figure, box: Box, caption: str, *, scale=1.6) -> None:
        """A chart of the report (an Axes or Figure) as PNG, as large as fits ``box``
        (at most ``scale`` times its designed size) with its caption below."""
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes

        fig = figure.figure if isinstance(figure, Axes) else figure
        buffer = io.BytesIO()
        try:
            fig.savefig(
                buffer,
                format="png",
                dpi=CHART_DPI,
                facecolor="white",
                bbox_inches="tight",
                pad_inches=0.05,
                metadata={"Software": None},
            )
        finally:
            plt.close(fig)
        png = buffer.getvalue()
        w_px, h_px = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        room = Box(box.x, box.y, box.w, box.h - 0.5)
        k = min(room.w / (w_px / CHART_DPI), room.h / (h_px / CHART_DPI), scale)
        w, h = w_px / CHART_DPI * k, h_px / CHART_DPI * k
        left = box.x + (box.w - w) / 2
        pic = slide.shapes.add_picture(io.BytesIO(png), _emu(left), _emu(box.y), _emu(w), _emu(h))
        pic.element.find(f"{_q('p:nvPicPr')}/{_q('p:cNvPr')}").set("descr", caption)
        self.text(
            slide,
            Box(box.x, box.y + h + 0.05, box.w, 0.45),
            [para(caption, color=_MUTED)],
            largest=11,
            smallest=9,
        )

    def table(
        self,
        slide,
        box: Box,
        header,
        rows,
        *,
        numeric=(),
        wrap=(),
        fills=None,
        bold_rows=(),
        largest=16,
        smallest=9,
    ):
        """A native table fitted to ``box`` (the largest size at which every column is
        wide enough for its numbers and header words and the rows fit the height); row
        heights are the measured heights. ``fills(row, col)`` gives a cell's (fill, text
        colour) or None. Returns the table's height in inches."""
        from pptx.enum.text import MSO_ANCHOR
        from pptx.util import Emu

        cells = [list(header), *[[str(v) for v in row] for row in rows]]
        n_cols = len(header)
        pad_x, pad_y = _CELL_X * 72, _CELL_Y * 72
        chosen = None
        for size in _sizes(largest, smallest):
            body = [
                max(
                    (
                        text_width(r[c], size, bold=i + 1 in bold_rows)
                        for i, r in enumerate(cells[1:])
                    ),
                    default=0,
                )
                for c in range(n_cols)
            ]
            words = [
                max(text_width(w, size, bold=True) for w in (_TOKEN.findall(cells[0][c]) or [""]))
                for c in range(n_cols)
            ]
            floor = [
                max(words[c], 0 if c in wrap else body[c]) / WIDTH_SLACK + 2 * pad_x + 1
                for c in range(n_cols)
            ]
            if sum(floor) > box.w * 72:
                continue
            want = [
                max(body[c], text_width(cells[0][c], size, bold=True)) / WIDTH_SLACK + 2 * pad_x + 1
                for c in range(n_cols)
            ]
            widths = list(floor)
            spare = box.w * 72 - sum(widths)
            grow = [max(0.0, want[c] - widths[c]) for c in range(n_cols)]
            if sum(grow) > 0:
                k = min(1.0, spare / sum(grow))
                widths = [widths[c] + grow[c] * k for c in range(n_cols)]
                spare = box.w * 72 - sum(widths)
            targets = [c for c in range(n_cols) if c in wrap] or list(range(n_cols))
            widths = [
                w + (spare / len(targets) if c in targets else 0) for c, w in enumerate(widths)
            ]
            emu_w = [round(w * _EMU_PER_PT) for w in widths]
            heights = []
            for i, row in enumerate(cells):
                lines = max(
                    line_count(
                        [(row[c], size, i == 0 or i in bold_rows)],
                        (emu_w[c] / _EMU_PER_PT - 2 * pad_x) * WIDTH_SLACK,
                    )
                    for c in range(n_cols)
                )
                heights.append(lines * _emu_pt(LINE * size) + 2 * pad_y + 1)
            if sum(heights) <= box.h * 72:
                chosen = (size, emu_w, heights)
                break
        if chosen is None:
            raise ValueError("table does not fit")  # pragma: no cover - tables are small
        size, emu_w, heights = chosen
        frame = slide.shapes.add_table(
            len(cells),
            n_cols,
            _emu(box.x),
            _emu(box.y),
            sum(emu_w),
            round(sum(heights) * _EMU_PER_PT),
        )
        tbl = frame.table
        for c, w in enumerate(emu_w):
            tbl.columns[c].width = Emu(w)
        tr = frame.element.findall(f".//{_q('a:tr')}")
        for r, h in enumerate(heights):
            tbl.rows[r].height = Emu(round(h * _EMU_PER_PT))
            for c in range(n_cols):
                cell = tbl.cell(r, c)
                cell.margin_left = cell.margin_right = Emu(_emu(_CELL_X))
                cell.margin_top = cell.margin_bottom = Emu(_emu(_CELL_Y))
                fill, colour = (
                    (self.accent, self.on_accent)
                    if r == 0
                    else ((_LIGHT if r % 2 == 0 else _WHITE), _TEXT)
                )
                custom = fills(r, c) if fills and r else None
                if custom:
                    fill, colour = custom
                cell.fill.solid()
                cell.fill.fore_color.rgb = _rgb(fill)
                cell.vertical_anchor = MSO_ANCHOR.MIDDLE
                paragraph = [
                    P(
                        (R(cells[r][c], bold=r == 0 or r in bold_rows),),
                        align="r" if c in numeric else "l",
                    )
                ]
                tc = tr[r].findall(_q("a:tc"))[c]
                _write(
                    cell.text_frame,
                    lambda tc=tc: tc.find(_q("a:txBody")).findall(_q("a:p")),
                    paragraph,
                    size,
                    color=colour,
                    anchor="m",
                    accent=self.accent,
                )
        return sum(heights) / 72

    # ------------------------------------------------------------------ build

    def build(self):
        a, lang = self.a, self.lang
        sections: list[tuple[str, Callable[[str], None]]] = [
            (t("report.sec_summary", lang), self.summary_slide),
            (t("report.summary_findings", lang), self.findings_slides),
            (t("report.tier_table", lang), self.tier_table),
            (t("deck.pareto_title", lang), self.pareto),
            (t("report.sec_profiles", lang), self.profiles),
            (t("report.sec_stats", lang), self.differences),
        ]
        if a.holdout is not None and a.holdout.available and _holdout_headline(a):
            sections.append((t("holdout.sec_title", lang), self.holdout))
        if a.migration is not None and a.migration.n_periods > 0:
            sections.append((t("migration.sec_title", lang), self.migration))
        sections += [
            (t("strategy.budget_heading", lang), self.budget),
            (t("report.sec_strategy", lang), self.tiers),
            (t("deck.next_steps", lang), self.next_steps),
            (t("deck.appendix_title", lang), self.appendix),
        ]
        self.cover()
        self.agenda([title for title, _ in sections])
        for title, make in sections:
            make(title)
        self.finish()
        return self.prs

    def logo(self, slide, x: float, y: float, *, w: float, h: float) -> float:
        """The brand's logo (PNG or JPEG) at ``(x, y)`` within ``w`` × ``h`` inches;
        returns the width it took (0 without a logo)."""
        if self.logo_file is None:
            return 0.0
        from PIL import Image

        with Image.open(self.logo_file) as img:
            px_w, px_h = img.size
        k = min(w / px_w, h / px_h)
        pic = slide.shapes.add_picture(
            str(self.logo_file), _emu(x), _emu(y), _emu(px_w * k), _emu(px_h * k)
        )
        pic.element.find(f"{_q('p:nvPicPr')}/{_q('p:cNvPr')}").set(
            "descr", self.a.params.consultant or "logo"
        )
        return px_w * k

    def cover(self):
        a, lang = self.a, self.lang
        end = pd.Timestamp(a.as_of) - pd.Timedelta(days=1)
        slide = self.prs.slides.add_slide(self.prs.slide_layouts[5])
        from pptx.enum.shapes import MSO_SHAPE

        self.logo(slide, 1.0, 0.55, w=3.5, h=0.9)

        band = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, 0, 0, _emu(0.35), _emu(SLIDE_H))
        band.fill.solid()
        band.fill.fore_color.rgb = _rgb(self.accent)
        band.line.fill.background()
        _plain(band)
        self._title(
            slide.shapes.title,
            self.title,
            Box(1.0, 1.7, 11.3, 1.5),
            largest=40,
            smallest=24,
            notes=[],
            anchor="b",
        )
        self.text(
            slide,
            Box(1.0, 3.3, 11.3, 0.8),
            [para(a.params.client, bold=True)],
            largest=28,
            smallest=16,
            color=_TEXT,
        )
        self.text(
            slide,
            Box(1.0, 4.1, 11.3, 0.6),
            [para(method_subtitle(a.tiering_params["method"], lang))],
            largest=20,
            smallest=12,
            color=_MUTED,
        )
        period = f"{fmt_date(a.period_start, lang)} – {fmt_date(end, lang)}"
        lines = [para(t("deck.cover_period", lang, period=period, as_of=fmt_date(a.as_of, lang)))]
        date = fmt_date(self.generated, lang)
        consultant = a.params.consultant.strip()
        lines.append(
            para(
                t("deck.cover_prepared", lang, consultant=consultant, date=date)
                if consultant
                else t("deck.cover_date", lang, date=date),
                before=0.4,
            )
        )
        self.text(slide, Box(1.0, 5.3, 11.3, 1.2), lines, largest=16, smallest=10, color=_TEXT)

    def agenda(self, titles: list[str]):
        slide = self.slide(t("deck.agenda", self.lang), notes=titles)
        paras = [
            para(title, number=i, before=0.45 if i > 1 else 0)
            for i, title in enumerate(titles, start=1)
        ]
        half = (len(paras) + 1) // 2
        columns = [paras[:half], paras[half:]] if len(paras) > 7 else [paras]
        width = _BODY.w / len(columns)
        for k, column in enumerate(columns):
            self.text(
                slide,
                Box(_BODY.x + k * width, _BODY.y + 0.2, width - 0.3, _BODY.h - 0.2),
                column,
                largest=22,
                smallest=12,
            )

    def summary_slide(self, title):
        s = self.summary
        slide = self.slide(title, notes=[s.lead, "", *s.findings])
        self.text(
            slide,
            Box(_BODY.x, _BODY.y + 0.1, _BODY.w, 1.4),
            [para(s.lead)],
            largest=24,
            smallest=14,
        )
        n = max(len(s.kpis), 1)
        gap = 0.3
        w = (_BODY.w - gap * (n - 1)) / n
        for i, (value, label) in enumerate(s.kpis):
            self.kpi(
                slide, Box(_BODY.x + i * (w + gap), 3.3, w, 2.2), value, label, big=44, small=16
            )

    def findings_slides(self, title):
        rest = [
            para(f, bullet=True, before=0.5 if i else 0)
            for i, f in enumerate(self.summary.findings)
        ]
        first = True
        while rest:
            slide = self.slide(
                title if first else t("deck.continued", self.lang, title=title),
                notes=[p.text for p in rest],
            )
            rest = self.text(
                slide,
                Box(_BODY.x, _BODY.y + 0.1, _BODY.w, _BODY.h - 0.1),
                rest,
                largest=20,
                smallest=13,
                split=True,
            )
            rest = [replace(rest[0], before=0), *rest[1:]] if rest else rest
            first = False

    def tier_table(self, title):
        a, lang, cur = self.a, self.lang, self.cur
        s = a.tier_summary
        heads = [t("metrics.tier", lang)] + [
            t(f"report.col_{c}", lang) for c in narrative.TIER_TABLE_COLUMNS
        ]
        rows = [
            (
                str(r.tier),
                fmt_int(r.customers),
                fmt_pct(r.customer_share),
                fmt_money(r.revenue, lang, cur),
                fmt_pct(r.revenue_share),
                fmt_money(r.monetary_median, lang, cur),
                fmt_num(r.frequency_median),
                fmt_num(r.recency_median),
            )
            for r in s.itertuples()
        ]
        lead = t("report.profiles_lead", lang)
        slide = self.slide(title, notes=[lead])
        colours = self.colours

        def fills(r, c):
            if c != 0:
                return None
            colour = colours.get(rows[r - 1][0], ACCENT).lstrip("#").upper()
            return colour, _text_on(colour)

        height = self.table(
            slide,
            Box(_BODY.x, _BODY.y + 0.2, _BODY.w, 4.4),
            heads,
            rows,
            numeric=range(1, 8),
            fills=fills,
            largest=20,
            smallest=10,
        )
        self.text(
            slide,
            Box(_BODY.x, _BODY.y + 0.35 + height, _BODY.w, 0.8),
            [para(lead, color=_MUTED)],
            largest=16,
            smallest=11,
        )

    def pareto(self, title):
        a, lang = self.a, self.lang
        s = a.tier_summary
        cutoffs = tuple(a.tiering_params.get("cutoffs", ())) or ()
        caption = t("report.cap_pareto", lang)
        items = [
            t(
                "deck.pareto_tier_cjk" if _CJK_LABEL.search(str(r.tier)) else "deck.pareto_tier",
                lang,
                tier=r.tier,
                customer_share=fmt_pct(r.customer_share),
                revenue_share=fmt_pct(r.revenue_share),
            )
            for r in s.itertuples()
        ]
        slide = self.slide(title, notes=[caption, *items, "", self.summary.lead])
        self.chart(
            slide,
            charts.pareto_curve(a.tiers, language=lang, cutoffs=cutoffs, brand=self.brand),
            _CHART,
            caption,
        )
        self.text(
            slide,
            _SIDE,
            [para(x, bullet=True, before=0.6 if i else 0) for i, x in enumerate(items)],
            largest=20,
            smallest=12,
        )

    def profiles(self, title):
        a, lang = self.a, self.lang
        caption = t("report.cap_overview", lang)
        rows = self.strategies.to_dict("records")
        slide = self.slide(title, notes=[caption, *(f"{r['tier']}: {r['headline']}" for r in rows)])
        self.chart(
            slide,
            charts.tier_overview(
                a.tier_summary, language=lang, currency=self.cur, brand=self.brand
            ),
            _CHART,
            caption,
        )
        paras = [
            P(
                (R(str(r["tier"]) + "  ", bold=True, color=self.second), R(str(r["headline"]))),
                before=0.7 if i else 0,
            )
            for i, r in enumerate(rows)
        ]
        self.text(slide, _SIDE, paras, largest=18, smallest=11)

    def differences(self, title):
        a, lang = self.a, self.lang
        comparison = a.comparison
        basis = stats_text.basis_of(a)
        measured = list(dict.fromkeys(comparison.findings["metric"]))
        others = [m for m in measured if basis is not None and m not in basis]
        shown = stats_text.describe_findings(
            comparison, language=lang, limit=3, metrics=others or None
        )
        everything = stats_text.describe_findings(comparison, language=lang)
        caveat = stats_text.caveat_text(a, lang)
        notes = [t(f"stats.lead_{comparison.test}", lang), "", *everything, "", caveat]
        slide = self.slide(title, notes=notes)
        tests = comparison.tests
        pair = "dunn" if comparison.test == "kruskal" else None
        side = _SIDE
        if pair and (tests["test"] == pair).any():
            figure = charts.effect_size_heatmap(
                tests, language=lang, tier_order=comparison.params.get("tiers")
            )
            self.chart(slide, figure, _CHART, t(f"stats.cap_effects_{comparison.test}", lang))
        else:
            side = _BODY
        paras = [para(t("stats.findings_title", lang), bold=True, color=self.second, rel=1.1)]
        paras += [para(x, bullet=True, before=0.5) for x in shown]
        paras.append(para(caveat, color=_MUTED, rel=0.9, before=0.8))
        self.text(slide, side, paras, largest=17, smallest=11)

    def holdout(self, title):
        from tiering.present.holdout import lift_chart

        a, lang = self.a, self.lang
        headline = _holdout_headline(a)
        p = a.holdout.params
        lead = t(
            "holdout.lead",
            lang,
            history_end=fmt_date(p["history_end"], lang),
            start=fmt_date(p["cutoff"], lang),
            end=fmt_date(p["period_end"], lang),
            months=p["months"],
        )
        caption = t("holdout.chart_caption", lang, months=p["months"])
        slide = self.slide(title, notes=[headline, "", lead, "", caption])
        self.chart(slide, lift_chart(a.holdout, language=lang, brand=self.brand), _CHART, caption)
        self.text(slide, _SIDE, [para(headline)], largest=20, smallest=12)

    def migration(self, title):
        from tiering.present.migration import headline
        from tiering.present.migration_charts import flow_chart, snapshot_label

        a, lang = self.a, self.lang
        result = a.migration
        start, end = (
            snapshot_label(d, period=result.spec.period, language=lang)
            for d in result.snapshot_dates[-2:]
        )
        caption = t("migration.cap_flow", lang, start=start, end=end)
        text = headline(a) or ""
        d = result.directions[result.directions["period"] == result.n_periods].set_index(
            "direction"
        )
        kpis = [
            (fmt_int(d.loc[k, "customers"]) if k in d.index else "0", t(f"migration.kpi_{k}", lang))
            for k in ("up", "down", "lapsed", "new")
        ]
        slide = self.slide(
            title, notes=[text, "", caption, *(f"{label}: {value}" for value, label in kpis)]
        )
        tr = result.transitions[result.transitions["period"] == result.n_periods]
        dormant = (tr["from_state"] == LAPSED) & (tr["to_state"] == LAPSED)
        side = _SIDE
        if tr.loc[~dormant, "customers"].sum() > 0:
            self.chart(slide, flow_chart(result, language=lang, brand=self.brand), _CHART, caption)
        else:
            side = _BODY
        self.text(slide, Box(side.x, side.y, side.w, 2.6), [para(text)], largest=18, smallest=11)
        w = (side.w - 0.2) / 2
        for i, (value, label) in enumerate(kpis):
            box = Box(side.x + (i % 2) * (w + 0.2), side.y + 2.8 + (i // 2) * 1.35, w, 1.2)
            self.kpi(slide, box, value, label, big=28, small=12)

    def budget(self, title):
        lang, recs = self.lang, self.recs
        budget = recs.budget
        has_amount = recs.rule.amount is not None
        has_costs = bool(recs.rule.cost_to_serve) and has_amount
        shown = budget_shares(recs)
        heads = [t("strategy.col_tier", lang), t("strategy.customers", lang)]
        heads += [t(key, lang) for key, _, _ in shown]
        heads += [t("strategy.col_base_cost", lang)] if has_costs else []
        heads.append(t("strategy.col_budget_share", lang))
        heads += [t("strategy.col_budget_amount", lang)] if has_amount else []
        rows = []
        for rec in budget.to_dict("records"):
            row = [str(rec["tier"]), fmt_int(rec["customers"])]
            row += [budget_share_text(rec, col, recs, lang) for _, col, _ in shown]
            row += [money_text(rec["base_cost"], recs.currency, lang)] if has_costs else []
            row.append(share_text(rec["share"], lang))
            row += [money_text(rec["amount"], recs.currency, lang)] if has_amount else []
            rows.append(row)
        total = [t("strategy.total", lang), fmt_int(budget["customers"].sum())]
        total += [budget_share_total(budget, total_of) for _, _, total_of in shown]
        total += [money_text(budget["base_cost"].sum(), recs.currency, lang)] if has_costs else []
        total.append("100%")
        total += [money_text(recs.rule.amount, recs.currency, lang)] if has_amount else []
        rows.append(total)
        lead = (
            t(
                "strategy.budget_lead",
                lang,
                amount=money_text(recs.rule.amount, recs.currency, lang),
            )
            if has_amount
            else t("strategy.budget_lead_shares", lang)
        )
        rules = budget_rule_text(recs.rule, language=lang)
        warning = (
            [t("strategy.costs_exceed_warning", lang)] if recs.rule.costs_exceed_budget else []
        )
        slide = self.slide(title, notes=[lead, *warning, "", *rules])
        self.text(
            slide,
            Box(_BODY.x, _BODY.y + 0.05, _BODY.w, 0.75),
            [para(lead), *(para(w, color="C0392B") for w in warning)],
            largest=18,
            smallest=11,
        )
        colours = self.colours

        def fills(r, c):
            if c != 0 or r > len(budget):
                return None
            colour = colours.get(rows[r - 1][0], ACCENT).lstrip("#").upper()
            return colour, _text_on(colour)

        height = self.table(
            slide,
            Box(_BODY.x, _BODY.y + 0.9, _BODY.w, 2.6),
            heads,
            rows,
            numeric=range(1, len(heads)),
            fills=fills,
            bold_rows=(len(rows),),
            largest=18,
            smallest=10,
        )
        top = _BODY.y + 1.1 + height
        self.text(
            slide,
            Box(_BODY.x, top, _BODY.w, _BOTTOM - top),
            [
                para(x, bullet=True, color=_MUTED, before=0.3 if i else 0)
                for i, x in enumerate(rules)
            ],
            largest=14,
            smallest=10,
        )

    def _tier_kpis(self, label: str) -> list[tuple[str, str]]:
        lang, recs = self.lang, self.recs
        ref = recs.references.set_index("tier").loc[label]
        bud = recs.budget.set_index("tier").loc[label]
        total = int(recs.references["tier_customers"].sum())
        out = [
            (
                fmt_int(ref["tier_customers"]),
                t(
                    "strategy.kpi_customers",
                    lang,
                    share=share_text(
                        ref["tier_customers"] / total if total else float("nan"), lang
                    ),
                ),
            ),
            (share_text(bud["revenue_share"], lang), t("strategy.kpi_revenue_share", lang)),
            (
                money_text(ref["tier_revenue_at_risk"], recs.currency, lang),
                t("strategy.kpi_at_risk", lang, n=fmt_int(ref["tier_at_risk_customers"])),
            ),
        ]
        if recs.rule.amount is None:
            out.append((share_text(bud["share"], lang), t("strategy.kpi_budget_share", lang)))
        else:
            out.append(
                (
                    money_text(bud["amount"], recs.currency, lang),
                    t("strategy.kpi_budget", lang, share=share_text(bud["share"], lang)),
                )
            )
        return out

    def tiers(self, _title):
        lang = self.lang
        sep = t("strategy.inline_separator", lang)
        for rec in self.strategies.to_dict("records"):
            label = str(rec["tier"])
            key = "deck.tier_title_cjk" if _CJK_LABEL.search(label) else "deck.tier_title"
            title = t(key, lang, tier=label, goal=rec["goal"])
            mine = self.found[self.found["tier"] == label]
            notes = [str(rec["headline"]), ""]
            notes += [
                f"{f.action}{t('strategy.title_separator', lang)}{f.finding}"
                for f in mine.itertuples()
            ]
            notes += [""] + [
                f"{t(f'strategy.{field}', lang)}{t('strategy.title_separator', lang)}"
                + (sep.join(rec[field]) if isinstance(rec[field], list) else str(rec[field]))
                for field in (
                    "service_level",
                    "actions",
                    "channels",
                    "contact_cadence",
                    "offers",
                    "kpis",
                )
            ]
            left = [
                para(t("strategy.priority_actions", lang), bold=True, color=self.second, rel=1.1)
            ]
            for f in mine.itertuples():
                who = tn(
                    "deck.priority_who",
                    lang,
                    f.customers,
                    name=f.name,
                    n=fmt_int(f.customers),
                    revenue=money_text(f.revenue, self.recs.currency, lang),
                )
                left.append(
                    P(
                        (R(f.action, bold=True), R(t("strategy.title_separator", lang) + who)),
                        bullet=True,
                        before=0.5,
                    )
                )
            if mine.empty:
                left.append(para(t("deck.no_priority_actions", lang), before=0.5))
            right = [
                para(t("deck.tier_plan", lang), bold=True, color=self.second, rel=1.1),
                P(
                    (
                        R(
                            t("strategy.service_level", lang) + t("strategy.title_separator", lang),
                            bold=True,
                        ),
                        R(str(rec["service_level"])),
                    ),
                    before=0.5,
                ),
                para(t("strategy.actions", lang), bold=True, before=0.5),
                *(para(x, bullet=True, before=0.2) for x in rec["actions"]),
                P(
                    (
                        R(
                            t("strategy.kpis", lang) + t("strategy.title_separator", lang),
                            bold=True,
                        ),
                        R(sep.join(rec["kpis"])),
                    ),
                    before=0.5,
                ),
            ]
            first = True
            while left or right:
                slide = self.slide(
                    title if first else t("deck.continued", lang, title=title), notes=notes
                )
                top = _BODY.y
                if first:
                    self.text(
                        slide,
                        Box(_BODY.x, top, _BODY.w, 0.75),
                        [para(str(rec["headline"]))],
                        largest=18,
                        smallest=12,
                    )
                    kpis = self._tier_kpis(label)
                    w = (6.9 - 0.2 * (len(kpis) - 1)) / len(kpis)
                    for i, (value, name) in enumerate(kpis):
                        self.kpi(
                            slide,
                            Box(_BODY.x + i * (w + 0.2), top + 0.85, w, 1.2),
                            value,
                            name,
                            big=24,
                            small=11,
                        )
                    left_box = Box(_BODY.x, top + 2.2, 6.9, _BOTTOM - top - 2.2)
                else:
                    left_box = Box(_BODY.x, top, 6.9, _BOTTOM - top)
                right_box = Box(_BODY.x + 7.2, top + 0.85, _BODY.w - 7.2, _BOTTOM - top - 0.85)
                if first or right:
                    panel = Box(
                        right_box.x - 0.15, right_box.y - 0.1, right_box.w + 0.15, right_box.h + 0.1
                    )
                    self._panel(slide, panel)
                left = (
                    self.text(slide, left_box, left, largest=18, smallest=11, split=True)
                    if left
                    else []
                )
                right = (
                    self.text(slide, right_box, right, largest=17, smallest=10, split=True)
                    if right
                    else []
                )
                first = False

    def _panel(self, slide, box: Box):
        from pptx.enum.shapes import MSO_SHAPE

        panel = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, *box.emu())
        panel.fill.solid()
        panel.fill.fore_color.rgb = _rgb(_LIGHT)
        panel.line.fill.background()
        _plain(panel)

    def next_steps(self, title):
        lang, recs = self.lang, self.recs
        items = [t("deck.next_owners", lang)]
        for rec in self.strategies.to_dict("records"):
            label = str(rec["tier"])
            cjk = "_cjk" if _CJK_LABEL.search(label) else ""
            mine = self.found[self.found["tier"] == label]
            if len(mine):
                f = mine.sort_values(["priority", "trigger_id"], kind="stable").iloc[0]
                who = tn("deck.next_who", lang, int(f["customers"]), n=fmt_int(f["customers"]))
                items.append(
                    t(f"deck.next_tier{cjk}", lang, tier=label, action=f["action"], who=who)
                )
            elif rec["actions"]:
                items.append(
                    t(f"deck.next_tier_plan{cjk}", lang, tier=label, action=rec["actions"][0])
                )
        amount = recs.rule.amount is not None
        split = locale.get(lang).join(
            [
                t(
                    "deck.next_budget_item",
                    lang,
                    tier=r["tier"],
                    value=money_text(r["amount"], recs.currency, lang)
                    if amount
                    else share_text(r["share"], lang),
                )
                for r in recs.budget.to_dict("records")
            ]
        )
        items.append(t("deck.next_budget", lang, split=split))
        period = self.a.params.migration.period
        if period != "none":
            from tiering.present.migration_charts import period_word

            items.append(t("deck.next_rerun", lang, period=period_word(period, lang)))
        else:
            items.append(t("deck.next_rerun_no_period", lang))
        slide = self.slide(title, notes=items)
        paras = [
            para(x, number=i, before=0.6 if i > 1 else 0) for i, x in enumerate(items, start=1)
        ]
        rest = self.text(
            slide,
            Box(_BODY.x, _BODY.y + 0.15, _BODY.w, _BODY.h - 0.15),
            paras,
            largest=20,
            smallest=12,
            split=True,
        )
        if rest:
            slide = self.slide(t("deck.continued", lang, title=title), notes=items)
            self.text(slide, _BODY, rest, largest=20, smallest=12)

    def appendix(self, title):
        a, lang = self.a, self.lang
        src = a.source
        end = pd.Timestamp(a.as_of) - pd.Timedelta(days=1)
        read = src.get("rows_read") or 0
        name = Path(str(src["path"])).name + (f" ({src['sheet']})" if src.get("sheet") else "")
        sha = str(src.get("sha256") or "–")
        method = method_name(a.tiering_params["method"], lang)
        conventions = t("report.appendix_conventions", lang, alpha=a.params.stats.alpha)
        rows = [
            (t("report.prov_method", lang), method),
            (t("report.data_file", lang), name),
            (t("report.prov_sha", lang), sha[:16] + _ELLIPSIS if len(sha) > 16 else sha),
            (t("report.data_rows_read", lang), fmt_int(read)),
            (
                t("report.data_rows_used", lang),
                f"{fmt_int(src['rows_used'])} ({fmt_pct(src['rows_used'] / read if read else 0)})",
            ),
            (t("report.data_rows_rejected", lang), fmt_int(src["rows_rejected"])),
            (t("deck.customers_tiered", lang), fmt_int(len(a.tiers))),
            (
                t("report.data_period", lang),
                f"{fmt_date(a.period_start, lang)} – {fmt_date(end, lang)}",
            ),
            (t("report.data_as_of", lang), fmt_date(a.as_of, lang)),
            (t("report.prov_version", lang), __version__),
            (t("deck.generated", lang), fmt_date(self.generated, lang)),
        ]
        notes = [
            conventions,
            "",
            t("deck.notes_sha", lang, sha=sha),
            *(f"{k}: {v}" for k, v in rows),
        ]
        slide = self.slide(title, notes=notes)
        left = [
            para(t("report.appendix_method", lang), bold=True, color=self.second, rel=1.1),
            para(method_subtitle(a.tiering_params["method"], lang), bold=True, before=0.5),
            para(conventions, before=0.5),
        ]
        self.text(
            slide, Box(_BODY.x, _BODY.y + 0.1, 5.6, _BODY.h - 0.1), left, largest=18, smallest=10
        )
        right = Box(_BODY.x + 5.9, _BODY.y + 0.1, _BODY.w - 5.9, _BODY.h - 0.1)
        self.text(
            slide,
            Box(right.x, right.y, right.w, 0.45),
            [para(t("report.appendix_provenance", lang), bold=True, color=self.second)],
            largest=16,
            smallest=11,
        )
        self.table(
            slide,
            Box(right.x, right.y + 0.55, right.w, right.h - 0.55),
            [t("report.col_item", lang), t("report.col_value", lang)],
            rows,
            wrap=(1,),
            largest=14,
            smallest=9,
        )

    def finish(self):
        """Footers and page numbers, fonts and language on every run, fixed properties."""
        lang = self.lang
        footer = self.brand.footer or t(
            "deck.footer", lang, client=self.a.params.client, title=self.title
        )
        slides = list(self.prs.slides)
        for n, slide in enumerate(slides[1:], start=2):
            logo = self.logo(slide, _MARGIN, 7.08, w=1.2, h=0.3)
            shift = logo + 0.15 if logo else 0.0
            self.text(
                slide,
                Box(_MARGIN + shift, 7.08, SLIDE_W - 2 * _MARGIN - 1.0 - shift, 0.3),
                [para(footer)],
                largest=9,
                smallest=7,
                color=_MUTED,
            )
            self.text(
                slide,
                Box(SLIDE_W - _MARGIN - 0.8, 7.08, 0.8, 0.3),
                [para(str(n), align="r")],
                largest=9,
                smallest=7,
                color=_MUTED,
            )
        language = locale.get(lang).html_lang
        for slide in slides:
            parts = [slide.element]
            if slide.has_notes_slide:
                parts.append(slide.notes_slide.element)
            for part in parts:
                for run in part.iter(_q("a:r")):
                    set_fonts(run.get_or_add_rPr(), language, font=self.font)
        core = self.prs.core_properties
        stamp = dt.datetime.combine(self.generated, dt.time())
        core.title = self.title
        core.subject = self.a.params.client
        core.author = self.a.params.consultant or "tiering"
        core.last_modified_by = "tiering"
        core.keywords = ""
        core.comments = ""
        core.category = ""
        core.language = language
        core.created = stamp
        core.modified = stamp
        core.revision = 1


def set_fonts(rpr, language: str, *, font: str = FONT) -> None:
    """Name ``font`` (default :data:`FONT`; a brand's, :func:`brand_font`) as the Latin
    and complex-script typeface of a run's properties (``a:rPr``), the CJK font
    :data:`tiering.style.CJK_FONT` as its East Asian one, and its language."""
    from pptx.oxml.ns import qn

    latin = rpr.get_or_add_latin()
    latin.set("typeface", font)
    for tag in ("a:ea", "a:cs"):
        for old in rpr.findall(qn(tag)):
            rpr.remove(old)
    cs = rpr.makeelement(qn("a:cs"), {"typeface": font})
    ea = rpr.makeelement(qn("a:ea"), {"typeface": CJK_FONT})
    latin.addnext(cs)
    latin.addnext(ea)
    rpr.set("lang", language)


def _holdout_headline(a: Analysis) -> str | None:
    from tiering.present.holdout import headline

    return headline(a)


def deck_bytes(analysis: Analysis, *, generated: dt.date | None = None) -> bytes:
    """The deck of ``analysis`` as the bytes of a .pptx file (``generated``: the date on
    the cover, default the analysis' as-of date). The same analysis and date give the
    same bytes: the ZIP entries keep python-pptx's order with a fixed time stamp."""
    prs = _Deck(analysis, generated or analysis.as_of).build()
    raw = io.BytesIO()
    prs.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.create_system = 0
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def write_deck(analysis: Analysis, path: str | Path, *, generated: dt.date | None = None) -> Path:
    """Write the slide deck of ``analysis`` to ``path`` (see :func:`deck_bytes`)."""
    path = Path(path)
    path.write_bytes(deck_bytes(analysis, generated=generated))
    return path
