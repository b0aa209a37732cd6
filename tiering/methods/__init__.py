"""Tiering methods. Each is a function ``fit(features, spec, *, seed=0) -> TieringResult``.

=========  ==============================================================  ===========
method     what it does                                                    data-driven
=========  ==============================================================  ===========
abc        cumulative share of a value column, fixed or computed cut-offs  yes
rfm        R, F, M scores (quantiles or fixed edges), score or segments    with quantiles
score      weighted multi-criteria value score, quantile shares or         yes
           thresholds
cluster    k-means on log-scaled, standardised features                    yes
rules      declarative rules, first match wins                             no
=========  ==============================================================  ===========

*Data-driven* means a customer's tier depends on the other customers (quantiles,
shares, normalisation, clusters), so :func:`tiering.methods.compare.stability` can
bootstrap it; the cut-offs of ``rules`` and of ``rfm`` with fixed ``edges`` on all
three scores are the user's own.

Register a new method by adding it to ``METHODS``; the parameter schema's
``tiering.method`` names it and ``tiering.<method>`` holds its options.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..errors import MethodError
from ..params import TieringSpec
from . import abc, cluster, rfm, rules, score
from .base import TieringResult, finish

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


from .compare import MethodComparison, compare_methods, stability  # noqa: E402

__all__ = ["METHODS", "MethodComparison", "TieringResult", "compare_methods", "finish", "fit",
           "is_data_driven", "stability"]
