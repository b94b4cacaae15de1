"""The out-of-time churn classifier: customer-months, logistic regression, AUC, calibration and
lift.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.analyses.churn.rates import _require
from analysis.analyses.churn.survival import _p_text
from analysis.core import plots
from analysis.core.results import Estimate
from analysis.core.text import NOT_AVAILABLE, count, finite, number, pct, span

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
    :mod:`analysis.engine.panel`); the months are the panel's labels in order.
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
    """Logit fitted on earlier months, validated on the last month (out of time); standard
    errors clustered by customer (a customer contributes many customer-months)."""

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
    # a customer appears in many training months: errors clustered by customer
    groups = pd.factorize(train["customer_id"])[0] if "customer_id" in train else None
    if train["target"].nunique() < 2:
        raise ValueError("fit_classifier: every training month has the same outcome (all or "
                         "none lapsed); no lapse model can be fitted")
    result = sm.Logit(train["target"], x).fit(
        disp=0, maxiter=200, **({} if groups is None else
                                {"cov_type": "cluster", "cov_kwds": {"groups": groups}}))
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
    with np.errstate(divide="ignore", invalid="ignore"):
        calibration["lift"] = calibration["observed"] / base if base > 0 else np.nan
    return ChurnClassifier(odds, auc_with_ci(y, p.to_numpy()), calibration,
                           calibration[["decile", "observed", "lift"]],
                           (str(train_span[0]), str(train_span[-1])),
                           str(test_month), len(train), len(test), result.params, horizon)


def plot_calibration(model: ChurnClassifier, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    cal = model.calibration
    # clipped: a Wilson bound of 0.9999999999999998 for 37 of 37 must not give a negative bar
    ax.errorbar(cal["predicted"], cal["observed"],
                yerr=[(cal["observed"] - cal["low"]).clip(lower=0),
                      (cal["high"] - cal["observed"]).clip(lower=0)],
                marker="o", capsize=3, label="deciles of predicted risk (95% interval)")
    top = max(cal["predicted"].max(), cal["observed"].max()) * 1.05
    ax.plot([0, top], [0, top], linestyle=":", color=plots.NEUTRAL, label="perfect calibration")
    top_lift = cal["lift"].iloc[-1]
    auc = ("AUC undefined (one outcome only)" if model.auc.value is None
           else f"AUC {model.auc.value:.2f}")
    headline = (f"The riskiest tenth of customers lapse {top_lift:.1f}x as often as average"
                if np.isfinite(top_lift) else
                "Nobody lapsed in the test month: the ranking cannot be checked")
    plots.finding(ax, headline,
                  f"trained on {model.train_months[0]}..{model.train_months[1]}, tested on "
                  f"{model.test_month}; {auc}")
    plots.percent_axis(ax, "x", 1)
    plots.percent_axis(ax, "y", 1)
    ax.set_xlabel(f"predicted chance of no purchase in the next {model.horizon} months")
    ax.set_ylabel("observed share with no purchase")
    ax.legend()
    return ax


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
        "customers": cal["customers"].map(count),
        "predicted lapse": cal["predicted"].map(pct),
        "observed lapse": cal["observed"].map(pct),
        "95% interval": [span(lo, hi, pct)
                         for lo, hi in zip(cal["low"], cal["high"], strict=True)],
        "lift": cal["lift"].map(lambda v: number(v, 3, "n/a")),
    })


def odds_table(model: ChurnClassifier) -> pd.DataFrame:
    """Odds ratios of the lapse model with intervals, formatted for the report."""
    t = model.odds_ratios
    return pd.DataFrame({
        "factor": t["feature"].map(lambda f: CLASSIFIER_MEANINGS.get(f, f.replace("_", " "))),
        "odds ratio": t["odds_ratio"].map(lambda v: f"{v:.2f}" if finite(v) is not None
                                          else NOT_AVAILABLE),
        "95% interval": [span(lo, hi, "{:.2f}".format)
                         for lo, hi in zip(t["low"], t["high"], strict=True)],
        "p": t["p"].map(_p_text),
    })
