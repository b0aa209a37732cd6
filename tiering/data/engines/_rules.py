"""The loader's parsing rules, as the engines need them.

``tiering.data.io`` is the reference: it reads a file into pandas and parses every value
there. The engines apply the same rules in SQL (DuckDB, Spark) for the common shapes
of values and hand every other value to ``tiering.data.io``'s own parsers (vectorised
Python functions), so that a value gets the same result on every engine. This module
holds the pieces both need: the loader's patterns (imported from ``tiering.data.io``), the
reason order, and the Python fallbacks.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from tiering.data import io as _io

# The loader's patterns and codes, used by the engines as ``_rules.NAME`` (the engines'
# SQL is built from them: one definition, in tiering.data.io).
from tiering.data.io import (
    COMMA_DECIMAL,
    CURRENCY,
    DAY_MONTH,
    DOT_DECIMAL,
    DOT_GROUP,
    DOT_GROUPS_MANY,
    EURO_NUMBER,
    KIND_DAY_ONLY,
    KIND_MONTH_ONLY,
    KIND_OTHER,
    KIND_SLASH,
    MAX_AMOUNT,
    MAX_ID_LENGTH,
    NS_MAX,
    NS_MIN,
    NULL_IDS,
    PARTIAL_DATE,
    ROUNDED_ID,
    SHAPE_AMBIGUOUS,
    SHAPE_DECIMAL,
    SHAPE_THOUSANDS,
    US_GROUPS,
    US_NUMBER,
)

# The order in which the loader assigns reasons: the first that applies wins.
REASON_ORDER = (
    "excluded_value",
    "missing_customer_id",
    "bad_customer_id",
    "rounded_customer_id",
    "partial_date",
    "bad_date",
    "implausible_date",
    "future_date",
    "bad_amount",
    "implausible_amount",
    "zero_amount",
    "after_as_of",
    "before_window",
    "duplicate_row",
)

# What Python's str.strip() removes: ASCII whitespace (with the file/group/record/unit
# separators, which str.isspace() counts) and the Unicode spaces.
WS_ASCII = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
WS_ALL = (
    WS_ASCII
    + "\x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def today() -> dt.date:
    """The loader's date (:func:`tiering.data.io.today`): every engine reads the same day."""
    return _io.today()


def future_limit(today_: dt.date | None = None) -> pd.Timestamp:
    """Dates at or after this are ``future_date`` (the day after tomorrow, midnight)."""
    return pd.Timestamp((today_ or today()) + dt.timedelta(days=2))


# --------------------------------------------------------------------------- fallbacks
# Vectorised Python functions for the values that the SQL fast paths do not claim.
# They call tiering.data.io's own parsers, so rare shapes get exactly the loader's result.


def _series(values: list[str | None]) -> pd.Series:
    return pd.Series(["" if v is None else v for v in values], dtype=object)


def ids(values: list[str | None]) -> list[str | None]:
    return _io.normalise_ids(_series(values)).tolist()


def amounts(
    values: list[str | None], *, decimal: str | None = None, thousands: bool = False
) -> np.ndarray:
    """``parse_amounts`` on a batch, with the column-wide reading forced (the loader
    decides it on the whole column, a batch only sees part of it): ``decimal``
    (``data.decimal``) and whether ``250.000`` is 250000 (``thousands``)."""
    return _io.parse_amounts(_series(values), decimal=decimal, thousands=thousands).to_numpy(
        dtype="float64"
    )


def amount_shapes(values: list[str | None]) -> list[int]:
    """Per value, what it says about the column's decimal mark (``tiering.data.io.amount_shapes``):
    ``SHAPE_THOUSANDS`` (``1.500.000``, ``1.234,50``), ``SHAPE_DECIMAL`` (``12.50``),
    ``SHAPE_AMBIGUOUS`` (``250.000``) or 0."""
    return _io.amount_shapes(_series(values)).tolist()


def dates(values: list[str | None], *, dayfirst: bool) -> pd.Series:
    """The loader's date parsing on a batch (microseconds, so that years before 1677
    survive to be ``implausible_date``), with the column-wide day/month order forced."""
    return _io.parse_dates_us(_series(values), dayfirst=bool(dayfirst)).reset_index(drop=True)


def date_kinds(values: list[str | None]) -> np.ndarray:
    """Per value, the bits of ``tiering.data.io.date_kinds``: ``KIND_DAY_ONLY``
    (``13/01/2024``), ``KIND_MONTH_ONLY`` (``01/13/2024``), ``KIND_SLASH`` /
    ``KIND_OTHER`` (any day-and-month value, by its separator)."""
    return _io.date_kinds(_series(values))


def partial_dates(values: list[str | None]) -> np.ndarray:
    """Per value: a year, or a year and month, alone (``partial_date``)."""
    return _io.partial_dates(_series(values)).to_numpy(dtype=bool)


def strip(values: pd.Series) -> pd.Series:
    """``str.strip()`` of text values (missing → '')."""
    return values.fillna("").astype(str).str.strip()


def screen_batch(
    raw: pd.DataFrame,
    *,
    mapping: dict[str, str],
    attributes: list[str],
    exclude: dict[str, list],
    prefixes: tuple[str, ...],
    negative_returns: bool,
    dayfirst: bool,
    decimal: str | None,
    thousands: tuple[str, ...],
    today: dt.date,
    typed: tuple[str, ...] = (),
) -> pd.DataFrame:
    """The loader's per-row rules on a batch of raw text rows (``tiering.data.io._screen``
    without the parts that need the whole file: the as-of date, the window and
    duplicates, which the caller applies).

    ``raw``: one text column per header (missing values None). Returns ``cust, ord,
    has_order, is_ret, d_us`` (int64 microseconds since 1970, or missing), ``amt``
    (signed, rounded to 6 decimals), ``pre_reason``, ``pre_detail``, the attributes
    ``a0..`` (stripped), ``date_kind`` (bits) and ``shape_<role>`` (what each value says
    about the column: ``tiering.data.io.date_kinds``, ``amount_shapes``), ``nonblank``.
    ``dayfirst``, ``decimal`` and ``thousands`` (the amount roles whose ``250.000`` is
    250000): the column-wide reading, decided by the caller; ``typed``: amount roles of
    numeric Parquet columns (text with a decimal point, whatever ``decimal`` says)."""

    n = len(raw)
    reason = pd.Series([None] * n, dtype=object)
    detail = pd.Series([""] * n, dtype=object)

    def mark(mask, code, text=""):
        new = (np.asarray(mask, dtype=bool)) & reason.isna().to_numpy()
        reason[new] = code
        if isinstance(text, pd.Series):
            detail[new] = text[new]
        elif text:
            detail[new] = text

    text = {c: raw[c].fillna("").astype(str).reset_index(drop=True) for c in raw.columns}
    nonblank = pd.Series(False, index=range(n))
    for c in raw.columns:
        nonblank |= text[c].str.strip() != ""
    for col, values in exclude.items():
        hit = text[col].str.strip().isin([str(v) for v in values])
        mark(hit, "excluded_value", col + " = " + text[col])
    raw_cust = text[mapping["customer_id"]]
    cust = _io.normalise_ids(raw_cust)
    stripped = raw_cust.str.strip()
    mark(
        cust == "",
        "missing_customer_id",
        ("value: " + stripped.str.slice(0, 40)).where(stripped != "", ""),
    )
    long_id = cust.str.len() > MAX_ID_LENGTH
    mark(
        long_id,
        "bad_customer_id",
        "customer id is "
        + cust.str.len().map("{:,}".format)
        + f" characters long (at most {MAX_ID_LENGTH})",
    )
    control = cust.str.contains(r"[\x00-\x1f\x7f]", regex=True)
    mark(
        control,
        "bad_customer_id",
        "customer id contains control characters (line break, tab or NUL): "
        + cust.str.slice(0, 40).str.replace(r"[\x00-\x1f\x7f]", "?", regex=True),
    )
    mark(
        cust.str.match(ROUNDED_ID),
        "rounded_customer_id",
        "value: " + cust.str.slice(0, 40) + " (rounded by Excel; the digits are lost)",
    )

    raw_dates = text[mapping["order_date"]]
    d = dates(raw_dates.tolist(), dayfirst=dayfirst)
    raw_text = "value: " + raw_dates.str.slice(0, 40)
    mark(partial_dates(raw_dates.tolist()), "partial_date", raw_text)
    mark(d.isna(), "bad_date", raw_text)
    mark(d < pd.Timestamp("1900-01-01"), "implausible_date", raw_text)
    out_of_range = (d < NS_MIN) | (d > NS_MAX)
    mark(out_of_range, "bad_date", raw_text + " (out of range)")
    limit = future_limit(today)
    mark(
        d >= limit,
        "future_date",
        raw_text + f" (after {today + dt.timedelta(days=1)}, the latest possible date)",
    )

    flags = {}
    roles = ("amount",) if "amount" in mapping else ("quantity", "unit_price")
    values = {}
    for role in roles:
        col = text[mapping[role]].tolist()
        values[role] = amounts(
            col,
            decimal=None if role in typed else decimal,
            thousands=role in thousands and role not in typed,
        )
        flags[f"shape_{role}"] = np.asarray(amount_shapes(col), dtype="int8")
    if "amount" in mapping:
        amount = values["amount"]
        raw_amount = text[mapping["amount"]].str.slice(0, 40)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            amount = values["quantity"] * values["unit_price"]
        raw_amount = (
            "quantity "
            + text[mapping["quantity"]].str.slice(0, 20)
            + " x price "
            + text[mapping["unit_price"]].str.slice(0, 20)
        )
    amount = pd.Series(amount)
    mark(amount.isna(), "bad_amount", "value: " + raw_amount)
    mark(
        amount.abs() >= MAX_AMOUNT,
        "implausible_amount",
        "value: " + raw_amount + f" (limit ±{MAX_AMOUNT:,.0f})",
    )
    mark(amount == 0, "zero_amount")

    if "order_id" in mapping:
        order = _io.normalise_ids(text[mapping["order_id"]])
    else:
        order = pd.Series([""] * n, dtype=object)
    has_order = order != ""
    if prefixes:
        is_ret = order.str.startswith(tuple(prefixes)).fillna(False).astype(bool) & has_order
    else:
        is_ret = pd.Series(False, index=range(n))
    ns = d.where(~out_of_range)
    day = ns.dt.strftime("%Y-%m-%d").fillna("")
    order = order.where(has_order, cust + "|" + day)
    if negative_returns:
        is_ret = is_ret | (amount < 0).fillna(False)
    amount = amount.where(~is_ret, -amount.abs()).round(6)

    out = pd.DataFrame(
        {
            "cust": cust.astype(str).to_numpy(dtype=object),
            "ord": order.astype(str).to_numpy(dtype=object),
            "is_ret": is_ret.to_numpy(dtype=bool),
            "d_us": pd.Series(
                np.where(
                    ns.notna().to_numpy(), ns.to_numpy(dtype="datetime64[us]").view("int64"), 0
                ),
                dtype="Int64",
            )
            .mask(ns.isna().to_numpy())
            .to_numpy(),
            "amt": amount.to_numpy(dtype="float64"),
            "pre_reason": reason.to_numpy(dtype=object),
            "pre_detail": detail.to_numpy(dtype=object),
            "date_kind": date_kinds(raw_dates.tolist()),
            "nonblank": nonblank.to_numpy(dtype=bool),
        }
    )
    for k, v in flags.items():
        out[k] = v
    names = ([mapping["customer_name"]] if "customer_name" in mapping else []) + [
        a for a in attributes if a != "customer_name"
    ]
    for i, h in enumerate(names):
        out[f"a{i}"] = text[h].str.strip().to_numpy(dtype=object)
    return out
