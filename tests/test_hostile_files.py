"""Hostile and odd files (issue 16): hidden sheets, merged id cells, Excel serial date
typos, a stray cell at XFD1048576, encrypted workbooks, a header line over 256 KB, and
net revenue below zero. Each ends in a clear ``DataError`` (what, where, how to fix;
exit 2 on the command line, no traceback) or in a correct reading.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tiering import cli
from tiering.analysis import pipeline
from tiering.data.io import load, read_table
from tiering.errors import DataError
from tiering.params import validate

from .test_bad_input import corpus

HEADER = ["customer_id", "order_date", "amount"]


def source(path: Path, **data):
    return validate({"data": {"path": str(path), **data}}).data


def workbook(
    path: Path,
    sheets: dict[str, list[list]],
    *,
    hidden=(),
    active: str | None = None,
    merge: dict[str, list[str]] | None = None,
) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        for ref in (merge or {}).get(name, []):
            ws.merge_cells(ref)
        if name in hidden:
            ws.sheet_state = "hidden"
    if active is not None:
        wb.active = wb.sheetnames.index(active)
    wb.save(path)
    return path


def rewrite(src: Path, dst: Path, member: str, pattern: bytes, repl: bytes) -> Path:
    """A copy of a workbook with one regex replacement in one of its XML parts."""
    import re
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            body = zin.read(item.filename)
            if item.filename == member:
                body, n = re.subn(pattern, repl, body)
                assert n == 1, (member, pattern)
            zout.writestr(item.filename, body)
    return dst


def orders(prefix: str, n: int = 6) -> list[list]:
    return [HEADER] + [[f"{prefix}{i}", f"2024-01-{i:02d}", 10 * i] for i in range(1, n + 1)]


def write_params(tmp_path: Path, data: str, **extra) -> Path:
    lines = ["client: Hostile", f"data: {{path: {data}}}", "stats: {n_boot: 100}"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    path = tmp_path / "p.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# --------------------------------------------------------------------------- 1 hidden sheets


def test_hidden_first_sheet_is_not_read_by_default(tmp_path):
    path = workbook(
        tmp_path / "b.xlsx",
        {"Old": orders("OLD"), "Orders": orders("C")},
        hidden=["Old"],
        active="Orders",
    )
    res = load(source(path))
    assert set(res.transactions["customer_id"]) == {f"C{i}" for i in range(1, 7)}
    assert res.source["sheet"] == "Orders"
    assert res.source["hidden_sheets"] == ["Old"]
    # data.sheet still reads any sheet, hidden or not
    old = load(source(path, sheet="Old"))
    assert set(old.transactions["customer_id"]) == {f"OLD{i}" for i in range(1, 7)}
    assert load(source(path, sheet=0)).source["sheet"] == "Old"


def test_the_active_sheet_is_read_when_visible_else_the_first_visible(tmp_path):
    three = {"Notes": [["Exported from ERP"]], "Orders": orders("C"), "Summary": [["total", 1]]}
    active = workbook(tmp_path / "a.xlsx", three, active="Orders")
    _, info = read_table(source(active))
    assert (info["sheet"], info["sheet_choice"]) == ("Orders", "active")
    # the active sheet hidden (a crafted file: Excel and openpyxl never save one): the
    # first visible sheet
    saved = workbook(
        tmp_path / "c.xlsx",
        {"Old": orders("OLD"), "Orders": orders("C")},
        hidden=["Old"],
        active="Orders",
    )
    crafted = rewrite(
        saved, tmp_path / "crafted.xlsx", "xl/workbook.xml", rb'activeTab="1"', b'activeTab="0"'
    )
    _, info = read_table(source(crafted))
    assert (info["sheet"], info["sheet_choice"]) == ("Orders", "first visible")


def test_validate_says_which_sheet_was_read_and_which_are_hidden(tmp_path, capsys):
    workbook(
        tmp_path / "b.xlsx",
        {"Old": orders("OLD"), "Orders": orders("C"), "Secret": [["x"]]},
        hidden=["Old", "Secret"],
        active="Orders",
    )
    code, out, _ = run_cli(["validate", str(write_params(tmp_path, "b.xlsx"))], capsys)
    assert code == 0
    assert "Sheet read: 'Orders' (the active sheet)" in out
    assert "Hidden sheets: 'Old', 'Secret' (not read; set data.sheet to read one)" in out


# --------------------------------------------------------------------------- 2 merged ids


def merged_ids_book(path: Path) -> Path:
    # a title row merged across the table (harmless), then ids written once per block
    rows = [
        ["Sales 2024"],
        HEADER,
        ["C1", "2024-01-05", 10],
        [None, "2024-01-06", 20],
        [None, "2024-01-07", 30],
        ["C2", "2024-01-08", 40],
        [None, "2024-01-09", 50],
        ["C3", "2024-01-10", 60],
    ]
    return workbook(path, {"Orders": rows}, merge={"Orders": ["A1:C1", "A3:A5", "A6:A7"]})


def test_merged_id_cells_are_refused_naming_sheet_column_and_rows(tmp_path):
    path = merged_ids_book(tmp_path / "m.xlsx")
    with pytest.raises(DataError) as err:
        load(source(path))
    e = err.value
    assert "Customer ids in column 'customer_id' are in merged cells" in e.message
    assert "2 merged blocks, 5 rows: A3:A5, A6:A7" in e.message
    assert e.where == "m.xlsx, sheet 'Orders', column 'customer_id' (A), rows 3-5 and others"
    assert "unmerge" in e.hint and "data.fill_merged_ids: true" in e.hint


def test_merged_id_cells_are_filled_only_when_asked(tmp_path):
    path = merged_ids_book(tmp_path / "m.xlsx")
    # data.fill_merged_ids is read with getattr, so that it works once params has it
    src = source(path).model_copy(update={"fill_merged_ids": True})
    res = load(src)
    tx = res.transactions
    assert tx["customer_id"].tolist() == ["C1", "C1", "C1", "C2", "C2", "C3"]
    assert tx["amount"].tolist() == [10, 20, 30, 40, 50, 60]
    assert res.rejected.empty and res.source["merged_cells_filled"] == 3


def test_merged_cells_elsewhere_are_not_refused(tmp_path):
    rows = [["Sales"], HEADER] + orders("C")[1:]
    path = workbook(tmp_path / "t.xlsx", {"S": rows}, merge={"S": ["A1:C1"]})
    assert len(load(source(path)).transactions) == 6


# --------------------------------------------------------------------------- 3 serial dates


def test_typo_among_fractional_excel_serials_is_a_rejected_row(tmp_path):
    # 452960.5 (a digit too many) is the year 3140; 4529600000.5 is no date at all
    text = (
        "customer_id,order_date,amount\n"
        "C1,45296.5,10\nC2,45297.25,20\nC3,452960.5,30\nC4,4529600000.5,40\nC5,45298.75,50\n"
    )
    path = tmp_path / "serial.csv"
    path.write_text(text, encoding="utf-8")
    res = load(source(path))
    assert res.transactions["order_date"].astype(str).tolist() == [
        "2024-01-05 12:00:00",
        "2024-01-06 06:00:00",
        "2024-01-07 18:00:00",
    ]
    rej = res.rejected.set_index("row")
    assert rej.loc[4, "reason"] in ("bad_date", "future_date")
    assert rej.loc[5, "reason"] == "bad_date"


# --------------------------------------------------------------------------- 4 huge extent

MEMORY_LIMIT = 1 << 30  # 1 GiB of address space: the refusal needs about 0.2


def far_cell_book(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    for row in orders("C"):
        ws.append(row)
    ws["XFD1048576"] = "x"
    wb.save(path)
    return path


def test_a_stray_cell_at_xfd1048576_is_refused_in_bounded_memory(tmp_path):
    path = far_cell_book(tmp_path / "far.xlsx")
    assert path.stat().st_size < 10_000
    params_path = write_params(tmp_path, "far.xlsx")
    # in a child with limited memory: before the fix the read grows to billions of cells
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        from tiering import cli
        sys.exit(cli.main(["validate", {str(params_path)!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "has a value in cell XFD1048576" in proc.stderr
    assert "1,048,576 rows x 16,384 columns" in proc.stderr
    assert "where: far.xlsx, sheet 'Orders', cell XFD1048576" in proc.stderr
    assert "Ctrl+End" in proc.stderr


def test_a_huge_declared_dimension_is_ignored(tmp_path):
    plain = workbook(tmp_path / "plain.xlsx", {"Orders": orders("C")})
    path = rewrite(
        plain,
        tmp_path / "dim.xlsx",
        "xl/worksheets/sheet1.xml",
        rb'<dimension ref="[^"]*"\s*/>',
        b'<dimension ref="A1:XFD1048576"/>',
    )
    grid, _ = read_table(source(path))
    assert grid.shape == (7, 3)
    assert len(load(source(path)).transactions) == 6


# --------------------------------------------------------------------------- 5 encrypted


ole2 = corpus.ole2  # the corpus script's builder (tests/data/make_bad_corpus.py)


def test_password_protected_workbook_says_it_is_encrypted(tmp_path):
    path = tmp_path / "locked.xlsx"
    path.write_bytes(ole2(["EncryptionInfo", "EncryptedPackage"]))
    with pytest.raises(DataError) as err:
        load(source(path))
    assert "locked.xlsx is password-protected (encrypted)" in err.value.message
    assert err.value.where == str(path)
    assert "remove the password" in err.value.hint and "CSV" in err.value.hint


def test_an_old_xls_with_an_xlsx_name_says_so(tmp_path):
    path = tmp_path / "old.xlsx"
    path.write_bytes(ole2(["Workbook"]))
    with pytest.raises(DataError) as err:
        load(source(path))
    assert "old.xlsx is an old Excel .xls workbook" in err.value.message
    assert "save it as .xlsx" in err.value.hint


def test_encrypted_workbook_on_the_command_line(tmp_path, capsys):
    (tmp_path / "locked.xlsx").write_bytes(ole2(["EncryptionInfo", "EncryptedPackage"]))
    code, _, err = run_cli(["validate", str(write_params(tmp_path, "locked.xlsx"))], capsys)
    assert code == 2
    assert "password-protected (encrypted)" in err


# --------------------------------------------------------------------------- 6 long header


def wide_csv(path: Path, *, before: int, after: int) -> Path:
    # long names keep the column count small (DuckDB is slow with thousands of columns)
    names = [f"extra_column_{i:04d}_" + "x" * 180 for i in range(before + after)]
    header = names[:before] + HEADER + names[before:]
    lines = [",".join(header)]
    for i in range(1, 6):
        lines.append(
            ",".join(["x"] * before + [f"C{i}", f"2024-01-{i:02d}", str(10 * i)] + ["y"] * after)
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(lines[0]) > 256 * 1024
    return path


@pytest.mark.parametrize("before, after", [(0, 1500), (750, 750), (1500, 0)])
def test_header_line_over_256_kb_is_read(tmp_path, before, after):
    path = wide_csv(tmp_path / "wide.csv", before=before, after=after)
    res = load(source(path))
    assert res.source["columns"] == {
        "customer_id": "customer_id",
        "order_date": "order_date",
        "amount": "amount",
    }
    assert res.transactions["customer_id"].tolist() == [f"C{i}" for i in range(1, 6)]
    assert res.transactions["amount"].tolist() == [10, 20, 30, 40, 50]


def test_header_line_over_256_kb_on_the_duckdb_engine(tmp_path):
    from tiering.data.engines import EngineSpec, compute_features

    path = wide_csv(tmp_path / "wide.csv", before=0, after=1500)
    res = compute_features(
        source(path),
        spec=EngineSpec(engine="duckdb", threads=1),
        rejected_path=tmp_path / "rejected.csv",
    )
    assert sorted(res.features["customer_id"]) == [f"C{i}" for i in range(1, 6)]
    assert res.features["monetary"].sum() == 150


# --------------------------------------------------------------------------- 7 net revenue


NEGATIVE = (
    "customer_id,order_date,amount\n"
    "C1,2024-01-05,100\nC1,2024-02-05,-300\nC2,2024-01-06,50\nC2,2024-03-06,-120\n"
    "C3,2024-01-07,20\nC3,2024-04-07,10\nC4,2024-01-08,30\nC5,2024-01-09,-80\n"
    "C5,2024-01-03,10\nC6,2024-02-09,5\n"
)


def test_net_revenue_below_zero_is_a_data_error_before_the_report(tmp_path):
    (tmp_path / "neg.csv").write_text(NEGATIVE, encoding="utf-8")
    params = validate(
        {"client": "Neg", "data": {"path": "neg.csv"}, "stats": {"n_boot": 100}}, base_dir=tmp_path
    )
    with pytest.raises(DataError) as err:
        pipeline.run(params)
    e = err.value
    assert e.message.startswith(
        "Net revenue is -275.00: the returns and cancellations (500.00) "
        "outweigh the purchases of all 6 customers"
    )
    assert e.where == "neg.csv, column 'amount', 10 rows used to 2024-04-08"
    assert "sign of the amounts" in e.hint and "data.cancellations" in e.hint


def test_net_revenue_below_zero_exits_2_on_the_command_line(tmp_path, capsys):
    (tmp_path / "neg.csv").write_text(NEGATIVE, encoding="utf-8")
    code, _, err = run_cli(
        ["report", str(write_params(tmp_path, "neg.csv")), "--output", str(tmp_path / "out")],
        capsys,
    )
    assert code == 2
    assert "Net revenue is -275.00" in err
    assert not (tmp_path / "out" / "report.ipynb").exists()
