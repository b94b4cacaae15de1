"""The demo company: deterministic, honest to its ground truth, clean through the contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data import demo
from analysis.engine.context import open_period


@pytest.fixture(scope="module")
def company():
    return demo.generate(n_customers=3000, seed=7)


def test_same_seed_same_data_other_seed_other_data(company):
    tables, truth, latent = company
    again, truth2, latent2 = demo.generate(n_customers=3000, seed=7)
    for name in tables:
        pd.testing.assert_frame_equal(tables[name], again[name])
    pd.testing.assert_frame_equal(latent, latent2)
    assert truth == truth2
    other, _, _ = demo.generate(n_customers=3000, seed=8)
    assert not other["transactions"]["revenue"].equals(tables["transactions"]["revenue"])


def test_truth_documents_the_effects(company):
    _, truth, _ = company
    log_hr = truth["dropout"]["log_hr"]
    assert log_hr["referral"] == pytest.approx(np.log(0.6))
    assert {"satisfaction_per_point", "promo_propensity", "breadth_per_category",
            "log2_response_hours_over_24", "never_contacted"} <= set(log_hr)
    assert truth["spend"]["log_spend_per_satisfaction_point"] > 0


def test_latent_dropout_rates_follow_the_stated_hazard_model(company):
    _, truth, latent = company
    beta, centre = truth["dropout"]["log_hr"], truth["dropout"]["centres"]
    expected = np.log(truth["dropout"]["base_rate_per_month"]) + (
        beta["satisfaction_per_point"] * (latent["satisfaction"] - centre["satisfaction"])
        + beta["referral"] * (latent["channel"] == "referral")
        + beta["promo_propensity"] * (latent["promo_propensity"] - centre["promo_propensity"])
        + beta["breadth_per_category"] * (latent["breadth"] - centre["breadth"])
        + beta["log2_response_hours_over_24"] * np.log2(latent["response_hours"] / 24)
        + beta["never_contacted"] * ~latent["cared_for"])
    np.testing.assert_allclose(np.log(latent["dropout_hazard"]), expected, rtol=1e-10)


def test_purchases_sit_inside_each_customers_life(company):
    tables, _, latent = company
    tx = tables["transactions"].dropna(subset=["customer_id"])
    sales = tx[~tx["is_return"]].merge(latent[["customer_id", "first_purchase", "dropout_date"]],
                                       on="customer_id")
    assert (sales["timestamp"] >= sales["first_purchase"]).all()
    assert (sales["timestamp"] <= sales["dropout_date"]).all()
    assert tx["timestamp"].max() < pd.Timestamp(demo.DEMO_END)


def test_purchase_counts_match_the_poisson_rates(company):
    tables, truth, latent = company
    sales = tables["transactions"]
    orders = sales[~sales["is_return"]].drop_duplicates(["customer_id", "timestamp"])
    observed = orders["customer_id"].value_counts()
    life = (latent["dropout_date"].clip(upper=pd.Timestamp(demo.DEMO_END))
            - latent["first_purchase"]).dt.total_seconds().clip(lower=0)
    life = life / 86400 / demo.DAYS_PER_MONTH
    expected = (latent["purchase_rate"] * life + (latent["first_purchase"] <
                                                  pd.Timestamp(demo.DEMO_END))).sum()
    # anonymous lines hide ~0.5% of orders; Poisson noise on ~40k orders is ~0.5%
    assert observed.sum() == pytest.approx(expected, rel=0.03)


def test_size_parameter_scales_transactions():
    n = demo.size_for_transactions(100_000)
    tables, _, _ = demo.generate(n_customers=n, seed=1)
    assert 70_000 < len(tables["transactions"]) < 140_000


def test_demo_loads_through_the_contract_and_ledger_reconciles(small_demo_config):
    ctx = open_period(small_demo_config, "2026-10", cache_dir=None)
    reasons = set(ctx.ledger.excluded()["reason"])
    assert {"anonymous (no customer id)", "cancelled order"} <= reasons
    assert ctx.ledger.reconciles
    assert ctx.truth["n_customers"] == 1500 and len(ctx.latent) == 1500


def test_overrides_change_the_named_parameters_only():
    base = demo.default_truth()
    changed = demo.default_truth(overrides={"dropout": {"log_hr": {"referral": 0.0}},
                                            "purchase_rate": {"gamma_shape": 0.4}})
    assert changed["dropout"]["log_hr"]["referral"] == 0.0
    assert changed["purchase_rate"] == {"gamma_shape": 0.4, "mean_per_month": 0.7}
    assert changed["dropout"]["log_hr"]["promo_propensity"] == \
        base["dropout"]["log_hr"]["promo_propensity"]
    assert base["dropout"]["log_hr"]["referral"] == pytest.approx(np.log(0.6))  # not mutated
    assert demo.default_truth(overrides={}) == base


def test_an_unknown_override_is_an_error_naming_the_parameter():
    with pytest.raises(KeyError, match="gamma_shap"):
        demo.default_truth(overrides={"purchase_rate": {"gamma_shap": 0.4}})


def test_the_demo_company_has_no_frailty_and_an_override_adds_it():
    """The optional frailty is absent from the demo's truth (its truth.json is unchanged) and
    draws nothing unless set, so the demo company stays the same file for file."""
    assert "frailty_sd" not in demo.default_truth()["dropout"]
    tables, truth, latent = demo.generate(n_customers=500, seed=3, overrides={})
    again, _, _ = demo.generate(n_customers=500, seed=3)
    pd.testing.assert_frame_equal(tables["transactions"], again["transactions"])
    _, frail_truth, frail = demo.generate(n_customers=4000, seed=3, overrides={
        "dropout": {"frailty_sd": 0.5, "log_hr": {k: 0.0 for k in
                                                  truth["dropout"]["log_hr"]}}})
    assert frail_truth["dropout"]["frailty_sd"] == 0.5
    log_hazard = np.log(frail["dropout_hazard"] / truth["dropout"]["base_rate_per_month"])
    assert log_hazard.std() == pytest.approx(0.5, rel=0.1)


def test_true_churn_counts_the_latent_dropouts_of_customers_alive_at_the_end():
    latent = pd.DataFrame({
        "first_purchase": pd.to_datetime(["2026-01-01"] * 4 + ["2027-01-01"]),
        "dropout_date": pd.to_datetime(["2026-06-01", "2027-03-01", "2028-03-01",
                                        "2027-10-01", "2027-02-01"])})
    out = demo.true_churn(latent, "2026-11-01", 12)
    assert out["alive_now"] == 3            # the first left before, the last not yet bought
    assert out["forward"] == pytest.approx(2 / 3)   # 2027-03 and 2027-10 within 12 months
