"""The forward-looking value of the tiers: the value model of :mod:`tiering.analysis.clv`
put beside the tiers (issue 20).

:func:`analyse_value` runs the whole step of one report: the summary of the
transactions (or of a streaming engine's per-customer aggregates), the fit, the
holdout check, and by tier:

- :func:`tier_value`: medians of P(alive) and CLV with bootstrap intervals and each
  tier's share of the expected value;
- :func:`value_groups` and :func:`value_grid`: each customer's predicted-value group
  (groups of the tiers' sizes, or ``groups`` equal groups by CLV, best first) and the
  current tier x predicted value grid with customers, past revenue and CLV per cell
  and what the cell calls for (:data:`ACTIONS`);
- the per-customer table behind ``value.csv``, with the two signals the strategy uses:
  ``rescue`` (a high-value customer, in the top tier or the top value group, whose
  P(alive) is below the threshold) and ``develop`` (a customer below the top tier in
  the top value group);
- :func:`value_signals`: those two signals counted per tier, for the strategy
  (``Recommendations.value_signals``; :mod:`tiering.analysis.strategy` re-exports it).

Nothing here raises for the data: when the model cannot run (too short a history,
one-time buyers only, no convergence, PyMC-Marketing not installed, the aggregates of
an engine without the model's inputs: Spark's), :class:`ValueAnalysis` says why in
``reason`` and the rest of the report stands. No text and no HTML: the present layer
(``present/value.py``) words the codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.analysis import clv, effects

__all__ = [
    "ACTIONS",
    "CUSTOMER_COLUMNS",
    "GRID_COLUMNS",
    "MODEL_INPUTS",
    "REASONS",
    "TIER_COLUMNS",
    "VALUE_SIGNAL_COLUMNS",
    "ValueAnalysis",
    "analyse_value",
    "grid_action",
    "summary_from_aggregates",
    "tier_value",
    "value_grid",
    "value_groups",
    "value_signals",
]

TIER_COLUMNS = tuple(
    "tier customers p_alive_median p_alive_ci_low p_alive_ci_high clv_median "
    "clv_ci_low clv_ci_high clv_total clv_share customer_share".split()
)
GRID_COLUMNS = ("tier", "value_tier", "customers", "revenue", "clv_total", "action")
#: Columns of ``ValueAnalysis.customers`` (and of ``value.csv``), one row per tiered customer.
CUSTOMER_COLUMNS = tuple(
    "customer_id tier frequency recency T monetary_value in_spend_model p_alive "
    "expected_purchases expected_spend clv value_tier action rescue develop".split()
)
#: What each cell of the grid calls for, by the current tier (row) against the
#: predicted value group (column): ``keep`` (top and top), ``rescue`` (top tier, lower
#: predicted value), ``develop`` (lower tier, top predicted value), ``grow`` (predicted
#: above the current tier), ``maintain`` (as predicted), ``watch`` (predicted below),
#: ``low_cost`` (bottom and bottom).
ACTIONS = ("keep", "rescue", "develop", "grow", "maintain", "watch", "low_cost")
#: Codes of ``ValueAnalysis.reason`` besides the model's (``clv.REASONS``).
REASONS = ("not_installed", "missing_inputs", *clv.REASONS)
#: Per-customer aggregates a streaming engine must provide for the model (besides
#: ``customer_id``): first and last purchase day, the number of distinct purchase
#: days and the net spend after the first purchase day. The DuckDB engine gives the
#: last two in ``FeatureResult.value_inputs`` (``tiering.analysis.pipeline.model_aggregates``
#: joins them to the features' first and last purchase).
MODEL_INPUTS = ("first_purchase", "last_purchase", "purchase_days", "repeat_spend")


# --------------------------------------------------------------------------- per tier


def _labels(tiers: pd.Series, present) -> list:
    if isinstance(tiers.dtype, pd.CategoricalDtype):
        return list(tiers.cat.categories)
    return sorted(set(present))


def tier_value(
    customers: pd.DataFrame, tiers: pd.Series, *, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per tier: medians of P(alive) and CLV with 95 % bootstrap intervals, the tier's
    total CLV and its share of the expected value of all tiered customers.

    ``customers`` is :attr:`tiering.analysis.clv.ValueModel.customers`; ``tiers`` maps
    ``customer_id`` to the tier (an ordered Categorical keeps the tiers' order; customers
    without a tier are left out). Medians are bootstrapped with
    :func:`tiering.analysis.effects.bootstrap_medians`, seeded per tier. Columns
    :data:`TIER_COLUMNS`.
    """
    tier = customers["customer_id"].astype(str).map(tiers.rename(index=str))
    labels = _labels(tiers, tier.dropna())
    tiered = tier.notna().to_numpy()
    clv_all = customers["clv"].to_numpy(dtype=float)
    total = float(np.nansum(clv_all[tiered]))
    n_all = int(tiered.sum())
    rows = []
    for i, label in enumerate(labels):
        mask = (tier == label).to_numpy()
        row = {"tier": label, "customers": int(mask.sum())}
        for j, name in enumerate(("p_alive", "clv")):
            values = customers[name].to_numpy(dtype=float)[mask]
            values = values[np.isfinite(values)]
            low = high = median = float("nan")
            if values.size:
                rng = np.random.default_rng([seed, i, j])
                draws = effects.bootstrap_medians(values, n_boot=n_boot, rng=rng)
                (low, high), median = effects.percentile_interval(draws), float(np.median(values))
            row.update({f"{name}_median": median, f"{name}_ci_low": low, f"{name}_ci_high": high})
        row["clv_total"] = float(np.nansum(clv_all[mask]))
        row["clv_share"] = row["clv_total"] / total if total > 0 else float("nan")
        row["customer_share"] = row["customers"] / n_all if n_all else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(TIER_COLUMNS))


def value_groups(
    customers: pd.DataFrame, tiers: pd.Series, *, groups: int | None = None
) -> tuple[pd.Series, list[str]]:
    """Each tiered customer's predicted-value group, and the groups best first.

    Customers (with a tier and a CLV) are ranked by CLV, highest first, ties by
    ``customer_id``. With ``groups`` None the groups have the sizes of the current
    tiers and their labels (the first as many as the best tier has go to its label,
    and so on: the diagonal of the grid holds the customers the two views agree on);
    with ``groups`` = k, k groups of equal size (the first ``n % k`` one larger)
    labelled ``"1"`` (the best) to ``"k"``. Returns the group per ``customer_id`` (a
    Series of text) and the labels.
    """
    ids = customers["customer_id"].astype(str)
    tier = ids.map(tiers.rename(index=str))
    keep = (tier.notna() & customers["clv"].notna()).to_numpy()
    kept_ids = ids[keep].to_numpy()
    value = customers["clv"].to_numpy(dtype=float)[keep]
    tier_labels = [str(x) for x in _labels(tiers, tier.dropna())]
    if groups is None:
        labels = tier_labels
        sizes = tier[keep].astype(str).value_counts().reindex(labels, fill_value=0).to_numpy(int)
    else:
        labels = [str(i) for i in range(1, int(groups) + 1)]
        base, extra = divmod(len(kept_ids), int(groups))
        sizes = np.array([base + (i < extra) for i in range(int(groups))], dtype=int)
    order = np.lexsort((kept_ids, -value))
    group = np.empty(len(kept_ids), dtype=object)
    group[order] = np.repeat(np.array(labels, dtype=object), sizes)
    return pd.Series(group, index=pd.Index(kept_ids, name="customer_id"), dtype=object), labels


def grid_action(tier_rank: int, n_tiers: int, group_rank: int, n_groups: int) -> str:
    """What a cell of the grid calls for (a code of :data:`ACTIONS`); ranks start at 0
    (the best). Positions are compared on a common scale (rank / (count - 1))."""
    top_tier, top_group = tier_rank == 0, group_rank == 0
    if top_tier and top_group:
        return "keep"
    if top_tier:
        return "rescue"
    if top_group:
        return "develop"
    if tier_rank == n_tiers - 1 and group_rank == n_groups - 1:
        return "low_cost"
    here = tier_rank / max(n_tiers - 1, 1)
    there = group_rank / max(n_groups - 1, 1)
    if abs(here - there) < 1e-9:
        return "maintain"
    return "grow" if there < here else "watch"


def value_grid(
    customers: pd.DataFrame,
    tiers: pd.Series,
    revenue: pd.Series,
    *,
    groups: int | None = None,
) -> pd.DataFrame:
    """Current tier x predicted value group: customers, past revenue and CLV per cell
    and the cell's action (columns :data:`GRID_COLUMNS`, every cell, rows in tier then
    group order). The groups are those of :func:`value_groups`; ``tiers`` and
    ``revenue`` are indexed by ``customer_id``.
    """
    group, group_labels = value_groups(customers, tiers, groups=groups)
    tier_labels = [str(x) for x in _labels(tiers, tiers.dropna())]
    ids = customers["customer_id"].astype(str)
    frame = pd.DataFrame({"customer_id": group.index.to_numpy(), "value_tier": group.to_numpy()})
    frame["tier"] = frame["customer_id"].map(tiers.rename(index=str)).astype(str).to_numpy()
    clv_of = pd.Series(customers["clv"].to_numpy(dtype=float), index=ids.to_numpy())
    frame["clv"] = frame["customer_id"].map(clv_of).to_numpy(dtype=float)
    frame["revenue"] = frame["customer_id"].map(revenue.rename(index=str)).fillna(0.0)
    cells = (
        frame.groupby(["tier", "value_tier"], sort=False)
        .agg(
            customers=("customer_id", "size"), revenue=("revenue", "sum"), clv_total=("clv", "sum")
        )
        .reindex(pd.MultiIndex.from_product([tier_labels, group_labels], names=GRID_COLUMNS[:2]))
        .fillna({"customers": 0, "revenue": 0.0, "clv_total": 0.0})
        .reset_index()
    )
    cells["customers"] = cells["customers"].astype("int64")
    cells["revenue"] = cells["revenue"].round(6)
    cells["clv_total"] = cells["clv_total"].round(6)
    n_t, n_g = len(tier_labels), len(group_labels)
    cells["action"] = [
        grid_action(tier_labels.index(t), n_t, group_labels.index(g), n_g)
        for t, g in zip(cells["tier"], cells["value_tier"])
    ]
    return cells[list(GRID_COLUMNS)]


# --------------------------------------------------------------------------- streaming inputs


def summary_from_aggregates(aggregates: pd.DataFrame, *, cutoff, period: str = "W") -> pd.DataFrame:
    """The model's summary (:data:`tiering.analysis.clv.SUMMARY_COLUMNS`) from per-customer
    aggregates (:data:`MODEL_INPUTS`, over the purchases before ``cutoff``), as a
    streaming engine computes them in its single pass: frequency is
    ``purchase_days - 1``, recency and T are measured from the first purchase day,
    the repeat spend is averaged over the repeat days. Customers without a purchase
    day are left out. The same numbers as :func:`tiering.analysis.clv.rfm_summary` on
    the transactions."""
    agg = aggregates[aggregates["purchase_days"].fillna(0) > 0]
    agg = agg.sort_values("customer_id", key=lambda s: s.astype(str), kind="stable")
    first = pd.to_datetime(agg["first_purchase"]).dt.normalize()
    last = pd.to_datetime(agg["last_purchase"]).dt.normalize()
    return clv.summary_frame(
        agg["customer_id"].astype(str).to_numpy(),
        first,
        last,
        agg["purchase_days"].to_numpy(dtype=np.int64) - 1,
        agg["repeat_spend"].to_numpy(dtype=float),
        cutoff=cutoff,
        period=period,
    )


# --------------------------------------------------------------------------- the step


@dataclass(frozen=True)
class ValueAnalysis:
    """The forward-looking value of one analysis (``Analysis.value``).

    Attributes
    ----------
    model : ValueModel or None
        The fit on all the data (:class:`tiering.analysis.clv.ValueModel`; None when
        not attempted: ``not_installed``, ``missing_inputs``).
    holdout : ValueHoldout or None
        The check on the holdout split, on every customer's transactions or, when
        the model read a streaming engine's aggregates, on its customer sample
        (``params["holdout_sample"]``); None when the holdout is off or the model
        could not be attempted).
    customers : DataFrame
        :data:`CUSTOMER_COLUMNS`, one row per tiered customer (the tier table's order);
        the model's columns are missing for customers without a purchase before
        ``as_of`` (only returns). ``value_tier`` is the predicted-value group, ``action``
        the grid cell's action, ``rescue`` and ``develop`` the strategy's signals.
        Empty when ``reason`` is set.
    tiers : DataFrame
        :func:`tier_value` (:data:`TIER_COLUMNS`); empty without spend.
    grid : DataFrame
        :func:`value_grid` (:data:`GRID_COLUMNS`); empty without spend.
    params : dict
        ``horizon_months``, ``discount_rate``, ``min_history_months``,
        ``rescue_p_alive``, ``grid_groups``, ``group_labels``, ``budget_weighting``,
        ``source`` (``transactions`` or ``aggregates``), ``holdout_sample`` (the
        holdout check ran on a sample of the customers), ``missing`` (the inputs a
        streaming engine lacked), ``message`` (the library's or the optimiser's text),
        ``rescue`` and ``develop`` (counts).
    reason : str
        "" or a code of :data:`REASONS`.
    """

    model: clv.ValueModel | None
    holdout: clv.ValueHoldout | None
    customers: pd.DataFrame
    tiers: pd.DataFrame
    grid: pd.DataFrame
    params: dict = field(default_factory=dict)
    reason: str = ""

    @property
    def available(self) -> bool:
        """Whether P(alive) and expected purchases are there."""
        return not self.reason

    @property
    def spend_available(self) -> bool:
        """Whether expected spend, CLV, the tier table and the grid are there."""
        return not self.reason and self.model is not None and self.model.spend_available


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def analyse_value(
    tiers: pd.DataFrame,
    *,
    transactions: pd.DataFrame | None = None,
    aggregates: pd.DataFrame | None = None,
    as_of,
    spec,
    holdout_months: int | None = None,
    holdout_transactions: pd.DataFrame | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> ValueAnalysis:
    """Fit the value model on the data before ``as_of`` and set it beside the tiers.

    ``tiers`` is ``Analysis.tiers`` (``customer_id``, ordered categorical ``tier``,
    ``monetary``). The model reads ``transactions`` (clean, as
    :class:`tiering.data.io.LoadResult` has them) when given, else ``aggregates`` (one
    row per customer with :data:`MODEL_INPUTS`); when neither holds the inputs,
    ``reason`` is ``missing_inputs`` and ``params["missing"]`` names what is missing.
    ``spec`` is :class:`tiering.params.ValueSpec`; ``holdout_months`` the holdout's
    length (``stats.holdout_months``; 0 or None: no holdout check). The check needs
    transactions: ``transactions``, else ``holdout_transactions`` (those of a sample
    of the customers, when the model reads the aggregates of all of them, as a
    streaming engine gives them for a large file). Never raises for the data or the
    library: see ``reason``.
    """
    params = {
        "horizon_months": int(spec.horizon_months),
        "discount_rate": float(spec.discount_rate),
        "min_history_months": int(spec.min_history_months),
        "rescue_p_alive": float(spec.rescue_p_alive),
        "grid_groups": spec.grid_groups,
        "group_labels": [],
        "budget_weighting": spec.budget_weighting,
        "source": "transactions" if transactions is not None else "aggregates",
        "holdout_sample": False,
        "missing": [],
        "message": "",
        "rescue": 0,
        "develop": 0,
    }

    def unavailable(reason, model=None, holdout=None):
        return ValueAnalysis(
            model,
            holdout,
            _empty(CUSTOMER_COLUMNS),
            _empty(TIER_COLUMNS),
            _empty(GRID_COLUMNS),
            params,
            reason,
        )

    cutoff = pd.Timestamp(as_of)
    if transactions is not None:
        summary = clv.rfm_summary(transactions, cutoff=cutoff)
    else:
        have = set(aggregates.columns) if aggregates is not None else set()
        missing = [c for c in MODEL_INPUTS if c not in have]
        if missing:
            params["missing"] = missing
            return unavailable("missing_inputs")
        summary = summary_from_aggregates(aggregates, cutoff=cutoff)
    settings = {
        "horizon_months": params["horizon_months"],
        "discount_rate_annual": params["discount_rate"],
        "min_history_months": params["min_history_months"],
        "seed": int(seed),
    }
    try:
        model = clv.fit_value_model(summary, **settings)
    except ImportError as exc:  # PyMC-Marketing (or what it needs) is not installed
        params["message"] = f"{type(exc).__name__}: {exc}"
        return unavailable("not_installed")
    except Exception as exc:  # noqa: BLE001 - a failed fit is a reason, never a lost report
        params["message"] = f"{type(exc).__name__}: {exc}"
        return unavailable("fit_failed")
    params["message"] = model.message
    holdout = None
    checked = transactions if transactions is not None else holdout_transactions
    if holdout_months and checked is not None:
        params["holdout_sample"] = transactions is None
        try:
            holdout = clv.value_holdout_check(
                checked,
                as_of=cutoff,
                months=int(holdout_months),
                min_history_months=params["min_history_months"],
                seed=int(seed),
            )
        except Exception as exc:  # noqa: BLE001 - the check is reported, never fatal
            holdout = clv.ValueHoldout(
                _empty(clv.HOLDOUT_COLUMNS),
                _empty(clv.GROUP_COLUMNS),
                {"months": int(holdout_months), "reason": "fit_failed", "message": str(exc)},
            )
    if not model.available:
        return unavailable(model.reason, model, holdout)

    tier = tiers["tier"]
    tier_of = pd.Series(tier.to_numpy(), index=tiers["customer_id"].astype(str).to_numpy())
    tier_of = tier_of.astype(tier.dtype)
    fitted = model.customers.set_index("customer_id")
    out = pd.DataFrame({"customer_id": tiers["customer_id"].astype(str).to_numpy()})
    out["tier"] = tier.astype(str).to_numpy()
    for col in CUSTOMER_COLUMNS[2:11]:
        out[col] = out["customer_id"].map(fitted[col]).to_numpy()
    out["in_spend_model"] = out["in_spend_model"].astype("boolean")
    out["recency"] = out["recency"].astype(float).round(6)
    out["T"] = out["T"].astype(float).round(6)
    out["frequency"] = out["frequency"].astype("Int64")
    table, grid = _empty(TIER_COLUMNS), _empty(GRID_COLUMNS)
    out["value_tier"] = pd.Series(pd.NA, index=out.index, dtype=object)
    out["action"] = pd.Series(pd.NA, index=out.index, dtype=object)
    labels = [str(x) for x in tier.cat.categories]
    if model.spend_available:
        table = tier_value(model.customers, tier_of, n_boot=n_boot, seed=seed)
        revenue = pd.Series(
            tiers["monetary"].to_numpy(dtype=float), index=tiers["customer_id"].astype(str)
        )
        grid = value_grid(model.customers, tier_of, revenue, groups=spec.grid_groups)
        group, group_labels = value_groups(model.customers, tier_of, groups=spec.grid_groups)
        params["group_labels"] = group_labels
        out["value_tier"] = out["customer_id"].map(group).astype(object)
        action = grid.set_index(["tier", "value_tier"])["action"]
        out["action"] = [
            action.get((t, g), pd.NA) if isinstance(g, str) else pd.NA
            for t, g in zip(out["tier"], out["value_tier"])
        ]
        top_group = out["value_tier"] == group_labels[0]
        top_tier = out["tier"] == labels[0]
        low_alive = out["p_alive"].astype(float) < params["rescue_p_alive"]
        out["rescue"] = ((top_tier | top_group) & low_alive).fillna(False).astype(bool)
        out["develop"] = (~top_tier & top_group).fillna(False).astype(bool)
    else:  # no CLV: rescue the top tier's customers with a low P(alive)
        low_alive = out["p_alive"].astype(float) < params["rescue_p_alive"]
        out["rescue"] = ((out["tier"] == labels[0]) & low_alive).fillna(False).astype(bool)
        out["develop"] = False
    params["rescue"] = int(out["rescue"].sum())
    params["develop"] = int(out["develop"].sum())
    return ValueAnalysis(model, holdout, out[list(CUSTOMER_COLUMNS)], table, grid, params, "")


#: Columns of ``Recommendations.value_signals``: one row per signal of the value model
#: (``rescue``, ``develop``) and tier, also when no customer is caught.
VALUE_SIGNAL_COLUMNS: tuple[str, ...] = (
    "signal",
    "tier",
    "tier_rank",
    "customers",
    "tier_customers",
    "customer_share",
    "revenue",
    "clv",
    "p_alive_median",
)


def value_signals(
    value_customers: pd.DataFrame, tiers: pd.DataFrame, labels: Sequence[str]
) -> pd.DataFrame:
    """Per signal of the value model (``rescue``, ``develop``) and tier: the customers
    caught, their share of the tier, their past net revenue, their expected lifetime
    value (``clv``, NaN without the spend model) and median P(alive).

    ``value_customers`` is ``ValueAnalysis.customers`` (``customer_id``, ``tier``,
    ``rescue``, ``develop``, ``p_alive``, ``clv``); ``tiers`` the tier table (for the
    tier sizes and ``monetary``). Columns :data:`VALUE_SIGNAL_COLUMNS`, every signal
    and tier (zero rows caught included), tiers best first.
    """
    labels = [str(x) for x in labels]
    sizes = tiers["tier"].astype(str).value_counts()
    spend = pd.Series(
        tiers["monetary"].to_numpy(dtype=float), index=tiers["customer_id"].astype(str)
    )
    rows = []
    for signal in ("rescue", "develop"):
        caught = (
            value_customers[value_customers[signal].astype(bool)]
            if len(value_customers)
            else value_customers
        )
        for rank, label in enumerate(labels, start=1):
            part = caught[caught["tier"].astype(str) == label]
            n, size = len(part), int(sizes.get(label, 0))
            clv_sum = pd.Series(part["clv"].to_numpy(dtype=float))
            rows.append(
                {
                    "signal": signal,
                    "tier": label,
                    "tier_rank": rank,
                    "customers": n,
                    "tier_customers": size,
                    "customer_share": n / size if size else math.nan,
                    "revenue": round(
                        float(
                            part["customer_id"].astype(str).map(spend).to_numpy(dtype=float).sum()
                        ),
                        6,
                    ),
                    "clv": round(float(clv_sum.sum()), 6)
                    if clv_sum.notna().any() or not n
                    else math.nan,
                    "p_alive_median": float(np.median(part["p_alive"].to_numpy(dtype=float)))
                    if n
                    else math.nan,
                }
            )
    out = pd.DataFrame(rows, columns=list(VALUE_SIGNAL_COLUMNS))
    for col in ("tier_rank", "customers", "tier_customers"):
        out[col] = out[col].astype("int64")
    return out
