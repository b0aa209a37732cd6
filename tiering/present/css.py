"""The report's CSS that depends on the colours (:mod:`tiering.style`), and the
section styles for a notebook.

The report's stylesheet is ``tiering/templates/tiering_report/report.css``; the build
(:mod:`tiering.build.render`) adds :func:`colour_properties` and :func:`tier_css` after
it, and :func:`brand_css` when the report has a brand of its own (nothing for the house
style, so a report without ``brand:`` is what it always was). In JupyterLab the sections of the report notebook are plain HTML outputs with no
report stylesheet: :func:`notebook_css` gives the same rules for their elements (tier
badges, figure boxes, tables, findings, cards, notes), scoped to the notebook's output
area so they change nothing else on the page.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tiering.style import (
    DEFAULT_PALETTE,
    MUTED,
    NEGATIVE,
    POSITIVE,
    TIER_COLORS,
    Palette,
)

__all__ = [
    "STYLESHEET",
    "brand_css",
    "colour_properties",
    "css_string",
    "font_family",
    "notebook_css",
    "palette_of",
    "text_on",
    "tier_css",
    "tint",
]

STYLESHEET = Path(__file__).resolve().parents[1] / "templates" / "tiering_report" / "report.css"
#: The containers of an HTML output in JupyterLab and in the classic notebook.
NOTEBOOK_SCOPES = (".jp-RenderedHTMLCommon", ".rendered_html")
# Colour of the warning callout: the amber of the tier scale.
WARNING_COLOR = TIER_COLORS[3]
# Rules of the page itself, not of a section: left out of the notebook's styles.
_PAGE_ONLY = ("html", "body", "main", "nav", ".cover", ".report", ".toc", "a.anchor-link")


def _rgb(color: str) -> tuple[int, int, int]:
    h = color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _hex(rgb) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def tint(color: str, amount: float) -> str:
    """Mix ``color`` with white (``amount`` = share of white)."""
    return _hex(c + (255 - c) * amount for c in _rgb(color))


def text_on(color: str) -> str:
    """Black or white text, whichever contrasts more with ``color`` (WCAG luminance)."""

    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(color))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#1f2933" if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else "#ffffff"


def colour_properties(scope: str = ":root", palette: Palette = DEFAULT_PALETTE) -> str:
    """The colour custom properties (``--accent`` ...) and the positive/negative rules;
    the accent is the ``palette``'s primary colour."""
    accent = palette.primary
    return (
        f"{scope} {{\n"
        f"  --accent: {accent};\n  --accent-tint: {tint(accent, 0.92)};\n"
        f"  --muted: {MUTED};\n  --positive: {POSITIVE};\n  --negative: {NEGATIVE};\n"
        f"  --warning: {WARNING_COLOR};\n  --warning-tint: {tint(WARNING_COLOR, 0.85)};\n"
        "}\n"
        f".positive {{ color: {POSITIVE}; }}\n.negative {{ color: {NEGATIVE}; }}\n"
    )


def tier_css(colors: tuple[str, ...] = TIER_COLORS) -> str:
    """CSS rules ``.tier-1`` ... ``.tier-N`` from the tier colours (best tier first).

    A badge gets the tier colour as background and a readable text colour, a
    strategy card gets it as its left border. ``tier-N`` is the colour index + 1
    picked by :func:`tiering.style.tier_palette`.
    """
    rules = []
    for i, color in enumerate(colors, start=1):
        rules.append(
            f".tier-badge.tier-{i}, .cover-stripe .tier-{i} "
            f"{{ background: {color}; color: {text_on(color)}; }}\n"
            f".strategy-card.tier-{i} {{ border-left-color: {color}; }}"
        )
    return "\n".join(rules)


def palette_of(analysis) -> Palette:
    """The palette of an analysis's report: its parameters' ``brand:`` for its tiers."""
    brand = analysis.params.brand
    return brand.palette(None if brand.tier_colors is None else len(analysis.labels))


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string, safe inside a ``<style>`` element."""
    out = []
    for ch in text:
        if ch in '\\"<>&' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):06x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def font_family(palette: Palette = DEFAULT_PALETTE) -> str:
    """The ``font-family`` value: the brand's font, then the CJK-capable fallbacks."""
    return ", ".join(css_string(f) for f in palette.font_stack()) + ", sans-serif"


def brand_css(palette: Palette) -> str:
    """The rules a brand adds after the report's stylesheet: the font, the text colour
    on the primary colour (cover band), the secondary colour (sub-headings, key
    figures, the findings' markers), the page header with the logo and the footer line
    (screen; on paper the footer is in every page's margin, :mod:`tiering.build.render`).
    Empty for the house style."""
    if palette.is_default:
        return ""
    on, second = palette.text_on_primary, palette.secondary
    return (
        f"html {{ font-family: {font_family(palette)}; }}\n"
        f".cover-band, .cover-band h1, .cover-band p {{ color: {on}; }}\n"
        f"h3, .kpi-value, .cover-firm {{ color: {second}; }}\n"
        f"ul.findings li::before {{ background: {second}; }}\n"
        f"div.kpi {{ border-top-color: {second}; }}\n"
        "header.brand-header { display: flex; align-items: center; padding: 0.7rem 2rem; "
        f"border-bottom: 3px solid {palette.primary}; }}\n"
        "header.brand-header img { display: block; height: 2.2rem; width: auto; "
        "max-width: 12rem; margin-right: 0.9rem; }\n"
        f"header.brand-header span {{ font-weight: 700; color: {palette.primary}; }}\n"
        "footer.brand-footer { padding: 0.8rem 2rem 1.2rem; font-size: 0.8rem; "
        f"color: var(--ink-soft); border-top: 2px solid {palette.primary}; }}\n"
        ".cover-brand-footer { margin-top: 2mm; font-size: 8pt; color: var(--ink-soft); }\n"
        "@media print { header.brand-header, footer.brand-footer { display: none; } }\n"
        # on screen the page header shows the logo right above the cover: once is enough
        "@media screen { header.has-logo + section.cover .cover-brand { display: none; } }\n"
    )


def _scoped(css: str, scopes: tuple[str, ...]) -> str:
    """``css`` with every selector placed inside one of ``scopes``; at-rules (@page,
    @media) and rules of the page itself are left out."""
    import tinycss2  # WeasyPrint's CSS parser; only needed here

    out = []
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type != "qualified-rule":
            continue
        selectors = [s.strip() for s in tinycss2.serialize(rule.prelude).split(",")]
        kept = []
        for sel in selectors:
            if sel == ":root":
                kept += list(scopes)
            elif not sel.startswith(_PAGE_ONLY) and not sel.startswith(":lang"):
                kept += [f"{scope} {sel}" for scope in scopes]
        if kept:
            out.append(f"{', '.join(kept)} {{{tinycss2.serialize(rule.content)}}}")
    return "\n".join(out)


@lru_cache(maxsize=1)
def notebook_css() -> str:
    """The report's section styles for the notebook's HTML outputs (JupyterLab and the
    classic notebook), as one ``<style>`` element."""
    body = (
        _scoped(STYLESHEET.read_text(encoding="utf-8"), NOTEBOOK_SCOPES)
        + "\n"
        + _scoped(colour_properties() + tier_css(), NOTEBOOK_SCOPES)
    )
    return f'<style type="text/css" class="tiering-notebook">\n{body}\n</style>'
