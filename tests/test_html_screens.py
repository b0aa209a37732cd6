"""The demo's ``report.html`` in a real browser: headless Chromium (Debian's ``chromium``)
at 1280 and 390 CSS px wide, in English and Chinese.

Measured in the browser, not computed: the page is shown in an ``<iframe>`` of the width
under test, and a small script of the host page runs on ``load`` and writes its
measurements into the DOM, which ``--dump-dom`` prints:
the page's ``scrollWidth`` against the viewport (no sideways page scroll), and for every
chart the image the browser chose (its type, whether it decoded) and the rendered size
of each of its ``<text>`` elements: the SVG is parsed from the ``<img>``'s source and
laid out at the ``<img>``'s rendered width, and each text's font size is multiplied by
its screen transformation (``getScreenCTM``, so the ``viewBox`` scaling and rotations
count); and whether the browser decodes the fonts the charts embed. Screenshots of the
chart sections go to the test's ``tmp_path``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tiering.present.charts import MIN_SCREEN_TEXT_PX

pytestmark = pytest.mark.slow

WIDTHS = (1280, 390)
CHART_SECTIONS = ("sec-profiles", "sec-stats", "sec-migration")
_CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)

# Headless Chromium lays a window out at least 500 px wide (a narrower --window-size is
# only cropped), so the page is shown in an <iframe> of the width under test: its
# viewport, media queries included, is that wide. The script runs in the host page,
# which shares the frame's origin (srcdoc).
_HOST = """<!DOCTYPE html><html><head><meta charset="utf-8"></head>
<body style="margin:0"><iframe id="page" style="display:block;border:0;width:{width}px;height:{height}px"
 srcdoc="{page}"></iframe>{script}</body></html>"""

_MEASURE = """<script>
window.addEventListener("load", function () {
  var win = document.getElementById("page").contentWindow, doc = win.document;
  var root = doc.documentElement;
  var out = {innerWidth: win.innerWidth, scrollWidth: root.scrollWidth, charts: []};
  var host = doc.createElement("div");
  host.style.cssText = "position:absolute;left:0;top:0;visibility:hidden";
  doc.body.appendChild(host);
  doc.querySelectorAll("figure.chart img").forEach(function (img) {
    var box = img.getBoundingClientRect();
    var src = img.currentSrc || img.src;
    var chart = {alt: img.alt, width: box.width, type: src.slice(5, src.indexOf(";")),
                 decoded: img.complete && img.naturalWidth > 0, texts: 0,
                 smallest: null, smallest_text: null};
    if (src.indexOf("data:image/svg+xml;base64,") === 0) {
      var bytes = Uint8Array.from(atob(src.split(",")[1]), function (c) { return c.charCodeAt(0); });
      var parsed = new DOMParser().parseFromString(new TextDecoder().decode(bytes), "image/svg+xml");
      var svg = doc.importNode(parsed.documentElement, true);
      svg.setAttribute("width", box.width);
      svg.setAttribute("height", box.height);
      host.appendChild(svg);
      svg.querySelectorAll("text").forEach(function (t) {
        var m = t.getScreenCTM();
        var px = parseFloat(win.getComputedStyle(t).fontSize) * Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
        chart.texts += 1;
        if (chart.smallest === null || px < chart.smallest) {
          chart.smallest = px;
          chart.smallest_text = t.textContent;
        }
      });
    }
    out.charts.push(chart);
  });
  // the charts' embedded fonts (their @font-face rules joined the frame's fonts when
  // the SVGs were inlined): does the browser decode them?
  var faces = [];
  doc.fonts.forEach(function (face) { faces.push(face); });
  Promise.all(faces.map(function (face) {
    return face.load().then(function () { return [face.family, face.weight, "loaded"]; },
                            function () { return [face.family, face.weight, "error"]; });
  })).then(function (loaded) {
    out.fonts = loaded;
    host.remove();
    var pre = document.createElement("pre");
    pre.id = "tiering-measure";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
});
</script>"""


def _host(page_html: str, width: int, height: int, script: str = "") -> str:
    return _HOST.format(
        width=width, height=height, page=html.escape(page_html, quote=True), script=script
    )


def _chromium(tmp: Path, width: int, height: int, url: str, *args: str) -> str:
    if _CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; `make setup`)")
    command = [
        _CHROMIUM,
        "--headless",
        "--no-sandbox",  # root in containers
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        f"--window-size={width},{height}",
        "--virtual-time-budget=10000",
        *args,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module", params=["en", "zh"])
def demo_html(request, shared_demo) -> tuple[str, Path]:
    """The full demo report's page, as the test run builds it once (read only)."""
    if _CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; `make setup`)")
    language = request.param
    return language, shared_demo(language) / "report.html"


def _measure(page: Path, tmp: Path, width: int) -> dict:
    copy = tmp / f"measure-{width}.html"
    copy.write_text(_host(page.read_text(encoding="utf-8"), width, 900, _MEASURE), "utf-8")
    dom = _chromium(tmp, max(width, 500), 900, copy.as_uri(), "--dump-dom")
    found = re.search(r'<pre id="tiering-measure">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the measuring script did not run"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scroll_and_chart_text_at_least_9px(demo_html, tmp_path, width):
    language, page = demo_html
    got = _measure(page, tmp_path, width)
    assert got["innerWidth"] == width
    assert got["scrollWidth"] <= got["innerWidth"], f"the page scrolls sideways at {width} px"
    charts = got["charts"]
    assert len(charts) >= 10  # the demo's charts: profiles, statistics, holdout, migration
    for chart in charts:
        assert chart["type"] == "image/svg+xml", chart["alt"]
        assert chart["decoded"], f"the browser could not show {chart['alt']!r}"
        assert chart["texts"] > 0, chart["alt"]
        assert chart["smallest"] >= MIN_SCREEN_TEXT_PX - 0.01, (
            f"{language} at {width} px: {chart['smallest_text']!r} in {chart['alt']!r} is "
            f"{chart['smallest']:.2f} px"
        )
    # every chart brings its fonts, and the browser decodes every one of them
    assert len(got["fonts"]) >= len(charts)
    assert {state for _, _, state in got["fonts"]} == {"loaded"}, got["fonts"]
    assert {weight for _, weight, _ in got["fonts"]} == {"400", "700"}  # titles are bold
    if width == 1280:  # room enough: every chart at its designed width (or its minimum)
        designed = [
            max(int(size), int(minimum))
            for minimum, size in re.findall(
                r'style="--chart-min-width: (\d+)px" width="(\d+)"', page.read_text()
            )
        ]
        assert [round(c["width"]) for c in charts] == designed


@pytest.mark.parametrize("width", WIDTHS)
def test_screenshots_of_the_chart_sections(demo_html, tmp_path, width):
    """One screenshot per chart section (the page with only that section shown), kept in
    ``tmp_path`` to look at."""
    from PIL import Image

    language, page = demo_html
    text = page.read_text(encoding="utf-8")
    for section in CHART_SECTIONS:
        assert f'id="{section}"' in text
        only = (
            "<style>section.cover, nav.toc { display: none; }"
            f" main.content > div.cell:not(:has(#{section})) {{ display: none; }}</style>"
        )
        copy = tmp_path / f"{section}.html"
        copy.write_text(_host(text.replace("</head>", only + "</head>", 1), width, 2400), "utf-8")
        shot = tmp_path / f"{language}-{width}-{section}.png"
        _chromium(tmp_path, width, 2400, copy.as_uri(), f"--screenshot={shot}")
        with Image.open(shot) as image:
            assert image.size == (width, 2400)
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is None or len(colours) > 50, f"{shot} is (nearly) blank"
