"""The result type shared by every tiering method."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import MethodError, require


@dataclass(frozen=True)
class TieringResult:
    """Tiers of one method.

    ``assignments``: one row per customer, in the order of the features table, with
    ``customer_id``, ``tier`` (ordered Categorical, best first), ``tier_rank`` (1 = best)
    and the method's score columns (e.g. ``cum_share`` for abc; ``r_score``,
    ``f_score``, ``m_score``, ``rfm_score``, ``rfm_code`` for rfm).
    ``thresholds``: one row per tier: ``tier, tier_rank, rule`` (a readable
    definition in the method's terms) and ``lower``, ``upper`` bounds where they apply.
    ``params``: the options used.
    """

    method: str
    labels: tuple[str, ...]
    assignments: pd.DataFrame
    thresholds: pd.DataFrame
    params: dict = field(default_factory=dict)

    def counts(self) -> pd.Series:
        return self.assignments["tier"].value_counts(sort=False)


def finish(features: pd.DataFrame, rank: np.ndarray, labels: list[str] | tuple[str, ...],
           scores: dict[str, np.ndarray | pd.Series], *, method: str,
           thresholds: pd.DataFrame, params: dict) -> TieringResult:
    """Assemble a :class:`TieringResult` from 1-based tier ranks."""
    labels = tuple(str(x) for x in labels)
    rank = np.asarray(rank, dtype="int64")
    if rank.size and (rank.min() < 1 or rank.max() > len(labels)):
        raise MethodError(f"{method}: internal tier rank out of range", where=f"tiering.{method}")
    out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy()})
    out["tier"] = pd.Categorical.from_codes(rank - 1, categories=list(labels), ordered=True)
    out["tier_rank"] = rank
    for name, values in scores.items():
        out[name] = np.asarray(values)
    return TieringResult(method=method, labels=labels, assignments=out,
                         thresholds=thresholds.reset_index(drop=True), params=params)


def check_features(features: pd.DataFrame, needed: tuple[str, ...], method: str) -> None:
    missing = [c for c in needed if c not in features.columns]
    require(not missing, f"{method}: the features lack {', '.join(missing)}",
            where=f"tiering.{method}", error=MethodError)
    require(len(features) > 0, "No customers to tier: every row was rejected or the file is empty",
            where="data", hint="see rejected_rows.csv for the reasons", error=MethodError)
