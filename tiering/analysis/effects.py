"""Effect sizes, their magnitudes, multiplicity, pairwise statistics and the bootstrap.

The building blocks of :func:`tiering.analysis.stats.compare_tiers` and of the holdout
check (:mod:`tiering.analysis.holdout`), kept apart from the comparison itself so that
each can be read and checked alone. Conventions:

* **Epsilon squared** (with Kruskal-Wallis H), in the definition of Tomczak & Tomczak
  (2014), ``epsilon² = H / ((n² - 1) / (n + 1))``, which equals ``H / (n - 1)``.
  Magnitude: negligible < 0.01 <= small < 0.08 <= medium < 0.26 <= large (the
  epsilon-squared table of Mangiafico's *rcompanion* handbook).
* **Omega squared** estimated from Welch's F,
  ``omega² = df1 (F - 1) / (df1 (F - 1) + N)`` (floored at 0), with Cohen's (1988)
  thresholds 0.01 / 0.06 / 0.14.
* **Cliff's delta**, ``P(X1 > X2) - P(X1 < X2)``, with the analytic asymmetric 95%
  interval of Cliff (1996) / Feng & Cliff (2004) using the *consistent* variance
  estimate and the normal quantile (the interval R's
  ``effsize::cliff.delta(use.unbiased=FALSE, use.normal=TRUE)`` reports). Computed in
  O(n log n) by sorting. Magnitude by Romano et al. (2006): negligible < 0.147 <=
  small < 0.33 <= medium < 0.474 <= large, on |delta|.
* **Hedges' g** (pooled standard deviation, small-sample factor
  ``J = 1 - 3 / (4 (n1 + n2) - 9)``) with the normal-theory 95% interval of Borenstein
  et al. (2009, eqs. 4.18-4.24). Magnitude by Cohen (1988): 0.2 / 0.5 / 0.8.
* **Cramér's V**, bias-corrected (Bergsma 2013), from Pearson chi-square without
  continuity correction; magnitude by Cohen (1988) for w, scaled by
  ``sqrt(min(r, c) - 1)``: 0.1 / 0.3 / 0.5 divided by that root. **Adjusted
  standardised residuals** ``(O - E) / sqrt(E (1 - row share) (1 - column share))``
  (Agresti 2007, sec. 2.4.5; ``statsmodels`` ``Table.standardized_resids``).
* **Pairwise statistics**: Dunn's z on the joint ranks with the tie correction of
  Glantz (2012), and the pairwise p-values of scikit-posthocs (Dunn: two-sided,
  unadjusted; Games-Howell: studentized range with Welch degrees of freedom); Welch's
  t with its Welch-Satterthwaite degrees of freedom.
* **Holm (1979)** step-down adjustment of a family of p-values.
* **Bootstrap**: seeded 95% percentile intervals. Bootstrap medians are drawn from
  their exact resampling distribution: the median of a resample of size n is an order
  statistic of the sorted sample whose index is the k-th order statistic of n uniform
  draws, sampled directly with Beta variates (``bootstrap_medians``). The draws have
  the distribution of ``np.median`` over resamples drawn with replacement (checked in
  the tests against ``scipy.stats.bootstrap``) but cost O(B) instead of O(B n): 36,000
  customers are compared in about a second instead of 16. Bootstrap means use
  ``scipy.stats.bootstrap`` (percentile, vectorised) for samples of up to
  ``BOOTSTRAP_MAX_N`` values; for larger ones the m-out-of-n bootstrap with
  m = ``BOOTSTRAP_MAX_N`` draws from *all* values per resample, rescaled by
  ``sqrt(m / n)`` around the full-sample mean (Bickel, Götze & van Zwet 1997), which
  is exact in variance for the mean.

Magnitudes are the codes of ``MAGNITUDES`` (``""`` when the value is not finite).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tiering.errors import require

__all__ = [
    "BOOTSTRAP_MAX_N",
    "CI_LEVEL",
    "CLIFF_THRESHOLDS",
    "COHEN_W_THRESHOLDS",
    "EPSILON_SQ_THRESHOLDS",
    "HEDGES_G_THRESHOLDS",
    "MAGNITUDES",
    "OMEGA_SQ_THRESHOLDS",
    "bootstrap_means",
    "bootstrap_medians",
    "cliffs_delta",
    "cramers_v",
    "dunn_z",
    "epsilon_squared",
    "hedges_g",
    "holm",
    "magnitude",
    "omega_squared",
    "percentile_interval",
    "posthoc_p",
    "standardized_residuals",
    "welch_t",
]

#: Tiers larger than this get the m-out-of-n bootstrap (m = this) for their mean.
BOOTSTRAP_MAX_N = 5_000
#: Confidence level of every interval in this module and in tiering.analysis.stats.
CI_LEVEL = 0.95

CLIFF_THRESHOLDS = (0.147, 0.33, 0.474)  # Romano et al. (2006)
EPSILON_SQ_THRESHOLDS = (0.01, 0.08, 0.26)  # rcompanion handbook (Mangiafico)
OMEGA_SQ_THRESHOLDS = (0.01, 0.06, 0.14)  # Cohen (1988)
HEDGES_G_THRESHOLDS = (0.2, 0.5, 0.8)  # Cohen (1988)
COHEN_W_THRESHOLDS = (0.1, 0.3, 0.5)  # Cohen (1988), for df* = 1
#: The magnitude codes, smallest first (the present layer translates them).
MAGNITUDES = ("negligible", "small", "medium", "large")

# Upper bound on the number of floats one bootstrap batch holds. The batch size does not
# change the draws (the generator's stream is consumed in the same order, each replicate
# is the mean of its own row), only the memory: 2 MB batches are reused from the heap,
# where 32 MB ones were fresh pages to fault in every time (about 4x the CPU at 1M
# customers; see benchmarks/analysis_steps.py).
_BATCH_ELEMENTS = 2**18


# --------------------------------------------------------------------------- bootstrap


def _batch(n_boot: int, n: int) -> int:
    return int(max(1, min(n_boot, _BATCH_ELEMENTS // max(n, 1))))


def _order_statistic_index(
    k: int, n: int, size: int, rng: np.random.Generator, after: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (0-based) of the k-th smallest of n uniform resample draws, ``size`` times.

    The k-th order statistic of n iid U(0, 1) is Beta(k, n - k + 1); the resample's
    k-th smallest value is ``sorted[floor(n U_(k))]`` because ``floor(n U)`` is a
    uniform draw of an index and the floor is monotone. With ``after`` (the (k-1)-th
    uniform order statistic) the k-th is drawn given it: ``u + (1 - u) Beta(1, n - k + 1)``.
    """
    if after is None:
        u = rng.beta(k, n - k + 1, size=size)
    else:
        u = after + (1.0 - after) * rng.beta(1, n - k + 1, size=size)
    return np.minimum((u * n).astype(np.int64), n - 1), u


def bootstrap_medians(values, *, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the median, drawn exactly and in O(n_boot).

    Each replicate has the distribution of ``np.median(values[idx])`` for ``idx`` a
    resample of ``len(values)`` indices drawn with replacement (what
    ``scipy.stats.bootstrap`` computes), but is sampled from the order statistics of
    the sorted values directly: for odd n the resample median is its k-th smallest
    value, k = (n + 1) / 2; for even n the mean of the k-th and (k + 1)-th, k = n / 2.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    require(n >= 1, "bootstrap_medians needs at least one value", where="bootstrap_medians")
    if n % 2:
        idx, _ = _order_statistic_index((n + 1) // 2, n, n_boot, rng)
        return x[idx]
    k = n // 2
    i1, u1 = _order_statistic_index(k, n, n_boot, rng)
    i2, _ = _order_statistic_index(k + 1, n, n_boot, rng, after=u1)
    return (x[i1] + x[i2]) / 2.0


def bootstrap_means(
    values, *, n_boot: int, rng: np.random.Generator, max_n: int | None = None
) -> tuple[np.ndarray, int]:
    """``n_boot`` bootstrap replicates of the mean and the resample size used.

    Up to ``max_n`` (default ``BOOTSTRAP_MAX_N``) values: the ordinary bootstrap via
    ``scipy.stats.bootstrap`` (the replicates of its ``bootstrap_distribution``).
    Above: the m-out-of-n bootstrap, m = ``max_n`` draws from all values per
    replicate, rescaled around the sample mean by ``sqrt(m / n)`` so that the
    replicates have the spread of the mean of n (Bickel, Götze & van Zwet 1997).
    """
    from scipy import stats as ss

    x = np.asarray(values, dtype=float)
    n = len(x)
    require(n >= 1, "bootstrap_means needs at least one value", where="bootstrap_means")
    cap = BOOTSTRAP_MAX_N if max_n is None else int(max_n)
    if n <= cap:
        options = {
            "n_resamples": n_boot,
            "method": "percentile",
            "vectorized": True,
            "confidence_level": CI_LEVEL,
            "batch": _batch(n_boot, n),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = ss.bootstrap((x,), np.mean, rng=rng, **options)
            except TypeError:  # scipy < 1.15 names the generator random_state
                res = ss.bootstrap((x,), np.mean, random_state=rng, **options)
        return np.asarray(res.bootstrap_distribution, dtype=float).reshape(-1), n
    mean = float(x.mean())
    out = np.empty(n_boot)
    step = _batch(n_boot, cap)
    for start in range(0, n_boot, step):
        size = min(step, n_boot - start)
        idx = rng.integers(0, n, size=(size, cap))
        out[start : start + size] = x[idx].mean(axis=1)
    return mean + (out - mean) * math.sqrt(cap / n), cap


def percentile_interval(draws: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap replicates (NaN when none is finite)."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - CI_LEVEL) / 2.0
    low, high = np.percentile(d, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


# --------------------------------------------------------------------------- effect sizes and tests


def magnitude(value: float, thresholds: Sequence[float]) -> str:
    """The magnitude code (``MAGNITUDES``) of ``|value|`` for three ascending thresholds."""
    if value is None or not np.isfinite(value):
        return ""
    return MAGNITUDES[int(np.searchsorted(thresholds, abs(value), side="right"))]


def holm(p_values: Sequence[float]) -> np.ndarray:
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


def epsilon_squared(h: float, n: int) -> float:
    """Rank epsilon squared, ``H / ((n² - 1) / (n + 1))`` (Tomczak & Tomczak 2014)."""
    return float(h / ((n * n - 1.0) / (n + 1.0)))


def omega_squared(f: float, df1: float, n: int) -> float:
    """Omega squared from an F statistic, ``df1 (F - 1) / (df1 (F - 1) + N)``, floored at 0."""
    num = df1 * (f - 1.0)
    return float(max(0.0, num / (num + n))) if np.isfinite(f) else float("nan")


def hedges_g(
    x: np.ndarray, y: np.ndarray, *, confidence: float = CI_LEVEL
) -> tuple[float, float, float]:
    """Hedges' g of ``x`` over ``y`` (pooled SD) with its normal-theory interval.

    Borenstein, Hedges, Higgins & Rothstein (2009), *Introduction to Meta-Analysis*,
    eqs. 4.18-4.24: ``d = (m1 - m2) / s_pooled``, ``V_d = (n1 + n2) / (n1 n2) +
    d² / (2 (n1 + n2))``, ``J = 1 - 3 / (4 df - 1)`` with ``df = n1 + n2 - 2``,
    ``g = J d``, ``V_g = J² V_d``.
    """
    from scipy import stats as ss

    n1, n2 = len(x), len(y)
    df = n1 + n2 - 2
    pooled = ((n1 - 1) * np.var(x, ddof=1) + (n2 - 1) * np.var(y, ddof=1)) / df
    if not pooled > 0:
        return float("nan"), float("nan"), float("nan")
    d = (float(np.mean(x)) - float(np.mean(y))) / math.sqrt(pooled)
    j = 1.0 - 3.0 / (4.0 * df - 1.0)
    v_d = (n1 + n2) / (n1 * n2) + d * d / (2.0 * (n1 + n2))
    g = j * d
    half = float(ss.norm.ppf(1.0 - (1.0 - confidence) / 2.0)) * math.sqrt(j * j * v_d)
    return float(g), float(g - half), float(g + half)


def welch_t(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Welch's t of ``mean(x) - mean(y)`` and its Welch-Satterthwaite degrees of freedom."""
    n1, n2 = len(x), len(y)
    v1, v2 = np.var(x, ddof=1) / n1, np.var(y, ddof=1) / n2
    se2 = v1 + v2
    t_stat = (float(np.mean(x)) - float(np.mean(y))) / math.sqrt(se2)
    df = se2**2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return float(t_stat), float(df)


def cliffs_delta(
    x: np.ndarray, y: np.ndarray, *, confidence: float = CI_LEVEL
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
    ssr = n_pos * (1.0 - d) ** 2 + n_zero * d**2 + n_neg * (1.0 + d) ** 2
    s_i = float(((d_i - d) ** 2).sum()) / (n1 - 1)
    s_j = float(((d_j - d) ** 2).sum()) / (n2 - 1)
    s_ij = ssr / ((n1 - 1.0) * (n2 - 1.0))
    var = ((n2 - 1.0) * s_i + (n1 - 1.0) * s_j + s_ij) / cells
    if not var > 0:
        return float(delta), float(delta), float(delta)
    z = float(ss.norm.ppf(1.0 - (1.0 - confidence) / 2.0))
    root = z * math.sqrt(var) * math.sqrt((1.0 - d * d) ** 2 + z * z * var)
    denom = 1.0 - d * d + z * z * var
    low, high = (d - d**3 - root) / denom, (d - d**3 + root) / denom
    if delta == 1.0:
        high = 1.0
    if delta == -1.0:
        low = -1.0
    return float(delta), float(low), float(high)


def cramers_v(table: np.ndarray) -> tuple[float, float, int, float, np.ndarray]:
    """Chi-square test and bias-corrected Cramér's V (Bergsma 2013) of a count table.

    Returns ``(v, chi2, df, p_value, expected)``; no continuity correction.
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
    return float(v), float(chi2), int(dof), float(p), np.asarray(expected, dtype=float)


def standardized_residuals(table: np.ndarray) -> np.ndarray:
    """Adjusted standardised residuals of a count table (statsmodels, Agresti 2007)."""
    from statsmodels.stats.contingency_tables import Table

    return np.asarray(Table(np.asarray(table, dtype=float)).standardized_resids, dtype=float)


def dunn_z(values: list[np.ndarray]) -> np.ndarray:
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
    mean_ranks = np.array([ranks[bounds[i] : bounds[i + 1]].mean() for i in range(len(values))])
    k = len(values)
    z = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            if i != j:
                se = math.sqrt((n * (n + 1.0) / 12.0 - ties) * (1.0 / sizes[i] + 1.0 / sizes[j]))
                z[i, j] = (mean_ranks[i] - mean_ranks[j]) / se
    return z


def posthoc_p(values: list[np.ndarray], which: str) -> np.ndarray:
    """Pairwise p-values from scikit-posthocs as a k x k array (``dunn`` or ``games_howell``).

    Dunn: unadjusted, two-sided. Games-Howell: from the studentized range, so already
    adjusted for the pairs of these groups.
    """
    import scikit_posthocs as sp

    frame = pd.DataFrame(
        {
            "value": np.concatenate(values),
            "group": np.repeat(np.arange(len(values)), [len(v) for v in values]),
        }
    )
    if which == "dunn":
        matrix = sp.posthoc_dunn(frame, val_col="value", group_col="group")
    else:
        # Named posthoc_gameshowell before scikit-posthocs 0.10.
        games_howell = (
            sp.posthoc_games_howell
            if hasattr(sp, "posthoc_games_howell")
            else sp.posthoc_gameshowell
        )
        matrix = games_howell(frame, val_col="value", group_col="group")
    order = list(range(len(values)))
    return matrix.reindex(index=order, columns=order).to_numpy(dtype=float)
