"""The registry of tiering methods: the built-in ones (each module's ``METHOD``) and
those added through :mod:`tiering.plugins`. Everything that depends on the method —
the parameter check, fitting, the stability bootstrap, the comparison of methods, the
report's method section — reads it from here. :mod:`tiering.analysis.methods`
re-exports it; the method modules and :mod:`tiering.analysis.methods.compare` import it
from here (no module imports its package)."""

from __future__ import annotations

import pandas as pd

from tiering import plugins
from tiering.analysis.methods import abc, cluster, rfm, rules, score
from tiering.analysis.methods.base import Method, TieringResult
from tiering.errors import MethodError
from tiering.params import BUILTIN_METHODS, TieringSpec, method_names

#: The built-in methods, in the order of :data:`tiering.params.BUILTIN_METHODS`.
BUILTIN: dict[str, Method] = {
    m.name: m
    for m in sorted(
        (abc.METHOD, rfm.METHOD, score.METHOD, cluster.METHOD, rules.METHOD),
        key=lambda m: BUILTIN_METHODS.index(m.name),
    )
}


def methods() -> dict[str, Method]:
    """Every method by name: the built-in ones, then the added ones."""
    method_names()  # refuses a plugin that takes a reserved name
    return {**BUILTIN, **plugins.methods()}


def get(name: str) -> Method:
    """The method called ``name``."""
    found = methods().get(name)
    if found is None:
        raise MethodError(
            f"Unknown tiering method {name!r}",
            where="tiering.method",
            hint=f"choose one of {', '.join(methods())}",
        )
    return found


def register(method: Method) -> None:
    """Add a method for this process (see :mod:`tiering.plugins` for every process)."""
    if not isinstance(method, Method):
        raise MethodError(
            "register() needs a tiering.analysis.methods.Method",
            where="register(method)",
            hint="describe the method with Method(name=..., fit=..., options=...)",
        )
    plugins.register_method(method)


def built_from(method: str, params: dict) -> tuple[str, ...] | None:
    """The customer columns tiers of ``method`` with the fitted ``params`` are computed
    from (they differ in these by construction); None when the method does not say or
    the method is not registered in this process."""
    found = methods().get(method)
    if found is None or found.built_from is None:
        return None
    try:
        return tuple(dict.fromkeys(str(c) for c in found.built_from(params)))
    except (KeyError, TypeError, ValueError, SyntaxError):  # params of another version
        return None


def fit(features: pd.DataFrame, spec: TieringSpec, *, seed: int = 0) -> TieringResult:
    """Tier customers with the method named in ``spec.method``. ``seed`` (the parameter
    file's ``seed``) seeds the methods that draw random numbers (cluster)."""
    return get(spec.method).fit(features, spec, seed=seed)


def is_data_driven(spec: TieringSpec) -> bool:
    """Whether the tiers of ``spec.method`` depend on the other customers."""
    return get(spec.method).is_data_driven(spec)
