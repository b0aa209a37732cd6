"""The safe expression language of rules and triggers."""

from __future__ import annotations

import pandas as pd
import pytest

from tiering.expr import ExpressionError, parse

COLS = ("monetary", "frequency", "recency_days", "region", "tier")


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "monetary": [12000.0, 500.0, 9000.0, None],
            "frequency": [6, 1, 8, 2],
            "recency_days": [10, 400, 40, 5],
            "region": ["North", "East", "North", "West"],
            "tier": ["A", "C", "B", "C"],
        }
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("monetary >= 10000 and frequency >= 5", [True, False, False, False]),
        ("monetary >= 10000 or frequency >= 8", [True, False, True, False]),
        ("not (recency_days > 30)", [True, False, False, True]),
        ("monetary / frequency > 1000", [True, False, True, False]),
        ("10 <= recency_days < 100", [True, False, True, False]),
        ('region in ["North", "West"] and tier != "A"', [False, False, True, True]),
        ('region not in ("North",)', [False, True, False, True]),
        ("recency_days > 2 * gap", [False, True, True, False]),
        ("-monetary < -1000", [True, False, True, False]),
        ("True", [True, True, True, True]),
    ],
)
def test_expressions_evaluate_column_wise(frame, text, expected):
    expr = parse(text, allowed_names=COLS + ("gap",))
    assert list(expr.mask(frame, values={"gap": 10})) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ('__import__("os").system("touch owned.txt")', "function call"),
        ("monetary.__class__", "Attribute access"),
        ("open('x')", "function call"),
        ("[x for x in frequency]", "ListComp"),
        ("frequency[0]", "Indexing"),
        ("lambda: 1", "lambda"),
        ("frequency ** 99999999", "\\*\\* operator"),
        ("(x := 1)", "Unknown name|:= operator"),
        ("monetary >= 10000 &", "Cannot read"),
        ("monetery > 1", "did you mean 'monetary'"),
        ("frequency in recency_days", "list of constants"),
        ("", "empty"),
        ("monetary > 1 and " * 40 + "True", "characters long"),
    ],
)
def test_anything_else_is_refused_before_running(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExpressionError, match=message):
        parse(text, allowed_names=COLS)
    assert not (tmp_path / "owned.txt").exists()


def test_non_condition_is_an_error(frame):
    with pytest.raises(ExpressionError, match="not a condition"):
        parse("monetary + 1", allowed_names=COLS).mask(frame)


def test_names_are_recorded():
    assert parse("monetary > 1 and tier == 'A'", allowed_names=COLS).names == {"monetary", "tier"}
