"""Do the tiers respond differently? Campaign response, conversion and uplift per tier.

Design note (issue 21; what the next phase wires): :func:`campaign_results` takes the
contacts of ``tiering.data.campaigns.read_campaigns`` and the customers' tiers and
returns a :class:`CampaignAnalysis` of tidy tables for the report section "Do the tiers
respond differently?" (rates per campaign, tier and group with Wilson intervals; the
uplift per tier with its intervals; the heterogeneity test; ``campaigns.causal_wording``
False when a campaign has no control group: the section then shows rates only and
words them as associations, never as effects). The budget split can read
``uplift.revenue_uplift`` per tier instead of assumed growth. The present layer
translates every word; this module has none.

Statistics (statsmodels, checked in ``tests/test_campaigns.py`` against published values):

- The unit is the customer in a campaign: several rows of one customer in one campaign
  count once (responded or converted if any row says so, revenue summed).
- Response and conversion rates: Wilson score intervals
  (``statsmodels.stats.proportion.proportion_confint(method="wilson")``; Newcombe 1998,
  Table I: 81/263 -> 0.2553-0.3662).
- Uplift (treatment - control) of a rate: Newcombe's hybrid score interval (method 10
  of Newcombe 1998; ``confint_proportions_2indep(method="newcomb")``), which keeps its
  coverage at small groups and at rates near 0 or 1, where the Wald interval fails.
- Uplift of revenue per contacted customer (zeros included): difference of the arms'
  means with a percentile bootstrap interval, the arms resampled independently
  (``tiering.analysis.effects.bootstrap_means``, seeded per campaign and tier).
- Does the uplift differ between tiers? Cochran's Q test of heterogeneity of the
  per-tier uplifts (inverse-variance weights; chi-square with tiers - 1 degrees of
  freedom; ``statsmodels.stats.meta_analysis``), on the scale the report shows: the
  risk difference for rates (variance p1(1-p1)/n1 + p0(1-p0)/n0; 0.5 is added to the
  four cells of a tier with an empty cell, :func:`rate_uplift_effects`), the difference of means for revenue (variance
  s1²/n1 + s0²/n0). Why not Breslow-Day or a logistic interaction: both test equal
  *odds ratios*, and uplifts in percentage points can differ between tiers whose odds
  ratios are equal (a tier that responds at 40 % gains more points from the same odds
  ratio than one at 2 %); the manager's question is about points. Only tiers with at
  least ``min_group_size`` customers in each group enter the test; with fewer than two
  such tiers it is not run (``note`` says why).
- Balance: a chi-square test of tier by group (``scipy.stats.chi2_contingency``) says
  whether treatment and control hold the tiers in the same proportions, as a random
  split would; the overall uplift is only comparable across arms when they do (the
  per-tier uplifts are comparable either way).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.analysis import effects
from tiering.errors import DataError, require

GROUPS = ("treatment", "control")
RATE_OUTCOMES = ("responded", "converted")
#: every tier of a campaign taken together: the ``tier`` value of the overall rows
ALL_TIERS = "*"

RATE_COLUMNS = (
    "campaign",
    "tier",
    "group",
    "customers",
    "responders",
    "response_rate",
    "response_low",
    "response_high",
    "converters",
    "conversion_rate",
    "conversion_low",
    "conversion_high",
    "revenue",
    "revenue_per_customer",
)
UPLIFT_COLUMNS = (
    "campaign",
    "tier",
    "treatment",
    "control",
    "response_uplift",
    "response_uplift_low",
    "response_uplift_high",
    "conversion_uplift",
    "conversion_uplift_low",
    "conversion_uplift_high",
    "revenue_uplift",
    "revenue_uplift_low",
    "revenue_uplift_high",
    "small",
)
HETEROGENEITY_COLUMNS = (
    "campaign",
    "outcome",
    "test",
    "statistic",
    "df",
    "p_value",
    "tiers",
    "note",
)
CAMPAIGN_COLUMNS = (
    "campaign",
    "customers",
    "treatment",
    "control",
    "untiered",
    "first_date",
    "last_date",
    "has_control",
    "causal_wording",
    "balance_p",
)


@dataclass(frozen=True)
class CampaignAnalysis:
    """Campaign results per tier. Tables (``tier`` is a tier label, or ``ALL_TIERS``
    for the campaign's customers taken together; rates and uplifts are fractions,
    intervals 95 %):

    - ``campaigns`` (:data:`CAMPAIGN_COLUMNS`): customers, per group, ``untiered``
      (contacted customers without a tier: not in the rates), first and last date,
      ``has_control``, ``causal_wording`` (False: rates only, no word of effect),
      ``balance_p`` (tier-by-group chi-square; NaN without a control group).
    - ``rates`` (:data:`RATE_COLUMNS`): per campaign, tier and group: customers, how many
      responded and converted with Wilson intervals, revenue and revenue per customer
      (NaN for an outcome the file does not have).
    - ``uplift`` (:data:`UPLIFT_COLUMNS`): campaigns with a control group only; per tier:
      group sizes, response and conversion uplift with Newcombe intervals, revenue
      uplift per customer with a bootstrap interval; ``small``: a group under
      ``min_group_size`` (shown, not tested).
    - ``heterogeneity`` (:data:`HETEROGENEITY_COLUMNS`): per campaign with a control
      group and outcome (``responded``, ``converted``, ``revenue``): Cochran's Q, its
      degrees of freedom and p-value, how many tiers entered, ``note`` (``""``, or why
      the test did not run: ``fewer_than_two_tiers``).
    - ``params``: the options used.
    """

    campaigns: pd.DataFrame
    rates: pd.DataFrame
    uplift: pd.DataFrame
    heterogeneity: pd.DataFrame
    params: dict = field(default_factory=dict)


def wilson(count, nobs, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``count`` / ``nobs`` (arrays); NaN where ``nobs`` is 0."""
    from statsmodels.stats.proportion import proportion_confint

    count = np.asarray(count, dtype=float)
    nobs = np.asarray(nobs, dtype=float)
    ok = nobs > 0
    low = np.full(count.shape, np.nan)
    high = np.full(count.shape, np.nan)
    if ok.any():
        lo, hi = proportion_confint(count[ok], nobs[ok], alpha=alpha, method="wilson")
        low[ok], high[ok] = lo, hi
    return low, high


def newcombe(
    count1: int, nobs1: int, count0: int, nobs0: int, *, alpha: float = 0.05
) -> tuple[float, float, float]:
    """``p1 - p0`` and Newcombe's hybrid score interval (Newcombe 1998, method 10)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    if nobs1 <= 0 or nobs0 <= 0:
        return float("nan"), float("nan"), float("nan")
    low, high = confint_proportions_2indep(
        count1, nobs1, count0, nobs0, method="newcomb", compare="diff", alpha=alpha
    )
    return count1 / nobs1 - count0 / nobs0, float(low), float(high)


def cochran_q(effects_: np.ndarray, variances: np.ndarray) -> tuple[float, int, float]:
    """Cochran's Q test that the ``effects_`` (one per tier) are equal, with
    inverse-variance weights: (Q, degrees of freedom, p-value)."""
    from statsmodels.stats.meta_analysis import combine_effects

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = combine_effects(np.asarray(effects_, float), np.asarray(variances, float))
        test = res.test_homogeneity()
    return float(test.statistic), int(test.df), float(test.pvalue)


def rate_uplift_effects(c1, n1, c0, n0) -> tuple[np.ndarray, np.ndarray]:
    """Per tier the risk difference ``c1/n1 - c0/n0`` and its variance
    ``p1(1-p1)/n1 + p0(1-p0)/n0``; a tier with an empty cell (no or only responders in a
    group) gets 0.5 added to each of its four cells, so that it has a variance.
    (Written out: statsmodels 0.15's ``effectsize_2proportions(zero_correction=0.5)``
    adds the 0.5 to the counts of every tier but to the sizes of those with an empty
    cell only, which moves the effects of tiers without one.)"""
    c1, n1, c0, n0 = (np.asarray(v, dtype=float) for v in (c1, n1, c0, n0))
    empty = (c1 == 0) | (c1 == n1) | (c0 == 0) | (c0 == n0)
    cc = np.where(empty, 0.5, 0.0)
    p1 = (c1 + cc) / (n1 + 2 * cc)
    p0 = (c0 + cc) / (n0 + 2 * cc)
    return p1 - p0, p1 * (1 - p1) / (n1 + 2 * cc) + p0 * (1 - p0) / (n0 + 2 * cc)


def campaign_results(
    contacts: pd.DataFrame,
    tiers: pd.DataFrame,
    *,
    labels: list[str] | tuple[str, ...] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    min_group_size: int = 10,
    alpha: float = 0.05,
) -> CampaignAnalysis:
    """Response, conversion and revenue per campaign, tier and group, and the uplift per
    tier where a campaign has a control group. ``contacts``: ``customer_id``,
    ``campaign``, ``group`` (``treatment``/``control``), any of ``responded``,
    ``converted`` (bool) and ``revenue``, optionally ``date``
    (``tiering.data.campaigns.CampaignResult.contacts``). ``tiers``: ``customer_id``
    and ``tier``; ``labels``: the tiers best first (default: as they first appear)."""
    for col in ("customer_id", "campaign", "group"):
        require(
            col in contacts.columns,
            f"The campaign contacts have no {col!r} column",
            where="campaign_results",
            hint="pass CampaignResult.contacts of tiering.data.campaigns.read_campaigns",
            error=DataError,
        )
    bad = sorted(set(contacts["group"].astype(str)) - set(GROUPS))
    require(
        not bad,
        f"Unknown group value(s) {', '.join(map(repr, bad[:5]))} in the campaign contacts",
        where="campaign_results",
        hint="groups are 'treatment' or 'control' (read_campaigns rejects other values)",
        error=DataError,
    )
    require(n_boot >= 1, "n_boot must be at least 1", where="campaign_results")
    outcomes = [c for c in (*RATE_OUTCOMES, "revenue") if c in contacts.columns]
    require(
        bool(outcomes),
        "The campaign contacts have no outcome (responded, converted or revenue)",
        where="campaign_results",
        error=DataError,
    )
    require(
        {"customer_id", "tier"} <= set(tiers.columns),
        "The tiers table needs the columns 'customer_id' and 'tier'",
        where="campaign_results",
        error=DataError,
    )
    dupes = tiers["customer_id"].astype(str).duplicated()
    require(
        not dupes.any(),
        f"Customer {tiers['customer_id'].astype(str)[dupes].iloc[0] if dupes.any() else ''!r} "
        "has more than one tier",
        where="campaign_results",
        hint="pass one row per customer (the tiers of one tiering)",
        error=DataError,
    )
    if labels is None:
        labels = list(dict.fromkeys(tiers["tier"].dropna().astype(str)))
    labels = [str(x) for x in labels]
    unknown = sorted(set(tiers["tier"].dropna().astype(str)) - set(labels))
    require(
        not unknown,
        f"Tier(s) {', '.join(map(repr, unknown[:5]))} are not among the labels {labels}",
        where="campaign_results",
        hint="pass the labels of the tiering the tiers come from",
        error=DataError,
    )

    # one row per campaign, group and customer
    agg = {o: ("max" if o in RATE_OUTCOMES else "sum") for o in outcomes}
    if "date" in contacts.columns:
        agg["date"] = "min"
    per = (
        contacts.assign(customer_id=contacts["customer_id"].astype(str))
        .groupby(["campaign", "group", "customer_id"], sort=True)
        .agg(agg)
        .reset_index()
    )
    tier_of = tiers.assign(customer_id=tiers["customer_id"].astype(str)).set_index("customer_id")[
        "tier"
    ]
    per["tier"] = per["customer_id"].map(tier_of).astype("object")
    untiered = per["tier"].isna()

    camp_rows, rate_rows, uplift_rows, het_rows = [], [], [], []
    for k, (name, c) in enumerate(per.groupby("campaign", sort=True)):
        tiered = c[c["tier"].notna()]
        n_t = int((c["group"] == "treatment").sum())
        n_c = int((c["group"] == "control").sum())
        has_control = n_c > 0 and n_t > 0
        balance = float("nan")
        if has_control and tiered["tier"].nunique() > 1:
            from scipy.stats import chi2_contingency

            table = pd.crosstab(tiered["tier"], tiered["group"]).to_numpy()
            if table.shape[1] == 2:
                balance = float(chi2_contingency(table, correction=False).pvalue)
        dates = c["date"] if "date" in c.columns else pd.Series(dtype="datetime64[ns]")
        camp_rows.append(
            {
                "campaign": name,
                "customers": int(c["customer_id"].nunique()),
                "treatment": n_t,
                "control": n_c,
                "untiered": int(untiered[c.index].sum()),
                "first_date": dates.min() if len(dates) else pd.NaT,
                "last_date": dates.max() if len(dates) else pd.NaT,
                "has_control": has_control,
                "causal_wording": has_control,
                "balance_p": balance,
            }
        )
        scopes = [(t, tiered[tiered["tier"].astype(str) == t]) for t in labels]
        scopes.append((ALL_TIERS, tiered))
        for t, sub in scopes:
            for g in GROUPS:
                arm = sub[sub["group"] == g]
                if len(arm) == 0:
                    continue
                rate_rows.append(_rate_row(name, t, g, arm, outcomes, alpha))
        if not has_control:
            continue
        tested = []
        for j, (t, sub) in enumerate(scopes):
            arm1, arm0 = sub[sub["group"] == "treatment"], sub[sub["group"] == "control"]
            if len(arm1) == 0 or len(arm0) == 0:
                continue
            rng = np.random.default_rng([seed, k, j])
            row = _uplift_row(name, t, arm1, arm0, outcomes, alpha, n_boot, rng)
            row["small"] = bool(min(len(arm1), len(arm0)) < min_group_size)
            uplift_rows.append(row)
            if t != ALL_TIERS and not row["small"]:
                tested.append((arm1, arm0))
        for outcome in outcomes:
            het_rows.append(_heterogeneity_row(name, outcome, tested))

    def frame(rows, columns):
        return pd.DataFrame(rows, columns=list(columns))

    rates = frame(rate_rows, RATE_COLUMNS)
    uplift = frame(uplift_rows, UPLIFT_COLUMNS)
    order = {t: i for i, t in enumerate([*labels, ALL_TIERS])}

    def tier_order(table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table
        return table.sort_values(
            ["campaign", "tier"],
            key=lambda s: s.map(order) if s.name == "tier" else s,
            kind="stable",
        ).reset_index(drop=True)

    rates, uplift = tier_order(rates), tier_order(uplift)
    return CampaignAnalysis(
        campaigns=frame(camp_rows, CAMPAIGN_COLUMNS),
        rates=rates,
        uplift=uplift,
        heterogeneity=frame(het_rows, HETEROGENEITY_COLUMNS),
        params={
            "labels": labels,
            "n_boot": n_boot,
            "seed": seed,
            "min_group_size": min_group_size,
            "alpha": alpha,
            "outcomes": outcomes,
            "rate_interval": "wilson",
            "uplift_interval": "newcombe_hybrid_score",
            "revenue_interval": "percentile_bootstrap",
            "heterogeneity_test": "cochran_q",
        },
    )


#: Columns of :func:`tier_uplift`: one row per tier, best first.
TIER_UPLIFT_COLUMNS = (
    "tier",
    "campaign",
    "outcome",
    "uplift",
    "uplift_low",
    "uplift_high",
    "source",
)
#: Why :func:`tier_uplift` has no uplift: no campaign result, no campaign with a
#: control group, or none whose treatment and control groups both hold tiered customers
#: (the contacted ids match no tiered customer: ids written another way, another period).
UPLIFT_REASONS = ("no_campaigns", "no_control", "no_tiered_contacts")
#: The outcomes the budget's uplift can be measured in, first available first: revenue
#: per contacted customer, else the response rate, else the conversion rate.
_BUDGET_OUTCOMES = (
    ("revenue", "revenue_uplift"),
    ("responded", "response_uplift"),
    ("converted", "conversion_uplift"),
)


def tier_uplift(
    result: CampaignAnalysis | None, labels, *, campaign: str | None = None
) -> tuple[pd.DataFrame, str]:
    """The measured uplift per contacted customer of one campaign, per tier: what the
    budget split weighs when ``strategy.budget_weights.uplift`` asks for it.

    The campaign is ``campaign`` when named (a :class:`~tiering.errors.DataError`
    naming the campaigns with a control group when it is not one of them), else the
    latest campaign with a control group (by its last date, then by name). The outcome
    is its revenue uplift per contacted customer when the file has revenue, else the
    response uplift, else the conversion uplift (``outcome``: ``revenue``,
    ``responded``, ``converted``). A tier whose groups are under the minimum size
    (``small``) or that has no contacted customer in one group takes the campaign's
    overall uplift (``source`` ``overall``; else ``tier``), so that a handful of
    customers does not swing the budget.

    Returns ``(table, reason)``: :data:`TIER_UPLIFT_COLUMNS` and ``""``, or an empty
    table and a code of :data:`UPLIFT_REASONS`.
    """
    labels = [str(x) for x in labels]
    empty = pd.DataFrame(columns=list(TIER_UPLIFT_COLUMNS))
    if result is None or result.campaigns.empty:
        return empty, "no_campaigns"
    camps = result.campaigns[result.campaigns["has_control"].astype(bool)]
    measured = set(result.uplift["campaign"].astype(str))
    if campaign is not None:
        names = sorted(camps["campaign"].astype(str))
        require(
            str(campaign) in names,
            f"strategy.uplift_campaign is {campaign!r}, which is not a campaign "
            "with a control group in the campaign results",
            where="strategy.uplift_campaign",
            hint=(
                f"use one of: {', '.join(names)}"
                if names
                else "the campaign file has no campaign with a control group; "
                "remove strategy.uplift_campaign"
            ),
            error=DataError,
        )
        name = str(campaign)
    elif camps.empty:
        return empty, "no_control"
    else:
        # the latest campaign whose groups hold tiered customers (else: say so)
        usable = camps[camps["campaign"].astype(str).isin(measured)]
        if usable.empty:
            return empty, "no_tiered_contacts"
        latest = usable.assign(_name=usable["campaign"].astype(str)).sort_values(
            ["last_date", "_name"], kind="stable", na_position="first"
        )
        name = str(latest["_name"].iloc[-1])
    up = result.uplift[result.uplift["campaign"].astype(str) == name]
    overall_rows = up[up["tier"].astype(str) == ALL_TIERS]
    if overall_rows.empty:  # no tiered customer in one of its groups
        return empty, "no_tiered_contacts"
    overall = overall_rows.iloc[0]
    outcome, col = next(
        ((o, c) for o, c in _BUDGET_OUTCOMES if np.isfinite(float(overall[c]))),
        _BUDGET_OUTCOMES[0],
    )
    by_tier = {str(r["tier"]): r for r in up.to_dict("records")}
    rows = []
    for label in labels:
        r = by_tier.get(label)
        source = "tier"
        if r is None or bool(r["small"]) or not np.isfinite(float(r[col])):
            r, source = overall, "overall"
        rows.append(
            {
                "tier": label,
                "campaign": name,
                "outcome": outcome,
                "uplift": float(r[col]),
                "uplift_low": float(r[f"{col}_low"]),
                "uplift_high": float(r[f"{col}_high"]),
                "source": source,
            }
        )
    return pd.DataFrame(rows, columns=list(TIER_UPLIFT_COLUMNS)), ""


def _rate_row(name, tier, group, arm: pd.DataFrame, outcomes, alpha) -> dict:
    n = len(arm)
    row = {"campaign": name, "tier": tier, "group": group, "customers": n}
    for outcome, count, rate in (
        ("responded", "responders", "response"),
        ("converted", "converters", "conversion"),
    ):
        if outcome in outcomes:
            hits = int(arm[outcome].astype(bool).sum())
            low, high = wilson([hits], [n], alpha=alpha)
            row.update(
                {
                    count: hits,
                    f"{rate}_rate": hits / n,
                    f"{rate}_low": float(low[0]),
                    f"{rate}_high": float(high[0]),
                }
            )
        else:
            row.update({count: np.nan, f"{rate}_rate": np.nan})
            row.update({f"{rate}_low": np.nan, f"{rate}_high": np.nan})
    if "revenue" in outcomes:
        total = float(arm["revenue"].sum())
        row.update({"revenue": total, "revenue_per_customer": total / n})
    else:
        row.update({"revenue": np.nan, "revenue_per_customer": np.nan})
    return row


def _uplift_row(name, tier, arm1, arm0, outcomes, alpha, n_boot, rng) -> dict:
    row = {"campaign": name, "tier": tier, "treatment": len(arm1), "control": len(arm0)}
    for outcome, key in (("responded", "response"), ("converted", "conversion")):
        if outcome in outcomes:
            d, low, high = newcombe(
                int(arm1[outcome].sum()),
                len(arm1),
                int(arm0[outcome].sum()),
                len(arm0),
                alpha=alpha,
            )
        else:
            d = low = high = np.nan
        row.update({f"{key}_uplift": d, f"{key}_uplift_low": low, f"{key}_uplift_high": high})
    if "revenue" in outcomes:
        x1 = arm1["revenue"].to_numpy(float)
        x0 = arm0["revenue"].to_numpy(float)
        low, high = effects.percentile_interval(
            _mean_draws(x1, n_boot, rng) - _mean_draws(x0, n_boot, rng)
        )
        row.update(
            {
                "revenue_uplift": float(x1.mean() - x0.mean()),
                "revenue_uplift_low": low,
                "revenue_uplift_high": high,
            }
        )
    else:
        row.update({"revenue_uplift": np.nan})
        row.update({"revenue_uplift_low": np.nan, "revenue_uplift_high": np.nan})
    return row


def _mean_draws(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the mean of one arm (a single customer: its value)."""
    if len(x) < 2:
        return np.full(n_boot, float(x.mean()))
    return effects.bootstrap_means(x, n_boot=n_boot, rng=rng)[0]


def _heterogeneity_row(name, outcome, tested: list) -> dict:
    row = {
        "campaign": name,
        "outcome": outcome,
        "test": "cochran_q",
        "statistic": np.nan,
        "df": np.nan,
        "p_value": np.nan,
        "tiers": len(tested),
        "note": "",
    }
    if len(tested) < 2:
        row["note"] = "fewer_than_two_tiers"
        return row
    if outcome in RATE_OUTCOMES:
        eff, var = rate_uplift_effects(
            [int(a1[outcome].sum()) for a1, _ in tested],
            [len(a1) for a1, _ in tested],
            [int(a0[outcome].sum()) for _, a0 in tested],
            [len(a0) for _, a0 in tested],
        )
    else:
        eff = np.array([a1["revenue"].mean() - a0["revenue"].mean() for a1, a0 in tested])
        var = np.array(
            [
                a1["revenue"].var(ddof=1) / len(a1) + a0["revenue"].var(ddof=1) / len(a0)
                for a1, a0 in tested
            ]
        )
        if not np.all(var > 0):
            row["note"] = "no_variance"
            return row
    q, df, p = cochran_q(eff, var)
    row.update({"statistic": q, "df": df, "p_value": p})
    return row


#: The rate columns :func:`campaign_table` gives once per group (prefixed
#: ``treatment_`` and ``control_``).
_GROUP_RATE_COLUMNS = (
    "customers",
    "responders",
    "response_rate",
    "response_low",
    "response_high",
    "converters",
    "conversion_rate",
    "conversion_low",
    "conversion_high",
    "revenue_per_customer",
)
#: The columns of :func:`campaign_table` (campaigns.csv).
TABLE_COLUMNS = (
    "campaign",
    "tier",
    "tier_basis",
    *(f"{g}_{c}" for g in GROUPS for c in _GROUP_RATE_COLUMNS),
    *(c for c in UPLIFT_COLUMNS if c not in ("campaign", "tier", "treatment", "control")),
)


def campaign_table(result: CampaignAnalysis) -> pd.DataFrame:
    """One row per campaign and tier (``tier`` ``*``: the campaign's tiered customers
    together), :data:`TABLE_COLUMNS`: ``tier_basis`` (which tiers the customers were
    counted in: ``params['tier_basis']``, ``current`` when not given); per group
    (``treatment_``, ``control_``) the customers, responders and converters with their
    rates and Wilson intervals, revenue per customer; then the uplift (treatment -
    control) of response and conversion with Newcombe intervals and of revenue per
    customer with its bootstrap interval, and ``small``. Without a control group the
    ``control_`` and uplift columns are missing (NaN)."""
    rates = result.rates
    keys = ["campaign", "tier"]
    out = rates[keys].drop_duplicates().reset_index(drop=True)
    for g in GROUPS:
        part = rates[rates["group"] == g][[*keys, *_GROUP_RATE_COLUMNS]]
        part = part.rename(columns={c: f"{g}_{c}" for c in _GROUP_RATE_COLUMNS})
        out = out.merge(part, on=keys, how="left")
    uplift = result.uplift.drop(columns=["treatment", "control"])
    out = out.merge(uplift, on=keys, how="left")
    out.insert(2, "tier_basis", result.params.get("tier_basis", "current"))
    for g in GROUPS:
        for c in ("customers", "responders", "converters"):
            out[f"{g}_{c}"] = out[f"{g}_{c}"].astype("Int64")
    out["small"] = out["small"].astype("boolean")
    return out[list(TABLE_COLUMNS)]
