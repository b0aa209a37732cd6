"""Engines for the heavy step: transaction file → customer features.

The pandas path (``tiering.io.load`` + ``tiering.features.customer_features``) reads
the whole file into memory; it is the reference and the right choice up to a few
million rows. For larger files:

- ``duckdb`` (:mod:`tiering.engines.duckdb_stream`) streams CSV, CSV.gz, TSV and
  Parquet through DuckDB SQL within a memory limit, spilling to disk;
- ``spark`` (:mod:`tiering.engines.spark`) runs the same aggregation on Apache Spark
  (local mode or a cluster) through PySpark.

Both apply the loader's rules, so every row is used or rejected with the reason the
pandas path gives it, and return a :class:`FeatureResult`. Results are cached by the
SHA-256 of the input and the parameters that change them (:mod:`tiering.engines.cache`).

Entry point: :func:`compute_features`. Parameters: :class:`EngineSpec`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import TieringError
from ..params import EngineSpec

ENGINES = ("auto", "pandas", "duckdb", "spark")
# engine: auto picks the streaming engine from this input size on (bytes on disk;
# Parquet counts five times, being compressed about that much against CSV)
AUTO_STREAM_BYTES = 200 * 1024 * 1024

QUALITY_COLUMNS = ("reason", "category", "description", "rows")


# EngineSpec (``engine:`` in the parameter file) is defined with the other settings in
# tiering.params (the base layer) and re-exported here.


@dataclass(frozen=True)
class FeatureResult:
    """What an engine returns: what ``tiering.io.LoadResult`` and
    ``tiering.features.customer_features`` give on the pandas path, without the
    transactions.

    - ``features``: one row per customer, the columns and dtypes of
      ``tiering.features.customer_features`` (ordered by ``customer_id``).
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
    from ..io import detect_format

    path = Path(src.path)
    try:
        fmt = detect_format(path) if src.format == "auto" else src.format
        size = path.stat().st_size
    except (TieringError, OSError):
        return "pandas"  # the pandas path gives the full error message
    if fmt == "xlsx":
        return "pandas"
    return "duckdb" if size * (5 if fmt == "parquet" else 1) >= AUTO_STREAM_BYTES else "pandas"


def compute_features(src, *, as_of: dt.date | None = None, window_start: dt.date | None = None,
                     window_months: int | None = None, spec: EngineSpec | None = None,
                     rejected_path: str | Path | None = None,
                     today: dt.date | None = None) -> FeatureResult:
    """Customer features, quality counts and rejected rows of a data source
    (``tiering.params.DataSource``) on the engine ``spec`` chooses, through the cache
    when ``spec.cache_dir`` is set. ``as_of``/``window_start``/``window_months`` mean
    what they mean for ``tiering.io.load``. The rejected rows are written to
    ``rejected_path`` (CSV) when given. ``today`` fixes the date that ``future_date``
    is measured from (tests)."""
    from . import cache

    spec = spec or EngineSpec()
    engine = choose_engine(src, spec)
    kwargs = {"as_of": as_of, "window_start": window_start, "window_months": window_months}
    key = None
    if spec.cache_dir is not None:
        key = cache.key(src, spec=spec, today=today, **kwargs)
        hit = cache.get(spec.cache_dir, key, rejected_path=rejected_path)
        if hit is not None:
            return hit
    if engine == "pandas":
        from .pandas_engine import compute
    elif engine == "duckdb":
        from .duckdb_stream import compute
    else:
        from .spark import compute
    result = compute(src, spec=spec, rejected_path=rejected_path, today=today, **kwargs)
    if key is not None:
        cache.put(spec.cache_dir, key, result)
        result.source["cache"] = "miss"
    else:
        result.source["cache"] = "off"
    return result


def monthly_by_tier(result: FeatureResult, tiers: pd.DataFrame, src, *,
                    spec: EngineSpec | None = None) -> pd.DataFrame:
    """Net revenue per month and tier, as ``tiering.pipeline._monthly`` computes it
    from the transactions (``month, tier, revenue, customers``): one more pass over
    the file in DuckDB, joined to the customers' tiers."""
    from .duckdb_stream import monthly_by_tier as _run

    return _run(result, tiers, src, spec=spec or EngineSpec())


def clean_transactions(result: FeatureResult, src, *, spec: EngineSpec | None = None,
                       customers=None) -> pd.DataFrame:
    """The used rows of ``result`` as ``tiering.io.LoadResult.transactions`` has them,
    for analyses that need transactions (migration, holdout) when they fit in memory:
    one more pass over the file in DuckDB, with the decisions ``result`` took.
    ``customers``: only the transactions of these customer ids (a sample)."""
    from .duckdb_stream import clean_transactions as _run

    return _run(result, src, spec=spec or EngineSpec(), customers=customers)


def _quality(counts: dict[str, int]) -> pd.DataFrame:
    from ..io import REASONS

    return pd.DataFrame(
        [{"reason": code, "category": cat, "description": desc, "rows": int(counts.get(code, 0))}
         for code, (cat, desc) in REASONS.items() if counts.get(code, 0)],
        columns=list(QUALITY_COLUMNS))
