"""Synthetic transaction files for the benchmarks, written by DuckDB itself (fast).

    .venv/bin/python benchmarks/generate.py --rows 10000000 [--out DIR] [--format csv parquet]

One row per order line: ``order_id, order_date, customer_id, customer_name, region,
amount``. About 2.5 lines per order and 20 lines per customer (20M rows hold 1M
customers, 100M rows 5M; every customer has an order), spend heavy-tailed (a few
customers place most orders), 2 % return rows (order id ``R…``, negative amount) and 0.1 % rows without a
customer id (rejected as ``missing_customer_id``), dates over two years
(2024-01-01 .. 2025-12-31, ``YYYY-MM-DD HH:MM:SS``). Rows are generated from hashes of
the row number: the same ``--rows`` gives the same file, whatever the number of
threads.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DEFAULT_DIR = Path(os.environ.get("TIERING_BENCH_DIR", "/tmp/tiering-bench"))

LINES_PER_ORDER = 2.5
LINES_PER_CUSTOMER = 20


def _select(rows: int) -> str:
    orders = max(int(rows / LINES_PER_ORDER), 1)
    customers = max(rows // LINES_PER_CUSTOMER, 10)
    # u(k, s): a uniform number in [0, 1) from the hash of k with salt s
    return f"""
    WITH line AS (
      SELECT i, (i * {orders}) // {rows} AS o FROM range({rows}) t(i)
    ), u AS (
      SELECT i, o,
        (hash(o, 11) % 1000003) / 1000003.0 AS u_cust,
        (hash(o, 12) % 1000003) / 1000003.0 AS u_day,
        (hash(o, 13) % 86400) AS secs,
        (hash(i, 14) % 1000003) / 1000003.0 AS u_amt,
        (hash(i, 18) % 1000003) / 1000003.0 AS u_phase,
        (hash(o, 15) % 1000) AS u_ret,
        (hash(o, 16) % 1000) AS u_blank
      FROM line
    ), c AS (
      SELECT *,
        -- every customer places an order; the other orders follow a power law over
        -- the customer numbers (customer 0 is the most active)
        CASE WHEN o < {customers} THEN o
             ELSE least(CAST(floor({customers} * pow(u_cust, 2.2)) AS BIGINT), {customers - 1})
        END AS cust
      FROM u
    )
    SELECT
      CASE WHEN u_ret < 20 THEN 'R' ELSE 'O' END || lpad(CAST(o AS VARCHAR), 10, '0') AS order_id,
      TIMESTAMP '2024-01-01' + to_days(CAST(floor(u_day * 731) AS INTEGER))
        + to_seconds(secs) AS order_date,
      CASE WHEN u_blank = 0 THEN NULL ELSE lpad(CAST(cust AS VARCHAR), 8, '0') END AS customer_id,
      CASE WHEN u_blank = 0 THEN NULL ELSE 'Customer ' || CAST(cust AS VARCHAR) END AS customer_name,
      ['North', 'East', 'South', 'West', 'Central'][CAST(1 + hash(cust, 17) % 5 AS BIGINT)] AS region,
      round((CASE WHEN u_ret < 20 THEN -1 ELSE 1 END)
            * exp(3.5 + 1.1 * sqrt(-2 * ln(greatest(u_amt, 1e-9))) * cos(6.283185307 * u_phase)),
            2) AS amount
    FROM c
    """


def generate(
    rows: int,
    out_dir: Path = DEFAULT_DIR,
    *,
    formats=("csv", "parquet"),
    threads: int | None = None,
) -> dict[str, Path]:
    """Write ``synthetic_<rows>.csv`` / ``.parquet`` into ``out_dir`` unless present."""
    import duckdb

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")
    try:
        for fmt in formats:
            path = out_dir / f"synthetic_{rows}.{fmt}"
            paths[fmt] = path
            if path.exists():
                continue
            tmp = path.with_name(path.name + ".part")
            t0 = time.perf_counter()
            if fmt == "csv":
                con.execute(
                    f"COPY ({_select(rows)}) TO '{tmp}' "
                    "(FORMAT csv, HEADER, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
                )
            else:
                con.execute(
                    f"COPY ({_select(rows)}) TO '{tmp}' "
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)"
                )
            os.replace(tmp, path)
            print(
                f"wrote {path} ({path.stat().st_size / 1e6:,.0f} MB) in "
                f"{time.perf_counter() - t0:.1f} s",
                flush=True,
            )
    finally:
        con.close()
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--out", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--format", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    args = ap.parse_args()
    for rows in args.rows:
        generate(rows, args.out, formats=tuple(args.format))


if __name__ == "__main__":
    main()
