"""Transactions → customer features straight from the file, in DuckDB.

The file (CSV, CSV.gz, TSV or Parquet) is read by DuckDB and never materialised in
pandas; DuckDB keeps within ``memory_limit`` and spills to ``temp_directory``. The
loader's rules (``tiering.data.io``) are applied in SQL for the common shapes of values
and by ``tiering.data.io``'s own parsers for the rest (see :mod:`tiering.data.engines._rules`),
so every row gets the reason it gets in the pandas path.

One scan, when later steps want the (customer, month) aggregate, the used rows or the
value model's inputs (:func:`value_inputs_sql`) and the rows fit in memory (the rows
table's estimated size at most ``ROWS_TABLE_SHARE`` of ``memory_limit``; without those
asks the passes below are as fast and hold half the memory): every record is screened
once into a DuckDB table (:func:`_build_rows`: parsed values, reasons, reading flags,
the cells of the rejected rows) in file order, so that its place is its row number.
Everything else is read from that table: the reading facts, the duplicate count, the
aggregation (:func:`table_aggregate_sql`), same-date ties, the rejected rows, the (customer, month) aggregate
and the used rows (monthly revenue by tier, holdout check, migration), the value
model's inputs (purchase days and repeat spend per customer). A column read the wrong
way (the facts below) is scanned again into the table; rows rejected by a window
decided after the scan (``as_of`` not given, ``window_months`` given) are read again
from the file for the rejected-rows file. ``read_hook`` sees every read of the file.

Otherwise, passes over the file:

1. aggregation: one row per customer (the features) and one per rejection reason
   (counts), plus the column-wide facts the loader decides on the whole column (the
   day/month order of the dates, whether dots in amounts are between thousands). When
   those facts say a column must be read the other way, the pass runs again in that
   mode (rare: a day-first date column, ``250.000`` meaning 250000); a column that
   contradicts itself is refused as the loader refuses it. When ``as_of`` is not given
   but ``window_months`` is, a first pass finds the last valid date.

A CSV file that DuckDB refuses, or would read otherwise than the loader (text after a
closing quote, a space before an opening quote, an empty line before a record, which
DuckDB skips and the loader counts: looked for while the file is hashed),
is rewritten by the loader's own parser into a plain copy first (:func:`rewrite_csv`).
2. rejected rows: the rows whose hashes the aggregation listed, screened again with
   their original columns and file row numbers, written formula-safe, only when there
   are rejected rows and a path to write them to.
3. the value model's inputs, only when asked for (``value_inputs``): one more pass, as
   the aggregation keeps no more states per customer (see :func:`aggregate_sql`).
4. the duplicate count (``duplicates: count``): the rows' hashes sorted in memory, handed
   over by the rejected-rows pass of a CSV file (which reads every record) or by a scan
   of their own, after the aggregation; a GROUP BY pass first when the hashes would not
   fit ``HASHES_SHARE`` of ``memory_limit`` (:class:`RowHashes`).

Same-date ties: the rows table gives every row's place, and a customer's latest row is
the one with the latest date and then the latest place; a CSV aggregated straight from
the file has no places, and its customers whose latest rows differ are settled by row.

Row numbers: Parquet rows carry theirs (``file_row_number``). DuckDB numbers CSV
records only in a single-threaded scan (``row_number() OVER ()``), so the passes that
need numbers (rejected rows, the transactions of a customer sample, same-date ties,
cells beyond the header) pick their records in a parallel scan that keeps insertion
order (:func:`_pick`); the single-threaded scan remains for ``duplicate_rows: reject``
and above ``MAX_POSITIONED_ROWS`` records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: pyarrow is imported where it is used
    import pyarrow as pa

import codecs
import datetime as dt
import gzip
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tiering import interrupt
from tiering.data.engines import _rules as R
from tiering.errors import DataError, TieringError, closest

HEAD_BYTES = 256 * 1024
UTF8 = ("utf-8", "utf-8-sig", "ascii", "utf8")


#: Called as ``read_hook(path, kind)`` each time the engine reads the input file (or its
#: transcoded or rewritten copy): ``kind`` is ``"scan"`` (a DuckDB query reads every
#: record), ``"hash"`` (the SHA-256 of the bytes, beside the first scan), ``"copy"`` (a
#: UTF-8 or rewritten copy is made) or ``"head"`` (the first lines, to detect the layout).
#: None: nothing is called. Tests count the passes over the file with it.
read_hook = None


def _read(path, kind: str) -> None:
    if read_hook is not None:
        read_hook(Path(path), kind)


class UnsupportedSource(TieringError):
    """The streaming engine cannot read this source (the pandas engine can)."""


# --------------------------------------------------------------------------- SQL helpers


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _list(values) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


WS_ASCII = lit(R.WS_ASCII)
WS_ALL = lit(R.WS_ALL)
NUM_RE = lit(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?")
ISO_FORMATS = _list(["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f"])
YMD_SLASH_FORMATS = _list(["%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d"])
DMY_FORMATS = _list([f"%d{s}%m{s}%Y{t}" for s in "/-." for t in (" %H:%M:%S", " %H:%M", "")])
MDY_FORMATS = _list([f"%m{s}%d{s}%Y{t}" for s in "/-." for t in (" %H:%M:%S", " %H:%M", "")])
DAY_MONTH_RE = lit(R.DAY_MONTH)
PARTIAL_DATE_RE = lit(R.PARTIAL_DATE)
# non-ASCII characters that the loader's currency clean-up removes after NFKC folding
CURRENCY_NON_ASCII = lit("[¥￥€£\u00a0元]")
CURRENCY_ASCII = lit(r"[\t\n\x0b\x0c\r\x1c-\x1f ]|\$|RMB|CNY|USD|EUR|GBP")


def _is_ascii(x: str) -> str:
    return f"(strlen({x}) = length({x}))"


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Modes:
    """Column-wide reading decisions (the loader takes them on the whole column)."""

    dayfirst: bool = False
    thousands: tuple[str, ...] = ()  # amount roles whose "250.000" is 250000
    decimal: str | None = None  # data.decimal: "." or "," for every amount role

    def reads_thousands(self, role: str) -> bool:
        return self.decimal == "," or (self.decimal is None and role in self.thousands)


@dataclass
class Layout:
    """How to read the source and what its columns are."""

    path: Path
    fmt: str
    reader: str  # the FROM clause (a DuckDB table function)
    row_expr: str | None  # the loader's row number of each record (None: a CSV
    # file; see ``numbered`` and :func:`_pick`)
    headers: list[str]  # final header names (blank → column_N, de-duplicated)
    raw: list[str]  # SQL selecting column i from the reader (as r<i>)
    cols: list[str]  # SQL of the loader's text of column i, over r<i>
    typed: dict[str, str]  # role → SQL of a typed value over r<i> (Parquet)
    mapping: dict[str, str]  # role → header
    info: dict = field(default_factory=dict)
    guess: Modes | None = None  # the reading the head of the file suggests (first pass)
    table_bytes: int | None = None  # the rows table's estimated size (:func:`_table_bytes`)
    rows_estimate: int | None = None  # the records in the file, estimated from its head

    def col(self, header: str) -> str:
        return self.cols[self.headers.index(header)]


# --------------------------------------------------------------------------- inspection


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _head(path: Path, gz: bool, n: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """The first ``n`` bytes, read on (up to ``tiering.data.io.MAX_HEAD_BYTES``) until they hold
    the first lines whole (a header line can be longer than ``n``), and whether the file
    goes on after them."""
    import gzip

    from tiering.data.io import MAX_HEAD_BYTES, MAX_HEADER_SCAN

    _read(path, "head")
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        data = fh.read(n)
        while len(data) < MAX_HEAD_BYTES and data.count(b"\n") <= MAX_HEADER_SCAN:
            more = fh.read(n)
            if not more:
                return data, False
            data += more
        return data, bool(fh.read(1))


def _prepare_headers(grid: pd.DataFrame, src, info: dict) -> tuple[int, dict, list[str]]:
    """Header row, role mapping and final header names, as ``tiering.data.io.load`` finds them."""
    from tiering.data import io as _io

    nonblank = grid.astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    grid = grid[nonblank]
    if grid.empty:
        raise DataError(
            f"The file {Path(src.path).name} is empty",
            where=str(src.path),
            hint="export the data again; the file has no rows",
        )
    header_pos, mapping = _io.resolve_columns(grid, src, info)
    headers = [str(h).strip().lstrip("\ufeff") for h in grid.iloc[header_pos].tolist()]
    dupes = sorted({h for h in headers if h and headers.count(h) > 1})
    used = set(mapping.values()) | set(src.attributes) | set(src.exclude)
    clash = [h for h in dupes if h in used]
    header_row = int(grid.index[header_pos])
    if clash:
        raise DataError(
            f"Column name {clash[0]!r} appears more than once in the header",
            where=f"{Path(src.path).name}, header row {header_row}",
            hint="rename the duplicate columns in the export, or map another "
            "column in data.columns",
        )
    width = max([i for i, h in enumerate(headers) if h], default=0) + 1
    headers = [h if h else f"column_{i + 1}" for i, h in enumerate(headers)]
    final = _io.dedupe_headers(headers)  # the loader's names for repeated headers
    for name in src.exclude:
        if name not in final:
            hint = closest(name, final)
            raise DataError(
                f"Column {name!r} in data.exclude not found",
                where=Path(src.path).name,
                hint=(f"did you mean {hint!r}? " if hint else "")
                + f"columns found: {', '.join(final)}",
            )
    info.update(
        header_row=header_row, columns=mapping, attributes=list(src.attributes), header_width=width
    )
    return header_row, mapping, final


def inspect(src, workdir: Path) -> Layout:
    """Find format, encoding, delimiter, header row and column roles of ``src`` from the
    head of the file (with ``tiering.data.io``'s own detection), and how DuckDB reads it."""
    from tiering.data import io as _io

    path = Path(src.path)
    if not path.is_file():
        raise DataError(
            f"Data file not found: {path}",
            where="data.path",
            hint="check the path; relative paths are resolved against the "
            "folder of the parameter file",
        )
    fmt = _io.detect_format(path) if src.format == "auto" else src.format
    info = {"path": str(path), "format": fmt, "bytes": path.stat().st_size}
    if fmt == "xlsx":
        raise UnsupportedSource(
            "Excel workbooks are read by the pandas engine",
            where=str(path),
            hint="use engine: pandas (or auto)",
        )
    if fmt == "parquet":
        return _inspect_parquet(path, src, info)
    return _inspect_csv(path, src, fmt, info, workdir)


def _inspect_csv(path: Path, src, fmt: str, info: dict, workdir: Path) -> Layout:
    from tiering.data import io as _io

    gz = _is_gzip(path)
    try:
        sample, more = _head(path, gz)
    except (EOFError, OSError, zlib.error) as exc:
        if gz and not isinstance(exc, FileNotFoundError):
            raise _io.gzip_error(path, fmt) from None
        raise
    if more:  # whole lines only
        cut = sample.rfind(b"\n")
        if cut > 0:
            sample = sample[: cut + 1]
    # records in the file, from the head's mean line (a compressed file: 5 times its size)
    rows = sample.count(b"\n") or 1
    if more:
        rows = int(info["bytes"] * (5 if gz else 1) * rows / len(sample))
    # the loader's own reading of the head: encoding, delimiter, the grid, the header
    head_dir = Path(tempfile.mkdtemp(prefix="head-", dir=workdir))
    head = head_dir / path.name  # same name: the loader's messages name the file
    head.write_bytes(sample)
    head_src = src.model_copy(update={"path": head, "format": fmt})
    grid, head_info = _io.read_table(head_src)
    info.update(encoding=head_info.get("encoding"), delimiter=head_info.get("delimiter"))
    header_row, mapping, headers = _prepare_headers(grid, src, info)
    shutil.rmtree(head_dir, ignore_errors=True)
    width = max(grid.shape[1], len(headers))
    headers += [f"column_{i + 1}" for i in range(len(headers), width)]
    enc = (info["encoding"] or "utf-8").lower().replace("_", "-")
    read_path = path
    if enc not in UTF8:
        read_path = transcode(path, workdir, enc, gz=gz, found=info)
        gz = False
        info["transcoded_from"] = enc
    names = [f"c{i}" for i in range(width)]
    cols_decl = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
    delim = info["delimiter"] or ","
    reader = (
        f"read_csv({lit(str(read_path))}, header = false, skip = {header_row}, "
        f"columns = {cols_decl}, auto_detect = false, delim = {lit(delim)}, "
        f"quote = '\"', escape = '\"', null_padding = true, strict_mode = true, "
        f"compression = {lit('gzip' if gz else 'none')}, "
        "encoding = 'utf-8' __PARALLEL__)"
    )
    return Layout(
        path=read_path,
        fmt="csv",
        reader=reader,
        row_expr=None,
        headers=headers,
        raw=[f"c{i}" for i in range(width)],
        cols=[f"r{i}" for i in range(width)],
        typed={},
        mapping=mapping,
        info=info,
        guess=_guess(grid, header_row, headers, mapping, src),
        table_bytes=_table_bytes(grid, header_row, headers, mapping, src, rows),
        rows_estimate=rows,
    )


def _guess(grid: pd.DataFrame, header_row: int, headers: list[str], mapping: dict, src) -> Modes:
    """The reading the head of the file suggests (the loader's decisions on the rows it
    holds), so that the first pass is usually the only one; the whole file decides."""
    from tiering.data import io as _io

    body = grid[grid.index > header_row]

    def col(role):
        i = headers.index(mapping[role])
        return body[i].astype(str) if i < body.shape[1] else pd.Series([], dtype=str)

    given = _io.dayfirst_param(src)
    kinds = _io.date_kinds(col("order_date"))
    dayfirst = _io.day_first(int(np.bitwise_or.reduce(kinds)) if len(kinds) else 0, given)
    decimal = _io.decimal_param(src)
    roles = ("amount",) if "amount" in mapping else ("quantity", "unit_price")
    thousands = (
        ()
        if decimal is not None
        else tuple(r for r in roles if _io.thousands_dots(_io.amount_shapes(col(r))))
    )
    return Modes(dayfirst=bool(dayfirst), thousands=thousands, decimal=decimal)


def transcode(
    path: Path, workdir: Path, encoding: str, *, gz: bool = False, found: dict | None = None
) -> Path:
    """A UTF-8 copy of a text file in another encoding (DuckDB reads UTF-8), streamed.
    ``found``: ``found["space_quote"]`` is set when DuckDB would read the text otherwise
    than the loader: a space before an opening quote or an empty line before a record
    (see :func:`hash_and_scan`)."""
    import gzip

    delim = (found or {}).get("delimiter")
    pattern = _space_quote(delim).pattern.decode() if found is not None and delim else None
    empty = _EmptyLines(int(found.get("header_row") or 1)) if found is not None and delim else None
    tail = ""

    _read(path, "copy")
    out = Path(tempfile.mkstemp(prefix="utf8-", suffix=".csv", dir=workdir)[1])
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as fin, open(out, "w", encoding="utf-8", newline="") as fout:
            first = True
            while block := fin.read(16 << 20):
                text = dec.decode(block)
                if first:
                    text, first = text.lstrip("\ufeff"), False
                if pattern and (' "' in text or '\t"' in text):
                    if re.search(pattern, tail + text, re.M):
                        found["space_quote"], pattern = True, None
                if empty is not None:
                    empty.feed(text)
                tail = text[-256:]
                fout.write(text)
            fout.write(dec.decode(b"", final=True))
        if empty is not None and empty.found:
            found["space_quote"] = True  # (read as the loader reads it, the same way)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        out.unlink(missing_ok=True)
        from tiering.data.io import gzip_error

        raise gzip_error(path) from None
    except UnicodeDecodeError:
        out.unlink(missing_ok=True)
        raise DataError(
            f"{path.name} is not valid {encoding} text",
            where=str(path),
            hint="set data.encoding to the file's encoding, e.g. utf-8, gb18030, utf-16 or latin-1",
        ) from None
    return out


def _space_quote(delim: str) -> re.Pattern[bytes]:
    """A space (or tab) before an opening quote: at the start of a line or after the
    delimiter (``a, "b"``). The loader reads ``"b"`` with its quotes, DuckDB without."""
    spaces = rb" +" if delim == "\t" else rb"[ \t]+"
    return re.compile(rb"(?:^|[\r\n" + re.escape(delim.encode()) + rb"])" + spaces + rb'"', re.M)


def _has_empty_line(text) -> bool:
    """Whether ``text`` has ``\\n\\n`` (or ``\\r\\n\\r\\n``). For bytes, by NumPy
    over its pairs (and quadruples) of bytes at each alignment: 0.1 ms a MB of CSV, where
    ``bytes.find`` takes 0.7 (a line break every 70 bytes stops its search at each)."""
    if not isinstance(text, bytes):
        return "\n\n" in text or "\n\r\n" in text
    n = len(text)
    if n < 64:  # the seams between blocks
        return b"\n\n" in text or b"\n\r\n" in text
    for off in (0, 1):
        m = (n - off) // 2
        if m > 0 and (np.frombuffer(text, np.uint16, m, off) == 0x0A0A).any():
            return True
    if b"\r" in text:
        for off in range(4):
            m = (n - off) // 4
            if m > 0 and (np.frombuffer(text, np.uint32, m, off) == 0x0A0D0A0D).any():
                return True
    return False


class _EmptyLines:
    """Whether a text, fed block by block, has an empty line before a line that is not:
    DuckDB's CSV reader skips empty lines, where the loader counts them as rows, so the
    rows after one would get other numbers (the file is then read as the loader reads
    it: :func:`rewrite_csv`). Empty lines at the end of the file change no number, nor do
    those above the header (its ``header_row`` lines are passed over as DuckDB skips
    them)."""

    def __init__(self, header_row: int = 1):
        self.skip = header_row  # the lines up to the header's, still to pass over
        self.offset = 0
        self.first_empty = None  # offset of the first empty line
        self.last_text = -1  # offset of the last byte that is not a line break
        self.tail = b""  # the last two bytes (characters) of the text before

    def feed(self, text) -> None:
        """The next block, bytes or text (a transcoded file's)."""
        nl, cr = (b"\n", b"\r") if isinstance(text, bytes) else ("\n", "\r")
        if not self.tail:
            self.tail = text[:0]  # of the text's type
        start = 0
        while self.skip and start >= 0:  # the header's line break, once found
            start = text.find(nl, start)
            if start >= 0:
                self.skip -= 1
                start += 1
        if self.skip:  # the header goes on in the next block
            self.offset += len(text)
            return
        if start > 0:  # the first block after the header: only from its line break on
            self.tail, text_from = text[start - 1 : start], start
        else:
            text_from = 0
        if self.first_empty is None:
            body = text[text_from:] if text_from else text
            if _has_empty_line(self.tail + body[:3]) or _has_empty_line(body):
                seen = self.tail + body  # where: once a file
                hits = [i for i in (seen.find(nl + nl), seen.find(nl + cr + nl)) if i >= 0]
                self.first_empty = self.offset + text_from - len(self.tail) + min(hits)
        kept = text.rstrip(cr + nl)
        if kept:
            self.last_text = self.offset + len(kept) - 1
        self.offset += len(text)
        self.tail = text[-2:]

    @property
    def found(self) -> bool:
        return self.first_empty is not None and self.first_empty < self.last_text


class _Stopped(Exception):
    """:func:`hash_and_scan` was told to stop (the step ended without its result)."""


def hash_and_scan(
    path: Path, delimiter: str | None = None, header_row: int = 1, stop=None
) -> tuple[str, bool]:
    """(SHA-256 of the file, whether DuckDB would read its text otherwise than the loader:
    a space before an opening quote, see :func:`_space_quote`, or an empty line before
    the last record, see :class:`_EmptyLines`; only looked for with a ``delimiter``, in
    plain or gzip-compressed UTF-8 text), in one read of the file. ``stop`` (a
    ``threading.Event``): raise :class:`_Stopped` at the next megabyte once it is set, so
    that a step stopped by Ctrl-C or an error does not wait for the rest of a big file
    (2.8 s at 100M rows)."""
    import hashlib

    _read(path, "hash")
    h = hashlib.sha256()
    pattern = _space_quote(delimiter) if delimiter else None
    empty = _EmptyLines(header_row) if delimiter else None
    found, tail = False, b""
    dec = [zlib.decompressobj(16 + zlib.MAX_WBITS)] if pattern and _is_gzip(path) else None
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            if stop is not None and stop.is_set():
                raise _Stopped
            h.update(block)
            if pattern is None or found:
                continue
            try:
                text = block if dec is None else _inflate(dec, block)
            except zlib.error:
                pattern = None  # damaged: the reader says so
                continue
            empty.feed(text)
            # memchr first: most blocks of most files have no quote at all
            if b'"' in text and (
                b' "' in text or b'\t"' in text or (tail[-1:] in (b" ", b"\t") and text[:1] == b'"')
            ):
                found = pattern.search(tail + text) is not None
            tail = text[-256:]
    return h.hexdigest(), found or (empty is not None and empty.found)


def _inflate(state: list, block: bytes) -> bytes:
    """Decompress the next block of a gzip file of one or more members (``state``: the
    decompressor, replaced at the start of each member)."""
    out = state[0].decompress(block)
    while state[0].eof and state[0].unused_data:
        rest = state[0].unused_data
        state[0] = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += state[0].decompress(rest)
    return out


def rewrite_csv(lay: Layout, src, workdir: Path) -> Path:
    """A well-formed UTF-8 copy of the CSV file from its header row on, read by the
    loader's own parser (pandas, in chunks), so that DuckDB reads every value as the loader
    does. For files DuckDB refuses or reads otherwise: text after a closing quote
    (``"Quote" & <Co>``), a space before an opening quote (``a, "b"``), mixed line endings.
    What the loader refuses (an unclosed quote, a line too wide) is refused with its
    message."""
    import csv

    from tiering.data import io as _io

    path = Path(src.path)
    delim = lay.info.get("delimiter") or ","
    enc = lay.info.get("encoding") or "utf-8"
    _read(path, "copy")
    out = Path(tempfile.mkstemp(prefix="rewritten-", suffix=".csv", dir=workdir)[1])
    drop = int(lay.info["header_row"]) - src.skip_rows - 1  # records above the header
    try:
        chunks = pd.read_csv(
            path,
            sep=delim,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=enc,
            skiprows=src.skip_rows,
            names=range(len(lay.raw)),
            skip_blank_lines=False,
            compression="gzip" if _is_gzip(path) else None,
            engine="c",
            quoting=csv.QUOTE_MINIMAL,
            on_bad_lines="error",
            chunksize=100_000,
        )
        with chunks, open(out, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                if drop > 0:
                    chunk, drop = chunk.iloc[drop:], drop - min(drop, len(chunk))
                chunk.to_csv(
                    fh, header=False, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL
                )
    except pd.errors.ParserError as exc:
        out.unlink(missing_ok=True)
        err = _io.csv_parser_error(exc, path.name, delim)
        raise err or DataError(
            f"Could not read {path.name} as csv: {exc}", where=str(path), hint=_io.READ_HINTS["csv"]
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile):
        out.unlink(missing_ok=True)
        raise _io.gzip_error(path, lay.info.get("format") or "csv") from None
    except UnicodeDecodeError:
        out.unlink(missing_ok=True)
        raise DataError(
            f"{path.name} is not valid {enc} text",
            where=str(path),
            hint="set data.encoding to the file's encoding, e.g. utf-8, gb18030, utf-16 or latin-1",
        ) from None
    lay.info["rewritten"] = True
    return out


def _use_copy(lay: Layout, path: Path, *, skip: int | None = None) -> None:
    """Read ``lay`` from ``path`` (a plain UTF-8 copy of the file: transcoded, rewritten)
    from now on; ``skip``: lines before the header in the copy."""
    lay.path = path
    lay.reader = re.sub(
        r"read_csv\('(?:[^']|'')*'", f"read_csv({lit(str(path))}", lay.reader, count=1
    )
    lay.reader = re.sub(r"compression = '[a-z]+'", "compression = 'none'", lay.reader)
    if skip is not None:
        lay.reader = re.sub(r"skip = \d+", f"skip = {skip}", lay.reader, count=1)


def _inspect_parquet(path: Path, src, info: dict) -> Layout:
    import duckdb

    _read(path, "head")
    con = interrupt.track(duckdb.connect())
    try:
        rel = con.sql(f"SELECT * FROM read_parquet({lit(str(path))})")
        names, types = list(rel.columns), [str(t) for t in rel.types]
        head = rel.limit(30).df()
    except duckdb.Error as exc:
        raise DataError(
            f"Could not read {path.name} as parquet: {exc}",
            where=str(path),
            hint="check the file is a complete Parquet file (export it again), or set data.format",
        ) from None
    finally:
        con.close()
    text = [_parquet_text(f"r{i}", t) for i, t in enumerate(types)]
    # the file's own column names: DuckDB renames repeated ones ("amount", "amount_1",
    # also "Amount" after "amount"), which the loader refuses when they are used
    import pyarrow.parquet as pq

    own = [str(n) for n in pq.read_schema(path).names]
    grid = pd.concat(
        [
            pd.DataFrame([own if len(own) == len(names) else list(map(str, names))]),
            pd.DataFrame(
                {
                    i: head[c].astype(object).where(head[c].notna(), "").map(str)
                    for i, c in enumerate(head.columns)
                }
            ),
        ],
        ignore_index=True,
    )
    grid.index = pd.RangeIndex(1, len(grid) + 1)
    header_row, mapping, headers = _prepare_headers(grid, src, info)
    typed = {}
    for role in ("order_date", "amount", "quantity", "unit_price"):
        if role in mapping:
            i = headers.index(mapping[role])
            expr = _parquet_typed(f"r{i}", types[i], role)
            if expr:
                typed[role] = expr
    info.update(encoding=None, delimiter=None)
    reader = f"read_parquet({lit(str(path))}, file_row_number = true)"
    rows = pq.read_metadata(path).num_rows
    return Layout(
        path=path,
        fmt="parquet",
        reader=reader,
        row_expr=f"(file_row_number + {header_row + 1})",
        headers=headers,
        raw=[ident(n) for n in names],
        cols=text,
        typed=typed,
        mapping=mapping,
        info=info,
        table_bytes=_table_bytes(grid, header_row, headers, mapping, src, rows),
        rows_estimate=rows,
    )


# The rows table's size (:func:`_build_rows`), uncompressed in memory: about 64 bytes a
# row for the fixed-width columns, and per text column 6 bytes and its characters
# (measured: 121 bytes a row on the synthetic files, an 8-character customer id, an
# 11-character order id, a 15-character name and a 5-character attribute; estimated 126)
ROW_BYTES_FIXED = 64


def _table_bytes(grid, header_row: int, headers: list[str], mapping: dict, src, rows: int) -> int:
    """The estimated size of the rows table of a file of ``rows`` records, from the
    texts of the customer id, the order id and the attributes in the head (``grid``)."""
    body = grid[grid.index > header_row]
    names = [mapping["customer_id"], mapping.get("order_id")]
    names += [mapping["customer_name"]] if "customer_name" in mapping else []
    names += [a for a in src.attributes if a != "customer_name"]
    per_row = ROW_BYTES_FIXED
    for name in names:
        i = headers.index(name) if name in headers else None
        texts = body[i].astype(str) if i is not None and i < body.shape[1] else None
        per_row += 6 + (float(texts.str.len().mean()) if texts is not None and len(texts) else 8)
    return int(rows * per_row)


# The file is read once into the rows table when its estimated size is at most this
# share of DuckDB's memory limit; beyond, the passes read the file (at 100M rows, a 12 GB
# table against a 3.8GB limit spilled while being written: 1.4 times the passes' time,
# and a peak of 5.5 GB; see BENCHMARKS.md)
ROWS_TABLE_SHARE = 0.75


def _memory_bytes(limit: str) -> float:
    """Bytes of a DuckDB memory limit (``4GB``, ``3.5GiB``, ``75%`` of the machine's)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%|[KMGT]?)(i?)B?\s*", limit)
    if m is None:
        return float("inf")
    value, unit, binary = float(m.group(1)), m.group(2), m.group(3)
    if unit == "%":
        return value / 100 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return value * (1024 if binary else 1000) ** " KMGT".index(unit or " ")


_NUMERIC = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|"
    r"UBIGINT|FLOAT|DOUBLE|DECIMAL.*)$"
)


def _parquet_text(col: str, t: str) -> str:
    """The text the loader makes of a Parquet value (``tiering.data.io._to_text``)."""
    if t.startswith("TIMESTAMP"):
        return f"coalesce(strftime({col}, '%Y-%m-%d %H:%M:%S'), '')"
    if t == "BOOLEAN":
        return f"coalesce(CASE WHEN {col} THEN 'True' ELSE 'False' END, '')"
    if t in ("FLOAT", "DOUBLE"):
        return (
            f"coalesce(CASE WHEN isnan({col}) THEN '' WHEN isinf({col}) THEN "
            f"CASE WHEN {col} > 0 THEN 'inf' ELSE '-inf' END ELSE CAST({col} AS VARCHAR) END, '')"
        )
    return f"coalesce(CAST({col} AS VARCHAR), '')"


def _parquet_typed(col: str, t: str, role: str) -> str | None:
    if role == "order_date":
        if t == "DATE" or t.startswith("TIMESTAMP") and "TIME ZONE" not in t:
            return f"date_trunc('second', CAST({col} AS TIMESTAMP))"
        return None
    if _NUMERIC.match(t):
        return f"CASE WHEN isfinite(CAST({col} AS DOUBLE)) THEN CAST({col} AS DOUBLE) END"
    return None


# --------------------------------------------------------------------------- UDFs


def register_udfs(con, modes: Modes, amount_roles: tuple[str, ...]) -> list[str]:
    """Python functions for the values the SQL does not parse (tiering.data.io's parsers)."""
    import pyarrow as pa

    names = []

    def add(name, fn, params, ret):
        con.create_function(
            name, fn, params, ret, type="arrow", side_effects=False, null_handling="special"
        )
        names.append(name)

    def ids(a):
        return pa.array(R.ids(a.to_pylist()), type=pa.string())

    def dates(a):
        out = R.dates(a.to_pylist(), dayfirst=modes.dayfirst)
        return pa.array(
            out.astype("datetime64[us]").to_numpy(),
            type=pa.timestamp("us"),
            mask=out.isna().to_numpy(),
        )

    def shapes(a):
        return pa.array(R.amount_shapes(a.to_pylist()), type=pa.int32())

    add("tiering_ids", ids, ["VARCHAR"], "VARCHAR")
    add("tiering_dates", dates, ["VARCHAR"], "TIMESTAMP")
    add("tiering_amount_shape", shapes, ["VARCHAR"], "INTEGER")

    def amounts_for(thousands: bool):
        def amounts(a):
            v = R.amounts(a.to_pylist(), decimal=modes.decimal, thousands=thousands)
            return pa.array(v, type=pa.float64(), mask=np.isnan(v))

        return amounts

    for role in amount_roles:
        add(
            f"tiering_amounts_{role}",
            amounts_for(modes.reads_thousands(role)),
            ["VARCHAR"],
            "DOUBLE",
        )
    return names


# --------------------------------------------------------------------------- expressions


_UNICODE_WS = "\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EDGE_WS = lit(f"^[\\x00-\\x20{_UNICODE_WS}]|[\\x00-\\x20{_UNICODE_WS}]$")


def strip_all(c: str) -> str:
    """Python's ``str.strip()`` of a nullable text (NULL → ''); the full trim (slow in
    DuckDB) only runs for values that start or end with a space or a control character."""
    edge = (
        f"(ascii({c}) <= 32 OR ascii(right({c}, 1)) <= 32 OR "
        f"(strlen({c}) <> length({c}) AND regexp_matches({c}, {_EDGE_WS})))"
    )
    return f"(CASE WHEN {c} IS NULL THEN '' WHEN {edge} THEN trim({c}, {WS_ALL}) ELSE {c} END)"


def strip_ascii(c: str) -> str:
    """``str.strip()`` of an ASCII text."""
    return (
        f"(CASE WHEN ascii({c}) > 32 AND ascii(right({c}, 1)) > 32 THEN {c} "
        f"ELSE trim({c}, {WS_ASCII}) END)"
    )


# tiering.data.io.ROUNDED_ID for RE2 (no anchors: regexp_full_match)
ROUNDED_ID_RE2 = "[0-9]([.][0-9]+)?[eE][+][0-9]+|[0-9][.][0-9]+[eE][0-9]+"


# An ID that is printable ASCII without spaces, '.', '+' and not starting like a
# placeholder (nan, null, n/a, -, #N/A, (null), <null>) is already normalised.
PLAIN_ID = r"[^\x21-\x7e]|^[-#(<nN]|[.+]"


def id_plain(c: str) -> str:
    return f"({c} IS NOT NULL AND NOT regexp_matches({c}, {lit(PLAIN_ID)}))"


def id_expr(c: str, plain: str) -> str:
    """``tiering.data.io.normalise_ids`` for one text column; ``plain`` is the SQL of
    :func:`id_plain` (computed once)."""
    t = strip_ascii(c)
    nulls = " OR ".join(f"lower({t}) = {lit(v)}" for v in R.NULL_IDS)
    ascii_ = (
        f"(CASE WHEN length({t}) <= 13 AND ({nulls}) THEN '' "
        f"WHEN contains({t}, '.') AND regexp_full_match({t}, '[0-9]+[.]0+') "
        f"THEN split_part({t}, '.', 1) ELSE {t} END)"
    )
    return (
        f"(CASE WHEN {plain} THEN {c} WHEN {c} IS NULL OR {c} = '' THEN '' "
        f"WHEN {_is_ascii(c)} THEN {ascii_} ELSE tiering_ids({c}) END)"
    )


def date_plain(c: str) -> str:
    """A timestamp written ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DD HH:MM`` or ``YYYY-MM-DD``
    (the common export shapes), by one strptime chosen by the length; NULL for every
    other value. A 4-digit year is checked through the value (cheaper than the text)."""
    v = (
        f"(CASE strlen({c}) WHEN 19 THEN try_strptime({c}, '%Y-%m-%d %H:%M:%S') "
        f"WHEN 10 THEN try_strptime({c}, '%Y-%m-%d') "
        f"WHEN 16 THEN try_strptime({c}, '%Y-%m-%d %H:%M') END)"
    )
    return (
        f"(CASE WHEN {v} >= TIMESTAMP '1000-01-01' AND {v} < TIMESTAMP '10000-01-01' THEN {v} END)"
    )


def _day_month(t: str) -> str:
    """Whether an ASCII, stripped text is a day and month in either order (``05/01/2024``,
    ``5-1-2024 9:30``, ``05.01.2024``): ``tiering.data.io.DAY_MONTH``, a cheap test first."""
    seps = "('/', '-', '.')"
    return f"(({t}[2] IN {seps} OR {t}[3] IN {seps}) AND regexp_matches({t}, {DAY_MONTH_RE}))"


def date_fast_expr(t: str, dayfirst: bool) -> str:
    """SQL parse of the common date shapes of an ASCII, stripped text ``t``; NULL for
    every other value (those go to the loader's parser). A day and month in either
    order is read in the column's order only (a value that is no date that way is
    NULL here and in the loader)."""
    order = f"try_strptime({t}, {DMY_FORMATS if dayfirst else MDY_FORMATS})"
    return (
        f"CASE WHEN {_day_month(t)} THEN {order} "
        f"WHEN {t}[5] = '-' AND {t}[1] BETWEEN '0' AND '9' "
        f"THEN try_strptime(replace({t}, 'T', ' '), {ISO_FORMATS}) "
        f"WHEN {t}[5] = '/' AND {t}[1] BETWEEN '0' AND '9' "
        f"THEN try_strptime({t}, {YMD_SLASH_FORMATS}) END"
    )


def date_kind_expr(t: str) -> str:
    """``tiering.data.io.date_kinds`` of an ASCII, stripped text: bits for a day and month whose
    first number can only be a day (1) or whose second can only be a day (2), and its
    separator (4: ``/``, 8: ``-`` or ``.``); 0 for every other value."""
    a = f"CAST(regexp_extract({t}, '^([0-9]{{1,2}})', 1) AS INTEGER)"
    b = f"CAST(regexp_extract({t}, '^[0-9]{{1,2}}[/.-]([0-9]{{1,2}})', 1) AS INTEGER)"
    return (
        f"CASE WHEN {_day_month(t)} "
        f"THEN (CASE WHEN {a} BETWEEN 13 AND 31 AND {b} BETWEEN 1 AND 12 "
        f"THEN {R.KIND_DAY_ONLY} WHEN {b} BETWEEN 13 AND 31 AND {a} BETWEEN 1 AND 12 "
        f"THEN {R.KIND_MONTH_ONLY} ELSE 0 END) "
        f"+ (CASE WHEN contains({t}, '/') THEN {R.KIND_SLASH} ELSE {R.KIND_OTHER} END) "
        "ELSE 0 END"
    )


def partial_date_expr(c: str) -> str:
    """``tiering.data.io.partial_dates`` of a nullable text: an ASCII year, or year and month,
    alone."""
    t = strip_ascii(c)
    return (
        f"({c} IS NOT NULL AND {_is_ascii(c)} AND strlen({t}) BETWEEN 1 AND 7 AND "
        f"regexp_matches({t}, {PARTIAL_DATE_RE}))"
    )


def _amount_clean(a: str) -> tuple[str, str]:
    """(number text, negative) of an ASCII amount text whose non-ASCII currency signs were
    removed: ``tiering.data.io._amount_text``."""
    s1 = f"regexp_replace({a}, {CURRENCY_ASCII}, '', 'g')"
    neg = f"(regexp_full_match({s1}, '[(].*[)]') OR regexp_full_match({s1}, '[^-]*[0-9]-'))"
    s2 = f"regexp_replace(regexp_replace({s1}, '^[(](.*)[)]$', '\\1'), '-$', '')"
    return s2, neg


def _shape_sql(s2: str) -> str:
    """``tiering.data.io.amount_shapes`` of a number text (:func:`_amount_clean`)."""
    return (
        f"(CASE WHEN NOT regexp_matches({s2}, '[.,]') THEN 0 "
        f"WHEN regexp_matches({s2}, {lit(R.EURO_NUMBER)}) OR "
        f"regexp_matches({s2}, {lit(R.DOT_GROUPS_MANY)}) THEN {R.SHAPE_THOUSANDS} "
        f"WHEN regexp_matches({s2}, {lit(R.DOT_GROUP)}) THEN {R.SHAPE_AMBIGUOUS} "
        f"WHEN regexp_matches({s2}, {lit(R.US_NUMBER)}) OR "
        f"regexp_matches({s2}, {lit(R.DOT_DECIMAL)}) THEN {R.SHAPE_DECIMAL} ELSE 0 END)"
    )


def amount_sql(a: str, *, decimal: str | None, thousands: bool) -> tuple[str, str]:
    """(value, shape) of ``tiering.data.io.parse_amounts`` and ``amount_shapes`` for an ASCII
    text ``a`` whose non-ASCII currency signs were removed, read with ``decimal``
    (``data.decimal``) and ``thousands`` (the column's ``250.000`` is 250000)."""
    s2, neg = _amount_clean(a)
    shape = _shape_sql(s2)
    swap = f"replace(replace({s2}, '.', ''), ',', '.')"
    if decimal == ",":
        ok = f"regexp_matches({s2}, {lit(R.COMMA_DECIMAL)})"
        s3 = (
            f"(CASE WHEN {ok} THEN {swap} WHEN regexp_matches({s2}, '[.,]') THEN NULL "
            f"ELSE {s2} END)"
        )
    elif decimal == ".":
        bad = (
            f"({shape} = {R.SHAPE_THOUSANDS} OR (contains({s2}, ',') AND NOT "
            f"regexp_matches({s2}, {lit(R.US_GROUPS)})))"
        )
        s3 = f"(CASE WHEN {bad} THEN NULL ELSE {s2} END)"
    else:
        conv = f"{shape} = {R.SHAPE_THOUSANDS}"
        if thousands:
            conv = f"{shape} IN ({R.SHAPE_THOUSANDS}, {R.SHAPE_AMBIGUOUS})"
        s3 = f"(CASE WHEN {conv} THEN {swap} ELSE {s2} END)"
    s4 = f"replace({s3}, ',', '')"
    v = (
        f"(CASE WHEN regexp_full_match({s4}, {NUM_RE}) AND isfinite(TRY_CAST({s4} AS DOUBLE)) "
        f"THEN TRY_CAST({s4} AS DOUBLE) END)"
    )
    return f"(CASE WHEN {neg} THEN -{v} ELSE {v} END)", shape


def amount_fast(c: str, role: str, modes: Modes) -> str:
    """The value of a plain number (``1234.5``, ``-12``, ``1e3``) by DuckDB's cast, which
    reads these as pandas does; NULL for everything else. (The cast also takes ``1_000``,
    which pandas does not, so values with ``_`` are left to the full rules; a column whose
    dots are between thousands, or with ``data.decimal: ','``, always takes the full rules.)"""
    if modes.reads_thousands(role):
        return "NULL::DOUBLE"
    return (
        f"(CASE WHEN NOT contains({c}, '_') AND isfinite(TRY_CAST({c} AS DOUBLE)) "
        f"THEN TRY_CAST({c} AS DOUBLE) END)"
    )


def fast_shape(c: str, v: str) -> str:
    """The shape of a value :func:`amount_fast` read (``v``): ``SHAPE_AMBIGUOUS`` for
    ``250.000``, else 0. (The decimal point of ``12.50`` is looked for only when a column
    has values like ``250.000``, by :func:`amount_shape_sql` in a query of its own.) Such a
    value is 1 to 999.999 and as long as its whole digits, a dot and three decimals: a
    test of the number and the length first (no string search on ``12.50``)."""
    digits = f"(CASE WHEN abs({v}) < 10 THEN 1 WHEN abs({v}) < 100 THEN 2 ELSE 3 END)"
    return (
        f"(CASE WHEN abs({v}) >= 1 AND abs({v}) < 1000 AND "
        f"strlen({c}) >= {digits} + 4 + ({v} < 0)::INTEGER AND "
        f"regexp_matches(trim({c}, {WS_ASCII}), {lit(R.DOT_GROUP)}) "
        f"THEN {R.SHAPE_AMBIGUOUS} ELSE 0 END)"
    )


def amount_expr(c: str, role: str, modes: Modes) -> tuple[str, str]:
    """(value, shape) SQL of ``tiering.data.io.parse_amounts`` and ``amount_shapes`` for the
    values :func:`amount_fast` does not read."""
    stripped = f"regexp_replace({c}, {CURRENCY_NON_ASCII}, '', 'g')"
    val, shape = amount_sql(stripped, decimal=modes.decimal, thousands=modes.reads_thousands(role))
    value = (
        f"(CASE WHEN {c} IS NULL OR {c} = '' THEN NULL "
        f"WHEN {_is_ascii(stripped)} THEN {val} "
        f"ELSE tiering_amounts_{role}({c}) END)"
    )
    shape = (
        f"(CASE WHEN {c} IS NULL OR {c} = '' THEN 0 "
        f"WHEN {_is_ascii(stripped)} THEN {shape} "
        f"ELSE tiering_amount_shape({c}) END)"
    )
    return value, shape


def amount_shape_sql(c: str) -> str:
    """``tiering.data.io.amount_shapes`` of a nullable text (every value, fast or not)."""
    stripped = f"regexp_replace({c}, {CURRENCY_NON_ASCII}, '', 'g')"
    s2, _ = _amount_clean(stripped)
    return (
        f"(CASE WHEN {c} IS NULL OR {c} = '' THEN 0 "
        f"WHEN {_is_ascii(stripped)} THEN {_shape_sql(s2)} "
        f"ELSE tiering_amount_shape({c}) END)"
    )


# --------------------------------------------------------------------------- the query


@dataclass(frozen=True)
class Window:
    as_of: dt.date | None
    start: dt.date | None


def attribute_headers(lay: Layout, src) -> list[str]:
    """Headers of ``customer_name`` (when mapped) and the attributes, in the order of
    the features' extra columns."""
    out = [lay.mapping["customer_name"]] if "customer_name" in lay.mapping else []
    return out + [a for a in src.attributes if a != "customer_name"]


def attribute_names(lay: Layout, src) -> list[str]:
    return (["customer_name"] if "customer_name" in lay.mapping else []) + [
        a for a in src.attributes if a != "customer_name"
    ]


def row_hash(lay: Layout) -> str:
    """A 64-bit hash of a whole row as read (text for CSV, typed values for Parquet): it
    finds exact duplicate rows and identifies the rejected rows between the passes.
    (DuckDB's CSV reader, as :func:`_inspect_csv` sets it, reads an empty cell as NULL,
    quoted or not, and a missing one too: no cell is ``''``, so the cells need no
    ``coalesce``, 0.15 s at 10M rows; ``test_engines`` checks the three.)"""
    return "hash(" + ", ".join(f"r{i}" for i in range(len(lay.raw))) + ")"


def nonblank_sql(lay: Layout) -> str:
    """SQL (over the raw columns ``r0..``) of a record that is not blank: a first cell
    starting with a printable ASCII character is not blank (cheap, most rows); a CASE,
    as DuckDB evaluates every term of an OR in a projection (the rows table keeps this
    as a column): 7 CPU-s at 20M rows against 1 (BENCHMARKS.md)."""
    C = lay.cols
    return (
        f"CASE WHEN ascii({C[0]}) BETWEEN 33 AND 126 THEN true ELSE ("
        + " OR ".join(f"{strip_all(c)} <> ''" for c in C)
        + ") END"
    )


def parsed_sql(
    lay: Layout,
    src,
    modes: Modes,
    win: Window,
    *,
    details: bool,
    duplicates: str,
    today: dt.date,
    numbered: bool = False,
    only_rows: str | None = None,
    table: bool = False,
) -> str:
    """SQL (a WITH clause) of the screened rows, ending in CTE ``t3``: ``row, cust,
    ord, d_us, amt_signed, is_ret, pre_reason, reason`` (+ ``detail``), the attribute
    values ``a0..``, the flag columns and the raw columns ``r0..``.

    ``duplicates``: ``reject`` marks exact duplicate rows (``is_dup``), ``count`` and
    ``skip`` do not. ``numbered``: number the rows of a CSV file as the loader does
    (DuckDB can only do that single-threaded; Parquet rows are always numbered).
    ``only_rows``: a table of row hashes (``h``); only the rows with those hashes are
    screened (the rejected rows of a first pass, and the duplicates of them).
    ``table``: for the rows table (:func:`_build_rows`): ``pre_detail`` is given for the
    rows that fail a check (NULL for the others), and a CSV file read in parallel keeps
    its blank records (``nonblank`` false), so that the records keep their places."""
    m = lay.mapping
    n = len(lay.cols)
    C = lay.cols  # text of column i (over r<i>)
    row = lay.row_expr or (
        "(row_number() OVER () + {})".format(lay.info["header_row"]) if numbered else "0"
    )
    raw_cols = ", ".join([f"{r} AS r{i}" for i, r in enumerate(lay.raw)])

    def nonempty(i: int) -> str:
        return f"{strip_all(C[i])} <> ''"

    nonblank = nonblank_sql(lay)
    hdr = {h: C[i] for i, h in enumerate(lay.headers)}
    prefixes = list(src.cancellations.order_id_prefixes)
    cust_c = hdr[m["customer_id"]]
    date_c = hdr[m["order_date"]]
    ord_c = hdr.get(m.get("order_id"))
    roles = ("amount",) if "amount" in m else ("quantity", "unit_price")
    text_date = "order_date" not in lay.typed
    raw_pass = [f"r{i}" for i in range(n)] + ['"row"']
    keep_blank = table and lay.row_expr is None and not numbered
    if keep_blank:
        raw_pass.append("nonblank")

    # --- t0: the cheap tests of the common shapes, computed once
    sel0 = list(raw_pass)
    sel0.append(f"{id_plain(cust_c)} AS cust_plain")
    if ord_c:
        sel0.append(f"{id_plain(ord_c)} AS ord_plain")
    if text_date:
        sel0.append(f"{date_plain(date_c)} AS d_plain")
    for role in roles:
        if role not in lay.typed:
            sel0.append(f"{amount_fast(hdr[m[role]], role, modes)} AS v_fast_{role}")
        else:
            sel0.append(f"{lay.typed[role]} AS v_{role}")
    if not text_date:
        sel0.append(f"{lay.typed['order_date']} AS d_us")

    # --- t1: parsed values
    sel = list(raw_pass)
    sel.append(f"{id_expr(cust_c, 'cust_plain')} AS cust")
    sel.append("cust_plain")
    sel.append(f"{id_expr(ord_c, 'ord_plain')} AS ord0" if ord_c else "'' AS ord0")
    if not text_date:
        sel.append("d_us")
        sel.append("0 AS date_kind")
    else:
        dt_t = strip_ascii(date_c)
        slow = (
            f"(CASE WHEN {date_c} IS NULL OR {date_c} = '' THEN NULL "
            f"WHEN {_is_ascii(date_c)} THEN (CASE WHEN {dt_t} = '' THEN NULL ELSE "
            f"coalesce({date_fast_expr(dt_t, modes.dayfirst)}, tiering_dates({date_c})) END) "
            f"ELSE tiering_dates({date_c}) END)"
        )
        sel.append(f"(CASE WHEN d_plain IS NOT NULL THEN d_plain ELSE {slow} END) AS d_us")
        sel.append(
            f"(CASE WHEN d_plain IS NULL AND {date_c} IS NOT NULL AND {_is_ascii(date_c)} "
            f"THEN {date_kind_expr(dt_t)} ELSE 0 END) AS date_kind"
        )
    for role in roles:
        if role in lay.typed:
            sel.append(f"v_{role}")
            sel.append(f"0 AS shape_{role}")
        else:
            v, shape = amount_expr(hdr[m[role]], role, modes)
            sel.append(
                f"(CASE WHEN v_fast_{role} IS NOT NULL THEN v_fast_{role} ELSE {v} END) AS v_{role}"
            )
            sel.append(
                f"(CASE WHEN v_fast_{role} IS NOT NULL THEN "
                f"{fast_shape(hdr[m[role]], f'v_fast_{role}')} "
                f"ELSE {shape} END) AS shape_{role}"
            )
    if "amount" in m:
        sel.append("v_amount AS amt0")
    else:
        sel.append("v_quantity * v_unit_price AS amt0")
    # attributes as read; stripped after aggregation (the latest row is chosen by date
    # and row, not by value), which saves a trim per row and attribute
    for i, h in enumerate(attribute_headers(lay, src)):
        sel.append(f"coalesce({hdr[h]}, '') AS a{i}")
    excl = []
    for name, values in src.exclude.items():
        vals = _list(str(v) for v in values)
        excl.append((name, f"list_contains({vals}, {strip_all(hdr[name])})" if values else "false"))
    width = lay.info.get("header_width", n)
    extra_cells = " OR ".join(nonempty(i) for i in range(width, n))
    sel.append(f"({extra_cells}) AS extra_cells" if extra_cells else "false AS extra_cells")
    if duplicates == "reject":
        # identical rows: any copy but one (the first by row, when rows are numbered)
        order = ' ORDER BY "row"' if (numbered or lay.row_expr) else ""
        sel.append(f"row_number() OVER (PARTITION BY {', '.join(C)}{order}) > 1 AS is_dup")
    else:
        sel.append("false AS is_dup")

    # --- t2: reasons in the loader's order
    d = "d_us"
    tomorrow = today + dt.timedelta(days=1)
    future = R.future_limit(today)
    checks = [
        (f"({cond})", "excluded_value", f"{lit(name + ' = ')} || coalesce({hdr[name]}, '')")
        for name, cond in excl
    ]
    cust_raw = strip_all(cust_c)
    checks += [
        (
            "cust = ''",
            "missing_customer_id",
            f"CASE WHEN {cust_raw} <> '' THEN 'value: ' || left({cust_raw}, 40) ELSE '' END",
        ),
        (
            f"length(cust) > {R.MAX_ID_LENGTH}",
            "bad_customer_id",
            f"'customer id is ' || format('{{:,}}', length(cust)) || ' characters long (at most {R.MAX_ID_LENGTH})'",
        ),
        (
            "NOT cust_plain AND regexp_matches(cust, '[\\x00-\\x1f\\x7f]')",
            "bad_customer_id",
            (
                "'customer id contains control characters (line break, tab or NUL): ' || "
                "regexp_replace(left(cust, 40), '[\\x00-\\x1f\\x7f]', '?', 'g')"
            ),
        ),
        (
            "NOT cust_plain AND (contains(cust, '+') OR contains(cust, '.')) AND "
            f"regexp_full_match(cust, {lit(ROUNDED_ID_RE2)})",
            "rounded_customer_id",
            "'value: ' || left(cust, 40) || ' (rounded by Excel; the digits are lost)'",
        ),
    ]
    raw_date = f"'value: ' || left(coalesce({date_c}, ''), 40)"
    if text_date:
        checks.append((f"{d} IS NULL AND {partial_date_expr(date_c)}", "partial_date", raw_date))
    checks += [
        (f"{d} IS NULL", "bad_date", raw_date),
        (f"{d} < TIMESTAMP '1900-01-01'", "implausible_date", raw_date),
        (
            f"{d} > TIMESTAMP '{R.NS_MAX}' OR {d} < TIMESTAMP '{R.NS_MIN}'",
            "bad_date",
            f"{raw_date} || ' (out of range)'",
        ),
        (
            f"{d} >= TIMESTAMP '{future}'",
            "future_date",
            f"{raw_date} || ' (after {tomorrow}, the latest possible date)'",
        ),
    ]
    if "amount" in m:
        raw_amount = f"left(coalesce({hdr[m['amount']]}, ''), 40)"
    else:
        raw_amount = (
            f"'quantity ' || left(coalesce({hdr[m['quantity']]}, ''), 20) || ' x price ' || "
            f"left(coalesce({hdr[m['unit_price']]}, ''), 20)"
        )
    checks += [
        ("amt0 IS NULL OR isnan(amt0)", "bad_amount", f"'value: ' || {raw_amount}"),
        (
            f"abs(amt0) >= {R.MAX_AMOUNT!r}",
            "implausible_amount",
            f"'value: ' || {raw_amount} || ' (limit ±{R.MAX_AMOUNT:,.0f})'",
        ),
        ("amt0 = 0", "zero_amount", "''"),
    ]
    pre_reason = "CASE " + " ".join(f"WHEN {c} THEN {lit(r)}" for c, r, _ in checks) + " END"
    pre_detail = "CASE " + " ".join(f"WHEN {c} THEN {x}" for c, _, x in checks) + " ELSE '' END"

    # --- t3: returns, order key, window
    has_order = "ord0 <> ''"
    ret = " OR ".join(f"starts_with(ord0, {lit(p)})" for p in prefixes)
    is_return = f"(({ret}) AND {has_order})" if prefixes else "false"
    if src.cancellations.negative_amounts:
        is_return = f"({is_return} OR coalesce(amt0 < 0, false))"
    late = _late_checks(win, duplicates)
    reason = _reason_sql(late)
    detail = _detail_sql(late)

    only = f" AND {row_hash(lay)} IN (SELECT h FROM {only_rows})" if only_rows else ""
    if keep_blank:
        body = f"SELECT *, ({nonblank}) AS nonblank FROM src"
    else:
        body = f"SELECT * FROM src WHERE ({nonblank}){only}"
    # the rows table keeps the detail of the rows that fail a check, the others none
    table_detail = f", CASE WHEN pre_reason IS NOT NULL THEN {pre_detail} END AS pre_detail"
    details = details and not table
    return f"""
    WITH src AS (
      SELECT {row} AS "row", {raw_cols} FROM {lay.reader}
    ), body AS (
      {body}
    ), t0 AS (
      SELECT {", ".join(sel0)} FROM body
    ), t1 AS (
      SELECT {", ".join(sel)} FROM t0
    ), t2 AS (
      SELECT *, {pre_reason} AS pre_reason{f", {pre_detail} AS pre_detail" if details else ""},
        {is_return} AS is_ret
      FROM t1
    ), t3 AS (
      SELECT *, {reason} AS reason{f", {detail} AS detail" if details else ""}{table_detail if table else ""},
        {AMT_SIGNED} AS amt_signed,
        {ORDER_KEY} AS ord
      FROM t2
    )
    """


# the signed amount and the order key of a screened row (t3 and the rows table's view)
AMT_SIGNED = "CASE WHEN is_ret THEN -abs(amt0) ELSE amt0 END"
ORDER_KEY = (
    "CASE WHEN ord0 <> '' THEN ord0 "
    "ELSE cust || '|' || coalesce(strftime(d_us, '%Y-%m-%d'), '') END"
)


def _late_checks(win: Window, duplicates: str, d: str = "d_us") -> list[tuple[str, str, str]]:
    """(condition, reason, detail) of the checks made after the row's own values: the
    window and, with ``duplicates: reject``, the copies of an earlier row."""
    late = []
    if win.as_of is not None:
        late.append(
            (
                f"{d} >= TIMESTAMP '{win.as_of}'",
                "after_as_of",
                f"'date ' || strftime({d}, '%Y-%m-%d') || ' >= as_of {win.as_of}'",
            )
        )
    if win.start is not None:
        late.append(
            (
                f"{d} < TIMESTAMP '{win.start}'",
                "before_window",
                f"'date ' || strftime({d}, '%Y-%m-%d') || ' < start {win.start}'",
            )
        )
    if duplicates == "reject":
        late.append(("is_dup", "duplicate_row", "'duplicate of an earlier row'"))
    return late


def _reason_sql(late) -> str:
    if not late:
        return "pre_reason"
    return (
        "coalesce(pre_reason, CASE "
        + " ".join(f"WHEN {c} THEN {lit(r)}" for c, r, _ in late)
        + " END)"
    )


def _detail_sql(late) -> str:
    if not late:
        return "pre_detail"
    return (
        "CASE WHEN pre_reason IS NOT NULL THEN pre_detail "
        + " ".join(f"WHEN {c} THEN {x}" for c, _, x in late)
        + " ELSE '' END"
    )


# Flag bits of a pass (one bit_or over all rows): the date kinds (tiering.data.io.date_kinds
# bits 1..8), cells beyond the header, and per amount role the shapes its values have.
FLAG_DATE_KINDS, FLAG_EXTRA = 15, 16


def flag_bit(role_index: int, shape: int) -> int:
    """The flag bit of ``shape`` (SHAPE_THOUSANDS or SHAPE_AMBIGUOUS) in the
    ``role_index``-th amount column."""
    return 32 << (2 * role_index + (shape == R.SHAPE_AMBIGUOUS))


# Dates as microseconds from 1900 fit 52 bits; shifted left by 64 bits, a 64-bit
# number (a row, a hash) fits beside them in a HUGEINT key that orders by date first.
_EPOCH_1900 = "epoch_us(TIMESTAMP '1900-01-01')"
_TWO64 = 18446744073709551616


def _date_key(d: str) -> str:
    return f"((epoch_us({d}) - {_EPOCH_1900})::HUGEINT * {_TWO64})"


def aggregate_sql(
    parsed: str,
    lay: Layout,
    n_attr: int,
    roles: tuple[str, ...],
    *,
    duplicates: str,
    exact_rows: bool,
    rejected_hashes: str | None = None,
) -> str:
    """One row per customer (valid rows, ``kind`` 'c') and one per rejection reason
    (``kind`` 'r'), in one hash aggregation.

    The attributes are those of the customer's latest row, ties on the date broken by
    the row number. Without row numbers (a CSV file read in parallel), the latest row
    is found by date alone and ``ambiguous`` says when rows of the latest date differ
    in their attributes (max and min of a hash of them differ); the caller then settles
    those customers with numbered rows.

    (Measured on 10M rows, 2 cores: ``count(DISTINCT order)`` in the one aggregation
    beats a two-step aggregation by customer and order, and ``arg_max`` over a number
    beats ``max`` of a struct; the column-wide reading facts travel as bits of one
    ``bit_or``. DuckDB 2.0 plans the distinct count as a second aggregation over the same
    input, by group key and order, joined back by the group key; orders are counted by
    their 64-bit hash, a fixed-size key there: two order ids of one customer would have
    to share a hash to be counted once, odds of about n²/2⁶⁵ for a customer with n
    orders. Measured at 100M rows and not kept: hashing the order before the aggregation,
    a two-step aggregation by customer and order, the count as a query of its own; see
    BENCHMARKS.md.)

    Every state counts: with two threads DuckDB grows one hash table per thread, each
    holding every customer, and when they outgrow ``memory_limit`` the aggregation goes
    external and writes out its partial rows (7-13 GB at 100M rows, 5M customers, where
    it spilled under 1 GB before). Measured on 100M CSV rows at 3GB: the aggregation
    without attributes 37 s; with one more 8-byte aggregate 48 s; with two, 71 s. Hence
    the net spend from its two parts and one 128-bit maximum for the attribute ties, a
    single attribute's latest value as itself rather than in a struct, and the rejected
    rows' hashes handed to a function (``rejected_hashes``: its name, a
    :class:`RejectedHashes`) rather than listed by an aggregate, which has a state in
    every customer's group. (At 100M CSV rows and 3.8GB, the aggregation took 57-73 s
    and spilled before, 38.6-41.3 s in memory after, in all 6 runs of the feature
    step; BENCHMARKS.md, 2026-12-07 (8).)"""
    bits = _flag_bits(roles)
    latest = unpack = ""
    if n_attr:
        # one attribute as itself (a struct's state is a copy of it, made at every
        # later row: 75 MB more at 10M rows)
        fields = (
            "a0"
            if n_attr == 1
            else "struct_pack(" + ", ".join(f"a{i} := a{i}" for i in range(n_attr)) + ")"
        )
        field = (lambda i: "latest") if n_attr == 1 else (lambda i: f"latest.a{i}")
        if exact_rows:
            # only the latest row's number: :func:`_latest_values` reads the values
            latest = _latest_row('"row"')
        else:
            # the values of the latest row with the smallest hash of them (arg_max by date,
            # then by the complement of the hash), and the largest hash at that date: the
            # two differ when rows of the latest date differ in their values. (One state
            # fewer than a max and a min of the key: at 5M customers the aggregation then
            # fits in memory where it spilled, see BENCHMARKS.md.)
            def h(prefix: str) -> str:
                return f"hash({', '.join(f'{prefix}a{i}' for i in range(n_attr))})"

            hi = f"{_date_key('d_us')} + {h('')}"
            lo = f"{_date_key('d_us')} + ({_TWO64 - 1} - {h('')})"
            latest = f", arg_max({fields}, {lo}) AS latest, (max({hi}) % {_TWO64}) AS h_max"
            got = ", ".join(field(i) for i in range(n_attr))
            unpack = f", hash({got}) <> h_max AS ambiguous" + "".join(
                f", {strip_all(field(i))} AS latest_a{i}" for i in range(n_attr)
            )
    if duplicates == "reject":
        dup = ", count(*) FILTER (WHERE is_dup) AS dups"
    else:
        dup = ", 0 AS dups"
    if rejected_hashes:
        # the rejected rows' hashes, so that the rejected-rows pass screens only them:
        # handed to the function as the rows go by, in a CASE (called for those rows
        # only), as a term of the flag bits that is always 0
        bits.append(
            f"coalesce(CASE WHEN reason IS NOT NULL THEN {rejected_hashes}({row_hash(lay)}) END, 0)"
        )
    ok = "reason IS NULL"
    # one text key, the customer id or chr(1) + the reason (a valid customer id has no
    # control characters): measured at 100M rows, 5M customers, against GROUP BY customer,
    # reason: 36-40 s instead of 50-70 s
    rej = "starts_with(gk, chr(1))"
    return (
        parsed
        + f"""
    , agg AS (
      SELECT
        CASE WHEN {rej} THEN 'r' ELSE 'c' END AS kind,
        CASE WHEN {rej} THEN NULL ELSE gk END AS cust,
        CASE WHEN {rej} THEN substring(gk, 2) END AS reason,
        {_ROW_AGGREGATES},
        bit_or({" | ".join(bits)}) AS flags{dup}{latest}
      FROM (
        SELECT *, round_even(amt_signed, 6) AS amt,
          CASE WHEN {ok} THEN cust ELSE chr(1) || reason END AS gk,
          CASE WHEN {ok} THEN ord END AS k_ord
        FROM t3)
      GROUP BY gk
    )
    SELECT * {"EXCLUDE (latest, h_max)" if unpack else ""}{unpack} FROM agg ORDER BY kind, cust, reason
    """
    )


# The aggregates of a customer's rows (``amt``: the signed amount rounded as the
# transactions have it; ``k_ord``: the order key): rows, orders (counted by the key's
# hash; a CASE, not a FILTER: at 10M rows 0.1 s less), net spend from its two parts (one
# state fewer per customer), returns, first and last purchase and any row's dates.
_ROW_AGGREGATES = """count(*) AS n_rows,
        count(DISTINCT CASE WHEN NOT is_ret THEN hash(k_ord) END) AS frequency,
        round(coalesce(sum(amt) FILTER (WHERE NOT is_ret), 0)
              + coalesce(sum(amt) FILTER (WHERE is_ret), 0), 6) AS monetary,
        round(coalesce(sum(amt) FILTER (WHERE NOT is_ret), 0), 6) AS gross_revenue,
        round(coalesce(-sum(amt) FILTER (WHERE is_ret), 0), 6) AS returns_value,
        sum(amt) FILTER (WHERE is_ret) AS ret,
        count(*) FILTER (WHERE is_ret) AS ret_rows,
        coalesce(min(d_us) FILTER (WHERE NOT is_ret), min(d_us)) AS first_purchase,
        coalesce(max(d_us) FILTER (WHERE NOT is_ret), max(d_us)) AS last_purchase,
        min(d_us) AS d_min, max(d_us) AS d_max"""


def _latest_row(place: str) -> str:
    """``latest_row``: the ``place`` (a column in the rows' order) of a group's latest row
    by date, then by place, as one 128-bit maximum (a fixed-size state; an arg_max of
    the values copies strings at every later row). (The groups of rejected rows may have
    dates before 1900: no number, not an error.)"""
    return (
        f", TRY_CAST(max({_date_key('d_us')} + {place}) % {_TWO64} AS BIGINT) AS latest_row"
        ", false AS ambiguous"
    )


# seconds from 1900-01-01 to the Unix epoch
_SECONDS_1900 = 2208988800


def _place_bits(facts: RowsFacts, today: dt.date) -> int | None:
    """The bits for a row's place beside its date in seconds in a 64-bit key (see
    :func:`table_aggregate_sql`), or None when the used rows' dates are not whole seconds
    or the two do not fit 63 bits."""
    if not facts.whole_seconds:
        return None
    place = max(int(facts.max_place or 0), 1).bit_length()
    latest = dt.datetime.combine(R.future_limit(today), dt.time()) - dt.datetime(1900, 1, 1)
    return place if int(latest.total_seconds()).bit_length() + place <= 63 else None


def table_aggregate_sql(
    screened: str, n_attr: int, duplicates: str, place: str, place_bits: int | None = None
) -> str:
    """:func:`aggregate_sql`'s result from the rows table (``screened``: its
    :func:`_rows_sql`): the used rows by customer, in an aggregation of their own, and
    the rejected rows by reason (rows, dates, copies), in another over the same scan.
    (At 10M rows, 2 cores: 1.21 s against 1.36 s for the one aggregation by a text key
    of either, which builds that key for every row.) A customer's latest row is the one
    with the latest date, then the later place in the file (``place``: :attr:`Rows.place`):
    ``latest_row`` is that place, the values are looked up there (:func:`_latest_values`).
    With ``place_bits`` (:func:`_place_bits`: the dates are whole seconds), the date in
    seconds from 1900 and the place are one 64-bit key, not a 128-bit one (0.1 s less at
    10M rows). No flag bits: :func:`_rows_facts` has them."""
    if not n_attr:
        latest = ""
    elif place_bits is None:
        latest = _latest_row(place)
    else:
        seconds = f"(epoch_us(d_us) // 1000000 + {_SECONDS_1900})"
        latest = (
            f", max(({seconds} << {place_bits}) + {place}) & {(1 << place_bits) - 1} "
            "AS latest_row, false AS ambiguous"
        )
    dups = "count(*) FILTER (WHERE is_dup)" if duplicates == "reject" else "0"
    return (
        screened
        + f"""
    , agg AS (
      SELECT 'c' AS kind, cust, NULL::VARCHAR AS reason, {_ROW_AGGREGATES},
        0 AS flags, 0 AS dups{latest}
      FROM (SELECT *, round_even(amt_signed, 6) AS amt, ord AS k_ord FROM t3 WHERE reason IS NULL)
      GROUP BY cust
      UNION ALL BY NAME
      SELECT 'r' AS kind, NULL::VARCHAR AS cust, reason, count(*) AS n_rows,
        min(d_us) AS d_min, max(d_us) AS d_max, {dups} AS dups
      FROM t3 WHERE reason IS NOT NULL GROUP BY reason
    )
    SELECT * FROM agg ORDER BY kind, cust, reason
    """
    )


def _flag_bits(roles) -> list[str]:
    """The terms of the flag bits of a row (see ``FLAG_DATE_KINDS``)."""
    bits = ["date_kind", f"CASE WHEN extra_cells THEN {FLAG_EXTRA} ELSE 0 END"]
    return bits + [
        f"CASE shape_{r} WHEN {R.SHAPE_THOUSANDS} THEN {flag_bit(i, R.SHAPE_THOUSANDS)} "
        f"WHEN {R.SHAPE_AMBIGUOUS} THEN {flag_bit(i, R.SHAPE_AMBIGUOUS)} ELSE 0 END"
        for i, r in enumerate(roles)
    ]


def latest_sql(parsed: str, n_attr: int) -> str:
    """The attributes of the latest row (by date, then row number) of the customers in
    the registered table ``ambiguous_customers``."""
    fields = ", ".join(f"a{i} := a{i}" for i in range(n_attr))
    unpack = ", ".join(f"{strip_all(f'latest.a{i}')} AS latest_a{i}" for i in range(n_attr))
    return (
        parsed
        + f"""
    , agg AS (
      SELECT cust, arg_max(struct_pack({fields}), {_date_key("d_us")} + "row") AS latest
      FROM t3 WHERE reason IS NULL AND cust IN (SELECT cust FROM ambiguous_customers)
      GROUP BY cust
    )
    SELECT cust, {unpack} FROM agg ORDER BY cust
    """
    )


# --------------------------------------------------------------------------- the rows table

ROWS = "tiering_rows"


@dataclass(frozen=True)
class Rows:
    """The screened rows of the file, kept in the DuckDB table ``ROWS`` by
    :func:`_build_rows` (one scan of the file) for every later pass of the run.

    ``numbered``: the table holds the rows' numbers (Parquet; duplicate rows rejected);
    else it holds every record of a CSV file in file order, blank ones included, and a
    row's number is its place (``rowid``) after the header. ``dup_mode``: how duplicate
    rows were screened (``reject``: the table has ``is_dup``)."""

    numbered: bool
    base: int
    dup_mode: str

    @property
    def place(self) -> str:
        """The column of a row's place in the file, in :func:`_rows_sql`: ``rid``, the
        rowid, as the table keeps file order; but with ``duplicate_rows: reject`` the
        stored row number, as the rows are numbered in a window partitioned by their
        cells, after which the rowids do not follow the file."""
        return '"row"' if self.dup_mode == "reject" else "rid"

    @property
    def place_of_rowid(self) -> str:
        """SQL of :attr:`place` straight over the table ``ROWS``."""
        return '"row"' if self.dup_mode == "reject" else "rowid"


def _build_rows(con, lay: Layout, src, modes: Modes, win: Window, dup_mode: str, today) -> Rows:
    """Screen every row of the file once into the table ``ROWS``: per row its hash (for
    the duplicate count), the parsed values (customer, order, date, amount, return),
    the attributes as read, the reason of the checks on its own values (``pre_reason``),
    the reading flags, and for the rows rejected under ``win`` the detail of that reason
    and the text of every cell (``texts``: the detail first, for the rejected-rows file;
    :func:`_rows_sql` gives it as ``pre_detail``). The window's own reasons are
    given later (:func:`_rows_sql`), so that a window decided after this scan needs no
    other for the features.

    A CSV file is read in parallel with insertion order kept (as :func:`_pick` does),
    so that each record's place in the table is its place in the file; with
    ``duplicate_rows: reject`` the records are numbered in the single-threaded scan, as
    the first copy of a row is the one kept."""
    numbered = lay.row_expr is not None or dup_mode == "reject"
    parsed = parsed_sql(
        lay,
        src,
        modes,
        win,
        details=False,
        duplicates=dup_mode,
        today=today,
        numbered=numbered and lay.row_expr is None,
        table=True,
    )
    roles = _roles(lay)
    cols = ['"row"'] if numbered else ["nonblank"]
    cols += [f"{row_hash(lay)} AS h", "cust", "ord0", "d_us", "amt0", "is_ret"]
    cols += ["pre_reason", "date_kind::UTINYINT AS date_kind", "extra_cells"]
    cols += [f"shape_{r}::UTINYINT AS shape_{r}" for r in roles]
    cols += ["is_dup"] if dup_mode == "reject" else []
    cols += [f"a{i}" for i in range(len(attribute_names(lay, src)))]
    # the detail first, then the cells: one column fewer (0.1 s at 10M rows)
    cols.append(
        f"CASE WHEN reason IS NOT NULL THEN [pre_detail, {', '.join(lay.cols)}] END AS texts"
    )
    con.execute(f"DROP TABLE IF EXISTS {ROWS}")
    _run(
        con,
        f"CREATE TEMP TABLE {ROWS} AS {parsed} SELECT {', '.join(cols)} FROM t3",
        lay,
        fetch="none",
        ordered=True,
    )
    return Rows(numbered=numbered, base=int(lay.info["header_row"]) + 1, dup_mode=dup_mode)


def _rows_sql(rows: Rows, win: Window, *, details: bool = False) -> str:
    """A WITH clause over the rows table ending in CTE ``t3``, with the columns of
    :func:`parsed_sql`'s ``t3`` that the later passes use: ``row, cust, ord, d_us,
    amt_signed, is_ret, reason`` (+ ``detail``), ``a0..``, the flag columns, ``h`` and
    ``texts``, and the table's ``rid`` (its ``rowid``; see :attr:`Rows.place`)."""
    late = _late_checks(win, rows.dup_mode)
    if rows.numbered:
        t2 = f"SELECT rowid AS rid, *, texts[1] AS pre_detail FROM {ROWS}"
    else:
        t2 = (
            f'SELECT rowid AS rid, rowid + {rows.base} AS "row", *, texts[1] AS pre_detail '
            f"FROM {ROWS} WHERE nonblank"
        )
    detail = _detail_sql(late) if late else "coalesce(pre_detail, '')"
    return f"""
    WITH t2 AS ({t2}), t3 AS (
      SELECT *, {_reason_sql(late)} AS reason{f", {detail} AS detail" if details else ""},
        {AMT_SIGNED} AS amt_signed, {ORDER_KEY} AS ord
      FROM t2
    )
    """


@dataclass(frozen=True)
class RowsFacts:
    """Of the rows table (:func:`_rows_facts`): the flag bits of every row, the last date
    of the rows that passed the checks on their own values (the base of the default
    as-of date), whether all their dates are whole seconds, and the largest place
    (:attr:`Rows.place`)."""

    flags: int
    last: object
    whole_seconds: bool
    max_place: int | None


def _rows_facts(con, rows: Rows, lay: Layout) -> RowsFacts:
    flags, last, whole, max_place = _run(
        con,
        _rows_sql(rows, Window(None, None))
        + f" SELECT bit_or({' | '.join(_flag_bits(_roles(lay)))}), "
        "max(d_us) FILTER (WHERE pre_reason IS NULL), "
        "coalesce(bool_and(epoch_us(d_us) % 1000000 = 0) FILTER (WHERE pre_reason IS NULL), "
        f"true), max({rows.place}) FROM t3",
        lay,
        fetch="one",
    )
    return RowsFacts(int(flags or 0), last, bool(whole), max_place)


def _rows_write_rejected(con, rows: Rows, lay: Layout, win: Window, path: Path) -> bool:
    """Write the rejected rows from the rows table (as :func:`_write_rejected` does from
    the file); False, writing nothing, when some rejected row has no cells there."""
    from tiering.data.io import REASONS
    from tiering.safecsv import write_csv

    q = _rows_sql(rows, win, details=True)
    missing, n = _run(
        con,
        q + " SELECT count(*) FILTER (WHERE texts IS NULL), count(*) FROM t3 "
        "WHERE reason IS NOT NULL",
        lay,
        fetch="one",
    )
    if missing:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    names = ["row", "reason", "category", "detail"] + [f"src_{h}" for h in lay.headers]
    category = (
        "CASE reason "
        + " ".join(f"WHEN {lit(code)} THEN {lit(cat)}" for code, (cat, _) in REASONS.items())
        + " END"
    )
    # empty cells as empty text, not missing: the pandas path's cells (written "")
    cols = ['"row"', "reason", f"{category} AS category", "coalesce(detail, '') AS detail"] + [
        f"coalesce(texts[{i + 2}], '') AS {ident(nm)}" for i, nm in enumerate(names[4:])
    ]
    rejected = 'FROM t3 WHERE reason IS NOT NULL ORDER BY "row"'
    if not n:
        write_csv(pd.DataFrame(columns=names), part)
    elif n <= MAX_POSITIONED_ROWS and not rows.numbered:
        # as :func:`_write_rejected` writes the picked records of a CSV file
        write_csv(_run(con, q + f" SELECT {', '.join(cols)} {rejected}", lay)[names], part)
    else:  # DuckDB writes them, formula-safe in SQL
        safe = cols[:4] + [_formula_safe_sql(c) for c in cols[4:]]
        _copy_rejected(con, f"{q} SELECT {', '.join(safe)} {rejected}", names, part, lay)
    os.replace(part, path)
    return True


def _rows_months(con, rows: Rows, lay: Layout, win: Window):
    """The (customer, month) aggregate of the used rows: an Arrow table ``customer_id,
    month, revenue`` (one row per customer and month with used rows, in no particular
    order), ``revenue`` the net spend, the exact sum of the amounts as the transactions
    have them (rounded to 6 decimals), as DECIMAL(38, 6)."""
    return _run(
        con,
        _rows_sql(rows, win)
        + """
        SELECT cust AS customer_id, date_trunc('month', d_us) AS month,
          sum(CAST(round_even(amt_signed, 6) AS DECIMAL(38, 6))) AS revenue
        FROM t3 WHERE reason IS NULL GROUP BY ALL""",
        lay,
        fetch="arrow",
    )


#: Columns of the value model's inputs (``FeatureResult.value_inputs``).
VALUE_INPUT_COLUMNS = ("customer_id", "purchase_days", "repeat_spend")


def value_inputs_sql(screened: str) -> str:
    """The value model's inputs per customer (``tiering.analysis.value.MODEL_INPUTS``
    besides the first and last purchase, which the features have), as
    ``tiering.analysis.clv.rfm_summary`` defines them on the transactions, over the used
    rows (``reason IS NULL``) of ``screened`` (a WITH clause ending in CTE ``t3``: the
    rows table's :func:`_rows_sql` or the file's :func:`parsed_sql`):

    - ``purchase_days``: the distinct calendar days with a purchase (not a return) row;
    - ``repeat_spend``: the net spend (returns included) of the days after the first
      purchase day, the exact sum of the amounts as the transactions have them
      (rounded to 6 decimals), as DOUBLE.

    One row per customer with used rows (``purchase_days`` 0 for a customer with only
    returns), ordered by ``customer_id``. The rows go through a (customer, day)
    aggregate, each customer's first purchase day is taken from it and joined back
    (measured on 20M rows against a window over the customer: 8 CPU-s instead of 12;
    see BENCHMARKS.md)."""
    return (
        screened
        + """
    , used_days AS (
      SELECT cust, d_us::DATE AS day, bool_or(NOT is_ret) AS buy,
        sum(CAST(round_even(amt_signed, 6) AS DECIMAL(38, 6))) AS net
      FROM t3 WHERE reason IS NULL GROUP BY cust, day
    ), firsts AS (
      SELECT cust, min(day) FILTER (WHERE buy) AS first_day,
        count(*) FILTER (WHERE buy) AS purchase_days
      FROM used_days GROUP BY cust
    )
    SELECT f.cust AS customer_id, any_value(f.purchase_days) AS purchase_days,
      CAST(coalesce(sum(u.net) FILTER (WHERE u.day > f.first_day), 0) AS DOUBLE) AS repeat_spend
    FROM used_days u JOIN firsts f ON u.cust = f.cust
    GROUP BY f.cust ORDER BY f.cust
    """
    )


def _finish_value_inputs(got: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "customer_id": got["customer_id"].astype(str),
            "purchase_days": got["purchase_days"].astype("int64"),
            "repeat_spend": got["repeat_spend"].astype("float64"),
        }
    )
    return out.reset_index(drop=True)


def _rows_value_inputs(con, rows: Rows, lay: Layout, win: Window) -> pd.DataFrame:
    """The value model's inputs (:func:`value_inputs_sql`) from the rows table."""
    return _finish_value_inputs(_run(con, value_inputs_sql(_rows_sql(rows, win)), lay))


def _file_value_inputs(con, lay: Layout, src, modes: Modes, win: Window, dup_mode, today):
    """The value model's inputs (:func:`value_inputs_sql`) by one pass over the file,
    screened with the decisions taken (``modes``, ``win``)."""
    parsed = parsed_sql(lay, src, modes, win, details=False, duplicates=dup_mode, today=today)
    return _finish_value_inputs(_run(con, value_inputs_sql(parsed), lay))


def _transactions_select(lay: Layout, src) -> str:
    """The columns of ``LoadResult.transactions`` over ``t3``."""
    names = attribute_names(lay, src)
    attrs = "".join(f", {strip_all(f'a{i}')} AS {ident(n)}" for i, n in enumerate(names))
    return (
        f'"row", cust AS customer_id, ord AS order_id, d_us AS order_date, '
        f"round_even(amt_signed, 6) AS amount, is_ret AS is_return{attrs}"
    )


def _finish_transactions(tx: pd.DataFrame) -> pd.DataFrame:
    tx["row"] = tx["row"].astype("int64")
    tx["order_date"] = tx["order_date"].astype("datetime64[ns]")
    tx["is_return"] = tx["is_return"].astype(bool)
    return tx


def _rows_transactions(con, rows: Rows, lay: Layout, src, win: Window, customers):
    """The used rows from the rows table, as :func:`clean_transactions` reads them from
    the file; ``customers``: only theirs."""
    import pyarrow as pa

    keep = ""
    if customers is not None:
        con.register(
            "tiering_sample", pa.table({"id": pa.array([str(c) for c in customers], pa.string())})
        )
        keep = " AND cust IN (SELECT id FROM tiering_sample)"
    try:
        tx = _run(
            con,
            _rows_sql(rows, win)
            + f' SELECT {_transactions_select(lay, src)} FROM t3 WHERE reason IS NULL{keep} ORDER BY "row"',
            lay,
        )
    finally:
        if customers is not None:
            con.unregister("tiering_sample")
    return _finish_transactions(tx)


# --------------------------------------------------------------------------- running


def connect(spec, workdir: Path):
    """A DuckDB connection with the spec's memory limit, threads and spill folder."""
    import duckdb

    spill = workdir / "spill"
    spill.mkdir(exist_ok=True)
    # file order matters only where rows are numbered (``numbered`` passes switch it on)
    config = {
        "memory_limit": spec.memory_limit,
        "temp_directory": str(spill),
        "preserve_insertion_order": False,
    }
    if spec.threads:
        config["threads"] = spec.threads
    con = interrupt.track(duckdb.connect(config=config))
    con.execute("SET enable_progress_bar = false")
    return con


def _run(con, sql: str, lay: Layout, *, fetch: str = "df", ordered: bool = False):
    """Run a query; a CSV the parallel reader refuses runs again single-threaded, and
    DuckDB's reading errors become the loader's kind of message. ``ordered``: keep the
    records in file order (insertion order)."""

    def go(q):
        if fetch == "df":
            # through Arrow: text stays in Arrow buffers (pandas' str dtype), no Python objects
            return con.sql(q).arrow().read_all().to_pandas(split_blocks=True, self_destruct=True)
        if fetch == "arrow":
            return con.sql(q).arrow().read_all()
        if fetch == "one":
            rows = con.sql(q).fetchall()
            return rows[0] if rows else None
        con.execute(q)
        return None

    ordered = ordered or "row_number() OVER ()" in sql
    con.execute(f"SET preserve_insertion_order = {'true' if ordered else 'false'}")
    return _reading(go, sql, lay)


# DuckDB's error text ("Invalid Input Error: ..."), as an Arrow stream of a query's
# result passes it on: an OSError from pyarrow's RecordBatchReader
_DUCKDB_ERROR = re.compile(r"^[A-Z][A-Za-z]*( [A-Z][A-Za-z]*)* Error: ")


def _duckdb_errors(exc: BaseException) -> bool:
    import duckdb

    if isinstance(exc, duckdb.Error):
        return True
    return isinstance(exc, OSError) and bool(_DUCKDB_ERROR.match(str(exc)))


def _reading(go, sql: str, lay: Layout):
    """``go(sql)``; a CSV the parallel reader refuses is read again single-threaded, and
    DuckDB's reading errors become the loader's kind of message (also when they come
    through an Arrow stream of the result, as an OSError). ``go`` must start afresh when
    called again."""
    scans = "read_csv(" in sql or "read_parquet(" in sql
    try:
        if scans:
            _read(lay.path, "scan")
        return go(sql.replace("__PARALLEL__", ""))
    except Exception as exc:
        if not _duckdb_errors(exc):
            raise
        msg = str(exc)
        _stop_if_interrupted(msg)
        if "parallel" in msg.lower() and "__PARALLEL__" in lay.reader:
            try:
                _read(lay.path, "scan")
                return go(sql.replace("__PARALLEL__", ", parallel = false"))
            except Exception as exc2:
                if not _duckdb_errors(exc2):
                    raise
                msg = str(exc2)
                _stop_if_interrupted(msg)
        raise _read_error(msg, lay) from None


def _stop_if_interrupted(msg: str) -> None:
    """Ctrl-C is not a file DuckDB cannot read: when it lands in one of the engine's
    Python functions during a query (DuckDB reports it as that function's error, "Python
    exception occurred while executing the UDF: KeyboardInterrupt"), or was asked for
    (:mod:`tiering.interrupt`), stop, rather than rewrite the file and read it again."""
    if interrupt.REQUESTED.is_set() or "KeyboardInterrupt" in msg:
        raise KeyboardInterrupt


# Above this many records to number, the single-threaded numbered scan is used instead
# of :func:`_pick` (which holds the picked records in memory).
MAX_POSITIONED_ROWS = 2_000_000
PICKED = "tiering_picked"


class _TooMany(Exception):
    pass


def _pick(
    con, lay: Layout, key: str, values=None, *, hashes: RowHashes | None = None
) -> pa.Table | None:
    """The raw cells and the loader's row numbers of the CSV records whose ``key`` (SQL
    over the raw columns ``r0..``) is one of ``values`` (or, without ``values``, for
    which the condition ``key`` holds), in file order: an Arrow table ``row, c0..`` to
    be read through :func:`_picked_layout`. None when there are more than
    ``MAX_POSITIONED_ROWS`` such records.

    DuckDB numbers CSV records only in a single-threaded scan (``row_number() OVER ()``
    serialises the pipeline). Here the file is read in parallel with insertion order
    kept, every record gives one (mostly null) value, and its position in that ordered
    stream is its number. A join would lose the order, so the records are screened by a
    bitmap of their keys' hashes (a superset, by a variable; no join) and then exactly,
    in Arrow.

    ``hashes`` (``key`` then being :func:`row_hash`): also gather every nonblank record's
    hash there, as the scan reads every record anyway (the duplicate count without a
    pass of its own)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if hashes is not None and key != row_hash(lay):
        raise ValueError("hashes are gathered from a scan keyed by the row hash")
    n = len(lay.raw)
    raw_cols = ", ".join(f"{r} AS r{i}" for i, r in enumerate(lay.raw))
    fields = ", ".join(f"r{i} := r{i}" for i in range(n))
    if values is None:
        test, value_set = "k", None
    else:
        value_set = (
            values
            if isinstance(values, pa.Array)
            else pa.array([str(v) for v in values], pa.string())
        )
        bits = max(1 << 16, min(1 << 26, 1 << int(64 * max(len(value_set), 1)).bit_length()))
        con.register("tiering_keys", pa.table({"v": value_set}))
        try:
            buckets = con.sql(
                f"SELECT (hash(v) % {bits})::BIGINT AS b FROM tiering_keys"
            ).fetchnumpy()["b"]
        finally:
            con.unregister("tiering_keys")
        bitmap = np.zeros(bits, dtype=np.uint8)
        bitmap[buckets] = 1
        con.execute(
            "SET VARIABLE tiering_bitmap = ?::BIT", [(bitmap + ord("0")).tobytes().decode("ascii")]
        )
        test = f"get_bit(getvariable('tiering_bitmap'), (hash(k) % {bits})::INTEGER) = 1"
    gather = f", CASE WHEN {nonblank_sql(lay)} THEN k END AS h" if hashes is not None else ""
    sql = (
        f"SELECT CASE WHEN {test} THEN struct_pack(k := k, {fields}) END AS s{gather} "
        f"FROM (SELECT {key} AS k, * FROM (SELECT {raw_cols} FROM {lay.reader}))"
    )
    base = int(lay.info["header_row"]) + 1  # row_number() OVER () + header_row

    def stream(q):
        if hashes is not None:
            hashes.restart()
        pos, found, rows, parts = 0, 0, [], []
        for batch in con.sql(q).to_arrow_reader(1 << 20):
            if hashes is not None:
                hashes.add(batch.column(1))
            s = batch.column(0)
            mask = s.is_valid()
            if value_set is not None:
                mask = pc.and_(mask, pc.is_in(s.field("k"), value_set=value_set))
            mask = mask.fill_null(False).to_numpy(zero_copy_only=False)
            idx = np.flatnonzero(mask)
            if len(idx):
                found += len(idx)
                if found > MAX_POSITIONED_ROWS:
                    raise _TooMany
                rows.append(idx + (pos + base))
                parts.append(s.filter(pa.array(mask)))
            pos += batch.num_rows
        structs = (
            pa.chunked_array(parts).combine_chunks()
            if parts
            else pa.array(
                [], pa.struct([("k", pa.string())] + [(f"r{i}", pa.string()) for i in range(n)])
            )
        )
        arrays = [pa.array(np.concatenate(rows) if rows else np.empty(0), pa.int64())]
        arrays += [structs.field(f"r{i}").cast(pa.string()) for i in range(n)]
        return pa.Table.from_arrays(arrays, names=["row"] + [f"c{i}" for i in range(n)])

    con.execute("SET preserve_insertion_order = true")
    try:
        return _reading(stream, sql, lay)
    except _TooMany:
        if hashes is not None:
            hashes.spoil()
        return None
    finally:
        con.execute("SET preserve_insertion_order = false")


def _picked_layout(lay: Layout) -> Layout:
    """``lay`` reading the registered table of :func:`_pick`'s records (``row, c0..``)
    instead of the file: the same screening, the same row numbers."""
    from dataclasses import replace

    return replace(lay, reader=PICKED, row_expr='"row"')


@contextmanager
def _numbered_rows(con, lay: Layout, dup_mode: str, key: str, values, *, hashes=None):
    """``(layout, numbered)`` to screen the records whose ``key`` is one of ``values``
    with their row numbers: for a CSV file, the records :func:`_pick` found, registered
    as a table; else (``values`` None: every record; Parquet rows carry their numbers;
    duplicate rows rejected, which numbers every row at once; too many records) the
    file itself, to be numbered."""
    picked = (
        _pick(con, lay, key, values, hashes=hashes)
        if values is not None and lay.row_expr is None and dup_mode != "reject"
        else None
    )
    if picked is None:
        yield lay, True
        return
    con.register(PICKED, picked)
    try:
        yield _picked_layout(lay), False
    finally:
        con.unregister(PICKED)


def _cust_key(lay: Layout) -> str:
    """SQL of the loader's customer id over the raw columns (``cust`` of t1)."""
    c = lay.col(lay.mapping["customer_id"])
    return id_expr(c, f"({id_plain(c)})")


def _read_error(msg: str, lay: Layout) -> TieringError:
    err = _read_error_of(msg, lay)
    if (
        lay.fmt == "csv"
        and not lay.info.get("rewritten")
        and type(err) is DataError
        and "gzip" not in err.message
    ):
        return _Unreadable(err)
    return err


class _Unreadable(TieringError):
    """DuckDB could not read a CSV file that the loader may read: rewrite it the loader's
    way (:func:`rewrite_csv`), or give ``error`` when that was done."""

    def __init__(self, error: DataError):
        super().__init__(error.message, where=error.where, hint=error.hint)
        self.error = error


def _read_error_of(msg: str, lay: Layout) -> TieringError:
    name = Path(lay.info["path"]).name
    line = re.search(r"[Ll]ine[: ]+(\d+)", msg)
    where = f"{name}, line {line.group(1)}" if line else name
    first = " ".join(ln.strip() for ln in msg.strip().splitlines()[:3] if ln.strip())
    if "Expected Number of Columns" in msg or "too many columns" in msg.lower():
        return DataError(
            f"A line of {name} has more fields than the header",
            where=where,
            hint=f"a value probably contains the delimiter "
            f"{lay.info.get('delimiter')!r} without quotes: quote such values "
            "in the export, or set data.delimiter if it was guessed wrong",
        )
    if "unterminated quote" in msg.lower() or "quote" in msg.lower() and "never" in msg.lower():
        return DataError(
            f'A quote (") in {name} is never closed',
            where=where,
            hint="a value contains a stray double quote: remove it or double it "
            '("") in the export, or export again with quoted values',
        )
    if "gzip" in msg.lower() and (
        "end of" in msg.lower() or "corrupt" in msg.lower() or "invalid" in msg.lower()
    ):
        from tiering.data.io import gzip_error

        return gzip_error(Path(lay.info["path"]), lay.info.get("format") or "csv")
    if "Out of Memory" in msg:
        return TieringError(
            f"DuckDB ran out of memory reading {name}: {first}",
            where=where,
            hint="raise engine.memory_limit, or point engine.temp_directory at "
            "a disk with room to spill to",
        )
    if "maximum line size" in msg.lower():
        return DataError(
            f"A line of {name} is longer than DuckDB reads (2 MB)",
            where=where,
            hint="a quote is probably never closed, so the rest of the file reads "
            "as one value; or use engine: pandas for this file",
        )
    if "unicode" in msg.lower() or "utf-8" in msg.lower() or "utf8" in msg.lower():
        return _NotUtf8(
            f"{name} is not valid UTF-8 text after its first {HEAD_BYTES // 1024} KB",
            where=where,
            hint="set data.encoding to the file's encoding, e.g. gb18030 or latin-1",
        )
    return DataError(
        f"Could not read {name}: {first}",
        where=where,
        hint="check the file opens in a spreadsheet; set data.format, "
        "data.encoding or data.delimiter if they were guessed wrong",
    )


class _NotUtf8(DataError):
    pass


def _decide_modes(
    con, lay: Layout, src, modes: Modes, flags: int, roles, parsed_base, memo: dict | None = None
) -> Modes:
    """The column-wide reading the loader chooses (``tiering.data.io.day_first``,
    ``thousands_dots``), from the flag bits of a pass: the day/month order of the dates,
    and for each amount column with values like ``250.000`` whether its dots are between
    thousands (then one more, narrow query looks for decimal points such as ``12.50``).
    A column that contradicts itself is refused as the loader refuses it."""
    from tiering.data import io as _io

    memo = {} if memo is None else memo
    dayfirst = _io.day_first(flags & FLAG_DATE_KINDS, _io.dayfirst_param(src))
    if dayfirst is None:
        raise _date_error(con, lay, src)
    decimal = _io.decimal_param(src)
    thousands = []
    for i, role in enumerate(roles):
        if decimal is not None or role in lay.typed or not flags & flag_bit(i, R.SHAPE_AMBIGUOUS):
            continue
        found = {R.SHAPE_AMBIGUOUS}
        if flags & flag_bit(i, R.SHAPE_THOUSANDS):
            found.add(R.SHAPE_THOUSANDS)
        if role not in memo:
            c = lay.col(lay.mapping[role])
            memo[role] = bool(
                _run(
                    con,
                    parsed_base + f" SELECT coalesce(bool_or("
                    f"{amount_shape_sql(c)} = {R.SHAPE_DECIMAL}), false) FROM body",
                    lay,
                    fetch="one",
                )[0]
            )
        if memo[role]:
            found.add(R.SHAPE_DECIMAL)
        decided = _io.thousands_dots(found)
        if decided is None:
            raise _amount_error(con, lay, src, role)
        if decided:
            thousands.append(role)
    return Modes(dayfirst=dayfirst, thousands=tuple(thousands), decimal=decimal)


def _first_rows(con, lay: Layout, src, value: str, kind: str, kinds: dict[str, int]) -> dict:
    """The first (value, row) examples in the file of each kind: ``kinds`` maps a name to
    how many; ``kind`` is SQL over the raw columns giving each row its kind name (or
    NULL). Rows are numbered as the loader numbers them (a single-threaded scan for a CSV
    file: only for an error message)."""
    parsed = parsed_sql(
        lay,
        src,
        Modes(),
        Window(None, None),
        details=False,
        duplicates="skip",
        today=R.today(),
        numbered=True,
    )
    got = _run(
        con,
        parsed
        + f"""
        SELECT k, "row", v FROM (
          SELECT k, "row", v, row_number() OVER (PARTITION BY k ORDER BY "row") AS n
          FROM (SELECT {kind} AS k, "row", left({strip_all(value)}, 40) AS v FROM body)
          WHERE k IS NOT NULL)
        WHERE n <= {max(kinds.values())} ORDER BY k, "row" """,
        lay,
    )
    out = {k: [] for k in kinds}
    for k, row, v in zip(got["k"], got["row"], got["v"]):
        if k in out and len(out[k]) < kinds[k]:
            out[k].append((str(v), int(row)))
    return out


def _date_error(con, lay: Layout, src) -> DataError:
    """``tiering.data.io.date_convention_error`` with the file's first examples."""
    from tiering.data import io as _io

    c = lay.col(lay.mapping["order_date"])
    k = (
        f"(CASE WHEN {c} IS NOT NULL AND {_is_ascii(c)} THEN {date_kind_expr(strip_ascii(c))} "
        "ELSE 0 END)"
    )
    kind = (
        f"CASE WHEN ({k} & {R.KIND_DAY_ONLY}) > 0 THEN 'day' "
        f"WHEN ({k} & {R.KIND_MONTH_ONLY}) > 0 THEN 'month' END"
    )
    ex = _first_rows(con, lay, src, c, kind, {"day": 1, "month": 1})
    return _io.date_convention_error(
        file=Path(lay.info["path"]).name,
        column=lay.mapping["order_date"],
        day=ex["day"][0],
        month=ex["month"][0],
    )


def _amount_error(con, lay: Layout, src, role: str) -> DataError:
    """``tiering.data.io.amount_convention_error`` with the file's first examples."""
    from tiering.data import io as _io

    c = lay.col(lay.mapping[role])
    shape = amount_shape_sql(c)
    kind = (
        f"CASE {shape} WHEN {R.SHAPE_AMBIGUOUS} THEN 'ambiguous' WHEN {R.SHAPE_THOUSANDS} "
        f"THEN 'thousands' WHEN {R.SHAPE_DECIMAL} THEN 'decimal' END"
    )
    ex = _first_rows(con, lay, src, c, kind, {"ambiguous": 2, "thousands": 1, "decimal": 1})
    return _io.amount_convention_error(
        file=Path(lay.info["path"]).name, column=lay.mapping[role], **ex
    )


def compute(
    src,
    *,
    as_of=None,
    window_start=None,
    window_months=None,
    spec=None,
    rejected_path=None,
    today=None,
    transactions=None,
    months=False,
    value_inputs=False,
):
    """Customer features and rejected rows of ``src`` in DuckDB (see the module doc);
    ``transactions``, ``months``, ``value_inputs``: see
    :func:`tiering.data.engines.compute_features`."""
    from concurrent.futures import ThreadPoolExecutor

    from tiering.data.engines.base import FeatureResult, quality_table
    from tiering.data.features import finish_features
    from tiering.params import EngineSpec

    spec = spec or EngineSpec()
    today = today or R.today()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = spec.temp_directory
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tiering-duckdb-", dir=base))
    pool = ThreadPoolExecutor(max_workers=1)
    stop = threading.Event()  # the hash is not wanted any more (the step ended)
    try:
        lay = inspect(src, workdir)
        timings["inspect"] = round(time.perf_counter() - t0, 3)
        # the input's SHA-256 (for the manifest) is computed while DuckDB works, and the
        # same read looks for quoting DuckDB reads otherwise than the loader (a space
        # before an opening quote: see :func:`rewrite_csv`)
        scan = (
            lay.fmt == "csv"
            and lay.info.get("transcoded_from") is None
            and not lay.info.get("rewritten")
        )
        digest = pool.submit(
            hash_and_scan,
            Path(src.path),
            lay.info.get("delimiter") if scan else None,
            int(lay.info.get("header_row") or 1),
            stop,
        )
        result = None
        for _ in range(3):
            con = connect(spec, workdir)
            try:
                result = _compute(
                    con,
                    lay,
                    src,
                    spec,
                    as_of,
                    window_start,
                    window_months,
                    rejected_path,
                    today,
                    timings,
                    workdir,
                    transactions,
                    months,
                    value_inputs,
                )
            except _NotUtf8:
                if src.encoding != "auto" or lay.info.get("encoding") == "gb18030":
                    raise
                # the head was UTF-8 but a later part is not: GB18030 is the usual culprit
                _use_copy(
                    lay,
                    transcode(
                        Path(src.path),
                        workdir,
                        "gb18030",
                        gz=_is_gzip(Path(src.path)),
                        found=lay.info,
                    ),
                )
                lay.info["encoding"] = "gb18030"
                continue
            except _Unreadable as exc:
                if lay.info.get("rewritten"):
                    raise exc.error from None
                # DuckDB refuses what the loader reads (or refuses otherwise): read it as
                # the loader does
                _use_copy(lay, rewrite_csv(lay, src, workdir), skip=1)
                continue
            finally:
                con.close()
            if (
                lay.fmt == "csv"
                and not lay.info.get("rewritten")
                and (lay.info.pop("space_quote", False) or digest.result()[1])
            ):
                _use_copy(lay, rewrite_csv(lay, src, workdir), skip=1)
                continue
            break
        features, quality_counts, facts, as_of_, start_, extras = result
        t1 = time.perf_counter()
        source = dict(lay.info)
        source.pop("header_width", None)
        source["sha256"] = digest.result()[0]
        timings["sha256_wait"] = round(time.perf_counter() - t1, 3)
        source.update(facts)
        source["engine"] = "duckdb"
        extra = (["customer_name"] if "customer_name" in lay.mapping else []) + [
            a for a in src.attributes if a != "customer_name"
        ]
        feats = finish_features(features, as_of=as_of_, extra=extra)
        timings["total"] = round(time.perf_counter() - t0, 3)
        first = features["first_any"].min() if len(features) else None
        last = features["last_any"].max() if len(features) else None
        return FeatureResult(
            features=feats,
            quality=quality_table(quality_counts),
            source=source,
            as_of=as_of_,
            window_start=start_,
            attributes=tuple(src.attributes),
            first_date=None if first is None or pd.isna(first) else pd.Timestamp(first),
            last_date=None if last is None or pd.isna(last) else pd.Timestamp(last),
            rejected_path=Path(rejected_path) if rejected_path else None,
            engine="duckdb",
            timings=timings,
            months=extras.get("months"),
            transactions=extras.get("transactions"),
            value_inputs=extras.get("value_inputs"),
        )
    finally:
        stop.set()  # on the way out by an exception: the result was awaited otherwise
        pool.shutdown(wait=True)
        shutil.rmtree(workdir, ignore_errors=True)


# reasons given after the dates were read: their rows count for the as-of date ...
LATE_REASONS = ("after_as_of", "before_window", "duplicate_row")
# ... and, with the amount reasons, for the future_date limit
GUARD_REASONS = LATE_REASONS + ("bad_amount", "implausible_amount", "zero_amount")


def _flags(agg: pd.DataFrame) -> int:
    out = 0
    for v in agg["flags"].dropna():
        out |= int(v)
    return out


def _valid_max(agg: pd.DataFrame):
    """The last date of the rows that passed the checks before the window (the loader's
    base for the default as-of date)."""
    ok = agg["kind"].eq("c") | agg["reason"].isin(LATE_REASONS)
    last = agg.loc[ok, "d_max"].max()
    return None if pd.isna(last) else last


def _roles(lay: Layout) -> tuple[str, ...]:
    return ("amount",) if "amount" in lay.mapping else ("quantity", "unit_price")


def _compute(
    con,
    lay,
    src,
    spec,
    as_of,
    window_start,
    window_months,
    rejected_path,
    today,
    timings,
    workdir,
    transactions=None,
    months=False,
    value_inputs=False,
):
    roles = _roles(lay)
    n_attr = len(attribute_names(lay, src))
    dup_mode = "reject" if src.duplicate_rows == "reject" else spec.duplicates
    rows = None  # the rows table, when the file is read once (:func:`_build_rows`)
    # read once when the step takes more than one pass over the file (the duplicate
    # count, the rejected rows) or later steps want what the rows give, and the table
    # fits in memory: at 10M rows 0.73x the passes' time, with twice their memory (within
    # the limit; BENCHMARKS.md, 2026-12-07 (4)). The features alone take one pass.
    memory = _memory_bytes(spec.memory_limit)
    use_table = (
        (
            months
            or transactions is not None
            or value_inputs
            or rejected_path is not None
            or dup_mode == "count"
        )
        and lay.table_bytes is not None
        and lay.table_bytes <= ROWS_TABLE_SHARE * memory
        and lay.reader.startswith(("read_csv(", "read_parquet("))
    )
    # the latest rows are known by their places (the rows table's, or Parquet's numbers)
    exact = lay.row_expr is not None or use_table
    from tiering.data import io as _io

    modes = lay.guess or Modes(
        dayfirst=bool(_io.dayfirst_param(src)), decimal=_io.decimal_param(src)
    )
    memo: dict = {}
    udfs = register_udfs(con, modes, roles)

    def reregister(new: Modes):
        for name in udfs:
            con.remove_function(name)
        udfs[:] = register_udfs(con, new, roles)

    win = Window(as_of=as_of, start=window_start)
    if as_of is not None and window_months is not None:
        win = Window(
            as_of=as_of, start=(pd.Timestamp(as_of) - pd.DateOffset(months=window_months)).date()
        )
    # the rejected rows' hashes, handed over by the aggregation over the file
    handed = RejectedHashes(con) if not use_table and rejected_path is not None else None
    if use_table:
        rows, agg, flags, modes, win, duplicates = _table_passes(
            con,
            lay,
            src,
            modes,
            win,
            as_of,
            window_months,
            dup_mode,
            today,
            timings,
            reregister,
            memo,
        )
    else:
        agg, flags, modes, win, duplicates = _file_passes(
            con,
            lay,
            src,
            modes,
            win,
            window_months,
            dup_mode,
            today,
            timings,
            reregister,
            memo,
            rejected_hashes=handed,
            memory=memory,
        )

    if flags & FLAG_EXTRA:
        width = lay.info.get("header_width")
        nonempty = " OR ".join(
            f"{strip_all(lay.cols[i])} <> ''" for i in range(width, len(lay.cols))
        )
        picked = _pick(con, lay, f"({nonempty})") if lay.row_expr is None else None
        if picked is not None:
            row, n_bad = int(picked["row"][0]), picked.num_rows
        else:
            numbered = parsed_sql(
                lay, src, modes, win, details=False, duplicates="skip", today=today, numbered=True
            )
            row, n_bad = _run(
                con,
                numbered + f' SELECT min("row"), count(*) FROM body WHERE {nonempty}',
                lay,
                fetch="one",
            )
        name = Path(lay.info["path"]).name
        raise DataError(
            f"Row {row} of {name} has values beyond the {width} columns of the header"
            + (f" ({n_bad} rows like this)" if n_bad > 1 else ""),
            where=f"{name}, row {row}",
            hint=f"a value probably contains the delimiter {lay.info.get('delimiter')!r} "
            "without quotes: quote such values in the export, or set "
            "data.delimiter if it was guessed wrong",
        )
    rows_read = int(agg["n_rows"].sum()) if len(agg) else 0
    if rows_read == 0:
        raise DataError(
            f"The file {Path(lay.info['path']).name} has a header but no data rows",
            where=Path(lay.info["path"]).name,
            hint="export the data again including the transactions",
        )
    if win.as_of is None:
        last = _valid_max(agg)
        as_of_ = (pd.Timestamp(last) + pd.Timedelta(days=1)).date() if last is not None else today
    else:
        as_of_ = win.as_of
    # the customers' rows come first (ORDER BY kind): slices, not copies of 5M rows, and
    # the columns as they are (text stays in Arrow buffers, no Python strings)
    n_cust = int(agg["kind"].eq("c").sum())
    cust = agg.iloc[:n_cust]
    rej = agg.iloc[n_cust:]
    counts = {r: int(n) for r, n in zip(rej["reason"], rej["n_rows"])}
    latest_names = attribute_names(lay, src)
    columns = {
        "customer_id": "cust",
        "first_purchase": "first_purchase",
        "last_purchase": "last_purchase",
        "frequency": "frequency",
        "monetary": "monetary",
        "gross_revenue": "gross_revenue",
        "returns_value": "returns_value",
        "first_any": "d_min",
        "last_any": "d_max",
    }
    if not (n_attr and exact):
        columns.update({name: f"latest_a{i}" for i, name in enumerate(latest_names)})
    features = pd.DataFrame({k: cust[v] for k, v in columns.items()}, copy=False)
    if n_attr and exact:
        t = time.perf_counter()
        values = _latest_values(con, lay, src, cust["latest_row"], table=rows)
        for i, name in enumerate(latest_names):
            features[name] = values[f"latest_a{i}"]
        timings["latest_values"] = round(time.perf_counter() - t, 3)
    if n_attr and cust["ambiguous"].any():
        # rows of the latest date with other attributes: the row number decides; only
        # these customers are settled that way
        t = time.perf_counter()
        amb = pd.DataFrame({"cust": cust.loc[cust["ambiguous"], "cust"].to_numpy()})
        con.register("ambiguous_customers", amb)
        # (the rows table gives every row's place: no ties there)
        with _numbered_rows(con, lay, dup_mode, _cust_key(lay), amb["cust"]) as (lay_, nb):
            parsed = parsed_sql(
                lay_,
                src,
                modes,
                win,
                details=False,
                duplicates=dup_mode,
                today=today,
                numbered=nb,
            )
            fix = _run(con, latest_sql(parsed, n_attr), lay).set_index("cust")
        pos = pd.Index(features["customer_id"]).get_indexer(fix.index)
        for i, name in enumerate(latest_names):
            col = features[name].to_numpy(dtype=object).copy()
            col[pos] = fix[f"latest_a{i}"].to_numpy(dtype=object)
            features[name] = col
        timings["ties"] = round(time.perf_counter() - t, 3)
        timings["tied_customers"] = len(amb)
    used = int(cust["n_rows"].sum())
    facts = {
        "rows_read": rows_read,
        "rows_used": used,
        "rows_rejected": rows_read - used,
        "return_rows": int(cust["ret_rows"].sum()),
        "return_value": float(-cust["ret"].fillna(0).sum()),
        "duplicate_rows": (int(agg["dups"].sum()) if dup_mode == "reject" else duplicates),
        "modes": {
            "dayfirst": modes.dayfirst,
            "thousands_dots": list(modes.thousands),
            "decimal": modes.decimal,
        },
        "today": today.isoformat(),
    }
    # the dates around the future_date limit (the cache checks them on another day)
    ok = agg["kind"].eq("c") | agg["reason"].isin(GUARD_REASONS)
    gmax = agg.loc[ok, "d_max"].max()
    gmin = agg.loc[agg["reason"].eq("future_date"), "d_min"].min()
    facts["date_guard"] = [
        None if pd.isna(gmax) else pd.Timestamp(gmax).isoformat(),
        None if pd.isna(gmin) else pd.Timestamp(gmin).isoformat(),
    ]

    # the duplicate count of a file read by passes, when not counted before the
    # aggregation: its rows' hashes, gathered by the rejected-rows pass when it reads
    # every record (a CSV file's picked rows), else by a scan of their own
    late = dup_mode == "count" and duplicates is None and rows is None
    # (the head's estimate said the hashes fit; the rows read may say otherwise)
    gathered = RowHashes(rows_read) if late and _hashes_fit(rows_read, memory) else None
    if rejected_path is not None:
        t = time.perf_counter()
        # from the rows table; from the file when some rejected rows have no cells there
        # (rejected by a window decided after the scan: as_of not given, window.months
        # given) or the file was not read into a table
        if rows is None or not _rows_write_rejected(con, rows, lay, win, Path(rejected_path)):
            _write_rejected(
                con,
                lay,
                src,
                modes,
                win,
                dup_mode,
                today,
                Path(rejected_path),
                hashes=_rejected_hashes(con, rows, lay, win, handed),
                row_hashes=gathered,
            )
        timings["rejected"] = round(time.perf_counter() - t, 3)
    if late:
        t = time.perf_counter()
        parsed = parsed_sql(lay, src, modes, win, details=False, duplicates="skip", today=today)
        if gathered is not None:
            duplicates = _late_duplicates(con, lay, parsed, rows_read, gathered)
        else:  # more rows than the head suggested: DuckDB's GROUP BY, which can spill
            duplicates = _count_duplicates(con, lay, parsed, {})
        facts["duplicate_rows"] = duplicates
        del gathered
        timings["duplicates"] = round(time.perf_counter() - t, 3)
    extras = {}
    if rows is not None and months:
        t = time.perf_counter()
        extras["months"] = _rows_months(con, rows, lay, win)
        timings["months"] = round(time.perf_counter() - t, 3)
    if rows is not None and transactions is not None:
        t = time.perf_counter()
        ids = transactions(features["customer_id"], used)
        extras["transactions"] = _rows_transactions(con, rows, lay, src, win, ids)
        timings["transactions"] = round(time.perf_counter() - t, 3)
    if value_inputs:
        # from the rows table; else one more pass over the file (the main aggregation
        # keeps no more states per customer: see aggregate_sql)
        t = time.perf_counter()
        if rows is not None:
            extras["value_inputs"] = _rows_value_inputs(con, rows, lay, win)
        else:
            extras["value_inputs"] = _file_value_inputs(con, lay, src, modes, win, dup_mode, today)
        timings["value_inputs"] = round(time.perf_counter() - t, 3)
    return features, counts, facts, as_of_, win.start, extras


def _table_passes(
    con, lay, src, modes, win, as_of, window_months, dup_mode, today, timings, reregister, memo
):
    """The aggregation of :func:`_compute` from one scan of the file: its screened rows
    into the rows table (:func:`_build_rows`; again in the other reading mode when the
    whole column decides so, as the loader reads it), then the duplicate count and the
    aggregation from the table. Returns (rows, agg, flags, modes, window, duplicates)."""
    roles = _roles(lay)
    t = time.perf_counter()
    for attempt in range(3):  # noqa: B007 - read after the loop (the passes taken)
        # the window is known unless it depends on the last valid date (then the rows
        # rejected by it have no cells in the table: see _rows_write_rejected)
        known = Window(None, None) if as_of is None and window_months is not None else win
        rows = _build_rows(con, lay, src, modes, known, dup_mode, today)
        facts = _rows_facts(con, rows, lay)
        flags, last = facts.flags, facts.last
        if flags & FLAG_EXTRA:  # refused by the caller before reading a value, as the loader
            return rows, None, flags, modes, win, None
        base = parsed_sql(
            lay, src, modes, Window(None, None), details=False, duplicates="skip", today=today
        )
        new = _decide_modes(con, lay, src, modes, flags, roles, base, memo)
        if new == modes:
            break
        modes = new
        reregister(modes)
    timings["table"] = round(time.perf_counter() - t, 3)
    if as_of is None and window_months is not None:
        as_of_ = (pd.Timestamp(last) + pd.Timedelta(days=1)).date() if last is not None else today
        start = (pd.Timestamp(as_of_) - pd.DateOffset(months=window_months)).date()
        win = Window(as_of=as_of_, start=start)
    duplicates = None
    if dup_mode == "count":
        # exact duplicate rows, by the hash of the row as read (see _count_duplicates)
        t = time.perf_counter()
        hashes = _run(con, _rows_sql(rows, win) + " SELECT h FROM t3", lay, fetch="arrow")
        duplicates = repeated_values(hashes.column("h").to_numpy())  # one copy, sorted in place
        del hashes
        timings["duplicates"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    n_attr = len(attribute_names(lay, src))
    agg = _run(
        con,
        table_aggregate_sql(
            _rows_sql(rows, win),
            n_attr,
            dup_mode,
            rows.place,
            place_bits=_place_bits(facts, today),
        ),
        lay,
    )
    timings["aggregate"] = round(time.perf_counter() - t, 3)
    timings["aggregate_passes"] = attempt + 1  # the scans of the file it took
    return rows, agg, flags, modes, win, duplicates


def _file_passes(
    con,
    lay,
    src,
    modes,
    win,
    window_months,
    dup_mode,
    today,
    timings,
    reregister,
    memo,
    *,
    rejected_hashes: RejectedHashes | None,
    memory: float,
):
    """The aggregation of :func:`_compute` by passes over the file: the last valid date
    first when the window depends on it, the duplicate count when the rows' hashes do
    not fit in memory (else None: :func:`_late_duplicates`), the aggregation (again in
    the other reading mode when the whole column decides so). Returns (agg, flags,
    modes, window, duplicates)."""
    roles = _roles(lay)
    n_attr = len(attribute_names(lay, src))
    exact = lay.row_expr is not None
    if win.as_of is None and window_months is not None:
        # the window depends on the last valid date: find it (and the column modes) first
        t = time.perf_counter()
        for _ in range(3):
            parsed = parsed_sql(
                lay, src, modes, Window(None, None), details=False, duplicates="skip", today=today
            )
            agg = _run(
                con, aggregate_sql(parsed, lay, 0, roles, duplicates="skip", exact_rows=exact), lay
            )
            flags = _flags(agg)
            new = _decide_modes(con, lay, src, modes, flags, roles, parsed, memo)
            if new == modes:
                break
            modes = new
            reregister(modes)
        last = _valid_max(agg)
        as_of_ = (pd.Timestamp(last) + pd.Timedelta(days=1)).date() if last is not None else today
        start = (pd.Timestamp(as_of_) - pd.DateOffset(months=window_months)).date()
        win = Window(as_of=as_of_, start=start)
        timings["window_pass"] = round(time.perf_counter() - t, 3)

    duplicates = None
    if dup_mode == "count" and not _hashes_fit(lay.rows_estimate, memory):
        # first, while nothing else is held in memory: a GROUP BY over every row's hash
        # (which does not depend on how values are read) takes DuckDB's whole memory.
        # (Else the hashes are sorted in memory after the aggregation, gathered from the
        # rejected-rows pass or a scan of their own: _late_duplicates.)
        duplicates = _count_duplicates(
            con,
            lay,
            parsed_sql(lay, src, modes, win, details=False, duplicates="skip", today=today),
            timings,
        )

    t = time.perf_counter()
    for attempt in range(3):  # noqa: B007 - read after the loop (the passes taken)
        if rejected_hashes is not None:
            rejected_hashes.clear()
        parsed = parsed_sql(lay, src, modes, win, details=False, duplicates=dup_mode, today=today)
        agg = _run(
            con,
            aggregate_sql(
                parsed,
                lay,
                n_attr,
                roles,
                duplicates=dup_mode,
                exact_rows=exact,
                rejected_hashes=rejected_hashes.NAME if rejected_hashes is not None else None,
            ),
            lay,
        )
        flags = _flags(agg)
        if flags & FLAG_EXTRA:
            break  # refused below, as the loader refuses it before reading any value
        new = _decide_modes(con, lay, src, modes, flags, roles, parsed, memo)
        if new == modes:
            break
        modes = new
        reregister(modes)
    timings["aggregate"] = round(time.perf_counter() - t, 3)
    timings["aggregate_passes"] = attempt + 1
    return agg, flags, modes, win, duplicates


def _rejected_hashes(
    con, rows: Rows | None, lay: Layout, win: Window, handed: RejectedHashes | None
):
    """The hashes of the rejected rows (for :func:`_write_rejected`): from the rows
    table, or as the aggregation over the file handed them over."""
    if rows is not None:
        got = _run(
            con, _rows_sql(rows, win) + " SELECT DISTINCT h FROM t3 WHERE reason IS NOT NULL", lay
        )
        return got["h"].to_numpy(dtype="uint64")
    return handed.hashes() if handed is not None else None


def _latest_values(
    con, lay: Layout, src, rows: pd.Series, *, table: Rows | None = None
) -> pd.DataFrame:
    """The attribute values (``latest_a0..``, stripped) of the given rows, in the order of
    ``rows`` (NULL for a row not found): rows of the rows ``table`` by their place
    (:attr:`Rows.place`: a semi-join on the rowid, 0.06 s for 500k of 10M rows, or on the
    stored number), or rows of a file whose rows carry their numbers (Parquet), by a
    narrow pass that reads only the attribute columns."""
    import pyarrow as pa

    if table is not None:
        n = len(attribute_names(lay, src))
        values = ", ".join(f"{strip_all(f'a{i}')} AS latest_a{i}" for i in range(n))
        where = table.place_of_rowid
        sql = f'SELECT {where} AS "row", {values} FROM {ROWS} WHERE {where}'
    else:
        raw_cols = ", ".join(f"{r} AS r{i}" for i, r in enumerate(lay.raw))
        texts = [f"coalesce({lay.col(h)}, '')" for h in attribute_headers(lay, src)]
        values = ", ".join(f"{strip_all(t)} AS latest_a{i}" for i, t in enumerate(texts))
        sql = (
            f'WITH src AS (SELECT {lay.row_expr} AS "row", {raw_cols} FROM {lay.reader}) '
            f'SELECT "row", {values} FROM src WHERE "row"'
        )
    want = rows.to_numpy(dtype="int64")
    con.register("tiering_latest_rows", pa.table({"r": pa.array(want, pa.int64())}))
    try:
        got = _run(con, sql + " IN (SELECT r FROM tiering_latest_rows)", lay, fetch="arrow")
    finally:
        con.unregister("tiering_latest_rows")
    # in the order of ``rows``, a row not found NULL (rowids and row numbers are unique;
    # a row found twice all the same: its first copy)
    keys = pd.Index(got.column("row").to_numpy())
    if not keys.is_unique:
        first = ~keys.duplicated()
        got, keys = got.filter(pa.array(first)), keys[first]
    at = keys.get_indexer(want)
    taken = got.drop_columns(["row"]).take(pa.array(at, mask=at < 0))
    return taken.to_pandas(split_blocks=True, self_destruct=True)


class RejectedHashes:
    """The hashes of the rejected rows of an aggregation over the file, handed over by
    the aggregation's query as it reads them: a Python function that the query calls
    for those rows only (:func:`aggregate_sql`), keeping 8 bytes a row. A list aggregate
    gave them before, with a state in every group: at 100M rows, 5M customers, enough
    for the aggregation to outgrow 3.8GB and spill. Each run of the aggregation starts
    afresh (:meth:`clear`: a run in other reading modes rejects other rows); within a
    run, a query read again single-threaded after a refusal hands some hashes over
    twice, which the set takes once."""

    NAME = "tiering_rejected_row"

    def __init__(self, con):
        from array import array

        self.values = array("Q")
        add = self.values.append

        def take(h):
            add(h)
            return 0  # a term of the flag bits

        # native (called row by row: 0.0 s at 10M rows, against 0.2 s for Arrow's
        # conversion of every vector that has a rejected row)
        con.create_function(
            self.NAME, take, ["UBIGINT"], "INTEGER", type="native", side_effects=True
        )

    def clear(self) -> None:
        del self.values[:]  # the same array: the function appends to it

    def hashes(self) -> np.ndarray | None:
        got = np.unique(np.frombuffer(self.values, dtype=np.uint64))
        return got if len(got) else None


class RowHashes:
    """The 64-bit hashes of a file's nonblank rows (:func:`row_hash`), gathered from a
    scan as it goes, into one array of the known number of rows, to count the exact
    duplicate rows by sorting them (:func:`repeated_values`). ``repeated`` is None when
    the scan did not give exactly that many (a scan left off, a miscount)."""

    def __init__(self, rows: int):
        self.values = np.empty(rows, dtype=np.uint64)
        self.filled = 0
        self.ok = True

    def restart(self) -> None:
        """For a scan read again from its start (single-threaded after a refusal)."""
        self.filled = 0

    def add(self, hashes) -> None:
        got = hashes.drop_null().to_numpy(zero_copy_only=False)
        end = self.filled + len(got)
        if not self.ok or end > len(self.values):
            self.ok = False
            return
        self.values[self.filled : end] = got
        self.filled = end

    def spoil(self) -> None:
        """The scan left off: the count is made otherwise, and the array is let go."""
        self.ok = False
        self.values = np.empty(0, dtype=np.uint64)

    def repeated(self) -> int | None:
        if not self.ok or self.filled != len(self.values):
            return None
        return repeated_values(self.values)


# The duplicate count of a file read by passes: its rows' hashes sorted in memory when
# they take at most this share of DuckDB's memory limit (8 bytes a row; 800 MB at 100M
# rows), by the head's estimate of its rows before the aggregation and by the rows read
# after it; else a GROUP BY in DuckDB, which can spill to disk (:func:`_count_duplicates`).
HASHES_SHARE = 0.25


def _hashes_fit(rows: int | None, memory: float) -> bool:
    """Whether ``rows`` rows' hashes fit ``HASHES_SHARE`` of DuckDB's memory limit."""
    return rows is not None and rows * 8 <= HASHES_SHARE * memory


def _late_duplicates(con, lay: Layout, parsed: str, rows: int, gathered: RowHashes):
    """The duplicate count after the aggregation of a file read by passes, whose rows'
    hashes fit in memory (the caller checks): from the hashes the rejected-rows pass
    gathered, else from a scan of its own, else (not as many rows as counted) a GROUP
    BY."""
    got = gathered.repeated()
    if got is None:
        gathered.spoil()  # let its array go before the scan fills another
        got = _stream_duplicates(con, lay, parsed, rows)
    if got is None:  # not as many rows as counted: the GROUP BY, as for a bigger file
        got = _count_duplicates(con, lay, parsed, {})
    return got


def _stream_duplicates(con, lay: Layout, parsed: str, rows: int) -> int | None:
    """The exact duplicate rows of the ``rows`` nonblank rows of ``parsed``'s file by one
    scan that hands their hashes over in Arrow batches (no GROUP BY: at 100M rows a hash
    table of 100M keys; see :func:`repeated_values`). None when the count does not
    match."""
    got = RowHashes(rows)

    def stream(q):
        got.restart()
        for batch in con.sql(q).to_arrow_reader(1 << 20):
            got.add(batch.column(0))

    _reading(stream, parsed + f" SELECT {row_hash(lay)} AS h FROM body", lay)
    return got.repeated()


def repeated_values(values: np.ndarray) -> int:
    """How many values repeat an earlier one (the count minus the distinct count).

    Sorting the 64-bit row hashes in NumPy and counting equal neighbours: at 20M rows
    about 1.5 CPU-s with the copy out of DuckDB, where DuckDB's ``GROUP BY h`` (a hash
    table of 20M groups) takes 6 (BENCHMARKS.md). Used for the rows table, whose size
    is bounded by the memory limit, and for the passes over a file whose hashes fit
    ``HASHES_SHARE`` of it (:class:`RowHashes`); a bigger file counts in DuckDB
    (:func:`_count_duplicates`). ``values`` is sorted in place."""
    if len(values) < 2:
        return 0
    if not values.flags.writeable:  # a view of one Arrow chunk
        values = values.copy()
    values.sort()
    return int(np.count_nonzero(values[1:] == values[:-1]))


def _count_duplicates(con, lay: Layout, parsed: str, timings: dict) -> int:
    """Exact duplicate rows (what ``DataFrame.duplicated`` counts in the loader): rows
    minus distinct rows, by a 64-bit hash of the row as read. A pass of its own: a
    distinct count inside the feature aggregation cannot spill to disk, a GROUP BY can.
    (Two different rows would have to share a hash to be counted as duplicates: odds
    of about n²/2⁶⁵ for n rows, 3 in 10,000 for 100 million.)"""
    t = time.perf_counter()
    n = _run(
        con,
        parsed
        + f""" SELECT coalesce(sum(n - 1), 0) FROM (
        SELECT {row_hash(lay)} AS h, count(*) AS n FROM body GROUP BY h) """,
        lay,
        fetch="one",
    )[0]
    timings["duplicates"] = round(time.perf_counter() - t, 3)
    return int(n)


def _write_rejected(
    con,
    lay: Layout,
    src,
    modes: Modes,
    win: Window,
    dup_mode: str,
    today: dt.date,
    path: Path,
    *,
    hashes,
    row_hashes: RowHashes | None = None,
) -> None:
    """The rejected rows as CSV (``row, reason, category, detail, src_<column>...``,
    ordered by row; the layout of ``LoadResult.rejected``), formula-safe as every table
    the report writes (:mod:`tiering.safecsv`).

    ``hashes``: the row hashes of the rejected rows (from the aggregation pass). Only the
    rows with these hashes are screened again. Their row numbers come from
    :func:`_pick` (a CSV file; parallel) or from the reader (Parquet); above
    ``MAX_POSITIONED_ROWS`` rejected rows of a CSV file, DuckDB numbers the rows in a
    single-threaded scan and writes the file itself. ``row_hashes``: gathers every row's
    hash from :func:`_pick`'s scan, when it is made."""
    import pyarrow as pa

    from tiering.data.io import REASONS
    from tiering.safecsv import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    names = ["row", "reason", "category", "detail"] + [f"src_{h}" for h in lay.headers]
    if hashes is None or not len(hashes):
        write_csv(pd.DataFrame(columns=names), part)
        os.replace(part, path)
        return
    category = (
        "CASE reason "
        + " ".join(f"WHEN {lit(code)} THEN {lit(cat)}" for code, (cat, _) in REASONS.items())
        + " END"
    )
    # empty cells as empty text, not missing: the pandas path's cells (written "")
    cols = ["reason", f"{category} AS category", "coalesce(detail, '') AS detail"] + [
        f"coalesce({lay.cols[i]}, '') AS {ident(nm)}" for i, nm in enumerate(names[4:])
    ]
    hashes = pa.array(np.asarray(hashes, dtype="uint64"), pa.uint64())
    con.register("rejected_hashes", pa.table({"h": hashes}))
    try:
        with _numbered_rows(con, lay, dup_mode, row_hash(lay), hashes, hashes=row_hashes) as (
            lay_,
            numbered,
        ):
            parsed = parsed_sql(
                lay_,
                src,
                modes,
                win,
                details=True,
                duplicates=dup_mode,
                today=today,
                numbered=numbered,
                only_rows="rejected_hashes",
            )
            rejected = 'FROM t3 WHERE reason IS NOT NULL ORDER BY "row"'
            if lay_ is not lay:  # the picked records: few enough to hold
                got = _run(con, parsed + f' SELECT "row", {", ".join(cols)} {rejected}', lay)
                write_csv(got[names], part)
            else:  # DuckDB writes them, formula-safe in SQL
                safe = ['"row"'] + cols[:3] + [_formula_safe_sql(c) for c in cols[3:]]
                _copy_rejected(
                    con, f"{parsed} SELECT {', '.join(safe)} {rejected}", names, part, lay
                )
    finally:
        con.unregister("rejected_hashes")
    os.replace(part, path)


def _copy_rejected(con, select: str, names: list[str], part: Path, lay: Layout) -> None:
    """Write the rows of ``select`` (``row`` then the text columns ``names[1:]``) to
    ``part`` byte for byte as :func:`tiering.safecsv.write_csv` writes them from pandas
    (the pandas path's rejected-rows file): the header by ``write_csv`` itself (quoted,
    formula-safe), then DuckDB's rows with every text quoted and the row number not."""
    from tiering.safecsv import write_csv

    write_csv(pd.DataFrame(columns=names), part)
    body = part.with_name(part.name + ".rows")
    try:
        quoted = ", ".join(ident(nm) for nm in names[1:])
        _run(
            con,
            f"COPY ({select}) TO {lit(str(body))} (FORMAT csv, HEADER false, DELIMITER ',', "
            f"QUOTE '\"', ESCAPE '\"', NEW_LINE '\\n', FORCE_QUOTE ({quoted}))",
            lay,
            fetch="none",
        )
        with open(part, "ab") as out, open(body, "rb") as rows:
            shutil.copyfileobj(rows, out, 1 << 20)
    finally:
        body.unlink(missing_ok=True)


def _formula_safe_sql(col: str) -> str:
    """``col`` (``<expression> AS <name>``) with :func:`tiering.safecsv.formula_safe`
    applied in SQL."""
    from tiering.safecsv import NEGATIVE_NUMBER, RISKY_START

    expr, _, name = col.rpartition(" AS ")
    v = f"({expr})"
    risky = (
        f"(regexp_matches({v}, {lit(RISKY_START)}) OR (starts_with({v}, '-') AND "
        f"NOT regexp_matches({v}, {lit(NEGATIVE_NUMBER)})))"
    )
    return f"CASE WHEN {risky} THEN '''' || {v} ELSE {v} END AS {name}"


def monthly_by_tier(result, tiers: pd.DataFrame, src, *, spec) -> pd.DataFrame:
    """``month, tier, revenue, customers`` per calendar month and tier (every tier in
    every month with data, as ``tiering.analysis.pipeline._monthly``): from the
    (customer, month) aggregate of ``result`` (``result.months``) when it has one, else
    by one more pass over the file, with the reading decisions and window of ``result``."""
    dtype = tiers["tier"].dtype
    codes = pd.DataFrame(
        {
            "customer_id": tiers["customer_id"].astype(str).to_numpy(),
            "tier_code": tiers["tier"].cat.codes.to_numpy(dtype="int64"),
        }
    )
    if getattr(result, "months", None) is not None:
        import duckdb

        config = {"threads": spec.threads} if spec.threads else {}
        con = interrupt.track(duckdb.connect(config=config))
        try:
            con.register("tiering_months", result.months)
            con.register("tier_of", codes)
            # a (customer, month) is one customer of the month; the exact sums of the
            # customers' revenue, as DOUBLE
            got = con.sql(
                """
                SELECT m.month, tier_of.tier_code,
                       CAST(sum(m.revenue) AS DOUBLE) AS revenue, count(*) AS customers
                FROM tiering_months m JOIN tier_of ON m.customer_id = tier_of.customer_id
                GROUP BY ALL ORDER BY ALL"""
            ).df()
        finally:
            con.close()
        return _monthly_grid(got, dtype)
    with _rescan(result, src, spec) as (con, lay, modes, win, dup_mode):
        con.register("tier_of", codes)
        parsed = parsed_sql(
            lay, src, modes, win, details=False, duplicates=dup_mode, today=_today_of(result)
        )
        sql = (
            parsed
            + """
        SELECT date_trunc('month', t3.d_us) AS month, tier_of.tier_code,
               sum(round_even(t3.amt_signed, 6)) AS revenue,
               count(DISTINCT t3.cust) AS customers
        FROM t3 JOIN tier_of ON t3.cust = tier_of.customer_id
        WHERE t3.reason IS NULL
        GROUP BY ALL ORDER BY ALL
        """
        )
        got = _run(con, sql, lay)
    return _monthly_grid(got, dtype)


def _monthly_grid(got: pd.DataFrame, dtype) -> pd.DataFrame:
    """``month, tier, revenue, customers`` with every tier in every month of ``got``
    (``month, tier_code, revenue, customers``)."""
    months = sorted(got["month"].unique())
    grid = pd.MultiIndex.from_product(
        [months, range(len(dtype.categories))], names=["month", "tier_code"]
    )
    out = got.set_index(["month", "tier_code"]).reindex(grid).reset_index()
    out["revenue"] = out["revenue"].fillna(0.0).round(6)
    out["customers"] = out["customers"].fillna(0).astype("int64")
    # the dtype tiering.analysis.pipeline._monthly gives (to_period().to_timestamp())
    out["month"] = pd.to_datetime(out["month"]).dt.to_period("M").dt.to_timestamp()
    out["tier"] = pd.Categorical.from_codes(out["tier_code"].to_numpy(), dtype=dtype)
    return out[["month", "tier", "revenue", "customers"]]


def _today_of(result) -> dt.date:
    value = result.source.get("today")
    return dt.date.fromisoformat(value) if value else R.today()


@contextmanager
def _rescan(result, src, spec):
    """Another pass over the file with the decisions of an earlier ``result``: yields
    ``(con, lay, modes, win, dup_mode)``, a fresh connection with the UDFs registered;
    the connection and its work folder go when the block ends."""
    workdir = Path(tempfile.mkdtemp(prefix="tiering-duckdb-", dir=spec.temp_directory))
    try:
        lay, modes, win = _rescan_setup(result, src, spec, workdir)
        dup_mode = "reject" if src.duplicate_rows == "reject" else "skip"
        con = connect(spec, workdir)
        try:
            register_udfs(con, modes, _roles(lay))
            yield con, lay, modes, win, dup_mode
        finally:
            con.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _rescan_setup(result, src, spec, workdir):
    """Layout, reading decisions and window of an earlier result, for another pass."""
    lay = inspect(src, workdir)
    if (
        lay.fmt == "csv"
        and result.source.get("encoding") == "gb18030"
        and lay.info.get("transcoded_from") is None
    ):
        _use_copy(lay, transcode(Path(src.path), workdir, "gb18030", gz=_is_gzip(Path(src.path))))
        lay.info["encoding"] = "gb18030"
    if lay.fmt == "csv" and result.source.get("rewritten"):
        # the first pass read the file the loader's way: so must this one
        _use_copy(lay, rewrite_csv(lay, src, workdir), skip=1)
    facts = result.source.get("modes") or {}
    modes = Modes(
        dayfirst=bool(facts.get("dayfirst", src.dayfirst)),
        thousands=tuple(facts.get("thousands_dots", ())),
        decimal=facts.get("decimal"),
    )
    win = Window(as_of=result.as_of, start=result.window_start)
    return lay, modes, win


def clean_transactions(result, src, *, spec, customers=None) -> pd.DataFrame:
    """The used rows as ``tiering.data.io.LoadResult.transactions`` has them (``row,
    customer_id, order_id, order_date, amount, is_return``, ``customer_name`` and the
    attributes), for the analyses that need transactions (migration, holdout) when the
    data fits in memory: one more pass over the file, with the decisions of ``result``.
    ``customers`` (a sequence of customer ids): only their transactions."""
    with _rescan(result, src, spec) as (con, lay, modes, win, dup_mode):
        keep = ""
        if customers is not None:
            import pyarrow as pa

            con.register(
                "tiering_sample",
                pa.table({"id": pa.array([str(c) for c in customers], pa.string())}),
            )
            keep = " AND cust IN (SELECT id FROM tiering_sample)"
        with _numbered_rows(con, lay, dup_mode, _cust_key(lay), customers) as (lay_, numbered):
            parsed = parsed_sql(
                lay_,
                src,
                modes,
                win,
                details=False,
                duplicates=dup_mode,
                today=_today_of(result),
                numbered=numbered,
            )
            tx = _run(
                con,
                parsed
                + f"""
                SELECT {_transactions_select(lay, src)}
                FROM t3 WHERE reason IS NULL{keep} ORDER BY "row" """,
                lay,
            )
    return _finish_transactions(tx)


def value_inputs(result, src, *, spec) -> pd.DataFrame:
    """The value model's inputs of ``result`` (``customer_id, purchase_days,
    repeat_spend``: :func:`value_inputs_sql`): ``result.value_inputs`` when it has them,
    else by one more pass over the file, with the decisions of ``result`` (a cached
    result stored without them)."""
    if getattr(result, "value_inputs", None) is not None:
        return result.value_inputs
    with _rescan(result, src, spec) as (con, lay, modes, win, dup_mode):
        return _file_value_inputs(con, lay, src, modes, win, dup_mode, _today_of(result))
