"""The report section on tier migration (:func:`section_migration`): the latest
transition in figures and words, what the moves did to revenue, the transition matrix,
the rates per tier, the movers and the comparison with a previous report.

It words and draws a :class:`tiering.analysis.migration.Migration` with the
``migration.*`` catalogue (``tiering/text/migration.yaml``); the charts and labels are in
:mod:`tiering.present.migration_charts`.
"""

from __future__ import annotations

import html
import math

import numpy as np

from tiering import locale
from tiering.analysis.migration import Migration, pooled_rates
from tiering.analysis.transitions import DIRECTIONS, LAPSED, NEW
from tiering.present import charts
from tiering.present.css import palette_of
from tiering.present.htmlkit import (
    badge,
    fmt_date,
    fmt_int,
    fmt_money,
    fmt_pct,
    heading,
    kpis,
    table,
)
from tiering.present.i18n import has, t, tn
from tiering.present.methods import method_name
from tiering.present.migration_charts import (
    flow_chart,
    period_word,
    rates_chart,
    snapshot_label,
    state_name,
    transition_heatmap,
    trend_chart,
)
from tiering.style import tier_css_classes

__all__ = ["section_migration"]


def headline(analysis) -> str | None:
    """The section's first finding (what became of the top tier over the latest period)
    for the executive summary; None without a measured transition."""
    result: Migration | None = getattr(analysis, "migration", None)
    if result is None or result.n_periods == 0:
        return None
    lang, cur = analysis.params.language, analysis.params.currency
    lab = {
        d: snapshot_label(d, period=result.spec.period, language=lang)
        for d in result.snapshot_dates
    }
    found = _findings(result, lang, cur, lab)
    return found[0] if found else None


def section_migration(analysis) -> str:
    """The report section on tier migration (empty when the analysis has none)."""
    result: Migration | None = getattr(analysis, "migration", None)
    if result is None:
        return ""
    lang, cur = analysis.params.language, analysis.params.currency
    esc = html.escape
    period_name = period_word(result.spec.period, lang)
    out = [heading("migration.sec_title", lang, anchor="migration")]
    if result.n_periods == 0:
        out.append(
            f'<p class="lead">{esc(t("migration.lead", lang, period=period_name, days=_days(result, lang)))}</p>'
        )
        out.append(
            f'<div class="note">{esc(t("migration.too_short", lang, period=period_name))}</div>'
        )
        out.append(_previous_html(result, lang, cur))
        return "".join(out)

    classes = tier_css_classes(result.labels)
    brand = palette_of(analysis)
    k = result.n_periods
    lab = {
        d: snapshot_label(d, period=result.spec.period, language=lang)
        for d in result.snapshot_dates
    }
    start, end = result.snapshot_dates[-2], result.snapshot_dates[-1]
    d = result.directions[result.directions["period"] == k].set_index("direction")
    rates = result.tier_rates[result.tier_rates["period"] == k].set_index("tier")
    out.append(
        f'<p class="lead">{esc(t("migration.lead", lang, period=period_name, days=_days(result, lang)))}</p>'
    )
    out.append(
        kpis(
            [
                (t("migration.kpi_up", lang), fmt_int(d.loc["up", "customers"])),
                (t("migration.kpi_down", lang), fmt_int(d.loc["down", "customers"])),
                (t("migration.kpi_lapsed", lang), fmt_int(d.loc["lapsed", "customers"])),
                (t("migration.kpi_new", lang), fmt_int(d.loc["new", "customers"])),
            ]
        )
    )
    out.append(f"<h3>{esc(t('migration.findings', lang, start=lab[start], end=lab[end]))}</h3>")
    out.append(
        '<ul class="findings">'
        + "".join(f"<li>{esc(x)}</li>" for x in _findings(result, lang, cur, lab))
        + "</ul>"
    )
    tr = result.transitions[result.transitions["period"] == k]
    dormant = (tr["from_state"] == LAPSED) & (tr["to_state"] == LAPSED)
    if tr.loc[~dormant, "customers"].sum() > 0:
        out.append(
            charts.figure_html(
                flow_chart(result, language=lang, brand=brand),
                alt=t("migration.cap_flow", lang, start=lab[start], end=lab[end]),
                caption=t("migration.cap_flow", lang, start=lab[start], end=lab[end]),
            )
        )
    else:  # every customer lapsed at both dates: no flow to draw
        note = t("migration.flow_none", lang, start=lab[start], end=lab[end])
        out.append(f'<div class="note">{esc(note)}</div>')

    # what it cost: revenue by kind of move in the latest period
    out.append(f"<h3>{esc(t('migration.h_revenue', lang, start=lab[start], end=lab[end]))}</h3>")
    rows = []
    for code in DIRECTIONS:
        if code not in d.index or d.loc[code, "customers"] == 0:
            continue
        r = d.loc[code]
        rows.append(
            (
                t(f"migration.dir_{code}", lang),
                fmt_int(r["customers"]),
                fmt_money(r["revenue_before"], lang, cur),
                fmt_money(r["revenue_after"], lang, cur),
                _signed_money(r["revenue_change"], lang, cur),
            )
        )
    tot = d[["customers", "revenue_before", "revenue_after", "revenue_change"]].sum()
    rows.append(
        (
            t("migration.total", lang),
            fmt_int(tot["customers"]),
            fmt_money(tot["revenue_before"], lang, cur),
            fmt_money(tot["revenue_after"], lang, cur),
            _signed_money(tot["revenue_change"], lang, cur),
        )
    )
    out.append(
        table(
            [
                t("migration.col_move", lang),
                t("migration.col_customers", lang),
                t("migration.col_rev_before", lang, period=lab[start]),
                t("migration.col_rev_after", lang, period=lab[end]),
                t("migration.col_rev_change", lang),
            ],
            rows,
            numeric=(1, 2, 3, 4),
        )
    )
    lost = float(rates["churned_spend_to_date"].sum())
    lapsed = int(d.loc["lapsed", "customers"]) if "lapsed" in d.index else 0
    note = tn(
        "migration.revenue_note",
        lang,
        lapsed,
        days=_days(result, lang),
        lost=fmt_money(lost, lang, cur),
    )
    out.append(f'<div class="note">{esc(note)}</div>')

    # transition matrix (pooled) and the rates per tier
    out.append(f"<h3>{esc(t('migration.h_matrix', lang))}</h3>")
    out.append(f"<p>{esc(tn('migration.matrix_text', lang, k, n=k, period=period_name))}</p>")
    cap = tn(
        "migration.cap_matrix", lang, k, n=k, period=period_name, start=lab[start], end=lab[end]
    )
    out.append(
        charts.figure_html(
            transition_heatmap(result, language=lang, brand=brand), alt=cap, caption=cap
        )
    )
    out.append(f"<h3>{esc(t('migration.h_rates', lang))}</h3>")
    pooled = pooled_rates(result)
    # the pooled churn rate, where it pools more than the latest period's
    n_churn = int(pooled["churn_periods"].iloc[0])
    rows = []
    for tier in result.labels:
        p = pooled.loc[tier]
        last = rates.loc[tier]
        rows.append(
            (
                badge(tier, classes),
                fmt_int(last["customers"]),
                fmt_pct(last["churn_rate"]),
                fmt_pct(last["downgrade_rate"]),
                fmt_pct(last["upgrade_rate"]),
                *([fmt_pct(p["churn_rate"])] if n_churn >= 2 else []),
                _signed_money(last["net_revenue_effect"], lang, cur),
            )
        )
    heads = [
        t("metrics.tier", lang),
        t("migration.col_start", lang, period=lab[start]),
        t("migration.col_churn", lang),
        t("migration.col_down", lang),
        t("migration.col_up", lang),
    ]
    if n_churn >= 2:
        heads.append(
            t(
                "migration.col_churn_pooled",
                lang,
                n=n_churn,
                periods=t(f"migration.periods_{result.spec.period}", lang),
            )
        )
    heads.append(t("migration.col_effect", lang))
    out.append(table(heads, rows, numeric=tuple(range(1, len(heads))), raw=(0,)))
    out.append(
        f'<div class="note">{esc(t("migration.rates_note", lang, start=lab[start], end=lab[end]))}</div>'
    )
    if k >= 2:
        cap = t("migration.cap_rates", lang)
        out.append(
            charts.figure_html(
                rates_chart(result, language=lang, brand=brand), alt=cap, caption=cap
            )
        )
    unmeasured = result.tier_rates.loc[
        ~result.tier_rates["churn_measurable"].astype(bool), "period_end"
    ]
    if len(unmeasured):
        out.append(
            f'<div class="note">{esc(t("migration.churn_unmeasured", lang, days=_days(result, lang), end=lab[max(unmeasured)]))}</div>'
        )
    cap = t("migration.cap_trend", lang)
    out.append(
        charts.figure_html(trend_chart(result, language=lang, brand=brand), alt=cap, caption=cap)
    )

    # movers
    out.append(f"<h3>{esc(t('migration.h_movers', lang, start=lab[start], end=lab[end]))}</h3>")
    mv = result.movers
    has_name = "customer_name" in mv.columns
    for movement, limit in (("left_top", 10), ("rose", 10)):
        sub = mv[mv["movement"] == movement]
        title = tn(
            f"migration.movers_{movement}",
            lang,
            len(sub),
            top=result.labels[0],
            n=fmt_int(len(sub)),
        )
        out.append(f"<h4>{esc(title)}</h4>")
        if sub.empty:
            continue
        rows = []
        for r in sub.head(limit).itertuples():
            who = str(r.customer_id) + (
                f" · {r.customer_name}"
                if has_name and isinstance(r.customer_name, str) and r.customer_name
                else ""
            )
            to = (
                badge(r.to_tier, classes)
                if r.to_tier in classes
                else esc(state_name(r.to_tier, lang))
            )
            rows.append(
                (
                    esc(who),
                    badge(r.from_tier, classes),
                    to,
                    fmt_money(r.revenue_before, lang, cur),
                    fmt_money(r.revenue_after, lang, cur),
                    f'<span style="white-space: nowrap">{esc(fmt_date(r.last_purchase, lang))}</span>',
                )
            )
        out.append(
            table(
                [
                    t("migration.col_customer", lang),
                    t("migration.col_from", lang),
                    t("migration.col_to", lang),
                    t("migration.col_rev_before", lang, period=lab[start]),
                    t("migration.col_rev_after", lang, period=lab[end]),
                    t("migration.col_last", lang),
                ],
                rows,
                numeric=(3, 4),
                raw=(0, 1, 2, 5),
            )
        )
    out.append(f'<div class="note">{esc(t("migration.movers_note", lang))}</div>')
    out.append(_previous_html(result, lang, cur))
    return "".join(out)


def _days(result: Migration, lang: str) -> str:
    """The churn window in days, as read in a sentence ("180 days", "1 day")."""
    n = int(result.spec.churn_days)
    return tn("migration.n_days", lang, n, n=fmt_int(n))


def _signed_money(x, lang, cur) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return ("+" if x > 0 else "") + fmt_money(x, lang, cur)


def _findings(result: Migration, lang: str, cur: str, lab: dict) -> list[str]:
    k = result.n_periods
    start = result.snapshot_dates[-2]
    rates = result.tier_rates[result.tier_rates["period"] == k].set_index("tier")
    top = result.labels[0]
    out = []
    r = rates.loc[top]
    if r["customers"] == 1:  # one customer: one of three outcomes, no counts or shares
        outcome = "stayed" if r["stayed"] else "down" if r["downgraded"] else "lapsed"
        out.append(
            t(
                "migration.finding_top_sole",
                lang,
                top=top,
                start=lab[start],
                outcome=t(
                    f"migration.top_one_{outcome}",
                    lang,
                    top=top,
                    lost=fmt_money(r["churned_spend_to_date"], lang, cur),
                ),
            )
        )
    elif r["customers"] > 0:
        stayed, down, lapsed = int(r["stayed"]), int(r["downgraded"]), int(r["churned"])
        out.append(
            tn(
                "migration.finding_top",
                lang,
                lapsed,
                top=top,
                n=fmt_int(r["customers"]),
                start=lab[start],
                stayed=tn(
                    "migration.top_stayed",
                    lang,
                    stayed,
                    n=fmt_int(stayed),
                    top=top,
                    share=fmt_pct(r["stay_rate"]),
                ),
                down=tn("migration.top_down", lang, down, n=fmt_int(down)),
                lapsed=tn("migration.top_lapsed", lang, lapsed, n=fmt_int(lapsed)),
                lost=fmt_money(r["churned_spend_to_date"], lang, cur),
            )
        )
    out += _churn_findings(result, lang)
    d = result.directions[result.directions["period"] == k].set_index("direction")
    moved = d.loc[["up", "down"], "customers"].sum()
    up, down = int(d.loc["up", "customers"]), int(d.loc["down", "customers"])
    out.append(
        t(
            "migration.finding_balance",
            lang,
            up=tn("migration.balance_up", lang, up, n=fmt_int(up)),
            down=tn("migration.balance_down", lang, down, n=fmt_int(down)),
            net=fmt_int(up - down),
        )
        if moved
        else t("migration.finding_no_moves", lang)
    )
    new = d.loc["new"]
    react = d.loc["reactivated"]
    out.append(
        t(
            "migration.finding_new",
            lang,
            new=tn(
                "migration.new_bought",
                lang,
                int(new["customers"]),
                n=fmt_int(new["customers"]),
                revenue=fmt_money(new["revenue_after"], lang, cur),
            ),
            react=tn(
                "migration.react_bought",
                lang,
                int(react["customers"]),
                n=fmt_int(react["customers"]),
                revenue=fmt_money(react["revenue_after"], lang, cur),
            ),
        )
    )
    return out


def _churn_findings(result: Migration, lang: str) -> list[str]:
    """Which tier lapses most, at the rate pooled over the transitions where churn can be
    measured (every customer at the start of those transitions counted together, so the
    largest periods weigh most); no tier is named when no customer lapsed. When the
    latest transition ranks another tier highest (or had no churn), a second sentence
    says so."""
    pooled = pooled_rates(result)
    valid = pooled[pooled["churn_rate"].notna()]
    if valid.empty:
        return []
    n = int(valid["churn_periods"].iloc[0])
    period = period_word(result.spec.period, lang)
    worst = valid["churn_rate"].idxmax()
    if not valid.loc[worst, "churn_rate"] > 0:
        return [tn("migration.finding_no_churn", lang, n, n=fmt_int(n), period=period)]
    out = [
        tn(
            "migration.finding_churn",
            lang,
            n,
            tier=worst,
            rate=fmt_pct(valid.loc[worst, "churn_rate"]),
            n=fmt_int(n),
            period=period,
        )
    ]
    k = result.n_periods
    latest = result.tier_rates[result.tier_rates["period"] == k].set_index("tier")["churn_rate"]
    latest = latest.dropna()
    if n < 2 or latest.empty:
        return out  # one measurable transition: the latest is the pooled one
    top = latest.idxmax()
    if not latest[top] > 0:
        out.append(t("migration.finding_churn_latest_none", lang, period=period))
    elif worst not in latest.index or fmt_pct(latest[worst]) != fmt_pct(latest[top]):
        # another tier lapsed most in the latest period (a tie with the pooled one agrees)
        out.append(
            t(
                "migration.finding_churn_latest",
                lang,
                tier=top,
                rate=fmt_pct(latest[top]),
                period=period,
            )
        )
    return out


def _previous_html(result: Migration, lang: str, cur: str) -> str:
    prev = result.previous
    if prev is None:
        return ""
    esc = html.escape
    out = [f"<h3>{esc(t('migration.h_previous', lang, date=fmt_date(prev.as_of, lang)))}</h3>"]
    out.append(f"<p>{esc(t('migration.previous_lead', lang, date=fmt_date(prev.as_of, lang)))}</p>")
    has_frozen = not prev.frozen_thresholds.empty
    items = [t("migration.refit_explained", lang)]
    if has_frozen:  # the frozen boundaries in words
        ft = prev.frozen_thresholds
        if prev.method == "abc":
            metric = str(ft["metric"].iloc[0])
            name = t(f"metrics.{metric}", lang) if has(f"metrics.{metric}") else metric
            name = locale.get(lang).in_sentence(name)  # "A: net spend at least ..."
            bounds = [
                t(
                    "migration.frozen_abc_rule",
                    lang,
                    tier=r.tier,
                    metric=name,
                    amount=fmt_money(r.lower, lang, cur),
                )
                for r in ft.itertuples()
                if np.isfinite(r.lower)
            ]
        else:
            bounds = [
                t("migration.frozen_rfm_rule", lang, tier=r.tier, score=f"{r.lower:.2f}")
                for r in ft.itertuples()
                if r.tier_rank < len(ft)
            ]
        items.append(
            t("migration.frozen_explained", lang, rules=locale.get(lang).join_clauses(bounds))
        )
    out.append('<ul class="findings">' + "".join(f"<li>{esc(x)}</li>" for x in items) + "</ul>")
    # how many customers in each tier then, and today under both readings
    c = prev.customers
    rows = []
    for tier in dict.fromkeys([*prev.labels, *result.labels]):
        was = fmt_int((c["previous_tier"] == tier).sum()) if tier in prev.labels else "–"
        frozen = (
            fmt_int((c["frozen_state"] == tier).sum())
            if has_frozen and tier in prev.labels
            else "–"
        )
        refit = fmt_int((c["refit_state"] == tier).sum()) if tier in result.labels else "–"
        rows.append((tier, was, frozen, refit))
    rows.append(
        (
            state_name(LAPSED, lang),
            "–",
            fmt_int((c["frozen_state"] == LAPSED).sum()) if has_frozen else "–",
            fmt_int((c["refit_state"] == LAPSED).sum()),
        )
    )
    out.append(
        table(
            [
                t("migration.col_state", lang),
                t("migration.col_then", lang, date=fmt_date(prev.as_of, lang)),
                t("migration.col_frozen", lang),
                t("migration.col_refit", lang),
            ],
            rows,
            numeric=(1, 2, 3),
        )
    )
    n_new = int((c["previous_tier"] == NEW).sum())
    if n_new:
        out.append(
            f"<p>{esc(tn('migration.previous_new', lang, n_new, n=fmt_int(n_new), date=fmt_date(prev.as_of, lang)))}</p>"
        )
    # the chosen reading: the matrix earlier tier -> today
    mode = prev.mode
    tr = prev.transitions[prev.transitions["thresholds"] == mode]
    to_states = [*(prev.labels if mode == "frozen" else result.labels), LAPSED]
    from_states = [
        s for s in [*prev.labels, NEW] if tr.loc[tr["from_state"] == s, "customers"].sum() > 0
    ]
    heads = [t("migration.col_then_now", lang)] + [state_name(s, lang) for s in to_states]
    rows = []
    for s in from_states:
        sub = tr[tr["from_state"] == s].set_index("to_state")
        rows.append(
            [state_name(s, lang)]
            + [
                f"{fmt_int(sub.loc[x, 'customers'])} ({fmt_pct(sub.loc[x, 'row_share'], digits=0)})"
                for x in to_states
            ]
        )
    out.append(
        table(
            heads,
            rows,
            numeric=tuple(range(1, len(heads))),
            caption=t(f"migration.previous_caption_{mode}", lang),
        )
    )
    top = prev.labels[0]
    stay = tr[
        (tr["from_state"] == top)
        & (tr["to_state"] == (top if mode == "frozen" else result.labels[0]))
    ]
    was_top = tr.loc[tr["from_state"] == top, "customers"].sum()
    if was_top == 1:
        still = "still" if stay["customers"].sum() else "no_longer"
        out.append(
            f"<p>{esc(t('migration.previous_top_one', lang, top=top, still=t(f'migration.previous_{still}', lang)))}</p>"
        )
    elif was_top:
        stayed = int(stay["customers"].sum())
        variant = (
            "_stayed_all"
            if stayed == was_top
            else {0: "_stayed_none", 1: "_stayed_one"}.get(stayed, "")
        )
        sentence = t(
            "migration.previous_top" + variant,
            lang,
            top=top,
            n=fmt_int(was_top),
            stayed=fmt_int(stayed),
            share=fmt_pct(stayed / was_top),
        )
        out.append(f"<p>{esc(sentence)}</p>")
    for code, fields in prev.warnings:
        if code in ("previous_method", "frozen_unavailable"):
            fields = {k: method_name(v, lang) for k, v in fields.items()}
        out.append(f'<div class="warning">{esc(t("migration.warn_" + code, lang, **fields))}</div>')
    return "".join(out)
