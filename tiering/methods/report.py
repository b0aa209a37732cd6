"""The report section that explains the tiering method and its thresholds."""

from __future__ import annotations

from ..narrative import badge, esc, fmt_int, fmt_num, fmt_pct, heading, table
from ..i18n import t
from ..style import tier_css_classes


def section_method(a) -> str:
    lang = a.params.language
    p = a.tiering_params
    classes = tier_css_classes(a.labels)
    if p["method"] == "abc":
        text = t("report.method_abc", lang, top=a.labels[0], first_cut=fmt_pct(p["cutoffs"][0], digits=0))
        rules = [t("report.rule_abc", lang, lower=fmt_pct(r.lower, digits=0), upper=fmt_pct(r.upper, digits=0))
                 for r in a.thresholds.itertuples()]
    else:
        w = p["weights"]
        text = t("report.method_rfm", lang, bins=p["bins"], wr=fmt_num(w["recency"]),
                 wf=fmt_num(w["frequency"]), wm=fmt_num(w["monetary"]))
        rules = [t("report.rule_rfm_top", lang, lower=f"{r.lower:.2f}") if i == 0 else
                 t("report.rule_rfm", lang, lower=f"{r.lower:.2f}", upper=f"{r.upper:.2f}")
                 for i, r in enumerate(a.thresholds.itertuples())]
    s = a.tier_summary
    rows = [(badge(str(tier), classes), rule, fmt_int(n))
            for tier, rule, n in zip(a.thresholds["tier"], rules, s["customers"])]
    out = [heading("report.sec_method", lang, anchor="method"),
           f"<p>{esc(text)}</p>",
           table([t("metrics.tier", lang), t("report.col_rule", lang), t("report.col_customers", lang)],
                 rows, numeric=(2,), raw=(0,))]
    for code, fields in a.warnings:
        out.append(f'<div class="warning">{esc(t("report.warn_" + code, lang, **fields))}</div>')
    return "".join(out)



