"""Engines for the heavy step: transaction file → customer features.

The pandas path (``tiering.data.io.load`` + ``tiering.data.features.customer_features``) reads
the whole file into memory; it is the reference and the right choice up to a few
million rows. For larger files:

- ``duckdb`` (:mod:`tiering.data.engines.duckdb_stream`) streams CSV, CSV.gz, TSV and
  Parquet through DuckDB SQL within a memory limit, spilling to disk;
- ``spark`` (:mod:`tiering.data.engines.spark`) runs the same aggregation on Apache Spark
  (local mode or a cluster) through PySpark.

Both apply the loader's rules, so every row is used or rejected with the reason the
pandas path gives it, and return a :class:`FeatureResult`. Results are cached by the
SHA-256 of the input and the parameters that change them (:mod:`tiering.data.engines.cache`).

Entry point: :func:`compute_features`. Parameters: :class:`EngineSpec`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tiering.data.engines.base import (
    AUTO_STREAM_BYTES,
    ENGINES,
    QUALITY_COLUMNS,
    FeatureResult,
    choose_engine,
)
from tiering.params import EngineSpec

# EngineSpec (``engine:`` in the parameter file) is defined with the other settings in
# tiering.params (the base layer) and re-exported here.


def compute_features(
    src,
    *,
    as_of: dt.date | None = None,
    window_start: dt.date | None = None,
    window_months: int | None = None,
    spec: EngineSpec | None = None,
    rejected_path: str | Path | None = None,
    today: dt.date | None = None,
    transactions=None,
    months: bool = False,
    value_inputs: bool = False,
) -> FeatureResult:
    """Customer features, quality counts and rejected rows of a data source
    (``tiering.params.DataSource``) on the engine ``spec`` chooses, through the cache
    when ``spec.cache_dir`` is set. ``as_of``/``window_start``/``window_months`` mean
    what they mean for ``tiering.data.io.load``. The rejected rows are written to
    ``rejected_path`` (CSV) when given. ``today`` fixes the date that ``future_date``
    is measured from (tests).

    Asked for what later steps would otherwise read the file again for, the DuckDB
    engine reads the file once (when its rows fit in ``spec.memory_limit``, see
    :mod:`tiering.data.engines.duckdb_stream`) and returns them too: with ``months``,
    the (customer, month) aggregate (``FeatureResult.months``, for
    :func:`monthly_by_tier`); with ``transactions``, the used rows
    (``FeatureResult.transactions``): ``transactions(customer_ids, rows_used)`` (the
    customers' ids, a pandas Series, and the number of used rows) returns the ids of the
    customers whose rows to keep, or None for every customer's. Without them (a cached
    result, a file too large), :func:`monthly_by_tier` and :func:`clean_transactions`
    read the file. With ``value_inputs``, the value model's inputs
    (``FeatureResult.value_inputs``), on the DuckDB engine: from the same scan, or by
    one more pass when the rows do not fit; the cache keeps them, and a cache entry
    stored without them gets them by one pass over the file (:func:`value_inputs`). The
    Spark engine does not make them (None)."""
    from tiering.data.engines import cache

    spec = spec or EngineSpec()
    engine = choose_engine(src, spec)
    kwargs = {"as_of": as_of, "window_start": window_start, "window_months": window_months}
    key = None
    if spec.cache_dir is not None:
        key = cache.key(src, spec=spec, today=today, **kwargs)
        hit = cache.get(spec.cache_dir, key, rejected_path=rejected_path, value_inputs=value_inputs)
        if hit is not None:
            if value_inputs and hit.value_inputs is None and hit.engine == "duckdb":
                # an entry stored without them: one pass over the file, kept for next time
                import dataclasses

                from tiering.data.engines.duckdb_stream import value_inputs as read_inputs

                inputs = read_inputs(hit, src, spec=spec)
                cache.add_value_inputs(spec.cache_dir, key, hit, inputs)
                hit = dataclasses.replace(hit, value_inputs=inputs)
            return hit
    if engine == "pandas":
        from tiering.data.engines.pandas_engine import compute
    elif engine == "duckdb":
        from tiering.data.engines.duckdb_stream import compute
    else:
        from tiering.data.engines.spark import compute
    if engine == "duckdb":
        kwargs.update(transactions=transactions, months=months, value_inputs=value_inputs)
    result = compute(src, spec=spec, rejected_path=rejected_path, today=today, **kwargs)
    if key is not None:
        cache.put(spec.cache_dir, key, result)
        result.source["cache"] = "miss"
    else:
        result.source["cache"] = "off"
    return result


def monthly_by_tier(
    result: FeatureResult, tiers: pd.DataFrame, src, *, spec: EngineSpec | None = None
) -> pd.DataFrame:
    """Net revenue per month and tier, as ``tiering.analysis.pipeline._monthly`` computes it
    from the transactions (``month, tier, revenue, customers``): from the (customer,
    month) aggregate of ``result`` joined to the customers' tiers, or, when ``result``
    has none (a cached result), by one more pass over the file in DuckDB."""
    from tiering.data.engines.duckdb_stream import monthly_by_tier as _run

    return _run(result, tiers, src, spec=spec or EngineSpec())


def clean_transactions(
    result: FeatureResult, src, *, spec: EngineSpec | None = None, customers=None
) -> pd.DataFrame:
    """The used rows of ``result`` as ``tiering.data.io.LoadResult.transactions`` has them,
    for analyses that need transactions (migration, holdout) when they fit in memory:
    one more pass over the file in DuckDB, with the decisions ``result`` took.
    ``customers``: only the transactions of these customer ids (a sample). (The DuckDB
    engine gives them in its one pass when ``compute_features`` is asked for them.)"""
    from tiering.data.engines.duckdb_stream import clean_transactions as _run

    return _run(result, src, spec=spec or EngineSpec(), customers=customers)


def value_inputs(result: FeatureResult, src, *, spec: EngineSpec | None = None) -> pd.DataFrame:
    """The value model's inputs of a DuckDB engine's ``result``
    (``FeatureResult.value_inputs``' columns): its own when it has them, else by one
    more pass over the file in DuckDB with the decisions ``result`` took (a cache entry
    stored without them)."""
    from tiering.data.engines.duckdb_stream import value_inputs as _run

    return _run(result, src, spec=spec or EngineSpec())
