"""ABC analysis by cumulative share of a value column (revenue by default).

Customers are sorted by value, highest first (ties by customer id, so the result
never depends on row order). A customer belongs to the first tier whose cut-off its
cumulative share *before* it has not yet reached: with cut-offs (0.8, 0.95), tier A is
the smallest set of top customers carrying at least 80 % of revenue; the customer that
crosses 80 % is in A. Customers with zero or negative value (returns exceeding
purchases) are placed in the last tier; shares are of the positive total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..params import TieringSpec
from .base import TieringResult, check_features, finish


def fit(features: pd.DataFrame, spec: TieringSpec) -> TieringResult:
    opts = spec.abc
    value_col = opts.value
    check_features(features, ("customer_id", value_col), "abc")
    labels = list(spec.labels)
    value = features[value_col].to_numpy(dtype="float64")
    ids = features["customer_id"].astype(str).to_numpy()
    order = np.lexsort((ids, -value))  # value desc, then id asc
    positive = np.clip(value[order], 0, None)
    total = positive.sum()
    cum = np.cumsum(positive) / total if total > 0 else np.zeros_like(positive)
    before = np.concatenate([[0.0], cum[:-1]])
    cut = np.asarray(opts.cutoffs)
    rank_sorted = np.searchsorted(cut, before, side="right") + 1  # 1-based
    rank_sorted = np.where(value[order] > 0, rank_sorted, len(labels))
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    cum_share = np.empty_like(cum)
    cum_share[order] = cum
    bounds = [0.0, *cut.tolist(), 1.0]
    thresholds = pd.DataFrame({
        "tier": labels,
        "tier_rank": range(1, len(labels) + 1),
        "lower": bounds[:-1],
        "upper": bounds[1:],
        "rule": [f"cumulative {value_col} share {lo:.0%}–{hi:.0%}"
                 for lo, hi in zip(bounds[:-1], bounds[1:])],
    })
    return finish(features, rank, labels, {"cum_share": cum_share.round(12)}, method="abc",
                  thresholds=thresholds,
                  params={"cutoffs": cut.tolist(), "value": value_col})
