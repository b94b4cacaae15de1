"""The one-pass panel equals per-period features, row for row (the per-period engine is the
reference), on the demo, on a tiny hand-made company and on random companies."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.data.periods import periods_between
from analysis.data.validation import conform
from analysis.engine import context
from analysis.engine.context import open_period
from analysis.engine.features import FeatureEngine
from analysis.engine.panel import build_panel
from test_features import tiny_company


def reference_panel(engine: FeatureEngine, periods, coverage_end=None) -> pd.DataFrame:
    """Features period by period, keeping buyers and customers active at the start or end."""
    parts = []
    for p in periods:
        f = engine.features(p.start, p.end, coverage_end)
        keep = (f["orders"] > 0) | f["active"] | f["active_at_start"]
        parts.append(f[keep].assign(month=p.label))
    return pd.concat(parts, ignore_index=True)


def assert_same_panel(engine: FeatureEngine, periods, coverage_end=None) -> None:
    expected = reference_panel(engine, periods, coverage_end)
    got = build_panel(engine, periods, coverage_end)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


def test_demo_panel_equals_monthly_features(small_demo_config):
    ctx = open_period(small_demo_config, "2026-10")
    assert_same_panel(ctx.engine, ctx.periods())


def test_demo_panel_with_quarters(small_demo_config):
    ctx = open_period(small_demo_config, "2026-10")
    assert_same_panel(ctx.engine, periods_between(ctx.data_start, ctx.period.start, months=3))


@pytest.mark.parametrize("interactions", [True, False])
@pytest.mark.parametrize("churn_days", [30, 180])
def test_tiny_company(interactions, churn_days):
    engine = FeatureEngine(tiny_company(with_interactions=interactions), churn_days=churn_days)
    periods = periods_between(pd.Timestamp("2025-06-01"), pd.Timestamp("2026-03-01"))
    assert_same_panel(engine, periods, coverage_end=pd.Timestamp("2026-04-01"))


def test_absent_customers_did_not_buy(small_demo_config):
    """The row filter drops only customers without an order in the period."""
    ctx = open_period(small_demo_config, "2026-10")
    panel = build_panel(ctx.engine, ctx.periods())
    for p in ctx.periods()[-4:]:
        full = ctx.engine.features(p.start, p.end)
        kept = set(panel.loc[panel["month"] == p.label, "customer_id"])
        dropped = full[~full["customer_id"].isin(kept)]
        assert len(dropped) > 0 and (dropped["orders"] == 0).all()
        assert not dropped["active"].any() and not dropped["active_at_start"].any()


DAYS = st.integers(0, 300)


@st.composite
def companies(draw):
    """A few customers with sales, returns, optional categories, surveys (some before the
    first sale) and contacts (some resolved, some open)."""
    n_customers = draw(st.integers(1, 4))
    ids = [f"c{i}" for i in range(n_customers)]
    base = pd.Timestamp("2025-01-01")
    lines = draw(st.lists(st.tuples(st.sampled_from(ids), DAYS, st.integers(0, 23),
                                    st.integers(-50, 200).filter(lambda v: v != 0),
                                    st.sampled_from(["X", "Y", None])), min_size=1, max_size=25))
    tx = pd.DataFrame([(c, base + pd.Timedelta(days=d, hours=h), float(v), float(v) / 2, cat)
                       for c, d, h, v, cat in lines],
                      columns=["customer_id", "timestamp", "revenue", "cost", "category"])
    surveys = draw(st.lists(st.tuples(st.sampled_from(ids), st.integers(-40, 300),
                                      st.integers(1, 5)), max_size=8, unique_by=lambda s: s[:2]))
    contacts = draw(st.lists(st.tuples(st.sampled_from(ids), DAYS, st.one_of(
        st.none(), st.integers(0, 60)), st.sampled_from(["complaint", "contact", "referral"])),
        max_size=8))
    tables = {
        "transactions": tx,
        "surveys": pd.DataFrame(
            [(c, base + pd.Timedelta(days=d, hours=12), s) for c, d, s in surveys],
            columns=["customer_id", "survey_date", "score"]) if surveys else None,
        "interactions": pd.DataFrame(
            [(c, base + pd.Timedelta(days=d), None if r is None else
              base + pd.Timedelta(days=d + r, hours=3), t, 5.0) for c, d, r, t in contacts],
            columns=["customer_id", "opened_at", "resolved_at", "type", "service_cost"])
        if contacts else None,
    }
    churn_days = draw(st.sampled_from([30, 60, 180]))
    return conform(tables, scale="csat5"), churn_days


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(companies())
def test_random_companies(company):
    data, churn_days = company
    if data.transactions.empty or (~data.transactions["is_return"]).sum() == 0:
        return
    engine = FeatureEngine(data, churn_days=churn_days)
    periods = periods_between(engine.data_start, engine.data_end)
    assert_same_panel(engine, periods)


def _build_slowly(path: str, log: str) -> int:
    """A cache build that takes a second and logs that it ran (for the next test)."""
    import time
    from pathlib import Path

    from analysis.engine.context import read_or_build

    def build() -> pd.DataFrame:
        with open(log, "a") as f:
            f.write("built\n")
        time.sleep(1.0)
        return pd.DataFrame({"x": [1, 2, 3]})

    return len(read_or_build(Path(path), build))


def test_processes_asking_for_the_same_missing_cache_build_it_once(tmp_path):
    """Kernels that need the panel at the same time: one builds, the others wait and read."""
    import multiprocessing

    path, log = tmp_path / "cache" / "panel_2026-10.parquet", tmp_path / "builds.log"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        rows = pool.starmap(_build_slowly, [(str(path), str(log))] * 3)
    assert rows == [3, 3, 3]
    assert log.read_text().splitlines() == ["built"]
    assert pd.read_parquet(path)["x"].tolist() == [1, 2, 3]


def test_a_few_panel_columns_are_read_alone_from_the_cache(small_demo_config, tmp_path):
    columns = ["customer_id", "month", "orders", "churned"]
    first = open_period(small_demo_config, "2026-10", cache_dir=tmp_path)
    full = first.panel()                                                  # built and cached
    pd.testing.assert_frame_equal(first.panel(columns), full[columns])    # from the cache file
    full["orders"] = -1                                                   # the caller's own
    fresh = dataclasses.replace(first, cache_dir=None)                    # no cache: a memo
    pd.testing.assert_frame_equal(fresh.panel(columns), first.panel(columns))
    assert (fresh.panel()["orders"] >= 0).all() and (first.panel()["orders"] >= 0).all()


def test_the_feature_cache_follows_the_feature_code(small_demo_config, tmp_path, monkeypatch):
    """Features cached by other feature code (a column added, a definition changed) are
    never read as current: the cache key holds a hash of the engine's feature code."""
    before = open_period(small_demo_config, "2026-10", cache_dir=tmp_path)
    assert "care_contacts_total" in before.features()
    monkeypatch.setattr(context, "feature_code_hash", lambda: "other feature code")
    after = open_period(small_demo_config, "2026-10", cache_dir=tmp_path)
    assert after.data_hash != before.data_hash


def test_columns_the_panel_lacks_are_left_out(small_demo_config, tmp_path):
    """An optional contract column (say would_recommend) may be missing from a company's
    panel; asking for it reads the others, from the cache file and from the memo alike."""
    columns = ["customer_id", "month", "no_such_column", "orders"]
    cached = open_period(small_demo_config, "2026-10", cache_dir=tmp_path)
    built = cached.panel(columns)                                  # built, then cut
    assert list(built.columns) == ["customer_id", "month", "orders"]
    pd.testing.assert_frame_equal(cached.panel(columns), built)    # read from the file
    fresh = dataclasses.replace(cached, cache_dir=None)
    pd.testing.assert_frame_equal(fresh.panel(columns), built)     # from the memo


def test_periods_must_follow_each_other():
    """The panel numbers periods by arithmetic on months, so they must be whole months
    that follow each other; a gap or a mix of lengths is named."""
    from analysis.data.periods import make_period

    engine = FeatureEngine(tiny_company())
    gap = [make_period(pd.Timestamp("2026-01-01")), make_period(pd.Timestamp("2026-03-01"))]
    mixed = [make_period(pd.Timestamp("2026-01-01")), make_period(pd.Timestamp("2026-02-01"), 3)]
    for periods, words in [(gap, "2026-01 (1 months) is followed by 2026-03"),
                           (mixed, "2026-02 (3 months)")]:
        with pytest.raises(ValueError, match="must follow each other") as error:
            build_panel(engine, periods)
        assert words in str(error.value)


def test_the_stored_lines_stay_on_disk_and_give_the_same_features_and_panel(small_demo_config,
                                                                             tmp_path):
    """A kernel that opens a cached company holds no raw lines: DuckDB reads the validated
    Parquet file, and features and the panel equal those built from the lines in memory."""
    from analysis.data.sources import load_data
    from analysis.data.stored import StoredData

    open_period(small_demo_config, cache_dir=tmp_path)          # writes the cache
    ctx = open_period(small_demo_config, cache_dir=tmp_path)    # reads it
    assert isinstance(ctx.data, StoredData) and ctx.data.transactions_stored
    eager = load_data(ctx.settings).without_pii()
    assert ctx.data.time_span() == eager.time_span()
    assert ctx.data.missing() == eager.missing()
    assert all(ctx.data.has("transactions", c) == eager.has("transactions", c)
               for c in eager.transactions.columns)
    periods = periods_between(ctx.data_start, ctx.period.start, 1)
    start, end = ctx.window(12)
    stored_engine = FeatureEngine(ctx.data)
    stored = (stored_engine.features(start, end), build_panel(stored_engine, periods))
    memory_engine = FeatureEngine(eager)
    in_memory = (memory_engine.features(start, end), build_panel(memory_engine, periods))
    assert ctx.data.transactions_stored
    for got, expected in zip(stored, in_memory, strict=True):
        pd.testing.assert_frame_equal(got, expected)
    pd.testing.assert_frame_equal(ctx.data.transactions, eager.transactions)   # read on use
    assert not ctx.data.transactions_stored


def test_the_engine_computes_the_purchase_days_pandas_computes(small_demo_config, tmp_path):
    from analysis.engine.rfm import purchase_days

    open_period(small_demo_config, cache_dir=tmp_path)
    ctx = open_period(small_demo_config, cache_dir=tmp_path)
    got = ctx.purchase_days()
    assert ctx.data.transactions_stored
    pd.testing.assert_frame_equal(got, purchase_days(ctx.data.transactions),
                                  check_exact=False, rtol=1e-12)


def test_a_stored_company_gives_the_same_quality_overview_and_monthly_coverage(
        small_demo_config, tmp_path):
    """Notebook 01's tables from the stored facts and the engine equal those computed from
    the lines in memory."""
    from analysis.analyses import quality
    from analysis.data.sources import load_data

    open_period(small_demo_config, cache_dir=tmp_path)
    ctx = open_period(small_demo_config, cache_dir=tmp_path)
    eager = load_data(ctx.settings).without_pii()
    pd.testing.assert_frame_equal(quality.table_overview(ctx.data),
                                  quality.table_overview(eager))
    coverage = ctx.monthly_coverage()
    assert ctx.data.transactions_stored
    tx = eager.transactions
    grouped = tx.groupby(tx["timestamp"].dt.to_period("M"), sort=True)
    expected = pd.DataFrame({"revenue": grouped["revenue"].sum(), "lines": grouped.size(),
                             "customers": grouped["customer_id"].nunique()})
    expected.index = expected.index.to_timestamp()
    expected = expected.rename_axis("month").reset_index()
    pd.testing.assert_frame_equal(coverage, expected, check_exact=False, rtol=1e-12,
                                  check_dtype=False)
    assert coverage["lines"].sum() == len(tx)
