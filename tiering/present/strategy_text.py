"""The strategy in words, in one report language: tables of text, no HTML.

The numbers come from :mod:`tiering.analysis.playbook` (the playbook) and
:mod:`tiering.analysis.strategy` (the triggers that fired, the budget split); this
module turns them into text in ``language``:

- :func:`tier_strategies`: the playbook's plan per tier with a headline of the tier's
  numbers (``strategies.csv``; :func:`strategies_of` for an analysis);
- :func:`dormant_strategy`: the win-back plan for dormant and at-risk customers;
- :func:`findings`: one sentence per fired trigger and tier, citing its numbers;
- :func:`action_table`: the signals and the recommended action of every customer;
- :func:`budget_rule_text`: the rule the budget was split by.

The HTML of the report section is in :mod:`tiering.present.strategy`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from tiering import locale
from tiering.analysis.playbook import (
    DORMANT_LIST_FIELDS,
    DORMANT_TEXT_FIELDS,
    LIST_FIELDS,
    ROLE_FIELDS,
    ROLES,
    playbook_or_default,
    tier_roles,
)
from tiering.analysis.strategy import BUDGET_COMPONENTS, BudgetRule, Recommendations, is_missing
from tiering.errors import require
from tiering.present.i18n import pick, t

__all__ = [
    "STRATEGY_COLUMNS",
    "tier_strategies",
    "strategies_of",
    "dormant_strategy",
    "findings",
    "action_table",
    "budget_rule_text",
    "share_text",
    "money_text",
]
#: Columns of :func:`tier_strategies`, in order.
STRATEGY_COLUMNS: tuple[str, ...] = ("tier", "tier_rank", "role", *ROLE_FIELDS, "headline")

_SUMMARY_COLUMNS: tuple[str, ...] = (
    "tier",
    "tier_rank",
    "customers",
    "customer_share",
    "revenue_share",
    "monetary_median",
    "recency_median",
)

#: pandas' text dtype ("str"): Arrow strings, NaN for missing values.
_STR = pd.StringDtype("pyarrow", na_value=np.nan)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _check_language(language: str) -> None:
    locale.get(language, where="language")


def share_text(value: object, language: str) -> str:
    """A share as a percentage with one decimal (``71.2%``, ``<0.1%``); a missing
    value as the catalogue's "not available"."""
    if is_missing(value):
        return t("strategy.not_available", language)
    pct = float(value) * 100
    if 0 < pct < 0.05:
        return "<0.1%"
    return f"{pct:.1f}%"


def money_text(value: object, currency: str, language: str) -> str:
    """An amount with its currency (``¥8,420``; two decimals below 100 unless whole),
    rounded half-up as people round money; a missing or infinite value as the
    catalogue's "not available"."""
    if is_missing(value):
        return t("strategy.not_available", language)
    amount = float(value)
    if not math.isfinite(amount):
        return t("strategy.not_available", language)
    decimals = 0 if abs(amount) >= 100 or amount == int(amount) else 2
    # half-up, as people round money (Python's format rounds 1234.5 to 1,234)
    exact = Decimal(repr(abs(amount)))
    shown = exact.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    if shown >= 100 and decimals:  # 99.995 rounds up to a whole amount
        decimals, shown = 0, exact.quantize(Decimal(1), ROUND_HALF_UP)
    sign = "-" if amount < 0 and shown > 0 else ""
    return f"{sign}{currency}{shown:,.{decimals}f}"


def _fmt_days(value: object, language: str) -> str:
    if is_missing(value):
        return t("strategy.not_available", language)
    days = float(value)
    if not math.isfinite(days):
        return t("strategy.not_available", language)
    n = f"{days:,.0f}" if days == round(days) else f"{days:,.1f}"
    return t("strategy.day_one" if days == 1 else "strategy.days", language, n=n)


def _headline(row: Mapping, *, language: str, currency: str) -> str:
    customers = row["customers"]
    count = 0 if is_missing(customers) else int(customers)
    if count == 0:
        return t("strategy.headline_empty", language)
    return t(
        "strategy.headline_one" if count == 1 else "strategy.headline",
        language,
        customers=f"{count:,}",
        customer_share=share_text(row["customer_share"], language),
        revenue_share=share_text(row["revenue_share"], language),
        monetary=money_text(row["monetary_median"], currency, language),
        recency=_fmt_days(row["recency_median"], language),
    )


# The money fields a tier's playbook texts may use (see tiering/playbook/default.yaml).
MONEY_FIELDS = ("currency", "order_value", "coupon_threshold", "coupon_value")
_FIELD = re.compile(r"\{(" + "|".join(MONEY_FIELDS) + r")\}")


def nice_threshold(value: float) -> float:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value`` (at least 1)."""
    if not math.isfinite(value) or value <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return float(step * power)
    return 10 * power


def money_fields(row: Mapping, *, currency: str, language: str) -> dict[str, str]:
    """The values of :data:`MONEY_FIELDS` for one tier (``aov_median``: its median order
    value): the coupon threshold is the round amount above 1.2 times the median order,
    so the offer asks for a slightly larger basket than the tier's usual one. Without
    an order value the example is 200 and 20 in ``currency``."""
    aov = row.get("aov_median")
    usual = float(aov) if not is_missing(aov) and math.isfinite(float(aov)) else None
    threshold = nice_threshold(usual * 1.2) if usual and usual > 0 else 200.0
    return {
        "currency": currency,
        "order_value": money_text(usual, currency, language),
        "coupon_threshold": money_text(threshold, currency, language),
        "coupon_value": money_text(threshold / 10, currency, language),
    }


def fill_money(text: str, fields: Mapping[str, str]) -> str:
    """``text`` with the :data:`MONEY_FIELDS` replaced; every other brace kept."""
    return _FIELD.sub(lambda m: fields[m.group(1)], text)


def tier_strategies(
    tier_summary: pd.DataFrame, *, language: str, playbook: dict | None = None, currency: str = "¥"
) -> pd.DataFrame:
    """One strategy row per tier, best tier first, in ``language``.

    ``tier_summary`` has one row per tier with at least the columns ``tier``,
    ``tier_rank`` (1 = best), ``customers``, ``customer_share`` (0-1),
    ``revenue_share`` (0-1), ``monetary_median`` and ``recency_median`` (days).
    ``playbook`` is the result of :func:`tiering.analysis.playbook.load_playbook`
    (default: the built-in one).

    Returns columns:

    - ``tier`` (str), ``tier_rank`` (int), ``role`` (top / upper / middle / bottom)
    - ``goal``, ``service_level``, ``contact_cadence``: text
    - ``actions``, ``channels``, ``offers``, ``kpis``: Python lists of text
    - ``headline``: one sentence with the tier's numbers (display-rounded), e.g.
      "312 customers (10.4%) bring 71.2% of revenue; median net spend ¥8,420, last
      purchase a median 23 days ago."
    """
    _check_language(language)
    require(
        isinstance(tier_summary, pd.DataFrame),
        "tier_summary must be a pandas DataFrame",
        where="tier_strategies(tier_summary)",
    )
    missing = [c for c in _SUMMARY_COLUMNS if c not in tier_summary.columns]
    require(
        not missing,
        f"tier_summary lacks the column(s): {', '.join(missing)}",
        where="tier_strategies(tier_summary)",
        hint="pass the tier summary table (one row per tier)",
    )
    require(
        len(tier_summary) >= 2,
        f"tier_summary needs at least 2 tiers, has {len(tier_summary)}",
        where="tier_strategies(tier_summary)",
    )
    require(
        not tier_summary["tier_rank"].isna().any() and tier_summary["tier_rank"].is_unique,
        "tier_rank must be set and unique (1 = best tier)",
        where="tier_strategies(tier_summary['tier_rank'])",
    )
    book = playbook_or_default(playbook)

    ordered = tier_summary.sort_values("tier_rank", kind="stable")
    roles = tier_roles([str(label) for label in ordered["tier"]])
    rows = []
    for rec in ordered.to_dict("records"):
        label = str(rec["tier"])
        role = roles[label]
        plan = book[role]
        row: dict = {"tier": label, "tier_rank": int(rec["tier_rank"]), "role": role}
        money = money_fields(rec, currency=currency, language=language)
        for field in ROLE_FIELDS:
            value = plan[field]
            row[field] = (
                [fill_money(pick(item, language), money) for item in value]
                if field in LIST_FIELDS
                else fill_money(pick(value, language), money)
            )
        row["headline"] = _headline(rec, language=language, currency=currency)
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(STRATEGY_COLUMNS))
    out["tier_rank"] = out["tier_rank"].astype("int64")
    return out


def dormant_strategy(*, language: str, playbook: dict | None = None) -> dict:
    """The win-back plan for dormant and at-risk customers, in ``language``.

    Keys ``name``, ``goal``, ``trigger``, ``note`` (text) and ``actions``, ``kpis``
    (lists of text). ``playbook`` as for :func:`tier_strategies`.
    """
    _check_language(language)
    plan = playbook_or_default(playbook)["dormant"]
    out: dict = {f: pick(plan[f], language) for f in DORMANT_TEXT_FIELDS}
    out.update({f: [pick(item, language) for item in plan[f]] for f in DORMANT_LIST_FIELDS})
    return out


def strategies_of(a) -> pd.DataFrame:
    """:func:`tier_strategies` of an analysis (``Analysis``: its tier summary, playbook,
    report language and currency): the table written as ``strategies.csv``."""
    return tier_strategies(
        a.tier_summary, language=a.params.language, playbook=a.playbook, currency=a.params.currency
    )


# ---------------------------------------------------------------------------------
# Findings, actions and the budget rule: the recommendations in words


def _fmt_number(value: object, language: str) -> str:
    if is_missing(value) or not math.isfinite(float(value)):
        return t("strategy.not_available", language)
    x = float(value)
    return f"{x:,.0f}" if x == round(x) else f"{x:,.1f}"


def _fmt_percent(value: object, language: str) -> str:
    """A share as a percentage without a useless ``.0`` (0.4 → 40%, 0.125 → 12.5%)."""
    if is_missing(value):
        return t("strategy.not_available", language)
    pct = float(value) * 100
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 1e-9 else share_text(value, language)


def _fmt_param(name: str, value: object, *, language: str, currency: str) -> str:
    if name.endswith("_share"):
        return _fmt_percent(value, language)
    if name.endswith("_days"):
        return _fmt_days(value, language)
    if name.endswith("_factor"):
        return t("strategy.times", language, x=_fmt_number(value, language))
    if name.endswith("_amount"):
        return money_text(value, currency, language)
    return _fmt_number(value, language)


def _group(label: object, language: str, *, one: bool = False) -> str:
    """ "A-tier customers" / "A级客户" (``one``: "A-tier customer")."""
    if is_missing(label):
        return t("strategy.not_available", language)
    label = str(label)
    key = "strategy.group_one" if one else "strategy.group"
    return t(f"{key}_cjk" if _CJK.search(label) else key, language, tier=label)


def _finding_fields(
    rec: Mapping, ref: Mapping, params: Mapping, *, language: str, currency: str
) -> dict[str, str]:
    def money(v):
        return money_text(v, currency, language)

    def days(v):
        return _fmt_days(v, language)

    fields = {
        "group": _group(rec["tier"], language),
        "tier": str(rec["tier"]),
        "group_one": _group(rec["tier"], language, one=True),
        "customers": f"{int(rec['customers']):,}",
        "share": share_text(rec["customer_share"], language),
        "revenue": money(rec["revenue"]),
        "revenue_share": share_text(rec["revenue_share"], language),
        "recency": days(rec["recency_median"]),
        "usual_gap": days(rec["usual_gap_median"]),
        "frequency": _fmt_number(rec["frequency_median"], language),
        "aov": money(rec["aov_median"]),
        "monetary": money(rec["monetary_median"]),
        "return_share": share_text(rec["return_share_median"], language),
        "tier_customers": f"{int(ref['tier_customers']):,}",
        "tier_recency": days(ref["tier_median_recency_days"]),
        "tier_usual_gap": days(ref["tier_median_usual_gap_days"]),
        "tier_frequency": _fmt_number(ref["tier_median_frequency"], language),
        "tier_aov": money(ref["tier_median_aov"]),
        "tier_monetary": money(ref["tier_median_monetary"]),
        "tier_one_time_share": share_text(ref["tier_one_time_share"], language),
        "next_tier": ("" if is_missing(ref["next_tier"]) else str(ref["next_tier"])),
        "next_group": _group(ref["next_tier"], language),
        "next_tier_min_monetary": money(ref["next_tier_min_monetary"]),
    }
    fields.update(
        {
            name: _fmt_param(name, value, language=language, currency=currency)
            for name, value in params.items()
        }
    )
    return fields


def budget_rule_text(rule: BudgetRule, *, language: str) -> list[str]:
    """The budget rule in plain words, one sentence per item, in ``language``."""
    _check_language(language)
    weights = dict(rule.weights)
    parts = []
    if rule.equal_split:
        parts.append(t("strategy.rule_equal", language))
        if weights.get("uplift", 0) > 0:  # asked for, but not measured: say why
            parts.append(_left_out_uplift(rule, language))
    else:
        total = sum(weights[c] for c in rule.used)
        terms = [
            t(
                f"strategy.rule_term_{c}",
                language,
                weight=_fmt_percent(weights[c] / total, language),
            )
            for c in rule.used
        ]
        parts.append(
            t(
                "strategy.rule_weights",
                language,
                terms=t("strategy.rule_join", language).join(terms),
            )
        )
        for comp in rule.used:
            if comp == "growth":
                parts.append(t("strategy.rule_growth", language))
            elif comp == "risk":
                parts.append(
                    t(
                        "strategy.rule_risk",
                        language,
                        factor=_fmt_number(rule.at_risk_factor, language),
                        base_gap=_fmt_days(rule.base_gap_days, language),
                    )
                )
            elif comp == "uplift":
                parts.append(_uplift_rule(rule, language))
        left_out = [c for c in BUDGET_COMPONENTS if c not in rule.used and weights.get(c, 0) > 0]
        for comp in left_out:
            if comp == "uplift":
                parts.append(_left_out_uplift(rule, language))
                continue
            no_gap = comp == "risk" and math.isnan(rule.base_gap_days)
            parts.append(
                t(
                    "strategy.rule_left_out_risk_no_gap"
                    if no_gap
                    else f"strategy.rule_left_out_{comp}",
                    language,
                )
            )
    if getattr(rule, "revenue_basis", "revenue") == "expected_value" and "revenue" in rule.used:
        parts.append(t("value.budget_expected_value", language))
    if rule.cost_to_serve and rule.amount is not None:
        parts.append(
            t(
                "strategy.rule_costs_exceed" if rule.costs_exceed_budget else "strategy.rule_costs",
                language,
            )
        )
    elif rule.cost_to_serve:
        parts.append(t("strategy.rule_costs_no_budget", language))
    if rule.amount is None:
        parts.append(t("strategy.rule_no_budget", language))
    return parts


def _left_out_uplift(rule: BudgetRule, language: str) -> str:
    """Why the measured uplift was not weighed."""
    reason = rule.uplift_reason or "none_positive"
    return t(f"strategy.rule_left_out_uplift_{reason}", language, campaign=rule.uplift_campaign)


def _uplift_rule(rule: BudgetRule, language: str) -> str:
    """The sentence that says what the measured uplift is and where it comes from."""
    return t(
        f"strategy.rule_uplift_{rule.uplift_outcome or 'revenue'}",
        language,
        campaign=rule.uplift_campaign,
    )


def findings(recs: Recommendations, *, language: str) -> pd.DataFrame:
    """The fired triggers of ``recs`` in words: one row per trigger and tier, best
    tier first, then by priority.

    Columns ``trigger_id``, ``tier``, ``tier_rank``, ``priority``, ``customers``,
    ``revenue``, ``name``, ``finding`` (the sentence with the numbers that fired
    it) and ``action``, texts in ``language``.
    """
    _check_language(language)
    refs = recs.references.set_index("tier")
    rows = []
    fired = recs.fired.sort_values(["tier_rank", "priority", "trigger_id"], kind="stable")
    for rec in fired.to_dict("records"):
        trig = recs.playbook["triggers"][rec["trigger_id"]]
        fields = _finding_fields(
            rec, refs.loc[rec["tier"]], trig["params"], language=language, currency=recs.currency
        )
        rows.append(
            {
                "trigger_id": rec["trigger_id"],
                "tier": rec["tier"],
                "tier_rank": int(rec["tier_rank"]),
                "priority": int(rec["priority"]),
                "customers": int(rec["customers"]),
                "revenue": float(rec["revenue"]),
                "name": pick(trig["name"], language).format_map(fields),
                "finding": pick(
                    trig["finding_one"]
                    if rec["customers"] == 1 and trig["finding_one"]
                    else trig["finding"],
                    language,
                ).format_map(fields),
                "action": pick(trig["action"], language).format_map(fields),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "trigger_id",
            "tier",
            "tier_rank",
            "priority",
            "customers",
            "revenue",
            "name",
            "finding",
            "action",
        ],
    )


def action_table(recs: Recommendations, *, language: str) -> pd.DataFrame:
    """Per customer (rows of ``recs.customers``, same order): ``customer_id``,
    ``signals`` (names of the triggers that caught the customer, ``"; "``-joined)
    and ``recommended_action``: the action of the customer's best-priority trigger,
    else the first action of the customer's segment, else of the tier's role."""
    _check_language(language)
    book = recs.playbook
    # trigger texts may use the tier's fields: take them as filled in per tier
    found = findings(recs, language=language)
    by_tier = {(r.trigger_id, r.tier): (r.name, r.action) for r in found.itertuples()}
    role_action = {role: pick(book[role]["actions"][0], language) for role in ROLES}
    segment_action = {
        key: pick(body["actions"][0], language) for key, body in book["segments"].items()
    }
    cust = recs.customers
    n = len(cust)
    segments = (
        cust["segment_key"] if "segment_key" in cust.columns else pd.Series(None, index=cust.index)
    )
    # few distinct combinations, many customers: each combination's texts are made once,
    # then spread by Arrow (no Python object per customer; 1M customers: 1.1 -> 0.5 CPU-s)
    columns = [cust["triggers"].astype(str), cust["tier"].astype(str), segments, cust["role"]]
    combination = np.zeros(n, dtype=np.int64)
    parts, values = [], []
    for column in columns:
        part, uniques = pd.factorize(column, use_na_sentinel=False)
        combination = pd.factorize(combination * len(uniques) + part)[0]
        parts.append(part)
        values.append(uniques)
    first = np.zeros(combination.max() + 1 if n else 0, dtype=np.int64)
    first[combination[::-1]] = np.arange(n - 1, -1, -1)  # the first row of each
    texts = [
        _action_of(
            tuple(u[p[i]] for u, p in zip(values, parts)), by_tier, segment_action, role_action
        )
        for i in first
    ]
    ids = cust["customer_id"]
    return pd.DataFrame(
        {
            "customer_id": ids.array if n and ids.dtype == _STR else ids.to_numpy(),
            "signals": _spread([s for s, _ in texts], combination),
            "recommended_action": _spread([a for _, a in texts], combination),
        }
    )


def _spread(texts: list[str], codes: np.ndarray):
    """``texts[code]`` for each code, as pandas text."""
    if not len(codes):
        return []
    import pyarrow as pa

    return pd.Series(pa.array(texts, type=pa.string()).take(pa.array(codes)), dtype=_STR).array


def _action_of(
    key: tuple, by_tier: dict, segment_action: dict, role_action: dict
) -> tuple[str, str]:
    triggers, tier, segment, role = key
    ids = [x for x in triggers.split(";") if x]
    texts = [by_tier[(tid, tier)] for tid in ids]  # a trigger marks only where it fired
    signal = "; ".join(name for name, _ in texts)
    if texts:
        return signal, texts[0][1]
    if not is_missing(segment) and segment in segment_action:
        return signal, segment_action[segment]
    return signal, role_action[role]
