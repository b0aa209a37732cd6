"""The report section with the strategy per tier: budget, then one card per tier.

``section_strategy(analysis)`` uses ``analysis.recommendations`` (a
:class:`tiering.analysis.strategy.Recommendations`) when the pipeline stored it, and computes
it from the analysis otherwise (the computation is fast and deterministic).
"""

from __future__ import annotations

from tiering.analysis import strategy
from tiering.present.i18n import t
from tiering.present.htmlkit import badge, esc, heading, table
from tiering.style import tier_css_classes


def recommendations_of(a) -> strategy.Recommendations:
    """The analysis' recommendations: stored by the pipeline, or computed now."""
    recs = getattr(a, "recommendations", None)
    if isinstance(recs, strategy.Recommendations):
        return recs
    return strategy.recommend(a.tiers, a.tier_summary, spec=a.params.strategy,
                              currency=a.params.currency)


def _budget_table(recs: strategy.Recommendations, language: str) -> str:
    budget = recs.budget
    classes = tier_css_classes([str(x) for x in budget["tier"]])
    has_amount = recs.rule.amount is not None
    has_costs = bool(recs.rule.cost_to_serve) and has_amount
    fmt_share = lambda v: strategy._fmt_share(v, language)
    fmt_money = lambda v: strategy._fmt_money(v, recs.currency, language)
    headers = [t("strategy.col_tier", language), t("strategy.customers", language),
               t("strategy.col_revenue_share", language),
               t("strategy.col_growth_share", language),
               t("strategy.col_risk_share", language)]
    if has_costs:
        headers.append(t("strategy.col_base_cost", language))
    headers.append(t("strategy.col_budget_share", language))
    if has_amount:
        headers.append(t("strategy.col_budget_amount", language))
    rows = []
    for rec in budget.to_dict("records"):
        row = [badge(str(rec["tier"]), classes), f"{int(rec['customers']):,}",
               fmt_share(rec["revenue_share"]), fmt_share(rec["growth_share"]),
               fmt_share(rec["risk_share"])]
        if has_costs:
            row.append(fmt_money(rec["base_cost"]))
        row.append(fmt_share(rec["share"]))
        if has_amount:
            row.append(fmt_money(rec["amount"]))
        rows.append(row)
    total = [t("strategy.total", language), f"{int(budget['customers'].sum()):,}", "100%",
             "100%" if budget["growth_potential"].sum() > 0 else "–",
             "100%" if budget["revenue_at_risk"].sum() > 0 else "–"]
    if has_costs:
        total.append(fmt_money(budget["base_cost"].sum()))
    total.append("100%")
    if has_amount:
        total.append(fmt_money(recs.rule.amount))
    rows.append(total)
    return table(headers, rows, numeric=range(1, len(headers)), raw=(0,),
                 caption=t("strategy.budget_caption", language))


def _segments(recs: strategy.Recommendations, language: str) -> str:
    body = strategy.segments_html(recs, language=language)
    if not body:
        return ""
    # heading right before the table: they move to a new page together
    return (f'<h3>{esc(t("strategy.segments_heading", language))}</h3>{body}'
            f'<p>{esc(t("strategy.segments_lead", language))}</p>')


def _note(n: int, language: str) -> str:
    if n == 0:
        return t("strategy.action_lists_note_none", language)
    if n == 1:
        return t("strategy.action_lists_note_one", language)
    return t("strategy.action_lists_note", language, n=f"{n:,}")


def section_strategy(a) -> str:
    """What to do for each tier: budget split and its rule, one card per tier (its
    numbers, goal, the actions the data calls for, the playbook, budget share, KPIs),
    the dormant/at-risk note and where the action lists are. Fully in
    ``a.params.language``."""
    lang = a.params.language
    recs = recommendations_of(a)
    rule = "".join(f"<li>{esc(s)}</li>" for s in strategy.budget_rule_text(recs.rule,
                                                                          language=lang))
    if recs.rule.amount is None:
        budget_lead = t("strategy.budget_lead_shares", lang)
    else:
        budget_lead = t("strategy.budget_lead", lang, amount=strategy._fmt_money(
            recs.rule.amount, recs.currency, lang))
    warning = (f'<div class="warning"><p>{esc(t("strategy.costs_exceed_warning", lang))}</p></div>'
               if recs.rule.costs_exceed_budget else "")
    n_findings = len(recs.fired)
    return "".join([
        heading("report.sec_strategy", lang, anchor="strategy"),
        f'<p class="lead">{esc(t("report.strategy_lead", lang))}</p>',
        f'<h3>{esc(t("strategy.budget_heading", lang))}</h3>',
        f"<p>{esc(budget_lead)}</p>",
        warning,
        _budget_table(recs, lang),
        f'<ul class="findings budget-rule">{rule}</ul>',
        f'<div class="note"><p>{esc(_note(n_findings, lang))}</p></div>',
        _segments(recs, lang),
        strategy.strategy_cards_html(a.strategies, language=lang, recommendations=recs),
        strategy.dormant_note_html(language=lang, playbook=recs.playbook),
    ])
