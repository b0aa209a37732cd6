"""Method comparison (cross-tabulation, adjusted Rand index, weighted kappa) and
bootstrap stability."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from tiering.analysis import methods
from tiering.analysis.methods import compare
from tiering.analysis.methods.base import TieringResult, finish
from tiering.analysis.methods.compare import adjusted_rand, weighted_kappa
from tiering.errors import MethodError, ParamsError

from .conftest import tiering_spec as _spec


def _result(ranks, method="x", labels=("A", "B", "C")) -> TieringResult:
    f = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(ranks))]})
    return finish(
        f,
        np.asarray(ranks),
        list(labels),
        {},
        method=method,
        thresholds=pd.DataFrame({"tier": list(labels)}),
        params={},
    )


def _customers(n=600, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "recency_days": rng.integers(1, 700, n),
            "frequency": rng.geometric(0.3, n),
            "monetary": rng.lognormal(7, 1.3, n).round(2),
            "returns_value": np.where(rng.random(n) < 0.2, rng.uniform(0, 200, n), 0.0),
            "tenure_days": rng.integers(700, 900, n),
            "aov": rng.lognormal(5, 0.5, n),
        }
    )


def test_agreement_hand_computed():
    a = _result([1, 1, 2, 2, 3, 3])
    b = _result([1, 2, 2, 3, 3, 3], method="y")
    row = compare.agreement(a, b)
    # linear weights |i-j|/2: observed disagreement 0.5 + 0.5 = 1; expected: row totals 2 2 2,
    # column totals 1 2 3 over 6 -> 4/3 + 2/3 + 2/3 = 8/3; kappa = 1 - 1 / (8/3) = 0.625
    assert row["weighted_kappa"] == pytest.approx(0.625)
    # ARI: sum C(n_ij,2) = 1, rows 3, columns 0+1+3 = 4, C(6,2) = 15: (1 - 0.8) / (3.5 - 0.8)
    assert row["adjusted_rand"] == pytest.approx(0.2 / 2.7)
    assert row["exact_agreement"] == pytest.approx(4 / 6)
    assert row["kappa_magnitude"] == "substantial"
    same = compare.agreement(a, _result([1, 1, 2, 2, 3, 3], method="z"))
    assert same["weighted_kappa"] == pytest.approx(1.0) and same["adjusted_rand"] == pytest.approx(
        1.0
    )


def test_kappa_undefined_when_everyone_is_in_one_tier():
    row = compare.agreement(_result([1, 1, 1]), _result([1, 1, 1], method="y"))
    assert np.isnan(row["weighted_kappa"]) and row["kappa_magnitude"] == ""


@pytest.mark.parametrize(
    "kappa, word",
    [
        (-0.1, "poor"),
        (0.0, "slight"),
        (0.2, "slight"),
        (0.35, "fair"),
        (0.6, "moderate"),
        (0.61, "substantial"),
        (0.81, "almost_perfect"),
    ],
)
def test_kappa_magnitude_bands(kappa, word):
    assert compare.kappa_magnitude(kappa) == word


def test_crosstab_tidy_with_zeros():
    tab = compare.crosstab(
        _result([1, 1, 2, 3]), _result([1, 2, 2, 2], method="y", labels=("P", "Q"))
    )
    assert len(tab) == 6  # 3 x 2 pairs, zeros included
    assert tab.loc[(tab.tier == "A") & (tab.other_tier == "P"), "customers"].item() == 1
    assert tab.loc[(tab.tier == "A") & (tab.other_tier == "Q"), "share_of_tier"].item() == 0.5
    assert tab.loc[(tab.tier == "C") & (tab.other_tier == "P"), "customers"].item() == 0
    assert tab["customers"].sum() == 4 and tab["share_of_all"].sum() == pytest.approx(1.0)


def test_compare_methods_on_data():
    f = _customers()
    spec = _spec(method="abc", compare_with=["rfm", "score"])
    mc = methods.compare_methods(f, spec, seed=0)
    assert mc.method == "abc" and mc.others == ("rfm", "score")
    assert list(mc.agreement["other_method"]) == ["rfm", "score"]
    assert set(mc.crosstabs) == {"rfm", "score"}
    for name, tab in mc.crosstabs.items():
        other = methods.fit(f, spec.model_copy(update={"method": name})).assignments
        assert tab["customers"].sum() == len(f)
        # each crosstab row total is the main method's tier size, each column the other's
        main = methods.fit(f, spec).assignments
        assert (
            tab.groupby("tier", sort=False)["customers"].sum().tolist()
            == main["tier"].value_counts(sort=False).tolist()
        )
        assert (
            tab.groupby("other_tier", sort=False)["customers"].sum().tolist()
            == other["tier"].value_counts(sort=False).tolist()
        )
    assert len(mc.assignments) == 3 * len(f)
    assert list(mc.assignments.columns) == ["customer_id", "method", "tier", "tier_rank"]
    assert methods.compare_methods(f, _spec(method="abc"), seed=0) is None


def test_compare_with_is_validated():
    with pytest.raises(ParamsError, match="compare_with names the method itself"):
        _spec(method="abc", compare_with=["abc"])
    with pytest.raises(ParamsError, match="rules.conditions is empty.*compare_with names rules"):
        _spec(method="abc", compare_with=["rules"])
    with pytest.raises(
        ParamsError, match="abc needs one cut-off fewer than labels.*compare_with names abc"
    ):
        _spec(method="rfm", labels=["A", "B", "C", "D"], compare_with=["abc"])


def test_a_failing_compared_method_says_so():
    f = _customers(50)
    spec = _spec(
        method="abc", compare_with=["score"], score={"criteria": [{"column": "loyalty_points"}]}
    )
    with pytest.raises(
        MethodError,
        match="Comparing with score: score: the customer table has no column 'loyalty_points'",
    ) as e:
        methods.compare_methods(f, spec)
    assert "compare_with" in e.value.where


@pytest.mark.parametrize("method", ["rfm", "score"])
def test_bootstrap_with_the_full_data_reproduces_the_tiers(method):
    f = _customers(300)
    spec = _spec(method=method)
    ranks = methods.get(method).bootstrap(f, spec, np.arange(len(f))[None, :])[0]
    assert (ranks == methods.fit(f, spec).assignments["tier_rank"].to_numpy()).all()


def test_stability_table():
    f = _customers(800)
    spec = _spec(method="score", labels=["A", "B"])
    st = methods.stability(f, spec, n_boot=30, seed=1)
    assert list(st.columns) == [
        "tier",
        "tier_rank",
        "customers",
        "evaluated",
        "unchanged_share",
        "unchanged_low",
        "unchanged_high",
        "moved_up_share",
        "moved_down_share",
    ]
    assert st["customers"].tolist() == [400, 400]
    # the top tier cannot move up, the bottom one cannot move down; shares add up to 1
    assert st.loc[0, "moved_up_share"] == 0 and st.loc[1, "moved_down_share"] == 0
    total = st["unchanged_share"] + st["moved_up_share"] + st["moved_down_share"]
    assert total.tolist() == pytest.approx([1.0, 1.0])
    # a median split of 800 customers: most keep their tier, those near the median do not
    assert (0.8 < st["unchanged_share"]).all() and (st["unchanged_share"] < 1).all()
    assert (st["unchanged_low"] <= st["unchanged_share"]).all()
    assert st.attrs["n_boot"] == 30 and not st.attrs["subsampled"]
    pd.testing.assert_frame_equal(st, methods.stability(f, spec, n_boot=30, seed=1))


def test_stability_of_clear_clusters_is_complete():
    rng = np.random.default_rng(5)
    rows = [
        {
            "customer_id": f"g{g}-{i}",
            "recency_days": r * rng.uniform(0.9, 1.1),
            "frequency": f,
            "monetary": m * rng.uniform(0.9, 1.1),
        }
        for g, (r, f, m) in enumerate([(5, 30, 50000), (60, 6, 3000), (400, 1, 80)])
        for i in range(40)
    ]
    f = pd.DataFrame(rows)
    st = methods.stability(f, _spec(method="cluster"), n_boot=10, seed=0)
    assert st["unchanged_share"].tolist() == [1.0, 1.0, 1.0]


def test_stability_subsamples_large_data_and_says_so():
    f = _customers(3000)
    st = methods.stability(f, _spec(method="rfm"), n_boot=5, seed=0, max_customers=1000)
    assert st.attrs["subsampled"] and st.attrs["customers_used"] == 1000
    assert st["evaluated"].sum() == 1000 and st["customers"].sum() == 3000


def test_stability_is_fast_on_5000_customers():
    f = _customers(5000)
    for method in ("abc", "rfm", "score"):
        t0 = time.process_time()  # CPU time (0.03-0.16 s measured): load cannot fail it
        methods.stability(f, _spec(method=method), n_boot=50, seed=0)
        assert time.process_time() - t0 < 10, method


def test_no_stability_for_fixed_cutoffs_or_zero_resamples():
    f = _customers(100)
    assert methods.stability(f, _spec(method="abc"), n_boot=0) is None
    assert methods.stability(f, _spec(method="abc", stability={"n_boot": 0})) is None
    assert methods.stability(f, _spec(method="abc"), n_boot=3) is not None


@pytest.mark.parametrize("seed", range(12))
def test_agreement_measures_equal_scikit_learn_bit_for_bit(seed):
    """The adjusted Rand index and the linearly weighted kappa are computed here (importing
    scikit-learn's metrics costs 0.5 s a report); they must give scikit-learn's floats."""
    from sklearn.metrics import adjusted_rand_score, cohen_kappa_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    k = int(rng.integers(1, 7))
    ra = rng.integers(1, k + 1, size=n)
    # agreeing in part, as two tierings of the same customers do
    rb = np.where(rng.random(n) < 0.6, ra, rng.integers(1, k + 1, size=n))
    if seed % 4 == 0:  # the other method has fewer tiers
        rb = np.minimum(rb, max(1, k - 1))
    assert adjusted_rand(ra, rb) == adjusted_rand_score(ra, rb)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = cohen_kappa_score(ra, rb, weights="linear", labels=list(range(1, k + 1)))
    got = weighted_kappa(ra, rb, k)
    assert (np.isnan(got) and np.isnan(want)) or got == want


@pytest.mark.parametrize(
    ("ra", "rb", "ari"),
    [
        ([1, 1, 2, 2], [1, 1, 2, 2], 1.0),
        ([1, 1, 2, 2], [2, 2, 1, 1], 1.0),  # the same grouping under other labels
        ([1, 1, 1, 1], [1, 1, 1, 1], 1.0),
        ([1, 2], [1, 1], 0.0),
        # pairs: tp 1, fp 1, fn 2, tn 2 -> 2 (1*2 - 2*1) / ((1+2)(2+2) + (1+1)(1+2)) = 0
        ([1, 1, 1, 2], [1, 1, 2, 2], 0.0),
    ],
)
def test_adjusted_rand_hand_computed(ra, rb, ari):
    assert adjusted_rand(np.array(ra), np.array(rb)) == pytest.approx(ari)


def test_weighted_kappa_hand_computed():
    # confusion [[2, 1], [0, 1]] (k = 2): observed weighted disagreement 1 of 4, expected
    # (row sums 3, 1; column sums 2, 2): off-diagonal 3*2/4 + 1*2/4 = 2 -> 1 - 1/2 = 0.5
    assert weighted_kappa(np.array([1, 1, 1, 2]), np.array([1, 1, 2, 2]), 2) == pytest.approx(0.5)
    # every customer in one tier in both: no disagreement possible, kappa undefined
    assert np.isnan(weighted_kappa(np.array([1, 1]), np.array([1, 1]), 1))
