"""The report's sentences on degenerate inputs (an empty tier, equal bounds, zero and
one counts), in both languages: the intended wording is there and the wrong one is gone."""

from __future__ import annotations

import dataclasses

import pytest

from tiering import params
from tiering.analysis import pipeline
from tiering.present import narrative

from .test_report import write_tiny_client

_RUNS: dict = {}


def tiny_analysis(tmp_path_factory, language: str, tiering: dict, *, customers: int = 40):
    """A small client (seeded) run through the pipeline with ``tiering``; the run is
    shared between languages (only the text changes)."""
    key = repr(sorted(tiering.items())) + str(customers)
    if key not in _RUNS:
        folder = tmp_path_factory.mktemp("tiny")
        write_tiny_client(folder, customers=customers)
        path = folder / "tx.csv"
        cfg = params.validate(
            {
                "data": {"path": str(path)},
                "as_of": "2025-01-01",
                "stats": {"n_boot": 100},
                "tiering": tiering,
            }
        )
        _RUNS[key] = pipeline.run(cfg)[0]
    a = _RUNS[key]
    return dataclasses.replace(a, params=a.params.model_copy(update={"language": language}))


# Every customer meets tier B's condition, so tier C (the rest) is empty.
EMPTY_C = {
    "method": "rules",
    "rules": {"conditions": [{"A": "monetary >= 1000"}, {"B": "monetary >= -1000000"}]},
}


@pytest.mark.parametrize(
    "language, empty, wrong",
    [
        (
            "en",
            "Tier C has no customers: the method&#x27;s cut-offs put every customer in a higher tier.",
            ["Tier C holds", "serve it at low cost"],
        ),
        (
            "zh",
            "C级没有客户：按当前方法的分级阈值，所有客户都被分入了更高等级。",
            ["C级客户占客户总数的", "应以低成本方式服务"],
        ),
    ],
)
def test_summary_says_an_empty_bottom_tier_is_empty(tmp_path_factory, language, empty, wrong):
    a = tiny_analysis(tmp_path_factory, language, EMPTY_C)
    assert a.tier_summary.iloc[-1]["customers"] == 0  # the input is the degenerate one
    html = narrative.section_summary(a)
    assert empty in html
    for text in wrong:
        assert text not in html


@pytest.mark.parametrize(
    "language, one, wrong",
    [
        (
            "en",
            [
                "Tier C has only one customer (fewer than 5)",
                "C tier has only one customer (fewer than 5), so it was left out of the statistical tests.",
                "has only one customer with a known",
                "has no customers with a known",
            ],
            ["only 1 customers", "only 0 customers"],
        ),
        ("zh", ["C级仅有1位客户（少于5位）", "仅有1位客户有", "没有客户有"], ["仅有0位客户"]),
    ],
)
def test_small_tier_notes_say_one_customer_and_none(language, one, wrong):
    import pandas as pd

    from tiering.present import methods, stats

    texts = [methods._warning("small_tier", {"tier": "C", "n": 1, "min": 5}, language)]
    for metric, n in (("", 1), ("recency_days", 1), ("recency_days", 0)):
        row = pd.Series({"group1": "C", "n1": n, "metric": metric})
        texts.append(stats._excluded_sentence(row, language, 5))
    text = " ".join(texts)
    for phrase in one:
        assert phrase in text, text
    for phrase in wrong:
        assert phrase not in text
