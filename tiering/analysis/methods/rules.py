"""Declarative rules: ``A: monetary >= 10000 and frequency >= 5``; first match wins.

Rules are checked in the order written; a customer gets the tier of the first rule it
matches, or ``default`` (the last label when omitted) when it matches none. Each rule
is an expression of the safe rule language of :mod:`tiering.expr` (comparisons,
``and``/``or``/``not``, arithmetic on customer columns, ``in`` with a list) over the
customer table: ``recency_days``, ``frequency``, ``monetary``, ``gross_revenue``,
``returns_value``, ``aov``, ``tenure_days`` and the attribute columns. An attribute
whose values are all numbers (blanks allowed) is compared as a number, any other as
text (``region == "East"``). With a customer master (``data.customers``) its columns
are there too: ``overdue_days > 90`` (a credit-hold tier), ``credit_rating in ["D",
"E"]``, ``list_status == "black"``, ``satisfaction <= 2``, ``tenure_months >= 36``;
naming one without a master is an error that says so. Anything else in a rule — a
call, attribute access, ``__import__`` — is refused when the parameters are read,
before anything runs.
Missing values never match a comparison: a customer without a master row matches no
rule on a master column (``overdue_days > 90`` holds only for customers the master
says are over 90 days late).

The cut-offs are the user's: rules are not data-driven, so there is no bootstrap
stability to report.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from tiering.analysis.methods.base import (
    NON_NUMERIC,
    Method,
    TieringResult,
    check_features,
    finish,
    numeric_column,
)
from tiering.data.customers import require_master_columns
from tiering.errors import MethodError
from tiering.expr import ExpressionError, parse
from tiering.params import RulesOptions, TieringSpec


def rule_frame(features: pd.DataFrame) -> pd.DataFrame:
    """The customer table as rules see it: attribute columns of numbers as numbers."""
    frame = features.copy()
    for col in frame.columns:
        if (
            col in NON_NUMERIC
            or pd.api.types.is_numeric_dtype(frame[col])
            or pd.api.types.is_datetime64_any_dtype(frame[col])
        ):
            continue
        try:
            values = numeric_column(frame, col, "rules", where=col)
        except MethodError:
            continue
        if not np.isnan(values).all():
            frame[col] = values
    return frame


def rule_names(text: str) -> list[str]:
    """The names a rule reads, in order (none for a rule that does not parse: the rule
    language says why)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return []
    return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)))


def fit(features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0) -> TieringResult:
    opts = spec.rules
    labels = list(spec.labels)
    check_features(features, ("customer_id",), "rules", tiers=len(labels))
    frame = rule_frame(features)
    names = [c for c in frame.columns if str(c).isidentifier() and c != "customer_id"]
    default = opts.default if opts.default is not None else labels[-1]
    rank = np.full(len(frame), labels.index(default) + 1, dtype="int64")
    rule_no = np.zeros(len(frame), dtype="int64")
    open_ = np.ones(len(frame), dtype=bool)
    conditions = []
    for i, item in enumerate(opts.conditions):
        where = f"tiering.rules.conditions[{i}] ({item.tier}: {item.when})"
        require_master_columns(features, rule_names(item.when), "rules", where=where)
        expression = parse(item.when, allowed_names=names, where=where)
        try:
            mask = expression.mask(frame).to_numpy(dtype=bool)
        except ExpressionError as exc:
            raise ExpressionError(exc.message, where=where, hint=exc.hint) from None
        hit = mask & open_
        rank[hit] = labels.index(item.tier) + 1
        rule_no[hit] = i + 1
        open_ &= ~hit
        conditions.append(
            {
                "tier": item.tier,
                "when": expression.text,
                "customers": int(hit.sum()),
                "matching": int(mask.sum()),
            }
        )
    texts = {lab: [c["when"] for c in conditions if c["tier"] == lab] for lab in labels}
    rules_text = []
    for lab in labels:
        parts = [f"({w})" if len(texts[lab]) > 1 else w for w in texts[lab]]
        text = " or ".join(parts)
        if lab == default:
            text = f"{text}; otherwise" if text else "otherwise"
        rules_text.append(text)
    thresholds = pd.DataFrame(
        {
            "tier": labels,
            "tier_rank": range(1, len(labels) + 1),
            "lower": np.nan,
            "upper": np.nan,
            "rule": rules_text,
        }
    )
    params = {"conditions": conditions, "default": default, "default_customers": int(open_.sum())}
    return finish(
        features,
        rank,
        labels,
        {"rule": rule_no},
        method="rules",
        thresholds=thresholds,
        params=params,
    )


#: This method's entry in the registry (:mod:`tiering.analysis.methods.registry`).
def built_from(params: dict) -> list[str]:
    """The columns the conditions read, in order of first use."""
    out: list[str] = []
    for condition in params["conditions"]:
        for node in ast.walk(ast.parse(condition["when"], mode="eval")):
            if isinstance(node, ast.Name) and node.id not in out:
                out.append(node.id)
    return out


METHOD = Method(
    name="rules",
    fit=fit,
    options=RulesOptions,
    data_driven=False,
    bootstrap=None,
    built_from=built_from,
)
