"""Buy-till-you-die models for customers whose churn is never observed: BG/NBD, Pareto/NBD
and Gamma-Gamma, fitted by maximum likelihood, with predictions and CLV.

- BG/NBD: Fader, Hardie and Lee (2005), "Counting your customers the easy way",
  Marketing Science 24(2).
- Pareto/NBD: Schmittlein, Morrison and Colombo (1987), likelihood as in Fader and
  Hardie, "A note on deriving the Pareto/NBD model and related expressions" (2005).
- Gamma-Gamma spend: Fader, Hardie and Lee (2005), "RFM and CLV: using iso-value
  curves for customer base analysis", and Fader and Hardie's Gamma-Gamma note (2013).

Likelihoods are written in logs (``gammaln``, ``betaln``, ``logaddexp``) so they stay
finite for very large frequencies, and take a weight per row so that identical
(frequency, recency, T) customers are evaluated once. Parameters are optimised on the
log scale (positivity) with analytic gradients for BG/NBD and Gamma-Gamma; standard
errors come from the numerical Hessian of the log-likelihood at the optimum
(statsmodels ``approx_hess``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from statsmodels.tools.numdiff import approx_fprime, approx_hess

from analysis import plots
from analysis.results import Estimate
from analysis.rfm import (  # rfm_summary also re-exported here
    UNITS,
    purchase_days,
    rfm_from_days,
    rfm_summary,
)

# -- data ---------------------------------------------------------------------------------


def compress(summary: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Unique rows of ``columns`` and how many customers share each (likelihood weights)."""
    counts = summary.groupby(list(columns), sort=False).size()
    return counts.index.to_frame(index=False), counts.to_numpy(float)


# -- fitting --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FittedModel:
    """Parameters with standard errors and 95% intervals, log-likelihood and fit data."""

    name: str
    params: pd.Series
    std_errors: pd.Series
    loglik: float
    n: int
    converged: bool
    cov: pd.DataFrame | None = None  # covariance of the parameter estimates (inverse Hessian)

    @property
    def aic(self) -> float:
        return 2 * len(self.params) - 2 * self.loglik

    def estimate(self, name: str) -> Estimate:
        value, se = float(self.params[name]), float(self.std_errors[name])
        return Estimate(value, value - 1.96 * se, value + 1.96 * se, self.n,
                        f"{self.name} maximum likelihood, Wald interval", unit=name)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"parameter": self.params.index, "estimate": self.params.to_numpy(),
                             "std_error": self.std_errors.to_numpy(),
                             "low": (self.params - 1.96 * self.std_errors).to_numpy(),
                             "high": (self.params + 1.96 * self.std_errors).to_numpy()})


def _fit(name: str, names: Sequence[str], loglik: Callable, grad: Callable | None,
         start: np.ndarray, n: int, errors: bool = True) -> FittedModel:
    """Maximise ``loglik(params)`` over log-parameters; SEs from the Hessian at the optimum.

    The objective is the mean log-likelihood per customer (well scaled for BFGS); with an
    analytic gradient the Hessian is the finite-difference Jacobian of the gradient.
    """
    scale = 1.0 / max(n, 1)

    def objective(theta):
        value = -loglik(np.exp(theta)) * scale
        return value if np.isfinite(value) else 1e300

    jac = None
    if grad is not None:
        def jac(theta):
            p = np.exp(theta)
            return -grad(p) * p * scale

    # a finite-difference gradient is only good to ~1e-7: ask BFGS for less without one
    gtol = 1e-8 if jac is not None else 1e-6
    result = optimize.minimize(objective, np.log(start), jac=jac, method="BFGS",
                               options={"gtol": gtol, "maxiter": 2000})
    slope = jac(result.x) if jac is not None else approx_fprime(result.x, objective,
                                                                  centered=True)
    gradient_ok = np.max(np.abs(slope)) < 100 * gtol
    if not (result.success or gradient_ok):  # polish from where BFGS stopped
        result = optimize.minimize(objective, result.x, method="Nelder-Mead",
                                   options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20000})
    params = np.exp(result.x)
    cov = _covariance(params, loglik, grad) if errors else None
    if cov is None:   # no errors asked for (a calibration fit) or a singular Hessian
        cov = np.full((len(params), len(params)), np.nan)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    labels = list(names)
    return FittedModel(name, pd.Series(params, index=labels), pd.Series(se, index=labels),
                       float(loglik(params)), n, bool(result.success or gradient_ok),
                       pd.DataFrame(cov, index=labels, columns=labels))


def _covariance(params: np.ndarray, loglik: Callable, grad: Callable | None) -> np.ndarray | None:
    """Inverse of the negative Hessian of ``loglik`` at ``params``; None when it is singular.
    With an analytic gradient the Hessian is the (symmetrised) Jacobian of the gradient."""
    if grad is not None:
        hess = approx_fprime(params, grad, centered=True)
        hess = (hess + hess.T) / 2
    else:
        hess = approx_hess(params, loglik)
    try:
        return np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return None


def _columns(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = summary["frequency"].to_numpy(float)
    t_x = summary["recency"].to_numpy(float)
    T = summary["T"].to_numpy(float)
    if (x < 0).any() or (t_x < 0).any() or (t_x > T + 1e-9).any():
        raise ValueError("rfm summary: need frequency >= 0 and 0 <= recency <= T")
    return x, t_x, T


# -- BG/NBD ---------------------------------------------------------------------------------


def _by_frequency(x: np.ndarray, groups=None):
    """Unique frequencies and the index of each row's frequency (terms that depend on x only
    are computed once per distinct x: a few dozen values instead of every customer)."""
    return groups if groups is not None else np.unique(x, return_inverse=True)


def _x_terms(params, ux):
    r, _alpha, a, b = params
    uxm = np.maximum(ux, 1)
    has = ux > 0
    return {
        "gl": special.gammaln(r + ux) - special.gammaln(r),
        "b2": special.betaln(a, b + ux) - special.betaln(a, b),
        "b3": np.where(has, special.betaln(a + 1, b + uxm - 1) - special.betaln(a, b), -np.inf),
    }


def bgnbd_loglik_terms(params, x, t_x, T, groups=None) -> np.ndarray:
    r, alpha, a, b = params
    ux, inv = _by_frequency(x, groups)
    terms = {k: v[inv] for k, v in _x_terms(params, ux).items()}
    a1 = terms["gl"] + r * np.log(alpha)
    a2 = terms["b2"] - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore"):
        a3 = terms["b3"] - (r + x) * np.log(alpha + t_x)
    return a1 + np.logaddexp(a2, a3)


def bgnbd_gradient(params, x, t_x, T, weights, groups=None) -> np.ndarray:
    r, alpha, a, b = params
    psi = special.digamma
    ux, inv = _by_frequency(x, groups)
    base = _x_terms(params, ux)
    log_t, log_tx = np.log(alpha + T), np.log(alpha + t_x)
    a2 = base["b2"][inv] - (r + x) * log_t
    with np.errstate(invalid="ignore"):
        a3 = base["b3"][inv] - (r + x) * log_tx
    w3 = np.exp(a3 - np.logaddexp(a2, a3))
    w2 = 1 - w3
    uxm = np.maximum(ux, 1)
    has = ux > 0
    psi_abx = psi(a + b + ux)
    base_a, base_b = psi(a) - psi(a + b), psi(b) - psi(a + b)
    d_r_x = (psi(r + ux) - psi(r))[inv]
    da2 = (psi(a) - psi_abx - base_a)[inv]
    da3 = np.where(has, psi(a + 1) - psi_abx - base_a, 0.0)[inv]
    db2 = (psi(b + ux) - psi_abx - base_b)[inv]
    db3 = np.where(has, psi(b + uxm - 1) - psi_abx - base_b, 0.0)[inv]
    d_r = d_r_x + np.log(alpha) - w2 * log_t - w3 * log_tx
    d_alpha = r / alpha - (r + x) * (w2 / (alpha + T) + w3 / (alpha + t_x))
    d_a = w2 * da2 + w3 * da3
    d_b = w2 * db2 + w3 * db3
    return np.array([weights @ g for g in (d_r, d_alpha, d_a, d_b)])


def fit_bgnbd(summary: pd.DataFrame, start=(0.5, 5.0, 0.8, 2.5),
              errors: bool = True) -> FittedModel:
    rows, weights = compress(summary, ["frequency", "recency", "T"])
    x, t_x, T = _columns(rows)
    groups = np.unique(x, return_inverse=True)
    return _fit("BG/NBD", ("r", "alpha", "a", "b"),
                lambda p: float(weights @ bgnbd_loglik_terms(p, x, t_x, T, groups)),
                lambda p: bgnbd_gradient(p, x, t_x, T, weights, groups), np.array(start),
                len(summary), errors)


def bgnbd_p_alive(params, x, t_x, T) -> np.ndarray:
    r, alpha, a, b = params
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = (np.log(a) - np.log(b + np.maximum(x, 1) - 1)
                     + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(x > 0, 1 / (1 + np.exp(log_ratio)), 1.0)


def bgnbd_expected(params, t, x, t_x, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10)."""
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    first = (a + b + x - 1) / (a - 1)
    second = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + np.where(x > 0, a / (b + np.maximum(x, 1) - 1)
                             * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return first * second / denom


def bgnbd_survival(params, t, x, T) -> np.ndarray:
    """P(still alive at T + t | alive at T, x repeat purchases in T).

    Given alive at T the posterior is lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x)
    (independent); surviving t means no dropout after any of the Poisson(lambda t) purchases,
    E[exp(-lambda p t)] = 2F1(r + x, a; a + b + x; -c) with c = t / (alpha + T), written with
    Pfaff's transformation so the argument lies in [0, 1).
    """
    r, alpha, a, b = params
    c = t / (alpha + T)
    return (1 + c) ** (-a) * special.hyp2f1(a + b - r, a, a + b + x, c / (1 + c))


# -- Pareto/NBD -------------------------------------------------------------------------------


def _log_hyp_term(a, b, c, z, base, power):
    """log( 2F1(a, b; c; z) / base**power ) for 0 <= z < 1."""
    return np.log(special.hyp2f1(a, b, c, z)) - power * np.log(base)


def _pair_groups(x: np.ndarray, t: np.ndarray):
    """Distinct (frequency, time) pairs and each row's pair: the hypergeometric terms depend
    on a row only through one such pair (about half as many as rows)."""
    # as complex numbers the pairs sort by (x, t): 6x faster than np.unique(..., axis=0)
    pairs, inverse = np.unique(np.asarray(x, float) + 1j * np.asarray(t, float),
                               return_inverse=True)
    return pairs.real.copy(), pairs.imag.copy(), inverse.ravel()


def _log_f(params, x, t, groups=None):
    """log( 2F1(r+s+x, b; r+s+x+1; z(t)) / (top + t)**(r+s+x) ), Fader-Hardie (2005) eq. 22,
    with the branch that keeps the argument z in [0, 1)."""
    r, alpha, s, beta = params
    ux, ut, inverse = groups if groups is not None else (x, t, slice(None))
    rsx = r + s + ux
    if alpha >= beta:
        arg_b, top = s + 1, alpha
    else:
        arg_b, top = r + ux, beta
    z = abs(alpha - beta) / (top + ut)
    return _log_hyp_term(rsx, arg_b, rsx + 1, z, top + ut, rsx)[inverse]


def paretonbd_loglik_terms(params, x, t_x, T, groups=None) -> np.ndarray:
    """Per-customer log-likelihood; ``groups`` = (``_pair_groups(x, t_x)``,
    ``_pair_groups(x, T)``) computes the hypergeometric terms once per distinct pair."""
    r, alpha, s, beta = params
    common = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
              + s * np.log(beta))
    rsx = r + s + x
    g1, g2 = groups if groups is not None else (None, None)
    log_f1 = _log_f(params, x, t_x, g1)
    log_f2 = _log_f(params, x, T, g2)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_a0 = log_f1 + np.log1p(-np.exp(np.minimum(log_f2 - log_f1, 0.0)))
    log_first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_second = np.log(s) - np.log(rsx) + log_a0
    return common + np.logaddexp(log_first, log_second)


def fit_paretonbd(summary: pd.DataFrame, start=(0.5, 10.0, 0.5, 10.0),
                  errors: bool = True) -> FittedModel:
    rows, weights = compress(summary, ["frequency", "recency", "T"])
    x, t_x, T = _columns(rows)
    groups = (_pair_groups(x, t_x), _pair_groups(x, T))
    return _fit("Pareto/NBD", ("r", "alpha", "s", "beta"),
                lambda p: float(weights @ paretonbd_loglik_terms(p, x, t_x, T, groups)), None,
                np.array(start), len(summary), errors)


def paretonbd_p_alive(params, x, t_x, T) -> np.ndarray:
    r, alpha, s, beta = params
    log_l = paretonbd_loglik_terms(params, x, t_x, T, (_pair_groups(x, t_x), _pair_groups(x, T)))
    log_alive = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                 + s * np.log(beta) - (r + x) * np.log(alpha + T) - s * np.log(beta + T))
    return np.exp(log_alive - log_l)


def paretonbd_expected(params, t, x, t_x, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (Schmittlein, Morrison and Colombo 1987)."""
    r, alpha, s, beta = params
    scale = (r + x) * (beta + T) / (alpha + T)
    if abs(s - 1) < 1e-8:
        growth = np.log((beta + T + t) / (beta + T))
    else:
        growth = (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) / (s - 1)
    return scale * growth * paretonbd_p_alive(params, x, t_x, T)


def paretonbd_survival(params, t, x, T) -> np.ndarray:
    """P(still alive at T + t | alive at T): mu | alive ~ Gamma(s, beta + T)."""
    _r, _alpha, s, beta = params
    return ((beta + T) / (beta + T + t)) ** s * np.ones_like(np.asarray(x, float))


# -- Gamma-Gamma ------------------------------------------------------------------------------


def gg_loglik_terms(params, x, m) -> np.ndarray:
    p, q, gamma = params
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q)
            + q * np.log(gamma) + (p * x - 1) * np.log(m) + p * x * np.log(x)
            - (p * x + q) * np.log(gamma + m * x))


def gg_gradient(params, x, m, weights) -> np.ndarray:
    p, q, gamma = params
    psi = special.digamma
    d_p = x * (psi(p * x + q) - psi(p * x) + np.log(m) + np.log(x) - np.log(gamma + m * x))
    d_q = psi(p * x + q) - psi(q) + np.log(gamma) - np.log(gamma + m * x)
    d_g = q / gamma - (p * x + q) / (gamma + m * x)
    return np.array([(weights * g).sum() for g in (d_p, d_q, d_g)])


def repeat_buyers(summary: pd.DataFrame) -> pd.DataFrame:
    out = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(out) < 10:
        raise ValueError(f"Gamma-Gamma needs repeat buyers with positive spend; found {len(out)}")
    return out


def fit_gamma_gamma(summary: pd.DataFrame, start=(2.0, 2.0, 10.0)) -> FittedModel:
    rows, weights = compress(repeat_buyers(summary), ["frequency", "monetary_value"])
    x, m = rows["frequency"].to_numpy(float), rows["monetary_value"].to_numpy(float)
    return _fit("Gamma-Gamma", ("p", "q", "gamma"),
                lambda p: float(weights @ gg_loglik_terms(p, x, m)),
                lambda p: gg_gradient(p, x, m, weights), np.array(start), int(weights.sum()))


def gg_expected_spend(params, x, m) -> np.ndarray:
    """E[mean spend per transaction | x, m]; the population mean for x = 0."""
    p, q, gamma = params
    return (gamma + m * x) * p / (p * x + q - 1)


def spend_independence(summary: pd.DataFrame) -> Estimate:
    """Gamma-Gamma assumes spend is independent of frequency: Spearman r among repeat buyers."""
    rows = repeat_buyers(summary)
    r = stats.spearmanr(rows["frequency"], rows["monetary_value"]).statistic
    n = len(rows)
    se = math.sqrt((1 + r**2 / 2) / (n - 3))
    z = math.atanh(r)
    return Estimate(float(r), math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se), n,
                    "Spearman r of frequency and mean spend (Bonett-Wright interval)")


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


def comparison_table(report: ValueReport) -> pd.DataFrame:
    """The purchase models side by side, formatted for reading."""
    def show(e: Estimate) -> str:
        if e.value is None:
            return "n/a"
        return f"{e.value:.2f} ({e.low:.2f} to {e.high:.2f})"

    table = report.comparison.copy()
    for column in ("holdout forecast / actual", "12-month retention"):
        table[column] = table[column].map(show)
    table["used"] = np.where(table["model"] == report.model, "yes", "")
    return table.round({"log-likelihood": 1, "AIC": 1})


def overview(report: ValueReport, horizon_months: int = 12) -> pd.DataFrame:
    c = report.customers
    e = report.mean_clv
    return pd.DataFrame([{
        "customers": f"{len(c):,}",
        "likely still active (P > 50%)": f"{(c['p_alive'] > 0.5).mean():.0%}",
        f"purchases expected in {horizon_months} months": f"{c.iloc[:, 2].sum():,.0f}",
        "mean CLV": f"{plots.fmt_money(e.value)} ({plots.fmt_money(e.low)} to "
                    f"{plots.fmt_money(e.high)})",
        "total CLV": plots.fmt_money(float(c["clv"].sum())),
        "margin used": f"{report.margin:.0%}",
    }])


# -- the section in one call --------------------------------------------------------------------

PUBLISHED_CDNOW = {  # Fader, Hardie and Lee (2005) and Fader and Hardie's Gamma-Gamma note
    "BG/NBD": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "loglik": -9582.4},
    "Pareto/NBD": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669, "loglik": -9595.0},
    "Gamma-Gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
}


def cdnow_reproduction() -> pd.DataFrame:
    """Our fits on the CDNOW sample next to the published values."""
    from analysis.sources import load_cdnow

    summary = rfm_summary(load_cdnow("sample").transactions, "1997-10-01")
    fits = {"BG/NBD": fit_bgnbd(summary), "Pareto/NBD": fit_paretonbd(summary),
            "Gamma-Gamma": fit_gamma_gamma(summary)}
    rows = []
    for model, published in PUBLISHED_CDNOW.items():
        fit = fits[model]
        for name, value in published.items():
            ours = fit.loglik if name == "loglik" else float(fit.params[name])
            rows.append({"model": model, "parameter": name, "published": value,
                         "this project": round(ours, 3 if name != "loglik" else 1)})
    return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class ValueReport:
    """The CLV section: fits, holdout check, model comparison, retention and customer values.

    ``model`` names the purchase model used for the per-customer table and the headlines:
    the one with the higher log-likelihood on the full data (both have four parameters).
    """

    calibration_end: pd.Timestamp
    model: str
    bgnbd: FittedModel
    paretonbd: FittedModel | None
    gamma_gamma: FittedModel | None
    holdout: pd.DataFrame
    holdout_total: Estimate
    comparison: pd.DataFrame
    annual_retention: Estimate
    spend_check: Estimate | None
    customers: pd.DataFrame
    margin: float
    mean_clv: Estimate
    reproduction: pd.DataFrame
    notes: tuple[str, ...]

    def headlines(self) -> dict[str, Estimate]:
        return {"holdout_forecast_ratio": self.holdout_total, "mean_clv": self.mean_clv,
                "implied_annual_retention": self.annual_retention}


def _fit_purchase_models(summary: pd.DataFrame, compare_pareto: bool, notes: list[str],
                         errors: bool = True) -> dict[str, FittedModel]:
    fits = {"BG/NBD": fit_bgnbd(summary, errors=errors)}
    if compare_pareto:
        bg = fits["BG/NBD"].params
        try:
            fits["Pareto/NBD"] = fit_paretonbd(summary, (bg["r"], bg["alpha"], 1.0, 30.0),
                                               errors)
        except (ValueError, FloatingPointError) as error:
            notes.append(f"Pareto/NBD not fitted: {error}")
    return {name: fit for name, fit in fits.items() if np.isfinite(fit.loglik)}


def _mean_with_bootstrap(values: np.ndarray, replicates: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = np.array([values[rng.integers(0, len(values), len(values))].mean()
                      for _ in range(replicates)])
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def value_report(ctx, holdout_weeks: int = 26, horizon_months: int = 12,
                 annual_discount: float = 0.1, seed: int = 0,
                 compare_pareto: bool = True, bootstrap: int = 300) -> ValueReport:
    """Fit on a calibration period, check on the holdout, refit on everything and score.

    The Pareto/NBD (dropout at any time) is fitted next to the BG/NBD (dropout only just
    after a purchase) unless ``compare_pareto`` is False; it costs ~5 s per fit on 20,000
    customers (BG/NBD < 0.1 s). The better-fitting model scores the customers.
    """
    tx = ctx.data.transactions
    end = ctx.period.end
    cal_end = end - pd.Timedelta(weeks=holdout_weeks)
    notes: list[str] = []
    days = purchase_days(tx)
    summary = rfm_from_days(days, end)
    fits = _fit_purchase_models(summary, compare_pareto, notes)
    model = max(fits.values(), key=lambda fit: fit.loglik)
    calibration = rfm_from_days(days, cal_end, end)
    checks = _fit_purchase_models(calibration, compare_pareto, notes, errors=False)
    rows = []
    for name, fit in fits.items():
        check = checks.get(name)
        ratio = (holdout_ratio(expected_purchases(check, calibration["duration_holdout"]
                                                  .to_numpy(float), calibration),
                               calibration["frequency_holdout"], holdout_weeks, name)
                 if check is not None else Estimate(None))
        retention = implied_annual_retention(fit, summary)
        rows.append({"model": name, "log-likelihood": fit.loglik, "AIC": fit.aic,
                     "holdout forecast / actual": ratio, "12-month retention": retention})
    comparison = pd.DataFrame(rows)
    chosen = comparison.set_index("model").loc[model.name]
    holdout = calibration_table(checks.get(model.name, checks["BG/NBD"]), calibration)
    try:
        gg = fit_gamma_gamma(summary)
        spend_check = spend_independence(summary)
    except ValueError as error:
        gg, spend_check = None, None
        notes.append(str(error))
    window = ctx.features(*ctx.window(12))
    margin = 1.0
    if window["gross_margin"].notna().all() and window["revenue"].sum() > 0:
        margin = float(window["gross_margin"].sum() / window["revenue"].sum())
    else:
        notes.append("cost of goods unknown: CLV is in revenue, not margin")
    customers = customer_value(model, gg, summary, horizon_months, margin, annual_discount)
    clv = customers["clv"].to_numpy(float)
    low, high = _mean_with_bootstrap(clv, bootstrap, seed)
    mean_clv = Estimate(float(clv.mean()), low, high, len(clv),
                        f"mean {horizon_months}-month CLV ({model.name} x Gamma-Gamma) at "
                        f"{margin:.0%} margin, {annual_discount:.0%} discount; customer "
                        "bootstrap", unit="currency")
    return ValueReport(cal_end, model.name, fits["BG/NBD"], fits.get("Pareto/NBD"), gg, holdout,
                       chosen["holdout forecast / actual"], comparison,
                       chosen["12-month retention"], spend_check, customers, margin, mean_clv,
                       cdnow_reproduction(), tuple(notes))
