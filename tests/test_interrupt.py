"""Ctrl-C stops a run, even where a library would swallow it (DuckDB 2.0 under Python's
default SIGINT handler runs its query on and loses the interrupt), and an interrupted
run never publishes its report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tiering import cli, interrupt
from tiering.build import render

from .conftest import ROOT, fake_previous_report
from .test_report import write_tiny_client

LONG_QUERY = """
import time, duckdb
from tiering import interrupt
interrupt.install()
con = interrupt.track(duckdb.connect(config={"threads": 2}))
con.execute("SET enable_progress_bar = false")  # as tiering's engine: nothing else on stdout
print("ready", flush=True)
t = time.perf_counter()
try:
    con.sql("SELECT count(DISTINCT hash(i)) FROM range(4000000000) t(i)").fetchall()
    print("finished", flush=True)
except BaseException as exc:
    print(type(exc).__name__, interrupt.REQUESTED.is_set(), round(time.perf_counter() - t, 1),
          flush=True)
"""


@pytest.mark.parametrize("delay", [0.02, 0.05, 0.2, 0.5, 1.0, 2.0])
def test_ctrl_c_stops_a_duckdb_query(delay):
    """Minutes of work, stopped within seconds of SIGINT (without the handler of
    ``tiering.interrupt`` DuckDB ignores the signal and this times out). At several
    moments: with the Python-level handler alone, 6 of 24 such signals were lost (the
    query ran on), depending on where DuckDB was when they arrived."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LONG_QUERY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # generous: stops in < 1 s when it works
    finally:
        proc.kill()
    assert "finished" not in out, out
    # the request was recorded: "<exception> True <seconds>" ends the output (on a busy
    # machine DuckDB once drew its progress bar in front of it, on the same line)
    assert out.split()[-2] == "True", (out, err)


def test_an_interrupt_swallowed_by_a_library_does_not_publish(tmp_path, monkeypatch, capsys):
    """The interrupt arrives in a step that swallows it (here: the screen page's step
    sets the flag as the signal handler would, and carries on; the PDF is written in
    the report's second process meanwhile): the run still ends as interrupted, and the
    previous report stays as it was."""
    client = write_tiny_client(tmp_path / "in")
    out = tmp_path / "out"
    assert cli.main(["report", str(client), "--output", str(out)]) == 0
    before = (out / "manifest.json").read_text(encoding="utf-8")

    original = render.notebook_to_html

    def swallowed(*args, **kwargs):
        interrupt.REQUESTED.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(render, "notebook_to_html", swallowed)
    result = tmp_path / "result.json"
    capsys.readouterr()
    assert (
        cli.main(["report", str(client), "--output", str(out), "--result-json", str(result)]) == 130
    )
    assert "interrupted; the previous report is unchanged" in capsys.readouterr().err
    assert (out / "manifest.json").read_text(encoding="utf-8") == before
    assert (tmp_path / "out.failed" / "report.pdf").is_file()  # the work is kept aside
    assert json.loads(result.read_text(encoding="utf-8"))["error"] == "KeyboardInterrupt"
    assert not interrupt.REQUESTED.is_set()  # cleared when the command returns


def test_ctrl_c_during_the_notebook_prints_only_the_interruption(tmp_path):
    """Ctrl-C from a terminal (SIGINT to the whole process group) while the notebook runs:
    exit 130, the previous report kept, and on standard error only what tiering says: no
    ZMQ traceback from the kernel, no "Kernel died" or "Task exception was never
    retrieved" from papermill and asyncio as they wind down (each seen before the fix)."""
    client = write_tiny_client(tmp_path / "in")
    out = fake_previous_report(tmp_path / "out")
    before = (out / "report.pdf").read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tiering.cli", "report", str(client), "--output", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600  # generous: only a hung run gets near it
        while not list(tmp_path.glob(".out.tmp-*/.analysis.pkl")):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the notebook never started: {proc.communicate()}")
            time.sleep(0.1)
        time.sleep(0.5)  # inside the notebook (about a second on the tiny client)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")  # cannot happen in 2 s
    assert proc.returncode == 130, err
    assert _without_progress(err)[1:] == ["interrupted; the previous report is unchanged"], err
    assert (out / "report.pdf").read_bytes() == before


def test_a_good_run_prints_no_kernel_log(tmp_path):
    """jupyter_client interrupts every kernel it shuts down; the kernel's "KeyboardInterrupt
    caught in kernel" must not reach a user whose report was built."""
    client = write_tiny_client(tmp_path / "in")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "tiering.cli",
            "report",
            str(client),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert _without_progress(res.stderr) == [
        f"Building the report for 'Tiny Co' from {tmp_path / 'in' / 'tx.csv'} ..."
    ], res.stderr


def _without_progress(err: str) -> list[str]:
    """The lines of standard error but the progress lines (``[3/12] tiers``) that
    ``tiering report`` writes off a terminal."""
    return [ln for ln in err.splitlines() if not re.match(r"\[\d+/\d+\] \S", ln)]


def test_sigint_interrupts_tracked_connections_from_outside_the_main_thread():
    """The C-level handler writes the signal to a socket at once; the watcher thread
    interrupts every tracked connection, whatever the main thread is doing (DuckDB polls
    for signals only now and then, so the Python-level handler alone missed some)."""
    import os

    class Connection:
        interrupted = threading.Event()

        def interrupt(self):
            self.interrupted.set()

    previous = interrupt.install()
    try:
        con = interrupt.track(Connection())
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # the Python-level handler raises here
        except KeyboardInterrupt:
            pass
        assert con.interrupted.wait(30), "the tracked connection was not interrupted"
        assert interrupt.REQUESTED.is_set()
    finally:
        interrupt.restore(previous)
    assert not interrupt.REQUESTED.is_set()
    assert signal.getsignal(signal.SIGINT) is previous


def test_a_ctrl_c_that_lands_in_a_finaliser_prints_nothing_and_still_stops_the_run():
    """Python can only print an exception raised in a finaliser or a weak-reference
    callback ("Exception ignored in ..."). A Ctrl-C that lands there is dropped while the
    handler is installed: the request stays set, so the run still stops at its next
    check. Any other such exception is printed as before."""
    seen: list = []

    def before(unraisable):
        seen.append(type(unraisable.exc_value).__name__)

    class Finalised:
        def __init__(self, exc):
            self.exc = exc

        def __del__(self):
            raise self.exc

    original = sys.unraisablehook
    sys.unraisablehook = before
    try:
        previous = interrupt.install()
        try:
            assert sys.unraisablehook is not before
            Finalised(KeyboardInterrupt())  # no request yet: a real bug, shown
            interrupt.REQUESTED.set()
            Finalised(KeyboardInterrupt())  # the request's: dropped
            Finalised(ValueError("broken"))
            with pytest.raises(KeyboardInterrupt):
                interrupt.check()
        finally:
            interrupt.restore(previous)
        assert sys.unraisablehook is before
    finally:
        sys.unraisablehook = original
    assert seen == ["KeyboardInterrupt", "ValueError"]
