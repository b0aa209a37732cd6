"""tiering: reproducible customer-tiering analysis and report generator.

Importing the package has no side effects; the submodules are imported on use.

For analysts: ``tiering.analyse(data, **parameters)`` runs the report's analysis on a
file or a pandas DataFrame, ``tiering.tier(customers, **tiering)`` tiers a customer table
directly (see :mod:`tiering.api`), and ``tiering.register_method(Method(...))`` adds a
tiering method of your own (see :mod:`tiering.plugins`).
"""

__version__ = "0.1.0"

__all__ = ["Analysed", "__version__", "analyse", "register_method", "tier"]


def __getattr__(name: str):
    if name in ("analyse", "Analysed", "tier"):
        from tiering import api

        return getattr(api, name)
    if name == "register_method":
        from tiering.analysis.methods import register

        return register
    raise AttributeError(f"module 'tiering' has no attribute {name!r}")
