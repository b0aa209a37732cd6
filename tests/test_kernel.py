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
