"""Action lists: which customer to contact, for what, per tier — as Excel and CSV.

``write_action_lists(tiers, recommendations, folder, language=...)`` writes

- ``action_lists.xlsx``: first a Summary sheet (概览): per tier the customers, their
  share, the net revenue and its share, the budget share and amount (from
  ``Recommendations.budget``), a total row; then what each other sheet holds; then the
  report (client and title), the as-of date and the currency when given. Numbers are
  numbers with number formats. Then one sheet per tier (named after the tier label, made
  safe for Excel), best tier first, then the extra sheets (e.g. the movers of
  :func:`tiering.build.migration_tables.movers_sheets`). Every list sheet (tiers and
  extras) has a styled header row in the report language, frozen header and first
  column ("B2"), an auto-filter over the header and data rows, fitted column widths and
  an owner column wide enough to write a name. Tier sheet columns: customer ID, name
  (when the data has names), segment (when the tiering names segments), net spend,
  orders, average order value, days since the last purchase, last purchase, usual gap
  between orders, at risk, the signals (triggers) that caught the customer, the
  recommended action and an empty owner column for the client to fill in.
- ``action_lists.csv``: the same rows for all tiers in one table with a ``tier``
  column and stable snake_case headers (:data:`CSV_COLUMNS`), for CRM imports;
  UTF-8 with a byte-order mark so Excel shows Chinese correctly.

Rows within a tier: customers caught by a trigger first (by the trigger's priority),
then by net spend, highest first, then by customer ID.

Spreadsheet formula injection: a text cell starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return is prefixed with ``'`` (:func:`safe_text`), in both files,
headers included. Control characters a workbook cannot hold (NUL, BEL, ...) become
U+FFFD in the workbook (:func:`workbook_text`) and stay as they are in the CSV. Sheet
names are cleaned of what Excel refuses and made unique; the tier labels stay exact in
the cells.
In the workbook every text cell is also stored with the explicit string type (XlsxWriter
with its formula, number and link conversions off), so no text becomes a formula, and
numbers are stored as numbers (a negative net spend stays a number; it cannot be a
formula). The workbook is reproducible: fixed document properties and ZIP timestamps,
so the same input gives the same bytes. XlsxWriter in constant-memory mode writes it
row by row (measured: about twice as fast as openpyxl's write-only mode, BENCHMARKS.md).

Speed at 1M customers (issue 18): the list and its CSV are made column by column with
Arrow, without a Python object per cell (each one costs CPU and, on first touch of its
memory, a page fault); the workbook converts each distinct text once. 1M customers:
``write_action_lists`` 3.5-3.9 CPU-s, was 11.5-12.5.

Longer than 800 lines because the list, its CSV and its workbook share the column
rules (kinds, formula-safe text, widths) that keep the two files consistent.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tiering import interrupt, locale
from tiering.analysis.strategy import Recommendations
from tiering.errors import require
from tiering.present.i18n import pick, t, tn
from tiering.present.strategy_text import action_table, findings
from tiering.style import Palette

__all__ = [
    "WORKBOOK_NAME",
    "CSV_NAME",
    "CSV_COLUMNS",
    "BUDGET_NAME",
    "TRIGGERS_NAME",
    "safe_text",
    "workbook_text",
    "sheet_names",
    "action_list",
    "write_action_lists",
    "write_strategy_tables",
    "value_sheets",
    "VALUE_SHEET_COLUMNS",
    "owners",
    "credit_flags",
]

WORKBOOK_NAME = "action_lists.xlsx"
CSV_NAME = "action_lists.csv"
BUDGET_NAME = "budget.csv"
TRIGGERS_NAME = "triggers.csv"

#: Columns of :func:`action_list` and of ``action_lists.csv``, in order;
#: ``customer_name`` and ``segment`` only when the data has them.
CSV_COLUMNS: tuple[str, ...] = (
    "tier",
    "customer_id",
    "customer_name",
    "segment",
    "monetary",
    "frequency",
    "aov",
    "recency_days",
    "last_purchase",
    "usual_gap_days",
    "at_risk",
    "credit_flag",
    "signals",
    "recommended_action",
    "owner",
)
#: Columns of the list sheets -> (header key in tiering/text/*.yaml, kind). The tier
#: sheets show the first block in this order; the movers sheets (and any extra sheet)
#: their table's columns in the table's order, headed from here when known.
_SHEET_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("strategy.col_customer_id", "text"),
    "customer_name": ("strategy.col_customer_name", "text"),
    "segment": ("strategy.col_segment", "text"),
    "monetary": ("strategy.col_monetary", "money"),
    "frequency": ("strategy.col_frequency", "int"),
    "aov": ("strategy.col_aov", "money"),
    "recency_days": ("strategy.col_recency_days", "int"),
    "last_purchase": ("strategy.col_last_purchase", "date"),
    "usual_gap_days": ("strategy.col_usual_gap_days", "days"),
    "at_risk": ("strategy.col_at_risk", "text"),
    "credit_flag": ("campaigns.col_credit_flag", "text"),
    "signals": ("strategy.col_signals", "text"),
    "recommended_action": ("strategy.col_recommended_action", "text"),
    "owner": ("strategy.col_owner", "text"),
}
_MOVER_COLUMNS: dict[str, tuple[str, str]] = {
    "from_tier": ("workbook.col_from_tier", "text"),
    "to_tier": ("workbook.col_to_state", "text"),
    "revenue_before": ("workbook.col_revenue_before", "money"),
    "revenue_after": ("workbook.col_revenue_after", "money"),
    "revenue_change": ("workbook.col_revenue_change", "money"),
    "spend_to_date": ("workbook.col_spend_to_date", "money"),
    "period_start": ("workbook.col_period_start", "date"),
    "period_end": ("workbook.col_period_end", "date"),
}
_LIST_COLUMNS = {**_SHEET_COLUMNS, **_MOVER_COLUMNS}
_NUMBER_FORMATS = {
    "money": "#,##0.00",
    "int": "#,##0",
    "days": "0.0",
    "date": "yyyy-mm-dd",
    "share": "0.0%",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_REGEX = "^[=+\\-@\t\r]"  # starts with one of _FORMULA_START (Arrow's RE2)
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_MAX_SHEET_NAME = 31
_MAX_SHEET_ROWS = 1_048_576  # Excel's limit, header included
_MAX_WIDTH = 60
_OWNER_WIDTH = 20  # room to write a name
#: Document timestamp used when none is given (reproducible output).
DEFAULT_TIMESTAMP = dt.datetime(2000, 1, 1)
_HEADER_FILL = "1B4F72"  # tiering.style.ACCENT


def safe_text(value: object) -> str:
    """Text that a spreadsheet will not run as a formula: a value starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``. Missing
    values become ``""``."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _clean_sheet_name(text: str) -> str:
    """``text`` without what Excel refuses in a sheet name: ``[]:*?/\\``, control and
    other invisible characters, a leading or trailing ``'``; at most 31 characters.
    May be empty."""
    name = _SHEET_FORBIDDEN.sub("", str(text))
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return name.strip().strip("'").strip()[:_MAX_SHEET_NAME].strip().strip("'").strip()


def _unique_sheet_name(name: str, used: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)`` ... (within 31 characters) when a sheet of
    that name (ignoring case, as Excel does) is in ``used``; adds the result to ``used``."""
    base, n = name, 2
    while name.casefold() in used:
        suffix = f" ({n})"
        name = base[: _MAX_SHEET_NAME - len(suffix)].rstrip().rstrip("'") + suffix
        n += 1
    used.add(name.casefold())
    return name


def sheet_names(
    labels: Sequence[str], *, language: str, reserved: Sequence[str] = ()
) -> dict[str, str]:
    """Excel-safe, unique sheet names for tier labels (in order).

    Removes ``[]:*?/\\`` and control characters, trims to 31 characters, refuses
    a leading or trailing ``'``; an empty result or the reserved name "History" becomes
    "Tier N" (等级N); names equal ignoring case (to each other or to a name in
    ``reserved``, e.g. the movers sheets) get " (2)", " (3)" ... appended. The labels
    themselves stay exact in the cells and CSV files.
    """
    out: dict[str, str] = {}
    used: set[str] = {str(r).casefold() for r in reserved}
    for rank, label in enumerate(labels, start=1):
        name = _clean_sheet_name(label)
        if not name or name.casefold() == "history":
            name = t("strategy.sheet_fallback", language, n=rank)
        out[str(label)] = _unique_sheet_name(name, used)
    return out


def owners(tiers: pd.DataFrame) -> pd.Series:
    """The account owner per row of ``tiers`` from the customer master's ``owner``
    column (blank where unknown); all blank without one."""
    if "owner" not in tiers.columns:
        return pd.Series("", index=tiers.index, dtype=object)
    return tiers["owner"].astype(object).where(tiers["owner"].notna(), "").astype(str)


def credit_flags(tiers: pd.DataFrame, *, language: str) -> pd.Series:
    """Per row of ``tiers`` (with the master's ``overdue`` and, when known,
    ``overdue_days``): "overdue N days" in ``language`` where the customer is overdue,
    "overdue" when only an overdue amount says so, else blank."""
    late = tiers["overdue"].astype("boolean").fillna(False).astype(bool)
    days = (
        tiers["overdue_days"]
        if "overdue_days" in tiers.columns
        else pd.Series(float("nan"), index=tiers.index)
    )
    d = pd.to_numeric(days, errors="coerce").to_numpy(dtype=float)
    flag = np.where(late.to_numpy(), t("campaigns.credit_overdue", language), "").astype(object)
    with_days = late.to_numpy() & (d > 0)  # NaN compares False
    texts = {
        v: t("campaigns.credit_overdue_days", language, days=f"{int(v):,}")
        for v in np.unique(d[with_days])
    }
    flag[with_days] = [texts[v] for v in d[with_days]]
    return pd.Series(flag, index=tiers.index, dtype=object)


def action_list(
    tiers: pd.DataFrame, recommendations: Recommendations, *, language: str
) -> pd.DataFrame:
    """The rows of the action lists: one per customer, tier by tier, best tier first.

    Columns :data:`CSV_COLUMNS` (``customer_name`` and ``segment`` only when ``tiers``
    has them): ``tier``; ``customer_id``; ``customer_name``; ``segment`` (the playbook's
    name in ``language`` when known, else as in the data); ``monetary`` (net spend),
    ``frequency`` (orders), ``aov``, ``recency_days``, ``last_purchase`` (date),
    ``usual_gap_days`` (missing for one-order customers); ``at_risk`` (yes/no in
    ``language``); ``signals`` (names of the triggers that caught the customer);
    ``recommended_action``; ``owner`` (the customer master's account owner when
    ``tiers`` has an ``owner`` column, i.e. ``data.customers`` maps one; else empty for
    the client to fill in). With the master's ``overdue`` column, ``credit_flag`` (after
    ``at_risk``): "overdue N days" (or "overdue" without days) in ``language`` for an
    overdue customer, else empty. Values are not yet made formula-safe.
    """
    locale.get(language, where="language")
    require(
        isinstance(recommendations, Recommendations),
        "recommendations must be the result of tiering.analysis.strategy.recommend()",
        where="action_list(recommendations)",
    )
    recs = recommendations.customers
    needed = ["customer_id", "monetary", "frequency", "aov", "recency_days"]
    missing = [c for c in needed if c not in tiers.columns]
    require(
        not missing,
        f"tiers lacks the column(s): {', '.join(missing)}",
        where="action_list(tiers)",
        hint="pass Analysis.tiers",
    )
    ids = tiers["customer_id"].astype(str)
    rec_ids = recs["customer_id"].astype(str)
    # usually the same customers in the same order (Analysis.tiers, recommend()):
    # then the rows pair up by position, else they are looked up by ID
    same_order = ids.reset_index(drop=True).equals(rec_ids.reset_index(drop=True))
    require(
        pd.Index(ids).is_unique
        and (
            same_order
            or (bool(pd.Index(ids).isin(rec_ids).all()) and bool(pd.Index(rec_ids).isin(ids).all()))
        ),
        "tiers and recommendations do not describe the same customers",
        where="action_list(tiers, recommendations)",
        hint="pass the recommendations computed from these tiers",
    )
    used = [c for c in _BASE_COLUMNS if c in tiers.columns]  # only what the list shows
    base = tiers[used]
    if not same_order:
        base = base.take(pd.Index(ids).get_indexer(rec_ids))
    base = base.reset_index(drop=True)
    rec = recs.reset_index(drop=True)
    acts = action_table(recommendations, language=language)  # in the same order
    out = {"tier": rec["tier"].astype(str), "customer_id": rec_ids.reset_index(drop=True)}
    if "customer_name" in base.columns:
        out["customer_name"] = base["customer_name"]
    if "segment" in base.columns:
        names = {
            key: pick(body["name"], language)
            for key, body in recommendations.playbook["segments"].items()
        }
        keys = (
            rec["segment_key"] if "segment_key" in rec.columns else pd.Series(None, index=rec.index)
        )
        out["segment"] = _segment_names(keys, base["segment"], names)
    for col in ("monetary", "frequency", "aov", "recency_days"):
        out[col] = base[col]
    out["aov"] = out["aov"].round(2)  # a list for people: cents, tenths of days
    out["last_purchase"] = (
        pd.to_datetime(base["last_purchase"]).dt.normalize()
        if "last_purchase" in base.columns
        else pd.Series(pd.NaT, index=rec.index)
    )
    out["usual_gap_days"] = rec["usual_gap_days"].round(1)
    out["at_risk"] = _yes_no(
        rec["at_risk"], t("strategy.yes", language), t("strategy.no", language)
    )
    if "overdue" in base.columns:
        out["credit_flag"] = credit_flags(base, language=language)
    for col in ("signals", "recommended_action"):
        out[col] = _text_values(acts[col])
    out["owner"] = owners(base)
    # callers first (by priority), then by net spend, then by ID
    order = _order(
        rec["tier_rank"],
        pd.Series(rec["priority"].astype("Float64").fillna(math.inf).to_numpy(dtype=float)),
        out["monetary"],
        out["customer_id"],
    )
    frame = pd.DataFrame({c: out[c] for c in CSV_COLUMNS if c in out}, copy=False)
    return frame.take(order).reset_index(drop=True)


#: The columns of ``tiers`` the action list shows or needs (owner, credit flag).
_BASE_COLUMNS = (
    "customer_name",
    "segment",
    "monetary",
    "frequency",
    "aov",
    "recency_days",
    "last_purchase",
    "overdue",
    "overdue_days",
    "owner",
)
#: pandas' text dtype ("str"): Arrow strings, NaN for missing values.
_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def _segment_names(keys: pd.Series, raw: pd.Series, names: Mapping) -> pd.Series:
    """Per row: the playbook's name of the segment key where the key is a known text,
    else the segment as in the data (``raw``)."""
    keys = keys.reset_index(drop=True)
    raw = raw.reset_index(drop=True)
    if isinstance(raw.dtype, pd.CategoricalDtype):  # a name may be no category of it
        raw = raw.astype(object)
    if isinstance(keys.dtype, pd.StringDtype):
        is_text = keys.notna().to_numpy(dtype=bool)
    else:
        is_text = np.fromiter((isinstance(k, str) for k in keys), dtype=bool, count=len(keys))
    known = is_text & keys.isin([k for k in names if isinstance(k, str)]).to_numpy(dtype=bool)
    out = raw.where(~known, keys.map(names))
    if out.dtype != _STR:  # mixed values: the column pandas makes of them
        out = pd.Series(out.tolist(), index=out.index)
    return out


def _yes_no(flags: pd.Series, yes: str, no: str) -> pd.Series:
    """``yes`` where ``flags`` is True, ``no`` where False (missing where missing)."""
    if flags.dtype == bool:  # Arrow picks the texts without a Python object per row
        import pyarrow as pa
        import pyarrow.compute as pc

        chosen = pc.if_else(pa.array(flags.to_numpy()), yes, no)
        return pd.Series(chosen, dtype=_STR, index=flags.index)
    return flags.map({True: yes, False: no})


def _text_values(column: pd.Series):
    """The column's values to put in another table row by row: the text array itself
    when it is one (no Python object per row), else its values."""
    return column.array if column.dtype == _STR else column.to_numpy()


def _order(rank: pd.Series, priority: pd.Series, monetary: pd.Series, ids: pd.Series) -> np.ndarray:
    """The row positions by ``rank`` and ``priority`` (ascending), ``monetary``
    (descending), then ``ids`` (ascending); missing values last. Arrow sorts numbers
    and texts without a Python object per row; other dtypes are sorted by pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if ids.dtype == _STR and all(_numpy_number(s.dtype) for s in (rank, priority, monetary)):
        # numpy arrays: NaN stays NaN, which Arrow sorts after every number, as pandas
        table = pa.table(
            {
                "rank": pa.array(rank.to_numpy()),
                "priority": pa.array(priority.to_numpy()),
                "monetary": pa.array(monetary.to_numpy()),
                "id": pa.array(ids),
            }
        )
        keys = [
            ("rank", "ascending"),
            ("priority", "ascending"),
            ("monetary", "descending"),
            ("id", "ascending"),
        ]
        return pc.sort_indices(table, sort_keys=keys).to_numpy()
    keys = pd.DataFrame(
        {"rank": rank, "priority": priority, "monetary": monetary, "id": ids}, copy=False
    )
    return (
        keys.reset_index(drop=True)
        .sort_values(
            ["rank", "priority", "monetary", "id"],
            ascending=[True, True, False, True],
            kind="mergesort",
        )
        .index.to_numpy()
    )


def _width(value: object) -> int:
    text = "" if value is None else str(value)
    if text.isascii():  # no wide character
        return len(text)
    # East Asian wide characters take two columns
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _display(value: object, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "days":
        return f"{value:.1f}"
    if kind == "date":
        return "yyyy-mm-dd"  # shown as a 10-character date
    if kind == "share":
        return f"{value:.1%}"
    return str(value)


# The control characters a workbook cannot hold: openpyxl's ``ILLEGAL_CHARACTERS_RE``
# (openpyxl.cell.cell), written out here: importing openpyxl for it cost 0.2 s a report.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def workbook_text(value: object) -> str:
    """:func:`safe_text`, with the control characters a workbook cannot hold (NUL, BEL,
    ESC ...: :data:`ILLEGAL_CHARACTERS_RE`) replaced by U+FFFD. Tabs and line breaks
    stay. The CSV files keep the text unchanged."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", safe_text(value))


class _Formats:
    """The workbook's cell formats, made once per (kind, style): ``style`` ``None``
    (plain), ``"header"`` (bold, white on the accent colour, or the ``brand``'s text
    colour on its primary colour and its font) or ``"bold"`` (the total row)."""

    def __init__(self, wb, brand: Palette | None = None):
        fill, text = _HEADER_FILL, "FFFFFF"
        font = {}
        if brand is not None and not brand.is_default:
            fill = brand.primary.lstrip("#").upper()
            text = brand.text_on_primary.lstrip("#").upper()
            font = {"font_name": brand.font} if brand.font else {}
        self._styles = {
            None: {},
            "bold": {"bold": True},
            "header": {
                "bold": True,
                "font_color": f"#{text}",
                "bg_color": f"#{fill}",
                "pattern": 1,
                "valign": "vcenter",
                "text_wrap": True,
                **font,
            },
        }
        self._wb = wb
        self._made: dict = {}

    def __call__(self, kind: str, style: str | None = None):
        key = (kind, style)
        if key not in self._made:
            props = dict(self._styles[style])
            if kind != "text":
                props["num_format"] = _NUMBER_FORMATS[kind]
            self._made[key] = self._wb.add_format(props) if props else None
        return self._made[key]


def _put(ws, row: int, col: int, value: object, kind: str, fmt) -> None:
    """Write one cell: text always as a string (never a formula, an error code or a
    number; empty text leaves the cell empty, or blank with its format), numbers as
    numbers and dates as dates with their number formats (a date before 1900, outside
    Excel's calendar, as ISO text), a missing or infinite value as a blank cell with
    the column's format."""
    if kind == "text":
        _put_text(ws, row, col, workbook_text(value), fmt)
        return
    if value is None or pd.isna(value):  # None, NaN, NaT, pd.NA
        ws.write_blank(row, col, None, fmt)
    elif kind == "date":
        when = pd.Timestamp(value).to_pydatetime()
        if when.year < 1900:  # before Excel's calendar: the date as text
            ws.write_string(row, col, when.date().isoformat())
        else:
            ws.write_datetime(row, col, when, fmt)
    elif not math.isfinite(float(value)):  # infinities: no number to show
        ws.write_blank(row, col, None, fmt)
    else:
        ws.write_number(row, col, int(value) if kind == "int" else float(value), fmt)


def _put_text(ws, row: int, col: int, text: str, fmt) -> None:
    """Write a cell's text (made by :func:`workbook_text`): empty text leaves the cell
    empty, or blank with its format."""
    if text:
        ws.write_string(row, col, text, fmt)
    elif fmt is not None:
        ws.write_blank(row, col, None, fmt)


def _workbook_texts(values) -> list[str]:
    """:func:`workbook_text` per value; each distinct text converted once (a list's
    texts repeat: tiers, signals, actions)."""
    memo: dict[str, str] = {}
    out = []
    for value in values:
        if type(value) is str:
            text = memo.get(value)
            if text is None:
                text = memo[value] = workbook_text(value)
        else:
            text = workbook_text(value)
        out.append(text)
    return out


def _numpy_number(dtype) -> bool:
    """Numbers numpy holds (no ``pd.NA``): integers and floats."""
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


def _workbook_numbers(column: pd.Series, kind: str) -> list:
    """What :func:`_put` writes per value of a numeric (numpy) column: the number
    (``int`` for the kind "int", else ``float``), ``None`` for a blank cell (missing,
    infinite)."""
    values = column.to_numpy()
    convert = int if kind == "int" else float
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        return [convert(v) if ok else None for v, ok in zip(values.tolist(), finite.tolist())]
    return [convert(v) for v in values.tolist()]


def _put_row(ws, row: int, values, kinds, formats: _Formats, style: str | None = None) -> None:
    for col, (value, kind) in enumerate(zip(values, kinds)):
        _put(ws, row, col, value, kind, formats(kind, style))


def _fit_width(header: str, values: Sequence[str], *, owner: bool = False) -> float:
    """A column width for the header and the (displayed) values: the widest plus a
    margin, at most 60 characters; an owner column at least 20 to write a name in."""
    width = max(_width(v) for v in {header, *values[:5000]}) + 2  # each text once
    if owner:
        width = max(width, _OWNER_WIDTH)
    return min(_MAX_WIDTH, width)


def _write_list(
    ws,
    formats: _Formats,
    table: pd.DataFrame,
    keys: Sequence[str],
    headers: Sequence[str],
    kinds: Sequence[str],
    *,
    max_rows: int,
    more: str | None,
) -> None:
    """One list sheet: the header row, the first ``max_rows`` rows of ``table`` (its
    columns ``keys``, in order) and the line ``more`` when rows were left out. Frozen
    header and first column, an auto-filter over the header and the rows shown, fitted
    widths; the ``owner`` column wide enough to write a name."""
    shown = table.iloc[:max_rows]
    records = shown.to_numpy(dtype=object)
    for j, (key, header, kind) in enumerate(zip(keys, headers, kinds)):
        values = [_display(v, kind) for v in records[:, j]] if len(records) else []
        ws.set_column(j, j, _fit_width(header, values, owner=key == "owner"))
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, len(shown), max(len(keys), 1) - 1)
    _put_row(ws, 0, headers, ["text"] * len(headers), formats, "header")
    plain = [formats(kind) for kind in kinds]
    # each column's cells made at once: texts (each distinct text once) and numbers
    texts = {j: _workbook_texts(records[:, j]) for j, kind in enumerate(kinds) if kind == "text"}
    numbers = {
        j: _workbook_numbers(shown.iloc[:, j], kind)
        for j, kind in enumerate(kinds)
        if kind not in ("text", "date") and _numpy_number(shown.iloc[:, j].dtype)
    }
    for i, row in enumerate(records):
        if i % _CHECK_EVERY == 0:  # a sheet of 1M rows takes seconds: Ctrl-C stops it
            interrupt.check()
        for j, (value, kind) in enumerate(zip(row, kinds)):
            if kind == "text":
                _put_text(ws, i + 1, j, texts[j][i], plain[j])
            elif j in numbers:
                number = numbers[j][i]
                if number is None:  # missing or infinite: a blank cell with the format
                    ws.write_blank(i + 1, j, None, plain[j])
                else:
                    ws.write_number(i + 1, j, number, plain[j])
            else:
                _put(ws, i + 1, j, value, kind, plain[j])
    if more:
        _put(ws, len(records) + 1, 0, more, "text", None)


def _write_summary(
    ws,
    formats: _Formats,
    summary: pd.DataFrame,
    budget: pd.DataFrame,
    sheets: Sequence[tuple[str, str]],
    *,
    language: str,
    currency: str,
    report: str | None,
    as_of: dt.date | None,
) -> None:
    """The Summary sheet: per tier (``summary``: tier, customers, revenue) the
    customers, their share, the net revenue and its share, the budget share and amount
    (``budget``: ``Recommendations.budget``) and a total row; then what each sheet
    holds (``sheets``: name, description); then the report, the as-of date and the
    currency. A long text sits in the second column with nothing to its right, so it
    shows in full without widening the column."""
    bud = budget.assign(tier=budget["tier"].astype(str)).set_index("tier")
    has_amount = bool(bud["amount"].notna().any())
    headers = [
        t("strategy.col_tier", language),
        t("strategy.customers", language),
        t("workbook.col_customer_share", language),
        t("workbook.col_revenue", language, currency=currency),
        t("strategy.col_revenue_share", language),
        t("strategy.col_budget_share", language),
    ]
    kinds = ["text", "int", "share", "money", "share", "share"]
    if has_amount:
        headers.append(t("workbook.col_budget", language, currency=currency))
        kinds.append("money")
    customers = summary["customers"].astype("int64")
    revenue = summary["revenue"].astype(float)
    n_all, r_all = int(customers.sum()), float(revenue.sum())
    table = []
    for label, n, r in zip(summary["tier"].astype(str), customers, revenue):
        share = bud["share"].get(label, math.nan)
        row = [label, int(n), n / n_all if n_all else 0.0, r, r / r_all if r_all else 0.0, share]
        if has_amount:
            row.append(bud["amount"].get(label, math.nan))
        table.append(row)
    total = [t("strategy.total", language), n_all, 1.0 if n_all else 0.0, r_all]
    total += [1.0 if r_all else 0.0, float(bud["share"].sum())]
    if has_amount:
        total.append(float(bud["amount"].sum()))
    about = []
    if report:
        about.append((t("workbook.about_report", language), report, "text"))
    if as_of is not None:
        about.append((t("workbook.about_as_of", language), as_of, "date"))
    about.append((t("workbook.about_currency", language), currency, "text"))
    # widths: the tier table, the sheet names and labels; long texts are left to spill
    columns: list[list[str]] = [[h] for h in headers]
    for row in [*table, total]:
        for j, (v, kind) in enumerate(zip(row, kinds)):
            columns[j].append(_display(v, kind))
    columns[0] += [t("workbook.col_sheet", language)] + [name for name, _ in sheets]
    columns[0] += [label for label, _, _ in about]
    columns[1].append(t("workbook.col_sheet_holds", language))
    columns[1] += [_display(v, kind) for _, v, kind in about if kind != "text"]
    for j, values in enumerate(columns):
        ws.set_column(j, j, _fit_width(values[0], values[1:]))
    ws.freeze_panes(1, 0)
    _put_row(ws, 0, headers, ["text"] * len(headers), formats, "header")
    row = 1
    for values in table:
        _put_row(ws, row, values, kinds, formats)
        row += 1
    _put_row(ws, row, total, kinds, formats, "bold")
    row += 2  # an empty row
    holds = [t("workbook.col_sheet", language), t("workbook.col_sheet_holds", language)]
    _put_row(ws, row, holds, ["text", "text"], formats, "header")
    for name, description in sheets:
        row += 1
        _put_row(ws, row, [name, description], ["text", "text"], formats)
    row += 1  # an empty row
    for label, value, kind in about:
        row += 1
        _put(ws, row, 0, label, "text", formats("text", "bold"))
        _put(ws, row, 1, value, kind, formats(kind))


def _more_text(left_out: int, language: str, *, file: str | None, tier: bool) -> str | None:
    if left_out <= 0:
        return None
    n = f"{left_out:,}"
    if tier:
        key = "strategy.more_in_csv_one" if left_out == 1 else "strategy.more_in_csv"
        return t(key, language, n=n, file=CSV_NAME)
    if file:
        return tn("workbook.more_in_file", language, left_out, n=n, file=file)
    return tn("workbook.more_rows", language, left_out, n=n)


#: Rows of a list sheet between two checks for Ctrl-C (a tenth of a second or so).
_CHECK_EVERY = 20_000


def _write_workbook(
    rows: pd.DataFrame,
    labels: Sequence[str],
    path: Path,
    *,
    language: str,
    currency: str,
    factor: str,
    timestamp: dt.datetime,
    max_rows: int,
    summary: pd.DataFrame,
    budget: pd.DataFrame,
    report: str | None = None,
    as_of: dt.date | None = None,
    extra_sheets: Mapping[str, pd.DataFrame] | None = None,
    brand: Palette | None = None,
) -> None:
    import xlsxwriter

    def header(key: object) -> str:
        known = _LIST_COLUMNS.get(key) if isinstance(key, str) else None
        if known is None:
            return str(key)  # a column of an extra table tiering does not know
        return t(known[0], language, currency=currency, factor=factor)

    columns = [c for c in _SHEET_COLUMNS if c in rows.columns]
    headers = [header(c) for c in columns]
    kinds = [_SHEET_COLUMNS[c][1] for c in columns]
    # the Summary and the movers sheets keep their names; a tier label equal to one
    # gets " (2)"
    taken: set[str] = {"history"}  # reserved by Excel
    summary_name = _unique_sheet_name(
        _clean_sheet_name(t("workbook.sheet_summary", language)) or "Summary", taken
    )
    extra_titles: dict[str, str] = {}
    for title in extra_sheets or {}:
        name = _clean_sheet_name(title) or t(
            "strategy.sheet_fallback", language, n=len(labels) + len(extra_titles) + 1
        )
        extra_titles[title] = _unique_sheet_name(name, taken)
    names = sheet_names(labels, language=language, reserved=[summary_name, *extra_titles.values()])
    # per tier: its customers (the rows keep their order) and the first max_rows of them,
    # which the sheet shows (taking all 1M rows of a large client would cost seconds)
    tier = rows["tier"]
    where = {label: np.flatnonzero((tier == label).to_numpy(dtype=bool)) for label in labels}
    sizes = {label: len(at) for label, at in where.items()}
    parts = {label: rows.take(at[:max_rows]) for label, at in where.items()}
    described: list[tuple[str, str]] = []
    for label in parts:
        n = sizes[label]
        if n > max_rows:
            text = t(
                "workbook.sheet_tier_capped",
                language,
                tier=label,
                n=f"{n:,}",
                shown=f"{max_rows:,}",
                file=CSV_NAME,
            )
        else:
            text = tn("workbook.sheet_tier", language, n, tier=label, n=f"{n:,}")
        described.append((names[label], text))
    for title, table in (extra_sheets or {}).items():
        text = table.attrs.get("description") or tn(
            "workbook.sheet_table", language, len(table), n=f"{len(table):,}"
        )
        described.append((extra_titles[title], str(text)))

    # constant memory: each row goes to disk as it is written; text is never read as a
    # formula, a number or a link; fixed properties and ZIP times: the same bytes
    options = {"strings_to_formulas": False, "strings_to_numbers": False}
    options.update(strings_to_urls=False, constant_memory=True, remove_timezone=True)
    wb = xlsxwriter.Workbook(str(path), options)
    title = t("strategy.workbook_title", language)
    wb.set_properties({"title": title, "author": "tiering", "created": timestamp})
    formats = _Formats(wb, brand)
    _write_summary(
        wb.add_worksheet(summary_name),
        formats,
        summary,
        budget,
        described,
        language=language,
        currency=currency,
        report=report,
        as_of=as_of,
    )
    for label, part_rows in parts.items():
        # the most urgent customers come first; everybody is in the CSV
        _write_list(
            wb.add_worksheet(names[label]),
            formats,
            part_rows[columns],
            columns,
            headers,
            kinds,
            max_rows=max_rows,
            more=_more_text(sizes[label] - max_rows, language, file=CSV_NAME, tier=True),
        )
    for title, table in (extra_sheets or {}).items():
        keys = list(table.columns)
        _write_list(
            wb.add_worksheet(extra_titles[title]),
            formats,
            table,
            keys,
            [header(c) for c in keys],
            [
                _LIST_COLUMNS[c][1] if c in _LIST_COLUMNS else _extra_kind(table.iloc[:, j])
                for j, c in enumerate(keys)
            ],
            max_rows=max_rows,
            more=_more_text(
                len(table) - max_rows, language, file=table.attrs.get("file"), tier=False
            ),
        )
    wb.close()


def _extra_kind(column: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date"
    if pd.api.types.is_integer_dtype(column):
        return "int"
    if pd.api.types.is_float_dtype(column):
        return "money"
    return "text"


def _safe_text_column(col: pd.Series) -> pd.Series:
    """:func:`safe_text` on a whole column (vectorised): text columns by Arrow, without a
    Python object per cell; other columns (mixed objects) as pandas prints them."""
    if isinstance(col.dtype, pd.StringDtype) or (
        col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")
    ):
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            text = pc.fill_null(pa.array(col, type=pa.string(), from_pandas=True), "")
        except (pa.ArrowException, TypeError, ValueError):
            text = None  # e.g. a missing value Arrow does not know (NaT): pandas does it
        if text is not None:
            risky = pc.match_substring_regex(text, _FORMULA_REGEX)
            if pc.any(risky).as_py():  # else no copy of the text (100 MB at 1M long texts)
                text = pc.if_else(risky, pc.binary_join_element_wise("'", text, ""), text)
            return pd.Series(text, dtype=_STR, index=col.index)
    text = col.astype(object).where(col.notna(), "").astype(str)
    risky = text.str.startswith(_FORMULA_START)
    return text.where(~risky, "'" + text)


def _date_text(col: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` per value of a date column, ``""`` where missing."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind == "M":
        import pyarrow as pa
        import pyarrow.compute as pc

        days = col.to_numpy().astype("datetime64[D]")  # floors, as strftime does
        known = days[~np.isnat(days)]
        if not len(known) or (
            known.min() >= np.datetime64("0001-01-01")
            and known.max() <= np.datetime64("9999-12-31")
        ):  # four-digit years: Arrow writes them as strftime does
            text = pa.array(days, from_pandas=True).cast(pa.string())
            return pd.Series(pc.fill_null(text, ""), dtype=_STR, index=col.index)
    return col.dt.strftime("%Y-%m-%d").fillna("")


def _write_csv(rows: pd.DataFrame, path: Path) -> None:
    out = {}
    for col in rows.columns:
        if col in ("monetary", "frequency", "aov", "recency_days", "usual_gap_days"):
            out[col] = rows[col]
        elif col == "last_purchase":
            out[col] = _date_text(rows[col])
        else:
            out[col] = _safe_text_column(rows[col])
    from tiering.safecsv import write_csv

    write_csv(pd.DataFrame(out, copy=False), path, bom=True)


def write_action_lists(
    tiers: pd.DataFrame,
    recommendations: Recommendations,
    folder: str | Path,
    *,
    language: str,
    timestamp: dt.datetime | dt.date | None = None,
    max_rows_per_sheet: int | None = None,
    extra_sheets: Mapping[str, pd.DataFrame] | None = None,
    client: str | None = None,
    title: str | None = None,
    as_of: dt.date | None = None,
    brand: Palette | None = None,
) -> list[str]:
    """Write ``action_lists.xlsx`` and ``action_lists.csv`` into ``folder``.

    ``tiers`` is ``Analysis.tiers``; ``recommendations`` the result of
    :func:`tiering.analysis.strategy.recommend` for them. ``timestamp`` is the workbook's
    created/modified date (default: a fixed date, so reruns give identical files;
    pass e.g. the analysis date). ``max_rows_per_sheet`` caps each sheet (default:
    what Excel holds, 1,048,575 customers): the most urgent customers are kept and a
    last row says how many more are in the CSV, which always lists everybody.
    XlsxWriter writes about 100,000 cells a second, so a workbook of 100,000 customers
    takes about 15 seconds; cap it for very large clients. ``extra_sheets`` (sheet name
    -> table) are appended after the tier sheets, e.g. the migration's movers
    (:func:`tiering.build.migration_tables.movers_sheets`): their columns are headed in
    ``language`` where known (else by the column name), the table's
    ``attrs["description"]`` says on the Summary sheet what the sheet holds and
    ``attrs["file"]`` names the file that lists rows left out; text cells are
    formula-safe there too. The Summary sheet names the report (``client``: ``title``,
    the default report title when only ``client`` is given) and the ``as_of`` date
    when given. ``brand`` (:meth:`tiering.params.Brand.palette`) colours the header
    rows (default: white on the house accent).
    Returns the file names written.
    """
    folder = Path(folder)
    require(
        folder.is_dir(),
        f"Folder not found: {folder}",
        where="write_action_lists(folder)",
        hint="create the output folder first",
    )
    rows = action_list(tiers, recommendations, language=language)
    labels = [str(x) for x in recommendations.references.sort_values("tier_rank")["tier"]]
    if timestamp is None:
        stamp = DEFAULT_TIMESTAMP
    elif isinstance(timestamp, dt.datetime):
        stamp = timestamp.replace(tzinfo=None, microsecond=0)
    else:
        stamp = dt.datetime(timestamp.year, timestamp.month, timestamp.day)
    cap = _MAX_SHEET_ROWS - 2  # the header and the "more in the CSV" row
    if max_rows_per_sheet is not None:
        require(
            isinstance(max_rows_per_sheet, int) and max_rows_per_sheet >= 1,
            f"max_rows_per_sheet must be a whole number of 1 or more, got {max_rows_per_sheet!r}",
            where="write_action_lists(max_rows_per_sheet)",
        )
        cap = min(cap, max_rows_per_sheet)
    tier = tiers["tier"].astype(str)
    by_tier = tiers.groupby(tier, sort=False)
    summary = pd.DataFrame(
        {
            "tier": labels,
            "customers": by_tier.size().reindex(labels, fill_value=0).to_numpy(),
            "revenue": by_tier["monetary"].sum().reindex(labels, fill_value=0.0).to_numpy(),
        }
    )
    if client and not title:
        title = t("report.title", language)
    report = t("workbook.report_name", language, client=client, title=title) if client else title
    # the CSV (pandas and Arrow, which let go of the GIL) is written while this thread
    # writes the workbook (XlsxWriter: pure Python)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        csv_job = pool.submit(_write_csv, rows, folder / CSV_NAME)
        _write_workbook(
            rows,
            labels,
            folder / WORKBOOK_NAME,
            language=language,
            currency=recommendations.currency,
            timestamp=stamp,
            max_rows=cap,
            factor=f"{recommendations.rule.at_risk_factor:g}",
            summary=summary,
            budget=recommendations.budget,
            report=report,
            as_of=as_of,
            extra_sheets=extra_sheets,
            brand=brand,
        )
        csv_job.result()
    return [WORKBOOK_NAME, CSV_NAME]


def write_strategy_tables(
    recommendations: Recommendations, folder: str | Path, *, language: str
) -> list[str]:
    """Write ``budget.csv`` (``Recommendations.budget``, one row per tier) and
    ``triggers.csv`` (:func:`tiering.present.strategy_text.findings` in ``language``:
    one row per fired trigger and tier, with the sentence citing its numbers) into ``folder``.
    UTF-8, ``\\n`` line ends, text cells made formula-safe. Returns the file names."""
    folder = Path(folder)
    require(
        folder.is_dir(),
        f"Folder not found: {folder}",
        where="write_strategy_tables(folder)",
        hint="create the output folder first",
    )
    tables = {
        BUDGET_NAME: recommendations.budget,
        TRIGGERS_NAME: findings(recommendations, language=language),
    }
    for name, df in tables.items():
        out = df.copy()
        for col in out.columns:
            if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
                out[col] = out[col].map(safe_text)
        out.columns = [safe_text(c) for c in out.columns]  # headers are cells too
        out.to_csv(folder / name, index=False, lineterminator="\n", encoding="utf-8")
    return list(tables)


#: Columns of the value model's sheets (:func:`value_sheets`), in order;
#: ``customer_name`` only when the data has names.
VALUE_SHEET_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer_name",
    "tier",
    "monetary",
    "p_alive",
    "expected_purchases",
    "clv",
    "value_tier",
    "recommended_action",
    "owner",
)
_VALUE_HEADERS = {
    "tier": "value.col_tier",
    "p_alive": "value.col_p_alive_short",
    "expected_purchases": "value.col_expected_purchases",
    "clv": "value.col_clv_short",
    "value_tier": "value.col_value_group",
}


def value_sheets(value, tiers: pd.DataFrame, *, language: str) -> dict[str, pd.DataFrame]:
    """The value model's action lists as extra sheets of the workbook: sheet name (in
    ``language``) -> table, "rescue" (high-value customers with a low P(alive), the
    largest past net spend first) and "develop" (lower-tier customers with top
    predicted value, the largest CLV first); ties by customer ID. Empty when the model
    is off or did not run (``value`` is a :class:`tiering.analysis.value.ValueAnalysis`
    or None).

    Columns :data:`VALUE_SHEET_COLUMNS`; the model's columns are headed in ``language``
    (the table's column names are the headers), the others by the workbook's own
    headers. ``attrs["description"]`` says what the sheet holds and ``attrs["file"]``
    names ``value.csv``, which lists everybody.
    """
    if value is None or not value.available or value.customers.empty:
        return {}
    threshold = f"{value.params['rescue_p_alive']:.2f}"
    base = tiers.set_index(tiers["customer_id"].astype(str))
    out = {}
    for signal, order in (("rescue", "monetary"), ("develop", "clv")):
        caught = value.customers[value.customers[signal].astype(bool)].copy()
        caught["monetary"] = caught["customer_id"].map(base["monetary"]).to_numpy(dtype=float)
        if "customer_name" in base.columns:
            caught["customer_name"] = caught["customer_id"].map(base["customer_name"])
        caught = caught.sort_values(
            [order, "customer_id"], ascending=[False, True], kind="stable"
        ).reset_index(drop=True)
        caught["recommended_action"] = t(f"value.sheet_action_{signal}", language)
        caught["owner"] = caught["customer_id"].map(owners(base)).fillna("").to_numpy()
        for col in ("p_alive", "expected_purchases", "clv"):
            caught[col] = caught[col].astype(float)
        table = caught[[c for c in VALUE_SHEET_COLUMNS if c in caught.columns]]
        table = table.rename(columns={k: t(v, language) for k, v in _VALUE_HEADERS.items()})
        n = len(table)
        table.attrs["description"] = t(
            f"value.sheet_{signal}_text", language, n=f"{n:,}", threshold=threshold
        )
        table.attrs["file"] = "value.csv"
        out[t(f"value.sheet_{signal}", language)[:31]] = table
    return out
