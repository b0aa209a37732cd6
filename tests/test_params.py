"""Parameter schema, YAML loading, overrides and error reporting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tiering import params
from tiering.errors import ParamsError

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_params_load_with_defaults():
    cfg = params.load(ROOT / "params" / "demo.yaml")
    assert cfg.client == "Demo Retail Co."
    assert cfg.data.path == (ROOT / "data" / "demo_transactions.csv").resolve()
    assert cfg.tiering.method == "abc"
    assert cfg.tiering.abc.cutoffs == [0.8, 0.95]
    assert cfg.stats.alpha == 0.05
    assert cfg.as_of is None


def test_relative_paths_resolve_against_the_params_folder(tmp_path):
    sub = tmp_path / "client"
    sub.mkdir()
    path = _write(sub, "data: {path: raw/tx.csv}\nstrategy: {playbook: pb.yaml}\n")
    cfg = params.load(path)
    assert cfg.data.path == (sub / "raw" / "tx.csv").resolve()
    assert cfg.strategy.playbook == (sub / "pb.yaml").resolve()


def test_dates_are_dates(tmp_path):
    cfg = params.load(
        _write(tmp_path, "data: {path: x.csv}\nas_of: 2011-12-10\nwindow: {start: 2011-01-01}\n")
    )
    assert cfg.as_of == dt.date(2011, 12, 10)
    assert cfg.window.start == dt.date(2011, 1, 1)


def test_every_problem_is_reported_at_once_with_key_paths_and_did_you_mean(tmp_path):
    path = _write(
        tmp_path,
        """
client: X
langauge: zh
data: {path: x.csv, colums: {}}
tiering: {methd: rfm, labels: [A], abc: {cutoffs: [0.9, 0.8]}}
stats: {metrics: [monetary, frequncy]}
""",
    )
    with pytest.raises(ParamsError) as info:
        params.load(path)
    problems = info.value.problems
    text = str(info.value)
    assert "'langauge' - did you mean 'language'?" in text
    assert "'data.colums' - did you mean 'data.columns'?" in text
    assert "'tiering.methd' - did you mean 'tiering.method'?" in text
    assert any(p.startswith("tiering.labels:") for p in problems)
    assert any(p.startswith("tiering.abc.cutoffs:") and "increasing" in p for p in problems)
    assert any("'frequncy'" in p and "did you mean 'frequency'" in p for p in problems)
    assert len(problems) == 6
    assert str(path) in text


def test_missing_data_path_is_reported():
    with pytest.raises(ParamsError) as info:
        params.validate({"client": "X"})
    assert info.value.problems == ["data: required, but missing"]


def test_injection_key_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    key = "x = 1\\nimport os; os.system('touch owned.txt')#"
    path = _write(tmp_path, f'data: {{path: x.csv}}\n"{key}": 1\n')
    with pytest.raises(ParamsError) as info:
        params.load(path)
    assert "not a valid parameter name" in str(info.value)
    assert not (tmp_path / "owned.txt").exists()


def test_abc_cutoffs_must_match_labels():
    with pytest.raises(ParamsError) as info:
        params.validate({"data": {"path": "x"}, "tiering": {"labels": ["A", "B", "C", "D"]}})
    assert "one cut-off fewer than labels" in str(info.value)
    cfg = params.validate(
        {
            "data": {"path": "x"},
            "tiering": {"labels": ["A", "B", "C", "D"], "abc": {"cutoffs": [0.5, 0.8, 0.95]}},
        }
    )
    assert cfg.tiering.labels == ["A", "B", "C", "D"]


def test_rfm_thresholds_checked():
    with pytest.raises(ParamsError, match="strictly decreasing"):
        params.validate(
            {"data": {"path": "x"}, "tiering": {"method": "rfm", "rfm": {"thresholds": [2.0, 4.0]}}}
        )


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: &x [1, 2]\nb: *x\n", "aliases"),
        ("client: A\nclient: B\n", "duplicate key"),
        ("- just\n- a list\n", "mapping"),
        ("client: [unclosed\n", "not valid YAML"),
    ],
)
def test_unsafe_or_malformed_yaml_is_refused(tmp_path, text, message):
    with pytest.raises(ParamsError, match=message):
        params.load(_write(tmp_path, text))


def test_yaml_tags_are_not_constructed(tmp_path):
    path = _write(tmp_path, "client: !!python/object/apply:os.system ['touch owned.txt']\n")
    with pytest.raises(ParamsError):
        params.load(path)
    assert not (tmp_path / "owned.txt").exists()


def test_oversized_file_refused(tmp_path):
    path = _write(tmp_path, "client: x\n" + "# padding\n" * 40_000)
    with pytest.raises(ParamsError, match="limited to"):
        params.load(path)


def test_overrides_by_dotted_path(tmp_path):
    path = _write(tmp_path, "data: {path: x.csv}\n")
    cfg = params.load(
        path,
        overrides=[
            "language=zh",
            "tiering.method=rfm",
            "tiering.abc.cutoffs=[0.7, 0.9]",
            "stats.alpha=0.01",
        ],
    )
    assert cfg.language == "zh"
    assert cfg.tiering.method == "rfm"
    assert cfg.tiering.abc.cutoffs == [0.7, 0.9]
    assert cfg.stats.alpha == 0.01


def test_bad_overrides_are_errors(tmp_path):
    path = _write(tmp_path, "data: {path: x.csv}\n")
    with pytest.raises(ParamsError, match="expected key.path=value"):
        params.load(path, overrides=["language"])
    with pytest.raises(ParamsError, match="did you mean 'language'"):
        params.load(path, overrides=["languag=zh"])
    with pytest.raises(ParamsError, match="'path' is not a section"):
        params.load(path, overrides=["data.path.name=x"])


def test_notebook_values_are_json_safe():
    cfg = params.validate({"data": {"path": "x.csv"}, "as_of": dt.date(2024, 1, 1)})
    values = cfg.to_notebook()
    assert set(values) == set(params.TOP_LEVEL_KEYS)
    assert values["as_of"] == "2024-01-01"
    assert isinstance(values["data"]["path"], str)


def test_slug_is_safe():
    assert params.slug("Demo Retail Co.") == "demo-retail-co"
    assert params.slug("../../etc/passwd") == "etc-passwd"
    assert params.slug("北京 客户") == "北京-客户"
    assert params.slug("...") == "client"
