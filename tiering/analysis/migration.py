"""Tier migration over time: period snapshots, transitions, movers, and the comparison
with a previous report.

Snapshots
    The customers are tiered as of each period end, counting back from ``as_of`` in
    whole months or quarters (``as_of``, ``as_of - 3 months``, ...), so every period
    has the same length and the latest snapshot is the report's own tiering. A
    snapshot at ``end`` uses only the transactions strictly before ``end``
    (``customer_features(tx[tx.order_date < end], as_of=end)`` and the report's
    tiering method): adding later transactions never changes it. A snapshot is taken
    only when a full period of data precedes it (from the window start, or from the
    first transaction when the window is open).

States
    At a snapshot a customer is *lapsed* when their last purchase is more than
    ``churn_days`` days before the snapshot date (``recency_days > churn_days``);
    otherwise their state is their tier. Lapsed is a state, not a tier: the method
    still tiers every customer (column ``tier``), the state overrides it for display
    and flows. Between two snapshots, a customer whose first purchase falls in the
    period comes from *new*.

Transitions (``transitions``), for each pair of consecutive snapshots, are the full
grid ``from_state x to_state`` (from: tiers, lapsed, new; to: tiers, lapsed) with
counts, row shares and the net revenue of the customers of each flow in the later
period (and in the earlier period, for the before/after comparison).

The report section (:func:`section_migration`) and the charts (:func:`flow_chart`,
:func:`transition_heatmap`, :func:`trend_chart`, :func:`rates_chart`) live here too.
This module does not import :mod:`tiering.params` at import time, so the parameter
schema can import :class:`MigrationSpec` from it.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import PercentFormatter
from pydantic import BaseModel

from tiering.present import charts

from tiering import locale
from tiering.errors import DataError, require
from tiering.data.features import customer_features
from tiering.present.i18n import has, t
from tiering.params import MigrationSpec
from tiering.style import tier_palette

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tiering.params import Params

__all__ = [
    "LAPSED",
    "NEW",
    "Migration",
    "MigrationSpec",
    "PreviousComparison",
    "analyse_migration",
    "compare_previous",
    "flow_chart",
    "movers_sheets",
    "rates_chart",
    "section_migration",
    "snapshot_dates",
    "transition_heatmap",
    "trend_chart",
    "write_tables",
]

LAPSED = "lapsed"
NEW = "new"
DEFAULT_MAX_SNAPSHOTS = 8
_MONTHS = {"month": 1, "quarter": 3}
LAPSED_COLOR = "#b8bcbf"
NEW_COLOR = "#8e6bbf"
_DIRECTIONS = ("stay", "up", "down", "lapsed", "reactivated", "dormant", "new")


# --------------------------------------------------------------------------- parameters


# MigrationSpec, the parameters of this analysis, is defined with the others in
# tiering.params (the base layer) and re-exported here.


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PreviousComparison:
    """Today's tiers against the tiers an earlier report delivered.

    - ``customers``: one row per customer in either report: ``customer_id``,
      ``customer_name`` (when known), ``previous_tier`` (``new`` when not in the earlier
      report), ``refit_state`` (today's tier from today's method, or ``lapsed``),
      ``frozen_state`` (the tier under the earlier report's thresholds, or
      ``lapsed``), ``revenue_since`` (net revenue from the earlier as-of date to today),
      ``monetary`` (today's window), ordered by ``customer_id``.
    - ``transitions``: ``thresholds`` (``refit`` | ``frozen``), ``from_state``,
      ``to_state``, ``customers``, ``row_share``, ``revenue`` (revenue since the earlier
      report), ``direction`` - the full grid, deterministic order.
    - ``frozen_thresholds``: the earlier boundaries as applied: ``tier``, ``tier_rank``,
      ``metric`` (``monetary``/``gross_revenue`` for abc, ``rfm_score`` for rfm) and
      ``lower`` (the least value of the tier).
    - ``warnings``: ``(code, fields)`` pairs for the report (different window length,
      method or labels; earlier report not earlier).
    """

    folder: str
    as_of: dt.date
    method: str
    labels: tuple[str, ...]
    mode: str
    customers: pd.DataFrame
    transitions: pd.DataFrame
    frozen_thresholds: pd.DataFrame
    window_days: int | None
    warnings: tuple[tuple[str, dict], ...] = ()


@dataclass(frozen=True)
class Migration:
    """Tier migration between period snapshots. All tables are tidy and ordered.

    - ``snapshots``: one row per snapshot and customer with history before it:
      ``snapshot`` (0 = oldest), ``snapshot_date`` (exclusive end: data before it),
      ``period_start``, ``customer_id``, ``customer_name`` (when present), ``tier``
      (the method's tier, ordered Categorical), ``tier_rank``, ``state`` (tier or
      ``lapsed``), ``is_new`` (first purchase in the period), ``first_purchase``,
      ``last_purchase``, ``recency_days``, ``monetary`` (net spend up to the snapshot),
      ``period_revenue`` (net revenue within the period).
    - ``sizes``: per ``snapshot``/``snapshot_date`` and ``state`` (tiers, then lapsed):
      ``customers``, ``customer_share``, ``revenue`` (period revenue),
      ``revenue_share`` (of the period's net revenue), ``new_customers``.
    - ``transitions``: per ``period`` (1 = first transition), ``period_start``,
      ``period_end`` and every ``from_state`` (tiers, lapsed, new) x ``to_state``
      (tiers, lapsed): ``customers``, ``row_share`` (of the from-state),
      ``revenue_before`` (net revenue of those customers in the previous period),
      ``revenue`` (in this period: the revenue the flow carries), ``direction``
      (``stay``, ``up``, ``down``, ``lapsed``, ``reactivated``, ``dormant``, ``new``).
    - ``tier_rates``: per ``period`` and starting ``tier``: ``customers``, ``stayed``,
      ``upgraded``, ``downgraded``, ``churned`` (lapsed), their rates (``upgrade_rate``
      is NaN for the top tier, ``downgrade_rate`` for the bottom tier, ``churn_rate``
      where ``churn_measurable`` is False: the period starts less than ``churn_days``
      after the data start, so customers could not yet have lapsed),
      ``revenue_before``, ``revenue_after`` (of the customers who started the period in
      the tier), ``net_revenue_effect`` (after - before) and ``churned_spend_to_date``
      (the net spend in the window, up to the end of the period, of the customers who
      lapsed: having bought nothing for ``churn_days``, they spent next to nothing in
      the period before, so their value shows in what they had spent).
    - ``directions``: per ``period`` and ``direction``: ``customers``,
      ``revenue_before``, ``revenue_after``, ``revenue_change``.
    - ``movers``: the latest transition's customers who left the top tier
      (``movement = left_top``) and who moved up a tier (``rose``): ``movement``,
      ``customer_id``, ``customer_name``?, ``from_tier``, ``to_tier`` (a tier or
      ``lapsed``), ``revenue_before``, ``revenue_after``, ``revenue_change``,
      ``spend_to_date`` (net spend in the window up to the end of the period),
      ``last_purchase``, ``period_start``, ``period_end``; left_top by earlier revenue,
      rose by current revenue, largest first.
    - ``previous``: a :class:`PreviousComparison` when ``previous_report`` was given.
    """

    spec: MigrationSpec
    tiering: dict
    labels: tuple[str, ...]
    as_of: dt.date
    snapshot_dates: tuple[pd.Timestamp, ...]
    snapshots: pd.DataFrame
    sizes: pd.DataFrame
    transitions: pd.DataFrame
    tier_rates: pd.DataFrame
    directions: pd.DataFrame
    movers: pd.DataFrame
    previous: PreviousComparison | None = None
    timings: dict = field(default_factory=dict)

    @property
    def states(self) -> list[str]:
        """To-states in display order: the tiers, best first, then ``lapsed``."""
        return [*self.labels, LAPSED]

    @property
    def from_states(self) -> list[str]:
        """From-states in display order: the tiers, ``lapsed``, then ``new``."""
        return [*self.labels, LAPSED, NEW]

    @property
    def n_periods(self) -> int:
        return max(len(self.snapshot_dates) - 1, 0)


# --------------------------------------------------------------------------- snapshots


def snapshot_dates(first: dt.date | pd.Timestamp, as_of: dt.date, *, period: str,
                   periods: int | None = None) -> list[pd.Timestamp]:
    """Snapshot dates, oldest first: ``as_of - k * period`` for k = 0, 1, ... while a full
    period of data (from ``first``) precedes the snapshot; the most recent ``periods``
    (default at most 8)."""
    require(period in _MONTHS, f"Unknown migration period {period!r}", where="migration.period",
            hint="use quarter, month or none")
    months = _MONTHS[period]
    first_ts = pd.Timestamp(first).normalize()
    as_of_ts = pd.Timestamp(as_of)
    limit = periods if periods is not None else DEFAULT_MAX_SNAPSHOTS
    out: list[pd.Timestamp] = []
    k = 0
    while len(out) < limit:
        end = as_of_ts - pd.DateOffset(months=months * k)
        if end - pd.DateOffset(months=months) < first_ts:
            break
        out.append(pd.Timestamp(end))
        k += 1
    return sorted(out)


def _period_start(end: pd.Timestamp, period: str) -> pd.Timestamp:
    return pd.Timestamp(end - pd.DateOffset(months=_MONTHS[period]))


def _check_labels(labels) -> None:
    clash = [x for x in labels if str(x) in (LAPSED, NEW)]
    require(not clash, f"Tier label {clash[0]!r} is also a migration state name" if clash else "",
            where="tiering.labels",
            hint=f"rename the tier: {LAPSED!r} and {NEW!r} are reserved for tier migration")


def _revenue_by_period(tx: pd.DataFrame, edges: list[pd.Timestamp]) -> pd.DataFrame:
    """Net revenue per customer (index) and period bin (column ``i`` = [edges[i], edges[i+1]))."""
    dates = tx["order_date"].to_numpy()
    e = np.array([np.datetime64(x) for x in edges], dtype="datetime64[ns]")
    inside = (dates >= e[0]) & (dates < e[-1])
    sub = tx.loc[inside, ["customer_id", "amount"]]
    bins = np.searchsorted(e, dates[inside], side="right") - 1
    out = (sub.assign(bin=bins).groupby(["customer_id", "bin"], sort=True)["amount"].sum()
           .unstack("bin", fill_value=0.0))
    return out.reindex(columns=range(len(edges) - 1), fill_value=0.0).round(6)


def _fit(methods, feats: pd.DataFrame, tiering_spec, seed: int):
    """``methods.fit`` with the parameter file's seed where the method API takes one."""
    import inspect

    if "seed" in inspect.signature(methods.fit).parameters:
        return methods.fit(feats, tiering_spec, seed=seed)
    return methods.fit(feats, tiering_spec)


def _snapshot(tx: pd.DataFrame, end: pd.Timestamp, *, tiering_spec, attributes, churn_days: int,
              start: pd.Timestamp, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, snapshot rows) of the customers with transactions before ``end``."""
    from tiering.analysis import methods

    before = tx[tx["order_date"] < end]
    feats = customer_features(before, as_of=end.date(), attributes=attributes)
    if feats.empty:
        return feats, pd.DataFrame()
    res = _fit(methods, feats, tiering_spec, seed)
    cols = ["customer_id"] + (["customer_name"] if "customer_name" in feats.columns else [])
    snap = feats[cols].copy()
    snap["tier"] = res.assignments["tier"].to_numpy()
    snap["tier"] = snap["tier"].astype(res.assignments["tier"].dtype)
    snap["tier_rank"] = res.assignments["tier_rank"].to_numpy()
    lapsed = feats["recency_days"].to_numpy() > churn_days
    snap["state"] = np.where(lapsed, LAPSED, snap["tier"].astype(str).to_numpy())
    snap["is_new"] = (feats["first_purchase"] >= start).to_numpy()
    for c in ("first_purchase", "last_purchase", "recency_days", "monetary"):
        snap[c] = feats[c].to_numpy()
    return feats, snap


def _direction(frm: str, to: str, rank: dict[str, int]) -> str:
    if frm == NEW:
        return "new"
    if frm == LAPSED:
        return "dormant" if to == LAPSED else "reactivated"
    if to == LAPSED:
        return "lapsed"
    if rank[to] < rank[frm]:
        return "up"
    if rank[to] > rank[frm]:
        return "down"
    return "stay"


def _grid(from_states, to_states) -> pd.DataFrame:
    return pd.DataFrame([(f, s) for f in from_states for s in to_states],
                        columns=["from_state", "to_state"])


def _transition_table(pairs: pd.DataFrame, from_states, to_states, direction, *,
                      revenue_cols: tuple[str, ...]) -> pd.DataFrame:
    """Full grid of flows from a table of (from_state, to_state, revenue columns...)."""
    agg = {"customers": ("from_state", "size")}
    agg.update({c: (c, "sum") for c in revenue_cols})
    counts = pairs.groupby(["from_state", "to_state"], sort=False).agg(**agg).reset_index()
    out = _grid(from_states, to_states).merge(counts, on=["from_state", "to_state"], how="left")
    out["customers"] = out["customers"].fillna(0).astype("int64")
    for c in revenue_cols:
        out[c] = out[c].fillna(0.0).round(6)
    totals = out.groupby("from_state", sort=False)["customers"].transform("sum")
    out["row_share"] = (out["customers"] / totals.where(totals > 0)).astype(float)
    out["direction"] = [direction(f, s) for f, s in zip(out["from_state"], out["to_state"])]
    return out


def analyse_migration(transactions: pd.DataFrame, *, params: Params, spec: MigrationSpec,
                      as_of: dt.date, attributes: tuple[str, ...] | list[str] = (),
                      sample_customers: set[str] | None = None) -> Migration | None:
    """Tier the customers at each period end and measure how they moved.

    ``transactions`` are the clean transactions of the analysis window
    (``tiering.data.io.LoadResult.transactions``); ``params`` gives the tiering method
    (``params.tiering``) and the window; ``as_of`` is the report's as-of date (the
    latest snapshot). Returns None when ``spec.period`` is ``none``; a result with no
    transitions when the window holds fewer than two full periods. See
    :class:`Migration` for the tables. ``sample_customers``: when the transactions are
    those of a sample of customers, their ids (the previous report is then compared on
    these customers only).
    """
    if spec.period == "none":
        return None
    timings: dict = {}
    t0 = time.perf_counter()
    for col in ("customer_id", "order_date", "amount", "is_return", "order_id"):
        require(col in transactions.columns, f"The transactions lack the column {col!r}",
                where="migration", hint="pass LoadResult.transactions from tiering.data.io.load",
                error=DataError)
    labels = tuple(str(x) for x in params.tiering.labels)
    _check_labels(labels)
    rank = {lab: i + 1 for i, lab in enumerate(labels)}
    # read the earlier report first: a wrong folder fails before any work is done
    earlier = _read_previous(spec.previous_report) if spec.previous_report is not None else None
    if earlier is not None and sample_customers is not None:
        # migration on a sample of customers: compare the same customers only
        earlier = (earlier[0][earlier[0]["customer_id"].isin(sample_customers)], earlier[1])
    tx = transactions
    if params.window.start is not None:
        first = pd.Timestamp(params.window.start)
    elif params.window.months is not None:
        first = pd.Timestamp(as_of) - pd.DateOffset(months=params.window.months)
    elif len(tx):
        first = tx["order_date"].min()
    else:
        first = pd.Timestamp(as_of)
    ends = snapshot_dates(first, as_of, period=spec.period, periods=spec.periods)
    starts = [_period_start(e, spec.period) for e in ends]
    revenue = _revenue_by_period(tx, [starts[0], *ends]) if ends else pd.DataFrame()

    snaps, last_feats, used_ends = [], None, []
    for i, (start, end) in enumerate(zip(starts, ends)):
        feats, snap = _snapshot(tx, end, tiering_spec=params.tiering, attributes=tuple(attributes),
                                churn_days=spec.churn_days, start=start, seed=params.seed)
        if snap.empty:
            continue
        snap["period_revenue"] = (snap["customer_id"].map(revenue[i]).fillna(0.0).to_numpy()
                                  if len(revenue) else 0.0)
        snap.insert(0, "period_start", start)
        snap.insert(0, "snapshot_date", end)
        snap.insert(0, "snapshot", len(used_ends))
        snaps.append(snap)
        used_ends.append((i, end))
        last_feats = feats
    timings["snapshots"] = round(time.perf_counter() - t0, 3)

    tier_dtype = pd.CategoricalDtype(list(labels), ordered=True)
    state_dtype = pd.CategoricalDtype([*labels, LAPSED], ordered=True)
    from_dtype = pd.CategoricalDtype([*labels, LAPSED, NEW], ordered=True)
    if snaps:
        snapshots = pd.concat(snaps, ignore_index=True)
        snapshots["tier"] = snapshots["tier"].astype(str).astype(tier_dtype)
        snapshots["state"] = snapshots["state"].astype(state_dtype)
    else:
        snapshots = pd.DataFrame(columns=["snapshot", "snapshot_date", "period_start", "customer_id",
                                          "tier", "tier_rank", "state", "is_new", "first_purchase",
                                          "last_purchase", "recency_days", "monetary",
                                          "period_revenue"])
    dates = tuple(e for _, e in used_ends)
    sizes = _sizes(snapshots, state_dtype)
    transitions, tier_rates, directions, movers = _flows(
        snapshots, labels, rank, from_dtype, state_dtype,
        churn_from=pd.Timestamp(first).normalize() + pd.Timedelta(days=spec.churn_days))
    timings["transitions"] = round(time.perf_counter() - t0 - timings["snapshots"], 3)

    previous = None
    if earlier is not None:
        t1 = time.perf_counter()
        current = snapshots[snapshots["snapshot_date"] == pd.Timestamp(as_of)] if dates else None
        if current is None or current.empty or last_feats is None or dates[-1] != pd.Timestamp(as_of):
            last_feats, current = _snapshot(
                tx, pd.Timestamp(as_of), tiering_spec=params.tiering, attributes=tuple(attributes),
                churn_days=spec.churn_days, start=_period_start(pd.Timestamp(as_of), spec.period),
                seed=params.seed)
        previous = compare_previous(tx, folder=spec.previous_report, current=current,
                                    features=last_feats, params=params, spec=spec, as_of=as_of,
                                    first=first, earlier=earlier)
        timings["previous"] = round(time.perf_counter() - t1, 3)

    return Migration(spec=spec, tiering=_tiering_used(params), labels=labels, as_of=as_of,
                     snapshot_dates=dates, snapshots=snapshots, sizes=sizes,
                     transitions=transitions, tier_rates=tier_rates, directions=directions,
                     movers=movers, previous=previous, timings=timings)


def _tiering_used(params) -> dict:
    spec = params.tiering
    out = {"method": spec.method, "labels": list(spec.labels)}
    options = getattr(spec, spec.method, None)
    if isinstance(options, BaseModel):
        out.update(options.model_dump(mode="json"))
    return out


def _sizes(snapshots: pd.DataFrame, state_dtype) -> pd.DataFrame:
    cols = ["snapshot", "snapshot_date", "state", "customers", "customer_share", "revenue",
            "revenue_share", "new_customers"]
    if snapshots.empty:
        return pd.DataFrame(columns=cols)
    g = snapshots.groupby(["snapshot", "state"], observed=False, sort=True)
    out = g.agg(customers=("customer_id", "size"), revenue=("period_revenue", "sum"),
                new_customers=("is_new", "sum")).reset_index()
    dates = snapshots.drop_duplicates("snapshot").set_index("snapshot")["snapshot_date"]
    out["snapshot_date"] = out["snapshot"].map(dates)
    tot_c = out.groupby("snapshot")["customers"].transform("sum")
    tot_r = out.groupby("snapshot")["revenue"].transform("sum")
    out["customer_share"] = out["customers"] / tot_c.where(tot_c > 0)
    out["revenue_share"] = out["revenue"] / tot_r.where(tot_r != 0)
    out["revenue"] = out["revenue"].round(6)
    out["customers"] = out["customers"].astype("int64")
    out["new_customers"] = out["new_customers"].astype("int64")
    out["state"] = out["state"].astype(str)
    return out[cols]


def _flows(snapshots: pd.DataFrame, labels, rank, from_dtype, state_dtype, *,
           churn_from: pd.Timestamp):
    n = int(snapshots["snapshot"].max()) + 1 if len(snapshots) else 0
    trans, rates, dirs, movers = [], [], [], pd.DataFrame()
    has_name = "customer_name" in snapshots.columns
    for k in range(1, n):
        a = snapshots[snapshots["snapshot"] == k - 1].set_index("customer_id")
        b = snapshots[snapshots["snapshot"] == k].set_index("customer_id")
        start, end = a["snapshot_date"].iloc[0], b["snapshot_date"].iloc[0]
        frm = a["state"].astype(str).reindex(b.index).fillna(NEW)
        pairs = pd.DataFrame({
            "customer_id": b.index,
            "from_state": frm.to_numpy(),
            "to_state": b["state"].astype(str).to_numpy(),
            "revenue_before": a["period_revenue"].reindex(b.index).fillna(0.0).to_numpy(),
            "revenue": b["period_revenue"].to_numpy(),
            "spend_to_date": b["monetary"].to_numpy(),
        })
        tr = _transition_table(pairs, list(from_dtype.categories), list(state_dtype.categories),
                               lambda f, s: _direction(f, s, rank),
                               revenue_cols=("revenue_before", "revenue", "spend_to_date"))
        tr.insert(0, "period_end", end)
        tr.insert(0, "period_start", start)
        tr.insert(0, "period", k)
        trans.append(tr)
        rates.append(_rates(tr, labels, k, start, end, churn_measurable=start >= churn_from))
        d = (tr.groupby("direction", sort=False)
             .agg(customers=("customers", "sum"), revenue_before=("revenue_before", "sum"),
                  revenue_after=("revenue", "sum"))
             .reindex(list(_DIRECTIONS), fill_value=0).reset_index())
        d["revenue_change"] = (d["revenue_after"] - d["revenue_before"]).round(6)
        d.insert(0, "period_end", end)
        d.insert(0, "period_start", start)
        d.insert(0, "period", k)
        dirs.append(d)
        if k == n - 1:
            movers = _movers(pairs, b, labels, start, end, has_name)
    tcols = ["period", "period_start", "period_end", "from_state", "to_state", "customers",
             "row_share", "revenue_before", "revenue", "direction"]
    transitions = pd.concat(trans, ignore_index=True)[tcols] if trans else pd.DataFrame(columns=tcols)
    tier_rates = pd.concat(rates, ignore_index=True) if rates else pd.DataFrame(columns=_RATE_COLS)
    dcols = ["period", "period_start", "period_end", "direction", "customers", "revenue_before",
             "revenue_after", "revenue_change"]
    directions = pd.concat(dirs, ignore_index=True)[dcols] if dirs else pd.DataFrame(columns=dcols)
    if movers.empty:
        movers = pd.DataFrame(columns=_mover_cols(has_name))
    return transitions, tier_rates, directions, movers


_RATE_COLS = ["period", "period_start", "period_end", "tier", "tier_rank", "customers", "stayed",
              "upgraded", "downgraded", "churned", "stay_rate", "upgrade_rate", "downgrade_rate",
              "churn_rate", "churn_measurable", "revenue_before", "revenue_after", "net_revenue_effect",
              "churned_spend_to_date"]


def _rates(tr: pd.DataFrame, labels, k, start, end, *, churn_measurable: bool) -> pd.DataFrame:
    rows = []
    for r, lab in enumerate(labels, start=1):
        sub = tr[tr["from_state"] == lab]
        by = sub.groupby("direction")["customers"].sum()
        n = int(sub["customers"].sum())
        stayed, up, down, churn = (int(by.get(x, 0)) for x in ("stay", "up", "down", "lapsed"))
        rb = float(sub["revenue_before"].sum())
        ra = float(sub["revenue"].sum())
        lost = float(sub.loc[sub["direction"] == "lapsed", "spend_to_date"].sum())

        def rate(x, possible=True, n=n):
            return x / n if n and possible else np.nan

        rows.append({
            "period": k, "period_start": start, "period_end": end, "tier": lab, "tier_rank": r,
            "customers": n, "stayed": stayed, "upgraded": up, "downgraded": down, "churned": churn,
            "stay_rate": rate(stayed), "upgrade_rate": rate(up, r > 1),
            "downgrade_rate": rate(down, r < len(labels)),
            "churn_rate": rate(churn, churn_measurable), "churn_measurable": churn_measurable,
            "revenue_before": round(rb, 6), "revenue_after": round(ra, 6),
            "net_revenue_effect": round(ra - rb, 6), "churned_spend_to_date": round(lost, 6),
        })
    return pd.DataFrame(rows, columns=_RATE_COLS)


def _mover_cols(has_name: bool) -> list[str]:
    return (["movement", "customer_id"] + (["customer_name"] if has_name else [])
            + ["from_tier", "to_tier", "revenue_before", "revenue_after", "revenue_change",
               "spend_to_date", "last_purchase", "period_start", "period_end"])


def _movers(pairs: pd.DataFrame, b: pd.DataFrame, labels, start, end, has_name) -> pd.DataFrame:
    rank = {lab: i for i, lab in enumerate(labels)}
    top = labels[0]
    frm, to = pairs["from_state"], pairs["to_state"]
    left = (frm == top) & (to != top)
    fr = frm.map(rank)
    tr = to.map(rank)
    rose = fr.notna() & tr.notna() & (tr < fr)
    out = pairs[left | rose].copy()
    out["movement"] = np.where(left[left | rose], "left_top", "rose")
    out = out.rename(columns={"from_state": "from_tier", "to_state": "to_tier",
                              "revenue": "revenue_after"})
    out["revenue_change"] = (out["revenue_after"] - out["revenue_before"]).round(6)
    out["last_purchase"] = out["customer_id"].map(b["last_purchase"]).to_numpy()
    if has_name:
        out["customer_name"] = out["customer_id"].map(b["customer_name"]).to_numpy()
    out["period_start"], out["period_end"] = start, end
    # left the top tier: biggest earlier spenders first; rose: biggest spenders now first
    out["_order"] = np.where(out["movement"] == "left_top", 0, 1)
    out["_key"] = np.where(out["movement"] == "left_top", -out["revenue_before"], -out["revenue_after"])
    out["_key2"] = -out["spend_to_date"]
    out = out.sort_values(["_order", "_key", "_key2", "customer_id"], kind="mergesort")
    return out[_mover_cols(has_name)].reset_index(drop=True)


# --------------------------------------------------------------------------- previous report


def _read_previous(folder: Path) -> tuple[pd.DataFrame, dict]:
    folder = Path(folder)
    require(folder.is_dir(), f"The previous report folder does not exist: {folder}",
            where="migration.previous_report",
            hint="give the folder of an earlier `tiering report` run (it holds tiers.csv and "
                 "manifest.json)")
    tiers_path, manifest_path = folder / "tiers.csv", folder / "manifest.json"
    for p in (tiers_path, manifest_path):
        require(p.is_file(), f"The previous report folder has no {p.name}", where=str(folder),
                hint="point migration.previous_report at a complete report folder written by "
                     "`tiering report`", error=DataError)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"The previous report's manifest cannot be read: {exc}",
                        where=str(manifest_path),
                        hint="restore manifest.json from the report folder") from None
    require(isinstance(manifest, dict) and "as_of" in manifest and "tiering" in manifest,
            "The previous report's manifest lacks 'as_of' or 'tiering'", where=str(manifest_path),
            hint="use a report folder written by this version of `tiering report`",
            error=DataError)
    from tiering.safecsv import unprefix

    tiers = pd.read_csv(tiers_path, dtype={"customer_id": str, "tier": str}, encoding="utf-8",
                        keep_default_na=False, na_values=[""])
    for col in ("customer_id", "tier", "customer_name"):  # written formula-safe
        if col in tiers.columns:
            tiers[col] = tiers[col].map(unprefix)
    missing = [c for c in ("customer_id", "tier", "tier_rank") if c not in tiers.columns]
    require(not missing, f"The previous tiers.csv lacks {', '.join(missing)}",
            where=str(tiers_path), hint="use the tiers.csv written by `tiering report`",
            error=DataError)
    return tiers, manifest


def _previous_labels(tiers: pd.DataFrame, manifest: dict) -> tuple[str, ...]:
    labels = (manifest.get("parameters") or {}).get("tiering", {}).get("labels")
    if labels:
        return tuple(str(x) for x in labels)
    pairs = tiers[["tier", "tier_rank"]].drop_duplicates().sort_values("tier_rank")
    return tuple(pairs["tier"].astype(str))


def _window_days(manifest: dict, tiers: pd.DataFrame) -> int | None:
    """The length in days of the earlier report's analysis window."""
    try:
        as_of = pd.Timestamp(manifest["as_of"])
        window = (manifest.get("parameters") or {}).get("window") or {}
        if window.get("start"):
            return int((as_of - pd.Timestamp(window["start"])).days)
        if window.get("months"):
            return int((as_of - (as_of - pd.DateOffset(months=int(window["months"])))).days)
        if "tenure_days" in tiers.columns and len(tiers):
            return int(pd.to_numeric(tiers["tenure_days"], errors="coerce").max())
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _frozen_abc(prev: pd.DataFrame, feats: pd.DataFrame, tiering: dict, labels) -> tuple[np.ndarray, pd.DataFrame]:
    value = tiering.get("value", "monetary")
    require(value in prev.columns and value in feats.columns,
            f"The previous tiers.csv lacks the column {value!r} its abc tiers were cut on",
            where="migration.previous_report", hint="use the tiers.csv written by `tiering report`",
            error=DataError)
    v = pd.to_numeric(prev[value], errors="coerce")
    lowers = []
    for r in range(1, len(labels)):
        sel = (prev["tier_rank"] == r) & (v > 0)
        lowers.append(float(v[sel].min()) if sel.any() else np.inf)
    lowers = np.asarray(lowers, dtype=float)  # abc tiers are contiguous in value: decreasing
    x = feats[value].to_numpy(dtype=float)
    # best tier whose least value the customer reaches; else the last tier
    rank = np.full(len(x), len(labels), dtype="int64")
    for r in range(len(lowers), 0, -1):
        rank = np.where((x >= lowers[r - 1]) & (x > 0), r, rank)
    table = pd.DataFrame({"tier": list(labels), "tier_rank": range(1, len(labels) + 1),
                          "metric": value, "lower": [*lowers.tolist(), np.nan]})
    return rank, table


def _frozen_rfm(prev: pd.DataFrame, feats: pd.DataFrame, tiering: dict, labels) -> tuple[np.ndarray, pd.DataFrame]:
    needed = ("r_score", "f_score", "m_score", "recency_days", "frequency", "monetary")
    missing = [c for c in needed if c not in prev.columns]
    require(not missing, f"The previous tiers.csv lacks {', '.join(missing)} needed to freeze "
            "its RFM bins", where="migration.previous_report",
            hint="use migration.previous_thresholds: refit, or a tiers.csv from `tiering report`",
            error=DataError)
    bins = int(tiering.get("bins", 5))

    def score(metric: str, col: str, higher_is_better: bool) -> np.ndarray:
        s = pd.to_numeric(prev[col], errors="coerce")
        v = pd.to_numeric(prev[metric], errors="coerce")
        x = feats[metric].to_numpy(dtype=float)
        out = np.ones(len(x), dtype="int64")
        for k in range(2, bins + 1):
            sel = s >= k
            if not sel.any():
                continue
            if higher_is_better:
                edge = float(v[sel].min())
                out = np.where(x >= edge, k, out)
            else:
                edge = float(v[sel].max())
                out = np.where(x <= edge, k, out)
        return out

    r = score("recency_days", "r_score", False)
    f = score("frequency", "f_score", True)
    m = score("monetary", "m_score", True)
    w = tiering.get("weights") or {"recency": 1.0, "frequency": 1.0, "monetary": 1.0}
    wsum = float(w["recency"]) + float(w["frequency"]) + float(w["monetary"])
    s = np.round((w["recency"] * r + w["frequency"] * f + w["monetary"] * m) / wsum, 9)
    th = list(tiering.get("thresholds") or [])
    require(len(th) == len(labels) - 1, "The previous manifest's RFM thresholds do not match its "
            "tier labels", where="migration.previous_report",
            hint="use migration.previous_thresholds: refit", error=DataError)
    rank = 1 + (s[:, None] < np.asarray(th, dtype=float)[None, :]).sum(axis=1)
    table = pd.DataFrame({"tier": list(labels), "tier_rank": range(1, len(labels) + 1),
                          "metric": "rfm_score", "lower": [*map(float, th), 1.0]})
    return rank.astype("int64"), table


def compare_previous(transactions: pd.DataFrame, *, folder: str | Path, current: pd.DataFrame,
                     features: pd.DataFrame, params: Params, spec: MigrationSpec,
                     as_of: dt.date, first: pd.Timestamp | None = None,
                     earlier: tuple[pd.DataFrame, dict] | None = None) -> PreviousComparison:
    """Compare today's tiers (``current``: the snapshot rows at ``as_of``, with ``state``;
    ``features``: today's customer features in the same order) with an earlier report.

    Frozen thresholds: abc tiers keep the earlier report's least spend of each tier
    (an amount, e.g. tier A = net spend >= 12,345); rfm tiers keep its quantile bins (the
    least frequency and spend, the most recency days of each score) and its score
    thresholds. Refit: today's method on today's data (the report's own tiers).
    """
    folder = Path(folder)
    prev, manifest = earlier if earlier is not None else _read_previous(folder)
    prev_as_of = pd.Timestamp(manifest["as_of"]).date()
    prev_labels = _previous_labels(prev, manifest)
    _check_labels(prev_labels)
    tiering = dict(manifest["tiering"])
    method = str(tiering.get("method", "abc"))
    labels = tuple(str(x) for x in params.tiering.labels)
    warnings: list[tuple[str, dict]] = []
    if prev_as_of >= as_of:
        warnings.append(("previous_not_earlier", {"previous": prev_as_of.isoformat(),
                                                  "current": as_of.isoformat()}))
    if method != params.tiering.method:
        warnings.append(("previous_method", {"previous": method, "current": params.tiering.method}))
    if prev_labels != labels:
        warnings.append(("previous_labels", {"previous": " / ".join(prev_labels),
                                             "current": " / ".join(labels)}))
    prev_days = _window_days(manifest, prev)
    cur_days = int((pd.Timestamp(as_of) - pd.Timestamp(first)).days) if first is not None else None
    if prev_days and cur_days and abs(prev_days - cur_days) > 0.1 * max(prev_days, cur_days):
        warnings.append(("previous_window", {"previous": prev_days, "current": cur_days}))

    mode = spec.previous_thresholds
    frozen_rank = None
    frozen_table = pd.DataFrame(columns=["tier", "tier_rank", "metric", "lower"])
    if method == "abc":
        frozen_rank, frozen_table = _frozen_abc(prev, features, tiering, prev_labels)
    elif method == "rfm" and tiering.get("tier_by", "score") == "score":
        frozen_rank, frozen_table = _frozen_rfm(prev, features, tiering, prev_labels)
    else:
        warnings.append(("frozen_unavailable", {"method": method}))
        mode = "refit"
    cur = current.set_index("customer_id")
    feats = features.set_index("customer_id")
    lapsed = cur["state"].astype(str) == LAPSED
    if frozen_rank is not None:
        frozen_tier = pd.Series(np.asarray(prev_labels, dtype=object)[frozen_rank - 1],
                                index=feats.index)
        frozen_state = frozen_tier.where(~lapsed.reindex(feats.index, fill_value=False), LAPSED)
    else:
        frozen_state = pd.Series(dtype=object)

    ids = sorted(set(prev["customer_id"]) | set(cur.index))
    prev_tier = prev.drop_duplicates("customer_id").set_index("customer_id")["tier"].astype(str)
    tx = transactions
    since = tx[tx["order_date"] >= pd.Timestamp(prev_as_of)].groupby("customer_id")["amount"].sum()
    out = pd.DataFrame({"customer_id": ids})
    if "customer_name" in cur.columns or "customer_name" in prev.columns:
        names = cur["customer_name"] if "customer_name" in cur.columns else pd.Series(dtype=object)
        if "customer_name" in prev.columns:
            older = prev.drop_duplicates("customer_id").set_index("customer_id")["customer_name"]
            names = names.combine_first(older)
        out["customer_name"] = out["customer_id"].map(names)
    out["previous_tier"] = out["customer_id"].map(prev_tier).fillna(NEW)
    out["refit_state"] = out["customer_id"].map(cur["state"].astype(str)).fillna(LAPSED)
    out["frozen_state"] = (out["customer_id"].map(frozen_state).fillna(LAPSED)
                           if frozen_rank is not None else None)
    out["revenue_since"] = out["customer_id"].map(since).fillna(0.0).round(6)
    out["monetary"] = out["customer_id"].map(feats["monetary"]).fillna(0.0)

    prank = {lab: i + 1 for i, lab in enumerate(prev_labels)}
    tables = []
    readings = [("refit", "refit_state", labels)]
    if frozen_rank is not None:
        readings.append(("frozen", "frozen_state", prev_labels))
    for reading, col, to_labels in readings:
        # up/down compare positions: earlier labels by earlier rank, today's by today's rank
        rank = {lab: i + 1 for i, lab in enumerate(to_labels)}
        pairs = pd.DataFrame({"from_state": out["previous_tier"], "to_state": out[col],
                              "revenue": out["revenue_since"]})
        grid = _transition_table(pairs, [*prev_labels, NEW], [*to_labels, LAPSED],
                                 lambda f, s, rank=rank: _direction_between(f, s, prank, rank),
                                 revenue_cols=("revenue",))
        grid.insert(0, "thresholds", reading)
        tables.append(grid)
    transitions = pd.concat(tables, ignore_index=True)[
        ["thresholds", "from_state", "to_state", "customers", "row_share", "revenue", "direction"]]
    return PreviousComparison(folder=str(folder), as_of=prev_as_of, method=method, labels=prev_labels,
                              mode=mode, customers=out, transitions=transitions,
                              frozen_thresholds=frozen_table, window_days=prev_days,
                              warnings=tuple(warnings))


def _direction_between(frm: str, to: str, from_rank: dict, to_rank: dict) -> str:
    if frm == NEW:
        return "new"
    if to == LAPSED:
        return "lapsed"
    a, b = from_rank[frm], to_rank[to]
    return "up" if b < a else "down" if b > a else "stay"


# --------------------------------------------------------------------------- tables


def write_tables(result: Migration | None, folder: str | Path) -> list[str]:
    """Write the migration tables into ``folder``; returns the file names written.

    ``migration.csv`` (the transitions), ``migration_rates.csv`` (per tier and period),
    ``migration_sizes.csv`` (tier sizes and revenue shares per snapshot), ``movers.csv``
    and, with a previous report, ``previous_comparison.csv`` (one row per customer) and
    ``previous_transitions.csv``. Same conventions as :mod:`tiering.build.outputs`: UTF-8,
    ``\\n`` line ends, no index, ISO timestamps.
    """
    if result is None:
        return []
    folder = Path(folder)
    tables = {
        "migration.csv": result.transitions,
        "migration_rates.csv": result.tier_rates,
        "migration_sizes.csv": result.sizes,
        "movers.csv": result.movers,
    }
    if result.previous is not None:
        tables["previous_comparison.csv"] = result.previous.customers
        tables["previous_transitions.csv"] = result.previous.transitions
    from tiering.safecsv import write_csv

    for name, df in tables.items():
        write_csv(df, folder / name)
    return list(tables)


def movers_sheets(result: Migration | None, *, language: str) -> dict[str, pd.DataFrame]:
    """The movers as sheets for the action-list workbook: sheet name (in ``language``,
    at most 31 characters) -> table (the columns of ``Migration.movers`` without
    ``movement``). Empty when there is no result or no transition."""
    if result is None or result.n_periods == 0:
        return {}
    top = result.labels[0]
    out = {}
    for movement in ("left_top", "rose"):
        name = t(f"migration.sheet_{movement}", language, top=top)[:31]
        out[name] = (result.movers[result.movers["movement"] == movement]
                     .drop(columns=["movement"]).reset_index(drop=True))
    return out


# --------------------------------------------------------------------------- labels


def snapshot_label(date, *, period: str, language: str) -> str:
    """A short name of the period that ends at a snapshot: ``Q4 2025`` / ``2025年第4季度``
    when it is a calendar quarter, ``Dec 2025`` / ``2025年12月`` a calendar month, else
    its last day (``9 Dec 2011`` / ``2011年12月9日``)."""
    end = pd.Timestamp(date)
    last = end - pd.Timedelta(days=1)
    aligned = end == end.normalize() and end.day == 1
    if aligned and period == "quarter" and end.month in (1, 4, 7, 10):
        return t("migration.label_quarter", language, year=last.year, q=(last.month - 1) // 3 + 1)
    if aligned and period == "month":
        return t("migration.label_month", language, year=last.year, month=last.month,
                 mon=last.strftime("%b"))
    return t("migration.label_day", language, year=last.year, month=last.month, day=last.day,
             mon=last.strftime("%b"))


def tick_labels(dates, *, period: str, language: str) -> list[str]:
    """Compact two-line axis labels for snapshots: the period on the first line, the
    year on the second line at the first tick and wherever the year changes."""
    out, year = [], None
    for d in dates:
        end = pd.Timestamp(d)
        last = end - pd.Timedelta(days=1)
        aligned = end == end.normalize() and end.day == 1
        if aligned and period == "quarter" and end.month in (1, 4, 7, 10):
            head = t("migration.tick_quarter", language, q=(last.month - 1) // 3 + 1)
        elif aligned and period == "month":
            head = t("migration.tick_month", language, month=last.month, mon=last.strftime("%b"))
        else:
            head = t("migration.tick_day", language, month=last.month, day=last.day,
                     mon=last.strftime("%b"))
        if last.year != year:
            head += "\n" + t("migration.tick_year", language, year=last.year)
            year = last.year
        out.append(head)
    return out


def state_name(state: str, language: str) -> str:
    """A state for display: tier labels as they are, ``lapsed``/``new`` translated."""
    if state == LAPSED:
        return t("migration.state_lapsed", language)
    if state == NEW:
        return t("migration.state_new", language)
    return str(state)


def _state_colors(labels) -> dict[str, str]:
    return {**tier_palette(labels), LAPSED: LAPSED_COLOR, NEW: NEW_COLOR}


def _period_word(period: str, language: str) -> str:
    return t(f"migration.period_{period}", language)


# --------------------------------------------------------------------------- charts


def _transition(result: Migration, period: int | None) -> pd.DataFrame:
    require(result.n_periods > 0, "There is no transition to draw: fewer than two snapshots",
            where="migration", hint="lengthen the analysis window or use migration.period: month")
    k = result.n_periods if period is None else int(period)
    require(1 <= k <= result.n_periods, f"period {k} is out of range 1..{result.n_periods}",
            where="period")
    return result.transitions[result.transitions["period"] == k]


def flow_chart(result: Migration, *, period: int | None = None, language: str,
               ax: Axes | None = None) -> Axes:
    """Alluvial diagram of one transition (default: the latest): customers by state at
    the start (left: tiers, lapsed customers who came back, new) and at the end (right:
    tiers, lapsed), joined by bands whose height is the number of customers. Bands of
    customers who changed state are drawn stronger than those who stayed. Customers
    lapsed at both dates are left out (a note gives their number), so the active base
    is not dwarfed by the dormant one. Returns the Axes."""
    charts._check_language(language)
    tr = _transition(result, period)
    charts.setup_fonts()
    dormant = int(tr.loc[(tr["from_state"] == LAPSED) & (tr["to_state"] == LAPSED), "customers"].sum())
    tr = tr[~((tr["from_state"] == LAPSED) & (tr["to_state"] == LAPSED))]
    colors = _state_colors(result.labels)
    left_states = [s for s in result.from_states
                   if tr.loc[tr["from_state"] == s, "customers"].sum() > 0]
    right_states = [s for s in result.states if tr.loc[tr["to_state"] == s, "customers"].sum() > 0]
    total = float(tr["customers"].sum())
    require(total > 0, "The transition has no active customers to draw", where="migration",
            error=DataError)
    _, ax = charts._new_axes(ax, (charts.FIG_WIDTH, 3.7))
    ax.set_axis_off()
    gap = 0.025
    node_w = 0.035
    x_left, x_right = 0.16, 0.84
    scale = min((1.0 - gap * (len(left_states) - 1)) / total,
                (1.0 - gap * (len(right_states) - 1)) / total)

    def layout(states, column):
        pos, y = {}, 1.0
        for s in states:
            n = float(tr.loc[tr[column] == s, "customers"].sum())
            h = n * scale
            pos[s] = (y, y - h, n)  # top, bottom, customers
            y -= h + gap
        return pos

    lpos, rpos = layout(left_states, "from_state"), layout(right_states, "to_state")
    lcur = {s: v[0] for s, v in lpos.items()}
    rcur = {s: v[0] for s, v in rpos.items()}
    flows = tr[tr["customers"] > 0]
    order_r = {s: i for i, s in enumerate(right_states)}
    order_l = {s: i for i, s in enumerate(left_states)}
    # bands leave each left node in the order of the right nodes and reach each right
    # node in the order of the left nodes, so they never cross inside a node
    start_y = {}
    for r in sorted(flows.itertuples(), key=lambda r: (order_l[r.from_state], order_r[r.to_state])):
        h = r.customers * scale
        start_y[(r.from_state, r.to_state)] = (lcur[r.from_state], lcur[r.from_state] - h)
        lcur[r.from_state] -= h
    x0, x1 = x_left + node_w, x_right - node_w
    xm = (x0 + x1) / 2
    for r in sorted(flows.itertuples(), key=lambda r: (order_r[r.to_state], order_l[r.from_state])):
        h = r.customers * scale
        ly0, ly1 = start_y[(r.from_state, r.to_state)]
        ry0, ry1 = rcur[r.to_state], rcur[r.to_state] - h
        rcur[r.to_state] -= h
        verts = [(x0, ly0), (xm, ly0), (xm, ry0), (x1, ry0), (x1, ry1), (xm, ry1), (xm, ly1),
                 (x0, ly1), (x0, ly0)]
        codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.LINETO,
                 MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.CLOSEPOLY]
        moved = r.from_state != r.to_state
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colors[r.from_state],
                               alpha=0.55 if moved else 0.22, edgecolor="none", zorder=1))
    for pos, x, side in ((lpos, x_left, "left"), (rpos, x_right - node_w, "right")):
        ys = []
        for s, (top, bottom, n) in pos.items():
            ax.add_patch(Rectangle((x, bottom), node_w, top - bottom, facecolor=colors[s],
                                   edgecolor="white", linewidth=0.6, zorder=2))
            ys.append((s, (top + bottom) / 2, n))
        for s, y, n in _spread(ys, min_gap=0.06):
            name = (t("migration.state_came_back", language) if side == "left" and s == LAPSED
                    else state_name(s, language))
            text = f"{name}  {charts._fmt_number(n, language)}"
            if side == "left":
                ax.text(x - 0.012, y, text, ha="right", va="center", fontsize=charts._TICK_SIZE,
                        color=charts._TEXT_COLOR)
            else:
                ax.text(x + node_w + 0.012, y, text, ha="left", va="center",
                        fontsize=charts._TICK_SIZE, color=charts._TEXT_COLOR)
    start, end = tr["period_start"].iloc[0], tr["period_end"].iloc[0]
    a_label = snapshot_label(start, period=result.spec.period, language=language)
    b_label = snapshot_label(end, period=result.spec.period, language=language)
    for x, text in ((x_left + node_w / 2, a_label), (x_right - node_w / 2, b_label)):
        ax.text(x, 1.03, text, ha="center", va="bottom", fontsize=charts._LABEL_SIZE,
                fontweight="bold", color=charts._TEXT_COLOR)
    low = min(min(v[1] for v in lpos.values()), min(v[1] for v in rpos.values()))
    ax.set_xlim(0, 1)
    ax.set_ylim(low - 0.01, 1.09)
    charts._title(ax, t("migration.flow_title", language, start=a_label, end=b_label))
    note = t("migration.flow_note", language)
    if dormant:
        note += "\n" + t(
            "migration.flow_dormant", language, n=charts._fmt_number(dormant, language))
    ax.text(0.5, -0.02, note, ha="center", va="top", fontsize=charts._NOTE_SIZE,
            color=charts._TEXT_COLOR, transform=ax.transAxes)
    return ax


def _spread(items: list[tuple[str, float, float]], *, min_gap: float) -> list[tuple[str, float, float]]:
    """Move label positions (top to bottom) apart to at least ``min_gap``, keeping order."""
    ys = [y for _, y, _ in items]
    for i in range(1, len(ys)):
        ys[i] = min(ys[i], ys[i - 1] - min_gap)
    # if pushed below the last node, shift everything up where there is room
    overflow = (items[-1][1] - ys[-1]) if items else 0
    if overflow > 0:
        ys = [y + overflow / 2 for y in ys]
        for i in range(len(ys) - 2, -1, -1):
            ys[i] = max(ys[i], ys[i + 1] + min_gap)
    return [(s, y, n) for (s, _, n), y in zip(items, ys)]


def pooled_matrix(result: Migration, *, period: int | None = None) -> pd.DataFrame:
    """The transition grid of one period, or of all periods pooled (``period=None``):
    ``from_state, to_state, customers, row_share, revenue``."""
    tr = result.transitions if period is None else result.transitions[result.transitions["period"] == period]
    g = (tr.groupby(["from_state", "to_state"], sort=False)
         .agg(customers=("customers", "sum"), revenue=("revenue", "sum")).reset_index())
    tot = g.groupby("from_state", sort=False)["customers"].transform("sum")
    g["row_share"] = g["customers"] / tot.where(tot > 0)
    return g


def transition_heatmap(result: Migration, *, period: int | None = None, language: str,
                       ax: Axes | None = None) -> Axes:
    """Transition matrix as a heatmap: rows are the states at the start (tiers, lapsed,
    new), columns the states at the end; colour and text give the row share (where the
    customers of a row went) with the number of customers. ``period=None`` pools all
    transitions (the average period), else one transition. Returns the Axes."""
    charts._check_language(language)
    require(result.n_periods > 0, "There is no transition to draw: fewer than two snapshots",
            where="migration", hint="lengthen the analysis window or use migration.period: month")
    charts.setup_fonts()
    m = pooled_matrix(result, period=period)
    rows = [s for s in result.from_states if m.loc[m["from_state"] == s, "customers"].sum() > 0]
    cols = result.states
    share = np.full((len(rows), len(cols)), np.nan)
    count = np.zeros((len(rows), len(cols)), dtype=int)
    idx = {(r.from_state, r.to_state): r for r in m.itertuples()}
    for i, a in enumerate(rows):
        for j, b in enumerate(cols):
            r = idx.get((a, b))
            if r is not None:
                share[i, j] = r.row_share
                count[i, j] = r.customers
    fig, ax = charts._new_axes(ax, (charts.FIG_WIDTH * 0.82, 0.9 + 0.42 * len(rows)))
    cmap = mpl.colormaps["Blues"]
    im = ax.imshow(share, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = share[i, j]
            if not np.isfinite(v):
                continue
            colour = charts._colour_text(mpl.colors.to_hex(cmap(v)))
            ax.text(j, i, f"{charts._fmt_share(v)}\n{charts._fmt_number(count[i, j], language)}",
                    ha="center", va="center", fontsize=charts._NOTE_SIZE, color=colour,
                    linespacing=1.15)
    ax.set_xticks(np.arange(len(cols)), [state_name(s, language) for s in cols])
    ax.set_yticks(np.arange(len(rows)), [state_name(s, language) for s in rows])
    ax.xaxis.tick_top()
    ax.tick_params(length=0, labelsize=charts._TICK_SIZE, colors=charts._TEXT_COLOR)
    for lab in ax.get_xticklabels():
        if lab.get_text() in result.labels:
            lab.set_fontweight("bold")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(np.arange(len(cols) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    name = result.spec.period
    if period is None:
        where = t("migration.heatmap_pooled", language, n=result.n_periods,
                  period=_period_word(name, language))
    else:
        tr = result.transitions[result.transitions["period"] == period]
        where = t("migration.heatmap_one", language,
                  start=snapshot_label(tr["period_start"].iloc[0], period=name, language=language),
                  end=snapshot_label(tr["period_end"].iloc[0], period=name, language=language))
    charts._label(ax, x=t("migration.heatmap_xlabel", language), y=t("migration.heatmap_ylabel", language))
    ax.xaxis.set_label_position("top")
    ax.set_xlabel(t("migration.heatmap_xlabel", language), fontsize=charts._LABEL_SIZE,
                  color=charts._TEXT_COLOR, labelpad=6)
    charts._title(ax, t("migration.heatmap_title", language, where=where))
    cbar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, aspect=18)
    cbar.set_label(t("migration.heatmap_colorbar", language), fontsize=charts._NOTE_SIZE,
                   color=charts._TEXT_COLOR)
    cbar.ax.tick_params(labelsize=charts._NOTE_SIZE, length=2)
    cbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    cbar.outline.set_visible(False)
    return ax


def trend_chart(result: Migration, *, language: str, ax=None) -> Figure:
    """Two panels over the snapshots: customers per state (stacked bars: tiers, then
    lapsed on top) and each tier's share of the period's net revenue (lines). ``ax`` may
    be a pair of Axes. Returns the Figure."""
    charts._check_language(language)
    require(len(result.snapshot_dates) > 0, "There are no snapshots to draw", where="migration",
            hint="lengthen the analysis window")
    charts.setup_fonts()
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(charts.FIG_WIDTH, 3.2), layout="constrained",
                                 facecolor="white")
    else:
        axes = list(np.ravel(ax))
        require(len(axes) == 2 and all(isinstance(a, Axes) for a in axes),
                "ax must be a pair of Axes", where="ax")
        fig = axes[0].figure
    a1, a2 = axes
    colors = _state_colors(result.labels)
    s = result.sizes
    n = len(result.snapshot_dates)
    x = np.arange(n)
    ticks = tick_labels(result.snapshot_dates, period=result.spec.period, language=language)
    charts._style(a1, grid="y")
    bottom = np.zeros(n)
    for state in result.states:
        v = (s[s["state"] == state].set_index("snapshot")["customers"]
             .reindex(range(n), fill_value=0).to_numpy(dtype=float))
        a1.bar(x, v, bottom=bottom, width=0.7, color=colors[state], edgecolor="white",
               linewidth=0.4, label=state_name(state, language))
        bottom += v
    a1.yaxis.set_major_formatter(charts._value_formatter(language, None))
    charts._title(a1, t("migration.trend_sizes", language))
    charts._style(a2, grid="y")
    for lab in result.labels:
        v = (s[s["state"] == lab].set_index("snapshot")["revenue_share"]
             .reindex(range(n)).to_numpy(dtype=float))
        a2.plot(x, v, marker="o", markersize=3.5, linewidth=1.6, color=colors[lab], label=lab)
    a2.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    lo = float(np.nanmin(s["revenue_share"].to_numpy(dtype=float))) if len(s) else 0.0
    a2.set_ylim(min(0.0, lo * 1.1), 1.0)
    charts._title(a2, t("migration.trend_revenue", language))
    for a in (a1, a2):
        _set_ticks(a, x, ticks, 2)
    handles = [Patch(facecolor=colors[st], label=state_name(st, language)) for st in result.states]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
               fontsize=charts._NOTE_SIZE)
    return fig


def _set_ticks(ax: Axes, x, ticks: list[str], panels: int) -> None:
    """Period ticks: smaller type when many, turned 40 degrees when still too wide."""
    per_tick = 0.85 * charts.FIG_WIDTH / panels / max(len(ticks), 1)
    size = charts._TICK_SIZE if per_tick >= 0.42 else 6.5 if per_tick >= 0.3 else 5.5
    ax.set_xticks(x, ticks)
    ax.tick_params(axis="x", length=0, labelsize=size)
    # the period (first line) must fit its slot; the year (second line, at a few ticks
    # only) may reach a little into the next one
    period_w = max((charts._text_width(tk.split("\n")[0], size) for tk in ticks), default=0.0)
    year_w = max((charts._text_width(tk.split("\n")[1], size) for tk in ticks if "\n" in tk),
                 default=0.0)
    if period_w > 0.92 * per_tick or year_w > 1.1 * per_tick:
        ax.set_xticks(x, [tk.replace("\n", " ") for tk in ticks])
        ax.tick_params(axis="x", labelrotation=40)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
            lab.set_rotation_mode("anchor")


def rates_chart(result: Migration, *, language: str, ax=None) -> Figure:
    """Three panels over the transitions: churn (to lapsed), downgrade and upgrade rate
    of each tier, one line per tier in its colour. ``ax`` may be three Axes. Returns the
    Figure."""
    charts._check_language(language)
    require(result.n_periods > 0, "There is no transition to draw: fewer than two snapshots",
            where="migration", hint="lengthen the analysis window or use migration.period: month")
    charts.setup_fonts()
    if ax is None:
        fig, axes = plt.subplots(1, 3, figsize=(charts.FIG_WIDTH, 2.7), layout="constrained",
                                 facecolor="white", sharey=True)
    else:
        axes = list(np.ravel(ax))
        require(len(axes) == 3 and all(isinstance(a, Axes) for a in axes),
                "ax must hold three Axes", where="ax")
        fig = axes[0].figure
    r = result.tier_rates
    colors = _state_colors(result.labels)
    n = result.n_periods
    x = np.arange(1, n + 1)
    ticks = tick_labels(result.snapshot_dates[1:], period=result.spec.period, language=language)
    top = 0.0
    for a, col, key in zip(axes, ("churn_rate", "downgrade_rate", "upgrade_rate"),
                           ("rates_churn", "rates_down", "rates_up")):
        charts._style(a, grid="y")
        for lab in result.labels:
            v = r[r["tier"] == lab].set_index("period")[col].reindex(x).to_numpy(dtype=float)
            if np.isfinite(v).any():
                a.plot(x, v, marker="o", markersize=3, linewidth=1.5, color=colors[lab], label=lab)
                top = max(top, float(np.nanmax(v)))
        charts._title(a, t(f"migration.{key}", language))
        _set_ticks(a, x, ticks, 3)
        a.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if n == 1:
            a.set_xlim(0.5, 1.5)
    axes[0].set_ylim(0, max(0.05, top * 1.15))
    handles = [Line2D([], [], color=colors[lab], marker="o", markersize=3, label=lab)
               for lab in result.labels]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
               fontsize=charts._NOTE_SIZE, title=t("migration.rates_legend", language),
               title_fontsize=charts._NOTE_SIZE)
    return fig


# --------------------------------------------------------------------------- report section


def section_migration(analysis) -> str:
    """The report section on tier migration (empty when the analysis has none)."""
    from tiering.present.htmlkit import (
        kpis as _kpis,
        badge,
        fmt_date,
        fmt_int,
        fmt_money,
        fmt_pct,
        heading,
        table,
    )
    from tiering.style import tier_css_classes

    result: Migration | None = getattr(analysis, "migration", None)
    if result is None:
        return ""
    lang, cur = analysis.params.language, analysis.params.currency
    esc = html.escape
    period_word = _period_word(result.spec.period, lang)
    out = [heading("migration.sec_title", lang, anchor="migration")]
    if result.n_periods == 0:
        out.append(f'<p class="lead">{esc(t("migration.lead", lang, period=period_word, churn=result.spec.churn_days))}</p>')
        out.append(f'<div class="note">{esc(t("migration.too_short", lang, period=period_word))}</div>')
        out.append(_previous_html(result, lang, cur))
        return "".join(out)

    classes = tier_css_classes(result.labels)
    k = result.n_periods
    lab = {d: snapshot_label(d, period=result.spec.period, language=lang) for d in result.snapshot_dates}
    start, end = result.snapshot_dates[-2], result.snapshot_dates[-1]
    d = result.directions[result.directions["period"] == k].set_index("direction")
    rates = result.tier_rates[result.tier_rates["period"] == k].set_index("tier")
    out.append(f'<p class="lead">{esc(t("migration.lead", lang, period=period_word, churn=result.spec.churn_days))}</p>')
    out.append(_kpis([
        (t("migration.kpi_up", lang), fmt_int(d.loc["up", "customers"])),
        (t("migration.kpi_down", lang), fmt_int(d.loc["down", "customers"])),
        (t("migration.kpi_lapsed", lang), fmt_int(d.loc["lapsed", "customers"])),
        (t("migration.kpi_new", lang), fmt_int(d.loc["new", "customers"])),
    ]))
    out.append(f"<h3>{esc(t('migration.findings', lang, start=lab[start], end=lab[end]))}</h3>")
    out.append('<ul class="findings">' + "".join(f"<li>{esc(x)}</li>" for x in
                                               _findings(result, lang, cur, lab)) + "</ul>")
    out.append(charts.figure_html(flow_chart(result, language=lang),
                                  alt=t("migration.cap_flow", lang, start=lab[start], end=lab[end]),
                                  caption=t("migration.cap_flow", lang, start=lab[start], end=lab[end])))

    # what it cost: revenue by kind of move in the latest period
    out.append(f"<h3>{esc(t('migration.h_revenue', lang, start=lab[start], end=lab[end]))}</h3>")
    rows = []
    for code in _DIRECTIONS:
        if code not in d.index or d.loc[code, "customers"] == 0:
            continue
        r = d.loc[code]
        rows.append((t(f"migration.dir_{code}", lang), fmt_int(r["customers"]),
                     fmt_money(r["revenue_before"], lang, cur), fmt_money(r["revenue_after"], lang, cur),
                     _signed_money(r["revenue_change"], lang, cur)))
    tot = d[["customers", "revenue_before", "revenue_after", "revenue_change"]].sum()
    rows.append((t("migration.total", lang), fmt_int(tot["customers"]),
                 fmt_money(tot["revenue_before"], lang, cur), fmt_money(tot["revenue_after"], lang, cur),
                 _signed_money(tot["revenue_change"], lang, cur)))
    out.append(table([t("migration.col_move", lang), t("migration.col_customers", lang),
                      t("migration.col_rev_before", lang, period=lab[start]),
                      t("migration.col_rev_after", lang, period=lab[end]),
                      t("migration.col_rev_change", lang)], rows, numeric=(1, 2, 3, 4)))
    lost = float(rates["churned_spend_to_date"].sum())
    out.append(f'<div class="note">{esc(t("migration.revenue_note", lang, churn=result.spec.churn_days, lost=fmt_money(lost, lang, cur)))}</div>')

    # transition matrix (pooled) and the rates per tier
    out.append(f"<h3>{esc(t('migration.h_matrix', lang))}</h3>")
    out.append(f"<p>{esc(t('migration.matrix_text', lang, n=k, period=period_word))}</p>")
    cap = t("migration.cap_matrix", lang, n=k, period=period_word)
    out.append(charts.figure_html(transition_heatmap(result, language=lang), alt=cap, caption=cap))
    out.append(f"<h3>{esc(t('migration.h_rates', lang))}</h3>")
    pooled = _pooled_rates(result)
    rows = []
    for tier in result.labels:
        p = pooled.loc[tier]
        last = rates.loc[tier]
        rows.append((badge(tier, classes), fmt_int(last["customers"]),
                     fmt_pct(last["churn_rate"]), fmt_pct(last["downgrade_rate"]),
                     fmt_pct(last["upgrade_rate"]), fmt_pct(p["churn_rate"]),
                     _signed_money(last["net_revenue_effect"], lang, cur)))
    out.append(table([t("metrics.tier", lang), t("migration.col_start", lang, period=lab[start]),
                      t("migration.col_churn", lang), t("migration.col_down", lang),
                      t("migration.col_up", lang),
                      t("migration.col_churn_avg", lang, n=int(pooled["churn_periods"].iloc[0])),
                      t("migration.col_effect", lang)], rows, numeric=(1, 2, 3, 4, 5, 6), raw=(0,)))
    out.append(f'<div class="note">{esc(t("migration.rates_note", lang, start=lab[start], end=lab[end]))}</div>')
    if k >= 2:
        cap = t("migration.cap_rates", lang)
        out.append(charts.figure_html(rates_chart(result, language=lang), alt=cap, caption=cap))
    unmeasured = result.tier_rates.loc[~result.tier_rates["churn_measurable"].astype(bool), "period_end"]
    if len(unmeasured):
        out.append(f'<div class="note">{esc(t("migration.churn_unmeasured", lang, churn=result.spec.churn_days, end=lab[max(unmeasured)]))}</div>')
    cap = t("migration.cap_trend", lang)
    out.append(charts.figure_html(trend_chart(result, language=lang), alt=cap, caption=cap))

    # movers
    out.append(f"<h3>{esc(t('migration.h_movers', lang, start=lab[start], end=lab[end]))}</h3>")
    mv = result.movers
    has_name = "customer_name" in mv.columns
    for movement, limit in (("left_top", 10), ("rose", 10)):
        sub = mv[mv["movement"] == movement]
        title = t(f"migration.movers_{movement}", lang, top=result.labels[0], n=fmt_int(len(sub)))
        out.append(f"<h4>{esc(title)}</h4>")
        if sub.empty:
            continue
        rows = []
        for r in sub.head(limit).itertuples():
            who = str(r.customer_id) + (f" · {r.customer_name}" if has_name and isinstance(
                r.customer_name, str) and r.customer_name else "")
            to = badge(r.to_tier, classes) if r.to_tier in classes else esc(state_name(r.to_tier, lang))
            rows.append((esc(who), badge(r.from_tier, classes), to,
                         fmt_money(r.revenue_before, lang, cur), fmt_money(r.revenue_after, lang, cur),
                         f'<span style="white-space: nowrap">{esc(fmt_date(r.last_purchase, lang))}</span>'))
        out.append(table([t("migration.col_customer", lang), t("migration.col_from", lang),
                          t("migration.col_to", lang),
                          t("migration.col_rev_before", lang, period=lab[start]),
                          t("migration.col_rev_after", lang, period=lab[end]),
                          t("migration.col_last", lang)], rows, numeric=(3, 4), raw=(0, 1, 2, 5)))
    out.append(f'<div class="note">{esc(t("migration.movers_note", lang))}</div>')
    out.append(_previous_html(result, lang, cur))
    return "".join(out)


def _method_name(method: str, lang: str) -> str:
    key = f"report.method_name_{method}"
    return t(key, lang) if has(key) else str(method)


def _signed_money(x, lang, cur) -> str:
    from tiering.present.htmlkit import fmt_money

    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return ("+" if x > 0 else "") + fmt_money(x, lang, cur)


def _pooled_rates(result: Migration) -> pd.DataFrame:
    """Rates per tier over all transitions (churn over the measurable ones only)."""
    r = result.tier_rates
    g = r.groupby("tier", sort=False)[["customers", "churned", "upgraded", "downgraded"]].sum()
    m = r[r["churn_measurable"].astype(bool)].groupby("tier", sort=False)[["customers", "churned"]].sum()
    m = m.reindex(g.index, fill_value=0)
    g["churn_periods"] = int(r.loc[r["churn_measurable"].astype(bool), "period"].nunique())
    g["churn_rate"] = m["churned"] / m["customers"].where(m["customers"] > 0)
    n = g["customers"].where(g["customers"] > 0)
    g["upgrade_rate"] = g["upgraded"] / n
    g["downgrade_rate"] = g["downgraded"] / n
    return g


def _findings(result: Migration, lang: str, cur: str, lab: dict) -> list[str]:
    from tiering.present.htmlkit import fmt_int, fmt_money, fmt_pct

    k = result.n_periods
    start = result.snapshot_dates[-2]
    rates = result.tier_rates[result.tier_rates["period"] == k].set_index("tier")
    top = result.labels[0]
    out = []
    r = rates.loc[top]
    if r["customers"] > 0:
        out.append(t("migration.finding_top", lang, top=top, n=fmt_int(r["customers"]), start=lab[start],
                     stayed=fmt_int(r["stayed"]), stay=fmt_pct(r["stay_rate"]),
                     down=fmt_int(r["downgraded"]), lapsed=fmt_int(r["churned"]),
                     lost=fmt_money(r["churned_spend_to_date"], lang, cur)))
    pooled = _pooled_rates(result)
    valid = pooled[pooled["churn_rate"].notna()]
    if len(valid):
        worst = valid["churn_rate"].idxmax()
        out.append(t("migration.finding_churn", lang, tier=worst,
                     rate=fmt_pct(valid.loc[worst, "churn_rate"]), n=int(valid["churn_periods"].iloc[0]),
                     period=_period_word(result.spec.period, lang)))
    d = result.directions[result.directions["period"] == k].set_index("direction")
    moved = d.loc[["up", "down"], "customers"].sum()
    out.append(t("migration.finding_balance", lang, up=fmt_int(d.loc["up", "customers"]),
                 down=fmt_int(d.loc["down", "customers"]),
                 net=fmt_int(d.loc["up", "customers"] - d.loc["down", "customers"])) if moved else
               t("migration.finding_no_moves", lang))
    new = d.loc["new"]
    react = d.loc["reactivated"]
    out.append(t("migration.finding_new", lang, new=fmt_int(new["customers"]),
                 new_revenue=fmt_money(new["revenue_after"], lang, cur),
                 react=fmt_int(react["customers"]),
                 react_revenue=fmt_money(react["revenue_after"], lang, cur)))
    return out


def _previous_html(result: Migration, lang: str, cur: str) -> str:
    from tiering.present.htmlkit import fmt_date, fmt_int, fmt_money, fmt_pct, table

    prev = result.previous
    if prev is None:
        return ""
    esc = html.escape
    out = [f"<h3>{esc(t('migration.h_previous', lang, date=fmt_date(prev.as_of, lang)))}</h3>"]
    out.append(f"<p>{esc(t('migration.previous_lead', lang, date=fmt_date(prev.as_of, lang)))}</p>")
    has_frozen = not prev.frozen_thresholds.empty
    items = [t("migration.refit_explained", lang)]
    if has_frozen:  # the frozen boundaries in words
        ft = prev.frozen_thresholds
        if prev.method == "abc":
            metric = str(ft["metric"].iloc[0])
            name = t(f"metrics.{metric}", lang) if has(f"metrics.{metric}") else metric
            name = locale.get(lang).in_sentence(name)  # "A: net spend at least ..."
            bounds = [t("migration.frozen_abc_rule", lang, tier=r.tier, metric=name,
                        amount=fmt_money(r.lower, lang, cur))
                      for r in ft.itertuples() if np.isfinite(r.lower)]
        else:
            bounds = [t("migration.frozen_rfm_rule", lang, tier=r.tier, score=f"{r.lower:.2f}")
                      for r in ft.itertuples() if r.tier_rank < len(ft)]
        items.append(t("migration.frozen_explained", lang,
                       rules=locale.get(lang).join_clauses(bounds)))
    out.append('<ul class="findings">' + "".join(f"<li>{esc(x)}</li>" for x in items) + "</ul>")
    # how many customers in each tier then, and today under both readings
    c = prev.customers
    rows = []
    for tier in dict.fromkeys([*prev.labels, *result.labels]):
        was = fmt_int((c["previous_tier"] == tier).sum()) if tier in prev.labels else "–"
        frozen = (fmt_int((c["frozen_state"] == tier).sum()) if has_frozen and tier in prev.labels
                  else "–")
        refit = fmt_int((c["refit_state"] == tier).sum()) if tier in result.labels else "–"
        rows.append((tier, was, frozen, refit))
    rows.append((state_name(LAPSED, lang), "–",
                 fmt_int((c["frozen_state"] == LAPSED).sum()) if has_frozen else "–",
                 fmt_int((c["refit_state"] == LAPSED).sum())))
    out.append(table([t("migration.col_state", lang),
                      t("migration.col_then", lang, date=fmt_date(prev.as_of, lang)),
                      t("migration.col_frozen", lang), t("migration.col_refit", lang)], rows,
                     numeric=(1, 2, 3)))
    n_new = int((c["previous_tier"] == NEW).sum())
    if n_new:
        out.append(f"<p>{esc(t('migration.previous_new', lang, n=fmt_int(n_new), date=fmt_date(prev.as_of, lang)))}</p>")
    # the chosen reading: the matrix earlier tier -> today
    mode = prev.mode
    tr = prev.transitions[prev.transitions["thresholds"] == mode]
    to_states = [*(prev.labels if mode == "frozen" else result.labels), LAPSED]
    from_states = [s for s in [*prev.labels, NEW] if tr.loc[tr["from_state"] == s, "customers"].sum() > 0]
    heads = [t("migration.col_then_now", lang)] + [state_name(s, lang) for s in to_states]
    rows = []
    for s in from_states:
        sub = tr[tr["from_state"] == s].set_index("to_state")
        rows.append([state_name(s, lang)] + [
            f"{fmt_int(sub.loc[x, 'customers'])} ({fmt_pct(sub.loc[x, 'row_share'], digits=0)})"
            for x in to_states])
    out.append(table(heads, rows, numeric=tuple(range(1, len(heads))),
                     caption=t(f"migration.previous_caption_{mode}", lang)))
    top = prev.labels[0]
    stay = tr[(tr["from_state"] == top) & (tr["to_state"] == (top if mode == "frozen" else result.labels[0]))]
    was_top = tr.loc[tr["from_state"] == top, "customers"].sum()
    if was_top:
        out.append(f"<p>{esc(t('migration.previous_top', lang, top=top, n=fmt_int(was_top), stayed=fmt_int(stay['customers'].sum()), share=fmt_pct(stay['customers'].sum() / was_top)))}</p>")
    for code, fields in prev.warnings:
        if code in ("previous_method", "frozen_unavailable"):
            fields = {k: _method_name(v, lang) for k, v in fields.items()}
        out.append(f'<div class="warning">{esc(t("migration.warn_" + code, lang, **fields))}</div>')
    return "".join(out)
