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


def band_verdict(e: Estimate, band: tuple[float, float] = CLAIMED_BAND) -> Verdict:
    """The band rule of C11 until the shared verdict rule lands (analysis.core.verdicts):
    the interval inside the band: supported; wholly outside: not supported; else
    inconclusive (also without an interval)."""
    if e.low is None or e.high is None:
        return Verdict.INCONCLUSIVE
    if band[0] <= e.low and e.high <= band[1]:
        return Verdict.SUPPORTED
    if e.high < band[0] or e.low > band[1]:
        return Verdict.NOT_SUPPORTED
    return Verdict.INCONCLUSIVE


def _words(e: Estimate, band=CLAIMED_BAND) -> str:
    if e.low is None or e.high is None:
        return "no interval, so no comparison with"
    if band[0] <= e.low and e.high <= band[1]:
        return "inside"
    if e.high < band[0]:
        return "below"
    if e.low > band[1]:
        return "above"
    return "on the edge of"


def claim_c11(annual: Estimate, churn_days: int) -> ClaimResult:
    """C11 by the inactivity rule (kept for callers; a shop's pack uses
    :func:`claim_c11_model`)."""
    if annual.value is None:
        return ClaimResult.not_testable("C11", "no customer was active a year before the period "
                                        "end")
    return ClaimResult.from_estimate(
        "C11", annual, band_verdict(annual),
        f"{annual.value:.0%} of customers active a year ago have since stopped buying for "
        f"{churn_days}+ days: {_words(annual)} the claimed 5-30% band.",
        claimed="annual churn of 5-30%", details={"churn_days": churn_days})


def claim_c11_model(churn: Estimate, model: str, cross_check: Estimate | None = None
                    ) -> ClaimResult:
    """C11 for a shop: the purchase model's share of today's active customers lost within a
    year (the value section's retention forecast, the same numbers)."""
    if churn.value is None:
        return ClaimResult.not_testable("C11", "the purchase model cannot say who is still a "
                                        "customer: " + (churn.method or "no fit"))
    interval = ("" if churn.low is None or churn.high is None else
                f" (95% interval {churn.low:.0%} to {churn.high:.0%})")
    details = {"model": model, "source": "purchase model (value section)"}
    if cross_check is not None and cross_check.value is not None:
        details.update(inactivity_cross_check=cross_check.value,
                       inactivity_low=cross_check.low, inactivity_high=cross_check.high)
    return ClaimResult.from_estimate(
        "C11", churn, band_verdict(churn),
        f"The {model} model expects {churn.value:.0%} of today's active customers to stop "
        f"buying within a year{interval}: {_words(churn)} the claimed 5-30% band.",
        claimed="annual churn of 5-30%", details=details)
