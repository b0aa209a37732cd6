"""The report's second process (tiering.build.worker): jobs, errors, logs, a lost
process and Ctrl-C; and the report it helps build is the one built without it."""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from concurrent.futures import BrokenExecutor

import pytest

from tiering.build import worker
from tiering.errors import ParamsError, RenderError

from .conftest import COVER_DATE, need_tool
from .test_report import write_tiny_client


@pytest.fixture
def helper():
    made = worker.Worker(["json"])
    yield made
    made.close()


def test_a_job_runs_in_another_process_and_returns_its_result(helper):
    pid = helper.submit(os.getpid).result(timeout=60)
    assert pid != os.getpid()
    assert helper.submit(divmod, 17, 5).result(timeout=60) == (3, 2)
    assert set(helper.seconds) == {"getpid", "divmod"}


def test_jobs_run_in_order_and_keep_their_arguments_as_submitted(helper):
    data = [1, 2, 3]
    first = helper.submit(sum, data)
    data.append(100)  # after submit: the job has the list as it was
    second = helper.submit(sum, data)
    assert (first.result(timeout=60), second.result(timeout=60)) == (6, 106)


def test_a_tiering_error_comes_back_with_where_and_hint(helper):
    job = helper.submit(_raise_render_error)
    with pytest.raises(RenderError) as caught:
        job.result(timeout=60)
    assert caught.value.where == "report.pdf"
    assert caught.value.hint == "free some space"
    assert str(caught.value) == str(
        RenderError("disk full", where="report.pdf", hint="free some space")
    )


def test_errors_pickle_with_their_own_text():
    exc = ParamsError(["a: must be a number", "b: unknown key"], source="p.yaml")
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is ParamsError
    assert (again.problems, again.source, str(again)) == (exc.problems, exc.source, str(exc))


def test_a_failing_job_leaves_the_worker_running(helper):
    with pytest.raises(ZeroDivisionError):
        helper.submit(divmod, 1, 0).result(timeout=60)
    assert helper.submit(divmod, 7, 2).result(timeout=60) == (3, 1)


def test_an_unpicklable_result_is_run_again_here_not_a_hang(helper):
    job = helper.submit(_lock)
    with pytest.raises(worker.WorkerLost, match="cannot be sent back"):
        job.result(timeout=60)
    assert worker.result_or_run(job, _lock).locked() is False  # run here instead
    assert helper.submit(divmod, 7, 2).result(timeout=60) == (3, 1)  # and still running


def test_a_failure_carries_the_worker_s_traceback_as_its_cause(helper):
    with pytest.raises(ZeroDivisionError) as caught:
        helper.submit(_deep_failure).result(timeout=60)
    cause = caught.value.__cause__
    assert "In the report's second process" in str(cause)
    assert "_deep_failure" in str(cause) and "_divide" in str(cause)


def test_a_tiering_error_with_an_unpicklable_part_keeps_type_where_and_hint(helper):
    with pytest.raises(RenderError) as caught:
        helper.submit(_render_error_with_a_lock).result(timeout=60)
    assert (caught.value.message, caught.value.where, caught.value.hint) == (
        "disk full",
        "report.pdf",
        "free some space",
    )


def test_with_debug_the_worker_s_library_records_are_logged_here(monkeypatch, caplog):
    """--debug (the root logger at DEBUG): what WeasyPrint or PyMC log at DEBUG in the
    worker is logged here, as it was when they ran in this process."""
    monkeypatch.setattr(logging.getLogger(), "level", logging.DEBUG)
    made = worker.Worker()
    try:
        with caplog.at_level(logging.DEBUG):
            made.submit(_log, "weasyprint.progress", logging.DEBUG, "Step 5 - Drawing").result(
                timeout=60
            )
    finally:
        made.close()
    assert ("weasyprint.progress", logging.DEBUG, "Step 5 - Drawing") in [
        (r.name, r.levelno, r.getMessage()) for r in caplog.records
    ]


def test_below_the_report_s_level_the_worker_logs_and_prints_nothing(helper, caplog, capfd):
    """The default level (WARNING): a library's INFO record in the worker is neither
    logged here nor printed by a handler the library added itself (PyMC adds one when
    the root logger has none)."""
    with caplog.at_level(logging.WARNING):
        helper.submit(_log_with_own_handler, "pymc", logging.INFO, "Optimizing").result(timeout=60)
    assert "Optimizing" not in [r.getMessage() for r in caplog.records]
    assert "Optimizing" not in capfd.readouterr().err


def test_warnings_logged_in_the_worker_are_logged_here(helper, caplog):
    with caplog.at_level(logging.WARNING, logger="tiering"):
        helper.submit(_log_warning, "font missing: boxes for Chinese").result(timeout=60)
    assert [r.getMessage() for r in caplog.records if r.name == "tiering.build.render"] == [
        "font missing: boxes for Chinese"
    ]


def test_a_lost_worker_fails_the_job_and_result_or_run_runs_it_here(helper):
    job = helper.submit(os._exit, 9)
    with pytest.raises(BrokenExecutor):
        job.result(timeout=60)
    deadline = time.monotonic() + 30  # its socket closes a moment before it is reaped
    while helper.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not helper.alive()
    later = helper.submit(divmod, 9, 4)
    with pytest.raises(worker.WorkerLost):
        later.result(timeout=1)
    assert worker.result_or_run(later, divmod, 9, 4) == (2, 1)


def test_close_stops_a_running_job_at_once_and_fails_what_waits():
    made = worker.Worker()
    job = made.submit(time.sleep, 60)
    time.sleep(0.5)
    started = time.perf_counter()
    made.close()
    assert time.perf_counter() - started < 5
    assert not made.alive()
    with pytest.raises(worker.WorkerLost):
        job.result(timeout=5)
    made.close()  # twice is fine
    with pytest.raises(worker.WorkerLost):
        made.submit(divmod, 1, 1).result(timeout=1)


def test_ctrl_c_at_the_terminal_does_not_reach_the_worker(helper):
    # its own session: the terminal's SIGINT goes to the report's process group only
    assert os.getpgid(helper.submit(os.getpid).result(timeout=60)) != os.getpgid(0)
    # and a SIGINT sent to it anyway is ignored
    pid = helper.submit(os.getpid).result(timeout=60)
    os.kill(pid, signal.SIGINT)
    assert helper.submit(divmod, 5, 5).result(timeout=60) == (1, 0)


def test_no_worker_when_asked_not_to(monkeypatch):
    monkeypatch.setenv("TIERING_NO_WORKER", "1")
    assert worker.start(["json"]) is None


def _raise_render_error():
    raise RenderError("disk full", where="report.pdf", hint="free some space")


def _lock():
    import threading

    return threading.Lock()


def _divide(a, b):
    return a / b


def _deep_failure():
    return _divide(1, 0)


def _render_error_with_a_lock():
    import threading

    exc = RenderError("disk full", where="report.pdf", hint="free some space")
    exc.lock = threading.Lock()
    raise exc


def _log(name, level, message):
    logging.getLogger(name).log(level, message)


def _log_with_own_handler(name, level, message):
    logger = logging.getLogger(name)
    if not logging.getLogger().handlers:  # as PyMC does on import
        logger.addHandler(logging.StreamHandler())
        logger.setLevel(logging.INFO)
    logger.log(level, message)


def _log_warning(message):
    logging.getLogger("tiering.build.render").warning(message)


# --------------------------------------------------------------------------- in a report


def test_the_demo_report_fits_the_value_model_and_writes_its_pdf_beside(shared_demo):
    manifest = json.loads((shared_demo() / "manifest.json").read_text(encoding="utf-8"))
    beside = manifest["second_process_seconds"]
    assert set(beside) == {"value", "pdf"}, beside
    assert all(seconds > 0 for seconds in beside.values())


def test_a_report_whose_second_process_dies_is_built_in_one(tmp_path, monkeypatch):
    """The second process is killed before its first job: the value model and the PDF
    are made in the report's own process, and the report is the one made with it."""
    from tiering import params
    from tiering.build import report

    pdftotext = need_tool("pdftotext")
    client = write_tiny_client(
        tmp_path / "in", extra="value: {enabled: true, min_history_months: 3}\n"
    )
    cfg = params.load(client)
    with_it = report.build(cfg, output=tmp_path / "with", generated=COVER_DATE)

    started = worker.start

    def dead(modules, later=()):
        made = started(modules, later)
        made._process.kill()
        made._process.wait()
        return made

    monkeypatch.setattr(worker, "start", dead)
    without = report.build(cfg, output=tmp_path / "without", generated=COVER_DATE)
    manifest = json.loads((without / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["second_process_seconds"] == {}
    assert manifest["timings_seconds"]["value"] > 0
    text = [
        subprocess.run(
            [pdftotext, "-layout", str(folder / "report.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for folder in (with_it, without)
    ]
    assert "Tiny Co" in text[0]
    assert text[0] == text[1]
    for name in ("tiers.csv", "action_lists.csv", "report.ipynb"):
        assert (with_it / name).read_bytes() == (without / name).read_bytes(), name


def test_the_worker_ends_when_the_report_is_killed_outright(tmp_path):
    """SIGKILL of the report's process (no close()): the second process does not run on
    to the end of its job."""
    script = (
        "import os, sys, time\n"
        "from tiering.build import worker\n"
        "made = worker.Worker()\n"
        "made.submit(time.sleep, 120)\n"
        "print(made.submit.__self__._process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    child = int(proc.stdout.readline())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(child):
        time.sleep(0.1)
    assert not _running(child)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_worker_does_not_import_what_the_report_chose_not_to(monkeypatch):
    """tiering.cli.UNUSED_IMPORTS (None in sys.modules) hold in the worker too: a job that
    imports nbconvert would import rfc3987_syntax (1.1 s)."""
    monkeypatch.setitem(sys.modules, "tiering_test_never_imported", None)
    made = worker.Worker()
    try:
        assert made.submit(_blocked_here, "tiering_test_never_imported").result(timeout=60)
    finally:
        made.close()


def test_later_modules_are_imported_after_the_waiting_job(tmp_path, monkeypatch):
    """The value job runs before the PDF's imports (``later``), which come once the worker
    has nothing waiting; and closing it then ends it at once (``os._exit``): an
    orderly shutdown would first run the exit handlers a job registered."""
    later = "tiering_test_later_module"
    folder = tmp_path
    (folder / f"{later}.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    made = worker.Worker(["pandas"], later=[later])  # pandas: the job waits for it
    try:
        first = made.submit(_imported_here, later)
        assert first.result(timeout=60) is False
        deadline = time.monotonic() + 60
        while not made.submit(_imported_here, later).result(timeout=60):
            assert time.monotonic() < deadline, "the later module was never imported"
            time.sleep(0.1)
        exit_mark = folder / "exited"
        made.submit(_at_exit_write, str(exit_mark)).result(timeout=60)
    finally:
        made.close()
    assert made._process.returncode is not None
    assert not exit_mark.exists()


def test_the_worker_started_early_is_the_one_the_build_takes(monkeypatch):
    """The command line starts the worker before its own imports (start_early); the
    build's start() takes that process, which has imported pandas meanwhile, and sends
    it what to import; one nobody took is closed by discard_early."""
    monkeypatch.delenv("TIERING_NO_WORKER", raising=False)
    worker.start_early()
    early = worker._EARLY[0]
    taken = worker.start(["json"])
    try:
        assert taken is early and worker._EARLY == []
        assert taken.submit(_imported_here, "pandas").result(timeout=60)
        assert taken.submit(divmod, 7, 2).result(timeout=60) == (3, 1)
    finally:
        taken.close()
    worker.start_early()
    untaken = worker._EARLY[0]
    worker.discard_early()
    assert worker._EARLY == [] and not untaken.alive()
    monkeypatch.setenv("TIERING_NO_WORKER", "1")
    worker.start_early()
    assert worker._EARLY == []


def test_what_the_worker_imports_follows_the_parameters():
    """The value model's library first, unless the analysis is made already, then
    WeasyPrint for the PDF; nothing when the report needs neither."""
    from types import SimpleNamespace as NS

    def params(value, formats):
        return NS(value=NS(enabled=value), output=NS(formats=formats))

    assert worker.plan(params(True, ["pdf", "html"])) == (
        worker.VALUE_MODULES,
        list(worker.PDF_MODULES),
    )
    assert worker.plan(params(True, ["pdf"]), analysed=True) == (worker.PDF_MODULES, [])
    assert worker.plan(params(False, ["pdf"])) == (worker.PDF_MODULES, [])
    assert worker.plan(params(True, ["html"])) == (worker.VALUE_MODULES, [])
    assert worker.plan(params(False, ["html", "pptx"])) is None


def test_the_command_line_tells_the_early_worker_what_to_import(tmp_path, monkeypatch):
    """prepare_early sends the early worker what the parameters need as soon as the
    command line has read them; the build's start() then takes that worker and what it
    asks no longer changes what was sent."""
    from types import SimpleNamespace as NS

    name = "tiering_test_early_module"
    (tmp_path / f"{name}.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TIERING_NO_WORKER", raising=False)
    monkeypatch.setattr(worker, "VALUE_MODULES", (name,))
    worker.start_early()
    try:
        worker.prepare_early(NS(value=NS(enabled=True), output=NS(formats=["html"])))
        taken = worker.start(["json"])
    finally:
        worker.discard_early()
    try:
        assert taken is not None
        assert taken.submit(_imported_here, name).result(timeout=60)
    finally:
        taken.close()


def test_the_command_line_prepares_the_early_worker_before_the_build(tmp_path, monkeypatch):
    """``tiering report`` sends the early worker what to import once it has read the
    parameters, before it imports and starts the build."""
    from tiering import cli
    from tiering.build import report

    from .conftest import DEMO_PARAMS

    events: list = []
    monkeypatch.setattr(worker, "prepare_early", lambda cfg: events.append(("prepare", cfg)))

    def build(cfg, **kwargs):
        events.append(("build", cfg))
        raise KeyboardInterrupt  # enough: nothing is built

    monkeypatch.setattr(report, "build", build)
    monkeypatch.setenv("TIERING_NO_WORKER", "1")
    cli.main(["report", str(DEMO_PARAMS), "--output", str(tmp_path / "out"), "-q"])
    assert [e[0] for e in events] == ["prepare", "build"]
    assert events[0][1] is events[1][1]  # the parameters the build gets


def _imported_here(name):
    return name in sys.modules


def _at_exit_write(path):
    import atexit
    from pathlib import Path

    atexit.register(Path(path).write_text, "exit handlers ran", encoding="utf-8")


def _blocked_here(name):
    try:
        __import__(name)
    except ImportError:
        return sys.modules[name] is None
    return False


def test_a_second_process_killed_while_writing_the_pdf_leaves_no_partial_file(
    tmp_path, monkeypatch
):
    """Killed mid-PDF (e.g. by the out-of-memory killer): the PDF is written here, and
    its partial file is not published (it made the next run into the folder refuse)."""
    pdftotext = need_tool("pdftotext")
    monkeypatch.setenv("TIERING_TEST_DIE_PID", str(os.getpid()))
    monkeypatch.setattr(worker, "pdf_job", _pdf_job_that_dies)
    from tiering import params
    from tiering.build import report

    cfg = params.load(write_tiny_client(tmp_path / "in"))
    out = report.build(cfg, output=tmp_path / "out", generated=COVER_DATE)
    assert sorted(p.name for p in out.glob(".*")) == []
    text = subprocess.run(
        [pdftotext, str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Tiny Co" in text
    report.build(cfg, output=tmp_path / "out", generated=COVER_DATE)  # the folder is reusable


def test_an_interrupt_while_the_pdf_is_written_keeps_no_partial_file(tmp_path, monkeypatch):
    """Ctrl-C (or a batch time-out) while the second process writes the PDF: it is
    stopped before the run's work is kept aside, and its partial file is not kept."""
    from tiering import params
    from tiering.build import render, report

    monkeypatch.setattr(worker, "pdf_job", _pdf_job_that_hangs)

    made_here = render.notebook_to_html

    def interrupted(nb, *args, **kwargs):
        if kwargs.get("media") == "print":  # the PDF's page, made before the PDF job
            return made_here(nb, *args, **kwargs)
        work = next((tmp_path).glob(".out.tmp-*"))
        deadline = time.monotonic() + 60
        while not list(work.glob(".report.pdf.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(work.glob(".report.pdf.*.tmp")), "the second process never started"
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "notebook_to_html", interrupted)
    cfg = params.load(write_tiny_client(tmp_path / "in"))
    with pytest.raises(KeyboardInterrupt):
        report.build(cfg, output=tmp_path / "out", generated=COVER_DATE)
    kept = tmp_path / "out.failed"
    assert kept.is_dir()
    assert list(kept.glob(".report.pdf.*.tmp")) == []


_REAL_PDF_JOB = worker.pdf_job


def _pdf_job_that_dies(html, pdf_path, **kwargs):
    if os.environ.get("TIERING_TEST_DIE_PID") == str(os.getppid()):  # in the worker
        with open(os.path.join(os.path.dirname(pdf_path), ".report.pdf.dying.tmp"), "wb") as fh:
            fh.write(b"%PDF-1.7 partial")
        os._exit(9)
    return _REAL_PDF_JOB(html, pdf_path, **kwargs)


def _pdf_job_that_hangs(html, pdf_path, **kwargs):
    import tempfile

    folder = os.path.dirname(pdf_path)
    fd, partial = tempfile.mkstemp(prefix=".report.pdf.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        time.sleep(60)
    finally:  # as html_to_pdf cleans up
        os.unlink(partial)


@pytest.mark.slow
def test_the_pdf_job_imports_weasyprint_and_not_nbconvert(tmp_path):
    """The PDF job runs WeasyPrint on a page made by the report's process: the worker
    imports no nbconvert for it (half a CPU-second beside the notebook)."""
    made = worker.Worker(worker.PDF_MODULES)
    try:
        pdf = tmp_path / "page.pdf"
        html = "<html><body><h1>Tiers</h1><p>A page.</p></body></html>"
        made.submit(worker.pdf_job, html, str(pdf), base_url=str(tmp_path)).result(timeout=120)
        assert pdf.read_bytes().startswith(b"%PDF")
        assert made.submit(_imported_here, "weasyprint").result(timeout=60) is True
        assert made.submit(_imported_here, "nbconvert").result(timeout=60) is False
    finally:
        made.close()
