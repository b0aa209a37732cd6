"""The slide deck report.pptx (tiering.build.deck): built from the demo analysis in English
and Chinese and opened again with python-pptx: slide count and titles, the tier table's
numbers against tier_summary.csv, the findings in the speaker notes, the East Asian font
on every run, no text taller than its frame by the measured rule (which must see an
overflow), the same bytes twice, ``output.formats``; a slow test converts the deck to PDF
with LibreOffice."""

from __future__ import annotations

import dataclasses
import html.parser
import io
import re
import shutil
import subprocess

import pandas as pd
import pytest
from pptx import Presentation
from pptx.util import Inches, Pt

from tiering import params
from tiering.analysis import pipeline
from tiering.build import deck, outputs, report
from tiering.present import narrative
from tiering.present import stats as stats_text
from tiering.present.i18n import t
from tiering.present.strategy_text import findings, strategies_of

from .conftest import ROOT, need_tool

DEMO = ROOT / "params" / "demo.yaml"
# the deck shows no method comparison; fewer bootstrap samples only change the intervals
FAST = ["tiering.compare_with=[]", "stats.n_boot=200"]
NS = {"a": "http://schemas.openxmlformats.org/drawingml/2006/main"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo analysis and its tables (tier_summary.csv as the report writes it)."""
    analysis, loaded = pipeline.run(params.load(DEMO, overrides=FAST))
    folder = tmp_path_factory.mktemp("tables")
    outputs.write_tables(analysis, loaded, folder)
    return analysis, folder


def in_language(analysis, language: str):
    return dataclasses.replace(
        analysis, params=analysis.params.model_copy(update={"language": language})
    )


@pytest.fixture(scope="module", params=["en", "zh"])
def built(request, demo, tmp_path_factory):
    """(language, analysis, the deck's path, the deck opened with python-pptx)."""
    language = request.param
    a = in_language(demo[0], language)
    path = deck.write_deck(a, tmp_path_factory.mktemp(f"deck-{language}") / "report.pptx")
    return language, a, path, Presentation(str(path))


def titles(prs) -> list[str]:
    return [s.shapes.title.text_frame.text for s in prs.slides]


def expected_titles(a) -> list[str]:
    lang = a.params.language
    tiers = [
        t("deck.tier_title", lang, tier=r["tier"], goal=r["goal"])
        for r in strategies_of(a).to_dict("records")
    ]
    return [
        t("report.title", lang),
        t("deck.agenda", lang),
        t("report.sec_summary", lang),
        t("report.summary_findings", lang),
        t("report.tier_table", lang),
        t("deck.pareto_title", lang),
        t("report.sec_profiles", lang),
        t("report.sec_stats", lang),
        t("holdout.sec_title", lang),
        t("migration.sec_title", lang),
        t("strategy.budget_heading", lang),
        *tiers,
        t("deck.next_steps", lang),
        t("deck.appendix_title", lang),
    ]


def notes(prs) -> list[str]:
    return [s.notes_slide.notes_text_frame.text if s.has_notes_slide else "" for s in prs.slides]


def slide_titled(prs, title: str):
    return next(s for s in prs.slides if s.shapes.title.text_frame.text == title)


# --------------------------------------------------------------------------- content


def test_the_slides_and_their_titles(built):
    language, a, _, prs = built
    assert prs.slide_width == Inches(13.333) and prs.slide_height == Inches(7.5)  # 16:9
    assert titles(prs) == expected_titles(a)
    assert len(prs.slides) == 16  # no continuation slide for the demo
    literal = {
        "en": ["Executive summary", "Tier A: Retain and grow", "Next steps"],
        "zh": ["执行摘要", "A级：保留并提升", "下一步"],
    }[language]
    assert set(literal) <= set(titles(prs))
    agenda = slide_titled(prs, t("deck.agenda", language))
    listed = "\n".join(s.text_frame.text for s in agenda.shapes if s.has_text_frame)
    for title in expected_titles(a)[2:11]:
        assert title in listed


def _table_rows(slide) -> list[list[str]]:
    frame = next(s for s in slide.shapes if s.has_table)
    return [[c.text_frame.text for c in row.cells] for row in frame.table.rows]


def test_the_tier_table_shows_the_numbers_of_tier_summary_csv(built, demo):
    language, _, _, prs = built
    csv = pd.read_csv(demo[1] / "tier_summary.csv", dtype={"tier": str})
    rows = _table_rows(slide_titled(prs, t("report.tier_table", language)))
    assert rows[0][:5] == [
        t("metrics.tier", language),
        t("report.col_customers", language),
        t("report.col_customer_share", language),
        t("report.col_revenue", language),
        t("report.col_revenue_share", language),
    ]
    body = rows[1:]
    assert [r[0] for r in body] == list(csv["tier"])
    assert [int(r[1].replace(",", "")) for r in body] == list(csv["customers"])
    assert [r[2] for r in body] == [f"{x * 100:.1f}%" for x in csv["customer_share"]]
    assert [r[4] for r in body] == [f"{x * 100:.1f}%" for x in csv["revenue_share"]]
    assert [float(re.sub(r"[^\d.]", "", r[3])) for r in body] == pytest.approx(
        list(csv["revenue"]), abs=0.5
    )
    # the table is native and editable: the numbers are text in cells, not a picture
    assert (
        sum(1 for s in slide_titled(prs, t("report.tier_table", language)).shapes if s.has_table)
        == 1
    )


class _Items(html.parser.HTMLParser):
    """The list items of an HTML fragment."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.items: list[str] = []
        self._in = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "li":
            self._in = True
            self.items.append("")

    def handle_endtag(self, tag):
        self._in = self._in and tag != "li"

    def handle_data(self, data):
        if self._in:
            self.items[-1] += data


def test_the_speaker_notes_hold_the_findings_in_full(built):
    language, a, _, prs = built
    all_notes = notes(prs)
    summary = _Items(narrative.section_summary(a)).items
    assert len(summary) >= 4
    summary_notes = all_notes[titles(prs).index(t("report.sec_summary", language))]
    for finding in summary:
        assert finding in summary_notes
    stats_notes = all_notes[titles(prs).index(t("report.sec_stats", language))]
    for sentence in stats_text.describe_findings(a.comparison, language=language):
        assert sentence in stats_notes
    fired = findings(a.recommendations, language=language)
    assert len(fired)
    for f in fired.itertuples():
        title = t("deck.tier_title", language, tier=f.tier, goal="")
        tier_notes = "\n".join(n for n, s in zip(all_notes, titles(prs)) if s.startswith(title))
        assert f.finding in tier_notes and f.action in tier_notes
    # the slides show the summary's lead and key figures as text of their own
    on_slide = "\n".join(
        s.text_frame.text
        for s in slide_titled(prs, t("report.sec_summary", language)).shapes
        if s.has_text_frame
    )
    assert f"{len(a.tiers):,}" in on_slide
    assert t("report.kpi_customers", language) in on_slide


def test_every_run_names_the_east_asian_and_latin_font(built):
    language, _, _, prs = built
    runs = 0
    for slide in prs.slides:
        parts = [slide.element, slide.notes_slide.element]
        for part in parts:
            for run in part.iter(f"{{{NS['a']}}}r"):
                rpr = run.find("a:rPr", NS)
                assert rpr is not None
                assert rpr.find("a:ea", NS).get("typeface") == deck.FONT
                assert rpr.find("a:latin", NS).get("typeface") == deck.FONT
                assert rpr.get("lang") == {"en": "en", "zh": "zh-CN"}[language]
                runs += 1
    assert runs > 200


def test_no_text_is_taller_than_its_frame(built):
    _, _, _, prs = built
    assert deck.overflows(prs) == []
    frames = sum(
        1 for s in prs.slides for shape in s.shapes if shape.has_text_frame or shape.has_table
    )
    assert frames > 100  # the rule ran on the deck's text, not on nothing


def test_the_same_analysis_gives_the_same_bytes(built):
    _, a, path, _ = built
    assert deck.deck_bytes(a) == path.read_bytes()


def test_an_empty_tier_and_no_holdout_or_migration(tmp_path_factory):
    """A small client whose tier C is empty, without the holdout check and migration: their
    slides are left out, the empty tier's slide says so, everything still fits."""
    from .test_narrative import EMPTY_C, tiny_analysis

    a = tiny_analysis(tmp_path_factory, "en", EMPTY_C)
    a = dataclasses.replace(a, holdout=None, migration=None)
    prs = Presentation(io.BytesIO(deck.deck_bytes(a)))
    shown = titles(prs)
    assert t("holdout.sec_title", "en") not in shown
    assert t("migration.sec_title", "en") not in shown
    assert len(shown) == 14
    empty = slide_titled(prs, shown[-3])
    assert shown[-3].startswith("Tier C: ")
    text = "\n".join(s.text_frame.text for s in empty.shapes if s.has_text_frame)
    assert t("strategy.headline_empty", "en") in text
    assert deck.overflows(prs) == []


# --------------------------------------------------------------------------- the measured rule


def _box(text: str, width: float, height: float, size: float = 18):
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    shape = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(width), Inches(height))
    frame = shape.text_frame
    frame.word_wrap = True
    run = frame.paragraphs[0].add_run()
    run.text = text
    run.font.size = Pt(size)
    return shape


def test_the_rule_sees_a_text_that_overflows():
    long = "The tiers differ in net spend by construction. " * 12
    assert deck.text_overflow(_box("Fits easily", 4, 1)) == []
    found = deck.text_overflow(_box(long, 4, 1))
    assert len(found) == 1 and found[0].needed > found[0].available
    assert deck.text_overflow(_box(long, 12, 6)) == []
    # Chinese breaks between characters: a long line is several lines, not one
    chinese = "各等级之间差异有多大" * 12
    assert deck.text_overflow(_box(chinese, 4, 0.5))
    assert deck.line_count([(chinese, 18, False)], 4 * 72) > 5
    # one word longer than the line still counts its lines
    assert deck.line_count([("x" * 200, 18, False)], 2 * 72) > 5


def test_the_rule_sees_a_table_cell_that_overflows():
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    frame = slide.shapes.add_table(2, 2, Inches(1), Inches(1), Inches(4), Inches(0.8))
    frame.table.cell(1, 1).text_frame.text = "a long text in a narrow cell " * 8
    found = deck.text_overflow(frame)
    assert [f.where.split(", ")[-2:] for f in found] == [["row 2", "column 2"]]


def test_fitting_shrinks_then_splits_then_shortens():
    box = deck.Box(0, 0, 4, 2)
    short = [deck.para("A short finding.", bullet=True)]
    kept, size, rest = deck.fit(short, box, 20, 10)
    assert (kept, size, rest) == (short, 20, [])
    many = [deck.para(f"Finding {i}: " + "a sentence of some length " * 3) for i in range(12)]
    kept, size, rest = deck.fit(many, box, 20, 10, split=True)
    assert 0 < len(kept) < 12 and kept + rest == many  # whole paragraphs, in order
    assert deck.fit(kept + rest[:1], box, 20, 10, split=True)[2] == rest[:1]  # no room for more
    kept, size, rest = deck.fit([deck.para("word " * 400)], box, 20, 10)
    assert len(kept) == 1 and kept[0].text.endswith("…") and rest == []
    assert deck.best_size(kept, box, 20, 10) == 10


# --------------------------------------------------------------------------- output.formats


def test_output_formats_accepts_pptx_from_the_command_line():
    cfg = params.load(DEMO, overrides=["output.formats=[html,pdf,pptx]"])
    assert cfg.output.formats == ["html", "pdf", "pptx"]
    assert params.load(DEMO).output.formats == ["html", "pdf"]  # the default is unchanged
    assert report.planned_steps(cfg)[-1] == "pptx"
    with pytest.raises(params.ParamsError, match="output.formats"):
        params.load(DEMO, overrides=["output.formats=[ppt]"])


@pytest.mark.slow
def test_the_report_writes_the_deck_and_lists_it_in_the_manifest(tmp_path):
    import json

    # the value model off: the deck's slides are tested on the full demo in `built`
    cfg = params.load(DEMO, overrides=[*FAST, "value.enabled=false", "output.formats=[pptx]"])
    folder = report.build(cfg, output=tmp_path / "demo", params_path=DEMO)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert "report.pptx" in manifest["outputs"]
    assert not (folder / "report.html").exists() and not (folder / "report.pdf").exists()
    assert manifest["outputs"]["report.pptx"]["bytes"] == (folder / "report.pptx").stat().st_size
    assert "pptx" in manifest["timings_seconds"]
    assert len(Presentation(str(folder / "report.pptx")).slides) == 16
    # a file tiering wrote: the next run replaces the folder
    report.build(cfg, output=folder, params_path=DEMO)
    assert (folder / "report.pptx").is_file()


# --------------------------------------------------------------------------- LibreOffice


@pytest.mark.slow
def test_libreoffice_converts_the_deck_to_pdf_with_every_slide(built, tmp_path):
    language, a, path, prs = built
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("soffice is not installed (libreoffice-impress); run `make setup`")
    pdftotext = need_tool("pdftotext")
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path}/profile",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = tmp_path / "report.pdf"
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert text.count("\f") == len(prs.slides)
    flat = re.sub(r"\s+", "", text)
    for title in titles(prs):
        assert re.sub(r"\s+", "", title) in flat, title
    s = a.tier_summary
    for value in [f"{n:,}" for n in s["customers"]] + [
        f"{x * 100:.1f}%" for x in s["revenue_share"]
    ]:
        assert value in text
    assert t("report.kpi_customers", language).replace(" ", "") in flat
