"""Tests of tiering.present.charts on small seeded synthetic data (3 and 5 tiers)."""

from __future__ import annotations

import base64
import io
import logging
import math
import re
import warnings
from itertools import combinations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from tiering.errors import DataError, TieringError
from tiering.present import charts
from tiering.style import tier_palette

METRICS = ("monetary", "frequency", "recency_days", "aov")
TIER_SETS = {
    3: ["A", "B", "C"],
    5: ["VIP", "金卡", "银卡", "普通", "沉睡"],
}


# --------------------------------------------------------------------------- data


def make_tiered(n: int = 600, labels=("A", "B", "C"), seed: int = 7) -> pd.DataFrame:
    """Customers with heavy-tailed spend, a few non-positive; tiers by spend rank."""
    rng = np.random.default_rng(seed)
    labels = list(labels)
    frequency = 1 + rng.poisson(2.0, n)
    aov = rng.lognormal(4.5, 0.8, n)
    monetary = frequency * aov
    neg = rng.choice(n, size=max(1, n // 200), replace=False)
    monetary[neg] = -rng.uniform(1, 50, len(neg))
    monetary[neg[:1]] = 0.0
    aov = monetary / frequency
    recency = np.floor(rng.exponential(60, n)).astype(int)
    order = np.argsort(-monetary, kind="stable")
    weights = 2.0 ** np.arange(len(labels))
    sizes = np.floor(weights / weights.sum() * n).astype(int)
    sizes[-1] = n - sizes[:-1].sum()
    rank = np.empty(n, dtype=int)
    rank[order] = np.repeat(np.arange(1, len(labels) + 1), sizes)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "tier": pd.Categorical.from_codes(rank - 1, categories=labels, ordered=True),
            "tier_rank": rank,
            "monetary": monetary,
            "frequency": frequency,
            "recency_days": recency,
            "aov": aov,
            "tenure_days": recency + rng.integers(0, 700, n),
            "region": rng.choice(["north", "south"], n),
        }
    )


def make_summary(tiered: pd.DataFrame) -> pd.DataFrame:
    g = tiered.groupby("tier", observed=False)
    out = pd.DataFrame(
        {
            "tier": g.size().index,
            "tier_rank": np.arange(1, g.ngroups + 1),
            "customers": g.size().to_numpy(),
            "revenue": g["monetary"].sum().to_numpy(),
            "monetary_median": g["monetary"].median().to_numpy(),
            "frequency_median": g["frequency"].median().to_numpy(),
            "recency_median": g["recency_days"].median().to_numpy(),
            "aov_median": g["aov"].median().to_numpy(),
            "tenure_median": g["tenure_days"].median().to_numpy(),
        }
    )
    out["customer_share"] = out["customers"] / out["customers"].sum()
    out["revenue_share"] = out["revenue"] / out["revenue"].sum()
    return out


def make_stats(tiered: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    rows = []
    for metric in metrics:
        for tier, v in tiered.groupby("tier", observed=True)[metric]:
            x = np.sort(v.to_numpy(dtype=float))
            n = len(x)
            half = 1.96 * np.sqrt(n) / 2
            lo, hi = int(max(0, np.floor(n / 2 - half))), int(min(n - 1, np.ceil(n / 2 + half)))
            rows.append(
                {
                    "metric": metric,
                    "tier": tier,
                    "n": n,
                    "mean": x.mean(),
                    "median": np.median(x),
                    "q1": np.quantile(x, 0.25),
                    "q3": np.quantile(x, 0.75),
                    "median_ci_low": x[lo],
                    "median_ci_high": x[hi],
                    "mean_ci_low": np.nan,
                    "mean_ci_high": np.nan,
                }
            )
    out = pd.DataFrame(rows)
    out["tier"] = pd.Categorical(
        out["tier"], categories=tiered["tier"].cat.categories, ordered=True
    )
    return out


def cliffs_delta(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sign(x[:, None] - y[None, :]).mean())


def make_tests(tiered: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    rows = []
    labels = list(tiered["tier"].cat.categories)
    for metric in metrics:
        for a, b in combinations(labels, 2):
            x = tiered.loc[tiered["tier"] == a, metric].to_numpy(dtype=float)
            y = tiered.loc[tiered["tier"] == b, metric].to_numpy(dtype=float)
            d = cliffs_delta(x, y)
            p = float(np.exp(-20 * abs(d)))  # stand-in p-value, monotone in |delta|
            rows.append(
                {
                    "metric": metric,
                    "test": "dunn",
                    "group1": a,
                    "group2": b,
                    "n1": len(x),
                    "n2": len(y),
                    "statistic": np.nan,
                    "df": np.nan,
                    "p_value": p,
                    "p_adj": min(1.0, 3 * p),
                    "effect_size_name": "cliffs_delta",
                    "effect_size": d,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "magnitude": "large",
                    "significant": p < 0.05,
                }
            )
        rows.append(
            {
                "metric": metric,
                "test": "kruskal",
                "group1": None,
                "group2": None,
                "n1": np.nan,
                "n2": np.nan,
                "statistic": 10.0,
                "df": 2,
                "p_value": 0.001,
                "p_adj": 0.001,
                "effect_size_name": "epsilon_squared",
                "effect_size": 0.3,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "magnitude": "large",
                "significant": True,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def _clean_matplotlib():
    with matplotlib.rc_context():
        yield
    plt.close("all")


@pytest.fixture(params=sorted(TIER_SETS), ids=lambda k: f"{k}tiers")
def data(request):
    labels = TIER_SETS[request.param]
    tiered = make_tiered(labels=labels)
    return {
        "labels": labels,
        "tiered": tiered,
        "summary": make_summary(tiered),
        "stats": make_stats(tiered),
        "tests": make_tests(tiered),
    }


# --------------------------------------------------------------------------- helpers


def colours_on(fig: Figure) -> set[str]:
    """Hex colours (alpha ignored) of every patch, collection and line on the figure."""
    found: set[str] = set()

    def add(c):
        arr = np.atleast_2d(matplotlib.colors.to_rgba_array(c))
        for rgba in arr:
            found.add(matplotlib.colors.to_hex(rgba[:3]))

    for a in fig.axes:
        for p in a.patches:
            add(p.get_facecolor())
            add(p.get_edgecolor())
        for coll in a.collections:
            if len(coll.get_facecolor()):
                add(coll.get_facecolor())
            if len(coll.get_edgecolor()):
                add(coll.get_edgecolor())
        for line in a.lines:
            add(line.get_color())
    return found


def visible_texts(fig: Figure) -> list[str]:
    fig.canvas.draw()
    out = []
    for obj in fig.findobj(Text):
        if obj.get_visible() and obj.get_text().strip():
            out.append(obj.get_text())
    return out


def all_charts(d, language):
    """Every chart of the module for one data set; returns their figures."""
    return [
        charts.tier_overview(d["summary"], language=language).figure,
        charts.pareto_curve(d["tiered"], language=language).figure,
        charts.metric_distributions(d["tiered"], language=language),
        charts.recency_frequency_map(d["tiered"], language=language).figure,
        charts.median_forest(d["stats"], language=language).figure,
        charts.effect_size_heatmap(d["tests"], language=language).figure,
    ]


# --------------------------------------------------------------------------- return types


def test_each_function_returns_axes_or_figure(data):
    d = data
    for obj in [
        charts.tier_overview(d["summary"], language="en"),
        charts.pareto_curve(d["tiered"], language="en"),
        charts.recency_frequency_map(d["tiered"], language="en"),
        charts.median_forest(d["stats"], language="en"),
        charts.effect_size_heatmap(d["tests"], language="en"),
    ]:
        assert isinstance(obj, Axes)
    assert isinstance(charts.metric_distributions(d["tiered"], language="en"), Figure)


def test_draws_on_given_axes(data):
    fig, (a1, a2) = plt.subplots(1, 2)
    assert charts.tier_overview(data["summary"], language="en", ax=a1) is a1
    assert charts.median_forest(data["stats"], language="en", ax=a2) is a2
    fig2, axes = plt.subplots(1, 2)
    out = charts.metric_distributions(
        data["tiered"], metrics=("monetary", "aov"), language="en", ax=axes
    )
    assert out is fig2
    with pytest.raises(TieringError, match="one Axes per metric"):
        charts.metric_distributions(data["tiered"], language="en", ax=axes)


# --------------------------------------------------------------------------- tier colours


@pytest.mark.parametrize("name", ["overview", "pareto", "distributions", "scatter", "forest"])
def test_uses_tier_palette(data, name):
    d = data
    palette = tier_palette(d["labels"])
    fig = {
        "overview": lambda: charts.tier_overview(d["summary"], language="en").figure,
        "pareto": lambda: charts.pareto_curve(d["tiered"], language="en").figure,
        "distributions": lambda: charts.metric_distributions(d["tiered"], language="en"),
        "scatter": lambda: charts.recency_frequency_map(d["tiered"], language="en").figure,
        "forest": lambda: charts.median_forest(d["stats"], language="en").figure,
    }[name]()
    assert set(palette.values()) <= colours_on(fig)


def test_overview_bars_match_tiers_in_order():
    tiered = make_tiered(labels=["A", "B", "C"])
    summary = make_summary(tiered)
    ax = charts.tier_overview(summary, language="en")
    palette = tier_palette(["A", "B", "C"])
    solid = [  # the revenue bars; the customer-share bars are hatched
        matplotlib.colors.to_hex(p.get_facecolor()[:3])
        for p in ax.patches
        if not p.get_hatch() and p.get_height() > 0
    ]
    assert solid == [palette["A"], palette["B"], palette["C"]]
    heights = [p.get_height() for p in ax.patches if not p.get_hatch()]
    np.testing.assert_allclose(heights, summary["revenue_share"].to_numpy())
    labels = [tx.get_text() for tx in ax.texts]
    assert f"{summary['revenue_share'].iloc[0]:.0%}" in labels


def test_overview_colour_follows_rank_not_row_order():
    summary = make_summary(make_tiered(labels=["A", "B", "C"])).iloc[::-1]
    ax = charts.tier_overview(summary, language="en")
    ticks = [tx.get_text().split("\n")[0] for tx in ax.get_xticklabels()]
    assert ticks == ["A", "B", "C"]


def test_distribution_boxes_in_tier_colours_best_on_top():
    tiered = make_tiered(labels=["A", "B", "C"])
    fig = charts.metric_distributions(tiered, metrics=("monetary",), language="en")
    ax = fig.axes[0]
    palette = tier_palette(["A", "B", "C"])
    boxes = [p for p in ax.patches]
    assert [matplotlib.colors.to_hex(b.get_facecolor()[:3]) for b in boxes] == list(
        palette.values()
    )
    assert [tx.get_text() for tx in ax.get_yticklabels()] == ["A", "B", "C"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # inverted: first tier on top
    assert ax.get_xscale() == "log"
    # two customers with spend <= 0 are left out of the log axis, and the label says so
    n_nonpos = int((tiered["monetary"] <= 0).sum())
    assert f"{n_nonpos} values" in ax.get_xlabel()


# --------------------------------------------------------------------------- values


def test_pareto_gini_matches_hand_computed_value():
    # spend 4, 3, 2, 1: Gini = sum|xi - xj| / (2 n^2 mean) = 20 / 80 = 0.25
    tiered = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "tier": pd.Categorical(list("AABB"), categories=["A", "B"], ordered=True),
            "tier_rank": [1, 1, 2, 2],
            "monetary": [4.0, 3.0, 2.0, 1.0],
        }
    )
    ax = charts.pareto_curve(tiered, language="en", cutoffs=(0.5,))
    assert ax.get_legend().get_title().get_text() == "Gini coefficient 0.25"
    # the 50% level is reached with the 2nd customer, who takes it to 4 + 3 = 7 of 10:
    # labelled with the actual shares, 70% of revenue from 50% of customers
    assert [tx.get_text() for tx in ax.texts] == ["70% of revenue from 50% of customers"]


def _curve_tiers(tiered: pd.DataFrame) -> list:
    """The tier of each customer along the concentration curve, in its order."""
    (codes, names), _, _, _ = charts._concentration(tiered)
    return names[codes].tolist()


def test_concentration_order_breaks_ties_by_rank_then_customer_id():
    # spend 10, 10, 10, 5, 5: among the 10s rank 1 (c2, c3: A) before rank 2 (c1: B),
    # among the 5s rank 2 (c5: B) before rank 3 (c4: C)
    tiered = pd.DataFrame(
        {
            "customer_id": ["c3", "c1", "c2", "c4", "c5"],
            "tier": pd.Categorical(list("ABACB"), categories=list("ABC"), ordered=True),
            "tier_rank": [1, 2, 1, 3, 2],
            "monetary": [10.0, 10.0, 10.0, 5.0, 5.0],
        }
    )
    (codes, names), x, y, gini = charts._concentration(tiered)
    assert names[codes].tolist() == ["A", "A", "B", "B", "C"]
    assert x.tolist() == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert y.tolist() == [0.0, 0.25, 0.5, 0.75, 0.875, 1.0]
    # trapezoids: (0.25 + 0.75 + 1.25 + 1.625 + 1.875) / 2 / 5 = 0.575; 2 * 0.575 - 1
    assert gini == pytest.approx(0.15)
    # one rank for two tiers: the customer id decides (b1 before b2), not the table order
    same_rank = pd.DataFrame(
        {
            "customer_id": ["b2", "b1", "a0"],
            "tier": pd.Categorical(list("ABA"), categories=list("AB"), ordered=True),
            "tier_rank": [1, 1, 1],
            "monetary": [5.0, 5.0, 9.0],
        }
    )
    assert _curve_tiers(same_rank) == ["A", "B", "A"]
    assert _curve_tiers(same_rank.drop(columns="tier_rank")) == ["A", "B", "A"]
    # no customer id: the table's order among ties
    assert _curve_tiers(same_rank.drop(columns="customer_id")) == ["A", "A", "B"]
    # a missing rank goes last among its ties, as in a pandas sort
    missing = same_rank.assign(tier_rank=[1.0, np.nan, 1.0], customer_id=["b2", "a1", "a0"])
    assert _curve_tiers(missing) == ["A", "A", "B"]


def test_concentration_order_equals_a_sort_of_the_whole_table():
    """The tie groups sorted one by one give the order of the pandas sort of every row
    (the path taken beyond _TIE_GROUPS_MAX groups), whatever the column types."""
    rng = np.random.default_rng(3)
    n = 4_000
    base = pd.DataFrame(
        {
            "customer_id": rng.permutation(n).astype(str),
            "tier": pd.Categorical(rng.choice(list("ABC"), n), categories=list("ABC")),
            "tier_rank": rng.integers(1, 4, n),  # not the tier's: ties across tiers
            "monetary": rng.integers(1, 30, n) * 10.0,
        },
        index=rng.permutation(n) + 11,
    )
    cases = {
        "ranked": base,
        "missing ranks": base.assign(tier_rank=np.where(rng.random(n) < 0.2, np.nan, 1.0)),
        "no rank": base.drop(columns="tier_rank"),
        "text tiers": base.assign(tier=base["tier"].astype(str)),
        "integer ids": base.assign(customer_id=rng.permutation(n)),
        "text ranks": base.assign(tier_rank=base["tier_rank"].astype(str)),
    }
    for name, tiered in cases.items():
        m = tiered["monetary"].to_numpy(dtype=float)
        codes, tier_names = charts._tier_codes(tiered["tier"])
        whole = tier_names[codes[charts._spend_order_pandas(tiered, m)]].tolist()
        assert _curve_tiers(tiered) == whole, name


def test_pareto_caps_points_for_many_customers():
    tiered = make_tiered(n=50_000)
    ax = charts.pareto_curve(tiered, language="en")
    assert max(len(line.get_xdata()) for line in ax.lines) <= 3_000


def test_pareto_rejects_non_positive_total():
    tiered = make_tiered(n=20)
    tiered["monetary"] = -1.0
    with pytest.raises(DataError, match="positive total"):
        charts.pareto_curve(tiered, language="en")


def test_scatter_samples_large_data_and_says_so():
    tiered = make_tiered(n=30_000)
    ax = charts.recency_frequency_map(tiered, language="en", max_points=5_000)
    assert sum(len(c.get_offsets()) for c in ax.collections) <= 5_000
    assert "random sample of 5,000 of 30,000 customers" in ax.get_xlabel()
    ax2 = charts.recency_frequency_map(tiered, language="en", max_points=5_000)
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), ax2.collections[0].get_offsets())


def test_scatter_ignores_floating_point_residue_on_log_axis():
    tiered = make_tiered(n=300)
    tiered.loc[0, "monetary"] = 1e-13  # what summing 12.1 - 12.1 can leave behind
    ax = charts.recency_frequency_map(tiered, language="en")
    assert ax.get_ylim()[0] > 0.1
    n_nonpos = int((tiered["monetary"] <= 0).sum()) + 1
    assert f"{n_nonpos} customers with spend ≤ 0 not shown" in ax.get_xlabel()


def test_number_formats():
    assert charts._fmt_value(1234567, "en", "¥") == "¥1.23M"
    assert charts._fmt_value(1234567, "zh", "¥") == "¥123.5万"
    assert charts._fmt_value(3.2e8, "zh", "¥") == "¥3.2亿"
    assert charts._fmt_value(-12345, "en", "$") == "-$12,345"
    assert charts._fmt_value(9999, "zh", None) == "9,999"
    assert charts.fmt_number(2.5, "en") == "2.5"


def test_forest_points_are_the_medians():
    tiered = make_tiered(labels=["A", "B", "C"])
    stats = make_stats(tiered)
    ax = charts.median_forest(stats, metric="frequency", language="en")
    xs = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == "o"]
    expected = stats[stats["metric"] == "frequency"].sort_values("tier")["median"].to_numpy()
    np.testing.assert_allclose(xs, expected)
    assert [tx.get_text() for tx in ax.get_yticklabels()][0].startswith("A (n = ")


def test_forest_skips_empty_tier_and_keeps_colours():
    tiered = make_tiered(labels=["A", "B", "C"])
    stats = make_stats(tiered)
    empty = stats[stats["tier"] == "B"].copy()
    stats = stats[stats["tier"] != "B"]
    empty[["n"]] = 0
    empty[["mean", "median", "q1", "q3", "median_ci_low", "median_ci_high"]] = np.nan
    stats = pd.concat([stats, empty], ignore_index=True)
    stats.loc[stats["tier"] == "A", ["median_ci_low", "median_ci_high"]] = pd.NA
    ax = charts.median_forest(stats, language="en")
    assert [tx.get_text().split(" ")[0] for tx in ax.get_yticklabels()] == ["A", "C"]
    palette = tier_palette(["A", "B", "C"])
    dots = [
        matplotlib.colors.to_hex(line.get_color()) for line in ax.lines if line.get_marker() == "o"
    ]
    assert dots == [palette["A"], palette["C"]]


def test_effect_heatmap_shows_missing_pairs_as_dash():
    tests = make_tests(make_tiered(labels=["A", "B", "C"]), metrics=("monetary",))
    tests["effect_size"] = tests["effect_size"].astype(object)
    tests.loc[
        (tests["test"] == "dunn") & (tests["group2"] == "C") & (tests["group1"] == "B"),
        ["effect_size", "p_adj"],
    ] = pd.NA
    ax = charts.effect_size_heatmap(tests, language="en")
    assert "–" in [tx.get_text() for tx in ax.texts]


def test_forest_unknown_metric_suggests_name():
    stats = make_stats(make_tiered())
    with pytest.raises(DataError, match="did you mean 'monetary'"):
        charts.median_forest(stats, metric="monetry", language="en")


def test_effect_heatmap_orients_pairs_and_annotates():
    tiered = make_tiered(labels=["A", "B", "C"])
    tests = make_tests(tiered, metrics=("monetary",))
    # store one pair the other way round: the chart must flip it back (and the sign)
    i = tests.index[(tests["group1"] == "A") & (tests["group2"] == "B")][0]
    d = tests.at[i, "effect_size"]
    tests.loc[i, ["group1", "group2", "effect_size"]] = ["B", "A", -d]
    ax = charts.effect_size_heatmap(tests, language="en", tier_order=["A", "B", "C"])
    assert [tx.get_text() for tx in ax.get_xticklabels()] == ["A vs B", "A vs C", "B vs C"]
    matrix = ax.images[0].get_array()
    assert matrix[0, 0] == pytest.approx(d)
    assert matrix.min() >= -1 and matrix.max() <= 1
    assert ax.images[0].get_clim() == (-1, 1)
    assert any(tx.get_text().startswith(f"{d:+.2f}") for tx in ax.texts)


def test_effect_heatmap_needs_dunn_rows():
    tests = make_tests(make_tiered())
    with pytest.raises(DataError, match="Dunn"):
        charts.effect_size_heatmap(tests[tests["test"] != "dunn"], language="en")


def test_missing_column_is_reported_with_suggestion():
    tiered = make_tiered().rename(columns={"monetary": "monetry"})
    with pytest.raises(DataError, match="did you mean 'monetry'"):
        charts.pareto_curve(tiered, language="en")


def test_unknown_language_is_rejected():
    with pytest.raises(TieringError, match="language"):
        charts.pareto_curve(make_tiered(), language="fr")


# --------------------------------------------------------------------------- HTML


def _svg(html: str) -> bytes:
    """The SVG (``src``) of a chart snippet."""
    svg = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)
    return base64.b64decode(svg)


def test_figure_html_is_deterministic_and_escaped():
    tiered = make_tiered()
    html1 = charts.figure_html(
        charts.pareto_curve(tiered, language="en").figure,
        alt='<script>alert("x")</script>',
        caption="A & B <b>",
    )
    html2 = charts.figure_html(
        charts.pareto_curve(tiered, language="en").figure,
        alt='<script>alert("x")</script>',
        caption="A & B <b>",
    )
    assert html1 == html2
    assert "<script>" not in html1
    assert 'alt="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in html1
    assert "<figcaption>A &amp; B &lt;b&gt;</figcaption>" in html1
    assert html1.startswith('<figure class="chart"><img src="data:image/svg+xml;base64,')
    svg = _svg(html1)
    assert svg.startswith(b"<?xml") and b"data:image/png" not in html1.encode()
    assert b"<dc:date>" not in svg and b"Matplotlib v" not in svg
    assert plt.get_fignums() == []  # the figures were closed


def test_figure_html_svg_keeps_the_text_as_text():
    """The chart's words are <text> elements (searchable, sharp), not glyph outlines."""
    import xml.etree.ElementTree as ET

    tiered = make_tiered()
    ax = charts.pareto_curve(tiered, language="zh")
    words = [
        ax.get_title("left"),
        ax.get_xlabel(),
        ax.get_ylabel(),
        *(t.get_text() for t in ax.texts),
    ]
    lines = {line for text in words for line in text.split("\n") if line.strip()}
    svg = _svg(charts.figure_html(ax.figure, alt="帕累托曲线"))
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG)
    texts = {el.text for el in root.iter("{http://www.w3.org/2000/svg}text")}
    assert len(lines) >= 4 and lines <= texts
    assert any(re.search(r"[\u4e00-\u9fff]", w or "") for w in texts)  # Chinese labels too


def test_figure_html_width_is_the_figures_at_96_css_px_per_inch():
    """A figure 4 in wide with no margin to crop (``bbox_inches="tight"`` keeps what is
    drawn plus 0.05 in on each side): 4.1 in, 393.6 CSS px, shown 394 wide."""
    fig = plt.figure(figsize=(4, 2))
    fig.patches.append(
        matplotlib.patches.Rectangle((0, 0), 1, 1, transform=fig.transFigure, color="0.5")
    )
    out = charts.figure_html(fig, alt="grey")
    assert re.search(r'<svg\b[^>]*width="295.2pt"', _svg(out).decode())  # 4.1 in x 72
    assert int(re.search(r'width="(\d+)"', out).group(1)) == 394
    assert "<figcaption>" not in out


def test_min_screen_width_hand_computed():
    # designed 533 CSS px wide over a viewBox 400 units wide: the 8-unit text is
    # 8 * 533 / 400 = 10.66 px there; 9 px needs 533 * 9 / 10.66 = 9 * 400 / 8 = 450 px
    svg = (
        b'<svg viewBox="0 0 400 100"><text style="font-size: 10px">a</text>'
        b'<text style="font-weight: 700; font-size: 8px">b</text></svg>'
    )
    assert charts.min_screen_width(svg, 533) == 450
    # 6-unit text over 453.6 units: 9 * 453.6 / 6 = 680.4, rounded up
    small = b'<svg viewBox="0 0 453.6 200"><text style="font-size: 6px">c</text></svg>'
    assert charts.min_screen_width(small, 605) == 681
    assert charts.min_screen_width(b'<svg viewBox="0 0 10 10"><path d="M0 0"/></svg>', 13) == 0


def test_figure_html_min_width_matches_the_smallest_text():
    fig, ax = plt.subplots(figsize=(6.3, 3))
    ax.plot([0, 1])
    ax.tick_params(labelsize=7.5)
    ax.set_title("Title", fontsize=10)
    out = charts.figure_html(fig, alt="line")
    svg = _svg(out)
    view_width = float(re.search(rb'viewBox="0 0 ([0-9.]+) ', svg).group(1))
    minimum = int(re.search(r"--chart-min-width: (\d+)px", out).group(1))
    # the 7.5 pt ticks are 7.5 units of a viewBox view_width units wide: 9 px needs
    # 9 * view_width / 7.5 px (90% of the designed width: 7.5 pt = 10 px)
    assert minimum == math.ceil(9 * view_width / 7.5)


def test_figure_html_requires_alt():
    fig, _ = plt.subplots()
    with pytest.raises(TieringError, match="alt"):
        charts.figure_html(fig, alt="  ")


# --------------------------------------------------------------------------- language


def test_chinese_charts_have_no_english_words(data):
    allowed = {w for lab in data["labels"] for w in re.findall(r"[A-Za-z]+", lab)} | {"p"}
    for fig in all_charts(data, "zh"):
        for text in visible_texts(fig):
            words = set(re.findall(r"[A-Za-z]+", text)) - allowed
            assert not words, f"English word(s) {words} in Chinese chart text {text!r}"


def test_english_charts_have_no_chinese_except_tier_labels(data):
    tier_chars = set("".join(data["labels"]))
    for fig in all_charts(data, "en"):
        for text in visible_texts(fig):
            cjk = {ch for ch in text if "\u4e00" <= ch <= "\u9fff"} - tier_chars
            assert not cjk, f"Chinese in English chart text {text!r}"


def test_no_global_state_changed_on_import():
    import importlib

    before = dict(matplotlib.rcParams)
    importlib.reload(charts)
    assert dict(matplotlib.rcParams) == before


# --------------------------------------------------------------------------- fonts


def test_setup_fonts_is_idempotent():
    first = charts.setup_fonts()
    n_fonts = len(matplotlib.font_manager.fontManager.ttflist)
    assert charts.setup_fonts() == first
    assert len(matplotlib.font_manager.fontManager.ttflist) == n_fonts
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    if first is not None:
        assert matplotlib.rcParams["font.sans-serif"][0] == first
        assert matplotlib.rcParams["font.sans-serif"].count(first) == 1


def test_setup_fonts_survives_rcdefaults():
    first = charts.setup_fonts()
    matplotlib.rcdefaults()
    assert charts.setup_fonts() == first
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    if first is not None:
        assert matplotlib.rcParams["font.sans-serif"][0] == first


def test_chinese_renders_without_missing_glyphs(data, caplog):
    if charts.setup_fonts() is None:
        pytest.skip("no CJK font installed (e.g. apt-get install fonts-noto-cjk)")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        for fig in all_charts(data, "zh"):
            fig.savefig(io.BytesIO(), format="png", dpi=60)  # Agg draws every glyph
            charts.figure_html(fig, alt="图表")
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "Glyph" in m or "missing from font" in m], messages


def test_pareto_cutoff_labels_show_the_actual_shares():
    """Three customers spend 100, 1 and 1: the first customer alone holds 100/102 = 98% of
    revenue, past both the 80% and the 95% levels. One mark, labelled with the actual
    shares (not '80% of revenue from 33%' and '95% of revenue from 33%')."""
    f = pd.DataFrame(
        {
            "tier": pd.Categorical(["A", "B", "C"], categories=["A", "B", "C"], ordered=True),
            "tier_rank": [1, 2, 3],
            "monetary": [100.0, 1.0, 1.0],
        }
    )
    ax = charts.pareto_curve(f, language="en")
    assert [a.get_text() for a in ax.texts] == ["98% of revenue from 33% of customers"]
    ax = charts.pareto_curve(f, language="zh")
    assert [a.get_text() for a in ax.texts] == ["33% 的客户贡献 98% 的营收"]
    plt.close("all")
