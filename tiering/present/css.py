"""The report's CSS that depends on the colours (:mod:`tiering.style`), and the
section styles for a notebook.

The report's stylesheet is ``tiering/templates/tiering_report/report.css``; the build
(:mod:`tiering.build.render`) adds :func:`colour_properties` and :func:`tier_css` after
it. In JupyterLab the sections of the report notebook are plain HTML outputs with no
report stylesheet: :func:`notebook_css` gives the same rules for their elements (tier
badges, figure boxes, tables, findings, cards, notes), scoped to the notebook's output
area so they change nothing else on the page.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tiering.style import ACCENT, MUTED, NEGATIVE, POSITIVE, TIER_COLORS

__all__ = ["STYLESHEET", "colour_properties", "notebook_css", "text_on", "tier_css", "tint"]

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


def colour_properties(scope: str = ":root") -> str:
    """The colour custom properties (``--accent`` ...) and the positive/negative rules."""
    return (
        f"{scope} {{\n"
        f"  --accent: {ACCENT};\n  --accent-tint: {tint(ACCENT, 0.92)};\n"
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
