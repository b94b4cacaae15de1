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

from analysis.core.results import Estimate

# -- data ---------------------------------------------------------------------------------


def compress(summary: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Unique rows of ``columns`` and how many customers share each (likelihood weights)."""
    counts = summary.groupby(list(columns), sort=False).size()
    return counts.index.to_frame(index=False), counts.to_numpy(float)


# -- fitting --------------------------------------------------------------------------------


#: a fitted parameter outside [BOUND_LOW, BOUND_HIGH] sits at the edge of what the data can
#: tell apart (e.g. a BG/NBD dropout parameter a = 1.4e-6 with b = 33,858: "nobody drops out")
BOUND_LOW, BOUND_HIGH = 1e-4, 1e6
#: a standard error of a log parameter above this means the data barely constrain it (a 95%
#: interval wider than a factor of about 360 either way)
MAX_LOG_SE = 3.0
#: a correlation matrix of the estimates with a condition number above this is numerically
#: singular: the data pin down only a combination of the parameters
MAX_CONDITION = 1e8
#: fits search log parameters within +-15 (about 3e-7 to 3e6), outside the bounds above
LOG_LIMIT = 15.0


@dataclasses.dataclass(frozen=True)
class FittedModel:
    """Parameters with standard errors and 95% intervals, log-likelihood and fit data.

    The parameters are estimated on the log scale (they are positive), so their intervals are
    too: ``exp(log(theta) +- 1.96 se / theta)``, never below zero. ``problem`` says in words
    why the fit cannot be read (a parameter at a bound, a singular Hessian, an unconstrained
    parameter); such a fit is shown without intervals (:attr:`identifiable` is False).
    """

    name: str
    params: pd.Series
    std_errors: pd.Series
    loglik: float
    n: int
    converged: bool
    cov: pd.DataFrame | None = None  # covariance of the parameter estimates (inverse Hessian)
    problem: str | None = None
    #: a restriction the fit was made under, in words (e.g. a dropout rate common to all
    #: customers when the data do not identify differences in dropout); None when free
    constraint: str | None = None

    @property
    def aic(self) -> float:
        return 2 * len(self.params) - 2 * self.loglik

    @property
    def identifiable(self) -> bool:
        return self.problem is None

    @property
    def log_cov(self) -> np.ndarray | None:
        """Covariance of the log parameters (delta method), None without a usable Hessian."""
        if self.cov is None or not self.identifiable:
            return None
        cov = self.cov.to_numpy()
        if not np.isfinite(cov).all():
            return None
        inv = 1 / self.params.to_numpy()
        return cov * np.outer(inv, inv)

    def interval(self, name: str) -> tuple[float | None, float | None]:
        """95% interval of one parameter on the log scale; (None, None) when not readable."""
        value, se = float(self.params[name]), float(self.std_errors[name])
        if not self.identifiable or not np.isfinite(se) or se <= 0:
            return None, None
        half = 1.96 * se / value
        return value * math.exp(-half), value * math.exp(half)

    def estimate(self, name: str) -> Estimate:
        low, high = self.interval(name)
        method = (f"{self.name} maximum likelihood, 95% interval on the log scale"
                  if self.identifiable else f"{self.name} maximum likelihood; {self.problem}")
        return Estimate(float(self.params[name]), low, high, self.n, method, unit=name)

    def summary(self) -> pd.DataFrame:
        bounds = [self.interval(name) for name in self.params.index]
        return pd.DataFrame({"parameter": self.params.index, "estimate": self.params.to_numpy(),
                             "std_error": self.std_errors.to_numpy(),
                             "low": [b[0] for b in bounds], "high": [b[1] for b in bounds]})


def fit_by_ml(name: str, names: Sequence[str], loglik: Callable, grad: Callable | None,
              start: np.ndarray, n: int, errors: bool = True) -> FittedModel:
    """Maximise ``loglik(params)`` over log-parameters; SEs from the Hessian at the optimum.

    The objective is the mean log-likelihood per customer (well scaled for BFGS); with an
    analytic gradient the Hessian is the finite-difference Jacobian of the gradient. The fit
    is checked with :func:`fit_problem`.
    """
    scale = 1.0 / max(n, 1)

    # log parameters are held within +-LOG_LIMIT (the likelihood is flat beyond): far past
    # the bounds of fit_problem, so a fit that runs off stops there and is flagged, instead
    # of evaluating hypergeometric functions of parameters like 1e8 for seconds each
    def objective(theta):
        with np.errstate(all="ignore"):
            value = -loglik(np.exp(np.clip(theta, -LOG_LIMIT, LOG_LIMIT))) * scale
        return value if np.isfinite(value) else 1e300

    jac = None
    if grad is not None:
        def jac(theta):
            inside = np.abs(theta) < LOG_LIMIT
            p = np.exp(np.clip(theta, -LOG_LIMIT, LOG_LIMIT))
            with np.errstate(all="ignore"):
                out = -grad(p) * p * scale * inside
            return np.where(np.isfinite(out), out, 0.0)

    # a finite-difference gradient is only good to ~1e-7: ask BFGS for less without one
    gtol = 1e-8 if jac is not None else 1e-6
    with np.errstate(all="ignore"):
        result = optimize.minimize(objective, np.log(start), jac=jac, method="BFGS",
                                   options={"gtol": gtol, "maxiter": 2000})
        slope = jac(result.x) if jac is not None else approx_fprime(result.x, objective,
                                                                      centered=True)
    gradient_ok = bool(np.max(np.abs(slope)) < 100 * gtol)
    at_limit = bool(np.any(np.abs(result.x) >= LOG_LIMIT))
    # polish from where BFGS stopped, unless it ran to the limit (flagged below as at a bound)
    if not (result.success or gradient_ok or at_limit):
        # a bounded number of evaluations: on a flat likelihood (a few customers who all
        # bought once) the simplex would otherwise wander for 100,000 of them; near a real
        # maximum, where BFGS only lost precision, a few hundred suffice
        result = optimize.minimize(objective, result.x, method="Nelder-Mead",
                                   options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 20000,
                                            "maxfev": 1000})
    # a parameter running off to 0 or infinity stops at the limit and is reported below
    params = np.exp(np.clip(result.x, -LOG_LIMIT, LOG_LIMIT))
    cov = None
    if errors:
        with np.errstate(all="ignore"):
            cov = _covariance(params, loglik, grad)
    if cov is None:   # no errors asked for (a calibration fit) or a singular Hessian
        cov_frame = np.full((len(params), len(params)), np.nan)
    else:
        cov_frame = cov
    se = np.sqrt(np.clip(np.diag(cov_frame), 0, None))
    labels = list(names)
    problem = fit_problem(labels, params, cov, errors)
    converged = bool(result.success or gradient_ok or at_limit)
    if problem is None and not converged:
        problem = ("not identifiable: the likelihood has no clear maximum (the optimiser "
                   "did not converge)")
    with np.errstate(all="ignore"):
        ll = float(loglik(params))
    return FittedModel(name, pd.Series(params, index=labels), pd.Series(se, index=labels),
                       ll, n, converged,
                       pd.DataFrame(cov_frame, index=labels, columns=labels), problem)


def fit_problem(names: Sequence[str], params: np.ndarray, cov: np.ndarray | None,
                errors: bool = True) -> str | None:
    """Why a fit cannot be read, in words; None when it can.

    A parameter at a bound (below ``BOUND_LOW`` or above ``BOUND_HIGH``), a Hessian that is
    singular or not negative definite, or a log-parameter standard error of 0 or above
    ``MAX_LOG_SE``. Without ``errors`` only the bounds are checked.
    """
    at_bound = [f"{n} = {p:.3g}" for n, p in zip(names, params, strict=True)
                if not (BOUND_LOW <= p <= BOUND_HIGH)]
    if at_bound:
        return ("not identifiable: the fit ran to the edge of the parameter space ("
                + ", ".join(at_bound) + "), so the data cannot pin the model down")
    if not errors:
        return None
    if cov is None or not np.isfinite(cov).all():
        return "not identifiable: the likelihood is flat in some direction (singular Hessian)"
    try:
        eigen = np.linalg.eigvalsh((cov + cov.T) / 2)
    except np.linalg.LinAlgError:
        eigen = np.array([-1.0])
    if (eigen <= 0).any():
        return "not identifiable: the fit is not at a maximum of the likelihood"
    log_se = np.sqrt(np.diag(cov)) / params
    loose = [n for n, v in zip(names, log_se, strict=True) if not (0 < v <= MAX_LOG_SE)]
    if loose:
        return ("not identifiable: the data hardly constrain " + ", ".join(loose)
                + " (standard error of zero or far larger than the estimate)")
    scale = np.sqrt(np.diag(cov))
    if np.linalg.cond(cov / np.outer(scale, scale)) > MAX_CONDITION:
        return ("not identifiable: the Hessian is ill-conditioned, so the data pin down only "
                "a combination of the parameters, not each of them")
    return None


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
    return fit_by_ml("BG/NBD", ("r", "alpha", "a", "b"),
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
    ``_pair_groups(x, T)``) computes the hypergeometric terms once per distinct pair.
    From ``s >= S_COMMON`` on (dropout rates all but equal) it is the limit s -> infinity at
    fixed s / beta (:func:`common_dropout_loglik_terms`), where the hypergeometric form fails."""
    r, alpha, s, beta = params
    if s >= S_COMMON:
        return common_dropout_loglik_terms((r, alpha, s / beta), x, t_x, T)
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


#: shape of the dropout-rate distribution that stands for "one dropout rate for everyone"
#: (coefficient of variation 1%); the Pareto/NBD likelihood switches to its limit there
S_COMMON = 1e4


def _share_dropping(k, c):
    """E[c / (u + c)] for u ~ Gamma(k, 1): c^k U(k, k, c) (Tricomi's U), with the second-order
    expansion c/(k+c) + c k/(k+c)^3 where U over- or underflows (k beyond ~100)."""
    k, c = np.broadcast_arrays(np.asarray(k, float), np.asarray(c, float))
    approx = c / (k + c) + c * k / (k + c) ** 3
    # U is slow far out (an optimiser's wild steps): only where it is accurate and quick
    tame = (k < 100) & (c > 1e-6) & (c < 1e3)
    exact = np.full(k.shape, np.nan)
    with np.errstate(all="ignore"):
        exact[tame] = np.exp(k[tame] * np.log(c[tame])
                             + np.log(special.hyperu(k[tame], k[tame], c[tame])))
    ok = np.isfinite(exact) & (exact > 0) & (exact <= 1)
    return np.where(ok, exact, approx)


def common_dropout_loglik_terms(params, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood of the Pareto/NBD's limit with one dropout rate ``mu``
    for everyone (exponential lifetimes), purchase rates Gamma(r, alpha):
    L = K(T) e^(-mu T) E_T[lambda / (lambda + mu)] + K(t_x) e^(-mu t_x) E_tx[mu / (lambda + mu)]
    with K(t) = Gamma(r+x)/Gamma(r) alpha^r / (alpha+t)^(r+x) and lambda ~ Gamma(r+x, alpha+t).
    """
    r, alpha, mu = params
    k = r + x

    def log_k(t):
        return (special.gammaln(k) - special.gammaln(r) + r * np.log(alpha)
                - k * np.log(alpha + t))

    leave_t = _share_dropping(k, mu * (alpha + T))
    leave_tx = _share_dropping(k, mu * (alpha + t_x))
    with np.errstate(divide="ignore"):
        alive = log_k(T) - mu * T + np.log1p(-leave_t)
        gone = log_k(t_x) - mu * t_x + np.log(leave_tx)
    return np.logaddexp(alive, gone)


def fit_paretonbd_common_dropout(summary: pd.DataFrame, start=(0.5, 10.0, 0.01),
                                 errors: bool = True) -> FittedModel:
    """The Pareto/NBD with one dropout rate for all customers (s -> infinity at fixed
    mu = s / beta), for data that do not identify differences in dropout. Returned as a
    Pareto/NBD with s = ``S_COMMON`` and beta = s / mu (its predictions then are the limit's)
    and a ``constraint`` saying so; s has no standard error."""
    rows, weights = compress(summary, ["frequency", "recency", "T"])
    x, t_x, T = _columns(rows)
    fit = fit_by_ml("Pareto/NBD", ("r", "alpha", "mu"),
                    lambda p: float(weights @ common_dropout_loglik_terms(p, x, t_x, T)), None,
                    np.array(start), len(summary), errors)
    r, alpha, mu = fit.params.to_numpy()
    labels = ["r", "alpha", "s", "beta"]
    # s at twice the switch, so a numerical derivative in log s stays in the limit form
    params = np.array([r, alpha, 2 * S_COMMON, 2 * S_COMMON / mu])
    # beta = S / mu: d beta / d mu = -S / mu^2; s is fixed
    jac = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, -2 * S_COMMON / mu**2]])
    cov3 = fit.cov.to_numpy() if fit.cov is not None else np.full((3, 3), np.nan)
    cov = jac @ cov3 @ jac.T
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    return FittedModel("Pareto/NBD", pd.Series(params, index=labels),
                       pd.Series(se, index=labels), fit.loglik, fit.n, fit.converged,
                       pd.DataFrame(cov, index=labels, columns=labels), fit.problem,
                       "one dropout rate for all customers (the data do not tell customers' "
                       "dropout rates apart)")


def fit_paretonbd(summary: pd.DataFrame, start=(0.5, 10.0, 0.5, 10.0),
                  errors: bool = True) -> FittedModel:
    rows, weights = compress(summary, ["frequency", "recency", "T"])
    x, t_x, T = _columns(rows)
    groups = (_pair_groups(x, t_x), _pair_groups(x, T))
    return fit_by_ml("Pareto/NBD", ("r", "alpha", "s", "beta"),
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
    return fit_by_ml("Gamma-Gamma", ("p", "q", "gamma"),
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


# -- passing a fit between notebooks ----------------------------------------------------------


def model_to_frame(model: FittedModel) -> pd.DataFrame:
    """One row per parameter with its covariance row and the fit's facts (for a hand-off)."""
    cov = (model.cov if model.cov is not None else
           pd.DataFrame(np.nan, index=model.params.index, columns=model.params.index))
    frame = pd.DataFrame({"model": model.name, "parameter": model.params.index,
                          "estimate": model.params.to_numpy(),
                          "std_error": model.std_errors.to_numpy(),
                          "loglik": model.loglik, "n": model.n, "converged": model.converged,
                          "problem": model.problem or "",
                          "constraint": model.constraint or ""})
    for i, name in enumerate(model.params.index):
        frame[f"cov_{i}"] = cov[name].to_numpy()
    return frame


def models_from_frame(frame: pd.DataFrame) -> dict[str, FittedModel]:
    """The fits written by :func:`model_to_frame` (several may be stacked), by model name."""
    out = {}
    for name, rows in frame.groupby("model", sort=False):
        labels = list(rows["parameter"])
        cov = rows[[f"cov_{i}" for i in range(len(labels))]].to_numpy(float)
        first = rows.iloc[0]
        out[str(name)] = FittedModel(
            str(name), pd.Series(rows["estimate"].to_numpy(float), index=labels),
            pd.Series(rows["std_error"].to_numpy(float), index=labels), float(first["loglik"]),
            int(first["n"]), bool(first["converged"]),
            pd.DataFrame(cov, index=labels, columns=labels), first["problem"] or None,
            (first["constraint"] or None) if "constraint" in rows else None)
    return out
