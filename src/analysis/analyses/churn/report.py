"""The churn section in one call, with its reader tables.

For a shop, "still a customer" comes from the purchase models of the value section: the
churn rate of claim C11 is the model's share of today's active customers lost within a year
(the same numbers the value section shows), and the survival claims C3-C5 use dropout times
imputed from the Pareto/NBD (:mod:`analysis.analyses.churn.dropout`). The inactivity count
stays as a cross-check, with a window chosen from the data and its lag stated.
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
from analysis.analyses.churn.dropout import (
    dropout_inputs,
    fit_cox_model_dropout,
    imputed_frame,
)
from analysis.analyses.churn.inactivity import (
    InactivityWindow,
    inactivity_churn,
    inactivity_window,
)
from analysis.analyses.churn.rates import annualise, churn_rate, claim_c11_model
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
from analysis.analyses.clv.btyd import FittedModel, models_from_frame
from analysis.analyses.clv.value import RetentionForecast, retention_forecast
from analysis.core.results import ClaimResult, Estimate
from analysis.core.text import (
    NOT_AVAILABLE,
    count,
    finite,
    has_interval,
    interval,
    number,
    pct,
    span,
)
from analysis.engine.rfm import rfm_from_days

# -- the section in one call --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChurnReport:
    monthly: Estimate              # inactivity rule of the config, this month (cross-check)
    monthly_annualised: Estimate
    annual: Estimate               # the model's annual churn: the figure of C11
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
    forecast: RetentionForecast | None = None
    window: InactivityWindow | None = None
    inactivity_annual: Estimate | None = None   # with the data-chosen window (cross-check)

    def headlines(self) -> dict[str, Estimate]:
        out = {"churn_rate_month": self.monthly, "churn_rate_12m": self.annual}
        if self.inactivity_annual is not None:
            out["inactivity_churn_12m"] = self.inactivity_annual
        if self.cox is not None and "referred_vs_advertising" in set(self.cox.table["term"]):
            out["referral_hazard_ratio"] = self.cox.claim_ratio("referred_vs_advertising")
        response = self.response_time_hazard()
        if response is not None:
            out["response_time_hazard_ratio"] = response
        if self.classifier is not None and self.classifier.auc.value is not None:
            out["lapse_model_auc"] = self.classifier.auc
        return out

    def response_time_hazard(self) -> Estimate | None:
        """Hazard side of C9: churn hazard per doubling of early complaint resolution time."""
        term = "log2_early_response_hours"
        if self.cox_response is None or term not in set(self.cox_response.table["term"]):
            return None
        return self.cox_response.claim_ratio(term)

    def summary(self) -> pd.DataFrame:
        """The claims of this section, one row each."""
        return pd.DataFrame([{"claim": c.claim_id, "verdict": c.verdict.value,
                              "estimate": c.estimate, "low": c.low, "high": c.high, "n": c.n,
                              "summary": c.summary} for c in self.claims])

    def extra(self) -> dict:
        """Model tables and checks for results.json (beyond claims and headlines)."""
        def table(model):
            return None if model is None else {
                "n": model.n, "events": model.events, "loglik": model.loglik,
                "terms": model.table, "dropout_definition": model.definition,
                "imputations": model.imputations}
        return {
            "churn_days": self.churn_days, "landmark_days": self.landmark_days,
            "landmark_customers": self.landmark_customers,
            "forecast": self.forecast,
            "inactivity_window": None if self.window is None else {
                "days": self.window.days, "percentile": self.window.percentile,
                "by_segment": self.window.by_segment, "lag_months": self.window.lag_months},
            "inactivity_churn_12m": self.inactivity_annual,
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


def purchase_models(ctx, handoff: pd.DataFrame | None, notes: list[str],
                    days: pd.DataFrame | None = None
                    ) -> tuple[FittedModel | None, FittedModel | None]:
    """(the model the value section chose, the Pareto/NBD): from the value section's hand-off,
    or fitted here when the section did not run (to ``days``, the purchase days the caller
    already holds, else ``ctx.purchase_days()``)."""
    if handoff is not None and len(handoff):
        fits = models_from_frame(handoff)
        chosen = fits[str(handoff["model"].iloc[0])]
        return chosen, fits.get("Pareto/NBD")
    from analysis.analyses.clv.report import choose_model, fit_purchase_models

    days = ctx.purchase_days() if days is None else days
    summary = rfm_from_days(days, ctx.period.end)
    fits = fit_purchase_models(summary, True, notes)
    if not fits:
        return None, None
    return choose_model(fits), fits.get("Pareto/NBD")


#: the survival models of a larger company use a seeded random sample of this many customers
#: (each model is fitted to several imputations: on 600,000 customers that would take minutes)
MAX_SURVIVAL_CUSTOMERS = 60_000


def churn_report(ctx, landmark_days: int = 90, horizon: int = 3,
                 purchase_models_frame: pd.DataFrame | None = None,
                 seed: int = 0, max_customers: int = MAX_SURVIVAL_CUSTOMERS) -> ChurnReport:
    """Model-based churn (C11), retention curves, Cox models of imputed dropout (C3-C5),
    the inactivity cross-check and the lapse classifier."""
    churn_days = ctx.settings.churn_days
    notes: list[str] = []
    end = ctx.period.end
    monthly = churn_rate(ctx.features(), "month")
    days = ctx.purchase_days()
    days = days[days["day"] < end].reset_index(drop=True)
    segments = None
    if ctx.data.customers is not None and "market_type" in ctx.data.customers:
        segments = ctx.data.customers.set_index("customer_id")["market_type"]
    window = inactivity_window(days, segments, fallback=churn_days)
    cross = inactivity_churn(days, end, window.days)
    chosen, pareto = purchase_models(ctx, purchase_models_frame, notes, days)
    forecast = None
    if chosen is not None:
        forecast = retention_forecast(chosen, rfm_from_days(days, end), 12)
        annual = forecast.churn
    else:
        annual = Estimate(None, method="no purchase model could be fitted")
    frame = landmark_frame(ctx.engine, ctx.data.customers, end, churn_days, landmark_days)
    frame = add_early_service(frame, ctx.data.surveys, ctx.data.interactions, landmark_days)
    frame = bands(frame)
    landmark_customers = len(frame)
    if len(frame) > max_customers:
        keep = np.sort(np.random.default_rng(seed).choice(len(frame), max_customers,
                                                          replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
        notes.append(f"the survival models use a random sample of {max_customers:,} of the "
                     f"{landmark_customers:,} customers past their landmark (fixed seed), to "
                     "keep the pack's time; their intervals are those of the sample")
    cox = cox_service = cox_response = None
    reason = None
    tau = eta = inputs = None
    use_model = pareto is not None and pareto.identifiable and len(frame)
    if use_model:
        try:
            inputs = dropout_inputs(days, frame, end)
            cox, eta, tau = fit_cox_model_dropout(frame, inputs, pareto, (), landmark_days,
                                                  seed=seed)
        except (ValueError, np.linalg.LinAlgError) as error:
            reason = f"no survival model: {error}"
    else:
        notes.append("no identifiable Pareto/NBD fit: the survival models fall back to the "
                     f"inactivity rule ({churn_days} days), which makes slow buyers look like "
                     "early leavers; read C3-C5 with care")
        try:
            cox = fit_cox(frame)
        except (ValueError, np.linalg.LinAlgError) as error:
            reason = str(error)
    curve_frame = frame if tau is None else imputed_frame(frame, inputs, tau[:, 0],
                                                          landmark_days)
    groups = [c for c in ("channel", "market_type", "promotion_band", "breadth_band")
              if c in curve_frame and curve_frame[c].notna().any()]
    curves = []
    for column in groups:
        try:
            curves.append(retention_curves(curve_frame, column))
        except ValueError as error:
            notes.append(str(error))
    if cox is not None:
        service = [c for c in ("early_satisfaction", "early_complaints", "early_uncared")
                   if c in frame and frame[c].notna().sum() > 100]
        if service:
            cox_service = _try(lambda: _extra_model(frame, inputs, pareto, service,
                                                    landmark_days, eta, seed), notes)
        responses = frame.get("log2_early_response_hours", pd.Series(dtype=float)).notna().sum()
        if responses > 100:
            cox_response = _try(lambda: _extra_model(frame, inputs, pareto,
                                                     ["log2_early_response_hours"],
                                                     landmark_days, eta, seed), notes)
        else:
            notes.append(f"only {responses} customers had a complaint resolved in their first "
                         f"{landmark_days} days; the response-time model needs more than 100")
    risk = pd.DataFrame(columns=["customer_id", "churn_risk"])
    classifier = None
    try:
        model_frame = classifier_frame(ctx.panel(CLASSIFIER_INPUTS), horizon)
        classifier = _try(lambda: fit_classifier(model_frame, horizon=horizon), notes)
    except ValueError as error:
        notes.append(str(error))
    if classifier is not None:
        now = model_frame[model_frame["month"] == ctx.period.label]
        risk = pd.DataFrame({"customer_id": now["customer_id"],
                             "churn_risk": classifier.score(now).to_numpy()})
    rules = claim_rules(ctx.settings)
    claims = (claim_c3(cox, reason, rules), claim_c4(cox, reason, rules),
              claim_c5(cox, reason, rules),
              claim_c11_model(annual, "purchase" if chosen is None else chosen.name, cross,
                              rules))
    return ChurnReport(monthly, annualise(monthly), annual, landmark_customers, tuple(curves),
                       cox, cox_service, cox_response, classifier, risk.reset_index(drop=True),
                       claims, tuple(notes), churn_days, landmark_days, forecast, window, cross)


def _extra_model(frame, inputs, pareto, extra, landmark_days, eta, seed) -> CoxResult:
    """A Cox model with service terms: imputed dropout where the main model used it."""
    if inputs is None or eta is None:
        return fit_cox(frame, extra)
    design_rows = frame[list(extra)].notna().all(axis=1).to_numpy()
    sub = frame[design_rows]
    result, _eta, _tau = fit_cox_model_dropout(
        sub, inputs[design_rows], pareto, extra, landmark_days, rounds=3, imputations=3,
        seed=seed + 1, split_days=None, start_eta=eta[design_rows])
    return result


def _try(build, notes: list[str]):
    try:
        return build()
    except (ValueError, np.linalg.LinAlgError) as error:
        notes.append(str(error))
        return None


def hazard_table(cox: CoxResult) -> pd.DataFrame:
    """Hazard ratios for the report: readable names, intervals, Holm p and the PH check; with
    the first-year ratio where the check failed."""
    t = cox.table
    out = ratio_table(t)
    if "first_year_hazard_ratio" in t:
        failed = t["ph_p"] < 0.05
        out["first year / later"] = [
            f"{number(a, 3)} / {number(b, 3)}" if bad else ""
            for a, b, bad in zip(t["first_year_hazard_ratio"], t["later_hazard_ratio"], failed,
                                 strict=True)]
    return out


def rates_table(report: ChurnReport) -> pd.DataFrame:
    """The churn figures of the section for reading: rate, 95% interval (or why there is
    none) and customers; a figure that cannot be computed says why instead of a rate."""
    window = report.window.days if report.window is not None else report.churn_days
    rows = [("next 12 months, purchase model (C11)", report.annual),
            (f"last 12 months, no purchase for {window} days", report.inactivity_annual),
            (f"this month, no purchase for {report.churn_days} days", report.monthly),
            ("this month, annualised", report.monthly_annualised)]
    out = []
    for name, e in rows:
        if e is None:
            continue
        if e.value is None:
            reason = e.method or NOT_AVAILABLE
            out.append({"churn": name, "rate": NOT_AVAILABLE, "95% interval": reason,
                        "customers": count(e.n, "")})
            continue
        out.append({"churn": name, "rate": pct(e.value), "95% interval": span(e.low, e.high, pct),
                    "customers": count(e.n, "")})
    return pd.DataFrame(out, columns=["churn", "rate", "95% interval", "customers"])


def auc_text(model: ChurnClassifier) -> str:
    """How well the lapse model ranks customers out of time, or why that cannot be checked."""
    auc = model.auc
    if auc.value is None:
        return f"The ranking cannot be checked on {model.test_month}: {auc.method}."
    span = (f" ({interval(auc.low, auc.high, lambda v: number(v, 2))})"
            if has_interval(auc.low, auc.high) else " (no interval)")
    return (f"AUC {number(auc.value, 2)}{span} on {count(model.n_test)} customers of "
            f"{model.test_month}; trained on {count(model.n_train)} customer-months from "
            f"{model.train_months[0]} to {model.train_months[1]} (0.5 = guessing, "
            "1 = perfect).")


def ratio_table(t: pd.DataFrame) -> pd.DataFrame:
    """A hazard-ratio table (term or meaning, hazard_ratio, low, high, p_holm, ph_p) for
    reading."""
    return pd.DataFrame({
        "factor": t["meaning"] if "meaning" in t else t["term"],
        "hazard ratio": t["hazard_ratio"].map(lambda v: f"{v:.2f}" if finite(v) is not None
                                              else NOT_AVAILABLE),
        "95% interval": [span(lo, hi, "{:.2f}".format)
                         for lo, hi in zip(t["low"], t["high"], strict=True)],
        "p (Holm)": t["p_holm"].map(_p_text),
        "PH check p": t["ph_p"].map(_p_text),
    })
