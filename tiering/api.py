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
    result.build_report("reports/frame")   # the PDF and HTML report of this analysis

    tiering.tier(customers, method="rfm")     # tier a customer table you already have

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

from tiering import params as _params
from tiering.errors import DataError, ParamsError, TieringError, require

__all__ = ["Analysed", "analyse", "tier"]


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
    def strategies(self) -> pd.DataFrame:
        """One row per tier: the playbook's plan and a headline of the tier's numbers, in
        the report language (``strategies.csv``)."""
        from tiering.present.strategy_text import strategies_of

        return strategies_of(self.analysis)

    @property
    def rejected(self) -> pd.DataFrame:
        """Every input row not used: ``row``, ``reason``, ``detail`` and the raw values."""
        return self.loaded.rejected

    def build_report(self, output: str | Path, *, generated=None) -> Path:
        """Build the report (PDF, HTML, tables, manifest) from this analysis into
        ``output``, with the same rules as ``tiering report``: the folder must be new,
        empty or a report folder tiering wrote. ``generated`` is the cover date (default
        today). Returns the folder."""
        from tiering.build import report

        return report.build(self.params, output=output, generated=generated, analysed=self)

    def write_tables(self, folder: str | Path) -> list[str]:
        """Write the report's tables (``tiers.csv``, ``tier_summary.csv``, ...,
        ``action_lists.xlsx``) into ``folder``; returns their names."""
        from tiering.build import outputs

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return sorted(outputs.write_tables(self.analysis, self.loaded, folder))


def _as_text(values: pd.Series) -> pd.Series:
    return values.map(
        lambda v: (
            None
            if v is None or (isinstance(v, float) and v != v) or v is pd.NaT or v is pd.NA
            else str(v)
        )
    ).astype(object)


def _frame_to_parquet(frame: pd.DataFrame, path: Path) -> None:
    """The frame as a Parquet file the loader reads like any other: column names as text;
    a column Parquet cannot hold as it is (types mixed, Python integers beyond 64 bits,
    complex numbers ...) as text."""
    import pyarrow as pa

    out = frame.reset_index(drop=True)
    names = [str(c) for c in out.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(
            f"Column name(s) {', '.join(map(repr, repeated))} appear more than once "
            "in the DataFrame",
            where="tiering.analyse(frame)",
            hint="rename or drop the repeated columns (e.g. frame.loc[:, "
            "~frame.columns.duplicated()])",
        )
    columns = {}
    for i, name in enumerate(names):
        values = out.iloc[:, i]
        if values.dtype == object and len({type(v) for v in values.dropna()}) > 1:
            values = _as_text(values)
        try:
            pa.array(values, from_pandas=True)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            values = _as_text(values)
        columns[name] = values
    pd.DataFrame(columns).to_parquet(path, index=False)


def analyse(data: str | Path | pd.DataFrame, /, **parameters) -> Analysed:
    """Run the report's analysis on ``data`` (a file path or a DataFrame of raw
    transactions) with the parameters of a parameter file given as keywords. See the
    module docstring."""
    raw: dict[str, Any] = {k: v for k, v in parameters.items()}
    data_params = dict(raw.pop("data", None) or {})
    require(
        "path" not in data_params,
        "Give the data as the first argument, not data.path",
        where="tiering.analyse(data, data={'path': ...})",
        hint="tiering.analyse('transactions.csv') or tiering.analyse(frame)",
    )
    engine = raw.pop("engine", None) or {}
    engine = {"engine": engine} if isinstance(engine, str) else dict(engine)  # engine="duckdb"
    with tempfile.TemporaryDirectory(prefix="tiering-analyse-") as tmp:
        if isinstance(data, pd.DataFrame):
            path = Path(tmp) / "dataframe.parquet"
            _frame_to_parquet(data, path)
            engine.setdefault("engine", "pandas")  # the frame is in memory already
            cfg = _params.validate(
                {
                    **raw,
                    "engine": engine,
                    "data": {**data_params, "path": str(path), "format": "parquet"},
                },
                base_dir=Path.cwd(),
                source="tiering.analyse(...)",
            )
            try:
                return _run(cfg, Path(tmp), display_path="pandas.DataFrame")
            except ParamsError:
                raise
            except TieringError as exc:  # name the frame, not the temporary file
                raise _frame_error(exc, path) from None
        require(
            isinstance(data, (str, Path)),
            f"tiering.analyse needs a file path or a pandas DataFrame, got {type(data).__name__}",
            where="tiering.analyse(data)",
            hint="pass a path or a DataFrame of transactions",
        )
        cfg = _params.validate(
            {
                **raw,
                **({"engine": engine} if engine else {}),
                "data": {**data_params, "path": str(data)},
            },
            base_dir=Path.cwd(),
            source="tiering.analyse(...)",
        )
        return _run(cfg, Path(tmp))


def tier(features: pd.DataFrame, /, *, seed: int = 0, **tiering):
    """Tier a customer table you already have, without the loader: one row per customer
    with ``customer_id`` and the columns the method uses (``monetary``, ``frequency``,
    ``recency_days`` ... or any numeric column the options name). The keywords are the
    parameter file's ``tiering`` block, validated the same way::

        result = tiering.tier(customers, method="rfm", labels=["A", "B", "C"])
        result.assignments   # customer_id, tier, tier_rank and the method's scores
        result.thresholds    # one row per tier: its definition in the method's terms

    Returns the method's :class:`~tiering.analysis.methods.TieringResult`. Ids are
    compared as text; a missing or repeated id is a :class:`~tiering.errors.DataError`
    naming the rows. Any method of the registry works, including one added through
    :mod:`tiering.plugins`.
    """
    from tiering.analysis import methods

    require(
        isinstance(features, pd.DataFrame),
        f"tiering.tier needs a pandas DataFrame of customers, got {type(features).__name__}",
        where="tiering.tier(features)",
        hint="one row per customer with customer_id and the columns the method uses",
    )
    require(
        "customer_id" in features.columns,
        "The customer table has no column customer_id",
        where="tiering.tier(features)",
        error=DataError,
        hint="rename the id column: features.rename(columns={'id': 'customer_id'})",
    )
    ids = features["customer_id"]
    missing = ids.isna() | (ids.astype("string").str.strip() == "")
    require(
        not missing.any(),
        f"{int(missing.sum())} customer(s) have no customer_id "
        f"(rows {', '.join(map(str, list(features.index[missing])[:5]))})",
        where="tiering.tier(features['customer_id'])",
        error=DataError,
        hint="drop or fill those rows; tiering.analyse(...) rejects them with a reason",
    )
    text_ids = ids.astype(str)
    repeated = text_ids.duplicated(keep=False)
    require(
        not repeated.any(),
        f"customer_id repeats: {', '.join(sorted(set(text_ids[repeated]))[:5])}",
        where="tiering.tier(features['customer_id'])",
        error=DataError,
        hint="one row per customer: aggregate the transactions first, or use "
        "tiering.analyse(transactions)",
    )
    cfg = _params.validate(
        {"data": {"path": "customer table"}, "seed": seed, "tiering": tiering},
        source="tiering.tier(...)",
    )
    frame = features.reset_index(drop=True).assign(customer_id=text_ids.to_numpy())
    return methods.fit(frame, cfg.tiering, seed=cfg.seed)


def _frame_error(exc: TieringError, path: Path) -> TieringError:
    """``exc`` with the temporary file's name replaced by the DataFrame."""

    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        return (
            text.replace(str(path), "the DataFrame")
            .replace(path.name, "the DataFrame")
            .replace("export the data again", "check the DataFrame")
        )

    try:
        return type(exc)(
            fix(exc.message), where=fix(exc.where) or "tiering.analyse(frame)", hint=fix(exc.hint)
        )
    except TypeError:  # an error type with other arguments: keep it as it is
        return exc


def _run(cfg: _params.Params, tmp: Path, *, display_path: str | None = None) -> Analysed:
    import dataclasses

    from tiering.analysis import pipeline

    rejected_path = tmp / "rejected_rows.csv"
    analysis, loaded = pipeline.run(cfg, rejected_path=rejected_path)
    if loaded.rejected is None:  # a streaming engine wrote them to the temporary file
        frame = (
            pd.read_csv(rejected_path, dtype=str, keep_default_na=False)
            if rejected_path.is_file()
            else pd.DataFrame(columns=["row", "reason"])
        )
        if "row" in frame:
            frame["row"] = pd.to_numeric(frame["row"], errors="coerce").astype("Int64")
        loaded = dataclasses.replace(loaded, rejected=frame, rejected_path=None)
    if display_path is not None:  # the temporary file is gone: name what it was
        for source in {
            id(analysis.source): analysis.source,
            id(loaded.source): loaded.source,
        }.values():
            source["path"] = display_path
            source["format"] = "dataframe"
    return Analysed(analysis=analysis, loaded=loaded, params=cfg)
