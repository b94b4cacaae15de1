"""The satisfaction section in one call, its figures and the care follow-up export.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.analyses.claims import claim_rules
from analysis.analyses.satisfaction.claims import (
    CareChurn,
    RepurchaseRisk,
    ResponseBands,
    SatisfactionReadings,
    care_churn,
    claim_c7,
    claim_c8,
    claim_c9,
    claim_c10,
    claim_c12,
    repurchase_risk,
    response_time_bands,
    satisfaction_readings,
)
from analysis.analyses.satisfaction.correlations import (
    MONTH_LEVEL_COLUMNS,
    CorrelationTable,
    correlation_table,
    group_correlation_table,
)
from analysis.analyses.satisfaction.indicators import (
    as_float,
    require_columns,
    satisfaction_missing_reason,
)
from analysis.analyses.satisfaction.link import IndicatorLink, indicator_link
from analysis.analyses.satisfaction.regression import (
    period_effect,
    profit_regression,
    satisfaction_drivers,
)
from analysis.core.results import ClaimResult, Estimate, Verdict
from analysis.data.contract import Scale

# ------------------------------------------------------------------------- the section


@dataclasses.dataclass(frozen=True)
class SatisfactionReport:
    """Everything the satisfaction section shows for one period."""

    window_months: int
    correlations: CorrelationTable | None
    regression: object | None          # satisfaction.ProfitRegression
    repurchase: RepurchaseRisk | None
    response: ResponseBands | None
    care: CareChurn | None
    drivers: object | None             # satisfaction.SatisfactionDrivers
    by_period: object | None           # satisfaction.PeriodEffect
    month_correlations: CorrelationTable | None    # between months (buyers of each month)
    segment_correlations: CorrelationTable | None  # between channel x market-type segments
    claims: tuple[ClaimResult, ...]
    notes: tuple[str, ...]
    link: IndicatorLink | None = None            # C12: the estimate and its two tables
    readings: SatisfactionReadings | None = None  # C7 under each reading
    #: why a part is None, in words, by field name ("correlations", "drivers", ...)
    reasons: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def why(self, part: str) -> str:
        """The sentence a notebook shows in place of a part that was not computed."""
        reason = self.reasons.get(part, "it could not be computed from this data")
        return f"*Not available: {reason.rstrip('.')}.*"

    def headlines(self) -> dict[str, Estimate]:
        out = {}
        if self.regression is not None:
            out["profit_change_per_5pct_satisfaction"] = self.regression.relative
        if self.repurchase is not None:
            out["repurchase_risk_ratio_top_box"] = self.repurchase.risk_ratio
        if self.by_period is not None:
            out["period_profit_change_per_5pct_satisfaction"] = self.by_period.relative
        if self.readings is not None and self.readings.top_box is not None:
            out["profit_change_per_5pp_top_box"] = self.readings.top_box
        if self.readings is not None and self.readings.over_time is not None:
            out["monthly_profit_change_per_5pp_top_box"] = self.readings.over_time
        if self.repurchase is not None and self.repurchase.odds_ratio is not None:
            out["repurchase_odds_ratio_top_box"] = self.repurchase.odds_ratio
        if self.link is not None and self.link.estimate is not None:
            out["median_partial_correlation_with_profit"] = self.link.estimate
        return out


def satisfaction_report(ctx, window_months: int = 12, repurchase_months: int = 6,
                        replicates: int = 200, seed: int = 0) -> SatisfactionReport:
    """Correlations, the profit regression and claims C7-C10, C12 for the context's period."""
    end = ctx.period.end
    start, _ = ctx.window(window_months)
    features = ctx.features(start, end)
    exposure = ctx.features(start - pd.DateOffset(months=window_months), start)
    scale = ctx.data.satisfaction_scale
    baseline = ctx.features(end - pd.DateOffset(months=2 * repurchase_months),
                            end - pd.DateOffset(months=repurchase_months))
    notes: list[str] = []
    reasons: dict[str, str] = {}
    missing = satisfaction_missing_reason(features)
    no_scale = None if scale else "no satisfaction scale declared (no surveys)"

    def attempt(part, build, *blocked):
        """``build()``, or None with the reason: the first of ``blocked`` that is set,
        else the error's message."""
        reason = next((b for b in blocked if b), None)
        if reason is None:
            try:
                return build()
            except ValueError as error:
                reason = str(error)
                notes.append(reason)
        reasons[part] = reason
        return None

    correlations = attempt("correlations", lambda: correlation_table(features), missing)
    regression = attempt("regression", lambda: profit_regression(features, scale),
                         no_scale, missing)
    repurchase = attempt("repurchase", lambda: repurchase_risk(baseline, scale), no_scale,
                         missing)
    response = attempt("response", lambda: response_time_bands(features, exposure))
    care = attempt("care", lambda: care_churn(features, exposure))
    drivers = attempt("drivers", lambda: satisfaction_drivers(features), missing)
    panel = ctx.panel(MONTH_LEVEL_COLUMNS) if scale else None
    by_period = attempt("by_period", lambda: period_effect(panel, scale), no_scale)
    month_correlations = attempt("month_correlations", lambda: group_correlation_table(
        panel.loc[as_float(panel["orders"]) > 0], "month"), no_scale, missing)
    segment_correlations = attempt("segment_correlations", lambda: group_correlation_table(
        features, ["channel", "market_type"]), missing)
    month_correlations = _with_profit_link(month_correlations, "month_correlations",
                                           features, reasons)
    segment_correlations = _with_profit_link(segment_correlations, "segment_correlations",
                                             features, reasons)
    link = indicator_link(features, replicates=replicates, seed=seed)
    readings = (satisfaction_readings(features, scale, panel=panel)
                if scale and not missing else None)
    rules = claim_rules(ctx.settings)
    claims = (claim_c7(features, scale, rules=rules, panel=panel, readings=readings),
              _claim_c8(baseline, features, scale, rules, repurchase_months),
              claim_c9(features, exposure, rules),
              claim_c10(features, exposure, rules), claim_c12(link, missing, rules))
    by_claim = {c.claim_id: c.reason for c in claims if c.reason}
    for part, claim_id in (("repurchase", "C8"), ("response", "C9"), ("care", "C10"),
                           ("regression", "C7")):
        if claim_id in by_claim and part in reasons:
            reasons[part] = by_claim[claim_id]
    return SatisfactionReport(window_months, correlations, regression, repurchase, response,
                              care, drivers, by_period, month_correlations,
                              segment_correlations, claims, tuple(notes), link, readings,
                              reasons)


def _with_profit_link(table: CorrelationTable | None, part: str, features: pd.DataFrame,
                      reasons: dict[str, str]) -> CorrelationTable | None:
    """``table`` if it holds a correlation of a satisfaction indicator with profit; else
    None, with the reason in ``reasons[part]``."""
    if table is None:
        return None
    rows = table.summary[table.summary["profit"] == "profit"]
    if pd.to_numeric(rows["r"], errors="coerce").notna().any():
        return table
    reasons[part] = ("profit is unknown (no cost of goods)" if _profit_unknown(features)
                     else "no group has both a satisfaction score and profit")
    return None


def _profit_unknown(features: pd.DataFrame) -> bool:
    return "profit" not in features or not as_float(features["profit"]).size or \
        bool(np.isnan(as_float(features["profit"])).all())


def _claim_c8(baseline: pd.DataFrame, features: pd.DataFrame, scale, rules,
              months: int) -> ClaimResult:
    """C8 on the customers surveyed ``2 * months`` to ``months`` months before the period
    end; when none were but later surveys exist, the reason names that window."""
    result = claim_c8(baseline, scale, rules)
    if (result.verdict is Verdict.NOT_TESTABLE and scale is not None
            and satisfaction_missing_reason(baseline, "satisfaction_latest") is not None
            and satisfaction_missing_reason(features, "satisfaction_latest", 1) is None):
        n = int(pd.to_numeric(baseline.get("satisfaction_latest", pd.Series(dtype=float)),
                              errors="coerce").notna().sum())
        reason = (f"{'no' if n == 0 else f'only {n:,}'} customers were surveyed {2 * months} "
                  f"to {months} months before the end of the report month (need at least 30), "
                  f"the customers whose buying in the next {months} months is known; "
                  "the data do not reach back far enough")
        result = ClaimResult.not_testable("C8", reason, result.method,
                                          reading=result.reading, quantity=result.quantity)
    return result


# ------------------------------------------------------------------------------- figures


def plot_repurchase(risk: RepurchaseRisk, ax=None):
    """Repurchase rate of top box vs the box below, with Wilson 95% intervals."""
    import matplotlib.pyplot as plt

    from analysis.core.plots import finding, percent_axis

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8))
    table = risk.summary
    rate = table["repurchase rate"].to_numpy()
    err = np.vstack([rate - table["low"].to_numpy(), table["high"].to_numpy() - rate])
    err = np.clip(np.nan_to_num(err), 0, None)   # rounding: never below zero
    ax.bar(table["group"], rate, yerr=err, capsize=6, color=["#1f4e79", "#5b9bd5"])
    percent_axis(ax)
    ax.set_ylabel("bought again")
    rr = risk.risk_ratio
    versus = "well short of the claimed 6x" if rr.high < 6 else "as the claimed 6x allows"
    finding(ax, f"Very satisfied customers bought again {rr.value:.1f}x as often: {versus}",
            f"risk ratio {rr.low:.2f} to {rr.high:.2f} (95%), n = {rr.n:,}")
    return ax


def plot_response_bands(bands: ResponseBands, ax=None):
    """Retention by complaint response-time band, with Wilson 95% intervals."""
    import matplotlib.pyplot as plt

    from analysis.core.plots import finding, percent_axis

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    table = bands.summary[bands.summary["customers"] > 0]
    rate = table["retention"].to_numpy()
    err = np.vstack([rate - table["low"].to_numpy(), table["high"].to_numpy() - rate])
    err = np.clip(np.nan_to_num(err), 0, None)   # rounding: never below zero
    ax.errorbar(table["band"], rate, yerr=err, fmt="o-", capsize=5)
    percent_axis(ax)
    ax.set(xlabel="median time to resolve their complaints", ylabel="stayed")
    odds = bands.odds_ratio_per_doubling
    if odds.high < 1:
        title = "Customers answered faster stay more often"
    elif odds.low > 1:
        title = "Customers answered faster do not stay more often"
    else:
        title = "No clear link between answer speed and staying"
    finding(ax, title, f"odds of staying per doubling of time: {odds.value:.2f} "
            f"[{odds.low:.2f}, {odds.high:.2f}], n = {odds.n:,}")
    return ax


def plot_care_churn(care: CareChurn, ax=None):
    """Churn of low-care groups vs the rest of the customers active at the window start."""
    import matplotlib.pyplot as plt

    from analysis.core.plots import finding, percent_axis

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    s = care.summary
    x = np.arange(len(s))
    ax.bar(x - 0.2, s["exposed_churn"], 0.4, label="group")
    ax.bar(x + 0.2, s["rest_churn"], 0.4, label="everyone else")
    ax.set_xticks(x, [c.replace(" vs rest", "") for c in s["comparison"]])
    percent_axis(ax)
    ax.set_ylabel("churned in the window")
    ax.legend(loc="lower center", ncols=2, facecolor="white", frameon=True)
    share = care.attributable_share
    versus = "far from two thirds" if share.high < 2 / 3 else "two thirds not ruled out"
    finding(ax, f"Low care is linked to {share.value:.0%} of churn: {versus}",
            f"attributable share {share.low:.0%} to {share.high:.0%} (95%), "
            f"{care.churners:,} churners of {care.at_risk:,}")
    return ax


# ------------------------------------------------------------------------------- export


def care_followups(features: pd.DataFrame, scale: Scale | None = None) -> pd.DataFrame:
    """Active customers to call: an unresolved complaint, or a latest score below the top box.

    Columns: customer_id (raw; pseudonymise before showing), unresolved_complaints,
    satisfaction_latest, median_response_hours, days_since_last, revenue. Sorted by
    unresolved complaints then revenue, so the most valuable open cases come first.
    """
    cols = ["customer_id", "active", "unresolved_complaints", "satisfaction_latest",
            "median_response_hours", "days_since_last", "revenue"]
    require_columns(features, cols, "care_followups")
    active = features["active"].astype("boolean").fillna(False).to_numpy(bool)
    unresolved = np.nan_to_num(as_float(features["unresolved_complaints"])) > 0
    score = as_float(features["satisfaction_latest"])
    low_score = (score < scale.top_box - (scale.high - scale.top_box + 1)) if scale else False
    pick = active & (unresolved | low_score)
    out = features.loc[pick, [c for c in cols if c != "active"]].copy()
    return out.sort_values(["unresolved_complaints", "revenue"], ascending=False,
                           ignore_index=True)
