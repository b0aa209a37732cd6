"""The tables a report folder holds besides the report itself.

``write_tables(analysis, loaded, folder)`` writes every table of one analysis. CSV
files are UTF-8 with ``\\n`` line ends, no index, ISO timestamps, so the same input
and parameters give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .pipeline import Analysis


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, lineterminator="\n", encoding="utf-8",
              date_format="%Y-%m-%d %H:%M:%S")


def _flatten_lists(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, list)).any():
            out[col] = out[col].map(lambda v: " | ".join(map(str, v)) if isinstance(v, list) else v)
    return out


def write_tables(analysis: Analysis, loaded, folder: Path) -> list[str]:
    """Write the analysis tables into ``folder``; returns the file names written."""
    folder = Path(folder)
    tiers = analysis.tiers.copy()
    tiers["tier"] = tiers["tier"].astype(str)
    tables = {
        "tiers.csv": tiers,
        "tier_summary.csv": analysis.tier_summary,
        "comparisons.csv": analysis.comparison.tests,
        "rejected_rows.csv": loaded.rejected,
        "data_quality.csv": analysis.quality,
        "strategies.csv": _flatten_lists(analysis.strategies),
    }
    for name, df in tables.items():
        write_csv(df, folder / name)
    return list(tables)
