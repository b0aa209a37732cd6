"""CSV tables that are safe to open in a spreadsheet and identical from run to run.

``write_csv(df, path)``: UTF-8, ``\\n`` line ends, no index, ISO timestamps. Text cells
that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``@``, a tab, a
carriage return, or ``-`` not followed by a number) get a leading ``'``; numbers are
written as they are. Column headers are cells too: a header such as an attribute
column named ``=HYPERLINK(...)`` gets the same ``'``. ``unprefix`` undoes it when such a
table is read back.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
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


#: The rule of :func:`formula_safe` for engines without look-ahead (Arrow, DuckDB's RE2):
#: a text is risky when it matches ``RISKY_START``, or starts with ``-`` and does not
#: match ``NEGATIVE_NUMBER``.
RISKY_START = "^[=+@\t\r]"
NEGATIVE_NUMBER = r"^-\s*[\d.,]+(?:[eE][-+]?\d+)?\s*$"  # -12.5, -1,234, -1e5: left alone
_MAYBE_RISKY = "^[-=+@\t\r]"  # RISKY_START or a leading "-"


def _text_array(series: pd.Series):
    """The column as Arrow strings (missing values null), made formula-safe."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        arr = pa.array(series, type=pa.string(), from_pandas=True)
    else:  # mixed objects: as pandas would print them
        values = series.astype(object).to_numpy()
        arr = pa.array(
            [
                None
                if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)
                else str(v)
                for v in values
            ],
            type=pa.string(),
        )
    if not pc.any(pc.match_substring_regex(arr, _MAYBE_RISKY)).as_py():
        return arr  # the usual column: one pass over it, no copy
    risky = pc.or_(
        pc.match_substring_regex(arr, RISKY_START),
        pc.and_(
            pc.starts_with(arr, "-"), pc.invert(pc.match_substring_regex(arr, NEGATIVE_NUMBER))
        ),
    )
    return pc.if_else(risky, pc.binary_join_element_wise("'", arr, ""), arr)


def _arrow_table(df: pd.DataFrame):
    """``df`` as an Arrow table of what pandas' ``to_csv`` would print: text made
    formula-safe, booleans as True/False, timestamps as ``YYYY-MM-DD HH:MM:SS``."""
    import pyarrow as pa

    arrays = []
    for i in range(df.shape[1]):
        s = df.iloc[:, i]  # by position: the names may repeat
        if isinstance(s.dtype, pd.CategoricalDtype):
            arrays.append(_text_array(s.astype(str)))
        elif pd.api.types.is_bool_dtype(s.dtype) and not s.isna().any():
            arrays.append(
                pa.array(np.where(s.to_numpy(dtype=bool), "True", "False"), type=pa.string())
            )
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            if getattr(s.dtype, "tz", None) is not None:
                raise TypeError("time-zone-aware timestamps: written by pandas")
            # Arrow's cast to text writes ``YYYY-MM-DD HH:MM:SS`` for whole seconds, as
            # ``strftime`` does, 30 times faster (1M timestamps: 0.03 s, strftime 1 s)
            seconds = pa.array(s).cast(pa.timestamp("s"), safe=False)
            arrays.append(seconds.cast(pa.string()))
        elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            arrays.append(pa.array(s))
        else:
            arrays.append(_text_array(s))
    return pa.Table.from_arrays(arrays, names=[formula_safe(str(c)) for c in df.columns])


def write_csv(df: pd.DataFrame, path: str | Path, *, bom: bool = False) -> None:
    """Write ``df`` (see the module docstring); ``bom``: start with a UTF-8 byte-order
    mark, which Excel needs to read UTF-8. Arrow writes it (fast); tables Arrow
    cannot hold (mixed objects) are written by pandas the same way."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = _arrow_table(df)
    except (pa.ArrowException, TypeError, ValueError):
        table = None
    if table is not None and len(set(table.column_names)) == len(table.column_names):
        with open(path, "wb") as fh:
            if bom:
                fh.write(b"\xef\xbb\xbf")
            pacsv.write_csv(table, fh, write_options=pacsv.WriteOptions(quoting_style="needed"))
        return
    out = df.copy()
    out.columns = range(out.shape[1])  # by position: the names may repeat
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str)
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(formula_safe)
    out.columns = [formula_safe(str(c)) for c in df.columns]  # headers are cells too
    out.to_csv(
        path,
        index=False,
        lineterminator="\n",
        encoding="utf-8-sig" if bom else "utf-8",
        date_format="%Y-%m-%d %H:%M:%S",
    )
