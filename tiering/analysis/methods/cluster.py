"""k-means clustering (scikit-learn) ordered into tiers by value.

The clustering features (default recency_days, frequency, monetary; any numeric
customer column) are log-scaled with a signed ``log1p`` (``sign(x) * log(1 + |x|)``,
so net spend below zero is allowed) unless ``log: false``, then standardised to mean
0 and standard deviation 1. A constant feature carries no information: it is dropped
and reported; when every feature is constant the method stops with a clear error. A
missing value (a blank attribute) is replaced by the feature's median and reported.

``k`` clusters: by default one per tier label; a number (at most the number of labels:
the first k labels are used); or ``auto``, the k with the best silhouette within
``k_range`` (default 2..number of labels; ties go to the smaller k), the silhouette
computed on a seeded sample of ``silhouette_sample`` customers when there are more.
Clusters are ordered into tiers by the mean of ``value`` (net spend by default) of
their members, highest first.

Reproducible: customers are clustered in customer-id order (so the row order of the
input does not matter), with ``n_init`` fixed and ``random_state`` = the seed of the
parameter file; reruns give identical labels.
"""

from __future__ import annotations

import warnings as _warnings

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
from tiering.params import ClusterOptions, TieringSpec


def _features(features: pd.DataFrame, spec: TieringSpec) -> tuple[np.ndarray, list[str], list]:
    opts = spec.cluster
    fewest = (
        opts.k
        if isinstance(opts.k, int)
        else (opts.k_range or [2])[0]
        if opts.k == "auto"
        else len(spec.labels)
    )
    check_features(features, ("customer_id", *opts.features, opts.value), "cluster", tiers=fewest)
    cols, names, warnings = [], [], []
    for i, name in enumerate(opts.features):
        v = numeric_column(features, name, "cluster", where=f"tiering.cluster.features[{i}]")
        missing = np.isnan(v)
        if missing.any():
            warnings.append(("missing_values", {"column": name, "n": int(missing.sum())}))
            v = np.where(missing, np.nanmedian(v) if (~missing).any() else 0.0, v)
        if all_equal(v):
            warnings.append(("constant_feature", {"column": name}))
            continue
        cols.append(v)
        names.append(name)
    require(
        bool(cols),
        f"cluster: all {len(features)} customers have the same "
        f"{', '.join(opts.features)}, so there is nothing to cluster",
        where="tiering.cluster.features",
        error=MethodError,
        hint="add a feature that differs between customers, or use method: rules",
    )
    x = np.column_stack(cols)
    if opts.log:
        x = np.sign(x) * np.log1p(np.abs(x))
    return x, names, warnings


def _standardise(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    mean = reference.mean(axis=0)
    sd = reference.std(axis=0)
    return (x - mean) / np.where(sd > 0, sd, 1.0)


def _kmeans(z: np.ndarray, k: int, *, n_init: int, seed: int):
    from sklearn.cluster import KMeans

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # ConvergenceWarning on duplicate points
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(z)


def _silhouette(z: np.ndarray, labels: np.ndarray, *, sample: int, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return float("nan")
    size = min(sample, z.shape[0]) if z.shape[0] > sample else None
    return float(silhouette_score(z, labels, sample_size=size, random_state=seed))


def _order(labels: np.ndarray, value: np.ndarray, k: int) -> np.ndarray:
    """Rank 1..k of each cluster id by the mean value of its members (highest first)."""
    means = np.array(
        [value[labels == c].mean() if (labels == c).any() else -np.inf for c in range(k)]
    )
    order = np.lexsort((np.arange(k), -means))
    rank = np.empty(k, dtype="int64")
    rank[order] = np.arange(1, k + 1)
    return rank


def fit(features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0) -> TieringResult:
    opts = spec.cluster
    labels_all = list(spec.labels)
    x, names, warnings = _features(features, spec)
    value = np.nan_to_num(
        numeric_column(features, opts.value, "cluster", where="tiering.cluster.value")
    )
    ids = features["customer_id"].astype(str).to_numpy()
    perm = np.argsort(ids, kind="stable")
    z = _standardise(x, x)[perm]
    distinct = np.unique(z, axis=0).shape[0]
    n_labels = len(labels_all)
    if opts.k == "auto":
        lo, hi = opts.k_range or [2, n_labels]
        candidates = [k for k in range(lo, min(hi, n_labels) + 1) if k <= distinct]
    else:
        candidates = [opts.k if isinstance(opts.k, int) else n_labels]
    require(
        bool(candidates) and candidates[0] <= distinct,
        f"cluster: only {distinct} distinct customer profile(s) on "
        f"{', '.join(names)}, fewer than the {candidates[0] if candidates else 2} clusters asked for",
        where="tiering.cluster.k",
        error=MethodError,
        hint="ask for fewer clusters (fewer labels or a smaller k), add features, or use more data",
    )
    fits, scores = {}, []
    for k in candidates:
        km = _kmeans(z, k, n_init=opts.n_init, seed=seed)
        fits[k] = km
        if opts.k == "auto":
            sil = _silhouette(z, km.labels_, sample=opts.silhouette_sample, seed=seed)
            scores.append({"k": k, "silhouette": None if np.isnan(sil) else sil})
    if opts.k == "auto":
        best = max(
            scores, key=lambda s: (-2.0 if s["silhouette"] is None else s["silhouette"], -s["k"])
        )
        k = best["k"]
        silhouette = np.nan if best["silhouette"] is None else best["silhouette"]
    else:
        k = candidates[0]
        silhouette = _silhouette(z, fits[k].labels_, sample=opts.silhouette_sample, seed=seed)
    km = fits[k]
    cl = np.empty(len(ids), dtype="int64")
    cl[perm] = km.labels_
    cluster_rank = _order(cl, value, k)
    rank = cluster_rank[cl]
    labels = labels_all[:k]
    if k < n_labels:
        warnings.append(("fewer_clusters", {"k": k, "n": n_labels}))
    # cluster centres back on the original scale (the inverse of log and standardising)
    sd = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    centres = km.cluster_centers_ * sd + x.mean(axis=0)
    if opts.log:
        centres = np.sign(centres) * np.expm1(np.abs(centres))
    by_rank = np.argsort(cluster_rank)
    centre_rows = [{name: float(centres[c, j]) for j, name in enumerate(names)} for c in by_rank]
    thresholds = pd.DataFrame(
        {
            "tier": labels,
            "tier_rank": range(1, k + 1),
            "lower": np.nan,
            "upper": np.nan,
            "rule": [
                "cluster centre " + ", ".join(f"{n} {v:,.1f}" for n, v in row.items())
                for row in centre_rows
            ],
        }
    )
    params = {
        "k": k,
        "k_mode": "auto" if opts.k == "auto" else ("fixed" if opts.k else "labels"),
        "features": names,
        "log": opts.log,
        "value": opts.value,
        "n_init": opts.n_init,
        "seed": seed,
        "silhouette": None if np.isnan(silhouette) else silhouette,
        "silhouette_by_k": scores,
        "silhouette_sample": opts.silhouette_sample if len(ids) > opts.silhouette_sample else None,
        "centres": centre_rows,
        "value_means": [float(value[rank == r].mean()) for r in range(1, k + 1)],
    }
    return finish(
        features,
        rank,
        labels,
        {},
        method="cluster",
        thresholds=thresholds,
        params=params,
        warnings=warnings,
    )


def bootstrap_ranks(
    features: pd.DataFrame,
    spec: TieringSpec,
    references: np.ndarray,
    *,
    ranks: np.ndarray,
    seed: int = 0,
    **_,
) -> np.ndarray:
    """Tier ranks of every customer (columns) from k-means refitted on each row of
    ``references`` (one bootstrap resample), standardised with the resample's
    statistics and started from the centres of the full fit (the means of its tiers,
    ``ranks``), so that the resamples measure how the data move the centres, not which
    local optimum a random start finds. Every customer goes to its nearest refitted
    centre; clusters are ordered by the resample's mean value. k is not re-chosen."""
    from sklearn.cluster import KMeans

    x, _, _ = _features(features, spec)
    value = np.nan_to_num(
        numeric_column(features, spec.cluster.value, "cluster", where="tiering.cluster.value")
    )
    ranks = np.asarray(ranks)
    k = int(ranks.max())
    present = all((ranks == r).any() for r in range(1, k + 1))
    centres = (
        np.vstack([x[ranks == r].mean(axis=0) for r in range(1, k + 1)]) if present else None
    )  # a tier absent from a subsample: random starts instead
    out = np.empty((len(references), len(features)), dtype="int64")
    for b, reference in enumerate(references):
        ref = x[reference]
        mean, sd = ref.mean(axis=0), ref.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            if centres is None:
                km = KMeans(n_clusters=k, n_init=spec.cluster.n_init, random_state=seed)
            else:
                km = KMeans(n_clusters=k, init=(centres - mean) / sd, n_init=1)
            km = km.fit((ref - mean) / sd)
        out[b] = _order(km.labels_, value[reference], k)[km.predict((x - mean) / sd)]
    return out


#: This method's entry in the registry (:mod:`tiering.analysis.methods.registry`).
METHOD = Method(
    name="cluster",
    fit=fit,
    options=ClusterOptions,
    data_driven=True,
    bootstrap=bootstrap_ranks,
    bootstrap_from_fit=True,
    # the clusters come from the features; their order into tiers from the value
    built_from=lambda params: [*params["features"], params["value"]],
)
