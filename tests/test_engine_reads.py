"""The streaming engine reads the client's file once per report.

Every read of the input goes through ``duckdb_stream.read_hook`` (a DuckDB query that
scans it, the SHA-256 of its bytes, a copy, the head). The whole analysis on the DuckDB
engine (features, duplicates, rejected rows, monthly revenue by tier, the transactions
of the holdout check and the migration) scans the file once; before, it took five
scans (duplicates, aggregation, rejected rows, monthly revenue, transactions).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import threading
import time

import pandas as pd
import pytest

from tiering import params
from tiering.analysis import pipeline
from tiering.data import engines
from tiering.data.engines import duckdb_stream as D
from tiering.errors import DataError
from tiering.params import DataSource, EngineSpec

from . import test_engine_row_numbers as rn
from .conftest import ROOT
from .test_engine_row_numbers import big_csv  # noqa: F401 - a fixture of the tests below
from .test_engines import MESSY_HEADER, MESSY_ROWS, assert_same, both, source

DEMO = ROOT / "params" / "demo.yaml"


@pytest.fixture
def reads(monkeypatch):
    """The reads of files by the engine: (kind, file name) in order."""
    got: list[tuple[str, str]] = []
    monkeypatch.setattr(D, "read_hook", lambda path, kind: got.append((kind, path.name)))
    return got


def _config(tmp_path, *overrides):
    data = tmp_path / "tx.csv"
    # the demo data with a blank line (spaces: an empty line makes the file be read as
    # the loader reads it, see test_an_empty_line_before_a_record), a duplicate row and a
    # row of a bad date, so that the duplicate count and the rejected rows have work
    lines = (ROOT / "data" / "demo_transactions.csv").read_text(encoding="utf-8").splitlines()
    bad = lines[5].split(",")
    bad[1] = "not a date"
    lines = lines[:300] + ["   ", lines[7], ",".join(bad)] + lines[300:]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return params.load(
        DEMO,
        overrides=[
            f"data.path={data}",
            "engine.engine=duckdb",
            "engine.threads=2",
            "stats.n_boot=100",
            "tiering.compare_with=[]",
            "stats.holdout_months=3",
            "migration.period=quarter",
            *overrides,
        ],
    )


@pytest.mark.parametrize("sample", [False, True], ids=["all transactions", "customer sample"])
def test_a_report_scans_the_file_once(tmp_path, reads, monkeypatch, sample):
    if sample:  # above the limit the transactions are those of a customer sample
        monkeypatch.setattr(pipeline, "MAX_TRANSACTIONS_IN_MEMORY", 10_000)
    cfg = _config(tmp_path)
    analysis, loaded = pipeline.run(cfg, rejected_path=tmp_path / "rejected_rows.csv")
    kinds = collections.Counter(kind for kind, name in reads if name == "tx.csv")
    assert kinds == {"scan": 1, "hash": 1, "head": 1}, reads
    assert {name for _, name in reads} == {"tx.csv"}
    # what the scan served: the holdout check, the migration, the monthly revenue and
    # the rejected rows
    assert analysis.holdout is not None and analysis.migration is not None
    assert loaded.transactions is not None and len(analysis.monthly)
    assert ("transactions_sample" in analysis.source) is sample
    rejected = pd.read_csv(tmp_path / "rejected_rows.csv", dtype=str)
    assert {"bad_date"} <= set(rejected["reason"])
    assert analysis.source["duplicate_rows"] >= 1


def test_the_one_scan_gives_what_the_passes_over_the_file_gave(tmp_path, reads):
    """The monthly revenue and the transactions made in the one scan are those the
    passes over the file give (the fallback of a cached result)."""
    cfg = _config(tmp_path)
    res = engines.compute_features(
        cfg.data,
        spec=cfg.engine,
        transactions=lambda ids, used: ["001008", "001009"],
        months=True,
    )
    assert res.months is not None and res.transactions is not None
    assert sorted(res.transactions["customer_id"].unique()) == ["001008", "001009"]
    assert [k for k, _ in reads].count("scan") == 1
    tiers = res.features[["customer_id"]].copy()
    tiers["tier"] = pd.Categorical.from_codes(
        [i % 3 for i in range(len(tiers))], categories=["A", "B", "C"], ordered=True
    )
    from_scan = engines.monthly_by_tier(res, tiers, cfg.data, spec=cfg.engine)
    assert [k for k, _ in reads].count("scan") == 1  # from the (customer, month) aggregate
    again = dataclasses.replace(res, months=None)
    from_file = engines.monthly_by_tier(again, tiers, cfg.data, spec=cfg.engine)
    pd.testing.assert_frame_equal(from_scan, from_file, check_exact=True)
    tx = engines.clean_transactions(res, cfg.data, spec=cfg.engine, customers=["001008", "001009"])
    pd.testing.assert_frame_equal(res.transactions, tx, check_exact=True)
    assert [k for k, _ in reads].count("scan") == 3  # the two passes of the fallback


def test_a_cached_result_reads_the_file_for_what_the_cache_does_not_hold(tmp_path, reads):
    cfg = _config(tmp_path, f"engine.cache_dir={tmp_path / 'cache'}")
    first, _ = pipeline.run(cfg)
    del reads[:]
    again, loaded = pipeline.run(cfg)
    assert loaded.source["cache"] == "hit"
    # transactions and monthly revenue: one pass each over the file
    assert [k for k, _ in reads].count("scan") == 2
    pd.testing.assert_frame_equal(first.monthly, again.monthly, check_exact=True)


def _same(a, b):
    pd.testing.assert_frame_equal(a.features, b.features, check_exact=True)
    pd.testing.assert_frame_equal(a.quality, b.quality, check_exact=True)
    skip = {"cache"}
    assert {k: v for k, v in a.source.items() if k not in skip} == {
        k: v for k, v in b.source.items() if k not in skip
    }
    assert (a.as_of, a.window_start, a.first_date, a.last_date) == (
        b.as_of,
        b.window_start,
        b.first_date,
        b.last_date,
    )
    assert a.rejected_path.read_bytes() == b.rejected_path.read_bytes()


CASES = {
    # case: (scans of the file with the rows table, or None when they vary)
    "messy": 1,
    "messy, duplicates rejected": 1,
    "messy, gzip": 1,
    "messy, gb18030": None,  # a UTF-8 copy is read
    "parquet": 1,
    "window from the last date": 2,  # and again for the rows before the window
    "a space before a quote": None,  # read again from the loader's copy
    "day first, found after the head": 2,  # read again the other way
}


def _case(tmp_path, case):
    """(data source, compute_features arguments) of a case of :data:`CASES`."""
    import gzip

    messy = MESSY_HEADER + "\n".join(MESSY_ROWS) + "\n"
    demo = ROOT / "data" / "demo_transactions.csv"
    path = tmp_path / "f.csv"
    returns = {"cancellations": {"order_id_prefixes": ["R"]}}
    if case.startswith("messy"):
        path.write_bytes(messy.encode("gb18030" if "gb18030" in case else "utf-8"))
        if "gzip" in case:
            path = path.with_suffix(".csv.gz")
            path.write_bytes(gzip.compress(messy.encode()))
        if "duplicates" in case:
            return DataSource(path=path, attributes=["Region"], duplicate_rows="reject"), {}
        return DataSource(path=path, attributes=["Region"], **returns), {}
    if case == "window from the last date":
        return DataSource(path=demo, attributes=["region"], **returns), {"window_months": 6}
    if case == "parquet":
        path = tmp_path / "demo.parquet"
        pd.read_csv(demo, dtype={"customer_id": str}).to_parquet(path)
        return DataSource(path=path, attributes=["region"], **returns), {}
    if case == "a space before a quote":
        text = "customer_id,customer_name,order_date,amount\n" + "".join(
            f'{i % 3}, "N{i}",2024-01-{1 + i:02d},{i + 1}\n' for i in range(9)
        )
        path.write_text(text, encoding="utf-8")
        return DataSource(path=path, attributes=["customer_name"]), {}
    # the head (256 KB) holds dates that read either way; a later one is day-first only
    rows = [f"C{i % 50},{i % 12 + 1:02d}/{i % 12 + 1:02d}/2024,{10 + i % 7}" for i in range(20_000)]
    rows += ["D1,25/03/2024,5", "D2,31/12/2024,x"]
    path.write_text("customer_id,order_date,amount\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return DataSource(path=path), {}


@pytest.mark.parametrize("case", list(CASES))
def test_the_rows_table_gives_what_the_passes_over_the_file_give(
    tmp_path, reads, case, monkeypatch
):
    """Read once into the rows table or in passes over the file (a file too big for the
    table): the same features, facts and rejected rows, byte for byte."""
    src, kw = _case(tmp_path, case)
    spec = EngineSpec(engine="duckdb", threads=2)
    today = dt.date(2026, 12, 6)
    table = engines.compute_features(
        src, spec=spec, rejected_path=tmp_path / "a.csv", today=today, months=True, **kw
    )
    assert "table" in table.timings and table.months is not None
    scans = [k for k, _ in reads].count("scan")
    assert scans == CASES[case] or CASES[case] is None
    del reads[:]
    monkeypatch.setattr(D, "ROWS_TABLE_SHARE", 0.0)  # no table fits
    passes = engines.compute_features(
        src, spec=spec, rejected_path=tmp_path / "b.csv", today=today, **kw
    )
    assert "table" not in passes.timings and passes.months is None
    assert [k for k, _ in reads].count("scan") > scans or CASES[case] is None
    _same(table, passes)
    assert table.rejected_path.stat().st_size > 80


def test_a_file_whose_rows_do_not_fit_in_memory_is_read_in_passes(tmp_path, reads, monkeypatch):
    """Above ROWS_TABLE_SHARE of the memory limit (the table would spill to disk: slower
    than the passes, and over the limit), the file is read in passes as before, and
    the months and transactions are left to the passes after tiering."""
    src, _ = _case(tmp_path, "messy")
    monkeypatch.setattr(D, "ROWS_TABLE_SHARE", 0.0)
    res = engines.compute_features(
        src,
        spec=EngineSpec(engine="duckdb", threads=2),
        months=True,
        transactions=lambda i, n: None,
    )
    assert res.months is None and res.transactions is None and "table" not in res.timings
    assert [k for k, _ in reads].count("scan") >= 2


def test_ctrl_c_in_a_function_of_a_query_stops_the_step(tmp_path, monkeypatch):
    """Ctrl-C that lands in one of the engine's Python functions while a query runs (here
    the one the aggregation over the file hands the rejected rows' hashes to; DuckDB
    reports it as that function's error) stops the step: it is not taken for a file that
    DuckDB cannot read, which would rewrite the file and run the step again."""
    path = tmp_path / "t.csv"
    path.write_text(MESSY_HEADER + "\n".join(MESSY_ROWS) + "\n", encoding="utf-8")
    monkeypatch.setattr(D, "ROWS_TABLE_SHARE", 0.0)  # the aggregation over the file

    class Stop(D.RejectedHashes):
        def __init__(self, con):
            super().__init__(con)
            con.remove_function(self.NAME)

            def take(h):
                raise KeyboardInterrupt

            con.create_function(
                self.NAME, take, ["UBIGINT"], "INTEGER", type="native", side_effects=True
            )

    rewrites = []
    real_rewrite = D.rewrite_csv
    monkeypatch.setattr(D, "RejectedHashes", Stop)
    monkeypatch.setattr(
        D, "rewrite_csv", lambda *a, **k: rewrites.append(a) or real_rewrite(*a, **k)
    )
    spec = EngineSpec(engine="duckdb", threads=2, memory_limit="1GB")
    with pytest.raises(KeyboardInterrupt):
        engines.compute_features(source(path), spec=spec, rejected_path=tmp_path / "rej.csv")
    assert rewrites == []


def test_a_step_that_fails_does_not_wait_for_the_input_hash(tmp_path, monkeypatch):
    """When the step ends by an exception (Ctrl-C, an error), the input's SHA-256, made
    in a thread beside DuckDB, is told to stop rather than read the rest of the file (at
    100M rows Ctrl-C waited 2.8 s for it)."""
    path = tmp_path / "t.csv"
    path.write_text(MESSY_HEADER + "\n".join(MESSY_ROWS) + "\n", encoding="utf-8")
    seen = {}

    def hashing(path, delimiter=None, header_row=1, stop=None):
        seen["told"] = stop.wait(10)  # a big file: still reading when the step fails
        raise D._Stopped

    def failing(*args, **kwargs):
        raise RuntimeError("the step failed")

    monkeypatch.setattr(D, "hash_and_scan", hashing)
    monkeypatch.setattr(D, "_compute", failing)
    spec = EngineSpec(engine="duckdb", threads=2, memory_limit="1GB")
    t = time.perf_counter()
    with pytest.raises(RuntimeError, match="the step failed"):
        engines.compute_features(source(path), spec=spec, rejected_path=tmp_path / "rej.csv")
    assert seen["told"] is True and time.perf_counter() - t < 5


def test_the_input_hash_stops_when_told(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (3 << 20))
    stop = threading.Event()
    stop.set()
    with pytest.raises(D._Stopped):
        D.hash_and_scan(path, stop=stop)
    assert D.hash_and_scan(path)[0] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_cells_beyond_the_header_are_refused_the_same_way(tmp_path):
    """A record with more cells than the header: the same message, with its row, from
    the rows table as from the passes."""
    path = tmp_path / "extra.csv"
    lines = ["order_id,order_date,customer_id,amount"]
    lines += [f"O{i},2024-01-01,C{i % 7},10" for i in range(1, 40)]
    lines[25] = "O25,2024-01-01,C4,1,234"  # row 26 of the file
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = EngineSpec(engine="duckdb", threads=2)
    messages = []
    for months in (True, False):
        with pytest.raises(DataError) as err:
            engines.compute_features(DataSource(path=path), spec=spec, months=months)
        messages.append((str(err.value), err.value.where))
    assert messages[0] == messages[1] and messages[0][1] == "extra.csv, row 26"


def test_a_parquet_date_before_1900_is_a_rejected_row_not_an_error(tmp_path):
    """The aggregation keeps the latest row's number of every group; the group of the
    rows with dates before 1900 has a negative key, which failed the cast and the whole
    step (Parquet rows, whose numbers the aggregation reads)."""
    path = tmp_path / "old.parquet"
    pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "order_date": pd.to_datetime(["2024-01-01", "1850-01-01", "2024-02-01"]),
            "amount": [1.0, 2.0, 3.0],
            "region": ["x", "y", "z"],
        }
    ).to_parquet(path)
    a, b = both(source(path, attributes=["region"]), tmp_path)
    assert_same(a, b)
    assert b.quality.set_index("reason").loc["implausible_date", "rows"] == 1


def test_memory_limits_in_bytes():
    assert D._memory_bytes("4GB") == 4e9
    assert D._memory_bytes("3.5GiB") == 3.5 * 2**30
    assert D._memory_bytes("500MB") == 5e8
    assert 0 < D._memory_bytes("50%") < D._memory_bytes("100%")


def test_the_rows_table_keeps_the_file_order_when_both_threads_read(
    big_csv,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    """A CSV file read by both threads into the rows table: every record keeps its
    place (its row number), for the rejected rows, the same-date tie and the
    transactions, as the passes over the file number them."""
    src = DataSource(path=big_csv, attributes=["region"])
    spec = EngineSpec(engine="duckdb", threads=2, memory_limit="2GB")
    table = engines.compute_features(
        src,
        spec=spec,
        rejected_path=tmp_path / "a.csv",
        months=True,
        transactions=lambda ids, used: ["C7", "T1"],
    )
    assert "table" in table.timings
    passes = engines.compute_features(src, spec=spec, rejected_path=tmp_path / "b.csv")
    _same(table, passes)
    tx = table.transactions
    exp_c7 = [
        rn._row(i)
        for i in range(7, rn.N, 40000)
        if i % rn.BAD_EVERY and i % rn.SAME_EVERY and i not in (rn.TIE_EARLY, rn.TIE_LATE)
    ]
    assert tx.loc[tx["customer_id"] == "C7", "row"].tolist() == exp_c7
    assert tx.loc[tx["customer_id"] == "T1", "row"].tolist() == [
        rn._row(rn.TIE_EARLY),
        rn._row(rn.TIE_LATE),
    ]
    assert table.features.set_index("customer_id").loc["T1", "region"] == "Late"


@pytest.mark.parametrize("way", ["gathered", "own scan", "group by"])
def test_the_duplicate_count_of_a_file_read_in_passes(tmp_path, reads, monkeypatch, way):
    """A file read in passes counts its duplicate rows after the aggregation, by sorting
    their hashes: gathered by the rejected-rows pass, which reads every record of a CSV
    file; or by a scan of their own when no rejected rows are picked; or, when the hashes
    would not fit in memory, by a GROUP BY before the aggregation. The count is the rows
    table's and the pandas path's, and the scans of the file are as many as said."""
    lines = (ROOT / "data" / "demo_transactions.csv").read_text(encoding="utf-8").splitlines()
    extra = [lines[7], lines[7], lines[40], "  "]  # three more copies, and a blank line
    if way != "own scan":
        bad = lines[5].split(",")
        bad[1] = "not a date"
        extra.append(",".join(bad))
    path = tmp_path / "tx.csv"
    path.write_text("\n".join(lines[:200] + extra + lines[200:]) + "\n", encoding="utf-8")
    src = DataSource(path=path, attributes=["region"])
    today = dt.date(2026, 12, 6)
    ref = engines.compute_features(
        src, spec=EngineSpec(engine="pandas"), rejected_path=tmp_path / "p.csv", today=today
    )
    spec = EngineSpec(engine="duckdb", threads=2)
    table = engines.compute_features(src, spec=spec, rejected_path=tmp_path / "a.csv", today=today)
    assert "table" in table.timings
    assert table.source["duplicate_rows"] == ref.source["duplicate_rows"] > 3
    del reads[:]
    monkeypatch.setattr(D, "ROWS_TABLE_SHARE", 0.0)
    if way == "group by":
        monkeypatch.setattr(D, "HASHES_SHARE", 0.0)
    counted = []
    real = D._count_duplicates
    monkeypatch.setattr(D, "_count_duplicates", lambda *a, **k: counted.append(1) or real(*a, **k))
    passes = engines.compute_features(src, spec=spec, rejected_path=tmp_path / "b.csv", today=today)
    assert "table" not in passes.timings
    _same(table, passes)
    # the aggregation and: the rejected rows' pass (gathering the hashes); the count's own
    # scan; the GROUP BY first and the rejected rows' pass
    scans = [k for k, _ in reads].count("scan")
    assert scans == {"gathered": 2, "own scan": 2, "group by": 3}[way]
    assert counted == ([1] if way == "group by" else [])


TODAY = dt.date(2026, 12, 6)


def pandas_and_duckdb(src, tmp_path, monkeypatch, *, passes: bool):
    """(the pandas path's result, the DuckDB engine's) of ``src`` with the rejected rows
    written; ``passes``: DuckDB reads the file in passes (no rows table fits)."""
    ref = engines.compute_features(
        src, spec=EngineSpec(engine="pandas"), rejected_path=tmp_path / "p.csv", today=TODAY
    )
    if passes:
        monkeypatch.setattr(D, "ROWS_TABLE_SHARE", 0.0)
    got = engines.compute_features(
        src,
        spec=EngineSpec(engine="duckdb", threads=2),
        rejected_path=tmp_path / "d.csv",
        today=TODAY,
    )
    return ref, got


@pytest.mark.parametrize("bad", [False, True], ids=["no rejected rows", "a rejected row"])
def test_a_quoted_line_break_in_a_file_read_in_passes(tmp_path, monkeypatch, bad):
    """DuckDB's parallel reader refuses a quoted line break; through an Arrow stream the
    refusal is an OSError, read again single-threaded as any of DuckDB's refusals: the
    duplicate count and the rejected rows as the pandas path's."""
    rows = ["order_id,order_date,customer_id,amount,note"]
    rows += [f"O{i},2024-01-{1 + i % 28:02d},C{i % 300},5,n" for i in range(5000)]
    rows[2500] = 'Q1,2024-01-02,C1,5,"two\nlines"'
    rows += [rows[10], rows[11]]  # two copies
    if bad:
        rows.append("O9,not a date,C9,5,n")
    path = tmp_path / "q.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ref, got = pandas_and_duckdb(source(path), tmp_path, monkeypatch, passes=True)
    assert got.source["duplicate_rows"] == ref.source["duplicate_rows"] == 2
    assert got.source["rows_rejected"] == ref.source["rows_rejected"] == int(bad)


def test_more_rows_than_the_head_suggested_are_counted_in_duckdb(tmp_path, monkeypatch):
    """The head's estimate of the rows said their hashes fit in memory, the rows read say
    they do not: the duplicate count is DuckDB's GROUP BY after the aggregation, and no
    array of hashes is made."""
    long_head = [f"O{i},2024-01-02,C{i % 50},5,{'x' * 4000}" for i in range(80)]
    short = [f"P{i},2024-01-03,C{i % 50},5,y" for i in range(30_000)]
    lines = ["order_id,order_date,customer_id,amount,note", *long_head, *short, short[5]]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    src = source(path)
    spec = EngineSpec(engine="duckdb", threads=2, memory_limit="1GB")
    estimate = D.inspect(src, tmp_path).rows_estimate
    assert estimate < 5_000  # the long lines of the head
    rows = len(lines) - 1
    monkeypatch.setattr(D, "ROWS_TABLE_SHARE", 0.0)
    # between the two: the estimate's hashes fit, the rows' do not
    monkeypatch.setattr(D, "HASHES_SHARE", (estimate + rows) * 4 / D._memory_bytes("1GB"))
    made, counted = [], []
    real_hashes, real_count = D.RowHashes, D._count_duplicates
    monkeypatch.setattr(D, "RowHashes", lambda n: made.append(n) or real_hashes(n))
    monkeypatch.setattr(
        D, "_count_duplicates", lambda *a, **k: counted.append(1) or real_count(*a, **k)
    )
    got = engines.compute_features(src, spec=spec, today=dt.date(2026, 12, 6))
    assert got.source["rows_read"] == rows and got.source["duplicate_rows"] == 1
    assert made == [] and counted == [1]


@pytest.mark.parametrize("where", ["table", "passes"])
def test_an_empty_line_before_a_record(tmp_path, monkeypatch, where):
    """DuckDB's reader skips an empty line, the loader counts it as a row: a file with
    one before a record is read as the loader reads it (rewritten), so that the rejected
    rows carry the numbers of their lines, as the pandas path's. Empty lines above the
    header or at the end change nothing and are read straight."""
    header = "order_id,order_date,customer_id,amount"
    rows = [f"O{i},2024-01-{1 + i % 28:02d},C{i % 9},5" for i in range(40)]
    rows[30] = "O30,not a date,C3,5"  # line 32 before the empty lines, 34 after
    text = "\n".join([header, *rows[:10], "", "", *rows[10:]]) + "\n\n"
    path = tmp_path / "empty.csv"
    path.write_text(text, encoding="utf-8")
    ref, got = pandas_and_duckdb(source(path), tmp_path, monkeypatch, passes=where == "passes")
    assert got.source.get("rewritten") and ref.rejected_path.read_bytes() == (
        got.rejected_path.read_bytes()
    )
    rejected = pd.read_csv(got.rejected_path, dtype=str)
    assert rejected["row"].tolist() == ["34"]
    pd.testing.assert_frame_equal(ref.features, got.features, check_dtype=False)
    # empty lines above the header and at the end only: no rewrite
    straight = tmp_path / "straight.csv"
    straight.write_text("\n".join(["", header, *rows]) + "\n\n\n", encoding="utf-8")
    got = engines.compute_features(
        source(straight),
        spec=EngineSpec(engine="duckdb", threads=2),
        rejected_path=tmp_path / "s.csv",
        today=TODAY,
    )
    assert not got.source.get("rewritten")
    assert pd.read_csv(got.rejected_path, dtype=str)["row"].tolist() == ["33"]
