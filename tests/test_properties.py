"""Property-based tests (hypothesis) of the loader and of the tiering invariants.

Loader: random rows, valid or broken, are all accounted for (used + rejected = read,
each file row once); amounts written in every supported style parse back to the same
value; customer IDs come back as the same strings. Tiering: every customer gets
exactly one tier; ABC tiers are ordered by value; totals are preserved from
transactions to features to tiers.

Deterministic (``derandomize=True``: the same examples on every run) and modest in
size, so the suite stays fast and CI stable.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiering.analysis import methods
from tiering.data import features
from tiering.data.io import REASONS, load, normalise_ids, parse_amounts
from tiering.errors import MethodError
from tiering.params import TieringSpec, validate

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# each example reads a file or runs DuckDB (~0.1 s): fewer of them
FILE_SETTINGS = settings(SETTINGS, max_examples=20)
AS_OF = dt.date(2025, 1, 1)


def load_text(text: str, name: str = "tx.csv", encoding: str = "utf-8", **data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(text.encode(encoding))
        return load(validate({"data": {"path": str(path), **data}}).data, as_of=AS_OF)


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- strategies

ID_ALPHABET = "0123456789ABCXYZabcxyz-_/客户编号"
ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=12).filter(
    lambda s: s not in ("-", "--")
)  # placeholders for "no value" are blank IDs
dates = st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2024, 12, 31))
cents = st.integers(min_value=-10_000_000_00, max_value=10_000_000_00).filter(lambda c: c != 0)


@st.composite
def valid_row(draw):
    when = draw(dates)
    style = draw(
        st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%Y-%m-%d 13:45:00", "%Y年%m月%d日"])
    )
    amount = Decimal(draw(cents)) / 100
    return [draw(ids), when.strftime(style), f"{amount:.2f}"], (when, amount)


BROKEN = {
    "missing_customer_id": lambda r: ["", r[1], r[2]],
    "bad_date": lambda r: [r[0], "not a date", r[2]],
    "implausible_date": lambda r: [r[0], "1850-01-01", r[2]],
    "bad_amount": lambda r: [r[0], r[1], "12abc"],
    "zero_amount": lambda r: [r[0], r[1], "0.00"],
    "after_as_of": lambda r: [r[0], "2025-06-01", r[2]],
}


@st.composite
def rows_with_breakage(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    rows, breaks = [], []
    for _ in range(n):
        row, _ = draw(valid_row())
        kind = draw(st.sampled_from([None, None, None, *BROKEN]))
        rows.append(BROKEN[kind](row) if kind else row)
        breaks.append(kind)
    return rows, breaks


# --------------------------------------------------------------------------- loader


@FILE_SETTINGS
@given(rows_with_breakage())
def test_every_row_is_used_or_rejected_once_with_its_reason(data):
    rows, breaks = data
    res = load_text(to_csv(["customer_id", "order_date", "amount"], rows))
    tx, rej = res.transactions, res.rejected
    assert res.rows_read == len(rows) == len(tx) + len(rej)
    assert sorted(tx["row"].tolist() + rej["row"].tolist()) == list(range(2, len(rows) + 2))
    expected = {i + 2: kind for i, kind in enumerate(breaks) if kind}
    assert dict(zip(rej["row"], rej["reason"])) == expected
    assert set(rej["reason"]) <= set(REASONS)
    assert int(res.quality["rows"].sum()) == len(rej)
    assert tx["row"].tolist() == [i + 2 for i, kind in enumerate(breaks) if kind is None]


@FILE_SETTINGS
@given(st.lists(valid_row(), min_size=1, max_size=30))
def test_valid_rows_keep_their_values(rows):
    res = load_text(to_csv(["customer_id", "order_date", "amount"], [r for r, _ in rows]))
    tx = res.transactions
    assert res.rejected.empty
    assert tx["customer_id"].tolist() == [r[0] for r, _ in rows]
    assert tx["order_date"].dt.date.tolist() == [when for _, (when, _) in rows]
    assert tx["amount"].tolist() == [float(a) for _, (_, a) in rows]
    assert tx["is_return"].tolist() == [a < 0 for _, (_, a) in rows]


def _us(a: Decimal) -> str:
    return f"{a:,.2f}"


def _euro(a: Decimal) -> str:
    return f"{a:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def _fullwidth(text: str) -> str:
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789,."})


# style name -> how a value is written (negative values included)
AMOUNT_STYLES = {
    "plain": lambda a: f"{a:.2f}",
    "us_thousands": _us,
    "yen": lambda a: ("-" if a < 0 else "") + "¥" + _us(abs(a)),
    "fullwidth_yen": lambda a: ("-" if a < 0 else "") + "￥" + _fullwidth(_us(abs(a))),
    "dollar_accounting": lambda a: f"$({_us(-a)})" if a < 0 else f"${_us(a)}",
    "accounting": lambda a: f"({_us(-a)})" if a < 0 else _us(a),
    "trailing_minus": lambda a: f"{-a:.2f}-" if a < 0 else f"{a:.2f}",
    "rmb": lambda a: f"RMB {a:.2f}",
    "yuan_suffix": lambda a: f"{a:.2f}元",
    "european": _euro,
    "euro_sign": lambda a: _euro(a) + " €",
    "unicode_minus": lambda a: f"{a:.2f}".replace("-", "\u2212"),
}


@SETTINGS
@given(st.sampled_from(sorted(AMOUNT_STYLES)), st.lists(cents, min_size=1, max_size=20))
def test_amounts_in_every_style_parse_back(style, values):
    amounts = [Decimal(c) / 100 for c in values]
    text = pd.Series([AMOUNT_STYLES[style](a) for a in amounts])
    parsed = parse_amounts(text)
    assert parsed.tolist() == [float(a) for a in amounts], list(zip(text, parsed))


@FILE_SETTINGS
@given(st.sampled_from(sorted(AMOUNT_STYLES)), st.lists(cents, min_size=1, max_size=10))
def test_amounts_parse_back_through_a_file(style, values):
    amounts = [Decimal(c) / 100 for c in values]
    rows = [[f"C{i}", "2024-01-05", AMOUNT_STYLES[style](a)] for i, a in enumerate(amounts)]
    tx = load_text(to_csv(["customer_id", "order_date", "amount"], rows)).transactions
    assert tx["amount"].tolist() == [float(a) for a in amounts]


@FILE_SETTINGS
@given(st.lists(ids, min_size=1, max_size=30), st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_ids_round_trip_as_strings(values, encoding):
    rows = [[v, "2024-01-05", "1"] for v in values]
    tx = load_text(to_csv(["客户编号", "订单日期", "金额"], rows), encoding=encoding).transactions
    assert tx["customer_id"].tolist() == values
    assert tx["customer_id"].map(type).eq(str).all()


@SETTINGS
@given(
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=20),
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=1, max_value=3),
)
def test_float_formatted_ids_are_the_integer_with_its_zeros(numbers, zeros, decimals):
    """``00123.0`` from a float export is ``00123``; ``17850.000`` is ``17850``."""
    raw = ["0" * zeros + f"{n}." + "0" * decimals for n in numbers]
    assert normalise_ids(pd.Series(raw)).tolist() == ["0" * zeros + str(n) for n in numbers]


# --------------------------------------------------------------------------- tiering


@st.composite
def transactions(draw):
    n_customers = draw(st.integers(min_value=1, max_value=25))
    customers = [f"{i:04d}" for i in range(n_customers)]
    n = draw(st.integers(min_value=1, max_value=80))
    rows = []
    for i in range(n):
        amount = draw(st.integers(min_value=-500_00, max_value=5_000_00).filter(lambda c: c != 0))
        rows.append(
            {
                "row": i + 2,
                "customer_id": draw(st.sampled_from(customers)),
                "order_id": f"O{draw(st.integers(min_value=0, max_value=n // 2 + 1))}",
                "order_date": pd.Timestamp(draw(dates))
                + pd.Timedelta(hours=draw(st.integers(min_value=0, max_value=23))),
                "amount": amount / 100,
            }
        )
    tx = pd.DataFrame(rows)
    tx["is_return"] = tx["amount"] < 0
    tx["order_date"] = tx["order_date"].astype("datetime64[ns]")
    return tx


def _fit(feats: pd.DataFrame, spec: TieringSpec):
    """The tiering, or None when the method refuses the data with a clear error."""
    try:
        return methods.fit(feats, spec)
    except MethodError as exc:
        assert exc.where and exc.where.startswith("tiering"), exc
        assert exc.hint, exc
        return None


SPECS = {
    "abc": TieringSpec(),
    "abc_5": TieringSpec(labels=["A", "B", "C", "D", "E"], abc={"cutoffs": [0.5, 0.7, 0.85, 0.95]}),
    "rfm": TieringSpec(method="rfm"),
}


@FILE_SETTINGS
@given(transactions(), st.sampled_from(sorted(SPECS)))
def test_every_customer_gets_exactly_one_tier_and_totals_are_kept(tx, spec_name):
    feats = features.customer_features(tx, as_of=AS_OF)
    # transactions -> features: one row per customer, sums preserved
    assert feats["customer_id"].is_unique
    assert set(feats["customer_id"]) == set(tx["customer_id"])
    assert feats["monetary"].sum() == pytest.approx(tx["amount"].sum(), abs=1e-6)
    assert feats["gross_revenue"].sum() == pytest.approx(
        tx.loc[~tx["is_return"], "amount"].sum(), abs=1e-6
    )
    assert feats["returns_value"].sum() == pytest.approx(
        -tx.loc[tx["is_return"], "amount"].sum(), abs=1e-6
    )
    per_customer = tx.groupby("customer_id")["amount"].sum()
    got = feats.set_index("customer_id")["monetary"]
    assert np.allclose(got[per_customer.index], per_customer, atol=1e-6)
    spec = SPECS[spec_name]
    result = _fit(feats, spec)
    if result is None:
        return
    a = result.assignments
    # features -> tiers: each customer once, in a tier of the spec, value kept
    assert a["customer_id"].tolist() == feats["customer_id"].tolist()
    assert a["tier"].notna().all()
    assert list(a["tier"].cat.categories) == list(spec.labels)
    assert (a["tier_rank"] == a["tier"].cat.codes + 1).all()
    assert result.counts().sum() == len(feats)
    tiers = pd.concat([feats, a.drop(columns=["customer_id"])], axis=1)
    by_tier = tiers.groupby("tier", observed=False)["monetary"].sum()
    assert by_tier.sum() == pytest.approx(tx["amount"].sum(), abs=1e-6)


@FILE_SETTINGS
@given(transactions(), st.sampled_from(["abc", "abc_5"]))
def test_abc_tiers_are_ordered_by_value(tx, spec_name):
    feats = features.customer_features(tx, as_of=AS_OF)
    result = _fit(feats, SPECS[spec_name])
    if result is None:
        return
    value = feats["monetary"].to_numpy()
    rank = result.assignments["tier_rank"].to_numpy()
    # a customer in a better tier never has less value than one in a worse tier
    for r in np.unique(rank)[:-1]:
        assert value[rank == r].min() >= value[rank > r].max()
    # the top tier holds the largest value
    assert value[rank == rank.min()].max() == value.max()


@SETTINGS
@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=3, max_size=30))
def test_abc_refuses_or_ranks_but_never_loses_a_customer(values):
    """Equal values, few customers or many: a clear refusal or a full ranking."""
    feats = pd.DataFrame(
        {
            "customer_id": [f"{i:03d}" for i in range(len(values))],
            "monetary": np.asarray(values, dtype="float64"),
        }
    )
    result = _fit(feats, TieringSpec())
    if len(set(values)) == 1:
        assert result is None  # all equal: nothing to rank
        return
    if result is not None:
        assert len(result.assignments) == len(values)
        assert result.assignments["tier"].notna().all()
