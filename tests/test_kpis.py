import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.analyses.kpis import (
    Supplied,
    annual_churn_estimate,
    compare_kpis,
    format_estimate,
    kpi_labels,
    kpi_trend,
    mean_estimate,
    period_kpis,
    period_totals,
    subscription_kpis,
    top_share,
    top_share_estimate,
)
from analysis.core.results import to_jsonable
from analysis.core.text import reader_text_problems


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


def test_without_cost_there_is_no_profit_and_shares_are_of_revenue():
    frame = hand_frame().assign(profit=np.nan)
    k = period_kpis(frame, "2026-10", n_boot=50).values
    assert "profit" not in k
    assert "revenue" in k["top20_share"].method
    assert k["top20_share"].value == pytest.approx(300 / 500)
    labels = kpi_labels(Supplied(cost=False))
    assert "profit" not in labels
    assert not any("profit" in label.lower() for label in labels.values())
    assert labels["top20_share"].startswith("Share of revenue")
    assert kpi_labels(Supplied())["top20_share"].startswith("Share of profit")


def test_cost_missing_on_some_lines_gives_no_profit_figure_and_says_why():
    frame = hand_frame()
    frame.loc[0, "profit"] = np.nan
    k = period_kpis(frame, "2026-10", n_boot=50).values
    assert k["profit"].value is None and "cost" in k["profit"].method
    assert k["top20_share"].value is None and "cost" in k["top20_share"].method
    assert format_estimate("profit", k["profit"]).startswith("not available: cost")


def periods(*labels):
    from analysis.data.periods import make_period

    return [make_period(pd.Timestamp(f"{label}-01")) for label in labels]


def test_period_totals_count_every_line_and_every_service_cost():
    """Net revenue is every kept line of the month, returns by customers who bought nothing
    that month included; profit subtracts the cost of goods and every service cost."""
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "d"],
        "timestamp": pd.to_datetime(["2026-09-03", "2026-10-02", "2026-10-05", "2026-10-20",
                                     "2026-11-01"]),
        "revenue": [100.0, 50.0, 80.0, -30.0, 999.0],   # c only returns in October
        "cost": [60.0, 20.0, 40.0, -18.0, 500.0],
    })
    it = pd.DataFrame({"customer_id": ["a", "e"], "service_cost": [5.0, 7.0],
                       "opened_at": pd.to_datetime(["2026-10-09", "2026-10-30"])})
    totals = period_totals(tx, it, periods("2026-09", "2026-10"))
    assert totals["month"].tolist() == ["2026-09", "2026-10"]
    assert totals["revenue"].tolist() == pytest.approx([100.0, 100.0])
    assert totals["profit"].tolist() == pytest.approx([40.0, 100.0 - 42.0 - 12.0])
    no_cost = period_totals(tx.drop(columns="cost"), it, periods("2026-10"))
    assert no_cost["profit"].isna().all() and no_cost["revenue"].iloc[0] == 100.0
    gap = period_totals(tx.assign(cost=[60.0, np.nan, 40.0, -18.0, 500.0]), it,
                        periods("2026-09", "2026-10"))
    assert gap["profit"].iloc[0] == pytest.approx(40.0) and np.isnan(gap["profit"].iloc[1])
    assert gap["cost_missing"].tolist() == [0, 1]


@given(st.lists(st.tuples(st.integers(0, 89), st.floats(-500, 500), st.floats(0, 300)),
                max_size=40))
def test_period_totals_reconcile_with_the_lines_of_each_month(lines):
    """Property: the months' revenue adds up to the revenue of the lines inside them."""
    day0 = pd.Timestamp("2026-08-01")
    tx = pd.DataFrame({"customer_id": "x",
                       "timestamp": [day0 + pd.Timedelta(days=d) for d, _, _ in lines],
                       "revenue": [r for _, r, _ in lines], "cost": [c for _, _, c in lines]})
    tx["timestamp"] = pd.to_datetime(tx["timestamp"])
    totals = period_totals(tx, None, periods("2026-08", "2026-09", "2026-10"))
    assert totals["revenue"].sum() == pytest.approx(tx["revenue"].sum(), abs=1e-6)
    assert totals["lines"].sum() == len(tx)
    assert (totals["profit"] - (totals["revenue"]
                                - tx.groupby(tx["timestamp"].dt.strftime("%Y-%m"))["cost"]
                                .sum().reindex(totals["month"], fill_value=0).to_numpy())
            ).abs().max() < 1e-6 or tx.empty


def test_subscription_kpis_of_a_month():
    subs = pd.DataFrame({
        "customer_id": list("abcde"),
        "start": pd.to_datetime(["2025-01-01", "2026-03-01", "2026-10-10", "2026-05-01",
                                 "2026-12-01"]),
        "end": pd.to_datetime([None, "2026-10-15", None, "2026-09-30", None]),
        "recurring_charge": [10.0, 20.0, 30.0, 40.0, 50.0],
    })
    k = subscription_kpis(subs, "2026-10", pd.Timestamp("2026-10-01"),
                          pd.Timestamp("2026-11-01")).values
    assert k["subscribers"].value == 2            # a and c
    assert k["subscribers_new"].value == 1        # c
    assert k["cancelled"].value == 1              # b
    assert k["cancellation_rate"].value == pytest.approx(1 / 2)   # b of a, b
    assert k["recurring_revenue"].value == pytest.approx(40.0)


def test_a_snapshot_export_has_no_dated_departures_and_no_earlier_months():
    """A snapshot (every departure dated on the snapshot day) read as durations: the
    month's cancellations are not given, and the trend has no earlier months."""
    from analysis.analyses.kpis import snapshot_reading_of, subscription_trend

    as_of = pd.Timestamp("2026-10-31")
    n = 200
    ends = [as_of if i % 4 == 0 else None for i in range(n)]   # 25% churned: "durations"
    subs = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                         "start": [as_of - pd.DateOffset(months=1 + i % 40) for i in range(n)],
                         "end": pd.to_datetime(ends)})
    assert snapshot_reading_of(subs, pd.Timestamp("2026-11-01")) == "durations"
    k = subscription_kpis(subs, "2026-10", pd.Timestamp("2026-10-01"),
                          pd.Timestamp("2026-11-01"), "durations").values
    assert k["cancelled"].value is None and "snapshot" in k["cancelled"].method
    assert k["subscribers"].value == 150
    history = subs.assign(end=pd.to_datetime([as_of - pd.DateOffset(months=i % 30)
                                              if i % 4 == 0 else None for i in range(n)]))
    assert snapshot_reading_of(history, pd.Timestamp("2026-11-01")) is None
    assert len(subscription_trend(history, periods("2026-09", "2026-10"))) == 2


def test_annual_churn_comes_from_the_churn_section_with_its_interval():
    sections = {"churn": {"headlines": {"churn_rate_12m": {
        "value": 0.31, "low": 0.30, "high": 0.33, "n": 900, "method": "Pareto/NBD"}}}}
    e = annual_churn_estimate(sections)
    assert (e.value, e.low, e.high, e.n) == (0.31, 0.30, 0.33, 900)
    assert "churn and retention section" in e.method
    boundary = {"clv": {"headlines": {"model_annual_churn": {
        "value": 0.017, "low": None, "high": None, "n": 237,
        "method": "Pareto/NBD: ...; not identifiable: the data hardly constrain s, beta"}}}}
    e = annual_churn_estimate(boundary)   # a fit at a bound is not shown as a figure
    assert e.value is None and "not identifiable" in e.method
    assert annual_churn_estimate({}, ["Churn and retention"]).method == \
        "not available: section \u201cChurn and retention\u201d failed"


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
    if len(set(scores)) == 1:   # equal answers: no interval, and none shown as one
        assert est.low is None and est.high is None and "no interval" in est.method
    else:
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
    assert not [p for v in table.to_numpy().ravel() for p in reader_text_problems(str(v))]
    payload = to_jsonable(report)
    assert payload["period"] == "2026-10"
    assert "<table" in report._repr_html_()


def test_no_previous_period():
    report = compare_kpis(period_kpis(hand_frame(), "2026-10", n_boot=10), None)
    assert report.previous_period is None
    assert all(c.change is None for c in report.changes)
    assert (report.summary()["change"] == "").all()


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
    assert "profit" not in strategies_table(sections, profit=False).columns


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
    customer KPI of the trend is computed from those rows alone; revenue and profit come
    from the kept tables (period_totals), so long-lapsed customers' returns and service
    costs count too."""
    from analysis.analyses.kpis import Supplied, kpi_trend_for_context
    from analysis.engine.context import open_period

    ctx = open_period(small_demo_config, "2026-10")
    full = pd.concat([ctx.features(p.start, p.end).assign(month=p.label)
                      for p in ctx.periods()], ignore_index=True)
    assert len(ctx.panel()) < 0.8 * len(full)
    totals = period_totals(ctx.data.transactions, ctx.data.interactions, ctx.periods())
    supplied = Supplied.from_context(ctx)
    expected = kpi_trend(full, totals, supplied)
    pd.testing.assert_frame_equal(kpi_trend(ctx.panel(), totals, supplied), expected)
    pd.testing.assert_frame_equal(kpi_trend_for_context(ctx), expected)
    # the customers' sums leave out only lines of customers with no purchase yet (a return
    # of something bought before the data start): the totals keep them
    tx = ctx.data.transactions
    month = tx["timestamp"].dt.strftime("%Y-%m")
    first = tx[~tx["is_return"]].groupby("customer_id")["timestamp"].min()
    month_end = tx["timestamp"].dt.to_period("M").dt.end_time
    unseen = ~(tx["customer_id"].map(first) <= month_end).fillna(False).astype(bool)
    missed = tx.loc[unseen, "revenue"].groupby(month[unseen]).sum()
    by_month = full.groupby("month")["revenue"].sum()
    np.testing.assert_allclose(expected.set_index("month")["revenue"],
                               by_month + missed.reindex(by_month.index, fill_value=0.0))


def test_kpi_table_trend_and_ledger_agree_on_revenue_and_profit(small_demo_config):
    """One definition: the KPI table's net revenue and profit of a month are the trend's
    for that month, and net revenue is the kept transactions' revenue of the month (the
    ledger's kept revenue for those dates)."""
    from analysis.analyses.kpis import kpi_trend_for_context, kpis_for_context
    from analysis.engine.context import open_period

    ctx = open_period(small_demo_config, "2026-10")
    report = kpis_for_context(ctx, n_boot=20)
    trend = kpi_trend_for_context(ctx).set_index("month")
    for period, values in ((report.period, report.current.values),
                           (report.previous_period, report.previous.values)):
        for name in ("revenue", "profit", "customers", "top20_share", "churn_rate"):
            assert values[name].value == pytest.approx(trend.loc[period, name]), (period, name)
    tx = ctx.data.transactions
    month = tx[(tx["timestamp"] >= ctx.period.start) & (tx["timestamp"] < ctx.period.end)]
    assert report.value("revenue") == pytest.approx(month["revenue"].sum())
    kept = ctx.ledger.reconciliation().set_index("table").loc["transactions", "revenue_kept"]
    assert trend["revenue"].sum() == pytest.approx(
        kept - tx.loc[tx["timestamp"] >= ctx.period.end, "revenue"].sum())


def test_period_totals_from_the_engines_daily_sums_equal_those_from_the_lines(
        small_demo_config):
    """The KPI section reads the engine's sums per day, never the raw lines: the totals of
    every month agree with the lines', with cost on every line, on some lines or on none."""
    import dataclasses

    from analysis.engine.context import open_period
    from analysis.engine.features import FeatureEngine

    ctx = open_period(small_demo_config, "2026-10")
    tx = ctx.data.transactions
    gaps = tx.assign(cost=tx["cost"].where(tx.index % 7 != 0))
    for lines in (tx, gaps, tx.drop(columns="cost")):
        data = dataclasses.replace(ctx.data, transactions=lines)
        daily = FeatureEngine(data).daily_lines()
        assert daily["lines"].sum() == len(lines)
        for cost in (None, True, False):
            pd.testing.assert_frame_equal(
                period_totals(daily, ctx.data.interactions, ctx.periods(), cost),
                period_totals(lines, ctx.data.interactions, ctx.periods(), cost),
                check_exact=False, rtol=1e-9)
