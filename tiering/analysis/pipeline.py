"""One analysis, end to end in memory: load → features → tiers → compare → strategies.

``run(params)`` is pure computation (no files written) and deterministic for the same
input and parameters. The report builder saves its result; the notebook either loads
that saved result or, run on its own (JupyterLab), calls ``run`` itself.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tiering.analysis import campaigns as _campaigns
from tiering.analysis import holdout as _holdout
from tiering.analysis import methods, stats, strategy
from tiering.analysis import migration as _migration
from tiering.analysis import value as _value
from tiering.analysis.methods import compare
from tiering.analysis.playbook import load_playbook
from tiering.data import campaigns as _campaign_data
from tiering.data import customers as _customers
from tiering.data import engines
from tiering.data import features as _features
from tiering.data import io as _io
from tiering.errors import DataError, TieringError
from tiering.params import Params
from tiering.progress import timed

SUMMARY_COLUMNS = (
    "tier",
    "tier_rank",
    "customers",
    "customer_share",
    "revenue",
    "revenue_share",
    "cum_revenue_share",
    "monetary_mean",
    "monetary_median",
    "frequency_median",
    "recency_median",
    "aov_median",
    "tenure_median",
    "returns_value",
)


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows. Tables are tidy DataFrames:

    - ``tiers``: the customer features plus the method's scores, ``tier`` and
      ``tier_rank`` (written as tiers.csv).
    - ``tier_summary``: one row per tier, columns ``SUMMARY_COLUMNS``.
    - ``quality``: rejected rows by reason (``reason, category, description, rows``).
    - ``monthly``: net revenue per month and tier (``month, tier, revenue, customers``).
    - ``comparison``: a :class:`tiering.analysis.stats.Comparison`.
    - ``playbook``: the normalised playbook (:func:`tiering.analysis.playbook.load_playbook`);
      the report's strategy per tier (``strategies.csv``) is made from it in the report
      language (``strategies_of`` in ``present/strategy_text.py``).
    - ``method_comparison``: a :class:`tiering.analysis.methods.MethodComparison` when
      ``tiering.compare_with`` names methods, else None.
    - ``stability``: the bootstrap table of :func:`tiering.analysis.methods.compare.stability`
      (None when ``n_boot`` is 0 or the method's cut-offs are fixed).
    - ``holdout``: the holdout check (:class:`tiering.analysis.holdout.HoldoutCheck`), None when
      it was not run (no transactions in memory or ``stats.holdout_months`` is 0).
    - ``migration``: :class:`tiering.analysis.migration.Migration`, None when not run.
    - ``recommendations``: :class:`tiering.analysis.strategy.Recommendations` (triggers,
      per-customer actions, the budget).
    - ``value``: the forward-looking value (:class:`tiering.analysis.value.ValueAnalysis`:
      P(alive), CLV, the value x potential grid, the holdout check against a naive
      baseline, or the reason it could not run), None when ``value.enabled`` is off.
    - ``campaigns``: campaign response, conversion and uplift per tier
      (:class:`tiering.analysis.campaigns.CampaignAnalysis`), None without
      ``data.campaigns``. Its ``params['tier_basis']`` says which tiers the customers
      were counted in: ``holdout_cutoff`` (the holdout check's tiers, chosen on the data
      before ``params['tier_date']``, when every contact is dated on or after it) or
      ``current`` (today's tiers).
    """

    params: Params
    source: dict
    as_of: dt.date
    window_start: dt.date | None
    period_start: dt.date
    quality: pd.DataFrame
    tiers: pd.DataFrame
    thresholds: pd.DataFrame
    tiering_params: dict
    tier_summary: pd.DataFrame
    monthly: pd.DataFrame
    comparison: stats.Comparison
    playbook: dict
    warnings: tuple[tuple[str, dict], ...] = ()
    timings: dict = field(default_factory=dict)
    method_comparison: compare.MethodComparison | None = None
    stability: pd.DataFrame | None = None
    holdout: _holdout.HoldoutCheck | None = None
    migration: _migration.Migration | None = None
    recommendations: strategy.Recommendations | None = None
    value: _value.ValueAnalysis | None = None
    campaigns: _campaigns.CampaignAnalysis | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.tiers["tier"].cat.categories)


def tier_summary(tiers: pd.DataFrame) -> pd.DataFrame:
    """Per tier: size, revenue, shares and median profile (columns ``SUMMARY_COLUMNS``)."""
    g = tiers.groupby("tier", observed=False, sort=True)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["monetary"].sum(),
            "monetary_mean": g["monetary"].mean(),
            "monetary_median": g["monetary"].median(),
            "frequency_median": g["frequency"].median(),
            "recency_median": g["recency_days"].median(),
            "aov_median": g["aov"].median(),
            "tenure_median": g["tenure_days"].median(),
            "returns_value": g["returns_value"].sum(),
        }
    )
    out.index = out.index.astype(str)
    out = out.rename_axis("tier").reset_index()
    out["tier_rank"] = range(1, len(out) + 1)
    total_c = out["customers"].sum()
    total_r = out["revenue"].sum()
    out["customer_share"] = out["customers"] / total_c if total_c else 0.0
    out["revenue_share"] = out["revenue"] / total_r if total_r else 0.0
    out["cum_revenue_share"] = out["revenue_share"].cumsum()
    return out[list(SUMMARY_COLUMNS)]


def _monthly(transactions: pd.DataFrame, tiers: pd.DataFrame) -> pd.DataFrame:
    tier_of = tiers.set_index("customer_id")["tier"]
    tx = transactions[["customer_id", "order_date", "amount"]].copy()
    tx["tier"] = tx["customer_id"].map(tier_of).astype(tiers["tier"].dtype)
    tx["month"] = tx["order_date"].dt.to_period("M").dt.to_timestamp()
    out = (
        tx.groupby(["month", "tier"], observed=False, sort=True)
        .agg(revenue=("amount", "sum"), customers=("customer_id", "nunique"))
        .reset_index()
    )
    out["revenue"] = out["revenue"].round(6)
    return out


def _checks(tiers: pd.DataFrame, summary: pd.DataFrame, min_size: int) -> list[tuple[str, dict]]:
    """Warnings worth showing: empty or small tiers, tiers out of value order."""
    out: list[tuple[str, dict]] = []
    for row in summary.itertuples():
        if row.customers == 0:
            out.append(("empty_tier", {"tier": row.tier}))
        elif row.customers < min_size:
            out.append(("small_tier", {"tier": row.tier, "n": int(row.customers), "min": min_size}))
    med = summary.loc[summary["customers"] > 0, ["tier", "monetary_median"]]
    for a, b in zip(med.itertuples(), list(med.itertuples())[1:]):
        if a.monetary_median < b.monetary_median:
            out.append(("tier_order", {"upper": a.tier, "lower": b.tier}))
    return out


# Above this many customers, the pairwise stage of the statistics (post-hoc tests and
# pairwise effect sizes) runs on a seeded subsample per tier; the report says so.
POSTHOC_MAX_N = 100_000
# The streaming engines keep the transactions on disk; the analyses that need them
# (holdout check, migration) read them back into memory: all of them up to this
# many rows, else those of a seeded random sample of customers with about this many
# rows (the report says so).
MAX_TRANSACTIONS_IN_MEMORY = 2_000_000


@dataclass(frozen=True)
class EngineLoad:
    """What ``run`` returns in place of :class:`tiering.data.io.LoadResult` when a streaming
    engine computed the features: the same facts, with the rejected rows already
    written to ``rejected_path`` (``rejected`` is None) and ``transactions`` None when
    they were too many to read back."""

    transactions: pd.DataFrame | None
    rejected: None
    quality: pd.DataFrame
    source: dict
    as_of: dt.date
    window_start: dt.date | None
    attributes: tuple[str, ...]
    rejected_path: Path | None
    result: engines.FeatureResult | None = field(default=None, repr=False)

    @property
    def rows_read(self) -> int:
        return self.source["rows_read"]


def _no_transactions(params: Params, rows_read: int, quality: pd.DataFrame) -> TieringError:
    reasons = ", ".join(f"{r.reason} ({r.rows:,})" for r in quality.itertuples())
    return DataError(
        f"No usable transactions: all {rows_read:,} rows were rejected",
        where=str(params.data.path),
        hint=f"reasons: {reasons or 'none'}; check data.columns, as_of and window "
        "(rejected_rows.csv lists every row with its reason)",
    )


def _check_net_revenue(feats: pd.DataFrame, loaded, params: Params) -> None:
    """Refuse data whose customers' net spend sums to zero or less (returns outweigh
    purchases): revenue shares, the concentration curve and the strategies' budget need
    a positive total, so the report cannot be made. Checked after the method (whose own
    message is more precise when no customer at all has a positive spend)."""
    net = float(feats["monetary"].sum()) if len(feats) else 0.0
    if net > 0:
        return
    src = loaded.source
    returns = float(src.get("return_value") or 0.0)
    window = loaded.window_start or params.window.start
    columns = src.get("columns") or {}
    money = (
        f"column {columns['amount']!r}"
        if columns.get("amount")
        else f"columns {columns.get('quantity')!r} x {columns.get('unit_price')!r}"
        if columns.get("quantity")
        else "the amounts"
    )
    raise DataError(
        f"Net revenue is {net:,.2f}: the returns and cancellations "
        + (f"({returns:,.2f}) " if returns else "")
        + f"outweigh the purchases of all {len(feats):,} customers, so there is no revenue "
        "to tier (shares of revenue, the concentration curve and the budget need a "
        "positive total)",
        where=f"{Path(str(params.data.path)).name}, {money}, "
        f"{src.get('rows_used', 0):,} rows used"
        + (f" from {window}" if window else "")
        + f" to {loaded.as_of}",
        hint="check the sign of the amounts (are purchases exported as negative numbers?), "
        "data.cancellations (order_id_prefixes, negative_amounts) and the window: "
        "returns of purchases made before window.start or window.months count against "
        "the period; rejected_rows.csv lists the rows not used",
    )


def _load_features(params: Params, timings: dict, rejected_path: Path | None):
    """(features, loaded, first transaction date) on the engine ``params.engine`` picks."""
    window = params.window
    engine = engines.choose_engine(params.data, params.engine)
    if engine == "pandas":
        with timed(timings, "load"):
            loaded = _io.load(
                params.data,
                as_of=params.as_of,
                window_start=window.start,
                window_months=window.months,
            )
        if loaded.transactions.empty:
            raise _no_transactions(params, loaded.rows_read, loaded.quality)
        loaded.source.setdefault("engine", "pandas")
        with timed(timings, "features"):
            feats = _features.customer_features(
                loaded.transactions, as_of=loaded.as_of, attributes=loaded.attributes
            )
        return feats, loaded, loaded.transactions["order_date"].min()
    wanted = bool(params.stats.holdout_months or params.migration.period != "none")
    chosen: dict = {}

    def sample_of(customer_ids, used: int):
        """The customers whose transactions are read back: every one up to
        MAX_TRANSACTIONS_IN_MEMORY used rows, else a seeded sample (None: every one)."""
        sample = None
        if used > MAX_TRANSACTIONS_IN_MEMORY:
            ids = pd.Series(customer_ids).astype(str).sort_values().to_numpy()
            size = max(1, round(len(ids) * MAX_TRANSACTIONS_IN_MEMORY / used))
            rng = np.random.default_rng([params.seed, 0x5A4D])  # same customers every run
            sample = ids[np.sort(rng.choice(len(ids), size=size, replace=False))]
        chosen["sample"] = sample
        return sample

    with timed(timings, "features"):
        # the engine draws the transactions in its pass over the file
        res = engines.compute_features(
            params.data,
            as_of=params.as_of,
            window_start=window.start,
            window_months=window.months,
            spec=params.engine,
            rejected_path=rejected_path,
            transactions=sample_of if wanted else None,
            months=True,  # for the monthly revenue by tier (``run``)
            value_inputs=params.value.enabled,  # for the value model (``value_of``)
        )
    if res.features.empty:
        raise _no_transactions(params, res.rows_read, res.quality)
    transactions = None
    sample = None
    if wanted:
        used = int(res.source["rows_used"])
        transactions = res.transactions
        if transactions is not None:
            sample = chosen.get("sample")
        else:  # a cached result (or an engine that does not draw them): read them back
            sample = sample_of(res.features["customer_id"], used)
            with timed(timings, "transactions"):
                transactions = engines.clean_transactions(
                    res, params.data, spec=params.engine, customers=sample
                )
        if sample is not None:
            res.source["transactions_sample"] = {
                "customers": int(transactions["customer_id"].nunique()),
                "of_customers": len(res.features),
                "rows": len(transactions),
                "of_rows": used,
                "seed": params.seed,
            }
    loaded = EngineLoad(
        transactions=transactions,
        rejected=None,
        quality=res.quality,
        source=res.source,
        as_of=res.as_of,
        window_start=res.window_start,
        attributes=tuple(res.attributes),
        rejected_path=res.rejected_path,
        result=res,
    )
    return res.features, loaded, res.first_date


def run(
    params: Params,
    *,
    rejected_path: str | Path | None = None,
    executor=None,
    waiting: Callable[[], object] | None = None,
    ahead: Callable[[Analysis], object] | None = None,
) -> tuple[Analysis, _io.LoadResult | EngineLoad]:
    """Run the whole analysis. Returns the analysis and the load result (the clean
    transactions and the rejected rows; an :class:`EngineLoad` when a streaming engine
    ran, which writes the rejected rows to ``rejected_path`` itself).

    ``executor`` (a :class:`concurrent.futures.Executor`, e.g. the report's second
    process, ``tiering.build.worker``) fits the value model while the statistics, the
    migration, the holdout check and the campaigns run here; the result is the same.
    An executor that fails the job with ``BrokenExecutor`` (its process lost) leaves
    the fit to this process. ``waiting`` is called once, when this process is about to
    wait for that job (the report starts its notebook's kernel then: this process
    leaves a core idle while it waits). ``ahead`` is called just after ``waiting``, with
    the analysis as it stands before the value model (``value``, ``recommendations`` and
    ``playbook`` None, ``timings`` empty; every other field final): the report renders
    the sections that need no more while this thread waits; what it returns, when
    callable, is called once the wait is over. Neither is called when nothing is waited
    for."""
    timings: dict = {}
    extras: dict = {}  # the optional results, by their field name in Analysis
    feats, loaded, first = _load_features(
        params, timings, Path(rejected_path) if rejected_path else None
    )
    # the customer master's columns (data.customers), joined by customer id
    feats, loaded = _customers.attach_master(feats, loaded, params.data.customers)
    transactions = loaded.transactions
    with timed(timings, "tiering"):
        result = methods.fit(feats, params.tiering, seed=params.seed)
        _check_net_revenue(feats, loaded, params)
        scores = result.assignments.drop(columns=["customer_id"])
        tiers = pd.concat([feats, scores], axis=1)
        lead = ["customer_id"] + (["customer_name"] if "customer_name" in tiers else [])
        order = (
            lead
            + ["tier", "tier_rank"]
            + [c for c in tiers.columns if c not in lead + ["tier", "tier_rank"]]
        )
        tiers = tiers[order]
        value_job = None
        if params.value.enabled and executor is not None:
            # submitted now: it needs only the tiers and the transactions
            value_job = executor.submit(_value.analyse_value, **value_inputs(tiers, loaded, params))
        summary = tier_summary(tiers)
        if isinstance(loaded, EngineLoad):
            monthly = engines.monthly_by_tier(loaded.result, tiers, params.data, spec=params.engine)
        else:
            monthly = _monthly(transactions, tiers)
    with timed(timings, "method_comparison"):
        comparison_of_methods = compare.compare_methods(
            feats, params.tiering, seed=params.seed, result=result
        )
        if comparison_of_methods is not None:
            extras["method_comparison"] = comparison_of_methods
        if params.tiering.stability.n_boot > 0:  # None: the method's cut-offs are fixed
            extras["stability"] = compare.stability(
                feats, params.tiering, seed=params.seed, result=result
            )
    with timed(timings, "statistics"):
        categorical = (
            [a for a in loaded.attributes if 1 < tiers[a].nunique() <= 50] if len(tiers) else []
        )
        # the customer master's numbers and categories, compared like the others
        master_numeric, master_categorical = master_measures(tiers, attributes=loaded.attributes)
        comparison = stats.compare_tiers(
            tiers,
            metrics=list(dict.fromkeys([*params.stats.metrics, *master_numeric])),
            categorical=list(dict.fromkeys([*categorical, *master_categorical])),
            test=params.stats.test,
            alpha=params.stats.alpha,
            min_group_size=params.stats.min_group_size,
            n_boot=params.stats.n_boot,
            seed=params.seed,
            max_posthoc_n=POSTHOC_MAX_N,
        )
    as_of = loaded.as_of
    if transactions is not None:
        # the migration's snapshot at the holdout's cut-off (when it is one of its dates)
        # is the holdout's history: computed once, by the migration
        months = params.stats.holdout_months
        cutoff = _holdout.holdout_cutoff(as_of, months) if months else None
        shared = {cutoff: None}
        with timed(timings, "migration"):
            sampled = loaded.source.get("transactions_sample")
            migration = _migration.analyse_migration(
                transactions,
                params=params,
                spec=params.migration,
                as_of=as_of,
                attributes=loaded.attributes,
                sample_customers=set(transactions["customer_id"].unique()) if sampled else None,
                features_at=shared,
            )
        if migration is not None:
            extras["migration"] = migration
        with timed(timings, "holdout"):
            holdout = _holdout.holdout_check(
                transactions, params=params, as_of=as_of, features=shared[cutoff]
            )
        if holdout is not None:
            extras["holdout"] = holdout
    if params.data.campaigns is not None:
        with timed(timings, "campaigns"):
            extras["campaigns"], loaded = campaigns_of(
                tiers,
                loaded,
                params,
                holdout=extras.get("holdout"),
                window_start=loaded.window_start or pd.Timestamp(first).date(),
            )
    warnings = [*result.warnings, *_checks(tiers, summary, params.tiering.min_tier_size)]
    untiered = untiered_customers(loaded, tiers["customer_id"].astype(str))
    if untiered is not None:
        loaded.source["untiered_customers"] = untiered

    def analysis_of(**late) -> Analysis:
        return Analysis(
            params=params,
            source=loaded.source,
            as_of=as_of,
            window_start=loaded.window_start,
            period_start=loaded.window_start or pd.Timestamp(first).date(),
            quality=loaded.quality,
            tiers=tiers,
            thresholds=result.thresholds,
            tiering_params={"method": result.method, **result.params},
            tier_summary=summary,
            monthly=monthly,
            comparison=comparison,
            warnings=tuple(warnings),
            **extras,
            **late,
        )

    if params.value.enabled:
        with timed(timings, "value"):
            waited = None  # what ``ahead`` returned: called when the wait is over
            if value_job is not None:
                if waiting is not None:
                    waiting()
                if ahead is not None:
                    waited = ahead(analysis_of(playbook=None))
            extras["value"] = _job_result(value_job, value_of, tiers, loaded, params)
            if callable(waited):
                waited()
    with timed(timings, "strategy"):
        playbook = load_playbook(params.strategy.playbook)
        extras["recommendations"] = strategy.recommend(
            tiers,
            summary,
            spec=params.strategy,
            currency=params.currency,
            playbook=playbook,
            value=extras.get("value"),
            campaigns=extras.get("campaigns"),
        )
    return analysis_of(playbook=playbook, timings=timings), loaded


#: The customer master's numbers compared across the tiers when the master gives them
#: (Kruskal-Wallis or Welch, with the metrics) ...
MASTER_METRICS = (
    "credit_score",
    "overdue_days",
    "satisfaction",
    "nps",
    "referrals",
    "tenure_months",
)
#: ... and its categories (chi-square and Cramér's V, with the attributes); a name the
#: transactions already use carries ``_master`` (``customer_type_master``).
MASTER_CATEGORIES = ("credit_rating", "industry", "customer_type", "list_status")


def master_measures(tiers: pd.DataFrame, *, attributes=()) -> tuple[list[str], list[str]]:
    """The customer master's columns in ``tiers`` worth comparing across the tiers:
    (numbers with at least two distinct values, categories with 2-50 values); both
    empty without a master (no ``in_master`` column). ``attributes``: the transactions'
    attribute columns, which are not the master's (the master's column of the same name
    is ``<name>_master``)."""
    if "in_master" not in tiers.columns or not len(tiers):
        return [], []
    numeric = [c for c in MASTER_METRICS if c in tiers.columns and tiers[c].nunique() > 1]
    names = [n for c in MASTER_CATEGORIES for n in (c, f"{c}_master")]
    categorical = [
        c
        for c in names
        if c in tiers.columns and c not in set(attributes) and 1 < tiers[c].nunique() <= 50
    ]
    return numeric, categorical


def campaigns_of(
    tiers: pd.DataFrame,
    loaded,
    params: Params,
    *,
    holdout: _holdout.HoldoutCheck | None,
    window_start: dt.date | None,
):
    """Read ``data.campaigns`` within the analysis window and measure the response per
    tier. The tier a customer is counted in should be the one held before the campaign:
    when the holdout check ran and every contact is dated on or after its cut-off, the
    check's tiers (chosen on the data before the cut-off) are used (``tier_basis``
    ``holdout_cutoff``); otherwise today's tiers (``current``), which may partly reflect
    what the campaign itself sold. Returns ``(CampaignAnalysis, loaded)`` with the
    campaign file in ``loaded.source['campaigns']`` and its rejected rows added."""
    read, loaded = _campaign_data.attach_campaigns(
        loaded, params.data.campaigns, window_start=window_start, as_of=loaded.as_of
    )
    contacts = read.contacts
    basis, table, tier_date = "current", tiers[["customer_id", "tier"]], loaded.as_of
    if holdout is not None and holdout.available and len(contacts):
        cutoff = pd.Timestamp(holdout.params["cutoff"])
        dates = contacts["date"]
        if dates.notna().all() and (dates >= cutoff).all():
            basis, tier_date = "holdout_cutoff", cutoff.date()
            table = holdout.customers[["customer_id", "tier"]]
    result = _campaigns.campaign_results(
        contacts,
        table.assign(tier=table["tier"].astype(str)),
        labels=list(tiers["tier"].cat.categories.astype(str)),
        n_boot=params.stats.n_boot,
        seed=params.seed,
        alpha=params.stats.alpha,
    )
    import dataclasses

    extra = {"tier_basis": basis, "tier_date": tier_date, "has_group": read.has_group}
    return dataclasses.replace(result, params={**result.params, **extra}), loaded


def value_of(tiers: pd.DataFrame, loaded, params: Params) -> _value.ValueAnalysis:
    """The forward-looking value model of one analysis: from the clean transactions
    when all of them are in memory, else from a streaming engine's per-customer
    aggregates (:func:`model_aggregates`; ``reason`` ``missing_inputs`` naming what
    they lack, as on Spark). The two give the same summary, so the same fit; the
    holdout check needs transactions, and runs on the customer sample's when the
    transactions read back are a sample."""
    return _value.analyse_value(**value_inputs(tiers, loaded, params))


def value_inputs(tiers: pd.DataFrame, loaded, params: Params) -> dict:
    """The arguments of :func:`tiering.analysis.value.analyse_value` for one analysis
    (:func:`value_of`): only the columns of ``tiers`` it reads, so that handing them to
    another process costs little."""
    transactions = loaded.transactions
    sample = None
    if loaded.source.get("transactions_sample"):  # a sample would value only its customers
        transactions, sample = None, loaded.transactions
    aggregates = None
    if transactions is None and isinstance(loaded, EngineLoad) and loaded.result is not None:
        aggregates = model_aggregates(loaded.result)
    return {
        "tiers": tiers[["customer_id", "tier", "monetary"]],
        "transactions": transactions,
        "aggregates": aggregates,
        "as_of": loaded.as_of,
        "spec": params.value,
        "holdout_months": params.stats.holdout_months,
        "holdout_transactions": sample,
        "n_boot": params.stats.n_boot,
        "seed": params.seed,
    }


def _job_result(job, fn, /, *args):
    """The result of an executor's ``job`` (``fn(*args)`` submitted), or ``fn(*args)``
    run here when there is no job or the executor broke (``BrokenExecutor``: its process
    was lost); an exception of ``fn`` itself is raised as it is."""
    if job is not None:
        try:
            return job.result()
        except BrokenExecutor:
            pass
    return fn(*args)


def model_aggregates(result) -> pd.DataFrame:
    """A streaming engine's per-customer aggregates for the value model
    (``tiering.analysis.value.summary_from_aggregates``): ``customer_id``,
    ``first_purchase`` and ``last_purchase`` of the features joined to the engine's
    ``value_inputs`` (``purchase_days``, ``repeat_spend``; a customer without an entry,
    with only returns, has no purchase day). The features alone when the engine made no
    inputs (Spark): they lack ``purchase_days`` and ``repeat_spend``."""
    features = result.features
    inputs = getattr(result, "value_inputs", None)
    if inputs is None:
        return features
    out = features[["customer_id", "first_purchase", "last_purchase"]].merge(
        inputs[["customer_id", "purchase_days", "repeat_spend"]],
        on="customer_id",
        how="left",
        validate="one_to_one",
    )
    out["purchase_days"] = out["purchase_days"].fillna(0).astype("int64")
    out["repeat_spend"] = out["repeat_spend"].fillna(0.0).astype("float64")
    return out


#: Reasons that leave a row without a customer: such rows name no customer to miss.
_NO_CUSTOMER = frozenset({"missing_customer_id", "bad_customer_id", "rounded_customer_id"})
#: The rejected-rows file of a streaming engine is read back for the count up to this size.
_MAX_REJECTED_READ = 512 * 2**20


def untiered_customers(loaded, tiered_ids: pd.Series) -> dict | None:
    """The customers the file names that are not tiered because none of their rows could
    be used (every row zero, outside the period, or rejected for another reason):
    ``{"customers": n, "ids_in_file": n + tiered, "reason": commonest reason, "reason_customers": m}``
    (``reason``: the reason of most of these customers' rows). None when the rejected
    rows are not at hand (a streaming engine's file over 512 MB) or name no column."""
    column = (loaded.source.get("columns") or {}).get("customer_id")
    if not column:
        return None
    src = f"src_{column}"
    rejected = loaded.rejected
    if rejected is None:
        path = getattr(loaded, "rejected_path", None)
        if (
            path is None
            or not Path(path).is_file()
            or Path(path).stat().st_size > _MAX_REJECTED_READ
        ):
            return None
        try:
            rejected = pd.read_csv(
                path,
                usecols=["reason", src],
                dtype=str,
                keep_default_na=False,
                encoding="utf-8-sig",
            )
        except (ValueError, OSError):  # an older layout: no count rather than a wrong one
            return None
    if src not in rejected.columns or rejected.empty:
        return {"customers": 0, "ids_in_file": int(len(tiered_ids))}
    rows = rejected.loc[~rejected["reason"].isin(_NO_CUSTOMER), ["reason", src]]
    ids = _io.normalise_ids(rows[src].astype(str))
    missing = rows.assign(customer_id=ids.to_numpy())
    missing = missing[(missing["customer_id"] != "") & ~_among(missing["customer_id"], tiered_ids)]
    n = int(missing["customer_id"].nunique())
    out = {"customers": n, "ids_in_file": int(len(tiered_ids)) + n}
    if n:
        # each customer's commonest reason, then the commonest of those
        per = missing.groupby(["customer_id", "reason"]).size().reset_index(name="rows")
        per = per.sort_values(["customer_id", "rows", "reason"], ascending=[True, False, True])
        first = per.drop_duplicates("customer_id")["reason"].value_counts()
        top = sorted(first.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        out.update(reason=str(top[0]), reason_customers=int(top[1]))
    return out


def _among(values: pd.Series, known: pd.Series) -> np.ndarray:
    """Which of ``values`` (text) are among ``known`` (text): Arrow's hash set, not a
    Python set of ``known`` (at 1M tiered customers that set took 0.6-5 s)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def arrow(s: pd.Series) -> pa.Array:
        got = pa.array(s, type=pa.large_string(), from_pandas=True)
        return got.combine_chunks() if isinstance(got, pa.ChunkedArray) else got

    found = pc.is_in(arrow(values), value_set=arrow(known))
    return found.to_numpy(zero_copy_only=False).astype(bool)


def save(analysis: Analysis, path: str | Path, *, report_only: bool = False) -> None:
    """Save an analysis for the report notebook (a file this package wrote itself).

    ``report_only``: leave out the per-customer tables no section of the report reads,
    which are most of a large analysis's file (at 1M customers 160 of its 305 MB, and
    each MB written and read back costs CPU): the migration's ``snapshots`` are saved
    empty (their columns kept) and the recommendations' ``customers`` keep only their
    ``tier``, ``segment`` and ``segment_key`` columns (the report's segment table), all
    rows, or are saved empty without segments. Everything else is saved as it is.
    """
    if report_only:
        analysis = _report_copy(analysis)
    with open(path, "wb") as fh:
        pickle.dump(analysis, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _report_copy(analysis: Analysis) -> Analysis:
    """``analysis`` without what the report does not read (see :func:`save`); the
    analysis given is not changed."""
    from dataclasses import replace

    changes: dict = {}
    if analysis.migration is not None:
        changes["migration"] = replace(
            analysis.migration, snapshots=analysis.migration.snapshots.iloc[:0]
        )
    recs = analysis.recommendations
    if recs is not None:
        customers = recs.customers
        if "segment" in customers.columns:
            kept = ("tier", "segment", "segment_key")
            customers = customers[[c for c in kept if c in customers.columns]]
        else:
            customers = customers.iloc[:0]
        changes["recommendations"] = replace(recs, customers=customers)
    return replace(analysis, **changes) if changes else analysis


def load_or_run(params: Params, analysis_path: str | Path | None = None) -> Analysis:
    """The saved analysis when ``analysis_path`` is given, else a fresh run."""
    if analysis_path:
        with open(analysis_path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - written by save() in the same run
    return run(params)[0]
