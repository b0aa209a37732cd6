"""The corpus of bad and hostile inputs: what each case is, how its file is made, what
must happen, and a runner that says what does happen.

    python tests/data/make_bad_corpus.py          # write the files into tests/data/bad/
    python tests/data/make_bad_corpus.py --docs   # also run every case and write
                                                  # docs/bad_input.md (case, file,
                                                  # expected and actual outcome)

Every case ends either in a clear error (a ``TieringError`` saying what, where and how
to fix) or in an analysis in which every row read is used or rejected with a reason.
The files are small and written deterministically (fixed contents; workbooks with
fixed timestamps). Cases whose input is large (a 10 MB cell, an oversized parameter
file) have no committed file: ``build`` makes it at run time.

``tests/test_bad_input.py`` runs every case (``run_case``), checks its outcome against
``expect``, and checks that the committed files and ``docs/bad_input.md`` are current.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import re
import struct
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad"
ROOT = HERE.parents[1]
DOCS = ROOT / "docs" / "bad_input.md"

# Faster statistics for the corpus (the numbers are not what is tested here).
RUN_PARAMS = {"stats": {"n_boot": 100}}
TEN_MB = 10 * 1024 * 1024
FIXED_TIME = (2024, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Case:
    """One bad input.

    ``file``: the input under ``bad/`` (a data file, or a ``.yaml`` parameter file for
    ``kind="params"``). ``data``/``params``: extra parameters for data cases.
    ``expect``: ``"error"`` or ``"report"``; ``match`` (regex) and ``where`` (text) that
    the error's message and location must contain; ``rows`` the expected
    ``(read, used, {reason: rejected rows})`` of a report; ``customers`` its number of
    customers. ``outcome``: the expected outcome in words, for the docs table.
    """

    name: str
    title: str
    file: str
    outcome: str
    expect: str = "report"
    kind: str = "data"
    data: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    match: str | None = None
    where: str | None = None
    error: str = "TieringError"
    rows: tuple | None = None
    customers: int | None = None
    build: Callable[[Path], None] | None = None  # makes the file at run time


# --------------------------------------------------------------------------- writers


def _csv(text: str, encoding: str = "utf-8", newline: str = "\n") -> bytes:
    return text.replace("\n", newline).encode(encoding)


def _xlsx(sheets: dict[str, list[list]], *, hidden=(), active=None, merge=None, far=None) -> bytes:
    """A workbook with fixed timestamps, so that the bytes are reproducible; optionally
    hidden sheets, an active sheet, merged ranges ({sheet: [ref, ...]}) or a value in a
    far cell ((sheet, ref, value))."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for i, row in enumerate(rows, start=1):
            for j, value in enumerate(row, start=1):
                if value is not None:
                    ws.cell(row=i, column=j, value=value)
        for ref in (merge or {}).get(name, ()):
            ws.merge_cells(ref)
        if name in hidden:
            ws.sheet_state = "hidden"
        if far and far[0] == name:
            ws[far[1]] = far[2]
    if active is not None:
        wb.active = wb.sheetnames.index(active)
    fixed = dt.datetime(*FIXED_TIME)
    wb.properties.created = fixed
    wb.properties.creator = "make_bad_corpus"
    raw = io.BytesIO()
    wb.save(raw)
    return _fix_zip(raw.getvalue())


def ole2(names: list[str]) -> bytes:
    """A minimal OLE2 compound file (one FAT sector, one directory sector) whose
    directory holds streams of these names: what Excel's password-protected .xlsx is."""
    free, end, fat_sect = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, 1, 1, 0, 4096, end, 0, end, 0)
    struct.pack_into("<I", header, 76, 0)  # DIFAT[0]: the FAT is sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, free)
    fat = struct.pack("<II", fat_sect, end) + struct.pack("<I", free) * 126
    entries = b""
    for i, (name, kind) in enumerate([("Root Entry", 5)] + [(n, 2) for n in names]):
        raw = name.encode("utf-16-le") + b"\x00\x00"
        entry = bytearray(128)
        entry[0 : len(raw)] = raw
        struct.pack_into("<HBB", entry, 64, len(raw), kind, 1)
        sibling = i + 1 if 0 < i < len(names) else free
        struct.pack_into("<III", entry, 68, free, sibling, 1 if i == 0 and names else free)
        struct.pack_into("<IQ", entry, 116, end, 0)
        entries += bytes(entry)
    directory = entries + bytes(512 - len(entries))
    return bytes(header) + fat + directory


def _fix_zip(data: bytes) -> bytes:
    stamp = "2024-01-01T00:00:00Z"
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    body,
                )
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, body)
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _parquet(path: Path) -> None:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "CustomerID": [17850.0, np.nan, 13047.0, 17850.0, 12583.0, 14000.0],
            "InvoiceDate": pd.to_datetime(
                [
                    "2024-01-05 08:26",
                    "2024-01-05 09:00",
                    "2024-01-06 10:00",
                    "2024-01-07 11:00",
                    "2024-01-08 12:00",
                    "2024-01-09 13:00",
                ]
            ).tz_localize("Asia/Shanghai"),
            "InvoiceNo": ["536365", "536366", "C536367", "536368", "536369", "536370"],
            "Amount": ["15.30", "2.50", "7.25", "1,000.00", "abc", "99"],
            "Country": pd.Categorical(
                ["United Kingdom", "France", "France", "United Kingdom", "France", "Germany"]
            ),
        }
    )
    frame.to_parquet(path, index=False)


# A 1x1 PNG: a real image, given a .csv name.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

# --------------------------------------------------------------------------- file contents

H = "customer_id,order_date,amount\n"
CHINESE = (
    "客户编号,客户名称,订单日期,实付金额,订单号\n"
    '00123,张三,2024年1月5日,"￥1,234.50",2024010501\n'
    "00456,李四,2024/1/6,￥88,2024010601\n"
    "00123,张三,2024-02-01 10:30,￥12.5,2024020101\n"
    "00789,王五,2024-02-03,-￥20,2024020301\n"
    "00999,赵六,2024-02-04,待定,2024020401\n"
)


def _rows(n: int, start: int = 1, amount=None) -> str:
    return "".join(
        f"C{i:03d},2024-{1 + i % 12:02d}-{1 + i % 28:02d},"
        f"{amount if amount is not None else 10 * i + 5}\n"
        for i in range(start, start + n)
    )


def _files() -> dict[str, bytes | Callable[[Path], None]]:
    """File name -> contents (bytes) or a writer (for Parquet)."""
    several_sheets = _xlsx(
        {
            "说明": [["本文件由ERP系统导出"], ["请勿修改表头"]],
            "Orders": [
                ["客户编号", "订单日期", "实付金额", "订单号"],
                ["00123", dt.datetime(2024, 1, 5, 10, 30), 1234.5, "A1"],
                [17850, 45296, "￥1,234.50", 9001],
                ["C9", dt.date(2024, 1, 7), 12, "A3"],
                ["C9", "2024-01-09", 30, "A4"],
            ],
            "Summary": [["Region", "Revenue"], ["East", 1000], ["West", 2000]],
        }
    )
    title_xlsx = _xlsx(
        {
            "明细": [
                ["客户消费明细 2024"],
                ["导出时间：2024-03-01"],
                [],
                ["客户编号", "订单日期", "实付金额", "订单号"],
                ["00123", dt.datetime(2024, 1, 5), 10, "A1"],
                [None, None, None, None],
                ["00456", "2024-01-06", "bad", "A2"],
                ["00456", 45300, 25.5, "A3"],
                ["00789", "2024/1/10", 30, "A4"],
            ]
        }
    )
    formula_xlsx = _xlsx(
        {
            "Sheet1": [
                ["customer_id", "order_date", "quantity", "unit_price", "amount"],
                ["1", "2024-01-05", 2, 5, "=C2*D2"],
                ["2", "2024-01-06", 3, 4, 12],
                ["3", "2024-01-07", 1, 30, 30],
                ["4", "2024-01-08", 1, 45, 45],
            ]
        }
    )
    workbook_as_csv = _xlsx(
        {"Sheet1": [["customer_id", "order_date", "amount"], ["1", "2024-01-05", 10]]}
    )
    long_name = "Long name " + "x" * 5000
    long_id = "ID" + "9" * 300

    # --- excel and file-level hardening (issue 16)

    head16 = ["customer_id", "order_date", "amount"]
    orders16 = [head16] + [[f"C{i}", f"2024-01-{i:02d}", 10 * i] for i in range(1, 7)]
    issue16 = {
        "hidden_first_sheet.xlsx": _xlsx(
            {
                "Old": [head16, ["OLD1", "2023-01-05", 5], ["OLD2", "2023-01-06", 7]],
                "Orders": orders16,
            },
            hidden=["Old"],
            active="Orders",
        ),
        "merged_ids.xlsx": _xlsx(
            {
                "Orders": [
                    ["Sales 2024"],
                    head16,
                    ["C1", "2024-01-05", 10],
                    [None, "2024-01-06", 20],
                    [None, "2024-01-07", 30],
                    ["C2", "2024-01-08", 40],
                    [None, "2024-01-09", 50],
                    ["C3", "2024-01-10", 60],
                ]
            },
            merge={"Orders": ["A1:C1", "A3:A5", "A6:A7"]},
        ),
        "serial_date_typo.csv": _csv(
            H + "C1,45296.5,10\nC2,45297.25,20\nC3,452960.5,30\n"
            "C4,4529600000.5,40\nC5,45298.75,50\n"
        ),
        "far_cell.xlsx": _xlsx({"Orders": orders16}, far=("Orders", "XFD1048576", "x")),
        "encrypted.xlsx": ole2(["EncryptionInfo", "EncryptedPackage"]),
        "negative_net_revenue.csv": _csv(
            H + "C1,2024-01-05,100\nC1,2024-02-05,-300\nC2,2024-01-06,50\nC2,2024-03-06,-120\n"
            "C3,2024-01-07,20\nC3,2024-04-07,10\nC4,2024-01-08,30\nC5,2024-01-09,-80\n"
            "C5,2024-01-03,10\nC6,2024-02-09,5\n"
        ),
    }

    # --- reader conventions (issue 16)
    def dup_columns16(path: Path) -> None:
        """Parquet with two columns named 'amount' (pandas cannot select one of them)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(
            pa.table(
                [
                    pa.array(["C1", "C2", "C3"]),
                    pa.array(["2024-01-05", "2024-01-06", "2024-01-07"]),
                    pa.array([10.0, 20.0, 30.0]),
                    pa.array([11.0, 21.0, 31.0]),
                ],
                names=["customer_id", "order_date", "amount", "amount"],
            ),
            path,
        )

    reader16 = {
        "dot_thousands.csv": _csv(
            H + "C1,2024-01-05,250.000\nC2,2024-01-06,12.500\n"
            "C3,2024-01-07,1.500.000\nC4,2024-01-08,3.000\n"
            "C5,2024-01-09,40.000\n"
        ),
        "dot_ambiguous.csv": _csv(
            H + "C1,2024-01-05,250.000\nC2,2024-01-06,12.500\nC3,2024-01-07,40\n"
        ),
        "us_hyphen_dates.csv": _csv(
            H + "C1,01-05-2024,10\nC2,02-07-2024,20\nC3,03-09-2024,30\nC4,04-11-2024,40\n"
        ),
        "contradicting_dates.csv": _csv(
            H + "C1,05/01/2024,10\nC2,13/01/2024,20\nC3,01/13/2024,30\n"
        ),
        "bare_year_dates.csv": _csv(
            H + "C1,2024,10\nC2,2024-03,20\nC3,2024-01-05,30\nC4,2024-01-06,40\nC5,2024-01-07,50\n"
        ),
        "scientific_ids.csv": _csv(
            H + "1E+11,2024-01-05,10\n1.23457E11,2024-01-06,20\n"
            "1.2E+11,2024-01-07,30\n1.23457e+11,2024-01-08,40\n"
            "123456789012,2024-01-09,50\n123456789013,2024-01-10,60\n"
            "123456789014,2024-01-11,70\n"
        ),
        "am_pm_dates.csv": _csv(
            "客户编号,下单时间,实付金额\n"
            "C1,2024/1/5 下午 3:05:00,10\nC2,2024/1/5 上午 10:05,20\n"
            "C3,2024-01-05 下午3:05,30\nC4,2024/1/6 上午 12:05,40\n"
            "C5,2024/1/8 上午 13:05,50\n"
        ),
        "duplicate_columns.pq": dup_columns16,  # .pq: bytes compared (pandas cannot read it)
    }
    return {
        # ---- empty and structural
        "empty.csv": b"",
        "header_only.csv": _csv(H, newline="\r\n"),
        "blank_lines_only.csv": b"\r\n\r\n ,  ,\r\n\t\r\n",
        "semicolon_german.csv": _csv(
            "Kundennummer;Rechnungsdatum;Betrag;Rechnungsnummer\n"
            "K-001;05.01.2024;1.234,50;R1\n"
            "K-002;06.01.2024;12,50;R2\n"
            "K-001;07.02.2024;(3,00);R3\n"
            "K-003;08.02.2024;99,00;R4\n"
        ),
        "tab_delimited.csv": _csv(
            "Customer ID\tOrder Date\tAmount\tOrder No.\n"
            "1\t2024-01-05\t1,234.50\tX1\n"
            "2\t2024-01-06\t20\tX2\n"
            "1\t2024-01-07\t5.25\tX3\n"
            "3\t2024-01-08\t7\tX4\n"
        ),
        "pipe_delimited.txt": _csv(
            "customer_id|order_date|amount\n1|2024-01-05|10\n2|2024-01-06|20.5\n3|2024-01-07|30\n"
        ),
        "gbk_chinese.csv": _csv(CHINESE, "gbk"),
        "utf16_unicode_text.txt": _csv(
            CHINESE.replace(",", "\t").replace('"￥1\t234.50"', "￥1,234.50"),
            "utf-16",
            newline="\r\n",
        ),
        "utf16le_no_bom.txt": _csv(
            (
                "customer_id\torder_date\tamount\n1\t2024-01-05\t10\n"
                "2\t2024-01-06\t20\n3\t2024-01-07\t30\n"
            ),
            "utf-16-le",
        ),
        "utf8_bom.csv": _csv(
            H + "1,2024-01-05,10\n2,2024-01-06,20\n3,2024-01-07,30\n", "utf-8-sig"
        ),
        "cp1252_names.csv": _csv(
            "customer_id,customer_name,order_date,amount\n"
            "1,Müller GmbH,2024-01-05,10\n"
            "2,José Pérez,2024-01-06,20\n"
            "3,Ångström Café – Straße,2024-01-07,30\n",
            "cp1252",
        ),
        "xlsx_named_csv.csv": workbook_as_csv,
        "gzip_named_csv.csv": _gzip(
            _csv(H + "1,2024-01-05,10\n2,2024-01-06,20\n3,2024-01-07,30\n")
        ),
        "png_named_csv.csv": _PNG,
        "csv_named_xlsx.xlsx": _csv(H + "1,2024-01-05,10\n"),
        "truncated.csv.gz": _gzip(_csv(H + _rows(50)))[:60],
        "old_excel.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        "ragged_row.csv": _csv(H + "1,2024-01-05,10\n2,2024-01-06,20\n3,2024-01-07,1,234.50\n"),
        "unbalanced_quote.csv": _csv(
            "customer_id,customer_name,order_date,amount\n"
            "1,Acme,2024-01-05,10\n"
            '2,"Smith & Sons,2024-01-06,20\n'
            "3,Jones,2024-01-07,30\n"
        ),
        "duplicate_header_mapped.csv": _csv(
            "customer_id,order_date,amount,amount\n1,2024-01-05,10,11\n"
        ),
        "duplicate_header_unmapped.csv": _csv(
            "customer_id,order_date,amount,note,note\n"
            "1,2024-01-05,10,first,second\n"
            "2,2024-01-06,oops,third,fourth\n"
            "3,2024-01-07,30,,\n"
            "4,2024-01-08,40,x,y\n"
        ),
        "missing_column.csv": _csv("customer_id,Purchase Dt,amount,Region\n1,2024-01-05,3,North\n"),
        "misspelt_column.csv": _csv("CustomerID,InvoiceDate,Sales\n1,2024-01-05,3\n"),
        "title_rows.csv": _csv(
            "Sales report 2024\n"
            "Exported by ERP on 2024-03-01,,,\n"
            "\n"
            "customer_id,order_date,amount,order_id\n"
            "00123,2024-01-05,10,A1\n"
            "\n"
            "00456,2024-01-06,20,A2\n"
            "00789,2024-01-07,30,A3\n"
        ),
        "title_rows.xlsx": title_xlsx,
        "several_sheets.xlsx": several_sheets,
        "parquet_types.parquet": _parquet,
        "xlsx_formula_no_cache.xlsx": formula_xlsx,
        # ---- values
        "mixed_dates.csv": _csv(
            H
            + "".join(
                f"{i},{d},{10 * i}\n"
                for i, d in enumerate(
                    [
                        "2024/1/5",
                        "05.01.2024",
                        "45296",
                        "2024-01-05T10:30:00+08:00",
                        "2024-01-05 10:30:00 -0500",
                        "2024年1月5日",
                        "5 Jan 2024",
                        "20240105",
                        "2024-01-05 10:30:00 UTC",
                        "05-JAN-24",
                    ],
                    start=1,
                )
            )
        ),
        "dayfirst_slashes.csv": _csv(H + "1,05/01/2024,10\n2,13/01/2024,20\n3,28/02/2024,30\n"),
        "amounts_as_text.csv": _csv(
            H
            + "".join(
                f"{i},2024-01-05,{a}\n"
                for i, a in enumerate(
                    [
                        '"¥1,234.50"',
                        '"$1,234.50"',
                        '"￥１，２３４.５０"',
                        "RMB 99",
                        "12元",
                        "(12.00)",
                        '"USD 1,000"',
                        " 42 ",
                        '"1.234,50 €"',
                        "12.00-",
                    ],
                    start=1,
                )
            )
        ),
        "negative_zero_amounts.csv": _csv(
            "customer_id,order_date,order_id,amount\n"
            "1,2024-01-05,A1,100\n"
            "1,2024-01-06,A2,-30\n"
            "2,2024-01-07,A3,0\n"
            "2,2024-01-07,A4,0.00\n"
            "2,2024-01-08,A5,-0\n"
            "3,2024-01-09,A6,-50\n"
            "2,2024-01-10,A7,25\n"
        ),
        "blank_cells.csv": _csv(
            "customer_id,customer_name,order_date,amount,region\n"
            "1,Alice,2024-01-05,10,North\n"
            ",Bob,2024-01-05,10,North\n"
            "2,,2024-01-06,20,\n"
            "3,Carol,,30,South\n"
            "4,Dan,2024-01-07,,South\n"
            " , , , , \n"
            "5,Eve,2024-01-08,40,East\n"
        ),
        "excel_error_values.csv": _csv(
            H + "#REF!,2024-01-05,10\n#N/A,2024-01-06,10\n"
            "3,#VALUE!,10\n4,2024-01-07,#DIV/0!\n5,2024-01-08,10\n"
            "6,2024-01-09,20\n7,2024-01-10,30\n"
        ),
        "duplicate_rows.csv": _csv(
            "customer_id,order_date,order_id,amount\n"
            "1,2024-01-05,A1,10\n"
            "1,2024-01-05,A1,10\n"
            "1,2024-01-05,A1,11\n"
            "1,2024-01-05,A1,10\n"
            "2,2024-01-06,A2,5\n"
            "3,2024-01-07,A3,7\n"
        ),
        "dates_after_as_of.csv": _csv(
            H + "1,2024-05-31 23:59:59,10\n2,2024-06-01,20\n"
            "3,2024-12-31,30\n1,2024-01-15,5\n2,2024-02-01,7\n"
            "3,2024-03-01,9\n"
        ),
        "dates_before_1900.csv": _csv(
            H + "1,1899-12-31,10\n2,1850-06-01,20\n3,0001-01-01,30\n"
            "4,2024-01-05,40\n5,2024-01-06,50\n6,2024-01-07,60\n"
        ),
        "future_dates.csv": _csv(
            H + "1,2024-01-05,10\n2,2204-01-05,20\n3,9999-12-31,30\n"
            "4,2024-02-05,40\n5,2024-02-06,50\n"
        ),
        "huge_values.csv": _csv(
            H + "1,2024-01-05,1e300\n2,2024-01-05,9.99e15\n"
            "3,2024-01-05,99999999999999999999\n"
            f"4,2024-01-05,{'9' * 400}\n5,2024-01-05,1000000000000\n"
            "6,2024-01-05,-1e14\n7,2024-01-06,12.5\n8,2024-01-07,30\n"
        ),
        "quantity_price_overflow.csv": _csv(
            "customer_id,order_date,quantity,unit_price\n"
            "1,2024-01-05,1e200,1e200\n2,2024-01-05,10000000,10000000\n3,2024-01-06,3,2.5\n"
            "4,2024-01-07,2,20\n5,2024-01-08,1,99.9\n"
        ),
        "leading_zero_ids.csv": _csv(
            H + "00123,2024-01-05,10\n0123,2024-01-06,20\n"
            "123,2024-01-07,30\n 00123 ,2024-01-08,40\n"
        ),
        "float_ids.csv": _csv(
            H + "17850.0,2024-01-05,10\n17850,2024-01-06,20\n"
            "17850.00,2024-01-07,30\n13047.0,2024-01-08,40\n"
            "12583,2024-01-09,50\n"
        ),
        "rounded_ids.csv": _csv(
            H + "1.23457E+11,2024-01-05,10\n1.23457E+11,2024-01-06,20\n"
            "123456789012,2024-01-07,30\n123456789013,2024-01-08,40\n"
            "123456789014,2024-01-09,50\n"
        ),
        "invisible_chars_ids.csv": _csv(
            H + "123,2024-01-05,10\n123\u200b,2024-01-06,20\n"
            "\ufeff123,2024-01-07,30\n１２３,2024-01-08,40\n"
            "\u00a0123\u00a0,2024-01-09,50\n456,2024-01-10,60\n"
            "789,2024-01-11,70\n"
        ),
        "emoji_long_strings.csv": _csv(
            "customer_id,customer_name,order_date,amount\n"
            "E1,🍜 Noodle Bar 😀,2024-01-05,10\n"
            "VIP-⭐-001,𠮷野家 (CJK extension B),2024-01-06,20\n"
            f"E3,{long_name},2024-01-07,30\n"
            "E4,مرحبا بالعالم,2024-01-08,40\n"
            f"{long_id},too long an id,2024-01-09,50\n"
            '"E5\n2",line break in the id,2024-01-10,60\n'
        ),
        "text_month_dates.csv": _csv(
            H + '1,5 Jan 2024,10\n2,"Jan 5, 2024",20\n'
            "3,05-JAN-24,30\n4,5-Jan-2024 08:26:00,40\n"
            "5,5 Janvier 2024,50\n"
        ),
        # ---- tiering
        "one_customer.csv": _csv(H + "1,2024-01-05,10\n1,2024-02-05,20\n1,2024-03-05,30\n"),
        "two_customers.csv": _csv(H + "1,2024-01-05,10\n2,2024-02-05,20\n"),
        "equal_spend.csv": _csv(H + _rows(12, amount=100)),
        "all_rejected.csv": _csv(H + "1,someday,10\n2,,20\n,2024-01-05,30\n"),
        "all_returns.csv": _csv(
            H + "".join(f"C{i},2024-01-{i:02d},-{i * 10}\n" for i in range(1, 11))
        ),
        # ---- hostile
        "markup_names.csv": _csv(
            "customer_id,customer_name,order_date,amount,<b onmouseover=alert(3)>Region</b>\n"
            + "".join(
                f"{i},{n},2024-{1 + i % 3:02d}-{5 + i:02d},{a},{r}\n"
                for i, (n, a, r) in enumerate(
                    [
                        ("<script>alert(1)</script>", 5000, "<i>North</i>"),
                        ("<img src=x onerror=alert(2)>", 1200, "East"),
                        ('"Quote" & <Co>', 800, "East"),
                        ("Normal Ltd", 400, "West"),
                        ("</td></tr></table><h1>owned</h1>", 150, "West"),
                        ("Plain", 90, "North"),
                        ("Small", 40, "<i>North</i>"),
                        ("Tiny", 20, "East"),
                    ],
                    start=1,
                )
            )
        ),
        "formula_injection.csv": _csv(
            "customer_id,customer_name,order_date,amount,region\n"
            '1,"=HYPERLINK(""http://evil.example"",""click"")",2024-01-05,5000,=1+1\n'
            "2,+cmd|' /C calc'!A0,2024-01-06,1200,East\n"
            "3,-2+3,2024-01-07,800,@SUM(1+1)\n"
            "4,@SUM(A1:A9),2024-01-08,400,West\n"
            '5,"\tTab start",2024-01-09,90,West\n'
            "=6,Formula id,2024-01-10,40,East\n"
        ),
        # ---- parameter files
        "params_alias_bomb.yaml": _csv(
            "client: Bomb\n"
            'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
            "data: {path: two_customers.csv}\n"
        ),
        "params_python_tag.yaml": _csv(
            'client: !!python/object/apply:os.system ["touch PWNED_python_tag"]\n'
            "data: {path: two_customers.csv}\n"
        ),
        "params_code_in_key.yaml": _csv(
            "client: Injected\n"
            "\"x = 1\\nimport os; os.system('touch PWNED_key')#\": 1\n"
            "data: {path: two_customers.csv}\n"
        ),
        "params_duplicate_key.yaml": _csv(
            "client: One\nclient: Two\ndata: {path: two_customers.csv}\n"
        ),
        "params_bad_values.yaml": _csv(
            "client: Bad values\n"
            "language: fr\n"
            "as_of: not a date\n"
            "data: {path: two_customers.csv, duplicate_rows: drop}\n"
            "tiering:\n"
            "  labels: [A, A, B]\n"
            "  abc: {cutoffs: [0.95, 0.8]}\n"
        ),
        "params_rule_injection.yaml": _csv(
            "client: Rules\n"
            "data: {path: markup_names.csv}\n"
            "tiering:\n"
            "  method: rules\n"
            "  rules:\n"
            "    conditions:\n"
            "      - A: \"__import__('os').system('touch PWNED_rule') == 0\"\n"
            '      - B: "().__class__.__bases__[0].__subclasses__()"\n'
        ),
        "playbook_trigger_injection.yaml": _csv(
            "# a client playbook whose trigger condition tries to run code\n"
            "triggers:\n"
            "  at_risk_vip:\n"
            "    when: \"__import__('os').system('touch PWNED_trigger') == 0\"\n"
        ),
        "params_output_escape.yaml": _csv(
            "client: Escape\ndata: {path: two_customers.csv}\noutput: {dir: ../../escaped-report}\n"
        ),
        # --- excel and file-level hardening (issue 16)
        **issue16,
        # --- params/init hardening (issue 16)
        "params_gbk.yaml": _csv(
            "client: 华东贸易\nstats: {n_boot: 100}\ndata: {path: markup_names.csv}\n", "gbk"
        ),
        "params_utf16.yaml": b"\xff\xfe"
        + _csv(
            "client: 华东贸易\nstats: {n_boot: 100}\ndata: {path: markup_names.csv}\n",
            "utf-16-le",
            newline="\r\n",
        ),
        "params_complex_key.yaml": _csv(
            "client: Complex\n? [region, tier]\n: 1\ndata: {path: markup_names.csv}\n"
        ),
        "params_unknown_encoding.yaml": _csv(
            "client: Encoding\ndata: {path: markup_names.csv, encoding: klingon}\n"
        ),
        "params_no_formats.yaml": _csv(
            "client: Formats\ndata: {path: markup_names.csv}\noutput: {formats: []}\n"
        ),
        "params_far_as_of.yaml": _csv(
            "client: Far\ndata: {path: markup_names.csv}\nas_of: 9999-12-31\n"
        ),
        "params_negative_seed.yaml": _csv(
            "client: Seed\ndata: {path: markup_names.csv}\nseed: -1\n"
        ),
        "params_inf_weights.yaml": _csv(
            "client: Weights\ndata: {path: markup_names.csv}\n"
            "tiering:\n  method: score\n  score:\n    criteria:\n"
            "      - {column: monetary, weight: .inf}\n"
            "      - {column: frequency, weight: .nan}\n"
        ),
        "params_reserved_attribute.yaml": _csv(
            "client: Reserved\ndata: {path: markup_names.csv, attributes: [tier, is_return]}\n"
        ),
        "params_hostile_labels.yaml": _csv(
            "client: Labels\nstats: {n_boot: 100}\ndata: {path: markup_names.csv}\n"
            "tiering: {labels: ['VIP/Top [1]', '$a^$', History]}\n"
        ),
        # --- reader conventions (issue 16)
        **reader16,
    }


# --------------------------------------------------------------------------- run-time inputs


def build_ten_mb_cell(folder: Path) -> None:
    """A 10 MB customer name (kept), a 10 MB amount (rejected) and a 10 MB customer id
    (rejected), in a CSV written at run time (never committed)."""
    big = "x" * TEN_MB
    text = (
        "customer_id,customer_name,order_date,amount\n"
        f'1,"{big}",2024-01-05,10\n'
        f'2,b,2024-01-06,"{big}"\n'
        f"{big},c,2024-01-07,30\n"
        "3,d,2024-01-08,40\n"
        "4,e,2024-01-09,50\n"
    )
    (folder / "ten_mb_cell.csv").write_text(text, encoding="utf-8")


def build_oversized_params(folder: Path) -> None:
    """A parameter file just over the size limit (a comment pads it)."""
    from tiering.params import MAX_PARAMS_BYTES

    pad = "# " + "x" * 78 + "\n"
    text = "client: Big\ndata: {path: two_customers.csv}\n" + pad * (
        MAX_PARAMS_BYTES // len(pad) + 1
    )
    (folder / "params_oversized.yaml").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- cases

NOTE_ERR = "clear error"


def _error(name, title, file, outcome, match, where=None, error="DataError", **kw) -> Case:
    return Case(
        name=name,
        title=title,
        file=file,
        outcome=outcome,
        expect="error",
        match=match,
        where=where,
        error=error,
        **kw,
    )


CASES: tuple[Case, ...] = (
    # ---- empty and structural
    _error(
        "empty_file",
        "Empty file (0 bytes)",
        "empty.csv",
        "error: the file is empty; export again",
        r"The file empty\.csv is empty",
        "empty.csv",
    ),
    _error(
        "header_only",
        "Header only, no data rows",
        "header_only.csv",
        "error: header but no data rows",
        r"has a header but no data rows",
        "header_only.csv",
    ),
    _error(
        "blank_lines_only",
        "Only blank lines and delimiters",
        "blank_lines_only.csv",
        "error: the file is empty",
        r"is empty",
        "blank_lines_only.csv",
    ),
    Case(
        "semicolon",
        "`;` delimiter, decimal commas, dd.mm.yyyy, German headers mapped in data.columns",
        "semicolon_german.csv",
        "report: 4 rows used; 1.234,50 = 1234.5; (3,00) is a return",
        data={
            "columns": {
                "customer_id": "Kundennummer",
                "order_date": "Rechnungsdatum",
                "amount": "Betrag",
                "order_id": "Rechnungsnummer",
            }
        },
        rows=(4, 4, {}),
        customers=3,
    ),
    Case(
        "tab_in_csv",
        "Tab delimiter in a .csv file, English synonyms",
        "tab_delimited.csv",
        "report: delimiter detected; 1,234.50 inside a tab file = 1234.5",
        rows=(4, 4, {}),
        customers=3,
    ),
    Case(
        "pipe",
        "`|` delimiter in a .txt file",
        "pipe_delimited.txt",
        "report: 3 rows used",
        rows=(3, 3, {}),
        customers=3,
    ),
    Case(
        "gbk",
        "GBK without declaration, Chinese headers and dates, ￥ amounts",
        "gbk_chinese.csv",
        "report: detected as GB18030; names 张三/李四/王五 intact; amount 待定 rejected",
        rows=(5, 4, {"bad_amount": 1}),
        customers=3,
    ),
    _error(
        "gbk_declared_utf8",
        "GBK file declared as data.encoding: utf-8",
        "gbk_chinese.csv",
        "error: not valid utf-8; set data.encoding",
        r"is not valid utf-8 text",
        "gbk_chinese.csv",
        data={"encoding": "utf-8"},
    ),
    Case(
        "utf16",
        'UTF-16 with BOM, tab-delimited, CRLF (Excel "Unicode text")',
        "utf16_unicode_text.txt",
        "report: same values as the GBK file",
        rows=(5, 4, {"bad_amount": 1}),
        customers=3,
    ),
    Case(
        "utf16_no_bom",
        "UTF-16-LE without BOM",
        "utf16le_no_bom.txt",
        "report: detected from the zero bytes",
        rows=(3, 3, {}),
        customers=3,
    ),
    Case(
        "utf8_bom",
        "UTF-8 with BOM",
        "utf8_bom.csv",
        "report: BOM not part of the first header",
        rows=(3, 3, {}),
        customers=3,
    ),
    Case(
        "cp1252",
        "Windows-1252 names (Müller, Ångström, en dash) with data.encoding",
        "cp1252_names.csv",
        "report: names read exactly",
        data={"encoding": "cp1252"},
        rows=(3, 3, {}),
        customers=3,
    ),
    _error(
        "xlsx_named_csv",
        "Excel workbook saved with a .csv name",
        "xlsx_named_csv.csv",
        "error: it is an Excel workbook; rename to .xlsx or set data.format",
        r"is an Excel workbook \(\.xlsx\) or another zip archive, not CSV text",
        "xlsx_named_csv.csv",
    ),
    Case(
        "gzip_named_csv",
        "gzip-compressed CSV without .gz",
        "gzip_named_csv.csv",
        "report: decompressed (recognised by its first bytes)",
        rows=(3, 3, {}),
        customers=3,
    ),
    _error(
        "png_named_csv",
        "A PNG image named .csv",
        "png_named_csv.csv",
        "error: it is a PNG image",
        r"is a PNG image, not CSV text",
        "png_named_csv.csv",
    ),
    _error(
        "csv_named_xlsx",
        "CSV text named .xlsx",
        "csv_named_xlsx.xlsx",
        "error: cannot be read as xlsx; save again as .xlsx",
        r"Could not read csv_named_xlsx\.xlsx as xlsx",
        "csv_named_xlsx.xlsx",
    ),
    _error(
        "truncated_gzip",
        "Truncated .csv.gz",
        "truncated.csv.gz",
        "error: cannot be read as csv",
        r"Could not read truncated\.csv\.gz as csv",
        "truncated.csv.gz",
    ),
    _error(
        "old_xls",
        "Old binary .xls workbook",
        "old_excel.xls",
        "error: save it as .xlsx",
        r"old Excel \.xls workbook",
        "old_excel.xls",
    ),
    _error(
        "ragged_row",
        "Unquoted delimiter in a value (row wider than the header)",
        "ragged_row.csv",
        "error: names row 4 and the delimiter",
        r"Row 4 of ragged_row\.csv has 4 fields but the header has 3",
        "row 4",
    ),
    _error(
        "unbalanced_quote",
        "A quote that is never closed",
        "unbalanced_quote.csv",
        "error: names line 3",
        r"opened on line 3 of unbalanced_quote\.csv is never closed",
        "line 3",
    ),
    _error(
        "duplicate_header_mapped",
        "Duplicate header name on a used column",
        "duplicate_header_mapped.csv",
        "error: 'amount' appears more than once",
        r"'amount' appears more than once",
        "header row 1",
    ),
    Case(
        "duplicate_header_unmapped",
        "Duplicate header name on an unused column",
        "duplicate_header_unmapped.csv",
        "report: columns kept as note and note_1",
        rows=(4, 3, {"bad_amount": 1}),
        customers=3,
    ),
    _error(
        "missing_column",
        "A required column missing",
        "missing_column.csv",
        "error: lists the columns found and suggests 'Purchase Dt'",
        r"(?s)Required column not recognised: order_date.*data\.columns\.order_date: "
        r"'Purchase Dt'.*columns found: 'customer_id', 'Purchase Dt', 'amount', 'Region'",
        "missing_column.csv, header row 1",
    ),
    _error(
        "misspelt_column_param",
        "data.columns names a header that is not there",
        "misspelt_column.csv",
        "error: did you mean 'CustomerID'",
        r"(?s)Column 'CustomerNo' \(data\.columns\.customer_id\) not found.*"
        r"did you mean 'CustomerID'",
        "header row 1",
        data={"columns": {"customer_id": "CustomerNo"}},
    ),
    _error(
        "wrong_delimiter_param",
        "data.delimiter set wrong (`,` for a `;` file)",
        "semicolon_german.csv",
        "error: suggests data.delimiter ';'",
        r"(?s)not recognised.*set data\.delimiter: ';'",
        "semicolon_german.csv",
        data={"delimiter": ","},
    ),
    Case(
        "title_rows_csv",
        "Title and blank lines above the header (CSV)",
        "title_rows.csv",
        "report: header found on line 4; title lines are not rows",
        rows=(3, 3, {}),
        customers=3,
    ),
    Case(
        "title_rows_xlsx",
        "Title rows above the header (Excel)",
        "title_rows.xlsx",
        "report: header on row 4; 'bad' amount rejected with its row number",
        rows=(4, 3, {"bad_amount": 1}),
        customers=3,
    ),
    Case(
        "sheet_by_name",
        "Several sheets, data.sheet: Orders",
        "several_sheets.xlsx",
        "report: the Orders sheet",
        data={"sheet": "Orders"},
        rows=(4, 4, {}),
        customers=3,
    ),
    _error(
        "sheet_default",
        "Several sheets, the first is a notes sheet",
        "several_sheets.xlsx",
        "error: columns not recognised on sheet 说明; names the other sheets",
        r"(?s)not recognised.*other sheets: 'Orders', 'Summary'",
        "sheet '说明'",
    ),
    _error(
        "sheet_misspelt",
        "data.sheet misspelt",
        "several_sheets.xlsx",
        "error: did you mean 'Orders'",
        r"(?s)Sheet 'orders 2024' not found.*did you mean "
        r"'Orders'",
        "data.sheet",
        data={"sheet": "orders 2024"},
    ),
    _error(
        "sheet_number",
        "data.sheet number out of range",
        "several_sheets.xlsx",
        "error: sheets are numbered from 0; lists them",
        r"Sheet number 5 does not exist",
        "data.sheet",
        data={"sheet": 5},
    ),
    Case(
        "parquet_types",
        "Parquet: float IDs with NaN, tz-aware dates, amounts as text, categorical",
        "parquet_types.parquet",
        "report: blank ID and 'abc' rejected",
        data={"cancellations": {"order_id_prefixes": ["C"]}, "attributes": ["Country"]},
        rows=(6, 4, {"missing_customer_id": 1, "bad_amount": 1}),
        customers=3,
    ),
    Case(
        "xlsx_formula_no_cache",
        "Excel formula cell without a saved value",
        "xlsx_formula_no_cache.xlsx",
        "report: the formula row is rejected as a blank amount "
        "(open and save the file in Excel to store values)",
        rows=(4, 3, {"bad_amount": 1}),
        customers=3,
    ),
    # ---- values
    Case(
        "mixed_dates",
        "Mixed date formats: 2024/1/5, 05.01.2024, Excel serial, ISO with "
        "time zones, 2024年1月5日, 5 Jan 2024, 05-JAN-24",
        "mixed_dates.csv",
        "report: all ten are 5 January 2024 (local wall-clock time kept)",
        rows=(10, 10, {}),
        customers=10,
    ),
    Case(
        "dayfirst",
        "dd/mm/yyyy column (13/01 proves day first)",
        "dayfirst_slashes.csv",
        "report: 05/01/2024 is 5 January",
        rows=(3, 3, {}),
        customers=3,
    ),
    Case(
        "amounts_text",
        "Amounts as text: ¥ $ ￥ RMB 元 USD €, thousands separators, "
        "(12.00), 12.00-, full-width digits",
        "amounts_as_text.csv",
        "report: every value parsed; (12.00) and 12.00- are returns",
        rows=(10, 10, {}),
        customers=10,
    ),
    Case(
        "negative_zero",
        "Negative and zero amounts",
        "negative_zero_amounts.csv",
        "report: zeros rejected (zero_amount); negatives are returns, netted",
        rows=(7, 4, {"zero_amount": 3}),
        customers=3,
    ),
    Case(
        "blank_cells",
        "Blank cells in ID, date, amount, name, attribute; a blank line",
        "blank_cells.csv",
        "report: blank ID/date/amount rejected; blank name/attribute kept",
        data={"attributes": ["region"]},
        rows=(6, 3, {"missing_customer_id": 1, "bad_date": 1, "bad_amount": 1}),
        customers=3,
    ),
    Case(
        "excel_errors",
        "Excel error values #REF! #N/A #VALUE! #DIV/0!",
        "excel_error_values.csv",
        "report: rows rejected with their reason",
        rows=(7, 3, {"missing_customer_id": 2, "bad_date": 1, "bad_amount": 1}),
        customers=3,
    ),
    Case(
        "duplicates_keep",
        "Exact duplicate rows, duplicate_rows: keep (default)",
        "duplicate_rows.csv",
        "report: 2 duplicates counted and shown, kept",
        rows=(6, 6, {}),
        customers=3,
    ),
    Case(
        "duplicates_reject",
        "Exact duplicate rows, duplicate_rows: reject",
        "duplicate_rows.csv",
        "report: 2 duplicates rejected (duplicate_row)",
        data={"duplicate_rows": "reject"},
        rows=(6, 4, {"duplicate_row": 2}),
        customers=3,
    ),
    Case(
        "after_as_of",
        "Dates on and after as_of",
        "dates_after_as_of.csv",
        "report: rows on/after as_of rejected (after_as_of)",
        params={"as_of": "2024-06-01"},
        rows=(6, 4, {"after_as_of": 2}),
        customers=3,
    ),
    Case(
        "before_1900",
        "Dates before 1900 (1899, 1850, year 1)",
        "dates_before_1900.csv",
        "report: rejected (implausible_date)",
        rows=(6, 3, {"implausible_date": 3}),
        customers=3,
    ),
    Case(
        "future_dates",
        "Dates in the future (2204 typo, 9999-12-31)",
        "future_dates.csv",
        "report: rejected (future_date, bad_date); as_of stays the day after the last real date",
        rows=(5, 3, {"future_date": 1, "bad_date": 1}),
        customers=3,
    ),
    Case(
        "huge_values",
        "Huge amounts (1e300, 9.99e15, 20 digits, 400 digits, -1e14)",
        "huge_values.csv",
        "report: ≥ 10 trillion rejected (implausible_amount); 400 digits "
        "is not a finite number (bad_amount); 1e12 kept",
        rows=(8, 3, {"implausible_amount": 4, "bad_amount": 1}),
        customers=3,
    ),
    Case(
        "qty_price_overflow",
        "quantity × unit_price overflows",
        "quantity_price_overflow.csv",
        "report: infinite and ≥ 10 trillion products rejected (implausible_amount)",
        rows=(5, 3, {"implausible_amount": 2}),
        customers=3,
    ),
    Case(
        "leading_zeros",
        "IDs with leading zeros (00123, 0123, 123)",
        "leading_zero_ids.csv",
        "report: three different customers; ' 00123 ' is 00123",
        rows=(4, 4, {}),
        customers=3,
    ),
    Case(
        "float_ids",
        "Float-formatted IDs (17850.0, 17850.00)",
        "float_ids.csv",
        "report: 17850.0 = 17850; three customers",
        rows=(5, 5, {}),
        customers=3,
    ),
    Case(
        "rounded_ids",
        "IDs Excel rounded to 1.23457E+11",
        "rounded_ids.csv",
        "report: rejected (rounded_customer_id): the digits are lost",
        rows=(5, 3, {"rounded_customer_id": 2}),
        customers=3,
    ),
    Case(
        "invisible_ids",
        "IDs with zero-width space, BOM, full-width digits, no-break spaces",
        "invisible_chars_ids.csv",
        "report: the first five rows are all customer 123",
        rows=(7, 7, {}),
        customers=3,
    ),
    Case(
        "emoji_long",
        "Emoji, CJK extension B, Arabic, a 5,000-character name, a "
        "302-character ID, a line break in an ID",
        "emoji_long_strings.csv",
        "report: names kept exactly; the long ID and the ID with a line break rejected "
        "(bad_customer_id)",
        rows=(6, 4, {"bad_customer_id": 2}),
        customers=4,
    ),
    Case(
        "text_months",
        "Month names: 5 Jan 2024, Jan 5, 2024, 05-JAN-24; French 'Janvier'",
        "text_month_dates.csv",
        "report: English month names parsed; 'Janvier' rejected (bad_date)",
        rows=(5, 4, {"bad_date": 1}),
        customers=4,
    ),
    Case(
        "ten_mb_cell",
        "A 10 MB cell in the name, the amount and the ID (made at test time)",
        "ten_mb_cell.csv",
        "report: 10 MB name kept; 10 MB amount (bad_amount) and ID (bad_customer_id) rejected",
        rows=(5, 3, {"bad_amount": 1, "bad_customer_id": 1}),
        customers=3,
        build=build_ten_mb_cell,
        # the rows are checked one by one on the in-memory path; tests/test_bad_input.py
        # reads the file on DuckDB too (where auto puts a file over 5 MiB)
        params={"engine": {"engine": "pandas"}},
    ),
    # ---- tiering
    _error(
        "one_customer",
        "One customer only",
        "one_customer.csv",
        "error: 1 customer for 3 tiers; give fewer labels or more data",
        r"only 1 customer\(s\) for 3 tiers",
        "tiering.labels",
        error="MethodError",
    ),
    _error(
        "fewer_customers_than_tiers",
        "Fewer customers than tiers (2 for A-E)",
        "two_customers.csv",
        "error: 2 customers for 5 tiers",
        r"only 2 customer\(s\) for 5 tiers",
        "tiering.labels",
        error="MethodError",
        params={
            "tiering": {
                "labels": ["A", "B", "C", "D", "E"],
                "abc": {"cutoffs": [0.5, 0.7, 0.9, 0.95]},
            }
        },
    ),
    Case(
        "two_customers_two_tiers",
        "Two customers, two tiers",
        "two_customers.csv",
        "report: one customer per tier",
        params={"tiering": {"labels": ["A", "B"], "abc": {"cutoffs": [0.5]}}},
        rows=(2, 2, {}),
        customers=2,
    ),
    _error(
        "equal_spend_abc",
        "All customers with equal spend (abc)",
        "equal_spend.csv",
        "error: abc cannot rank equal values; use another value or method: rules",
        r"all 12 customers have the same monetary",
        "tiering.abc.value",
        error="MethodError",
    ),
    Case(
        "equal_spend_rfm",
        "All customers with equal spend (rfm)",
        "equal_spend.csv",
        "report: every customer tiered once (by recency and frequency)",
        params={"tiering": {"method": "rfm"}},
        rows=(12, 12, {}),
        customers=12,
    ),
    _error(
        "all_rejected",
        "Every row rejected",
        "all_rejected.csv",
        "error: no usable transactions; lists the reasons",
        r"(?s)No usable transactions: all 3 rows were rejected.*bad_date",
        "all_rejected.csv",
        error="TieringError",
    ),
    _error(
        "all_returns",
        "Every amount negative (returns only)",
        "all_returns.csv",
        "error: no customer has a positive value",
        r"no customer has a positive monetary",
        "tiering.abc.value",
        error="MethodError",
    ),
    # ---- hostile
    Case(
        "markup",
        "Markup in customer names, a column name and values",
        "markup_names.csv",
        "report: data kept verbatim; escaped in HTML and PDF (see the report test)",
        data={"attributes": ["<b onmouseover=alert(3)>Region</b>"]},
        params={"client": "<script>alert('client')</script>"},
        rows=(8, 8, {}),
        customers=8,
    ),
    Case(
        "formula_injection",
        "Spreadsheet formulas in names, values and an ID",
        "formula_injection.csv",
        "report: data kept verbatim in the analysis (neutralised when written to spreadsheets)",
        data={"attributes": ["region"]},
        rows=(6, 6, {}),
        customers=6,
    ),
    _error(
        "trigger_injection",
        "Code in a playbook trigger condition (strategy.playbook)",
        "markup_names.csv",
        "error: the call is refused when the playbook is read; nothing runs",
        r"(?s)triggers\.at_risk_vip\.when.*function call is not allowed",
        "playbook_trigger_injection.yaml",
        params={"strategy": {"playbook": "playbook_trigger_injection.yaml"}},
        error="TieringError",
    ),
    _error(
        "alias_bomb",
        "YAML alias bomb (billion laughs)",
        "params_alias_bomb.yaml",
        "error: aliases are not allowed",
        r"aliases \(\*name\) are not allowed",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "python_tag",
        "YAML !!python/object/apply tag",
        "params_python_tag.yaml",
        "error: not valid YAML (safe loader); nothing runs",
        r"not valid YAML.*python/object/apply",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "code_in_key",
        "Python code in a parameter name",
        "params_code_in_key.yaml",
        "error: not a valid parameter name; nothing runs",
        r"not a valid parameter name",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "duplicate_key",
        "Duplicate key in the parameter file",
        "params_duplicate_key.yaml",
        "error: duplicate key 'client'",
        r"duplicate key 'client'",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "bad_values",
        "Several wrong parameter values at once",
        "params_bad_values.yaml",
        "error: every problem listed at once, with its key",
        r"(?s)(?=.*language)(?=.*as_of)(?=.*duplicate_rows)(?=.*labels)(?=.*cutoffs)",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "rule_injection",
        "Code in rule expressions (__import__, dunder attributes)",
        "params_rule_injection.yaml",
        "error: calls and attribute access refused when the parameters are read; nothing runs",
        r"(?s)tiering\.rules\.conditions\.0.*not allowed.*tiering\.rules\.conditions\.1.*"
        r"not allowed",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "oversized_params",
        "Parameter file over 256 KB (made at test time)",
        "params_oversized.yaml",
        "error: parameter files are limited in size",
        r"parameter files are limited to",
        kind="params",
        error="ParamsError",
        build=build_oversized_params,
    ),
    # --- excel and file-level hardening (issue 16)
    Case(
        "hidden_first_sheet",
        "Workbook whose first sheet is hidden (the visible one is active)",
        "hidden_first_sheet.xlsx",
        "report: the active visible sheet Orders is "
        "read, not the hidden first sheet; validate names the hidden sheet",
        rows=(6, 6, {}),
        customers=6,
    ),
    _error(
        "merged_ids",
        "Customer ids in merged cells (written once per block of rows)",
        "merged_ids.xlsx",
        "error: names the sheet, column and merged rows; unmerge, or "
        "set data.fill_merged_ids: true",
        r"Customer ids in column 'customer_id' are in merged cells \(2 merged blocks, "
        r"5 rows: A3:A5, A6:A7\)",
        "sheet 'Orders', column 'customer_id' (A), rows 3-5",
    ),
    Case(
        "serial_date_typo",
        "Fractional Excel serial dates with typos (452960.5, 4529600000.5)",
        "serial_date_typo.csv",
        "report: the two typos are rejected as bad dates (no OutOfBoundsTimedelta)",
        rows=(5, 3, {"bad_date": 2}),
        customers=3,
    ),
    _error(
        "far_cell",
        "5 KB workbook with a value in cell XFD1048576",
        "far_cell.xlsx",
        "error: the table would be 1,048,576 x 16,384 cells; refused in bounded memory",
        r"has a value in cell XFD1048576: the table would be 1,048,576 rows x 16,384 "
        r"columns",
        "far_cell.xlsx, sheet 'Orders', cell XFD1048576",
    ),
    _error(
        "encrypted_xlsx",
        "Password-protected (encrypted) workbook",
        "encrypted.xlsx",
        "error: says it is encrypted; save it without a password",
        r"encrypted\.xlsx is password-protected \(encrypted\)",
        "encrypted.xlsx",
    ),
    Case(
        "long_header",
        "Header line over 256 KB (made at test time)",
        "long_header.csv",
        "report: the whole header line is read",
        rows=(5, 5, {}),
        customers=5,
        build=lambda folder: (folder / "long_header.csv").write_text(
            ",".join(
                ["customer_id", "order_date", "amount"]
                + [f"note_{i:04d}_" + "x" * 180 for i in range(1500)]
            )
            + "\n"
            + "".join(f"C{i},2024-01-{i:02d},{10 * i}" + ",y" * 1500 + "\n" for i in range(1, 6)),
            encoding="utf-8",
        ),
    ),
    _error(
        "negative_net_revenue",
        "Net revenue below zero (returns outweigh purchases)",
        "negative_net_revenue.csv",
        "error before the notebook runs (exit 2): check the "
        "sign of the amounts, cancellations and the window",
        r"Net revenue is -275\.00: the returns and cancellations",
        "negative_net_revenue.csv",
    ),
    # --- params/init hardening (issue 16)
    Case(
        "params_gbk",
        "Parameter file saved as GBK (Chinese client name)",
        "params_gbk.yaml",
        "report: the file is read as GBK; the client name is exact",
        kind="params",
        rows=(8, 8, {}),
        customers=8,
    ),
    Case(
        "params_utf16",
        "Parameter file saved as UTF-16 with BOM, CRLF",
        "params_utf16.yaml",
        "report: the file is read as UTF-16",
        kind="params",
        rows=(8, 8, {}),
        customers=8,
    ),
    _error(
        "params_complex_key",
        "YAML complex key (`? [a, b]`) in the parameter file",
        "params_complex_key.yaml",
        "error: a list used as a parameter name, with its line",
        r"a list used as a parameter name \(a YAML complex key",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "params_unknown_encoding",
        "data.encoding: klingon",
        "params_unknown_encoding.yaml",
        "error: unknown text encoding; lists examples",
        r"data\.encoding: unknown text encoding 'klingon'.*gb18030",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "params_no_formats",
        "output.formats: []",
        "params_no_formats.yaml",
        "error: give html, pdf or both (the tables are always written)",
        r"output\.formats: give html, pdf or both",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "params_far_as_of",
        "as_of: 9999-12-31",
        "params_far_as_of.yaml",
        "error: as_of more than a year in the future",
        r"as_of: as_of 9999-12-31 is more than a year in the future",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "params_negative_seed",
        "seed: -1 (numpy refuses negative seeds)",
        "params_negative_seed.yaml",
        "error: the seed must be 0 to 4,294,967,295",
        r"seed: the seed must be a whole number from 0 to 4,294,967,295",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "params_inf_weights",
        "Score weights .inf and .nan",
        "params_inf_weights.yaml",
        "error: each weight must be a finite number",
        r"(?s)criteria\.0\.weight: Input should be a finite number.*"
        r"criteria\.1\.weight: Input should be a finite number",
        kind="params",
        error="ParamsError",
    ),
    _error(
        "params_reserved_attribute",
        "Attribute columns named like internal columns (tier, is_return)",
        "params_reserved_attribute.yaml",
        "error: names the attributes and the reserved names",
        r"data\.attributes: attribute column\(s\) 'tier', 'is_return' have the name of a "
        r"column the analysis computes itself.*Reserved names",
        kind="params",
        error="ParamsError",
    ),
    Case(
        "params_hostile_labels",
        "Tier labels Excel and matplotlib cannot take as they are "
        "(`VIP/Top [1]`, `$a^$`, `History`)",
        "params_hostile_labels.yaml",
        "report: labels kept exactly (cleaned, unique sheet names in the workbook; drawn "
        "literally in charts)",
        kind="params",
        rows=(8, 8, {}),
        customers=8,
    ),
    # --- reader conventions (issue 16)
    Case(
        "dot_thousands",
        "Whole amounts with dots between thousands (250.000, 12.500, 1.500.000)",
        "dot_thousands.csv",
        "report: 1.500.000 shows the column's dots are thousands: 250.000 = 250000, 12.500 = 12500",
        rows=(5, 5, {}),
        customers=5,
    ),
    _error(
        "dot_ambiguous",
        "Amounts 250.000 and 12.500 with no value telling thousands from decimals",
        "dot_ambiguous.csv",
        "error: shows the values and rows; set data.decimal",
        r"Amounts such as '250\.000' \(row 2\) and '12\.500' \(row 3\) in "
        r"column 'amount' read either as whole numbers",
        "column 'amount'",
    ),
    Case(
        "us_hyphen_dates",
        "US dates with hyphens (01-05-2024) and data.dayfirst: false",
        "us_hyphen_dates.csv",
        "report: 01-05-2024 is 5 January",
        data={"dayfirst": False},
        rows=(4, 4, {}),
        customers=4,
    ),
    _error(
        "contradicting_dates",
        "13/01/2024 and 01/13/2024 in one date column",
        "contradicting_dates.csv",
        "error: shows both values and rows; set data.dayfirst",
        r"written both day first \('13/01/2024' \(row 3\).*month first \('01/13/2024' "
        r"\(row 4\)",
        "column 'order_date', rows 3 and 4",
    ),
    Case(
        "bare_year_dates",
        "A year alone (2024) and a year and month (2024-03) as dates",
        "bare_year_dates.csv",
        "report: both rejected (partial_date), not read as 1 January",
        rows=(5, 3, {"partial_date": 2}),
        customers=3,
    ),
    Case(
        "scientific_ids",
        "IDs in scientific notation (1E+11, 1.23457E11, 1.2E+11, 1.23457e+11)",
        "scientific_ids.csv",
        "report: rejected (rounded_customer_id): the digits are lost",
        rows=(7, 3, {"rounded_customer_id": 4}),
        customers=3,
    ),
    Case(
        "am_pm_dates",
        "Chinese 上午/下午 timestamps (2024/1/5 下午 3:05:00, 上午 12:05)",
        "am_pm_dates.csv",
        "report: read on the 24-hour clock (上午 12:05 is 00:05); 上午 13:05 rejected (bad_date)",
        rows=(5, 4, {"bad_date": 1}),
        customers=4,
    ),
    _error(
        "duplicate_columns_parquet",
        "Parquet file with two columns named 'amount'",
        "duplicate_columns.pq",
        "error: 'amount' appears more than once (every engine)",
        r"'amount' appears more than once",
        "header row 1",
    ),
)

CASE_BY_NAME = {c.name: c for c in CASES}


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    """What happened: an error (type, message, where, hint) or an analysis."""

    kind: str  # "error" | "report" | "crash"
    error: str = ""
    message: str = ""  # the whole message: what, where and how to fix
    headline: str = ""  # what is wrong, without where and how to fix
    where: str = ""
    hint: str = ""
    read: int = 0
    used: int = 0
    rejected: dict = field(default_factory=dict)
    customers: int = 0
    tiers: dict = field(default_factory=dict)
    tiered_once: bool = False  # every customer has exactly one tier
    analysis: object = None
    loaded: object = None

    def summary(self) -> str:
        """One line for the docs table."""
        if self.kind == "report":
            rej = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items()))
            return (
                f"report: {self.read} read = {self.used} used + {sum(self.rejected.values())} "
                f"rejected{f' ({rej})' if rej else ''}; {self.customers} customers"
                + (", each in one tier" if self.tiered_once else ", NOT each in one tier")
            )
        text = f"{self.kind}: {self.error}: " + " ".join(self.headline.split())
        if self.where:
            text += f" [where: {self.where}]"
        return text


def case_params(case: Case, folder: Path):
    """The validated parameters of a case whose input is in ``folder``."""
    from tiering import params as _params

    if case.kind == "params":
        return _params.load(folder / case.file)
    raw = {
        "client": "Corpus",
        **RUN_PARAMS,
        **case.params,
        "data": {"path": case.file, **case.data},
    }
    return _params.validate(raw, base_dir=folder, source=f"case {case.name}")


def run_case(case: Case, folder: Path = BAD) -> Outcome:
    """Run one case through parameter loading and ``tiering.analysis.pipeline.run`` (no rendering)."""
    from tiering.analysis import pipeline
    from tiering.errors import TieringError

    if case.build is not None and not (folder / case.file).exists():
        case.build(folder)
    try:
        analysis, loaded = pipeline.run(case_params(case, folder))
    except TieringError as exc:
        # paths shown relative to the corpus folder, so that the outcome is the same
        # wherever the corpus is
        def rel(text):
            return (text or "").replace(str(folder) + "/", "").replace(str(folder), ".")

        return Outcome(
            "error",
            error=type(exc).__name__,
            message=rel(str(exc)),
            headline=rel(exc.message),
            where=rel(exc.where),
            hint=rel(exc.hint),
        )
    except Exception as exc:  # noqa: BLE001 - a crash is an outcome the tests must see
        return Outcome(
            "crash", error=type(exc).__name__, message=str(exc)[:500], headline=str(exc)[:200]
        )
    src = loaded.source
    tiers = analysis.tiers
    once = bool(
        tiers["customer_id"].is_unique
        and tiers["tier"].notna().all()
        and set(tiers["customer_id"]) == set(loaded.transactions["customer_id"])
    )
    return Outcome(
        "report",
        tiered_once=once,
        read=src["rows_read"],
        used=src["rows_used"],
        rejected={r.reason: int(r.rows) for r in loaded.quality.itertuples()},
        customers=len(analysis.tiers),
        tiers={str(r.tier): int(r.customers) for r in analysis.tier_summary.itertuples()},
        analysis=analysis,
        loaded=loaded,
    )


def expected_text(case: Case) -> str:
    return case.outcome


def docs_table(outcomes: dict[str, Outcome], folder: Path) -> str:
    """The Markdown of docs/bad_input.md."""
    lines = [
        "# Bad and hostile input: the corpus and what happens",
        "",
        "Generated by `python tests/data/make_bad_corpus.py --docs` from the cases in that",
        "script; `tests/test_bad_input.py` fails when this table is out of date. Each case",
        "ends in a clear error (what, where, how to fix; `tiering` exits non-zero without a",
        "traceback unless `--debug`) or in an analysis where every row read is used or",
        "rejected with a reason (rows read = used + rejected). Files are in",
        "`tests/data/bad/`; files marked *(made at test time)* are too large to commit.",
        "",
        (
            f"{len(CASES)} cases: {sum(c.expect == 'error' for c in CASES)} end in an error, "
            f"{sum(c.expect == 'report' for c in CASES)} in a report."
        ),
        "",
        "| # | case | file | expected outcome | actual outcome |",
        "|---|---|---|---|---|",
    ]
    for i, case in enumerate(CASES, start=1):
        file = f"`{case.file}`" + (" *(made at test time)*" if case.build else "")
        settings = {**case.data, **case.params}
        title = case.title + (f" — `{_compact(settings)}`" if settings else "")
        actual = outcomes[case.name].summary()
        lines.append(f"| {i} | {_cell(title)} | {file} | {_cell(case.outcome)} | {_cell(actual)} |")
    lines += [
        "",
        "## Hostile input beyond the loader",
        "",
        "- Markup in customer names, column names and the client name is escaped in the HTML",
        "  and PDF report (`tests/test_bad_input.py::test_hostile_report_escapes_markup`).",
        "- Rule and trigger expressions are parsed by `tiering.expr` (no `eval`); calls,",
        "  attribute access and indexing are refused when the parameters are read.",
        "- Parameter names reaching papermill must be declared in the notebook",
        "  (`tiering.build.report.notebook_parameters`).",
        "- `output.dir` from a parameter file must stay below the working folder",
        "  (`../../escaped-report` in `params_output_escape.yaml` is refused before anything",
        "  is written; `test_output_dir_from_parameters_stays_under_the_root`).",
        "- Spreadsheet formulas (`=`, `+`, `-`, `@` at the start of a cell) are neutralised in",
        "  the action-list workbook and CSV (`test_formula_injection_neutralised_in_spreadsheets`).",
        "- YAML aliases, Python tags, duplicate keys and files over 256 KB are refused when",
        "  the parameter file is read.",
        "",
        "## What tiering may delete",
        "",
        "Tiering only ever removes what tiering wrote (`tiering/build/owned.py`;",
        "`tests/test_output_safety.py` puts client files everywhere a run could reach them and",
        "checks that every one survives byte for byte):",
        "",
        "- A report folder (`--output`, `output.dir`, `reports/<client>`) is replaced only",
        "  when it is empty, or when its `manifest.json` was written by tiering and every entry",
        "  in it is a file that manifest lists, unchanged since (same SHA-256). A client export",
        "  saved there, a folder (`.ipynb_checkpoints/`), a table edited after the run: the",
        "  run refuses and names them. Nothing is moved aside either.",
        "- A folder of another tool with a `manifest.json` of its own is not a report folder.",
        "- The run's inputs (data file, parameter file, playbook, logo, previous report,",
        "  notebook) may never be inside the folder it replaces.",
        "- `<output>.failed/` is removed only when its `failure.json` is tiering's and lists",
        "  every file in it, unchanged; otherwise it is kept and a failed run goes to",
        "  `<output>.failed-2/` (`-3`, ...).",
        "- Working folders (`.<name>.tmp-*`) carry a marker file; only those are cleaned up",
        "  after a killed run. A set-aside previous report (`.<name>.old-<pid>`) is put back",
        "  or removed only when it is a report folder holding only what tiering wrote.",
        "- The previous report is checked again when it is set aside at the end of the run:",
        "  a file saved into it meanwhile puts it back and stops the run (exit 2; the new",
        "  report is kept in `<output>.failed/`).",
        "- The lock file `.<name>.lock` is never opened through a symbolic link.",
        "- `make clean` removes from `reports/` only what tiering wrote there (report",
        "  folders, `.failed` folders, working folders, lock files, a batch's index) and",
        "  never follows a link (`python -m tiering.build.owned clean reports`).",
        "- The target is checked before anything is created: `--output /`, a path below a",
        "  file (`/dev/null/x`), an existing file (`/dev/null`), a folder holding the working",
        "  folder (`--output .`) and a folder without write permission are refused, and no",
        "  lock file or working folder is left anywhere.",
        "- A full disk or a folder made read-only during the run is a clear error (exit 2);",
        "  the previous report stays and nothing half-written is left.",
        "- `tiering batch --output DIR` never overwrites an `index.html` or `batch.json` that",
        '  tiering did not write (its own carry `<meta name="generator" content="tiering">`',
        '  and `"generator": "tiering"`).',
        "- `tiering verify --rebuild` writes only into its own temporary folder: a feature",
        "  cache or spill folder named in an edited manifest is not created.",
        "",
        "## Known limits",
        "",
        "- An undeclared single-byte European file (cp1252) may be guessed as another code",
        "  page; set `data.encoding: cp1252` (case `cp1252`).",
        "- An Excel formula saved without its value (a file written by a program, never",
        "  opened in Excel) reads as blank and is rejected (case `xlsx_formula_no_cache`).",
        "- `tiering validate` checks the parameters, the file and its columns; it does not",
        "  screen the rows (a header-only file passes it and fails in `tiering report`).",
        "",
    ]
    return "\n".join(lines)


def _compact(d: dict) -> str:
    import json

    return json.dumps(d, ensure_ascii=False, separators=(", ", ": "))


def _cell(text: str) -> str:
    """Text for a Markdown table cell: pipes and markup escaped, one line."""
    text = text if len(text) <= 300 else text[:297] + "..."
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("__", "\\_\\_")
        .replace("\n", " ")
    )


# --------------------------------------------------------------------------- main


def write_files(folder: Path = BAD) -> list[Path]:
    """Write every committed corpus file into ``folder``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in _files().items():
        path = folder / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        written.append(path)
    return written


def run_all(folder: Path = BAD) -> dict[str, Outcome]:
    """Run every case; inputs made at run time go to a temporary copy of the corpus."""
    outcomes = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for path in folder.iterdir():
            (scratch / path.name).write_bytes(path.read_bytes())
        for case in CASES:
            outcomes[case.name] = run_case(case, scratch if case.build else folder)
            if case.build:
                (scratch / case.file).unlink(missing_ok=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--docs", action="store_true", help="also run every case and write docs/bad_input.md"
    )
    args = ap.parse_args(argv)
    written = write_files()
    print(f"wrote {len(written)} files to {BAD}")
    if args.docs:
        outcomes = run_all()
        DOCS.parent.mkdir(parents=True, exist_ok=True)
        DOCS.write_text(docs_table(outcomes, BAD), encoding="utf-8")
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
