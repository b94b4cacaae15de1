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
