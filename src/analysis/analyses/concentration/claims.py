"""Claims C1, C2 and C6 from the concentration results, judged by the one verdict rule
(:mod:`analysis.core.verdicts`; rules and margins in :mod:`analysis.analyses.claims`).
"""

from __future__ import annotations

from collections.abc import Mapping

from analysis.analyses.claims import rule
from analysis.analyses.concentration.shares import MIN_CUSTOMERS, Concentration
from analysis.analyses.concentration.whale import SizeBands, WhaleCurve
from analysis.core.results import ClaimResult, Estimate
from analysis.core.verdicts import ClaimRule, answer


def claim_c1(profit: Concentration | None, reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """80% of profit from 20% of customers: the top-20% profit share."""
    c1 = rule("C1", rules)
    if profit is None:
        return ClaimResult.not_testable("C1", reason or "profit is not available",
                                        reading=c1.reading, quantity=c1.quantity)
    share = profit.shares[0.2]
    if share.n is not None and share.n < MIN_CUSTOMERS:
        return ClaimResult.not_testable(
            "C1", f"only {share.n} customers bought in the window; the share of a top fifth "
            f"needs at least {MIN_CUSTOMERS}", reading=c1.reading, quantity=c1.quantity)
    return answer(
        c1, share, f"The top 20% of customers earn {share.value:.0%} of profit (claim: 80%).",
        details={"gap": share.value - 0.8, "customers_for_80": profit.customers_for_80.value})


def claim_c2(whale: WhaleCurve | None, profit: Concentration | None,
             reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """28% of customers give 72% of profit; many customers only cost."""
    c2 = rule("C2", rules)
    if whale is None or profit is None:
        return ClaimResult.not_testable("C2", reason or "profit is not available",
                                        reading=c2.reading, quantity=c2.quantity)
    top28 = concentration_share(profit, whale)
    loss = whale.unprofitable_share
    return answer(
        c2, top28,
        f"The top 28% of customers earn {top28.value:.0%} of profit (claim: 72%); "
        f"{loss.value:.0%} of customers lose money (claim: 78% only cost); the whale curve "
        f"peaks at {whale.peak:.0%} of profit.",
        details={"whale_peak": whale.peak, "peak_at": whale.peak_at,
                 "unprofitable_share": loss.value, "unprofitable_low": loss.low,
                 "unprofitable_high": loss.high, "profit_destroyed": whale.profit_destroyed})


def concentration_share(profit: Concentration, whale: WhaleCurve) -> Estimate:
    """Top-28% profit share with the interval of the bootstrap at 28% if present."""
    if 0.28 in profit.shares:
        return profit.shares[0.28]
    return Estimate(whale.top28_share, None, None, whale.n, "point estimate", unit="share")


def claim_c6(bands: SizeBands | None, reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """Small customers cost more than they bring: mean profit of the smallest band < 0."""
    c6 = rule("C6", rules)
    if bands is None:
        return ClaimResult.not_testable("C6", reason or "service costs are not available",
                                        reading=c6.reading, quantity=c6.quantity)
    e = bands.smallest_mean_profit
    return answer(
        c6, e,
        f"The smallest fifth of customers earn {e.value:,.2f} each on average after service "
        f"costs; {bands.smallest_unprofitable.value:.0%} of them are unprofitable.",
        details={"unprofitable_share": bands.smallest_unprofitable.value})
