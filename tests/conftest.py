"""Shared test fixtures and paths."""

from __future__ import annotations

import datetime as dt
import fcntl
import math
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "datasets"
ONLINE_RETAIL = SHARED_DATA / "online_retail.csv.gz"
DEMO_DATA = ROOT / "data" / "demo_transactions.csv"
DEMO_PARAMS = ROOT / "params" / "demo.yaml"
# The cover date of the shared demo reports (and of the golden files): fixed, so that two
# builds either side of midnight still give the same bytes.
COVER_DATE = dt.date(2026, 12, 1)


#: How far (relative) a decimal number may be from the golden one: 12x the processor's
#: doing (see ``tests/test_golden.py``), and far below what any page or table shows.
REL_TOL = 1e-7
_DECIMAL = re.compile(rb"-?\d+\.\d+(?:[eE][-+]?\d+)?")


def same_as_golden(expected: bytes, actual: bytes) -> bool:
    """The same bytes, or the same text around decimal numbers each within
    :data:`REL_TOL` of the golden one."""
    if expected == actual:
        return True
    if _DECIMAL.split(expected) != _DECIMAL.split(actual):
        return False  # the text, the integers or the count of numbers differ
    return all(
        math.isclose(float(e), float(a), rel_tol=REL_TOL, abs_tol=1e-12)
        for e, a in zip(_DECIMAL.findall(expected), _DECIMAL.findall(actual), strict=True)
    )


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (poppler-utils); run `make setup`")
    return path


@pytest.fixture(scope="session")
def shared_demo(tmp_path_factory):
    """``shared_demo(language="en")``: the folder of the full demo report
    (``params/demo.yaml`` as it is, value model included, cover date ``COVER_DATE``),
    built once per test run and shared by the tests that only read it. A test that
    changes a report folder copies it first, or builds its own.

    With pytest-xdist the workers share one build: the first that asks builds it under
    the run's temporary folder while the others wait on a lock. At the end of the
    session the folders are checked against their manifests, so a test that changed
    one fails the run."""
    from tiering import params
    from tiering.build import report

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above the workers' own
    built: list[Path] = []

    def get(language: str = "en") -> Path:
        folder = root / f"shared-demo-{language}"
        with (root / f"shared-demo-{language}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            done = root / f"shared-demo-{language}.done"
            if not done.exists():
                overrides = [] if language == "en" else [f"language={language}"]
                cfg = params.load(DEMO_PARAMS, overrides=overrides)
                report.build(cfg, output=folder, params_path=DEMO_PARAMS, generated=COVER_DATE)
                done.touch()
        built.append(folder)
        return folder

    yield get
    from tiering import verify

    for folder in sorted(set(built)):
        checks = verify.verify(folder, inputs=False).checks
        changed = checks.loc[checks["status"] != "ok", ["name", "status", "detail"]]
        assert changed.empty, (
            f"a test changed the shared demo report {folder}:\n{changed.to_string(index=False)}"
        )


@pytest.fixture
def write_csv(tmp_path):
    """Write a CSV text into tmp_path and return its path."""

    def _write(text: str, name: str = "tx.csv", encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return _write


def tiering_spec(**tiering):
    """A validated ``tiering`` block (the data path is never read)."""
    from tiering import params

    return params.validate({"data": {"path": "x"}, "tiering": tiering}).tiering


def value_features(monetary, ids=None, **extra):
    """Customer features with ``monetary`` (and any ``extra`` columns); ids 000, 001..."""
    import numpy as np
    import pandas as pd

    ids = ids or [f"{i:03d}" for i in range(len(monetary))]
    df = pd.DataFrame({"customer_id": ids, "monetary": np.asarray(monetary, dtype=float)})
    for k, v in extra.items():
        df[k] = v
    return df


def fake_previous_report(folder: Path, pdf: bytes = b"previous good report") -> Path:
    """A report folder as tiering leaves it (a ``report.pdf`` listed with its SHA-256 in a
    ``manifest.json`` of tiering's), without building one. Returns the folder."""
    import hashlib
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.pdf").write_bytes(pdf)
    manifest = {
        "generator": "tiering",
        "manifest_version": 2,
        "tiering_version": "0.1.0",
        "outputs": {"report.pdf": {"sha256": hashlib.sha256(pdf).hexdigest(), "bytes": len(pdf)}},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def install_plugin(
    tmp_path: Path, monkeypatch, *, module: str, source: str, group: str, entry: str
) -> Path:
    """Install a plugin for this test, in this process and its children (the report
    notebook's kernel): the module ``module`` with ``source`` in a site folder on
    ``sys.path`` and ``PYTHONPATH``, and a distribution whose entry point ``entry``
    (``name = module:OBJECT``) is in ``group``. Undone after the test."""
    import os
    import sys
    import textwrap

    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delitem(sys.modules, module, raising=False)
    return site
