"""The states of tier migration and the grid of flows between them.

A customer's *state* at a snapshot is their tier, or :data:`LAPSED` when they have
bought nothing for ``churn_days``; a customer who was not there before comes from
:data:`NEW`. Both the period migration (:mod:`tiering.analysis.migration`) and the
comparison with a previous report (:mod:`tiering.analysis.previous`) count customers
over the full grid ``from_state x to_state`` (:func:`transition_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from tiering.errors import require

__all__ = ["LAPSED", "NEW", "DIRECTIONS", "check_labels", "transition_table"]

LAPSED = "lapsed"
NEW = "new"
#: The kinds of move between two snapshots (column ``direction``), in display order.
DIRECTIONS = ("stay", "up", "down", "lapsed", "reactivated", "dormant", "new")


def check_labels(labels) -> None:
    """Refuse tier labels that are also state names (:data:`LAPSED`, :data:`NEW`)."""
    clash = [x for x in labels if str(x) in (LAPSED, NEW)]
    require(
        not clash,
        f"Tier label {clash[0]!r} is also a migration state name" if clash else "",
        where="tiering.labels",
        hint=f"rename the tier: {LAPSED!r} and {NEW!r} are reserved for tier migration",
    )


def _grid(from_states, to_states) -> pd.DataFrame:
    return pd.DataFrame(
        [(f, s) for f in from_states for s in to_states], columns=["from_state", "to_state"]
    )


def transition_table(
    pairs: pd.DataFrame,
    from_states: Sequence[str],
    to_states: Sequence[str],
    direction: Callable[[str, str], str],
    *,
    revenue_cols: tuple[str, ...],
) -> pd.DataFrame:
    """The full grid of flows from a table of ``from_state``, ``to_state`` and
    ``revenue_cols`` (one row per customer): one row per ``from_state`` x ``to_state``
    in the order given, with ``customers``, the summed ``revenue_cols``, ``row_share``
    (of the from-state; NaN for an empty one) and ``direction`` (``direction(from,
    to)``)."""
    agg = {"customers": ("from_state", "size")}
    agg.update({c: (c, "sum") for c in revenue_cols})
    counts = pairs.groupby(["from_state", "to_state"], sort=False).agg(**agg).reset_index()
    out = _grid(from_states, to_states).merge(counts, on=["from_state", "to_state"], how="left")
    out["customers"] = out["customers"].fillna(0).astype("int64")
    for c in revenue_cols:
        out[c] = out[c].fillna(0.0).round(6)
    totals = out.groupby("from_state", sort=False)["customers"].transform("sum")
    out["row_share"] = (out["customers"] / totals.where(totals > 0)).astype(float)
    out["direction"] = [direction(f, s) for f, s in zip(out["from_state"], out["to_state"])]
    return out
