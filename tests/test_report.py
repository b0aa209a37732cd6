"""End to end: parameter file in, report folder out (HTML, PDF, tables, manifest)."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from tiering import cli, params
from tiering.build import owned, report
from tiering.errors import DataError, RenderError, TieringError

from .conftest import (
    COVER_DATE,
    DEMO_DATA,
    ONLINE_RETAIL,
    ROOT,
    fake_previous_report,
    need_tool,
)

DEMO_PARAMS = ROOT / "params" / "demo.yaml"
EXPECTED_FILES = {
    "report.html",
    "report.pdf",
    "report.ipynb",
    "tiers.csv",
    "tier_summary.csv",
    "comparisons.csv",
    "rejected_rows.csv",
    "manifest.json",
    "action_lists.xlsx",
    "action_lists.csv",
    "budget.csv",
    "triggers.csv",
    "method_agreement.csv",
    "stability.csv",
    "validation.csv",
    "migration.csv",
    "movers.csv",
}
HYPERLINK = '=HYPERLINK("http://example.com","x")'
SCRIPT = "<script>alert(1)</script>"


def pdf_text(path: Path) -> str:
    exe = need_tool("pdftotext")
    return subprocess.run(
        [exe, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def demo_report(shared_demo):
    """The demo report in English, built once for the test run (read it, do not change it)."""
    return shared_demo("en")


def write_tiny_client(
    folder: Path, *, client: str = "Tiny Co", customers: int = 40, seed: int = 7, extra: str = ""
) -> Path:
    """A small client (``customers`` customers, a few orders each, one attribute) and its
    parameter file in ``folder``; returns the parameter file. Reports on it build in
    seconds rather than the demo's minute."""
    rng = np.random.default_rng(seed)
    lines = ["order_id,order_date,customer_id,region,amount"]
    n = 0
    for c in range(customers):
        spend = float(rng.lognormal(5, 1))
        for _ in range(int(rng.integers(1, 8))):
            n += 1
            day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
            lines.append(
                f"O{n:05d},{day.isoformat()},C{c:03d},{'NSEW'[c % 4]},"
                f"{spend * rng.uniform(0.5, 1.5):.2f}"
            )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tx.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "client.yaml"
    path.write_text(
        f"client: {json.dumps(client, ensure_ascii=False)}\n"
        "data: {path: tx.csv, attributes: [region]}\n"
        "stats: {n_boot: 200}\n" + extra,
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_demo_report_files_and_accounting(demo_report):
    names = {p.name for p in demo_report.iterdir()}
    assert EXPECTED_FILES <= names
    manifest = json.loads((demo_report / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["rows"]
    assert rows["read"] == rows["used"] + rows["rejected"]
    assert rows["rejected"] == sum(rows["rejected_by_reason"].values())
    rejected = pd.read_csv(demo_report / "rejected_rows.csv", dtype=str)
    # the transactions' rejected rows, then the customer master's and the campaign file's
    # (the demo names both; each input's own count is in the manifest's inputs)
    inputs = {entry["role"]: entry for entry in manifest["inputs"]}
    second = inputs["customer_master"]["rows_rejected"] + inputs["campaigns"]["rows_rejected"]
    assert second == 2  # the master's duplicate id, planted by data/generate_demo.py
    assert len(rejected) == rows["rejected"] + second
    transactions = rejected.iloc[: rows["rejected"]]
    assert set(transactions["reason"]) == set(rows["rejected_by_reason"])
    assert set(rejected.iloc[rows["rejected"] :]["reason"]) == {"duplicate_customer_id"}
    raw_rows = sum(1 for _ in DEMO_DATA.open(encoding="utf-8")) - 1
    assert rows["read"] == raw_rows
    assert manifest["input"]["sha256"] == report.sha256_file(DEMO_DATA)
    for name, entry in manifest["outputs"].items():
        assert entry["sha256"] == report.sha256_file(demo_report / name)
    tiers = pd.read_csv(demo_report / "tiers.csv", dtype={"customer_id": str})
    assert tiers["customer_id"].str.match(r"^0\d{5}$").all()  # leading zeros kept
    assert tiers["customer_id"].is_unique
    assert set(tiers["tier"]) == {"A", "B", "C"}
    assert manifest["tiers"] == tiers["tier"].value_counts().sort_index().to_dict()
    comparisons = pd.read_csv(demo_report / "comparisons.csv")
    for col in (
        "metric",
        "test",
        "statistic",
        "p_value",
        "p_adj",
        "effect_size_name",
        "effect_size",
        "ci_low",
        "ci_high",
        "n1",
        "n2",
    ):
        assert col in comparisons.columns
    # the five behaviour metrics and the demo master's five numbers (credit score, days
    # overdue, satisfaction, referrals, months since sign-up)
    assert (comparisons["test"] == "kruskal_wallis").sum() == 10
    assert {"credit_score", "tenure_months"} <= set(comparisons["metric"])


@pytest.mark.slow
def test_demo_pdf_content(demo_report):
    text = pdf_text(demo_report / "report.pdf")
    for heading in (
        "Customer Tiering Report",
        "Demo Retail Co.",
        "Contents",
        "Executive summary",
        "Data and data quality",
        "Method and thresholds",
        "Tier profiles",
        "How different are the tiers?",
        "Strategies per tier",
        "Appendix",
        "Retain and grow",
        "Kruskal–Wallis",
    ):
        assert heading in text, heading
    assert "Page 2 of" in text
    assert "Traceback" not in text and "import " not in text and "display(HTML" not in text
    html = (demo_report / "report.html").read_text(encoding="utf-8")
    assert html.count('<figure class="chart">') >= 4
    assert "<script src" not in html and "cdn." not in html
    for tier in ("A", "B", "C"):
        assert "tier-badge" in html and f">{tier}</span>" in html


@pytest.mark.slow
def test_demo_report_has_every_analysis(demo_report):
    text = pdf_text(demo_report / "report.pdf")
    for heading in (
        "Would another method give the same tiers?",
        "How stable are the tiers?",
        "Do the tiers predict what customers do next?",
        "Tier migration over time",
        "Transition matrix",
        "Where to put the budget",
        "Files in the report folder",
    ):
        assert heading in text, heading
    agreement = pd.read_csv(demo_report / "method_agreement.csv")
    assert agreement["other_method"].tolist() == ["rfm"]
    assert -1 <= agreement["adjusted_rand"].iloc[0] <= 1
    validation = pd.read_csv(demo_report / "validation.csv")
    assert set(validation["grouping"]) == {"tiering", "random"}
    top = validation[(validation["grouping"] == "tiering") & (validation["tier"] == "A")].iloc[0]
    assert top["lift"] > 1.5  # the A tier earns well over its share of next quarter's revenue
    migration = pd.read_csv(demo_report / "migration.csv")
    assert {"from_state", "to_state", "customers"} <= set(migration.columns)
    budget = pd.read_csv(demo_report / "budget.csv")
    assert budget["amount"].sum() == pytest.approx(100_000, abs=1)
    assert budget["share"].sum() == pytest.approx(1)


@pytest.mark.slow
def test_demo_action_workbook_has_a_sheet_per_tier_and_formulas_as_text(demo_report):
    from openpyxl import load_workbook

    wb = load_workbook(demo_report / "action_lists.xlsx")
    assert wb.sheetnames[0] == "Summary"
    assert wb.sheetnames[1:4] == ["A", "B", "C"]
    from tiering.present.i18n import t

    assert wb.sheetnames[4:] == [
        t("migration.sheet_left_top", "en", top="A"),
        t("migration.sheet_rose", "en"),
        t("value.sheet_rescue", "en"),
        t("value.sheet_develop", "en"),
    ]
    cells = [
        c
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and "HYPERLINK" in c.value
    ]
    assert cells, "the hostile demo customer is missing from the workbook"
    for c in cells:
        assert c.data_type == "s" and not c.value.startswith("=")
        assert c.value == "'" + HYPERLINK
    tiers = pd.read_csv(demo_report / "tiers.csv", dtype=str, keep_default_na=False)
    assert "'" + HYPERLINK in set(tiers["customer_name"])
    assert not tiers["customer_name"].str.match(r"^[=+@]").any()


@pytest.mark.slow
def test_markup_in_customer_names_is_never_a_tag(demo_report):
    html = (demo_report / "report.html").read_text(encoding="utf-8")
    assert SCRIPT not in html and "<script" not in html.lower()
    tiers = pd.read_csv(demo_report / "tiers.csv", dtype=str, keep_default_na=False)
    assert SCRIPT in set(tiers["customer_name"])  # the data keeps the name as it was


@pytest.mark.slow
def test_chinese_report(shared_demo):
    out = shared_demo("zh")
    text = pdf_text(out / "report.pdf")
    for heading in (
        "客户分级分析报告",
        "执行摘要",
        "数据与数据质量",
        "分级管理策略",
        "附录",
        "保留并提升",
    ):
        assert heading in text, heading
    fonts = subprocess.run(
        [need_tool("pdffonts"), str(out / "report.pdf")], capture_output=True, text=True, check=True
    ).stdout
    assert "CJK" in fonts, fonts


@pytest.mark.slow
def test_failed_run_keeps_the_previous_report(tmp_path, demo_report):
    out = fake_previous_report(tmp_path / "client")
    bad = params.validate({"data": {"path": str(tmp_path / "missing.csv")}})
    with pytest.raises(DataError, match="not found"):
        report.build(bad, output=out)
    assert (out / "report.pdf").read_bytes() == b"previous good report"
    assert (tmp_path / "client.failed").is_dir()


def test_only_declared_notebook_parameters_are_passed(monkeypatch, tmp_path):
    cfg = params.validate({"data": {"path": str(DEMO_DATA)}})
    values = report.notebook_parameters(cfg, tmp_path / "a.pkl")
    assert set(values) == set(params.TOP_LEVEL_KEYS) | {"analysis_path"}
    evil = "x = 1\nimport os; os.system('touch owned.txt')#"
    monkeypatch.setattr(type(cfg), "to_notebook", lambda self: {evil: 1})
    with pytest.raises(TieringError, match="not declared in the notebook"):
        report.notebook_parameters(cfg, tmp_path / "a.pkl")


def test_cli_refuses_injection_key_without_running(tmp_path):
    key = "x = 1\\nimport os; os.system('touch owned.txt')#"
    p = tmp_path / "evil.yaml"
    p.write_text(f'data: {{path: {DEMO_DATA}}}\n"{key}": 1\n', encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "tiering.cli", "report", str(p), "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert res.returncode == 2
    assert "not a valid parameter name" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "owned.txt").exists()
    assert not (tmp_path / "out").exists()


def test_cli_validate_reports_missing_column(tmp_path):
    csv = tmp_path / "tx.csv"
    csv.write_text("Kunde,Datum,Summe\n1,2024-01-01,5\n", encoding="utf-8")
    p = tmp_path / "p.yaml"
    p.write_text(
        "data: {path: tx.csv, columns: {customer_id: Kunde, order_date: Datum, amount: Sume}}\n",
        encoding="utf-8",
    )
    res = subprocess.run(
        [sys.executable, "-m", "tiering.cli", "validate", str(p)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2
    assert "Column 'Sume' (data.columns.amount) not found" in res.stderr
    assert "did you mean 'Summe'?" in res.stderr
    assert "Traceback" not in res.stderr
    ok = tmp_path / "ok.yaml"
    ok.write_text(
        "data: {path: tx.csv, columns: {customer_id: Kunde, order_date: Datum, amount: Summe}}\n",
        encoding="utf-8",
    )
    res = subprocess.run(
        [sys.executable, "-m", "tiering.cli", "validate", str(ok)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "customer_id    <- Kunde" in res.stdout


@pytest.mark.slow
@pytest.mark.realdata
def test_online_retail_report(tmp_path):
    if not ONLINE_RETAIL.exists():
        pytest.skip("../shared/datasets/online_retail.csv.gz is not available")
    cfg = params.load(ROOT / "params" / "examples" / "online_retail.yaml")
    out = report.build(cfg, output=tmp_path / "or")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["rows"]
    assert rows["read"] == 541_909
    assert rows["used"] + rows["rejected"] == 541_909
    assert rows["rejected_by_reason"]["missing_customer_id"] == 135_080
    tiers = pd.read_csv(out / "tiers.csv", dtype={"customer_id": str})
    assert not tiers["customer_id"].str.endswith(".0").any()
    # cancellations are netted: the returns are in the customers' figures
    assert tiers["returns_value"].sum() > 0
    assert tiers["monetary"].sum() == pytest.approx(
        tiers["gross_revenue"].sum() - tiers["returns_value"].sum()
    )
    # the A tier's revenue share matches the 80 % cut-off to within one customer
    positive = tiers["monetary"].clip(lower=0)
    share = positive / positive.sum()
    a = tiers["tier"] == "A"
    assert share[a].sum() >= 0.8
    assert share[a].sum() - share[a].min() < 0.8
    text = pdf_text(out / "report.pdf")
    assert "Online Retail (UCI)" in text and "541,909" in text
    # quarterly migration: matrix, flow chart, churn by tier, and its tables
    for heading in (
        "Tier migration over time",
        "Transition matrix",
        "Churn, downgrades and upgrades by tier",
    ):
        assert heading in text, heading
    migration = pd.read_csv(out / "migration.csv", parse_dates=["period_start", "period_end"])
    assert migration["period_end"].nunique() >= 2
    gaps = migration["period_end"].drop_duplicates().sort_values().diff().dropna()
    assert gaps.dt.days.between(89, 92).all()  # quarters
    rates = pd.read_csv(out / "migration_rates.csv")
    assert {"tier", "churn_rate", "upgrade_rate", "downgrade_rate"} <= set(rates.columns)
    # the forward-looking holdout check, with its numbers
    assert "Do the tiers predict what customers do next?" in text
    validation = pd.read_csv(out / "validation.csv")
    top = validation[(validation["grouping"] == "tiering") & (validation["tier_rank"] == 1)].iloc[0]
    assert top["lift"] > 1 and top["lift_ci_low"] > 1
    assert f"{top['revenue_share'] * 100:.0f}%" in text


# ---- provenance and reproducibility ---------------------------------------------------


@pytest.mark.slow
def test_manifest_records_inputs_parameters_versions_and_timings(demo_report):
    manifest = json.loads((demo_report / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["manifest_version"] == report.MANIFEST_VERSION
    inputs = {entry["role"]: entry for entry in manifest["inputs"]}
    assert set(inputs) == {"data", "customer_master", "campaigns", "parameters", "notebook"}
    assert inputs["customer_master"]["path"] == str(ROOT / "data" / "demo_customers.csv")
    assert inputs["campaigns"]["rows_read"] == inputs["campaigns"]["rows_used"] == 2903
    for entry in inputs.values():
        assert entry["sha256"] == report.sha256_file(entry["path"])
    assert inputs["parameters"]["path"] == str(DEMO_PARAMS)
    assert inputs["data"]["rows_read"] == manifest["rows"]["read"]
    assert manifest["parameters"]["data"]["path"] == str(DEMO_DATA)  # resolved, absolute
    assert manifest["parameters"]["tiering"]["abc"]["cutoffs"] == [0.8, 0.95]
    assert manifest["parameters"]["stats"]["n_boot"] == params.StatsSpec().n_boot  # defaults too
    for step in (
        "load",
        "features",
        "tiering",
        "statistics",
        "tables",
        "notebook",
        "html",
        "pdf",
        "total",
    ):
        assert manifest["timings_seconds"][step] >= 0, step
    for package in ("pandas", "papermill", "weasyprint", "duckdb"):
        assert manifest["versions"][package], package
    commit = manifest["git_commit"]
    assert commit is None or len(commit.removesuffix("-dirty")) == 40
    assert set(manifest["outputs"]) == {p.name for p in demo_report.iterdir()} - {"manifest.json"}


@pytest.mark.slow
def test_two_runs_give_identical_tables_report_text_and_files(demo_report, tmp_path):
    again = report.build(
        params.load(DEMO_PARAMS),
        output=tmp_path / "again",
        params_path=DEMO_PARAMS,
        generated=COVER_DATE,
    )
    names = {p.name for p in demo_report.iterdir()}
    assert names == {p.name for p in again.iterdir()}
    for name in sorted(names - {"manifest.json"}):  # CSV tables, HTML, PDF and notebook
        assert (demo_report / name).read_bytes() == (again / name).read_bytes(), name
    assert pdf_text(demo_report / "report.pdf") == pdf_text(again / "report.pdf")


@pytest.mark.slow
def test_verify_passes_then_fails_after_a_table_is_edited(demo_report, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(demo_report, folder)
    assert cli.main(["verify", str(folder)]) == 0
    assert "OK: the folder matches its manifest" in capsys.readouterr().out
    with (folder / "tiers.csv").open("a", encoding="utf-8") as fh:
        fh.write("999999,X\n")
    assert cli.main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "MODIFIED   tiers.csv" in out
    matched, listed = map(int, re.search(r"outputs\s+(\d+) of (\d+) match", out).groups())
    assert matched == listed - 1


@pytest.mark.slow
def test_executive_summary_is_one_page_with_three_to_five_findings(demo_report):
    pages = pdf_text(demo_report / "report.pdf").split("\f")
    first = next(i for i, page in enumerate(pages) if i > 1 and "Executive summary" in page)
    assert "Key findings" in pages[first]
    assert "Data and data quality" in pages[first + 1]  # the next section starts on the next page
    html = (demo_report / "report.html").read_text(encoding="utf-8")
    summary = html[html.index('id="sec-summary"') : html.index('id="sec-data"')]
    findings = summary[summary.index('<ul class="findings">') : summary.index("</ul>")]
    assert 3 <= findings.count("<li>") <= 5


def test_normalise_notebook_drops_time_stamps_and_the_temporary_analysis_path():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {
        "start_time": "2025-01-01T10:00:00",
        "end_time": "x",
        "duration": 3.2,
        "input_path": "/a.ipynb",
        "output_path": "/tmp/.x.tmp-1/report.ipynb",
        "parameters": {"analysis_path": "/tmp/.x.tmp-1/.analysis.pkl", "client": "A"},
    }
    injected = nbformat.v4.new_code_cell(
        'client = "A"\nanalysis_path = "/tmp/.x.tmp-1/.analysis.pkl"\n'
    )
    injected.metadata = {
        "tags": ["injected-parameters"],
        "execution": {"iopub.status.busy": "t"},
        "papermill": {"start_time": "t", "duration": 1.0, "status": "completed"},
    }
    injected["id"] = "a1b2c3d4"
    nb.cells = [injected]
    report.normalise_notebook(nb)
    assert nb.metadata["papermill"] == {"parameters": {"analysis_path": "", "client": "A"}}
    cell = nb.cells[0]
    assert cell["id"] == "injected-parameters"
    assert cell.metadata == {"tags": ["injected-parameters"], "papermill": {"status": "completed"}}
    assert cell.source.startswith('client = "A"\nanalysis_path = ""  #')
    assert "/tmp/" not in cell.source


# ---- safe outputs ---------------------------------------------------------------------


def _missing_data_params(tmp_path: Path):
    return params.validate({"data": {"path": str(tmp_path / "missing.csv")}})


def test_a_folder_that_is_not_a_report_is_never_replaced(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("my notes", encoding="utf-8")
    cfg = params.validate({"data": {"path": str(DEMO_DATA)}})
    with pytest.raises(
        TieringError, match="is not a report folder of tiering .*it holds notes.txt"
    ):
        report.build(cfg, output=project)
    assert (project / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # not even a lock file


def test_next_run_cleans_leftovers_and_restores_an_interrupted_swap(tmp_path):
    out = tmp_path / "client"
    left_tmp = tmp_path / ".client.tmp-dead1234"
    left_tmp.mkdir()
    (left_tmp / "tiers.csv").write_text("half written", encoding="utf-8")
    (left_tmp / owned.WORK_MARKER).write_text("", encoding="utf-8")
    # a folder with such a name that tiering did not make (no marker) is never removed
    lookalike = tmp_path / ".client.tmp-mine"
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("mine", encoding="utf-8")
    aside = fake_previous_report(tmp_path / ".client.old-99999")  # killed between the two renames
    with pytest.raises(DataError, match="not found"):
        report.build(_missing_data_params(tmp_path), output=out)
    assert (out / "report.pdf").read_bytes() == b"previous good report"
    assert not left_tmp.exists() and not aside.exists()
    assert (lookalike / "notes.txt").read_text(encoding="utf-8") == "mine"
    failure = json.loads((tmp_path / "client.failed" / "failure.json").read_text(encoding="utf-8"))
    assert failure["error"] == "DataError" and "not found" in failure["message"]
    assert failure["cell"] is None and failure["report"] == str(out)


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "client"
    fd = os.open(tmp_path / ".client.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(TieringError, match="Another run is writing the report"):
            report.build(_missing_data_params(tmp_path), output=out)
    finally:
        os.close(fd)
    with pytest.raises(DataError):  # the lock is free again
        report.build(_missing_data_params(tmp_path), output=out)


def test_a_missing_logo_fails_before_the_analysis(tmp_path):
    cfg = params.validate(
        {
            "data": {"path": str(tmp_path / "missing.csv")},
            "output": {"logo": str(tmp_path / "logo.png")},
        }
    )
    with pytest.raises(RenderError, match="Logo file not found"):  # not the data error
        report.build(cfg, output=tmp_path / "client")


@pytest.mark.slow
def test_killed_run_leaves_the_previous_report_intact(tmp_path):
    client = write_tiny_client(tmp_path / "in")
    out = fake_previous_report(tmp_path / "client")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tiering.cli", "report", str(client), "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        # the saved analysis exists while the notebook executes
        while not list(tmp_path.glob(".client.tmp-*/.analysis.pkl")):
            assert proc.poll() is None, "the run ended before its notebook started"
            assert time.monotonic() < deadline, "the notebook did not start in time"
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (out / "report.pdf").read_bytes() == b"previous good report"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "report.pdf"]
    assert list(tmp_path.glob(".client.tmp-*"))  # left behind by the killed run ...
    with pytest.raises(DataError):
        report.build(_missing_data_params(tmp_path), output=out)
    assert not list(tmp_path.glob(".client.tmp-*"))  # ... and removed by the next one
    assert (out / "report.pdf").read_bytes() == b"previous good report"


FAILING_CELL = 'raise ValueError("the chart data is empty")  # a broken section'


def failing_notebook(folder: Path) -> Path:
    """The report notebook with a cell that fails after the executive summary."""
    nb = nbformat.read(report.NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "section_summary" in c.source) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(FAILING_CELL))
    path = folder / "failing.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_failed_notebook_is_kept_with_the_error_cell_marked(tmp_path):
    client = write_tiny_client(tmp_path / "in")
    out = fake_previous_report(tmp_path / "client")
    with pytest.raises(report.NotebookCellError) as info:
        report.build(params.load(client), output=out, notebook=failing_notebook(tmp_path))
    cell = info.value.cell
    assert cell["ename"] == "ValueError" and cell["evalue"] == "the chart data is empty"
    assert cell["source"] == FAILING_CELL and cell["execution_count"] >= 1
    assert f"In [{cell['execution_count']}]" in str(info.value)
    assert (out / "report.pdf").read_bytes() == b"previous good report"
    failed = tmp_path / "client.failed"
    nb = nbformat.read(failed / "report.ipynb", as_version=4)
    marked = [c for c in nb.cells if report.FAILED_CELL_TAG in c.metadata.get("tags", [])]
    assert len(marked) == 1 and marked[0].source == FAILING_CELL
    assert nb.cells.index(marked[0]) == cell["index"]
    assert "An Exception was encountered" in nb.cells[0].source  # papermill's banner on top
    assert any(o.output_type == "error" for o in marked[0].outputs)
    assert nb.metadata["tiering"]["failure"] == cell
    failure = json.loads((failed / "failure.json").read_text(encoding="utf-8"))
    assert failure["error"] == "NotebookCellError" and failure["cell"] == cell
    assert sorted(p.name for p in failed.iterdir() if p.suffix == ".csv")  # the tables are kept too


def test_output_dir_from_a_parameter_file_stays_below_the_working_folder(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for escape in ("../../escaped", str(tmp_path / "absolute")):
        cfg = params.validate({"data": {"path": str(DEMO_DATA)}, "output": {"dir": escape}})
        with pytest.raises(TieringError, match="is outside the working folder"):
            report.build(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    inside = params.validate(
        {"data": {"path": str(tmp_path / "missing.csv")}, "output": {"dir": "reports/x"}}
    )
    with pytest.raises(DataError):  # allowed: fails later, on the data
        report.build(inside)
    assert (work / "reports" / "x.failed" / "failure.json").is_file()
