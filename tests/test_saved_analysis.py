"""The analysis file of the report notebook (``pipeline.save`` / ``load_or_run``): the
``report_only`` file leaves out what no section reads and gives the same report."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tiering import params
from tiering.analysis import pipeline
from tiering.present import narrative

from .test_report import write_tiny_client

SECTIONS = (
    "summary",
    "data",
    "method",
    "profiles",
    "stats",
    "validation",
    "value",
    "campaigns",
    "migration",
    "strategy",
    "appendix",
)


@pytest.mark.parametrize("method, language", [("abc", "en"), ("rfm", "zh")])
def test_report_only_file_gives_the_same_sections(tmp_path, method, language):
    write_tiny_client(tmp_path, customers=150)
    cfg = params.validate(
        {
            "language": language,
            "data": {"path": str(tmp_path / "tx.csv"), "attributes": ["region"]},
            "as_of": "2025-01-01",
            "stats": {"n_boot": 100},
            "tiering": {"method": method},
        }
    )
    a = pipeline.run(cfg)[0]
    snapshots, customers = a.migration.snapshots, a.recommendations.customers
    assert len(snapshots) > 0 and len(customers) == len(a.tiers)
    assert ("segment" in customers.columns) == (method == "rfm")

    full, slim = tmp_path / "full.pkl", tmp_path / "slim.pkl"
    pipeline.save(a, full)
    pipeline.save(a, slim, report_only=True)
    assert slim.stat().st_size < full.stat().st_size
    # the analysis saved is not changed
    assert a.migration.snapshots is snapshots and a.recommendations.customers is customers

    b = pipeline.load_or_run(cfg, slim)
    assert len(b.migration.snapshots) == 0
    pd.testing.assert_series_equal(b.migration.snapshots.dtypes, snapshots.dtypes)
    kept = b.recommendations.customers
    if method == "rfm":  # the segment table's columns, every customer
        assert list(kept.columns) == ["tier", "segment", "segment_key"]
        pd.testing.assert_frame_equal(kept, customers[["tier", "segment", "segment_key"]])
    else:
        assert len(kept) == 0 and list(kept.columns) == list(customers.columns)
    # everything else as it was
    for f in dataclasses.fields(a):
        if f.name not in ("migration", "recommendations"):
            assert type(getattr(b, f.name)) is type(getattr(a, f.name)), f.name
    pd.testing.assert_frame_equal(b.tiers, a.tiers)
    pd.testing.assert_frame_equal(b.migration.movers, a.migration.movers)
    pd.testing.assert_frame_equal(b.recommendations.budget, a.recommendations.budget)

    whole = pipeline.load_or_run(cfg, full)
    assert len(whole.migration.snapshots) == len(snapshots)
    for name in SECTIONS:
        section = getattr(narrative, f"section_{name}")
        assert section(b) == section(a), name
