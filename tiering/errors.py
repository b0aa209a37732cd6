"""One exception hierarchy for every user-facing problem.

Every message says what is wrong, where (file, sheet, column, row or parameter key)
and how to fix it. The command line prints ``str(error)`` without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class TieringError(Exception):
    """Base class of all errors the user can fix."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self._format())

    def __reduce__(self):
        # as it is, not rebuilt from its text: a report's second process
        # (tiering.build.worker) sends its errors back pickled
        return (_restore, (type(self), self.args, self.__dict__))

    def _format(self) -> str:
        parts = [self.message]
        if self.where:
            parts.append(f"  where: {self.where}")
        if self.hint:
            parts.append(f"  how to fix: {self.hint}")
        return "\n".join(parts)


def _restore(cls: type, args: tuple, state: dict) -> TieringError:
    """A pickled :class:`TieringError` again, with its text and attributes."""
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ParamsError(TieringError):
    """The parameter file is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[str], *, source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"Invalid parameters in {source}" if source else "Invalid parameters"
        lines = [f"{head} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class DataError(TieringError):
    """The input data cannot be used as it is (missing column, unreadable file, ...)."""


class MethodError(TieringError):
    """A tiering method cannot be applied to this data with these options."""


class RenderError(TieringError):
    """Executing the notebook or rendering HTML/PDF failed."""

    exit_code = 3


def require(
    condition: bool,
    message: str,
    *,
    where: str | None = None,
    hint: str | None = None,
    error: type[TieringError] = TieringError,
) -> None:
    """Raise ``error`` with a located, actionable message unless ``condition`` holds.

    The one validation helper of the package: library code never uses ``assert``.
    """
    if not condition:
        raise error(message, where=where, hint=hint)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``name`` (for did-you-mean hints), or None."""
    import difflib

    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None
