"""The value model's inputs on the streaming engine: what they add to the feature step.

    .venv/bin/python benchmarks/value_inputs.py [--rows 2000000 20000000] [--fit]

On the synthetic CSV files of ``benchmarks/generate.py`` (made when missing), each
figure from a fresh process (wall time, CPU time of the process, peak resident memory):

- ``one scan``: ``tiering.data.engines.compute_features`` as a report calls it on the
  DuckDB engine (``months=True``, the rejected rows written, duplicates counted), with
  ``value_inputs`` off, then on; ``inputs s`` is the inputs query's own time (over the
  rows table; its CPU time is measured by wrapping the engine's query functions);
- ``passes``: the same with the rows table ruled out (``ROWS_TABLE_SHARE = 0``: the path
  of a file whose rows do not fit in memory), where the inputs take one more pass over
  the file;
- with ``--fit``, at the largest size: the model's summary from the aggregates
  (``pipeline.model_aggregates`` + ``value.summary_from_aggregates``) and
  ``clv.fit_value_model`` on every customer, after a fit on 2,000 customers has
  compiled the model (or found it in PyTensor's cache).

Prints a Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import DEFAULT_DIR, generate  # noqa: E402 - after the sys.path line

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
cfg = json.loads(sys.argv[1])
from tiering.data import engines
from tiering.data.engines import duckdb_stream as D
from tiering.params import DataSource, EngineSpec

if cfg["passes"]:
    D.ROWS_TABLE_SHARE = 0.0
inputs_cpu = []
def timed(fn):  # the CPU time of the inputs query (both of DuckDB's threads)
    def run(*a, **k):
        c = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            inputs_cpu.append(time.process_time() - c)
    return run
D._rows_value_inputs = timed(D._rows_value_inputs)
D._file_value_inputs = timed(D._file_value_inputs)
src = DataSource(path=cfg["path"], attributes=["region"],
                 cancellations={"order_id_prefixes": ["R"]})
spec = EngineSpec(engine="duckdb", threads=cfg["threads"], memory_limit=cfg["memory_limit"],
                  temp_directory=cfg["tmp"])
t0, c0 = time.perf_counter(), time.process_time()
res = engines.compute_features(src, spec=spec, rejected_path=cfg["tmp"] + "/rejected.csv",
                               months=True, value_inputs=cfg["inputs"])
out = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
       "customers": len(res.features), "table": "table" in res.timings,
       "inputs_s": res.timings.get("value_inputs"), "inputs_cpu": sum(inputs_cpu) or None}
if cfg["fit"]:
    import pandas as pd
    from tiering.analysis import clv, pipeline, value
    cutoff = pd.Timestamp(res.as_of)
    t, c = time.perf_counter(), time.process_time()
    summary = value.summary_from_aggregates(pipeline.model_aggregates(res), cutoff=cutoff)
    out["summary_s"], out["summary_cpu"] = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    clv.fit_value_model(summary.iloc[:2000].reset_index(drop=True))  # compile (or load)
    out["warmup_s"] = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    model = clv.fit_value_model(summary)
    out["fit_s"], out["fit_cpu"] = time.perf_counter() - t, time.process_time() - c
    out["fit"] = {"customers": len(summary), "reason": model.reason,
                  "spend_reason": model.spend_reason, "converged": model.converged,
                  "at_boundary": list(model.at_boundary),
                  "parameters": {k: round(float(v), 4) for k, v in model.parameters.items()}}
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_child(cfg: dict) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=7200,
    )
    if res.returncode:
        return {"error": res.stderr.strip()[-800:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 20_000_000])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="3.8GB")
    ap.add_argument("--fit", action="store_true", help="also fit the model at the largest size")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measurement")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    rows_out = []
    for n in args.rows:
        path = generate(n, args.data, formats=("csv",))["csv"]
        runs = itertools.product((False, True), (False, True), range(args.repeat))
        for passes, inputs, i in runs:
            fit = args.fit and inputs and not passes and i == 0 and n == max(args.rows)
            with tempfile.TemporaryDirectory(prefix="value-inputs-") as tmp:
                cfg = {
                    "path": str(path),
                    "passes": passes,
                    "inputs": inputs,
                    "fit": fit,
                    "threads": args.threads,
                    "memory_limit": args.memory_limit,
                    "tmp": tmp,
                }
                got = run_child(cfg)
            row = {"rows": n, "path": "passes" if passes else "one scan", "inputs": inputs}
            rows_out.append({**row, **got})
            print(json.dumps(rows_out[-1]), file=sys.stderr, flush=True)
    print(
        "| rows | path | inputs | customers | wall s | CPU s | inputs wall s | inputs CPU s | peak MiB |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows_out:
        if "error" in r:
            print(f"| {r['rows']:,} | {r['path']} | {r['inputs']} | error: {r['error'][:200]} |")
            continue
        print(
            f"| {r['rows']:,} | {r['path']} | {'on' if r['inputs'] else 'off'} | "
            f"{r['customers']:,} | {r['wall']:.1f} | {r['cpu']:.1f} | "
            f"{r['inputs_s'] if r['inputs_s'] is not None else ''} | "
            f"{'' if r['inputs_cpu'] is None else round(r['inputs_cpu'], 2)} | {r['peak_mb']:,.0f} |"
        )
    for r in rows_out:
        if "fit_s" in r:
            print(
                f"\nfit at {r['rows']:,} rows: summary {r['summary_s']:.1f} s "
                f"({r['summary_cpu']:.1f} CPU), warm-up fit {r['warmup_s']:.1f} s, fit of "
                f"{r['fit']['customers']:,} customers {r['fit_s']:.1f} s "
                f"({r['fit_cpu']:.1f} CPU); {r['fit']}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows_out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
