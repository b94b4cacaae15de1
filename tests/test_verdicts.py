"""The one verdict rule: constructed intervals for every claim, p-values that agree with
the interval, the correction across claims, and company margins from the config."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.analyses.claims import (
    CLAIM_IDS,
    RULES,
    ClaimConfigError,
    build_scorecard,
    claim_rules,
)
from analysis.core.results import ClaimResult, Estimate, Verdict, to_jsonable
from analysis.core.verdicts import (
    ALPHA,
    ClaimRule,
    Direction,
    Judgement,
    Scale,
    adjust_for_family,
    answer,
    judge,
    judge_all,
)

RULE_SET = claim_rules()


def interval(rule: ClaimRule, low: float, high: float) -> Estimate:
    """An estimate in the middle of [low, high] (geometric middle on a log scale)."""
    mid = math.sqrt(low * high) if rule.scale is Scale.LOG else (low + high) / 2
    return Estimate(mid, low, high, 500, "constructed")


def between(rule: ClaimRule, a: float, b: float, t: float) -> float:
    """The point a fraction t of the way from a to b on the rule's scale."""
    if rule.scale is Scale.LOG:
        return math.exp(math.log(a) + t * (math.log(b) - math.log(a)))
    return a + t * (b - a)


def beyond(rule: ClaimRule, x: float, sign: int, amount: float = 0.5) -> float:
    step = max(abs(x), 0.1) * amount if rule.scale is Scale.LINEAR else amount
    return rule.shift(x, sign * step)


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_every_claim_follows_the_rule_on_constructed_intervals(claim_id):
    rule = RULE_SET[claim_id]
    near, far = rule.edges
    if rule.direction is Direction.INSIDE:
        cases = {
            Verdict.HOLDS: (between(rule, near, far, 0.2), between(rule, near, far, 0.8)),
            Verdict.WEAKER: (beyond(rule, far, +1, 0.2), beyond(rule, far, +1, 0.6)),
            Verdict.INCONCLUSIVE: (between(rule, near, far, 0.5), beyond(rule, far, +1)),
        }
        low_side = (beyond(rule, near, -1, 0.6), beyond(rule, near, -1, 0.2))
        assert judge(rule, interval(rule, *sorted(low_side))).verdict is Verdict.WEAKER
    else:
        s = 1 if rule.direction is Direction.HIGHER else -1
        short = sorted((beyond(rule, near, -s, 0.6), beyond(rule, near, -s, 0.2)))
        straddle = sorted((beyond(rule, near, -s, 0.2), beyond(rule, near, s, 0.2)))
        cases = {Verdict.WEAKER: short, Verdict.INCONCLUSIVE: straddle}
        if far is None:
            cases[Verdict.HOLDS] = sorted((beyond(rule, near, s, 0.2),
                                           beyond(rule, near, s, 0.6)))
        else:
            cases[Verdict.HOLDS] = sorted((between(rule, near, far, 0.1),
                                           between(rule, near, far, 0.9)))
            cases[Verdict.STRONGER] = sorted((beyond(rule, far, s, 0.1),
                                              beyond(rule, far, s, 0.5)))
    for expected, (low, high) in cases.items():
        j = judge(rule, interval(rule, low, high))
        assert j.verdict is expected, (claim_id, expected, low, high, j.finding)
    assert judge(rule, Estimate(0.5, None, None, 10)).verdict is Verdict.NOT_TESTABLE
    assert judge(rule, Estimate(0.5, 0.5, 0.5, 10)).verdict is Verdict.NOT_TESTABLE
    assert judge(rule, None).verdict is Verdict.NOT_TESTABLE
    assert judge(rule, Estimate(float("nan"), 0.1, 0.2, 10)).verdict is Verdict.NOT_TESTABLE


def test_the_demo_findings_of_the_review_read_correctly():
    # C1: 88% [87.0%, 89.3%] is more concentrated than 80/20, not "not supported"
    c1 = judge(RULE_SET["C1"], Estimate(0.882, 0.870, 0.893, 12083))
    assert c1.verdict is Verdict.STRONGER
    # C4: a hazard ratio of 1.064 [1.032, 1.098] lies inside the no-difference band
    c4 = judge(RULE_SET["C4"], Estimate(1.064, 1.032, 1.098, 9000))
    assert c4.verdict is Verdict.WEAKER and "no material difference" in c4.finding
    # C11 has no stronger side: outside the band is a contradiction, both ways
    assert judge(RULE_SET["C11"], Estimate(0.43, 0.41, 0.45, 900)).verdict is Verdict.WEAKER
    # C7 read as +5 percentage points of top-box customers: +1.1% [0.1%, 2.0%] of profit
    c7 = judge(RULE_SET["C7"], Estimate(0.011, 0.001, 0.020, 11210))
    assert c7.verdict is Verdict.WEAKER and "+0.1% to +2.0%" in c7.finding
    # C8: a risk ratio capped at 2.1 by the base rate cannot reach 6x: weaker, by the rule
    assert judge(RULE_SET["C8"], Estimate(1.06, 1.00, 1.12, 5600)).verdict is Verdict.WEAKER
    # C12: a median partial correlation of 0.07 [0.06, 0.09] is inside the negligible band
    c12 = judge(RULE_SET["C12"], Estimate(0.075, 0.06, 0.09, 12083))
    assert c12.verdict is Verdict.WEAKER and "no material difference" in c12.finding


directional = [r for r in RULES if r.claimed is None]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(directional), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_an_effect_inside_the_no_difference_band_is_never_support(rule, a, b):
    rule = RULE_SET[rule.claim_id]
    band = (rule.shift(rule.null, -rule.margin), rule.shift(rule.null, rule.margin))
    low, high = sorted((between(rule, *band, a), between(rule, *band, b)))
    if low == high:
        return
    assert judge(rule, interval(rule, low, high)).verdict not in (Verdict.HOLDS,
                                                                  Verdict.STRONGER)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(RULES), st.floats(-3, 3), st.floats(0.01, 2), st.floats(0.01, 2))
def test_the_p_values_agree_with_where_the_interval_lies(rule, centre, down, up):
    rule = RULE_SET[rule.claim_id]
    near, _ = rule.edges
    g = math.log(near) if rule.scale is Scale.LOG else near
    scale = 0.5 if rule.scale is Scale.LOG else max(abs(near), 0.1)
    values = [g + scale * (centre - down), g + scale * centre, g + scale * (centre + up)]
    if rule.scale is Scale.LOG:
        values = [math.exp(v) for v in values]
    low, mid, high = values
    j = judge(rule, Estimate(mid, low, high, 100))
    eps = 1e-9
    if j.verdict in (Verdict.HOLDS, Verdict.STRONGER):
        assert j.p_holds < ALPHA + eps
    if j.verdict is Verdict.WEAKER:
        assert j.p_weaker < ALPHA + eps
    if j.verdict is Verdict.INCONCLUSIVE:
        assert j.p_holds >= ALPHA - eps and j.p_weaker >= ALPHA - eps
    if j.verdict is Verdict.STRONGER:
        assert j.p_stronger < ALPHA + eps


def test_the_lower_bound_on_the_edge_has_p_of_two_and_a_half_percent():
    rule = RULE_SET["C1"]
    j = judge(rule, Estimate(0.80, 0.75, 0.86, 400))
    assert j.p_holds == pytest.approx(ALPHA)


def test_a_claim_in_parts_holds_only_if_every_part_holds():
    rule = RULE_SET["C5"]
    strong = Estimate(0.7, 0.6, 0.8, 100)
    weak = Estimate(1.0, 0.95, 1.05, 100)
    open_ = Estimate(0.85, 0.7, 1.0, 100)
    assert judge_all(rule, {"a": strong, "b": strong}).verdict is Verdict.HOLDS
    both = judge_all(rule, {"a": strong, "b": weak})
    assert both.verdict is Verdict.WEAKER and both.decided_by == "b"
    assert judge_all(rule, {"a": strong, "b": open_}).verdict is Verdict.INCONCLUSIVE
    result = answer(rule, None, "Two parts.", parts={"a": strong, "b": weak})
    assert result.estimate == weak.value and result.test["decided_by"] == "b"


def test_holm_across_claims_downgrades_what_does_not_survive():
    # Holm: sorted p 1e-9, 0.02, 0.02 against 2.5%/3, 2.5%/2, 2.5%: the second fails, so
    # both borderline verdicts fall; a lone borderline verdict beside strong ones survives
    barely = Judgement(Verdict.HOLDS, "holds", p_holds=0.02, p_weaker=0.98)
    strong = Judgement(Verdict.HOLDS, "holds", p_holds=1e-9, p_weaker=1.0)
    untested = Judgement(Verdict.NOT_TESTABLE, "not testable")
    out = adjust_for_family([barely, strong, untested, barely])
    assert out[0].verdict is Verdict.INCONCLUSIVE and "3 claims" in out[0].family_note
    assert out[3].verdict is Verdict.INCONCLUSIVE
    assert out[1].verdict is Verdict.HOLDS and out[2].verdict is Verdict.NOT_TESTABLE
    assert adjust_for_family([barely, strong, strong])[0].verdict is Verdict.HOLDS
    assert adjust_for_family([barely])[0].verdict is Verdict.HOLDS   # a family of one


def test_stronger_that_does_not_survive_falls_back_to_holds():
    j = Judgement(Verdict.STRONGER, "stronger", p_holds=1e-6, p_weaker=1.0, p_stronger=0.02)
    other = Judgement(Verdict.WEAKER, "weaker", p_holds=1.0, p_weaker=1e-6)
    borderline = Judgement(Verdict.HOLDS, "holds", p_holds=0.015, p_weaker=0.99)
    out = adjust_for_family([j, other, borderline])
    assert out[0].verdict is Verdict.HOLDS and "still holds" in out[0].family_note


def test_the_scorecard_applies_the_correction_and_records_why():
    rules = RULE_SET
    claims = [answer(rules["C1"], Estimate(0.80, 0.7505, 0.84, 300), "C1 barely."),
              answer(rules["C2"], Estimate(0.76, 0.6705, 0.80, 300), "C2 barely."),
              answer(rules["C4"], Estimate(1.5, 1.3, 1.7, 800), "C4 clearly.")]
    section = {"claims": to_jsonable(claims)}
    card = build_scorecard({"concentration": section}, "2026-10")
    c1 = card.result("C1")
    assert claims[0].verdict is Verdict.HOLDS
    assert c1.verdict is Verdict.INCONCLUSIVE and c1.test["verdict_alone"] == "holds"
    assert card.result("C4").verdict is Verdict.HOLDS
    assert card.result("C3").verdict is Verdict.NOT_TESTABLE
    assert card.counts()[Verdict.INCONCLUSIVE.value] == 2 and card.tested() == 3
    record = card.to_records()[0]
    assert record["rule"]["near"] == pytest.approx(0.75) and record["reading"]


def test_company_margins_override_the_defaults_with_their_reason():
    class Settings:
        raw = {"claims": {"C1": {"margin": 0.02, "reason": "our board reads 80/20 tightly"}}}
        path = "acme.toml"

    rules = claim_rules(Settings())
    assert rules["C1"].edges == pytest.approx((0.78, 0.82))
    assert rules["C1"].margin_reason == "our board reads 80/20 tightly"
    assert rules["C2"].margin == RULE_SET["C2"].margin


@pytest.mark.parametrize(("entry", "message"), [
    ({"C13": {"margin": 0.1, "reason": "x"}}, "not a claim"),
    ({"C1": {"margin": -0.1, "reason": "x"}}, "margin must be a number"),
    ({"C1": {"margin": 0.1}}, "needs a 'reason'"),
    ({"C1": {"margin": 0.1, "reason": "x", "margn": 2}}, "takes exactly"),
])
def test_bad_company_margins_are_named(entry, message):
    class Settings:
        raw = {"claims": entry}
        path = "acme.toml"

    with pytest.raises(ClaimConfigError, match=message):
        claim_rules(Settings())


def test_every_rule_states_its_reading_quantity_and_margin_reason():
    for rule in RULE_SET.values():
        assert rule.reading and rule.quantity and rule.margin_reason, rule.claim_id
        assert rule.describe().startswith("holds if")


def test_not_testable_answers_keep_the_reason():
    rule = RULE_SET["C8"]
    result = answer(rule, Estimate(2.0, None, None, 40), "No interval.")
    assert isinstance(result, ClaimResult) and result.verdict is Verdict.NOT_TESTABLE
    assert "no interval" in result.reason
