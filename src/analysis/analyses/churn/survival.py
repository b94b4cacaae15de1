"""Churn and retention: churn rates (C11), Kaplan-Meier curves, a Cox model (C3, C4, C5)
and an out-of-time churn classifier.

Churn is defined by the company's configuration: a customer is churned once they have
not bought for ``churn_days`` (default 180). For survival models a customer enters at a
*landmark*, ``landmark_days`` (default 90) after their first purchase, with covariates
measured in those first days only (orders, categories, promotion share, revenue): measuring
frequency or breadth over the whole life would make long-lived customers look frequent and
broad by construction. The same holds for service: satisfaction surveys, complaints and
care contacts only happen while a customer is still around, so counting them over the whole
life would credit long-lived customers with more contact (immortal-time bias). Service
covariates are therefore also measured before the landmark. The event time is the day the
inactivity rule fires (last purchase + churn_days); customers still active at the period end
are censored there. Time is counted in whole days from the landmark.

The churn rule comes from configuration (``[churn] inactivity_days``). Contract-end churn
needs a contract end date in the data contract, which it does not have yet.

Everything here is association, not cause: customers choose their channel, their
promotions and their breadth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from analysis.analyses.churn.rates import _require
from analysis.analyses.claims import rule
from analysis.core import plots
from analysis.core.multitest import holm
from analysis.core.results import ClaimResult, Estimate
from analysis.core.verdicts import ClaimRule, answer
from analysis.data.contract import CustomerData
from analysis.engine.features import FeatureEngine

# -- survival data ------------------------------------------------------------------------------


def landmark_frame(lines: pd.DataFrame | FeatureEngine, customers: pd.DataFrame | None,
                   end: pd.Timestamp, churn_days: int = 180,
                   landmark_days: int = 90) -> pd.DataFrame:
    """One row per customer past the landmark: early behaviour, duration and churn event.

    ``lines``: the engine that holds the contract transactions (``ctx.engine``: the raw lines
    stay there) or the transactions themselves."""
    if churn_days <= 0 or landmark_days < 0:
        raise ValueError(f"landmark_frame: churn_days ({churn_days}) must be positive and "
                         f"landmark_days ({landmark_days}) non-negative")
    if not isinstance(lines, FeatureEngine):
        _require(lines, ["customer_id", "timestamp", "revenue", "is_return"], "landmark_frame",
                 "pass contract transactions (ctx.data.transactions)")
        lines = FeatureEngine(CustomerData(lines))
    frame = lines.early_behaviour(pd.Timestamp(end), landmark_days)
    landmark = frame["first_purchase"] + pd.Timedelta(days=landmark_days)
    frame = frame[landmark < end].copy()
    landmark = landmark[frame.index]
    fires = frame["last_purchase"] + pd.Timedelta(days=churn_days)
    frame["churned"] = (fires <= end).astype(int)
    stop = fires.where(fires <= end, end)
    # whole days: the churn rule works in days, and fewer distinct event times keep the
    # Cox partial likelihood fast
    frame["duration_days"] = ((stop - landmark).dt.total_seconds() / 86400).round().clip(lower=1)
    frame["early_orders"] = frame["early_orders"].astype(float)
    if customers is not None:
        cols = [c for c in ("customer_id", "channel", "market_type") if c in customers]
        frame = frame.merge(customers[cols], on="customer_id", how="left")
    return frame.reset_index(drop=True)


def add_early_service(frame: pd.DataFrame, surveys: pd.DataFrame | None,
                      interactions: pd.DataFrame | None,
                      landmark_days: int = 90) -> pd.DataFrame:
    """Satisfaction and service measured before each customer's landmark.

    Adds ``early_satisfaction`` (mean survey score before the landmark, NaN if not surveyed
    then), ``early_complaints`` (complaints opened before the landmark), ``early_uncared``
    (1 if the company made no care contact - interaction type ``contact`` - before the
    landmark) and ``log2_early_response_hours`` (median hours to resolve the complaints
    resolved before the landmark, log2; NaN if none). Optional tables that are missing add
    nothing.
    """
    _require(frame, ["customer_id", "first_purchase"], "add_early_service",
             "pass the output of landmark_frame")
    out = frame.copy()
    # datetime even when nobody is past the landmark (an empty frame has no datetimes to
    # infer it from, and mapping ids onto an empty float series cannot give dates)
    landmark = (pd.to_datetime(out.set_index("customer_id")["first_purchase"])
                .astype("datetime64[ns]") + pd.Timedelta(days=landmark_days))
    if surveys is not None and len(surveys):
        _require(surveys, ["customer_id", "survey_date", "score"], "add_early_service",
                 "pass contract surveys (ctx.data.surveys)")
        early = _before_landmark(surveys, "survey_date", landmark)
        out["early_satisfaction"] = out["customer_id"].map(
            early.groupby("customer_id")["score"].mean()).astype(float)
    if interactions is not None and len(interactions):
        _require(interactions, ["customer_id", "opened_at", "resolved_at", "type"],
                 "add_early_service", "pass contract interactions (ctx.data.interactions)")
        early = _before_landmark(interactions, "opened_at", landmark)
        kinds = early["type"].astype(str)
        complaints = early[kinds == "complaint"]
        out["early_complaints"] = out["customer_id"].map(
            complaints.groupby("customer_id").size()).fillna(0).astype(float)
        cared = set(early.loc[kinds == "contact", "customer_id"])
        out["early_uncared"] = (~out["customer_id"].isin(cared)).astype(float)
        resolved = complaints[complaints["resolved_at"] < complaints["landmark"]]
        hours = (resolved["resolved_at"] - resolved["opened_at"]).dt.total_seconds() / 3600
        median = hours.groupby(resolved["customer_id"]).median()
        out["log2_early_response_hours"] = np.log2(
            out["customer_id"].map(median).astype(float).clip(lower=0.5))
    return out


def _before_landmark(table: pd.DataFrame, when: str, landmark: pd.Series) -> pd.DataFrame:
    if landmark.empty:
        return table.iloc[:0].assign(landmark=pd.Series(dtype="datetime64[ns]"))
    rows = table.assign(landmark=table["customer_id"].map(landmark))
    return rows[rows[when] < rows["landmark"]]


# -- Kaplan-Meier -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RetentionCurves:
    """Kaplan-Meier retention by group with a log-rank test of equality."""

    by: str
    curves: pd.DataFrame   # group, days, retention, low, high
    at_one_year: pd.DataFrame  # group, customers, churned, retention, low, high
    logrank_chi2: float
    logrank_p: float

    def summary(self) -> pd.DataFrame:
        return self.at_one_year


def retention_curves(frame: pd.DataFrame, by: str, min_group: int = 30) -> RetentionCurves:
    """Kaplan-Meier curve per group (log-log pointwise 95% bands), one-year retention and
    the log-rank test; groups smaller than ``min_group`` are left out."""
    _require(frame, [by, "duration_days", "churned"], "retention_curves",
             "pass a landmark frame (landmark_frame + bands)")
    data = frame.dropna(subset=[by])
    counts = data[by].value_counts()
    data = data[data[by].isin(counts[counts >= min_group].index)]
    if data[by].nunique() < 2:
        raise ValueError(f"retention_curves: column {by!r} needs two groups of at least "
                         f"{min_group} customers")
    curves, year = [], []
    for group, part in data.groupby(by, observed=True, sort=True):
        sf = SurvfuncRight(part["duration_days"].to_numpy(), part["churned"].to_numpy())
        low, high = _pointwise_cb(sf)
        # start every curve at 100% on day 0 (SurvfuncRight lists event times only)
        curves.append(pd.DataFrame({by: group, "days": np.r_[0.0, sf.surv_times],
                                    "retention": np.r_[1.0, sf.surv_prob],
                                    "low": np.r_[1.0, low], "high": np.r_[1.0, high]}))
        idx = np.searchsorted(sf.surv_times, 365, side="right") - 1
        value = 1.0 if idx < 0 else float(sf.surv_prob[idx])
        lo, hi = (1.0, 1.0) if idx < 0 else (float(low[idx]), float(high[idx]))
        year.append({by: group, "customers": len(part), "churned": int(part["churned"].sum()),
                     "retention_1y": value, "low": lo, "high": hi})
    chi2, p = survdiff(data["duration_days"].to_numpy(), data["churned"].to_numpy(),
                       data[by].astype(str).to_numpy())
    return RetentionCurves(by, pd.concat(curves, ignore_index=True), pd.DataFrame(year),
                           float(chi2), float(p))


def _pointwise_cb(sf: SurvfuncRight) -> tuple[np.ndarray, np.ndarray]:
    """95% pointwise interval on the log(-log) scale (Kalbfleisch-Prentice)."""
    s = np.clip(sf.surv_prob, 1e-12, 1 - 1e-12)
    se = sf.surv_prob_se / (s * np.abs(np.log(s)))
    z = stats.norm.ppf(0.975)
    loglog = np.log(-np.log(s))
    return np.exp(-np.exp(loglog + z * se)), np.exp(-np.exp(loglog - z * se))


def plot_retention(curves: RetentionCurves, ax=None, title: str | None = None,
                   landmark_days: int = 90):
    if ax is None:
        _, ax = plots.new_figure()
    for group in curves.at_one_year[curves.by]:  # groups in their natural (band) order
        part = curves.curves[curves.curves[curves.by] == group]
        line, = ax.step(part["days"], part["retention"], where="post", label=str(group))
        ax.fill_between(part["days"], part["low"], part["high"], step="post", alpha=0.12,
                        color=line.get_color())
    best = curves.at_one_year.sort_values("retention_1y").iloc[-1]
    plots.finding(ax, title or f"Retention differs by {curves.by.replace('_', ' ')}: "
                  f"{best[curves.by]} keeps {best['retention_1y']:.0%} after a year",
                  f"Kaplan-Meier from {landmark_days} days after first purchase; log-rank "
                  f"p {_p_phrase(curves.logrank_p)}")
    plots.percent_axis(ax)
    ax.set_xlabel("days since the landmark")
    ax.set_ylabel("customers not yet churned")
    ax.legend(title=curves.by.replace("_", " "), fontsize=8)
    return ax


# -- Cox model ----------------------------------------------------------------------------------


COX_TERMS = {
    "referred_vs_advertising": "referral vs advertising acquisition",
    "early_promo_share_50pts": "+50 points of spend on promotion",
    "early_orders": "each extra order in the first 90 days",
    "early_categories": "each extra product category in the first 90 days",
    "log_early_revenue": "doubling of first-90-day revenue",
    "other_channel": "other channels vs advertising",
    "early_satisfaction": "each extra satisfaction point (early surveys)",
    "early_complaints": "each complaint in the first 90 days",
    "early_uncared": "no care contact from us in the first 90 days",
    "log2_early_response_hours": "doubling of the time to resolve early complaints",
}


@dataclasses.dataclass(frozen=True)
class CoxResult:
    """Hazard ratios (>1 = churns sooner) with intervals, Holm-adjusted p and PH checks."""

    table: pd.DataFrame  # term, meaning, hazard_ratio, low, high, p, p_holm, ph_p
    n: int
    events: int
    loglik: float
    formula: str
    definition: str = "inactivity rule"
    imputations: int = 1
    split_days: float | None = None   # first_year_* / later_* columns when PH fails
    #: terms left out of the model, with why (e.g. every customer has the same value)
    dropped: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def ratio(self, term: str) -> Estimate:
        row = self.table.set_index("term").loc[term]
        return Estimate(float(row["hazard_ratio"]), float(row["low"]), float(row["high"]),
                        self.n, f"Cox PH hazard ratio ({self.formula}; {self.definition}); "
                        f"Holm p = {row['p_holm']:.2g}", unit="hazard ratio")

    def ph_holds(self, term: str) -> bool:
        p = float(self.table.set_index("term").loc[term, "ph_p"])
        return not (np.isfinite(p) and p < 0.05)

    def claim_ratio(self, term: str) -> Estimate:
        """The hazard ratio a claim reads: the whole-follow-up ratio where proportional
        hazards hold; where they fail, the ratio in the first ``split_days`` after the
        landmark (from the model with a time-varying effect), which the method says."""
        row = self.table.set_index("term").loc[term]
        if self.ph_holds(term) or "first_year_hazard_ratio" not in self.table:
            return self.ratio(term)
        days = int(self.split_days or 365)
        return Estimate(float(row["first_year_hazard_ratio"]), float(row["first_year_low"]),
                        float(row["first_year_high"]), self.n,
                        f"Cox hazard ratio in the first {days} days after the landmark (the "
                        f"proportional-hazards check failed, p = {row['ph_p']:.2g}: the ratio "
                        f"changes over time; after {days} days it is "
                        f"{row['later_hazard_ratio']:.2f}); {self.definition}",
                        unit="hazard ratio")

    def summary(self) -> pd.DataFrame:
        return self.table


def cox_design(frame: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Covariates of the Cox model; rows with missing values dropped (counted by caller)."""
    out = pd.DataFrame(index=frame.index)
    if "channel" in frame and frame["channel"].notna().any():
        out["referred_vs_advertising"] = (frame["channel"] == "referral").astype(float)
        out["other_channel"] = (~frame["channel"].isin(["referral", "advertising"])).astype(float)
    if frame["early_promo_share"].notna().any():
        out["early_promo_share_50pts"] = frame["early_promo_share"].clip(0, 1) / 0.5
    out["early_orders"] = frame["early_orders"]
    if frame["early_categories"].notna().any():
        out["early_categories"] = frame["early_categories"].astype(float)
    out["log_early_revenue"] = np.log2(frame["early_revenue"].clip(lower=1.0))
    for column in extra:
        out[column] = frame[column].astype(float)
    return out


def dropped_terms(frame: pd.DataFrame, extra: Sequence[str], kept: Sequence[str]
                  ) -> dict[str, str]:
    """The design's terms a model left out, each with why, in words."""
    design = cox_design(frame, extra)
    out = {}
    for term in design.columns:
        if term in kept:
            continue
        values = design[term].dropna()
        meaning = COX_TERMS.get(term, term.replace("_", " "))
        out[term] = (f"every customer in the model has the same value for '{meaning}'"
                     if values.nunique() <= 1 else f"'{meaning}' could not be estimated")
    return out


def fit_cox(frame: pd.DataFrame, extra: Sequence[str] = ()) -> CoxResult:
    """Cox PH (Efron ties) of time to churn on early behaviour plus ``extra`` columns.

    Holm adjustment runs over all terms of the model; ``ph_p`` is the Schoenfeld check.
    """
    _require(frame, ["duration_days", "churned", "early_orders", "early_promo_share",
                     "early_categories", "early_revenue", *extra], "fit_cox",
             "build the frame with landmark_frame (and add_early_service for service terms)")
    design = cox_design(frame, extra)
    keep = design.notna().all(axis=1)
    design, data = design[keep], frame[keep]
    constant = [c for c in design.columns if not design[c].std() > 0]
    design = design.drop(columns=constant)  # e.g. never_contacted among complainers
    if int(data["churned"].sum()) < 20:
        raise ValueError(f"only {int(data['churned'].sum()):,} customers in the model left "
                         "(need at least 20 departures to compare how fast groups leave)")
    model = PHReg(data["duration_days"].to_numpy(), design.to_numpy(),
                  status=data["churned"].to_numpy(), ties="efron")
    result = model.fit()
    ci = result.conf_int()
    p = result.pvalues
    table = pd.DataFrame({
        "term": design.columns,
        "meaning": [COX_TERMS.get(c, c.replace("_", " ")) for c in design.columns],
        "hazard_ratio": np.exp(result.params),
        "low": np.exp(ci[:, 0]),
        "high": np.exp(ci[:, 1]),
        "p": p,
        "p_holm": holm(p)[1],
        "ph_p": ph_check(result, data["duration_days"].to_numpy(), data["churned"].to_numpy()),
    })
    return CoxResult(table, len(data), int(data["churned"].sum()), float(result.llf),
                     " + ".join(design.columns),
                     dropped=dropped_terms(data, extra, list(design.columns)))


def ph_check(result, durations: np.ndarray, events: np.ndarray) -> np.ndarray:
    """p-value per term of the correlation of Schoenfeld residuals with log time.

    Small p-values (< 0.05) mean the hazard ratio changes over time (PH violated).
    """
    resid = result.schoenfeld_residuals
    mask = events.astype(bool)
    times = np.log(np.maximum(durations[mask], 1e-9))
    out = []
    for j in range(resid.shape[1]):
        r = resid[mask, j]
        ok = np.isfinite(r)
        out.append(stats.spearmanr(times[ok], r[ok]).pvalue if ok.sum() > 10 else np.nan)
    return np.array(out)


def _checks(cox: CoxResult, term: str) -> dict:
    """Holm p and the proportional-hazards check of one term, for the claim's details."""
    row = cox.table.set_index("term").loc[term]
    return {"p_holm": float(row["p_holm"]), "ph_check_p": float(row["ph_p"]),
            "ph_holds": cox.ph_holds(term), "events": cox.events,
            "dropout_definition": cox.definition, "imputations": cox.imputations}


def _hazard_claim(cox: CoxResult | None, claim_rule: ClaimRule, term: str, missing: str,
                  summary: str, reason: str | None) -> ClaimResult:
    """A claim answered by one Cox hazard ratio; ``summary`` formats ``{hr:.2f}``."""
    if cox is None or term not in set(cox.table["term"]):
        if cox is not None and term in cox.dropped:
            missing = (f"not identifiable: {cox.dropped[term]}, so the model has nothing to "
                       "compare")
        return ClaimResult.not_testable(claim_rule.claim_id, reason or missing,
                                        reading=claim_rule.reading,
                                        quantity=claim_rule.quantity)
    e = cox.claim_ratio(term)
    return answer(claim_rule, e, summary.format(hr=e.value), details=_checks(cox, term))


def claim_c3(cox: CoxResult | None, reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    return _hazard_claim(
        cox, rule("C3", rules), "referred_vs_advertising", "acquisition channel is not recorded",
        "Referred customers churn at {hr:.2f} times the rate of customers won by advertising, "
        "with the same early behaviour.", reason)


def claim_c4(cox: CoxResult | None, reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    return _hazard_claim(
        cox, rule("C4", rules), "early_promo_share_50pts", "promotion flags are not recorded",
        "Customers buying half their early spend on promotion churn at {hr:.2f} times the rate "
        "of full-price buyers.", reason)


def claim_c5(cox: CoxResult | None, reason: str | None = None,
             rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """Frequency and breadth: both hazard ratios must hold (breadth only when categories
    are recorded; without them the claim is judged on frequency and says so)."""
    c5 = rule("C5", rules)
    if cox is None:
        return ClaimResult.not_testable("C5", reason or "no survival model could be fitted",
                                        reading=c5.reading, quantity=c5.quantity)
    terms = set(cox.table["term"])
    if "early_orders" not in terms:
        why = cox.dropped.get("early_orders", "early orders are not in the model")
        return ClaimResult.not_testable("C5", f"not identifiable: {why}", reading=c5.reading,
                                        quantity=c5.quantity)
    parts = {"frequency": cox.claim_ratio("early_orders")}
    details = {"frequency_" + k: v for k, v in _checks(cox, "early_orders").items()}
    if "early_categories" in terms:
        parts["breadth"] = cox.claim_ratio("early_categories")
        details |= {"breadth_" + k: v for k, v in _checks(cox, "early_categories").items()}
        text = (f"Each extra product category bought early goes with a churn rate "
                f"{parts['breadth'].value:.2f} times as high; each extra early order "
                f"{parts['frequency'].value:.2f} times.")
    else:
        text = (f"Each extra early order changes the churn rate by a factor "
                f"{parts['frequency'].value:.2f}; breadth cannot be tested (no product "
                "categories), so only frequency is judged.")
    for name, e in parts.items():
        details |= {f"{name}_hr": e.value, f"{name}_low": e.low, f"{name}_high": e.high}
    return answer(c5, None, text, parts=parts, details=details)


def _p_phrase(p: float) -> str:
    """'< 0.001' or '= 0.03', to follow a 'p'."""
    text = _p_text(p)
    return text if text.startswith("<") else f"= {text}"


def _p_text(p: float) -> str:
    return "n/a" if not np.isfinite(p) else "< 0.001" if p < 0.001 else f"{p:.2g}"
