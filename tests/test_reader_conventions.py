"""Reading conventions decided per column, and the engines agreeing on them (issue 16,
"Data that gives a silently wrong answer").

- Amounts: dots between thousands (``250.000``, ``1.500.000``) or decimal points, decided
  from all values of the column; an undecidable column is refused with examples and the
  parameter that settles it (``data.decimal``).
- Dates: day-first or month-first for every separator (``01-05-2024`` too), decided
  from all values, honoured when ``data.dayfirst`` is given, refused when the column
  contradicts itself; a bare year is not a date; Chinese 上午/下午 times are read.
- IDs in scientific notation are rejected (``rounded_customer_id``).
- The DuckDB engine refuses duplicate Parquet column names as the pandas engine does,
  reads the same quoting as pandas, and says clearly that a ``.csv.gz`` is truncated.

Every case runs on the pandas engine (the reference) and on DuckDB, which must give the
same features, rejected rows and messages.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from tiering.data.io import load
from tiering.errors import DataError

from .test_engines import assert_same, both, read_rejected, run, source

COLS = {"order_id": "o", "order_date": "d", "customer_id": "c", "amount": "a"}


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def rows_csv(tmp_path, values: list[tuple], name: str = "t.csv"):
    """A file ``o,d,c,a`` with one line per (date, customer, amount)."""
    lines = ["o,d,c,a"] + [f"X{i},{d},{c},{a}" for i, (d, c, a) in enumerate(values, start=1)]
    return write(tmp_path, name, "\n".join(lines) + "\n")


def errors_of(src, tmp_path) -> tuple[DataError, DataError]:
    """The pandas engine's and the DuckDB engine's error for ``src``."""
    got = []
    for engine in ("pandas", "duckdb"):
        with pytest.raises(DataError) as err:
            run(src, engine, tmp_path)
        got.append(err.value)
    return got[0], got[1]


def amounts_of(src) -> dict[int, float]:
    tx = load(src).transactions
    return dict(zip(tx["row"], tx["amount"]))


def reasons_of(src) -> dict[int, str]:
    rej = load(src).rejected
    return dict(zip(rej["row"], rej["reason"]))


# --------------------------------------------------------------------------- 1. amounts


def test_dot_thousands_decided_by_the_column(tmp_path):
    """``1.500.000`` can only be thousands: the column's ``250.000`` and ``12.500`` are
    250000 and 12500 (not 250 and 12.5), and ``1.500.000`` is not rejected."""
    path = rows_csv(
        tmp_path,
        [
            ("2024-01-05", "C1", "250.000"),
            ("2024-01-06", "C2", "12.500"),
            ("2024-01-07", "C3", "1.500.000"),
        ],
    )
    src = source(path, columns=COLS)
    assert amounts_of(src) == {2: 250000.0, 3: 12500.0, 4: 1500000.0}
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.features.set_index("customer_id")["monetary"].to_dict() == {
        "C1": 250000.0,
        "C2": 12500.0,
        "C3": 1500000.0,
    }


def test_dot_decimals_decided_by_the_column(tmp_path):
    """A value with a decimal point (``3.25``) decides the other way: ``12.500`` is 12.5."""
    path = rows_csv(
        tmp_path,
        [
            ("2024-01-05", "C1", "12.500"),
            ("2024-01-06", "C2", "3.25"),
            ("2024-01-07", "C3", "250.000"),
        ],
    )
    src = source(path, columns=COLS)
    assert amounts_of(src) == {2: 12.5, 3: 3.25, 4: 250.0}
    assert_same(*both(src, tmp_path))


def test_ambiguous_dot_amounts_are_refused_with_examples(tmp_path):
    path = rows_csv(
        tmp_path,
        [
            ("2024-01-05", "C1", "250.000"),
            ("2024-01-06", "C2", "12.500"),
            ("2024-01-07", "C3", "40"),
        ],
    )
    src = source(path, columns=COLS)
    a, b = errors_of(src, tmp_path)
    assert str(a) == str(b)
    assert "'250.000' (row 2)" in a.message and "'12.500' (row 3)" in a.message
    assert "column 'a'" in a.where and "t.csv" in a.where
    assert "data.decimal" in a.hint and "250000" in a.hint


def test_contradicting_dot_amounts_are_refused(tmp_path):
    """Dots as thousands (``1.500.000``) and as decimal points (``12.50``) in one column:
    ``250.000`` cannot be read either way."""
    path = rows_csv(
        tmp_path,
        [
            ("2024-01-05", "C1", "1.500.000"),
            ("2024-01-06", "C2", "12.50"),
            ("2024-01-07", "C3", "250.000"),
        ],
    )
    a, b = errors_of(source(path, columns=COLS), tmp_path)
    assert str(a) == str(b)
    assert "'250.000' (row 4)" in a.message
    assert "'1.500.000' (row 2)" in a.message and "'12.50' (row 3)" in a.message


@pytest.mark.parametrize(
    "decimal, want, rejected",
    [
        (",", {2: 250000.0, 3: 12500.0, 4: 40.0}, {5: "bad_amount"}),
        (".", {2: 250.0, 3: 12.5, 4: 40.0, 5: 3.25}, {}),
    ],
)
def test_data_decimal_settles_the_column(tmp_path, decimal, want, rejected):
    """``data.decimal`` reads the column one way; a value written the other way
    (``3.25`` when the comma is the decimal mark) is rejected, not guessed."""
    path = rows_csv(
        tmp_path,
        [
            ("2024-01-05", "C1", "250.000"),
            ("2024-01-06", "C2", "12.500"),
            ("2024-01-07", "C3", "40"),
            ("2024-01-08", "C4", "3.25"),
        ],
    )
    src = source(path, columns=COLS, decimal=decimal)
    assert amounts_of(src) == want
    assert reasons_of(src) == rejected
    assert_same(*both(src, tmp_path))


def test_european_column_keeps_reading_as_before(tmp_path):
    path = rows_csv(
        tmp_path,
        [
            ("2024-01-05", "C1", '"1.234,50"'),
            ("2024-01-06", "C1", "1.234"),
            ("2024-01-07", "C2", '"12,00"'),
            ("2024-01-08", "C2", "2.000.000"),
        ],
    )
    src = source(path, columns=COLS)
    assert amounts_of(src) == {2: 1234.5, 3: 1234.0, 4: 12.0, 5: 2000000.0}
    assert_same(*both(src, tmp_path))


# --------------------------------------------------------------------------- 2. dates


def test_us_dates_with_hyphens_honour_dayfirst_false(tmp_path):
    path = rows_csv(
        tmp_path,
        [("01-05-2024", "C1", "10"), ("02-07-2024", "C2", "20"), ("03.04.2024", "C3", "30")],
    )
    src = source(path, columns=COLS, dayfirst=False)
    tx = load(src).transactions
    assert tx["order_date"].tolist() == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-02-07"),
        pd.Timestamp("2024-03-04"),
    ]
    a, b = both(src, tmp_path)
    assert_same(a, b)
    first = b.features.set_index("customer_id")["first_purchase"]
    assert first["C1"] == pd.Timestamp("2024-01-05")


def test_hyphen_dates_month_first_when_the_column_says_so(tmp_path):
    """Without the parameter, ``01-13-2024`` proves the column month-first."""
    path = rows_csv(tmp_path, [("01-05-2024", "C1", "10"), ("01-13-2024", "C2", "20")])
    src = source(path, columns=COLS)
    tx = load(src).transactions
    assert tx["order_date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-13")]
    assert_same(*both(src, tmp_path))


def test_dates_contradicting_each_other_are_refused(tmp_path):
    path = rows_csv(
        tmp_path,
        [("05/01/2024", "C1", "10"), ("13/01/2024", "C2", "20"), ("01/13/2024", "C3", "30")],
    )
    a, b = errors_of(source(path, columns=COLS), tmp_path)
    assert str(a) == str(b)
    assert "'13/01/2024' (row 3)" in a.message and "'01/13/2024' (row 4)" in a.message
    assert "column 'd'" in a.where
    assert "data.dayfirst" in a.hint


@pytest.mark.parametrize(
    "dayfirst, want, bad_row",
    [
        (True, {2: "2024-01-05", 3: "2024-01-13"}, 4),
        (False, {2: "2024-05-01", 4: "2024-01-13"}, 3),
    ],
)
def test_dayfirst_settles_a_contradicting_column(tmp_path, dayfirst, want, bad_row):
    path = rows_csv(
        tmp_path,
        [("05/01/2024", "C1", "10"), ("13/01/2024", "C2", "20"), ("01/13/2024", "C3", "30")],
    )
    src = source(path, columns=COLS, dayfirst=dayfirst)
    loaded = load(src)
    tx = loaded.transactions
    assert dict(zip(tx["row"], tx["order_date"].dt.strftime("%Y-%m-%d"))) == want
    assert reasons_of(src) == {bad_row: "bad_date"}
    assert_same(*both(src, tmp_path))


def test_a_bare_year_is_not_a_date(tmp_path):
    path = rows_csv(
        tmp_path,
        [
            ("2024", "C1", "10"),
            ("2024-01-05", "C2", "20"),
            ("2024-03", "C3", "30"),
            ("2023/11", "C4", "40"),
            ("2024-02-01", "C1", "5"),
        ],
    )
    src = source(path, columns=COLS)
    loaded = load(src)
    assert reasons_of(src) == {2: "partial_date", 4: "partial_date", 5: "partial_date"}
    assert dict(zip(loaded.quality["reason"], loaded.quality["rows"]))["partial_date"] == 3
    assert loaded.transactions["row"].tolist() == [3, 6]
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert dict(zip(b.quality["reason"], b.quality["rows"])) == {"partial_date": 3}


def test_partial_date_reason_has_report_text_in_both_languages():
    from tiering.data.io import REASONS
    from tiering.present.i18n import t

    assert REASONS["partial_date"][0] == "invalid"
    en, zh = t("reasons.reason_partial_date", "en"), t("reasons.reason_partial_date", "zh")
    assert "year" in en and "年" in zh


# --------------------------------------------------------------------------- 4. ids


def test_ids_in_scientific_notation_are_rounded_ids(tmp_path):
    path = rows_csv(
        tmp_path,
        [
            ("2024-01-05", "1E+11", "10"),
            ("2024-01-06", "1.23457E11", "20"),
            ("2024-01-07", "1.2E+11", "30"),
            ("2024-01-08", "1.23457e+11", "40"),
            ("2024-01-09", "1.23457E+11", "50"),
            ("2024-01-10", "C1E5", "60"),
            ("2024-01-11", "123456789012", "70"),
        ],
    )
    src = source(path, columns=COLS)
    assert reasons_of(src) == {r: "rounded_customer_id" for r in (2, 3, 4, 5, 6)}
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert sorted(b.features["customer_id"]) == ["123456789012", "C1E5"]


# --------------------------------------------------------------------------- 5. 上午/下午


def test_chinese_am_pm_timestamps(tmp_path):
    values = [
        "2024/1/5 下午 3:05:00",
        "2024/1/5 上午 10:05",
        "2024-01-05 下午3:05",
        "2024/1/6 下午 12:30",
        "2024/1/6 上午 12:05",
        "2024/1/7 3:05:00 下午",
        "2024/1/8 上午 13:05",
    ]
    path = rows_csv(tmp_path, [(v, f"C{i}", "10") for i, v in enumerate(values)])
    src = source(path, columns=COLS)
    loaded = load(src)
    got = dict(zip(loaded.transactions["row"], loaded.transactions["order_date"]))
    assert got == {
        2: pd.Timestamp("2024-01-05 15:05:00"),
        3: pd.Timestamp("2024-01-05 10:05"),
        4: pd.Timestamp("2024-01-05 15:05"),
        5: pd.Timestamp("2024-01-06 12:30"),
        6: pd.Timestamp("2024-01-06 00:05"),
        7: pd.Timestamp("2024-01-07 15:05"),
    }
    assert reasons_of(src) == {8: "bad_date"}  # 上午 13:05 is not a time
    assert_same(*both(src, tmp_path))


# --------------------------------------------------------------------------- 6. duplicate names


def _dup_parquet(path, names):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            [
                pa.array(["1", "2", "3"]),
                pa.array(["2024-01-05", "2024-01-06", "2024-01-07"]),
                pa.array([10.0, 20.0, 30.0]),
                pa.array([11.0, 21.0, 31.0]),
            ],
            names=names,
        ),
        path,
    )
    return path


def test_duplicate_parquet_columns_refused_by_both_engines(tmp_path):
    path = _dup_parquet(tmp_path / "dup.parquet", ["customer_id", "order_date", "amount", "amount"])
    a, b = errors_of(source(path), tmp_path)
    assert str(a) == str(b)
    assert "'amount' appears more than once" in a.message
    assert "dup.parquet" in a.where


def test_duplicate_unused_parquet_columns_are_kept_apart(tmp_path):
    path = _dup_parquet(tmp_path / "dup.parquet", ["customer_id", "order_date", "amount", "note"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    t = pa.table(
        t.columns + [pa.array(["x", "y", "z"])],
        names=["customer_id", "order_date", "amount", "note", "note"],
    )
    pq.write_table(t, path)
    a, b = both(source(path), tmp_path)
    assert_same(a, b)
    assert b.features["monetary"].tolist() == [10.0, 20.0, 30.0]


# --------------------------------------------------------------------------- 7. quoting

QUOTING = {
    "doubled": '1,"""Quote"" & <Co>",2024-01-05,10\n',
    "delimiter": '1,"Smith, John",2024-01-05,"1,234.50"\n',
    "line_break": '1,"Line 1\nLine 2",2024-01-05,10\n',
    "crlf_break": '1,"Line 1\r\nLine 2",2024-01-05,10\r\n',
    "mixed_newlines": '1,"Line 1\nLine 2",2024-01-05,10\r\n',
    "empty_quoted": '1,"",2024-01-05,"10"\n',
    "text_after_quote": '1,"Quote" & <Co>,2024-01-05,10\n',
    "space_before_quote": '1, "Spaced",2024-01-05,10\n',
    "quote_inside": '1,Quote" & Co,2024-01-05,10\n',
}


@pytest.mark.parametrize("case", list(QUOTING), ids=list(QUOTING))
def test_quoting_read_the_same_by_both_engines(tmp_path, case):
    text = (
        "customer_id,customer_name,order_date,amount\n"
        + QUOTING[case]
        + '2,Plain,2024-01-06,20\n3,"Other",2024-01-07,oops\n'
    )
    if case == "crlf_break":
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    path = write(tmp_path, f"{case}.csv", text)
    src = source(path)
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.source["rows_read"] == 3
    assert read_rejected(b.rejected_path)["row"].tolist() == ["4"]


def test_quoted_names_are_read_as_pandas_reads_them(tmp_path):
    text = "customer_id,customer_name,order_date,amount\n" + "".join(
        QUOTING[k].replace("1,", f"{i},", 1)
        for i, k in enumerate(
            ["doubled", "text_after_quote", "space_before_quote", "quote_inside"], start=1
        )
    )
    path = write(tmp_path, "names.csv", text)
    src = source(path)
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.features["customer_name"].tolist() == [
        '"Quote" & <Co>',
        "Quote & <Co>",
        '"Spaced"',
        'Quote" & Co',
    ]


@pytest.mark.parametrize("how", ["gzip", "gb18030"])
def test_quoting_read_the_same_when_compressed_or_transcoded(tmp_path, how):
    text = (
        "customer_id,customer_name,order_date,amount\n"
        '1, "张三",2024-01-05,10\n2,"Quote" & <Co>,2024-01-06,20\n3,李四,2024-01-07,x\n'
    )
    path = tmp_path / ("q.csv.gz" if how == "gzip" else "q.csv")
    path.write_bytes(gzip.compress(text.encode()) if how == "gzip" else text.encode("gb18030"))
    src = source(path)
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.features["customer_name"].tolist() == ['"张三"', "Quote & <Co>"]


def test_rewritten_file_gives_the_loaders_transactions(tmp_path):
    from tiering.data.engines import EngineSpec, clean_transactions

    text = "customer_id,customer_name,order_date,amount\n" + "".join(
        f'{i % 3}, "N{i}",2024-01-{1 + i:02d},{i + 1}\n' for i in range(9)
    )
    src = source(write(tmp_path, "sq.csv", text), attributes=["customer_name"])
    res = run(src, "duckdb", tmp_path)
    assert res.source["rewritten"] is True
    want = load(src).transactions
    got = clean_transactions(res, src, spec=EngineSpec(threads=2))
    pd.testing.assert_frame_equal(want.reset_index(drop=True), got, check_dtype=False)


@pytest.mark.parametrize("where", ["head", "after the head"])
def test_an_unclosed_quote_gets_the_loaders_message_on_duckdb(tmp_path, where):
    """Also past the first 256 KB, which the engines inspect with the loader's reader:
    there DuckDB's reader finds it, and the message is the loader's."""
    rows = [f"{i},Name {i},2024-01-05,10\n" for i in range(3 if where == "head" else 12_000)]
    rows.insert(len(rows) - 1, '99,"Smith & Sons,2024-01-06,20\n')
    path = write(
        tmp_path, "open.csv", "customer_id,customer_name,order_date,amount\n" + "".join(rows)
    )
    line = len(rows)  # the header is line 1
    a, b = errors_of(source(path), tmp_path)
    assert str(a) == str(b)
    assert a.where == f"open.csv, line {line}"


def test_a_line_too_wide_after_the_head_gets_the_loaders_message_on_duckdb(tmp_path):
    rows = [f"{i},Name {i},2024-01-05,10\n" for i in range(12_000)]
    rows.insert(11_000, "99,Smith, Sons,2024-01-06,20\n")
    path = write(
        tmp_path, "wide.csv", "customer_id,customer_name,order_date,amount\n" + "".join(rows)
    )
    a, b = errors_of(source(path), tmp_path)
    assert str(a) == str(b)
    assert a.where == "wide.csv, line 11002"


# --------------------------------------------------------------------------- 8. truncated gzip


@pytest.mark.parametrize("keep", [60, 0.5])
def test_truncated_gzip_is_a_clear_error_on_both_engines(tmp_path, keep):
    rows = "".join(f"C{i % 50},2024-01-{1 + i % 28:02d},{i % 97 + 1}\n" for i in range(100_000))
    data = gzip.compress(("customer_id,order_date,amount\n" + rows).encode())
    cut = keep if isinstance(keep, int) else int(len(data) * keep)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[:cut])
    a, b = errors_of(source(path), tmp_path)
    assert str(a) == str(b)
    assert a.message.startswith("Could not read cut.csv.gz as csv")
    assert "truncated" in a.message
    assert "cut.csv.gz" in a.where
    assert a.hint


# --------------------------------------------------------------------------- rules, fast paths


def test_date_fast_path_agrees_with_the_loader_on_day_month_values():
    """The SQL reading of ``d/m/Y``, ``d-m-Y`` and ``d.m.Y`` values (either order) and
    their day-only / month-only kinds are the loader's (seeded)."""
    import duckdb

    from tiering.data import io
    from tiering.data.engines import _rules as R
    from tiering.data.engines import duckdb_stream as D

    rng = np.random.default_rng(16)
    values = []
    for _ in range(1500):
        a, b = rng.integers(1, 32, 2)
        y = rng.integers(1990, 2030)
        sep = rng.choice(["/", "-", "."])
        pad = rng.random() < 0.5
        v = f"{a:02d}{sep}{b:02d}{sep}{y}" if pad else f"{a}{sep}{b}{sep}{y}"
        if rng.random() < 0.3:
            v += f" {rng.integers(0, 25)}:{rng.integers(0, 60):02d}"
            if rng.random() < 0.5:
                v += f":{rng.integers(0, 60):02d}"
        values.append(v)
    con = duckdb.connect()
    try:
        for dayfirst in (True, False):
            got = con.sql(
                "SELECT " + D.date_fast_expr("v", dayfirst) + " AS x FROM (SELECT unnest($1) AS v)",
                params=[values],
            ).df()["x"]
            want = io.parse_dates_us(pd.Series(values), dayfirst=dayfirst)
            pd.testing.assert_series_equal(got.astype("datetime64[us]"), want, check_names=False)
        kinds = (
            con.sql(
                "SELECT " + D.date_kind_expr("v") + " AS k FROM (SELECT unnest($1) AS v)",
                params=[values],
            )
            .df()["k"]
            .to_numpy()
        )
    finally:
        con.close()
    np.testing.assert_array_equal(kinds, R.date_kinds(values))


def test_amount_shapes_agree_with_the_loader():
    """Per value: thousands evidence, decimal evidence, ambiguous ``250.000``; in SQL as
    in the loader."""
    import duckdb

    from tiering.data.engines import _rules as R
    from tiering.data.engines import duckdb_stream as D

    values = [
        "250.000",
        "12.500",
        "1.500.000",
        "12.50",
        "3.25",
        "0.125",
        "1234.567",
        "1,234.50",
        "1,234",
        "1.234,50",
        "12,50",
        "40",
        "-250.000",
        "(12.500)",
        "$250.000",
        " 250.000 ",
        "1.5e3",
        ".5",
        "12.",
        "abc",
        "",
        "1.234.5",
        "0.500",
        "￥250.000",
        "250.000-",
    ]
    con = duckdb.connect()
    try:
        D.register_udfs(con, D.Modes(), ("amount",))  # non-ASCII values: the loader's own
        got = (
            con.sql(
                "SELECT " + D.amount_shape_sql("v") + " AS k FROM (SELECT unnest($1) AS v)",
                params=[values],
            )
            .df()["k"]
            .tolist()
        )
    finally:
        con.close()
    assert got == R.amount_shapes(values)
    assert R.amount_shapes(["250.000", "1.500.000", "12.50", "40"]) == [
        R.SHAPE_AMBIGUOUS,
        R.SHAPE_THOUSANDS,
        R.SHAPE_DECIMAL,
        0,
    ]


# --------------------------------------------------------------------------- Spark


def _spark_ok() -> tuple[bool, str]:
    from tiering.data.engines.spark import available

    return available()


@pytest.mark.skipif(not _spark_ok()[0], reason=_spark_ok()[1])
def test_spark_reads_by_the_same_conventions(tmp_path):
    """The Spark engine: dots between thousands decided by the column, month-first
    hyphen dates with ``dayfirst: false``, partial dates, rounded ids and 上午/下午 as the
    pandas engine; the same refusals."""
    from tiering.data.engines import EngineSpec

    spec = EngineSpec(engine="spark", threads=2, memory_limit="1GB")
    path = rows_csv(
        tmp_path,
        [
            ("01-05-2024", "C1", "250.000"),
            ("02-07-2024", "C2", "1.500.000"),
            ("2024", "C3", "10"),
            ("03-01-2024", "1.2E+11", "5"),
            ("2024/1/5 下午 3:05:00", "C4", "12.500"),
        ],
    )
    src = source(path, columns=COLS, dayfirst=False)
    assert_same(run(src, "pandas", tmp_path), run(src, "spark", tmp_path, spec=spec))
    for rows in (
        [("13/01/2024", "C1", "1"), ("01/13/2024", "C2", "2")],
        [("2024-01-05", "C1", "250.000"), ("2024-01-06", "C2", "12.500")],
    ):
        bad = source(rows_csv(tmp_path, rows, name="bad.csv"), columns=COLS)
        with pytest.raises(DataError) as a:
            run(bad, "pandas", tmp_path)
        with pytest.raises(DataError) as b:
            run(bad, "spark", tmp_path, spec=spec)
        assert str(a.value) == str(b.value)


def test_fast_path_finds_every_ambiguous_amount():
    """The cheap SQL test for ``250.000`` among plain numbers finds exactly the values the
    loader calls ambiguous (seeded random numbers, 0 to 5 decimals, signs, spaces)."""
    import duckdb

    from tiering.data.engines import _rules as R
    from tiering.data.engines import duckdb_stream as D

    rng = np.random.default_rng(7)
    x = rng.lognormal(3, 2, 4000) * rng.choice([-1, 1], 4000)
    values = [f"{v:.{d}f}" for v, d in zip(x, rng.integers(0, 6, 4000))]
    values += [f" {v} " for v in values[:300]] + [f"{v}\t" for v in values[300:600]]
    values += [
        "250.000",
        "1.000",
        "999.999",
        "1000.000",
        "0.500",
        "-12.500",
        "+12.500",
        "1e3",
        "2.5e2",
        "12.",
        ".500",
        "100.000 ",
        " 100.000",
    ]
    con = duckdb.connect()
    try:
        fast = D.amount_fast("v", "amount", D.Modes())
        got = con.sql(
            f"SELECT CASE WHEN {fast} IS NOT NULL THEN {D.fast_shape('v', fast)} "
            "END AS k FROM (SELECT unnest($1) AS v)",
            params=[values],
        ).df()["k"]
    finally:
        con.close()
    want = np.asarray(R.amount_shapes(values)) == R.SHAPE_AMBIGUOUS
    took = got.notna().to_numpy()
    assert took.sum() > 4000
    np.testing.assert_array_equal((got[took] == R.SHAPE_AMBIGUOUS).to_numpy(), want[took])
    assert want[took].sum() > 50


@pytest.mark.parametrize(
    "decimal, thousands", [(None, False), (None, True), (",", True), (".", False)]
)
def test_amounts_in_sql_are_the_loaders(decimal, thousands):
    """Every reading (the column's decision or ``data.decimal``) gives in SQL what
    ``parse_amounts`` gives, fast path or not."""
    import duckdb

    from tiering.data.engines import duckdb_stream as D
    from tiering.data.io import parse_amounts

    values = [
        "250.000",
        "12.500",
        "1.500.000",
        "12.50",
        "3.25",
        "0.125",
        "1234.567",
        "1,234.50",
        "1,234",
        "1.234,50",
        "12,50",
        "40",
        "-250.000",
        "(12.500)",
        "$250.000",
        " 250.000 ",
        "1.5e3",
        ".5",
        "12.",
        "abc",
        "",
        "1.234.5",
        "0.500",
        "￥250.000",
        "250.000-",
        "€1.234,50",
        "1 234,50",
        "12,5000",
        "1_000",
        "１２.５",
        "RMB 1,000",
    ]
    modes = D.Modes(thousands=("amount",) if thousands else (), decimal=decimal)
    con = duckdb.connect()
    try:
        D.register_udfs(con, modes, ("amount",))
        fast = D.amount_fast("v", "amount", modes)
        slow, _ = D.amount_expr("v", "amount", modes)
        got = con.sql(
            f"SELECT coalesce({fast}, {slow}) AS x FROM (SELECT unnest($1) AS v)", params=[values]
        ).df()["x"]
    finally:
        con.close()
    want = parse_amounts(pd.Series(values), decimal=decimal, thousands=thousands)
    pd.testing.assert_series_equal(got, want, check_names=False)


@pytest.mark.skipif(not _spark_ok()[0], reason=_spark_ok()[1])
def test_spark_refuses_quoting_it_reads_otherwise(tmp_path):
    """Spark reads lines: a line break inside quotes, a space before an opening quote or
    text after a closing quote would be read otherwise than the loader reads them (or a
    row lost): a clear error naming the line, not a silent difference. Standard quoting
    reads the same."""
    from tiering.data.engines import EngineSpec

    spec = EngineSpec(engine="spark", threads=2, memory_limit="1GB")
    head = "customer_id,customer_name,order_date,amount\n"
    for case in ("line_break", "space_before_quote", "text_after_quote"):
        path = write(tmp_path, f"{case}.csv", head + QUOTING[case] + "2,Plain,2024-01-06,20\n")
        with pytest.raises(DataError) as err:
            run(source(path), "spark", tmp_path, spec=spec)
        assert err.value.where == f"{case}.csv, line 2"
    ok = write(
        tmp_path,
        "ok.csv",
        head
        + QUOTING["doubled"]
        + QUOTING["delimiter"].replace("1,", "2,", 1)
        + QUOTING["quote_inside"].replace("1,", "3,", 1),
    )
    assert_same(run(source(ok), "pandas", tmp_path), run(source(ok), "spark", tmp_path, spec=spec))


@pytest.mark.parametrize(
    "rows, dayfirst, thousands",
    [
        ([("05.01.2024", "C1", "10"), ("28.02.2024", "C2", "20")], True, ()),
        ([("2024-01-05", "C1", "250.000"), ("2024-01-06", "C2", "1.500.000")], False, ("amount",)),
    ],
)
def test_duckdb_reads_in_one_pass_what_the_head_shows(tmp_path, rows, dayfirst, thousands):
    """The first pass reads as the head of the file suggests (day-first dates, dots
    between thousands): one pass, not a second one in the other mode."""
    src = source(rows_csv(tmp_path, rows), columns=COLS)
    a, b = both(src, tmp_path)
    assert_same(a, b)
    assert b.timings["aggregate_passes"] == 1
    assert b.source["modes"]["dayfirst"] is dayfirst
    assert tuple(b.source["modes"]["thousands_dots"]) == thousands
