"""Would another method give the same tiers? Would other customers give the same cut-offs?

- :func:`compare_methods`: the tiers of the main method against each method named in
  ``tiering.compare_with`` (each with its own options block and the same labels):
  cross-tabulations and agreement (exact agreement, adjusted Rand index, linearly
  weighted Cohen's kappa on tier ranks).
- :func:`stability`: for data-driven methods, bootstrap the customers, re-estimate the
  cut-offs on each resample, re-tier every customer with them and report per tier the
  share whose tier did not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.analysis.methods.base import TieringResult
from tiering.errors import MethodError
from tiering.params import TieringSpec

# Landis & Koch (1977) bands for kappa: upper bounds of slight, fair, moderate, substantial
KAPPA_BANDS = (0.2, 0.4, 0.6, 0.8)
KAPPA_WORDS = ("poor", "slight", "fair", "moderate", "substantial", "almost_perfect")


@dataclass(frozen=True)
class MethodComparison:
    """The main method's tiers against other methods' tiers on the same customers.

    - ``assignments``: long, one row per customer and method: ``customer_id, method,
      tier, tier_rank`` (the main method first, then ``others`` in order).
    - ``crosstabs``: per other method, a tidy table with one row per pair of tiers
      (zeros included): ``tier, tier_rank, other_tier, other_tier_rank, customers,
      share_of_tier`` (of the main method's tier), ``share_of_all``.
    - ``agreement``: one row per other method: ``other_method, customers, tiers,
      other_tiers, exact_agreement`` (share with the same tier rank), ``adjusted_rand``
      (sklearn ``adjusted_rand_score``; 1 identical, about 0 chance), ``weighted_kappa``
      (sklearn ``cohen_kappa_score(weights="linear")`` on tier ranks; NaN when undefined,
      e.g. every customer in one tier under both), ``kappa_magnitude`` (Landis & Koch:
      poor < 0, slight, fair, moderate, substantial, almost_perfect > 0.8).
    - ``params``: the methods and the seed.
    """

    method: str
    others: tuple[str, ...]
    assignments: pd.DataFrame
    crosstabs: dict[str, pd.DataFrame] = field(default_factory=dict)
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)
    params: dict = field(default_factory=dict)


def kappa_magnitude(kappa: float) -> str:
    """Landis & Koch's word for a kappa value (``""`` for NaN)."""
    if kappa is None or np.isnan(kappa):
        return ""
    if kappa < 0:
        return KAPPA_WORDS[0]
    return KAPPA_WORDS[1 + int(np.searchsorted(KAPPA_BANDS, kappa, side="left"))]


def crosstab(a: TieringResult, b: TieringResult) -> pd.DataFrame:
    """Tidy cross-tabulation of two results on the same customers (see
    :class:`MethodComparison`)."""
    ra = a.assignments["tier_rank"].to_numpy()
    rb = b.assignments["tier_rank"].to_numpy()
    ka, kb = len(a.labels), len(b.labels)
    counts = np.zeros((ka, kb), dtype="int64")
    np.add.at(counts, (ra - 1, rb - 1), 1)
    i, j = np.meshgrid(np.arange(ka), np.arange(kb), indexing="ij")
    row_tot = counts.sum(axis=1, keepdims=True)
    share_of_tier = np.divide(counts, row_tot, out=np.zeros(counts.shape), where=row_tot > 0)
    total = counts.sum()
    return pd.DataFrame(
        {
            "tier": np.asarray(a.labels, dtype=object)[i.ravel()],
            "tier_rank": i.ravel() + 1,
            "other_tier": np.asarray(b.labels, dtype=object)[j.ravel()],
            "other_tier_rank": j.ravel() + 1,
            "customers": counts.ravel(),
            "share_of_tier": share_of_tier.ravel(),
            "share_of_all": counts.ravel() / total if total else 0.0,
        }
    )


def adjusted_rand(ra: np.ndarray, rb: np.ndarray) -> float:
    """The adjusted Rand index of two tier-rank arrays (positive integers), as
    ``sklearn.metrics.adjusted_rand_score`` computes it (the pair confusion matrix in
    exact integers, then one division: the same float). Here rather than there because
    importing scikit-learn's metrics costs about 0.5 s, on every report that compares
    methods (tests check it against scikit-learn)."""
    n = int(ra.size)
    if n == 0:
        return 1.0
    _, ia = np.unique(ra, return_inverse=True)
    _, ib = np.unique(rb, return_inverse=True)
    shape = (int(ia.max()) + 1, int(ib.max()) + 1)
    table = np.bincount(ia * shape[1] + ib, minlength=shape[0] * shape[1])
    table = table.astype(np.int64).reshape(shape)
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    squares = int((table.astype(object) ** 2).sum())
    tp = squares - n
    fp = int(table.dot(cols).sum()) - squares
    fn = int(table.T.dot(rows).sum()) - squares
    tn = n * n - fp - fn - squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def weighted_kappa(ra: np.ndarray, rb: np.ndarray, k: int) -> float:
    """Cohen's kappa with linear weights of two tier-rank arrays (ranks 1..``k``), as
    ``sklearn.metrics.cohen_kappa_score(weights="linear", labels=1..k)`` computes it
    (the same operations in the same order: the same float; NaN when undefined). Ranks
    outside 1..k are left out, as there."""
    keep = (ra >= 1) & (ra <= k) & (rb >= 1) & (rb <= k)
    a = ra[keep].astype(np.int64) - 1
    b = rb[keep].astype(np.int64) - 1
    confusion = np.bincount(a * k + b, minlength=k * k).reshape(k, k).astype(np.int64)
    sum0 = np.sum(confusion, axis=0)
    sum1 = np.sum(confusion, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.outer(sum0, sum1) / np.sum(sum0)
        w_mat = np.zeros([k, k], dtype=int)
        w_mat += np.arange(k)
        w_mat = np.abs(w_mat - w_mat.T)
        return float(1 - np.sum(w_mat * confusion) / np.sum(w_mat * expected))


def agreement(a: TieringResult, b: TieringResult) -> dict:
    """Agreement of two results on the same customers (one row of the agreement table)."""
    ra = a.assignments["tier_rank"].to_numpy()
    rb = b.assignments["tier_rank"].to_numpy()
    k = max(len(a.labels), len(b.labels))
    kappa = weighted_kappa(ra, rb, k)
    return {
        "other_method": b.method,
        "customers": int(ra.size),
        "tiers": len(a.labels),
        "other_tiers": len(b.labels),
        "exact_agreement": float(np.mean(ra == rb)),
        "adjusted_rand": adjusted_rand(ra, rb),
        "weighted_kappa": kappa,
        "kappa_magnitude": kappa_magnitude(kappa),
    }


def compare_methods(
    features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0, result: TieringResult | None = None
) -> MethodComparison | None:
    """Compare ``spec.method`` with each method in ``spec.compare_with`` (None when the
    list is empty). ``result``: the main method's result when already fitted."""
    from tiering.analysis.methods.registry import fit

    if not spec.compare_with:
        return None
    main = result if result is not None else fit(features, spec, seed=seed)
    others, rows, tabs = [], [], {}
    for name in spec.compare_with:
        try:
            other = fit(features, spec.model_copy(update={"method": name}), seed=seed)
        except MethodError as exc:
            raise MethodError(
                f"Comparing with {name}: {exc.message}",
                where=f"tiering.compare_with ({exc.where or 'tiering.' + name})",
                hint=exc.hint or f"fix tiering.{name} or remove {name} from tiering.compare_with",
            ) from None
        others.append(other)
        tabs[name] = crosstab(main, other)
        rows.append(agreement(main, other))
    long = pd.concat(
        [
            r.assignments[["customer_id", "tier", "tier_rank"]].assign(
                method=r.method, tier=lambda d: d["tier"].astype(str)
            )
            for r in [main, *others]
        ],
        ignore_index=True,
    )
    long = long[["customer_id", "method", "tier", "tier_rank"]]
    return MethodComparison(
        method=main.method,
        others=tuple(spec.compare_with),
        assignments=long,
        crosstabs=tabs,
        agreement=pd.DataFrame(rows),
        params={"method": main.method, "compare_with": list(spec.compare_with), "seed": seed},
    )


def stability(
    features: pd.DataFrame,
    spec: TieringSpec,
    *,
    n_boot: int | None = None,
    seed: int = 0,
    max_customers: int | None = None,
    result: TieringResult | None = None,
) -> pd.DataFrame | None:
    """Bootstrap stability of a data-driven method's tiers, per tier.

    Each of ``n_boot`` resamples draws the customers with replacement (seeded), the
    method's cut-offs are estimated on it (quantiles, cumulative shares, normalisation,
    k-means centres with the same k), and every customer is tiered with them. Returns
    one row per tier: ``tier, tier_rank, customers`` (in the tier), ``evaluated``
    (customers in the study), ``unchanged_share`` (share of customer x resample pairs
    whose tier is the same as with cut-offs from all customers), ``unchanged_low`` and
    ``unchanged_high`` (2.5 % and 97.5 % quantiles over resamples), ``moved_up_share``
    and ``moved_down_share``. ``DataFrame.attrs`` holds ``n_boot``, ``seed``,
    ``customers_used`` and ``subsampled``.

    ``n_boot`` and ``max_customers`` default to ``spec.stability`` (50 and 50,000).
    Returns None for methods whose cut-offs are fixed (rules; rfm with fixed edges on
    all three scores) or when ``n_boot`` is 0. With more than ``max_customers``
    customers, the study runs on a seeded subsample of that size (resamples of that
    size too, so the variability shown is that of a sample of ``max_customers``
    customers: a conservative estimate).
    """
    from tiering.analysis.methods.registry import fit, get, is_data_driven

    n_boot = spec.stability.n_boot if n_boot is None else n_boot
    max_customers = spec.stability.max_customers if max_customers is None else max_customers
    if n_boot <= 0 or not is_data_driven(spec):
        return None
    main = result if result is not None else fit(features, spec, seed=seed)
    labels = list(main.labels)
    n = len(features)
    rng = np.random.default_rng(seed)
    subsampled = n > max_customers
    idx = np.sort(rng.choice(n, size=max_customers, replace=False)) if subsampled else np.arange(n)
    sub = features.iloc[idx].reset_index(drop=True)
    m = len(sub)
    reported = main.assignments["tier_rank"].to_numpy()[idx]
    method = get(main.method)
    if method.bootstrap is None:
        return None
    extra = {"ranks": reported, "seed": seed} if method.bootstrap_from_fit else {}
    boot = method.bootstrap
    if method.bootstrap_from_fit or subsampled:
        baseline = reported
    else:  # the same assignment rule with cut-offs from all customers
        baseline = boot(sub, spec, np.arange(m)[None, :], **extra)[0]
    references = rng.integers(0, m, size=(n_boot, m))
    ranks = boot(sub, spec, references, **extra)
    same = ranks == baseline[None, :]
    up = ranks < baseline[None, :]
    down = ranks > baseline[None, :]
    counts = (
        main.assignments["tier_rank"]
        .value_counts()
        .reindex(range(1, len(labels) + 1), fill_value=0)
    )
    rows = []
    for r, label in enumerate(labels, start=1):
        mask = reported == r
        k = int(mask.sum())
        if k:
            per_boot = same[:, mask].mean(axis=1)
            lo, hi = np.quantile(per_boot, [0.025, 0.975])
            rows.append(
                {
                    "tier": label,
                    "tier_rank": r,
                    "customers": int(counts[r]),
                    "evaluated": k,
                    "unchanged_share": float(same[:, mask].mean()),
                    "unchanged_low": float(lo),
                    "unchanged_high": float(hi),
                    "moved_up_share": float(up[:, mask].mean()),
                    "moved_down_share": float(down[:, mask].mean()),
                }
            )
        else:
            rows.append(
                {
                    "tier": label,
                    "tier_rank": r,
                    "customers": int(counts[r]),
                    "evaluated": 0,
                    "unchanged_share": np.nan,
                    "unchanged_low": np.nan,
                    "unchanged_high": np.nan,
                    "moved_up_share": np.nan,
                    "moved_down_share": np.nan,
                }
            )
    out = pd.DataFrame(rows)
    out.attrs = {
        "method": main.method,
        "n_boot": int(n_boot),
        "seed": seed,
        "customers_used": m,
        "subsampled": bool(subsampled),
        "overall_unchanged": float(same.mean()),
    }
    return out
