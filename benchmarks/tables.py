"""The report's tables step: CPU and wall of ``tiering.build.outputs.write_tables``.

    .venv/bin/python benchmarks/tables.py params/demo.yaml --runs 3
    .venv/bin/python benchmarks/tables.py BIG.yaml --runs 3 --cache /tmp/big.pkl --keep /tmp/out

Builds the analysis of the parameter file with ``tiering.analysis.pipeline.run`` (the
rejected rows go to a temporary folder), then writes the tables ``--runs`` times, each
time into a new empty folder, and prints per run the wall, user and system seconds
(``getrusage``) and the page faults, then the medians. Each run is a forked child of
the process holding the analysis, so it starts as the report's tables step does: with
its first touch of fresh memory to pay for (on this project's machines a page fault
costs about 10 microseconds; ``--same-process`` runs them one after the other instead,
which reuses memory and reads lower). ``--cache PATH`` keeps the analysis in a pickle
and reuses it when it is there (a 1M-customer analysis takes minutes to build and
seconds to load; delete the file after changing the analysis code). ``--keep DIR``
leaves the last run's files in ``DIR`` (to compare two versions with ``cmp``). Nothing
is asserted.

Measured 2026-12-07 (2 cores shared with two other workers, load about 3; medians of 3
forked runs; issue 18): 1M customers (20M transaction rows) 17.5 -> 7.1 CPU-s (user
12.7 -> 5.8, sys 4.5 -> 1.1; page faults 307k -> 54k), wall 13.9 -> 6-11 s (as busy as
the machine is); the demo (3,000 customers) 0.7-0.8 CPU-s before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _analysis(path: Path, cache: Path | None):
    if cache is not None and cache.is_file():
        with open(cache, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - the file this script wrote
    from tiering import params
    from tiering.analysis import pipeline

    folder = Path(tempfile.mkdtemp(prefix="tiering-bench-tables-"))
    built = pipeline.run(params.load(path), rejected_path=folder / "rejected_rows.csv")
    if cache is not None:
        with open(cache, "wb") as fh:
            pickle.dump(built, fh, protocol=5)
    return built


def _one_run(analysis, loaded, folder: Path) -> dict[str, float]:
    from tiering.build import outputs

    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    outputs.write_tables(analysis, loaded, folder)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return {
        "wall": wall,
        "user": user,
        "sys": system,
        "cpu": user + system,
        "faults": after.ru_minflt - before.ru_minflt,
    }


def _forked_run(analysis, loaded, folder: Path) -> dict[str, float]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one run, its numbers back through the pipe
        os.close(read)
        code = 0
        try:
            result = _one_run(analysis, loaded, folder)
            os.write(write, json.dumps(result).encode())
        except BaseException:  # noqa: BLE001 - shown, then the child ends
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            os.close(write)
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        sys.exit("a run failed (see above)")
    return json.loads(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("params", type=Path, help="parameter file (YAML)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, help="pickle of the analysis (made, then reused)")
    parser.add_argument("--keep", type=Path, help="leave the last run's files in this folder")
    parser.add_argument("--same-process", action="store_true", help="no fork per run")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    analysis, loaded = _analysis(args.params, args.cache)
    print(f"analysis of {args.params}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"{len(analysis.tiers):,} customers", flush=True)
    results = []
    for i in range(args.runs):
        folder = Path(tempfile.mkdtemp(prefix="tiering-bench-tables-"))
        try:
            run = _one_run if args.same_process else _forked_run
            result = run(analysis, loaded, folder)
            if args.keep is not None and i == args.runs - 1:
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(folder, args.keep)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        results.append(result)
        print(
            "run {}: wall {wall:.2f} s, user {user:.2f} s, sys {sys:.2f} s, "
            "CPU {cpu:.2f} s, {faults:,} page faults".format(i + 1, **result),
            flush=True,
        )
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(
        "median: wall {wall:.2f} s, user {user:.2f} s, sys {sys:.2f} s, CPU {cpu:.2f} s, "
        "{faults:,.0f} page faults".format(**median)
    )


if __name__ == "__main__":
    main()
