"""The action-list workbook a sales manager opens (issue 19): a Summary sheet first, then
every list sheet (tiers and movers) with translated headers, an auto-filter over its
rows, frozen header and first column, an action and a wide owner column (the customer
master's account owner where it names one).

The demo data is analysed once; its workbook is written in English and in Chinese
through the build layer (``tiering.build.outputs.write_tables``), no report is built."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from openpyxl.utils import get_column_letter

from tiering import params
from tiering.analysis import pipeline
from tiering.analysis.strategy import recommend
from tiering.build import action_lists, migration_tables, outputs
from tiering.build.action_lists import CSV_COLUMNS, WORKBOOK_NAME, write_action_lists
from tiering.present.i18n import t

from .conftest import ROOT
from .test_actions import tiers_table

DEMO_PARAMS = ROOT / "params" / "demo.yaml"
SUMMARY = {"en": "Summary", "zh": "概览"}
OWNER = {"en": "Owner", "zh": "负责人"}
ACTION = {"en": "Recommended action", "zh": "建议行动"}
MOVERS = {"en": ["Left tier A", "Moved up"], "zh": ["离开A级客户", "升级客户"]}
# the demo switches the value model on: its rescue and develop lists come after the movers
VALUE_SHEETS = {
    "en": ["Rescue (value)", "Develop (value)"],
    "zh": ["挽救（价值模型）", "培育（价值模型）"],
}
SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
CJK = re.compile(r"[\u3400-\u9fff]")
STATE_WORDS = re.compile(r"\b(lapsed|new|rose|left_top|stay|up|down)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def demo():
    analysis, loaded = pipeline.run(params.load(DEMO_PARAMS))
    assert analysis.migration is not None and analysis.recommendations is not None
    assert set(analysis.migration.movers["to_tier"]) >= {"lapsed"}  # the demo has every case
    return analysis, loaded


@pytest.fixture(scope="module", params=["en", "zh"])
def book(request, demo, tmp_path_factory):
    """(language, analysis, folder, workbook) for the demo in ``language``."""
    language = request.param
    analysis, loaded = demo
    a = dataclasses.replace(
        analysis, params=analysis.params.model_copy(update={"language": language})
    )
    folder = tmp_path_factory.mktemp(f"book-{language}")
    written = outputs.write_tables(a, loaded, folder)
    assert WORKBOOK_NAME in written
    return language, a, folder, openpyxl.load_workbook(folder / WORKBOOK_NAME)


def _header(ws) -> list:
    return [c.value for c in ws[1]]


def _column(ws, header: str) -> int:
    """The 0-based index of the column headed ``header``."""
    return _header(ws).index(header)


def _raw_names(a) -> set[str]:
    return set(CSV_COLUMNS) | set(a.migration.movers.columns) | set(a.tier_summary.columns)


def _list_sheets(wb):
    return wb.worksheets[1:]


# --------------------------------------------------------------------------- every sheet


def test_the_first_sheet_is_the_summary_then_tiers_then_movers_then_value_lists(book):
    language, a, _, wb = book
    assert wb.sheetnames == [
        SUMMARY[language],
        *a.labels,
        *MOVERS[language],
        *VALUE_SHEETS[language],
    ]


def test_every_header_is_translated(book):
    language, a, _, wb = book
    raw = _raw_names(a)
    for ws in wb.worksheets:
        header = _header(ws)
        assert header and all(isinstance(h, str) and h for h in header), ws.title
        for h in header:
            assert not SNAKE.match(h), (ws.title, h)
            assert h not in raw, (ws.title, h)
            if language == "zh":
                assert CJK.search(h), (ws.title, h)
        assert all(c.font.bold and c.fill.fgColor.rgb.endswith("1B4F72") for c in ws[1])


def test_every_list_sheet_has_a_filter_over_all_its_rows_and_frozen_panes(book):
    _, _, _, wb = book
    summary = wb.worksheets[0]
    assert summary.freeze_panes == "A2"
    assert summary.auto_filter.ref is None  # not a list
    for ws in _list_sheets(wb):
        assert ws.max_row > 1, ws.title  # the demo has customers in every sheet
        last = get_column_letter(len(_header(ws)))
        assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}", ws.title
        assert ws.freeze_panes == "B2", ws.title


def test_every_list_sheet_has_an_action_and_a_wide_owner_column(book):
    """The owner column is last and wide; the demo's customer master fills it with the
    account owner where the master names one (blank otherwise: for the client to fill
    in), and the movers sheets leave it blank."""
    language, analysis, _, wb = book
    owner_of = analysis.tiers.set_index(analysis.tiers["customer_id"].astype(str))["owner"]
    filled = 0
    for ws in _list_sheets(wb):
        header = _header(ws)
        assert header[-2:] == [ACTION[language], OWNER[language]], ws.title
        owner = get_column_letter(len(header))
        assert ws.column_dimensions[owner].width >= 18, ws.title
        rows = list(ws.iter_rows(min_row=2, values_only=True))
        movers = ws.title in MOVERS[language]
        for r in rows:
            expected = None if movers else owner_of.get(str(r[0]))
            assert r[-1] == (expected if isinstance(expected, str) and expected else None), (
                ws.title,
                r[0],
            )
        assert all(isinstance(r[-2], str) and r[-2] for r in rows), ws.title
        filled += sum(r[-1] is not None for r in rows)
    assert filled > 0
    widths = [
        ws.column_dimensions[get_column_letter(j)].width
        for ws in wb.worksheets
        for j in range(1, ws.max_column + 1)
    ]
    assert max(widths) <= 62


def test_no_formula_and_every_text_cell_is_a_string(book):
    _, _, _, wb = book
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate)
                if isinstance(c.value, str):
                    assert c.data_type == "s" and not c.value.startswith(("=", "+", "@"))


# --------------------------------------------------------------------------- movers


def test_movers_sheets_show_translated_states_and_actions(book):
    language, a, _, wb = book
    mig = a.migration
    movers = mig.movers.set_index("customer_id")
    states = {"lapsed": t("migration.state_lapsed", language)}
    actions = {
        "left_top": t("workbook.action_left_top", language, top="A"),
        "lapsed": t("workbook.action_left_top_lapsed", language, churn=mig.spec.churn_days),
    }
    for name, movement in zip(MOVERS[language], ("left_top", "rose")):
        ws = wb[name]
        header = _header(ws)
        rows = list(ws.iter_rows(min_row=2, values_only=True))
        expected = movers[movers["movement"] == movement]
        assert [r[0] for r in rows] == list(expected.index)
        to = header.index(t("workbook.col_to_state", language))
        frm = header.index(t("workbook.col_from_tier", language))
        action = header.index(ACTION[language])
        for r in rows:
            raw = movers.loc[r[0], "to_tier"]
            assert r[to] == states.get(raw, raw)
            assert r[frm] == movers.loc[r[0], "from_tier"]
            if movement == "rose":
                assert r[action] == t("workbook.action_rose", language, tier=raw)
            else:
                assert r[action] == actions["lapsed" if raw == "lapsed" else "left_top"]
        assert states["lapsed"] in {r[to] for r in rows} or movement == "rose"
        assert "lapsed" not in {r[to] for r in rows}


def test_movers_sheets_show_no_raw_state_words(book):
    """No ``lapsed``/``new``/``rose``/``left_top`` as the analysis spells them; in Chinese
    no English state word at all."""
    language, _, _, wb = book
    raw = {"lapsed", "new", "rose", "left_top", "stay", "up", "down"}
    for name in MOVERS[language]:
        for row in wb[name].iter_rows(min_row=2, values_only=True):
            # customer IDs and names (columns A and B) are the client's data
            for v in row[2:]:
                if isinstance(v, str):
                    assert v not in raw and not SNAKE.match(v), (name, v)
                    if language == "zh":
                        assert not STATE_WORDS.search(v), (name, v)


def test_movers_cells_have_the_tier_sheets_types(book):
    language, a, _, wb = book
    ws = wb[MOVERS[language][0]]
    header = _header(ws)
    money = [
        header.index(t(f"workbook.col_{c}", language, currency="¥"))
        for c in ("revenue_before", "revenue_after", "revenue_change", "spend_to_date")
    ]
    dates = [
        header.index(t(k, language))
        for k in (
            "strategy.col_last_purchase",
            "workbook.col_period_start",
            "workbook.col_period_end",
        )
    ]
    first = list(ws.iter_rows(min_row=2, max_row=2))[0]
    ids = list(a.migration.movers["customer_id"])
    assert first[0].data_type == "s" and first[0].value == ids[0]  # leading zeros kept
    assert first[0].value.startswith("0")
    for j in money:
        assert first[j].data_type == "n" and first[j].number_format == "#,##0.00", header[j]
    for j in dates:
        assert isinstance(first[j].value, dt.datetime), header[j]
        assert first[j].number_format == "yyyy-mm-dd" and first[j].value.time() == dt.time()
    last = pd.Timestamp(a.migration.movers["last_purchase"].iloc[0]).normalize()
    assert first[dates[0]].value == last.to_pydatetime()


# --------------------------------------------------------------------------- summary


def _summary_rows(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


def test_summary_numbers_are_those_of_the_tier_summary_and_the_budget(book):
    language, a, _, wb = book
    ws = wb.worksheets[0]
    header = _header(ws)
    assert header[0] == t("strategy.col_tier", language)
    assert len(header) == 7  # the demo has a budget amount
    ts = a.tier_summary.set_index("tier")
    budget = a.recommendations.budget.assign(tier=lambda d: d["tier"].astype(str))
    budget = budget.set_index("tier")
    k = len(a.labels)
    for i, label in enumerate(a.labels):
        cells = list(ws.iter_rows(min_row=i + 2, max_row=i + 2))[0]
        values = [c.value for c in cells]
        assert values[0] == label
        assert values[1] == ts.loc[label, "customers"]
        assert values[2] == pytest.approx(ts.loc[label, "customer_share"], rel=1e-12)
        assert values[3] == pytest.approx(ts.loc[label, "revenue"], rel=1e-12)
        assert values[4] == pytest.approx(ts.loc[label, "revenue_share"], rel=1e-12)
        assert values[5] == pytest.approx(budget.loc[label, "share"], rel=1e-12)
        assert values[6] == pytest.approx(budget.loc[label, "amount"], rel=1e-12)
        assert all(c.data_type == "n" for c in cells[1:])
        formats = [c.number_format for c in cells[1:]]
        assert formats == ["#,##0", "0.0%", "#,##0.00", "0.0%", "0.0%", "#,##0.00"]
    total = [c.value for c in list(ws.iter_rows(min_row=k + 2, max_row=k + 2))[0]]
    assert total[0] == t("strategy.total", language)
    assert total[1] == ts["customers"].sum()
    assert total[3] == pytest.approx(ts["revenue"].sum(), rel=1e-12)
    assert total[6] == pytest.approx(100_000, abs=0.01)


def test_summary_says_what_each_sheet_holds_and_which_report(book):
    language, a, _, wb = book
    ws = wb.worksheets[0]
    rows = _summary_rows(ws)
    first = [r[0] for r in rows]
    start = first.index(t("workbook.col_sheet", language))
    assert rows[start][1] == t("workbook.col_sheet_holds", language)
    listed = {}
    for r in rows[start + 1 :]:
        if r[0] is None:
            break
        listed[r[0]] = r[1]
    assert list(listed) == wb.sheetnames[1:]
    assert all(isinstance(v, str) and len(v) > 10 for v in listed.values())
    assert f"{len(a.tiers[a.tiers['tier'] == 'C']):,}" in listed["C"]
    n_left = int((a.migration.movers["movement"] == "left_top").sum())
    assert str(n_left) in listed[MOVERS[language][0]]
    if language == "zh":
        assert all(CJK.search(v) for v in listed.values())
    about = {r[0]: r[1] for r in rows[start + len(listed) + 2 :] if r[0] is not None}
    assert about[t("workbook.about_report", language)].startswith("Demo Retail Co.")
    assert about[t("workbook.about_as_of", language)] == dt.datetime.combine(a.as_of, dt.time())
    assert about[t("workbook.about_currency", language)] == "¥"
    # long texts sit where nothing is to their right, so they show in full
    for r in rows[start:]:
        assert all(v is None for v in r[2:])


# --------------------------------------------------------------------------- other cases


def test_same_demo_input_gives_the_same_bytes(demo, tmp_path):
    a, _ = demo
    digests = []
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        write_action_lists(
            a.tiers,
            a.recommendations,
            tmp_path / sub,
            language="zh",
            extra_sheets=migration_tables.movers_sheets(a.migration, language="zh"),
            client="Demo",
            as_of=a.as_of,
        )
        digests.append(hashlib.sha256((tmp_path / sub / WORKBOOK_NAME).read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_capped_movers_sheet_points_to_movers_csv(demo, tmp_path):
    a, _ = demo
    write_action_lists(
        a.tiers,
        a.recommendations,
        tmp_path,
        language="en",
        max_rows_per_sheet=10,
        extra_sheets=migration_tables.movers_sheets(a.migration, language="en"),
    )
    wb = openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)
    ws = wb["Moved up"]
    n = int((a.migration.movers["movement"] == "rose").sum())
    assert ws.max_row == 12 and ws.auto_filter.ref == "A1:M11"
    assert ws["A12"].value == f"… and {n - 10:,} more customers: see movers.csv"
    assert wb["A"].auto_filter.ref == "A1:M11"  # with the master's credit flag
    holds = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True)}
    assert holds["A"].startswith("The 10 most urgent of the 691 customers of tier A")
    assert "action_lists.csv" in holds["A"]


def test_summary_text_cells_are_formula_safe_and_its_name_is_reserved(tmp_path):
    tiers = tiers_table(labels=("=A", "Summary", "@C"))
    recs = recommend(tiers)
    extra = {"+Movers": pd.DataFrame({"customer_id": ["001"], "owner": [""]})}
    extra["+Movers"].attrs["description"] = "=HYPERLINK(1)"
    write_action_lists(
        tiers,
        recs,
        tmp_path,
        language="en",
        extra_sheets=extra,
        client="-Client",
        title="=Title",
    )
    wb = openpyxl.load_workbook(tmp_path / WORKBOOK_NAME)
    assert wb.sheetnames == ["Summary", "=A", "Summary (2)", "@C", "+Movers"]
    texts = [c for row in wb["Summary"].iter_rows() for c in row if isinstance(c.value, str)]
    values = {c.value for c in texts}
    assert {"'=A", "'@C", "Summary (2)", "'+Movers", "'=HYPERLINK(1)"} <= values
    assert "'-Client: =Title" in values
    assert all(c.data_type == "s" and not c.value.startswith(("=", "+", "-", "@")) for c in texts)
    # an extra table: known columns translated, owner wide, filter and panes as the tiers
    ws = wb["+Movers"]
    assert _header(ws) == ["Customer ID", "Owner"]
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:B2"
    assert ws.column_dimensions["B"].width >= 18
    assert wb["Summary"]["A2"].value == "'=A" and wb["Summary"]["B2"].value == 3


def test_the_workbook_catalogue_is_complete_and_zh_has_no_english():
    path = Path(action_lists.__file__).parents[1] / "text" / "workbook.yaml"
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert entries
    for key, value in entries.items():
        assert set(value) == {"en", "zh"}, key
        assert set(re.findall(r"{(\w+)}", value["en"])) == set(
            re.findall(r"{(\w+)}", value["zh"])
        ), key
        zh = re.sub(r"[\w.]+\.(csv|xlsx)|{\w+}", " ", value["zh"])
        assert not re.findall(r"[A-Za-z]{2,}", zh), (key, value["zh"])
