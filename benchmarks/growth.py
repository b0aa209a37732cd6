"""How a whole report's cost grows with the client's file: 1k -> 10k -> 100k -> 1M customers.

    .venv/bin/python benchmarks/growth.py                    # 1k, 10k, 100k, 1M customers, 2 runs
    .venv/bin/python benchmarks/growth.py --customers 1000 10000 100000 --runs 3
    .venv/bin/python benchmarks/growth.py --json /tmp/growth.json

Each size is a synthetic file of ``benchmarks/generate.py`` (20 transaction rows per
customer; kept in ``--data``, default ``$TIERING_BENCH_DIR`` or ``/tmp/tiering-bench``) and
the parameters ``benchmarks/run.py`` writes for its reports (the defaults: no value model).
Every run is one ``tiering report`` process (HTML + PDF) timed by ``/usr/bin/time -v``:
its CPU seconds (user + system, of the process and of the notebook kernel it waits for),
wall seconds and peak resident memory. The sizes are taken in turn, so that a busy moment
of the machine falls on every size alike.

Printed (Markdown): per size the median CPU and wall, and two ratios per 10x step:

- **whole report**: CPU(n) / CPU(n / 10);
- **over the fixed cost**: (CPU(n) - CPU(smallest)) / (CPU(n / 10) - CPU(smallest)), the part
  that grows with the data (the smallest size stands for the fixed cost: interpreter,
  imports, the kernel, the charts, WeasyPrint).

Why both. For any report whose cost is a fixed part F plus a part linear in the data
(C(n) = F + v n), the whole-report ratio rises from step to step towards 10 however well the
data part scales: with V the data part at the largest size, the last two ratios are
(F + V) / (F + V/10) and (F + V/10) / (F + V/100), and the first exceeds the second for
every F, V > 0 (cross-multiplied: 1.01 F V > 0.2 F V). So a rising whole-report ratio is
what a flat fixed cost does; whether the *data* part bends upward is read from the second
ratio: at most 10 per 10x means at most linear, and a falling one means below linear.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import DEFAULT_DIR, generate  # noqa: E402 - after the sys.path line

ROWS_PER_CUSTOMER = 20


def params_for(csv: Path, folder: Path) -> Path:
    """The parameter file of ``benchmarks/run.py``'s reports for ``csv``."""
    path = folder / f"{csv.stem}.yaml"
    path.write_text(
        "client: Benchmark Retail\n"
        f"data:\n  path: {csv}\n  attributes: [region]\n"
        "  cancellations:\n    order_id_prefixes: [R]\n",
        encoding="utf-8",
    )
    return path


def one_report(params: Path, out: Path) -> dict:
    """One ``tiering report`` process: CPU, wall and peak memory, from ``/usr/bin/time -v``."""
    cmd = [str(Path(sys.executable).parent / "tiering"), "report", str(params), "-q"]
    cmd += ["--output", str(out)]
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    got: dict = {"wall": round(wall, 2)}
    for line in res.stderr.splitlines():
        name, _, value = line.strip().rpartition(": ")
        if name == "User time (seconds)":
            got["user"] = float(value)
        elif name == "System time (seconds)":
            got["system"] = float(value)
        elif name == "Maximum resident set size (kbytes)":
            got["peak_mib"] = round(int(value) / 1024)
    if res.returncode:
        got["error"] = (res.stderr.strip().splitlines() or ["?"])[-1][:300]
        return got
    got["cpu"] = round(got["user"] + got["system"], 2)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    got["steps"] = manifest.get("timings_seconds")
    return got


def ratios(cpu: list[float]) -> tuple[list[float | None], list[float | None]]:
    """Per size: CPU over the size before it, and the same over the smallest size's CPU."""
    whole: list[float | None] = [None]
    data: list[float | None] = [None, None]
    for i in range(1, len(cpu)):
        whole.append(cpu[i] / cpu[i - 1])
        if i >= 2:
            below = cpu[i - 1] - cpu[0]
            data.append((cpu[i] - cpu[0]) / below if below > 0 else None)
    return whole, data[: len(cpu)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    sizes = sorted(args.customers)
    with tempfile.TemporaryDirectory(prefix="tiering-growth-") as tmp:
        tmp = Path(tmp)
        params = {}
        for n in sizes:
            csv = generate(n * ROWS_PER_CUSTOMER, args.data, formats=("csv",))["csv"]
            params[n] = params_for(csv, tmp)
        runs: dict[int, list[dict]] = {n: [] for n in sizes}
        for r in range(args.runs):
            for n in sizes:
                got = one_report(params[n], tmp / f"report_{n}_{r}")
                runs[n].append(got)
                print(f"# {n:>9,} customers, run {r + 1}: {got}", file=sys.stderr, flush=True)
    ok = {n: [g for g in runs[n] if "cpu" in g] for n in sizes}
    sizes = [n for n in sizes if ok[n]]
    cpu = [statistics.median(g["cpu"] for g in ok[n]) for n in sizes]
    whole, data = ratios(cpu)
    print(
        "| customers | rows | CPU s (runs) | median CPU s | wall s | peak MiB | CPU x per 10x "
        "| over the fixed cost x per 10x |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for i, n in enumerate(sizes):
        runs_txt = ", ".join(f"{g['cpu']:.1f}" for g in ok[n])
        wall = statistics.median(g["wall"] for g in ok[n])
        peak = max(g["peak_mib"] for g in ok[n])
        w = f"{whole[i]:.2f}" if whole[i] else ""
        d = f"{data[i]:.2f}" if i < len(data) and data[i] else ""
        print(
            f"| {n:,} | {n * ROWS_PER_CUSTOMER:,} | {runs_txt} | {cpu[i]:.1f} | {wall:.1f} "
            f"| {peak:,} | {w} | {d} |"
        )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
