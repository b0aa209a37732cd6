"""Transactions → customer features on Apache Spark (PySpark), local or on a cluster.

The split of the work:

- Spark reads the file, numbers its rows, runs the loader's per-row rules batch by
  batch (``mapInPandas`` with :func:`tiering.data.engines._rules.screen_batch`, which calls
  ``tiering.data.io``'s own parsers, so every value gets the loader's reading), and does
  everything that needs the whole file: the column-wide reading decisions, the as-of
  date and window, exact duplicate rows, the aggregation per customer, the counts per
  reason and the rejected rows.
- The header row, column roles, encoding and delimiter are found from the head of the
  file exactly as the DuckDB engine finds them (with ``tiering.data.io``'s detection).

``engine.spark_master`` selects the cluster (``local[*]`` by default; ``spark://host:7077``,
``yarn``, ``k8s://...``) and ``engine.spark_conf`` passes further settings. On a
cluster the data file must be readable by the executors under the same path (a shared
file system, ``hdfs://``, ``s3a://`` with the matching Hadoop libraries); the rejected
rows are written by Spark and then copied to ``rejected_path`` on the driver.

Limits: the rows are numbered and read by line, so a line break inside a quoted value,
a space before an opening quote (``a, "b"``) or text after a closing quote
(``"Quote" & Co``), which the loader reads by records, are refused with the line (use
the DuckDB or pandas engine for such a file); Excel workbooks are not read (use the
pandas engine).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from tiering import interrupt
from tiering.data.engines import _rules as R
from tiering.errors import TieringError


class SparkUnavailable(TieringError):
    """PySpark or Java is missing."""


def available() -> tuple[bool, str]:
    """Whether the Spark engine can run here, and why not."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False, "PySpark is not installed (pip install 'tiering[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return False, "Java is not installed (Spark needs Java 17 or 21)"
    return True, ""


_SESSIONS: dict = {}


def session(spec):
    """The Spark session for ``spec`` (one per master and settings, kept for reuse)."""
    ok, why = available()
    if not ok:
        raise SparkUnavailable(
            f"The Spark engine cannot run: {why}",
            where="engine",
            hint="install it, or use engine: duckdb",
        )
    from pyspark.sql import SparkSession

    key = (spec.spark_master, tuple(sorted(spec.spark_conf.items())), spec.threads)
    if key in _SESSIONS:
        return _SESSIONS[key]
    # the Python workers must be this interpreter (it has tiering and pandas)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = spec.spark_master
    if master == "local[*]" and spec.threads:
        master = f"local[{spec.threads}]"
    builder = (
        SparkSession.builder.master(master)
        .appName("tiering")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", spec.memory_limit.replace("GB", "g").replace("MB", "m"))
        .config("spark.pyspark.python", sys.executable)
    )
    if spec.temp_directory:
        builder = builder.config("spark.local.dir", str(spec.temp_directory))
    for k, v in spec.spark_conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _SESSIONS[key] = spark
    return spark


def _read(spark, lay, src, workdir: Path | None = None):
    """The raw text rows: ``row`` (the loader's row number) and ``c0..`` (text)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    n = len(lay.headers)
    if lay.fmt == "parquet":
        df = spark.read.parquet(str(_unique_names(lay, workdir)))
        cols = []
        for i, (name, dtype) in enumerate(df.dtypes):
            c = F.col(f"`{name}`")
            if dtype.startswith("timestamp"):
                e = F.date_format(c, "yyyy-MM-dd HH:mm:ss")
            elif dtype == "date":
                e = F.date_format(c, "yyyy-MM-dd")
            elif dtype == "boolean":
                e = F.when(c, F.lit("True")).when(~c, F.lit("False"))
            else:
                e = c.cast("string")
            cols.append(F.coalesce(e, F.lit("")).alias(f"c{i}"))
        df = df.select(*cols)
        first_row = lay.info["header_row"] + 1
        schema = StructType([StructField("row", LongType())] + df.schema.fields)
        rdd = df.rdd.zipWithIndex().map(lambda p: (p[1] + first_row, *p[0]))
        return spark.createDataFrame(rdd, schema)
    path = str(lay.path)
    if lay.info.get("transcoded_from") is None and _is_gzip_named_otherwise(path):
        raise TieringError(
            "A gzip-compressed file without the .gz extension",
            where=path,
            hint="rename it to .csv.gz for the Spark engine",
        )
    header_row = lay.info["header_row"]
    lines = spark.read.text(path)
    schema = StructType([StructField(f"c{i}", StringType()) for i in range(n)])
    numbered = (
        lines.rdd.zipWithIndex()
        .filter(lambda p: p[1] >= header_row)
        .map(lambda p: (p[1] + 1, p[0][0]))
    )
    df = spark.createDataFrame(
        numbered, StructType([StructField("row", LongType()), StructField("line", StringType())])
    )
    delim = lay.info.get("delimiter") or ","
    ddl = ", ".join(f"c{i} STRING" for i in range(n))
    parsed = F.from_csv(
        F.col("line"), ddl, {"sep": delim, "quote": '"', "escape": '"', "mode": "PERMISSIVE"}
    )
    # Lines read otherwise than the loader reads them (which reads records, not lines): an
    # odd number of quotes (a line break inside quotes, or a quote never closed), a space
    # before an opening quote (a, "b"), text after a closing quote ("Quote" & Co)
    line = F.col("line")
    d = re.escape(delim)
    inner = F.regexp_replace(line, '""', "")
    odd = ((F.length(line) - F.length(F.regexp_replace(line, '"', ""))) % 2 == 1) & line.rlike(
        f'(^|{d})"'
    )
    space_before = inner.rlike(f'(^|{d})[ \\t]+"')
    text_after = inner.rlike(f'(^|{d})"[^"]*"[^{d}"\\r]')
    quoting = F.when(F.instr(line, '"') > 0, odd | space_before | text_after).otherwise(
        F.lit(False)
    )
    return df.select("row", parsed.alias("v"), quoting.alias("quoting")).select(
        "row", *[F.col(f"v.c{i}") for i in range(n)], "quoting"
    )


def _unique_names(lay, workdir: Path | None) -> Path:
    """The Parquet file, or a copy whose columns are named c0..cN when names repeat
    (also in another case: Spark compares names case-insensitively and refuses them);
    columns are used by position."""
    import pyarrow.parquet as pq

    names = [str(n).lower() for n in pq.read_schema(lay.path).names]
    if len(set(names)) == len(names):
        return Path(lay.path)
    table = pq.ParquetFile(lay.path).read()
    table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    out = Path(tempfile.mkdtemp(prefix="parquet-", dir=workdir)) / "data.parquet"
    pq.write_table(table.replace_schema_metadata(None), out)
    return out


def _is_gzip_named_otherwise(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b" and not path.endswith(".gz")


def _screen(raw, lay, src, modes, today):
    """The per-row rules, batch by batch, in the Python workers."""
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    n = len(lay.headers)
    headers = list(lay.headers)
    mapping = dict(lay.mapping)
    attributes = [a for a in src.attributes]
    exclude = {k: list(v) for k, v in src.exclude.items()}
    prefixes = tuple(src.cancellations.order_id_prefixes)
    negative = bool(src.cancellations.negative_amounts)
    roles = ("amount",) if "amount" in mapping else ("quantity", "unit_price")
    names = ([mapping["customer_name"]] if "customer_name" in mapping else []) + [
        a for a in attributes if a != "customer_name"
    ]
    fields = [
        StructField("row", LongType()),
        StructField("cust", StringType()),
        StructField("ord", StringType()),
        StructField("is_ret", BooleanType()),
        StructField("d_us", LongType()),
        StructField("amt", DoubleType()),
        StructField("pre_reason", StringType()),
        StructField("pre_detail", StringType()),
        StructField("date_kind", IntegerType()),
        StructField("nonblank", BooleanType()),
    ]
    fields += [StructField(f"shape_{r}", IntegerType()) for r in roles]
    fields += [StructField(f"a{i}", StringType()) for i in range(len(names))]
    fields += [StructField(f"c{i}", StringType()) for i in range(n)]
    fields += [StructField("quoting", BooleanType())]
    schema = StructType(fields)
    dayfirst, decimal, thousands = modes
    typed = tuple(r for r in roles if r in lay.typed)

    def run(batches):
        from tiering.data.engines import _rules as RR

        for b in batches:
            raw = b[[f"c{i}" for i in range(n)]].copy()
            raw.columns = headers
            out = RR.screen_batch(
                raw,
                mapping=mapping,
                attributes=attributes,
                exclude=exclude,
                prefixes=prefixes,
                negative_returns=negative,
                dayfirst=dayfirst,
                decimal=decimal,
                thousands=thousands,
                today=today,
                typed=typed,
            )
            out.insert(0, "row", b["row"].to_numpy())
            for r in roles:
                out[f"shape_{r}"] = out[f"shape_{r}"].astype("int32")
            for i in range(n):
                out[f"c{i}"] = b[f"c{i}"].to_numpy(dtype=object)
            out["quoting"] = (
                b["quoting"].fillna(False).to_numpy(dtype=bool) if "quoting" in b else False
            )
            out["date_kind"] = out["date_kind"].astype("int32")
            yield out[[f.name for f in fields]]

    return raw.mapInPandas(run, schema)


def _first(p, column: str, cond, n: int) -> list[tuple[str, int]]:
    """The first ``n`` (value, row) of the screened rows ``p`` where ``cond`` holds."""
    rows = p.filter(cond).orderBy("row").select("row", column).limit(n).collect()
    return [(str(r[1] or "").strip()[:40], int(r[0])) for r in rows]


def _quoting_error(p, lay):
    """A line the Spark engine would read otherwise than the loader (it reads lines)."""
    from tiering.errors import DataError

    row = p.filter("quoting").orderBy("row").select("row").first()[0]
    name = Path(lay.info["path"]).name
    return DataError(
        f"Line {row} of {name} has quoting the Spark engine cannot read as the "
        "other engines do (a line break inside quotes, a quote never closed, a "
        "space before an opening quote, or text after a closing quote)",
        where=f"{name}, line {row}",
        hint="use engine: duckdb or pandas for this file, or export it again "
        "with every value quoted the standard way",
    )


def _date_error(p, lay):
    """``tiering.data.io.date_convention_error`` with the file's first examples."""
    from pyspark.sql import functions as F

    from tiering.data import io as _io

    c = f"c{lay.headers.index(lay.mapping['order_date'])}"
    kind = F.col("date_kind")
    return _io.date_convention_error(
        file=Path(lay.info["path"]).name,
        column=lay.mapping["order_date"],
        day=_first(p, c, kind.bitwiseAND(R.KIND_DAY_ONLY) > 0, 1)[0],
        month=_first(p, c, kind.bitwiseAND(R.KIND_MONTH_ONLY) > 0, 1)[0],
    )


def _amount_error(p, lay, role: str):
    """``tiering.data.io.amount_convention_error`` with the file's first examples."""
    from pyspark.sql import functions as F

    from tiering.data import io as _io

    c = f"c{lay.headers.index(lay.mapping[role])}"
    shape = F.col(f"shape_{role}")
    return _io.amount_convention_error(
        file=Path(lay.info["path"]).name,
        column=lay.mapping[role],
        ambiguous=_first(p, c, shape == R.SHAPE_AMBIGUOUS, 2),
        thousands=_first(p, c, shape == R.SHAPE_THOUSANDS, 1),
        decimal=_first(p, c, shape == R.SHAPE_DECIMAL, 1),
    )


def _duck_round(values, digits: int = 6):
    """DuckDB's ``round`` (what ``tiering.data.features`` applies to sums)."""
    import duckdb

    df = pd.DataFrame({"x": pd.Series(values, dtype="float64")})
    con = interrupt.track(duckdb.connect())
    try:
        con.register("v", df)
        return con.sql(f"SELECT round(x, {digits}) AS x FROM v").df()["x"].to_numpy()
    finally:
        con.close()


def compute(
    src,
    *,
    as_of=None,
    window_start=None,
    window_months=None,
    spec=None,
    rejected_path=None,
    today=None,
):
    """Customer features and rejected rows of ``src`` on Spark (see the module doc)."""
    import warnings

    from tiering.params import EngineSpec

    spec = spec or EngineSpec(engine="spark")
    today = today or R.today()
    with warnings.catch_warnings():
        # PySpark 4.x warns that it "does not yet fully support pandas >= 3"; the parts
        # used here (mapInPandas with plain columns, toPandas) are tested with it
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        warnings.filterwarnings("ignore", message=".*copy keyword is deprecated.*")
        return _compute(src, as_of, window_start, window_months, spec, rejected_path, today)


def _compute(src, as_of, window_start, window_months, spec, rejected_path, today):
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from tiering.data import io as _io
    from tiering.data.engines.base import FeatureResult, quality_table
    from tiering.data.engines.duckdb_stream import UnsupportedSource, attribute_names, inspect
    from tiering.data.features import finish_features
    from tiering.data.io import REASONS, sha256_file

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="tiering-spark-", dir=spec.temp_directory))
    try:
        lay = inspect(src, workdir)
        spark = session(spec)
        timings["start"] = round(time.perf_counter() - t0, 3)
        raw = _read(spark, lay, src, workdir)
        mapping = lay.mapping
        roles = ("amount",) if "amount" in mapping else ("quantity", "unit_price")
        decimal = _io.decimal_param(src)
        given = _io.dayfirst_param(src)
        modes = (bool(given), decimal, ())
        shapes = (R.SHAPE_THOUSANDS, R.SHAPE_DECIMAL, R.SHAPE_AMBIGUOUS)
        for _attempt in range(3):
            p = _screen(raw, lay, src, modes, today).filter(F.col("nonblank"))
            p = p.persist(StorageLevel.MEMORY_AND_DISK)
            kinds = (R.KIND_DAY_ONLY, R.KIND_MONTH_ONLY, R.KIND_SLASH, R.KIND_OTHER)
            flags = (
                p.agg(
                    *[
                        F.max((F.col("date_kind").bitwiseAND(k) > 0).cast("int")).alias(f"kind{k}")
                        for k in kinds
                    ],
                    *[
                        F.max((F.col(f"shape_{r}") == k).cast("int")).alias(f"shape_{r}_{k}")
                        for r in roles
                        for k in shapes
                    ],
                    F.max(F.when(F.col("pre_reason").isNull(), F.col("d_us"))).alias("max_valid"),
                    F.max(F.col("quoting").cast("int")).alias("quoting"),
                    F.count(F.lit(1)).alias("rows"),
                )
                .collect()[0]
                .asDict()
            )
            if flags["quoting"]:
                raise _quoting_error(p, lay)
            dayfirst = _io.day_first(sum(k for k in kinds if flags[f"kind{k}"]), given)
            if dayfirst is None:
                raise _date_error(p, lay)
            thousands = []
            for r in roles:
                if decimal is not None or r in lay.typed:
                    continue
                decided = _io.thousands_dots({k for k in shapes if flags[f"shape_{r}_{k}"]})
                if decided is None:
                    raise _amount_error(p, lay, r)
                if decided:
                    thousands.append(r)
            new = (dayfirst, decimal, tuple(thousands))
            if new == modes:
                break
            p.unpersist()
            modes = new
        timings["screen"] = round(time.perf_counter() - t0 - timings["start"], 3)
        if flags["rows"] == 0:
            raise UnsupportedSource(
                f"The file {Path(src.path).name} has a header but no data rows",
                where=str(src.path),
                hint="export the data again",
            )
        last = flags["max_valid"]
        if as_of is None:
            as_of = (
                (pd.Timestamp(last, unit="us") + pd.Timedelta(days=1)).date()
                if last is not None
                else today
            )
        if window_months is not None:
            window_start = (pd.Timestamp(as_of) - pd.DateOffset(months=window_months)).date()
        as_of_us = int(pd.Timestamp(as_of).value // 1000)
        late = [
            (
                F.col("d_us") >= as_of_us,
                "after_as_of",
                F.concat(
                    F.lit("date "),
                    F.date_format(F.timestamp_micros("d_us"), "yyyy-MM-dd"),
                    F.lit(f" >= as_of {as_of}"),
                ),
            )
        ]
        if window_start is not None:
            start_us = int(pd.Timestamp(window_start).value // 1000)
            late.append(
                (
                    F.col("d_us") < start_us,
                    "before_window",
                    F.concat(
                        F.lit("date "),
                        F.date_format(F.timestamp_micros("d_us"), "yyyy-MM-dd"),
                        F.lit(f" < start {window_start}"),
                    ),
                )
            )
        raw_cols = [f"c{i}" for i in range(len(lay.headers))]
        dup_mode = "reject" if src.duplicate_rows == "reject" else spec.duplicates
        if dup_mode == "reject":
            w = Window.partitionBy(*raw_cols).orderBy("row")
            p = p.withColumn("is_dup", F.row_number().over(w) > 1)
            late.append((F.col("is_dup"), "duplicate_row", F.lit("duplicate of an earlier row")))
        reason_late = None
        detail_late = None
        for cond, code, text in late:
            reason_late = (
                F.when(cond, F.lit(code))
                if reason_late is None
                else reason_late.when(cond, F.lit(code))
            )
            detail_late = (
                F.when(cond, text) if detail_late is None else detail_late.when(cond, text)
            )
        p = p.withColumn("reason", F.coalesce(F.col("pre_reason"), reason_late)).withColumn(
            "detail",
            F.when(F.col("pre_reason").isNotNull(), F.col("pre_detail")).otherwise(
                F.coalesce(detail_late, F.lit(""))
            ),
        )
        valid = p.filter(F.col("reason").isNull())
        n_attr = len(attribute_names(lay, src))
        aggs = [
            F.count(F.lit(1)).alias("n_rows"),
            F.countDistinct(F.when(~F.col("is_ret"), F.col("ord"))).alias("frequency"),
            F.sum("amt").alias("net"),
            F.sum(F.when(~F.col("is_ret"), F.col("amt"))).alias("gross"),
            F.sum(F.when(F.col("is_ret"), F.col("amt"))).alias("ret"),
            F.sum(F.col("is_ret").cast("long")).alias("ret_rows"),
            F.min(F.when(~F.col("is_ret"), F.col("d_us"))).alias("fp"),
            F.max(F.when(~F.col("is_ret"), F.col("d_us"))).alias("lp"),
            F.min("d_us").alias("d_min"),
            F.max("d_us").alias("d_max"),
        ]
        if n_attr:
            aggs.append(
                F.max_by(
                    F.struct(*[F.col(f"a{i}") for i in range(n_attr)]),
                    F.struct(F.col("d_us"), F.col("row")),
                ).alias("latest")
            )
        agg = valid.groupBy("cust").agg(*aggs)
        if n_attr:
            agg = agg.select(
                "*", *[F.col(f"latest.a{i}").alias(f"latest_a{i}") for i in range(n_attr)]
            ).drop("latest")
        got = agg.toPandas().sort_values("cust", kind="stable").reset_index(drop=True)
        counts = {
            r["reason"]: int(r["count"])
            for r in p.filter(F.col("reason").isNotNull()).groupBy("reason").count().collect()
        }
        dups = None
        if dup_mode == "count":
            dups = int(flags["rows"] - p.select(*raw_cols).distinct().count())
        elif dup_mode == "reject":
            dups = int(p.filter(F.col("is_dup")).count())
        timings["aggregate"] = round(
            time.perf_counter() - t0 - timings["start"] - timings["screen"], 3
        )

        def ts(col):
            return pd.to_datetime(col.astype("float64"), unit="us")

        first_p = ts(got["fp"]).fillna(ts(got["d_min"]))
        last_p = ts(got["lp"]).fillna(ts(got["d_max"]))
        features = pd.DataFrame(
            {
                "customer_id": got["cust"].to_numpy(),
                "first_purchase": first_p.to_numpy(),
                "last_purchase": last_p.to_numpy(),
                "frequency": got["frequency"].to_numpy(),
                "monetary": _duck_round(got["net"]),
                "gross_revenue": _duck_round(got["gross"].fillna(0.0)),
                "returns_value": _duck_round(-got["ret"].fillna(0.0)),
            }
        )
        names = attribute_names(lay, src)
        for i, name in enumerate(names):
            features[name] = got[f"latest_a{i}"].to_numpy()
        feats = finish_features(features, as_of=as_of, extra=names)
        used = int(got["n_rows"].sum()) if len(got) else 0
        source = {k: v for k, v in lay.info.items() if k != "header_width"}
        source.update(
            sha256=sha256_file(src.path),
            rows_read=int(flags["rows"]),
            rows_used=used,
            rows_rejected=int(flags["rows"]) - used,
            return_rows=int(got["ret_rows"].sum()) if len(got) else 0,
            return_value=float(-got["ret"].fillna(0).sum()) if len(got) else 0.0,
            duplicate_rows=dups,
            engine="spark",
            spark_master=spec.spark_master,
            modes={"dayfirst": modes[0], "thousands_dots": list(modes[2]), "decimal": modes[1]},
            today=today.isoformat(),
        )
        if rejected_path is not None:
            t = time.perf_counter()
            _write_rejected(p, lay, Path(rejected_path), workdir, REASONS)
            timings["rejected"] = round(time.perf_counter() - t, 3)
        p.unpersist()
        timings["total"] = round(time.perf_counter() - t0, 3)
        first = ts(got["d_min"]).min() if len(got) else None
        last_d = ts(got["d_max"]).max() if len(got) else None
        return FeatureResult(
            features=feats,
            quality=quality_table(counts),
            source=source,
            as_of=as_of,
            window_start=window_start,
            attributes=tuple(src.attributes),
            first_date=None if first is None or pd.isna(first) else pd.Timestamp(first),
            last_date=None if last_d is None or pd.isna(last_d) else pd.Timestamp(last_d),
            rejected_path=Path(rejected_path) if rejected_path else None,
            engine="spark",
            timings=timings,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _write_rejected(p, lay, path: Path, workdir: Path, reasons: dict) -> None:
    """The rejected rows as one CSV (``row, reason, category, detail, src_<column>...``)."""
    from pyspark.sql import functions as F

    names = ["row", "reason", "category", "detail"] + [f"src_{h}" for h in lay.headers]
    category = None
    for code, (cat, _) in reasons.items():
        cond = F.col("reason") == code
        category = F.when(cond, F.lit(cat)) if category is None else category.when(cond, F.lit(cat))
    cols = [
        F.col("row"),
        F.col("reason"),
        category.alias("category"),
        F.when(F.col("detail") != "", F.col("detail")).alias("detail"),
    ]
    cols += [
        F.when(F.col(f"c{i}") != "", F.col(f"c{i}")).alias(f"x{i}") for i in range(len(lay.headers))
    ]
    rej = p.filter(F.col("reason").isNotNull()).select(*cols).orderBy("row")
    out = workdir / "rejected"
    rej.coalesce(1).write.csv(
        str(out),
        header=False,
        quote='"',
        escape='"',
        emptyValue="",
        nullValue="",
        lineSep="\n",
        mode="overwrite",
        ignoreLeadingWhiteSpace=False,
        ignoreTrailingWhiteSpace=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    header = pd.DataFrame(columns=names).to_csv(index=False, lineterminator="\n")
    with open(part, "w", encoding="utf-8", newline="") as fh:
        fh.write(header)
        for f in sorted(out.glob("part-*")):
            with open(f, encoding="utf-8", newline="") as src_fh:
                shutil.copyfileobj(src_fh, fh)
    os.replace(part, path)
