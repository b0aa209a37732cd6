"""One visual identity for charts, tables, the report CSS, the deck and the workbook.

The house colours below are the default brand. A client's brand (the ``brand:``
parameters, :class:`tiering.params.Brand`) becomes a :class:`Palette`, which the
presentation code is handed (``Brand.palette(n_tiers)``); nothing here is changed at
run time. The colour helpers (:func:`parse_color`, :func:`contrast_ratio`,
:func:`readable_text_on`) follow CSS and WCAG 2.x and are what the parameter checks use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

# Tier colours, best tier first. Chosen to stay distinct in greyscale print and for
# the common colour-vision deficiencies (based on the Okabe-Ito / ColorBrewer sets).
TIER_COLORS: tuple[str, ...] = (
    "#1b4f72",  # deep blue   - top tier
    "#2e86c1",  # blue
    "#48c9b0",  # teal
    "#f5b041",  # amber
    "#e67e22",  # orange
    "#c0392b",  # red
    "#7f8c8d",  # grey        - lowest tier
)
ACCENT = "#1b4f72"
MUTED = "#7f8c8d"
NEGATIVE = "#c0392b"
POSITIVE = "#1e8449"
# Tier migration: the states that are not tiers (customers who lapsed, new customers).
LAPSED_COLOR = "#b8bcbf"
NEW_COLOR = "#8e6bbf"
#: Text on the primary colour: white, or this near-black (the report's ink) when white
#: does not reach :data:`MIN_CONTRAST`.
WHITE = "#ffffff"
NEAR_BLACK = "#1f2933"
#: WCAG 2.x level AA for normal text and for large text (18 pt, or 14 pt bold: headings)
#: (success criterion 1.4.3).
MIN_CONTRAST = 4.5
MIN_CONTRAST_LARGE = 3.0
#: The report's typefaces after the brand's font: Noto Sans CJK keeps Chinese readable.
FONT_FALLBACKS: tuple[str, ...] = ("Noto Sans CJK SC", "Noto Sans SC", "Noto Sans", "DejaVu Sans")
#: The CJK font of the deck's East Asian runs (whatever the brand's font).
CJK_FONT = "Noto Sans CJK SC"

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_NAME = re.compile(r"[A-Za-z]+")

# Which of the seven colours 2-7 tiers get, best tier first.
_PICKS = {
    2: (0, 5),
    3: (0, 2, 5),
    4: (0, 1, 3, 5),
    5: (0, 1, 2, 4, 5),
    6: (0, 1, 2, 3, 4, 5),
    7: (0, 1, 2, 3, 4, 5, 6),
}


def _picks(n: int) -> tuple[int, ...]:
    if n <= 1:
        return (0,) * max(n, 0)
    return _PICKS.get(n) or tuple(round(i * 6 / (n - 1)) for i in range(n))


# --------------------------------------------------------------------------- colours


def parse_color(text: str) -> str:
    """``#rgb``, ``#rrggbb`` or a CSS colour name (``navy``) as ``#rrggbb`` (lower case).

    Raises ``ValueError`` with what is accepted otherwise.
    """
    value = str(text).strip()
    if _HEX.fullmatch(value):
        digits = value[1:].lower()
        return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)
    if _NAME.fullmatch(value):
        from tinycss2.color3 import parse_color as css_color  # WeasyPrint's CSS parser

        rgba = css_color(value)
        if rgba is not None and not isinstance(rgba, str) and rgba.alpha == 1:
            return "#" + "".join(f"{round(c * 255):02x}" for c in rgba[:3])
    raise ValueError(
        f"{text!r} is not a colour: write #rgb or #rrggbb (e.g. #1b4f72) or a CSS colour "
        "name (e.g. navy)"
    )


def _rgb(color: str) -> tuple[int, int, int]:
    h = color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb`` (0 black .. 1 white)."""

    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours, 1 to 21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_text_on(background: str) -> str:
    """White when it reaches :data:`MIN_CONTRAST` on ``background``, else near-black,
    else black (one of white and black always reaches 4.58:1)."""
    for candidate in (WHITE, NEAR_BLACK, "#000000"):
        if contrast_ratio(candidate, background) >= MIN_CONTRAST:
            return candidate
    return (
        WHITE
        if contrast_ratio(WHITE, background) > contrast_ratio("#000000", background)
        else "#000000"
    )


# --------------------------------------------------------------------------- palette


@dataclass(frozen=True)
class Palette:
    """The colours, type and furniture of one report's outputs.

    ``tier_colors`` always holds seven colours (the scale 2-7 tiers are spread over);
    a brand's own tier colours sit where its tiers fall on that scale
    (:meth:`with_tier_colors`). ``stripe`` is which of them the cover's stripe shows
    (1-based). ``font`` is the brand's typeface or ``None`` (the report's own);
    ``logo`` a checked PNG, JPEG or SVG file; ``footer`` the text at the foot of every
    page. The default is the house style.
    """

    primary: str = ACCENT
    secondary: str = ACCENT
    text_on_primary: str = WHITE
    tier_colors: tuple[str, ...] = TIER_COLORS
    stripe: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    font: str | None = None
    logo: Path | None = None
    footer: str = ""

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_PALETTE

    def with_tier_colors(self, colors) -> Palette:
        """The palette with ``colors`` (one per tier, best first) on the tiers' places
        of the seven-colour scale; the cover stripe then shows those."""
        colors = list(colors)
        picks = _picks(len(colors))
        scale = list(self.tier_colors)
        for i, color in zip(picks, colors):
            scale[i] = color
        return replace(self, tier_colors=tuple(scale), stripe=tuple(i + 1 for i in picks))

    def tier_palette(self, labels) -> dict[str, str]:
        """Ordered tier labels (best first) → colour (see :func:`tier_palette`)."""
        labels = list(labels)
        return {lab: self.tier_colors[i] for lab, i in zip(labels, _picks(len(labels)))}

    def font_stack(self) -> tuple[str, ...]:
        """The typefaces in order: the brand's, then the CJK-capable fallbacks."""
        return ((self.font,) if self.font else ()) + FONT_FALLBACKS

    def cmap_colors(self) -> tuple[str, str] | None:
        """White → primary for sequential colour maps (heatmaps), or ``None`` for the
        house style's (matplotlib's ``Blues``)."""
        return None if self.primary == ACCENT else (WHITE, self.primary)


DEFAULT_PALETTE = Palette()


def tier_palette(labels, palette: Palette | None = None) -> dict[str, str]:
    """Map ordered tier labels (best first) to colours; spreads 2-7 tiers over the scale
    of ``palette`` (default: the house colours)."""
    return (palette or DEFAULT_PALETTE).tier_palette(labels)


def tier_css_classes(labels) -> dict[str, str]:
    """Map ordered tier labels to the CSS class of their colour (``tier-1`` .. ``tier-7``).

    The number is the position of the tier's colour on the seven-colour scale plus one,
    so the HTML and the charts always agree whatever the number of tiers (and whatever
    the brand: a brand's colours take the same places, :meth:`Palette.with_tier_colors`).
    """
    labels = list(labels)
    return {lab: f"tier-{i + 1}" for lab, i in zip(labels, _picks(len(labels)))}
