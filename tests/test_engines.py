"""Engines: the streaming DuckDB engine and the Spark engine give what the pandas path
(``tiering.data.io.load`` + ``tiering.data.features.customer_features``) gives: the same
customer features, the same rejected rows with the same reasons, the same facts.
Also the feature cache and the engine parameters."""

from __future__ import annotations

import datetime as dt
import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiering.data.engines import (
    EngineSpec,
    FeatureResult,
    choose_engine,
    compute_features,
    duckdb_stream,
)
from tiering.data.engines import _rules as R
from tiering.errors import DataError
from tiering.params import DataSource, validate

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo_transactions.csv"
ONLINE_RETAIL = ROOT.parent / "shared/datasets/online_retail.csv.gz"
TODAY = dt.date.today()  # the pandas path measures future_date from today, so must we


def source(path: Path, **data) -> DataSource:
    return validate({"data": {"path": str(path), **data}}).data


def run(src, engine: str, tmp_path: Path, **kw) -> FeatureResult:
    out = tmp_path / f"rejected_{engine}.csv"
    spec = kw.pop("spec", None) or EngineSpec(engine=engine, threads=2, memory_limit="1GB")
    return compute_features(src, spec=spec, rejected_path=out, today=TODAY, **kw)


def read_rejected(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


FACTS = (
    "rows_read",
    "rows_used",
    "rows_rejected",
    "return_rows",
    "duplicate_rows",
    "encoding",
    "delimiter",
    "header_row",
    "columns",
    "format",
)


def assert_same(a: FeatureResult, b: FeatureResult, *, rows: bool = True, money_tol=1e-9) -> None:
    """``b`` (an engine) gives what ``a`` (the pandas path) gives."""
    assert list(a.features.columns) == list(b.features.columns)
    assert a.features.dtypes.to_dict() == b.features.dtypes.to_dict()
    pd.testing.assert_frame_equal(a.features, b.features, check_exact=False, rtol=0, atol=money_tol)
    pd.testing.assert_frame_equal(
        a.quality.reset_index(drop=True), b.quality.reset_index(drop=True)
    )
    for k in FACTS:
        if k in a.source and b.source.get(k) is not None:
            assert a.source[k] == b.source[k], k
    assert a.source["return_value"] == pytest.approx(b.source["return_value"], abs=1e-6)
    assert (a.as_of, a.window_start) == (b.as_of, b.window_start)
    ra, rb = read_rejected(a.rejected_path), read_rejected(b.rejected_path)
    assert list(ra.columns) == list(rb.columns)
    if rows and b.engine != "spark":  # the same file, byte for byte (quoting, empty cells)
        assert a.rejected_path.read_bytes() == b.rejected_path.read_bytes()
    if not rows:
        ra, rb = ra.drop(columns="row"), rb.drop(columns="row")
        ra = ra.sort_values(list(ra.columns)).reset_index(drop=True)
        rb = rb.sort_values(list(rb.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(ra, rb)


def both(src, tmp_path, **kw):
    return run(src, "pandas", tmp_path, **kw), run(src, "duckdb", tmp_path, **kw)


# --------------------------------------------------------------------------- messy data

MESSY_HEADER = "Order No,Date,Customer,Name,Amount,Region,Channel\n"
MESSY_ROWS = [
    # plain rows
    "A1,2024-01-05 10:00:00,00123,Ann,10.50,North,web",
    "A1,2024-01-05 10:00:00,00123,Ann,4.50,North,web",
    "A2,2024-02-01,00123, Ann ,5.25,South,shop",
    # IDs: float export, spaces, placeholders, full-width digits, zero-width space
    "A3,2024-01-06 08:00,17850.0,Bob,20,East,web",
    "A4,2024-01-07,  17850  ,Bob,1,East,web",
    "A5,2024-01-08,NULL,Nobody,3,East,web",
    "A6,2024-01-08,#N/A,Nobody,3,East,web",
    "A7,2024-01-09,００１２３,Ann,2,North,web",
    "A8,2024-01-09,\u200b00777,Cat,2,West,shop",
    "A9,2024-01-10,1.23457E+11,Excel,5,West,shop",
    'A10,2024-01-10,"12\t34",Tab,5,West,shop',
    "A11,2024-01-10," + "9" * 201 + ",Long,5,West,shop",
    "A12,2024-01-10,,Blank,5,West,shop",
    "A13,2024-01-10,n/a,Blank,5,West,shop",
    # dates: T separator, fractions, time zones, slashes, Chinese, serials, bad ones
    "B1,2024-03-01T09:30:00,00900,Dan,7,North,web",
    "B2,2024-03-02 09:30:00.5,00900,Dan,7,North,web",
    "B3,2024-03-03 09:30:00+08:00,00900,Dan,7,North,web",
    "B4,2024/03/04 09:30,00900,Dan,7,North,web",
    "B5,3/5/2024 9:30,00900,Dan,7,North,web",
    "B6,2024年3月6日,00900,Dan,7,North,web",
    "B7,45357,00900,Dan,7,North,web",
    "B8,not a date,00900,Dan,7,North,web",
    "B9,1850-01-01,00900,Dan,7,North,web",
    "B10,2999-01-01,00900,Dan,7,North,web",
    "B16,2200-01-01,00900,Dan,7,North,web",
    "B11,,00900,Dan,7,North,web",
    "B12,2024-02-30,00900,Dan,7,North,web",
    "B13,5 Mar 2024,00900,Dan,7,North,web",
    "B14,  2024-03-07  ,00900,Dan,7,North,web",
    "B15,2024-1-8,00900,Dan,7,North,web",
    # amounts: currency, thousands, parentheses, trailing minus, text, zero, huge
    'C1,2024-04-01,00555,Eve,"¥1,234.50",South,web',
    "C2,2024-04-01,00555,Eve,$ 99,South,web",
    "C3,2024-04-02,00555,Eve,(12.00),South,web",
    "C4,2024-04-03,00555,Eve,12.00-,South,web",
    "C5,2024-04-04,00555,Eve,abc,South,web",
    "C6,2024-04-05,00555,Eve,0,South,web",
    "C7,2024-04-06,00555,Eve,1e14,South,web",
    "C8,2024-04-07,00555,Eve,1_000,South,web",
    "C9,2024-04-08,00555,Eve,RMB 88,South,web",
    "C10,2024-04-09,00555,Eve,１２３,South,web",
    "C11,2024-04-10,00555,Eve,-0,South,web",
    "C12,2024-04-11,00555,Eve,inf,South,web",
    "C13,2024-04-12,00555,Eve, 7 ,South,web",
    "C14,2024-04-13,00555,Eve,.5,South,web",
    # returns: prefix and negative amount; order id blank (day key), spaces
    "R1,2024-04-20,00555,Eve,30,South,web",
    "C15,2024-04-21,00555,Eve,-8,South,web",
    ",2024-04-22,00555,Eve,9,South,web",
    ",2024-04-22 18:00,00555,Eve,1,South,web",
    " C16 ,2024-04-23,00555,Eve,2,South,web",
    # attributes: ties on the latest timestamp are decided by the file row
    "D1,2024-05-01 12:00:00,00444,Fay,5,North,web",
    "D1,2024-05-01 12:00:00,00444,Fay,5,South,web",
    # an exact duplicate row
    "E1,2024-05-02,00333,Gus,4,West,web",
    "E1,2024-05-02,00333,Gus,4,West,web",
    # a row of blanks (not a row) and whitespace cells
    ",,,,,,",
    "E2,2024-05-03,00333,Gus,4, West ,web",
    "E3,2024-05-04,00333,Gus,4,\u3000West,web",
]


@pytest.fixture
def messy(tmp_path) -> Path:
    path = tmp_path / "messy.csv"
    path.write_text(MESSY_HEADER + "\n".join(MESSY_ROWS) + "\n", encoding="utf-8")
    return path


def test_messy_file_same_as_pandas(messy, tmp_path):
    src = source(messy, attributes=["Region"], cancellations={"order_id_prefixes": ["R"]})
    a, b = both(src, tmp_path)
    assert_same(a, b)
    # the file exercises the reasons it was written for
    got = set(b.quality["reason"])
    assert {
        "missing_customer_id",
        "bad_customer_id",
        "rounded_customer_id",
        "bad_date",
        "implausible_date",
        "future_date",
        "bad_amount",
        "implausible_amount",
        "zero_amount",
    } <= got
    f = b.features.set_index("customer_id")
    assert f.loc["00444", "Region"] == "South"  # later row of the same timestamp wins
    assert f.loc["00333", "Region"] == "West"  # stripped, incl. an ideographic space
    assert "17850" in f.index and "00123" in f.index
    assert b.source["duplicate_rows"] == 1


@pytest.mark.parametrize("months", [False, True], ids=["passes", "rows_table"])
def test_every_row_rejected_same_as_pandas(tmp_path, months):
    # no customer left: the attribute columns are text all the same (they came out of
    # the pandas path's empty frame as ``object``)
    path = tmp_path / "all_bad.csv"
    path.write_text(
        "Order No,Date,Customer,Name,Amount,Region\n"
        "A1,not a date,001,Ann,5,North\n"
        "A2,2024-01-01,002,Bob,abc,South\n",
        encoding="utf-8",
    )
    a, b = both(source(path, attributes=["Region"]), tmp_path, months=months)
    assert len(a.features) == len(b.features) == 0
    assert a.features["Region"].dtype == b.features["Region"].dtype == "str"
    assert_same(a, b)
    assert b.source["rows_rejected"] == 2


def test_the_rows_table_counts_duplicates_as_pandas(messy, tmp_path):
    """With the rows table (one scan, when later steps want the months), the duplicate
    rows are counted from the table's row hashes: as the pandas path and the passes."""
    src = source(messy, attributes=["Region"], cancellations={"order_id_prefixes": ["R"]})
    a = run(src, "pandas", tmp_path)
    passes = run(src, "duckdb", tmp_path)
    table = run(src, "duckdb", tmp_path, months=True)
    assert "months" in table.timings and "duplicates" in table.timings  # the table's path
    assert a.source["duplicate_rows"] == passes.source["duplicate_rows"] == 1
    assert table.source["duplicate_rows"] == 1
    # three more copies of one row and two of another: 1 + 3 + 2
    text = messy.read_text(encoding="utf-8").splitlines()
    extra = [text[1]] * 3 + [text[3]] * 2
    more = tmp_path / "more.csv"
    more.write_text("\n".join(text + extra) + "\n", encoding="utf-8")
    src2 = source(more, attributes=["Region"], cancellations={"order_id_prefixes": ["R"]})
    assert run(src2, "pandas", tmp_path).source["duplicate_rows"] == 6
    assert run(src2, "duckdb", tmp_path, months=True).source["duplicate_rows"] == 6


@pytest.mark.parametrize(
    ("values", "repeats"),
    [([], 0), ([7], 0), ([3, 1, 2], 0), ([5, 5, 5], 2), ([9, 1, 9, 1, 4, 9], 3)],
)
def test_repeated_values_hand_counted(values, repeats):
    arr = np.array(values, dtype=np.uint64)
    assert duckdb_stream.repeated_values(arr) == repeats
    view = np.array(values, dtype=np.uint64)
    view.flags.writeable = False  # a read-only view of an Arrow chunk is copied, not sorted
    assert duckdb_stream.repeated_values(view) == repeats


TIE_COLUMNS = {"order_id": "o", "order_date": "d", "customer_id": "c", "amount": "a"}


def latest_regions(rows: list[str], tmp_path: Path, passes: str) -> tuple[FeatureResult, pd.Series]:
    """(the DuckDB result, its Region by customer) of :func:`latest_attributes`."""
    b, f = latest_attributes(rows, tmp_path, passes, ["Region"])
    return b, f["Region"]


def latest_attributes(
    rows: list[str], tmp_path: Path, passes: str, attributes: list[str]
) -> tuple[FeatureResult, pd.DataFrame]:
    """(the DuckDB result, its features by customer) of a CSV (``rows``) or the Parquet
    file of it, read into the rows table (checked against the pandas path) or, as ``file
    passes``, in one pass straight from the file."""
    path = tmp_path / "latest.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    if passes.endswith("parquet"):  # the rows carry their numbers; the table keeps them
        frame = pd.read_csv(path, dtype=str)
        path = tmp_path / "latest.parquet"
        frame.to_parquet(path)
    src = source(path, columns=TIE_COLUMNS, attributes=attributes)
    if passes.startswith("rows table"):
        a, b = both(src, tmp_path)
        assert_same(a, b)
    else:  # one pass: no rejected rows written, no duplicate count
        spec = EngineSpec(engine="duckdb", threads=2, memory_limit="1GB", duplicates="skip")
        b = compute_features(src, spec=spec, rejected_path=None, today=TODAY)
    return b, b.features.set_index("customer_id")


@pytest.mark.parametrize("passes", ["rows table", "file passes", "rows table, parquet"])
def test_ties_on_the_latest_date_follow_the_file_order(tmp_path, passes):
    """Rows of a customer's latest timestamp with other attribute values: the later row in
    the file wins, in either order. From the rows table, the latest row is the one with
    the later place in the table; a CSV aggregated straight from the file has no row
    numbers, so the engine must see that the values differ and settle those customers
    by row."""
    rows = [
        "o,d,c,a,Region",
        "T0,2024-04-01,P,5,West",
        "T1,2024-05-01 12:00:00,P,5,North",
        "T2,2024-05-01 12:00:00,P,5,South",
        "T3,2024-05-01 12:00:00,Q,5,South",
        "T4,2024-05-01 12:00:00,Q,5,North",
        "T5,2024-05-01 12:00:00,R,5,East",
        "T6,2024-05-01 12:00:00,R,5,East",
    ]
    b, f = latest_regions(rows, tmp_path, passes)
    assert (f["P"], f["Q"], f["R"]) == ("South", "North", "East")
    if passes.startswith("rows table"):
        assert "latest_values" in b.timings and "tied_customers" not in b.timings
        assert "table" in b.timings
    else:
        assert b.timings["tied_customers"] == 2 and "table" not in b.timings


@pytest.mark.parametrize("passes", ["rows table", "file passes"])
def test_the_latest_row_by_fractions_of_a_second(tmp_path, passes):
    """Dates with fractions of a second: the later time wins over the later row (the rows
    table's aggregation then keys rows by microseconds, not by seconds)."""
    rows = [
        "o,d,c,a,Region",
        "T1,2024-05-01 12:00:00.900,P,5,North",
        "T2,2024-05-01 12:00:00.100,P,5,South",
        "T3,2024-05-01 12:00:00,Q,5,West",
        "T4,2024-05-01 12:00:01,Q,5,East",
    ]
    _, f = latest_regions(rows, tmp_path, passes)
    assert (f["P"], f["Q"]) == ("North", "East")


@pytest.mark.parametrize("passes", ["rows table", "file passes"])
def test_two_attributes_of_the_latest_row(tmp_path, passes):
    """Two attributes come from the same latest row (one value and a struct of several
    take different forms in the aggregation over the file), ties on the date included."""
    rows = [
        "o,d,c,a,Region,Channel",
        "T0,2024-04-01,P,5,West,shop",
        "T1,2024-05-01 12:00:00,P,5,North,web",
        "T2,2024-05-01 12:00:00,P,5,South,shop",
        "T3,2024-05-01 12:00:00,Q,5,South,app",
        "T4,2024-05-02 12:00:00,Q,5,North,web",
        "T5,2024-05-01 12:00:00,R,5,East,web",
        "T6,2024-05-01 12:00:00,R,5,East,shop",
    ]
    b, f = latest_attributes(rows, tmp_path, passes, ["Region", "Channel"])
    if passes == "file passes":
        assert b.timings["tied_customers"] == 2 and "table" not in b.timings
    got = {c: (f.loc[c, "Region"], f.loc[c, "Channel"]) for c in "PQR"}
    assert got == {"P": ("South", "shop"), "Q": ("North", "web"), "R": ("East", "shop")}


def test_place_bits_beside_seconds():
    """The 64-bit key of the latest row: the date in seconds from 1900 (32 bits until
    2036) and the row's place, only when the dates are whole seconds and both fit."""
    day = dt.date(2026, 12, 7)
    facts = duckdb_stream.RowsFacts(flags=0, last=None, whole_seconds=True, max_place=10_000_000)
    assert duckdb_stream._place_bits(facts, day) == 24
    assert duckdb_stream._place_bits(replace(facts, max_place=None), day) == 1
    assert duckdb_stream._place_bits(replace(facts, whole_seconds=False), day) is None
    assert duckdb_stream._place_bits(replace(facts, max_place=2**31 - 1), day) == 31
    assert duckdb_stream._place_bits(replace(facts, max_place=2**31), day) is None
    # from 2036-02-07 the seconds from 1900 take 33 bits
    assert duckdb_stream._place_bits(replace(facts, max_place=2**30), dt.date(2036, 3, 1)) is None


@pytest.mark.parametrize(
    "options",
    [
        {"duplicate_rows": "reject"},
        {"exclude": {"Channel": ["shop"]}},
        {"cancellations": {"order_id_prefixes": [], "negative_amounts": False}},
    ],
)
def test_messy_file_options_same_as_pandas(messy, tmp_path, options):
    src = source(messy, attributes=["Region", "Channel"], **options)
    assert_same(*both(src, tmp_path))


@pytest.mark.parametrize(
    "window",
    [
        {"as_of": dt.date(2024, 4, 15)},
        {"window_start": dt.date(2024, 3, 1)},
        {"window_months": 2},
        {"as_of": dt.date(2024, 5, 1), "window_months": 1},
    ],
)
def test_as_of_and_window_same_as_pandas(messy, tmp_path, window):
    src = source(messy, attributes=["Region"])
    a, b = both(src, tmp_path, **window)
    assert_same(a, b)
    assert {"after_as_of", "before_window"} & set(b.quality["reason"])


def test_day_first_column_is_read_day_first(tmp_path):
    """A column whose slash dates only make sense day-first is read day-first, as the
    loader decides on the whole column (a second pass in DuckDB)."""
    rows = ["o,d,c,a"] + [
        f"X{i},{d}/0{m}/2024,C{i % 3},{i + 1}"
        for i, (d, m) in enumerate([(13, 1), (2, 3), (25, 2), (5, 6)])
    ]
    path = tmp_path / "dmy.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    src = source(
        path, columns={"order_id": "o", "order_date": "d", "customer_id": "c", "amount": "a"}
    )
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.source["modes"]["dayfirst"] is True
    assert b.features.set_index("customer_id").loc["C1", "first_purchase"] == pd.Timestamp(
        "2024-03-02"
    )


def test_european_amount_column(tmp_path):
    rows = [
        "o,d,c,a",
        'X1,2024-01-01,C1,"1.234,50"',
        "X2,2024-01-02,C1,1.234",
        'X3,2024-01-03,C2,"12,00"',
    ]
    path = tmp_path / "eu.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    src = source(
        path, columns={"order_id": "o", "order_date": "d", "customer_id": "c", "amount": "a"}
    )
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.features.set_index("customer_id").loc["C1", "monetary"] == pytest.approx(2468.5)


def test_quantity_times_price_title_rows_and_semicolons(tmp_path):
    text = (
        "Sales export;;;\nGenerated 2024-06-01;;;\n\n"
        "客户编号;订单日期;数量;单价;订单号\n"
        "C1;2024-01-02;2;3,50;O1\nC1;2024-01-03;1;10;O2\nC2;2024-01-03;-1;10;O3\n"
    )
    path = tmp_path / "zh.csv"
    path.write_bytes(text.encode("gb18030"))
    src = source(path)
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.source["header_row"] == 4 and b.source["encoding"] == "gb18030"


def test_gzip_and_parquet_same_as_pandas(messy, tmp_path):
    gz = tmp_path / "messy.csv.gz"
    gz.write_bytes(gzip.compress(messy.read_bytes()))
    assert_same(*both(source(gz, attributes=["Region"]), tmp_path))
    pq = tmp_path / "typed.parquet"
    pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "R4", None],
            "order_date": pd.to_datetime(
                [
                    "2024-01-01 10:00:00.7",
                    "2024-02-01 00:00:00.0",
                    "2024-03-01 00:00:00.0",
                    "2024-03-02 00:00:00.0",
                    "2024-03-03 00:00:00.0",
                ]
            ),
            "customer_id": [17850.0, 17850.0, 42.0, 42.0, np.nan],
            "amount": [10.5, np.nan, 3.0, 2.0, 1.0],
            "region": ["N", "N", "S", "S", "E"],
        }
    ).to_parquet(pq)
    a, b = both(
        source(pq, attributes=["region"], cancellations={"order_id_prefixes": ["R"]}), tmp_path
    )
    assert_same(a, b)
    assert list(b.features["customer_id"]) == ["17850", "42"]


def test_rows_too_wide_are_an_error(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(
        "customer_id,order_date,amount\nC1,2024-01-01,5\nC2,2024-01-02,6,oops\n", encoding="utf-8"
    )
    with pytest.raises(DataError):
        run(source(path), "duckdb", tmp_path)


def test_demo_data_same_as_pandas(tmp_path):
    src = validate(
        {
            "data": {
                "path": str(DEMO),
                "attributes": ["region", "customer_type"],
                "cancellations": {"order_id_prefixes": ["R"]},
            }
        }
    ).data
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert len(b.features) == 3000 and b.source["rows_read"] == 36669


@pytest.mark.realdata
def test_online_retail_same_as_pandas(tmp_path):
    if not ONLINE_RETAIL.exists():
        pytest.skip("../shared/datasets/online_retail.csv.gz is not present")
    src = source(
        ONLINE_RETAIL,
        columns={
            "customer_id": "CustomerID",
            "order_id": "InvoiceNo",
            "order_date": "InvoiceDate",
            "quantity": "Quantity",
            "unit_price": "UnitPrice",
        },
        attributes=["Country"],
        cancellations={"order_id_prefixes": ["C"]},
    )
    a, b = both(src, tmp_path)
    assert_same(a, b)
    # published figures of this data set (see ../shared/datasets/README.md)
    assert b.source["rows_read"] == 541_909 and len(b.features) == 4_372 - 1
    assert dict(zip(b.quality["reason"], b.quality["rows"])) == {
        "missing_customer_id": 135_080,
        "zero_amount": 40,
    }


# --------------------------------------------------------------------------- rules


def test_rule_copies_match_the_loader():
    """The engines' patterns are the loader's patterns (one definition, in io)."""
    from tiering.data import io

    assert R.NULL_IDS is io.NULL_IDS
    assert R.ROUNDED_ID is io.ROUNDED_ID
    assert R.MAX_ID_LENGTH == io.MAX_ID_LENGTH and R.MAX_AMOUNT == io.MAX_AMOUNT
    assert R.CURRENCY == io.CURRENCY
    assert (R.EURO_NUMBER, R.US_NUMBER) == (io.EURO_NUMBER, io.US_NUMBER)
    assert (R.NS_MIN, R.NS_MAX) == (io.NS_MIN, io.NS_MAX)
    assert set(R.REASON_ORDER) == set(io.REASONS)
    assert sorted(R.WS_ALL) == [c for c in map(chr, range(0x110000)) if c.isspace()]


def test_reader_convention_copies_match_the_loader():
    """The engines' copies of the loader's column-convention patterns and codes (dots in
    amounts, day/month order, partial dates) are the loader's."""
    from tiering.data import io

    assert (R.DOT_GROUP, R.DOT_GROUPS_MANY, R.DOT_DECIMAL) == (
        io.DOT_GROUP,
        io.DOT_GROUPS_MANY,
        io.DOT_DECIMAL,
    )
    assert (R.COMMA_DECIMAL, R.US_GROUPS) == (io.COMMA_DECIMAL, io.US_GROUPS)
    assert (R.DAY_MONTH, R.PARTIAL_DATE) == (io.DAY_MONTH, io.PARTIAL_DATE)
    assert (R.SHAPE_THOUSANDS, R.SHAPE_DECIMAL, R.SHAPE_AMBIGUOUS) == (
        io.SHAPE_THOUSANDS,
        io.SHAPE_DECIMAL,
        io.SHAPE_AMBIGUOUS,
    )
    assert (R.KIND_DAY_ONLY, R.KIND_MONTH_ONLY, R.KIND_SLASH, R.KIND_OTHER) == (
        io.KIND_DAY_ONLY,
        io.KIND_MONTH_ONLY,
        io.KIND_SLASH,
        io.KIND_OTHER,
    )
    assert list(R.REASON_ORDER).index("partial_date") < list(R.REASON_ORDER).index("bad_date")


def test_fast_paths_agree_with_the_loader_on_random_values(tmp_path):
    """Values of the shapes the SQL reads itself get the loader's result (seeded)."""
    import duckdb

    from tiering.data.engines import duckdb_stream as D
    from tiering.data.io import parse_amounts, parse_dates

    rng = np.random.default_rng(8)
    amounts = [
        f"{v:.{d}f}"
        for v, d in zip(
            rng.lognormal(3, 2, 3000) * rng.choice([-1, 1], 3000), rng.integers(0, 7, 3000)
        )
    ]
    amounts += ["1e5", "-.5", "+3", "007", "1E-3", "12.", "0.000001", "123456789.123456"]
    ts = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 3e9, 2000), unit="s")
    dates = (
        list(ts.strftime("%Y-%m-%d %H:%M:%S"))
        + list(ts.strftime("%Y-%m-%d"))
        + list(ts.strftime("%Y-%m-%d %H:%M"))
    )
    con = duckdb.connect()
    try:
        got_a = con.sql(
            "SELECT " + D.amount_fast("v", "amount", D.Modes()) + " AS x FROM "
            "(SELECT unnest($1) AS v)",
            params=[amounts],
        ).df()["x"]
        got_d = con.sql(
            "SELECT " + D.date_plain("v") + " AS x FROM (SELECT unnest($1) AS v)", params=[dates]
        ).df()["x"]
    finally:
        con.close()
    np.testing.assert_array_equal(got_a.to_numpy(), parse_amounts(pd.Series(amounts)).to_numpy())
    assert (
        got_d.astype("datetime64[ns]").to_numpy() == parse_dates(pd.Series(dates)).to_numpy()
    ).all()


# --------------------------------------------------------------------------- engine choice, cache


def test_auto_engine_by_size_and_format(tmp_path, monkeypatch):
    import tiering.data.engines.base as E  # where choose_engine reads it

    small = tmp_path / "s.csv"
    small.write_text("customer_id,order_date,amount\nC1,2024-01-01,5\n", encoding="utf-8")
    assert choose_engine(source(small)) == "pandas"
    monkeypatch.setattr(E, "AUTO_STREAM_BYTES", 10)
    assert choose_engine(source(small)) == "duckdb"
    xlsx = tmp_path / "s.xlsx"
    pd.DataFrame({"customer_id": ["C1"], "order_date": ["2024-01-01"], "amount": [5]}).to_excel(
        xlsx, index=False
    )
    assert choose_engine(source(xlsx)) == "pandas"
    assert choose_engine(source(small), EngineSpec(engine="spark")) == "spark"


def test_engine_spec_validates():
    with pytest.raises(ValueError):
        EngineSpec(memory_limit="lots")
    with pytest.raises(ValueError):
        EngineSpec(engine="polars")
    assert EngineSpec(memory_limit=" 4 GB").memory_limit == "4GB"


def test_cache_hit_skips_the_aggregation_and_gives_the_same(messy, tmp_path, monkeypatch):
    from tiering.data.engines import duckdb_stream

    spec = EngineSpec(engine="duckdb", cache_dir=tmp_path / "cache", threads=2)
    src = source(messy, attributes=["Region"])
    first = compute_features(src, spec=spec, rejected_path=tmp_path / "r1.csv", today=TODAY)
    assert first.source["cache"] == "miss"

    def boom(*a, **k):
        raise AssertionError("the aggregation ran again")

    monkeypatch.setattr(duckdb_stream, "compute", boom)
    again = compute_features(src, spec=spec, rejected_path=tmp_path / "r2.csv", today=TODAY)
    assert again.source["cache"] == "hit"
    pd.testing.assert_frame_equal(first.features, again.features)
    pd.testing.assert_frame_equal(first.quality, again.quality)
    assert (tmp_path / "r1.csv").read_bytes() == (tmp_path / "r2.csv").read_bytes()
    # another day with no date near the future limit: still a hit
    later = compute_features(src, spec=spec, today=TODAY + dt.timedelta(days=30))
    assert later.source["cache"] == "hit"
    # other feature parameters: a miss
    with pytest.raises(AssertionError, match="ran again"):
        compute_features(src, spec=spec, as_of=dt.date(2024, 4, 1), today=TODAY)
    # the file changes: a miss
    messy.write_text(
        messy.read_text(encoding="utf-8") + "Z9,2024-05-05,00999,Zed,1,N,web\n", encoding="utf-8"
    )
    with pytest.raises(AssertionError, match="ran again"):
        compute_features(src, spec=spec, today=TODAY)


def test_cache_is_invalid_when_a_date_crosses_the_future_limit(tmp_path):
    path = tmp_path / "f.csv"
    soon = TODAY + dt.timedelta(days=10)
    path.write_text(
        f"customer_id,order_date,amount\nC1,2024-01-01,5\nC2,{soon},5\n", encoding="utf-8"
    )
    spec = EngineSpec(engine="duckdb", cache_dir=tmp_path / "cache", threads=2)
    a = compute_features(source(path), spec=spec, today=TODAY)
    assert a.quality.set_index("reason").loc["future_date", "rows"] == 1
    b = compute_features(source(path), spec=spec, today=TODAY + dt.timedelta(days=20))
    assert b.source["cache"] == "miss" and "future_date" not in set(b.quality["reason"])


def test_monthly_by_tier_matches_the_pipeline(tmp_path):
    from tiering.analysis import pipeline
    from tiering.data.engines import monthly_by_tier
    from tiering.data.io import load

    src = validate(
        {"data": {"path": str(DEMO), "cancellations": {"order_id_prefixes": ["R"]}}}
    ).data
    res = run(src, "duckdb", tmp_path)
    loaded = load(src)
    tiers = res.features[["customer_id"]].copy()
    labels = pd.CategoricalDtype(["A", "B", "C"], ordered=True)
    tiers["tier"] = pd.Categorical.from_codes(np.arange(len(tiers)) % 3, dtype=labels)
    want = pipeline._monthly(loaded.transactions, tiers)
    got = monthly_by_tier(res, tiers, src, spec=EngineSpec(threads=2))
    pd.testing.assert_frame_equal(want.reset_index(drop=True), got, check_exact=False, atol=1e-6)


# --------------------------------------------------------------------------- Spark


def _spark_ok() -> tuple[bool, str]:
    from tiering.data.engines.spark import available

    return available()


@pytest.mark.skipif(not _spark_ok()[0], reason=_spark_ok()[1])
def test_spark_same_as_duckdb_and_pandas(messy, tmp_path):
    """Spark in local mode: the demo data gives the DuckDB engine's (and the pandas
    path's) customer features; so does the messy file, rejected rows included."""
    spec = EngineSpec(engine="spark", threads=2, memory_limit="1GB")
    demo = validate(
        {
            "data": {
                "path": str(DEMO),
                "attributes": ["region", "customer_type"],
                "cancellations": {"order_id_prefixes": ["R"]},
            }
        }
    ).data
    d = run(demo, "duckdb", tmp_path)
    s = run(demo, "spark", tmp_path, spec=spec)
    assert s.engine == "spark" and len(s.features) == 3000
    pd.testing.assert_frame_equal(d.features, s.features, check_exact=False, rtol=0, atol=1e-9)
    assert_same(run(demo, "pandas", tmp_path), s)
    m = source(
        messy,
        attributes=["Region"],
        cancellations={"order_id_prefixes": ["R"]},
        duplicate_rows="reject",
    )
    assert_same(run(m, "pandas", tmp_path), run(m, "spark", tmp_path, spec=spec))


def test_clean_transactions_are_the_loaders(messy, tmp_path):
    from tiering.data.engines import clean_transactions
    from tiering.data.io import load

    src = source(messy, attributes=["Region"], cancellations={"order_id_prefixes": ["R"]})
    res = run(src, "duckdb", tmp_path)
    want = load(src).transactions
    got = clean_transactions(res, src, spec=EngineSpec(threads=2))
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(
        want.reset_index(drop=True), got, check_dtype=False, check_exact=False, atol=1e-9
    )
    assert got["order_date"].dtype == want["order_date"].dtype


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
@pytest.mark.parametrize("duplicate_rows", ["keep", "reject"])
def test_rejected_rows_are_formula_safe(tmp_path, engine, duplicate_rows):
    """A rejected row is where a hostile value ends up: rejected_rows.csv must not let a
    spreadsheet run it (both the parallel and the single-threaded DuckDB writer)."""
    path = tmp_path / "hostile.csv"
    path.write_text(
        "order_id,order_date,customer_id,customer_name,amount\n"
        "O1,2024-01-01,C1,Ann,10\n"
        'O2,not a date,C2,"=HYPERLINK(""http://x"")",5\n'
        "O3,2024-01-02,C3,@SUM(A1),abc\n"
        "O4,2024-01-03,-2,-cmd,-7\n",
        encoding="utf-8",
    )
    src = source(path, duplicate_rows=duplicate_rows)
    res = run(src, engine, tmp_path)
    got = pd.read_csv(res.rejected_path, dtype=str, keep_default_na=False)
    assert got["src_customer_name"].tolist() == ['\'=HYPERLINK("http://x")', "'@SUM(A1)"]
    assert got["row"].tolist() == ["3", "4"]


def test_values_beyond_the_header_name_their_row(tmp_path):
    """A record with more cells than the header (an unquoted delimiter): the error names
    the file row, found by the parallel numbering pass."""
    path = tmp_path / "extra.csv"
    lines = ["order_id,order_date,customer_id,amount"]
    lines += [f"O{i},2024-01-01,C{i % 7},10" for i in range(1, 40)]
    lines[25] = "O25,2024-01-01,C4,1,234"  # row 26 of the file
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        run(source(path), "duckdb", tmp_path)
    assert "Row 26 of extra.csv" in str(err.value)
    assert err.value.where == "extra.csv, row 26"


def test_parquet_latest_attributes_same_as_pandas(tmp_path):
    """On Parquet the latest attribute values are read in a second, narrow pass for the
    winning rows (by date, then row): same-date ties go to the later row, rejected and
    return-only rows are judged as the pandas path judges them."""
    pq = tmp_path / "ties.parquet"
    pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5", "R6", "O7", "O8"],
            "order_date": [
                "2024-05-01 10:00:00",
                "2024-05-01 10:00:00",
                "2024-04-01 09:00:00",
                "2024-06-01 00:00:00",
                "2024-03-01 00:00:00",
                "2024-03-05 00:00:00",
                "2024-07-01 00:00:00",
                "2024-02-01 00:00:00",
            ],
            "customer_id": ["A", "A", "A", "A", "B", "B", "C", "C"],
            "amount": ["10", "12", "5", "abc", "7", "-2", "3", "4"],
            "region": ["North", "South", "East", "West", " Inner ", "Outer", None, "Far"],
            "channel": ["web", "shop", "web", "shop", "shop", "web", "web", "shop"],
        }
    ).to_parquet(pq)
    src = source(pq, attributes=["region", "channel"], cancellations={"order_id_prefixes": ["R"]})
    a, b = both(src, tmp_path)
    assert_same(a, b)
    f = b.features.set_index("customer_id")
    assert f.loc["A", "region"] == "South"  # the later of two rows at the same time
    assert f.loc["B", "region"] == "Outer"  # a return row counts for the latest values
    assert f.loc["C", "region"] == ""  # the latest row has no region


def test_demo_as_parquet_same_as_pandas(tmp_path):
    pq = tmp_path / "demo.parquet"
    pd.read_csv(DEMO, dtype=str, keep_default_na=False).to_parquet(pq)
    src = validate(
        {
            "data": {
                "path": str(pq),
                "attributes": ["region", "customer_type"],
                "cancellations": {"order_id_prefixes": ["R"]},
            }
        }
    ).data
    assert_same(*both(src, tmp_path))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_customers_and_reasons_share_one_group_key(tmp_path, fmt):
    """The aggregation groups by one text key: the customer id, or chr(1) + the reason of
    a rejected row. A customer id that spells such a key (a control character and a
    reason code) is itself rejected, and customers named like reasons stay customers."""
    rows = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5", "O6", "O7"],
            "order_date": [
                "2024-01-01",
                "2024-01-02",
                "2024-01-03",
                "2024-01-04",
                "2024-01-05",
                "not a date",
                "2024-01-07",
            ],
            "customer_id": [
                "zero_amount",
                "bad_date",
                "\x01zero_amount",
                "\x01bad_date",
                "C1",
                "C1",
                "zero_amount",
            ],
            "amount": ["10", "20", "30", "40", "0", "5", "15"],
        }
    )
    if fmt == "csv":
        path = tmp_path / "keys.csv"
        rows.to_csv(path, index=False)
    else:
        path = tmp_path / "keys.parquet"
        rows.to_parquet(path)
    a, b = both(source(path), tmp_path)
    assert_same(a, b)
    f = b.features.set_index("customer_id")
    assert sorted(f.index) == ["bad_date", "zero_amount"]
    assert f.loc["zero_amount", "monetary"] == 25
    assert f.loc["zero_amount", "frequency"] == 2
    got = read_rejected(b.rejected_path)
    assert sorted(got["reason"]) == [
        "bad_customer_id",
        "bad_customer_id",
        "bad_date",
        "zero_amount",
    ]
    assert b.source["rows_rejected"] == 4


def test_empty_cells_quoted_or_missing_are_one_value_for_duplicates(tmp_path):
    """An empty cell, a quoted empty cell and a missing last cell are the same as read:
    the rows differing only so are copies of one row (the row hash needs no coalesce
    because DuckDB's reader gives NULL for all three)."""
    rows = [
        "o,d,c,a,Region,Note",
        "T1,2024-05-01,P,5,North,",
        'T1,2024-05-01,P,5,North,""',
        "T1,2024-05-01,P,5,North",
        "T2,2024-05-02,P,5,,x",
        'T2,2024-05-02,P,5,"",x',
        "T3,2024-05-03,P,5, ,x",  # a space is a value: not a copy
    ]
    path = tmp_path / "empty.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    src = source(
        path,
        columns={"order_id": "o", "order_date": "d", "customer_id": "c", "amount": "a"},
        attributes=["Region"],
    )
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert a.source["duplicate_rows"] == b.source["duplicate_rows"] == 3


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_ties_on_the_latest_date_with_duplicate_rows_rejected(tmp_path, fmt):
    """``duplicate_rows: reject`` numbers the rows in a window partitioned by their cells,
    so the rows table's rowids do not follow the file: the latest row of a tie is the one
    with the later row number, not the later rowid."""
    import random

    rng = random.Random(1)
    regions = ["North", "South", "East", "West"]
    recs = [
        f"T{i}_{j},2024-05-01 12:00:00,C{i:04d},{j + 1},{regions[(i + j) % 4]}"
        for i in range(300)
        for j in range(3)
    ]
    rng.shuffle(recs)
    recs += recs[:20]  # copies, rejected
    path = tmp_path / "ties.csv"
    path.write_text("\n".join(["o,d,c,a,Region", *recs]) + "\n", encoding="utf-8")
    if fmt == "parquet":
        frame = pd.read_csv(path, dtype=str)
        path = tmp_path / "ties.parquet"
        frame.to_parquet(path)
    src = source(
        path,
        columns={"order_id": "o", "order_date": "d", "customer_id": "c", "amount": "a"},
        attributes=["Region"],
        duplicate_rows="reject",
    )
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert "table" in b.timings and b.source["duplicate_rows"] == 20
