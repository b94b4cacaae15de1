"""Satisfaction: interval coverage, recovery of the demo's known effects, missing data, claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import satisfaction as sat
from analysis import satisfaction_claims as sc
from analysis.contract import Scale
from analysis.results import Verdict

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
    assert result.verdict is Verdict.NOT_SUPPORTED  # 1.5x is far from the claimed 6x


@pytest.fixture(scope="module")
def demo_ctx(small_demo_config):
    from analysis.context import open_period

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
    assert c7.verdict is Verdict.NOT_SUPPORTED and c7.high < 1.0  # nowhere near doubling
    assert all(c.n for c in report.claims if c.verdict is not Verdict.NOT_TESTABLE)


def test_without_surveys_the_satisfaction_claims_are_not_testable(demo_ctx):
    import dataclasses

    data = dataclasses.replace(demo_ctx.data, surveys=None, satisfaction_scale=None)
    ctx = dataclasses.replace(demo_ctx, data=data, cache_dir=None)
    report = sc.satisfaction_report(ctx)
    by_id = {c.claim_id: c for c in report.claims}
    for claim in ("C7", "C8", "C12"):
        assert by_id[claim].verdict is Verdict.NOT_TESTABLE
        assert by_id[claim].reason
