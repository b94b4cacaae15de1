"""The churn section in one call, with its reader tables.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.analyses.churn.classifier import (
    CLASSIFIER_INPUTS,
    ChurnClassifier,
    classifier_frame,
    fit_classifier,
)
from analysis.analyses.churn.rates import annualise, churn_rate, claim_c11
from analysis.analyses.churn.survival import (
    CoxResult,
    RetentionCurves,
    _p_text,
    add_early_service,
    claim_c3,
    claim_c4,
    claim_c5,
    fit_cox,
    landmark_frame,
    retention_curves,
)
from analysis.analyses.claims import claim_rules
from analysis.core.results import ClaimResult, Estimate

# -- the section in one call --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChurnReport:
    monthly: Estimate
    monthly_annualised: Estimate
    annual: Estimate
    landmark_customers: int
    retention: tuple[RetentionCurves, ...]
    cox: CoxResult | None
    cox_service: CoxResult | None
    cox_response: CoxResult | None
    classifier: ChurnClassifier | None
    risk: pd.DataFrame  # customer_id, churn_risk (current month, active customers)
    claims: tuple[ClaimResult, ...]
    notes: tuple[str, ...]
    churn_days: int = 180
    landmark_days: int = 90

    def headlines(self) -> dict[str, Estimate]:
        out = {"churn_rate_month": self.monthly, "churn_rate_12m": self.annual}
        if self.cox is not None and "referred_vs_advertising" in set(self.cox.table["term"]):
            out["referral_hazard_ratio"] = self.cox.ratio("referred_vs_advertising")
        response = self.response_time_hazard()
        if response is not None:
            out["response_time_hazard_ratio"] = response
        if self.classifier is not None:
            out["lapse_model_auc"] = self.classifier.auc
        return out

    def response_time_hazard(self) -> Estimate | None:
        """Hazard side of C9: churn hazard per doubling of early complaint resolution time."""
        term = "log2_early_response_hours"
        if self.cox_response is None or term not in set(self.cox_response.table["term"]):
            return None
        return self.cox_response.ratio(term)

    def summary(self) -> pd.DataFrame:
        """The claims of this section, one row each."""
        return pd.DataFrame([{"claim": c.claim_id, "verdict": c.verdict.value,
                              "estimate": c.estimate, "low": c.low, "high": c.high, "n": c.n,
                              "summary": c.summary} for c in self.claims])

    def extra(self) -> dict:
        """Model tables and checks for results.json (beyond claims and headlines)."""
        def table(model):
            return None if model is None else {"n": model.n, "events": model.events,
                                               "loglik": model.loglik, "terms": model.table}
        return {
            "churn_days": self.churn_days, "landmark_days": self.landmark_days,
            "landmark_customers": self.landmark_customers,
            "cox": table(self.cox), "cox_service": table(self.cox_service),
            "cox_response": table(self.cox_response),
            "c9_hazard_side": self.response_time_hazard(),
            "retention_1y": {c.by: c.at_one_year for c in self.retention},
            "logrank_p": {c.by: c.logrank_p for c in self.retention},
            "classifier": None if self.classifier is None else {
                "auc": self.classifier.auc, "odds_ratios": self.classifier.odds_ratios,
                "calibration": self.classifier.calibration,
                "train_months": list(self.classifier.train_months),
                "test_month": self.classifier.test_month, "n_train": self.classifier.n_train},
            "notes": list(self.notes),
        }


def bands(frame: pd.DataFrame) -> pd.DataFrame:
    """Promotion-share and breadth bands of the landmark frame, for retention curves."""
    out = frame.copy()
    if out["early_promo_share"].notna().any():
        out["promotion_band"] = pd.cut(out["early_promo_share"], [-0.01, 0.0001, 0.25, 0.5, 1.01],
                                       labels=["none", "up to 25%", "25-50%", "over 50%"])
    if out["early_categories"].notna().any():
        out["breadth_band"] = pd.cut(out["early_categories"], [0, 1, 2, 100],
                                     labels=["1 category", "2 categories", "3 or more"])
    return out


def churn_report(ctx, landmark_days: int = 90, horizon: int = 3) -> ChurnReport:
    """Churn rates, retention curves, Cox models, the lapse classifier and the claims."""
    churn_days = ctx.settings.churn_days
    monthly = churn_rate(ctx.features(), "month")
    annual = churn_rate(ctx.features(*ctx.window(12)), "last 12 months")
    frame = landmark_frame(ctx.data.transactions, ctx.data.customers, ctx.period.end,
                           churn_days, landmark_days)
    frame = add_early_service(frame, ctx.data.surveys, ctx.data.interactions, landmark_days)
    frame = bands(frame)
    notes = []
    groups = [c for c in ("channel", "market_type", "promotion_band", "breadth_band")
              if c in frame and frame[c].notna().any()]
    curves = []
    for column in groups:
        try:
            curves.append(retention_curves(frame, column))
        except ValueError as error:
            notes.append(str(error))
    cox = cox_service = cox_response = None
    reason = None
    try:
        cox = fit_cox(frame)
    except ValueError as error:
        reason = str(error)
    service = [c for c in ("early_satisfaction", "early_complaints", "early_uncared")
               if c in frame and frame[c].notna().sum() > 100]
    if cox is not None and service:
        cox_service = _try(lambda: fit_cox(frame, service), notes)
    responses = frame.get("log2_early_response_hours", pd.Series(dtype=float)).notna().sum()
    if cox is not None and responses > 100:
        cox_response = _try(lambda: fit_cox(frame, ["log2_early_response_hours"]), notes)
    elif cox is not None:
        notes.append(f"only {responses} customers had a complaint resolved in their first "
                     f"{landmark_days} days; the response-time model needs more than 100")
    risk = pd.DataFrame(columns=["customer_id", "churn_risk"])
    model_frame = classifier_frame(ctx.panel(CLASSIFIER_INPUTS), horizon)
    classifier = _try(lambda: fit_classifier(model_frame, horizon=horizon), notes)
    if classifier is not None:
        now = model_frame[model_frame["month"] == ctx.period.label]
        risk = pd.DataFrame({"customer_id": now["customer_id"],
                             "churn_risk": classifier.score(now).to_numpy()})
    rules = claim_rules(ctx.settings)
    claims = (claim_c3(cox, reason, rules), claim_c4(cox, reason, rules),
              claim_c5(cox, reason, rules), claim_c11(annual, churn_days, rules))
    return ChurnReport(monthly, annualise(monthly), annual, len(frame), tuple(curves), cox,
                       cox_service, cox_response, classifier, risk.reset_index(drop=True),
                       claims, tuple(notes), churn_days, landmark_days)


def _try(build, notes: list[str]):
    try:
        return build()
    except (ValueError, np.linalg.LinAlgError) as error:
        notes.append(str(error))
        return None


def hazard_table(cox: CoxResult) -> pd.DataFrame:
    """Hazard ratios for the report: readable names, intervals, Holm p and the PH check."""
    t = cox.table
    return pd.DataFrame({
        "factor": t["meaning"],
        "hazard ratio": t["hazard_ratio"].map("{:.2f}".format),
        "95% interval": [f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(t["low"], t["high"],
                                                                     strict=True)],
        "p (Holm)": t["p_holm"].map(_p_text),
        "PH check p": t["ph_p"].map(_p_text),
    })
