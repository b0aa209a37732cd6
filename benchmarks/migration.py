"""Migration snapshots: the per-period path against the cumulative one (issue 18).

    .venv/bin/python benchmarks/migration.py [--rows 200000 2000000] [--repeat 3]

For each size, builds the transactions ``benchmarks/generate.py`` writes (same rows,
generated in memory by DuckDB, without the rows the loader would reject: those without a
customer id) as ``tiering.data.io.load`` returns them (``row``, ``customer_id``,
``order_id``, ``order_date``, ``amount``, ``is_return``, ``customer_name``, ``region``),
then times ``analyse_migration`` with quarterly periods (8 snapshots over the two years,
as of 2026-01-01; the parameter file's default tiering, abc) in two ways, alternately:

- ``per period``: each snapshot's features from ``customer_features`` on the
  transactions before it (a DuckDB GROUP BY per snapshot: the code before issue 18);
- ``cumulative``: all of them from ``snapshot_features`` (one pass, running aggregates).

Wall-clock and CPU time (the process's, all threads: DuckDB's GROUP BY runs on several).
Also times the feature step alone both ways, and says whether every table of the two
results is the same (floats compared to the bit). Prints a Markdown table of medians;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # benchmarks/generate.py, next to this file

from tiering.analysis import migration
from tiering.data.features import customer_features, snapshot_features
from tiering.params import validate

AS_OF = dt.date(2026, 1, 1)
TABLES = ("snapshots", "sizes", "transitions", "tier_rates", "directions", "movers")


def transactions(rows: int) -> pd.DataFrame:
    """The generated rows as clean transactions (what the loader keeps of them)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        tx = con.sql(generate._select(rows)).df()  # noqa: SLF001 - the generator's own query
    finally:
        con.close()
    tx = tx[tx["customer_id"].notna()].reset_index(drop=True)
    tx.insert(0, "row", np.arange(2, len(tx) + 2, dtype="int64"))
    tx["order_date"] = tx["order_date"].astype("datetime64[ns]")
    tx["is_return"] = (tx["order_id"].str.startswith("R") | (tx["amount"] < 0)).to_numpy(bool)
    tx["amount"] = tx["amount"].where(~tx["is_return"], -tx["amount"].abs())
    cols = ["row", "customer_id", "order_id", "order_date", "amount", "is_return"]
    return tx[[*cols, "customer_name", "region"]]


def per_period(tx, cuts, *, attributes=()):
    return [
        customer_features(tx[tx["order_date"] < c], as_of=c.date(), attributes=attributes)
        for c in cuts
    ]


def run_migration(tx, params, *, old: bool):
    saved = migration.snapshot_features
    if old:
        migration.snapshot_features = per_period
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        result = migration.analyse_migration(
            tx, params=params, spec=params.migration, as_of=AS_OF, attributes=("region",)
        )
        return time.perf_counter() - t0, time.process_time() - c0, result
    finally:
        migration.snapshot_features = saved


def same(a, b) -> bool:
    """Every table equal, floats to the bit."""
    if a.snapshot_dates != b.snapshot_dates:
        return False
    for name in TABLES:
        x, y = getattr(a, name), getattr(b, name)
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        except AssertionError:
            return False
        for c in x.columns:
            if x[c].dtype == np.float64 and not np.array_equal(
                x[c].to_numpy().view(np.int64), y[c].to_numpy().view(np.int64)
            ):
                return False
    return True


def bench(rows: int, repeat: int) -> dict:
    t0 = time.perf_counter()
    tx = transactions(rows)
    made = time.perf_counter() - t0
    params = validate(
        {
            "data": {"path": "synthetic.csv", "attributes": ["region"]},
            "migration": {"period": "quarter"},
        }
    )
    cuts = migration.snapshot_dates(tx["order_date"].min(), AS_OF, period="quarter")
    times = {k: [] for k in ("old", "new", "cpu_old", "cpu_new", "feat_old", "feat_new")}
    results = {}
    for _ in range(repeat):  # alternate, so that a busy moment hits both
        for kind in ("old", "new"):
            seconds, cpu, results[kind] = run_migration(tx, params, old=kind == "old")
            times[kind].append(seconds)
            times[f"cpu_{kind}"].append(cpu)
        t = time.perf_counter()
        per_period(tx, cuts, attributes=("region",))
        times["feat_old"].append(time.perf_counter() - t)
        t = time.perf_counter()
        snapshot_features(tx, cuts, attributes=("region",))
        times["feat_new"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "rows": len(tx),
        "customers": int(tx["customer_id"].nunique()),
        "snapshots": len(cuts),
        "made": made,
        "median": med,
        "spread": {k: (min(v), max(v)) for k, v in times.items()},
        "timings": {k: r.timings for k, r in results.items()},
        "same": same(results["new"], results["old"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[200_000, 2_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = []
    for rows in args.rows:
        r = bench(rows, args.repeat)
        out.append(r)
        print(
            f"{r['rows']:,} rows: made in {r['made']:.1f} s; timings old {r['timings']['old']}, "
            f"new {r['timings']['new']}",
            flush=True,
        )
    print()
    print(
        f"analyse_migration, quarterly ({out[0]['snapshots']} snapshots), median of "
        f"{args.repeat} alternating runs, seconds:"
    )
    print()
    print(
        "| rows | customers | per period | cumulative | ratio | CPU: per period "
        "| CPU: cumulative | ratio | features: per period | features: cumulative | ratio "
        "| same tables |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in out:
        m = r["median"]
        print(
            f"| {r['rows']:,} | {r['customers']:,} | {m['old']:.2f} | {m['new']:.2f} "
            f"| {m['old'] / m['new']:.1f}x | {m['cpu_old']:.2f} | {m['cpu_new']:.2f} "
            f"| {m['cpu_old'] / m['cpu_new']:.1f}x | {m['feat_old']:.2f} | {m['feat_new']:.2f} "
            f"| {m['feat_old'] / m['feat_new']:.1f}x | {'yes' if r['same'] else 'NO'} |"
        )
    print()
    print("Wall-clock seconds, CPU seconds of the process (all its threads); features: the")
    print("feature step alone (customer_features per snapshot, or snapshot_features).")


if __name__ == "__main__":
    main()
