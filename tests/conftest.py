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


#: How far (relative) a number of the value model may be from the golden one: 12x what
#: the processor does to it (see ``tests/test_golden.py``), and far below what any page
#: or table shows.
REL_TOL = 1e-7
#: The value model's numbers: the columns of the CSV tables and the workbook's headers
#: (English, Chinese) that hold them. Nothing else is compared but byte for byte.
VALUE_COLUMNS = frozenset({"p_alive", "expected_purchases", "expected_spend", "clv"})
VALUE_HEADERS = frozenset(
    {"P(alive)", "Expected purchases", "CLV", "存活概率", "预计购买次数", "客户生命周期价值"}
)


def same_as_golden(expected: bytes, actual: bytes, name: str = "") -> bool:
    """The same bytes; or, for a CSV table (``name`` ends in ``.csv``) or the workbook's
    cells (``.cells.txt``), the same but for the value model's numbers
    (:data:`VALUE_COLUMNS`, :data:`VALUE_HEADERS`), each within :data:`REL_TOL` of the
    golden one."""
    if expected == actual:
        return True
    if name.endswith(".csv"):
        return _same_csv(expected, actual)
    if name.endswith(".cells.txt"):
        return _same_cells(expected, actual)
    return False


def _close(e: str, a: str) -> bool:
    """Two texts of decimal numbers within REL_TOL of each other."""
    try:
        x, y = float(e), float(a)
    except ValueError:
        return False
    return "." in e and "." in a and math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-12)


#: A CSV line's fields as written (quotes kept): ``"text"`` or bare.
_FIELD = re.compile(r'(?:^|,)("(?:[^"]|"")*"|[^,"]*)')


def _same_csv(expected: bytes, actual: bytes) -> bool:
    lines_e, lines_a = expected.split(b"\n"), actual.split(b"\n")
    if len(lines_e) != len(lines_a) or lines_e[0] != lines_a[0]:
        return False
    header = [f.strip('"') for f in _FIELD.findall(lines_e[0].decode("utf-8-sig"))]
    loose = {i for i, column in enumerate(header) if column in VALUE_COLUMNS}
    for line_e, line_a in zip(lines_e[1:], lines_a[1:], strict=True):
        if line_e == line_a:
            continue
        fields_e = _FIELD.findall(line_e.decode())
        fields_a = _FIELD.findall(line_a.decode())
        if len(fields_e) != len(header) or len(fields_a) != len(header):
            return False  # not one record per line: compared byte for byte only
        for i, (e, a) in enumerate(zip(fields_e, fields_a, strict=True)):
            if e != a and not (i in loose and _close(e, a)):
                return False
    return True


def _same_cells(expected: bytes, actual: bytes) -> bool:
    lines_e, lines_a = expected.decode().splitlines(), actual.decode().splitlines()
    if len(lines_e) != len(lines_a):
        return False
    headers: dict[str, str] = {}  # column letters -> the header of this sheet's row 1
    for e, a in zip(lines_e, lines_a, strict=True):
        if e == a:
            if e.startswith("## sheet "):
                headers = {}
            cell, _, value = e.partition("\t")
            column = cell.rstrip("0123456789")
            if cell == f"{column}1":
                headers[column] = value.strip("'")
            continue
        cell_e, _, value_e = e.partition("\t")
        cell_a, _, value_a = a.partition("\t")
        column = cell_e.rstrip("0123456789")
        if cell_e != cell_a or headers.get(column) not in VALUE_HEADERS:
            return False
        if not _close(value_e, value_a):
            return False
    return True


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
