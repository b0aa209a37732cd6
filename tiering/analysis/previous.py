"""Today's tiers against the tiers an earlier report delivered.

``migration.previous_report`` names the folder of an earlier ``tiering report`` run;
its ``tiers.csv`` and ``manifest.json`` are read (:func:`read_previous`) and today's
customers are placed two ways (:func:`compare_previous`):

Refit
    today's method on today's data: the report's own tiers.
Frozen
    the earlier report's boundaries applied to today's numbers: abc tiers keep the
    earlier least spend of each tier, rfm tiers keep the earlier quantile bins and
    score thresholds. Other methods cannot be frozen and fall back to refit, with a
    warning.

The flows from the earlier tier to today's state are counted on the full grid of
:func:`tiering.analysis.transitions.transition_table`. :func:`compare_previous` is run
by :func:`tiering.analysis.migration.analyse_migration`, whose result carries it as
``Migration.previous``. Results are numbers only; the report section words them
(``present/migration.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tiering.analysis.transitions import LAPSED, NEW, check_labels, transition_table
from tiering.errors import DataError, require
from tiering.params import MigrationSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tiering.params import Params

__all__ = ["PreviousComparison", "read_previous", "compare_previous"]


@dataclass(frozen=True)
class PreviousComparison:
    """Today's tiers against the tiers an earlier report delivered.

    - ``customers``: one row per customer in either report: ``customer_id``,
      ``customer_name`` (when known), ``previous_tier`` (``new`` when not in the earlier
      report), ``refit_state`` (today's tier from today's method, or ``lapsed``),
      ``frozen_state`` (the tier under the earlier report's thresholds, or
      ``lapsed``), ``revenue_since`` (net revenue from the earlier as-of date to today),
      ``monetary`` (today's window), ordered by ``customer_id``.
    - ``transitions``: ``thresholds`` (``refit`` | ``frozen``), ``from_state``,
      ``to_state``, ``customers``, ``row_share``, ``revenue`` (revenue since the earlier
      report), ``direction`` - the full grid, deterministic order.
    - ``frozen_thresholds``: the earlier boundaries as applied: ``tier``, ``tier_rank``,
      ``metric`` (``monetary``/``gross_revenue`` for abc, ``rfm_score`` for rfm) and
      ``lower`` (the least value of the tier).
    - ``warnings``: ``(code, fields)`` pairs for the report (different window length,
      method or labels; earlier report not earlier).
    """

    folder: str
    as_of: dt.date
    method: str
    labels: tuple[str, ...]
    mode: str
    customers: pd.DataFrame
    transitions: pd.DataFrame
    frozen_thresholds: pd.DataFrame
    window_days: int | None
    warnings: tuple[tuple[str, dict], ...] = ()


def read_previous(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """The earlier report's ``tiers.csv`` (ids, tiers and names as text, the formula-safe
    prefix removed) and its ``manifest.json``; a clear error when the folder, a file or a
    needed field is missing."""
    folder = Path(folder)
    require(
        folder.is_dir(),
        f"The previous report folder does not exist: {folder}",
        where="migration.previous_report",
        hint="give the folder of an earlier `tiering report` run (it holds tiers.csv and "
        "manifest.json)",
    )
    tiers_path, manifest_path = folder / "tiers.csv", folder / "manifest.json"
    for p in (tiers_path, manifest_path):
        require(
            p.is_file(),
            f"The previous report folder has no {p.name}",
            where=str(folder),
            hint="point migration.previous_report at a complete report folder written by "
            "`tiering report`",
            error=DataError,
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"The previous report's manifest cannot be read: {exc}",
            where=str(manifest_path),
            hint="restore manifest.json from the report folder",
        ) from None
    require(
        isinstance(manifest, dict) and "as_of" in manifest and "tiering" in manifest,
        "The previous report's manifest lacks 'as_of' or 'tiering'",
        where=str(manifest_path),
        hint="use a report folder written by this version of `tiering report`",
        error=DataError,
    )
    from tiering.safecsv import unprefix

    tiers = pd.read_csv(
        tiers_path,
        dtype={"customer_id": str, "tier": str},
        encoding="utf-8",
        keep_default_na=False,
        na_values=[""],
    )
    for col in ("customer_id", "tier", "customer_name"):  # written formula-safe
        if col in tiers.columns:
            tiers[col] = tiers[col].map(unprefix)
    missing = [c for c in ("customer_id", "tier", "tier_rank") if c not in tiers.columns]
    require(
        not missing,
        f"The previous tiers.csv lacks {', '.join(missing)}",
        where=str(tiers_path),
        hint="use the tiers.csv written by `tiering report`",
        error=DataError,
    )
    return tiers, manifest


def _previous_labels(tiers: pd.DataFrame, manifest: dict) -> tuple[str, ...]:
    labels = (manifest.get("parameters") or {}).get("tiering", {}).get("labels")
    if labels:
        return tuple(str(x) for x in labels)
    pairs = tiers[["tier", "tier_rank"]].drop_duplicates().sort_values("tier_rank")
    return tuple(pairs["tier"].astype(str))


def _window_days(manifest: dict, tiers: pd.DataFrame) -> int | None:
    """The length in days of the earlier report's analysis window."""
    try:
        as_of = pd.Timestamp(manifest["as_of"])
        window = (manifest.get("parameters") or {}).get("window") or {}
        if window.get("start"):
            return int((as_of - pd.Timestamp(window["start"])).days)
        if window.get("months"):
            return int((as_of - (as_of - pd.DateOffset(months=int(window["months"])))).days)
        if "tenure_days" in tiers.columns and len(tiers):
            return int(pd.to_numeric(tiers["tenure_days"], errors="coerce").max())
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _frozen_abc(
    prev: pd.DataFrame, feats: pd.DataFrame, tiering: dict, labels
) -> tuple[np.ndarray, pd.DataFrame]:
    value = tiering.get("value", "monetary")
    require(
        value in prev.columns and value in feats.columns,
        f"The previous tiers.csv lacks the column {value!r} its abc tiers were cut on",
        where="migration.previous_report",
        hint="use the tiers.csv written by `tiering report`",
        error=DataError,
    )
    v = pd.to_numeric(prev[value], errors="coerce")
    lowers = []
    for r in range(1, len(labels)):
        sel = (prev["tier_rank"] == r) & (v > 0)
        lowers.append(float(v[sel].min()) if sel.any() else np.inf)
    lowers = np.asarray(lowers, dtype=float)  # abc tiers are contiguous in value: decreasing
    x = feats[value].to_numpy(dtype=float)
    # best tier whose least value the customer reaches; else the last tier
    rank = np.full(len(x), len(labels), dtype="int64")
    for r in range(len(lowers), 0, -1):
        rank = np.where((x >= lowers[r - 1]) & (x > 0), r, rank)
    table = pd.DataFrame(
        {
            "tier": list(labels),
            "tier_rank": range(1, len(labels) + 1),
            "metric": value,
            "lower": [*lowers.tolist(), np.nan],
        }
    )
    return rank, table


def _frozen_rfm(
    prev: pd.DataFrame, feats: pd.DataFrame, tiering: dict, labels
) -> tuple[np.ndarray, pd.DataFrame]:
    needed = ("r_score", "f_score", "m_score", "recency_days", "frequency", "monetary")
    missing = [c for c in needed if c not in prev.columns]
    require(
        not missing,
        f"The previous tiers.csv lacks {', '.join(missing)} needed to freeze its RFM bins",
        where="migration.previous_report",
        hint="use migration.previous_thresholds: refit, or a tiers.csv from `tiering report`",
        error=DataError,
    )
    bins = int(tiering.get("bins", 5))

    def score(metric: str, col: str, higher_is_better: bool) -> np.ndarray:
        s = pd.to_numeric(prev[col], errors="coerce")
        v = pd.to_numeric(prev[metric], errors="coerce")
        x = feats[metric].to_numpy(dtype=float)
        out = np.ones(len(x), dtype="int64")
        for k in range(2, bins + 1):
            sel = s >= k
            if not sel.any():
                continue
            if higher_is_better:
                edge = float(v[sel].min())
                out = np.where(x >= edge, k, out)
            else:
                edge = float(v[sel].max())
                out = np.where(x <= edge, k, out)
        return out

    r = score("recency_days", "r_score", False)
    f = score("frequency", "f_score", True)
    m = score("monetary", "m_score", True)
    w = tiering.get("weights") or {"recency": 1.0, "frequency": 1.0, "monetary": 1.0}
    wsum = float(w["recency"]) + float(w["frequency"]) + float(w["monetary"])
    s = np.round((w["recency"] * r + w["frequency"] * f + w["monetary"] * m) / wsum, 9)
    th = list(tiering.get("thresholds") or [])
    require(
        len(th) == len(labels) - 1,
        "The previous manifest's RFM thresholds do not match its tier labels",
        where="migration.previous_report",
        hint="use migration.previous_thresholds: refit",
        error=DataError,
    )
    rank = 1 + (s[:, None] < np.asarray(th, dtype=float)[None, :]).sum(axis=1)
    table = pd.DataFrame(
        {
            "tier": list(labels),
            "tier_rank": range(1, len(labels) + 1),
            "metric": "rfm_score",
            "lower": [*map(float, th), 1.0],
        }
    )
    return rank.astype("int64"), table


def compare_previous(
    transactions: pd.DataFrame,
    *,
    folder: str | Path,
    current: pd.DataFrame,
    features: pd.DataFrame,
    params: Params,
    spec: MigrationSpec,
    as_of: dt.date,
    first: pd.Timestamp | None = None,
    earlier: tuple[pd.DataFrame, dict] | None = None,
) -> PreviousComparison:
    """Compare today's tiers (``current``: the snapshot rows at ``as_of``, with ``state``;
    ``features``: today's customer features in the same order) with an earlier report.

    Frozen thresholds: abc tiers keep the earlier report's least spend of each tier
    (an amount, e.g. tier A = net spend >= 12,345); rfm tiers keep its quantile bins (the
    least frequency and spend, the most recency days of each score) and its score
    thresholds. Refit: today's method on today's data (the report's own tiers).
    """
    folder = Path(folder)
    prev, manifest = earlier if earlier is not None else read_previous(folder)
    prev_as_of = pd.Timestamp(manifest["as_of"]).date()
    prev_labels = _previous_labels(prev, manifest)
    check_labels(prev_labels)
    tiering = dict(manifest["tiering"])
    method = str(tiering.get("method", "abc"))
    labels = tuple(str(x) for x in params.tiering.labels)
    warnings: list[tuple[str, dict]] = []
    if prev_as_of >= as_of:
        warnings.append(
            (
                "previous_not_earlier",
                {"previous": prev_as_of.isoformat(), "current": as_of.isoformat()},
            )
        )
    if method != params.tiering.method:
        warnings.append(("previous_method", {"previous": method, "current": params.tiering.method}))
    if prev_labels != labels:
        warnings.append(
            (
                "previous_labels",
                {"previous": " / ".join(prev_labels), "current": " / ".join(labels)},
            )
        )
    prev_days = _window_days(manifest, prev)
    cur_days = int((pd.Timestamp(as_of) - pd.Timestamp(first)).days) if first is not None else None
    if prev_days and cur_days and abs(prev_days - cur_days) > 0.1 * max(prev_days, cur_days):
        warnings.append(("previous_window", {"previous": prev_days, "current": cur_days}))

    mode = spec.previous_thresholds
    frozen_rank = None
    frozen_table = pd.DataFrame(columns=["tier", "tier_rank", "metric", "lower"])
    if method == "abc":
        frozen_rank, frozen_table = _frozen_abc(prev, features, tiering, prev_labels)
    elif method == "rfm" and tiering.get("tier_by", "score") == "score":
        frozen_rank, frozen_table = _frozen_rfm(prev, features, tiering, prev_labels)
    else:
        warnings.append(("frozen_unavailable", {"method": method}))
        mode = "refit"
    cur = current.set_index("customer_id")
    feats = features.set_index("customer_id")
    lapsed = cur["state"].astype(str) == LAPSED
    if frozen_rank is not None:
        frozen_tier = pd.Series(
            np.asarray(prev_labels, dtype=object)[frozen_rank - 1], index=feats.index
        )
        frozen_state = frozen_tier.where(~lapsed.reindex(feats.index, fill_value=False), LAPSED)
    else:
        frozen_state = pd.Series(dtype=object)

    ids = sorted(set(prev["customer_id"]) | set(cur.index))
    prev_tier = prev.drop_duplicates("customer_id").set_index("customer_id")["tier"].astype(str)
    tx = transactions
    since = tx[tx["order_date"] >= pd.Timestamp(prev_as_of)].groupby("customer_id")["amount"].sum()
    out = pd.DataFrame({"customer_id": ids})
    if "customer_name" in cur.columns or "customer_name" in prev.columns:
        names = cur["customer_name"] if "customer_name" in cur.columns else pd.Series(dtype=object)
        if "customer_name" in prev.columns:
            older = prev.drop_duplicates("customer_id").set_index("customer_id")["customer_name"]
            names = names.combine_first(older)
        out["customer_name"] = out["customer_id"].map(names)
    out["previous_tier"] = out["customer_id"].map(prev_tier).fillna(NEW)
    out["refit_state"] = out["customer_id"].map(cur["state"].astype(str)).fillna(LAPSED)
    out["frozen_state"] = (
        out["customer_id"].map(frozen_state).fillna(LAPSED) if frozen_rank is not None else None
    )
    out["revenue_since"] = out["customer_id"].map(since).fillna(0.0).round(6)
    out["monetary"] = out["customer_id"].map(feats["monetary"]).fillna(0.0)

    prank = {lab: i + 1 for i, lab in enumerate(prev_labels)}
    tables = []
    readings = [("refit", "refit_state", labels)]
    if frozen_rank is not None:
        readings.append(("frozen", "frozen_state", prev_labels))
    for reading, col, to_labels in readings:
        # up/down compare positions: earlier labels by earlier rank, today's by today's rank
        rank = {lab: i + 1 for i, lab in enumerate(to_labels)}
        pairs = pd.DataFrame(
            {
                "from_state": out["previous_tier"],
                "to_state": out[col],
                "revenue": out["revenue_since"],
            }
        )
        grid = transition_table(
            pairs,
            [*prev_labels, NEW],
            [*to_labels, LAPSED],
            lambda f, s, rank=rank: _direction_between(f, s, prank, rank),
            revenue_cols=("revenue",),
        )
        grid.insert(0, "thresholds", reading)
        tables.append(grid)
    transitions = pd.concat(tables, ignore_index=True)[
        ["thresholds", "from_state", "to_state", "customers", "row_share", "revenue", "direction"]
    ]
    return PreviousComparison(
        folder=str(folder),
        as_of=prev_as_of,
        method=method,
        labels=prev_labels,
        mode=mode,
        customers=out,
        transitions=transitions,
        frozen_thresholds=frozen_table,
        window_days=prev_days,
        warnings=tuple(warnings),
    )


def _direction_between(frm: str, to: str, from_rank: dict, to_rank: dict) -> str:
    if frm == NEW:
        return "new"
    if to == LAPSED:
        return "lapsed"
    a, b = from_rank[frm], to_rank[to]
    return "up" if b < a else "down" if b > a else "stay"
