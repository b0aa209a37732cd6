"""The "method and thresholds" report section, in English and Chinese, for every method,
with the method comparison and the stability table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re

import numpy as np
import pytest

from tiering import params
from tiering.analysis import methods, pipeline
from tiering.params import RFM_SEGMENTS
from tiering.present import methods as method_report
from tiering.present.i18n import t

from .conftest import ONLINE_RETAIL, ROOT

EXAMPLES = ROOT / "params" / "examples"
METHOD_OPTIONS = {
    "abc": {"abc": {"cutoffs": [0.7, 0.9]}},
    "rfm": {"rfm": {"tier_by": "segment"}},
    "score": {
        "score": {
            "criteria": [
                {"column": "monetary", "weight": 3},
                {"column": "recency_days", "direction": "lower"},
            ],
            "shares": [0.25, 0.25, 0.5],
        }
    },
    "cluster": {},
    "rules": {
        "rules": {
            "conditions": [
                {"A": "monetary >= 1000 and frequency >= 4"},
                {"B": 'monetary >= 300 or region == "N"'},
            ]
        }
    },
}


@pytest.fixture(scope="module")
def client_csv(tmp_path_factory):
    """A small client: 90 customers, a few orders each, one attribute."""
    rng = np.random.default_rng(11)
    lines = ["order_id,order_date,customer_id,region,amount"]
    n = 0
    for c in range(90):
        spend = float(rng.lognormal(5, 1))
        last = int(rng.integers(0, 365))
        for _ in range(int(rng.integers(1, 9))):
            n += 1
            day = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(0, last + 1)))
            lines.append(
                f"O{n:05d},{day.isoformat()},C{c:03d},{'NSEW'[c % 4]},"
                f"{spend * rng.uniform(0.5, 1.5):.2f}"
            )
    path = tmp_path_factory.mktemp("client") / "tx.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_RUNS: dict = {}  # one pipeline run per parameter set; the language only changes the text


def _analysis(
    csv,
    method,
    *,
    language="en",
    labels=("A", "B", "C"),
    compare_with=(),
    min_size=5,
    extras=True,
    options=None,
):
    cfg = params.validate(
        {
            "data": {"path": str(csv), "attributes": ["region"]},
            "as_of": "2025-01-01",
            "language": language,
            "stats": {"n_boot": 100},
            "tiering": {
                "method": method,
                "labels": list(labels),
                "min_tier_size": min_size,
                "compare_with": list(compare_with),
                **(options or METHOD_OPTIONS[method]),
            },
        }
    )
    key = cfg.model_copy(update={"language": "en"}).model_dump_json()
    if key not in _RUNS:
        _RUNS[key] = pipeline.run(cfg.model_copy(update={"language": "en"}))[0]
    a = _RUNS[key]
    a = dataclasses.replace(a, params=a.params.model_copy(update={"language": language}))
    if not extras:
        return a
    feats = a.tiers.drop(columns=["tier", "tier_rank"])
    res = methods.fit(feats, cfg.tiering, seed=cfg.seed)
    return dataclasses.replace(
        a,
        stability=methods.stability(feats, cfg.tiering, n_boot=10, seed=0, result=res),
        method_comparison=methods.compare_methods(feats, cfg.tiering, seed=0, result=res),
        warnings=tuple(res.warnings) + tuple(a.warnings),
    )


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


# words a Chinese report may contain: method and statistic names, authors, our column
# names inside rule expressions, tier labels
ALLOWED_LATIN = {
    "ABC",
    "RFM",
    "FM",
    "R",
    "F",
    "M",
    "k",
    "kappa",
    "Ultsch",
    "Lötsch",
    "Landis",
    "Koch",
    "A",
    "B",
    "C",
    "monetary",
    "frequency",
    "region",
    "N",
    "or",
    "and",
}


@pytest.mark.parametrize("method", list(METHOD_OPTIONS))
def test_section_in_english_and_chinese(client_csv, method):
    others = [m for m in ("abc", "rfm") if m != method][:1]
    for lang in ("en", "zh"):
        a = _analysis(client_csv, method, language=lang, compare_with=others)
        out = method_report.section_method(a) + method_report.appendix_stability(a)
        text = _text(out)
        assert 'id="sec-method"' in out
        assert t("methods.h_comparison", lang) in text
        assert t(f"methods.short_{others[0]}", lang) in text
        if methods.is_data_driven(a.params.tiering):
            assert t("methods.h_stability", lang) in text and "%" in text
        else:
            assert t("methods.stability_fixed", lang) in text
        if lang == "zh":
            latin = set(re.findall(r"[A-Za-zö]+", text))
            assert latin <= ALLOWED_LATIN, latin - ALLOWED_LATIN
        # every tier appears with its customer count
        for r in a.tier_summary.itertuples():
            assert f">{r.tier}<" in out and f"{r.customers:,}" in text


def test_abc_section_shows_the_actual_cutoffs(client_csv):
    out = _text(method_report.section_method(_analysis(client_csv, "abc", extras=False)))
    assert "Cumulative share of value 0% to 70%" in out
    assert "Cumulative share of value 70% to 90%" in out


def test_rfm_section_shows_segments_and_their_tiers(client_csv):
    a = _analysis(client_csv, "rfm", extras=False)
    out = method_report.section_method(a)
    text = _text(out)
    for s in RFM_SEGMENTS:
        assert t(f"methods.segment_{s}", "en") in text
    # champions map to A by default: the Champions row carries an A badge
    row = re.search(r"<tr><td>Champions</td>.*?</tr>", out).group(0)
    assert ">A</span>" in row
    counts = a.tiers["segment"].value_counts()
    assert f">{counts['champions']:,}<" in row
    zh = _text(
        method_report.section_method(_analysis(client_csv, "rfm", language="zh", extras=False))
    )
    assert "冠军客户" in zh and "重要挽留客户" in zh


def test_score_and_cluster_sections_show_their_settings(client_csv):
    score_text = _text(method_report.section_method(_analysis(client_csv, "score", extras=False)))
    assert "75%" in score_text and "25%" in score_text  # weights 3:1
    assert "lower is better" in score_text
    assert "Customers ranked 0% to 25% by value score" in score_text
    cl = _analysis(client_csv, "cluster", extras=False)
    cl_text = _text(method_report.section_method(cl))
    assert "seed 0" in cl_text and "Cluster centre: Days since last purchase" in cl_text


def test_rules_are_escaped_and_warnings_shown(client_csv):
    rules = {
        "rules": {
            "conditions": [
                {"<b>": "monetary >= 1000 and frequency >= 4"},
                {"B": 'monetary >= 300 or region == "N"'},
            ]
        }
    }
    a = _analysis(
        client_csv, "rules", labels=("<b>", "B", "C"), min_size=40, extras=False, options=rules
    )
    out = method_report.section_method(a)
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert "monetary &gt;= 1000 and frequency &gt;= 4" in out
    assert "region == &quot;N&quot;" in out
    assert "fewer than 40" in _text(out)  # the small-tier warning


def test_stability_note_for_fixed_cutoffs_and_unstable_tiers(client_csv):
    a = _analysis(client_csv, "abc", extras=False)
    out = method_report.stability_html(a, None, "en")
    assert t("methods.stability_fixed", "en") in _text(out)
    st = methods.stability(a.tiers.drop(columns=["tier", "tier_rank"]), a.params.tiering, n_boot=5)
    st.loc[1, "unchanged_share"] = 0.5
    text = _text(method_report.stability_html(a, st, "en"))
    assert "Tier B: only 50.0% of its customers keep their tier" in text


def test_every_built_in_method_has_its_texts_in_the_catalogue():
    """One name per method, in every language: the catalogue keys methods.<part>_<name>
    (no second list of names elsewhere)."""
    from tiering.present.i18n import _catalogue

    for m in methods.BUILTIN:
        for part in ("name", "short", "subtitle", "method"):
            entry = _catalogue()[f"methods.{part}_{m}"]
            assert set(entry) == {"en", "zh"} and all(entry.values()), (m, part)
    keys = {
        k
        for k in _catalogue()
        if k.startswith(("methods.name_", "methods.short_", "methods.subtitle_"))
    }
    named = {k.split("_", 1)[1] for k in keys} - {"generic"}
    assert named == set(methods.BUILTIN)
    assert not [k for k in _catalogue() if "method_name_" in k]


def test_example_parameter_files():
    for m in methods.BUILTIN:
        cfg = params.load(EXAMPLES / f"{m}.yaml")
        assert cfg.tiering.method == m
        assert cfg.data.path.is_file()
        assert cfg.tiering.compare_with


@pytest.mark.realdata
@pytest.mark.slow
def test_online_retail_rfm_segments_and_mapping():
    if not ONLINE_RETAIL.exists():
        pytest.skip("the Online Retail data set is not in ../shared/datasets")
    cfg = params.load(
        EXAMPLES / "online_retail.yaml",
        overrides=["tiering.method=rfm", "tiering.rfm.tier_by=segment", "stats.n_boot=100"],
    )
    a, _ = pipeline.run(cfg)
    out = method_report.section_method(a)
    text = _text(out)
    counts = a.tiers["segment"].value_counts()
    assert counts.sum() == len(a.tiers) and (counts > 0).all()
    for s in RFM_SEGMENTS:
        assert t(f"methods.segment_{s}", "en") in text
    mapping = a.tiering_params["segment_tiers"]
    assert mapping["A"] == ["champions", "loyal", "cant_lose"]
    # tier sizes are the sums of their segments
    for lab, segs in mapping.items():
        assert int((a.tiers["tier"] == lab).sum()) == int(counts[segs].sum())
