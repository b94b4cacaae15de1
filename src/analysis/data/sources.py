"""Read a company's tables from files or databases and map them onto the contract.

Kinds of source (``[source] kind`` in the config):

- ``csv``, ``parquet``, ``excel``, ``files``: files in ``[source] path`` (a folder); each
  file is read by its suffix (.csv/.txt/.tsv, .parquet, .xlsx/.xlsm/.xls/.ods), else as
  the kind says. Excel is read offline by python-calamine;
- ``duckdb``: a DuckDB database file; each table is a table name or a SQL query (without
  ``path``: an in-memory database over the configured files);
- ``sql``: any engine Ibis can reach by URL (``postgres://...``, ``sqlite:///...``,
  warehouses). Column selection, renaming and any ``query`` run inside that
  engine; only the result is fetched. Environment variables in the URL
  (``${PGPASSWORD}``) are expanded so secrets stay out of the config, and any password
  is blanked out of error messages.

The mapping language (data/README.md explains it with worked examples):

- ``[mapping.<table>]`` maps contract column -> the company's column, or a SQL expression
  over the file's columns (arithmetic, CASE, ``starts_with(...)``, ``strptime(...)``,
  constants), evaluated by an embedded DuckDB;
- ``[tables.<table>] filter = "..."``: a condition; rows where it is false are excluded
  and counted in the ledger;
- ``[[tables.<table>.join]]``: a lookup in another configured file by key (a left join:
  rows are never dropped), or with ``aggregate = {name = "sum(...)"}`` one value per key;
- ``[tables.<table>] query = "SELECT ..."``: a table as a SQL query over the configured
  files (``[files.<name>]``), without any database file;
- ``[values.<table>.<column>]`` maps the company's values onto the contract's
  (e.g. "Word of mouth" -> "referral"); ``[formats]`` declares date format,
  decimal and thousands separators and currency symbols.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.core.paths import PROJECT_ROOT
from analysis.data.config import ENGINE_KINDS, ConfigError, Settings, load_settings
from analysis.data.contract import TABLES, ContractError, CustomerData, Formats, Problem
from analysis.data.drafting import suggest_mapping
from analysis.data.files import READ_OPTIONS, SourceError, read_file
from analysis.data.ledger import MICROS, Ledger
from analysis.data.validation import (
    FILTER_COLUMN,
    SNAPSHOT_HELP,
    check_tables_present,
    conform,
)

CDNOW_CONFIGS = {
    "master": PROJECT_ROOT / "config" / "cdnow.toml",
    "sample": PROJECT_ROOT / "config" / "cdnow_sample.toml",
}


@dataclasses.dataclass
class Mapped:
    """Configured tables in contract column names (values not yet typed)."""

    tables: dict[str, pd.DataFrame | None]
    origins: dict[str, str]
    filters: dict[str, str]
    ledger: Ledger


def load_data(config: str | Path | Settings, as_of: pd.Timestamp | None = None) -> CustomerData:
    """Read, map, check and validate every table a config names. ``as_of``: the day after
    which dates are in the future (default ``[periods] as_of``, else the run date)."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    mapped = read_tables(settings)
    as_of = pd.Timestamp(as_of if as_of is not None else settings.as_of_date())
    return conform(
        mapped.tables,
        scale=settings.satisfaction_scale if mapped.tables.get("surveys") is not None else None,
        rules=settings.rules,
        formats=settings.formats,
        as_of=as_of,
        sources=mapped.origins,
        filters=mapped.filters,
        business=settings.business,
        ledger=mapped.ledger,
    )


def read_tables(settings: Settings) -> Mapped:
    """Each configured table as a frame with contract column names (values not yet typed)."""
    specs: Mapping[str, Mapping[str, Any]] = settings.raw.get("tables", {})
    if not specs:
        raise ConfigError(f"config {settings.path}: no [tables....]; point "
                          "[tables.transactions] (or [tables.subscriptions]) at your export")
    check_tables_present(set(specs), settings.business)
    kind = settings.raw["source"]["kind"]
    reader = (EngineReader(settings) if kind in ENGINE_KINDS and
              settings.raw["source"].get("path", settings.raw["source"].get("url"))
              else FileReader(settings))
    mapped = Mapped({}, {}, {}, Ledger())
    try:
        for table in TABLES:
            spec = specs.get(table)
            if spec is None:
                mapped.tables[table] = None
                continue
            frame, origin = reader.table(table, dict(spec), _mapping(settings, table),
                                         mapped.ledger)
            mapped.tables[table] = _map_values(frame, settings.raw.get("values", {})
                                               .get(table, {}))
            mapped.origins[table] = origin
            if spec.get("filter"):
                mapped.filters[table] = spec["filter"]
    finally:
        reader.close()
    return mapped


def _mapping(settings: Settings, table: str) -> dict[str, Any]:
    """contract column -> source column or expression (the config schema checked the keys)."""
    return dict(settings.raw.get("mapping", {}).get(table, {}))


def _map_values(frame: pd.DataFrame, values: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    for column, table in values.items():
        if column in frame:
            frame[column] = frame[column].map(
                lambda v, t=table: t.get(v, v) if isinstance(v, str) else v
            )
    return frame


def numbers_where_possible(frame: pd.DataFrame, formats: Formats) -> pd.DataFrame:
    """Text columns that hold only numbers written with the declared separators become
    numbers, so expressions can compute with them (Quantity * UnitPrice); ids with leading
    zeros (00123) and everything else stay text."""
    out = {}
    pattern = formats.number_pattern()
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            out[name] = column
            continue
        text = column.astype("string").str.strip()
        filled = text.dropna()
        filled = filled[filled != ""]
        if (len(filled) and bool(filled.str.match(pattern).all())
                and not bool(filled.str.match(r"^[+-]?0\d").any())):
            out[name] = formats.parse_numbers(text.where(text != ""))
        else:
            out[name] = column
    return pd.DataFrame(out, index=frame.index)


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class FileReader:
    """Tables from files; expressions, filters, lookups and queries in an in-memory
    DuckDB over the configured files (no database file)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        source = settings.raw["source"]
        self.kind = source["kind"] if source["kind"] in ("csv", "parquet", "excel") else "csv"
        self.folder = settings.resolve(source.get("path") or ".")
        self._frames: dict[str, pd.DataFrame] = {}
        self._origins: dict[str, str] = {}
        self._views: set[str] = set()
        self._con = None

    # files by name: [files.<name>] entries and the files of [tables.<table>] entries
    def _spec(self, name: str) -> Mapping[str, Any] | None:
        files = self.settings.raw.get("files", {})
        if name in files:
            return files[name]
        table = self.settings.raw.get("tables", {}).get(name)
        return table if table and table.get("file") else None

    def names(self) -> list[str]:
        tables = self.settings.raw.get("tables", {})
        return [*self.settings.raw.get("files", {}),
                *[t for t, s in tables.items() if s.get("file")]]

    def frame(self, name: str, where: str) -> pd.DataFrame:
        """The rows of a configured file, read once."""
        if name not in self._frames:
            spec = self._spec(name)
            if spec is None:
                near = difflib.get_close_matches(name, self.names(), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise SourceError(f"{where}: no configured file is named {name!r}{hint}; "
                                  f"declare it as [files.{name}] file = '...' (configured: "
                                  f"{', '.join(self.names()) or 'none'})")
            path = self.folder / spec["file"]
            self._frames[name] = read_file(path, {k: spec.get(k) for k in READ_OPTIONS
                                                  if k in spec}, self.kind, where)
            self._origins[name] = path.name
        return self._frames[name]

    @property
    def con(self):
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            as_of = self.settings.as_of_date()
            self._con.execute(f"CREATE MACRO as_of() AS DATE '{as_of.isoformat()}'")
        return self._con

    def _register(self, name: str, where: str) -> None:
        """The file as a DuckDB view of its own name (numbers typed for expressions)."""
        if name not in self._views:
            typed = numbers_where_possible(self.frame(name, where), self.settings.formats)
            self.con.register(name, typed)
            self._views.add(name)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()

    def table(self, table: str, spec: dict, mapping: dict, ledger: Ledger):
        where = f"[tables.{table}]"
        if spec.get("query"):
            return self._query_table(table, spec["query"], mapping, ledger)
        frame = self.frame(table, where)
        origin = self._origins[table]
        ledger.record_source(table, origin, len(frame))
        plain = (not spec.get("join") and not spec.get("filter") and all(
            isinstance(v, str) and v in frame.columns for v in mapping.values()))
        if plain:
            _check_required(table, mapping, list(frame.columns), origin)
            out = _rename(frame, mapping, table)
            _source_total(table, out, self.settings.formats, ledger)
            return out, origin
        self._register(table, where)
        joins = [self._join(table, j) for j in spec.get("join", [])]
        source = f"{_quote(table)}" + "".join(joins)
        columns = self._columns(table, spec)
        _check_required(table, mapping, columns, origin)
        select = _select_list(table, mapping, columns, self.con, source, origin,
                              (table, list(frame.columns)))
        if spec.get("filter"):
            _check_expression(self.con, spec["filter"], source, f"{where} filter", columns,
                              origin)
            select.append(f"COALESCE(({spec['filter']}), FALSE) AS {FILTER_COLUMN}")
        relation = self.con.sql(f"SELECT {', '.join(select)} FROM {source}")
        out = _fetch(relation, f"{where} of {origin}")
        if len(out) != len(frame):   # a lookup repeated rows: should have been caught above
            raise SourceError(f"{where}: the joins turned {len(frame):,} rows of {origin} "
                              f"into {len(out):,}; join on a key that is unique in each "
                              "looked-up file, or aggregate it")
        _source_total(table, out, self.settings.formats, ledger)
        return out, origin + (" (mapped with expressions)" if not plain else "")

    def _columns(self, table: str, spec: dict) -> list[str]:
        columns = list(self.frame(table, "").columns)
        for join in spec.get("join", []):
            if join.get("aggregate"):
                columns += list(join["aggregate"])
            else:
                columns += list(self.frame(join["file"], "").columns)
        return columns

    def _join(self, table: str, join: Mapping[str, Any]) -> str:
        """A LEFT JOIN clause: a lookup (the key must be unique in the other file) or an
        aggregate per key. Rows of the table are never dropped or repeated."""
        name = join["file"]
        where = f"[[tables.{table}.join]] file = {name!r}"
        self._register(name, where)
        alias = join.get("as") or join.get("alias") or name
        on = join["on"]
        keys = [on] if isinstance(on, str) else list(on)
        identifiers = all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ ]*", k) for k in keys)
        other = self.frame(name, where)
        if identifiers:
            missing = [k for k in keys if k not in other.columns]
            if missing:
                raise SourceError(f"{where}: on = {on!r}, but {self._origins[name]} has no "
                                  f"column {_did_you_mean(missing[0], other.columns)}")
        if join.get("aggregate"):
            if not identifiers:
                raise SourceError(f"{where}: with aggregate, on must name the key column(s) "
                                  f"shared by both files, not a condition ({on!r})")
            key_list = ", ".join(_quote(k) for k in keys)
            parts = ", ".join(f"{expr} AS {_quote(out)}" for out, expr in
                              join["aggregate"].items())
            inner = f"SELECT {key_list}, {parts} FROM {_quote(name)} GROUP BY {key_list}"
            _check_sql(self.con, inner, f"{where} aggregate", list(other.columns),
                       self._origins[name])
            return f" LEFT JOIN ({inner}) AS {_quote(alias)} USING ({key_list})"
        if identifiers:
            key_list = ", ".join(_quote(k) for k in keys)
            present = " AND ".join(f"{_quote(k)} IS NOT NULL" for k in keys)
            repeated = self.con.sql(
                f"SELECT count(*) AS n, min(k) AS e FROM (SELECT concat_ws('|', {key_list}) AS k"
                f" FROM {_quote(name)} WHERE {present} GROUP BY ALL HAVING count(*) > 1)"
            ).fetchone()
            if repeated[0]:
                raise SourceError(
                    f"{where}: {repeated[0]:,} key(s) appear more than once in "
                    f"{self._origins[name]} (e.g. {repeated[1]!r}), so the lookup would repeat "
                    f"rows; look up by a key that is unique there, or add aggregate = {{ name "
                    f"= \"sum(column)\" }} to take one value per key")
            return f" LEFT JOIN {_quote(name)} AS {_quote(alias)} USING ({key_list})"
        return f" LEFT JOIN {_quote(name)} AS {_quote(alias)} ON {on}"

    def _query_table(self, table: str, query: str, mapping: dict, ledger: Ledger):
        where = f"[tables.{table}] query"
        names = _query_tables(query, where)
        for name in names:
            self._register(name, where)
            ledger.record_source(table, f"{self._origins[name]} (read by the query)",
                                 len(self.frame(name, where)))
        origin = "query over " + ", ".join(self._origins[n] for n in names)
        try:
            relation = self.con.sql(query)
            columns = list(relation.columns)
        except Exception as error:
            known = [c for n in names for c in self.frame(n, where).columns]
            raise SourceError(_duckdb_message(error, where, query, known, origin)) from None
        _check_required(table, mapping, columns, "the query's result")
        source = f"({query}) AS {_quote('query')}"
        select = _select_list(table, mapping, columns, self.con, source, "the query's result")
        out = _fetch(self.con.sql(f"SELECT {', '.join(select)} FROM {source}"), where)
        _source_total(table, out, self.settings.formats, ledger)
        return out, origin


def _query_tables(query: str, where: str) -> list[str]:
    """The names a query reads (parsed with sqlglot; DuckDB binds while it parses)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, dialect="duckdb")
    except sqlglot.errors.ParseError as error:
        raise SourceError(f"{where}: the query is not valid SQL: {error}") from None
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return list(dict.fromkeys(t.name for t in tree.find_all(exp.Table) if t.name not in ctes))


def _select_list(table, mapping, columns, con, source, origin, main=None) -> list[str]:
    """SELECT items for the contract columns: a mapped column, an expression or a
    constant; contract columns the file already has map to themselves. ``main``: the
    alias and columns of the table's own file (its columns are qualified with the alias,
    so a looked-up file with a column of the same name does not make them ambiguous)."""
    alias, own = main or ("query", columns)

    def column_ref(name: str) -> str:
        return f"{_quote(alias)}.{_quote(name)}" if name in own else _quote(name)

    select = []
    known = {c.name for c in TABLES[table]}
    for column in TABLES[table]:
        name = column.name
        if name in mapping:
            value = mapping[name]
            if not isinstance(value, str):
                expr = _literal(value)
            elif value in columns:
                expr = column_ref(value)
            else:
                expr = value
                try:
                    _check_expression(con, expr, source, f"[mapping.{table}] {name}", columns,
                                      origin)
                except SourceError as error:
                    guess = suggest_mapping(table, name, [str(c) for c in columns])
                    raise SourceError(f"{error}" + (f"; perhaps {guess}" if guess else "")) \
                        from None
        elif name in columns:
            expr = column_ref(name)
        else:
            continue
        select.append(f"{expr} AS {_quote(name)}")
    if not select:
        raise SourceError(f"[tables.{table}]: no contract column is mapped ({', '.join(known)})")
    return select


def _check_expression(con, expr: str, source: str, where: str, columns, origin: str) -> None:
    _check_sql(con, f"SELECT {expr} FROM {source} LIMIT 0", where, columns, origin, expr)


def _check_sql(con, sql: str, where: str, columns, origin: str, expr: str | None = None):
    try:
        con.sql(sql)
    except Exception as error:
        raise SourceError(_duckdb_message(error, where, expr or sql, columns, origin)) from None


def _duckdb_message(error: Exception, where: str, expr: str, columns, origin: str) -> str:
    """A DuckDB error in the config's words: the key, the expression, the file's own
    columns and the closest match to an unknown name."""
    text = str(error).split("\n")[0]
    missing = re.search(r'column "([^"]+)" not found|Column "([^"]+)" does not exist', text,
                        re.IGNORECASE)
    shown = ", ".join(map(str, list(columns)[:30]))
    if missing:
        name = missing.group(1) or missing.group(2)
        return (f"{where} = {expr!r}: {origin} has no column "
                f"{_did_you_mean(name, columns)}; its columns: {shown}")
    table = re.search(r'Table with name (\S+) does not exist', text)
    if table:
        return (f"{where}: the query reads {table.group(1)}, which is not a configured file; "
                "declare it as [files.<name>] file = '...'")
    hint = ""
    if "No function matches" in text and "VARCHAR" in text:
        hint = (" (a column holds text: parse dates with strptime(col, '%d/%m/%Y'), numbers "
                "with CAST(col AS DOUBLE); columns holding only numbers are numbers already)")
    return f"{where} = {expr!r} cannot be evaluated on {origin}: {text}{hint}"


def _did_you_mean(name: str, columns) -> str:
    columns = [str(c) for c in columns]
    close = difflib.get_close_matches(name, columns, n=2, cutoff=0.5)
    lower = {c.lower(): c for c in columns}
    if name.lower() in lower and lower[name.lower()] not in close:
        close.insert(0, lower[name.lower()])
    return f"{name!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")


def _fetch(relation, where: str) -> pd.DataFrame:
    try:
        frame = relation.df()
    except Exception as error:
        raise SourceError(f"{where}: {str(error).splitlines()[0]}") from None
    return frame


def _rename(frame: pd.DataFrame, mapping: Mapping[str, str], table: str) -> pd.DataFrame:
    """The contract's columns of a file whose mapping names only its own columns."""
    known = [c.name for c in TABLES[table]]
    sources = {name: mapping.get(name, name if name in frame.columns else None)
               for name in known}
    sources = {name: source for name, source in sources.items() if source is not None}
    if len(set(sources.values())) == len(sources):   # a rename: no copy of the columns
        inverse = {source: name for name, source in sources.items()}
        return frame[list(inverse)].rename(columns=inverse)
    return pd.DataFrame({name: frame[source] for name, source in sources.items()},
                        index=frame.index)


def _check_required(table: str, mapping: Mapping[str, Any], columns: list, origin: str):
    """A required contract column that is neither mapped nor in the file: the file's own
    columns, the closest matches, and for a snapshot export where to go."""
    missing = [c.name for c in TABLES[table]
               if c.required and c.name not in mapping and c.name not in columns]
    if not missing:
        return
    shown = ", ".join(map(str, columns[:20])) + (" ..." if len(columns) > 20 else "")
    snapshot = table == "transactions" and _looks_like_snapshot(columns)
    if snapshot:
        raise ContractError([Problem(
            table, ", ".join(missing), "required columns are missing: the file has no "
            "purchases", 0, f"{origin} has columns {shown}",
            "this looks like a subscription snapshot (one row per customer with tenure and a "
            "churn flag), not a list of purchases: map it onto [tables.subscriptions] (start "
            "= as_of() - tenure months; end = as_of() when churned) and set business = "
            f"'subscription'; {SNAPSHOT_HELP}", origin)])
    problems = []
    for name in missing:
        guess = suggest_mapping(table, name, [str(c) for c in columns])
        fix = (f"map it in [mapping.{table}]: {guess}" if guess else
               f"map your column in [mapping.{table}]: {name} = \"<your column>\"")
        problems.append(Problem(table, name, "required column is missing or not mapped",
                                0, f"{origin} has columns {shown}", fix, origin))
    raise ContractError(problems)


def _looks_like_snapshot(columns) -> bool:
    names = [str(c).lower() for c in columns]
    tenure = any("tenure" in n or n in {"months", "months_active"} for n in names)
    churn = any(n in {"churn", "churned", "exited", "is_churned", "cancelled"} for n in names)
    return tenure and churn


def _source_total(table: str, frame: pd.DataFrame, formats: Formats, ledger: Ledger) -> None:
    """The revenue total computed by DuckDB in exact decimals from the source's own values
    (numbers, or text written plainly), next to the ledger's count; skipped when the text
    needs the [formats] to be read."""
    if table != "transactions" or "revenue" not in frame:
        return
    values = frame[["revenue"]]
    if not pd.api.types.is_numeric_dtype(values["revenue"]) and (
            formats.decimal != "." or formats.thousands):
        return
    import duckdb

    with duckdb.connect() as con:
        con.register("lines", values)
        total, unread = con.sql(
            "SELECT sum(TRY_CAST(revenue AS DECIMAL(38,6))), "
            "count(revenue) - count(TRY_CAST(revenue AS DECIMAL(38,6))) FROM lines").fetchone()
    if unread == 0 and total is not None:
        ledger.record_source_total(table, int(total * MICROS), len(frame))


# -- engines --------------------------------------------------------------------------------


def redact(text: str, url: str = "") -> str:
    """``text`` without credentials: passwords in URLs, and the configured URL's password
    wherever it appears."""
    text = re.sub(r"(\w[\w+.-]*://[^:/@\s]*:)([^@\s]+)(@)", r"\1***\3", str(text))
    password = re.match(r"\w[\w+.-]*://[^:/@\s]*:([^@\s]+)@", url or "")
    if password and password.group(1):
        text = text.replace(password.group(1), "***")
    for key in ("password", "pwd", "secret", "token"):
        text = re.sub(rf"({key}\s*=\s*)([^\s&;'\"]+)", r"\1***", text, flags=re.IGNORECASE)
    return text


class EngineReader:
    """Tables from a DuckDB file or an engine by URL: selection and renaming run in the
    engine; errors are caught and carry no credentials."""

    def __init__(self, settings: Settings):
        self.settings = settings
        source = settings.raw["source"]
        self.url = os.path.expandvars(source.get("url") or "")
        self.con = self._connect(source)

    def _connect(self, source):
        import ibis

        if source["kind"] == "duckdb":
            path = self.settings.resolve(source["path"])
            if not path.exists():
                raise FileNotFoundError(
                    f"DuckDB file {path} does not exist (config {self.settings.path}); to "
                    "query files without a database, leave out [source] path and use "
                    "query = '...' over [files.<name>] (see data/README.md)")
            try:
                return ibis.duckdb.connect(str(path), read_only=True)
            except Exception as error:
                raise SourceError(f"DuckDB file {path.name} cannot be opened: "
                                  f"{str(error).splitlines()[0]}") from None
        try:
            return ibis.connect(self.url)
        except Exception as error:
            raise SourceError(f"cannot connect to the engine at {redact(self.url)}: "
                              f"{type(error).__name__}: {redact(error, self.url)}") from None

    def close(self) -> None:
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect is not None:
            try:
                disconnect()
            except Exception:  # closing a failed connection must not hide the real error
                pass

    def table(self, table: str, spec: dict, mapping: dict, ledger: Ledger):
        """Select and rename inside the engine; fetch only the contract columns."""
        where = f"[tables.{table}]"
        try:
            if spec.get("query"):
                expr, origin = self.con.sql(spec["query"]), "query"
            elif spec.get("table"):
                expr, origin = self.con.table(spec["table"]), spec["table"]
            else:
                raise SourceError(f"{where} needs table = '...' or query = '...'")
            columns = list(expr.columns)
            _check_required(table, mapping, columns, origin)
            unknown = [v for v in mapping.values() if isinstance(v, str) and v not in columns]
            if unknown:
                raise SourceError(f"[mapping.{table}]: {origin} has no column "
                                  f"{_did_you_mean(unknown[0], columns)}; its columns: "
                                  f"{', '.join(columns)} (expressions run only over files: "
                                  "write them into the query)")
            selection = {dst: src for dst, src in mapping.items() if isinstance(src, str)}
            selection.update({c.name: c.name for c in TABLES[table]
                              if c.name in columns and c.name not in selection})
            expr = expr.select(**{dst: expr[src] for dst, src in selection.items()})
            for dst, value in mapping.items():
                if not isinstance(value, str):
                    expr = expr.mutate(**{dst: value})
            frame = expr.to_pandas()
        except (SourceError, ContractError):
            raise
        except Exception as error:
            raise SourceError(f"{where} from {redact(self.url) or 'the DuckDB file'}: "
                              f"{type(error).__name__}: "
                              f"{redact(str(error).splitlines()[0], self.url)}") from None
        if spec.get("table"):
            ledger.record_source(table, f"{origin} (engine table)", len(frame))
        _source_total(table, frame, self.settings.formats, ledger)
        return frame, origin


def load_cdnow(which: str = "sample") -> CustomerData:
    """CDNOW through the same contract, using the shipped example mappings."""
    if which not in CDNOW_CONFIGS:
        raise ValueError(f"which must be one of {sorted(CDNOW_CONFIGS)}")
    return load_data(CDNOW_CONFIGS[which])


