"""BTYD: CDNOW reproduction, gradients, edge cases, weights, simulation recovery, RFM summary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from analysis.analyses import clv as btyd
from analysis.analyses.clv.btyd import _columns
from analysis.data.sources import load_cdnow
from analysis.engine.rfm import rfm_summary


@pytest.fixture(scope="module")
def cdnow():
    data = load_cdnow("sample")
    return rfm_summary(data.transactions, "1997-10-01", "1998-07-01")


def test_cdnow_summary_matches_the_published_data_set(cdnow):
    assert len(cdnow) == 2357
    assert int((cdnow["frequency"] > 0).sum()) == 946
    assert cdnow["T"].max() == pytest.approx(272 / 7)


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow):
    model = btyd.fit_bgnbd(cdnow)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert model.params[name] == pytest.approx(value, abs=0.0015), name
    assert model.loglik == pytest.approx(-9582.4, abs=0.1)


def test_paretonbd_reproduces_the_published_fit(cdnow):
    model = btyd.fit_paretonbd(cdnow)
    published = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    for name, value in published.items():
        assert model.params[name] == pytest.approx(value, rel=0.002), name
    assert model.loglik == pytest.approx(-9595.0, abs=0.1)


def test_fit_without_errors_gives_the_same_estimates(cdnow):
    """Calibration fits skip the Hessian: same optimum, standard errors left unknown."""
    for fit in (btyd.fit_bgnbd, btyd.fit_paretonbd):
        full, bare = fit(cdnow), fit(cdnow, errors=False)
        pd.testing.assert_series_equal(bare.params, full.params)
        assert bare.std_errors.isna().all() and full.std_errors.notna().all()


def test_gamma_gamma_reproduces_the_fader_hardie_note(cdnow):
    model = btyd.fit_gamma_gamma(cdnow)
    assert model.n == 946
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert model.params[name] == pytest.approx(value, rel=0.003), name


def test_holdout_forecast_tracks_the_actual_purchases(cdnow):
    model = btyd.fit_bgnbd(cdnow)
    table = btyd.calibration_table(model, cdnow)
    assert (table["expected"] - table["actual"]).abs().max() < 0.5
    total = btyd.bgnbd_expected(model.params.to_numpy(), 39.0, *_columns(cdnow)).sum()
    # FHL (2005, fig. 4) show the BG/NBD a little under the actual holdout purchases
    assert total == pytest.approx(cdnow["frequency_holdout"].sum(), rel=0.15)


def _random_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 20, 200).astype(float)
    T = rng.uniform(1, 50, 200)
    t_x = np.where(x > 0, rng.uniform(0, 1, 200) * T, 0.0)
    return x, t_x, T


def test_bgnbd_gradient_matches_finite_differences():
    x, t_x, T = _random_data()
    w = np.ones_like(x)
    params = np.array([0.4, 3.0, 0.9, 2.2])
    numeric = approx_fprime(params, lambda p: btyd.bgnbd_loglik_terms(p, x, t_x, T).sum(), 1e-6)
    assert btyd.bgnbd_gradient(params, x, t_x, T, w) == pytest.approx(numeric, rel=1e-4)


def test_gamma_gamma_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x, m = rng.integers(1, 30, 200).astype(float), rng.gamma(3, 10, 200)
    params = np.array([5.0, 3.0, 12.0])
    numeric = approx_fprime(params, lambda p: btyd.gg_loglik_terms(p, x, m).sum(), 1e-6)
    assert btyd.gg_gradient(params, x, m, np.ones_like(x)) == pytest.approx(numeric, rel=1e-4)


def test_edge_cases_one_purchase_zero_T_and_huge_frequency():
    params = np.array([0.24, 4.4, 0.79, 2.4])
    x = np.array([0.0, 0.0, 5000.0])
    t_x = np.array([0.0, 0.0, 99.0])
    T = np.array([10.0, 0.0, 100.0])
    ll = btyd.bgnbd_loglik_terms(params, x, t_x, T)
    assert np.isfinite(ll).all()
    assert ll[1] == pytest.approx(0.0)  # no time to be observed: probability one
    alive = btyd.bgnbd_p_alive(params, x, t_x, T)
    assert alive[0] == 1.0 and 0 < alive[2] <= 1
    assert np.isfinite(btyd.bgnbd_gradient(params, x, t_x, T, np.ones(3))).all()
    pareto = btyd.paretonbd_loglik_terms(np.array([0.55, 10.6, 0.6, 11.7]), x[:2], t_x[:2], T[:2])
    assert np.isfinite(pareto).all()


def test_weights_give_the_same_likelihood_as_repeated_rows(cdnow):
    rows, weights = btyd.compress(cdnow, ["frequency", "recency", "T"])
    params = np.array([0.3, 4.0, 0.8, 2.4])
    x, t_x, T = _columns(cdnow)
    full = btyd.bgnbd_loglik_terms(params, x, t_x, T).sum()
    rx, rt, rT = _columns(rows)
    assert weights @ btyd.bgnbd_loglik_terms(params, rx, rt, rT) == pytest.approx(full)
    assert len(rows) < len(cdnow)


def simulate_bgnbd(params, n, T, seed):
    """Draw BG/NBD customers: Poisson purchases, dropout with probability p after each."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    t, x, t_x = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        t = t + rng.exponential(1 / lam)
        bought = alive & (t < T)
        x[bought] += 1
        t_x[bought] = t[bought]
        alive = bought & (rng.random(n) >= p)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def test_bgnbd_recovers_simulated_parameters():
    truth = (0.5, 6.0, 1.2, 3.0)
    data = simulate_bgnbd(truth, 8000, np.full(8000, 52.0), seed=0)
    model = btyd.fit_bgnbd(data)
    # within three standard errors for each of the four correlated parameters
    for name, value in zip(("r", "alpha", "a", "b"), truth, strict=True):
        assert abs(model.params[name] - value) < 3 * model.std_errors[name], name


def test_rfm_summary_merges_same_day_purchases():
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b"],
        "timestamp": pd.to_datetime(["2020-01-01 09:00", "2020-01-01 17:00", "2020-01-15 12:00",
                                     "2020-02-05 08:00", "2020-01-10 10:00"]),
        "revenue": [10.0, 5.0, 20.0, 7.0, 3.0], "is_return": False})
    s = rfm_summary(tx, "2020-02-01", "2020-03-01", time_unit="D")
    a = s.loc["a"]
    assert a["frequency"] == 1 and a["recency"] == 14 and a["T"] == 30
    assert a["monetary_value"] == 20.0 and a["frequency_holdout"] == 1
    assert s.loc["b", "frequency"] == 0 and s.loc["b", "monetary_value"] == 0


# -- the Pareto/NBD's common-dropout limit (C11 when dropout heterogeneity is not identified) ---


@pytest.mark.parametrize("x, t_x, T", [(0, 0.0, 30.0), (3, 12.0, 40.0), (60, 55.0, 60.0),
                                        (150, 100.0, 120.0)])
def test_common_dropout_likelihood_matches_numerical_integration(x, t_x, T):
    from scipy import integrate, stats

    r, alpha, mu = 0.8, 5.0, 0.0075

    def given(lam):   # Pareto/NBD likelihood of one customer with rates lam and mu
        both = lam + mu
        return lam**x * (np.exp(-both * T)
                         + mu / both * (np.exp(-both * t_x) - np.exp(-both * T)))

    def integrand(lam):
        return given(lam) * stats.gamma.pdf(lam, r, scale=1 / alpha)

    centre = (r + x) / (alpha + t_x)
    exact = sum(integrate.quad(integrand, lo, hi, limit=400, epsabs=0, epsrel=1e-10)[0]
                for lo, hi in ((0, centre), (centre, 20 * centre + 50)))
    value = btyd.common_dropout_loglik_terms((r, alpha, mu), np.array([x]), np.array([t_x]),
                                             np.array([T]))[0]
    # beyond ~100 purchases a second-order expansion stands in for Tricomi's U
    assert value == pytest.approx(np.log(exact), abs=1e-6 if x < 100 else 1e-4)


def test_pareto_likelihood_meets_its_common_dropout_limit():
    """At large s with s / beta fixed the Pareto/NBD approaches the common-dropout limit."""
    x, t_x, T = np.array([0.0, 2, 10]), np.array([0.0, 8, 30]), np.array([30.0, 30, 40])
    mu = 0.01
    moderate = btyd.paretonbd_loglik_terms((0.8, 5.0, 30.0, 30.0 / mu), x, t_x, T)
    limit = btyd.common_dropout_loglik_terms((0.8, 5.0, mu), x, t_x, T)
    assert np.abs(moderate - limit).max() < 0.01
    switched = btyd.paretonbd_loglik_terms((0.8, 5.0, 2 * btyd.S_COMMON,
                                            2 * btyd.S_COMMON / mu), x, t_x, T)
    np.testing.assert_allclose(switched, limit)


def test_the_common_dropout_model_recovers_the_rate_and_forecasts_churn_honestly():
    """Simulated customers with one dropout rate for all: the limit model recovers it, reads
    as a Pareto/NBD with its restriction stated (also through the hand-off), and its
    retention forecast has an interval covering the truth."""
    from test_clv import simulate_paretonbd

    n, mu = 3000, 0.008
    T = np.random.default_rng(31).uniform(20, 150, n)
    year = 365.25 / 7
    summary, _death = simulate_paretonbd((0.8, 5.0, 1e8, 1e8 / mu), T, year, seed=32)
    model = btyd.fit_paretonbd_common_dropout(summary)
    assert model.identifiable and model.constraint is not None
    fitted_mu = model.params["s"] / model.params["beta"]
    low, high = model.interval("beta")
    assert model.params["s"] / high < mu < model.params["s"] / low
    assert fitted_mu == pytest.approx(mu, rel=0.3)
    assert model.interval("s") == (None, None)   # fixed, not estimated
    forecast = btyd.retention_forecast(model, summary, 12)
    true_churn = 1 - np.exp(-mu * year)
    assert forecast.churn.low < true_churn < forecast.churn.high
    back = btyd.models_from_frame(btyd.model_to_frame(model))["Pareto/NBD"]
    assert back.constraint == model.constraint


@pytest.mark.slow
def test_demo_company_whose_dropout_spread_is_not_identified_gets_an_honest_c11(tmp_path):
    """Simulation study company demo/11: the free Pareto/NBD cannot pin down the spread of
    dropout rates (s 40, beta 5,000: log standard errors above 5). It used to fall back to
    the BG/NBD, which reported 12% churn [10%, 14%] and C11 "holds" where the truth is 32%.
    The common-dropout limit fits as well (log-likelihood within 0.01) and is used."""
    from analysis.analyses import study
    from analysis.analyses.churn import report as churn

    company = study.open_company(tmp_path, "demo", 11)
    result = churn.churn_report(company.ctx, 90, 3, None, 11)
    c11 = next(c for c in result.claims if c.claim_id == "C11")
    truth = study.realised_truths(company)["C11"]
    assert c11.low <= truth <= c11.high
    assert c11.verdict.value != "holds"
    assert "Pareto/NBD" in c11.details["model"]


def test_a_clearly_better_fit_that_cannot_be_read_is_not_swapped_for_a_worse_one():
    names = ("r", "alpha", "s", "beta")
    unreadable = btyd.FittedModel("Pareto/NBD", pd.Series([0.8, 5, 40, 5000.0], index=names),
                                  pd.Series(np.ones(4), index=names), -1000.0, 100, True,
                                  problem="not identifiable: the data hardly constrain s")
    bg_names = ("r", "alpha", "a", "b")
    worse = btyd.FittedModel("BG/NBD", pd.Series([0.5, 4, 0.8, 14.0], index=bg_names),
                             pd.Series(np.ones(4) * 0.1, index=bg_names), -1100.0, 100, True)
    assert btyd.choose_model({"BG/NBD": worse, "Pareto/NBD": unreadable}) is unreadable
    close = dataclasses.replace(worse, loglik=-1001.0)
    assert btyd.choose_model({"BG/NBD": close, "Pareto/NBD": unreadable}) is close
