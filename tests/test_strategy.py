"""Tests of tiering.strategy: roles, the default playbook, overrides, headlines, HTML."""

from __future__ import annotations

import re
from html import escape

import pandas as pd
import pytest

from tiering.errors import TieringError
from tiering.i18n import LANGUAGES
from tiering.strategy import (
    LIST_FIELDS,
    ROLE_FIELDS,
    ROLES,
    STRATEGY_COLUMNS,
    TEXT_FIELDS,
    dormant_note_html,
    dormant_strategy,
    load_playbook,
    strategy_cards_html,
    tier_roles,
    tier_strategies,
)


def summary(labels=("A", "B", "C")) -> pd.DataFrame:
    """A hand-built tier summary; the rows are deliberately not in rank order."""
    base = [
        # customers, customer_share, revenue, revenue_share, monetary, recency
        (312, 0.104, 2_136_000.0, 0.712, 8420.0, 23.0),
        (1_188, 0.396, 690_000.0, 0.230, 1234.5, 61.5),
        (1_500, 0.5, 174_000.0, 0.058, 45.5, 240.0),
    ]
    rows = []
    for rank, (label, vals) in enumerate(zip(labels, base), start=1):
        customers, cshare, revenue, rshare, monetary, recency = vals
        rows.append({
            "tier": label, "tier_rank": rank, "customers": customers,
            "customer_share": cshare, "revenue": revenue, "revenue_share": rshare,
            "monetary_median": monetary, "frequency_median": 3.0,
            "recency_median": recency, "aov_median": 100.0, "tenure_median": 400.0,
        })
    return pd.DataFrame(rows).iloc[[2, 0, 1]].reset_index(drop=True)


# --- roles ------------------------------------------------------------------------

@pytest.mark.parametrize(("labels", "expected"), [
    (["A", "B"], ["top", "bottom"]),
    (["A", "B", "C"], ["top", "middle", "bottom"]),
    (["A", "B", "C", "D"], ["top", "upper", "middle", "bottom"]),
    (list("ABCDEFG"), ["top", "upper", "middle", "middle", "middle", "middle", "bottom"]),
])
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
    assert set(book) == {*ROLES, "dormant"}
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


ASCII_LETTER = re.compile(r"[A-Za-z]")


@pytest.mark.parametrize("labels", [("A", "B", "C"), ("VIP", "Gold", "Silver", "Bronze")])
def test_chinese_strategies_have_no_ascii_letters(labels):
    data = summary(labels[:3])
    if len(labels) == 4:  # add a 4th tier to exercise the 'upper' role
        extra = data.iloc[[0]].assign(tier=labels[3], tier_rank=4)
        data = pd.concat([data, extra], ignore_index=True)
    out = tier_strategies(data, language="zh", currency="¥")
    assert set(out["role"]) >= {"top", "middle", "bottom"}
    for _, row in out.iterrows():
        for col in (*ROLE_FIELDS, "headline"):
            texts = row[col] if isinstance(row[col], list) else [row[col]]
            for text in texts:
                assert not ASCII_LETTER.search(text), (row["tier"], col, text)
    html = strategy_cards_html(out, language="zh")
    visible = re.sub(r"<[^>]+>", "", html)
    for label in labels:
        visible = visible.replace(label, "")
    assert not ASCII_LETTER.search(visible)
    assert not ASCII_LETTER.search(re.sub(r"<[^>]+>", "", dormant_note_html(language="zh")))


# --- client overrides -------------------------------------------------------------

def test_client_playbook_merges_over_default(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text(
        "top:\n"
        "  goal: {en: Keep them close, zh: 牢牢守住}\n"
        "  actions:\n"
        "    - {en: Call every month, zh: 每月致电}\n"
        "middle:\n"
        "  contact_cadence: {zh: 每两周一次}\n",
        encoding="utf-8")
    default = load_playbook()
    book = load_playbook(path)
    assert book["top"]["goal"] == {"en": "Keep them close", "zh": "牢牢守住"}
    assert book["top"]["actions"] == [{"en": "Call every month", "zh": "每月致电"}]  # list replaced
    assert book["top"]["kpis"] == default["top"]["kpis"]  # other fields kept
    assert book["top"]["service_level"] == default["top"]["service_level"]
    assert book["bottom"] == default["bottom"]
    # one language given: the other keeps the default
    assert book["middle"]["contact_cadence"] == {
        "en": default["middle"]["contact_cadence"]["en"], "zh": "每两周一次"}
    out = tier_strategies(summary(), language="en", playbook=book)
    assert out.loc[0, "goal"] == "Keep them close"
    assert out.loc[0, "actions"] == ["Call every month"]


def test_empty_client_playbook_is_the_default(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing to change\n", encoding="utf-8")
    assert load_playbook(path) == load_playbook()


def test_client_playbook_unknown_keys_are_clear_errors(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text("top:\n  acions: [x]\ngold:\n  goal: y\nmiddle:\n  goal: {fr: z}\n",
                    encoding="utf-8")
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


# --- strategies and headlines -----------------------------------------------------

def test_tier_strategies_table_and_english_headlines():
    out = tier_strategies(summary(), language="en")
    assert list(out.columns) == list(STRATEGY_COLUMNS)
    assert out["tier"].tolist() == ["A", "B", "C"]
    assert out["tier_rank"].tolist() == [1, 2, 3]
    assert out["role"].tolist() == ["top", "middle", "bottom"]
    assert out.loc[0, "goal"] == "Retain and grow"
    assert all(isinstance(v, list) and v and all(isinstance(s, str) for s in v)
               for col in LIST_FIELDS for v in out[col])
    assert out["headline"].tolist() == [
        "312 customers (10.4%) bring 71.2% of revenue; median net spend ¥8,420, "
        "last purchase a median 23 days ago.",
        "1,188 customers (39.6%) bring 23.0% of revenue; median net spend ¥1,235, "
        "last purchase a median 61.5 days ago.",
        "1,500 customers (50.0%) bring 5.8% of revenue; median net spend ¥45.50, "
        "last purchase a median 240 days ago.",
    ]


def test_chinese_headline_and_currency():
    out = tier_strategies(summary(), language="zh", currency="US$")
    assert out.loc[0, "headline"] == (
        "312位客户（占10.4%）贡献了71.2%的营收；净消费金额中位数为US$8,420，"
        "最近一次购买距今中位数为23天。")
    assert out.loc[0, "goal"] == "保留并提升"


def test_headline_edge_cases():
    data = summary()
    data.loc[data["tier"] == "A", ["customers", "customer_share", "monetary_median",
                                   "recency_median"]] = [1, 0.0003, -12.0, 1.0]
    data.loc[data["tier"] == "C", "customers"] = 0
    out = tier_strategies(data, language="en").set_index("tier")
    assert out.loc["A", "headline"] == (
        "1 customer (<0.1%) brings 71.2% of revenue; net spend -¥12, last purchase 1 day ago.")
    assert out.loc["C", "headline"] == "No customers in this tier."


def test_tier_strategies_validates_input():
    with pytest.raises(TieringError, match="lacks the column"):
        tier_strategies(summary().drop(columns="revenue_share"), language="en")
    with pytest.raises(TieringError, match="Unknown language"):
        tier_strategies(summary(), language="fr")
    data = summary()
    data["tier_rank"] = 1
    with pytest.raises(TieringError, match="unique"):
        tier_strategies(data, language="en")


# --- HTML -------------------------------------------------------------------------

def test_cards_html_structure_and_escaping():
    data = summary(("<b>A</b>", "B & Co", "C"))
    out = tier_strategies(data, language="en")
    page = strategy_cards_html(out, language="en")
    assert "<b>A</b>" not in page
    assert '<span class="tier-badge tier-1">&lt;b&gt;A&lt;/b&gt;</span>' in page
    assert "B &amp; Co" in page
    assert page.count('<div class="strategy-card tier-') == 3
    # the colour class follows tiering.style.tier_palette: 3 tiers use colours 1, 3 and 6
    for colour in (1, 3, 6):
        assert f'<div class="strategy-card tier-{colour}">' in page
    assert 'class="card-headline">312 customers (10.4%)' in page
    assert "<dt>Actions</dt>" in page and "<dt>KPIs to watch</dt>" in page
    assert "style=" not in page
    # every action of the top tier appears as a list item
    for action in out.loc[0, "actions"]:
        assert f"<li>{escape(action)}</li>" in page


def test_cards_html_chinese_labels_and_playbook_text_escaped():
    book = load_playbook()
    book["top"]["actions"] = [{"en": "<script>x</script>", "zh": "<script>x</script>"}]
    out = tier_strategies(summary(), language="zh", playbook=book)
    page = strategy_cards_html(out, language="zh")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<dt>行动</dt>" in page and "<dt>关注指标</dt>" in page
    assert 'lang="zh-CN"' in page


def test_dormant_note_html():
    page = dormant_note_html(language="en")
    assert page.startswith('<div class="strategy-note dormant"')
    assert "Dormant and at-risk customers" in page and "<li>" in page
