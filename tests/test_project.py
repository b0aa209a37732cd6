"""Project files stay consistent: environment.yml mirrors pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import ROOT


def _name(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _conda(path):
    env = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    have = dict(_name(s.split("#")[0]) for s in conda)
    have.pop("python")
    have.pop("pip")
    return env, have


def test_environment_yml_mirrors_pyproject():
    """environment.yml is the lean user environment (the runtime dependencies only);
    environment-dev.yml adds the dev, spark, value and analyst extras, and both install
    the project. JupyterLab is in the analyst extra, not a runtime dependency."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    runtime = dict(_name(s) for s in project["dependencies"])
    env, have = _conda("environment.yml")
    assert have == runtime
    assert env["dependencies"][-1] == {"pip": ["-e ."]}
    dev_env, dev_have = _conda("environment-dev.yml")
    assert "jupyterlab" not in runtime and "jupyterlab" in dict(map(_name, extras["analyst"]))
    extra = extras["dev"] + extras["spark"] + extras["value"] + extras["analyst"]
    assert dev_have == runtime | dict(_name(s) for s in extra)
    assert dev_env["dependencies"][-1] == {"pip": ["-e .[dev,spark,value,analyst]"]}
    assert env["name"] != dev_env["name"]


def test_notebook_defaults_match_demo_params():
    """The notebook's parameter defaults run on the demo data, like params/demo.yaml."""
    import ast

    import nbformat

    from tiering import params

    nb = nbformat.read(ROOT / "notebooks" / "tiering_report.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    defaults = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.AnnAssign):
            defaults[node.target.id] = ast.literal_eval(node.value)
    defaults.pop("analysis_path")
    assert defaults.pop("params_file") == ""  # empty by default
    defaults["title"] = defaults["title"] or None
    defaults["as_of"] = defaults["as_of"] or None
    from_nb = params.validate(defaults, base_dir=ROOT)
    from_yaml = params.load(ROOT / "params" / "demo.yaml")
    assert from_nb == from_yaml


def test_reading_a_file_loads_no_plotting_or_rendering_library():
    """The settings (tiering.params) and the loader (tiering.data.io, tiering.data.engines) are the
    base and data layers: reading a CSV imported matplotlib through params → migration →
    charts until the settings models moved into params."""
    import subprocess
    import sys

    code = (
        "import sys, tiering.params, tiering.data.io, tiering.data.engines; "
        "print(sorted(m for m in ('matplotlib', 'jinja2', 'nbconvert', 'weasyprint', "
        "'seaborn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert out == "[]", out


def test_licence_and_metadata():
    """The licence is an SPDX expression with its file (PEP 639; the table form is
    deprecated), and the package says it is typed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert meta["authors"] and "Typing :: Typed" in meta["classifiers"]
    assert (ROOT / "tiering" / "py.typed").is_file()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["tiering"]
