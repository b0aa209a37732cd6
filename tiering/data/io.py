"""Reading a client's transaction export into clean transactions and rejected rows.

Every row read ends either in ``LoadResult.transactions`` (used) or in
``LoadResult.rejected`` with a reason code (``REASONS``; report texts in
``tiering/present/i18n/reasons.yaml``); ``rows_read == used + rejected`` always.
Input files are only ever opened for reading.

A file that cannot be used at all is a :class:`DataError` saying what, where (file,
sheet, line or row, column) and how to fix it: an empty file, a workbook or image
given a ``.csv`` name (recognised by its first bytes), an unclosed quote, a row wider
than the header, a missing column (with the columns found and the closest match).

Conventions are decided per column, from all its values, never per value: the
day/month order of dates (``13/01/2024`` proves day first; ``data.dayfirst`` decides
when given) and whether dots in amounts are between thousands (``1.500.000`` proves
it, ``12.50`` proves a decimal point; ``data.decimal`` decides when given). A column
that contradicts itself, or cannot tell, is a DataError showing example values and rows
and naming the parameter that settles it.

Row by row, values that cannot be right are rejected rather than guessed: blank or
Excel-error customer IDs, IDs over ``MAX_ID_LENGTH`` characters or with control
characters, IDs Excel rounded to ``1.23E+11`` (``1E+11``, ``1.23457E11``), a year
alone as a date (``2024``, ``2024-03``), dates before 1900 or after tomorrow (the only
reason the result depends on the clock: a typo such as 2204 must not move the default
as-of date), amounts of ``MAX_AMOUNT`` or more (and quantity x price overflows).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import gzip
import hashlib
import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tiering.errors import DataError, closest
from tiering.params import DataSource
from tiering.sniff import utf16_without_bom

# --------------------------------------------------------------------------- roles

ROLES = (
    "customer_id",
    "order_date",
    "order_id",
    "amount",
    "quantity",
    "unit_price",
    "customer_name",
)

# Header synonyms, compared after normalisation (lower case, no spaces/punctuation; a
# trailing unit in brackets is dropped, see _norm). Within a role the first synonym found
# in the file wins, so the plainest names come first; the later ones are headers seen in
# real English and Chinese exports (shop systems, ERPs, Taobao/JD/Youzan, Shopify, POS).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customerid",
        "customer",
        "customerno",
        "customernumber",
        "custid",
        "clientid",
        "memberid",
        "accountid",
        "userid",
        "buyerid",
        "客户编号",
        "客户id",
        "客户号",
        "客户代码",
        "会员号",
        "会员id",
        "会员编号",
        "用户id",
        "买家id",
        "客户",
        "customercode",
        "customerkey",
        "custno",
        "clientno",
        "clientnumber",
        "clientcode",
        "accountno",
        "accountnumber",
        "memberno",
        "membernumber",
        "shopperid",
        "contactid",
        "loyaltyid",
        "customeremail",
        "email",
        "客户编码",
        "客户账号",
        "会员账号",
        "会员卡号",
        "用户编号",
        "顾客编号",
        "顾客id",
        "顾客",
        "买家账号",
        "买家会员名",
    ),
    "order_date": (
        "orderdate",
        "invoicedate",
        "date",
        "transactiondate",
        "purchasedate",
        "saledate",
        "orderdatetime",
        "timestamp",
        "orderedat",
        "createdat",
        "订单日期",
        "下单时间",
        "下单日期",
        "日期",
        "交易日期",
        "交易时间",
        "购买日期",
        "购买时间",
        "销售日期",
        "订单时间",
        "ordertime",
        "invoicedatetime",
        "transactiontime",
        "transactiondatetime",
        "purchasetime",
        "purchasedat",
        "salesdate",
        "saletime",
        "orderedon",
        "orderplaced",
        "createdon",
        "paidat",
        "paymentdate",
        "billingdate",
        "receiptdate",
        "datetime",
        "订单创建时间",
        "创建时间",
        "成交时间",
        "成交日期",
        "付款时间",
        "付款日期",
        "支付时间",
        "支付日期",
        "消费时间",
        "消费日期",
        "开票日期",
        "单据日期",
        "业务日期",
        "时间",
    ),
    "order_id": (
        "orderid",
        "invoiceno",
        "invoice",
        "invoicenumber",
        "orderno",
        "ordernumber",
        "transactionid",
        "receiptno",
        "订单号",
        "订单编号",
        "单号",
        "发票号",
        "交易号",
        "订单id",
        "invoiceid",
        "receiptid",
        "receiptnumber",
        "transactionno",
        "transactionnumber",
        "orderreference",
        "orderref",
        "ordercode",
        "salesorder",
        "salesorderno",
        "salesordernumber",
        "billno",
        "documentno",
        "docno",
        "订单编码",
        "订单号码",
        "交易单号",
        "交易流水号",
        "流水号",
        "小票号",
        "销售单号",
        "单据编号",
        "单据号",
        "发票号码",
    ),
    "amount": (
        "amount",
        "sales",
        "revenue",
        "total",
        "totalamount",
        "netamount",
        "value",
        "ordervalue",
        "linetotal",
        "salesamount",
        "金额",
        "实付金额",
        "销售额",
        "订单金额",
        "交易金额",
        "消费金额",
        "实收金额",
        "总金额",
        "应付金额",
        "dollars",
        "revenueusd",
        "netsales",
        "grosssales",
        "netrevenue",
        "grossrevenue",
        "salesvalue",
        "salesrevenue",
        "saleamount",
        "sale",
        "ordertotal",
        "orderamount",
        "grandtotal",
        "invoiceamount",
        "invoicetotal",
        "invoicevalue",
        "transactionamount",
        "transactionvalue",
        "purchaseamount",
        "paidamount",
        "amountpaid",
        "paymentamount",
        "spend",
        "spent",
        "totalspend",
        "totalspent",
        "turnover",
        "lineamount",
        "linevalue",
        "extendedprice",
        "totalprice",
        "subtotal",
        "成交金额",
        "成交额",
        "支付金额",
        "付款金额",
        "实付款",
        "实际支付金额",
        "买家实际支付金额",
        "订单实付金额",
        "销售金额",
        "订单总额",
        "订单总金额",
        "消费额",
        "交易额",
        "营业额",
        "销售收入",
        "结算金额",
        "收款金额",
        "应收金额",
        "合计金额",
        "金额合计",
        "价税合计",
        "含税金额",
        "总价",
        "总额",
        "小计",
    ),
    "quantity": (
        "quantity",
        "qty",
        "units",
        "数量",
        "销售数量",
        "购买数量",
        "quantityordered",
        "qtyordered",
        "orderquantity",
        "orderqty",
        "quantitysold",
        "unitssold",
        "pieces",
        "pcs",
        "lineitemquantity",
        "件数",
        "商品数量",
        "宝贝总数量",
        "订购数量",
        "购买件数",
        "销量",
    ),
    "unit_price": (
        "unitprice",
        "price",
        "单价",
        "销售单价",
        "价格",
        "priceeach",
        "itemprice",
        "saleprice",
        "salesprice",
        "sellingprice",
        "netprice",
        "lineitemprice",
        "成交单价",
        "商品单价",
        "实际单价",
        "成交价",
        "售价",
        "销售价",
        "零售价",
    ),
    "customer_name": (
        "customername",
        "name",
        "clientname",
        "companyname",
        "客户名称",
        "客户名",
        "姓名",
        "会员名称",
        "公司名称",
        "customerfullname",
        "fullname",
        "buyername",
        "membername",
        "billingname",
        "contactname",
        "accountname",
        "客户姓名",
        "客户全称",
        "会员姓名",
        "会员名",
        "顾客姓名",
        "买家姓名",
        "买家昵称",
        "联系人",
    ),
}

# A currency after the name of a money column (``revenue_usd``, ``Sales EUR``, ``金额元``):
# dropped before an amount or unit-price header is compared with the synonyms.
MONEY_UNIT = re.compile(
    r"(?<=.)(usd|eur|gbp|cny|rmb|jpy|hkd|aud|cad|chf|sgd|inr|"
    r"元|人民币|美元|欧元|英镑|日元|港币)$"
)
_MONEY_ROLES = ("amount", "unit_price")

REASONS: dict[str, tuple[str, str]] = {
    # code: (category, description)
    "excluded_value": ("excluded", "excluded by data.exclude"),
    "missing_customer_id": ("invalid", "customer id is blank"),
    "bad_customer_id": ("invalid", "customer id is too long or contains control characters"),
    "rounded_customer_id": ("invalid", "customer id was rounded to a number by Excel (1.23E+11)"),
    "bad_date": ("invalid", "order date is blank or not a date"),
    "partial_date": ("invalid", "order date is only a year or a year and month (2024, 2024-03)"),
    "implausible_date": ("invalid", "order date is before 1900"),
    "future_date": ("invalid", "order date is in the future (a typo in the year?)"),
    "bad_amount": ("invalid", "amount is blank or not a number"),
    "implausible_amount": ("invalid", "amount is ten trillion or more (an export error)"),
    "zero_amount": ("excluded", "amount is zero (free item or adjustment)"),
    "before_window": ("excluded", "before the analysis window"),
    "after_as_of": ("excluded", "on or after the as-of date"),
    "duplicate_row": ("excluded", "exact duplicate of an earlier row"),
}

#: How many rows from the top of a file are searched for the header row.
MAX_HEADER_SCAN = 30


@dataclass(frozen=True)
class LoadResult:
    """Clean transactions, rejected rows and a description of the source.

    ``transactions`` columns: ``row`` (row number in the file, header = row 1),
    ``customer_id`` (str), ``order_id`` (str), ``order_date`` (datetime64),
    ``amount`` (float, negative for returns), ``is_return`` (bool), ``customer_name``
    (str, when present) and the attribute columns (str) under their own headers.
    ``rejected``: ``row, reason, category, detail`` followed by the original columns.
    ``quality``: one row per reason with ``reason, category, description, rows``.
    """

    transactions: pd.DataFrame
    rejected: pd.DataFrame
    quality: pd.DataFrame
    source: dict
    as_of: dt.date
    window_start: dt.date | None
    attributes: tuple[str, ...] = field(default=())

    @property
    def rows_read(self) -> int:
        return self.source["rows_read"]


# --------------------------------------------------------------------------- reading


def today() -> dt.date:
    """This machine's date: the day the loader's rules measure future dates from (one
    place, so that a test can fix it and a run over midnight reads one day)."""
    return dt.date.today()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def detect_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in (
        (".csv.gz", "csv"),
        (".tsv.gz", "tsv"),
        (".txt.gz", "csv"),
        (".csv", "csv"),
        (".txt", "csv"),
        (".tsv", "tsv"),
        (".tab", "tsv"),
        (".xlsx", "xlsx"),
        (".xlsm", "xlsx"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
    ):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".xls"):
        raise DataError(
            f"{path.name!r} is an old Excel .xls workbook",
            where=str(path),
            hint="open it in Excel and save it as .xlsx (or export it as CSV)",
        )
    raise DataError(
        f"Cannot tell the format of {path.name!r} from its name",
        where=str(path),
        hint="use a .csv, .csv.gz, .tsv, .xlsx or .parquet file, or set data.format",
    )


def _is_gzip(path: Path) -> bool:
    """Whether the file is gzip-compressed, by its first bytes (a ``.csv`` that is really
    a ``.csv.gz`` is read as such; a ``.gz`` that is not compressed is read as text)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


# The head of a text file that encoding, delimiter and width are detected from: 256 KB,
# read on until it holds the first lines whole (a header line can be longer), up to
# MAX_HEAD_BYTES; a file whose first line is longer still is refused.
HEAD_BYTES = 256 * 1024
MAX_HEAD_BYTES = 16 * 1024 * 1024


def _head_bytes(path: Path, n: int = HEAD_BYTES) -> bytes:
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        data = fh.read(n)
        while (
            len(data) >= n and len(data) < MAX_HEAD_BYTES and data.count(b"\n") <= MAX_HEADER_SCAN
        ):
            more = fh.read(n)
            if not more:
                break
            data += more
    return data


# First bytes of files that are not delimited text, with what they are and what to do.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (
        b"PK\x03\x04",
        "an Excel workbook (.xlsx) or another zip archive",
        (
            "if it is a workbook, give it the .xlsx extension or set data.format: xlsx; "
            "if it is a zip archive, extract the CSV file from it"
        ),
    ),
    (
        b"\xd0\xcf\x11\xe0",
        "an old Excel .xls workbook (or another Office file)",
        "open it in Excel and save it as .xlsx or export it as CSV",
    ),
    (b"PAR1", "a Parquet file", "give it the .parquet extension or set data.format: parquet"),
    (b"%PDF", "a PDF document", "export the data from the source system as CSV or Excel"),
    (b"\x89PNG", "a PNG image", "export the data from the source system as CSV or Excel"),
    (b"\xff\xd8\xff", "a JPEG image", "export the data from the source system as CSV or Excel"),
    (b"7z\xbc\xaf", "a 7-Zip archive", "extract the CSV file from it"),
    (b"Rar!", "a RAR archive", "extract the CSV file from it"),
    (b"BZh", "a bzip2-compressed file", "decompress it, or compress it with gzip (.csv.gz)"),
    (b"SQLite format 3", "an SQLite database", "export the table as CSV"),
)


def _check_is_text(path: Path, sample: bytes, fmt: str) -> None:
    """Refuse files that are plainly not delimited text, saying what they are."""
    for magic, what, hint in _MAGIC:
        if sample.startswith(magic):
            raise DataError(
                f"{path.name} is {what}, not {fmt.upper()} text", where=str(path), hint=hint
            )
    head = sample[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or not head:
        return
    # UTF-16 text has many zero bytes but few other control bytes; binary data has both.
    control = sum(1 for b in head if b < 32 and b not in (0, 9, 10, 13))
    if control > max(8, len(head) // 50):
        raise DataError(
            f"{path.name} does not look like {fmt.upper()} text "
            f"({control} control bytes in its first {len(head):,} bytes)",
            where=str(path),
            hint="check it is the right file; export the data as CSV (UTF-8 or "
            "GBK), Excel .xlsx or Parquet",
        )


def detect_encoding(sample: bytes) -> str:
    """Encoding of a text sample: BOMs first, then strict UTF-8, then GB18030, then a guess."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    utf16 = utf16_without_bom(sample)
    if utf16 is not None:
        return utf16
    trimmed = sample[:-4] if len(sample) >= HEAD_BYTES else sample  # may end mid-character
    for enc in ("utf-8", "gb18030"):
        try:
            trimmed.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    return best.encoding if best else "latin-1"


def detect_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sum(ln.count(d) for ln in lines) for d in ",;\t|"}
        return max(counts, key=counts.get) if max(counts.values()) else ","


def read_table(src: DataSource) -> tuple[pd.DataFrame, dict]:
    """Read the file as a grid of strings with no header interpretation.

    Returns the grid (column labels 0..n-1, index = 1-based row number in the file)
    and facts about the source (format, encoding, delimiter, sheet, sha256).
    """
    path = Path(src.path)
    if not path.is_file():
        raise DataError(
            f"Data file not found: {path}",
            where="data.path",
            hint="check the path; relative paths are resolved against the "
            "folder of the parameter file",
        )
    fmt = detect_format(path) if src.format == "auto" else src.format
    info = {
        "path": str(path),
        "format": fmt,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }
    try:
        if fmt in ("csv", "tsv"):
            grid = _read_csv(path, src, fmt, info)
        elif fmt == "xlsx":
            grid = _read_excel(path, src, info)
        else:
            grid = _read_parquet(path)
    except DataError:
        raise
    except _read_errors() as exc:
        if (
            fmt in ("csv", "tsv")
            and isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile))
            and _is_gzip(path)
        ):
            raise gzip_error(path, fmt) from None
        raise DataError(
            f"Could not read {path.name} as {fmt}: {type(exc).__name__}: {exc}",
            where=str(path),
            hint=READ_HINTS[fmt],
        ) from None
    return grid, info


def gzip_error(path: Path, fmt: str = "csv") -> DataError:
    """A ``.csv.gz`` whose compressed data ends early or is damaged (every engine)."""
    return DataError(
        f"Could not read {path.name} as {fmt}: the gzip-compressed data ends "
        "early or is damaged (the file is truncated or incomplete)",
        where=str(path),
        hint="copy or download the file again (compare its size with the "
        "original), or compress the original CSV again and point data.path "
        "at it",
    )


#: The hint of the error when a file cannot be read as its format, by format.
READ_HINTS = {
    "csv": "check the file opens in a spreadsheet; set data.format, data.encoding or "
    "data.delimiter if they were guessed wrong",
    "xlsx": "check the file opens in Excel and save it again as .xlsx (an old .xls or a "
    "renamed CSV is not an .xlsx workbook), or set data.format",
    "parquet": "check the file is a complete Parquet file (export it again), or set data.format",
}
READ_HINTS["tsv"] = READ_HINTS["csv"]


def _read_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of the readers that mean "this file cannot be read as that format"."""
    import pyarrow as pa
    from openpyxl.utils.exceptions import InvalidFileException

    return (
        ValueError,
        OSError,
        UnicodeError,
        KeyError,
        EOFError,
        csv.Error,
        zipfile.BadZipFile,
        InvalidFileException,
        pa.ArrowException,
        pd.errors.ParserError,
    )


def _read_csv(path: Path, src: DataSource, fmt: str, info: dict) -> pd.DataFrame:
    gz = _is_gzip(path)
    sample = _head_bytes(path)
    _check_is_text(path, sample, fmt)
    if len(sample) >= MAX_HEAD_BYTES and b"\n" not in sample and b"\r" not in sample:
        raise DataError(
            f"The first line of {path.name} is longer than {MAX_HEAD_BYTES // (1024 * 1024)} MB",
            where=f"{path.name}, line 1",
            hint="check that the file has line breaks and is a CSV export (not "
            "one long line); export it again",
        )
    enc = detect_encoding(sample) if src.encoding == "auto" else src.encoding
    try:
        codecs.lookup(enc)
    except LookupError:
        raise DataError(
            f"Unknown text encoding {enc!r}",
            where="data.encoding",
            hint="use auto, utf-8, utf-8-sig, gb18030, utf-16 or latin-1",
        ) from None
    text = sample.decode(enc, errors="replace")
    if not text.strip("\ufeff \t\r\n\x00"):
        raise DataError(
            f"The file {path.name} is empty",
            where=str(path),
            hint="export the data again; the file has no rows",
        )
    delim = src.delimiter or ("\t" if fmt == "tsv" else detect_delimiter(text))
    info.update(encoding=enc, delimiter=delim)
    # Title lines above the header often have fewer fields than the table: give the
    # parser the widest line of the sample so that they do not stop it.
    width = _field_count(text, delim, src.skip_rows, truncated=len(sample) >= HEAD_BYTES)
    try:
        grid = _read_csv_grid(path, enc, delim, width, src.skip_rows, gz=gz)
    except UnicodeDecodeError:
        if src.encoding != "auto" or enc != "utf-8":
            raise DataError(
                f"{path.name} is not valid {enc} text",
                where=str(path),
                hint="set data.encoding to the file's encoding, e.g. utf-8, "
                "gb18030, utf-16 or latin-1",
            ) from None
        # The sample was UTF-8 but a later part is not: GB18030 is the usual culprit.
        try:
            grid = _read_csv_grid(path, "gb18030", delim, width, src.skip_rows, gz=gz)
        except UnicodeDecodeError:
            raise DataError(
                f"{path.name} is neither UTF-8 nor GB18030 text after its first "
                f"{len(sample) // 1024} KB",
                where=str(path),
                hint="set data.encoding to the file's encoding, e.g. latin-1 or "
                "cp1252, or export it again as UTF-8",
            ) from None
        info["encoding"] = "gb18030"
    except pd.errors.ParserError as exc:
        err = csv_parser_error(exc, path.name, delim)
        if err is None:
            raise
        raise err from None
    grid.index = pd.RangeIndex(src.skip_rows + 1, src.skip_rows + 1 + len(grid))
    return grid


def csv_parser_error(exc: Exception, name: str, delim: str) -> DataError | None:
    """The loader's message for a pandas ``ParserError`` of a CSV file (an unclosed
    quote, a line wider than the lines before it), or None (every engine)."""
    eof = re.search(r"EOF inside string starting at row (\d+)", str(exc))
    if eof:
        line = int(eof.group(1)) + 1
        return DataError(
            f'A quote (") opened on line {line} of {name} is never closed, '
            "so the rest of the file would be read as one value",
            where=f"{name}, line {line}",
            hint="a value contains a stray double quote: remove it or double it "
            '("") in the export, or export again with quoted values',
        )
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if not m:
        return None
    expected, line, saw = m.groups()
    return DataError(
        f"Line {line} of {name} has {saw} fields where the lines before it have {expected}",
        where=f"{name}, line {line}",
        hint=f"a value probably contains the delimiter {delim!r} without "
        "quotes: quote such values in the export, or set data.delimiter "
        "if it was guessed wrong",
    )


def _read_csv_grid(
    path: Path, enc: str, delim: str, width: int | None, skip_rows: int, *, gz: bool = False
) -> pd.DataFrame:
    grid = pd.read_csv(
        path,
        sep=delim,
        header=None,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        encoding=enc,
        skiprows=skip_rows,
        names=range(width) if width else None,
        skip_blank_lines=False,
        compression="gzip" if gz else None,
        engine="c",
        quoting=csv.QUOTE_MINIMAL,
        on_bad_lines="error",
    )
    return grid.fillna("")


def _field_count(text: str, delim: str, skip_rows: int, *, truncated: bool) -> int | None:
    """The largest number of fields on a line of the sample (None when it cannot tell)."""
    lines = text.splitlines(keepends=True)[skip_rows:]
    if truncated and len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut short
    try:
        counts = [len(r) for r in csv.reader(io.StringIO("".join(lines)), delimiter=delim)]
    except csv.Error:
        return None
    return max(counts) if counts else None


# Excel: at most this many cells in the table read from a sheet (its rows times its
# columns, from A1 to the last row and the last column that hold a value). One stray
# value far from the table (XFD1048576 in a 5 KB file) would otherwise make a grid of
# 17 billion cells; a real table this large is better exported as CSV.
MAX_EXCEL_CELLS = 20_000_000
# An OLE2 compound file (D0 CF 11 E0 ...): a password-protected workbook (its streams
# EncryptionInfo and EncryptedPackage) or an old .xls; neither is a zip archive.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAMS = ("EncryptionInfo".encode("utf-16-le"), "EncryptedPackage".encode("utf-16-le"))
# The columns whose merged cells data.fill_merged_ids fills: who, which order, when (never
# amounts, quantities or prices: filling those would count a block's money several times).
_FILLABLE_ROLES = ("customer_id", "customer_name", "order_id", "order_date")


def _read_excel(path: Path, src: DataSource, info: dict) -> pd.DataFrame:
    """The grid of one worksheet: ``data.sheet`` when given, else the active sheet if it
    is visible, else the first visible one (a hidden first sheet is never read by default;
    ``info`` gets ``sheet``, ``sheets``, ``hidden_sheets`` and ``sheet_choice``). Cells are
    text as pandas reads them (``17850``, ``2.5``, ``2024-01-05 00:00:00``; error values
    blank). Refused: an encrypted workbook, a table over ``MAX_EXCEL_CELLS`` cells, and
    customer ids in merged cells unless ``data.fill_merged_ids`` asks to fill them."""
    import openpyxl

    _check_xlsx_container(path)
    book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        sheets = list(book.sheetnames)
        worksheets = {ws.title: ws for ws in book.worksheets}
        hidden = [name for name in sheets if book[name].sheet_state != "visible"]
        sheet = src.sheet
        if isinstance(sheet, str) and sheet not in sheets:
            hint = closest(sheet, sheets)
            raise DataError(
                f"Sheet {sheet!r} not found in {path.name}",
                where="data.sheet",
                hint=(f"did you mean {hint!r}? " if hint else "")
                + f"sheets in the file: {', '.join(sheets)}",
            )
        if isinstance(sheet, int) and not 0 <= sheet < len(sheets):
            raise DataError(
                f"Sheet number {sheet} does not exist in {path.name}",
                where="data.sheet",
                hint=f"sheets are numbered from 0; the file has {len(sheets)} "
                f"sheets: {', '.join(sheets)}",
            )
        if sheet is None:
            name, choice = _default_sheet(book, path)
        else:
            name, choice = (sheet if isinstance(sheet, str) else sheets[sheet]), "data.sheet"
        info.update(sheet=name, sheets=sheets, hidden_sheets=hidden, sheet_choice=choice)
        if name not in worksheets:
            raise DataError(
                f"Sheet {name!r} of {path.name} is a chart sheet, not a table",
                where=f"{path.name}, sheet {name!r}",
                hint="set data.sheet to the sheet that holds the transactions "
                f"(worksheets: {', '.join(worksheets) or 'none'})",
            )
        ws = worksheets[name]
        grid = _excel_grid(ws, path, name, src.skip_rows)
        merged = _merged_ranges(path, getattr(ws, "_worksheet_path", None))
    finally:
        book.close()
    if merged:
        grid = _merged_ids(grid, merged, src, info)
    return grid


def _check_xlsx_container(path: Path) -> None:
    """An .xlsx is a zip archive; an OLE2 file with that name is a password-protected
    workbook (Excel encrypts into an OLE2 container) or an old .xls: say which."""
    with open(path, "rb") as fh:
        if fh.read(8) != _OLE2_MAGIC:
            return  # a zip (or something else: openpyxl's error says it is not a workbook)
        fh.seek(0)
        keep = max(len(s) for s in _ENCRYPTED_STREAMS)
        tail, encrypted = b"", False
        while block := fh.read(1 << 20):
            chunk = tail + block
            if any(s in chunk for s in _ENCRYPTED_STREAMS):
                encrypted = True
                break
            tail = chunk[-keep:]
    if encrypted:
        raise DataError(
            f"{path.name} is password-protected (encrypted), so it cannot be read",
            where=str(path),
            hint="open it in Excel with its password, remove the password (File > "
            "Info > Protect Workbook > Encrypt with Password: clear the box) "
            "and save it as .xlsx; or export the sheet as CSV",
        )
    raise DataError(
        f"{path.name} is an old Excel .xls workbook (or another Office file) with an .xlsx name",
        where=str(path),
        hint="open it in Excel and save it as .xlsx (Excel Workbook), or export it as CSV",
    )


def _default_sheet(book, path: Path) -> tuple[str, str]:
    """(sheet name, why): the active sheet when it is a visible worksheet, else the first
    visible worksheet (Excel shows the active one; a hidden sheet is rarely the data)."""
    worksheets = list(book.worksheets)
    if not worksheets:
        raise DataError(
            f"{path.name} has no worksheet (only chart sheets)",
            where=str(path),
            hint="export the data as a table (.xlsx worksheet or CSV)",
        )
    active = book.active
    if any(active is ws for ws in worksheets) and active.sheet_state == "visible":
        return active.title, "active"
    visible = [ws for ws in worksheets if ws.sheet_state == "visible"]
    if visible:
        return visible[0].title, "first visible"
    return worksheets[0].title, "first"


def _excel_text(cell) -> str:
    """A cell as text, as ``pandas.read_excel(dtype=str)`` gives it: whole numbers without
    ``.0``, dates as ``2024-01-05 00:00:00``, error values (``#N/A``) and blanks empty."""
    value = cell.value
    if value is None or cell.data_type == "e":
        return ""
    if cell.data_type == "n" and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            whole = int(value)
        except (OverflowError, ValueError):  # inf, nan
            return str(value)
        return str(whole) if whole == value else str(float(value))
    return str(value)


def _excel_grid(ws, path: Path, name: str, skip_rows: int) -> pd.DataFrame:
    """The cells of a read-only worksheet from row ``skip_rows + 1`` to the last row with
    a value, and from column A to the last column with a value (the declared dimension
    is ignored: it may be wrong or huge). Only rows with values are kept while reading,
    so a stray far cell costs nothing before it is refused."""
    from openpyxl.utils import get_column_letter

    ws.reset_dimensions()
    rows: list[tuple[int, list[str]]] = []
    width, last = 0, skip_rows
    for row_no, cells in enumerate(ws.iter_rows(), start=1):
        if row_no <= skip_rows or not cells:
            continue
        values = [_excel_text(c) for c in cells]
        while values and values[-1] == "":
            values.pop()
        if not values:
            continue
        rows.append((row_no, values))
        if len(values) > width or row_no > last:
            width, last = max(width, len(values)), row_no
            n_rows = last - skip_rows
            if n_rows * width > MAX_EXCEL_CELLS:
                far = f"{get_column_letter(len(values))}{row_no}"
                raise DataError(
                    f"Sheet {name!r} of {path.name} has a value in cell {far}: the table "
                    f"would be {n_rows:,} rows x {width:,} columns ({n_rows * width:,} cells), "
                    f"more than the {MAX_EXCEL_CELLS:,} cells tiering reads from a sheet",
                    where=f"{path.name}, sheet {name!r}, cell {far}",
                    hint="delete the stray cells after the table (in Excel, Ctrl+End jumps "
                    "to the last used cell; delete the rows and columns after the "
                    "table and save), or copy the table into a new workbook, or "
                    "export the sheet as CSV",
                )
    cells = np.full((last - skip_rows, width), "", dtype=object)
    for row_no, values in rows:
        cells[row_no - skip_rows - 1, : len(values)] = values
    return pd.DataFrame(
        cells, index=pd.RangeIndex(skip_rows + 1, last + 1), columns=range(width)
    ).astype(str)


def _merged_ranges(path: Path, member: str | None) -> list[tuple[int, int, int, int]]:
    """The merged ranges of a worksheet as ``(min_row, min_col, max_row, max_col)``,
    read from its ``<mergeCells>`` element (after the cells; openpyxl's read-only mode
    does not give them), streaming the sheet's XML without parsing it."""
    from openpyxl.utils.cell import range_boundaries

    if not member:
        return []
    start = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCells[\s>/]")
    found, tail = None, b""
    with zipfile.ZipFile(path) as archive:
        try:
            fh = archive.open(member.lstrip("/"))
        except KeyError:
            return []
        with fh:
            while block := fh.read(1 << 20):
                if found is None:
                    chunk = tail + block
                    m = start.search(chunk)
                    if m is None:
                        tail = chunk[-64:]
                        continue
                    found = bytearray(chunk[m.start() :])
                else:
                    found += block
                if re.search(rb"</(?:[\w.-]+:)?mergeCells>", found) or len(found) > (64 << 20):
                    break
    if not found:
        return []
    out = []
    for ref in re.findall(
        rb"<(?:[\w.-]+:)?mergeCell\b[^>]*?\sref=\"([A-Za-z]+\d+(?::[A-Za-z]+\d+)?)\"", bytes(found)
    ):
        try:
            min_col, min_row, max_col, max_row = range_boundaries(ref.decode("ascii"))
        except (ValueError, TypeError):
            continue
        out.append(
            (min_row, min_col, max_row if max_row else min_row, max_col if max_col else min_col)
        )
    return out


def _merged_ids(
    grid: pd.DataFrame, merged: list[tuple[int, int, int, int]], src: DataSource, info: dict
) -> pd.DataFrame:
    """Refuse customer ids in cells merged over several rows (the id written once for a
    block of rows: the other rows would read as having no customer), or, with
    ``data.fill_merged_ids``, give every row of such a block its value (in the id, name,
    order id and date columns; never in amounts)."""
    from openpyxl.utils import get_column_letter

    body = _nonblank_rows(grid)
    try:
        pos, mapping = resolve_columns(body, src, info)
    except DataError:
        return grid  # the loader says what is wrong with the columns
    header_row = int(body.index[pos])
    headers = [str(h).strip().lstrip("\ufeff") for h in body.iloc[pos].tolist()]
    column_of = {h: i + 1 for i, h in reversed(list(enumerate(headers))) if h}
    id_col = column_of.get(mapping["customer_id"])
    blocks = [
        m
        for m in merged
        if m[2] > m[0] and m[2] > header_row and id_col is not None and m[1] <= id_col <= m[3]
    ]
    if not blocks:
        return grid
    if not getattr(src, "fill_merged_ids", False):
        blocks.sort()
        letter = get_column_letter(id_col)
        shown = ", ".join(
            f"{letter}{max(a, header_row + 1)}:{letter}{b}" for a, _, b, _ in blocks[:5]
        )
        rows = sum(b - max(a, header_row + 1) + 1 for a, _, b, _ in blocks)
        raise DataError(
            f"Customer ids in column {mapping['customer_id']!r} are in merged cells "
            f"({len(blocks):,} merged block{'s' if len(blocks) != 1 else ''}, {rows:,} rows: "
            f"{shown}{', ...' if len(blocks) > 5 else ''}): the id is written once per "
            "block and the block's other rows have none",
            where=f"{Path(src.path).name}, sheet {info.get('sheet')!r}, column "
            f"{mapping['customer_id']!r} ({letter}), rows {blocks[0][0]}-{blocks[0][2]}"
            + (" and others" if len(blocks) > 1 else ""),
            hint="unmerge the cells in Excel and fill the id into every row (Home > Merge & "
            "Center > Unmerge Cells, then Go To Special > Blanks, =cell above, "
            "Ctrl+Enter), or set data.fill_merged_ids: true to give every row of a "
            "merged block the block's value",
        )
    cols = {
        column_of[mapping[r]] for r in _FILLABLE_ROLES if r in mapping and mapping[r] in column_of
    }
    grid = grid.copy()
    filled = 0
    for min_row, min_col, max_row, max_col in merged:
        # a block's value is in its top-left cell; a block starting at or above the
        # header has no value for the data rows (they stay blank and are rejected)
        if max_row <= min_row or min_row <= header_row or min_row not in grid.index:
            continue
        value = grid.at[min_row, min_col - 1] if min_col - 1 < grid.shape[1] else ""
        rows = [r for r in range(min_row + 1, max_row + 1) if r in grid.index]
        for col in range(min_col, max_col + 1):
            if col in cols and col - 1 < grid.shape[1] and rows:
                grid.loc[rows, col - 1] = value
                filled += len(rows)
    info["merged_cells_filled"] = filled
    return grid


def _nonblank_rows(grid: pd.DataFrame) -> pd.DataFrame:
    nonblank = grid.astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    return grid[nonblank]


# grid.attrs key: the headers of numeric Parquet columns (read as numbers, not as text)
_NUMERIC_ATTR = "tiering_numeric_columns"


def _read_parquet(path: Path) -> pd.DataFrame:
    """The grid of a Parquet file: its column names, then its values as text. Columns
    with the same name are kept apart (the loader refuses them when they are used)."""
    import decimal

    import pyarrow.parquet as pq

    names = [str(n) for n in pq.read_schema(path).names]
    if len(set(names)) < len(names):
        # pandas cannot select one of two equal names: read by position
        table = pq.ParquetFile(path).read()
        table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
        frame = table.to_pandas(ignore_metadata=True)
        names = [str(n) for n in pq.read_schema(path).names]
    else:
        frame = pd.read_parquet(path)
        names = [str(c) for c in frame.columns]
    header = pd.DataFrame([names], columns=range(frame.shape[1]))
    body = pd.DataFrame({i: _to_text(frame[c]) for i, c in enumerate(frame.columns)})
    grid = pd.concat([header, body], ignore_index=True)
    grid.index = pd.RangeIndex(1, len(grid) + 1)

    def numeric(col: pd.Series) -> bool:
        if pd.api.types.is_bool_dtype(col):
            return False
        if pd.api.types.is_numeric_dtype(col):
            return True
        first = col.dropna()
        return col.dtype == object and len(first) > 0 and isinstance(first.iloc[0], decimal.Decimal)

    grid.attrs[_NUMERIC_ATTR] = [
        n.strip() for n, c in zip(names, frame.columns) if numeric(frame[c])
    ]
    return grid


def _to_text(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    return col.astype(object).where(col.notna(), "").map(str)


# --------------------------------------------------------------------------- headers


def _norm(name: str) -> str:
    name = unicodedata.normalize("NFKC", str(name)).lower()
    # a unit or note in brackets at the end does not change the role: 金额(元), Amount [USD]
    name = re.sub(r"(?<=\S)\s*[(\[【][^()\[\]【】]*[)\]】]\s*$", "", name)
    return re.sub(r"[\s_\-./()（）:：#]+", "", name)


def _auto_map(headers: list[str]) -> dict[str, str]:
    normed = {_norm(h): h for h in reversed(headers) if h}
    unitless = {MONEY_UNIT.sub("", n): h for n, h in normed.items()}
    found: dict[str, str] = {}
    for role, names in SYNONYMS.items():
        for n in names:
            h = normed.get(n) or (unitless.get(n) if role in _MONEY_ROLES else None)
            if h is not None and h not in found.values():
                found[role] = h
                break
    return found


def _roles_ok(mapping: dict[str, str]) -> bool:
    return (
        "customer_id" in mapping
        and "order_date" in mapping
        and ("amount" in mapping or {"quantity", "unit_price"} <= mapping.keys())
    )


def missing_roles(mapping: dict[str, str]) -> list[str]:
    """The required roles ``mapping`` lacks: ``customer_id``, ``order_date`` and
    ``amount`` (not missing when ``quantity`` and ``unit_price`` are both there)."""
    missing = [r for r in ("customer_id", "order_date") if r not in mapping]
    if "amount" not in mapping and not {"quantity", "unit_price"} <= mapping.keys():
        missing.append("amount")
    return missing


def guess_header(grid: pd.DataFrame) -> tuple[int, dict[str, str]]:
    """For ``tiering init`` when :func:`resolve_columns` fails: the row among the first
    30 that looks most like the header (most roles recognised from the synonyms, then
    most filled cells) and the roles recognised in it."""
    best, best_score = (0, {}), None
    for pos in range(min(MAX_HEADER_SCAN, len(grid))):
        headers = [str(h).strip().lstrip("\ufeff") for h in grid.iloc[pos].tolist()]
        mapping = _auto_map(headers)
        score = (len(mapping), sum(1 for h in headers if h))
        if best_score is None or score > best_score:
            best, best_score = (pos, mapping), score
    return best


def resolve_columns(grid: pd.DataFrame, src: DataSource, info: dict) -> tuple[int, dict[str, str]]:
    """Find the header row and map roles to headers. Returns (header row position, mapping)."""
    explicit = {k: v for k, v in src.columns.model_dump().items() if v}
    wanted = set(explicit.values()) | set(src.attributes)
    best, best_score = None, None
    for pos in range(min(MAX_HEADER_SCAN, len(grid))):
        headers = [str(h).strip().lstrip("\ufeff") for h in grid.iloc[pos].tolist()]
        if not any(headers):
            continue
        mapping = {**_auto_map(headers), **{k: v for k, v in explicit.items() if v in headers}}
        if wanted <= set(headers) and _roles_ok(mapping):
            return pos, mapping
        # For the error message: the row that looks most like a header (most roles and
        # wanted names recognised, then most filled cells), not merely the first line.
        score = (len(mapping) + len(wanted & set(headers)), sum(1 for h in headers if h))
        if best_score is None or score > best_score:
            best, best_score = (pos, headers), score
    if best is None:
        raise DataError(
            f"The file {Path(src.path).name} has no rows",
            where=src.path.name,
            hint="export the data again with a header row and data rows",
        )
    pos, headers = best
    row_no = int(grid.index[pos])
    shown = ", ".join(repr(h) for h in headers if h)
    for role, name in explicit.items():
        if name not in headers:
            hint = closest(name, [h for h in headers if h])
            raise DataError(
                f"Column {name!r} (data.columns.{role}) not found",
                where=f"{Path(src.path).name}{_sheet(info)}, header row {row_no}",
                hint=(f"did you mean {hint!r}? " if hint else "") + f"columns found: {shown}",
            )
    for name in src.attributes:
        if name not in headers:
            hint = closest(name, [h for h in headers if h])
            raise DataError(
                f"Attribute column {name!r} (data.attributes) not found",
                where=f"{Path(src.path).name}{_sheet(info)}, header row {row_no}",
                hint=(f"did you mean {hint!r}? " if hint else "") + f"columns found: {shown}",
            )
    mapping = {**_auto_map(headers), **explicit}
    missing = [r for r in ("customer_id", "order_date") if r not in mapping]
    if "amount" not in mapping and not {"quantity", "unit_price"} <= mapping.keys():
        missing.append("amount (or quantity and unit_price)")
    free = [h for h in headers if h and h not in mapping.values()]
    guesses = []
    for item in missing:
        role = item.split()[0]
        guess = _closest_header(role, free)
        if guess:
            guesses.append(f"data.columns.{role}: {guess!r}")
    suggestion = (
        f"did you mean {' and '.join(guesses)}? "
        if guesses
        else f"name them in data.columns, e.g. data.columns.{missing[0].split()[0]}: <header>; "
    )
    if info.get("format") in ("csv", "tsv"):
        # A wrong delimiter leaves the real one inside the cells of the first line.
        first = next(i for i in range(len(grid)) if any(str(c).strip() for c in grid.iloc[i]))
        first_cells = [str(c) for c in grid.iloc[first] if str(c).strip()]
        joined = "\x00".join(first_cells)
        counts = {d: joined.count(d) for d in ",;\t|" if d != info.get("delimiter")}
        sep = max(counts, key=counts.get)
        if counts[sep] >= (1 if len(first_cells) == 1 else 2):
            what = "one cell" if len(first_cells) == 1 else f"{len(first_cells)} cells"
            suggestion = (
                f"the first line is {what} containing {sep!r}: set data.delimiter: "
                f"{sep!r} (read with {info.get('delimiter')!r}); "
            )
            row_no = int(grid.index[first])
    others = [s for s in info.get("sheets", []) if s != info.get("sheet")]
    if others and not guesses:
        suggestion += (
            f"if the transactions are on another sheet, set data.sheet (other "
            f"sheets: {', '.join(map(repr, others))}); "
        )
    raise DataError(
        f"Required column{'s' if len(missing) > 1 else ''} not recognised: {', '.join(missing)}",
        where=f"{Path(src.path).name}{_sheet(info)}, header row {row_no}",
        hint=f"{suggestion}columns found: {shown or '(none)'}",
    )


def _closest_header(role: str, headers: list[str], cutoff: float = 0.6) -> str | None:
    """The header most similar to one of the role's synonyms, or None."""
    best, best_ratio = None, cutoff
    for h in headers:
        n = _norm(h)
        if not n:
            continue
        for syn in SYNONYMS[role]:
            ratio = difflib.SequenceMatcher(None, syn, n).ratio()
            if ratio > best_ratio or (ratio == best_ratio and best is None):
                best, best_ratio = h, ratio
    return best


def _sheet(info: dict) -> str:
    return f", sheet {info['sheet']!r}" if info.get("sheet") else ""


# --------------------------------------------------------------------------- parsing
# The patterns of the parsing rules below (CURRENCY ... US_GROUPS, DAY_MONTH, PARTIAL_DATE,
# NS_MIN/NS_MAX, NULL_IDS, ROUNDED_ID) are public: the engines build their SQL from them
# (tiering.data.engines._rules), so that every engine applies the loader's rules.

CURRENCY = r"[\s\u00a0¥￥$€£]|RMB|CNY|USD|EUR|GBP|元"
EURO_NUMBER = r"^-?\d{1,3}(\.\d{3})+,\d{1,2}$|^-?\d+,\d{1,2}$"
US_NUMBER = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$|^-?\d*\.\d{1,2}$"
_NON_ASCII = r"[^\x00-\x7f]"


def _fold_unicode(t: pd.Series) -> pd.Series:
    """NFKC-normalise the non-ASCII values only (full-width digits ``１２３``, ``－``, ``：``)
    and turn the Unicode minus sign into ``-``; ASCII values are left as they are (fast)."""
    wide = t.str.contains(_NON_ASCII, regex=True)
    if wide.any():
        folded = t[wide].str.normalize("NFKC").str.replace("\u2212", "-", regex=False)
        t = t.where(~wide, folded)
    return t


# Dots in amounts (decided per column, not per value): ``1.500.000`` and ``1.234,50`` can
# only have dots between thousands; ``12.50``, ``0.125``, ``1234.567`` and ``1,234.50`` only a
# decimal point; ``250.000`` either (250000 or 250).
DOT_GROUP = r"^-?[1-9]\d{0,2}\.\d{3}$"
DOT_GROUPS_MANY = r"^-?\d{1,3}(\.\d{3}){2,}$"
DOT_DECIMAL = r"^-?\d*\.\d+$"
# with data.decimal: ',' the values that fit (dots only between thousands), and with
# data.decimal: '.' the values with commas that fit (commas only between thousands)
COMMA_DECIMAL = r"^-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"
US_GROUPS = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"
# amount_shapes: what a value says about the column's decimal mark
SHAPE_THOUSANDS, SHAPE_DECIMAL, SHAPE_AMBIGUOUS = 1, 2, 3


def _amount_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The number text of amounts (folded, no currency, no brackets or trailing minus)
    and whether each is negative by its brackets or trailing minus."""
    t = _fold_unicode(values.astype(str).str.strip())
    t = t.str.replace(CURRENCY, "", regex=True)
    negative = t.str.match(r"^\(.*\)$") | t.str.match(r"^[^-]*\d-$")
    t = t.str.replace(r"^\((.*)\)$", r"\1", regex=True).str.replace(r"-$", "", regex=True)
    return t, negative


def _shapes_of(t: pd.Series) -> np.ndarray:
    sep = t.str.contains(r"[.,]", regex=True).to_numpy(dtype=bool)
    out = np.zeros(len(t), dtype="int8")
    if sep.any():
        s = t[sep]
        thousands = s.str.match(EURO_NUMBER) | s.str.match(DOT_GROUPS_MANY)
        group = s.str.match(DOT_GROUP)
        decimal = s.str.match(US_NUMBER) | (s.str.match(DOT_DECIMAL) & ~group)
        out[sep] = np.select(
            [thousands.to_numpy(bool), group.to_numpy(bool), decimal.to_numpy(bool)],
            [SHAPE_THOUSANDS, SHAPE_AMBIGUOUS, SHAPE_DECIMAL],
            0,
        )
    return out


def amount_shapes(values: pd.Series) -> np.ndarray:
    """Per value, what it says about the column's decimal mark: ``SHAPE_THOUSANDS``
    (``1.500.000``, ``1.234,50``, ``12,50``: dots can only be between thousands),
    ``SHAPE_DECIMAL`` (``12.50``, ``0.125``, ``1,234.50``: a decimal point),
    ``SHAPE_AMBIGUOUS`` (``250.000``: either), 0 (nothing: ``40``, ``abc``)."""
    return _shapes_of(_amount_text(values)[0])


def thousands_dots(shapes: np.ndarray | set, decimal: str | None = None) -> bool | None:
    """Whether the column's ``250.000`` means 250000, from the shapes of all its values
    (``data.decimal`` decides when given); None when the column cannot tell (no value says
    which, or values say both)."""
    if decimal is not None:
        return decimal == ","
    found = set(np.unique(shapes).tolist()) if isinstance(shapes, np.ndarray) else set(shapes)
    if SHAPE_AMBIGUOUS not in found:
        return False  # nothing to decide
    thousands, decimal_point = SHAPE_THOUSANDS in found, SHAPE_DECIMAL in found
    if thousands != decimal_point:
        return thousands
    return None


def parse_amounts(
    values: pd.Series, *, decimal: str | None = None, thousands: bool | None = None
) -> pd.Series:
    """Parse money written as text: ``¥1,234.50``, ``$1,234.50``, ``(12.00)``, ``$(12.00)``,
    ``1.234,50``, ``1.500.000``, ``12.00-``, full-width digits. Unparseable or blank
    values become NaN.

    ``250.000`` is 250000 when ``thousands`` (the column's decision, see
    :func:`thousands_dots`; None: decided from these values, 250 when they cannot tell).
    ``decimal`` (``data.decimal``): ``','`` reads dots only between thousands and the
    comma as the decimal mark, ``'.'`` the other way round; values written the other way
    (``12.50`` with ``','``, ``12,50`` or ``1.500.000`` with ``'.'``) become NaN."""
    t, negative = _amount_text(values)
    return _read_amounts(
        t, negative, None if decimal == "," else _shapes_of(t), decimal=decimal, thousands=thousands
    )


def _read_amounts(
    t: pd.Series,
    negative: pd.Series,
    shapes: np.ndarray | None,
    *,
    decimal: str | None,
    thousands: bool | None,
) -> pd.Series:
    """:func:`parse_amounts` of the number text and shapes of the values."""
    bad = None
    if decimal == ",":
        has_sep = t.str.contains(r"[.,]", regex=True)
        conv = has_sep & t.str.match(COMMA_DECIMAL)
        bad = has_sep & ~conv
    else:
        if decimal == ".":
            thousands = False
            bad = pd.Series(shapes == SHAPE_THOUSANDS, index=t.index) | (
                t.str.contains(",", regex=False) & ~t.str.match(US_GROUPS)
            )
        elif thousands is None:
            thousands = bool(thousands_dots(shapes))
        conv = pd.Series(
            (shapes == SHAPE_THOUSANDS) & (decimal is None)
            | (shapes == SHAPE_AMBIGUOUS) & thousands,
            index=t.index,
        )
    if conv.any():
        sub = t[conv]
        t = t.where(~conv, sub.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    t = t.str.replace(",", "", regex=False)
    out = pd.to_numeric(t, errors="coerce").astype("float64")
    out[~np.isfinite(out)] = np.nan
    if bad is not None and bad.any():
        out[bad.to_numpy(dtype=bool)] = np.nan
    return out.where(~negative, -out)


def _readings(value: str) -> tuple[str, str]:
    """``250.000`` read with dots between thousands and with a decimal point."""
    v = pd.Series([value])
    a = parse_amounts(v, thousands=True).iloc[0]
    b = parse_amounts(v, thousands=False).iloc[0]
    return tuple(
        np.format_float_positional(abs(x), trim="-") if np.isfinite(x) else "?" for x in (a, b)
    )


def amount_convention_error(
    *,
    file: str,
    column: str,
    ambiguous: list[tuple[str, int]],
    thousands: list[tuple[str, int]],
    decimal: list[tuple[str, int]],
) -> DataError:
    """The error for an amount column that cannot tell whether ``250.000`` is 250000 or
    250: ``ambiguous`` (one or two), ``thousands`` and ``decimal`` (at most one each) are
    (value, row) examples, first in the file."""
    shown = " and ".join(f"{v!r} (row {r})" for v, r in ambiguous)
    v0 = ambiguous[0][0]
    as_thousands, as_decimal = _readings(v0)
    if thousands and decimal:
        why = (
            f"and the column has dots both between thousands, as in {thousands[0][0]!r} "
            f"(row {thousands[0][1]}), and as a decimal point, as in {decimal[0][0]!r} "
            f"(row {decimal[0][1]})"
        )
    else:
        why = "and no value in the column tells which"
    return DataError(
        f"Amounts such as {shown} in column {column!r} read either as whole numbers with dots "
        f"between thousands ({v0} = {as_thousands}) or as decimals ({v0} = {as_decimal}), {why}",
        where=f"{file}, column {column!r}, row {ambiguous[0][1]}",
        hint=f"set data.decimal: ',' if the dot separates thousands ({v0} = {as_thousands}), "
        f"or data.decimal: '.' if it is the decimal point ({v0} = {as_decimal}); values "
        "written the other way are then rejected (bad_amount)",
    )


def decimal_param(src) -> str | None:
    """``data.decimal`` (``'.'`` or ``','``), or None when not given."""
    value = getattr(src, "decimal", None)
    return value if value in (".", ",") else None


def _examples(values: pd.Series, mask: np.ndarray, n: int) -> list[tuple[str, int]]:
    idx = np.flatnonzero(mask)[:n]
    return [(str(values.iloc[i]).strip()[:40], int(values.index[i])) for i in idx]


def _column_amounts(
    values: pd.Series, *, decimal: str | None, column: str, file: str, typed: bool = False
) -> pd.Series:
    """One amount column read by its convention (:func:`thousands_dots`, or
    ``data.decimal``); a column that cannot tell is refused
    (:func:`amount_convention_error`). ``typed``: a numeric Parquet column (its text has
    a decimal point, whatever ``data.decimal`` says)."""
    if typed:
        return parse_amounts(values)
    t, negative = _amount_text(values)
    if decimal == ",":
        return _read_amounts(t, negative, None, decimal=decimal, thousands=True)
    shapes = _shapes_of(t)
    decided = decimal == "," if decimal is not None else thousands_dots(shapes)
    if decided is None:
        raise amount_convention_error(
            file=file,
            column=column,
            ambiguous=_examples(values, shapes == SHAPE_AMBIGUOUS, 2),
            thousands=_examples(values, shapes == SHAPE_THOUSANDS, 1),
            decimal=_examples(values, shapes == SHAPE_DECIMAL, 1),
        )
    return _read_amounts(t, negative, shapes, decimal=decimal, thousands=decided)


# A time zone after a time of day (``10:30:00+08:00``, ``10:30Z``, ``10:30:00 +0800``,
# ``10:30 UTC``); a date alone (``05-01-2024``) has no time zone to strip.
_TZ = r"(\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"
_FALLBACK_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y年%m月%d日%H:%M:%S",
    "%Y年%m月%d日%H:%M",
    "%Y%m%d",
)
_DAYFIRST = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
)
_MONTHFIRST = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%m-%d-%Y %H:%M:%S",
    "%m-%d-%Y %H:%M",
    "%m-%d-%Y",
    "%m.%d.%Y %H:%M:%S",
    "%m.%d.%Y %H:%M",
    "%m.%d.%Y",
)
# A day and month in either order (05/01/2024, 5-1-2024 9:30, 05.01.2024 09:30:00): the
# values whose order the column decides. Separators /, - and . (the same one twice).
DAY_MONTH = (
    r"^(?:[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}|[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}|"
    r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4})(?: [0-9]{1,2}:[0-9]{1,2}(?::[0-9]{1,2})?)?$"
)
# date_kinds bits: reads only day first / only month first; written with / or with - or .
KIND_DAY_ONLY, KIND_MONTH_ONLY, KIND_SLASH, KIND_OTHER = 1, 2, 4, 8
# A year, or a year and month, alone (2024, 2024-03, 2023/11): not a date (partial_date).
PARTIAL_DATE = r"^[0-9]{4}(?:[-/.][0-9]{1,2})?$"
# 上午/下午 (a.m./p.m.) before or after the time: 2024/1/5 下午 3:05:00, 2024-01-05 下午3:05,
# 2024/1/5 3:05 下午
_AMPM_BEFORE = r"^(?P<date>.*?\d)\s*(?P<half>[上下]午)\s*(?P<h>\d{1,2}):(?P<m>\d{2})(?P<s>:\d{2})?$"
_AMPM_AFTER = r"^(?P<date>.*?\d)\s+(?P<h>\d{1,2}):(?P<m>\d{2})(?P<s>:\d{2})?\s*(?P<half>[上下]午)$"
# Month names (``5 Jan 2024``, ``05-JAN-24``, ``Jan 5, 2024``), tried only on values
# with letters; commas are removed first.
_MONTH_NAMES = tuple(
    d + t
    for d in (
        "%d %b %Y",
        "%d %B %Y",
        "%d-%b-%Y",
        "%d-%b-%y",
        "%d/%b/%Y",
        "%b %d %Y",
        "%B %d %Y",
        "%Y-%b-%d",
    )
    for t in ("", " %H:%M:%S", " %H:%M")
)
_TZ_END = r"(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$"  # necessary for _TZ, and fast
NS_MIN, NS_MAX = pd.Timestamp.min.ceil("s"), pd.Timestamp.max.floor("s")


def _replace_where(t: pd.Series, where: pd.Series, pattern: str, repl: str) -> pd.Series:
    if not where.any():
        return t
    return t.where(~where, t[where].str.replace(pattern, repl, regex=True))


def _to_datetime(t: pd.Series, fmt: str) -> pd.Series:
    """``pd.to_datetime`` that never raises and returns naive wall-clock microseconds."""
    try:
        out = pd.to_datetime(t, format=fmt, errors="coerce")
    except (ValueError, OverflowError):  # mixed time zones left in the text
        out = pd.to_datetime(t, format=fmt, errors="coerce", utc=True)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[us]")


def _am_pm(t: pd.Series) -> pd.Series:
    """``2024/1/5 下午 3:05`` as ``2024/1/5 15:05`` (下午 12:xx is noon, 上午 12:xx
    midnight); an hour over 12 is left as it is (not a time, so not a date)."""
    parts = t.str.extract(_AMPM_BEFORE)
    after = t.str.extract(_AMPM_AFTER)
    parts = parts.fillna(after[parts.columns])
    hour = pd.to_numeric(parts["h"], errors="coerce")
    ok = hour.notna() & (hour <= 12)
    if not ok.any():
        return t
    h24 = hour[ok].astype(int) % 12 + np.where(parts.loc[ok, "half"] == "下午", 12, 0)
    text = (
        parts.loc[ok, "date"]
        + " "
        + h24.map("{:02d}".format)
        + ":"
        + parts.loc[ok, "m"]
        + parts.loc[ok, "s"].fillna("")
    )
    return t.where(~ok, text)


def date_kinds(values: pd.Series) -> np.ndarray:
    """Per value, bits: ``KIND_DAY_ONLY`` (``13/01/2024``: the first number can only be a
    day, 13 to 31, and the second is a month), ``KIND_MONTH_ONLY`` (``01/13/2024``), and
    ``KIND_SLASH`` or ``KIND_OTHER`` for every day-and-month value (``05/01/2024``;
    ``05-01-2024``, ``05.01.2024``). Only values that are ASCII text (the engines decide
    these in SQL)."""
    t = values.astype(str)
    out = np.zeros(len(t), dtype="int8")
    cand = t.str.contains(r"^\s*[0-9]{1,2}[/.-]", regex=True).to_numpy(dtype=bool)
    if not cand.any():
        return out
    sub = t[cand]
    sub = sub[~sub.str.contains(_NON_ASCII, regex=True)].str.strip()
    sub = sub[sub.str.match(DAY_MONTH)]
    if not len(sub):
        return out
    nums = sub.str.extract(r"^([0-9]{1,2})[/.-]([0-9]{1,2})").astype(int)
    a, b = nums[0].to_numpy(), nums[1].to_numpy()
    day = (a > 12) & (a <= 31) & (b >= 1) & (b <= 12)
    month = (b > 12) & (b <= 31) & (a >= 1) & (a <= 12)
    bits = (
        np.where(day, KIND_DAY_ONLY, 0)
        | np.where(month, KIND_MONTH_ONLY, 0)
        | np.where(sub.str.contains("/", regex=False), KIND_SLASH, KIND_OTHER)
    )
    out[t.index.get_indexer(sub.index)] = bits
    return out


def day_first(kinds: int, given: bool | None = None) -> bool | None:
    """The day/month order of a column from the OR of its :func:`date_kinds`: ``given``
    (``data.dayfirst``) when set; day first when some dates read only day first and none
    only month first, month first the other way round; when no value tells, month first
    for ``05/01/2024`` (US exports) and day first for ``05.01.2024`` and ``05-01-2024``
    (when the column has no slashes). None when the column contradicts itself."""
    if given is not None:
        return bool(given)
    day, month = bool(kinds & KIND_DAY_ONLY), bool(kinds & KIND_MONTH_ONLY)
    if day and month:
        return None
    if day or month:
        return day
    return bool(kinds & KIND_OTHER) and not kinds & KIND_SLASH


def date_convention_error(
    *, file: str, column: str, day: tuple[str, int], month: tuple[str, int]
) -> DataError:
    """The error for a date column with dates that read only day first and others only
    month first: ``day`` and ``month`` are (value, row) examples, first in the file."""
    return DataError(
        f"Dates in column {column!r} are written both day first ({day[0]!r} (row {day[1]}) "
        f"can only be day/month/year) and month first ({month[0]!r} (row {month[1]}) can "
        "only be month/day/year), so dates such as 05/01/2024 cannot be read",
        where=f"{file}, column {column!r}, rows {min(day[1], month[1])} and "
        f"{max(day[1], month[1])}",
        hint="set data.dayfirst: true if the dates are day/month/year, or data.dayfirst: false "
        "if they are month/day/year; dates that do not fit are then rejected (bad_date)",
    )


def dayfirst_param(src) -> bool | None:
    """``data.dayfirst`` when it was given, else None (the column decides)."""
    value = getattr(src, "dayfirst", None)
    return None if value is None else bool(value)


def partial_dates(values: pd.Series) -> pd.Series:
    """Whether each value is a year, or a year and month, alone (``2024``, ``2024-03``): ASCII
    values only (the engines test these in SQL; others are ``bad_date``)."""
    t = values.astype(str)
    s = t.str.strip()
    short = (s.str.len() <= 7) & (s != "")
    out = pd.Series(False, index=values.index)
    if short.any():
        sub = t[short]
        sub = sub[~sub.str.contains(_NON_ASCII, regex=True)].str.strip()
        out[sub.index] = sub.str.match(PARTIAL_DATE)
    return out


def parse_dates_us(values: pd.Series, *, dayfirst: bool | None = None) -> pd.Series:
    """Like :func:`parse_dates` but in microseconds, so that years 1..9999 survive (the
    loader rejects dates before 1900 with their own reason)."""
    t = _fold_unicode(values.astype(str).str.strip())
    # The full patterns run in Python's re; a cheap test first keeps them off most rows.
    t = _replace_where(t, t.str.contains(_TZ_END, regex=True), _TZ, r"\1")
    t = _replace_where(t, t.str.contains("T", regex=False), r"(\d)T(\d)", r"\1 \2")
    ampm = t.str.contains("午", regex=False)
    if ampm.any():
        t = t.where(~ampm, _am_pm(t[ampm]))
    out = _to_datetime(t, "ISO8601")
    todo = out.isna() & (t != "")
    for fmt in _FALLBACK_FORMATS:
        if not todo.any():
            break
        got = _to_datetime(t[todo], fmt)
        out[got.index] = out[got.index].fillna(got)
        todo = out.isna() & (t != "")
    if todo.any():
        sub = t[todo]
        order = dayfirst
        if order is None:
            kinds = date_kinds(sub)
            order = day_first(int(np.bitwise_or.reduce(kinds)) if len(kinds) else 0)
        # one order for the column; a value that is no date that way is not a date (with
        # no decision, as for a column that contradicts itself, each value on its own)
        if order is None:
            got = _first_format(sub, _MONTHFIRST).fillna(_first_format(sub, _DAYFIRST))
        else:
            got = _first_format(sub, _DAYFIRST if order else _MONTHFIRST)
        out[sub.index] = got
        todo = out.isna() & (t != "")
    if todo.any():
        sub = t[todo]
        sub = sub[sub.str.contains(r"[A-Za-z]{3}", regex=True)]
        if len(sub):
            got = _first_format(
                sub.str.replace(",", " ", regex=False).str.replace(r"\s+", " ", regex=True),
                _MONTH_NAMES,
            )
            out[got.index] = got
            todo = out.isna() & (t != "")
    if todo.any():
        serial = pd.to_numeric(t[todo], errors="coerce")
        ok = serial.between(1, 2_958_465)  # Excel's 1900-01-01 .. 9999-12-31
        if ok.any():
            # in whole seconds: days as nanoseconds overflow after 2262 (a typo such as
            # 452960.5 raised OutOfBoundsTimedelta); such dates are rejected later
            seconds = np.round(serial[ok].to_numpy(dtype="float64") * 86_400).astype("int64")
            got = np.datetime64("1899-12-30", "s") + seconds.astype("timedelta64[s]")
            out[serial[ok].index] = pd.Series(got, index=serial[ok].index).astype("datetime64[us]")
    short = (t.str.len() <= 7) & out.notna()
    if short.any():  # a year (or year and month) alone read as the 1st: not a date
        out[short & t.str.match(PARTIAL_DATE)] = pd.NaT
    return out


def _first_format(t: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[us]")
    for fmt in formats:
        todo = out.isna()
        if not todo.any():
            break
        got = _to_datetime(t[todo], fmt)
        out[got.index] = got
    return out


def _to_ns(dates: pd.Series) -> pd.Series:
    inside = (dates >= NS_MIN) & (dates <= NS_MAX)
    return dates.where(inside).astype("datetime64[ns]")


def parse_dates(values: pd.Series, *, dayfirst: bool | None = None) -> pd.Series:
    """Parse dates in the common export formats (ISO, ``2024/1/5``, ``05.01.2024``,
    Excel serial numbers, ``2024年1月5日``, ``2024/1/5 下午 3:05``, ``5 Jan 2024``,
    ``05-JAN-24``, timestamps with a time zone, which keep their local wall-clock time).

    Day and month in either order (``05/01/2024``, ``05-01-2024``, ``05.01.2024``) are
    read in one order for all values: day first when ``dayfirst`` is True, month first
    when False (values that are no date that way become NaT); with None, the order the
    values show (:func:`day_first`: ``13/01/2024`` proves day first, ``01/13/2024`` month
    first; without proof ``05/01/2024`` is month first, ``05.01.2024`` and ``05-01-2024``
    day first). A year alone (``2024``, ``2024-03``), unparseable values and dates outside
    1677..2262 (which ``datetime64[ns]`` cannot hold) become NaT."""
    return _to_ns(parse_dates_us(values, dayfirst=dayfirst))


# Placeholders that exports write for "no value", and Excel's error values; as an ID
# they mean "no customer".
NULL_IDS = (
    "nan",
    "null",
    "none",
    "n/a",
    "#n/a",
    "na",
    "-",
    "--",
    "(null)",
    "<null>",
    "#ref!",
    "#value!",
    "#div/0!",
    "#name?",
    "#null!",
    "#num!",
    "#spill!",
    "#calc!",
    "#getting_data",
)
# Characters that do not show but would make two equal-looking IDs different: zero-width
# spaces and joiners, word joiner, byte-order mark, soft hyphen.
_INVISIBLE = "[\u200b-\u200f\u2060\ufeff\u00ad]"
# An ID that Excel turned into a rounded number (1.23457E+11, 1E+11, 1.23457E11, 1.2e+11):
# the digits are lost. A mantissa with a decimal point or an exponent with "+" is what a
# spreadsheet writes; "1E11" alone may be a real code and is kept.
ROUNDED_ID = r"^[0-9](?:\.[0-9]+)?[eE]\+[0-9]+$|^[0-9]\.[0-9]+[eE][0-9]+$"
MAX_ID_LENGTH = 200
# A transaction line of ten trillion or more (in any currency) is an export error; such
# values would also swamp every sum. Infinity (quantity x price overflow) is caught too.
MAX_AMOUNT = 1e13


def normalise_ids(values: pd.Series) -> pd.Series:
    """IDs stay strings: ``00123`` keeps its zeros; a float export ``17850.0`` is ``17850``;
    full-width digits are folded (``００１２３`` is ``00123``) and invisible characters
    (zero-width spaces, BOM) removed; a placeholder for a missing value (``NULL``, ``nan``,
    ``N/A``, ``-``) or an Excel error value (``#REF!``, ``#VALUE!``) is blank."""
    t = values.astype(str)
    odd = t.str.contains(r"[^\x00-\x7f]", regex=True)
    if odd.any():
        folded = t[odd].str.replace(_INVISIBLE, "", regex=True).str.normalize("NFKC")
        t = t.where(~odd, folded)
    t = t.str.strip()
    t = t.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return t.where(~t.str.lower().isin(NULL_IDS), "")


# --------------------------------------------------------------------------- load


def load(
    src: DataSource,
    *,
    as_of: dt.date | None = None,
    window_start: dt.date | None = None,
    window_months: int | None = None,
) -> LoadResult:
    """Read, map, parse and screen the transactions of one data source."""
    grid, info = read_table(src)
    # numeric Parquet columns: their text has a decimal point whatever data.decimal says
    numeric = frozenset(grid.attrs.get(_NUMERIC_ATTR, ()))
    # blank lines are not rows
    nonblank = grid.astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    grid = grid[nonblank]
    if grid.empty:
        raise DataError(
            f"The file {Path(src.path).name} is empty",
            where=str(src.path),
            hint="export the data again; the file has no rows",
        )
    header_pos, mapping = resolve_columns(grid, src, info)
    headers = [str(h).strip().lstrip("\ufeff") for h in grid.iloc[header_pos].tolist()]
    dupes = sorted({h for h in headers if h and headers.count(h) > 1})
    used_headers = set(mapping.values()) | set(src.attributes) | set(src.exclude)
    clash = [h for h in dupes if h in used_headers]
    if clash:
        raise DataError(
            f"Column name {clash[0]!r} appears more than once in the header",
            where=f"{Path(src.path).name}{_sheet(info)}, header row {int(grid.index[header_pos])}",
            hint="rename the duplicate columns in the export, or map another "
            "column in data.columns",
        )
    if info["format"] in ("csv", "tsv"):
        _check_row_width(grid, header_pos, headers, src, info)
    headers = [h if h else f"column_{i + 1}" for i, h in enumerate(headers)]
    headers = dedupe_headers(headers)
    body = grid.iloc[header_pos + 1 :].copy()
    body.columns = headers
    info.update(
        header_row=int(grid.index[header_pos]),
        columns=mapping,
        attributes=list(src.attributes),
        rows_read=len(body),
    )
    if body.empty:
        raise DataError(
            f"The file {Path(src.path).name} has a header but no data rows",
            where=f"{Path(src.path).name}{_sheet(info)}",
            hint="export the data again including the transactions",
        )
    for name in src.exclude:
        if name not in headers:
            hint = closest(name, headers)
            raise DataError(
                f"Column {name!r} in data.exclude not found",
                where=f"{Path(src.path).name}{_sheet(info)}",
                hint=(f"did you mean {hint!r}? " if hint else "")
                + f"columns found: {', '.join(headers)}",
            )
    return _screen(
        body,
        src,
        mapping,
        info,
        as_of=as_of,
        window_start=window_start,
        window_months=window_months,
        numeric=numeric,
    )


def _check_row_width(
    grid: pd.DataFrame, header_pos: int, headers: list[str], src: DataSource, info: dict
) -> None:
    """A text row with values beyond the last header was split in the wrong places
    (usually an unquoted delimiter inside a value): stop rather than shift its values."""
    width = max(i for i, h in enumerate(headers) if h) + 1
    if width >= grid.shape[1]:
        return
    extra = grid.iloc[header_pos + 1 :, width:]
    bad = extra.apply(lambda c: c.astype(str).str.strip() != "").any(axis=1)
    if bad.any():
        row = int(bad.index[bad.to_numpy()][0])
        n_bad = int(bad.sum())
        fields = int(grid.loc[row].astype(str).str.strip().ne("").to_numpy().nonzero()[0].max()) + 1
        raise DataError(
            f"Row {row} of {Path(src.path).name} has {fields} fields but the header "
            f"has {width}" + (f" ({n_bad} rows like this)" if n_bad > 1 else ""),
            where=f"{Path(src.path).name}, row {row}",
            hint=f"a value probably contains the delimiter {info.get('delimiter')!r} "
            "without quotes: quote such values in the export, or set "
            "data.delimiter if it was guessed wrong",
        )


def dedupe_headers(headers: list[str]) -> list[str]:
    """Repeated column names made unique as the loader names them: the second
    ``amount`` becomes ``amount_1``, the third ``amount_2``."""
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        if h in seen:
            seen[h] += 1
            out.append(f"{h}_{seen[h]}")
        else:
            seen[h] = 0
            out.append(h)
    return out


def _screen(
    body: pd.DataFrame,
    src: DataSource,
    mapping: dict[str, str],
    info: dict,
    *,
    as_of,
    window_start,
    window_months,
    numeric: frozenset = frozenset(),
) -> LoadResult:
    reason = pd.Series(pd.NA, index=body.index, dtype="object")
    detail = pd.Series("", index=body.index, dtype="object")

    def mark(mask: pd.Series, code: str, text: pd.Series | str = "") -> None:
        new = mask & reason.isna()
        reason[new] = code
        if isinstance(text, pd.Series):
            detail[new] = text[new]
        elif text:
            detail[new] = text

    for col, values in src.exclude.items():
        hit = body[col].astype(str).str.strip().isin([str(v) for v in values])
        mark(hit, "excluded_value", col + " = " + body[col].astype(str))

    raw_cust = body[mapping["customer_id"]].astype(str)
    cust = normalise_ids(raw_cust)
    mark(
        cust == "",
        "missing_customer_id",
        ("value: " + raw_cust.str.strip().str.slice(0, 40)).where(raw_cust.str.strip() != "", ""),
    )
    long_id = cust.str.len() > MAX_ID_LENGTH
    if long_id.any():
        n_chars = cust[long_id].str.len().map("{:,}".format)
        mark(
            long_id,
            "bad_customer_id",
            ("customer id is " + n_chars + f" characters long (at most {MAX_ID_LENGTH})").reindex(
                body.index, fill_value=""
            ),
        )
    control = cust.str.contains(r"[\x00-\x1f\x7f]", regex=True)
    if control.any():
        mark(
            control,
            "bad_customer_id",
            "customer id contains control characters (line break, tab or NUL): "
            + cust.str.slice(0, 40).str.replace(r"[\x00-\x1f\x7f]", "?", regex=True),
        )
    rounded = cust.str.match(ROUNDED_ID)
    if rounded.any():
        mark(
            rounded,
            "rounded_customer_id",
            "value: " + cust.str.slice(0, 40) + " (rounded by Excel; the digits are lost)",
        )

    raw_dates = body[mapping["order_date"]].astype(str)
    file = f"{Path(src.path).name}{_sheet(info)}"
    kinds = date_kinds(raw_dates)
    order = day_first(int(np.bitwise_or.reduce(kinds)) if len(kinds) else 0, dayfirst_param(src))
    if order is None:
        raise date_convention_error(
            file=file,
            column=mapping["order_date"],
            day=_examples(raw_dates, (kinds & KIND_DAY_ONLY) > 0, 1)[0],
            month=_examples(raw_dates, (kinds & KIND_MONTH_ONLY) > 0, 1)[0],
        )
    dates_us = parse_dates_us(raw_dates, dayfirst=order)
    raw_text = "value: " + raw_dates.str.slice(0, 40)
    mark(partial_dates(raw_dates), "partial_date", raw_text)
    mark(dates_us.isna(), "bad_date", raw_text)
    mark(dates_us < pd.Timestamp("1900-01-01"), "implausible_date", raw_text)
    dates = _to_ns(dates_us)  # after 2262: not representable, so not a usable date
    mark(dates.isna(), "bad_date", raw_text + " (out of range)")
    # A transaction cannot be dated after tomorrow (tomorrow: time zones ahead of this
    # machine's clock). Without this, one typo (2204 for 2024) would move the default
    # as-of date two centuries ahead and every customer would look lost.
    tomorrow = today() + dt.timedelta(days=1)
    mark(
        dates >= pd.Timestamp(tomorrow + dt.timedelta(days=1)),
        "future_date",
        raw_text + f" (after {tomorrow}, the latest possible date)",
    )

    def amounts(role: str) -> pd.Series:
        return _column_amounts(
            body[mapping[role]].astype(str),
            decimal=decimal_param(src),
            column=mapping[role],
            file=file,
            typed=mapping[role] in numeric,
        )

    if "amount" in mapping:
        amount = amounts("amount")
        raw_amount = body[mapping["amount"]].astype(str).str.slice(0, 40)
    else:
        qty = amounts("quantity")
        price = amounts("unit_price")
        amount = qty * price
        raw_amount = (
            "quantity "
            + body[mapping["quantity"]].astype(str).str.slice(0, 20)
            + " x price "
            + body[mapping["unit_price"]].astype(str).str.slice(0, 20)
        )
    mark(amount.isna(), "bad_amount", "value: " + raw_amount)
    huge = amount.abs() >= MAX_AMOUNT
    if huge.any():
        mark(huge, "implausible_amount", "value: " + raw_amount + f" (limit ±{MAX_AMOUNT:,.0f})")
    mark(amount == 0, "zero_amount")

    if "order_id" in mapping:
        order = normalise_ids(body[mapping["order_id"]])
    else:
        order = pd.Series("", index=body.index, dtype="object")
    has_order = order != ""
    prefixes = tuple(src.cancellations.order_id_prefixes)
    # only a real order id can carry a cancellation prefix (not the customer|day key below)
    if prefixes:
        is_return = order.str.startswith(prefixes).fillna(False).astype(bool) & has_order
    else:
        is_return = pd.Series(False, index=body.index)
    day_key = cust + "|" + dates.dt.strftime("%Y-%m-%d").fillna("")
    order = order.where(has_order, day_key)

    if src.cancellations.negative_amounts:
        is_return = is_return | (amount < 0)
    amount = amount.where(~is_return, -amount.abs())

    # as-of date and analysis window are fixed from the valid rows
    valid = reason.isna()
    if as_of is None:
        last = dates[valid].max()
        if pd.isna(last):
            as_of = today()
        else:
            as_of = (last + pd.Timedelta(days=1)).date()
    if window_months is not None:
        window_start = (pd.Timestamp(as_of) - pd.DateOffset(months=window_months)).date()
    mark(
        dates >= pd.Timestamp(as_of),
        "after_as_of",
        "date " + dates.dt.strftime("%Y-%m-%d").fillna("") + f" >= as_of {as_of}",
    )
    if window_start is not None:
        mark(
            dates < pd.Timestamp(window_start),
            "before_window",
            "date " + dates.dt.strftime("%Y-%m-%d").fillna("") + f" < start {window_start}",
        )

    dup = body.duplicated(keep="first")
    info["duplicate_rows"] = int(dup.sum())
    if src.duplicate_rows == "reject":
        mark(dup, "duplicate_row", "duplicate of an earlier row")

    used = reason.isna()
    tx = pd.DataFrame(
        {
            "row": body.index[used].astype("int64"),
            "customer_id": cust[used].astype(str).to_numpy(),
            "order_id": order[used].astype(str).to_numpy(),
            "order_date": dates[used].to_numpy(),
            "amount": amount[used].round(6).to_numpy(),
            "is_return": is_return[used].to_numpy(dtype=bool),
        }
    )
    if "customer_name" in mapping:
        tx["customer_name"] = (
            body.loc[used, mapping["customer_name"]].astype(str).str.strip().to_numpy()
        )
    for name in src.attributes:
        tx[name] = body.loc[used, name].astype(str).str.strip().to_numpy()

    rej_mask = ~used
    rejected = pd.concat(
        [
            pd.DataFrame(
                {
                    "row": body.index[rej_mask].astype("int64"),
                    "reason": reason[rej_mask].astype(str).to_numpy(),
                    "category": reason[rej_mask]
                    .map({c: v[0] for c, v in REASONS.items()})
                    .to_numpy(),
                    "detail": detail[rej_mask].astype(str).to_numpy(),
                }
            ),
            body[rej_mask]
            .reset_index(drop=True)
            .rename(columns=lambda c: f"src_{c}")
            .set_axis(range(int(rej_mask.sum())), axis=0),
        ],
        axis=1,
    )
    counts = reason[rej_mask].value_counts()
    quality = pd.DataFrame(
        [
            {"reason": code, "category": cat, "description": desc, "rows": int(counts.get(code, 0))}
            for code, (cat, desc) in REASONS.items()
            if counts.get(code, 0)
        ],
        columns=["reason", "category", "description", "rows"],
    )
    info.update(
        rows_used=int(used.sum()),
        rows_rejected=int(rej_mask.sum()),
        return_rows=int(tx["is_return"].sum()),
        return_value=float(-tx.loc[tx["is_return"], "amount"].sum()),
    )
    return LoadResult(
        transactions=tx,
        rejected=rejected,
        quality=quality,
        source=info,
        as_of=as_of,
        window_start=window_start,
        attributes=tuple(src.attributes),
    )
