"""A tiering method is registered in one place (issue 17): a method of one's own, written
inside the test, is validated, fitted, compared, explained and reported with no file of
the package changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tiering import params, plugins
from tiering.analysis import methods
from tiering.errors import ParamsError, TieringError
from tiering.params import MethodOptions

from .conftest import ROOT, install_plugin

# The plugin: a complete tiering method in one module (tiers by number of orders).
TOY_SOURCE = '''
import numpy as np
import pandas as pd
from pydantic import Field

from tiering.analysis.methods import Method
from tiering.analysis.methods.base import check_features, finish
from tiering.params import MethodOptions


class OrdersOptions(MethodOptions):
    """min_orders: the fewest orders of each tier but the last, best first."""

    min_orders: list[int] = Field(default_factory=lambda: [5, 2])

    def check(self, labels):
        if len(self.min_orders) != len(labels) - 1:
            return [f"orders.min_orders needs {len(labels) - 1} values for {len(labels)} labels"]
        return []


def fit(features, spec, *, seed=0):
    opts = spec.options("orders")
    labels = list(spec.labels)
    check_features(features, ["frequency"], "orders", tiers=len(labels))
    freq = features["frequency"].to_numpy()
    bounds = np.asarray(opts.min_orders)
    rank = 1 + (freq[:, None] < bounds[None, :]).sum(axis=1)
    rules = [f"at least {b} orders" for b in opts.min_orders] + ["the rest"]
    thresholds = pd.DataFrame({"tier": labels, "tier_rank": range(1, len(labels) + 1),
                               "rule": rules})
    return finish(features, rank, labels, {}, method="orders", thresholds=thresholds,
                  params={"min_orders": list(opts.min_orders), "top": int(opts.min_orders[0])})


ORDERS = Method(
    name="orders", fit=fit, options=OrdersOptions, data_driven=False,
    texts={"name": {"en": "Order-count tiers", "zh": "按订单数分级"},
           "short": {"en": "Orders", "zh": "订单数"},
           "lead": {"en": "Customers with {top} orders or more form the top tier.",
                    "zh": "订单数不少于{top}笔的客户为最高级。"}})
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The plugin installed for this process and every child process (the report's
    kernel): its module and an entry point in ``tiering.methods`` on PYTHONPATH."""
    site = install_plugin(
        tmp_path,
        monkeypatch,
        module="toy_orders",
        source=TOY_SOURCE,
        group="tiering.methods",
        entry="orders = toy_orders:ORDERS",
    )
    monkeypatch.setattr(plugins, "_registered", {})
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    yield site
    sys.modules.pop("toy_orders", None)  # imported during the test


def _features(frequencies):
    n = len(frequencies)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(n)],
            "frequency": frequencies,
            "monetary": np.linspace(1000, 10, n),
            "recency_days": np.arange(n) + 1,
        }
    )


def test_the_built_in_methods_are_the_parameter_schema_s_methods():
    assert (
        tuple(methods.BUILTIN)
        == params.BUILTIN_METHODS
        == ("abc", "rfm", "score", "cluster", "rules")
    )
    for name, method in methods.BUILTIN.items():
        assert method.options is type(getattr(params.TieringSpec(), name))
        assert callable(method.fit)


def test_a_method_added_in_a_notebook_is_validated_and_fitted(monkeypatch):
    monkeypatch.setattr(plugins, "_registered", {})
    monkeypatch.setattr(plugins, "_entry_points_loaded", True)

    class Halves(MethodOptions):
        column: str = "monetary"

    def fit(features, spec, *, seed=0):
        col = spec.options().column
        top = features[col] >= features[col].median()
        th = pd.DataFrame(
            {"tier": list(spec.labels), "tier_rank": [1, 2], "rule": ["upper half", "lower half"]}
        )
        return methods.finish(
            features,
            np.where(top, 1, 2),
            spec.labels,
            {},
            method="halves",
            thresholds=th,
            params={"column": col},
        )

    with pytest.raises(Exception, match="unknown tiering method 'halves'"):
        params.TieringSpec(method="halves")
    methods.register(methods.Method(name="halves", fit=fit, options=Halves, data_driven=True))
    spec = params.TieringSpec(
        method="halves",
        labels=["Top", "Rest"],
        halves={"column": "frequency"},
        compare_with=["abc"],
        abc={"cutoffs": [0.8]},
    )
    assert spec.options().column == "frequency"
    assert spec.model_dump()["halves"] == {"column": "frequency"}  # dumped under its name
    assert params.TieringSpec(**spec.model_dump()) == spec  # and read back
    with pytest.raises(
        ParamsError,
        match=r"unknown parameter 'tiering.halves.colum' - did "
        r"you mean 'tiering.halves.column'\?",
    ):
        params.validate(
            {"data": {"path": "x.csv"}, "tiering": {"method": "halves", "halves": {"colum": "x"}}}
        )
    f = _features([1, 9, 3, 7, 5, 2])
    res = methods.fit(f, spec)
    assert res.assignments["tier"].tolist() == ["Rest", "Top", "Rest", "Top", "Top", "Rest"]
    comparison = methods.compare_methods(f, spec, result=res)
    assert comparison.others == ("abc",)
    # data-driven without a bootstrap: no stability table rather than a wrong one
    assert methods.stability(f, spec, result=res) is None


def test_a_plugin_cannot_take_a_reserved_name(monkeypatch):
    monkeypatch.setattr(plugins, "_registered", {})
    monkeypatch.setattr(plugins, "_entry_points_loaded", True)
    fake = methods.Method(name="labels", fit=lambda *a, **k: None, options=MethodOptions)
    methods.register(fake)
    with pytest.raises(TieringError, match="reserved name: labels"):
        params.method_names()


def test_an_entry_point_method_is_found_without_registering(toy):
    spec = params.TieringSpec(
        method="orders", labels=["A", "B", "C"], orders={"min_orders": [4, 2]}
    )
    res = methods.fit(_features([1, 2, 3, 4, 5, 6]), spec)
    assert res.assignments["tier"].tolist() == ["C", "B", "B", "A", "A", "A"]
    assert not methods.is_data_driven(spec)
    with pytest.raises(Exception, match="orders.min_orders needs 2 values for 3 labels"):
        params.TieringSpec(method="orders", orders={"min_orders": [4]})
    # a child process finds it too (the report notebook's kernel is one)
    out = subprocess.run(
        [sys.executable, "-c", "from tiering import params; print(params.method_names())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "'orders'" in out.stdout


@pytest.mark.slow
def test_a_report_is_built_with_a_method_registered_in_the_test(toy, tmp_path):
    from tiering import cli

    cfg = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text(encoding="utf-8"))
    cfg["data"]["path"] = str(ROOT / "data" / "demo_transactions.csv")
    for second in ("customers", "campaigns"):  # the demo's master and campaign files
        cfg["data"][second]["path"] = str(ROOT / "data" / Path(cfg["data"][second]["path"]).name)
    cfg["tiering"] = {
        "method": "orders",
        "labels": ["A", "B", "C"],
        "orders": {"min_orders": [8, 3]},
        "compare_with": ["abc"],
    }
    cfg["value"]["enabled"] = False  # not about the value model: a third faster
    path = tmp_path / "orders.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["report", str(path), "--output", str(out)]) == 0
    tiers = pd.read_csv(out / "tiers.csv", dtype={"customer_id": str})
    expected = np.where(tiers["frequency"] >= 8, "A", np.where(tiers["frequency"] >= 3, "B", "C"))
    assert (tiers["tier"].to_numpy() == expected).all()
    text = subprocess.run(
        ["pdftotext", "-layout", str(out / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Customer tiers by Order-count tiers" in text  # the cover subtitle
    assert "Customers with 8 orders or more form the top tier." in text
    assert "at least 8 orders" in text and "at least 3 orders" in text  # tier definitions
    assert "Orders" in text and "ABC" in text  # the comparison names both
    manifest = yaml.safe_load((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["tiering"]["orders"] == {"min_orders": [8, 3]}
