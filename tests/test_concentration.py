"""Concentration: simulation with known truth, hand-made cases, properties, the demo company."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.analyses import concentration as c
from analysis.analyses.concentration.shares import _run_statistics
from analysis.analyses.concentration.tail import fit_tail
from analysis.core.results import Verdict
from analysis.data import demo

values = st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e6)), min_size=2,
                  max_size=60).filter(lambda v: sum(v) > 0)


def pareto_sample(index: float, n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).pareto(index, n) + 1) * 10.0


def test_exact_8020_index():
    assert c.pareto_top_share(c.EXACT_8020_INDEX, 0.2) == pytest.approx(0.8)


def test_pareto_8020_is_recovered_by_the_tail_index_and_its_implied_share():
    x = pareto_sample(c.EXACT_8020_INDEX, 20_000, seed=3)
    fit = fit_tail(x, gof_replicates=0)
    assert fit.index.covers(c.EXACT_8020_INDEX)
    implied = c.implied_top_share(fit.index, 0.2)
    assert implied.covers(0.80)
    # the empirical share of such a heavy tail sits below 80% in finite samples (documented)
    empirical = c.concentration(x, replicates=300, seed=1).shares[0.2]
    assert 0.65 < empirical.value < 0.80


def test_lighter_tail_index_is_recovered_and_gof_does_not_reject():
    x = pareto_sample(2.5, 5_000, seed=4)
    fit = fit_tail(x, gof_replicates=30, seed=2)
    assert fit.index.covers(2.5)
    assert fit.gof_p is not None and fit.gof_p > 0.1
    expected = c.pareto_top_share(2.5, 0.2)
    share = c.concentration(x, replicates=400, seed=1).shares[0.2]
    assert share.low - 0.01 <= expected <= share.high + 0.01


def test_lognormal_is_preferred_for_lognormal_data():
    x = np.random.default_rng(5).lognormal(3, 1.0, 20_000)
    fit = fit_tail(x, gof_replicates=0)
    assert fit.lognormal_lr < 0 and fit.preferred == "lognormal"


def test_equal_spends_have_zero_gini_and_proportional_shares():
    conc = c.concentration(np.full(100, 7.0), replicates=50)
    assert conc.gini.value == pytest.approx(0.0, abs=1e-12)
    for k, e in conc.shares.items():
        assert e.value == pytest.approx(k)
    assert conc.customers_for_80.value == pytest.approx(0.8)


def test_hand_made_shares_and_whale_curve():
    assert c.top_shares([50, 30, 10, 5, 5], (0.2, 0.4)) == pytest.approx([0.5, 0.8])
    assert c.customers_for_share([50, 30, 10, 5, 5], 0.8) == pytest.approx(0.4)
    whale = c.whale_curve([10, 5, -3, 1])        # sorted: 10, 5, 1, -3; total 13
    assert whale.peak == pytest.approx(16 / 13)
    assert whale.peak_at == pytest.approx(0.75)
    assert whale.unprofitable_share.value == pytest.approx(0.25)
    assert whale.profit_destroyed == pytest.approx(3 / 13)
    assert list(whale.curve["profit"]) == pytest.approx([0, 10 / 13, 15 / 13, 16 / 13, 1])


def test_bad_input_is_refused_with_the_column_name():
    with pytest.raises(ValueError, match="revenue: 1 missing"):
        c.concentration([1.0, np.nan, 3.0], "revenue")
    with pytest.raises(ValueError, match="non-negative"):
        c.gini([1.0, -2.0])
    with pytest.raises(ValueError, match="positive total profit"):
        c.whale_curve([-1.0, -2.0])


@settings(max_examples=60, deadline=None)
@given(values)
def test_shares_are_monotone_in_k_and_bounded(v):
    shares = c.top_shares(v, (0.01, 0.05, 0.1, 0.2, 0.5, 1.0))
    assert np.all(np.diff(shares) >= -1e-12)
    assert shares[-1] == pytest.approx(1.0)
    assert 0 <= c.gini(v) <= 1 + 1e-12


@settings(max_examples=60, deadline=None)
@given(values, st.floats(0.01, 1e4), st.randoms())
def test_scale_and_order_invariance(v, scale, rnd):
    shuffled = list(v)
    rnd.shuffle(shuffled)
    base = c.top_shares(v)
    assert c.top_shares(np.array(v) * scale) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert c.top_shares(shuffled) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert c.gini(np.array(shuffled) * scale) == pytest.approx(c.gini(v), rel=1e-9, abs=1e-12)


def test_bootstrap_weights_match_explicit_resampling():
    rng = np.random.default_rng(0)
    v = rng.lognormal(0, 1, 40)
    counts = next(c.bootstrap_counts(len(v), 1, seed=9))
    resample = np.repeat(v, counts[0].astype(int))
    assert c.top_shares(v, (0.2,), weights=counts)[0] == pytest.approx(
        c.top_shares(resample, (0.2,)), rel=1e-12)
    assert c.gini(v, weights=counts)[0] == pytest.approx(c.gini(resample), rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(-1e3, 1e6)), min_size=2, max_size=40),
       st.integers(0, 2**32 - 1))
def test_statistics_of_counts_equal_those_of_the_expanded_sorted_resample(v, seed):
    """The bootstrap works on counts (runs of equal values); expanding and sorting the
    resample must give the same shares, customers for 80% and Gini, negatives included."""
    v_desc = np.sort(np.array(v))[::-1]
    fractions = (0.01, 0.2, 0.28, 0.5, 1.0)
    for row in next(c.bootstrap_counts(len(v), 4, seed)):
        resample = np.repeat(v_desc, row.astype(int))
        if resample.sum() <= 0:
            continue
        nonneg = bool((resample >= 0).all())
        runs = _run_statistics(row, v_desc, fractions, with_gini=nonneg)
        expanded = _run_statistics(np.ones(len(resample)), resample, fractions,
                                     with_gini=nonneg)
        np.testing.assert_allclose(runs.shares, expanded.shares, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(runs.customers, expanded.customers, rtol=1e-9, atol=1e-12)
        if nonneg:
            np.testing.assert_allclose(runs.gini, expanded.gini, rtol=1e-9, atol=1e-12)
            assert runs.gini[0] == pytest.approx(c.gini(resample), rel=1e-9, abs=1e-12)


def test_bootstrap_does_not_depend_on_the_chunk_size():
    x = pareto_sample(2.0, 800, seed=2)
    small = c.concentration(x, replicates=120, seed=5, chunk=7).summary()
    large = c.concentration(x, replicates=120, seed=5, chunk=100).summary()
    cols = ["value", "low", "high"]
    np.testing.assert_allclose(small[cols].to_numpy(), large[cols].to_numpy(), rtol=1e-12)
    assert c.chunk_rows(35_528) == 100 and c.chunk_rows(355_000) == 11


def test_bootstrap_is_seeded():
    x = pareto_sample(2.0, 500, seed=1)
    a = c.concentration(x, replicates=100, seed=7).shares[0.2]
    b = c.concentration(x, replicates=100, seed=7).shares[0.2]
    assert (a.low, a.high) == (b.low, b.high)


def test_claim_c1_verdicts():
    near = c.concentration(pareto_sample(c.EXACT_8020_INDEX, 5000, 2), "profit",
                           c.PROFIT_FRACTIONS, replicates=200)
    assert c.claim_c1(near).verdict is not Verdict.NOT_TESTABLE
    flat = c.concentration(np.random.default_rng(1).uniform(90, 110, 2000), "profit",
                           c.PROFIT_FRACTIONS, replicates=200)
    result = c.claim_c1(flat)
    assert result.verdict is Verdict.WEAKER and "below" in result.summary
    assert c.claim_c1(None, "no cost data").verdict is Verdict.NOT_TESTABLE


def test_size_bands_and_c6_on_hand_made_data():
    rng = np.random.default_rng(2)
    revenue = np.concatenate([rng.uniform(1, 10, 100), rng.uniform(100, 1000, 400)])
    service = np.where(revenue < 10, 20.0, 5.0)
    features = pd.DataFrame({"revenue": revenue, "service_cost": service,
                             "profit": 0.3 * revenue - service})
    bands = c.size_bands(features)
    assert bands.table["customers"].sum() == 500
    assert bands.smallest_unprofitable.value == pytest.approx(1.0)
    assert c.claim_c6(bands).verdict is Verdict.HOLDS


def test_core_customers_tiers_and_trend():
    current = pd.DataFrame({"customer_id": list("abcdefghij"), "orders": 1,
                            "revenue": np.arange(10, 0, -1) * 10.0,
                            "profit": np.arange(10, 0, -1) * 1.0})
    previous = pd.DataFrame({"customer_id": ["a", "b"], "profit": [5.0, 9.0]})
    core = c.core_customers(current, previous)
    assert list(core["customer_id"]) == ["a", "b"]
    assert list(core["trend"]) == ["growing", "stable"]


def test_demo_concentration_matches_its_ground_truth(small_demo_config):
    from analysis.engine.context import open_period

    ctx = open_period(small_demo_config)
    start, end = ctx.window(12)
    features = ctx.features(start, end)
    buyers = features[features["orders"] > 0]
    observed = c.concentration(buyers["revenue"].to_numpy(), replicates=300, seed=1)
    latent = ctx.latent.set_index("customer_id").loc[buyers["customer_id"]]
    t0 = pd.Timestamp(demo.DEMO_START)
    alive_from = np.maximum((start - t0).days, (latent["first_purchase"] - t0).dt.days)
    alive_to = np.minimum((end - t0).days, (latent["dropout_date"] - t0).dt.days)
    months = np.clip(alive_to - alive_from, 0, None) / demo.DAYS_PER_MONTH
    expected = latent["purchase_rate"] * months * latent["expected_order_value"]
    implied = c.top_shares(expected.to_numpy()[expected.to_numpy() > 0], (0.2,))[0]
    # purchase noise and the first purchase make the observed share differ a little
    assert abs(observed.shares[0.2].value - implied) < 0.06


# -- the customers and the value the claims are measured on ---------------------------------


def window_frame(n_buyers: int = 400, n_costly: int = 100, n_idle: int = 50,
                 seed: int = 0, cogs: bool = True) -> pd.DataFrame:
    """Buyers with lognormal revenue, 40% margin and some service cost; non-buyers who cost
    service (known truth: their profit is minus their service cost); idle customers."""
    rng = np.random.default_rng(seed)
    revenue = np.concatenate([rng.lognormal(5, 1.0, n_buyers), np.zeros(n_costly + n_idle)])
    service = np.concatenate([rng.exponential(20, n_buyers), rng.uniform(10, 60, n_costly),
                              np.zeros(n_idle)])
    orders = np.concatenate([np.ones(n_buyers), np.zeros(n_costly + n_idle)])
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(revenue))],
                          "orders": orders, "revenue": revenue, "service_cost": service})
    frame["cogs"] = 0.6 * revenue if cogs else np.nan
    frame["gross_margin"] = revenue - frame["cogs"]
    frame["profit"] = frame["gross_margin"] - service
    return frame


def test_costly_non_buyers_are_counted_and_raise_the_top_share():
    frame = window_frame()
    counted = c.window_customers(frame, "profit")
    assert len(counted) == 500 and c.costly_non_buyers(frame).sum() == 100
    assert len(c.window_customers(frame, "revenue")) == 400
    report = c.concentration_report(frame, None, {12: frame}, replicates=200,
                                    gof_replicates=0)
    assert report.non_buyers == 100 and report.profit.n == 500
    truth_with = c.top_shares(counted["profit"], (0.2,))[0]
    truth_without = c.top_shares(frame.loc[frame["orders"] > 0, "profit"], (0.2,))[0]
    assert report.profit.shares[0.2].value == pytest.approx(truth_with)
    # adding customers with losses and no revenue concentrates profit further
    assert truth_with > truth_without
    assert list(report.comparison["top 20% share"]) == pytest.approx(
        [truth_with, truth_without])
    c1 = report.claims[0]
    assert "100 of whom bought nothing" in c1.summary and c1.details["basis"] == "profit"
    # C6: the non-buyers, without revenue, are the smallest band; the whale counts their losses
    assert report.bands.table["customers"].sum() == 500
    assert report.whale.unprofitable_share.value == pytest.approx(
        (counted["profit"] < 0).mean())


def test_without_cost_c1_is_tested_on_revenue_and_says_so():
    frame = window_frame(cogs=False)
    report = c.concentration_report(frame, None, {12: frame}, replicates=200,
                                    gof_replicates=0)
    c1, c2, c6 = report.claims
    assert report.profit is None and report.basis.kind == c.REVENUE
    assert c1.verdict is not Verdict.NOT_TESTABLE
    assert c1.estimate == pytest.approx(report.revenue.shares[0.2].value)
    assert "revenue" in c1.quantity and "not profit" in c1.quantity
    assert c1.summary.startswith("Tested on revenue, not profit")
    assert c2.verdict is Verdict.NOT_TESTABLE and "gross_margin" in c2.reason
    assert c6.verdict is Verdict.NOT_TESTABLE


def test_a_declared_margin_is_a_labelled_assumption():
    frame = window_frame(cogs=False)
    report = c.concentration_report(frame, None, {12: frame}, replicates=200,
                                    gof_replicates=0, gross_margin=0.4)
    assert report.basis.kind == c.ASSUMED
    counted = c.window_customers(frame, "profit")
    assumed = 0.4 * counted["revenue"] - counted["service_cost"]
    assert report.profit.shares[0.2].value == pytest.approx(c.top_shares(assumed, (0.2,))[0])
    for claim in report.claims:
        assert claim.verdict is not Verdict.NOT_TESTABLE
        assert "assumed 40% gross margin" in claim.summary
        assert claim.details["basis"] == c.ASSUMED
    # measured cost wins over a declared margin
    measured = c.concentration_report(window_frame(), None, {}, replicates=50,
                                      gof_replicates=0, gross_margin=0.9)
    assert measured.basis.kind == c.PROFIT


@pytest.mark.parametrize("frame, words", [
    (window_frame(n_buyers=0, n_costly=0, n_idle=5), "bought"),
    (window_frame(n_buyers=1, n_costly=3, n_idle=0), "customers"),
    (window_frame(n_buyers=30, n_costly=0, n_idle=0), "at least"),
    (window_frame().assign(revenue=5.0, cogs=3.0, gross_margin=2.0, service_cost=0.0,
                           profit=2.0), ""),
    (window_frame().assign(service_cost=np.nan, profit=lambda f: f["gross_margin"]), "service"),
    (window_frame().assign(cogs=5e6, gross_margin=-5e6, profit=-5e6), "not positive"),
])
def test_degenerate_windows_give_reasons_not_exceptions(frame, words):
    report = c.concentration_report(frame, None, {1: frame, 12: frame}, replicates=50,
                                    gof_replicates=0)
    assert len(report.claims) == 3
    for claim in report.claims:
        if claim.verdict is Verdict.NOT_TESTABLE:
            assert claim.reason and "nan" not in claim.reason
    assert words in " ".join([*(cl.reason or cl.summary for cl in report.claims),
                              *report.notes])


def test_percentile_t_interval_agrees_with_a_numerical_standard_error():
    """The influence-function standard error of a top share matches the spread of the
    share over many independent samples."""
    rng = np.random.default_rng(4)
    draws = [rng.lognormal(0, 1.0, 3000) for _ in range(300)]
    shares = np.array([c.top_shares(x, (0.2,))[0] for x in draws])
    ses = []
    for x in draws[:50]:
        v = np.sort(x)[::-1]
        s = c.top_shares(v, (0.2,))
        ses.append(c.share_standard_errors(np.ones((1, len(v))), v, (0.2,), s[None, :])[0, 0])
    assert np.mean(ses) == pytest.approx(shares.std(ddof=1), rel=0.15)


@pytest.mark.slow
def test_top_share_interval_covers_the_population_share_at_the_nominal_rate():
    """Superpopulation: lognormal spend (sigma 1), 1,000 customers; the population top-20%
    share is 1 - Phi(Phi^-1(0.8) - sigma). The percentile-t interval covered it 94.5% of the
    time in 1,000 companies (the plain percentile interval 93% at sigma 1, 91-92% at sigma
    1.5). Here 300 companies with 300 replicates each: the count must lie within 2.6
    binomial standard deviations of 95% (276 to 294 of 300)."""
    from scipy import stats

    sigma, companies = 1.0, 300
    truth = 1 - stats.norm.cdf(stats.norm.ppf(0.8) - sigma)
    rng = np.random.default_rng(2026)
    covered = sum(c.concentration(rng.lognormal(0, sigma, 1000), "revenue", (0.2,), 300,
                                  seed=i).shares[0.2].covers(truth) for i in range(companies))
    assert 276 <= covered <= 294


def test_group_share_hand_made_and_degenerate():
    e = c.group_share([10.0, 20.0, 30.0, 40.0], [False, False, False, True], 200, seed=1)
    assert e.value == pytest.approx(0.4) and e.low < 0.4 < e.high and e.n == 4
    assert c.group_share([0.0, 0.0], [True, False]).value is None


@pytest.mark.slow
def test_group_share_interval_covers_a_heavy_tailed_top_tier():
    """The segments' top-tier profit share (5% top customers with lognormal profit of mean
    20, the rest mean 1; the simulation of tests/test_segments.py): the percentile interval
    covered it 92.2% of 1,000 companies, this percentile-t interval 94.2%. Here 300
    companies: within 2.6 binomial standard deviations of 95% (276 to 294)."""
    rng = np.random.default_rng(17)
    truth = 0.05 * 20 / (0.05 * 20 + 0.95)
    covered = 0
    for _ in range(300):
        top = rng.random(2000) < 0.05
        profit = rng.lognormal(np.log(np.where(top, 20.0, 1.0)) - 0.5, 1.0)
        covered += c.group_share(profit, top, 300, seed=int(rng.integers(1e9))).covers(truth)
    assert 276 <= covered <= 294


# -- too few buyers: the report returns with reasons (issue 17) -----------------------------


def empty_window() -> pd.DataFrame:
    """The window of a subscription-only company: no customer rows at all, string ids."""
    return window_frame(n_buyers=0, n_costly=0, n_idle=0).astype({"customer_id": "string"})


@pytest.mark.parametrize("frame, purchases, words", [
    (empty_window(), False, "no purchase records: a subscription-only company"),
    (empty_window(), True, "only 0 customers bought in the window"),
    (window_frame(n_buyers=0, n_costly=20, n_idle=5), True, "only 0 customers bought"),
    (window_frame(n_buyers=12, n_costly=3, n_idle=0), True, "only 12 customers bought"),
])
def test_too_few_buyers_make_every_claim_not_testable_with_the_reason(frame, purchases, words):
    previous = empty_window()
    report = c.concentration_report(frame, previous, {1: frame, 12: frame}, replicates=50,
                                    gof_replicates=0, purchases=purchases)
    assert report.reason.startswith(words)
    assert [cl.claim_id for cl in report.claims] == ["C1", "C2", "C6"]
    for claim in report.claims:
        assert claim.verdict is Verdict.NOT_TESTABLE and claim.reason == report.reason
        assert claim.quantity and claim.reading
    assert report.measure is None and report.headlines() == {}
    assert report.by_window.empty and report.core.empty
    assert c.core_summary(report.core).empty
    assert report.not_shown("chart") == f"*No chart: {words}" + report.reason[len(words):] + ".*"
    assert "nan" not in report.reason and report.tail.verdict_text()


def test_core_trend_is_unknown_without_an_earlier_window():
    current = pd.DataFrame({"customer_id": list("abcdefghij"), "orders": 1,
                            "revenue": np.arange(10, 0, -1) * 10.0,
                            "profit": np.arange(10, 0, -1) * 1.0})
    for previous in (current.iloc[:0], current.assign(orders=0, profit=0.0)):
        core = c.core_customers(current, previous)
        assert set(core["trend"]) == {"unknown (no full earlier window)"}
        summary = c.core_summary(core)
        assert "growing" not in summary and set(summary["trend"]) == {
            "unknown (no full earlier window)"}


def test_windows_before_the_data_are_dropped_and_the_short_window_is_said():
    end = pd.Timestamp("2026-11-01")

    def window(m):
        return end - pd.DateOffset(months=m), end

    assert c.covered_windows((1, 3, 6, 12), window, "2026-10-01") == [1]
    assert c.covered_windows((12, 1, 6, 3), window, "2026-05-17") == [1, 3, 6]
    assert c.covered_windows((1, 3, 6, 12), window, "2020-01-01") == [1, 3, 6, 12]
    note = c.coverage_note(window(12)[0], 12, "2026-10-03")
    assert note.startswith("The data begin in October 2026, so the 12-month window holds "
                           "only 1 month of data")
    assert "holds only 6 months" in c.coverage_note(window(12)[0], 12, "2026-05-17")
    assert c.coverage_note(window(12)[0], 12, "2025-11-01") is None


def test_core_summary_does_not_show_unknown_profit_as_zero():
    current = pd.DataFrame({"customer_id": list("abcdefghij"), "orders": 1,
                            "revenue": np.arange(10, 0, -1) * 10.0, "profit": np.nan})
    summary = c.core_summary(c.core_customers(current, None, by="revenue"))
    assert "profit" not in summary and summary["revenue"].sum() == 190.0


def test_recurring_revenue_concentration_counts_active_subscribers_only():
    rng = np.random.default_rng(4)
    n = 300
    charge = rng.lognormal(3, 0.8, n)
    subs = pd.DataFrame({"customer_id": [f"s{i}" for i in range(n)],
                         "start": pd.Timestamp("2025-01-01"),
                         "end": [pd.NaT] * 200 + [pd.Timestamp("2025-06-01")] * 100,
                         "recurring_charge": charge})
    result = c.recurring_concentration(subs, "2026-10-31", replicates=100, seed=1)
    assert result.n == 200 and result.measure == "monthly recurring revenue"
    assert result.shares[0.2].value == pytest.approx(c.top_shares(charge[:200], (0.2,))[0])
    assert c.recurring_concentration(subs.iloc[:40], "2026-10-31") is None
    assert c.recurring_concentration(subs.drop(columns="recurring_charge"), "2026-10-31") is None
    assert c.recurring_concentration(None, "2026-10-31") is None


def test_a_tail_of_equal_values_is_not_fitted_and_says_why():
    fit = fit_tail(np.full(400, 25.0), gof_replicates=0)
    assert fit.xmin is None and "1 distinct value" in fit.reason
    assert "only 3 customers" in fit_tail([1.0, 2.0, 3.0], gof_replicates=0).reason


def test_report_on_a_subscription_snapshot_returns_with_reasons():
    """The telecom snapshot (no purchase records) used to stop the section (issue 17)."""
    from pathlib import Path

    from analysis.analyses.subscriptions import subscriptions_of
    from analysis.engine.context import open_period

    config = Path(__file__).parents[1] / "config/examples/subscription_snapshot.toml"
    ctx = open_period(config)
    start, end = ctx.window(12)
    report = c.concentration_report(
        ctx.features(start, end), ctx.features(start - pd.DateOffset(months=12), start),
        {m: ctx.features(*ctx.window(m)) for m in (1, 12)}, replicates=50, gof_replicates=0,
        purchases=ctx.data.has("transactions"))
    assert report.reason == "no purchase records: a subscription-only company"
    assert {cl.verdict for cl in report.claims} == {Verdict.NOT_TESTABLE}
    recurring = c.recurring_concentration(subscriptions_of(ctx), end - pd.Timedelta(days=1),
                                          replicates=50)
    assert recurring is not None and recurring.n >= c.MIN_CUSTOMERS
