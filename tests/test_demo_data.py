"""Tests for the shipped demo data (data/demo_transactions.csv) and its generator."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "data" / "generate_demo.py"
SHIPPED = ROOT / "data" / "demo_transactions.csv"
MASTER = ROOT / "data" / "demo_customers.csv"
CAMPAIGN = ROOT / "data" / "demo_campaigns.csv"

COLUMNS = [
    "order_id",
    "order_date",
    "customer_id",
    "customer_name",
    "region",
    "customer_type",
    "channel",
    "product_category",
    "quantity",
    "unit_price",
    "amount",
]


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    """The shipped file, every column as text, blanks kept as empty strings."""
    return pd.read_csv(SHIPPED, dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module")
def sales(demo: pd.DataFrame) -> pd.DataFrame:
    """Rows with typed amount and timestamp."""
    return demo.assign(
        amount_num=demo["amount"].astype(float),
        quantity_num=demo["quantity"].astype(int),
        price_num=demo["unit_price"].astype(float),
        ts=pd.to_datetime(demo["order_date"], format="%Y-%m-%d %H:%M:%S"),
        is_return=demo["order_id"].str.startswith("R"),
    )


def run_generator(out: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), *args],
        check=True,
        capture_output=True,
        text=True,
    )


def test_regenerating_default_seed_is_byte_identical(tmp_path: Path) -> None:
    """The transactions, the customer master and the campaign: the master and the
    campaign are drawn from streams of their own, so the transactions are the bytes they
    were before either existed."""
    out = tmp_path / "demo.csv"
    run_generator(out)
    assert out.read_bytes() == SHIPPED.read_bytes()
    assert (tmp_path / "demo_customers.csv").read_bytes() == MASTER.read_bytes()
    assert (tmp_path / "demo_campaigns.csv").read_bytes() == CAMPAIGN.read_bytes()


def test_other_seed_gives_different_data(tmp_path: Path) -> None:
    out = tmp_path / "demo_seed7.csv"
    run_generator(out, "--seed", "7")
    assert out.read_bytes() != SHIPPED.read_bytes()
    other = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(other.columns) == COLUMNS


def test_file_format(demo: pd.DataFrame) -> None:
    raw = SHIPPED.read_bytes()
    assert list(demo.columns) == COLUMNS
    assert b"\r\n" not in raw
    assert not raw.startswith(b"\xef\xbb\xbf")  # no BOM
    assert SHIPPED.stat().st_size < 4_200_000
    assert 35_000 <= len(demo) <= 45_000
    assert demo["order_date"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert demo["order_id"].str.fullmatch(r"R?SO-202[45]-\d{6}").all()
    # Plain numbers: no currency symbols or thousands separators, two decimals.
    assert demo["amount"].str.fullmatch(r"-?\d+\.\d\d").all()
    assert demo["unit_price"].str.fullmatch(r"\d+\.\d\d").all()
    assert demo["quantity"].str.fullmatch(r"-?\d+").all()


def test_categorical_values(demo: pd.DataFrame) -> None:
    assert set(demo["region"]) == {"North", "East", "South", "West", "Central"}
    assert set(demo["customer_type"]) == {"Individual", "Business", "VIP-member"}
    assert set(demo["channel"]) == {"Online", "Store", "Phone"}
    assert 5 <= demo["product_category"].nunique() <= 6
    # Regions are of unequal size.
    counts = demo["region"].value_counts()
    assert counts.max() > 2 * counts.min()


def test_customer_ids_keep_leading_zeros(demo: pd.DataFrame) -> None:
    ids = demo.loc[demo["customer_id"] != "", "customer_id"]
    assert ids.str.fullmatch(r"\d{6}").all()
    assert ids.str.startswith("0").all()
    assert 2_800 <= ids.nunique() <= 3_200
    # Read naively, the IDs lose their zeros: the loader must read them as text.
    naive = pd.read_csv(SHIPPED, usecols=["customer_id"])["customer_id"].dropna()
    assert not naive.astype(int).astype(str).str.startswith("0").any()
    # One name per customer; Chinese names survive the UTF-8 round trip.
    assert (
        demo.loc[demo["customer_id"] != ""].groupby("customer_id")["customer_name"].nunique().max()
        == 1
    )
    assert demo["customer_name"].str.contains(r"[\u4e00-\u9fff]").any()


def test_amount_is_quantity_times_price(sales: pd.DataFrame) -> None:
    expected = (sales["quantity_num"] * sales["price_num"]).round(2)
    assert (expected - sales["amount_num"]).abs().max() < 0.005


def test_orders_are_consistent(sales: pd.DataFrame) -> None:
    orders = sales[~sales["is_return"]].groupby("order_id")
    assert orders[["order_date", "customer_id", "channel"]].nunique().max().max() == 1
    lines = orders.size()
    assert lines.min() == 1 and lines.max() == 4
    assert (lines > 1).mean() > 0.3


def test_heavy_tail(sales: pd.DataFrame) -> None:
    known = sales[sales["customer_id"] != ""]
    net = known.groupby("customer_id")["amount_num"].sum().sort_values(ascending=False)
    top = int(round(0.2 * len(net)))
    share = net.iloc[:top].sum() / net.sum()
    assert 0.6 < share < 0.9
    # A handful of very large customers: the biggest carries far more than the median.
    assert net.iloc[0] > 100 * net.median()


def test_one_time_buyers_and_churn(sales: pd.DataFrame) -> None:
    known = sales[(sales["customer_id"] != "") & ~sales["is_return"]]
    orders = known.groupby("customer_id")["order_id"].nunique()
    assert 0.25 < (orders == 1).mean() < 0.45
    first = known.groupby("customer_id")["ts"].min()
    last = known.groupby("customer_id")["ts"].max()
    # Acquired through the two years, more early than late.
    assert (first >= "2025-01-01").mean() > 0.15
    assert (first < "2025-01-01").mean() > (first >= "2025-01-01").mean()
    # Recency varies widely: many have stopped buying, many are recent.
    recency = (pd.Timestamp("2025-12-31") - last).dt.days
    assert (recency > 180).mean() > 0.3
    assert (recency <= 90).mean() > 0.15


def test_returns(sales: pd.DataFrame) -> None:
    returns = sales[sales["is_return"]]
    originals = sales[~sales["is_return"]]
    n_orders = originals["order_id"].nunique()
    assert 0.02 <= returns["order_id"].nunique() / n_orders <= 0.04
    assert (returns["quantity_num"] < 0).all()
    assert (returns["amount_num"] < 0).all()
    first = originals.groupby("order_id", as_index=False).agg(
        ts_orig=("ts", "first"), customer_id_orig=("customer_id", "first")
    )
    matched = returns.assign(order_id=returns["order_id"].str[1:]).merge(
        first, on="order_id", how="left"
    )
    assert matched["ts_orig"].notna().all()
    assert (matched["customer_id"] == matched["customer_id_orig"]).all()
    lag = (matched["ts"] - matched["ts_orig"]).dt.days
    assert lag.min() >= 1 and lag.max() <= 30


def test_blemishes(sales: pd.DataFrame) -> None:
    blank = sales["customer_id"] == ""
    assert 0.002 < blank.mean() < 0.01
    assert (sales.loc[blank, "channel"] == "Store").all()
    zero = sales["amount_num"] == 0
    assert 1 <= zero.sum() <= 5


def test_date_range(sales: pd.DataFrame) -> None:
    assert sales["ts"].min() >= pd.Timestamp("2024-01-01")
    assert sales["ts"].max() <= pd.Timestamp("2025-12-31 23:59:59")
    # Both years are covered, all months present.
    assert sales["ts"].dt.to_period("M").nunique() == 24
    assert sales["order_date"].is_monotonic_increasing


def test_seasonality(sales: pd.DataFrame) -> None:
    monthly = sales.groupby(sales["ts"].dt.to_period("M"))["amount_num"].sum()
    for year in (2024, 2025):
        peak = monthly[[pd.Period(f"{year}-11", "M"), pd.Period(f"{year}-12", "M")]]
        summer = monthly[[pd.Period(f"{year}-06", "M"), pd.Period(f"{year}-07", "M")]]
        assert peak.min() > summer.max()
    # Pre-Chinese-New-Year buying: the three weeks before CNY beat the weeks after.
    daily = sales.groupby(sales["ts"].dt.normalize())["amount_num"].sum()
    for cny in ("2024-02-10", "2025-01-29"):
        day = pd.Timestamp(cny)
        before = daily[day - pd.Timedelta(days=21) : day - pd.Timedelta(days=3)].mean()
        after = daily[day : day + pd.Timedelta(days=6)].mean()
        assert before > 1.5 * after


# --------------------------------------------------------------------------- master, campaign


@pytest.fixture(scope="module")
def generator():
    """data/generate_demo.py as a module (its planted constants)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_demo", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_demo", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def master_table() -> pd.DataFrame:
    return pd.read_csv(MASTER, dtype=str, keep_default_na=False, encoding="utf-8")


def test_master_format_and_values(master_table: pd.DataFrame, generator) -> None:
    raw = MASTER.read_bytes()
    assert b"\r\n" not in raw and not raw.startswith(b"\xef\xbb\xbf")
    assert list(master_table.columns) == generator.MASTER_COLUMNS
    m = master_table
    assert m["customer_id"].str.fullmatch(r"\d{4,6}").all()
    assert set(m["credit_rating"]) <= {"A", "B", "C", "D", "E", ""}
    score = pd.to_numeric(m["credit_score"])
    assert score.dropna().between(300, 850).all() and score.isna().sum() == 1  # a prospect
    assert set(m["list_status"]) == {"", "red list", "black list"}
    assert set(m["satisfaction"]) <= {"", "1", "2", "3", "4", "5"}
    assert set(m["account_owner"]) <= {"", *generator.OWNERS}
    days = pd.to_numeric(m["overdue_days"])
    black = m["list_status"] == "black list"
    assert 1 <= black.sum() <= generator.N_BLACK_LIST and (days[black] > 180).all()
    assert (days > 90).sum() >= 10  # enough for a credit-hold tier


def test_master_follows_behaviour(master_table: pd.DataFrame, sales: pd.DataFrame) -> None:
    """Credit score, satisfaction and referrals rise with what customers spend (Spearman
    rank correlation > 0.1); only businesses are overdue."""
    spend = sales.groupby("customer_id")["amount_num"].sum()
    kind = sales.groupby("customer_id")["customer_type"].first()
    m = master_table.set_index("customer_id")
    joined = m.join(spend.rename("spend"), how="inner").join(kind.rename("kind"))
    for col in ("credit_score", "satisfaction", "referrals"):
        x = pd.to_numeric(joined[col], errors="coerce")
        assert x.corr(joined["spend"], method="spearman") > 0.1, col
    late = pd.to_numeric(joined["overdue_days"]) > 0
    assert set(joined.loc[late, "kind"]) == {"Business"}


def test_master_joins_with_the_planted_counts(tmp_path: Path, generator) -> None:
    """Three customers without a master row, one id without its leading zeros, one id
    on two differing rows (both rejected), two prospects without transactions."""
    from tiering.data import customers, features, io
    from tiering.params import CustomerMaster, DataSource

    master = customers.read_customers(CustomerMaster(path=MASTER))
    assert master.source["rows_read"] == generator.N_CUSTOMERS
    assert master.quality[["reason", "rows"]].values.tolist() == [["duplicate_customer_id", 2]]
    loaded = io.load(DataSource(path=SHIPPED, cancellations={"order_id_prefixes": ["R"]}))
    feats = features.customer_features(loaded.transactions, as_of=loaded.as_of)
    counts = customers.join_customers(feats, master, as_of=loaded.as_of).counts.iloc[0]
    missing = len(generator.MASTER_MISSING)
    assert counts["transaction_customers"] == generator.N_CUSTOMERS
    assert counts["transactions_only"] == missing + 2  # + the unpadded id, the duplicate
    assert counts["matched"] == generator.N_CUSTOMERS - missing - 2
    assert counts["master_only"] == generator.MASTER_PROSPECTS + 1  # + the unpadded id
    assert counts["zero_padding"] == 1


def test_the_planted_uplift_is_recovered(generator) -> None:
    """Tier the customers as the demo does (ABC 80/95) on the transactions before the
    campaign; the per-tier uplift of response, conversion and revenue per customer that
    the generator planted lies in the interval tiering.analysis.campaigns gives, and
    the test of whether the uplift differs between tiers finds it."""
    from tiering import params
    from tiering.analysis import campaigns, methods
    from tiering.data import campaigns as read
    from tiering.data import features, io

    cfg = params.load(ROOT / "params" / "demo.yaml")
    as_of = generator.CAMPAIGN_DATE.date()
    loaded = io.load(cfg.data, as_of=as_of)
    feats = features.customer_features(loaded.transactions, as_of=loaded.as_of)
    tiers = methods.fit(feats, cfg.tiering).assignments[["customer_id", "tier"]]
    contacts = read.read_campaigns(
        params.CampaignSource(path=CAMPAIGN),
        window_start=dt.date(2024, 1, 1),
        as_of=dt.date(2026, 1, 1),  # the demo's analysis window
    )
    assert contacts.source["rows_rejected"] == 0
    result = campaigns.campaign_results(contacts.contacts, tiers, labels=["A", "B", "C"])
    camp = result.campaigns.iloc[0]
    assert camp["has_control"] and camp["untiered"] == generator.MASTER_PROSPECTS
    uplift = result.uplift.set_index("tier")
    for tier in generator.TIERS:
        row = uplift.loc[tier]
        truth = {
            "response": generator.PLANTED_RESPONSE[tier][1],
            "conversion": generator.PLANTED_CONVERSION[tier][1],
            "revenue": generator.planted_revenue_uplift(tier),
        }
        for name, value in truth.items():
            low, high = row[f"{name}_uplift_low"], row[f"{name}_uplift_high"]
            assert low <= value <= high, (tier, name, low, value, high)
    het = result.heterogeneity.set_index("outcome")
    assert het.loc["responded", "p_value"] < 0.01
    # the tiers the generator planted by are the ones the analysis finds
    planted = generator.tiers_before(
        pd.read_csv(SHIPPED, dtype=str, keep_default_na=False), generator.CAMPAIGN_DATE
    )
    found = tiers.set_index("customer_id")["tier"].astype(str)
    assert (found.reindex(planted.index) == planted).all()
