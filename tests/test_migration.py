"""Tier migration: snapshots, transitions, rates, movers, the previous report
(tiering.analysis.previous), charts, section."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import types
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from tiering.analysis import migration, previous
from tiering.analysis.migration import MigrationSpec, analyse_migration
from tiering.analysis.transitions import LAPSED, NEW
from tiering.build import migration_tables
from tiering.data.features import customer_features
from tiering.errors import TieringError
from tiering.params import Brand, validate
from tiering.present import migration as migration_section
from tiering.present import migration_charts
from tiering.present.i18n import t

matplotlib.use("Agg")

ONLINE_RETAIL = Path(__file__).resolve().parents[1].parent / "shared/datasets/online_retail.csv.gz"
AS_OF = dt.date(2024, 10, 1)


def _params(**tiering):
    spec = {"method": "abc", "labels": ["A", "B", "C"], "abc": {"cutoffs": [0.5, 0.8]}}
    spec.update(tiering)
    return validate({"data": {"path": "tx.csv"}, "tiering": spec})


def _tx(rows, names=None):
    df = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["is_return"] = df["amount"] < 0
    df.insert(0, "row", range(2, len(df) + 2))
    if names:
        df["customer_name"] = df["customer_id"].map(names)
    return df


# Three quarters, six customers, abc with cut-offs 50 % / 80 %, churn after 100 days.
# Worked by hand (cumulative net spend at each snapshot; tier = first cut-off the share
# of revenue before the customer has not reached):
#   2024-04-01  c1 600 A | c2 300 B | c3 100 C | c4 50 C                  (total 1050)
#   2024-07-01  c3 1000 A | c1 700 A | c2 450 B | c5 400 C | c4 50 C      (total 2600)
#               c4: last purchase 15 Mar, 108 days > 100 -> lapsed; c5 new
#   2024-10-01  c2 1450 A | c3 1100 A | c1 700 B | c5 400 C | c4 80 C | c6 20 C (3750)
#               c1 (153 days) and c5 (134 days) lapsed; c4 back (1 Jul, on the
#               boundary: not in the July snapshot); c6 new (30 Sep 23:00)
HAND_ROWS = [
    ("c1", "o1", "2024-01-01 10:00", 600.0),
    ("c2", "o2", "2024-02-01 10:00", 300.0),
    ("c3", "o3", "2024-03-01 10:00", 100.0),
    ("c4", "o4", "2024-03-15 10:00", 50.0),
    ("c1", "o5", "2024-05-01 10:00", 100.0),
    ("c2", "o6", "2024-04-10 10:00", 200.0),
    ("c2", "r1", "2024-06-01 10:00", -50.0),
    ("c3", "o7", "2024-06-10 10:00", 900.0),
    ("c5", "o8", "2024-05-20 10:00", 400.0),
    ("c2", "o9", "2024-08-01 10:00", 1000.0),
    ("c3", "o10", "2024-09-01 10:00", 100.0),
    ("c4", "o11", "2024-07-01 00:00", 30.0),
    ("c6", "o12", "2024-09-30 23:00", 20.0),
]
NAMES = {"c1": "Ann <b>", "c2": "王芳", "c3": "Chen Li", "c4": "Dora", "c5": "Eve", "c6": "Fay"}


@pytest.fixture(scope="module")
def hand():
    return analyse_migration(
        _tx(HAND_ROWS, NAMES), params=_params(), spec=MigrationSpec(churn_days=100), as_of=AS_OF
    )


def _flows(result, period):
    tr = result.transitions[result.transitions["period"] == period]
    return {
        (r.from_state, r.to_state): (r.customers, r.revenue_before, r.revenue)
        for r in tr.itertuples()
        if r.customers
    }


# --------------------------------------------------------------------------- spec


def test_spec_defaults_and_strictness():
    spec = MigrationSpec()
    assert (
        spec.period,
        spec.periods,
        spec.churn_days,
        spec.previous_report,
        spec.previous_thresholds,
    ) == ("quarter", None, 180, None, "refit")
    with pytest.raises(ValueError, match="extra"):
        MigrationSpec(perod="month")
    with pytest.raises(ValueError):
        MigrationSpec(churn_days=0)
    with pytest.raises(ValueError):
        MigrationSpec(period="week")
    with pytest.raises(ValueError):  # frozen
        spec.churn_days = 10  # type: ignore[misc]


def test_period_none_switches_it_off():
    assert (
        analyse_migration(
            _tx(HAND_ROWS), params=_params(), spec=MigrationSpec(period="none"), as_of=AS_OF
        )
        is None
    )


def test_snapshot_dates_count_back_from_as_of():
    d = migration.snapshot_dates(dt.date(2010, 12, 1), dt.date(2011, 12, 10), period="quarter")
    assert [x.date() for x in d] == [
        dt.date(2011, 3, 10),
        dt.date(2011, 6, 10),
        dt.date(2011, 9, 10),
        dt.date(2011, 12, 10),
    ]
    # two years of data: eight quarters; the default keeps at most eight snapshots
    d = migration.snapshot_dates(dt.date(2024, 1, 1), dt.date(2026, 1, 1), period="quarter")
    assert len(d) == 8 and d[0] == pd.Timestamp("2024-04-01")
    d = migration.snapshot_dates(dt.date(2022, 1, 1), dt.date(2026, 1, 1), period="month")
    assert len(d) == 8 and d[0] == pd.Timestamp("2025-06-01")
    d = migration.snapshot_dates(
        dt.date(2024, 1, 1), dt.date(2026, 1, 1), period="month", periods=3
    )
    assert d == [pd.Timestamp("2025-11-01"), pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01")]


# --------------------------------------------------------------------------- hand-computed


def test_hand_computed_snapshots(hand):
    assert hand.snapshot_dates == (
        pd.Timestamp("2024-04-01"),
        pd.Timestamp("2024-07-01"),
        pd.Timestamp("2024-10-01"),
    )
    s = hand.snapshots
    states = {
        k: dict(zip(g["customer_id"], g["state"].astype(str))) for k, g in s.groupby("snapshot")
    }
    assert states[0] == {"c1": "A", "c2": "B", "c3": "C", "c4": "C"}
    assert states[1] == {"c1": "A", "c2": "B", "c3": "A", "c4": LAPSED, "c5": "C"}
    assert states[2] == {"c1": LAPSED, "c2": "A", "c3": "A", "c4": "C", "c5": LAPSED, "c6": "C"}
    last = s[s["snapshot"] == 2].set_index("customer_id")
    assert last.loc["c1", "tier"] == "B"  # the method's tier is kept beside the state
    assert last.loc["c2", "monetary"] == pytest.approx(1450.0)  # net of the return
    assert last.loc["c4", "period_revenue"] == pytest.approx(30.0)  # 1 Jul 00:00 is in Q3
    assert list(last.index[last["is_new"]]) == ["c6"]


def test_hand_computed_matrix(hand):
    assert hand.n_periods == 2
    assert _flows(hand, 1) == {
        ("A", "A"): (1, 600.0, 100.0),
        ("B", "B"): (1, 300.0, 150.0),
        ("C", "A"): (1, 100.0, 900.0),
        ("C", LAPSED): (1, 50.0, 0.0),
        (NEW, "C"): (1, 0.0, 400.0),
    }
    assert _flows(hand, 2) == {
        ("A", "A"): (1, 900.0, 100.0),
        ("A", LAPSED): (1, 100.0, 0.0),
        ("B", "A"): (1, 150.0, 1000.0),
        ("C", LAPSED): (1, 400.0, 0.0),
        (LAPSED, "C"): (1, 0.0, 30.0),
        (NEW, "C"): (1, 0.0, 20.0),
    }
    tr = hand.transitions[hand.transitions["period"] == 2]
    # full grid in a fixed order: from (A, B, C, lapsed, new) x to (A, B, C, lapsed)
    assert list(zip(tr["from_state"], tr["to_state"]))[:5] == [
        ("A", "A"),
        ("A", "B"),
        ("A", "C"),
        ("A", LAPSED),
        ("B", "A"),
    ]
    assert len(tr) == 5 * 4
    share = tr.set_index(["from_state", "to_state"])["row_share"]
    assert share[("A", "A")] == 0.5 and share[("A", LAPSED)] == 0.5 and share[("B", "A")] == 1.0
    direction = tr.set_index(["from_state", "to_state"])["direction"]
    assert [
        direction[k]
        for k in [
            ("B", "A"),
            ("A", "C"),
            ("A", LAPSED),
            (LAPSED, "C"),
            (LAPSED, LAPSED),
            (NEW, "C"),
            ("B", "B"),
        ]
    ] == ["up", "down", "lapsed", "reactivated", "dormant", "new", "stay"]


def test_hand_computed_rates(hand):
    r = hand.tier_rates.set_index(["period", "tier"])
    a = r.loc[(2, "A")]
    assert (a["customers"], a["stayed"], a["churned"], a["downgraded"]) == (2, 1, 1, 0)
    assert a["churn_rate"] == 0.5 and np.isnan(a["upgrade_rate"])  # the top tier cannot rise
    assert a["revenue_before"] == 1000.0 and a["revenue_after"] == 100.0
    assert a["net_revenue_effect"] == -900.0
    assert a["churned_spend_to_date"] == 700.0  # c1 had spent 700 before lapsing
    b = r.loc[(2, "B")]
    assert b["upgrade_rate"] == 1.0 and b["downgrade_rate"] == 0.0 and b["churn_rate"] == 0.0
    c = r.loc[(2, "C")]
    assert c["churn_rate"] == 1.0 and np.isnan(c["downgrade_rate"])
    # the first period starts 1 Apr, under 100 days after the data start (1 Jan): no one
    # could have lapsed yet, so its churn rate is not measured (the count is kept)
    c1 = r.loc[(1, "C")]
    assert not c1["churn_measurable"] and np.isnan(c1["churn_rate"]) and c1["churned"] == 1
    assert r.loc[(1, "C"), "upgrade_rate"] == 0.5
    d = hand.directions[hand.directions["period"] == 2].set_index("direction")["customers"]
    assert d.to_dict() == {
        "stay": 1,
        "up": 1,
        "down": 0,
        "lapsed": 2,
        "reactivated": 1,
        "dormant": 0,
        "new": 1,
    }


def test_hand_computed_sizes_and_movers(hand):
    s = hand.sizes[hand.sizes["snapshot"] == 2].set_index("state")
    assert s["customers"].to_dict() == {"A": 2, "B": 0, "C": 2, LAPSED: 2}
    assert s.loc["A", "revenue"] == 1100.0
    assert s.loc["A", "revenue_share"] == pytest.approx(1100 / 1150)
    mv = hand.movers
    assert list(zip(mv["movement"], mv["customer_id"], mv["from_tier"], mv["to_tier"])) == [
        ("left_top", "c1", "A", LAPSED),
        ("rose", "c2", "B", "A"),
    ]
    assert mv.loc[0, "customer_name"] == "Ann <b>"
    assert mv.loc[0, "spend_to_date"] == 700.0
    assert mv.loc[1, "revenue_after"] == 1000.0
    assert mv.loc[1, "last_purchase"] == pd.Timestamp("2024-08-01 10:00")


# --------------------------------------------------------------------------- no look-ahead


def test_no_look_ahead_hand(hand):
    later = _tx(
        HAND_ROWS
        + [
            ("c4", "x1", "2024-08-01 09:00", 5000.0),
            ("c9", "x2", "2024-07-02 09:00", 99.0),
            ("c3", "x3", "2024-07-01 00:00", -500.0),
        ],
        NAMES,
    )
    other = analyse_migration(
        later, params=_params(), spec=MigrationSpec(churn_days=100), as_of=AS_OF
    )
    for k in (0, 1):
        pd.testing.assert_frame_equal(
            hand.snapshots[hand.snapshots["snapshot"] == k],
            other.snapshots[other.snapshots["snapshot"] == k],
        )
    pd.testing.assert_frame_equal(
        hand.transitions[hand.transitions["period"] == 1],
        other.transitions[other.transitions["period"] == 1],
    )
    pd.testing.assert_frame_equal(
        hand.tier_rates[hand.tier_rates["period"] == 1],
        other.tier_rates[other.tier_rates["period"] == 1],
    )
    # the later snapshot does see the new data (so the comparison above can fail)
    last = other.snapshots[other.snapshots["snapshot"] == 2].set_index("customer_id")
    assert last.loc["c4", "state"] == "A" and "c9" in last.index


def _random_tx(seed: int, n_customers: int = 300, start="2023-01-01", days=730):
    rng = np.random.default_rng(seed)
    n = n_customers * 6
    cust = rng.integers(0, n_customers, n)
    when = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days * 24 * 60, n), unit="min")
    amount = np.round(rng.lognormal(4, 1, n), 2)
    amount[rng.random(n) < 0.05] *= -0.5
    df = pd.DataFrame(
        {
            "customer_id": [f"{c:04d}" for c in cust],
            "order_id": [f"o{i}" for i in range(n)],
            "order_date": when,
            "amount": amount,
        }
    )
    df["is_return"] = df["amount"] < 0
    df.insert(0, "row", range(2, n + 2))
    return df.sort_values("order_date", kind="mergesort").reset_index(drop=True)


def test_no_look_ahead_random_truncation():
    """Running as of an earlier snapshot on the data before it gives the same earlier
    snapshots as the full run: nothing after a snapshot date reaches it."""
    tx = _random_tx(7)
    params = _params(method="rfm")
    spec = MigrationSpec(churn_days=120)
    full = analyse_migration(tx, params=params, spec=spec, as_of=dt.date(2025, 1, 1))
    assert full.n_periods == 7
    cut = dt.date(2024, 7, 1)
    part = analyse_migration(
        tx[tx["order_date"] < pd.Timestamp(cut)], params=params, spec=spec, as_of=cut
    )
    assert part.snapshot_dates == full.snapshot_dates[:6]
    for k in range(6):
        a = full.snapshots[full.snapshots["snapshot"] == k].reset_index(drop=True)
        b = part.snapshots[part.snapshots["snapshot"] == k].reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        full.transitions[full.transitions["period"] <= 5],
        part.transitions[part.transitions["period"] <= 5],
    )


def test_snapshots_match_features_of_truncated_data_and_flows_add_up():
    tx = _random_tx(3)
    result = analyse_migration(
        tx, params=_params(), spec=MigrationSpec(periods=5), as_of=dt.date(2025, 1, 1)
    )
    for k, end in enumerate(result.snapshot_dates):
        f = customer_features(tx[tx["order_date"] < end], as_of=end.date())
        snap = result.snapshots[result.snapshots["snapshot"] == k]
        assert list(snap["customer_id"]) == list(f["customer_id"])
        np.testing.assert_allclose(snap["monetary"], f["monetary"])
        assert (snap["state"].astype(str) == LAPSED).sum() == (f["recency_days"] > 180).sum()
    for k in range(1, len(result.snapshot_dates)):
        tr = result.transitions[result.transitions["period"] == k]
        later = result.snapshots[result.snapshots["snapshot"] == k]
        assert tr["customers"].sum() == len(later)
        assert tr["revenue"].sum() == pytest.approx(later["period_revenue"].sum())
        shares = tr.groupby("from_state")["row_share"].sum(min_count=1).dropna()
        assert len(shares) >= 4
        np.testing.assert_allclose(shares, 1.0)
    # deterministic: the same input gives identical tables
    again = analyse_migration(
        tx.sample(frac=1, random_state=1),
        params=_params(),
        spec=MigrationSpec(periods=5),
        as_of=dt.date(2025, 1, 1),
    )
    pd.testing.assert_frame_equal(result.transitions, again.transitions)
    pd.testing.assert_frame_equal(result.movers, again.movers)


def test_too_short_window_gives_no_transitions():
    tx = _tx(HAND_ROWS[:4])
    r = analyse_migration(tx, params=_params(), spec=MigrationSpec(), as_of=dt.date(2024, 4, 1))
    assert r.n_periods == 0 and len(r.snapshot_dates) == 1 and r.transitions.empty
    html = migration_section.section_migration(
        types.SimpleNamespace(
            params=types.SimpleNamespace(language="en", currency="¥", brand=Brand()), migration=r
        )
    )
    assert 'id="sec-migration"' in html and "fewer than two full periods" in html


def test_reserved_labels_are_refused():
    with pytest.raises(TieringError, match="reserved"):
        analyse_migration(
            _tx(HAND_ROWS),
            params=_params(labels=["A", "new", "C"]),
            spec=MigrationSpec(),
            as_of=AS_OF,
        )


# --------------------------------------------------------------------------- previous report


def _previous(
    folder: Path,
    rows,
    *,
    as_of="2024-07-01",
    tiering=None,
    labels=("A", "B", "C"),
    extra_manifest=None,
):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "tiers.csv", index=False)
    manifest = {
        "as_of": as_of,
        "tiering": tiering or {"method": "abc", "cutoffs": [0.5, 0.8], "value": "monetary"},
        "parameters": {"tiering": {"labels": list(labels)}, "window": {}},
    }
    manifest.update(extra_manifest or {})
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_previous_report_frozen_and_refit(tmp_path):
    # delivered on 1 Jul: A from 1,200, B from 90 (least spend of each tier)
    folder = _previous(
        tmp_path / "prev",
        [
            {"customer_id": "c2", "tier": "A", "tier_rank": 1, "monetary": 1200.0},
            {"customer_id": "c3", "tier": "B", "tier_rank": 2, "monetary": 500.0},
            {"customer_id": "c4", "tier": "B", "tier_rank": 2, "monetary": 90.0},
            {"customer_id": "c1", "tier": "C", "tier_rank": 3, "monetary": 60.0},
        ],
        extra_manifest={
            "parameters": {"tiering": {"labels": ["A", "B", "C"]}, "window": {"months": 9}}
        },
    )
    r = analyse_migration(
        _tx(HAND_ROWS, NAMES),
        params=_params(),
        spec=MigrationSpec(churn_days=100, previous_report=folder, previous_thresholds="frozen"),
        as_of=AS_OF,
    )
    p = r.previous
    assert p.as_of == dt.date(2024, 7, 1) and p.mode == "frozen" and p.method == "abc"
    assert p.frozen_thresholds["lower"].tolist()[:2] == [1200.0, 90.0]
    c = p.customers.set_index("customer_id")
    assert c["previous_tier"].to_dict() == {
        "c1": "C",
        "c2": "A",
        "c3": "B",
        "c4": "B",
        "c5": NEW,
        "c6": NEW,
    }
    # today: c2 1450, c3 1100, c4 80, c6 20 active; c1 and c5 lapsed
    assert c["frozen_state"].to_dict() == {
        "c1": LAPSED,
        "c2": "A",
        "c3": "B",
        "c4": "C",
        "c5": LAPSED,
        "c6": "C",
    }
    assert c["refit_state"].to_dict() == {
        "c1": LAPSED,
        "c2": "A",
        "c3": "A",
        "c4": "C",
        "c5": LAPSED,
        "c6": "C",
    }
    assert c["revenue_since"].to_dict() == {
        "c1": 0.0,
        "c2": 1000.0,
        "c3": 100.0,
        "c4": 30.0,
        "c5": 0.0,
        "c6": 20.0,
    }
    tr = p.transitions[p.transitions["customers"] > 0]
    got = {
        (m, f, s): n
        for m, f, s, n in zip(tr["thresholds"], tr["from_state"], tr["to_state"], tr["customers"])
    }
    assert got == {
        ("refit", "A", "A"): 1,
        ("refit", "B", "A"): 1,
        ("refit", "B", "C"): 1,
        ("refit", "C", LAPSED): 1,
        ("refit", NEW, LAPSED): 1,
        ("refit", NEW, "C"): 1,
        ("frozen", "A", "A"): 1,
        ("frozen", "B", "B"): 1,
        ("frozen", "B", "C"): 1,
        ("frozen", "C", LAPSED): 1,
        ("frozen", NEW, LAPSED): 1,
        ("frozen", NEW, "C"): 1,
    }
    assert (
        tr.set_index(["thresholds", "from_state", "to_state"]).loc[("refit", "B", "A"), "direction"]
        == "up"
    )
    # 9 months then (274 days) against 273 days of data today: no window warning
    assert [code for code, _ in p.warnings] == []
    html = migration_section._previous_html(r, "en", "¥")
    assert "Compared with the report of 1 Jul 2024" in html
    assert "A: net spend at least ¥1,200; B: net spend at least ¥90.00" in html


def test_frozen_thresholds_reproduce_the_delivered_tiers():
    """Applied to the very data they were fitted on, frozen abc and rfm thresholds give
    back the tiers the method delivered."""
    from tiering.analysis import methods

    tx = _random_tx(11, n_customers=400)
    end = pd.Timestamp("2024-07-01")
    f = customer_features(tx[tx["order_date"] < end], as_of=end.date())
    for tiering in (
        {"method": "abc", "abc": {"cutoffs": [0.6, 0.9]}},
        {"method": "rfm", "rfm": {"bins": 4}},
    ):
        params = _params(**tiering)
        res = migration._fit(methods, f, params.tiering, 0)
        prev = pd.concat([f, res.assignments.drop(columns=["customer_id"])], axis=1)
        prev["tier"] = prev["tier"].astype(str)
        fn = previous._frozen_abc if tiering["method"] == "abc" else previous._frozen_rfm
        rank, _ = fn(prev, f, {"method": res.method, **res.params}, ("A", "B", "C"))
        np.testing.assert_array_equal(rank, res.assignments["tier_rank"].to_numpy())


def test_previous_report_errors(tmp_path):
    spec = MigrationSpec(previous_report=tmp_path / "missing")
    with pytest.raises(TieringError, match="does not exist"):
        analyse_migration(_tx(HAND_ROWS), params=_params(), spec=spec, as_of=AS_OF)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "tiers.csv").write_text("customer_id,tier,tier_rank\n1,A,1\n")
    with pytest.raises(TieringError, match="no manifest.json"):
        analyse_migration(
            _tx(HAND_ROWS),
            params=_params(),
            spec=MigrationSpec(previous_report=tmp_path / "half"),
            as_of=AS_OF,
        )


def test_previous_report_warnings_and_unfreezable_method(tmp_path):
    folder = _previous(
        tmp_path / "p",
        [
            {"customer_id": "c1", "tier": "Gold", "tier_rank": 1},
            {"customer_id": "c2", "tier": "Silver", "tier_rank": 2},
        ],
        as_of="2024-12-01",
        tiering={"method": "rules"},
        labels=("Gold", "Silver"),
    )
    r = analyse_migration(
        _tx(HAND_ROWS),
        params=_params(),
        spec=MigrationSpec(previous_report=folder, previous_thresholds="frozen"),
        as_of=AS_OF,
    )
    codes = [c for c, _ in r.previous.warnings]
    assert codes == [
        "previous_not_earlier",
        "previous_method",
        "previous_labels",
        "frozen_unavailable",
    ]
    assert r.previous.mode == "refit" and set(r.previous.transitions["thresholds"]) == {"refit"}
    html = migration_section._previous_html(r, "zh", "¥")
    assert html.count('class="warning"') == 4


# --------------------------------------------------------------------------- outputs


def test_write_tables(tmp_path, hand):
    names = migration_tables.write_tables(hand, tmp_path)
    assert names == ["migration.csv", "migration_rates.csv", "migration_sizes.csv", "movers.csv"]
    back = pd.read_csv(tmp_path / "migration.csv", keep_default_na=False, na_values=[""])
    assert len(back) == 2 * 5 * 4
    row = back[(back["period"] == 2) & (back["from_state"] == "B") & (back["to_state"] == "A")]
    assert row[["customers", "revenue"]].values.tolist() == [[1, 1000.0]]
    assert back["period_end"].iloc[-1] == "2024-10-01 00:00:00"
    movers = pd.read_csv(tmp_path / "movers.csv")
    assert movers["customer_id"].tolist() == ["c1", "c2"]
    assert (tmp_path / "movers.csv").read_bytes().count(b"\r") == 0
    assert migration_tables.write_tables(None, tmp_path) == []


# --------------------------------------------------------------------------- report text


def _ascii_words(text: str) -> set[str]:
    """English words in a text, leaving out file names (movers.csv) and the method names ABC and RFM."""
    text = re.sub(r"[\w.]+\.csv", " ", text)
    return set(re.findall(r"[A-Za-z]{2,}", text)) - {"RFM", "ABC"}  # as in 《ABC分类法》


def test_catalogue_complete_and_zh_free_of_english():
    import yaml

    path = Path(migration.__file__).parents[1] / "text" / "migration.yaml"
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in entries.items():
        assert set(value) == {"en", "zh"}, key
        fields_en = set(re.findall(r"{(\w+)}", value["en"]))
        fields_zh = set(re.findall(r"{(\w+)}", value["zh"]))
        assert fields_en ^ fields_zh <= {"mon", "month"}, key  # Dec 2025 / 2025年12月
        assert not _ascii_words(re.sub(r"{\w+}", "", value["zh"])), (key, value["zh"])


def _section(result, language):
    analysis = types.SimpleNamespace(
        params=types.SimpleNamespace(language=language, currency="¥", brand=Brand()),
        migration=result,
    )
    return migration_section.section_migration(analysis)


def test_section_html_in_both_languages(hand):
    en = _section(hand, "en")
    assert en.startswith('<h2 id="sec-migration" class="section">Tier migration over time</h2>')
    assert "Ann &lt;b&gt;" in en and "Ann <b>" not in en  # names are escaped
    assert en.count('<figure class="chart">') == 4
    assert '<span class="tier-badge tier-1">A</span>' in en
    assert (
        "Of the 2 A-tier customers at Q2 2024, one (50.0%) is still A; none moved to a lower "
        "tier and one lapsed. The one who lapsed had spent ¥700 in total before going quiet."
    ) in en
    zh = _section(hand, "zh")
    visible = re.sub(r"<[^>]+>", " ", zh)
    for name in NAMES.values():
        visible = visible.replace(name.replace("<", "&lt;").replace(">", "&gt;"), " ")
    visible = re.sub(r"\bc\d\b", " ", visible)  # customer ids from the data
    assert not _ascii_words(visible.replace("&lt;", "").replace("&gt;", "")), _ascii_words(visible)
    assert "2024年第2季度" in zh
    assert _section(None, "en") == ""


def _texts(fig) -> list[str]:
    return [x.get_text() for x in fig.findobj(Text) if x.get_text().strip()]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_charts_draw_every_label_in_the_language(hand, language):
    import matplotlib.pyplot as plt

    figs = [
        migration_charts.flow_chart(hand, language=language).figure,
        migration_charts.transition_heatmap(hand, language=language).figure,
        migration_charts.transition_heatmap(hand, period=1, language=language).figure,
        migration_charts.trend_chart(hand, language=language),
        migration_charts.rates_chart(hand, language=language),
    ]
    try:
        text = " ".join(s for f in figs for s in _texts(f))
        if language == "zh":
            assert not _ascii_words(text), _ascii_words(text)
            assert "流失" in text and "2024年" in text
        else:
            assert "Lapsed" in text and "How customers moved between Q2 2024 and Q3 2024" in text
        if language == "en":
            # latest transition: left A 2 (c1, c3), B 1, C 1, lapsed who came back 1,
            # new 1; right A 2, C 2, lapsed 2 (no one ends in B: no B node)
            flow = _texts(figs[0])
            for label in (
                "A  2",
                "B  1",
                "C  1",
                "Lapsed, came back  1",
                "New  1",
                "C  2",
                "Lapsed  2",
            ):
                assert label in flow, label
            assert "B  0" not in flow
            heat = _texts(figs[1])  # pooled: A row 2 of 3 stayed, B row 1 of 2 each way
            assert "67%\n2" in heat and "33%\n1" in heat and "50%\n1" in heat
    finally:
        for f in figs:
            plt.close(f)


def test_pooled_matrix(hand):
    m = migration.pooled_matrix(hand).set_index(["from_state", "to_state"])
    # A row over both periods: A->A 1 + 1, A->lapsed 0 + 1
    assert m.loc[("A", "A"), "customers"] == 2 and m.loc[("A", LAPSED), "customers"] == 1
    assert m.loc[("A", "A"), "row_share"] == pytest.approx(2 / 3)
    assert m.loc[(NEW, "C"), "customers"] == 2 and m.loc[(NEW, "C"), "row_share"] == 1.0


def test_snapshot_labels():
    assert (
        migration_charts.snapshot_label("2026-01-01", period="quarter", language="en") == "Q4 2025"
    )
    assert (
        migration_charts.snapshot_label("2026-01-01", period="quarter", language="zh")
        == "2025年第4季度"
    )
    assert (
        migration_charts.snapshot_label("2025-07-01", period="month", language="zh") == "2025年6月"
    )
    assert (
        migration_charts.snapshot_label("2011-12-10", period="quarter", language="en")
        == "9 Dec 2011"
    )
    assert migration_charts.tick_labels(
        ["2024-10-01", "2025-01-01", "2025-04-01"], period="quarter", language="en"
    ) == ["Q3\n2024", "Q4", "Q1\n2025"]
    assert t("migration.state_lapsed", "zh") == "流失"


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_online_retail_quarterly(tmp_path):
    if not ONLINE_RETAIL.is_file():
        pytest.skip("../shared/datasets/online_retail.csv.gz is absent")
    from tiering.data import io as tio
    from tiering.params import load

    cfg = load(Path(__file__).resolve().parents[1] / "params/examples/online_retail.yaml")
    loaded = tio.load(
        cfg.data, as_of=cfg.as_of, window_start=cfg.window.start, window_months=cfg.window.months
    )
    t0 = time.process_time()  # CPU time (0.5 s measured, 0.9 s wall-clock on a busy machine)
    r = analyse_migration(
        loaded.transactions,
        params=cfg,
        spec=MigrationSpec(),
        as_of=loaded.as_of,
        attributes=loaded.attributes,
    )
    seconds = time.process_time() - t0
    assert seconds < 10, seconds
    assert [d.date() for d in r.snapshot_dates] == [
        dt.date(2011, 3, 10),
        dt.date(2011, 6, 10),
        dt.date(2011, 9, 10),
        dt.date(2011, 12, 10),
    ]
    last = r.snapshots[r.snapshots["snapshot"] == 3]
    assert len(last) == loaded.transactions["customer_id"].nunique()
    tr = r.transitions[r.transitions["period"] == 3]
    assert tr["customers"].sum() == len(last)
    # the latest snapshot is the report's own tiering
    f = customer_features(loaded.transactions, as_of=loaded.as_of)
    assert (last["monetary"].to_numpy() == f["monetary"].to_numpy()).all()
    rates = r.tier_rates[r.tier_rates["period"] == 3].set_index("tier")["churn_rate"]
    assert rates["A"] < rates["B"] < rates["C"]  # churn concentrates in the lower tiers
    assert "migration.csv" in migration_tables.write_tables(r, tmp_path)


def test_movers_sheets(hand):
    sheets = migration_tables.movers_sheets(hand, language="zh")
    assert list(sheets) == ["离开A级客户", "升级客户"]
    assert sheets["离开A级客户"]["customer_id"].tolist() == ["c1"]
    assert "movement" not in sheets["升级客户"].columns
    assert list(migration_tables.movers_sheets(hand, language="en")) == ["Left tier A", "Moved up"]
    assert migration_tables.movers_sheets(None, language="en") == {}


def test_previous_report_without_periods_is_a_parameter_error():
    from tiering import params
    from tiering.errors import ParamsError

    with pytest.raises(ParamsError, match="previous_report"):
        params.validate(
            {
                "data": {"path": "x.csv"},
                "migration": {"period": "none", "previous_report": "reports/old"},
            }
        )


@pytest.mark.parametrize(
    "language, one, none, wrong",
    [
        (
            "en",
            "One new customer bought ¥20.00 in the period; one lapsed customer came back and bought ¥30.00.",
            "No new customers in the period; no lapsed customer came back.",
            ["1 new customers", "1 lapsed customers", "0 new customers", "0 lapsed customers"],
        ),
        (
            "zh",
            "当期1位新客户消费¥20.00；1位流失客户回流，消费¥30.00。",
            "当期没有新客户；没有流失客户回流。",
            ["当期0位新客户", "0位流失客户"],
        ),
    ],
)
def test_new_and_returning_customers_read_right_for_one_and_none(hand, language, one, none, wrong):
    # the hand data's latest quarter has one new customer (c6) and one who came back (c4)
    assert one in _section(hand, language)
    quiet = analyse_migration(
        _tx([r for r in HAND_ROWS if r[1] not in ("o11", "o12")]),
        params=_params(),
        spec=MigrationSpec(churn_days=100),
        as_of=AS_OF,
    )
    html = _section(quiet, language)
    assert none in html
    for text in wrong:
        assert text not in html and text not in _section(hand, language)


# a top tier of one customer at Q2 (x1 holds 600 of 901); x1 stays A in Q3, lapses (no p5) or
# drops a tier (x2 spends 2,000)
ONE_A_ROWS = [
    ("x9", "p0", "2024-01-02 10:00", 1.0),
    ("x1", "p1", "2024-05-10 10:00", 600.0),
    ("x2", "p2", "2024-05-10 10:00", 100.0),
    ("x3", "p3", "2024-05-11 10:00", 100.0),
    ("x4", "p4", "2024-05-12 10:00", 100.0),
    ("x1", "p5", "2024-08-10 10:00", 600.0),
    ("x2", "p6", "2024-08-11 10:00", 100.0),
    ("x3", "p7", "2024-08-12 10:00", 100.0),
    ("x4", "p8", "2024-08-13 10:00", 100.0),
]


def _one_a(case):
    rows = {
        "stayed": ONE_A_ROWS,
        "lapsed": [r for r in ONE_A_ROWS if r[1] != "p5"],
        "down": [(*r[:3], 2000.0) if r[1] == "p6" else r for r in ONE_A_ROWS],
    }[case]
    return analyse_migration(
        _tx(rows), params=_params(), spec=MigrationSpec(churn_days=100), as_of=AS_OF
    )


@pytest.mark.parametrize(
    "language, one_up_none_down, one_up_two_down, wrong",
    [
        (
            "en",
            "One customer moved up a tier and none moved down (net 1).",
            "One customer moved up a tier and 2 moved down (net -1).",
            ["1 customers moved up", "0 moved down"],
        ),
        (
            "zh",
            "1位客户升级，没有客户降级（净变化1）。",
            "1位客户升级，2位客户降级（净变化-1）。",
            ["0位客户降级"],
        ),
    ],
)
def test_balance_of_moves_reads_right_for_one_and_none(
    hand, language, one_up_none_down, one_up_two_down, wrong
):
    html = _section(hand, language)  # latest quarter: c3 moved up, nobody down
    assert one_up_none_down in html
    other = _section(_one_a("down"), language)
    assert one_up_two_down in other
    for text in wrong:
        assert text not in html and text not in other


@pytest.mark.parametrize(
    "language, expected, wrong",
    [
        (
            "en",
            {
                "stayed": "The one A-tier customer at Q2 2024 is still A.",
                "lapsed": "The one A-tier customer at Q2 2024 lapsed, having spent ¥600 in total "
                "before going quiet.",
                "down": "The one A-tier customer at Q2 2024 moved to a lower tier.",
            },
            ["Of the 1 A-tier customers", "are still A"],
        ),
        (
            "zh",
            {
                "stayed": "2024年第2季度的1位A级客户仍为A级。",
                "lapsed": "2024年第2季度的1位A级客户已流失，此前累计消费¥600。",
                "down": "2024年第2季度的1位A级客户降到较低等级。",
            },
            ["A级客户中，", "0位降到较低等级", "0位流失"],
        ),
    ],
)
def test_top_tier_of_one_customer_reads_right(language, expected, wrong):
    for case, sentence in expected.items():
        html = _section(_one_a(case), language)
        assert sentence in html, case
        for text in wrong:
            assert text not in html, (case, text)


@pytest.mark.parametrize(
    "language, one, none",
    [
        (
            "en",
            ["<h4>Left tier A: one customer</h4>", "<h4>Moved up a tier: one customer</h4>"],
            ["<h4>Left tier A: no customers</h4>", "<h4>Moved up a tier: no customers</h4>"],
        ),
        (
            "zh",
            ["<h4>离开A级的客户：1位</h4>", "<h4>升级客户：1位</h4>"],
            ["<h4>离开A级的客户：无</h4>", "<h4>升级客户：无</h4>"],
        ),
    ],
)
def test_movers_titles_read_right_for_one_and_none(hand, language, one, none):
    html = _section(hand, language)  # c1 left A, c3 moved up
    for text in one:
        assert text in html
    html = _section(_one_a("stayed"), language)  # nobody changed tier
    for text in none:
        assert text in html


@pytest.mark.parametrize(
    "language, still, no_longer, new_one, wrong",
    [
        (
            "en",
            "The one customer delivered as tier A is still in it today.",
            "The one customer delivered as tier A is no longer in it today.",
            "One of today's customers was not in the report of 1 Jul 2024",
            ["Of the 1 customers", "1 of today's customers were"],
        ),
        (
            "zh",
            "当时的1位A级客户今天仍在该等级。",
            "当时的1位A级客户今天已不在该等级。",
            "今天的客户中有1位不在2024年7月1日的报告中",
            ["当时1位A级客户中"],
        ),
    ],
)
def test_previous_report_reads_right_for_one(tmp_path, language, still, no_longer, new_one, wrong):
    from html import unescape

    rows = [r for r in HAND_ROWS if r[0] != "c5"]  # c6 is the one customer new since then
    htmls = []
    for top, name in (("c2", still), ("c1", no_longer)):  # c2 is still A today, c1 lapsed
        delivered = [
            {
                "customer_id": c,
                "tier": "A" if c == top else "B",
                "tier_rank": 1 if c == top else 2,
                "monetary": 1000.0 if c == top else 100.0,
            }
            for c in ("c1", "c2", "c3", "c4")
        ]
        folder = _previous(tmp_path / top, delivered)
        r = analyse_migration(
            _tx(rows, NAMES),
            params=_params(),
            spec=MigrationSpec(churn_days=100, previous_report=folder),
            as_of=AS_OF,
        )
        html = unescape(migration_section._previous_html(r, language, "¥"))  # today&#x27;s
        assert name in html and new_one in html
        htmls.append(html)
    for text in wrong:
        assert not any(text in html for html in htmls)


@pytest.mark.parametrize(
    "language, expected, wrong",
    [
        (
            "en",
            "Of the 2 A-tier customers at Q2 2024, one (50.0%) is still A; none moved to a lower tier "
            "and one lapsed. The one who lapsed had spent ¥700 in total before going quiet.",
            ["1 (50.0%) are still", "0 moved to a lower tier", "and 1 lapsed"],
        ),
        (
            "zh",
            "2024年第2季度的2位A级客户中，1位（50.0%）仍为A级；没有客户降到较低等级，1位流失。"
            "该流失客户此前累计消费¥700。",
            ["0位降到较低等级"],
        ),
    ],
)
def test_top_tier_clauses_read_right_for_one_and_none(hand, language, expected, wrong):
    html = _section(hand, language)  # of A's two customers, c2 stayed and c1 lapsed
    assert expected in html
    for text in wrong:
        assert text not in html


def test_revenue_by_period_sums_each_customers_rows_per_bin_by_hand():
    """Net revenue per customer and period bin [edge i, edge i+1): rows outside the
    edges left out, returns netted, customers with no row in the bins absent, sums
    rounded to 6 decimals; the numbers of a groupby by customer and bin."""
    tx = pd.DataFrame(
        {
            "customer_id": ["c2", "c1", "c1", "c2", "c3", "c1", "c2", "c4"],
            "order_date": pd.to_datetime(
                [
                    "2024-01-05",  # c2, bin 0
                    "2024-01-31",  # c1, bin 0
                    "2024-02-01",  # c1, bin 1 (an edge belongs to the bin it opens)
                    "2024-02-10",  # c2, bin 1
                    "2023-12-31",  # c3, before the first edge: left out
                    "2024-02-29",  # c1, bin 1
                    "2024-03-01",  # c2, the last edge: left out
                    "2024-01-20",  # c4, bin 0
                ]
            ),
            "amount": [10.1, 5.0, 0.1, 7.0, 99.0, 0.2, 50.0, -3.0],
        }
    )
    edges = [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01")]
    got = migration._revenue_by_period(tx, edges)
    assert list(got.index) == ["c1", "c2", "c4"] and got.index.name == "customer_id"
    assert list(got.columns) == [0, 1]
    assert got.loc["c1"].tolist() == [5.0, 0.3]  # 0.1 + 0.2 rounded to 6 decimals
    assert got.loc["c2"].tolist() == [10.1, 7.0]
    assert got.loc["c4"].tolist() == [-3.0, 0.0]
    inside = tx[(tx["order_date"] >= edges[0]) & (tx["order_date"] < edges[-1])]
    bins = np.searchsorted(np.array(edges, dtype="datetime64[ns]"), inside["order_date"], "right")
    want = (
        inside.assign(bin=bins - 1)
        .groupby(["customer_id", "bin"])["amount"]
        .sum()
        .unstack("bin", fill_value=0.0)
        .round(6)
    )
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
