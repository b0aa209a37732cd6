"""The report section "Forward-looking value" (未来价值): ``section_value``, and the
executive summary's sentence on it (``headline``).

They word and draw a :class:`tiering.analysis.value.ValueAnalysis` with the ``value.*``
catalogue (``tiering/text/value.yaml``): what the model is, the per-tier table of
P(alive) and CLV with their intervals and shares of the expected value, the
value x potential grid with the action of each cell, the check on unseen months
against the naive baseline (table and calibration chart), and the model's limits.
When the model could not run, the section says why in one paragraph.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tiering.analysis.value import ValueAnalysis
from tiering.present import charts
from tiering.present.css import palette_of
from tiering.present.htmlkit import (
    badge,
    ci_text,
    esc,
    fmt_date,
    fmt_int,
    fmt_money,
    fmt_pct,
    heading,
    kpis,
    sampled_note,
    table,
)
from tiering.present.i18n import t, tn
from tiering.present.value_charts import calibration_chart, value_share_chart
from tiering.style import tier_css_classes

__all__ = ["headline", "reason_text", "section_value"]


def _p(x) -> str:
    return "–" if x is None or not math.isfinite(float(x)) else f"{float(x):.2f}"


def _num(x, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}g}"


def reason_text(v: ValueAnalysis, language: str) -> str:
    """Why the model could not be used, in one sentence of ``language``."""
    model = v.model
    info = model.info if model is not None else {}
    message = v.params.get("message") or (model.message if model is not None else "")
    fields = {
        "missing": ", ".join(v.params.get("missing") or []),
        "have": info.get("history_months", 0),
        "need": info.get("need_months", v.params.get("min_history_months", 0)),
        "message": message or "–",
    }
    count = fields["have"] if v.reason == "too_short" else None
    return tn(f"value.reason_{v.reason}", language, count, **fields)


def _lead(a, v: ValueAnalysis, lang: str) -> str:
    end = pd.Timestamp(a.as_of) - pd.Timedelta(days=1)
    return t(
        "value.lead",
        lang,
        end=fmt_date(end, lang),
        horizon=v.params["horizon_months"],
        rate=fmt_pct(v.params["discount_rate"], lang, digits=0),
    )


def _kpis(a, v: ValueAnalysis, lang: str) -> str:
    cur = a.params.currency
    c = v.customers
    repeat = c[c["frequency"].fillna(0).astype(int) > 0]
    items = []
    if v.spend_available:
        total = float(np.nansum(c["clv"].to_numpy(dtype=float)))
        items.append(
            (
                t("value.kpi_value", lang, horizon=v.params["horizon_months"]),
                fmt_money(total, lang, cur, compact=True),
            )
        )
    if len(repeat):
        items.append(
            (t("value.kpi_alive", lang), _p(np.median(repeat["p_alive"].to_numpy(dtype=float))))
        )
    items.append((t("value.kpi_rescue", lang), fmt_int(v.params["rescue"])))
    if v.spend_available:
        items.append((t("value.kpi_develop", lang), fmt_int(v.params["develop"])))
    return kpis(items)


def _with_ci(value: str, low: str, high: str, language: str) -> str:
    """A median and its interval as a table cell: ``0.90 (0.89–0.91)``; the value
    alone when the interval reads the same at both ends as the value."""
    if low == high == value:
        return value
    return f"{value} ({ci_text(low, high, language)})"


def _tier_table(a, v: ValueAnalysis, lang: str) -> str:
    cur = a.params.currency
    classes = tier_css_classes(a.labels)
    past = a.tier_summary.assign(tier=a.tier_summary["tier"].astype(str)).set_index("tier")
    rows = []
    for r in v.tiers.itertuples():
        alive = _with_ci(_p(r.p_alive_median), _p(r.p_alive_ci_low), _p(r.p_alive_ci_high), lang)
        money = [fmt_money(x, lang, cur) for x in (r.clv_median, r.clv_ci_low, r.clv_ci_high)]
        rows.append(
            (
                badge(str(r.tier), classes),
                fmt_int(r.customers),
                fmt_pct(r.customer_share),
                fmt_pct(float(past["revenue_share"].get(str(r.tier), float("nan")))),
                alive,
                _with_ci(*money, lang),
                fmt_pct(r.clv_share),
            )
        )
    heads = [
        t("value.col_tier", lang),
        t("value.col_customers", lang),
        t("value.col_customer_share", lang),
        t("value.col_revenue_share", lang),
        t("value.col_p_alive", lang),
        t("value.col_clv", lang),
        t("value.col_clv_share", lang),
    ]
    return table(heads, rows, numeric=(1, 2, 3, 4, 5, 6), raw=(0,))


def _group_name(label: str, v: ValueAnalysis, lang: str) -> str:
    if v.params.get("grid_groups"):
        return t("value.value_group", lang, label=label)
    return label


def _grid(a, v: ValueAnalysis, lang: str) -> str:
    cur = a.params.currency
    classes = tier_css_classes(a.labels)
    groups = v.params["group_labels"]
    cells = v.grid.set_index(["tier", "value_tier"])
    rows = []
    for label in [str(x) for x in a.labels]:
        row = [badge(label, classes)]
        for g in groups:
            cell = cells.loc[(label, g)]
            row.append(
                esc(
                    t(
                        "value.cell",
                        lang,
                        customers=fmt_int(cell["customers"]),
                        revenue=fmt_money(cell["revenue"], lang, cur, compact=True),
                    )
                )
                + f"<br><strong>{esc(t('value.action_' + cell['action'], lang))}</strong>"
            )
        rows.append(row)
    heads = [t("value.col_grid_tier", lang)] + [
        t("value.col_value_tier", lang, label=_group_name(g, v, lang)) for g in groups
    ]
    n = v.params.get("grid_groups")
    sizes = t("value.groups_equal", lang, n=n) if n else t("value.groups_tiers", lang)
    return (
        f"<h3>{esc(t('value.h_grid', lang))}</h3>"
        f"<p>{esc(t('value.grid_lead', lang, horizon=v.params['horizon_months'], groups=sizes))}</p>"
        + table(heads, rows, raw=tuple(range(len(groups) + 1)))
        + f'<p class="note">{esc(t("value.grid_actions", lang))}</p>'
        + f"<p>{esc(_signals(a, v, lang))}</p>"
    )


def _signals(a, v: ValueAnalysis, lang: str) -> str:
    cur = a.params.currency
    c = v.customers
    rescue = c[c["rescue"].astype(bool)]
    develop = c[c["develop"].astype(bool)]
    spend = a.tiers.set_index(a.tiers["customer_id"].astype(str))["monetary"]
    return t(
        "value.signals",
        lang,
        rescue=fmt_int(len(rescue)),
        threshold=_p(v.params["rescue_p_alive"]),
        rescue_revenue=fmt_money(
            float(rescue["customer_id"].map(spend).to_numpy(dtype=float).sum()),
            lang,
            cur,
            compact=True,
        ),
        develop=fmt_int(len(develop)),
        develop_clv=fmt_money(
            float(np.nansum(develop["clv"].to_numpy(dtype=float))), lang, cur, compact=True
        ),
    )


def _change(model: float, baseline: float) -> str:
    """How much smaller (or larger) the model's error is than the baseline's, in %."""
    if not (math.isfinite(model) and math.isfinite(baseline)) or baseline <= 0:
        return "–"
    return fmt_pct(abs(baseline - model) / baseline)


def _holdout(a, v: ValueAnalysis, lang: str) -> str:
    h = v.holdout
    out = [f"<h3>{esc(t('value.h_holdout', lang))}</h3>"]
    if h is None:
        out.append(f'<p class="note">{esc(t("value.holdout_off", lang))}</p>')
        return "".join(out)
    sample = (getattr(a, "source", None) or {}).get("transactions_sample")
    if sample and v.params.get("holdout_sample"):  # the model valued every customer
        out.append(sampled_note(sample, lang))
    p = h.params
    if not h.available:
        if h.reason == "too_short":
            why = t(
                "value.holdout_too_short",
                lang,
                need=p.get("need_months", 0),
                months=p.get("months", 0),
                have=p.get("have_months", 0),
            )
        else:
            model = p.get("model")
            message = p.get("message") or (model.message if model is not None else "")
            why = t(
                f"value.reason_{h.reason}",
                lang,
                message=message or "–",
                have="–",
                need="–",
                missing="",
            )
        out.append(f'<p class="note">{esc(t("value.holdout_skipped", lang, reason=why))}</p>')
        return "".join(out)
    cur = a.params.currency
    end = pd.Timestamp(p["as_of"]) - pd.Timedelta(days=1)
    out.append(
        "<p>"
        + esc(
            t(
                "value.holdout_lead",
                lang,
                cutoff=fmt_date(pd.Timestamp(p["cutoff"]) - pd.Timedelta(days=1), lang),
                months=p["months"],
                start=fmt_date(p["cutoff"], lang),
                end=fmt_date(end, lang),
            )
        )
        + "</p>"
    )
    spend_ok = p.get("beats_baseline_spend") is not None
    rows = [
        (
            t("value.row_purchases", lang),
            f"{p['mae_purchases']:.3f}",
            f"{p['mae_purchases_baseline']:.3f}",
        )
    ]
    if spend_ok:
        rows.append(
            (
                t("value.row_spend", lang),
                fmt_money(p["mae_spend"], lang, cur),
                fmt_money(p["mae_spend_baseline"], lang, cur),
            )
        )
    out.append(
        table(
            [
                t("value.col_measure", lang),
                t("value.col_model", lang),
                t("value.col_baseline", lang),
            ],
            rows,
            numeric=(1, 2),
        )
    )
    out.append(f"<p><strong>{esc(verdict(p, lang))}</strong></p>")
    out.append(
        "<p>"
        + esc(
            t(
                "value.holdout_totals",
                lang,
                actual=fmt_int(round(p["actual_purchases_total"])),
                predicted=fmt_int(round(p["predicted_purchases_total"])),
                baseline=fmt_int(round(p["baseline_purchases_total"])),
                new=fmt_int(p["new_customers"]),
            )
        )
        + "</p>"
    )
    if len(h.groups):
        caption = t("value.cap_calibration", lang)
        out.append(
            charts.figure_html(
                calibration_chart(h.groups, language=lang, brand=palette_of(a)).get_figure(),
                alt=caption,
                caption=caption,
            )
        )
    return "".join(out)


def verdict(p: dict, language: str) -> str:
    """Whether the model beat the naive baseline on purchases and spend, in one sentence."""
    purchases = _change(p["mae_purchases"], p["mae_purchases_baseline"])
    if p.get("beats_baseline_spend") is None:
        key = "beats_purchases_only" if p["beats_baseline_purchases"] else "beats_no_purchases_only"
        return t(f"value.{key}", language, purchases=purchases)
    spend = _change(p["mae_spend"], p["mae_spend_baseline"])
    key = {
        (True, True): "beats_both",
        (True, False): "beats_purchases",
        (False, True): "beats_spend",
        (False, False): "beats_neither",
    }[(bool(p["beats_baseline_purchases"]), bool(p["beats_baseline_spend"]))]
    return t(f"value.{key}", language, purchases=purchases, spend=spend)


def _limits(v: ValueAnalysis, lang: str) -> str:
    m = v.model
    c = v.customers
    modelled = c[c["p_alive"].notna()]
    once = int((modelled["frequency"].fillna(0).astype(int) == 0).sum())
    parts = [
        t(
            "value.limit_one_time",
            lang,
            n=fmt_int(once),
            share=fmt_pct(once / len(modelled) if len(modelled) else float("nan")),
        )
    ]
    if v.spend_available:
        parts.append(
            t(
                "value.limit_spend",
                lang,
                corr=_p(m.info.get("spend_frequency_corr", float("nan"))),
                excluded=fmt_int(m.info.get("spend_excluded", 0)),
            )
        )
    pr = m.parameters
    parts.append(
        t(
            "value.limit_cost",
            lang,
            r=_num(pr["r"]),
            alpha=_num(pr["alpha"]),
            a=_num(pr["a"]),
            b=_num(pr["b"]),
            p=_num(pr["p"]),
            q=_num(pr["q"]),
            v=_num(pr["v"]),
        )
    )
    return f"<h3>{esc(t('value.h_limits', lang))}</h3>" + "".join(
        f'<p class="note">{esc(x)}</p>' for x in parts
    )


def section_value(a) -> str:
    """The section (HTML) in the report language; "" when the model is switched off."""
    v = getattr(a, "value", None)
    if v is None:
        return ""
    lang = a.params.language
    parts = [heading("value.sec_title", lang, anchor="value")]
    parts.append(f'<p class="lead">{esc(_lead(a, v, lang))}</p>')
    if not v.available:
        parts.append(
            f'<p class="warning">{esc(t("value.unavailable", lang, reason=reason_text(v, lang)))}</p>'
        )
        return "".join(parts)
    parts.append(_kpis(a, v, lang))
    if v.spend_available:
        horizon = v.params["horizon_months"]
        parts.append(f"<h3>{esc(t('value.h_tiers', lang))}</h3>")
        parts.append(f"<p>{esc(t('value.tiers_lead', lang, horizon=horizon))}</p>")
        parts.append(_tier_table(a, v, lang))
        top = v.tiers.iloc[0]
        past = a.tier_summary.set_index(a.tier_summary["tier"].astype(str))["revenue_share"]
        parts.append(
            "<p>"
            + esc(
                t(
                    "value.finding_top",
                    lang,
                    tier=top["tier"],
                    clv_share=fmt_pct(top["clv_share"]),
                    horizon=horizon,
                    revenue_share=fmt_pct(float(past.get(str(top["tier"]), float("nan")))),
                    clv=fmt_money(top["clv_median"], lang, a.params.currency),
                    ci=ci_text(
                        fmt_money(top["clv_ci_low"], lang, a.params.currency),
                        fmt_money(top["clv_ci_high"], lang, a.params.currency),
                        lang,
                    ),
                )
            )
            + "</p>"
        )
        caption = t("value.cap_shares", lang, horizon=horizon)
        parts.append(
            charts.figure_html(
                value_share_chart(
                    v.tiers, a.tier_summary, horizon=horizon, language=lang, brand=palette_of(a)
                ).get_figure(),
                alt=caption,
                caption=caption,
            )
        )
        parts.append(_grid(a, v, lang))
    else:
        spend = t(f"value.spend_{v.model.spend_reason}", lang)
        parts.append(f'<p class="note">{esc(t("value.spend_unavailable", lang, reason=spend))}</p>')
    parts.append(_holdout(a, v, lang))
    parts.append(_limits(v, lang))
    return "".join(parts)


def headline(a) -> str | None:
    """One sentence for the executive summary when the model is informative (it ran,
    with spend, and — when checked — beat the naive baseline on purchases); else None."""
    v = getattr(a, "value", None)
    if v is None or not v.spend_available or v.tiers.empty:
        return None
    h = v.holdout
    if h is not None and h.available and not h.params.get("beats_baseline_purchases"):
        return None
    lang = a.params.language
    check = ""
    if h is not None and h.available:
        check = t("value.summary_beats", lang)
    top = v.tiers.iloc[0]
    return t(
        "value.summary_finding",
        lang,
        tier=top["tier"],
        clv_share=fmt_pct(top["clv_share"]),
        horizon=v.params["horizon_months"],
        rescue=fmt_int(v.params["rescue"]),
        threshold=_p(v.params["rescue_p_alive"]),
        develop=fmt_int(v.params["develop"]),
        check=check,
    ).strip()
