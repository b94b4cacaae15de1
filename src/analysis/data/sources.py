"""Read a company's tables from files or databases and map them onto the contract.

Kinds of source (``[source] kind`` in the config):

- ``csv``, ``parquet``, ``excel``: files in ``[source] path`` (a folder), one per table;
- ``duckdb``: a DuckDB database file; each table is a table name or a SQL query;
- ``sql``: any engine Ibis can reach by URL (``postgres://...``, ``sqlite:///...``,
  warehouses). Column selection, renaming and any ``query`` run inside that
  engine; only the result is fetched. Environment variables in the URL
  (``${PGPASSWORD}``) are expanded so secrets stay out of the config.

``[mapping.<table>]`` maps contract column -> the company's column;
``[values.<table>.<column>]`` maps the company's values onto the contract's
(e.g. "Word of mouth" -> "referral"); ``[formats]`` declares date format,
decimal and thousands separators and currency symbols.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.core.paths import PROJECT_ROOT
from analysis.data.config import Settings, load_settings
from analysis.data.contract import TABLES, CustomerData
from analysis.data.validation import conform

CDNOW_CONFIGS = {
    "master": PROJECT_ROOT / "config" / "cdnow.toml",
    "sample": PROJECT_ROOT / "config" / "cdnow_sample.toml",
}
FILE_KINDS = {"csv", "parquet", "excel"}
ENGINE_KINDS = {"duckdb", "sql"}


def load_data(config: str | Path | Settings, as_of: pd.Timestamp | None = None) -> CustomerData:
    """Read, map, check and validate every table a config names."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    tables, origins = read_tables(settings)
    return conform(
        tables,
        scale=settings.satisfaction_scale if tables.get("surveys") is not None else None,
        rules=settings.rules,
        formats=settings.formats,
        as_of=as_of,
        sources=origins,
    )


def read_tables(settings: Settings) -> tuple[dict[str, pd.DataFrame | None], dict[str, str]]:
    """Each configured table as a frame with contract column names (values not yet typed)."""
    source = settings.raw["source"]
    kind = source.get("kind")
    if kind not in FILE_KINDS | ENGINE_KINDS:
        raise ValueError(
            f"config {settings.path}: [source] kind = {kind!r}; use one of "
            f"{sorted(FILE_KINDS | ENGINE_KINDS)}"
        )
    specs: Mapping[str, Mapping[str, Any]] = settings.raw.get("tables", {})
    unknown = set(specs) - set(TABLES)
    if unknown:
        raise ValueError(
            f"config {settings.path}: unknown tables {sorted(unknown)}; "
            f"the contract has {sorted(TABLES)}"
        )
    if "transactions" not in specs:
        raise ValueError(f"config {settings.path}: [tables.transactions] is required")
    tables: dict[str, pd.DataFrame | None] = {}
    origins: dict[str, str] = {}
    connection = _connect(settings, kind) if kind in ENGINE_KINDS else None
    for table in TABLES:
        spec = specs.get(table)
        if spec is None:
            tables[table] = None
            continue
        mapping = _mapping(settings, table)
        if connection is not None:
            frame, origin = _read_engine(connection, spec, mapping, table)
        else:
            frame, origin = _read_file(settings, kind, spec, table)
            frame = _rename(frame, mapping)
        tables[table] = _map_values(frame, settings.raw.get("values", {}).get(table, {}))
        origins[table] = origin
    return tables, origins


def _mapping(settings: Settings, table: str) -> dict[str, str]:
    """contract column -> source column (identity for contract columns not mapped)."""
    mapping = dict(settings.raw.get("mapping", {}).get(table, {}))
    known = {c.name for c in TABLES[table]}
    unknown = set(mapping) - known
    if unknown:
        raise ValueError(
            f"config {settings.path}: [mapping.{table}] names {sorted(unknown)}, which are not "
            f"contract columns; the contract's columns are {sorted(known)}"
        )
    return mapping


def _rename(frame: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    inverse = {src: dst for dst, src in mapping.items()}
    missing = [src for src in inverse if src not in frame.columns]
    if missing:
        raise ValueError(
            f"the mapping names source columns {missing} that the file does not have; "
            f"it has {list(frame.columns)}"
        )
    known = {c.name for t in TABLES.values() for c in t}
    frame = frame.rename(columns=inverse)
    return frame[[c for c in frame.columns if c in known]]


def _map_values(frame: pd.DataFrame, values: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    for column, table in values.items():
        if column in frame:
            frame[column] = frame[column].map(
                lambda v, t=table: t.get(v, v) if isinstance(v, str) else v
            )
    return frame


def _read_file(settings: Settings, kind: str, spec: Mapping[str, Any], table: str):
    folder = settings.resolve(settings.raw["source"].get("path", "."))
    if "file" not in spec:
        raise ValueError(f"config {settings.path}: [tables.{table}] needs file = '...'")
    path = folder / spec["file"]
    if not path.exists():
        raise FileNotFoundError(f"{table}: file {path} does not exist (config {settings.path})")
    if kind == "csv":
        header = spec.get("header", True)
        frame = pd.read_csv(
            path,
            sep=spec.get("sep", ","),
            header=0 if header else None,
            names=spec.get("names"),
            dtype=str,
            keep_default_na=True,
            encoding=spec.get("encoding", "utf-8"),
        )
    elif kind == "parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_excel(path, sheet_name=spec.get("sheet", 0), dtype=str)
    return frame, str(path.name)


def _connect(settings: Settings, kind: str):
    import ibis

    source = settings.raw["source"]
    if kind == "duckdb":
        path = settings.resolve(source["path"])
        if not path.exists():
            raise FileNotFoundError(f"DuckDB file {path} does not exist (config {settings.path})")
        return ibis.duckdb.connect(str(path), read_only=True)
    url = os.path.expandvars(source.get("url", ""))
    if not url:
        raise ValueError(f"config {settings.path}: [source] kind = 'sql' needs url = '...'")
    return ibis.connect(url)


def _read_engine(connection, spec: Mapping[str, Any], mapping: Mapping[str, str], table: str):
    """Select and rename inside the engine; fetch only the contract columns."""
    if "query" in spec:
        expr, origin = connection.sql(spec["query"]), "query"
    elif "table" in spec:
        expr, origin = connection.table(spec["table"]), spec["table"]
    else:
        raise ValueError(f"[tables.{table}] needs table = '...' or query = '...'")
    known = {c.name for c in TABLES[table]}
    columns = set(expr.columns)
    selection = {dst: src for dst, src in mapping.items() if src in columns}
    missing = sorted(set(mapping.values()) - columns)
    if missing:
        raise ValueError(
            f"{table}: mapped source columns {missing} not in {origin}; it has {sorted(columns)}"
        )
    selection.update({c: c for c in known if c in columns and c not in selection})
    expr = expr.select(**{dst: expr[src] for dst, src in selection.items()})
    return expr.to_pandas(), origin


def load_cdnow(which: str = "sample") -> CustomerData:
    """CDNOW through the same contract, using the shipped example mappings."""
    if which not in CDNOW_CONFIGS:
        raise ValueError(f"which must be one of {sorted(CDNOW_CONFIGS)}")
    return load_data(CDNOW_CONFIGS[which])
