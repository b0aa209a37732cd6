"""The parameter schema and YAML loading.

A parameter file is YAML read with a safe loader that refuses aliases (no "billion
laughs"), duplicate keys and files over ``MAX_PARAMS_BYTES``. It is validated by the
pydantic models below; unknown keys are errors with a did-you-mean, and every problem
is reported at once with its key path (``tiering.abc.cutoffs``).

Relative data and playbook paths are resolved against the folder of the parameter
file; the output folder is resolved against the current working directory.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ParamsError, closest

MAX_PARAMS_BYTES = 256 * 1024

METRICS = ("monetary", "frequency", "recency_days", "aov", "tenure_days", "gross_revenue",
           "returns_value")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


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


class DataSource(_Strict):
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
    dayfirst: bool = False

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v):
        if v is not None and len(v) != 1:
            raise ValueError("must be a single character such as ',' ';' or '\\t'")
        return v


class Window(_Strict):
    """The analysis window: transactions from ``start`` (or ``months`` before as_of)
    up to the day before ``as_of``."""

    start: dt.date | None = None
    months: int | None = Field(None, ge=1, le=600)

    @model_validator(mode="after")
    def _one_of(self):
        if self.start is not None and self.months is not None:
            raise ValueError("give either window.start or window.months, not both")
        return self


class AbcOptions(_Strict):
    cutoffs: list[float] = Field(default_factory=lambda: [0.8, 0.95])
    value: Literal["monetary", "gross_revenue"] = "monetary"

    @field_validator("cutoffs")
    @classmethod
    def _increasing(cls, v):
        if not v:
            raise ValueError("give at least one cut-off, e.g. [0.8, 0.95]")
        if any(not 0 < c < 1 for c in v):
            raise ValueError("cut-offs are cumulative revenue shares strictly between 0 and 1")
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError("cut-offs must be strictly increasing, e.g. [0.8, 0.95]")
        return v


class RfmWeights(_Strict):
    recency: float = Field(1.0, ge=0)
    frequency: float = Field(1.0, ge=0)
    monetary: float = Field(1.0, ge=0)


class RfmOptions(_Strict):
    bins: int = Field(5, ge=2, le=10)
    weights: RfmWeights = Field(default_factory=RfmWeights)
    thresholds: list[float] | None = None


class TieringSpec(_Strict):
    method: Literal["abc", "rfm"] = "abc"
    labels: list[str] = Field(default_factory=lambda: ["A", "B", "C"])
    min_tier_size: int = Field(5, ge=1)
    abc: AbcOptions = Field(default_factory=AbcOptions)
    rfm: RfmOptions = Field(default_factory=RfmOptions)

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
        if self.method == "abc" and len(self.abc.cutoffs) != len(self.labels) - 1:
            raise ValueError(
                f"abc needs one cut-off fewer than labels: {len(self.labels)} labels "
                f"{self.labels} but {len(self.abc.cutoffs)} cut-offs {self.abc.cutoffs}")
        if self.method == "rfm" and self.rfm.thresholds is not None:
            th = self.rfm.thresholds
            if len(th) != len(self.labels) - 1:
                raise ValueError(f"rfm.thresholds needs {len(self.labels) - 1} values for "
                                 f"{len(self.labels)} labels, got {len(th)}")
            if any(b >= a for a, b in zip(th, th[1:])):
                raise ValueError("rfm.thresholds must be strictly decreasing (best tier first)")
        return self


class StatsSpec(_Strict):
    alpha: float = Field(0.05, gt=0, lt=1)
    metrics: list[str] = Field(
        default_factory=lambda: ["monetary", "frequency", "recency_days", "aov", "tenure_days"])
    n_boot: int = Field(2000, ge=100, le=100_000)
    min_group_size: int = Field(5, ge=2)

    @field_validator("metrics")
    @classmethod
    def _known(cls, v):
        bad = [m for m in v if m not in METRICS]
        if bad:
            hint = closest(bad[0], METRICS)
            raise ValueError(f"unknown metric {bad[0]!r}"
                             + (f" (did you mean {hint!r}?)" if hint else "")
                             + f"; choose from {list(METRICS)}")
        return v


class StrategySpec(_Strict):
    playbook: Path | None = None


class OutputSpec(_Strict):
    dir: Path | None = None
    formats: list[Literal["html", "pdf"]] = Field(default_factory=lambda: ["html", "pdf"])


class Params(_Strict):
    """Everything one report needs. See ``params/demo.yaml`` for a commented example."""

    client: str = Field("Client", min_length=1, max_length=200)
    title: str | None = Field(None, max_length=200)
    consultant: str = Field("", max_length=200)
    language: Literal["en", "zh"] = "en"
    currency: str = Field("¥", max_length=5)
    seed: int = 0
    data: DataSource
    as_of: dt.date | None = None
    window: Window = Field(default_factory=Window)
    tiering: TieringSpec = Field(default_factory=TieringSpec)
    stats: StatsSpec = Field(default_factory=StatsSpec)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    output: OutputSpec = Field(default_factory=OutputSpec)

    def to_notebook(self) -> dict[str, Any]:
        """The parameters as JSON-safe values, one entry per top-level key."""
        return self.model_dump(mode="json")


TOP_LEVEL_KEYS = tuple(Params.model_fields)


# --------------------------------------------------------------------------- YAML

class _SafeNoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses aliases/anchors and duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in parameter files",
                event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a parameter file into a dict (safe, no aliases, size-limited)."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError([f"file not found: {path}"], source=str(path))
    size = path.stat().st_size
    if size > MAX_PARAMS_BYTES:
        raise ParamsError([f"the file is {size:,} bytes; parameter files are limited to "
                           f"{MAX_PARAMS_BYTES:,} bytes"], source=str(path))
    text = path.read_text(encoding="utf-8-sig")
    try:
        raw = yaml.load(text, Loader=_SafeNoAliasLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        raise ParamsError([f"not valid YAML: {exc}"], source=str(path)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(["the file must be a mapping of keys to values "
                           "(start with e.g. 'client: My Client')"], source=str(path))
    return raw


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
            value = yaml.load(text, Loader=_SafeNoAliasLoader) if text.strip() else None  # noqa: S506
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
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            name = str(loc[-1])
            allowed = _fields_at(loc[:-1])
            hint = closest(name, allowed) if name.isidentifier() else None
            msg = f"unknown parameter {path!r}" if name.isidentifier() else (
                f"unknown parameter {name!r}: not a valid parameter name")
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


def validate(raw: dict[str, Any], *, base_dir: str | Path = ".", source: str | None = None) -> Params:
    """Validate a raw dict into :class:`Params`, resolving relative paths.

    Raises :class:`ParamsError` listing every problem with its key path.
    """
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_problems(exc), source=source) from None
    base = Path(base_dir).resolve()
    data_path = params.data.path if params.data.path.is_absolute() else (base / params.data.path)
    data = params.data.model_copy(update={"path": data_path.resolve()})
    playbook = params.strategy.playbook
    if playbook is not None and not playbook.is_absolute():
        playbook = (base / playbook).resolve()
    strategy = params.strategy.model_copy(update={"playbook": playbook})
    return params.model_copy(update={"data": data, "strategy": strategy})


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
