"""The registry of tiering methods: ``METHODS`` (name → fit function), :func:`fit` and
:func:`is_data_driven`. :mod:`tiering.analysis.methods` re-exports them; the method modules and
:mod:`tiering.analysis.methods.compare` import them from here (no module imports its package)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from tiering.errors import MethodError
from tiering.params import TieringSpec
from tiering.analysis.methods import abc, cluster, rfm, rules, score
from tiering.analysis.methods.base import TieringResult

METHODS: dict[str, Callable[..., TieringResult]] = {
    "abc": abc.fit,
    "rfm": rfm.fit,
    "score": score.fit,
    "cluster": cluster.fit,
    "rules": rules.fit,
}


def fit(features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0) -> TieringResult:
    """Tier customers with the method named in ``spec.method``. ``seed`` (the parameter
    file's ``seed``) seeds the methods that draw random numbers (cluster)."""
    method = METHODS.get(spec.method)
    if method is None:
        raise MethodError(f"Unknown tiering method {spec.method!r}", where="tiering.method",
                          hint=f"choose one of {', '.join(METHODS)}")
    return method(features, spec, seed=seed)


def is_data_driven(spec: TieringSpec) -> bool:
    """Whether the tiers of ``spec.method`` depend on the other customers (see above)."""
    if spec.method == "rules":
        return False
    if spec.method == "rfm":
        return rfm.is_data_driven(spec)
    return True
