"""What a notebook opens: one company's validated data, a report period, and cached features.

    ctx = open_period("config/demo.toml", "2026-10")
    ctx.features()            # customer features for the period
    ctx.features(*ctx.window(12))
    ctx.panel()               # features for every month up to the period end (one pass)

Features are computed in the engine (see :mod:`analysis.engine.features`; DuckDB or Spark,
as the config's ``[engine]`` table says: :mod:`analysis.engine.backends`) and cached as
Parquet under ``cache_dir`` keyed by the config and a hash of the loaded data,
so the notebooks of one report pack compute them once. Kernels that need the same
missing file at the same time build it once: the others wait on its lock file and
then read it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock

from analysis.core.paths import PROJECT_ROOT
from analysis.data import demo
from analysis.data.config import Settings, load_settings
from analysis.data.contract import SCALES, TABLES, CustomerData
from analysis.data.ledger import Ledger
from analysis.data.periods import (
    Period,
    last_complete_period,
    parse_period,
    period_containing,
    periods_between,
    trailing_window,
)
from analysis.data.sources import load_data
from analysis.data.stored import StoredData, TableFacts
from analysis.engine.backends import EngineSpec, connect
from analysis.engine.features import FeatureEngine
from analysis.engine.panel import build_panel


def resolve_config(config: str | Path) -> Path:
    """A config path as given, or relative to the project root (notebooks run in notebooks/)."""
    path = Path(config)
    if path.exists() or path.is_absolute():
        return path.resolve()
    candidate = PROJECT_ROOT / path
    if candidate.exists():
        return candidate
    raise FileNotFoundError(
        f"config {config} not found (looked in {Path.cwd()} and {PROJECT_ROOT})")


def ensure_demo_data(settings: Settings) -> Path | None:
    """Generate the demo company's files when a config with a [demo] table points at none."""
    if "demo" not in settings.raw:
        return None
    folder = settings.resolve(settings.raw["source"]["path"])
    if not (folder / "transactions.parquet").exists():
        spec = settings.section("demo")
        demo.write(folder, n_customers=int(spec.get("n_customers", 20_000)),
                   seed=int(spec.get("seed", settings.seed)))
    return folder


@dataclasses.dataclass
class Context:
    """One company, one report period. Build it with :func:`open_period`."""

    settings: Settings
    data: CustomerData
    period: Period
    truth: dict | None = None
    latent: pd.DataFrame | None = None
    cache_dir: Path | None = None
    content_hash: str | None = None  # tables_hash(data), when the loader already knows it

    @property
    def ledger(self) -> Ledger:
        return self.data.ledger

    @cached_property
    def data_start(self) -> pd.Timestamp:
        """First day the data observe (without loading the engine)."""
        return observed_span(self.settings, self.data)[0]

    @cached_property
    def data_end(self) -> pd.Timestamp:
        """Last day the data observe (see :func:`observed_span`)."""
        return observed_span(self.settings, self.data)[1]

    @cached_property
    def engine(self) -> FeatureEngine:
        """The contract tables loaded into the engine the config's ``[engine]`` table
        chooses (embedded DuckDB by default, or Spark: :mod:`analysis.engine.backends`)."""
        backend = connect(EngineSpec.from_settings(self.settings))
        return FeatureEngine(self.data, backend=backend, churn_days=self.settings.churn_days)

    @cached_property
    def data_hash(self) -> str:
        """Settings plus table contents: the key of the feature cache and of results.json."""
        digest = hashlib.sha256(self.settings.fingerprint().encode())
        digest.update(str(self.settings.churn_days).encode())
        digest.update((self.content_hash or tables_hash(self.data)).encode())
        digest.update(feature_code_hash().encode())
        return digest.hexdigest()[:16]

    def window(self, months: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        """[start, end) of the trailing ``months`` months ending at the period end."""
        return trailing_window(self.period, months)

    def features(self, start: pd.Timestamp | None = None,
                 end: pd.Timestamp | None = None) -> pd.DataFrame:
        """Customer features for [start, end); default the report period."""
        start = pd.Timestamp(start) if start is not None else self.period.start
        end = pd.Timestamp(end) if end is not None else self.period.end
        key = f"features_{start:%Y%m%d%H%M%S}_{end:%Y%m%d%H%M%S}"
        return self._cached(key, lambda: self.engine.features(start, end))

    def purchase_days(self) -> pd.DataFrame:
        """Every customer's purchase days with the day's revenue (all the data, also after
        the period; see :meth:`FeatureEngine.purchase_days`), computed by the engine and
        cached, so a model of purchasing never reads the raw lines into pandas."""
        return self._cached("purchase_days", self.engine.purchase_days)

    def monthly_coverage(self) -> pd.DataFrame:
        """Revenue, lines and buying customers per calendar month
        (:meth:`FeatureEngine.monthly_coverage`), computed by the engine."""
        return self.engine.monthly_coverage()

    def daily_lines(self) -> pd.DataFrame:
        """Revenue, lines and cost of goods per day (:meth:`FeatureEngine.daily_lines`),
        computed by the engine and cached: period totals without the raw lines."""
        return self._cached("daily_lines", self.engine.daily_lines)

    def periods(self) -> list[Period]:
        """Every period from the first data up to the report period."""
        return periods_between(self.data_start, self.period.start, self.settings.period_months,
                               self.settings.fiscal_start_month)

    def panel(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Customer x period panel up to the report period, with column ``month`` (period
        label): buyers of each period and customers active at its start or end (see
        :mod:`analysis.engine.panel`). ``columns``: only those of these the panel has (read alone
        from the cache; an optional contract column may be missing)."""
        return self._cached(f"panel_{self.period.label}",
                            lambda: build_panel(self.engine, self.periods()), columns)

    def output_dir(self, output_dir: str | Path | None = None) -> Path:
        """Where results/<section>.json and exports go (default reports/_scratch/<period>)."""
        path = Path(output_dir) if output_dir else PROJECT_ROOT / "reports" / "_scratch" / \
            self.period.label
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _cached(self, key: str, build, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """A frame of the caller's own for ``key`` (``columns``: only those). With a cache
        folder it is read from (or built into) the cache file on every call, so a kernel
        holds one copy, not a memo plus the copy it works on (the 10M-line panel is about
        4 GB); without one it is built once and copied from the memo."""
        if self.cache_dir is not None:
            return read_or_build(self.cache_dir / self.data_hash / f"{key}.parquet", build,
                                 columns)
        memo = self.__dict__.setdefault("_memo", {})
        if key not in memo:
            memo[key] = build()
        return _present(memo[key], columns).copy()


@functools.cache
def feature_code_hash() -> str:
    """Hash of the code that computes features and the panel: a cached frame built by other
    code (a column added or a definition changed) is never read as current."""
    from analysis.engine import features, panel

    digest = hashlib.sha256()
    for module in (features, panel):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


class CacheWarning(UserWarning):
    """A cache file that could not be read or written: rebuilt, or skipped."""


def read_or_build(path: Path, build, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read the cached frame at ``path``, or build and write it; ``columns``: only those
    of these the frame has. Processes asking for the same missing file at once build it
    once: the others wait for its lock, then read it. A damaged cache file is rebuilt (with
    a warning); a cache folder that cannot be written is skipped (with a warning)."""
    cached = _read_if_sound(path, columns)
    if cached is not None:
        return cached
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path.with_name(f"{path.name}.lock"))
        lock.acquire()
    except OSError as error:
        _warn_unwritable(path.parent, error)
        return _present(build(), columns)
    try:
        cached = _read_if_sound(path, columns)   # built by another process while this waited
        if cached is not None:
            return cached
        frame = build()
        try:
            _write_atomically(frame, path)
        except OSError as error:
            _warn_unwritable(path.parent, error)
    finally:
        lock.release()
    return _present(frame, columns)


def _read_if_sound(path: Path, columns: Sequence[str] | None) -> pd.DataFrame | None:
    """The cached frame, or None when there is none or it is damaged (then it is removed,
    with a warning, and rebuilt by the caller)."""
    if not path.exists():
        return None
    try:
        return _read_present(path, columns)
    except Exception as error:  # pyarrow raises several types for a damaged file
        warnings.warn(f"the cache file {path} is damaged ({type(error).__name__}: "
                      f"{str(error)[:120]}); rebuilding it", CacheWarning, stacklevel=3)
        try:
            path.unlink()
        except OSError:
            pass
        return None


def _warn_unwritable(folder: Path, error: OSError) -> None:
    warnings.warn(f"the cache folder {folder} cannot be written ({error.strerror or error}); "
                  "continuing without a cache (set ANALYSIS_CACHE_DIR to a writable folder to "
                  "keep results between notebooks)", CacheWarning, stacklevel=3)


def _present(frame: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    return frame if columns is None else frame[[c for c in columns if c in frame.columns]]


def _read_present(path: Path, columns: Sequence[str] | None) -> pd.DataFrame:
    if columns is not None:
        have = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in have]
    return pd.read_parquet(path, columns=columns)


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def observed_span(settings: Settings, data: CustomerData) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day the data observe: the transactions' span; for a business with
    subscriptions only, from the first start to the configured as-of date (a snapshot is
    observed up to it even when nobody started or left in its last weeks), else to the last
    start or end."""
    first, last = data.time_span()
    if not data.has("transactions") and settings.as_of is not None:
        last = max(last, pd.Timestamp(settings.as_of))
    return first, last


def choose_period(settings: Settings, data: CustomerData, period: str | None) -> Period:
    """The requested period, or the last complete one; an error if the data do not cover it."""
    first, last = observed_span(settings, data)
    months, fiscal = settings.period_months, settings.fiscal_start_month
    chosen = (parse_period(period, months, fiscal) if period
              else last_complete_period(last, months, fiscal))
    if chosen.end <= period_containing(first, months, fiscal).start or chosen.start > last:
        raise ValueError(
            f"period {chosen.label} is outside the data: they run from {first.date()} to "
            f"{last.date()}; choose a period inside that range")
    return chosen


def available_periods(config: str | Path) -> list[Period]:
    """Every complete period in a company's data (for backfilling reports)."""
    settings = load_settings(resolve_config(config))
    ensure_demo_data(settings)
    data = load_data(settings)
    first, last_seen = observed_span(settings, data)
    last = last_complete_period(last_seen, settings.period_months, settings.fiscal_start_month)
    return [p for p in periods_between(first, last.start, settings.period_months,
                                       settings.fiscal_start_month)]


#: the layout of the validated cache; a new layout never reads an old one
CACHE_FORMAT = 3


def source_fingerprint(settings: Settings) -> str | None:
    """Config content, the as-of date (future dates depend on it), and size and
    modification time of every source file; None for database sources (their content can
    change without a trace, so they are not cached)."""
    source = settings.raw.get("source", {})
    in_memory = source.get("kind") == "duckdb" and not source.get("path")
    if source.get("kind") not in ("csv", "parquet", "excel", "files") and not in_memory:
        return None
    folder = settings.resolve(source.get("path") or ".")
    digest = hashlib.sha256(settings.fingerprint().encode())
    digest.update(f"format {CACHE_FORMAT}; as of {settings.as_of_date()}".encode())
    specs = {**settings.raw.get("files", {}), **settings.raw.get("tables", {})}
    for name, spec in sorted(specs.items()):
        if not spec.get("file"):
            continue
        path = folder / spec["file"]
        if not path.exists():
            return None
        stat = path.stat()
        digest.update(f"{name}:{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def tables_hash(data: CustomerData) -> str:
    """Content hash of the validated tables, column by column: the column's name, then for
    text its null mask and the strings' offsets and bytes (from the Arrow buffers; hashing
    each string in Python took 8 s at 10 million lines, this 2 s), for other columns
    pandas' hash of each value."""
    digest = hashlib.sha256()
    for name in TABLES:
        frame = getattr(data, name)
        if frame is None:
            continue
        for column in frame.columns:
            digest.update(f"{name}.{column}".encode())
            values = frame[column]
            if isinstance(values.dtype, pd.StringDtype):
                _update_with_text(digest, values)
            else:
                digest.update(pd.util.hash_pandas_object(values, index=False).to_numpy()
                              .tobytes())
    return digest.hexdigest()


def _update_with_text(digest, values: pd.Series) -> None:
    strings = pa.array(values.array)
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    digest.update(strings.is_valid().to_numpy(zero_copy_only=False).tobytes())
    filled = pc.fill_null(strings.cast(pa.large_string()), "")
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int64)[
        filled.offset:filled.offset + len(filled) + 1]
    digest.update((offsets - offsets[0]).tobytes())
    digest.update(memoryview(filled.buffers()[2])[offsets[0]:offsets[-1]])


def load_cached(settings: Settings, cache_dir: Path | None) -> tuple[CustomerData, str | None]:
    """The validated tables and their content hash, read once and kept as Parquet so every
    notebook of a pack (and every rerun on unchanged files) skips reading, mapping,
    validating and hashing again. The hash is None when the source is not cached.

    Only what the analyses need is kept: personal columns (name, e-mail) are dropped, in
    the cache and in what this returns. A damaged cache is rebuilt and a cache folder that
    cannot be written is skipped, each with a :class:`CacheWarning`."""
    key = source_fingerprint(settings) if cache_dir is not None else None
    if key is None:
        return load_data(settings).without_pii(), None
    folder = cache_dir / f"data_{key}"
    cached = _read_data_cache(folder)
    if cached is not None:
        return cached
    data = load_data(settings).without_pii()
    content_hash = tables_hash(data)
    try:
        _write_data_cache(folder, data, content_hash)
    except OSError as error:
        _warn_unwritable(folder, error)
    return data, content_hash


def _read_data_cache(folder: Path) -> tuple[CustomerData, str] | None:
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"format {meta.get('format')} is not {CACHE_FORMAT}")
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") if name in meta["tables"]
                  else None for name in TABLES if name != "transactions"}
        scale = SCALES.get(meta["scale"]) if meta["scale"] else None
        facts = TableFacts.from_json(meta["transactions"])
        lines = folder / "transactions.parquet"
        if pq.read_metadata(lines).num_rows != facts.rows:   # its footer: read, not the data
            raise ValueError(f"{lines.name} does not hold the {facts.rows:,} rows it should")
        data = StoredData(transactions_file=lines, facts=facts, **tables,
                          satisfaction_scale=scale, ledger=Ledger(meta["ledger"]),
                          source=meta["source"])
        return data, meta["tables_hash"]
    except Exception as error:  # json, pyarrow and key errors: any damage means rebuild
        warnings.warn(f"the validated-data cache in {folder} is damaged "
                      f"({type(error).__name__}: {str(error)[:120]}); rebuilding it",
                      CacheWarning, stacklevel=3)
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _write_data_cache(folder: Path, data: CustomerData, content_hash: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    present = []
    for name in TABLES:
        frame = getattr(data, name)
        if frame is not None:
            _write_atomically(frame, folder / f"{name}.parquet")
            present.append(name)
    meta = {"format": CACHE_FORMAT, "tables": present, "ledger": data.ledger.rows,
            "source": data.source,
            "scale": data.satisfaction_scale.name if data.satisfaction_scale else None,
            "tables_hash": content_hash,
            "transactions": TableFacts.of(data.transactions).to_json()}
    meta_path = folder / "meta.json"
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, meta_path)


def default_cache_dir() -> Path:
    return Path(os.environ.get("ANALYSIS_CACHE_DIR", PROJECT_ROOT / "data" / "cache"))


def open_period(config: str | Path = "config/demo.toml", period: str | None = None,
                cache_dir: str | Path | None = None) -> Context:
    """Load and validate a company's data and fix the report period (None = last complete)."""
    settings = load_settings(resolve_config(config))
    EngineSpec.from_settings(settings)  # a wrong [engine] table fails here, before any work
    folder = ensure_demo_data(settings)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    data, content_hash = load_cached(settings, cache)
    chosen = choose_period(settings, data, period)
    truth, latent = demo.read_truth(folder) if folder is not None else (None, None)
    return Context(settings, data, chosen, truth, latent, cache, content_hash)
