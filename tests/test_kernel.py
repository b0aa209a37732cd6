"""The report notebook's kernel is started before the analysis (``tiering.build.kernel``):
papermill runs the notebook on it, the warm-up leaves no trace in the notebook, the
kernel is shut down after the build, and a kernel that cannot be started early leaves
the start to papermill."""

from __future__ import annotations

import datetime as dt

import nbformat
import papermill.clientwrap
import pytest

from tiering import params
from tiering.build import kernel, report

from .test_report import write_tiny_client


def _managers_given_to_papermill(monkeypatch) -> list:
    seen: list = []
    original = papermill.clientwrap.PapermillNotebookClient.__init__

    def init(self, nb_man, km=None, **kwargs):
        seen.append(km)
        original(self, nb_man, km=km, **kwargs)

    monkeypatch.setattr(papermill.clientwrap.PapermillNotebookClient, "__init__", init)
    return seen


def _code_cell_counts(path) -> list:
    nb = nbformat.read(path, as_version=4)
    return [c.execution_count for c in nb.cells if c.cell_type == "code"]


@pytest.mark.slow
def test_the_notebook_runs_on_the_early_kernel_which_is_then_shut_down(tmp_path, monkeypatch):
    cfg = params.load(write_tiny_client(tmp_path / "in"), overrides=["output.formats=[html]"])
    seen = _managers_given_to_papermill(monkeypatch)
    out = report.build(cfg, output=tmp_path / "out", generated=dt.date(2026, 12, 1))
    assert len(seen) == 1 and seen[0] is not None  # papermill was given the early kernel
    assert not seen[0].has_kernel  # and it is gone after the build
    # the silent warm-up is not a cell of the notebook: its cells count from 1, in order
    counts = _code_cell_counts(out / "report.ipynb")
    assert counts == list(range(1, len(counts) + 1))
    # the kernel imported what the warm-up names: every module exists
    import importlib

    for name in kernel.WARM_UP_MODULES:
        importlib.import_module(name)


@pytest.mark.slow
def test_a_kernel_that_cannot_start_early_leaves_it_to_papermill(tmp_path, monkeypatch):
    def refuse(cwd, env=None):
        raise RuntimeError("no kernel here")

    monkeypatch.setattr(kernel, "WarmKernel", refuse)
    assert kernel.start(tmp_path) is None
    cfg = params.load(write_tiny_client(tmp_path / "in"), overrides=["output.formats=[html]"])
    seen = _managers_given_to_papermill(monkeypatch)
    out = report.build(cfg, output=tmp_path / "out", generated=dt.date(2026, 12, 1))
    assert seen == [None]  # papermill started its own
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_with_the_value_model_the_kernel_starts_while_the_analysis_waits_and_is_shut_down_on_failure(
    tmp_path, monkeypatch
):
    """The value model is fitted in the report's second process; the kernel starts when
    the analysis waits for it (after the statistics, not at the start, where its imports
    would slow the second process), and a step failing after that still shuts it down."""
    from tiering.analysis import pipeline

    events: list = []
    started: list = []
    original_start, original_compare = kernel.start, pipeline.stats.compare_tiers

    def start(cwd, env=None):
        events.append("kernel")
        started.append(original_start(cwd, env))
        return started[-1]

    def compare(*args, **kwargs):
        events.append("statistics")
        return original_compare(*args, **kwargs)

    def broken(*args, **kwargs):
        events.append("strategy")
        raise RuntimeError("strategy broke")

    monkeypatch.setattr(kernel, "start", start)
    monkeypatch.setattr(pipeline.stats, "compare_tiers", compare)
    monkeypatch.setattr(pipeline.strategy, "recommend", broken)
    client = write_tiny_client(
        tmp_path / "in", extra="value: {enabled: true, min_history_months: 3}\n"
    )
    cfg = params.load(client, overrides=["output.formats=[html]"])
    with pytest.raises(RuntimeError, match="strategy broke"):
        report.build(cfg, output=tmp_path / "out", generated=dt.date(2026, 12, 1))
    assert events == ["statistics", "kernel", "strategy"]
    assert started[0] is not None and not started[0].km.has_kernel  # shut down


@pytest.mark.slow
def test_the_kernels_client_is_ready_without_waiting_for_iopub_to_fall_quiet(tmp_path):
    """papermill's client (made by the early kernel's manager) waits for the kernel as
    jupyter_client's does, but stops at the ``idle`` status of its ``kernel_info``
    request instead of reading IOPub until it has been quiet for 0.2 s: its last read of
    IOPub is that status, nothing of the request is left on IOPub, and a cell then
    runs."""
    from queue import Empty

    from jupyter_core.utils import run_sync

    warm = kernel.start(tmp_path)
    assert warm is not None
    try:
        warm.release_client()
        client = warm.km.client()
        assert isinstance(client, kernel.ready_client())
        client.start_channels()
        reads: list = []
        original = client.iopub_channel.get_msg

        async def get_msg(*args, **kwargs):
            try:
                msg = await original(*args, **kwargs)
            except Empty:
                reads.append("empty")
                raise
            reads.append((msg["msg_type"], msg["content"].get("execution_state")))
            return msg

        client.iopub_channel.get_msg = get_msg
        run_sync(client.wait_for_ready)(timeout=60)
        # jupyter_client's always ends with a read that times out (IOPub quiet for
        # 0.2 s); this one ends at the idle status. (A read may time out before it, on a
        # busy machine, while IOPub connects: then it asks again, as jupyter_client does.)
        assert reads and reads[-1] == ("status", "idle")
        client.iopub_channel.get_msg = original
        left = []  # nothing is left about the request it ended at
        while True:
            try:
                left.append(run_sync(client.iopub_channel.get_msg)(timeout=0.3))
            except Empty:
                break
        assert client.ready_request is not None
        assert all(m["parent_header"].get("msg_id") != client.ready_request for m in left)
        reply = run_sync(client.execute_interactive)("6 * 7", timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        warm.close()


@pytest.mark.slow
def test_the_kernel_is_shut_down_in_the_background_and_close_waits_for_it(tmp_path):
    """close_soon starts the shut-down in a thread (the build goes on to the pages);
    close then waits until the kernel is gone, and both may be called again."""
    warm = kernel.start(tmp_path)
    assert warm is not None
    process = warm.km.provisioner.process
    warm.close_soon()
    warm.close_soon()
    warm.close()
    assert not warm.km.has_kernel and process.poll() is not None
    warm.close()  # again: nothing left to do


@pytest.mark.slow
def test_a_ctrl_c_while_the_kernel_is_shut_down_is_raised_once_it_is_gone(tmp_path):
    """close() waits for the shut-down through Ctrl-C (an interrupted Thread.join would
    return while the kernel still runs, and a process ending then would leave it), and
    its event loop is closed: no ResourceWarning."""
    import asyncio
    import gc
    import os
    import signal
    import threading
    import warnings

    warm = kernel.start(tmp_path)
    assert warm is not None
    original = warm._shut_down

    async def slow():
        await asyncio.sleep(1.0)
        await original()

    warm._shut_down = slow
    # a real SIGINT (interrupt_main() would wait until the main thread is back in Python)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            warm.close()
        assert not warm.km.has_kernel  # gone before the Ctrl-C was raised
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)], seen
