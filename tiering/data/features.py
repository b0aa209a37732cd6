"""Transactions → one row per customer, computed in DuckDB SQL.

Output columns (``customer_features``), one row per customer, ordered by
``customer_id``:

- ``customer_id`` (str)
- ``first_purchase``, ``last_purchase`` (datetime64): first and last purchase (not
  return) in the window; for a customer with only returns, the first/last return.
- ``recency_days`` (int): whole days from the last purchase date to ``as_of``.
- ``frequency`` (int): distinct purchase orders (returns are not orders).
- ``monetary`` (float): net spend = purchases minus returns.
- ``gross_revenue`` (float): purchases before returns.
- ``returns_value`` (float, >= 0): value of returns and cancellations.
- ``aov`` (float): average order value, ``gross_revenue / frequency`` (0 when no order).
- ``tenure_days`` (int): whole days from the first purchase date to ``as_of``.
- ``customer_name`` (str, when the data has names), then the attribute columns (the
  value on the customer's most recent row).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from tiering import interrupt

FEATURE_COLUMNS = (
    "customer_id",
    "first_purchase",
    "last_purchase",
    "recency_days",
    "frequency",
    "monetary",
    "gross_revenue",
    "returns_value",
    "aov",
    "tenure_days",
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def customer_features(
    transactions: pd.DataFrame, *, as_of: dt.date, attributes: tuple[str, ...] | list[str] = ()
) -> pd.DataFrame:
    """Aggregate clean transactions (see ``tiering.data.io.LoadResult``) per customer."""
    extra = []
    if "customer_name" in transactions.columns:
        extra.append("customer_name")
    extra += [a for a in attributes if a != "customer_name"]
    # latest value per customer; ties on the date are broken by the file row, never by chance
    latest = "".join(
        f',\n      arg_max({_quote(c)}, struct_pack(d := order_date, r := "row")) AS {_quote(c)}'
        for c in extra
    )
    sql = f"""
    SELECT
      customer_id,
      coalesce(min(order_date) FILTER (WHERE NOT is_return), min(order_date)) AS first_purchase,
      coalesce(max(order_date) FILTER (WHERE NOT is_return), max(order_date)) AS last_purchase,
      count(DISTINCT order_id) FILTER (WHERE NOT is_return) AS frequency,
      round(sum(amount), 6) AS monetary,
      round(coalesce(sum(amount) FILTER (WHERE NOT is_return), 0), 6) AS gross_revenue,
      round(coalesce(-sum(amount) FILTER (WHERE is_return), 0), 6) AS returns_value{latest}
    FROM tx
    GROUP BY customer_id
    ORDER BY customer_id
    """
    con = interrupt.track(duckdb.connect())
    try:
        con.register("tx", transactions)
        out = con.execute(sql).df()
    finally:
        con.close()
    return finish_features(out, as_of=as_of, extra=extra)


def finish_features(out: pd.DataFrame, *, as_of: dt.date, extra: list[str]) -> pd.DataFrame:
    """The derived columns and dtypes of :func:`customer_features`, from the aggregate
    (``customer_id, first_purchase, last_purchase, frequency, monetary, gross_revenue,
    returns_value`` and the ``extra`` columns). Shared with the engines in
    :mod:`tiering.data.engines`, so that every engine returns the same columns and dtypes."""
    as_of_ts = pd.Timestamp(as_of)
    out["frequency"] = out["frequency"].astype("int64")
    out["recency_days"] = (as_of_ts - out["last_purchase"].dt.normalize()).dt.days.astype("int64")
    out["tenure_days"] = (as_of_ts - out["first_purchase"].dt.normalize()).dt.days.astype("int64")
    out["aov"] = (out["gross_revenue"] / out["frequency"].where(out["frequency"] > 0)).fillna(0.0)
    out["aov"] = out["aov"].round(6)
    out["customer_id"] = out["customer_id"].astype(str)
    for c in ("first_purchase", "last_purchase"):
        out[c] = out[c].astype("datetime64[ns]")
    return out[list(FEATURE_COLUMNS) + extra].reset_index(drop=True)
