"""The parameter schema and YAML loading.

A parameter file is YAML read with a safe loader that refuses aliases (no "billion
laughs"), duplicate keys, complex (list or mapping) keys and files over
``MAX_PARAMS_BYTES``; UTF-8, UTF-16 and GBK files are recognised, other encodings
refused with a message naming them. It is validated by the
pydantic models below; unknown keys are errors with a did-you-mean, and every problem
is reported at once with its key path (``tiering.abc.cutoffs``).

Relative data and playbook paths are resolved against the folder of the parameter
file; the output folder is resolved against the current working directory. The report
notebook run by papermill without its ``params_file`` tries several folders
(:func:`notebook_folders`) and refuses names that are not its parameters
(:func:`refuse_undeclared`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from tiering import locale, plugins, style
from tiering.errors import ParamsError, TieringError, closest
from tiering.sniff import utf16_without_bom

MAX_PARAMS_BYTES = 256 * 1024
MAX_SEED = 2**32 - 1  # numpy's legacy seeding and scikit-learn's random_state

METRICS = (
    "monetary",
    "frequency",
    "recency_days",
    "aov",
    "tenure_days",
    "gross_revenue",
    "returns_value",
)


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are YAML floats; no parameter of ours means one
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


#: Names of the columns the pipeline adds to the transaction, customer and tier tables
#: (``tiering.data.io.LoadResult.transactions``, ``tiering.data.features.FEATURE_COLUMNS``, the
#: score columns of every method): an attribute column of that name would collide with
#: them, so ``data.attributes`` may not name one.
RESERVED_COLUMNS = (
    "row",
    "customer_id",
    "order_id",
    "order_date",
    "amount",
    "is_return",
    "first_purchase",
    "last_purchase",
    "recency_days",
    "frequency",
    "monetary",
    "gross_revenue",
    "returns_value",
    "aov",
    "tenure_days",
    "tier",
    "tier_rank",
    "cum_share",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_code",
    "segment",
    "rule",
    "value_score",
)

#: Text encodings named in messages (any encoding Python knows is accepted).
ENCODING_EXAMPLES = (
    "auto",
    "utf-8",
    "utf-8-sig",
    "gb18030",
    "gbk",
    "big5",
    "utf-16",
    "latin-1",
    "cp1252",
    "shift_jis",
)

#: The earliest analysis date: the loader rejects order dates before 1900.
MIN_DATE = dt.date(1900, 1, 2)
#: How far after today ``as_of`` may lie: the loader rejects order dates after tomorrow,
#: so a later analysis date only makes every customer look lost (or is a typo).
MAX_DAYS_AHEAD = 366


def _date_in_range(v: dt.date | None, what: str) -> dt.date | None:
    if v is None:
        return v
    latest = dt.date.today() + dt.timedelta(days=MAX_DAYS_AHEAD)
    if v < MIN_DATE:
        raise ValueError(
            f"{what} {v.isoformat()} is before {MIN_DATE.isoformat()}; order dates "
            "before 1900 are rejected as implausible, so give a date after them"
        )
    if v > latest:
        raise ValueError(
            f"{what} {v.isoformat()} is more than a year in the future; order "
            "dates after tomorrow are rejected as typos, so give a date at most "
            f"{MAX_DAYS_AHEAD} days from today (or leave as_of out: the day "
            "after the last transaction)"
        )
    return v


class EngineSpec(_Strict):
    """``engine:`` in the parameter file: where the transaction → customer step runs.

    - ``engine``: ``auto`` (pandas for small files and Excel, ``duckdb`` from
      ``AUTO_STREAM_BYTES`` on), ``pandas``, ``duckdb`` or ``spark``.
    - ``memory_limit``: DuckDB's memory limit (``"4GB"``, ``"75%"``); beyond it DuckDB
      spills to ``temp_directory``. Spark: the driver memory in local mode.
    - ``threads``: DuckDB threads (default: all cores); Spark local mode: ``local[threads]``.
    - ``temp_directory``: where spilled data and transcoded copies go (default: the
      system temporary folder).
    - ``cache_dir``: where features are cached by input SHA-256 and these parameters;
      ``null`` turns the cache off.
    - ``duplicates``: ``count`` counts exact duplicate rows when ``data.duplicate_rows``
      is ``keep``, as the pandas path does (a distinct count of row hashes: about a
      quarter more time on large files); ``skip`` does not (``duplicate_rows`` is then
      None, "not counted"). With ``duplicate_rows: reject`` they are always found.
    - ``spark_master``: Spark master URL (``local[*]``, ``spark://host:7077``,
      ``yarn``); ``spark_conf``: extra Spark settings (``spark.executor.memory``...).
    """

    engine: Literal["auto", "pandas", "duckdb", "spark"] = "auto"
    memory_limit: str = Field("4GB", pattern=r"^\s*\d+(\.\d+)?\s*(%|[KMGT]i?B|[KMGT])\s*$")
    threads: int | None = Field(None, ge=1, le=1024)
    temp_directory: Path | None = None
    cache_dir: Path | None = None
    duplicates: Literal["count", "skip"] = "count"
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("memory_limit")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.replace(" ", "")


class MigrationSpec(_Strict):
    """Parameters of the migration analysis (top-level key ``migration``).

    - ``period``: ``quarter`` (default), ``month``, or ``none`` to switch it off.
    - ``periods``: how many snapshots (period ends), most recent first; default all
      that have a full period of data before them, at most 8.
    - ``churn_days``: a customer with no purchase in this many days before a snapshot
      is *lapsed* at that snapshot.
    - ``previous_report``: the folder of an earlier report run (with its ``tiers.csv``
      and ``manifest.json``) to compare today's tiers with the tiers delivered then.
    - ``previous_thresholds``: ``refit`` (today's method re-fitted on today's data,
      the default) or ``frozen`` (the earlier report's thresholds applied to today's
      data) for the headline comparison; both are computed.
    """

    period: Literal["none", "month", "quarter"] = "quarter"
    periods: int | None = Field(None, ge=2, le=36)
    churn_days: int = Field(180, ge=1, le=3650)
    previous_report: Path | None = None
    previous_thresholds: Literal["frozen", "refit"] = "refit"

    @model_validator(mode="after")
    def _previous_needs_periods(self):
        if self.period == "none" and self.previous_report is not None:
            raise ValueError(
                "previous_report is compared in the migration analysis: set "
                "period to quarter or month, or remove previous_report"
            )
        return self


class Columns(_Strict):
    """Which header of the data file plays which role. Omitted roles are recognised
    from common English and Chinese headers."""

    customer_id: str | None = None
    order_date: str | None = None
    order_id: str | None = None
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    customer_name: str | None = None


class Cancellations(_Strict):
    """How returns and cancellations are recognised; they are netted, never dropped."""

    order_id_prefixes: list[str] = Field(default_factory=list)
    negative_amounts: bool = True


class _FileOptions(_Strict):
    """The checks of the options every input file has (delimiter, encoding), shared by
    ``data`` and the second files; the fields are declared by each model, in its order."""

    @field_validator("delimiter", check_fields=False)
    @classmethod
    def _one_char(cls, v):
        if v is not None and len(v) != 1:
            raise ValueError("must be a single character such as ',' ';' or '\\t'")
        return v

    @field_validator("encoding", check_fields=False)
    @classmethod
    def _known_encoding(cls, v):
        if v == "auto":
            return v
        import codecs

        try:
            codecs.lookup(v)
            "a".encode(v)  # refuses codecs that are not text encodings (rot13, base64)
        except (LookupError, TypeError, ValueError):  # UnicodeError is a ValueError
            raise ValueError(
                f"unknown text encoding {v!r}; use one Python knows, e.g. "
                f"{', '.join(ENCODING_EXAMPLES)}"
            ) from None
        return v


class _SecondFile(_FileOptions):
    """A second input file read by the transaction loader's rules (format, encoding,
    delimiter, header row below title lines, sheet, day/month order, decimal mark):
    the customer master and the campaign results. ``path`` is relative to the
    parameter file."""

    path: Path
    format: Literal["auto", "csv", "tsv", "xlsx", "parquet"] = "auto"
    sheet: str | int | None = None
    encoding: str = "auto"
    delimiter: str | None = None
    skip_rows: int = Field(0, ge=0)
    dayfirst: bool | None = None
    decimal: Literal[".", ","] | None = None


class MasterColumns(_Strict):
    """Which header of the customer master plays which role (``data.customers.columns``);
    omitted roles are recognised from English and Chinese headers
    (``tiering.data.customers.SYNONYMS``). Every other column is kept as an attribute."""

    customer_id: str | None = None
    customer_name: str | None = None
    credit_rating: str | None = None
    credit_score: str | None = None
    overdue_days: str | None = None
    overdue_amount: str | None = None
    credit_limit: str | None = None
    signup_date: str | None = None
    owner: str | None = None
    industry: str | None = None
    customer_type: str | None = None
    satisfaction: str | None = None
    nps: str | None = None
    referrals: str | None = None
    list_status: str | None = None


class CustomerMaster(_SecondFile):
    """``data.customers``: the client's customer master (CRM export), one row per
    customer, joined to the transactions by customer id (read by
    ``tiering.data.customers``)."""

    columns: MasterColumns = Field(default_factory=MasterColumns)


class CampaignColumns(_Strict):
    """Which header of the campaign results plays which role (``data.campaigns.columns``);
    omitted roles are recognised from English and Chinese headers
    (``tiering.data.campaigns.SYNONYMS``)."""

    customer_id: str | None = None
    campaign: str | None = None
    date: str | None = None
    group: str | None = None
    responded: str | None = None
    converted: str | None = None
    revenue: str | None = None


class CampaignSource(_SecondFile):
    """``data.campaigns``: campaign results, one row per customer contacted (read by
    ``tiering.data.campaigns``). ``treatment_values`` / ``control_values``: more values
    of the group column that mean the treated or the control group, beside the ones
    recognised (treatment, test, 实验组 ...; control, holdout, 对照组 ...)."""

    columns: CampaignColumns = Field(default_factory=CampaignColumns)
    treatment_values: list[str] = Field(default_factory=list)
    control_values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _groups_apart(self):
        both = {v.strip().lower() for v in self.treatment_values} & {
            v.strip().lower() for v in self.control_values
        }
        if both:
            raise ValueError(
                f"{', '.join(sorted(map(repr, both)))} is in both treatment_values and "
                "control_values; a group value can mean only one group"
            )
        return self


class DataSource(_FileOptions):
    path: Path
    format: Literal["auto", "csv", "tsv", "xlsx", "parquet"] = "auto"
    sheet: str | int | None = None
    encoding: str = "auto"
    delimiter: str | None = None
    skip_rows: int = Field(0, ge=0)
    columns: Columns = Field(default_factory=Columns)
    attributes: list[str] = Field(default_factory=list)
    cancellations: Cancellations = Field(default_factory=Cancellations)
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    duplicate_rows: Literal["keep", "reject"] = "keep"
    #: dates: true = day/month/year, false = month/day/year; null (default) lets each
    #: column decide from its values (13/01 proves day first), and a column that
    #: contradicts itself is refused
    dayfirst: bool | None = None
    #: amounts: "," when a dot separates thousands (250.000 = 250000), "." when it is the
    #: decimal point; null (default) lets each column decide, and an ambiguous column is
    #: refused
    decimal: Literal[".", ","] | None = None
    #: Excel: a customer id written once for a block of merged cells is refused unless
    #: this is true; then every row of the block gets the block's id (and its name, order
    #: id and date; never its amount)
    fill_merged_ids: bool = False
    #: a second file: the customer master (credit, overdue, owner, satisfaction, ...)
    customers: CustomerMaster | None = None
    #: a third file: campaign results (group, responded, converted, revenue)
    campaigns: CampaignSource | None = None

    @model_serializer(mode="wrap")
    def _dump_files_given(self, handler):
        # the master and campaign files appear in dumps (manifest, notebook, cache key)
        # only when given, so that parameters without them dump as before
        out = handler(self)
        for name in ("customers", "campaigns"):
            if out.get(name) is None:
                out.pop(name, None)
        return out

    @field_validator("attributes")
    @classmethod
    def _not_reserved(cls, v):
        bad = [a for a in v if a in RESERVED_COLUMNS]
        if bad:
            raise ValueError(
                f"attribute column(s) {', '.join(map(repr, bad))} have the name of a column the "
                f"analysis computes itself; rename the column in the data file (e.g. "
                f"{bad[0]!r} -> {'customer_' + bad[0]!r}) and in data.attributes. Reserved "
                f"names: {', '.join(RESERVED_COLUMNS)}"
            )
        return v

    @model_validator(mode="after")
    def _name_attribute(self):
        name = self.columns.customer_name
        if "customer_name" in self.attributes and name not in (None, "customer_name"):
            raise ValueError(
                "data.attributes names a column 'customer_name', but the customer "
                f"names are read from {name!r} (data.columns.customer_name): the "
                "two would collide; rename the column 'customer_name' in the data "
                "file"
            )
        return self


class Window(_Strict):
    """The analysis window: transactions from ``start`` (or ``months`` before as_of)
    up to the day before ``as_of``."""

    start: dt.date | None = None
    months: int | None = Field(None, ge=1, le=600)

    @field_validator("start")
    @classmethod
    def _start_in_range(cls, v):
        return _date_in_range(v, "window.start")

    @model_validator(mode="after")
    def _one_of(self):
        if self.start is not None and self.months is not None:
            raise ValueError("give either window.start or window.months, not both")
        return self


# RFM segments, best first (names in tiering/present/i18n/methods.yaml, grid in tiering.analysis.methods.rfm)
RFM_SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)


def _increasing_list(v, what: str, example: str):
    if v is not None and any(b <= a for a, b in zip(v, v[1:])):
        raise ValueError(f"{what} must be strictly increasing, e.g. {example}")
    return v


class MethodOptions(_Strict):
    """The options of one tiering method (the block ``tiering.<method>``). A method of
    your own subclasses it (see :mod:`tiering.plugins`)."""

    def check(self, labels: list[str]) -> list[str]:
        """Problems of these options with the tier ``labels`` (empty: none). Checked for
        the method and for every method ``compare_with`` names."""
        return []


class AbcOptions(MethodOptions):
    """abc: cumulative share of ``value`` (any numeric customer column; net spend by
    default). ``cutoffs``: cumulative shares, one fewer than labels, or ``computed``
    (the Pareto and break-even points of the ABC curve; three tiers)."""

    cutoffs: list[float] | Literal["computed"] = Field(default_factory=lambda: [0.8, 0.95])
    value: str = Field("monetary", min_length=1, max_length=100)

    @field_validator("cutoffs")
    @classmethod
    def _increasing(cls, v):
        if isinstance(v, str):
            return v
        if not v:
            raise ValueError("give at least one cut-off, e.g. [0.8, 0.95]")
        if any(not 0 < c < 1 for c in v):
            raise ValueError("cut-offs are cumulative revenue shares strictly between 0 and 1")
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError("cut-offs must be strictly increasing, e.g. [0.8, 0.95]")
        return v

    def check(self, labels: list[str]) -> list[str]:
        k = len(labels)
        out: list[str] = []
        c = self.cutoffs
        if c == "computed":
            if k != 3:
                out.append(
                    f"abc cutoffs: computed gives three tiers (A, B, C), but there are "
                    f"{k} labels {labels}; give 3 labels or explicit cut-offs"
                )
        elif len(c) != k - 1:
            out.append(
                f"abc needs one cut-off fewer than labels: {k} labels "
                f"{labels} but {len(c)} cut-offs {c}"
            )
        return out


class RfmWeights(_Strict):
    recency: float = Field(1.0, ge=0)
    frequency: float = Field(1.0, ge=0)
    monetary: float = Field(1.0, ge=0)


class RfmEdges(_Strict):
    """User bin edges instead of quantiles, per dimension: ``bins - 1`` inner boundaries,
    ascending. Recency in days (at most the first edge scores ``bins``); frequency and
    spend score one more for each edge they reach."""

    recency: list[float] | None = None
    frequency: list[float] | None = None
    monetary: list[float] | None = None

    @field_validator("recency", "frequency", "monetary")
    @classmethod
    def _edges_increasing(cls, v):
        return _increasing_list(v, "bin edges", "[30, 90, 180, 365]")


class RfmOptions(MethodOptions):
    bins: int = Field(5, ge=2, le=10)
    weights: RfmWeights = Field(default_factory=RfmWeights)
    thresholds: list[float] | None = None
    edges: RfmEdges = Field(default_factory=RfmEdges)
    tier_by: Literal["score", "segment"] = "score"
    segment_tiers: dict[str, list[str]] | None = None

    @model_validator(mode="after")
    def _rfm_consistent(self):
        problems = []
        for dim in ("recency", "frequency", "monetary"):
            e = getattr(self.edges, dim)
            if e is not None and len(e) != self.bins - 1:
                problems.append(
                    f"edges.{dim} needs bins - 1 = {self.bins - 1} values, got {len(e)}"
                )
        for tier, segs in (self.segment_tiers or {}).items():
            for s in segs:
                if s not in RFM_SEGMENTS:
                    hint = closest(s, RFM_SEGMENTS)
                    problems.append(
                        f"segment_tiers.{tier}: unknown segment {s!r}"
                        + (f" (did you mean {hint!r}?)" if hint else "")
                        + f"; segments are {', '.join(RFM_SEGMENTS)}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def check(self, labels: list[str]) -> list[str]:
        k = len(labels)
        out: list[str] = []
        th = self.thresholds
        if th is not None:
            if len(th) != k - 1:
                out.append(f"rfm.thresholds needs {k - 1} values for {k} labels, got {len(th)}")
            if any(b >= a for a, b in zip(th, th[1:])):
                out.append("rfm.thresholds must be strictly decreasing (best tier first)")
        st = self.segment_tiers
        if self.tier_by == "segment" and st is None and k > 5:
            out.append(
                f"rfm.tier_by: segment with {k} labels needs rfm.segment_tiers "
                "(the default mapping covers 2 to 5 tiers)"
            )
        if st is not None:
            bad = [t for t in st if t not in labels]
            if bad:
                out.append(
                    f"rfm.segment_tiers: {', '.join(map(repr, bad))} not among the labels {labels}"
                )
            seen = [s for segs in st.values() for s in segs]
            twice = sorted({s for s in seen if seen.count(s) > 1})
            missing = [s for s in RFM_SEGMENTS if s not in seen]
            if twice:
                out.append(f"rfm.segment_tiers: {', '.join(twice)} mapped to more than one tier")
            if missing:
                out.append(f"rfm.segment_tiers: map every segment; missing {', '.join(missing)}")
        return out


class ScoreCriterion(_Strict):
    """One criterion of the value score: a numeric customer column, its weight and
    whether higher (spend) or lower (recency days, complaints) is better."""

    column: str = Field(min_length=1, max_length=100)
    weight: float = Field(1.0, gt=0)
    direction: Literal["higher", "lower"] = "higher"


def _default_criteria() -> list[ScoreCriterion]:
    return [
        ScoreCriterion(column="monetary", weight=0.5),
        ScoreCriterion(column="frequency", weight=0.3),
        ScoreCriterion(column="recency_days", weight=0.2, direction="lower"),
    ]


class ScoreOptions(MethodOptions):
    """score: weighted mean of normalised criteria (0..1 for percentile and minmax).
    Tiers by ``shares`` of customers (best first; default equal) or by score
    ``thresholds`` (decreasing, one fewer than labels)."""

    criteria: list[ScoreCriterion] = Field(default_factory=_default_criteria)
    normalize: Literal["percentile", "minmax", "zscore"] = "percentile"
    shares: list[float] | None = None
    thresholds: list[float] | None = None

    @model_validator(mode="after")
    def _score_consistent(self):
        problems = []
        if not self.criteria:
            problems.append("give at least one criterion, e.g. [{column: monetary, weight: 1}]")
        cols = [c.column for c in self.criteria]
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            problems.append(f"criteria name {', '.join(dup)} more than once")
        if self.shares is not None and self.thresholds is not None:
            problems.append("give shares or thresholds, not both")
        if self.shares is not None:
            if any(s <= 0 for s in self.shares):
                problems.append("shares must be positive")
            elif abs(sum(self.shares) - 1) > 1e-6:
                problems.append(f"shares must add up to 1 (got {sum(self.shares):g})")
        if self.thresholds is not None and any(
            b >= a for a, b in zip(self.thresholds, self.thresholds[1:])
        ):
            problems.append("thresholds must be strictly decreasing (best tier first)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def check(self, labels: list[str]) -> list[str]:
        k = len(labels)
        out: list[str] = []
        sc = self
        if sc.shares is not None and len(sc.shares) != k:
            out.append(f"score.shares needs one share per label ({k}), got {len(sc.shares)}")
        if sc.thresholds is not None and len(sc.thresholds) != k - 1:
            out.append(
                f"score.thresholds needs {k - 1} values for {k} labels, got {len(sc.thresholds)}"
            )
        return out


class ClusterOptions(MethodOptions):
    """cluster: k-means on log-scaled, standardised ``features``. ``k``: a number of
    clusters (at most the number of labels; the first k labels are used), ``auto`` (the
    best silhouette within ``k_range``) or omitted (one cluster per label)."""

    features: list[str] = Field(default_factory=lambda: ["recency_days", "frequency", "monetary"])
    k: int | Literal["auto"] | None = None
    k_range: list[int] | None = None
    log: bool = True
    value: str = Field("monetary", min_length=1, max_length=100)
    n_init: int = Field(10, ge=1, le=100)
    silhouette_sample: int = Field(5000, ge=100, le=100_000)

    @model_validator(mode="after")
    def _cluster_consistent(self):
        problems = []
        if not self.features:
            problems.append("give at least one feature, e.g. [recency_days, frequency, monetary]")
        if len(set(self.features)) != len(self.features):
            problems.append("features must be different from each other")
        if isinstance(self.k, int) and self.k < 2:
            problems.append("k must be at least 2")
        if self.k_range is not None:
            if len(self.k_range) != 2 or not 2 <= self.k_range[0] <= self.k_range[1]:
                problems.append("k_range is [lowest, highest], both at least 2, e.g. [2, 5]")
            elif self.k != "auto":
                problems.append("k_range is used only with k: auto")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def check(self, labels: list[str]) -> list[str]:
        k = len(labels)
        out: list[str] = []
        cl = self
        if isinstance(cl.k, int) and cl.k > k:
            out.append(
                f"cluster.k is {cl.k} but there are only {k} labels; give more labels "
                "or a smaller k"
            )
        if cl.k_range is not None and len(cl.k_range) == 2 and cl.k_range[1] > k:
            out.append(f"cluster.k_range goes up to {cl.k_range[1]} but there are only {k} labels")
        return out


class RuleItem(_Strict):
    """One rule: customers matching ``when`` (and no earlier rule) get ``tier``.
    Written ``{tier: A, when: "monetary >= 10000"}`` or ``{A: "monetary >= 10000"}``."""

    tier: str
    when: str = Field(min_length=1, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, v):
        if isinstance(v, dict) and len(v) == 1 and not {"tier", "when"} & set(v):
            ((tier, when),) = v.items()
            return {"tier": str(tier), "when": when}
        return v

    @field_validator("when")
    @classmethod
    def _safe(cls, v):
        import ast

        from tiering.expr import ExpressionError, parse

        try:
            names = {
                n.id for n in ast.walk(ast.parse(v.strip(), mode="eval")) if isinstance(n, ast.Name)
            }
        except SyntaxError:
            names = set()
        try:
            parse(v, allowed_names=names)
        except ExpressionError as exc:
            raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
        return v


class RulesOptions(MethodOptions):
    """rules: ``conditions`` checked in order, first match wins; customers matching none
    get ``default`` (the last label when omitted)."""

    conditions: list[RuleItem] = Field(default_factory=list)
    default: str | None = None

    def check(self, labels: list[str]) -> list[str]:
        out: list[str] = []
        ru = self
        if not ru.conditions:
            out.append(
                "rules.conditions is empty; give rules such as "
                "[{A: 'monetary >= 10000 and frequency >= 5'}]"
            )
        bad = [r.tier for r in ru.conditions if r.tier not in labels]
        if ru.default is not None and ru.default not in labels:
            bad.append(ru.default)
        if bad:
            out.append(
                f"rules name tier(s) {', '.join(map(repr, bad))} not among the labels {labels}"
            )
        return out


class StabilityOptions(_Strict):
    """Bootstrap check of data-driven cut-offs: ``n_boot`` resamples (0 = skip); above
    ``max_customers`` customers a seeded subsample of that size is used."""

    n_boot: int = Field(50, ge=0, le=1000)
    max_customers: int = Field(50_000, ge=1000, le=10_000_000)


class TieringSpec(_Strict):
    """The ``tiering`` block. ``method`` names a built-in method (one field of options
    each, below) or one added through :mod:`tiering.plugins`, whose options block
    ``tiering.<name>`` is validated by its own options model (kept in ``plugin_options``
    and written back under its name when the parameters are dumped)."""

    method: str = "abc"
    labels: list[str] = Field(default_factory=lambda: ["A", "B", "C"])
    min_tier_size: int = Field(5, ge=1)
    abc: AbcOptions = Field(default_factory=AbcOptions)
    rfm: RfmOptions = Field(default_factory=RfmOptions)
    score: ScoreOptions = Field(default_factory=ScoreOptions)
    cluster: ClusterOptions = Field(default_factory=ClusterOptions)
    rules: RulesOptions = Field(default_factory=RulesOptions)
    compare_with: list[str] = Field(default_factory=list)
    stability: StabilityOptions = Field(default_factory=StabilityOptions)
    plugin_options: dict[str, MethodOptions] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _take_plugin_options(cls, data):
        """``tiering.<plugin method>`` blocks go to ``plugin_options``, validated by the
        method's own options model."""
        if not isinstance(data, Mapping):
            return data
        added = plugins.methods()
        names = [k for k in data if k in added and k not in cls.model_fields]
        if not names:
            return data
        out = {k: v for k, v in data.items() if k not in names}
        out["plugin_options"] = {
            **dict(data.get("plugin_options") or {}),
            **{k: data[k] for k in names},
        }
        return out

    @field_validator("plugin_options", mode="before")
    @classmethod
    def _plugin_models(cls, v):
        if not isinstance(v, Mapping):
            return v
        added = plugins.methods()
        out, errors = {}, []
        for name, body in v.items():
            if name not in added:
                raise ValueError(f"{name!r} is not a tiering method added through a plugin")
            model = added[name].options
            try:
                out[name] = (
                    body
                    if isinstance(body, model)
                    else model.model_validate({} if body is None else body)
                )
            except ValidationError as exc:  # keep the key path: tiering.<name>.<option>
                errors += [{**e, "loc": (name, *e["loc"])} for e in exc.errors()]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return out

    @model_serializer(mode="wrap")
    def _dump_plugin_options(self, handler):
        out = handler(self)
        for name, options in self.plugin_options.items():
            out[name] = options.model_dump()
        return out

    @field_validator("method")
    @classmethod
    def _known_method(cls, v):
        return _method_name(v)

    @field_validator("compare_with")
    @classmethod
    def _known_methods(cls, v):
        return [_method_name(m) for m in v]

    def options(self, method: str | None = None) -> MethodOptions:
        """The options of ``method`` (default: the method used)."""
        method = self.method if method is None else method
        if method in BUILTIN_METHODS:
            return getattr(self, method)
        if method in self.plugin_options:
            return self.plugin_options[method]
        return plugins.methods()[method].options()

    @field_validator("labels")
    @classmethod
    def _labels(cls, v):
        if not 2 <= len(v) <= 7:
            raise ValueError("give 2 to 7 tier labels, best first, e.g. [A, B, C]")
        if len(set(v)) != len(v):
            raise ValueError("tier labels must be different from each other")
        if any(not str(x).strip() for x in v):
            raise ValueError("tier labels must not be empty")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        """Check the options of the method and of every method it is compared with;
        every problem is reported at once."""
        labels = list(self.labels)
        problems: list[str] = []
        if self.method in self.compare_with:
            problems.append(f"compare_with names the method itself ({self.method})")
        if len(set(self.compare_with)) != len(self.compare_with):
            problems.append("compare_with names a method twice")
        for m in dict.fromkeys([self.method, *self.compare_with]):
            problems += [
                p if m == self.method else f"{p} (compare_with names {m})"
                for p in self.options(m).check(labels)
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


#: The built-in methods: the option fields of :class:`TieringSpec`, in order.
BUILTIN_METHODS: tuple[str, ...] = tuple(
    name
    for name, f in TieringSpec.model_fields.items()
    if isinstance(f.annotation, type) and issubclass(f.annotation, MethodOptions)
)


def method_names() -> tuple[str, ...]:
    """Every tiering method: the built-in ones, then those added through
    :mod:`tiering.plugins` (a plugin may not take the name of a key of ``tiering``)."""
    added = plugins.methods()
    taken = sorted(set(added) & set(TieringSpec.model_fields))
    if taken:
        raise TieringError(
            f"A tiering method plugin uses a reserved name: {', '.join(taken)}",
            where="tiering.plugins",
            hint="rename the plugin's method: the tiering block already has these keys",
        )
    return (*BUILTIN_METHODS, *added)


def _method_name(v: object) -> str:
    names = method_names()
    if v not in names:
        hint = closest(str(v), names) if isinstance(v, str) else None
        raise ValueError(
            f"unknown tiering method {v!r}"
            + (f" (did you mean {hint!r}?)" if hint else "")
            + f"; choose one of {', '.join(names)}"
        )
    return v


class StatsSpec(_Strict):
    """How tiers are compared (see ``tiering.analysis.stats``) and checked forward in time (see
    ``tiering.analysis.holdout``).

    ``test``: ``kruskal`` (Kruskal-Wallis, Dunn with Holm, Cliff's delta, medians; the
    default for heavy-tailed spend) or ``welch`` (Welch's ANOVA, Games-Howell, Hedges'
    g, means). ``holdout_months``: length of the forward-looking holdout window (tiers
    assigned on the data before it, judged on what customers did in it); 0 or null
    switches the check off.
    """

    alpha: float = Field(0.05, gt=0, lt=1)
    metrics: list[str] = Field(
        default_factory=lambda: ["monetary", "frequency", "recency_days", "aov", "tenure_days"]
    )
    n_boot: int = Field(2000, ge=100, le=100_000)
    min_group_size: int = Field(5, ge=2)
    test: Literal["kruskal", "welch"] = "kruskal"
    holdout_months: int | None = Field(3, ge=0, le=120)

    @field_validator("metrics")
    @classmethod
    def _known(cls, v):
        bad = [m for m in v if m not in METRICS]
        if bad:
            hint = closest(bad[0], METRICS)
            raise ValueError(
                f"unknown metric {bad[0]!r}"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + f"; choose from {list(METRICS)}"
            )
        return v


class BudgetWeights(_Strict):
    """How much each reason counts when the budget is split across tiers (see
    ``tiering.analysis.strategy.allocate_budget``); a weight left out keeps its default."""

    revenue: float = Field(0.5, ge=0, allow_inf_nan=False)  # the tier's share of net revenue
    growth: float = Field(0.25, ge=0, allow_inf_nan=False)  # its share of the growth potential
    risk: float = Field(0.25, ge=0, allow_inf_nan=False)  # its share of the revenue at risk
    # its share of the uplift measured in a campaign with a control group (data.campaigns):
    # uplift per contacted customer x customers; e.g. growth: 0, uplift: 0.25 puts the
    # measured response in place of the assumed growth
    uplift: float = Field(0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _some_weight(self):
        if self.revenue + self.growth + self.risk + self.uplift <= 0:
            raise ValueError("give at least one positive weight, e.g. revenue: 1")
        return self


class StrategySpec(_Strict):
    """What to do for each tier: the playbook, the budget split and the at-risk rule."""

    playbook: Path | None = None
    # marketing/service budget to split across tiers, in the top-level `currency`
    budget: float | None = Field(None, gt=0, allow_inf_nan=False)
    budget_weights: BudgetWeights = Field(default_factory=BudgetWeights)
    # cost to serve one customer of a tier (same currency and period as the budget),
    # by tier label, e.g. {A: 120, B: 40, C: 5}; set aside before the budget is split
    cost_to_serve: dict[str, float] = Field(default_factory=dict)
    # a customer is at risk when the days since the last purchase exceed this many
    # times their usual gap between purchases
    at_risk_factor: float = Field(2.0, gt=0, allow_inf_nan=False)
    # the campaign whose measured uplift the budget weighs (budget_weights.uplift);
    # null = the latest campaign with a control group in data.campaigns
    uplift_campaign: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("cost_to_serve")
    @classmethod
    def _costs(cls, v):
        bad = [k for k, x in v.items() if not 0 <= x < float("inf")]
        if bad:
            raise ValueError(f"cost to serve must be a number, zero or more; check tier {bad[0]!r}")
        return v


class ValueSpec(_Strict):
    """The forward-looking value model (top-level key ``value``; see
    ``tiering.analysis.value``): BG/NBD and Gamma-Gamma from PyMC-Marketing
    (``pip install 'tiering[value]'``), per customer P(alive), expected purchases,
    expected spend per purchase and lifetime value (CLV) over ``horizon_months``.

    - ``enabled``: run it (off by default: it needs the ``value`` extra and adds about
      10 s to a report, 40 s more the first time the model is compiled).
    - ``horizon_months``: months ahead for expected purchases and CLV.
    - ``discount_rate``: annual discount rate of the CLV (0.10 = 10 % a year).
    - ``min_history_months``: less history than this and the model is not fitted.
    - ``rescue_p_alive``: a high-value customer (top tier, or top predicted value)
      whose P(alive) is below this is flagged "rescue".
    - ``grid_groups``: predicted-value groups of the value x potential grid: null (the
      default) for groups of the tiers' sizes, or 2-10 equal groups by CLV.
    - ``budget_weighting``: ``revenue`` (past net revenue, the default) or
      ``expected_value`` (the tiers' share of the expected CLV) for the revenue part
      of the budget split.
    """

    enabled: bool = False
    horizon_months: int = Field(12, ge=1, le=120)
    discount_rate: float = Field(0.10, ge=0, lt=1)
    min_history_months: int = Field(6, ge=1, le=120)
    rescue_p_alive: float = Field(0.5, gt=0, lt=1)
    grid_groups: int | None = Field(None, ge=2, le=10)
    budget_weighting: Literal["revenue", "expected_value"] = "revenue"

    @model_validator(mode="after")
    def _weighting_needs_model(self):
        if self.budget_weighting == "expected_value" and not self.enabled:
            raise ValueError(
                "budget_weighting: expected_value needs the value model: set "
                "enabled: true, or budget_weighting: revenue"
            )
        return self


class OutputSpec(_Strict):
    """Where the report goes, what is written, and the consulting firm's logo for the
    cover (PNG, JPEG or SVG; a path relative to the parameter file)."""

    dir: Path | None = None
    # pptx: the slide deck report.pptx (tiering.build.deck), on request
    formats: list[Literal["html", "pdf", "pptx"]] = Field(default_factory=lambda: ["html", "pdf"])
    logo: Path | None = None

    @field_validator("formats")
    @classmethod
    def _some_format(cls, v):
        if not v:
            raise ValueError(
                "give html, pdf or both, e.g. [html, pdf] (the tables and action "
                "lists are always written besides the report)"
            )
        return v

    @field_validator("logo")
    @classmethod
    def _logo_type(cls, v):
        if v is not None and v.suffix.lower() not in (".png", ".jpg", ".jpeg", ".svg"):
            raise ValueError("the logo must be a .png, .jpg, .jpeg or .svg file")
        return v


class Brand(_Strict):
    """``brand:``, the look of every output (the PDF, the HTML, the deck, the charts
    and the workbook's headers). Colours are ``#rgb``, ``#rrggbb`` or CSS names.

    ``primary`` colours the headings, the cover band, table headers and title bars;
    ``secondary`` (default: the primary) the key figures and sub-headings;
    ``text_on_primary`` the text on the primary colour (default: white or near-black,
    whichever reads at WCAG AA, 4.5:1; a colour given that does not read is refused);
    ``tier_colors`` one colour per tier, best first (default: the house scale);
    ``logo`` a PNG, JPEG or SVG file (relative to the parameter file; default
    ``output.logo``) for the cover, the HTML page's header and the slides; ``font`` a
    font family installed on the machine, set before the CJK font Noto Sans CJK, which
    Chinese text keeps; ``footer`` a line at the foot of every PDF page, slide and the
    HTML page.
    """

    primary: str = style.ACCENT
    secondary: str | None = None
    text_on_primary: str | None = None
    tier_colors: list[str] | None = None
    logo: Path | None = None
    font: str | None = Field(None, min_length=1, max_length=80)
    footer: str = Field("", max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _no_empty_colour(cls, data):
        # `primary: #1b4f72` unquoted is a YAML comment: the key is there, its value null
        if isinstance(data, dict):
            for key in ("primary", "secondary", "text_on_primary", "tier_colors"):
                value = data.get(key, "")
                if value is None or (isinstance(value, list) and None in value):
                    raise ValueError(
                        f"{key} is empty: quote a colour that starts with # in YAML, e.g. "
                        f'{key}: "#1b4f72" (a bare # starts a comment), or leave {key} out'
                    )
        return data

    @field_validator("primary", "secondary", "text_on_primary")
    @classmethod
    def _colour(cls, v):
        return None if v is None else style.parse_color(v)

    @field_validator("tier_colors")
    @classmethod
    def _colours(cls, v):
        if v is None:
            return v
        if not v:
            raise ValueError("give one colour per tier, best first, or leave tier_colors out")
        out = []
        for i, c in enumerate(v):
            try:
                out.append(style.parse_color(c))
            except ValueError as exc:
                raise ValueError(f"colour {i + 1}: {exc}") from None
        return out

    @field_validator("font")
    @classmethod
    def _font_name(cls, v):
        if v is not None and not re.fullmatch(r"[\w][\w .\-]*", v.strip()):
            raise ValueError(
                "a font family is letters, digits, spaces, dots and hyphens, e.g. "
                "font: Source Sans 3"
            )
        return None if v is None else v.strip()

    @field_validator("footer")
    @classmethod
    def _one_line(cls, v):
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in v):
            raise ValueError("the footer is one line of text without tabs or line breaks")
        return v.strip()

    @field_validator("logo")
    @classmethod
    def _logo_name(cls, v):
        if v is not None and v.suffix.lower() not in (".png", ".jpg", ".jpeg", ".svg"):
            raise ValueError("the logo must be a .png, .jpg, .jpeg or .svg file")
        return v

    @model_validator(mode="after")
    def _readable(self):
        if self.text_on_primary is not None:
            ratio = style.contrast_ratio(self.text_on_primary, self.primary)
            if ratio < style.MIN_CONTRAST:
                raise ValueError(
                    f"text_on_primary {self.text_on_primary} on primary {self.primary} has a "
                    f"contrast of {ratio:.2f}:1, below the {style.MIN_CONTRAST}:1 WCAG AA asks "
                    f"for normal text; leave text_on_primary out (then "
                    f"{style.readable_text_on(self.primary)} is used) or pick a darker or "
                    "lighter colour"
                )
        return self

    def text_colour(self) -> tuple[str, str]:
        """The text colour on the primary colour and how it was chosen (``"given"`` or
        ``"automatic"``)."""
        if self.text_on_primary is not None:
            return self.text_on_primary, "given"
        return style.readable_text_on(self.primary), "automatic"

    def palette(self, n_tiers: int | None = None) -> style.Palette:
        """The :class:`tiering.style.Palette` of this brand for ``n_tiers`` tiers (needed
        when ``tier_colors`` is given)."""
        base = style.Palette(
            primary=self.primary,
            secondary=self.secondary or self.primary,
            text_on_primary=self.text_colour()[0],
            font=self.font,
            logo=None if self.logo is None else Path(self.logo),
            footer=self.footer,
        )
        if self.tier_colors is None:
            return base
        n = len(self.tier_colors) if n_tiers is None else n_tiers
        return base.with_tier_colors(self.tier_colors[:n])

    def summary(self) -> dict[str, Any]:
        """What the manifest records: the colours used and how the text colour was chosen."""
        text, how = self.text_colour()
        return {
            **self.model_dump(mode="json"),
            "text_on_primary": text,
            "text_on_primary_chosen": how,
            "contrast": round(style.contrast_ratio(text, self.primary), 2),
            # headings and slide titles are set in the primary colour on white
            "primary_on_white": round(style.contrast_ratio(self.primary, style.WHITE), 2),
        }


def logo_problem(path: Path, key: str) -> str | None:
    """Why ``path`` is not a usable logo (missing, empty, too large, not a PNG, JPEG or
    SVG image by its content), or ``None``."""
    if not path.is_file():
        return (
            f"{key}: no file {str(path)!r}; give a PNG, JPEG or SVG file, relative to the "
            "parameter file or absolute"
        )
    size = path.stat().st_size
    if not 0 < size <= MAX_LOGO_BYTES:
        return (
            f"{key}: the logo {path.name} holds {size:,} bytes; it must hold 1 to "
            f"{MAX_LOGO_BYTES:,} (a cover logo needs about 600 px width, or use SVG)"
        )
    if path.suffix.lower() == ".svg":
        from xml.etree.ElementTree import ParseError

        import defusedxml.ElementTree as safe_xml  # refuses entity expansion

        try:
            root = safe_xml.parse(str(path)).getroot()
        except (ParseError, ValueError, OSError) as exc:  # defusedxml's refusals are ValueErrors
            return f"{key}: {path.name} is not an SVG image ({exc}); export the logo as SVG or PNG"
        if root.tag.rsplit("}", 1)[-1] != "svg":
            return f"{key}: {path.name} is XML but not an SVG image (its root is <{root.tag}>)"
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            kind = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return (
            f"{key}: {path.name} is not a readable image ({exc}); export the logo as PNG, "
            "JPEG or SVG"
        )
    if kind not in ("PNG", "JPEG"):
        return f"{key}: {path.name} is a {kind} image; use a PNG, JPEG or SVG file"
    want = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    if kind != want:
        return f"{key}: {path.name} holds a {kind} image; rename it to .{kind.lower()}"
    return None


#: Largest logo file accepted (it is embedded in the HTML and the deck).
MAX_LOGO_BYTES = 2 * 1024 * 1024


#: What ``tiering init`` writes as ``currency`` when the data shows none: refused until
#: the user writes the client's currency.
CURRENCY_PLACEHOLDER = "TODO"


class Params(_Strict):
    """Everything one report needs. See ``params/demo.yaml`` for a commented example."""

    client: str = Field("Client", min_length=1, max_length=200)
    title: str | None = Field(None, max_length=200)
    consultant: str = Field("", max_length=200)
    language: str = "en"  # a language of tiering.locale.languages()
    currency: str = Field("¥", max_length=5)
    seed: int = 0
    data: DataSource
    as_of: dt.date | None = None
    window: Window = Field(default_factory=Window)
    tiering: TieringSpec = Field(default_factory=TieringSpec)
    stats: StatsSpec = Field(default_factory=StatsSpec)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    migration: MigrationSpec = Field(default_factory=MigrationSpec)
    engine: EngineSpec = Field(default_factory=EngineSpec)
    # the look of the outputs (colours, logo, font, footer); the build applies it, the
    # notebook does not take it (its analysis carries it)
    brand: Brand = Field(default_factory=Brand)
    value: ValueSpec = Field(default_factory=ValueSpec)

    @field_validator("currency")
    @classmethod
    def _currency_set(cls, v):
        if v.strip().upper() == CURRENCY_PLACEHOLDER:
            raise ValueError(
                f"the currency is still {v!r}, the placeholder tiering init wrote "
                "(the amounts show no currency symbol): write the client's "
                'currency symbol or code, e.g. currency: "$" (or "€", "£", "¥", '
                '"CHF")'
            )
        return v

    @field_validator("language")
    @classmethod
    def _known_language(cls, v):
        names = locale.languages()
        if v not in names:
            hint = closest(str(v), names)
            raise ValueError(
                f"unknown report language {v!r}"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + f"; choose one of {', '.join(names)}"
            )
        return v

    @field_validator("seed")
    @classmethod
    def _seed_range(cls, v):
        if not 0 <= v <= MAX_SEED:
            raise ValueError(
                f"the seed must be a whole number from 0 to {MAX_SEED:,} "
                "(what numpy and scikit-learn accept), e.g. 0"
            )
        return v

    @field_validator("as_of")
    @classmethod
    def _as_of_range(cls, v):
        return _date_in_range(v, "as_of")

    @field_validator("window")
    @classmethod
    def _start_before_as_of(cls, v, info):
        as_of = info.data.get("as_of")  # validated before window (the order of the fields)
        if as_of is not None and v.start is not None and v.start >= as_of:
            raise ValueError(
                f"window.start {v.start.isoformat()} must be before as_of "
                f"{as_of.isoformat()}; give an earlier start or use window.months"
            )
        return v

    @field_validator("strategy")
    @classmethod
    def _uplift_needs_campaigns(cls, v, info):
        if v.uplift_campaign is not None and v.budget_weights.uplift <= 0:
            raise ValueError(
                "uplift_campaign names the campaign whose uplift the budget weighs, but "
                "budget_weights.uplift is 0; give budget_weights.uplift a weight (e.g. "
                "0.25) or remove uplift_campaign"
            )
        data = info.data.get("data")  # validated before strategy (the order of the fields)
        if data is None or data.campaigns is not None:
            return v
        if v.budget_weights.uplift > 0:
            raise ValueError(
                "budget_weights.uplift weighs the uplift measured in a campaign, but no "
                "campaign file is given; add data.campaigns (a file with a control group) "
                "or set budget_weights.uplift: 0"
            )
        return v

    @field_validator("brand")
    @classmethod
    def _enough_tier_colours(cls, v, info):
        spec = info.data.get("tiering")  # validated before brand (the order of the fields)
        if v.tier_colors is not None and spec is not None and len(v.tier_colors) < len(spec.labels):
            raise ValueError(
                f"tier_colors has {len(v.tier_colors)} colours for {len(spec.labels)} tiers "
                f"({', '.join(spec.labels)}); give {len(spec.labels)} colours, best tier "
                "first, or leave tier_colors out"
            )
        return v

    def to_notebook(self) -> dict[str, Any]:
        """The parameters as JSON-safe values, one entry per top-level key the report
        notebook takes (:data:`TOP_LEVEL_KEYS`; not ``brand``: the build applies it)."""
        return self.model_dump(mode="json", exclude=set(BUILD_ONLY_KEYS))


#: Top-level keys the report notebook does not take: the build applies the brand to
#: what the notebook draws, from the parameters its analysis carries.
BUILD_ONLY_KEYS = ("brand",)
TOP_LEVEL_KEYS = tuple(k for k in Params.model_fields if k not in BUILD_ONLY_KEYS)


# --------------------------------------------------------------------------- YAML


class SafeNoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses aliases/anchors and duplicate keys (the loader of
    parameter files; ``yaml.load(text, Loader=SafeNoAliasLoader)``)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in parameter files", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"a {kind} used as a parameter name (a YAML complex key, "
                    "'? ...'); parameter names are plain words such as 'client:'",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a parameter file into a dict (safe, no aliases, size-limited)."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError([f"file not found: {path}"], source=str(path))
    size = path.stat().st_size
    if size > MAX_PARAMS_BYTES:
        raise ParamsError(
            [
                f"the file is {size:,} bytes; parameter files are limited to "
                f"{MAX_PARAMS_BYTES:,} bytes"
            ],
            source=str(path),
        )
    text = _decode(path.read_bytes(), path)
    try:
        raw = yaml.load(text, Loader=SafeNoAliasLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        raise ParamsError([f"not valid YAML: {exc}"], source=str(path)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(
            ["the file must be a mapping of keys to values (start with e.g. 'client: My Client')"],
            source=str(path),
        )
    return raw


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# Characters of a Chinese text: CJK ideographs, CJK and full-width punctuation.
_CHINESE = re.compile(
    r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
    r"\u2014\u2018\u2019\u201c\u201d\u2026\u00b7]"
)


def _decode(data: bytes, path: Path) -> str:
    """The text of a parameter file: UTF-8 (with or without a BOM), UTF-16/32 with a BOM,
    UTF-16 without one, or GBK when every non-ASCII character is a common Chinese
    character or punctuation. Anything else is refused, naming the encoding it seems
    to be in."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None:
        encoding = utf16_without_bom(data)
    if encoding is not None:
        try:
            return data.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            raise ParamsError(
                [
                    f"the file starts like {encoding.upper()} text but is not "
                    f"valid {encoding.upper()}; save it again as UTF-8"
                ],
                source=str(path),
            ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    # GBK: accepted when every non-ASCII character is Chinese from the common GB2312
    # set (two bytes >= 0xA1 each), which a Latin-1/cp1252 text ("Müller", "Café")
    # practically never decodes to
    if text is not None and all(_CHINESE.match(ch) for ch in text if ord(ch) > 127):
        try:
            text.encode("gb2312")
            return text
        except UnicodeEncodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    guess = f" (it looks like {best.encoding})" if best is not None else ""
    raise ParamsError(
        [
            f"the file is not UTF-8 text{guess}; parameter files are read as UTF-8 "
            "(GBK and UTF-16 are recognised too): save it again as UTF-8"
        ],
        source=str(path),
    )


_SET_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)=(.*)$", re.S)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML scalars/lists)."""
    out = _deepcopy(raw)
    problems = []
    for item in overrides:
        m = _SET_RE.match(item)
        if not m:
            problems.append(f"--set {item!r}: expected key.path=value, e.g. --set language=zh")
            continue
        keys, text = m.group(1).split("."), m.group(2)
        try:
            value = yaml.load(text, Loader=SafeNoAliasLoader) if text.strip() else None  # noqa: S506
        except yaml.YAMLError:
            value = text
        node = out
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                problems.append(f"--set {item!r}: {k!r} is not a section")
                break
            node = nxt
        else:
            node[keys[-1]] = value
    if problems:
        raise ParamsError(problems, source="--set")
    return out


def _deepcopy(d):
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def _fields_at(loc: tuple) -> list[str]:
    """Names allowed at a key path of the schema (for did-you-mean)."""
    model: Any = Params
    for part in loc:
        if isinstance(part, int) or model is None:
            return []
        field = model.model_fields.get(part)
        if field is None and model is TieringSpec and part in plugins.methods():
            model = plugins.methods()[part].options
            continue
        if field is None:
            return []
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if model is None:
            return []
    return list(model.model_fields)


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        # a plugin method's options are written as tiering.<name>
        loc = tuple(p for p in err["loc"] if p != "plugin_options")
        path = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            name = str(loc[-1])
            allowed = _fields_at(loc[:-1])
            hint = closest(name, allowed) if name.isidentifier() else None
            msg = (
                f"unknown parameter {path!r}"
                if name.isidentifier()
                else (f"unknown parameter {name!r}: not a valid parameter name")
            )
            if hint:
                msg += f" - did you mean {'.'.join([*map(str, loc[:-1]), hint])!r}?"
            elif allowed:
                msg += f"; allowed here: {', '.join(allowed)}"
            out.append(msg)
        elif err["type"] == "missing":
            out.append(f"{path}: required, but missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            out.append(f"{path}: {msg}{shown}")
    return out


def validate(
    raw: dict[str, Any],
    *,
    base_dir: str | Path | Sequence[str | Path] = ".",
    source: str | None = None,
) -> Params:
    """Validate a raw dict into :class:`Params`, resolving relative paths.

    ``base_dir``: the folder relative paths are resolved against (a parameter file's).
    A list of folders (:func:`notebook_folders`): each relative path must exist in
    exactly one of them (the engine's temporary and cache folders: the first where it
    exists, else the first folder). Raises :class:`ParamsError` listing every problem
    with its key path.
    """
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_problems(exc), source=source) from None
    look_up = not isinstance(base_dir, str | Path)
    bases = [Path(b).resolve() for b in (base_dir if look_up else [base_dir])]
    problems: list[str] = []

    def resolved(path: Path, key: str, *, must_exist: bool = True) -> Path:
        tried = [(b / path).resolve() for b in bases]
        if not look_up:
            return tried[0]
        found = list(dict.fromkeys(p for p in tried if p.exists()))
        if must_exist and len(found) != 1:
            problems.append(_not_in_one_folder(key, path, bases, found))
        return found[0] if found else tried[0]

    data_path = (
        params.data.path.resolve()
        if params.data.path.is_absolute()
        else resolved(params.data.path, "data.path")
    )
    data_update: dict[str, Any] = {"path": data_path}
    for name in ("customers", "campaigns"):
        second = getattr(params.data, name)
        if second is not None and not second.path.is_absolute():
            data_update[name] = second.model_copy(
                update={"path": resolved(second.path, f"data.{name}.path")}
            )
        elif second is not None:
            data_update[name] = second.model_copy(update={"path": second.path.resolve()})
    data = params.data.model_copy(update=data_update)
    playbook = params.strategy.playbook
    if playbook is not None and not playbook.is_absolute():
        playbook = resolved(playbook, "strategy.playbook")
    strategy = params.strategy.model_copy(update={"playbook": playbook})

    update: dict[str, Any] = {"data": data, "strategy": strategy}
    if params.output.logo is not None and not params.output.logo.is_absolute():
        update["output"] = params.output.model_copy(
            update={"logo": resolved(params.output.logo, "output.logo")}
        )
    if params.brand.logo is not None:
        logo = params.brand.logo
        logo = logo.resolve() if logo.is_absolute() else resolved(logo, "brand.logo")
        problem = logo_problem(logo, "brand.logo")
        if problem is not None:
            problems.append(problem)
        update["brand"] = params.brand.model_copy(update={"logo": logo})
    if (
        params.migration.previous_report is not None
        and not params.migration.previous_report.is_absolute()
    ):
        update["migration"] = params.migration.model_copy(
            update={
                "previous_report": resolved(
                    params.migration.previous_report, "migration.previous_report"
                )
            }
        )
    engine_paths = {
        k: resolved(getattr(params.engine, k), f"engine.{k}", must_exist=False)
        for k in ("temp_directory", "cache_dir")
        if getattr(params.engine, k) is not None and not getattr(params.engine, k).is_absolute()
    }
    if engine_paths:
        update["engine"] = params.engine.model_copy(update=engine_paths)
    if problems:
        raise ParamsError(problems, source=source)
    return params.model_copy(update=update)


def _not_in_one_folder(key: str, path: Path, bases: list[Path], found: list[Path]) -> str:
    fix = (
        "give an absolute path or one relative to a folder listed (the notebook's "
        "params_file, the parameter file the values come from, makes its folder the "
        "only one tried)"
    )
    if found:
        return (
            f"{key}: {str(path)!r} is in more than one of the folders a relative path is "
            f"tried against ({', '.join(map(str, found))}); {fix}"
        )
    return (
        f"{key}: {str(path)!r} is in none of the folders a relative path is tried "
        f"against ({', '.join(map(str, bases))}); {fix}"
    )


def load(path: str | Path, *, overrides: list[str] | None = None) -> Params:
    """Read, override and validate a parameter file."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides or [])
    return validate(raw, base_dir=path.resolve().parent, source=str(path))


def slug(text: str) -> str:
    """A file-system-safe folder name for a client (keeps CJK letters)."""
    s = re.sub(r"[^\w\-]+", "-", text.strip(), flags=re.UNICODE).strip("-_.").lower()
    return s[:60] or "client"


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) that
    holds a ``params/`` folder and a ``pyproject.toml``: what the notebook's relative
    default paths are relative to, whether it runs from ``notebooks/`` or the root."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    return here


# --------------------------------------------------------------------------- the report notebook

#: The report notebook's parameters: the top-level keys of a parameter file, the file
#: they were read from and the analysis `tiering report` has already computed.
NOTEBOOK_PARAMETERS = (*TOP_LEVEL_KEYS, "params_file", "analysis_path")
_GLOBALS_BEFORE = "_tiering_globals_before_parameters"


def notebook_folders(params_file: str | Path = "") -> list[Path]:
    """The folders the report notebook resolves relative paths against (``base_dir`` of
    :func:`validate`). With ``params_file`` (the parameter file the values come from, e.g.
    the one papermill's ``-f`` read; relative to the working folder or the project
    folder) its folder alone, as :func:`load` does. Without: the project folder
    (:func:`project_root`), its ``params/`` folder (where parameter files are kept) and
    the working folder."""
    root, cwd = project_root(), Path.cwd().resolve()
    if not params_file:
        folders = [root, root / "params", cwd]
        return list(dict.fromkeys(f for f in folders if f.is_dir()))
    path = Path(params_file).expanduser()
    tried = [path] if path.is_absolute() else list(dict.fromkeys([cwd / path, root / path]))
    found = next((p for p in tried if p.is_file()), None)
    if found is None:
        raise ParamsError(
            [
                f"params_file: no file {str(params_file)!r} (tried "
                f"{', '.join(map(str, tried))}); give the parameter file the values come "
                "from, relative to the working folder or absolute, e.g. "
                "-p params_file params/demo.yaml"
            ],
            source="notebook parameters",
        )
    return [found.resolve().parent]


def note_globals(namespace: dict[str, Any]) -> None:
    """Remember the report notebook's globals before its parameters cell (its first cell
    calls this with ``globals()``), for :func:`refuse_undeclared`."""
    namespace[_GLOBALS_BEFORE] = {k: v for k, v in namespace.items() if k != _GLOBALS_BEFORE}


def refuse_undeclared(namespace: dict[str, Any], *, source: str = "notebook parameters") -> None:
    """Refuse the globals set since :func:`note_globals` that are not notebook parameters
    (:data:`NOTEBOOK_PARAMETERS`): papermill sets every parameter it is given as a global
    (``-p langauge zh`` sets ``langauge``), so a misspelt one would be ignored. Names
    starting with ``_`` (IPython's) and modules are left out. Checks once per run of the
    first cell: after a clean check, a rerun of the calling cell is not checked again
    (the names it set itself are not parameters). The keys of a parameter file only the
    build applies (:data:`BUILD_ONLY_KEYS`, ``brand``: ``-f`` passes them too) are let
    through; the notebook alone draws in the house style."""
    before = namespace.get(_GLOBALS_BEFORE)
    if before is None:
        return
    names = sorted(
        k
        for k, v in namespace.items()
        if k not in NOTEBOOK_PARAMETERS
        and k not in BUILD_ONLY_KEYS
        and not k.startswith("_")
        and not isinstance(v, ModuleType)
        and (k not in before or before[k] is not v)
    )
    problems = []
    for name in names:
        hint = closest(name, NOTEBOOK_PARAMETERS)
        problems.append(
            f"{name!r} is not a parameter of the notebook"
            + (f" (did you mean {hint!r}?)" if hint else "")
            + ": papermill sets every parameter it is given (-p, -r, -y, -b, -f) as a "
            "variable whatever its name, and the notebook reads only its own; correct or "
            f"remove it. The notebook's parameters: {', '.join(NOTEBOOK_PARAMETERS)}"
        )
    if problems:
        raise ParamsError(problems, source=source)
    del namespace[_GLOBALS_BEFORE]
