"""Tests of tiering.analysis.strategy (triggers on crafted data: each shipped trigger
fires and a near miss does not, the budget split, hand-computed; a client playbook
changing the plan and the triggers; the playbook's own checks are in test_playbook.py),
tiering.present.strategy_text (headlines, findings, actions, the budget
rule in words) and tiering.present.strategy (HTML, the strategy section in both
languages)."""

from __future__ import annotations

import math
import re
import types
from html import escape

import pandas as pd
import pytest

from tiering.analysis import strategy
from tiering.analysis.playbook import LIST_FIELDS, ROLE_FIELDS, load_playbook
from tiering.analysis.strategy import (
    BUDGET_COLUMNS,
    CUSTOMER_COLUMNS,
    FIRED_COLUMNS,
    allocate_budget,
    recommend,
    segment_lookup,
    trigger_frame,
)
from tiering.errors import TieringError
from tiering.expr import ExpressionError
from tiering.params import Params, StrategySpec
from tiering.present.strategy import dormant_note_html, segments_html, strategy_cards_html
from tiering.present.strategy_text import (
    STRATEGY_COLUMNS,
    action_table,
    budget_rule_text,
    findings,
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
        rows.append(
            {
                "tier": label,
                "tier_rank": rank,
                "customers": customers,
                "customer_share": cshare,
                "revenue": revenue,
                "revenue_share": rshare,
                "monetary_median": monetary,
                "frequency_median": 3.0,
                "recency_median": recency,
                "aov_median": 100.0,
                "tenure_median": 400.0,
            }
        )
    return pd.DataFrame(rows).iloc[[2, 0, 1]].reset_index(drop=True)


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
        encoding="utf-8",
    )
    default = load_playbook()
    book = load_playbook(path)
    assert book["top"]["goal"] == {"en": "Keep them close", "zh": "牢牢守住"}
    assert book["top"]["actions"] == [{"en": "Call every month", "zh": "每月致电"}]  # list replaced
    assert book["top"]["kpis"] == default["top"]["kpis"]  # other fields kept
    assert book["top"]["service_level"] == default["top"]["service_level"]
    assert book["bottom"] == default["bottom"]
    # one language given: the other keeps the default
    assert book["middle"]["contact_cadence"] == {
        "en": default["middle"]["contact_cadence"]["en"],
        "zh": "每两周一次",
    }
    out = tier_strategies(summary(), language="en", playbook=book)
    assert out.loc[0, "goal"] == "Keep them close"
    assert out.loc[0, "actions"] == ["Call every month"]


# --- strategies and headlines -----------------------------------------------------


def test_tier_strategies_table_and_english_headlines():
    out = tier_strategies(summary(), language="en")
    assert list(out.columns) == list(STRATEGY_COLUMNS)
    assert out["tier"].tolist() == ["A", "B", "C"]
    assert out["tier_rank"].tolist() == [1, 2, 3]
    assert out["role"].tolist() == ["top", "middle", "bottom"]
    assert out.loc[0, "goal"] == "Retain and grow"
    assert all(
        isinstance(v, list) and v and all(isinstance(s, str) for s in v)
        for col in LIST_FIELDS
        for v in out[col]
    )
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
        "最近一次购买距今中位数为23天。"
    )
    assert out.loc[0, "goal"] == "保留并提升"


def test_headline_edge_cases():
    data = summary()
    data.loc[
        data["tier"] == "A", ["customers", "customer_share", "monetary_median", "recency_median"]
    ] = [1, 0.0003, -12.0, 1.0]
    data.loc[data["tier"] == "C", "customers"] = 0
    out = tier_strategies(data, language="en").set_index("tier")
    assert out.loc["A", "headline"] == (
        "1 customer (<0.1%) brings 71.2% of revenue; net spend -¥12, last purchase 1 day ago."
    )
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


# =================================================================================
# Triggers, budget, recommendations


AS_OF = pd.Timestamp("2024-07-01")

# quiet customers: no shipped trigger fires on them and none is at risk
# (tier, frequency, tenure_days, recency_days, monetary)
QUIET = {"A": (10, 300, 10, 10_000.0), "B": (5, 300, 20, 2_000.0), "C": (2, 300, 30, 200.0)}
SIZES = {"A": 4, "B": 4, "C": 5}


def crafted(changes=None, *, labels=("A", "B", "C"), sizes=None, segments=None) -> pd.DataFrame:
    """A tier table of quiet customers (ids A01.., B01.., C01..) with ``changes``:
    ``{id: {frequency, tenure_days, recency_days, monetary, returns_value, tier}}``."""
    rows = []
    for label in labels:
        freq, tenure, recency, monetary = QUIET[label]
        for i in range(1, (sizes or SIZES)[label] + 1):
            rows.append(
                {
                    "customer_id": f"{label}{i:02d}",
                    "tier": label,
                    "frequency": freq,
                    "tenure_days": tenure,
                    "recency_days": recency,
                    "monetary": monetary,
                    "returns_value": 0.0,
                }
            )
    df = pd.DataFrame(rows).set_index("customer_id")
    for cid, values in (changes or {}).items():
        for key, value in values.items():
            df.loc[cid, key] = value
    df = df.reset_index()
    df["gross_revenue"] = df["monetary"] + df["returns_value"]
    df["aov"] = df["gross_revenue"] / df["frequency"]
    df["last_purchase"] = AS_OF - pd.to_timedelta(df["recency_days"], unit="D")
    df["first_purchase"] = AS_OF - pd.to_timedelta(df["tenure_days"], unit="D")
    df["customer_name"] = "Customer " + df["customer_id"]
    df["tier"] = pd.Categorical(df["tier"], categories=list(labels), ordered=True)
    df["tier_rank"] = df["tier"].cat.codes.astype("int64") + 1
    if segments is not None:
        df["segment"] = df["customer_id"].map(segments)
    return df


def fired_ids(recs, trigger_id):
    caught = recs.customers[
        recs.customers["triggers"].str.split(";").map(lambda ids: trigger_id in ids)
    ]
    return sorted(caught["customer_id"])


def test_quiet_customers_fire_nothing_and_get_the_role_action():
    recs = recommend(crafted())
    assert recs.fired.empty and list(recs.fired.columns) == list(FIRED_COLUMNS)
    assert list(recs.customers.columns) == [
        c for c in CUSTOMER_COLUMNS if c not in ("segment", "segment_key")
    ]
    assert not recs.customers["at_risk"].any()
    table = action_table(recs, language="en")
    book = load_playbook()
    expected = {
        "A": book["top"]["actions"][0]["en"],
        "B": book["middle"]["actions"][0]["en"],
        "C": book["bottom"]["actions"][0]["en"],
    }
    assert table["recommended_action"].tolist() == [expected[c[0]] for c in table["customer_id"]]
    assert (table["signals"] == "").all()


def test_trigger_frame_usual_gap_and_references():
    tiers = crafted(
        {"A01": {"frequency": 5, "tenure_days": 420, "recency_days": 180}, "C01": {"frequency": 1}}
    )
    frame = trigger_frame(tiers, at_risk_factor=2.0)
    row = frame.set_index("customer_id")
    assert row.loc["A01", "usual_gap_days"] == 60.0  # (420 - 180) / 4
    assert row.loc["A02", "usual_gap_days"] == pytest.approx(290 / 9)
    assert math.isnan(row.loc["C01", "usual_gap_days"])  # one order: no gap
    # one-order customers expect the median gap of everybody else
    assert row.loc["C01", "expected_gap_days"] == frame["usual_gap_days"].median()
    assert bool(row.loc["A01", "at_risk"]) and not row.loc["A02", "at_risk"]  # 180 > 120
    assert row.loc["C02", "tier_one_time_share"] == pytest.approx(1 / 5)
    assert row.loc["B01", "next_tier"] == "A" and row.loc["C01", "next_tier"] == "B"
    assert row.loc["B01", "next_tier_min_monetary"] == 10_000.0
    assert math.isnan(row.loc["A01", "next_tier_min_monetary"])
    assert row.loc["B01", "tier_median_aov"] == 400.0
    assert row.loc["A01", "role"] == "top" and row.loc["C01", "role"] == "bottom"


# (trigger, changes that make it fire, customers caught, changes that must not fire)
SHIPPED = [
    # at_risk_vip: frequency >= 2, recency > 1.5 x usual gap, recency >= 30 days
    (
        "at_risk_vip",
        {"A01": {"frequency": 3, "tenure_days": 70, "recency_days": 31}},
        ["A01"],
        [
            {"A01": {"frequency": 3, "tenure_days": 70, "recency_days": 30}},  # 30 = 1.5 x 20
            {"A01": {"frequency": 11, "tenure_days": 120, "recency_days": 20}},  # under 30 days
            {"A01": {"frequency": 1, "tenure_days": 400, "recency_days": 400}},  # one order
            {"B01": {"frequency": 3, "tenure_days": 70, "recency_days": 31}},
        ],
    ),  # not the top tier
    # lapsing_regulars: upper/middle, recency > 2 x usual gap, recency >= 30
    (
        "lapsing_regulars",
        {"B01": {"frequency": 3, "tenure_days": 100, "recency_days": 60}},
        ["B01"],
        [
            {"B01": {"frequency": 3, "tenure_days": 80, "recency_days": 40}},  # 40 = 2 x 20
            {"C01": {"frequency": 3, "tenure_days": 100, "recency_days": 60}},
        ],
    ),  # bottom tier
    # high_returns: any tier, frequency >= 2, returns >= 30% of purchases
    (
        "high_returns",
        {
            "C01": {"monetary": 70.0, "returns_value": 30.0},
            "A02": {"monetary": 7_000.0, "returns_value": 3_000.0},
        },
        ["A02", "C01"],
        [
            {"C01": {"monetary": 71.0, "returns_value": 29.0}},
            {"C01": {"frequency": 1, "monetary": 50.0, "returns_value": 50.0}},
        ],
    ),
    # close_to_next_tier: >= 80% of the lowest spend of the tier above, below it, not at risk
    (
        "close_to_next_tier",
        {"B01": {"monetary": 8_000.0}, "C03": {"monetary": 1_999.0}},
        ["B01", "C03"],
        [
            {"B01": {"monetary": 7_999.0}},
            {"B01": {"monetary": 8_000.0, "recency_days": 200}},  # at risk: 200 > 2 x 25
            {"B01": {"monetary": 10_000.0}},
        ],
    ),  # as much as the tier above
    # one_time_bottom: one order, in a bottom tier where >= 40% bought once
    (
        "one_time_bottom",
        {"C01": {"frequency": 1}, "C02": {"frequency": 1}},
        ["C01", "C02"],
        [
            {"C01": {"frequency": 1}},  # 1 of 5 = 20%
            {"B01": {"frequency": 1}, "B02": {"frequency": 1}, "B03": {"frequency": 1}},
        ],
    ),
    # frequent_small_baskets: upper/middle, >= 3 orders, >= tier median orders,
    # order value < 75% of the tier's median order value
    (
        "frequent_small_baskets",
        {"B01": {"frequency": 8, "monetary": 1_600.0}},
        ["B01"],
        [
            {"B01": {"frequency": 8, "monetary": 2_400.0}},  # 300 = 75% of 400
            {"B01": {"frequency": 2, "monetary": 200.0}},  # fewer than 3 orders
            {"C01": {"frequency": 8, "monetary": 200.0}},
        ],
    ),  # bottom tier
]


@pytest.mark.parametrize(
    ("trigger_id", "changes", "caught", "misses"), SHIPPED, ids=[s[0] for s in SHIPPED]
)
def test_each_shipped_trigger_fires_and_near_misses_do_not(trigger_id, changes, caught, misses):
    recs = recommend(crafted(changes))
    assert fired_ids(recs, trigger_id) == caught
    rows = recs.fired[recs.fired["trigger_id"] == trigger_id]
    assert rows["customers"].sum() == len(caught)
    for miss in misses:
        recs = recommend(crafted(miss))
        assert fired_ids(recs, trigger_id) == [], miss
        assert trigger_id not in set(recs.fired["trigger_id"]), miss


def test_default_playbook_ships_the_issue_triggers():
    triggers = load_playbook()["triggers"]
    assert {"at_risk_vip", "frequent_small_baskets", "one_time_bottom"} <= set(triggers)
    assert triggers["at_risk_vip"]["roles"] == ["top"]
    assert triggers["one_time_bottom"]["roles"] == ["bottom"]
    priorities = [trig["priority"] for trig in triggers.values()]
    assert priorities == sorted(priorities)  # evaluation order
    for tid, trig in triggers.items():
        for field in ("name", "finding", "finding_one", "action"):
            assert trig[field]["en"] != trig[field]["zh"], (tid, field)
            assert not ASCII_LETTER.search(re.sub(r"\{\w+\}", "", trig[field]["zh"])), tid


def test_findings_cite_the_numbers_that_fired_them():
    tiers = crafted(
        {
            "A01": {"frequency": 5, "tenure_days": 420, "recency_days": 180},
            "A02": {"frequency": 3, "tenure_days": 200, "recency_days": 100},
        }
    )
    recs = recommend(tiers)
    row = recs.fired.set_index("trigger_id").loc["at_risk_vip"]
    assert row["customers"] == 2 and row["tier_customers"] == 4
    assert row["revenue"] == 20_000.0 and row["revenue_share"] == 0.5
    assert row["recency_median"] == 140.0  # median of 180 and 100
    assert row["usual_gap_median"] == 55.0  # median of 60 and 50
    found = findings(recs, language="en").set_index("trigger_id").loc["at_risk_vip"]
    assert found["finding"] == (
        "2 A-tier customers (50.0% of the tier) have not bought for more than 1.5× their "
        "usual time between orders: a median 140 days since the last order against a usual "
        "gap of 55 days. They spent ¥20,000 (50.0% of the tier's revenue)."
    )
    assert found["action"] == "Personal call from the account manager within two weeks"
    zh = findings(recs, language="zh").set_index("trigger_id").loc["at_risk_vip"]
    assert zh["finding"] == (
        "A级客户中有2位（占该等级的50.0%）距最近一次购买的时间已超过其正常购买间隔的1.5倍："
        "距最近购买中位数为140天，正常购买间隔中位数为55天。这些客户累计消费¥20,000"
        "（占该等级营收的50.0%）。"
    )
    # one customer: the singular text
    one = recommend(crafted({"A01": {"frequency": 5, "tenure_days": 420, "recency_days": 180}}))
    text = findings(one, language="en").set_index("trigger_id").loc["at_risk_vip", "finding"]
    assert text.startswith("1 A-tier customer has not bought for more than 1.5×")
    assert "180 days since the last order against a usual gap of 60 days" in text


def test_one_time_finding_and_threshold_as_percent():
    recs = recommend(crafted({"C01": {"frequency": 1}, "C02": {"frequency": 1}}))
    text = findings(recs, language="en").set_index("trigger_id").loc["one_time_bottom", "finding"]
    assert text.startswith(
        "40.0% of C-tier customers (2 customers) have bought only once "
        "(the trigger is 40%); together they spent ¥400."
    )


def test_priority_decides_the_recommended_action():
    # B01 lapses (priority 2) and has high returns (priority 3)
    tiers = crafted(
        {
            "B01": {
                "frequency": 3,
                "tenure_days": 100,
                "recency_days": 60,
                "monetary": 1_400.0,
                "returns_value": 600.0,
            }
        }
    )
    recs = recommend(tiers)
    rec = recs.customers.set_index("customer_id").loc["B01"]
    assert rec["triggers"] == "lapsing_regulars;high_returns" and rec["priority"] == 2
    table = action_table(recs, language="zh").set_index("customer_id")
    assert table.loc["B01", "signals"] == "购买间隔异常拉长的老客户; 退货比例偏高的客户"
    assert table.loc["B01", "recommended_action"] == "一个月内发送专属唤醒信息，并附限时优惠"


def test_client_playbook_changes_disables_and_adds_triggers(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text(
        "triggers:\n"
        "  at_risk_vip:\n"
        "    params: {gap_factor: 3, min_days: 30}\n"
        "  one_time_bottom: {enabled: false}\n"
        "  big_northern:\n"
        "    name: {en: Big northern buyers, zh: 北方大客户}\n"
        "    roles: [middle]\n"
        "    when: 'region == \"North\" and monetary >= min_amount'\n"
        "    params: {min_amount: 1500}\n"
        "    finding: {en: '{customers} {group} in the north spend {min_amount} or more',\n"
        "              zh: '{group}中有{customers}位北方客户消费不低于{min_amount}'}\n"
        "    action: Visit them\n",
        encoding="utf-8",
    )
    book = load_playbook(path)
    assert book["triggers"]["at_risk_vip"]["params"] == {"gap_factor": 3, "min_days": 30}
    assert (
        book["triggers"]["at_risk_vip"]["finding"]
        == load_playbook()["triggers"]["at_risk_vip"]["finding"]
    )  # the rest is kept
    assert book["triggers"]["big_northern"]["action"] == {"en": "Visit them", "zh": "Visit them"}
    tiers = crafted(
        {
            "A01": {"frequency": 3, "tenure_days": 70, "recency_days": 31},
            "C01": {"frequency": 1},
            "C02": {"frequency": 1},
        }
    )
    tiers["region"] = [
        "North" if cid in ("B01", "B02", "A03") else "South" for cid in tiers["customer_id"]
    ]
    recs = recommend(tiers, playbook=book)
    assert fired_ids(recs, "at_risk_vip") == []  # 31 < 3 x 19.5
    assert fired_ids(recs, "one_time_bottom") == []  # switched off
    assert fired_ids(recs, "big_northern") == ["B01", "B02"]
    text = findings(recs, language="en").set_index("trigger_id").loc["big_northern", "finding"]
    assert text == "2 B-tier customers in the north spend ¥1,500 or more"
    # via the parameters: spec.playbook
    recs2 = recommend(tiers, spec=StrategySpec(playbook=path))
    assert fired_ids(recs2, "big_northern") == ["B01", "B02"]


def test_unknown_name_in_a_condition_is_caught_when_evaluated(tmp_path):
    path = tmp_path / "client.yaml"
    path.write_text("triggers:\n  at_risk_vip:\n    when: 'recencydays > 30'\n", encoding="utf-8")
    book = load_playbook(path)  # a name can be an attribute of the client's data
    with pytest.raises(ExpressionError) as info:
        recommend(crafted(), playbook=book)
    assert "did you mean 'recency_days'" in str(info.value)
    assert "at_risk_vip" in str(info.value)


def test_segments_lookup_and_segment_triggers(tmp_path):
    lookup = segment_lookup()
    assert lookup["cant_lose"] == "cant_lose"
    assert lookup[strategy._segment_key("Can't lose them")] == "cant_lose"
    assert lookup[strategy._segment_key("CHAMPIONS")] == "champions"
    assert lookup[strategy._segment_key("重要挽留客户")] == "cant_lose"
    assert len(load_playbook()["segments"]) == 11
    path = tmp_path / "client.yaml"
    path.write_text(
        "triggers:\n"
        "  call_cant_lose:\n"
        "    name: Can't lose\n"
        "    segments: [cant_lose, at_risk]\n"
        "    when: 'monetary > 0'\n"
        "    finding: '{customers} {group}'\n"
        "    action: Call now\n",
        encoding="utf-8",
    )
    book = load_playbook(path)
    segs = {"A01": "Can't lose them", "B02": "At risk", "C01": "Champions", "C02": "Weird"}
    recs = recommend(crafted(segments=segs), playbook=book)
    assert fired_ids(recs, "call_cant_lose") == ["A01", "B02"]
    keys = recs.customers.set_index("customer_id")["segment_key"]
    assert keys["A01"] == "cant_lose" and pd.isna(keys["C02"])
    # default action follows the segment's plan, then the role's
    table = action_table(recs, language="en").set_index("customer_id")
    assert (
        table.loc["C01", "recommended_action"] == book["segments"]["champions"]["actions"][0]["en"]
    )
    assert table.loc["C02", "recommended_action"] == book["bottom"]["actions"][0]["en"]
    # without a segment column the segment trigger does not apply
    recs = recommend(crafted(), playbook=book)
    assert recs.skipped == ("call_cant_lose",) and fired_ids(recs, "call_cant_lose") == []
    html = segments_html(recommend(crafted(segments=segs), playbook=book), language="zh")
    assert "重要挽留客户" in html and "Weird" in html


# --- budget -------------------------------------------------------------------------


def budget_tiers():
    """A: 1000, 600 (at risk); B: 300, 100; C: 50 (at risk), 10 — hand-computable."""
    rows = [
        ("a1", "A", 1000.0, 10),
        ("a2", "A", 600.0, 80),
        ("b1", "B", 300.0, 10),
        ("b2", "B", 100.0, 10),
        ("c1", "C", 50.0, 80),
        ("c2", "C", 10.0, 10),
    ]
    df = pd.DataFrame(
        [
            {
                "customer_id": cid,
                "tier": tier,
                "monetary": m,
                "frequency": 3,
                "tenure_days": 100,
                "recency_days": r,
                "returns_value": 0.0,
                "gross_revenue": m,
                "aov": m / 3,
            }
            for cid, tier, m, r in rows
        ]
    )
    df["tier"] = pd.Categorical(df["tier"], categories=["A", "B", "C"], ordered=True)
    df["tier_rank"] = df["tier"].cat.codes + 1
    return df


# revenue 1600/400/60 of 2060; growth 0 / (800-300)+(800-100) / (200-50)+(200-10) of 1540;
# at risk: a2 (80 > 2 x 10) and c1: 600/0/50 of 650
W_A = 0.5 * 1600 / 2060 + 0.25 * 0 / 1540 + 0.25 * 600 / 650
W_B = 0.5 * 400 / 2060 + 0.25 * 1200 / 1540 + 0.25 * 0 / 650
W_C = 0.5 * 60 / 2060 + 0.25 * 340 / 1540 + 0.25 * 50 / 650


def test_budget_split_by_the_stated_rule():
    recs = recommend(budget_tiers(), spec=StrategySpec(budget=10_000))
    b = recs.budget.set_index("tier")
    assert list(recs.budget.columns) == list(BUDGET_COLUMNS)
    assert b["growth_potential"].tolist() == [0.0, 1200.0, 340.0]
    assert b["revenue_at_risk"].tolist() == [600.0, 0.0, 50.0]
    assert b["weight"].tolist() == pytest.approx([W_A, W_B, W_C])
    assert b["amount"].tolist() == pytest.approx([10_000 * W_A, 10_000 * W_B, 10_000 * W_C])
    assert b["share"].sum() == pytest.approx(1.0)
    assert recs.rule.used == ("revenue", "growth", "risk") and not recs.rule.equal_split
    en = budget_rule_text(recs.rule, language="en")
    assert en[0] == (
        "Each tier's share of the budget is 50% × its share of revenue + 25% × "
        "its share of the growth potential + 25% × its share of the revenue at risk."
    )
    zh = budget_rule_text(recs.rule, language="zh")
    assert zh[0] == "各等级的预算占比 = 50% × 营收占比 + 25% × 增长潜力占比 + 25% × 风险营收占比。"


def test_budget_cost_to_serve_is_set_aside_first():
    spec = StrategySpec(budget=10_000, cost_to_serve={"A": 1000})
    b = recommend(budget_tiers(), spec=spec).budget.set_index("tier")
    assert b.loc["A", "base_cost"] == 2000.0
    assert b["amount"].tolist() == pytest.approx([2000 + 8000 * W_A, 8000 * W_B, 8000 * W_C])
    # the costs exceed the budget: split in proportion to them, and say so
    recs = recommend(
        budget_tiers(), spec=StrategySpec(budget=1000, cost_to_serve={"A": 1000, "C": 250})
    )
    assert recs.rule.costs_exceed_budget
    assert recs.budget["amount"].tolist() == pytest.approx([800.0, 0.0, 200.0])
    assert "exceeds the budget" in " ".join(budget_rule_text(recs.rule, language="en"))
    with pytest.raises(TieringError, match="tier\\(s\\) that do not exist: D"):
        recommend(budget_tiers(), spec=StrategySpec(budget=10, cost_to_serve={"D": 1}))


def test_budget_without_risk_reweights_and_without_budget_gives_shares():
    tiers = budget_tiers()
    tiers["recency_days"] = 10  # nobody at risk
    recs = recommend(tiers, spec=StrategySpec(budget_weights={"revenue": 0.6}))
    b = recs.budget.set_index("tier")
    assert recs.rule.used == ("revenue", "growth")
    expected_a = (0.6 * 1600 / 2060) / 0.85
    assert b.loc["A", "share"] == pytest.approx(expected_a)
    assert b["amount"].isna().all()
    text = budget_rule_text(recs.rule, language="en")
    assert text[0] == (
        "Each tier's share of the budget is 70.6% × its share of revenue + "
        "29.4% × its share of the growth potential."
    )
    assert "no customer is at risk" in " ".join(text)
    frame = trigger_frame(tiers)
    out, rule = allocate_budget(
        frame, labels=["A", "B", "C"], weights={"revenue": 0, "growth": 0, "risk": 1}
    )
    assert rule.equal_split and out["share"].tolist() == pytest.approx([1 / 3] * 3)


def test_budget_params_are_validated():
    from tiering.errors import ParamsError
    from tiering.params import validate

    with pytest.raises(ParamsError) as info:
        validate(
            {
                "data": {"path": "x.csv"},
                "strategy": {
                    "budget": -5,
                    "budget_weights": {"revenu": 1},
                    "cost_to_serve": {"A": -1},
                },
            }
        )
    text = str(info.value)
    assert "strategy.budget" in text and "did you mean 'strategy.budget_weights.revenue'" in text
    assert "cost to serve must be a number, zero or more" in text
    spec = validate(
        {"data": {"path": "x.csv"}, "strategy": {"budget": 50000, "budget_weights": {"risk": 0.5}}}
    ).strategy
    assert spec.budget == 50000 and spec.budget_weights.revenue == 0.5
    assert spec.budget_weights.risk == 0.5 and spec.at_risk_factor == 2.0


def campaign_result(uplifts, *, campaign="Spring", last="2025-03-31", small=(), extra=None):
    """A CampaignAnalysis with a control group whose revenue uplift per contacted
    customer is ``uplifts`` (tier -> (uplift, low, high); ``*`` the overall row)."""
    from tiering.analysis.campaigns import CAMPAIGN_COLUMNS, UPLIFT_COLUMNS, CampaignAnalysis

    def campaigns_row(name, last_date):
        row = dict.fromkeys(CAMPAIGN_COLUMNS, 0)
        row.update(campaign=name, has_control=True, last_date=pd.Timestamp(last_date))
        return row

    def uplift_rows(name, table):
        rows = []
        for tier, (d, low, high) in table.items():
            row = dict.fromkeys(UPLIFT_COLUMNS, float("nan"))
            row.update(campaign=name, tier=tier, treatment=50, control=50, small=tier in small)
            row.update(revenue_uplift=d, revenue_uplift_low=low, revenue_uplift_high=high)
            row.update(response_uplift=d / 1000, response_uplift_low=low / 1000)
            row.update(response_uplift_high=high / 1000)
            rows.append(row)
        return rows

    camps, ups = [campaigns_row(campaign, last)], uplift_rows(campaign, uplifts)
    for name, (last_date, table) in (extra or {}).items():
        camps.append(campaigns_row(name, last_date))
        ups += uplift_rows(name, table)
    frame = pd.DataFrame
    return CampaignAnalysis(
        campaigns=frame(camps, columns=list(CAMPAIGN_COLUMNS)),
        rates=frame(),
        uplift=frame(ups, columns=list(UPLIFT_COLUMNS)),
        heterogeneity=frame(),
    )


UPLIFTS = {
    "A": (5.0, -1.0, 11.0),
    "B": (2.0, 0.5, 3.5),
    "C": (-1.0, -3.0, 1.0),
    "*": (1.0, 0.2, 1.8),
}


def test_budget_weighs_the_measured_uplift_by_hand():
    """Uplift per contacted customer 5, 2, -1 with 2 customers per tier: 10, 4, 0 (a
    negative uplift counts as 0) of 14; weights revenue 0.5, uplift 0.5, growth and risk
    0: A = 0.5 * 1600/2060 + 0.5 * 10/14."""
    spec = StrategySpec(
        budget=10_000, budget_weights={"revenue": 0.5, "growth": 0, "risk": 0, "uplift": 0.5}
    )
    recs = recommend(budget_tiers(), spec=spec, campaigns=campaign_result(UPLIFTS))
    b = recs.budget.set_index("tier")
    assert list(recs.budget.columns) == [*BUDGET_COLUMNS, *strategy.UPLIFT_BUDGET_COLUMNS]
    assert b["uplift_per_customer"].tolist() == [5.0, 2.0, -1.0]
    assert b["uplift_low"].tolist() == [-1.0, 0.5, -3.0]
    assert b["uplift_value"].tolist() == [10.0, 4.0, 0.0]
    assert b["uplift_share"].tolist() == pytest.approx([10 / 14, 4 / 14, 0.0])
    expected = [0.5 * r / 2060 + 0.5 * u / 14 for r, u in ((1600, 10), (400, 4), (60, 0))]
    assert b["weight"].tolist() == pytest.approx(expected)
    assert b["amount"].tolist() == pytest.approx([10_000 * w for w in expected])
    assert recs.rule.used == ("revenue", "uplift")
    assert (recs.rule.uplift_campaign, recs.rule.uplift_outcome) == ("Spring", "revenue")
    en = budget_rule_text(recs.rule, language="en")
    assert en[0] == (
        "Each tier's share of the budget is 50% × its share of revenue + 50% × "
        "its share of the measured campaign uplift."
    )
    assert any(x.startswith("Measured uplift (campaign: Spring): in each tier") for x in en)
    zh = budget_rule_text(recs.rule, language="zh")
    assert zh[0] == "各等级的预算占比 = 50% × 营收占比 + 50% × 实测活动提升占比。"
    assert any("在“Spring”活动中" in x for x in zh)
    # the default weights leave the uplift out and the table as it was
    plain = recommend(budget_tiers(), spec=StrategySpec(), campaigns=campaign_result(UPLIFTS))
    assert list(plain.budget.columns) == list(BUDGET_COLUMNS)
    assert plain.rule.uplift_campaign == "" and "uplift" not in plain.rule.used


def test_the_uplift_campaign_small_tiers_and_a_rate_outcome():
    from tiering.analysis.campaigns import tier_uplift
    from tiering.errors import DataError

    older = {"Winter": ("2024-12-31", {"A": (9.0, 8.0, 10.0), "*": (9.0, 8.0, 10.0)})}
    result = campaign_result(UPLIFTS, small=("B",), extra=older)
    table, reason = tier_uplift(result, ["A", "B", "C"])
    assert reason == "" and set(table["campaign"]) == {"Spring"}  # the latest campaign
    # a tier too small to measure takes the campaign's overall uplift, and says so
    assert table["uplift"].tolist() == [5.0, 1.0, -1.0]
    assert table["source"].tolist() == ["tier", "overall", "tier"]
    named, _ = tier_uplift(result, ["A", "B", "C"], campaign="Winter")
    # B and C were not in Winter: the overall uplift
    assert named["uplift"].tolist() == [9.0, 9.0, 9.0]
    assert named["source"].tolist() == ["tier", "overall", "overall"]
    with pytest.raises(DataError) as info:
        tier_uplift(result, ["A", "B", "C"], campaign="Sprng")
    assert "'Sprng'" in str(info.value) and "Spring, Winter" in info.value.hint
    # without revenue the response uplift is weighed
    no_revenue = campaign_result(UPLIFTS)
    no_revenue.uplift["revenue_uplift"] = float("nan")
    rates, _ = tier_uplift(no_revenue, ["A", "B", "C"])
    assert set(rates["outcome"]) == {"responded"}
    assert rates["uplift"].tolist() == pytest.approx([0.005, 0.002, -0.001])
    # no campaign with a control group; nothing positive
    none = campaign_result({})
    none.campaigns["has_control"] = False
    assert tier_uplift(none, ["A", "B", "C"])[1] == "no_control"
    assert tier_uplift(None, ["A", "B", "C"])[1] == "no_campaigns"
    spec = StrategySpec(budget_weights={"uplift": 1})
    recs = recommend(budget_tiers(), spec=spec, campaigns=none)
    assert recs.rule.uplift_reason == "no_control" and "uplift" not in recs.rule.used
    text = " ".join(budget_rule_text(recs.rule, language="en"))
    assert "no campaign in the campaign file has a control group" in text
    assert recs.budget["uplift_source"].tolist() == ["", "", ""]
    losing = campaign_result({"A": (-1.0, -2.0, 0.0), "B": (0.0, -1.0, 1.0), "*": (-0.5, -1, 0)})
    recs = recommend(budget_tiers(), spec=spec, campaigns=losing)
    assert recs.rule.uplift_reason == "none_positive"
    assert "in no tier did the treatment group do better" in " ".join(
        budget_rule_text(recs.rule, language="en")
    )


def test_an_uplift_that_cannot_be_measured_says_why():
    """A campaign with a control group none of whose customers are tiered (ids written
    another way) is named as such, also when the uplift is all the rule weighs and the
    budget falls back to an equal split."""
    from tiering.analysis.campaigns import tier_uplift

    unmatched = campaign_result({})  # has a control group, no uplift row: no tiered contacts
    assert tier_uplift(unmatched, ["A", "B", "C"])[1] == "no_tiered_contacts"
    assert tier_uplift(unmatched, ["A", "B", "C"], campaign="Spring")[1] == "no_tiered_contacts"
    spec = StrategySpec(budget_weights={"revenue": 0, "growth": 0, "risk": 0, "uplift": 1})
    recs = recommend(budget_tiers(), spec=spec, campaigns=unmatched)
    assert recs.rule.equal_split and recs.rule.uplift_reason == "no_tiered_contacts"
    assert recs.budget["share"].tolist() == pytest.approx([1 / 3] * 3)
    en = budget_rule_text(recs.rule, language="en")
    assert en[0].startswith("No tier has any of what the rule weighs")
    assert "holds none of the tiered customers" in en[1] and "customer IDs" in en[1]
    zh = budget_rule_text(recs.rule, language="zh")
    assert "没有已分级的客户" in zh[1] and "客户编号" in zh[1]


def test_the_uplift_weight_needs_a_campaign_file():
    from tiering.errors import ParamsError
    from tiering.params import validate

    for strategy_block, words in (
        ({"budget_weights": {"uplift": 0.25}}, "no campaign file is given; add data.campaigns"),
        ({"uplift_campaign": "Spring"}, "budget_weights.uplift is 0; give budget_weights.uplift"),
    ):
        with pytest.raises(ParamsError, match=re.escape(words)):
            validate({"data": {"path": "x.csv"}, "strategy": strategy_block})
    spec = validate(
        {
            "data": {"path": "x.csv", "campaigns": {"path": "c.csv"}},
            "strategy": {"budget_weights": {"uplift": 0.25}, "uplift_campaign": "Spring"},
        }
    ).strategy
    assert spec.budget_weights.uplift == 0.25 and spec.uplift_campaign == "Spring"
    assert validate({"data": {"path": "x.csv"}}).strategy.budget_weights.uplift == 0


def test_recommend_is_deterministic():
    tiers = crafted(
        {
            "B01": {"frequency": 8, "monetary": 1_600.0},
            "C01": {"frequency": 1},
            "C02": {"frequency": 1},
        }
    )
    a, b = recommend(tiers), recommend(tiers.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(a.fired, b.fired)
    pd.testing.assert_frame_equal(a.budget, b.budget)


# --- the report section ---------------------------------------------------------------


def fake_analysis(language, *, tiers=None, budget=None):
    tiers = (
        crafted(
            {
                "VIP01": {"frequency": 5, "tenure_days": 420, "recency_days": 180},
                "普通01": {"frequency": 8, "monetary": 1_600.0},
                "低01": {"frequency": 1},
                "低02": {"frequency": 1},
            },
            labels=("VIP", "普通", "低"),
            sizes={"VIP": 4, "普通": 4, "低": 5},
        )
        if tiers is None
        else tiers
    )
    params = Params(
        data={"path": "x.csv"}, language=language, strategy={"budget": budget} if budget else {}
    )
    summ = (
        tiers.groupby("tier", observed=False)
        .agg(
            customers=("customer_id", "size"),
            revenue=("monetary", "sum"),
            monetary_median=("monetary", "median"),
            recency_median=("recency_days", "median"),
        )
        .reset_index()
    )
    summ["tier"] = summ["tier"].astype(str)
    summ["tier_rank"] = range(1, len(summ) + 1)
    summ["customer_share"] = summ["customers"] / summ["customers"].sum()
    summ["revenue_share"] = summ["revenue"] / summ["revenue"].sum()
    return types.SimpleNamespace(
        params=params, tiers=tiers, tier_summary=summ, playbook=load_playbook()
    )


QUIET.update({"VIP": QUIET["A"], "普通": QUIET["B"], "低": QUIET["C"]})


@pytest.mark.parametrize("budget", [None, 120_000])
def test_section_strategy_in_chinese_has_no_english(budget):
    from tiering.present.strategy import section_strategy

    page = section_strategy(fake_analysis("zh", budget=budget))
    visible = re.sub(r"<[^>]+>", " ", page)
    assert "流失预警的高价值客户" not in visible  # names are not shown, actions are
    assert "两周内由客户经理亲自致电回访" in visible
    assert "仅购买过一次" in visible and "预算" in visible
    assert "低客户中有40.0%（2位）仅购买过一次" in visible
    if budget:
        assert "¥120,000" in visible
    for allowed in ("VIP", "action_lists.xlsx", "action_lists.csv"):
        visible = visible.replace(allowed, "")
    assert not ASCII_LETTER.search(visible), ASCII_LETTER.findall(visible)[:20]


def test_section_strategy_english_cards_with_numbers_and_budget():
    from tiering.present.strategy import section_strategy

    a = fake_analysis("en", budget=10_000)
    page = section_strategy(a)
    assert page.count('class="strategy-card ') == 3 and page.count("tier-page") == 3
    assert "Priority actions from your data" in page
    assert "1 VIP-tier customer has not bought for more than 1.5×" in page
    assert "1 普通 customer orders often" in page  # a CJK label is not "普通-tier"
    assert 'class="strategy-note dormant"' in page  # the dormant note stays
    assert "Each tier&#x27;s share of the budget is 50% × its share of revenue" in page
    assert "suggested budget" in page and "The data raised 3 priority actions" in page
    # stored recommendations are used as they are
    recs = recommend(a.tiers, a.tier_summary, spec=StrategySpec(budget=777))
    a = types.SimpleNamespace(**vars(a), recommendations=recs)
    assert "¥777" in section_strategy(a)


def test_cards_html_escapes_trigger_texts():
    book = load_playbook()
    book["triggers"]["at_risk_vip"]["action"] = {"en": "<b>call</b>", "zh": "<b>致电</b>"}
    tiers = crafted({"A01": {"frequency": 5, "tenure_days": 420, "recency_days": 180}})
    recs = recommend(tiers, playbook=book)
    page = strategy_cards_html(
        tier_strategies(summary(), language="en"), language="en", recommendations=recs
    )
    assert "<b>call</b>" not in page and "&lt;b&gt;call&lt;/b&gt;" in page


def test_many_overlapping_triggers_join_in_order_with_the_first_priority(tmp_path):
    """Per customer, the ids of every trigger that caught them in the playbook's order
    (priority, then id) and the priority of the first; a trigger counts in a tier only
    with ``min_customers`` caught there. Checked against a customer-by-customer reading
    of the same rules, with more triggers than a 64-bit mask holds."""
    shipped = load_playbook()["triggers"]
    lines = ["triggers:"] + [f"  {tid}: {{enabled: false}}" for tid in shipped]
    rules = {}
    for i in range(70):
        tid = f"spend{i:02d}"
        floor, priority, least = (i * 37) % 700, 1 + (i * 7) % 5, 1 + i % 4
        rules[tid] = (floor, priority, least)
        lines += [
            f"  {tid}:",
            f"    name: {{en: Spend {i}, zh: 消费{i}}}",
            f"    when: 'monetary >= {floor}'",
            f"    priority: {priority}",
            f"    min_customers: {least}",
            "    finding: {en: '{customers} {group}', zh: '{group}{customers}'}",
            "    action: Call",
        ]
    path = tmp_path / "book.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spend = {
        f"{t}{i:02d}": {"monetary": 90.0 * i + 400 * (t == "A")}
        for t in "ABC"
        for i in (1, 2, 3, 4)
    }
    tiers = crafted(spend)
    recs = recommend(tiers, playbook=load_playbook(path))
    order = sorted(rules, key=lambda tid: (rules[tid][1], tid))
    counts = {
        (tid, tier): int(((tiers["monetary"] >= rules[tid][0]) & (tiers["tier"] == tier)).sum())
        for tid in order
        for tier in "ABC"
    }
    got = recs.customers.set_index("customer_id")
    fired_anywhere = set()
    for row in tiers.itertuples():
        caught = [
            tid
            for tid in order
            if row.monetary >= rules[tid][0] and counts[tid, row.tier] >= rules[tid][2]
        ]
        fired_anywhere.update(caught)
        assert got.loc[row.customer_id, "triggers"] == ";".join(caught), row.customer_id
        want = rules[caught[0]][1] if caught else None
        have = got.loc[row.customer_id, "priority"]
        assert (pd.isna(have) and want is None) or have == want, row.customer_id
    assert len(fired_anywhere) > 64 and got["triggers"].dtype == object
    assert str(got["priority"].dtype) == "Int64"
    assert set(recs.fired["trigger_id"]) == fired_anywhere
