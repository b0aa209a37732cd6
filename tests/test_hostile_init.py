"""``tiering init`` with hostile headers (issue 16): every string it writes into the
parameter file goes through the YAML library, so a header with a line break, ``#``,
``:``, quotes, ``{``, ``!!``, a tab, NUL, ``\\r`` or U+2028 can never add a key (such
as an ``exclude:`` that silently drops the largest customers) or break a comment line.
The written file loads back with exactly the headers of the data file."""

from __future__ import annotations

import csv
import io

import pytest
import yaml

from tiering import cli, params, scaffold

from .test_cli import fill_in_currency

# Each header is used once as an attribute column (few values, one per customer: it
# is written as a YAML value) and once as another column (many values: it is written
# inside a comment line).
INJECT = "exclude: {customer_id: [C001, C002]}"
HOSTILE = {
    "newline": f"region\n{INJECT}",
    "newline_indented": f"region\n  {INJECT}\n#",
    "crlf": f"region\r\n{INJECT}",
    "cr": f"region\r{INJECT}",
    "u2028": f"region\u2028{INJECT}",
    "u2029": f"region\u2029{INJECT}",
    "nel": f"region\x85{INJECT}",
    "hash": "region # not a comment",
    "colon": "region: east",
    "quotes": "say \"hi\" and 'bye'",
    "brace": "{a: 1, b: [2]}",
    "bang": '!!python/object/apply:os.system ["touch PWNED"]',
    "tab": "region\tcode",
    "nul": "region\x00code",
    "bell": "region\x07code",
    "dash": "- item",
    "anchor": "&a *a",
    "pipe": "| literal",
    "yes": "yes",
    "tilde": "~",
    "percent": "%YAML 1.1",
    "backslash": "C:\\new\\table",
    "unicode": "地区 🍜 مرحبا",
}
TOP_KEYS = {"client", "consultant", "language", "currency", "data", "tiering"}
DATA_KEYS = {
    "path",
    "encoding",
    "columns",
    "attributes",
    "cancellations",
    "duplicate_rows",
    "delimiter",
    "sheet",
    "dayfirst",
}


def _csv(headers: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([headers, *rows])
    return buf.getvalue()


def _data(attribute: str, other: str, *, roles=("customer_id", "order_date", "amount")) -> str:
    rows = [
        [
            f"C{i:03d}",
            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            str(10 * i + 5),
            "North" if i % 2 else "South",
            f"note {i}",
        ]
        for i in range(1, 61)
    ]
    return _csv([*roles, attribute, other], rows)


def _init(tmp_path, text: str, name: str = "data.csv"):
    data = tmp_path / name
    data.write_bytes(text.encode("utf-8"))
    target, ins = scaffold.init(data, output=tmp_path / "params.yaml")
    fill_in_currency(target)  # the amounts show no currency
    return target, ins


def _raw(target) -> dict:
    return yaml.load(target.read_text(encoding="utf-8"), Loader=params.SafeNoAliasLoader)  # noqa: S506


@pytest.mark.parametrize("key", list(HOSTILE))
def test_init_round_trips_hostile_headers(key, tmp_path, capsys):
    header = HOSTILE[key]
    other = "other " + header
    target, ins = _init(tmp_path, _data(header, other))
    raw = _raw(target)
    assert set(raw) == TOP_KEYS
    assert set(raw["data"]) <= DATA_KEYS
    loaded = params.load(target)
    assert list(loaded.data.attributes) == [header]
    assert loaded.data.exclude == {}
    assert loaded.data.columns.customer_id == "customer_id"
    assert list(ins.columns["header"])[3:] == [header, other]
    # the comment that lists the other columns holds the header on one line
    text = target.read_text(encoding="utf-8")
    other_lines = [ln for ln in text.splitlines() if ln.startswith("  # other columns:")]
    assert len(other_lines) == 1
    shown = scaffold._named(other)  # as it is when plain, else the quoted YAML scalar
    assert f"{shown} (60 values)" in other_lines[0]
    assert shown == other or yaml.safe_load(shown) == other
    # and `tiering validate` finds the columns the file names
    assert cli.main(["validate", str(target)]) == 0
    assert "attribute      <- " in capsys.readouterr().out


def test_init_round_trips_hostile_role_headers(tmp_path, capsys):
    """Headers recognised as roles (the recogniser ignores spaces, ``#``, ``:`` and a
    note in brackets) are written as ``data.columns`` values and come back exactly."""
    roles = ("Customer\nID", "Order\u2028Date", 'Amount (\n# "net": {x}\r)')
    target, ins = _init(tmp_path, _data("Region", "Note", roles=roles))
    assert ins.mapping == dict(zip(("customer_id", "order_date", "amount"), roles))
    raw = _raw(target)
    assert set(raw) == TOP_KEYS and "exclude" not in raw["data"]
    loaded = params.load(target)
    assert (
        loaded.data.columns.customer_id,
        loaded.data.columns.order_date,
        loaded.data.columns.amount,
    ) == roles
    assert cli.main(["validate", str(target)]) == 0
    capsys.readouterr()


def test_init_unrecognised_roles_lists_hostile_headers_in_comments(tmp_path):
    headers = [HOSTILE["newline"], HOSTILE["u2028"], HOSTILE["cr"], "x # y"]
    rows = [[f"v{i}", "2024-01-05", "7", "z"] for i in range(5)]
    target, ins = _init(tmp_path, _csv(headers, rows))
    assert ins.problem  # the roles were not recognised
    raw = _raw(target)
    assert set(raw) == TOP_KEYS
    # every role written as null for the user to fill in
    assert raw["data"]["columns"] == dict.fromkeys(("customer_id", "order_date", "amount"))
    assert "exclude" not in raw["data"]
    listed = [
        ln
        for ln in target.read_text(encoding="utf-8").splitlines()
        if ln.startswith("  # headers in the file:")
    ]
    assert len(listed) == 1
    assert listed[0].endswith(": " + ", ".join(scaffold._named(h) for h in headers))
    assert [yaml.safe_load(scaffold._named(h)) for h in headers[:3]] == headers[:3]
    assert params.load(target).data.exclude == {}


def test_init_hostile_file_name(tmp_path):
    """The data file's name reaches data.path, the client name and a comment."""
    name = f"sales\n{INJECT}\u2028#.csv"
    target, _ = _init(tmp_path, _data("Region", "Note"), name=name)
    raw = _raw(target)
    assert set(raw) == TOP_KEYS
    loaded = params.load(target)
    assert loaded.data.path == (tmp_path / name).resolve()
    assert loaded.data.exclude == {}


def test_init_hostile_sheet_names(tmp_path):
    """Sheet names of a workbook appear in a comment (``# other sheets: ...``)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    ws.append(["customer_id", "order_date", "amount"])
    for i in range(1, 13):
        ws.append([f"C{i}", f"2024-01-{i:02d}", 10 * i])
    # Excel refuses ':' in sheet names; a line break alone would break a comment
    wb.create_sheet("Notes\n  evil line {x}")
    wb.create_sheet("x\u2028  client = 'Evil'")
    wb.save(tmp_path / "book.xlsx")
    target, _ = scaffold.init(tmp_path / "book.xlsx", output=tmp_path / "params.yaml")
    fill_in_currency(target)
    raw = _raw(target)
    assert set(raw) == TOP_KEYS and "exclude" not in raw["data"]
    assert params.load(target).data.sheet == "Orders"


def test_quoting_helper_keeps_every_string_on_one_line():
    for text in [*HOSTILE.values(), "a" * 5000, "", " lead", "trail ", "\ufeffbom"]:
        out = scaffold._q(text)
        assert "\n" not in out and "\u2028" not in out and "\r" not in out
        assert yaml.safe_load(f"k: {out}") == {"k": text}
    assert yaml.safe_load(f"k: {scaffold._q(list(HOSTILE.values()))}") == {
        "k": list(HOSTILE.values())
    }
    for text in HOSTILE.values():
        for shown in (scaffold._c(text), scaffold._named(text)):
            assert yaml.safe_load(f"# {shown}\nk: 1\n") == {"k": 1}


def test_init_does_not_suggest_reserved_attribute_names(tmp_path, capsys):
    """A column named like one the analysis computes (``segment``, ``tier``) is not
    written as an attribute (validate would refuse it); it is listed with the others."""
    rows = [
        [
            f"C{i:03d}",
            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            str(10 * i + 5),
            "gold" if i % 2 else "silver",
            "A" if i % 3 else "B",
            "North" if i % 2 else "South",
        ]
        for i in range(1, 61)
    ]
    target, ins = _init(
        tmp_path, _csv(["customer_id", "order_date", "amount", "segment", "tier", "region"], rows)
    )
    assert ins.attributes == ("region",)
    assert list(params.load(target).data.attributes) == ["region"]
    text = target.read_text(encoding="utf-8")
    assert "# other columns: segment (2 values), tier (2 values)" in text
    assert cli.main(["validate", str(target)]) == 0
    capsys.readouterr()
