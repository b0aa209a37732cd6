"""The customer master: a second file with one row per customer (credit, overdue,
owner, satisfaction, sign-up date, ...), read by the transaction loader's rules and
joined to the customer table by customer id.

Longer than 800 lines because it holds the reading rules the campaign reader shares
(header finding, the row screen, number and date columns), the master's roles with
their English and Chinese synonyms, the join, and the join's use by the analysis
(:func:`attach_master`, :func:`snapshot_master`); apart, they would reach into each
other's helpers.

Wired (issue 21, phase 2a): the pipeline calls :func:`attach_master` right after the
customer features on either engine (the DuckDB engine's features are its customer
aggregate, so the transactions never enter pandas; :func:`stream_join` does the same
for a caller without the pipeline), and the holdout check and the migration snapshots
call :func:`snapshot_master`, so that score criteria and rules can name the master's
columns everywhere a method tiers; a master column named without a master is a clear
error (:func:`require_master_columns`). The join counts are in the analysis'
``source['customer_master']``; the master's rejected rows follow the transactions' in
the rejected rows (detail: file name, row, cells), while the transactions' counts stay
their own. The demo generator writes ``data/demo_customers.csv``.

Design note (issue 21; what the next phase wires):

- ``data.customers`` (``tiering.params.CustomerMaster``) is read by :func:`read_customers`
  into a :class:`MasterResult`; :func:`join_customers` joins it to the customer features
  (pandas path) and :func:`stream_join` to the DuckDB engine's customer aggregate (the
  transactions never enter pandas). Both give a :class:`CustomerJoin`.
- Score and rules criteria: ``CustomerJoin.customers`` has the master roles as columns
  under fixed names (``credit_score``, ``overdue_days``, ``satisfaction``, ``nps``,
  ``referrals``, ``tenure_months``, ``overdue`` ...); the ``score`` method can weight
  them beside monetary/frequency/recency and the ``rules`` expressions can name them
  (``overdue_days > 90`` -> a credit-hold tier). Customers without a master row have
  missing values there (``in_master`` is False): the methods must say how they score
  a missing value.
- Profiles and statistics: ``credit_rating``, ``industry``, ``customer_type``,
  ``list_status`` are categorical (chi-square, Cramér's V), the numbers continuous
  (Kruskal-Wallis), from the same table.
- Action lists: the owner column from ``owner``; a credit flag from ``overdue``.
- Report, data section: ``CustomerJoin.counts`` (matched, master only, transactions
  only, ids that would match without leading zeros) and the master's rejected rows,
  which have the loader's layout (``row, reason, category, detail, src_<column>``) and
  reason codes (:data:`REASONS`, texts in ``tiering/text/reasons.yaml``), so that they
  can be written beside the transactions' in ``rejected_rows.csv`` with a file column.
- Report, data section: ``source['customer_master']`` (file, rows read/used/rejected
  by reason, the join counts); the manifest's ``inputs`` should list the master file.

Rules (the loader's, ``tiering.data.io``): the file is read by ``io.read_table`` (format,
encoding, delimiter, sheet, title rows); ids are normalised by ``io.normalise_ids``
(``00123`` keeps its zeros and is another customer than ``123``; ``17850.0`` is
``17850``); blank, over-long and Excel-rounded ids are rejected with the loader's reasons;
numbers and dates are read per column by the loader's conventions (``io.parse_amounts``,
``io.parse_dates_us``, refusing a column that cannot tell its decimal mark or day/month
order). Row by row: an exact duplicate of an earlier row is rejected (``duplicate_row``),
an id on several rows that differ rejects all of them (``duplicate_customer_id``: which
one is right cannot be known), an unreadable number, date or list value rejects the row
with the column named in its detail. A blank value is missing, not wrong. Every row read
is used or rejected: ``rows_read == rows_used + rows_rejected``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tiering.data import io
from tiering.errors import DataError, MethodError, closest
from tiering.params import RESERVED_COLUMNS, CustomerMaster, DataSource

# --------------------------------------------------------------------------- roles

#: Roles of the customer master and their value types.
NUMBER_ROLES = (
    "credit_score",
    "overdue_days",
    "overdue_amount",
    "credit_limit",
    "satisfaction",
    "nps",
    "referrals",
)
#: Numbers that cannot be negative (a negative overdue or limit is an export error).
NON_NEGATIVE = ("overdue_days", "overdue_amount", "credit_limit", "referrals")
#: Numbers that are whole (days, people).
WHOLE = ("overdue_days", "referrals")
DATE_ROLES = ("signup_date",)
ROLES = (
    "customer_id",
    "customer_name",
    "credit_rating",
    "credit_score",
    "overdue_days",
    "overdue_amount",
    "credit_limit",
    "signup_date",
    "owner",
    "industry",
    "customer_type",
    "satisfaction",
    "nps",
    "referrals",
    "list_status",
)

# Header synonyms compared after :func:`header_key`; within a role the first found wins.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": io.SYNONYMS["customer_id"],
    "customer_name": io.SYNONYMS["customer_name"],
    "credit_rating": (
        "creditrating",
        "creditgrade",
        "creditclass",
        "creditlevel",
        "rating",
        "信用等级",
        "信用级别",
        "信用评级",
        "资信等级",
        "信用等级评定",
    ),
    "credit_score": (
        "creditscore",
        "creditpoints",
        "score",
        "信用评分",
        "信用分",
        "信用分数",
        "信用积分",
        "信用得分",
    ),
    "overdue_days": (
        "overduedays",
        "daysoverdue",
        "dayspastdue",
        "dpd",
        "pastduedays",
        "逾期天数",
        "逾期日数",
        "逾期天",
        "拖欠天数",
    ),
    "overdue_amount": (
        "overdueamount",
        "amountoverdue",
        "pastdueamount",
        "overduebalance",
        "arrears",
        "逾期金额",
        "逾期款",
        "逾期账款",
        "拖欠金额",
        "欠款金额",
    ),
    "credit_limit": (
        "creditlimit",
        "creditline",
        "limit",
        "信用额度",
        "授信额度",
        "赊销额度",
        "信用限额",
    ),
    "signup_date": (
        "signupdate",
        "signupat",
        "signedup",
        "registrationdate",
        "registeredat",
        "registered",
        "customersince",
        "firstcontact",
        "firstcontactdate",
        "onboardingdate",
        "opendate",
        "accountopened",
        "createddate",
        "建档日期",
        "建档时间",
        "注册日期",
        "注册时间",
        "开户日期",
        "首次接触日期",
        "首次联系日期",
        "入会日期",
        "加入日期",
        "创建日期",
    ),
    "owner": (
        "owner",
        "accountowner",
        "accountmanager",
        "salesrep",
        "salesperson",
        "salesmanager",
        "rep",
        "keyaccountmanager",
        "kam",
        "客户经理",
        "负责人",
        "销售",
        "销售代表",
        "销售人员",
        "业务员",
        "跟进人",
        "归属销售",
        "客户负责人",
    ),
    "industry": ("industry", "sector", "vertical", "行业", "所属行业", "行业类别", "行业分类"),
    "customer_type": (
        "customertype",
        "clienttype",
        "accounttype",
        "segment",
        "customercategory",
        "客户类型",
        "客户类别",
        "客户性质",
        "客户分类",
    ),
    "satisfaction": (
        "satisfaction",
        "satisfactionscore",
        "csat",
        "csatscore",
        "满意度",
        "满意度评分",
        "客户满意度",
        "满意度得分",
    ),
    "nps": ("nps", "npsscore", "netpromoterscore", "推荐值", "净推荐值", "nps评分", "nps得分"),
    "referrals": (
        "referrals",
        "referralcount",
        "referred",
        "numberofreferrals",
        "推荐人数",
        "推荐客户数",
        "推荐数",
        "转介绍人数",
        "转介绍数",
    ),
    "list_status": (
        "liststatus",
        "list",
        "redblacklist",
        "listtype",
        "名单",
        "名单类型",
        "客户名单",
        "红黑名单",
        "名单状态",
    ),
}

# list_status values after header_key: red list, black list, neither
LIST_VALUES: dict[str, tuple[str, ...]] = {
    "red": ("red", "redlist", "red-list", "红名单", "红", "红名单客户", "白名单", "whitelist"),
    "black": ("black", "blacklist", "blocked", "黑名单", "黑", "黑名单客户", "blocklist"),
    "": (
        "",
        "none",
        "no",
        "general",
        "normal",
        "regular",
        "一般",
        "一般客户",
        "普通",
        "正常",
        "无",
    ),
}


def _list_lookup() -> dict[str, str]:
    return {header_key(v): code for code, vals in LIST_VALUES.items() for v in vals}


REASONS: dict[str, tuple[str, str]] = {
    # the loader's reasons, with its texts (tiering.data.io.REASONS)
    **{
        code: io.REASONS[code]
        for code in ("missing_customer_id", "bad_customer_id", "rounded_customer_id")
    },
    "duplicate_row": io.REASONS["duplicate_row"],
    # the customer master's own
    "duplicate_customer_id": (
        "invalid",
        "customer id on several rows of the customer master that differ",
    ),
    "bad_master_number": (
        "invalid",
        "a number in the customer master is not a number (or not a whole number)",
    ),
    "negative_master_number": (
        "invalid",
        "overdue days or amount, credit limit or referrals is negative",
    ),
    "bad_signup_date": (
        "invalid",
        "sign-up date is not a date, only a year or month, before 1900 or in the future",
    ),
    "bad_list_status": ("invalid", "red/black list value is not recognised"),
}

JOIN_COUNT_COLUMNS = (
    "transaction_customers",
    "master_customers",
    "matched",
    "transactions_only",
    "master_only",
    "zero_padding",
)


@dataclass(frozen=True)
class MasterResult:
    """The customer master read by the loader's rules.

    - ``customers``: one row per customer, ordered by ``customer_id``: ``row`` (row in
      the file, header = row 1), ``customer_id`` (str), then every role found (in
      :data:`ROLES` order; numbers float and NaN when blank, ``signup_date``
      datetime64, text str and ``""`` when blank, ``list_status`` ``red``/``black``/``""``
      (on neither list)), then the other columns of the file as text attributes under
      their headers.
    - ``rejected``: ``row, reason, category, detail`` then the original columns as
      ``src_<header>`` (the loader's layout); ``quality``: ``reason, category,
      description, rows``.
    - ``source``: ``path, format, sha256, bytes, encoding, delimiter, sheet, header_row,
      columns`` (role -> header), ``attributes``, ``rows_read, rows_used, rows_rejected``.
    """

    customers: pd.DataFrame
    rejected: pd.DataFrame
    quality: pd.DataFrame
    source: dict
    roles: tuple[str, ...] = field(default=())
    attributes: tuple[str, ...] = field(default=())

    @property
    def rows_read(self) -> int:
        return self.source["rows_read"]


# --------------------------------------------------------------------------- shared reading


def header_key(name: str) -> str:
    """A header as the synonyms are compared: NFKC, lower case, a unit in brackets at the
    end dropped (``金额(元)``), spaces and punctuation removed (as the loader compares)."""
    name = unicodedata.normalize("NFKC", str(name)).lower()
    name = re.sub(r"(?<=\S)\s*[(\[【][^()\[\]【】]*[)\]】]\s*$", "", name)
    return re.sub(r"[\s_\-./()（）:：#]+", "", name)


#: list_status value (as :func:`header_key` makes it) -> ``red``, ``black`` or ``""``.
LIST_LOOKUP = _list_lookup()


def data_source(spec) -> DataSource:
    """The ``DataSource`` that ``io.read_table`` reads a second file (``data.customers``,
    ``data.campaigns``) by: the file's own format, sheet, encoding, delimiter and skip
    rows."""
    return DataSource(
        path=spec.path,
        format=spec.format,
        sheet=spec.sheet,
        encoding=spec.encoding,
        delimiter=spec.delimiter,
        skip_rows=spec.skip_rows,
        dayfirst=spec.dayfirst,
        decimal=spec.decimal,
    )


def sheet_text(info: dict) -> str:
    return f", sheet {info['sheet']!r}" if info.get("sheet") else ""


def read_grid(spec, key: str) -> tuple[pd.DataFrame, dict]:
    """The non-blank rows of a second file as the loader's grid of text (index = row in
    the file) and the facts about it; ``key`` (``data.customers``) names the parameter
    in messages."""
    path = Path(spec.path)
    if not path.is_file():
        raise DataError(
            f"File not found: {path}",
            where=f"{key}.path",
            hint="check the path; relative paths are resolved against the folder of "
            "the parameter file",
        )
    grid, info = io.read_table(data_source(spec))
    nonblank = grid.astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    grid = grid[nonblank]
    if grid.empty:
        raise DataError(
            f"The file {path.name} ({key}) is empty",
            where=str(path),
            hint="export the data again; the file has no rows",
        )
    return grid, info


def auto_map(headers: list[str], synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Role -> header from the synonyms (the first synonym of a role found wins; a header
    plays one role)."""
    keyed: dict[str, str] = {}
    for h in headers:
        if h and header_key(h) not in keyed:
            keyed[header_key(h)] = h
    found: dict[str, str] = {}
    for role, names in synonyms.items():
        for n in names:
            h = keyed.get(header_key(n))
            if h is not None and h not in found.values():
                found[role] = h
                break
    return found


@dataclass(frozen=True)
class SecondFile:
    """A second input file read up to its rows (:func:`read_rows`): ``body`` the rows
    below the header as text, columns named by ``headers`` (extra cells
    ``column_<n>``), index the row in the file; ``mapping`` role -> header; ``info`` the
    facts of :func:`read_grid` plus ``header_row``; ``file`` the file's name; ``where``
    the file and sheet for messages."""

    body: pd.DataFrame
    mapping: dict[str, str]
    headers: list[str]
    info: dict
    file: str
    where: str


def read_rows(
    spec, key: str, *, synonyms: dict[str, tuple[str, ...]], what: str, check=None
) -> SecondFile:
    """Read a second file (``key``: ``data.customers``, ``data.campaigns``): its grid
    (:func:`read_grid`), the header row and role mapping (:func:`find_header`, the
    ``customer_id`` role required), then the rows below the header as text. ``check``
    (``SecondFile`` with an empty body -> None) may refuse the header before the rows
    are looked at; a header without rows is a DataError naming ``what`` ("The customer
    master", "The campaign results")."""
    grid, info = read_grid(spec, key)
    file = Path(spec.path).name
    pos, mapping, headers = find_header(
        grid,
        explicit=spec.columns.model_dump(),
        synonyms=synonyms,
        required=("customer_id",),
        key=key,
        file=file,
        info=info,
    )
    info["header_row"] = int(grid.index[pos])
    where = f"{file}{sheet_text(info)}"
    if check is not None:
        check(SecondFile(grid.iloc[:0], mapping, headers, info, file, where))
    body = grid.iloc[pos + 1 :].copy()
    body.columns = headers[: body.shape[1]] + [
        f"column_{i + 1}" for i in range(len(headers), body.shape[1])
    ]
    body = body.astype(str)
    if body.empty:
        raise DataError(
            f"{what} {file} has a header but no rows",
            where=where,
            hint="export the file again including its rows",
        )
    return SecondFile(body, mapping, headers, info, file, where)


def find_header(
    grid: pd.DataFrame,
    *,
    explicit: dict[str, str | None],
    synonyms: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
    key: str,
    file: str,
    info: dict,
) -> tuple[int, dict[str, str], list[str]]:
    """The header row (position in ``grid``), the role mapping and the headers (blank
    ones named ``column_<n>``, repeated ones made unique as the loader does). The header
    is the first of the top ``io.MAX_HEADER_SCAN`` rows holding every explicit header and
    the ``required`` roles; otherwise a DataError names what is missing and the headers
    found in the row that looks most like a header."""
    given = {k: v for k, v in explicit.items() if v}
    best, best_score = None, None
    for pos in range(min(io.MAX_HEADER_SCAN, len(grid))):
        headers = [str(h).strip().lstrip("\ufeff") for h in grid.iloc[pos].tolist()]
        mapping = {**auto_map(headers, synonyms), **given}
        if set(given.values()) <= set(headers) and all(r in mapping for r in required):
            break
        score = (len(mapping), sum(1 for h in headers if h))
        if best_score is None or score > best_score:
            best, best_score = (pos, headers, mapping), score
    else:
        pos, headers, mapping = best
        row_no = int(grid.index[pos])
        shown = ", ".join(repr(h) for h in headers if h) or "(none)"
        where = f"{file}{sheet_text(info)}, header row {row_no}"
        for role, name in given.items():
            if name not in headers:
                hint = closest(name, [h for h in headers if h])
                raise DataError(
                    f"Column {name!r} ({key}.columns.{role}) not found",
                    where=where,
                    hint=(f"did you mean {hint!r}? " if hint else "") + f"columns found: {shown}",
                )
        missing = [r for r in required if r not in mapping]
        raise DataError(
            f"Required column{'s' if len(missing) > 1 else ''} of {key} not recognised: "
            f"{', '.join(missing)}",
            where=where,
            hint=f"name {'them' if len(missing) > 1 else 'it'} in {key}.columns, e.g. "
            f"{key}.columns.{missing[0]}: <header>; columns found: {shown}",
        )
    used = [h for h in mapping.values()]
    clash = sorted({h for h in used if headers.count(h) > 1})
    if clash:
        raise DataError(
            f"Column name {clash[0]!r} appears more than once in the header of {file}",
            where=f"{file}{sheet_text(info)}, header row {int(grid.index[pos])}",
            hint=f"rename the duplicate columns in the export, or map another column in "
            f"{key}.columns",
        )
    headers = io.dedupe_headers([h if h else f"column_{i + 1}" for i, h in enumerate(headers)])
    return pos, mapping, headers


class Screen:
    """Reasons and details of the rows of a body, the first reason found winning (the
    loader's rule), and the tables made of them."""

    def __init__(self, body: pd.DataFrame, reasons: dict[str, tuple[str, str]]):
        self.body = body
        self.reasons = reasons
        self.reason = pd.Series(pd.NA, index=body.index, dtype="object")
        self.detail = pd.Series("", index=body.index, dtype="object")

    def mark(self, mask: pd.Series, code: str, text: pd.Series | str = "") -> None:
        new = mask.fillna(False).astype(bool) & self.reason.isna()
        if not new.any():
            return
        self.reason[new] = code
        if isinstance(text, pd.Series):
            self.detail[new] = text[new].astype(str)
        elif text:
            self.detail[new] = text

    @property
    def used(self) -> pd.Series:
        return self.reason.isna()

    def ids(self, column: str) -> pd.Series:
        """The customer ids of ``column`` normalised as the loader normalises them, with
        the loader's id reasons marked (blank, too long, control characters, rounded)."""
        raw = self.body[column].astype(str)
        ids = io.normalise_ids(raw)
        value = "value: " + raw.str.strip().str.slice(0, 40)
        self.mark(ids == "", "missing_customer_id", value.where(raw.str.strip() != "", ""))
        self.mark(
            ids.str.len() > io.MAX_ID_LENGTH,
            "bad_customer_id",
            f"customer id is longer than {io.MAX_ID_LENGTH} characters",
        )
        self.mark(
            ids.str.contains(r"[\x00-\x1f\x7f]", regex=True),
            "bad_customer_id",
            "customer id contains control characters (line break, tab or NUL)",
        )
        self.mark(
            ids.str.match(io.ROUNDED_ID),
            "rounded_customer_id",
            "value: " + ids.str.slice(0, 40) + " (rounded by Excel; the digits are lost)",
        )
        return ids

    def rejected(self) -> pd.DataFrame:
        """The rejected rows in the loader's layout, ordered by row."""
        rej = ~self.used
        n = int(rej.sum())
        head = pd.DataFrame(
            {
                "row": self.body.index[rej].astype("int64"),
                "reason": self.reason[rej].astype(str).to_numpy(),
                "category": self.reason[rej].map({c: v[0] for c, v in self.reasons.items()}),
                "detail": self.detail[rej].astype(str).to_numpy(),
            }
        ).reset_index(drop=True)
        head["category"] = head["category"].astype(str)
        cells = (
            self.body[rej]
            .reset_index(drop=True)
            .rename(columns=lambda c: f"src_{c}")
            .set_axis(range(n), axis=0)
        )
        return pd.concat([head, cells], axis=1)

    def quality(self) -> pd.DataFrame:
        counts = self.reason[~self.used].value_counts()
        return pd.DataFrame(
            [
                {"reason": c, "category": cat, "description": d, "rows": int(counts[c])}
                for c, (cat, d) in self.reasons.items()
                if counts.get(c, 0)
            ],
            columns=["reason", "category", "description", "rows"],
        )


def examples(values: pd.Series, mask, n: int = 1) -> list[tuple[str, int]]:
    """(value, row) of the first ``n`` values where ``mask`` holds."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))[:n]
    return [(str(values.iloc[i]).strip()[:40], int(values.index[i])) for i in idx]


def column_numbers(values: pd.Series, *, decimal: str | None, column: str, file: str) -> pd.Series:
    """A column of numbers read by the loader's convention for amounts (``1,234.50``,
    ``1.234,50``, ``¥12``; ``250.000`` decided by the column or ``decimal``); a column
    that cannot tell is refused as the loader refuses it. Blank and unreadable: NaN.
    A column of plain whole numbers (scores, days: the usual master) is read directly,
    as the loader would read it."""
    t = values.astype(str).str.strip()
    if t.str.fullmatch(r"-?[0-9]{1,15}|").all():
        return pd.to_numeric(t.where(t != ""), errors="coerce").astype("float64")
    shapes = io.amount_shapes(values)
    thousands = io.thousands_dots(shapes, decimal)
    if thousands is None:
        raise io.amount_convention_error(
            file=file,
            column=column,
            ambiguous=examples(values, shapes == io.SHAPE_AMBIGUOUS, 2),
            thousands=examples(values, shapes == io.SHAPE_THOUSANDS),
            decimal=examples(values, shapes == io.SHAPE_DECIMAL),
        )
    return io.parse_amounts(values, decimal=decimal, thousands=thousands)


def column_dates(values: pd.Series, *, dayfirst: bool | None, column: str, file: str):
    """A column of dates read by the loader's convention (one day/month order for the
    column, ``data.dayfirst`` when given; a column holding both orders is refused).
    Returns (dates in microseconds, NaT when unreadable; partial: only a year or a
    year and month)."""
    kinds = io.date_kinds(values)
    order = io.day_first(int(np.bitwise_or.reduce(kinds)) if len(kinds) else 0, dayfirst)
    if order is None:
        raise io.date_convention_error(
            file=file,
            column=column,
            day=examples(values, (kinds & io.KIND_DAY_ONLY) > 0)[0],
            month=examples(values, (kinds & io.KIND_MONTH_ONLY) > 0)[0],
        )
    # ISO dates (2024-03-15) read directly; the rest by the loader's parser
    t = values.astype(str).str.strip()
    iso = t.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    dates = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    if iso.any():
        dates[iso] = pd.to_datetime(t[iso], format="%Y-%m-%d", errors="coerce").astype(
            "datetime64[us]"
        )
    if not iso.all():
        dates[~iso] = io.parse_dates_us(values[~iso], dayfirst=order)
    return dates, io.partial_dates(values)


def latest_date() -> pd.Timestamp:
    """The latest date a value may have (tomorrow, the loader's ``future_date`` limit)."""
    return pd.Timestamp(io.today() + dt.timedelta(days=1))


# --------------------------------------------------------------------------- customer master


def read_customers(spec: CustomerMaster) -> MasterResult:
    """Read ``data.customers`` (a :class:`tiering.params.CustomerMaster`)."""
    read = read_rows(spec, "data.customers", synonyms=SYNONYMS, what="The customer master")
    body, mapping, info, where = read.body, read.mapping, read.info, read.where
    roles = tuple(r for r in ROLES if r in mapping)
    attributes = tuple(h for h in body.columns if h not in mapping.values())
    info.update(
        columns={r: mapping[r] for r in roles},
        attributes=list(attributes),
        rows_read=len(body),
    )
    s = Screen(body, REASONS)
    ids = s.ids(mapping["customer_id"])
    out = pd.DataFrame({"row": body.index.astype("int64"), "customer_id": ids}, index=body.index)
    for role in roles[1:]:
        col = mapping[role]
        raw = body[col].str.strip()
        shown = raw.str.slice(0, 40)
        if role in NUMBER_ROLES:
            num = column_numbers(body[col], decimal=spec.decimal, column=col, file=where)
            s.mark(raw.ne("") & num.isna(), "bad_master_number", f"{col}: " + shown)
            if role in WHOLE:
                s.mark(
                    num.notna() & (num != np.round(num)),
                    "bad_master_number",
                    f"{col}: " + shown + " (not a whole number)",
                )
            if role in NON_NEGATIVE:
                s.mark(num < 0, "negative_master_number", f"{col}: " + shown)
            out[role] = num.astype("float64")
        elif role in DATE_ROLES:
            dates, partial = column_dates(
                body[col], dayfirst=io.dayfirst_param(spec), column=col, file=where
            )
            s.mark(partial, "bad_signup_date", f"{col}: " + shown + " (only a year or month)")
            s.mark(raw.ne("") & dates.isna(), "bad_signup_date", f"{col}: " + shown)
            s.mark(dates < pd.Timestamp("1900-01-01"), "bad_signup_date", f"{col}: {shown}")
            s.mark(
                dates > latest_date(),
                "bad_signup_date",
                f"{col}: " + shown + f" (after {latest_date().date()}, the latest possible date)",
            )
            inside = (dates >= io.NS_MIN) & (dates <= io.NS_MAX)
            out[role] = dates.where(inside).astype("datetime64[ns]")
        elif role == "list_status":
            status = raw.map(lambda v: LIST_LOOKUP.get(header_key(v)))
            s.mark(
                status.isna(),
                "bad_list_status",
                f"{col}: " + shown + " (use red list / 红名单, black list / 黑名单 or blank)",
            )
            out[role] = status.fillna("").astype(str)
        else:
            out[role] = raw.astype(str)
    for name in attributes:
        out[name] = body[name].str.strip()

    # duplicates: an exact copy of an earlier row is dropped; an id on rows that differ
    # rejects them all
    exact = body.duplicated(keep="first") & s.used
    s.mark(exact, "duplicate_row", "duplicate of an earlier row")
    live = s.used
    dup = ids.where(live).duplicated(keep=False) & live
    if dup.any():
        rows_of = (
            pd.Series(body.index[dup], index=body.index[dup])
            .groupby(ids[dup])
            .agg(lambda r: ", ".join(map(str, r.tolist()[:5])) + (", ..." if len(r) > 5 else ""))
        )
        s.mark(
            dup,
            "duplicate_customer_id",
            "customer id " + ids.str.slice(0, 40) + " on rows " + ids.map(rows_of).fillna(""),
        )
    used = s.used
    customers = out[used].sort_values("customer_id", kind="stable").reset_index(drop=True)
    rejected = s.rejected()
    info.update(rows_used=int(used.sum()), rows_rejected=int((~used).sum()))
    return MasterResult(
        customers=customers,
        rejected=rejected,
        quality=s.quality(),
        source=info,
        roles=roles,
        attributes=attributes,
    )


# --------------------------------------------------------------------------- join


@dataclass(frozen=True)
class CustomerJoin:
    """The customer table with the master's columns.

    - ``customers``: the rows and columns of the features given (same order), then
      ``in_master`` (bool), the master's role columns and attributes (a name the
      features already have gets ``_master`` appended), ``tenure_months`` (whole months
      from ``signup_date`` to ``as_of``; missing without a sign-up date or when it is
      after ``as_of``) and ``overdue`` (nullable bool: overdue days or amount above 0;
      missing when the master has neither or the customer is not in it).
    - ``master_only``: the master's customers without transactions (the master's columns).
    - ``counts``: one row, :data:`JOIN_COUNT_COLUMNS`: customers in the transactions and
      in the master, matched, only in the transactions, only in the master, and
      ``zero_padding``: unmatched transaction ids that equal an unmatched master id
      once leading zeros are dropped (``00123`` / ``123``: not joined, as the loader
      keeps ids as written, but worth a look).
    - ``signup_after_as_of``: master customers whose sign-up date is after ``as_of``.
    """

    customers: pd.DataFrame
    master_only: pd.DataFrame
    counts: pd.DataFrame
    signup_after_as_of: int = 0


def _master_columns(master: MasterResult) -> pd.DataFrame:
    return master.customers.drop(columns=["row"])


def join_customers(features: pd.DataFrame, master: MasterResult, *, as_of: dt.date) -> CustomerJoin:
    """Join the customer master to ``features`` (one row per customer with
    ``customer_id``, e.g. ``tiering.data.features.customer_features``) in DuckDB, by
    customer id as text. See :class:`CustomerJoin`."""
    import duckdb

    from tiering import interrupt

    m = _master_columns(master)
    taken = set(features.columns)
    renamed = {c: (f"{c}_master" if c in taken and c != "customer_id" else c) for c in m.columns}
    m = m.rename(columns=renamed)
    f_ids = pd.DataFrame({"customer_id": features["customer_id"].astype(str).to_numpy()})
    f_ids["pos"] = np.arange(len(f_ids), dtype="int64")
    m_ids = pd.DataFrame({"customer_id": m["customer_id"].astype(str).to_numpy()})
    m_ids["mpos"] = np.arange(len(m_ids), dtype="int64")
    con = interrupt.track(duckdb.connect())
    try:
        con.register("f", f_ids)
        con.register("m", m_ids)
        # one full join, kept in DuckDB; the three answers are read from it
        con.execute(
            "CREATE TEMP TABLE j AS SELECT customer_id, f.pos, m.mpos "
            "FROM f FULL OUTER JOIN m USING (customer_id)"
        )
        pairs = con.execute(
            "SELECT pos, mpos FROM j WHERE pos IS NOT NULL ORDER BY pos"
        ).fetchnumpy()
        only = con.execute("SELECT mpos FROM j WHERE pos IS NULL ORDER BY mpos").fetchnumpy()[
            "mpos"
        ]
        padded = con.execute(
            """
            WITH fo AS (SELECT ltrim(customer_id, '0') AS k FROM j WHERE mpos IS NULL),
                 mo AS (SELECT DISTINCT ltrim(customer_id, '0') AS k FROM j WHERE pos IS NULL)
            SELECT count(*) FROM fo JOIN mo USING (k) WHERE k <> ''
            """
        ).fetchone()[0]
    finally:
        con.close()
    mpos = pd.array(pairs["mpos"], dtype="Int64")
    matched = ~pd.isna(mpos)
    take = np.where(matched, np.asarray(mpos.fillna(-1), dtype="int64"), -1)
    # the master's columns in the features' order; missing (NaN, NaT) where not matched
    extra = m.drop(columns=["customer_id"]).reindex(take).reset_index(drop=True)
    out = features.reset_index(drop=True).copy()
    out["in_master"] = np.asarray(matched, dtype=bool)
    out = pd.concat([out, extra], axis=1)
    signup = "signup_date" if "signup_date" in renamed.values() else None
    after = 0
    if signup is not None:
        tenure = tenure_months(out[signup], as_of)
        out["tenure_months"] = tenure
        ms = m[signup]
        after = int((ms > pd.Timestamp(as_of)).sum())
    out["overdue"] = overdue_flag(out, renamed)
    master_only = m.iloc[only].reset_index(drop=True)
    counts = pd.DataFrame(
        [
            {
                "transaction_customers": len(f_ids),
                "master_customers": len(m_ids),
                "matched": int(matched.sum()),
                "transactions_only": int((~matched).sum()),
                "master_only": len(master_only),
                "zero_padding": int(padded),
            }
        ],
        columns=list(JOIN_COUNT_COLUMNS),
    )
    return CustomerJoin(out, master_only, counts, after)


def tenure_months(signup: pd.Series, as_of: dt.date) -> pd.Series:
    """Whole calendar months from each sign-up date to ``as_of`` (2024-01-31 to
    2024-02-29 is 0 months, to 2024-03-01 one); missing without a date or when the date
    is after ``as_of``."""
    d = pd.to_datetime(signup)
    months = (
        (as_of.year - d.dt.year) * 12
        + (as_of.month - d.dt.month)
        - (d.dt.day > as_of.day).astype("float64")
    )
    return months.where(d.notna() & (d <= pd.Timestamp(as_of))).astype("float64")


def overdue_flag(table: pd.DataFrame, renamed: dict[str, str] | None = None) -> pd.Series:
    """Overdue: overdue days or overdue amount above zero (nullable bool; missing when
    neither is known)."""
    renamed = renamed or {}
    cols = [renamed.get(c, c) for c in ("overdue_days", "overdue_amount")]
    cols = [c for c in cols if c in table.columns]
    if not cols:
        return pd.Series(pd.NA, index=table.index, dtype="boolean")
    known = table[cols].notna().any(axis=1)
    late = (table[cols].fillna(0) > 0).any(axis=1)
    return pd.Series(late, index=table.index, dtype="boolean").where(known, pd.NA)


def stream_join(
    src,
    master: MasterResult,
    *,
    as_of: dt.date | None = None,
    window_start: dt.date | None = None,
    window_months: int | None = None,
    spec=None,
    rejected_path=None,
):
    """The customer aggregate of the transactions file ``src`` computed by the DuckDB
    streaming engine (the transactions are never loaded into pandas), joined to the
    customer master in DuckDB. Returns ``(FeatureResult, CustomerJoin)``; the join uses
    the engine's ``as_of``."""
    from tiering.data.engines import compute_features
    from tiering.params import EngineSpec

    spec = (spec or EngineSpec()).model_copy(update={"engine": "duckdb"})
    result = compute_features(
        src,
        as_of=as_of,
        window_start=window_start,
        window_months=window_months,
        spec=spec,
        rejected_path=rejected_path,
    )
    return result, join_customers(result.features, master, as_of=result.as_of)


# --------------------------------------------------------------------------- in the analysis

#: The columns the customer master gives the customer table (:func:`join_customers`),
#: which score criteria and rules may name.
TABLE_COLUMNS = (
    "in_master",
    *(r for r in ROLES if r not in ("customer_id", "customer_name")),
    "tenure_months",
    "overdue",
)


def require_master_columns(features: pd.DataFrame, names, method: str, *, where: str) -> None:
    """A clear error when a criterion or rule names a column the customer master gives
    (``credit_score``, ``overdue_days`` ...) and the customer table does not have it:
    no ``data.customers`` given, or a master without that column."""
    wanted = [n for n in dict.fromkeys(names) if n in TABLE_COLUMNS and n not in features]
    if not wanted:
        return
    shown = ", ".join(map(repr, wanted))
    if "in_master" in features.columns:  # a master is joined, but has no such column
        roles = [r for r in wanted if r in ROLES]
        raise MethodError(
            f"{method}: the customer master has no column for {shown}",
            where=where,
            hint=(
                f"map its header in data.customers.columns (e.g. {roles[0]}: <header>), "
                if roles
                else "tenure_months needs a sign-up date column, overdue an overdue days "
                "or amount column; "
            )
            + "or leave the criterion out",
        )
    raise MethodError(
        f"{method}: {shown} come{'s' if len(wanted) == 1 else ''} from the customer master, "
        "and no customer master is given",
        where=where,
        hint="give the master file as data.customers: {path: customers.csv} (its columns "
        "are recognised from English and Chinese headers: 信用评分, 逾期天数, 满意度 ...), "
        "or leave the criterion out",
    )


def file_facts(src: dict) -> dict:
    """The facts of a second file read by :func:`read_rows` that ``source`` reports: path,
    name, SHA-256, size, format, encoding, sheet, header row, columns by role and its
    rows read, used and rejected."""
    return {
        "path": str(src.get("path")),
        "file": Path(str(src.get("path"))).name,
        "sha256": src.get("sha256"),
        "bytes": src.get("bytes"),
        "format": src.get("format"),
        "encoding": src.get("encoding"),
        "sheet": src.get("sheet"),
        "header_row": src.get("header_row"),
        "columns": dict(src.get("columns") or {}),
        "rows_read": int(src["rows_read"]),
        "rows_used": int(src["rows_used"]),
        "rows_rejected": int(src["rows_rejected"]),
    }


def master_source(master: MasterResult, joined: CustomerJoin) -> dict:
    """What the analysis' ``source['customer_master']`` holds: the file, its rows
    (read, used, rejected, rejected by reason) and the join counts."""
    src = master.source
    counts = joined.counts.iloc[0]
    return {
        **file_facts(src),
        "attributes": list(src.get("attributes") or []),
        "rejected_by_reason": {r.reason: int(r.rows) for r in master.quality.itertuples()},
        **{c: int(counts[c]) for c in JOIN_COUNT_COLUMNS},
        "signup_after_as_of": int(joined.signup_after_as_of),
    }


def rejected_in_layout(master: MasterResult, columns: list[str]) -> pd.DataFrame:
    """The master's rejected rows in the transactions' rejected-rows layout
    (``columns``: ``row, reason, category, detail, src_<column>``): ``row`` is the row
    of the master file, ``detail`` starts with the master's file name and holds every
    cell of the row (``header=value``); the transactions' ``src_`` cells stay blank, so
    that nothing counts a master row as a transaction row of a customer."""
    rej = master.rejected
    file = Path(str(master.source.get("path"))).name
    src = [c for c in rej.columns if c.startswith("src_")]
    cells = (
        rej[src]
        .astype(str)
        .apply(lambda r: "; ".join(f"{c[4:]}={v}" for c, v in zip(src, r) if v.strip()), axis=1)
    )
    out = pd.DataFrame({c: [""] * len(rej) for c in columns})
    if len(rej):
        out["row"] = rej["row"].astype("int64").to_numpy()
        out["reason"] = rej["reason"].astype(str).to_numpy()
        out["category"] = rej["category"].astype(str).to_numpy()
        out["detail"] = (
            f"{file} row "
            + rej["row"].astype(str)
            + ": "
            + rej["detail"].astype(str)
            + " | "
            + cells.astype(str)
        ).to_numpy()
    return out


def append_rejected(path: Path, master: MasterResult) -> None:
    """Append the master's (or the campaign file's) rejected rows to a rejected-rows CSV a streaming engine wrote
    (same header, same writer), or write one with the loader's four columns."""
    from tiering.safecsv import write_csv

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        write_csv(rejected_in_layout(master, ["row", "reason", "category", "detail"]), path)
        return
    import os
    import shutil

    header = list(pd.read_csv(path, nrows=0, dtype=str, encoding="utf-8-sig").columns)
    part = path.with_name(path.name + ".master-part")
    joined = path.with_name(path.name + ".part")
    try:
        write_csv(rejected_in_layout(master, header), part)
        body = part.read_bytes().split(b"\n", 1)[1]
        # a new file, never the old one changed in place: the engine's feature cache may
        # hold the old one as a hard link (engines/cache.py)
        shutil.copyfile(path, joined)
        with open(joined, "rb+") as fh:
            fh.seek(0, 2)
            if fh.tell():
                fh.seek(-1, 2)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            fh.write(body)
        os.replace(joined, path)
    finally:
        part.unlink(missing_ok=True)
        joined.unlink(missing_ok=True)


#: Names the tiers table gives its own columns (the features' and the methods'): a
#: master attribute of that name (a CRM ``tier`` or ``segment`` column) is renamed.
TAKEN_NAMES = frozenset(RESERVED_COLUMNS) | {"cluster"}


def for_table(master: MasterResult, features: pd.DataFrame) -> MasterResult:
    """The master as the tiers table takes it: without its ``customer_name`` when the
    transactions have names (the report shows theirs), and an attribute named like a
    column the analysis makes (``tier``, ``segment``, ``value_score`` ...) renamed
    ``<name>_master``, so that the method's own column is not shadowed."""
    import dataclasses

    table = master.customers
    if "customer_name" in table.columns and "customer_name" in features.columns:
        table = table.drop(columns=["customer_name"])
    rename = {
        c: f"{c}_master"
        for c in table.columns
        if c in TAKEN_NAMES and c not in ("customer_id", "row") and c not in features.columns
    }
    return dataclasses.replace(
        master,
        customers=table.rename(columns=rename),
        attributes=tuple(rename.get(a, a) for a in master.attributes),
    )


def attach_master(features: pd.DataFrame, loaded, spec: CustomerMaster | None):
    """The pipeline's step after the customer features: with ``data.customers`` given,
    read the master, join it to ``features`` (:func:`join_customers`; on the DuckDB
    engine too, whose features are its customer aggregate: the transactions stay out of
    pandas), and return ``(customer table with the master's columns, loaded)``, where
    ``loaded`` is a copy whose ``source['customer_master']`` holds the master's row and
    join counts (:func:`master_source`) and whose rejected rows include the master's
    (:func:`rejected_in_layout`; a streaming engine's file is appended to). The
    transactions' own counts (``rows_rejected``, ``quality``) are left as they are: the
    two files are counted apart. Without ``data.customers``: the arguments unchanged.

    The master's ``customer_name`` is dropped when the transactions have names (the
    report shows the transactions' name)."""
    import dataclasses

    if spec is None:
        return features, loaded
    master = for_table(read_customers(spec), features)
    joined = join_customers(features, master, as_of=loaded.as_of)
    source = {**loaded.source, "customer_master": master_source(master, joined)}
    update: dict = {"source": source}
    if len(master.rejected):
        if getattr(loaded, "rejected", None) is not None:
            rejected = loaded.rejected
            extra = rejected_in_layout(master, list(rejected.columns))
            update["rejected"] = pd.concat([rejected, extra], ignore_index=True)
        elif getattr(loaded, "rejected_path", None) is not None:
            append_rejected(loaded.rejected_path, master)
    return joined.customers, dataclasses.replace(loaded, **update)


_READ_CACHE: dict[tuple, MasterResult] = {}


def _read_cached(spec: CustomerMaster) -> MasterResult:
    """:func:`read_customers`, read once per file state and parameters in a process (the
    holdout check and every migration snapshot join the same master)."""
    path = Path(spec.path)
    stat = path.stat() if path.is_file() else None
    key = (
        str(path.resolve()),
        stat.st_mtime_ns if stat else None,
        stat.st_size if stat else None,
        spec.model_dump_json(),
    )
    if key not in _READ_CACHE:
        _READ_CACHE.clear()  # one master at a time
        _READ_CACHE[key] = read_customers(spec)
    return _READ_CACHE[key]


def snapshot_master(
    features: pd.DataFrame | None, spec: CustomerMaster | None, *, as_of: dt.date
) -> pd.DataFrame | None:
    """The customer table of an earlier snapshot (the holdout check's cut-off, a
    migration period's end) with the master's columns, so that a method tiering on them
    tiers the snapshot the same way. The master has no history: its values are those of
    the export (credit, overdue, satisfaction today), only ``tenure_months`` is counted
    to the snapshot's ``as_of`` (missing for a sign-up after it). ``features`` unchanged
    without ``data.customers`` (or when None)."""
    if spec is None or features is None:
        return features
    master = for_table(_read_cached(spec), features)
    return join_customers(features, master, as_of=as_of).customers
