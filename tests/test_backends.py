"""The engine backends: the [engine] config table, credentials kept out of errors, and the
same features and panel on DuckDB and on Spark (local mode), row for row."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from analysis.data.config import load_settings
from analysis.data.periods import periods_between
from analysis.engine import backends
from analysis.engine.backends import EngineError, EngineSpec, connect, redact
from analysis.engine.context import open_period
from analysis.engine.features import FeatureEngine
from analysis.engine.panel import build_panel
from test_features import tiny_company

SECRET = "hunter2"


def test_engine_defaults_to_embedded_duckdb():
    spec = EngineSpec.from_config(None)
    assert spec == EngineSpec("duckdb", None, None)
    assert connect(spec).name == "duckdb"


def test_engine_table_is_read_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_TOKEN", SECRET)
    config = tmp_path / "c.toml"
    config.write_text('[source]\nkind = "csv"\npath = "."\n[engine]\nbackend = "spark"\n'
                      'url = "sc://spark.example:443/;token=${SPARK_TOKEN}"\nmemory = "4g"\n')
    spec = EngineSpec.from_settings(load_settings(config))
    assert spec == EngineSpec("spark", f"sc://spark.example:443/;token={SECRET}", "4g")
    assert SECRET not in spec.describe() and "spark.example" in spec.describe()


@pytest.mark.parametrize("table, words", [
    ({"backend": "postgres"}, ["backend = 'postgres'", "'duckdb', 'spark'"]),
    ({"backend": "spark", "master": "local[2]"}, ["unknown key(s) master", "backend, url"]),
])
def test_a_wrong_engine_table_is_named_with_the_fix(table, words):
    with pytest.raises(ValueError) as error:
        EngineSpec.from_config(table, "config acme.toml")
    assert all(w in str(error.value) for w in ["config acme.toml", *words])


@pytest.mark.parametrize("url", [
    f"postgres://analyst:{SECRET}@db.example:5432/sales",
    f"sc://spark.example:443/;token={SECRET};x-databricks-cluster-id=0123",
    f"md:sales?motherduck_token={SECRET}",
    f"https://warehouse.example/sql?user=me&password={SECRET}&db=x",
])
def test_redact_hides_passwords_and_tokens(url):
    hidden = redact(f"could not reach {url} (timeout)")
    assert SECRET not in hidden and "***" in hidden and "example" in hidden or "md:" in hidden


def test_engine_errors_do_not_show_credentials(tmp_path):
    """DuckDB, given a URL it cannot open, quotes it in its error: the message keeps the
    host and hides the password."""
    url = f"postgres://analyst:{SECRET}@db.example:5432/sales"
    with pytest.raises(EngineError) as error:
        connect(EngineSpec("duckdb", url))
    message = str(error.value)
    assert SECRET not in message and "could not open the engine (duckdb at postgres://" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_spark_without_java_says_what_to_install(monkeypatch):
    pytest.importorskip("pyspark")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineError, match="needs Java 17 or later"):
        backends.spark_backend("local[1]")


def test_duckdb_memory_cap_comes_from_the_config(monkeypatch):
    monkeypatch.setenv("ANALYSIS_DUCKDB_MEMORY", "3GB")
    con = connect(EngineSpec("duckdb", memory="1GB"))
    limit = con.con.sql("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "") in ("953.6MiB", "1.0GiB", "1GB")


def test_the_default_engine_needs_neither_pyspark_nor_java(small_demo_config, tmp_path):
    """`make report` on DuckDB: with PySpark unimportable and no Java on the PATH, a period
    opens and its features and panel build. (pandera imports pyspark.pandas by itself
    whenever PySpark is installed; nothing here starts Spark.)"""
    code = ("import sys; sys.modules['pyspark'] = None; "
            "from analysis.engine.context import open_period; "
            f"ctx = open_period({str(small_demo_config)!r}, '2026-10', "
            f"cache_dir={str(tmp_path)!r}); "
            "assert len(ctx.features()) and len(ctx.panel(['customer_id']))")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    env.pop("JAVA_HOME", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


# --- DuckDB and Spark, row for row ------------------------------------------------------

def _java_or_skip() -> None:
    if shutil.which("java") or os.environ.get("JAVA_HOME"):
        return
    if os.environ.get("CI"):
        pytest.fail("the Spark tests need Java 17 or later; .ci/run installs it")
    pytest.skip("no Java on this machine: the Spark tests need Java 17 or later")


@pytest.fixture(scope="module")
def spark():
    """One local Spark session (two cores, four shuffle partitions) for the module."""
    _java_or_skip()
    con = connect(EngineSpec("spark", "local[2]", "2g"))
    yield con
    backends.stop_spark(con)  # the Java process would otherwise live as long as pytest


def assert_same(duck: pd.DataFrame, spark_frame: pd.DataFrame) -> None:
    """Same rows in the same order, same columns and dtypes, values equal to 1e-9."""
    assert len(duck) > 0
    assert list(spark_frame.columns) == list(duck.columns)
    assert spark_frame.dtypes.to_dict() == duck.dtypes.to_dict()
    pd.testing.assert_frame_equal(spark_frame, duck, check_exact=False, rtol=1e-9, atol=1e-9)


def test_tiny_company_on_spark(spark):
    """Hand-made company without an interactions table (the demo company has one)."""
    data = tiny_company(with_interactions=False)
    duck = FeatureEngine(data, churn_days=60)
    spk = FeatureEngine(data, backend=spark, churn_days=60)
    coverage = pd.Timestamp("2026-04-01")
    window = pd.Timestamp("2025-03-01"), pd.Timestamp("2026-03-01")
    assert_same(duck.features(*window, coverage), spk.features(*window, coverage))
    periods = periods_between(pd.Timestamp("2025-06-01"), pd.Timestamp("2026-03-01"))
    assert_same(build_panel(duck, periods, coverage), build_panel(spk, periods, coverage))


def test_engines_in_one_spark_session_keep_their_own_tables(spark):
    """Spark serves every engine of a process from one session: a second company loaded
    later does not replace the first one's tables."""
    data = tiny_company()
    first = FeatureEngine(data, backend=spark)
    second = FeatureEngine(dataclasses.replace(data, transactions=data.transactions.head(3),
                                               interactions=None), backend=spark)
    assert set(second.tables) == {"transactions", "customers", "surveys"}
    assert first.tables["transactions"].count().to_pandas() == len(data.transactions) > 3
    assert second.tables["transactions"].count().to_pandas() == 3
    assert first.tables["interactions"].count().to_pandas() == 3


@pytest.mark.slow
def test_demo_company_on_spark_equals_duckdb(spark, small_demo_config, tmp_path):
    """The small demo company through the config: `[engine] backend = "spark"` gives the
    same 1- and 12-month features and the same customer x month panel as DuckDB."""
    spark_config = tmp_path / "demo_small_spark.toml"
    spark_config.write_text(small_demo_config.read_text()
                            + '\n[engine]\nbackend = "spark"\nurl = "local[2]"\n')
    on_duckdb = open_period(small_demo_config, "2026-10", cache_dir=None)
    on_spark = open_period(spark_config, "2026-10", cache_dir=None)
    assert on_duckdb.engine.con.name == "duckdb" and on_spark.engine.con.name == "pyspark"
    for window in [(), on_duckdb.window(12)]:
        assert_same(on_duckdb.features(*window), on_spark.features(*window))
    duck_panel = on_duckdb.panel()
    assert duck_panel["month"].nunique() >= 24 and len(duck_panel) > 10_000
    assert_same(duck_panel, on_spark.panel())
