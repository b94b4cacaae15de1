"""Predictions of the fitted buy-till-you-die models: expected purchases, P(alive), customer
lifetime value, implied retention, holdout calibration, and the value section's tables and
figures.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy.special import expit
from statsmodels.tools.numdiff import approx_fprime

from analysis.analyses.clv.btyd import (
    FittedModel,
    _columns,
    bgnbd_expected,
    bgnbd_loglik_terms,
    bgnbd_p_alive,
    bgnbd_survival,
    compress,
    gg_expected_spend,
    gg_loglik_terms,
    paretonbd_expected,
    paretonbd_loglik_terms,
    paretonbd_p_alive,
    paretonbd_survival,
)
from analysis.core import plots
from analysis.core.results import Estimate
from analysis.core.text import pct
from analysis.engine.rfm import UNITS

# -- predictions, calibration, CLV -------------------------------------------------------------


PREDICTIONS = {  # model name -> (expected purchases, P(alive), survival given alive)
    "BG/NBD": (bgnbd_expected, bgnbd_p_alive, bgnbd_survival),
    "Pareto/NBD": (paretonbd_expected, paretonbd_p_alive, paretonbd_survival),
}


def _predictions(model: FittedModel):
    if model.name not in PREDICTIONS:
        raise ValueError(f"needs a BG/NBD or Pareto/NBD fit, not {model.name}")
    return PREDICTIONS[model.name]


def expected_purchases(model: FittedModel, t, summary: pd.DataFrame) -> np.ndarray:
    """Expected purchases per customer in the next ``t`` time units (BG/NBD or Pareto/NBD)."""
    return _predictions(model)[0](model.params.to_numpy(), t, *_columns(summary))


def p_alive(model: FittedModel, summary: pd.DataFrame) -> np.ndarray:
    return _predictions(model)[1](model.params.to_numpy(), *_columns(summary))


def calibration_table(model: FittedModel, summary: pd.DataFrame, top: int = 7) -> pd.DataFrame:
    """Mean expected vs actual holdout purchases by calibration frequency (0..top+)."""
    if "frequency_holdout" not in summary.columns:
        raise ValueError("calibration_table: summary has no 'frequency_holdout'; build it with "
                         "rfm_summary(..., holdout_end=...)")
    x = summary["frequency"].to_numpy(float)
    expected = expected_purchases(model, summary["duration_holdout"].to_numpy(float), summary)
    group = np.minimum(x, top).astype(int)
    frame = pd.DataFrame({"frequency": group, "expected": expected,
                          "actual": summary["frequency_holdout"].to_numpy(float)})
    out = frame.groupby("frequency").agg(customers=("actual", "size"),
                                         expected=("expected", "mean"), actual=("actual", "mean"))
    out = out.reset_index()
    out["frequency"] = out["frequency"].map(lambda f: f"{f}+" if f == top else str(f))
    return out


def customer_value(model: FittedModel, gg: FittedModel | None, summary: pd.DataFrame,
                   horizon_months: int = 12, margin: float = 1.0, annual_discount: float = 0.1,
                   time_unit: str = "W", spend: np.ndarray | None = None) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases in the horizon, expected spend and CLV.

    CLV = sum over months h of (expected purchases in month h) x expected spend x margin,
    discounted at ``annual_discount`` a year; purchases per month are differences of the
    cumulative conditional expectation of ``model`` (BG/NBD or Pareto/NBD). ``spend`` is the
    expected spend per purchase (default: Gamma-Gamma, see :func:`expected_spend`).
    """
    x = summary["frequency"].to_numpy(float)
    monthly = _monthly_purchases(model, summary, horizon_months, time_unit)
    discount = (1 + annual_discount) ** (-np.arange(1, horizon_months + 1) / 12)
    if spend is None:
        spend = (expected_spend(gg, summary) if gg is not None
                 else np.full(len(x), np.nan))
    return pd.DataFrame({
        "customer_id": summary.index.to_numpy(),
        "p_alive": p_alive(model, summary),
        f"expected_purchases_{horizon_months}m": monthly.sum(axis=1),
        "expected_spend": spend,
        "clv": (monthly * discount).sum(axis=1) * spend * margin,
    })


def _monthly_purchases(model: FittedModel, summary: pd.DataFrame, horizon_months: int,
                       time_unit: str = "W", params=None) -> np.ndarray:
    """Expected purchases per customer (rows) in each month of the horizon (columns)."""
    per_month = UNITS["M"] / UNITS[time_unit]
    # every month end at once (rows: month ends, columns: customers); P(alive) and the other
    # per-customer terms are computed once, and t = 0 gives exactly 0 expected purchases
    steps = np.arange(horizon_months + 1)[:, None] * per_month
    values = model.params.to_numpy() if params is None else params
    with np.errstate(all="ignore"):
        cumulative = _predictions(model)[0](values, steps, *_columns(summary))
    return np.diff(np.ascontiguousarray(np.asarray(cumulative).T), axis=1)


#: repeat-purchase bands for the spend prior when spend depends on frequency
FREQUENCY_BANDS = (0.5, 1.5, 2.5, 4.5, 8.5, np.inf)


def expected_spend(gg: FittedModel, summary: pd.DataFrame, dependent: bool = False,
                   params=None) -> np.ndarray:
    """Expected spend per purchase: the Gamma-Gamma's weighted average of the customer's own
    mean spend and a prior mean, with weight p x / (p x + q - 1) on the customer's own.

    With ``dependent`` the prior mean is the mean spend of repeat buyers with a similar
    number of repeat purchases (bands 1, 2, 3-4, 5-8, 9+; customers without a repeat
    purchase take the band of 1) instead of one population mean: the value then does not
    rest on spend being independent of frequency, which the Gamma-Gamma assumes.
    """
    p, q, gamma = gg.params.to_numpy() if params is None else params
    x = summary["frequency"].to_numpy(float)
    m = summary["monetary_value"].to_numpy(float)
    if not dependent:
        return gg_expected_spend((p, q, gamma), x, m)
    weight = p * x / (p * x + q - 1)
    prior = spend_by_frequency(summary).to_numpy()[_band(np.maximum(x, 1))]
    return (1 - weight) * prior + weight * np.where(x > 0, m, 0.0)


def _band(x: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(FREQUENCY_BANDS[1:]), x, side="left")


def spend_by_frequency(summary: pd.DataFrame) -> pd.Series:
    """Mean spend per repeat purchase of repeat buyers, by band of repeat purchases (a band
    with no buyers borrows the nearest band's mean)."""
    rows = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    labels = ["1", "2", "3-4", "5-8", "9+"]
    band = _band(rows["frequency"].to_numpy(float))
    means = pd.Series(rows["monetary_value"].to_numpy(float)).groupby(band).mean()
    out = means.reindex(range(len(labels))).ffill().bfill()
    out.index = labels
    return out


def base_retention(params, name: str, t: float, x, t_x, T, weights) -> float:
    """Expected share of today's active customers still active after ``t`` time units:
    sum of P(alive) x P(survive t | alive) over sum of P(alive)."""
    _expected, alive_probability, survival = PREDICTIONS[name]
    alive = weights * alive_probability(params, x, t_x, T)
    return float(alive @ survival(params, t, x, T) / alive.sum())


@dataclasses.dataclass(frozen=True)
class RetentionForecast:
    """What the purchase model says about today's customer base over the next ``months``.

    ``alive`` is the expected number of customers still active today (sum of P(alive));
    ``retained`` the share of them still active after ``months`` (the model's retention),
    ``churn`` = 1 - retained (the churn rate of claim C11 for a shop) and ``lost`` the
    expected number of today's active customers lost. The intervals are 95% prediction
    intervals for what will happen to these customers: the uncertainty of the fitted
    parameters (delta method on the log parameters) plus the chance in who is active today
    and who leaves (each customer a Bernoulli draw), combined on the logit scale. A fit that
    is not identifiable gives no interval, and ``problem`` says why.
    """

    model: str
    months: int
    alive: Estimate
    retained: Estimate
    churn: Estimate
    lost: Estimate
    problem: str | None = None

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"figure": name, "value": e.value, "low": e.low, "high": e.high,
                              "n": e.n} for name, e in (("active today", self.alive),
                                                       ("retained", self.retained),
                                                       ("churn", self.churn),
                                                       ("lost", self.lost))])


def retention_forecast(model: FittedModel, summary: pd.DataFrame, months: int = 12,
                       time_unit: str = "W") -> RetentionForecast:
    """Retention and churn of the currently active base over ``months`` (see
    :class:`RetentionForecast`), from a BG/NBD or Pareto/NBD fit."""
    _expected, alive_probability, survival = _predictions(model)
    rows, weights = compress(summary, ["frequency", "recency", "T"])
    x, t_x, T = _columns(rows)
    horizon = months * UNITS["M"] / UNITS[time_unit]
    n = int(weights.sum())

    def parts(params):
        with np.errstate(all="ignore"):
            alive = np.clip(alive_probability(params, x, t_x, T), 0.0, 1.0)
            stay = np.clip(survival(params, horizon, x, T), 0.0, 1.0)
        return alive, stay

    params = model.params.to_numpy()
    alive, stay = parts(params)
    n_alive = float(weights @ alive)
    lost = float(weights @ (alive * (1 - stay)))
    share = lost / n_alive if n_alive > 0 else None
    if share is not None and not math.isfinite(share):
        share = None
    if not math.isfinite(n_alive):
        n_alive, lost = None, None
    problem = model.problem
    low = high = None
    if share is not None and 0 < share < 1 and problem is None:
        se = _churn_logit_se(model, parts, weights, alive, stay, share)
        if se is None or not math.isfinite(se):
            problem = "no interval: the fit has no usable covariance"
        else:
            centre = math.log(share / (1 - share))
            low, high = (float(expit(centre + k * 1.96 * se)) for k in (-1, 1))
    how = ("; 95% prediction interval (parameter uncertainty, delta method on log parameters, "
           "plus customer-level chance)" if low is not None else
           f"; {problem}" if problem else "")

    def scaled(value, factor):
        return None if value is None or factor is None else value * factor

    churn = Estimate(share, low, high, n, f"{model.name}: share of today's active customers "
                     f"lost within {months} months{how}", unit="share")
    retained = Estimate(None if share is None else 1 - share,
                        None if high is None else 1 - high, None if low is None else 1 - low, n,
                        f"{model.name}: share of today's active customers still active in "
                        f"{months} months{how}", unit="share")
    return RetentionForecast(
        model.name, months,
        Estimate(n_alive, None, None, n, f"{model.name}: expected customers active today "
                 "(sum of P(alive))", unit="customers"),
        retained, churn,
        Estimate(lost if share is not None else None, scaled(low, n_alive),
                 scaled(high, n_alive), n,
                 f"{model.name}: today's active customers lost within {months} "
                 f"months{how}", unit="customers"),
        problem)


def _churn_logit_se(model, parts, weights, alive, stay, share) -> float | None:
    """Standard error of logit(churn share): parameter part by the delta method on the log
    parameters, customer part from the Bernoulli variances of who is alive and who leaves."""
    cov = model.log_cov
    if cov is None:
        return None
    log_params = np.log(model.params.to_numpy())

    def logit_share(theta):
        a, s = parts(np.exp(theta))
        total = weights @ a
        value = (weights @ (a * (1 - s))) / total
        value = min(max(value, 1e-12), 1 - 1e-12)
        return math.log(value / (1 - value))

    jac = approx_fprime(log_params, logit_share, centered=True)
    var_params = float(jac @ cov @ jac)
    # realised share L / A with A_i ~ Bernoulli(alive_i), L_i = A_i x Bernoulli(1 - stay_i)
    q = alive * (1 - stay)
    total = weights @ alive
    var_l = weights @ (q * (1 - q))
    var_a = weights @ (alive * (1 - alive))
    cov_la = weights @ (q * (1 - alive))
    var_share = (var_l - 2 * share * cov_la + share**2 * var_a) / total**2
    var_chance = max(var_share, 0.0) / (share * (1 - share)) ** 2
    if not np.isfinite(var_params):
        return None
    return math.sqrt(max(var_params, 0.0) + var_chance)


def implied_annual_retention(model: FittedModel, summary: pd.DataFrame,
                             time_unit: str = "W") -> Estimate:
    """The model's 12-month retention of the currently active base (:func:`retention_forecast`)."""
    return retention_forecast(model, summary, 12, time_unit=time_unit).retained


def holdout_ratio(expected: np.ndarray, actual: np.ndarray, holdout_weeks: float,
                  model_name: str = "BG/NBD") -> Estimate:
    """Forecast / actual holdout purchases with a ratio-estimator (delta-method) interval over
    customers (parameter uncertainty not included)."""
    expected, actual = np.asarray(expected, float), np.asarray(actual, float)
    n = len(actual)
    if n < 2 or actual.sum() <= 0:
        return Estimate(None, n=n, method="no purchases in the holdout: forecast not checkable",
                        unit="ratio")
    ratio = expected.sum() / actual.sum()
    residual = expected - ratio * actual
    se = math.sqrt(n * residual.var(ddof=1)) / actual.sum()
    return Estimate(float(ratio), float(ratio - 1.96 * se), float(ratio + 1.96 * se), n,
                    f"{model_name} expected / actual purchases over a {holdout_weeks:g}-week "
                    "holdout (1 = perfect); ratio-estimator interval over customers",
                    unit="ratio")


def plot_calibration(table: pd.DataFrame, ax=None, model_name: str = "BG/NBD"):
    if ax is None:
        _, ax = plots.new_figure()
    positions = np.arange(len(table))
    ax.bar(positions - 0.2, table["actual"], width=0.4, label="actual")
    ax.bar(positions + 0.2, table["expected"], width=0.4, label=f"model ({model_name})")
    ax.set_xticks(positions, table["frequency"])
    actual = table["actual"] @ table["customers"]
    ratio = (table["expected"] @ table["customers"]) / actual if actual > 0 else None
    note = "mean purchases in the holdout period by number of repeat purchases before it"
    if ratio is None or not math.isfinite(ratio):
        plots.finding(ax, "Nobody bought in the holdout, so the forecast cannot be checked", note)
    else:
        direction = "above" if ratio > 1 else "below"
        plots.finding(ax, f"The model's forecast of holdout purchases is {pct(abs(ratio - 1), 0)} "
                          f"{direction} what customers did", note)
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("purchases in the holdout (mean)")
    ax.legend()
    return ax


def value_deciles(customers: pd.DataFrame) -> pd.DataFrame:
    """Customers ranked by CLV in ten equal groups (1 = most valuable): share of total CLV,
    mean CLV and mean P(alive)."""
    clv = customers["clv"].to_numpy(float)
    rank = np.argsort(np.argsort(-clv, kind="stable"), kind="stable")
    frame = pd.DataFrame({"decile": rank * 10 // len(clv) + 1, "clv": clv,
                          "p_alive": customers["p_alive"].to_numpy(float)})
    out = frame.groupby("decile").agg(customers=("clv", "size"), mean_clv=("clv", "mean"),
                                      total=("clv", "sum"), p_alive=("p_alive", "mean"))
    out["share_of_value"] = out.pop("total") / clv.sum()
    return out.reset_index()


def plot_value_deciles(table: pd.DataFrame, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    ax.bar(table["decile"].astype(str), table["share_of_value"], color=plots.PALETTE[0])
    plots.percent_axis(ax)
    top = table["share_of_value"].iloc[0]
    plots.finding(ax, f"The most valuable tenth of customers holds {pct(top, 0)} of next year's "
                      "expected value",
                  "share of total expected customer value by tenth of customers (1 = highest)")
    ax.set_xlabel("tenth of customers, ranked by expected value")
    ax.set_ylabel("share of total value")
    return ax


#: per-customer log-likelihood terms of each model, for the influence functions of the fits
LOGLIK_TERMS = {"BG/NBD": bgnbd_loglik_terms, "Pareto/NBD": paretonbd_loglik_terms}


def _log_scores(terms, log_params: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Per-row scores d loglik_i / d log(theta) (rows x parameters), central differences of
    the per-row log-likelihood ``terms(params)``."""
    out = np.empty((len(terms(np.exp(log_params))), len(log_params)))
    for j in range(len(log_params)):
        up, down = log_params.copy(), log_params.copy()
        up[j] += step
        down[j] -= step
        with np.errstate(all="ignore"):
            out[:, j] = (terms(np.exp(up)) - terms(np.exp(down))) / (2 * step)
    return out


def _purchase_scores(model: FittedModel, summary: pd.DataFrame) -> np.ndarray:
    """Per-customer scores of the purchase model on the log parameters (customers with the
    same frequency, recency and T share one computation)."""
    columns = ["frequency", "recency", "T"]
    keys = summary[columns].reset_index(drop=True)
    codes = keys.groupby(columns, sort=False).ngroup().to_numpy()
    rows = keys.drop_duplicates()
    x, t_x, T = _columns(rows)
    terms = LOGLIK_TERMS[model.name]
    scores = _log_scores(lambda p: terms(p, x, t_x, T), np.log(model.params.to_numpy()))
    return scores[codes]


def _spend_scores(gg: FittedModel, summary: pd.DataFrame) -> np.ndarray:
    """Per-customer scores of the Gamma-Gamma on its log parameters (zero for customers
    without a repeat purchase of positive spend, who are not in its fit)."""
    x = summary["frequency"].to_numpy(float)
    m = summary["monetary_value"].to_numpy(float)
    used = (x > 0) & (m > 0)
    out = np.zeros((len(x), len(gg.params)))
    out[used] = _log_scores(lambda p: gg_loglik_terms(p, x[used], m[used]),
                            np.log(gg.params.to_numpy()))
    return out


def mean_clv(model: FittedModel, gg: FittedModel, summary: pd.DataFrame,
             horizon_months: int = 12, margin: float = 1.0, annual_discount: float = 0.1,
             dependent: bool = False, time_unit: str = "W") -> Estimate:
    """Mean CLV per customer with a 95% interval on the log scale from one influence-function
    (sandwich) variance over customers.

    The estimate is a mean over customers of a value that depends on two fits made on the
    same customers (the purchase model and the Gamma-Gamma; with ``dependent`` also the mean
    spend of each frequency band). Each customer's influence is their own deviation from
    the mean plus, for each fit, the change their data make to its parameters (the inverse
    Hessian times their score on the log parameters) carried to the mean by the delta
    method. Summing the squared influences gives the variance with every covariance between
    the parts (customer mix, both fits, the band means) included, and it stays valid when the
    models are only approximately right. Adding the parts as if independent, as before,
    gave intervals about 18% too narrow (89% coverage in the simulation study's demo
    companies; 86% on the simulated companies below). On 200 simulated BG/NBD + Gamma-Gamma
    companies of 2,000 customers this interval covers the population mean in 192 (96.0%):
    the estimates spread 0.073 on the log scale, the intervals claim 0.072
    (``tests/test_clv.py``, slow).
    """
    discount = (1 + annual_discount) ** (-np.arange(1, horizon_months + 1) / 12)

    def purchases(params):
        return _monthly_purchases(model, summary, horizon_months, time_unit, params) @ discount

    def spend(params):
        return expected_spend(gg, summary, dependent, params)

    theta_p, theta_g = (np.log(f.params.to_numpy()) for f in (model, gg))
    bought, spent = purchases(np.exp(theta_p)), spend(np.exp(theta_g))
    clv = bought * spent * margin
    value = float(clv.mean())
    kind = "spend by frequency band" if dependent else "Gamma-Gamma"
    method = (f"mean {horizon_months}-month CLV ({model.name} x {kind}) at {margin:.0%} margin, "
              f"{annual_discount:.0%} discount")
    problems = [f"{f.name} {f.problem}" for f in (model, gg) if f.problem]
    if problems or not np.isfinite(value) or value <= 0 or len(clv) < 2:
        reason = "; ".join(problems) or "no positive value to put an interval on"
        return Estimate(value if np.isfinite(value) else None, None, None, len(clv),
                        f"{method}; no interval: {reason}", unit="currency")
    influence = _clv_influence(model, gg, summary, clv, bought, spent, purchases, spend,
                               margin, dependent)
    variance = float(influence @ influence) if influence is not None else math.nan
    if not np.isfinite(variance):
        return Estimate(value, None, None, len(clv), f"{method}; no interval (the variance "
                        "could not be computed)", unit="currency")
    se_log = math.sqrt(max(variance, 0.0)) / value
    if 1.96 * se_log > 50:   # an interval wider than a factor of e^50: no interval at all
        return Estimate(value, None, None, len(clv), f"{method}; no interval: the data hardly "
                        "constrain it (standard error far larger than the value)",
                        unit="currency")
    return Estimate(value, value * math.exp(-1.96 * se_log), value * math.exp(1.96 * se_log),
                    len(clv), f"{method}; 95% interval on the log scale from the customers' "
                    "influence on the mean and on both model fits (sandwich variance)",
                    unit="currency")


def _clv_influence(model, gg, summary, clv, bought, spent, purchases, spend, margin,
                   dependent) -> np.ndarray | None:
    """Each customer's influence on the mean CLV (see :func:`mean_clv`); None without usable
    covariances."""
    if model.log_cov is None or gg.log_cov is None:
        return None
    n = len(clv)
    theta_p, theta_g = (np.log(f.params.to_numpy()) for f in (model, gg))
    jac_p = approx_fprime(theta_p, lambda t: float((purchases(np.exp(t)) * spent).mean())
                          * margin, centered=True)
    jac_g = approx_fprime(theta_g, lambda t: float((bought * spend(np.exp(t))).mean())
                          * margin, centered=True)
    influence = (clv - clv.mean()) / n
    influence = influence + _purchase_scores(model, summary) @ (model.log_cov @ jac_p)
    influence = influence + _spend_scores(gg, summary) @ (gg.log_cov @ jac_g)
    if dependent:
        influence = influence + _band_influence(gg, summary, bought, margin)
    return influence


def _band_influence(gg, summary, bought, margin) -> np.ndarray:
    """Influence through the band means of spend (the prior of :func:`expected_spend` with
    ``dependent``): a repeat buyer moves their band's mean by (m - band mean) / buyers in it."""
    p, q, _gamma = gg.params.to_numpy()
    x = summary["frequency"].to_numpy(float)
    m = summary["monetary_value"].to_numpy(float)
    n = len(x)
    weight = p * x / (p * x + q - 1)
    prior_band = _band(np.maximum(x, 1))
    # d mean CLV / d band mean, for every band
    slope = np.bincount(prior_band, weights=bought * (1 - weight) * margin,
                        minlength=len(FREQUENCY_BANDS) - 1) / n
    used = (x > 0) & (m > 0)
    own = _band(np.where(used, x, 1))
    means = np.bincount(own[used], weights=m[used], minlength=len(slope))
    buyers = np.bincount(own[used], minlength=len(slope))
    # an empty band borrows its neighbour's mean: its slope then goes to no one (a small
    # simplification; such bands hold few customers)
    with np.errstate(divide="ignore", invalid="ignore"):
        band_mean = np.where(buyers > 0, means / buyers, 0.0)
        step = np.where(used, (m - band_mean[own]) / buyers[own], 0.0)
    return np.where(used, slope[own] * step, 0.0)
