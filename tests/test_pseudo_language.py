"""A language added from outside the package reaches every sentence of the report
(issue 17): a pseudo-language, defined inside the test, wraps every sentence it takes
from English in ⟦ ⟧. The demo report built in it must show no Chinese punctuation or
万/亿 units (nothing falls back to Chinese rules) and no English word outside the
brackets except data (client, tiers, customers, regions, file names, numbers, dates)."""

from __future__ import annotations

import html.parser
import os
import re
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from tiering import locale, params
from tiering.present.i18n import t

from .conftest import ROOT

PSEUDO_SOURCE = '''
import dataclasses

from tiering.locale import LOCALES


def wrap(text):
    return "\\u27e6" + text + "\\u27e7"


PSEUDO = dataclasses.replace(LOCALES["en"], code="en-xa", html_lang="en-XA", fallback="en",
                             translate=wrap)
'''
OPEN, CLOSE = "\u27e6", "\u27e7"
CJK_RULES = re.compile("[万亿，、；：（）。]")


@pytest.fixture
def pseudo(tmp_path, monkeypatch):
    """The language installed for this process and its children (the report's kernel)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "pseudo_language.py").write_text(textwrap.dedent(PSEUDO_SOURCE), encoding="utf-8")
    info = site / "pseudo_language-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pseudo-language\nVersion: 1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[tiering.languages]\nen-xa = pseudo_language:PSEUDO\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    monkeypatch.setattr(locale, "_added", {})
    monkeypatch.setattr(locale, "_entry_points_loaded", False)
    yield "en-xa"
    sys.modules.pop("pseudo_language", None)


def test_an_added_language_is_validated_and_translates_the_catalogue(pseudo):
    assert locale.languages() == ("en", "zh", "en-xa")
    assert params.validate({"data": {"path": "x.csv"}, "language": pseudo}).language == pseudo
    assert t("report.sec_method", pseudo) == OPEN + t("report.sec_method", "en") + CLOSE
    assert locale.get(pseudo).html_lang == "en-XA"
    with pytest.raises(params.ParamsError, match="unknown report language 'en-xb' \\(did you "
                                                 "mean 'en-xa'\\?\\)"):
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
    frame = pd.read_csv(ROOT / "data" / "demo_transactions.csv", dtype=str)
    words = set()
    for value in [*frame.columns, *pd.unique(frame.drop(columns=["amount"]).to_numpy().ravel())]:
        words.update(re.findall(r"[A-Za-z]+", str(value)))
    for value in ("Demo Retail Co.", "Tiering Analytics", "demo_transactions.csv", "A B C",
                  "utf-8 UTF-8 csv CSV SHA sha256 PDF HTML",         # formats and encodings
                  "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",  # dates: the locale's
                  "Q1 Q2 Q3 Q4"):
        words.update(re.findall(r"[A-Za-z]+", value))
    return words


@pytest.mark.slow
def test_the_demo_report_in_a_pseudo_language_has_no_untranslated_text(pseudo, tmp_path):
    from tiering import cli

    out = tmp_path / "out"
    assert cli.main(["report", str(ROOT / "params" / "demo.yaml"), "--set",
                     f"language={pseudo}", "--output", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en-XA"' in page
    parser = _Text()
    parser.feed(page)
    allowed = _data_words()
    leftovers: dict[str, str] = {}
    for node in parser.nodes:
        for word in re.findall(r"[A-Za-z]{2,}", _unwrapped(node)):
            if word not in allowed and not re.fullmatch(r"[A-F0-9a-f]{6,}", word):
                leftovers.setdefault(word, node.strip()[:120])
    assert leftovers == {}, "English outside the pseudo-language's brackets:\n" + "\n".join(
        f"  {w!r} in {ctx!r}" for w, ctx in sorted(leftovers.items()))
    pdf = subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"],
                         capture_output=True, text=True, check=True).stdout
    assert OPEN in pdf and CLOSE in pdf                     # the PDF font draws them
    assert not CJK_RULES.findall(pdf), sorted(set(CJK_RULES.findall(pdf)))
    assert not CJK_RULES.findall(page)
    for name in ("tiers.csv", "strategies.csv", "action_lists.csv"):
        text = (out / name).read_text(encoding="utf-8")
        assert not CJK_RULES.findall(text), name
