"""RFM scoring: recency, frequency and monetary scores 1..bins by quantiles.

Each score is the quantile bin of the customer's percentile rank, with tied values
sharing their average rank, so ties always get the same score and the result never
depends on row order: ``score = min(bins, floor(bins * (rank - 0.5) / n) + 1)``.
Recency is ranked so that fewer days since the last purchase scores higher.
The RFM score is the weighted mean of the three scores; tiers are cut on it with
``thresholds`` (best tier first), by default spaced evenly over 1..bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..params import TieringSpec
from .base import TieringResult, check_features, finish


def quantile_scores(values: pd.Series | np.ndarray, bins: int) -> np.ndarray:
    """Scores 1..bins from average percentile ranks (higher value, higher score)."""
    s = pd.Series(np.asarray(values, dtype="float64"))
    n = len(s)
    if n == 0:
        return np.zeros(0, dtype="int64")
    rank = s.rank(method="average").to_numpy()
    score = np.floor(bins * (rank - 0.5) / n).astype("int64") + 1
    return np.clip(score, 1, bins)


def default_thresholds(bins: int, k: int) -> list[float]:
    return [round(bins - i * (bins - 1) / k, 6) for i in range(1, k)]


def fit(features: pd.DataFrame, spec: TieringSpec) -> TieringResult:
    opts = spec.rfm
    check_features(features, ("customer_id", "recency_days", "frequency", "monetary"), "rfm")
    labels = list(spec.labels)
    bins = opts.bins
    r = quantile_scores(-features["recency_days"].to_numpy(dtype="float64"), bins)
    f = quantile_scores(features["frequency"].to_numpy(dtype="float64"), bins)
    m = quantile_scores(features["monetary"].to_numpy(dtype="float64"), bins)
    w = opts.weights
    wsum = w.recency + w.frequency + w.monetary
    if wsum <= 0:
        from ..errors import MethodError

        raise MethodError("rfm weights are all zero", where="tiering.rfm.weights",
                          hint="give at least one positive weight, e.g. recency: 1")
    score = np.round((w.recency * r + w.frequency * f + w.monetary * m) / wsum, 9)
    th = list(opts.thresholds) if opts.thresholds is not None else default_thresholds(bins, len(labels))
    # rank = 1 + number of thresholds the score falls below
    rank = 1 + (score[:, None] < np.asarray(th)[None, :]).sum(axis=1)
    codes = pd.Series(r.astype(str)) + pd.Series(f.astype(str)) + pd.Series(m.astype(str))
    uppers = [float(bins), *th]
    lowers = [*th, 1.0]
    thresholds = pd.DataFrame({
        "tier": labels,
        "tier_rank": range(1, len(labels) + 1),
        "lower": lowers,
        "upper": uppers,
        "rule": [f"RFM score {lo:.2f}–{hi:.2f}" if i else f"RFM score ≥ {lo:.2f}"
                 for i, (lo, hi) in enumerate(zip(lowers, uppers))],
    })
    return finish(features, rank, labels,
                  {"r_score": r, "f_score": f, "m_score": m, "rfm_score": score,
                   "rfm_code": codes.to_numpy()},
                  method="rfm", thresholds=thresholds,
                  params={"bins": bins, "weights": w.model_dump(), "thresholds": th})
