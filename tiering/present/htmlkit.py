"""The small HTML and number-formatting kit every report section uses: escaping,
numbers, percentages, money and dates in the report's language (through
:mod:`tiering.locale`), headings, tables, tier badges and KPI tiles.

It imports nothing that draws or renders (no matplotlib, no templates), so the section
modules and the analysis can use it without importing :mod:`tiering.present.narrative`, which
assembles the report from the sections.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

from tiering import locale
from tiering.present.i18n import t

__all__ = [
    "badge",
    "esc",
    "fmt_date",
    "fmt_int",
    "fmt_money",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "heading",
    "kpis",
    "sampled_note",
    "table",
]

esc = html.escape


# --------------------------------------------------------------------------- formatting


def fmt_int(n, language: str = "en") -> str:
    return f"{int(n):,}"


def fmt_pct(x, language: str = "en", digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if 0 < x < 0.5 * 10 ** -(digits + 2):
        return f"<{10**-digits:.{digits}f}%"
    return f"{x * 100:.{digits}f}%"


def fmt_money(x, language: str = "en", currency: str = "¥", *, compact: bool = False) -> str:
    return locale.money(x, language, currency, compact=compact)


def ci_text(low: str, high: str, language: str = "en") -> str:
    """A 95% interval's bounds as shown in a sentence: ``3.8–4.4``; when the two bounds
    read the same (a zero-width interval, or one narrower than the shown precision)
    the value once, saying both ends are equal, never "2.0–2.0"."""
    from tiering.present.i18n import t

    key = "report.ci_point" if low == high else "report.ci_range"
    return t(key, language, low=low, high=high)


def fmt_num(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.{digits}f}"


def fmt_date(d, language: str = "en") -> str:
    return locale.get(language).date(d)


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


# --------------------------------------------------------------------------- html helpers


def heading(key: str, language: str, *, anchor: str, appendix: bool = False) -> str:
    cls = "section appendix" if appendix else "section"
    return f'<h2 id="sec-{anchor}" class="{cls}">{esc(t(key, language))}</h2>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence],
    *,
    numeric: Sequence[int] = (),
    raw: Sequence[int] = (),
    caption: str | None = None,
) -> str:
    """An HTML table. Cells are escaped except the columns listed in ``raw``."""
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = str(v) if i in raw else esc(str(v))
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<table class="data">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def badge(label: str, classes: dict[str, str]) -> str:
    return f'<span class="tier-badge {classes.get(label, "tier-1")}">{esc(label)}</span>'


def kpis(items: Sequence[tuple[str, str]]) -> str:
    tiles = "".join(
        f'<div class="kpi"><span class="kpi-value">{esc(v)}</span>'
        f'<span class="kpi-label">{esc(k)}</span></div>'
        for k, v in items
    )
    return f'<div class="kpis">{tiles}</div>'


def sampled_note(sample: dict, lang: str) -> str:
    """The note that an analysis ran on a sample of customers (``source['transactions_sample']``)."""
    text = t(
        "report.sampled_analysis",
        lang,
        customers=fmt_int(sample["customers"]),
        of_customers=fmt_int(sample["of_customers"]),
        rows=fmt_int(sample["rows"]),
        of_rows=fmt_int(sample["of_rows"]),
        seed=sample["seed"],
    )
    return f'<p class="note">{esc(text)}</p>'
