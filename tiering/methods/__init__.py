"""Tiering methods. Each is a function ``fit(features, spec) -> TieringResult``.

Register a new method by adding it to ``METHODS``; the parameter schema's
``tiering.method`` names it and ``tiering.<method>`` holds its options.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..errors import MethodError
from ..params import TieringSpec
from .base import TieringResult, finish
from . import abc, rfm

METHODS: dict[str, Callable[[pd.DataFrame, TieringSpec], TieringResult]] = {
    "abc": abc.fit,
    "rfm": rfm.fit,
}


def fit(features: pd.DataFrame, spec: TieringSpec) -> TieringResult:
    """Tier customers with the method named in ``spec.method``."""
    method = METHODS.get(spec.method)
    if method is None:
        raise MethodError(f"Unknown tiering method {spec.method!r}", where="tiering.method",
                          hint=f"choose one of {', '.join(METHODS)}")
    return method(features, spec)


__all__ = ["METHODS", "TieringResult", "fit", "finish"]
