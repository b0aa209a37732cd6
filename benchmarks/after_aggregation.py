"""After aggregation: how tiering, statistics and charts scale with the number of customers.

    .venv/bin/python benchmarks/after_aggregation.py [--customers 1000000 5000000]

For each size, a fresh process builds synthetic customer features (the columns of
``tiering.data.features.customer_features``, heavy-tailed like real spend, seeded) and times
``tiering.analysis.methods.fit`` (abc, rfm), ``tiering.analysis.pipeline.tier_summary``,
``tiering.analysis.stats.compare_tiers`` (the parameter file's defaults) and the report's charts
(drawn and encoded as in the report, with the size of the HTML they make). Prints a
Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
n = int(sys.argv[1])
rng = np.random.default_rng(42)
as_of = pd.Timestamp("2026-01-01")
freq = rng.negative_binomial(1, 0.15, n) + 1
aov = np.round(rng.lognormal(4.5, 0.9, n), 2)
gross = np.round(freq * aov, 2)
ret = np.round(gross * rng.beta(0.3, 8, n), 2)
first = as_of - pd.to_timedelta(rng.integers(30, 730, n), unit="D")
last = first + pd.to_timedelta((rng.random(n) * (as_of - first).days.to_numpy()).astype(int), unit="D")
feats = pd.DataFrame({
    "customer_id": np.char.zfill(np.arange(n).astype(str), 8),
    "first_purchase": first.to_numpy(), "last_purchase": last.to_numpy(),
    "recency_days": (as_of - last).days.to_numpy().astype("int64"),
    "frequency": freq.astype("int64"), "monetary": gross - ret, "gross_revenue": gross,
    "returns_value": ret, "aov": aov, "tenure_days": (as_of - first).days.to_numpy().astype("int64"),
    "region": rng.choice(["North", "East", "South", "West", "Central"], n),
})
out = {"customers": n, "steps": {}}
def step(name, fn):
    t = time.perf_counter()
    try:
        value = fn()
    except Exception as exc:  # a step that fails is reported, not hidden
        out["steps"][name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        return None
    out["steps"][name] = {"s": round(time.perf_counter() - t, 2),
                          "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    return value
from tiering.analysis import methods, pipeline, stats
from tiering.present import charts
from tiering import params
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
p = params.validate({"data": {"path": "x.csv"}})
res = step("fit abc", lambda: methods.fit(feats, p.tiering))
rfm = params.validate({"data": {"path": "x.csv"}, "tiering": {"method": "rfm"}}).tiering
step("fit rfm", lambda: methods.fit(feats, rfm))
tiers = pd.concat([feats, res.assignments.drop(columns=["customer_id"])], axis=1)
summary = step("tier_summary", lambda: pipeline.tier_summary(tiers))
cmp = step("compare_tiers", lambda: stats.compare_tiers(
    tiers, metrics=list(p.stats.metrics), categorical=["region"], alpha=p.stats.alpha,
    min_group_size=p.stats.min_group_size, n_boot=p.stats.n_boot, seed=0))
html = {}
def chart(name, fn):
    def go():
        fig = fn()
        fig = getattr(fig, "figure", fig)
        html[name] = len(charts.figure_html(fig, alt=name))
        plt.close("all")
    step("chart " + name, go)
chart("pareto_curve", lambda: charts.pareto_curve(tiers, language="en"))
chart("metric_distributions", lambda: charts.metric_distributions(tiers, language="en"))
chart("recency_frequency_map", lambda: charts.recency_frequency_map(tiers, language="en"))
if summary is not None:
    chart("tier_overview", lambda: charts.tier_overview(summary, language="en"))
if cmp is not None:
    chart("median_forest", lambda: charts.median_forest(cmp.summary, language="en"))
    chart("effect_size_heatmap", lambda: charts.effect_size_heatmap(cmp.tests, language="en"))
    sp = cmp.params
    out["stats_params"] = {"max_posthoc_n": sp.get("max_posthoc_n"),
                           "bootstrap_max_n": sp.get("bootstrap_max_n"),
                           "bootstrap_subsampled": len(sp.get("bootstrap_subsampled") or []),
                           "posthoc_subsampled": len(sp.get("posthoc_subsampled") or [])}
out["chart_html_bytes"] = html
print(json.dumps(out, default=str))
"""


def measure(n: int) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=False
    )
    if res.returncode:
        return {"customers": n, "error": res.stderr.strip().splitlines()[-1:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[1_000_000, 5_000_000])
    args = ap.parse_args()
    results = [measure(n) for n in args.customers]
    steps = list(dict.fromkeys(s for r in results for s in r.get("steps", {})))
    print("| step | " + " | ".join(f"{r['customers']:,} customers" for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for s in steps:
        cells = []
        for r in results:
            v = r.get("steps", {}).get(s)
            cells.append(
                "–" if v is None else v.get("error") or f"{v['s']:.1f} s ({v['peak_mb']:,} MB)"
            )
        print(f"| {s} | " + " | ".join(cells) + " |")
    for r in results:
        if "error" in r:
            print(f"\n{r['customers']:,} customers failed: {r['error']}")
        if r.get("chart_html_bytes"):
            print(
                f"\n{r['customers']:,} customers: chart HTML bytes {r['chart_html_bytes']}; "
                f"statistics params {r.get('stats_params')}"
            )


if __name__ == "__main__":
    main()
