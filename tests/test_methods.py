"""Tiering methods on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tiering.analysis import methods
from tiering.analysis.methods.rfm import default_thresholds, quantile_scores
from tiering.errors import MethodError

from .conftest import tiering_spec as _spec
from .conftest import value_features as _features


def test_abc_hand_computed():
    # total 1000: shares 0.5, 0.3, 0.1, 0.05, 0.05 -> cumulative before: 0, .5, .8, .9, .95
    f = _features([100, 500, 50, 300, 50], ids=["d", "a", "e", "b", "c"])
    res = methods.fit(f, _spec(method="abc"))
    tiers = dict(zip(res.assignments["customer_id"], res.assignments["tier"].astype(str)))
    # a (500) reaches 50%, b (300) crosses 80% -> both A; d (100) reaches 90% -> B;
    # c and e tie at 50: ordered by id, c reaches 95% -> B; e starts at 95% -> C
    assert tiers == {"a": "A", "b": "A", "d": "B", "c": "B", "e": "C"}
    assert list(res.assignments["customer_id"]) == ["d", "a", "e", "b", "c"]  # input order kept
    cum = dict(zip(res.assignments["customer_id"], res.assignments["cum_share"]))
    assert cum["b"] == pytest.approx(0.8) and cum["e"] == pytest.approx(1.0)
    assert list(res.thresholds["upper"]) == [0.8, 0.95, 1.0]


def test_abc_top_tier_share_is_within_one_customer_of_the_cutoff():
    rng = np.random.default_rng(1)
    f = _features(rng.lognormal(5, 1.5, 2000))
    res = methods.fit(f, _spec(method="abc"))
    a = res.assignments
    share = f["monetary"] / f["monetary"].sum()
    top = a["tier"] == "A"
    top_share = share[top].sum()
    smallest_in_a = share[top].min()
    assert top_share >= 0.8
    assert top_share - smallest_in_a < 0.8


def test_abc_negative_and_zero_spend_go_to_the_last_tier():
    f = _features([100, 0, -20, 50])
    res = methods.fit(f, _spec(method="abc"))
    assert list(res.assignments["tier"].astype(str)) == ["A", "C", "C", "A"]


def test_abc_custom_labels_and_cutoffs():
    f = _features([60, 25, 10, 5])
    res = methods.fit(
        f, _spec(method="abc", labels=["VIP", "普通", "低"], abc={"cutoffs": [0.5, 0.9]})
    )
    assert list(res.assignments["tier"].astype(str)) == ["VIP", "普通", "普通", "低"]
    assert list(res.assignments["tier"].cat.categories) == ["VIP", "普通", "低"]
    assert res.assignments["tier"].cat.ordered


def test_abc_result_independent_of_row_order():
    rng = np.random.default_rng(2)
    f = _features(rng.integers(1, 20, 300).astype(float))  # many ties
    a = methods.fit(f, _spec(method="abc")).assignments.set_index("customer_id")["tier"]
    shuffled = f.sample(frac=1, random_state=5).reset_index(drop=True)
    b = methods.fit(shuffled, _spec(method="abc")).assignments.set_index("customer_id")["tier"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index())


def test_quantile_scores_hand_computed():
    assert list(quantile_scores([10, 20, 30, 40, 50], 5)) == [1, 2, 3, 4, 5]
    assert list(quantile_scores([50, 40, 30, 20, 10], 5)) == [5, 4, 3, 2, 1]
    # ties share the average rank: ranks 1.5,1.5,3,4 of n=4 -> floor(5*(r-.5)/4)+1
    assert list(quantile_scores([1, 1, 2, 3], 5)) == [2, 2, 4, 5]
    assert list(quantile_scores([7, 7, 7], 5)) == [3, 3, 3]


def test_rfm_hand_computed():
    f = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "recency_days": [5, 10, 50, 100, 300],  # lower is better
            "frequency": [9, 4, 3, 2, 1],
            "monetary": [900, 400, 300, 200, 100],
        }
    )
    res = methods.fit(f, _spec(method="rfm", labels=["A", "B", "C"]))
    a = res.assignments
    assert list(a["r_score"]) == [5, 4, 3, 2, 1]
    assert list(a["rfm_code"]) == ["555", "444", "333", "222", "111"]
    # default thresholds for 3 tiers over 1..5: 3.667 and 2.333
    assert default_thresholds(5, 3) == [pytest.approx(11 / 3), pytest.approx(7 / 3)]
    assert list(a["tier"].astype(str)) == ["A", "A", "B", "C", "C"]


def test_rfm_weights_and_thresholds():
    f = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "recency_days": [1, 100],
            "frequency": [1, 5],
            "monetary": [10, 50],
        }
    )
    # bins 2: a -> R2 F1 M1 ; b -> R1 F2 M2 ; only recency counts
    res = methods.fit(
        f,
        _spec(
            method="rfm",
            labels=["A", "B"],
            rfm={
                "bins": 2,
                "weights": {"recency": 1, "frequency": 0, "monetary": 0},
                "thresholds": [1.5],
            },
        ),
    )
    assert list(res.assignments["tier"].astype(str)) == ["A", "B"]
    assert list(res.assignments["rfm_score"]) == [2.0, 1.0]


def test_rfm_all_zero_weights_is_a_clear_error():
    f = pd.DataFrame(
        {"customer_id": ["a"], "recency_days": [1], "frequency": [1], "monetary": [1.0]}
    )
    with pytest.raises(MethodError, match="weights are all zero"):
        methods.fit(
            f, _spec(method="rfm", rfm={"weights": {"recency": 0, "frequency": 0, "monetary": 0}})
        )


def test_no_customers_is_a_clear_error():
    with pytest.raises(MethodError, match="No customers"):
        methods.fit(_features([]), _spec(method="abc"))
