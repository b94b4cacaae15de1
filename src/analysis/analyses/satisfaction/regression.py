"""Profit regressed on satisfaction (C7) with its checks, spend and dropout effects, the
ordered-logit drivers of satisfaction, and the period-level effect.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.diagnostic import het_breuschpagan, linear_reset
from statsmodels.stats.outliers_influence import OLSInfluence

from analysis.analyses.satisfaction.indicators import as_float, five_points, require_columns
from analysis.core.results import Estimate
from analysis.data.contract import Scale

# --------------------------------------------------------------------------- profit regression


@dataclasses.dataclass(frozen=True)
class RegressionChecks:
    """Assumption checks of an OLS fit, reported next to the estimate."""

    breusch_pagan_p: float      # small = heteroskedastic errors (hence HC3 standard errors)
    reset_p: float              # small = a linear term is not enough (curvature)
    jarque_bera_p: float        # small = non-normal residuals (fine for large n with HC3)
    max_cooks_distance: float
    influential_share: float    # share of rows with Cook's distance > 4/n
    coef_without_influential: float  # satisfaction coefficient refitted without them
    n: int

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([
            ("Constant spread (Breusch-Pagan p)", self.breusch_pagan_p,
             "robust HC3 errors used" if self.breusch_pagan_p < 0.05 else "ok"),
            ("Linearity (RESET p)", self.reset_p,
             "curvature: read as average slope" if self.reset_p < 0.05 else "ok"),
            ("Normal residuals (Jarque-Bera p)", self.jarque_bera_p,
             "heavy tails; intervals rely on large n" if self.jarque_bera_p < 0.05 else "ok"),
            ("Largest Cook's distance", self.max_cooks_distance, ""),
            ("Share influential (Cook's D > 4/n)", self.influential_share, ""),
            ("Satisfaction slope without influential rows", self.coef_without_influential, ""),
        ], columns=["check", "value", "reading"])


@dataclasses.dataclass(frozen=True)
class ProfitRegression:
    """OLS of an outcome on satisfaction with centred controls and HC3 errors.

    With every regressor centred, the intercept is the mean outcome, so the
    relative effect of ``delta`` points is ``b * delta / intercept`` with a
    delta-method interval from the joint HC3 covariance.
    """

    outcome: str
    satisfaction: str
    controls: tuple[str, ...]
    per_point: Estimate          # outcome units per scale point
    five_points: Estimate        # outcome units per +5% of the scale range
    relative: Estimate           # share of the mean outcome per +5% of the scale range
    mean_outcome: float
    delta_points: float
    checks: RegressionChecks
    coefficients: pd.DataFrame
    residuals: pd.DataFrame = dataclasses.field(repr=False)  # fitted, residual, cooks_d

    @property
    def summary(self) -> pd.DataFrame:
        rows = [("per scale point", self.per_point), (f"per +{self.delta_points:g} points "
                 "(+5% of scale)", self.five_points), ("relative to mean", self.relative)]
        return pd.DataFrame([{"effect": k, "value": e.value, "low": e.low, "high": e.high,
                              "n": e.n, "unit": e.unit} for k, e in rows])

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format=lambda v: f"{v:.4g}")


def _design(frame: pd.DataFrame, satisfaction: str, controls: Sequence[str],
            categorical: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Centred numeric regressors (log1p for counts/days) and centred dummies."""
    cols: dict[str, np.ndarray] = {"sat": as_float(frame[satisfaction])}
    names = []
    for c in controls:
        values = as_float(frame[c])
        cols[f"log1p_{c}"] = np.log1p(np.clip(values, 0, None))
        names.append(f"log1p_{c}")
    for c in categorical:
        if c in frame and frame[c].notna().any():
            dummies = pd.get_dummies(frame[c].astype("string"), prefix=c, drop_first=True,
                                     dtype=float)
            for d in dummies:
                safe = "".join(ch if ch.isalnum() else "_" for ch in d)
                cols[safe] = dummies[d].where(frame[c].notna()).to_numpy()
                names.append(safe)
    design = pd.DataFrame(cols, index=frame.index)
    return design, names


def profit_regression(features: pd.DataFrame, scale: Scale, outcome: str = "profit",
                      satisfaction: str = "satisfaction_mean",
                      controls: Sequence[str] = ("tenure_days",),
                      categorical: Sequence[str] = ("market_type",),
                      level: float = 0.95, delta: float | None = None) -> ProfitRegression:
    """Profit (or another outcome) on satisfaction with controls and HC3 standard errors.

    Controls default to tenure (log) and market type; purchase counts are left
    out on purpose because satisfied customers stay and buy more, so controlling
    for them would remove part of the association C7 asks about.

    ``delta``: the step the relative effect is stated for, in units of ``satisfaction``
    (default +5% of the scale range; 0.05 for a 0/1 column such as ``top_box`` reads as
    "+5 percentage points more customers in the top box").
    """
    require_columns(features, [outcome, satisfaction, *controls], "profit_regression")
    design, names = _design(features, satisfaction, controls, categorical)
    design["y"] = as_float(features[outcome])
    design = design.dropna()
    if len(design) < 30:
        raise ValueError(f"only {len(design):,} customers have both a survey score "
                         f"({satisfaction}) and a known {outcome}; need at least 30")
    if not design["sat"].std() > 0:
        raise ValueError(f"every surveyed customer has the same '{satisfaction}', so its link "
                         f"with {outcome} cannot be estimated")
    if not design["y"].std() > 0:
        raise ValueError(f"every surveyed customer has the same {outcome}, so its link with "
                         f"'{satisfaction}' cannot be estimated")
    names = [c for c in names if design[c].std() > 0]
    centred = design[["sat", *names]] - design[["sat", *names]].mean()
    centred["y"] = design["y"]
    formula = "y ~ " + " + ".join(["sat", *names])
    fit = smf.ols(formula, centred).fit(cov_type="HC3")
    q = stats.norm.ppf(0.5 + level / 2)
    a, b = float(fit.params["Intercept"]), float(fit.params["sat"])
    cov = fit.cov_params().loc[["Intercept", "sat"], ["Intercept", "sat"]].to_numpy()
    n = int(fit.nobs)
    delta = five_points(scale) if delta is None else float(delta)
    if not a > 0:
        raise ValueError(f"mean {outcome} of the {n:,} surveyed customers is not positive "
                         f"({a:,.2f}), so a relative change in it has no meaning")
    se_b = float(np.sqrt(cov[1, 1]))
    method = f"OLS with HC3 errors, controls: {', '.join(names) or 'none'}"
    per_point = Estimate(b, b - q * se_b, b + q * se_b, n, method, level, f"{outcome}/point")
    five = Estimate(b * delta, (b - q * se_b) * delta, (b + q * se_b) * delta, n, method, level,
                    f"{outcome} per +5% of scale")
    grad = np.array([-b * delta / a**2, delta / a])
    se_rel = float(np.sqrt(grad @ cov @ grad))
    rel = b * delta / a
    relative = Estimate(rel, rel - q * se_rel, rel + q * se_rel, n,
                        method + "; relative to mean outcome, delta method", level, "share")
    infl = OLSInfluence(fit)
    cooks = infl.cooks_distance[0]
    influential = cooks > 4 / n
    refit = smf.ols(formula, centred[~influential]).fit()
    resid = pd.DataFrame({"fitted": fit.fittedvalues, "residual": fit.resid, "cooks_d": cooks,
                          "satisfaction": design["sat"]})
    checks = RegressionChecks(
        breusch_pagan_p=float(het_breuschpagan(fit.resid, fit.model.exog)[1]),
        reset_p=float(linear_reset(fit, power=2, use_f=True).pvalue),
        jarque_bera_p=float(stats.jarque_bera(fit.resid).pvalue),
        max_cooks_distance=float(np.max(cooks)),
        influential_share=float(influential.mean()),
        coef_without_influential=float(refit.params["sat"]),
        n=n,
    )
    coefs = pd.DataFrame({"coef": fit.params, "se_hc3": fit.bse, "p": fit.pvalues,
                          "low": fit.conf_int(1 - level)[0], "high": fit.conf_int(1 - level)[1]})
    return ProfitRegression(outcome, satisfaction, tuple(names), per_point, five, relative,
                            a, delta, checks, coefs.reset_index(names="term"), resid)


def plot_regression_checks(reg: ProfitRegression, axes=None):
    """Residuals vs fitted, Cook's distance, and binned outcome vs satisfaction (linearity).

    Each panel title states what the check found.
    """
    import matplotlib.pyplot as plt

    from analysis.core.plots import finding, spikes

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    r, checks = reg.residuals, reg.checks
    axes[0].scatter(r["fitted"], r["residual"], s=4, alpha=0.3)
    axes[0].axhline(0, color="grey", lw=1)
    axes[0].set(xlabel="fitted", ylabel="residual")
    finding(axes[0], "Uneven spread: robust errors used" if checks.breusch_pagan_p < 0.05
            else "Even spread of residuals", f"Breusch-Pagan p = {checks.breusch_pagan_p:.2g}")
    spikes(axes[1], r["cooks_d"], lw=0.8)
    axes[1].axhline(4 / len(r), color="grey", lw=1, ls="--")
    axes[1].set(xlabel="customer (row)", ylabel="Cook's distance")
    finding(axes[1], f"{checks.influential_share:.1%} of customers weigh heavily",
            f"slope without them: {checks.coef_without_influential:.3g} per point "
            f"(all: {reg.per_point.value:.3g})")
    binned = (r.assign(y=r["fitted"] + r["residual"])
              .groupby(r["satisfaction"].round(0))["y"].agg(["mean", "sem", "size"]))
    axes[2].errorbar(binned.index, binned["mean"], yerr=1.96 * binned["sem"], fmt="o-")
    axes[2].set(xlabel="satisfaction (rounded)", ylabel=f"mean {reg.outcome}")
    finding(axes[2], "Curved: read the slope as an average" if checks.reset_p < 0.05
            else "A straight line fits", f"RESET p = {checks.reset_p:.2g}; bars: 95% intervals")
    return axes


# ------------------------------------------------------------- effects comparable to the demo


@dataclasses.dataclass(frozen=True)
class SatisfactionEffect:
    """One coefficient of satisfaction (per scale point) with its interval and model."""

    name: str
    estimate: Estimate
    details: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.name)}</b>: " + self.estimate._repr_html_()


def spend_effect(features: pd.DataFrame, satisfaction: str = "satisfaction_mean",
                 categorical: Sequence[str] = ("market_type",),
                 level: float = 0.95) -> SatisfactionEffect:
    """Log average order value per satisfaction point (OLS, HC3), among buyers in the window."""
    require_columns(features, [satisfaction, "avg_order_value"], "spend_effect")
    aov = as_float(features["avg_order_value"])
    frame = features.loc[np.isfinite(aov) & (aov > 0)]
    design, names = _design(frame, satisfaction, (), categorical)
    design["y"] = np.log(as_float(frame["avg_order_value"]))
    design = design.dropna()
    if len(design) < 30:
        raise ValueError(f"only {len(design):,} buying customers have a survey score "
                         f"({satisfaction}); need at least 30")
    names = [c for c in names if design[c].std() > 0]
    fit = smf.ols("y ~ " + " + ".join(["sat", *names]), design).fit(cov_type="HC3")
    low, high = fit.conf_int(1 - level).loc["sat"]
    est = Estimate(float(fit.params["sat"]), float(low), float(high), int(fit.nobs),
                   "OLS of log average order value, HC3 errors", level, "log spend/point")
    return SatisfactionEffect("log spend per satisfaction point", est)


def lapse_times(features: pd.DataFrame, churn_days: float = 180.0,
                min_orders_per_month: float = 0.0) -> pd.DataFrame:
    """Observed lifetimes under the inactivity rule, one row per customer kept.

    Lifetime runs from first purchase to last purchase when the customer has been
    inactive for more than ``churn_days`` (``lapsed``), else to the window end
    (censored). ``min_orders_per_month`` keeps only customers whose purchase rate
    makes a long silence meaningful.
    """
    need = ["days_since_last", "recency_days", "T_days", "orders_total"]
    require_columns(features, need, "lapse_times")
    rate = as_float(features["orders_total"]) / (as_float(features["recency_days"]) / 30.4375 + 1)
    keep = rate >= min_orders_per_month
    lapsed = as_float(features["days_since_last"])[keep] > churn_days
    days = np.where(lapsed, as_float(features["recency_days"])[keep],
                    as_float(features["T_days"])[keep]) + 1
    return pd.DataFrame({"days": days, "lapsed": lapsed.astype(int)},
                        index=features.index[keep])


def hazard_per_point(days: np.ndarray, event: np.ndarray, satisfaction: np.ndarray,
                     level: float = 0.95, method: str = "Cox PH (PHReg, Breslow ties)"
                     ) -> SatisfactionEffect:
    """Log hazard ratio per satisfaction point from a one-covariate Cox model (statsmodels)."""
    days, event, x = (np.asarray(a, dtype=float) for a in (days, event, satisfaction))
    keep = np.isfinite(days) & np.isfinite(event) & np.isfinite(x) & (days > 0)
    events = int(event[keep].sum())
    if keep.sum() < 30 or events < 10:
        raise ValueError(f"only {int(keep.sum()):,} surveyed customers with {events:,} "
                         "departures; need at least 30 customers and 10 departures")
    fit = sm.PHReg(days[keep], x[keep][:, None], status=event[keep].astype(int),
                   ties="breslow").fit()
    low, high = fit.conf_int(1 - level)[0]
    est = Estimate(float(fit.params[0]), float(low), float(high), int(keep.sum()), method,
                   level, "log HR/point")
    return SatisfactionEffect("log hazard ratio per satisfaction point", est,
                              {"events": events})


def dropout_effect(features: pd.DataFrame, satisfaction: str = "satisfaction_mean",
                   min_orders_per_month: float = 0.0, churn_days: float = 180.0,
                   level: float = 0.95) -> SatisfactionEffect:
    """Log hazard ratio of lapsing per satisfaction point (Cox PH on :func:`lapse_times`).

    Two things pull the estimate towards zero compared with the effect on true
    dropout: survey scores are noisy readings of satisfaction, and the inactivity
    rule marks rare buyers as lapsed while they are still customers (and real
    dropouts only after ``churn_days``). Read it as a lower bound on the size.
    """
    require_columns(features, [satisfaction], "dropout_effect")
    lapses = lapse_times(features, churn_days, min_orders_per_month)
    method = (f"Cox PH (PHReg, Breslow ties); lapse = no purchase for {churn_days:g} days"
              + (f"; buyers with >= {min_orders_per_month:g} orders/month"
                 if min_orders_per_month else ""))
    effect = hazard_per_point(lapses["days"], lapses["lapsed"],
                              as_float(features.loc[lapses.index, satisfaction]), level, method)
    return dataclasses.replace(effect, name="log hazard ratio of lapsing per satisfaction point")


# ---------------------------------------------------------------------- ordinal satisfaction


class OrderedLogit(OrderedModel):
    """statsmodels' ordered logit (``distr="logit"``) with the logistic cdf and pdf from
    scipy.special. OrderedModel evaluates them through scipy.stats' generic distribution
    machinery, which took 13 of the 23 s of a fit on 330,000 customers (the score is
    numerical, so the likelihood runs many times); the values are the same."""

    def __init__(self, endog, exog, **kwargs):
        super().__init__(endog, exog, distr="logit", **kwargs)

    def cdf(self, x):
        return special.expit(x)

    def pdf(self, x):
        p = special.expit(x)
        return p * (1 - p)


@dataclasses.dataclass(frozen=True)
class SatisfactionDrivers:
    """Ordered logit of the latest satisfaction score on service experience."""

    summary: pd.DataFrame   # term, odds_ratio, low, high, p
    n: int
    method: str

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format=lambda v: f"{v:.3g}")


def satisfaction_drivers(features: pd.DataFrame, level: float = 0.95) -> SatisfactionDrivers:
    """Which service experiences go with higher satisfaction (ordered logit, odds ratios).

    Terms: complaints in history, any unresolved complaint, response time
    (log2 hours, customers without resolved complaints get the median and a flag),
    promotion share and tenure. An odds ratio above 1 means higher scores.
    """
    need = ["satisfaction_latest", "complaints_total", "unresolved_complaints",
            "median_response_hours", "promo_share", "tenure_days"]
    require_columns(features, need, "satisfaction_drivers")
    frame = features.loc[as_float(features["satisfaction_latest"]) == as_float(
        features["satisfaction_latest"])]
    hours = as_float(frame["median_response_hours"])
    has_hours = np.isfinite(hours)
    fill = np.nanmedian(hours) if has_hours.any() else 24.0
    x = pd.DataFrame({
        "complaints (log1p)": np.log1p(as_float(frame["complaints_total"])),
        "unresolved complaint": (as_float(frame["unresolved_complaints"]) > 0).astype(float),
        "response time (log2 h)": np.log2(np.where(has_hours, hours, fill).clip(0.1)),
        "no resolved complaint": (~has_hours).astype(float),
        "promotion share": np.nan_to_num(as_float(frame["promo_share"]), nan=0.0),
        "tenure (log1p days)": np.log1p(as_float(frame["tenure_days"])),
    }, index=frame.index)
    x = x.loc[:, x.std() > 0]
    y = pd.Series(pd.Categorical(as_float(frame["satisfaction_latest"]), ordered=True),
                  index=frame.index)
    keep = x.notna().all(axis=1)
    if keep.sum() < 50:
        raise ValueError(f"only {int(keep.sum()):,} surveyed customers; a model of what goes "
                         "with higher scores needs at least 50")
    if y[keep].nunique() < 2:
        raise ValueError(f"all {int(keep.sum()):,} surveyed customers gave the same latest "
                         "score, so nothing can go with higher scores")
    if x.shape[1] == 0:
        raise ValueError("the surveyed customers do not differ in complaints, response time, "
                         "promotion share or tenure, so nothing can explain their scores")
    fit = OrderedLogit(y[keep].cat.remove_unused_categories(), x[keep]).fit(
        method="bfgs", disp=False, maxiter=500)
    ci = fit.conf_int(1 - level).loc[x.columns]
    table = pd.DataFrame({"term": x.columns, "odds_ratio": np.exp(fit.params[x.columns]),
                          "low": np.exp(ci[0]), "high": np.exp(ci[1]),
                          "p": fit.pvalues[x.columns]}).reset_index(drop=True)
    return SatisfactionDrivers(table, int(keep.sum()), "ordered logit (statsmodels OrderedModel)")


# ------------------------------------------------------------------------------ period level


@dataclasses.dataclass(frozen=True)
class PeriodEffect:
    """Month-level regression of log profit per customer on mean satisfaction (HAC errors)."""

    per_point: Estimate        # log profit per customer per scale point
    relative: Estimate         # relative change in profit per customer for +5% of the scale
    months: pd.DataFrame       # month, satisfaction, profit_per_customer, customers
    delta_points: float

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"effect": k, "value": e.value, "low": e.low, "high": e.high,
                              "n": e.n} for k, e in (("log profit per point", self.per_point),
                                                     ("relative per +5% of scale", self.relative))])


def period_effect(panel: pd.DataFrame, scale: Scale, period_column: str = "month",
                  satisfaction: str = "satisfaction_latest", min_surveyed: int = 20,
                  level: float = 0.95, delta: float | None = None,
                  min_periods: int = 6) -> PeriodEffect:
    """Across periods: is profit per buying customer higher when mean satisfaction is higher?

    One row per period (customers with an order in it); log profit per customer on
    mean latest satisfaction of the surveyed ones, with Newey-West (HAC, 3 lags)
    errors because neighbouring months are alike. Few periods and little
    variation in satisfaction give wide intervals; that is the honest answer.
    ``delta``: the step of the relative effect (default +5% of the scale range; 0.05 with
    ``satisfaction="top_box"`` is +5 percentage points of top-box customers).
    """
    require_columns(panel, [period_column, satisfaction, "profit", "orders"], "period_effect")
    buyers = panel.loc[as_float(panel["orders"]) > 0]
    grouped = buyers.assign(_sat=as_float(buyers[satisfaction]),
                            _profit=as_float(buyers["profit"])).groupby(period_column)
    months = pd.DataFrame({"satisfaction": grouped["_sat"].mean(),
                           "surveyed": grouped["_sat"].count(),
                           "profit_per_customer": grouped["_profit"].mean(),
                           "customers": grouped.size()}).reset_index()
    usable = months[(months["surveyed"] >= min_surveyed) & (months["profit_per_customer"] > 0)]
    if len(usable) < min_periods:
        raise ValueError(f"the estimate over time needs at least {min_periods} months with "
                         f"{min_surveyed} surveyed buyers and positive profit; found "
                         f"{len(usable)}")
    if not usable["satisfaction"].std() > 0:
        raise ValueError("monthly satisfaction does not vary, so its link with profit over "
                         "time cannot be estimated")
    x = sm.add_constant(usable["satisfaction"].to_numpy())
    fit = sm.OLS(np.log(usable["profit_per_customer"].to_numpy()), x).fit(
        cov_type="HAC", cov_kwds={"maxlags": 3})
    low, high = fit.conf_int(1 - level)[1]
    b = float(fit.params[1])
    n = len(usable)
    method = "OLS of log profit per customer on mean satisfaction by period, HAC(3) errors"
    delta = five_points(scale) if delta is None else float(delta)
    per_point = Estimate(b, float(low), float(high), n, method, level, "log profit/point")
    relative = Estimate(float(np.expm1(b * delta)), float(np.expm1(low * delta)),
                        float(np.expm1(high * delta)), n, method, level, "share")
    return PeriodEffect(per_point, relative, months, delta)
