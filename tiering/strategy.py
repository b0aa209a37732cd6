"""What to do for each tier: the playbook, tier roles, strategy tables and cards.

The playbook (``tiering/playbook/default.yaml``) describes what each tier gets, in
English and Chinese. Tiers are addressed by ROLE because every client names its own
2-7 tiers (see :func:`tier_roles`):

========  ==========================================================
role      which tier
========  ==========================================================
top       the 1st (best) tier
upper     the 2nd tier, only when there are 4 or more tiers
middle    every other tier between the first and the last
bottom    the last tier
========  ==========================================================

Each role has the fields ``goal``, ``service_level``, ``contact_cadence`` (texts) and
``actions``, ``channels``, ``offers``, ``kpis`` (lists of texts). The ``dormant``
section is not a tier: it is the win-back plan for dormant and at-risk customers of
any tier, shown as a note (:func:`dormant_strategy`, :func:`dormant_note_html`).

A client playbook is deep-merged over the default (:func:`load_playbook`): give only
what changes. A text is ``{en: ..., zh: ...}``; giving one language keeps the default
for the other, and a plain string is used for both languages. Lists are replaced as a
whole. After loading, every text is a ``{"en": str, "zh": str}`` mapping.
"""

from __future__ import annotations

import copy
import html
import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from .errors import TieringError, closest, require
from .i18n import LANGUAGES, t
from .style import tier_css_classes

__all__ = [
    "ROLES",
    "TEXT_FIELDS",
    "LIST_FIELDS",
    "STRATEGY_COLUMNS",
    "DEFAULT_PLAYBOOK",
    "load_playbook",
    "tier_roles",
    "tier_strategies",
    "strategy_cards_html",
    "dormant_strategy",
    "dormant_note_html",
]

ROLES: tuple[str, ...] = ("top", "upper", "middle", "bottom")
TEXT_FIELDS: tuple[str, ...] = ("goal", "service_level", "contact_cadence")
LIST_FIELDS: tuple[str, ...] = ("actions", "channels", "offers", "kpis")
ROLE_FIELDS: tuple[str, ...] = ("goal", "service_level", "actions", "channels",
                                "contact_cadence", "offers", "kpis")
DORMANT_TEXT_FIELDS: tuple[str, ...] = ("name", "goal", "trigger", "note")
DORMANT_LIST_FIELDS: tuple[str, ...] = ("actions", "kpis")

#: Columns of :func:`tier_strategies`, in order.
STRATEGY_COLUMNS: tuple[str, ...] = ("tier", "tier_rank", "role", *ROLE_FIELDS, "headline")

_SUMMARY_COLUMNS: tuple[str, ...] = ("tier", "tier_rank", "customers", "customer_share",
                                     "revenue_share", "monetary_median", "recency_median")

DEFAULT_PLAYBOOK: Path = Path(__file__).resolve().parent / "playbook" / "default.yaml"

_SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **{role: (TEXT_FIELDS, LIST_FIELDS) for role in ROLES},
    "dormant": (DORMANT_TEXT_FIELDS, DORMANT_LIST_FIELDS),
}
# Card sections after the headline: (field, is_list)
_CARD_FIELDS: tuple[tuple[str, bool], ...] = (
    ("service_level", False), ("actions", True), ("channels", True),
    ("contact_cadence", False), ("offers", True), ("kpis", True),
)
_HTML_LANG = {"en": "en", "zh": "zh-CN"}


# ---------------------------------------------------------------------------------
# Loading and validating playbooks


def _read_yaml(path: Path) -> object:
    require(path.is_file(), f"Playbook file not found: {path}", where=str(path),
            hint="check the path of the playbook file in the parameters")
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except UnicodeDecodeError as exc:
        raise TieringError(f"Playbook file is not UTF-8 text: {exc}", where=str(path),
                           hint="save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise TieringError(f"Playbook file is not valid YAML: {exc}", where=where,
                           hint="fix the YAML syntax (indentation, quotes, colons)") from None


def _check_text(value: object, key: str, problems: list[str], *, complete: bool) -> None:
    if isinstance(value, str):
        if not value.strip():
            problems.append(f"{key}: empty text")
        return
    if not isinstance(value, Mapping):
        problems.append(f"{key}: expected a text or {{en: ..., zh: ...}}, "
                        f"got {type(value).__name__}")
        return
    for lang, text in value.items():
        if lang not in LANGUAGES:
            problems.append(f"{key}.{lang}: unknown language (use {', '.join(LANGUAGES)})")
        elif not isinstance(text, str) or not text.strip():
            problems.append(f"{key}.{lang}: expected non-empty text")
    if complete:
        for lang in LANGUAGES:
            if lang not in value:
                problems.append(f"{key}: missing the {lang!r} text")
    elif not value:
        problems.append(f"{key}: give the text in at least one of {', '.join(LANGUAGES)}")


def _check_playbook(raw: object, problems: list[str], *, complete: bool) -> None:
    """Collect every problem of a raw playbook mapping into ``problems``.

    ``complete`` requires every section, every field and both languages (the merged
    playbook); otherwise only the given parts are checked (a client override).
    """
    if not isinstance(raw, Mapping):
        problems.append(f"the playbook must be a mapping of sections "
                        f"({', '.join(_SECTIONS)}), got {type(raw).__name__}")
        return
    for section, body in raw.items():
        if section not in _SECTIONS:
            guess = closest(str(section), _SECTIONS)
            problems.append(f"{section}: unknown role or section (known: {', '.join(_SECTIONS)})"
                            + (f"; did you mean {guess!r}?" if guess else ""))
            continue
        if not isinstance(body, Mapping):
            problems.append(f"{section}: expected a mapping of fields, got {type(body).__name__}")
            continue
        text_fields, list_fields = _SECTIONS[section]
        for field, value in body.items():
            key = f"{section}.{field}"
            if field in text_fields:
                _check_text(value, key, problems, complete=complete)
            elif field in list_fields:
                if not isinstance(value, list) or not value:
                    problems.append(f"{key}: expected a non-empty list of texts")
                    continue
                for i, item in enumerate(value):
                    _check_text(item, f"{key}[{i}]", problems, complete=complete)
            else:
                known = text_fields + list_fields
                guess = closest(str(field), known)
                problems.append(f"{key}: unknown field (known: {', '.join(known)})"
                                + (f"; did you mean {guess!r}?" if guess else ""))
        if complete:
            problems.extend(f"{section}.{field}: missing" for field in text_fields + list_fields
                            if field not in body)
    if complete:
        problems.extend(f"{section}: missing" for section in _SECTIONS if section not in raw)


def _raise_problems(problems: list[str], source: str) -> None:
    if problems:
        n = len(problems)
        lines = [f"Invalid playbook ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  - {p}" for p in problems]
        raise TieringError("\n".join(lines), where=source,
                           hint="see tiering/playbook/default.yaml for the sections and fields")


def _merge(base: dict, override: Mapping) -> dict:
    """Deep-merge ``override`` into a copy of ``base``: mappings merge, the rest replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _text_pair(value: str | Mapping) -> dict[str, str]:
    """Normalise a text to ``{"en": ..., "zh": ...}`` (a missing language uses the other)."""
    if isinstance(value, str):
        return {lang: value.strip() for lang in LANGUAGES}
    given = [value[lang] for lang in LANGUAGES if lang in value]
    return {lang: str(value.get(lang, given[0])).strip() for lang in LANGUAGES}


def _normalise(raw: Mapping) -> dict:
    out: dict = {}
    for section, (text_fields, list_fields) in _SECTIONS.items():
        body = raw[section]
        out[section] = {f: _text_pair(body[f]) for f in text_fields}
        out[section].update({f: [_text_pair(item) for item in body[f]] for f in list_fields})
    return out


@lru_cache(maxsize=1)
def _default_raw() -> dict:
    raw = _read_yaml(DEFAULT_PLAYBOOK)
    problems: list[str] = []
    _check_playbook(raw, problems, complete=True)
    _raise_problems(problems, str(DEFAULT_PLAYBOOK))
    return raw


def load_playbook(path: str | Path | None = None) -> dict:
    """The default playbook, with the client playbook at ``path`` deep-merged over it.

    Returns ``{section: {field: text | [text, ...]}}`` for the sections ``top``,
    ``upper``, ``middle``, ``bottom`` and ``dormant``, where each text is
    ``{"en": str, "zh": str}``. The client file is read with YAML's safe loader; an
    unknown section, field or language, or a wrongly shaped value, raises
    :class:`~tiering.errors.TieringError` naming the file and every offending key.
    """
    merged = copy.deepcopy(_default_raw())
    if path is not None:
        path = Path(path)
        raw = _read_yaml(path)
        if raw is not None:  # an empty file changes nothing
            problems: list[str] = []
            _check_playbook(raw, problems, complete=False)
            _raise_problems(problems, str(path))
            merged = _merge(merged, raw)
    return _normalise(merged)


def _playbook_or_default(playbook: Mapping | None) -> dict:
    if playbook is None:
        return load_playbook()
    problems: list[str] = []
    _check_playbook(playbook, problems, complete=True)
    _raise_problems(problems, "playbook passed in the 'playbook' argument")
    return _normalise(playbook)


def _check_language(language: str) -> None:
    require(language in LANGUAGES, f"Unknown language {language!r}",
            where="language", hint=f"use one of {', '.join(LANGUAGES)}")


# ---------------------------------------------------------------------------------
# Roles and strategies


def tier_roles(labels: Sequence[str]) -> dict[str, str]:
    """Map ordered tier labels (best first) to their playbook role.

    The 1st tier is ``top`` and the last ``bottom``; with 4 or more tiers the 2nd is
    ``upper``; all others are ``middle``. Two tiers: top, bottom. The result keeps the
    order of ``labels``.
    """
    require(not isinstance(labels, str), "Tier labels must be a list of labels, not one string",
            where="tier labels", hint="pass e.g. ['A', 'B', 'C']")
    labels = [str(label) for label in labels]
    n = len(labels)
    require(n >= 2, f"At least 2 tiers are needed to assign roles, got {n}: {labels}",
            where="tier labels", hint="define 2 to 7 tiers")
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    require(not dupes, f"Tier labels must be unique; repeated: {', '.join(dupes)}",
            where="tier labels", hint="give every tier its own label")
    roles = {}
    for i, label in enumerate(labels):
        if i == 0:
            roles[label] = "top"
        elif i == n - 1:
            roles[label] = "bottom"
        elif i == 1 and n >= 4:
            roles[label] = "upper"
        else:
            roles[label] = "middle"
    return roles


def _is_missing(value: object) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt_share(value: object, language: str) -> str:
    if _is_missing(value):
        return t("strategy.not_available", language)
    pct = float(value) * 100
    if 0 < pct < 0.05:
        return "<0.1%"
    return f"{pct:.1f}%"


def _fmt_money(value: object, currency: str, language: str) -> str:
    if _is_missing(value):
        return t("strategy.not_available", language)
    amount = float(value)
    if not math.isfinite(amount):
        return t("strategy.not_available", language)
    decimals = 0 if abs(amount) >= 100 or amount == int(amount) else 2
    # half-up, as people round money (Python's format rounds 1234.5 to 1,234)
    exact = Decimal(repr(abs(amount)))
    shown = exact.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    if shown >= 100 and decimals:  # 99.995 rounds up to a whole amount
        decimals, shown = 0, exact.quantize(Decimal(1), ROUND_HALF_UP)
    sign = "-" if amount < 0 and shown > 0 else ""
    return f"{sign}{currency}{shown:,.{decimals}f}"


def _fmt_days(value: object, language: str) -> str:
    if _is_missing(value):
        return t("strategy.not_available", language)
    days = float(value)
    if not math.isfinite(days):
        return t("strategy.not_available", language)
    n = f"{days:,.0f}" if days == round(days) else f"{days:,.1f}"
    return t("strategy.day_one" if days == 1 else "strategy.days", language, n=n)


def _headline(row: Mapping, *, language: str, currency: str) -> str:
    customers = row["customers"]
    count = 0 if _is_missing(customers) else int(customers)
    if count == 0:
        return t("strategy.headline_empty", language)
    return t("strategy.headline_one" if count == 1 else "strategy.headline", language,
             customers=f"{count:,}",
             customer_share=_fmt_share(row["customer_share"], language),
             revenue_share=_fmt_share(row["revenue_share"], language),
             monetary=_fmt_money(row["monetary_median"], currency, language),
             recency=_fmt_days(row["recency_median"], language))


def tier_strategies(tier_summary: pd.DataFrame, *, language: str, playbook: dict | None = None,
                    currency: str = "¥") -> pd.DataFrame:
    """One strategy row per tier, best tier first, in ``language``.

    ``tier_summary`` has one row per tier with at least the columns ``tier``,
    ``tier_rank`` (1 = best), ``customers``, ``customer_share`` (0-1),
    ``revenue_share`` (0-1), ``monetary_median`` and ``recency_median`` (days).
    ``playbook`` is the result of :func:`load_playbook` (default: the built-in one).

    Returns columns:

    - ``tier`` (str), ``tier_rank`` (int), ``role`` (top / upper / middle / bottom)
    - ``goal``, ``service_level``, ``contact_cadence``: text
    - ``actions``, ``channels``, ``offers``, ``kpis``: Python lists of text
    - ``headline``: one sentence with the tier's numbers (display-rounded), e.g.
      "312 customers (10.4%) bring 71.2% of revenue; median net spend ¥8,420, last
      purchase a median 23 days ago."
    """
    _check_language(language)
    require(isinstance(tier_summary, pd.DataFrame), "tier_summary must be a pandas DataFrame",
            where="tier_strategies(tier_summary)")
    missing = [c for c in _SUMMARY_COLUMNS if c not in tier_summary.columns]
    require(not missing, f"tier_summary lacks the column(s): {', '.join(missing)}",
            where="tier_strategies(tier_summary)",
            hint="pass the tier summary table (one row per tier)")
    require(len(tier_summary) >= 2, f"tier_summary needs at least 2 tiers, has {len(tier_summary)}",
            where="tier_strategies(tier_summary)")
    require(not tier_summary["tier_rank"].isna().any() and tier_summary["tier_rank"].is_unique,
            "tier_rank must be set and unique (1 = best tier)",
            where="tier_strategies(tier_summary['tier_rank'])")
    book = _playbook_or_default(playbook)

    ordered = tier_summary.sort_values("tier_rank", kind="stable")
    roles = tier_roles([str(label) for label in ordered["tier"]])
    rows = []
    for rec in ordered.to_dict("records"):
        label = str(rec["tier"])
        role = roles[label]
        plan = book[role]
        row: dict = {"tier": label, "tier_rank": int(rec["tier_rank"]), "role": role}
        for field in ROLE_FIELDS:
            value = plan[field]
            row[field] = ([item[language] for item in value] if field in LIST_FIELDS
                          else value[language])
        row["headline"] = _headline(rec, language=language, currency=currency)
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(STRATEGY_COLUMNS))
    out["tier_rank"] = out["tier_rank"].astype("int64")
    return out


def dormant_strategy(*, language: str, playbook: dict | None = None) -> dict:
    """The win-back plan for dormant and at-risk customers, in ``language``.

    Keys ``name``, ``goal``, ``trigger``, ``note`` (text) and ``actions``, ``kpis``
    (lists of text).
    """
    _check_language(language)
    plan = _playbook_or_default(playbook)["dormant"]
    out: dict = {f: plan[f][language] for f in DORMANT_TEXT_FIELDS}
    out.update({f: [item[language] for item in plan[f]] for f in DORMANT_LIST_FIELDS})
    return out


# ---------------------------------------------------------------------------------
# HTML


def _as_list(value: object) -> list[str]:
    if _is_missing(value):
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _ul(items: Sequence[str], css: str) -> str:
    lis = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f'<ul class="{css}">{lis}</ul>'


def _rank_class(value: object) -> str:
    rank = float(value)
    require(math.isfinite(rank) and rank == int(rank) and rank >= 1,
            f"tier_rank must be a positive whole number, got {value!r}",
            where="strategy_cards_html(strategies['tier_rank'])")
    return f"tier-{int(rank)}"


def strategy_cards_html(strategies: pd.DataFrame, *, language: str) -> str:
    """HTML for the report: one ``<div class="strategy-card tier-N">`` per tier.

    ``strategies`` is the table of :func:`tier_strategies`. Each card has an ``<h3>``
    with the tier badge (``<span class="tier-badge tier-N">``) and the goal, a
    ``<p class="card-headline">`` and a ``<dl class="card-details">`` with service
    level, actions, channels, contact cadence, offers and KPIs. All text is
    HTML-escaped; styling is left to the report CSS (no inline styles).
    """
    _check_language(language)
    needed = ["tier", "tier_rank", "goal", "headline", *(f for f, _ in _CARD_FIELDS)]
    missing = [c for c in needed if c not in strategies.columns]
    require(not missing, f"strategies lacks the column(s): {', '.join(missing)}",
            where="strategy_cards_html(strategies)", hint="pass the result of tier_strategies()")
    cards = []
    records = strategies.sort_values("tier_rank", kind="stable").to_dict("records")
    for rec in records:
        _rank_class(rec["tier_rank"])
    colour_class = tier_css_classes([str(r["tier"]) for r in records])
    for rec in records:
        rank = colour_class[str(rec["tier"])]
        parts = [
            f'<div class="strategy-card {rank}">',
            f'<h3><span class="tier-badge {rank}">{html.escape(str(rec["tier"]))}</span> '
            f'<span class="card-goal">{html.escape(str(rec["goal"]))}</span></h3>',
            f'<p class="card-headline">{html.escape(str(rec["headline"]))}</p>',
            '<dl class="card-details">',
        ]
        for field, is_list in _CARD_FIELDS:
            label = html.escape(t(f"strategy.{field}", language))
            if is_list:
                body = _ul(_as_list(rec[field]), f"card-list {field.replace('_', '-')}")
            else:
                body = html.escape("" if _is_missing(rec[field]) else str(rec[field]))
            parts.append(f'<dt>{label}</dt><dd class="{field.replace("_", "-")}">{body}</dd>')
        parts += ["</dl>", "</div>"]
        cards.append("\n".join(parts))
    return (f'<div class="strategy-cards" lang="{_HTML_LANG[language]}">\n'
            + "\n".join(cards) + "\n</div>")


def dormant_note_html(*, language: str, playbook: dict | None = None) -> str:
    """HTML note on dormant and at-risk customers: ``<div class="strategy-note dormant">``."""
    plan = dormant_strategy(language=language, playbook=playbook)
    esc = html.escape
    return "\n".join([
        f'<div class="strategy-note dormant" lang="{_HTML_LANG[language]}">',
        f'<h3>{esc(plan["name"])}{esc(t("strategy.title_separator", language))}'
        f'<span class="card-goal">{esc(plan["goal"])}</span></h3>',
        f'<p class="card-headline">{esc(plan["note"])}</p>',
        '<dl class="card-details">',
        f'<dt>{esc(t("strategy.dormant_trigger", language))}</dt>'
        f'<dd class="trigger">{esc(plan["trigger"])}</dd>',
        f'<dt>{esc(t("strategy.dormant_actions", language))}</dt>'
        f'<dd class="actions">{_ul(plan["actions"], "card-list actions")}</dd>',
        f'<dt>{esc(t("strategy.kpis", language))}</dt>'
        f'<dd class="kpis">{_ul(plan["kpis"], "card-list kpis")}</dd>',
        "</dl>",
        "</div>",
    ])
