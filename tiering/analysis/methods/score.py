"""A weighted multi-criteria value score (客户价值评分), as in the classic model that
scores loyalty, spend and credit together.

Each criterion is a numeric customer column: a feature (``monetary``, ``frequency``,
``recency_days``, ``tenure_days``, ``aov``, ``returns_value`` ...) or an attribute
from ``data.attributes`` (a credit rating, a complaints count; text is converted to
numbers). Each is normalised:

- ``percentile`` (default): mid-rank percentile ``(average rank - 0.5) / n`` in (0, 1);
  ties share it; robust to outliers;
- ``minmax``: ``(x - min) / (max - min)`` in [0, 1];
- ``zscore``: ``(x - mean) / sd`` (population sd).

A criterion with ``direction: lower`` counts against (``1 - p``, ``1 - x``, ``-z``).
A constant criterion cannot separate customers: it scores the middle of the scale
(0.5; 0 for z-scores) for everyone and is reported. So does a missing value. The
value score is the weighted mean ``sum(w_i * n_i) / sum(w_i)``.

Columns of the customer master (``data.customers``, joined by
``tiering.data.customers.attach_master``: ``credit_score``, ``satisfaction``, ``nps``,
``referrals``, ``tenure_months`` from the sign-up date, ``overdue_days`` ...) are
criteria like any other. A customer without a master row (or with a blank there) has
a missing value: it scores the middle of that criterion's scale, neither rewarded nor
punished for what the master does not say, and the report counts such customers
(``missing_values``). A criterion naming a master column without a master is an error
that says so (``require_master_columns``).

Tiers: by ``shares`` of customers ranked by score (best first, default equal shares;
tied scores share a tier: a customer's position is the mid-rank percentile of its
score from the top, and it joins the first tier whose cumulative share exceeds that
position), or by score ``thresholds`` (score >= the first threshold is the first tier).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tiering.analysis.methods.base import (
    Method,
    TieringResult,
    all_equal,
    check_features,
    finish,
    midrank_counts,
    numeric_column,
)
from tiering.data.customers import require_master_columns
from tiering.errors import MethodError, require
from tiering.params import ScoreOptions, TieringSpec

NEUTRAL = {"percentile": 0.5, "minmax": 0.5, "zscore": 0.0}


def _matrix(features: pd.DataFrame, spec: TieringSpec) -> tuple[np.ndarray, list]:
    crit = spec.score.criteria
    require_master_columns(
        features, [c.column for c in crit], "score", where="tiering.score.criteria"
    )
    check_features(
        features, ("customer_id", *(c.column for c in crit)), "score", tiers=len(spec.labels)
    )
    cols, warnings = [], []
    for i, c in enumerate(crit):
        v = numeric_column(features, c.column, "score", where=f"tiering.score.criteria[{i}]")
        missing = int(np.isnan(v).sum())
        if missing:
            warnings.append(("missing_values", {"column": c.column, "n": missing}))
        if all_equal(v):
            warnings.append(("constant_feature", {"column": c.column}))
        cols.append(v)
    x = np.column_stack(cols)
    require(
        not all(all_equal(x[:, j]) for j in range(x.shape[1])),
        f"score: all {len(features)} customers have the same value on every criterion "
        f"({', '.join(c.column for c in crit)}), so the score cannot rank them",
        where="tiering.score.criteria",
        error=MethodError,
        hint="add a criterion that differs between customers, e.g. monetary",
    )
    return x, warnings


def normalise(values: np.ndarray, how: str, reference: np.ndarray | None = None) -> np.ndarray:
    """Normalise one criterion (higher is better) with statistics of ``reference``
    (default: the values themselves); missing values and a constant reference give the
    neutral value."""
    values = np.asarray(values, dtype="float64")
    ref = values if reference is None else np.asarray(reference, dtype="float64")
    ref = ref[~np.isnan(ref)]
    out = np.full(values.shape, NEUTRAL[how])
    ok = ~np.isnan(values)
    if ref.size == 0 or np.all(ref == ref[0]):
        return out
    if how == "percentile":
        num, den, _ = midrank_counts(values[ok], ref)
        out[ok] = num / den
    elif how == "minmax":
        lo, hi = ref.min(), ref.max()
        out[ok] = (values[ok] - lo) / (hi - lo)
    else:
        out[ok] = (values[ok] - ref.mean()) / ref.std()
    return out


def value_score(
    x: np.ndarray, spec: TieringSpec, reference: np.ndarray | None = None
) -> np.ndarray:
    """The weighted value score of every row of ``x`` (customers x criteria)."""
    how = spec.score.normalize
    total = np.zeros(x.shape[0])
    wsum = 0.0
    for j, c in enumerate(spec.score.criteria):
        n = normalise(x[:, j], how, None if reference is None else x[reference, j])
        if c.direction == "lower":
            n = -n if how == "zscore" else 1.0 - n
        total += c.weight * n
        wsum += c.weight
    return np.round(total / wsum, 12)


def _cut(score: np.ndarray, spec: TieringSpec, reference: np.ndarray | None = None) -> np.ndarray:
    k = len(spec.labels)
    if spec.score.thresholds is not None:
        return 1 + (score[:, None] < np.asarray(spec.score.thresholds)[None, :]).sum(axis=1)
    shares = spec.score.shares or [1.0 / k] * k
    cum = np.round(np.cumsum(shares)[:-1], 12)
    ref = None if reference is None else -score[reference]
    num, den, _ = midrank_counts(-score, ref)
    position = num / den  # mid-rank percentile from the top
    return 1 + (position[:, None] >= cum[None, :]).sum(axis=1)


def fit(features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0) -> TieringResult:
    x, warnings = _matrix(features, spec)
    labels = list(spec.labels)
    score = value_score(x, spec)
    rank = _cut(score, spec).astype("int64")
    k = len(labels)
    # observed score range per tier (None for an empty tier: params go to manifest.json)
    lows = [float(score[rank == i].min()) if (rank == i).any() else None for i in range(1, k + 1)]
    highs = [float(score[rank == i].max()) if (rank == i).any() else None for i in range(1, k + 1)]
    if spec.score.thresholds is not None:
        th = [float(t) for t in spec.score.thresholds]
        lower, upper = [*th, np.nan], [np.nan, *th]
        rule = [
            f"value score ≥ {lo:.3f}"
            if i == 0
            else (f"value score < {hi:.3f}" if i == k - 1 else f"value score {lo:.3f}–{hi:.3f}")
            for i, (lo, hi) in enumerate(zip(lower, upper))
        ]
        cut = "thresholds"
    else:
        shares = spec.score.shares or [1.0 / k] * k
        lower = [np.nan if v is None else v for v in lows]
        upper = [np.nan if v is None else v for v in highs]
        cum = np.concatenate([[0.0], np.cumsum(shares)])
        rule = [
            f"customers ranked {a:.0%}–{b:.0%} by value score" for a, b in zip(cum[:-1], cum[1:])
        ]
        cut = "shares"
    thresholds = pd.DataFrame(
        {"tier": labels, "tier_rank": range(1, k + 1), "lower": lower, "upper": upper, "rule": rule}
    )
    wsum = sum(c.weight for c in spec.score.criteria)
    params = {
        "criteria": [
            {
                "column": c.column,
                "weight": c.weight,
                "weight_share": c.weight / wsum,
                "direction": c.direction,
            }
            for c in spec.score.criteria
        ],
        "normalize": spec.score.normalize,
        "cut": cut,
        "shares": [float(s) for s in (spec.score.shares or [1.0 / k] * k)]
        if cut == "shares"
        else None,
        "thresholds": [float(t) for t in spec.score.thresholds] if cut == "thresholds" else None,
        "score_min": lows,
        "score_max": highs,
    }
    return finish(
        features,
        rank,
        labels,
        {"value_score": score},
        method="score",
        thresholds=thresholds,
        params=params,
        warnings=warnings,
    )


def bootstrap_ranks(
    features: pd.DataFrame, spec: TieringSpec, references: np.ndarray, **_
) -> np.ndarray:
    """Tier ranks of every customer (columns) with the normalisation and the score
    quantiles estimated on each row of ``references`` (one bootstrap resample)."""
    x, _ = _matrix(features, spec)
    out = np.empty((len(references), len(features)), dtype="int64")
    for b, reference in enumerate(references):
        out[b] = _cut(value_score(x, spec, reference), spec, reference)
    return out


#: This method's entry in the registry (:mod:`tiering.analysis.methods.registry`).
METHOD = Method(
    name="score",
    fit=fit,
    options=ScoreOptions,
    data_driven=True,
    bootstrap=bootstrap_ranks,
    built_from=lambda params: [c["column"] for c in params["criteria"]],
)
