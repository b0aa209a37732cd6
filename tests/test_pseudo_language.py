"""A language added from outside the package reaches every sentence of the report
(issue 17): a pseudo-language, defined inside the test, wraps every sentence it takes
from English in ⟦ ⟧. The demo report built in it must show no Chinese punctuation or
万/亿 units (nothing falls back to Chinese rules) and no English word outside the
brackets except data (client, tiers, customers, regions, file names, numbers, dates)."""

from __future__ import annotations

import html.parser
import re
import subprocess
import sys

import pandas as pd
import pytest

from tiering import locale, params
from tiering.present.i18n import t

from .conftest import ROOT, install_plugin

PSEUDO_SOURCE = """
import dataclasses

from tiering.locale import LOCALES


def wrap(text):
    return "\\u27e6" + text + "\\u27e7"


PSEUDO = dataclasses.replace(LOCALES["en"], code="en-xa", html_lang="en-XA", fallback="en",
                             translate=wrap)
"""
OPEN, CLOSE = "\u27e6", "\u27e7"
CJK_RULES = re.compile("[万亿，、；：（）。]")


@pytest.fixture
def pseudo(tmp_path, monkeypatch):
    """The language installed for this process and its children (the report's kernel)."""
    install_plugin(
        tmp_path,
        monkeypatch,
        module="pseudo_language",
        source=PSEUDO_SOURCE,
        group="tiering.languages",
        entry="en-xa = pseudo_language:PSEUDO",
    )
    monkeypatch.setattr(locale, "_added", {})
    monkeypatch.setattr(locale, "_entry_points_loaded", False)
    yield "en-xa"
    sys.modules.pop("pseudo_language", None)  # imported during the test


def test_an_added_language_is_validated_and_translates_the_catalogue(pseudo):
    assert locale.languages() == ("en", "zh", "en-xa")
    assert params.validate({"data": {"path": "x.csv"}, "language": pseudo}).language == pseudo
    assert t("report.sec_method", pseudo) == OPEN + t("report.sec_method", "en") + CLOSE
    assert locale.get(pseudo).html_lang == "en-XA"
    with pytest.raises(
        params.ParamsError, match="unknown report language 'en-xb' \\(did you mean 'en-xa'\\?\\)"
    ):
        params.validate({"data": {"path": "x.csv"}, "language": "en-xb"})


class _Text(html.parser.HTMLParser):
    """Text nodes of the body, without scripts and styles."""

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.nodes: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "title", "head"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title", "head"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.nodes.append(data)


def _without_data(text: str, file_names: set[str]) -> str:
    """``text`` without what is data though it looks like words: the names of the files
    the report wrote and read (``tier_summary.csv``) and hex digests (the input's SHA-256)."""
    for name in sorted(file_names, key=len, reverse=True):
        text = text.replace(name, " ")
    return re.sub(r"\b[0-9a-fA-F]{32,}\b", " ", text)


def _unwrapped(text: str) -> str:
    """The text outside ⟦ ⟧ (nested brackets too)."""
    inner = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
    while True:
        stripped = inner.sub(" ", text)
        if stripped == text:
            return text
        text = stripped


def _data_words() -> set[str]:
    """Words that are data: the demo file's values and headers, the parameters' texts."""
    words = set()
    for name in ("demo_transactions.csv", "demo_customers.csv", "demo_campaigns.csv"):
        frame = pd.read_csv(ROOT / "data" / name, dtype=str)
        frame = frame.drop(columns=["amount", "list_status"], errors="ignore")  # list: ours
        for value in [*frame.columns, *pd.unique(frame.to_numpy().ravel())]:
            words.update(re.findall(r"[A-Za-z]+", str(value)))
    for value in (
        "Demo Retail Co.",
        "Tiering Analytics",
        "demo_transactions.csv demo_customers.csv demo_campaigns.csv",
        "A B C",
        "utf-8 UTF-8 csv CSV SHA sha256 PDF HTML",  # formats and encodings
        "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",  # dates: the locale's
        "Q1 Q2 Q3 Q4",
    ):
        words.update(re.findall(r"[A-Za-z]+", value))
    return words


@pytest.mark.slow
def test_the_demo_report_in_a_pseudo_language_has_no_untranslated_text(pseudo, tmp_path):
    from tiering import cli

    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "report",
                str(ROOT / "params" / "demo.yaml"),
                "--set",
                f"language={pseudo}",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en-XA"' in page
    parser = _Text()
    parser.feed(page)
    allowed = _data_words()
    file_names = {p.name for p in out.iterdir()} | {"demo_transactions.csv"}
    leftovers: dict[str, str] = {}
    for node in parser.nodes:
        for word in re.findall(r"[A-Za-z]{2,}", _without_data(_unwrapped(node), file_names)):
            if word not in allowed and not re.fullmatch(r"[A-F0-9a-f]{6,}", word):
                leftovers.setdefault(word, node.strip()[:120])
    assert leftovers == {}, "English outside the pseudo-language's brackets:\n" + "\n".join(
        f"  {w!r} in {ctx!r}" for w, ctx in sorted(leftovers.items())
    )
    pdf = subprocess.run(
        ["pdftotext", "-layout", str(out / "report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert OPEN in pdf and CLOSE in pdf  # the PDF font draws them
    assert not CJK_RULES.findall(pdf), sorted(set(CJK_RULES.findall(pdf)))
    assert not CJK_RULES.findall(page)
    for name in ("tiers.csv", "strategies.csv", "action_lists.csv"):
        text = (out / name).read_text(encoding="utf-8")
        assert not CJK_RULES.findall(text), name


# --------------------------------------------------------------------------- in-process


def _plain(text: str) -> str:
    return text.replace(OPEN, "").replace(CLOSE, "")


@pytest.fixture
def added(monkeypatch):
    """``en-xb``, added in this process with ``register_language``: its own wording of one
    playbook text (the top tier's goal, keyed by its English wording), every other
    sentence English in brackets."""
    import dataclasses

    monkeypatch.setattr(locale, "_added", {})
    monkeypatch.setattr(locale, "_entry_points_loaded", True)  # installed languages: none
    locale.register_language(
        dataclasses.replace(
            locale.LOCALES["en"],
            code="en-xb",
            html_lang="en-XB",
            fallback="en",
            texts={"Retain and grow": "Own goal of the top tier"},
            translate=lambda text: OPEN + text + CLOSE,
        )
    )
    return "en-xb"


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tier": ["A", "B", "C"],
            "tier_rank": [1, 2, 3],
            "customers": [312, 1_188, 1_500],
            "customer_share": [0.104, 0.396, 0.5],
            "revenue": [2_136_000.0, 690_000.0, 174_000.0],
            "revenue_share": [0.712, 0.23, 0.058],
            "monetary_median": [8420.0, 1234.5, 45.5],
            "recency_median": [23.0, 61.5, 240.0],
        }
    )


def test_an_added_language_gets_the_playbook_texts_of_its_fallback_translated(added):
    from tiering.analysis.playbook import LIST_FIELDS, ROLE_FIELDS
    from tiering.present.strategy_text import dormant_strategy, tier_strategies

    xb = tier_strategies(_summary(), language=added)
    en = tier_strategies(_summary(), language="en")
    assert xb.loc[0, "goal"] == "Own goal of the top tier"  # its own wording wins
    for field in (*ROLE_FIELDS, "headline"):
        for i in range(len(en)):
            if (field, i) == ("goal", 0):
                continue
            mine, theirs = xb.loc[i, field], en.loc[i, field]
            for a, b in (
                zip(mine, theirs, strict=True) if field in LIST_FIELDS else [(mine, theirs)]
            ):
                assert a.startswith(OPEN) and a.endswith(CLOSE), (field, a)
                assert _plain(a) == b
    plan, plan_en = dormant_strategy(language=added), dormant_strategy(language="en")
    assert {
        k: _plain(v) if isinstance(v, str) else [_plain(x) for x in v] for k, v in plan.items()
    } == plan_en
    assert plan["goal"] == OPEN + plan_en["goal"] + CLOSE


def test_an_added_language_reaches_the_action_lists_and_the_triggers(added, tmp_path):
    from tiering.analysis.strategy import recommend
    from tiering.build.action_lists import action_list, write_action_lists
    from tiering.present.strategy_text import findings

    from .test_actions import tiers_table

    tiers = tiers_table()
    tiers["segment"] = ["Champions", "loyal", "unknown to the playbook"] * 3
    recs = recommend(tiers)
    xb, en = action_list(tiers, recs, language=added), action_list(tiers, recs, language="en")
    assert list(xb.columns) == list(en.columns)
    assert list(xb["customer_id"]) == list(en["customer_id"])
    for column in ("recommended_action", "at_risk"):
        assert all(v.startswith(OPEN) and v.endswith(CLOSE) for v in xb[column]), column
        assert [_plain(v) for v in xb[column]] == list(en[column])
    assert [_plain(v) for v in xb["signals"]] == list(en["signals"])
    assert (xb["signals"] != "").any()  # triggers fired: their names are translated too
    known = en["segment"] != "unknown to the playbook"
    assert list(xb.loc[known, "segment"]) == [OPEN + s + CLOSE for s in en.loc[known, "segment"]]
    assert list(xb.loc[~known, "segment"]) == list(en.loc[~known, "segment"])  # data
    fx, fe = findings(recs, language=added), findings(recs, language="en")
    assert len(fx) > 0
    for column in ("name", "finding", "action"):
        assert [_plain(v) for v in fx[column]] == list(fe[column]), column
    write_action_lists(tiers, recs, tmp_path, language=added)
    import openpyxl

    header = [
        c.value
        for c in next(
            openpyxl.load_workbook(tmp_path / "action_lists.xlsx", read_only=True)
            .worksheets[0]
            .iter_rows(max_row=1)
        )
    ]
    assert all(h.startswith(OPEN) for h in header), header


def test_tiering_batch_accepts_an_added_language(added, tmp_path, capsys):
    from tiering import cli

    bad = tmp_path / "broken.yaml"
    bad.write_text("client: Broken\ndata: {path: tx.csv}\nlanguage: fr\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["batch", str(bad), "--output", str(out), "--language", added]) == 1
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en-XB">' in page
    title = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert title.startswith(OPEN) and title.endswith(CLOSE)
    with pytest.raises(SystemExit):  # not a language of this process
        cli.main(["batch", str(bad), "--output", str(out), "--language", "en-xc"])
    assert "invalid choice: 'en-xc'" in capsys.readouterr().err
