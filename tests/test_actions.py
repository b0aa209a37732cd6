"""Tests of tiering.build.action_lists: the action-list workbook and CSV (one sheet per tier,
formula-injection safety, sheet names, order, reproducible bytes)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import zipfile

import openpyxl
import pandas as pd
import pytest

from tiering.analysis.strategy import recommend
from tiering.build.action_lists import (
    BUDGET_NAME,
    CSV_COLUMNS,
    CSV_NAME,
    TRIGGERS_NAME,
    WORKBOOK_NAME,
    action_list,
    safe_text,
    sheet_names,
    write_action_lists,
    write_strategy_tables,
)
from tiering.errors import TieringError

from .conftest import DEMO_DATA

HYPERLINK = '=HYPERLINK("http://example.com","x")'
AS_OF = pd.Timestamp("2024-07-01")


def tiers_table(labels=("A", "B", "C"), names=None) -> pd.DataFrame:
    """Three customers per tier; A02 is an at-risk VIP (5 orders over 240 days, 180 days
    away), C01 and C02 bought once (2 of 3: the one-time trigger fires)."""
    rows = []
    base = {0: (10, 300, 10, 10_000.0), 1: (5, 300, 20, 2_000.0), 2: (2, 300, 30, 200.0)}
    for k, label in enumerate(labels):
        freq, tenure, recency, monetary = base[min(k, 2)]
        for i in range(1, 4):
            rows.append(
                {
                    "customer_id": f"{k}{i:02d}",
                    "tier": label,
                    "frequency": freq,
                    "tenure_days": tenure,
                    "recency_days": recency,
                    "monetary": monetary + i,
                    "returns_value": 0.0,
                }
            )
    df = pd.DataFrame(rows)
    df.loc[df["customer_id"] == "002", ["frequency", "tenure_days", "recency_days"]] = [5, 420, 180]
    df.loc[df["customer_id"].isin(["201", "202"]), "frequency"] = 1
    df["gross_revenue"] = df["monetary"] + df["returns_value"]
    df["aov"] = df["gross_revenue"] / df["frequency"]
    df["last_purchase"] = AS_OF - pd.to_timedelta(df["recency_days"], unit="D")
    df["first_purchase"] = AS_OF - pd.to_timedelta(df["tenure_days"], unit="D")
    df["customer_name"] = [(names or {}).get(cid, f"Name {cid}") for cid in df["customer_id"]]
    df["tier"] = pd.Categorical(df["tier"], categories=list(labels), ordered=True)
    df["tier_rank"] = df["tier"].cat.codes.astype("int64") + 1
    return df


NASTY = {
    "001": HYPERLINK,
    "101": "+cmd|' /C calc'!A0",
    "102": "-2+3",
    "103": "@SUM(A1:A2)",
    "201": "\tTabbed",
    "202": "#N/A",
    "203": "Ordinary & <b>",
}


@pytest.fixture
def written(tmp_path):
    tiers = tiers_table(names=NASTY)
    recs = recommend(tiers)
    files = write_action_lists(tiers, recs, tmp_path, language="en")
    return tmp_path, files, tiers, recs


def test_safe_text():
    assert safe_text(HYPERLINK) == "'" + HYPERLINK
    for text in ("+1", "-1", "@x", "\tx", "\rx"):
        assert safe_text(text) == "'" + text
    assert safe_text("Zhang San") == "Zhang San"
    assert safe_text("a=b") == "a=b"
    assert safe_text(None) == "" and safe_text(float("nan")) == ""
    assert safe_text(12) == "12"


def test_sheet_names_are_excel_safe():
    names = sheet_names(
        ["A/B", "x" * 40, "[C]:*?\\", "a/b", "History", "'quoted'", "", "VIP客户"], language="en"
    )
    assert list(names.values()) == [
        "AB",
        "x" * 31,
        "C",
        "ab (2)",
        "Tier 5",
        "quoted",
        "Tier 7",
        "VIP客户",
    ]
    assert all(len(n) <= 31 for n in names.values())
    assert sheet_names([""], language="zh") == {"": "等级1"}


def test_workbook_has_one_sheet_per_tier_and_no_formulas(written):
    folder, files, _, _ = written
    assert files == [WORKBOOK_NAME, CSV_NAME]
    wb = openpyxl.load_workbook(folder / WORKBOOK_NAME)
    assert wb.sheetnames == ["Summary", "A", "B", "C"]
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    ws = wb["A"]
    header = [c.value for c in ws[1]]
    assert header == [
        "Customer ID",
        "Name",
        "Net spend (¥)",
        "Orders",
        "Average order (¥)",
        "Days since last purchase",
        "Last purchase",
        "Usual gap between orders (days)",
        "At risk (away > 2× usual gap)",
        "Signals",
        "Recommended action",
        "Owner",
    ]
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:L4"
    assert ws["A1"].font.bold
    by_id = {row[0].value: row for row in ws.iter_rows(min_row=2)}
    name = by_id["001"][1]
    assert name.value == "'" + HYPERLINK and name.data_type == "s"
    # the at-risk VIP comes first, with the trigger's action
    assert ws["A2"].value == "002"
    assert by_id["002"][9].value == "At-risk VIPs"
    assert by_id["002"][10].value == "Personal call from the account manager within two weeks"
    assert by_id["002"][11].value is None  # the owner is for the client to fill in
    assert by_id["002"][2].value == 10_002.0 and by_id["002"][2].data_type == "n"
    assert by_id["002"][6].value == dt.datetime(2024, 1, 3)
    assert by_id["002"][7].value == 60.0
    # every name came through as text, neutralised where needed
    names = {row[0].value: row[1].value for ws in wb.worksheets for row in ws.iter_rows(min_row=2)}
    assert names["101"] == "'+cmd|' /C calc'!A0" and names["102"] == "'-2+3"
    assert names["103"] == "'@SUM(A1:A2)" and names["201"] == "'\tTabbed"
    assert names["202"] == "#N/A" and names["203"] == "Ordinary & <b>"
    assert wb["C"]["A1"].value == "Customer ID" and wb["C"].max_row == 4
    assert max(ws.column_dimensions[k].width for k in "ABCDEFGHIJKL") <= 62


def test_error_code_text_is_stored_as_a_string(written):
    folder = written[0]
    with zipfile.ZipFile(folder / WORKBOOK_NAME) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        xml = "".join(z.read(n).decode("utf-8") for n in sheets)
    assert "<f>" not in xml and 't="e"' not in xml
    assert "HYPERLINK" in xml


def test_csv_is_neutralised_tidy_and_complete(written):
    folder, _, tiers, _ = written
    raw = (folder / CSV_NAME).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8
    with (folder / CSV_NAME).open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # no customer master here: no credit flag, and the owner is left to the client
    assert list(rows[0]) == [c for c in CSV_COLUMNS if c not in ("segment", "credit_flag")]
    assert len(rows) == len(tiers)
    by_id = {r["customer_id"]: r for r in rows}
    assert by_id["001"]["customer_name"] == "'" + HYPERLINK
    assert by_id["102"]["customer_name"] == "'-2+3"
    assert by_id["002"]["at_risk"] == "yes" and by_id["002"]["owner"] == ""
    assert by_id["201"]["signals"] == "One-time buyers"
    assert [r["tier"] for r in rows] == ["A"] * 3 + ["B"] * 3 + ["C"] * 3


def test_negative_spend_stays_a_number(tmp_path):
    tiers = tiers_table()
    tiers.loc[tiers["customer_id"] == "203", "monetary"] = -45.5
    recs = recommend(tiers)
    write_action_lists(tiers, recs, tmp_path, language="en")
    ws = openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)["C"]
    cell = next(r[2] for r in ws.iter_rows(min_row=2) if r[0].value == "203")
    assert cell.value == -45.5 and cell.data_type == "n"
    rows = action_list(tiers, recs, language="en")
    assert rows.loc[rows["customer_id"] == "203", "monetary"].item() == -45.5


def test_same_input_gives_the_same_bytes(tmp_path):
    tiers = tiers_table(names=NASTY)
    recs = recommend(tiers)
    digests = []
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        write_action_lists(tiers, recs, tmp_path / sub, language="zh")
        digests.append(
            {
                name: hashlib.sha256((tmp_path / sub / name).read_bytes()).hexdigest()
                for name in (WORKBOOK_NAME, CSV_NAME)
            }
        )
    assert digests[0] == digests[1]
    wb = openpyxl.load_workbook(tmp_path / "one" / WORKBOOK_NAME)
    assert wb.properties.created == dt.datetime(2000, 1, 1)
    assert wb.properties.modified == dt.datetime(2000, 1, 1)
    (tmp_path / "three").mkdir()
    write_action_lists(
        tiers, recs, tmp_path / "three", language="zh", timestamp=dt.date(2024, 7, 1)
    )
    wb = openpyxl.load_workbook(tmp_path / "three" / WORKBOOK_NAME)
    assert wb.properties.modified == dt.datetime(2024, 7, 1)


def test_chinese_workbook_and_unsafe_tier_labels(tmp_path):
    labels = ("重要/VIP", "普通:客户", "x" * 40)
    tiers = tiers_table(labels=labels)
    tiers["segment"] = ["Champions", "Can't lose them", "Mystery"] * 3
    recs = recommend(tiers)
    write_action_lists(tiers, recs, tmp_path, language="zh")
    wb = openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)
    assert wb.sheetnames == ["概览", "重要VIP", "普通客户", "x" * 31]
    ws = wb["重要VIP"]
    assert [c.value for c in ws[1]][:4] == ["客户编号", "客户名称", "客户细分", "净消费金额（¥）"]
    segments = sorted({row[2].value for w in wb.worksheets[1:] for row in w.iter_rows(min_row=2)})
    assert segments == sorted(["Mystery", "重要挽留客户", "冠军客户"])
    risk = {row[0].value: row[9].value for row in ws.iter_rows(min_row=2)}
    assert risk["002"] == "是" and risk["001"] == "否"


def test_strategy_tables(tmp_path):
    tiers = tiers_table()
    recs = recommend(tiers)
    assert write_strategy_tables(recs, tmp_path, language="zh") == [BUDGET_NAME, TRIGGERS_NAME]
    budget = pd.read_csv(tmp_path / BUDGET_NAME)
    assert budget["tier"].tolist() == ["A", "B", "C"]
    assert budget["share"].sum() == pytest.approx(1.0)
    found = pd.read_csv(tmp_path / TRIGGERS_NAME, dtype={"tier": str})
    assert found[["trigger_id", "tier", "customers"]].values.tolist() == [
        ["at_risk_vip", "A", 1],
        ["one_time_bottom", "C", 2],
    ]
    assert found.loc[1, "finding"].startswith("C级客户中有66.7%（2位）仅购买过一次")


def test_a_capped_sheet_keeps_the_most_urgent_and_points_to_the_csv(tmp_path):
    tiers = tiers_table()
    recs = recommend(tiers)
    write_action_lists(tiers, recs, tmp_path, language="en", max_rows_per_sheet=2)
    ws = openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)["A"]
    assert [r[0].value for r in ws.iter_rows(min_row=2)] == [
        "002",
        "003",
        "… and 1 more customer of this tier: see action_lists.csv",
    ]
    assert len(pd.read_csv(tmp_path / CSV_NAME, encoding="utf-8-sig")) == len(tiers)


def test_inputs_are_checked(tmp_path):
    tiers = tiers_table()
    recs = recommend(tiers)
    with pytest.raises(TieringError, match="Folder not found"):
        write_action_lists(tiers, recs, tmp_path / "missing", language="en")
    with pytest.raises(TieringError, match="not describe the same customers"):
        write_action_lists(tiers.iloc[1:], recs, tmp_path, language="en")
    with pytest.raises(TieringError, match="Unknown language"):
        write_action_lists(tiers, recs, tmp_path, language="fr")
    with pytest.raises(TieringError, match="max_rows_per_sheet"):
        write_action_lists(tiers, recs, tmp_path, language="en", max_rows_per_sheet=0)


def test_demo_run_writes_a_safe_workbook(tmp_path):
    """The demo data through the pipeline, with one customer renamed to a formula."""
    from tiering import params as P
    from tiering.analysis import pipeline

    text = DEMO_DATA.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    first = text[1].split(",")
    cid, old = first[header.index("customer_id")], first[header.index("customer_name")]
    quoted = '"' + HYPERLINK.replace('"', '""') + '"'
    lines = [text[0]] + [line.replace(f",{cid},{old},", f",{cid},{quoted},") for line in text[1:]]
    data = tmp_path / "demo.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    params = P.validate(
        {
            "data": {"path": str(data), "cancellations": {"order_id_prefixes": ["R"]}},
            "stats": {"n_boot": 100, "metrics": ["monetary"]},
        }
    )  # quick
    analysis, _ = pipeline.run(params)
    recs = recommend(
        analysis.tiers, analysis.tier_summary, spec=params.strategy, currency=params.currency
    )
    out = tmp_path / "out"
    out.mkdir()
    write_action_lists(analysis.tiers, recs, out, language="en")
    wb = openpyxl.load_workbook(out / WORKBOOK_NAME)
    assert wb.sheetnames == ["Summary", *analysis.labels]
    assert sum(ws.max_row - 1 for ws in wb.worksheets[1:]) == len(analysis.tiers)
    found = [
        row[1] for ws in wb.worksheets for row in ws.iter_rows(min_row=2) if row[0].value == cid
    ]
    assert len(found) == 1
    assert found[0].value == "'" + HYPERLINK and found[0].data_type == "s"
    assert not [
        c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"
    ]


def test_workbook_cells_with_infinities_missing_integers_and_old_dates(tmp_path):
    """An extra sheet's infinite number and nullable-integer gap are blank cells, a date
    before 1900 (outside Excel's calendar) is ISO text; the rest as usual."""
    import numpy as np

    tiers = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "tier": pd.Categorical(["A", "B"], categories=["A", "B"], ordered=True),
            "tier_rank": [1, 2],
            "monetary": [100.0, 50.0],
            "frequency": [2, 1],
            "aov": [50.0, 50.0],
            "recency_days": [10, 20],
            "tenure_days": [100, 50],
            "returns_value": [0.0, 0.0],
            "gross_revenue": [100.0, 50.0],
            "last_purchase": pd.to_datetime(["2025-01-01", "2025-02-01"]),
        }
    )
    extra = pd.DataFrame(
        {
            "customer_id": ["x", "y", "z"],
            "v": [np.inf, -np.inf, 1.5],
            "n": pd.array([1, pd.NA, 3], dtype="Int64"),
            "d": pd.to_datetime(["1850-06-01", "2025-01-01", None]),
        }
    )
    write_action_lists(
        tiers, recommend(tiers), tmp_path, language="en", extra_sheets={"Extra": extra}
    )
    rows = list(
        openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)["Extra"].iter_rows(values_only=True)
    )
    assert rows[1] == ("x", None, 1, "1850-06-01")
    assert rows[2] == ("y", None, None, dt.datetime(2025, 1, 1))
    assert rows[3] == ("z", 1.5, 3, None)
