"""The report section comparing the tiers statistically."""

from __future__ import annotations

from . import charts, stats
from .i18n import has, t
from .narrative import _fig, esc, fmt_num, fmt_p, heading, table


def section_stats(a) -> str:
    lang = a.params.language
    tests = a.comparison.tests
    omni = tests[tests["test"].isin(["kruskal_wallis", "welch_anova", "chi_square"])]
    rows = []
    for r in omni.itertuples():
        metric = t(f"metrics.{r.metric}", lang) if _has_metric(r.metric) else str(r.metric)
        rows.append((metric, _label("report.test_", r.test, lang), fmt_num(r.statistic, 2),
                     fmt_p(r.p_adj),
                     f"{_label('report.effect_', r.effect_size_name, lang)} = {fmt_num(r.effect_size, 3)}"
                     if isinstance(r.effect_size_name, str) and r.effect_size_name else "–",
                     _magnitude(r.magnitude, lang)))
    sentences = stats.describe_findings(a.comparison, language=lang)
    items = "".join(f"<li>{esc(x)}</li>" for x in sentences)
    parts = [heading("report.sec_stats", lang, anchor="stats"),
             f'<p class="lead">{esc(t("report.stats_lead", lang))}</p>',
             f"<h3>{esc(t('report.stats_findings', lang))}</h3>",
             f'<ul class="findings">{items}</ul>',
             f'<div class="note">{esc(t("report.stats_caveat", lang))}</div>',
             f"<h3>{esc(t('report.stats_omnibus', lang))}</h3>",
             table([t("report.col_metric", lang), t("report.col_test", lang),
                    t("report.col_statistic", lang), t("report.col_p_adj", lang),
                    t("report.col_effect", lang), t("report.col_magnitude", lang)], rows,
                   numeric=(2, 3))]
    if (a.comparison.summary["metric"] == "monetary").any():
        parts.append(_fig(charts.median_forest(a.comparison.summary, metric="monetary",
                                               language=lang, currency=a.params.currency).get_figure(), lang, "report.cap_forest"))
    if (tests["test"] == "dunn").any():
        parts.append(_fig(charts.effect_size_heatmap(tests, language=lang).get_figure(), lang,
                          "report.cap_effects"))
    return "".join(parts)


def _label(prefix: str, code, lang: str) -> str:
    """Translated name of a test or effect size code; the code itself when unknown."""

    code = str(code)
    return t(prefix + code, lang) if has(prefix + code) else code.replace("_", " ")


def _has_metric(name: str) -> bool:

    return has(f"metrics.{name}")


def _magnitude(m, lang: str) -> str:

    if not isinstance(m, str) or not m:
        return "–"
    key = f"stats.magnitude_{m}"
    return t(key, lang) if has(key) else m



