"""Ctrl-C that a library cannot swallow.

DuckDB 2.0 ignores SIGINT under Python's default handler: a query runs on to its end and
the interrupt is lost, so ``tiering report`` went on and published its report after
Ctrl-C, and ``tiering batch --timeout`` (which stops a report with SIGINT) could find a
report it had stopped published after all. With a handler of our own, DuckDB stops the
query (it raises ``RuntimeError: Query interrupted``), and :data:`REQUESTED` remembers
the request whatever a library does with the exception: the command line reports an
interruption, and :func:`check` before publishing keeps the previous report.
"""

from __future__ import annotations

import signal
import threading

REQUESTED = threading.Event()


def _handler(signum, frame) -> None:
    REQUESTED.set()
    raise KeyboardInterrupt


def install():
    """Handle SIGINT (in the main thread only; elsewhere a no-op); returns the previous
    handler for :func:`restore`, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    REQUESTED.clear()
    return signal.signal(signal.SIGINT, _handler)


def restore(previous) -> None:
    """Put back the handler :func:`install` replaced, and forget the request (the
    command that saw it has ended)."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)
    REQUESTED.clear()


def check() -> None:
    """Raise KeyboardInterrupt when an interrupt was requested, even if it was swallowed."""
    if REQUESTED.is_set():
        raise KeyboardInterrupt
