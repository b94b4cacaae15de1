"""Claims C7, C8, C9, C10 and C12: the satisfaction folk laws against the data.

Each ``claim_cN`` returns a :class:`~analysis.core.results.ClaimResult` (estimate,
interval, n, method, verdict, and a reason when not testable). The building
blocks (relative risks, bands, care comparisons) are small frozen dataclasses
with a ``summary`` DataFrame for the notebook.

All of these are associations in observational data, not causal effects.

Verdicts follow the one rule of :mod:`analysis.core.verdicts`; the rules and margins
are in :mod:`analysis.analyses.claims`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis.analyses.claims import rule
from analysis.analyses.satisfaction.correlations import CorrelationTable, correlation
from analysis.analyses.satisfaction.indicators import (
    as_float,
    interactions_missing_reason,
    require_columns,
    satisfaction_missing_reason,
    with_derived,
)
from analysis.analyses.satisfaction.regression import profit_regression
from analysis.core.multitest import holm
from analysis.core.results import ClaimResult, Estimate
from analysis.core.verdicts import ClaimRule, answer
from analysis.data.contract import Scale

#: complaint response-time bands in hours (left-closed)
RESPONSE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("under 4 h", 0.0, 4.0),
    ("4-24 h", 4.0, 24.0),
    ("1-3 days", 24.0, 72.0),
    ("3-7 days", 72.0, 168.0),
    ("over 7 days", 168.0, np.inf),
)

def _pct(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.1f}%"


# ----------------------------------------------------------------------------------------- C7


def claim_c7(features: pd.DataFrame, scale: Scale | None,
             satisfaction: str = "satisfaction_mean",
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C7: relative change in profit per customer associated with +5% of the scale range."""
    method = "OLS of window profit on satisfaction, HC3 errors, delta-method ratio"
    if scale is None:
        return ClaimResult.not_testable("C7", "no satisfaction scale declared (no surveys)",
                                        method)
    reason = satisfaction_missing_reason(features, satisfaction)
    if reason:
        return ClaimResult.not_testable("C7", reason, method)
    if "profit" not in features or not np.isfinite(as_float(features["profit"])).any():
        return ClaimResult.not_testable("C7", "profit is unknown (no cost of goods)", method)
    reg = profit_regression(features, scale, "profit", satisfaction)
    rel = reg.relative
    summary = (f"+{reg.delta_points:g} points of satisfaction (5% of the {scale.name} range) go "
               f"with {_pct(rel.value)} profit per customer [{_pct(rel.low)}, {_pct(rel.high)}], "
               f"n={rel.n:,}; the claim is +100%. Association, not a causal effect.")
    return answer(
        rule("C7", rules), rel, summary,
        details={"delta_points": reg.delta_points, "mean_profit": reg.mean_outcome,
                 "profit_per_point": reg.per_point, "profit_per_5pct": reg.five_points,
                 "checks": reg.checks, "controls": list(reg.controls)})


# ----------------------------------------------------------------------------------------- C8


@dataclasses.dataclass(frozen=True)
class RepurchaseRisk:
    """Repurchase of top-box customers vs the box below, as a 2x2 table and a risk ratio."""

    top_label: str
    below_label: str
    top_buyers: int
    top_n: int
    below_buyers: int
    below_n: int
    risk_ratio: Estimate          # Wald interval on the log risk ratio
    risk_ratio_score: Estimate    # Koopman score interval
    p_value: float                # Fisher's exact test

    @property
    def summary(self) -> pd.DataFrame:
        rows = []
        for label, k, n in ((self.top_label, self.top_buyers, self.top_n),
                            (self.below_label, self.below_buyers, self.below_n)):
            low, high = proportion_confint(k, n, method="wilson") if n else (np.nan, np.nan)
            rows.append({"group": label, "customers": n, "bought again": k,
                         "repurchase rate": k / n if n else np.nan, "low": low, "high": high})
        return pd.DataFrame(rows)


def box_below(scale: Scale) -> tuple[float, float]:
    """[low, high) of the box just below top box, as wide as the top box (4 on CSAT, 7-8 on NPS)."""
    width = scale.high - scale.top_box + 1
    return scale.top_box - width, scale.top_box


def repurchase_risk(features: pd.DataFrame, scale: Scale, level: float = 0.95,
                    satisfaction: str = "satisfaction_latest") -> RepurchaseRisk:
    """Relative risk of buying again in the next window, top box vs the box below."""
    require_columns(features, [satisfaction, "repurchase_next"], "repurchase_risk")
    score = as_float(features[satisfaction])
    bought = features["repurchase_next"].astype("boolean")
    known = bought.notna().to_numpy()
    top = known & (score >= scale.top_box)
    lo, hi = box_below(scale)
    below = known & (score >= lo) & (score < hi)
    yes = bought.fillna(False).to_numpy(bool)
    a, n1 = int((yes & top).sum()), int(top.sum())
    c, n0 = int((yes & below).sum()), int(below.sum())
    if min(n1, n0) < 10:
        raise ValueError(f"repurchase_risk needs at least 10 customers in each box; top box "
                         f"{n1}, box below {n0}")
    table = Table2x2(np.array([[a, n1 - a], [c, n0 - c]]), shift_zeros=True)
    low, high = table.riskratio_confint(alpha=1 - level)
    method = "risk ratio, Wald interval on the log scale"
    rr = Estimate(float(table.riskratio), float(low), float(high), n1 + n0, method, level, "x")
    s_low, s_high = confint_proportions_2indep(a, n1, c, n0, method="score", compare="ratio",
                                               alpha=1 - level)
    rr_score = Estimate(float(table.riskratio), float(s_low), float(s_high), n1 + n0,
                        "risk ratio, Koopman score interval", level, "x")
    p = float(stats.fisher_exact([[a, n1 - a], [c, n0 - c]])[1])
    below_label = f"{lo:g}" if hi - lo == 1 else f"{lo:g}-{hi - 1:g}"
    return RepurchaseRisk(f"top box ({scale.top_box:g}+)", f"box below ({below_label})", a, n1,
                          c, n0, rr, rr_score, p)


def claim_c8(features: pd.DataFrame, scale: Scale | None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C8: is a top-box customer six times as likely to buy again as one in the box below?"""
    method = "risk ratio of repurchase in the next window, top box vs box below"
    if scale is None:
        return ClaimResult.not_testable("C8", "no satisfaction scale declared (no surveys)",
                                        method)
    reason = satisfaction_missing_reason(features, "satisfaction_latest")
    if reason:
        return ClaimResult.not_testable("C8", reason, method)
    if "repurchase_next" not in features or features["repurchase_next"].isna().all():
        return ClaimResult.not_testable(
            "C8", "repurchase in the next window is not observed yet (data end too soon)", method)
    try:
        risk = repurchase_risk(features, scale)
    except ValueError as err:
        return ClaimResult.not_testable("C8", str(err), method)
    rr = risk.risk_ratio
    summary = (f"Top-box customers bought again {rr.value:.2f} times as often as the box below "
               f"[{rr.low:.2f}, {rr.high:.2f}] ({risk.top_buyers}/{risk.top_n} vs "
               f"{risk.below_buyers}/{risk.below_n}); the claim is 6x.")
    return answer(
        rule("C8", rules), rr, summary,
        details={"table": risk.summary, "score_interval": risk.risk_ratio_score,
                 "fisher_p": risk.p_value})


# ----------------------------------------------------------------------------------------- C9


def _exposures(features: pd.DataFrame, baseline: pd.DataFrame | None,
               columns: Sequence[str]) -> pd.DataFrame:
    """Outcome rows with exposure columns taken from ``baseline`` (history at window start)."""
    frame = with_derived(features)
    if baseline is None:
        return frame
    require_columns(baseline, ["customer_id", *columns], "baseline features")
    return frame.drop(columns=list(columns)).merge(
        baseline[["customer_id", *columns]], on="customer_id", how="left")


@dataclasses.dataclass(frozen=True)
class ResponseBands:
    """Retention and satisfaction by complaint response-time band, plus a trend model."""

    summary: pd.DataFrame          # band, customers, retained, retention, low, high, sat...
    odds_ratio_per_doubling: Estimate   # retention odds per doubling of response time
    satisfaction_correlation: Estimate  # Spearman r(satisfaction, response hours)
    trend_p: float


def response_time_bands(features: pd.DataFrame, baseline: pd.DataFrame | None = None,
                        bands: Sequence[tuple[str, float, float]] = RESPONSE_BANDS,
                        satisfaction: str = "satisfaction_mean",
                        level: float = 0.95) -> ResponseBands:
    """Retention (not churned, among customers active at the window start) by response band.

    ``baseline``: features at the window start, so the response time is measured
    before the outcome (without it the window's own complaints are used, which
    mixes cause and effect). Trend: logistic regression of retention on log2
    hours and log tenure (HC1 errors).
    """
    frame = _exposures(features, baseline, ["median_response_hours"])
    require_columns(frame, ["median_response_hours", "retained", "tenure_days"],
                    "response_time_bands")
    hours = as_float(frame["median_response_hours"])
    retained = as_float(frame["retained"])
    use = np.isfinite(hours) & np.isfinite(retained)
    if use.sum() < 30:
        raise ValueError(f"response_time_bands has {int(use.sum())} customers with both a "
                         "resolved complaint and a retention outcome; need at least 30")
    sat = as_float(frame[satisfaction]) if satisfaction in frame else np.full(len(frame), np.nan)
    rows = []
    for label, lo, hi in bands:
        m = use & (hours >= lo) & (hours < hi)
        n, k = int(m.sum()), int(retained[m].sum())
        r_low, r_high = proportion_confint(k, n, method="wilson") if n else (np.nan, np.nan)
        s = sat[m & np.isfinite(sat)]
        half = stats.t.ppf(0.5 + level / 2, len(s) - 1) * s.std(ddof=1) / np.sqrt(len(s)) \
            if len(s) > 1 else np.nan
        rows.append({"band": label, "customers": n, "retained": k,
                     "retention": k / n if n else np.nan, "low": r_low, "high": r_high,
                     "surveyed": len(s), "satisfaction": s.mean() if len(s) else np.nan,
                     "satisfaction_low": s.mean() - half if len(s) > 1 else np.nan,
                     "satisfaction_high": s.mean() + half if len(s) > 1 else np.nan})
    log_tenure = np.log1p(np.clip(as_float(frame["tenure_days"])[use], 0, None))
    x = np.column_stack([np.ones(use.sum()), np.log2(np.clip(hours[use], 0.1, None)),
                         *([log_tenure] if np.ptp(log_tenure) > 0 else [])])
    fit = sm.GLM(retained[use], x, family=sm.families.Binomial(), missing="drop").fit(
        cov_type="HC1")
    b_low, b_high = fit.conf_int(1 - level)[1]
    odds = Estimate(float(np.exp(fit.params[1])), float(np.exp(b_low)), float(np.exp(b_high)),
                    int(use.sum()), "logistic regression of retention on log2 response hours "
                    "and log tenure, HC1 errors", level, "odds ratio per doubling")
    both = np.isfinite(hours) & np.isfinite(sat)
    corr = correlation(sat[both], hours[both], "spearman", level=level,
                       names=(satisfaction, "median_response_hours"))
    sat_corr = Estimate(corr.r, corr.low, corr.high, corr.n,
                        "Spearman, Bonett-Wright interval", level, "r")
    return ResponseBands(pd.DataFrame(rows), odds, sat_corr, float(fit.pvalues[1]))


def claim_c9(features: pd.DataFrame, baseline: pd.DataFrame | None = None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C9: do customers whose complaints are answered faster stay more often?"""
    method = "logistic regression of retention on log2 complaint response time"
    reason = interactions_missing_reason(features, "median_response_hours")
    if reason:
        return ClaimResult.not_testable("C9", reason, method)
    try:
        bands = response_time_bands(features, baseline)
    except ValueError as err:
        return ClaimResult.not_testable("C9", str(err), method)
    odds = bands.odds_ratio_per_doubling
    summary = (f"Each doubling of complaint response time goes with {odds.value:.2f}x the odds "
               f"of staying [{odds.low:.2f}, {odds.high:.2f}], n={odds.n:,}; satisfaction vs "
               f"response time: Spearman r = {bands.satisfaction_correlation.value:.2f}. "
               "A link, not proof that speed causes loyalty; 'direct proportion' is not tested.")
    return answer(
        rule("C9", rules), odds, summary,
        details={"bands": bands.summary, "satisfaction_correlation":
                 bands.satisfaction_correlation, "trend_p": bands.trend_p})


# ---------------------------------------------------------------------------------------- C10


@dataclasses.dataclass(frozen=True)
class CareChurn:
    """Churn of under-cared customers vs the rest, and the share of churn linked to low care."""

    summary: pd.DataFrame         # comparison, exposed/rest churn, risk ratio + CI, p, p_adj
    attributable_share: Estimate  # population attributable fraction of churn
    at_risk: int
    churners: int


def _churn_comparison(name: str, exposed: np.ndarray, churned: np.ndarray,
                      level: float) -> dict:
    a, n1 = int((churned & exposed).sum()), int(exposed.sum())
    c, n0 = int((churned & ~exposed).sum()), int((~exposed).sum())
    row = {"comparison": name, "exposed": n1, "exposed_churned": a,
           "exposed_churn": a / n1 if n1 else np.nan, "rest": n0, "rest_churned": c,
           "rest_churn": c / n0 if n0 else np.nan, "risk_ratio": np.nan, "low": np.nan,
           "high": np.nan, "p": np.nan}
    if min(n1, n0) >= 5:
        table = Table2x2(np.array([[a, n1 - a], [c, n0 - c]]), shift_zeros=True)
        low, high = table.riskratio_confint(alpha=1 - level)
        row.update(risk_ratio=float(table.riskratio), low=float(low), high=float(high),
                   p=float(stats.fisher_exact([[a, n1 - a], [c, n0 - c]])[1]))
    return row


def attributable_share(exposed: np.ndarray, churned: np.ndarray, level: float = 0.95,
                       draws: int = 2000, seed: int = 20261125) -> Estimate:
    """Population attributable fraction (P(churn) - P(churn | unexposed)) / P(churn).

    Interval: parametric bootstrap of the 2x2 table (multinomial resampling of its
    four cells), percentile method. Read as "the share of churn that would go if the
    exposed churned like the rest", which is causal only under strong assumptions.
    """
    cells = np.array([(exposed & churned).sum(), (exposed & ~churned).sum(),
                      (~exposed & churned).sum(), (~exposed & ~churned).sum()], dtype=float)
    n = int(cells.sum())

    def paf(c: np.ndarray) -> np.ndarray:
        c = np.atleast_2d(c)
        p = (c[:, 0] + c[:, 2]) / c.sum(axis=1)
        p0 = c[:, 2] / np.maximum(c[:, 2] + c[:, 3], 1)
        return np.where(p > 0, (p - p0) / np.where(p > 0, p, 1), np.nan)

    value = float(paf(cells)[0])
    boot = paf(np.random.default_rng(seed).multinomial(n, cells / n, size=draws))
    low, high = np.nanquantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return Estimate(value, float(low), float(high), n,
                    "population attributable fraction, multinomial bootstrap", level, "share")


def care_churn(features: pd.DataFrame, baseline: pd.DataFrame | None = None,
               level: float = 0.95) -> CareChurn:
    """Churn in the window of never-contacted / unresolved-complaint customers vs the rest.

    Among customers active at the window start. ``baseline``: features at the
    window start, so contact and complaint status are measured before the outcome.
    Holm correction over the comparisons.
    """
    frame = _exposures(features, baseline, ["contacts_total", "unresolved_complaints"])
    require_columns(frame, ["contacts_total", "unresolved_complaints", "retained"], "care_churn")
    retained = as_float(frame["retained"])
    at_risk = np.isfinite(retained)
    contacts = as_float(frame["contacts_total"])[at_risk]
    unresolved = as_float(frame["unresolved_complaints"])[at_risk]
    churned = retained[at_risk] == 0
    never = np.nan_to_num(contacts, nan=0.0) == 0
    open_complaint = np.nan_to_num(unresolved, nan=0.0) > 0
    low_care = never | open_complaint
    rows = [_churn_comparison("never contacted vs rest", never, churned, level),
            _churn_comparison("unresolved complaint vs rest", open_complaint, churned, level),
            _churn_comparison("either (low care) vs rest", low_care, churned, level)]
    summary = pd.DataFrame(rows)
    ok = summary["p"].notna()
    summary["p_adj"] = np.nan
    if ok.any():
        summary.loc[ok, "p_adj"] = holm(summary.loc[ok, "p"])[1]
    share = attributable_share(low_care, churned, level)
    return CareChurn(summary, share, int(at_risk.sum()), int(churned.sum()))


def claim_c10(features: pd.DataFrame, baseline: pd.DataFrame | None = None,
              rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C10: is two thirds of churn linked to missing care (no contact, unresolved complaint)?"""
    method = "population attributable fraction of churn for low care, bootstrap interval"
    reason = interactions_missing_reason(features, "contacts_total")
    if reason:
        return ClaimResult.not_testable("C10", reason, method)
    if "churned" not in features or "active_at_start" not in features:
        return ClaimResult.not_testable("C10", "churn flags missing from the features", method)
    care = care_churn(features, baseline)
    if care.churners < 10:
        return ClaimResult.not_testable(
            "C10", f"only {care.churners} customers churned in the window; need 10", method)
    share = care.attributable_share
    either = care.summary.iloc[2]
    summary = (f"{_pct(share.value).lstrip('+')} of churn is linked to low care [{_pct(share.low)},"
               f" {_pct(share.high)}] (claim: 67%); low-care customers churned "
               f"{either['exposed_churn']:.0%} vs {either['rest_churn']:.0%} for the rest. "
               "Association, not proof of why customers left.")
    return answer(rule("C10", rules), share, summary,
                  details={"comparisons": care.summary, "at_risk": care.at_risk,
                           "churners": care.churners})


# ---------------------------------------------------------------------------------------- C12


def claim_c12(table: CorrelationTable | None, reason: str | None = None,
              rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C12: every satisfaction indicator moves with profit after service cost, in its
    expected direction: each indicator's (partial, when available) rank correlation with
    profit, aligned with its expected sign, is a part of the claim (all must hold)."""
    c12 = rule("C12", rules)
    method = "Spearman correlations with profit, partial on tenure and size"
    if table is None:
        return ClaimResult.not_testable("C12", reason or "no correlation table", method,
                                        reading=c12.reading, quantity=c12.quantity)
    rows = table.summary[table.summary["profit"] == "profit"]
    if rows.empty:
        return ClaimResult.not_testable("C12", "profit is unknown (no cost of goods)", method,
                                        reading=c12.reading, quantity=c12.quantity)
    prefix = "partial_" if "partial_r" in rows else ""
    parts = {}
    for _, row in rows.iterrows():
        sign = float(row["expected_sign"])
        r, low, high = (float(row[prefix + c]) for c in ("r", "low", "high"))
        bounds = sorted((sign * low, sign * high))
        parts[row["satisfaction_label"]] = Estimate(
            sign * r, bounds[0], bounds[1], int(row["n"]),
            f"{method} ({table.level}), sign-aligned", unit="r")
    summary = (f"{len(parts)} satisfaction indicators were correlated with profit; correlations "
               f"are weak to moderate (|r| up to {rows[prefix + 'r'].abs().max():.2f}).")
    return answer(c12, None, summary, parts=parts, method=method,
                  details={"table": rows.drop(columns=["satisfaction", "profit"])})
