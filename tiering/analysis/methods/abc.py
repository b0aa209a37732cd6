"""ABC analysis by cumulative share of a value column (net spend by default).

Customers are sorted by value, highest first (ties by customer id, so the result
never depends on row order). A customer belongs to the first tier whose cut-off its
cumulative share *before* it has not yet reached: with cut-offs (0.8, 0.95), tier A is
the smallest set of top customers carrying at least 80 % of the value; the customer
that crosses 80 % is in A. Customers with zero or negative value (returns exceeding
purchases) are placed in the last tier; shares are of the positive total. A missing
value (a blank attribute) counts as zero and is reported.

``cutoffs: computed`` (three tiers) takes the cut-offs from the ABC curve itself, as
in Ultsch & Lötsch's computed ABC analysis (PLoS ONE 10(6): e0129767, 2015). On the
curve of customer share ``x = i / n`` against value share ``y`` (top ``i`` customers):

- the *Pareto point* is the point nearest the ideal (0, 1);
- the *break-even point* is where the curve's slope falls to 1, i.e. where gain
  equals effort: the last customer whose value is at least the mean;
- the A|B limit is the nearer to the origin of the two (smaller ``x``); the B|C limit
  is the point nearest (x of the other one, 1).

This implementation uses the empirical curve (one point per customer) rather than the
published spline, so every limit is a customer and can be checked by hand.
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
    numeric_column,
)
from tiering.errors import MethodError, require
from tiering.params import AbcOptions, TieringSpec


def _values(features: pd.DataFrame, spec: TieringSpec) -> tuple[np.ndarray, list]:
    col = spec.abc.value
    check_features(features, ("customer_id", col), "abc", tiers=len(spec.labels))
    value = numeric_column(features, col, "abc", where="tiering.abc.value")
    warnings = []
    missing = int(np.isnan(value).sum())
    if missing:
        warnings.append(("missing_values_zero", {"column": col, "n": missing}))
        value = np.nan_to_num(value, nan=0.0)
    require(
        not all_equal(value),
        f"abc: all {len(value)} customers have the same {col} ({value[0]:g}), so ABC "
        "analysis cannot rank them",
        where="tiering.abc.value",
        error=MethodError,
        hint="use a value that differs between customers, or method: rules",
    )
    require(
        bool((value > 0).any()),
        f"abc: no customer has a positive {col}",
        where="tiering.abc.value",
        error=MethodError,
        hint="check the amounts and the returns (data.cancellations)",
    )
    return value, warnings


def computed_cutoffs(sorted_values: np.ndarray) -> tuple[list[float], dict]:
    """Cut-offs (A|B, B|C as cumulative shares) of the computed ABC analysis for values
    sorted highest first (clipped at zero), and the points found on the curve."""
    v = np.clip(np.asarray(sorted_values, dtype="float64"), 0, None)
    n = v.size
    total = v.sum()
    x = np.arange(1, n + 1) / n
    y = np.cumsum(v) / total
    pareto = int(np.argmin(x**2 + (1 - y) ** 2))
    # slope of the curve at customer i is v_i / mean: the last customer with slope >= 1
    break_even = int(np.count_nonzero(v >= total / n)) - 1
    a, b = sorted((pareto, break_even))
    c = int(np.argmin((x - x[b]) ** 2 + (1 - y) ** 2))
    c = max(c, a)
    points = {
        "pareto_point": {"customer_share": float(x[pareto]), "value_share": float(y[pareto])},
        "break_even_point": {
            "customer_share": float(x[break_even]),
            "value_share": float(y[break_even]),
        },
        "bc_point": {"customer_share": float(x[c]), "value_share": float(y[c])},
    }
    return [float(y[a]), float(y[c])], points


def _cutoffs(sorted_values: np.ndarray, spec: TieringSpec) -> tuple[list[float], dict]:
    if spec.abc.cutoffs == "computed":
        return computed_cutoffs(sorted_values)
    return [float(c) for c in spec.abc.cutoffs], {}


def fit(features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0) -> TieringResult:
    value, warnings = _values(features, spec)
    value_col = spec.abc.value
    labels = list(spec.labels)
    ids = features["customer_id"].astype(str).to_numpy()
    order = np.lexsort((ids, -value))  # value desc, then id asc
    positive = np.clip(value[order], 0, None)
    cum = np.cumsum(positive) / positive.sum()
    before = np.concatenate([[0.0], cum[:-1]])
    cut_list, points = _cutoffs(value[order], spec)
    cut = np.asarray(cut_list)
    rank_sorted = np.searchsorted(cut, before, side="right") + 1  # 1-based
    rank_sorted = np.where(value[order] > 0, rank_sorted, len(labels))
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    cum_share = np.empty_like(cum)
    cum_share[order] = cum
    bounds = [0.0, *cut.tolist(), 1.0]
    thresholds = pd.DataFrame(
        {
            "tier": labels,
            "tier_rank": range(1, len(labels) + 1),
            "lower": bounds[:-1],
            "upper": bounds[1:],
            "rule": [
                f"cumulative {value_col} share {lo:.0%}–{hi:.0%}"
                for lo, hi in zip(bounds[:-1], bounds[1:])
            ],
        }
    )
    params = {
        "cutoffs": cut.tolist(),
        "value": value_col,
        "cutoff_mode": "computed" if spec.abc.cutoffs == "computed" else "fixed",
        **points,
    }
    return finish(
        features,
        rank,
        labels,
        {"cum_share": cum_share.round(12)},
        method="abc",
        thresholds=thresholds,
        params=params,
        warnings=warnings,
    )


def bootstrap_ranks(
    features: pd.DataFrame, spec: TieringSpec, references: np.ndarray, **_
) -> np.ndarray:
    """Tier ranks of every customer (columns) with cut-offs estimated on each row of
    ``references`` (positions of the customers of one bootstrap resample). A customer's
    cumulative share before it is the share of the resample's value held by larger
    values, so tied customers share a tier (with the full data as reference this equals
    :func:`fit` except where tied values straddle a cut-off)."""
    value, _ = _values(features, spec)
    positive = np.clip(value, 0, None)
    last = len(spec.labels)
    out = np.empty((len(references), value.size), dtype="int64")
    for b, reference in enumerate(references):
        ref = np.sort(positive[reference])[::-1]  # highest first, as in fit
        total = ref.sum()
        if total <= 0:
            out[b] = last
            continue
        cum = np.cumsum(ref) / total
        cut, _ = _cutoffs(ref, spec)
        greater = ref.size - np.searchsorted(ref[::-1], value, side="right")
        before = np.where(greater > 0, cum[np.maximum(greater - 1, 0)], 0.0)
        rank = np.searchsorted(np.asarray(cut), before, side="right") + 1
        out[b] = np.where(value > 0, rank, last)
    return out


#: This method's entry in the registry (:mod:`tiering.analysis.methods.registry`).
METHOD = Method(
    name="abc",
    fit=fit,
    options=AbcOptions,
    data_driven=True,
    bootstrap=bootstrap_ranks,
    built_from=lambda params: [params["value"]],
)
