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
from analysis.analyses.satisfaction.correlations import correlation
from analysis.analyses.satisfaction.indicators import (
    as_float,
    interactions_missing_reason,
    require_columns,
    satisfaction_missing_reason,
    with_derived,
)
from analysis.analyses.satisfaction.link import IndicatorLink, indicator_link
from analysis.analyses.satisfaction.regression import period_effect, profit_regression
from analysis.core.multitest import holm
from analysis.core.results import ClaimResult, Estimate
from analysis.core.text import count, finite, has_interval
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

def _and(words) -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = list(words)
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else \
        "".join(words)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.1f}%"


# ----------------------------------------------------------------------------------------- C7


#: the readings of "+5 points of satisfaction" (C7), the first drives the verdict
C7_READINGS = {
    "top_box": "+5 percentage points more customers in the top box (customers compared)",
    "scale": "+5% of the satisfaction scale, e.g. 0.2 points on a 1-5 scale (customers "
             "compared)",
    "over_time": "+5 percentage points of top-box customers in a month (the company over "
                 "time)",
}
C7_MIN_MONTHS = 12


@dataclasses.dataclass(frozen=True)
class SatisfactionReadings:
    """C7 under each reading of "+5 points": relative change in profit per customer."""

    top_box: Estimate | None
    scale: Estimate | None
    over_time: Estimate | None
    reasons: Mapping[str, str]       # reading -> why it has no estimate
    scale_points: float | None = None   # the scale reading's step in scale points

    @property
    def driving(self) -> str | None:
        """The reading the verdict follows: the top-box share (the claim speaks of
        percentage points), else the scale."""
        return "top_box" if self.top_box is not None else (
            "scale" if self.scale is not None else None)

    @property
    def summary(self) -> pd.DataFrame:
        rows = []
        for key, text in C7_READINGS.items():
            e = getattr(self, key)
            rows.append({"reading": text, "profit change": None if e is None else e.value,
                         "low": None if e is None else e.low,
                         "high": None if e is None else e.high,
                         "n": None if e is None else e.n,
                         "unit of n": "months" if key == "over_time" else "customers",
                         "drives the verdict": key == self.driving,
                         "note": self.reasons.get(key, "")})
        return pd.DataFrame(rows)


def satisfaction_readings(features: pd.DataFrame, scale: Scale,
                          satisfaction: str = "satisfaction_mean",
                          panel: pd.DataFrame | None = None) -> SatisfactionReadings:
    """The relative change in profit per customer under the three readings of C7."""
    reasons: dict[str, str] = {}

    def attempt(key, build):
        try:
            return build()
        except ValueError as error:
            reasons[key] = str(error)
            return None

    top = None
    if "top_box" in features and np.isfinite(as_float(features["top_box"])).any():
        top = attempt("top_box", lambda: profit_regression(
            features, scale, "profit", "top_box", delta=0.05).relative)
    else:
        reasons["top_box"] = "no top-box flag (no surveys)"
    reg = attempt("scale", lambda: profit_regression(features, scale, "profit", satisfaction))
    over_time = None
    if panel is None:
        reasons["over_time"] = "no monthly panel was given"
    else:
        effect = attempt("over_time", lambda: period_effect(
            panel, scale, satisfaction="top_box", delta=0.05, min_periods=C7_MIN_MONTHS))
        if effect is not None:
            over_time = dataclasses.replace(
                effect.relative, method="association over time: OLS of log profit per buying "
                "customer on the monthly top-box share, HAC(3) errors")
    return SatisfactionReadings(top, None if reg is None else reg.relative, over_time,
                                reasons, None if reg is None else reg.delta_points)


def claim_c7(features: pd.DataFrame, scale: Scale | None,
             satisfaction: str = "satisfaction_mean",
             rules: Mapping[str, ClaimRule] | None = None, *,
             panel: pd.DataFrame | None = None,
             readings: SatisfactionReadings | None = None) -> ClaimResult:
    """C7: relative change in profit per customer for "+5 points" of satisfaction.

    Read as +5 percentage points more customers in the top box (the claim speaks of
    percentage points): this reading drives the verdict. Also reported: +5% of the scale
    (0.2 points on a 1-5 scale), and, with ``panel`` (customer x month) and at least
    twelve months of surveys, the company over time (monthly top-box share vs monthly
    profit per customer, an association over time). ``readings``: the
    :func:`satisfaction_readings` of the same inputs, when the caller already has them.
    """
    c7 = rule("C7", rules)
    method = "OLS of window profit on satisfaction, HC3 errors, delta-method ratio"
    if scale is None:
        return ClaimResult.not_testable("C7", "no satisfaction scale declared (no surveys)",
                                        method, reading=c7.reading, quantity=c7.quantity)
    reason = satisfaction_missing_reason(features, satisfaction)
    if reason:
        return ClaimResult.not_testable("C7", reason, method, reading=c7.reading,
                                        quantity=c7.quantity)
    if "profit" not in features or not np.isfinite(as_float(features["profit"])).any():
        return ClaimResult.not_testable("C7", "profit is unknown (no cost of goods)", method,
                                        reading=c7.reading, quantity=c7.quantity)
    if readings is None:
        readings = satisfaction_readings(features, scale, satisfaction, panel)
    driving = readings.driving
    if driving is None:
        why = readings.reasons.get("top_box") or readings.reasons.get("scale", "")
        return ClaimResult.not_testable("C7", why, method, reading=c7.reading,
                                        quantity=c7.quantity)
    e = getattr(readings, driving)
    if driving == "scale":
        c7 = dataclasses.replace(
            c7, reading="customers 5% of the satisfaction scale more satisfied earn about "
                        "twice the profit (no top-box flag, so the scale reading is used)",
            quantity="relative change in profit per customer for +5% of the satisfaction "
                     "scale")

    def said(x: Estimate | None) -> str:
        return "n/a" if x is None else f"{_pct(x.value)} [{_pct(x.low)}, {_pct(x.high)}]"

    other = (f"; read as +{readings.scale_points:g} points on the {scale.name} scale, "
             f"{said(readings.scale)}" if driving == "top_box" and readings.scale else "")
    over = (f"; over time (months with more top-box customers), {said(readings.over_time)} "
            f"over {readings.over_time.n} months, an association over time"
            if readings.over_time is not None else "")
    lead = ("Judged reading: +5 percentage points more top-box customers go with "
            if driving == "top_box" else
            f"Judged reading: +{readings.scale_points:g} points of satisfaction go with ")
    summary = (f"{lead}{said(e)} profit per customer (n={e.n:,}; claim +100%){other}{over}. "
               "Associations, not causal effects.")
    return answer(
        c7, e, summary,
        details={"reading_used": driving, "readings": readings.summary,
                 "reasons": dict(readings.reasons), "scale_points": readings.scale_points})


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
    odds_ratio: Estimate | None = None   # Wald interval on the log odds ratio
    ceiling: Estimate | None = None      # the largest risk ratio the base rate allows

    @property
    def below_rate(self) -> float:
        return self.below_buyers / self.below_n

    def ceiling_text(self, claimed: float = 6.0) -> str:
        """The base-rate ceiling in words, and whether the claimed ratio is possible."""
        if self.ceiling is None or self.ceiling.value is None:
            return ""
        cap = self.ceiling
        text = (f"With {self.below_rate:.0%} of the box below buying again, no risk ratio above "
                f"{cap.value:.1f} is possible (1 / {self.below_rate:.0%})")
        if cap.high is not None and cap.high < claimed:
            return text + f", so {claimed:g}x is arithmetically impossible here."
        return text + "."

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
        raise ValueError(f"comparing buying again needs at least 10 surveyed customers in "
                         f"each box; the top box has {n1:,} and the box below {n0:,}")
    table = Table2x2(np.array([[a, n1 - a], [c, n0 - c]]), shift_zeros=True)
    low, high = table.riskratio_confint(alpha=1 - level)
    method = "risk ratio, Wald interval on the log scale"
    rr = Estimate(float(table.riskratio), float(low), float(high), n1 + n0, method, level, "x")
    s_low, s_high = confint_proportions_2indep(a, n1, c, n0, method="score", compare="ratio",
                                               alpha=1 - level)
    rr_score = Estimate(float(table.riskratio), float(s_low), float(s_high), n1 + n0,
                        "risk ratio, Koopman score interval", level, "x")
    p = float(stats.fisher_exact([[a, n1 - a], [c, n0 - c]])[1])
    o_low, o_high = table.oddsratio_confint(alpha=1 - level)
    odds = Estimate(float(table.oddsratio), float(o_low), float(o_high), n1 + n0,
                    "odds ratio, Wald interval on the log scale", level, "x")
    below_label = f"{lo:g}" if hi - lo == 1 else f"{lo:g}-{hi - 1:g}"
    return RepurchaseRisk(f"top box ({scale.top_box:g}+)", f"box below ({below_label})", a, n1,
                          c, n0, rr, rr_score, p, odds, risk_ratio_ceiling(c, n0, level))


def risk_ratio_ceiling(buyers: int, n: int, level: float = 0.95) -> Estimate | None:
    """The largest risk ratio a group can have against a group whose rate is buyers / n: a
    rate cannot exceed 100%, so the ratio cannot exceed 1 / rate. Interval: 1 / the Wilson
    interval of the rate."""
    if n <= 0 or buyers <= 0:
        return None
    low, high = proportion_confint(buyers, n, alpha=1 - level, method="wilson")
    return Estimate(n / buyers, float(1 / high), float(1 / low), n,
                    "1 / repurchase rate of the box below (Wilson interval)", level, "x")


def claim_c8(features: pd.DataFrame, scale: Scale | None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C8: is a top-box customer six times as likely to buy again as one in the box below?"""
    method = "risk ratio of repurchase in the next window, top box vs box below"
    c8 = rule("C8", rules)
    common = {"reading": c8.reading, "quantity": c8.quantity}
    if scale is None:
        return ClaimResult.not_testable("C8", "no satisfaction scale declared (no surveys)",
                                        method, **common)
    reason = satisfaction_missing_reason(features, "satisfaction_latest")
    if reason:
        return ClaimResult.not_testable("C8", reason, method, **common)
    if "repurchase_next" not in features or features["repurchase_next"].isna().all():
        return ClaimResult.not_testable(
            "C8", "repurchase in the next window is not observed yet (data end too soon)",
            method, **common)
    try:
        risk = repurchase_risk(features, scale)
    except ValueError as err:
        return ClaimResult.not_testable("C8", str(err), method, **common)
    rr, odds, cap = risk.risk_ratio, risk.odds_ratio, risk.ceiling
    claimed = float(c8.claimed)
    summary = (f"Top-box customers bought again {rr.value:.2f} times as often as the box below "
               f"[{rr.low:.2f}, {rr.high:.2f}] ({risk.top_buyers:,}/{risk.top_n:,} vs "
               f"{risk.below_buyers:,}/{risk.below_n:,}; odds ratio {odds.value:.2f} "
               f"[{odds.low:.2f}, {odds.high:.2f}]); the claim is {claimed:g}x. "
               f"{risk.ceiling_text(claimed)}")
    impossible = cap is not None and cap.high is not None and cap.high < c8.edges[0]
    return answer(
        c8, rr, summary,
        details={"table": risk.summary, "score_interval": risk.risk_ratio_score,
                 "fisher_p": risk.p_value, "odds_ratio": odds, "risk_ratio_ceiling": cap,
                 "claim_impossible": impossible,
                 "why": ("the one rule judges the risk ratio the claim names; where the base "
                         "rate caps it below the least that counts as the claim, the claim "
                         "cannot hold for this company and is weaker than claimed, whatever "
                         "the data" if impossible else "")})


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
        raise ValueError(f"only {int(use.sum()):,} customers have both a resolved complaint "
                         "and a known outcome (active at the start of the window, so "
                         "staying or leaving is observed); need at least 30")
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
    if finite(odds.value) is None:
        return ClaimResult.not_testable(
            "C9", "the odds of staying could not be estimated against response time", method)
    span = (f" [{odds.low:.2f}, {odds.high:.2f}]" if has_interval(odds.low, odds.high) else "")
    r = finite(bands.satisfaction_correlation.value)
    correlation = (f"Spearman r = {r:.2f}" if r is not None else
                   "no correlation can be computed (satisfaction or response time does not vary)")
    summary = (f"Each doubling of complaint response time goes with {odds.value:.2f}x the odds "
               f"of staying{span}, n={count(odds.n)}; satisfaction vs response time: "
               f"{correlation}. A link, not proof that speed causes loyalty; 'direct "
               "proportion' is not tested.")
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

    method = "population attributable fraction, multinomial bootstrap"
    if n == 0:
        return Estimate(None, n=0, method=f"{method}: not computed, no customer at risk",
                        level=level, unit="share")
    if cells[0] + cells[2] == 0:
        return Estimate(None, n=n, method=f"{method}: not computed, nobody churned",
                        level=level, unit="share")
    value = float(paf(cells)[0])
    boot = paf(np.random.default_rng(seed).multinomial(n, cells / n, size=draws))
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return Estimate(value, n=n, method=f"{method}: no interval", level=level, unit="share")
    low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return Estimate(value, float(low), float(high), n, method, level, "share")


#: contacts the company initiated (interaction type ``contact``): C10's care
CARE_CONTACTS = "care_contacts_total"


def care_churn(features: pd.DataFrame, baseline: pd.DataFrame | None = None,
               level: float = 0.95) -> CareChurn:
    """Churn in the window of customers the company never contacted / with an unresolved
    complaint vs the rest.

    "Contact" is contact initiated by the company (interactions of type ``contact``:
    ``care_contacts_total``); a customer's own complaints and requests are not care.
    Among customers active at the window start. ``baseline``: features at the
    window start, so contact and complaint status are measured before the outcome.
    Holm correction over the comparisons.
    """
    frame = _exposures(features, baseline, [CARE_CONTACTS, "unresolved_complaints"])
    require_columns(frame, [CARE_CONTACTS, "unresolved_complaints", "retained"], "care_churn")
    retained = as_float(frame["retained"])
    at_risk = np.isfinite(retained)
    if not at_risk.any():
        raise ValueError("no customer was active at the start of the window, so nobody could "
                         "churn in it (the data hold no earlier months)")
    contacts = as_float(frame[CARE_CONTACTS])[at_risk]
    unresolved = as_float(frame["unresolved_complaints"])[at_risk]
    churned = retained[at_risk] == 0
    if not churned.any():
        raise ValueError(f"nobody churned in the window among the {int(at_risk.sum()):,} "
                         "customers active at its start, so no churn can be linked to low care")
    never = np.nan_to_num(contacts, nan=0.0) == 0
    open_complaint = np.nan_to_num(unresolved, nan=0.0) > 0
    low_care = never | open_complaint
    rows = [_churn_comparison("never contacted by the company vs rest", never, churned, level),
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
    """C10: is two thirds of churn linked to missing care (no contact initiated by the
    company, or an unresolved complaint)?"""
    method = "population attributable fraction of churn for low care, bootstrap interval"
    reason = interactions_missing_reason(features, "contacts_total")
    if reason:
        return ClaimResult.not_testable("C10", reason, method)
    if "churned" not in features or "active_at_start" not in features:
        return ClaimResult.not_testable("C10", "churn flags missing from the features", method)
    try:
        care = care_churn(features, baseline)
    except ValueError as err:
        return ClaimResult.not_testable("C10", str(err), method)
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


def claim_c12(link: IndicatorLink | pd.DataFrame | None, reason: str | None = None,
              rules: Mapping[str, ClaimRule] | None = None, *, replicates: int = 200,
              seed: int = 0) -> ClaimResult:
    """C12: do satisfaction indicators move with profit, each in its expected direction?

    ``link``: :func:`~analysis.analyses.satisfaction.link.indicator_link` (or the feature
    table, from which it is computed with ``replicates`` and ``seed``). The estimate is the
    median signed partial correlation of the satisfaction indicators with profit, with a
    customer-bootstrap interval; the parts of profit (order value, return rate, and the
    complaint rate where complaints carry service cost) are reported apart, not in it.
    """
    c12 = rule("C12", rules)
    method = "median signed partial Spearman correlation with profit, customer bootstrap"
    common = {"reading": c12.reading, "quantity": c12.quantity}
    if isinstance(link, pd.DataFrame):
        link = indicator_link(link, replicates=replicates, seed=seed)
    elif link is not None and not isinstance(link, IndicatorLink):
        raise TypeError(f"claim_c12 takes indicator_link(features) or the feature table, not "
                        f"a {type(link).__name__} (the correlation table is descriptive only)")
    if link is None:
        return ClaimResult.not_testable("C12", reason or "no satisfaction indicators", method,
                                        **common)
    if link.estimate is None:
        return ClaimResult.not_testable("C12", reason or link.reason, method, **common)
    e = link.estimate
    names = _and(label.split(" (")[0].lower() for label in link.indicators["label"])
    apart = _and(label.split(" (")[0].lower() for label in link.accounting["label"])
    summary = (f"Across {len(link.indicators)} satisfaction indicators ({names}), the typical "
               f"partial correlation with profit is {e.value:+.2f} "
               f"[{e.low:+.2f}, {e.high:+.2f}]"
               + (f", with {apart} shown apart as parts of profit." if apart else "."))
    return answer(c12, e, summary, method=e.method,
                  details={"indicators": link.indicators, "accounting_parts": link.accounting,
                           "replicates": link.replicates})
