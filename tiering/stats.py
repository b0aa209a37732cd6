"""Statistical comparison of customer tiers: tidy tables, effect sizes, plain findings.

Spend, order counts and recency are heavy-tailed, so every numeric metric is compared
with rank-based methods, and every result leads with an effect size and an interval
rather than a p-value (with thousands of customers every p-value is tiny).

Methods and conventions (all fixed here so that a reviewer can check them):

* **Omnibus test per metric**: Kruskal-Wallis H (``scipy.stats.kruskal``, corrected
  for ties), df = k - 1. Effect size *epsilon squared* in the definition of
  Tomczak & Tomczak (2014), ``epsilon² = H / ((n² - 1) / (n + 1))``, which equals
  ``H / (n - 1)``. Magnitude: negligible < 0.01 <= small < 0.08 <= medium < 0.26 <=
  large (the epsilon-squared table of Mangiafico's *rcompanion* handbook).
* **Pairwise test**: Dunn (1964) z test on the joint ranks with the tie correction of
  Glantz (2012); p-values from ``scikit_posthocs.posthoc_dunn`` (two-sided,
  unadjusted), Holm-adjusted across the pairs of one metric. ``statistic`` is Dunn's z,
  positive when ``group1`` (the better tier) has the higher mean rank.
* **Pairwise effect size**: Cliff's delta, ``P(X1 > X2) - P(X1 < X2)``, with the
  analytic asymmetric 95% interval of Cliff (1996) / Feng & Cliff (2004) using the
  *consistent* variance estimate and the normal quantile (the interval R's
  ``effsize::cliff.delta(use.unbiased=FALSE, use.normal=TRUE)`` reports). Computed
  in O(n log n) by sorting, so it needs no bootstrap. Magnitude by Romano et al.
  (2006): negligible < 0.147 <= small < 0.33 <= medium < 0.474 <= large, on |delta|.
* **Categorical attributes**: Pearson chi-square on the tier x category table (no
  continuity correction) with bias-corrected Cramér's V (Bergsma 2013). Magnitude by
  Cohen (1988) for w, scaled by ``sqrt(min(r, c) - 1)``: 0.1 / 0.3 / 0.5 divided by
  that root.
* **Multiplicity**: the omnibus p-values (Kruskal-Wallis and chi-square rows) are
  Holm-adjusted across all metrics and attributes of one comparison; Dunn p-values
  across the pairs of their metric. ``significant`` is ``p_adj < alpha``.
* **Intervals for medians, means and ratios**: seeded percentile bootstrap
  (``scipy.stats.bootstrap``, vectorised, ``n_boot`` resamples, 95%). The percentile
  method is used because BCa's jackknife is unreliable for the median and costs
  O(n²). Tiers with more than ``BOOTSTRAP_MAX_N`` customers are bootstrapped on a
  seeded subsample of that size (the point estimate still uses every customer; the
  interval is then slightly conservative); ``params["bootstrap_subsampled"]`` lists
  them.
* **Small tiers**: a tier with fewer than ``min_group_size`` customers (with a value
  for the metric) is left out of that metric's tests; a row in ``tests`` and a finding
  say so. A metric with no variance, or with fewer than two testable tiers, gets one
  ``not_tested`` row with NaN statistics instead of an exception.

Findings compare adjacent tiers (1st vs 2nd, 2nd vs 3rd, ...). A difference is called
*meaningful* only when it is significant (Dunn, Holm) and at least "small" by the
stated convention. For metrics where lower is better (``recency_days``), when a median
is zero or negative, or when the bootstrap ratio is not well defined, the finding
reports a difference of medians instead of a ratio.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError, closest, require
from .i18n import has, t

__all__ = [
    "Comparison",
    "compare_tiers",
    "describe_findings",
    "BOOTSTRAP_MAX_N",
    "LOWER_IS_BETTER",
    "TESTS_COLUMNS",
    "SUMMARY_COLUMNS",
    "FINDINGS_COLUMNS",
]

#: Tiers larger than this are bootstrapped on a seeded subsample of this size.
BOOTSTRAP_MAX_N = 20_000
#: Metrics where a smaller value is the better one; findings report differences.
LOWER_IS_BETTER = frozenset({"recency_days"})
#: Confidence level of every interval in this module.
CI_LEVEL = 0.95

CLIFF_THRESHOLDS = (0.147, 0.33, 0.474)          # Romano et al. (2006)
EPSILON_SQ_THRESHOLDS = (0.01, 0.08, 0.26)       # rcompanion handbook (Mangiafico)
COHEN_W_THRESHOLDS = (0.1, 0.3, 0.5)             # Cohen (1988), for df* = 1
MAGNITUDES = ("negligible", "small", "medium", "large")

TESTS_COLUMNS = (
    "metric", "test", "group1", "group2", "n1", "n2", "statistic", "df", "p_value",
    "p_adj", "effect_size_name", "effect_size", "ci_low", "ci_high", "magnitude",
    "significant",
)
SUMMARY_COLUMNS = (
    "metric", "tier", "n", "mean", "median", "q1", "q3", "median_ci_low",
    "median_ci_high", "mean_ci_low", "mean_ci_high",
)
FINDINGS_COLUMNS = (
    "metric", "kind", "group1", "group2", "n1", "n2", "median1", "median2", "ratio",
    "ratio_ci_low", "ratio_ci_high", "difference", "difference_ci_low",
    "difference_ci_high", "cliffs_delta", "cliffs_delta_ci_low", "cliffs_delta_ci_high",
    "cramers_v", "magnitude", "p_adj", "significant", "meaningful", "lower_is_better",
    "note",
)

# Offsets that keep the seeded random streams of different purposes independent.
_RNG_SUMMARY, _RNG_RATIO, _RNG_POSTHOC, _RNG_SUBSAMPLE = 1, 2, 3, 4
# Upper bound on the number of floats one bootstrap batch may hold (memory cap).
_BATCH_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_tiers`.

    Attributes
    ----------
    tests : DataFrame
        One row per statistical test (written as ``comparisons.csv``); columns
        ``TESTS_COLUMNS``, see :func:`compare_tiers`.
    summary : DataFrame
        Descriptives per metric x tier; columns ``SUMMARY_COLUMNS``.
    findings : DataFrame
        Structured, language-independent findings; columns ``FINDINGS_COLUMNS``.
        :func:`describe_findings` turns them into sentences.
    params : dict
        The options used, the conventions applied and what was subsampled.
    """

    tests: pd.DataFrame
    summary: pd.DataFrame
    findings: pd.DataFrame
    params: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _magnitude(value: float, thresholds: Sequence[float]) -> str:
    """The magnitude word of ``|value|`` for three ascending thresholds."""
    if value is None or not np.isfinite(value):
        return ""
    return MAGNITUDES[int(np.searchsorted(thresholds, abs(value), side="right"))]


def _holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; NaN stays NaN.

    Same numbers as ``statsmodels.stats.multitest.multipletests(method="holm")``
    (checked in the tests), written out because that function runs a full
    ``gc.collect()`` on every call, which costs ~0.1 s each in a large session.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        m = order.size
        stepped = np.minimum(1.0, p[order] * np.arange(m, 0, -1))
        out[order] = np.maximum.accumulate(stepped)
    return out


def _epsilon_squared(h: float, n: int) -> float:
    """Rank epsilon squared, ``H / ((n² - 1) / (n + 1))`` (Tomczak & Tomczak 2014)."""
    return float(h / ((n * n - 1.0) / (n + 1.0)))


def _cliffs_delta(x: np.ndarray, y: np.ndarray, *, confidence: float = CI_LEVEL
                  ) -> tuple[float, float, float]:
    """Cliff's delta of ``x`` over ``y`` with its analytic asymmetric interval.

    ``delta = P(X > Y) - P(X < Y)``. Interval of Cliff (1996) with the consistent
    variance estimate and the normal quantile; the same numbers as R's
    ``effsize::cliff.delta(x, y, use.unbiased=FALSE, use.normal=TRUE)``.
    Needs at least two values in each sample.
    """
    from scipy import stats as ss

    x = np.sort(np.asarray(x, dtype=float))
    y = np.sort(np.asarray(y, dtype=float))
    n1, n2 = len(x), len(y)
    cells = float(n1) * float(n2)
    # For each x: how many y lie below / above it; for each y: how many x lie above / below.
    y_below = np.searchsorted(y, x, side="left").astype(float)
    y_above = n2 - np.searchsorted(y, x, side="right").astype(float)
    x_above = n1 - np.searchsorted(x, y, side="right").astype(float)
    x_below = np.searchsorted(x, y, side="left").astype(float)
    n_pos, n_neg = y_below.sum(), y_above.sum()
    n_zero = cells - n_pos - n_neg
    delta = (n_pos - n_neg) / cells
    # Cliff's rescaling keeps the variance positive when the samples are disjoint.
    d = delta * (cells - 1.0) / cells if abs(delta) == 1.0 else delta
    d_i = (y_below - y_above) / n2
    d_j = (x_above - x_below) / n1
    ssr = n_pos * (1.0 - d) ** 2 + n_zero * d ** 2 + n_neg * (1.0 + d) ** 2
    s_i = float(((d_i - d) ** 2).sum()) / (n1 - 1)
    s_j = float(((d_j - d) ** 2).sum()) / (n2 - 1)
    s_ij = ssr / ((n1 - 1.0) * (n2 - 1.0))
    var = ((n2 - 1.0) * s_i + (n1 - 1.0) * s_j + s_ij) / cells
    if not var > 0:
        return float(delta), float(delta), float(delta)
    z = float(ss.norm.ppf(1.0 - (1.0 - confidence) / 2.0))
    root = z * math.sqrt(var) * math.sqrt((1.0 - d * d) ** 2 + z * z * var)
    denom = 1.0 - d * d + z * z * var
    low, high = (d - d ** 3 - root) / denom, (d - d ** 3 + root) / denom
    if delta == 1.0:
        high = 1.0
    if delta == -1.0:
        low = -1.0
    return float(delta), float(low), float(high)


def _cramers_v(table: np.ndarray) -> tuple[float, float, int, float, float]:
    """Chi-square test and bias-corrected Cramér's V (Bergsma 2013) of a count table.

    Returns ``(v, chi2, df, p_value, min_expected)``; no continuity correction.
    """
    from scipy import stats as ss

    table = np.asarray(table, dtype=float)
    chi2, p, dof, expected = ss.chi2_contingency(table, correction=False)
    n = table.sum()
    r, k = table.shape
    phi2 = chi2 / n
    phi2_corr = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_corr = r - (r - 1) ** 2 / (n - 1)
    k_corr = k - (k - 1) ** 2 / (n - 1)
    denom = min(k_corr - 1, r_corr - 1)
    v = math.sqrt(phi2_corr / denom) if denom > 0 else float("nan")
    return float(v), float(chi2), int(dof), float(p), float(expected.min())


def _dunn_z(values: list[np.ndarray]) -> np.ndarray:
    """Dunn's z for every pair (i, j): positive when group i has the higher mean rank.

    The same statistic (and tie correction) that ``scikit_posthocs.posthoc_dunn``
    turns into p-values, which it does not return itself.
    """
    from scipy import stats as ss

    pooled = np.concatenate(values)
    n = len(pooled)
    ranks = ss.rankdata(pooled)
    _, counts = np.unique(pooled, return_counts=True)
    ties = float(np.sum(counts.astype(float) ** 3 - counts)) / (12.0 * (n - 1))
    sizes = np.array([len(v) for v in values], dtype=float)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    mean_ranks = np.array([ranks[bounds[i]:bounds[i + 1]].mean() for i in range(len(values))])
    k = len(values)
    z = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            if i != j:
                se = math.sqrt((n * (n + 1.0) / 12.0 - ties) * (1.0 / sizes[i] + 1.0 / sizes[j]))
                z[i, j] = (mean_ranks[i] - mean_ranks[j]) / se
    return z


def _dunn_p(values: list[np.ndarray]) -> np.ndarray:
    """Unadjusted two-sided Dunn p-values from scikit-posthocs, as a k x k array."""
    import scikit_posthocs as sp

    frame = pd.DataFrame({
        "value": np.concatenate(values),
        "group": np.repeat(np.arange(len(values)), [len(v) for v in values]),
    })
    matrix = sp.posthoc_dunn(frame, val_col="value", group_col="group")
    order = list(range(len(values)))
    return matrix.reindex(index=order, columns=order).to_numpy(dtype=float)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator that depends only on the seed and the keys, not on call order."""
    return np.random.default_rng([seed, *keys])


def _subsample(values: np.ndarray, max_n: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= max_n:
        return values
    keep = np.sort(rng.choice(len(values), size=max_n, replace=False))
    return values[keep]


def _batch(n_boot: int, n: int) -> int:
    return int(max(1, min(n_boot, _BATCH_ELEMENTS // max(n, 1))))


def _median_mean(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.stack([np.median(sample, axis=axis), np.mean(sample, axis=axis)], axis=0)


def _ratio_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    mx, my = np.median(x, axis=axis), np.median(y, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(my > 0, mx / np.where(my > 0, my, 1.0), np.nan)
    return np.stack([ratio, mx - my], axis=0)


def _bootstrap(samples: tuple[np.ndarray, ...], statistic, *, n_boot: int,
               rng: np.random.Generator):
    """Seeded vectorised percentile bootstrap; returns (low, high, distribution)."""
    from scipy import stats as ss

    options = dict(n_resamples=n_boot, method="percentile", vectorized=True, paired=False,
                   confidence_level=CI_LEVEL, batch=_batch(n_boot, max(len(s) for s in samples)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = ss.bootstrap(samples, statistic, rng=rng, **options)
        except TypeError:             # scipy < 1.15 names the generator random_state
            res = ss.bootstrap(samples, statistic, random_state=rng, **options)
    return (np.asarray(res.confidence_interval.low, dtype=float),
            np.asarray(res.confidence_interval.high, dtype=float),
            np.asarray(res.bootstrap_distribution, dtype=float))


def _as_names(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    require(isinstance(value, Iterable), f"{what} must be a list of column names",
            where=f"compare_tiers({what}=...)", hint=f"pass e.g. {what}=['monetary']")
    names = tuple(value)
    for name in names:
        require(isinstance(name, str), f"{what} must contain column names, got {name!r}",
                where=f"compare_tiers({what}=...)")
    require(len(set(names)) == len(names), f"{what} lists a column twice: {list(names)}",
            where=f"compare_tiers({what}=...)", hint="list each column once")
    return names


def _require_column(frame: pd.DataFrame, name: str, what: str) -> None:
    if name in frame.columns:
        return
    guess = closest(name, [str(c) for c in frame.columns])
    hint = f"did you mean {guess!r}?" if guess else f"available columns: {list(frame.columns)}"
    raise DataError(f"The tiered table has no {what} column {name!r}",
                    where=f"compare_tiers(... {name!r})", hint=hint)


def _tier_codes(series: pd.Series) -> tuple[list[str], np.ndarray]:
    """Tier labels best first and each row's tier position (-1 when missing).

    An (ordered) Categorical gives the order of its categories; any other column is
    ordered by its sorted distinct values.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in series.cat.categories]
        codes = series.cat.codes.to_numpy(dtype=np.int64)
        return labels, codes
    present = series.dropna()
    labels_raw = sorted(present.unique(), key=lambda v: str(v))
    lookup = {v: i for i, v in enumerate(labels_raw)}
    codes = np.array([lookup.get(v, -1) if pd.notna(v) else -1 for v in series], dtype=np.int64)
    return [str(v) for v in labels_raw], codes


def _empty_test_row(metric: str, test: str) -> dict:
    return {
        "metric": metric, "test": test, "group1": "", "group2": "", "n1": pd.NA,
        "n2": pd.NA, "statistic": np.nan, "df": pd.NA, "p_value": np.nan,
        "p_adj": np.nan, "effect_size_name": "", "effect_size": np.nan,
        "ci_low": np.nan, "ci_high": np.nan, "magnitude": "", "significant": False,
    }


def _empty_finding(metric: str, kind: str) -> dict:
    row = {c: np.nan for c in FINDINGS_COLUMNS}
    row.update({
        "metric": metric, "kind": kind, "group1": "", "group2": "", "n1": pd.NA,
        "n2": pd.NA, "magnitude": "", "significant": False, "meaningful": False,
        "lower_is_better": metric in LOWER_IS_BETTER, "note": "",
    })
    return row


# --------------------------------------------------------------------------- main API


def compare_tiers(
    tiered: pd.DataFrame,
    *,
    metrics: Sequence[str],
    categorical: Sequence[str] = (),
    tier_col: str = "tier",
    alpha: float = 0.05,
    min_group_size: int = 5,
    n_boot: int = 2000,
    seed: int = 0,
    max_posthoc_n: int | None = None,
) -> Comparison:
    """Compare customer tiers on numeric metrics and categorical attributes.

    Parameters
    ----------
    tiered : DataFrame
        One row per customer with the tier column and the columns to compare.
    metrics : sequence of str
        Numeric columns (e.g. ``monetary``, ``frequency``, ``recency_days``). Missing
        values are left out per metric.
    categorical : sequence of str
        Categorical attribute columns (e.g. ``region``) compared with chi-square.
    tier_col : str
        The tier column: an (ordered) Categorical whose categories are the tier
        labels best first. Any other dtype is ordered by its sorted distinct values.
    alpha : float
        Significance level applied to the adjusted p-values.
    min_group_size : int
        Tiers with fewer customers (with a value) are left out of the tests.
    n_boot : int
        Bootstrap resamples for the intervals of medians, means and ratios.
    seed : int
        Seed of every random draw; the same input and options give the same output.
    max_posthoc_n : int or None
        If set, tiers with more customers are represented in the pairwise stage
        (Dunn's test and Cliff's delta) by a seeded random subsample of this size;
        the omnibus test and the descriptives still use every customer.
        ``params["posthoc_subsampled"]`` lists what was subsampled.

    Returns
    -------
    Comparison
        ``tests`` (one row per test, the columns of ``comparisons.csv``):

        - ``metric``: the metric or attribute column compared.
        - ``test``: ``kruskal_wallis`` (omnibus, one per metric), ``dunn`` (one per
          tier pair), ``chi_square`` (one per attribute), ``excluded_tier: ...`` (a
          tier left out, with the reason) or ``not_tested: ...`` (with the reason).
        - ``group1``, ``group2``: the tiers of a pair (better tier first); empty for
          omnibus rows; ``group1`` is the excluded tier on ``excluded_tier`` rows.
        - ``n1``, ``n2``: customers in ``group1`` / ``group2``; on omnibus rows ``n1``
          is the total tested and ``n2`` is empty.
        - ``statistic``: H (Kruskal-Wallis), Dunn's z, or Pearson chi-square.
        - ``df``: degrees of freedom of omnibus tests (k - 1; (r-1)(c-1)).
        - ``p_value``: unadjusted two-sided p-value.
        - ``p_adj``: Holm-adjusted p-value (omnibus rows across all metrics and
          attributes; Dunn rows across the pairs of their metric).
        - ``effect_size_name``: ``epsilon_squared``, ``cliffs_delta`` or ``cramers_v``.
        - ``effect_size``, ``ci_low``, ``ci_high``: the effect size and its 95%
          interval (analytic interval for Cliff's delta; none for the others).
        - ``magnitude``: negligible / small / medium / large by the conventions in
          the module docstring.
        - ``significant``: ``p_adj < alpha``.

        ``summary`` (one row per metric x tier, every tier including excluded ones):
        ``metric, tier, n, mean, median, q1, q3`` and 95% percentile-bootstrap
        intervals ``median_ci_low, median_ci_high, mean_ci_low, mean_ci_high``.

        ``findings`` (one row per adjacent tier pair and metric, per attribute, per
        excluded tier and per untested metric): ``kind`` is ``ratio`` (median1 /
        median2 with bootstrap interval), ``difference`` (median1 - median2 with
        bootstrap interval; used for lower-is-better metrics and non-positive
        medians), ``association`` (attribute, ``cramers_v``), ``excluded_tier`` or
        ``not_tested``; ``cliffs_delta`` with its interval; ``magnitude``;
        ``p_adj``; ``significant``; ``meaningful`` (significant and at least small);
        ``note`` (reason code: ``no_variance``, ``too_few_tiers``,
        ``too_few_customers``, ``too_few_categories``, ``lower_is_better``,
        ``non_positive_median``, ``ratio_undefined``, ``low_expected_counts``).
        ``ratio`` and ``difference`` columns are both filled when defined; ``kind``
        says which one a sentence leads with.
    """
    require(isinstance(tiered, pd.DataFrame), "compare_tiers needs a pandas DataFrame",
            where="compare_tiers(tiered)", error=DataError)
    metrics = _as_names(metrics, "metrics")
    categorical = _as_names(categorical, "categorical")
    require(bool(metrics) or bool(categorical), "Nothing to compare",
            where="compare_tiers(metrics=..., categorical=...)",
            hint="name at least one metric or categorical column")
    require(isinstance(tier_col, str), "tier_col must be a column name",
            where="compare_tiers(tier_col)")
    _require_column(tiered, tier_col, "tier")
    for name in metrics:
        _require_column(tiered, name, "metric")
        col = tiered[name]
        require(pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col),
                f"Metric column {name!r} is not numeric (dtype {col.dtype})",
                where=f"compare_tiers(metrics=[..., {name!r}])",
                hint="compare it as a categorical attribute, or convert it to numbers first",
                error=DataError)
    for name in categorical:
        _require_column(tiered, name, "categorical")
    overlap = (set(metrics) | set(categorical)) & {tier_col}
    require(not overlap, f"The tier column {tier_col!r} cannot also be compared",
            where="compare_tiers(metrics / categorical)")
    both = sorted(set(metrics) & set(categorical))
    require(not both, f"Columns listed as both metric and categorical: {both}",
            where="compare_tiers(metrics, categorical)")
    require(isinstance(alpha, (int, float)) and 0 < alpha < 1,
            f"alpha must be between 0 and 1, got {alpha!r}",
            where="compare_tiers(alpha)", hint="the usual choice is 0.05")
    require(isinstance(min_group_size, (int, np.integer)) and min_group_size >= 2,
            f"min_group_size must be an integer of at least 2, got {min_group_size!r}",
            where="compare_tiers(min_group_size)")
    require(isinstance(n_boot, (int, np.integer)) and n_boot >= 100,
            f"n_boot must be an integer of at least 100, got {n_boot!r}",
            where="compare_tiers(n_boot)", hint="2000 resamples give stable 95% intervals")
    require(isinstance(seed, (int, np.integer)) and seed >= 0,
            f"seed must be a non-negative integer, got {seed!r}", where="compare_tiers(seed)")
    require(max_posthoc_n is None or (isinstance(max_posthoc_n, (int, np.integer))
                                      and max_posthoc_n >= min_group_size),
            f"max_posthoc_n must be None or an integer >= min_group_size, got {max_posthoc_n!r}",
            where="compare_tiers(max_posthoc_n)")

    from scipy import stats as ss

    labels, codes = _tier_codes(tiered[tier_col])
    k_all = len(labels)
    tier_sizes = np.bincount(codes[codes >= 0], minlength=k_all) if k_all else np.zeros(0, int)
    small_overall = [i for i in range(k_all) if tier_sizes[i] < min_group_size]

    tests: list[dict] = []
    summary: list[dict] = []
    findings: list[dict] = []
    boot_subsampled: list[dict] = []
    posthoc_subsampled: list[dict] = []
    omnibus_rows: list[int] = []          # indices into tests
    association_findings: list[tuple[int, int]] = []   # (finding index, test index)

    for i in small_overall:
        row = _empty_finding("", "excluded_tier")
        row.update({"group1": labels[i], "n1": int(tier_sizes[i]), "note": "too_few_customers"})
        findings.append(row)

    for mi, metric in enumerate(metrics):
        values = tiered[metric].to_numpy(dtype=float, na_value=np.nan)
        valid = np.isfinite(values) & (codes >= 0)
        groups = [values[valid & (codes == i)] for i in range(k_all)]

        # Descriptives with bootstrap intervals, for every tier.
        for ti, sample in enumerate(groups):
            summary.append(_describe(metric, labels[ti], sample, n_boot=n_boot,
                                     rng=_rng(seed, _RNG_SUMMARY, mi, ti),
                                     sub_rng=_rng(seed, _RNG_SUBSAMPLE, mi, ti),
                                     subsampled=boot_subsampled))

        testable = [i for i in range(k_all) if len(groups[i]) >= min_group_size]
        for i in range(k_all):
            if i in testable:
                continue
            row = _empty_test_row(metric, f"excluded_tier: {len(groups[i])} customers "
                                          f"< min_group_size {min_group_size}")
            row.update({"group1": labels[i], "n1": len(groups[i])})
            tests.append(row)
            if i not in small_overall:
                f = _empty_finding(metric, "excluded_tier")
                f.update({"group1": labels[i], "n1": len(groups[i]), "note": "too_few_customers"})
                findings.append(f)

        if len(testable) < 2:
            tests.append(_empty_test_row(
                metric, f"not_tested: fewer than 2 tiers with at least {min_group_size} customers"))
            f = _empty_finding(metric, "not_tested")
            f["note"] = "too_few_tiers"
            findings.append(f)
            continue
        tested = [groups[i] for i in testable]
        pooled = np.concatenate(tested)
        if np.ptp(pooled) == 0:
            tests.append(_empty_test_row(metric,
                                         "not_tested: no variance (every value is the same)"))
            f = _empty_finding(metric, "not_tested")
            f["note"] = "no_variance"
            findings.append(f)
            continue

        # Omnibus: Kruskal-Wallis with epsilon squared.
        h, p = ss.kruskal(*tested)
        n_total = len(pooled)
        eps = _epsilon_squared(h, n_total)
        row = _empty_test_row(metric, "kruskal_wallis")
        row.update({"n1": n_total, "statistic": float(h), "df": len(tested) - 1,
                    "p_value": float(p), "effect_size_name": "epsilon_squared",
                    "effect_size": eps, "magnitude": _magnitude(eps, EPSILON_SQ_THRESHOLDS)})
        omnibus_rows.append(len(tests))
        tests.append(row)

        # Pairwise: Dunn (p from scikit-posthocs, Holm across pairs) and Cliff's delta.
        post = []
        for i in testable:
            sample = groups[i]
            if max_posthoc_n is not None and len(sample) > max_posthoc_n:
                sample = _subsample(sample, int(max_posthoc_n), _rng(seed, _RNG_POSTHOC, mi, i))
                posthoc_subsampled.append({"metric": metric, "tier": labels[i],
                                           "n": len(groups[i]), "n_used": len(sample)})
            post.append(sample)
        z = _dunn_z(post)
        p_mat = _dunn_p(post)
        pairs = [(a, b) for a in range(len(testable)) for b in range(a + 1, len(testable))]
        p_pairs = np.array([p_mat[a, b] for a, b in pairs])
        p_adj_pairs = _holm(p_pairs)
        pair_result = {}
        for (a, b), p_raw, p_adj in zip(pairs, p_pairs, p_adj_pairs):
            delta, lo, hi = _cliffs_delta(post[a], post[b])
            row = _empty_test_row(metric, "dunn")
            row.update({
                "group1": labels[testable[a]], "group2": labels[testable[b]],
                "n1": len(post[a]), "n2": len(post[b]), "statistic": float(z[a, b]),
                "p_value": float(p_raw), "p_adj": float(p_adj),
                "effect_size_name": "cliffs_delta", "effect_size": delta, "ci_low": lo,
                "ci_high": hi, "magnitude": _magnitude(delta, CLIFF_THRESHOLDS),
                "significant": bool(p_adj < alpha),
            })
            tests.append(row)
            pair_result[(a, b)] = row

        # Findings: adjacent tested tiers.
        for a in range(len(testable) - 1):
            b = a + 1
            findings.append(_pair_finding(
                metric, groups[testable[a]], groups[testable[b]], pair_result[(a, b)],
                n_boot=n_boot, rng=_rng(seed, _RNG_RATIO, mi, testable[a], testable[b]),
                sub_rng=_rng(seed, _RNG_SUBSAMPLE, mi, testable[a], testable[b]),
                subsampled=boot_subsampled))

    for attribute in categorical:
        col = tiered[attribute]
        valid = col.notna().to_numpy() & (codes >= 0)
        counts = np.bincount(codes[valid], minlength=k_all) if k_all else np.zeros(0, int)
        testable = [i for i in range(k_all) if counts[i] >= min_group_size]
        for i in range(k_all):
            if i in testable:
                continue
            row = _empty_test_row(attribute, f"excluded_tier: {int(counts[i])} customers "
                                             f"< min_group_size {min_group_size}")
            row.update({"group1": labels[i], "n1": int(counts[i])})
            tests.append(row)
            if i not in small_overall:
                f = _empty_finding(attribute, "excluded_tier")
                f.update({"group1": labels[i], "n1": int(counts[i]), "note": "too_few_customers"})
                findings.append(f)
        if len(testable) < 2:
            tests.append(_empty_test_row(
                attribute, f"not_tested: fewer than 2 tiers with at least {min_group_size} customers"))
            f = _empty_finding(attribute, "not_tested")
            f["note"] = "too_few_tiers"
            findings.append(f)
            continue
        keep = valid & np.isin(codes, testable)
        table = pd.crosstab(codes[keep], col.to_numpy()[keep].astype(str))
        table = table.loc[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2:
            tests.append(_empty_test_row(attribute, "not_tested: fewer than 2 categories"))
            f = _empty_finding(attribute, "not_tested")
            f["note"] = "too_few_categories"
            findings.append(f)
            continue
        v, chi2, dof, p, min_expected = _cramers_v(table.to_numpy())
        df_star = min(table.shape) - 1
        thresholds = tuple(c / math.sqrt(df_star) for c in COHEN_W_THRESHOLDS)
        row = _empty_test_row(attribute, "chi_square")
        row.update({"n1": int(table.to_numpy().sum()), "statistic": chi2, "df": dof,
                    "p_value": p, "effect_size_name": "cramers_v", "effect_size": v,
                    "magnitude": _magnitude(v, thresholds)})
        omnibus_rows.append(len(tests))
        tests.append(row)
        f = _empty_finding(attribute, "association")
        f.update({"n1": row["n1"], "cramers_v": v, "magnitude": row["magnitude"],
                  # The chi-square approximation is rough when expected counts are < 5.
                  "note": "low_expected_counts" if min_expected < 5 else ""})
        association_findings.append((len(findings), len(tests) - 1))
        findings.append(f)

    # Holm across the omnibus tests of this comparison.
    p_adj = _holm([tests[i]["p_value"] for i in omnibus_rows])
    for i, adj in zip(omnibus_rows, p_adj):
        tests[i]["p_adj"] = float(adj)
        tests[i]["significant"] = bool(adj < alpha)
    for fi, ti in association_findings:
        findings[fi]["p_adj"] = tests[ti]["p_adj"]
        findings[fi]["significant"] = tests[ti]["significant"]
        findings[fi]["meaningful"] = bool(tests[ti]["significant"]
                                          and tests[ti]["magnitude"] not in ("", "negligible"))

    params = {
        "metrics": list(metrics),
        "categorical": list(categorical),
        "tier_col": tier_col,
        "tiers": list(labels),
        "tier_sizes": {labels[i]: int(tier_sizes[i]) for i in range(k_all)},
        "alpha": float(alpha),
        "min_group_size": int(min_group_size),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "max_posthoc_n": None if max_posthoc_n is None else int(max_posthoc_n),
        "ci_level": CI_LEVEL,
        "bootstrap_method": "percentile (scipy.stats.bootstrap)",
        "bootstrap_max_n": BOOTSTRAP_MAX_N,
        "bootstrap_subsampled": boot_subsampled,
        "posthoc_subsampled": posthoc_subsampled,
        "lower_is_better": sorted(LOWER_IS_BETTER),
        "conventions": {
            "epsilon_squared": "H / ((n^2 - 1) / (n + 1)) (Tomczak & Tomczak 2014); "
                               "magnitude thresholds 0.01 / 0.08 / 0.26 (rcompanion)",
            "cliffs_delta": "P(X1 > X2) - P(X1 < X2); 95% CI analytic, Cliff (1996) consistent "
                            "variance, normal quantile; thresholds 0.147 / 0.33 / 0.474 "
                            "(Romano et al. 2006)",
            "cramers_v": "bias-corrected (Bergsma 2013); thresholds 0.1 / 0.3 / 0.5 divided by "
                         "sqrt(min(r, c) - 1) (Cohen 1988)",
            "dunn": "scikit-posthocs posthoc_dunn, two-sided, tie-corrected; Holm across the "
                    "pairs of a metric",
            "omnibus_adjustment": "Holm across all Kruskal-Wallis and chi-square tests",
            "meaningful": "p_adj < alpha and magnitude at least small",
        },
    }
    return Comparison(
        tests=_frame(tests, TESTS_COLUMNS, ints=("n1", "n2", "df")),
        summary=_summary_frame(summary, labels),
        findings=_frame(findings, FINDINGS_COLUMNS, ints=("n1", "n2")),
        params=params,
    )


def _frame(rows: list[dict], columns: Sequence[str], *, ints: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for col in ints:
        frame[col] = pd.array(frame[col].tolist(), dtype="Int64")
    for col in ("significant", "meaningful", "lower_is_better"):
        if col in frame.columns:
            frame[col] = frame[col].astype(bool)
    for col in frame.columns:
        if frame[col].dtype == object and col not in ints:
            if all(isinstance(v, str) for v in frame[col]):
                frame[col] = frame[col].astype(str)
            else:
                frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame.reset_index(drop=True)


def _summary_frame(rows: list[dict], labels: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    frame["tier"] = pd.Categorical(frame["tier"], categories=labels, ordered=True)
    frame["n"] = frame["n"].astype("int64")
    return frame.reset_index(drop=True)


def _describe(metric: str, label: str, sample: np.ndarray, *, n_boot: int,
              rng: np.random.Generator, sub_rng: np.random.Generator,
              subsampled: list[dict]) -> dict:
    n = len(sample)
    row = {"metric": metric, "tier": label, "n": n}
    if n == 0:
        row.update({c: np.nan for c in SUMMARY_COLUMNS[3:]})
        return row
    row.update({
        "mean": float(np.mean(sample)), "median": float(np.median(sample)),
        "q1": float(np.quantile(sample, 0.25)), "q3": float(np.quantile(sample, 0.75)),
    })
    if n < 2:
        row.update({"median_ci_low": np.nan, "median_ci_high": np.nan,
                    "mean_ci_low": np.nan, "mean_ci_high": np.nan})
        return row
    if np.ptp(sample) == 0:
        value = float(sample[0])
        row.update({"median_ci_low": value, "median_ci_high": value,
                    "mean_ci_low": value, "mean_ci_high": value})
        return row
    boot_sample = _subsample(sample, BOOTSTRAP_MAX_N, sub_rng)
    if len(boot_sample) < n:
        subsampled.append({"metric": metric, "tier": label, "n": n, "n_used": len(boot_sample),
                           "purpose": "summary"})
    low, high, _ = _bootstrap((boot_sample,), _median_mean, n_boot=n_boot, rng=rng)
    row.update({"median_ci_low": float(low[0]), "median_ci_high": float(high[0]),
                "mean_ci_low": float(low[1]), "mean_ci_high": float(high[1])})
    return row


def _pair_finding(metric: str, x: np.ndarray, y: np.ndarray, test_row: dict, *,
                  n_boot: int, rng: np.random.Generator, sub_rng: np.random.Generator,
                  subsampled: list[dict]) -> dict:
    """Finding for adjacent tiers: medians, ratio / difference with intervals, delta."""
    row = _empty_finding(metric, "difference")
    m1, m2 = float(np.median(x)), float(np.median(y))
    row.update({
        "group1": test_row["group1"], "group2": test_row["group2"],
        "n1": len(x), "n2": len(y), "median1": m1, "median2": m2,
        "difference": m1 - m2, "cliffs_delta": test_row["effect_size"],
        "cliffs_delta_ci_low": test_row["ci_low"], "cliffs_delta_ci_high": test_row["ci_high"],
        "magnitude": test_row["magnitude"], "p_adj": test_row["p_adj"],
        "significant": test_row["significant"],
        "meaningful": bool(test_row["significant"] and test_row["magnitude"] != "negligible"),
    })
    bx = _subsample(x, BOOTSTRAP_MAX_N, sub_rng)
    by = _subsample(y, BOOTSTRAP_MAX_N, sub_rng)
    for label, full, used in ((row["group1"], x, bx), (row["group2"], y, by)):
        if len(used) < len(full):
            subsampled.append({"metric": metric, "tier": label, "n": len(full),
                               "n_used": len(used), "purpose": "findings"})
    if np.ptp(np.concatenate([bx, by])) == 0:
        low = high = dist = None
    else:
        low, high, dist = _bootstrap((bx, by), _ratio_difference, n_boot=n_boot, rng=rng)
    if low is None:
        row["difference_ci_low"] = row["difference_ci_high"] = m1 - m2
    else:
        row["difference_ci_low"], row["difference_ci_high"] = float(low[1]), float(high[1])
    ratio_ok = (m1 > 0 and m2 > 0 and low is not None
                and bool(np.all(np.isfinite(dist[0]))) and bool(np.all(dist[0] > 0)))
    if ratio_ok:
        row.update({"ratio": m1 / m2, "ratio_ci_low": float(low[0]),
                    "ratio_ci_high": float(high[0])})
    if metric in LOWER_IS_BETTER:
        row["note"] = "lower_is_better"
    elif ratio_ok:
        row["kind"] = "ratio"
    elif m2 <= 0 or m1 <= 0:
        row["note"] = "non_positive_median"
    else:
        row["note"] = "ratio_undefined"
    return row


# --------------------------------------------------------------------------- sentences

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _is_cjk(label: str) -> bool:
    return bool(_CJK.search(label))


def _tier_text(key: str, label: str, language: str) -> str:
    return t(f"stats.{key}_cjk" if _is_cjk(label) else f"stats.{key}", language, tier=label)


def _pair_text(t1: str, t2: str, language: str) -> str:
    key = "stats.tier_pair_cjk" if (_is_cjk(t1) or _is_cjk(t2)) else "stats.tier_pair"
    return t(key, language, t1=t1, t2=t2)


def _metric_name(column: str, language: str, *, mid_sentence: bool) -> str:
    """Display name from ``metrics.yaml``; else the column name (``_`` as space in English)."""
    if has(f"metrics.{column}"):
        name = t(f"metrics.{column}", language)
    else:
        name = column.replace("_", " ") if language == "en" else column
    if mid_sentence and language == "en" and len(name) > 1 and name[1:2].islower():
        name = name[0].lower() + name[1:]
    return name


def _num(value: float) -> str:
    """A number for reading: thousands separators, about three significant digits."""
    if value is None or not np.isfinite(value):
        return "–"
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _ratio_decimals(value: float) -> int:
    """Decimals for a ratio: 1.24×, 6.1×, 12×."""
    a = abs(value)
    return 2 if a < 1.995 else 1 if a < 9.95 else 0


def _ratio_text(value: float, decimals: int | None = None) -> str:
    """A ratio for reading; ``decimals`` defaults to what suits the value itself."""
    if value is None or not np.isfinite(value):
        return "–"
    d = _ratio_decimals(value) if decimals is None else decimals
    return f"{value:,.{d}f}"


def _delta_text(value: float) -> str:
    return f"{value:.2f}"


def _interval(low: float, high: float, estimate: float, fmt) -> tuple[str, str]:
    """Interval bounds for a sentence that states the estimate's size and direction.

    A negative estimate whose interval lies wholly below zero is shown as absolute
    values (the sentence already says "lower"); an interval that crosses zero keeps
    its signs so that it is not misread.
    """
    if estimate < 0 and high <= 0:
        return fmt(-high), fmt(-low)
    return fmt(low), fmt(high)


def describe_findings(comparison: Comparison, *, language: str, limit: int | None = None
                      ) -> list[str]:
    """Plain-language sentences from ``comparison.findings`` in ``'en'`` or ``'zh'``.

    One sentence per adjacent tier pair and metric, and per attribute, in the order of
    the findings table; when no difference is meaningful, a sentence saying so comes
    first. Notes on tiers left out and metrics not tested always follow and are not
    counted by ``limit``, which caps the number of finding sentences.

    A difference is described as significant or sized only as the findings table says:
    ``meaningful`` (Holm-adjusted p < alpha and magnitude at least small) rows get a
    ratio or difference sentence with its 95% interval and Cliff's delta; all others say
    the tiers do not differ meaningfully, and why.
    """
    require(isinstance(comparison, Comparison), "describe_findings needs a Comparison",
            where="describe_findings(comparison)", hint="pass the result of compare_tiers()")
    require(language in ("en", "zh"), f"Unknown language {language!r}",
            where="describe_findings(language)", hint="use 'en' or 'zh'")
    require(limit is None or (isinstance(limit, (int, np.integer)) and limit >= 0),
            f"limit must be None or a non-negative integer, got {limit!r}",
            where="describe_findings(limit)")
    findings = comparison.findings
    min_n = comparison.params.get("min_group_size", "")

    sentences: list[str] = []
    notes: list[str] = []
    compared = findings[findings["kind"].isin(["ratio", "difference", "association"])]
    for _, row in findings.iterrows():
        kind = row["kind"]
        if kind in ("ratio", "difference"):
            sentences.append(_pair_sentence(row, language))
        elif kind == "association":
            sentences.append(_association_sentence(row, language))
        elif kind == "excluded_tier":
            notes.append(_excluded_sentence(row, language, min_n))
        elif kind == "not_tested":
            reason = t(f"stats.reason_{row['note']}", language, min_n=min_n)
            notes.append(t("stats.not_tested", language,
                           metric=_metric_name(row["metric"], language, mid_sentence=False),
                           reason=reason))
    if len(compared) and not compared["meaningful"].any():
        sentences.insert(0, t("stats.overall_no_difference", language))
    if limit is not None:
        sentences = sentences[: int(limit)]
    return sentences + notes


def _reason(row, language: str) -> str:
    key = "stats.reason_negligible" if row["significant"] else "stats.reason_not_significant"
    return t(key, language)


def _pair_sentence(row, language: str) -> str:
    metric = _metric_name(row["metric"], language, mid_sentence=True)
    g1, g2 = row["group1"], row["group2"]
    delta = _delta_text(row["cliffs_delta"])
    if not row["meaningful"]:
        return t("stats.finding_no_difference", language, pair=_pair_text(g1, g2, language),
                 metric=metric, m1=_num(row["median1"]), m2=_num(row["median2"]),
                 delta=delta, reason=_reason(row, language))
    magnitude = t(f"stats.magnitude_{row['magnitude']}", language)
    who = _tier_text("tier_customers", g1, language)
    ref = _tier_text("tier_ref", g2, language)
    if row["kind"] == "ratio":
        # One precision for the estimate and its interval, chosen by the estimate.
        decimals = _ratio_decimals(row["ratio"])
        return t("stats.finding_ratio", language, g1=who, g2=ref, metric=metric,
                 ratio=_ratio_text(row["ratio"], decimals),
                 low=_ratio_text(row["ratio_ci_low"], decimals),
                 high=_ratio_text(row["ratio_ci_high"], decimals),
                 magnitude=magnitude, delta=delta)
    diff = float(row["difference"])
    low, high = _interval(row["difference_ci_low"], row["difference_ci_high"], diff, _num)
    direction = t("stats.higher" if diff >= 0 else "stats.lower", language)
    return t("stats.finding_difference", language, g1=who, g2=ref, metric=metric,
             diff=_num(abs(diff)), direction=direction, m1=_num(row["median1"]),
             m2=_num(row["median2"]), low=low, high=high, magnitude=magnitude, delta=delta)


def _association_sentence(row, language: str) -> str:
    attribute = _metric_name(row["metric"], language, mid_sentence=True)
    v = _delta_text(row["cramers_v"])
    if row["meaningful"]:
        return t("stats.finding_association", language, attribute=attribute, v=v,
                 magnitude=t(f"stats.magnitude_{row['magnitude']}", language))
    return t("stats.finding_no_association", language, attribute=attribute, v=v,
             reason=_reason(row, language))


def _excluded_sentence(row, language: str, min_n) -> str:
    tier = _tier_text("tier_name", row["group1"], language)
    n = int(row["n1"])
    if row["metric"] == "":
        key = "stats.excluded_tier_empty" if n == 0 else "stats.excluded_tier"
        return t(key, language, tier=tier, n=n, min_n=min_n)
    return t("stats.excluded_tier_metric", language, tier=tier, n=n, min_n=min_n,
             metric=_metric_name(row["metric"], language, mid_sentence=True))

