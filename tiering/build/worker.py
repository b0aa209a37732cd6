"""The report's second process: steps that do not wait for each other run side by side.

A report runs mostly one step after another in one process, so on a machine with two
cores one of them idles. Two steps need nothing from what runs beside them:

- the value model (:func:`tiering.analysis.value.analyse_value`), which needs only the
  tiers and the transactions: it is fitted while the statistics, the migration, the
  holdout check and the campaigns run, and importing PyMC-Marketing (about 3 s) happens
  while the data loads;
- the PDF (:func:`pdf_job`: WeasyPrint), which needs only the print page: it is
  written while the screen page (``report.html``) is made.

:class:`Worker` is that process: a fresh interpreter (``python -c``: nothing of the
parent's threads or DuckDB connections), started when a build starts, which imports
only what its jobs need, while the analysis runs. :meth:`Worker.submit` follows :class:`concurrent.futures.Executor`
(the analysis layer takes any executor). A job's result comes back pickled; its
exception is raised again in the report's process (``tiering.errors`` keep their
``where`` and ``hint``), and its log records at the level the report shows are logged
again there. When the process cannot be started, or dies, the job raises
:class:`WorkerLost` and the caller runs it in its own process (:func:`result_or_run`):
the report is the same either way, only slower.

The process ignores Ctrl-C: the report's process handles it and :meth:`Worker.close`
stops the second one, whatever it is doing. It also ends by itself when the report's
process is gone (its end of the socket closes).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor, Future
from multiprocessing.connection import Connection
from typing import Any

from tiering.errors import TieringError

log = logging.getLogger(__name__)

#: Modules the worker imports for a PDF job (WeasyPrint about 0.5 s): the job only runs
#: WeasyPrint on the print page the report's process made (no nbconvert here).
PDF_MODULES = ("weasyprint", "tiering.build.render")
#: Modules the worker imports for the value model (PyMC-Marketing: about 3 s).
VALUE_MODULES = (
    "tiering.analysis.value",
    "arviz",
    "pymc",
    "pymc_extras.prior",
    "pymc_marketing.clv",
)

#: Seconds between checks that the worker is still alive while a job is awaited.
_POLL = 0.2


class WorkerLost(BrokenExecutor):
    """The second process is gone (or never started): run the job in this process."""


class _RemoteTraceback(Exception):
    """The traceback of a job's exception in the worker (its ``__cause__``)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\nIn the report's second process:\n{self.text}"


class Worker:
    """A second Python process running submitted jobs one after another.

    ``modules`` are imported there as soon as it starts, ``later`` whenever it has no
    job waiting (the modules of the last job: its imports keep off the first job's
    path); a module that fails to import is left for the job to report. ``seconds``
    maps each finished job's name to the seconds it ran in the worker.
    """

    def __init__(
        self,
        modules: Iterable[str] | None = (),
        later: Iterable[str] = (),
        *,
        first: Iterable[str] = (),
    ):
        ours, theirs = socket.socketpair()
        try:
            # a session of its own: Ctrl-C at the terminal reaches the report's process
            # only, which stops this one (close)
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _BOOT,
                    json.dumps(
                        [list(sys.path), theirs.fileno(), os.getpid(), _blocked(), list(first)]
                    ),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the report's own output stays its own
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._closed = False
        self._broken = False  # the results thread has stopped: no job can come back
        self.seconds: dict[str, float] = {}
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        # the imports first; jobs are sent by a thread of their own, so that submit()
        # never waits for the worker to read (it is importing when the first job comes)
        self._prepared = False
        if modules is not None:
            self.prepare(modules, later)
        self._sender = threading.Thread(target=self._send, name="tiering-worker-send", daemon=True)
        self._collector = threading.Thread(
            target=self._collect, name="tiering-worker-results", daemon=True
        )
        self._sender.start()
        self._collector.start()

    def prepare(self, modules: Iterable[str], later: Iterable[str] = ()) -> None:
        """Send what to import (once, before any job): ``modules`` now, ``later`` when
        idle. The constructor does it unless its ``modules`` is None (a worker started
        before the report knows what it needs: :func:`start_early`)."""
        # the root logger's level: the worker's libraries log what this process would
        # show (--debug: everything; -q: errors only), and nothing of their own making
        level = logging.getLogger().getEffectiveLevel()
        with self._lock:
            if self._prepared:
                return
            self._prepared = True
            self._outbox.put(pickle.dumps((tuple(modules), tuple(later), level)))

    def alive(self) -> bool:
        """Whether the process is running."""
        return self._process.poll() is None

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` in the worker (``fn`` importable by name, the
        arguments picklable). Returns its :class:`~concurrent.futures.Future`."""
        future: Future = Future()
        name = getattr(fn, "__name__", str(fn))
        # pickled now, not later on the sending thread: the caller may change the
        # arguments once this returns
        payload = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        self.prepare(())  # the first message says what to import: nothing more, if unsaid
        with self._lock:
            if self._closed or self._broken or not self.alive():
                future.set_exception(WorkerLost("the report's second process is not running"))
                return future
            job = self._next
            self._next += 1
            self._futures[job] = future
        self._outbox.put(pickle.dumps((job, name, payload)))
        return future

    def _send(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._conn.send_bytes(message)
            except OSError:  # the worker is gone: _collect fails what waits
                return

    def _collect(self) -> None:
        while True:
            try:
                if not self._conn.poll(_POLL):
                    if self.alive():
                        continue
                    self._fail_pending(f"exit code {self._process.returncode}")
                    return
                message = self._conn.recv_bytes()
                job, name, outcome, payload, records, seconds = pickle.loads(message)  # noqa: S301
            except (EOFError, OSError):  # gone, or closed by close()
                self._fail_pending("closed")
                return
            self.seconds[name] = round(seconds, 3)
            for logger, level, message in records:
                logging.getLogger(logger).log(level, "%s", message)
            with self._lock:
                future = self._futures.pop(job, None)
            if future is None:
                continue
            try:
                value = pickle.loads(payload)  # noqa: S301 - our own child's result
            except Exception as exc:  # noqa: BLE001 - a result that does not load: run here
                value, outcome = WorkerLost(f"its result did not load: {exc}"), "lost"
            if outcome == "ok":
                future.set_result(value)
            elif outcome == "lost":
                future.set_exception(value if isinstance(value, WorkerLost) else WorkerLost(value))
            else:  # raised: with the worker's traceback as its cause, as --debug shows it
                exc, remote = value
                exc.__cause__ = _RemoteTraceback(remote)
                future.set_exception(exc)

    def _fail_pending(self, why: str) -> None:
        with self._lock:
            self._broken = True
            pending, self._futures = list(self._futures.values()), {}
        for future in pending:
            if not future.done():
                future.set_exception(WorkerLost(f"the report's second process stopped ({why})"))

    def close(self) -> None:
        """Stop the worker at once, whatever it is doing (its jobs' results are in, or
        no longer wanted). Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self.alive():
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:  # pragma: no cover - SIGTERM ignored
                    self._process.kill()
                    self._process.wait()
        finally:
            self._outbox.put(None)
            self._conn.close()
            self._collector.join(timeout=2 * _POLL + 1)
            self._fail_pending("closed")


#: What the worker imports when started before the report knows what it needs
#: (:func:`start_early`): what every job of it imports first (numpy and pandas, 0.4 s).
FIRST_MODULES = ("pandas",)
_EARLY: list[Worker] = []


def start_early() -> None:
    """Start the report's second process now, importing :data:`FIRST_MODULES`, for the
    next :func:`start` to take: the command line calls this before its own imports and
    the parameters (half a second), so the worker is that much further on when the build
    starts it. :func:`discard_early` closes it if no build took it."""
    if os.environ.get("TIERING_NO_WORKER") or _EARLY:
        return
    try:
        _EARLY.append(Worker(None, first=FIRST_MODULES))
    except Exception as exc:  # noqa: BLE001 - any failure: start() tries again
        log.debug("no early second report process: %s", exc)


def discard_early() -> None:
    """Close the worker :func:`start_early` started, unless a build took it."""
    while _EARLY:
        _EARLY.pop().close()


def plan(params, *, analysed: bool = False) -> tuple[tuple[str, ...], list[str]] | None:
    """What the second process of a report with ``params`` (:class:`tiering.params.Params`)
    imports: ``(modules, later)``, the first job's modules and, when idle, the next ones';
    None when it has nothing to do. The value model's library comes first unless the
    analysis is made already (``analysed``), then WeasyPrint for the PDF: its imports
    would delay the value model by half a second, and the PDF is not needed before the
    notebook has run."""
    jobs: list[tuple[str, ...]] = []
    if params.value.enabled and not analysed:
        jobs.append(VALUE_MODULES)
    if "pdf" in params.output.formats:
        jobs.append(PDF_MODULES)
    if not jobs:
        return None
    return jobs[0], [m for more in jobs[1:] for m in more]


def prepare_early(params) -> None:
    """Tell the process :func:`start_early` started what to import for a report with
    ``params``, as soon as the command line has read them: it then imports on from its
    first modules instead of waiting for the build to start it (a fifth of a second of
    imports of the report's own)."""
    planned = plan(params)
    if planned is None:  # nothing to import: the build discards it
        return
    for early in _EARLY:
        early.prepare(*planned)


def start(modules: Iterable[str], later: Iterable[str] = ()) -> Worker | None:
    """A started :class:`Worker` importing ``modules`` (and ``later`` when idle), or None
    when a second process cannot be started here (the report then runs every step in
    its own process). The one :func:`start_early` started, if it is running."""
    if os.environ.get("TIERING_NO_WORKER"):  # for measuring the report without it
        discard_early()
        return None
    while _EARLY:
        early = _EARLY.pop()
        if early.alive():
            early.prepare(modules, later)
            return early
        early.close()
    try:
        return Worker(modules, later)
    except Exception as exc:  # noqa: BLE001 - any failure: the steps run in this process
        log.debug("no second report process: %s", exc)
        return None


def result_or_run(future: Future | None, fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
    """The result of ``future`` (a job submitted as ``fn(*args, **kwargs)``), or
    ``fn(*args, **kwargs)`` run here when there is no future or the worker was lost."""
    if future is not None:
        try:
            return future.result()
        except WorkerLost as exc:
            log.debug("running %s here: %s", getattr(fn, "__name__", fn), exc)
    return fn(*args, **kwargs)


def pdf_job(html: str, pdf_path: str, *, base_url: str) -> None:
    """The report's PDF: its print page ``html`` (``render.notebook_to_html`` with
    ``media="print"``: the charts as vector SVG) written by WeasyPrint to
    ``pdf_path``."""
    from tiering.build import render

    render.html_to_pdf(html, pdf_path, base_url=base_url)


# --------------------------------------------------------------------------- the process


class _Records(logging.Handler):
    """Keeps the worker's log records, to be logged again by the report's process."""

    def __init__(self):
        super().__init__(logging.NOTSET)
        self.kept: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append((record.name, record.levelno, record.getMessage()))


#: What the worker process runs: puts the report's ``sys.path`` first (a checkout
#: run with PYTHONPATH finds the same package) and serves on the inherited socket.
_BOOT = (
    "import json, sys; path, fd, parent, blocked, first = json.loads(sys.argv[1]); "
    "sys.path[:0] = path; sys.modules.update(dict.fromkeys(blocked)); "
    "from tiering.build.worker import serve; serve(fd, parent, first)"
)


def _blocked() -> list[str]:
    """The modules the report's process has chosen never to import (``None`` in
    ``sys.modules``; ``tiering.cli.UNUSED_IMPORTS``): the worker does not either."""
    return sorted(name for name, module in sys.modules.items() if module is None)


def _exit_with(parent: int) -> None:
    """End this process as soon as the report's process ``parent`` is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def serve(fd: int, parent: int, first: Iterable[str] = ()) -> None:
    """The worker's loop on the socket ``fd``: import ``first``, then the modules of the
    first message, then run jobs until the report's process (``parent``) closes its end
    or is gone.

    The process then ends at once (``os._exit``, after flushing its output): an orderly
    interpreter shutdown with PyMC and PyTensor loaded takes over a second, which the
    report would wait for. Nothing of the worker's needs that shutdown: a job's own
    clean-up has run by then, and its results and records are sent."""
    code = 0
    try:
        _serve(fd, parent, first)
    except SystemExit as exc:  # SIGTERM (close()) while no job ran
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - a closed stream: nothing to keep
                pass
        os._exit(code)


def _serve(fd: int, parent: int, first: Iterable[str]) -> None:
    """:func:`serve` before the process ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    # close() stops a job with SIGTERM: as SystemExit, so that the job's own clean-up
    # runs (html_to_pdf removes its partial file)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # a report killed outright (SIGKILL: no close()) must not leave this process running
    # on to the end of its job, holding the report's standard error open
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    conn = Connection(fd)
    _import(first)
    try:
        modules, later, level = pickle.loads(conn.recv_bytes())  # noqa: S301 - our parent's
    except (EOFError, OSError):
        return
    # every record at the report's level is kept and logged again by the report; a root
    # handler also stops libraries (PyMC) from adding printing handlers of their own
    records = _Records()
    root = logging.getLogger()
    root.handlers[:] = [records]
    root.setLevel(level)
    _import(modules)
    later = list(later)
    while True:
        if later and not conn.poll(0):  # idle: the last job's modules, one at a time
            _import(later[:1])
            del later[:1]
            continue
        try:
            job, name, payload = pickle.loads(conn.recv_bytes())  # noqa: S301 - our parent's
        except (EOFError, OSError):  # the report's process is done with us
            return
        started = time.perf_counter()
        try:
            fn, args, kwargs = pickle.loads(payload)  # noqa: S301 - our own parent's job
            outcome, value = "ok", fn(*args, **kwargs)
        except SystemExit:  # stopped by close(): the job has cleaned up after itself
            return
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            outcome, value = "raised", (_portable(exc), "".join(traceback.format_exception(exc)))
        seconds = time.perf_counter() - started
        try:
            result = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - a result that does not pickle: run it there
            outcome = "lost"
            result = pickle.dumps(f"{name} returned what cannot be sent back ({exc})")
        kept, records.kept = records.kept, []
        try:
            conn.send_bytes(pickle.dumps((job, name, outcome, result, kept, seconds)))
        except OSError:
            return


def _import(modules: Iterable[str]) -> None:
    """Import ``modules``, quietly; one that fails is left for the job to report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. arviz announcing its 1.0 on import
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - the job itself reports what is missing
                continue


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it pickles; else the same error with what of it pickles (a
    ``TieringError`` keeps its type, message, where and hint), or a RuntimeError naming
    it."""
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001, S110 - some attribute does not pickle
        pass
    if isinstance(exc, TieringError):
        clone = type(exc).__new__(type(exc))
        clone.args = tuple(str(a) for a in exc.args)
        for key, item in vars(exc).items():
            try:
                pickle.dumps(item)
            except Exception:  # noqa: BLE001, S112 - left out
                continue
            setattr(clone, key, item)
        return clone
    return RuntimeError(f"{type(exc).__name__}: {exc}")
