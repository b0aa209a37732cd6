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
