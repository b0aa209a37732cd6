"""The customer master in the tiers (issue 21): score and rules over master columns,
customers without a master row, the join on both engines, the master's rejected rows
beside the transactions' and bad master input through the CLI."""

from __future__ import annotations

import datetime as dt
import subprocess

import numpy as np
import pandas as pd
import pytest

from tiering import params
from tiering.analysis import methods, pipeline
from tiering.build import outputs
from tiering.data import customers
from tiering.errors import MethodError
from tiering.params import CustomerMaster

from .conftest import ROOT, tiering_spec

EXAMPLES = ROOT / "params" / "examples"
AS_OF = dt.date(2025, 1, 1)


def master_of(tmp_path, text: str) -> customers.MasterResult:
    path = tmp_path / "master.csv"
    path.write_text(text, encoding="utf-8")
    return customers.read_customers(CustomerMaster(path=path))


@pytest.fixture
def joined(tmp_path) -> pd.DataFrame:
    """Five customers with net spend 100..500; the master knows four of them (``005``
    is not in it), and one more customer (``123``) with no transactions."""
    features = pd.DataFrame(
        {
            "customer_id": ["001", "002", "003", "004", "005"],
            "monetary": [100.0, 200, 300, 400, 500],
        }
    )
    master = master_of(
        tmp_path,
        "customer_id,credit_score,overdue_days,signup_date,satisfaction\n"
        "001,700,0,2020-01-15,4\n"
        "002,600,95,2024-12-01,\n"
        "003,800,120,2024-12-02,5\n"
        "004,650,,2024-12-31,2\n"
        "123,710,0,2019-05-05,3\n",
    )
    out = customers.join_customers(features, master, as_of=AS_OF)
    assert out.counts.iloc[0].to_dict() == {
        "transaction_customers": 5,
        "master_customers": 5,
        "matched": 4,
        "transactions_only": 1,
        "master_only": 1,
        "zero_padding": 0,
    }
    return out.customers


def test_score_weights_a_master_column_by_hand(joined):
    """Percentile (mid-rank) of monetary: 0.1 0.3 0.5 0.7 0.9. Of credit_score among the
    four known (600 650 700 800): 700 -> 5/8, 600 -> 1/8, 800 -> 7/8, 650 -> 3/8; customer
    005 has no master row: the middle, 0.5. Equal weights: the mean of the two."""
    spec = tiering_spec(
        method="score",
        score={
            "criteria": [{"column": "monetary"}, {"column": "credit_score"}],
            "thresholds": [0.6, 0.3],
        },
    )
    res = methods.fit(joined, spec)
    expected = [(0.1 + 0.625) / 2, (0.3 + 0.125) / 2, (0.5 + 0.875) / 2, (0.7 + 0.375) / 2, 0.7]
    np.testing.assert_allclose(res.assignments["value_score"], expected, atol=1e-12)
    assert res.assignments["tier"].astype(str).tolist() == ["B", "C", "A", "B", "A"]
    assert ("missing_values", {"column": "credit_score", "n": 1}) in res.warnings


def test_tenure_from_the_signup_date_and_a_lower_is_better_master_column(joined):
    """tenure_months to 2025-01-01: 2020-01-15 -> 59 (the 15th is after the 1st),
    2024-12-01 -> 1, 2024-12-02 -> 0, 2024-12-31 -> 0; 005 missing. overdue_days
    lower is better: 0 95 120 and a blank (004) and no row (005) in the middle."""
    assert joined["tenure_months"].tolist()[:4] == [59.0, 1.0, 0.0, 0.0]
    assert np.isnan(joined["tenure_months"].iloc[4])
    spec = tiering_spec(
        method="score",
        labels=["A", "B"],
        score={"criteria": [{"column": "overdue_days", "direction": "lower"}]},
    )
    score = methods.fit(joined, spec).assignments["value_score"].to_numpy()
    # percentiles among 0, 95, 120: 1/6, 3/6, 5/6; lower is better: 1 - p
    np.testing.assert_allclose(score, [5 / 6, 3 / 6, 1 / 6, 0.5, 0.5], atol=1e-12)


def test_rules_use_overdue_and_a_missing_value_matches_no_comparison(joined):
    spec = tiering_spec(
        method="rules",
        labels=["A", "C", "Hold"],
        rules={
            "conditions": [
                {"Hold": "overdue_days > 90"},
                {"A": "monetary >= 300 and overdue_days <= 90"},
            ],
            "default": "C",
        },
    )
    res = methods.fit(joined, spec)
    # 001: 0 days, spend 100 -> C; 002: 95 days -> Hold; 003: 120 days -> Hold;
    # 004: blank days -> neither rule (C) though it spends 400; 005: no master row -> C
    assert res.assignments["tier"].astype(str).tolist() == ["C", "Hold", "Hold", "C", "C"]
    assert res.params["conditions"][0]["customers"] == 2
    assert res.params["conditions"][1]["matching"] == 0


def test_the_overdue_flag_and_satisfaction_are_columns_rules_can_name(joined):
    assert joined["overdue"].astype("object").tolist() == [False, True, True, pd.NA, pd.NA]
    spec = tiering_spec(
        method="rules",
        labels=["Happy", "Other"],
        rules={"conditions": [{"Happy": "satisfaction >= 4 and not overdue"}]},
    )
    tiers = methods.fit(joined, spec).assignments["tier"].astype(str).tolist()
    assert tiers == ["Happy", "Other", "Other", "Other", "Other"]


def test_a_master_column_without_a_master_says_so():
    features = pd.DataFrame({"customer_id": ["1", "2", "3"], "monetary": [1.0, 2, 3]})
    spec = tiering_spec(method="score", score={"criteria": [{"column": "credit_score"}]})
    with pytest.raises(MethodError) as exc:
        methods.fit(features, spec)
    assert "'credit_score' comes from the customer master" in exc.value.message
    assert "data.customers" in exc.value.hint
    spec = tiering_spec(method="rules", rules={"conditions": [{"A": "overdue_days > 90"}]})
    with pytest.raises(MethodError, match="overdue_days"):
        methods.fit(features, spec)


def test_a_master_without_the_column_says_so(tmp_path):
    features = pd.DataFrame({"customer_id": ["1", "2", "3"], "monetary": [1.0, 2, 3]})
    master = master_of(tmp_path, "customer_id,credit_score\n1,700\n2,650\n")
    table = customers.join_customers(features, master, as_of=AS_OF).customers
    spec = tiering_spec(method="score", score={"criteria": [{"column": "referrals"}]})
    with pytest.raises(MethodError) as exc:
        methods.fit(table, spec)
    assert "the customer master has no column for 'referrals'" in exc.value.message
    assert "data.customers.columns" in exc.value.hint


# --------------------------------------------------------------------------- pipeline


def fast(example: str, engine: str) -> params.Params:
    return params.load(
        EXAMPLES / f"{example}.yaml",
        overrides=[
            f"engine.engine={engine}",
            "engine.threads=2",
            "stats.holdout_months=0",
            "migration.period=none",
            "value.enabled=false",
            "tiering.compare_with=[]",
            "tiering.stability.n_boot=0",
            "stats.n_boot=200",
        ],
    )


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    folder = tmp_path_factory.mktemp("master-engines")
    runs = {}
    for engine in ("pandas", "duckdb"):
        out = folder / engine
        out.mkdir()
        analysis, loaded = pipeline.run(
            fast("value_model", engine), rejected_path=out / "rejected_rows.csv"
        )
        outputs.write_tables(analysis, loaded, out)
        runs[engine] = (analysis, loaded, out)
    return runs


def test_engines_join_the_master_alike(both):
    a_pd, _, out_pd = both["pandas"]
    a_db, loaded_db, out_db = both["duckdb"]
    assert isinstance(loaded_db, pipeline.EngineLoad)
    assert a_pd.source["customer_master"] == a_db.source["customer_master"]
    for name in ("tiers.csv", "tier_summary.csv", "rejected_rows.csv", "data_quality.csv"):
        assert (out_pd / name).read_bytes() == (out_db / name).read_bytes(), name
    cols = ["customer_id", "tier", "credit_score", "tenure_months", "referrals", "overdue_days"]
    pd.testing.assert_frame_equal(
        a_pd.tiers[cols].reset_index(drop=True),
        a_db.tiers[cols].reset_index(drop=True),
        check_categorical=False,
    )


def test_the_demo_master_counts_in_the_source(both):
    """The blemishes data/generate_demo.py plants: three customers missing from the
    master and one written without its leading zeros (transactions only: 5 with the
    duplicated id), two prospects (master only: 3 with the unpadded id)."""
    analysis, _, _ = both["pandas"]
    m = analysis.source["customer_master"]
    assert m["file"] == "demo_customers.csv"
    assert (m["rows_read"], m["rows_used"], m["rows_rejected"]) == (3000, 2998, 2)
    assert m["rejected_by_reason"] == {"duplicate_customer_id": 2}
    assert (m["matched"], m["transactions_only"], m["master_only"], m["zero_padding"]) == (
        2995,
        5,
        3,
        1,
    )
    assert int(analysis.tiers["in_master"].sum()) == 2995


def test_master_rejections_are_rows_of_their_own_file(both):
    """The master's rejected rows follow the transactions' in rejected_rows.csv with
    the master's file name and cells in the detail; the transactions' counts
    (data_quality.csv, rows_rejected) stay the transactions' own."""
    analysis, _, out = both["duckdb"]
    rejected = pd.read_csv(out / "rejected_rows.csv", dtype=str, keep_default_na=False)
    master_rows = rejected[rejected["detail"].str.startswith("demo_customers.csv row ")]
    assert master_rows["reason"].tolist() == ["duplicate_customer_id"] * 2
    assert master_rows["row"].tolist() == ["1200", "1201"]
    assert master_rows["detail"].str.contains("customer_id=002201; ").all()
    src = [c for c in rejected.columns if c.startswith("src_")]
    assert (master_rows[src] == "").all().all()
    tx_rows = len(rejected) - len(master_rows)
    assert tx_rows == analysis.source["rows_rejected"] == int(analysis.quality["rows"].sum())
    assert "duplicate_customer_id" not in set(analysis.quality["reason"])
    # a master row names no customer of the transactions: none counted as untiered
    assert analysis.source["untiered_customers"]["customers"] == 0


# --------------------------------------------------------------------------- CLI


def run_cli(cfg_path, out):
    return subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "tiering"),
            "report",
            str(cfg_path),
            "--output",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


BASE = """
data:
  path: {data}
  cancellations: {{order_id_prefixes: [R]}}
{master}
tiering:
  method: score
  score:
    criteria: [{{column: monetary}}, {{column: credit_score}}]
stats: {{holdout_months: 0}}
migration: {{period: none}}
value: {{enabled: false}}
"""


@pytest.mark.parametrize(
    ("master_text", "expected"),
    [
        (None, "'credit_score' comes from the customer master"),
        ("missing", "File not found"),
        ("kunde,punkte\n001001,700\n", "Required column of data.customers not recognised"),
        (
            "customer_id,score\n001001,700\n",
            "Column 'Rating' (data.customers.columns.credit_rating) not found",
        ),
    ],
    ids=["no-master", "missing-file", "no-id-column", "mapped-column-absent"],
)
def test_bad_master_input_through_the_cli(tmp_path, master_text, expected):
    master = ""
    if master_text == "missing":
        master = f"  customers: {{path: {tmp_path / 'nope.csv'}}}"
    elif master_text is not None:
        (tmp_path / "m.csv").write_text(master_text, encoding="utf-8")
        columns = ", columns: {credit_rating: Rating}" if "Rating" in expected else ""
        master = f"  customers: {{path: {tmp_path / 'm.csv'}{columns}}}"
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE.format(data=ROOT / "data" / "demo_transactions.csv", master=master))
    proc = run_cli(cfg, tmp_path / "out")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert expected in proc.stderr + proc.stdout, proc.stderr


def test_a_cached_engine_run_gets_the_master_rows_once(tmp_path):
    """The engine's feature cache keeps the rejected rows (as a hard link where it can):
    the master's rows are added to a new file, so a second run from the cache has them
    once, and the cache keeps the transactions' rows only."""
    cfg = fast("value_model", "duckdb")
    cfg = cfg.model_copy(
        update={"engine": cfg.engine.model_copy(update={"cache_dir": tmp_path / "cache"})}
    )
    counts = []
    for run in ("first", "cached"):
        out = tmp_path / run
        out.mkdir()
        analysis, _ = pipeline.run(cfg, rejected_path=out / "rejected_rows.csv")
        rejected = pd.read_csv(out / "rejected_rows.csv", dtype=str, keep_default_na=False)
        counts.append(int(rejected["detail"].str.startswith("demo_customers.csv row ").sum()))
    assert analysis.source.get("cache") == "hit"
    assert counts == [2, 2]
    (cached,) = (tmp_path / "cache").rglob("rejected.csv")
    assert "demo_customers.csv" not in cached.read_text(encoding="utf-8")


def test_master_columns_named_like_the_analysis_columns_are_renamed(tmp_path):
    """A CRM export with its own ``tier`` and ``segment`` columns and a name: the
    method's ``tier`` is not shadowed, the master's keeps its values as ``tier_master``,
    and the transactions' customer name is the one kept."""
    features = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3"],
            "customer_name": ["Ann", "Bo", "Cy"],
            "monetary": [1.0, 2, 3],
        }
    )
    master = master_of(
        tmp_path, "customer_id,customer_name,tier,segment\n1,X,Gold,VIP\n2,Y,Silver,\n"
    )
    table = customers.for_table(master, features)
    joined = customers.join_customers(features, table, as_of=AS_OF).customers
    assert "tier" not in joined.columns and "segment" not in joined.columns
    assert joined["tier_master"].tolist()[:2] == ["Gold", "Silver"]
    assert joined["customer_name"].tolist() == ["Ann", "Bo", "Cy"]
    res = methods.fit(joined, tiering_spec(method="abc", labels=["A", "B"], abc={"cutoffs": [0.8]}))
    out = pd.concat([joined, res.assignments.drop(columns=["customer_id"])], axis=1)
    assert out.columns.is_unique
