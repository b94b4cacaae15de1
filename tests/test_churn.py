"""Churn: rates, Kaplan-Meier, Cox recovery on simulated data, the lapse classifier, claims."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.analyses import churn
from analysis.core.results import Estimate, Verdict, to_jsonable


def simulated_landmark(n: int = 4000, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    """Exponential churn times with known log hazard ratios and administrative censoring."""
    rng = np.random.default_rng(seed)
    truth = {"referred_vs_advertising": math.log(0.6), "early_promo_share_50pts": 0.3,
             "early_orders": -0.2, "early_categories": -0.2}
    channel = rng.choice(["referral", "advertising", "organic"], n, p=[0.3, 0.4, 0.3])
    promo = rng.beta(1.2, 4.8, n)
    orders = 1 + rng.poisson(1.5, n)
    categories = 1 + rng.binomial(3, 0.3, n)
    revenue = rng.gamma(2, 50, n)
    log_hr = (truth["referred_vs_advertising"] * (channel == "referral")
              + truth["early_promo_share_50pts"] * promo / 0.5
              + truth["early_orders"] * orders + truth["early_categories"] * categories)
    time = rng.exponential(1 / (0.002 * np.exp(log_hr)))
    censor = rng.uniform(100, 1500, n)
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)], "channel": channel,
        "early_promo_share": promo, "early_orders": orders.astype(float),
        "early_categories": categories, "early_revenue": revenue,
        "duration_days": np.minimum(time, censor), "churned": (time <= censor).astype(int),
    })
    return frame, truth

HOLD = (Verdict.HOLDS, Verdict.STRONGER)


def test_cox_recovers_known_hazard_ratios():
    frame, truth = simulated_landmark()
    cox = churn.fit_cox(frame)
    for term, log_hr in truth.items():
        assert cox.ratio(term).covers(math.exp(log_hr)), term
    assert churn.claim_c3(cox).verdict in HOLD
    assert churn.claim_c4(cox).verdict in HOLD
    assert churn.claim_c5(cox).verdict in HOLD


def test_null_effects_are_not_called_supported():
    frame, _ = simulated_landmark(seed=2)
    rng = np.random.default_rng(3)
    frame["channel"] = rng.permutation(frame["channel"].to_numpy())
    cox = churn.fit_cox(frame)
    assert churn.claim_c3(cox).verdict not in HOLD


def test_kaplan_meier_equals_empirical_survival_without_censoring():
    frame = pd.DataFrame({"duration_days": [10, 20, 20, 40, 50, 70] * 10,
                          "churned": 1, "group": ["a", "b"] * 30})
    curves = churn.retention_curves(frame, "group", min_group=5)
    a = curves.curves[curves.curves["group"] == "a"]
    durations = np.array([10, 20, 50] * 10)
    for day, value in zip(a["days"], a["retention"], strict=True):
        assert value == pytest.approx((durations > day).mean())
    assert 0 <= curves.logrank_p <= 1


def test_churn_rate_and_annualisation():
    features = pd.DataFrame({"active_at_start": [True] * 10 + [False] * 5,
                             "churned": [True] * 2 + [False] * 13})
    rate = churn.churn_rate(features)
    assert rate.value == pytest.approx(0.2) and rate.n == 10
    assert rate.low < 0.2 < rate.high
    annual = churn.annualise(Estimate(0.02, 0.01, 0.03, 100))
    assert annual.value == pytest.approx(1 - 0.98**12)
    assert annual.low < annual.value < annual.high


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (0.10, 0.20, Verdict.HOLDS), (0.35, 0.45, Verdict.WEAKER),
    (0.01, 0.03, Verdict.WEAKER), (0.25, 0.35, Verdict.INCONCLUSIVE)])
def test_claim_c11_band(low, high, verdict):
    e = Estimate((low + high) / 2, low, high, 500)
    assert churn.claim_c11(e, 180).verdict is verdict


def test_auc_matches_mann_whitney():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = rng.normal(y * 0.8, 1)
    auc = churn.auc_with_ci(y, p)
    u = stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert auc.value == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))
    assert auc.low < auc.value < auc.high


@pytest.fixture(scope="module")
def demo_6000(tmp_path_factory):
    from analysis.data import demo
    from conftest import write_demo_config

    folder = tmp_path_factory.mktemp("demo6000")
    demo.write(folder / "data", n_customers=6000)
    return write_demo_config(folder, folder / "data", 6000)


def test_report_on_demo_recovers_the_referral_effect(demo_6000):
    from analysis.engine.context import open_period

    ctx = open_period(demo_6000)
    truth = math.exp(ctx.truth["dropout"]["log_hr"]["referral"])
    report = churn.churn_report(ctx)
    hr = report.cox.ratio("referred_vs_advertising")
    # dropout imputed from the Pareto/NBD; the early-behaviour proxies and the unobserved
    # satisfaction, care and response times leave the marginal ratio a little above 0.6
    assert report.cox.definition == churn.DEFINITION
    assert hr.high < 1 and truth <= hr.value < 0.8
    assert report.cox.ratio("early_categories").high < 1  # truth: -0.15 log HR per category
    assert report.classifier.auc.value > 0.65
    assert set(report.risk.columns) == {"customer_id", "churn_risk"}
    assert report.risk["churn_risk"].between(0, 1).all()
    assert [c.claim_id for c in report.claims] == ["C3", "C4", "C5", "C11"]
    # service measured before the landmark: the care effect is not inflated by immortal time
    # (whole-life contact counts gave a hazard ratio of about 3 against a latent 1.25)
    service = report.cox_service.table.set_index("term")
    assert service.loc["early_uncared", "hazard_ratio"] < 1.6
    # truth: -0.30 log HR per point (attenuated: one early survey is a noisy reading); the
    # estimate stays near 0.86-0.91 over seeds and rounds, while the upper end of an interval
    # pooled from three imputations falls either side of 1
    assert service.loc["early_satisfaction", "hazard_ratio"] < 0.95
    assert report.response_time_hazard().value > 1  # truth: +0.20 log HR per doubling
    payload = json.dumps(to_jsonable({"extra": report.extra(),
                                      "headlines": report.headlines()}), allow_nan=False)
    assert "c9_hazard_side" in payload
    assert report.claims[0].details["ph_check_p"] is not None


def test_landmark_frame_hand_made():
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b"],
        "timestamp": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-06-01", "2025-01-10"]),
        "revenue": [10.0, 20.0, 5.0, 7.0], "is_return": False, "category": ["x", "y", "x", "x"],
        "promotion": [True, False, False, False]})
    frame = churn.landmark_frame(tx, None, pd.Timestamp("2026-01-01"), 180, 90)
    a = frame.set_index("customer_id").loc["a"]
    assert a["early_orders"] == 2 and a["early_categories"] == 2
    assert a["early_promo_share"] == pytest.approx(10 / 30)
    assert a["churned"] == 1  # last purchase 2025-06-01 + 180 days < 2026-01-01
    fires = pd.Timestamp("2025-06-01") + pd.Timedelta(days=180)
    assert a["duration_days"] == pytest.approx((fires - pd.Timestamp("2025-04-01")).days)


def test_early_service_ignores_what_happens_after_the_landmark():
    frame = pd.DataFrame({"customer_id": ["a", "b"],
                          "first_purchase": pd.to_datetime(["2025-01-01", "2025-01-01"])})
    surveys = pd.DataFrame({"customer_id": ["a", "a", "b"],
                            "survey_date": pd.to_datetime(["2025-02-01", "2025-09-01",
                                                           "2025-08-01"]),
                            "score": [2.0, 5.0, 4.0]})
    interactions = pd.DataFrame({
        "customer_id": ["a", "a", "b"],
        "opened_at": pd.to_datetime(["2025-01-10", "2025-02-01", "2025-06-01"]),
        "resolved_at": pd.to_datetime(["2025-01-10 08:00", "2025-02-01 00:00", "2025-06-02 00:00"]),
        "type": ["complaint", "contact", "contact"]})
    out = churn.add_early_service(frame, surveys, interactions, 90).set_index("customer_id")
    assert out.loc["a", "early_satisfaction"] == 2.0  # the September survey is too late
    assert np.isnan(out.loc["b", "early_satisfaction"])
    assert out.loc["a", "early_complaints"] == 1 and out.loc["b", "early_complaints"] == 0
    assert out.loc["a", "early_uncared"] == 0 and out.loc["b", "early_uncared"] == 1
    assert out.loc["a", "log2_early_response_hours"] == pytest.approx(3.0)  # 8 hours
    assert np.isnan(out.loc["b", "log2_early_response_hours"])


def simulated_lapse_panel(months: int = 10, per_month: int = 3000, seed: int = 4):
    """A classifier frame whose lapse target follows a known logit."""
    rng = np.random.default_rng(seed)
    truth = {"log2_days_since_last": 0.8, "referred": math.log(0.7)}
    n = months * per_month
    x = pd.DataFrame({"log2_days_since_last": rng.normal(3.5, 1.0, n),
                      "referred": rng.binomial(1, 0.3, n).astype(float)})
    eta = -3.0 + sum(beta * x[name] for name, beta in truth.items())
    target = rng.random(n) < 1 / (1 + np.exp(-eta))
    month = np.repeat([f"2025-{m + 1:02d}" for m in range(months)], per_month)
    frame = pd.concat([pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                                     "month": month, "target": target.astype(float)}), x],
                      axis=1)
    return frame, truth


def test_classifier_recovers_odds_ratios_and_stays_out_of_time():
    frame, truth = simulated_lapse_panel()
    model = churn.fit_classifier(frame, train_months=12, horizon=3)
    odds = model.odds_ratios.set_index("feature")
    for name, beta in truth.items():
        assert odds.loc[name, "low"] <= math.exp(beta) <= odds.loc[name, "high"], name
    # the last training month's outcome window (3 months) ends before the test month
    assert model.test_month == "2025-10" and model.train_months == ("2025-01", "2025-06")
    assert model.n_test == 3000 and model.summary()["customers"].sum() == 3000
    cal = model.calibration
    assert (cal["low"] <= cal["observed"]).all() and (cal["observed"] <= cal["high"]).all()
    assert cal["lift"].iloc[-1] > 1 > cal["lift"].iloc[0]
    assert 0.5 < model.auc.value < 1 and model.auc.low < model.auc.value


def test_classifier_needs_enough_months():
    frame, _ = simulated_lapse_panel(months=4, per_month=200)
    with pytest.raises(ValueError, match="labelled months"):
        churn.fit_classifier(frame, horizon=3)


@pytest.mark.parametrize(("call", "column"), [
    (lambda: churn.churn_rate(pd.DataFrame({"churned": [True]})), "active_at_start"),
    (lambda: churn.fit_cox(pd.DataFrame({"churned": [1]})), "duration_days"),
    (lambda: churn.retention_curves(pd.DataFrame({"duration_days": [1]}), "channel"), "channel"),
    (lambda: churn.landmark_frame(pd.DataFrame({"customer_id": ["a"]}), None,
                                  pd.Timestamp("2026-01-01")), "timestamp"),
])
def test_bad_input_names_the_missing_column(call, column):
    with pytest.raises(ValueError, match=column):
        call()


def lapse_panel_rows(customer, month, orders, active=True):
    return {"customer_id": customer, "month": month, "orders": orders, "active": active,
            "days_since_last": 10.0, "orders_total": 2, "tenure_days": 100.0,
            "categories_total": 1, "referred": False, "complaints_total": 0,
            "satisfaction_mean": np.nan}


def test_classifier_target_counts_absent_months_as_no_orders():
    panel = pd.DataFrame([
        lapse_panel_rows("a", "2026-01", 1), lapse_panel_rows("a", "2026-03", 1),
        lapse_panel_rows("b", "2026-01", 1),   # never seen again: lapsed
        lapse_panel_rows("c", "2026-02", 1), lapse_panel_rows("c", "2026-04", 0),
        lapse_panel_rows("d", "2026-03", 1),   # its next two months are not in the panel yet
    ])
    out = churn.classifier_frame(panel, horizon=2).set_index(["customer_id", "month"])
    assert out.loc[("a", "2026-01"), "target"] == 0   # bought again in 2026-03
    assert out.loc[("b", "2026-01"), "target"] == 1
    assert out.loc[("c", "2026-02"), "target"] == 1   # no order in 2026-03 or 2026-04
    assert pd.isna(out.loc[("d", "2026-03"), "target"])
    assert pd.isna(out.loc[("a", "2026-03"), "target"])


def test_classifier_frame_same_on_full_and_filtered_panel(small_demo_config):
    """Dropping customers who neither bought nor were active leaves the lapse frame as it
    was on the full customer x month panel."""
    from analysis.engine.context import open_period

    ctx = open_period(small_demo_config, "2026-10")
    full = pd.concat([ctx.engine.features(p.start, p.end).assign(month=p.label)
                      for p in ctx.periods()], ignore_index=True)
    expected = churn.classifier_frame(full).sort_values(["month", "customer_id"])
    got = churn.classifier_frame(ctx.panel()).sort_values(["month", "customer_id"])
    assert len(got) > 1000 and got["target"].notna().sum() > 500
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True),
                                  check_exact=False, rtol=1e-9)


# -- model-based dropout and C11 on the demo company's latent truth --------------------------------


def _oracle_frame(frame: pd.DataFrame, latent: pd.DataFrame, end, landmark_days: int = 90):
    """The landmark frame with the demo's true dropout times (customers gone before their
    landmark left out)."""
    truth = latent.set_index("customer_id")["dropout_date"]
    landmark = frame["first_purchase"] + pd.Timedelta(days=landmark_days)
    tau = frame["customer_id"].map(truth)
    out = frame[(tau > landmark).to_numpy()].copy()
    tau, landmark = tau[out.index], landmark[out.index]
    out["churned"] = (tau < end).astype(int).to_numpy()
    stop = tau.where(tau < end, end)
    out["duration_days"] = ((stop - landmark).dt.total_seconds() / 86400).round().clip(
        lower=1).to_numpy()
    return out


def test_model_based_dropout_recovers_the_hazard_ratios_of_the_true_dropout_times(demo_6000):
    """On the demo company the Cox model of the imputed dropout times covers, term by term,
    the hazard ratio of the same model fitted to the latent (true) dropout times; the
    inactivity rule does not (it invents a frequency effect)."""
    from analysis.analyses.churn import dropout
    from analysis.analyses.clv import fit_paretonbd
    from analysis.engine.context import open_period
    from analysis.engine.rfm import purchase_days, rfm_from_days

    ctx = open_period(demo_6000)
    end, tx = ctx.period.end, ctx.data.transactions
    frame = churn.landmark_frame(tx, ctx.data.customers, end)
    pareto = fit_paretonbd(rfm_from_days(purchase_days(tx), end))
    inputs = churn.dropout_inputs(purchase_days(tx), frame, end)
    cox, _eta, _tau = churn.fit_cox_model_dropout(frame, inputs, pareto, seed=1)
    oracle = dropout._fit_one(_oracle_frame(frame, ctx.latent, end), ())
    truth = dict(zip(oracle.terms, np.exp(oracle.params), strict=True))
    table = cox.table.set_index("term")
    for term, value in truth.items():
        assert table.loc[term, "low"] <= value <= table.loc[term, "high"], term
    inactivity = churn.fit_cox(frame).table.set_index("term")
    assert inactivity.loc["early_orders", "high"] < truth["early_orders"]
    assert cox.definition == churn.DEFINITION and cox.imputations == 4


def test_c11_is_the_value_sections_churn_and_covers_the_demo_truth(demo_6000):
    from analysis.analyses import clv
    from analysis.data.demo import true_churn
    from analysis.engine.context import open_period

    ctx = open_period(demo_6000)
    value = clv.value_report(ctx)
    report = churn.churn_report(ctx, purchase_models_frame=clv.purchase_models_frame(value))
    # one number per concept: the churn section reads the value section's forecast
    assert report.annual == value.forecast.churn
    c11 = next(c for c in report.claims if c.claim_id == "C11")
    assert c11.estimate == value.forecast.churn.value
    assert value.forecast.retained.value == pytest.approx(1 - c11.estimate)
    truth = true_churn(ctx.latent, ctx.period.end)["forward"]
    assert report.annual.covers(truth), (report.annual, truth)
    # the inactivity cross-check runs behind and counts slow buyers as lost
    assert report.inactivity_annual.value > truth
    assert "behind" in report.window.text()


def test_inactivity_window_is_a_high_percentile_of_purchase_gaps():
    days = pd.DataFrame({"customer_id": ["a"] * 41 + ["b"] * 41,
                         "day": list(pd.date_range("2025-01-01", periods=41, freq="10D"))
                         + list(pd.date_range("2025-01-01", periods=41, freq="30D"))})
    window = churn.inactivity_window(days, pd.Series({"a": "fast", "b": "slow"}))
    assert window.days == 30  # the 95th percentile of 40 gaps of 10 and 40 of 30 days
    assert window.by_segment.set_index("segment")["window_days"].to_dict() == {"fast": 10,
                                                                               "slow": 30}
    short = churn.inactivity_window(days.head(5), fallback=180)
    assert short.days == 180


def test_classifier_errors_are_clustered_by_customer():
    """Repeated customer-months of one customer are not independent: with a customer-level
    frailty the clustered interval is wider than the naive one."""
    import statsmodels.api as sm

    rng = np.random.default_rng(5)
    customers, months = 400, 14
    frailty = np.repeat(rng.normal(0, 1.5, customers), months)
    x = np.repeat(rng.normal(0, 1, customers), months)
    p = 1 / (1 + np.exp(-(-0.5 + 0.4 * x + frailty)))
    frame = pd.DataFrame({"customer_id": np.repeat(np.arange(customers), months).astype(str),
                          "month": np.tile([f"2025-{m:02d}" if m <= 12 else f"2026-{m - 12:02d}"
                                            for m in range(1, months + 1)], customers),
                          "target": (rng.random(customers * months) < p).astype(float),
                          "log2_orders_total": x})
    model = churn.fit_classifier(frame, train_months=12, horizon=1)
    row = model.odds_ratios.set_index("feature").loc["log2_orders_total"]
    train = frame[frame["month"] < "2026-01"]
    naive = sm.Logit(train["target"], sm.add_constant(train[["log2_orders_total"]])).fit(disp=0)
    naive_width = np.diff(naive.conf_int().loc["log2_orders_total"].to_numpy())[0]
    assert np.log(row["high"]) - np.log(row["low"]) > 1.3 * naive_width


def test_calibration_plot_survives_a_decile_that_all_lapsed_and_an_undefined_auc():
    import matplotlib

    matplotlib.use("Agg")
    calibration = pd.DataFrame({"decile": range(1, 11), "customers": 37, "lapsed": 37,
                                "predicted": np.linspace(0.5, 0.99, 10), "observed": 1.0,
                                "low": 0.9, "high": 0.9999999999999998, "lift": np.nan})
    model = churn.ChurnClassifier(
        pd.DataFrame(), Estimate(None, n=370, method="AUC undefined (one class only)"),
        calibration, calibration[["decile", "observed", "lift"]], ("2025-01", "2025-12"),
        "2026-03", 1000, 370, pd.Series(dtype=float))
    churn.plot_calibration(model)
    assert (churn.lift_table(model)["lift"] == "n/a").all()


def test_a_large_company_fits_the_survival_models_on_a_stated_sample(small_demo_config):
    from analysis.engine.context import open_period

    report = churn.churn_report(open_period(small_demo_config), max_customers=600)
    assert report.cox is not None and report.cox.n <= 600
    assert report.landmark_customers > 600
    assert any("random sample of 600" in note for note in report.notes)


def test_early_service_when_nobody_is_past_the_landmark():
    """A report period at the first month: nobody is past the landmark, surveys exist."""
    tx = pd.DataFrame({"customer_id": ["a"], "timestamp": pd.to_datetime(["2024-01-05"]),
                       "revenue": [1.0], "is_return": [False]})
    frame = churn.landmark_frame(tx, None, pd.Timestamp("2024-02-01"))
    surveys = pd.DataFrame({"customer_id": ["a"], "survey_date": pd.to_datetime(["2024-01-06"]),
                            "score": [3.0]})
    interactions = pd.DataFrame({"customer_id": ["a"], "opened_at": pd.to_datetime(["2024-01-06"]),
                                 "resolved_at": pd.to_datetime(["2024-01-07"]),
                                 "type": ["complaint"]})
    out = churn.add_early_service(frame, surveys, interactions)
    assert out.empty and "early_satisfaction" in out and "early_complaints" in out


def test_reader_text_when_nobody_lapsed_and_figures_are_missing():
    """Nobody lapsed in the test month (AUC undefined) and a churn figure without a value:
    the notebook's sentences and tables say why instead of failing on None."""
    from analysis.core.text import reader_text_problems

    calibration = pd.DataFrame({"decile": range(1, 11), "customers": 10, "lapsed": 0,
                                "predicted": np.nan, "observed": 0.0, "low": 0.0,
                                "high": 0.28, "lift": np.nan})
    model = churn.ChurnClassifier(
        pd.DataFrame({"feature": ["x"], "odds_ratio": [np.nan], "low": [np.nan],
                      "high": [np.nan], "p": [np.nan]}),
        Estimate(None, n=100, method="AUC undefined (one class only)"), calibration,
        calibration[["decile", "observed", "lift"]], ("2025-01", "2025-12"), "2026-03",
        1000, 100, pd.Series(dtype=float))
    text = churn.auc_text(model)
    assert "cannot be checked" in text and "one class only" in text
    for table in (churn.lift_table(model), churn.odds_table(model)):
        assert not reader_text_problems(table.to_string()), table
    missing = Estimate(None, method="no purchase model could be fitted")
    report = churn.ChurnReport(missing, missing, missing, 0, (), None, None, None, None,
                               pd.DataFrame(), (), ())
    rates = churn.rates_table(report)
    assert not reader_text_problems(rates.to_string())
    assert "no purchase model could be fitted" in rates.to_string()


def test_c5_is_not_identifiable_when_every_customer_bought_once_early():
    """No variation in early orders (everyone bought once): the term leaves the model and C5
    says why, instead of a KeyError."""
    frame, _ = simulated_landmark(600)
    frame["early_orders"] = 1.0
    cox = churn.fit_cox(frame)
    assert "early_orders" not in set(cox.table["term"])
    assert "same value" in cox.dropped["early_orders"]
    claim = churn.claim_c5(cox)
    assert claim.verdict == Verdict.NOT_TESTABLE and "not identifiable" in claim.reason
