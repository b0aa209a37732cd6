"""What to do for each tier: triggers on the client's numbers and the budget split.

The playbook (:mod:`tiering.analysis.playbook`: what each tier ROLE gets, the RFM
segments and the triggers, read, checked and normalised there) is applied to one
analysis here. :func:`trigger_frame` adds to the tier table the per-customer values a
trigger condition can name (:data:`~tiering.analysis.playbook.DERIVED_COLUMNS`);
:func:`recommend` evaluates the triggers, marks the customers each one catches and
splits the budget across tiers (:func:`allocate_budget`).

This module computes and writes no text. The texts in a report language (the
playbook's plan per tier, the findings of fired triggers with their numbers, the
recommended action per customer, the budget rule) and the HTML are made from its
tables in the present layer (``present/strategy_text.py``, ``present/strategy.py``),
the action-list workbook in the build layer (``build/action_lists.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tiering.analysis import campaigns as _campaigns
from tiering.analysis.playbook import (
    NAME_RE,
    REFERENCE_COLUMNS,
    TIER_INPUT_COLUMNS,
    load_playbook,
    playbook_or_default,
    tier_roles,
)
from tiering.analysis.value import VALUE_SIGNAL_COLUMNS, value_signals
from tiering.errors import require
from tiering.expr import ExpressionError, parse
from tiering.params import StrategySpec

__all__ = [
    "CUSTOMER_COLUMNS",
    "FIRED_COLUMNS",
    "BUDGET_COLUMNS",
    "BUDGET_COMPONENTS",
    "UPLIFT_BUDGET_COLUMNS",
    "VALUE_SIGNAL_COLUMNS",
    "value_signals",
    "is_missing",
    "segment_lookup",
    "trigger_frame",
    "allocate_budget",
    "recommend",
    "BudgetRule",
    "Recommendations",
]


def is_missing(value: object) -> bool:
    """True for a missing value (None, NaN, NaT, ``pd.NA``); False for any other value,
    including those ``pd.isna`` cannot judge as one (lists, mappings)."""
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------
# Per-customer values, triggers, budget: the recommendations of one analysis

# the metrics whose per-tier and overall medians are references, with their column names
_MEDIANS: tuple[tuple[str, str, str], ...] = (
    ("monetary", "tier_median_monetary", "all_median_monetary"),
    ("frequency", "tier_median_frequency", "all_median_frequency"),
    ("aov", "tier_median_aov", "all_median_aov"),
    ("recency_days", "tier_median_recency_days", "all_median_recency_days"),
    ("tenure_days", "tier_median_tenure_days", "all_median_tenure_days"),
    ("usual_gap_days", "tier_median_usual_gap_days", "all_median_usual_gap_days"),
)

#: Columns of ``Recommendations.customers``, in order (``segment`` only when the tiers have it).
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "tier",
    "tier_rank",
    "role",
    "segment",
    "segment_key",
    "usual_gap_days",
    "expected_gap_days",
    "at_risk",
    "return_share",
    "triggers",
    "priority",
)
#: Columns of ``Recommendations.fired``: one row per trigger and tier it fired in.
FIRED_COLUMNS: tuple[str, ...] = (
    "trigger_id",
    "tier",
    "tier_rank",
    "role",
    "priority",
    "customers",
    "tier_customers",
    "customer_share",
    "revenue",
    "tier_revenue",
    "revenue_share",
    "recency_median",
    "usual_gap_median",
    "frequency_median",
    "aov_median",
    "monetary_median",
    "return_share_median",
)
#: Columns of ``Recommendations.budget``: one row per tier, best first.
BUDGET_COLUMNS: tuple[str, ...] = (
    "tier",
    "tier_rank",
    "role",
    "customers",
    "revenue",
    "revenue_share",
    "growth_potential",
    "growth_share",
    "revenue_at_risk",
    "risk_share",
    "weight",
    "base_cost",
    "amount",
    "share",
)
BUDGET_COMPONENTS: tuple[str, ...] = ("revenue", "growth", "risk", "uplift")
#: Columns added to ``Recommendations.budget`` when the budget weighs the measured
#: uplift (``strategy.budget_weights.uplift`` > 0): see :func:`allocate_budget`.
UPLIFT_BUDGET_COLUMNS: tuple[str, ...] = tuple(
    "uplift_per_customer uplift_low uplift_high uplift_source uplift_value uplift_share".split()
)
_COMPONENT_SHARE = {c: f"{c}_share" for c in BUDGET_COMPONENTS}


def _segment_key(text: object) -> str:
    """Normalise a segment key or name: ``"Can't lose them"`` → ``cant_lose_them``."""
    s = str(text).casefold().replace("'", "").replace("\u2019", "")
    return re.sub(r"[\W_]+", "_", s).strip("_")


def segment_lookup(playbook: Mapping | None = None) -> dict[str, str]:
    """Map segment keys and names (either language, normalised) to the playbook's keys."""
    book = playbook_or_default(playbook)
    out: dict[str, str] = {}
    for key, body in book["segments"].items():
        for name in (key, *body["name"].values()):
            out.setdefault(_segment_key(name), key)
    return out


def _ordered_labels(tiers: pd.DataFrame) -> list[str]:
    if isinstance(tiers["tier"].dtype, pd.CategoricalDtype):
        return [str(c) for c in tiers["tier"].cat.categories]
    ranks = tiers[["tier", "tier_rank"]].drop_duplicates().sort_values("tier_rank", kind="stable")
    return [str(label) for label in ranks["tier"]]


def trigger_frame(
    tiers: pd.DataFrame,
    *,
    at_risk_factor: float = 2.0,
    labels: Sequence[str] | None = None,
    playbook: Mapping | None = None,
) -> pd.DataFrame:
    """The tier table with the per-customer values triggers and the budget use.

    ``tiers`` is ``Analysis.tiers`` (one row per customer). ``labels`` are the tier
    labels best first (default: the categories of ``tiers['tier']``). Returns the same
    rows in the same order, ``tier`` as text, plus
    (:data:`~tiering.analysis.playbook.DERIVED_COLUMNS`):

    - ``role``: the tier's playbook role (:func:`~tiering.analysis.playbook.tier_roles`);
    - ``segment_key``: the playbook key of the RFM ``segment`` (only when ``tiers`` has
      a ``segment`` column; missing for segments the playbook does not know);
    - ``usual_gap_days``: mean days between the first and the last order,
      ``(tenure_days - recency_days) / (frequency - 1)``; missing for customers with
      one order or all orders on one day;
    - ``expected_gap_days``: ``usual_gap_days``, or where missing the median usual gap
      of all customers (``all_median_usual_gap_days``);
    - ``at_risk`` (bool): ``recency_days > at_risk_factor * expected_gap_days``;
    - ``return_share``: ``returns_value / gross_revenue`` (missing without purchases);
    - per tier (:data:`~tiering.analysis.playbook.REFERENCE_COLUMNS`): customers, net
      revenue, share of one-order customers, share and count of at-risk customers and
      their net spend (negative spend counts as 0), medians of monetary, frequency,
      aov, recency_days, tenure_days and usual_gap_days, and the label, lowest and median spend of the
      nearest non-empty tier above (missing for the top tier);
    - for all customers (:data:`~tiering.analysis.playbook.BASE_COLUMNS`): the same
      medians.
    """
    return _trigger_frame(tiers, at_risk_factor=at_risk_factor, labels=labels, playbook=playbook)[0]


def _trigger_frame(
    tiers: pd.DataFrame,
    *,
    at_risk_factor: float,
    labels: Sequence[str] | None,
    playbook: Mapping | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    require(
        isinstance(tiers, pd.DataFrame),
        "tiers must be a pandas DataFrame",
        where="trigger_frame(tiers)",
    )
    missing = [c for c in TIER_INPUT_COLUMNS if c not in tiers.columns]
    require(
        not missing,
        f"tiers lacks the column(s): {', '.join(missing)}",
        where="trigger_frame(tiers)",
        hint="pass Analysis.tiers (one row per customer)",
    )
    require(
        at_risk_factor > 0,
        f"at_risk_factor must be positive, got {at_risk_factor!r}",
        where="strategy.at_risk_factor",
        hint="e.g. 2 (twice the usual gap)",
    )
    labels = [str(x) for x in (labels if labels is not None else _ordered_labels(tiers))]
    roles = tier_roles(labels)
    frame = tiers.reset_index(drop=True)  # a new frame: new columns leave ``tiers`` alone
    require(
        not frame["tier"].isna().any(),
        f"{int(frame['tier'].isna().sum()):,} customer(s) have no tier",
        where="trigger_frame(tiers['tier'])",
        hint="give every customer a tier",
    )
    frame["tier"] = frame["tier"].map(str).astype("object")
    position = pd.Categorical(frame["tier"], categories=labels).codes  # -1: not a label
    unknown = sorted(set(frame["tier"][position < 0]))
    require(
        not unknown,
        f"tiers has tier labels not in the tier list: {', '.join(unknown)}",
        where="trigger_frame(tiers['tier'])",
        hint="pass the labels of the tiering",
    )
    frame["role"] = pd.Series([roles[x] for x in labels]).take(position).set_axis(frame.index)
    if "segment" in frame.columns:
        lookup = segment_lookup(playbook)
        frame["segment_key"] = frame["segment"].map(
            lambda s: None if is_missing(s) else lookup.get(_segment_key(s))
        )
    freq = frame["frequency"].astype("float64")
    span = (frame["tenure_days"] - frame["recency_days"]).astype("float64")
    frame["usual_gap_days"] = (span / (freq - 1)).where((freq >= 2) & (span > 0))
    base_gap = frame["usual_gap_days"].median()
    frame["expected_gap_days"] = frame["usual_gap_days"].fillna(base_gap)
    frame["at_risk"] = (
        (frame["recency_days"] > at_risk_factor * frame["expected_gap_days"])
        .fillna(False)
        .astype(bool)
    )
    gross = frame["gross_revenue"].astype("float64")
    frame["return_share"] = (frame["returns_value"] / gross).where(gross > 0)

    refs = _references(frame, labels, roles)
    for col in REFERENCE_COLUMNS:  # on each row, its tier's (a left merge on the tier)
        frame[col] = refs[col].take(position).set_axis(frame.index)  # keeps the dtype
    for metric, _, overall in _MEDIANS:
        frame[overall] = frame[metric].median()
    return frame, refs


def _references(frame: pd.DataFrame, labels: list[str], roles: Mapping[str, str]) -> pd.DataFrame:
    tier = pd.Categorical(frame["tier"], categories=labels, ordered=True)
    g = frame.groupby(tier, observed=False, sort=True)
    risk_spend = frame["monetary"].clip(lower=0).where(frame["at_risk"], 0.0)
    refs = pd.DataFrame(
        {
            "tier_customers": g.size(),
            "tier_revenue": g["monetary"].sum().round(6),
            "tier_one_time_share": (frame["frequency"] == 1).groupby(tier, observed=False).mean(),
            "tier_at_risk_share": frame["at_risk"]
            .astype(float)
            .groupby(tier, observed=False)
            .mean(),
            "tier_at_risk_customers": frame["at_risk"]
            .astype(int)
            .groupby(tier, observed=False)
            .sum(),
            "tier_revenue_at_risk": risk_spend.groupby(tier, observed=False).sum().round(6),
        }
    )
    for metric, column, _ in _MEDIANS:
        refs[column] = g[metric].median()
    refs.index = pd.Index([str(x) for x in refs.index], name="tier")
    refs = refs.reset_index()
    refs.insert(1, "tier_rank", range(1, len(refs) + 1))
    refs.insert(2, "role", refs["tier"].map(roles))
    refs["tier_customers"] = refs["tier_customers"].astype("int64")
    refs["tier_at_risk_customers"] = refs["tier_at_risk_customers"].astype("int64")
    mins = g["monetary"].min()
    by_label = refs.set_index("tier")
    nxt_label, nxt_min, nxt_median = [], [], []
    above: str | None = None
    for label in refs["tier"]:
        nxt_label.append(above)
        nxt_min.append(float(mins[above]) if above is not None else math.nan)
        nxt_median.append(
            float(by_label.at[above, "tier_median_monetary"]) if above is not None else math.nan
        )
        if by_label.at[label, "tier_customers"] > 0:
            above = label
    refs["next_tier"] = pd.Series(nxt_label, dtype="object")
    refs["next_tier_min_monetary"] = pd.Series(nxt_min, dtype="float64")
    refs["next_tier_median_monetary"] = pd.Series(nxt_median, dtype="float64")
    return refs[["tier", "tier_rank", "role", *REFERENCE_COLUMNS]]


@dataclass(frozen=True)
class BudgetRule:
    """The rule the budget was split by (in words: ``budget_rule_text`` in
    ``present/strategy_text.py``).

    ``amount`` is the budget (None: shares only), ``weights`` the weights given
    (``(component, weight)`` for revenue, growth, risk), ``used`` the components that
    counted (a positive weight and a positive total), ``equal_split`` True when none
    did and the budget was split equally across non-empty tiers; ``cost_to_serve`` the
    cost per customer by tier label, ``costs_exceed_budget`` True when the cost to
    serve alone exceeds the budget (then the budget is split in proportion to it);
    ``at_risk_factor`` and ``base_gap_days`` define "at risk" (see :func:`trigger_frame`);
    ``revenue_basis`` is ``revenue`` (the revenue share is of past net revenue) or
    ``expected_value`` (of the expected lifetime value over the value model's horizon).
    ``uplift_campaign``, ``uplift_outcome``: the campaign and outcome whose measured
    uplift the budget weighs (else empty); ``uplift_reason`` why it could not
    (``campaigns.UPLIFT_REASONS``, or ``none_positive``: no tier's uplift is positive).
    """

    amount: float | None
    currency: str
    weights: tuple[tuple[str, float], ...]
    used: tuple[str, ...]
    equal_split: bool
    cost_to_serve: tuple[tuple[str, float], ...]
    costs_exceed_budget: bool
    at_risk_factor: float
    base_gap_days: float
    revenue_basis: str = "revenue"
    uplift_campaign: str = ""
    uplift_outcome: str = ""
    uplift_reason: str = ""


@dataclass(frozen=True, eq=False)
class Recommendations:
    """What the data says to do, per customer and per tier (``Analysis.recommendations``).

    Tables (tidy, one row per ...):

    - ``customers`` (customer): :data:`CUSTOMER_COLUMNS` — ``customer_id``, ``tier``,
      ``tier_rank``, ``role``, ``segment`` and ``segment_key`` (only when the tiers
      have segments), ``usual_gap_days``, ``expected_gap_days``, ``at_risk``,
      ``return_share``, ``triggers`` (the ids of the triggers that caught the
      customer, by priority, joined by ``;``; empty when none) and ``priority``
      (the best priority among them; missing when none).
    - ``fired`` (trigger and tier it fired in): :data:`FIRED_COLUMNS` — the customers
      caught, their share of the tier, their net spend (``revenue``, the revenue at
      stake) and its share of the tier's revenue, and their medians.
    - ``references`` (tier): the per-tier reference values
      (:data:`~tiering.analysis.playbook.REFERENCE_COLUMNS`).
    - ``budget`` (tier): :data:`BUDGET_COLUMNS`, see :func:`allocate_budget`.

    - ``value_signals`` (signal and tier): :data:`VALUE_SIGNAL_COLUMNS`, the customers
      the value model flags ``rescue`` and ``develop`` (:func:`value_signals`); None
      without the value model.

    ``rule`` is the :class:`BudgetRule`; ``playbook`` the normalised playbook used
    (texts of triggers and default actions); ``skipped`` the ids of enabled triggers
    that did not apply (segment triggers without segments). The texts in a language
    are made from these tables in ``present/strategy_text.py`` (``findings``,
    ``action_table``).
    """

    customers: pd.DataFrame
    fired: pd.DataFrame
    references: pd.DataFrame
    budget: pd.DataFrame
    rule: BudgetRule
    playbook: Mapping
    skipped: tuple[str, ...] = ()
    value_signals: pd.DataFrame | None = None

    @property
    def currency(self) -> str:
        return self.rule.currency


def _evaluate_triggers(
    frame: pd.DataFrame, labels: list[str], book: Mapping
) -> tuple[pd.DataFrame, pd.Series, pd.Series, tuple[str, ...]]:
    names = {str(c) for c in frame.columns if isinstance(c, str) and NAME_RE.match(c)}
    position = pd.Categorical(frame["tier"], categories=labels).codes
    in_tiers = [pd.Series(position == i, index=frame.index) for i in range(len(labels))]
    hits: list[tuple[str, np.ndarray]] = []  # (trigger, customers it caught), in order
    best = np.zeros(len(frame), dtype=np.int64)  # priority of the first trigger that caught
    have = np.zeros(len(frame), dtype=bool)  # caught by some trigger
    rows, skipped = [], []
    for tid, trig in book["triggers"].items():
        if not trig["enabled"]:
            continue
        where = f"playbook trigger {tid!r}, field 'when'"
        if trig["segments"] and "segment_key" not in frame.columns:
            skipped.append(tid)
            continue
        params = dict(trig["params"])
        clash = sorted(set(params) & names)
        require(
            not clash,
            f"Trigger {tid!r}: the parameter name(s) {', '.join(clash)} are "
            f"also columns of the data",
            where=f"playbook trigger {tid!r}, field 'params'",
            hint="rename the parameter",
        )
        expression = parse(trig["when"], allowed_names=names | set(params), where=where)
        try:
            mask = expression.mask(frame, values=params)
        except ExpressionError:
            raise
        except (TypeError, ValueError) as exc:
            raise ExpressionError(
                f"Trigger {tid!r} cannot be evaluated: {exc}",
                where=where,
                hint="compare numbers with numbers and text with quoted text",
            ) from None
        if trig["roles"]:
            mask &= frame["role"].isin(trig["roles"])
        if trig["segments"]:
            mask &= frame["segment_key"].isin(trig["segments"])
        hit = np.zeros(len(frame), dtype=bool)
        for rank, label in enumerate(labels, start=1):
            in_tier = in_tiers[rank - 1]
            sel = mask & in_tier
            n = int(sel.sum())
            if n == 0 or n < trig["min_customers"]:
                continue
            tier_n = int(in_tier.sum())
            # sums rounded to 6 decimals, as the features are: no float noise in tables
            revenue = round(float(frame.loc[sel, "monetary"].sum()), 6)
            tier_revenue = round(float(frame.loc[in_tier, "monetary"].sum()), 6)
            part = frame.loc[  # the columns of the medians, not the whole rows
                sel,
                ["recency_days", "usual_gap_days", "frequency", "aov", "monetary", "return_share"],
            ]
            rows.append(
                {
                    "trigger_id": tid,
                    "tier": label,
                    "tier_rank": rank,
                    "role": frame["role"].iloc[int(np.argmax(sel.to_numpy()))],
                    "priority": int(trig["priority"]),
                    "customers": n,
                    "tier_customers": tier_n,
                    "customer_share": n / tier_n,
                    "revenue": revenue,
                    "tier_revenue": tier_revenue,
                    "revenue_share": revenue / tier_revenue if tier_revenue > 0 else math.nan,
                    "recency_median": part["recency_days"].median(),
                    "usual_gap_median": part["usual_gap_days"].median(),
                    "frequency_median": part["frequency"].median(),
                    "aov_median": part["aov"].median(),
                    "monetary_median": part["monetary"].median(),
                    "return_share_median": part["return_share"].median(),
                }
            )
            hit |= sel.to_numpy()
        best[hit & ~have] = int(trig["priority"])
        have |= hit
        hits.append((tid, hit))
    fired = pd.DataFrame(rows, columns=list(FIRED_COLUMNS))
    for col in ("tier_rank", "priority", "customers", "tier_customers"):
        fired[col] = fired[col].astype("int64")
    priority = pd.Series(pd.arrays.IntegerArray(best, ~have), index=frame.index)
    return fired, _joined(frame.index, hits), priority, tuple(skipped)


def _joined(index: pd.Index, hits: list[tuple[str, np.ndarray]]) -> pd.Series:
    """Per customer, the ids of the triggers that caught them (in order) joined by ``;``:
    one text per distinct combination of triggers, not one per customer."""
    bits = np.packbits(np.column_stack([h for _, h in hits] or [np.zeros(len(index), bool)]), 1)
    keys = bits.view(np.dtype((np.void, bits.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    texts = np.array([";".join(t for t, hit in hits if hit[i]) for i in first], dtype=object)
    return pd.Series(texts[inverse.reshape(-1)], index=index, dtype="object")


def allocate_budget(
    frame: pd.DataFrame,
    *,
    labels: Sequence[str],
    budget: float | None = None,
    weights: Mapping[str, float] | None = None,
    cost_to_serve: Mapping[str, float] | None = None,
    currency: str = "¥",
    at_risk_factor: float = 2.0,
    references: pd.DataFrame | None = None,
    expected_value: Mapping[str, float] | None = None,
    uplift: pd.DataFrame | None = None,
    uplift_reason: str = "",
) -> tuple[pd.DataFrame, BudgetRule]:
    """Split a budget across tiers (``frame`` is a :func:`trigger_frame`).

    The rule, per tier:

    - revenue share: the tier's net revenue (negative counts as 0) over all tiers';
    - growth potential: what the tier's customers would add if each spent at least the
      median of the nearest non-empty tier above, ``sum(max(0, median above - monetary))``;
      none for the top tier; growth share: over all tiers' growth potential;
    - revenue at risk: the net spend of its at-risk customers (``at_risk``); risk share:
      over all tiers';
    - measured uplift (only with a positive ``uplift`` weight): the uplift per contacted
      customer measured in a campaign with a control group (``uplift``, the table of
      :func:`tiering.analysis.campaigns.tier_uplift`), times the tier's customers: what
      the tier would add if all of it were reached; a negative uplift counts as 0;
      uplift share: over all tiers';
    - weight = the weighted mean of the shares (``weights``, default revenue 0.5,
      growth 0.25, risk 0.25, uplift 0); a component whose total is 0 is left out and
      the others reweighted; when none is left, non-empty tiers get equal weights.

    With a ``budget``, ``cost_to_serve`` (per customer, by tier label) is set aside first
    (``base_cost = cost × customers``) and the rest split by weight; when the costs alone
    exceed the budget, the budget is split in proportion to them. Without a budget,
    ``amount`` is missing and ``share`` is the weight.

    ``references`` is the per-tier table of the same frame (``Recommendations.references``;
    computed when not given). ``expected_value`` (tier label -> expected lifetime
    value, e.g. ``ValueAnalysis.tiers``' ``clv_total``) replaces past net revenue in the
    revenue share; the table then also has ``expected_value`` and
    ``expected_value_share``. With a positive ``uplift`` weight the table also has
    :data:`UPLIFT_BUDGET_COLUMNS` (``uplift_source``: ``tier``, ``overall``, or empty
    when no uplift was measured: ``uplift_reason`` says why). Returns the table
    (:data:`BUDGET_COLUMNS`, one row per tier, best first) and the :class:`BudgetRule`.
    """
    labels = [str(x) for x in labels]
    given = {"revenue": 0.5, "growth": 0.25, "risk": 0.25, "uplift": 0.0, **dict(weights or {})}
    unknown = sorted(set(given) - set(BUDGET_COMPONENTS))
    require(
        not unknown,
        f"Unknown budget weight(s): {', '.join(unknown)}",
        where="strategy.budget_weights",
        hint="use revenue, growth and risk",
    )
    require(
        all(math.isfinite(w) and w >= 0 for w in given.values()),
        "Budget weights must be zero or more",
        where="strategy.budget_weights",
    )
    costs = {str(k): float(v) for k, v in dict(cost_to_serve or {}).items()}
    bad = sorted(set(costs) - set(labels))
    require(
        not bad,
        f"strategy.cost_to_serve names tier(s) that do not exist: {', '.join(bad)}",
        where="strategy.cost_to_serve",
        hint=f"use the tier labels: {', '.join(labels)}",
    )
    require(
        all(math.isfinite(c) and c >= 0 for c in costs.values()),
        "The cost to serve must be zero or more",
        where="strategy.cost_to_serve",
    )
    require(
        budget is None or (math.isfinite(budget) and budget > 0),
        f"The budget must be a positive amount, got {budget!r}",
        where="strategy.budget",
    )

    if references is None or list(references["tier"]) != labels:
        references = _references(frame, labels, tier_roles(labels))
    refs = references
    above = refs.set_index("tier")["next_tier_median_monetary"]
    gap = (frame["tier"].map(above) - frame["monetary"]).clip(lower=0).fillna(0.0)
    growth = gap.groupby(frame["tier"]).sum().reindex(labels, fill_value=0.0)
    out = pd.DataFrame(
        {
            "tier": labels,
            "tier_rank": range(1, len(labels) + 1),
            "role": refs["role"].to_numpy(),
            "customers": refs["tier_customers"].to_numpy(),
            "revenue": refs["tier_revenue"].to_numpy(),
            "growth_potential": growth.to_numpy(dtype="float64").round(6),
            "revenue_at_risk": refs["tier_revenue_at_risk"].to_numpy(dtype="float64"),
        }
    )
    basis = out["revenue"].clip(lower=0)
    if expected_value is not None:
        ev = {str(k): float(v) for k, v in dict(expected_value).items()}
        basis = out["tier"].map(ev).fillna(0.0).clip(lower=0).astype("float64")
    measured = uplift if uplift is not None and not uplift.empty else None
    # per tier: uplift per contacted customer, interval, source (tier or overall)
    by_tier = (measured if measured is not None else pd.DataFrame(columns=["tier"])).set_index(
        "tier"
    )
    up = {c: out["tier"].map(by_tier.get(c, {})) for c in ("uplift", "uplift_low", "uplift_high")}
    per_customer = up["uplift"].astype("float64")
    uplift_value = (per_customer.clip(lower=0) * out["customers"]).fillna(0.0)
    totals = {"revenue": basis, "growth": out["growth_potential"], "risk": out["revenue_at_risk"]}
    totals["uplift"] = uplift_value
    used = []
    for comp in BUDGET_COMPONENTS:
        total = float(totals[comp].sum())
        out[_COMPONENT_SHARE[comp]] = totals[comp] / total if total > 0 else 0.0
        if total > 0 and given[comp] > 0:
            used.append(comp)
    if used:
        wsum = sum(given[c] for c in used)
        out["weight"] = sum(given[c] * out[_COMPONENT_SHARE[c]] for c in used) / wsum
    else:
        nonempty = (out["customers"] > 0).astype(float)
        out["weight"] = nonempty / nonempty.sum() if nonempty.sum() else 1.0 / len(out)
    out["base_cost"] = out["tier"].map(costs).fillna(0.0) * out["customers"]
    exceed = False
    if budget is None:
        out["amount"] = math.nan
        out["share"] = out["weight"]
    else:
        base = float(out["base_cost"].sum())
        if base > budget:
            exceed = True
            out["amount"] = budget * out["base_cost"] / base
        else:
            out["amount"] = out["base_cost"] + (budget - base) * out["weight"]
        out["share"] = out["amount"] / budget
    extra = []
    if expected_value is not None:
        out["expected_value"] = basis.round(6)
        out["expected_value_share"] = out["revenue_share"]
        total = float(out["revenue"].clip(lower=0).sum())
        out["revenue_share"] = out["revenue"].clip(lower=0) / total if total > 0 else 0.0
        extra = ["expected_value", "expected_value_share"]
    if given["uplift"] > 0:
        out["uplift_per_customer"] = per_customer
        out["uplift_low"], out["uplift_high"] = up["uplift_low"], up["uplift_high"]
        out["uplift_source"] = [str(by_tier.get("source", {}).get(t, "")) for t in out["tier"]]
        out["uplift_value"] = uplift_value.round(6)
        extra += list(UPLIFT_BUDGET_COLUMNS)
        if not uplift_reason and measured is not None and float(uplift_value.sum()) <= 0:
            uplift_reason = "none_positive"
    out = out[[*BUDGET_COLUMNS, *extra]]
    out["tier_rank"] = out["tier_rank"].astype("int64")
    out["customers"] = out["customers"].astype("int64")
    rule = BudgetRule(
        amount=None if budget is None else float(budget),
        currency=currency,
        weights=tuple((c, float(given[c])) for c in BUDGET_COMPONENTS),
        used=tuple(used),
        equal_split=not used,
        cost_to_serve=tuple((k, costs[k]) for k in labels if k in costs),
        costs_exceed_budget=exceed,
        at_risk_factor=float(at_risk_factor),
        base_gap_days=float(frame["usual_gap_days"].median()),
        revenue_basis="revenue" if expected_value is None else "expected_value",
        uplift_campaign=str(measured["campaign"].iloc[0]) if measured is not None else "",
        uplift_outcome=str(measured["outcome"].iloc[0]) if measured is not None else "",
        uplift_reason=uplift_reason if given["uplift"] > 0 else "",
    )
    return out, rule


def recommend(
    tiers: pd.DataFrame,
    tier_summary: pd.DataFrame | None = None,
    *,
    spec=None,
    currency: str = "¥",
    playbook: Mapping | None = None,
    value=None,
    campaigns=None,
) -> Recommendations:
    """Triggers, per-customer actions and the budget split of one analysis.

    ``tiers`` is ``Analysis.tiers``; ``tier_summary`` (optional) gives the tier order
    (``tier``, ``tier_rank``), else the categories of ``tiers['tier']``. ``spec`` is the
    ``strategy`` block of the parameters (:class:`tiering.params.StrategySpec`: playbook,
    budget, budget_weights, cost_to_serve, at_risk_factor); ``playbook`` (from
    :func:`~tiering.analysis.playbook.load_playbook`) overrides ``spec.playbook``.
    ``value`` is the value model's result (:class:`tiering.analysis.value.ValueAnalysis`,
    optional): its rescue and develop signals are counted per tier
    (``value_signals``) and, when its ``budget_weighting`` is ``expected_value`` and the
    expected value is there, the budget's revenue share is of the expected value.
    ``campaigns`` (optional, :class:`~tiering.analysis.campaigns.CampaignAnalysis`): with a
    positive ``budget_weights.uplift`` the budget weighs its measured uplift per tier
    (:func:`~tiering.analysis.campaigns.tier_uplift` of ``spec.uplift_campaign``).
    Deterministic: no randomness, rows in the order of ``tiers``.
    """
    spec = StrategySpec() if spec is None else spec
    book = load_playbook(spec.playbook) if playbook is None else playbook_or_default(playbook)
    if tier_summary is not None:
        require(
            isinstance(tier_summary, pd.DataFrame)
            and {"tier", "tier_rank"} <= set(tier_summary.columns),
            "tier_summary must be a table with the columns tier and tier_rank",
            where="recommend(tier_summary)",
        )
        labels = [str(x) for x in tier_summary.sort_values("tier_rank", kind="stable")["tier"]]
    else:
        labels = _ordered_labels(tiers)
    frame, refs = _trigger_frame(
        tiers, at_risk_factor=spec.at_risk_factor, labels=labels, playbook=book
    )
    fired, caught, best, skipped = _evaluate_triggers(frame, labels, book)
    weights = spec.budget_weights.model_dump()
    measured, reason = None, ""
    if weights.get("uplift", 0) > 0:
        measured, reason = _campaigns.tier_uplift(
            campaigns, labels, campaign=getattr(spec, "uplift_campaign", None)
        )
    budget, rule = allocate_budget(
        frame,
        labels=labels,
        budget=spec.budget,
        weights=weights,
        cost_to_serve=spec.cost_to_serve,
        currency=currency,
        at_risk_factor=spec.at_risk_factor,
        references=refs,
        expected_value=_expected_value(value),
        uplift=measured,
        uplift_reason=reason,
    )
    customers = frame.assign(triggers=caught, priority=best)
    position = pd.Categorical(customers["tier"], categories=labels).codes
    customers["tier_rank"] = position.astype("int64") + 1
    columns = [c for c in CUSTOMER_COLUMNS if c in customers.columns]
    return Recommendations(
        customers=customers[columns].reset_index(drop=True),
        fired=fired,
        references=refs,
        budget=budget,
        rule=rule,
        playbook=book,
        skipped=skipped,
        value_signals=(
            value_signals(value.customers, tiers, labels)
            if value is not None and value.available
            else None
        ),
    )


def _expected_value(value) -> dict[str, float] | None:
    """Tier -> expected lifetime value, when the value model asks the budget to use it."""
    if value is None or value.params.get("budget_weighting") != "expected_value":
        return None
    if not value.spend_available or value.tiers.empty:
        return None
    return dict(zip(value.tiers["tier"].astype(str), value.tiers["clv_total"].astype(float)))
