"""The pandas path (``tiering.data.io.load`` + ``tiering.data.features.customer_features``) as an
engine: the reference the other engines are tested against, and what ``engine: auto``
uses for small files and Excel workbooks."""

from __future__ import annotations

import os
import time
from pathlib import Path


def compute(
    src,
    *,
    as_of=None,
    window_start=None,
    window_months=None,
    spec=None,
    rejected_path=None,
    today=None,
):
    from tiering.data.engines.base import FeatureResult
    from tiering.data.features import customer_features
    from tiering.data.io import load
    from tiering.safecsv import write_csv

    t0 = time.perf_counter()
    loaded = load(src, as_of=as_of, window_start=window_start, window_months=window_months)
    t1 = time.perf_counter()
    feats = customer_features(loaded.transactions, as_of=loaded.as_of, attributes=loaded.attributes)
    t2 = time.perf_counter()
    if rejected_path is not None:
        path = Path(rejected_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        write_csv(loaded.rejected, part)  # formula-safe, as the report's tables
        os.replace(part, path)
    tx = loaded.transactions
    source = {**loaded.source, "engine": "pandas"}
    return FeatureResult(
        features=feats,
        quality=loaded.quality,
        source=source,
        as_of=loaded.as_of,
        window_start=loaded.window_start,
        attributes=loaded.attributes,
        first_date=tx["order_date"].min() if len(tx) else None,
        last_date=tx["order_date"].max() if len(tx) else None,
        rejected_path=Path(rejected_path) if rejected_path else None,
        engine="pandas",
        timings={
            "load": round(t1 - t0, 3),
            "features": round(t2 - t1, 3),
            "total": round(time.perf_counter() - t0, 3),
        },
    )
