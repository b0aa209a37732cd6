"""Spreadsheet-safe CSV tables: formulas neutralised, numbers untouched, reversible."""

from __future__ import annotations

import dataclasses

import numpy as np
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


def test_timestamps_are_written_as_strftime_writes_them(tmp_path):
    """Arrow's cast to text (fast) gives what ``strftime`` gives, at the calendar's edges."""
    when = pd.Series(
        np.array(
            ["0500-01-02T03:04:05", "1969-12-31T23:59:59", "2024-02-29T12:00:00", "NaT"],
            dtype="datetime64[s]",
        )
    )
    ns = pd.Series(
        pd.to_datetime(["2262-04-11 23:47:16.854775807", "1677-09-22", None], format="ISO8601")
    )
    write_csv(pd.DataFrame({"when": when, "n": 1}), tmp_path / "s.csv")
    write_csv(pd.DataFrame({"when": ns, "n": 1}), tmp_path / "ns.csv")
    for series, name in ((when, "s.csv"), (ns, "ns.csv")):
        back = pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)["when"]
        assert back.tolist() == series.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").tolist()
    assert (tmp_path / "s.csv").read_text(encoding="utf-8").splitlines()[1:3] == [
        '"0500-01-02 03:04:05",1',
        '"1969-12-31 23:59:59",1',
    ]


@pytest.mark.parametrize("dtype", ["str", object])
def test_text_columns_with_and_without_formulas_match_formula_safe(tmp_path, dtype):
    odd = ["=1", "-1", "-x", "\t", "@", "+", "001", "-1,234.5", "'=q", "", None, "张三", "=张"]
    plain = ["a", "-2", "b", None, "中文", "001"]  # nothing to neutralise: written as is
    lone = [["-x", "a"], ["b", "\tc"], ["@d", None], ["+e"], ["-1", "=f"]]  # one risky kind
    cases = [(odd, "odd.csv"), (plain, "plain.csv")]
    cases += [(values, f"lone{i}.csv") for i, values in enumerate(lone)]
    for values, name in cases:
        frame = pd.DataFrame({"n": range(len(values)), "v": pd.Series(values, dtype=dtype)})
        write_csv(frame, tmp_path / name)
        back = pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)["v"].tolist()
        assert back == ["" if v is None else formula_safe(v) for v in values]
