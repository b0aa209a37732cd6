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

``snapshot_features`` gives the same table at each of several dates (the tier migration's
snapshots) from one pass over the transactions.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
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
    # the attributes are text (the latest value as read): pandas' ``str`` dtype, also
    # where no customer is left and the columns came out of an empty frame as ``object``
    for c in extra:
        if out[c].dtype == object:
            out[c] = out[c].astype(_STR)
    for c in ("first_purchase", "last_purchase"):
        out[c] = out[c].astype("datetime64[ns]")
    return out[list(FEATURE_COLUMNS) + extra].reset_index(drop=True)


# --------------------------------------------------------------------------- snapshots


def snapshot_features(
    transactions: pd.DataFrame,
    cuts: list[pd.Timestamp] | tuple[pd.Timestamp, ...],
    *,
    attributes: tuple[str, ...] | list[str] = (),
) -> list[pd.DataFrame]:
    """The features of the customers at each of several dates, from one pass over the
    transactions: for each ``cut`` (ascending), exactly
    ``customer_features(transactions[transactions.order_date < cut], as_of=cut.date(),
    attributes=attributes)`` (same columns, dtypes, order and values).

    The transactions are aggregated once per customer and period (the periods between
    the cuts), then accumulated over the periods: counts of rows and of new orders (an
    order counts from the period of its first purchase row, as ``count(DISTINCT
    order_id)`` counts it), cumulative minima and maxima of the dates, the latest row of
    each attribute (latest date, then file row; the first of exact ties, as DuckDB's
    ``arg_max``) and running sums. The sums add the same numbers in the same order as
    DuckDB's ``sum`` over a prefix does when it reads the frame on one thread, as it
    does small frames (row order, from 0.0): a running sum carried from period to period
    for the customers whose rows come in date order, a sum over the prefix for the
    others; DuckDB itself rounds them to 6 decimals. (On a large frame DuckDB's threads
    add partial sums, and its own last bits can differ from run to run: the rounding is
    what makes those agree, here as between two runs of ``customer_features``.) Data
    this cannot reproduce exactly (other column types, missing customer ids or amounts,
    cuts not ascending) take the per-period path.
    """
    cuts = [pd.Timestamp(c) for c in cuts]
    extra = _extra_columns(transactions, attributes)
    plan = _cumulative_inputs(transactions, cuts, extra)
    if plan is None:
        return [
            customer_features(
                transactions[transactions["order_date"] < cut],
                as_of=cut.date(),
                attributes=attributes,
            )
            for cut in cuts
        ]
    return _cumulative_features(transactions, cuts, plan, attributes=attributes, extra=extra)


def _extra_columns(transactions: pd.DataFrame, attributes) -> list[str]:
    extra = ["customer_name"] if "customer_name" in transactions.columns else []
    return extra + [a for a in attributes if a != "customer_name"]


# pandas' default string dtype (``str``), which DuckDB also returns for text columns
_STR = pd.StringDtype(na_value=np.nan)


def _cumulative_inputs(tx: pd.DataFrame, cuts: list[pd.Timestamp], extra: list[str]):
    """The cut dates as integers in the unit of ``order_date`` when the cumulative path
    reproduces :func:`customer_features` exactly on these transactions, else None."""
    if not cuts or any(b <= a for a, b in zip(cuts, cuts[1:])):
        return None
    need = ["customer_id", "order_id", "order_date", "amount", "is_return"]
    if extra:
        need.append("row")
    if any(c not in tx.columns for c in need + extra):
        return None
    dates, ids = tx["order_date"], tx["customer_id"]
    if not (
        isinstance(dates.dtype, np.dtype)
        and dates.dtype.kind == "M"
        and tx["amount"].dtype == np.float64
        and tx["is_return"].dtype == np.bool_
        and (not extra or tx["row"].dtype.kind in "iu")
        and all(tx[c].dtype == _STR for c in extra)
        and all(
            tx[c].dtype == _STR or tx[c].dtype.kind in "iu" for c in ("customer_id", "order_id")
        )
        and not ids.isna().any()
        and not np.isnan(tx["amount"].to_numpy()).any()
    ):
        return None
    ends = np.array([c.to_datetime64() for c in cuts]).astype(dates.dtype)
    if any(pd.Timestamp(e) != c for e, c in zip(ends, cuts)):  # a cut finer than the unit
        return None
    return ends.view("int64")


def _cumulative_features(tx, cuts, ends, *, attributes, extra) -> list[pd.DataFrame]:
    n_cuts = len(cuts)
    date_values = tx["order_date"].to_numpy()
    day = date_values.view("int64")
    period = np.searchsorted(ends, day, side="right")  # row in snapshots k >= period
    keep = np.flatnonzero(~np.isnat(date_values) & (period < n_cuts))
    if not len(keep):  # no customer at any cut
        return [customer_features(tx.iloc[:0], as_of=c.date(), attributes=attributes) for c in cuts]
    period = period[keep].astype(np.uint16 if n_cuts < 2**16 else np.int64)
    day = day[keep]
    codes, ids = pd.factorize(tx["customer_id"], sort=True)  # the order of ORDER BY
    codes = codes[keep]
    n_cust = len(ids)
    cell = codes.astype(np.int64) * n_cuts + period  # (customer, period)
    amount = tx["amount"].to_numpy()[keep]
    is_return = tx["is_return"].to_numpy()[keep]
    purchase = ~is_return

    def counts(mask):
        n = np.bincount(cell[mask], minlength=n_cust * n_cuts)
        return n.reshape(n_cust, n_cuts).cumsum(axis=1)

    rows, purchases, returns = counts(slice(None)), counts(purchase), counts(is_return)

    def dates(mask, ufunc, empty):
        out = np.full(n_cust * n_cuts, empty, dtype=np.int64)
        ufunc.at(out, cell[mask], day[mask])
        return ufunc.accumulate(out.reshape(n_cust, n_cuts), axis=1)

    # first and last purchase; of a customer with only returns so far, first and last return
    lo, hi = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    first = np.where(
        purchases > 0, dates(purchase, np.minimum, lo), dates(is_return, np.minimum, lo)
    )
    last = np.where(
        purchases > 0, dates(purchase, np.maximum, hi), dates(is_return, np.maximum, hi)
    )
    orders, names = pd.factorize(tx["order_id"])  # -1: no order id (not counted)
    frequency = _new_orders(
        orders[keep][purchase], len(names), codes[purchase], period[purchase], n_cust, n_cuts
    )
    # the customers with a row of an earlier period after one of a later period: their
    # sums are taken over each prefix (the others' run on from period to period)
    later = pd.Series(period).groupby(codes).cummax().to_numpy()
    unordered = np.zeros(n_cust, dtype=bool)
    unordered[codes[period < later]] = True
    net, gross, back = _prefix_sums(
        codes,
        period,
        (amount, np.where(purchase, amount, 0.0), np.where(is_return, amount, 0.0)),
        n_cust,
        n_cuts,
        unordered,
    )
    net, gross, back = _duck_round(
        net, np.where(purchases > 0, gross, 0.0), np.where(returns > 0, -back, 0.0)
    )
    latest, found = {}, {}
    if extra:
        rows_no = tx["row"].to_numpy().astype(np.int64)[keep]
        for c in extra:
            has = tx[c].notna().to_numpy()[keep]
            key = None if has.all() else c  # the same rows for every column without gaps
            if key not in found:
                found[key] = _latest(has, rows_no, cell, day, n_cust, n_cuts)
            # positions in the transactions
            latest[c] = np.where(found[key] >= 0, keep[found[key]], -1)
    unit = date_values.dtype
    out = []
    for k, cut in enumerate(cuts):
        who = np.flatnonzero(rows[:, k] > 0)
        if not len(who):
            out.append(customer_features(tx.iloc[:0], as_of=cut.date(), attributes=attributes))
            continue
        frame = pd.DataFrame(
            {
                "customer_id": ids.take(who),
                "first_purchase": first[who, k].view(unit),
                "last_purchase": last[who, k].view(unit),
                "frequency": frequency[who, k],
                "monetary": net[who, k],
                "gross_revenue": gross[who, k],
                "returns_value": back[who, k],
            }
        )
        for c, pos in latest.items():
            column = tx[c].array.take(pos[who, k], allow_fill=True)
            # DuckDB's text column of nothing but NULLs comes back as objects (None)
            frame[c] = np.full(len(who), None, dtype=object) if column.isna().all() else column
        out.append(finish_features(frame, as_of=cut.date(), extra=extra))
    return out


def _prefix_sums(codes, period, columns, n_cust: int, n_cuts: int, unordered) -> list:
    """For each array of ``columns``, ``out[c, k]``: its sum over customer ``c``'s rows of
    periods <= k, added one by one in row order from 0.0 (what DuckDB's ``sum`` does on one
    thread; a row whose value is 0.0 leaves the sum as it is, bit for bit, since a sum
    from 0.0 is never -0.0). For the customers whose rows come in period order the sum
    runs on from period to period (``np.bincount`` adds in input order: the carried sum
    first, then the period's rows); for the ``unordered`` ones it is taken over each
    prefix."""
    out = [np.empty((n_cust, n_cuts)) for _ in columns]
    order = np.argsort(period, kind="stable")
    bounds = np.searchsorted(period[order], np.arange(n_cuts + 1))
    every = np.arange(n_cust)
    running = [np.zeros(n_cust) for _ in columns]
    for k in range(n_cuts):
        rows = order[bounds[k] : bounds[k + 1]]
        if len(rows):
            index = np.concatenate([every, codes[rows]])
            running = [
                np.bincount(index, weights=np.concatenate([r, v[rows]]), minlength=n_cust)
                for r, v in zip(running, columns)
            ]
        for o, r in zip(out, running):
            o[:, k] = r
    if unordered.any():
        mine = np.flatnonzero(unordered[codes])
        who = np.flatnonzero(unordered)
        codes, period = codes[mine], period[mine]
        columns = [v[mine] for v in columns]
        for k in range(n_cuts):
            upto = np.flatnonzero(period <= k)
            index = codes[upto]
            for o, v in zip(out, columns):
                o[who, k] = np.bincount(index, weights=v[upto], minlength=n_cust)[who]
    return out


def _duck_round(*arrays: np.ndarray) -> list[np.ndarray]:
    """DuckDB's ``round(x, 6)`` of each array (the rounding of :func:`customer_features`)."""
    frame = pd.DataFrame({f"x{i}": a.ravel() for i, a in enumerate(arrays)})
    sql = ", ".join(f"round(x{i}, 6) AS x{i}" for i in range(len(arrays)))
    con = interrupt.track(duckdb.connect())
    try:
        con.register("v", frame)
        got = con.execute(f"SELECT {sql} FROM v").df()
    finally:
        con.close()
    return [got[f"x{i}"].to_numpy().reshape(a.shape) for i, a in enumerate(arrays)]


def _new_orders(orders, n_orders: int, codes, period, n_cust: int, n_cuts: int) -> np.ndarray:
    """``out[c, k]``: distinct order ids among customer ``c``'s purchase rows of periods
    <= k (an order counts from the period of its first row; missing ids do not count)."""
    known = orders >= 0
    # (customer, order) as one number: both below the number of rows, so below 2**63
    pair = codes[known].astype(np.int64) * max(n_orders, 1) + orders[known]
    pairs, unique = pd.factorize(pair)
    start = np.full(len(unique), n_cuts, dtype=np.int64)
    np.minimum.at(start, pairs, period[known])
    cell = (unique // max(n_orders, 1)) * n_cuts + start
    return np.bincount(cell, minlength=n_cust * n_cuts).reshape(n_cust, n_cuts).cumsum(axis=1)


def _latest(has, rows, cell, day, n_cust: int, n_cuts: int) -> np.ndarray:
    """``out[c, k]``: the position of customer ``c``'s latest row of periods <= k with a
    value (latest date, then largest file row, then the first such row: DuckDB's
    ``arg_max(value, (date, row))`` on one thread), -1 when none."""
    n_cells = n_cust * n_cuts
    sel = np.flatnonzero(has)
    top_day = np.full(n_cells, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(top_day, cell[sel], day[sel])
    sel = sel[day[sel] == top_day[cell[sel]]]
    top_row = np.full(n_cells, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(top_row, cell[sel], rows[sel])
    sel = sel[rows[sel] == top_row[cell[sel]]]
    pos = np.full(n_cells, len(has), dtype=np.int64)
    np.minimum.at(pos, cell[sel], sel)
    pos = pos.reshape(n_cust, n_cuts)
    # a later period's rows are later: the latest row so far is the one of the last
    # period with a row
    seen = np.maximum.accumulate(np.where(pos < len(has), np.arange(n_cuts), -1), axis=1)
    latest = np.take_along_axis(pos, np.maximum(seen, 0), axis=1)
    return np.where(seen >= 0, latest, -1)
