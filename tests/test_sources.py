"""Sources and mapping: a company's exports (CSV, Excel, Parquet, DuckDB, SQL) onto the contract."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from analysis.core.paths import PROJECT_ROOT
from analysis.data.config import load_settings
from analysis.data.contract import ContractError
from analysis.data.sources import load_cdnow, load_data

EXPORT = pd.DataFrame({
    "Beleg": ["1", "2", "3"],
    "Kunde": ["K1", "K2", "K1"],
    "Datum": ["03.01.2026", "15.01.2026", "02.02.2026"],
    "Umsatz": ["1.200,50 €", "99,90 €", "-10,00 €"],
})
CUSTOMERS = pd.DataFrame({"Kunde": ["K1", "K2"], "Herkunft": ["Empfehlung", "Werbung"]})

MAPPING = {
    "mapping": {
        "transactions": {"transaction_id": "Beleg", "customer_id": "Kunde", "timestamp": "Datum",
                         "revenue": "Umsatz"},
        "customers": {"customer_id": "Kunde", "channel": "Herkunft"},
    },
    "values": {"customers": {"channel": {"Empfehlung": "referral", "Werbung": "advertising"}}},
    "formats": {"date_format": "%d.%m.%Y", "decimal": ",", "thousands": "."},
}


def config(tmp_path, source: dict, tables: dict) -> dict:
    return {"name": "acme", "source": source, "tables": tables, **MAPPING}


def check_acme(data) -> None:
    tx = data.transactions
    assert tx["revenue"].tolist() == [1200.5, 99.9, -10.0]
    assert tx["timestamp"].tolist() == [pd.Timestamp(d) for d in
                                        ("2026-01-03", "2026-01-15", "2026-02-02")]
    assert tx["is_return"].tolist() == [False, False, True]
    assert data.customers.set_index("customer_id")["channel"].to_dict() == {
        "K1": "referral", "K2": "advertising"}
    assert data.ledger.reconciles


def test_csv_with_mapping_formats_and_value_map(tmp_path):
    EXPORT.to_csv(tmp_path / "sales.csv", sep=";", index=False)
    CUSTOMERS.to_csv(tmp_path / "kunden.csv", sep=";", index=False)
    tables = {"transactions": {"file": "sales.csv", "sep": ";"},
              "customers": {"file": "kunden.csv", "sep": ";"}}
    check_acme(load_data(load_settings(config(tmp_path, {"kind": "csv", "path": str(tmp_path)},
                                              tables))))


def test_excel_source(tmp_path):
    with pd.ExcelWriter(tmp_path / "export.xlsx") as writer:
        EXPORT.to_excel(writer, sheet_name="Sales", index=False)
        CUSTOMERS.to_excel(writer, sheet_name="Kunden", index=False)
    tables = {"transactions": {"file": "export.xlsx", "sheet": "Sales"},
              "customers": {"file": "export.xlsx", "sheet": "Kunden"}}
    check_acme(load_data(load_settings(config(tmp_path, {"kind": "excel", "path": str(tmp_path)},
                                              tables))))


def test_duckdb_file_with_table_and_query(tmp_path):
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("e", EXPORT)
        con.register("c", CUSTOMERS)
        con.execute('CREATE TABLE sales AS SELECT * FROM e')
        con.execute('CREATE TABLE kunden AS SELECT * FROM c')
    tables = {"transactions": {"table": "sales"},
              "customers": {"query": "SELECT Kunde, Herkunft FROM kunden"}}
    check_acme(load_data(load_settings(config(tmp_path, {"kind": "duckdb", "path": str(path)},
                                              tables))))


def test_sql_engine_by_url(tmp_path):
    import sqlite3

    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as con:
        EXPORT.to_sql("sales", con, index=False)
        CUSTOMERS.to_sql("kunden", con, index=False)
    tables = {"transactions": {"table": "sales"}, "customers": {"table": "kunden"}}
    source = {"kind": "sql", "url": f"sqlite:///{path}"}
    check_acme(load_data(load_settings(config(tmp_path, source, tables))))


def test_mapping_errors_name_the_problem(tmp_path):
    EXPORT.to_csv(tmp_path / "sales.csv", index=False)
    bad = config(tmp_path, {"kind": "csv", "path": str(tmp_path)},
                 {"transactions": {"file": "sales.csv"}})
    bad["mapping"] = {"transactions": {"customer": "Kunde"}}
    with pytest.raises(ValueError, match="not one of the contract columns.*customer_id"):
        load_data(load_settings(bad))
    unmapped = config(tmp_path, {"kind": "csv", "path": str(tmp_path)},
                      {"transactions": {"file": "sales.csv"}})
    unmapped["mapping"] = {}
    with pytest.raises(ContractError, match="required column is missing"):
        load_data(load_settings(unmapped))


def test_cdnow_sample_and_master_load_through_the_contract():
    sample = load_cdnow("sample")
    assert len(sample.transactions) == 6919
    assert sample.transactions["customer_id"].nunique() == 2357
    assert sample.ledger.reconciles
    assert sample.transactions["timestamp"].min() == pd.Timestamp("1997-01-01")
    raw = pd.read_csv(PROJECT_ROOT / "data/external/cdnow/CDNOW_sample.txt", sep=r"\s+",
                      header=None)
    assert sample.transactions["revenue"].sum() == pytest.approx(raw[4].sum(), abs=0.005)
    master = load_cdnow("master")
    assert len(master.transactions) == 69_659
    assert master.transactions["customer_id"].nunique() == 23_570


def test_cached_load_equals_a_fresh_load_and_follows_file_changes(small_demo_config, tmp_path):
    import os

    from analysis.data.config import load_settings
    from analysis.engine.context import load_cached, source_fingerprint, tables_hash

    settings = load_settings(small_demo_config)
    full = load_data(settings)
    fresh = full.without_pii()   # the cache keeps only what the analyses need
    assert {"name", "email"} <= set(full.customers.columns)
    _, first_hash = load_cached(settings, tmp_path)
    cached, cached_hash = load_cached(settings, tmp_path)
    assert first_hash == cached_hash == tables_hash(fresh)
    assert not {"name", "email"} & set(cached.customers.columns)
    stored = pd.concat([pd.read_parquet(p) for p in tmp_path.glob("data_*/customers.parquet")])
    assert not {"name", "email"} & set(stored.columns)
    for name in ("transactions", "customers", "surveys", "interactions"):
        pd.testing.assert_frame_equal(getattr(cached, name), getattr(fresh, name))
    assert cached.ledger.rows == fresh.ledger.rows and cached.ledger.reconciles
    key = source_fingerprint(settings)
    tx = settings.resolve(settings.raw["source"]["path"]) / "transactions.parquet"
    os.utime(tx, ns=(tx.stat().st_atime_ns, tx.stat().st_mtime_ns + 10**9))
    assert source_fingerprint(settings) != key


def test_tables_hash_follows_the_content_not_the_layout(small_demo_config):
    """Same values give the same hash whatever the string storage or chunking; a changed
    value, a missing value or a renamed column changes it."""
    import dataclasses

    import pyarrow as pa

    from analysis.data.config import load_settings
    from analysis.engine.context import tables_hash

    data = load_data(load_settings(small_demo_config))
    base = tables_hash(data)
    tx = data.transactions

    def variant(frame):
        return tables_hash(dataclasses.replace(data, transactions=frame))

    python_strings = tx.astype({"customer_id": pd.StringDtype("python")})
    half = len(tx) // 2
    chunked = tx.copy()
    chunked["customer_id"] = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(
        [pa.array(part.tolist(), type=pa.large_string())
         for part in (tx["customer_id"].iloc[:half], tx["customer_id"].iloc[half:])])),
        index=tx.index)
    assert chunked["customer_id"].array._pa_array.num_chunks == 2
    assert variant(python_strings) == variant(chunked) == base
    changed = tx.copy()
    changed.loc[changed.index[5], "customer_id"] = "someone else"
    missing = tx.copy()
    missing.loc[missing.index[5], "customer_id"] = pd.NA
    renamed = tx.rename(columns={"category": "kind"})
    assert len({base, variant(changed), variant(missing), variant(renamed)}) == 4


def test_queries_over_files_need_no_database_file(tmp_path):
    """kind = "duckdb" without a path, or any file kind: a table as a SQL query over the
    configured files, in memory (the issue: a database file had to be created by hand)."""
    EXPORT.to_csv(tmp_path / "sales.csv", index=False)
    CUSTOMERS.to_csv(tmp_path / "kunden.csv", index=False)
    for kind in ("duckdb", "csv"):
        raw = {"name": "acme", "source": {"kind": kind, "path": str(tmp_path)} if kind == "csv"
               else {"kind": kind},
               "files": {"sales": {"file": str(tmp_path / "sales.csv")},
                         "kunden": {"file": str(tmp_path / "kunden.csv")}},
               "tables": {"transactions": {"query": "SELECT s.*, k.Herkunft FROM sales s "
                                                    "JOIN kunden k USING (Kunde)"},
                          "customers": {"file": str(tmp_path / "kunden.csv")}},
               **MAPPING}
        data = load_data(load_settings(raw))
        check_acme(data)
        sources = data.ledger.to_frame().query("step == 'source' and table == 'transactions'")
        assert sources["reason"].tolist() == ["sales.csv (read by the query)",
                                              "kunden.csv (read by the query)"]
        assert not list(tmp_path.glob("*.duckdb"))


def test_excel_works_offline_in_lookups_and_queries(tmp_path, monkeypatch):
    """Excel files are read by python-calamine and registered in DuckDB: no extension is
    downloaded, whether a table reads the file, looks values up in it or queries it."""
    import duckdb

    def no_extensions(*args, **kwargs):
        raise AssertionError("an extension was requested")

    monkeypatch.setattr(duckdb.DuckDBPyConnection, "install_extension", no_extensions)
    with pd.ExcelWriter(tmp_path / "export.xlsx") as writer:
        EXPORT.to_excel(writer, sheet_name="Sales", index=False)
    CUSTOMERS.to_excel(tmp_path / "kunden.xlsx", index=False)
    raw = {"name": "acme", "source": {"kind": "files", "path": str(tmp_path)},
           "files": {"kunden": {"file": "kunden.xlsx"}},
           "tables": {"transactions": {"file": "export.xlsx", "sheet": "Sales",
                                       "join": [{"file": "kunden", "on": "Kunde"}]},
                      "customers": {"query": "SELECT Kunde, Herkunft FROM kunden"}},
           **MAPPING}
    check_acme(load_data(load_settings(raw)))
