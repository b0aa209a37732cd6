"""CSV tables that are safe to open in a spreadsheet and identical from run to run.

``write_csv(df, path)``: UTF-8, ``\\n`` line ends, no index, ISO timestamps. Text cells
that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``@``, a tab, a
carriage return, or ``-`` not followed by a number) get a leading ``'``; numbers are
written as they are. ``unprefix`` undoes it when such a table is read back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

_FORMULA = re.compile(r"^(?:[=+@\t\r]|-(?!\s*[\d.,]+(?:[eE][-+]?\d+)?\s*$))")


def formula_safe(value):
    """``value`` with a leading ``'`` when a spreadsheet would run it as a formula."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def unprefix(value):
    """The value :func:`formula_safe` was given (for tables read back)."""
    if isinstance(value, str) and value.startswith("'") and _FORMULA.match(value[1:]):
        return value[1:]
    return value


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(formula_safe)
        elif isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str).map(formula_safe)
    out.to_csv(path, index=False, lineterminator="\n", encoding="utf-8",
               date_format="%Y-%m-%d %H:%M:%S")
