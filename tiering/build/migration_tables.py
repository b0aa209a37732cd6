"""The tables of tier migration in a report folder: the CSV files
(:func:`write_tables`) and the movers' sheets of the action-list workbook
(:func:`movers_sheets`), from a :class:`tiering.analysis.migration.Migration`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tiering import locale
from tiering.analysis.migration import Migration
from tiering.analysis.transitions import LAPSED, NEW
from tiering.present.i18n import t, tn
from tiering.safecsv import write_csv

__all__ = ["movers_sheets", "state_text", "write_tables"]


def write_tables(result: Migration | None, folder: str | Path) -> list[str]:
    """Write the migration tables into ``folder``; returns the file names written.

    ``migration.csv`` (the transitions), ``migration_rates.csv`` (per tier and period),
    ``migration_sizes.csv`` (tier sizes and revenue shares per snapshot), ``movers.csv``
    and, with a previous report, ``previous_comparison.csv`` (one row per customer) and
    ``previous_transitions.csv``. Same conventions as :mod:`tiering.build.outputs`: UTF-8,
    ``\\n`` line ends, no index, ISO timestamps.
    """
    if result is None:
        return []
    folder = Path(folder)
    tables = {
        "migration.csv": result.transitions,
        "migration_rates.csv": result.tier_rates,
        "migration_sizes.csv": result.sizes,
        "movers.csv": result.movers,
    }
    if result.previous is not None:
        tables["previous_comparison.csv"] = result.previous.customers
        tables["previous_transitions.csv"] = result.previous.transitions
    for name, df in tables.items():
        write_csv(df, folder / name)
    return list(tables)


def state_text(state: object, language: str) -> str:
    """A tier or state of the movers for a reader: tier labels as they are, ``lapsed``
    and ``new`` in ``language``."""
    if state == LAPSED:
        return t("migration.state_lapsed", language)
    if state == NEW:
        return t("migration.state_new", language)
    return str(state)


def _mover_action(movement: str, to_state: str, top: str, *, churn: int, language: str) -> str:
    if movement == "rose":
        return t("workbook.action_rose", language, tier=to_state)
    if to_state == LAPSED:
        return t("workbook.action_left_top_lapsed", language, churn=churn)
    return t("workbook.action_left_top", language, top=top)


def movers_sheets(result: Migration | None, *, language: str) -> dict[str, pd.DataFrame]:
    """The movers as sheets for the action-list workbook: sheet name (in ``language``,
    at most 31 characters) -> table, for those who left the top tier and those who moved
    up a tier in the latest period. Empty when there is no result or no transition.

    A table has the columns of ``Migration.movers`` without ``movement``, for a reader:
    ``from_tier`` and ``to_tier`` with ``lapsed`` / ``new`` in ``language``,
    ``last_purchase`` as a date; then ``recommended_action`` (call to win back, or
    welcome to the new tier, in ``language``) and an empty ``owner`` to fill in. Its
    ``attrs`` hold ``description`` (what the sheet holds, in ``language``) and ``file``
    (``movers.csv``, which lists them all) for the workbook's Summary sheet.
    """
    if result is None or result.n_periods == 0:
        return {}
    top = result.labels[0]
    start, end = result.snapshot_dates[-2], result.snapshot_dates[-1]
    dates = {"start": locale.get(language).date(start), "end": locale.get(language).date(end)}
    churn = result.spec.churn_days
    out = {}
    for movement in ("left_top", "rose"):
        name = t(f"migration.sheet_{movement}", language, top=top)[:31]
        table = (
            result.movers[result.movers["movement"] == movement]
            .drop(columns=["movement"])
            .reset_index(drop=True)
        )
        to_raw = table["to_tier"].astype(str).tolist()
        table["recommended_action"] = [
            _mover_action(movement, s, top, churn=churn, language=language) for s in to_raw
        ]
        for col in ("from_tier", "to_tier"):
            table[col] = [state_text(s, language) for s in table[col].astype(str)]
        table["last_purchase"] = pd.to_datetime(table["last_purchase"]).dt.normalize()
        table["owner"] = ""
        n = len(table)
        table.attrs["description"] = tn(
            f"workbook.sheet_{movement}", language, n, n=f"{n:,}", top=top, **dates
        )
        table.attrs["file"] = "movers.csv"
        out[name] = table
    return out
