"""What to do for each tier: the playbook, tier roles, triggers and the budget split.

The playbook (``tiering/playbook/default.yaml``) describes what each tier gets, in
English and Chinese, what each RFM segment adds (``segments``), and the triggers:
rules on the client's numbers that add a specific, numbered recommendation
(``triggers``; conditions in the safe expression language of :mod:`tiering.expr`).
:func:`recommend` evaluates the triggers, marks the customers each one catches and
splits the budget across tiers (:func:`allocate_budget`). Tiers are addressed by ROLE
because every client names its own 2-7 tiers (see :func:`tier_roles`):

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
any tier.

A client playbook is deep-merged over the default (:func:`load_playbook`): give only
what changes. A text is ``{en: ..., zh: ...}``; giving one language keeps the default
for the other, and a plain string is used for both languages. Lists are replaced as a
whole. Segments and triggers merge by key: a client can change one trigger's
``params``, switch it off (``enabled: false``) or add a new one. After loading, every
text is a ``{"en": str, "zh": str}`` mapping.

The comments at the ``triggers`` section of the default playbook list the names a
condition and the fields a text can use (:data:`DERIVED_COLUMNS`,
:data:`FINDING_FIELDS`). A trigger's condition is checked when the playbook is
loaded (anything outside the expression language is refused before it runs) and its
names when it is evaluated against the client's columns.

This module computes and writes no text. The texts in a report language (the
playbook's plan per tier, the findings of fired triggers with their numbers, the
recommended action per customer, the budget rule) and the HTML are made from its
tables in the present layer (``present/strategy_text.py``, ``present/strategy.py``),
the action-list workbook in the build layer (``build/action_lists.py``).
"""

from __future__ import annotations

import ast
import copy
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from tiering.errors import TieringError, closest, require
from tiering.expr import ExpressionError, parse
from tiering.locale import LANGUAGES
from tiering.params import StrategySpec

__all__ = [
    "ROLES",
    "TEXT_FIELDS",
    "LIST_FIELDS",
    "ROLE_FIELDS",
    "DEFAULT_PLAYBOOK",
    "load_playbook",
    "playbook_or_default",
    "tier_roles",
    "segment_lookup",
    "trigger_frame",
    "allocate_budget",
    "recommend",
    "BudgetRule",
    "Recommendations",
]

ROLES: tuple[str, ...] = ("top", "upper", "middle", "bottom")
TEXT_FIELDS: tuple[str, ...] = ("goal", "service_level", "contact_cadence")
LIST_FIELDS: tuple[str, ...] = ("actions", "channels", "offers", "kpis")
ROLE_FIELDS: tuple[str, ...] = ("goal", "service_level", "actions", "channels",
                                "contact_cadence", "offers", "kpis")
DORMANT_TEXT_FIELDS: tuple[str, ...] = ("name", "goal", "trigger", "note")
DORMANT_LIST_FIELDS: tuple[str, ...] = ("actions", "kpis")

DEFAULT_PLAYBOOK: Path = Path(__file__).resolve().parents[1] / "playbook" / "default.yaml"

_SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **{role: (TEXT_FIELDS, LIST_FIELDS) for role in ROLES},
    "dormant": (DORMANT_TEXT_FIELDS, DORMANT_LIST_FIELDS),
}
#: Fields of one RFM segment of the playbook (``segments: {key: {...}}``).
SEGMENT_TEXT_FIELDS: tuple[str, ...] = ("name", "goal", "contact_cadence")
SEGMENT_LIST_FIELDS: tuple[str, ...] = ("actions", "channels", "offers", "kpis")
#: Fields of one trigger (``triggers: {id: {...}}``): texts, then options with defaults.
TRIGGER_TEXT_FIELDS: tuple[str, ...] = ("name", "finding", "action")
# optional: the finding when exactly one customer is caught (grammar)
_TRIGGER_OPTIONAL_TEXTS: tuple[str, ...] = ("finding_one",)
_TRIGGER_DEFAULTS: dict[str, object] = {"roles": [], "segments": [], "params": {},
                                        "priority": 10, "min_customers": 1, "enabled": True}
TRIGGER_FIELDS: tuple[str, ...] = (*TRIGGER_TEXT_FIELDS, *_TRIGGER_OPTIONAL_TEXTS, "when",
                                   *_TRIGGER_DEFAULTS)
_COLLECTIONS = ("segments", "triggers")
_ALL_SECTIONS = (*_SECTIONS, *_COLLECTIONS)
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def _check_fields(body: Mapping, key: str, text_fields: Sequence[str], list_fields: Sequence[str],
                  problems: list[str], *, complete: bool, languages: bool) -> None:
    for field, value in body.items():
        fkey = f"{key}.{field}"
        if field in text_fields:
            _check_text(value, fkey, problems, complete=languages)
        elif field in list_fields:
            if not isinstance(value, list) or not value:
                problems.append(f"{fkey}: expected a non-empty list of texts")
                continue
            for i, item in enumerate(value):
                _check_text(item, f"{fkey}[{i}]", problems, complete=languages)
        else:
            known = tuple(text_fields) + tuple(list_fields)
            guess = closest(str(field), known)
            problems.append(f"{fkey}: unknown field (known: {', '.join(known)})"
                            + (f"; did you mean {guess!r}?" if guess else ""))
    if complete:
        problems.extend(f"{key}.{field}: missing" for field in (*text_fields, *list_fields)
                        if field not in body)


def _template_fields(text: str) -> list[tuple[str, str | None, str | None]] | None:
    """The ``(field, conversion, format_spec)`` of each ``{field}`` of a text, or None
    when it is not a valid template."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return None
    return [(name, conv, spec) for _, name, spec, conv in parts if name is not None]


def _check_trigger_texts(value: object, key: str, allowed: set[str], problems: list[str]) -> None:
    texts = [value] if isinstance(value, str) else (
        list(value.values()) if isinstance(value, Mapping) else [])
    for text in texts:
        if not isinstance(text, str):
            continue
        fields = _template_fields(text)
        if fields is None:
            problems.append(f"{key}: unbalanced braces in {text!r} (write {{{{ and }}}} "
                            f"for literal braces)")
            continue
        for name, conv, spec in fields:
            if conv or spec:
                problems.append(f"{key}: write fields as plain {{name}}, without ! or : "
                                f"(got {{{name}{'!' + conv if conv else ''}"
                                f"{':' + spec if spec else ''}}})")
            elif name not in allowed:
                guess = closest(name, allowed) if name else None
                problems.append(f"{key}: unknown field {{{name}}}"
                                + (f"; did you mean {{{guess}}}?" if guess else "")
                                + f" (known: {', '.join(sorted(allowed))})")


def _check_when(value: object, key: str, problems: list[str]) -> None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{key}: expected a condition such as 'frequency == 1'")
        return
    try:
        tree = ast.parse(value.strip(), mode="eval")
    except SyntaxError as exc:
        problems.append(f"{key}: cannot read the condition {value!r}: {exc.msg}")
        return
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    try:  # refuses calls, attributes, subscripts ... before anything runs
        parse(value, allowed_names=names, where=key)
    except ExpressionError as exc:
        problems.append(f"{key}: {exc.message}")


def _check_trigger(body: Mapping, key: str, problems: list[str], *, complete: bool,
                   languages: bool, segment_keys: set[str] | None) -> None:
    params = body.get("params", {})
    if not isinstance(params, Mapping):
        problems.append(f"{key}.params: expected a mapping of names to numbers")
        params = {}
    for name, number in params.items():
        if not isinstance(name, str) or not _IDENT_RE.match(name):
            problems.append(f"{key}.params.{name}: a name must be letters, digits and _ "
                            f"(not starting with a digit)")
        elif name in _RESERVED_NAMES:
            problems.append(f"{key}.params.{name}: the name is taken by a customer value; "
                            f"choose another")
        if isinstance(number, bool) or not isinstance(number, int | float) \
                or not math.isfinite(number):
            problems.append(f"{key}.params.{name}: expected a number, got {number!r}")
    allowed = set(FINDING_FIELDS) | {str(n) for n in params}
    for field, value in body.items():
        fkey = f"{key}.{field}"
        if field in _TRIGGER_OPTIONAL_TEXTS and value is None:
            continue
        if field in TRIGGER_TEXT_FIELDS or field in _TRIGGER_OPTIONAL_TEXTS:
            _check_text(value, fkey, problems, complete=languages)
            if complete:  # a partial override may use params given in the default
                _check_trigger_texts(value, fkey, allowed, problems)
        elif field == "when":
            _check_when(value, fkey, problems)
        elif field == "roles":
            if not isinstance(value, list) or any(r not in ROLES for r in value):
                problems.append(f"{fkey}: expected a list of roles out of {', '.join(ROLES)}, "
                                f"got {value!r}")
        elif field == "segments":
            if not isinstance(value, list) or any(not isinstance(s, str) for s in value):
                problems.append(f"{fkey}: expected a list of segment keys, got {value!r}")
            elif segment_keys is not None:
                for s in value:
                    if s not in segment_keys:
                        guess = closest(s, segment_keys)
                        problems.append(f"{fkey}: unknown segment {s!r}"
                                        + (f"; did you mean {guess!r}?" if guess else ""))
        elif field in ("priority", "min_customers"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{fkey}: expected a whole number of 1 or more, got {value!r}")
        elif field == "enabled":
            if not isinstance(value, bool):
                problems.append(f"{fkey}: expected true or false, got {value!r}")
        elif field != "params":
            guess = closest(str(field), TRIGGER_FIELDS)
            problems.append(f"{fkey}: unknown field (known: {', '.join(TRIGGER_FIELDS)})"
                            + (f"; did you mean {guess!r}?" if guess else ""))
    if complete:
        problems.extend(f"{key}.{field}: missing" for field in (*TRIGGER_TEXT_FIELDS, "when")
                        if field not in body)


def _check_collection(section: str, body: Mapping, problems: list[str], *, complete: bool,
                      languages: bool, segment_keys: set[str] | None) -> None:
    for item, fields in body.items():
        key = f"{section}.{item}"
        if not isinstance(item, str) or not _KEY_RE.match(item):
            problems.append(f"{key}: a key must be lower-case letters, digits and _, "
                            f"e.g. at_risk_vip")
            continue
        if not isinstance(fields, Mapping):
            problems.append(f"{key}: expected a mapping of fields, got {type(fields).__name__}")
            continue
        if section == "segments":
            _check_fields(fields, key, SEGMENT_TEXT_FIELDS, SEGMENT_LIST_FIELDS, problems,
                          complete=complete, languages=languages)
        else:
            _check_trigger(fields, key, problems, complete=complete, languages=languages,
                           segment_keys=segment_keys)


def _check_playbook(raw: object, problems: list[str], *, complete: bool,
                    languages: bool | None = None) -> None:
    """Collect every problem of a raw playbook mapping into ``problems``.

    ``complete`` requires every section and every field (the merged playbook);
    otherwise only the given parts are checked (a client override). ``languages``
    (default: ``complete``) requires both languages of every text.
    """
    languages = complete if languages is None else languages
    if not isinstance(raw, Mapping):
        problems.append(f"the playbook must be a mapping of sections "
                        f"({', '.join(_ALL_SECTIONS)}), got {type(raw).__name__}")
        return
    segments = raw.get("segments")
    segment_keys = set(segments) if complete and isinstance(segments, Mapping) else None
    for section, body in raw.items():
        if section not in _ALL_SECTIONS:
            guess = closest(str(section), _ALL_SECTIONS)
            problems.append(f"{section}: unknown role or section "
                            f"(known: {', '.join(_ALL_SECTIONS)})"
                            + (f"; did you mean {guess!r}?" if guess else ""))
            continue
        if not isinstance(body, Mapping):
            problems.append(f"{section}: expected a mapping of fields, got {type(body).__name__}")
            continue
        if section in _COLLECTIONS:
            _check_collection(section, body, problems, complete=complete, languages=languages,
                              segment_keys=segment_keys)
        else:
            text_fields, list_fields = _SECTIONS[section]
            _check_fields(body, section, text_fields, list_fields, problems,
                          complete=complete, languages=languages)
    if complete:
        problems.extend(f"{section}: missing" for section in _ALL_SECTIONS if section not in raw)


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


def _normalise_fields(body: Mapping, text_fields, list_fields) -> dict:
    out = {f: _text_pair(body[f]) for f in text_fields}
    out.update({f: [_text_pair(item) for item in body[f]] for f in list_fields})
    return out


def _normalise(raw: Mapping) -> dict:
    out: dict = {section: _normalise_fields(raw[section], *fields)
                 for section, fields in _SECTIONS.items()}
    out["segments"] = {key: _normalise_fields(body, SEGMENT_TEXT_FIELDS, SEGMENT_LIST_FIELDS)
                       for key, body in raw["segments"].items()}
    triggers = {}
    for key, body in raw["triggers"].items():
        trig = {f: _text_pair(body[f]) for f in TRIGGER_TEXT_FIELDS}
        trig.update({f: _text_pair(body[f]) if body.get(f) is not None else None
                     for f in _TRIGGER_OPTIONAL_TEXTS})
        trig["when"] = str(body["when"]).strip()
        for option, default in _TRIGGER_DEFAULTS.items():
            trig[option] = copy.deepcopy(body.get(option, default))
        trig["params"] = {str(k): v for k, v in trig["params"].items()}
        triggers[key] = trig
    # evaluation order: priority, then key
    out["triggers"] = dict(sorted(triggers.items(), key=lambda kv: (kv[1]["priority"], kv[0])))
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

    Returns ``{section: ...}`` for the tier roles ``top``, ``upper``, ``middle``,
    ``bottom`` and ``dormant`` (``{field: text | [text, ...]}``), ``segments``
    (``{segment_key: {field: ...}}``) and ``triggers`` (``{trigger_id: {...}}`` in
    evaluation order, see :data:`TRIGGER_FIELDS`), where each text is
    ``{"en": str, "zh": str}``. The client file is read with YAML's safe loader; an
    unknown section, field, language or template field, a condition outside the safe
    expression language, or a wrongly shaped value raises
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
            # new segments and triggers must be whole; one language is enough
            _check_playbook(merged, problems, complete=True, languages=False)
            _raise_problems(problems, str(path))
    return _normalise(merged)


def playbook_or_default(playbook: Mapping | None = None) -> dict:
    """The playbook to use: the default (:func:`load_playbook`) when ``playbook`` is
    None, else ``playbook`` (a whole playbook, e.g. from :func:`load_playbook`) checked
    and normalised; a problem raises :class:`~tiering.errors.TieringError`."""
    if playbook is None:
        return load_playbook()
    problems: list[str] = []
    _check_playbook(playbook, problems, complete=True)
    _raise_problems(problems, "playbook passed in the 'playbook' argument")
    return _normalise(playbook)


# ---------------------------------------------------------------------------------
# Roles


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


# ---------------------------------------------------------------------------------
# Per-customer values, triggers, budget: the recommendations of one analysis

_TIER_INPUT_COLUMNS: tuple[str, ...] = ("customer_id", "tier", "tier_rank", "recency_days",
                                         "frequency", "monetary", "gross_revenue",
                                         "returns_value", "aov", "tenure_days")

#: Per-tier reference values of :func:`trigger_frame` (also columns of
#: ``Recommendations.references``), broadcast to every customer of the tier.
REFERENCE_COLUMNS: tuple[str, ...] = (
    "tier_customers", "tier_revenue", "tier_one_time_share", "tier_at_risk_share",
    "tier_at_risk_customers", "tier_revenue_at_risk",
    "tier_median_monetary", "tier_median_frequency", "tier_median_aov",
    "tier_median_recency_days", "tier_median_tenure_days", "tier_median_usual_gap_days",
    "next_tier", "next_tier_min_monetary", "next_tier_median_monetary",
)
#: Whole-customer-base reference values of :func:`trigger_frame`.
BASE_COLUMNS: tuple[str, ...] = (
    "all_median_monetary", "all_median_frequency", "all_median_aov",
    "all_median_recency_days", "all_median_tenure_days", "all_median_usual_gap_days",
)
#: Per-customer values :func:`trigger_frame` adds to the tier table.
DERIVED_COLUMNS: tuple[str, ...] = ("role", "segment_key", "usual_gap_days", "expected_gap_days",
                                    "at_risk", "return_share", *REFERENCE_COLUMNS, *BASE_COLUMNS)
# the metrics whose per-tier and overall medians are references, with their column names
_MEDIANS: tuple[tuple[str, str, str], ...] = (
    ("monetary", "tier_median_monetary", "all_median_monetary"),
    ("frequency", "tier_median_frequency", "all_median_frequency"),
    ("aov", "tier_median_aov", "all_median_aov"),
    ("recency_days", "tier_median_recency_days", "all_median_recency_days"),
    ("tenure_days", "tier_median_tenure_days", "all_median_tenure_days"),
    ("usual_gap_days", "tier_median_usual_gap_days", "all_median_usual_gap_days"),
)
# names a trigger parameter may not take (they are customer values)
_RESERVED_NAMES: frozenset[str] = frozenset({*_TIER_INPUT_COLUMNS, *DERIVED_COLUMNS,
                                             "customer_name", "segment", "first_purchase",
                                             "last_purchase", "True", "False"})

#: Fields a trigger's ``finding``, ``action`` and ``name`` texts can use (plus its params).
FINDING_FIELDS: tuple[str, ...] = (
    "group", "group_one", "tier", "customers", "share", "revenue", "revenue_share",
    "recency", "usual_gap", "frequency", "aov", "monetary", "return_share",
    "tier_customers", "tier_recency", "tier_usual_gap", "tier_frequency", "tier_aov",
    "tier_monetary", "tier_one_time_share", "next_tier", "next_group", "next_tier_min_monetary",
)

#: Columns of ``Recommendations.customers``, in order (``segment`` only when the tiers have it).
CUSTOMER_COLUMNS: tuple[str, ...] = ("customer_id", "tier", "tier_rank", "role", "segment",
                                     "segment_key", "usual_gap_days", "expected_gap_days",
                                     "at_risk", "return_share", "triggers", "priority")
#: Columns of ``Recommendations.fired``: one row per trigger and tier it fired in.
FIRED_COLUMNS: tuple[str, ...] = (
    "trigger_id", "tier", "tier_rank", "role", "priority", "customers", "tier_customers",
    "customer_share", "revenue", "tier_revenue", "revenue_share", "recency_median",
    "usual_gap_median", "frequency_median", "aov_median", "monetary_median",
    "return_share_median",
)
#: Columns of ``Recommendations.budget``: one row per tier, best first.
BUDGET_COLUMNS: tuple[str, ...] = (
    "tier", "tier_rank", "role", "customers", "revenue", "revenue_share", "growth_potential",
    "growth_share", "revenue_at_risk", "risk_share", "weight", "base_cost", "amount", "share",
)
BUDGET_COMPONENTS: tuple[str, ...] = ("revenue", "growth", "risk")
_COMPONENT_SHARE = {"revenue": "revenue_share", "growth": "growth_share", "risk": "risk_share"}


def _segment_key(text: object) -> str:
    """Normalise a segment key or name: ``"Can't lose them"`` → ``cant_lose_them``."""
    s = str(text).casefold().replace("'", "").replace("\u2019", "")
    return re.sub(r"[\W_]+", "_", s).strip("_")


def segment_lookup(playbook: Mapping | None = None) -> dict[str, str]:
    """Map segment keys and names (either language, normalised) to the playbook's keys."""
    book = playbook_or_default(playbook)
    out: dict[str, str] = {}
    for key, body in book["segments"].items():
        for name in (key, *body["name"].values()):
            out.setdefault(_segment_key(name), key)
    return out


def _ordered_labels(tiers: pd.DataFrame) -> list[str]:
    if isinstance(tiers["tier"].dtype, pd.CategoricalDtype):
        return [str(c) for c in tiers["tier"].cat.categories]
    ranks = tiers[["tier", "tier_rank"]].drop_duplicates().sort_values("tier_rank", kind="stable")
    return [str(label) for label in ranks["tier"]]


def trigger_frame(tiers: pd.DataFrame, *, at_risk_factor: float = 2.0,
                  labels: Sequence[str] | None = None, playbook: Mapping | None = None
                  ) -> pd.DataFrame:
    """The tier table with the per-customer values triggers and the budget use.

    ``tiers`` is ``Analysis.tiers`` (one row per customer). ``labels`` are the tier
    labels best first (default: the categories of ``tiers['tier']``). Returns the same
    rows in the same order, ``tier`` as text, plus (:data:`DERIVED_COLUMNS`):

    - ``role``: the tier's playbook role (:func:`tier_roles`);
    - ``segment_key``: the playbook key of the RFM ``segment`` (only when ``tiers`` has
      a ``segment`` column; missing for segments the playbook does not know);
    - ``usual_gap_days``: mean days between the first and the last order,
      ``(tenure_days - recency_days) / (frequency - 1)``; missing for customers with
      one order or all orders on one day;
    - ``expected_gap_days``: ``usual_gap_days``, or where missing the median usual gap
      of all customers (``all_median_usual_gap_days``);
    - ``at_risk`` (bool): ``recency_days > at_risk_factor * expected_gap_days``;
    - ``return_share``: ``returns_value / gross_revenue`` (missing without purchases);
    - per tier (:data:`REFERENCE_COLUMNS`): customers, net revenue, share of one-order
      customers, share and count of at-risk customers and their net spend (negative
      spend counts as 0), medians of monetary, frequency, aov, recency_days,
      tenure_days and usual_gap_days, and the label, lowest and median spend of the
      nearest non-empty tier above (missing for the top tier);
    - for all customers (:data:`BASE_COLUMNS`): the same medians.
    """
    return _trigger_frame(tiers, at_risk_factor=at_risk_factor, labels=labels,
                          playbook=playbook)[0]


def _trigger_frame(tiers: pd.DataFrame, *, at_risk_factor: float,
                   labels: Sequence[str] | None, playbook: Mapping | None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    require(isinstance(tiers, pd.DataFrame), "tiers must be a pandas DataFrame",
            where="trigger_frame(tiers)")
    missing = [c for c in _TIER_INPUT_COLUMNS if c not in tiers.columns]
    require(not missing, f"tiers lacks the column(s): {', '.join(missing)}",
            where="trigger_frame(tiers)", hint="pass Analysis.tiers (one row per customer)")
    require(at_risk_factor > 0, f"at_risk_factor must be positive, got {at_risk_factor!r}",
            where="strategy.at_risk_factor", hint="e.g. 2 (twice the usual gap)")
    labels = [str(x) for x in (labels if labels is not None else _ordered_labels(tiers))]
    roles = tier_roles(labels)
    frame = tiers.reset_index(drop=True).copy()
    require(not frame["tier"].isna().any(),
            f"{int(frame['tier'].isna().sum()):,} customer(s) have no tier",
            where="trigger_frame(tiers['tier'])", hint="give every customer a tier")
    frame["tier"] = frame["tier"].map(str).astype("object")
    unknown = sorted(set(frame["tier"]) - set(labels))
    require(not unknown, f"tiers has tier labels not in the tier list: {', '.join(unknown)}",
            where="trigger_frame(tiers['tier'])", hint="pass the labels of the tiering")
    frame["role"] = frame["tier"].map(roles)
    if "segment" in frame.columns:
        lookup = segment_lookup(playbook)
        frame["segment_key"] = frame["segment"].map(
            lambda s: None if _is_missing(s) else lookup.get(_segment_key(s)))
    freq = frame["frequency"].astype("float64")
    span = (frame["tenure_days"] - frame["recency_days"]).astype("float64")
    frame["usual_gap_days"] = (span / (freq - 1)).where((freq >= 2) & (span > 0))
    base_gap = frame["usual_gap_days"].median()
    frame["expected_gap_days"] = frame["usual_gap_days"].fillna(base_gap)
    frame["at_risk"] = (frame["recency_days"] > at_risk_factor * frame["expected_gap_days"]
                        ).fillna(False).astype(bool)
    gross = frame["gross_revenue"].astype("float64")
    frame["return_share"] = (frame["returns_value"] / gross).where(gross > 0)

    refs = _references(frame, labels, roles)
    frame = frame.merge(refs.drop(columns=["tier_rank", "role"]), on="tier", how="left",
                        validate="many_to_one")
    for metric, _, overall in _MEDIANS:
        frame[overall] = frame[metric].median()
    return frame, refs


def _references(frame: pd.DataFrame, labels: list[str], roles: Mapping[str, str]) -> pd.DataFrame:
    tier = pd.Categorical(frame["tier"], categories=labels, ordered=True)
    g = frame.groupby(tier, observed=False, sort=True)
    risk_spend = frame["monetary"].clip(lower=0).where(frame["at_risk"], 0.0)
    refs = pd.DataFrame({
        "tier_customers": g.size(),
        "tier_revenue": g["monetary"].sum().round(6),
        "tier_one_time_share": (frame["frequency"] == 1).groupby(tier, observed=False).mean(),
        "tier_at_risk_share": frame["at_risk"].astype(float).groupby(tier, observed=False).mean(),
        "tier_at_risk_customers": frame["at_risk"].astype(int).groupby(tier, observed=False).sum(),
        "tier_revenue_at_risk": risk_spend.groupby(tier, observed=False).sum().round(6),
    })
    for metric, column, _ in _MEDIANS:
        refs[column] = g[metric].median()
    refs.index = pd.Index([str(x) for x in refs.index], name="tier")
    refs = refs.reset_index()
    refs.insert(1, "tier_rank", range(1, len(refs) + 1))
    refs.insert(2, "role", refs["tier"].map(roles))
    refs["tier_customers"] = refs["tier_customers"].astype("int64")
    refs["tier_at_risk_customers"] = refs["tier_at_risk_customers"].astype("int64")
    mins = g["monetary"].min()
    by_label = refs.set_index("tier")
    nxt_label, nxt_min, nxt_median = [], [], []
    above: str | None = None
    for label in refs["tier"]:
        nxt_label.append(above)
        nxt_min.append(float(mins[above]) if above is not None else math.nan)
        nxt_median.append(float(by_label.at[above, "tier_median_monetary"])
                          if above is not None else math.nan)
        if by_label.at[label, "tier_customers"] > 0:
            above = label
    refs["next_tier"] = pd.Series(nxt_label, dtype="object")
    refs["next_tier_min_monetary"] = pd.Series(nxt_min, dtype="float64")
    refs["next_tier_median_monetary"] = pd.Series(nxt_median, dtype="float64")
    return refs[["tier", "tier_rank", "role", *REFERENCE_COLUMNS]]


@dataclass(frozen=True)
class BudgetRule:
    """The rule the budget was split by (in words: ``budget_rule_text`` in
    ``present/strategy_text.py``).

    ``amount`` is the budget (None: shares only), ``weights`` the weights given
    (``(component, weight)`` for revenue, growth, risk), ``used`` the components that
    counted (a positive weight and a positive total), ``equal_split`` True when none
    did and the budget was split equally across non-empty tiers; ``cost_to_serve`` the
    cost per customer by tier label, ``costs_exceed_budget`` True when the cost to
    serve alone exceeds the budget (then the budget is split in proportion to it);
    ``at_risk_factor`` and ``base_gap_days`` define "at risk" (see :func:`trigger_frame`).
    """

    amount: float | None
    currency: str
    weights: tuple[tuple[str, float], ...]
    used: tuple[str, ...]
    equal_split: bool
    cost_to_serve: tuple[tuple[str, float], ...]
    costs_exceed_budget: bool
    at_risk_factor: float
    base_gap_days: float


@dataclass(frozen=True, eq=False)
class Recommendations:
    """What the data says to do, per customer and per tier (``Analysis.recommendations``).

    Tables (tidy, one row per ...):

    - ``customers`` (customer): :data:`CUSTOMER_COLUMNS` — ``customer_id``, ``tier``,
      ``tier_rank``, ``role``, ``segment`` and ``segment_key`` (only when the tiers
      have segments), ``usual_gap_days``, ``expected_gap_days``, ``at_risk``,
      ``return_share``, ``triggers`` (the ids of the triggers that caught the
      customer, by priority, joined by ``;``; empty when none) and ``priority``
      (the best priority among them; missing when none).
    - ``fired`` (trigger and tier it fired in): :data:`FIRED_COLUMNS` — the customers
      caught, their share of the tier, their net spend (``revenue``, the revenue at
      stake) and its share of the tier's revenue, and their medians.
    - ``references`` (tier): the per-tier reference values (:data:`REFERENCE_COLUMNS`).
    - ``budget`` (tier): :data:`BUDGET_COLUMNS`, see :func:`allocate_budget`.

    ``rule`` is the :class:`BudgetRule`; ``playbook`` the normalised playbook used
    (texts of triggers and default actions); ``skipped`` the ids of enabled triggers
    that did not apply (segment triggers without segments). The texts in a language
    are made from these tables in ``present/strategy_text.py`` (``findings``,
    ``action_table``).
    """

    customers: pd.DataFrame
    fired: pd.DataFrame
    references: pd.DataFrame
    budget: pd.DataFrame
    rule: BudgetRule
    playbook: Mapping
    skipped: tuple[str, ...] = ()

    @property
    def currency(self) -> str:
        return self.rule.currency


def _evaluate_triggers(frame: pd.DataFrame, labels: list[str], book: Mapping
                       ) -> tuple[pd.DataFrame, pd.Series, pd.Series, tuple[str, ...]]:
    names = {str(c) for c in frame.columns if isinstance(c, str) and _IDENT_RE.match(c)}
    caught = pd.Series("", index=frame.index, dtype="object")
    best = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    rows, skipped = [], []
    for tid, trig in book["triggers"].items():
        if not trig["enabled"]:
            continue
        where = f"playbook trigger {tid!r}, field 'when'"
        if trig["segments"] and "segment_key" not in frame.columns:
            skipped.append(tid)
            continue
        params = dict(trig["params"])
        clash = sorted(set(params) & names)
        require(not clash, f"Trigger {tid!r}: the parameter name(s) {', '.join(clash)} are "
                f"also columns of the data", where=f"playbook trigger {tid!r}, field 'params'",
                hint="rename the parameter")
        expression = parse(trig["when"], allowed_names=names | set(params), where=where)
        try:
            mask = expression.mask(frame, values=params)
        except ExpressionError:
            raise
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"Trigger {tid!r} cannot be evaluated: {exc}", where=where,
                                  hint="compare numbers with numbers and text with quoted "
                                       "text") from None
        if trig["roles"]:
            mask &= frame["role"].isin(trig["roles"])
        if trig["segments"]:
            mask &= frame["segment_key"].isin(trig["segments"])
        for rank, label in enumerate(labels, start=1):
            in_tier = frame["tier"] == label
            sel = mask & in_tier
            n = int(sel.sum())
            if n == 0 or n < trig["min_customers"]:
                continue
            tier_n = int(in_tier.sum())
            # sums rounded to 6 decimals, as the features are: no float noise in tables
            revenue = round(float(frame.loc[sel, "monetary"].sum()), 6)
            tier_revenue = round(float(frame.loc[in_tier, "monetary"].sum()), 6)
            part = frame.loc[sel]
            rows.append({
                "trigger_id": tid, "tier": label, "tier_rank": rank,
                "role": frame.loc[sel, "role"].iloc[0], "priority": int(trig["priority"]),
                "customers": n, "tier_customers": tier_n, "customer_share": n / tier_n,
                "revenue": revenue, "tier_revenue": tier_revenue,
                "revenue_share": revenue / tier_revenue if tier_revenue > 0 else math.nan,
                "recency_median": part["recency_days"].median(),
                "usual_gap_median": part["usual_gap_days"].median(),
                "frequency_median": part["frequency"].median(),
                "aov_median": part["aov"].median(),
                "monetary_median": part["monetary"].median(),
                "return_share_median": part["return_share"].median(),
            })
            caught.loc[sel] = caught.loc[sel] + ";" + tid
            best.loc[sel & best.isna()] = int(trig["priority"])
    fired = pd.DataFrame(rows, columns=list(FIRED_COLUMNS))
    for col in ("tier_rank", "priority", "customers", "tier_customers"):
        fired[col] = fired[col].astype("int64")
    return fired, caught.str.lstrip(";"), best, tuple(skipped)


def allocate_budget(frame: pd.DataFrame, *, labels: Sequence[str], budget: float | None = None,
                    weights: Mapping[str, float] | None = None,
                    cost_to_serve: Mapping[str, float] | None = None, currency: str = "¥",
                    at_risk_factor: float = 2.0, references: pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, BudgetRule]:
    """Split a budget across tiers (``frame`` is a :func:`trigger_frame`).

    The rule, per tier:

    - revenue share: the tier's net revenue (negative counts as 0) over all tiers';
    - growth potential: what the tier's customers would add if each spent at least the
      median of the nearest non-empty tier above, ``sum(max(0, median above - monetary))``;
      none for the top tier; growth share: over all tiers' growth potential;
    - revenue at risk: the net spend of its at-risk customers (``at_risk``); risk share:
      over all tiers';
    - weight = the weighted mean of the three shares (``weights``, default revenue 0.5,
      growth 0.25, risk 0.25); a component whose total is 0 is left out and the others
      reweighted; when none is left, non-empty tiers get equal weights.

    With a ``budget``, ``cost_to_serve`` (per customer, by tier label) is set aside first
    (``base_cost = cost × customers``) and the rest split by weight; when the costs alone
    exceed the budget, the budget is split in proportion to them. Without a budget,
    ``amount`` is missing and ``share`` is the weight.

    ``references`` is the per-tier table of the same frame (``Recommendations.references``;
    computed when not given). Returns the table (:data:`BUDGET_COLUMNS`, one row per
    tier, best first) and the :class:`BudgetRule`.
    """
    labels = [str(x) for x in labels]
    given = {"revenue": 0.5, "growth": 0.25, "risk": 0.25, **dict(weights or {})}
    unknown = sorted(set(given) - set(BUDGET_COMPONENTS))
    require(not unknown, f"Unknown budget weight(s): {', '.join(unknown)}",
            where="strategy.budget_weights", hint="use revenue, growth and risk")
    require(all(math.isfinite(w) and w >= 0 for w in given.values()),
            "Budget weights must be zero or more", where="strategy.budget_weights")
    costs = {str(k): float(v) for k, v in dict(cost_to_serve or {}).items()}
    bad = sorted(set(costs) - set(labels))
    require(not bad, f"strategy.cost_to_serve names tier(s) that do not exist: {', '.join(bad)}",
            where="strategy.cost_to_serve",
            hint=f"use the tier labels: {', '.join(labels)}")
    require(all(math.isfinite(c) and c >= 0 for c in costs.values()),
            "The cost to serve must be zero or more", where="strategy.cost_to_serve")
    require(budget is None or (math.isfinite(budget) and budget > 0),
            f"The budget must be a positive amount, got {budget!r}", where="strategy.budget")

    if references is None or list(references["tier"]) != labels:
        references = _references(frame, labels, tier_roles(labels))
    refs = references
    above = refs.set_index("tier")["next_tier_median_monetary"]
    gap = (frame["tier"].map(above) - frame["monetary"]).clip(lower=0).fillna(0.0)
    growth = gap.groupby(frame["tier"]).sum().reindex(labels, fill_value=0.0)
    out = pd.DataFrame({
        "tier": labels, "tier_rank": range(1, len(labels) + 1), "role": refs["role"].to_numpy(),
        "customers": refs["tier_customers"].to_numpy(),
        "revenue": refs["tier_revenue"].to_numpy(),
        "growth_potential": growth.to_numpy(dtype="float64").round(6),
        "revenue_at_risk": refs["tier_revenue_at_risk"].to_numpy(dtype="float64"),
    })
    totals = {"revenue": out["revenue"].clip(lower=0), "growth": out["growth_potential"],
              "risk": out["revenue_at_risk"]}
    used = []
    for comp in BUDGET_COMPONENTS:
        total = float(totals[comp].sum())
        out[_COMPONENT_SHARE[comp]] = totals[comp] / total if total > 0 else 0.0
        if total > 0 and given[comp] > 0:
            used.append(comp)
    if used:
        wsum = sum(given[c] for c in used)
        out["weight"] = sum(given[c] * out[_COMPONENT_SHARE[c]] for c in used) / wsum
    else:
        nonempty = (out["customers"] > 0).astype(float)
        out["weight"] = nonempty / nonempty.sum() if nonempty.sum() else 1.0 / len(out)
    out["base_cost"] = out["tier"].map(costs).fillna(0.0) * out["customers"]
    exceed = False
    if budget is None:
        out["amount"] = math.nan
        out["share"] = out["weight"]
    else:
        base = float(out["base_cost"].sum())
        if base > budget:
            exceed = True
            out["amount"] = budget * out["base_cost"] / base
        else:
            out["amount"] = out["base_cost"] + (budget - base) * out["weight"]
        out["share"] = out["amount"] / budget
    out = out[list(BUDGET_COLUMNS)]
    out["tier_rank"] = out["tier_rank"].astype("int64")
    out["customers"] = out["customers"].astype("int64")
    rule = BudgetRule(
        amount=None if budget is None else float(budget), currency=currency,
        weights=tuple((c, float(given[c])) for c in BUDGET_COMPONENTS), used=tuple(used),
        equal_split=not used, cost_to_serve=tuple((k, costs[k]) for k in labels if k in costs),
        costs_exceed_budget=exceed, at_risk_factor=float(at_risk_factor),
        base_gap_days=float(frame["usual_gap_days"].median()))
    return out, rule


def recommend(tiers: pd.DataFrame, tier_summary: pd.DataFrame | None = None, *,
              spec=None, currency: str = "¥", playbook: Mapping | None = None
              ) -> Recommendations:
    """Triggers, per-customer actions and the budget split of one analysis.

    ``tiers`` is ``Analysis.tiers``; ``tier_summary`` (optional) gives the tier order
    (``tier``, ``tier_rank``), else the categories of ``tiers['tier']``. ``spec`` is the
    ``strategy`` block of the parameters (:class:`tiering.params.StrategySpec`: playbook,
    budget, budget_weights, cost_to_serve, at_risk_factor); ``playbook`` (from
    :func:`load_playbook`) overrides ``spec.playbook``. Deterministic: no randomness,
    rows in the order of ``tiers``.
    """
    spec = StrategySpec() if spec is None else spec
    book = load_playbook(spec.playbook) if playbook is None else playbook_or_default(playbook)
    if tier_summary is not None:
        require(isinstance(tier_summary, pd.DataFrame)
                and {"tier", "tier_rank"} <= set(tier_summary.columns),
                "tier_summary must be a table with the columns tier and tier_rank",
                where="recommend(tier_summary)")
        labels = [str(x) for x in tier_summary.sort_values("tier_rank", kind="stable")["tier"]]
    else:
        labels = _ordered_labels(tiers)
    frame, refs = _trigger_frame(tiers, at_risk_factor=spec.at_risk_factor, labels=labels,
                                 playbook=book)
    fired, caught, best, skipped = _evaluate_triggers(frame, labels, book)
    budget, rule = allocate_budget(
        frame, labels=labels, budget=spec.budget,
        weights=spec.budget_weights.model_dump(), cost_to_serve=spec.cost_to_serve,
        currency=currency, at_risk_factor=spec.at_risk_factor, references=refs)
    customers = frame.assign(triggers=caught, priority=best)
    customers["tier_rank"] = customers["tier"].map(
        {label: i for i, label in enumerate(labels, start=1)}).astype("int64")
    columns = [c for c in CUSTOMER_COLUMNS if c in customers.columns]
    return Recommendations(
        customers=customers[columns].reset_index(drop=True), fired=fired,
        references=refs, budget=budget, rule=rule,
        playbook=book, skipped=skipped)
