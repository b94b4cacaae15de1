"""Engine features against values computed by hand on a tiny company."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data.validation import conform
from analysis.engine.features import FeatureEngine

START, END = pd.Timestamp("2026-02-01"), pd.Timestamp("2026-03-01")


def tiny_company(with_interactions: bool = True):
    tx = pd.DataFrame([
        ("a", "2026-01-05 10:00", 100, 60, "X", False),
        ("a", "2026-01-05 15:00", 50, 20, "Y", True),   # same day: one order
        ("a", "2026-02-10 00:00", 80, 40, "X", False),
        ("a", "2026-02-20 00:00", -20, -10, "X", False),  # a return
        ("a", "2026-03-10 00:00", 30, 10, "X", False),  # next window
        ("b", "2025-06-01 00:00", 30, 10, "Y", False),
        ("b", "2026-02-03 00:00", 40, 30, "Y", True),
        ("c", "2026-03-05 00:00", 25, 5, "X", False),   # first purchase after the window
    ], columns=["customer_id", "timestamp", "revenue", "cost", "category", "promotion"])
    customers = pd.DataFrame({"customer_id": ["a", "b"],
                              "signup_date": ["2025-12-01", "2025-05-20"],
                              "channel": ["referral", "advertising"]})
    surveys = pd.DataFrame({"customer_id": ["b", "b"], "survey_date": ["2026-01-10", "2026-02-15"],
                            "score": [4, 5]})
    interactions = pd.DataFrame({
        "customer_id": ["a", "a", "b"],
        "opened_at": ["2026-02-02 00:00", "2026-01-01 00:00", "2026-02-25 00:00"],
        "resolved_at": ["2026-02-03 00:00", None, None],
        "type": ["complaint", "contact", "complaint"],
        "service_cost": [12, 40, 25],
    })
    tables = {"transactions": tx, "customers": customers, "surveys": surveys,
              "interactions": interactions if with_interactions else None}
    return conform(tables, scale="csat5")


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    engine = FeatureEngine(tiny_company(), churn_days=180)
    return engine.features(START, END, coverage_end=pd.Timestamp("2026-04-01")).set_index(
        "customer_id")


def test_population_is_customers_with_a_purchase_before_end(features):
    assert list(features.index) == ["a", "b"]


def test_history_columns(features):
    a, b = features.loc["a"], features.loc["b"]
    assert a["first_purchase"] == pd.Timestamp("2026-01-05 10:00")
    assert a["last_purchase"] == pd.Timestamp("2026-02-10")
    assert a["orders_total"] == 2 and a["frequency"] == 1
    assert a["recency_days"] == pytest.approx(35 + 14 / 24)
    assert a["T_days"] == pytest.approx(54 + 14 / 24)
    assert a["tenure_days"] == pytest.approx(90)
    assert a["categories_total"] == 2
    assert b["orders_total"] == 2 and b["days_since_last"] == pytest.approx(26)


def test_window_money_columns(features):
    a, b = features.loc["a"], features.loc["b"]
    assert a["orders"] == 1
    assert a["revenue"] == pytest.approx(60) and a["gross_sales"] == pytest.approx(80)
    assert a["returns_value"] == pytest.approx(20) and a["return_rate"] == pytest.approx(0.25)
    assert a["cogs"] == pytest.approx(30) and a["gross_margin"] == pytest.approx(30)
    assert a["service_cost"] == pytest.approx(12) and a["profit"] == pytest.approx(18)
    assert a["categories"] == 1 and a["promo_share"] == pytest.approx(0.0)
    assert a["avg_order_value"] == pytest.approx(60)
    assert b["promo_share"] == pytest.approx(1.0) and b["profit"] == pytest.approx(10 - 25)


def test_satisfaction_and_service_columns(features):
    a, b = features.loc["a"], features.loc["b"]
    assert b["satisfaction_latest"] == 5 and b["satisfaction_mean"] == pytest.approx(4.5)
    assert bool(b["top_box"]) and pd.isna(a["top_box"])
    assert a["complaints"] == 1 and a["median_response_hours"] == pytest.approx(24)
    assert a["contacts_total"] == 2 and a["unresolved_complaints"] == 0
    assert b["unresolved_complaints"] == 1 and pd.isna(b["median_response_hours"])
    # care contacts: initiated by the company (type "contact"), not the customer's complaints
    assert a["care_contacts_total"] == 1 and b["care_contacts_total"] == 0


def test_status_columns(features):
    a, b = features.loc["a"], features.loc["b"]
    assert bool(a["referred"]) and not bool(b["referred"])
    assert a["active"] and a["active_at_start"] and not a["churned"] and not a["new"]
    assert b["active"] and not b["active_at_start"]  # 245 days without a purchase before Feb
    assert bool(a["repurchase_next"]) and not bool(b["repurchase_next"])


def test_repurchase_next_unknown_when_data_stop(features):
    engine = FeatureEngine(tiny_company())
    out = engine.features(START, END)  # data reach only to 2026-03-10: March is incomplete
    assert out["repurchase_next"].isna().all()


def test_churn_flag_follows_inactivity_rule():
    engine = FeatureEngine(tiny_company(), churn_days=30)
    out = engine.features(pd.Timestamp("2026-03-01"), pd.Timestamp("2026-04-01")).set_index(
        "customer_id")
    assert out.loc["b", "active_at_start"] and out.loc["b", "churned"]  # last bought 2026-02-03
    assert bool(out.loc["c", "new"]) and not out.loc["a", "churned"]


def test_without_interactions_service_columns_are_unknown():
    engine = FeatureEngine(tiny_company(with_interactions=False))
    a = engine.features(START, END).set_index("customer_id").loc["a"]
    assert pd.isna(a["service_cost"]) and a["profit"] == pytest.approx(30)
    assert pd.isna(a["care_contacts_total"])


def test_duckdb_memory_limit_can_be_set(monkeypatch):
    from analysis.engine.backends import duckdb_backend

    monkeypatch.setenv("ANALYSIS_DUCKDB_MEMORY", "1GB")
    limit = duckdb_backend().con.sql("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "") in ("953.6MiB", "1.0GiB", "1GB")
