"""One :class:`Locale` per report language: everything about a language that is not a
translated sentence — the html ``lang``, how lists and clauses are joined, how large
numbers and money are shortened, how dates are written, whether a name is lower-cased
inside a sentence.

The built-in report languages are the keys of :data:`LOCALES`, listed here and nowhere
else: the parameters, the command line, the charts and the HTML take them from
:func:`languages`. Sentences live in the catalogues of :mod:`tiering.present.i18n`.

A language of one's own is a :class:`Locale` with ``fallback`` (the built-in language
whose sentences it starts from), its own ``texts`` (catalogue key -> sentence, the
playbook's texts by their English wording) and optionally ``translate`` (applied to
every sentence taken from the fallback: pseudo-localisation for testing). Add it for
this process with :func:`register_language`, or for every process (the report
notebook's kernel too) as an entry point in the group ``tiering.languages`` whose
object is the ``Locale``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tiering import plugins
from tiering.errors import TieringError


@dataclass(frozen=True)
class Locale:
    """What a language needs beyond its translated sentences.

    ``number_units`` / ``money_units``: ``(threshold, suffix, decimals)`` from the
    largest, used to shorten numbers on charts and compact money in text (万/亿 in
    Chinese, M/B and m in English). ``lowercase_in_sentence``: a display name such as
    "Net spend" becomes "net spend" inside a sentence (not "AOV", "L90D spend" or "Q4").
    """

    code: str
    html_lang: str
    list_sep: str  # between items: "A, B" / "A、B"
    clause_sep: str  # between clauses: "x; y" / "x；y"
    comma: str  # between fields in running text: "a = x, b = y" / "a = x，b = y"
    number_units: tuple[tuple[float, str, int], ...]
    money_units: tuple[tuple[float, str, int], ...]
    lowercase_in_sentence: bool
    humanise_columns: bool  # an unknown column "net_gain" is shown as "net gain"
    date_pattern: str  # fields year, month, day, mon (the month's abbreviated name)
    fallback: str | None = None  # an added language: the built-in one it starts from
    texts: Mapping[str, str] = field(default_factory=dict)  # its own sentences by key
    translate: Callable[[str], str] | None = None  # applied to the fallback's sentences
    #: the months' abbreviated names, January first (``mon`` in dates and period labels;
    #: never the process's C locale)
    month_names: tuple[str, ...] = (
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    )

    def text(self, key: str, by_language: Mapping[str, str]) -> str | None:
        """This language's sentence for ``key`` from ``by_language`` (a catalogue entry
        or a playbook text, ``{en: ..., zh: ...}``): its own, else the fallback's
        (translated when ``translate`` is set). None when there is none."""
        own = by_language.get(self.code)
        if own is None and key:
            own = self.texts.get(key)
        if own is not None:
            return own
        if self.fallback is None:
            return by_language.get("en")
        base = by_language.get(self.fallback) or by_language.get("en")
        if base is None:
            return None
        return self.translate(base) if self.translate is not None else base

    def join(self, items) -> str:
        return self.list_sep.join(items)

    def join_clauses(self, items) -> str:
        return self.clause_sep.join(items)

    def in_sentence(self, name: str) -> str:
        """``name`` as it reads inside a sentence ("Net spend" → "net spend"; "AOV" stays)."""
        if self.lowercase_in_sentence and name[:1].isupper() and name[1:2].islower():
            return name[0].lower() + name[1:]
        return name

    def column(self, column: str) -> str:
        """A column without a catalogue name, as shown to a reader."""
        return column.replace("_", " ") if self.humanise_columns else column

    def month(self, month: int) -> str:
        """The abbreviated name of ``month`` (1-12): "Dec"."""
        return self.month_names[month - 1]

    def date(self, d) -> str:
        import pandas as pd  # here: the report's second process renders without pandas

        d = pd.Timestamp(d)
        return self.date_pattern.format(
            year=d.year, month=d.month, day=d.day, mon=self.month(d.month)
        )


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


LOCALES: dict[str, Locale] = {
    "en": Locale(
        code="en",
        html_lang="en",
        list_sep=", ",
        clause_sep="; ",
        comma=", ",
        number_units=((1e9, "B", 2), (1e6, "M", 2)),
        money_units=((1e6, "m", 2),),
        lowercase_in_sentence=True,
        humanise_columns=True,
        date_pattern="{day} {mon} {year}",
    ),
    "zh": Locale(
        code="zh",
        html_lang="zh-CN",
        list_sep="、",
        clause_sep="；",
        comma="，",
        number_units=((1e8, "亿", 2), (1e4, "万", 1)),
        money_units=((1e8, "亿", 2), (1e4, "万", 1)),
        lowercase_in_sentence=False,
        humanise_columns=False,
        date_pattern="{year}年{month}月{day}日",
        month_names=tuple(f"{m}月" for m in range(1, 13)),
    ),
}
#: The built-in languages.
LANGUAGES: tuple[str, ...] = tuple(LOCALES)
GROUP = "tiering.languages"
_CODE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_added: dict[str, Locale] = {}
_entry_points_loaded = False


def _check(loc: object, source: str) -> Locale:
    if not isinstance(loc, Locale):
        raise TieringError(
            f"A report language must be a tiering.locale.Locale, got {type(loc).__name__}",
            where=source,
        )
    if not _CODE_RE.match(loc.code) or loc.code in LOCALES:
        raise TieringError(
            f"A report language needs a new lower-case code such as 'fr' or "
            f"'en-xa', got {loc.code!r}",
            where=source,
            hint=f"the built-in languages are {', '.join(LANGUAGES)}",
        )
    if len(loc.month_names) != 12:
        raise TieringError(
            f"The report language {loc.code!r} needs 12 month names, got {len(loc.month_names)}",
            where=source,
        )
    if loc.fallback not in LOCALES:
        raise TieringError(
            f"The report language {loc.code!r} needs a built-in fallback "
            f"language, got {loc.fallback!r}",
            where=source,
            hint=f"fallback: one of {', '.join(LANGUAGES)}",
        )
    return loc


def register_language(loc: Locale) -> None:
    """Add a report language for this process."""
    _added[_check(loc, "register_language").code] = loc


def unregister_language(code: str) -> None:
    _added.pop(code, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for loc, source in plugins.installed(GROUP, skip=_added):
        _added[_check(loc, source).code] = loc


def languages() -> tuple[str, ...]:
    """Every report language: the built-in ones, then those added."""
    _load_entry_points()
    return (*LANGUAGES, *_added)


def get(language: str, *, where: str = "language") -> Locale:
    """The locale of ``language``; a clear error for an unknown one."""
    if language in LOCALES:
        return LOCALES[language]
    _load_entry_points()
    try:
        return _added[language]
    except (KeyError, TypeError):
        raise TieringError(
            f"Unknown language {language!r}",
            where=where,
            hint=f"use one of {', '.join(languages())}",
        ) from None


def short_number(value: float, language: str) -> str:
    """A number for a chart label: thousands separators, large values shortened by the
    locale's units (12.5万, 1.2M)."""
    loc = get(language)
    if value is None or not math.isfinite(value):
        return "–"
    sign = "-" if value < 0 else ""
    a = abs(float(value))
    for threshold, suffix, decimals in loc.number_units:
        if a >= threshold:
            return f"{sign}{_trim(f'{a / threshold:,.{decimals}f}')}{suffix}"
    if a >= 100 or a == 0 or float(a).is_integer():
        return f"{sign}{a:,.0f}"
    if a >= 1:
        return f"{sign}{_trim(f'{a:,.1f}')}"
    return f"{sign}{a:.2g}"


def money(x, language: str, currency: str, *, compact: bool = False) -> str:
    """Money in text: ``¥1,234`` (two decimals below 100); ``compact`` shortens large
    amounts by the locale's money units (¥12.5万, $1.20m)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    sign = "-" if x < 0 else ""
    v = abs(float(x))
    if compact:
        for threshold, suffix, decimals in get(language).money_units:
            if v >= threshold:
                return f"{sign}{currency}{v / threshold:,.{decimals}f}{suffix}"
    return f"{sign}{currency}{v:,.0f}" if v >= 100 else f"{sign}{currency}{v:,.2f}"
