"""Claims C1, C2 and C6 from the concentration results.
"""

from __future__ import annotations

from analysis.analyses.concentration.shares import MIN_CUSTOMERS, Concentration
from analysis.analyses.concentration.whale import SizeBands, WhaleCurve
from analysis.core.results import ClaimResult, Estimate, Verdict

FOLK_TOLERANCE = 0.05  # "80%" read as 75-85%: folk laws are stated in round numbers


# -- claims -----------------------------------------------------------------------------------


def claim_c1(profit: Concentration | None, reason: str | None = None) -> ClaimResult:
    """80% of profit from 20% of customers: 80% inside the top-20% share's interval (+-5 pts)."""
    if profit is None:
        return ClaimResult.not_testable("C1", reason or "profit is not available")
    share = profit.shares[0.2]
    gap = share.value - 0.8
    if share.n < MIN_CUSTOMERS or share.high - share.low > 0.2:
        verdict = Verdict.INCONCLUSIVE
    elif share.low <= 0.8 + FOLK_TOLERANCE and share.high >= 0.8 - FOLK_TOLERANCE:
        verdict = Verdict.SUPPORTED
    else:
        verdict = Verdict.NOT_SUPPORTED
    words = {Verdict.SUPPORTED: "close to the claimed 80%",
             Verdict.NOT_SUPPORTED: f"{abs(gap) * 100:.0f} points {'above' if gap > 0 else 'below'}"
                                    " the claimed 80%",
             Verdict.INCONCLUSIVE: "too uncertain to judge"}[verdict]
    return ClaimResult.from_estimate(
        "C1", share, verdict,
        f"The top 20% of customers earn {share.value:.0%} of profit ({words}).",
        claimed="80% of profit from the top 20% of customers",
        details={"gap": gap, "customers_for_80": profit.customers_for_80.value,
                 "tolerance": FOLK_TOLERANCE},
    )


def claim_c2(whale: WhaleCurve | None, profit: Concentration | None,
             reason: str | None = None) -> ClaimResult:
    """28% of customers give 72% of profit; many customers only cost."""
    if whale is None or profit is None:
        return ClaimResult.not_testable("C2", reason or "profit is not available")
    top28 = concentration_share(profit, whale)
    inside = top28.low <= 0.72 + FOLK_TOLERANCE and top28.high >= 0.72 - FOLK_TOLERANCE
    verdict = Verdict.SUPPORTED if inside else Verdict.NOT_SUPPORTED
    loss = whale.unprofitable_share
    return ClaimResult.from_estimate(
        "C2", top28, verdict,
        f"The top 28% of customers earn {top28.value:.0%} of profit (claim: 72%); "
        f"{loss.value:.0%} of customers lose money (claim: 78% only cost); the whale curve "
        f"peaks at {whale.peak:.0%} of profit.",
        claimed="28% of customers generate 72% of profit",
        details={"whale_peak": whale.peak, "peak_at": whale.peak_at,
                 "unprofitable_share": loss.value, "unprofitable_low": loss.low,
                 "unprofitable_high": loss.high, "profit_destroyed": whale.profit_destroyed},
    )


def concentration_share(profit: Concentration, whale: WhaleCurve) -> Estimate:
    """Top-28% profit share with the interval of the bootstrap at 28% if present."""
    if 0.28 in profit.shares:
        return profit.shares[0.28]
    return Estimate(whale.top28_share, None, None, whale.n, "point estimate", unit="share")


def claim_c6(bands: SizeBands | None, reason: str | None = None) -> ClaimResult:
    """Small customers cost more than they bring: mean profit of the smallest band < 0."""
    if bands is None:
        return ClaimResult.not_testable("C6", reason or "service costs are not available")
    e = bands.smallest_mean_profit
    if e.high < 0:
        verdict, words = Verdict.SUPPORTED, "lose money on average"
    elif e.low > 0:
        verdict, words = Verdict.NOT_SUPPORTED, "still earn a profit on average"
    else:
        verdict, words = Verdict.INCONCLUSIVE, "break even within the uncertainty"
    return ClaimResult.from_estimate(
        "C6", e, verdict,
        f"The smallest fifth of customers {words} after service costs "
        f"(mean {e.value:,.2f}); {bands.smallest_unprofitable.value:.0%} of them are "
        "unprofitable.",
        claimed="small customers consume more cost than they bring",
        details={"unprofitable_share": bands.smallest_unprofitable.value},
    )
