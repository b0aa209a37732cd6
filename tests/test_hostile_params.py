"""Hostile parameter files and names (issue 16): each is accepted and works, or is
refused by ``tiering validate`` (``tiering.params.load``) with a clear ParamsError
naming the key, never a traceback or a failure inside the notebook.

Covers: parameter files in GBK and UTF-16, YAML complex keys, unknown encodings,
``output.formats: []``, far-off ``as_of``, out-of-range seeds, ``.inf``/``.nan``
weights, attribute columns named like internal columns, formula-like CSV headers,
tier labels Excel cannot use as sheet names or matplotlib would parse as mathtext, and
control characters in names (the workbook)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import matplotlib
import openpyxl
import pandas as pd
import pytest

from tiering import cli, params
from tiering.analysis import pipeline
from tiering.analysis.strategy import recommend
from tiering.build import action_lists, outputs
from tiering.data.features import FEATURE_COLUMNS
from tiering.errors import ParamsError
from tiering.safecsv import write_csv

from .conftest import DEMO_DATA
from .test_actions import tiers_table

matplotlib.use("Agg")

HYPERLINK = '=HYPERLINK("http://evil.example","click")'


def _write(tmp_path, text: str, encoding: str = "utf-8", name: str = "p.yaml"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _refused(path, *patterns: str) -> str:
    with pytest.raises(ParamsError) as info:
        params.load(path)
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, message
    return message


def _small_data(tmp_path, attribute: str = "region", name: str = "d.csv"):
    rows = [["customer_id", "order_date", "amount", attribute]]
    for i in range(1, 41):
        for month in (1, 4, 8):
            rows.append(
                [
                    f"C{i:03d}",
                    f"2024-{month:02d}-{1 + i % 28:02d}",
                    str(10 * i + month),
                    "North" if i % 2 else "South",
                ]
            )
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    (tmp_path / name).write_text(buf.getvalue(), encoding="utf-8")
    return tmp_path / name


# --------------------------------------------------------------------------- encodings


CHINESE = "client: 华东贸易有限公司\nconsultant: 咨询（上海）\ndata: {path: d.csv}\n"


@pytest.mark.parametrize(
    "encoding", ["gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-32"]
)
def test_parameter_file_encodings_are_read(encoding, tmp_path):
    path = _write(tmp_path, CHINESE, encoding)
    p = params.load(path)
    assert p.client == "华东贸易有限公司"
    assert p.consultant == "咨询（上海）"


def test_parameter_file_in_latin1_is_refused_naming_the_encoding(tmp_path):
    path = _write(tmp_path, "client: Müller Café – Straße\ndata: {path: d.csv}\n", "cp1252")
    message = _refused(path, "not UTF-8 text", "save it again as UTF-8")
    assert "looks like" in message


def test_cli_validate_reads_a_gbk_parameter_file(tmp_path, capsys):
    _small_data(tmp_path)
    path = _write(tmp_path, CHINESE, "gbk")
    assert cli.main(["validate", str(path)]) == 0
    assert "Parameters OK" in capsys.readouterr().out


# --------------------------------------------------------------------------- YAML shapes


@pytest.mark.parametrize(
    "text",
    [
        "? [a, b]\n: 1\nclient: X\ndata: {path: d.csv}\n",
        "client: X\ndata:\n  path: d.csv\n  ? {x: 1}\n  : 2\n",
        "client: X\ndata: {path: d.csv, exclude: {? [a] : [b]}}\n",
    ],
)
def test_complex_keys_are_a_clear_error(text, tmp_path):
    _refused(_write(tmp_path, text), "complex key", "line")


def test_unknown_encoding_is_refused_with_examples(tmp_path):
    path = _write(tmp_path, "client: X\ndata: {path: d.csv, encoding: klingon}\n")
    _refused(path, "data.encoding", "'klingon'", "utf-8", "gb18030")
    path = _write(tmp_path, "client: X\ndata: {path: d.csv, encoding: rot13}\n")
    _refused(path, "data.encoding", "'rot13'")
    path = _write(tmp_path, "client: X\ndata: {path: d.csv, encoding: GBK}\n")
    assert params.load(path).data.encoding == "GBK"


def test_empty_formats_are_refused(tmp_path):
    path = _write(tmp_path, "client: X\ndata: {path: d.csv}\noutput: {formats: []}\n")
    _refused(path, "output.formats", "html, pdf or both")
    path = _write(tmp_path, "client: X\ndata: {path: d.csv}\noutput: {formats: [pdf]}\n")
    assert params.load(path).output.formats == ["pdf"]


@pytest.mark.parametrize("as_of", ["9999-12-31", "2262-04-12", "0001-01-01", "1850-01-01"])
def test_implausible_as_of_is_refused(as_of, tmp_path):
    path = _write(tmp_path, f"client: X\ndata: {{path: d.csv}}\nas_of: {as_of}\n")
    _refused(path, "as_of", as_of)


def test_as_of_up_to_a_year_ahead_is_accepted_and_window_start_checked(tmp_path):
    soon = dt.date.today() + dt.timedelta(days=30)
    path = _write(tmp_path, f"client: X\ndata: {{path: d.csv}}\nas_of: {soon}\n")
    assert params.load(path).as_of == soon
    path = _write(tmp_path, "client: X\ndata: {path: d.csv}\nwindow: {start: 0001-01-01}\n")
    _refused(path, "window.start", "0001-01-01")
    path = _write(
        tmp_path, "client: X\ndata: {path: d.csv}\nas_of: 2024-01-01\nwindow: {start: 2024-06-01}\n"
    )
    _refused(path, "window.start 2024-06-01 must be before as_of")


@pytest.mark.parametrize("seed", ["-1", str(2**32), str(10**30)])
def test_seed_out_of_range_is_refused(seed, tmp_path):
    path = _write(tmp_path, f"client: X\ndata: {{path: d.csv}}\nseed: {seed}\n")
    _refused(path, "seed", "4,294,967,295")


def test_largest_seed_runs_every_seeded_step(tmp_path):
    _small_data(tmp_path)
    path = _write(
        tmp_path,
        f"client: X\ndata: {{path: d.csv}}\nseed: {2**32 - 1}\n"
        "stats: {n_boot: 100}\n"
        "tiering: {method: cluster, compare_with: [score]}\n",
    )
    analysis, _ = pipeline.run(params.load(path))
    assert len(analysis.tiers) == 40


@pytest.mark.parametrize(
    "block",
    [
        "tiering: {method: score, score: {criteria: [{column: monetary, weight: .inf}]}}",
        "tiering: {method: score, score: {criteria: [{column: monetary, weight: .nan}]}}",
        "tiering: {method: score, score: {shares: [.nan, .nan, .nan]}}",
        "tiering: {method: score, score: {thresholds: [.nan, 0.2]}}",
        "tiering: {method: rfm, rfm: {weights: {recency: .inf}}}",
        "tiering: {method: rfm, rfm: {thresholds: [.inf, 2]}}",
        "tiering: {abc: {cutoffs: [.nan, 0.9]}}",
        "stats: {alpha: .nan}",
    ],
)
def test_infinite_and_nan_numbers_are_refused(block, tmp_path):
    path = _write(tmp_path, f"client: X\ndata: {{path: d.csv}}\n{block}\n")
    message = _refused(path)
    assert "finite" in message or "between" in message or "greater" in message, message


# --------------------------------------------------------------------------- attributes


@pytest.mark.parametrize(
    "name",
    [
        "tier",
        "tier_rank",
        "is_return",
        "customer_id",
        "monetary",
        "frequency",
        "recency_days",
        "row",
        "segment",
        "cum_share",
        "value_score",
    ],
)
def test_attribute_named_like_an_internal_column_is_refused(name, tmp_path):
    path = _write(tmp_path, f"client: X\ndata: {{path: d.csv, attributes: [region, {name}]}}\n")
    _refused(path, "data.attributes", repr(name), "Reserved names", "tier_rank")


def test_reserved_names_cover_the_feature_and_score_columns():
    assert set(FEATURE_COLUMNS) <= set(params.RESERVED_COLUMNS)
    assert {
        "tier",
        "tier_rank",
        "cum_share",
        "rfm_score",
        "segment",
        "value_score",
        "rule",
        "is_return",
        "order_id",
        "amount",
    } <= set(params.RESERVED_COLUMNS)


def test_customer_name_attribute_colliding_with_the_name_column_is_refused(tmp_path):
    path = _write(
        tmp_path,
        "client: X\ndata: {path: d.csv, attributes: [customer_name], "
        "columns: {customer_name: Kunde}}\n",
    )
    _refused(path, "customer_name", "Kunde")


# --------------------------------------------------------------------------- CSV headers


def test_formula_headers_are_neutralised_in_csv(tmp_path):
    df = pd.DataFrame(
        {
            "customer_id": ["1"],
            HYPERLINK: ["x"],
            "+cmd": [1],
            "-2+3": [2.0],
            "@SUM(A1)": ["=1+1"],
            "-12": [3],
        }
    )
    write_csv(df, tmp_path / "arrow.csv")
    # an object Arrow cannot hold and a repeated column name: written by pandas
    mixed = df.assign(customer_id=[object()])
    mixed.columns = [*df.columns[:-1], "customer_id"]
    write_csv(mixed, tmp_path / "pandas.csv")
    for name in ("arrow.csv", "pandas.csv"):
        with open(tmp_path / name, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        assert header[1:5] == ["'" + HYPERLINK, "'+cmd", "'-2+3", "'@SUM(A1)"], name
        assert header[5] == ("-12" if name == "arrow.csv" else "customer_id"), name


def test_formula_attribute_header_is_neutralised_in_every_table(tmp_path):
    _small_data(tmp_path, attribute=HYPERLINK)
    p = params.validate(
        {
            "client": "X",
            "data": {"path": "d.csv", "attributes": [HYPERLINK]},
            "stats": {"n_boot": 100},
        },
        base_dir=tmp_path,
    )
    analysis, loaded = pipeline.run(p)
    out = tmp_path / "out"
    out.mkdir()
    written = outputs.write_tables(analysis, loaded, out)
    assert "tiers.csv" in written
    for name in written:
        if not name.endswith(".csv"):
            continue
        with open(out / name, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                assert not any(cell.startswith(("=", "+", "@")) for cell in row), (name, row)
    with open(out / "tiers.csv", encoding="utf-8", newline="") as fh:
        assert "'" + HYPERLINK in next(csv.reader(fh))
    wb = openpyxl.load_workbook(out / action_lists.WORKBOOK_NAME)
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith(("=", "+", "@")) for v in row)


def test_formula_headers_of_extra_sheets_are_neutralised(tmp_path):
    tiers = tiers_table()
    extra = {"Movers": pd.DataFrame({HYPERLINK: ["a"], "customer_id": ["001"]})}
    action_lists.write_action_lists(
        tiers, recommend(tiers), tmp_path, language="en", extra_sheets=extra
    )
    ws = openpyxl.load_workbook(tmp_path / action_lists.WORKBOOK_NAME)["Movers"]
    assert ws["A1"].value == "'" + HYPERLINK and ws["A1"].data_type == "s"


# --------------------------------------------------------------------------- tier labels


LABELS = ["VIP/Top [1]", "VIP:Top 1", "History", "Moved up", "$a^$", "$x$ A_1^2", "$$$" + "x" * 40]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """The demo data tiered with labels Excel and matplotlib would choke on."""
    folder = tmp_path_factory.mktemp("labels")
    p = params.validate(
        {
            "client": "X",
            "data": {"path": str(DEMO_DATA)},
            "stats": {"n_boot": 100},
            "tiering": {"labels": LABELS, "abc": {"cutoffs": [0.3, 0.5, 0.65, 0.8, 0.9, 0.95]}},
        },
        base_dir=folder,
    )
    analysis, loaded = pipeline.run(p)
    return folder, analysis, loaded


@pytest.fixture(scope="module")
def hostile_labels(labelled):
    """Its tables written."""
    folder, analysis, loaded = labelled
    written = outputs.write_tables(analysis, loaded, folder)
    return folder, written, analysis


def test_hostile_labels_get_clean_unique_sheet_names(hostile_labels):
    folder, written, _ = hostile_labels
    assert action_lists.WORKBOOK_NAME in written
    wb = openpyxl.load_workbook(folder / action_lists.WORKBOOK_NAME)
    names = wb.sheetnames
    assert len({n.casefold() for n in names}) == len(names)
    for n in names:
        assert 1 <= len(n) <= 31 and not set(n) & set("/\\?*[]:") and n.casefold() != "history"
        assert not n.startswith("'") and not n.endswith("'")
    assert names[0] == "Summary"  # the workbook opens on its summary
    assert names[1:8] == [
        "VIPTop 1",
        "VIPTop 1 (2)",
        "Tier 3",
        "Moved up (2)",
        "$a^$",
        "$x$ A_1^2",
        ("$$$" + "x" * 40)[:31],
    ]
    # the movers sheets are kept, cleaned too
    assert names[8:] == ["Left tier VIPTop 1", "Moved up"]


def test_hostile_labels_stay_exact_in_the_csv_files(hostile_labels):
    folder, _, analysis = hostile_labels
    rows = pd.read_csv(
        folder / action_lists.CSV_NAME, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    assert list(pd.unique(rows["tier"])) == LABELS
    tiers = pd.read_csv(folder / "tiers.csv", dtype=str, keep_default_na=False)
    assert set(tiers["tier"]) == set(LABELS)
    assert list(analysis.tier_summary["tier"].astype(str)) == LABELS


def test_mathtext_labels_are_drawn_literally(labelled, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from tiering.present import charts, holdout, migration_charts

    _, a, _ = labelled
    figures = [
        charts.tier_overview(a.tier_summary, language="en"),
        charts.pareto_curve(a.tiers, language="en"),
        charts.metric_distributions(a.tiers, language="en"),
        charts.recency_frequency_map(a.tiers, language="en"),
        charts.median_forest(a.comparison.summary, language="en", tier_order=LABELS),
        charts.effect_size_heatmap(a.comparison.tests, language="en", tier_order=LABELS),
    ]
    mig = a.migration
    if mig is not None:
        figures += [
            migration_charts.flow_chart(mig, language="en"),
            migration_charts.transition_heatmap(mig, language="en"),
        ]
    val = a.holdout
    if val is not None and val.available:
        figures.append(holdout.lift_chart(val, language="en"))
    for i, fig in enumerate(figures):
        fig = fig if isinstance(fig, Figure) else fig.figure
        fig.savefig(tmp_path / f"chart{i}.png", dpi=40)  # mathtext would raise ValueError
        texts = [t for t in fig.findobj(Text) if "$" in t.get_text()]
        assert all(not t.get_parse_math() for t in texts), i
        shown = " ".join(t.get_text() for t in texts)
        assert "$a^$" in shown or i >= 5, (i, shown)
        plt.close(fig)


# --------------------------------------------------------------------------- control characters


def test_control_characters_in_names_reach_the_workbook_escaped(tmp_path):
    names = {"001": "Bad\x00Name\x07", "101": "Esc\x1b[31m", "201": "Tab\tand\nline"}
    tiers = tiers_table(names=names)
    tiers["customer_name"] = tiers["customer_name"].astype(object)
    action_lists.write_action_lists(tiers, recommend(tiers), tmp_path, language="en")
    wb = openpyxl.load_workbook(tmp_path / action_lists.WORKBOOK_NAME)
    cells = {
        row[0]: row[1] for ws in wb.worksheets for row in ws.iter_rows(min_row=2, values_only=True)
    }
    assert cells["001"] == "Bad\ufffdName\ufffd"
    assert cells["101"] == "Esc\ufffd[31m"
    assert cells["201"] == "Tab\tand\nline"
    rows = pd.read_csv(
        tmp_path / action_lists.CSV_NAME, dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    by_id = dict(zip(rows["customer_id"], rows["customer_name"]))
    assert by_id["001"] == "Bad\x00Name\x07" and by_id["101"] == "Esc\x1b[31m"


def test_control_characters_in_data_do_not_break_the_tables(tmp_path):
    bell = "\x07"
    text = "customer_id,customer_name,order_date,amount,region\n" + "".join(
        f"C{i},Name{bell if i < 3 else ''}{i},2024-0{1 + i % 5}-{1 + i:02d},{100 * i},"
        f"R{bell if i == 4 else ''}{i % 2}\n"
        for i in range(1, 21)
    )
    (tmp_path / "d.csv").write_text(text, encoding="utf-8")
    p = params.validate(
        {
            "client": "X",
            "data": {"path": "d.csv", "attributes": ["region"]},
            "stats": {"n_boot": 100},
        },
        base_dir=tmp_path,
    )
    analysis, loaded = pipeline.run(p)
    out = tmp_path / "out"
    out.mkdir()
    written = outputs.write_tables(analysis, loaded, out)
    assert action_lists.WORKBOOK_NAME in written
    tiers = pd.read_csv(out / "tiers.csv", dtype=str, keep_default_na=False)
    assert set(tiers["customer_name"]) >= {"Name\x071", "Name\x072"}
    assert "R\x070" in set(tiers["region"])
    wb = openpyxl.load_workbook(out / action_lists.WORKBOOK_NAME)
    values = {v for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row}
    assert "Name\ufffd1" in values
