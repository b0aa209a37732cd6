"""The forward-looking value model in the report (issue 20, phase 2): tiering.analysis.value,
its strategy signals and budget weighting, the section (tiering.present.value) in English
and Chinese, the tables (value.csv, tiers.csv, the workbook's sheets).

The fast tests build small hand-computed cases and the reasons the model cannot run
(they stop before the library is imported, or simulate its absence); the tests that fit
(marked slow) run the demo data and check that the model detects the generator's lapsed
customers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html as htmlmod
import importlib.util
import re
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tiering import params as params_mod
from tiering.analysis import clv, strategy, value
from tiering.errors import ParamsError, TieringError
from tiering.present import value as present_value

from .conftest import ROOT


def tx(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    frame["is_return"] = frame["amount"] < 0
    return frame


def spec(**kw):
    return params_mod.ValueSpec(enabled=True, **kw)


def tier_table(ids, tiers, monetary, labels=("A", "B", "C")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": list(ids),
            "tier": pd.Categorical(list(tiers), categories=list(labels), ordered=True),
            "monetary": list(monetary),
        }
    )


def fake_analysis(result, tiers: pd.DataFrame, *, language="en"):
    """What the section reads of an Analysis."""
    summary = (
        tiers.groupby("tier", observed=False)["monetary"]
        .sum()
        .rename("revenue")
        .reset_index()
        .assign(tier=lambda d: d["tier"].astype(str))
    )
    total = summary["revenue"].sum()
    summary["revenue_share"] = summary["revenue"] / total if total else 0.0
    return SimpleNamespace(
        params=SimpleNamespace(language=language, currency="¥"),
        as_of=pd.Timestamp("2024-07-01").date(),
        labels=list(tiers["tier"].cat.categories),
        tier_summary=summary,
        tiers=tiers,
        value=result,
    )


def text_of(html: str) -> str:
    return htmlmod.unescape(re.sub(r"<[^>]+>", " ", html))


# --------------------------------------------------------------------------- parameters


def test_the_value_parameters_are_strict():
    p = params_mod.validate({"data": {"path": "x"}})
    assert p.value.enabled is False and p.value.horizon_months == 12
    assert p.value.discount_rate == 0.10 and p.value.budget_weighting == "revenue"
    with pytest.raises(ParamsError, match="horizn_months"):
        params_mod.validate({"data": {"path": "x"}, "value": {"horizn_months": 6}})
    with pytest.raises(ParamsError, match="expected_value needs the value model"):
        params_mod.validate(
            {"data": {"path": "x"}, "value": {"budget_weighting": "expected_value"}}
        )
    with pytest.raises(ParamsError, match="rescue_p_alive"):
        params_mod.validate({"data": {"path": "x"}, "value": {"rescue_p_alive": 1.5}})
    demo = params_mod.load(ROOT / "params" / "demo.yaml")
    assert demo.value.enabled and demo.value.rescue_p_alive == 0.5


# --------------------------------------------------------------------------- per tier (moved from clv)


def test_tier_value_and_the_grid():
    customers = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(6)],
            "p_alive": [0.9, 0.8, 0.7, 0.2, 0.1, 1.0],
            "clv": [100.0, 10.0, 50.0, 5.0, 0.0, 35.0],
        }
    )
    tiers = pd.Series(
        pd.Categorical(["A", "A", "B", "B", "B", None], categories=["A", "B"], ordered=True),
        index=customers["customer_id"],
    )
    table = value.tier_value(customers, tiers, n_boot=200, seed=3)
    assert list(table.columns) == list(value.TIER_COLUMNS)
    assert list(table["tier"]) == ["A", "B"] and list(table["customers"]) == [2, 3]
    assert table["clv_total"].tolist() == [110.0, 55.0]  # c5 has no tier: left out
    assert table["clv_share"].tolist() == pytest.approx([110 / 165, 55 / 165])
    assert table["clv_median"].tolist() == [55.0, 5.0]
    assert table["p_alive_median"].tolist() == pytest.approx([0.85, 0.2])
    assert (table["clv_ci_low"] <= table["clv_median"]).all()
    assert (table["clv_median"] <= table["clv_ci_high"]).all()
    assert table.equals(value.tier_value(customers, tiers, n_boot=200, seed=3))

    revenue = pd.Series([500.0, 400.0, 300.0, 200.0, 100.0, 50.0], index=customers["customer_id"])
    grid = value.value_grid(customers, tiers, revenue)
    assert list(grid.columns) == list(value.GRID_COLUMNS) and len(grid) == 4
    cell = grid.set_index(["tier", "value_tier"])
    # by CLV: c0 (100), c2 (50) -> value tier A (the size of A); c1, c3, c4 -> B
    assert cell.loc[("A", "A"), "customers"] == 1 and cell.loc[("A", "B"), "customers"] == 1
    assert cell.loc[("B", "A"), "customers"] == 1 and cell.loc[("B", "B"), "customers"] == 2
    assert cell.loc[("B", "A"), "revenue"] == 300.0 and cell.loc[("A", "B"), "clv_total"] == 10.0
    assert grid["customers"].sum() == 5 and grid["revenue"].sum() == 1500.0
    assert list(grid["action"]) == ["keep", "rescue", "develop", "low_cost"]


def test_a_grid_of_equal_groups_counted_by_hand():
    """Seven tiered customers, three tiers, two equal value groups (4 + 3 by CLV, ties
    by id): c3 and c4 tie at 20 and c3 comes first."""
    ids = [f"c{i}" for i in range(7)]
    customers = pd.DataFrame({"customer_id": ids, "clv": [90.0, 5.0, 40.0, 20.0, 20.0, 1.0, 60.0]})
    tiers = pd.Series(
        pd.Categorical(list("AABBCCC"), categories=list("ABC"), ordered=True), index=ids
    )
    revenue = pd.Series([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0], index=ids)
    group, labels = value.value_groups(customers, tiers, groups=2)
    assert labels == ["1", "2"]
    # ranks: c0 90, c6 60, c2 40, c3 20 | c4 20, c1 5, c5 1
    assert group.to_dict() == {
        "c0": "1", "c1": "2", "c2": "1", "c3": "1", "c4": "2", "c5": "2", "c6": "1"
    }  # fmt: skip
    grid = value.value_grid(customers, tiers, revenue, groups=2).set_index(["tier", "value_tier"])
    expected = {
        ("A", "1"): (1, 10.0, "keep"),
        ("A", "2"): (1, 20.0, "rescue"),
        ("B", "1"): (2, 70.0, "develop"),
        ("B", "2"): (0, 0.0, "watch"),
        ("C", "1"): (1, 70.0, "develop"),
        ("C", "2"): (2, 110.0, "low_cost"),
    }
    for key, (n, rev, action) in expected.items():
        assert (grid.loc[key, "customers"], grid.loc[key, "revenue"], grid.loc[key, "action"]) == (
            n,
            rev,
            action,
        ), key


def test_grid_actions():
    assert value.grid_action(0, 3, 0, 3) == "keep"
    assert value.grid_action(0, 3, 2, 3) == "rescue"
    assert value.grid_action(2, 3, 0, 3) == "develop"
    assert value.grid_action(2, 3, 1, 3) == "grow"
    assert value.grid_action(1, 3, 1, 3) == "maintain"
    assert value.grid_action(1, 3, 2, 3) == "watch"
    assert value.grid_action(2, 3, 2, 3) == "low_cost"
    assert set(value.ACTIONS) == {value.grid_action(i, 3, j, 3) for i in range(3) for j in range(3)}


# --------------------------------------------------------------------------- inputs


def test_aggregates_give_the_summary_of_the_transactions():
    rows = [
        ("a", "2024-01-01", 10.0),
        ("a", "2024-01-01", 5.0),
        ("a", "2024-01-15", 20.0),
        ("a", "2024-01-15", -4.0),
        ("a", "2024-01-29", 30.0),
        ("b", "2024-02-12", 7.0),
    ]
    want = clv.rfm_summary(tx(rows), cutoff="2024-03-01")
    aggregates = pd.DataFrame(
        {
            "customer_id": ["b", "a", "z"],
            "first_purchase": pd.to_datetime(["2024-02-12 10:00", "2024-01-01 09:00", None]),
            "last_purchase": pd.to_datetime(["2024-02-12 10:00", "2024-01-29 17:00", None]),
            "purchase_days": [1, 3, 0],  # z: returns only
            "repeat_spend": [0.0, 46.0, 0.0],
        }
    )
    got = value.summary_from_aggregates(aggregates, cutoff="2024-03-01")
    pd.testing.assert_frame_equal(got, want)


def test_aggregates_without_the_models_inputs_are_a_reason():
    tiers = tier_table(["a"], ["A"], [10.0])
    aggregates = pd.DataFrame(
        {"customer_id": ["a"], "first_purchase": [pd.Timestamp("2024-01-01")]}
    )
    v = value.analyse_value(tiers, aggregates=aggregates, as_of="2024-07-01", spec=spec())
    assert v.reason == "missing_inputs" and not v.available
    assert v.params["missing"] == ["last_purchase", "purchase_days", "repeat_spend"]
    assert list(v.customers.columns) == list(value.CUSTOMER_COLUMNS) and v.customers.empty
    html = present_value.section_value(fake_analysis(v, tiers))
    assert "last_purchase, purchase_days, repeat_spend" in text_of(html)


# --------------------------------------------------------------------------- reasons in the section


def test_too_short_a_history_gives_the_section_with_its_reason():
    rows = [("a", "2024-05-01", 5.0), ("a", "2024-06-01", 5.0), ("b", "2024-05-05", 3.0)]
    tiers = tier_table(["a", "b"], ["A", "B"], [10.0, 3.0])
    v = value.analyse_value(
        tiers, transactions=tx(rows), as_of="2024-07-01", spec=spec(), holdout_months=3
    )
    assert v.reason == "too_short" and v.holdout is not None and v.holdout.reason == "too_short"
    en = text_of(present_value.section_value(fake_analysis(v, tiers)))
    assert "Forward-looking value" in en
    assert "the data covers 1 month; the model needs at least 6 (value.min_history_months)" in en
    assert "The rest of the report does not depend on it" in en
    zh = text_of(present_value.section_value(fake_analysis(v, tiers, language="zh")))
    assert "未来价值" in zh and "数据只覆盖1个月；模型至少需要6个月" in zh
    assert present_value.headline(fake_analysis(v, tiers)) is None


def test_all_one_time_buyers_give_the_section_with_its_reason():
    rows = [(f"c{i}", f"2023-{1 + i % 12:02d}-10", 10.0) for i in range(12)]
    ids = [f"c{i}" for i in range(12)]
    tiers = tier_table(ids, ["A"] * 3 + ["B"] * 4 + ["C"] * 5, [10.0] * 12)
    v = value.analyse_value(tiers, transactions=tx(rows), as_of="2024-01-01", spec=spec())
    assert v.reason == "no_repeat_buyers"
    assert v.model is not None and v.model.info["customers"] == 12
    en = text_of(present_value.section_value(fake_analysis(v, tiers)))
    assert "every customer bought only once" in en
    zh = text_of(present_value.section_value(fake_analysis(v, tiers, language="zh")))
    assert "所有客户都只购买过一次" in zh


def _repeat_rows(n: int = 30) -> list:
    rows = []
    for i in range(n):
        for month in range(1, 1 + 1 + i % 5):
            rows.append((f"c{i:02d}", f"2023-{month * 2:02d}-{1 + i % 20:02d}", 10.0 + i))
    return rows


def test_pymc_marketing_missing_gives_the_install_command(monkeypatch):
    rows = _repeat_rows()
    ids = sorted({r[0] for r in rows})
    tiers = tier_table(ids, (["A"] * 5 + ["B"] * 10 + ["C"] * 15), [1.0] * len(ids))
    monkeypatch.setitem(sys.modules, "pymc_marketing", None)  # import fails
    v = value.analyse_value(tiers, transactions=tx(rows), as_of="2024-01-01", spec=spec())
    assert v.reason == "not_installed" and "pymc_marketing" in v.params["message"]
    en = text_of(present_value.section_value(fake_analysis(v, tiers)))
    assert "pip install 'tiering[value]'" in en and "PyMC-Marketing is not installed" in en
    zh = text_of(present_value.section_value(fake_analysis(v, tiers, language="zh")))
    assert "未安装PyMC-Marketing" in zh and "pip install 'tiering[value]'" in zh


def test_a_library_error_is_a_reason_not_a_lost_report(monkeypatch):
    rows = _repeat_rows()
    ids = sorted({r[0] for r in rows})
    tiers = tier_table(ids, (["A"] * 5 + ["B"] * 10 + ["C"] * 15), [1.0] * len(ids))

    def broken(*_a, **_k):
        raise MemoryError("out of memory")

    monkeypatch.setattr(clv, "fit_value_model", broken)
    v = value.analyse_value(tiers, transactions=tx(rows), as_of="2024-01-01", spec=spec())
    assert v.reason == "fit_failed" and "out of memory" in v.params["message"]
    assert "the fit failed (MemoryError: out of memory)" in text_of(
        present_value.section_value(fake_analysis(v, tiers))
    )


# --------------------------------------------------------------------------- strategy


def _value_result(tiers: pd.DataFrame, customers: pd.DataFrame, **params):
    table = pd.DataFrame(
        {"tier": ["A", "B", "C"], "clv_total": [10.0, 60.0, 30.0]}
    )  # only what the budget reads
    model = SimpleNamespace(spend_available=True)
    return value.ValueAnalysis(
        model,
        None,
        customers,
        table,
        pd.DataFrame(columns=list(value.GRID_COLUMNS)),
        {"budget_weighting": "revenue", **params},
        "",
    )


def test_value_signals_are_counted_per_tier():
    tiers = tier_table(list("abcdef"), list("AABBCC"), [100.0, 50.0, 30.0, 20.0, 5.0, 1.0])
    customers = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "tier": list("AABBCC"),
            "p_alive": [0.2, 0.9, 0.3, 0.8, 0.95, 1.0],
            "clv": [5.0, 80.0, 70.0, 4.0, 60.0, 1.0],
            "rescue": [True, False, True, False, False, False],
            "develop": [False, False, True, False, True, False],
        }
    )
    out = strategy.value_signals(customers, tiers, ["A", "B", "C"])
    assert list(out.columns) == list(strategy.VALUE_SIGNAL_COLUMNS) and len(out) == 6
    got = out.set_index(["signal", "tier"])
    assert got.loc[("rescue", "A"), ["customers", "revenue", "clv"]].tolist() == [1, 100.0, 5.0]
    assert got.loc[("rescue", "A"), "customer_share"] == 0.5
    assert got.loc[("rescue", "B"), "p_alive_median"] == 0.3
    assert got.loc[("rescue", "C"), "customers"] == 0 and got.loc[("rescue", "C"), "clv"] == 0.0
    assert got.loc[("develop", "B"), "customers"] == 1 and got.loc[("develop", "C"), "clv"] == 60.0
    assert got.loc[("develop", "A"), "customers"] == 0


def test_the_budget_can_weigh_expected_value():
    from tiering.analysis.playbook import load_playbook

    n = {"A": 2, "B": 3, "C": 5}
    labels = [k for k, m in n.items() for _ in range(m)]
    tiers = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(10)],
            "tier": pd.Categorical(labels, categories=list("ABC"), ordered=True),
            "tier_rank": [" ABC".index(x) for x in labels],
            "monetary": [400.0, 400.0, 100.0, 100.0, 100.0, 20.0, 20.0, 20.0, 20.0, 20.0],
            "frequency": [5] * 10,
            "recency_days": [10] * 10,
            "tenure_days": [400] * 10,
            "aov": [10.0] * 10,
            "gross_revenue": [400.0, 400.0, 100.0, 100.0, 100.0, 20.0, 20.0, 20.0, 20.0, 20.0],
            "returns_value": [0.0] * 10,
        }
    )
    empty = pd.DataFrame(columns=["customer_id", "tier", "p_alive", "clv", "rescue", "develop"])
    only_revenue = params_mod.StrategySpec(
        budget=1000, budget_weights={"revenue": 1, "growth": 0, "risk": 0}
    )
    book = load_playbook(None)
    past = strategy.recommend(tiers, spec=only_revenue, playbook=book, value=None)
    assert past.budget["amount"].tolist() == pytest.approx([8000 / 12, 3000 / 12, 1000 / 12])
    ev = _value_result(tiers, empty, budget_weighting="expected_value")
    weighted = strategy.recommend(tiers, spec=only_revenue, playbook=book, value=ev)
    # expected value 10 / 60 / 30 of 100
    assert weighted.budget["amount"].tolist() == pytest.approx([100.0, 600.0, 300.0])
    assert weighted.budget["expected_value_share"].tolist() == pytest.approx([0.1, 0.6, 0.3])
    assert weighted.budget["revenue_share"].tolist() == pytest.approx(
        [800 / 1200, 300 / 1200, 100 / 1200]
    )
    assert weighted.rule.revenue_basis == "expected_value" and past.rule.revenue_basis == "revenue"
    assert "expected_value" not in past.budget.columns


# --------------------------------------------------------------------------- the demo (fits)


@pytest.fixture(scope="module")
def demo():
    pytest.importorskip("pymc_marketing", reason="PyMC-Marketing is not installed")
    from tiering.analysis import pipeline

    p = params_mod.load(ROOT / "params" / "demo.yaml")
    analysis, loaded = pipeline.run(p)
    return analysis, loaded


@pytest.mark.slow
def test_the_demo_report_has_the_section_in_both_languages(demo):
    a, _ = demo
    v = a.value
    assert v.available and v.spend_available and "value" in a.timings
    assert v.holdout is not None and v.holdout.available
    en = text_of(present_value.section_value(a))
    for phrase in (
        "Forward-looking value",
        "Value–potential grid",
        "Checked on data the model has not seen",
        "has P(alive) = 1",
        "rescue now",
        "develop",
    ):
        assert phrase in en, phrase
    beats = v.holdout.params["beats_baseline_purchases"]
    assert ("The model beats the naive baseline" in en) == beats
    zh_params = a.params.model_copy(update={"language": "zh"})
    zh = text_of(present_value.section_value(dataclasses.replace(a, params=zh_params)))
    for phrase in (
        "未来价值",
        "价值-潜力矩阵",
        "存活概率",
        "客户生命周期价值",
        "立即挽救",
        "重点培育",
    ):
        assert phrase in zh, phrase
    # the grid covers every tiered customer with a CLV, and its cells add up
    c = v.customers
    assert v.grid["customers"].sum() == int(c["clv"].notna().sum())
    cells = c.groupby(["tier", "value_tier"]).size()
    grid = v.grid.set_index(["tier", "value_tier"])["customers"]
    assert all(grid[k] == n for k, n in cells.items())
    # the strategy's counts are the customers flagged
    sig = a.recommendations.value_signals.groupby("signal")["customers"].sum()
    assert sig["rescue"] == int(c["rescue"].sum()) == v.params["rescue"]
    assert sig["develop"] == int(c["develop"].sum()) == v.params["develop"]
    assert not c.loc[c["develop"], "tier"].eq(a.labels[0]).any()
    assert (c.loc[c["rescue"], "p_alive"] < 0.5).all()


@pytest.mark.slow
def test_the_demo_tables_and_their_bytes_on_rerun(demo, tmp_path):
    from tiering.analysis import pipeline
    from tiering.build import outputs

    a, loaded = demo
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    written = outputs.write_tables(a, loaded, first)
    assert "value.csv" in written
    table = pd.read_csv(first / "value.csv", dtype={"customer_id": str})
    assert list(table.columns) == list(value.CUSTOMER_COLUMNS)
    assert len(table) == len(a.tiers)
    tiers = pd.read_csv(first / "tiers.csv", dtype={"customer_id": str})
    assert list(tiers.columns[-5:]) == list(outputs.VALUE_COLUMNS)
    merged = tiers.merge(table, on="customer_id", suffixes=("", "_v"))
    np.testing.assert_allclose(merged["clv"], merged["clv_v"])
    from openpyxl import load_workbook

    wb = load_workbook(first / "action_lists.xlsx", read_only=True)
    assert {"Rescue (value)", "Develop (value)"} <= set(wb.sheetnames)
    rescue = list(wb["Rescue (value)"].iter_rows(values_only=True))
    assert rescue[0][:3] == ("Customer ID", "Name", "Tier")
    assert len(rescue) - 1 == a.value.params["rescue"]
    # a second run of the model gives the same bytes
    again = pipeline.value_of(a.tiers, loaded, a.params)
    rerun = dataclasses.replace(a, value=again)
    outputs.write_tables(rerun, loaded, second)
    for name in ("value.csv", "tiers.csv", "action_lists.xlsx"):
        digest = [hashlib.sha256((d / name).read_bytes()).hexdigest() for d in (first, second)]
        assert digest[0] == digest[1], name


@pytest.mark.slow
def test_the_model_detects_the_demo_generators_lapsed_customers(demo):
    """The generator lets 65 % of customers lapse after a drawn lifetime: among repeat
    buyers P(alive) separates the lapsed from the active (AUC > 0.9; measured 0.95).
    One-time buyers have P(alive) = 1 under BG/NBD and are left out."""
    path = ROOT / "data" / "generate_demo.py"
    module = importlib.util.spec_from_file_location("generate_demo_h20", path)
    gd = importlib.util.module_from_spec(module)
    module.loader.exec_module(gd)
    rng = np.random.default_rng(gd.DEFAULT_SEED)
    gd.make_catalogue(rng)  # drawn before the customers, as generate() does
    customers = gd.make_customers(rng)
    lapsed = pd.Series(customers.active_until < gd.N_DAYS - 1, index=customers.ids)
    a, _ = demo
    c = a.value.customers
    repeat = c[(c["frequency"] > 0) & c["customer_id"].isin(lapsed.index)]
    truth = lapsed.reindex(repeat["customer_id"]).to_numpy(dtype=bool)
    alive = repeat["p_alive"].to_numpy(dtype=float)
    from scipy.stats import mannwhitneyu

    auc = mannwhitneyu(alive[~truth], alive[truth]).statistic / ((~truth).sum() * truth.sum())
    assert auc > 0.9, auc
    assert np.median(alive[truth]) < 0.5 < np.median(alive[~truth])


@pytest.mark.slow
def test_non_convergence_gives_the_section_with_its_reason():
    pytest.importorskip("pymc_marketing", reason="PyMC-Marketing is not installed")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):  # regular buyers who never stop: no maximum inside the model
        day = pd.Timestamp("2023-01-02") + pd.Timedelta(days=int(rng.integers(0, 60)))
        while day < pd.Timestamp("2024-01-01"):
            rows.append((f"c{i:03d}", day, 10.0))
            day += pd.Timedelta(days=14)
    ids = [f"c{i:03d}" for i in range(200)]
    tiers = tier_table(ids, ["A"] * 40 + ["B"] * 60 + ["C"] * 100, [1.0] * 200)
    v = value.analyse_value(tiers, transactions=tx(rows), as_of="2024-01-01", spec=spec())
    assert v.reason == "not_converged" and not v.available
    en = text_of(present_value.section_value(fake_analysis(v, tiers)))
    assert "the fit did not converge" in en and "limit of the model" in en
    zh = text_of(present_value.section_value(fake_analysis(v, tiers, language="zh")))
    assert "模型拟合未收敛" in zh


def test_unknown_reason_codes_have_text():
    """Every reason the step can give is worded in both languages."""
    from tiering.present.i18n import has

    for code in value.REASONS:
        assert has(f"value.reason_{code}"), code
    for code in clv.SPEND_REASONS:
        assert has(f"value.spend_{code}"), code
    for code in value.ACTIONS:
        assert has(f"value.action_{code}"), code
    with pytest.raises(TieringError):
        present_value.t("value.no_such_key", "en")


def test_a_sampled_streaming_run_says_what_the_aggregates_lack():
    """On a streaming engine whose transactions were sampled, the model reads the
    engine's per-customer aggregates; the features table has no purchase days or repeat
    spend, so the section names them instead of valuing only the sample."""
    import datetime as dt

    from tiering.analysis import pipeline

    features = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "first_purchase": pd.to_datetime(["2023-01-01", "2023-02-01"]),
            "last_purchase": pd.to_datetime(["2023-06-01", "2023-02-01"]),
            "frequency": [3, 1],
            "monetary": [30.0, 10.0],
        }
    )
    loaded = pipeline.EngineLoad(
        transactions=tx([("a", "2023-01-01", 10.0)]),
        rejected=None,
        quality=pd.DataFrame(),
        source={"transactions_sample": {"customers": 1}},
        as_of=dt.date(2024, 1, 1),
        window_start=None,
        attributes=(),
        rejected_path=None,
        result=SimpleNamespace(features=features),
    )
    p = params_mod.validate({"data": {"path": "x"}, "value": {"enabled": True}})
    v = pipeline.value_of(tier_table(["a", "b"], ["A", "B"], [30.0, 10.0]), loaded, p)
    assert v.reason == "missing_inputs" and v.params["source"] == "aggregates"
    assert v.params["missing"] == ["purchase_days", "repeat_spend"]
