"""Segments: tiers and pyramids on hand-made data, settings validation, stages, transitions,
manager's questions against direct computation on the demo company."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from analysis import segments
from analysis.config import SECTION_DEFAULTS_DIR

DEFAULTS = tomllib.loads((SECTION_DEFAULTS_DIR / "segments.default.toml").read_text())["segments"]
KNOWN = ["revenue", "profit", "orders", "gross_margin", "tenure_days", "categories_total",
         "referrals_made", "satisfaction_mean", "complaints_total", "service_cost"]


def test_default_settings_parse():
    settings = segments.parse_settings(DEFAULTS, KNOWN)
    assert settings.tiers.labels == ("small", "general", "core", "key")
    assert set(settings.pyramids) == {"profit_value", "potential_value"}


@pytest.mark.parametrize(("change", "message"), [
    ({"pyramids": {"p": {"weights": {"revenue": 0.5, "profit": 0.4}}}}, "sum to 0.9"),
    ({"pyramids": {"p": {"weights": {"revenue": 0.5, "turnover": 0.5}}}}, "unknown indicators"),
    ({"pyramids": {"p": {"weights": {"revenue": 1.0}, "cuts": [0.8, 0.5]}}}, "increasing"),
    ({"tiers": {"indicators": ["revenue"], "cuts": [0.5], "labels": ["a", "b", "c"]}},
     "one label more"),
])
def test_bad_settings_get_a_clear_error(change, message):
    raw = {**DEFAULTS, **change}
    with pytest.raises(segments.SegmentConfigError, match=message):
        segments.parse_settings(raw, KNOWN)


def test_tiers_and_pyramid_on_hand_made_data():
    frame = pd.DataFrame({"revenue": np.arange(1, 21, dtype=float),
                          "profit": np.arange(1, 21, dtype=float) / 10})
    tiering = segments.Tiering((0.5, 0.8, 0.95), ("small", "general", "core", "key"))
    tiers = segments.assign_tiers(frame["revenue"], tiering)
    assert tiers.value_counts().to_dict() == {"small": 10, "general": 6, "core": 3, "key": 1}
    assert tiers.iloc[-1] == "key" and tiers.iloc[0] == "small"
    table = segments.pyramid(frame, tiers, "test").table
    assert list(table["tier"]) == ["key", "core", "general", "small"]
    assert table["customers"].sum() == 20
    assert table.loc[0, "revenue"] == 20 and table["revenue_share"].sum() == pytest.approx(1)


def test_percentile_scores_reverse_lower_is_better():
    frame = pd.DataFrame({"complaints_total": [0, 1, 2, 3], "revenue": [1, 2, 3, 4]})
    scores = segments.percentile_scores(frame, ["complaints_total", "revenue"],
                                        ["complaints_total"])
    assert list(scores["revenue"]) == [25, 50, 75, 100]
    assert list(scores["complaints_total"]) == [100, 75, 50, 25]


def _stage_frame(**columns):
    base = {"active": True, "orders_total": 1, "tenure_days": 30.0, "referrals_made": 0,
            "would_recommend": np.nan, "top_box": pd.NA, "market_type": "consumer"}
    base.update(columns)
    return pd.DataFrame({k: [v] for k, v in base.items()})


@pytest.mark.parametrize(("columns", "top", "stage"), [
    ({}, False, "first purchase"),
    ({"orders_total": 3}, False, "repeat"),
    ({"orders_total": 3, "tenure_days": 400.0}, False, "long-term"),
    ({"orders_total": 3, "referrals_made": 1}, False, "supporter"),
    ({"orders_total": 3, "tenure_days": 800.0}, True, "strategic"),
    ({"orders_total": 3, "tenure_days": 400.0, "market_type": "intermediary"}, True, "partner"),
    ({"orders_total": 3, "active": False}, True, "lapsed"),
])
def test_stage_rules(columns, top, stage):
    frame = _stage_frame(**columns)
    tier = pd.Series(["key" if top else "small"], index=frame.index)
    assert segments.lifecycle_stage(frame, tier).iloc[0] == stage


def test_transitions_conserve_customers():
    before = pd.Series({"a": "first purchase", "b": "repeat", "c": "lapsed"})
    after = pd.Series({"a": "repeat", "b": "repeat", "c": "lapsed", "d": "first purchase"})
    table = segments.transitions(before, after.reindex(before.index.union(after.index)))
    assert table.to_numpy().sum() == 4
    assert table.loc["(new)", "first purchase"] == 1
    assert table.sum(axis=1).drop("(new)").to_dict() == before.value_counts().to_dict()
    assert table.sum(axis=0).to_dict() == after.value_counts().to_dict()


@pytest.fixture(scope="module")
def demo_report(small_demo_config):
    from analysis.context import open_period

    ctx = open_period(small_demo_config)
    return ctx, segments.segment_report(ctx)


def test_manager_questions_match_direct_computation(demo_report):
    ctx, report = demo_report
    tx = ctx.data.transactions
    sales = tx[~tx["is_return"] & (tx["timestamp"] < ctx.period.end)]
    in_period = sales[sales["timestamp"] >= ctx.period.start]
    answers = dict(zip(report.questions["question"], report.questions["customers"], strict=True))
    assert answers["How many customers bought this period?"] == in_period["customer_id"].nunique()
    days = sales.assign(day=sales["timestamp"].dt.normalize()).groupby("customer_id")["day"]
    assert answers["How many have bought two times or more?"] == int((days.nunique() >= 2).sum())
    last = days.max()
    once_gone = (days.nunique() == 1) & (last <= ctx.period.end - pd.Timedelta(days=180))
    assert answers["How many bought once and never again?"] == int(once_gone.sum())
    contacted = set(ctx.data.interactions.loc[
        ctx.data.interactions["opened_at"] < ctx.period.end, "customer_id"])
    never = sum(1 for c in days.size().index if c not in contacted)
    assert answers["How many have never been contacted?"] == never


def test_segment_report_tables_are_consistent(demo_report):
    _, report = demo_report
    n = len(report.customers)
    assert report.strategies["customers"].sum() == n + report.prospects
    assert report.stages["customers"].sum() == n + report.prospects
    assert report.transitions.to_numpy().sum() == n
    assert report.customers["customer_id"].is_unique
