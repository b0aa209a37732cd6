"""The report section on the forward-looking holdout check (``section_holdout``), its
lift chart (``lift_chart``) and the executive summary's sentence on it (``headline``).

They word and draw a :class:`tiering.analysis.holdout.HoldoutCheck` with the
``holdout.*`` catalogue (``tiering/text/holdout.yaml``); the section keeps the
anchor ``sec-validation`` of earlier reports.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from tiering import locale
from tiering.analysis.holdout import HoldoutCheck
from tiering.errors import require
from tiering.present import charts
from tiering.present.css import palette_of
from tiering.present.htmlkit import (
    badge,
    ci_text,
    esc,
    fmt_date,
    fmt_int,
    fmt_money,
    fmt_p,
    fmt_pct,
    heading,
    table,
)
from tiering.present.i18n import t, tn
from tiering.present.stats import effect_label
from tiering.style import MUTED, Palette, tier_css_classes, tier_palette

__all__ = ["headline", "lift_chart", "section_holdout"]


# --------------------------------------------------------------------------- chart


def lift_chart(check: HoldoutCheck, *, language: str, ax=None, brand: Palette | None = None):
    """Lift per tier with its 95% interval: tiers chosen at the cut-off against the
    random grouping of the same sizes; a line marks the fair share (lift 1).

    Tier colours come from :func:`tiering.style.tier_palette`; the random grouping is
    drawn in grey, hollow. The x-axis is logarithmic (lifts are ratios) unless a lift
    or bound is not positive. Each row is labelled with the tier's shares of revenue
    and customers. Returns the Axes.
    """
    require(
        isinstance(check, HoldoutCheck) and check.available,
        "lift_chart needs a HoldoutCheck that ran",
        where="lift_chart(check)",
        hint="see check.available and check.reason first",
    )
    locale.get(language)
    charts.setup_fonts()
    frame = check.tiers
    tiered = frame[frame["grouping"] == "tiering"].reset_index(drop=True)
    random = frame[frame["grouping"] == "random"].reset_index(drop=True)
    labels = [str(x) for x in tiered["tier"]]
    palette = tier_palette(labels, brand)
    shown = [i for i in range(len(tiered)) if np.isfinite(tiered.loc[i, "lift"])]
    months = check.params["months"]
    if ax is None:
        _, ax = plt.subplots(
            figsize=(charts.FIG_WIDTH, 1.3 + 0.55 * max(len(shown), 2)),
            layout="constrained",
            facecolor="white",
        )
    charts.style_axes(ax, grid="x")
    values = np.concatenate(
        [
            tiered.loc[shown, ["lift", "lift_ci_low", "lift_ci_high"]].to_numpy(float).ravel(),
            random.loc[shown, ["lift", "lift_ci_low", "lift_ci_high"]].to_numpy(float).ravel(),
        ]
    )
    values = values[np.isfinite(values)]
    log = bool(values.size) and bool(values.min() > 0)
    for y, i in enumerate(shown):
        colour = palette[labels[i]]
        for grouping, frame, dy, face in (
            ("tiering", tiered, -0.13, colour),
            ("random", random, 0.17, "white"),
        ):
            est = float(frame.loc[i, "lift"])
            lo = float(frame.loc[i, "lift_ci_low"])
            hi = float(frame.loc[i, "lift_ci_high"])
            lo = est if not np.isfinite(lo) else lo
            hi = est if not np.isfinite(hi) else hi
            edge = colour if grouping == "tiering" else MUTED
            ax.errorbar(
                est,
                y + dy,
                xerr=[[max(est - lo, 0)], [max(hi - est, 0)]],
                fmt="o",
                color=edge,
                ecolor=edge,
                elinewidth=2.0 if grouping == "tiering" else 1.2,
                capsize=3,
                markersize=6.5 if grouping == "tiering" else 5,
                markerfacecolor=face,
                markeredgecolor=edge,
                zorder=3,
            )
        est = float(tiered.loc[i, "lift"])
        hi = (
            float(tiered.loc[i, "lift_ci_high"])
            if np.isfinite(tiered.loc[i, "lift_ci_high"])
            else est
        )
        ax.annotate(
            t(
                "holdout.chart_shares",
                language,
                revenue=charts.fmt_share(float(tiered.loc[i, "revenue_share"])),
                customers=charts.fmt_share(float(tiered.loc[i, "customer_share"])),
            ),
            (max(hi, est), y - 0.13),
            xytext=(7, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=charts.NOTE_SIZE,
            color=charts.TEXT_COLOR,
            bbox={
                "boxstyle": "round,pad=0.15",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.9,
            },
            zorder=4,
        )
    ax.axvline(1.0, color=charts.AXIS_COLOR, linewidth=1.0, linestyle="--", zorder=1)
    if log:
        ax.set_xscale("log")
        low, high = min(values.min(), 1.0), max(values.max(), 1.0)
        span = math.log10(high / low) or 1.0
        ax.set_xlim(low / 10 ** (0.06 * span), high * 10 ** (0.45 * span))
        ticks = [
            v
            for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
            if ax.get_xlim()[0] <= v <= ax.get_xlim()[1]
        ]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        xlabel = t("holdout.chart_xlabel", language)
    else:
        low = min(values.min(), 0.0) if values.size else 0.0
        high = max(values.max(), 1.0) if values.size else 1.0
        ax.set_xlim(low - 0.05 * (high - low), high + 0.45 * (high - low))
        xlabel = t("holdout.chart_xlabel_linear", language)
    ax.set_yticks(np.arange(len(shown)), [labels[i] for i in shown])
    ax.set_ylim(len(shown) - 0.5, -0.6)
    ax.tick_params(axis="y", length=0, labelsize=charts.LABEL_SIZE)
    ax.set_xlabel(xlabel, fontsize=charts.LABEL_SIZE, color=charts.TEXT_COLOR)
    charts.set_title(ax, t("holdout.chart_title", language, months=months))
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            color=charts.TEXT_COLOR,
            markerfacecolor=charts.TEXT_COLOR,
            linestyle="-",
            linewidth=2.0,
            markersize=6,
            label=t("holdout.chart_tiered", language),
        ),
        Line2D(
            [],
            [],
            marker="o",
            color=MUTED,
            markerfacecolor="white",
            linestyle="-",
            linewidth=1.2,
            markersize=5,
            label=t("holdout.chart_random", language),
        ),
        Line2D(
            [],
            [],
            color=charts.AXIS_COLOR,
            linestyle="--",
            linewidth=1.0,
            label=t("holdout.chart_fair_share", language),
        ),
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22 if len(shown) > 2 else -0.3),
        ncol=3,
        frameon=False,
        fontsize=charts.NOTE_SIZE,
    )
    return ax


# --------------------------------------------------------------------------- report section


def _extract(analysis) -> HoldoutCheck | None:
    return getattr(analysis, "holdout", None)


def _dates(p: dict, lang: str) -> dict:
    return {
        "history_end": fmt_date(p["history_end"], lang),
        "start": fmt_date(p["cutoff"], lang),
        "end": fmt_date(p["period_end"], lang),
        "months": p["months"],
    }


def _top_finding(top, rtop, lang: str, dates: dict) -> str:
    return t(
        "holdout.finding_top",
        lang,
        tier=top["tier"],
        **dates,
        revenue_share=fmt_pct(top["revenue_share"], lang, 0),
        customer_share=fmt_pct(top["customer_share"], lang, 0),
        lift=_lift(top["lift"]),
        ci=ci_text(_lift(top["lift_ci_low"]), _lift(top["lift_ci_high"]), lang),
        random_lift=_lift(rtop["lift"]),
        random_ci=ci_text(_lift(rtop["lift_ci_low"]), _lift(rtop["lift_ci_high"]), lang),
    )


def headline(analysis) -> str | None:
    """The check's main finding (the top tier's share of next-period revenue against a
    random grouping) for the executive summary; None when the check did not run."""
    v = _extract(analysis)
    if v is None or not v.available:
        return None
    tiers = v.tiers
    tiered = tiers[(tiers["grouping"] == "tiering") & (tiers["customers"] > 0)]
    if tiered.empty or not np.isfinite(tiered["lift"]).any():
        return None
    top = tiered.iloc[0]
    random = tiers[(tiers["grouping"] == "random") & (tiers["tier"] == top["tier"])]
    if random.empty:
        return None
    return _top_finding(
        top, random.iloc[0], analysis.params.language, _dates(v.params, analysis.params.language)
    )


def section_holdout(analysis, check: HoldoutCheck | None = None) -> str:
    """The report section (HTML) on the forward-looking check, in the report language.

    Uses ``check`` or else ``analysis.holdout``. Returns "" when the
    check is switched off (None), a short explanation when it could not run, else the
    findings, the chart and the table.
    """
    v = check if check is not None else _extract(analysis)
    if v is None:
        return ""
    require(
        isinstance(v, HoldoutCheck),
        "section_holdout needs a HoldoutCheck",
        where="analysis.holdout",
        hint="store holdout_check(...) there",
    )
    lang = analysis.params.language
    cur = analysis.params.currency
    p = v.params
    months = p["months"]
    parts = [heading("holdout.sec_title", lang, anchor="validation")]
    if not v.available:
        fields = {
            "months": months,
            "need": p.get("need_months", 2 * months),
            "have": p.get("have_months", 0),
            "detail": p.get("detail", ""),
            "cutoff": fmt_date(p["cutoff"], lang),
            "start": fmt_date(p["history_start"], lang) if p.get("history_start") else "–",
            "end": fmt_date(p["period_end"], lang),
        }
        parts.append(
            f'<div class="note">{esc(t("holdout.unavailable_" + v.reason, lang, **fields))}</div>'
        )
        return "".join(parts)

    dates = _dates(p, lang)
    parts.append(f'<p class="lead">{esc(t("holdout.lead", lang, **dates))}</p>')
    tiers = v.tiers
    tiered = tiers[tiers["grouping"] == "tiering"].reset_index(drop=True)
    random = tiers[tiers["grouping"] == "random"].reset_index(drop=True)
    tests = v.tests.set_index("grouping")
    findings = []
    have_revenue = bool(np.isfinite(tiered["lift"]).any())
    nonempty = tiered[tiered["customers"] > 0]
    top, bottom = nonempty.iloc[0], nonempty.iloc[-1]
    rtop = random[random["tier"] == top["tier"]].iloc[0]
    if have_revenue:
        findings.append(_top_finding(top, rtop, lang, dates))
        if bottom["tier"] != top["tier"]:
            findings.append(
                t(
                    "holdout.finding_bottom",
                    lang,
                    tier=bottom["tier"],
                    revenue_share=fmt_pct(bottom["revenue_share"], lang, 0),
                    customer_share=fmt_pct(bottom["customer_share"], lang, 0),
                    lift=_lift(bottom["lift"]),
                    ci=ci_text(_lift(bottom["lift_ci_low"]), _lift(bottom["lift_ci_high"]), lang),
                )
            )
    else:
        findings.append(t("holdout.no_revenue", lang, months=months))
    rnon = random[random["customers"] > 0]
    random_min = fmt_pct(rnon["retention"].min(), lang, 0)
    random_max = fmt_pct(rnon["retention"].max(), lang, 0)
    fields = {
        "top": top["tier"],
        "bottom": bottom["tier"],
        "months": months,
        "top_retention": fmt_pct(top["retention"], lang, 0),
        "top_churn": fmt_pct(top["churn"], lang, 0),
        "bottom_retention": fmt_pct(bottom["retention"], lang, 0),
    }
    if random_min == random_max:  # as displayed: no "between 14% and 14%"
        findings.append(t("holdout.finding_retention_equal", lang, value=random_min, **fields))
    else:
        findings.append(
            t(
                "holdout.finding_retention",
                lang,
                random_min=random_min,
                random_max=random_max,
                **fields,
            )
        )
    findings.append(_test_sentence(tests, lang, fmt_p))
    predictive = bool(
        have_revenue
        and tests.loc["tiering", "meaningful"]
        and top["lift_ci_low"] > 1
        and top["lift_ci_low"] > rtop["lift_ci_high"]
    )
    verdict = t(
        "holdout.verdict_predictive" if predictive else "holdout.verdict_not_predictive", lang
    )
    if p.get("new_customers"):
        total = p.get("revenue_total") or 0.0
        findings.append(
            tn(
                "holdout.new_customers",
                lang,
                int(p["new_customers"]),
                n=fmt_int(p["new_customers"]),
                share=fmt_pct(p["new_customer_revenue"] / total, lang, 0) if total > 0 else "–",
                revenue=fmt_money(p["new_customer_revenue"], lang, cur, compact=True),
            )
        )
    parts.append(
        f'<ul class="findings"><li><strong>{esc(verdict)}</strong></li>'
        + "".join(f"<li>{esc(s)}</li>" for s in findings)
        + "</ul>"
    )
    if have_revenue:
        caption = t("holdout.chart_caption", lang, months=months)
        parts.append(
            charts.figure_html(
                lift_chart(v, language=lang, brand=palette_of(analysis)).get_figure(),
                alt=caption,
                caption=caption,
            )
        )
    classes = tier_css_classes([str(x) for x in tiered["tier"]])
    rows = []
    for r, rr in zip(tiered.itertuples(), random.itertuples()):
        rows.append(
            (
                badge(str(r.tier), classes),
                esc(fmt_int(r.customers)),
                esc(fmt_pct(r.customer_share, lang)),
                _with_ci(
                    fmt_pct(r.retention, lang, 0),
                    fmt_pct(r.retention_ci_low, lang, 0),
                    fmt_pct(r.retention_ci_high, lang, 0),
                ),
                esc(fmt_pct(r.churn, lang, 0)),
                _with_ci(
                    fmt_money(r.revenue_per_customer, lang, cur),
                    fmt_money(r.revenue_per_customer_ci_low, lang, cur),
                    fmt_money(r.revenue_per_customer_ci_high, lang, cur),
                ),
                esc(fmt_pct(r.revenue_share, lang)),
                _with_ci(_lift(r.lift), _lift(r.lift_ci_low), _lift(r.lift_ci_high)),
                _with_ci(_lift(rr.lift), _lift(rr.lift_ci_low), _lift(rr.lift_ci_high)),
            )
        )
    heads = [
        t(f"holdout.col_{c}", lang)
        for c in (
            "tier",
            "customers",
            "customer_share",
            "retention",
            "churn",
            "revenue_per_customer",
            "revenue_share",
            "lift",
            "random_lift",
        )
    ]
    parts.append(
        table(
            heads,
            rows,
            numeric=tuple(range(1, 9)),
            raw=tuple(range(9)),
            caption=t("holdout.table_caption", lang, **dates),
        )
    )
    parts.append(
        f'<div class="note">{esc(t("holdout.method_note", lang, n_boot=p["n_boot"], seed=p["seed"]))}</div>'
    )
    return "".join(parts)


def _lift(value) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _with_ci(estimate: str, low: str, high: str) -> str:
    """An escaped table cell: the estimate, and its interval on a second line."""
    if estimate == "–" or low == "–" or high == "–":
        return esc(estimate)
    return f"{esc(estimate)}<br>({esc(low)}–{esc(high)})"


def _test_sentence(tests, lang: str, fmt_p) -> str:
    row, rnd = tests.loc["tiering"], tests.loc["random"]
    effect = effect_label("epsilon_squared", lang)

    def mag(r) -> str:
        return t(f"stats.magnitude_{r['magnitude']}", lang) if r["magnitude"] else "–"

    fields = {
        "effect": effect,
        "value": _eps(row["effect_size"]),
        "magnitude": mag(row),
        "p": _p_text(row["p_value"], fmt_p),
        "random_value": _eps(rnd["effect_size"]),
        "random_magnitude": mag(rnd),
    }
    if row["meaningful"]:
        return t("holdout.finding_test", lang, **fields)
    reason = (
        "holdout.reason_not_tested"
        if row["test"] == "not_tested"
        else "holdout.reason_negligible"
        if row["significant"]
        else "holdout.reason_not_significant"
    )
    return t("holdout.finding_no_test", lang, reason=t(reason, lang), **fields)


def _eps(value) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def _p_text(p, fmt_p) -> str:
    text = fmt_p(p)
    return text if text.startswith("<") or text == "–" else f"= {text}"
