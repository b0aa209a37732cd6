"""The feature step of a report on one engine, as ``tiering.analysis.pipeline.run`` asks
for it, in a process of its own (for the engine choice: time it under
``/usr/bin/time -v`` or any whole-process timer, one engine against the other).

    .venv/bin/python benchmarks/feature_step.py FILE --engine pandas|duckdb [--threads 2]

- ``pandas``: ``tiering.data.io.load`` + ``tiering.data.features.customer_features`` and
  the rejected-rows file (the pandas path of a report).
- ``duckdb``: ``tiering.data.engines.compute_features`` with the rejected-rows file, the
  (customer, month) aggregate and every customer's transactions (what a report with the
  holdout check and migration asks for up to 2M used rows).

The file is one of ``benchmarks/generate.py`` (``region`` as attribute, ``R…`` orders
are returns). Prints one JSON line: engine, customers, rows used, seconds of the step
(the rest of the process is the imports) and the engine's own seconds per part.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--engine", choices=["pandas", "duckdb"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GB")
    args = ap.parse_args()

    from tiering.data.engines import EngineSpec, compute_features
    from tiering.params import DataSource

    src = DataSource(
        path=args.file, attributes=["region"], cancellations={"order_id_prefixes": ["R"]}
    )
    spec = EngineSpec(engine=args.engine, threads=args.threads, memory_limit=args.memory_limit)
    extra = {"transactions": lambda ids, used: None, "months": True}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = compute_features(
            src,
            spec=spec,
            rejected_path=Path(tmp) / "rejected.csv",
            **(extra if args.engine == "duckdb" else {}),
        )
        step = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "engine": res.engine,
                "customers": len(res.features),
                "rows_used": int(res.source["rows_used"]),
                "step_seconds": round(step, 3),
                "engine_timings": res.timings,
            }
        )
    )


if __name__ == "__main__":
    main()
