"""Churn rates by the inactivity rule, annualised, and claim C11.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from analysis.analyses.claims import rule
from analysis.core.results import ClaimResult, Estimate
from analysis.core.verdicts import ClaimRule, answer


def _require(frame: pd.DataFrame, columns: Sequence[str], where: str, fix: str) -> None:
    """Raise a ValueError naming the missing columns and how to get them."""
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}; {fix}")


# -- churn rates (C11) ------------------------------------------------------------------------


def churn_rate(features: pd.DataFrame, label: str = "period") -> Estimate:
    """Share of customers active at the window start who churned during it (Wilson)."""
    _require(features, ["active_at_start", "churned"], "churn_rate",
             "pass customer features from ctx.features(start, end)")
    at_risk = features["active_at_start"].astype(bool)
    n = int(at_risk.sum())
    if n == 0:
        return Estimate(None, n=0, method="no customer active at the start")
    k = int(features.loc[at_risk, "churned"].astype(bool).sum())
    return Estimate.wilson_share(k, n, f"churned / active at start over the {label}, Wilson "
                                       "interval")


def annualise(monthly: Estimate) -> Estimate:
    """1 - (1 - monthly)^12 applied to the estimate and its bounds (monotone)."""
    def f(x):
        return None if x is None else 1 - (1 - x) ** 12

    return Estimate(f(monthly.value), f(monthly.low), f(monthly.high), monthly.n,
                    monthly.method + ", annualised as 1-(1-m)^12", unit="share")


def claim_c11(annual: Estimate, churn_days: int,
              rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """Churn of 5-30% a year: the share of customers lost in twelve months against the band."""
    c11 = rule("C11", rules)
    if annual.value is None:
        return ClaimResult.not_testable(
            "C11", "no customer was active a year before the period end", reading=c11.reading,
            quantity=c11.quantity)
    return answer(
        c11, annual,
        f"{annual.value:.0%} of customers active a year ago have since stopped buying for "
        f"{churn_days}+ days (claim: 5-30%).", details={"churn_days": churn_days})


def claim_c11_model(churn: Estimate, model: str, cross_check: Estimate | None = None,
                    rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C11 for a shop: the purchase model's share of today's active customers lost within a
    year (the value section's retention forecast: the same numbers)."""
    c11 = rule("C11", rules)
    if churn.value is None:
        return ClaimResult.not_testable(
            "C11", "the purchase model cannot say who is still a customer: "
            + (churn.method or "no fit"), reading=c11.reading, quantity=c11.quantity)
    interval = ("" if churn.low is None or churn.high is None else
                f" (95% interval {churn.low:.0%} to {churn.high:.0%})")
    details = {"model": model, "source": "purchase model (value section)"}
    if cross_check is not None and cross_check.value is not None:
        details.update(inactivity_cross_check=cross_check.value,
                       inactivity_low=cross_check.low, inactivity_high=cross_check.high)
    return answer(
        c11, churn,
        f"The {model} model expects {churn.value:.0%} of today's active customers to stop "
        f"buying within a year{interval} (claim: 5-30%).", details=details)
