"""The report notebook run by papermill directly (issue 19): a parameter file given with
``-f`` works as it does for ``tiering report`` (its relative paths resolve against its
folder when ``params_file`` names it, else against the project folder, its ``params/``
folder or the working folder, wherever the path is), and a name papermill injects that is
not a parameter of the notebook (``-p langauge zh``) fails the run, naming it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from tiering import params
from tiering.errors import ParamsError

from .conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "tiering_report.ipynb"
DEMO_PARAMS = ROOT / "params" / "demo.yaml"
GOLDEN_TIERS = ROOT / "tests" / "golden" / "demo-en" / "tier_summary.csv"


def _tier_counts(executed: Path) -> list[tuple[str, int]]:
    """The customers per tier the executed notebook printed (its nbval check cell)."""
    nb = nbformat.read(executed, as_version=4)
    cell = next(c for c in nb.cells if "NBVAL_CHECK_OUTPUT" in c.source)
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream")
    header, *rows = text.split("\n")
    assert header.split() == ["tier", "customers"], text
    return [(r.split()[0], int(r.split()[1])) for r in rows if r.strip()]


def _golden_counts() -> list[tuple[str, int]]:
    with GOLDEN_TIERS.open(encoding="utf-8", newline="") as fh:
        return [(row["tier"], int(row["customers"])) for row in csv.DictReader(fh)]


def _execute(out: Path, parameters: dict, **kwargs):
    import papermill

    return papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        request_save_on_cell_execute=False,
        execution_timeout=600,
        **kwargs,
    )


def _project(tmp_path: Path) -> Path:
    """A project folder (pyproject.toml, params/, notebooks/) with data/tx.csv."""
    root = tmp_path.resolve() / "project"
    for sub in ("params", "notebooks", "data"):
        (root / sub).mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (root / "data" / "tx.csv").write_text("customer_id,order_date,amount\n", encoding="utf-8")
    return root


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_the_demo_parameter_file_through_papermills_api_from_another_folder(tmp_path, monkeypatch):
    """``-f params/demo.yaml -p params_file ...`` as papermill's Python API has it, run
    from a folder outside the project: the demo's tiers."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)  # the kernel's working folder
    parameters = yaml.safe_load(DEMO_PARAMS.read_text(encoding="utf-8"))
    parameters["params_file"] = os.path.relpath(DEMO_PARAMS, work)  # relative to the kernel's
    parameters["value"]["enabled"] = False  # the tiers do not need the value model's fit
    _execute(tmp_path / "out.ipynb", parameters)
    assert _tier_counts(tmp_path / "out.ipynb") == _golden_counts()


@pytest.mark.slow
def test_the_papermill_command_with_the_demo_parameter_file(tmp_path):
    """The issue's command, from the project folder, without params_file: the data path
    relative to params/ is found in the project's params/ folder."""
    out = tmp_path / "out.ipynb"
    run = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOK.relative_to(ROOT)), str(out)]
        + ["-f", "params/demo.yaml", "--no-progress-bar"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert _tier_counts(out) == _golden_counts()


def test_a_misspelt_papermill_parameter_fails_the_run_naming_it(tmp_path):
    """``-p langauge zh`` stops the run in the validation cell, before the analysis."""
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        _execute(tmp_path / "out.ipynb", {"langauge": "zh"})
    assert info.value.ename == "ParamsError"
    text = str(info.value)
    assert "'langauge' is not a parameter of the notebook" in text
    assert "did you mean 'language'?" in text
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    failed = next(
        c for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", []))
    )
    assert "refuse_undeclared(globals())" in failed.source
    counts = next(c for c in nb.cells if "NBVAL_CHECK_OUTPUT" in c.source)
    assert not counts.outputs  # the analysis did not run


def test_a_relative_path_found_nowhere_lists_the_folders_tried(tmp_path, monkeypatch):
    """The demo's values without params_file, outside any project: the data path is in
    none of the folders tried; the message names the folder and params_file, not "the
    folder of the parameter file"."""
    from papermill.exceptions import PapermillExecutionError

    monkeypatch.chdir(tmp_path)
    parameters = yaml.safe_load(DEMO_PARAMS.read_text(encoding="utf-8"))
    with pytest.raises(PapermillExecutionError) as info:
        _execute(tmp_path / "out.ipynb", parameters)
    text = str(info.value)
    assert "data.path: '../data/demo_transactions.csv' is in none of the folders" in text
    assert f"({tmp_path.resolve()})" in text and "params_file" in text
    assert "folder of the parameter file" not in text


@pytest.mark.slow
def test_jupyterlab_runs_and_reruns_the_validation_cell(tmp_path):
    """Top to bottom in a kernel started in notebooks/ as JupyterLab does, then the
    validation cell again after a cell of the user's own: no parameter is refused."""
    from nbclient import NotebookClient

    report = nbformat.read(NOTEBOOK, as_version=4)
    first, parameters, validation = report.cells[:3]
    nb = nbformat.v4.new_notebook(metadata=report.metadata)
    nb.cells = [
        first,
        parameters,
        validation,
        nbformat.v4.new_code_cell("mine = analysis.tier_summary"),
        nbformat.v4.new_code_cell(validation.source),
        nbformat.v4.new_code_cell("print(cfg.data.path)"),
    ]
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    assert nb.cells[-1].outputs[0].text.strip() == str(ROOT / "data" / "demo_transactions.csv")


# --------------------------------------------------------------------------- the parameters


def test_the_notebook_declares_the_parameters_refuse_undeclared_allows():
    """The parameters cell and :data:`tiering.params.NOTEBOOK_PARAMETERS` name the same
    parameters: a parameter added to one only would be refused, or pass unchecked."""
    import papermill

    declared = [p["name"] for p in papermill.inspect_notebook(str(NOTEBOOK)).values()]
    assert sorted(declared) == sorted(params.NOTEBOOK_PARAMETERS)
    assert len(params.NOTEBOOK_PARAMETERS) == len(set(params.NOTEBOOK_PARAMETERS))


def _namespace() -> dict:
    """Globals as the report notebook's first cell leaves them (IPython's own included)."""
    ns = {
        "__name__": "__main__",
        "In": [""],
        "Out": {},
        "get_ipython": print,
        "exit": object(),
        "validate": params.validate,
        "pipeline": types.ModuleType("pipeline"),
    }
    params.note_globals(ns)
    return ns


def test_refuse_undeclared_names_a_misspelt_parameter_with_a_suggestion():
    ns = _namespace()
    ns.update(language="zh", langauge="zh", client="Acme")  # papermill -p langauge zh
    with pytest.raises(ParamsError) as info:
        params.refuse_undeclared(ns)
    (problem,) = info.value.problems  # one problem: langauge
    assert problem.startswith("'langauge' is not a parameter of the notebook")
    assert "(did you mean 'language'?)" in problem
    assert all(name in problem for name in params.NOTEBOOK_PARAMETERS)
    assert "notebook parameters" in str(info.value)


def test_refuse_undeclared_sees_a_rebound_name_and_leaves_ipythons_alone():
    ns = _namespace()
    ns.update(_i3="x", _3=1, __=2, json=os, params_file="p.yaml", analysis_path="")
    ns["Out"][3] = 1  # the same objects, changed in place
    params.refuse_undeclared(ns)  # IPython's names, a module, parameters: nothing refused
    ns = _namespace()
    ns["validate"] = "rfm"  # papermill -p validate rfm rebinds an imported name
    with pytest.raises(ParamsError, match="'validate' is not a parameter"):
        params.refuse_undeclared(ns)


def test_refuse_undeclared_checks_once_per_run_and_keeps_refusing_until_fixed():
    ns = _namespace()
    ns["seed"] = 3
    params.refuse_undeclared(ns)
    ns["cfg"], ns["analysis"] = object(), object()  # what the validation cell sets
    params.refuse_undeclared(ns)  # its rerun: not checked again
    ns = _namespace()
    ns["langauge"] = "zh"
    for _ in range(2):  # a rerun of the failed cell fails again
        with pytest.raises(ParamsError, match="langauge"):
            params.refuse_undeclared(ns)
    params.refuse_undeclared({"langauge": "zh"})  # no note_globals: nothing to compare


def test_validate_tries_several_folders_and_takes_the_one_holding_the_path(tmp_path):
    root = _project(tmp_path)
    folders = [root, root / "params", tmp_path.resolve()]
    raw = {"data": {"path": "../data/tx.csv"}, "engine": {"cache_dir": "cache"}}
    cfg = params.validate(raw, base_dir=folders)
    assert cfg.data.path == root / "data" / "tx.csv"  # found in params/
    assert cfg.engine.cache_dir == root / "cache"  # created later: the first folder
    cfg = params.validate({"data": {"path": "data/tx.csv"}}, base_dir=[root, root])
    assert cfg.data.path == root / "data" / "tx.csv"  # one file, named twice


def test_validate_lists_the_folders_tried_for_a_path_found_nowhere(tmp_path):
    root = _project(tmp_path)
    folders = [root, root / "params"]
    raw = {"data": {"path": "missing.csv"}, "strategy": {"playbook": "playbook.yaml"}}
    with pytest.raises(ParamsError) as info:
        params.validate(raw, base_dir=folders, source="notebook parameters")
    data, playbook = info.value.problems  # both reported at once
    assert data.startswith("data.path: 'missing.csv' is in none of the folders")
    assert f"({root}, {root / 'params'})" in data and "params_file" in data
    assert playbook.startswith("strategy.playbook: 'playbook.yaml' is in none")
    assert "Invalid parameters in notebook parameters" in str(info.value)


def test_validate_refuses_a_path_that_names_a_file_in_two_folders(tmp_path):
    root, other = _project(tmp_path), tmp_path.resolve()
    (other / "data").mkdir()
    (other / "data" / "tx.csv").write_text("other\n", encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        params.validate({"data": {"path": "data/tx.csv"}}, base_dir=[root, other])
    (problem,) = info.value.problems
    assert "is in more than one of the folders" in problem
    assert str(root / "data" / "tx.csv") in problem and str(other / "data" / "tx.csv") in problem


def test_validate_with_a_folder_does_not_look_for_the_files(tmp_path):
    """`tiering report` and parameter files: a folder, not a list, and no look-up (a
    missing data file is the loader's error, with its own message); a list of one folder
    (the notebook's params_file) is looked up."""
    cfg = params.validate({"data": {"path": "missing.csv"}}, base_dir=tmp_path)
    assert cfg.data.path == tmp_path.resolve() / "missing.csv"
    cfg = params.validate({"data": {"path": "missing.csv"}}, base_dir=str(tmp_path))
    assert cfg.data.path == tmp_path.resolve() / "missing.csv"
    with pytest.raises(ParamsError, match=r"in none of the folders .*params_file"):
        params.validate({"data": {"path": "missing.csv"}}, base_dir=[tmp_path])


def test_notebook_folders_without_params_file(tmp_path, monkeypatch):
    root = _project(tmp_path)
    monkeypatch.chdir(root / "notebooks")  # JupyterLab
    assert params.notebook_folders() == [root, root / "params", root / "notebooks"]
    monkeypatch.chdir(root)  # papermill from the project folder
    assert params.notebook_folders("") == [root, root / "params"]
    outside = tmp_path.resolve() / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)  # no project here
    assert params.notebook_folders() == [outside]


def test_notebook_folders_with_params_file(tmp_path, monkeypatch):
    root = _project(tmp_path)
    (root / "params" / "client.yaml").write_text("client: X\n", encoding="utf-8")
    monkeypatch.chdir(root)
    assert params.notebook_folders("params/client.yaml") == [root / "params"]
    monkeypatch.chdir(root / "notebooks")  # JupyterLab: relative to the project folder too
    assert params.notebook_folders("params/client.yaml") == [root / "params"]
    assert params.notebook_folders(root / "params" / "client.yaml") == [root / "params"]
    with pytest.raises(ParamsError) as info:
        params.notebook_folders("params/clinet.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("params_file: no file 'params/clinet.yaml'")
    assert str(root / "notebooks" / "params" / "clinet.yaml") in problem
    assert str(root / "params" / "clinet.yaml") in problem
