"""The tail of the value distribution: a Pareto tail fitted by the Clauset-Shalizi-Newman
method (SIAM Review 51, 2009).

- the threshold ``xmin`` minimises the Kolmogorov-Smirnov distance between the data above
  it and the fitted power law;
- the index is the continuous maximum-likelihood estimate above ``xmin``;
- goodness of fit: a semi-parametric bootstrap p-value (synthetic data sets drawn from the
  fitted tail and the empirical body, each refitted from scratch); p < 0.1 rules the
  power law out;
- a Vuong likelihood-ratio test against a lognormal truncated at the same ``xmin``.

The index reported is the Pareto (survival) index a in P(X > x) ~ x^-a, i.e. CSN's
alpha minus one. An exact 80/20 rule corresponds to a = log 5 / log 4 = 1.161.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from analysis.core.results import Estimate

MIN_TAIL = 50
# Pareto (survival) index for which the top 20% hold exactly 80%: 0.2 ** (1 - 1/a) = 0.8.
EXACT_8020_INDEX = math.log(5) / math.log(4)


@dataclasses.dataclass(frozen=True)
class TailFit:
    xmin: float | None
    index: Estimate
    n_tail: int
    n: int
    ks: float | None
    gof_p: float | None
    gof_replicates: int
    lognormal_lr: float | None
    lognormal_p: float | None
    preferred: str
    reason: str | None = None

    @property
    def exact_8020_index(self) -> float:
        return EXACT_8020_INDEX

    def verdict_text(self) -> str:
        if self.xmin is None:
            return f"No Pareto tail could be fitted: {self.reason}."
        i = self.index
        against = ("consistent with" if i.low <= EXACT_8020_INDEX <= i.high else
                   "more concentrated than" if i.high < EXACT_8020_INDEX else
                   "less concentrated than")
        fit = ("the power law is ruled out (p < 0.1)" if self.gof_p is not None and self.gof_p < 0.1
               else "a power law is plausible")
        return (f"Above {self.xmin:,.0f} ({self.n_tail:,} of {self.n:,} customers) the tail index "
                f"is {i.value:.2f} [{i.low:.2f}, {i.high:.2f}], {against} an exact 80/20 "
                f"({EXACT_8020_INDEX:.3f}); {fit}; versus a lognormal the data prefer: "
                f"{self.preferred}.")

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([
            {"statistic": "tail threshold xmin", "value": self.xmin},
            {"statistic": "customers in the tail", "value": self.n_tail},
            {"statistic": "Pareto index (MLE)", "value": self.index.value},
            {"statistic": "index 95% interval",
             "value": None if self.index.low is None else
             f"{self.index.low:.3f} to {self.index.high:.3f}"},
            {"statistic": "index an exact 80/20 needs", "value": EXACT_8020_INDEX},
            {"statistic": f"goodness of fit p ({self.gof_replicates} bootstrap replicates)",
             "value": self.gof_p},
            {"statistic": "log-likelihood ratio vs lognormal (>0 favours Pareto)",
             "value": self.lognormal_lr},
            {"statistic": "Vuong p-value", "value": self.lognormal_p},
            {"statistic": "preferred", "value": self.preferred},
        ])


def _fit_at(log_tail: np.ndarray, log_sum: float, log_xmin: float,
            ranks: np.ndarray) -> tuple[float, float]:
    """(survival index a, KS distance) of a power law fitted to the sorted tail >= xmin,
    given its logs, their sum and ``ranks`` = 1..n as floats."""
    n = len(log_tail)
    a = n / (log_sum - n * log_xmin)
    # gap = empirical CDF (rank / n) - fitted CDF (1 - exp(-a log(x / xmin))), in place
    gap = np.subtract(log_tail, log_xmin)
    gap *= -a
    np.exp(gap, out=gap)
    gap -= 1.0
    gap += ranks / n
    return a, max(float(gap.max()), 1 / n - float(gap.min()))


def choose_xmin(values: np.ndarray, candidates: int = 100,
                min_tail: int = MIN_TAIL) -> tuple[float, float, float, int] | None:
    """(xmin, index, KS, n_tail) minimising the KS distance, or None if the data are too few."""
    x = np.sort(values[values > 0])
    if len(x) < min_tail:
        return None
    grid = np.unique(np.quantile(x[: len(x) - min_tail + 1], np.linspace(0, 1, candidates)))
    logs = np.log(x)
    suffix_sums = np.cumsum(logs[::-1])[::-1]   # sum of logs from each position to the end
    ranks = np.arange(1.0, len(x) + 1)
    best = None
    for xmin in grid:
        first = int(np.searchsorted(x, xmin))
        n_tail = len(x) - first
        if n_tail < min_tail or x[-1] == xmin:
            continue
        a, ks = _fit_at(logs[first:], float(suffix_sums[first]), math.log(xmin),
                        ranks[:n_tail])
        if best is None or ks < best[2]:
            best = (float(xmin), float(a), float(ks), n_tail)
    return best


def _lognormal_loglik(tail: np.ndarray, xmin: float) -> np.ndarray:
    """Pointwise log-likelihood of a lognormal truncated at xmin, fitted by ML."""
    logs = np.log(tail)

    def pointwise(theta):
        mu, sigma = theta[0], math.exp(theta[1])
        z = (logs - mu) / sigma
        tail_mass = special.log_ndtr(-(math.log(xmin) - mu) / sigma)
        return -0.5 * z**2 - math.log(sigma * math.sqrt(2 * math.pi)) - logs - tail_mass

    start = np.array([logs.mean(), math.log(max(logs.std(), 1e-3))])
    result = optimize.minimize(lambda th: -pointwise(th).sum(), start, method="Nelder-Mead",
                               options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 2000})
    return pointwise(result.x)


def vuong_vs_lognormal(tail: np.ndarray, xmin: float, index: float) -> tuple[float, float]:
    """(log-likelihood ratio Pareto - lognormal, two-sided Vuong p-value)."""
    alpha = index + 1
    pareto = math.log(alpha - 1) - math.log(xmin) - alpha * np.log(tail / xmin)
    diff = pareto - _lognormal_loglik(tail, xmin)
    ratio = float(diff.sum())
    sd = diff.std(ddof=1)
    if sd == 0:
        return ratio, 1.0
    z = ratio / (sd * math.sqrt(len(tail)))
    return ratio, float(2 * stats.norm.sf(abs(z)))


def gof_pvalue(values: np.ndarray, xmin: float, index: float, ks: float, replicates: int,
               seed: int, candidates: int) -> float:
    """Share of synthetic data sets (fitted tail + resampled body) fitting worse than ours."""
    rng = np.random.default_rng(seed)
    x = values[values > 0]
    body = x[x < xmin]
    p_tail = (x >= xmin).mean()
    worse = 0
    for _ in range(replicates):
        n_tail = rng.binomial(len(x), p_tail)
        tail = xmin * rng.random(n_tail) ** (-1 / index)
        rest = rng.choice(body, len(x) - n_tail) if len(body) else np.empty(0)
        refit = choose_xmin(np.concatenate([tail, rest]), candidates)
        if refit is None or refit[2] >= ks:
            worse += 1
    return worse / replicates


def fit_tail(values, gof_replicates: int = 100, candidates: int = 100, seed: int = 0,
             level: float = 0.95) -> TailFit:
    """Fit a Pareto tail to positive customer values (revenue) by the CSN method."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    chosen = choose_xmin(x, candidates)
    if chosen is None:
        reason = (f"only {len(x)} customers with a positive value; need at least {MIN_TAIL}"
                  if len(x) < MIN_TAIL else
                  f"the {len(x):,} customers' values take only {len(np.unique(x)):,} distinct "
                  f"value(s), too few to fit a tail of at least {MIN_TAIL} customers")
        return TailFit(None, Estimate(None, n=len(x), method="not fitted"), 0, len(x), None,
                       None, 0, None, None, "not tested", reason)
    xmin, index, ks, n_tail = chosen
    z = stats.norm.ppf(0.5 + level / 2)
    se = index / math.sqrt(n_tail)
    estimate = Estimate(index, index - z * se, index + z * se, n_tail,
                        "continuous MLE above the KS-optimal xmin (Clauset-Shalizi-Newman); "
                        "Wald interval, se = index / sqrt(n_tail)", level, "index")
    tail = np.sort(x[x >= xmin])
    ratio, p = vuong_vs_lognormal(tail, xmin, index)
    preferred = ("Pareto" if ratio > 0 and p < 0.1 else "lognormal" if ratio < 0 and p < 0.1
                 else "neither (test inconclusive)")
    gof = (gof_pvalue(x, xmin, index, ks, gof_replicates, seed, candidates)
           if gof_replicates else None)
    return TailFit(xmin, estimate, n_tail, len(x), ks, gof, gof_replicates, ratio, p, preferred)
