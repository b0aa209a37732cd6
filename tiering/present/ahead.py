"""Sections rendered ahead: while the analysis waits for the value model (fitted in the
report's second process), the command's own process renders the notebook sections that
do not depend on that model; the kernel takes each section the build has rendered
instead of rendering it again.

Without this the kernel draws every chart on one core after the wait while the build's
process waits for it (about 2.5 s of a demo report with a core idle). The two processes
share the work through a folder, named to the kernel by the environment variable
:data:`ENV`:

- whoever renders a section first claims it, with a file ``<name>.claim`` created only
  if it does not exist (``O_EXCL``: exactly one of them gets it);
- the build writes what it rendered to ``<name>.html`` (atomically), or ``<name>.none``
  when it gave the section up (the section read something made after the value model);
- the kernel renders a section it claimed itself; one the build claimed it waits for,
  and renders itself when the build gives it up or does not deliver within
  :data:`WAIT_SECONDS`.

Both render with the same functions from the same analysis, and the same section gives
the same bytes in either process (fixed SVG ids, no clock), so the notebook's outputs
do not depend on who rendered what. Without :data:`ENV` (a notebook run in JupyterLab,
by papermill or nbval) every section is rendered where it is called, as before.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

#: The environment variable naming the folder of sections rendered ahead (set only in the
#: report kernel's environment).
ENV = "TIERING_SECTIONS_AHEAD"

#: The sections the build may render ahead, the costliest first (their charts): none of
#: them reads a field of the analysis made after the value model (:data:`LATE_FIELDS`).
SECTIONS = ("profiles", "migration", "stats", "validation", "campaigns", "method", "data")

#: The analysis fields made after the value model (``tiering.analysis.pipeline.run``):
#: a section that reads one is not rendered ahead.
LATE_FIELDS = frozenset({"value", "recommendations", "playbook", "timings"})

#: How long the kernel waits for a section the build claimed before rendering it itself.
WAIT_SECONDS = 120.0


class LateField(Exception):
    """A section rendered ahead read a field made after the value model. (Not an
    ``AttributeError``: ``getattr(a, "value", None)`` or ``hasattr`` must not take it
    for a missing field and render the section without the value model.)"""


class Early:
    """An analysis as it stands before the value model: reading one of
    :data:`LATE_FIELDS` raises :class:`LateField`, every other field is the analysis's."""

    __slots__ = ("_analysis",)

    def __init__(self, analysis):
        object.__setattr__(self, "_analysis", analysis)

    def __getattr__(self, name: str):
        if name in LATE_FIELDS:
            raise LateField(name)
        return getattr(self._analysis, name)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError("the analysis is read-only while sections are rendered ahead")


def _claim(folder: Path, name: str) -> bool:
    """Claim ``name`` in ``folder``: True for exactly one caller."""
    try:
        fd = os.open(folder / f"{name}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _write(path: Path, text: str) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def shared(name: str) -> Callable:
    """Decorate the section function ``name`` (one argument, the analysis): in a kernel
    whose environment names a folder (:data:`ENV`), the build's rendering is taken when
    the build claimed the section first. The undecorated function is ``__wrapped__``."""

    def decorate(fn: Callable[[object], str]) -> Callable[[object], str]:
        @functools.wraps(fn)
        def section(a) -> str:
            folder = os.environ.get(ENV)
            try:
                mine = not folder or _claim(Path(folder), name)
            except OSError:  # the folder is gone (the build failed or ended): render here
                mine = True
            if mine:
                return fn(a)
            got = _wait(Path(folder), name)
            return fn(a) if got is None else got

        return section

    return decorate


def _wait(folder: Path, name: str, timeout: float | None = None) -> str | None:
    """The HTML of ``name`` once the build has written it; None when it gave it up, its
    folder is gone or ``timeout`` (default :data:`WAIT_SECONDS`) seconds passed."""
    html, none = folder / f"{name}.html", folder / f"{name}.none"
    timeout = WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    delay = 0.002
    while time.monotonic() < deadline:
        try:
            return html.read_text(encoding="utf-8")
        except FileNotFoundError:
            pass
        if none.exists() or not folder.is_dir():
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    log.debug("section %s was claimed ahead but not delivered in %.0f s", name, timeout)
    return None


def render_ahead(
    analysis,
    folder: Path,
    sections: Mapping[str, Callable[[object], str]],
    *,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[str]:
    """Render the :data:`SECTIONS` of ``analysis`` (as it stands before the value model:
    read through :class:`Early`) that the kernel has not claimed, with the undecorated
    functions ``sections`` (by name), into ``folder``; stops before the next section
    once ``keep_going()`` is false. Returns the names rendered here."""
    early = Early(analysis)
    done = []
    for name in SECTIONS:
        if not keep_going():
            break
        if not _claim(folder, name):
            continue
        try:
            _write(folder / f"{name}.html", sections[name](early))
        except BaseException as exc:
            # the kernel renders it itself (and reports a failure of its own)
            log.debug("section %s not rendered ahead: %r", name, exc)
            try:
                _write(folder / f"{name}.none", "")
            except OSError:  # e.g. a full disk: the kernel stops waiting after WAIT_SECONDS
                pass
            if not isinstance(exc, Exception):
                raise
            continue
        done.append(name)
    return done
