"""Campaign results: the reader (tiering.data.campaigns: roles, every rejection reason
with its row) and the analysis (tiering.analysis.campaigns: Wilson and Newcombe
intervals against Newcombe 1998, uplift on a hand-made case, the heterogeneity test
against a hand computation, no causal wording without a control group)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from tiering import params
from tiering.analysis import campaigns as ca
from tiering.data import campaigns as cd
from tiering.errors import DataError
from tiering.params import CampaignSource

WINDOW = {"window_start": dt.date(2024, 1, 1), "as_of": dt.date(2024, 7, 1)}


def read(path, *, window=WINDOW, **kw) -> cd.CampaignResult:
    return cd.read_campaigns(CampaignSource(path=path, **kw), **window)


def reasons_of(result) -> dict[int, str]:
    return dict(zip(result.rejected["row"], result.rejected["reason"], strict=True))


# --------------------------------------------------------------------------- reader

ZH = (
    "会员号,活动名称,活动日期,组别,是否响应,是否转化,转化金额\n"
    "A1,春季促销,2024-03-01,实验组,是,是,120.50\n"  # 2
    "A2,春季促销,2024-03-01,对照组,否,否,\n"  # 3
    "A3,春季促销,2024-03-01,实验组,1,0,0\n"  # 4
    "A4,春季促销,2024-03-01,其他,1,0,0\n"  # 5: unknown_group
    "A5,春季促销,2023-12-31,实验组,1,0,0\n"  # 6: campaign_outside_window (before)
    "A6,春季促销,2024-03-01,对照组,1.5,0,0\n"  # 7: bad_flag (a rate above 1)
    "A7,春季促销,2024-03-01,对照组,1,0,-5\n"  # 8: negative_revenue
    "A8,春季促销,2024-03-01,对照组,1,1,abc\n"  # 9: bad_revenue
    "A9,春季促销,2024-03-01,实验组,1,0,0\n"  # 10: conflicting_group
    "A9,春季促销,2024-03-02,对照组,0,0,0\n"  # 11: conflicting_group
    ",春季促销,2024-03-01,实验组,1,0,0\n"  # 12: missing_customer_id
    "A10,,2024-03-01,实验组,1,0,0\n"  # 13: missing_campaign
    "A11,春季促销,2024-99-01,实验组,1,0,0\n"  # 14: bad_campaign_date
    "A12,春季促销,2024-07-01,实验组,1,0,0\n"  # 15: campaign_outside_window (on as_of)
    "A13,春季促销,2024-03-01,,1,0,0\n"  # 16: unknown_group (blank)
    "A14,春季促销,2024-03-01,对照组,2,0,0\n"  # 17: bad_flag
    "A15,春季促销,2024-03-01,control,0,yes,0\n"  # 18
)


def test_chinese_headers_and_every_rejection_reason_with_its_row(write_csv):
    r = read(write_csv(ZH, "camp.csv"))
    assert r.source["columns"] == {
        "customer_id": "会员号",
        "campaign": "活动名称",
        "date": "活动日期",
        "group": "组别",
        "responded": "是否响应",
        "converted": "是否转化",
        "revenue": "转化金额",
    }
    assert reasons_of(r) == {
        5: "unknown_group",
        6: "campaign_outside_window",
        7: "bad_flag",
        8: "negative_revenue",
        9: "bad_revenue",
        10: "conflicting_group",
        11: "conflicting_group",
        12: "missing_customer_id",
        13: "missing_campaign",
        14: "bad_campaign_date",
        15: "campaign_outside_window",
        16: "unknown_group",
        17: "bad_flag",
    }
    c = r.contacts
    assert c["row"].tolist() == [2, 3, 4, 18]
    assert c["group"].tolist() == ["treatment", "control", "treatment", "control"]
    assert c["responded"].tolist() == [True, False, True, False]
    assert c["converted"].tolist() == [True, False, False, True]
    assert c["revenue"].tolist() == [120.5, 0.0, 0.0, 0.0]
    assert r.source["blank_revenue"] == 1 and r.source["blank_flags"] == {
        "responded": 0,
        "converted": 0,
    }
    assert r.source["rows_read"] == 17 == len(c) + len(r.rejected)  # nothing lost
    detail = dict(zip(r.rejected["row"], r.rejected["detail"], strict=True))
    assert detail[5].startswith("组别: 其他 (name it in data.campaigns.treatment_values")
    assert detail[16].startswith("组别: (blank)")
    assert detail[7] == "是否响应: 1.5 (use 0/1, yes/no or 是/否)"
    assert detail[6] == "活动日期: 2023-12-31 (before the data starts, 2024-01-01)"
    assert "on or after the as-of date, 2024-07-01" in detail[15]
    assert set(r.quality["reason"]) == set(reasons_of(r).values())
    assert r.quality["rows"].sum() == 13


def test_every_reason_code_has_report_text_in_both_languages():
    from tiering.present.i18n import t

    for code in cd.REASONS:
        en, zh = t(f"reasons.reason_{code}", "en"), t(f"reasons.reason_{code}", "zh")
        assert en and zh and en != zh


def test_english_headers_extra_group_values_and_no_window(write_csv):
    text = (
        "Customer ID,Campaign,Arm,Response,Revenue\n"
        "00123,Spring,Treatment,Yes,10\n123,Spring,Holdout,No,0\nC3,Spring,mailed,Y,5\n"
    )
    path = write_csv(text, "c.csv")
    r = read(path, window={})
    assert reasons_of(r) == {4: "unknown_group"}
    r = read(path, window={}, treatment_values=["mailed"])
    assert r.contacts["customer_id"].tolist() == ["00123", "123", "C3"]  # ids as the loader
    assert r.contacts["group"].tolist() == ["treatment", "control", "treatment"]
    assert r.outcomes == ("responded", "revenue") and r.has_group


def test_without_a_group_column_every_row_is_treated(write_csv):
    r = read(write_csv("customer_id,responded\nC1,1\nC2,0\n", "spring.csv"))
    assert not r.has_group
    assert r.contacts["group"].tolist() == ["treatment", "treatment"]
    assert r.contacts["campaign"].tolist() == ["spring", "spring"]  # named after the file


def test_a_file_without_outcomes_is_a_clear_error(write_csv):
    with pytest.raises(DataError) as err:
        read(write_csv("customer_id,group\nC1,control\n", "c.csv"))
    assert "no outcome column" in str(err.value) and "data.campaigns.columns" in str(err.value)


def test_parameters_resolve_the_campaign_path_and_refuse_a_value_in_both_groups(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "data:\n  path: tx.csv\n  campaigns:\n    path: c.csv\n    control_values: [nein]\n",
        encoding="utf-8",
    )
    p = params.load(tmp_path / "p.yaml")
    assert p.data.campaigns.path == (tmp_path / "c.csv").resolve()
    with pytest.raises(params.ParamsError) as err:
        params.validate(
            {
                "data": {
                    "path": "x",
                    "campaigns": {"path": "c", "treatment_values": ["A"], "control_values": ["a"]},
                }
            }
        )
    assert "both treatment_values and control_values" in str(err.value)


# --------------------------------------------------------------------------- Wilson, Newcombe

# Newcombe RG (1998) Two-sided confidence intervals for the single proportion: comparison
# of seven methods. Stat Med 17:857-872, Table II, method 3 (score interval).
WILSON_PUBLISHED = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0000),
]


def test_wilson_intervals_against_newcombe_1998():
    c, n, lo, hi = map(np.array, zip(*WILSON_PUBLISHED, strict=True))
    low, high = ca.wilson(c, n)
    np.testing.assert_allclose(low, lo, atol=5e-5)
    np.testing.assert_allclose(high, hi, atol=5e-5)
    low, high = ca.wilson([0], [0])
    assert np.isnan(low[0]) and np.isnan(high[0])


# Newcombe RG (1998) Interval estimation for the difference between independent
# proportions: comparison of eleven methods. Stat Med 17:873-890, Table II, method 10.
NEWCOMBE_PUBLISHED = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_PUBLISHED)
def test_newcombe_difference_intervals_against_newcombe_1998(counts, published):
    d, low, high = ca.newcombe(*counts)
    assert d == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (low, high) == pytest.approx(published, abs=5e-5)


def wilson_by_hand(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


# --------------------------------------------------------------------------- uplift


def contacts_of(cells: dict, campaign: str = "spring") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts and tiers from {(tier, group): (customers, responders, revenue list)}."""
    rows, tiers = [], []
    k = 0
    for (tier, group), (n, hits, revenue) in cells.items():
        for i in range(n):
            cid = f"{tier}{group[0]}{i}"
            rev = revenue[i] if i < len(revenue) else 0.0
            rows.append(
                {
                    "customer_id": cid,
                    "campaign": campaign,
                    "group": group,
                    "responded": i < hits,
                    "converted": i < hits // 2,
                    "revenue": rev,
                }
            )
            tiers.append({"customer_id": cid, "tier": tier})
            k += 1
    return pd.DataFrame(rows), pd.DataFrame(tiers)


def test_uplift_and_its_intervals_on_a_hand_made_case():
    # tier A: 60/100 treated respond, 40/100 controls; tier B: 30/100 both
    # revenue: the first 10 treated A customers bring 50 each, controls nothing
    contacts, tiers = contacts_of(
        {
            ("A", "treatment"): (100, 60, [50.0] * 10),
            ("A", "control"): (100, 40, []),
            ("B", "treatment"): (100, 30, []),
            ("B", "control"): (100, 30, []),
        }
    )
    res = ca.campaign_results(contacts, tiers, labels=["A", "B"], n_boot=4000, seed=1)
    up = res.uplift.set_index("tier")
    assert list(up.index) == ["A", "B", ca.ALL_TIERS]
    a = up.loc["A"]
    assert a["response_uplift"] == pytest.approx(0.20)
    # Newcombe's interval from the two Wilson intervals, by hand
    l1, u1 = wilson_by_hand(60, 100)
    l0, u0 = wilson_by_hand(40, 100)
    low = 0.2 - math.sqrt((0.6 - l1) ** 2 + (u0 - 0.4) ** 2)
    high = 0.2 + math.sqrt((u1 - 0.6) ** 2 + (0.4 - l0) ** 2)
    assert (a["response_uplift_low"], a["response_uplift_high"]) == pytest.approx((low, high))
    assert a["conversion_uplift"] == pytest.approx(0.30 - 0.20)
    # revenue per customer: 500/100 - 0 = 5. A resample of the treated arm holds
    # K ~ Binomial(100, 0.1) customers with 50, the controls are all 0: the bootstrap
    # difference is 0.5 K, so its 95% percentile interval is 0.5 x the binomial's
    # 2.5% and 97.5% quantiles (5 and 16), within one step of K
    assert a["revenue_uplift"] == pytest.approx(5.0)
    k_low, k_high = ss.binom.ppf([0.025, 0.975], 100, 0.1)
    assert a["revenue_uplift_low"] == pytest.approx(0.5 * k_low, abs=0.5)
    assert a["revenue_uplift_high"] == pytest.approx(0.5 * k_high, abs=0.5)
    assert up.loc["B", "response_uplift"] == pytest.approx(0.0)
    # all tiers together: 90/200 against 70/200
    assert up.loc[ca.ALL_TIERS, "response_uplift"] == pytest.approx(0.10)
    assert not up["small"].any()
    # rates with Wilson intervals
    rates = res.rates.set_index(["tier", "group"])
    assert rates.loc[("A", "treatment"), "response_rate"] == pytest.approx(0.6)
    assert (
        rates.loc[("A", "treatment"), "response_low"],
        rates.loc[("A", "treatment"), "response_high"],
    ) == pytest.approx(wilson_by_hand(60, 100))
    assert rates.loc[("A", "treatment"), "revenue_per_customer"] == pytest.approx(5.0)
    camp = res.campaigns.iloc[0]
    assert camp["causal_wording"] and camp["has_control"]
    assert (camp["treatment"], camp["control"], camp["untiered"]) == (200, 200, 0)
    assert camp["balance_p"] == pytest.approx(1.0)  # 100/100 in each tier and group


def test_the_heterogeneity_test_by_hand():
    contacts, tiers = contacts_of(
        {
            ("A", "treatment"): (100, 60, []),
            ("A", "control"): (100, 40, []),
            ("B", "treatment"): (100, 30, []),
            ("B", "control"): (100, 30, []),
        }
    )
    res = ca.campaign_results(contacts, tiers, labels=["A", "B"], n_boot=50)
    het = res.heterogeneity.set_index("outcome")
    # Cochran's Q of two risk differences: (d1 - d2)^2 / (v1 + v2),
    # d1 = 0.2, v1 = .6*.4/100 + .4*.6/100 = .0048; d2 = 0, v2 = 2 * .3*.7/100 = .0042
    q = 0.2**2 / (0.0048 + 0.0042)
    assert q == pytest.approx(4.4444, abs=1e-4)
    assert het.loc["responded", "statistic"] == pytest.approx(q)
    assert het.loc["responded", "df"] == 1 and het.loc["responded", "tiers"] == 2
    assert het.loc["responded", "p_value"] == pytest.approx(ss.chi2.sf(q, 1))
    assert het.loc["responded", "p_value"] == pytest.approx(0.03501, abs=1e-5)
    # conversion: 30/100 vs 20/100 and 15/100 vs 15/100
    v1 = 0.3 * 0.7 / 100 + 0.2 * 0.8 / 100
    v2 = 2 * 0.15 * 0.85 / 100
    assert het.loc["converted", "statistic"] == pytest.approx(0.1**2 / (v1 + v2))
    # revenue: no variance in any arm: not tested, and said why
    assert het.loc["revenue", "note"] == "no_variance"


def test_three_tiers_q_equals_the_weighted_sum_of_squares():
    cells = {
        ("A", "treatment"): (200, 90, []),
        ("A", "control"): (200, 50, []),
        ("B", "treatment"): (150, 40, []),
        ("B", "control"): (150, 30, []),
        ("C", "treatment"): (300, 33, []),
        ("C", "control"): (300, 30, []),
    }
    contacts, tiers = contacts_of(cells)
    res = ca.campaign_results(contacts, tiers, labels=["A", "B", "C"], n_boot=50)
    d, w = [], []
    for t in "ABC":
        (n1, c1, _), (n0, c0, _) = cells[(t, "treatment")], cells[(t, "control")]
        p1, p0 = c1 / n1, c0 / n0
        d.append(p1 - p0)
        w.append(1 / (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0))
    d, w = np.array(d), np.array(w)
    q = float(np.sum(w * (d - np.sum(w * d) / np.sum(w)) ** 2))
    row = res.heterogeneity.set_index("outcome").loc["responded"]
    assert row["statistic"] == pytest.approx(q) and row["df"] == 2
    assert row["p_value"] == pytest.approx(ss.chi2.sf(q, 2))


def test_no_control_group_rates_only_and_no_causal_wording():
    contacts, tiers = contacts_of(
        {("A", "treatment"): (50, 20, []), ("B", "treatment"): (40, 5, [])}
    )
    res = ca.campaign_results(contacts, tiers, labels=["A", "B"], n_boot=50)
    camp = res.campaigns.iloc[0]
    assert not camp["has_control"] and not camp["causal_wording"]
    assert np.isnan(camp["balance_p"])
    assert res.uplift.empty and res.heterogeneity.empty
    assert res.rates.set_index("tier").loc["A", "response_rate"] == pytest.approx(0.4)


def test_small_groups_are_shown_but_not_tested():
    contacts, tiers = contacts_of(
        {
            ("A", "treatment"): (30, 20, []),
            ("A", "control"): (5, 1, []),
            ("B", "treatment"): (30, 10, []),
            ("B", "control"): (30, 10, []),
        }
    )
    res = ca.campaign_results(contacts, tiers, labels=["A", "B"], n_boot=50, min_group_size=10)
    assert res.uplift.set_index("tier").loc["A", "small"]
    het = res.heterogeneity.set_index("outcome").loc["responded"]
    assert het["tiers"] == 1 and het["note"] == "fewer_than_two_tiers"
    assert np.isnan(het["p_value"])


def test_a_customer_on_several_rows_counts_once_and_untiered_customers_are_counted():
    contacts = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2", "C3", "X9"],
            "campaign": ["s"] * 5,
            "group": ["treatment", "treatment", "treatment", "control", "control"],
            "responded": [False, True, False, False, True],
            "revenue": [10.0, 5.0, 0.0, 0.0, 0.0],
        }
    )
    tiers = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "tier": ["A", "A", "A"]})
    res = ca.campaign_results(contacts, tiers, labels=["A"], n_boot=50)
    rates = res.rates.set_index(["tier", "group"])
    assert rates.loc[("A", "treatment"), "customers"] == 2
    assert rates.loc[("A", "treatment"), "responders"] == 1
    assert rates.loc[("A", "treatment"), "revenue"] == 15.0
    assert np.isnan(rates.loc[("A", "treatment"), "conversion_rate"])  # no such column
    assert res.campaigns.iloc[0]["untiered"] == 1
    assert res.campaigns.iloc[0]["customers"] == 4


def test_the_planted_uplift_is_found_within_its_interval():
    rng = np.random.default_rng(7)
    n = 6000
    tier = rng.choice(["A", "B", "C"], n, p=[0.2, 0.3, 0.5])
    group = rng.choice(["treatment", "control"], n)
    base = pd.Series(tier).map({"A": 0.30, "B": 0.20, "C": 0.10}).to_numpy()
    effect = pd.Series(tier).map({"A": 0.15, "B": 0.05, "C": 0.0}).to_numpy()
    responded = rng.random(n) < base + (group == "treatment") * effect
    ids = [f"c{i}" for i in range(n)]
    contacts = pd.DataFrame(
        {"customer_id": ids, "campaign": "x", "group": group, "responded": responded}
    )
    tiers = pd.DataFrame({"customer_id": ids, "tier": tier})
    res = ca.campaign_results(contacts, tiers, labels=["A", "B", "C"], n_boot=50)
    up = res.uplift.set_index("tier")
    for t, true in (("A", 0.15), ("B", 0.05), ("C", 0.0)):
        assert up.loc[t, "response_uplift_low"] <= true <= up.loc[t, "response_uplift_high"]
    het = res.heterogeneity.set_index("outcome").loc["responded"]
    assert het["p_value"] < 0.01  # the uplift differs between tiers


def test_bad_contacts_are_clear_errors_not_tracebacks():
    tiers = pd.DataFrame({"customer_id": ["C1"], "tier": ["A"]})
    bad = pd.DataFrame(
        {"customer_id": ["C1"], "campaign": ["s"], "group": ["exposed"], "responded": [True]}
    )
    with pytest.raises(DataError) as err:
        ca.campaign_results(bad, tiers)
    assert "'exposed'" in str(err.value) and "treatment" in str(err.value)
    with pytest.raises(DataError) as err:
        ca.campaign_results(bad.drop(columns="group"), tiers)
    assert "'group'" in str(err.value)
    with pytest.raises(DataError) as err:
        ca.campaign_results(bad.drop(columns="responded").assign(group="control"), tiers)
    assert "no outcome" in str(err.value)


def test_the_reader_feeds_the_analysis(write_csv):
    r = read(write_csv(ZH, "camp.csv"))
    tiers = pd.DataFrame({"customer_id": ["A1", "A2", "A3", "A15"], "tier": ["A", "A", "B", "B"]})
    res = ca.campaign_results(r.contacts, tiers, labels=["A", "B"], n_boot=50)
    camp = res.campaigns.iloc[0]
    assert camp["campaign"] == "春季促销" and (camp["treatment"], camp["control"]) == (2, 2)
    assert camp["first_date"] == pd.Timestamp("2024-03-01")
    assert res.uplift.set_index("tier").loc[ca.ALL_TIERS, "response_uplift"] == pytest.approx(1.0)


def test_an_empty_cell_gets_half_a_customer_and_other_tiers_stay_as_they_are():
    d, v = ca.rate_uplift_effects([0, 60], [50, 100], [0, 40], [50, 100])
    p = 0.5 / 51  # 0 of 50 with 0.5 added to each cell
    assert d[0] == pytest.approx(0.0) and v[0] == pytest.approx(2 * p * (1 - p) / 51)
    # the tier without an empty cell keeps its plain risk difference and variance
    assert d[1] == pytest.approx(0.2) and v[1] == pytest.approx(0.0048)
    contacts, tiers = contacts_of(
        {
            ("A", "treatment"): (50, 0, []),
            ("A", "control"): (50, 0, []),
            ("B", "treatment"): (100, 60, []),
            ("B", "control"): (100, 40, []),
        }
    )
    res = ca.campaign_results(contacts, tiers, labels=["A", "B"], n_boot=50)
    het = res.heterogeneity.set_index("outcome").loc["responded"]
    assert het["statistic"] == pytest.approx(0.2**2 / (v[0] + v[1]))


def test_bad_tiers_are_clear_errors():
    contacts = pd.DataFrame(
        {"customer_id": ["C1"], "campaign": ["s"], "group": ["treatment"], "responded": [True]}
    )
    with pytest.raises(DataError) as err:
        ca.campaign_results(
            contacts, pd.DataFrame({"customer_id": ["C1", "C1"], "tier": ["A", "B"]})
        )
    assert "'C1' has more than one tier" in str(err.value)
    with pytest.raises(DataError) as err:
        ca.campaign_results(
            contacts, pd.DataFrame({"customer_id": ["C1"], "tier": ["D"]}), labels=["A"]
        )
    assert "'D'" in str(err.value) and "labels" in str(err.value)


def test_a_group_column_named_after_one_group_holds_yes_no_flags(write_csv):
    text = "客户编号,是否对照组,是否响应\nC1,是,否\nC2,否,是\nC3,对照组,是\nC4,也许,是\n"
    r = read(write_csv(text, "c.csv"), window={})
    assert r.contacts["group"].tolist() == ["control", "treatment", "control"]
    assert reasons_of(r) == {5: "unknown_group"}
    text = "customer_id,is_treatment,responded\nC1,1,0\nC2,0,1\n"
    r = read(write_csv(text, "t.csv"), window={})
    assert r.contacts["group"].tolist() == ["treatment", "control"]


def test_xlsx_with_date_cells_and_csv_gz_are_read_like_the_csv(tmp_path, write_csv):
    import gzip

    import openpyxl

    text = "customer_id,campaign,date,group,converted,revenue\nC1,s,2024-03-01,test,1,9.5\n"
    text += "C2,s,2024-03-02,control,0,0\n"
    csv = read(write_csv(text, "c.csv")).contacts
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(text.encode()))
    pd.testing.assert_frame_equal(read(tmp_path / "c.csv.gz").contacts, csv)
    book = openpyxl.Workbook()
    sheet = book.active
    for line in text.strip().split("\n"):
        cells = line.split(",")
        if cells[2] != "date":
            cells[2] = dt.datetime.fromisoformat(cells[2])  # a real Excel date cell
        sheet.append(cells)
    book.save(tmp_path / "c.xlsx")
    pd.testing.assert_frame_equal(read(tmp_path / "c.xlsx").contacts, csv)
