"""The forward-looking holdout check: do tiers chosen on the past predict the future?

Tiers built from spend differ in spend by construction, so comparing them on the same
data proves little. What tiering promises is that the top tier will *go on* being
worth more. :func:`holdout_check` tests that promise on the data itself:

1. The cut-off is ``as_of`` minus ``months`` calendar months. Customer features are
   computed only from transactions before the cut-off
   (:func:`tiering.data.features.customer_features` with ``as_of=cutoff``) and tiered with
   the configured method (:func:`tiering.analysis.methods.fit` with ``params.tiering``).
2. Each tier is followed over the holdout period ``[cutoff, as_of)``: customers,
   share still buying (retention: at least one order in the period; churn is
   ``1 - retention``; Wilson 95% intervals), next-period net revenue per customer
   (bootstrap 95% interval), the tier's share of the next-period revenue of all tiered
   customers against its share of customers, and their ratio, the *lift* (1 = a fair
   share). Intervals of revenue share and lift come from the same stratified
   bootstrap: customers are resampled within each tier (tier sizes fixed), so the
   customer shares are fixed and the interval reflects the uncertainty of revenue.
   Bootstrap means use :func:`tiering.analysis.effects.bootstrap_means`
   (``scipy.stats.bootstrap``, m-out-of-n rescaled above
   ``tiering.analysis.effects.BOOTSTRAP_MAX_N`` customers per tier).
3. The same figures for a seeded *random* tiering: the tier labels of step 1 shuffled
   over the same customers, so every tier keeps its size. Its lifts scatter around 1;
   the distance between the two is what the tiering adds.
4. A Kruskal-Wallis test (with epsilon squared, :mod:`tiering.analysis.effects`) of
   next-period revenue per customer across the tiers, for both groupings.

Customers who first bought after the cut-off had no tier then; they are left out of
the shares (their number and revenue are in ``params``). The data must cover at least
twice the holdout (as much history as holdout); otherwise the result says why it could
not run. ``stats.holdout_months: 0`` (or null) switches the check off.

The result (:class:`HoldoutCheck`) holds numbers and codes only; the report layer
(``present/holdout.py``) draws its lift chart and writes the section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.analysis import effects
from tiering.analysis import methods as _methods
from tiering.data import customers as _customers
from tiering.data import features as _features
from tiering.errors import DataError, TieringError, require

__all__ = [
    "CUSTOMER_COLUMNS",
    "TEST_COLUMNS",
    "TIER_COLUMNS",
    "holdout_cutoff",
    "HoldoutCheck",
    "holdout_check",
]

GROUPINGS = ("tiering", "random")
TIER_COLUMNS = (
    "grouping",
    "tier",
    "tier_rank",
    "customers",
    "customer_share",
    "buyers",
    "retention",
    "retention_ci_low",
    "retention_ci_high",
    "churn",
    "churn_ci_low",
    "churn_ci_high",
    "revenue",
    "revenue_per_customer",
    "revenue_per_customer_ci_low",
    "revenue_per_customer_ci_high",
    "revenue_share",
    "revenue_share_ci_low",
    "revenue_share_ci_high",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
)
TEST_COLUMNS = (
    "grouping",
    "metric",
    "test",
    "n",
    "k",
    "statistic",
    "df",
    "p_value",
    "effect_size_name",
    "effect_size",
    "magnitude",
    "significant",
    "meaningful",
)
CUSTOMER_COLUMNS = ("customer_id", "tier", "random_tier", "next_revenue", "next_orders", "retained")
_STANDARD = ("row", "customer_id", "order_id", "order_date", "amount", "is_return", "customer_name")
_RNG_RANDOM, _RNG_BOOT = 11, 12


@dataclass(frozen=True)
class HoldoutCheck:
    """The result of :func:`holdout_check`.

    Attributes
    ----------
    tiers : DataFrame
        One row per grouping (``tiering``, then ``random``) and tier, best tier first;
        columns ``TIER_COLUMNS``:

        - ``grouping``: ``tiering`` (tiers chosen at the cut-off by the configured
          method) or ``random`` (the same labels shuffled; same tier sizes).
        - ``tier``, ``tier_rank``: the tier label and its rank (1 = best).
        - ``customers``, ``customer_share``: customers of the tier at the cut-off and
          their share of all customers tiered then.
        - ``buyers``, ``retention`` (+ ``_ci_low``, ``_ci_high``): customers with at
          least one order in the holdout period and their share (Wilson interval).
        - ``churn`` (+ interval): ``1 - retention``.
        - ``revenue``: the tier's net revenue in the holdout period;
          ``revenue_per_customer`` (+ bootstrap interval) its mean over the tier's
          customers, buyers or not.
        - ``revenue_share`` (+ interval): the tier's share of the holdout revenue of all
          tiered customers; ``lift`` (+ interval) = ``revenue_share / customer_share``.
    tests : DataFrame
        One row per grouping; columns ``TEST_COLUMNS``: Kruskal-Wallis of next-period
        revenue per customer across the tiers with at least ``min_group_size``
        customers (``n`` customers in ``k`` tiers), ``statistic`` H, ``df``,
        ``p_value``, ``effect_size`` epsilon squared with its ``magnitude``,
        ``significant`` (p < alpha) and ``meaningful`` (also at least small).
    customers : DataFrame
        One row per customer tiered at the cut-off; columns ``CUSTOMER_COLUMNS``:
        ``tier`` and ``random_tier`` (ordered Categoricals), ``next_revenue`` (net),
        ``next_orders`` (distinct orders, returns excluded), ``retained`` (bool).
    params : dict
        ``months``, ``as_of``, ``cutoff`` (first day of the holdout), ``history_start``,
        ``history_end`` (last day before the cut-off), ``period_end`` (last day of the
        holdout), ``method``, ``labels``, ``seed``, ``n_boot``, ``alpha``,
        ``min_group_size``, ``customers_tiered``, ``revenue_tiered``,
        ``new_customers`` and ``new_customer_revenue`` (first bought in the holdout),
        ``revenue_total``, ``tiering_params``; ``reason`` (empty when the check ran;
        else the code ``too_short`` with ``need_months`` and ``have_months``,
        ``no_history``, or ``tiering_failed`` with ``detail``, the method's error
        message as it was raised).
    """

    tiers: pd.DataFrame
    tests: pd.DataFrame
    customers: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def available(self) -> bool:
        """Whether the check ran (else ``reason`` says why not)."""
        return not self.params.get("reason")

    @property
    def reason(self) -> str:
        """Why the check did not run: ``too_short``, ``no_history``, ``tiering_failed``
        (a code the present layer words), or "" when it ran."""
        return str(self.params.get("reason", ""))


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _unavailable(reason: str, base: dict, **extra) -> HoldoutCheck:
    return HoldoutCheck(
        tiers=_empty(TIER_COLUMNS),
        tests=_empty(TEST_COLUMNS),
        customers=_empty(CUSTOMER_COLUMNS),
        params={**base, "reason": reason, **extra},
    )


def _months_between(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Whole calendar months from ``start`` to ``end`` (as counted by DateOffset)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if start + pd.DateOffset(months=months) > end:
        months -= 1
    return max(months, 0)


def holdout_cutoff(as_of, months: int) -> pd.Timestamp:
    """The cut-off of a holdout of ``months`` calendar months before ``as_of``."""
    return pd.Timestamp(as_of).normalize() - pd.DateOffset(months=int(months))


def holdout_check(
    transactions: pd.DataFrame,
    *,
    params,
    as_of,
    months: int | None = None,
    seed: int | None = None,
    n_boot: int | None = None,
    features: pd.DataFrame | None = None,
) -> HoldoutCheck | None:
    """Tier customers on the data before ``as_of - months`` and judge them on what follows.

    Parameters
    ----------
    transactions : DataFrame
        Clean transactions as in :class:`tiering.data.io.LoadResult` (``customer_id``,
        ``order_id``, ``order_date``, ``amount``, ``is_return``, attributes).
    params : tiering.params.Params
        ``params.tiering`` is the method to validate; ``params.stats`` gives
        ``holdout_months``, ``n_boot``, ``alpha`` and ``min_group_size``.
    as_of : date
        The end of the data (exclusive), as in the analysis.
    months : int, optional
        Holdout length in calendar months; default ``params.stats.holdout_months``.
    seed : int, optional
        Seed of the random grouping and the bootstrap; default ``params.seed``.
    n_boot : int, optional
        Bootstrap resamples; default ``params.stats.n_boot``.
    features : DataFrame, optional
        The features of the customers before the cut-off when already computed: the
        tier migration's snapshot at the same date (:func:`holdout_cutoff`), which is
        the table of step 1 (``tiering.data.features.snapshot_features`` gives what
        ``customer_features`` gives, the customer master's columns joined the same way).
        Used when its attribute columns are those of ``transactions``; saves reading
        the history again.

    Returns
    -------
    HoldoutCheck or None
        None when the check is switched off (``months`` 0 or None). A ``HoldoutCheck``
        whose ``params["reason"]`` is set (and tables empty) when it cannot run: the
        data covers less than twice the holdout, no customer bought before the
        cut-off, or the method cannot tier the earlier data. See :class:`HoldoutCheck`.
    """
    months = params.stats.holdout_months if months is None else months
    if not months:
        return None
    require(
        isinstance(months, (int, np.integer)) and 0 < months <= 120,
        f"The holdout must be a whole number of months from 1 to 120, got {months!r}",
        where="stats.holdout_months",
        hint="e.g. 3; 0 switches the check off",
    )
    seed = int(params.seed if seed is None else seed)
    n_boot = int(params.stats.n_boot if n_boot is None else n_boot)
    require(
        n_boot >= 100, f"n_boot must be at least 100, got {n_boot}", where="holdout_check(n_boot)"
    )
    require(
        isinstance(transactions, pd.DataFrame),
        "holdout_check needs a DataFrame",
        where="holdout_check(transactions)",
        error=DataError,
    )
    missing = [
        c
        for c in ("customer_id", "order_id", "order_date", "amount", "is_return")
        if c not in transactions.columns
    ]
    require(
        not missing,
        f"The transactions lack {', '.join(missing)}",
        where="holdout_check(transactions)",
        error=DataError,
        hint="pass LoadResult.transactions from tiering.data.io.load",
    )

    as_of_ts = pd.Timestamp(as_of).normalize()
    cutoff = holdout_cutoff(as_of_ts, months)
    dates = transactions["order_date"]
    first = dates.min() if len(dates) else pd.NaT
    base = {
        "months": int(months),
        "as_of": as_of_ts.date(),
        "cutoff": cutoff.date(),
        "history_start": None if pd.isna(first) else pd.Timestamp(first).date(),
        "history_end": (cutoff - pd.Timedelta(days=1)).date(),
        "period_end": (as_of_ts - pd.Timedelta(days=1)).date(),
        "method": params.tiering.method,
        "labels": list(params.tiering.labels),
        "seed": seed,
        "n_boot": n_boot,
        "alpha": float(params.stats.alpha),
        "min_group_size": int(params.stats.min_group_size),
    }
    need_from = as_of_ts - pd.DateOffset(months=2 * int(months))
    if pd.isna(first) or pd.Timestamp(first).normalize() > need_from:
        have = 0 if pd.isna(first) else _months_between(pd.Timestamp(first).normalize(), as_of_ts)
        return _unavailable("too_short", base, need_months=2 * int(months), have_months=have)

    before = (dates < cutoff).to_numpy()
    # what follows the cut-off: only the columns the check reads (a smaller copy)
    after = transactions.loc[
        ((dates >= cutoff) & (dates < as_of_ts)).to_numpy(),
        ["customer_id", "order_id", "amount", "is_return"],
    ]
    if not before.any():
        return _unavailable("no_history", base)
    attributes = [c for c in transactions.columns if c not in _STANDARD]
    feats = features
    if (
        feats is None
        or [c for c in feats.columns if c in transactions.columns and c not in _STANDARD]
        != attributes
    ):  # not given, or made with other attribute columns
        feats = _features.customer_features(
            transactions[before], as_of=cutoff.date(), attributes=attributes
        )
        feats = _customers.snapshot_master(feats, params.data.customers, as_of=cutoff.date())
    try:
        result = _fit(feats, params.tiering, seed=int(params.seed))
    except TieringError as exc:
        return _unavailable("tiering_failed", base, detail=exc.message)

    tier = result.assignments["tier"]
    labels = [str(c) for c in tier.cat.categories]
    codes = tier.cat.codes.to_numpy(dtype=np.int64)
    ids = feats["customer_id"].astype(str).to_numpy()

    purchases = after[~after["is_return"].astype(bool)]
    revenue_by = after.groupby(after["customer_id"].astype(str))["amount"].sum()
    orders_by = purchases.groupby(purchases["customer_id"].astype(str))["order_id"].nunique()
    next_revenue = pd.Series(ids).map(revenue_by).fillna(0.0).to_numpy(dtype=float)
    next_orders = pd.Series(ids).map(orders_by).fillna(0).to_numpy(dtype=np.int64)
    retained = next_orders > 0
    # customers of the holdout not tiered before it: judged per distinct id, not per row
    # (``isin`` of a set of ids makes one pyarrow scalar per id)
    after_codes, after_ids = pd.factorize(after["customer_id"].astype(str), use_na_sentinel=False)
    new_mask = (pd.Index(ids).get_indexer(after_ids) < 0)[after_codes]

    random_codes = np.random.default_rng([seed, _RNG_RANDOM]).permutation(codes)
    cat = pd.CategoricalDtype(labels, ordered=True)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "tier": pd.Categorical.from_codes(codes, dtype=cat),
            "random_tier": pd.Categorical.from_codes(random_codes, dtype=cat),
            "next_revenue": next_revenue.round(6),
            "next_orders": next_orders,
            "retained": retained,
        }
    )

    rows, tests = [], []
    for gi, (grouping, group_codes) in enumerate((("tiering", codes), ("random", random_codes))):
        rows += _tier_rows(
            grouping, group_codes, labels, next_revenue, retained, n_boot=n_boot, seed=seed, key=gi
        )
        tests.append(
            _kruskal_row(
                grouping,
                group_codes,
                len(labels),
                next_revenue,
                min_group_size=base["min_group_size"],
                alpha=base["alpha"],
            )
        )

    revenue_total = float(after["amount"].sum())
    params_out = {
        **base,
        "reason": "",
        "customers_tiered": len(ids),
        "revenue_tiered": float(next_revenue.sum()),
        "new_customers": int(after.loc[new_mask, "customer_id"].nunique()),
        "new_customer_revenue": float(after.loc[new_mask, "amount"].sum()),
        "revenue_total": revenue_total,
        "tiering_params": dict(result.params),
    }
    return HoldoutCheck(
        tiers=_tier_frame(rows, labels),
        tests=_test_frame(tests),
        customers=customers,
        params=params_out,
    )


def _fit(features: pd.DataFrame, spec, *, seed: int):
    """``methods.fit`` with the parameter file's seed where the method API takes one
    (as the analysis itself tiers), so the holdout tiers come from the same method."""
    import inspect

    if "seed" in inspect.signature(_methods.fit).parameters:
        return _methods.fit(features, spec, seed=seed)
    return _methods.fit(features, spec)


def _wilson(count: int, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return float("nan"), float("nan")
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def _tier_rows(
    grouping: str,
    codes: np.ndarray,
    labels: list[str],
    revenue: np.ndarray,
    retained: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    key: int,
) -> list[dict]:
    k = len(labels)
    n_all = len(codes)
    total = float(revenue.sum())
    sums = np.zeros((k, n_boot))
    rows = []
    for i, label in enumerate(labels):
        mask = codes == i
        n = int(mask.sum())
        values = revenue[mask]
        buyers = int(retained[mask].sum())
        ret_low, ret_high = _wilson(buyers, n)
        if n >= 2 and np.ptp(values) > 0:
            means, _ = effects.bootstrap_means(
                values, n_boot=n_boot, rng=np.random.default_rng([seed, _RNG_BOOT, key, i])
            )
        else:
            means = np.full(n_boot, float(values.mean()) if n else 0.0)
        sums[i] = means * n
        rpc_low, rpc_high = effects.percentile_interval(means) if n else (np.nan, np.nan)
        retention = buyers / n if n else np.nan
        rows.append(
            {
                "grouping": grouping,
                "tier": label,
                "tier_rank": i + 1,
                "customers": n,
                "customer_share": n / n_all if n_all else np.nan,
                "buyers": buyers,
                "retention": retention,
                "retention_ci_low": ret_low,
                "retention_ci_high": ret_high,
                "churn": 1 - retention if n else np.nan,
                "churn_ci_low": 1 - ret_high if n else np.nan,
                "churn_ci_high": 1 - ret_low if n else np.nan,
                "revenue": float(values.sum()),
                "revenue_per_customer": float(values.mean()) if n else np.nan,
                "revenue_per_customer_ci_low": rpc_low,
                "revenue_per_customer_ci_high": rpc_high,
            }
        )
    boot_total = sums.sum(axis=0)
    for i, row in enumerate(rows):
        share_c = row["customer_share"]
        if total > 0 and row["customers"]:
            with np.errstate(divide="ignore", invalid="ignore"):
                shares = np.where(boot_total > 0, sums[i] / boot_total, np.nan)
            low, high = effects.percentile_interval(shares)
            share = row["revenue"] / total
            row.update(
                {
                    "revenue_share": share,
                    "revenue_share_ci_low": low,
                    "revenue_share_ci_high": high,
                    "lift": share / share_c,
                    "lift_ci_low": low / share_c,
                    "lift_ci_high": high / share_c,
                }
            )
        else:
            row.update(
                {
                    c: np.nan
                    for c in (
                        "revenue_share",
                        "revenue_share_ci_low",
                        "revenue_share_ci_high",
                        "lift",
                        "lift_ci_low",
                        "lift_ci_high",
                    )
                }
            )
    return rows


def _kruskal_row(
    grouping: str,
    codes: np.ndarray,
    k: int,
    revenue: np.ndarray,
    *,
    min_group_size: int,
    alpha: float,
) -> dict:
    from scipy import stats as ss

    groups = [revenue[codes == i] for i in range(k)]
    tested = [g for g in groups if len(g) >= min_group_size]
    row = {
        "grouping": grouping,
        "metric": "next_revenue",
        "test": "kruskal_wallis",
        "n": int(sum(len(g) for g in tested)),
        "k": len(tested),
        "statistic": np.nan,
        "df": len(tested) - 1 if tested else 0,
        "p_value": np.nan,
        "effect_size_name": "epsilon_squared",
        "effect_size": np.nan,
        "magnitude": "",
        "significant": False,
        "meaningful": False,
    }
    if len(tested) < 2 or np.ptp(np.concatenate(tested)) == 0:
        row["test"] = "not_tested"
        return row
    h, p = ss.kruskal(*tested)
    eps = effects.epsilon_squared(float(h), row["n"])
    magnitude = effects.magnitude(eps, effects.EPSILON_SQ_THRESHOLDS)
    row.update(
        {
            "statistic": float(h),
            "p_value": float(p),
            "effect_size": eps,
            "magnitude": magnitude,
            "significant": bool(p < alpha),
            "meaningful": bool(p < alpha and magnitude not in ("", "negligible")),
        }
    )
    return row


def _tier_frame(rows: list[dict], labels: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(TIER_COLUMNS))
    frame["tier"] = pd.Categorical(frame["tier"], categories=labels, ordered=True)
    for col in ("tier_rank", "customers", "buyers"):
        frame[col] = frame[col].astype("int64")
    for col in TIER_COLUMNS[4:]:
        if col != "buyers":
            frame[col] = frame[col].astype(float)
    return frame


def _test_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(TEST_COLUMNS))
    for col in ("n", "k", "df"):
        frame[col] = frame[col].astype("int64")
    for col in ("significant", "meaningful"):
        frame[col] = frame[col].astype(bool)
    return frame
