"""Forward-looking holdout validation: do tiers chosen on the past predict the future?

Tiers built from spend differ in spend by construction, so comparing them on the same
data proves little. What tiering promises is that the top tier will *go on* being
worth more. :func:`holdout_validation` tests that promise on the data itself:

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
   Bootstrap means use :func:`tiering.analysis.stats.bootstrap_means` (``scipy.stats.bootstrap``,
   m-out-of-n rescaled above ``tiering.analysis.stats.BOOTSTRAP_MAX_N`` customers per tier).
3. The same figures for a seeded *random* tiering: the tier labels of step 1 shuffled
   over the same customers, so every tier keeps its size. Its lifts scatter around 1;
   the distance between the two is what the tiering adds.
4. A Kruskal-Wallis test (with epsilon squared, as in :mod:`tiering.analysis.stats`) of
   next-period revenue per customer across the tiers, for both groupings.

Customers who first bought after the cut-off had no tier then; they are left out of
the shares (their number and revenue are in ``params``). The data must cover at least
twice the holdout (as much history as holdout); otherwise the result says why it could
not run. ``stats.holdout_months: 0`` (or null) switches the check off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.data import features as _features
from tiering import locale
from tiering.analysis import methods as _methods
from tiering.errors import DataError, TieringError, require
from tiering.present.i18n import t
from tiering.analysis.stats import (
    EPSILON_SQ_THRESHOLDS,
    _epsilon_squared,
    _magnitude,
    bootstrap_means,
    percentile_interval,
)

__all__ = [
    "CUSTOMER_COLUMNS",
    "TEST_COLUMNS",
    "TIER_COLUMNS",
    "Validation",
    "holdout_validation",
    "lift_chart",
    "section_validation",
]

GROUPINGS = ("tiering", "random")
TIER_COLUMNS = (
    "grouping", "tier", "tier_rank", "customers", "customer_share", "buyers", "retention",
    "retention_ci_low", "retention_ci_high", "churn", "churn_ci_low", "churn_ci_high",
    "revenue", "revenue_per_customer", "revenue_per_customer_ci_low",
    "revenue_per_customer_ci_high", "revenue_share", "revenue_share_ci_low",
    "revenue_share_ci_high", "lift", "lift_ci_low", "lift_ci_high",
)
TEST_COLUMNS = (
    "grouping", "metric", "test", "n", "k", "statistic", "df", "p_value",
    "effect_size_name", "effect_size", "magnitude", "significant", "meaningful",
)
CUSTOMER_COLUMNS = ("customer_id", "tier", "random_tier", "next_revenue", "next_orders",
                    "retained")
_STANDARD = ("row", "customer_id", "order_id", "order_date", "amount", "is_return",
             "customer_name")
_RNG_RANDOM, _RNG_BOOT = 11, 12


@dataclass(frozen=True)
class Validation:
    """The result of :func:`holdout_validation`.

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
        ``revenue_total``; ``reason`` (empty when the check ran; else
        ``too_short``, ``no_history`` or ``tiering_failed`` with ``detail``).
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
        return str(self.params.get("reason", ""))


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _unavailable(reason: str, base: dict, **extra) -> Validation:
    return Validation(tiers=_empty(TIER_COLUMNS), tests=_empty(TEST_COLUMNS),
                      customers=_empty(CUSTOMER_COLUMNS),
                      params={**base, "reason": reason, **extra})


def _months_between(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Whole calendar months from ``start`` to ``end`` (as counted by DateOffset)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if start + pd.DateOffset(months=months) > end:
        months -= 1
    return max(months, 0)


def holdout_validation(transactions: pd.DataFrame, *, params, as_of,
                       months: int | None = None, seed: int | None = None,
                       n_boot: int | None = None) -> Validation | None:
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

    Returns
    -------
    Validation or None
        None when the check is switched off (``months`` 0 or None). A ``Validation``
        whose ``params["reason"]`` is set (and tables empty) when it cannot run: the
        data covers less than twice the holdout, no customer bought before the
        cut-off, or the method cannot tier the earlier data. See :class:`Validation`.
    """
    months = params.stats.holdout_months if months is None else months
    if not months:
        return None
    require(isinstance(months, (int, np.integer)) and 0 < months <= 120,
            f"The holdout must be a whole number of months from 1 to 120, got {months!r}",
            where="stats.holdout_months", hint="e.g. 3; 0 switches the check off")
    seed = int(params.seed if seed is None else seed)
    n_boot = int(params.stats.n_boot if n_boot is None else n_boot)
    require(n_boot >= 100, f"n_boot must be at least 100, got {n_boot}",
            where="holdout_validation(n_boot)")
    require(isinstance(transactions, pd.DataFrame), "holdout_validation needs a DataFrame",
            where="holdout_validation(transactions)", error=DataError)
    missing = [c for c in ("customer_id", "order_id", "order_date", "amount", "is_return")
               if c not in transactions.columns]
    require(not missing, f"The transactions lack {', '.join(missing)}",
            where="holdout_validation(transactions)", error=DataError,
            hint="pass LoadResult.transactions from tiering.data.io.load")

    as_of_ts = pd.Timestamp(as_of).normalize()
    cutoff = as_of_ts - pd.DateOffset(months=int(months))
    dates = transactions["order_date"]
    first = dates.min() if len(dates) else pd.NaT
    base = {
        "months": int(months), "as_of": as_of_ts.date(), "cutoff": cutoff.date(),
        "history_start": None if pd.isna(first) else pd.Timestamp(first).date(),
        "history_end": (cutoff - pd.Timedelta(days=1)).date(),
        "period_end": (as_of_ts - pd.Timedelta(days=1)).date(),
        "method": params.tiering.method, "labels": list(params.tiering.labels),
        "seed": seed, "n_boot": n_boot, "alpha": float(params.stats.alpha),
        "min_group_size": int(params.stats.min_group_size),
    }
    need_from = as_of_ts - pd.DateOffset(months=2 * int(months))
    if pd.isna(first) or pd.Timestamp(first).normalize() > need_from:
        have = 0 if pd.isna(first) else _months_between(pd.Timestamp(first).normalize(), as_of_ts)
        return _unavailable("too_short", base, need_months=2 * int(months), have_months=have)

    before = transactions[dates < cutoff]
    after = transactions[(dates >= cutoff) & (dates < as_of_ts)]
    if before.empty:
        return _unavailable("no_history", base)
    attributes = [c for c in transactions.columns if c not in _STANDARD]
    feats = _features.customer_features(before, as_of=cutoff.date(), attributes=attributes)
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
    known = set(ids)
    new_mask = ~after["customer_id"].astype(str).isin(known)

    random_codes = np.random.default_rng([seed, _RNG_RANDOM]).permutation(codes)
    cat = pd.CategoricalDtype(labels, ordered=True)
    customers = pd.DataFrame({
        "customer_id": ids,
        "tier": pd.Categorical.from_codes(codes, dtype=cat),
        "random_tier": pd.Categorical.from_codes(random_codes, dtype=cat),
        "next_revenue": next_revenue.round(6),
        "next_orders": next_orders,
        "retained": retained,
    })

    rows, tests = [], []
    for gi, (grouping, group_codes) in enumerate((("tiering", codes), ("random", random_codes))):
        rows += _tier_rows(grouping, group_codes, labels, next_revenue, retained,
                           n_boot=n_boot, seed=seed, key=gi)
        tests.append(_kruskal_row(grouping, group_codes, len(labels), next_revenue,
                                  min_group_size=base["min_group_size"], alpha=base["alpha"]))

    revenue_total = float(after["amount"].sum())
    params_out = {
        **base, "reason": "",
        "customers_tiered": len(ids),
        "revenue_tiered": float(next_revenue.sum()),
        "new_customers": int(after.loc[new_mask, "customer_id"].nunique()),
        "new_customer_revenue": float(after.loc[new_mask, "amount"].sum()),
        "revenue_total": revenue_total,
        "tiering_params": dict(result.params),
    }
    return Validation(tiers=_tier_frame(rows, labels), tests=_test_frame(tests),
                      customers=customers, params=params_out)


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


def _tier_rows(grouping: str, codes: np.ndarray, labels: list[str], revenue: np.ndarray,
               retained: np.ndarray, *, n_boot: int, seed: int, key: int) -> list[dict]:
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
            means, _ = bootstrap_means(values, n_boot=n_boot,
                                       rng=np.random.default_rng([seed, _RNG_BOOT, key, i]))
        else:
            means = np.full(n_boot, float(values.mean()) if n else 0.0)
        sums[i] = means * n
        rpc_low, rpc_high = percentile_interval(means) if n else (np.nan, np.nan)
        retention = buyers / n if n else np.nan
        rows.append({
            "grouping": grouping, "tier": label, "tier_rank": i + 1, "customers": n,
            "customer_share": n / n_all if n_all else np.nan, "buyers": buyers,
            "retention": retention, "retention_ci_low": ret_low, "retention_ci_high": ret_high,
            "churn": 1 - retention if n else np.nan,
            "churn_ci_low": 1 - ret_high if n else np.nan,
            "churn_ci_high": 1 - ret_low if n else np.nan,
            "revenue": float(values.sum()),
            "revenue_per_customer": float(values.mean()) if n else np.nan,
            "revenue_per_customer_ci_low": rpc_low, "revenue_per_customer_ci_high": rpc_high,
        })
    boot_total = sums.sum(axis=0)
    for i, row in enumerate(rows):
        share_c = row["customer_share"]
        if total > 0 and row["customers"]:
            with np.errstate(divide="ignore", invalid="ignore"):
                shares = np.where(boot_total > 0, sums[i] / boot_total, np.nan)
            low, high = percentile_interval(shares)
            share = row["revenue"] / total
            row.update({"revenue_share": share, "revenue_share_ci_low": low,
                        "revenue_share_ci_high": high, "lift": share / share_c,
                        "lift_ci_low": low / share_c, "lift_ci_high": high / share_c})
        else:
            row.update({c: np.nan for c in ("revenue_share", "revenue_share_ci_low",
                                            "revenue_share_ci_high", "lift", "lift_ci_low",
                                            "lift_ci_high")})
    return rows


def _kruskal_row(grouping: str, codes: np.ndarray, k: int, revenue: np.ndarray, *,
                 min_group_size: int, alpha: float) -> dict:
    from scipy import stats as ss

    groups = [revenue[codes == i] for i in range(k)]
    tested = [g for g in groups if len(g) >= min_group_size]
    row = {"grouping": grouping, "metric": "next_revenue", "test": "kruskal_wallis",
           "n": int(sum(len(g) for g in tested)), "k": len(tested), "statistic": np.nan,
           "df": len(tested) - 1 if tested else 0, "p_value": np.nan,
           "effect_size_name": "epsilon_squared", "effect_size": np.nan, "magnitude": "",
           "significant": False, "meaningful": False}
    if len(tested) < 2 or np.ptp(np.concatenate(tested)) == 0:
        row["test"] = "not_tested"
        return row
    h, p = ss.kruskal(*tested)
    eps = _epsilon_squared(float(h), row["n"])
    magnitude = _magnitude(eps, EPSILON_SQ_THRESHOLDS)
    row.update({"statistic": float(h), "p_value": float(p), "effect_size": eps,
                "magnitude": magnitude, "significant": bool(p < alpha),
                "meaningful": bool(p < alpha and magnitude not in ("", "negligible"))})
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


# --------------------------------------------------------------------------- chart


def lift_chart(validation: Validation, *, language: str, ax=None):
    """Lift per tier with its 95% interval: tiers chosen at the cut-off against the
    random grouping of the same sizes; a line marks the fair share (lift 1).

    Tier colours come from :func:`tiering.style.tier_palette`; the random grouping is
    drawn in grey, hollow. The x-axis is logarithmic (lifts are ratios) unless a lift
    or bound is not positive. Each row is labelled with the tier's shares of revenue
    and customers. Returns the Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from tiering.present import charts
    from tiering.style import MUTED, tier_palette

    require(isinstance(validation, Validation) and validation.available,
            "lift_chart needs a Validation that ran", where="lift_chart(validation)",
            hint="check validation.available / validation.reason first")
    locale.get(language)
    charts.setup_fonts()
    frame = validation.tiers
    tiered = frame[frame["grouping"] == "tiering"].reset_index(drop=True)
    random = frame[frame["grouping"] == "random"].reset_index(drop=True)
    labels = [str(x) for x in tiered["tier"]]
    palette = tier_palette(labels)
    shown = [i for i in range(len(tiered)) if np.isfinite(tiered.loc[i, "lift"])]
    months = validation.params["months"]
    if ax is None:
        _, ax = plt.subplots(figsize=(charts.FIG_WIDTH, 1.3 + 0.55 * max(len(shown), 2)),
                               layout="constrained", facecolor="white")
    charts._style(ax, grid="x")
    values = np.concatenate([tiered.loc[shown, ["lift", "lift_ci_low", "lift_ci_high"]].to_numpy(float).ravel(),
                             random.loc[shown, ["lift", "lift_ci_low", "lift_ci_high"]].to_numpy(float).ravel()])
    values = values[np.isfinite(values)]
    log = bool(values.size) and bool(values.min() > 0)
    for y, i in enumerate(shown):
        colour = palette[labels[i]]
        for grouping, table, dy, face in (("tiering", tiered, -0.13, colour),
                                          ("random", random, 0.17, "white")):
            est = float(table.loc[i, "lift"])
            lo = float(table.loc[i, "lift_ci_low"])
            hi = float(table.loc[i, "lift_ci_high"])
            lo = est if not np.isfinite(lo) else lo
            hi = est if not np.isfinite(hi) else hi
            edge = colour if grouping == "tiering" else MUTED
            ax.errorbar(est, y + dy, xerr=[[max(est - lo, 0)], [max(hi - est, 0)]], fmt="o",
                        color=edge, ecolor=edge, elinewidth=2.0 if grouping == "tiering" else 1.2,
                        capsize=3, markersize=6.5 if grouping == "tiering" else 5,
                        markerfacecolor=face, markeredgecolor=edge, zorder=3)
        est = float(tiered.loc[i, "lift"])
        hi = float(tiered.loc[i, "lift_ci_high"]) if np.isfinite(tiered.loc[i, "lift_ci_high"]) else est
        ax.annotate(t("validation.chart_shares", language,
                      revenue=charts._fmt_share(float(tiered.loc[i, "revenue_share"])),
                      customers=charts._fmt_share(float(tiered.loc[i, "customer_share"]))),
                    (max(hi, est), y - 0.13), xytext=(7, 0), textcoords="offset points",
                    va="center", ha="left", fontsize=charts._NOTE_SIZE, color=charts._TEXT_COLOR,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                          "edgecolor": "none", "alpha": 0.9}, zorder=4)
    ax.axvline(1.0, color=charts._AXIS_COLOR, linewidth=1.0, linestyle="--", zorder=1)
    if log:
        ax.set_xscale("log")
        low, high = min(values.min(), 1.0), max(values.max(), 1.0)
        span = math.log10(high / low) or 1.0
        ax.set_xlim(low / 10 ** (0.06 * span), high * 10 ** (0.45 * span))
        ticks = [v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
                 if ax.get_xlim()[0] <= v <= ax.get_xlim()[1]]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        xlabel = t("validation.chart_xlabel", language)
    else:
        low = min(values.min(), 0.0) if values.size else 0.0
        high = max(values.max(), 1.0) if values.size else 1.0
        ax.set_xlim(low - 0.05 * (high - low), high + 0.45 * (high - low))
        xlabel = t("validation.chart_xlabel_linear", language)
    ax.set_yticks(np.arange(len(shown)), [labels[i] for i in shown])
    ax.set_ylim(len(shown) - 0.5, -0.6)
    ax.tick_params(axis="y", length=0, labelsize=charts._LABEL_SIZE)
    ax.set_xlabel(xlabel, fontsize=charts._LABEL_SIZE, color=charts._TEXT_COLOR)
    ax.set_title(t("validation.chart_title", language, months=months), loc="left",
                 fontsize=charts._TITLE_SIZE, fontweight="bold", color=charts._TEXT_COLOR, pad=8)
    handles = [
        Line2D([], [], marker="o", color=charts._TEXT_COLOR, markerfacecolor=charts._TEXT_COLOR,
               linestyle="-", linewidth=2.0, markersize=6,
               label=t("validation.chart_tiered", language)),
        Line2D([], [], marker="o", color=MUTED, markerfacecolor="white", linestyle="-",
               linewidth=1.2, markersize=5, label=t("validation.chart_random", language)),
        Line2D([], [], color=charts._AXIS_COLOR, linestyle="--", linewidth=1.0,
               label=t("validation.chart_fair_share", language)),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.22 if len(shown) > 2 else -0.3),
              ncol=3, frameon=False, fontsize=charts._NOTE_SIZE)
    return ax


# --------------------------------------------------------------------------- report section


def _extract(analysis) -> Validation | None:
    return getattr(analysis, "holdout", None)


def _dates(p: dict, lang: str) -> dict:
    from tiering.present.htmlkit import fmt_date

    return {"history_end": fmt_date(p["history_end"], lang),
            "start": fmt_date(p["cutoff"], lang), "end": fmt_date(p["period_end"], lang),
            "months": p["months"]}


def _top_finding(top, rtop, lang: str, dates: dict) -> str:
    from tiering.present.htmlkit import fmt_pct

    return t("validation.finding_top", lang, tier=top["tier"], **dates,
             revenue_share=fmt_pct(top["revenue_share"], lang, 0),
             customer_share=fmt_pct(top["customer_share"], lang, 0),
             lift=_lift(top["lift"]), low=_lift(top["lift_ci_low"]),
             high=_lift(top["lift_ci_high"]), random_lift=_lift(rtop["lift"]),
             random_low=_lift(rtop["lift_ci_low"]), random_high=_lift(rtop["lift_ci_high"]))


def headline(analysis) -> str | None:
    """The check's main finding (the top tier's share of next-period revenue against a
    random grouping) for the executive summary; None when the check did not run."""
    v = _extract(analysis)
    if v is None or not v.available:
        return None
    tiers = v.tiers
    tiered = tiers[(tiers["grouping"] == "tiering") & (tiers["customers"] > 0)]
    if tiered.empty or not np.isfinite(tiered["lift"]).any():
        return None
    top = tiered.iloc[0]
    random = tiers[(tiers["grouping"] == "random") & (tiers["tier"] == top["tier"])]
    if random.empty:
        return None
    return _top_finding(top, random.iloc[0], analysis.params.language, _dates(v.params, analysis.params.language))


def section_validation(analysis, validation: Validation | None = None) -> str:
    """The report section (HTML) on the forward-looking check, in the report language.

    Uses ``validation`` or else ``analysis.holdout``. Returns "" when the
    check is switched off (None), a short explanation when it could not run, else the
    findings, the chart and the table.
    """
    from tiering.present import charts
    from tiering.present.htmlkit import (
        badge,
        esc,
        fmt_date,
        fmt_int,
        fmt_money,
        fmt_p,
        fmt_pct,
        heading,
        table,
    )
    from tiering.style import tier_css_classes

    v = validation if validation is not None else _extract(analysis)
    if v is None:
        return ""
    require(isinstance(v, Validation), "section_validation needs a Validation",
            where="analysis.holdout", hint="store holdout_validation(...) there")
    lang = analysis.params.language
    cur = analysis.params.currency
    p = v.params
    months = p["months"]
    parts = [heading("validation.sec_title", lang, anchor="validation")]
    if not v.available:
        fields = {"months": months, "need": p.get("need_months", 2 * months),
                  "have": p.get("have_months", 0), "detail": p.get("detail", ""),
                  "cutoff": fmt_date(p["cutoff"], lang),
                  "start": fmt_date(p["history_start"], lang) if p.get("history_start") else "–",
                  "end": fmt_date(p["period_end"], lang)}
        parts.append(f'<div class="note">{esc(t("validation.unavailable_" + v.reason, lang, **fields))}</div>')
        return "".join(parts)

    dates = _dates(p, lang)
    parts.append(f'<p class="lead">{esc(t("validation.lead", lang, **dates))}</p>')
    tiers = v.tiers
    tiered = tiers[tiers["grouping"] == "tiering"].reset_index(drop=True)
    random = tiers[tiers["grouping"] == "random"].reset_index(drop=True)
    tests = v.tests.set_index("grouping")
    findings = []
    have_revenue = bool(np.isfinite(tiered["lift"]).any())
    nonempty = tiered[tiered["customers"] > 0]
    top, bottom = nonempty.iloc[0], nonempty.iloc[-1]
    rtop = random[random["tier"] == top["tier"]].iloc[0]
    if have_revenue:
        findings.append(_top_finding(top, rtop, lang, dates))
        if bottom["tier"] != top["tier"]:
            findings.append(t("validation.finding_bottom", lang, tier=bottom["tier"],
                              revenue_share=fmt_pct(bottom["revenue_share"], lang, 0),
                              customer_share=fmt_pct(bottom["customer_share"], lang, 0),
                              lift=_lift(bottom["lift"]), low=_lift(bottom["lift_ci_low"]),
                              high=_lift(bottom["lift_ci_high"])))
    else:
        findings.append(t("validation.no_revenue", lang, months=months))
    rnon = random[random["customers"] > 0]
    findings.append(t("validation.finding_retention", lang, top=top["tier"], bottom=bottom["tier"],
                      months=months, top_retention=fmt_pct(top["retention"], lang, 0),
                      top_churn=fmt_pct(top["churn"], lang, 0),
                      bottom_retention=fmt_pct(bottom["retention"], lang, 0),
                      random_min=fmt_pct(rnon["retention"].min(), lang, 0),
                      random_max=fmt_pct(rnon["retention"].max(), lang, 0)))
    findings.append(_test_sentence(tests, lang, fmt_p))
    predictive = bool(have_revenue and tests.loc["tiering", "meaningful"]
                      and top["lift_ci_low"] > 1 and top["lift_ci_low"] > rtop["lift_ci_high"])
    verdict = t("validation.verdict_predictive" if predictive else "validation.verdict_not_predictive",
                lang)
    if p.get("new_customers"):
        total = p.get("revenue_total") or 0.0
        findings.append(t("validation.new_customers", lang, n=fmt_int(p["new_customers"]),
                          share=fmt_pct(p["new_customer_revenue"] / total, lang, 0) if total > 0 else "–",
                          revenue=fmt_money(p["new_customer_revenue"], lang, cur, compact=True)))
    parts.append(f'<ul class="findings"><li><strong>{esc(verdict)}</strong></li>'
                 + "".join(f"<li>{esc(s)}</li>" for s in findings) + "</ul>")
    if have_revenue:
        caption = t("validation.chart_caption", lang, months=months)
        parts.append(charts.figure_html(lift_chart(v, language=lang).get_figure(), alt=caption,
                                        caption=caption))
    classes = tier_css_classes([str(x) for x in tiered["tier"]])
    rows = []
    for r, rr in zip(tiered.itertuples(), random.itertuples()):
        rows.append((
            badge(str(r.tier), classes), esc(fmt_int(r.customers)),
            esc(fmt_pct(r.customer_share, lang)),
            _with_ci(fmt_pct(r.retention, lang, 0), fmt_pct(r.retention_ci_low, lang, 0),
                     fmt_pct(r.retention_ci_high, lang, 0)),
            esc(fmt_pct(r.churn, lang, 0)),
            _with_ci(fmt_money(r.revenue_per_customer, lang, cur),
                     fmt_money(r.revenue_per_customer_ci_low, lang, cur),
                     fmt_money(r.revenue_per_customer_ci_high, lang, cur)),
            esc(fmt_pct(r.revenue_share, lang)),
            _with_ci(_lift(r.lift), _lift(r.lift_ci_low), _lift(r.lift_ci_high)),
            _with_ci(_lift(rr.lift), _lift(rr.lift_ci_low), _lift(rr.lift_ci_high)),
        ))
    heads = [t(f"validation.col_{c}", lang) for c in (
        "tier", "customers", "customer_share", "retention", "churn", "revenue_per_customer",
        "revenue_share", "lift", "random_lift")]
    parts.append(table(heads, rows, numeric=tuple(range(1, 9)), raw=tuple(range(9)),
                       caption=t("validation.table_caption", lang, **dates)))
    parts.append(f'<div class="note">{esc(t("validation.method_note", lang, n_boot=p["n_boot"], seed=p["seed"]))}</div>')
    return "".join(parts)


def _lift(value) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _with_ci(estimate: str, low: str, high: str) -> str:
    """An escaped table cell: the estimate, and its interval on a second line."""
    from tiering.present.htmlkit import esc

    if estimate == "–" or low == "–" or high == "–":
        return esc(estimate)
    return f"{esc(estimate)}<br>({esc(low)}–{esc(high)})"


def _test_sentence(tests: pd.DataFrame, lang: str, fmt_p) -> str:
    from tiering.analysis.stats import effect_label

    row, rnd = tests.loc["tiering"], tests.loc["random"]
    effect = effect_label("epsilon_squared", lang)

    def mag(r) -> str:
        return t(f"stats.magnitude_{r['magnitude']}", lang) if r["magnitude"] else "–"

    fields = {"effect": effect, "value": _eps(row["effect_size"]), "magnitude": mag(row),
              "p": _p_text(row["p_value"], fmt_p), "random_value": _eps(rnd["effect_size"]),
              "random_magnitude": mag(rnd)}
    if row["meaningful"]:
        return t("validation.finding_test", lang, **fields)
    reason = ("validation.reason_not_tested" if row["test"] == "not_tested" else
              "validation.reason_negligible" if row["significant"] else
              "validation.reason_not_significant")
    return t("validation.finding_no_test", lang, reason=t(reason, lang), **fields)


def _eps(value) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def _p_text(p, fmt_p) -> str:
    text = fmt_p(p)
    return text if text.startswith("<") or text == "–" else f"= {text}"
