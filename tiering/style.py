"""One visual identity for charts, tables and the report CSS."""

from __future__ import annotations

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


def tier_palette(labels) -> dict[str, str]:
    """Map ordered tier labels (best first) to colours; spreads 2-7 tiers over the scale."""
    labels = list(labels)
    n = len(labels)
    if n <= 1:
        return {lab: TIER_COLORS[0] for lab in labels}
    picks = {
        2: (0, 5),
        3: (0, 2, 5),
        4: (0, 1, 3, 5),
        5: (0, 1, 2, 4, 5),
        6: (0, 1, 2, 3, 4, 5),
        7: (0, 1, 2, 3, 4, 5, 6),
    }.get(n)
    if picks is None:
        picks = tuple(round(i * 6 / (n - 1)) for i in range(n))
    return {lab: TIER_COLORS[i] for lab, i in zip(labels, picks)}


def tier_css_classes(labels) -> dict[str, str]:
    """Map ordered tier labels to the CSS class of their colour (``tier-1`` .. ``tier-7``).

    The number is the position of the tier's colour in ``TIER_COLORS`` plus one, so the
    HTML and the charts always agree whatever the number of tiers.
    """
    palette = tier_palette(labels)
    return {lab: f"tier-{TIER_COLORS.index(col) + 1}" for lab, col in palette.items()}
