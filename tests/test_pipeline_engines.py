"""The pipeline on the streaming engine gives the analysis of the pandas path."""

from __future__ import annotations

import pandas as pd
import pytest

from tiering import params
from tiering.analysis import pipeline
from tiering.build import outputs

from .conftest import ROOT

DEMO = ROOT / "params" / "demo.yaml"


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engines")
    runs = {}
    for engine in ("pandas", "duckdb"):
        cfg = params.load(
            DEMO,
            overrides=[
                f"engine.engine={engine}",
                "engine.threads=2",
                "stats.n_boot=200",
                "tiering.compare_with=[]",
                "value.enabled=false",  # the value model's fit is not the engines' part
            ],
        )
        out = folder / engine
        out.mkdir()
        analysis, loaded = pipeline.run(cfg, rejected_path=out / "rejected_rows.csv")
        written = outputs.write_tables(analysis, loaded, out)
        runs[engine] = (analysis, loaded, out, written)
    return runs


def test_streaming_engine_gives_the_same_tiers_and_tables(both):
    a_pd, _, out_pd, written_pd = both["pandas"]
    a_db, loaded_db, out_db, written_db = both["duckdb"]
    assert isinstance(loaded_db, pipeline.EngineLoad) and loaded_db.source["engine"] == "duckdb"
    assert sorted(written_pd) == sorted(written_db)
    cols = ["customer_id", "tier", "monetary", "frequency", "recency_days"]
    pd.testing.assert_frame_equal(
        a_pd.tiers[cols].reset_index(drop=True),
        a_db.tiers[cols].reset_index(drop=True),
        check_exact=False,
        check_categorical=False,
    )
    pd.testing.assert_frame_equal(a_pd.tier_summary, a_db.tier_summary, check_exact=False)
    pd.testing.assert_frame_equal(
        a_pd.monthly.reset_index(drop=True),
        a_db.monthly.reset_index(drop=True),
        check_exact=False,
        check_dtype=False,
        check_categorical=False,
    )
    for name in ("tiers.csv", "tier_summary.csv", "migration.csv", "validation.csv"):
        assert (out_pd / name).read_bytes() == (out_db / name).read_bytes(), name


def test_streaming_engine_writes_every_rejected_row(both):
    a_pd, _, out_pd, _ = both["pandas"]
    a_db, _, out_db, _ = both["duckdb"]
    rej_pd = pd.read_csv(out_pd / "rejected_rows.csv", dtype=str)
    rej_db = pd.read_csv(out_db / "rejected_rows.csv", dtype=str)
    # the transactions' rejected rows, then the customer master's and the campaign
    # file's (the demo names both), each counted in its own source entry
    files = sum(
        a_db.source[k]["rows_rejected"]
        for k in ("customer_master", "campaigns")
        if k in a_db.source
    )
    assert len(rej_db) == a_db.source["rows_rejected"] + files == len(rej_pd) > 0
    assert rej_db["row"].tolist() == rej_pd["row"].tolist()
    assert rej_db["reason"].tolist() == rej_pd["reason"].tolist()


def test_large_data_runs_migration_and_holdout_on_a_customer_sample(monkeypatch):
    from tiering.present import narrative

    monkeypatch.setattr(pipeline, "MAX_TRANSACTIONS_IN_MEMORY", 10_000)
    cfg = params.load(
        DEMO,
        overrides=[
            "engine.engine=duckdb",
            "engine.threads=2",
            "stats.n_boot=200",
            "tiering.compare_with=[]",
            "value.enabled=false",  # migration and holdout on the sample, not the value model
        ],
    )
    analysis, loaded = pipeline.run(cfg)
    sample = analysis.source["transactions_sample"]
    assert sample["of_customers"] == len(analysis.tiers) == 3000
    assert 0 < sample["customers"] < 3000 and sample["rows"] < sample["of_rows"]
    assert loaded.transactions["customer_id"].nunique() == sample["customers"]
    # the same customers on every run (seeded by customer id)
    again, _ = pipeline.run(cfg)
    assert again.source["transactions_sample"] == sample
    html = narrative.section_migration(analysis)
    assert html.index("random sample of") < html.index('class="lead"')
    assert "random sample of" in narrative.section_validation(analysis)
