"""The analysis for analysts: ``tiering.analyse(data, **parameters)`` in a notebook of
their own, with the loader's rules and the report's numbers.

    import pandas as pd
    import tiering

    frame = pd.read_csv("data/demo_transactions.csv", dtype={"customer_id": str})
    result = tiering.analyse(frame, data={"attributes": ["region"]},
                             tiering={"method": "rfm"})
    result.tiers            # one row per customer: features, scores, tier
    result.rejected         # every row not used, with its row number and reason
    result.write_tables("out/")   # tiers.csv & co., byte for byte as `tiering report`

``data`` is a file path (any format the loader reads) or a pandas DataFrame of raw
transactions, one row per order line; column roles are recognised from the headers as
for files, or given in ``data={"columns": {...}}``. A DataFrame goes through exactly the
loader's rules: it is written to a temporary Parquet file and read back as a file would
be (ids as text, blank or NaN ids rejected with a reason, amounts and dates parsed,
duplicates counted). Its row numbers in ``rejected`` are the frame's positions plus 2,
as if row 1 were the header. Read ids as text (``dtype={"customer_id": str}``): pandas
turns ``001008`` into the number 1008, and the zeros are gone before tiering sees them.

The other keyword arguments are the parameter file's top-level keys (``tiering``,
``stats``, ``language``, ``as_of`` ...), validated the same way: unknown keys and bad
values are one :class:`~tiering.errors.ParamsError` listing every problem.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import params as _params
from .errors import require

__all__ = ["Analysed", "analyse"]


@dataclass(frozen=True)
class Analysed:
    """What :func:`analyse` returns.

    ``analysis``: the typed analysis the report is built from (tiers, statistics,
    holdout check, migration, strategies); ``loaded``: the clean transactions and the
    rejected rows; ``params``: the validated parameters.
    """

    analysis: Any
    loaded: Any
    params: _params.Params

    @property
    def tiers(self) -> pd.DataFrame:
        """One row per customer: id, features, scores, ``tier`` and ``tier_rank``."""
        return self.analysis.tiers

    @property
    def tier_summary(self) -> pd.DataFrame:
        """One row per tier: customers, revenue, shares, medians."""
        return self.analysis.tier_summary

    @property
    def rejected(self) -> pd.DataFrame:
        """Every input row not used: ``row``, ``reason``, ``detail`` and the raw values."""
        return self.loaded.rejected

    def write_tables(self, folder: str | Path) -> list[str]:
        """Write the report's tables (``tiers.csv``, ``tier_summary.csv``, ...,
        ``action_lists.xlsx``) into ``folder``; returns their names."""
        from . import outputs

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return sorted(outputs.write_tables(self.analysis, self.loaded, folder))


def _frame_to_parquet(frame: pd.DataFrame, path: Path) -> None:
    """The frame as a Parquet file the loader reads like any other: column names as text,
    and object columns that mix types (a number among strings) as text."""
    out = frame.reset_index(drop=True).copy()
    out.columns = [str(c) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object:
            values = out[col]
            kinds = {type(v) for v in values.dropna()}
            if len(kinds) > 1:
                out[col] = values.map(lambda v: None if pd.isna(v) else str(v))
    out.to_parquet(path, index=False)


def analyse(data: str | Path | pd.DataFrame, /, **parameters) -> Analysed:
    """Run the report's analysis on ``data`` (a file path or a DataFrame of raw
    transactions) with the parameters of a parameter file given as keywords. See the
    module docstring."""
    raw: dict[str, Any] = {k: v for k, v in parameters.items()}
    data_params = dict(raw.pop("data", None) or {})
    require("path" not in data_params, "Give the data as the first argument, not data.path",
            where="tiering.analyse(data, data={'path': ...})",
            hint="tiering.analyse('transactions.csv') or tiering.analyse(frame)")
    if isinstance(data, pd.DataFrame):
        with tempfile.TemporaryDirectory(prefix="tiering-frame-") as tmp:
            path = Path(tmp) / "dataframe.parquet"
            _frame_to_parquet(data, path)
            engine = dict(raw.pop("engine", None) or {})
            engine.setdefault("engine", "pandas")  # the frame is in memory already
            cfg = _params.validate({**raw, "engine": engine,
                                    "data": {**data_params, "path": str(path),
                                             "format": "parquet"}},
                                   base_dir=Path.cwd(), source="tiering.analyse(...)")
            return _run(cfg, display_path="pandas.DataFrame")
    require(isinstance(data, (str, Path)),
            f"tiering.analyse needs a file path or a pandas DataFrame, got {type(data).__name__}",
            where="tiering.analyse(data)", hint="pass a path or a DataFrame of transactions")
    cfg = _params.validate({**raw, "data": {**data_params, "path": str(data)}},
                           base_dir=Path.cwd(), source="tiering.analyse(...)")
    return _run(cfg)


def _run(cfg: _params.Params, *, display_path: str | None = None) -> Analysed:
    from . import pipeline

    analysis, loaded = pipeline.run(cfg)
    if display_path is not None:  # the temporary file is gone: name what it was
        for source in {id(analysis.source): analysis.source,
                       id(loaded.source): loaded.source}.values():
            source["path"] = display_path
            source["format"] = "dataframe"
    return Analysed(analysis=analysis, loaded=loaded, params=cfg)
