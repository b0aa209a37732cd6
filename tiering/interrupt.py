"""Ctrl-C that a library cannot swallow.

DuckDB 2.0 ignores SIGINT under Python's default handler: a query runs on to its end and
the interrupt is lost, so ``tiering report`` went on and published its report after
Ctrl-C, and ``tiering batch --timeout`` (which stops a report with SIGINT) could find a
report it had stopped published after all. With a handler of our own, DuckDB stops the
query (it raises ``RuntimeError: Query interrupted``), and :data:`REQUESTED` remembers
the request whatever a library does with the exception: the command line reports an
interruption, and :func:`check` before publishing keeps the previous report.

The Python-level handler alone is not enough: it runs only when the main thread gets
back to Python, and a DuckDB query that is not polling for signals at that moment ran
on to its end (measured: 6 of 24 SIGINTs into a long query were lost, depending on
when they arrived). So :func:`install` also asks the interpreter to write each signal
to a socket (``signal.set_wakeup_fd``, done by the C-level handler at once), and a
watcher thread that reads it sets :data:`REQUESTED` and interrupts every DuckDB
connection registered with :func:`track`.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import weakref

REQUESTED = threading.Event()
_CONNECTIONS: weakref.WeakSet = weakref.WeakSet()
_WATCH: dict = {}
_HOOK: dict = {}  # the sys.unraisablehook install() replaced


def _handler(signum, frame) -> None:
    REQUESTED.set()
    raise KeyboardInterrupt


def track(con):
    """Register a DuckDB connection: Ctrl-C interrupts its running query wherever the
    main thread is. Returns ``con``."""
    _CONNECTIONS.add(con)
    if REQUESTED.is_set():
        con.interrupt()
    return con


def _interrupt_tracked() -> None:
    for con in list(_CONNECTIONS):
        try:
            con.interrupt()
        except Exception:  # noqa: BLE001, S110 - a closed connection has nothing to stop
            pass


def _watch(reader: socket.socket) -> None:
    while True:
        try:
            data = reader.recv(64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data:
            REQUESTED.set()
            _interrupt_tracked()


def install():
    """Handle SIGINT (in the main thread only; elsewhere a no-op); returns the previous
    handler for :func:`restore`, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    REQUESTED.clear()
    previous = signal.signal(signal.SIGINT, _handler)
    if "unraisable" not in _HOOK:
        _HOOK["unraisable"] = sys.unraisablehook
        sys.unraisablehook = _unraisable
    if not _WATCH:
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        try:
            old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):  # pragma: no cover - no wakeup fd here
            reader.close()
            writer.close()
            return previous
        thread = threading.Thread(target=_watch, args=(reader,), name="tiering-sigint", daemon=True)
        thread.start()
        _WATCH.update(reader=reader, writer=writer, old_fd=old_fd, thread=thread)
    return previous


def _unraisable(unraisable) -> None:
    """``sys.unraisablehook`` while the handler is installed: a Ctrl-C that landed in a
    finaliser or a weak-reference callback (where Python can only print it, as "Exception
    ignored in ...") is dropped, since :data:`REQUESTED` already stops the run at its next
    :func:`check`; anything else goes to the hook before."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and REQUESTED.is_set():
        return
    _HOOK.get("unraisable", sys.__unraisablehook__)(unraisable)


def restore(previous) -> None:
    """Put back the handler :func:`install` replaced, and forget the request (the
    command that saw it has ended)."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)
        if "unraisable" in _HOOK:
            sys.unraisablehook = _HOOK.pop("unraisable")
        if _WATCH:
            try:
                signal.set_wakeup_fd(_WATCH["old_fd"])
            except (ValueError, OSError):  # pragma: no cover
                pass
            _WATCH["writer"].close()
            _WATCH["reader"].close()
            _WATCH.clear()
    REQUESTED.clear()


def check() -> None:
    """Raise KeyboardInterrupt when an interrupt was requested, even if it was swallowed."""
    if REQUESTED.is_set():
        raise KeyboardInterrupt


def wait_through(ended: threading.Event) -> None:
    """Wait until ``ended`` is set, also through Ctrl-C (which the thread that sets it sees
    through :data:`REQUESTED` and stops for); a Ctrl-C while waiting is raised once it is
    set, so that nothing is moved or removed under that thread. (Not
    ``Thread.join``: interrupted, Python 3.11's marks the thread as ended although it
    runs on.)"""
    interrupted: KeyboardInterrupt | None = None
    while True:
        try:
            if ended.wait():
                break
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted
