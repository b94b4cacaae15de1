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
import math
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import statsmodels.api as sm
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.stats.proportion import proportion_confint

from analysis import plots
from analysis.multitest import holm
from analysis.results import ClaimResult, Estimate, Verdict

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


# -- survival data ------------------------------------------------------------------------------


def landmark_frame(transactions: pd.DataFrame, customers: pd.DataFrame | None,
                   end: pd.Timestamp, churn_days: int = 180,
                   landmark_days: int = 90) -> pd.DataFrame:
    """One row per customer past the landmark: early behaviour, duration and churn event."""
    _require(transactions, ["customer_id", "timestamp", "revenue", "is_return"], "landmark_frame",
             "pass contract transactions (ctx.data.transactions)")
    if churn_days <= 0 or landmark_days < 0:
        raise ValueError(f"landmark_frame: churn_days ({churn_days}) must be positive and "
                         f"landmark_days ({landmark_days}) non-negative")
    tx = transactions[transactions["timestamp"] < end]
    has = {c: c in tx for c in ("category", "promotion")}
    category = "count(DISTINCT category)" if has["category"] else "NULL"
    promo = ("sum(CASE WHEN promotion THEN revenue ELSE 0 END) / nullif(sum(revenue), 0)"
             if has["promotion"] else "NULL")
    con = duckdb.connect()
    # as Arrow: DuckDB reads its text columns in place (from pandas it converted each
    # string to a Python object first, 6 s at 10 million lines)
    con.register("tx", pa.Table.from_pandas(
        tx[["customer_id", "timestamp", "revenue", "is_return"]
           + [c for c, ok in has.items() if ok]], preserve_index=False))
    frame = con.execute(f"""
        WITH life AS (
            SELECT customer_id, min(timestamp) AS first_purchase, max(timestamp) AS last_purchase
            FROM tx WHERE NOT is_return GROUP BY customer_id),
        early AS (
            SELECT t.customer_id,
                   count(DISTINCT date_trunc('day', t.timestamp)) AS early_orders,
                   {category} AS early_categories,
                   {promo} AS early_promo_share,
                   sum(t.revenue) AS early_revenue
            FROM tx t JOIN life l USING (customer_id)
            WHERE NOT t.is_return
              AND t.timestamp < l.first_purchase + INTERVAL {int(landmark_days)} DAY
            GROUP BY t.customer_id)
        SELECT * FROM life JOIN early USING (customer_id)
        ORDER BY customer_id
    """).df()
    con.close()
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
    landmark = out.set_index("customer_id")["first_purchase"] + pd.Timedelta(days=landmark_days)
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

    def ratio(self, term: str) -> Estimate:
        row = self.table.set_index("term").loc[term]
        return Estimate(float(row["hazard_ratio"]), float(row["low"]), float(row["high"]),
                        self.n, f"Cox PH hazard ratio ({self.formula}); Holm p = "
                        f"{row['p_holm']:.2g}", unit="hazard ratio")

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
    design = design.loc[:, design.std() > 0]  # e.g. never_contacted among complainers
    if int(data["churned"].sum()) < 20:
        raise ValueError(f"fit_cox: only {int(data['churned'].sum())} churn events; need 20+")
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
                     " + ".join(design.columns))


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


def _hr_verdict(e: Estimate, p_holm: float, want_below_one: bool) -> Verdict:
    favourable = e.high < 1 if want_below_one else e.low > 1
    adverse = e.low > 1 if want_below_one else e.high < 1
    if favourable and p_holm < 0.05:
        return Verdict.SUPPORTED
    if adverse and p_holm < 0.05:
        return Verdict.NOT_SUPPORTED
    if NULL_BAND[0] <= e.low and e.high <= NULL_BAND[1]:
        return Verdict.NOT_SUPPORTED  # precisely no difference
    return Verdict.INCONCLUSIVE


def _p_holm(cox: CoxResult, term: str) -> float:
    return float(cox.table.set_index("term").loc[term, "p_holm"])


def _hazard_claim(cox: CoxResult | None, claim_id: str, term: str, want_below_one: bool,
                  missing: str, summary: str, claimed: str,
                  reason: str | None) -> ClaimResult:
    """A claim answered by one Cox hazard ratio; ``summary`` formats ``{hr:.2f}``."""
    if cox is None or term not in set(cox.table["term"]):
        return ClaimResult.not_testable(claim_id, reason or missing)
    e = cox.ratio(term)
    verdict = _hr_verdict(e, _p_holm(cox, term), want_below_one)
    return ClaimResult.from_estimate(claim_id, e, verdict, summary.format(hr=e.value),
                                     claimed=claimed, details=_checks(cox, term))


def _checks(cox: CoxResult, term: str) -> dict:
    """Holm p and the proportional-hazards check of one term, for the claim's details."""
    row = cox.table.set_index("term").loc[term]
    return {"p_holm": float(row["p_holm"]), "ph_check_p": float(row["ph_p"]),
            "ph_holds": bool(row["ph_p"] >= 0.05), "events": cox.events}


def claim_c3(cox: CoxResult | None, reason: str | None = None) -> ClaimResult:
    return _hazard_claim(
        cox, "C3", "referred_vs_advertising", True, "acquisition channel is not recorded",
        "Referred customers churn at {hr:.2f} times the rate of customers won by advertising, "
        "with the same early behaviour.",
        "referred customers are more loyal (hazard ratio < 1)", reason)


def claim_c4(cox: CoxResult | None, reason: str | None = None) -> ClaimResult:
    return _hazard_claim(
        cox, "C4", "early_promo_share_50pts", False, "promotion flags are not recorded",
        "Customers buying half their early spend on promotion churn at {hr:.2f} times the rate "
        "of full-price buyers.",
        "full-price buyers are more loyal (hazard ratio of promotion share > 1)", reason)


def claim_c5(cox: CoxResult | None, reason: str | None = None) -> ClaimResult:
    if cox is None:
        return ClaimResult.not_testable("C5", reason or "no survival model could be fitted")
    terms = set(cox.table["term"])
    freq = cox.ratio("early_orders")
    f_verdict = _hr_verdict(freq, _p_holm(cox, "early_orders"), want_below_one=True)
    if "early_categories" not in terms:
        return ClaimResult.from_estimate(
            "C5", freq, f_verdict if f_verdict is not Verdict.SUPPORTED else Verdict.INCONCLUSIVE,
            f"Each extra early order changes the churn rate by a factor {freq.value:.2f}; "
            "breadth cannot be tested (no product categories).",
            claimed="frequent and broad buyers are more loyal")
    breadth = cox.ratio("early_categories")
    b_verdict = _hr_verdict(breadth, _p_holm(cox, "early_categories"), want_below_one=True)
    verdicts = {f_verdict, b_verdict}
    verdict = (Verdict.SUPPORTED if verdicts == {Verdict.SUPPORTED} else
               Verdict.NOT_SUPPORTED if Verdict.NOT_SUPPORTED in verdicts else
               Verdict.INCONCLUSIVE)
    return ClaimResult.from_estimate(
        "C5", breadth, verdict,
        f"Each extra product category bought early goes with a churn rate {breadth.value:.2f} "
        f"times as high; each extra early order {freq.value:.2f} times.",
        claimed="frequent and broad buyers are more loyal (hazard ratios < 1)",
        details={"frequency_hr": freq.value, "frequency_low": freq.low,
                 "frequency_high": freq.high, **_checks(cox, "early_categories"),
                 "frequency_ph_check_p": _checks(cox, "early_orders")["ph_check_p"]})


# -- out-of-time churn classifier ---------------------------------------------------------------


CLASSIFIER_FEATURES = ("log2_days_since_last", "log2_orders_total", "log2_tenure",
                       "categories_total", "referred", "complaints_total",
                       "satisfaction_missing", "satisfaction_centred")

#: the panel columns :func:`classifier_frame` reads
CLASSIFIER_INPUTS = ("customer_id", "month", "orders", "active", "days_since_last",
                     "orders_total", "tenure_days", "categories_total", "referred",
                     "complaints_total", "satisfaction_mean")


def classifier_frame(panel: pd.DataFrame, horizon: int = 3) -> pd.DataFrame:
    """Active customers at each month end, their features then, and whether they lapse:
    no purchase at all in the next ``horizon`` months (the early sign of churn).

    The inactivity rule itself is not the target: it fires mechanically 180 days after the
    last purchase and would be "predicted" perfectly by recency. ``target`` is missing for
    the last ``horizon`` months (their future is not in the panel yet): those rows are scored.
    A customer absent from a later month of the panel had no order in it (see
    :mod:`analysis.panel`); the months are the panel's labels in order.
    """
    _require(panel, CLASSIFIER_INPUTS, "classifier_frame",
             "pass the customer x month panel from ctx.panel()")
    if horizon < 1:
        raise ValueError(f"classifier_frame: horizon must be at least one month, got {horizon}")
    rows = panel[panel["active"].astype(bool)].copy()
    future = orders_ahead(panel, rows, horizon)
    rows["target"] = pd.Series(future == 0, index=rows.index).astype("Float64").where(
        ~np.isnan(future))
    x = pd.DataFrame(index=rows.index)
    # log2: odds ratios read "per doubling"
    x["log2_days_since_last"] = np.log2(1 + rows["days_since_last"].astype(float))
    x["log2_orders_total"] = np.log2(rows["orders_total"].astype(float))
    x["log2_tenure"] = np.log2(1 + rows["tenure_days"].astype(float))
    x["categories_total"] = rows["categories_total"].astype(float).fillna(0)
    x["referred"] = rows["referred"].astype(float).fillna(0)
    x["complaints_total"] = rows["complaints_total"].astype(float).fillna(0)
    sat = rows["satisfaction_mean"].astype(float)
    x["satisfaction_missing"] = sat.isna().astype(float)
    x["satisfaction_centred"] = (sat - sat.mean()).fillna(0)
    x = x.loc[:, x.std() > 0]
    return pd.concat([rows[["customer_id", "month", "target"]], x], axis=1)


def orders_ahead(panel: pd.DataFrame, rows: pd.DataFrame, horizon: int) -> np.ndarray:
    """Orders of the customer of each of ``rows`` (rows of ``panel``, by index) in the
    ``horizon`` months after the row's month (0 where the customer has no panel row; NaN
    where the months run past the panel)."""
    month_at, months = pd.factorize(panel["month"], sort=True)
    n_months = len(months)
    customer_at, customers = pd.factorize(panel["customer_id"])
    grid = np.zeros((len(customers), n_months + horizon))   # orders; 0 where no row
    grid[customer_at, month_at] = panel["orders"].to_numpy(float)
    at = panel.index.get_indexer(rows.index)
    if (at < 0).any():
        raise ValueError("orders_ahead: rows must be rows of the panel (matched by index)")
    rows_customer, rows_month = customer_at[at], month_at[at]
    future = sum(grid[rows_customer, rows_month + k] for k in range(1, horizon + 1))
    return np.where(rows_month + horizon < n_months, future, np.nan)


@dataclasses.dataclass(frozen=True)
class ChurnClassifier:
    """Logit fitted on earlier months, validated on the last month (out of time)."""

    odds_ratios: pd.DataFrame
    auc: Estimate
    calibration: pd.DataFrame   # decile, customers, predicted, observed, low, high, lift
    lift: pd.DataFrame          # decile, observed, lift
    train_months: tuple[str, str]
    test_month: str
    n_train: int
    n_test: int
    params: pd.Series
    horizon: int = 3

    def summary(self) -> pd.DataFrame:
        """Calibration and lift by decile of predicted risk (10 = riskiest)."""
        return self.calibration

    def score(self, frame: pd.DataFrame) -> pd.Series:
        x = sm.add_constant(frame[self.params.index.drop("const")], has_constant="add")
        return pd.Series(1 / (1 + np.exp(-(x @ self.params))), index=frame.index)


def auc_with_ci(y: np.ndarray, p: np.ndarray) -> Estimate:
    """Area under the ROC curve (Mann-Whitney) with the Hanley-McNeil interval."""
    pos, neg = p[y == 1], p[y == 0]
    n1, n0 = len(pos), len(neg)
    if n1 == 0 or n0 == 0:
        return Estimate(None, n=len(y), method="AUC undefined (one class only)")
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    auc = (ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2))
                   / (n1 * n0))
    return Estimate(float(auc), float(auc - 1.96 * se), float(min(1.0, auc + 1.96 * se)),
                    len(y), "AUC out of time, Hanley-McNeil interval")


def fit_classifier(frame: pd.DataFrame, train_months: int = 12,
                   horizon: int = 3) -> ChurnClassifier:
    """Logit fitted on earlier months and tested on the last labelled month, out of time.

    Training months end ``horizon`` months before the test month, so every training outcome
    was already known on the test month's scoring date (no overlap of outcome windows).
    """
    _require(frame, ["month", "target"], "fit_classifier", "build the frame with "
             "classifier_frame(ctx.panel(), horizon)")
    frame = frame[frame["target"].notna()].astype({"target": int})
    months = sorted(frame["month"].unique())
    if len(months) < horizon + 2:
        raise ValueError(f"fit_classifier: need at least {horizon + 2} labelled months "
                         f"(found {len(months)}): history too short for an out-of-time test")
    test_month = months[-1]
    train_span = months[max(0, len(months) - 1 - horizon - train_months):len(months) - 1 - horizon]
    train = frame[frame["month"].isin(train_span)]
    test = frame[frame["month"] == test_month]
    columns = [c for c in CLASSIFIER_FEATURES if c in frame]
    x = sm.add_constant(train[columns], has_constant="add")
    result = sm.Logit(train["target"], x).fit(disp=0, maxiter=200)
    ci = result.conf_int()
    odds = pd.DataFrame({"feature": columns, "odds_ratio": np.exp(result.params[columns]),
                         "low": np.exp(ci.loc[columns, 0]), "high": np.exp(ci.loc[columns, 1]),
                         "p": result.pvalues[columns]}).reset_index(drop=True)
    p = 1 / (1 + np.exp(-(sm.add_constant(test[columns], has_constant="add") @ result.params)))
    y = test["target"].to_numpy()
    decile = pd.qcut(p.rank(method="first"), 10, labels=range(1, 11))
    grouped = pd.DataFrame({"decile": decile, "p": p, "y": y}).groupby("decile", observed=True)
    base = y.mean() if len(y) else np.nan
    calibration = pd.DataFrame({"customers": grouped.size(), "lapsed": grouped["y"].sum(),
                                "predicted": grouped["p"].mean(),
                                "observed": grouped["y"].mean()}).reset_index()
    low, high = proportion_confint(calibration["lapsed"], calibration["customers"],
                                   method="wilson")
    calibration["low"], calibration["high"] = low, high
    calibration["lift"] = calibration["observed"] / base
    return ChurnClassifier(odds, auc_with_ci(y, p.to_numpy()), calibration,
                           calibration[["decile", "observed", "lift"]],
                           (str(train_span[0]), str(train_span[-1])),
                           str(test_month), len(train), len(test), result.params, horizon)


def plot_calibration(model: ChurnClassifier, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    cal = model.calibration
    ax.errorbar(cal["predicted"], cal["observed"],
                yerr=[cal["observed"] - cal["low"], cal["high"] - cal["observed"]],
                marker="o", capsize=3, label="deciles of predicted risk (95% interval)")
    top = max(cal["predicted"].max(), cal["observed"].max()) * 1.05
    ax.plot([0, top], [0, top], linestyle=":", color=plots.NEUTRAL, label="perfect calibration")
    top_lift = cal["lift"].iloc[-1]
    plots.finding(ax, f"The riskiest tenth of customers lapse {top_lift:.1f}x as often as "
                      "average",
                  f"trained on {model.train_months[0]}..{model.train_months[1]}, tested on "
                  f"{model.test_month}; AUC {model.auc.value:.2f}")
    plots.percent_axis(ax, "x", 1)
    plots.percent_axis(ax, "y", 1)
    ax.set_xlabel(f"predicted chance of no purchase in the next {model.horizon} months")
    ax.set_ylabel("observed share with no purchase")
    ax.legend()
    return ax


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
    claims = (claim_c3(cox, reason), claim_c4(cox, reason), claim_c5(cox, reason),
              claim_c11(annual, churn_days))
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


CLASSIFIER_MEANINGS = {
    "log2_days_since_last": "doubling of the days since the last purchase",
    "log2_orders_total": "doubling of the orders so far",
    "log2_tenure": "doubling of the time as a customer",
    "categories_total": "each extra product category bought so far",
    "referred": "came by referral",
    "complaints_total": "each complaint so far",
    "satisfaction_missing": "never surveyed",
    "satisfaction_centred": "each extra satisfaction point",
}


def lift_table(model: ChurnClassifier) -> pd.DataFrame:
    """Calibration and lift by decile of predicted risk, formatted for the report."""
    cal = model.calibration.sort_values("decile", ascending=False)
    return pd.DataFrame({
        "risk decile": cal["decile"].astype(int).map({10: "10 (riskiest)", 1: "1 (safest)"})
        .fillna(cal["decile"].astype(int).astype(str)),
        "customers": cal["customers"].map("{:,}".format),
        "predicted lapse": cal["predicted"].map("{:.1%}".format),
        "observed lapse": cal["observed"].map("{:.1%}".format),
        "95% interval": [f"{lo:.1%} to {hi:.1%}" for lo, hi in zip(cal["low"], cal["high"],
                                                                   strict=True)],
        "lift": cal["lift"].map("{:.2f}".format),
    })


def odds_table(model: ChurnClassifier) -> pd.DataFrame:
    """Odds ratios of the lapse model with intervals, formatted for the report."""
    t = model.odds_ratios
    return pd.DataFrame({
        "factor": t["feature"].map(lambda f: CLASSIFIER_MEANINGS.get(f, f.replace("_", " "))),
        "odds ratio": t["odds_ratio"].map("{:.2f}".format),
        "95% interval": [f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(t["low"], t["high"],
                                                                   strict=True)],
        "p": t["p"].map(_p_text),
    })


def _p_phrase(p: float) -> str:
    """'< 0.001' or '= 0.03', to follow a 'p'."""
    text = _p_text(p)
    return text if text.startswith("<") else f"= {text}"


def _p_text(p: float) -> str:
    return "n/a" if not np.isfinite(p) else "< 0.001" if p < 0.001 else f"{p:.2g}"
