"""The report section that explains the tiering method, its thresholds, and (when they
were run) the comparison with other methods and the stability of the tiers.

``section_method(analysis)`` returns one HTML fragment. It reads the method's
parameters and computed values from ``analysis.tiering_params`` (see each method's
``TieringResult.params``), the tier definitions from ``analysis.thresholds``, the
warnings from ``analysis.warnings`` and, when present, ``analysis.method_comparison``
(a :class:`tiering.analysis.methods.compare.MethodComparison`) and
``analysis.stability`` (the table of :func:`tiering.analysis.methods.compare.stability`;
``None`` when the method's cut-offs are fixed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tiering import locale
from tiering.analysis.methods import is_data_driven
from tiering.analysis.methods import methods as all_methods
from tiering.analysis.methods.rfm import SEGMENT_GRID
from tiering.params import RFM_SEGMENTS
from tiering.present.htmlkit import badge, esc, fmt_int, fmt_money, fmt_num, fmt_pct, heading, table
from tiering.present.i18n import has, t, tn
from tiering.style import tier_css_classes

MONEY_COLUMNS = ("monetary", "gross_revenue", "returns_value", "aov")
UNSTABLE = 0.8  # a tier keeping fewer of its customers than this gets a note


def method_text(method: str, part: str, language: str, /, **fields) -> str | None:
    """A method's report text ``part`` (name, short, subtitle, lead): the catalogue key
    ``methods.<part>_<method>`` for a built-in method, else the method's own ``texts``
    (:class:`tiering.analysis.methods.Method`); None when neither has it."""
    key = f"methods.{part}_{method}"
    if has(key):
        return t(key, language, **fields)
    described = all_methods().get(method)  # a previous report's method may be gone
    own = (described.texts.get(part) if described is not None else None) or {}
    text = locale.get(language).text("", own)  # an added language: its fallback's, translated
    return text.format_map(fields) if text is not None else None


def method_name(method: str, language: str) -> str:
    """The display name of a method (``methods.name_<method>``)."""
    return method_text(method, "name", language) or method


def method_short(method: str, language: str) -> str:
    """A short name of a method for table headers (``ABC``, ``RFM`` ...)."""
    return method_text(method, "short", language) or method_name(method, language)


def method_subtitle(method: str, language: str) -> str:
    """The cover subtitle of a report tiered with ``method``."""
    return method_text(method, "subtitle", language) or t(
        "methods.subtitle_generic", language, name=method_name(method, language)
    )


def segment_name(segment: str, language: str) -> str:
    """The display name of an RFM segment (``champions`` → Champions / 冠军客户)."""
    return t(f"methods.segment_{segment}", language)


def column_name(column: str, language: str, *, in_sentence: bool = False) -> str:
    """Display name of a customer column: the metrics catalogue's, else the header."""
    if has(f"metrics.{column}"):
        name = t(f"metrics.{column}", language)
        return locale.get(language).in_sentence(name) if in_sentence else name
    return str(column)


def _join(items: list[str], language: str) -> str:
    return locale.get(language).join(items)


def _pct(x: float) -> str:
    """A share with no decimals when it is a whole percent, else one."""
    return fmt_pct(x, digits=0 if abs(x * 100 - round(x * 100)) < 1e-9 else 1)


def _bounds(lower: float, upper: float, fmt, digits=(2, 3, 4, 6)) -> tuple[str, str] | None:
    """Two bounds of a range as texts that read differently: ``fmt(x, None)`` (the usual
    format), else ``fmt(x, d)`` with the fewest ``digits`` that tell them apart; None when
    the bounds are equal (the range is one value, never "from 3.00 to 3.00")."""
    if lower == upper:
        return None
    lo, hi = fmt(lower, None), fmt(upper, None)
    for d in digits:
        if _number(lo) != _number(hi):
            break
        lo, hi = fmt(lower, d), fmt(upper, d)
    return lo, hi


def _number(text: str) -> float | str:
    """The number a text reads as ("80%" and "80.0%" read the same), else the text."""
    try:
        return float(text.replace(",", "").rstrip("%"))
    except ValueError:
        return text


def _pct_digits(x: float, digits: int | None) -> str:
    return _pct(x) if digits is None else fmt_pct(x, digits=digits)


def _value(column: str, x: float, language: str, currency: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return fmt_money(x, language, currency) if column in MONEY_COLUMNS else fmt_num(x, 1)


# --------------------------------------------------------------------------- per method


def _abc(a, lang: str) -> tuple[list[str], list[str], list[str]]:
    p = a.tiering_params
    labels = a.labels
    value = column_name(p.get("value", "monetary"), lang, in_sentence=True)
    text = [
        t("methods.method_abc", lang, top=labels[0], value=value, first_cut=_pct(p["cutoffs"][0]))
    ]
    basis = _abc_basis(a, lang)
    if basis:
        text.append(basis)
    if p.get("cutoff_mode") == "computed":
        pp, be = p["pareto_point"], p["break_even_point"]
        cuts = _bounds(*p["cutoffs"][:2], lambda x, d: fmt_pct(x, digits=d or 1))
        text.append(
            t(
                "methods.method_abc_computed" if cuts else "methods.method_abc_computed_equal",
                lang,
                p_customers=fmt_pct(pp["customer_share"]),
                p_value=fmt_pct(pp["value_share"]),
                b_customers=fmt_pct(be["customer_share"]),
                b_value=fmt_pct(be["value_share"]),
                top=labels[0],
                mid=labels[1],
                cut_a=cuts[0] if cuts else fmt_pct(p["cutoffs"][0]),
                cut_b=cuts[1] if cuts else fmt_pct(p["cutoffs"][1]),
            )
        )
    rules = []
    last = len(a.thresholds) - 1
    for i, r in enumerate(a.thresholds.itertuples()):
        bounds = _bounds(r.lower, r.upper, _pct_digits)
        if bounds:
            rules.append(t("methods.rule_abc", lang, lower=bounds[0], upper=bounds[1]))
        else:  # cut-offs that coincide: no value between them (the last tier keeps the rest)
            key = "methods.rule_abc_point_last" if i == last else "methods.rule_abc_point"
            rules.append(t(key, lang, value=_pct(r.lower)))
    return text, rules, [], []


def _abc_basis(a, lang: str) -> str | None:
    """When ABC runs on net spend and some customers' net spend is negative, the cut-offs
    are shares of the positive total while the tier table and the summary give shares
    of net revenue: say so, with the top tier's share on net revenue (None otherwise)."""
    column = a.tiering_params.get("value", "monetary")
    if column != "monetary" or column not in a.tiers:
        return None
    value = a.tiers[column].astype(float)
    negative = value[value < 0]
    if negative.empty:
        return None
    cur = a.params.currency
    return tn(
        "methods.method_abc_basis",
        lang,
        len(negative),
        value=column_name(column, lang, in_sentence=True),
        positive=fmt_money(float(value.clip(lower=0).sum()), lang, cur),
        negative=fmt_money(float(negative.sum()), lang, cur),
        n=fmt_int(len(negative)),
        net=fmt_money(float(value.sum()), lang, cur),
        last=a.labels[-1],
        top=a.labels[0],
        top_share=fmt_pct(float(a.tier_summary["revenue_share"].iloc[0])),
    )


def _range_rule(key: str, lower: float, upper: float, lang: str, digits: int) -> str:
    """A half-open range rule (``key`` with ``lower``, ``upper``) to ``digits`` decimals,
    more where the bounds would read the same; an empty range when they are equal."""
    bounds = _bounds(lower, upper, lambda x, d: f"{x:.{d or digits}f}", range(digits + 1, 7))
    if bounds is None:
        return t("methods.rule_empty_range", lang, value=f"{lower:.{digits}f}")
    return t(key, lang, lower=bounds[0], upper=bounds[1])


def _rfm_scoring(p: dict, lang: str) -> str:
    edges = p.get("edges") or {}
    given = [(dim, e) for dim, e in edges.items() if e]
    if not given:
        return t("methods.rfm_scoring_quantile", lang)
    parts = [
        t(f"methods.rfm_edges_{dim}", lang, edges=" / ".join(fmt_num(x, 1) for x in e))
        for dim, e in given
    ]
    return t("methods.rfm_scoring_edges", lang, edges="; ".join(parts))


def _rfm(a, lang: str) -> tuple[list[str], list[str], list[str]]:
    p = a.tiering_params
    w = p["weights"]
    scoring = _rfm_scoring(p, lang)
    if p.get("tier_by") == "segment":
        text = [t("methods.method_rfm_segment", lang, bins=p["bins"], scoring=scoring)]
        mapping = p.get("segment_tiers") or {}
        rules = [
            tn(
                "methods.rule_segments",
                lang,
                len(mapping.get(lab, [])) or None,
                segments=_join([segment_name(s, lang) for s in mapping.get(lab, [])], lang)
                or t("methods.rule_empty", lang),
            )
            for lab in a.labels
        ]
    else:
        text = [
            t(
                "methods.method_rfm",
                lang,
                bins=p["bins"],
                scoring=scoring,
                wr=fmt_num(w["recency"]),
                wf=fmt_num(w["frequency"]),
                wm=fmt_num(w["monetary"]),
            )
        ]
        rules = [
            t("methods.rule_rfm_top", lang, lower=f"{r.lower:.2f}")
            if i == 0
            else _range_rule("methods.rule_rfm", r.lower, r.upper, lang, 2)
            for i, r in enumerate(a.thresholds.itertuples())
        ]
    return text, rules, [], [_rfm_segments(a, lang)]


def _rfm_segments(a, lang: str) -> str:
    p = a.tiering_params
    tiers = a.tiers
    if "segment" not in tiers:
        return ""
    classes = tier_css_classes(a.labels)
    cur = a.params.currency
    by_segment = p.get("tier_by") == "segment"
    tier_of = {s: lab for lab, segs in (p.get("segment_tiers") or {}).items() for s in segs}
    seg = tiers["segment"].astype(str)
    n = len(tiers)
    rows = []
    for s in RFM_SEGMENTS:
        members = tiers[seg == s]
        k = len(members)
        if by_segment:
            tier_cell = badge(tier_of[s], classes) if s in tier_of else "–"
        else:
            counts = members["tier"].value_counts(sort=False)
            tier_cell = (
                " ".join(
                    f"{badge(str(lab), classes)}&nbsp;{fmt_int(c)}"
                    for lab, c in counts.items()
                    if c
                )
                or "–"
            )
        rows.append(
            (
                esc(segment_name(s, lang)),
                esc(t(f"methods.segdesc_{s}", lang)),
                fmt_int(k),
                fmt_pct(k / n if n else 0.0),
                fmt_money(members["monetary"].median(), lang, cur) if k else "–",
                tier_cell,
            )
        )
    heads = [
        t("methods.col_segment", lang),
        t("methods.col_segment_desc", lang),
        t("report.col_customers", lang),
        t("methods.col_share", lang),
        t("methods.col_median_spend", lang),
        t("metrics.tier", lang) if by_segment else t("methods.col_tiers", lang),
    ]
    grid_heads = [t("methods.col_r", lang)] + [
        t("methods.col_fm", lang, score=i) for i in range(1, 6)
    ]
    grid_rows = [
        (str(r), *[segment_name(s, lang) for s in SEGMENT_GRID[r]]) for r in range(5, 0, -1)
    ]
    out = [
        f"<h3>{esc(t('methods.h_rfm_segments', lang))}</h3>",
        f"<p>{esc(t('methods.rfm_segments_lead', lang))}"
        + (
            f" {esc(t('methods.rfm_segments_rescaled', lang, bins=p['bins']))}"
            if p["bins"] != 5
            else ""
        )
        + "</p>",
        table(heads, rows, numeric=(2, 3, 4), raw=tuple(range(6))),
        table(grid_heads, grid_rows, caption=t("methods.h_rfm_grid", lang)),
    ]
    return "".join(out)


def _score(a, lang: str) -> tuple[list[str], list[str], list[str]]:
    p = a.tiering_params
    text = [t("methods.method_score", lang, normalize=t(f"methods.norm_{p['normalize']}", lang))]
    crit_rows = [
        (
            column_name(c["column"], lang),
            fmt_pct(c["weight_share"], digits=0),
            t(f"methods.direction_{c['direction']}", lang),
        )
        for c in p["criteria"]
    ]
    before = [
        table(
            [
                t("methods.col_criterion", lang),
                t("methods.col_weight", lang),
                t("methods.col_direction", lang),
            ],
            crit_rows,
            numeric=(1,),
        )
    ]
    th = a.thresholds
    k = len(th)
    if p.get("cut") == "thresholds":
        text.append(t("methods.method_score_thresholds", lang))
        rules = []
        for i, r in enumerate(th.itertuples()):
            if i == 0:
                rules.append(t("methods.rule_score_top", lang, lower=f"{r.lower:.3f}"))
            elif i == k - 1:
                rules.append(t("methods.rule_score_bottom", lang, upper=f"{r.upper:.3f}"))
            else:
                rules.append(_range_rule("methods.rule_score", r.lower, r.upper, lang, 3))
    else:
        shares = p["shares"]
        text.append(
            t(
                "methods.method_score_shares",
                lang,
                shares=" / ".join(f"{lab} {_pct(s)}" for lab, s in zip(a.labels, shares)),
            )
        )
        cum = np.concatenate([[0.0], np.cumsum(shares)])
        rules = []
        for lo, hi, r in zip(cum[:-1], cum[1:], th.itertuples()):
            ranks = _bounds(lo, min(hi, 1.0), _pct_digits) or (_pct(lo),) * 2
            fields = {"lower": ranks[0], "upper": ranks[1]}
            if pd.isna(r.lower) or pd.isna(r.upper):  # an empty tier: no scores
                rules.append(t("methods.rule_score_share_empty", lang, **fields))
                continue
            scores = _bounds(r.lower, r.upper, lambda x, d: fmt_num(x, d or 3), (4, 5, 6))
            if scores is None:  # every customer of the tier has the same score
                score = fmt_num(r.lower, 3)
                rules.append(t("methods.rule_score_share_all", lang, score=score, **fields))
            else:
                rules.append(
                    t("methods.rule_score_share", lang, smin=scores[0], smax=scores[1], **fields)
                )
    return text, rules, before, []


def _cluster(a, lang: str) -> tuple[list[str], list[str], list[str]]:
    p = a.tiering_params
    cur = a.params.currency
    feats = [column_name(f, lang, in_sentence=True) for f in p["features"]]
    scaling = t(
        "methods.cluster_scaling_log" if p.get("log") else "methods.cluster_scaling_plain", lang
    )
    text = [
        t(
            "methods.method_cluster",
            lang,
            k=p["k"],
            features=_join(feats, lang),
            scaling=scaling,
            value=column_name(p["value"], lang, in_sentence=True),
            seed=p["seed"],
        )
    ]
    sil = p.get("silhouette")
    sil_text = fmt_num(sil, 2) if sil is not None and not math.isnan(sil) else "–"
    extra = []
    if p.get("k_mode") == "auto":
        ks = [s["k"] for s in p["silhouette_by_k"]]
        text.append(
            t(
                "methods.method_cluster_auto"
                if min(ks) < max(ks)
                else "methods.method_cluster_auto_one",
                lang,
                lo=min(ks),
                hi=max(ks),
                k=p["k"],
                silhouette=sil_text,
            )
        )
        extra.append(
            table(
                [t("methods.col_k", lang), t("methods.col_silhouette", lang)],
                [
                    (s["k"], "–" if s["silhouette"] is None else fmt_num(s["silhouette"], 3))
                    for s in p["silhouette_by_k"]
                ],
                numeric=(0, 1),
            )
        )
    else:
        text.append(t("methods.method_cluster_silhouette", lang, k=p["k"], silhouette=sil_text))
    if p.get("silhouette_sample"):
        text.append(t("methods.cluster_silhouette_sample", lang, n=fmt_int(p["silhouette_sample"])))
    rules = [
        t(
            "methods.rule_cluster",
            lang,
            centre=" · ".join(
                f"{column_name(c, lang)} {_value(c, v, lang, cur)}" for c, v in centre.items()
            ),
        )
        for centre in p["centres"]
    ]
    return text, rules, [], extra


def _rules(a, lang: str) -> tuple[list[str], list[str], list[str]]:
    p = a.tiering_params
    classes = tier_css_classes(a.labels)
    text = [t("methods.method_rules", lang, default=p["default"])]
    rows = [
        (
            str(i),
            badge(c["tier"], classes),
            f"<code>{esc(c['when'])}</code>",
            fmt_int(c["customers"]),
        )
        for i, c in enumerate(p["conditions"], start=1)
    ]
    rows.append(
        (
            "–",
            badge(p["default"], classes),
            esc(t("methods.rule_otherwise", lang)),
            fmt_int(p["default_customers"]),
        )
    )
    before = [
        table(
            [
                t("methods.col_number", lang),
                t("metrics.tier", lang),
                t("methods.col_condition", lang),
                t("methods.col_matched", lang),
            ],
            rows,
            numeric=(3,),
            raw=(0, 1, 2, 3),
        )
    ]
    rules = []
    for lab in a.labels:
        numbers = [str(i) for i, c in enumerate(p["conditions"], start=1) if c["tier"] == lab]
        parts = (
            [tn("methods.rule_rules", lang, len(numbers), numbers=", ".join(numbers))]
            if numbers
            else []
        )
        if lab == p["default"]:
            parts.append(t("methods.rule_otherwise", lang))
        rules.append("; ".join(parts) or t("methods.rule_empty", lang))
    return text, rules, before, []


def _generic(a, lang: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """A method without an explanation of its own here: its lead sentence (the method's
    ``texts``) and each tier's definition as the method wrote it (``thresholds.rule``)."""
    p = a.tiering_params
    name = method_name(p["method"], lang)
    fields = {k: v for k, v in p.items() if isinstance(v, str | int | float)}
    lead = method_text(p["method"], "lead", lang, **fields) or t(
        "methods.method_generic", lang, name=name
    )
    return [lead], [str(r) for r in a.thresholds["rule"]], [], []


#: The explanation of each built-in method; other methods get :func:`_generic`.
_EXPLAIN = {"abc": _abc, "rfm": _rfm, "score": _score, "cluster": _cluster, "rules": _rules}


# --------------------------------------------------------------------------- comparison, stability


def _warning(code: str, fields: dict, lang: str) -> str:
    fields = dict(fields)
    if "column" in fields:
        fields["column"] = column_name(fields["column"], lang)
    count = fields.get("n") if code != "fewer_clusters" else None
    if isinstance(count, int | np.integer):
        fields["n"] = fmt_int(count)
    else:
        count = None
    return f'<div class="warning">{esc(tn("methods.warn_" + code, lang, count, **fields))}</div>'


def comparison_html(a, comparison, lang: str) -> str:
    """The method-comparison block: findings, agreement table and cross-tabulations."""
    classes = tier_css_classes(a.labels)
    main = method_short(comparison.method, lang)
    ag = comparison.agreement
    findings, rows = [], []
    for r in ag.itertuples():
        other = method_short(r.other_method, lang)
        kappa = r.weighted_kappa
        words = (
            t(f"methods.kappa_{r.kappa_magnitude}", lang)
            if r.kappa_magnitude
            else t("methods.kappa_undefined", lang)
        )
        findings.append(
            t(
                "methods.comparison_finding",
                lang,
                other=other,
                method=main,
                same=fmt_pct(r.exact_agreement),
                kappa=fmt_num(kappa, 2) if not math.isnan(kappa) else "–",
                magnitude=words,
            )
        )
        rows.append(
            (
                other,
                fmt_pct(r.exact_agreement),
                fmt_num(r.adjusted_rand, 2),
                fmt_num(kappa, 2) if not math.isnan(kappa) else "–",
                words,
            )
        )
    out = [
        f"<h3>{esc(t('methods.h_comparison', lang))}</h3>",
        f"<p>{esc(t('methods.comparison_lead', lang))}</p>",
        '<ul class="findings">' + "".join(f"<li>{esc(x)}</li>" for x in findings) + "</ul>",
        table(
            [
                t("methods.col_method", lang),
                t("methods.col_same_tier", lang),
                t("methods.col_ari", lang),
                t("methods.col_kappa", lang),
                t("methods.col_agreement", lang),
            ],
            rows,
            numeric=(1, 2, 3),
        ),
    ]
    for other, tab in comparison.crosstabs.items():
        other_labels = list(dict.fromkeys(tab["other_tier"]))
        other_classes = tier_css_classes(other_labels)
        heads = [main] + other_labels + [t("report.col_customers", lang)]
        body = []
        for lab in a.labels:
            part = tab[tab["tier"] == lab]
            cells = []
            for o in other_labels:
                n = int(part.loc[part["other_tier"] == o, "customers"].sum())
                cells.append(f"<strong>{fmt_int(n)}</strong>" if o == lab else fmt_int(n))
            body.append((badge(lab, classes), *cells, fmt_int(int(part["customers"].sum()))))
        head_html = [heads[0]] + other_labels + [heads[-1]]
        html_table = table(
            head_html,
            body,
            numeric=tuple(range(1, len(head_html))),
            raw=tuple(range(len(head_html))),
            caption=t(
                "methods.comparison_caption", lang, method=main, other=method_short(other, lang)
            ),
        )
        # header badges for the other method's tiers
        for o in other_labels:
            html_table = html_table.replace(
                f'<th class="num">{esc(o)}</th>',
                f'<th class="num">{badge(o, other_classes)}</th>',
                1,
            )
        out.append(html_table)
    return "".join(out)


def _range_cell(low: float, high: float) -> str:
    """A range of shares for a table cell: "80.0% – 95.0%", one value when both read the same."""
    lo, hi = fmt_pct(low), fmt_pct(high)
    return lo if lo == hi else f"{lo} – {hi}"


def stability_html(a, stab: pd.DataFrame | None, lang: str) -> str:
    """The stability block (a note when the method's cut-offs are fixed)."""
    out = [f"<h3>{esc(t('methods.h_stability', lang))}</h3>"]
    if stab is None:
        out.append(f'<div class="note">{esc(t("methods.stability_fixed", lang))}</div>')
        return "".join(out)
    classes = tier_css_classes(a.labels)
    attrs = stab.attrs or {}
    n_boot = attrs.get("n_boot")
    lead = tn(
        "methods.stability_lead",
        lang,
        n_boot if isinstance(n_boot, int | np.integer) else None,
        n_boot=fmt_int(n_boot) if isinstance(n_boot, int | np.integer) else "–",
    )
    out.append(f"<p>{esc(lead)}</p>")
    rows = []
    for r in stab.itertuples():
        if r.evaluated == 0:
            rows.append((badge(str(r.tier), classes), fmt_int(r.customers), "–", "–", "–", "–"))
            continue
        rows.append(
            (
                badge(str(r.tier), classes),
                fmt_int(r.customers),
                fmt_pct(r.unchanged_share),
                _range_cell(r.unchanged_low, r.unchanged_high),
                fmt_pct(r.moved_up_share),
                fmt_pct(r.moved_down_share),
            )
        )
    notes = []
    if "overall_unchanged" in attrs:
        notes.append(
            t("methods.stability_overall", lang, share=fmt_pct(attrs["overall_unchanged"]))
        )
    if attrs.get("subsampled"):
        notes.append(
            t(
                "methods.stability_subsample",
                lang,
                n=fmt_int(len(a.tiers)),
                m=fmt_int(attrs["customers_used"]),
            )
        )
    if attrs.get("method") == "cluster":
        notes.append(t("methods.stability_cluster", lang, k=a.tiering_params.get("k")))
    if notes:
        out.append(f"<p>{esc(' '.join(notes))}</p>")
    out.append(
        table(
            [
                t("metrics.tier", lang),
                t("report.col_customers", lang),
                t("methods.col_unchanged", lang),
                t("methods.col_range", lang),
                t("methods.col_moved_up", lang),
                t("methods.col_moved_down", lang),
            ],
            rows,
            numeric=(1, 2, 3, 4, 5),
            raw=(0,),
        )
    )
    for r in stab.itertuples():
        if r.evaluated and r.unchanged_share < UNSTABLE:
            out.append(
                f'<div class="warning">{esc(t("methods.stability_unstable", lang, tier=r.tier, share=fmt_pct(r.unchanged_share)))}</div>'
            )
    return "".join(out)


# --------------------------------------------------------------------------- the section


def section_method(a) -> str:
    """The "method and thresholds" section of the report (HTML)."""
    lang = a.params.language
    p = a.tiering_params
    classes = tier_css_classes(a.labels)
    # explanation paragraphs, one definition per tier, blocks before and after the tier table
    text, rules, before, after = _EXPLAIN.get(p["method"], _generic)(a, lang)
    s = a.tier_summary.set_index("tier")
    total = max(int(s["customers"].sum()), 1)
    rows = []
    for lab, rule in zip(a.thresholds["tier"], rules):
        n = int(s.loc[str(lab), "customers"]) if str(lab) in s.index else 0
        rows.append((badge(str(lab), classes), esc(rule), fmt_int(n), fmt_pct(n / total)))
    out = [
        heading("report.sec_method", lang, anchor="method"),
        f'<p class="lead">{esc(text[0])}</p>',
        *before,
        *(f"<p>{esc(x)}</p>" for x in text[1:]),
        table(
            [
                t("metrics.tier", lang),
                t("report.col_rule", lang),
                t("report.col_customers", lang),
                t("methods.col_share", lang),
            ],
            rows,
            numeric=(2, 3),
            raw=(0, 1),
        ),
    ]
    seen = set()
    for code, fields in a.warnings:
        key = (code, tuple(sorted((k, str(v)) for k, v in fields.items())))
        if key not in seen and has(f"methods.warn_{code}"):  # others' warnings: their sections
            seen.add(key)
            out.append(_warning(code, fields, lang))
    out += [x for x in after if x]
    if getattr(a, "method_comparison", None) is not None:
        out.append(comparison_html(a, a.method_comparison, lang))
    return "".join(out)


def appendix_stability(a) -> str:
    """The stability block for the appendix: the table, or a note when the method's
    cut-offs are fixed (nothing to resample); empty when it was not asked for."""
    stab = getattr(a, "stability", None)
    spec = a.params.tiering
    if stab is None and (spec.stability.n_boot <= 0 or is_data_driven(spec)):
        return ""
    return stability_html(a, stab, a.params.language)
