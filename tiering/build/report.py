"""Build one report: analysis → tables → papermill notebook → HTML → PDF (→ the slide
deck report.pptx, when ``output.formats`` asks for it) → manifest.

A run writes into a temporary folder beside the output folder and replaces the
previous report only when every step succeeded:

- one run at a time per output folder (a lock file ``.<name>.lock`` beside it, held
  with ``flock``, so it is released even when the process is killed);
- leftovers of killed runs (``.<name>.tmp-*``, ``.<name>.old-*``) are removed by the
  next run, and a previous report caught half-way through the final swap is put back;
- a failed run leaves the previous report untouched and keeps what it produced in
  ``<output>.failed/``: the executed notebook ``report.ipynb`` with the failing cell
  marked (papermill's red banner at the top links to it; the cell carries the tag
  ``tiering-failed-cell``) and ``failure.json`` (error, message, failing cell);
- tiering only ever removes what it wrote (:mod:`tiering.build.owned`): an existing folder
  is replaced only when it is empty, or a report folder whose ``manifest.json`` tiering
  wrote and which holds nothing but the files that manifest lists, unchanged; the run's
  inputs are never inside it; ``<output>.failed/`` is removed only when it holds only
  what tiering wrote (else the failed run goes to ``<output>.failed-2/``, ...);
- ``output.dir`` from a parameter file must be a folder below the working folder
  (``--output`` may point anywhere); ``tiering batch`` ignores it altogether.

The same input and parameters give byte-identical tables, HTML, PDF, deck and notebook; only
``manifest.json`` differs between runs (time stamps, timings, command line).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from tiering import __version__, interrupt, style
from tiering.analysis import pipeline
from tiering.build import kernel, outputs, owned, worker
from tiering.data.io import sha256_file
from tiering.errors import RenderError, TieringError, require
from tiering.params import Params, slug
from tiering.progress import timed

log = logging.getLogger(__name__)

__all__ = [
    "FAILURE",
    "MANIFEST",
    "NOTEBOOK",
    "NotebookCellError",
    "build",
    "failure_record",
    "normalise_notebook",
    "notebook_parameters",
    "output_dir_for",
    "sha256_file",
]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = PACKAGE_DIR.parent
NOTEBOOK = PROJECT_DIR / "notebooks" / "tiering_report.ipynb"
ANALYSIS_PARAMETER = "analysis_path"
MANIFEST = "manifest.json"
FAILURE = "failure.json"
MANIFEST_VERSION = 2
FAILED_CELL_TAG = "tiering-failed-cell"
_VERSIONED = (
    "tiering",
    "pandas",
    "numpy",
    "scipy",
    "scikit-posthocs",
    "statsmodels",
    "duckdb",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "nbformat",
    "ipykernel",
    "weasyprint",
    "pydantic",
    "pyarrow",
    "openpyxl",
    "python-pptx",
    "pymc-marketing",
    "pymc",
    "pytensor",
)


class NotebookCellError(RenderError):
    """A cell of the report notebook raised an exception.

    ``cell`` describes it: ``index`` (0-based position in the executed notebook),
    ``execution_count`` (the ``In [n]`` number), ``source`` (its first line), ``ename``
    and ``evalue`` (the exception's type and message).
    """

    def __init__(
        self,
        message: str,
        *,
        cell: dict[str, Any],
        where: str | None = None,
        hint: str | None = None,
    ):
        self.cell = cell
        super().__init__(message, where=where, hint=hint)


# --------------------------------------------------------------------------- paths


def output_dir_for(params: Params, override: str | Path | None = None) -> Path:
    """The report folder: ``--output``, else ``output.dir``, else ``reports/<client>``."""
    if override is not None:  # "~" unexpanded by the shell (--output=~/x) still means home
        return Path(override).expanduser().resolve()
    if params.output.dir is not None:
        return Path(params.output.dir).expanduser().resolve()
    return (Path("reports") / slug(params.client)).resolve()


def _check_parameter_output(params: Params, final: Path) -> None:
    """``output.dir`` from a parameter file stays below the working folder: a shared or
    received parameter file cannot make a run write (or replace) anything elsewhere.
    ``--output`` is the way to write somewhere else."""
    base = Path.cwd().resolve()
    given = Path(params.output.dir)
    require(
        not given.is_absolute() and base in final.parents,
        f"output.dir {str(given)!r} is outside the working folder {base}",
        where="output.dir",
        hint="use a folder below the working folder, e.g. output.dir: reports/client, or "
        "choose any folder on the command line with --output",
    )


def _logo_path(params: Params) -> Path | None:
    """``brand.logo``, else ``output.logo``; parameter files resolve it against their
    folder, a relative path that reaches here (a Params built in code) is relative to the
    working folder."""
    logo = params.brand.logo or params.output.logo
    return None if logo is None else Path(logo).resolve()


def _palette(params: Params, logo: Path | None):
    """The brand's palette for this report's tiers, with the logo checked above."""
    from dataclasses import replace

    brand = params.brand
    text, how = brand.text_colour()
    if how == "automatic" and text != "#ffffff":
        log.warning(
            "brand.primary %s is light: the text on it (cover, title bars, table headers) "
            "is %s instead of white, which would not reach WCAG AA's 4.5:1",
            brand.primary,
            text,
        )
    on_white = style.contrast_ratio(brand.primary, style.WHITE)
    if on_white < style.MIN_CONTRAST_LARGE:
        log.warning(
            "brand.primary %s on white has a contrast of %.2f:1: headings and slide titles "
            "set in it are hard to read (WCAG AA asks %s:1 for large text); a darker "
            "primary colour reads",
            brand.primary,
            on_white,
            style.MIN_CONTRAST_LARGE,
        )
    if brand.font and ("pdf" in params.output.formats or "html" in params.output.formats):
        from tiering.build.deck import brand_font  # fontconfig's answer, as the deck asks it

        if brand_font(brand.font)[1] == "not installed":
            log.warning(
                "brand.font %r is not installed here: the PDF is set in the next font of the "
                "list (Noto Sans CJK); install the font or correct its family name (fc-list "
                "shows the installed ones)",
                brand.font,
            )
    palette = brand.palette(len(params.tiering.labels))
    return palette if palette.is_default else replace(palette, logo=logo)


# --------------------------------------------------------------------------- notebook


def notebook_parameters(
    params: Params, analysis_path: str | Path, notebook: Path | None = None
) -> dict:
    """The papermill parameters: only names declared in the notebook's parameters cell,
    each a Python identifier. Anything else is refused before anything runs."""
    import papermill

    notebook = Path(notebook or NOTEBOOK)
    declared = {p for p in papermill.inspect_notebook(str(notebook))}
    values = {**params.to_notebook(), ANALYSIS_PARAMETER: str(analysis_path)}
    bad = sorted(
        k for k in values if not (isinstance(k, str) and k.isidentifier()) or k not in declared
    )
    if bad:
        raise TieringError(
            f"Parameter names not declared in the notebook: {', '.join(map(repr, bad))}",
            where=str(notebook),
            hint="only the notebook's declared parameters can be passed",
        )
    return values


def _execute_notebook(
    params: Params,
    analysis_file: Path,
    out_nb: Path,
    notebook: Path,
    *,
    kept_as: Path | None = None,
    km=None,
) -> None:
    """Run the notebook with papermill into ``out_nb``; ``kept_as`` is where a failed
    notebook will be kept (for the message); ``km``: a started kernel's manager
    (:mod:`tiering.build.kernel`), else papermill starts one."""
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    values = notebook_parameters(params, analysis_file, notebook)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(out_nb),
            parameters=values,
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            # the kernel's own log is not for users: its start-up chatter ("running over
            # TCP"), "KeyboardInterrupt caught in kernel" (jupyter_client interrupts every
            # kernel it shuts down, also after a good run) and ZMQ tracebacks when Ctrl-C
            # closes its sockets. A cell's error is in the notebook; a dead kernel is
            # reported below.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            km=km,
        )
    except DeadKernelError as exc:
        interrupt.check()  # after Ctrl-C a dead kernel is the interruption, not a failure
        kept = kept_as or out_nb
        raise RenderError(
            f"The report notebook's kernel died: {exc}",
            where=str(kept),
            hint="the machine may be out of memory; rerun with --debug for details",
        ) from exc
    except PapermillExecutionError as exc:
        cell = _mark_failed_cell(out_nb, exc)
        label = f"cell In [{exc.exec_count}]" if exc.exec_count else f"cell {cell['index']}"
        kept = kept_as or out_nb
        raise NotebookCellError(
            f"The report notebook failed in {label}, {cell['source']!r}: {exc.ename}: {exc.evalue}",
            cell=cell,
            where=f"{kept}, {label}",
            hint=f"open {kept} in JupyterLab: the red banner at its top links to the failing cell "
            "and its traceback; rerun with --debug to see the traceback here",
        ) from exc


def _mark_failed_cell(out_nb: Path, exc) -> dict[str, Any]:
    """Tag the failing cell of the notebook papermill wrote and describe it."""
    import nbformat

    source = exc.source if isinstance(exc.source, str) else "".join(exc.source or "")
    first = next(
        (
            ln.strip()
            for ln in source.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")
        ),
        "",
    )
    cell = {
        "index": None,
        "execution_count": exc.exec_count,
        "source": first[:200],
        "ename": exc.ename,
        "evalue": str(exc.evalue)[:2000],
    }
    try:
        nb = nbformat.read(out_nb, as_version=4)
    except (OSError, ValueError):  # papermill may not have written it (e.g. the kernel died)
        return cell
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and any(
            o.get("output_type") == "error" for o in c.get("outputs", [])
        ):
            tags = list(c.metadata.get("tags", []))
            c.metadata["tags"] = tags + [FAILED_CELL_TAG] if FAILED_CELL_TAG not in tags else tags
            cell["index"] = i
            break
    nb.metadata.setdefault("tiering", {})["failure"] = cell
    normalise_notebook(nb)
    nbformat.write(nb, out_nb)
    return cell


_ANALYSIS_LINE = re.compile(rf"^{ANALYSIS_PARAMETER}\s*=.*$", re.MULTILINE)
_VOLATILE_CELL_KEYS = ("start_time", "end_time", "duration")


def normalise_notebook(nb) -> None:
    """Make an executed notebook reproducible and rerunnable, in place.

    Drops papermill's and Jupyter's time stamps and the temporary input/output paths,
    gives papermill's inserted cells fixed ids, and empties ``analysis_path`` in the
    injected parameters: the saved analysis it named was temporary, so rerunning the
    notebook recomputes the analysis from the parameters.
    """
    pm = nb.metadata.get("papermill")
    if pm is not None:
        for key in (*_VOLATILE_CELL_KEYS, "input_path", "output_path"):
            pm.pop(key, None)
        if ANALYSIS_PARAMETER in pm.get("parameters", {}):
            pm["parameters"][ANALYSIS_PARAMETER] = ""
    counts: dict[str, int] = {}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in _VOLATILE_CELL_KEYS:
            cell.metadata.get("papermill", {}).pop(key, None)
        tags = cell.metadata.get("tags", [])
        fixed = next(
            (t for t in ("injected-parameters", "papermill-error-cell-tag") if t in tags), None
        )
        if fixed:
            counts[fixed] = counts.get(fixed, 0) + 1
            cell["id"] = fixed if counts[fixed] == 1 else f"{fixed}-{counts[fixed]}"
        if "injected-parameters" in tags:
            text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            cell.source = _ANALYSIS_LINE.sub(
                f'{ANALYSIS_PARAMETER} = ""  # the run\'s saved analysis was temporary: '
                "rerunning recomputes it",
                text,
            )


# --------------------------------------------------------------------------- build


def planned_steps(params: Params) -> list[str]:
    """The steps a :func:`build` of ``params`` reports, in order (for a progress bar's
    length): those of :func:`tiering.analysis.pipeline.run`, then the build's."""
    from tiering.data import engines

    if engines.choose_engine(params.data, params.engine) == "pandas":
        steps = ["load", "features"]
        in_memory = True
    else:
        # the engine draws the transactions in its one pass; a file too large for that
        # adds the step "transactions" (the progress counts it when it starts)
        steps = ["features"]
        in_memory = bool(params.stats.holdout_months or params.migration.period != "none")
    steps += ["tiering", "method_comparison", "statistics"]
    steps += ["migration", "holdout"] if in_memory else []  # the holdout reuses a snapshot
    steps += ["campaigns"] if params.data.campaigns is not None else []
    steps += ["value"] if params.value.enabled else []
    steps += ["strategy", "tables", "notebook", "html"]
    steps += ["pdf"] if "pdf" in params.output.formats else []
    steps += ["pptx"] if "pptx" in params.output.formats else []
    return steps


def build(
    params: Params,
    *,
    output: str | Path | None = None,
    generated: dt.date | None = None,
    notebook: str | Path | None = None,
    params_path: str | Path | None = None,
    analysed=None,
    render_ahead: bool = False,
) -> Path:
    """Build the report folder for ``params``. Returns the folder.

    ``output`` overrides ``output.dir``; ``generated`` is the date on the cover
    (default: today, or ``SOURCE_DATE_EPOCH`` when set); ``notebook`` replaces the
    report notebook (it must declare the same parameters); ``params_path`` is the
    parameter file, recorded with its SHA-256 in the manifest; ``analysed`` (what
    :func:`tiering.analyse` returned for these ``params``) is reported as it is instead
    of running the analysis again. ``render_ahead``: while the analysis waits for the
    value model, this process renders the notebook's sections that need no value model
    (:mod:`tiering.present.ahead`; the command line's ``tiering report``). Only for a
    process of its own: the sections are drawn with this process's matplotlib settings,
    which must be those of a fresh process as the kernel's are, and matplotlib is
    switched to its Agg backend (the drawing runs in a thread).
    """
    if generated is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible-builds convention
        generated = (
            dt.datetime.fromtimestamp(int(epoch), dt.UTC).date() if epoch else dt.date.today()
        )
    notebook = Path(notebook).resolve() if notebook is not None else NOTEBOOK
    require(
        notebook.is_file(),
        f"Report notebook not found: {notebook}",
        where="--notebook",
        hint="pass an .ipynb file with the parameters cell of notebooks/tiering_report.ipynb",
    )
    logo = _logo_path(params)
    if logo is not None:
        from tiering.build import render

        render.logo_data_url(logo)  # a missing or broken logo fails now, not after the analysis
    final = output_dir_for(params, output)
    if output is None and params.output.dir is not None:
        _check_parameter_output(params, final)
    # nothing (lock, folders, working folder) is created before the target is known to be
    # one this run may write
    what = (
        "--output"
        if output is not None
        else "output.dir"
        if params.output.dir is not None
        else "the default report folder reports/<client>"
    )
    owned.check_writable_target(final, what=what)
    _check_replaceable(final, what)
    _check_inputs_outside(params, final, notebook=notebook, params_path=params_path, logo=logo)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, final) from None
    with _output_lock(final):
        _recover_and_clean(final)
        _check_replaceable(final, what)
        failed_dest = _failed_destination(final)
        try:
            work = owned.make_work_dir(final.parent, f".{final.name}.tmp-")
        except OSError as exc:
            raise _os_error(exc, final) from None
        timings: dict = {}
        started = time.perf_counter()
        helper = None
        kernels: list = []  # the notebook's kernel once started (None: papermill starts one)
        # the shipped notebook's sections that need no value model are rendered by this
        # process too, beside its kernel, when it is the command line's own (see
        # render_ahead; a notebook of the user's may change the analysis before it renders
        # a section)
        ahead = (
            _Ahead(work / ".sections", timings) if render_ahead and notebook == NOTEBOOK else None
        )

        def start_kernel() -> kernel.WarmKernel | None:
            if not kernels:
                kernels.append(kernel.start(notebook.parent, ahead.env if ahead else None))
            return kernels[0]

        try:
            # the second process (tiering.build.worker: the value model, first needed,
            # and the PDF) starts and imports while the analysis runs; so does the
            # notebook's kernel, unless the analysis waits for the value model: then its
            # start and imports (2 s) would slow the second process while it imports
            # PyMC-Marketing, and they fit in while the analysis waits
            helper = _start_worker(params, analysed=analysed is not None)
            kernel_later = helper is not None and params.value.enabled and analysed is None
            if not kernel_later:
                start_kernel()
            # imported once both are on their way (half a second)
            import nbformat

            from tiering.build import render
            from tiering.present import narrative

            if analysed is None:
                analysis, loaded = pipeline.run(
                    params,
                    rejected_path=work / "rejected_rows.csv",
                    executor=helper,
                    waiting=start_kernel if kernel_later else None,
                    ahead=ahead.start if ahead else None,
                )
            else:  # an analysis made in Python (tiering.analyse): reported as it is
                analysis, loaded = analysed.analysis, analysed.loaded
            warm = start_kernel()
            timings.update(analysis.timings)
            analysis_file = work / ".analysis.pkl"
            # the tables are written by a thread of this process while the kernel runs the
            # notebook (it reads only the pickled analysis); both only read the analysis
            with _beside(timings, "tables", outputs.write_tables, analysis, loaded, work):
                with timed(timings, "notebook"):
                    # the shipped notebook reads no per-customer snapshot or strategy table
                    # (half the file at 1M customers); a notebook of the user's gets it all
                    pipeline.save(analysis, analysis_file, report_only=notebook == NOTEBOOK)
                    out_nb = work / "report.ipynb"
                    if warm is not None:
                        warm.release_client()
                    _execute_notebook(
                        params,
                        analysis_file,
                        out_nb,
                        notebook,
                        kept_as=failed_dest / "report.ipynb",
                        km=warm.km if warm is not None else None,
                    )
                    if ahead is not None:
                        ahead.finish()
                    if warm is not None:  # done with: it ends beside the pages below
                        warm.close_soon()

            pdf_job = None
            with timed(timings, "html"):
                nb = nbformat.read(out_nb, as_version=4)
                nb.metadata["tiering"] = narrative.report_metadata(analysis, generated=generated)
                normalise_notebook(nb)
                nbformat.write(nb, out_nb)
                palette = _palette(params, logo)
                if "pdf" in params.output.formats:
                    # the print page (the charts' SVGs without embedded fonts), made
                    # here; WeasyPrint writes it as the PDF in the second process while
                    # the screen page (which embeds the charts' fonts) is made here
                    pdf_args = (
                        render.notebook_to_html(
                            nb, language=params.language, logo=logo, palette=palette, media="print"
                        ),
                        str(work / "report.pdf"),
                    )
                    pdf_kwargs = {"base_url": str(work)}
                    if helper is not None:
                        pdf_job = helper.submit(worker.pdf_job, *pdf_args, **pdf_kwargs)
                if "html" in params.output.formats:
                    html = render.notebook_to_html(
                        nb, language=params.language, logo=logo, palette=palette
                    )
                    (work / "report.html").write_text(html, encoding="utf-8")
            if "pdf" in params.output.formats:
                with timed(timings, "pdf"):
                    try:
                        worker.result_or_run(pdf_job, worker.pdf_job, *pdf_args, **pdf_kwargs)
                    finally:
                        # a second process killed while writing leaves its partial file
                        _drop_partial_pdfs(work)
            if "pptx" in params.output.formats:
                from tiering.build import deck

                with timed(timings, "pptx"):
                    deck.write_deck(analysis, work / "report.pptx", generated=generated)
            if "html" not in params.output.formats:
                (work / "report.html").unlink(missing_ok=True)
            analysis_file.unlink()
            timings["total"] = round(time.perf_counter() - started, 3)
            _write_manifest(
                work,
                params,
                analysis,
                loaded,
                timings,
                notebook=notebook,
                logo=logo,
                params_path=params_path,
                second_process=_second_process_seconds(helper),
            )
            # an interrupt a library swallowed still stops the run before it publishes
            interrupt.check()
            owned.drop_work_marker(work)
            _publish_permissions(work)
            _swap(work, final)
        except OSError as exc:
            # a full disk or a folder made read-only: keep nothing half-written
            try:
                if ahead is not None:
                    ahead.discard()
            finally:
                _stop(helper, work)
                shutil.rmtree(work, ignore_errors=True)
            raise _os_error(exc, final) from exc
        except BaseException as exc:
            # the second process and the sections' thread stop first: nothing of them
            # lands in what is kept
            try:
                if ahead is not None:
                    ahead.discard()
            finally:  # also after a second Ctrl-C while the thread ended
                _stop(helper, work)
                _keep_failed(work, final, failed_dest, exc)
            raise
        finally:
            try:
                for warm in kernels:
                    if warm is not None:
                        warm.close()
            finally:  # also after a Ctrl-C while the kernel was shut down
                if helper is not None:
                    helper.close()
    return final


class _Ahead:
    """The notebook's sections rendered ahead by a thread of this process
    (:mod:`tiering.present.ahead`) in ``folder``, which the kernel's environment names
    (``env``): started with the analysis as it stands before the value model when the
    analysis waits for that model in the second process (this process's thread is then
    idle: the rendering does not contend with it for the interpreter). It claims no
    section after the wait (:meth:`end_of_wait`: the strategy and the tables would
    contend with it; at 1M customers the tables hold the interpreter for 6 s), and is
    waited for once the notebook has run or the build failed. Without such a wait it
    never starts, and the kernel renders every section, in its own process. Its time is
    ``sections_ahead`` in the manifest's timings; it overlaps the value model."""

    def __init__(self, folder: Path, timings: dict):
        from tiering.present import ahead

        folder.mkdir()
        self.folder = folder
        self.env = {ahead.ENV: str(folder)}
        self._timings = timings
        self._ended = threading.Event()
        self._ended.set()
        self._stopping = False
        self._seconds: float | None = None

    def start(self, analysis):
        """Start the thread on ``analysis`` (``pipeline.run``'s ``ahead``, called once);
        returns :meth:`end_of_wait`, for the end of the wait."""
        import matplotlib

        from tiering.present import ahead, narrative

        matplotlib.use("agg")  # no GUI backend: the figures are made in a thread
        functions = {n: getattr(narrative, f"section_{n}").__wrapped__ for n in ahead.SECTIONS}
        self._ended.clear()

        def run() -> None:
            t0 = time.perf_counter()
            try:
                done = ahead.render_ahead(
                    analysis,
                    self.folder,
                    functions,
                    keep_going=lambda: not self._stopping and not interrupt.REQUESTED.is_set(),
                )
                self._seconds = round(time.perf_counter() - t0, 3)
                log.debug("sections rendered ahead: %s", ", ".join(done) or "none")
            except BaseException as exc:  # noqa: BLE001 - the kernel renders what is missing
                log.debug("rendering sections ahead stopped: %r", exc)
            finally:
                self._ended.set()

        threading.Thread(target=run, name="tiering-sections-ahead", daemon=True).start()
        return self.end_of_wait

    def end_of_wait(self) -> None:
        """The analysis has its value model: no section is claimed after the one being
        rendered (the rest would contend with the analysis and the tables for the
        interpreter; the kernel renders them in its own process)."""
        self._stopping = True

    def stop(self) -> None:
        """Stop after the section being rendered, and wait for that."""
        self.end_of_wait()
        interrupt.wait_through(self._ended)

    def finish(self) -> None:
        """:meth:`stop`, and remove the folder (not part of the report)."""
        self.stop()
        shutil.rmtree(self.folder)
        if self._seconds is not None:  # not a step of the progress display: it ran beside them
            self._timings["sections_ahead"] = self._seconds

    def discard(self) -> None:
        """:meth:`stop` and remove the folder, if still there, from a failed build's work
        (which may be kept aside: nothing in it but the build's own files); also after a
        Ctrl-C while waiting (raised once the thread has ended)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def _beside(timings: dict, step: str, fn, /, *args) -> Iterator[None]:
    """Run ``fn(*args)`` as the step ``step`` in a thread while the block runs; on leaving
    the block, wait for it (also when the block failed: nothing of it runs on into the
    clean-up) and raise what it raised."""
    failed: list[BaseException] = []
    ended = threading.Event()

    def run() -> None:
        try:
            with timed(timings, step):
                fn(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again in the build's thread
            failed.append(exc)
        finally:
            ended.set()

    threading.Thread(target=run, name=f"tiering-{step}", daemon=True).start()
    try:
        yield
    except BaseException:
        interrupt.wait_through(ended)
        if failed and not isinstance(failed[0], KeyboardInterrupt):
            log.warning("The %s also failed: %s", step, failed[0])
        raise
    interrupt.wait_through(ended)
    if failed:
        raise failed[0]


def _start_worker(params: Params, *, analysed: bool) -> worker.Worker | None:
    """The report's second process, importing what its jobs need
    (:func:`tiering.build.worker.plan`); None when it has nothing to do."""
    planned = worker.plan(params, analysed=analysed)
    if planned is None:
        worker.discard_early()
        return None
    return worker.start(*planned)


def _stop(helper: worker.Worker | None, work: Path) -> None:
    """Stop the second process (a failed or interrupted run) and remove the partial PDF
    it may have been writing in ``work``."""
    if helper is not None:
        helper.close()
    _drop_partial_pdfs(work)


def _drop_partial_pdfs(work: Path) -> None:
    """Remove what :func:`tiering.build.render.html_to_pdf` writes before it moves the PDF
    into place (``.report.pdf.*.tmp``), left by a second process that was stopped."""
    for partial in work.glob(".report.pdf.*.tmp"):
        partial.unlink(missing_ok=True)


def _second_process_seconds(helper: worker.Worker | None) -> dict:
    """``{"value": s, "pdf": s}``: the seconds the second process ran each job."""
    names = {"analyse_value": "value", "pdf_job": "pdf"}
    if helper is None:
        return {}
    return {names.get(k, k): v for k, v in helper.seconds.items()}


def _os_error(exc: OSError, final: Path) -> TieringError:
    """A clear error for what the file system refused (read-only folder, disk full, ...)."""
    import errno

    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
    }.get(exc.errno, exc.strerror or str(exc))
    where = exc.filename or final
    return TieringError(
        f"Could not write the report {final}: {reason}",
        where=str(where),
        hint="free some space or choose a folder you can write to with --output; "
        "the previous report, if any, is unchanged",
    )


def failure_record(exc: BaseException) -> dict[str, Any]:
    """What went wrong, as JSON-safe data: ``error`` (type), ``message``, ``where``,
    ``hint``, ``text`` (all three as the command line prints them), ``cell`` (the
    failing notebook cell, or None) and ``kept`` (the folder the failed run's work was
    kept in, or None)."""
    if isinstance(exc, TieringError):
        message, where, hint = exc.message, exc.where, exc.hint
    else:
        message, where, hint = str(exc) or type(exc).__name__, None, None
    kept = getattr(exc, "kept_in", None)
    return {
        "error": type(exc).__name__,
        "message": message,
        "where": where,
        "hint": hint,
        "text": str(exc) or type(exc).__name__,
        "cell": getattr(exc, "cell", None),
        "kept": str(kept) if kept is not None else None,
    }


def _failed_destination(final: Path) -> Path:
    """Where a failed run keeps its work: ``<final>.failed``, unless that folder holds
    something tiering did not write (then ``<final>.failed-2``, ``-3``, ...: it is never
    removed)."""
    candidate = final.with_name(final.name + ".failed")
    n = 1
    while (candidate.exists() or candidate.is_symlink()) and not owned.removable_failed(candidate):
        n += 1
        candidate = final.with_name(f"{final.name}.failed-{n}")
    return candidate


def _keep_failed(work: Path, final: Path, failed: Path, exc: BaseException) -> None:
    """Move the working folder to ``failed`` with ``failure.json``, which lists the files
    (and their SHA-256) so that a later run knows it may remove them."""
    try:
        (work / ".analysis.pkl").unlink(missing_ok=True)
        owned.drop_work_marker(work)
        record = {
            **failure_record(exc),
            "generator": owned.GENERATOR,
            "report": str(final),
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "files": owned.file_digests(work),
        }
        (work / FAILURE).write_text(
            json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
        if failed.exists() and owned.removable_failed(failed):
            shutil.rmtree(failed)
        os.replace(work, failed)
        _publish_permissions(failed)
        try:
            exc.kept_in = failed
        except AttributeError:  # pragma: no cover - an exception type without a __dict__
            pass
    except OSError as err:  # never hide the original error behind a clean-up problem
        log.warning("Could not keep the failed run in %s: %s", failed, err)
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- safety


@contextmanager
def _output_lock(final: Path) -> Iterator[None]:
    """Hold ``.<name>.lock`` beside ``final`` for the run (POSIX ``flock``; the kernel
    releases it when the process ends, however it ends)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, runs must not overlap
        yield
        return
    lock_path = final.with_name(f".{final.name}.lock")
    # never through a symlink; a colleague's lock file we cannot write is locked read-only
    flags = os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            fd = os.open(lock_path, os.O_RDWR | flags, 0o644)
        except PermissionError:
            fd = os.open(lock_path, os.O_RDONLY | flags)
    except OSError as exc:
        raise TieringError(
            f"Cannot use the lock file {lock_path}: {exc.strerror or exc}",
            where=str(lock_path),
            hint="it must be a plain file tiering can open (remove it if it is "
            "a folder or a link, when no run is writing this report), or "
            "write the report to another folder with --output",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TieringError(
                f"Another run is writing the report {final}",
                where=str(final),
                hint="wait for it to finish, or write to another folder with --output",
            ) from None
        yield
    finally:
        os.close(fd)


def _siblings(final: Path, marker: str) -> list[Path]:
    """``.<name>.<marker>-*`` beside ``final`` (working folders, set-aside reports)."""
    return _siblings_named(final, f".{final.name}.{marker}-")


def _recover_and_clean(final: Path) -> None:
    """Under the lock: undo a swap interrupted half-way, then delete what killed runs
    left behind (no other run for this folder can be active): working folders that carry
    tiering's marker, and set-aside previous reports that hold only what tiering wrote.
    Anything else with such a name is left alone."""
    olds = [
        p
        for p in _siblings(final, "old")
        if p.name.rpartition("-")[2].isdigit() and owned.removable_report(p)
    ]
    if olds and not final.exists() and not final.is_symlink():
        newest = max(olds, key=lambda p: p.stat().st_mtime)
        os.replace(newest, final)
        log.warning("Restored the previous report %s, left aside by an interrupted run", final)
        olds.remove(newest)
    for leftover in olds:
        log.info("Removing %s, left behind by an interrupted run", leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in _siblings(final, "tmp"):
        if owned.is_work_dir(leftover):
            log.info("Removing %s, left behind by an interrupted run", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def _check_replaceable(final: Path, what: str = "--output or output.dir") -> None:
    """Refuse to replace a folder unless it is empty or a report folder tiering wrote
    that holds nothing else (see :mod:`tiering.build.owned`)."""
    if not final.exists() and not final.is_symlink():
        return
    require(
        final.is_dir() and not final.is_symlink(),
        f"{final} exists and is not a folder",
        where=what,
        hint="choose a new or empty folder for the report, e.g. --output reports/<client>",
    )
    try:
        entries = list(final.iterdir())
    except OSError as exc:
        raise _os_error(exc, final) from None
    if not entries:
        return
    found = owned.report_strangers(final)
    if found is None:
        names = sorted(p.name for p in entries)
        raise TieringError(
            f"{final} exists and is not a report folder of tiering (it has no manifest.json "
            f"written by tiering); it holds {_names(names)}",
            where=what,
            hint="a report replaces its whole folder, and tiering only removes what it wrote: "
            "choose a new or empty folder, e.g. --output reports/<client>",
        )
    require(
        not found,
        f"{final} is a report folder, but it also holds what tiering did not write: "
        f"{_names(found)}",
        where=what,
        hint="move those files out of the folder (tiering never deletes them), or write "
        "the report to another folder with --output",
    )


def _names(names: list[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def _check_inputs_outside(
    params: Params,
    final: Path,
    *,
    notebook: Path,
    params_path: str | Path | None,
    logo: Path | None,
) -> None:
    """The run's inputs may never be inside the folder it replaces."""
    inputs = {
        "data.path": params.data.path,
        "the parameter file": params_path,
        "strategy.playbook": params.strategy.playbook,
        "output.logo": logo,
        "migration.previous_report": params.migration.previous_report,
        "--notebook": notebook,
    }
    for what, path in inputs.items():
        if path is None:
            continue
        resolved = Path(path).resolve()
        require(
            resolved != final and final not in resolved.parents,
            f"The input {resolved} ({what}) is inside the report folder {final}, which the "
            "run replaces",
            where=what,
            hint="keep inputs outside report folders: move the file, or write the report "
            "to another folder with --output",
        )


def _publish_permissions(folder: Path) -> None:
    """The temporary folder is private (0700); the published report follows the umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for p in folder.iterdir():
        if p.is_file():
            os.chmod(p, 0o666 & ~umask)


def _swap(work: Path, final: Path) -> None:
    """Replace ``final`` by ``work`` (both on one file system). A run killed between
    the two renames leaves the previous report in ``.<name>.old-<pid>``; the next run
    puts it back (see :func:`_recover_and_clean`). The previous report is checked again
    once it is set aside: a file saved into it while this run worked makes the run put it
    back and refuse. ``<final>.failed`` (and ``.failed-2`` ...) of earlier runs go too,
    when they hold only what tiering wrote."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        found = None  # not a folder at all
        if old.is_dir() and not old.is_symlink():
            found = owned.report_strangers(old) if any(old.iterdir()) else []
        if found != []:
            os.replace(old, final)
            raise TieringError(
                f"{final} changed while the report was being made: it now holds "
                + (_names(found) if found else "something that is not a report folder")
                + ", which tiering did not write",
                where=str(final),
                hint="the previous report and those files are unchanged; move the files out "
                "of the folder and run again, or write to another folder with --output",
            )
    os.replace(work, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    failed = [final.with_name(final.name + ".failed")] + [
        p
        for p in _siblings_named(final, final.name + ".failed-")
        if p.name.rpartition("-")[2].isdigit()
    ]
    for folder in failed:
        if not (folder.exists() or folder.is_symlink()):
            continue
        if owned.removable_failed(folder):
            shutil.rmtree(folder, ignore_errors=True)
        else:
            log.warning("Kept %s: it holds files tiering did not write", folder)


def _siblings_named(final: Path, prefix: str) -> list[Path]:
    """The entries beside ``final`` whose names start with ``prefix``."""
    try:
        return sorted(p for p in final.parent.iterdir() if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


# --------------------------------------------------------------------------- manifest


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git_commit() -> str | None:
    try:
        res = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        commit = res.stdout.strip()
        if res.returncode or not commit:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _file_entry(role: str, path: Path | str) -> dict[str, Any]:
    path = Path(path)
    return {
        "role": role,
        "path": str(path),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }


def _write_manifest(
    folder: Path,
    params: Params,
    analysis: pipeline.Analysis,
    loaded,
    timings: dict,
    *,
    notebook: Path = NOTEBOOK,
    logo: Path | None = None,
    params_path: str | Path | None = None,
    second_process: dict | None = None,
) -> None:
    src = loaded.source
    outputs = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
    data_entry = (
        _file_entry("data", src["path"])
        if Path(str(src["path"])).is_file()
        else {
            "role": "data",
            "path": str(src["path"]),
            "sha256": src.get("sha256"),
            "bytes": src.get("bytes"),
        }
    )  # a DataFrame given to tiering.analyse
    inputs = [
        {
            **data_entry,
            "rows_read": src["rows_read"],
            "rows_used": src["rows_used"],
            "rows_rejected": src["rows_rejected"],
        }
    ]
    # the customer master and the campaign results: the SHA-256 of the bytes analysed
    for role, key in (("customer_master", "customer_master"), ("campaigns", "campaigns")):
        second = analysis.source.get(key)
        if second:
            inputs.append(
                {
                    "role": role,
                    "path": second["path"],
                    "sha256": second["sha256"],
                    "bytes": second["bytes"],
                    "rows_read": second["rows_read"],
                    "rows_used": second["rows_used"],
                    "rows_rejected": second["rows_rejected"],
                }
            )
    if params_path is not None:
        inputs.append(_file_entry("parameters", Path(params_path).resolve()))
    if params.strategy.playbook is not None:
        inputs.append(_file_entry("playbook", params.strategy.playbook))
    if logo is not None:
        inputs.append(_file_entry("logo", logo))
    inputs.append(_file_entry("notebook", notebook))
    manifest = {
        "generator": owned.GENERATOR,
        "manifest_version": MANIFEST_VERSION,
        "tiering_version": __version__,
        "git_commit": _git_commit(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "input": {
            "path": src["path"],
            "sha256": src["sha256"],
            "bytes": src["bytes"],
            "format": src["format"],
            "encoding": src.get("encoding"),
            "delimiter": src.get("delimiter"),
            "sheet": src.get("sheet"),
            "header_row": src.get("header_row"),
            "columns": src["columns"],
        },
        "inputs": inputs,
        "rows": {
            "read": src["rows_read"],
            "used": src["rows_used"],
            "rejected": src["rows_rejected"],
            "rejected_by_reason": {r.reason: int(r.rows) for r in analysis.quality.itertuples()},
            "return_rows": src.get("return_rows", 0),
            "duplicate_rows": src.get("duplicate_rows", 0),
        },
        "customers": len(analysis.tiers),
        "tiers": {str(r.tier): int(r.customers) for r in analysis.tier_summary.itertuples()},
        "as_of": analysis.as_of.isoformat(),
        "period_start": analysis.period_start.isoformat(),
        "client": params.client,
        "language": params.language,
        "parameters": params.to_notebook(),
        "brand": params.brand.summary(),
        "tiering": analysis.tiering_params,
        "versions": _versions(),
        "platform": platform.platform(),
        "timings_seconds": timings,
        # the seconds each job ran in the report's second process (tiering.build.worker);
        # the step of the same name in timings_seconds is what was left to wait for
        "second_process_seconds": dict(second_process or {}),
        "outputs": outputs,
    }
    (folder / MANIFEST).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
