"""The statistics section of the report (``section_stats``) and the sentences it is
made of (``describe_findings``): the text of a :class:`tiering.analysis.stats.Comparison`.

Order of the section: what was done (lead), a warning to read effect sizes first when
there are many customers, the plain-language findings, the overall test per measure
(effect size first), the forest plot of tier medians (means with ``stats.test:
welch``), the heatmap of pairwise effect sizes with adjusted p-values, which values of
a categorical attribute set the tiers apart (standardised residuals, only when the
attribute differs meaningfully), and the conventions used to call a difference
significant, meaningful, small or large. The distributions by tier on a log scale are
in the profiles section and are not repeated here.

The findings, the executive summary's statistics bullets and the holdout section's test
sentence read the comparison's codes (``kind``, ``note``, ``magnitude``,
``effect_size_name``) and word them with the ``stats.*`` catalogue
(``tiering/text/stats.yaml``).
"""

from __future__ import annotations

import re
from collections.abc import Collection

import numpy as np
import pandas as pd

from tiering import locale
from tiering.analysis import effects
from tiering.analysis.methods import built_from
from tiering.analysis.stats import Comparison
from tiering.errors import require
from tiering.present import charts
from tiering.present.css import palette_of
from tiering.present.htmlkit import ci_text, esc, fmt_int, fmt_num, fmt_p, heading, table
from tiering.present.i18n import has, listing, t, tn

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
    parts = [
        heading("report.sec_stats", lang, anchor="stats"),
        f'<p class="lead">{esc(t(f"stats.lead_{test}", lang))}</p>',
    ]
    n_total = _customers(comparison)
    if n_total >= LARGE_N:
        parts.append(f'<div class="note">{esc(t("stats.large_n", lang, n=fmt_int(n_total)))}</div>')
    sentences = describe_findings(comparison, language=lang)
    parts += [
        f"<h3>{esc(t('stats.findings_title', lang))}</h3>",
        '<ul class="findings">' + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul>",
        f'<div class="note">{esc(_caveat(a, lang))}</div>',
    ]
    omni = tests[tests["test"].isin(_OMNIBUS) | tests["test"].str.startswith("not_tested")]
    if len(omni):
        parts += [f"<h3>{esc(t('stats.omnibus_title', lang))}</h3>", _omnibus_table(omni, lang)]
    parts += _charts(a, comparison, lang)
    parts += _associations(comparison, lang)
    parts.append(_conventions(a, comparison, lang))
    return "".join(parts)


def basis_of(a) -> tuple[str, ...] | None:
    """The customer columns the analysis' tiers are built from (by its method and fitted
    parameters); None when the method does not say."""
    return built_from(a.params.tiering.method, a.tiering_params)


def compared_metrics(comparison: Comparison) -> list[str]:
    """The numeric measures of the comparison, in its order."""
    f = comparison.findings
    return list(dict.fromkeys(f.loc[f["kind"].isin(["ratio", "difference"]), "metric"]))


def caveat_text(a, lang: str) -> str:
    """What the tiers differ in by construction, worded from the method actually used:
    the columns it built the tiers from against the other measures compared."""
    basis = basis_of(a)
    if basis is None:
        from tiering.present.methods import method_name

        return t("stats.caveat_unknown", lang, method=method_name(a.params.tiering.method, lang))
    names = listing([metric_name(m, lang, mid_sentence=True) for m in basis], lang)
    others = [m for m in compared_metrics(a.comparison) if m not in basis]
    if not others:
        return t("stats.caveat_all", lang, basis=names)
    return t(
        "stats.caveat_one" if len(basis) == 1 else "stats.caveat",
        lang,
        basis=names,
        others=listing([metric_name(m, lang, mid_sentence=True) for m in others], lang),
    )


def _caveat(a, lang: str) -> str:
    """The by-construction caveat; it points to the holdout section when there is one."""
    text = caveat_text(a, lang)
    if getattr(a, "holdout", None) is not None:
        text += t("stats.caveat_forward", lang)
    return text


def _customers(comparison) -> int:
    sizes = comparison.params.get("tier_sizes") or {}
    return int(sum(sizes.values()))


def _name(code: str, lang: str) -> str:
    return metric_name(str(code), lang, mid_sentence=False)


def _omnibus_table(omni: pd.DataFrame, lang: str) -> str:
    rows = []
    for r in omni.itertuples():
        if str(r.test).startswith("not_tested"):
            rows.append(
                (_name(r.metric, lang), "–", "–", "–", t("stats.not_tested_cell", lang), "–", "–")
            )
            continue
        effect = (
            f"{effect_label(r.effect_size_name, lang)} = {fmt_num(r.effect_size, 3)}"
            if isinstance(r.effect_size_name, str) and r.effect_size_name
            else "–"
        )
        magnitude = t(f"stats.magnitude_{r.magnitude}", lang) if r.magnitude else "–"
        statistic = fmt_num(r.statistic, 2)
        if r.test == "welch_anova" and pd.notna(r.df2):
            statistic = f"F({int(r.df)}, {r.df2:.1f}) = {fmt_num(r.statistic, 2)}"
        elif r.test in ("kruskal_wallis", "chi_square") and pd.notna(r.df):
            symbol = "H" if r.test == "kruskal_wallis" else "χ²"
            statistic = f"{symbol}({int(r.df)}) = {fmt_num(r.statistic, 2)}"
        elif r.test == "fisher_exact":
            statistic = f"OR = {fmt_num(r.statistic, 2)}"
        rows.append(
            (
                _name(r.metric, lang),
                fmt_int(r.n1) if pd.notna(r.n1) else "–",
                effect,
                magnitude,
                t(f"stats.test_{r.test}", lang),
                statistic,
                fmt_p(r.p_adj),
            )
        )
    heads = [
        t(f"stats.col_{c}", lang)
        for c in ("measure", "n", "effect", "magnitude", "test", "statistic", "p_adj")
    ]
    return table(heads, rows, numeric=(1, 2, 5, 6))


def _charts(a, comparison, lang: str) -> list[str]:
    parts = []
    summary = comparison.summary
    currency = getattr(a.params, "currency", None)
    metric = (
        "monetary"
        if (summary["metric"] == "monetary").any()
        else (str(summary["metric"].iloc[0]) if len(summary) else None)
    )
    if metric is not None and summary.loc[summary["metric"] == metric, "median"].notna().any():
        name = metric_name(metric, lang, mid_sentence=True)
        if comparison.test == "welch":
            ax = _mean_forest(summary, metric, lang, currency, brand=palette_of(a))
            caption = t("stats.cap_forest_mean", lang, metric=name)
        else:
            ax = charts.median_forest(
                summary, metric=metric, language=lang, currency=currency, brand=palette_of(a)
            )
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


def _mean_forest(summary: pd.DataFrame, metric: str, lang: str, currency, *, brand=None):
    """The forest plot of tier means: ``median_forest`` drawn on the mean columns."""
    means = summary.copy()
    means["median"] = means["mean"]
    means["median_ci_low"] = means["mean_ci_low"]
    means["median_ci_high"] = means["mean_ci_high"]
    ax = charts.median_forest(means, metric=metric, language=lang, currency=currency, brand=brand)
    name = locale.get(lang).in_sentence(charts.metric_name(metric, lang))
    charts.set_title(ax, t("stats.forest_title_mean", lang, metric=name))
    charts.set_axis_labels(ax, x=t("stats.forest_xlabel_mean", lang, metric=name))
    return ax


def _hedges_heatmap(tests: pd.DataFrame, lang: str, order):
    """The pairwise heatmap for Games-Howell rows: Hedges' g with adjusted p stars."""
    rows = tests[tests["test"] == "games_howell"].copy()
    rows["test"] = "dunn"  # the chart's row filter, not a claim
    rows["effect_size_name"] = "cliffs_delta"
    ax = charts.effect_size_heatmap(rows, language=lang, tier_order=order)
    charts.set_title(ax, t("stats.effects_title_welch", lang))
    charts.set_axis_labels(
        ax, x=f"{t('charts.effect_pair_axis', lang)}\n{t('stats.effects_stars_welch', lang)}"
    )
    colorbar = ax.figure.axes[-1]
    colorbar.set_ylabel(
        t("stats.effects_colorbar_welch", lang), fontsize=charts.NOTE_SIZE, color=charts.TEXT_COLOR
    )
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
        name = metric_name(attribute, lang, mid_sentence=True)
        heads = [t("stats.assoc_col_value", lang)] + tiers + [t("stats.assoc_col_total", lang)]
        parts += [
            f"<h3>{esc(t('stats.assoc_title', lang, attribute=name))}</h3>",
            f"<p>{esc(t('stats.assoc_lead', lang, attribute=name, shown=len(top), total=len(strength)))}</p>",
            table(heads, rows, numeric=tuple(range(1, len(heads))), raw=tuple(range(len(heads)))),
        ]
    return parts


def _conventions(a, comparison, lang: str) -> str:
    p = comparison.params
    test = comparison.test
    th = p.get("thresholds") or {
        "epsilon_squared": effects.EPSILON_SQ_THRESHOLDS,
        "omega_squared": effects.OMEGA_SQ_THRESHOLDS,
        "cliffs_delta": effects.CLIFF_THRESHOLDS,
        "hedges_g": effects.HEDGES_G_THRESHOLDS,
        "cramers_v": effects.COHEN_W_THRESHOLDS,
    }
    names = (
        ("epsilon_squared", "cliffs_delta") if test == "kruskal" else ("omega_squared", "hedges_g")
    )
    if p.get("categorical"):
        names += ("cramers_v",)
    rules = [
        t(f"stats.rule_{n}", lang, a=_g(th[n][0]), b=_g(th[n][1]), c=_g(th[n][2])) for n in names
    ]
    joiner = locale.get(lang).clause_sep
    alpha = p.get("alpha", getattr(getattr(a.params, "stats", None), "alpha", 0.05))
    lines = [
        t(
            "stats.conventions_significant",
            lang,
            alpha=_g(alpha),
            pairwise=t(f"stats.pairwise_{test}", lang),
        ),
        t("stats.conventions_size", lang, rules=joiner.join(rules)),
        t(
            "stats.conventions_intervals",
            lang,
            n_boot=fmt_int(p.get("n_boot", 0)),
            seed=p.get("seed", 0),
            min_n=p.get("min_group_size", ""),
        ),
    ]
    sub = p.get("posthoc_subsampled") or []
    if sub:
        tiers = list(dict.fromkeys(str(x["tier"]) for x in sub))
        lines.append(
            t(
                "stats.conventions_subsampled",
                lang,
                tiers=locale.get(lang).join(tiers),
                n=fmt_int(sub[0]["n_used"]),
                seed=p.get("seed", 0),
            )
        )
    body = "".join(f"<p>{esc(x)}</p>" for x in lines)
    return f'<h3>{esc(t("stats.conventions_title", lang))}</h3><div class="note">{body}</div>'


def _g(value) -> str:
    return f"{float(value):g}" if np.isfinite(float(value)) else "–"


# --------------------------------------------------------------------------- sentences

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _is_cjk(label: str) -> bool:
    return bool(_CJK.search(label))


def _tier_text(key: str, label: str, language: str) -> str:
    return t(f"stats.{key}_cjk" if _is_cjk(label) else f"stats.{key}", language, tier=label)


def _pair_text(t1: str, t2: str, language: str) -> str:
    key = "stats.tier_pair_cjk" if (_is_cjk(t1) or _is_cjk(t2)) else "stats.tier_pair"
    return t(key, language, t1=t1, t2=t2)


def metric_name(column: str, language: str, *, mid_sentence: bool) -> str:
    """Display name from ``metrics.yaml``; else the column name (``_`` as space in English)."""
    if has(f"metrics.{column}"):
        name = t(f"metrics.{column}", language)
    else:
        name = locale.get(language).column(column)
    return locale.get(language).in_sentence(name) if mid_sentence else name


def _num(value: float) -> str:
    """A number for reading: thousands separators, about three significant digits."""
    if value is None or not np.isfinite(value):
        return "–"
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _ratio_decimals(value: float) -> int:
    """Decimals for a ratio: 1.24×, 6.1×, 12×."""
    a = abs(value)
    return 2 if a < 1.995 else 1 if a < 9.95 else 0


def _ratio_text(value: float, decimals: int | None = None) -> str:
    """A ratio for reading; ``decimals`` defaults to what suits the value itself."""
    if value is None or not np.isfinite(value):
        return "–"
    d = _ratio_decimals(value) if decimals is None else decimals
    return f"{value:,.{d}f}"


def _delta_text(value: float) -> str:
    return f"{value:.2f}"


def _interval(low: float, high: float, estimate: float, fmt) -> tuple[str, str]:
    """Interval bounds for a sentence that states the estimate's size and direction.

    A negative estimate whose interval lies wholly below zero is shown as absolute
    values (the sentence already says "lower"); an interval that crosses zero keeps
    its signs so that it is not misread.
    """
    if estimate < 0 and high <= 0:
        return fmt(-high), fmt(-low)
    return fmt(low), fmt(high)


def effect_label(name: str, language: str) -> str:
    """Display name of an effect-size code (``cliffs_delta`` -> "Cliff's δ")."""
    key = f"stats.effect_{name}"
    return t(key, language) if has(key) else str(name).replace("_", " ")


def describe_findings(
    comparison: Comparison,
    *,
    language: str,
    limit: int | None = None,
    metrics: Collection[str] | None = None,
) -> list[str]:
    """Plain-language sentences from ``comparison.findings`` in ``language``.

    One sentence per adjacent tier pair and metric, and per attribute, in the order of
    the findings table; when no difference is meaningful, a sentence saying so comes
    first. Notes on tiers left out and metrics not tested always follow and are not
    counted by ``limit``, which caps the number of finding sentences. ``metrics``
    keeps only the findings on those measures and attributes (all when None).

    A difference is described as significant or sized only as the findings table says:
    ``meaningful`` (adjusted p < alpha and magnitude at least small) rows get a ratio
    or difference sentence with its 95% interval and effect size; all others say the
    tiers do not differ meaningfully, and why.
    """
    require(
        isinstance(comparison, Comparison),
        "describe_findings needs a Comparison",
        where="describe_findings(comparison)",
        hint="pass the result of compare_tiers()",
    )
    locale.get(language, where="describe_findings(language)")
    require(
        limit is None or (isinstance(limit, (int, np.integer)) and limit >= 0),
        f"limit must be None or a non-negative integer, got {limit!r}",
        where="describe_findings(limit)",
    )
    findings = comparison.findings
    if metrics is not None:
        findings = findings[findings["metric"].isin(list(metrics))]
    min_n = comparison.params.get("min_group_size", "")

    sentences: list[str] = []
    notes: list[str] = []
    compared = findings[findings["kind"].isin(["ratio", "difference", "association"])]
    for _, row in findings.iterrows():
        kind = row["kind"]
        if kind in ("ratio", "difference"):
            sentences.append(_pair_sentence(row, language))
        elif kind == "association":
            sentences.append(_association_sentence(row, language))
        elif kind == "excluded_tier":
            notes.append(_excluded_sentence(row, language, min_n))
        elif kind == "not_tested":
            reason = t(f"stats.reason_{row['note']}", language, min_n=min_n)
            notes.append(
                t(
                    "stats.not_tested",
                    language,
                    metric=metric_name(row["metric"], language, mid_sentence=False),
                    reason=reason,
                )
            )
    if len(compared) and not compared["meaningful"].any():
        sentences.insert(0, t("stats.overall_no_difference", language))
    if limit is not None:
        sentences = sentences[: int(limit)]
    return sentences + notes


def _reason(row, language: str) -> str:
    key = "stats.reason_negligible" if row["significant"] else "stats.reason_not_significant"
    return t(key, language)


def _row_value(row, name: str, default=np.nan):
    value = row.get(name, default) if hasattr(row, "get") else default
    return default if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _pair_sentence(row, language: str) -> str:
    metric = metric_name(row["metric"], language, mid_sentence=True)
    g1, g2 = row["group1"], row["group2"]
    center = _row_value(row, "center", "") or "median"
    effect_name = _row_value(row, "effect_size_name", "") or "cliffs_delta"
    size = _row_value(row, "effect_size")
    if not isinstance(size, (int, float)) or not np.isfinite(size):
        size = row["cliffs_delta"]
    effect = effect_label(effect_name, language)
    delta = _delta_text(size)
    v1, v2 = (
        (row["median1"], row["median2"]) if center == "median" else (row["mean1"], row["mean2"])
    )
    if not row["meaningful"]:
        return t(
            "stats.finding_no_difference",
            language,
            pair=_pair_text(g1, g2, language),
            metric=metric,
            centers=t(f"stats.centers_{center}", language),
            m1=_num(v1),
            m2=_num(v2),
            effect=effect,
            delta=delta,
            reason=_reason(row, language),
        )
    magnitude = t(f"stats.magnitude_{row['magnitude']}", language)
    who = _tier_text("tier_customers", g1, language)
    ref = _tier_text("tier_ref", g2, language)
    word = t(f"stats.center_{center}", language)
    if _num(v1) == _num(v2) and np.isfinite(size) and size != 0:
        # equal centres, different distributions: which way they lean, not "1.00×"
        return t(
            "stats.finding_shift",
            language,
            g1=who,
            g2=ref,
            metric=metric,
            direction=t("stats.higher" if size > 0 else "stats.lower", language),
            centers=t(f"stats.centers_{center}", language),
            m1=_num(v1),
            m2=_num(v2),
            magnitude=magnitude,
            effect=effect,
            delta=delta,
        )
    if row["kind"] == "ratio":
        # One precision for the estimate and its interval, chosen by the estimate.
        decimals = _ratio_decimals(row["ratio"])
        return t(
            "stats.finding_ratio",
            language,
            g1=who,
            g2=ref,
            metric=metric,
            center=word,
            ratio=_ratio_text(row["ratio"], decimals),
            ci=ci_text(
                _ratio_text(row["ratio_ci_low"], decimals),
                _ratio_text(row["ratio_ci_high"], decimals),
                language,
            ),
            magnitude=magnitude,
            effect=effect,
            delta=delta,
        )
    diff = float(row["difference"])
    low, high = _interval(row["difference_ci_low"], row["difference_ci_high"], diff, _num)
    direction = t("stats.higher" if diff >= 0 else "stats.lower", language)
    return t(
        "stats.finding_difference",
        language,
        g1=who,
        g2=ref,
        metric=metric,
        center=word,
        diff=_num(abs(diff)),
        direction=direction,
        m1=_num(v1),
        m2=_num(v2),
        ci=ci_text(low, high, language),
        magnitude=magnitude,
        effect=effect,
        delta=delta,
    )


def _association_sentence(row, language: str) -> str:
    attribute = metric_name(row["metric"], language, mid_sentence=True)
    v = _delta_text(row["cramers_v"])
    if row["meaningful"]:
        text = t(
            "stats.finding_association",
            language,
            attribute=attribute,
            v=v,
            magnitude=t(f"stats.magnitude_{row['magnitude']}", language),
        )
    else:
        text = t(
            "stats.finding_no_association",
            language,
            attribute=attribute,
            v=v,
            reason=_reason(row, language),
        )
    if row["note"] == "low_expected_counts":
        text += t("stats.low_expected_counts", language)
    return text


def _excluded_sentence(row, language: str, min_n) -> str:
    tier = _tier_text("tier_name", row["group1"], language)
    n = int(row["n1"])
    if row["metric"] == "":
        key = "stats.excluded_tier_empty" if n == 0 else "stats.excluded_tier"
        return tn(key, language, n, tier=tier, n=n, min_n=min_n)
    return tn(
        "stats.excluded_tier_metric",
        language,
        n,
        tier=tier,
        n=n,
        min_n=min_n,
        metric=metric_name(row["metric"], language, mid_sentence=True),
    )


# --------------------------------------------------------------------------- master profile

#: Values of a category shown per tier in the master profile; the rest are "other".
MASTER_PROFILE_VALUES = 3


def master_profile_html(a) -> str:
    """The profiles section's table of the customer master per tier: for each category
    (credit rating, industry, type, red/black list) its most common values with their
    shares, the share overdue, and the median of each number (credit score, days
    overdue, satisfaction, ...); "" without a master. The tests and effect sizes of the
    same columns are in the statistics section."""
    from tiering.analysis.pipeline import master_measures
    from tiering.analysis.stats import master_profile

    tiers = a.tiers
    numeric, categorical = master_measures(tiers, attributes=a.params.data.attributes)
    if "overdue" in tiers.columns and tiers["overdue"].notna().any():
        categorical = [*categorical, "overdue"]
    if not numeric and not categorical:
        return ""
    lang = a.params.language
    labels = [str(x) for x in a.labels]
    prof = master_profile(tiers, categorical=categorical, numeric=numeric, labels=labels)
    rows = []
    for measure in [*categorical, *numeric]:
        cells = [esc(_master_name(measure, lang))]
        for tier in labels:
            part = prof[(prof["measure"] == measure) & (prof["tier"] == tier)]
            cells.append(esc(_profile_cell(measure, part, lang, numeric=measure in numeric)))
        rows.append(cells)
    heads = [t("campaigns.profile_col_measure", lang)] + labels
    out = [
        f"<h3>{esc(t('campaigns.profile_title', lang))}</h3>",
        f"<p>{esc(t('campaigns.profile_lead', lang))}</p>",
        table(heads, rows, raw=tuple(range(len(heads)))),
    ]
    return "".join(out)


def _master_name(measure: str, lang: str) -> str:
    base = measure[: -len("_master")] if measure.endswith("_master") else measure
    if base == "overdue":
        return t("campaigns.profile_overdue", lang)
    name = charts.metric_name(base, lang)
    return name[:1].upper() + name[1:]  # a row heading: "industry" -> "Industry"


def _profile_cell(measure: str, part: pd.DataFrame, lang: str, *, numeric: bool) -> str:
    if part.empty or int(part["known"].max()) == 0:
        return "–"
    if numeric:
        r = part.iloc[0]
        return t(
            "campaigns.profile_median", lang, value=fmt_num(r["median"]), n=fmt_int(r["known"])
        )
    if measure == "overdue":
        r = part.iloc[0]
        return t(
            "campaigns.profile_share_of",
            lang,
            share=f"{r['share'] * 100:.0f}%",
            n=fmt_int(r["known"]),
        )
    shown = part.iloc[:MASTER_PROFILE_VALUES]
    if measure.startswith("list_status"):  # the reader's words red / black: report text
        names = [t(f"campaigns.profile_list_{c}", lang) for c in shown["category"]]
    else:  # the client's own values (industry, type, rating): data, shown as written
        names = list(shown["category"])
    items = [f"{c} {s * 100:.0f}%" for c, s in zip(names, shown["share"])]
    rest = float(part["share"].iloc[MASTER_PROFILE_VALUES:].sum())
    if rest > 0:
        items.append(f"{t('campaigns.profile_other', lang)} {rest * 100:.0f}%")
    return " · ".join(items)
