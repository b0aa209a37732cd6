"""The tables a report folder holds besides the report itself.

``write_tables(analysis, loaded, folder)`` writes every table of one analysis. CSV
files are UTF-8 with ``\\n`` line ends, no index, ISO timestamps, so the same input
and parameters give byte-identical files. Text cells that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``@``, a tab, a carriage return, or ``-`` not
followed by a number) get a leading ``'``, column headers included (an attribute column
may be named ``=HYPERLINK(...)``); numbers are written as they are. In the action-list
workbook control characters become U+FFFD and tier labels get Excel-safe, unique sheet
names (``tiering.build.action_lists``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from tiering import interrupt
from tiering.analysis.campaigns import campaign_table
from tiering.analysis.pipeline import Analysis
from tiering.build import action_lists, migration_tables
from tiering.present.css import palette_of
from tiering.present.strategy_text import strategies_of
from tiering.safecsv import formula_safe, write_csv  # noqa: F401 - part of this module's API

# The action-list workbook holds at most this many customers per tier sheet, the most
# urgent first (the CSV lists everybody): XlsxWriter writes about 75,000 cells a CPU-second.
ACTION_SHEET_MAX_ROWS = 5_000


def _flatten_lists(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, list)).any():
            out[col] = out[col].map(lambda v: " | ".join(map(str, v)) if isinstance(v, list) else v)
    return out


def write_tables(analysis: Analysis, loaded, folder: Path) -> list[str]:
    """Write the analysis tables into ``folder``; returns the file names written."""
    folder = Path(folder)
    tiers = analysis.tiers.assign(tier=analysis.tiers["tier"].astype(str))  # no deep copy
    value = getattr(analysis, "value", None)
    if value is not None and value.available:
        tiers = _with_value(tiers, value)
    tables = {
        "tiers.csv": tiers,
        "tier_summary.csv": analysis.tier_summary,
        "comparisons.csv": analysis.comparison.tests,
        "data_quality.csv": analysis.quality,
        "strategies.csv": _flatten_lists(strategies_of(analysis)),
    }
    if loaded.rejected is not None:  # a streaming engine wrote rejected_rows.csv itself
        tables["rejected_rows.csv"] = loaded.rejected
    mc = analysis.method_comparison
    if mc is not None:
        tables["method_agreement.csv"] = mc.agreement
        tables["method_assignments.csv"] = mc.assignments
    if analysis.stability is not None:
        tables["stability.csv"] = analysis.stability
    holdout = analysis.holdout
    if holdout is not None and holdout.available:
        tables.update(_holdout_tables(holdout))
    if value is not None and value.available:
        tables["value.csv"] = value.customers
    if getattr(analysis, "campaigns", None) is not None:
        tables["campaigns.csv"] = campaign_table(analysis.campaigns)
    recs = analysis.recommendations
    migration = analysis.migration
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the action lists (XlsxWriter: pure Python) are written while this thread writes
        # the CSV tables (Arrow writes them without holding the GIL)
        actions_job = (
            pool.submit(_write_actions, analysis, recs, migration, folder)
            if recs is not None
            else None
        )
        for name, df in tables.items():
            # written beside the notebook (tiering.build.report): after Ctrl-C this thread
            # stops between files, so that the run stops as promptly as it did before
            interrupt.check()
            write_csv(df, folder / name)
        written = list(tables)
        rejected_path = getattr(loaded, "rejected_path", None)
        if (
            loaded.rejected is None
            and rejected_path is not None
            and Path(rejected_path).resolve() == (folder / "rejected_rows.csv").resolve()
            and Path(rejected_path).is_file()
        ):
            written.append("rejected_rows.csv")
        written += migration_tables.write_tables(migration, folder)
        if actions_job is not None:
            written += actions_job.result()
    return written


def _write_actions(analysis: Analysis, recs, migration, folder: Path) -> list[str]:
    interrupt.check()
    language = analysis.params.language
    written = action_lists.write_action_lists(
        analysis.tiers,
        recs,
        folder,
        language=language,
        timestamp=analysis.as_of,
        max_rows_per_sheet=ACTION_SHEET_MAX_ROWS,
        extra_sheets={
            **migration_tables.movers_sheets(migration, language=language),
            **action_lists.value_sheets(
                getattr(analysis, "value", None), analysis.tiers, language=language
            ),
        },
        client=analysis.params.client,
        title=analysis.params.title,
        as_of=analysis.as_of,
        brand=palette_of(analysis),
    )
    return written + action_lists.write_strategy_tables(recs, folder, language=language)


#: The value model's columns added to tiers.csv (``ValueAnalysis.customers``).
VALUE_COLUMNS = ("p_alive", "expected_purchases", "expected_spend", "clv", "value_tier")


def _with_value(tiers: pd.DataFrame, value) -> pd.DataFrame:
    """``tiers`` with the value model's per-customer columns (:data:`VALUE_COLUMNS`),
    in the same rows and order; missing for customers the model did not see."""
    per = value.customers.set_index("customer_id")
    ids = tiers["customer_id"].astype(str)
    out = tiers.copy(deep=False)  # new columns only: the rows are shared, not copied
    for col in VALUE_COLUMNS:
        out[col] = ids.map(per[col]).to_numpy()
    return out


def _holdout_tables(holdout) -> dict[str, pd.DataFrame]:
    """The holdout check: per grouping (tiering, random baseline) and tier
    (validation.csv) and its tests (validation_tests.csv)."""
    return {"validation.csv": holdout.tiers, "validation_tests.csv": holdout.tests}
