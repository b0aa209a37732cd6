"""Row numbers from the DuckDB engine's parallel passes over a CSV file.

The engine numbers CSV records by reading the file in parallel with insertion order
kept (``duckdb_stream._positions``) instead of DuckDB's single-threaded
``row_number() OVER ()``. These tests use a file large enough (about 60 MB) for DuckDB
to split the scan between threads, with rejected rows, identical rejected rows,
same-date ties and sample customers at known places, and check every number against
the place the row was written at."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from tiering.data.engines import EngineSpec, clean_transactions, compute_features
from tiering.data.engines import duckdb_stream as D
from tiering.params import validate

N = 1_500_000
BAD_EVERY = 9_973  # rows i % BAD_EVERY == 0: amount 'abc' (bad_amount)
SAME_EVERY = 100_003  # rows i % SAME_EVERY == 0: one identical bad-date row
TIE_EARLY, TIE_LATE = 11, N - 11  # customer T1 at the same latest time, other regions


def _row(i: int) -> int:
    """The loader's row number of data line ``i`` (0-based; the header is row 1)."""
    return i + 2


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("rows") / "big.csv"
    con = duckdb.connect()
    con.execute(f"""
    COPY (
      SELECT
        CASE WHEN i % {SAME_EVERY} = 0 THEN 'SAME' ELSE 'O' || i END AS order_id,
        CASE WHEN i % {SAME_EVERY} = 0 THEN 'not a date'
             WHEN i IN ({TIE_EARLY}, {TIE_LATE}) THEN '2025-06-30 12:00:00'
             ELSE strftime(TIMESTAMP '2024-01-01' + to_days(CAST(i % 500 AS INTEGER)),
                           '%Y-%m-%d %H:%M:%S') END AS order_date,
        CASE WHEN i % {SAME_EVERY} = 0 THEN 'C1'
             WHEN i IN ({TIE_EARLY}, {TIE_LATE}) THEN 'T1'
             ELSE 'C' || (i % 40000) END AS customer_id,
        CASE WHEN i = {TIE_EARLY} THEN 'Early'
             WHEN i = {TIE_LATE} THEN 'Late'
             WHEN i % {SAME_EVERY} = 0 THEN 'North'
             ELSE ['North', 'East', 'South', 'West'][1 + i % 4] END AS region,
        CASE WHEN i % {BAD_EVERY} = 0 AND i % {SAME_EVERY} <> 0 THEN 'abc'
             ELSE '12.50' END AS amount
      FROM range({N}) t(i)
    ) TO '{path}' (FORMAT csv, HEADER true)""")
    con.close()
    assert path.stat().st_size > 40 * 1024 * 1024  # several of DuckDB's CSV buffers
    return path


@pytest.fixture(scope="module")
def result(big_csv, tmp_path_factory):
    src = validate({"data": {"path": str(big_csv), "attributes": ["region"]}}).data
    spec = EngineSpec(engine="duckdb", threads=2, memory_limit="2GB")
    out = tmp_path_factory.mktemp("out") / "rejected.csv"
    res = compute_features(src, spec=spec, rejected_path=out)
    return src, spec, res


def test_rejected_rows_carry_the_row_they_were_written_at(result):
    _, _, res = result
    got = pd.read_csv(res.rejected_path, dtype=str, keep_default_na=False)
    bad = [i for i in range(0, N, BAD_EVERY) if i % SAME_EVERY]
    same = list(range(0, N, SAME_EVERY))
    expected = sorted(
        [(_row(i), "bad_amount") for i in bad] + [(_row(i), "bad_date") for i in same]
    )
    assert list(zip(got["row"].astype(int), got["reason"])) == expected
    # identical rows keep their own numbers, each once
    assert got.loc[got["reason"] == "bad_date", "row"].astype(int).tolist() == [
        _row(i) for i in same
    ]
    assert set(got.loc[got["reason"] == "bad_amount", "src_amount"]) == {"abc"}
    assert res.source["rows_rejected"] == len(expected)


def test_same_date_tie_goes_to_the_later_row(result):
    _, _, res = result
    f = res.features.set_index("customer_id")
    assert f.loc["T1", "region"] == "Late"
    # decided by the rows' places in the rows table, not settled afterwards
    assert "latest_values" in res.timings and "tied_customers" not in res.timings


def test_sample_transactions_carry_their_rows(result):
    src, spec, res = result
    tx = clean_transactions(res, src, spec=spec, customers=["C7", "T1"])
    exp_c7 = [
        _row(i)
        for i in range(7, N, 40000)
        if i % BAD_EVERY and i % SAME_EVERY and i not in (TIE_EARLY, TIE_LATE)
    ]
    assert tx.loc[tx["customer_id"] == "C7", "row"].tolist() == exp_c7
    assert tx.loc[tx["customer_id"] == "T1", "row"].tolist() == [_row(TIE_EARLY), _row(TIE_LATE)]
    assert tx["row"].is_monotonic_increasing
    assert list(tx.columns[:6]) == [
        "row",
        "customer_id",
        "order_id",
        "order_date",
        "amount",
        "is_return",
    ]
    assert tx.loc[tx["row"] == _row(TIE_LATE), "region"].item() == "Late"
    assert tx["order_date"].max() <= pd.Timestamp(dt.date.today())


def test_single_threaded_numbering_agrees(result, monkeypatch):
    """The old single-threaded numbering (still used when duplicate rows are rejected
    or too many rows need numbers) gives the same rejected rows."""
    src, spec, res = result
    monkeypatch.setattr(D, "MAX_POSITIONED_ROWS", 0)
    again = compute_features(src, spec=spec, rejected_path=res.rejected_path.with_name("r2.csv"))
    a = pd.read_csv(res.rejected_path, dtype=str, keep_default_na=False)
    b = pd.read_csv(again.rejected_path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(res.features, again.features)
