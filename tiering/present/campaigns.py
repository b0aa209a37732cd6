"""The report section "Do the tiers respond differently?" (``section_campaigns``), its
chart of the uplift per tier (``uplift_chart``) and the data section's sentences on the
customer master and the campaign file (``data_sentences``).

They word and draw a :class:`tiering.analysis.campaigns.CampaignAnalysis` with the
``campaigns.*`` catalogue (``tiering/text/campaigns.yaml``). With a control group the
section says what the campaign raised, per tier, with its interval; without one it
shows rates only and never words them as effects (``causal_wording``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from tiering import locale
from tiering.analysis.campaigns import ALL_TIERS, CampaignAnalysis
from tiering.errors import require
from tiering.present import charts
from tiering.present.css import palette_of
from tiering.present.htmlkit import (
    badge,
    esc,
    fmt_date,
    fmt_int,
    fmt_money,
    fmt_p,
    fmt_pct,
    heading,
    table,
)
from tiering.present.i18n import listing, t, tn
from tiering.style import MUTED, Palette, tier_css_classes, tier_palette

__all__ = [
    "data_sentences",
    "money_signed",
    "points",
    "section_campaigns",
    "sentences",
    "uplift_chart",
]

#: the rate outcomes the section words, with the prefix of their columns
_RATES = (("responded", "response"), ("converted", "conversion"))


def points(value) -> str:
    """A difference of two rates in percentage points, signed: ``+10.4``, ``−4.5``."""
    if value is None or not np.isfinite(value):
        return "–"
    text = f"{float(value) * 100:+.1f}"
    return text.replace("-", "\u2212") if text not in ("+0.0", "-0.0") else "0.0"


def sentences(items) -> str:
    """Sentences as one paragraph: a space after a sentence that ends in a Latin full
    stop, none after a full-width one (。！？), as Chinese text runs on."""
    out = ""
    for item in items:
        if out and not out.endswith(("。", "！", "？")):
            out += " "
        out += item
    return out


def _ci(low: str, high: str, lang: str) -> str:
    return t("campaigns.ci", lang, low=low, high=high)


def money_signed(value, lang: str, cur: str) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    text = fmt_money(abs(float(value)), lang, cur)
    return ("\u2212" + text) if value < 0 and text != fmt_money(0.0, lang, cur) else text


# --------------------------------------------------------------------------- chart


def uplift_chart(
    result: CampaignAnalysis,
    campaign: str | None = None,
    *,
    language: str,
    ax=None,
    brand: Palette | None = None,
):
    """Per tier of ``campaign`` (default: the first), the uplift of the response and the
    conversion rate (treatment - control, percentage points) with its 95% interval, a
    line at zero; without a control group the treatment's rates with Wilson intervals
    instead. Tier colours from :func:`tiering.style.tier_palette`; response filled,
    conversion hollow. Returns the Axes."""
    require(
        isinstance(result, CampaignAnalysis) and len(result.campaigns) > 0,
        "uplift_chart needs a CampaignAnalysis with at least one campaign",
        where="uplift_chart(result)",
        hint="pass analysis.campaigns of a report with data.campaigns",
    )
    locale.get(language)
    charts.setup_fonts()
    camps = result.campaigns.set_index("campaign")
    name = campaign if campaign is not None else str(camps.index[0])
    require(
        name in camps.index,
        f"No campaign {name!r} in the campaign results",
        where="uplift_chart(campaign)",
        hint=f"one of {', '.join(map(repr, camps.index))}",
    )
    labels = [str(x) for x in result.params["labels"]]
    palette = tier_palette(labels, brand)
    control = bool(camps.loc[name, "has_control"])
    if control:
        frame = result.uplift[result.uplift["campaign"] == name]
        cols = {k: (f"{k}_uplift", f"{k}_uplift_low", f"{k}_uplift_high") for _, k in _RATES}
    else:
        r = result.rates
        frame = r[(r["campaign"] == name) & (r["group"] == "treatment")]
        cols = {k: (f"{k}_rate", f"{k}_low", f"{k}_high") for _, k in _RATES}
    frame = frame[frame["tier"] != ALL_TIERS].set_index("tier")
    shown = [lab for lab in labels if lab in frame.index]
    fig, ax = charts.new_axes(ax, (charts.FIG_WIDTH, 1.4 + 0.6 * max(len(shown), 2)))
    charts.style_axes(ax, grid="x")
    values = []
    for y, lab in enumerate(shown):
        colour = palette[lab]
        for (_, key), dy, face in zip(_RATES, (-0.14, 0.14), (colour, "white")):
            est, lo, hi = (float(frame.loc[lab, c]) * 100 for c in cols[key])
            if not np.isfinite(est):
                continue
            lo = est if not np.isfinite(lo) else lo
            hi = est if not np.isfinite(hi) else hi
            values += [est, lo, hi]
            ax.errorbar(
                est,
                y + dy,
                xerr=[[max(est - lo, 0)], [max(hi - est, 0)]],
                fmt="o" if face != "white" else "s",
                color=colour,
                ecolor=colour,
                elinewidth=2.0,
                capsize=3,
                markersize=6.5 if face != "white" else 5.5,
                markerfacecolor=face,
                markeredgecolor=colour,
                zorder=3,
            )
    if control:
        ax.axvline(0.0, color=charts.AXIS_COLOR, linewidth=1.0, linestyle="--", zorder=1)
        values.append(0.0)
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if not control:
        low = min(low, 0.0)
    pad = 0.08 * ((high - low) or 1.0)
    ax.set_xlim(low - pad, high + pad)
    ax.set_yticks(np.arange(len(shown)), shown)
    ax.set_ylim(len(shown) - 0.5, -0.6)
    ax.tick_params(axis="y", length=0, labelsize=charts.LABEL_SIZE)
    suffix = "" if control else "_rates"
    charts.set_axis_labels(ax, x=t(f"campaigns.chart_xlabel{suffix}", language))
    charts.set_title(ax, t(f"campaigns.chart_title{suffix}", language))
    handles = [
        Line2D(
            [],
            [],
            marker=marker,
            color=MUTED,
            markerfacecolor=face,
            markeredgecolor=MUTED,
            linestyle="-",
            linewidth=2.0,
            markersize=6,
            label=t(f"campaigns.outcome_{outcome}", language),
        )
        for (outcome, _), marker, face in zip(_RATES, ("o", "s"), (MUTED, "white"))
    ]
    if control:
        handles.append(
            Line2D(
                [],
                [],
                color=charts.AXIS_COLOR,
                linestyle="--",
                linewidth=1.0,
                label=t("campaigns.chart_zero", language),
            )
        )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22 if len(shown) > 2 else -0.3),
        ncol=len(handles),
        frameon=False,
        fontsize=charts.NOTE_SIZE,
    )
    return ax


# --------------------------------------------------------------------------- report section


def _dates(row, lang: str) -> str:
    first, last = row["first_date"], row["last_date"]
    if pd.isna(first):
        return t("campaigns.no_date", lang)
    if pd.isna(last) or pd.Timestamp(first).date() == pd.Timestamp(last).date():
        return fmt_date(pd.Timestamp(first).date(), lang)
    return f"{fmt_date(pd.Timestamp(first).date(), lang)} – {fmt_date(pd.Timestamp(last).date(), lang)}"


def _rate_sentence(tier: str, outcome: str, u, rt, rc, lang: str) -> str:
    prefix = {"responded": "response", "converted": "conversion"}[outcome]
    est = float(u[f"{prefix}_uplift"])
    lo, hi = float(u[f"{prefix}_uplift_low"]), float(u[f"{prefix}_uplift_high"])
    if lo > 0:
        name, shown = "finding_uplift", est
    elif hi < 0:
        name, shown = "finding_lowered", -est
    else:
        name, shown = "finding_no_uplift", est
    pts = points(shown) if name == "finding_no_uplift" else points(shown).lstrip("+")
    return t(
        f"campaigns.{name}",
        lang,
        tier=tier,
        outcome=t(f"campaigns.outcome_{outcome}", lang),
        points=pts,
        ci=_ci(points(lo), points(hi), lang),
        rate_t=fmt_pct(rt[f"{prefix}_rate"], lang),
        rate_c=fmt_pct(rc[f"{prefix}_rate"], lang),
    )


def _revenue_sentence(tier: str, u, lang: str, cur: str) -> str:
    est = float(u["revenue_uplift"])
    lo, hi = float(u["revenue_uplift_low"]), float(u["revenue_uplift_high"])
    return t(
        "campaigns.finding_revenue" if est >= 0 else "campaigns.finding_revenue_less",
        lang,
        tier=tier,
        uplift=fmt_money(abs(est), lang, cur),
        ci=_ci(money_signed(lo, lang, cur), money_signed(hi, lang, cur), lang),
    )


def _heterogeneity_sentence(het: pd.DataFrame, outcome: str, alpha: float, min_n, lang) -> str:
    row = het[het["outcome"] == outcome]
    if row.empty:
        return ""
    r = row.iloc[0]
    if r["note"] == "fewer_than_two_tiers" or not np.isfinite(r["p_value"]):
        return t("campaigns.heterogeneity_not_run", lang, n=min_n)
    p = fmt_p(float(r["p_value"]))
    fields = {
        "outcome": t(f"campaigns.outcome_{outcome}", lang),
        "q": f"{float(r['statistic']):.1f}",
        "df": int(r["df"]),
        "p": p if p.startswith("<") else f"= {p}",
    }
    key = "heterogeneity_differs" if r["p_value"] < alpha else "heterogeneity_same"
    return t(f"campaigns.{key}", lang, **fields)


def _campaign_part(analysis, result: CampaignAnalysis, camp, lang: str, cur: str) -> list[str]:
    name = str(camp["campaign"])
    labels = [str(x) for x in result.params["labels"]]
    classes = tier_css_classes(labels)
    p = result.params
    parts = []
    if len(result.campaigns) > 1:
        parts.append(f"<h3>{esc(t('campaigns.campaign_title', lang, campaign=name))}</h3>")
    control = bool(camp["has_control"]) and bool(camp["causal_wording"])
    facts = t(
        "campaigns.campaign_facts" if control else "campaigns.campaign_facts_no_control",
        lang,
        campaign=name,
        dates=_dates(camp, lang),
        customers=fmt_int(camp["customers"]),
        treatment=fmt_int(camp["treatment"]),
        control=fmt_int(camp["control"]),
    )
    notes = [facts]
    if camp["untiered"]:
        n = int(camp["untiered"])
        notes.append(tn("campaigns.untiered", lang, n, n=fmt_int(n)))
    parts.append(f"<p>{esc(sentences(notes))}</p>")
    rates = result.rates[result.rates["campaign"] == name]
    outcomes = [o for o, _ in _RATES if o in p["outcomes"]]
    findings: list[str] = []
    if control:
        uplift = result.uplift[result.uplift["campaign"] == name].set_index("tier")
        rate_of = rates.set_index(["tier", "group"])
        for tier in [lab for lab in labels if lab in uplift.index]:
            u = uplift.loc[tier]
            rt, rc = rate_of.loc[(tier, "treatment")], rate_of.loc[(tier, "control")]
            said = [_rate_sentence(tier, o, u, rt, rc, lang) for o in outcomes]
            if "revenue" in p["outcomes"]:
                said.append(_revenue_sentence(tier, u, lang, cur))
            if bool(u["small"]):
                said.append(t("campaigns.small_tier", lang, tier=tier, n=p["min_group_size"]))
            findings.append(sentences(said))
        het = result.heterogeneity[result.heterogeneity["campaign"] == name]
        lead_outcome = outcomes[0] if outcomes else "revenue"
        sentence = _heterogeneity_sentence(het, lead_outcome, p["alpha"], p["min_group_size"], lang)
        if sentence:
            findings.insert(0, f"<strong>{esc(sentence)}</strong>")
        if np.isfinite(camp["balance_p"]) and camp["balance_p"] < p["alpha"]:
            findings.append(t("campaigns.unbalanced", lang, p=_p_eq(camp["balance_p"])))
    else:
        parts.append(f'<div class="note">{esc(t("campaigns.no_control", lang))}</div>')
        treated = rates[rates["group"] == "treatment"].set_index("tier")
        for tier in [lab for lab in labels if lab in treated.index]:
            r = treated.loc[tier]
            findings.append(
                t(
                    "campaigns.finding_rates",
                    lang,
                    tier=tier,
                    response=fmt_pct(r["response_rate"], lang),
                    response_ci=_ci(
                        fmt_pct(r["response_low"], lang), fmt_pct(r["response_high"], lang), lang
                    ),
                    conversion=fmt_pct(r["conversion_rate"], lang),
                    conversion_ci=_ci(
                        fmt_pct(r["conversion_low"], lang),
                        fmt_pct(r["conversion_high"], lang),
                        lang,
                    ),
                )
            )
    parts.append(
        '<ul class="findings">'
        + "".join(f"<li>{s if s.startswith('<strong>') else esc(s)}</li>" for s in findings)
        + "</ul>"
    )
    if any(np.isfinite(rates[f"{k}_rate"]).any() for _, k in _RATES):
        key = "chart_caption" if control else "chart_caption_rates"
        caption = t(f"campaigns.{key}", lang, campaign=name)
        ax = uplift_chart(result, name, language=lang, brand=palette_of(analysis))
        parts.append(charts.figure_html(ax.get_figure(), alt=caption, caption=caption))
    parts.append(_table(result, name, control, labels, classes, lang, cur))
    return parts


def _p_eq(p: float) -> str:
    shown = fmt_p(float(p))
    return shown if shown.startswith("<") else f"= {shown}"


def _with_ci(estimate: str, low: str, high: str) -> str:
    return f'{esc(estimate)}<br><span class="ci">{esc(low)} – {esc(high)}</span>'


def _table(result, name, control, labels, classes, lang, cur) -> str:
    rates = result.rates[result.rates["campaign"] == name]
    order = [*labels, ALL_TIERS]

    def tier_cell(tier: str) -> str:
        return esc(t("campaigns.all_tiers", lang)) if tier == ALL_TIERS else badge(tier, classes)

    rows = []
    if control:
        uplift = result.uplift[result.uplift["campaign"] == name].set_index("tier")
        rate_of = rates.set_index(["tier", "group"])
        for tier in [x for x in order if x in uplift.index]:
            u = uplift.loc[tier]
            rows.append(
                (
                    tier_cell(tier),
                    esc(fmt_int(u["treatment"])),
                    esc(fmt_int(u["control"])),
                    esc(fmt_pct(rate_of.loc[(tier, "treatment"), "response_rate"], lang)),
                    esc(fmt_pct(rate_of.loc[(tier, "control"), "response_rate"], lang)),
                    _with_ci(
                        points(u["response_uplift"]),
                        points(u["response_uplift_low"]),
                        points(u["response_uplift_high"]),
                    ),
                    _with_ci(
                        points(u["conversion_uplift"]),
                        points(u["conversion_uplift_low"]),
                        points(u["conversion_uplift_high"]),
                    ),
                    _with_ci(
                        money_signed(u["revenue_uplift"], lang, cur),
                        money_signed(u["revenue_uplift_low"], lang, cur),
                        money_signed(u["revenue_uplift_high"], lang, cur),
                    ),
                )
            )
        heads = (
            "tier",
            "treatment",
            "control",
            "response_t",
            "response_c",
            "response_uplift",
            "conversion_uplift",
            "revenue_uplift",
        )
        caption = t("campaigns.table_caption", lang, campaign=name)
    else:
        treated = rates[rates["group"] == "treatment"].set_index("tier")
        for tier in [x for x in order if x in treated.index]:
            r = treated.loc[tier]
            rows.append(
                (
                    tier_cell(tier),
                    esc(fmt_int(r["customers"])),
                    _with_ci(
                        fmt_pct(r["response_rate"], lang),
                        fmt_pct(r["response_low"], lang),
                        fmt_pct(r["response_high"], lang),
                    ),
                    _with_ci(
                        fmt_pct(r["conversion_rate"], lang),
                        fmt_pct(r["conversion_low"], lang),
                        fmt_pct(r["conversion_high"], lang),
                    ),
                    esc(fmt_money(r["revenue_per_customer"], lang, cur)),
                )
            )
        heads = ("tier", "customers", "response", "conversion", "revenue_per_customer")
        caption = t("campaigns.table_caption_rates", lang, campaign=name)
    n = len(heads)
    return table(
        [t(f"campaigns.col_{h}", lang) for h in heads],
        rows,
        numeric=tuple(range(1, n)),
        raw=tuple(range(n)),
        caption=caption,
    )


def section_campaigns(analysis, result: CampaignAnalysis | None = None) -> str:
    """The report section (HTML) "Do the tiers respond differently?" in the report
    language, from ``result`` or else ``analysis.campaigns``; "" without campaign data."""
    v = result if result is not None else getattr(analysis, "campaigns", None)
    if v is None:
        return ""
    require(
        isinstance(v, CampaignAnalysis),
        "section_campaigns needs a CampaignAnalysis",
        where="analysis.campaigns",
        hint="store tiering.analysis.campaigns.campaign_results(...) there",
    )
    lang = analysis.params.language
    cur = analysis.params.currency
    p = v.params
    parts = [
        heading("campaigns.sec_title", lang, anchor="campaigns"),
        f'<p class="lead">{esc(t("campaigns.lead", lang))}</p>',
    ]
    if v.campaigns.empty:
        src = analysis.source.get("campaigns") or {}
        parts.append(
            '<div class="note">'
            + esc(
                t(
                    "campaigns.no_contacts",
                    lang,
                    file=src.get("file", ""),
                    rejected=fmt_int(src.get("rows_rejected", 0)),
                )
            )
            + "</div>"
        )
        return "".join(parts)
    basis = p.get("tier_basis", "current")
    tier_date = p.get("tier_date")
    if basis == "current" and tier_date is not None:
        shown_date = fmt_date(pd.Timestamp(tier_date).date() - pd.Timedelta(days=1), lang)
    else:
        shown_date = fmt_date(tier_date, lang) if tier_date is not None else "–"
    parts.append(f"<p>{esc(t(f'campaigns.basis_{basis}', lang, date=shown_date))}</p>")
    for camp in v.campaigns.to_dict("records"):
        parts.extend(_campaign_part(analysis, v, camp, lang, cur))
    note = t("campaigns.method_note", lang)
    if bool(v.campaigns["causal_wording"].any()):  # the uplift's methods only where shown
        fields = {"n_boot": fmt_int(p["n_boot"]), "seed": p["seed"], "min_n": p["min_group_size"]}
        note = sentences([note, t("campaigns.method_note_uplift", lang, **fields)])
    parts.append(f'<div class="note">{esc(note)}</div>')
    return "".join(parts)


# --------------------------------------------------------------------------- data section


def _reasons(by_reason: dict, lang: str) -> str:
    return listing(
        [
            t(
                "campaigns.reason_count",
                lang,
                reason=locale.get(lang).in_sentence(t(f"reasons.reason_{r}", lang)),
                n=fmt_int(n),
            )
            for r, n in by_reason.items()
        ],
        lang,
    )


def data_sentences(analysis) -> list[str]:
    """The data section's sentences on the customer master (join counts, leading-zero
    near misses, rejected rows) and the campaign file (rows read, used, rejected); empty
    without them."""
    lang = analysis.params.language
    out = []
    m = analysis.source.get("customer_master")
    if m:
        out.append(
            t(
                "campaigns.data_master",
                lang,
                file=m["file"],
                rows_read=fmt_int(m["rows_read"]),
                rows_used=fmt_int(m["rows_used"]),
                matched=fmt_int(m["matched"]),
                customers=fmt_int(m["transaction_customers"]),
                transactions_only=fmt_int(m["transactions_only"]),
                master_only=fmt_int(m["master_only"]),
            )
        )
        if m.get("zero_padding"):
            n = int(m["zero_padding"])
            out.append(tn("campaigns.data_master_padding", lang, n, n=fmt_int(n)))
        if m["rows_rejected"]:
            n = int(m["rows_rejected"])
            out.append(
                tn(
                    "campaigns.data_master_rejected",
                    lang,
                    n,
                    n=fmt_int(n),
                    reasons=_reasons(m["rejected_by_reason"], lang),
                )
            )
    c = analysis.source.get("campaigns")
    if c:
        fields = {
            "file": c["file"],
            "rows_read": fmt_int(c["rows_read"]),
            "rows_used": fmt_int(c["rows_used"]),
            "rejected": fmt_int(c["rows_rejected"]),
        }
        if c["rows_rejected"]:
            reasons = _reasons(c["rejected_by_reason"], lang)
            out.append(t("campaigns.data_campaigns_rejected", lang, reasons=reasons, **fields))
        else:
            out.append(t("campaigns.data_campaigns", lang, **fields))
    return out
