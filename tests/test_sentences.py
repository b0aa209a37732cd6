"""Degenerate forms of the templated sentences (issue 19) in tier migration, the chart
notes and the methods section: equal bounds, zero counts, one item, and churn that is
pooled over the transitions. Each test builds the smallest input that produces the case
and checks the intended wording in English and Chinese and that the wrong one is gone."""

from __future__ import annotations

import datetime as dt
import html
import re
import types

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from tiering.analysis.migration import MigrationSpec, analyse_migration, pooled_rates
from tiering.params import Brand, validate
from tiering.present import charts, migration_charts
from tiering.present import methods as method_report
from tiering.present import migration as migration_section

from .test_migration import AS_OF, HAND_ROWS, NAMES, _params, _previous, _tx

matplotlib.use("Agg")
LANGUAGES = ("en", "zh")


def _visible(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _check(text: str, right: list[str], wrong: list[str]) -> None:
    for phrase in right:
        assert phrase in text, (phrase, text)
    for phrase in wrong:
        assert phrase not in text, (phrase, text)


# --------------------------------------------------------------------------- migration

# Fixed tiers (business rules on net spend), so that only lapsing moves customers: A from
# 1,000, B from 100, C below. Everyone first buys on 15 Mar (a1 also on 1 Jan, so that a
# full quarter precedes the first snapshot); churn after 60 days; snapshots 1 Apr, 1 Jul
# and 1 Oct 2024 (as of 1 Jul: only the first two).
RULES = validate(
    {
        "data": {"path": "tx.csv"},
        "tiering": {
            "method": "rules",
            "rules": {"conditions": [{"A": "monetary >= 1000"}, {"B": "monetary >= 100"}]},
        },
    }
)
ALL = ("03-15", "06-15", "09-15")  # a customer who buys every quarter never lapses
STEADY = {c: ALL for c in ("a1", "b1", "b2", "b3", "b4", "c1", "c2", "c3", "c4")}
# Q2: c1-c3 lapse (3 of C's 4); Q3: b1 lapses (1 of B's 4), C's one active customer stays.
# Pooled over both quarters C is highest (3 of 5 = 60%), but the latest quarter's is B (25%).
FLIP = {**STEADY, "b1": ALL[:2], "c1": ALL[:1], "c2": ALL[:1], "c3": ALL[:1]}
# Q2: c1 lapses; Q3: nobody does (c1, lapsed at both dates, is the one dormant customer).
QUIET_LATEST = {**STEADY, "c1": ALL[:1]}


def _run(buys: dict, *, as_of: str = "2024-10-01", churn_days: int = 60):
    rows = [("a1", "o0", "2024-01-01 10:00", 2000.0)]
    for customer, dates in buys.items():
        amount = {"a": 2000.0, "b": 200.0, "c": 10.0}[customer[0]]
        rows += [(customer, f"o{len(rows)}", f"2024-{d} 10:00", amount) for d in dates]
    return analyse_migration(
        _tx(rows),
        params=RULES,
        spec=MigrationSpec(churn_days=churn_days),
        as_of=dt.date.fromisoformat(as_of),
    )


_CACHE: dict = {}


def _result(name: str):
    if name not in _CACHE:
        _CACHE[name] = {
            "flip": lambda: _run(FLIP),
            "steady": lambda: _run(STEADY),
            "quiet_latest": lambda: _run(QUIET_LATEST),
            "one_transition": lambda: _run(FLIP, as_of="2024-07-01"),
            "one_transition_steady": lambda: _run(STEADY, as_of="2024-07-01"),
            "one_day": lambda: _run(FLIP, churn_days=1),
        }[name]()
    return _CACHE[name]


def _section(result, language: str) -> str:
    analysis = types.SimpleNamespace(
        params=types.SimpleNamespace(language=language, currency="¥", brand=Brand()),
        migration=result,
    )
    return _visible(migration_section.section_migration(analysis))


def _chart_text(ax_or_fig) -> str:
    fig = getattr(ax_or_fig, "figure", None) or ax_or_fig
    text = " ".join(x.get_text() for x in fig.findobj(Text) if x.get_text().strip())
    plt.close(fig)
    return text


def test_churn_is_pooled_and_the_latest_quarter_is_named_when_it_differs():
    r = _result("flip")
    # the input is the degenerate one: pooled, C lapses most; in the latest quarter, B
    assert pooled_rates(r)["churn_rate"].round(3).to_dict() == {"A": 0.0, "B": 0.125, "C": 0.6}
    latest = r.tier_rates[r.tier_rates["period"] == 2].set_index("tier")["churn_rate"]
    assert latest.to_dict() == {"A": 0.0, "B": 0.25, "C": 0.0}
    expected = {
        "en": [
            "Churn is highest in tier C: 60.0% of its customers lapsed within a quarter, "
            "pooled over the 2 quarter-to-quarter transitions where churn can be measured.",
            "In the latest quarter, churn was highest in tier B (25.0%).",
            "Lapsed, pooled over 2 quarters",
        ],
        "zh": [
            "C级客户流失最严重：合并可衡量流失的2次季度间迁移计算，60.0%的客户在一个季度内流失。",
            "最近一个季度，B级客户流失率最高（25.0%）。",
            "流失率（合并2个季度）",
        ],
    }
    wrong = {
        "en": ["on average over", "Lapsed, average of"],
        "zh": ["平均每季度", "平均流失率"],
    }
    for language in LANGUAGES:
        _check(_section(r, language), expected[language], wrong[language])


def test_no_tier_is_named_when_no_customer_lapsed():
    expected = {
        "en": [
            "No customer lapsed in any tier over the 2 quarter-to-quarter transitions where "
            "churn can be measured."
        ],
        "zh": ["在可衡量流失的2次季度间迁移中，各等级均没有客户流失。"],
    }
    expected_one = {
        "en": [
            "No customer lapsed in any tier in the one quarter-to-quarter transition where "
            "churn can be measured."
        ],
        "zh": ["在仅有的1次可衡量流失的季度间迁移中，各等级均没有客户流失。"],
    }
    wrong = {
        "en": ["Churn is highest", "0.0% of its customers", "1 quarter-to-quarter transitions"],
        "zh": ["流失最严重", "0.0%的客户", "平均每"],
    }
    for language in LANGUAGES:
        _check(_section(_result("steady"), language), expected[language], wrong[language])
        html_one = _section(_result("one_transition_steady"), language)
        _check(html_one, expected_one[language], wrong[language])


def test_the_latest_quarter_without_churn_is_said():
    r = _result("quiet_latest")  # pooled: C 1 of 7; latest: nobody lapsed
    expected = {
        "en": [
            "Churn is highest in tier C: 14.3% of its customers lapsed within a quarter",
            "In the latest quarter, no customer lapsed.",
            "Each group's net revenue in the period before and in the latest period. "
            "No customer lapsed in the latest period.",
        ],
        "zh": [
            "C级客户流失最严重：合并可衡量流失的2次季度间迁移计算，14.3%的客户在一个季度内流失。",
            "最近一个季度没有客户流失。",
            "各组客户在上一期与最近一期的净营收。最近一期没有客户新流失。",
        ],
    }
    wrong = {
        "en": ["churn was highest in tier", "their loss shows less", "¥0.00 in total"],
        "zh": ["流失率最高", "共¥0.00"],
    }
    for language in LANGUAGES:
        _check(_section(r, language), expected[language], wrong[language])


def test_one_transition_reads_as_one():
    r = _result("one_transition")
    assert r.n_periods == 1
    expected = {
        "en": [
            "Churn is highest in tier C: 75.0% of its customers lapsed within a quarter, in the "
            "one quarter-to-quarter transition where churn can be measured.",
            "stood one quarter later, over the only quarter-to-quarter transition in the window.",
            "Where customers went from Q1 2024 to Q2 2024 (the only transition)",
        ],
        "zh": [
            "C级客户流失最严重：在仅有的1次可衡量流失的季度间迁移中，75.0%的客户在一个季度内流失。",
            "基于分析期间内仅有的1次季度间迁移。",
            "2024年第1季度至2024年第2季度客户的去向（仅有的1次迁移）",
        ],
    }
    wrong = {
        "en": ["over 1 transitions", "all 1 transitions", "pooled over 1", "Lapsed, average"],
        "zh": ["合并全部1次迁移", "在1次迁移中", "平均流失率", "合并1个季度"],
    }
    for language in LANGUAGES:
        text = _section(r, language)
        _check(text, expected[language], wrong[language])
        assert "churn was highest" not in text and "流失率最高" not in text  # no second ranking
    titles = {
        "en": "Transition matrix: Q1 2024 to Q2 2024",
        "zh": "迁移矩阵：2024年第1季度至2024年第2季度",
    }
    for language in LANGUAGES:
        text = _chart_text(migration_charts.transition_heatmap(r, language=language))
        _check(text, [titles[language]], ["all 1 quarter transitions", "合并全部1次"])


def test_one_lapsed_customer_in_the_revenue_note():
    r = _result("flip")  # b1 is the one customer who lapsed in the latest quarter
    expected = {
        "en": [
            "The one customer who lapsed had bought nothing for 60 days, so the loss shows less "
            "here than in what they had spent before: ¥400."
        ],
        "zh": [
            "该新流失客户已有60天没有购买，其损失在此表中体现不多，更多体现在其此前的累计消费上：¥400。"
        ],
    }
    wrong = {"en": ["The customers who lapsed", "¥400 in total"], "zh": ["共¥400"]}
    for language in LANGUAGES:
        _check(_section(r, language), expected[language], wrong[language])


def test_a_churn_window_of_one_day_where_everyone_lapsed():
    # with one day, every customer is lapsed at both quarter ends: no flow to draw
    expected = {
        "en": [
            "A customer with no purchase in the 1 day before a period end counts as lapsed",
            "Every customer was lapsed at both Q2 2024 and Q3 2024, so there is no flow between "
            "tiers to draw.",
        ],
        "zh": [
            "期末前1天内没有购买的客户记为流失",
            "2024年第2季度和2024年第3季度两个时点所有客户均处于流失状态，没有可绘制的等级间流动。",
        ],
    }
    wrong = {"en": ["1 days"], "zh": []}
    for language in LANGUAGES:
        _check(_section(_result("one_day"), language), expected[language], wrong[language])


def test_flow_chart_note_on_dormant_customers():
    expected = {
        "quiet_latest": {  # c1, lapsed at both dates
            "en": "Not shown: one customer lapsed at both dates.",
            "zh": "未显示两个时点均处于流失状态的1位客户。",
        },
        "flip": {  # c1, c2 and c3
            "en": "Not shown: 3 customers lapsed at both dates.",
            "zh": "未显示两个时点均处于流失状态的3位客户。",
        },
    }
    for case, by_language in expected.items():
        for language, note in by_language.items():
            text = _chart_text(migration_charts.flow_chart(_result(case), language=language))
            _check(text, [note], ["1 customers"])
    for language in LANGUAGES:  # nobody dormant: no note at all
        text = _chart_text(migration_charts.flow_chart(_result("steady"), language=language))
        _check(text, [], ["Not shown", "0 customers", "未显示"])


@pytest.mark.parametrize(
    "delivered_a, en, zh",
    [
        (
            ("c1", "c2"),  # c2 is still A today, c1 lapsed
            "Of the 2 customers delivered as tier A, one (50.0%) is still in it today.",
            "当时2位A级客户中，1位（50.0%）今天仍在该等级。",
        ),
        (
            ("c1", "c5"),  # both lapsed
            "Of the 2 customers delivered as tier A, none is still in it today.",
            "当时2位A级客户中，今天已没有客户仍在该等级。",
        ),
        (
            ("c2", "c3"),  # both A today
            "All 2 customers delivered as tier A are still in it today.",
            "当时2位A级客户今天全部仍在该等级。",
        ),
    ],
)
def test_previous_top_tier_reads_right_for_one_none_and_all(tmp_path, delivered_a, en, zh):
    delivered = [
        {
            "customer_id": c,
            "tier": "A" if c in delivered_a else "B",
            "tier_rank": 1 if c in delivered_a else 2,
            "monetary": 1000.0 if c in delivered_a else 100.0,
        }
        for c in ("c1", "c2", "c3", "c4", "c5")
    ]
    r = analyse_migration(
        _tx(HAND_ROWS, NAMES),
        params=_params(),
        spec=MigrationSpec(churn_days=100, previous_report=_previous(tmp_path, delivered)),
        as_of=AS_OF,
    )
    wrong = ["(0.0%)", "(100.0%)", "1 (50.0%) are", "0位", "2位（100.0%）"]
    for language, sentence in (("en", en), ("zh", zh)):
        text = _visible(migration_section._previous_html(r, language, "¥"))
        _check(text, [sentence], wrong)


# --------------------------------------------------------------------------- chart notes


def test_tier_overview_counts_one_customer_and_none():
    summary = pd.DataFrame(
        {
            "tier": ["A", "B", "C"],
            "tier_rank": [1, 2, 3],
            "customers": [1, 4, 0],
            "customer_share": [0.2, 0.8, 0.0],
            "revenue": [900.0, 100.0, 0.0],
            "revenue_share": [0.9, 0.1, 0.0],
        }
    )
    expected = {
        "en": (["A\n1 customer\n", "B\n4 customers\n", "C\nno customers\n"], ["1 customers"]),
        "zh": (["A\n1 位客户\n", "B\n4 位客户\n", "C\n无客户\n"], ["0 位客户"]),
    }
    for language, (right, wrong) in expected.items():
        ax = charts.tier_overview(summary, language=language)
        ticks = "|".join(x.get_text() + "\n" for x in ax.get_xticklabels())
        plt.close(ax.figure)
        _check(ticks, right, [*wrong, "0 customers"])


def _spread_tiers(n_nonpositive: int) -> pd.DataFrame:
    """100 customers whose spend spans three orders of magnitude (a log axis), the first
    ``n_nonpositive`` of them with negative spend."""
    rng = np.random.default_rng(3)
    monetary = rng.lognormal(5, 1.5, 100)
    monetary[:n_nonpositive] = -5.0
    return pd.DataFrame(
        {
            "tier": np.where(np.arange(100) % 2 == 0, "A", "B"),
            "tier_rank": np.where(np.arange(100) % 2 == 0, 1, 2),
            "monetary": monetary,
            "recency_days": rng.integers(1, 300, 100).astype(float),
        }
    )


def test_chart_notes_on_left_out_values_count_one_and_none():
    expected = {
        "en": ("log scale; 1 value ≤ 0 not shown", "1 customer with spend ≤ 0 not shown"),
        "zh": ("对数刻度；未显示 1 个 ≤ 0 的值", "未显示 1 位消费金额 ≤ 0 的客户"),
    }
    for language, (dist_note, rf_note) in expected.items():
        fig = charts.metric_distributions(_spread_tiers(1), metrics=["monetary"], language=language)
        label = fig.axes[0].get_xlabel()
        plt.close(fig)
        _check(label, [dist_note], ["1 values"])
        ax = charts.recency_frequency_map(_spread_tiers(1), language=language)
        label = ax.get_xlabel()
        plt.close(ax.figure)
        _check(label, [rf_note], ["1 customers"])
    for language in LANGUAGES:  # nothing left out: no note at all
        fig = charts.metric_distributions(_spread_tiers(0), metrics=["monetary"], language=language)
        label = fig.axes[0].get_xlabel()
        plt.close(fig)
        _check(label, [], ["0 values", "0 个", "not shown", "未显示"])
        ax = charts.recency_frequency_map(_spread_tiers(0), language=language)
        label = ax.get_xlabel()
        plt.close(ax.figure)
        _check(label, [], ["0 customers", "0 位", "not shown", "未显示"])


# --------------------------------------------------------------------------- methods section

LABELS = ["A", "B", "C"]


def _method(language, params, *, lower, upper, customers=(5, 0, 10), tiers=None):
    """The smallest analysis the methods section reads: parameters, tier definitions
    (``lower``/``upper`` per tier) and tier sizes."""
    return types.SimpleNamespace(
        params=types.SimpleNamespace(language=language, currency="¥", brand=Brand()),
        tiering_params=params,
        labels=LABELS,
        thresholds=pd.DataFrame(
            {
                "tier": LABELS,
                "tier_rank": [1, 2, 3],
                "lower": lower,
                "upper": upper,
                "rule": ["x", "y", "z"],
            }
        ),
        tier_summary=pd.DataFrame({"tier": LABELS, "customers": list(customers)}),
        tiers=tiers if tiers is not None else pd.DataFrame({"tier": []}),
        warnings=(),
    )


def _method_text(a) -> str:
    return _visible(method_report.section_method(a))


ABC_COMPUTED = {
    "method": "abc",
    "value": "monetary",
    "cutoff_mode": "computed",
    "pareto_point": {"customer_share": 0.05, "value_share": 0.14},
    "break_even_point": {"customer_share": 0.05, "value_share": 0.14},
}


def test_abc_cut_offs_that_coincide_are_one_value():
    params = {**ABC_COMPUTED, "cutoffs": [0.14, 0.14]}
    expected = {
        "en": [
            "Cumulative share of value 0% to 14%",
            "None: both cut-offs are at 14% of cumulative value",
            "Cumulative share of value 14% to 100%",
            "Tier A ends at the earlier of the two (14.0% of value); the curve comes closest to "
            "full value no later than that, so tier B ends there too and holds no customers.",
        ],
        "zh": [
            "无：上下两个阈值均为累计价值占比 14%",
            "A级止于两点中较早的一个（价值占比14.0%）；曲线在该点处已最接近全部价值，因此B级也止于此处，没有客户。",
        ],
    }
    wrong = [
        "14% to 14%",
        "14% 至 14%",
        "at the later one (14.0%",
        "较晚一点处最接近全部价值的位置",
    ]
    for language in LANGUAGES:
        a = _method(language, params, lower=[0.0, 0.14, 0.14], upper=[0.14, 0.14, 1.0])
        _check(_method_text(a), expected[language], wrong)


def test_abc_last_tier_with_no_share_of_value_and_bounds_that_round_alike():
    expected = {
        "en": [
            "Zero or negative value only (the cut-offs leave no share of value to this tier)",
            "Cumulative share of value 60.00% to 60.04%",
        ],
        "zh": [
            "仅价值为零或为负的客户（阈值未给该等级留下任何价值占比）",
            "累计价值占比 60.00% 至 60.04%",
        ],
    }
    wrong = ["100% to 100%", "100% 至 100%", "60% to 60.0%", "60% 至 60.0%"]
    for language in LANGUAGES:
        last = _method(
            language,
            {**ABC_COMPUTED, "cutoffs": [0.6, 1.0]},
            lower=[0.0, 0.6, 1.0],
            upper=[0.6, 1.0, 1.0],
        )
        close = _method(
            language,
            {"method": "abc", "value": "monetary", "cutoffs": [0.6, 0.6004]},
            lower=[0.0, 0.6, 0.6004],
            upper=[0.6, 0.6004, 1.0],
        )
        _check(_method_text(last) + _method_text(close), expected[language], wrong)


RFM = {
    "method": "rfm",
    "bins": 5,
    "weights": {"recency": 1.0, "frequency": 1.0, "monetary": 1.0},
    "tier_by": "score",
    "edges": {},
}


def test_rfm_and_score_ranges_never_read_from_x_to_below_x():
    expected = {
        "en": [
            "RFM score from 3.001 to below 3.004",
            "None: its lower and upper bounds are both 1.00",
            "Value score from 0.6000 to below 0.6004",
        ],
        "zh": [
            "RFM综合得分 3.001 至 3.004（不含）",
            "无：上下界均为 1.00",
            "价值得分 0.6000 至 0.6004（不含）",
        ],
    }
    wrong = ["3.00 to below 3.00", "1.00 to below 1.00", "0.600 to below 0.600"]
    wrong += ["3.00 至 3.00", "1.00 至 1.00", "0.600 至 0.600"]
    score = {
        "method": "score",
        "normalize": "percentile",
        "criteria": [{"column": "monetary", "weight_share": 1.0, "direction": "higher"}],
        "cut": "thresholds",
    }
    for language in LANGUAGES:
        close = _method(language, RFM, lower=[3.004, 3.001, 1.0], upper=[5.0, 3.004, 3.001])
        empty = _method(
            language, RFM, lower=[3.0, 1.0, 1.0], upper=[5.0, 3.0, 1.0], customers=(5, 10, 0)
        )
        scored = _method(language, score, lower=[0.6004, 0.6, np.nan], upper=[np.nan, 0.6004, 0.6])
        text = _method_text(close) + _method_text(empty) + _method_text(scored)
        _check(text, expected[language], wrong)


def test_score_share_tiers_with_one_score_and_with_none():
    score = {
        "method": "score",
        "normalize": "percentile",
        "criteria": [{"column": "monetary", "weight_share": 1.0, "direction": "higher"}],
        "cut": "shares",
        "shares": [0.2, 0.3, 0.5],
    }
    expected = {
        "en": [
            "Customers ranked 0% to 20% by value score (scores 0.900 to 0.950)",
            "Customers ranked 20% to 50% by value score (all scored 0.512)",
            "Customers ranked 50% to 100% by value score (no customers)",
        ],
        "zh": [
            "价值得分排名 20% 至 50% 的客户（得分均为 0.512）",
            "价值得分排名 50% 至 100% 的客户（无客户）",
        ],
    }
    wrong = ["0.512 to 0.512", "0.512 至 0.512", "– to –", "– 至 –"]
    for language in LANGUAGES:
        a = _method(
            language,
            score,
            lower=[0.9, 0.512, np.nan],
            upper=[0.95, 0.512, np.nan],
            customers=(5, 3, 0),
        )
        _check(_method_text(a), expected[language], wrong)


def test_one_rule_one_segment_and_one_number_of_clusters():
    rules = {
        "method": "rules",
        "default": "C",
        "default_customers": 3,
        "conditions": [
            {"tier": "A", "when": "monetary >= 1000", "customers": 2},
            {"tier": "B", "when": "monetary >= 100", "customers": 5},
            {"tier": "B", "when": "frequency >= 3", "customers": 1},
        ],
    }
    segments = {
        **RFM,
        "tier_by": "segment",
        "segment_tiers": {"A": ["champions"], "B": ["loyal", "new"], "C": ["lost"]},
    }
    cluster = {
        "method": "cluster",
        "features": ["monetary"],
        "log": True,
        "k": 3,
        "value": "monetary",
        "seed": 0,
        "k_mode": "auto",
        "silhouette": 0.41,
        "silhouette_by_k": [{"k": 3, "silhouette": 0.41}],
        "centres": [{"monetary": 900.0}, {"monetary": 300.0}, {"monetary": 50.0}],
    }
    expected = {
        "en": [
            "Rule 1 ",
            "Rules 2, 3",
            "Segment: Champions",
            "Segments: Loyal, New",
            "but only 3 clusters could be tried",
            "their silhouette is 0.41.",
        ],
        "zh": ["规则 1", "细分群体：冠军客户", "只能尝试3个客户群，其轮廓系数为0.41。"],
    }
    wrong = ["Rules 1 ", "Segments: Champions", "among 3 to 3 clusters", "在3至3之间"]
    nan3 = [np.nan] * 3
    for language in LANGUAGES:
        text = "".join(
            _method_text(_method(language, p, lower=nan3, upper=nan3))
            for p in (rules, segments, cluster)
        )
        _check(text, expected[language], wrong)


def test_stability_range_of_one_value_and_one_resample():
    stab = pd.DataFrame(
        {
            "tier": LABELS,
            "customers": [5, 3, 10],
            "evaluated": [5, 3, 10],
            "unchanged_share": [1.0, 0.6, 0.9],
            "unchanged_low": [1.0, 0.4, 0.8],
            "unchanged_high": [1.0, 0.8, 1.0],
            "moved_up_share": [0.0, 0.2, 0.1],
            "moved_down_share": [0.0, 0.2, 0.0],
        }
    )
    stab.attrs = {"n_boot": 1, "overall_unchanged": 0.9, "method": "abc"}
    expected = {
        "en": [
            "the customers were resampled with replacement once; on that resample",
            ">100.0%<",
            "40.0% – 80.0%",
        ],
        "zh": ["对客户进行了1次有放回重抽样，重新估计阈值", ">100.0%<", "40.0% – 80.0%"],
    }
    wrong = ["100.0% – 100.0%", "1 times", "1次有放回重抽样，每次"]
    for language in LANGUAGES:
        a = _method(language, {"method": "abc"}, lower=[0, 0, 0], upper=[1, 1, 1])
        out = html.unescape(method_report.stability_html(a, stab, language))
        _check(out, expected[language], wrong)
