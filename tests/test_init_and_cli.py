"""Starting a client (issue 19): ``tiering init`` into a missing folder, with a role it
does not recognise, with the header synonyms of real exports and with the currency the
data shows (or a placeholder the user must fill in); ``tiering --version``; the
progress of ``tiering report`` (plain lines off a terminal, a live bar on one,
``--quiet`` and ``--verbose``)."""

from __future__ import annotations

import io
import logging
import re
from importlib import metadata
from pathlib import Path

import pytest

import tiering
from tiering import cli, params, progress, scaffold
from tiering.data import io as _io

from .conftest import DEMO_DATA, ROOT

DATASETS = ROOT.parent / "shared" / "datasets"


def _csv(path: Path, headers: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    lines = [",".join(headers)] + [",".join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _rows(n: int = 40, *, amount=lambda i: f"{10 * i + 5}") -> list[list[str]]:
    return [
        [
            f"C{i % 12:03d}",
            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            amount(i),
            ("North", "South")[(i % 12) % 2],
        ]
        for i in range(n)
    ]


# --------------------------------------------------------------------------- init


def test_init_makes_the_missing_folders_of_the_output(tmp_path, monkeypatch, capsys):
    """The README's step 1, ``tiering init DATA --output params/x.yaml``, in a folder
    without ``params/``."""
    monkeypatch.chdir(tmp_path)
    data = _csv(
        tmp_path / "tx.csv",
        ["customer_id", "order_date", "amount", "region"],
        _rows(amount=lambda i: f"${10 * i + 5}.50"),
    )
    assert cli.main(["init", str(data), "--output", "params/clients/x.yaml"]) == 0
    target = tmp_path / "params" / "clients" / "x.yaml"
    assert f"Wrote {Path('params/clients/x.yaml')}" in capsys.readouterr().out
    assert params.load(target).data.path == data.resolve()
    assert 'path: "../../tx.csv"' in target.read_text(encoding="utf-8")
    assert cli.main(["validate", str(target)]) == 0
    # an existing file is still never overwritten without --force
    before = target.read_bytes()
    assert cli.main(["init", str(data), "--output", "params/clients/x.yaml"]) == 2
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == before


def test_init_keeps_the_roles_it_found_and_marks_the_missing_one(tmp_path, capsys):
    data = _csv(tmp_path / "tx.csv", ["user_id", "when", "revenue_usd", "region"], _rows())
    target = tmp_path / "p.yaml"
    assert cli.main(["init", str(data), "--output", str(target)]) == 0
    err = capsys.readouterr().err
    assert "WARNING: not recognised: order_date" in err and "'when'" in err
    text = target.read_text(encoding="utf-8")
    assert 'customer_id: "user_id"' in text and 'amount: "revenue_usd"' in text
    assert "    order_date: null   # FILL IN: the header of the order dates" in text
    assert "# NOT RECOGNISED: order_date." in text
    assert "# headers in the file: user_id, when, revenue_usd, region" in text
    assert 'currency: "$"' in text  # from the header revenue_usd
    raw = params.read_yaml(target)
    assert raw["data"]["columns"] == {
        "customer_id": "user_id",
        "order_date": None,
        "amount": "revenue_usd",
    }
    # validate refuses the file, naming the missing role, until it is filled in
    assert cli.main(["validate", str(target)]) == 2
    assert "Required column not recognised: order_date" in capsys.readouterr().err
    target.write_text(text.replace("order_date: null", 'order_date: "when"'), encoding="utf-8")
    assert cli.main(["validate", str(target)]) == 0
    assert "order_date     <- when" in capsys.readouterr().out


def test_init_marks_a_missing_amount_in_a_chinese_export(tmp_path, capsys):
    data = _csv(
        tmp_path / "导出.csv",
        ["客户编号", "交易时间", "实收款项", "地区"],
        [[f"K{i % 9}", f"2024-03-{1 + i % 28:02d} 10:00:00", "￥12.00", "华东"] for i in range(30)],
        encoding="gbk",
    )
    target, ins = scaffold.init(data, output=tmp_path / "p.yaml")
    assert ins.mapping == {"customer_id": "客户编号", "order_date": "交易时间"}
    assert ins.missing_roles == ["amount"]
    text = target.read_text(encoding="utf-8")
    assert "language: zh" in text
    assert "    amount: null   # FILL IN: the header of the amounts" in text
    assert 'currency: "TODO"' in text  # no money column recognised: no currency seen
    text = text.replace('currency: "TODO"', 'currency: "¥"')
    target.write_text(text, encoding="utf-8")
    assert cli.main(["validate", str(target)]) == 2
    err = capsys.readouterr().err
    assert "Required column not recognised: amount" in err
    target.write_text(text.replace("amount: null", 'amount: "实收款项"'), encoding="utf-8")
    assert cli.main(["validate", str(target)]) == 0


# --------------------------------------------------------------------------- synonyms

#: Headers of real exports (as written there) and the role each must get.
NEW_HEADERS = [
    ("amount", "dollars"),
    ("amount", "Sales"),
    ("amount", "revenue_usd"),
    ("amount", "Revenue (USD)"),
    ("amount", "Sales EUR"),
    ("amount", "成交金额"),
    ("amount", "消费金额"),
    ("amount", "Net Sales"),
    ("amount", "Gross Sales"),
    ("amount", "Order Total"),
    ("amount", "Grand Total"),
    ("amount", "Amount Paid"),
    ("amount", "Invoice Amount"),
    ("amount", "Total Spend"),
    ("amount", "Turnover"),
    ("amount", "Extended Price"),
    ("amount", "支付金额"),
    ("amount", "付款金额"),
    ("amount", "实付款"),
    ("amount", "买家实际支付金额"),
    ("amount", "订单总额"),
    ("amount", "营业额"),
    ("amount", "销售收入"),
    ("amount", "价税合计"),
    ("amount", "金额元"),
    ("order_date", "交易时间"),
    ("order_date", "Order Time"),
    ("order_date", "Paid at"),
    ("order_date", "Transaction Time"),
    ("order_date", "Purchased At"),
    ("order_date", "Payment Date"),
    ("order_date", "DateTime"),
    ("order_date", "订单创建时间"),
    ("order_date", "付款时间"),
    ("order_date", "支付时间"),
    ("order_date", "成交时间"),
    ("order_date", "消费日期"),
    ("order_date", "单据日期"),
    ("order_date", "时间"),
    ("customer_id", "Customer Code"),
    ("customer_id", "Client No"),
    ("customer_id", "Account Number"),
    ("customer_id", "Email"),
    ("customer_id", "Shopper ID"),
    ("customer_id", "会员卡号"),
    ("customer_id", "客户账号"),
    ("customer_id", "买家会员名"),
    ("customer_id", "顾客编号"),
    ("order_id", "Invoice ID"),
    ("order_id", "Receipt Number"),
    ("order_id", "Order Ref"),
    ("order_id", "Sales Order No"),
    ("order_id", "交易单号"),
    ("order_id", "流水号"),
    ("order_id", "单据编号"),
    ("order_id", "小票号"),
    ("quantity", "Qty Ordered"),
    ("quantity", "Units Sold"),
    ("quantity", "件数"),
    ("quantity", "商品数量"),
    ("quantity", "销量"),
    ("unit_price", "Price Each"),
    ("unit_price", "Selling Price"),
    ("unit_price", "Unit Price GBP"),
    ("unit_price", "成交单价"),
    ("unit_price", "售价"),
    ("customer_name", "Billing Name"),
    ("customer_name", "Full Name"),
    ("customer_name", "客户姓名"),
    ("customer_name", "买家昵称"),
]
_FILLER = {
    "customer_id": "客户编号",
    "order_date": "Order Date",
    "amount": "Amount",
    "order_id": "Order ID",
    "quantity": "Quantity",
    "unit_price": "Unit Price",
    "customer_name": "Customer Name",
}


@pytest.mark.parametrize(("role", "header"), NEW_HEADERS, ids=[h for _, h in NEW_HEADERS])
def test_headers_of_real_exports_are_recognised(role, header):
    others = [
        name
        for r, name in _FILLER.items()
        if r != role
        and not (role == "amount" and r in ("quantity", "unit_price"))
        and not (role in ("quantity", "unit_price") and r == "amount")
    ]
    mapping = _io._auto_map([*others, header])
    assert mapping.get(role) == header, mapping
    assert len(set(mapping.values())) == len(mapping)


def test_a_file_with_only_new_synonyms_is_read(tmp_path):
    data = _csv(
        tmp_path / "shop.csv",
        ["买家会员名", "订单创建时间", "买家实际支付金额", "订单编号"],
        [
            [f"u{i % 5}", f"2024-0{1 + i % 9}-10 12:00:00", f"{20 + i}.00", f"T{i}"]
            for i in range(25)
        ],
    )
    loaded = _io.load(params.DataSource(path=data))
    assert loaded.source["columns"] == {
        "customer_id": "买家会员名",
        "order_date": "订单创建时间",
        "order_id": "订单编号",
        "amount": "买家实际支付金额",
    }
    assert loaded.transactions["amount"].sum() == pytest.approx(sum(20 + i for i in range(25)))


def test_no_synonym_belongs_to_two_roles_and_known_files_map_as_before():
    seen: dict[str, str] = {}
    for role, names in _io.SYNONYMS.items():
        for name in names:
            assert name == _io._norm(name), name  # written as the normalised form
            assert seen.setdefault(name, role) == role, (name, seen[name], role)
    # the demo export and Online Retail's headers: a new synonym takes none of their
    # other columns
    demo_headers = DEMO_DATA.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert _io._auto_map(demo_headers) == {
        "customer_id": "customer_id",
        "order_date": "order_date",
        "order_id": "order_id",
        "amount": "amount",
        "quantity": "quantity",
        "unit_price": "unit_price",
        "customer_name": "customer_name",
    }
    retail = [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ]
    assert _io._auto_map(retail) == {
        "customer_id": "CustomerID",
        "order_date": "InvoiceDate",
        "order_id": "InvoiceNo",
        "quantity": "Quantity",
        "unit_price": "UnitPrice",
    }


@pytest.mark.realdata
def test_online_retail_maps_as_before(tmp_path):
    path = DATASETS / "online_retail.csv.gz"
    if not path.is_file():
        pytest.skip("../shared/datasets is not here")
    ins = scaffold.inspect_data(path)
    assert ins.mapping == {
        "customer_id": "CustomerID",
        "order_date": "InvoiceDate",
        "order_id": "InvoiceNo",
        "quantity": "Quantity",
        "unit_price": "UnitPrice",
    }
    assert ins.currency is None and not ins.missing_roles


# --------------------------------------------------------------------------- currency


@pytest.mark.parametrize(
    ("amounts", "header", "expected"),
    [
        (lambda i: f"${10 * i + 2}.50", "amount", "$"),
        (lambda i: f"€{i},50", "amount", "€"),
        (lambda i: f"£{i}.00", "amount", "£"),
        (lambda i: f"{i}.00 USD", "amount", "$"),
        (lambda i: f"￥{i}.00", "amount", "¥"),
        (lambda i: f"{i}.00", "Amount (EUR)", "€"),
        (lambda i: f"{i}.00", "金额(元)", "¥"),
        (lambda i: f"{i}.00", "amount", None),
    ],
)
def test_currency_is_inferred_from_the_amounts_or_their_header(tmp_path, amounts, header, expected):
    data = _csv(
        tmp_path / "tx.csv", ["customer_id", "order_date", header, "region"], _rows(amount=amounts)
    )
    target, ins = scaffold.init(data, output=tmp_path / "p.yaml")
    assert ins.currency == expected
    text = target.read_text(encoding="utf-8")
    if expected:
        assert f'currency: "{expected}"   # found in the amounts' in text
        assert params.load(target).currency == expected
    else:
        assert f'currency: "{params.CURRENCY_PLACEHOLDER}"   # FILL IN' in text


def test_the_currency_placeholder_is_refused_by_validate_and_report(tmp_path, capsys):
    data = _csv(
        tmp_path / "tx.csv",
        ["customer_id", "order_date", "amount", "region"],
        _rows(amount=lambda i: f"{12 + i}.50"),
    )
    target, ins = scaffold.init(data, output=tmp_path / "p.yaml")
    assert ins.currency is None
    assert cli.main(["validate", str(target)]) == 2
    err = capsys.readouterr().err
    assert "currency: the currency is still 'TODO'" in err and 'currency: "$"' in err
    out = tmp_path / "report"
    assert cli.main(["report", str(target), "--output", str(out)]) == 2
    assert "currency is still 'TODO'" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(params.ParamsError, match="write the client's currency"):
        params.validate({"data": {"path": "x.csv"}, "currency": "todo"})
    assert params.validate({"data": {"path": "x.csv"}, "currency": "CHF"}).currency == "CHF"


# --------------------------------------------------------------------------- --version


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"tiering {tiering.__version__}"
    assert tiering.__version__ == metadata.version("tiering")


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", "x.yaml", "--quiet", "--verbose"])
    assert exc.value.code == 2
    assert "--quiet and --verbose cannot be used together" in capsys.readouterr().err


# --------------------------------------------------------------------------- progress

_FAST = ["--set", "output.formats=[html]", "--set", "tiering.compare_with=[]"]
DEMO_PARAMS = ROOT / "params" / "demo.yaml"
STEPS = [
    "reading the data",
    "customer features",
    "tiers",
    "method comparison",
    "statistics",
    "migration",
    "holdout check",
    "campaign results",
    "forward-looking value",
    "strategy",
    "tables, action lists",
    "report notebook",
    "HTML",
]
# the value model off (a third of the build's time), where its step is not what is tested
_NO_VALUE = ["--set", "value.enabled=false"]


@pytest.mark.slow
def test_quiet_report_prints_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["report", str(DEMO_PARAMS), "--output", str(out), "--quiet", *_FAST, *_NO_VALUE]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_plain_progress_lines_in_order_off_a_terminal(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["report", str(DEMO_PARAMS), "--output", str(out), *_FAST]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0].startswith("Building the report for 'Demo Retail Co.'")
    n = len(STEPS)  # the plan is the steps that ran
    assert lines[1:] == [f"[{i}/{n}] {label}" for i, label in enumerate(STEPS, 1)]
    assert "\r" not in captured.err and "\x1b" not in captured.err
    assert captured.out.startswith(f"Report written to {out}")


@pytest.mark.slow
def test_verbose_shows_the_time_of_each_step(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["report", str(DEMO_PARAMS), "--output", str(out), "--verbose", *_FAST, *_NO_VALUE]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    steps = [s for s in STEPS if s != "forward-looking value"]  # the plan: the steps that run
    n = len(steps)
    for i, label in enumerate(steps, 1):
        assert re.search(rf"^\[{i}/{n}\] {re.escape(label)}: \d+\.\d\d s$", err, re.M), label
    assert re.search(r"^total: \d+\.\d\d s$", err, re.M)
    import json

    timings = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["timings_seconds"]
    assert {"load", "statistics", "notebook", "html", "total"} <= timings.keys()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_live_bar_on_a_terminal(monkeypatch):
    """On a terminal the steps drive a tqdm bar (redrawn in place with \\r) whose
    description is the running step; --verbose writes each step's time above it."""
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    args = cli._parser().parse_args(["report", "x.yaml", "--verbose"])
    timings: dict = {}
    with cli._ShowProgress(args, ["load", "statistics"]):
        with progress.timed(timings, "load"):
            pass
        with progress.timed(timings, "statistics"):
            assert "statistics" in term.getvalue().rsplit("\r", 1)[-1]
    shown = term.getvalue()
    assert "\r" in shown and "2/2 steps" in shown
    # what stays on the screen: each line as the last \r left it
    screen = "\n".join(line.rsplit("\r", 1)[-1] for line in shown.split("\n"))
    assert re.search(r"^  reading the data +\d+\.\d\d s$", screen, re.M)
    assert re.search(r"^  statistics +\d+\.\d\d s$", screen, re.M)
    assert re.search(r"^  total +\d+\.\d\d s$", screen, re.M)
    assert "[1/2]" not in shown  # no plain lines on a terminal
    # the handler is gone afterwards and the logger as it was
    logger = logging.getLogger(progress.LOGGER)
    assert logger.handlers == [] and logger.propagate


def test_batch_runs_its_reports_quietly(tmp_path):
    """The reports of a batch run with --quiet: their progress lines would only fill the
    error message the batch reads from their standard error."""
    from tiering import batch

    job = batch.Job(params_file=tmp_path / "a.yaml", client="a", folder=tmp_path / "a")
    assert "--quiet" in batch._command(job, tmp_path / "r.json", [], None)
