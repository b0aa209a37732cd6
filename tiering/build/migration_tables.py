"""The tables of tier migration in a report folder: the CSV files
(:func:`write_tables`) and the movers' sheets of the action-list workbook
(:func:`movers_sheets`), from a :class:`tiering.analysis.migration.Migration`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tiering.analysis.migration import Migration
from tiering.present.i18n import t
from tiering.safecsv import write_csv

__all__ = ["movers_sheets", "write_tables"]


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


def movers_sheets(result: Migration | None, *, language: str) -> dict[str, pd.DataFrame]:
    """The movers as sheets for the action-list workbook: sheet name (in ``language``,
    at most 31 characters) -> table (the columns of ``Migration.movers`` without
    ``movement``). Empty when there is no result or no transition."""
    if result is None or result.n_periods == 0:
        return {}
    top = result.labels[0]
    out = {}
    for movement in ("left_top", "rose"):
        name = t(f"migration.sheet_{movement}", language, top=top)[:31]
        out[name] = (
            result.movers[result.movers["movement"] == movement]
            .drop(columns=["movement"])
            .reset_index(drop=True)
        )
    return out
