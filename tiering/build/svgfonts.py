"""Fonts for the report's SVG charts: the glyphs they use, embedded, so the page stays
self-contained and offline and the charts look the same on every screen.

The charts are SVG files whose text stays text (``svg.fonttype: none``): each ``<text>``
names matplotlib's font families (the CJK face first when one is installed, then DejaVu
Sans, then matplotlib's other sans-serif names). A chart shown through ``<img>`` cannot
use the page's fonts, so :func:`embed_fonts` gives every chart its own ``@font-face``
rules: for each character, the first of the text's families whose font file (found the
way matplotlib finds it, so the screen shows the faces the PNG was drawn with) has the
glyph; each face subset to the characters the chart draws with it, as WOFF2 (WOFF when
``brotli`` is missing). The ``font-family`` lists are shortened to the embedded families
plus ``sans-serif``.

Speed: subsetting from a CJK font of 65,000 glyphs costs about 0.25 s however few
characters are kept, so each face is first cut once to the characters of all the
charts together, and every chart's subset is cut from that (milliseconds).

Same charts in, same bytes out: characters are sorted, fonts keep their time stamps.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import logging
import re
from collections.abc import Sequence
from functools import lru_cache

log = logging.getLogger(__name__)

__all__ = ["embed_fonts"]

_TEXT = re.compile(r"<text\b([^>]*)>(.*?)</text>", re.DOTALL)
_STYLE = re.compile(r'style="([^"]*)"')
_FAMILY_DECL = re.compile(r"font-family: ([^;\"]*)")
_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_GENERIC = frozenset({"serif", "sans-serif", "cursive", "fantasy", "monospace"})
# Chart labels need no ligatures or vertical metrics; kerning is left to the browser.
_DROPPED = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "VORG", "vhea", "vmtx", "FFTM")
# What a face is: (family as the SVG names it, weight, style).
Key = tuple[str, int, str]


def embed_fonts(svgs: Sequence[bytes]) -> list[bytes]:
    """Each SVG with ``@font-face`` rules for the glyphs its text uses (see the module).

    SVGs without ``<text>`` come back unchanged except for their ``<metadata>`` block,
    which is dropped (it only repeats the format).
    """
    texts = [svg.decode("utf-8") for svg in svgs]
    plans = [_plan(text) for text in texts]  # per SVG: face key -> characters
    union: dict[tuple[str, int], set[str]] = {}
    for plan in plans:
        for key, chars in plan.items():
            union.setdefault(_face_file(key), set()).update(chars)
    reduced = {face: _reduce(face, chars) for face, chars in sorted(union.items())}
    flavor = "woff2" if importlib.util.find_spec("brotli") else "woff"
    out = []
    for text, plan in zip(texts, plans):
        rules = []
        for key in sorted(plan):
            font = _subset(reduced[_face_file(key)], plan[key], flavor=flavor)
            family, weight, style = key
            rules.append(
                f"@font-face{{font-family:{_css_string(family)};font-weight:{weight};"
                f"font-style:{style};src:url(data:font/{flavor};base64,"
                f"{base64.b64encode(font).decode('ascii')}) format('{flavor}')}}"
            )
        out.append(_rewrite(text, plan, rules).encode("utf-8"))
    return out


# ---- which face draws which character -------------------------------------------------


def _plan(text: str) -> dict[Key, set[str]]:
    plan: dict[Key, set[str]] = {}
    for attributes, content in _TEXT.findall(text):
        style = _declarations(attributes)
        families = _families(style.get("font-family", "sans-serif"))
        weight = _weight(style.get("font-weight", "400"))
        font_style = style.get("font-style", "normal")
        for ch in sorted(set(html.unescape(content))):
            key = _covering(ch, tuple(families), weight, font_style)
            if key is None:
                log.debug("no font of %s has a glyph for %r", families, ch)
                continue
            plan.setdefault(key, {" "}).add(ch)
    return plan


def _declarations(attributes: str) -> dict[str, str]:
    match = _STYLE.search(attributes)
    out = {}
    for part in (match.group(1) if match else "").split(";"):
        name, _, value = part.partition(":")
        if name.strip():
            out[name.strip()] = value.strip()
    return out


def _families(value: str) -> list[str]:
    return [name.strip().strip("'\"") for name in value.split(",") if name.strip()]


def _weight(value: str) -> int:
    named = {"normal": 400, "bold": 700}
    try:
        return int(named.get(value, value))
    except ValueError:
        return 400


@lru_cache(maxsize=8192)
def _covering(ch: str, families: tuple[str, ...], weight: int, style: str) -> Key | None:
    for family in families:
        if family in _GENERIC:
            continue
        face = _find(family, weight, style)
        if face is not None and ord(ch) in _cmap(face):
            return (family, weight, style)
    return None


@lru_cache(maxsize=64)
def _find(family: str, weight: int, style: str) -> tuple[str, int] | None:
    """The font file and face index matplotlib draws ``family`` at ``weight`` with."""
    from matplotlib import font_manager  # here: the print page needs no font lookup

    prop = font_manager.FontProperties(family=family, weight=weight, style=style)
    try:
        path = font_manager.findfont(prop, fallback_to_default=False)
    except ValueError:
        return None
    return str(path), int(getattr(path, "face_index", 0) or 0)


def _face_file(key: Key) -> tuple[str, int]:
    face = _find(*key)
    if face is None:  # _covering only returns keys with a face
        raise LookupError(f"no font file for {key}")
    return face


@lru_cache(maxsize=16)
def _cmap(face: tuple[str, int]) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    path, index = face
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


# ---- subsetting ----------------------------------------------------------------------


def _reduce(face: tuple[str, int], chars: set[str]) -> bytes:
    """The face (also one face of a collection) cut to ``chars``, as an OpenType file."""
    from fontTools.ttLib import TTFont

    path, index = face
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return _subset_font(font, chars, flavor=None)


def _subset(data: bytes, chars: set[str], *, flavor: str | None) -> bytes:
    from fontTools.ttLib import TTFont

    with TTFont(io.BytesIO(data), lazy=True) as font:
        return _subset_font(font, chars, flavor=flavor)


def _subset_font(font, chars: set[str], *, flavor: str | None) -> bytes:
    from fontTools import subset

    for tag in _DROPPED:  # removed first: the subsetter would still read them (slow)
        if tag in font:
            del font[tag]
    options = subset.Options()
    options.flavor = flavor
    options.layout_features = []
    options.drop_tables += list(_DROPPED)
    options.notdef_outline = True
    # the final subset (small: fast) drops hints and subroutines: it compresses better
    options.hinting = flavor is None
    options.desubroutinize = flavor is not None
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    font.recalcTimestamp = False
    font.flavor = flavor
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


# ---- the SVG -------------------------------------------------------------------------


def _rewrite(text: str, plan: dict[Key, set[str]], rules: list[str]) -> str:
    text = _METADATA.sub("", text, count=1)
    if not rules:
        return text
    embedded = {family for family, _, _ in plan}

    def families(match: re.Match) -> str:
        kept = [f for f in _families(match.group(1)) if f in embedded]
        return "font-family: " + ", ".join([*map(_css_string, kept), "sans-serif"])

    text = _FAMILY_DECL.sub(families, text)
    opening = _SVG_OPEN.search(text)
    if opening is None:
        return text
    style = '\n <defs>\n  <style type="text/css">' + "".join(rules) + "</style>\n </defs>"
    return text[: opening.end()] + style + text[opening.end() :]


def _css_string(text: str) -> str:
    """``text`` as a single-quoted CSS string, safe in a ``style="..."`` attribute and in
    a ``<style>`` element of the SVG (XML)."""
    quoted = text.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + html.escape(quoted, quote=False).replace('"', "&quot;") + "'"
