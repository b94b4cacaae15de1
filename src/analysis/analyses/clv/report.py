"""The customer-lifetime-value section in one call. (The check against published results,
CDNOW and the sBG series, is ``analysis selfcheck``: company packs no longer carry it.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analysis.analyses.clv.btyd import (
    FittedModel,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_paretonbd,
    fit_paretonbd_common_dropout,
    model_to_frame,
    spend_independence,
)
from analysis.analyses.clv.value import (
    RetentionForecast,
    calibration_table,
    customer_value,
    expected_purchases,
    expected_spend,
    holdout_ratio,
    mean_clv,
    retention_forecast,
    spend_by_frequency,
)
from analysis.core import plots
from analysis.core.results import Estimate
from analysis.core.text import NOT_AVAILABLE, count, finite, has_interval, interval, pct
from analysis.engine.rfm import rfm_from_days

# -- the section in one call --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ValueReport:
    """The CLV section: fits, holdout check, model comparison, retention and customer values.

    ``model`` names the purchase model used for the per-customer table, the retention
    forecast and the headlines: the identifiable one with the higher log-likelihood on the
    full data (both have four parameters). ``forecast`` is the one retention figure of the
    pack for a shop: the churn section's claim C11 reads the same numbers.
    """

    calibration_end: pd.Timestamp
    model: str
    bgnbd: FittedModel
    paretonbd: FittedModel | None
    gamma_gamma: FittedModel | None
    holdout: pd.DataFrame | None
    holdout_total: Estimate
    comparison: pd.DataFrame
    forecast: RetentionForecast
    spend_check: Estimate | None
    spend_dependent: bool
    spend_bands: pd.Series | None
    customers: pd.DataFrame
    margin: float
    mean_clv: Estimate
    notes: tuple[str, ...]
    #: False without cost of goods for every line in the last 12 months: values are revenue
    margin_known: bool = True

    @property
    def value_kind(self) -> str:
        """What the customer values are in: "margin" (cost supplied) or "revenue"."""
        return "margin" if self.margin_known else "revenue"

    @property
    def annual_retention(self) -> Estimate:
        return self.forecast.retained

    @property
    def chosen(self) -> FittedModel:
        return self.paretonbd if self.model == "Pareto/NBD" else self.bgnbd

    def headlines(self) -> dict[str, Estimate]:
        return {"holdout_forecast_ratio": self.holdout_total, "mean_clv": self.mean_clv,
                "implied_annual_retention": self.forecast.retained,
                "model_annual_churn": self.forecast.churn,
                "expected_customers_lost_12m": self.forecast.lost}


#: the Pareto/NBD with free dropout heterogeneity must beat its common-dropout limit by more
#: than this in log-likelihood (half the 95% point of chi-square with 1 df) to be kept when it
#: is not identifiable
LIMIT_LOGLIK_GAP = 1.92
#: a Pareto/NBD whose s ran above this while not identifiable is running off to its limit
RUN_OFF_S = 10.0
#: a fit that cannot be read is not swapped for an identifiable one that fits worse than it
#: by more than this in log-likelihood (both models have four parameters: an AIC gap of 4)
MAX_LOGLIK_GAP = 2.0


def fit_pareto_family(summary: pd.DataFrame, start, errors: bool = True) -> FittedModel:
    """The Pareto/NBD; when its dropout heterogeneity is not identified (s and beta run off
    together, which is the limit of one dropout rate for everyone), its common-dropout limit,
    provided that fits as well (likelihood-ratio gap below ``LIMIT_LOGLIK_GAP``)."""
    full = fit_paretonbd(summary, start, errors)
    p = full.params
    # only the run-off of the dropout spread (s large, beta with it) has this limit; other
    # failures (e.g. a handful of customers who all bought once) stay as they are
    if full.identifiable or not p["s"] >= RUN_OFF_S:
        return full
    mu = float(p["s"] / p["beta"])
    limit_start = (min(max(p["r"], 0.01), 100), min(max(p["alpha"], 0.01), 1e4),
                   mu if np.isfinite(mu) and mu > 0 else 0.01)
    limit = fit_paretonbd_common_dropout(summary, limit_start, errors)
    if (limit.identifiable and np.isfinite(limit.loglik)
            and not full.loglik - limit.loglik > LIMIT_LOGLIK_GAP):
        return limit
    return full


def fit_purchase_models(summary: pd.DataFrame, compare_pareto: bool = True,
                        notes: list[str] | None = None,
                        errors: bool = True) -> dict[str, FittedModel]:
    """BG/NBD and (unless ``compare_pareto`` is False) the Pareto/NBD by
    :func:`fit_pareto_family`, by name; fits without a finite likelihood are left out."""
    notes = [] if notes is None else notes
    fits = {"BG/NBD": fit_bgnbd(summary, errors=errors)}
    if compare_pareto:
        bg = fits["BG/NBD"].params
        try:
            start = (min(max(bg["r"], 0.01), 100), min(max(bg["alpha"], 0.01), 1e4), 1.0, 30.0)
            fits["Pareto/NBD"] = fit_pareto_family(summary, start, errors)
        except (ValueError, FloatingPointError) as error:
            notes.append(f"Pareto/NBD not fitted: {error}")
    return {name: fit for name, fit in fits.items() if np.isfinite(fit.loglik)}




def choose_model(fits: dict[str, FittedModel]) -> FittedModel:
    """The identifiable fit with the higher log-likelihood, unless a fit that cannot be read
    beats it by more than ``MAX_LOGLIK_GAP``: then the data favour a model whose parameters
    they do not pin down, and that fit is returned (its figures come without intervals and
    say why) rather than a worse-fitting model with a confident interval. With no
    identifiable fit, the best-fitting one."""
    best = max(fits.values(), key=lambda fit: fit.loglik)
    usable = [fit for fit in fits.values() if fit.identifiable]
    if not usable:
        return best
    pick = max(usable, key=lambda fit: fit.loglik)
    return best if best.loglik - pick.loglik > MAX_LOGLIK_GAP else pick


def spend_depends_on_frequency(check: Estimate | None) -> bool:
    """Gamma-Gamma's independence assumption is rejected: the interval of the Spearman
    correlation of frequency and mean spend excludes zero."""
    return (check is not None and check.low is not None and check.high is not None
            and (check.low > 0 or check.high < 0))


def value_report(ctx, holdout_weeks: int = 26, horizon_months: int = 12,
                 annual_discount: float = 0.1, seed: int = 0,
                 compare_pareto: bool = True, bootstrap: int = 0) -> ValueReport:
    """Fit on a calibration period, check on the holdout, refit on everything and score.

    The Pareto/NBD (dropout at any time) is fitted next to the BG/NBD (dropout only just
    after a purchase) unless ``compare_pareto`` is False; it costs ~5 s per fit on 20,000
    customers (BG/NBD < 0.1 s). The better-fitting identifiable model scores the customers.
    Raises ValueError (with the reason) when no purchase model can be fitted at all.
    ``seed`` and ``bootstrap`` are accepted for callers of the earlier version; the
    intervals are now analytic (delta method on the log parameters).
    """
    del seed, bootstrap
    end = ctx.period.end
    cal_end = end - pd.Timedelta(weeks=holdout_weeks)
    notes: list[str] = []
    days = ctx.purchase_days()
    summary = rfm_from_days(days, end)
    fits = fit_purchase_models(summary, compare_pareto, notes)
    if not fits:
        raise ValueError("no purchase model could be fitted (the likelihood is not finite)")
    model = choose_model(fits)
    for fit in fits.values():
        if fit.problem:
            notes.append(f"{fit.name}: {fit.problem}; it is shown without intervals")
        if fit.constraint:
            notes.append(f"{fit.name} fitted with {fit.constraint}: it fits as well as the "
                         "model with varying dropout rates, whose spread the data cannot pin "
                         "down")
    if model.problem and any(fit.identifiable for fit in fits.values()):
        notes.append(f"{model.name} fits clearly better than the identifiable model but "
                     "cannot be read: the retention forecast and the mean value are shown "
                     "without intervals rather than from a worse-fitting model")
    checks, calibration = {}, None
    try:
        calibration = rfm_from_days(days, cal_end, end)
        checks = fit_purchase_models(calibration, compare_pareto, notes, errors=False)
    except ValueError as error:
        notes.append(f"no holdout check: {error}")
    rows = []
    for name, fit in fits.items():
        check = checks.get(name)
        ratio = (holdout_ratio(expected_purchases(check, calibration["duration_holdout"]
                                                  .to_numpy(float), calibration),
                               calibration["frequency_holdout"], holdout_weeks, name)
                 if check is not None else Estimate(None, method="no holdout check"))
        rows.append({"model": name, "log-likelihood": fit.loglik, "AIC": fit.aic,
                     "holdout forecast / actual": ratio,
                     "12-month retention": retention_forecast(fit, summary).retained})
    comparison = pd.DataFrame(rows)
    chosen = comparison.set_index("model").loc[model.name]
    check_model = checks.get(model.name) or checks.get("BG/NBD")
    holdout = (calibration_table(check_model, calibration)
               if check_model is not None else None)
    forecast = retention_forecast(model, summary, 12)
    gg = spend_check = bands = None
    dependent = False
    try:
        gg = fit_gamma_gamma(summary)
        spend_check = spend_independence(summary)
    except ValueError as error:
        notes.append(str(error))
    if gg is not None and spend_depends_on_frequency(spend_check):
        dependent = True
        bands = spend_by_frequency(summary)
        notes.append(
            f"spend goes with purchase frequency (Spearman {spend_check.value:.2f}, 95% interval "
            f"{spend_check.low:.2f} to {spend_check.high:.2f}), against the Gamma-Gamma's "
            "assumption: each customer's expected spend therefore leans on the mean spend of "
            "customers with a similar number of repeat purchases, not on one population mean")
    window = ctx.features(*ctx.window(12))
    margin = 1.0
    margin_known = bool(window["gross_margin"].notna().all() and window["revenue"].sum() > 0)
    if margin_known:
        margin = float(window["gross_margin"].sum() / window["revenue"].sum())
    else:
        notes.append("profit unknown (no cost of goods for every purchase in the last 12 "
                     "months): customer values are expected revenue, not margin")
    spend = expected_spend(gg, summary, dependent) if gg is not None else None
    customers = customer_value(model, gg, summary, horizon_months, margin, annual_discount,
                               spend=spend)
    if gg is None:
        value = Estimate(None, n=len(customers), method="no CLV: spend per purchase could not "
                         "be modelled (too few repeat buyers)", unit="currency")
    else:
        value = mean_clv(model, gg, summary, horizon_months, margin, annual_discount, dependent)
    if not margin_known:
        value = dataclasses.replace(value, method=value.method.replace(
            "at 100% margin", "in revenue (profit unknown: no cost of goods)"))
    return ValueReport(cal_end, model.name, fits["BG/NBD"], fits.get("Pareto/NBD"), gg,
                       holdout, chosen["holdout forecast / actual"], comparison, forecast,
                       spend_check, dependent, bands, customers, margin, value, tuple(notes),
                       margin_known)


def purchase_models_frame(report: ValueReport) -> pd.DataFrame:
    """The fitted purchase models, for the churn section (hand-off ``purchase_models``); the
    chosen model comes first."""
    fits = [report.chosen] + [f for f in (report.bgnbd, report.paretonbd)
                              if f is not None and f is not report.chosen]
    return pd.concat([model_to_frame(f) for f in fits], ignore_index=True)


def interval_text(e: Estimate, fmt=lambda v: f"{v:.2f}") -> str:
    """'value (low to high)', the value alone without an interval, or 'not available':
    never nan."""
    if finite(e.value) is None:
        return NOT_AVAILABLE
    if has_interval(e.low, e.high):
        return f"{fmt(e.value)} ({fmt(e.low)} to {fmt(e.high)})"
    return f"{fmt(e.value)} (no interval)"


def comparison_table(report: ValueReport) -> pd.DataFrame:
    """The purchase models side by side, formatted for reading."""
    table = report.comparison.copy()
    table["holdout forecast / actual"] = table["holdout forecast / actual"].map(interval_text)
    table["12-month retention"] = table["12-month retention"].map(
        lambda e: interval_text(e, "{:.0%}".format))
    table["used"] = np.where(table["model"] == report.model, "yes", "")
    return table.round({"log-likelihood": 1, "AIC": 1})


def overview(report: ValueReport, horizon_months: int = 12) -> pd.DataFrame:
    c = report.customers
    clv = c["clv"].to_numpy(float)
    total = float(clv.sum()) if len(clv) and np.isfinite(clv).all() else None
    kind = "" if report.margin_known else " (revenue)"
    return pd.DataFrame([{
        "customers": count(len(c)),
        "likely still active (P > 50%)": pct((c["p_alive"] > 0.5).mean() if len(c) else None,
                                              0),
        f"purchases expected in {horizon_months} months": count(c.iloc[:, 2].sum()),
        f"mean CLV{kind}": interval_text(report.mean_clv, plots.fmt_money),
        f"total CLV{kind}": plots.fmt_money(total),
        "margin used": (pct(report.margin, 0) if report.margin_known
                        else "none: profit unknown, values are revenue"),
    }])


def headline_text(report: ValueReport, period: str, horizon_months: int = 12) -> str:
    """The section's "in short" paragraph: customers, the mean value with its interval (or
    why there is none), the retention forecast and the model used."""
    e = report.mean_clv
    what = ("Expected value" if report.margin_known else
            "Expected revenue (profit is unknown: no cost of goods was supplied)")
    why = e.method.split("; ", 1)[-1] if "; " in e.method else ""
    value = (f"**{interval_text(e, plots.fmt_money)}**" if e.value is not None
             else f"not available ({why or 'no model'})")
    if e.value is not None and not has_interval(e.low, e.high) and why.startswith("no interval"):
        reason = why.removeprefix("no interval").lstrip(": ").strip("()")
        value = f"**{plots.fmt_money(e.value)}**, without an interval ({reason})"
    return (f"**In short.** {period}: {count(e.n)} customers have bought from us. {what} of an "
            f"average customer over the next {horizon_months} months: {value}. "
            + forecast_text(report) + f" Model used: {report.model}.")


def forecast_text(report: ValueReport) -> str:
    """The retention forecast in one sentence for the reader."""
    f = report.forecast
    churn = f.churn
    if churn.value is None:
        return "The model cannot say how many of today's customers will stay: " + (
            f.problem or "no customer is likely to be active today") + "."
    span = (f" ({interval(churn.low, churn.high, lambda v: pct(v, 0))})"
            if has_interval(churn.low, churn.high) else
            f", without an interval ({f.problem})" if f.problem else
            ", without an interval")
    return (f"Of the about {count(f.alive.value)} customers who are probably still active today, "
            f"the {f.model} model expects **{pct(churn.value, 0)}** to stop buying within "
            f"{f.months} months{span}, about {count(f.lost.value)} customers.")
