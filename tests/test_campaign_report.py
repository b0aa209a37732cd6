"""The campaign section "Do the tiers respond differently?" in the report, campaigns.csv
and the data section's lines on the customer master and the campaign file
(tiering.present.campaigns, tiering.analysis.campaigns.campaign_table, the pipeline's
campaign step)."""

from __future__ import annotations

import dataclasses
import html
import importlib.util
import re
import sys

import numpy as np
import pandas as pd
import pytest

from tiering import params
from tiering.analysis import campaigns, pipeline
from tiering.build import outputs
from tiering.present import campaigns as present
from tiering.present import narrative

from .conftest import ROOT

GENERATOR = ROOT / "data" / "generate_demo.py"


@pytest.fixture(scope="module")
def generator():
    """data/generate_demo.py as a module (its planted constants)."""
    spec = importlib.util.spec_from_file_location("generate_demo", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_demo", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo():
    """The demo analysis (params/demo.yaml: master and campaign included), without the
    value model, which the campaign section does not use."""
    cfg = params.load(ROOT / "params" / "demo.yaml", overrides=["value.enabled=false"])
    return pipeline.run(cfg)


def in_language(analysis, language: str):
    return dataclasses.replace(
        analysis, params=analysis.params.model_copy(update={"language": language})
    )


def text_of(fragment: str) -> str:
    """The words of an HTML fragment (figures dropped, tags as spaces)."""
    fragment = re.sub(r"<figure.*?</figure>", " ", fragment, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def number(text: str) -> float:
    return float(text.replace("\u2212", "-").replace("+", ""))


def table_intervals(section: str) -> dict[str, list[tuple[float, float, float]]]:
    """Per tier row of the section's table: (estimate, low, high) of each uplift cell in
    points, as printed."""
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S):
        tier = re.search(r'class="tier-badge[^"]*"[^>]*>([^<]+)<', row) or re.search(
            r"<td>([^<]+)</td>", row
        )
        cells = re.findall(
            r'([+\u2212]?\d+\.\d)<br><span class="ci">([+\u2212]?\d+\.\d) – ([+\u2212]?\d+\.\d)<',
            row,
        )
        if tier and cells:
            rows[tier.group(1).strip()] = [tuple(map(number, c)) for c in cells]
    return rows


# --------------------------------------------------------------------------- the section


def test_the_section_shows_the_planted_uplift_within_its_printed_interval(demo, generator):
    """The demo's campaign: the tiers before it (the holdout check's, on the data before
    2025-10-01) and, per tier, the planted uplift of response and conversion (points)
    inside the interval the report prints; the heterogeneity test in one sentence."""
    analysis, _ = demo
    result = analysis.campaigns
    assert result.params["tier_basis"] == "holdout_cutoff"
    assert result.params["tier_date"].isoformat() == "2025-10-01"
    section = present.section_campaigns(analysis)
    words = text_of(section)
    assert "Do the tiers respond differently?" in words
    assert "tiered by the same method on the transactions before 1 Oct 2025" in words
    printed = table_intervals(section)
    assert set(printed) >= set(generator.TIERS)
    for tier in generator.TIERS:
        (r_est, r_low, r_high), (c_est, c_low, c_high) = printed[tier]
        assert r_low <= generator.PLANTED_RESPONSE[tier][1] * 100 <= r_high, tier
        assert c_low <= generator.PLANTED_CONVERSION[tier][1] * 100 <= c_high, tier
        u = result.uplift.set_index("tier").loc[tier]
        assert r_est == pytest.approx(u["response_uplift"] * 100, abs=0.05)
        assert r_low == pytest.approx(u["response_uplift_low"] * 100, abs=0.05)
    # B's planted +15 points: worded as an effect with its interval
    b = result.uplift.set_index("tier").loc["B"]
    assert b["response_uplift_low"] > 0
    assert (
        f"The campaign raised B-tier customers' response rate by "
        f"{b['response_uplift'] * 100:.1f} points (95% CI "
        f"+{b['response_uplift_low'] * 100:.1f} to +{b['response_uplift_high'] * 100:.1f})"
    ) in words
    # A's planted +1 point is not told from zero, and the section says so
    assert "For A-tier customers the campaign's effect on response rate cannot be told" in words
    het = result.heterogeneity.set_index("outcome").loc["responded"]
    assert het["p_value"] < 0.01
    q = f"{het['statistic']:.1f}"
    assert (
        f"The uplift in response rate differs between the tiers (Cochran's Q = {q}, "
        f"2 degrees of freedom, p = {het['p_value']:.3f})"
    ) in words
    assert "<figure" in section and "campaigns.csv" in words


def test_the_section_in_chinese(demo):
    analysis, _ = demo
    zh = in_language(analysis, "zh")
    words = text_of(present.section_campaigns(zh))
    assert "各层级对营销活动的响应" in words
    for word in ("响应率", "转化率", "对照组", "实验组", "提升"):
        assert word in words, word
    assert "活动使B级客户的响应率提升了" in words
    assert "Cochran's Q" in words and "自由度2" in words
    for english in ("treatment", "control", "response", "uplift", "points"):
        assert english not in words.lower(), english
    assert narrative.section_campaigns(zh) == present.section_campaigns(zh)


def small_analysis(demo, contacts: pd.DataFrame, tiers: pd.DataFrame):
    """The demo analysis with the campaign results of ``contacts`` for ``tiers``."""
    analysis, _ = demo
    result = campaigns.campaign_results(contacts, tiers, labels=["A", "B", "C"], n_boot=200)
    result = dataclasses.replace(result, params={**result.params, "tier_basis": "current"})
    return dataclasses.replace(analysis, campaigns=result)


def contacts_of(spec: dict[str, tuple[str, int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts and tiers: per tier, (group, customers, responders); every responder
    converts; revenue 0."""
    rows, tiers = [], []
    for tier, arms in spec.items():
        for group, n, hits in arms:
            for i in range(n):
                cid = f"{tier}{group[0]}{i:03d}"
                rows.append(
                    {
                        "customer_id": cid,
                        "campaign": "Spring",
                        "date": pd.Timestamp("2025-03-01"),
                        "group": group,
                        "responded": i < hits,
                        "converted": i < hits,
                        "revenue": 0.0,
                    }
                )
                tiers.append({"customer_id": cid, "tier": tier})
    return pd.DataFrame(rows), pd.DataFrame(tiers)


def test_without_a_control_group_no_causal_wording(demo):
    """All contacted customers treated: rates with Wilson intervals (3/10: 10.8%-60.3%,
    Newcombe 1998 Table I method 3 gives 0.1078-0.6032), a note that no effect can be
    told, and no word of raising, uplift or effect."""
    contacts, tiers = contacts_of(
        {"A": [("treatment", 10, 3)], "B": [("treatment", 20, 2)], "C": [("treatment", 40, 1)]}
    )
    analysis = small_analysis(demo, contacts, tiers)
    assert not analysis.campaigns.campaigns["causal_wording"].iloc[0]
    words = text_of(present.section_campaigns(analysis))
    assert "This campaign has no control group" in words
    assert "A-tier customers: response rate 30.0% (95% CI 10.8% to 60.3%)" in words
    for causal in ("raised", "lowered", "uplift (", "cannot be told from zero", "Cochran"):
        assert causal not in words, causal
    assert "Uplift per tier" not in words  # the chart shows rates, titled so
    zh = text_of(present.section_campaigns(in_language(analysis, "zh")))
    assert "本次活动没有对照组" in zh and "提升了" not in zh


def test_a_tier_too_small_to_test_and_the_test_not_run(demo):
    """Only one tier has 10 customers in each group: the uplift is shown for all, the
    small ones flagged, and the heterogeneity test is said not to have run."""
    contacts, tiers = contacts_of(
        {
            "A": [("treatment", 30, 12), ("control", 30, 3)],
            "B": [("treatment", 5, 2), ("control", 4, 1)],
        }
    )
    analysis = small_analysis(demo, contacts, tiers)
    words = text_of(present.section_campaigns(analysis))
    assert "Whether the uplift differs between the tiers was not tested" in words
    assert "B: fewer than 10 customers in a group" in words
    # A: 12/30 against 3/30 = +30 points, Newcombe's interval above zero
    assert "The campaign raised A-tier customers' response rate by 30.0 points" in words


# --------------------------------------------------------------------------- campaigns.csv


def test_campaigns_csv_holds_the_analysis_tables(demo, tmp_path):
    analysis, loaded = demo
    names = outputs.write_tables(analysis, loaded, tmp_path)
    assert "campaigns.csv" in names
    table = pd.read_csv(tmp_path / "campaigns.csv", dtype={"campaign": str, "tier": str})
    assert tuple(table.columns) == campaigns.TABLE_COLUMNS
    assert list(table["tier"]) == ["A", "B", "C", "*"]
    assert (table["tier_basis"] == "holdout_cutoff").all()
    rates = analysis.campaigns.rates.set_index(["tier", "group"])
    uplift = analysis.campaigns.uplift.set_index("tier")
    for row in table.itertuples():
        for group in ("treatment", "control"):
            r = rates.loc[(row.tier, group)]
            assert getattr(row, f"{group}_customers") == r["customers"]
            assert getattr(row, f"{group}_responders") == r["responders"]
            assert getattr(row, f"{group}_response_rate") == pytest.approx(
                r["responders"] / r["customers"]
            )
            assert getattr(row, f"{group}_conversion_low") == pytest.approx(r["conversion_low"])
        u = uplift.loc[row.tier]
        for col in ("response_uplift_high", "conversion_uplift", "revenue_uplift_low"):
            assert getattr(row, col) == pytest.approx(u[col])
        assert row.response_uplift == pytest.approx(
            row.treatment_response_rate - row.control_response_rate
        )


def test_campaign_table_on_a_published_example():
    """Newcombe (1998), Table II, example (a): 56/70 against 48/80; method 10 (hybrid
    score) gives 0.0524 to 0.3339 for the difference 0.2."""
    contacts, tiers = contacts_of({"A": [("treatment", 70, 56), ("control", 80, 48)]})
    result = campaigns.campaign_results(contacts, tiers, labels=["A"], n_boot=50)
    table = campaigns.campaign_table(result).set_index("tier")
    a = table.loc["A"]
    assert a["response_uplift"] == pytest.approx(0.2)
    assert a["response_uplift_low"] == pytest.approx(0.0524, abs=5e-5)
    assert a["response_uplift_high"] == pytest.approx(0.3339, abs=5e-5)
    assert (a["treatment_customers"], a["control_customers"]) == (70, 80)
    assert a["treatment_response_rate"] == pytest.approx(0.8)
    assert a["tier_basis"] == "current"
    assert not a["small"]


def test_without_a_control_group_the_table_has_no_uplift():
    contacts, tiers = contacts_of({"A": [("treatment", 10, 3)]})
    result = campaigns.campaign_results(contacts, tiers, labels=["A"], n_boot=50)
    table = campaigns.campaign_table(result)
    assert table["treatment_response_low"].iloc[0] == pytest.approx(0.1078, abs=5e-5)
    assert table["treatment_response_high"].iloc[0] == pytest.approx(0.6032, abs=5e-5)
    assert table[["control_customers", "response_uplift", "revenue_uplift"]].isna().all().all()


# --------------------------------------------------------------------------- tier basis, data section


def test_without_the_holdout_check_todays_tiers_are_used_and_said(demo):
    analysis, loaded = demo
    result, _ = pipeline.campaigns_of(
        analysis.tiers,
        loaded,
        analysis.params,
        holdout=None,
        window_start=analysis.period_start,
    )
    assert result.params["tier_basis"] == "current"
    # today's tiers: the customers counted are today's tiered ones
    counted = result.uplift.set_index("tier").loc["*", ["treatment", "control"]].sum()
    assert counted == result.campaigns["customers"].iloc[0] - result.campaigns["untiered"].iloc[0]
    words = text_of(present.section_campaigns(analysis, result))
    assert "Customers are counted in today's tier (tiered on the data up to 31 Dec 2025)" in words


def test_the_data_section_gives_the_master_join_and_the_campaign_file(demo, generator):
    analysis, _ = demo
    m = analysis.source["customer_master"]
    missing = len(generator.MASTER_MISSING)
    assert (m["matched"], m["transactions_only"]) == (
        generator.N_CUSTOMERS - missing - 2,
        missing + 2,
    )
    words = text_of(narrative.section_data(analysis))
    assert (
        f"Customer master demo_customers.csv: 3,000 rows read, 2,998 used; "
        f"{m['matched']:,} of the 3,000 customers with transactions are in it, "
        f"{m['transactions_only']} are not, and {m['master_only']} customers of the master "
        "have no transactions in the period."
    ) in words
    assert "One unmatched id would match if leading zeros were ignored" in words
    assert "2 rows of the master were rejected (customer ID on several rows" in words
    assert "Campaign results demo_campaigns.csv: 2,903 rows read, 2,903 used." in words
    zh = text_of(narrative.section_data(in_language(analysis, "zh")))
    assert "客户主数据demo_customers.csv：读取3,000行，使用2,998行" in zh
    assert "营销活动结果demo_campaigns.csv" in zh


def test_the_appendix_lists_campaigns_csv(demo):
    analysis, _ = demo
    words = text_of(narrative.section_appendix(analysis))
    assert "campaigns.csv" in words
    assert np.isfinite(analysis.campaigns.campaigns["balance_p"].iloc[0])


# --------------------------------------------------------------------------- action lists


def test_action_lists_take_the_owner_and_flag_the_overdue():
    """The master's owner fills the owner column (blank where it names none); overdue
    customers get a credit flag with their days (or without, when only an amount says
    so); customers not overdue or unknown get none."""
    from tiering.build.action_lists import credit_flags, owners

    tiers = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4", "5"],
            "owner": ["Wang Li", None, "张伟", np.nan, "Ann"],
            "overdue_days": [95.0, 0.0, np.nan, 3.0, 1200.0],
            "overdue": pd.array([True, True, pd.NA, True, True], dtype="boolean"),
        }
    )
    tiers.loc[1, "overdue_days"] = np.nan  # overdue by amount only
    assert list(owners(tiers)) == ["Wang Li", "", "张伟", "", "Ann"]
    assert list(credit_flags(tiers, language="en")) == [
        "overdue 95 days",
        "overdue",
        "",
        "overdue 3 days",
        "overdue 1,200 days",
    ]
    assert list(credit_flags(tiers, language="zh"))[:2] == ["逾期95天", "逾期"]
    assert list(owners(tiers.drop(columns=["owner"]))) == [""] * 5


def test_the_demo_action_list_has_owners_and_credit_flags(demo):
    from tiering.build.action_lists import action_list

    analysis, _ = demo
    rows = action_list(analysis.tiers, analysis.recommendations, language="en")
    assert rows.columns[-1] == "owner" and "credit_flag" in rows.columns
    master = analysis.tiers.set_index(analysis.tiers["customer_id"].astype(str))
    joined = rows.set_index("customer_id")
    owner = master.loc[joined.index, "owner"]
    assert (joined["owner"] == owner.fillna("").astype(str)).all()
    assert (joined["owner"] != "").sum() > 0
    late = master.loc[joined.index, "overdue"].fillna(False).astype(bool)
    assert (joined["credit_flag"] != "").eq(late).all()
    assert late.sum() > 0


# --------------------------------------------------------------------------- profiles


def test_master_profile_by_hand():
    tiers = pd.DataFrame(
        {
            "tier": pd.Categorical(
                ["A", "A", "A", "B", "B", "B", "B"], ["A", "B", "C"], ordered=True
            ),
            "credit_rating": ["AA", "AA", "B", "B", None, " ", "C"],
            "overdue": pd.array([True, False, pd.NA, False, False, False, True], dtype="boolean"),
            "satisfaction": [5.0, 3.0, np.nan, 2.0, 4.0, 4.0, 1.0],
        }
    )
    prof = stats_module().master_profile(
        tiers, categorical=["credit_rating", "overdue"], numeric=["satisfaction"]
    )
    assert tuple(prof.columns) == stats_module().MASTER_PROFILE_COLUMNS
    a = prof[(prof["tier"] == "A") & (prof["measure"] == "credit_rating")]
    assert list(zip(a["category"], a["customers"], a["known"])) == [("AA", 2, 3), ("B", 1, 3)]
    assert a["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    b = prof[(prof["tier"] == "B") & (prof["measure"] == "credit_rating")]
    assert list(zip(b["category"], b["customers"], b["known"])) == [("B", 1, 2), ("C", 1, 2)]
    over = prof[prof["measure"] == "overdue"].set_index("tier")
    assert (over.loc["A", "customers"], over.loc["A", "known"]) == (1, 2)
    assert over.loc["B", "share"] == pytest.approx(0.25)
    assert over.loc["C", "known"] == 0 and np.isnan(over.loc["C", "share"])
    sat = prof[prof["measure"] == "satisfaction"].set_index("tier")
    assert sat.loc["A", "median"] == 4.0 and sat.loc["A", "known"] == 2
    assert sat.loc["B", "median"] == 3.0


def stats_module():
    from tiering.analysis import stats

    return stats


def test_the_master_enters_the_statistics_and_the_profiles(demo):
    """The demo master's numbers and categories are compared across the tiers (Kruskal-
    Wallis, chi-square with Cramér's V) beside the transactions' measures; the
    transactions' own customer_type attribute is not taken for the master's; the
    profiles section shows the master per tier."""
    analysis, _ = demo
    numeric, categorical = pipeline.master_measures(
        analysis.tiers, attributes=analysis.params.data.attributes
    )
    assert numeric == [
        "credit_score",
        "overdue_days",
        "satisfaction",
        "referrals",
        "tenure_months",
    ]
    assert categorical == ["credit_rating", "industry", "list_status"]
    tests = analysis.comparison.tests
    omni = tests[tests["test"].isin(["kruskal_wallis", "chi_square"])].set_index("metric")
    assert omni.loc["credit_score", "test"] == "kruskal_wallis"
    assert omni.loc["credit_rating", "test"] == "chi_square"
    assert omni.loc["credit_rating", "effect_size_name"] == "cramers_v"
    assert 0 < omni.loc["credit_rating", "effect_size"] <= 1
    words = text_of(narrative.section_profiles(analysis))
    assert "From the customer master" in words
    for name in ("Credit rating", "Industry", "Overdue", "Credit score", "Satisfaction"):
        assert name in words, name
    # the A tier's overdue share as the table prints it, computed here from the tiers
    a = analysis.tiers[analysis.tiers["tier"] == "A"]
    known = a["overdue"].dropna()
    assert f"{known.mean() * 100:.0f}% of {len(known):,}" in words
    zh = text_of(narrative.section_profiles(in_language(analysis, "zh")))
    assert "客户主数据画像" in zh and "信用等级" in zh


# --------------------------------------------------------------------------- bad input


def test_a_campaign_file_with_nothing_usable_is_counted_and_said(demo, tmp_path):
    """Unknown group values and a date outside the analysis window: every row is a
    counted rejection, listed with the file's name among the rejected rows; the section
    says there is nothing to measure instead of failing."""
    analysis, loaded = demo
    path = tmp_path / "campaign.csv"
    path.write_text(
        "customer_id,campaign,date,group,responded\n"
        "001001,Spring,2025-03-01,maybe,1\n"
        "001002,Spring,2025-03-01,B-arm,0\n"
        "001003,Spring,2026-03-01,treatment,1\n",
        encoding="utf-8",
    )
    cfg = analysis.params.model_copy(
        update={
            "data": analysis.params.data.model_copy(
                update={"campaigns": params.CampaignSource(path=path)}
            )
        }
    )
    result, after = pipeline.campaigns_of(
        analysis.tiers, loaded, cfg, holdout=analysis.holdout, window_start=analysis.period_start
    )
    src = after.source["campaigns"]
    assert (src["rows_read"], src["rows_used"], src["rows_rejected"]) == (3, 0, 3)
    assert src["rejected_by_reason"] == {"unknown_group": 2, "campaign_outside_window": 1}
    added = after.rejected.iloc[len(loaded.rejected) :]
    assert len(added) == 3 and added["detail"].str.startswith("campaign.csv row ").all()
    assert result.campaigns.empty
    shown = dataclasses.replace(analysis, campaigns=result, source=after.source)
    words = text_of(present.section_campaigns(shown))
    assert "No row of the campaign file campaign.csv could be used (3 rows rejected" in words
    data = text_of(narrative.section_data(shown))
    assert "Campaign results campaign.csv: 3 rows read, 0 used; 3 rejected" in data


@pytest.mark.slow
def test_the_budget_by_measured_uplift_example_report(tmp_path):
    """params/examples/uplift_budget.yaml: the budget weighs the uplift the demo campaign
    measured (revenue per contacted customer, treatment - control, per tier) in place of
    the assumed growth; the PDF's budget table and rule say so, in English and Chinese,
    and the shares are the measured uplift times the tier's customers."""
    import subprocess

    from tiering import cli

    from .conftest import need_tool

    exe = need_tool("pdftotext")
    example = ROOT / "params" / "examples" / "uplift_budget.yaml"
    texts = {}
    for lang in ("en", "zh"):
        out = tmp_path / lang
        assert (
            cli.main(
                ["report", str(example), "--output", str(out), "--set", f"language={lang}", "-q"]
            )
            == 0
        )
        texts[lang] = subprocess.run(
            [exe, str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
        ).stdout
    budget = pd.read_csv(tmp_path / "en" / "budget.csv").set_index("tier")
    table = pd.read_csv(tmp_path / "en" / "campaigns.csv")
    measured = table[table["tier"].isin(["A", "B", "C"])].set_index("tier")["revenue_uplift"]
    value = measured.clip(lower=0) * budget["customers"]
    assert budget["uplift_per_customer"].tolist() == pytest.approx(measured.tolist())
    assert budget["uplift_share"].tolist() == pytest.approx((value / value.sum()).tolist())
    expected = 0.5 * budget["revenue_share"] + 0.25 * budget["risk_share"]
    expected += 0.25 * budget["uplift_share"]
    assert budget["weight"].tolist() == pytest.approx(expected.tolist())
    assert budget["amount"].sum() == pytest.approx(100_000)
    # the planted effect: B gains most per customer in response, and its share of the
    # measured uplift exceeds its share of revenue
    assert budget.loc["B", "uplift_share"] > budget.loc["B", "revenue_share"]
    en = re.sub(r"\s+", " ", texts["en"])
    assert "Measured uplift share" in en and "Growth potential share" not in en
    assert "25% × its share of the measured campaign uplift" in en
    assert "Measured uplift (campaign: Autumn loyalty offer 2025): in each tier" in en
    zh = re.sub(r"\s+", "", texts["zh"])
    assert "实测提升占比" in zh and "25%×实测活动提升占比" in zh
    assert "在“Autumnloyaltyoffer2025”活动中" in zh
