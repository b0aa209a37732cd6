"""Tests of the value model (tiering.analysis.clv, issue 20).

Reference values: Fader, Hardie & Lee (2005), "Counting your customers the easy way",
Marketing Science 24(2): BG/NBD on the CDNOW sample (2,357 customers, 39-week
calibration) r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, log-likelihood -9,582.4;
Fader & Hardie (2013), "The Gamma-Gamma model of monetary value" (and Fader, Hardie &
Lee 2005, JMR 42): on the same sample's 946 repeat customers p = 6.25, q = 3.74,
gamma = 15.44.

The CDNOW sample is read from the wheel of ``lifetimes`` (MIT; ``pip install --no-deps
lifetimes``), which ships Fader & Hardie's transaction file ``CDNOW_sample.txt`` and their
summary ``cdnow_customers_summary_with_transactions.csv``. The files are located through
the package metadata: lifetimes' code is never imported (it does not import on current
pandas/setuptools). The fits need PyMC-Marketing; without it (or without lifetimes) those
tests are skipped and the others run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tiering.analysis import clv
from tiering.errors import DataError, TieringError

from .conftest import ROOT

FHL_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FHL_LOGLIK = -9582.4
FH_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
CDNOW_CUTOFF = "1997-10-01"  # calibration 1 Jan - 30 Sep 1997: 39 weeks
CDNOW_END = "1998-07-01"  # the sample ends on 30 Jun 1998: a 39-week holdout


@pytest.fixture(scope="module")
def library():
    return pytest.importorskip("pymc_marketing", reason="PyMC-Marketing is not installed")


def lifetimes_file(name: str):
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = distribution("lifetimes").locate_file(f"lifetimes/datasets/{name}")
    except PackageNotFoundError:
        pytest.skip(
            "the CDNOW sample comes from the lifetimes wheel: pip install --no-deps lifetimes"
        )
    if not path.exists():
        pytest.skip(f"lifetimes ships no {name}")
    return path


@pytest.fixture(scope="module")
def cdnow():
    """The CDNOW sample as clean transactions (6,919 rows, 2,357 customers)."""
    raw = pd.read_csv(
        lifetimes_file("CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["master_id", "id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["id"].astype(str).str.zfill(4),
            "order_id": np.arange(len(raw)).astype(str),
            "order_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["amount"].astype(float),
            "is_return": False,
        }
    )


@pytest.fixture(scope="module")
def cdnow_model(library, cdnow):
    return clv.fit_value_model(clv.rfm_summary(cdnow, cutoff=CDNOW_CUTOFF))


def tx(rows) -> pd.DataFrame:
    """Transactions from (customer, date, amount) rows; a negative amount is a return."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    frame["is_return"] = frame["amount"] < 0
    return frame


def simulate(n: int = 400, *, weeks: int = 78, seed: int = 1) -> pd.DataFrame:
    """Transactions drawn from the BG/NBD and Gamma-Gamma models (r 0.5, alpha 5 weeks,
    a 0.8, b 2.5; p 6, q 4, v 15), first purchases spread over the first 26 weeks."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.5, 1 / 5.0, n)
    drop = rng.beta(0.8, 2.5, n)
    nu = rng.gamma(4.0, 1 / 15.0, n)
    start = pd.Timestamp("2022-01-03")
    rows = []
    for i in range(n):
        t, repeat = rng.uniform(0, 26), False
        while t < weeks:
            rows.append(
                (f"c{i:04d}", start + pd.Timedelta(days=int(t * 7)), rng.gamma(6.0, 1 / nu[i]))
            )
            if repeat and rng.random() < drop[i]:  # drop-out comes after a repeat purchase
                break
            t, repeat = t + rng.exponential(1 / rate[i]), True
    frame = tx(rows)
    frame["amount"] = frame["amount"].round(2)
    return frame


# --------------------------------------------------------------------------- summary


def test_the_summary_follows_the_published_convention():
    rows = [
        ("a", "2024-01-01", 10.0),
        ("a", "2024-01-01", 5.0),  # same day: one purchase of 15
        ("a", "2024-01-15", 20.0),
        ("a", "2024-01-15", -4.0),  # a return that day: that day's net spend is 16
        ("a", "2024-01-29", 30.0),
        ("a", "2024-03-01", 99.0),  # on the cut-off: not in the calibration period
        ("b", "2024-02-12", 7.0),  # one-time buyer
        ("c", "2024-01-08", -3.0),  # only a return: no purchase, not a customer here
    ]
    s = clv.rfm_summary(tx(rows), cutoff="2024-03-01")
    assert list(s.columns) == list(clv.SUMMARY_COLUMNS)
    assert list(s["customer_id"]) == ["a", "b"]
    a, b = s.iloc[0], s.iloc[1]
    assert a["frequency"] == 2  # three purchase days
    assert a["recency"] == pytest.approx(4.0)  # 28 days
    assert a["T"] == pytest.approx(59 / 7)  # 1 Jan to 29 Feb, the last calibration day
    assert a["monetary_value"] == pytest.approx((16 + 30) / 2)  # the first day left out
    assert (b["frequency"], b["recency"], b["monetary_value"]) == (0, 0.0, 0.0)
    assert b["T"] == pytest.approx(17 / 7)
    days = clv.rfm_summary(tx(rows), cutoff="2024-03-01", period="D")
    assert days["recency"].iloc[0] == 28 and days["T"].iloc[0] == 59
    later = clv.rfm_summary(tx(rows), cutoff="2024-03-01", start="2024-01-10")
    assert later["frequency"].iloc[0] == 1 and later["monetary_value"].iloc[0] == 30


def test_a_negative_amount_is_a_return_when_the_data_has_no_flag():
    frame = tx([("a", "2024-01-01", 10.0), ("a", "2024-01-20", -10.0)]).drop(columns="is_return")
    s = clv.rfm_summary(frame, cutoff="2024-02-01")
    assert (s["frequency"].iloc[0], s["monetary_value"].iloc[0]) == (0, 0.0)


def test_the_summary_rejects_bad_input():
    with pytest.raises(DataError, match="lack order_date"):
        clv.rfm_summary(pd.DataFrame({"customer_id": [], "amount": []}), cutoff="2024-01-01")
    with pytest.raises(TieringError, match="period"):
        clv.rfm_summary(tx([("a", "2024-01-01", 1.0)]), cutoff="2024-02-01", period="M")


def test_the_cdnow_summary_is_fader_and_hardies(cdnow):
    """Our summary of the raw CDNOW transactions equals the published one (x, t_x, T,
    zbar to the 2 decimals it has), customer by customer."""
    published = pd.read_csv(lifetimes_file("cdnow_customers_summary_with_transactions.csv"))
    ours = clv.rfm_summary(cdnow, cutoff=CDNOW_CUTOFF)
    assert len(ours) == 2357 and int((ours["frequency"] > 0).sum()) == 946
    assert int(ours["frequency"].sum()) == int(published["x"].sum()) == 2457
    assert list(ours["customer_id"].astype(int)) == list(published["ID"])
    np.testing.assert_array_equal(ours["frequency"], published["x"])
    np.testing.assert_allclose(ours["recency"], published["t_x"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(ours["T"], published["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(ours["monetary_value"], published["zbar"], atol=0.005 + 1e-9)


# --------------------------------------------------------------------------- reasons (no fit)


def test_too_short_a_history_is_skipped_with_a_reason():
    rows = [("a", "2024-01-01", 5.0), ("a", "2024-02-01", 5.0), ("b", "2024-01-05", 3.0)]
    m = clv.fit_value_model(clv.rfm_summary(tx(rows), cutoff="2024-04-01"))
    assert not m.available and m.reason == "too_short"
    assert (m.info["history_months"], m.info["need_months"]) == (2, 6)
    assert m.customers.empty and list(m.customers.columns) == list(clv.CUSTOMER_COLUMNS)
    assert np.isnan(m.parameters["r"]) and not m.converged
    once = [r for r in rows if r[1] != "2024-02-01"]  # passes the gate, stops at the next
    ok = clv.fit_value_model(clv.rfm_summary(tx(once), cutoff="2024-04-01"), min_history_months=2)
    assert ok.reason == "no_repeat_buyers"


def test_all_one_time_buyers_are_skipped_with_a_reason():
    rows = [(f"c{i}", f"2023-{1 + i % 12:02d}-10", 10.0) for i in range(40)]
    m = clv.fit_value_model(clv.rfm_summary(tx(rows), cutoff="2024-01-01"))
    assert m.reason == "no_repeat_buyers" and m.info["repeat_customers"] == 0
    assert m.info["customers"] == 40 and not m.available and not m.spend_available


def test_no_customer_is_a_reason():
    m = clv.fit_value_model(clv.rfm_summary(tx([("a", "2024-05-01", 1.0)]), cutoff="2024-01-01"))
    assert m.reason == "no_customers"


def test_the_holdout_needs_twice_its_length():
    rows = [("a", "2024-01-01", 5.0), ("a", "2024-03-01", 5.0)]
    h = clv.value_holdout_check(tx(rows), as_of="2024-06-01", months=3)
    assert not h.available and h.reason == "too_short"
    assert (h.params["need_months"], h.params["have_months"]) == (6, 5)
    assert h.customers.empty and h.groups.empty


def test_parameters_are_checked():
    s = clv.rfm_summary(tx([("a", "2023-01-01", 1.0)]), cutoff="2024-01-01")
    for bad in ({"horizon_months": 0}, {"discount_rate_annual": 1.5}, {"period": "M"}):
        with pytest.raises(TieringError, match=next(iter(bad))):
            clv.fit_value_model(s, **bad)


# --------------------------------------------------------------------------- published values


def rel(got: float, want: float) -> float:
    return abs(got - want) / abs(want)


@pytest.mark.slow
def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow_model):
    m = cdnow_model
    assert m.available and m.converged, m.message
    for name, want in FHL_BGNBD.items():
        assert rel(m.parameters[name], want) < 0.01, (name, m.parameters[name], want)
    assert rel(m.log_likelihood, FHL_LOGLIK) < 0.01
    assert m.log_likelihood == pytest.approx(FHL_LOGLIK, abs=0.05)  # published to 0.1
    assert m.at_boundary == ()


@pytest.mark.slow
def test_gamma_gamma_reproduces_fader_hardie(cdnow_model):
    m = cdnow_model
    assert m.spend_available and m.spend_converged, m.spend_message
    assert m.info["spend_customers"] == 946 and m.info["spend_excluded"] == 0
    for name, want in FH_GAMMA_GAMMA.items():
        assert rel(m.parameters[name], want) < 0.01, (name, m.parameters[name], want)
    # Fader & Hardie (2013) report the correlation of frequency and spend as 0.11
    assert m.info["spend_frequency_corr"] == pytest.approx(0.11, abs=0.005)


@pytest.mark.slow
def test_the_predictions_are_the_published_formulas(cdnow_model):
    """P(alive) (Fader, Hardie & Lee 2008), expected purchases (FHL 2005, eq. 10) and the
    Gamma-Gamma conditional mean (Fader & Hardie 2013, eq. 5), written out here."""
    from scipy.special import hyp2f1

    m = cdnow_model
    r, alpha, a, b = (m.parameters[k] for k in ("r", "alpha", "a", "b"))
    p, q, v = (m.parameters[k] for k in ("p", "q", "v"))
    c = m.customers
    x, tx_, T = c["frequency"].to_numpy(), c["recency"].to_numpy(), c["T"].to_numpy()
    alive = np.where(
        x > 0,
        1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx_)) ** (r + x)),
        1.0,
    )
    np.testing.assert_allclose(c["p_alive"], alive, atol=2e-6)
    t = 12 * 4.345  # twelve months of 4.345 weeks
    num = (a + b + x - 1) / (a - 1)
    num *= 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + T + t)
    )
    expected = num / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + tx_)) ** (r + x))
    np.testing.assert_allclose(c["expected_purchases"], expected, atol=2e-6)
    zbar = c["monetary_value"].to_numpy()
    spend = (p * (v + x * zbar)) / (p * x + q - 1)
    np.testing.assert_allclose(c["expected_spend"], spend, atol=2e-6)
    assert (c.loc[c["frequency"] == 0, "p_alive"] == 1.0).all()  # a property of the BG/NBD
    # the discounted CLV is below the undiscounted, which is purchases x spend
    undiscounted = c["expected_purchases"] * c["expected_spend"]
    assert (c["clv"] <= undiscounted + 1e-6).all()
    assert (c["clv"] >= undiscounted / 1.1 - 1e-6).all()  # no month is discounted more


@pytest.mark.slow
def test_no_discount_makes_clv_purchases_times_spend(library, cdnow):
    m = clv.fit_value_model(
        clv.rfm_summary(cdnow, cutoff=CDNOW_CUTOFF), discount_rate_annual=0.0, horizon_months=6
    )
    c = m.customers
    # both factors are rounded to 6 decimals
    np.testing.assert_allclose(c["clv"], c["expected_purchases"] * c["expected_spend"], atol=5e-4)
    assert m.info["horizon_periods"] == pytest.approx(6 * 4.345)


@pytest.mark.slow
def test_the_holdout_check_on_cdnow(library, cdnow):
    """39 weeks of calibration, 39 weeks of holdout, as in FHL (2005)."""
    h = clv.value_holdout_check(cdnow, as_of=CDNOW_END, months=9)
    assert h.available, h.reason
    p = h.params
    assert p["cutoff"] == pd.Timestamp(CDNOW_CUTOFF).date() and p["holdout_periods"] == 39.0
    assert p["customers"] == 2357 and p["new_customers"] == 0
    assert p["model"].parameters["r"] == pytest.approx(FHL_BGNBD["r"], rel=0.01)
    assert list(h.customers.columns) == list(clv.HOLDOUT_COLUMNS)
    assert list(h.groups.columns) == list(clv.GROUP_COLUMNS)
    assert list(h.groups["frequency_group"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert h.groups["customers"].sum() == 2357
    # the model beats the naive rate on this data, purchases and spend
    assert p["beats_baseline_purchases"] and p["mae_purchases"] < p["mae_purchases_baseline"]
    assert p["beats_baseline_spend"] and p["mae_spend"] < p["mae_spend_baseline"]
    # repeat purchase days in weeks 40-78, and the model's total within 15 % of them
    assert p["actual_purchases_total"] == h.customers["actual_purchases"].sum()
    assert p["predicted_purchases_total"] == pytest.approx(p["actual_purchases_total"], rel=0.15)
    # calibration chart: the mean prediction rises with calibration frequency
    assert h.groups["predicted_purchases"].is_monotonic_increasing
    assert h.groups["actual_purchases"].iloc[-1] > h.groups["actual_purchases"].iloc[0]


# --------------------------------------------------------------------------- degenerate cases


@pytest.mark.slow
def test_a_customer_with_negative_net_spend_is_left_out_of_the_spend_fit(library):
    frame = simulate()
    late = frame["order_date"].max() - pd.Timedelta(days=7)
    refunds = tx([("c0000", "2022-01-03", 40.0), ("c0000", late - pd.Timedelta(days=7), 5.0)])
    refunds = pd.concat([refunds, tx([("c0000", late, -500.0)])])
    frame = pd.concat([frame[frame["customer_id"] != "c0000"], refunds], ignore_index=True)
    s = clv.rfm_summary(frame, cutoff=frame["order_date"].max() + pd.Timedelta(days=1))
    row = s.set_index("customer_id").loc["c0000"]
    assert row["frequency"] == 1 and row["monetary_value"] == -495.0
    m = clv.fit_value_model(s)
    assert m.available and m.spend_available, (m.reason, m.spend_reason)
    assert m.info["spend_excluded"] == 1
    assert m.info["spend_customers"] == int((s["frequency"] > 0).sum()) - 1
    c = m.customers.set_index("customer_id")
    assert not c.loc["c0000", "in_spend_model"]
    population = m.parameters["p"] * m.parameters["v"] / (m.parameters["q"] - 1)
    assert c.loc["c0000", "expected_spend"] == pytest.approx(population, abs=1e-6)
    assert np.isfinite(c["clv"]).all() and (c["clv"] >= 0).all()


@pytest.mark.slow
def test_non_convergence_is_reported(library):
    m = clv.fit_value_model(clv.rfm_summary(simulate(), cutoff="2023-07-03"), max_evaluations=3)
    assert not m.available and m.reason == "not_converged" and not m.converged
    assert "3 evaluations" in m.message
    assert m.customers.empty and np.isfinite(m.parameters["r"])


@pytest.mark.slow
def test_estimates_that_run_to_a_limit_are_not_converged(library):
    """Customers who buy every two weeks and never stop: no heterogeneity (r, alpha ->
    infinity) and no drop-out (a -> 0); no maximum inside the model, and predictions
    that are not finite there. The fit says so instead of returning NaN or nonsense."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        day = pd.Timestamp("2023-01-02") + pd.Timedelta(days=int(rng.integers(0, 60)))
        while day < pd.Timestamp("2024-01-01"):
            rows.append((f"c{i:03d}", day, 10.0))
            day += pd.Timedelta(days=14)
    m = clv.fit_value_model(clv.rfm_summary(tx(rows), cutoff="2024-01-01"))
    assert m.reason == "not_converged" and not m.available
    assert "limit of the model" in m.message and m.customers.empty
    assert m.parameters["r"] > 1e4 and m.parameters["a"] < 1e-4


@pytest.mark.slow
def test_no_positive_repeat_spend_keeps_purchases(library):
    frame = simulate(150, seed=5)
    frame["amount"] = 0.0
    m = clv.fit_value_model(clv.rfm_summary(frame, cutoff="2023-07-03"))
    assert m.available and m.spend_reason == "no_positive_spend" and not m.spend_available
    assert m.customers["p_alive"].notna().all() and m.customers["clv"].isna().all()


@pytest.mark.slow
def test_the_fit_recovers_simulated_parameters(library):
    """Data drawn from the model give back its parameters (loosely: one sample)."""
    s = clv.rfm_summary(simulate(3000, seed=11), cutoff="2023-07-03")
    m = clv.fit_value_model(s)
    assert m.converged and m.spend_converged
    truth = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 15.0}
    for name, want in truth.items():
        assert rel(m.parameters[name], want) < 0.25, (name, m.parameters[name])


@pytest.mark.slow
@pytest.mark.parametrize("max_evaluations", [5000, 3])
def test_the_map_is_find_maps_to_the_last_bit(library, max_evaluations):
    """``clv._map`` compiles fewer functions than PyMC's ``find_MAP`` but must land on the
    same bits: the same start, the same log density and gradient, the same optimiser
    (and, stopped after a few evaluations, the same last point)."""
    import pymc as pm
    from pymc_extras.prior import Prior
    from pymc_marketing import clv as library_clv

    s = clv.rfm_summary(simulate(300, seed=3), cutoff="2023-07-03")
    data = s[["frequency", "recency", "T"]].assign(customer_id=np.arange(len(s)))
    spend = s.loc[s["frequency"] > 0, ["frequency", "monetary_value"]].assign(
        customer_id=lambda d: np.arange(len(d))
    )
    models = [
        library_clv.BetaGeoModel(
            model_config={k: Prior("HalfFlat") for k in "r alpha a b".split()}
        ),
        library_clv.GammaGammaModel(model_config={k: Prior("HalfFlat") for k in "p q v".split()}),
    ]
    for model, frame in zip(models, [data, spend]):
        model.build_model(frame)
        ours, result = clv._map(pm, model.model, seed=0, max_evaluations=max_evaluations)
        theirs = pm.find_MAP(
            model=model.model,
            maxeval=max_evaluations,
            progressbar=False,
            include_transformed=False,
            seed=0,
        )
        assert sorted(ours) == sorted(theirs)
        for name in theirs:
            assert np.asarray(ours[name]).tobytes() == np.asarray(theirs[name]).tobytes(), name
        assert (result is None) == (max_evaluations == 3)


def test_the_map_refuses_a_start_without_density(library):
    """A model whose log density is not finite at the start fails as ``find_MAP`` does
    (a RuntimeError the fit reports as ``fit_failed``), not with a NaN estimate."""
    import pymc as pm

    with pm.Model() as model:
        rate = pm.HalfFlat("rate")
        pm.Exponential("y", lam=rate, observed=np.array([-1.0, 2.0]))
    with pytest.raises(RuntimeError, match="not finite at its starting point"):
        clv._map(pm, model, seed=0, max_evaluations=100)


# --------------------------------------------------------------------------- reproducibility

RERUN = """
import hashlib, sys
sys.path.insert(0, {root!r})
from tests.test_clv import simulate
from tiering.analysis import clv
m = clv.fit_value_model(clv.rfm_summary(simulate(), cutoff="2023-07-03"))
print(hashlib.sha256(m.customers.to_csv(index=False).encode()).hexdigest())
"""


@pytest.mark.slow
def test_a_rerun_gives_the_same_bytes(library):
    s = clv.rfm_summary(simulate(), cutoff="2023-07-03")
    first, second = clv.fit_value_model(s), clv.fit_value_model(s)
    text = first.customers.to_csv(index=False).encode()
    assert text == second.customers.to_csv(index=False).encode()
    assert first.parameters == second.parameters
    out = subprocess.run(
        [sys.executable, "-c", RERUN.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=600,
    )
    assert out.stdout.strip() == hashlib.sha256(text).hexdigest()


# --------------------------------------------------------------------------- compiler flags

MARCH = """
import json, sys
sys.path.insert(0, {root!r})
from pytensor.link.c import cmodule
from tiering.analysis import clv
if {mode!r} == "cached only":  # a process that must not run the compiler to find them
    def refuse(*args, **kwargs):
        raise AssertionError("the compiler was run to find the flags")
    cmodule.GCC_compiler.compile_args = staticmethod(refuse)
if {mode!r} == "test fails":  # PyTensor's test of what it found fails: it falls back
    original = cmodule.try_march_flag
    calls = []
    def failing_once(flags):
        calls.append(flags)
        return (False, False) if len(calls) == 1 else original(flags)
    cmodule.try_march_flag = failing_once
clv._known_march_flags({folder!r})
print(json.dumps(cmodule.GCC_compiler.march_flags))
"""


def _march_flags(folder, mode="", env=None):
    import json
    import os

    out = subprocess.run(
        [sys.executable, "-c", MARCH.format(root=str(ROOT), folder=str(folder), mode=mode)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow
def test_the_processors_compiler_flags_are_found_once_and_kept(tmp_path):
    """PyTensor's ``-march=native`` equivalent is kept beside its compiled modules: a
    later process takes it from there without running the compiler, and gets what
    PyTensor finds itself (so the compiled modules' keys do not change)."""
    import json

    pytest.importorskip("pytensor")
    from pytensor import config

    if not config.cxx:
        pytest.skip("no C++ compiler: PyTensor compiles nothing")
    found = _march_flags(tmp_path)
    kept = list(tmp_path.glob(clv.MARCH_FLAGS_FILES))
    assert found and any(f.startswith("-march=") for f in found)
    assert [p.name for p in tmp_path.iterdir()] == [kept[0].name]  # one file, no leftovers
    assert json.loads(kept[0].read_text())["flags"] == found
    assert _march_flags(tmp_path, "cached only") == found
    # another processor's (another key in the file), or a damaged file: found again, kept
    for text in (json.dumps({"key": "another processor", "flags": ["-march=i386"]}), "{not json"):
        kept[0].write_text(text)
        assert _march_flags(tmp_path) == found
        assert json.loads(kept[0].read_text())["flags"] == found
    # other compiler flags of PyTensor's: another key, another file beside the first
    other = _march_flags(tmp_path, env={"PYTENSOR_FLAGS": "gcc__cxxflags=-O2"})
    assert other and len(list(tmp_path.glob(clv.MARCH_FLAGS_FILES))) == 2


@pytest.mark.slow
def test_flags_that_failed_pytensors_test_or_the_users_own_are_not_kept(tmp_path):
    """A fallback PyTensor takes after its test of the flags it found failed (a full
    disk, a killed compile) is used in that process only; with a ``-march`` of the
    user's, PyTensor adds none and nothing is kept."""
    pytest.importorskip("pytensor")
    from pytensor import config

    if not config.cxx:
        pytest.skip("no C++ compiler: PyTensor compiles nothing")
    fallback = _march_flags(tmp_path, "test fails")
    assert fallback is not None  # what PyTensor fell back to, in that process
    assert list(tmp_path.iterdir()) == []
    assert _march_flags(tmp_path, env={"PYTENSOR_FLAGS": "gcc__cxxflags=-march=x86-64"}) is None
    assert list(tmp_path.iterdir()) == []
