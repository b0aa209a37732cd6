"""Benchmark the pipeline steps: load, features, tiering, statistics, and a whole report.

    .venv/bin/python benchmarks/run.py [--rows 1000000] [--no-report]

Measures, for the shipped demo data, the Online Retail data (when ../shared/datasets
is present) and a synthetic transaction file of ``--rows`` rows: seconds per step,
rows per second and the peak resident memory of a fresh process per dataset.
Prints a Markdown table. Nothing here is asserted: numbers are for reading.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from tiering import params, pipeline
cfg = params.load(sys.argv[1], overrides=sys.argv[2:])
t0 = time.perf_counter()
analysis, loaded = pipeline.run(cfg)
total = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": loaded.rows_read, "customers": len(analysis.tiers),
                  "timings": analysis.timings, "total": total, "peak_mb": peak_mb}))
"""


def synthetic(path: Path, rows: int, seed: int = 7) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    customers = max(rows // 20, 10)
    cust = rng.zipf(1.3, rows) % customers
    days = rng.integers(0, 730, rows)
    df = pd.DataFrame({
        "order_id": np.char.add("O", (np.arange(rows) // 2).astype(str)),
        "order_date": (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
        "customer_id": np.char.zfill(cust.astype(str), 7),
        "amount": np.round(rng.lognormal(4, 1.2, rows), 2),
    })
    df.to_csv(path, index=False)


def measure(params_file: Path, *overrides: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(params_file), *overrides],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic file")
    ap.add_argument("--no-report", action="store_true", help="skip the whole-report timing")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results.append(("demo (data/demo_transactions.csv)", measure(ROOT / "params" / "demo.yaml")))
        retail = ROOT / "params" / "examples" / "online_retail.yaml"
        if (ROOT.parent / "shared" / "datasets" / "online_retail.csv.gz").exists():
            results.append(("Online Retail (541,909 rows)", measure(retail)))
        synth = tmp / "synthetic.csv"
        synthetic(synth, args.rows)
        p = tmp / "synthetic.yaml"
        p.write_text(f"data: {{path: {synth}}}\n", encoding="utf-8")
        results.append((f"synthetic ({args.rows:,} rows)", measure(p)))
        report_time = None
        if not args.no_report:
            t0 = time.perf_counter()
            subprocess.run([str(Path(sys.executable).parent / "tiering"), "report",
                            str(ROOT / "params" / "demo.yaml"), "--output", str(tmp / "report")],
                           check=True, capture_output=True)
            report_time = time.perf_counter() - t0
    print("| data | rows | customers | load s | features s | tiering s | statistics s | "
          "total s | rows/s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results:
        tm = r["timings"]
        print(f"| {name} | {r['rows']:,} | {r['customers']:,} | {tm['load']:.2f} | {tm['features']:.2f} | "
              f"{tm['tiering']:.2f} | {tm['statistics']:.2f} | {r['total']:.2f} | "
              f"{r['rows'] / r['total']:,.0f} | {r['peak_mb']:,.0f} |")
    if report_time is not None:
        print(f"\nWhole demo report (`tiering report params/demo.yaml`, HTML + PDF): {report_time:.1f} s")


if __name__ == "__main__":
    main()
