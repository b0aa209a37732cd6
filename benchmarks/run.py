"""Benchmark the transaction → customer step at 1M, 10M and 100M rows, and whole reports.

    .venv/bin/python benchmarks/run.py                       # 1M and 10M rows, reports
    .venv/bin/python benchmarks/run.py --rows 1000000 10000000 100000000
    .venv/bin/python benchmarks/run.py --rows 1000000 --formats csv --no-report
    .venv/bin/python benchmarks/run.py --rows 10000000 --no-report --repeat 5 \
        --only "tiering duckdb" "duckdb rules floor"       # the feature step against its floor

Synthetic files are made by ``benchmarks/generate.py`` (DuckDB writes them; they are
kept in ``--data``, default ``$TIERING_BENCH_DIR`` or ``/tmp/tiering-bench``, outside the
repository). Each measurement runs in a fresh process, which reports its wall time,
CPU time and peak resident memory (``getrusage``):

- ``tiering duckdb``: ``tiering.data.engines.compute_features`` with the streaming DuckDB
  engine (every loader rule, the rejected rows written to CSV, duplicates counted),
  and ``tiering duckdb lean``: the same without the rejected-rows file and the
  duplicate count (the features and quality counts alone);
- ``duckdb bare group by``: ``SELECT customer_id, count(DISTINCT order_id), sum(amount),
  min(order_date), max(order_date) ... GROUP BY customer_id`` on the same file, with
  DuckDB's own type detection (the floor: no validation, no rejected rows);
- ``duckdb rules floor``: the same four aggregates over the rows that pass the loader's
  rules, read exactly as our step reads them (every rule on every value, the customer,
  order, date and amount parsed as the pandas path does), and nothing else: no returns,
  attributes, quality counts or reading facts. It is what the rules alone cost, the floor
  for a step that must give the pandas path's answer;
- ``pandas groupby``: ``read_csv``/``read_parquet`` then ``groupby().agg()``;
- ``lifetimes``: ``lifetimes.utils.summary_data_from_transaction_data`` (installed for
  the benchmark only; skipped above ``--lifetimes-max-rows``);
- ``tiering pandas path``: ``tiering.data.io.load`` + ``tiering.data.features.customer_features``
  (the reference path; skipped above ``--pandas-max-rows``).

With ``--report`` (default), the whole report (``tiering report``, HTML + PDF) is timed
on the 1M-row file (50k customers) and on a 20M-row file (1M customers).
With ``--repeat N`` every kind runs N times, in turns (each round runs every kind once,
so that a drift of the machine's speed reaches all of them): the table gives the median
wall time, the median CPU time and the largest peak, and ``× floor`` is the median of
the rounds' ratios to the rules floor (paired within a round).

Prints Markdown tables; ``--json`` also saves the raw figures. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import DEFAULT_DIR, generate  # noqa: E402 - after the sys.path line

THREADS = 2
# DuckDB's memory limit for our step and the floors: the process then peaks below 4 GiB.
# (At 100M rows, 5M customers, the aggregation fits in memory with 3.8GB every time; with
# 3.6GB 4 runs of 10 spilled and took 1.6x as long; see BENCHMARKS.md.)
MEMORY_LIMIT = "3.8GB"

CHILD = r"""
import json, os, resource, sys, time, warnings
warnings.simplefilter("ignore")
cfg = json.loads(sys.argv[1])
path, fmt, kind = cfg["path"], cfg["format"], cfg["kind"]


def source():
    # the synthetic files' columns, their attribute and their returns (``R…`` orders)
    from tiering.params import DataSource
    return DataSource(path=path, attributes=["region"], cancellations={"order_id_prefixes": ["R"]})


def duckdb_spec(**kw):
    from tiering.data.engines import EngineSpec
    return EngineSpec(engine="duckdb", threads=cfg["threads"], memory_limit=cfg["memory_limit"],
                      temp_directory=cfg["tmp"], **kw)


t0, c0 = time.perf_counter(), time.process_time()
info = {}
if kind.startswith("tiering duckdb"):
    from tiering.data.engines import compute_features
    lean = kind.endswith("lean")
    src = source()
    spec = duckdb_spec(duplicates="skip" if lean else "count")
    res = compute_features(src, spec=spec,
                           rejected_path=None if lean else os.path.join(cfg["tmp"], "rejected.csv"))
    info = {"customers": len(res.features), "rows_read": res.source["rows_read"],
            "rejected": res.source["rows_rejected"], "timings": res.timings}
elif kind == "duckdb rules floor":
    from pathlib import Path
    from tiering.data.engines import _rules, duckdb_stream as D
    src = source()
    spec = duckdb_spec()
    lay = D.inspect(src, Path(cfg["tmp"]))
    con = D.connect(spec, Path(cfg["tmp"]))
    modes = D.Modes(dayfirst=src.dayfirst)
    D.register_udfs(con, modes, D._roles(lay))
    parsed = D.parsed_sql(lay, src, modes, D.Window(None, None), details=False,
                          duplicates="skip", today=_rules.today())
    df = D._run(con, parsed + "SELECT cust, count(DISTINCT ord) AS frequency, "
                "sum(amt_signed) AS monetary, min(d_us) AS first_purchase, "
                "max(d_us) AS last_purchase FROM t3 WHERE reason IS NULL GROUP BY cust", lay)
    con.close()
    info = {"customers": len(df)}
elif kind == "tiering pandas path":
    from tiering.data.features import customer_features
    from tiering.data.io import load
    src = source()
    loaded = load(src)
    f = customer_features(loaded.transactions, as_of=loaded.as_of, attributes=loaded.attributes)
    info = {"customers": len(f), "rows_read": loaded.rows_read}
elif kind == "duckdb bare group by":
    import duckdb
    con = duckdb.connect(config={"threads": cfg["threads"], "memory_limit": cfg["memory_limit"],
                                 "temp_directory": cfg["tmp"]})
    reader = f"read_csv('{path}')" if fmt == "csv" else f"read_parquet('{path}')"
    df = con.sql(f"SELECT customer_id, count(DISTINCT order_id) AS frequency, "
                 f"sum(amount) AS monetary, min(order_date) AS first_purchase, "
                 f"max(order_date) AS last_purchase FROM {reader} GROUP BY customer_id").df()
    con.close()
    info = {"customers": len(df)}
elif kind == "pandas groupby":
    import pandas as pd
    if fmt == "csv":
        df = pd.read_csv(path, dtype={"customer_id": str, "order_id": str},
                         parse_dates=["order_date"])
    else:
        df = pd.read_parquet(path)
    g = df.groupby("customer_id").agg(frequency=("order_id", "nunique"),
                                      monetary=("amount", "sum"),
                                      first_purchase=("order_date", "min"),
                                      last_purchase=("order_date", "max"))
    info = {"customers": len(g)}
elif kind == "lifetimes":
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data
    if fmt == "csv":
        df = pd.read_csv(path, dtype={"customer_id": str, "order_id": str},
                         parse_dates=["order_date"])
    else:
        df = pd.read_parquet(path)
    df = df[df["customer_id"].notna()]
    s = summary_data_from_transaction_data(df, "customer_id", "order_date",
                                           monetary_value_col="amount",
                                           observation_period_end=df["order_date"].max())
    info = {"customers": len(s)}
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "cpu": time.process_time() - c0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **info}))
"""


def run_child(
    kind: str,
    path: Path,
    fmt: str,
    tmp: Path,
    memory_limit: str = MEMORY_LIMIT,
    timeout: int = 3600,
) -> dict:
    cfg = {
        "kind": kind,
        "path": str(path),
        "format": fmt,
        "threads": THREADS,
        "memory_limit": memory_limit,
        "tmp": str(tmp),
    }
    try:
        res = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(cfg)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s"}
    if res.returncode:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:200]}
    # the figures are the last JSON object printed (a progress bar may share its line)
    found = re.findall(r'\{"wall".*\}', res.stdout)
    if not found:
        return {"error": (res.stdout.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(found[-1])


def summarise(runs: list[dict], floor: list[dict] | None) -> dict:
    """One kind's runs as one result: the median wall and CPU time, the largest peak, the
    spread, and the median of the ratios to the rules floor's run of the same round; the
    first failed run's error if any failed."""
    import statistics

    bad = [r for r in runs if "wall" not in r]
    if bad:
        return dict(bad[0])
    out = dict(runs[len(runs) // 2])  # the other figures (customers, timings) of one run
    walls = [r["wall"] for r in runs]
    out.update(
        wall=statistics.median(walls),
        cpu=statistics.median(r["cpu"] for r in runs),
        peak_mb=max(r["peak_mb"] for r in runs),
        wall_min=min(walls),
        wall_max=max(walls),
        runs=len(runs),
        walls=walls,
    )
    if floor and all("wall" in f for f in floor):
        out["x_floor"] = statistics.median(r["wall"] / f["wall"] for r, f in zip(runs, floor))
    return out


def report_time(rows: int, data: Path, tmp: Path) -> dict:
    """Time ``tiering report`` (HTML + PDF) on a synthetic file of ``rows`` rows."""
    csv = generate(rows, data, formats=("csv",))["csv"]
    params = tmp / f"report_{rows}.yaml"
    params.write_text(
        "client: Benchmark Retail\n"
        f"data:\n  path: {csv}\n  attributes: [region]\n"
        "  cancellations:\n    order_id_prefixes: [R]\n",
        encoding="utf-8",
    )
    out = tmp / f"report_{rows}"
    cmd = [
        str(Path(sys.executable).parent / "tiering"),
        "report",
        str(params),
        "--output",
        str(out),
    ]
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak = None
    for line in res.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split(":")[-1]) / 1024
    out_info = {"wall": wall, "peak_mb": peak, "returncode": res.returncode}
    if res.returncode:
        out_info["error"] = (res.stderr.strip().splitlines() or ["?"])[-1][:300]
    manifest = out / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        out_info.update(
            customers=m.get("customers"),
            rows=m.get("rows", {}).get("read"),
            timings=m.get("timings_seconds"),
        )
        html = out / "report.html"
        if html.exists():
            out_info["html_mb"] = round(html.stat().st_size / 1e6, 2)
    return out_info


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--formats", nargs="+", default=["parquet", "csv"], choices=["parquet", "csv"])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--pandas-max-rows", type=int, default=10_000_000)
    ap.add_argument("--lifetimes-max-rows", type=int, default=1_000_000)
    ap.add_argument("--report", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--report-rows", type=int, nargs="+", default=[1_000_000, 20_000_000])
    ap.add_argument("--only", nargs="+", help="run only these kinds (e.g. 'tiering duckdb')")
    ap.add_argument(
        "--memory-limit",
        default=MEMORY_LIMIT,
        help=f"DuckDB's memory limit for the feature step (default {MEMORY_LIMIT})",
    )
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs of each kind, in turns (medians reported)"
    )
    args = ap.parse_args()
    kinds = [
        "tiering duckdb",
        "tiering duckdb lean",
        "duckdb bare group by",
        "duckdb rules floor",
        "pandas groupby",
        "lifetimes",
        "tiering pandas path",
    ]
    if args.only:
        kinds = [k for k in kinds if k in args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix="tiering-bench-") as tmp:
        tmp = Path(tmp)
        for rows in args.rows:
            paths = generate(rows, args.data, formats=tuple(args.formats))
            for fmt in args.formats:
                runs = {kind: [] for kind in kinds}
                for round_ in range(args.repeat):
                    for kind in kinds:
                        limit = {
                            "pandas groupby": args.pandas_max_rows,
                            "tiering pandas path": args.pandas_max_rows,
                            "lifetimes": args.lifetimes_max_rows,
                        }.get(kind)
                        if limit is not None and rows > limit:
                            r = {"skipped": f"above {limit:,} rows"}
                        else:
                            r = run_child(kind, paths[fmt], fmt, tmp, args.memory_limit)
                        r.update(round=round_)
                        runs[kind].append(r)
                        print(json.dumps({"kind": kind, **r}), file=sys.stderr, flush=True)
                floor = runs.get("duckdb rules floor")
                for kind in kinds:
                    r = summarise(runs[kind], floor)
                    r.update(rows=rows, format=fmt, kind=kind, bytes=paths[fmt].stat().st_size)
                    results.append(r)
        reports = []
        if args.report:
            for rows in args.report_rows:
                r = report_time(rows, args.data, tmp)
                r["rows_requested"] = rows
                reports.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
    print(f"Machine: {machine()}; DuckDB memory_limit {args.memory_limit}, {THREADS} threads\n")
    print(
        "| rows | file | engine / library | seconds | CPU s | × floor | rows/s | peak MiB "
        "| customers | note |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        f = f"{r['format']} ({r['bytes'] / 1e6:,.0f} MB)"
        if "wall" in r:
            note = ""
            if r["kind"].startswith("tiering duckdb") and r.get("timings"):
                tm = r["timings"]
                steps = (
                    "aggregate",
                    "duplicates",
                    "latest_values",
                    "rejected",
                    "ties",
                    "window_pass",
                )
                note = ", ".join(f"{k} {v:.1f}s" for k, v in tm.items() if k in steps)
            if r.get("runs", 1) > 1:
                note = f"median of {r['runs']} runs ({r['wall_min']:.2f}-{r['wall_max']:.2f} s)" + (
                    f"; {note}" if note else ""
                )
            ratio = f"{r['x_floor']:.2f}" if r.get("x_floor") is not None else "–"
            print(
                f"| {r['rows']:,} | {f} | {r['kind']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                f"{ratio} | {r['rows'] / r['wall']:,.0f} | {r['peak_mb']:,.0f} | "
                f"{r.get('customers', 0):,} | {note} |"
            )
        else:
            print(
                f"| {r['rows']:,} | {f} | {r['kind']} | – | – | – | – | – | – | "
                f"{r.get('skipped') or r.get('error')} |"
            )
    if reports:
        print("\n| report | customers | rows | seconds | peak MiB | HTML MB | steps |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for r in reports:
            steps = ", ".join(
                f"{k} {v:.1f}s"
                for k, v in (r.get("timings") or {}).items()
                if isinstance(v, (int, float))
            )
            print(
                f"| {r['rows_requested']:,} rows | {r.get('customers') or 0:,} | "
                f"{r.get('rows') or 0:,} | {r['wall']:.1f} | {r.get('peak_mb') or 0:,.0f} | "
                f"{r.get('html_mb', '–')} | {steps or r.get('error', '')} |"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "memory_limit": args.memory_limit,
                    "results": results,
                    "reports": reports,
                },
                indent=1,
            ),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
