"""Statistical comparison of customer tiers: tidy tables of tests, descriptives, findings.

Spend, order counts and recency are heavy-tailed, so by default every numeric metric
is compared with rank-based methods (``test="kruskal"``); ``test="welch"`` compares
means instead, for readers who need them. Every result leads with an effect size and
an interval rather than a p-value (with thousands of customers every p-value is tiny).

Methods and conventions (fixed here and in :mod:`tiering.analysis.effects`, which
defines the effect sizes with their intervals and magnitude thresholds, Holm's
adjustment and the bootstrap, so that a reviewer can check them):

* **Omnibus test per metric**, ``test="kruskal"`` (default): Kruskal-Wallis H
  (``scipy.stats.kruskal``, corrected for ties), df = k - 1; effect size epsilon
  squared.
* **Omnibus test per metric**, ``test="welch"``: Welch's heteroscedastic one-way
  ANOVA (``statsmodels.stats.oneway.anova_oneway(use_var="unequal")``); ``df`` is the
  numerator and ``df2`` the Welch denominator degrees of freedom; effect size omega
  squared estimated from the Welch F. A metric on which some tier has no variance at
  all cannot be tested this way and gets a ``not_tested`` row.
* **Pairwise test**, kruskal: Dunn (1964) z test on the joint ranks with the tie
  correction of Glantz (2012); p-values from ``scikit_posthocs.posthoc_dunn``
  (two-sided, unadjusted). ``statistic`` is Dunn's z, positive when ``group1`` (the
  better tier) has the higher mean rank. Effect size Cliff's delta with its analytic
  asymmetric 95% interval.
* **Pairwise test**, welch: Games-Howell (p-values from scikit-posthocs'
  ``posthoc_games_howell``, studentized range with Welch degrees of freedom, so they
  already allow for all pairs of one metric). ``statistic`` is Welch's t of
  ``group1 - group2``, ``df2`` its Welch-Satterthwaite degrees of freedom. Effect size
  Hedges' g with its normal-theory 95% interval.
* **Categorical attributes**: Pearson chi-square on the tier x category table (no
  continuity correction); for a 2 x 2 table with an expected count below 5, Fisher's
  exact test (``scipy.stats.fisher_exact``, two-sided; ``statistic`` is the sample odds
  ratio). Effect size: bias-corrected Cramér's V. Which cells drive an association:
  adjusted standardised residuals, in ``Comparison.residuals``; |residual| > 2 marks a
  cell that departs from independence.
* **Multiplicity, across metrics as well as pairs**: the omnibus p-values
  (Kruskal-Wallis / Welch and chi-square / Fisher rows) are Holm-adjusted across all
  metrics and attributes of one comparison. Dunn p-values are Holm-adjusted across
  every pair of every metric of the comparison (one family). Games-Howell p-values,
  already adjusted for the pairs of their metric, are multiplied by the number of
  metrics tested (Bonferroni across metrics). ``significant`` is ``p_adj < alpha``.
* **Intervals for medians, means and ratios**: seeded 95% percentile bootstrap
  (:func:`tiering.analysis.effects.bootstrap_medians` and ``bootstrap_means``; tiers
  of more than ``BOOTSTRAP_MAX_N`` customers get the m-out-of-n bootstrap for their
  mean, and ``params["bootstrap_subsampled"]`` lists them). Ratios and differences
  combine independent draws of the two tiers.
* **Small tiers**: a tier with fewer than ``min_group_size`` customers (with a value
  for the metric) is left out of that metric's tests; a row in ``tests`` and a finding
  say so. A metric with no variance, or with fewer than two testable tiers, gets one
  ``not_tested`` row with NaN statistics instead of an exception.

Findings compare adjacent tiers (1st vs 2nd, 2nd vs 3rd, ...). A difference is called
*meaningful* only when it is significant (adjusted as above) and at least "small" by
the stated convention. For metrics where lower is better (``recency_days``), when a
median (mean) is zero or negative, or when the bootstrap ratio is not well defined,
the finding reports a difference instead of a ratio.

The tables hold numbers and codes (``kind``, ``note``, ``magnitude``,
``effect_size_name``), no report language; the report layer's statistics module
(``present/stats.py``, ``describe_findings``) turns them into sentences. The one text
in them is the fixed English reason after ``not_tested:`` and ``excluded_tier:`` in
``tests.test``, written as is to ``comparisons.csv``.

Longer than 800 lines because :func:`compare_tiers` and the row builders it calls
(about 800 lines together) share the row layouts and the lists they fill; the numerical
building blocks they use are already apart, in :mod:`tiering.analysis.effects`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.analysis import effects
from tiering.errors import DataError, closest, require

__all__ = [
    "FINDINGS_COLUMNS",
    "LOWER_IS_BETTER",
    "RESIDUALS_COLUMNS",
    "SUMMARY_COLUMNS",
    "TESTS",
    "TESTS_COLUMNS",
    "Comparison",
    "compare_tiers",
    "MASTER_PROFILE_COLUMNS",
    "master_profile",
]

#: Metrics where a smaller value is the better one; findings report differences.
LOWER_IS_BETTER = frozenset({"recency_days", "overdue_days"})
#: The comparison families: rank-based (medians) or Welch (means).
TESTS = ("kruskal", "welch")

TESTS_COLUMNS = (
    "metric",
    "test",
    "group1",
    "group2",
    "n1",
    "n2",
    "statistic",
    "df",
    "p_value",
    "p_adj",
    "effect_size_name",
    "effect_size",
    "ci_low",
    "ci_high",
    "magnitude",
    "significant",
    "df2",
)
SUMMARY_COLUMNS = (
    "metric",
    "tier",
    "n",
    "mean",
    "median",
    "q1",
    "q3",
    "median_ci_low",
    "median_ci_high",
    "mean_ci_low",
    "mean_ci_high",
)
FINDINGS_COLUMNS = (
    "metric",
    "kind",
    "group1",
    "group2",
    "n1",
    "n2",
    "median1",
    "median2",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "cliffs_delta",
    "cliffs_delta_ci_low",
    "cliffs_delta_ci_high",
    "cramers_v",
    "magnitude",
    "p_adj",
    "significant",
    "meaningful",
    "lower_is_better",
    "note",
    "center",
    "mean1",
    "mean2",
    "effect_size_name",
    "effect_size",
    "effect_size_ci_low",
    "effect_size_ci_high",
)
RESIDUALS_COLUMNS = ("attribute", "tier", "category", "observed", "expected", "residual")

# Offsets that keep the seeded random streams of different purposes independent.
_RNG_SUMMARY, _RNG_RATIO, _RNG_POSTHOC, _RNG_MEAN = 1, 2, 3, 5


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
        ``describe_findings`` of the report layer (``present/stats.py``) turns them
        into sentences.
    params : dict
        The options used, the conventions applied and what was subsampled.
    residuals : DataFrame
        Adjusted standardised residuals of every tested tier x category table;
        columns ``RESIDUALS_COLUMNS``: ``attribute, tier, category, observed``
        (customers), ``expected`` (under independence), ``residual``.
    """

    tests: pd.DataFrame
    summary: pd.DataFrame
    findings: pd.DataFrame
    params: dict = field(default_factory=dict)
    residuals: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(RESIDUALS_COLUMNS))
    )

    @property
    def test(self) -> str:
        """``kruskal`` or ``welch``: which family of tests was run."""
        return str(self.params.get("test", "kruskal"))


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator that depends only on the seed and the keys, not on call order."""
    return np.random.default_rng([seed, *keys])


def _subsample(values: np.ndarray, max_n: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= max_n:
        return values
    keep = np.sort(rng.choice(len(values), size=max_n, replace=False))
    return values[keep]


def _as_names(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    require(
        isinstance(value, Iterable),
        f"{what} must be a list of column names",
        where=f"compare_tiers({what}=...)",
        hint=f"pass e.g. {what}=['monetary']",
    )
    names = tuple(value)
    for name in names:
        require(
            isinstance(name, str),
            f"{what} must contain column names, got {name!r}",
            where=f"compare_tiers({what}=...)",
        )
    require(
        len(set(names)) == len(names),
        f"{what} lists a column twice: {list(names)}",
        where=f"compare_tiers({what}=...)",
        hint="list each column once",
    )
    return names


def _require_column(frame: pd.DataFrame, name: str, what: str) -> None:
    if name in frame.columns:
        return
    guess = closest(name, [str(c) for c in frame.columns])
    hint = f"did you mean {guess!r}?" if guess else f"available columns: {list(frame.columns)}"
    raise DataError(
        f"The tiered table has no {what} column {name!r}",
        where=f"compare_tiers(... {name!r})",
        hint=hint,
    )


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
        "metric": metric,
        "test": test,
        "group1": "",
        "group2": "",
        "n1": pd.NA,
        "n2": pd.NA,
        "statistic": np.nan,
        "df": pd.NA,
        "p_value": np.nan,
        "p_adj": np.nan,
        "effect_size_name": "",
        "effect_size": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "magnitude": "",
        "significant": False,
        "df2": np.nan,
    }


def _empty_finding(metric: str, kind: str) -> dict:
    row = {c: np.nan for c in FINDINGS_COLUMNS}
    row.update(
        {
            "metric": metric,
            "kind": kind,
            "group1": "",
            "group2": "",
            "n1": pd.NA,
            "n2": pd.NA,
            "magnitude": "",
            "significant": False,
            "meaningful": False,
            "lower_is_better": metric in LOWER_IS_BETTER,
            "note": "",
            "center": "",
            "effect_size_name": "",
        }
    )
    return row


def _not_tested(metric: str, reason: str, note: str, tests: list, findings: list) -> None:
    tests.append(_empty_test_row(metric, f"not_tested: {reason}"))
    f = _empty_finding(metric, "not_tested")
    f["note"] = note
    findings.append(f)


# --------------------------------------------------------------------------- main API


def _exclude_small_tiers(
    name: str,
    labels,
    sizes: list[int],
    min_group_size: int,
    small_overall,
    tests: list,
    findings: list,
) -> list[int]:
    """The tiers with at least ``min_group_size`` customers; a test row (and a finding,
    unless the tier is already reported as small overall) for each of the others."""
    testable = [i for i, n in enumerate(sizes) if n >= min_group_size]
    for i, n in enumerate(sizes):
        if i in testable:
            continue
        row = _empty_test_row(
            name, f"excluded_tier: {n} customers < min_group_size {min_group_size}"
        )
        row.update({"group1": labels[i], "n1": n})
        tests.append(row)
        if i not in small_overall:
            f = _empty_finding(name, "excluded_tier")
            f.update({"group1": labels[i], "n1": n, "note": "too_few_customers"})
            findings.append(f)
    return testable


def compare_tiers(
    tiered: pd.DataFrame,
    *,
    metrics: Sequence[str],
    categorical: Sequence[str] = (),
    tier_col: str = "tier",
    test: str = "kruskal",
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
    test : ``"kruskal"`` or ``"welch"``
        Rank-based comparison of distributions and medians (Kruskal-Wallis, Dunn,
        Cliff's delta) or comparison of means (Welch's ANOVA, Games-Howell, Hedges' g).
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
        (post-hoc test and pairwise effect size) by a seeded random subsample of this
        size; the omnibus test and the descriptives still use every customer.
        ``params["posthoc_subsampled"]`` lists what was subsampled.

    Returns
    -------
    Comparison
        ``tests`` (one row per test, the columns of ``comparisons.csv``):

        - ``metric``: the metric or attribute column compared.
        - ``test``: ``kruskal_wallis`` or ``welch_anova`` (omnibus, one per metric),
          ``dunn`` or ``games_howell`` (one per tier pair), ``chi_square`` or
          ``fisher_exact`` (one per attribute), ``excluded_tier: ...`` (a tier left
          out, with the reason) or ``not_tested: ...`` (with the reason).
        - ``group1``, ``group2``: the tiers of a pair (better tier first); empty for
          omnibus rows; ``group1`` is the excluded tier on ``excluded_tier`` rows.
        - ``n1``, ``n2``: customers in ``group1`` / ``group2``; on omnibus rows ``n1``
          is the total tested and ``n2`` is empty.
        - ``statistic``: H (Kruskal-Wallis), Welch's F, Dunn's z, Welch's t
          (Games-Howell), Pearson chi-square, or the sample odds ratio (Fisher).
        - ``df``: degrees of freedom of omnibus tests (k - 1; (r-1)(c-1)).
        - ``p_value``: two-sided p-value (Games-Howell: adjusted for the pairs of its
          metric by the studentized range, as the test defines it).
        - ``p_adj``: the p-value adjusted across metrics as well as pairs: omnibus
          rows Holm across all metrics and attributes; Dunn rows Holm across all
          pairs of all metrics; Games-Howell rows times the number of metrics.
        - ``effect_size_name``: ``epsilon_squared``, ``omega_squared``,
          ``cliffs_delta``, ``hedges_g`` or ``cramers_v``.
        - ``effect_size``, ``ci_low``, ``ci_high``: the effect size and its 95%
          interval (analytic for Cliff's delta and Hedges' g; none for the others).
        - ``magnitude``: negligible / small / medium / large by the conventions of
          :mod:`tiering.analysis.effects`.
        - ``significant``: ``p_adj < alpha``.
        - ``df2``: Welch's denominator degrees of freedom (``welch_anova``) or the
          Welch-Satterthwaite degrees of freedom of the pair (``games_howell``).

        ``summary`` (one row per metric x tier, every tier including excluded ones):
        ``metric, tier, n, mean, median, q1, q3`` and 95% percentile-bootstrap
        intervals ``median_ci_low, median_ci_high, mean_ci_low, mean_ci_high``.

        ``findings`` (one row per adjacent tier pair and metric, per attribute, per
        excluded tier and per untested metric): ``kind`` is ``ratio`` (center1 /
        center2 with bootstrap interval), ``difference`` (center1 - center2 with
        bootstrap interval; used for lower-is-better metrics and non-positive
        centers), ``association`` (attribute, ``cramers_v``), ``excluded_tier`` or
        ``not_tested``; ``center`` is ``median`` (kruskal) or ``mean`` (welch) and
        ``median1, median2`` / ``mean1, mean2`` hold the tiers' values;
        ``effect_size_name``, ``effect_size`` and its interval (Cliff's delta, also
        in ``cliffs_delta*``, or Hedges' g); ``magnitude``; ``p_adj``;
        ``significant``; ``meaningful`` (significant and at least small); ``note``
        (reason code: ``no_variance``, ``zero_variance_tier``, ``too_few_tiers``,
        ``too_few_customers``, ``too_few_categories``, ``lower_is_better``,
        ``non_positive_median``, ``ratio_undefined``, ``low_expected_counts``).
        ``ratio`` and ``difference`` columns are both filled when defined; ``kind``
        says which one a sentence leads with.

        ``residuals``: adjusted standardised residuals per attribute x tier x category.
    """
    require(
        isinstance(tiered, pd.DataFrame),
        "compare_tiers needs a pandas DataFrame",
        where="compare_tiers(tiered)",
        error=DataError,
    )
    metrics = _as_names(metrics, "metrics")
    categorical = _as_names(categorical, "categorical")
    require(
        bool(metrics) or bool(categorical),
        "Nothing to compare",
        where="compare_tiers(metrics=..., categorical=...)",
        hint="name at least one metric or categorical column",
    )
    require(
        isinstance(tier_col, str), "tier_col must be a column name", where="compare_tiers(tier_col)"
    )
    require(
        test in TESTS,
        f"Unknown test {test!r}",
        where="compare_tiers(test) / stats.test",
        hint="use 'kruskal' (medians, rank-based; the default) or 'welch' (means)",
    )
    _require_column(tiered, tier_col, "tier")
    for name in metrics:
        _require_column(tiered, name, "metric")
        col = tiered[name]
        require(
            pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col),
            f"Metric column {name!r} is not numeric (dtype {col.dtype})",
            where=f"compare_tiers(metrics=[..., {name!r}])",
            hint="compare it as a categorical attribute, or convert it to numbers first",
            error=DataError,
        )
    for name in categorical:
        _require_column(tiered, name, "categorical")
    overlap = (set(metrics) | set(categorical)) & {tier_col}
    require(
        not overlap,
        f"The tier column {tier_col!r} cannot also be compared",
        where="compare_tiers(metrics / categorical)",
    )
    both = sorted(set(metrics) & set(categorical))
    require(
        not both,
        f"Columns listed as both metric and categorical: {both}",
        where="compare_tiers(metrics, categorical)",
    )
    require(
        isinstance(alpha, (int, float)) and 0 < alpha < 1,
        f"alpha must be between 0 and 1, got {alpha!r}",
        where="compare_tiers(alpha)",
        hint="the usual choice is 0.05",
    )
    require(
        isinstance(min_group_size, (int, np.integer)) and min_group_size >= 2,
        f"min_group_size must be an integer of at least 2, got {min_group_size!r}",
        where="compare_tiers(min_group_size)",
    )
    require(
        isinstance(n_boot, (int, np.integer)) and n_boot >= 100,
        f"n_boot must be an integer of at least 100, got {n_boot!r}",
        where="compare_tiers(n_boot)",
        hint="2000 resamples give stable 95% intervals",
    )
    require(
        isinstance(seed, (int, np.integer)) and seed >= 0,
        f"seed must be a non-negative integer, got {seed!r}",
        where="compare_tiers(seed)",
    )
    require(
        max_posthoc_n is None
        or (isinstance(max_posthoc_n, (int, np.integer)) and max_posthoc_n >= min_group_size),
        f"max_posthoc_n must be None or an integer >= min_group_size, got {max_posthoc_n!r}",
        where="compare_tiers(max_posthoc_n)",
    )

    labels, codes = _tier_codes(tiered[tier_col])
    k_all = len(labels)
    tier_sizes = np.bincount(codes[codes >= 0], minlength=k_all) if k_all else np.zeros(0, int)
    small_overall = [i for i in range(k_all) if tier_sizes[i] < min_group_size]
    center = "median" if test == "kruskal" else "mean"

    tests: list[dict] = []
    summary: list[dict] = []
    findings: list[dict] = []
    residuals: list[dict] = []
    boot_subsampled: list[dict] = []
    posthoc_subsampled: list[dict] = []
    omnibus_rows: list[int] = []  # indices into tests
    pair_rows: list[int] = []  # indices into tests
    linked: list[tuple[int, int]] = []  # (finding index, test index)
    pair_metrics: set[str] = set()

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
            summary.append(
                _describe(
                    metric,
                    labels[ti],
                    sample,
                    n_boot=n_boot,
                    seed=seed,
                    keys=(mi, ti),
                    subsampled=boot_subsampled,
                )
            )

        testable = _exclude_small_tiers(
            metric, labels, [len(g) for g in groups], min_group_size, small_overall, tests, findings
        )

        if len(testable) < 2:
            _not_tested(
                metric,
                f"fewer than 2 tiers with at least {min_group_size} customers",
                "too_few_tiers",
                tests,
                findings,
            )
            continue
        tested = [groups[i] for i in testable]
        pooled = np.concatenate(tested)
        if np.ptp(pooled) == 0:
            _not_tested(
                metric, "no variance (every value is the same)", "no_variance", tests, findings
            )
            continue
        if test == "welch" and any(np.ptp(g) == 0 for g in tested):
            flat = [labels[i] for i in testable if np.ptp(groups[i]) == 0]
            _not_tested(
                metric,
                f"no variance within tier(s) {', '.join(flat)}; Welch's "
                "ANOVA needs some in every tier",
                "zero_variance_tier",
                tests,
                findings,
            )
            continue

        omnibus_rows.append(len(tests))
        tests.append(_omnibus_row(metric, tested, test))

        # Pairwise stage, optionally on seeded subsamples of very large tiers.
        post = []
        for i in testable:
            sample = groups[i]
            if max_posthoc_n is not None and len(sample) > max_posthoc_n:
                sample = _subsample(sample, int(max_posthoc_n), _rng(seed, _RNG_POSTHOC, mi, i))
                posthoc_subsampled.append(
                    {
                        "metric": metric,
                        "tier": labels[i],
                        "n": len(groups[i]),
                        "n_used": len(sample),
                    }
                )
            post.append(sample)
        pair_index = {}
        for (a, b), row in _pair_rows(metric, post, [labels[i] for i in testable], test):
            pair_index[(a, b)] = len(tests)
            pair_rows.append(len(tests))
            tests.append(row)
        pair_metrics.add(metric)

        # Findings: adjacent tested tiers.
        for a in range(len(testable) - 1):
            b = a + 1
            linked.append((len(findings), pair_index[(a, b)]))
            findings.append(
                _pair_finding(
                    metric,
                    groups[testable[a]],
                    groups[testable[b]],
                    tests[pair_index[(a, b)]],
                    center=center,
                    n_boot=n_boot,
                    seed=seed,
                    keys=(mi, testable[a], testable[b]),
                )
            )

    for attribute in categorical:
        _categorical(
            tiered[attribute],
            attribute,
            codes,
            labels,
            small_overall,
            min_group_size=min_group_size,
            tests=tests,
            findings=findings,
            residuals=residuals,
            omnibus_rows=omnibus_rows,
            linked=linked,
        )

    # Multiplicity: omnibus rows across metrics and attributes; pairs across metrics too.
    omnibus_p = [tests[i]["p_value"] for i in omnibus_rows]
    for i, adj in zip(omnibus_rows, effects.holm(omnibus_p)):
        tests[i]["p_adj"] = float(adj)
    if test == "kruskal":
        for i, adj in zip(pair_rows, effects.holm([tests[i]["p_value"] for i in pair_rows])):
            tests[i]["p_adj"] = float(adj)
    else:
        factor = max(len(pair_metrics), 1)
        for i in pair_rows:
            tests[i]["p_adj"] = float(min(1.0, tests[i]["p_value"] * factor))
    for i in omnibus_rows + pair_rows:
        tests[i]["significant"] = bool(tests[i]["p_adj"] < alpha)
    for fi, ti in linked:
        findings[fi]["p_adj"] = tests[ti]["p_adj"]
        findings[fi]["significant"] = tests[ti]["significant"]
        findings[fi]["meaningful"] = bool(
            tests[ti]["significant"] and tests[ti]["magnitude"] not in ("", "negligible")
        )

    return Comparison(
        tests=_frame(tests, TESTS_COLUMNS, ints=("n1", "n2", "df")),
        summary=_summary_frame(summary, labels),
        findings=_frame(findings, FINDINGS_COLUMNS, ints=("n1", "n2")),
        params=_params(
            metrics,
            categorical,
            tier_col,
            labels,
            tier_sizes,
            test=test,
            alpha=alpha,
            min_group_size=min_group_size,
            n_boot=n_boot,
            seed=seed,
            max_posthoc_n=max_posthoc_n,
            boot_subsampled=boot_subsampled,
            posthoc_subsampled=posthoc_subsampled,
        ),
        residuals=_residuals_frame(residuals),
    )


def _omnibus_row(metric: str, tested: list[np.ndarray], test: str) -> dict:
    """Kruskal-Wallis with epsilon squared, or Welch's ANOVA with omega squared."""
    from scipy import stats as ss

    n_total = int(sum(len(g) for g in tested))
    if test == "kruskal":
        h, p = ss.kruskal(*tested)
        eps = effects.epsilon_squared(h, n_total)
        row = _empty_test_row(metric, "kruskal_wallis")
        row.update(
            {
                "n1": n_total,
                "statistic": float(h),
                "df": len(tested) - 1,
                "p_value": float(p),
                "effect_size_name": "epsilon_squared",
                "effect_size": eps,
                "magnitude": effects.magnitude(eps, effects.EPSILON_SQ_THRESHOLDS),
            }
        )
        return row
    from statsmodels.stats.oneway import anova_oneway

    res = anova_oneway(tested, use_var="unequal", welch_correction=True)
    f, df1 = float(res.statistic), float(res.df_num)
    omega = effects.omega_squared(f, df1, n_total)
    row = _empty_test_row(metric, "welch_anova")
    row.update(
        {
            "n1": n_total,
            "statistic": f,
            "df": len(tested) - 1,
            "df2": float(res.df_denom),
            "p_value": float(res.pvalue),
            "effect_size_name": "omega_squared",
            "effect_size": omega,
            "magnitude": effects.magnitude(omega, effects.OMEGA_SQ_THRESHOLDS),
        }
    )
    return row


def _pair_rows(metric: str, post: list[np.ndarray], names: list[str], test: str):
    """(pair, test row) for every pair of tested tiers, better tier first."""
    k = len(post)
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    if test == "kruskal":
        z = effects.dunn_z(post)
        p_mat = effects.posthoc_p(post, "dunn")
    else:
        p_mat = effects.posthoc_p(post, "games_howell")
    for a, b in pairs:
        row = _empty_test_row(metric, "dunn" if test == "kruskal" else "games_howell")
        row.update(
            {
                "group1": names[a],
                "group2": names[b],
                "n1": len(post[a]),
                "n2": len(post[b]),
                "p_value": float(p_mat[a, b]),
            }
        )
        if test == "kruskal":
            delta, lo, hi = effects.cliffs_delta(post[a], post[b])
            row.update(
                {
                    "statistic": float(z[a, b]),
                    "effect_size_name": "cliffs_delta",
                    "effect_size": delta,
                    "ci_low": lo,
                    "ci_high": hi,
                    "magnitude": effects.magnitude(delta, effects.CLIFF_THRESHOLDS),
                }
            )
        else:
            t_stat, df = effects.welch_t(post[a], post[b])
            g, lo, hi = effects.hedges_g(post[a], post[b])
            row.update(
                {
                    "statistic": t_stat,
                    "df2": df,
                    "effect_size_name": "hedges_g",
                    "effect_size": g,
                    "ci_low": lo,
                    "ci_high": hi,
                    "magnitude": effects.magnitude(g, effects.HEDGES_G_THRESHOLDS),
                }
            )
        yield (a, b), row


def _categorical(
    col: pd.Series,
    attribute: str,
    codes: np.ndarray,
    labels: list[str],
    small_overall: list[int],
    *,
    min_group_size: int,
    tests: list,
    findings: list,
    residuals: list,
    omnibus_rows: list,
    linked: list,
) -> None:
    """Chi-square (or Fisher's exact test) of tier x category, Cramér's V, residuals."""
    from scipy import stats as ss

    k_all = len(labels)
    valid = col.notna().to_numpy() & (codes >= 0)
    counts = np.bincount(codes[valid], minlength=k_all) if k_all else np.zeros(0, int)
    testable = _exclude_small_tiers(
        attribute, labels, [int(c) for c in counts], min_group_size, small_overall, tests, findings
    )
    if len(testable) < 2:
        _not_tested(
            attribute,
            f"fewer than 2 tiers with at least {min_group_size} customers",
            "too_few_tiers",
            tests,
            findings,
        )
        return
    keep = valid & np.isin(codes, testable)
    text = isinstance(col.dtype, pd.StringDtype)  # else as text the way numpy writes it
    table = _crosstab(codes[keep], col[keep] if text else col.to_numpy()[keep].astype(str))
    if table.shape[1] < 2:
        _not_tested(attribute, "fewer than 2 categories", "too_few_categories", tests, findings)
        return
    observed = table.to_numpy()
    v, chi2, dof, p, expected = effects.cramers_v(observed)
    df_star = min(table.shape) - 1
    thresholds = tuple(c / math.sqrt(df_star) for c in effects.COHEN_W_THRESHOLDS)
    low_expected = float(expected.min()) < 5
    if observed.shape == (2, 2) and low_expected:
        odds, p_exact = ss.fisher_exact(observed, alternative="two-sided")
        row = _empty_test_row(attribute, "fisher_exact")
        row.update({"statistic": float(odds), "p_value": float(p_exact)})
    else:
        row = _empty_test_row(attribute, "chi_square")
        row.update({"statistic": chi2, "df": dof, "p_value": p})
    row.update(
        {
            "n1": int(observed.sum()),
            "effect_size_name": "cramers_v",
            "effect_size": v,
            "magnitude": effects.magnitude(v, thresholds),
        }
    )
    omnibus_rows.append(len(tests))
    tests.append(row)
    f = _empty_finding(attribute, "association")
    f.update(
        {
            "n1": row["n1"],
            "cramers_v": v,
            "magnitude": row["magnitude"],
            "effect_size_name": "cramers_v",
            "effect_size": v,
            # The chi-square approximation is rough when expected counts are < 5.
            "note": "low_expected_counts" if low_expected and row["test"] == "chi_square" else "",
        }
    )
    linked.append((len(findings), len(tests) - 1))
    findings.append(f)
    resid = effects.standardized_residuals(observed)
    for r, code in enumerate(table.index):
        for c, category in enumerate(table.columns):
            residuals.append(
                {
                    "attribute": attribute,
                    "tier": labels[int(code)],
                    "category": str(category),
                    "observed": int(observed[r, c]),
                    "expected": float(expected[r, c]),
                    "residual": float(resid[r, c]),
                }
            )


def _crosstab(rows: np.ndarray, values) -> pd.DataFrame:
    """Counts of tier code (index, sorted) x value as text (columns, sorted): the numbers
    of ``pd.crosstab(rows, values)`` from one sorted factorisation and a ``bincount``,
    without turning a million values into Python strings."""
    cats, col_codes = pd.factorize(pd.Series(values).astype(str), sort=True)[::-1]
    row_ids, row_codes = np.unique(rows, return_inverse=True)
    flat = row_codes.reshape(-1) * len(cats) + col_codes
    counts = np.bincount(flat, minlength=len(row_ids) * len(cats)).astype(np.int64)
    return pd.DataFrame(counts.reshape(len(row_ids), len(cats)), index=row_ids, columns=cats)


def _params(
    metrics,
    categorical,
    tier_col,
    labels,
    tier_sizes,
    *,
    test,
    alpha,
    min_group_size,
    n_boot,
    seed,
    max_posthoc_n,
    boot_subsampled,
    posthoc_subsampled,
) -> dict:
    conventions = {
        "epsilon_squared": "H / ((n^2 - 1) / (n + 1)) (Tomczak & Tomczak 2014); "
        "magnitude thresholds 0.01 / 0.08 / 0.26 (rcompanion)",
        "omega_squared": "df1 (F - 1) / (df1 (F - 1) + N) from Welch's F, floored at 0; "
        "thresholds 0.01 / 0.06 / 0.14 (Cohen 1988)",
        "cliffs_delta": "P(X1 > X2) - P(X1 < X2); 95% CI analytic, Cliff (1996) consistent "
        "variance, normal quantile; thresholds 0.147 / 0.33 / 0.474 "
        "(Romano et al. 2006)",
        "hedges_g": "pooled-SD standardised mean difference with small-sample factor J; 95% "
        "CI normal theory (Borenstein et al. 2009); thresholds 0.2 / 0.5 / 0.8 "
        "(Cohen 1988)",
        "cramers_v": "bias-corrected (Bergsma 2013); thresholds 0.1 / 0.3 / 0.5 divided by "
        "sqrt(min(r, c) - 1) (Cohen 1988); Fisher's exact test for 2 x 2 tables "
        "with an expected count below 5",
        "residuals": "adjusted standardised residuals (Agresti 2007); |r| > 2 departs from "
        "independence",
        "dunn": "scikit-posthocs posthoc_dunn, two-sided, tie-corrected",
        "games_howell": "scikit-posthocs posthoc_games_howell (studentized range, Welch df)",
        "omnibus_adjustment": "Holm across all omnibus tests (every metric and attribute)",
        "pairwise_adjustment": (
            "Holm across all Dunn tests (every pair of every metric)"
            if test == "kruskal"
            else "Games-Howell p times the number of metrics (Bonferroni across metrics)"
        ),
        "bootstrap": "95% percentile; medians drawn from their exact resampling distribution; "
        f"means by scipy.stats.bootstrap up to {effects.BOOTSTRAP_MAX_N} customers, "
        "m-out-of-n rescaled above",
        "meaningful": "p_adj < alpha and magnitude at least small",
    }
    return {
        "test": test,
        "metrics": list(metrics),
        "categorical": list(categorical),
        "tier_col": tier_col,
        "tiers": list(labels),
        "tier_sizes": {labels[i]: int(tier_sizes[i]) for i in range(len(labels))},
        "alpha": float(alpha),
        "min_group_size": int(min_group_size),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "max_posthoc_n": None if max_posthoc_n is None else int(max_posthoc_n),
        "ci_level": effects.CI_LEVEL,
        "bootstrap_method": "percentile",
        "bootstrap_max_n": effects.BOOTSTRAP_MAX_N,
        "bootstrap_subsampled": boot_subsampled,
        "posthoc_subsampled": posthoc_subsampled,
        "lower_is_better": sorted(LOWER_IS_BETTER),
        "thresholds": {
            "epsilon_squared": list(effects.EPSILON_SQ_THRESHOLDS),
            "omega_squared": list(effects.OMEGA_SQ_THRESHOLDS),
            "cliffs_delta": list(effects.CLIFF_THRESHOLDS),
            "hedges_g": list(effects.HEDGES_G_THRESHOLDS),
            "cramers_v": list(effects.COHEN_W_THRESHOLDS),
        },
        "conventions": conventions,
    }


def _frame(rows: list[dict], columns: Sequence[str], *, ints: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for col in ints:
        frame[col] = pd.array(frame[col].tolist(), dtype="Int64")
    for col in ("significant", "meaningful", "lower_is_better"):
        if col in frame.columns:
            frame[col] = frame[col].astype(bool)
    for col in frame.columns:
        if col in ints or frame[col].dtype == bool:
            continue
        if all(isinstance(v, str) for v in frame[col]):
            frame[col] = frame[col].astype(str)
        else:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame.reset_index(drop=True)


def _summary_frame(rows: list[dict], labels: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    frame["tier"] = pd.Categorical(frame["tier"], categories=labels, ordered=True)
    frame["n"] = frame["n"].astype("int64")
    return frame.reset_index(drop=True)


def _residuals_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(RESIDUALS_COLUMNS))
    frame["observed"] = frame["observed"].astype("int64")
    for col in ("expected", "residual"):
        frame[col] = frame[col].astype(float)
    return frame.reset_index(drop=True)


def _describe(
    metric: str,
    label: str,
    sample: np.ndarray,
    *,
    n_boot: int,
    seed: int,
    keys: tuple[int, ...],
    subsampled: list[dict],
) -> dict:
    n = len(sample)
    row = {"metric": metric, "tier": label, "n": n}
    if n == 0:
        row.update({c: np.nan for c in SUMMARY_COLUMNS[3:]})
        return row
    row.update(
        {
            "mean": float(np.mean(sample)),
            "median": float(np.median(sample)),
            "q1": float(np.quantile(sample, 0.25)),
            "q3": float(np.quantile(sample, 0.75)),
        }
    )
    if n < 2:
        row.update(
            {
                "median_ci_low": np.nan,
                "median_ci_high": np.nan,
                "mean_ci_low": np.nan,
                "mean_ci_high": np.nan,
            }
        )
        return row
    if np.ptp(sample) == 0:
        value = float(sample[0])
        row.update(
            {
                "median_ci_low": value,
                "median_ci_high": value,
                "mean_ci_low": value,
                "mean_ci_high": value,
            }
        )
        return row
    medians = effects.bootstrap_medians(sample, n_boot=n_boot, rng=_rng(seed, _RNG_SUMMARY, *keys))
    means, used = effects.bootstrap_means(sample, n_boot=n_boot, rng=_rng(seed, _RNG_MEAN, *keys))
    if used < n:
        subsampled.append(
            {"metric": metric, "tier": label, "n": n, "n_used": used, "purpose": "summary"}
        )
    row["median_ci_low"], row["median_ci_high"] = effects.percentile_interval(medians)
    row["mean_ci_low"], row["mean_ci_high"] = effects.percentile_interval(means)
    return row


def _center_draws(
    values: np.ndarray, center: str, *, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    if center == "median":
        return effects.bootstrap_medians(values, n_boot=n_boot, rng=rng)
    return effects.bootstrap_means(values, n_boot=n_boot, rng=rng)[0]


def _pair_finding(
    metric: str,
    x: np.ndarray,
    y: np.ndarray,
    test_row: dict,
    *,
    center: str,
    n_boot: int,
    seed: int,
    keys: tuple[int, ...],
) -> dict:
    """Finding for adjacent tiers: centers, ratio / difference with intervals, effect size.

    ``p_adj``, ``significant`` and ``meaningful`` are filled in by the caller once the
    p-values have been adjusted across metrics.
    """
    row = _empty_finding(metric, "difference")
    med1, med2 = float(np.median(x)), float(np.median(y))
    mean1, mean2 = float(np.mean(x)), float(np.mean(y))
    c1, c2 = (med1, med2) if center == "median" else (mean1, mean2)
    effect = test_row["effect_size_name"]
    row.update(
        {
            "group1": test_row["group1"],
            "group2": test_row["group2"],
            "n1": len(x),
            "n2": len(y),
            "median1": med1,
            "median2": med2,
            "mean1": mean1,
            "mean2": mean2,
            "center": center,
            "difference": c1 - c2,
            "effect_size_name": effect,
            "effect_size": test_row["effect_size"],
            "effect_size_ci_low": test_row["ci_low"],
            "effect_size_ci_high": test_row["ci_high"],
            "magnitude": test_row["magnitude"],
        }
    )
    if effect == "cliffs_delta":
        row.update(
            {
                "cliffs_delta": test_row["effect_size"],
                "cliffs_delta_ci_low": test_row["ci_low"],
                "cliffs_delta_ci_high": test_row["ci_high"],
            }
        )
    if np.ptp(np.concatenate([x, y])) == 0:
        d1 = d2 = None
        row["difference_ci_low"] = row["difference_ci_high"] = c1 - c2
    else:
        d1 = _center_draws(x, center, n_boot=n_boot, rng=_rng(seed, _RNG_RATIO, *keys, 0))
        d2 = _center_draws(y, center, n_boot=n_boot, rng=_rng(seed, _RNG_RATIO, *keys, 1))
        low, high = effects.percentile_interval(d1 - d2)
        row["difference_ci_low"], row["difference_ci_high"] = low, high
    ratio_ok = (
        c1 > 0
        and c2 > 0
        and d2 is not None
        and bool(np.all(d2 > 0))
        and bool(np.all(np.isfinite(d1 / d2)))
        and bool(np.all(d1 / d2 > 0))
    )
    if ratio_ok:
        low, high = effects.percentile_interval(d1 / d2)
        row.update({"ratio": c1 / c2, "ratio_ci_low": low, "ratio_ci_high": high})
    if metric in LOWER_IS_BETTER:
        row["note"] = "lower_is_better"
    elif ratio_ok:
        row["kind"] = "ratio"
    elif c2 <= 0 or c1 <= 0:
        row["note"] = "non_positive_median"
    else:
        row["note"] = "ratio_undefined"
    return row


#: The columns of :func:`master_profile`.
MASTER_PROFILE_COLUMNS = ("measure", "tier", "category", "customers", "known", "share", "median")


def master_profile(
    tiers: pd.DataFrame,
    *,
    categorical=(),
    numeric=(),
    labels=None,
    tier_col: str = "tier",
) -> pd.DataFrame:
    """Per tier, the distribution of the customer master's columns (or any others):
    one row per ``measure``, tier and ``category`` (:data:`MASTER_PROFILE_COLUMNS`).

    - A ``categorical`` column: one row per value found in the tier (blank values left
      out), ``customers`` with it, ``known`` (customers of the tier with a value) and
      ``share`` = customers / known; values in descending count, then by name.
    - ``overdue`` (a bool column, when named in ``categorical``): one row, ``category``
      ``"overdue"``: the customers overdue among those known.
    - A ``numeric`` column: one row, ``category`` ``""``, ``known`` customers with a
      value and their ``median`` (``customers`` = known, ``share`` NaN).

    ``labels``: the tiers best first (default: the categories of an ordered tier
    column, else as they appear). A tier without customers gives rows with 0 known."""
    col = tiers[tier_col]
    if labels is None:
        labels = (
            list(col.cat.categories)
            if isinstance(col.dtype, pd.CategoricalDtype)
            else list(dict.fromkeys(col.dropna()))
        )
    rows = []
    tier_text = col.astype(str)
    for tier in [str(x) for x in labels]:
        sub = tiers[(tier_text == tier).to_numpy()]
        for measure in categorical:
            values = sub[measure]
            if measure == "overdue":
                known = values.astype("boolean").dropna()
                hits = int(known.sum())
                share = hits / len(known) if len(known) else float("nan")
                rows.append((measure, tier, "overdue", hits, len(known), share, float("nan")))
                continue
            text = values.dropna().astype(str).str.strip()
            text = text[text != ""]
            counts = text.value_counts()
            counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
            for category, n in counts.items():
                rows.append(
                    (measure, tier, str(category), int(n), len(text), n / len(text), float("nan"))
                )
        for measure in numeric:
            v = pd.to_numeric(sub[measure], errors="coerce").dropna()
            median = float(v.median()) if len(v) else float("nan")
            rows.append((measure, tier, "", len(v), len(v), float("nan"), median))
    return pd.DataFrame(rows, columns=list(MASTER_PROFILE_COLUMNS))
