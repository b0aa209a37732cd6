"""Tests of tiering.stats: reference values from published sources, hand-built tiers."""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from tiering import stats
from tiering.errors import DataError, TieringError
from tiering.stats import (
    FINDINGS_COLUMNS,
    SUMMARY_COLUMNS,
    TESTS_COLUMNS,
    Comparison,
    compare_tiers,
    describe_findings,
)


def tiered_frame(groups, labels=None, column="value") -> pd.DataFrame:
    """A tiered table with one numeric column from a list of per-tier samples."""
    labels = list(labels) if labels is not None else [f"T{i}" for i in range(len(groups))]
    tier = [lab for lab, g in zip(labels, groups) for _ in g]
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(len(tier))],
        "tier": pd.Categorical(tier, categories=labels, ordered=True),
        column: np.concatenate([np.asarray(g, dtype=float) for g in groups]),
    })


def rows(comparison: Comparison, test: str) -> pd.DataFrame:
    return comparison.tests[comparison.tests["test"] == test].reset_index(drop=True)


def customers(n: int, *, tier_probs=(0.2, 0.3, 0.5), separated=True, seed=1) -> pd.DataFrame:
    """Synthetic customers; ``separated`` gives tiers that really differ."""
    rng = np.random.default_rng(seed)
    tier = rng.choice(["A", "B", "C"], n, p=list(tier_probs))
    level = {"A": 6.5, "B": 5.0, "C": 3.5} if separated else {"A": 4.0, "B": 4.0, "C": 4.0}
    mu = np.array([level[x] for x in tier])
    recency_scale = np.array([{"A": 20, "B": 60, "C": 150}[x] if separated else 60 for x in tier])
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "tier": pd.Categorical(tier, categories=["A", "B", "C"], ordered=True),
        "monetary": rng.lognormal(mu, 1.0),
        "frequency": rng.poisson(np.exp(mu - 3.0)) + 1,
        "recency_days": rng.exponential(recency_scale).round(),
        "aov": rng.lognormal(3.0, 1.0, n),
        "tenure_days": rng.integers(1, 1000, n),
        "region": rng.choice(["north", "south", "east"], n),
    })


METRICS = ["monetary", "frequency", "recency_days", "aov", "tenure_days"]


# --------------------------------------------------------------------------- published references


def test_kruskal_wallis_matches_hollander_wolfe_reference():
    # Hollander & Wolfe (1973), p. 116, mucociliary efficiency; the example of R's
    # kruskal.test documentation prints "Kruskal-Wallis chi-squared = 0.77143, df = 2,
    # p-value = 0.68".
    x = [2.9, 3.0, 2.5, 2.6, 3.2]
    y = [3.8, 2.7, 4.0, 2.4]
    z = [2.8, 3.4, 3.7, 2.2, 2.0]
    result = compare_tiers(tiered_frame([x, y, z]), metrics=["value"], min_group_size=4, n_boot=200)
    kw = rows(result, "kruskal_wallis").iloc[0]
    assert kw["statistic"] == pytest.approx(0.77143, abs=5e-5)
    assert kw["df"] == 2
    assert kw["p_value"] == pytest.approx(0.68, abs=5e-3)
    assert kw["n1"] == 14 and pd.isna(kw["n2"])
    # epsilon² = H / ((n² - 1) / (n + 1)) = 0.77143 / 13
    assert kw["effect_size_name"] == "epsilon_squared"
    assert kw["effect_size"] == pytest.approx(0.771429 / 13, abs=1e-5)
    assert kw["magnitude"] == "small"          # 0.01 <= 0.0593 < 0.08
    assert not kw["significant"]


def test_dunn_z_and_p_match_published_example():
    # Five-group example published in the README of github.com/BarataAP/dunn (an
    # independent implementation of Dunn 1964): z statistics (row mean rank minus
    # column mean rank) and unadjusted two-sided p-values.
    a = [0.28551035, 0.338524035, 0.088631321, 0.205930807, 0.363240102]
    b = [0.52173913, 0.763358779, 0.325436786, 0.425305688, 0.378071834]
    c = [0.98911968, 1.192718142, 0.788288288, 0.549176236, 0.544588155]
    d = [1.26705653, 1.625320787, 1.266108976, 1.154187629, 1.268489431]
    e = [1.25697569, 1.265897356, 1.237814561, 0.954612564, 2.365415457]
    published = {
        ("a", "b"): (-0.9882, 0.32304), ("a", "c"): (-2.1054, 0.03526),
        ("a", "d"): (-3.8241, 0.00013), ("a", "e"): (-3.3944, 0.00069),
        ("b", "c"): (-1.1171, 0.26393), ("b", "d"): (-2.8358, 0.00457),
        ("b", "e"): (-2.4061, 0.01612), ("c", "d"): (-1.7187, 0.08567),
        ("c", "e"): (-1.2890, 0.19740), ("d", "e"): (0.42967, 0.66744),
    }
    result = compare_tiers(tiered_frame([a, b, c, d, e], "abcde"), metrics=["value"], n_boot=200)
    dunn = rows(result, "dunn")
    assert len(dunn) == 10
    for _, row in dunn.iterrows():
        z, p = published[(row["group1"], row["group2"])]
        assert row["statistic"] == pytest.approx(z, abs=1e-4)
        assert row["p_value"] == pytest.approx(p, abs=1e-5)
        assert row["n1"] == 5 and row["n2"] == 5


def test_dunn_with_ties_matches_published_p_values_and_holm():
    # Statology, "How to Perform Dunn's Test in Python" (plant growth under three
    # fertilizers, tied values): Bonferroni-adjusted p = 0.550846 (1-2), 0.718451 (1-3),
    # 0.036633 (2-3), i.e. unadjusted p = those / 3.
    g1 = [7, 14, 14, 13, 12, 9, 6, 14, 12, 8]
    g2 = [15, 17, 13, 15, 15, 13, 9, 12, 10, 8]
    g3 = [6, 8, 8, 9, 5, 14, 13, 8, 10, 9]
    result = compare_tiers(tiered_frame([g1, g2, g3]), metrics=["value"], n_boot=200)
    dunn = rows(result, "dunn").set_index(["group1", "group2"])
    bonferroni = {("T0", "T1"): 0.550846, ("T0", "T2"): 0.718451, ("T1", "T2"): 0.036633}
    for pair, p_bonf in bonferroni.items():
        assert dunn.loc[pair, "p_value"] * 3 == pytest.approx(p_bonf, abs=2e-6)
    # Holm by hand: smallest p x 3 = 0.036633; next 0.183615 x 2 = 0.367231; the last,
    # 0.239484 x 1, is raised to the running maximum 0.367231.
    assert dunn.loc[("T1", "T2"), "p_adj"] == pytest.approx(0.036633, abs=2e-6)
    assert dunn.loc[("T0", "T1"), "p_adj"] == pytest.approx(0.367231, abs=2e-6)
    assert dunn.loc[("T0", "T2"), "p_adj"] == pytest.approx(0.367231, abs=2e-6)
    assert dunn["significant"].tolist() == [False, False, True]
    # The reported z is the statistic behind those p-values.
    for _, row in dunn.iterrows():
        assert 2 * ss.norm.sf(abs(row["statistic"])) == pytest.approx(row["p_value"], rel=1e-9)


def test_cliffs_delta_matches_effsize_reference_output():
    # R package effsize (Torchiano), tests/testCliff.Rout.save: for
    # cliff.delta(treatment, control, use.unbiased=FALSE, use.normal=TRUE) R prints
    # "delta estimate: -0.25 (small)" and the 95% interval -0.7125351 .. 0.3639999,
    # and for x1 vs x2 "delta estimate: -0.06666667 (negligible)".
    treatment = [10, 10, 20, 20, 20, 30, 30, 30, 40, 50]
    control = [10, 20, 30, 40, 40, 50]
    result = compare_tiers(tiered_frame([treatment, control], ["treatment", "control"]),
                           metrics=["value"], n_boot=200)
    row = rows(result, "dunn").iloc[0]
    assert (row["group1"], row["group2"]) == ("treatment", "control")
    assert row["effect_size_name"] == "cliffs_delta"
    assert row["effect_size"] == pytest.approx(-0.25, abs=1e-12)
    assert row["ci_low"] == pytest.approx(-0.7125351, abs=1e-7)
    assert row["ci_high"] == pytest.approx(0.3639999, abs=1e-7)
    assert row["magnitude"] == "small"

    x1 = [10, 20, 20, 20, 30, 30, 30, 40, 50, 100]
    x2 = [10, 20, 30, 40, 40, 50]
    result = compare_tiers(tiered_frame([x1, x2]), metrics=["value"], n_boot=200)
    row = rows(result, "dunn").iloc[0]
    assert row["effect_size"] == pytest.approx(-0.06666667, abs=1e-8)
    assert row["magnitude"] == "negligible"


def test_cramers_v_bias_corrected_on_hand_computed_table():
    # Tier x region counts:      north south east | total
    #                     A        20    10   10  |  40
    #                     B        10    20   30  |  60
    # Expected: A 12 12 16, B 18 18 24.  chi² = 64/12 + 4/12 + 36/16 + 64/18 + 4/18
    # + 36/24 = 475/36 = 13.19444, df = 2, p = exp(-chi²/2) (chi-square with 2 df).
    # Bergsma (2013): phi² = chi²/n = 0.1319444; phi²~ = phi² - (k-1)(r-1)/(n-1)
    # = 0.1319444 - 2/99; r~ = 2 - 1/99, k~ = 3 - 4/99; V~ = sqrt(phi²~ / (r~ - 1))
    # = sqrt(0.1117424 / 0.9898990) = 0.3359801.
    cells = {("A", "north"): 20, ("A", "south"): 10, ("A", "east"): 10,
             ("B", "north"): 10, ("B", "south"): 20, ("B", "east"): 30}
    tier, region = [], []
    for (t_, r_), count in cells.items():
        tier += [t_] * count
        region += [r_] * count
    frame = pd.DataFrame({"customer_id": [str(i) for i in range(100)],
                          "tier": pd.Categorical(tier, categories=["A", "B"], ordered=True),
                          "region": region})
    result = compare_tiers(frame, metrics=[], categorical=["region"], n_boot=200)
    row = rows(result, "chi_square").iloc[0]
    assert row["statistic"] == pytest.approx(475 / 36, abs=1e-9)
    assert row["df"] == 2
    assert row["p_value"] == pytest.approx(math.exp(-475 / 72), rel=1e-9)
    phi2_corr = 475 / 3600 - 2 / 99
    assert row["effect_size"] == pytest.approx(math.sqrt(phi2_corr / (1 - 1 / 99)), abs=1e-12)
    assert row["effect_size"] == pytest.approx(0.3359801, abs=1e-7)
    assert row["effect_size_name"] == "cramers_v"
    assert row["magnitude"] == "medium"        # Cohen's w, df* = 1: 0.3 <= V < 0.5
    assert row["significant"]
    finding = result.findings[result.findings["kind"] == "association"].iloc[0]
    assert finding["cramers_v"] == pytest.approx(0.3359801, abs=1e-7)
    assert finding["meaningful"]
    assert describe_findings(result, language="en")[0] == (
        "The mix of region differs between tiers (Cramér's V = 0.34, medium).")


# --------------------------------------------------------------------------- hand-built tiers


def separated_tiers() -> pd.DataFrame:
    """Three fully separated tiers of 21 customers with exactly known medians."""
    i = np.arange(21)
    frame = tiered_frame([1000 + 10 * i, 200 + 2 * i, 20 + 0.5 * i], ["A", "B", "C"], "monetary")
    frame["recency_days"] = np.concatenate([5 + i, 40 + i, 100 + i]).astype(float)
    return frame


def test_separated_tiers_hand_computed_statistics():
    result = compare_tiers(separated_tiers(), metrics=["monetary", "recency_days"], n_boot=500)
    kw = rows(result, "kruskal_wallis").set_index("metric")
    # Ranks: C 1..21 (mean 11), B 22..42 (mean 32), A 43..63 (mean 53), N = 63:
    # H = 12 / (63 x 64) x 21 x (11² + 32² + 53²) - 3 x 64 = 55.125; epsilon² = H / 62.
    assert kw.loc["monetary", "statistic"] == pytest.approx(55.125, abs=1e-9)
    assert kw.loc["monetary", "effect_size"] == pytest.approx(55.125 / 62, abs=1e-12)
    assert kw.loc["monetary", "magnitude"] == "large"
    assert kw["significant"].all()
    dunn = rows(result, "dunn")
    money = dunn[dunn["metric"] == "monetary"].set_index(["group1", "group2"])
    # Dunn z(A, B) = (53 - 32) / sqrt(63 x 64 / 12 x (1/21 + 1/21)) = 21 / sqrt(32).
    assert money.loc[("A", "B"), "statistic"] == pytest.approx(21 / math.sqrt(32), abs=1e-9)
    assert money.loc[("A", "C"), "statistic"] == pytest.approx(42 / math.sqrt(32), abs=1e-9)
    assert (money["effect_size"] == 1.0).all() and (money["ci_high"] == 1.0).all()
    assert (money["magnitude"] == "large").all() and money["significant"].all()
    recency = dunn[dunn["metric"] == "recency_days"]
    assert (recency["effect_size"] == -1.0).all() and (recency["statistic"] < 0).all()

    f = result.findings.set_index(["metric", "group1", "group2"])
    assert f.loc[("monetary", "A", "B"), "kind"] == "ratio"
    assert f.loc[("monetary", "A", "B"), "ratio"] == pytest.approx(1100 / 220)
    assert f.loc[("monetary", "B", "C"), "ratio"] == pytest.approx(220 / 25)
    lo, hi = f.loc[("monetary", "A", "B"), ["ratio_ci_low", "ratio_ci_high"]]
    assert lo <= 5.0 <= hi and lo > 4.0 and hi < 6.0
    assert f.loc[("recency_days", "A", "B"), "kind"] == "difference"
    assert f.loc[("recency_days", "A", "B"), "difference"] == pytest.approx(15 - 50)
    assert f.loc[("recency_days", "A", "B"), "difference_ci_high"] < 0
    assert f["meaningful"].all()
    assert len(result.findings) == 4          # adjacent pairs only: A-B, B-C per metric

    en = describe_findings(result, language="en")
    assert en[0] == ("A-tier customers' median net spend is 5.0× the B tier's "
                     f"(95% CI {lo:.1f}–{hi:.1f}); the difference is large (Cliff's δ = 1.00).")
    assert en[2].startswith("A-tier customers' median days since last purchase is 35 lower "
                            "than the B tier's (15 vs 50;")
    assert all("large" in s for s in en)
    assert not any("do not differ" in s for s in en)
    zh = describe_findings(result, language="zh")
    assert zh[0] == (f"A级客户的净消费金额中位数是B级的5.0倍（95%置信区间 {lo:.1f}–{hi:.1f}），"
                     "差异大（Cliff's δ = 1.00）。")
    assert "比B级低35" in zh[2]


def test_large_differences_on_realistic_customers_are_significant_and_large():
    result = compare_tiers(customers(3000), metrics=["monetary", "frequency", "recency_days"],
                           n_boot=500)
    kw = rows(result, "kruskal_wallis")
    assert kw["significant"].all() and (kw["magnitude"] == "large").all()
    pairs = result.findings[result.findings["kind"].isin(["ratio", "difference"])]
    assert pairs["meaningful"].all()
    monetary = pairs[pairs["metric"] == "monetary"]
    # log-normal levels differ by 1.5 between adjacent tiers: median ratio e^1.5 = 4.48
    assert ((monetary["ratio_ci_low"] < math.exp(1.5)) & (math.exp(1.5) < monetary["ratio_ci_high"])).all()
    assert (monetary["cliffs_delta"] > 0.474).all()


def test_random_tiers_of_one_population_do_not_differ():
    frame = customers(3000, separated=False, seed=7)
    result = compare_tiers(frame, metrics=METRICS, categorical=["region"], n_boot=500)
    assert not result.tests["significant"].any()
    assert (result.tests["p_adj"].dropna() >= 0.05).all()
    kw = rows(result, "kruskal_wallis")
    assert (kw["effect_size"] < 0.01).all() and (kw["magnitude"] == "negligible").all()
    assert not result.findings["meaningful"].any()
    en = describe_findings(result, language="en")
    assert en[0] == "Across the metrics compared, the tiers do not differ meaningfully."
    assert all("do not differ meaningfully" in s for s in en)
    assert not any("large" in s or "×" in s for s in en)
    zh = describe_findings(result, language="zh")
    assert zh[0] == "在所比较的各项指标上，各等级客户之间没有实质差异。"
    assert all("没有实质差异" in s for s in zh)


def test_tier_below_min_group_size_is_excluded_with_a_note():
    rng = np.random.default_rng(3)
    groups = [rng.lognormal(5, 1, 40), rng.lognormal(4, 1, 40), rng.lognormal(3, 1, 40),
              rng.lognormal(2, 1, 3), []]
    frame = tiered_frame(groups, ["A", "B", "C", "D", "E"], "monetary")
    result = compare_tiers(frame, metrics=["monetary"], n_boot=200)
    excluded = result.tests[result.tests["test"].str.startswith("excluded_tier")]
    assert excluded[["group1", "n1"]].values.tolist() == [["D", 3], ["E", 0]]
    assert excluded["test"].iloc[0] == "excluded_tier: 3 customers < min_group_size 5"
    assert excluded["statistic"].isna().all()
    kw = rows(result, "kruskal_wallis").iloc[0]
    assert kw["df"] == 2 and kw["n1"] == 120
    dunn = rows(result, "dunn")
    assert not dunn[["group1", "group2"]].isin(["D", "E"]).any().any()
    assert len(dunn) == 3
    # The summary still describes every tier.
    assert result.summary["tier"].astype(str).tolist() == ["A", "B", "C", "D", "E"]
    assert result.summary["n"].tolist() == [40, 40, 40, 3, 0]
    notes = describe_findings(result, language="en")[-2:]
    assert notes == [
        "The D tier has only 3 customers (fewer than 5), so it was left out of the statistical tests.",
        "The E tier has no customers, so it was left out of the statistical tests.",
    ]
    assert describe_findings(result, language="zh")[-2] == "D等级仅有3位客户（少于5位），未纳入统计检验。"


def test_metric_without_variance_or_testable_tiers_gives_a_note_not_an_error():
    frame = tiered_frame([[5.0] * 10, [5.0] * 10], ["A", "B"], "frequency")
    frame["monetary"] = np.r_[np.arange(10.0), np.arange(10.0) + 3]
    frame["aov"] = [1.0, 2.0, 3.0] + [np.nan] * 17          # too few values in both tiers
    result = compare_tiers(frame, metrics=["frequency", "monetary", "aov"], n_boot=200)
    by_metric = result.tests.groupby("metric")["test"].apply(list)
    assert by_metric["frequency"] == ["not_tested: no variance (every value is the same)"]
    assert by_metric["aov"][-1] == "not_tested: fewer than 2 tiers with at least 5 customers"
    assert "kruskal_wallis" in by_metric["monetary"]
    not_tested = result.tests[result.tests["test"].str.startswith("not_tested")]
    assert not_tested["statistic"].isna().all() and not not_tested["significant"].any()
    notes = describe_findings(result, language="en")
    assert "Orders was not tested: all customers have the same value." in notes
    assert ("Average order value was not tested: fewer than two tiers have at least 5 "
            "customers with a value.") in notes
    assert ("The A tier has only 3 customers with a known average order value (fewer than 5), "
            "so it was left out of that test.") in notes


def test_chinese_sentences_contain_no_english_words():
    frame = customers(2000, seed=11)
    frame["tier"] = frame["tier"].cat.rename_categories(["金卡", "银卡", "普通"])
    result = compare_tiers(frame, metrics=METRICS, n_boot=300)
    zh = describe_findings(result, language="zh")
    assert len(zh) == 2 * len(METRICS)
    for sentence in zh:
        stripped = sentence.replace("Cliff's", "").replace("δ", "")
        assert not re.search(r"[A-Za-z]", stripped), sentence
    assert zh[0].startswith("金卡客户的净消费金额中位数是银卡客户的")

    # With letter tier labels only the labels themselves are Latin.
    result = compare_tiers(customers(2000, seed=11), metrics=METRICS, n_boot=300)
    for sentence in describe_findings(result, language="zh"):
        stripped = re.sub(r"[ABC](?=级)", "", sentence.replace("Cliff's", "").replace("δ", ""))
        assert not re.search(r"[A-Za-z]", stripped), sentence


def test_non_positive_median_is_reported_as_a_difference():
    rng = np.random.default_rng(5)
    a = rng.normal(50, 10, 60)
    b = np.r_[np.zeros(35), rng.normal(-5, 3, 25)]          # median 0 (returns net out)
    result = compare_tiers(tiered_frame([a, b], ["A", "B"], "monetary"), metrics=["monetary"],
                           n_boot=300)
    f = result.findings.iloc[0]
    assert f["kind"] == "difference" and f["note"] == "non_positive_median"
    assert np.isnan(f["ratio"])
    assert f["difference"] == pytest.approx(np.median(a) - np.median(b))
    sentence = describe_findings(result, language="en")[0]
    assert sentence.startswith("A-tier customers' median net spend is ")
    assert " higher than the B tier's (" in sentence


# --------------------------------------------------------------------------- tables and options


def test_holm_adjusts_omnibus_p_values_across_metrics():
    frame = customers(400, separated=False, seed=2)
    result = compare_tiers(frame, metrics=METRICS, categorical=["region"], n_boot=200)
    omnibus = result.tests[result.tests["test"].isin(["kruskal_wallis", "chi_square"])]
    p = omnibus["p_value"].to_numpy()
    order = np.argsort(p)
    m = len(p)
    expected = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        expected[idx] = running
    np.testing.assert_allclose(omnibus["p_adj"].to_numpy(), expected, rtol=1e-12)


def test_table_columns_types_and_summary_intervals():
    result = compare_tiers(customers(1500), metrics=METRICS, categorical=["region"], n_boot=300)
    assert tuple(result.tests.columns) == TESTS_COLUMNS
    assert tuple(result.summary.columns) == SUMMARY_COLUMNS
    assert tuple(result.findings.columns) == FINDINGS_COLUMNS
    assert result.tests["significant"].dtype == bool
    assert str(result.tests["n1"].dtype) == "Int64"
    s = result.summary
    assert len(s) == len(METRICS) * 3
    assert ((s["median_ci_low"] <= s["median"]) & (s["median"] <= s["median_ci_high"])).all()
    assert ((s["mean_ci_low"] <= s["mean"]) & (s["mean"] <= s["mean_ci_high"])).all()
    assert ((s["q1"] <= s["median"]) & (s["median"] <= s["q3"])).all()
    frame = customers(1500)
    a_money = frame.loc[frame["tier"] == "A", "monetary"]
    row = s[(s["metric"] == "monetary") & (s["tier"] == "A")].iloc[0]
    assert row["n"] == len(a_money)
    assert row["median"] == pytest.approx(a_money.median())
    assert row["mean"] == pytest.approx(a_money.mean())
    assert result.params["n_boot"] == 300 and result.params["seed"] == 0
    assert result.params["bootstrap_subsampled"] == []


def test_same_input_and_seed_give_identical_output():
    frame = customers(800)
    one = compare_tiers(frame, metrics=METRICS, categorical=["region"], n_boot=200, seed=4)
    two = compare_tiers(frame, metrics=METRICS, categorical=["region"], n_boot=200, seed=4)
    pd.testing.assert_frame_equal(one.tests, two.tests)
    pd.testing.assert_frame_equal(one.summary, two.summary)
    pd.testing.assert_frame_equal(one.findings, two.findings)
    other = compare_tiers(frame, metrics=METRICS, n_boot=200, seed=5)
    assert not one.summary["median_ci_low"].equals(other.summary["median_ci_low"])


def test_large_tiers_are_bootstrapped_on_a_recorded_subsample(monkeypatch):
    monkeypatch.setattr(stats, "BOOTSTRAP_MAX_N", 100)
    frame = customers(600)
    result = compare_tiers(frame, metrics=["monetary"], n_boot=200)
    used = pd.DataFrame(result.params["bootstrap_subsampled"])
    sizes = frame["tier"].value_counts()
    summary_used = used[used["purpose"] == "summary"].set_index("tier")
    assert set(summary_used.index) == {"A", "B", "C"}
    assert (summary_used["n_used"] == 100).all()
    assert summary_used.loc["C", "n"] == sizes["C"]
    assert result.params["bootstrap_max_n"] == 100
    # Point estimates still use every customer.
    row = result.summary[result.summary["tier"] == "C"].iloc[0]
    assert row["median"] == pytest.approx(frame.loc[frame["tier"] == "C", "monetary"].median())


def test_max_posthoc_n_subsamples_the_pairwise_stage():
    frame = customers(1000)
    result = compare_tiers(frame, metrics=["monetary"], n_boot=200, max_posthoc_n=150)
    dunn = rows(result, "dunn")
    assert (dunn["n1"] == 150).all() and (dunn["n2"] == 150).all()
    assert rows(result, "kruskal_wallis")["n1"].iloc[0] == 1000
    assert {r["tier"] for r in result.params["posthoc_subsampled"]} == {"A", "B", "C"}


def test_describe_findings_limit_keeps_notes():
    frame = separated_tiers()
    frame = pd.concat([frame, tiered_frame([[1.0, 2.0]], ["C"], "monetary")], ignore_index=True)
    frame["tier"] = pd.Categorical(frame["tier"], categories=["A", "B", "C", "D"], ordered=True)
    result = compare_tiers(frame, metrics=["monetary"], n_boot=200)
    sentences = describe_findings(result, language="en", limit=1)
    assert len(sentences) == 2
    assert sentences[0].startswith("A-tier customers' median net spend is 5.0×")
    assert sentences[1] == "The D tier has no customers, so it was left out of the statistical tests."


def test_invalid_input_raises_project_errors():
    frame = customers(100)
    with pytest.raises(DataError, match="did you mean 'monetary'"):
        compare_tiers(frame, metrics=["monetry"])
    with pytest.raises(DataError, match="not numeric"):
        compare_tiers(frame, metrics=["region"])
    with pytest.raises(TieringError, match="alpha"):
        compare_tiers(frame, metrics=["monetary"], alpha=1.5)
    with pytest.raises(TieringError, match="min_group_size"):
        compare_tiers(frame, metrics=["monetary"], min_group_size=1)
    with pytest.raises(TieringError, match="Nothing to compare"):
        compare_tiers(frame, metrics=[])
    result = compare_tiers(frame, metrics=["monetary"], n_boot=100)
    with pytest.raises(TieringError, match="Unknown language"):
        describe_findings(result, language="fr")


def test_five_metrics_three_tiers_5000_customers_under_ten_seconds():
    frame = customers(5000)
    compare_tiers(frame.head(200), metrics=METRICS, n_boot=100)     # imports warmed up
    start = time.perf_counter()
    compare_tiers(frame, metrics=METRICS, categorical=["region"])   # default n_boot=2000
    assert time.perf_counter() - start < 10.0


def test_holm_matches_statsmodels_and_keeps_nan():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.2, 0.005, 0.04])
    np.testing.assert_allclose(stats._holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
    with_nan = stats._holm([0.01, np.nan, 0.02])
    assert np.isnan(with_nan[1])
    np.testing.assert_allclose(with_nan[[0, 2]], [0.02, 0.02])


def test_ratio_and_its_interval_share_one_precision():
    row = {c: np.nan for c in FINDINGS_COLUMNS}
    row.update({"metric": "frequency", "kind": "ratio", "group1": "A", "group2": "B",
                "median1": 11.0, "median2": 5.0, "ratio": 2.2, "ratio_ci_low": 1.834,
                "ratio_ci_high": 2.61, "cliffs_delta": 0.56, "magnitude": "large",
                "p_adj": 1e-9, "significant": True, "meaningful": True,
                "lower_is_better": False, "note": ""})
    comparison = Comparison(tests=pd.DataFrame(columns=TESTS_COLUMNS),
                            summary=pd.DataFrame(columns=SUMMARY_COLUMNS),
                            findings=pd.DataFrame([row], columns=FINDINGS_COLUMNS),
                            params={"min_group_size": 5})
    assert describe_findings(comparison, language="en") == [
        "A-tier customers' median orders is 2.2× the B tier's (95% CI 1.8–2.6); "
        "the difference is large (Cliff's δ = 0.56)."]


def test_plain_string_tier_column_is_ordered_by_sorted_labels():
    frame = separated_tiers()
    frame["tier"] = frame["tier"].astype(str)
    result = compare_tiers(frame.sample(frac=1.0, random_state=0), metrics=["monetary"], n_boot=200)
    assert result.params["tiers"] == ["A", "B", "C"]
    assert rows(result, "dunn")[["group1", "group2"]].values.tolist() == [
        ["A", "B"], ["A", "C"], ["B", "C"]]
