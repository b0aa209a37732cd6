"""tiering.batch: many reports in parallel, a summary of failures and an index page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tiering import batch, cli
from tiering.build import report

from .test_report import write_tiny_client


def _params(path: Path, client: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"client: {json.dumps(client, ensure_ascii=False)}\n"
        "data: {path: tx.csv}\noutput: {dir: /etc}\n",
        encoding="utf-8",
    )
    return path


def test_each_client_gets_its_own_folder_inside_the_root(tmp_path):
    files = [
        _params(tmp_path / "a" / "north.yaml", "Northwind Trading"),
        _params(tmp_path / "b" / "north.yaml", "Northwind  Trading!"),  # same slug, same stem
        _params(tmp_path / "c" / "second.yaml", "northwind trading"),
        _params(tmp_path / "d.yaml", "../../etc/passwd"),
        _params(tmp_path / "e.yaml", "北风贸易"),
    ]
    root = tmp_path / "out"
    jobs = batch.plan(files, root=root)
    names = [job.folder.name for job in jobs]
    assert names == [
        "northwind-trading",
        "northwind-trading-north",
        "northwind-trading-second",
        "etc-passwd",
        "北风贸易",
    ]
    assert all(job.folder.parent == root.resolve() for job in jobs)  # output.dir: /etc is ignored
    assert [job.client for job in jobs][:2] == ["Northwind Trading", "Northwind  Trading!"]
    assert all(job.problem is None for job in jobs)


def test_same_file_twice_and_unreadable_files(tmp_path):
    good = _params(tmp_path / "good.yaml", "Good Co")
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        "client: Broken\ndata: {path: tx.csv}\ntiering: {methd: abc}\n", encoding="utf-8"
    )
    jobs = batch.plan([good, good, bad], root=tmp_path / "out")
    assert [j.folder.name for j in jobs] == ["good-co", "good-co-good", "broken"]
    assert jobs[2].client == "broken" and "did you mean 'tiering.method'?" in jobs[2].problem
    with pytest.raises(Exception, match="No parameter files"):
        batch.plan([], root=tmp_path)


def test_a_batch_of_broken_files_fails_cleanly_without_running(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("client: Broken <Co>\ndata: {path: tx.csv}\nlanguage: fr\n", encoding="utf-8")
    code = cli.main(
        [
            "batch",
            str(bad),
            str(tmp_path / "absent.yaml"),
            "--output",
            str(tmp_path / "out"),
            "--jobs",
            "2",
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "2 reports: 0 built, 2 failed" in captured.out
    assert "FAILED  broken  (" in captured.out and "ParamsError" in captured.out
    assert "language: unknown report language 'fr'; choose one of en, zh" in captured.out
    assert "file not found" in captured.out
    assert "[2/2] FAILED" in captured.err  # progress lines when stderr is not a terminal
    saved = json.loads((tmp_path / "out" / "batch.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in saved["reports"]] == ["failed", "failed"]
    assert (tmp_path / "out" / "index.html").is_file()


def _results(root: Path, rows: list[dict]) -> pd.DataFrame:
    base = {c: "" for c in batch.RESULT_COLUMNS}
    base.update(seconds=1.0, customers=None)
    return pd.DataFrame([{**base, **r} for r in rows], columns=list(batch.RESULT_COLUMNS))


def test_index_escapes_everything_and_links_relatively(tmp_path):
    root = tmp_path / "out"
    ok = root / "北风 #1"
    ok.mkdir(parents=True)
    for name in ("report.pdf", "report.html", "manifest.json"):
        (ok / name).write_text("x", encoding="utf-8")
    evil = '<script>alert("x")</script>'
    results = _results(
        root,
        [
            {
                "params_file": "/p/a.yaml",
                "client": "北风 <b>",
                "folder": str(ok),
                "status": "ok",
                "customers": 1234,
                "as_of": "2024-12-31",
                "language": "zh",
            },
            {
                "params_file": "/p/evil.yaml",
                "client": evil,
                "folder": str(root / "evil"),
                "status": "failed",
                "error": "NotebookCellError",
                "message": f"boom {evil}",
                "cell": f"In [7]: display({evil})",
                "failed_notebook": str(root / "evil.failed" / "report.ipynb"),
            },
        ],
    )
    page = batch.write_index(results, root / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert '<a href="%E5%8C%97%E9%A3%8E%20%231/report.pdf">PDF</a>' in page
    assert '<a href="%E5%8C%97%E9%A3%8E%20%231/report.html">北风 &lt;b&gt;</a>' in page
    assert 'href="evil.failed/report.ipynb"' in page
    assert "In [7]: display(&lt;script&gt;" in page and "1,234" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # opens offline
    assert "2 reports: 1 built, 1 failed" in page and '<meta name="viewport"' in page


def test_index_in_chinese(tmp_path):
    results = _results(
        tmp_path,
        [
            {
                "params_file": "a.yaml",
                "client": "A",
                "folder": str(tmp_path / "a"),
                "status": "failed",
                "error": "DataError",
                "message": "m",
            }
        ],
    )
    page = batch.write_index(results, tmp_path / "index.html", language="zh").read_text(
        encoding="utf-8"
    )
    assert '<html lang="zh-CN">' in page
    assert (
        "客户分级报告汇总" in page
        and "共 1 份报告：成功 0 份，失败 1 份" in page
        and "失败" in page
    )


def test_summary_names_client_cell_and_error():
    results = _results(
        Path("."),
        [
            {"params_file": "a.yaml", "client": "Alpha", "status": "ok"},
            {
                "params_file": "b.yaml",
                "client": "Beta",
                "status": "failed",
                "error": "NotebookCellError",
                "message": "The report notebook failed\n  where: report.ipynb",
                "cell": "In [9]: plot()",
                "failed_notebook": "out/beta.failed/report.ipynb",
            },
            {
                "params_file": "c.yaml",
                "client": "Gamma",
                "status": "failed",
                "error": "DataError",
                "message": "Column 'x' not found",
            },
        ],
    )
    text = batch.summary_text(results)
    assert text.splitlines()[0] == "3 reports: 1 built, 2 failed"
    assert (
        "FAILED  Beta  (b.yaml)\n  cell:  In [9]: plot()\n  error: NotebookCellError: The report "
        "notebook failed\n           where: report.ipynb\n  notebook kept: out/beta.failed/report.ipynb"
        in text
    )
    assert "FAILED  Gamma  (c.yaml)\n  cell:  - (failed before the notebook ran)" in text
    assert "Alpha" not in text


BROKEN_CELL = 'if client == "Broken Co":\n    raise ValueError("no orders in the chosen window")'


@pytest.mark.slow
def test_batch_of_three_clients_one_broken(tmp_path, capsys):
    files = [
        write_tiny_client(tmp_path / "north", client="Northwind Trading"),
        write_tiny_client(tmp_path / "south", client="南方贸易", seed=11, extra="language: zh\n"),
        write_tiny_client(tmp_path / "broken", client="Broken Co", seed=3),
    ]
    nb = nbformat.read(report.NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "section_summary" in c.source)
    nb.cells.insert(at, nbformat.v4.new_code_cell(BROKEN_CELL))
    notebook = tmp_path / "report.ipynb"
    nbformat.write(nb, notebook)
    root = tmp_path / "reports"
    code = cli.main(
        [
            "batch",
            *map(str, files),
            "--jobs",
            "2",
            "--output",
            str(root),
            "--notebook",
            str(notebook),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1, captured
    assert "3 reports: 2 built, 1 failed" in captured.out
    assert "FAILED  Broken Co" in captured.out
    assert re.search(r"cell:  In \[\d+\]: if client == \"Broken Co\":", captured.out), captured.out
    assert "ValueError: no orders in the chosen window" in captured.out
    for name in ("northwind-trading", "南方贸易"):
        assert {"report.pdf", "report.html", "manifest.json", "tiers.csv"} <= {
            p.name for p in (root / name).iterdir()
        }
    assert not (root / "broken-co").exists()
    assert (root / "broken-co.failed" / "report.ipynb").is_file()
    page = (root / "index.html").read_text(encoding="utf-8")
    assert 'href="northwind-trading/report.pdf"' in page
    assert 'href="%E5%8D%97%E6%96%B9%E8%B4%B8%E6%98%93/report.pdf"' in page
    assert (
        'href="broken-co.failed/report.ipynb"' in page and "no orders in the chosen window" in page
    )
    manifest = json.loads((root / "南方贸易" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["language"] == "zh" and manifest["client"] == "南方贸易"


def test_a_report_that_runs_over_its_time_is_stopped(tmp_path):
    client = write_tiny_client(tmp_path / "in")
    result = batch.run_batch([client], output=tmp_path / "out", timeout=1.5, progress=None)
    row = result.results.iloc[0]
    assert row["status"] == "failed" and row["error"] == "Timeout"
    # on a busy machine the report may need SIGKILL after its grace time: both are a stop
    assert row["message"].startswith("stopped after 1.5 s (--timeout)")
    assert not (tmp_path / "out" / "tiny-co").exists()
    assert not result.ok and len(result.failed) == 1
