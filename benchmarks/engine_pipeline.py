"""The analysis of ``tiering.analysis.pipeline.run`` with the streaming engine in place of the
pandas path, step by step (pipeline.run does the same since the engine was wired).

    .venv/bin/python benchmarks/engine_pipeline.py params.yaml [--engine duckdb]

``run_with_engine`` is the wiring proposed for ``pipeline.run`` (see BENCHMARKS.md):
features, quality and facts from :func:`tiering.data.engines.compute_features`, the
monthly revenue per tier from :func:`tiering.data.engines.monthly_by_tier`, everything else
unchanged. Prints the seconds per step and the peak memory as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def run_with_engine(params, *, spec, rejected_path=None) -> tuple[dict, object]:
    """``pipeline.run``'s steps on the engine path; returns (timings, parts)."""
    import pandas as pd

    from tiering.analysis import methods, pipeline, stats, strategy
    from tiering.analysis.playbook import load_playbook
    from tiering.data import engines

    timings: dict[str, float] = {}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - t, 2)
        return out

    w = params.window
    res = timed(
        "features",
        lambda: engines.compute_features(
            params.data,
            as_of=params.as_of,
            window_start=w.start,
            window_months=w.months,
            spec=spec,
            rejected_path=rejected_path,
        ),
    )
    feats = res.features
    result = timed("tiering", lambda: methods.fit(feats, params.tiering, seed=params.seed))
    tiers = pd.concat([feats, result.assignments.drop(columns=["customer_id"])], axis=1)
    summary = timed("tier_summary", lambda: pipeline.tier_summary(tiers))
    monthly = timed(
        "monthly_by_tier", lambda: engines.monthly_by_tier(res, tiers, params.data, spec=spec)
    )
    categorical = [a for a in res.attributes if 1 < tiers[a].nunique() <= 50]
    comparison = timed(
        "statistics",
        lambda: stats.compare_tiers(
            tiers,
            metrics=list(params.stats.metrics),
            categorical=categorical,
            alpha=params.stats.alpha,
            min_group_size=params.stats.min_group_size,
            n_boot=params.stats.n_boot,
            seed=params.seed,
        ),
    )
    playbook = load_playbook(params.strategy.playbook)
    timed(
        "strategy",
        lambda: strategy.recommend(
            tiers, summary, spec=params.strategy, currency=params.currency, playbook=playbook
        ),
    )
    return timings, {"result": res, "tiers": tiers, "monthly": monthly, "comparison": comparison}


def main() -> None:
    from tiering import params as P
    from tiering.data.engines import EngineSpec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("params", type=Path)
    ap.add_argument("--engine", default="duckdb")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GB")
    args = ap.parse_args()
    p = P.load(args.params)
    spec = EngineSpec(engine=args.engine, threads=args.threads, memory_limit=args.memory_limit)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        timings, parts = run_with_engine(p, spec=spec, rejected_path=Path(tmp) / "rejected.csv")
    print(
        json.dumps(
            {
                "customers": len(parts["tiers"]),
                "rows": parts["result"].rows_read,
                "timings": timings,
                "total": round(time.perf_counter() - t0, 2),
                "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
