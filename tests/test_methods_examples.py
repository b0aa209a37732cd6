"""Every example parameter file (one per method) builds a full report whose method
section explains the method, compares it with the others named in compare_with and,
for data-driven methods, shows the stability table.

Needs the pipeline to store ``compare_methods`` / ``stability`` in
``analysis.method_comparison`` / ``analysis.stability`` and the cover to take the method subtitle from
``tiering.present.methods.method_subtitle`` (see the issue-3 note to the lead).
"""

from __future__ import annotations

import pytest

from tiering import params
from tiering.analysis import methods
from tiering.build import report
from tiering.present.i18n import t

from .conftest import ROOT

EXAMPLES = ROOT / "params" / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("method", list(methods.BUILTIN))
def test_example_builds_a_full_report(method, tmp_path):
    path = EXAMPLES / f"{method}.yaml"
    cfg = params.load(path, overrides=["stats.n_boot=200"])
    folder = report.build(cfg, output=tmp_path / method, params_path=path)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert (folder / "report.pdf").stat().st_size > 10_000
    assert 'id="sec-method"' in html
    assert t(f"methods.subtitle_{method}", "en") in html
    assert t("methods.h_comparison", "en") in html
    for other in cfg.tiering.compare_with:
        assert t(f"methods.short_{other}", "en") in html
    if methods.is_data_driven(cfg.tiering):
        assert t("methods.col_unchanged", "en") in html
    else:
        assert t("methods.stability_fixed", "en") in html


#: Examples over the customer master (issue 21): file -> (method, master columns the
#: method reads, what the report's method section must name).
MASTER_EXAMPLES = {
    "value_model": (
        "score",
        ["tenure_months", "referrals", "credit_score", "overdue_days"],
        ["methods.subtitle_score"],
    ),
    "credit_hold": ("rules", ["overdue_days", "list_status"], ["methods.subtitle_rules"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MASTER_EXAMPLES))
def test_master_example_builds_a_full_report(name, tmp_path):
    """The value-model and credit-hold examples read data/demo_customers.csv, tier on
    its columns and build every output; the method section names the master's columns
    in the report language."""
    import pandas as pd

    method, columns, keys = MASTER_EXAMPLES[name]
    path = EXAMPLES / f"{name}.yaml"
    cfg = params.load(path, overrides=["stats.n_boot=200"])
    assert cfg.tiering.method == method
    assert cfg.data.customers is not None and cfg.data.customers.path.is_file()
    folder = report.build(cfg, output=tmp_path / name, params_path=path)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert (folder / "report.pdf").stat().st_size > 10_000
    assert 'id="sec-method"' in html
    for key in keys:
        assert t(key, "en") in html
    tiers = pd.read_csv(folder / "tiers.csv", dtype={"customer_id": str})
    assert set(columns) <= set(tiers.columns)
    assert int(tiers["in_master"].sum()) == 2995  # the demo master's planted matches
    if method == "score":
        for column in columns:  # criteria shown by their display names
            assert t(f"metrics.{column}", "en") in html
    else:
        held = tiers[tiers["tier"] == "Credit hold"]
        assert len(held) == 17
        assert ((held["overdue_days"] > 90) | (held["list_status"] == "black")).all()
