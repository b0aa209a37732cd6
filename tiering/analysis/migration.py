"""Tier migration over time: period snapshots, transitions and movers.

Snapshots
    The customers are tiered as of each period end, counting back from ``as_of`` in
    whole months or quarters (``as_of``, ``as_of - 3 months``, ...), so every period
    has the same length and the latest snapshot is the report's own tiering. A
    snapshot at ``end`` uses only the transactions strictly before ``end``
    (``customer_features(tx[tx.order_date < end], as_of=end)`` and the report's
    tiering method): adding later transactions never changes it. A snapshot is taken
    only when a full period of data precedes it (from the window start, or from the
    first transaction when the window is open). The features of all the snapshots come
    from one pass over the transactions (``tiering.data.features.snapshot_features``:
    aggregates per customer and period, accumulated over the periods), the same tables
    as ``customer_features`` on each snapshot's transactions.

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
period (and in the earlier period, for the before/after comparison). The states and
the grid are defined in :mod:`tiering.analysis.transitions`.

With ``migration.previous_report``, :func:`analyse_migration` also compares today's
tiers with those of an earlier report (:mod:`tiering.analysis.previous`).

Results are numbers only: the report section, its charts and labels are in the present
layer (``present/migration.py``, ``present/migration_charts.py``); the CSV tables and the
movers' workbook sheets are written by the build layer (``build/migration_tables.py``).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import BaseModel

from tiering.analysis.previous import PreviousComparison, compare_previous, read_previous
from tiering.analysis.transitions import DIRECTIONS, LAPSED, NEW, check_labels, transition_table
from tiering.data import customers as _customers
from tiering.data.features import customer_features, snapshot_features
from tiering.errors import DataError, require
from tiering.params import MigrationSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tiering.params import Params

__all__ = [
    "Migration",
    "MigrationSpec",
    "analyse_migration",
    "pooled_matrix",
    "pooled_rates",
    "snapshot_dates",
]

DEFAULT_MAX_SNAPSHOTS = 8
_MONTHS = {"month": 1, "quarter": 3}


# --------------------------------------------------------------------------- parameters


# MigrationSpec, the parameters of this analysis, is defined with the others in
# tiering.params (the base layer) and re-exported here.


# --------------------------------------------------------------------------- results


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
    - ``previous``: a :class:`~tiering.analysis.previous.PreviousComparison` when
      ``previous_report`` was given.
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


def snapshot_dates(
    first: dt.date | pd.Timestamp, as_of: dt.date, *, period: str, periods: int | None = None
) -> list[pd.Timestamp]:
    """Snapshot dates, oldest first: ``as_of - k * period`` for k = 0, 1, ... while a full
    period of data (from ``first``) precedes the snapshot; the most recent ``periods``
    (default at most 8)."""
    require(
        period in _MONTHS,
        f"Unknown migration period {period!r}",
        where="migration.period",
        hint="use quarter, month or none",
    )
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


def _revenue_by_period(tx: pd.DataFrame, edges: list[pd.Timestamp]) -> pd.DataFrame:
    """Net revenue per customer (index) and period bin (column ``i`` = [edges[i], edges[i+1]))."""
    dates = tx["order_date"].to_numpy()
    e = np.array([np.datetime64(x) for x in edges], dtype="datetime64[ns]")
    inside = (dates >= e[0]) & (dates < e[-1])
    bins = np.searchsorted(e, dates[inside], side="right") - 1
    # the sums of a groupby by (customer, bin), keyed by one integer: the same rows in the
    # same order per group, without grouping a million texts twice
    ids, customers = pd.factorize(tx["customer_id"], sort=True)
    ids = ids[inside]
    known = ids >= 0  # a missing customer id is left out, as groupby leaves it out
    width = len(edges) - 1
    key = ids[known] * width + bins[known]
    sums = pd.Series(tx["amount"].to_numpy()[inside][known]).groupby(key).sum()
    table = np.zeros((len(customers), width))
    table.reshape(-1)[sums.index.to_numpy()] = sums.to_numpy()
    present = np.bincount(ids[known], minlength=len(customers)) > 0  # rows in the bins
    index = pd.Index(customers[present], name="customer_id")
    return pd.DataFrame(table[present], index=index, columns=range(width)).round(6)


def _fit(methods, feats: pd.DataFrame, tiering_spec, seed: int):
    """``methods.fit`` with the parameter file's seed where the method API takes one."""
    import inspect

    if "seed" in inspect.signature(methods.fit).parameters:
        return methods.fit(feats, tiering_spec, seed=seed)
    return methods.fit(feats, tiering_spec)


def _snapshot(
    tx: pd.DataFrame,
    end: pd.Timestamp,
    *,
    tiering_spec,
    attributes,
    churn_days: int,
    start: pd.Timestamp,
    seed: int = 0,
    features: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, snapshot rows) of the customers with transactions before ``end``;
    ``features``: theirs when already computed (:func:`snapshot_features`)."""
    from tiering.analysis import methods

    feats = features
    if feats is None:
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


def analyse_migration(
    transactions: pd.DataFrame,
    *,
    params: Params,
    spec: MigrationSpec,
    as_of: dt.date,
    attributes: tuple[str, ...] | list[str] = (),
    sample_customers: set[str] | None = None,
    features_at: dict | None = None,
) -> Migration | None:
    """Tier the customers at each period end and measure how they moved.

    ``transactions`` are the clean transactions of the analysis window
    (``tiering.data.io.LoadResult.transactions``); ``params`` gives the tiering method
    (``params.tiering``) and the window; ``as_of`` is the report's as-of date (the
    latest snapshot). Returns None when ``spec.period`` is ``none``; a result with no
    transitions when the window holds fewer than two full periods. See
    :class:`Migration` for the tables. ``sample_customers``: when the transactions are
    those of a sample of customers, their ids (the previous report is then compared on
    these customers only). ``features_at``: a dict whose keys are dates; the features of
    the customers at each key that is a snapshot date are stored under it (the table
    ``tiering.analysis.holdout.holdout_check`` takes as ``features``), the others keep
    their value.
    """
    if spec.period == "none":
        return None
    timings: dict = {}
    t0 = time.perf_counter()
    for col in ("customer_id", "order_date", "amount", "is_return", "order_id"):
        require(
            col in transactions.columns,
            f"The transactions lack the column {col!r}",
            where="migration",
            hint="pass LoadResult.transactions from tiering.data.io.load",
            error=DataError,
        )
    labels = tuple(str(x) for x in params.tiering.labels)
    check_labels(labels)
    rank = {lab: i + 1 for i, lab in enumerate(labels)}
    # read the earlier report first: a wrong folder fails before any work is done
    earlier = read_previous(spec.previous_report) if spec.previous_report is not None else None
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
    # the features at every snapshot from one pass over the transactions (running sums
    # over the periods), the same tables as customer_features on each snapshot's prefix
    features = snapshot_features(tx, ends, attributes=tuple(attributes)) if ends else []

    snaps, last_feats, used_ends = [], None, []
    for i, (start, end) in enumerate(zip(starts, ends)):
        feats, snap = _snapshot(
            tx,
            end,
            tiering_spec=params.tiering,
            attributes=tuple(attributes),
            churn_days=spec.churn_days,
            start=start,
            seed=params.seed,
            features=_customers.snapshot_master(
                features[i], params.data.customers, as_of=end.date()
            ),
        )
        features[i] = None  # let go of each table once used (last_feats keeps the latest)
        if features_at is not None and end in features_at:
            features_at[end] = feats
        if snap.empty:
            continue
        snap["period_revenue"] = (
            snap["customer_id"].map(revenue[i]).fillna(0.0).to_numpy() if len(revenue) else 0.0
        )
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
        snapshots = pd.DataFrame(
            columns=[
                "snapshot",
                "snapshot_date",
                "period_start",
                "customer_id",
                "tier",
                "tier_rank",
                "state",
                "is_new",
                "first_purchase",
                "last_purchase",
                "recency_days",
                "monetary",
                "period_revenue",
            ]
        )
    dates = tuple(e for _, e in used_ends)
    sizes = _sizes(snapshots, state_dtype)
    transitions, tier_rates, directions, movers = _flows(
        snapshots,
        labels,
        rank,
        from_dtype,
        state_dtype,
        churn_from=pd.Timestamp(first).normalize() + pd.Timedelta(days=spec.churn_days),
    )
    timings["transitions"] = round(time.perf_counter() - t0 - timings["snapshots"], 3)

    previous = None
    if earlier is not None:
        t1 = time.perf_counter()
        current = snapshots[snapshots["snapshot_date"] == pd.Timestamp(as_of)] if dates else None
        if (
            current is None
            or current.empty
            or last_feats is None
            or dates[-1] != pd.Timestamp(as_of)
        ):
            last_feats, current = _snapshot(
                tx,
                pd.Timestamp(as_of),
                tiering_spec=params.tiering,
                attributes=tuple(attributes),
                churn_days=spec.churn_days,
                start=_period_start(pd.Timestamp(as_of), spec.period),
                seed=params.seed,
            )
        previous = compare_previous(
            tx,
            folder=spec.previous_report,
            current=current,
            features=last_feats,
            params=params,
            spec=spec,
            as_of=as_of,
            first=first,
            earlier=earlier,
        )
        timings["previous"] = round(time.perf_counter() - t1, 3)

    return Migration(
        spec=spec,
        tiering=_tiering_used(params),
        labels=labels,
        as_of=as_of,
        snapshot_dates=dates,
        snapshots=snapshots,
        sizes=sizes,
        transitions=transitions,
        tier_rates=tier_rates,
        directions=directions,
        movers=movers,
        previous=previous,
        timings=timings,
    )


def _tiering_used(params) -> dict:
    spec = params.tiering
    out = {"method": spec.method, "labels": list(spec.labels)}
    options = getattr(spec, spec.method, None)
    if isinstance(options, BaseModel):
        out.update(options.model_dump(mode="json"))
    return out


def _sizes(snapshots: pd.DataFrame, state_dtype) -> pd.DataFrame:
    cols = [
        "snapshot",
        "snapshot_date",
        "state",
        "customers",
        "customer_share",
        "revenue",
        "revenue_share",
        "new_customers",
    ]
    if snapshots.empty:
        return pd.DataFrame(columns=cols)
    g = snapshots.groupby(["snapshot", "state"], observed=False, sort=True)
    out = g.agg(
        customers=("customer_id", "size"),
        revenue=("period_revenue", "sum"),
        new_customers=("is_new", "sum"),
    ).reset_index()
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


def _flows(
    snapshots: pd.DataFrame, labels, rank, from_dtype, state_dtype, *, churn_from: pd.Timestamp
):
    n = int(snapshots["snapshot"].max()) + 1 if len(snapshots) else 0
    trans, rates, dirs, movers = [], [], [], pd.DataFrame()
    has_name = "customer_name" in snapshots.columns
    # the snapshots come one after the other (``analyse_migration`` concatenates them in
    # order): each is a slice, not a filtered copy; the states as text by their codes
    bounds = np.searchsorted(snapshots["snapshot"].to_numpy(), np.arange(n + 1))
    # (the states are categorical unless the snapshots' categories differed: then text;
    # code -1, a missing state, reads "nan" as ``astype(str)`` reads it)
    state = snapshots["state"]
    if not isinstance(state.dtype, pd.CategoricalDtype):
        state = state.astype(str).astype("category")
    codes = state.cat.codes.to_numpy()
    names = np.asarray([str(c) for c in state.cat.categories] + ["nan"], dtype=object)
    for k in range(1, n):
        a = snapshots.iloc[bounds[k - 1] : bounds[k]]
        b = snapshots.iloc[bounds[k] : bounds[k + 1]]
        start, end = a["snapshot_date"].iloc[0], b["snapshot_date"].iloc[0]
        ids = pd.Index(b["customer_id"], name="customer_id")
        at = pd.Index(a["customer_id"]).get_indexer(ids)  # -1: not in the earlier snapshot
        frm = np.full(len(ids), NEW, dtype=object)
        frm[at >= 0] = names[codes[bounds[k - 1] : bounds[k]][at[at >= 0]]]
        before = np.where(at >= 0, a["period_revenue"].to_numpy()[at], np.nan)
        pairs = pd.DataFrame(
            {
                "customer_id": ids,
                "from_state": frm,
                "to_state": names[codes[bounds[k] : bounds[k + 1]]],
                "revenue_before": np.where(np.isnan(before), 0.0, before),
                "revenue": b["period_revenue"].to_numpy(),
                "spend_to_date": b["monetary"].to_numpy(),
            }
        )
        tr = transition_table(
            pairs,
            list(from_dtype.categories),
            list(state_dtype.categories),
            lambda f, s: _direction(f, s, rank),
            revenue_cols=("revenue_before", "revenue", "spend_to_date"),
        )
        tr.insert(0, "period_end", end)
        tr.insert(0, "period_start", start)
        tr.insert(0, "period", k)
        trans.append(tr)
        rates.append(_rates(tr, labels, k, start, end, churn_measurable=start >= churn_from))
        d = (
            tr.groupby("direction", sort=False)
            .agg(
                customers=("customers", "sum"),
                revenue_before=("revenue_before", "sum"),
                revenue_after=("revenue", "sum"),
            )
            .reindex(list(DIRECTIONS), fill_value=0)
            .reset_index()
        )
        d["revenue_change"] = (d["revenue_after"] - d["revenue_before"]).round(6)
        d.insert(0, "period_end", end)
        d.insert(0, "period_start", start)
        d.insert(0, "period", k)
        dirs.append(d)
        if k == n - 1:
            movers = _movers(pairs, b.set_index("customer_id"), labels, start, end, has_name)
    tcols = [
        "period",
        "period_start",
        "period_end",
        "from_state",
        "to_state",
        "customers",
        "row_share",
        "revenue_before",
        "revenue",
        "direction",
    ]
    transitions = (
        pd.concat(trans, ignore_index=True)[tcols] if trans else pd.DataFrame(columns=tcols)
    )
    tier_rates = pd.concat(rates, ignore_index=True) if rates else pd.DataFrame(columns=_RATE_COLS)
    dcols = [
        "period",
        "period_start",
        "period_end",
        "direction",
        "customers",
        "revenue_before",
        "revenue_after",
        "revenue_change",
    ]
    directions = pd.concat(dirs, ignore_index=True)[dcols] if dirs else pd.DataFrame(columns=dcols)
    if movers.empty:
        movers = pd.DataFrame(columns=_mover_cols(has_name))
    return transitions, tier_rates, directions, movers


_RATE_COLS = [
    "period",
    "period_start",
    "period_end",
    "tier",
    "tier_rank",
    "customers",
    "stayed",
    "upgraded",
    "downgraded",
    "churned",
    "stay_rate",
    "upgrade_rate",
    "downgrade_rate",
    "churn_rate",
    "churn_measurable",
    "revenue_before",
    "revenue_after",
    "net_revenue_effect",
    "churned_spend_to_date",
]


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

        rows.append(
            {
                "period": k,
                "period_start": start,
                "period_end": end,
                "tier": lab,
                "tier_rank": r,
                "customers": n,
                "stayed": stayed,
                "upgraded": up,
                "downgraded": down,
                "churned": churn,
                "stay_rate": rate(stayed),
                "upgrade_rate": rate(up, r > 1),
                "downgrade_rate": rate(down, r < len(labels)),
                "churn_rate": rate(churn, churn_measurable),
                "churn_measurable": churn_measurable,
                "revenue_before": round(rb, 6),
                "revenue_after": round(ra, 6),
                "net_revenue_effect": round(ra - rb, 6),
                "churned_spend_to_date": round(lost, 6),
            }
        )
    return pd.DataFrame(rows, columns=_RATE_COLS)


def _mover_cols(has_name: bool) -> list[str]:
    return (
        ["movement", "customer_id"]
        + (["customer_name"] if has_name else [])
        + [
            "from_tier",
            "to_tier",
            "revenue_before",
            "revenue_after",
            "revenue_change",
            "spend_to_date",
            "last_purchase",
            "period_start",
            "period_end",
        ]
    )


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
    out = out.rename(
        columns={"from_state": "from_tier", "to_state": "to_tier", "revenue": "revenue_after"}
    )
    out["revenue_change"] = (out["revenue_after"] - out["revenue_before"]).round(6)
    out["last_purchase"] = out["customer_id"].map(b["last_purchase"]).to_numpy()
    if has_name:
        out["customer_name"] = out["customer_id"].map(b["customer_name"]).to_numpy()
    out["period_start"], out["period_end"] = start, end
    # left the top tier: biggest earlier spenders first; rose: biggest spenders now first
    out["_order"] = np.where(out["movement"] == "left_top", 0, 1)
    out["_key"] = np.where(
        out["movement"] == "left_top", -out["revenue_before"], -out["revenue_after"]
    )
    out["_key2"] = -out["spend_to_date"]
    out = out.sort_values(["_order", "_key", "_key2", "customer_id"], kind="mergesort")
    return out[_mover_cols(has_name)].reset_index(drop=True)


# --------------------------------------------------------------------------- summaries


def pooled_matrix(result: Migration, *, period: int | None = None) -> pd.DataFrame:
    """The transition grid of one period, or of all periods pooled (``period=None``):
    ``from_state, to_state, customers, row_share, revenue``."""
    tr = (
        result.transitions
        if period is None
        else result.transitions[result.transitions["period"] == period]
    )
    g = (
        tr.groupby(["from_state", "to_state"], sort=False)
        .agg(customers=("customers", "sum"), revenue=("revenue", "sum"))
        .reset_index()
    )
    tot = g.groupby("from_state", sort=False)["customers"].transform("sum")
    g["row_share"] = g["customers"] / tot.where(tot > 0)
    return g


def pooled_rates(result: Migration) -> pd.DataFrame:
    """Rates per tier over all transitions pooled, indexed by ``tier`` (best first):
    ``customers``, ``churned``, ``upgraded``, ``downgraded`` (summed over the periods),
    ``churn_periods`` (the number of periods where churn is measurable), ``churn_rate``
    (over those periods only), ``upgrade_rate``, ``downgrade_rate``."""
    r = result.tier_rates
    g = r.groupby("tier", sort=False)[["customers", "churned", "upgraded", "downgraded"]].sum()
    m = (
        r[r["churn_measurable"].astype(bool)]
        .groupby("tier", sort=False)[["customers", "churned"]]
        .sum()
    )
    m = m.reindex(g.index, fill_value=0)
    g["churn_periods"] = int(r.loc[r["churn_measurable"].astype(bool), "period"].nunique())
    g["churn_rate"] = m["churned"] / m["customers"].where(m["customers"] > 0)
    n = g["customers"].where(g["customers"] > 0)
    g["upgrade_rate"] = g["upgraded"] / n
    g["downgrade_rate"] = g["downgraded"] / n
    return g
