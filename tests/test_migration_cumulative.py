"""Migration snapshots from cumulative aggregates (issue 18).

``tiering.data.features.snapshot_features`` computes the customer features at every
snapshot date in one pass; these tests hold it to ``customer_features`` on each prefix
(the per-period path it replaces): the same columns, dtypes, order and values, floats to
the bit (the sign of a zero included). On the demo transactions (in file order, which is
date order, and shuffled) and on random transactions (hypothesis): returns, orders with
rows on several dates, attributes that change and ties on dates, customers who start
late, rows out of date order, missing dates, order ids and attribute values. And
``analyse_migration`` gives the same tables with it as with the per-period path.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from tiering.analysis import migration
from tiering.analysis.migration import MigrationSpec, analyse_migration, snapshot_dates
from tiering.data import features
from tiering.data.features import customer_features, snapshot_features
from tiering.params import load, validate

from .conftest import DEMO_DATA, ROOT

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STR = pd.StringDtype(na_value=np.nan)


def per_period(tx, cuts, *, attributes=()):
    """The per-period path: ``customer_features`` on each snapshot's transactions."""
    return [
        customer_features(tx[tx["order_date"] < c], as_of=c.date(), attributes=attributes)
        for c in cuts
    ]


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal tables, floats to the bit (``assert_frame_equal`` takes -0.0 for 0.0)."""
    assert_frame_equal(got, want, check_exact=True)
    for c in got.columns:
        if got[c].dtype == np.float64:
            a, b = got[c].to_numpy(), want[c].to_numpy()
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), c


def cumulative(tx, cuts, attributes=()):
    """``snapshot_features``, checking that it took the cumulative path (not the
    per-period one it falls back to for data it cannot reproduce)."""
    extra = features._extra_columns(tx, attributes)
    assert features._cumulative_inputs(tx, [pd.Timestamp(c) for c in cuts], extra) is not None
    return snapshot_features(tx, cuts, attributes=attributes)


@pytest.fixture(scope="module")
def demo():
    from tiering.data import io as tio

    cfg = load(ROOT / "params" / "demo.yaml")
    assert DEMO_DATA.is_file()
    loaded = tio.load(
        cfg.data, as_of=cfg.as_of, window_start=cfg.window.start, window_months=cfg.window.months
    )
    return cfg, loaded


# --------------------------------------------------------------------------- features


@pytest.mark.parametrize("period", ["quarter", "month"])
@pytest.mark.parametrize("order", ["file", "shuffled"])
def test_demo_snapshots_equal_customer_features_on_each_prefix(demo, period, order):
    cfg, loaded = demo
    tx = loaded.transactions
    if order == "shuffled":  # rows out of date order: the sums over each prefix
        tx = tx.sample(frac=1.0, random_state=7)  # and its index with it
    cuts = snapshot_dates(tx["order_date"].min(), loaded.as_of, period=period, periods=30)
    assert len(cuts) == (8 if period == "quarter" else 24)
    got = cumulative(tx, cuts, loaded.attributes)
    want = per_period(tx, cuts, attributes=loaded.attributes)
    assert len(got) == len(want) == len(cuts)
    for g, w in zip(got, want):
        assert_same(g, w)
    # the data has what the cumulative path must get right
    assert (want[-1]["returns_value"] > 0).any() and (want[-1]["monetary"] == 0).any()
    assert want[0]["customer_id"].size < want[-1]["customer_id"].size  # customers start late


def test_demo_cuts_between_rows_and_before_the_data(demo):
    _, loaded = demo
    tx = loaded.transactions
    first = tx["order_date"].min()
    # a cut before any row (no customers), one at the first row's instant (not in), one
    # at a row's exact time and one in the middle of a day
    cuts = [
        first - pd.Timedelta(days=3),
        first,
        tx["order_date"].iloc[5000],
        pd.Timestamp("2025-02-14 13:30"),
    ]
    got = cumulative(tx, cuts, loaded.attributes)
    want = per_period(tx, cuts, attributes=loaded.attributes)
    assert got[0].empty and got[1].empty
    for g, w in zip(got, want):
        assert_same(g, w)


# random transactions: a few customers (their ids sort differently as text and as
# code points: "c10" < "c2", "É" after "z"), a few order ids shared across dates and
# periods, returns (negative, by amount or by an "R" order id), amounts whose sums are
# inexact in binary (0.1 + 0.2 - 0.3 is not 0), attributes that change, rows on the same
# instant, rows out of date order, and now and then a missing date, order id or value.
CUSTOMERS = ["c1", "c2", "c10", "C3", "z", "É", "客户"]
AMOUNTS = [0.1, 0.2, 0.3, 19.99, 5.01, 25.0, 0.07, 1e-06, 123.456789, 1234567.89, 3.0]
START = pd.Timestamp("2024-01-01")


@st.composite
def transactions(draw):
    n = draw(st.integers(min_value=1, max_value=45))
    starts = {c: draw(st.integers(0, 300)) for c in CUSTOMERS}  # customers start late
    rows = []
    for _ in range(n):
        cust = draw(st.sampled_from(CUSTOMERS))
        day = draw(st.integers(starts[cust], 420))
        secs = draw(st.sampled_from([0, 1, 3600, 43200, 86399]))
        when = START + pd.Timedelta(days=day, seconds=secs)
        if draw(st.integers(0, 30)) == 0:
            when = pd.NaT
        order = draw(st.sampled_from(["o1", "o2", "o3", "o4", "R1", "R2", None]))
        amount = draw(st.sampled_from(AMOUNTS))
        kind = draw(st.sampled_from(["buy", "buy", "buy", "return", "negative"]))
        is_return = kind == "return" or (order or "").startswith("R")
        if is_return or kind == "negative":  # a negative row that is not a return too
            amount = -amount
        rows.append(
            {
                "customer_id": cust,
                "order_id": order,
                "order_date": when,
                "amount": amount,
                "is_return": is_return,
                "customer_name": draw(st.sampled_from([f"{cust} A", f"{cust} B"])),
                "region": draw(st.sampled_from(["North", "South", "East", None])),
            }
        )
    tx = pd.DataFrame(rows)
    rows_no = np.arange(2, n + 2)
    shape = draw(st.sampled_from(["in order", "permuted", "repeated"]))
    if shape == "permuted":  # file rows out of step with the frame (e.g. a sorted file)
        rows_no = draw(st.permutations(list(rows_no)))
    elif shape == "repeated":  # ties on date and row: DuckDB's arg_max keeps the first
        rows_no = draw(st.lists(st.integers(2, 4), min_size=n, max_size=n))
    tx.insert(0, "row", np.asarray(rows_no, dtype="int64"))
    if shape == "repeated":  # twins: rows on the same instant with the same file row
        twins = tx.iloc[draw(st.lists(st.integers(0, n - 1), max_size=3))].copy()
        twins["region"] = "Twin"
        twins["customer_name"] = twins["customer_id"] + " twin"
        tx = pd.concat([tx, twins] if draw(st.booleans()) else [twins, tx], ignore_index=True)
    for c in ("customer_id", "order_id", "customer_name", "region"):
        tx[c] = tx[c].astype(STR)
    tx["order_date"] = pd.to_datetime(tx["order_date"]).astype(
        draw(st.sampled_from(["datetime64[ns]", "datetime64[us]"]))
    )
    if draw(st.booleans()):
        tx = tx.sort_values(["order_date", "row"], kind="stable").reset_index(drop=True)
    days = draw(st.sets(st.integers(-10, 430), min_size=1, max_size=5))
    at = pd.Timedelta(hours=draw(st.sampled_from([0, 0, 12])))
    cuts = {START + pd.Timedelta(days=d) + at for d in days}
    # and cuts on the instant of a row (not in the snapshot: strictly before the cut)
    known = tx["order_date"].dropna().tolist()
    if known:
        cuts |= set(draw(st.lists(st.sampled_from(known), max_size=2)))
    return tx, sorted(cuts)


@SETTINGS
@given(transactions())
def test_random_snapshots_equal_customer_features_on_each_prefix(case):
    tx, cuts = case
    attributes = ("region",)
    got = cumulative(tx, cuts, attributes)
    want = per_period(tx, cuts, attributes=attributes)
    for g, w in zip(got, want):
        assert_same(g, w)


def test_fully_refunded_customers_keep_the_sign_of_duckdb_zero():
    # net spends that are 0 in decimals but not in binary: DuckDB adds a customer's rows
    # in row order, and the sign of what is left decides whether the rounded spend is
    # 0.0 or -0.0. Adding each period's sum to the running sum would not do: for b,
    # 0.1 + ((-0.4 - 0.3) + 0.6) is +2.8e-17 where ((0.1 - 0.4) - 0.3) + 0.6 is -1.1e-16;
    # for c, (0.3 + 0.4) + (-0.6 - 0.1) is 0.0 where ((0.3 + 0.4) - 0.6) - 0.1 is -2.8e-17
    rows = [
        ("a", "o1", "2024-01-05", 0.1),
        ("b", "o2", "2024-01-06", 0.1),
        ("c", "o3", "2024-01-07", 0.3),
        ("c", "o4", "2024-01-08", 0.4),
        ("a", "o5", "2024-02-05", 0.2),
        ("b", "r1", "2024-04-06", -0.4),
        ("b", "r2", "2024-04-06", -0.3),
        ("b", "o6", "2024-04-07", 0.6),
        ("a", "r3", "2024-04-05", -0.3),
        ("c", "r4", "2024-04-08", -0.6),
        ("c", "r5", "2024-04-09", -0.1),
    ]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    tx["order_date"] = pd.to_datetime(tx["order_date"])
    tx["is_return"] = tx["amount"] < 0
    for c in ("customer_id", "order_id"):
        tx[c] = tx[c].astype(STR)
    cuts = [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-05-01")]
    for frame in (tx, tx.iloc[::-1].reset_index(drop=True)):  # in and out of date order
        got = cumulative(frame, cuts)
        want = per_period(frame, cuts)
        for g, w in zip(got, want):
            assert_same(g, w)
    net = per_period(tx, cuts)[1].set_index("customer_id")["monetary"]
    assert (net == 0).all()
    assert np.signbit(net.to_numpy()).tolist() == [False, True, True]  # the check has teeth
    assert 0.1 + ((-0.4 - 0.3) + 0.6) > 0 and (0.3 + 0.4) + (-0.6 - 0.1) == 0


def test_orders_with_rows_in_two_periods_count_once():
    rows = [
        ("a", "o1", "2024-01-30 23:00", 10.0, "North"),
        ("a", "o1", "2024-02-01 01:00", 5.0, "South"),  # the same order, next period
        ("a", "o2", "2024-02-01 01:00", 7.0, "East"),  # same instant: the later file row
        ("a", "R9", "2024-03-01 00:00", -4.0, "West"),  # a return does not count as an order
        ("b", "R8", "2024-01-10 00:00", -3.0, "North"),  # returns only
    ]
    tx = pd.DataFrame(
        rows, columns=["customer_id", "order_id", "order_date", "amount", "region"]
    ).astype({"customer_id": STR, "order_id": STR, "region": STR})
    tx["order_date"] = pd.to_datetime(tx["order_date"])
    tx["is_return"] = tx["amount"] < 0
    tx.insert(0, "row", np.arange(2, len(tx) + 2))
    cuts = [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01"), pd.Timestamp("2024-04-01")]
    got = cumulative(tx, cuts, ("region",))
    for g, w in zip(got, per_period(tx, cuts, attributes=("region",))):
        assert_same(g, w)
    a = [g.set_index("customer_id").loc["a"] for g in got]
    assert [x["frequency"] for x in a] == [1, 2, 2]
    assert [x["region"] for x in a] == ["North", "East", "West"]
    b = got[0].set_index("customer_id").loc["b"]
    assert b["frequency"] == 0 and b["returns_value"] == 3.0 and b["gross_revenue"] == 0.0


def test_integer_ids_sort_as_numbers():
    tx = pd.DataFrame(
        {
            "customer_id": [10, 2, 10, 2, 33],
            "order_id": [7, 8, 9, 8, 9],
            "order_date": pd.to_datetime(
                ["2024-01-02", "2024-01-03", "2024-02-02", "2024-02-03", "2024-02-04"]
            ),
            "amount": [5.5, 1.25, 2.0, -1.25, 3.0],
        }
    )
    tx["is_return"] = tx["amount"] < 0
    cuts = [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")]
    got = cumulative(tx, cuts)
    assert got[1]["customer_id"].tolist() == ["2", "10", "33"]
    for g, w in zip(got, per_period(tx, cuts)):
        assert_same(g, w)


def test_other_column_types_take_the_per_period_path(demo):
    _, loaded = demo
    tx = loaded.transactions.head(3000).copy()
    tx["region"] = tx["region"].astype(object)  # DuckDB returns these as str
    tx["amount"] = tx["amount"].round().astype("int64")  # DuckDB sums integers exactly
    cuts = [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-06-01")]
    assert features._cumulative_inputs(tx, cuts, ["customer_name", "region"]) is None
    for g, w in zip(
        snapshot_features(tx, cuts, attributes=("region",)),
        per_period(tx, cuts, attributes=("region",)),
    ):
        assert_same(g, w)


# --------------------------------------------------------------------------- migration

TABLES = ("snapshots", "sizes", "transitions", "tier_rates", "directions", "movers")


def _migrations(monkeypatch, tx, **kwargs):
    """(new, per-period) results of analyse_migration, or their errors."""

    def run():
        try:
            return analyse_migration(tx, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the two paths must fail alike
            return f"{type(exc).__name__}: {exc}"

    new = run()
    with monkeypatch.context() as m:
        m.setattr(migration, "snapshot_features", per_period)
        old = run()
    return new, old


def assert_same_migration(new, old):
    if isinstance(old, str) or old is None:
        assert new == old
        return
    assert new.snapshot_dates == old.snapshot_dates
    assert new.labels == old.labels
    for name in TABLES:
        assert_same(getattr(new, name), getattr(old, name))


@pytest.mark.parametrize(
    "method, period", [("abc", "quarter"), ("rfm", "month"), ("score", "quarter")]
)
def test_demo_migration_tables_equal_the_per_period_path(demo, monkeypatch, method, period):
    cfg, loaded = demo
    params = cfg.model_copy(update={"tiering": cfg.tiering.model_copy(update={"method": method})})
    new, old = _migrations(
        monkeypatch,
        loaded.transactions,
        params=params,
        spec=MigrationSpec(period=period, periods=12),
        as_of=loaded.as_of,
        attributes=loaded.attributes,
    )
    assert len(new.snapshot_dates) == (8 if period == "quarter" else 12)
    assert_same_migration(new, old)
    assert len(new.movers) > 0


def _params():
    spec = {"method": "abc", "labels": ["A", "B", "C"], "abc": {"cutoffs": [0.5, 0.8]}}
    return validate({"data": {"path": "tx.csv"}, "tiering": spec})


@settings(SETTINGS, max_examples=25)
@given(transactions(), st.sampled_from(["quarter", "month"]))
def test_random_migration_tables_equal_the_per_period_path(case, period):
    tx, _ = case
    new, old = _migrations(
        pytest.MonkeyPatch(),
        tx,
        params=_params(),
        spec=MigrationSpec(period=period, churn_days=60),
        as_of=dt.date(2025, 3, 1),
        attributes=("region",),
    )
    assert_same_migration(new, old)
