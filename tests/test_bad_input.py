"""Bad and hostile input: the corpus of ``tests/data/bad/`` (made by
``tests/data/make_bad_corpus.py``), each case a clear error or a correct analysis.

Every case runs through ``tiering.analysis.pipeline.run`` (parameters → load → features →
tiers → statistics, no rendering); a representative subset also through the command
line, and three whole reports (``slow``) check the HTML, the PDF and the tables for
markup, formula injection and Chinese.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiering import cli
from tiering.data.io import MAX_AMOUNT, REASONS
from tiering.present.i18n import t

from .conftest import ROOT, need_tool

CORPUS_SCRIPT = ROOT / "tests" / "data" / "make_bad_corpus.py"
TIERING = Path(sys.executable).with_name("tiering")


def _import_corpus():
    spec = importlib.util.spec_from_file_location("make_bad_corpus", CORPUS_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


corpus = _import_corpus()
CASES = corpus.CASES
BY_NAME = corpus.CASE_BY_NAME


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """A copy of the corpus (cases made at run time write their input there)."""
    folder = tmp_path_factory.mktemp("bad")
    for path in corpus.BAD.iterdir():
        shutil.copyfile(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def outcomes(corpus_dir):
    """Each case's outcome, run once per module."""
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = corpus.run_case(BY_NAME[name], corpus_dir)
        return cache[name]

    return get


def report_of(outcomes, name: str):
    out = outcomes(name)
    assert out.kind == "report", out.summary()
    return out


# --------------------------------------------------------------------------- every case


def test_corpus_has_at_least_40_cases_and_both_outcomes():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.expect for c in CASES} == {"error", "report"}
    files = {c.file for c in CASES if c.build is None}
    assert files <= {p.name for p in corpus.BAD.iterdir()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case(case, outcomes):
    out = outcomes(case.name)
    assert out.kind == case.expect, out.summary()
    if case.expect == "error":
        if case.error != "TieringError":
            assert out.error == case.error, out.summary()
        assert re.search(case.match, out.message), out.message
        assert "Traceback" not in out.message and 'File "' not in out.message
        if case.kind == "params":
            # every problem names its key; the file is named in the first line
            assert case.file in out.message.splitlines()[0]
        else:
            assert case.where and case.where in out.where, out.where
            assert out.hint, "an error must say how to fix it"
        return
    read, used, rejected = case.rows
    assert (out.read, out.used, out.rejected) == (read, used, rejected), out.summary()
    assert out.used + sum(out.rejected.values()) == out.read
    assert out.customers == case.customers
    check_analysis(out)


def check_analysis(out) -> None:
    """Invariants of an analysis: nothing lost, each customer exactly one tier, totals kept."""
    a, loaded = out.analysis, out.loaded
    tx, rej = loaded.transactions, loaded.rejected
    # every row is used or rejected, exactly once, by its file row number
    rows = pd.concat([tx["row"], rej["row"]])
    assert rows.is_unique and len(rows) == out.read
    assert set(rej["reason"]) <= set(REASONS)
    assert (rej["detail"].str.len() <= 200).all()  # details stay short, whatever the input
    tiers = a.tiers
    assert tiers["customer_id"].is_unique
    assert set(tiers["customer_id"]) == set(tx["customer_id"])
    assert tiers["tier"].notna().all()
    assert set(tiers["tier"].astype(str)) <= set(a.labels)
    assert list(a.tier_summary["tier"]) == a.labels
    assert int(a.tier_summary["customers"].sum()) == len(tiers)
    assert tiers["monetary"].sum() == pytest.approx(tx["amount"].sum(), rel=1e-9, abs=1e-6)
    assert a.tier_summary["revenue"].sum() == pytest.approx(tx["amount"].sum(), rel=1e-9, abs=1e-6)
    assert np.isfinite(tiers["monetary"]).all()


# --------------------------------------------------------------------------- values, case by case


def tx_of(out) -> pd.DataFrame:
    return out.loaded.transactions


def rej_of(out) -> pd.DataFrame:
    return out.loaded.rejected.set_index("row")


def test_semicolon_decimal_commas(outcomes):
    tx = tx_of(report_of(outcomes, "semicolon"))
    assert tx["amount"].tolist() == [1234.5, 12.5, -3.0, 99.0]
    assert tx["is_return"].tolist() == [False, False, True, False]
    assert tx["order_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-05",
        "2024-01-06",
        "2024-02-07",
        "2024-02-08",
    ]


def test_tab_and_pipe_delimiters(outcomes):
    tab = report_of(outcomes, "tab_in_csv")
    assert tab.loaded.source["delimiter"] == "\t"
    assert tx_of(tab)["amount"].tolist() == [1234.5, 20.0, 5.25, 7.0]
    pipe = report_of(outcomes, "pipe")
    assert pipe.loaded.source["delimiter"] == "|"


@pytest.mark.parametrize("name, encoding", [("gbk", "gb18030"), ("utf16", "utf-16")])
def test_chinese_encodings_give_the_same_values(outcomes, name, encoding):
    out = report_of(outcomes, name)
    tx = tx_of(out)
    assert out.loaded.source["encoding"] == encoding
    assert tx["customer_name"].tolist() == ["张三", "李四", "张三", "王五"]
    assert tx["customer_id"].tolist() == ["00123", "00456", "00123", "00789"]
    assert tx["amount"].tolist() == [1234.5, 88.0, 12.5, -20.0]
    assert tx["order_date"].tolist() == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-01-06"),
        pd.Timestamp("2024-02-01 10:30"),
        pd.Timestamp("2024-02-03"),
    ]
    assert out.analysis.tiers.set_index("customer_id").loc["00123", "monetary"] == 1247.0


def test_utf8_bom_and_utf16_without_bom(outcomes):
    bom = report_of(outcomes, "utf8_bom")
    assert bom.loaded.source["columns"]["customer_id"] == "customer_id"
    no_bom = report_of(outcomes, "utf16_no_bom")
    assert no_bom.loaded.source["encoding"] == "utf-16-le"
    assert tx_of(no_bom)["amount"].tolist() == [10.0, 20.0, 30.0]


def test_cp1252_names_exact(outcomes):
    tx = tx_of(report_of(outcomes, "cp1252"))
    assert tx["customer_name"].tolist() == ["Müller GmbH", "José Pérez", "Ångström Café – Straße"]


def test_gzip_recognised_by_content(outcomes):
    out = report_of(outcomes, "gzip_named_csv")
    assert out.loaded.source["format"] == "csv"
    assert tx_of(out)["amount"].tolist() == [10.0, 20.0, 30.0]


def test_duplicate_unused_headers_are_kept_apart(outcomes):
    rej = rej_of(report_of(outcomes, "duplicate_header_unmapped"))
    assert rej.loc[3, "src_note"] == "third" and rej.loc[3, "src_note_1"] == "fourth"
    assert rej.loc[3, "reason"] == "bad_amount" and rej.loc[3, "detail"] == "value: oops"


def test_title_rows_keep_file_row_numbers(outcomes):
    csv_ = report_of(outcomes, "title_rows_csv")
    assert csv_.loaded.source["header_row"] == 4
    assert tx_of(csv_)["row"].tolist() == [5, 7, 8]
    xlsx = report_of(outcomes, "title_rows_xlsx")
    assert xlsx.loaded.source["header_row"] == 4
    assert tx_of(xlsx)["row"].tolist() == [5, 8, 9]
    assert rej_of(xlsx).loc[7, "reason"] == "bad_amount"
    assert tx_of(xlsx)["order_date"].tolist() == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-01-09"),
        pd.Timestamp("2024-01-10"),
    ]  # serial 45300


def test_sheet_by_name(outcomes):
    out = report_of(outcomes, "sheet_by_name")
    assert out.loaded.source["sheet"] == "Orders"
    tx = tx_of(out)
    assert tx["customer_id"].tolist() == ["00123", "17850", "C9", "C9"]
    assert tx["amount"].tolist() == [1234.5, 1234.5, 12.0, 30.0]


def test_parquet_types(outcomes):
    out = report_of(outcomes, "parquet_types")
    tx = tx_of(out)
    assert tx["customer_id"].tolist() == ["17850", "13047", "17850", "14000"]
    assert tx["order_date"].iloc[0] == pd.Timestamp("2024-01-05 08:26")  # wall clock kept
    assert tx["amount"].tolist() == [15.3, -7.25, 1000.0, 99.0]
    assert tx["is_return"].tolist() == [False, True, False, False]
    assert tx["Country"].tolist() == ["United Kingdom", "France", "United Kingdom", "Germany"]


def test_formula_without_saved_value_is_a_visible_rejection(outcomes):
    rej = rej_of(report_of(outcomes, "xlsx_formula_no_cache"))
    assert rej.loc[2, "reason"] == "bad_amount"


def test_mixed_date_formats_are_all_the_same_day(outcomes):
    tx = tx_of(report_of(outcomes, "mixed_dates"))
    assert (tx["order_date"].dt.normalize() == pd.Timestamp("2024-01-05")).all()
    times = dict(zip(tx["customer_id"], tx["order_date"].dt.strftime("%H:%M")))
    assert times["4"] == times["5"] == times["9"] == "10:30"  # local wall clock, zone dropped
    assert times["1"] == "00:00"


def test_day_first_column(outcomes):
    tx = tx_of(report_of(outcomes, "dayfirst"))
    assert tx["order_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-05",
        "2024-01-13",
        "2024-02-28",
    ]


def test_amounts_as_text(outcomes):
    tx = tx_of(report_of(outcomes, "amounts_text"))
    assert tx["amount"].tolist() == [
        1234.5,
        1234.5,
        1234.5,
        99.0,
        12.0,
        -12.0,
        1000.0,
        42.0,
        1234.5,
        -12.0,
    ]
    assert tx["is_return"].tolist() == [False] * 5 + [True] + [False] * 3 + [True]


def test_negative_and_zero_amounts(outcomes):
    out = report_of(outcomes, "negative_zero")
    assert sorted(rej_of(out).index) == [4, 5, 6]
    tiers = out.analysis.tiers.set_index("customer_id")
    assert tiers["monetary"].to_dict() == {"1": 70.0, "2": 25.0, "3": -50.0}
    assert tiers["returns_value"].to_dict() == {"1": 30.0, "2": 0.0, "3": 50.0}
    assert tiers.loc["3", "tier"] == out.analysis.labels[-1]  # net negative: last tier


def test_blank_cells(outcomes):
    out = report_of(outcomes, "blank_cells")
    rej = rej_of(out)
    assert rej["reason"].to_dict() == {3: "missing_customer_id", 5: "bad_date", 6: "bad_amount"}
    tx = tx_of(out).set_index("customer_id")
    assert tx.loc["2", "customer_name"] == "" and tx.loc["2", "region"] == ""


def test_excel_error_values(outcomes):
    rej = rej_of(report_of(outcomes, "excel_errors"))
    assert rej.loc[2, "detail"] == "value: #REF!"
    assert rej.loc[3, "detail"] == "value: #N/A"
    assert rej.loc[4, "reason"] == "bad_date" and rej.loc[5, "reason"] == "bad_amount"


def test_duplicates_are_flagged_never_silent(outcomes):
    keep = report_of(outcomes, "duplicates_keep")
    assert keep.loaded.source["duplicate_rows"] == 2
    reject = report_of(outcomes, "duplicates_reject")
    assert reject.loaded.source["duplicate_rows"] == 2
    assert sorted(rej_of(reject).index) == [3, 5]


def test_dates_after_as_of(outcomes):
    out = report_of(outcomes, "after_as_of")
    assert out.analysis.as_of == dt.date(2024, 6, 1)
    assert sorted(rej_of(out).index) == [3, 4]


def test_future_dates_do_not_move_as_of(outcomes):
    out = report_of(outcomes, "future_dates")
    assert out.analysis.as_of == dt.date(2024, 2, 7)  # the day after the last real date
    rej = rej_of(out)
    assert rej.loc[3, "reason"] == "future_date" and "2204-01-05" in rej.loc[3, "detail"]
    assert rej.loc[4, "reason"] == "bad_date"
    assert out.analysis.tiers["recency_days"].max() < 60


def test_huge_values(outcomes):
    out = report_of(outcomes, "huge_values")
    rej = rej_of(out)
    assert rej["reason"].to_dict() == {
        2: "implausible_amount",
        3: "implausible_amount",
        4: "implausible_amount",
        5: "bad_amount",
        7: "implausible_amount",
    }
    assert len(rej.loc[5, "detail"]) < 80  # a 400-digit value is not copied whole
    assert tx_of(out)["amount"].tolist() == [1e12, 12.5, 30.0]
    assert MAX_AMOUNT == 1e13


def test_quantity_times_price_overflow(outcomes):
    out = report_of(outcomes, "qty_price_overflow")
    assert set(rej_of(out)["reason"]) == {"implausible_amount"}
    assert tx_of(out)["amount"].tolist() == [7.5, 40.0, 99.9]


def test_ids_leading_zeros_floats_rounded_invisible(outcomes):
    zeros = report_of(outcomes, "leading_zeros").analysis.tiers.set_index("customer_id")
    assert zeros["monetary"].to_dict() == {"00123": 50.0, "0123": 20.0, "123": 30.0}
    floats = report_of(outcomes, "float_ids").analysis.tiers.set_index("customer_id")
    assert floats["monetary"].to_dict() == {"12583": 50.0, "13047": 40.0, "17850": 60.0}
    rounded = rej_of(report_of(outcomes, "rounded_ids"))
    assert rounded.loc[2, "detail"] == "value: 1.23457E+11 (rounded by Excel; the digits are lost)"
    invisible = report_of(outcomes, "invisible_ids").analysis.tiers.set_index("customer_id")
    assert invisible["monetary"].to_dict() == {"123": 150.0, "456": 60.0, "789": 70.0}


def test_emoji_and_long_strings_kept_exactly(outcomes):
    out = report_of(outcomes, "emoji_long")
    names = dict(zip(tx_of(out)["customer_id"], tx_of(out)["customer_name"]))
    assert names["E1"] == "🍜 Noodle Bar 😀"
    assert names["VIP-⭐-001"] == "𠮷野家 (CJK extension B)"
    assert names["E3"] == "Long name " + "x" * 5000
    assert names["E4"] == "مرحبا بالعالم"
    rej = rej_of(out)
    assert rej.loc[6, "detail"] == "customer id is 302 characters long (at most 200)"
    assert rej.loc[7, "detail"].startswith("customer id contains control characters")
    assert "customer_name" in out.analysis.tiers.columns


def test_month_names(outcomes):
    out = report_of(outcomes, "text_months")
    assert (tx_of(out)["order_date"].dt.normalize() == pd.Timestamp("2024-01-05")).all()
    assert rej_of(out).loc[6, "detail"] == "value: 5 Janvier 2024"


def test_ten_mb_cell(outcomes, corpus_dir):
    # on pandas (the case asks for it): the 10 MB name kept, the 10 MB amount and id
    # rejected, each with a short detail
    out = report_of(outcomes, "ten_mb_cell")
    tx, rej = tx_of(out), rej_of(out)
    assert len(tx.set_index("customer_id").loc["1", "customer_name"]) == corpus.TEN_MB
    assert rej.loc[3, "reason"] == "bad_amount" and rej.loc[4, "reason"] == "bad_customer_id"
    assert rej.loc[4, "detail"] == f"customer id is {corpus.TEN_MB:,} characters long (at most 200)"
    assert len(rej.loc[3, "detail"]) < 80


def test_ten_mb_cell_on_duckdb_is_a_clear_error(corpus_dir):
    # the file is over 5 MiB, so engine: auto reads it on DuckDB, whose lines stop at 2 MB
    # (a longer limit makes DuckDB ask for 1 GiB buffers on gzip files): the message says
    # so and names the fix
    from tiering.analysis import pipeline
    from tiering.errors import DataError

    p = corpus.case_params(BY_NAME["ten_mb_cell"], corpus_dir)
    p = p.model_copy(update={"engine": p.engine.model_copy(update={"engine": "auto"})})
    with pytest.raises(DataError, match="longer than DuckDB reads") as e:
        pipeline.run(p)
    assert "engine: pandas" in e.value.hint


def test_equal_spend_with_rfm_gives_every_customer_one_tier(outcomes):
    out = report_of(outcomes, "equal_spend_rfm")
    assert out.analysis.tiers["monetary"].nunique() == 1
    assert out.analysis.tiers["tier"].notna().all()


def test_two_customers_two_tiers_ordered_by_value(outcomes):
    tiers = report_of(outcomes, "two_customers_two_tiers").analysis.tiers.set_index("customer_id")
    assert tiers["tier"].astype(str).to_dict() == {"2": "A", "1": "B"}


def test_markup_and_formulas_are_data_not_code(outcomes):
    markup = report_of(outcomes, "markup")
    names = set(tx_of(markup)["customer_name"])
    assert "<script>alert(1)</script>" in names and "</td></tr></table><h1>owned</h1>" in names
    assert "<b onmouseover=alert(3)>Region</b>" in markup.analysis.tiers.columns
    formulas = report_of(outcomes, "formula_injection")
    assert '=HYPERLINK("http://evil.example","click")' in set(tx_of(formulas)["customer_name"])
    assert "=6" in set(formulas.analysis.tiers["customer_id"])


def test_hostile_parameter_files_run_nothing(outcomes, corpus_dir):
    for name in ("python_tag", "code_in_key", "rule_injection", "alias_bomb", "trigger_injection"):
        assert outcomes(name).kind == "error"
    created = [p.name for p in corpus_dir.iterdir() if p.name.startswith("PWNED")]
    created += [p.name for p in Path.cwd().iterdir() if p.name.startswith("PWNED")]
    assert created == []


def test_bad_values_lists_every_problem_at_once(outcomes):
    out = outcomes("bad_values")
    problems = [ln for ln in out.message.splitlines() if ln.startswith("  - ")]
    assert len(problems) >= 5
    keys = " ".join(problems)
    for key in (
        "language",
        "as_of",
        "data.duplicate_rows",
        "tiering.labels",
        "tiering.abc.cutoffs",
    ):
        assert key in keys, key


# --------------------------------------------------------------------------- corpus and docs


def _member_texts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in sorted(z.namelist())}


def test_corpus_files_are_current_and_deterministic(tmp_path):
    """The committed files are what the script makes (run it after changing a case)."""
    corpus.write_files(tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in corpus.BAD.iterdir())
    for name in made:
        new, old = tmp_path / name, corpus.BAD / name
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(new), pd.read_parquet(old))
        elif name.endswith(".xlsx") and zipfile.is_zipfile(old):
            assert _member_texts(new) == _member_texts(old), name
        else:
            assert new.read_bytes() == old.read_bytes(), name
    again = tmp_path / "again"
    corpus.write_files(again)
    for name in made:  # the script is deterministic, workbooks included
        if not name.endswith(".parquet"):
            assert (again / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_corpus_is_small():
    sizes = {p.name: p.stat().st_size for p in corpus.BAD.iterdir()}
    assert sum(sizes.values()) < 200_000
    assert max(sizes.values()) < 64_000


def test_docs_table_is_current(outcomes):
    """docs/bad_input.md lists every case with its actual outcome (regenerate with
    ``python tests/data/make_bad_corpus.py --docs``)."""
    table = corpus.docs_table({c.name: outcomes(c.name) for c in CASES}, corpus.BAD)
    assert corpus.DOCS.read_text(encoding="utf-8") == table
    assert "crash:" not in table and "NOT each in one tier" not in table


# --------------------------------------------------------------------------- report texts


def test_every_reason_has_report_text_in_both_languages():
    import yaml

    catalogue = yaml.safe_load(
        (ROOT / "tiering" / "text" / "reasons.yaml").read_text(encoding="utf-8")
    )
    from tiering.data import campaigns, customers

    # the loader's reasons, then those the customer master and campaign files add
    codes = list(dict.fromkeys([*REASONS, *customers.REASONS, *campaigns.REASONS]))
    assert list(catalogue) == [f"reason_{code}" for code in codes]
    for code in codes:
        en, zh = t(f"reasons.reason_{code}", "en"), t(f"reasons.reason_{code}", "zh")
        assert en and zh and en != zh
        assert re.search(r"[\u4e00-\u9fff]", zh), code


def test_data_section_names_every_reason(outcomes):
    from tiering.present import narrative

    out = report_of(outcomes, "emoji_long")  # rejects rows as bad_customer_id
    html = narrative.section_data(out.analysis)
    assert t("reasons.reason_bad_customer_id", "en") in html


# --------------------------------------------------------------------------- command line


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _params_file(folder: Path, case, **extra) -> Path:
    """A parameter file for a data case (its data options and parameters as YAML)."""
    import yaml

    raw = {
        "client": "Corpus",
        **corpus.RUN_PARAMS,
        **case.params,
        **extra,
        "data": {"path": case.file, **case.data},
    }
    path = folder / f"params_{case.name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name",
    [
        "empty_file",
        "xlsx_named_csv",
        "png_named_csv",
        "unbalanced_quote",
        "missing_column",
        "sheet_default",
        "sheet_misspelt",
        "wrong_delimiter_param",
        "gbk_declared_utf8",
    ],
)
def test_cli_validate_data_errors(name, corpus_dir, capsys):
    case = BY_NAME[name]
    code, _, err = _cli(["validate", str(_params_file(corpus_dir, case))], capsys)
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert "where:" in err and "how to fix:" in err
    assert re.search(case.match, err), err


@pytest.mark.parametrize(
    "name",
    [
        "alias_bomb",
        "python_tag",
        "code_in_key",
        "duplicate_key",
        "bad_values",
        "rule_injection",
        "oversized_params",
    ],
)
def test_cli_validate_params_errors(name, corpus_dir, capsys):
    case = BY_NAME[name]
    if case.build:
        case.build(corpus_dir)
    code, out, err = _cli(["validate", str(corpus_dir / case.file)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: Invalid parameters in ") and "Traceback" not in err
    assert re.search(case.match, err), err


def test_cli_validate_ok_for_a_messy_but_valid_file(corpus_dir, capsys):
    code, out, err = _cli(["validate", str(_params_file(corpus_dir, BY_NAME["gbk"]))], capsys)
    assert code == 0, err
    assert "customer_id    <- 客户编号" in out and "gb18030" in out


@pytest.mark.parametrize("name", ["all_rejected", "one_customer", "header_only"])
def test_cli_report_fails_cleanly_and_writes_no_report(name, corpus_dir, tmp_path, capsys):
    case = BY_NAME[name]
    out_dir = tmp_path / "report"
    code, _, err = _cli(
        ["report", str(_params_file(corpus_dir, case)), "--output", str(out_dir)], capsys
    )
    assert code == 2
    assert "error: " in err and "Traceback" not in err
    assert re.search(case.match, err), err
    assert not out_dir.exists()


def test_cli_subprocess_exit_codes_and_debug(corpus_dir):
    """The installed command: no traceback by default, a traceback with --debug."""
    if not TIERING.exists():
        pytest.skip("the tiering command is not installed next to this Python")
    bomb = str(corpus_dir / "params_alias_bomb.yaml")
    res = subprocess.run(
        [str(TIERING), "validate", bomb], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "aliases (*name) are not allowed" in res.stderr
    png = _params_file(corpus_dir, BY_NAME["png_named_csv"])
    res = subprocess.run(
        [str(TIERING), "--debug", "validate", str(png)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode != 0 and "Traceback" in res.stderr and "is a PNG image" in res.stderr


def test_output_dir_from_parameters_stays_under_the_root(corpus_dir, tmp_path, monkeypatch, capsys):
    """``output.dir: ../../escaped-report`` is refused before anything is written, and
    nothing appears outside the working folder."""
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    shutil.copyfile(corpus_dir / "params_output_escape.yaml", cwd / "p.yaml")
    shutil.copyfile(corpus_dir / "two_customers.csv", cwd / "two_customers.csv")
    monkeypatch.chdir(cwd)
    code, _, err = _cli(["report", "p.yaml"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "output.dir" in err and "outside the working folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    assert sorted(p.name for p in cwd.iterdir()) == ["p.yaml", "two_customers.csv"]


# --------------------------------------------------------------------------- whole reports


def _pdf_text(path: Path) -> str:
    exe = need_tool("pdftotext")
    return subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True).stdout


def _build(corpus_dir: Path, tmp_path: Path, name: str, **extra) -> Path:
    case = BY_NAME[name]
    out = tmp_path / f"report_{name}"
    code = cli.main(["report", str(_params_file(corpus_dir, case, **extra)), "--output", str(out)])
    assert code == 0
    return out


@pytest.mark.slow
def test_hostile_report_escapes_markup(corpus_dir, tmp_path):
    """Markup in the client name, a column name and customer names is text in the HTML
    and in the PDF; no tag from the data reaches the page."""
    out = _build(corpus_dir, tmp_path, "markup")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "onmouseover=alert" not in html.replace("&lt;b onmouseover=alert", "")
    assert "<h1>owned</h1>" not in html and "<img src=x" not in html
    assert (
        "&lt;script&gt;alert(&#x27;client&#x27;)&lt;/script&gt;" in html
        or "&lt;script&gt;alert('client')&lt;/script&gt;" in html
    )
    assert "&lt;b onmouseover=alert(3)&gt;Region&lt;/b&gt;" in html
    text = _pdf_text(out / "report.pdf")
    assert "<script>alert('client')</script>" in text
    assert "<b onmouseover=alert(3)>Region</b>" in text
    # the tables keep the data as it was; the manifest accounts for every row
    tiers = pd.read_csv(out / "tiers.csv", dtype=str, keep_default_na=False)
    assert "<script>alert(1)</script>" in set(tiers["customer_name"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"]["read"] == manifest["rows"]["used"] + manifest["rows"]["rejected"] == 8
    # the largest customers are listed by name: the name is text, never a tag
    assert "<script>alert(1)</script>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.fixture(scope="module")
def formula_report(corpus_dir, tmp_path_factory) -> Path:
    """The Chinese report of the formula-injection case (built once)."""
    return _build(
        corpus_dir, tmp_path_factory.mktemp("formula"), "formula_injection", language="zh"
    )


@pytest.mark.slow
def test_formula_injection_neutralised_in_spreadsheets(formula_report, corpus_dir, tmp_path):
    """Names starting with = + - @ are plain text in the action-list workbook and CSV
    (and the Chinese report renders them as text)."""
    from tiering.analysis import strategy
    from tiering.build import action_lists

    out = formula_report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    a = corpus.run_case(BY_NAME["formula_injection"], corpus_dir).analysis
    recs = a.recommendations or strategy.recommend(a.tiers, a.tier_summary)
    folder = tmp_path / "actions"
    folder.mkdir()
    action_lists.write_action_lists(a.tiers, recs, folder, language="zh")
    import openpyxl

    wb = openpyxl.load_workbook(folder / action_lists.WORKBOOK_NAME)
    texts = [c for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert texts
    for cell in texts:
        assert cell.data_type == "s", cell.coordinate
        assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), cell.value
    names = {c.value for c in texts}
    assert '\'=HYPERLINK("http://evil.example","click")' in names
    assert "'+cmd|' /C calc'!A0" in names and "'=6" in names
    rows = pd.read_csv(
        folder / action_lists.CSV_NAME, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    for col in ("customer_id", "customer_name"):
        assert not rows[col].str.match(r"^[=+\-@\t\r]").any(), col


@pytest.mark.slow
def test_formula_injection_neutralised_in_report_tables(formula_report):
    out = formula_report
    for name in ("tiers.csv",):
        table = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        for col in table.columns:
            assert not table[col].str.match(r"^[=+@]").any(), (name, col)


@pytest.mark.slow
def test_chinese_report_from_gbk_with_a_rejected_row(corpus_dir, tmp_path):
    """A GBK file with Chinese headers, dates and a rejected amount gives a Chinese report
    whose data section accounts for every row."""
    out = _build(corpus_dir, tmp_path, "gbk", language="zh")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["rows"]
    assert (rows["read"], rows["used"], rows["rejected"]) == (5, 4, 1)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert t("report.reason_bad_amount", "zh") in html
    text = _pdf_text(out / "report.pdf")
    assert "金额为空或不是数字" in text and "gbk_chinese.csv" in text
    rejected = pd.read_csv(out / "rejected_rows.csv", dtype=str, keep_default_na=False)
    assert rejected["row"].tolist() == ["6"] and rejected["src_实付金额"].tolist() == ["待定"]
    tiers = pd.read_csv(out / "tiers.csv", dtype={"customer_id": str})
    assert sorted(tiers["customer_id"]) == ["00123", "00456", "00789"]
    assert math.isclose(tiers["monetary"].sum(), 1234.5 + 12.5 + 88.0 - 20.0)
