"""What every tiering method shares: its description (:class:`Method`), its result
(:class:`TieringResult`) and the checks they share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tiering.errors import MethodError, require
from tiering.params import MethodOptions, TieringSpec

# Customer columns that are identifiers or dates, never a numeric criterion.
NON_NUMERIC = (
    "customer_id",
    "customer_name",
    "first_purchase",
    "last_purchase",
    "tier",
    "tier_rank",
    "segment",
)


@dataclass(frozen=True)
class TieringResult:
    """Tiers of one method.

    ``assignments``: one row per customer, in the order of the features table, with
    ``customer_id``, ``tier`` (ordered Categorical, best first), ``tier_rank`` (1 = best)
    and the method's score columns: ``cum_share`` (abc); ``r_score``, ``f_score``,
    ``m_score``, ``rfm_score``, ``rfm_code``, ``segment`` (rfm); ``value_score`` (score);
    ``cluster`` (cluster: the k-means cluster, numbered by value, 1 = best);
    ``rule`` (rules: 1-based number of the first matching rule, 0 = default).
    ``thresholds``: one row per tier: ``tier, tier_rank, rule`` (a readable
    definition in the method's terms) and ``lower``, ``upper`` bounds where they apply.
    ``params``: the options used and the values computed from the data (JSON-safe).
    ``warnings``: ``(code, fields)`` pairs for the report (text ``methods.warn_<code>``).
    """

    method: str
    labels: tuple[str, ...]
    assignments: pd.DataFrame
    thresholds: pd.DataFrame
    params: dict = field(default_factory=dict)
    warnings: tuple[tuple[str, dict], ...] = ()

    def counts(self) -> pd.Series:
        return self.assignments["tier"].value_counts(sort=False)


@dataclass(frozen=True)
class Method:
    """One tiering method, everything the package needs to know of it in one place.

    - ``name``: what ``tiering.method`` and ``tiering.compare_with`` call it; its options
      are the block ``tiering.<name>``.
    - ``fit(features, spec, *, seed) -> TieringResult``: the tiers. ``spec`` is the
      :class:`tiering.params.TieringSpec`; ``spec.options(name)`` gives the options.
    - ``options``: the options model (a :class:`tiering.params.MethodOptions`; its
      ``check(labels)`` lists problems with the tier labels).
    - ``data_driven``: whether a customer's tier depends on the other customers (then
      the stability check bootstraps it); ``True``, ``False`` or a function of the spec.
    - ``bootstrap(features, spec, references, **kw) -> ranks``: tier ranks with the
      cut-offs estimated on each row of ``references`` (resampled row numbers); None
      when the method has none. ``bootstrap_from_fit``: the bootstrap also needs the
      reported ranks and the seed (``ranks=``, ``seed=``), as k-means does.
    - ``built_from(params) -> columns``: the customer columns the tiers are computed
      from, given the fitted ``TieringResult.params``; the tiers differ in these by
      construction, so the report leads with the others. None when not known.
    - ``texts``: report texts of a method that is not in the package's catalogue, by
      part and language: ``name`` (display name), ``short`` (table headers),
      ``subtitle`` (the cover) and ``lead`` (the opening sentence of the method
      section; it may use the fitted ``params`` as ``{fields}``). The built-in methods'
      texts are the catalogue keys ``methods.<part>_<name>`` (tiering/text/methods.yaml).
    """

    name: str
    fit: Callable[..., TieringResult]
    options: type[MethodOptions]
    data_driven: bool | Callable[[TieringSpec], bool] = True
    bootstrap: Callable[..., np.ndarray] | None = None
    bootstrap_from_fit: bool = False
    built_from: Callable[[Mapping], Iterable[str]] | None = None
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def is_data_driven(self, spec: TieringSpec) -> bool:
        return bool(self.data_driven(spec) if callable(self.data_driven) else self.data_driven)


def finish(
    features: pd.DataFrame,
    rank: np.ndarray,
    labels: list[str] | tuple[str, ...],
    scores: dict[str, np.ndarray | pd.Series],
    *,
    method: str,
    thresholds: pd.DataFrame,
    params: dict,
    warnings: list[tuple[str, dict]] | tuple = (),
) -> TieringResult:
    """Assemble a :class:`TieringResult` from 1-based tier ranks."""
    labels = tuple(str(x) for x in labels)
    rank = np.asarray(rank, dtype="int64")
    if rank.size and (rank.min() < 1 or rank.max() > len(labels)):
        raise MethodError(f"{method}: internal tier rank out of range", where=f"tiering.{method}")
    out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy()})
    out["tier"] = pd.Categorical.from_codes(rank - 1, categories=list(labels), ordered=True)
    out["tier_rank"] = rank
    for name, values in scores.items():
        out[name] = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    return TieringResult(
        method=method,
        labels=labels,
        assignments=out,
        thresholds=thresholds.reset_index(drop=True),
        params=params,
        warnings=tuple(warnings),
    )


def check_features(
    features: pd.DataFrame,
    needed: tuple[str, ...] | list[str],
    method: str,
    *,
    tiers: int | None = None,
) -> None:
    """The features have the columns ``needed`` and at least ``tiers`` customers."""
    missing = [c for c in needed if c not in features.columns]
    available = [c for c in features.columns if c not in NON_NUMERIC]
    require(
        not missing,
        f"{method}: the customer table has no column {', '.join(map(repr, missing))}",
        where=f"tiering.{method}",
        error=MethodError,
        hint=f"use one of {', '.join(available)} (attributes come from data.attributes)",
    )
    require(
        len(features) > 0,
        "No customers to tier: every row was rejected or the file is empty",
        where="data",
        hint="see rejected_rows.csv for the reasons",
        error=MethodError,
    )
    if tiers is not None:
        require(
            len(features) >= tiers,
            f"{method}: only {len(features)} customer(s) for {tiers} tiers",
            where="tiering.labels",
            error=MethodError,
            hint="give fewer tier labels, or more data (a longer window or fewer exclusions)",
        )


def numeric_column(features: pd.DataFrame, column: str, method: str, *, where: str) -> np.ndarray:
    """``features[column]`` as float64. Attribute columns arrive as text and are
    converted; text that is not a number is an error naming the first bad value.
    Blank values become NaN (the caller decides what they mean)."""
    s = features[column]
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64").to_numpy()
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype="float64", na_value=np.nan)
    require(
        not pd.api.types.is_datetime64_any_dtype(s),
        f"{method}: column {column!r} holds dates, not numbers",
        where=where,
        hint="use recency_days or tenure_days instead",
        error=MethodError,
    )
    text = s.astype("string").str.strip().str.replace(",", "", regex=False)
    blank = text.isna() | (text == "") | text.str.lower().isin(["nan", "none", "null", "na", "n/a"])
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    bad = num.isna() & ~blank
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise MethodError(
            f"{method}: column {column!r} is not numeric: customer "
            f"{features['customer_id'].iloc[first]!s} has {s.iloc[first]!r}",
            where=where,
            hint="choose a numeric column, or clean the attribute in the data file",
        )
    return num.to_numpy(dtype="float64", na_value=np.nan)


def all_equal(values: np.ndarray) -> bool:
    """Whether every (non-missing) value is the same."""
    v = values[~np.isnan(values)]
    return v.size == 0 or bool(np.all(v == v[0]))


def midrank_counts(
    values: np.ndarray, reference: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """For each value: ``2 * below + ties`` and ``2 * n`` as integers, where ``below``
    counts reference values smaller than it and ``ties`` those equal to it, in
    ``reference`` (default: the values themselves). ``(2 * below + ties) / (2 * n)`` is
    the mid-rank percentile ``(average rank - 0.5) / n``: tied customers share it, it
    never depends on row order, and integer arithmetic keeps bin edges exact. Values not
    in ``reference`` (cut-offs estimated on a bootstrap resample) are placed where they
    would fall; vectorised with ``searchsorted``."""
    values = np.asarray(values, dtype="float64")
    ref = np.sort(values if reference is None else np.asarray(reference, dtype="float64"))
    below = np.searchsorted(ref, values, side="left")
    upto = np.searchsorted(ref, values, side="right")
    return (below + upto).astype("int64"), np.int64(2 * ref.size), ref.size


def midrank_percentile(values: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Mid-rank percentile of each value in ``reference`` (see :func:`midrank_counts`)."""
    num, den, _ = midrank_counts(values, reference)
    return num / den
