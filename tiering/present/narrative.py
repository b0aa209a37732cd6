"""The report's sections as HTML fragments, in English or Chinese.

Each ``section_*`` function takes an :class:`tiering.analysis.pipeline.Analysis` and returns
one HTML string for the notebook to display. Every value that comes from the data or
the parameters is escaped. Class names follow the report template's vocabulary
(``h2.section``, ``.kpis``, ``table.data``, ``.tier-badge``, ``figure.chart``,
``.note``, ``.warning``, ``.strategy-card``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tiering import __version__, locale
from tiering.analysis.pipeline import Analysis
from tiering.present import charts, css, stats
from tiering.present.ahead import shared
from tiering.present.htmlkit import (
    badge,
    esc,
    fmt_date,
    fmt_int,
    fmt_money,
    fmt_num,
    fmt_pct,
    heading,
    kpis,
    sampled_note,
    table,
)
from tiering.present.i18n import has, t, tn
from tiering.present.methods import method_name
from tiering.style import tier_css_classes

# The formatting and HTML helpers live in tiering.present.htmlkit (the sections import them
# from there); they are re-exported here for code that imported them from narrative.
_kpis = kpis


def _fig(fig, language: str, caption_key: str) -> str:
    caption = t(caption_key, language)
    return charts.figure_html(fig, alt=caption, caption=caption)


def _lang(a: Analysis) -> str:
    return a.params.language


# --------------------------------------------------------------------------- sections
# The method, statistics and strategy sections live with their modules
# (tiering.present.methods, tiering.present.stats, tiering.present.strategy); they are
# re-exported here so the notebook has one place to call.


@shared("method")
def section_method(a: Analysis) -> str:
    from tiering.present.methods import section_method as _section

    return _section(a)


@shared("stats")
def section_stats(a: Analysis) -> str:
    from tiering.present.stats import section_stats as _section

    return _section(a)


def section_strategy(a: Analysis) -> str:
    from tiering.present.strategy import section_strategy as _section

    return _section(a)


@shared("validation")
def section_validation(a: Analysis) -> str:
    """The holdout check (empty when switched off); a note when it could not run
    because a streaming engine left too many transactions on disk."""
    from tiering.present.holdout import section_holdout as _section

    return _after_heading(_section(a), _skipped_note(a, "holdout"))


def section_value(a: Analysis) -> str:
    """The forward-looking value model (empty when ``value.enabled`` is off)."""
    from tiering.present.value import section_value as _section

    return _section(a)


@shared("campaigns")
def section_campaigns(a: Analysis) -> str:
    """Do the tiers respond differently? Campaign response and uplift per tier (empty
    without ``data.campaigns``)."""
    from tiering.present.campaigns import section_campaigns as _section

    return _section(a)


@shared("migration")
def section_migration(a: Analysis) -> str:
    """Tier migration over the periods (empty when switched off)."""
    from tiering.present.migration import section_migration as _section

    return _after_heading(_section(a), _skipped_note(a, "migration"))


def _after_heading(html: str, note: str) -> str:
    if not html or not note:
        return html
    return html.replace("</h2>", "</h2>" + note, 1) if "</h2>" in html else note + html


def _skipped_note(a: Analysis, what: str) -> str:
    """A note when the analysis ran on a sample of customers (very large data)."""
    sample = a.source.get("transactions_sample")
    if not sample:
        return ""
    if what == "holdout" and not a.params.stats.holdout_months:
        return ""
    if what == "migration" and a.params.migration.period == "none":
        return ""
    return sampled_note(sample, _lang(a))


def section_summary(a: Analysis) -> str:
    lang, cur = _lang(a), a.params.currency
    s = a.tier_summary
    top = s.iloc[0]
    total_rev = float(s["revenue"].sum())
    end = pd.Timestamp(a.as_of) - pd.Timedelta(days=1)
    lead = t(
        "report.summary_lead",
        lang,
        customers=fmt_int(s["customers"].sum()),
        revenue=fmt_money(total_rev, lang, cur, compact=True),
        start=fmt_date(a.period_start, lang),
        end=fmt_date(end, lang),
        top_customers=fmt_int(top["customers"]),
        top_customer_share=fmt_pct(top["customer_share"]),
        top=top["tier"],
        top_revenue_share=fmt_pct(top["revenue_share"]),
    )
    kpis = _kpis(
        [
            (t("report.kpi_customers", lang), fmt_int(s["customers"].sum())),
            (t("report.kpi_revenue", lang), fmt_money(total_rev, lang, cur, compact=True)),
            (t("report.kpi_top_share", lang, tier=top["tier"]), fmt_pct(top["revenue_share"])),
            (t("report.kpi_top_customers", lang, tier=top["tier"]), fmt_pct(top["customer_share"])),
        ]
    )
    findings = _lead_findings(a)  # (priority, text): lower is kept first
    bottom = s.iloc[-1]
    if bottom["customers"] > 0:
        findings.append(
            (
                6,
                t(
                    "report.finding_bottom",
                    lang,
                    tier=bottom["tier"],
                    customer_share=fmt_pct(bottom["customer_share"]),
                    revenue_share=fmt_pct(bottom["revenue_share"]),
                ),
            )
        )
    else:  # no finding about a tier nobody is in: say it is empty, and why
        findings.append((6, t("report.finding_bottom_empty", lang, tier=bottom["tier"])))
    src = a.source
    gross = float(a.tiers["gross_revenue"].sum())
    unused = _unused_rows(a)
    if unused:
        findings.append((1, unused))
    if src.get("return_rows"):
        findings.append(
            (
                7,
                t(
                    "report.finding_returns",
                    lang,
                    value=fmt_money(src["return_value"], lang, cur, compact=True),
                    share=fmt_pct(src["return_value"] / gross if gross else 0),
                ),
            )
        )
    # at most MAX_FINDINGS, the most important kept, shown in reading order
    kept = sorted(sorted(range(len(findings)), key=lambda i: findings[i][0])[:MAX_FINDINGS])
    items = "".join(f"<li>{esc(findings[i][1])}</li>" for i in kept)
    return (
        heading("report.sec_summary", lang, anchor="summary")
        + f'<p class="lead">{esc(lead)}</p>'
        + kpis
        + f"<h3>{esc(t('report.summary_findings', lang))}</h3>"
        + f'<ul class="findings">{items}</ul>'
    )


#: Above this share of unused input rows the executive summary says so.
UNUSED_ROWS_SUMMARY = 0.10
#: The executive summary keeps to one page: at most this many findings. By priority:
#: many unused rows, the holdout check, differences the tiers were not built from, the
#: top tier's migration, the by-construction difference, the bottom tier, returns.
MAX_FINDINGS = 5


def _lead_findings(a: Analysis) -> list[tuple[int, str]]:
    """The summary's findings with their priorities (lower kept first), in reading
    order: what the data could have contradicted first (the holdout check, differences
    in measures the tiers are not built from, what became of the top tier over the
    latest period), then the difference the method makes by construction, as context."""
    from tiering.present.holdout import headline
    from tiering.present.i18n import listing
    from tiering.present.migration import headline as migration_headline

    lang = _lang(a)
    out: list[tuple[int, str]] = []
    forward = headline(a)
    if forward:
        out.append((2, forward))
    moved = migration_headline(a)
    from tiering.present.value import headline as value_headline

    ahead = value_headline(a)
    if ahead:
        out.append((4, ahead))
    n = 1 if forward or moved else 2
    basis = stats.basis_of(a)
    if basis is None:  # the method does not say what it is built from: the table's order
        out += [(3, x) for x in stats.describe_findings(a.comparison, language=lang, limit=n)[:n]]
        return out + ([(4, moved)] if moved else [])
    others = [m for m in dict.fromkeys(a.comparison.findings["metric"]) if m not in basis]
    if others:
        found = stats.describe_findings(a.comparison, language=lang, limit=n, metrics=others)
        out += [(3, x) for x in found[:n]]
    if moved:
        out.append((4, moved))
    built = stats.describe_findings(a.comparison, language=lang, limit=1, metrics=basis)[:1]
    if built:
        out.append(
            (
                5,
                t(
                    "report.finding_by_construction",
                    lang,
                    finding=built[0],
                    basis=listing(
                        [stats.metric_name(m, lang, mid_sentence=True) for m in basis], lang
                    ),
                ),
            )
        )
    return out


def _unused_rows(a: Analysis) -> str | None:
    """One sentence when more than :data:`UNUSED_ROWS_SUMMARY` of the input rows could
    not be used (with the commonest reason); None otherwise."""
    src = a.source
    read, rejected = src.get("rows_read") or 0, src.get("rows_rejected") or 0
    if not read or rejected / read <= UNUSED_ROWS_SUMMARY or a.quality.empty:
        return None
    lang = _lang(a)
    first = a.quality.sort_values("rows", ascending=False, kind="stable").iloc[0]
    return t(
        "report.finding_rejected",
        lang,
        rows=fmt_int(rejected),
        total=fmt_int(read),
        share=fmt_pct(rejected / read),
        reason=locale.get(lang).in_sentence(t(f"reasons.reason_{first['reason']}", lang)),
        reason_rows=fmt_int(first["rows"]),
    )


@shared("data")
def section_data(a: Analysis) -> str:
    lang = _lang(a)
    src = a.source
    read = src["rows_read"]
    end = pd.Timestamp(a.as_of) - pd.Timedelta(days=1)
    dup_note = t(
        "report.data_duplicates_rejected"
        if a.params.data.duplicate_rows == "reject"
        else "report.data_duplicates_kept",
        lang,
    )
    facts = [
        (t("report.data_file", lang), _file_name(src)),
        (t("report.data_rows_read", lang), fmt_int(read)),
        (
            t("report.data_rows_used", lang),
            f"{fmt_int(src['rows_used'])} ({fmt_pct(src['rows_used'] / read)})",
        ),
        (
            t("report.data_rows_rejected", lang),
            f"{fmt_int(src['rows_rejected'])} ({fmt_pct(src['rows_rejected'] / read)})",
        ),
        (t("report.data_returns", lang), fmt_int(src.get("return_rows", 0))),
        (
            t("report.data_duplicates", lang),
            _duplicates(src.get("duplicate_rows", 0), dup_note, lang),
        ),
        (t("report.data_customers", lang), _customers_fact(a)),
        (
            t("report.data_period", lang),
            f"{fmt_date(a.period_start, lang)} – {fmt_date(end, lang)}",
        ),
        (t("report.data_as_of", lang), fmt_date(a.as_of, lang)),
    ]
    out = [
        heading("report.sec_data", lang, anchor="data"),
        f'<p class="lead">{esc(t("report.data_lead", lang))}</p>',
        table([t("report.col_item", lang), t("report.col_value", lang)], facts, numeric=(1,)),
    ]
    untiered = _untiered_sentence(a)
    if untiered:
        out.append(f'<p class="note">{esc(untiered)}</p>')
    from tiering.present.campaigns import data_sentences, sentences

    files = data_sentences(a)  # the customer master and the campaign file, when given
    if files:
        out.append(f"<p>{esc(sentences(files))}</p>")
    out.append(f"<h3>{esc(t('report.data_reasons', lang))}</h3>")
    if a.quality.empty:
        out.append(f"<p>{esc(t('report.data_no_rejects', lang))}</p>")
    else:
        rows = [
            (
                t(f"reasons.reason_{r.reason}", lang),
                t(f"report.cat_{r.category}", lang),
                fmt_int(r.rows),
                fmt_pct(r.rows / read),
            )
            for r in a.quality.itertuples()
        ]
        out.append(
            table(
                [
                    t("report.col_reason", lang),
                    t("report.col_category", lang),
                    t("report.col_rows", lang),
                    t("report.col_share", lang),
                ],
                rows,
                numeric=(2, 3),
            )
        )
    return "".join(out)


def _untiered(a: Analysis) -> dict | None:
    found = a.source.get("untiered_customers")
    return found if found and found.get("customers") else None


def _customers_fact(a: Analysis) -> str:
    found = _untiered(a)
    if not found:
        return fmt_int(len(a.tiers))
    return t(
        "report.data_customers_of",
        _lang(a),
        tiered=fmt_int(len(a.tiers)),
        ids=fmt_int(found["ids_in_file"]),
    )


def _untiered_sentence(a: Analysis) -> str | None:
    """How many customers of the file are not tiered, and why (None when all are)."""
    found = _untiered(a)
    if not found:
        return None
    lang = _lang(a)
    return tn(
        "report.data_untiered",
        lang,
        found["customers"],
        n=fmt_int(found["customers"]),
        ids=fmt_int(found["ids_in_file"]),
        tiered=fmt_int(len(a.tiers)),
        reason=locale.get(lang).in_sentence(t(f"reasons.reason_{found['reason']}", lang)),
    )


def _duplicates(n, note: str, lang: str) -> str:
    if n is None:  # a streaming engine with engine.duplicates: skip
        return t("report.data_duplicates_not_counted", lang)
    return f"{fmt_int(n)} – {note}"


def _file_name(src: dict) -> str:
    from pathlib import Path

    name = Path(src["path"]).name
    return f"{name} ({src['sheet']})" if src.get("sheet") else name


#: The columns of the tier profile table after the tier (headers ``report.col_<name>``);
#: the slide deck's tier table shows the same.
TIER_TABLE_COLUMNS = (
    "customers",
    "customer_share",
    "revenue",
    "revenue_share",
    "monetary_median",
    "frequency_median",
    "recency_median",
)


@shared("profiles")
def section_profiles(a: Analysis) -> str:
    lang, cur = _lang(a), a.params.currency
    classes = tier_css_classes(a.labels)
    s = a.tier_summary
    rows = [
        (
            badge(str(r.tier), classes),
            fmt_int(r.customers),
            fmt_pct(r.customer_share),
            fmt_money(r.revenue, lang, cur),
            fmt_pct(r.revenue_share),
            fmt_money(r.monetary_median, lang, cur),
            fmt_num(r.frequency_median),
            fmt_num(r.recency_median),
        )
        for r in s.itertuples()
    ]
    heads = [t("metrics.tier", lang)] + [t(f"report.col_{c}", lang) for c in TIER_TABLE_COLUMNS]
    tiered = a.tiers
    cutoffs = tuple(a.tiering_params.get("cutoffs", ())) or None
    pareto_kw = {"cutoffs": cutoffs} if cutoffs else {"cutoffs": ()}
    brand = css.palette_of(a)
    return "".join(
        [
            heading("report.sec_profiles", lang, anchor="profiles"),
            f'<p class="lead">{esc(t("report.profiles_lead", lang))}</p>',
            table(heads, rows, numeric=tuple(range(1, 8)), raw=(0,)),
            _fig(
                charts.tier_overview(s, language=lang, currency=cur, brand=brand).get_figure(),
                lang,
                "report.cap_overview",
            ),
            _fig(
                charts.pareto_curve(tiered, language=lang, brand=brand, **pareto_kw).get_figure(),
                lang,
                "report.cap_pareto",
            ),
            _fig(
                charts.metric_distributions(tiered, language=lang, currency=cur, brand=brand),
                lang,
                "report.cap_distributions",
            ),
            _fig(
                charts.recency_frequency_map(
                    tiered, language=lang, currency=cur, brand=brand
                ).get_figure(),
                lang,
                "report.cap_rf",
            ),
            stats.master_profile_html(a),  # the customer master per tier, when given
            _top_customers(a, classes),
        ]
    )


TOP_CUSTOMERS = 10


def _top_customers(a: Analysis, classes: dict[str, str]) -> str:
    """The largest customers by net spend: who the top tier is, by name."""
    lang, cur = _lang(a), a.params.currency
    tiers = a.tiers
    if tiers.empty:
        return ""
    top = tiers.nlargest(TOP_CUSTOMERS, "monetary", keep="first")
    total = float(tiers["monetary"].clip(lower=0).sum())
    has_name = "customer_name" in tiers.columns
    rows = []
    for i, r in enumerate(top.itertuples(), start=1):
        who = str(r.customer_id)
        name = getattr(r, "customer_name", None) if has_name else None
        if isinstance(name, str) and name.strip():
            who += " · " + name
        rows.append(
            (
                str(i),
                esc(who),
                badge(str(r.tier), classes),
                fmt_money(r.monetary, lang, cur),
                fmt_pct(r.monetary / total if total else 0),
                fmt_int(r.frequency),
                fmt_num(r.recency_days),
            )
        )
    share = float(top["monetary"].clip(lower=0).sum()) / total if total else 0.0
    heads = [
        "#",
        t("report.col_customer", lang),
        t("metrics.tier", lang),
        t("report.col_net_spend", lang),
        t("report.col_revenue_share", lang),
        t("report.col_orders", lang),
        t("report.col_recency", lang),
    ]
    return (
        f"<h3>{esc(t('report.h_top_customers', lang, n=len(top)))}</h3>"
        f"<p>{esc(t('report.top_customers_lead', lang, n=len(top), share=fmt_pct(share)))}</p>"
        + table(heads, rows, numeric=(0, 3, 4, 5, 6), raw=(1, 2))
    )


def notebook_style() -> str:
    """The report's section styles for the notebook's outputs in JupyterLab (the HTML
    report and the PDF carry the full stylesheet; this cell is removed from them)."""
    return css.notebook_css()


def section_appendix(a: Analysis) -> str:
    lang = _lang(a)
    src = a.source
    enc = src.get("encoding") or "–"
    delim = {",": ",", ";": ";", "\t": t("report.prov_delimiter_tab", lang), "|": "|"}.get(
        src.get("delimiter", ""), "–"
    )
    sep = locale.get(lang).comma
    cols = sep.join(
        f"{_role(role, lang)} = {name}" for role, name in src.get("columns", {}).items()
    )
    if src.get("attributes"):
        cols += sep + t("report.role_attributes", lang) + " = " + sep.join(src["attributes"])
    method = method_name(a.tiering_params["method"], lang)
    rows = [
        (t("report.data_file", lang), _file_name(src)),
        (t("report.prov_sha", lang), src["sha256"]),
        (t("report.prov_encoding", lang), f"{enc} / {delim}"),
        (t("report.prov_columns", lang), cols),
        (t("report.prov_method", lang), method),
        (t("report.prov_version", lang), __version__),
    ]
    return "".join(
        [
            heading("report.sec_appendix", lang, anchor="appendix", appendix=True),
            f"<h3>{esc(t('report.appendix_method', lang))}</h3>",
            f"<p>{esc(t('report.appendix_conventions', lang, alpha=a.params.stats.alpha))}</p>",
            _appendix_stability(a),
            f"<h3>{esc(t('report.appendix_provenance', lang))}</h3>",
            table([t("report.col_item", lang), t("report.col_value", lang)], rows),
            f"<h3>{esc(t('report.prov_outputs', lang))}</h3>",
            table(
                [t("report.col_file", lang), t("report.col_content", lang)],
                [
                    (f"<code>{esc(name)}</code>", esc(t(_file_key(key), lang)))
                    for name, key in _output_files(a)
                ],
                raw=(0, 1),
            ),
        ]
    )


def _file_key(key: str) -> str:
    """The catalogue key of a file's description: ``report.file_<key>``, or ``key``
    itself when it names its catalogue (``value.file_value``)."""
    return key if "." in key else f"report.file_{key}"


def _role(role: str, lang: str) -> str:
    key = f"report.role_{role}"
    return t(key, lang) if has(key) else role


def _output_files(a: Analysis) -> list[tuple[str, str]]:
    """The files a report folder holds for this analysis: (name, text key suffix)."""
    formats = a.params.output.formats
    files = [(f"report.{f}", f) for f in ("pdf", "html", "pptx") if f in formats]
    files += [
        ("report.ipynb", "ipynb"),
        ("tiers.csv", "tiers"),
        ("tier_summary.csv", "tier_summary"),
        ("comparisons.csv", "comparisons"),
        ("rejected_rows.csv", "rejected"),
        ("data_quality.csv", "data_quality"),
        ("strategies.csv", "strategies"),
    ]
    if a.recommendations is not None:
        files += [
            ("action_lists.xlsx", "action_xlsx"),
            ("action_lists.csv", "action_csv"),
            ("budget.csv", "budget"),
            ("triggers.csv", "triggers"),
        ]
    if a.method_comparison is not None:
        files += [
            ("method_agreement.csv", "method_agreement"),
            ("method_assignments.csv", "method_assignments"),
        ]
    if a.stability is not None:
        files.append(("stability.csv", "stability"))
    if a.holdout is not None and a.holdout.available:
        files += [("validation.csv", "validation"), ("validation_tests.csv", "validation_tests")]
    value = getattr(a, "value", None)
    if value is not None and value.available:
        files.append(("value.csv", "value.file_value"))
    if getattr(a, "campaigns", None) is not None:
        files.append(("campaigns.csv", "campaigns.file_campaigns"))
    if a.migration is not None:
        files += [
            ("migration.csv", "migration"),
            ("migration_rates.csv", "migration_rates"),
            ("migration_sizes.csv", "migration_sizes"),
            ("movers.csv", "movers"),
        ]
        if a.migration.previous is not None:
            files += [
                ("previous_comparison.csv", "previous_comparison"),
                ("previous_transitions.csv", "previous_transitions"),
            ]
    files.append(("manifest.json", "manifest"))
    return files


def _appendix_stability(a: Analysis) -> str:
    from tiering.present.methods import appendix_stability

    return appendix_stability(a)


def _subtitle(method: str, lang: str) -> str:
    from tiering.present.methods import method_subtitle

    return method_subtitle(method, lang)


def report_metadata(a: Analysis, *, generated: dt.date | None = None) -> dict:
    """Cover-page metadata for the template (``nb.metadata['tiering']``)."""
    lang = _lang(a)
    end = pd.Timestamp(a.as_of) - pd.Timedelta(days=1)
    return {
        "title": a.params.title or t("report.title", lang),
        "client": a.params.client,
        "subtitle": _subtitle(a.tiering_params["method"], lang),
        "consultant": a.params.consultant,
        "period": f"{fmt_date(a.period_start, lang)} – {fmt_date(end, lang)}",
        "as_of": fmt_date(a.as_of, lang),
        "generated": fmt_date(generated or a.as_of, lang),
        "language": lang,
    }
