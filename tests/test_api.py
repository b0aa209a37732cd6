"""tiering.analyse: the report's analysis on a DataFrame or a file, from Python."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

import tiering
from tiering import params
from tiering.errors import DataError, ParamsError, TieringError

from .conftest import DEMO_DATA, ROOT, same_as_golden

GOLDEN_TIERS = ROOT / "tests" / "golden" / "demo-en" / "tiers.csv.gz"


def demo_parameters() -> dict:
    """params/demo.yaml as keywords, without the data file and the output folder."""
    raw = params.read_yaml(ROOT / "params" / "demo.yaml")
    raw["data"].pop("path")
    for second in ("customers", "campaigns"):  # the master and campaign files, as given
        if raw["data"].get(second):
            raw["data"][second]["path"] = str(
                (ROOT / "params" / raw["data"][second]["path"]).resolve()
            )
    raw.pop("output", None)
    return raw


@pytest.mark.slow
def test_a_dataframe_gives_the_reports_tiers_csv_byte_for_byte(tmp_path):
    frame = pd.read_csv(DEMO_DATA, dtype={"customer_id": str})
    result = tiering.analyse(frame, **demo_parameters())
    names = result.write_tables(tmp_path)
    assert "tiers.csv" in names and "action_lists.xlsx" in names
    assert same_as_golden(
        gzip.decompress(GOLDEN_TIERS.read_bytes()),
        (tmp_path / "tiers.csv").read_bytes(),
        "tiers.csv",
    )
    assert result.analysis.source["path"] == "pandas.DataFrame"


def test_a_file_path_and_its_frame_agree(tmp_path):
    text = "customer_id,order_date,amount\n" + "".join(
        f"C{i % 12:02d},2024-{1 + i % 12:02d}-{1 + i % 27:02d},{10 + (i * 37) % 500}.50\n"
        for i in range(120)
    )
    path = tmp_path / "tx.csv"
    path.write_text(text, encoding="utf-8")
    kw = {"stats": {"n_boot": 100, "holdout_months": 0}, "migration": {"period": "none"}}
    from_file = tiering.analyse(path, **kw)
    from_frame = tiering.analyse(pd.read_csv(path), **kw)
    pd.testing.assert_frame_equal(from_file.tiers, from_frame.tiers)
    assert from_file.tier_summary["customers"].sum() == 12


def test_nan_ids_are_rejected_rows_not_a_type_error():
    frame = pd.DataFrame(
        {
            "customer_id": [101, 102, np.nan, 103, 104, 105, 106, None],
            "order_date": [
                "2024-01-05",
                "2024-02-05",
                "2024-03-05",
                "2024-04-05",
                "2024-05-05",
                "2024-06-05",
                "2024-06-06",
                "2024-06-07",
            ],
            "amount": [500.0, 300.0, 50.0, 120.0, 80.0, 40.0, 20.0, 10.0],
        }
    )
    result = tiering.analyse(
        frame,
        stats={"n_boot": 100, "holdout_months": 0},
        migration={"period": "none"},
        tiering={"min_tier_size": 1},
    )
    assert sorted(result.tiers["customer_id"]) == ["101", "102", "103", "104", "105", "106"]
    rejected = result.rejected
    assert rejected["reason"].tolist() == ["missing_customer_id", "missing_customer_id"]
    assert rejected["row"].tolist() == [4, 9]  # frame positions 2 and 7, header as row 1


def test_mixed_object_columns_and_unknown_parameters():
    frame = pd.DataFrame(
        {
            "customer_id": ["A1", 7, "A3", "A4"],  # a number among text
            "order_date": ["2024-01-05"] * 4,
            "amount": [10, 20, 30, 40],
        }
    )
    result = tiering.analyse(
        frame,
        stats={"n_boot": 100, "holdout_months": 0},
        migration={"period": "none"},
        tiering={"labels": ["A", "B"], "abc": {"cutoffs": [0.5]}, "min_tier_size": 1},
    )
    assert sorted(result.tiers["customer_id"]) == ["7", "A1", "A3", "A4"]
    with pytest.raises(ParamsError, match="tierng"):
        tiering.analyse(frame, tierng={"method": "abc"})
    with pytest.raises(TieringError, match="not data.path"):
        tiering.analyse(frame, data={"path": "x.csv"})
    with pytest.raises(TieringError, match="a file path or a pandas DataFrame"):
        tiering.analyse([1, 2, 3])


def _small_frame(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"C{i % 20:02d}" for i in range(n)],
            "order_date": [f"2024-{1 + i % 6:02d}-{1 + i % 27:02d}" for i in range(n)],
            "amount": [float(10 + (i * 37) % 400) for i in range(n)],
        }
    )


QUICK = {"stats": {"n_boot": 100, "holdout_months": 0}, "migration": {"period": "none"}}


def test_rejected_rows_come_back_from_the_duckdb_engine_too(tmp_path):
    frame = _small_frame()
    frame.loc[3, "customer_id"] = None
    for engine in ("duckdb", {"engine": "duckdb"}):  # a string is the engine's name
        result = tiering.analyse(frame, engine=engine, **QUICK)
        assert result.rejected["reason"].tolist() == ["missing_customer_id"]
        assert result.rejected["row"].tolist() == [5]
    result.write_tables(tmp_path)
    written = pd.read_csv(tmp_path / "rejected_rows.csv", dtype=str)
    assert written["reason"].tolist() == ["missing_customer_id"]


def test_frames_parquet_cannot_hold_as_they_are():
    frame = _small_frame()
    frame["z"] = [complex(1, 2)] * len(frame)  # an unused column pyarrow cannot write
    frame["big"] = [2**70] * len(frame)  # a Python integer beyond 64 bits
    assert len(tiering.analyse(frame, **QUICK).tiers) == 20
    twice = pd.concat([frame, frame[["amount"]]], axis=1)
    with pytest.raises(TieringError, match="'amount' appear more than once in the DataFrame"):
        tiering.analyse(twice, **QUICK)


def test_an_error_about_a_frame_names_the_frame_not_a_temporary_file():
    with pytest.raises(TieringError) as info:
        tiering.analyse(_small_frame().iloc[:0], **QUICK)
    assert "dataframe.parquet" not in str(info.value) and "tiering-analyse-" not in str(info.value)
    assert "the DataFrame" in str(info.value)


@pytest.mark.slow
def test_a_report_built_from_an_analysis_of_a_frame(tmp_path):
    import json
    import shutil
    import subprocess

    frame = pd.read_csv(DEMO_DATA, dtype={"customer_id": str})
    result = tiering.analyse(
        frame, **{**demo_parameters(), "stats": {"n_boot": 200, "holdout_months": 3}}
    )
    out = result.build_report(
        tmp_path / "frame", generated=__import__("datetime").date(2026, 12, 1)
    )
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["input"]["path"] == "pandas.DataFrame"
    assert manifest["inputs"][0]["rows_read"] == len(frame)
    assert same_as_golden(
        gzip.decompress(GOLDEN_TIERS.read_bytes()), (out / "tiers.csv").read_bytes(), "tiers.csv"
    )
    exe = shutil.which("pdftotext")
    if exe:
        text = subprocess.run(
            [exe, str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "pandas.DataFrame" in text and "Executive summary" in text


def test_tier_a_customer_table_directly():
    """tiering.tier: the ABC rule on a hand-computed case (net spend 100, 50, 20, 10, 5, 1
    of 186: cumulative 54%, 81% -> A; 91%, 97% -> B at the 95% cut-off; the rest C)."""
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6],
            "monetary": [100.0, 50, 20, 10, 5, 1],
            "frequency": [5, 4, 3, 2, 1, 1],
            "recency_days": [1, 2, 3, 4, 5, 6],
        }
    )
    result = tiering.tier(
        customers, method="abc", labels=["A", "B", "C"], abc={"cutoffs": [0.8, 0.95]}
    )
    assert result.assignments["customer_id"].tolist() == ["1", "2", "3", "4", "5", "6"]
    assert result.assignments["tier"].tolist() == ["A", "A", "B", "B", "C", "C"]
    with pytest.raises(DataError, match=r"1 customer\(s\) have no customer_id \(rows 2\)"):
        tiering.tier(customers.assign(customer_id=[1, 2, np.nan, 4, 5, 6]), method="abc")
    with pytest.raises(DataError, match="customer_id repeats: 1"):
        tiering.tier(customers.assign(customer_id=[1, 1, 3, 4, 5, 6]), method="abc")
    with pytest.raises(ParamsError, match="did you mean 'abc'"):
        tiering.tier(customers, method="abcd")
