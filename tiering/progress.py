"""Progress of a run's steps, for whoever shows it (the command line's bar or lines).

Every step of the analysis (:mod:`tiering.analysis.pipeline`) and of the build
(:mod:`tiering.build.report`) runs inside :func:`timed`, which records its seconds in
the run's timings and logs an INFO record on :data:`LOGGER` when it starts and when it
ends, with the attributes ``step`` (its name in the timings), ``phase`` (``start`` or
``done``) and, when done, ``seconds``. Nothing is printed here: :mod:`tiering.cli`
attaches the display while a report runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER = "tiering.progress"
_log = logging.getLogger(LOGGER)


@contextmanager
def timed(timings: dict, step: str) -> Iterator[None]:
    """Time a step into ``timings[step]`` (seconds, 3 decimals) and report it."""
    _log.info("%s ...", step, extra={"step": step, "phase": "start"})
    t0 = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - t0, 3)
    _log.info(
        "%s done in %.2f s",
        step,
        timings[step],
        extra={"step": step, "phase": "done", "seconds": timings[step]},
    )
