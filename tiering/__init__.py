"""tiering: reproducible customer-tiering analysis and report generator.

Importing the package has no side effects; the submodules are imported on use.

For analysts: ``tiering.analyse(data, **parameters)`` runs the report's analysis on a
file or a pandas DataFrame (see :mod:`tiering.api`).
"""

__version__ = "0.1.0"

__all__ = ["Analysed", "__version__", "analyse"]


def __getattr__(name: str):
    if name in ("analyse", "Analysed"):
        from tiering import api

        return getattr(api, name)
    raise AttributeError(f"module 'tiering' has no attribute {name!r}")
