"""Company configuration: where the data is, how its columns map, and the analysis settings.

A config is a TOML or YAML file (see ``config/demo.toml``, ``config/cdnow.toml`` and
``config/examples/``). Paths inside it are relative to the config file.

The whole file is checked against one schema (:class:`ConfigSchema`, pydantic) before
anything is read: an unknown key is an error with a "did you mean", a wrong type names
the key and the value, and a file that is not valid TOML or YAML names the line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from analysis.core.paths import CONFIG_DIR
from analysis.data.contract import MONEY_LIMIT_MAX, TABLES, Formats, Rules

DEFAULT_SEED = 20261125
SECTION_DEFAULTS_DIR = CONFIG_DIR
FILE_KINDS = ("csv", "parquet", "excel", "files")
ENGINE_KINDS = ("duckdb", "sql")


class ConfigError(ValueError):
    """A config that cannot be used: names the file, the key and the fix."""


# -- the schema -----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SourceSchema(_Strict):
    kind: Literal["csv", "parquet", "excel", "files", "duckdb", "sql"]
    path: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _where(self) -> SourceSchema:
        if self.kind == "sql" and not self.url:
            raise ValueError("kind = 'sql' needs url = '...' (e.g. 'postgresql://user@host/db')")
        if self.kind != "sql" and self.url:
            raise ValueError(f"url is only for kind = 'sql'; kind = {self.kind!r} reads path")
        return self


class ReadOptions(_Strict):
    """How one file is read."""

    file: str | None = None
    sep: str | None = None
    header: bool = True
    names: list[str] | None = None
    encoding: str = "utf-8"
    sheet: str | int | None = None


class FileSchema(ReadOptions):
    file: str


class JoinSchema(_Strict):
    """A lookup in another configured file: a left join by key (rows are never dropped),
    or, with ``aggregate``, one value per key summed/counted from the other file."""

    file: str
    on: str | list[str]
    aggregate: dict[str, str] | None = None
    alias: str | None = Field(default=None, alias="as")


class TableSchema(ReadOptions):
    table: str | None = None
    query: str | None = None
    filter: str | None = None
    join: list[JoinSchema] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> TableSchema:
        given = [k for k in ("file", "table", "query") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of file = '...', table = '...' or query = '...'"
                             + (f" (found {', '.join(given)})" if given else ""))
        if self.query and (self.join or self.filter):
            raise ValueError("a query table does its own joins and filters in the query; "
                             "drop join/filter or use file = '...'")
        return self


class FormatsSchema(_Strict):
    date_format: str | None = None
    decimal: Literal[".", ","] = "."
    thousands: Literal["", ",", ".", " ", "'", "_"] = ""
    currency_symbols: list[str] = Field(default_factory=lambda: list(Formats().currency_symbols))

    @model_validator(mode="after")
    def _distinct(self) -> FormatsSchema:
        if self.thousands == self.decimal:
            raise ValueError(f"decimal and thousands are both {self.decimal!r}")
        return self


class RulesSchema(_Strict):
    anonymous_transactions: Literal["exclude", "error"] = "exclude"
    cancelled_values: list[str] = Field(default_factory=lambda: ["cancelled", "canceled"])
    zero_revenue: Literal["error", "exclude", "keep"] = "error"
    duplicate_transaction_ids: Literal["error", "exclude"] = "error"
    future_dates: Literal["error", "exclude"] = "error"
    unknown_customers: Literal["exclude", "error"] = "exclude"
    money_limit: Annotated[float, Field(gt=0, le=MONEY_LIMIT_MAX)] = Rules().money_limit

    @field_validator("cancelled_values", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class PeriodsSchema(_Strict):
    months: Literal[1, 2, 3, 4, 6, 12] = 1
    fiscal_start_month: Annotated[int, Field(ge=1, le=12)] = 1
    as_of: dt.date | None = None


class ChurnSchema(_Strict):
    inactivity_days: Annotated[int, Field(gt=0)] = 180


class DemoSchema(_Strict):
    n_customers: Annotated[int, Field(ge=50)] = 20_000
    seed: int = DEFAULT_SEED
    name: str | None = None


class PrivacySchema(_Strict):
    salt: str | None = None
    key_file: str | None = None
    export_raw_ids: bool = False


class ClaimSchema(_Strict):
    margin: float
    reason: str


class AssumptionsSchema(_Strict):
    gross_margin: Annotated[float, Field(gt=0, le=1)] | None = None


class EngineSchema(_Strict):
    backend: Literal["duckdb", "spark"] = "duckdb"
    url: str | None = None
    memory: str | int | None = None


_TABLE_NAMES = tuple(TABLES)


class ConfigSchema(_Strict):
    """Every key a company config may have."""

    name: str | None = None
    business: Literal["shop", "subscription"] = "shop"
    satisfaction_scale: Literal["csat5", "nps10"] | None = "csat5"
    seed: int = DEFAULT_SEED
    source: SourceSchema
    files: dict[str, FileSchema] = Field(default_factory=dict)
    tables: dict[str, TableSchema] = Field(default_factory=dict)
    mapping: dict[str, dict[str, str | int | float | bool]] = Field(default_factory=dict)
    values: dict[str, dict[str, dict[str, str]]] = Field(default_factory=dict)
    formats: FormatsSchema = Field(default_factory=FormatsSchema)
    rules: RulesSchema = Field(default_factory=RulesSchema)
    periods: PeriodsSchema = Field(default_factory=PeriodsSchema)
    churn: ChurnSchema = Field(default_factory=ChurnSchema)
    demo: DemoSchema | None = None
    privacy: PrivacySchema = Field(default_factory=PrivacySchema)
    claims: dict[str, ClaimSchema] = Field(default_factory=dict)
    assumptions: AssumptionsSchema = Field(default_factory=AssumptionsSchema)
    engine: EngineSchema = Field(default_factory=EngineSchema)
    segments: dict[str, Any] | None = None  # checked by analysis.analyses.segments.settings

    @model_validator(mode="after")
    def _tables(self) -> ConfigSchema:
        for group in ("tables", "mapping", "values"):
            for table in getattr(self, group):
                if table not in _TABLE_NAMES:
                    raise ValueError(_unknown(f"[{group}.{table}]", table, _TABLE_NAMES,
                                              "contract tables"))
        for table, mapping in self.mapping.items():
            known = [c.name for c in TABLES[table]]
            for column in mapping:
                if column not in known:
                    raise ValueError(_unknown(f"[mapping.{table}] {column}", column, known,
                                              f"contract columns of {table}"))
        for table, columns in self.values.items():
            known = [c.name for c in TABLES[table] if c.kind == "str"]
            for column in columns:
                if column not in known:
                    raise ValueError(_unknown(f"[values.{table}.{column}]", column, known,
                                              f"text columns of {table}"))
        clash = set(self.files) & set(_TABLE_NAMES)
        if clash:
            raise ValueError(f"[files] names {sorted(clash)} are contract table names; "
                             "give the files other names")
        if self.source.kind in ENGINE_KINDS and (self.source.path or self.source.url):
            for table, spec in self.tables.items():
                if spec.file:
                    raise ValueError(f"[tables.{table}] file = ... needs a file source; with "
                                     f"kind = {self.source.kind!r} use table = or query =")
        return self


def _unknown(where: str, name: str, known, what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}: {name!r} is not one of the {what}{hint}; they are {', '.join(known)}"


# -- settings -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """Analysis settings read from a config file, with sensible defaults."""

    name: str
    path: Path | None
    raw: Mapping[str, Any]
    satisfaction_scale: str | None = "csat5"
    seed: int = DEFAULT_SEED
    churn_days: int = 180
    period_months: int = 1
    fiscal_start_month: int = 1
    rules: Rules = dataclasses.field(default_factory=Rules)
    formats: Formats = dataclasses.field(default_factory=Formats)
    business: str = "shop"                 # "shop" | "subscription"
    as_of: dt.date | None = None           # [periods] as_of; None = the run date
    gross_margin: float | None = None      # [assumptions] gross_margin (declared, labelled)
    schema: ConfigSchema | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def section(self, name: str) -> dict[str, Any]:
        """A table of the config as a plain dict; falls back to config/<name>.default.toml."""
        if name in self.raw:
            return dict(self.raw[name])
        default = SECTION_DEFAULTS_DIR / f"{name}.default.toml"
        if default.exists():
            data = tomllib.loads(default.read_text())
            return dict(data.get(name, data))
        return {}

    def resolve(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def as_of_date(self, today: dt.date | None = None) -> dt.date:
        """The as-of date: ``[periods] as_of``, else the run date. Dates after it are future."""
        return self.as_of or today or dt.date.today()

    def fingerprint(self) -> str:
        """Stable hash of the config's content (for caches)."""
        return hashlib.sha256(
            json.dumps(self.raw, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The parsed file; a :class:`ConfigError` naming the file (and line) if it cannot be."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"config file {path} does not exist; see config/demo.toml for an example"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as error:
        raise ConfigError(f"config {path} cannot be read as UTF-8 text: {error}") from None
    if path.suffix in {".yml", ".yaml"}:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error)
            raise ConfigError(f"config {path} is not valid YAML{line}: {problem}") from None
        data = {} if data is None else data
    elif path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config {path} is not valid TOML: {error}; fix that line "
                              "(strings need quotes, tables [name] on their own line)") from None
    else:
        raise ConfigError(f"config {path}: use a .toml or .yaml file")
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a table of keys (name = ..., [source], "
                          f"[tables....]); it is a {type(data).__name__}: see config/demo.toml")
    return data


def load_settings(config: str | Path | Mapping[str, Any]) -> Settings:
    """Settings from a config file path, or from an already-parsed mapping."""
    if isinstance(config, Mapping):
        raw, path = dict(config), None
    else:
        path = Path(config).resolve()
        raw = read_config_file(path)
    schema = check_config(raw, str(path) if path else "(inline)")
    return Settings(
        name=str(schema.name or (path.stem if path else "inline")),
        path=path,
        raw=raw,
        satisfaction_scale=schema.satisfaction_scale,
        seed=schema.seed,
        churn_days=schema.churn.inactivity_days,
        period_months=schema.periods.months,
        fiscal_start_month=schema.periods.fiscal_start_month,
        rules=Rules(
            anonymous_transactions=schema.rules.anonymous_transactions,
            cancelled_values=tuple(v.strip().lower() for v in schema.rules.cancelled_values),
            zero_revenue=schema.rules.zero_revenue,
            duplicate_transaction_ids=schema.rules.duplicate_transaction_ids,
            future_dates=schema.rules.future_dates,
            unknown_customers=schema.rules.unknown_customers,
            money_limit=schema.rules.money_limit,
        ),
        formats=Formats(
            date_format=schema.formats.date_format,
            decimal=schema.formats.decimal,
            thousands=schema.formats.thousands,
            currency_symbols=tuple(schema.formats.currency_symbols),
        ),
        business=schema.business,
        as_of=schema.periods.as_of,
        gross_margin=schema.assumptions.gross_margin,
        schema=schema,
    )


def check_config(raw: Mapping[str, Any], where: str) -> ConfigSchema:
    """The config checked against :class:`ConfigSchema`; every problem in one ConfigError."""
    if "source" not in raw:
        raise ConfigError(f"config {where}: needs a [source] table (kind and path or url); "
                          "see config/demo.toml")
    try:
        return ConfigSchema.model_validate(dict(raw))
    except ValidationError as error:
        lines = [_describe(e) for e in error.errors()]
        raise ConfigError(f"config {where}: {len(lines)} problem(s):\n"
                          + "\n".join(f"- {line}" for line in dict.fromkeys(lines))) from None


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error in the config's own words: the key, the value, what is allowed."""
    loc = [str(p) for p in error["loc"] if not str(p).startswith(("function-", "literal"))]
    loc = [p for p in loc if p not in {"str", "int", "float", "bool", "list[str]"}]
    key = _key_name(loc)
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        known = list(parent.model_fields) if parent else []
        known += [f.alias for f in (parent.model_fields.values() if parent else []) if f.alias]
        hint = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        did = f"; did you mean {hint[0]!r}?" if hint else ""
        allowed = f" (allowed: {', '.join(known)})" if known else ""
        return f"{key}: unknown key{did}{allowed}"
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{key}: {message}" if loc else message
    shown = _plain(value)
    if kind in ("model_type", "dict_type"):
        table = ".".join(p for p in loc if not p.isdigit())
        return f"{key} = {shown}: must be a table of keys ([{table}] on a line of its own, " \
            "then key = value lines)"
    if kind == "list_type":
        return f"{key} = {shown}: must be a list, e.g. [\"a\", \"b\"]"
    return f"{key} = {shown}: {error['msg'].lower()}"


def _key_name(loc: list[str]) -> str:
    if not loc:
        return "config"
    if len(loc) == 1:
        return loc[0]
    head = [p for p in loc[:-1] if not p.isdigit()]
    return f"[{'.'.join(head)}] {loc[-1]}" if head else loc[-1]


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The schema model at a config path (dict keys such as a table name are skipped)."""
    model: Any = ConfigSchema
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part in fields:
            model = _inner_model(fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside Optional[...], list[...] or dict[str, ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return text if len(text) < 60 else text[:57] + "..."
    return str(value)
