"""Subscriptions: sBG and BdW recovery, the published series, projections and their coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.analyses import subscriptions as subs


def simulate_durations(alpha, beta, n, periods, seed, c=1.0):
    """Customers who churn each period with their own Beta(alpha, beta) probability (or the
    discrete-Weibull version with shape c), observed for ``periods`` periods."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(alpha, beta, n)
    # discrete Weibull: P(T > t) = (1 - theta)^(t^c)
    u = rng.random(n)
    with np.errstate(divide="ignore"):
        t = np.ceil((np.log(u) / np.log1p(-theta)) ** (1 / c))
    t = np.maximum(t, 1)
    churned = t <= periods
    return np.where(churned, t, periods), churned


def test_sbg_recovers_simulated_parameters_with_log_scale_intervals():
    durations, churned = simulate_durations(0.8, 2.5, 5000, 10, seed=1)
    model = subs.fit_sbg(durations, churned)
    for name, truth in {"alpha": 0.8, "beta": 2.5}.items():
        low, high = model.interval(name)
        assert 0 < low < truth < high, name
    assert model.identifiable


def test_sbg_on_the_published_series():
    series = pd.read_csv("data/external/sbg/survival.csv")
    cohort = subs.cohort_durations(series["regular"].to_numpy()[:8])
    assert cohort["customers"].sum() == 1000
    model = subs.fit_sbg(cohort["duration"], cohort["churned"], cohort["customers"])
    assert model.params["alpha"] == pytest.approx(0.704, rel=0.005)
    assert model.params["beta"] == pytest.approx(1.182, rel=0.005)
    # the paper's point: the sBG fitted to years 1-7 forecasts years 8-12 well
    forecast = 1000 * subs.survival(model, np.arange(8, 13))
    assert forecast == pytest.approx(series["regular"].to_numpy()[8:], rel=0.06)


def test_bdw_finds_duration_dependence_only_where_there_is_some():
    flat = subs.fit_durations(*simulate_durations(1.0, 3.0, 6000, 12, seed=2))
    assert not flat.duration_dependence
    assert flat.chosen is flat.sbg
    rising = subs.fit_durations(*simulate_durations(1.0, 3.0, 6000, 12, seed=3, c=1.6))
    assert rising.duration_dependence
    low, high = rising.bdw.interval("c")
    assert low < 1.6 < high


def test_residual_periods_match_the_geometric_sum_for_one_customer_type():
    # alpha, beta huge with a fixed mean: everyone churns with theta = 0.2 each period
    params = np.array([2e5, 8e5])
    value = subs.residual_periods(params, [0, 5], horizon=2000, discount=0.01)
    retain = 0.8 / 1.01
    assert value == pytest.approx([retain / (1 - retain)] * 2, rel=1e-3)


def test_cohort_durations_rejects_a_rising_series():
    with pytest.raises(ValueError, match="never rise"):
        subs.cohort_durations([1000, 800, 900])


def test_bad_durations_are_refused_in_words():
    with pytest.raises(ValueError, match="whole periods"):
        subs.fit_sbg([1.5, 2], [True, False])
    with pytest.raises(ValueError, match="no customers"):
        subs.fit_sbg([], [])


@pytest.mark.slow
def test_projected_retention_interval_covers_the_truth_95_percent():
    """The 95% interval of projected retention covers the true expected retention in about
    95% of simulated companies (parameter uncertainty by parametric bootstrap)."""
    alpha, beta, hits, runs = 0.7, 2.0, 0, 120
    truth_params = np.array([alpha, beta])
    for seed in range(runs):
        durations, churned = simulate_durations(alpha, beta, 800, 6, seed=100 + seed)
        model = subs.fit_sbg(durations, churned)
        active = durations[~churned]
        estimate = subs.projected_retention(model, active, 12, draws=400, seed=seed)
        truth = np.mean(np.exp(subs.log_survival(truth_params, active + 12)
                               - subs.log_survival(truth_params, active)))
        hits += estimate.covers(truth)
    assert 0.89 <= hits / runs <= 0.99


# -- the subscription company and the snapshot ------------------------------------------------


@pytest.fixture(scope="module")
def subscription_company():
    from analysis.data import demo

    return demo.generate_subscriptions(3000)


def test_subscription_report_recovers_the_plans_truth(subscription_company):
    tables, truth = subscription_company
    report = subs.subscription_report(tables["subscriptions"], truth["end"])
    plans = {p.plan: p for p in report.plans}
    for plan in ("Month-to-month", "One year"):
        fit = plans[plan].fit.sbg
        for name, key in (("alpha", "sbg_alpha"), ("beta", "sbg_beta")):
            low, high = fit.interval(name)
            assert low < truth["plans"][plan][key] < high, (plan, name)
    assert report.care.covers(truth["care_share_of_reasons"])
    claims = {c.claim_id: c for c in report.claims}
    assert set(claims) == {"C10", "C11"}
    assert claims["C11"].estimate == report.annual_churn.value
    assert report.annual_churn.method.startswith("customers active a year ago")
    table = subs.plan_table(report)
    assert list(table["plan"]) == ["Month-to-month", "One year", "Two year"]
    assert not table.astype(str).apply(lambda c: c.str.contains("nan")).any().any()
    # two-year subscribers stay longest in the first 24 months
    rmst = report.rmst.set_index("plan")["rmst_24"]
    assert rmst["Two year"] > rmst["One year"] > rmst["Month-to-month"]


def test_snapshot_maps_onto_subscriptions_and_is_left_truncated():
    from analysis.data import demo

    snapshot, truth = demo.telecom_snapshot(2000)
    table = subs.from_snapshot(snapshot, truth["as_of"])
    assert list(table.columns) == ["customer_id", "start", "end", "plan", "recurring_charge",
                                   "cancellation_reason"]
    assert table["end"].notna().sum() == (snapshot["Churn"] == "Yes").sum()
    spells = subs.customer_spells(table, truth["as_of"])
    assert (spells["months"] - spells["entry"] == 1).all()
    report = subs.subscription_report(table, truth["as_of"])
    assert report.annual_churn.method.startswith("snapshot read as the last month")
    assert any("left truncation" in note for note in report.notes)
    one_year = next(p for p in report.plans if p.plan == "One year").fit.sbg
    low, high = one_year.interval("alpha")
    assert low < truth["plans"]["One year"]["sbg_alpha"] < high


def test_snapshot_with_bad_tenure_names_the_rows():
    bad = pd.DataFrame({"customerID": ["a", "b"], "tenure": [3, -1], "Churn": ["No", "Yes"],
                        "Contract": ["One year"] * 2, "MonthlyCharges": [10.0, 12.0]})
    with pytest.raises(ValueError, match="tenure.*rows 1"):
        subs.from_snapshot(bad, "2026-10-31")
    with pytest.raises(ValueError, match="missing column"):
        subs.from_snapshot(bad.drop(columns="Contract"), "2026-10-31")


def test_a_snapshot_with_many_churned_rows_is_read_as_durations():
    """The data layer's telecom fixture (a quarter of the rows churned) through its own
    mapping: too many departures for one month, so tenure and flag are complete durations."""
    from analysis.data.config import load_settings
    from analysis.data.sources import load_data

    data = load_data(load_settings("config/examples/subscription_snapshot.toml"))
    table = subs.checked(data.subscriptions)
    report = subs.subscription_report(table, "2024-01-31")
    assert report.spells.attrs["reading"] == "durations"
    assert (report.spells["entry"] == 0).all()
    assert report.annual_churn.method.startswith("snapshot read as complete durations")
    c11 = next(c for c in report.claims if c.claim_id == "C11")
    assert "first year" in c11.summary and c11.verdict.value != "not testable with this data"
    assert set(subs.plan_table(report)["plan"]) >= {"Month-to-month", "One year"}


def test_nobody_cancelled_and_no_charge_read_cleanly():
    """Every subscription still active and no recurring charge: churn is 0 without a fake
    interval, the remaining payments cannot be valued, and the reader text says so."""
    from analysis.analyses import subscriptions as subs
    from analysis.core.text import reader_text_problems

    starts = pd.date_range("2024-01-01", periods=40, freq="7D")
    table = pd.DataFrame({"customer_id": [f"s{i}" for i in range(40)], "start": starts,
                          "end": pd.NaT, "plan": "basic"})
    report = subs.subscription_report(subs.checked(table), "2025-06-30")
    texts = [subs.churn_text(report), subs.projection_text(report),
             subs.plan_table(report).to_string(), subs.parameter_table(report).to_string()]
    assert not [bad for t in texts for bad in reader_text_problems(t)], texts
    assert report.residual_value.value is None
