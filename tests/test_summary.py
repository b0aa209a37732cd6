"""The executive summary and the sentences around it (issue 19): what the data could have
contradicted comes first, the by-construction fact is worded from the method used,
intervals with equal bounds, unused rows, customers of the file that are not tiered,
and money in the playbook in the report's currency. Both languages."""

from __future__ import annotations

import dataclasses
import html
import re

import pandas as pd
import pytest

from tiering import params
from tiering.analysis import pipeline
from tiering.analysis.methods import Method, built_from
from tiering.present import narrative, stats
from tiering.present.htmlkit import ci_text
from tiering.present.strategy_text import fill_money, money_fields, nice_threshold, tier_strategies

from .test_narrative import tiny_analysis


def _items(fragment: str) -> list[str]:
    return [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", fragment, flags=re.S)]


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _lang(a, language):
    return dataclasses.replace(a, params=a.params.model_copy(update={"language": language}))


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    "low, high, language, expected",
    [
        ("3.8", "4.4", "en", "3.8–4.4"),
        ("2.3", "2.3", "en", "2.3 at both ends"),
        ("2.3", "2.3", "zh", "2.3（上下限相同）"),
        ("0.77", "1.35", "zh", "0.77–1.35"),
    ],
)
def test_interval_text(low, high, language, expected):
    assert ci_text(low, high, language) == expected


def test_a_finding_with_a_zero_width_interval_states_one_value(tmp_path_factory):
    """Orders per customer are whole numbers: every bootstrap median ratio of two tiers
    whose orders are all equal is the same, so the interval has no width."""
    a = tiny_analysis(tmp_path_factory, "en", {"method": "abc"})
    findings = a.comparison.findings.copy()
    row = findings.index[findings["kind"] == "ratio"][0]
    findings.loc[row, ["ratio", "ratio_ci_low", "ratio_ci_high"]] = [2.0, 2.0, 2.0]
    findings.loc[row, "meaningful"] = True
    comparison = dataclasses.replace(a.comparison, findings=findings.loc[[row]])
    (en,) = stats.describe_findings(comparison, language="en")
    (zh,) = stats.describe_findings(comparison, language="zh")
    assert "(95% CI 2.0 at both ends)" in en and "2.0–2.0" not in en
    assert "95%置信区间 2.0（上下限相同）" in zh and "2.0–2.0" not in zh


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    "tiering, expected_en, expected_zh",
    [
        (
            {"method": "abc"},
            "The tiers are built from net spend, so they differ in it by construction; the "
            "differences in orders, days since last purchase, average order value and customer "
            "tenure (days) show",
            "本次分级依据净消费金额划分，等级之间在该指标上必然存在差异；购买次数、距最近购买天数、"
            "客单价和客户时长（天）上的差异",
        ),
        (
            {"method": "rfm"},
            "The tiers are built from days since last purchase, orders and net spend, so they "
            "differ in these by construction; the differences in average order value and "
            "customer tenure (days) show",
            "本次分级依据距最近购买天数、购买次数和净消费金额划分，等级之间在这些指标上必然存在差异；"
            "客单价和客户时长（天）上的差异",
        ),
        (
            {"method": "rules", "rules": {"conditions": [{"A": "frequency >= 5"}]}},
            "The tiers are built from orders, so they differ in it by construction; the "
            "differences in net spend, days since last purchase, average order value and "
            "customer tenure (days) show",
            "本次分级依据购买次数划分",
        ),
    ],
)
def test_the_by_construction_note_names_what_the_method_used(
    tmp_path_factory, tiering, expected_en, expected_zh
):
    a = tiny_analysis(tmp_path_factory, "en", tiering)
    assert expected_en in stats.caveat_text(a, "en")
    assert expected_zh in stats.caveat_text(a, "zh")
    page = stats.section_stats(a)
    assert "Tiers built from spend differ in spend" not in _text(page)


def test_built_from_of_each_builtin_method():
    assert built_from("abc", {"value": "monetary"}) == ("monetary",)
    assert built_from("rfm", {}) == ("recency_days", "frequency", "monetary")
    assert built_from("score", {"criteria": [{"column": "aov"}, {"column": "frequency"}]}) == (
        "aov",
        "frequency",
    )
    assert built_from("cluster", {"features": ["frequency", "monetary"], "value": "monetary"}) == (
        "frequency",
        "monetary",
    )
    conditions = [{"when": "monetary >= 100 and region == 'N'"}, {"when": "frequency > 2"}]
    assert built_from("rules", {"conditions": conditions}) == ("monetary", "region", "frequency")
    assert built_from("no-such-method", {}) is None


def test_a_method_that_does_not_say_gets_the_general_note(tmp_path_factory, monkeypatch):
    a = tiny_analysis(tmp_path_factory, "en", {"method": "abc"})
    from tiering.analysis.methods import registry

    quiet = dataclasses.replace(registry.BUILTIN["abc"], built_from=None)
    monkeypatch.setitem(registry.BUILTIN, "abc", quiet)
    assert isinstance(quiet, Method)
    text = stats.caveat_text(a, "en")
    assert text.startswith("Tiers differ by construction in whatever the method (ABC")
    assert "等级在分级方法（" in stats.caveat_text(a, "zh")


def test_when_every_measure_is_a_basis_the_note_says_so(tmp_path_factory):
    a = tiny_analysis(tmp_path_factory, "en", {"method": "abc"})
    findings = a.comparison.findings
    only = dataclasses.replace(a.comparison, findings=findings[findings["metric"] == "monetary"])
    b = dataclasses.replace(a, comparison=only)
    assert stats.caveat_text(b, "en") == (
        "The tiers are built from net spend: every measure compared here is one of them, so "
        "these differences hold by construction and say nothing beyond the method."
    )


# --------------------------------------------------------------------------- summary order


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_summary_leads_with_what_the_data_could_contradict(tmp_path_factory, language):
    a = tiny_analysis(tmp_path_factory, language, {"method": "abc"})
    items = _items(narrative.section_summary(a))
    marker = "This holds by construction" if language == "en" else "这是分级方法的必然结果"
    built = [i for i, x in enumerate(items) if marker in x]
    assert len(built) == 1, items
    spend = "net spend" if language == "en" else "净消费金额"
    # every finding before the by-construction one is about something else than spend
    assert built[0] >= 1
    for x in items[: built[0]]:
        assert spend not in x.split("(")[0], x
    assert spend in items[built[0]]
    if a.holdout is not None:  # the holdout check, when it ran, comes first
        assert ("lift" in items[0]) or ("提升度" in items[0])


# --------------------------------------------------------------------------- unused rows


def _with_unused(a, rejected: int, read: int):
    source = dict(a.source, rows_read=read, rows_rejected=rejected, rows_used=read - rejected)
    quality = pd.DataFrame(
        {
            "reason": ["missing_customer_id", "zero_amount"],
            "category": ["invalid", "excluded"],
            "description": ["", ""],
            "rows": [rejected - 10, 10],
        }
    )
    return dataclasses.replace(a, source=source, quality=quality)


@pytest.mark.parametrize(
    "language, expected",
    [
        (
            "en",
            "250 of 1,000 input rows (25.0%) could not be used, most for this reason: customer "
            "ID is blank (240 rows); every one is listed in rejected_rows.csv",
        ),
        ("zh", "输入数据1,000行中有250行（25.0%）无法使用，主要原因："),
    ],
)
def test_more_than_a_tenth_of_rows_unused_is_in_the_summary(tmp_path_factory, language, expected):
    a = _with_unused(tiny_analysis(tmp_path_factory, language, {"method": "abc"}), 250, 1000)
    items = _items(narrative.section_summary(a))
    assert any(expected in x for x in items), items


def test_a_tenth_or_less_unused_stays_in_the_data_section(tmp_path_factory):
    a = _with_unused(tiny_analysis(tmp_path_factory, "en", {"method": "abc"}), 100, 1000)
    assert not any("could not be used" in x for x in _items(narrative.section_summary(a)))


# --------------------------------------------------------------------------- untiered


def _client_with_silent_customers(folder):
    """Four customers who bought, one whose only rows are zero amounts, one whose only
    row is after the as-of date, and two rows without a customer."""
    rows = ["order_id,order_date,customer_id,amount"]
    for i, c in enumerate(["C1", "C2", "C3", "C4"] * 3):
        rows.append(f"O{i},2024-0{1 + i % 9}-10,{c},{100 + 37 * i}.00")
    rows += [
        "Z1,2024-03-01,C5,0",
        "Z2,2024-04-01,C5,0.00",
        "L1,2025-02-01,C6,50.00",
        "M1,2024-05-01,,80.00",
        "M2,2024-05-02,NULL,90.00",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tx.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_customers_of_the_file_that_are_not_tiered_are_counted(tmp_path, engine):
    path = _client_with_silent_customers(tmp_path / "client")
    cfg = params.validate(
        {
            "data": {"path": str(path)},
            "as_of": "2025-01-01",
            "stats": {"n_boot": 100, "holdout_months": 0},
            "migration": {"period": "none"},
            "tiering": {"method": "abc", "labels": ["A", "B"], "abc": {"cutoffs": [0.8]}},
            "engine": {"engine": engine},
        }
    )
    a, _ = pipeline.run(cfg, rejected_path=tmp_path / "rejected.csv")
    found = a.source["untiered_customers"]
    assert found["customers"] == 2 and found["ids_in_file"] == 6
    assert found["reason"] in ("after_as_of", "zero_amount") and found["reason_customers"] == 1
    page = _text(narrative.section_data(a))
    assert "The file names 6 customers; 2 of them have no usable row" in page
    assert "so 4 customers are tiered" in page
    assert "4 (of 6 in the file)" in page
    zh = _text(narrative.section_data(_lang(a, "zh")))
    assert "文件中共有6位客户，其中2位没有任何可用的数据行" in zh


def test_one_untiered_customer_reads_singular(tmp_path_factory):
    a = tiny_analysis(tmp_path_factory, "en", {"method": "abc"})
    n = len(a.tiers)
    source = dict(
        a.source,
        untiered_customers={
            "customers": 1,
            "ids_in_file": n + 1,
            "reason": "zero_amount",
            "reason_customers": 1,
        },
    )
    b = dataclasses.replace(a, source=source)
    page = _text(narrative.section_data(b))
    assert f"The file names {n + 1} customers; one of them has no usable row" in page
    assert "Its rows are listed" in page and "1 of them" not in page
    zh = _text(narrative.section_data(_lang(b, "zh")))
    assert "其中1位没有任何可用的数据行" in zh and "该客户的数据行" in zh


def test_every_customer_tiered_says_nothing_extra(tmp_path_factory):
    a = tiny_analysis(tmp_path_factory, "en", {"method": "abc"})
    assert a.source["untiered_customers"]["customers"] == 0
    assert "no usable row" not in _text(narrative.section_data(a))


# --------------------------------------------------------------------------- playbook money


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 1),
        (1, 1),
        (1.5, 2),
        (2, 2),
        (2.01, 5),
        (180, 200),
        (201, 500),
        (999, 1000),
        (1001, 2000),
    ],
)
def test_nice_threshold(value, expected):
    assert nice_threshold(value) == expected


def _summary(aov):
    return pd.DataFrame(
        {
            "tier": ["A", "B", "C"],
            "tier_rank": [1, 2, 3],
            "customers": [10, 30, 60],
            "customer_share": [0.1, 0.3, 0.6],
            "revenue_share": [0.7, 0.2, 0.1],
            "monetary_median": [5000.0, 800.0, 90.0],
            "recency_median": [12.0, 40.0, 200.0],
            "aov_median": aov,
        }
    )


@pytest.mark.parametrize(
    "language, currency, expected, wrong",
    [
        ("en", "$", "Minimum-spend coupons (e.g. $20 off $200)", "¥"),
        ("en", "£", "Minimum-spend coupons (e.g. £20 off £200)", "¥"),
        ("zh", "$", "满减优惠券（如满$200减$20）", "¥"),
        ("zh", "¥", "满减优惠券（如满¥200减¥20）", "$"),
    ],
)
def test_playbook_money_follows_the_currency_and_the_tiers_orders(
    language, currency, expected, wrong
):
    """The middle tier's median order is 160, so the coupon asks for 200 (the round
    amount above 1.2 x 160) and gives a tenth of it."""
    out = tier_strategies(_summary([900.0, 160.0, 40.0]), language=language, currency=currency)
    offers = out.set_index("tier").loc["B", "offers"]
    assert expected in offers, offers
    assert not any(wrong in o for o in offers)
    assert not any("{" in o for o in out["offers"].explode())


def test_playbook_money_without_an_order_value_uses_the_example_amounts():
    fields = money_fields({"aov_median": None}, currency="€", language="en")
    assert fields["coupon_threshold"] == "€200" and fields["coupon_value"] == "€20"
    assert fill_money("Spend {coupon_threshold}, {other} stays", fields) == (
        "Spend €200, {other} stays"
    )


# --------------------------------------------------------------------------- revenue basis


def _with_negative(a, n: int):
    tiers = a.tiers.copy()
    last = tiers.index[tiers["tier"] == a.labels[-1]][:n]
    tiers.loc[last, "monetary"] = -25.0
    return dataclasses.replace(a, tiers=tiers)


def test_abc_states_its_basis_when_returns_exceed_purchases(tmp_path_factory):
    from tiering.present import methods

    a = tiny_analysis(tmp_path_factory, "en", {"method": "abc"})
    assert "positive total" not in _text(methods.section_method(a))
    b = _with_negative(a, 2)
    text = " ".join(_text(methods.section_method(b)).split())
    top = f"{100 * a.tier_summary['revenue_share'].iloc[0]:.1f}%"
    assert (
        "the 2 customers whose returns exceed their purchases (-¥50.00 in total) are in tier C"
        in (text)
    )
    assert f"on which tier A holds {top}" in text
    one = " ".join(_text(methods.section_method(_with_negative(a, 1))).split())
    assert "the one customer whose returns exceed their purchases (-¥25.00) is in tier C" in one
    zh = " ".join(_text(methods.section_method(_lang(b, "zh"))).split())
    assert "退货超过购买的2位客户（合计-¥50.00）归入C级" in zh and f"按此基数A级占{top}" in zh


def test_the_summary_keeps_to_five_findings_and_keeps_the_unused_rows_one(tmp_path_factory):
    """Returns, the bottom tier and the rest give more than five findings: the summary
    keeps five (one page), dropping the least important first, never the unused rows."""
    a = _with_unused(tiny_analysis(tmp_path_factory, "en", {"method": "abc"}), 250, 1000)
    a = dataclasses.replace(a, source=dict(a.source, return_rows=3, return_value=40.0))
    items = _items(narrative.section_summary(a))
    assert len(items) == narrative.MAX_FINDINGS
    assert any("could not be used" in x for x in items)
    assert not any("Returns and cancellations" in x for x in items)


@pytest.mark.parametrize("language, text", [("en", "the slide deck"), ("zh", "演示文稿")])
def test_the_appendix_lists_the_deck_when_it_is_written(tmp_path_factory, language, text):
    a = tiny_analysis(tmp_path_factory, language, {"method": "abc"})
    assert "report.pptx" not in narrative.section_appendix(a)
    output = a.params.output.model_copy(update={"formats": ["html", "pdf", "pptx"]})
    b = dataclasses.replace(a, params=a.params.model_copy(update={"output": output}))
    page = _text(narrative.section_appendix(b))
    assert "report.pptx" in page and text in page
