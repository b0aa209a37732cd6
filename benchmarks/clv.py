"""The value model's costs: import, first-fit compilation, refits, and fits at scale.

    python benchmarks/clv.py [--customers 100000 1000000] [--json figures.json]

Needs PyMC-Marketing in the running Python (``pip install pymc-marketing``); the CDNOW
sample is read from the ``lifetimes`` wheel when installed (``pip install --no-deps
lifetimes``; its code is never imported), else a simulated sample of the same size
stands in. Each figure comes from a fresh process:

1. ``cold``: an empty PyTensor compile cache (``PYTENSOR_FLAGS=base_compiledir=`` a new
   temporary folder): the import of ``pymc_marketing.clv``, the first
   :func:`tiering.analysis.clv.fit_value_model` on CDNOW (compiles the C code of both
   models), a second fit in the same process.
2. ``warm``: a new process on the cache the first one left: what a rerun of a report
   costs.
3. ``warm, other data``: the same cache, simulated customers (BG/NBD r 0.5, alpha 5,
   a 0.8, b 2.5; Gamma-Gamma p 6, q 4, v 15): does a new data set reuse the cache?
4. One process per ``--customers`` size on the same cache: the fit from a summary
   (the summary's own cost is the data layer's), wall time and peak memory.

Also prints where PyTensor keeps its cache by default. Prints a Markdown table; nothing
is asserted. The machine's cores are whatever it has (the figures in the issue were
taken on 2).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, warnings
t0 = time.perf_counter()
import numpy as np, pandas as pd
mode, n = sys.argv[1], int(sys.argv[2])
out = {"mode": mode}

def simulate(n, weeks=78.0, seed=7):
    # summary-level draws from the BG/NBD and Gamma-Gamma models, vectorised
    rng = np.random.default_rng(seed)
    rate, drop = rng.gamma(0.5, 1 / 5.0, n), rng.beta(0.8, 2.5, n)
    first = rng.uniform(0, 26, n)
    T = np.floor((weeks - first) * 7) / 7
    x, last = np.zeros(n, dtype=np.int64), np.zeros(n)
    t, active = np.zeros(n), np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1 / rate[idx])
        inside = t[idx] < T[idx]
        buy = idx[inside]
        x[buy] += 1
        last[buy] = np.floor(t[buy] * 7) / 7
        gone = buy[rng.random(buy.size) < drop[buy]]
        active[idx[~inside]] = False
        active[gone] = False
    nu = rng.gamma(4.0, 1 / 15.0, n)
    zbar = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1)) / (nu * np.maximum(x, 1)), 0.0)
    return pd.DataFrame({"customer_id": np.char.zfill(np.arange(n).astype(str), 8),
                         "frequency": x, "recency": last, "T": T, "monetary_value": zbar})

def cdnow():
    from importlib.metadata import PackageNotFoundError, distribution
    from tiering.analysis import clv
    try:
        path = distribution("lifetimes").locate_file("lifetimes/datasets/CDNOW_sample.txt")
        raw = pd.read_csv(path, sep=r"\s+", header=None, dtype={2: str})
    except (PackageNotFoundError, FileNotFoundError):
        out["data"] = "simulated (lifetimes not installed)"
        return simulate(2357, weeks=39.0)
    out["data"] = "CDNOW sample (lifetimes wheel)"
    tx = pd.DataFrame({"customer_id": raw[1].astype(str), "order_date": pd.to_datetime(raw[2], format="%Y%m%d"),
                       "amount": raw[4].astype(float), "is_return": False})
    return clv.rfm_summary(tx, cutoff="1997-10-01")

summary = cdnow() if mode == "cdnow" else simulate(n)
out["customers"] = len(summary)
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import pymc_marketing.clv  # noqa: F401
import pytensor
out["import_s"] = round(time.perf_counter() - t, 2)
out["compiledir"] = str(pytensor.config.compiledir)
from tiering.analysis import clv
t = time.perf_counter()
m = clv.fit_value_model(summary)
out["fit1_s"] = round(time.perf_counter() - t, 2)
out["converged"] = bool(m.converged and m.spend_converged)
out["parameters"] = {k: round(v, 4) for k, v in m.parameters.items()}
out["log_likelihood"] = round(m.log_likelihood, 2)
out["evaluations"] = [m.info["evaluations"], m.info["spend_evaluations"]]
if mode == "cdnow":
    t = time.perf_counter()
    clv.fit_value_model(summary)
    out["fit2_s"] = round(time.perf_counter() - t, 2)
out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
out["total_s"] = round(time.perf_counter() - t0, 2)
print(json.dumps(out))
"""


def child(mode: str, n: int, cache: str | None) -> dict:
    env = dict(os.environ)
    if cache:
        flags = [f for f in env.get("PYTENSOR_FLAGS", "").split(",") if f and "compiledir" not in f]
        env["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={cache}"])
    res = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(n)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=3600,
    )
    if res.returncode:
        return {"mode": mode, "customers": n, "error": res.stderr.strip()[-600:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def size_mb(folder: str) -> float:
    total = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
    return round(total / 2**20, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    default_dir = subprocess.run(
        [sys.executable, "-c", "import pytensor; print(pytensor.config.base_compiledir)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    cache = tempfile.mkdtemp(prefix="clv-pytensor-")
    rows = []
    try:
        rows.append({"run": "cold cache", **child("cdnow", 0, cache)})
        cold_mb = size_mb(cache)
        rows.append({"run": "warm cache (new process)", **child("cdnow", 0, cache)})
        rows.append({"run": "warm cache, other data", **child("synthetic", 2357, cache)})
        for n in args.customers:
            rows.append({"run": f"{n:,} customers", **child("synthetic", n, cache)})
        warm_mb = size_mb(cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    print(f"PyTensor's default cache: {default_dir} (PYTENSOR_FLAGS=base_compiledir=... moves it)")
    print(f"Cache after the first fit: {cold_mb} MB; after all runs: {warm_mb} MB\n")
    print("| run | customers | import s | first fit s | second fit s | peak MB | evaluations |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['run']} | {r.get('customers', '')} | error: {r['error'][:200]} |")
            continue
        print(
            f"| {r['run']} | {r['customers']:,} | {r['import_s']} | {r['fit1_s']} | "
            f"{r.get('fit2_s', '')} | {r['peak_mb']:,} | {r['evaluations']} |"
        )
    print()
    for r in rows:
        if "parameters" in r:
            print(
                f"{r['run']}: {r.get('data', 'simulated')}, converged {r['converged']}, "
                f"log-likelihood {r['log_likelihood']}, {r['parameters']}"
            )
    if args.json:
        figures = {"default_compiledir": default_dir, "cache_mb": [cold_mb, warm_mb], "runs": rows}
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
