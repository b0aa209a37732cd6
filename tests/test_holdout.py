"""Tests of the holdout check (tiering.analysis.holdout): hand-built histories with known
futures; and of its report text and chart (tiering.present.holdout)."""

from __future__ import annotations

import datetime as dt
import html as html_mod
import math
import re
import types

import numpy as np
import pandas as pd
import pytest

from tiering import params as params_mod
from tiering.analysis.holdout import (
    CUSTOMER_COLUMNS,
    TEST_COLUMNS,
    TIER_COLUMNS,
    HoldoutCheck,
    holdout_check,
    holdout_cutoff,
)
from tiering.errors import TieringError
from tiering.present.holdout import lift_chart, section_holdout

from .conftest import ONLINE_RETAIL, ROOT

AS_OF = dt.date(2024, 7, 1)  # holdout of 3 months: 1 Apr - 30 Jun 2024


def make_params(tmp_path, **stats):
    raw = {
        "data": {"path": str(tmp_path / "unused.csv")},
        "tiering": {"method": "abc", "labels": ["A", "B"], "abc": {"cutoffs": [0.8]}},
        "stats": stats,
    }
    return params_mod.validate(raw)


def transactions(rows) -> pd.DataFrame:
    """Clean transactions from (customer, date, amount) tuples; negative = return."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    frame["is_return"] = frame["amount"] < 0
    frame["row"] = np.arange(2, len(frame) + 2)
    return frame[["row", "customer_id", "order_id", "order_date", "amount", "is_return"]]


def known_history() -> pd.DataFrame:
    """Five big customers (a1-a5) and twenty small ones (b01-b20), then a known future.

    Before the cut-off (1 Apr 2024): the a's spend 180 each (900), the b's 5 each (100),
    z_old nothing; ABC with cut-off 0.8 puts the five a's in A (the 5th starts at
    720 / 1000 < 0.8) and everyone else in B (21 customers). After it: a1-a4 buy 100
    each, a5 nothing; b01-b05 buy 20 each, the rest nothing; a new customer n1 buys 50.
    """
    rows = []
    for i in range(1, 6):
        rows += [(f"a{i}", "2024-01-15", 100.0), (f"a{i}", "2024-03-10", 80.0)]
    for i in range(1, 21):
        rows.append((f"b{i:02d}", "2024-02-01", 5.0))
    for i in range(1, 5):
        rows.append((f"a{i}", "2024-05-01", 100.0))
    for i in range(1, 6):
        rows.append((f"b{i:02d}", "2024-06-30", 20.0))
    rows.append(("n1", "2024-04-02", 50.0))
    rows.append(("z_old", "2023-12-20", 0.0))  # history reaches back six months
    return transactions(rows)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927) score interval, written out."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# --------------------------------------------------------------------------- hand-built history


def test_known_future_gives_hand_computed_shares_lift_and_retention(tmp_path):
    cfg = make_params(tmp_path)
    v = holdout_check(known_history(), params=cfg, as_of=AS_OF, months=3, seed=1, n_boot=500)
    assert isinstance(v, HoldoutCheck) and v.available and v.reason == ""
    assert tuple(v.tiers.columns) == TIER_COLUMNS
    assert tuple(v.tests.columns) == TEST_COLUMNS
    assert tuple(v.customers.columns) == CUSTOMER_COLUMNS
    p = v.params
    assert (p["cutoff"], p["history_end"], p["period_end"]) == (
        dt.date(2024, 4, 1),
        dt.date(2024, 3, 31),
        dt.date(2024, 6, 30),
    )
    # b06's future 500 is not in the tiers; but z_old (zero spend) is a customer.
    cust = v.customers.set_index("customer_id")
    assert cust.loc[["a1", "a2", "a3", "a4", "a5"], "tier"].astype(str).tolist() == ["A"] * 5
    assert (cust.drop(index=["a1", "a2", "a3", "a4", "a5"])["tier"].astype(str) == "B").all()
    assert len(cust) == 26
    assert cust.loc["a1", "next_revenue"] == 100.0 and cust.loc["a5", "next_orders"] == 0

    t = v.tiers[v.tiers["grouping"] == "tiering"].set_index("tier")
    # A: 5 of 26 customers, 4 buyers, revenue 400 of 400 + 100 = 500.
    assert t.loc["A", "customers"] == 5 and t.loc["B", "customers"] == 21
    assert t.loc["A", "customer_share"] == pytest.approx(5 / 26)
    assert t.loc["A", "revenue"] == pytest.approx(400.0)
    assert t.loc["B", "revenue"] == pytest.approx(100.0)
    assert t.loc["A", "revenue_share"] == pytest.approx(0.8)
    assert t.loc["A", "lift"] == pytest.approx(0.8 / (5 / 26))
    assert t.loc["B", "lift"] == pytest.approx(0.2 / (21 / 26))
    assert t.loc["A", "revenue_per_customer"] == pytest.approx(80.0)
    assert t.loc["A", "retention"] == pytest.approx(0.8)
    assert t.loc["B", "retention"] == pytest.approx(5 / 21)
    assert t.loc["A", "churn"] == pytest.approx(0.2)
    low, high = wilson(4, 5)
    assert (t.loc["A", "retention_ci_low"], t.loc["A", "retention_ci_high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    assert t.loc["A", "churn_ci_low"] == pytest.approx(1 - high)
    for col in ("revenue_share", "lift", "revenue_per_customer"):
        assert (t[f"{col}_ci_low"] <= t[col] + 1e-12).all() and (
            t[col] <= t[f"{col}_ci_high"] + 1e-12
        ).all()
    # Stratified bootstrap: lift bounds are revenue-share bounds over the fixed customer share.
    np.testing.assert_allclose(t["lift_ci_low"], t["revenue_share_ci_low"] / t["customer_share"])
    # The new customer is counted apart.
    assert (p["new_customers"], p["new_customer_revenue"], p["revenue_total"]) == (1, 50.0, 550.0)
    assert p["customers_tiered"] == 26 and p["revenue_tiered"] == pytest.approx(500.0)


def test_future_purchases_never_change_the_tiers(tmp_path):
    cfg = make_params(tmp_path)
    base = known_history()
    leaked = pd.concat([base, transactions([("b06", "2024-05-05", 5000.0)])], ignore_index=True)
    one = holdout_check(base, params=cfg, as_of=AS_OF, months=3, n_boot=200)
    two = holdout_check(leaked, params=cfg, as_of=AS_OF, months=3, n_boot=200)
    pd.testing.assert_series_equal(one.customers["tier"], two.customers["tier"])
    b = two.tiers[(two.tiers["grouping"] == "tiering")].set_index("tier")
    assert b.loc["B", "revenue"] == pytest.approx(5100.0)  # ... but the outcome counts it
    assert b.loc["A", "lift"] < 1.0


def test_random_grouping_keeps_tier_sizes_and_follows_the_seed(tmp_path):
    cfg = make_params(tmp_path)
    v = holdout_check(known_history(), params=cfg, as_of=AS_OF, months=3, seed=3, n_boot=200)
    pd.testing.assert_series_equal(
        v.customers["tier"].value_counts().sort_index(),
        v.customers["random_tier"].value_counts().sort_index(),
        check_names=False,
    )
    again = holdout_check(known_history(), params=cfg, as_of=AS_OF, months=3, seed=3, n_boot=200)
    pd.testing.assert_frame_equal(v.tiers, again.tiers)
    other = [
        holdout_check(
            known_history(), params=cfg, as_of=AS_OF, months=3, seed=s, n_boot=200
        ).customers["random_tier"]
        for s in (4, 5, 6)
    ]
    assert any(not o.equals(v.customers["random_tier"]) for o in other)
    r = v.tiers[v.tiers["grouping"] == "random"]
    assert r["customers"].tolist() == [5, 21]
    assert r["revenue"].sum() == pytest.approx(500.0)


def test_disabled_or_too_short_history(tmp_path):
    assert (
        holdout_check(known_history(), params=make_params(tmp_path, holdout_months=0), as_of=AS_OF)
        is None
    )
    assert (
        holdout_check(
            known_history(), params=make_params(tmp_path, holdout_months=None), as_of=AS_OF
        )
        is None
    )
    short = known_history()
    short = short[short["order_date"] >= "2024-02-01"]  # 5 months < 2 x 3
    v = holdout_check(short, params=make_params(tmp_path), as_of=AS_OF)
    assert not v.available and v.reason == "too_short"
    assert (v.params["need_months"], v.params["have_months"]) == (6, 5)
    assert v.tiers.empty and list(v.tiers.columns) == list(TIER_COLUMNS)
    an = types.SimpleNamespace(params=make_params(tmp_path), holdout=v)
    html = section_holdout(an)
    assert 'id="sec-validation"' in html
    assert (
        "needs at least 6 months of data (a 3-month holdout and as much history before it), "
        "but the data covers only 5 months (1 Feb 2024 – 30 Jun 2024)"
    ) in html
    an.params = an.params.model_copy(update={"language": "zh"})
    assert "前瞻检验至少需要6个月的数据" in section_holdout(an)
    assert section_holdout(types.SimpleNamespace(params=an.params, holdout=None)) == ""
    with pytest.raises(TieringError, match="whole number of months"):
        holdout_check(known_history(), params=make_params(tmp_path), as_of=AS_OF, months=-1)


def test_method_that_cannot_tier_the_earlier_data_gives_a_reason(tmp_path):
    rows = [(f"c{i}", "2023-12-01", 10.0) for i in range(10)]  # all spend the same
    rows += [("c1", "2024-05-01", 30.0)]
    v = holdout_check(transactions(rows), params=make_params(tmp_path), as_of=AS_OF, n_boot=200)
    assert v.reason == "tiering_failed" and "same monetary" in v.params["detail"]
    html = section_holdout(types.SimpleNamespace(params=make_params(tmp_path), holdout=v))
    assert "could not tier the customers on the data before the cut-off (abc: all 10" in html


def test_holdout_months_parameter_default_and_bounds(tmp_path):
    assert make_params(tmp_path).stats.holdout_months == 3
    assert make_params(tmp_path).stats.test == "kruskal"
    assert make_params(tmp_path, test="welch").stats.test == "welch"
    with pytest.raises(TieringError, match="holdout_months"):
        make_params(tmp_path, holdout_months=-2)
    with pytest.raises(TieringError, match="stats.test"):
        make_params(tmp_path, test="anova")


# --------------------------------------------------------------------------- populations


def population(n: int, *, predictive: bool, seed: int) -> pd.DataFrame:
    """Customers with a past and a future; the future follows the past or not at all."""
    rng = np.random.default_rng(seed)
    value = rng.lognormal(4, 1.2, n)
    future = value if predictive else rng.permutation(value)
    rows = []
    for i in range(n):
        rows.append((f"c{i:05d}", "2023-11-15", round(float(value[i]), 2)))
        if rng.random() < (0.2 + 0.6 * (future[i] > np.median(future)) if predictive else 0.5):
            rows.append((f"c{i:05d}", "2024-05-15", round(float(future[i]), 2)))
    return transactions(rows)


def test_random_by_construction_future_reads_as_not_predictive(tmp_path):
    cfg = make_params(tmp_path)
    v = holdout_check(
        population(3000, predictive=False, seed=11), params=cfg, as_of=AS_OF, n_boot=300
    )
    test = v.tests.set_index("grouping")
    assert not test.loc["tiering", "meaningful"]
    assert test.loc["tiering", "magnitude"] == "negligible"
    a = v.tiers[(v.tiers["grouping"] == "tiering") & (v.tiers["tier"] == "A")].iloc[0]
    assert a["lift_ci_low"] < 1.0 < a["lift_ci_high"]
    for lang, expected, forbidden in (
        (
            "en",
            "do not predict next-period revenue meaningfully better than a random grouping",
            "The tiers predict what customers do next",
        ),
        ("zh", "对后续营收的预测并不比同样规模的随机分组有实质性的优势", "分级能够预测"),
    ):
        an = types.SimpleNamespace(params=cfg.model_copy(update={"language": lang}), holdout=v)
        html = section_holdout(an)
        assert expected in html and forbidden not in html
    text = re.sub(
        r"<[^>]+>",
        " ",
        section_holdout(
            types.SimpleNamespace(params=cfg.model_copy(update={"language": "en"}), holdout=v)
        ),
    )
    assert "does not differ meaningfully between the tiers" in text


def test_predictive_tiering_reads_as_predictive_with_the_headline_numbers(tmp_path):
    cfg = make_params(tmp_path)
    v = holdout_check(
        population(3000, predictive=True, seed=12), params=cfg, as_of=AS_OF, n_boot=300
    )
    t = v.tiers[v.tiers["grouping"] == "tiering"].set_index("tier")
    r = v.tiers[v.tiers["grouping"] == "random"].set_index("tier")
    assert (
        t.loc["A", "lift_ci_low"] > 1.5
        and r.loc["A", "lift_ci_low"] < 1.0 < r.loc["A", "lift_ci_high"]
    )
    assert v.tests.set_index("grouping").loc["tiering", "meaningful"]
    an = types.SimpleNamespace(params=cfg, holdout=v)
    html = section_holdout(an)
    share = f"{t.loc['A', 'revenue_share'] * 100:.0f}%"
    cust = f"{t.loc['A', 'customer_share'] * 100:.0f}%"
    assert (
        f"A-tier customers, chosen on data up to 31 Mar 2024, brought {share} of the next 3 "
        f"months&#x27; revenue while being {cust} of customers (lift {t.loc['A', 'lift']:.2f}, "
        f"95% CI {t.loc['A', 'lift_ci_low']:.2f}–{t.loc['A', 'lift_ci_high']:.2f}); a random "
        f"grouping of the same sizes gives lift {r.loc['A', 'lift']:.2f}"
    ) in html
    assert "The tiers predict what customers do next" in html
    assert html.count("<figure") == 1 and "tier-badge" in html
    zh = section_holdout(
        types.SimpleNamespace(params=cfg.model_copy(update={"language": "zh"}), holdout=v)
    )
    assert "根据截至2024年3月31日的数据选出的A级客户" in zh
    visible = html_mod.unescape(re.sub(r"<[^>]+>", " ", zh))
    latin = set(re.findall(r"[A-Za-z]+", visible))
    assert latin <= {"A", "B", "CI", "Kruskal", "Wallis", "p", "Wilson"}, latin


def test_lift_chart_draws_both_groupings_in_tier_colours(tmp_path):
    import matplotlib.pyplot as plt

    from tiering.style import tier_palette

    cfg = make_params(tmp_path)
    v = holdout_check(
        population(600, predictive=True, seed=13), params=cfg, as_of=AS_OF, n_boot=200
    )
    for lang in ("en", "zh"):
        ax = lift_chart(v, language=lang)
        assert ax.get_xscale() == "log"
        colours = {
            tuple(np.round(line.get_color(), 3))
            if not isinstance(line.get_color(), str)
            else line.get_color()
            for line in ax.lines
        }
        assert tier_palette(["A", "B"])["A"] in colours
        assert [tick.get_text() for tick in ax.get_yticklabels()] == ["A", "B"]
        title = ax.get_title(loc="left")
        assert title == (
            "Share of the next 3 months' revenue per share of customers (lift)"
            if lang == "en"
            else "随后3个月的营收占比与客户占比之比（提升度）"
        )
        plt.close(ax.figure)
    with pytest.raises(TieringError, match="HoldoutCheck that ran"):
        lift_chart(
            HoldoutCheck(
                tiers=pd.DataFrame(),
                tests=pd.DataFrame(),
                customers=pd.DataFrame(),
                params={"reason": "too_short"},
            ),
            language="en",
        )


# --------------------------------------------------------------------------- Online Retail


@pytest.mark.realdata
def test_online_retail_top_tier_brings_most_of_the_next_quarter():
    if not ONLINE_RETAIL.exists():
        pytest.skip("needs ../shared/datasets/online_retail.csv.gz")
    from tiering.data import io as io_mod

    cfg = params_mod.load(ROOT / "params" / "examples" / "online_retail.yaml")
    loaded = io_mod.load(
        cfg.data, as_of=cfg.as_of, window_start=cfg.window.start, window_months=cfg.window.months
    )
    v = holdout_check(loaded.transactions, params=cfg, as_of=loaded.as_of, n_boot=500)
    assert v.available and v.params["cutoff"] == dt.date(2011, 9, 10)
    t = v.tiers[v.tiers["grouping"] == "tiering"].set_index("tier")
    r = v.tiers[v.tiers["grouping"] == "random"].set_index("tier")
    assert t["customers"].sum() == v.params["customers_tiered"] == 3412
    assert t.loc["A", "revenue_share"] == pytest.approx(0.7406, abs=5e-4)
    assert t.loc["A", "lift"] == pytest.approx(2.64, abs=0.01)
    assert 2.2 < t.loc["A", "lift_ci_low"] < 2.64 < t.loc["A", "lift_ci_high"] < 3.0
    assert t.loc["A", "retention"] == pytest.approx(781 / 957)
    assert r.loc["A", "lift_ci_low"] < 1.0 < r.loc["A", "lift_ci_high"]
    assert v.tests.set_index("grouping").loc["tiering", "magnitude"] in ("medium", "large")


@pytest.mark.parametrize(
    "language, equal, one, wrong",
    [
        (
            "en",
            "in the random grouping every tier&#x27;s share still buying is 100%.",
            "One customer who first bought after the cut-off brought",
            ["lies between 100% and 100%", "1 customers who first bought"],
        ),
        (
            "zh",
            "随机分组中各组的再次购买比例都是100%。",
            "截止日之后才首次购买的1位新客户",
            ["都在100%至100%之间"],
        ),
    ],
)
def test_equal_random_retention_and_one_new_customer_read_right(
    tmp_path, language, equal, one, wrong
):
    # everyone tiered at the cut-off buys again, so every random group's share still
    # buying is 100 %; one customer (n1) is new after the cut-off
    rows = [(r.customer_id, r.order_date, r.amount) for r in known_history().itertuples()]
    rows += [(f"b{i:02d}", "2024-06-30", 20.0) for i in range(6, 21)]
    rows += [("a5", "2024-05-01", 90.0), ("z_old", "2024-05-02", 10.0)]
    cfg = make_params(tmp_path).model_copy(update={"language": language})
    v = holdout_check(transactions(rows), params=cfg, as_of=AS_OF, months=3, seed=1, n_boot=200)
    assert (v.tiers["retention"] == 1.0).all() and v.params["new_customers"] == 1
    html = section_holdout(types.SimpleNamespace(params=cfg, holdout=v))
    assert equal in html and one in html
    for text in wrong:
        assert text not in html


# --------------------------------------------------------------------------- shared history


def assert_same_check(got: HoldoutCheck, want: HoldoutCheck) -> None:
    for name in ("tiers", "tests", "customers"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)
    assert got.params == want.params


def test_the_migrations_snapshot_at_the_cutoff_serves_as_the_history(tmp_path, monkeypatch):
    """The pipeline runs the migration first and hands its snapshot at the holdout's
    cut-off to the check: the same check, bit for bit, as reading the history again."""
    from tiering.analysis.migration import analyse_migration

    history = known_history().assign(region=lambda f: np.where(f["amount"] > 50, "N", "S"))
    cfg = params_mod.validate(
        {
            "data": {"path": str(tmp_path / "unused.csv")},
            "tiering": {"method": "abc", "labels": ["A", "B"], "abc": {"cutoffs": [0.8]}},
            "migration": {"period": "month"},
            "stats": {"n_boot": 300},
        }
    )
    cutoff = holdout_cutoff(AS_OF, 3)
    assert cutoff == pd.Timestamp("2024-04-01")
    shared = {cutoff: None, pd.Timestamp("2030-01-01"): "kept"}
    analyse_migration(
        history,
        params=cfg,
        spec=cfg.migration,
        as_of=AS_OF,
        attributes=("region",),
        features_at=shared,
    )
    assert shared[pd.Timestamp("2030-01-01")] == "kept"  # not a snapshot date
    features = shared[cutoff]
    assert sorted(features["customer_id"]) == sorted(
        history.loc[history["order_date"] < cutoff, "customer_id"].unique()
    )
    want = holdout_check(history, params=cfg, as_of=AS_OF, seed=1)
    assert want.available
    from tiering.analysis import holdout as holdout_mod

    read = holdout_mod._features.customer_features
    with monkeypatch.context() as m:  # given the snapshot, the history is not read again
        m.setattr(holdout_mod._features, "customer_features", None)
        got = holdout_check(history, params=cfg, as_of=AS_OF, seed=1, features=features)
    assert holdout_mod._features.customer_features is read
    assert_same_check(got, want)
    # features made with other attribute columns are not used: the check reads the history
    other = features.drop(columns=["region"])
    assert_same_check(holdout_check(history, params=cfg, as_of=AS_OF, seed=1, features=other), want)
    # the customers of the holdout not tiered before it: n1 alone (50)
    assert (want.params["new_customers"], want.params["new_customer_revenue"]) == (1, 50.0)
