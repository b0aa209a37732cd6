"""Sections rendered ahead (``tiering.present.ahead``): the build renders the sections that
need no value model beside the kernel, which takes them instead of rendering them again.
What a client receives must not depend on who rendered a section."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tiering import params
from tiering.analysis import pipeline
from tiering.build import report
from tiering.present import ahead, narrative

from .conftest import DEMO_PARAMS
from .test_report import write_tiny_client

SECTIONS = ahead.SECTIONS  # as shipped (a test below empties the module's)

# --------------------------------------------------------------------------- the protocol


def _never(a):
    raise AssertionError("rendered although the build delivered it")


def test_without_the_variable_a_section_is_rendered_where_it_is_called(tmp_path, monkeypatch):
    monkeypatch.delenv(ahead.ENV, raising=False)
    (tmp_path / "profiles.html").write_text("<p>from the build</p>", encoding="utf-8")
    assert ahead.shared("profiles")(lambda a: f"<p>{a}</p>")("here") == "<p>here</p>"
    assert not (tmp_path / "profiles.claim").exists()


def test_the_kernel_renders_what_it_claims_first_and_the_build_then_skips_it(tmp_path, monkeypatch):
    monkeypatch.setenv(ahead.ENV, str(tmp_path))
    assert ahead.shared("stats")(lambda a: "<p>kernel</p>")(None) == "<p>kernel</p>"
    assert (tmp_path / "stats.claim").exists()
    calls: list = []
    done = ahead.render_ahead(
        object(), tmp_path, {n: (lambda a, n=n: calls.append(n) or n) for n in ahead.SECTIONS}
    )
    assert "stats" not in done and "stats" not in calls
    assert sorted(done) == sorted(set(ahead.SECTIONS) - {"stats"})
    assert not (tmp_path / "stats.html").exists()


def test_the_kernel_takes_what_the_build_delivered_and_waits_for_what_it_is_rendering(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(ahead.ENV, str(tmp_path))
    release = threading.Event()

    def slow(a):
        release.wait(10)
        return "<p>migration by the build</p>"

    def fast(a):
        return f"<p>{a.__class__.__name__}</p>"

    functions = {n: fast for n in ahead.SECTIONS} | {"migration": slow}
    builder = threading.Thread(target=ahead.render_ahead, args=(object(), tmp_path, functions))
    builder.start()
    while not (tmp_path / "migration.claim").exists():
        time.sleep(0.001)
    # profiles came first and is delivered; migration is claimed and still being rendered
    assert ahead.shared("profiles")(_never)(None) == "<p>Early</p>"
    threading.Timer(0.2, release.set).start()
    t0 = time.monotonic()
    assert ahead.shared("migration")(_never)(None) == "<p>migration by the build</p>"
    assert time.monotonic() - t0 >= 0.1  # it waited for the build
    builder.join(10)


def test_a_section_that_reads_the_value_model_is_given_back_to_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv(ahead.ENV, str(tmp_path))

    def reads_value(a):
        return str(a.value)

    def reads_params(a):
        return str(a.params)

    class Analysis:
        params, value = "p", "v"

    functions = {n: reads_params for n in ahead.SECTIONS} | {"validation": reads_value}
    done = ahead.render_ahead(Analysis(), tmp_path, functions)
    assert "validation" not in done and (tmp_path / "validation.none").exists()
    assert (tmp_path / "data.html").read_text(encoding="utf-8") == "p"
    # the kernel renders it itself, at once, from the analysis it has
    assert ahead.shared("validation")(reads_value)(Analysis()) == "v"


def test_the_early_analysis_refuses_every_late_field_and_cannot_be_changed():
    class Analysis:
        params, value, recommendations, playbook, timings = 1, 2, 3, 4, 5

    early = ahead.Early(Analysis())
    assert early.params == 1
    for name in ahead.LATE_FIELDS:
        with pytest.raises(ahead.LateField):
            getattr(early, name)
        with pytest.raises(ahead.LateField):  # not taken for a missing field
            getattr(early, name, None)
    with pytest.raises(AttributeError):
        early.params = 2


def test_the_kernel_renders_itself_when_the_build_never_delivers(tmp_path, monkeypatch):
    monkeypatch.setenv(ahead.ENV, str(tmp_path))
    (tmp_path / "data.claim").touch()  # claimed by a build that died
    monkeypatch.setattr(ahead, "WAIT_SECONDS", 0.05)
    assert ahead._wait(tmp_path, "data", timeout=0.05) is None
    assert ahead.shared("data")(lambda a: "<p>kernel</p>")(None) == "<p>kernel</p>"


def test_the_build_stops_between_sections_when_told(tmp_path):
    seen: list = []
    done = ahead.render_ahead(
        object(),
        tmp_path,
        {n: (lambda a, n=n: seen.append(n) or n) for n in ahead.SECTIONS},
        keep_going=lambda: len(seen) < 2,
    )
    assert done == list(ahead.SECTIONS[:2])
    assert not (tmp_path / f"{ahead.SECTIONS[2]}.claim").exists()  # left to the kernel


def test_a_section_rendered_ahead_only_ever_reads_the_analysis_through_the_guard():
    # every section the build may render is decorated, and the build calls it undecorated
    for name in ahead.SECTIONS:
        fn = getattr(narrative, f"section_{name}")
        assert fn.__wrapped__ is not fn, name
    # and the others are not shared: they read the value model or the strategy
    for name in ("summary", "value", "strategy", "appendix"):
        assert not hasattr(getattr(narrative, f"section_{name}"), "__wrapped__"), name


# --------------------------------------------------------------------------- the sections


@pytest.mark.slow
def test_the_demo_sections_rendered_before_the_value_model_equal_those_rendered_after(tmp_path):
    """The analysis handed over before the value model gives every shared section the
    bytes the finished analysis gives (the demo: value model, campaigns, migration,
    holdout all on); none of them reads a late field."""
    cfg = params.load(DEMO_PARAMS)
    early: list = []
    with ThreadPoolExecutor(1) as executor:  # the value model is waited for
        final, _ = pipeline.run(cfg, executor=executor, ahead=early.append)
    assert len(early) == 1 and early[0].value is None and final.value is not None
    done = ahead.render_ahead(
        early[0],
        tmp_path,
        {n: getattr(narrative, f"section_{n}").__wrapped__ for n in ahead.SECTIONS},
    )
    assert done == list(ahead.SECTIONS)
    for name in ahead.SECTIONS:
        before = (tmp_path / f"{name}.html").read_text(encoding="utf-8")
        after = getattr(narrative, f"section_{name}").__wrapped__(final)
        assert before == after, name
        assert before, name  # the demo has every section


def _section_outputs(folder) -> dict:
    nb = json.loads((folder / "report.ipynb").read_text(encoding="utf-8"))
    out = {}
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        for name in SECTIONS:
            if f"narrative.section_{name}(analysis)" in source:
                out[name] = json.dumps(cell["outputs"], sort_keys=True)
    return out


@pytest.mark.slow
def test_the_report_is_the_same_whoever_renders_the_sections(tmp_path, monkeypatch, caplog):
    """A build whose process renders every shared section before the notebook runs, and
    one that leaves all of them to the kernel, give the same notebook outputs byte for
    byte (charts included) and the same report page; the sections' folder is not part
    of the report."""
    cfg = params.load(
        write_tiny_client(tmp_path / "in"),
        overrides=["output.formats=[html]", "value.enabled=true"],
    )
    original = report._Ahead.start

    def start_and_finish(self, analysis):
        end_of_wait = original(self, analysis)
        self._ended.wait(60)
        return end_of_wait

    monkeypatch.setattr(report._Ahead, "start", start_and_finish)
    with caplog.at_level(logging.DEBUG, logger="tiering.build.report"):
        by_build = report.build(
            cfg, output=tmp_path / "a", generated=dt.date(2026, 12, 1), render_ahead=True
        )
    assert f"sections rendered ahead: {', '.join(ahead.SECTIONS)}" in caplog.text
    manifest = json.loads((by_build / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["timings_seconds"]["sections_ahead"] > 0
    assert not any(p.name == ".sections" for p in by_build.rglob("*"))

    # the Python API's default: nothing rendered ahead (the caller's matplotlib settings
    # would be the sections'), the kernel renders every section
    by_kernel = report.build(cfg, output=tmp_path / "b", generated=dt.date(2026, 12, 1))
    timings = json.loads((by_kernel / "manifest.json").read_text(encoding="utf-8"))[
        "timings_seconds"
    ]
    assert "sections_ahead" not in timings

    a, b = _section_outputs(by_build), _section_outputs(by_kernel)
    assert sorted(a) == sorted(SECTIONS) == sorted(b)
    for name in SECTIONS:
        assert a[name] == b[name], name
    assert (by_build / "report.html").read_bytes() == (by_kernel / "report.html").read_bytes()
    assert os.environ.get(ahead.ENV) is None  # only the kernel's environment names it


def test_without_a_wait_for_the_value_model_nothing_is_rendered_ahead():
    """The hook comes with the wait: with the value model off, or fitted in this process,
    the report's thread has no idle time to render in (the kernel renders every section
    in its own process)."""
    cfg = params.load(DEMO_PARAMS, overrides=["value.enabled=false", "migration.period=none"])
    called: list = []
    pipeline.run(cfg, ahead=called.append, waiting=lambda: called.append("waiting"))
    assert called == []


def test_the_hook_comes_after_the_kernel_start_and_its_end_once_the_value_model_is_in():
    """``waiting`` (the kernel's start, which imports IPython: a section drawn meanwhile
    saw it half imported) comes first, then ``ahead``; what ``ahead`` returns is called
    when the value model is in, not before."""
    cfg = params.load(DEMO_PARAMS, overrides=["migration.period=none"])
    events: list = []
    gate = threading.Event()

    class Executor:
        def submit(self, fn, /, **kwargs):
            pool = ThreadPoolExecutor(1)

            def job():
                gate.wait(60)
                events.append("value fitted")
                return fn(**kwargs)

            return pool.submit(job)

    def hook(analysis):
        events.append("ahead")
        gate.set()
        return lambda: events.append("end of wait")

    pipeline.run(cfg, executor=Executor(), waiting=lambda: events.append("waiting"), ahead=hook)
    assert events == ["waiting", "ahead", "value fitted", "end of wait"]


def test_the_build_gives_a_section_back_when_it_cannot_write_it(tmp_path, monkeypatch):
    real = ahead._write

    def full_disk(path, text):
        if path.suffix == ".html":
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(ahead, "_write", full_disk)
    done = ahead.render_ahead(object(), tmp_path, {n: (lambda a: "<p/>") for n in SECTIONS})
    assert done == []
    assert sorted(p.name for p in tmp_path.glob("*.none")) == sorted(f"{n}.none" for n in SECTIONS)


@pytest.mark.slow
def test_the_command_renders_ahead_with_matplotlib_on_agg(tmp_path):
    """``tiering report`` (its process is the command's own) renders ahead while the
    value model is fitted, drawing on matplotlib's Agg backend."""
    import matplotlib

    from tiering import cli

    client = write_tiny_client(tmp_path / "in", extra="value: {enabled: true}\n")
    out = tmp_path / "out"
    assert cli.main(["report", str(client), "--output", str(out), "-q"]) == 0
    timings = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["timings_seconds"]
    assert timings["sections_ahead"] > 0
    assert matplotlib.get_backend().lower() == "agg"
