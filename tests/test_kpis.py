import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.analyses.kpis import (
    compare_kpis,
    kpi_trend,
    mean_estimate,
    period_kpis,
    top_share,
    top_share_estimate,
)
from analysis.core.results import to_jsonable


def hand_frame() -> pd.DataFrame:
    """Five customers with hand-checked KPIs."""
    return pd.DataFrame({
        "customer_id": list("abcde"),
        "orders": [2, 1, 0, 3, 1],
        "revenue": [100.0, 50.0, 0.0, 300.0, 50.0],
        "profit": [40.0, 10.0, -5.0, 150.0, -20.0],
        "active": [True, True, False, True, True],
        "active_at_start": [True, False, True, True, False],
        "churned": [False, False, True, False, False],
        "new": [False, True, False, False, True],
        "satisfaction_latest": [5.0, 4.0, np.nan, 3.0, np.nan],
    })


def test_period_kpis_on_hand_made_frame():
    k = period_kpis(hand_frame(), "2026-10", n_boot=200, seed=1).values
    assert k["customers"].value == 4 and k["customers"].n == 5
    assert k["active"].value == 4
    assert k["new"].value == 2
    assert k["churned"].value == 1
    assert k["revenue"].value == pytest.approx(500.0)
    assert k["profit"].value == pytest.approx(175.0)  # includes the non-buyer's service cost
    # buyers' profits 40, 10, 150, -20: top 20% = ceil(0.8) = 1 customer -> 150 / 180
    assert k["top20_share"].value == pytest.approx(150 / 180)
    assert k["churn_rate"].value == pytest.approx(1 / 3) and k["churn_rate"].n == 3
    assert k["churn_rate"].low < 1 / 3 < k["churn_rate"].high
    assert k["satisfaction"].value == pytest.approx(4.0) and k["satisfaction"].n == 3


def test_survey_answers_in_the_period_are_one_value_per_customer():
    surveys = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c"],
        "survey_date": pd.to_datetime(["2026-10-02", "2026-10-20", "2026-10-05", "2026-09-30"]),
        "score": [4.0, 2.0, 5.0, 1.0],
    })
    k = period_kpis(hand_frame(), "2026-10", surveys=surveys, start=pd.Timestamp("2026-10-01"),
                    end=pd.Timestamp("2026-11-01"), n_boot=50)
    est = k.values["satisfaction"]
    assert est.value == pytest.approx(4.0) and est.n == 2  # mean(3, 5); c answered in September


def test_missing_column_raises_clear_error():
    with pytest.raises(ValueError, match="churned"):
        period_kpis(hand_frame().drop(columns="churned"), "2026-10")


def test_missing_cost_gives_no_profit_and_revenue_based_share():
    frame = hand_frame()
    frame.loc[0, "profit"] = np.nan
    k = period_kpis(frame, "2026-10", n_boot=50).values
    assert k["profit"].value is None and "cost" in k["profit"].method
    assert "revenue" in k["top20_share"].method
    assert k["top20_share"].value == pytest.approx(300 / 500)


@given(st.lists(st.floats(0.01, 1e6), min_size=1, max_size=60))
def test_top_share_properties(values):
    share = top_share(np.array(values))
    assert 0.2 - 1e-9 <= share <= 1 + 1e-9 or len(values) < 5
    assert share == pytest.approx(top_share(np.array(values)[::-1]))  # order does not matter
    assert top_share(np.array(values) * 3.5) == pytest.approx(share)  # scale free


def test_top_share_of_equal_customers_is_the_group_share():
    assert top_share(np.ones(100)) == pytest.approx(0.2)
    assert top_share(np.array([-1.0, 1.0])) is None  # total not positive


def test_top_share_bootstrap_covers_the_population_value():
    """Pareto(1.5) spend: population top-20% share is 0.2 ** (1 - 1/1.5) = 0.585."""
    alpha = 1.5
    truth = 0.2 ** (1 - 1 / alpha)
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(10):
        x = pd.Series(rng.pareto(alpha, 4000) + 1)
        est = top_share_estimate(x, n_boot=300, seed=int(rng.integers(1e9)))
        hits += est.low <= truth <= est.high
    assert hits >= 6  # heavy tails: the bootstrap undercovers a bit, but mostly covers


def test_churn_rate_recovers_simulated_truth():
    rng = np.random.default_rng(3)
    n = 5000
    at_start = rng.random(n) < 0.7
    churned = at_start & (rng.random(n) < 0.08)
    frame = pd.DataFrame({
        "customer_id": np.arange(n).astype(str), "orders": 1, "revenue": 1.0, "profit": 1.0,
        "active": ~churned, "active_at_start": at_start, "churned": churned, "new": False,
    })
    est = period_kpis(frame, "2026-10", n_boot=20).values["churn_rate"]
    assert est.covers(0.08)
    assert est.n == int(at_start.sum())


@settings(max_examples=30)
@given(st.lists(st.floats(1, 5), min_size=2, max_size=40))
def test_mean_interval_contains_mean(scores):
    est = mean_estimate(pd.Series(scores), "m")
    assert est.low <= est.value <= est.high
    assert est.n == len(scores)


def test_compare_kpis_changes_and_json():
    current = period_kpis(hand_frame(), "2026-10", n_boot=100)
    previous_frame = hand_frame().assign(revenue=lambda f: f["revenue"] / 2)
    previous = period_kpis(previous_frame, "2026-09", n_boot=100)
    report = compare_kpis(current, previous)
    change = {c.name: c for c in report.changes}
    assert change["revenue"].change.value == pytest.approx(250.0)
    assert change["revenue"].relative == pytest.approx(1.0)
    assert change["churn_rate"].change.value == pytest.approx(0.0)
    assert change["churn_rate"].change.low < 0 < change["churn_rate"].change.high
    assert "revenue_change" in report.headlines()
    table = report.summary()
    assert len(table) == 9 and "change" in table.columns
    payload = to_jsonable(report)
    assert payload["period"] == "2026-10"
    assert "<table" in report._repr_html_()


def test_no_previous_period():
    report = compare_kpis(period_kpis(hand_frame(), "2026-10", n_boot=10), None)
    assert report.previous_period is None
    assert all(c.change is None for c in report.changes)
    assert (report.summary()["change"] == "n/a").all()


def test_kpi_trend_per_month():
    panel = pd.concat([hand_frame().assign(month="2026-09"), hand_frame().assign(month="2026-10")])
    trend = kpi_trend(panel)
    assert trend["month"].tolist() == ["2026-09", "2026-10"]
    assert trend["customers"].tolist() == [4, 4]
    assert math.isclose(trend["churn_rate"].iloc[0], 1 / 3)


def test_strategies_table_is_formatted_for_leadership():
    from analysis.report.summary import strategies_table

    sections = {"segments": {"extra": {"strategies": [
        {"segment": "loyal customers", "customers": 6007, "revenue": 5335062.16,
         "profit": 1675845.47, "action": "maximise their potential"}]}}}
    table = strategies_table(sections)
    assert table.to_dict("records") == [{"segment": "loyal customers", "customers": "6,007",
                                         "revenue": "5.3m", "profit": "1.7m",
                                         "suggested action": "maximise their potential"}]
    assert strategies_table({}) is None


def test_percent_axis_labels_stay_distinct_on_a_narrow_range():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.core.plots import percent_axis

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.052, 0.064, 0.058])
    percent_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) == len(set(labels)) > 2
    plt.close(fig)


def test_kpi_trend_same_on_full_and_filtered_panel(small_demo_config):
    """The panel keeps buyers and customers active at the start or end of each month: every
    KPI of the trend is computed from those rows alone."""
    from analysis.analyses.kpis import kpi_trend_for_context
    from analysis.engine.context import open_period

    ctx = open_period(small_demo_config, "2026-10")
    full = pd.concat([ctx.features(p.start, p.end).assign(month=p.label)
                      for p in ctx.periods()], ignore_index=True)
    assert len(ctx.panel()) < 0.8 * len(full)
    pd.testing.assert_frame_equal(kpi_trend(ctx.panel()), kpi_trend(full))
    pd.testing.assert_frame_equal(kpi_trend_for_context(ctx), kpi_trend(full))
