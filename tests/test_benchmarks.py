"""The benchmark script runs, and its floors compute what they claim (on a small file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT

KINDS = [
    "tiering duckdb",
    "tiering duckdb lean",
    "duckdb bare group by",
    "duckdb rules floor",
    "tiering pandas path",
]


def test_the_benchmark_runs_every_engine_on_one_file(tmp_path):
    out = tmp_path / "figures.json"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--rows",
            "20000",
            "--formats",
            "csv",
            "--data",
            str(tmp_path / "data"),
            "--no-report",
            "--memory-limit",
            "500MB",
            "--only",
            *KINDS,
            "--json",
            str(out),
            "--repeat",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # its scratch folder (tiering-bench-*) in this test's folder, not the shared /tmp
        # that other tests watch for tiering's files
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["memory_limit"] == "500MB"
    got = {r["kind"]: r for r in figures["results"]}
    assert sorted(got) == sorted(KINDS)
    for kind, r in got.items():
        assert "error" not in r, (kind, r.get("error"))
        assert r["wall"] > 0 and r["peak_mb"] > 0, kind
        # two runs in turns: the median of two is their mean; the ratio to the rules
        # floor is the median of the two rounds' ratios
        assert r["runs"] == 2 and len(r["walls"]) == 2, kind
        assert r["wall"] == pytest.approx(sum(r["walls"]) / 2), kind
    floor = got["duckdb rules floor"]["walls"]
    full = got["tiering duckdb"]["walls"]
    assert got["tiering duckdb"]["x_floor"] == pytest.approx(
        (full[0] / floor[0] + full[1] / floor[1]) / 2
    )
    assert got["duckdb rules floor"]["x_floor"] == pytest.approx(1.0)
    # about 1,000 customers in 20,000 rows, the same for every engine that applies the
    # loader's rules; the rows without a customer id are one more group for the bare
    # GROUP BY, which applies none
    customers = {kind: r["customers"] for kind, r in got.items()}
    ruled = {customers[k] for k in KINDS if k != "duckdb bare group by"}
    assert len(ruled) == 1 and 950 <= customers["tiering duckdb"] <= 1000, customers
    assert customers["duckdb bare group by"] == customers["tiering duckdb"] + 1
    assert got["tiering duckdb"]["rejected"] == got["tiering duckdb lean"]["rejected"] > 0
    # the Markdown table names every engine with its figures
    for kind in KINDS:
        assert "| 20,000 | csv (" in res.stdout and f"| {kind} | " in res.stdout, kind
    assert "median of 2 runs" in res.stdout
