"""Tiering methods added from outside the package: the one place they are registered
(and the entry-point loading that report languages share, :func:`installed`).

A method is described by a :class:`tiering.analysis.methods.base.Method` (its name, fit
function, options model, whether it is data-driven, its bootstrap and its report texts).
The built-in methods are listed in :mod:`tiering.analysis.methods.registry`; a method of
your own is added either

- for the current process, with :func:`register_method` (e.g. in a notebook, before
  ``tiering.analyse``), or
- for every process, including the report notebook's kernel, as an installed entry point
  in the group ``tiering.methods`` whose object is the ``Method``::

      [project.entry-points."tiering.methods"]
      toy = "my_package.tiering_methods:TOY"

The parameter file then names it like a built-in: ``tiering: {method: toy, toy: {...}}``.
This module is in the base layer: it only stores the descriptions (it never imports the
analysis), so :mod:`tiering.params` can validate a method's name and options with it.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from importlib.metadata import entry_points
from typing import Any

from tiering.errors import TieringError

GROUP = "tiering.methods"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")

_registered: dict[str, Any] = {}
_entry_points_loaded = False


def _check(method: Any, source: str) -> str:
    name = getattr(method, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise TieringError(
            f"A tiering method needs a lower-case name, got {name!r}",
            where=source,
            hint="e.g. Method(name='toy', ...)",
        )
    for attr in ("fit", "options"):
        if getattr(method, attr, None) is None:
            raise TieringError(
                f"The tiering method {name!r} has no {attr}",
                where=source,
                hint="describe it with tiering.analysis.methods.Method",
            )
    return name


def register_method(method: Any) -> None:
    """Add a method for this process (replacing one of the same name added before).
    A name that is a built-in method or another key of the ``tiering`` block is refused
    when the parameters are validated (:func:`tiering.params.method_names`)."""
    _registered[_check(method, "register_method")] = method


def unregister_method(name: str) -> None:
    """Remove a method added with :func:`register_method` (tests, notebooks)."""
    _registered.pop(name, None)


def installed(group: str, *, skip: Container[str] = ()) -> Iterator[tuple[Any, str]]:
    """The objects of the installed entry points of ``group`` (those named in ``skip``
    left out), each with where it came from; a plugin that cannot be loaded is a clear
    error naming it. Also used for the report languages (:mod:`tiering.locale`)."""
    for ep in entry_points(group=group):
        if ep.name in skip:
            continue
        try:
            obj = ep.load()
        except Exception as exc:
            raise TieringError(
                f"The plugin {ep.name!r} ({ep.value}) of {group} cannot be loaded: {exc}",
                where=f"entry point group {group}",
                hint="fix or uninstall the package that provides it",
            ) from exc
        yield obj, f"entry point {ep.name} = {ep.value}"


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for method, source in installed(GROUP, skip=_registered):
        _registered[_check(method, source)] = method


def methods() -> dict[str, Any]:
    """The added methods by name: entry points first loaded, then those registered."""
    _load_entry_points()
    return dict(_registered)
