"""One verdict rule for every claim.

Each folk law is read as a statement about one quantity (a share, a hazard ratio, a
relative change, ...). A :class:`ClaimRule` says, for one claim:

- its **reading** in plain words and the **quantity** that is estimated;
- the **claimed value** (C1: 80%), a **band** (C11: 5-30%), or nothing but a direction
  (C3: referred customers churn less: a hazard ratio below 1);
- its **direction**: which side is "stronger than claimed" (``higher`` or ``lower``), or
  ``inside`` for a band;
- a **practical-equivalence margin**, on a linear or a log scale, with the reason for it:
  how far from the claimed value (or from "no difference") a quantity may be and still
  count as the same for a manager.

From these come two **edges**: the *near edge*, the least the quantity must reach for the
claim to hold (the claimed value minus the margin, or the edge of the no-difference band
when the claim states only a direction), and the *far edge*, beyond which it is stronger
than claimed (the claimed value plus the margin). The verdict follows only from where the
95% interval lies:

==================================== ==========================================================
holds                                the whole interval lies beyond the near edge
holds, and stronger than claimed     ... and beyond the far edge
weaker than claimed, or contradicted the whole interval lies short of the near edge (inside
                                     the no-difference band, or pointing the other way)
inconclusive                         the interval straddles the near edge
not testable with this data          no estimate or no interval (the reason is stated)
==================================== ==========================================================

For a band (``inside``), the claim holds when the whole interval lies inside the band
(widened by the margin), is contradicted when it lies wholly outside, and is inconclusive
otherwise. An effect inside the no-difference margin is therefore never support.

Every verdict is a pair of one-sided tests at 2.5% (the 95% interval excludes the edge).
:func:`judge` also returns their p-values, read off the interval (normal on the rule's
scale, each side of the interval with its own spread), so that the scorecard can correct
for testing many claims at once (:func:`adjust_for_family`, Holm's method): a verdict that
does not survive the correction becomes "inconclusive" and says so.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from analysis.core.multitest import holm
from analysis.core.results import ClaimResult, Estimate, Verdict

LEVEL = 0.95
ALPHA = (1 - LEVEL) / 2          # each side of a 95% interval: a one-sided test at 2.5%
Z = float(stats.norm.ppf(1 - ALPHA))


class Direction(enum.StrEnum):
    HIGHER = "higher"   # larger values are stronger than claimed
    LOWER = "lower"     # smaller values are stronger than claimed
    INSIDE = "inside"   # the claim is a band


class Scale(enum.StrEnum):
    LINEAR = "linear"   # margins are added and subtracted
    LOG = "log"         # margins are factors (a margin m means x exp(m) and x exp(-m))


#: how an edge or estimate is written in the verdict sentence, by unit
FORMATS: dict[str, Callable[[float], str]] = {
    "share": lambda x: f"{x:.1%}",
    "relative": lambda x: f"{x:+.1%}",
    "ratio": lambda x: f"{x:.2f}",
    "r": lambda x: f"{x:+.2f}",
    "money": lambda x: f"{x:,.2f}",
    "": lambda x: f"{x:.3g}",
}


@dataclasses.dataclass(frozen=True)
class ClaimRule:
    """How one claim is read and judged (see the module docstring)."""

    claim_id: str
    title: str
    source_words: str
    reading: str
    quantity: str
    direction: Direction
    claimed: float | tuple[float, float] | None = None
    null: float | None = None
    margin: float = 0.0
    margin_reason: str = ""
    scale: Scale = Scale.LINEAR
    unit: str = ""

    def __post_init__(self):
        if self.direction is Direction.INSIDE:
            if not (isinstance(self.claimed, tuple) and len(self.claimed) == 2
                    and self.claimed[0] < self.claimed[1]):
                raise ValueError(f"{self.claim_id}: a band claim needs claimed=(low, high)")
        elif isinstance(self.claimed, tuple):
            raise ValueError(f"{self.claim_id}: a band needs direction 'inside'")
        elif self.claimed is None and self.null is None:
            raise ValueError(f"{self.claim_id}: a claim without a size needs a null value")
        if not math.isfinite(self.margin) or self.margin < 0:
            raise ValueError(f"{self.claim_id}: the margin must be a finite number >= 0, "
                             f"not {self.margin!r}")
        if self.scale is Scale.LOG and any(v is not None and v <= 0 for v in self._values()):
            raise ValueError(f"{self.claim_id}: a log-scale claim needs positive values")

    def _values(self) -> tuple[float | None, ...]:
        claimed = self.claimed if isinstance(self.claimed, tuple) else (self.claimed,)
        return (*claimed, self.null)

    def shift(self, x: float, d: float) -> float:
        """``x`` moved by ``d`` on the rule's scale."""
        return x * math.exp(d) if self.scale is Scale.LOG else x + d

    @property
    def edges(self) -> tuple[float, float | None]:
        """(near, far) for a directional claim; (low, high) of the widened band for a band."""
        m = self.margin
        if self.direction is Direction.INSIDE:
            low, high = self.claimed
            return self.shift(low, -m), self.shift(high, m)
        sign = 1 if self.direction is Direction.HIGHER else -1
        if self.claimed is None:   # a direction only: beyond the no-difference band
            return self.shift(self.null, sign * m), None
        return self.shift(self.claimed, -sign * m), self.shift(self.claimed, sign * m)

    def fmt(self, x: float) -> str:
        return FORMATS.get(self.unit, FORMATS[""])(x)

    def with_margin(self, margin: float, reason: str) -> ClaimRule:
        return dataclasses.replace(self, margin=float(margin), margin_reason=reason)

    def describe(self) -> str:
        """The rule in one sentence, with its edges."""
        near, far = self.edges
        if self.direction is Direction.INSIDE:
            return (f"holds if the 95% interval lies inside {self.fmt(near)} to {self.fmt(far)} "
                    f"({self.margin_reason or 'the claimed band'})")
        side = "above" if self.direction is Direction.HIGHER else "below"
        text = f"holds if the 95% interval lies {side} {self.fmt(near)}"
        if far is not None:
            text += f", and is stronger than claimed {side} {self.fmt(far)}"
        return text + (f" (margin: {self.margin_reason})" if self.margin_reason else "")


@dataclasses.dataclass(frozen=True)
class Judgement:
    """Where a 95% interval lies relative to a rule's edges, and what that means."""

    verdict: Verdict
    finding: str                  # the verdict in words, with the numbers
    near: float | None = None
    far: float | None = None
    p_holds: float | None = None      # one-sided p: the quantity does not reach the near edge
    p_weaker: float | None = None     # one-sided p: the quantity reaches the near edge
    p_stronger: float | None = None   # one-sided p: the quantity does not pass the far edge
    decided_by: str | None = None     # for a claim with several parts: the deciding part
    family_note: str | None = None    # set when the correction across claims changed the verdict

    @property
    def p_decisive(self) -> float | None:
        """The p-value of the test behind the verdict (for the correction across claims)."""
        if self.verdict is Verdict.STRONGER:
            return self.p_stronger
        if self.verdict is Verdict.HOLDS:
            return self.p_holds
        if self.verdict is Verdict.WEAKER:
            return self.p_weaker
        if self.verdict is Verdict.INCONCLUSIVE:
            found = [p for p in (self.p_holds, self.p_weaker) if p is not None]
            return min(found) if found else None
        return None


def not_testable(reason: str) -> Judgement:
    return Judgement(Verdict.NOT_TESTABLE, f"not testable with this data: {reason}")


def _transform(rule: ClaimRule, x: float) -> float:
    if rule.scale is Scale.LOG:
        return math.log(x) if x > 0 else -math.inf
    return x


def _p_below(rule: ClaimRule, e: Estimate, edge: float) -> float:
    """One-sided p of H0 "quantity <= edge" against "above", from the lower half of the
    interval (p = 2.5% exactly when the lower bound sits on the edge)."""
    g0, g_low, g_edge = (_transform(rule, v) for v in (e.value, e.low, edge))
    spread = (g0 - g_low) / Z
    if not spread > 0:
        return 0.0 if g0 > g_edge else 1.0
    return float(stats.norm.sf((g0 - g_edge) / spread))


def _p_above(rule: ClaimRule, e: Estimate, edge: float) -> float:
    """One-sided p of H0 "quantity >= edge" against "below", from the upper half."""
    g0, g_high, g_edge = (_transform(rule, v) for v in (e.value, e.high, edge))
    spread = (g_high - g0) / Z
    if not spread > 0:
        return 0.0 if g0 < g_edge else 1.0
    return float(stats.norm.sf((g_edge - g0) / spread))


def usable(e: Estimate | None) -> str | None:
    """Why an estimate cannot be judged, or None when it can."""
    if e is None or e.value is None:
        return "there is no estimate"
    if e.low is None or e.high is None:
        return "the estimate has no interval"
    values = (e.value, e.low, e.high)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return "the estimate or its interval is not a finite number"
    if e.low > e.high:
        return "the interval is inverted"
    if e.low == e.high:
        return "the interval has zero width, so the data show no uncertainty to judge by"
    return None


def judge(rule: ClaimRule, estimate: Estimate | None) -> Judgement:
    """The verdict of one estimate (with its 95% interval) under ``rule``."""
    reason = usable(estimate)
    if reason:
        return not_testable(reason)
    e = dataclasses.replace(estimate, value=min(max(estimate.value, estimate.low),
                                                 estimate.high))
    near, far = rule.edges
    interval = f"95% interval {rule.fmt(e.low)} to {rule.fmt(e.high)}"
    if rule.direction is Direction.INSIDE:
        return _judge_band(rule, e, near, far, interval)
    higher = rule.direction is Direction.HIGHER
    low, high = (e.low, e.high) if higher else (-e.high, -e.low)
    sign = 1 if higher else -1
    p_holds = _p_below(rule, e, near) if higher else _p_above(rule, e, near)
    p_weaker = _p_above(rule, e, near) if higher else _p_below(rule, e, near)
    p_stronger = None
    if far is not None:
        p_stronger = _p_below(rule, e, far) if higher else _p_above(rule, e, far)
    side, short = ("above", "below") if higher else ("below", "above")
    if low > sign * near:
        if far is not None and low > sign * far:
            verdict = Verdict.STRONGER
            finding = (f"holds, and stronger than claimed: the {interval} lies {side} "
                       f"{rule.fmt(far)}")
        else:
            verdict = Verdict.HOLDS
            finding = f"holds: the {interval} lies {side} {rule.fmt(near)}"
    elif high < sign * near:
        verdict = Verdict.WEAKER
        finding = f"{_shortfall(rule, e)}: the {interval} lies {short} {rule.fmt(near)}"
    else:
        verdict = Verdict.INCONCLUSIVE
        finding = (f"inconclusive: the {interval} straddles {rule.fmt(near)}, the least that "
                   "counts as the claim")
    return Judgement(verdict, finding, near, far, p_holds, p_weaker, p_stronger)


def _shortfall(rule: ClaimRule, e: Estimate) -> str:
    """'contradicted', 'no material difference' or 'weaker than claimed' for a WEAKER
    interval, by where it lies relative to the no-difference band."""
    if rule.null is None:
        return "weaker than claimed"
    higher = rule.direction is Direction.HIGHER
    if rule.claimed is not None:   # a claimed size: the margin belongs to the claimed value
        against = e.high < rule.null if higher else e.low > rule.null
        return "contradicted (the effect goes the other way)" if against else \
            "weaker than claimed"
    band = (rule.shift(rule.null, -rule.margin), rule.shift(rule.null, rule.margin))
    if (e.high < band[0]) if higher else (e.low > band[1]):
        return "contradicted (the effect goes the other way)"
    if band[0] <= e.low and e.high <= band[1]:
        return "no material difference"
    return "not shown: at most a small effect"


def _judge_band(rule: ClaimRule, e: Estimate, low_edge: float, high_edge: float,
                interval: str) -> Judgement:
    below, above = _p_below(rule, e, low_edge), _p_above(rule, e, high_edge)
    p_holds = max(below, above)                      # inside: both one-sided tests
    p_outside = min(_p_above(rule, e, low_edge), _p_below(rule, e, high_edge))
    band = f"{rule.fmt(low_edge)} to {rule.fmt(high_edge)}"
    if low_edge <= e.low and e.high <= high_edge:
        verdict, finding = Verdict.HOLDS, f"holds: the {interval} lies inside {band}"
    elif e.high < low_edge or e.low > high_edge:
        where = "below" if e.high < low_edge else "above"
        verdict, finding = Verdict.WEAKER, f"contradicted: the {interval} lies {where} {band}"
    else:
        verdict = Verdict.INCONCLUSIVE
        finding = f"inconclusive: the {interval} reaches outside {band}"
    return Judgement(verdict, finding, low_edge, high_edge, p_holds, p_outside)


def judge_all(rule: ClaimRule, parts: Mapping[str, Estimate | None]) -> Judgement:
    """A claim made of several parts that must all hold (C5: frequency *and* breadth).

    Holds (or is stronger) only if every part does; weaker if any part is; otherwise
    inconclusive. The p-values follow: the largest p of the parts for holding (all must
    hold), the smallest for weaker (one is enough). ``decided_by`` names the part that
    settles the verdict.
    """
    if not parts:
        return not_testable("no part of the claim could be estimated")
    judged = {name: judge(rule, e) for name, e in parts.items()}
    testable = {k: j for k, j in judged.items() if j.verdict is not Verdict.NOT_TESTABLE}
    if len(testable) < len(judged):
        missing = next(k for k in judged if k not in testable)
        return dataclasses.replace(judged[missing], decided_by=missing)
    weaker = [k for k, j in testable.items() if j.verdict is Verdict.WEAKER]
    pending = [k for k, j in testable.items() if j.verdict is Verdict.INCONCLUSIVE]
    order = (Verdict.STRONGER, Verdict.HOLDS)
    if weaker:
        name = min(weaker, key=lambda k: testable[k].p_weaker)
    elif pending:
        name = max(pending, key=lambda k: testable[k].p_holds)
    else:   # all hold: the weakest holding part decides
        name = max(testable, key=lambda k: (order.index(testable[k].verdict),
                                            testable[k].p_holds))
    chosen = testable[name]
    p_holds = max(j.p_holds for j in testable.values())
    p_weaker = min(j.p_weaker for j in testable.values())
    p_stronger = (max(j.p_stronger for j in testable.values())
                  if all(j.p_stronger is not None for j in testable.values()) else None)
    finding = "; ".join(f"{k}: {j.finding}" for k, j in testable.items())
    return dataclasses.replace(chosen, finding=finding, p_holds=p_holds, p_weaker=p_weaker,
                               p_stronger=p_stronger, decided_by=name)


def adjust_for_family(judgements: Sequence[Judgement]) -> list[Judgement]:
    """Holm's correction across the claims of one scorecard.

    Each decisive verdict (holds, stronger, weaker) is a one-sided test at 2.5%; with m
    claims tested at once, Holm's step-down method keeps the chance of any wrong verdict
    at 2.5% per side. A verdict whose test does not survive becomes "inconclusive" (or
    "holds" when only "stronger" does not survive), with a note saying so. Claims that are
    not testable are not part of the family.
    """
    out = list(judgements)
    family = [i for i, j in enumerate(out) if j.p_decisive is not None]
    if not family:
        return out
    m = len(family)
    p = np.array([out[i].p_decisive for i in family], dtype=float)
    reject = holm(p, ALPHA)[0]
    for keep, i in zip(reject, family, strict=True):
        j = out[i]
        if keep or j.verdict is Verdict.INCONCLUSIVE:
            continue
        if j.verdict is Verdict.STRONGER:
            trial = p.copy()
            trial[family.index(i)] = j.p_holds
            if holm(trial, ALPHA)[0][family.index(i)]:
                out[i] = dataclasses.replace(
                    j, verdict=Verdict.HOLDS, family_note=(
                        f"'stronger than claimed' does not survive the correction for testing "
                        f"{m} claims at once (Holm); the claim still holds"))
                continue
        out[i] = dataclasses.replace(
            j, verdict=Verdict.INCONCLUSIVE, family_note=(
                f"'{j.verdict.value}' at this claim's own 95% interval, but not after the "
                f"correction for testing {m} claims at once (Holm)"))
    return out


def rule_record(rule: ClaimRule) -> dict:
    """The rule as plain values, for ``ClaimResult.rule`` and results.json."""
    near, far = rule.edges
    return {"direction": rule.direction.value, "claimed": rule.claimed, "null": rule.null,
            "margin": rule.margin, "margin_reason": rule.margin_reason,
            "scale": rule.scale.value, "unit": rule.unit, "near": near, "far": far,
            "text": rule.describe()}


def test_record(j: Judgement) -> dict:
    return {"finding": j.finding, "p_holds": j.p_holds, "p_weaker": j.p_weaker,
            "p_stronger": j.p_stronger, "decided_by": j.decided_by,
            "family_note": j.family_note}


def answer(rule: ClaimRule, estimate: Estimate | None, summary: str, *,
           parts: Mapping[str, Estimate | None] | None = None, method: str | None = None,
           claimed: str | None = None, details: Mapping[str, Any] | None = None
           ) -> ClaimResult:
    """The claim's answer: ``estimate`` (or, for a claim in several ``parts``, the part that
    decides) judged by ``rule``; ``summary`` says what was found in plain words (the
    verdict's own sentence is added from the rule)."""
    judgement = judge_all(rule, parts) if parts else judge(rule, estimate)
    if parts and judgement.decided_by in parts:
        estimate = parts[judgement.decided_by]
    common = {"reading": rule.reading, "quantity": rule.quantity, "rule": rule_record(rule),
              "test": test_record(judgement), "claimed": claimed or rule.source_words,
              "details": dict(details or {})}
    if judgement.verdict is Verdict.NOT_TESTABLE:
        reason = judgement.finding.removeprefix("not testable with this data: ")
        return ClaimResult.not_testable(
            rule.claim_id, reason, method or (estimate.method if estimate else ""), **common)
    return ClaimResult(
        claim_id=rule.claim_id, verdict=judgement.verdict,
        summary=f"{summary} Verdict: {judgement.finding}.",
        estimate=estimate.value, low=estimate.low, high=estimate.high, n=estimate.n,
        method=method or estimate.method, **common)


def with_family_verdict(result: ClaimResult, judgement: Judgement) -> ClaimResult:
    """``result`` with the verdict after the correction across claims."""
    if judgement.verdict is result.verdict:
        return result
    test = {**result.test, "family_note": judgement.family_note,
            "verdict_alone": result.verdict.value}
    return dataclasses.replace(result, verdict=judgement.verdict, test=test,
                               summary=f"{result.summary} {judgement.family_note[0].upper()}"
                                       f"{judgement.family_note[1:]}.")


def judgement_of(result: ClaimResult) -> Judgement:
    """The judgement recorded in a result (read back from results.json)."""
    t = result.test or {}
    return Judgement(result.verdict, t.get("finding", ""), (result.rule or {}).get("near"),
                     (result.rule or {}).get("far"), t.get("p_holds"), t.get("p_weaker"),
                     t.get("p_stronger"), t.get("decided_by"), t.get("family_note"))
