"""The report section comparing the tiers statistically (``section_stats``).

Order of the section: what was done (lead), a warning to read effect sizes first when
there are many customers, the plain-language findings, the overall test per measure
(effect size first), the forest plot of tier medians (means with ``stats.test:
welch``), the heatmap of pairwise effect sizes with adjusted p-values, which values of
a categorical attribute set the tiers apart (standardised residuals, only when the
attribute differs meaningfully), and the conventions used to call a difference
significant, meaningful, small or large. The distributions by tier on a log scale are
in the profiles section and are not repeated here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tiering.present import charts

from tiering import locale

from tiering.analysis import stats
from tiering.present.i18n import t
from tiering.present.htmlkit import esc, fmt_int, fmt_num, fmt_p, heading, table

#: From this many customers on, the section warns that p-values say little.
LARGE_N = 1000
#: Values of an attribute shown in its residual table.
MAX_RESIDUAL_ROWS = 8
_OMNIBUS = ("kruskal_wallis", "welch_anova", "chi_square", "fisher_exact")


def section_stats(a) -> str:
    """The statistics section as HTML, in ``a.params.language``.

    ``a`` needs ``params`` (``language``, ``currency``, ``seed``, ``stats``) and
    ``comparison`` (a :class:`tiering.analysis.stats.Comparison`).
    """
    lang = a.params.language
    comparison = a.comparison
    test = comparison.test
    tests = comparison.tests
    parts = [heading("report.sec_stats", lang, anchor="stats"),
             f'<p class="lead">{esc(t(f"stats.lead_{test}", lang))}</p>']
    n_total = _customers(comparison)
    if n_total >= LARGE_N:
        parts.append(f'<div class="note">{esc(t("stats.large_n", lang, n=fmt_int(n_total)))}</div>')
    sentences = stats.describe_findings(comparison, language=lang)
    parts += [f"<h3>{esc(t('stats.findings_title', lang))}</h3>",
              '<ul class="findings">' + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul>",
              f'<div class="note">{esc(_caveat(a, lang))}</div>']
    omni = tests[tests["test"].isin(_OMNIBUS) | tests["test"].str.startswith("not_tested")]
    if len(omni):
        parts += [f"<h3>{esc(t('stats.omnibus_title', lang))}</h3>", _omnibus_table(omni, lang)]
    parts += _charts(a, comparison, lang)
    parts += _associations(comparison, lang)
    parts.append(_conventions(a, comparison, lang))
    return "".join(parts)


def _caveat(a, lang: str) -> str:
    """The by-construction caveat; it points to the holdout section when there is one."""
    text = t("stats.caveat", lang)
    if getattr(a, "holdout", None) is not None:
        text += t("stats.caveat_forward", lang)
    return text


def _customers(comparison) -> int:
    sizes = comparison.params.get("tier_sizes") or {}
    return int(sum(sizes.values()))


def _name(code: str, lang: str) -> str:
    return stats._metric_name(str(code), lang, mid_sentence=False)


def _omnibus_table(omni: pd.DataFrame, lang: str) -> str:
    rows = []
    for r in omni.itertuples():
        if str(r.test).startswith("not_tested"):
            rows.append((_name(r.metric, lang), "–", "–", "–", t("stats.not_tested_cell", lang),
                         "–", "–"))
            continue
        effect = (f"{stats.effect_label(r.effect_size_name, lang)} = {fmt_num(r.effect_size, 3)}"
                  if isinstance(r.effect_size_name, str) and r.effect_size_name else "–")
        magnitude = t(f"stats.magnitude_{r.magnitude}", lang) if r.magnitude else "–"
        statistic = fmt_num(r.statistic, 2)
        if r.test == "welch_anova" and pd.notna(r.df2):
            statistic = f"F({int(r.df)}, {r.df2:.1f}) = {fmt_num(r.statistic, 2)}"
        elif r.test in ("kruskal_wallis", "chi_square") and pd.notna(r.df):
            symbol = "H" if r.test == "kruskal_wallis" else "χ²"
            statistic = f"{symbol}({int(r.df)}) = {fmt_num(r.statistic, 2)}"
        elif r.test == "fisher_exact":
            statistic = f"OR = {fmt_num(r.statistic, 2)}"
        rows.append((_name(r.metric, lang), fmt_int(r.n1) if pd.notna(r.n1) else "–", effect,
                     magnitude, t(f"stats.test_{r.test}", lang), statistic, fmt_p(r.p_adj)))
    heads = [t(f"stats.col_{c}", lang) for c in
             ("measure", "n", "effect", "magnitude", "test", "statistic", "p_adj")]
    return table(heads, rows, numeric=(1, 2, 5, 6))


def _charts(a, comparison, lang: str) -> list[str]:
    parts = []
    summary = comparison.summary
    currency = getattr(a.params, "currency", None)
    metric = "monetary" if (summary["metric"] == "monetary").any() else (
        str(summary["metric"].iloc[0]) if len(summary) else None)
    if metric is not None and summary.loc[summary["metric"] == metric, "median"].notna().any():
        name = stats._metric_name(metric, lang, mid_sentence=True)
        if comparison.test == "welch":
            ax = _mean_forest(summary, metric, lang, currency)
            caption = t("stats.cap_forest_mean", lang, metric=name)
        else:
            ax = charts.median_forest(summary, metric=metric, language=lang, currency=currency)
            caption = t("stats.cap_forest_median", lang, metric=name)
        parts.append(charts.figure_html(ax.get_figure(), alt=caption, caption=caption))
    pair_test = "dunn" if comparison.test == "kruskal" else "games_howell"
    tests = comparison.tests
    if (tests["test"] == pair_test).any():
        order = comparison.params.get("tiers")
        if comparison.test == "kruskal":
            ax = charts.effect_size_heatmap(tests, language=lang, tier_order=order)
        else:
            ax = _hedges_heatmap(tests, lang, order)
        caption = t(f"stats.cap_effects_{comparison.test}", lang)
        parts.append(charts.figure_html(ax.get_figure(), alt=caption, caption=caption))
    return parts


def _mean_forest(summary: pd.DataFrame, metric: str, lang: str, currency):
    """The forest plot of tier means: ``median_forest`` drawn on the mean columns."""
    means = summary.copy()
    means["median"] = means["mean"]
    means["median_ci_low"] = means["mean_ci_low"]
    means["median_ci_high"] = means["mean_ci_high"]
    ax = charts.median_forest(means, metric=metric, language=lang, currency=currency)
    name = locale.get(lang).in_sentence(charts._metric_name(metric, lang))
    charts._title(ax, t("stats.forest_title_mean", lang, metric=name))
    charts._label(ax, x=t("stats.forest_xlabel_mean", lang, metric=name))
    return ax


def _hedges_heatmap(tests: pd.DataFrame, lang: str, order):
    """The pairwise heatmap for Games-Howell rows: Hedges' g with adjusted p stars."""
    rows = tests[tests["test"] == "games_howell"].copy()
    rows["test"] = "dunn"                       # the chart's row filter, not a claim
    rows["effect_size_name"] = "cliffs_delta"
    ax = charts.effect_size_heatmap(rows, language=lang, tier_order=order)
    charts._title(ax, t("stats.effects_title_welch", lang))
    charts._label(ax, x=f"{t('charts.effect_pair_axis', lang)}\n{t('stats.effects_stars_welch', lang)}")
    colorbar = ax.figure.axes[-1]
    colorbar.set_ylabel(t("stats.effects_colorbar_welch", lang), fontsize=charts._NOTE_SIZE,
                        color=charts._TEXT_COLOR)
    return ax


def _associations(comparison, lang: str) -> list[str]:
    findings = comparison.findings
    residuals = getattr(comparison, "residuals", None)
    if residuals is None:
        return []
    shown = findings[(findings["kind"] == "association") & findings["meaningful"]]
    parts = []
    labels = comparison.params.get("tiers") or []
    for attribute in shown["metric"]:
        res = residuals[residuals["attribute"] == attribute]
        if res.empty:
            continue
        wide_obs = res.pivot(index="category", columns="tier", values="observed")
        wide_res = res.pivot(index="category", columns="tier", values="residual")
        tiers = [x for x in labels if x in wide_obs.columns]
        strength = wide_res[tiers].abs().max(axis=1).sort_values(ascending=False, kind="stable")
        top = list(strength.index[:MAX_RESIDUAL_ROWS])
        rows = []
        for category in top:
            cells = [esc(str(category))]
            for tier in tiers:
                obs, r = int(wide_obs.loc[category, tier]), float(wide_res.loc[category, tier])
                text = esc(f"{obs:,} ({r:+.1f})".replace("-", "−"))
                cells.append(f"<strong>{text}</strong>" if abs(r) > 2 else text)
            cells.append(esc(f"{int(wide_obs.loc[category, tiers].sum()):,}"))
            rows.append(cells)
        name = stats._metric_name(attribute, lang, mid_sentence=True)
        heads = [t("stats.assoc_col_value", lang)] + tiers + [t("stats.assoc_col_total", lang)]
        parts += [f"<h3>{esc(t('stats.assoc_title', lang, attribute=name))}</h3>",
                  f"<p>{esc(t('stats.assoc_lead', lang, attribute=name, shown=len(top), total=len(strength)))}</p>",
                  table(heads, rows, numeric=tuple(range(1, len(heads))),
                        raw=tuple(range(len(heads))))]
    return parts


def _conventions(a, comparison, lang: str) -> str:
    p = comparison.params
    test = comparison.test
    th = p.get("thresholds") or {
        "epsilon_squared": stats.EPSILON_SQ_THRESHOLDS, "omega_squared": stats.OMEGA_SQ_THRESHOLDS,
        "cliffs_delta": stats.CLIFF_THRESHOLDS, "hedges_g": stats.HEDGES_G_THRESHOLDS,
        "cramers_v": stats.COHEN_W_THRESHOLDS}
    names = (("epsilon_squared", "cliffs_delta") if test == "kruskal"
             else ("omega_squared", "hedges_g"))
    if p.get("categorical"):
        names += ("cramers_v",)
    rules = [t(f"stats.rule_{n}", lang, a=_g(th[n][0]), b=_g(th[n][1]), c=_g(th[n][2]))
             for n in names]
    joiner = locale.get(lang).clause_sep
    alpha = p.get("alpha", getattr(getattr(a.params, "stats", None), "alpha", 0.05))
    lines = [
        t("stats.conventions_significant", lang, alpha=_g(alpha),
          pairwise=t(f"stats.pairwise_{test}", lang)),
        t("stats.conventions_size", lang, rules=joiner.join(rules)),
        t("stats.conventions_intervals", lang, n_boot=fmt_int(p.get("n_boot", 0)),
          seed=p.get("seed", 0), min_n=p.get("min_group_size", "")),
    ]
    sub = p.get("posthoc_subsampled") or []
    if sub:
        tiers = list(dict.fromkeys(str(x["tier"]) for x in sub))
        lines.append(t("stats.conventions_subsampled", lang,
                       tiers=locale.get(lang).join(tiers),
                       n=fmt_int(sub[0]["n_used"]), seed=p.get("seed", 0)))
    body = "".join(f"<p>{esc(x)}</p>" for x in lines)
    return (f"<h3>{esc(t('stats.conventions_title', lang))}</h3>"
            f'<div class="note">{body}</div>')


def _g(value) -> str:
    return f"{float(value):g}" if np.isfinite(float(value)) else "–"
