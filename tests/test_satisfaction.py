"""Satisfaction: interval coverage, recovery of the demo's known effects, missing data, claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.analyses import satisfaction as sat
from analysis.analyses import satisfaction as sc
from analysis.core.results import Verdict
from analysis.data.contract import Scale

CSAT = Scale("csat5", 1, 5, 5)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_correlation_intervals_cover_the_truth_at_the_nominal_rate(method):
    rng = np.random.default_rng(11)
    rho, n, reps = 0.4, 150, 300
    truth = rho if method == "pearson" else 6 / np.pi * np.arcsin(rho / 2)
    covered = 0
    for _ in range(reps):
        x, y = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], n).T
        c = sat.correlation(x, y, method=method)
        covered += c.low <= truth <= c.high
    assert 0.91 <= covered / reps <= 0.985


def test_partial_correlation_removes_a_shared_cause():
    rng = np.random.default_rng(2)
    size = rng.normal(size=3000)
    x, y = size + rng.normal(size=3000), size + rng.normal(size=3000)
    assert sat.correlation(x, y, "pearson").r > 0.4
    partial = sat.correlation(x, y, "pearson", controls=size)
    assert partial.low <= 0 <= partial.high


def test_repurchase_risk_ratio_on_a_hand_made_table():
    features = pd.DataFrame({
        "satisfaction_latest": [5.0] * 40 + [4.0] * 60,
        "repurchase_next": pd.array([True] * 30 + [False] * 10 + [True] * 30 + [False] * 30,
                                    dtype="boolean")})
    risk = sc.repurchase_risk(features, CSAT)
    assert risk.risk_ratio.value == pytest.approx((30 / 40) / (30 / 60))
    assert risk.risk_ratio.low < 1.5 < risk.risk_ratio.high
    result = sc.claim_c8(features, CSAT)
    assert result.verdict is Verdict.WEAKER  # 1.5x is far from the claimed 6x


@pytest.fixture(scope="module")
def demo_ctx(small_demo_config):
    from analysis.engine.context import open_period

    return open_period(small_demo_config)


def test_spend_effect_recovers_the_demo_truth(demo_ctx):
    truth = demo_ctx.truth["spend"]["log_spend_per_satisfaction_point"]
    features = demo_ctx.features(*demo_ctx.window(24))
    effect = sat.spend_effect(features).estimate
    assert effect.covers(truth)


def test_dropout_effect_has_the_demo_sign(demo_ctx):
    truth = demo_ctx.truth["dropout"]["log_hr"]["satisfaction_per_point"]
    history = demo_ctx.features(demo_ctx.data_start, demo_ctx.period.end)
    effect = sat.dropout_effect(history).estimate
    # noisy surveys and the inactivity rule attenuate the latent -0.30 towards 0
    assert effect.value < 0 and effect.low > truth - 0.15 and effect.high < 0.1


def test_report_on_demo_answers_every_claim(demo_ctx):
    report = sc.satisfaction_report(demo_ctx)
    assert [c.claim_id for c in report.claims] == ["C7", "C8", "C9", "C10", "C12"]
    c7 = report.claims[0]
    assert c7.verdict is Verdict.WEAKER and c7.high < 1.0  # nowhere near doubling
    assert all(c.n for c in report.claims if c.verdict is not Verdict.NOT_TESTABLE)


def test_without_surveys_the_satisfaction_claims_are_not_testable(demo_ctx):
    import dataclasses

    data = dataclasses.replace(demo_ctx.data, surveys=None, satisfaction_scale=None)
    ctx = dataclasses.replace(demo_ctx, data=data, cache_dir=None, content_hash=None)
    report = sc.satisfaction_report(ctx)
    by_id = {c.claim_id: c for c in report.claims}
    for claim in ("C7", "C8", "C12"):
        assert by_id[claim].verdict is Verdict.NOT_TESTABLE
        assert by_id[claim].reason


def test_cox_estimator_recovers_the_demo_hazard_ratio_from_true_lifetimes(demo_ctx):
    # without survey noise and the inactivity rule the estimator hits the generator's value
    truth = demo_ctx.truth["dropout"]["log_hr"]["satisfaction_per_point"]
    latent = demo_ctx.latent
    end = pd.Timestamp(demo_ctx.truth["end"])
    days = (np.minimum(latent["dropout_date"], end) - latent["first_purchase"]).dt.days + 1
    died = (latent["dropout_date"] < end).astype(int)
    effect = sat.hazard_per_point(days, died, latent["satisfaction"]).estimate
    assert effect.covers(truth)


def test_profit_regression_recovers_a_known_relative_effect():
    rng = np.random.default_rng(5)
    n = 4000
    score = np.clip(rng.normal(3.7, 0.8, n), 1, 5)
    tenure = rng.uniform(30, 2000, n)
    market = rng.choice(["consumer", "producer"], n)
    # profit at the mean score is 200; +1 point adds 30, so +0.2 points adds 3% of the mean
    profit = 200 + 30 * (score - score.mean()) + 5 * (np.log1p(tenure) - np.log1p(tenure).mean())
    profit = profit + rng.normal(0, 60, n) * (1 + (score > 4))   # heteroskedastic
    features = pd.DataFrame({"satisfaction_mean": score, "tenure_days": tenure,
                             "market_type": market, "profit": profit})
    reg = sat.profit_regression(features, CSAT)
    assert reg.per_point.covers(30)
    assert reg.relative.covers(0.2 * 30 / 200)
    assert reg.checks.breusch_pagan_p < 0.05   # the check sees the uneven spread
    result = sc.claim_c7(features, CSAT)
    assert result.verdict is Verdict.WEAKER and result.n == n


def test_profit_regression_names_the_missing_column():
    features = pd.DataFrame({"satisfaction_mean": [4.0] * 40, "tenure_days": [10.0] * 40})
    with pytest.raises(ValueError, match="profit"):
        sat.profit_regression(features, CSAT)


def test_five_points_is_five_percent_of_the_scale_range():
    assert sat.five_points(CSAT) == pytest.approx(0.2)
    assert sat.five_points(Scale("nps10", 0, 10, 9)) == pytest.approx(0.5)
    assert sc.box_below(Scale("nps10", 0, 10, 9)) == (7, 9)
    assert sc.box_below(CSAT) == (4, 5)


def test_attributable_share_by_hand():
    # 20 exposed (10 churn), 80 unexposed (20 churn): P = 0.30, P0 = 0.25, PAF = 1/6
    exposed = np.r_[np.ones(20, bool), np.zeros(80, bool)]
    churned = np.r_[np.ones(10, bool), np.zeros(10, bool), np.ones(20, bool), np.zeros(60, bool)]
    share = sc.attributable_share(exposed, churned, draws=500)
    assert share.value == pytest.approx(1 / 6)
    assert share.low < 1 / 6 < share.high and share.n == 100


def _care_frame():
    n = 200
    contacts = np.r_[np.zeros(50), np.ones(150)]
    unresolved = np.r_[np.zeros(150), np.ones(20), np.zeros(30)]
    churned = np.r_[np.ones(25), np.zeros(25), np.ones(30), np.zeros(70), np.ones(10),
                    np.zeros(10), np.ones(6), np.zeros(24)]
    return pd.DataFrame({
        # every customer had some interaction (their own complaints or requests); only the
        # contacts the company initiated count as care
        "customer_id": [f"c{i}" for i in range(n)], "contacts_total": contacts + 1,
        "care_contacts_total": contacts,
        "unresolved_complaints": unresolved, "active_at_start": pd.array([True] * n),
        "churned": pd.array(churned.astype(bool)), "tenure_days": np.linspace(30, 900, n)})


def test_care_churn_by_hand():
    care = sc.care_churn(_care_frame())
    never = care.summary.set_index("comparison").loc["never contacted by the company vs rest"]
    assert never["exposed_churn"] == pytest.approx(25 / 50)
    assert never["rest_churn"] == pytest.approx(46 / 150)
    assert never["risk_ratio"] == pytest.approx((25 / 50) / (46 / 150))
    assert never["low"] < never["risk_ratio"] < never["high"]
    assert (care.summary["p_adj"] >= care.summary["p"]).all()   # Holm only raises p-values
    assert care.at_risk == 200 and care.churners == 71


def test_response_bands_by_hand():
    hours = np.repeat([2.0, 10.0, 48.0, 100.0, 300.0], 40)
    stayed = np.concatenate([np.arange(40) < k for k in (36, 32, 28, 24, 20)])
    frame = pd.DataFrame({"median_response_hours": hours, "tenure_days": 365.0,
                          "satisfaction_mean": 5 - np.log10(hours),
                          "active_at_start": pd.array([True] * 200),
                          "churned": pd.array(~stayed)})
    bands = sc.response_time_bands(frame)
    assert bands.summary["customers"].tolist() == [40] * 5
    assert bands.summary["retention"].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5])
    assert bands.odds_ratio_per_doubling.high < 1
    assert sc.claim_c9(frame).verdict is Verdict.HOLDS


def test_group_correlations_count_groups_not_customers():
    rng = np.random.default_rng(3)
    month = np.repeat([f"2026-{m:02d}" for m in range(1, 11)], 50)
    score = rng.normal(3.7, 0.8, 500) + np.repeat(np.linspace(-0.5, 0.5, 10), 50)
    features = pd.DataFrame({"month": month, "satisfaction_latest": score,
                             "profit": 100 + 20 * score + rng.normal(0, 5, 500)})
    table = sat.group_correlation_table(features, "month")
    row = table.summary.set_index("satisfaction").loc["satisfaction_latest"]
    assert row["n"] == 10 and row["r"] > 0.8


def test_care_followups_lists_active_open_cases_first():
    frame = _care_frame().assign(
        active=pd.array([True] * 200), satisfaction_latest=np.r_[np.full(100, 2.0),
                                                                 np.full(100, 5.0)],
        median_response_hours=24.0, days_since_last=10.0, revenue=np.arange(200.0))
    out = sc.care_followups(frame, CSAT)
    assert len(out) == 100 + 20 and (out["unresolved_complaints"].iloc[:20] == 1).all()
    assert {"name", "email"}.isdisjoint(out.columns)


def test_claims_serialise_to_json(demo_ctx, tmp_path):
    import json

    from analysis.core.results import to_jsonable, write_section

    report = sc.satisfaction_report(demo_ctx)
    json.dumps(to_jsonable(list(report.claims)))
    write_section(tmp_path, "satisfaction", demo_ctx.period.label, claims=list(report.claims),
                  headlines=report.headlines())
    assert all(e.low <= e.value <= e.high for e in report.headlines().values())


# ----------------------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(arrays(float, st.integers(8, 60), elements=finite), st.integers(0, 2**16),
       st.sampled_from(["pearson", "spearman"]))
def test_correlation_is_symmetric_bounded_and_inside_its_interval(x, seed, method):
    y = x + np.random.default_rng(seed).normal(0, 100, len(x))
    a, b = sat.correlation(x, y, method), sat.correlation(y, x, method)
    if np.isnan(a.r):
        return
    assert a.r == pytest.approx(b.r)
    assert -1 <= a.low <= a.r <= a.high <= 1 and 0 <= a.p <= 1


@settings(max_examples=40, deadline=None)
@given(arrays(float, st.integers(8, 60), elements=st.integers(-20, 20).map(float)),
       st.integers(0, 2**16))
def test_spearman_ignores_monotone_transforms(x, seed):
    y = x + np.random.default_rng(seed).normal(0, 1, len(x))
    a = sat.correlation(x, y, "spearman")
    b = sat.correlation(np.exp(x), y**3, "spearman")
    assert a.r == pytest.approx(b.r, nan_ok=True)


def test_ordered_logit_equals_statsmodels_and_recovers_the_truth():
    """The fast ordered logit fits exactly what OrderedModel(distr="logit") fits, and
    recovers known coefficients and cut points from simulated scores."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    rng = np.random.default_rng(7)
    n, beta, cuts = 20_000, np.array([0.8, -0.5]), np.array([-1.0, 0.0, 1.2, 2.5])
    x = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a", "b"])
    latent = x.to_numpy() @ beta + rng.logistic(size=n)
    y = pd.Series(pd.Categorical(1 + np.searchsorted(cuts, latent), ordered=True))
    fast = sat.OrderedLogit(y, x).fit(method="bfgs", disp=False, maxiter=500)
    slow = OrderedModel(y, x, distr="logit").fit(method="bfgs", disp=False, maxiter=500)
    np.testing.assert_allclose(fast.params, slow.params, rtol=1e-6)
    np.testing.assert_allclose(fast.bse, slow.bse, rtol=1e-4)
    low, high = fast.conf_int().to_numpy()[:2].T
    assert ((low < beta) & (beta < high)).all()
    thresholds = fast.model.transform_threshold_params(fast.params)[1:-1]
    np.testing.assert_allclose(thresholds, cuts, atol=0.1)


def test_spikes_draw_one_stem_per_value():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.core.plots import spikes

    _, ax = plt.subplots()
    (line,) = spikes(ax, pd.Series([0.5, 0.0, 2.0]))
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_array_equal(x[~np.isnan(x)], [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(y[~np.isnan(y)], [0, 0.5, 0, 0, 0, 2.0])
    assert np.isnan(x[2::3]).all() and np.isnan(y[2::3]).all()
    plt.close("all")


# -- C12: one estimate, one interval ---------------------------------------------------------


def indicator_frame(n: int = 3000, rhos=(0.10, 0.30, 0.50), seed: int = 0) -> pd.DataFrame:
    """Customers whose indicators have known correlations with profit (bivariate normal,
    controls independent of everything): the signed Spearman partial correlations are
    6/pi asin(rho/2). Response time and promotion share are signed -1."""
    rng = np.random.default_rng(seed)
    profit = rng.normal(size=n)

    def linked(rho):
        return rho * profit + np.sqrt(1 - rho**2) * rng.normal(size=n)

    survey = linked(rhos[0])
    frame = pd.DataFrame({
        "profit": profit, "satisfaction_mean": survey,
        "satisfaction_latest": survey + rng.normal(0, 0.1, n),   # the same survey
        "top_box": pd.array(survey > 1, dtype="boolean"),
        "would_recommend": np.clip(np.round(5 + 2 * survey), 0, 10),
        "median_response_hours": -linked(rhos[1]),
        "promo_share": -linked(rhos[2]),
        "avg_order_value": linked(0.9), "return_rate": -linked(0.6),
        "complaints_total": rng.poisson(1, n), "service_cost": rng.exponential(20, n),
        "tenure_days": rng.uniform(10, 2000, n), "orders_total": rng.integers(1, 20, n)})
    return frame


def test_c12_recovers_the_median_partial_correlation_and_keeps_profit_parts_apart():
    frame = indicator_frame()
    link = sat.indicator_link(frame, replicates=200, seed=1)
    truth = sat.spearman_of_normal(0.30)       # the median of the three indicators
    assert link.estimate.covers(truth)
    assert link.estimate.value == pytest.approx(truth, abs=0.04)
    # one survey counted once; order value, returns and (costly) complaints kept apart
    assert list(link.indicators["indicator"]) == ["satisfaction_mean",
                                                  "median_response_hours", "promo_share"]
    assert set(link.accounting["indicator"]) == {"avg_order_value", "return_rate",
                                                 "complaint_rate"}
    # their strong accounting links do not enter the estimate
    assert link.accounting["signed_r"].max() > 0.5 > link.estimate.high
    result = sc.claim_c12(link)
    assert result.verdict is Verdict.STRONGER or result.verdict is Verdict.HOLDS
    assert result.estimate == link.estimate.value and result.low < result.high
    verdict_part = result.summary.split(" Verdict: ")[1]
    assert verdict_part.count(". ") == 0 and ";" not in verdict_part   # one sentence


def test_c12_complaint_rate_is_an_indicator_when_complaints_carry_no_recorded_cost():
    frame = indicator_frame().drop(columns="service_cost")
    satisfaction, accounting = sat.split_indicators(sat.with_derived(frame))
    assert "complaint_rate" in satisfaction and "complaint_rate" not in accounting


def test_c12_without_a_link_is_weaker_and_says_no_material_difference():
    link = sat.indicator_link(indicator_frame(n=6000, rhos=(0.0, 0.02, 0.04), seed=3),
                              replicates=150)
    result = sc.claim_c12(link)
    assert result.verdict is Verdict.WEAKER
    assert "no material difference" in result.summary


@pytest.mark.slow
def test_c12_bootstrap_interval_covers_the_true_median():
    """60 simulated companies of 400 customers, 80 customer resamples each: the percentile
    interval of the median signed partial correlation should cover the true median (0.288)
    in 95% of companies (300 companies of 800 with 200 resamples: 95.0%). Accepted: at least
    53 of 60 (2.4 binomial standard deviations below 57)."""
    truth = sat.spearman_of_normal(0.30)
    covered = sum(sat.indicator_link(indicator_frame(400, seed=2000 + s), replicates=80,
                                     seed=90_000 + s).estimate.covers(truth)
                  for s in range(60))
    assert covered >= 53


# -- C8: the base-rate ceiling and the odds ratio -------------------------------------------


def repurchase_frame(p_top: float, p_below: float, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = np.repeat([5.0, 4.0], n)
    bought = np.concatenate([rng.random(n) < p_top, rng.random(n) < p_below])
    return pd.DataFrame({"satisfaction_latest": score,
                         "repurchase_next": pd.array(bought, dtype="boolean")})


def test_c8_odds_ratio_is_recovered_and_the_ceiling_says_when_6x_is_impossible():
    p_top, p_below = 0.6, 0.47
    risk = sc.repurchase_risk(repurchase_frame(p_top, p_below, 5000, seed=2), CSAT)
    odds_truth = (p_top / (1 - p_top)) / (p_below / (1 - p_below))
    assert risk.odds_ratio.covers(odds_truth)
    assert risk.risk_ratio.covers(p_top / p_below)
    assert risk.ceiling.covers(1 / p_below) and risk.ceiling.high < 6
    result = sc.claim_c8(repurchase_frame(p_top, p_below, 5000, seed=2), CSAT)
    assert result.verdict is Verdict.WEAKER
    assert "arithmetically impossible" in result.summary and "odds ratio" in result.summary
    assert result.details["claim_impossible"]
    # a rare base rate leaves room for 6x: no such sentence, and 6x can hold
    rare = sc.claim_c8(repurchase_frame(0.6, 0.1, 3000, seed=4), CSAT)
    assert "impossible" not in rare.summary and rare.verdict is Verdict.HOLDS


@pytest.mark.slow
def test_c8_odds_ratio_interval_covers_at_the_nominal_rate():
    p_top, p_below = 0.5, 0.3
    truth = (p_top / (1 - p_top)) / (p_below / (1 - p_below))
    covered = sum(sc.repurchase_risk(repurchase_frame(p_top, p_below, 400, seed=s),
                                     CSAT).odds_ratio.covers(truth) for s in range(400))
    assert 370 <= covered <= 390   # 95% of 400 = 380, +-2.3 binomial standard deviations


# -- C7: both readings and the company over time ---------------------------------------------


def readings_frame(n: int = 5000, seed: int = 0):
    """Top-box customers earn 40 more (mean profit 200): +5 percentage points of top-box
    customers raise mean profit by 0.05 * 40 / 200 = 1%."""
    rng = np.random.default_rng(seed)
    score = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=[0.05, 0.1, 0.2, 0.35, 0.3])
    top = score == 5
    profit = 200 + 40 * (top - top.mean()) + rng.normal(0, 50, n)
    return pd.DataFrame({"satisfaction_mean": score, "satisfaction_latest": score,
                         "top_box": pd.array(top, dtype="boolean"), "profit": profit,
                         "tenure_days": rng.uniform(10, 2000, n)})


def monthly_panel(months: int, seed: int = 0, per_month: int = 300) -> pd.DataFrame:
    """A company whose monthly top-box share moves; profit per customer follows it:
    log profit per customer = log 100 + 2 * share, so +5 points give exp(0.1) - 1."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(months):
        share = 0.3 + 0.1 * np.sin(m / 2) + rng.normal(0, 0.02)
        top = rng.random(per_month) < share
        level = 100 * np.exp(2 * top.mean())
        rows.append(pd.DataFrame({"month": f"2025-{m:03d}", "orders": 1.0,
                                  "top_box": pd.array(top, dtype="boolean"),
                                  "satisfaction_latest": np.where(top, 5.0, 4.0),
                                  "profit": level * rng.lognormal(-0.02, 0.2, per_month)}))
    return pd.concat(rows, ignore_index=True)


def test_c7_reports_both_readings_and_the_top_box_one_drives_the_verdict():
    frame = readings_frame()
    result = sc.claim_c7(frame, CSAT, panel=monthly_panel(24))
    readings = sc.satisfaction_readings(frame, CSAT, panel=monthly_panel(24))
    assert readings.top_box.covers(0.01)
    assert result.details["reading_used"] == "top_box"
    assert result.estimate == pytest.approx(readings.top_box.value)
    assert "percentage points more top-box customers" in result.summary
    assert "0.2 points on the csat5 scale" in result.summary
    assert "association over time" in result.summary
    assert readings.over_time.covers(np.expm1(0.1)) and readings.over_time.n == 24
    assert result.verdict is Verdict.WEAKER


def test_c7_over_time_needs_twelve_months_and_says_so():
    readings = sc.satisfaction_readings(readings_frame(), CSAT, panel=monthly_panel(8))
    assert readings.over_time is None and "at least 12 months" in readings.reasons["over_time"]
    result = sc.claim_c7(readings_frame(), CSAT, panel=monthly_panel(8))
    assert result.verdict is not Verdict.NOT_TESTABLE and "over time" not in result.summary


def test_c7_without_a_top_box_flag_uses_the_scale_reading_and_says_so():
    frame = readings_frame().drop(columns="top_box")
    result = sc.claim_c7(frame, CSAT)
    assert result.details["reading_used"] == "scale"
    assert "scale reading is used" in result.reading


# -- degenerate input: reasons in words, never exceptions -------------------------------------


def degenerate_frames():
    base = readings_frame(200)
    base["repurchase_next"] = pd.array(np.arange(200) % 2 == 0, dtype="boolean")
    one = base.copy()
    one.loc[one.index[1:], ["satisfaction_mean", "satisfaction_latest"]] = np.nan
    one["top_box"] = pd.array([True] + [pd.NA] * 199, dtype="boolean")
    flat = base.assign(satisfaction_mean=4.0, satisfaction_latest=4.0,
                       top_box=pd.array([False] * 200, dtype="boolean"))
    no_surveys = base.drop(columns=["satisfaction_mean", "satisfaction_latest", "top_box"])
    empty_box = base.assign(satisfaction_latest=5.0)
    no_profit = base.assign(profit=np.nan)
    return {"one surveyed customer": one, "zero variance": flat, "no surveys": no_surveys,
            "empty box below": empty_box, "no profit": no_profit, "no rows": base.iloc[:0]}


UNTESTABLE = {"one surveyed customer": {"C7", "C8", "C12"}, "zero variance": {"C7", "C8", "C12"},
              "no surveys": {"C7", "C8", "C12"}, "empty box below": {"C8"},
              "no profit": {"C7", "C12"}, "no rows": {"C7", "C8", "C12"}}


@pytest.mark.parametrize("name", list(degenerate_frames()))
def test_degenerate_satisfaction_input_gives_reasons(name):
    frame = degenerate_frames()[name]
    results = [sc.claim_c7(frame, CSAT, panel=monthly_panel(3)), sc.claim_c8(frame, CSAT),
               sc.claim_c12(frame, replicates=20)]
    untestable = {r.claim_id for r in results if r.verdict is Verdict.NOT_TESTABLE}
    assert untestable == UNTESTABLE[name]
    for result in results:
        text = result.reason or result.summary
        assert text and "nan" not in text.lower() and "None" not in text
    assert sc.claim_c12(None, "no surveys").reason == "no surveys"


# -- one month of data: no one at risk, no churner (issue 17) ---------------------------------


@pytest.mark.parametrize("at_risk, churned, words", [
    (False, False, "no customer was active at the start of the window"),
    (True, False, "nobody churned"),
])
def test_c10_without_customers_at_risk_or_churners_gives_a_reason(at_risk, churned, words):
    frame = _care_frame().assign(active_at_start=pd.array([at_risk] * 200),
                                 churned=pd.array([churned] * 200))
    share = sc.attributable_share(np.zeros(0, bool), np.zeros(0, bool))
    assert share.value is None and share.low is None and "no customer" in share.method
    result = sc.claim_c10(frame)
    assert result.verdict is Verdict.NOT_TESTABLE
    assert words in result.reason and "nan" not in result.reason.lower()
    with pytest.raises(ValueError, match=words):
        sc.care_churn(frame)
    nobody = sc.attributable_share(np.ones(10, bool), np.zeros(10, bool))
    assert nobody.value is None and "nobody churned" in nobody.method


def test_charts_draw_when_every_customer_of_a_group_stays_or_buys_again():
    """A Wilson upper end of 37/37 comes out a hair below 1 (matplotlib refuses negative
    error bars): the charts still draw."""
    import matplotlib

    matplotlib.use("Agg")
    hours = np.repeat([2.0, 10.0, 48.0, 100.0, 300.0], 37)
    stayed = np.concatenate([np.arange(37) < k for k in (37, 37, 30, 25, 20)])
    frame = pd.DataFrame({"median_response_hours": hours, "tenure_days": 365.0,
                          "satisfaction_mean": 5 - np.log10(hours),
                          "active_at_start": pd.array([True] * len(hours)),
                          "churned": pd.array(~stayed)})
    bands = sc.response_time_bands(frame)
    assert (bands.summary["high"] < bands.summary["retention"]).any()
    sat.plot_response_bands(bands)
    features = pd.DataFrame({
        "satisfaction_latest": [5.0] * 37 + [4.0] * 40,
        "repurchase_next": pd.array([True] * 37 + [True] * 20 + [False] * 20,
                                    dtype="boolean")})
    sat.plot_repurchase(sc.repurchase_risk(features, CSAT))


@pytest.mark.slow
def test_report_on_a_company_with_one_month_of_data_gives_reasons(tmp_path):
    """The section's entry point on exactly one complete month (issue 17): no exception
    (it used to draw a multinomial with NaN probabilities for C10), every claim answered,
    every missing part with a reason in words."""
    from analysis.core.text import reader_text_problems
    from analysis.engine.context import open_period
    from awkward_companies import PERIOD, write_company

    ctx = open_period(write_company(tmp_path, "one_month", 150), PERIOD)
    report = sat.satisfaction_report(ctx, replicates=20, seed=1)
    by_id = {c.claim_id: c for c in report.claims}
    assert set(by_id) == {"C7", "C8", "C9", "C10", "C12"}
    assert "no customer was active at the start of the window" in by_id["C10"].reason
    assert "do not reach back far enough" in by_id["C8"].reason
    for part in ("correlations", "regression", "repurchase", "response", "care", "drivers",
                 "by_period", "month_correlations", "segment_correlations"):
        if getattr(report, part) is None:
            text = report.why(part)
            assert "could not be computed" not in text and not reader_text_problems(text)
            assert "_" not in text.replace("satisfaction_mean", "").replace("top_box", "")


def test_equal_scores_or_equal_profit_give_reasons_not_zero_width_intervals():
    features = readings_frame(300)
    with pytest.raises(ValueError, match="same profit"):
        sat.profit_regression(features.assign(profit=10.0), CSAT)
    drivers = features.assign(satisfaction_latest=4.0, complaints_total=0.0,
                              unresolved_complaints=0.0, median_response_hours=np.nan,
                              promo_share=0.1)
    with pytest.raises(ValueError, match="same latest score"):
        sat.satisfaction_drivers(drivers)
    result = sc.claim_c7(features.assign(profit=10.0), CSAT)
    assert result.verdict is Verdict.NOT_TESTABLE or result.low != result.high
