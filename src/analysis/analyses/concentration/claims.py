"""Claims C1, C2 and C6 from the concentration results, judged by the one verdict rule
(:mod:`analysis.core.verdicts`; rules and margins in :mod:`analysis.analyses.claims`).

Each answer says what its "profit" is (:class:`~analysis.analyses.concentration.base.
ValueBasis`): measured, or assumed from a declared gross margin. Without either, C1 is
tested on revenue, and its reading and quantity say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from analysis.analyses.claims import rule
from analysis.analyses.concentration.base import ASSUMED, ValueBasis
from analysis.analyses.concentration.shares import MIN_CUSTOMERS, Concentration
from analysis.analyses.concentration.whale import SizeBands, WhaleCurve
from analysis.core.results import ClaimResult, Estimate
from analysis.core.verdicts import ClaimRule, answer


def _assumed(basis: ValueBasis | None) -> str:
    return f" {basis.note}." if basis is not None and basis.kind == ASSUMED else ""


def _too_few(claim_id: str, c: ClaimRule, n: int | None, what: str) -> ClaimResult | None:
    if n is not None and n < MIN_CUSTOMERS:
        return ClaimResult.not_testable(
            claim_id, f"only {n} customers {what} in the window; the share of a top fifth "
            f"needs at least {MIN_CUSTOMERS}", reading=c.reading, quantity=c.quantity)
    return None


def claim_c1(profit: Concentration | None, reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None, *,
             revenue: Concentration | None = None, basis: ValueBasis | None = None,
             non_buyers: int = 0) -> ClaimResult:
    """80% of profit from 20% of customers: the top-20% profit share.

    Without profit (no cost of goods and no declared margin) the claim is tested on the
    top-20% *revenue* share when ``revenue`` is given, with the reading and quantity saying
    so; otherwise it is not testable, with ``reason``.
    """
    c1 = rule("C1", rules)
    if profit is None:
        if revenue is None or 0.2 not in revenue.shares:
            return ClaimResult.not_testable("C1", reason or "profit is not available",
                                            reading=c1.reading, quantity=c1.quantity)
        c1 = dataclasses.replace(
            c1, reading="the biggest fifth of customers by revenue brings about 80% of the "
                        "revenue (tested on revenue because profit is unknown)",
            quantity="share of window revenue (not profit) earned by the top 20% of customers")
        share = revenue.shares[0.2]
        too_few = _too_few("C1", c1, share.n, "bought")
        if too_few:
            return too_few
        return answer(
            c1, share, f"Tested on revenue, not profit: the top 20% of customers bring "
                       f"{share.value:.0%} of revenue (claim: 80% of profit). Profit is unknown: "
                       f"{reason or 'no cost data'}.",
            claimed="80% of revenue from 20% of customers (the claim names profit)",
            details={"basis": "revenue", "gap": share.value - 0.8,
                     "customers_for_80": revenue.customers_for_80.value})
    share = profit.shares[0.2]
    too_few = _too_few("C1", c1, share.n, "bought or cost money")
    if too_few:
        return too_few
    label = basis.label if basis is not None else "profit"
    if basis is not None and basis.kind == ASSUMED:
        c1 = dataclasses.replace(c1, quantity=f"share of window {label} earned by the top 20% "
                                               "of customers")
    counted = (f" Counted over {share.n:,} customers, {non_buyers:,} of whom bought nothing "
               "in the window but caused cost." if non_buyers else "")
    return answer(
        c1, share, f"The top 20% of customers earn {share.value:.0%} of {label} (claim: 80%)."
                   f"{counted}{_assumed(basis)}",
        details={"basis": basis.kind if basis else "profit", "gap": share.value - 0.8,
                 "customers_for_80": profit.customers_for_80.value,
                 "non_buyers_with_cost": non_buyers})


def claim_c2(whale: WhaleCurve | None, profit: Concentration | None,
             reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None, *,
             basis: ValueBasis | None = None) -> ClaimResult:
    """28% of customers give 72% of profit; many customers only cost."""
    c2 = rule("C2", rules)
    if whale is None or profit is None:
        return ClaimResult.not_testable("C2", reason or "profit is not available",
                                        reading=c2.reading, quantity=c2.quantity)
    top28 = concentration_share(profit, whale)
    loss = whale.unprofitable_share
    label = basis.label if basis is not None else "profit"
    return answer(
        c2, top28,
        f"The top 28% of customers earn {top28.value:.0%} of {label} (claim: 72%); "
        f"{loss.value:.0%} of customers lose money (claim: 78% only cost); the whale curve "
        f"peaks at {whale.peak:.0%} of the total.{_assumed(basis)}",
        details={"basis": basis.kind if basis else "profit", "whale_peak": whale.peak,
                 "peak_at": whale.peak_at, "unprofitable_share": loss.value,
                 "unprofitable_low": loss.low, "unprofitable_high": loss.high,
                 "profit_destroyed": whale.profit_destroyed})


def concentration_share(profit: Concentration, whale: WhaleCurve) -> Estimate:
    """Top-28% profit share with the interval of the bootstrap at 28% if present."""
    if 0.28 in profit.shares:
        return profit.shares[0.28]
    return Estimate(whale.top28_share, None, None, whale.n, "point estimate", unit="share")


def claim_c6(bands: SizeBands | None, reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None, *,
             basis: ValueBasis | None = None) -> ClaimResult:
    """Small customers cost more than they bring: mean profit of the smallest band < 0."""
    c6 = rule("C6", rules)
    if bands is None:
        return ClaimResult.not_testable("C6", reason or "service costs are not available",
                                        reading=c6.reading, quantity=c6.quantity)
    e = bands.smallest_mean_profit
    label = basis.label if basis is not None else "profit"
    return answer(
        c6, e,
        f"The smallest fifth of customers earn {e.value:,.2f} each on average ({label} after "
        f"service costs); {bands.smallest_unprofitable.value:.0%} of them are unprofitable."
        f"{_assumed(basis)}",
        details={"basis": basis.kind if basis else "profit",
                 "unprofitable_share": bands.smallest_unprofitable.value})
