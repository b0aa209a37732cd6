"""The report's sections keep their styling in JupyterLab (issue 17): the report
notebook shows the section styles, scoped to the notebook's HTML outputs, in a cell
that the HTML and PDF report leave out (they carry the full stylesheet)."""

from __future__ import annotations

import json
import re

import tinycss2

from tiering.present import css
from tiering.style import TIER_COLORS

from .conftest import ROOT


def _selectors(style: str) -> list[str]:
    body = re.sub(r"^<style[^>]*>|</style>$", "", style.strip())
    out = []
    for rule in tinycss2.parse_stylesheet(body, skip_comments=True, skip_whitespace=True):
        assert rule.type == "qualified-rule", rule  # no @page, @media or @font-face
        out += [s.strip() for s in tinycss2.serialize(rule.prelude).split(",")]
    return out


def test_the_notebook_styles_are_scoped_to_html_outputs():
    selectors = _selectors(css.notebook_css())
    assert selectors and all(s.startswith(css.NOTEBOOK_SCOPES) for s in selectors)
    # the elements the sections use: tier badges in every colour, figures, tables, cards
    for wanted in (
        ".tier-badge.tier-1",
        f".tier-badge.tier-{len(TIER_COLORS)}",
        "figure.chart img",
        "table.data",
        "ul.findings li",
        "div.kpi",
        "div.strategy-card",
        "div.warning",
    ):
        assert any(
            s.endswith(wanted) or f"{wanted} " in s or f"{wanted}," in s or wanted in s
            for s in selectors
        ), wanted
    # the page's own rules (fonts of the whole page, the cover, the contents) stay out
    assert not [s for s in selectors if re.search(r"\s(html|body|nav|\.cover)", s)]
    assert f"background: {TIER_COLORS[0]}" in css.notebook_css()


def test_the_scoping_rewrites_every_selector_and_drops_page_rules():
    scoped = css._scoped(
        ":root { --x: 1; } html { font-size: 1pt; } @page { size: A4; }\n"
        "h2.section, .tier-badge { color: red; } @media print { p { x: y; } }",
        (".scope",),
    )
    assert scoped.splitlines() == [
        ".scope { --x: 1; }",
        ".scope h2.section, .scope .tier-badge { color: red; }",
    ]


def test_the_report_notebook_shows_them_in_a_cell_the_report_leaves_out():
    nb = json.loads((ROOT / "notebooks" / "tiering_report.ipynb").read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "narrative.notebook_style()" in "".join(c["source"])]
    assert len(cells) == 1
    assert "remove-cell" in cells[0]["metadata"].get("tags", [])
