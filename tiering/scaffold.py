"""``tiering init DATAFILE``: inspect a client's data file and write a parameter file.

:func:`inspect_data` reads the file the way the report will (``tiering.data.io``) and
finds its format, encoding, delimiter, sheet, header row and column roles, the
columns that look like customer attributes (few distinct values, one value per
customer), and signs of returns and cancellations (negative amounts, an order-id
prefix such as Online Retail's ``C``). :func:`params_text` turns that into a
commented YAML file that :func:`tiering.params.load` accepts and that passes
``tiering validate``; :func:`init` writes it, never over an existing file unless
``force`` is set.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from tiering.errors import DataError, TieringError, require
from tiering.params import CURRENCY_PLACEHOLDER

__all__ = ["Inspection", "init", "inspect_data", "params_text"]

MAX_ATTRIBUTES = 6
MAX_ATTRIBUTE_VALUES = 50  # as many as the pipeline compares between tiers
_CJK = re.compile(r"[\u3400-\u9fff]")
# the symbols and codes the loader reads in amounts (tiering.data.io.CURRENCY), and the
# currencies a money column's header may name (after a word break or an underscore)
_CURRENCIES = (("¥", r"[¥￥元]|RMB|CNY"), ("$", r"\$|USD"), ("€", r"€|EUR"), ("£", r"£|GBP"))
_CURRENCY_HEADERS = (
    ("$", r"\$|(?<![a-z])usd(?![a-z])|dollar|美元"),
    ("€", r"€|(?<![a-z])eur(?![a-z])|euro|欧元"),
    ("£", r"£|(?<![a-z])gbp(?![a-z])|pound|sterling|英镑"),
    ("¥", r"[¥￥元]|(?<![a-z])(rmb|cny|jpy|yuan|yen)(?![a-z])|人民币|日元"),
)


@dataclass(frozen=True)
class Inspection:
    """What :func:`inspect_data` found in a data file.

    ``mapping`` maps roles (``customer_id``, ``order_date``, ``order_id``, ``amount``,
    ``quantity``, ``unit_price``, ``customer_name``) to headers; ``problem`` is the
    loader's message when the roles could not be recognised (``mapping`` is then
    empty). ``columns`` is a tidy DataFrame with one row per header: ``header``,
    ``role`` (or empty), ``distinct`` (distinct non-blank values), ``filled`` (share
    of non-blank values), ``per_customer`` (share of customers with a single value)
    and ``attribute`` (suggested as a customer attribute).
    """

    path: Path
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheets: tuple[str, ...]
    header_row: int
    rows: int
    mapping: dict[str, str]
    columns: pd.DataFrame
    attributes: tuple[str, ...]
    negative_rows: int = 0
    prefixes: dict[str, dict[str, int]] = field(default_factory=dict)
    currency: str | None = None
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    ambiguous_dates: bool = False
    duplicate_rows: int = 0
    chinese_headers: bool = False
    problem: str | None = None

    @property
    def missing_roles(self) -> list[str]:
        """The required roles not recognised (``customer_id``, ``order_date``,
        ``amount``); empty when the file can be read as it is."""
        from tiering.data import io as _io

        return _io.missing_roles(self.mapping) if self.problem else []

    @property
    def cancellation_prefixes(self) -> list[str]:
        """Prefixes to set active: at least 5 rows, 90 % of them negative (cancellations,
        not e.g. Online Retail's three ``A`` bad-debt adjustments)."""
        return [
            p
            for p, n in self.prefixes.items()
            if n["rows"] >= 5 and n["negative"] >= 0.9 * n["rows"]
        ]


# --------------------------------------------------------------------------- inspection


def inspect_data(path: str | Path) -> Inspection:
    """Read ``path`` and describe it (see :class:`Inspection`). Raises
    :class:`DataError` when the file cannot be read at all."""
    from tiering.data import io as _io
    from tiering.params import DataSource

    path = Path(path).resolve()
    src = DataSource(path=path)
    grid, info = _io.read_table(src)
    sheets = tuple(info.get("sheets") or ())

    def readings():
        yield src, grid, info
        for name in sheets:  # a workbook: the transactions may be on another sheet
            if name != info.get("sheet"):
                other = DataSource(path=path, sheet=name)
                yield (other, *_io.read_table(other))

    problem, found, partial = None, None, None
    for s, g, inf in readings():
        g = _nonblank(g)
        if g.empty:
            continue
        try:
            found = (s, g, inf, *_io.resolve_columns(g, s, inf))
            break
        except DataError as exc:
            # keep the reading (sheet) and header row with the most roles recognised:
            # the file is written with those and only the missing roles are marked
            guess = _io.guess_header(g)
            if partial is None or len(guess[1]) > len(partial[1][4]):
                partial = (str(exc), (s, g, inf, *guess))
    if found is None:
        require(
            partial is not None,
            f"The file {path.name} has no rows",
            where=str(path),
            hint="export the data again with a header row and data rows",
            error=DataError,
        )
        problem, found = partial
    src, grid, info, pos, mapping = found
    headers = [str(h).strip().lstrip("\ufeff") for h in grid.iloc[pos].tolist()]
    headers = [h or f"column_{i + 1}" for i, h in enumerate(headers)]
    body = grid.iloc[pos + 1 :].copy()
    body.columns = range(len(headers))
    body = body.iloc[:, : len(headers)]
    body.columns = _unique(headers)
    headers = list(body.columns)
    columns = _describe_columns(body, mapping)
    attributes = tuple(columns.loc[columns["attribute"], "header"])[:MAX_ATTRIBUTES]
    facts = _money_and_dates(body, mapping)
    return Inspection(
        path=path,
        format=info["format"],
        encoding=info.get("encoding"),
        delimiter=info.get("delimiter"),
        sheet=info.get("sheet"),
        sheets=sheets,
        header_row=int(grid.index[pos]),
        rows=len(body),
        mapping=dict(mapping),
        columns=columns,
        attributes=attributes,
        duplicate_rows=int(body.duplicated().sum()),
        chinese_headers=any(_CJK.search(h) for h in _language_headers(mapping, headers)),
        problem=problem,
        **facts,
    )


def _nonblank(grid: pd.DataFrame) -> pd.DataFrame:
    keep = grid.astype(str).apply(lambda c: c.str.strip() != "").any(axis=1)
    return grid[keep]


def _language_headers(mapping: dict[str, str], headers: list[str]) -> list[str]:
    """The headers that tell the language of the report: the customer id's and the order
    date's, else those of the roles recognised, else all of them."""
    named = [mapping[r] for r in ("customer_id", "order_date") if r in mapping]
    return named or list(mapping.values()) or headers


def _unique(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}_{seen[h]}")
    return out


def _describe_columns(body: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    from tiering.data import io as _io
    from tiering.params import RESERVED_COLUMNS

    reserved = {*RESERVED_COLUMNS, "customer_name"}

    role_of = {h: r for r, h in mapping.items()}
    cid = mapping.get("customer_id")
    ids = _io.normalise_ids(body[cid]) if cid in body else None
    rows = []
    for h in body.columns:
        values = body[h].astype(str).str.strip()
        filled = values != ""
        distinct = int(values[filled].nunique())
        per_customer = float("nan")
        if ids is not None and h not in role_of:
            ok = filled & (ids != "")
            if ok.any():
                per = pd.DataFrame({"c": ids[ok], "v": values[ok]}).groupby("c")["v"].nunique()
                per_customer = float((per == 1).mean())
        # a column named like one the analysis computes (tier, segment, ...) cannot be
        # an attribute (tiering.params.RESERVED_COLUMNS): it is listed with the others
        attribute = bool(
            h not in role_of
            and h not in reserved
            and 2 <= distinct <= MAX_ATTRIBUTE_VALUES
            and filled.mean() >= 0.5
            and per_customer >= 0.9
        )
        rows.append(
            {
                "header": h,
                "role": role_of.get(h, ""),
                "distinct": distinct,
                "filled": float(filled.mean()) if len(values) else 0.0,
                "per_customer": per_customer,
                "attribute": attribute,
            }
        )
    return pd.DataFrame(
        rows, columns=["header", "role", "distinct", "filled", "per_customer", "attribute"]
    )


def _shape(text: pd.Series) -> pd.Series:
    return text.str.replace(r"\d", "9", regex=True).str.replace(r"[A-Za-z]", "a", regex=True)


def _order_id_prefixes(ids: pd.Series, negative: pd.Series) -> dict[str, dict[str, int]]:
    """Letters in front of a minority of order ids that otherwise look like the rest
    (``C536379`` among ``536365``; ``RSO-2024-1`` among ``SO-2024-2``), with their row
    count and how many of those rows are negative."""
    shapes = _shape(ids)
    mode = shapes[ids != ""].mode()
    if mode.empty:
        return {}
    common = mode.iloc[0]
    other = ids[(shapes != common) & (ids != "")]
    prefix = pd.Series("", index=other.index)
    for k in (1, 2, 3):
        head, rest = other.str.slice(0, k), other.str.slice(k)
        hit = (prefix == "") & head.str.fullmatch(r"[A-Za-z]+") & (_shape(rest) == common)
        prefix[hit] = head[hit]
    found = {}
    for p, rows in prefix[prefix != ""].value_counts().sort_index().items():
        if rows <= 0.2 * len(ids):
            has = prefix.reindex(ids.index, fill_value="") == p
            found[str(p)] = {"rows": int(rows), "negative": int((negative & has).sum())}
    return found


def _currency(values: pd.Series, header: str) -> str | None:
    """The currency symbol the money column shows: the one most of its values carry
    (``$12.50``, ``￥1,200``, ``12 EUR``), else the one its header names
    (``revenue_usd``, ``Amount (€)``, ``金额(元)``), else None."""
    counts = {
        symbol: int(values.str.contains(pattern, regex=True).sum())
        for symbol, pattern in _CURRENCIES
    }
    symbol, hits = max(counts.items(), key=lambda kv: kv[1])
    if hits:
        return symbol
    for symbol, pattern in _CURRENCY_HEADERS:
        if re.search(pattern, header, flags=re.IGNORECASE):
            return symbol
    return None


def _money_and_dates(body: pd.DataFrame, mapping: dict[str, str]) -> dict:
    """Currency, returns, cancellation prefixes and the date range, as far as the roles
    recognised in ``mapping`` allow."""
    from tiering.data import io as _io

    out: dict = {}
    negative = pd.Series(False, index=body.index)
    money = mapping.get("amount") or mapping.get("unit_price")
    if money is not None:
        raw = body[money].astype(str)
        if "amount" in mapping:
            value = _io.parse_amounts(raw)
        elif "quantity" in mapping:
            value = _io.parse_amounts(body[mapping["quantity"]].astype(str)) * _io.parse_amounts(
                raw
            )
        else:
            value = pd.Series(float("nan"), index=body.index)
        negative = value < 0
        out["negative_rows"] = int(negative.sum())
        out["currency"] = _currency(raw.head(20_000), money)
    if "order_id" in mapping:
        out["prefixes"] = _order_id_prefixes(
            body[mapping["order_id"]].astype(str).str.strip(), negative
        )
    if "order_date" not in mapping:
        return out
    dates_raw = body[mapping["order_date"]].astype(str)
    dates = _io.parse_dates(dates_raw)
    if dates.notna().any():
        out["first_date"], out["last_date"] = dates.min().date(), dates.max().date()
    sample = dates_raw.head(20_000)
    if sample.str.contains(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", regex=True).any():
        day = _io.parse_dates(sample, dayfirst=True)
        month = _io.parse_dates(sample)
        out["ambiguous_dates"] = bool((day.notna() & month.notna() & (day != month)).any())
    return out


# --------------------------------------------------------------------------- writing

_MISSING_NOTE = {
    "customer_id": "the header of the customer ids (one per customer)",
    "order_date": "the header of the order dates",
    "amount": "the header of the amounts (or give quantity and unit_price instead)",
}


def _q(value) -> str:
    """A YAML value written by the YAML library: a string double-quoted on one line (so
    'no', 'on', '2024-01', headers with ':', '#', quotes, line breaks, tabs, U+2028 or
    control characters stay the text they are and can never start a key of their own),
    a list as a flow sequence of such strings."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_q(v) for v in value) + "]"
    out = yaml.safe_dump(
        str(value), default_style='"', allow_unicode=True, width=2**31 - 1, explicit_end=False
    )
    out = out.rstrip("\n")
    if out.endswith("\n..."):
        out = out[:-4].rstrip("\n")
    require(
        "\n" not in out and not _BREAKS.search(out),
        "tiering init could not write a value on one line",
        where=repr(value)[:80],
    )
    return out


# YAML line breaks and the characters YAML does not allow in a file (pyyaml's reader)
_BREAKS = re.compile("[\n\r\x85\u2028\u2029]")
_NOT_YAML = re.compile(
    "[\u2028\u2029]|[^\x09\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _c(text: str) -> str:
    """Text for a comment line: line breaks and characters YAML refuses shown escaped
    (``\\n``, ``\\x00``), so nothing in it can end the comment."""

    def esc(m):
        ch = m.group(0)
        return {"\n": "\\n", "\r": "\\r"}.get(ch) or (
            f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
        )

    return _NOT_YAML.sub(esc, str(text))


def _named(text: str) -> str:
    """A header or sheet name in a comment: as it is when that is plain, one-line text
    (``Region``, ``客户编号``), else the quoted YAML scalar of :func:`_q` (line breaks,
    control characters, quotes, commas, leading or trailing spaces shown escaped)."""
    text = str(text)
    plain = (
        text
        and text == text.strip()
        and not _NOT_YAML.search(text)
        and not any(ch in text for ch in ",\"'\t\\")
    )
    return text if plain else _q(text)


def _client_from(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".tab", ".xlsx", ".xlsm", ".parquet", ".pq"):
        stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
    words = re.sub(r"[_\-.]+", " ", stem).strip()
    return words.title() if words.isascii() else (words or "Client")


def params_text(ins: Inspection, *, params_dir: str | Path, today: dt.date | None = None) -> str:
    """The commented parameter file for ``ins``; relative paths are relative to
    ``params_dir`` (the folder the file will be written to)."""
    from tiering.params import method_names

    params_dir = Path(params_dir).resolve()
    try:
        data_path = os.path.relpath(ins.path, params_dir)
    except ValueError:  # another drive (Windows)
        data_path = str(ins.path)
    data_path = data_path.replace(os.sep, "/")
    today = today or dt.date.today()
    lang = "zh" if ins.chinese_headers else "en"
    L: list[str] = []
    add = L.append
    add(
        f"# Parameter file written by `tiering init` on {today.isoformat()} from "
        f"{_c(ins.path.name)}."
    )
    add("# Edit it, check it with `tiering validate <this file>`, then build the report with")
    add("# `tiering report <this file>`. Relative paths are relative to this file's folder;")
    add("# params/demo.yaml and the README explain every option.")
    add("")
    add(f"client: {_q(_client_from(ins.path))}   # the client's name on the cover")
    add('consultant: ""   # your firm\'s name on the cover')
    add(f"language: {lang}   # en | zh" + ("   (the headers are Chinese)" if lang == "zh" else ""))
    if ins.currency:
        add(f"currency: {_q(ins.currency)}   # found in the amounts")
    else:
        add(
            f"currency: {_q(CURRENCY_PLACEHOLDER)}   # FILL IN: the amounts show no currency "
            'symbol; write the client\'s, e.g. "$", "€", "£", "¥" or "CHF" (validate and '
            "report refuse the placeholder)"
        )
    add("")
    add("data:")
    add(f"  path: {_q(data_path)}")
    detected = [ins.format.upper()]
    if ins.encoding:
        detected.append(f"encoding {_c(ins.encoding)}")
    if ins.delimiter:
        detected.append(f"delimiter {ins.delimiter!r}")  # repr: escapes every line break
    detected.append(f"{ins.rows:,} data rows, header on row {ins.header_row}")
    add(f"  # detected: {', '.join(detected)}")
    if ins.header_row > 1:
        add(f"  # (the {ins.header_row - 1} line(s) above the header are skipped automatically)")
    if ins.format in ("csv", "tsv") and ins.encoding:
        add(
            f"  encoding: {_q(ins.encoding)}   # auto | utf-8 | utf-8-sig | gb18030 | utf-16 | latin-1"
        )
    if ins.format == "csv" and ins.delimiter and ins.delimiter != ",":
        add(f"  delimiter: {_q(ins.delimiter)}")
    if ins.format == "xlsx" and ins.sheet is not None:
        others = [s for s in ins.sheets if s != ins.sheet]
        add(
            f"  sheet: {_q(ins.sheet)}"
            + (f"   # other sheets: {', '.join(_named(o) for o in others)}" if others else "")
        )
    missing = ins.missing_roles
    if missing:
        add(
            f"  # NOT RECOGNISED: {', '.join(missing)}. Replace each null below by the header "
            "that holds it;"
        )
        add("  # validate and report refuse the file until then. The loader says:")
        for line in (ins.problem or "").split("\n"):
            add(f"  #   {_c(line.strip())}")
        add("  # headers in the file: " + ", ".join(_named(h) for h in ins.columns["header"]))
    add(
        "  columns:   # which header plays which role (recognised from the headers; correct if wrong)"
    )
    for role in (
        "customer_id",
        "order_date",
        "order_id",
        "amount",
        "quantity",
        "unit_price",
        "customer_name",
    ):
        if role in ins.mapping:
            note = ""
            if role == "order_date" and ins.first_date:
                note = f"   # {ins.first_date.isoformat()} .. {ins.last_date.isoformat()}"
            add(f"    {role}: {_q(ins.mapping[role])}{note}")
        elif role in missing:
            add(f"    {role}: null   # FILL IN: {_MISSING_NOTE[role]}")
    if ins.ambiguous_dates:
        add("  dayfirst: false   # dates like 03/04/2024 are ambiguous: true reads them as 3 April")
    cols = ins.columns
    if ins.attributes:
        add("  # customer attributes compared between the tiers (few values, one per customer):")
        add(f"  attributes: {_q(list(ins.attributes))}")
    else:
        add(
            "  attributes: []   # e.g. [region, customer_type]: columns with one value per customer"
        )
    rest = cols[(cols["role"] == "") & ~cols["header"].isin(ins.attributes)]
    if len(rest):
        shown = ", ".join(
            f"{_named(r.header)} ({r.distinct:,} values)" for r in rest.head(12).itertuples()
        )
        add(f"  # other columns: {shown}{' ...' if len(rest) > 12 else ''}")
    add("  cancellations:   # returns and cancellations are netted against the customer's spend")
    active = ins.cancellation_prefixes
    for p, n in ins.prefixes.items():
        add(
            f"    # {n['rows']:,} order ids start with {p!r}, {n['negative']:,} of those rows are negative"
            + (": cancellations" if p in active else "")
        )
    if active:
        add(f"    order_id_prefixes: {_q(active)}")
    else:
        add("    order_id_prefixes: []   # e.g. [C] when cancelled orders' ids start with C")
    neg = (
        f"   # {ins.negative_rows:,} rows have a negative amount: counted as returns"
        if ins.negative_rows
        else "   # no negative amounts in the file"
    )
    add(f"    negative_amounts: true{neg}")
    add(
        f'  duplicate_rows: "keep"   # keep | reject: {ins.duplicate_rows:,} exact duplicate rows found'
    )
    add("")
    if ins.last_date:
        add(
            f"# as_of: {(ins.last_date + dt.timedelta(days=1)).isoformat()}   # analysis date; default: "
            "the day after the last transaction"
        )
    else:
        add("# as_of: YYYY-MM-DD   # analysis date; default: the day after the last transaction")
    add("# window:")
    add("#   months: 12   # only the last 12 months before as_of (or start: YYYY-MM-DD)")
    add("")
    add("tiering:")
    add(f"  method: abc   # {' | '.join(method_names())}")
    add("  labels: [A, B, C]   # best first")
    add("  abc:")
    add("    cutoffs: [0.8, 0.95]   # cumulative revenue shares: A = top 80 %, B = up to 95 %")
    add("")
    add("# output:")
    add("#   dir: reports/<client>   # default; `tiering batch` ignores it")
    add("#   formats: [html, pdf]")
    add("#   logo: logo.png   # your firm's logo on the cover (PNG, JPEG or SVG)")
    return "\n".join(L) + "\n"


def init(
    data_file: str | Path,
    *,
    output: str | Path = "params.yaml",
    force: bool = False,
    today: dt.date | None = None,
) -> tuple[Path, Inspection]:
    """Inspect ``data_file`` and write the parameter file ``output``.

    Refuses to overwrite an existing file unless ``force``; creates the missing folders
    of ``output`` (once the data file has been read). The written file is read back and
    validated before this returns. Roles that were not recognised are written as
    ``null`` and a currency the data does not show as :data:`CURRENCY_PLACEHOLDER`:
    such a file is refused by ``tiering validate`` until the user fills them in.
    """
    from tiering import params as _params

    target = Path(output)
    require(
        force or not target.exists(),
        f"{target} already exists",
        where=str(target),
        hint="choose another --output, or add --force to overwrite it",
    )
    require(
        not target.is_dir(),
        f"{target} is a folder",
        where=str(target),
        hint="give the parameter file's name, e.g. --output params/client.yaml",
    )
    ins = inspect_data(data_file)
    text = params_text(ins, params_dir=target.resolve().parent, today=today)
    # the text must be a valid parameter file before anything is written, and it must
    # say what the inspection found: no header may have added or changed a key
    try:
        raw = yaml.load(text, Loader=_params.SafeNoAliasLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        raise TieringError(
            f"tiering init wrote a parameter file it cannot read back: {exc}",
            where=str(ins.path),
            hint="report this as a bug; meanwhile copy "
            "params/demo.yaml and name the columns by hand",
        ) from None
    checked = dict(raw)
    if checked.get("currency") == CURRENCY_PLACEHOLDER:  # for the user to fill in
        checked["currency"] = "¥"
    generated = _params.validate(
        checked, base_dir=target.resolve().parent, source=f"{target} (as generated)"
    )
    columns = {k: v for k, v in generated.data.columns.model_dump().items() if v is not None}
    require(
        columns == ins.mapping
        and list(generated.data.attributes) == list(ins.attributes)
        and not generated.data.exclude,
        "tiering init wrote a parameter file that does not say what it found in the data",
        where=str(ins.path),
        hint="report this as a bug; meanwhile copy params/demo.yaml and name the columns by hand",
    )
    try:
        target.resolve().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TieringError(
            f"Could not make the folder {target.parent}: {exc.strerror or exc}",
            where=str(target),
            hint="choose an --output in a folder you can write to",
        ) from None
    _write(target, text, force=force)
    require(
        _params.read_yaml(target) == raw,
        "tiering init could not read back the file it wrote",
        where=str(target),
        hint="report this as a bug",
    )
    return target, ins


def _write(target: Path, text: str, *, force: bool) -> None:
    data = text.encode("utf-8")
    if not force:
        try:  # exclusive create: never clobber a file that appeared meanwhile
            with open(target, "xb") as fh:
                fh.write(data)
            return
        except FileExistsError:
            raise TieringError(
                f"{target} already exists",
                where=str(target),
                hint="choose another --output, or add --force to overwrite it",
            ) from None
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
