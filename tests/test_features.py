"""Customer features from transactions, checked on a hand-computed case."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tiering.data.features import FEATURE_COLUMNS, customer_features

AS_OF = dt.date(2024, 4, 1)


def _tx(rows):
    df = pd.DataFrame(
        rows, columns=["customer_id", "order_id", "order_date", "amount", "is_return", "region"]
    )
    df["order_date"] = pd.to_datetime(df["order_date"])
    df.insert(0, "row", range(2, len(df) + 2))
    return df


@pytest.fixture
def tx():
    return _tx(
        [
            # customer 002: two orders (one with two lines), one return
            ("002", "O1", "2024-01-10 10:00", 100.0, False, "North"),
            ("002", "O1", "2024-01-10 10:00", 50.0, False, "North"),
            ("002", "O2", "2024-03-01 09:00", 200.0, False, "East"),
            ("002", "R1", "2024-03-05 12:00", -30.0, True, "East"),
            # customer 001: one order
            ("001", "O3", "2024-03-31 23:59", 80.0, False, "South"),
            # customer 010: only a return (bought before the window)
            ("010", "R2", "2024-02-01 08:00", -40.0, True, "West"),
        ]
    )


def test_hand_computed_features(tx):
    f = customer_features(tx, as_of=AS_OF, attributes=["region"]).set_index("customer_id")
    assert list(f.index) == ["001", "002", "010"]  # ordered by id, zeros kept
    c = f.loc["002"]
    assert c["frequency"] == 2  # distinct orders, return not counted
    assert c["gross_revenue"] == pytest.approx(350.0)
    assert c["returns_value"] == pytest.approx(30.0)
    assert c["monetary"] == pytest.approx(320.0)  # net of the return
    assert c["aov"] == pytest.approx(175.0)  # gross / orders
    assert c["recency_days"] == 31  # 2024-03-01 -> 2024-04-01
    assert c["tenure_days"] == 82  # 2024-01-10 -> 2024-04-01
    assert c["region"] == "East"  # latest row's value
    one = f.loc["001"]
    assert one["recency_days"] == 1 and one["frequency"] == 1 and one["monetary"] == 80.0
    only_return = f.loc["010"]
    assert only_return["frequency"] == 0 and only_return["monetary"] == -40.0
    assert only_return["aov"] == 0.0 and only_return["recency_days"] == 60


def test_columns_and_totals_are_preserved(tx):
    f = customer_features(tx, as_of=AS_OF)
    assert tuple(f.columns) == FEATURE_COLUMNS
    assert f["monetary"].sum() == pytest.approx(tx["amount"].sum())
    assert f["gross_revenue"].sum() - f["returns_value"].sum() == pytest.approx(tx["amount"].sum())


def test_output_does_not_depend_on_row_order(tx):
    a = customer_features(tx, as_of=AS_OF, attributes=["region"])
    b = customer_features(
        tx.sample(frac=1, random_state=3).reset_index(drop=True), as_of=AS_OF, attributes=["region"]
    )
    pd.testing.assert_frame_equal(a, b)


def test_attribute_tie_on_same_timestamp_is_broken_by_file_row():
    tx = _tx(
        [
            ("7", "O1", "2024-01-01", 10.0, False, "North"),
            ("7", "O1", "2024-01-01", 10.0, False, "South"),
        ]
    )
    for _ in range(3):
        f = customer_features(tx, as_of=AS_OF, attributes=["region"])
        assert f.loc[0, "region"] == "South"
