"""Declarative rules: first match wins, a default tier, and nothing but the safe rule
language ever runs."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from tiering import params
from tiering.analysis import methods
from tiering.errors import ParamsError
from tiering.expr import ExpressionError

from .conftest import tiering_spec as _spec

FEATURES = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e"],
        "recency_days": [5, 400, 20, 90, 30],
        "frequency": [12, 8, 2, 1, 3],
        "monetary": [15000.0, 12000, 3000, 500, np.nan],
        "customer_type": ["Business", "VIP-member", "VIP-member", "Individual", "Individual"],
        "credit_rating": ["5", "4", "2", "", "3"],
    }
)


def _tiers(res):
    return list(res.assignments["tier"].astype(str))


def test_first_match_wins_and_the_default_catches_the_rest():
    res = methods.fit(
        FEATURES,
        _spec(
            method="rules",
            rules={
                "conditions": [
                    {"A": "monetary >= 10000 and frequency >= 5 and recency_days <= 365"},
                    {"tier": "B", "when": 'customer_type == "VIP-member" or monetary >= 10000'},
                    {"A": "frequency >= 2"},  # never reached by a/b/c: earlier rules took them
                ]
            },
        ),
    )
    # a: rule 1 -> A; b: recency 400 fails rule 1, VIP -> B; c: VIP -> B (rule 2 before rule 3);
    # d: no rule -> default C; e: monetary missing (never matches) but frequency 3 -> rule 3 -> A
    assert _tiers(res) == ["A", "B", "B", "C", "A"]
    assert list(res.assignments["rule"]) == [1, 2, 2, 0, 3]
    p = res.params
    assert [c["customers"] for c in p["conditions"]] == [1, 2, 1]
    assert [c["matching"] for c in p["conditions"]] == [1, 3, 4]
    assert p["default"] == "C" and p["default_customers"] == 1
    assert (
        res.thresholds["rule"].tolist()[1] == 'customer_type == "VIP-member" or monetary >= 10000'
    )
    assert res.thresholds["rule"].tolist()[2] == "otherwise"


def test_numeric_attributes_compare_as_numbers_and_text_as_text():
    res = methods.fit(
        FEATURES,
        _spec(
            method="rules",
            labels=["Gold", "Other"],
            rules={
                "conditions": [
                    {"Gold": 'credit_rating >= 4 and customer_type in ["Business", "VIP-member"]'}
                ]
            },
        ),
    )
    # credit "5" and "4" are numbers; the blank never matches
    assert _tiers(res) == ["Gold", "Gold", "Other", "Other", "Other"]


def test_an_explicit_default_tier():
    res = methods.fit(
        FEATURES,
        _spec(
            method="rules",
            rules={
                "conditions": [{"A": "monetary > 10000"}, {"C": "recency_days > 60"}],
                "default": "B",
            },
        ),
    )
    assert _tiers(res) == ["A", "A", "B", "C", "B"]


@pytest.mark.parametrize(
    "rule, message",
    [
        ('__import__("os").system("touch /tmp/pwned")', "function call is not allowed"),
        ("monetary.__class__", "Attribute access"),
        ("[x for x in monetary]", "is not allowed"),
        ("monetary ** 1000", "The \\*\\* operator"),
        ("lambda: 1", "lambda"),
        ("monetary >=", "Cannot read the expression"),
    ],
)
def test_unsafe_or_broken_rules_are_refused_when_the_parameters_are_read(
    rule, message, monkeypatch
):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    with pytest.raises(ParamsError, match=message):
        _spec(method="rules", rules={"conditions": [{"A": rule}]})
    assert calls == []


def test_unsafe_rule_in_a_spec_built_without_validation_is_refused_by_fit(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    spec = _spec(method="rules", rules={"conditions": [{"A": "monetary > 1"}]})
    bad = params.RuleItem.model_construct(tier="A", when='__import__("os").system("echo hi")')
    spec = spec.model_copy(update={"rules": spec.rules.model_copy(update={"conditions": [bad]})})
    with pytest.raises(ExpressionError, match="function call is not allowed"):
        methods.fit(FEATURES, spec)
    assert calls == []


def test_unknown_name_suggests_the_column():
    with pytest.raises(ExpressionError, match="Unknown name 'monetry'") as e:
        methods.fit(FEATURES, _spec(method="rules", rules={"conditions": [{"A": "monetry > 5"}]}))
    assert "did you mean 'monetary'" in e.value.hint
    assert "tiering.rules.conditions[0]" in e.value.where


def test_comparing_text_with_a_number_is_a_located_error():
    with pytest.raises(ExpressionError, match="Cannot compare") as e:
        methods.fit(
            FEATURES, _spec(method="rules", rules={"conditions": [{"A": "customer_type > 3"}]})
        )
    assert "conditions[0]" in e.value.where


def test_rules_params_validation():
    with pytest.raises(ParamsError, match="rules.conditions is empty"):
        _spec(method="rules")
    with pytest.raises(ParamsError, match="rules name tier\\(s\\) 'Z', 'Q' not among the labels"):
        _spec(method="rules", rules={"conditions": [{"Z": "monetary > 1"}], "default": "Q"})


def test_rules_are_not_data_driven():
    spec = _spec(method="rules", rules={"conditions": [{"A": "monetary > 1"}]})
    assert not methods.is_data_driven(spec)
    assert methods.stability(FEATURES, spec) is None
