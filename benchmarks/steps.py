"""One benchmark step, run in a fresh process so peak memory is that step's own.

    python benchmarks/steps.py <step> <data-folder> [period]

Prints one JSON line: {"step", "seconds", "peak_mib", ...}. Used by run.py.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import pandas as pd

WORK = Path(__file__).resolve().parent / "work"


def config_for(folder: Path) -> Path:
    config = folder.parent / f"{folder.name}.toml"
    config.write_text(
        f'name = "bench-{folder.name}"\nsatisfaction_scale = "csat5"\n[source]\nkind = "parquet"\n'
        f'path = "{folder.as_posix()}"\n'
        + "".join(
            f'[tables.{t}]\nfile = "{t}.parquet"\n'
            for t in ("transactions", "customers", "surveys", "interactions")
        )
        + '[rules]\ncancelled_values = ["cancelled"]\n'
        # the generated company's service cases may be resolved after today's date; the
        # export is as of a date after all of them (as the simulation study's companies)
        + "[periods]\nas_of = 2031-01-01\n"
    )
    return config


def features_duckdb(folder: Path, period: str) -> dict:
    from analysis.engine.context import open_period

    ctx = open_period(config_for(folder), period)
    engine = ctx.engine  # tables loaded into DuckDB; the feature cache is bypassed
    t = time.perf_counter()
    frame = engine.features(*ctx.window(12))
    return {"compute_seconds": time.perf_counter() - t, "customers": len(frame)}


def features_pandas(folder: Path, period: str) -> dict:
    """The core of the same features (history + 12-month window) with pandas groupby."""
    from analysis.engine.context import open_period

    ctx = open_period(config_for(folder), period)
    start, end = ctx.window(12)
    t = time.perf_counter()
    tx = ctx.data.transactions
    hist = tx[(tx["timestamp"] < end) & ~tx["is_return"]]
    day = hist["timestamp"].dt.normalize()
    history = (
        hist.assign(day=day)
        .groupby("customer_id")
        .agg(
            first_purchase=("timestamp", "min"),
            last_purchase=("timestamp", "max"),
            orders_total=("day", "nunique"),
            categories_total=("category", "nunique"),
        )
    )
    win = tx[(tx["timestamp"] >= start) & (tx["timestamp"] < end)]
    sales = win[~win["is_return"]]
    sales = sales.assign(day=sales["timestamp"].dt.normalize())
    by_customer = sales.groupby("customer_id")
    window = pd.DataFrame(
        {
            "revenue": win.groupby("customer_id")["revenue"].sum(),
            "cogs": win.groupby("customer_id")["cost"].sum(),
            "orders": by_customer["day"].nunique(),
            "categories": by_customer["category"].nunique(),
        }
    )
    frame = history.join(window, how="left")
    return {"compute_seconds": time.perf_counter() - t, "customers": len(frame)}


def _engine_step(backend: str):
    """12-month features and the customer x month panel on one engine, timed apart from
    loading the tables into it; memory of this process and its children (Spark's JVM).
    The DuckDB step keeps its frames; the Spark step compares its own with them."""

    def step(folder: Path, period: str) -> dict:
        import os
        import threading

        from analysis.engine.backends import EngineSpec, connect
        from analysis.engine.context import open_period
        from analysis.engine.features import FeatureEngine
        from analysis.engine.panel import build_panel

        os.environ["ANALYSIS_CACHE_DIR"] = str(WORK / f"cache_{folder.name}")
        ctx = open_period(config_for(folder), period)
        stop, peak = threading.Event(), [0, 0]
        tracker = threading.Thread(target=_track_tree_memory, args=(stop, peak), daemon=True)
        tracker.start()
        spec = EngineSpec("spark", SPARK_MASTER, SPARK_MEMORY) if backend == "spark" \
            else EngineSpec()
        times = {}
        try:
            t = time.perf_counter()
            engine = FeatureEngine(ctx.data, backend=connect(spec),
                                   churn_days=ctx.settings.churn_days)
            times["load"] = time.perf_counter() - t
            t = time.perf_counter()
            features = engine.features(*ctx.window(12))
            times["features"] = time.perf_counter() - t
            t = time.perf_counter()
            panel = build_panel(engine, ctx.periods())
            times["panel"] = time.perf_counter() - t
        finally:
            stop.set()
            tracker.join()
        out = WORK / f"engine_{folder.name}"
        out.mkdir(exist_ok=True)
        features.to_parquet(out / f"{backend}_features.parquet")
        panel.to_parquet(out / f"{backend}_panel.parquet")
        row = {"compute_seconds": times["features"] + times["panel"], "customers": len(features),
               "panel_rows": len(panel), **{f"{k}_seconds": round(v, 2) for k, v in times.items()},
               "tree_peak_mib": round(peak[0] / 2**20, 1),
               "tree_peak_pss_mib": round(peak[1] / 2**20, 1)}
        note = (f"{spec.describe()}: loading the tables {times['load']:.1f} s, 12-month "
                f"features {times['features']:.1f} s ({len(features):,} customers), panel "
                f"{times['panel']:.1f} s ({len(panel):,} rows)")
        if backend == "spark":
            row["equal"] = {name: _equal_to_duckdb(out, name, frame)
                            for name, frame in (("features", features), ("panel", panel))}
            note += "; equal to DuckDB's: " + ", ".join(f"{k} {v}"
                                                        for k, v in row["equal"].items())
        row["note"] = note + ("; memory: this process and the JVM" if backend == "spark"
                              else "; memory: this process")
        return row

    return step


#: the Spark benchmark: local mode on two cores (this machine's), driver memory
SPARK_MASTER, SPARK_MEMORY = "local[2]", "8g"


def _equal_to_duckdb(out: Path, name: str, frame: pd.DataFrame) -> str:
    """"yes" if the DuckDB step's frame has the same rows, dtypes and values (to 1e-9),
    else what differs."""
    path = out / f"duckdb_{name}.parquet"
    if not path.exists():
        return "not compared (run the features_panel_duckdb step first)"
    try:
        pd.testing.assert_frame_equal(frame, pd.read_parquet(path), check_exact=False,
                                      rtol=1e-9, atol=1e-9)
    except AssertionError as error:
        return "no: " + " ".join(str(error).split())[:300]
    return "yes"


def load(folder: Path, period: str) -> dict:
    from analysis.data.sources import load_data

    data = load_data(config_for(folder))
    return {"rows": len(data.transactions)}


def _track_tree_memory(stop, peak: list[int]) -> None:
    """Poll the memory of this process and all its children (the notebook kernels and
    workers) every 0.2 s: peak[0] is the largest sum of resident sizes (an upper bound:
    pages shared between processes count once per process), peak[1] the largest sum of
    proportional sizes (PSS: a shared page is split between the processes sharing it)."""
    import psutil

    me = psutil.Process()
    while not stop.is_set():
        rss = pss = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
        stop.wait(0.2)


def pack(folder: Path, period: str) -> dict:
    """The whole monthly pack (every notebook, HTML and PDF) with a cold feature cache."""
    import os
    import shutil
    import threading

    from analysis.report.pack import build_pack

    reports = WORK / f"reports_{folder.name}"
    cache = WORK / f"cache_{folder.name}"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["ANALYSIS_CACHE_DIR"] = str(cache)
    stop, peak = threading.Event(), [0, 0]
    tracker = threading.Thread(target=_track_tree_memory, args=(stop, peak), daemon=True)
    tracker.start()
    try:
        result = build_pack(period, config_for(folder), reports, progress=lambda _: None,
                            strict=True)   # a pack with a failed section is not a timing
    finally:
        stop.set()
        tracker.join()
    info = json.loads((result.folder / "run_info.json").read_text())
    return {
        "stages": info.get("stages", {}),
        "notebooks": {n["name"]: n["seconds"] for n in info["notebooks"]},
        "tree_peak_mib": round(peak[0] / 2**20, 1),
        "tree_peak_pss_mib": round(peak[1] / 2**20, 1),
    }


def _context(folder: Path, period: str):
    """A context with a warm feature cache (the pack step's cache), as notebooks see it."""
    import os

    from analysis.engine.context import open_period

    os.environ["ANALYSIS_CACHE_DIR"] = str(WORK / f"cache_{folder.name}")
    ctx = open_period(config_for(folder), period)
    ctx.panel()
    return ctx


def _timed(build) -> dict:
    t = time.perf_counter()
    build()
    return {"compute_seconds": time.perf_counter() - t}


def analysis_concentration(folder: Path, period: str) -> dict:
    import pandas as pd

    from analysis.analyses import concentration

    ctx = _context(folder, period)
    start, end = ctx.window(12)
    windows = {m: ctx.features(*ctx.window(m)) for m in (1, 3, 6, 12)}
    previous = ctx.features(start - pd.DateOffset(months=12), start)
    return _timed(lambda: concentration.concentration_report(
        ctx.features(start, end), previous, windows, 12, 1000, 100, 0))


REPORTS = {  # step name -> (module, function); each takes the context
    "analysis_satisfaction": ("analysis.analyses.satisfaction", "satisfaction_report"),
    "analysis_churn": ("analysis.analyses.churn", "churn_report"),
    "analysis_clv": ("analysis.analyses.clv", "value_report"),
    "analysis_segments": ("analysis.analyses.segments", "segment_report"),
}


def analysis_step(name: str):
    def step(folder: Path, period: str) -> dict:
        import importlib

        module, function = REPORTS[name]
        report = getattr(importlib.import_module(module), function)
        ctx = _context(folder, period)
        return _timed(lambda: report(ctx))

    return step


def bootstrap(folder: Path, period: str) -> dict:
    """2,000 bootstrap replicates of the top-20% share, customers for 80% and Gini:
    chunked count draws vs a plain loop (resample, sort, same statistics)."""
    import numpy as np

    from analysis.analyses.concentration.shares import _run_statistics, concentration

    ctx = _context(folder, period)
    values = ctx.features(*ctx.window(12)).query("orders > 0")["revenue"].to_numpy(float)
    t = time.perf_counter()
    concentration(values, "revenue", (0.2,), replicates=2000, seed=0)
    vectorised = time.perf_counter() - t
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(200):
        sample = np.sort(rng.choice(values, len(values)))[::-1]
        _run_statistics(np.ones((1, len(sample))), sample, (0.2,), with_gini=True)
    loop = (time.perf_counter() - t) * 10
    return {"compute_seconds": vectorised, "customers": len(values),
            "note": f"plain resample loop, same statistics, 200 replicates timed and scaled to "
                    f"2,000: {loop:.2f} s"}


STEPS = {"load": load, "features_duckdb": features_duckdb, "features_pandas": features_pandas,
         "features_panel_duckdb": _engine_step("duckdb"),
         "features_panel_spark": _engine_step("spark"),
         "pack": pack, "analysis_concentration": analysis_concentration,
         "bootstrap": bootstrap, **{name: analysis_step(name) for name in REPORTS}}


def main() -> None:
    step, folder = sys.argv[1], Path(sys.argv[2])
    period = sys.argv[3] if len(sys.argv) > 3 else "2026-10"
    started = time.perf_counter()
    extra = STEPS[step](folder, period)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "step": step,
                "seconds": round(seconds, 3),
                "peak_mib": round(peak, 1),
                **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in extra.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
