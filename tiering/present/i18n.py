"""Report text in English and Chinese, and in any language added (:mod:`tiering.locale`).

Strings live in YAML catalogues under ``tiering/text/`` (one file per area:
``report.yaml``, ``stats.yaml``, ``charts.yaml``, ``strategy.yaml`` ...). Each file
maps a key to ``{en: ..., zh: ...}``; keys are namespaced by the file stem, so
``t("stats.finding_ratio", "zh", ratio=6.1)`` reads key ``finding_ratio`` of
``stats.yaml``. Formatting uses ``str.format`` fields.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from tiering import locale
from tiering.errors import TieringError
from tiering.locale import LANGUAGES

__all__ = ["LANGUAGES", "has", "t"]
_DIR = Path(__file__).resolve().parents[1] / "text"


@lru_cache(maxsize=None)
def _catalogue() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(_DIR.glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            entries = yaml.safe_load(fh) or {}
        for key, value in entries.items():
            merged[f"{path.stem}.{key}"] = value
    return merged


def t(key: str, language: str, /, **fields) -> str:
    """The text for ``key`` in ``language``, formatted with ``fields``."""
    loc = locale.get(language)
    entry = _catalogue().get(key)
    if entry is None:
        raise TieringError(f"Missing report text {key!r}", where="tiering/text",
                           hint="add the key to the catalogue in both languages")
    text = loc.text(key, entry)
    return text.format(**fields) if fields else text


def has(key: str) -> bool:
    """Whether the catalogue has ``key``."""
    return key in _catalogue()
