"""The action list built column by column (Arrow, no Python object per cell) gives what
the row-by-row rules give: the same rows, order and texts as a reference written cell
by cell (the implementation before issue 18's speed-up), odd values included."""

from __future__ import annotations

import csv
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest

from tiering.analysis.playbook import ROLES
from tiering.analysis.strategy import is_missing, recommend
from tiering.build.action_lists import (
    CSV_COLUMNS,
    CSV_NAME,
    ILLEGAL_CHARACTERS_RE,
    WORKBOOK_NAME,
    action_list,
    credit_flags,
    owners,
    safe_text,
    workbook_text,
    write_action_lists,
)
from tiering.present.i18n import pick, t
from tiering.present.strategy_text import findings

from .test_actions import tiers_table

#: Text a spreadsheet could run, text that looks like a number, missing values, Chinese.
ODD = [
    "=1+1",
    "-1",
    "-x",
    "\t=x",
    "\rcmd",
    "@SUM(A1)",
    "+1",
    "001234",
    "'quoted",
    "",
    None,
    float("nan"),
    "张三 (上海)",
    "=张三",
    'a,b "c"\nd',
]


def _reference_actions(recs, language: str) -> tuple[list[str], list[str]]:
    """Per customer, one at a time: the signals and the recommended action."""
    book = recs.playbook
    found = findings(recs, language=language)
    by_tier = {(r.trigger_id, r.tier): (r.name, r.action) for r in found.itertuples()}
    role_action = {role: pick(book[role]["actions"][0], language) for role in ROLES}
    segment_action = {k: pick(b["actions"][0], language) for k, b in book["segments"].items()}
    cust = recs.customers
    segments = cust["segment_key"] if "segment_key" in cust.columns else [None] * len(cust)
    signals, actions = [], []
    for triggers, tier, segment, role in zip(
        cust["triggers"].astype(str), cust["tier"].astype(str), segments, cust["role"]
    ):
        texts = [by_tier[(tid, tier)] for tid in triggers.split(";") if tid]
        signals.append("; ".join(name for name, _ in texts))
        if texts:
            actions.append(texts[0][1])
        elif not is_missing(segment) and segment in segment_action:
            actions.append(segment_action[segment])
        else:
            actions.append(role_action[role])
    return signals, actions


def _reference_list(tiers: pd.DataFrame, recs, language: str) -> pd.DataFrame:
    """The action list as it was built before: by customer ID, row by row."""
    rec = recs.customers.assign(customer_id=recs.customers["customer_id"].astype(str))
    rec = rec.set_index("customer_id")
    order = rec.index
    ids = tiers["customer_id"].astype(str)
    base = tiers.assign(customer_id=ids).set_index("customer_id").reindex(order)
    signals, actions = _reference_actions(recs, language)
    out = pd.DataFrame({"tier": rec["tier"].astype(str), "customer_id": order}, index=order)
    if "customer_name" in base.columns:
        out["customer_name"] = base["customer_name"]
    if "segment" in base.columns:
        names = {k: pick(b["name"], language) for k, b in recs.playbook["segments"].items()}
        keys = rec["segment_key"] if "segment_key" in rec.columns else pd.Series(None, index=order)
        raw = base["segment"]
        out["segment"] = [names.get(k, r) if isinstance(k, str) else r for k, r in zip(keys, raw)]
    for col in ("monetary", "frequency", "aov", "recency_days"):
        out[col] = base[col]
    out["last_purchase"] = pd.to_datetime(base["last_purchase"]).dt.normalize()
    out["aov"] = out["aov"].round(2)
    out["usual_gap_days"] = rec["usual_gap_days"].round(1)
    yes, no = t("strategy.yes", language), t("strategy.no", language)
    out["at_risk"] = rec["at_risk"].map({True: yes, False: no})
    out["signals"] = signals
    out["recommended_action"] = actions
    if "overdue" in base.columns:
        out["credit_flag"] = credit_flags(base, language=language)
    out["owner"] = owners(base)
    out["_rank"] = rec["tier_rank"]
    out["_priority"] = rec["priority"].astype("Float64").fillna(math.inf)
    out = out.reset_index(drop=True).sort_values(
        ["_rank", "_priority", "monetary", "customer_id"],
        ascending=[True, True, False, True],
        kind="mergesort",
    )
    return out[[c for c in CSV_COLUMNS if c in out.columns]].reset_index(drop=True)


def _odd_tiers(*, segments: bool = False, master: bool = False) -> pd.DataFrame:
    """15 customers in five tiers, named with the :data:`ODD` values."""
    tiers = tiers_table(labels=("A", "B", "C", "D", "E"))
    n = len(tiers)
    tiers["customer_name"] = pd.Series(ODD, dtype=object)
    tiers.loc[[1, 4], "monetary"] = tiers.loc[[0, 3], "monetary"].to_numpy()  # ties: by ID
    if segments:  # known keys (in either language), an unknown name, missing ones
        tiers["segment"] = (["Champions", "Can't lose them", "Mystery", None, "重要挽留客户"] * 3)[
            :n
        ]
    if master:
        tiers["owner"] = pd.Series(
            (["=A. Owner", None, "李四", "-x", "", "B"] * 3)[:n], dtype=object
        )
        tiers["overdue"] = pd.Series(([True, False, None, True, False] * 3)[:n], dtype=object)
        tiers["overdue_days"] = ([30, np.nan, 5, np.nan, 0, 12.0, np.nan, 1_234] * 2)[:n]
    return tiers


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize(
    ("segments", "master", "shuffle"),
    [(False, False, False), (True, False, False), (False, True, True), (True, True, True)],
)
def test_action_list_matches_the_row_by_row_reference(language, segments, master, shuffle):
    tiers = _odd_tiers(segments=segments, master=master)
    recs = recommend(tiers)
    if shuffle:  # the tiers in another order than the recommendations: looked up by ID
        tiers = tiers.iloc[::-1].reset_index(drop=True)
    got = action_list(tiers, recs, language=language)
    expected = _reference_list(tiers, recs, language)
    pd.testing.assert_frame_equal(got, expected)
    assert got["signals"].str.len().sum() > 0  # triggers fired: their texts are compared


@pytest.mark.parametrize("language", ["en", "zh"])
def test_action_list_takes_a_categorical_segment_column(language):
    """A tiers table made in Python may hold the segments as a category: the playbook's
    names (other texts in Chinese) are not among its categories (found by review)."""
    tiers = _odd_tiers(segments=True)
    recs = recommend(tiers)
    as_text = action_list(tiers, recs, language=language)
    tiers["segment"] = tiers["segment"].astype("category")
    got = action_list(tiers, recs, language=language)
    pd.testing.assert_frame_equal(got, as_text)
    assert got["segment"].notna().any()


def test_action_list_orders_missing_and_tied_net_spend_like_pandas():
    tiers = _odd_tiers()
    tiers.loc[[0, 2], "monetary"] = np.nan  # missing: last within the priority
    tiers.loc[[3, 4, 5], "monetary"] = [-0.0, 0.0, -0.0]  # equal: by customer ID
    recs = recommend(tiers)
    got = action_list(tiers, recs, language="en")
    pd.testing.assert_frame_equal(got, _reference_list(tiers, recs, "en"))
    a = got[got["tier"] == "A"]
    assert a["monetary"].isna().tolist()[-2:] == [True, True]


def test_csv_and_workbook_cells_are_the_cell_by_cell_texts(tmp_path):
    tiers = _odd_tiers(segments=True, master=True)
    recs = recommend(tiers)
    write_action_lists(tiers, recs, tmp_path, language="zh")
    rows = action_list(tiers, recs, language="zh")
    with open(tmp_path / CSV_NAME, encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == list(rows.columns)
    numbers = {"monetary", "frequency", "aov", "recency_days", "usual_gap_days"}
    for j, col in enumerate(rows.columns):
        got = [r[j] for r in table[1:]]
        if col in numbers:
            continue
        if col == "last_purchase":
            expected = [v.strftime("%Y-%m-%d") if not pd.isna(v) else "" for v in rows[col]]
        else:
            expected = [safe_text(v) for v in rows[col]]
        assert got == expected, col
    # the odd names made safe, in both files
    names = {r[2] for r in table[1:]}
    assert {"'=1+1", "'-1", "'-x", "'\t=x", "'@SUM(A1)", "'+1", "001234", "'quoted"} <= names
    assert {"张三 (上海)", "'=张三", 'a,b "c"\nd', ""} <= names
    wb = openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)
    sheet = wb.worksheets[1]  # the best tier: its rows in the list's order
    part = rows[rows["tier"] == rows["tier"].iloc[0]]
    shown = [[c.value for c in r] for r in sheet.iter_rows(min_row=2, max_row=len(part) + 1)]
    columns = [c for c in part.columns if c != "tier"]
    for j, col in enumerate(columns):
        got = [r[j] for r in shown]
        if col in ("customer_id", "customer_name", "segment", "at_risk", "signals"):
            assert got == [workbook_text(v) or None for v in part[col]], col
        elif col == "monetary":
            assert got == [None if pd.isna(v) else float(v) for v in part[col]]
        elif col == "frequency":
            assert got == [int(v) for v in part[col]]


def test_workbook_numbers_are_written_as_cell_by_cell(tmp_path):
    """Numbers: missing and infinite values blank, orders whole numbers, as before."""
    tiers = _odd_tiers()
    recs = recommend(tiers)
    tiers.loc[0, "monetary"] = np.nan
    tiers.loc[1, "aov"] = np.inf
    tiers.loc[2, "aov"] = -np.inf
    extra = pd.DataFrame(
        {
            "customer_id": ["x", "y", "z"],
            "n": pd.array([1, pd.NA, 3], dtype="Int64"),
            "f": pd.array([1.25, None, 2.0], dtype="Float64"),
            "i": np.array([7, 8, 9], dtype="int64"),
            "v": [np.nan, 2.5, -np.inf],
        }
    )
    write_action_lists(tiers, recs, tmp_path, language="en", extra_sheets={"Extra": extra})
    wb = openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)
    a = {r[0]: r for r in wb["A"].iter_rows(min_row=2, values_only=True)}
    assert a["001"][2:5] == (None, 10, 1000.1)  # net spend missing: blank
    assert a["002"][2:5] == (10_001, 5, None)  # infinite average order: blank
    assert a["003"][2:5] == (10_003.0, 10, None)
    assert all(type(r[3]) is int for r in a.values())
    rows = list(wb["Extra"].iter_rows(min_row=2, values_only=True))
    assert rows == [("x", 1, 1.25, 7, None), ("y", None, None, 8, 2.5), ("z", 3, 2.0, 9, None)]


def test_workbook_control_characters_are_openpyxls():
    """The pattern is written out (importing openpyxl for it cost 0.2 s a report): it must
    stay the one openpyxl refuses cells with, character for character."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as OPENPYXL

    for code in range(0x3000):
        ch = chr(code)
        assert bool(ILLEGAL_CHARACTERS_RE.match(ch)) == bool(OPENPYXL.match(ch)), code
    assert workbook_text("a\x00b\x1bc\td\ne") == "a\ufffdb\ufffdc\td\ne"
