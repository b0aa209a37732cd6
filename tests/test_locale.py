"""tiering.locale: what a language needs beyond its sentences, in one place."""

from __future__ import annotations

import datetime as dt

import pytest

from tiering import cli, locale, params
from tiering.errors import TieringError
from tiering.present import i18n


def test_the_languages_are_listed_once():
    assert locale.LANGUAGES == ("en", "zh")
    assert not hasattr(i18n, "LANGUAGES")  # listed in tiering.locale only
    assert locale.languages() == locale.LANGUAGES  # no language added in this process
    with pytest.raises(
        params.ParamsError, match="unknown report language 'fr'; choose one of en, zh"
    ):
        params.validate({"data": {"path": "x.csv"}, "language": "fr"})
    choices = next(
        a.choices
        for sub in cli._parser()._subparsers._group_actions
        for name, p in sub.choices.items()
        if name == "batch"
        for a in p._actions
        if a.dest == "language"
    )
    assert tuple(choices) == locale.LANGUAGES


@pytest.mark.parametrize(
    "value, en, zh",
    [
        (0, "0", "0"),
        (12.5, "12.5", "12.5"),
        (0.0123, "0.012", "0.012"),
        (950, "950", "950"),
        (12_345, "12,345", "1.2万"),
        (2_500_000, "2.5M", "250万"),
        (123_456_789, "123.46M", "1.23亿"),
        (3_000_000_000, "3B", "30亿"),
        (-45_000, "-45,000", "-4.5万"),
        (float("nan"), "–", "–"),
    ],
)
def test_short_numbers(value, en, zh):
    assert locale.short_number(value, "en") == en
    assert locale.short_number(value, "zh") == zh


@pytest.mark.parametrize(
    "value, compact, en, zh",
    [
        (12.5, False, "$12.50", "¥12.50"),
        (1234.5, False, "$1,234", "¥1,234"),
        (56_789, True, "$56,789", "¥5.7万"),
        (2_345_678, True, "$2.35m", "¥234.6万"),
        (312_000_000, True, "$312.00m", "¥3.12亿"),
        (-1500, True, "-$1,500", "-¥1,500"),
        (None, False, "–", "–"),
    ],
)
def test_money(value, compact, en, zh):
    assert locale.money(value, "en", "$", compact=compact) == en
    assert locale.money(value, "zh", "¥", compact=compact) == zh


def test_dates_joins_and_names_in_a_sentence():
    en, zh = locale.get("en"), locale.get("zh")
    assert en.date(dt.date(2024, 1, 5)) == "5 Jan 2024"
    assert zh.date(dt.date(2024, 1, 5)) == "2024年1月5日"
    assert en.join(["A", "B"]) == "A, B" and zh.join(["A", "B"]) == "A、B"
    assert en.join_clauses(["x", "y"]) == "x; y" and zh.join_clauses(["x", "y"]) == "x；y"
    assert en.in_sentence("Net spend") == "net spend"
    assert en.in_sentence("AOV") == "AOV" and en.in_sentence("A") == "A"
    assert (
        en.in_sentence("L90D spend") == "L90D spend"
        and en.in_sentence("Q4 revenue") == "Q4 revenue"
    )
    assert zh.in_sentence("Net spend") == "Net spend"
    assert en.column("net_gain") == "net gain" and zh.column("net_gain") == "net_gain"
    assert en.html_lang == "en" and zh.html_lang == "zh-CN"
    assert en.month(12) == "Dec" and zh.month(12) == "12月"  # never the process's C locale


def test_an_unknown_language_is_a_clear_error():
    with pytest.raises(TieringError, match="Unknown language 'fr'") as info:
        locale.get("fr")
    assert info.value.hint == "use one of en, zh"
