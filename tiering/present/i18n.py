"""Report text in English and Chinese, and in any language added (:mod:`tiering.locale`).

Strings live in YAML catalogues under ``tiering/text/`` (one file per area:
``report.yaml``, ``stats.yaml``, ``charts.yaml``, ``strategy.yaml`` ...). Each file
maps a key to ``{en: ..., zh: ...}``; keys are namespaced by the file stem, so
``t("stats.finding_ratio", "zh", ratio=6.1)`` reads key ``finding_ratio`` of
``stats.yaml``. Formatting uses ``str.format`` fields.

The playbook's texts (``{en: ..., zh: ...}``) are read with :func:`pick`, so a
language added from outside gets its own text or its fallback's, translated.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import yaml

from tiering import locale
from tiering.errors import TieringError

__all__ = ["has", "listing", "pick", "t", "tn"]
# libyaml's loader reads the catalogues in 0.012 s instead of 0.17 s (pure Python)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DIR = Path(__file__).resolve().parents[1] / "text"


@cache
def _catalogue() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(_DIR.glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            entries = yaml.load(fh, Loader=_LOADER) or {}  # noqa: S506 - a safe loader
        for key, value in entries.items():
            merged[f"{path.stem}.{key}"] = value
    return merged


def t(key: str, language: str, /, **fields) -> str:
    """The text for ``key`` in ``language``, formatted with ``fields``."""
    loc = locale.get(language)
    entry = _catalogue().get(key)
    if entry is None:
        raise TieringError(
            f"Missing report text {key!r}",
            where="tiering/text",
            hint="add the key to the catalogue in both languages",
        )
    text = loc.text(key, entry)
    return text.format(**fields) if fields else text


def tn(key: str, language: str, count, /, **fields) -> str:
    """The text for ``key`` worded for ``count``: ``key_none`` when ``count`` is 0 and
    ``key_one`` when it is 1 (where the catalogue has them), else ``key``; ``fields``
    carry the count as formatted for display ("no customers", "one customer", never
    "1 customers")."""
    variant = {0: "_none", 1: "_one"}.get(count) if count is not None else None
    if variant and has(key + variant):
        key += variant
    return t(key, language, **fields)


def has(key: str) -> bool:
    """Whether the catalogue has ``key``."""
    return key in _catalogue()


def pick(texts: Mapping[str, str], language: str) -> str:
    """A playbook text ``{en: ..., zh: ...}`` in ``language``: its own wording, else
    an added language's sentence for the English wording (:attr:`Locale.texts
    <tiering.locale.Locale.texts>`), else the fallback's, translated."""
    text = locale.get(language).text(str(texts.get("en") or ""), texts)
    if text is None:
        raise TieringError(
            f"A text has no wording in {language!r} or its fallback: {texts!r}", where="playbook"
        )
    return text


def listing(items, language: str) -> str:
    """Items as a list inside a sentence: "a", "a and b", "a, b and c" ("a、b和c")."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    rest = locale.get(language).join(items[:-1])
    return t("report.list_and", language, rest=rest, last=items[-1])
