"""RFM: recency, frequency and monetary scores 1..bins, named segments, tiers.

**Scores.** By default each score is the quantile bin of the customer's mid-rank
percentile, with tied values sharing their average rank, so ties always get the same
score and the result never depends on row order:
``score = min(bins, floor(bins * (rank - 0.5) / n) + 1)``. Recency is ranked so that
fewer days since the last purchase scores higher. Instead of quantiles, ``edges``
gives fixed bin edges per dimension (``bins - 1`` ascending boundaries): recency
scores ``bins`` up to and including the first edge (in days) and one less past each
further edge; frequency and spend score 1 below the first edge and one more for each
edge they reach (``value >= edge``).

**Tiers** (``tier_by``):

- ``score`` (default): the RFM score is the weighted mean of the three scores; tiers
  are cut on it with ``thresholds`` (best tier first), by default spaced evenly over
  1..bins.
- ``segment``: each named segment goes to a tier by ``segment_tiers``; by default the
  segments' value level (1 best .. 5, ``SEGMENT_LEVEL``) is spread over the tiers as
  ``tier = 1 + floor((level - 1) * tiers / 5)``.

**Segments** (column ``segment``, always computed) come from a grid of the R score
and the FM score, the mean of F and M rounded half up (``SEGMENT_GRID``), in the spirit
of the widely used 11-segment RFM map (Champions ... Lost). The grid is defined on
1..5 scores; with other ``bins`` each score is first moved to the 1..5 scale by the
centre of its bin, ``floor((s - 0.5) * 5 / bins + 1)``.

====  =============  =============  =============  =============  =============
R\\FM  1              2              3              4              5
====  =============  =============  =============  =============  =============
5     new            potential      potential      champions      champions
4     promising      potential      potential      loyal          loyal
3     about_to_sleep about_to_sleep need_attention loyal          loyal
2     hibernating    hibernating    at_risk        at_risk        cant_lose
1     lost           lost           at_risk        at_risk        cant_lose
====  =============  =============  =============  =============  =============

(potential = potential_loyalists.)
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
)
from tiering.errors import MethodError, require
from tiering.params import RFM_SEGMENTS, RfmOptions, TieringSpec

DIMENSIONS = (("recency", "recency_days"), ("frequency", "frequency"), ("monetary", "monetary"))

SEGMENT_GRID: dict[int, tuple[str, ...]] = {
    5: ("new", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),
    1: ("lost", "lost", "at_risk", "at_risk", "cant_lose"),
}

SEGMENT_LEVEL: dict[str, int] = {
    "champions": 1,
    "loyal": 2,
    "cant_lose": 2,
    "potential_loyalists": 3,
    "need_attention": 3,
    "at_risk": 3,
    "new": 4,
    "promising": 4,
    "about_to_sleep": 4,
    "hibernating": 5,
    "lost": 5,
}


def quantile_scores(
    values: pd.Series | np.ndarray, bins: int, reference: np.ndarray | None = None
) -> np.ndarray:
    """Scores 1..bins from mid-rank percentiles (higher value, higher score), within
    ``reference`` when given (cut-offs estimated on another sample of customers)."""
    values = np.asarray(values, dtype="float64")
    if values.size == 0:
        return np.zeros(0, dtype="int64")
    num, den, _ = midrank_counts(values, reference)
    return np.clip(bins * num // den + 1, 1, bins).astype("int64")


def edge_scores(
    values: np.ndarray, edges: list[float], bins: int, *, lower_is_better: bool
) -> np.ndarray:
    """Scores 1..bins from fixed ascending bin edges (see the module docstring)."""
    e = np.asarray(edges, dtype="float64")
    values = np.asarray(values, dtype="float64")
    if lower_is_better:
        return (bins - np.searchsorted(e, values, side="left")).astype("int64")
    return (1 + np.searchsorted(e, values, side="right")).astype("int64")


def default_thresholds(bins: int, k: int) -> list[float]:
    return [round(bins - i * (bins - 1) / k, 6) for i in range(1, k)]


def to_five(scores: np.ndarray, bins: int) -> np.ndarray:
    """Scores 1..bins moved to the 1..5 grid by the centre of their bin."""
    s = np.asarray(scores, dtype="int64")
    return (((2 * s - 1) * 5 + 2 * bins) // (2 * bins)).astype("int64")


def segments(r: np.ndarray, f: np.ndarray, m: np.ndarray, bins: int) -> np.ndarray:
    """Segment names from R, F and M scores 1..bins (see ``SEGMENT_GRID``)."""
    r5 = to_five(r, bins)
    fm5 = (to_five(f, bins) + to_five(m, bins) + 1) // 2
    grid = np.array([SEGMENT_GRID[i] for i in range(1, 6)], dtype=object)
    return grid[r5 - 1, fm5 - 1]


def default_segment_tiers(labels: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """Segments per tier (best first) when ``segment_tiers`` is not given (2-5 tiers)."""
    k = len(labels)
    out: dict[str, list[str]] = {lab: [] for lab in labels}
    for seg in RFM_SEGMENTS:
        out[labels[(SEGMENT_LEVEL[seg] - 1) * k // 5]].append(seg)
    return out


def is_data_driven(spec: TieringSpec) -> bool:
    """Whether any score comes from quantiles (then tiers depend on the other customers)."""
    return any(getattr(spec.rfm.edges, dim) is None for dim, _ in DIMENSIONS)


def _weights(spec: TieringSpec) -> tuple[float, float, float]:
    w = spec.rfm.weights
    require(
        w.recency + w.frequency + w.monetary > 0 or spec.rfm.tier_by == "segment",
        "rfm weights are all zero",
        where="tiering.rfm.weights",
        error=MethodError,
        hint="give at least one positive weight, e.g. recency: 1",
    )
    return w.recency, w.frequency, w.monetary


def _raw(features: pd.DataFrame, spec: TieringSpec) -> dict[str, np.ndarray]:
    check_features(
        features, ("customer_id", *(c for _, c in DIMENSIONS)), "rfm", tiers=len(spec.labels)
    )
    return {dim: features[col].to_numpy(dtype="float64") for dim, col in DIMENSIONS}


def _scores(
    raw: dict[str, np.ndarray], spec: TieringSpec, reference: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    bins = spec.rfm.bins
    out = {}
    for dim, _ in DIMENSIONS:
        edges = getattr(spec.rfm.edges, dim)
        v = raw[dim]
        if edges is not None:
            out[dim] = edge_scores(v, edges, bins, lower_is_better=dim == "recency")
        else:
            sign = -1.0 if dim == "recency" else 1.0
            ref = None if reference is None else sign * v[reference]
            out[dim] = quantile_scores(sign * v, bins, ref)
    return out


def _tiers(
    sc: dict[str, np.ndarray], spec: TieringSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float], dict]:
    labels = list(spec.labels)
    bins = spec.rfm.bins
    wr, wf, wm = _weights(spec)
    wsum = wr + wf + wm
    r, f, m = sc["recency"], sc["frequency"], sc["monetary"]
    score = (
        np.round((wr * r + wf * f + wm * m) / wsum, 9) if wsum > 0 else np.round((r + f + m) / 3, 9)
    )
    seg = segments(r, f, m, bins)
    mapping: dict = {}
    th: list[float] = []
    if spec.rfm.tier_by == "segment":
        mapping = {
            lab: list(v)
            for lab, v in (spec.rfm.segment_tiers or default_segment_tiers(labels)).items()
        }
        tier_of = {s: labels.index(lab) + 1 for lab, segs in mapping.items() for s in segs}
        rank = pd.Series(seg).map(tier_of).to_numpy(dtype="int64")
    else:
        th = (
            list(spec.rfm.thresholds)
            if spec.rfm.thresholds is not None
            else default_thresholds(bins, len(labels))
        )
        # rank = 1 + number of thresholds the score falls below
        rank = 1 + (score[:, None] < np.asarray(th)[None, :]).sum(axis=1)
    return rank, score, seg, th, mapping


def fit(features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0) -> TieringResult:
    _weights(spec)
    raw = _raw(features, spec)
    labels = list(spec.labels)
    bins = spec.rfm.bins
    constant = [col for dim, col in DIMENSIONS if all_equal(raw[dim])]
    require(
        len(constant) < 3,
        f"rfm: all {len(features)} customers have the same recency, frequency and spend, "
        "so RFM cannot rank them",
        where="tiering.rfm",
        error=MethodError,
        hint="check the analysis window and the data; or use method: rules",
    )
    warnings = [("constant_feature", {"column": c}) for c in constant]
    sc = _scores(raw, spec)
    rank, score, seg, th, mapping = _tiers(sc, spec)
    r, f, m = sc["recency"], sc["frequency"], sc["monetary"]
    codes = pd.Series(r.astype(str)) + pd.Series(f.astype(str)) + pd.Series(m.astype(str))
    if spec.rfm.tier_by == "segment":
        thresholds = pd.DataFrame(
            {
                "tier": labels,
                "tier_rank": range(1, len(labels) + 1),
                "lower": np.nan,
                "upper": np.nan,
                "rule": ["segments " + ", ".join(mapping.get(lab, [])) for lab in labels],
            }
        )
    else:
        uppers = [float(bins), *th]
        lowers = [*th, 1.0]
        thresholds = pd.DataFrame(
            {
                "tier": labels,
                "tier_rank": range(1, len(labels) + 1),
                "lower": lowers,
                "upper": uppers,
                "rule": [
                    f"RFM score {lo:.2f}–{hi:.2f}" if i else f"RFM score ≥ {lo:.2f}"
                    for i, (lo, hi) in enumerate(zip(lowers, uppers))
                ],
            }
        )
    edges = {
        dim: (list(map(float, e)) if (e := getattr(spec.rfm.edges, dim)) is not None else None)
        for dim, _ in DIMENSIONS
    }
    segment = pd.Categorical(seg, categories=list(RFM_SEGMENTS))
    params = {
        "bins": bins,
        "weights": spec.rfm.weights.model_dump(),
        "tier_by": spec.rfm.tier_by,
        "thresholds": th,
        "edges": edges,
        "segment_tiers": mapping,
    }
    return finish(
        features,
        rank,
        labels,
        {
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm_score": score,
            "rfm_code": codes.to_numpy(),
            "segment": segment,
        },
        method="rfm",
        thresholds=thresholds,
        params=params,
        warnings=warnings,
    )


def bootstrap_ranks(
    features: pd.DataFrame, spec: TieringSpec, references: np.ndarray, **_
) -> np.ndarray:
    """Tier ranks of every customer (columns) with quantile bins estimated on each row
    of ``references`` (positions of one bootstrap resample); fixed edges stay fixed."""
    raw = _raw(features, spec)
    out = np.empty((len(references), len(features)), dtype="int64")
    for b, reference in enumerate(references):
        out[b] = _tiers(_scores(raw, spec, reference), spec)[0]
    return out


#: This method's entry in the registry (:mod:`tiering.analysis.methods.registry`).
METHOD = Method(
    name="rfm",
    fit=fit,
    options=RfmOptions,
    data_driven=is_data_driven,
    bootstrap=bootstrap_ranks,
    built_from=lambda params: [column for _, column in DIMENSIONS],
)
