"""The weighted value score and k-means clustering on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tiering.analysis import methods
from tiering.analysis.methods import score
from tiering.errors import MethodError, ParamsError

from .conftest import tiering_spec as _spec


def _tiers(res):
    return list(res.assignments["tier"].astype(str))


# --------------------------------------------------------------------------- score

SCORE_FEATURES = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d"],
        "monetary": [100.0, 200, 300, 400],
        "returns_value": [0.0, 0, 50, 10],
    }
)
TWO_CRITERIA = [
    {"column": "monetary", "weight": 2},
    {"column": "returns_value", "direction": "lower"},
]


def test_score_percentile_hand_computed():
    # monetary percentiles (rank - .5)/4: 1/8 3/8 5/8 7/8; returns 0 0 50 10 -> .25 .25 .875 .625,
    # counting against: .75 .75 .125 .375; score (2 m + r) / 3
    res = methods.fit(
        SCORE_FEATURES, _spec(method="score", labels=["A", "B"], score={"criteria": TWO_CRITERIA})
    )
    s = res.assignments["value_score"].to_numpy()
    assert s == pytest.approx([1 / 3, 0.5, 1.375 / 3, 2.125 / 3])
    # equal shares: d (.708) and b (.5) in A; c (.458) and a (.333) in B
    assert _tiers(res) == ["B", "A", "B", "A"]
    assert res.params["criteria"][0]["weight_share"] == pytest.approx(2 / 3)


def test_score_minmax_and_zscore_hand_computed():
    mm = methods.fit(
        SCORE_FEATURES,
        _spec(
            method="score",
            labels=["A", "B"],
            score={"criteria": TWO_CRITERIA, "normalize": "minmax"},
        ),
    )
    # monetary 0 1/3 2/3 1; returns (0 0 50 10)/50 -> against: 1 1 0 .8
    assert mm.assignments["value_score"].to_numpy() == pytest.approx(
        [1 / 3, (2 / 3 + 1) / 3, (4 / 3) / 3, (2 + 0.8) / 3]
    )
    z = methods.fit(
        SCORE_FEATURES,
        _spec(
            method="score",
            labels=["A", "B"],
            score={"criteria": [{"column": "monetary"}], "normalize": "zscore"},
        ),
    )
    # mean 250, population sd sqrt(12500)
    assert z.assignments["value_score"].to_numpy() == pytest.approx(
        (np.array([100, 200, 300, 400]) - 250) / np.sqrt(12500)
    )


def test_score_thresholds():
    res = methods.fit(
        SCORE_FEATURES,
        _spec(
            method="score",
            labels=["A", "B", "C"],
            score={"criteria": TWO_CRITERIA, "thresholds": [0.6, 0.4]},
        ),
    )
    # scores .333 .5 .458 .708 -> C B B A
    assert _tiers(res) == ["C", "B", "B", "A"]
    assert list(res.thresholds["lower"][:2]) == [0.6, 0.4]


def test_score_tied_scores_share_a_tier():
    f = pd.DataFrame({"customer_id": list("wxyz"), "monetary": [5.0, 5, 5, 1]})
    res = methods.fit(
        f, _spec(method="score", labels=["A", "B"], score={"criteria": [{"column": "monetary"}]})
    )
    # the three tied customers sit at position 3/8 from the top: all in A, whatever the row order
    assert _tiers(res) == ["A", "A", "A", "B"]


def test_score_shares_cut_exactly():
    f = pd.DataFrame({"customer_id": [f"c{i:02d}" for i in range(10)], "monetary": np.arange(10.0)})
    res = methods.fit(
        f,
        _spec(
            method="score", score={"criteria": [{"column": "monetary"}], "shares": [0.2, 0.3, 0.5]}
        ),
    )
    assert res.counts().tolist() == [2, 3, 5]
    assert _tiers(res)[-2:] == ["A", "A"]


def test_score_numeric_attribute_constant_and_missing_criteria():
    f = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "monetary": [10.0, 20, 30, 40],
            "credit": ["3", "1", "", "2"],
            "frequency": [2, 2, 2, 2],
        }
    )
    res = methods.fit(
        f,
        _spec(
            method="score",
            labels=["A", "B"],
            score={
                "criteria": [{"column": "monetary"}, {"column": "credit"}, {"column": "frequency"}]
            },
        ),
    )
    # credit as text -> numbers; the blank scores neutral .5; frequency is constant -> .5 for all
    # credit percentiles among 3 values 3 1 2: 5/6 1/6 . 3/6; monetary 1/8 3/8 5/8 7/8
    expected = (np.array([1, 3, 5, 7]) / 8 + np.array([5 / 6, 1 / 6, 0.5, 0.5]) + 0.5) / 3
    assert res.assignments["value_score"].to_numpy() == pytest.approx(expected)
    assert ("missing_values", {"column": "credit", "n": 1}) in res.warnings
    assert ("constant_feature", {"column": "frequency"}) in res.warnings


def test_score_params_validation():
    with pytest.raises(ParamsError, match="shares must add up to 1"):
        _spec(method="score", score={"shares": [0.5, 0.3, 0.3]})
    with pytest.raises(ParamsError, match="give shares or thresholds, not both"):
        _spec(method="score", score={"shares": [0.5, 0.5], "thresholds": [0.5]})
    with pytest.raises(ParamsError, match="score.shares needs one share per label"):
        _spec(method="score", score={"shares": [0.5, 0.5]})
    with pytest.raises(ParamsError, match="greater than 0"):
        _spec(method="score", score={"criteria": [{"column": "monetary", "weight": 0}]})
    with pytest.raises(ParamsError, match="criteria name monetary more than once"):
        _spec(method="score", score={"criteria": [{"column": "monetary"}, {"column": "monetary"}]})


def test_score_normalise_against_a_reference():
    ref = np.array([0.0, 10, 20, 30])
    assert score.normalise(np.array([15.0, 30]), "minmax", ref) == pytest.approx([0.5, 1.0])
    assert score.normalise(np.array([15.0, 30]), "percentile", ref) == pytest.approx([0.5, 7 / 8])
    assert score.normalise(
        np.array([1.0, np.nan]), "zscore", np.array([2.0, 2.0])
    ) == pytest.approx([0, 0])


# --------------------------------------------------------------------------- cluster


def _blobs(seed=0, n=60, shuffle=True):
    """Three clearly separated groups of customers (20 each): high, middle and low value."""
    rng = np.random.default_rng(seed)
    groups = [(10, 20, 20000.0), (60, 6, 2000.0), (300, 1, 100.0)]
    rows = []
    for g, (rec, freq, mon) in enumerate(groups):
        for i in range(n // 3):
            rows.append(
                {
                    "customer_id": f"g{g}-{i:02d}",
                    "recency_days": rec * rng.uniform(0.8, 1.2),
                    "frequency": max(1, round(freq * rng.uniform(0.8, 1.2))),
                    "monetary": mon * rng.uniform(0.8, 1.2),
                    "group": g,
                }
            )
    df = pd.DataFrame(rows)
    return df.sample(frac=1, random_state=seed).reset_index(drop=True) if shuffle else df


def test_cluster_finds_the_groups_and_orders_them_by_value():
    f = _blobs()
    res = methods.fit(f, _spec(method="cluster"), seed=0)
    tier_of_group = dict(zip(f["group"], res.assignments["tier"].astype(str)))
    assert tier_of_group == {0: "A", 1: "B", 2: "C"}
    assert (res.assignments.groupby(f["group"])["tier"].nunique() == 1).all()
    assert res.params["k"] == 3 and res.params["silhouette"] > 0.7
    # the centres come back on the original scale: the high group spends about 20,000
    assert 16000 < res.params["centres"][0]["monetary"] < 24000


def test_cluster_reruns_and_row_order_give_identical_tiers():
    f = _blobs(seed=4)
    spec = _spec(method="cluster", labels=["A", "B", "C", "D"])
    a = methods.fit(f, spec, seed=11).assignments
    b = methods.fit(f, spec, seed=11).assignments
    pd.testing.assert_frame_equal(a, b)
    shuffled = f.sample(frac=1, random_state=9).reset_index(drop=True)
    c = methods.fit(shuffled, spec, seed=11).assignments.set_index("customer_id")
    assert (a.set_index("customer_id")["tier"] == c.loc[a["customer_id"], "tier"]).all()


def test_cluster_auto_k_by_silhouette():
    f = _blobs(seed=2)
    res = methods.fit(
        f,
        _spec(method="cluster", labels=list("ABCDE"), cluster={"k": "auto", "k_range": [2, 5]}),
        seed=0,
    )
    assert res.params["k"] == 3
    assert [s["k"] for s in res.params["silhouette_by_k"]] == [2, 3, 4, 5]
    best = max(res.params["silhouette_by_k"], key=lambda s: s["silhouette"])
    assert best["k"] == 3
    # three clusters, five labels: the first three are used and the report says so
    assert res.labels == ("A", "B", "C")
    assert ("fewer_clusters", {"k": 3, "n": 5}) in res.warnings


def test_cluster_drops_a_constant_feature_and_refuses_too_few_profiles():
    f = _blobs()
    f["tenure_days"] = 365
    res = methods.fit(f, _spec(method="cluster", cluster={"features": ["monetary", "tenure_days"]}))
    assert res.params["features"] == ["monetary"]
    assert res.warnings == (("constant_feature", {"column": "tenure_days"}),)
    two = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "recency_days": [1, 1, 1, 9, 9, 9],
            "frequency": [2, 2, 2, 1, 1, 1],
            "monetary": [50.0, 50, 50, 5, 5, 5],
        }
    )
    with pytest.raises(MethodError, match="only 2 distinct customer profile"):
        methods.fit(two, _spec(method="cluster"))


def test_cluster_params_validation():
    with pytest.raises(ParamsError, match="cluster.k is 4 but there are only 3 labels"):
        _spec(method="cluster", cluster={"k": 4})
    with pytest.raises(ParamsError, match="k_range is used only with k: auto"):
        _spec(method="cluster", cluster={"k_range": [2, 3]})
    with pytest.raises(ParamsError, match="k_range goes up to 6"):
        _spec(method="cluster", cluster={"k": "auto", "k_range": [2, 6]})
