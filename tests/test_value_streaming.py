"""The value model's inputs from the streaming engine's single scan (issue 20, "Scale").

On the DuckDB engine the transactions of a large file are a sample (or not read back at
all), so the value model reads the engine's per-customer aggregates: the features'
first and last purchase joined to ``FeatureResult.value_inputs`` (purchase days and
repeat spend), made from the rows table of the one scan, by one more pass over the file
when the rows do not fit in memory, and kept by the feature cache. These tests check
them against ``clv.rfm_summary`` on the pandas path's transactions (hand-computed on a
small file, exactly on the demo data), count the reads of the file, and compare a whole
analysis' value table with the pandas path's.
"""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from tiering import params as params_mod
from tiering.analysis import clv, pipeline, value
from tiering.data import engines, io
from tiering.data.engines import duckdb_stream as D
from tiering.params import DataSource, EngineSpec

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data" / "demo_transactions.csv"
TODAY = dt.date(2026, 12, 6)
AS_OF = dt.date(2024, 3, 1)

# order_id, order_date, customer_id, amount; returns: order ids R..., negative amounts
HAND_ROWS = [
    # A: two purchases on the first day and a return that day; a return-only day after
    # it, two purchases on one later day; a bad amount and a row after as_of (not used)
    ("O1", "2024-01-01 09:00", "A", "10"),
    ("O2", "2024-01-01 18:30", "A", "20"),
    ("R1", "2024-01-01 19:00", "A", "-5"),
    ("O3", "2024-01-05 10:00", "A", "30"),
    ("R2", "2024-01-08 11:00", "A", "-12"),
    ("O4", "2024-01-10 08:00", "A", "40"),
    ("O4", "2024-01-10 08:00", "A", "40"),  # an exact duplicate row (kept or rejected)
    ("O5", "2024-01-10 16:00", "A", "5"),
    ("O6", "2024-01-20 12:00", "A", "abc"),
    ("O7", "2024-03-05 12:00", "A", "100"),
    # B: only returns
    ("R3", "2024-01-03 10:00", "B", "-10"),
    ("R4", "2024-02-03 10:00", "B", "-4"),
    # C: a return before the first purchase; a purchase and a return on one later day
    ("R5", "2024-01-02 10:00", "C", "-7"),
    ("O8", "2024-01-04 10:00", "C", "25"),
    ("O9", "2024-01-04 11:00", "C", "15"),
    ("O10", "2024-02-09 10:00", "C", "50"),
    ("R6", "2024-02-09 12:00", "C", "-20"),
    # D: one purchase day, then a negative amount (a return without an R order id)
    ("O11", "2024-02-01 10:00", "D", "80"),
    ("O12", "2024-02-15 10:00", "D", "-30"),
]

# by hand, as_of 2024-03-01 (the last calibration day 2024-02-29), weeks, with the
# duplicate row rejected (kept: A's repeat spend is 40 more, see hand()):
# customer: (purchase_days, repeat_spend, frequency, recency, T, monetary_value)
HAND = {
    None: {
        # days 01-01, 01-05, 01-10; after the first day: 30 - 12 + 40 + 5 = 63
        "A": (3, 63.0, 2, 9 / 7, 59 / 7, 31.5),
        "B": (0, 0.0, None, None, None, None),
        # days 01-04, 02-09; the return of 01-02 is before the first purchase: 50 - 20
        "C": (2, 30.0, 1, 36 / 7, 56 / 7, 30.0),
        # one purchase day: no repeat purchase, whatever the later return
        "D": (1, -30.0, 0, 0.0, 28 / 7, 0.0),
    },
    # window from 2024-01-03: A's first day (and C's early return) are outside it
    dt.date(2024, 1, 3): {
        # days 01-05, 01-10; after 01-05: -12 + 40 + 5 = 33
        "A": (2, 33.0, 1, 5 / 7, 55 / 7, 33.0),
        "B": (0, 0.0, None, None, None, None),
        "C": (2, 30.0, 1, 36 / 7, 56 / 7, 30.0),
        "D": (1, -30.0, 0, 0.0, 28 / 7, 0.0),
    },
}


def hand(start, duplicates: str) -> dict:
    """:data:`HAND` for the window ``start`` and ``data.duplicate_rows``."""
    out = dict(HAND[start])
    if duplicates == "keep":  # the copy of O4 (40 on 01-10) is used too
        days, repeat, freq, recency, T, _ = out["A"]
        out["A"] = (days, repeat + 40, freq, recency, T, (repeat + 40) / freq)
    return out


@pytest.fixture
def reads(monkeypatch):
    """The reads of the input file by the engine, by kind."""
    got: list[tuple[str, str]] = []
    monkeypatch.setattr(D, "read_hook", lambda path, kind: got.append((kind, path.name)))
    return got


def scans(reads) -> int:
    return [kind for kind, _ in reads].count("scan")


def hand_file(tmp_path, duplicates: str = "keep") -> DataSource:
    path = tmp_path / "hand.csv"
    lines = ["order_id,order_date,customer_id,amount"] + [",".join(r) for r in HAND_ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return DataSource(
        path=path, cancellations={"order_id_prefixes": ["R"]}, duplicate_rows=duplicates
    )


def spec(**kw) -> EngineSpec:
    return EngineSpec(engine="duckdb", threads=2, **kw)


def streaming_summary(result) -> pd.DataFrame:
    aggregates = pipeline.model_aggregates(result)
    return value.summary_from_aggregates(aggregates, cutoff=pd.Timestamp(result.as_of))


def pandas_summary(src, **window) -> pd.DataFrame:
    loaded = io.load(src, **window)
    return clv.rfm_summary(loaded.transactions, cutoff=pd.Timestamp(loaded.as_of))


@pytest.mark.parametrize("duplicates", ["keep", "reject"])
@pytest.mark.parametrize("start", list(HAND), ids=["all rows", "window from 2024-01-03"])
def test_the_inputs_of_a_small_file_by_hand(tmp_path, monkeypatch, reads, start, duplicates):
    """Returns on the first day and after it, same-day purchases, a return before the
    first purchase, a customer with only returns, rows not used (a bad amount, after
    as_of, before the window, a duplicate rejected): the inputs by hand, from the rows
    table and from the passes over the file, and the summary they give equal to
    ``clv.rfm_summary`` on the pandas path's transactions, exactly."""
    src = hand_file(tmp_path, duplicates)
    window = {"as_of": AS_OF, "window_start": start}
    table = engines.compute_features(
        src, spec=spec(), today=TODAY, months=True, value_inputs=True, **window
    )
    assert "table" in table.timings and scans(reads) == 1
    inputs = table.value_inputs
    assert list(inputs.columns) == list(D.VALUE_INPUT_COLUMNS)
    assert inputs["customer_id"].tolist() == ["A", "B", "C", "D"]
    assert str(inputs["purchase_days"].dtype) == "int64"
    hand_values = hand(start, duplicates)
    for cid, days, repeat in zip(
        inputs["customer_id"], inputs["purchase_days"], inputs["repeat_spend"]
    ):
        assert (days, repeat) == hand_values[cid][:2], cid

    # the rows do not fit: one more pass over the file gives the same inputs
    monkeypatch.setattr(D, "ROWS_TABLE_SHARE", 0.0)
    del reads[:]
    without = engines.compute_features(src, spec=spec(), today=TODAY, **window)
    n = scans(reads)
    del reads[:]
    passes = engines.compute_features(src, spec=spec(), today=TODAY, value_inputs=True, **window)
    assert "table" not in passes.timings and scans(reads) == n + 1
    assert without.value_inputs is None
    pd.testing.assert_frame_equal(passes.value_inputs, inputs, check_exact=True)
    pd.testing.assert_frame_equal(passes.features, table.features, check_exact=True)

    got = streaming_summary(table)
    expected = pandas_summary(src, **window)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["customer_id"].tolist() == ["A", "C", "D"]  # B bought nothing
    for row in got.itertuples():
        _, _, freq, recency, T, money = hand_values[row.customer_id]
        assert row.frequency == freq, row.customer_id
        assert row.recency == pytest.approx(recency, abs=1e-12), row.customer_id
        assert row.T == pytest.approx(T, abs=1e-12), row.customer_id
        assert row.monetary_value == money, row.customer_id


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_demo_data_gives_the_summary_of_the_pandas_path(tmp_path, reads, fmt):
    """On the demo data (3,000 customers, returns, same-day orders) the streaming
    summary is ``clv.rfm_summary`` of the pandas path's transactions, to the last bit,
    from the one scan."""
    path = DEMO_DATA
    if fmt == "parquet":
        path = tmp_path / "demo.parquet"
        pd.read_csv(DEMO_DATA, dtype={"customer_id": str}).to_parquet(path)
    src = DataSource(path=path, attributes=["region"], cancellations={"order_id_prefixes": ["R"]})
    res = engines.compute_features(
        src, spec=spec(), today=TODAY, months=True, value_inputs=True, as_of=dt.date(2025, 10, 1)
    )
    assert scans(reads) == 1
    got = streaming_summary(res)
    expected = pandas_summary(src, as_of=dt.date(2025, 10, 1))
    assert len(got) > 2_500 and (got["frequency"] > 0).sum() > 1_000
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_the_cache_keeps_the_inputs(tmp_path, reads):
    """A cache entry holds the inputs it was made with; an entry made without them gets
    them by one pass over the file when a run asks, and keeps them from then on."""
    src = hand_file(tmp_path)
    window = {"as_of": AS_OF}
    spec_a = spec(cache_dir=tmp_path / "cache_a")
    first = engines.compute_features(src, spec=spec_a, today=TODAY, value_inputs=True, **window)
    assert first.source["cache"] == "miss" and first.value_inputs is not None
    del reads[:]
    hit = engines.compute_features(src, spec=spec_a, today=TODAY, value_inputs=True, **window)
    assert hit.source["cache"] == "hit" and scans(reads) == 0
    pd.testing.assert_frame_equal(hit.value_inputs, first.value_inputs, check_exact=True)
    # not asked for: not read back
    plain = engines.compute_features(src, spec=spec_a, today=TODAY, **window)
    assert plain.source["cache"] == "hit" and plain.value_inputs is None

    spec_b = spec(cache_dir=tmp_path / "cache_b")
    engines.compute_features(src, spec=spec_b, today=TODAY, **window)  # without them
    del reads[:]
    added = engines.compute_features(src, spec=spec_b, today=TODAY, value_inputs=True, **window)
    assert added.source["cache"] == "hit" and scans(reads) == 1
    pd.testing.assert_frame_equal(added.value_inputs, first.value_inputs, check_exact=True)
    del reads[:]
    again = engines.compute_features(src, spec=spec_b, today=TODAY, value_inputs=True, **window)
    assert scans(reads) == 0
    pd.testing.assert_frame_equal(again.value_inputs, first.value_inputs, check_exact=True)


def test_without_the_value_model_the_engine_makes_no_inputs(tmp_path, reads):
    """A report without the value model pays nothing: no inputs query."""
    src = hand_file(tmp_path)
    res = engines.compute_features(src, spec=spec(), today=TODAY, months=True, as_of=AS_OF)
    assert res.value_inputs is None and "value_inputs" not in res.timings
    assert scans(reads) == 1


# --------------------------------------------------------------------------- a report


def demo_params(*overrides):
    return params_mod.load(
        ROOT / "params" / "demo.yaml",
        overrides=["stats.n_boot=200", "tiering.compare_with=[]", *overrides],
    )


@pytest.fixture(scope="module")
def pandas_value():
    pytest.importorskip("pymc_marketing", reason="PyMC-Marketing is not installed")
    analysis, _ = pipeline.run(demo_params("engine.engine=pandas"))
    assert analysis.value.available and analysis.value.params["source"] == "transactions"
    return analysis


CASES = {
    # the transactions read back are a customer sample (a file above the limit)
    "customer sample": ((), 10_000),
    # no analysis wants the transactions
    "no transactions": (("stats.holdout_months=0", "migration.period=none"), None),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_streaming_report_fits_the_model_from_its_one_scan(
    pandas_value, tmp_path, reads, monkeypatch, case
):
    """The DuckDB engine's analysis, the transactions sampled or not read back: the value
    section is fitted from the engine's aggregates (not ``missing_inputs``), the file is
    scanned once, and the per-customer value table, the tier table and the grid are the
    pandas path's, exactly (the same summary, so the same fit). The check on unseen data
    runs on the customer sample, and the section says so."""
    from tiering.present import value as present_value

    overrides, limit = CASES[case]
    if limit is not None:
        monkeypatch.setattr(pipeline, "MAX_TRANSACTIONS_IN_MEMORY", limit)
    cfg = demo_params("engine.engine=duckdb", "engine.threads=2", *overrides)
    analysis, loaded = pipeline.run(cfg, rejected_path=tmp_path / "rejected_rows.csv")
    kinds = collections.Counter(kind for kind, name in reads if name == DEMO_DATA.name)
    assert kinds == {"scan": 1, "hash": 1, "head": 1}, reads
    v = analysis.value
    assert v.available and v.spend_available and v.reason == ""
    assert v.params["source"] == "aggregates"
    sampled = limit is not None
    assert ("transactions_sample" in analysis.source) is sampled
    assert (v.holdout is not None) is sampled and v.params["holdout_sample"] is sampled
    ref = pandas_value.value
    pd.testing.assert_frame_equal(v.customers, ref.customers, check_exact=True)
    pd.testing.assert_frame_equal(v.tiers, ref.tiers, check_exact=True)
    pd.testing.assert_frame_equal(v.grid, ref.grid, check_exact=True)
    assert v.model.parameters == ref.model.parameters
    text = present_value.section_value(analysis)
    assert "Value–potential grid" in text
    assert "purchase_days" not in text and "repeat_spend" not in text
    sample = analysis.source.get("transactions_sample")
    if sampled:
        assert v.holdout.available
        h = v.holdout.customers
        assert h["customer_id"].nunique() <= sample["customers"] < len(v.customers)
        assert f"random sample of {sample['customers']:,} of the 3,000 customers" in text
        assert "The check on unseen data is off" not in text
    else:
        assert "The check on unseen data is off" in text
