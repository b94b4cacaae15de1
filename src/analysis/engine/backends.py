"""Which engine runs the feature and panel queries: embedded DuckDB (the default), Spark, or
an engine the company already runs, reached by URL.

A company config chooses it in its ``[engine]`` table::

    [engine]
    backend = "spark"             # "duckdb" (default) or "spark"
    url = "spark://host:7077"     # optional, see below
    memory = "8g"                 # optional, see below

- ``backend = "duckdb"``: ``url`` is a DuckDB database (a file, or a warehouse DuckDB
  reaches, such as ``md:`` for MotherDuck); without it an in-memory database. ``memory``
  caps what DuckDB holds before it spills to disk (``"8GB"``); without it the
  ``ANALYSIS_DUCKDB_MEMORY`` variable, without that a quarter of physical memory.
- ``backend = "spark"``: ``url`` is a Spark master (``local[4]``, ``spark://host:7077``,
  ``yarn``, ``k8s://...``) or a Spark Connect server (``sc://host:15002``, e.g. a
  Databricks cluster); without it local mode on every core (``local[*]``). ``memory`` is
  the driver's memory in local mode (``"8g"``). Spark needs ``pip install -e ".[spark]"``
  (PySpark) and Java 17 or later.

``${VARIABLE}`` in the URL is read from the environment, so a token need not sit in the
config file; error messages never show a URL's password or token (:func:`redact`).
The same Ibis expressions (:mod:`analysis.engine.features`, :mod:`analysis.engine.panel`)
run on either backend; a test compares their results row for row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

BACKENDS = ("duckdb", "spark")
ENGINE_KEYS = ("backend", "url", "memory")

#: share of physical memory an embedded DuckDB may use before it spills to disk
DUCKDB_MEMORY_SHARE = 0.25

#: query-string and Spark Connect parameters whose values are secrets (name=, value)
SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;])[\w.-]*(?:token|password|passwd|pwd|secret|key|credential)[\w.-]*=)"
    r"([^&;#\s]*)")


class EngineError(RuntimeError):
    """The engine could not be opened or a table could not be loaded into it."""


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """The ``[engine]`` table of a company config."""

    backend: str = "duckdb"
    url: str | None = None
    memory: str | None = None

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None, where: str = "config") -> EngineSpec:
        """From the ``[engine]`` table (None or empty: embedded DuckDB); a clear error for an
        unknown key or backend."""
        table = dict(table or {})
        unknown = sorted(set(table) - set(ENGINE_KEYS))
        if unknown:
            raise ValueError(f"{where}: [engine] has unknown key(s) {', '.join(unknown)}; "
                             f"it takes {', '.join(ENGINE_KEYS)}")
        backend = str(table.get("backend", "duckdb")).lower()
        if backend not in BACKENDS:
            raise ValueError(f"{where}: [engine] backend = {table['backend']!r} is not one of "
                             f"{', '.join(repr(b) for b in BACKENDS)}")
        url = table.get("url")
        memory = table.get("memory")
        return cls(backend, os.path.expandvars(str(url)) if url else None,
                   str(memory) if memory else None)

    @classmethod
    def from_settings(cls, settings) -> EngineSpec:
        """The engine a company's settings choose. The config schema does not know the
        ``[engine]`` table yet, so it is read from the raw config, here and nowhere else."""
        where = f"config {settings.path or settings.name}"
        return cls.from_config(settings.raw.get("engine", {}), where)

    def describe(self) -> str:
        """"spark at local[2]", with any credentials in the URL hidden."""
        return f"{self.backend} at {redact(self.url)}" if self.url else self.backend


def redact(text: str | None, url: str | None = None) -> str:
    """``text`` with the password of any URL in it and the values of token, password,
    secret and key parameters replaced by ``***``; the secrets of ``url`` are hidden
    wherever they appear (an engine may quote a URL rewritten, e.g. as a file path)."""
    if not text:
        return ""
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    text = re.sub(r"(\b[a-z][\w+.-]*://[^/:@\s]*:)[^@/\s]*@", r"\1***@", text)
    return SECRET_PARAMETER.sub(r"\1***", text)


def _secrets(url: str | None) -> list[str]:
    """The password and the secret parameters' values in ``url``."""
    if not url:
        return []
    found = [m.group(2) for m in SECRET_PARAMETER.finditer(url)]
    with contextlib.suppress(ValueError):
        from urllib.parse import urlsplit

        if password := urlsplit(url).password:
            found.append(password)
    return [s for s in found if len(s) >= 3]


def connect(spec: EngineSpec | None = None):
    """An Ibis backend for ``spec`` (default: embedded DuckDB). Errors name the engine and
    the fix, with any credentials in the URL hidden."""
    spec = spec or EngineSpec()
    try:
        if spec.backend == "spark":
            return spark_backend(spec.url, spec.memory)
        return duckdb_backend(spec.memory, spec.url)
    except EngineError:
        raise
    except Exception as error:  # the engine's own message may quote the URL
        first = (str(error).strip().splitlines() or [""])[0][:500]  # not a Java stack
        raise EngineError(f"could not open the engine ({spec.describe()}): "
                          f"{type(error).__name__}: {redact(first, spec.url)}") from None


def duckdb_backend(memory: str | None = None, url: str | None = None):
    """DuckDB (in memory, or the database at ``url``) limited to ``memory``, else to the
    ANALYSIS_DUCKDB_MEMORY variable (e.g. "8GB"), else to a quarter of physical memory,
    spilling to a temporary folder beyond it. DuckDB's own default, 80%, is too much when
    notebooks run side by side: at 10M lines the panel query alone grew to 19 GB."""
    import ibis
    import psutil

    limit = memory or os.environ.get("ANALYSIS_DUCKDB_MEMORY") or \
        f"{int(psutil.virtual_memory().total * DUCKDB_MEMORY_SHARE / 2**20)}MB"
    spill = Path(tempfile.gettempdir()) / "analysis-duckdb-spill"
    return ibis.duckdb.connect(url or ":memory:", memory_limit=limit,
                               temp_directory=str(spill))


def spark_backend(url: str | None = None, memory: str | None = None):
    """PySpark through Ibis: local mode on this machine by default, a cluster by master URL,
    or a Spark Connect server (``sc://``). One SparkSession per process: a second call
    reuses it."""
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError('the Spark engine needs PySpark: pip install -e ".[spark]" '
                          "(and Java 17 or later)") from None
    if url and url.startswith("sc://"):
        builder = SparkSession.builder.remote(url)
    else:
        master = url or "local[*]"
        if master.startswith("local") and not (shutil.which("java")
                                               or os.environ.get("JAVA_HOME")):
            raise EngineError("the Spark engine needs Java 17 or later, and `java` is not on "
                              "the PATH (install a JRE, e.g. apt-get install "
                              "openjdk-17-jre-headless, or set JAVA_HOME)")
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = SparkSession.builder.master(master)
        for key, value in _spark_local_settings(master, memory).items():
            builder = builder.config(key, value)
    session = builder.appName("customer-value-lab").getOrCreate()
    return ibis.pyspark.connect(session)


def stop_spark(con) -> None:
    """Stop the Spark session of ``con`` and the Java process this Python started for it
    (PySpark keeps it running until Python exits), so its memory goes back at once."""
    import subprocess

    from pyspark import SparkContext

    con._session.stop()
    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    if gateway is not None:
        gateway.shutdown()
        SparkContext._gateway = SparkContext._jvm = None
    if proc is not None:
        proc.stdin.close()  # the gateway server exits when its input closes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _spark_local_settings(master: str, memory: str | None) -> dict[str, str]:
    """Settings for a session started from this process: Arrow for pandas in and out, the
    same Python for any Python worker, no web UI, quiet logs, and in local mode few shuffle
    partitions (two per core instead of 200: the data of one company fit one machine) on
    the loopback address."""
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "analysis-spark-warehouse"),
        # the panel comes back whole to pandas (about 1 GB of Arrow at 10M lines)
        "spark.driver.maxResultSize": "0",
    }
    if master.startswith("local"):
        cores = re.fullmatch(r"local\[(\d+)\]", master)
        n = int(cores.group(1)) if cores else (os.cpu_count() or 2)
        settings |= {"spark.sql.shuffle.partitions": str(2 * n),
                     "spark.default.parallelism": str(2 * n),
                     "spark.driver.host": "127.0.0.1",
                     "spark.driver.bindAddress": "127.0.0.1"}
        if memory:
            settings["spark.driver.memory"] = memory
    return settings


def is_spark(con) -> bool:
    return getattr(con, "name", "") == "pyspark"


def load_table(con, name: str, frame: pd.DataFrame):
    """``frame`` as table ``name`` in the engine, as an Ibis table. DuckDB copies it into a
    temporary table. Spark caches it in memory (and on disk beyond) under a temporary view:
    in local mode read from a Parquet file of it, which costs a quarter of the CPU of
    sending it through Arrow (1M lines: 5 s against 20 s); on a cluster sent as Arrow."""
    if not is_spark(con):
        return con.create_table(name, frame, temp=True, overwrite=True)
    import uuid

    import pyarrow as pa

    # one Spark session serves every engine of the process: each table gets a name (and
    # file) of its own, or a second engine would replace the first one's tables (and Spark
    # would serve the cached contents of an older file at the same path)
    name = f"{name}_{uuid.uuid4().hex[:12]}"
    session = con._session
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    if _is_local(session):
        import pyarrow.parquet as pq

        path = _local_tables() / f"{name}.parquet"
        pq.write_table(arrow, path)
        table = session.read.parquet(str(path))
    else:
        import ibis
        from ibis.backends.pyspark.datatypes import PySparkSchema

        schema = PySparkSchema.from_ibis(ibis.memtable(frame.head(0)).schema())
        table = session.createDataFrame(arrow, schema=schema)
    table = table.cache()
    table.createOrReplaceTempView(name)
    table.count()  # fill the cache now, so loading is timed apart from the queries
    return con.table(name)


def load_parquet(con, name: str, path: Path):
    """The Parquet file at ``path`` as table ``name``, with the types :func:`load_table` gives
    a frame (timestamps at microsecond precision). On DuckDB a view that reads the file when
    a query runs: the lines stay on disk, not in the engine's memory nor in pandas."""
    table = con.read_parquet(str(path), table_name=name)
    casts = {column: table[column].cast("timestamp(6)")
             for column, kind in table.schema().items() if kind.is_timestamp()}
    return table.mutate(**casts) if casts else table


def _is_local(session) -> bool:
    """A session whose driver and executors share this machine's disk."""
    try:
        return session.sparkContext.master.startswith("local")
    except Exception:  # a Spark Connect session has no SparkContext here
        return False


_LOCAL_TABLES: list[Path] = []


def _local_tables() -> Path:
    """A temporary folder for the tables a local Spark reads, removed when Python exits."""
    if not _LOCAL_TABLES:
        import atexit

        folder = Path(tempfile.mkdtemp(prefix="analysis-spark-tables-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _LOCAL_TABLES.append(folder)
    return _LOCAL_TABLES[0]


@contextlib.contextmanager
def sorted_output(con) -> Iterator[None]:
    """For a query that sorts its own result: DuckDB need not keep the order of rows in
    between, which saves memory at 10M lines (other engines: nothing to set)."""
    if getattr(con, "name", "") != "duckdb":
        yield
        return
    con.con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.con.execute("RESET preserve_insertion_order")
