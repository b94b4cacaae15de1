"""Model-based dropout for the survival claims C3-C5 of a shop.

A shop never sees a customer leave. Counting a customer as lost once they have not bought
for a fixed number of days puts the "event" at the last purchase plus the window, and a slow
buyer's last purchase lies long before their real departure: the rule makes slow buyers look
like early leavers and invents a frequency effect (on the demo company a hazard ratio of
0.755 per doubling of the purchase rate, where the truth is 1).

Instead the dropout time is imputed from the Pareto/NBD, which models purchasing and
leaving separately. Given a customer's purchases (x repeat purchases, the last at t_x,
observed until T) the posterior of their dropout time tau is

    P(alive at T)       proportional to (alpha + T)^-(r+x) (beta_i + T)^-s
    density at t_x < tau < T  proportional to (alpha + tau)^-(r+x) s (beta_i + tau)^-(s+1)

(integrating the individual purchase and dropout rates over their gamma distributions).
Each customer's dropout rate is scaled by the Cox model's linear predictor
(beta_i = beta exp(-eta_i)), so that the imputation knows what the Cox model estimates;
the two are iterated to a fixed point. Each round closes about two thirds of the distance to
it (measured on 120 simulated companies): four rounds leave about 1% of the way, two rounds left
a tenth, which pulled the estimates towards the start (no effects). On the demo setting the
referral ratio (truth 0.60) came out 0.66 after two rounds and 0.62 after four, and the
pulled-in estimates varied less than their pooled standard errors say (the promotion ratio's
intervals covered 98% in the simulation study; its spread over the standard error rose from
0.70 to 0.92-1.12 with four rounds). Several imputations are drawn, a Cox model
is fitted to each and the results are pooled with Rubin's rules, so the intervals include the
uncertainty about when (and whether) each customer left. On the demo company this recovers
the hazard ratios that a Cox model fitted to the true dropout times gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from analysis.analyses.churn.rates import _require
from analysis.analyses.churn.survival import (
    COX_TERMS,
    CoxResult,
    cox_design,
    dropped_terms,
    ph_check,
)
from analysis.analyses.clv.btyd import FittedModel
from analysis.core.multitest import holm
from analysis.engine.rfm import rfm_from_days

TIES = "breslow"     # whole-day times; Breslow is several times faster than Efron here
GRID = 160           # points of each customer's posterior grid
CHUNK = 40_000       # customers per block (memory: CHUNK x GRID floats)
DEFINITION = ("dropout imputed from the Pareto/NBD posterior (congenial to the Cox model), "
              "pooled over imputations")


def dropout_inputs(days: pd.DataFrame, frame: pd.DataFrame, end) -> pd.DataFrame:
    """Per row of a landmark frame: repeat purchase days ``x``, days from the first purchase
    day to the last (``t_x``) and to the last day observed (``T``). ``days``: the purchase
    days (:func:`analysis.engine.rfm.purchase_days`)."""
    _require(frame, ["customer_id"], "dropout_inputs", "pass a landmark frame")
    summary = rfm_from_days(days, pd.Timestamp(end), time_unit="D")
    rows = summary.reindex(frame["customer_id"].to_numpy())
    if rows["frequency"].isna().any():
        raise ValueError("dropout_inputs: some landmark customers have no purchase before the "
                         "end; build both from the same transactions and end")
    return pd.DataFrame({"x": rows["frequency"].to_numpy(float),
                         "t_x": rows["recency"].to_numpy(float),
                         "T": rows["T"].to_numpy(float)}, index=frame.index)


def _daily(model: FittedModel) -> tuple[float, float, float, float]:
    if model.name != "Pareto/NBD":
        raise ValueError(f"model-based dropout needs a Pareto/NBD fit, not {model.name}")
    r, alpha, s, beta = model.params.to_numpy()
    return r, alpha * 7.0, s, beta * 7.0   # fitted in weeks; rates per day


def sample_dropouts(model: FittedModel, inputs: pd.DataFrame, eta: np.ndarray, draws: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(P(dropped out by T), dropout days since the first purchase: rows customers, columns
    draws, inf where alive at T) under the Pareto/NBD with dropout rates scaled by
    exp(eta)."""
    r, alpha, s, beta = _daily(model)
    x, t_x, T = (inputs[c].to_numpy(float) for c in ("x", "t_x", "T"))
    n = len(x)
    p_dead = np.zeros(n)
    tau = np.full((n, draws), np.inf)
    u = np.linspace(0.0, 1.0, GRID)[None, :]
    for lo in range(0, n, CHUNK):
        sl = slice(lo, min(lo + CHUNK, n))
        xs, txs, Ts = x[sl], t_x[sl], T[sl]
        beta_i = beta * np.exp(-eta[sl])
        width = np.maximum(Ts - txs, 0.0)
        grid = txs[:, None] + width[:, None] * u
        log_density = (-(r + xs)[:, None] * np.log(alpha + grid)
                       - (s + 1) * np.log(beta_i[:, None] + grid))
        top = log_density.max(axis=1, keepdims=True)
        weights = np.exp(log_density - top)
        # trapezoid cumulative mass over the grid
        steps = (weights[:, 1:] + weights[:, :-1]) / 2 * (width / (GRID - 1))[:, None]
        cumulative = np.concatenate([np.zeros((len(xs), 1)), np.cumsum(steps, axis=1)], axis=1)
        mass = cumulative[:, -1]
        with np.errstate(divide="ignore"):
            log_dead = np.log(s) + np.log(mass) + top[:, 0]
        # (the factor beta_i^s of both terms cancels)
        log_alive = -(r + xs) * np.log(alpha + Ts) - s * np.log(beta_i + Ts)
        with np.errstate(over="ignore", invalid="ignore"):
            prob = np.where(width > 0, 1 / (1 + np.exp(log_alive - log_dead)), 0.0)
        prob = np.nan_to_num(prob, nan=0.0)
        p_dead[sl] = prob
        dead = rng.random((len(xs), draws)) < prob[:, None]
        target = rng.random((len(xs), draws)) * mass[:, None]
        position = np.empty((len(xs), draws))
        for j in range(draws):
            index = (cumulative < target[:, j:j + 1]).sum(axis=1)
            index = np.clip(index, 1, GRID - 1)
            left, right = cumulative[np.arange(len(xs)), index - 1], \
                cumulative[np.arange(len(xs)), index]
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(right > left, (target[:, j] - left) / (right - left), 0.5)
            position[:, j] = (index - 1 + share) / (GRID - 1)
        tau[sl] = np.where(dead, txs[:, None] + width[:, None] * position, np.inf)
    return p_dead, tau


def imputed_frame(frame: pd.DataFrame, inputs: pd.DataFrame, tau: np.ndarray,
                  landmark_days: int) -> pd.DataFrame:
    """The landmark frame with one imputed dropout: customers gone before their landmark are
    left out; others churn at tau or are censored at the end of the data."""
    observed_until = inputs["T"].to_numpy(float) + 1.0
    at_risk = tau > landmark_days
    out = frame[at_risk].copy()
    stop = np.minimum(tau[at_risk], observed_until[at_risk])
    out["churned"] = (tau[at_risk] < observed_until[at_risk]).astype(int)
    out["duration_days"] = np.clip(np.round(stop - landmark_days), 1, None)
    return out


@dataclasses.dataclass(frozen=True)
class _Fit:
    terms: list[str]
    params: np.ndarray
    variance: np.ndarray
    ph: np.ndarray
    n: int
    events: int
    loglik: float
    change: np.ndarray | None = None      # split fits: log HR after minus before the split
    change_var: np.ndarray | None = None


def _fit_one(frame: pd.DataFrame, extra: Sequence[str], terms: list[str] | None = None,
             split_days: float | None = None, start: np.ndarray | None = None) -> _Fit:
    """One Cox fit of one imputation (Breslow ties: whole-day times, and several fits per
    model; started from the previous imputation's estimates)."""
    design = cox_design(frame, extra)
    keep = design.notna().all(axis=1)
    design, data = design[keep], frame[keep]
    if terms is None:
        terms = list(design.columns[design.std() > 0])
    design = design[terms]
    time = data["duration_days"].to_numpy(float)
    status = data["churned"].to_numpy(int)
    if int(status.sum()) < 20:
        raise ValueError(f"only {int(status.sum())} dropouts among the customers at risk; "
                         "need 20+")
    if split_days is None:
        result = PHReg(time, design.to_numpy(), status=status, ties=TIES).fit(
            start_params=start)
        ph = ph_check(result, time, status)
        return _Fit(terms, result.params, np.diag(result.cov_params()), ph, len(data),
                    int(status.sum()), float(result.llf))
    # a time-varying effect: one hazard ratio before ``split_days``, one after
    early = np.minimum(time, split_days)
    late = time > split_days
    x = design.to_numpy()
    exog = np.vstack([np.hstack([x, np.zeros_like(x)]), np.hstack([np.zeros_like(x[late]),
                                                                    x[late]])])
    result = PHReg(np.r_[early, time[late]], exog,
                   status=np.r_[np.where(late, 0, status), status[late]],
                   entry=np.r_[np.zeros(len(time)), np.full(int(late.sum()), split_days)],
                   ties=TIES).fit(start_params=None if start is None else np.r_[start, start])
    names = [f"{t}@early" for t in terms] + [f"{t}@late" for t in terms]
    cov = result.cov_params()
    k = len(terms)
    change_var = (np.diag(cov)[:k] + np.diag(cov)[k:] - 2 * np.diag(cov[:k, k:]))
    return _Fit(names, result.params, np.diag(cov), np.full(len(names), np.nan), len(data),
                int(status.sum()), float(result.llf), result.params[k:] - result.params[:k],
                change_var)


def _rubin(q: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled estimate and standard error over imputations (rows)."""
    m = len(q)
    between = q.var(axis=0, ddof=1) if m > 1 else np.zeros(q.shape[1])
    return q.mean(axis=0), np.sqrt(u.mean(axis=0) + (1 + 1 / m) * between)


def _pool(fits: list[_Fit]) -> pd.DataFrame:
    """Rubin's rules: pooled log hazard ratios with within + between imputation variance."""
    centre, se = _rubin(np.array([f.params for f in fits]), np.array([f.variance for f in fits]))
    z = stats.norm.ppf(0.975)
    p = 2 * stats.norm.sf(np.abs(centre / se))
    ph = np.nanmedian(np.array([f.ph for f in fits]), axis=0) if not np.isnan(
        np.array([f.ph for f in fits])).all() else np.full(len(centre), np.nan)
    return pd.DataFrame({"term": fits[0].terms, "log_hr": centre, "se": se,
                         "hazard_ratio": np.exp(centre), "low": np.exp(centre - z * se),
                         "high": np.exp(centre + z * se), "p": p, "ph_p": ph})


def fit_cox_model_dropout(frame: pd.DataFrame, inputs: pd.DataFrame, model: FittedModel,
                          extra: Sequence[str] = (), landmark_days: int = 90,
                          rounds: int = 4, imputations: int = 4, seed: int = 0,
                          split_days: float | None = 365.0, start_eta: np.ndarray | None = None
                          ) -> tuple[CoxResult, np.ndarray, np.ndarray]:
    """Cox model of the imputed dropout times (see the module docstring), pooled over
    ``imputations`` in the last of ``rounds`` rounds (two imputations in the earlier rounds,
    which only set the imputation's covariate effects; each Cox fit starts from the previous
    one's estimates).

    The proportional-hazards check (``ph_p``) asks whether a term's hazard ratio in the first
    ``split_days`` after the landmark differs from the one after (a model with a time-varying
    effect, fitted to the same imputations; pooled Wald test). The table gives both
    (``first_year_*``, ``later_*``); where the check fails, a claim reads the first-year ratio
    (:meth:`CoxResult.claim_ratio`). ``split_days=None`` skips the check (``ph_p`` then comes
    from the Schoenfeld residuals). Returns the result, the final linear predictor and the
    final imputations of the dropout days (rows of ``frame``, one column per imputation).
    """
    rng = np.random.default_rng(seed)
    design = cox_design(frame, extra)
    filled = design.fillna(design.mean()).fillna(0.0)
    eta = np.zeros(len(frame)) if start_eta is None else np.asarray(start_eta, float)
    fits: list[_Fit] = []
    terms = None
    for round_ in range(rounds):
        draws = imputations if round_ == rounds - 1 else 2
        _p_dead, tau = sample_dropouts(model, inputs, eta, draws, rng)
        previous = fits[-1].params if fits else None
        fits = []
        for j in range(draws):
            start = fits[-1].params if fits else previous
            fits.append(_fit_one(imputed_frame(frame, inputs, tau[:, j], landmark_days), extra,
                                 terms, start=start))
            terms = fits[0].terms
        pooled = _pool(fits)
        eta = filled[terms].to_numpy() @ pooled["log_hr"].to_numpy()
        eta = eta - eta.mean()
    table = _pool(fits)
    table["p_holm"] = holm(table["p"].to_numpy())[1]
    table.insert(1, "meaning", [COX_TERMS.get(t, t.replace("_", " ")) for t in table["term"]])
    if split_days is not None:
        # the check of proportional hazards: does the hazard ratio after ``split_days``
        # differ from the one before? (a Wald test pooled over the imputations)
        splits = [_fit_one(imputed_frame(frame, inputs, tau[:, j], landmark_days), extra,
                           terms, split_days, fits[j].params) for j in range(tau.shape[1])]
        change, change_se = _rubin(np.array([f.change for f in splits]),
                                   np.array([f.change_var for f in splits]))
        table["ph_p"] = 2 * stats.norm.sf(np.abs(change / change_se))
        split = _pool(splits)
        for name, suffix in (("first_year", "@early"), ("later", "@late")):
            part = split[split["term"].str.endswith(suffix)]
            for column in ("hazard_ratio", "low", "high", "p"):
                table[f"{name}_{column}"] = part[column].to_numpy()
    result = CoxResult(table.drop(columns=["log_hr", "se"]), int(np.mean([f.n for f in fits])),
                       int(np.mean([f.events for f in fits])),
                       float(np.mean([f.loglik for f in fits])), " + ".join(terms),
                       definition=DEFINITION, imputations=len(fits), split_days=split_days,
                       dropped=dropped_terms(frame, extra, list(terms)))
    return result, eta, tau
