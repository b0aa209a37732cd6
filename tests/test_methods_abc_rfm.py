"""ABC (computed cut-offs, any value column) and RFM (edges, segments, mappings) on
hand-computed cases, and the degenerate data every method must refuse clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tiering import params
from tiering.analysis import methods
from tiering.analysis.methods import abc, rfm
from tiering.errors import MethodError, ParamsError

from .conftest import tiering_spec as _spec
from .conftest import value_features as _features


def _rfm_features(recency, frequency, monetary):
    n = len(recency)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "recency_days": recency,
            "frequency": frequency,
            "monetary": np.asarray(monetary, dtype=float),
        }
    )


def _tiers(res):
    return list(res.assignments["tier"].astype(str))


# --------------------------------------------------------------------------- abc


def test_computed_abc_hand_computed():
    # values 40 25 15 10 5 3 2 (total 100, mean 14.29); curve x = i/7, y = .40 .65 .80 .90 .95 .98 1
    # Pareto point: min x^2 + (1-y)^2 -> i=2 (0.0816 + 0.1225); break-even: last value >= mean -> i=3
    # A|B at the earlier (i=2, y=.65); B|C nearest (3/7, 1): i=4 (0.0204 + 0.01) -> y=.90
    f = _features([40, 25, 15, 10, 5, 3, 2])
    res = methods.fit(f, _spec(method="abc", abc={"cutoffs": "computed"}))
    assert _tiers(res) == ["A", "A", "B", "B", "C", "C", "C"]
    p = res.params
    assert p["cutoffs"] == pytest.approx([0.65, 0.90])
    assert p["pareto_point"] == pytest.approx({"customer_share": 2 / 7, "value_share": 0.65})
    assert p["break_even_point"] == pytest.approx({"customer_share": 3 / 7, "value_share": 0.80})
    assert p["cutoff_mode"] == "computed"
    assert list(res.thresholds["upper"]) == pytest.approx([0.65, 0.90, 1.0])


def test_computed_abc_break_even_before_pareto_swaps_the_limits():
    # one big customer: only it reaches the mean (16.67), so the break-even point (x=1/6)
    # comes before the Pareto point; y = .5 .61 .715 .815 .91 1
    # Pareto: i=2 (1/9 + .39^2 = .2632 < .2778); A|B = break-even (y=.5);
    # B|C nearest (x=1/3, 1): i=3 (1/36 + .285^2 = .109) -> y=.715
    cut, points = abc.computed_cutoffs(np.array([50.0, 11, 10.5, 10, 9.5, 9]))
    assert points["break_even_point"] == pytest.approx(
        {"customer_share": 1 / 6, "value_share": 0.5}
    )
    assert points["pareto_point"] == pytest.approx({"customer_share": 2 / 6, "value_share": 0.61})
    assert cut == pytest.approx([0.5, 0.715])


def test_computed_abc_needs_three_labels():
    with pytest.raises(ParamsError, match="computed gives three tiers"):
        _spec(method="abc", labels=["A", "B"], abc={"cutoffs": "computed"})


def test_abc_on_a_numeric_attribute_column():
    # an attribute arrives as text: "1,200" is read as 1200; a blank counts as zero
    f = _features([1, 1, 1, 1], margin=["1,200", "600", "", "200"])
    res = methods.fit(f, _spec(method="abc", abc={"value": "margin", "cutoffs": [0.6, 0.9]}))
    # margin total 2000: 1200 (60 %) crosses .6 -> A; 600 reaches 90 % -> B; 200 -> C; blank -> C
    assert _tiers(res) == ["A", "B", "C", "C"]
    assert res.warnings == (("missing_values_zero", {"column": "margin", "n": 1}),)


def test_abc_unknown_or_text_value_column_is_a_clear_error():
    f = _features([5, 4, 3], region=["N", "S", "E"])
    with pytest.raises(MethodError, match="no column 'margin'") as e:
        methods.fit(f, _spec(method="abc", abc={"value": "margin"}))
    assert "monetary" in e.value.hint
    with pytest.raises(MethodError, match="'region' is not numeric: customer 000 has 'N'"):
        methods.fit(f, _spec(method="abc", abc={"value": "region"}))


@pytest.mark.parametrize("method", ["abc", "rfm", "score", "cluster"])
def test_all_customers_equal_is_a_clear_error(method):
    f = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(6)],
            "recency_days": [10] * 6,
            "frequency": [2] * 6,
            "monetary": [100.0] * 6,
        }
    )
    with pytest.raises(MethodError, match="same") as e:
        methods.fit(f, _spec(method=method))
    assert e.value.hint and e.value.where


@pytest.mark.parametrize("method", ["abc", "rfm", "score", "cluster", "rules"])
def test_fewer_customers_than_tiers_is_a_clear_error(method):
    f = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "recency_days": [1, 50],
            "frequency": [3, 1],
            "monetary": [500.0, 20.0],
        }
    )
    extra = {"rules": {"conditions": [{"A": "monetary > 100"}]}} if method == "rules" else {}
    with pytest.raises(MethodError, match="only 2 customer\\(s\\) for 3 tiers") as e:
        methods.fit(f, _spec(method=method, **extra))
    assert e.value.where == "tiering.labels" and "fewer tier labels" in e.value.hint


def test_abc_no_positive_value_is_a_clear_error():
    with pytest.raises(MethodError, match="no customer has a positive monetary"):
        methods.fit(_features([0, -5, -1]), _spec(method="abc"))


def test_abc_bootstrap_with_the_full_data_reproduces_the_tiers():
    rng = np.random.default_rng(3)
    f = _features(rng.lognormal(5, 1.2, 400).round(2))
    for cutoffs in ([0.8, 0.95], "computed"):
        spec = _spec(method="abc", abc={"cutoffs": cutoffs})
        ranks = abc.bootstrap_ranks(f, spec, np.arange(len(f))[None, :])[0]
        assert (ranks == methods.fit(f, spec).assignments["tier_rank"].to_numpy()).all()


# --------------------------------------------------------------------------- rfm


def test_rfm_edge_scores_hand_computed():
    edges = [30, 90, 180, 365]
    # recency: up to and including 30 days scores 5; 31 days 4; 200 days 2; 400 days 1
    assert list(rfm.edge_scores([10, 30, 31, 200, 400], edges, 5, lower_is_better=True)) == [
        5,
        5,
        4,
        2,
        1,
    ]
    # frequency: one more for each edge reached
    assert list(rfm.edge_scores([1, 2, 4, 10, 20], [2, 3, 5, 10], 5, lower_is_better=False)) == [
        1,
        2,
        3,
        5,
        5,
    ]


def test_rfm_fixed_edges_in_fit_and_not_data_driven():
    f = _rfm_features([5, 100, 400], [12, 3, 1], [5000, 600, 50])
    spec = _spec(
        method="rfm",
        rfm={
            "edges": {
                "recency": [30, 90, 180, 365],
                "frequency": [2, 3, 5, 10],
                "monetary": [100, 500, 1000, 4000],
            }
        },
    )
    res = methods.fit(f, spec)
    assert list(res.assignments["rfm_code"]) == ["555", "333", "111"]
    assert not methods.is_data_driven(spec)
    assert methods.stability(f, spec) is None
    # one dimension on quantiles makes it data-driven
    assert methods.is_data_driven(
        _spec(method="rfm", rfm={"edges": {"recency": [30, 90, 180, 365]}})
    )


def test_rfm_edges_must_match_bins():
    with pytest.raises(ParamsError, match="edges.recency needs bins - 1 = 4 values, got 2"):
        _spec(method="rfm", rfm={"edges": {"recency": [30, 90]}})
    with pytest.raises(ParamsError, match="strictly increasing"):
        _spec(method="rfm", rfm={"edges": {"frequency": [1, 5, 3, 9]}})


def test_segments_hand_computed():
    r = np.array([5, 5, 1, 3, 2, 4])
    f = np.array([1, 5, 5, 3, 1, 4])
    m = np.array([1, 5, 4, 2, 2, 3])
    # FM = (F + M + 1) // 2 -> 1, 5, 5, 3, 2, 4
    assert list(rfm.segments(r, f, m, 5)) == [
        "new",
        "champions",
        "cant_lose",
        "need_attention",
        "hibernating",
        "loyal",
    ]


def test_scores_move_to_the_five_point_grid_by_bin_centre():
    assert list(rfm.to_five(np.array([1, 2, 3]), 3)) == [1, 3, 5]
    assert list(rfm.to_five(np.array([1, 2, 3, 10]), 10)) == [1, 1, 2, 5]
    assert list(rfm.to_five(np.arange(1, 6), 5)) == [1, 2, 3, 4, 5]


def test_grid_covers_every_segment():
    cells = {s for row in rfm.SEGMENT_GRID.values() for s in row}
    assert cells == set(params.RFM_SEGMENTS)
    assert set(rfm.SEGMENT_LEVEL) == set(params.RFM_SEGMENTS)


def test_default_segment_tiers():
    m = rfm.default_segment_tiers(["A", "B", "C"])
    assert m == {
        "A": ["champions", "loyal", "cant_lose"],
        "B": [
            "potential_loyalists",
            "new",
            "promising",
            "need_attention",
            "about_to_sleep",
            "at_risk",
        ],
        "C": ["hibernating", "lost"],
    }
    assert rfm.default_segment_tiers(["V", "N"]) == {
        "V": [
            "champions",
            "loyal",
            "potential_loyalists",
            "need_attention",
            "at_risk",
            "cant_lose",
        ],
        "N": ["new", "promising", "about_to_sleep", "hibernating", "lost"],
    }


def test_rfm_tiers_by_segment_mapping():
    # five customers, quantile scores 5..1 on every dimension -> codes 555 444 333 222 111
    f = _rfm_features([5, 10, 50, 100, 300], [9, 4, 3, 2, 1], [900, 400, 300, 200, 100])
    mapping = {
        "VIP": ["champions", "loyal"],
        "Normal": ["potential_loyalists", "need_attention", "new", "promising", "cant_lose"],
        "Low": ["about_to_sleep", "at_risk", "hibernating", "lost"],
    }
    res = methods.fit(
        f,
        _spec(
            method="rfm",
            labels=["VIP", "Normal", "Low"],
            rfm={"tier_by": "segment", "segment_tiers": mapping},
        ),
    )
    a = res.assignments
    # R5 FM5 champions; R4 FM4 loyal; R3 FM3 need_attention; R2 FM2 hibernating; R1 FM1 lost
    assert list(a["segment"].astype(str)) == [
        "champions",
        "loyal",
        "need_attention",
        "hibernating",
        "lost",
    ]
    assert _tiers(res) == ["VIP", "VIP", "Normal", "Low", "Low"]
    assert res.params["segment_tiers"] == mapping
    assert res.thresholds["rule"][0] == "segments champions, loyal"


def test_segment_tiers_validation_reports_every_problem():
    with pytest.raises(ParamsError) as e:
        _spec(
            method="rfm",
            rfm={
                "tier_by": "segment",
                "segment_tiers": {"A": ["champion", "loyal"], "B": ["loyal"], "Z": ["lost"]},
            },
        )
    text = str(e.value)
    assert "unknown segment 'champion' (did you mean 'champions'?)" in text
    with pytest.raises(ParamsError) as e:
        _spec(
            method="rfm",
            rfm={
                "tier_by": "segment",
                "segment_tiers": {"A": ["loyal"], "B": ["loyal"], "Z": ["lost"]},
            },
        )
    text = str(e.value)
    assert "'Z' not among the labels" in text
    assert "loyal mapped to more than one tier" in text
    assert "missing champions, potential_loyalists" in text


def test_segment_mapping_needed_beyond_five_tiers():
    with pytest.raises(ParamsError, match="needs rfm.segment_tiers"):
        _spec(method="rfm", labels=list("ABCDEF"), rfm={"tier_by": "segment"})


def test_rfm_constant_dimension_is_reported_not_fatal():
    # every customer bought once: F carries no information (all score 3)
    f = _rfm_features([5, 10, 50, 100, 300], [1] * 5, [900, 400, 300, 200, 100])
    res = methods.fit(f, _spec(method="rfm"))
    assert set(res.assignments["f_score"]) == {3}
    assert res.warnings == (("constant_feature", {"column": "frequency"}),)


def test_rfm_quantile_scores_relative_to_a_reference():
    ref = np.array([1.0, 2, 3, 4])
    # 2.5 sits above 2 of 4 reference values: percentile 2/4 -> floor(5 * .5) + 1 = 3
    assert list(rfm.quantile_scores([2.5, 0.0, 9.0, 4.0], 5, ref)) == [3, 1, 5, 5]


def test_rfm_result_independent_of_row_order():
    rng = np.random.default_rng(7)
    n = 300
    f = _rfm_features(rng.integers(1, 400, n), rng.integers(1, 8, n), rng.integers(1, 50, n) * 10.0)
    spec = _spec(method="rfm", rfm={"tier_by": "segment"})
    a = methods.fit(f, spec).assignments.set_index("customer_id")
    b = methods.fit(f.sample(frac=1, random_state=1).reset_index(drop=True), spec).assignments
    b = b.set_index("customer_id").loc[a.index]
    assert (a["tier"] == b["tier"]).all() and (a["segment"] == b["segment"]).all()
