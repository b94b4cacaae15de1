"""Contract-duration models for subscriptions: the shifted-beta-geometric (sBG) and the
beta-discrete-Weibull (BdW), fitted by maximum likelihood to durations in whole periods.

- sBG: Fader and Hardie (2007), "How to project customer retention", Journal of Interactive
  Marketing 21(1). Each customer churns at the end of any period with a fixed probability
  theta; theta varies across customers as Beta(alpha, beta). Survival
  S(t) = B(alpha, beta + t) / B(alpha, beta). Retention rates rise with tenure only because
  the customers who churn easily leave first.
- BdW: Fader, Hardie, Liu, Davin and Steenburgh (2018), "'How to project customer retention'
  revisited: the role of duration dependence". S(t) = B(alpha, beta + t^c) / B(alpha, beta);
  c < 1 means a customer's own churn probability falls with tenure, c > 1 that it rises,
  c = 1 is the sBG. A likelihood-ratio test of c = 1 says whether duration dependence shows.

A duration is the number of periods a customer was observed: churned in period t
(t = 1, 2, ...) or still active after t periods (censored; t may be 0).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis.analyses.clv.btyd import FittedModel, fit_by_ml
from analysis.core.results import Estimate


def _checked(durations, churned, weights=None, entry=None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(durations, float)
    d = np.asarray(churned, bool)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, float)
    e = np.zeros(len(t)) if entry is None else np.asarray(entry, float)
    if not (len(t) == len(d) == len(w) == len(e)):
        raise ValueError("sBG: durations, churned, weights and entry must have the same length")
    if (e < 0).any() or (e > t).any() or (d & (e >= t)).any():
        raise ValueError("sBG: entry must lie between 0 and the duration (before a churn)")
    if len(t) == 0 or w.sum() <= 0:
        raise ValueError("sBG: no customers to fit")
    if (t < 0).any() or (t != np.round(t)).any() or (d & (t < 1)).any():
        raise ValueError("sBG: durations must be whole periods (>= 1 for a churned customer)")
    return t, d, w, e


def log_survival(params, t, c: float = 1.0) -> np.ndarray:
    """log S(t) = log B(alpha, beta + t^c) - log B(alpha, beta)."""
    alpha, beta = params[0], params[1]
    return special.betaln(alpha, beta + np.asarray(t, float) ** c) - special.betaln(alpha, beta)


def survival(model: FittedModel, t) -> np.ndarray:
    """Share of a starting cohort still active after ``t`` periods."""
    return np.exp(log_survival(model.params.to_numpy(), t, _shape(model)))


def _shape(model: FittedModel) -> float:
    return float(model.params["c"]) if "c" in model.params.index else 1.0


def _loglik_terms(params, t, d, c=1.0, entry=None) -> np.ndarray:
    """Log-likelihood per row; with ``entry`` (periods survived before observation began,
    e.g. a snapshot that only lists customers still active a month ago) each row is
    conditioned on surviving to its entry (left truncation)."""
    log_s_now = log_survival(params, t, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s_before = log_survival(params, np.maximum(t - 1, 0), c)
        # P(T = t) = S(t - 1) - S(t), in logs
        log_churn = log_s_before + np.log1p(-np.exp(np.minimum(log_s_now - log_s_before, 0)))
    out = np.where(d, log_churn, log_s_now)
    if entry is not None:
        out = out - log_survival(params, entry, c)
    return out


def fit_sbg(durations, churned, weights=None, start=(1.0, 1.0), entry=None) -> FittedModel:
    """The sBG by maximum likelihood (customers sharing a duration are evaluated once);
    ``entry``: periods survived before each customer came under observation."""
    t, d, w, e = _compressed(*_checked(durations, churned, weights, entry))
    return fit_by_ml("sBG", ("alpha", "beta"),
                     lambda p: float(w @ _loglik_terms(p, t, d, 1.0, e)), None,
                     np.array(start), int(round(w.sum())))


def fit_bdw(durations, churned, weights=None, start=(1.0, 1.0, 1.0), entry=None
            ) -> FittedModel:
    """The beta-discrete-Weibull: the sBG with duration dependence c."""
    t, d, w, e = _compressed(*_checked(durations, churned, weights, entry))
    return fit_by_ml("BdW", ("alpha", "beta", "c"),
                     lambda p: float(w @ _loglik_terms(p[:2], t, d, p[2], e)), None,
                     np.array(start), int(round(w.sum())))


def _compressed(t, d, w, e):
    frame = (pd.DataFrame({"t": t, "d": d, "w": w, "e": e})
             .groupby(["t", "d", "e"], as_index=False)["w"].sum())
    return (frame["t"].to_numpy(float), frame["d"].to_numpy(bool), frame["w"].to_numpy(float),
            frame["e"].to_numpy(float))


def cohort_durations(survivors) -> pd.DataFrame:
    """A cohort's survivor counts (period 0 first) as durations with weights: the customers
    lost in each period, and the survivors of the last period as censored."""
    alive = np.asarray(survivors, float)
    if len(alive) < 2 or (np.diff(alive) > 0).any() or alive[-1] < 0:
        raise ValueError("cohort_durations: survivors must start with the cohort size and "
                         "never rise")
    periods = len(alive) - 1
    lost = -np.diff(alive)
    return pd.DataFrame({"duration": np.r_[np.arange(1, periods + 1), periods],
                         "churned": np.r_[np.ones(periods, bool), False],
                         "customers": np.r_[lost, alive[-1]]})


@dataclasses.dataclass(frozen=True)
class DurationFit:
    """The sBG and, next to it, the BdW with the test of duration dependence; ``chosen`` is
    the BdW where duration dependence shows (likelihood-ratio p < 0.05), else the sBG."""

    sbg: FittedModel
    bdw: FittedModel | None
    lr_p: float | None
    chosen: FittedModel

    @property
    def duration_dependence(self) -> bool:
        return self.chosen is self.bdw

    def summary(self) -> pd.DataFrame:
        rows = []
        for model in (self.sbg, self.bdw):
            if model is None:
                continue
            for name in model.params.index:
                low, high = model.interval(name)
                rows.append({"model": model.name, "parameter": name,
                             "estimate": float(model.params[name]), "low": low, "high": high,
                             "log-likelihood": model.loglik,
                             "used": "yes" if model is self.chosen else ""})
        return pd.DataFrame(rows)


def fit_durations(durations, churned, weights=None, entry=None) -> DurationFit:
    """Fit the sBG and the BdW; keep the BdW only where it fits significantly better."""
    sbg = fit_sbg(durations, churned, weights, entry=entry)
    try:
        bdw = fit_bdw(durations, churned, weights,
                      start=(float(sbg.params["alpha"]), float(sbg.params["beta"]), 1.0),
                      entry=entry)
    except (ValueError, FloatingPointError):
        bdw = None
    lr_p = None
    chosen = sbg
    if bdw is not None and np.isfinite(bdw.loglik):
        lr = max(2 * (bdw.loglik - sbg.loglik), 0.0)
        lr_p = float(stats.chi2.sf(lr, 1))
        if lr_p < 0.05 and bdw.identifiable:
            chosen = bdw
    return DurationFit(sbg, bdw, lr_p, chosen)


# -- projections with parameter uncertainty --------------------------------------------------


def parameter_draws(model: FittedModel, draws: int = 1000, seed: int = 0) -> np.ndarray:
    """Parameter sets drawn from the fit's sampling distribution (normal on the log scale);
    the estimate alone when the fit has no usable covariance."""
    centre = np.log(model.params.to_numpy())
    cov = model.log_cov
    if cov is None:
        return np.exp(centre)[None, :]
    rng = np.random.default_rng(seed)
    return np.exp(rng.multivariate_normal(centre, cov, size=draws, method="eigh"))


def residual_periods(params, survived, horizon: int = 600, discount: float = 0.0,
                     c: float = 1.0) -> np.ndarray:
    """Expected further periods paid by a customer who has survived ``survived`` periods,
    each discounted by (1 + discount) per period: sum over k >= 1 of
    S(survived + k) / S(survived) / (1 + discount)^k, up to ``horizon`` periods ahead."""
    n = np.asarray(survived, float)
    k = np.arange(1, horizon + 1)
    unique, inverse = np.unique(n, return_inverse=True)
    base = log_survival(params, unique, c)
    ahead = log_survival(params, unique[:, None] + k[None, :], c) - base[:, None]
    value = (np.exp(ahead) / (1 + discount) ** k[None, :]).sum(axis=1)
    return value[inverse]


def draw_values(model: FittedModel, compute, draws: int, seed: int) -> np.ndarray | None:
    """``compute(params, c)`` at parameter sets drawn from the fit's sampling distribution;
    None when the fit gives no usable covariance (or is not identifiable)."""
    if not model.identifiable:
        return None
    samples = parameter_draws(model, draws, seed)
    if len(samples) < 2:
        return None
    names = list(model.params.index)
    return np.array([compute(p, p[names.index("c")] if "c" in names else 1.0) for p in samples])


def _with_draws(model: FittedModel, compute, draws: int, seed: int, n: int,
                method: str, unit: str) -> Estimate:
    value = float(compute(model.params.to_numpy(), _shape(model)))
    results = draw_values(model, compute, draws, seed)
    if results is None:
        why = model.problem or "no interval (singular Hessian)"
        return Estimate(value, None, None, n, f"{method}; {why}", unit=unit)
    low, high = np.percentile(results, [2.5, 97.5])
    return Estimate(value, float(min(low, value)), float(max(high, value)), n,
                    f"{method}; 95% interval from {len(results):,} parameter draws "
                    "(parametric bootstrap on the log scale)", unit=unit)


def projected_retention(model: FittedModel, survived, periods: int, draws: int = 1000,
                        seed: int = 0) -> Estimate:
    """Share of today's active customers (each with their own tenure ``survived``) still
    active ``periods`` periods from now, with parameter uncertainty."""
    tenure = np.asarray(survived, float)

    def compute(p, c):
        return float(np.mean(np.exp(log_survival(p, tenure + periods, c)
                                    - log_survival(p, tenure, c))))

    return _with_draws(model, compute, draws, seed, len(tenure),
                       f"{model.name}: active customers still active after {periods} periods",
                       "share")


def residual_value(model: FittedModel, survived, charge, discount: float = 0.0,
                   draws: int = 1000, seed: int = 0, horizon: int = 600) -> Estimate:
    """Expected residual lifetime value of today's active customers, in total: each
    customer's recurring charge times their expected further (discounted) periods."""
    tenure = np.asarray(survived, float)
    amount = np.asarray(charge, float)

    def compute(p, c):
        return float(amount @ residual_periods(p, tenure, horizon, discount, c))

    return _with_draws(model, compute, min(draws, 300), seed, len(tenure),
                       f"{model.name}: recurring charge x expected further periods, "
                       f"discounted {discount:.2%} a period", "currency")


def fitted_table(model: FittedModel, periods: int, observed=None) -> pd.DataFrame:
    """Survival and retention rate by period: fitted, and observed where given."""
    t = np.arange(0, periods + 1)
    s = survival(model, t)
    out = pd.DataFrame({"period": t, "survival": s,
                        "retention_rate": np.r_[np.nan, s[1:] / s[:-1]]})
    if observed is not None:
        observed = np.asarray(observed, float)
        out["observed_survival"] = np.r_[observed, np.full(max(0, len(t) - len(observed)),
                                                           np.nan)][:len(t)]
    return out


def mean_lifetime(model: FittedModel) -> float:
    """Expected periods a new customer stays (sum of S(t), t >= 0), capped at 600 periods."""
    return float(np.exp(log_survival(model.params.to_numpy(), np.arange(0, 600),
                                     _shape(model))).sum())


def relative_difference(published: float, reproduced: float) -> float:
    return abs(reproduced - published) / abs(published) if published else math.inf
