"""The playbook: what each tier gets, read from YAML, checked and normalised.

The playbook (``tiering/playbook/default.yaml``) describes what each tier gets, in
English and Chinese, what each RFM segment adds (``segments``), and the triggers:
rules on the client's numbers that add a specific, numbered recommendation
(``triggers``; conditions in the safe expression language of :mod:`tiering.expr`).
Tiers are addressed by ROLE because every client names its own 2-7 tiers (see
:func:`tier_roles`):

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
names when it is evaluated against the client's columns
(:func:`tiering.analysis.strategy.recommend`, which also computes those columns).
"""

from __future__ import annotations

import ast
import copy
import math
import re
import string
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import yaml

from tiering.errors import TieringError, closest, require
from tiering.expr import ExpressionError, parse
from tiering.locale import LANGUAGES

__all__ = [
    "ROLES",
    "TEXT_FIELDS",
    "LIST_FIELDS",
    "ROLE_FIELDS",
    "DORMANT_TEXT_FIELDS",
    "DORMANT_LIST_FIELDS",
    "SEGMENT_TEXT_FIELDS",
    "SEGMENT_LIST_FIELDS",
    "TRIGGER_TEXT_FIELDS",
    "TRIGGER_FIELDS",
    "TIER_INPUT_COLUMNS",
    "REFERENCE_COLUMNS",
    "BASE_COLUMNS",
    "DERIVED_COLUMNS",
    "FINDING_FIELDS",
    "NAME_RE",
    "DEFAULT_PLAYBOOK",
    "load_playbook",
    "playbook_or_default",
    "tier_roles",
]

ROLES: tuple[str, ...] = ("top", "upper", "middle", "bottom")
TEXT_FIELDS: tuple[str, ...] = ("goal", "service_level", "contact_cadence")
LIST_FIELDS: tuple[str, ...] = ("actions", "channels", "offers", "kpis")
ROLE_FIELDS: tuple[str, ...] = (
    "goal",
    "service_level",
    "actions",
    "channels",
    "contact_cadence",
    "offers",
    "kpis",
)
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
_TRIGGER_DEFAULTS: dict[str, object] = {
    "roles": [],
    "segments": [],
    "params": {},
    "priority": 10,
    "min_customers": 1,
    "enabled": True,
}
TRIGGER_FIELDS: tuple[str, ...] = (
    *TRIGGER_TEXT_FIELDS,
    *_TRIGGER_OPTIONAL_TEXTS,
    "when",
    *_TRIGGER_DEFAULTS,
)
_COLLECTIONS = ("segments", "triggers")
_ALL_SECTIONS = (*_SECTIONS, *_COLLECTIONS)
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: A name a trigger condition or its ``params`` can use: letters, digits and ``_``, not
#: starting with a digit (the columns of the customer table that match it, and the
#: trigger's parameters).
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# ---------------------------------------------------------------------------------
# The names a trigger can use (the columns of tiering.analysis.strategy.trigger_frame)

#: Columns of the tier table (``Analysis.tiers``) that the trigger values are computed
#: from; a condition can name them.
TIER_INPUT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "tier",
    "tier_rank",
    "recency_days",
    "frequency",
    "monetary",
    "gross_revenue",
    "returns_value",
    "aov",
    "tenure_days",
)

#: Per-tier reference values of :func:`tiering.analysis.strategy.trigger_frame` (also
#: columns of ``Recommendations.references``), broadcast to every customer of the tier.
REFERENCE_COLUMNS: tuple[str, ...] = (
    "tier_customers",
    "tier_revenue",
    "tier_one_time_share",
    "tier_at_risk_share",
    "tier_at_risk_customers",
    "tier_revenue_at_risk",
    "tier_median_monetary",
    "tier_median_frequency",
    "tier_median_aov",
    "tier_median_recency_days",
    "tier_median_tenure_days",
    "tier_median_usual_gap_days",
    "next_tier",
    "next_tier_min_monetary",
    "next_tier_median_monetary",
)
#: Whole-customer-base reference values of :func:`tiering.analysis.strategy.trigger_frame`.
BASE_COLUMNS: tuple[str, ...] = (
    "all_median_monetary",
    "all_median_frequency",
    "all_median_aov",
    "all_median_recency_days",
    "all_median_tenure_days",
    "all_median_usual_gap_days",
)
#: Per-customer values :func:`tiering.analysis.strategy.trigger_frame` adds to the tier
#: table.
DERIVED_COLUMNS: tuple[str, ...] = (
    "role",
    "segment_key",
    "usual_gap_days",
    "expected_gap_days",
    "at_risk",
    "return_share",
    *REFERENCE_COLUMNS,
    *BASE_COLUMNS,
)
# names a trigger parameter may not take (they are customer values)
_RESERVED_NAMES: frozenset[str] = frozenset(
    {
        *TIER_INPUT_COLUMNS,
        *DERIVED_COLUMNS,
        "customer_name",
        "segment",
        "first_purchase",
        "last_purchase",
        "True",
        "False",
    }
)

#: Fields a trigger's ``finding``, ``action`` and ``name`` texts can use (plus its params).
FINDING_FIELDS: tuple[str, ...] = (
    "group",
    "group_one",
    "tier",
    "customers",
    "share",
    "revenue",
    "revenue_share",
    "recency",
    "usual_gap",
    "frequency",
    "aov",
    "monetary",
    "return_share",
    "tier_customers",
    "tier_recency",
    "tier_usual_gap",
    "tier_frequency",
    "tier_aov",
    "tier_monetary",
    "tier_one_time_share",
    "next_tier",
    "next_group",
    "next_tier_min_monetary",
)


# ---------------------------------------------------------------------------------
# Loading and validating playbooks


def _read_yaml(path: Path) -> object:
    require(
        path.is_file(),
        f"Playbook file not found: {path}",
        where=str(path),
        hint="check the path of the playbook file in the parameters",
    )
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except UnicodeDecodeError as exc:
        raise TieringError(
            f"Playbook file is not UTF-8 text: {exc}",
            where=str(path),
            hint="save the file as UTF-8",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise TieringError(
            f"Playbook file is not valid YAML: {exc}",
            where=where,
            hint="fix the YAML syntax (indentation, quotes, colons)",
        ) from None


def _check_text(value: object, key: str, problems: list[str], *, complete: bool) -> None:
    if isinstance(value, str):
        if not value.strip():
            problems.append(f"{key}: empty text")
        return
    if not isinstance(value, Mapping):
        problems.append(
            f"{key}: expected a text or {{en: ..., zh: ...}}, got {type(value).__name__}"
        )
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


def _check_fields(
    body: Mapping,
    key: str,
    text_fields: Sequence[str],
    list_fields: Sequence[str],
    problems: list[str],
    *,
    complete: bool,
    languages: bool,
) -> None:
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
            problems.append(
                f"{fkey}: unknown field (known: {', '.join(known)})"
                + (f"; did you mean {guess!r}?" if guess else "")
            )
    if complete:
        problems.extend(
            f"{key}.{field}: missing" for field in (*text_fields, *list_fields) if field not in body
        )


def _template_fields(text: str) -> list[tuple[str, str | None, str | None]] | None:
    """The ``(field, conversion, format_spec)`` of each ``{field}`` of a text, or None
    when it is not a valid template."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return None
    return [(name, conv, spec) for _, name, spec, conv in parts if name is not None]


def _check_trigger_texts(value: object, key: str, allowed: set[str], problems: list[str]) -> None:
    texts = (
        [value]
        if isinstance(value, str)
        else (list(value.values()) if isinstance(value, Mapping) else [])
    )
    for text in texts:
        if not isinstance(text, str):
            continue
        fields = _template_fields(text)
        if fields is None:
            problems.append(
                f"{key}: unbalanced braces in {text!r} (write {{{{ and }}}} for literal braces)"
            )
            continue
        for name, conv, spec in fields:
            if conv or spec:
                problems.append(
                    f"{key}: write fields as plain {{name}}, without ! or : "
                    f"(got {{{name}{'!' + conv if conv else ''}"
                    f"{':' + spec if spec else ''}}})"
                )
            elif name not in allowed:
                guess = closest(name, allowed) if name else None
                problems.append(
                    f"{key}: unknown field {{{name}}}"
                    + (f"; did you mean {{{guess}}}?" if guess else "")
                    + f" (known: {', '.join(sorted(allowed))})"
                )


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


def _check_trigger(
    body: Mapping,
    key: str,
    problems: list[str],
    *,
    complete: bool,
    languages: bool,
    segment_keys: set[str] | None,
) -> None:
    params = body.get("params", {})
    if not isinstance(params, Mapping):
        problems.append(f"{key}.params: expected a mapping of names to numbers")
        params = {}
    for name, number in params.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(
                f"{key}.params.{name}: a name must be letters, digits and _ "
                f"(not starting with a digit)"
            )
        elif name in _RESERVED_NAMES:
            problems.append(
                f"{key}.params.{name}: the name is taken by a customer value; choose another"
            )
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
        ):
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
                problems.append(
                    f"{fkey}: expected a list of roles out of {', '.join(ROLES)}, got {value!r}"
                )
        elif field == "segments":
            if not isinstance(value, list) or any(not isinstance(s, str) for s in value):
                problems.append(f"{fkey}: expected a list of segment keys, got {value!r}")
            elif segment_keys is not None:
                for s in value:
                    if s not in segment_keys:
                        guess = closest(s, segment_keys)
                        problems.append(
                            f"{fkey}: unknown segment {s!r}"
                            + (f"; did you mean {guess!r}?" if guess else "")
                        )
        elif field in ("priority", "min_customers"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{fkey}: expected a whole number of 1 or more, got {value!r}")
        elif field == "enabled":
            if not isinstance(value, bool):
                problems.append(f"{fkey}: expected true or false, got {value!r}")
        elif field != "params":
            guess = closest(str(field), TRIGGER_FIELDS)
            problems.append(
                f"{fkey}: unknown field (known: {', '.join(TRIGGER_FIELDS)})"
                + (f"; did you mean {guess!r}?" if guess else "")
            )
    if complete:
        problems.extend(
            f"{key}.{field}: missing"
            for field in (*TRIGGER_TEXT_FIELDS, "when")
            if field not in body
        )


def _check_collection(
    section: str,
    body: Mapping,
    problems: list[str],
    *,
    complete: bool,
    languages: bool,
    segment_keys: set[str] | None,
) -> None:
    for item, fields in body.items():
        key = f"{section}.{item}"
        if not isinstance(item, str) or not _KEY_RE.match(item):
            problems.append(
                f"{key}: a key must be lower-case letters, digits and _, e.g. at_risk_vip"
            )
            continue
        if not isinstance(fields, Mapping):
            problems.append(f"{key}: expected a mapping of fields, got {type(fields).__name__}")
            continue
        if section == "segments":
            _check_fields(
                fields,
                key,
                SEGMENT_TEXT_FIELDS,
                SEGMENT_LIST_FIELDS,
                problems,
                complete=complete,
                languages=languages,
            )
        else:
            _check_trigger(
                fields,
                key,
                problems,
                complete=complete,
                languages=languages,
                segment_keys=segment_keys,
            )


def _check_playbook(
    raw: object, problems: list[str], *, complete: bool, languages: bool | None = None
) -> None:
    """Collect every problem of a raw playbook mapping into ``problems``.

    ``complete`` requires every section and every field (the merged playbook);
    otherwise only the given parts are checked (a client override). ``languages``
    (default: ``complete``) requires both languages of every text.
    """
    languages = complete if languages is None else languages
    if not isinstance(raw, Mapping):
        problems.append(
            f"the playbook must be a mapping of sections "
            f"({', '.join(_ALL_SECTIONS)}), got {type(raw).__name__}"
        )
        return
    segments = raw.get("segments")
    segment_keys = set(segments) if complete and isinstance(segments, Mapping) else None
    for section, body in raw.items():
        if section not in _ALL_SECTIONS:
            guess = closest(str(section), _ALL_SECTIONS)
            problems.append(
                f"{section}: unknown role or section "
                f"(known: {', '.join(_ALL_SECTIONS)})"
                + (f"; did you mean {guess!r}?" if guess else "")
            )
            continue
        if not isinstance(body, Mapping):
            problems.append(f"{section}: expected a mapping of fields, got {type(body).__name__}")
            continue
        if section in _COLLECTIONS:
            _check_collection(
                section,
                body,
                problems,
                complete=complete,
                languages=languages,
                segment_keys=segment_keys,
            )
        else:
            text_fields, list_fields = _SECTIONS[section]
            _check_fields(
                body,
                section,
                text_fields,
                list_fields,
                problems,
                complete=complete,
                languages=languages,
            )
    if complete:
        problems.extend(f"{section}: missing" for section in _ALL_SECTIONS if section not in raw)


def _raise_problems(problems: list[str], source: str) -> None:
    if problems:
        n = len(problems)
        lines = [f"Invalid playbook ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  - {p}" for p in problems]
        raise TieringError(
            "\n".join(lines),
            where=source,
            hint="see tiering/playbook/default.yaml for the sections and fields",
        )


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
    out: dict = {
        section: _normalise_fields(raw[section], *fields) for section, fields in _SECTIONS.items()
    }
    out["segments"] = {
        key: _normalise_fields(body, SEGMENT_TEXT_FIELDS, SEGMENT_LIST_FIELDS)
        for key, body in raw["segments"].items()
    }
    triggers = {}
    for key, body in raw["triggers"].items():
        trig = {f: _text_pair(body[f]) for f in TRIGGER_TEXT_FIELDS}
        trig.update(
            {
                f: _text_pair(body[f]) if body.get(f) is not None else None
                for f in _TRIGGER_OPTIONAL_TEXTS
            }
        )
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
    require(
        not isinstance(labels, str),
        "Tier labels must be a list of labels, not one string",
        where="tier labels",
        hint="pass e.g. ['A', 'B', 'C']",
    )
    labels = [str(label) for label in labels]
    n = len(labels)
    require(
        n >= 2,
        f"At least 2 tiers are needed to assign roles, got {n}: {labels}",
        where="tier labels",
        hint="define 2 to 7 tiers",
    )
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    require(
        not dupes,
        f"Tier labels must be unique; repeated: {', '.join(dupes)}",
        where="tier labels",
        hint="give every tier its own label",
    )
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
