"""BTYD: CDNOW reproduction, gradients, edge cases, weights, simulation recovery, RFM summary."""

from __future__ import annotations

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
