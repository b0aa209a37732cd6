"""Spreadsheet-safe CSV tables: formulas neutralised, numbers untouched, reversible."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tiering import params
from tiering.analysis import pipeline
from tiering.build import migration_tables
from tiering.safecsv import formula_safe, unprefix, write_csv

from .conftest import ROOT


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        "+1",
        "@SUM(A1)",
        "-cmd",
        "\t=x",
        "\r=x",
        "-1+2",
        '=HYPERLINK("http://example.com","x")',
    ],
)
def test_formula_like_text_gets_a_quote_and_comes_back(value):
    assert formula_safe(value) == "'" + value
    assert unprefix(formula_safe(value)) == value


@pytest.mark.parametrize(
    "value", ["-12.5", "-1", "-1e5", "-.5", "-1,234.5", "abc", "001234", "'quoted", "", "A"]
)
def test_numbers_and_plain_text_are_left_alone(value):
    assert formula_safe(value) == value
    assert unprefix(value) == value


def test_write_csv_neutralises_text_columns_only(tmp_path):
    df = pd.DataFrame(
        {"id": ["=cmd", "007"], "tier": pd.Categorical(["+A", "B"]), "amount": [-5.0, 3.0]}
    )
    write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", dtype=str)
    assert back["id"].tolist() == ["'=cmd", "007"]
    assert back["tier"].tolist() == ["'+A", "B"]
    assert back["amount"].tolist() == ["-5", "3"]


def test_write_csv_formats_like_pandas_and_falls_back_for_mixed_objects(tmp_path):
    df = pd.DataFrame(
        {
            "when": pd.to_datetime(["2024-01-02 03:04:05", None]),
            "ok": [True, False],
            "n": pd.array([1, None], dtype="Int64"),
            "x": [0.1, float("nan")],
            "name": ["a, b", None],
        }
    )
    write_csv(df, tmp_path / "a.csv")
    back = pd.read_csv(tmp_path / "a.csv", dtype=str, keep_default_na=False)
    assert back.to_dict("list") == {
        "when": ["2024-01-02 03:04:05", ""],
        "ok": ["True", "False"],
        "n": ["1", ""],
        "x": ["0.1", ""],
        "name": ["a, b", ""],
    }
    mixed = pd.DataFrame({"v": [[1, 2], "=x"]})  # lists: Arrow cannot hold them
    write_csv(mixed, tmp_path / "m.csv", bom=True)
    raw = (tmp_path / "m.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert pd.read_csv(tmp_path / "m.csv", encoding="utf-8-sig")["v"].tolist() == ["[1, 2]", "'=x"]


def test_migration_tables_are_formula_safe(tmp_path):
    cfg = params.load(
        ROOT / "params" / "demo.yaml",
        overrides=[
            "stats.n_boot=200",
            "tiering.compare_with=[]",
            "stats.holdout_months=0",
            "value.enabled=false",  # the migration's tables are tested, not the value model
        ],
    )
    analysis, _ = pipeline.run(cfg)
    result = analysis.migration
    movers = result.movers.copy()
    assert len(movers) > 0
    movers["customer_name"] = "=cmd|' /C calc'!A0"
    written = migration_tables.write_tables(dataclasses.replace(result, movers=movers), tmp_path)
    assert "movers.csv" in written
    names = pd.read_csv(tmp_path / "movers.csv", dtype=str)["customer_name"]
    assert (names == "'=cmd|' /C calc'!A0").all()
