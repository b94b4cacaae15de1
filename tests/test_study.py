"""The simulation study of the claims: its truth, coverage and verdict bookkeeping (fast), and
a small study end to end (slow; the full study is `studies/simulation_study.py`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.analyses import study
from analysis.analyses.claims import CLAIM_IDS, claim_rules
from analysis.core.results import ClaimResult, Verdict
from analysis.data import demo

RULES = claim_rules()


# -- truth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("claim", "values", "expected"), [
    ("C1", {"C1": 0.90}, Verdict.STRONGER),      # 80% claimed, 75-85% counts as 80%
    ("C1", {"C1": 0.80}, Verdict.HOLDS),
    ("C1", {"C1": 0.60}, Verdict.WEAKER),
    ("C3", {"C3": 0.60}, Verdict.HOLDS),         # lower hazard beyond the 1/1.1 margin
    ("C3", {"C3": 1.00}, Verdict.WEAKER),        # no difference is never support
    ("C11", {"C11": 0.20}, Verdict.HOLDS),       # inside 5-30%
    ("C11", {"C11": 0.40}, Verdict.WEAKER),
    ("C5", {"C5 frequency": 0.5, "C5 breadth": 0.5}, Verdict.HOLDS),
    ("C5", {"C5 frequency": 1.0, "C5 breadth": 0.5}, Verdict.WEAKER),   # both must hold
])
def test_true_verdict_is_the_rule_at_the_true_value(claim, values, expected):
    assert study.true_verdict(RULES[claim], values) is expected


def test_true_verdict_without_a_value_is_not_testable():
    assert study.true_verdict(RULES["C1"], {}) is Verdict.NOT_TESTABLE
    assert study.true_verdict(RULES["C1"], {"C1": math.nan}) is Verdict.NOT_TESTABLE


def test_structural_truths_are_the_generators_parameters():
    s = study.structural_truths(demo.default_truth())
    assert s["C3"] == pytest.approx(0.6)
    assert s["C4"] == pytest.approx(math.exp(0.5))
    assert s["C5 frequency"] == 1.0
    assert s["C5 breadth"] == pytest.approx(math.exp(-0.15))
    null = study.structural_truths(demo.default_truth(overrides=study.SETTINGS["null"]))
    assert set(null.values()) == {1.0}


def test_truth_table_uses_the_realised_churn_for_c11():
    estimands = {"demo": {"C11": 0.50, "C11 (realised)": 0.20, "C1": 0.9}}
    table = study.true_verdicts(estimands).set_index("claim")
    assert table.loc["C11", "true_verdict"] == Verdict.HOLDS.value
    assert table.loc["C1", "true_verdict"] == Verdict.STRONGER.value
    assert table.loc["C3", "structural_verdict"] == Verdict.HOLDS.value
    assert table.loc["C2", "true_verdict"] == Verdict.NOT_TESTABLE.value   # no truth given


def test_primary_truth_is_realised_for_c11_and_the_estimand_otherwise():
    estimands = {"demo": {"C1": 0.88, "C11": 0.31}}
    assert study.primary_truth({"claim": "C11", "quantity": "C11", "setting": "demo",
                                "realised": 0.25}, estimands) == 0.25
    assert study.primary_truth({"claim": "C1", "quantity": "C1", "setting": "demo",
                                "realised": None}, estimands) == 0.88
    assert study.primary_truth({"claim": "C1", "quantity": "C1", "setting": "other"},
                               estimands) is None


# -- adapters --------------------------------------------------------------------------------


def test_adapters_split_a_claim_in_parts_and_skip_untestable_claims():
    c5 = ClaimResult("C5", Verdict.WEAKER, "", 1.0, 0.9, 1.1, 100, details={
        "frequency_hr": 1.0, "frequency_low": 0.9, "frequency_high": 1.1,
        "breadth_hr": 0.8, "breadth_low": 0.7, "breadth_high": 0.9})
    parts = study.quantities(c5)
    assert set(parts) == {"C5 frequency", "C5 breadth"}
    assert (parts["C5 breadth"].low, parts["C5 breadth"].high) == (0.7, 0.9)
    assert study.quantities(ClaimResult.not_testable("C1", "no cost")) == {}
    whole = study.quantities(ClaimResult("C6", Verdict.HOLDS, "", -3.0, -5.0, -1.0, 50))
    assert whole["C6"].value == -3.0


def test_c12_is_one_quantity_its_median_correlation():
    """claim_c12 answers with one estimate (the median partial correlation): the study
    compares that one interval with its truth."""
    result = ClaimResult("C12", Verdict.WEAKER, "", 0.07, 0.06, 0.09, 500,
                         details={"indicators": ["satisfaction_mean"]})
    part = study.quantities(result)["C12"]
    assert (part.value, part.low, part.high) == pytest.approx((0.07, 0.06, 0.09))


def test_a_first_year_ratio_is_recognised_from_the_method_or_the_parts_details():
    whole = ClaimResult("C3", Verdict.HOLDS, "", 0.6, 0.5, 0.7, 100, method="Cox hazard ratio")
    first = ClaimResult("C3", Verdict.HOLDS, "", 0.6, 0.5, 0.7, 100,
                        method="Cox hazard ratio in the first 365 days after the landmark")
    assert not study.first_year(study.quantities(whole)["C3"])
    assert study.first_year(study.quantities(first)["C3"])
    c5 = ClaimResult("C5", Verdict.WEAKER, "", 1.0, 0.9, 1.1, 100, details={
        "frequency_hr": 1.0, "frequency_low": 0.9, "frequency_high": 1.1,
        "frequency_ph_holds": False})
    assert study.first_year(study.quantities(c5)["C5 frequency"])


def test_truths_of_several_companies_average_ratios_on_the_log_scale():
    out = study.average_truths([{"C3": 0.5, "C1": 0.8, "C3 (first-year ratio)": 1.0},
                                {"C3": 2.0, "C1": 0.9, "C3 (first-year ratio)": 0.0},
                                {"_seed": 3, "C1": 1.0}])
    assert out["C3"] == pytest.approx(1.0)          # geometric mean of 0.5 and 2
    assert out["C1"] == pytest.approx(0.9)
    assert out["C3 (first-year ratio)"] == pytest.approx(0.5)
    assert "_seed" not in out


# -- coverage bookkeeping --------------------------------------------------------------------


def test_binomial_interval_is_clopper_pearson():
    low, high = study.binomial_interval(190, 200)
    assert low < 0.95 < high
    assert (low, high) == pytest.approx((0.9100, 0.9757), abs=5e-4)
    assert study.binomial_interval(0, 10)[0] == 0.0
    assert study.binomial_interval(10, 10)[1] == 1.0


def _rows(k: int, n: int, truth: float = 1.0) -> list[dict]:
    """n companies of one ratio claim (C3) whose intervals cover ``truth`` in k of them."""
    rows = []
    for i in range(n):
        centre = truth if i < k else truth * 3
        rows.append({"setting": "demo", "seed": i, "claim": "C3", "quantity": "C3",
                     "estimate": centre, "low": centre / 1.2, "high": centre * 1.2, "n": 100,
                     "verdict": Verdict.INCONCLUSIVE.value, "reason": None, "realised": None,
                     "structural": 0.5})
    return rows


def test_coverage_table_counts_covering_intervals_with_log_bias_for_ratios():
    frame = study.with_truth(_rows(45, 50, truth=0.8), {"demo": {"C3": 0.8}})
    row = study.coverage_table(frame).set_index(["quantity", "setting"]).loc[("C3", "all")]
    assert (row["covered"], row["with_interval"]) == (45, 50)
    assert row["coverage"] == pytest.approx(0.9)
    assert not row["in_band"]
    assert row["scale"] == "log"
    assert row["bias"] == pytest.approx(5 / 50 * math.log(3))
    assert row["mean_width"] == pytest.approx(2 * math.log(1.2))
    assert row["bias_vs_structural"] == pytest.approx(math.log(0.8 / 0.5) + row["bias"])


def test_verdict_confusion_flags_decisive_verdicts_on_the_wrong_side():
    rows = _rows(3, 3)
    rows[0]["verdict"] = Verdict.HOLDS.value
    rows[1]["verdict"] = Verdict.WEAKER.value
    out = study.summary(rows, {"demo": {"C3": 1.0}})     # truth: no difference -> weaker
    wrong = out["wrong"].set_index("claim").loc["C3"]
    assert (wrong["companies"], wrong["exact"], wrong["contradicting"]) == (3, 1, 1)


# -- one small study, end to end (slow) ------------------------------------------------------


@pytest.mark.slow
def test_a_small_study_covers_the_truth_and_judges_every_claim(tmp_path):
    """20 companies of 1,500 customers against a 20,000-customer truth company: every claim is
    estimated with an interval in most companies, and the intervals cover the truth about as
    often as promised (a loose bound: 20 companies cannot pin coverage down)."""
    truths = {"demo": study.estimand_truths("demo", 20_000, folder=tmp_path / "truth")}
    rows = [r for seed in range(1, 21) for r in study.simulate("demo", seed, 1500, 200)]
    frame = study.with_truth(rows, truths)
    assert set(frame["claim"]) == set(CLAIM_IDS)
    with_interval = frame.groupby("claim")["covered"].apply(lambda c: c.notna().mean())
    assert (with_interval >= 0.8).all(), with_interval
    pooled = frame["covered"].dropna().astype(float).mean()
    assert pooled >= 0.85, f"pooled coverage {pooled:.1%}"
    out = study.summary(rows, truths)
    assert out["wrong"]["contradicting"].sum() <= 0.05 * len(rows)
    assert np.isfinite(out["coverage"]["coverage"]).all()
