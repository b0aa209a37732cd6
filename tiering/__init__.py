"""tiering: reproducible customer-tiering analysis and report generator.

Importing the package has no side effects; the submodules are imported on use.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
