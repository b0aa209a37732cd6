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
shares, normalisation, clusters), so :func:`tiering.analysis.methods.compare.stability` can
bootstrap it; the cut-offs of ``rules`` and of ``rfm`` with fixed ``edges`` on all
three scores are the user's own.

A method is one module that ends with its :class:`Method` (``METHOD``: fit, options
model, data-driven flag, bootstrap, report texts); the built-in ones are listed in
:mod:`tiering.analysis.methods.registry`. Add your own without changing the package:
``register(Method(...))`` for this process, or an entry point in the group
``tiering.methods`` for every process (see :mod:`tiering.plugins`). The parameter file's
``tiering.method`` names it and ``tiering.<method>`` holds its options.
"""

from __future__ import annotations

from tiering.analysis.methods.base import Method, TieringResult, finish
from tiering.analysis.methods.compare import MethodComparison, compare_methods, stability
from tiering.analysis.methods.registry import (
    BUILTIN,
    built_from,
    fit,
    get,
    is_data_driven,
    methods,
    register,
)

__all__ = [
    "BUILTIN",
    "Method",
    "MethodComparison",
    "TieringResult",
    "built_from",
    "compare_methods",
    "finish",
    "fit",
    "get",
    "is_data_driven",
    "methods",
    "register",
    "stability",
]
