"""End to end: parameter file in, report folder out (HTML, PDF, tables, manifest)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tiering import params, report
from tiering.errors import DataError, TieringError

from .conftest import DEMO_DATA, ONLINE_RETAIL, ROOT, need_tool

DEMO_PARAMS = ROOT / "params" / "demo.yaml"
EXPECTED_FILES = {"report.html", "report.pdf", "report.ipynb", "tiers.csv", "tier_summary.csv",
                  "comparisons.csv", "rejected_rows.csv", "manifest.json"}


def pdf_text(path: Path) -> str:
    exe = need_tool("pdftotext")
    return subprocess.run([exe, "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    cfg = params.load(DEMO_PARAMS)
    return report.build(cfg, output=out)


@pytest.mark.slow
def test_demo_report_files_and_accounting(demo_report):
    names = {p.name for p in demo_report.iterdir()}
    assert EXPECTED_FILES <= names
    manifest = json.loads((demo_report / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["rows"]
    assert rows["read"] == rows["used"] + rows["rejected"]
    assert rows["rejected"] == sum(rows["rejected_by_reason"].values())
    rejected = pd.read_csv(demo_report / "rejected_rows.csv", dtype=str)
    assert len(rejected) == rows["rejected"]
    assert set(rejected["reason"]) == set(rows["rejected_by_reason"])
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
    for col in ("metric", "test", "statistic", "p_value", "p_adj", "effect_size_name",
                "effect_size", "ci_low", "ci_high", "n1", "n2"):
        assert col in comparisons.columns
    assert (comparisons["test"] == "kruskal_wallis").sum() == 5


@pytest.mark.slow
def test_demo_pdf_content(demo_report):
    text = pdf_text(demo_report / "report.pdf")
    for heading in ("Customer Tiering Report", "Demo Retail Co.", "Contents", "Executive summary",
                    "Data and data quality", "Method and thresholds", "Tier profiles",
                    "How different are the tiers?", "Strategies per tier", "Appendix",
                    "Retain and grow", "Kruskal–Wallis"):
        assert heading in text, heading
    assert "Page 2 of" in text
    assert "Traceback" not in text and "import " not in text and "display(HTML" not in text
    html = (demo_report / "report.html").read_text(encoding="utf-8")
    assert html.count('<figure class="chart">') >= 4
    assert "<script src" not in html and "cdn." not in html
    for tier in ("A", "B", "C"):
        assert 'tier-badge' in html and f">{tier}</span>" in html


@pytest.mark.slow
def test_chinese_report(tmp_path):
    cfg = params.load(DEMO_PARAMS, overrides=["language=zh"])
    out = report.build(cfg, output=tmp_path / "zh")
    text = pdf_text(out / "report.pdf")
    for heading in ("客户分级分析报告", "执行摘要", "数据与数据质量", "分级管理策略", "附录", "保留并提升"):
        assert heading in text, heading
    fonts = subprocess.run([need_tool("pdffonts"), str(out / "report.pdf")], capture_output=True,
                           text=True, check=True).stdout
    assert "CJK" in fonts, fonts


@pytest.mark.slow
def test_failed_run_keeps_the_previous_report(tmp_path, demo_report):
    out = tmp_path / "client"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"previous good report")
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
    res = subprocess.run([sys.executable, "-m", "tiering.cli", "report", str(p), "--output",
                          str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2
    assert "not a valid parameter name" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "owned.txt").exists()
    assert not (tmp_path / "out").exists()


def test_cli_validate_reports_missing_column(tmp_path):
    csv = tmp_path / "tx.csv"
    csv.write_text("Kunde,Datum,Summe\n1,2024-01-01,5\n", encoding="utf-8")
    p = tmp_path / "p.yaml"
    p.write_text("data: {path: tx.csv, columns: {customer_id: Kunde, order_date: Datum, amount: Sume}}\n",
                 encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "tiering.cli", "validate", str(p)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert "Column 'Sume' (data.columns.amount) not found" in res.stderr
    assert "did you mean 'Summe'?" in res.stderr
    assert "Traceback" not in res.stderr
    ok = tmp_path / "ok.yaml"
    ok.write_text("data: {path: tx.csv, columns: {customer_id: Kunde, order_date: Datum, amount: Summe}}\n",
                  encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "tiering.cli", "validate", str(ok)],
                         capture_output=True, text=True)
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
    assert tiers["monetary"].sum() == pytest.approx(tiers["gross_revenue"].sum() - tiers["returns_value"].sum())
    # the A tier's revenue share matches the 80 % cut-off to within one customer
    positive = tiers["monetary"].clip(lower=0)
    share = positive / positive.sum()
    a = tiers["tier"] == "A"
    assert share[a].sum() >= 0.8
    assert share[a].sum() - share[a].min() < 0.8
    text = pdf_text(out / "report.pdf")
    assert "Online Retail (UCI)" in text and "541,909" in text
