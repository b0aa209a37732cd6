"""Build layer: execute the report notebook, render HTML and PDF, write the tables and
the workbook, the manifest, and the rule of what tiering may delete (``owned``)."""

import sys as _sys

# jsonschema (under nbformat, papermill and nbconvert) imports the optional package
# rfc3987_syntax when it is installed - jupyterlab's jupyter-events installs it - and
# that import builds a parser grammar: about 1 s of every report (measured: importing
# papermill, nbconvert and nbformat's validator takes 1.6 s with it, 0.6 s without).
# The notebook schema checks no IRI formats, so the build layer marks it absent. This
# only affects jsonschema's optional "iri" format checks, in a process that imports
# tiering.build before jsonschema; it is undone with `del sys.modules["rfc3987_syntax"]`.
if "jsonschema" not in _sys.modules:
    _sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
