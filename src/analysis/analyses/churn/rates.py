"""Churn rates by the inactivity rule, annualised, and claim C11.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.core.results import ClaimResult, Estimate, Verdict

CLAIMED_BAND = (0.05, 0.30)
NULL_BAND = (0.9, 1 / 0.9)  # hazard ratios this close to 1 count as "no difference"


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


def claim_c11(annual: Estimate, churn_days: int) -> ClaimResult:
    """Churn of 5-30% a year: supported if the interval lies inside the band."""
    if annual.value is None:
        return ClaimResult.not_testable("C11", "no customer was active a year before the period "
                                        "end")
    low_band, high_band = CLAIMED_BAND
    if low_band <= annual.low and annual.high <= high_band:
        verdict, words = Verdict.SUPPORTED, "inside"
    elif annual.high < low_band or annual.low > high_band:
        verdict, words = Verdict.NOT_SUPPORTED, ("below" if annual.high < low_band else "above")
    else:
        verdict, words = Verdict.INCONCLUSIVE, "on the edge of"
    return ClaimResult.from_estimate(
        "C11", annual, verdict,
        f"{annual.value:.0%} of customers active a year ago have since stopped buying for "
        f"{churn_days}+ days: {words} the claimed 5-30% band.",
        claimed="annual churn of 5-30%", details={"churn_days": churn_days})
