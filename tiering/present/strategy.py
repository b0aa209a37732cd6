"""The report section with the strategy per tier: budget, then one card per tier.

``section_strategy(analysis)`` uses ``analysis.recommendations`` (a
:class:`tiering.analysis.strategy.Recommendations`) when the pipeline stored it, and computes
it from the analysis otherwise (the computation is fast and deterministic). The HTML
parts are public for other layouts: :func:`strategy_cards_html` (one card per tier),
:func:`segments_html` (RFM segments across tiers), :func:`dormant_note_html`. The texts
they show come from :mod:`tiering.present.strategy_text`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd

from tiering import locale
from tiering.analysis import strategy
from tiering.analysis.strategy import Recommendations, is_missing
from tiering.errors import require
from tiering.present.campaigns import money_signed, points
from tiering.present.htmlkit import badge, esc, heading, kpis, table
from tiering.present.i18n import pick, t
from tiering.present.strategy_text import (
    budget_rule_text,
    dormant_strategy,
    findings,
    money_text,
    share_text,
    strategies_of,
)
from tiering.style import tier_css_classes

__all__ = [
    "budget_share_text",
    "budget_share_total",
    "budget_shares",
    "section_strategy",
    "recommendations_of",
    "strategy_cards_html",
    "segments_html",
    "dormant_note_html",
    "uplift_text",
]

# Card sections after the headline: (field, is_list)
_CARD_FIELDS: tuple[tuple[str, bool], ...] = (
    ("service_level", False),
    ("actions", True),
    ("channels", True),
    ("contact_cadence", False),
    ("offers", True),
    ("kpis", True),
)


def recommendations_of(a) -> Recommendations:
    """The analysis' recommendations: stored by the pipeline, or computed now."""
    recs = getattr(a, "recommendations", None)
    if isinstance(recs, Recommendations):
        return recs
    return strategy.recommend(
        a.tiers, a.tier_summary, spec=a.params.strategy, currency=a.params.currency
    )


def _budget_table(recs: Recommendations, language: str) -> str:
    budget = recs.budget
    classes = tier_css_classes([str(x) for x in budget["tier"]])
    has_amount = recs.rule.amount is not None
    has_costs = bool(recs.rule.cost_to_serve) and has_amount

    def fmt_share(v):
        return share_text(v, language)

    def fmt_money(v):
        return money_text(v, recs.currency, language)

    shown = budget_shares(recs)
    by_uplift = "uplift_share" in budget.columns
    headers = [t("strategy.col_tier", language), t("strategy.customers", language)]
    headers += [t(key, language) for key, _, _ in shown]
    if by_uplift:  # the measured uplift per customer before its share
        headers.insert(-1, t(_uplift_heading(recs.rule), language))
    if has_costs:
        headers.append(t("strategy.col_base_cost", language))
    headers.append(t("strategy.col_budget_share", language))
    if has_amount:
        headers.append(t("strategy.col_budget_amount", language))
    rows = []
    for rec in budget.to_dict("records"):
        row = [
            badge(str(rec["tier"]), classes),
            f"{int(rec['customers']):,}",
            *(budget_share_text(rec, col, recs, language) for _, col, _ in shown),
        ]
        if by_uplift:
            row.insert(-1, uplift_text(rec, recs.rule.uplift_outcome, recs.currency, language))
        if has_costs:
            row.append(fmt_money(rec["base_cost"]))
        row.append(fmt_share(rec["share"]))
        if has_amount:
            row.append(fmt_money(rec["amount"]))
        rows.append(row)
    total = [
        t("strategy.total", language),
        f"{int(budget['customers'].sum()):,}",
        *(budget_share_total(budget, total_of) for _, _, total_of in shown),
    ]
    if by_uplift:
        total.insert(-1, "")
    if has_costs:
        total.append(fmt_money(budget["base_cost"].sum()))
    total.append("100%")
    if has_amount:
        total.append(fmt_money(recs.rule.amount))
    rows.append(total)
    return table(
        headers,
        rows,
        numeric=range(1, len(headers)),
        raw=(0,),
        caption=t("strategy.budget_caption", language),
    )


def budget_shares(recs: Recommendations) -> list[tuple[str, str, str]]:
    """The shares a budget table shows, as ``(heading text key, share column, column
    whose sum says whether the share exists)``: those the rule gives a positive weight
    (the revenue share is of the expected value when the value model's weighting asks
    for it), then the measured uplift's share when the budget weighs it."""
    budget, weights = recs.budget, dict(recs.rule.weights)
    by_value = "expected_value_share" in budget.columns
    parts = [
        (
            "strategy.col_expected_value_share" if by_value else "strategy.col_revenue_share",
            "expected_value_share" if by_value else "revenue_share",
            "expected_value" if by_value else "revenue",
            "revenue",
        ),
        ("strategy.col_growth_share", "growth_share", "growth_potential", "growth"),
        ("strategy.col_risk_share", "risk_share", "revenue_at_risk", "risk"),
        ("strategy.col_uplift_share", "uplift_share", "uplift_value", "uplift"),
    ]
    return [
        (key, col, total)
        for key, col, total, comp in parts
        if col in budget.columns and weights.get(comp, 0) > 0
    ]


def budget_share_text(rec: dict, column: str, recs: Recommendations, language: str) -> str:
    """One tier's share in a budget table ("–" for the uplift when none was measured)."""
    if column == "uplift_share" and not recs.rule.uplift_campaign:
        return "–"
    return share_text(rec[column], language)


def budget_share_total(budget: pd.DataFrame, total_of: str) -> str:
    """The total row's cell of a share: 100 %, or "–" when no tier has any."""
    return "100%" if budget[total_of].clip(lower=0).sum() > 0 else "–"


def _uplift_heading(rule) -> str:
    return (
        "strategy.col_uplift_revenue"
        if rule.uplift_outcome in ("revenue", "")
        else ("strategy.col_uplift_rate")
    )


def uplift_text(rec: dict, outcome: str, currency: str, language: str) -> str:
    """A tier's measured uplift with its 95 % interval, for the budget table: money per
    contacted customer (``outcome`` ``revenue``) or percentage points; the campaign's
    overall uplift is marked as such; "–" when none was measured."""
    value = rec.get("uplift_per_customer")
    if is_missing(value):
        return "–"

    def one(v):
        return money_signed(v, language, currency) if outcome == "revenue" else points(v)

    ci = t("campaigns.ci", language, low=one(rec["uplift_low"]), high=one(rec["uplift_high"]))
    text = t("strategy.uplift_with_ci", language, value=one(value), ci=ci)
    if rec.get("uplift_source") == "overall":
        text = t("strategy.uplift_overall", language, value=text)
    return text


def _segments(recs: Recommendations, language: str) -> str:
    body = segments_html(recs, language=language)
    if not body:
        return ""
    # heading right before the table: they move to a new page together
    return (
        f"<h3>{esc(t('strategy.segments_heading', language))}</h3>{body}"
        f"<p>{esc(t('strategy.segments_lead', language))}</p>"
    )


def _note(n: int, language: str) -> str:
    if n == 0:
        return t("strategy.action_lists_note_none", language)
    if n == 1:
        return t("strategy.action_lists_note_one", language)
    return t("strategy.action_lists_note", language, n=f"{n:,}")


def _value_signals(recs: Recommendations, language: str) -> str:
    """The value model's rescue and develop signals per tier (a table); "" without it."""
    signals = getattr(recs, "value_signals", None)
    if signals is None or signals.empty:
        return ""
    classes = tier_css_classes([str(x) for x in recs.budget["tier"]])
    by = signals.set_index(["signal", "tier"])
    rows = []
    for label in [str(x) for x in recs.budget["tier"]]:
        rescue, develop = by.loc[("rescue", label)], by.loc[("develop", label)]
        rows.append(
            (
                badge(label, classes),
                f"{int(rescue['customers']):,}",
                money_text(rescue["revenue"], recs.currency, language),
                f"{int(develop['customers']):,}",
                money_text(develop["clv"], recs.currency, language),
            )
        )
    heads = [
        t("strategy.col_tier", language),
        t("strategy.value_col_rescue", language),
        t("strategy.value_col_rescue_revenue", language),
        t("strategy.value_col_develop", language),
        t("strategy.value_col_develop_clv", language),
    ]
    return (
        f"<h3>{esc(t('strategy.value_heading', language))}</h3>"
        f"<p>{esc(t('strategy.value_lead', language))}</p>"
        + table(heads, rows, numeric=(1, 2, 3, 4), raw=(0,))
    )


def section_strategy(a) -> str:
    """What to do for each tier: budget split and its rule, one card per tier (its
    numbers, goal, the actions the data calls for, the playbook, budget share, KPIs),
    the dormant/at-risk note and where the action lists are. Fully in
    ``a.params.language``."""
    lang = a.params.language
    recs = recommendations_of(a)
    rule = "".join(f"<li>{esc(s)}</li>" for s in budget_rule_text(recs.rule, language=lang))
    if recs.rule.amount is None:
        budget_lead = t("strategy.budget_lead_shares", lang)
    else:
        budget_lead = t(
            "strategy.budget_lead", lang, amount=money_text(recs.rule.amount, recs.currency, lang)
        )
    warning = (
        f'<div class="warning"><p>{esc(t("strategy.costs_exceed_warning", lang))}</p></div>'
        if recs.rule.costs_exceed_budget
        else ""
    )
    n_findings = len(recs.fired)
    return "".join(
        [
            heading("report.sec_strategy", lang, anchor="strategy"),
            f'<p class="lead">{esc(t("report.strategy_lead", lang))}</p>',
            f"<h3>{esc(t('strategy.budget_heading', lang))}</h3>",
            f"<p>{esc(budget_lead)}</p>",
            warning,
            _budget_table(recs, lang),
            f'<ul class="findings budget-rule">{rule}</ul>',
            f'<div class="note"><p>{esc(_note(n_findings, lang))}</p></div>',
            _value_signals(recs, lang),
            _segments(recs, lang),
            strategy_cards_html(strategies_of(a), language=lang, recommendations=recs),
            dormant_note_html(language=lang, playbook=recs.playbook),
        ]
    )


# ---------------------------------------------------------------------------------
# HTML


def _as_list(value: object) -> list[str]:
    if is_missing(value):
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _ul(items: Sequence[str], css: str) -> str:
    lis = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f'<ul class="{css}">{lis}</ul>'


def _rank_class(value: object) -> str:
    rank = float(value)
    require(
        math.isfinite(rank) and rank == int(rank) and rank >= 1,
        f"tier_rank must be a positive whole number, got {value!r}",
        where="strategy_cards_html(strategies['tier_rank'])",
    )
    return f"tier-{int(rank)}"


def strategy_cards_html(
    strategies: pd.DataFrame, *, language: str, recommendations: Recommendations | None = None
) -> str:
    """HTML for the report: one ``<div class="strategy-card tier-N">`` per tier.

    ``strategies`` is the table of :func:`tiering.present.strategy_text.tier_strategies`.
    Each card has an ``<h3>`` with the tier badge (``<span class="tier-badge tier-N">``)
    and the goal, a ``<p class="card-headline">`` and a ``<dl class="card-details">``
    with service level, actions, channels, contact cadence, offers and KPIs. All text
    is HTML-escaped; styling is left to the report CSS (no inline styles).

    With ``recommendations`` (:func:`tiering.analysis.strategy.recommend`), each card
    is a page of its own (class ``tier-page``) and also shows KPI tiles (customers,
    revenue share, revenue at risk, budget share or amount), the priority actions the
    triggers found in the data with their numbers (``<dd class="priority-actions">``),
    channels, offers and KPIs on one line each. (RFM segments are shown across tiers by
    :func:`segments_html`.)
    """
    locale.get(language)
    needed = ["tier", "tier_rank", "goal", "headline", *(f for f, _ in _CARD_FIELDS)]
    missing = [c for c in needed if c not in strategies.columns]
    require(
        not missing,
        f"strategies lacks the column(s): {', '.join(missing)}",
        where="strategy_cards_html(strategies)",
        hint="pass the result of tier_strategies()",
    )
    cards = []
    records = strategies.sort_values("tier_rank", kind="stable").to_dict("records")
    for rec in records:
        _rank_class(rec["tier_rank"])
    colour_class = tier_css_classes([str(r["tier"]) for r in records])
    found = findings(recommendations, language=language) if recommendations is not None else None
    for rec in records:
        label = str(rec["tier"])
        rank = colour_class[label]
        page = " tier-page" if recommendations is not None else ""
        parts = [
            f'<div class="strategy-card {rank}{page}">',
            f'<h3><span class="tier-badge {rank}">{html.escape(label)}</span> '
            f'<span class="card-goal">{html.escape(str(rec["goal"]))}</span></h3>',
            f'<p class="card-headline">{html.escape(str(rec["headline"]))}</p>',
        ]
        if recommendations is not None:
            parts.append(_card_kpis(recommendations, label, language=language))
        parts.append('<dl class="card-details">')
        if found is not None:
            mine = found[found["tier"] == label]
            if len(mine):
                items = "".join(
                    f"<li><strong>{html.escape(f.action)}</strong>"
                    f"{html.escape(t('strategy.title_separator', language))}"
                    f"{html.escape(f.finding)}</li>"
                    for f in mine.itertuples()
                )
                parts.append(
                    f"<dt>{html.escape(t('strategy.priority_actions', language))}</dt>"
                    f'<dd class="priority-actions"><ul class="card-list priority-actions">'
                    f"{items}</ul></dd>"
                )
        for field, is_list in _CARD_FIELDS:
            dt_label = html.escape(t(f"strategy.{field}", language))
            if is_list and page and field != "actions":  # one line each: a card is a page
                body = html.escape(
                    t("strategy.inline_separator", language).join(_as_list(rec[field]))
                )
            elif is_list:
                body = _ul(_as_list(rec[field]), f"card-list {field.replace('_', '-')}")
            else:
                body = html.escape("" if is_missing(rec[field]) else str(rec[field]))
            parts.append(f'<dt>{dt_label}</dt><dd class="{field.replace("_", "-")}">{body}</dd>')
        parts += ["</dl>", "</div>"]
        cards.append("\n".join(parts))
    return (
        f'<div class="strategy-cards" lang="{locale.get(language).html_lang}">\n'
        + "\n".join(cards)
        + "\n</div>"
    )


def _card_kpis(recs: Recommendations, label: str, *, language: str) -> str:
    ref = recs.references.set_index("tier").loc[label]
    bud = recs.budget.set_index("tier").loc[label]
    total = int(recs.references["tier_customers"].sum())

    def money(v):
        return money_text(v, recs.currency, language)

    items = [
        (
            f"{int(ref['tier_customers']):,}",
            t(
                "strategy.kpi_customers",
                language,
                share=share_text(ref["tier_customers"] / total if total else math.nan, language),
            ),
        ),
        (share_text(bud["revenue_share"], language), t("strategy.kpi_revenue_share", language)),
        (
            money(ref["tier_revenue_at_risk"]),
            t("strategy.kpi_at_risk", language, n=f"{int(ref['tier_at_risk_customers']):,}"),
        ),
    ]
    if recs.rule.amount is None:
        items.append((share_text(bud["share"], language), t("strategy.kpi_budget_share", language)))
    else:
        items.append(
            (
                money(bud["amount"]),
                t("strategy.kpi_budget", language, share=share_text(bud["share"], language)),
            )
        )
    return kpis([(label, value) for value, label in items])


def segments_html(recommendations: Recommendations, *, language: str) -> str:
    """A table of the RFM segments: customers per tier, goal and first action.

    One row per segment, largest first (segments the playbook does not know are shown
    by their name in the data, without a plan); ``""`` when the tiers have no
    ``segment`` column. All text is HTML-escaped.
    """
    locale.get(language)
    cust = recommendations.customers
    if "segment" not in cust.columns or cust.empty:
        return ""
    book = recommendations.playbook["segments"]
    labels = [str(x) for x in recommendations.references["tier"]]
    keys = (
        cust["segment_key"]
        if "segment_key" in cust.columns
        else pd.Series(None, index=cust.index, dtype="object")
    )
    names, plan_keys = [], []
    for key, raw in zip(keys, cust["segment"]):
        known = isinstance(key, str) and key in book
        names.append(
            pick(book[key]["name"], language)
            if known
            else (t("strategy.not_available", language) if is_missing(raw) else str(raw))
        )
        plan_keys.append(key if known else None)
    frame = pd.DataFrame({"name": names, "key": plan_keys, "tier": cust["tier"].astype(str)})
    counts = pd.crosstab(frame["name"], pd.Categorical(frame["tier"], categories=labels))
    counts = counts.reindex(columns=labels, fill_value=0)
    key_of = frame.drop_duplicates("name").set_index("name")["key"]
    order = sorted(counts.index, key=lambda n: (-int(counts.loc[n].sum()), n))
    classes = tier_css_classes(labels)
    head = [
        f"<th>{html.escape(t('strategy.col_segment', language))}</th>",
        f'<th class="num">{html.escape(t("strategy.customers", language))}</th>',
    ]
    head += [
        f'<th class="num"><span class="tier-badge {classes[lab]}">{html.escape(lab)}</span></th>'
        for lab in labels
    ]
    head += [
        f"<th>{html.escape(t('strategy.goal', language))}</th>",
        f"<th>{html.escape(t('strategy.segment_focus', language))}</th>",
    ]
    rows = []
    for name in order:
        key = key_of[name]
        known = isinstance(key, str)
        cells = [
            f"<td>{html.escape(name)}</td>",
            f'<td class="num">{int(counts.loc[name].sum()):,}</td>',
        ]
        cells += [f'<td class="num">{int(counts.loc[name, lab]):,}</td>' for lab in labels]
        cells += [
            f"<td>{html.escape(pick(book[key]['goal'], language)) if known else ''}</td>",
            f"<td>{html.escape(pick(book[key]['actions'][0], language)) if known else ''}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = html.escape(t("strategy.segments_caption", language))
    return (
        f'<table class="data segments"><caption>{caption}</caption>'
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def dormant_note_html(*, language: str, playbook: dict | None = None) -> str:
    """HTML note on dormant and at-risk customers: ``<div class="strategy-note dormant">``."""
    plan = dormant_strategy(language=language, playbook=playbook)
    esc = html.escape
    return "\n".join(
        [
            f'<div class="strategy-note dormant" lang="{locale.get(language).html_lang}">',
            f"<h3>{esc(plan['name'])}{esc(t('strategy.title_separator', language))}"
            f'<span class="card-goal">{esc(plan["goal"])}</span></h3>',
            f'<p class="card-headline">{esc(plan["note"])}</p>',
            '<dl class="card-details">',
            f"<dt>{esc(t('strategy.dormant_trigger', language))}</dt>"
            f'<dd class="trigger">{esc(plan["trigger"])}</dd>',
            f"<dt>{esc(t('strategy.dormant_actions', language))}</dt>"
            f'<dd class="actions">{_ul(plan["actions"], "card-list actions")}</dd>',
            f"<dt>{esc(t('strategy.kpis', language))}</dt>"
            f'<dd class="kpis">{_ul(plan["kpis"], "card-list kpis")}</dd>',
            "</dl>",
            "</div>",
        ]
    )
