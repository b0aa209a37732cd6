"""Golden demo outputs: the demo report in English and Chinese, compared with the files
in ``tests/golden/`` so that a change to the code cannot change what a client receives
without anyone noticing.

Compared: every CSV table byte for byte, the action-list workbook cell by cell, the PDF's
text (``pdftotext``) and page count, the HTML and the executed notebook with their chart
images left out (PNG bytes follow the matplotlib and FreeType versions; the charts are
checked in ``test_charts.py``), and the list of files. Not compared: ``manifest.json``
(time stamps, versions, timings).

Byte for byte but for one thing: a number of the value model (its columns in the
tables, its headers in the workbook: ``VALUE_COLUMNS`` and ``VALUE_HEADERS`` in
``tests/conftest.py``) may differ from the golden one by ``REL_TOL`` of its value;
everything else is compared exactly. The value model's fit (SciPy's optimiser,
PyMC-Marketing's predictions) runs on OpenBLAS, which picks its kernels by processor: its
spend and lifetime values differ by a few parts in a billion between an Intel and an AMD
machine with the same code and packages (measured: 8.5e-9 with
``OPENBLAS_CORETYPE=Haswell`` against ``SkylakeX``). That is a machine's, not a change's;
anything a change does moves them much further.

When a change is meant to change the report, rewrite the golden files and name the change
in the commit message::

    TIERING_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
    git diff --stat tests/golden/
"""

from __future__ import annotations

import difflib
import gzip
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, need_tool, same_as_golden

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("TIERING_UPDATE_GOLDEN") == "1"
GZIP_ABOVE = 64 * 1024  # larger golden files are stored gzipped (mtime 0: same bytes each time)
_IMAGE = re.compile(r"data:image/(png|jpeg|svg\+xml);base64,[A-Za-z0-9+/=\s]+")


def _pdf_text(path: Path) -> str:
    exe = need_tool("pdftotext")
    text = subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.count("\f")
    return f"pages: {pages}\n{text}"


def _workbook_cells(path: Path) -> str:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    lines = []
    for ws in wb.worksheets:
        lines.append(f"## sheet {ws.title!r}")
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is not None:
                    lines.append(f"{cell.coordinate}\t{cell.value!r}")
    wb.close()
    return "\n".join(lines) + "\n"


def _notebook_text(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    lines = []
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines.append(f"## cell {i} ({cell['cell_type']}, tags {cell['metadata'].get('tags', [])})")
        lines.append(source)
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            for mime in sorted(data):
                if mime.startswith("image/"):
                    lines.append(f"-- output {mime}: <image>")
                else:
                    value = data[mime]
                    value = "".join(value) if isinstance(value, list) else str(value)
                    lines.append(f"-- output {mime}:\n{_IMAGE.sub('data:image/<image>', value)}")
            if "text" in out:
                text = out["text"]
                lines.append("-- stream:\n" + ("".join(text) if isinstance(text, list) else text))
    return "\n".join(lines) + "\n"


def capture(folder: Path, project: Path = ROOT) -> dict[str, bytes]:
    """The comparable form of a report folder: golden file name → bytes. The project's
    folder (in the notebook's injected parameters) reads ``<project>``."""
    out: dict[str, bytes] = {}
    names = sorted(p.name for p in folder.iterdir())
    out["files.txt"] = ("\n".join(names) + "\n").encode()
    for name in names:
        path = folder / name
        if name.endswith(".csv"):
            out[name] = path.read_bytes()
        elif name.endswith(".xlsx"):
            out[name + ".cells.txt"] = _workbook_cells(path).encode()
        elif name == "report.pdf":
            out["report.pdf.txt"] = _pdf_text(path).encode()
        elif name == "report.html":
            text = path.read_text(encoding="utf-8")
            out["report.html.txt"] = _IMAGE.sub("data:image/<image>", text).encode()
        elif name == "report.ipynb":
            out["report.ipynb.txt"] = (
                _notebook_text(path).replace(str(project), "<project>").encode()
            )
    return out


def _stored_name(name: str, data: bytes) -> str:
    return name + ".gz" if len(data) > GZIP_ABOVE else name


def _write(folder: Path, captured: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for p in folder.iterdir():
        p.unlink()
    for name, data in captured.items():
        stored = _stored_name(name, data)
        blob = gzip.compress(data, mtime=0) if stored.endswith(".gz") else data
        (folder / stored).write_bytes(blob)


def _read(folder: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.iterdir()):
        data = p.read_bytes()
        out[p.name[:-3] if p.name.endswith(".gz") else p.name] = (
            gzip.decompress(data) if p.name.endswith(".gz") else data
        )
    return out


def _diff(name: str, expected: bytes, actual: bytes, limit: int = 40) -> str:
    lines = list(
        difflib.unified_diff(
            expected.decode(errors="replace").splitlines(),
            actual.decode(errors="replace").splitlines(),
            f"golden/{name}",
            f"built/{name}",
            lineterm="",
            n=1,
        )
    )
    return "\n".join(lines[:limit]) + ("\n..." if len(lines) > limit else "")


@pytest.fixture(scope="module", params=["en", "zh"])
def built(request, shared_demo):
    """The full demo report (params/demo.yaml, cover date COVER_DATE) in each language,
    as the test run builds it once for the tests that read it."""
    language = request.param
    return language, shared_demo(language)


@pytest.mark.slow
def test_demo_outputs_match_the_golden_files(built):
    language, folder = built
    captured = capture(folder)
    golden = GOLDEN / f"demo-{language}"
    if UPDATE:
        _write(golden, captured)
        pytest.skip(f"golden files rewritten in {golden}")
    assert golden.is_dir(), f"no golden files in {golden}: run with TIERING_UPDATE_GOLDEN=1"
    expected = _read(golden)
    assert sorted(captured) == sorted(expected), "the report's files changed"
    different = [
        name
        for name in sorted(expected)
        if not same_as_golden(expected[name], captured[name], name)
    ]
    assert not different, "\n\n".join(_diff(n, expected[n], captured[n]) for n in different)


def test_capture_sees_a_changed_number_and_ignores_chart_bytes(tmp_path):
    """The comparison is not blind: a changed table cell is a difference, a chart's PNG
    bytes are not."""
    (tmp_path / "tiers.csv").write_text("customer_id,tier\nC1,A\n", encoding="utf-8")
    (tmp_path / "report.html").write_text(
        '<img src="data:image/png;base64,AAAA">', encoding="utf-8"
    )
    first = capture(tmp_path)
    (tmp_path / "report.html").write_text(
        '<img src="data:image/png;base64,BBBB">', encoding="utf-8"
    )
    assert capture(tmp_path) == first
    (tmp_path / "tiers.csv").write_text("customer_id,tier\nC1,B\n", encoding="utf-8")
    assert capture(tmp_path)["tiers.csv"] != first["tiers.csv"]
    _write(tmp_path / "g", {"big.csv": b"x" * (GZIP_ABOVE + 1), "small.csv": b"y"})
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["big.csv.gz", "small.csv"]
    assert _read(tmp_path / "g") == {"big.csv": b"x" * (GZIP_ABOVE + 1), "small.csv": b"y"}


def test_only_a_processor_sized_difference_in_the_value_models_numbers_is_the_same():
    """A number of the value model a few parts in a billion off is the same; one off by
    more, any other number, a number written otherwise, a word or another file type
    are differences."""
    header = b'"customer_id","monetary","clv"\n'
    golden = header + b'"C001",24607369.34,1322.257638\n'
    same = header + b'"C001",24607369.34,1322.257639\n'
    assert same_as_golden(golden, golden, "tiers.csv")
    assert same_as_golden(golden, same, "tiers.csv")
    assert not same_as_golden(golden, same, "report.pdf.txt")  # only tables and cells
    for other in (
        b'"C001",24607369.34,1322.258638\n',  # the value model's, beyond the tolerance
        b'"C001",24607369.35,1322.257638\n',  # another column
        b'"C002",24607369.34,1322.257638\n',
        b'"C001",24607369.34,"1322.257638"\n',  # written as text
        b'"C001",24607369.34,1322.257638,1\n',
    ):
        assert not same_as_golden(golden, header + other, "tiers.csv"), other
    cells = "## sheet 'Rescue'\nA1\t'Customer ID'\nB1\t'CLV'\nA2\t'001807'\nB2\t{}\n"
    golden = cells.format("1322.257638").encode()
    assert same_as_golden(golden, cells.format("1322.257639").encode(), "x.xlsx.cells.txt")
    assert not same_as_golden(golden, cells.format("1322.26").encode(), "x.xlsx.cells.txt")
    assert not same_as_golden(golden, cells.format("1322").encode(), "x.xlsx.cells.txt")
    other = golden.replace(b"B1\t'CLV'", b"B1\t'Net spend'")
    assert not same_as_golden(other, other.replace(b"257638", b"257639"), "x.xlsx.cells.txt")
