"""The command line: ``tiering init`` (scaffold a parameter file) and argument handling."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiering import cli, params, scaffold

from .conftest import DEMO_DATA, ROOT


def retail_csv(path: Path, *, customers: int = 30, seed: int = 1) -> Path:
    """Online-Retail-like lines: invoices, C-prefixed cancellations with negative
    quantities, a country per customer and a stock code per line."""
    rng = np.random.default_rng(seed)
    rows = []
    invoice = 536000
    for c in range(customers):
        country = ("United Kingdom", "France", "Germany")[c % 3]
        for _ in range(int(rng.integers(2, 6))):
            invoice += 1
            day = dt.datetime(2011, 1, 1) + dt.timedelta(hours=int(rng.integers(0, 8000)))
            qty = int(rng.integers(1, 12))
            cancel = rng.random() < 0.1
            rows.append(
                (
                    f"C{invoice}" if cancel else str(invoice),
                    f"S{rng.integers(100, 999)}",
                    "ITEM",
                    -qty if cancel else qty,
                    day.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{rng.uniform(1, 9):.2f}",
                    f"{12000 + c}.0",
                    country,
                )
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    frame.to_csv(path, index=False)
    return path


def fill_in_currency(target: Path, currency: str = "£") -> None:
    """Do what the user of ``tiering init`` must do when the amounts show no currency:
    replace the placeholder."""
    text = target.read_text(encoding="utf-8")
    assert f'currency: "{params.CURRENCY_PLACEHOLDER}"' in text
    target.write_text(
        text.replace(f'currency: "{params.CURRENCY_PLACEHOLDER}"', f'currency: "{currency}"'),
        encoding="utf-8",
    )


def test_init_writes_a_commented_file_that_validates(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    data = retail_csv(tmp_path / "data" / "retail.csv")
    target = tmp_path / "params" / "retail.yaml"
    target.parent.mkdir()
    assert cli.main(["init", str(data), "--output", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"Wrote {target}" in out and "cancellations: order ids starting with C" in out
    text = target.read_text(encoding="utf-8")
    assert 'path: "../data/retail.csv"' in text  # relative to the parameter file
    for line in (
        'customer_id: "CustomerID"',
        'order_id: "InvoiceNo"',
        'quantity: "Quantity"',
        'unit_price: "UnitPrice"',
        'attributes: ["Country"]',
        'order_id_prefixes: ["C"]',
        "# detected: CSV, encoding utf-8, delimiter ','",
    ):
        assert line in text, line
    assert "amount:" not in text.split("columns:")[1].split("attributes")[0]
    assert "StockCode" in text.split("# other columns:")[1].splitlines()[0]  # varies per customer
    assert text.count("\n#") >= 5  # commented
    fill_in_currency(target)  # the prices show none
    cfg = params.load(target)
    assert cfg.data.path == data.resolve() and cfg.data.cancellations.order_id_prefixes == ["C"]
    assert cli.main(["validate", str(target)]) == 0


def test_init_never_overwrites_without_force(tmp_path, capsys):
    target = tmp_path / "params.yaml"
    target.write_text("# my edits\n", encoding="utf-8")
    assert cli.main(["init", str(DEMO_DATA), "--output", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "# my edits\n"
    assert cli.main(["init", str(DEMO_DATA), "--output", str(target), "--force"]) == 0
    text = target.read_text(encoding="utf-8")
    assert 'attributes: ["region", "customer_type"]' in text  # one value per customer
    assert 'order_id_prefixes: ["R"]' in text  # RSO-... returns among SO-... orders
    assert "# 475 order ids start with 'R', 475 of those rows are negative: cancellations" in text
    assert not list(tmp_path.glob(".params.yaml.tmp-*"))


def test_init_on_a_chinese_gbk_export_with_title_lines(tmp_path):
    lines = ["客户交易明细导出", "导出时间：2025-01-05", "客户编号,订单日期,订单号,金额(元),地区"]
    rng = np.random.default_rng(5)
    for i in range(80):
        amount = rng.uniform(10, 3000)
        lines.append(
            f"K{i % 20:03d},2024-{1 + i % 12:02d}-{1 + i % 28:02d},D{i:04d},"
            f'"￥{amount:,.2f}",{("华东", "华南", "华北")[(i % 20) % 3]}'
        )
    data = tmp_path / "导出.csv"
    data.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    target, ins = scaffold.init(data, output=tmp_path / "p.yaml")
    assert ins.encoding == "gb18030" and ins.header_row == 3 and ins.rows == 80
    assert ins.mapping["amount"] == "金额(元)" and ins.attributes == ("地区",)
    text = target.read_text(encoding="utf-8")
    assert "language: zh" in text and 'currency: "¥"' in text and 'encoding: "gb18030"' in text
    assert "the 2 line(s) above the header are skipped automatically" in text
    assert cli.main(["validate", str(target)]) == 0


def test_init_finds_the_transactions_sheet_of_a_workbook(tmp_path):
    path = tmp_path / "book.xlsx"
    tx = pd.DataFrame(
        {
            "Customer ID": [f"A{i % 7}" for i in range(40)],
            "Order Date": pd.date_range("2024-01-01", periods=40, freq="5D"),
            "Sales": np.arange(40) * 10.0 + 5,
        }
    )
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"About": ["Exported from the shop system"]}).to_excel(
            writer, sheet_name="说明", index=False
        )
        tx.to_excel(writer, sheet_name="Orders", index=False)
    target, ins = scaffold.init(path, output=tmp_path / "p.yaml")
    assert ins.sheet == "Orders" and ins.sheets == ("说明", "Orders")
    text = target.read_text(encoding="utf-8")
    assert 'sheet: "Orders"   # other sheets: 说明' in text
    fill_in_currency(target)
    assert params.load(target).data.sheet == "Orders"
    assert cli.main(["validate", str(target)]) == 0


def test_init_with_unrecognised_headers_still_writes_a_loadable_file(tmp_path, capsys):
    data = tmp_path / "tx.csv"
    data.write_text("Kunde,Datum,Summe\n1,2024-01-01,5\n2,2024-01-02,7\n", encoding="utf-8")
    assert cli.main(["init", str(data), "--output", str(tmp_path / "p.yaml")]) == 0
    err = capsys.readouterr().err
    assert "WARNING: not recognised: customer_id, order_date, amount" in err
    assert "'Kunde', 'Datum', 'Summe'" in err
    text = (tmp_path / "p.yaml").read_text(encoding="utf-8")
    assert "# headers in the file: Kunde, Datum, Summe" in text
    assert "Required columns not recognised" in text  # the loader's message, as comments
    fill_in_currency(tmp_path / "p.yaml", "€")
    params.load(tmp_path / "p.yaml")
    assert cli.main(["validate", str(tmp_path / "p.yaml")]) == 2


def test_init_refuses_a_missing_data_file(tmp_path, capsys):
    assert (
        cli.main(
            ["init", str(tmp_path / "absent.csv"), "--output", str(tmp_path / "no" / "p.yaml")]
        )
        == 2
    )
    assert "Data file not found" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()  # no folder made for a file that was not written


def test_report_refuses_a_missing_notebook_before_running(tmp_path, capsys):
    p = tmp_path / "p.yaml"
    p.write_text(f"data: {{path: {DEMO_DATA}}}\n", encoding="utf-8")
    code = cli.main(
        [
            "report",
            str(p),
            "--output",
            str(tmp_path / "out"),
            "--notebook",
            str(tmp_path / "absent.ipynb"),
        ]
    )
    assert code == 2
    assert "Report notebook not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_relative_logo_is_relative_to_the_parameter_file(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    p = tmp_path / "cfg" / "p.yaml"
    p.write_text(
        f"data: {{path: {DEMO_DATA}}}\noutput: {{logo: brand/logo.svg}}\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    assert cli._load(str(p), []).output.logo == tmp_path / "cfg" / "brand" / "logo.svg"
    with pytest.raises(params.ParamsError, match="the logo must be a .png, .jpg, .jpeg or .svg"):
        params.validate({"data": {"path": "x.csv"}, "output": {"logo": "logo.gif"}})


def test_an_interrupted_command_leaves_logging_as_it_was(tmp_path, monkeypatch, caplog):
    """cli.main quiets the libraries' log after Ctrl-C; called from Python, it must not
    leave that filter behind (a later test's caplog saw nothing: the suite failed in
    one order and passed in another)."""
    import logging

    from tiering.build import report as _report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_report, "build", interrupted)
    client = tmp_path / "p.yaml"
    client.write_text("data: {path: x.csv}\n", encoding="utf-8")
    assert cli.main(["report", str(client)]) == 130
    with caplog.at_level(logging.WARNING, logger="tiering.test"):
        logging.getLogger("tiering.test").warning("still heard")
    assert "still heard" in caplog.text
    assert not any(
        _quiet in h.filters
        for h in logging.getLogger().handlers
        for _quiet in [cli._quiet_after_interrupt]
    )


def test_the_command_line_does_not_import_the_iri_grammar_jsonschema_would_build():
    """With JupyterLab installed, importing jsonschema (nbformat, papermill) imports
    rfc3987_syntax and builds its grammar (1.1 s of every report); the command line's
    process never does, and nbformat still reads and checks the report notebook."""
    code = (
        "import sys\n"
        "from tiering import cli\n"
        "try:\n"
        "    cli.main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "import nbformat\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "nbformat.validate(nb)\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'), 'jsonschema' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "notebooks" / "tiering_report.ipynb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[-2:] == ["None", "True"]  # after the version's line


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_command_ends_without_the_teardown_but_with_its_code_exit_functions_and_output(
    tmp_path,
):
    """``tiering`` skips the interpreter's teardown: its exit code, what it printed (also
    unflushed, into a pipe), the other exit functions (a temporary folder's removal) and a
    logging file handler's last records all survive, and a thread the interpreter waits
    for is waited for. The teardown itself (which frees the modules' objects) does not
    run."""
    log_file = tmp_path / "log.txt"
    code = f"""
import atexit, logging, sys, tempfile, threading, time
from pathlib import Path
from tiering import cli

def main():
    kept = tempfile.TemporaryDirectory()  # removed by its exit function
    Path({str(tmp_path / "where")!r}).write_text(kept.name)
    cli._kept = kept
    handler = logging.FileHandler({str(log_file)!r})
    logging.getLogger().addHandler(handler)
    logging.getLogger().warning("last words")
    atexit.register(lambda: print("exit function ran"))
    def late():
        time.sleep(0.3)
        sys.stdout.write("thread done ")
    threading.Thread(target=late).start()
    sys.stdout.write("unflushed ")
    cli._witness = Witness()  # freed by the teardown only
    return 3

class Witness:
    def __del__(self):
        sys.stdout.write(" teardown")

cli.main = main
cli.run()
"""
    out = _python(code)
    assert out.returncode == 3, out.stderr
    assert out.stdout == "unflushed thread done exit function ran\n"
    assert "last words" in log_file.read_text(encoding="utf-8")
    assert not Path((tmp_path / "where").read_text()).exists()


def test_an_error_escaping_the_command_still_ends_as_python_ends_it():
    code = """
from tiering import cli
def main():
    raise RuntimeError("escaped")
cli.main = main
cli.run()
"""
    out = _python(code)
    assert out.returncode == 1
    assert "RuntimeError: escaped" in out.stderr


def test_the_installed_command_reports_its_exit_code(tmp_path):
    exe = Path(sys.executable).with_name("tiering")
    if not exe.is_file():
        pytest.skip("the tiering command is not installed beside this Python")
    assert subprocess.run([str(exe), "--version"], capture_output=True, timeout=120).returncode == 0
    bad = subprocess.run(
        [str(exe), "report", str(tmp_path / "missing.yaml")], capture_output=True, timeout=120
    )
    assert bad.returncode not in (0, None)
    assert b"missing.yaml" in bad.stderr
