"""What the engines share: the result type (:class:`FeatureResult`), the quality table,
and the automatic choice of engine. The engine modules import from here, never from
their package (:mod:`tiering.data.engines` re-exports all of it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tiering.errors import TieringError
from tiering.params import EngineSpec

ENGINES = ("auto", "pandas", "duckdb", "spark")
# engine: auto picks the streaming engine from this input size on (bytes on disk;
# Parquet counts five times, being compressed about that much against CSV). Where the
# two paths cross (BENCHMARKS.md, 2026-12-06 late): a report's feature step on DuckDB
# took 1.05x the pandas path's CPU on the 3.9 MB demo file, 1.01x at 3.3 MB, 0.90x at
# 6.6 MB, 0.68x at 13 MB and 0.29x at 135 MB (whole reports: 0.96x at 1.3 MB).
AUTO_STREAM_BYTES = 5 * 1024 * 1024

QUALITY_COLUMNS = ("reason", "category", "description", "rows")


@dataclass(frozen=True)
class FeatureResult:
    """What an engine returns: what ``tiering.data.io.LoadResult`` and
    ``tiering.data.features.customer_features`` give on the pandas path, without the
    transactions.

    - ``features``: one row per customer, the columns and dtypes of
      ``tiering.data.features.customer_features`` (ordered by ``customer_id``).
    - ``quality``: rejected rows by reason (``reason, category, description, rows``).
    - ``source``: facts about the input as in ``LoadResult.source`` (``path, format,
      sha256, bytes, encoding, delimiter, header_row, columns, attributes, rows_read,
      rows_used, rows_rejected, return_rows, return_value, duplicate_rows``) plus
      ``engine`` and ``cache`` (``hit``/``miss``/``off``).
    - ``rejected_path``: the rejected rows as CSV (``row, reason, category, detail,
      src_<column>...``, ordered by row: ``LoadResult.rejected``'s layout), or None
      when not asked for (then no time is spent on them).
    - ``first_date``/``last_date``: first and last used transaction date.
    - ``timings``: seconds per step.
    - ``months``: the (customer, month) aggregate of the used rows, an Arrow table
      ``customer_id, month, revenue`` (net spend, DECIMAL(38, 6)), made in the feature
      pass so that later steps need not read the file again
      (:func:`tiering.data.engines.monthly_by_tier`); None when not asked for or not
      made (a cached result, Spark, a file whose rows do not fit in DuckDB's memory).
    - ``transactions``: the used rows as ``tiering.data.io.LoadResult.transactions`` has
      them (of the customers chosen by ``compute_features``' ``transactions``); None
      when not asked for or not made (as ``months``).
    - ``value_inputs``: the value model's inputs that the features lack
      (``tiering.analysis.value.MODEL_INPUTS``), one row per customer with used rows,
      ordered by ``customer_id``: ``customer_id``, ``purchase_days`` (int64: distinct
      calendar days with a purchase row, 0 for a customer with only returns) and
      ``repeat_spend`` (float64: net spend, returns included, of the used rows on days
      after the customer's first purchase day), as
      ``tiering.analysis.clv.rfm_summary`` counts them on the transactions; made in the
      feature pass (or one more pass when the rows do not fit in memory) and kept by the
      cache; None when not asked for, on Spark, or from a cache entry stored without them
      (then :func:`tiering.data.engines.value_inputs` reads the file).
    """

    features: pd.DataFrame
    quality: pd.DataFrame
    source: dict
    as_of: dt.date
    window_start: dt.date | None
    attributes: tuple[str, ...]
    first_date: pd.Timestamp | None
    last_date: pd.Timestamp | None
    rejected_path: Path | None = None
    engine: str = "duckdb"
    timings: dict = field(default_factory=dict)
    months: object = field(default=None, repr=False)  # pyarrow.Table | None
    transactions: pd.DataFrame | None = field(default=None, repr=False)
    value_inputs: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def rows_read(self) -> int:
        return self.source["rows_read"]

    @property
    def period_start(self) -> dt.date:
        """The first day of the analysis period (``Analysis.period_start``)."""
        if self.window_start is not None:
            return self.window_start
        return (self.first_date or pd.Timestamp(self.as_of)).date()


def choose_engine(src, spec: EngineSpec | None = None) -> str:
    """The engine that ``spec.engine`` means for this data source."""
    spec = spec or EngineSpec()
    if spec.engine != "auto":
        return spec.engine
    from tiering.data.io import detect_format

    path = Path(src.path)
    try:
        fmt = detect_format(path) if src.format == "auto" else src.format
        size = path.stat().st_size
    except (TieringError, OSError):
        return "pandas"  # the pandas path gives the full error message
    if fmt == "xlsx":
        return "pandas"
    return "duckdb" if size * (5 if fmt == "parquet" else 1) >= AUTO_STREAM_BYTES else "pandas"


def quality_table(counts: dict[str, int]) -> pd.DataFrame:
    """The data-quality table of an engine's rejected-row ``counts`` (reason code ->
    rows): one row per reason that occurred, in the loader's reason order, with the
    columns :data:`QUALITY_COLUMNS`."""
    from tiering.data.io import REASONS

    return pd.DataFrame(
        [
            {"reason": code, "category": cat, "description": desc, "rows": int(counts.get(code, 0))}
            for code, (cat, desc) in REASONS.items()
            if counts.get(code, 0)
        ],
        columns=list(QUALITY_COLUMNS),
    )
