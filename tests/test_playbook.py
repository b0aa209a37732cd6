"""Tests of tiering.analysis.playbook: tier roles, the default playbook, client
overrides merged over it, and the checks that refuse a bad playbook before anything
runs."""

from __future__ import annotations

import pytest

from tiering.analysis.playbook import (
    LIST_FIELDS,
    ROLE_FIELDS,
    ROLES,
    TEXT_FIELDS,
    load_playbook,
    tier_roles,
)
from tiering.errors import TieringError
from tiering.locale import LANGUAGES
from tiering.present.strategy_text import dormant_strategy

# --- roles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["A", "B"], ["top", "bottom"]),
        (["A", "B", "C"], ["top", "middle", "bottom"]),
        (["A", "B", "C", "D"], ["top", "upper", "middle", "bottom"]),
        (list("ABCDEFG"), ["top", "upper", "middle", "middle", "middle", "middle", "bottom"]),
    ],
)
def test_tier_roles(labels, expected):
    roles = tier_roles(labels)
    assert list(roles) == labels
    assert list(roles.values()) == expected


def test_tier_roles_rejects_one_tier_and_duplicates():
    with pytest.raises(TieringError, match="At least 2 tiers"):
        tier_roles(["A"])
    with pytest.raises(TieringError, match="repeated: A"):
        tier_roles(["A", "B", "A"])


# --- default playbook -------------------------------------------------------------


def test_default_playbook_is_complete_in_both_languages():
    book = load_playbook()
    assert set(book) == {*ROLES, "dormant", "segments", "triggers"}
    for role in ROLES:
        assert set(book[role]) == set(ROLE_FIELDS)
        for field in TEXT_FIELDS:
            for lang in LANGUAGES:
                assert book[role][field][lang].strip(), (role, field, lang)
        for field in LIST_FIELDS:
            items = book[role][field]
            assert len(items) >= (4 if field == "actions" else 3), (role, field)
            for item in items:
                for lang in LANGUAGES:
                    assert item[lang].strip(), (role, field, lang)
            # the two languages are really different texts
            assert all(item["en"] != item["zh"] for item in items)
    assert len(book["top"]["actions"]) <= 6
    assert book["top"]["goal"]["zh"] == "保留并提升"
    assert "专属客户经理" in "".join(a["zh"] for a in book["top"]["actions"])
    dormant = dormant_strategy(language="zh")
    assert "唤醒召回" in dormant["goal"] and dormant["actions"]


def test_load_playbook_returns_an_independent_copy():
    book = load_playbook()
    book["top"]["goal"]["en"] = "changed"
    assert load_playbook()["top"]["goal"]["en"] == "Retain and grow"


# --- client overrides -------------------------------------------------------------


def test_empty_client_playbook_is_the_default(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing to change\n", encoding="utf-8")
    assert load_playbook(path) == load_playbook()


def test_client_playbook_unknown_keys_are_clear_errors(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text(
        "top:\n  acions: [x]\ngold:\n  goal: y\nmiddle:\n  goal: {fr: z}\n", encoding="utf-8"
    )
    with pytest.raises(TieringError) as info:
        load_playbook(path)
    message = str(info.value)
    assert str(path) in message
    assert "top.acions: unknown field" in message and "did you mean 'actions'" in message
    assert "gold: unknown role" in message
    assert "middle.goal.fr: unknown language" in message
    assert "3 problems" in message


def test_client_playbook_wrong_shape_and_missing_file(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text("bottom:\n  kpis: Churn rate\n", encoding="utf-8")
    with pytest.raises(TieringError, match=r"bottom\.kpis: expected a non-empty list"):
        load_playbook(path)
    with pytest.raises(TieringError, match="not found"):
        load_playbook(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("top: [unclosed\n", encoding="utf-8")
    with pytest.raises(TieringError, match="not valid YAML") as info:
        load_playbook(bad)
    assert str(bad) in str(info.value)


# --- triggers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "triggers:\n  x:\n    name: X\n    finding: F\n    action: A\n"
            '    when: \'__import__("os").system("touch /tmp/pwned")\'\n',
            "A function call is not allowed",
        ),
        (
            "triggers:\n  x:\n    name: X\n    finding: F\n    action: A\n    when: 'frequency.real > 1'\n",
            "Attribute access",
        ),
        (
            "triggers:\n  x:\n    name: X\n    finding: '{customerz}'\n    action: A\n"
            "    when: 'frequency == 1'\n",
            "unknown field {customerz}; did you mean {customers}?",
        ),
        (
            "triggers:\n  x:\n    name: X\n    finding: '{customers:>99999999}'\n    action: A\n"
            "    when: 'frequency == 1'\n",
            "without ! or :",
        ),
        (
            "triggers:\n  x:\n    name: X\n    finding: '{customers.__class__}'\n    action: A\n"
            "    when: 'frequency == 1'\n",
            "unknown field",
        ),
        (
            "triggers:\n  x:\n    name: X\n    finding: F\n    action: A\n    when: 'frequency == 1'\n"
            "    params: {monetary: 3}\n",
            "taken by a customer value",
        ),
        (
            "triggers:\n  x:\n    name: X\n    finding: F\n    action: A\n    when: 'frequency == 1'\n"
            "    roles: [vip]\n",
            "expected a list of roles",
        ),
        (
            "triggers:\n  x:\n    name: X\n    finding: F\n    action: A\n    when: 'frequency == 1'\n"
            "    segments: [champs]\n",
            "unknown segment 'champs'; did you mean 'champions'?",
        ),
        (
            "triggers:\n  x:\n    name: X\n    when: 'frequency == 1'\n",
            "triggers.x.finding: missing",
        ),
        ("triggers:\n  at_risk_vip:\n    priority: 0\n", "whole number of 1 or more"),
        ("triggers:\n  at_risk_vip:\n    wen: 'x > 1'\n", "did you mean 'when'?"),
        ("segments:\n  champions:\n    goal: {fr: x}\n", "unknown language"),
    ],
)
def test_bad_triggers_are_clear_errors_and_nothing_runs(tmp_path, yaml_text, message):
    path = tmp_path / "client.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(TieringError) as info:
        load_playbook(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert not (tmp_path / "pwned").exists()
