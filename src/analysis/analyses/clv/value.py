"""Predictions of the fitted buy-till-you-die models: expected purchases, P(alive), customer
lifetime value, implied retention, holdout calibration, and the value section's tables and
figures.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.tools.numdiff import approx_fprime

from analysis.analyses.clv.btyd import (
    FittedModel,
    _columns,
    bgnbd_expected,
    bgnbd_p_alive,
    bgnbd_survival,
    compress,
    gg_expected_spend,
    paretonbd_expected,
    paretonbd_p_alive,
    paretonbd_survival,
)
from analysis.core import plots
from analysis.core.results import Estimate
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
                   time_unit: str = "W") -> pd.DataFrame:
    """Per customer: P(alive), expected purchases in the horizon, expected spend and CLV.

    CLV = sum over months h of (expected purchases in month h) x expected spend x margin,
    discounted at ``annual_discount`` a year; purchases per month are differences of the
    cumulative conditional expectation of ``model`` (BG/NBD or Pareto/NBD). Customers
    without a repeat purchase get the Gamma-Gamma population mean spend.
    """
    x = summary["frequency"].to_numpy(float)
    per_month = UNITS["M"] / UNITS[time_unit]
    # every month end at once (rows: month ends, columns: customers); P(alive) and the other
    # per-customer terms are computed once, and t = 0 gives exactly 0 expected purchases
    steps = np.arange(horizon_months + 1)[:, None] * per_month
    cumulative = np.ascontiguousarray(expected_purchases(model, steps, summary).T)
    monthly = np.diff(cumulative, axis=1)
    discount = (1 + annual_discount) ** (-np.arange(1, horizon_months + 1) / 12)
    if gg is not None:
        spend = gg_expected_spend(gg.params.to_numpy(), x,
                                  summary["monetary_value"].to_numpy(float))
    else:
        spend = np.full(len(x), np.nan)
    return pd.DataFrame({
        "customer_id": summary.index.to_numpy(),
        "p_alive": p_alive(model, summary),
        f"expected_purchases_{horizon_months}m": cumulative[:, -1],
        "expected_spend": spend,
        "clv": (monthly * discount).sum(axis=1) * spend * margin,
    })


def base_retention(params, name: str, t: float, x, t_x, T, weights) -> float:
    """Expected share of today's active customers still active after ``t`` time units:
    sum of P(alive) x P(survive t | alive) over sum of P(alive)."""
    _expected, alive_probability, survival = PREDICTIONS[name]
    alive = weights * alive_probability(params, x, t_x, T)
    return float(alive @ survival(params, t, x, T) / alive.sum())


def implied_annual_retention(model: FittedModel, summary: pd.DataFrame,
                             time_unit: str = "W") -> Estimate:
    """The model's 12-month retention of the currently active base (context for claim C11).

    Interval: delta method on the logit scale from the parameter covariance (uncertainty of
    the fitted parameters, the customers taken as given).
    """
    _predictions(model)
    rows, weights = compress(summary, ["frequency", "recency", "T"])
    x, t_x, T = _columns(rows)
    year = 365.25 / UNITS[time_unit]
    params = model.params.to_numpy()

    def logit_retention(p):
        value = base_retention(p, model.name, year, x, t_x, T, weights)
        return math.log(value / (1 - value))

    value = base_retention(params, model.name, year, x, t_x, T, weights)
    low = high = None
    if model.cov is not None and np.isfinite(model.cov.to_numpy()).all():
        jac = approx_fprime(params, logit_retention, centered=True)
        se = math.sqrt(max(float(jac @ model.cov.to_numpy() @ jac), 0.0))
        centre = math.log(value / (1 - value))
        low, high = (1 / (1 + math.exp(-(centre + k * 1.96 * se))) for k in (-1, 1))
    return Estimate(value, low, high, model.n,
                    f"{model.name}: share of currently active customers (weighted by P(alive)) "
                    "still active in 12 months; delta-method interval", unit="share")


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
    ratio = (table["expected"] @ table["customers"]) / (table["actual"] @ table["customers"])
    direction = "above" if ratio > 1 else "below"
    plots.finding(ax, f"The model's forecast of holdout purchases is {abs(ratio - 1):.0%} "
                      f"{direction} what customers did",
                  "mean purchases in the holdout period by number of repeat purchases before it")
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
    plots.finding(ax, f"The most valuable tenth of customers holds {top:.0%} of next year's "
                      "expected value",
                  "share of total expected customer value by tenth of customers (1 = highest)")
    ax.set_xlabel("tenth of customers, ranked by expected value")
    ax.set_ylabel("share of total value")
    return ax
