"""CPU of the analysis steps after the features (statistics, migration, holdout, strategy).

    .venv/bin/python benchmarks/analysis_steps.py PARAMS.yaml [--repeat 3] [--save FILE]
    .venv/bin/python benchmarks/analysis_steps.py --load FILE [--repeat 3] [--json OUT]

First runs ``tiering.analysis.pipeline.run`` on the parameter file once and prints the CPU
seconds (user + system, from ``getrusage``) of every step it times (``load``,
``features``, ``tiering``, ``statistics``, ...). Then runs each step after the features
again ``--repeat`` times, alone, on the same inputs (the tiers and the transactions in
memory), called as ``run`` calls them and in its order (the holdout check reuses the
migration's snapshot at its cut-off), and prints the median CPU of each: the figure to
compare before and after a change, free of the features' CPU (most of a run).
``--save`` pickles what the steps need (``(analysis, loaded)``, protocol 5) and ``--load``
starts from such a file instead of the parameter file, to iterate fast. ``--json``
writes the figures.

For 1M customers: ``benchmarks/generate.py --rows 20000000`` and a parameter file with
``data.path`` that file, ``data.attributes: [region]`` and
``data.cancellations.order_id_prefixes: [R]`` (the defaults otherwise: holdout of 3
months, quarterly migration).

On this kind of machine a page of memory touched for the first time costs about 10 µs,
so the system time of a step depends on what the process freed before: read the
medians, not a single run. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pickle
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("statistics", "migration", "holdout", "strategy")  # in the order ``run`` runs them


def cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def run_pipeline(params_path: Path) -> tuple[dict, object, object]:
    """One ``pipeline.run`` with the CPU of each timed step: ``{step: (user, sys)}``."""
    import tiering.analysis.pipeline as pipeline
    from tiering import params

    figures: dict = {}
    timed = pipeline.timed

    @contextlib.contextmanager
    def counted(timings, step):
        u0, s0 = cpu()
        with timed(timings, step):
            yield
        u1, s1 = cpu()
        figures[step] = (round(u1 - u0, 2), round(s1 - s0, 2))

    pipeline.timed = counted
    try:
        with tempfile.TemporaryDirectory() as tmp:
            analysis, loaded = pipeline.run(
                params.load(params_path), rejected_path=Path(tmp) / "rejected.csv"
            )
    finally:
        pipeline.timed = timed
    return figures, analysis, loaded


def step_calls(analysis, loaded) -> dict:
    """Each step after the features as ``pipeline.run`` calls it, on the same inputs."""
    from tiering.analysis import holdout, migration, pipeline, stats, strategy
    from tiering.analysis.playbook import load_playbook

    p, tiers, tx = analysis.params, analysis.tiers, loaded.transactions
    months = p.stats.holdout_months
    cutoff = holdout.holdout_cutoff(loaded.as_of, months) if months else None
    shared: dict = {cutoff: None}  # the migration's snapshot the holdout check reuses

    def statistics_step():
        attrs = loaded.attributes
        categorical = [a for a in attrs if 1 < tiers[a].nunique() <= 50] if len(tiers) else []
        numeric, master = pipeline.master_measures(tiers, attributes=attrs)
        return stats.compare_tiers(
            tiers,
            metrics=list(dict.fromkeys([*p.stats.metrics, *numeric])),
            categorical=list(dict.fromkeys([*categorical, *master])),
            test=p.stats.test,
            alpha=p.stats.alpha,
            min_group_size=p.stats.min_group_size,
            n_boot=p.stats.n_boot,
            seed=p.seed,
            max_posthoc_n=pipeline.POSTHOC_MAX_N,
        )

    def migration_step():
        sampled = loaded.source.get("transactions_sample")
        return migration.analyse_migration(
            tx,
            params=p,
            spec=p.migration,
            as_of=loaded.as_of,
            attributes=loaded.attributes,
            sample_customers=set(tx["customer_id"].unique()) if sampled else None,
            features_at=shared,
        )

    def strategy_step():
        return strategy.recommend(
            tiers,
            analysis.tier_summary,
            spec=p.strategy,
            currency=p.currency,
            playbook=load_playbook(p.strategy.playbook),
            value=analysis.value,
            campaigns=analysis.campaigns,
        )

    calls = {"statistics": statistics_step, "strategy": strategy_step}
    if tx is not None:
        calls["holdout"] = lambda: holdout.holdout_check(
            tx, params=p, as_of=loaded.as_of, features=shared[cutoff]
        )
        calls["migration"] = migration_step
    return {s: calls[s] for s in STEPS if s in calls}


def repeat_steps(analysis, loaded, repeat: int) -> dict:
    """``{step: [user + sys of each run]}``, every step run ``repeat`` times alone."""
    out: dict = {}
    for name, call in step_calls(analysis, loaded).items():
        runs = []
        for _ in range(repeat):
            u0, s0 = cpu()
            call()
            u1, s1 = cpu()
            runs.append((u1 - u0, s1 - s0))
        out[name] = runs
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("params", nargs="?", type=Path, help="the parameter file of the run")
    ap.add_argument("--load", type=Path, help="start from a pickle of --save")
    ap.add_argument("--save", type=Path, help="pickle (analysis, loaded) here")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each step alone (0: none)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    if (args.params is None) == (args.load is None):
        ap.error("give a parameter file or --load FILE")
    result: dict = {"source": str(args.params or args.load)}
    if args.load:
        with open(args.load, "rb") as fh:
            analysis, loaded = pickle.load(fh)  # noqa: S301 - a file this script wrote
    else:
        t = time.perf_counter()
        figures, analysis, loaded = run_pipeline(args.params)
        result["pipeline"] = {k: {"user": u, "sys": s} for k, (u, s) in figures.items()}
        print(f"pipeline.run: {time.perf_counter() - t:.1f} s wall")
        print(f"{'step':20s} {'cpu':>7s} {'user':>7s} {'sys':>7s}")
        for step, (u, s) in figures.items():
            print(f"{step:20s} {u + s:7.2f} {u:7.2f} {s:7.2f}")
        if args.save:
            with open(args.save, "wb") as fh:
                pickle.dump((analysis, loaded), fh, protocol=5)
    print(f"customers: {len(analysis.tiers):,}")
    if args.repeat > 0:
        runs = repeat_steps(analysis, loaded, args.repeat)
        print(f"\neach step alone, {args.repeat} runs: median CPU s (user + sys) [every run]")
        result["alone"] = {}
        for step, times in runs.items():
            total = [u + s for u, s in times]
            med = statistics.median(total)
            result["alone"][step] = {"median_cpu": round(med, 3), "runs": times}
            print(f"{step:20s} {med:7.2f}  {[round(x, 2) for x in total]}")
        result["alone_total"] = round(sum(v["median_cpu"] for v in result["alone"].values()), 3)
        print(f"{'total':20s} {result['alone_total']:7.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
