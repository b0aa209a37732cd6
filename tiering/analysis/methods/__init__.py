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

Register a new method by adding it to ``METHODS`` in :mod:`tiering.analysis.methods.registry`;
the parameter schema's
``tiering.method`` names it and ``tiering.<method>`` holds its options.
"""

from __future__ import annotations

from tiering.analysis.methods.base import TieringResult, finish
from tiering.analysis.methods.registry import METHODS, fit, is_data_driven
from tiering.analysis.methods.compare import MethodComparison, compare_methods, stability

__all__ = ["METHODS", "MethodComparison", "TieringResult", "compare_methods", "finish", "fit",
           "is_data_driven", "stability"]
