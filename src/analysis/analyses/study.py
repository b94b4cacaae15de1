"""The simulation study of the claims (issue 21, item 9): do the 95% intervals of C1-C12
cover the truth 95% of the time, and do the verdicts match the truth?

One *company* is a demo company (:mod:`analysis.data.demo`) of a few thousand customers
with its own seed, under one of a few parameter *settings* (:data:`SETTINGS`: the demo's
own parameters, no behavioural effects at all, stronger effects and more concentration).
Each company is written to files and opened with :func:`~analysis.engine.context.open_period`
like any company; the claims are computed by the entry points the notebooks call
(:func:`run_claims`), without notebooks and without the report.

The truth of a claim's quantity (:func:`truths`):

- **estimand** (the primary truth): the superpopulation value of what the estimator
  estimates, taken as the point estimate of the same entry point on one very large company
  of the same setting (:data:`TRUTH_CUSTOMERS` customers). Every claim's quantity here is a
  smooth functional of the customer distribution (a top share, a mean, a regression or Cox
  coefficient, a risk ratio, a correlation), so its value on a very large company is its
  limit; the difference between the small companies' mean estimate and it is finite-sample
  bias, which counts against coverage.
- **structural** (where the generator fixes it directly): C3 is the generator's hazard
  ratio for referral (0.6); C5's breadth part its hazard ratio per category, C5's frequency
  part 1 (purchase rate has no effect on dropout in the generator); C4 the hazard ratio of
  0.5 more promotion propensity (the estimator's regressor is half of early spend on
  promotion, a noisy reading of propensity). These are *conditional* on every latent
  covariate; the Cox models adjust for observed early behaviour only, so the estimand
  differs (non-collapsibility, a noisy regressor, imputed dropout): reported as bias.
- **realised** for C11: the share of the company's own customers alive at the period end
  (first purchase before it, latent dropout after it) whose latent dropout falls within the
  next twelve months (:func:`analysis.data.demo.true_churn`). The model's interval is a
  prediction interval for exactly that share.

A claim in several parts (C5: frequency and breadth)
is covered part by part. The true verdict applies the claim's rule to the true value(s)
(:func:`true_verdict`): the verdict an infinitely large company would get.

Adapters (:data:`ADAPTERS`) turn a claim's result into its quantities; they are small and
separate so the study can be re-run when an estimator changes its result's shape.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.analyses import churn as churn_section
from analysis.analyses import concentration as conc
from analysis.analyses import satisfaction as sat
from analysis.analyses.claims import CLAIM_IDS, claim_rules
from analysis.core.results import ClaimResult, Estimate, Verdict
from analysis.core.verdicts import (
    ClaimRule,
    Scale,
    Z,
    adjust_for_family,
    judge_all,
    judgement_of,
)
from analysis.data import demo
from analysis.engine.context import Context, open_period

#: customers of one simulated company (small enough for 200+ companies in ~30 minutes)
COMPANY_CUSTOMERS = 2000
#: customers of the company whose point estimates stand for the superpopulation truth
TRUTH_CUSTOMERS = 100_000
#: seeds of the truth companies are far from the study's seeds (1, 2, ...)
TRUTH_SEED = 900_000_001

#: parameter settings (overrides of :func:`analysis.data.demo.default_truth`)
SETTINGS: dict[str, dict[str, Any]] = {
    "demo": {},
    "null": {   # nothing the claims C3-C5, C7-C10, C12 look for is in the data; customers
        # still differ in loyalty as much as in the demo (sd 0.5 of the log hazard), for
        # reasons no column records
        "dropout": {"frailty_sd": 0.5, "log_hr": {"satisfaction_per_point": 0.0, "referral": 0.0,
                               "promo_propensity": 0.0, "breadth_per_category": 0.0,
                               "log2_response_hours_over_24": 0.0, "never_contacted": 0.0}},
        "spend": {"log_spend_per_satisfaction_point": 0.0},
        "service": {"complaint_log_rate_per_satisfaction_point": 0.0,
                    "referral_log_rate_per_satisfaction_point": 0.0},
    },
    "strong": {   # every effect twice as large (log scale), purchase rates more unequal
        "purchase_rate": {"gamma_shape": 0.4},
        "dropout": {"log_hr": {"satisfaction_per_point": -0.60, "referral": math.log(0.36),
                               "promo_propensity": 2.0, "breadth_per_category": -0.30,
                               "log2_response_hours_over_24": 0.40,
                               "never_contacted": math.log(1.5625)}},
        "spend": {"log_spend_per_satisfaction_point": 0.30},
        "service": {"complaint_log_rate_per_satisfaction_point": -1.2,
                    "referral_log_rate_per_satisfaction_point": 1.6},
    },
}

#: parameters of the sections, as the notebooks' defaults
WINDOW_MONTHS = 12
REPLICATES = 1000
REPURCHASE_MONTHS = 6
LANDMARK_DAYS = 90
HORIZON = 3

#: a fixed as-of date long after the simulated data end (2026-10), so the study does not
#: depend on the day it runs; the generator lets a complaint opened near the end be resolved
#: weeks later, which an as-of date of today would reject as a future date
AS_OF = """[periods]
as_of = 2031-01-01
"""


# -- one company ---------------------------------------------------------------------------


@dataclasses.dataclass
class Company:
    """A simulated company opened like any company, with its truth and latent variables."""

    setting: str
    seed: int
    ctx: Context
    truth: dict[str, Any]
    latent: pd.DataFrame


def open_company(folder: Path, setting: str, seed: int,
                 n_customers: int = COMPANY_CUSTOMERS) -> Company:
    """Write the company's files and config into ``folder`` and open its last period."""
    data = demo.write(folder / "data", n_customers=n_customers, seed=seed,
                      overrides=SETTINGS[setting])
    config = folder / "company.toml"
    config.write_text(demo.config_text(data, "simulated", seed, extra=AS_OF))
    ctx = open_period(config, None, cache_dir=folder / "cache")
    truth, latent = demo.read_truth(data)
    return Company(setting, seed, ctx, truth, latent)


def run_claims(ctx: Context, seed: int, replicates: int = REPLICATES) -> dict[str, ClaimResult]:
    """Every claim C1-C12 of a shop by the entry points the notebooks 02, 03 and 04 call
    (with their default parameters; the concentration section's tail test and window
    comparison are left out, they answer no claim)."""
    start, end = ctx.window(WINDOW_MONTHS)
    features = ctx.features(start, end)
    previous = ctx.features(start - pd.DateOffset(months=WINDOW_MONTHS), start)
    concentration = conc.concentration_report(
        features, previous, {WINDOW_MONTHS: features}, WINDOW_MONTHS, replicates, 0, seed,
        rules=claim_rules(ctx.settings))
    satisfaction = sat.satisfaction_report(ctx, WINDOW_MONTHS, REPURCHASE_MONTHS)
    churn = churn_section.churn_report(ctx, LANDMARK_DAYS, HORIZON, None, seed)
    found = {c.claim_id: c for c in (*concentration.claims, *satisfaction.claims,
                                     *churn.claims)}
    return {k: found[k] for k in CLAIM_IDS if k in found}


# -- adapters: a claim's result -> its quantities (name -> estimate) -------------------------


def _whole(result: ClaimResult) -> dict[str, Estimate]:
    return {result.claim_id: Estimate(result.estimate, result.low, result.high, result.n,
                                      result.method)}


def _c5(result: ClaimResult) -> dict[str, Estimate]:
    d = result.details or {}
    out = {}
    for part in ("frequency", "breadth"):
        if f"{part}_hr" in d:
            first_year = d.get(f"{part}_ph_holds") is False
            out[f"C5 {part}"] = Estimate(d[f"{part}_hr"], d.get(f"{part}_low"),
                                         d.get(f"{part}_high"), result.n,
                                         FIRST_YEAR if first_year else result.method)
    return out or _whole(result)


FIRST_YEAR = "Cox hazard ratio in the first year after the landmark"


def first_year(e: Estimate) -> bool:
    """Whether a hazard-ratio claim read the first-year ratio (proportional hazards failed)
    rather than the whole-follow-up ratio: two different quantities."""
    return "in the first" in (e.method or "")


#: claim -> adapter; claims not listed have one quantity, the claim's estimate
ADAPTERS: dict[str, Callable[[ClaimResult], dict[str, Estimate]]] = {"C5": _c5}


def quantities(result: ClaimResult) -> dict[str, Estimate]:
    """The quantities of one claim's result (empty when it is not testable)."""
    if result.verdict is Verdict.NOT_TESTABLE:
        return {}
    return ADAPTERS.get(result.claim_id, _whole)(result)


def claim_of(quantity: str) -> str:
    return quantity.split(" ", 1)[0]


# -- truth -----------------------------------------------------------------------------------


def structural_truths(truth: Mapping[str, Any]) -> dict[str, float]:
    """The values the generator's parameters fix directly (see the module docstring)."""
    log_hr = truth["dropout"]["log_hr"]
    return {"C3": math.exp(log_hr["referral"]),
            "C4": math.exp(0.5 * log_hr["promo_propensity"]),
            "C5 frequency": 1.0,
            "C5 breadth": math.exp(log_hr["breadth_per_category"])}


def realised_truths(company: Company) -> dict[str, float]:
    """Truths of the company's own customers: C11's twelve-month dropout share."""
    end = company.ctx.period.end
    return {"C11": demo.true_churn(company.latent, end, 12)["forward"]}


def estimand_truths(setting: str, n_customers: int = TRUTH_CUSTOMERS,
                    seed: int = TRUTH_SEED, folder: Path | None = None) -> dict[str, float]:
    """Point estimates of every quantity on one very large company of ``setting``: the
    superpopulation values the estimators target."""
    with _workdir(folder) as work:
        company = open_company(work, setting, seed, n_customers)
        results = run_claims(company.ctx, seed, replicates=20)
        found = {name: e for r in results.values() for name, e in quantities(r).items()
                 if e.value is not None}
        out = {name: float(e.value) for name, e in found.items()}
        out |= {f"{name} (first-year ratio)": float(first_year(e)) for name, e in found.items()
                if claim_of(name) in ("C3", "C4", "C5")}
        out |= {f"{k} (realised)": v for k, v in realised_truths(company).items()}
        out["C7 (latent)"] = latent_c7(company)
        return out


def average_truths(companies: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The truths of several truth companies in one: the mean of each quantity (of its
    logarithm for a ratio), over the companies that have it."""
    out = {}
    for key in sorted({k for c in companies for k in c if not k.startswith("_")}):
        values = np.array([c[key] for c in companies if key in c], dtype=float)
        if _log_scale(key) and "(" not in key:
            out[key] = float(np.exp(np.mean(np.log(values))))
        else:
            out[key] = float(np.mean(values))
    return out


def latent_c7(company: Company) -> float:
    """C7's regression (profit on satisfaction, same customers, controls and window) with the
    customers' latent satisfaction in place of their mean survey score: what C7 would
    estimate if satisfaction were measured without error (the generator's satisfaction moves
    spend, complaints, referrals and loyalty)."""
    ctx = company.ctx
    features = ctx.features(*ctx.window(WINDOW_MONTHS))
    latent = company.latent.set_index("customer_id")["satisfaction"]
    frame = features[features["satisfaction_mean"].notna()].assign(
        latent_satisfaction=lambda f: f["customer_id"].map(latent).to_numpy(float))
    reg = sat.profit_regression(frame, ctx.data.satisfaction_scale, "profit",
                                "latent_satisfaction")
    return float(reg.relative.value)


class _workdir:
    """A temporary folder (removed afterwards), or ``folder`` when given (kept)."""

    def __init__(self, folder: Path | None):
        self.folder, self.made = folder, None

    def __enter__(self) -> Path:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            return self.folder
        self.made = Path(tempfile.mkdtemp(prefix="study_"))
        return self.made

    def __exit__(self, *exc) -> None:
        if self.made is not None:
            shutil.rmtree(self.made, ignore_errors=True)


def _point(rule: ClaimRule, value: float) -> Estimate:
    """A degenerate interval around ``value`` (a true value judged as if known)."""
    eps = 1e-9 * max(1.0, abs(value))
    if rule.scale is Scale.LOG:
        return Estimate(value, value * (1 - 1e-9), value * (1 + 1e-9))
    return Estimate(value, value - eps, value + eps)


def true_verdict(rule: ClaimRule, values: Mapping[str, float]) -> Verdict:
    """The verdict of the claim's rule applied to its true value(s)."""
    if not values or not all(math.isfinite(v) for v in values.values()):
        return Verdict.NOT_TESTABLE
    return judge_all(rule, {k: _point(rule, v) for k, v in values.items()}).verdict


# -- one company's record ------------------------------------------------------------------


def company_records(company: Company, results: Mapping[str, ClaimResult]) -> list[dict]:
    """One row per claim quantity: estimate, interval, the claim's verdict."""
    rows = []
    realised = realised_truths(company)
    structural = structural_truths(company.truth)
    family = dict(zip(results, adjust_for_family([judgement_of(r) for r in results.values()]),
                      strict=True))
    for claim_id in CLAIM_IDS:
        result = results.get(claim_id)
        if result is None:
            continue
        found = quantities(result) or {claim_id: Estimate(None)}
        for name, e in found.items():
            rows.append({"setting": company.setting, "seed": company.seed, "claim": claim_id,
                         "quantity": name, "estimate": e.value, "low": e.low, "high": e.high,
                         "n": e.n, "first_year_ratio": first_year(e),
                         "verdict": result.verdict.value,
                         "verdict_holm": family[claim_id].verdict.value,
                         "reason": result.reason, "realised": realised.get(name),
                         "structural": structural.get(name)})
    return rows


def simulate(setting: str, seed: int, n_customers: int = COMPANY_CUSTOMERS,
             replicates: int = REPLICATES) -> list[dict]:
    """Simulate one company, run the claims, return its rows (files removed afterwards)."""
    with _workdir(None) as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        company = open_company(work, setting, seed, n_customers)
        return company_records(company, run_claims(company.ctx, seed, replicates))


# -- summary ---------------------------------------------------------------------------------


def primary_truth(row: Mapping[str, Any], estimands: Mapping[str, Mapping[str, float]]
                  ) -> float | None:
    """The truth a quantity's interval is judged against: the realised value for C11, else
    the estimand (the very large company's estimate)."""
    if row["claim"] == "C11" and row.get("realised") is not None:
        return row["realised"]
    return estimands.get(row["setting"], {}).get(row["quantity"])


def binomial_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95% interval of a proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    low = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def with_truth(rows: Sequence[Mapping[str, Any]],
               estimands: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """The rows with ``truth`` and ``covered`` (None when there is no interval)."""
    frame = pd.DataFrame(list(rows))
    frame["truth"] = [primary_truth(r, estimands) for r in frame.to_dict("records")]
    latent = frame["setting"].map(lambda s: estimands.get(s, {}).get("C7 (latent)"))
    frame["structural"] = frame["structural"].where(frame["quantity"] != "C7", latent)
    have = frame[["estimate", "low", "high", "truth"]].notna().all(axis=1)
    frame["covered"] = np.where(have, (frame["low"] <= frame["truth"])
                                & (frame["truth"] <= frame["high"]), np.nan)
    return frame


def coverage_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per quantity (and setting, and all settings): coverage with its binomial interval,
    mean width, bias against the truth and against the structural value, and how often
    the claim had no interval."""
    out = []
    for (quantity, setting), g in _groups(frame):
        usable = g[g["covered"].notna()]
        k, n = int(usable["covered"].sum()), len(usable)
        low, high = binomial_interval(k, n)
        log = _log_scale(quantity)
        est, truth = usable["estimate"].astype(float), usable["truth"].astype(float)
        diff = (np.log(est) - np.log(truth)) if log else (est - truth)
        width = (np.log(usable["high"].astype(float)) - np.log(usable["low"].astype(float))
                 if log else usable["high"].astype(float) - usable["low"].astype(float))
        structural = usable["structural"].astype(float)
        s_bias = ((np.log(est) - np.log(structural)) if log else (est - structural)) \
            if structural.notna().any() else pd.Series(dtype=float)
        out.append({
            "quantity": quantity, "setting": setting, "companies": len(g), "with_interval": n,
            "covered": k, "coverage": k / n if n else math.nan, "coverage_low": low,
            "coverage_high": high, "scale": "log" if log else "linear",
            "truth": float(truth.mean()) if n else math.nan,
            "mean_estimate": float(est.mean()) if n else math.nan,
            "bias": float(diff.mean()) if n else math.nan,
            "sd_estimate": float(diff.std(ddof=1)) if n > 1 else math.nan,
            "mean_width": float(width.mean()) if n else math.nan,
            # spread of the estimates over the spread the intervals claim (width / 3.92):
            # above 1, the intervals are too narrow for how much the estimates vary
            "sd_over_se": (float(diff.std(ddof=1) / (width.mean() / (2 * Z)))
                           if n > 1 and width.mean() > 0 else math.nan),
            "structural": float(structural.mean()) if structural.notna().any() else math.nan,
            "bias_vs_structural": float(s_bias.mean()) if len(s_bias) else math.nan,
            "in_band": bool(n and 0.93 <= k / n <= 0.97),
            # the study cannot tell this coverage from 95%: its interval contains 95%
            "consistent_with_95": bool(n and low <= 0.95 <= high),
        })
    return pd.DataFrame(out)


def _groups(frame: pd.DataFrame):
    for quantity in sorted(frame["quantity"].unique(), key=_order):
        g = frame[frame["quantity"] == quantity]
        yield (quantity, "all"), g
        for setting in sorted(g["setting"].unique()):
            yield (quantity, setting), g[g["setting"] == setting]


def _order(quantity: str) -> tuple[int, str]:
    return (CLAIM_IDS.index(claim_of(quantity)), quantity)


def _log_scale(quantity: str) -> bool:
    return _RULES[claim_of(quantity)].scale is Scale.LOG


_RULES = claim_rules()


def true_verdicts(estimands: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """The truth table: each claim's true verdict in each setting, from the estimands
    (C11: from the realised churn of the very large company), and from the structural
    values where the generator fixes them."""
    rules = claim_rules()
    rows = []
    for setting, values in estimands.items():
        structural = structural_truths(demo.default_truth(overrides=SETTINGS.get(setting)))
        for claim_id in CLAIM_IDS:
            parts = {k: v for k, v in values.items()
                     if claim_of(k) == claim_id and "(" not in k}
            if f"{claim_id} (realised)" in values:
                parts = {claim_id: values[f"{claim_id} (realised)"]}
            if "C7 (latent)" in values:
                structural["C7"] = values["C7 (latent)"]
            by_model = {k: v for k, v in structural.items() if claim_of(k) == claim_id}
            rows.append({"setting": setting, "claim": claim_id,
                         "true_verdict": true_verdict(rules[claim_id], parts).value,
                         "structural_verdict": (true_verdict(rules[claim_id], by_model).value
                                                if by_model else None)})
    return pd.DataFrame(rows)


def verdict_table(frame: pd.DataFrame, truth_table: pd.DataFrame) -> pd.DataFrame:
    """Confusion of the companies' verdicts against the true verdicts, per claim."""
    verdicts = frame.drop_duplicates(["setting", "seed", "claim"])[
        ["setting", "seed", "claim", "verdict"]]
    merged = verdicts.merge(truth_table[["setting", "claim", "true_verdict"]],
                            on=["setting", "claim"], how="left")
    table = merged.groupby(["claim", "setting", "true_verdict", "verdict"]).size()
    return table.rename("companies").reset_index()


def wrong_verdicts(confusion: pd.DataFrame) -> pd.DataFrame:
    """Per claim: companies whose verdict contradicts the truth (a decisive verdict on the
    other side: holds or stronger when the truth is weaker, weaker when it holds), and
    how many got the true verdict exactly."""
    decisive = {Verdict.HOLDS.value, Verdict.STRONGER.value}
    rows = []
    for claim_id, g in confusion.groupby("claim", sort=False):
        total = int(g["companies"].sum())
        exact = int(g.loc[g["verdict"] == g["true_verdict"], "companies"].sum())
        wrong = int(g.loc[((g["true_verdict"] == Verdict.WEAKER.value)
                           & g["verdict"].isin(decisive))
                          | (g["true_verdict"].isin(decisive)
                             & (g["verdict"] == Verdict.WEAKER.value)), "companies"].sum())
        rows.append({"claim": claim_id, "companies": total, "exact": exact,
                     "contradicting": wrong})
    out = pd.DataFrame(rows)
    out["order"] = out["claim"].map(CLAIM_IDS.index)
    return out.sort_values("order").drop(columns="order").reset_index(drop=True)


def summary(rows: Sequence[Mapping[str, Any]],
            estimands: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Coverage, truth table and verdict confusion of a study's rows."""
    frame = with_truth(rows, estimands)
    truth_table = true_verdicts(estimands)
    confusion = verdict_table(frame, truth_table)
    return {"coverage": coverage_table(frame), "truth_table": truth_table,
            "confusion": confusion, "wrong": wrong_verdicts(confusion),
            "not_testable": _not_testable(frame), "first_year": first_year_table(frame)}


def first_year_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Hazard-ratio quantities (C3-C5) by which ratio the claim read: coverage of the
    whole-follow-up ratio and of the first-year ratio (read when proportional hazards
    fail), each against the same truth. Only rows that recorded it."""
    if "first_year_ratio" not in frame:
        return pd.DataFrame()
    known = frame[frame["first_year_ratio"].notna() & frame["covered"].notna()
                  & frame["claim"].isin(["C3", "C4", "C5"])]
    rows = []
    for (quantity, first), g in known.groupby(["quantity", "first_year_ratio"]):
        k, n = int(g["covered"].sum()), len(g)
        rows.append({"quantity": quantity, "ratio read": "first year" if first else
                     "whole follow-up", "companies": n, "coverage": k / n,
                     "mean_estimate": float(np.exp(np.log(g["estimate"].astype(float)).mean())),
                     "truth": float(g["truth"].astype(float).mean())})
    return pd.DataFrame(rows)


def _not_testable(frame: pd.DataFrame) -> pd.DataFrame:
    per = frame.drop_duplicates(["setting", "seed", "claim"])
    gone = per[per["verdict"] == Verdict.NOT_TESTABLE.value]
    if gone.empty:
        return pd.DataFrame(columns=["claim", "reason", "companies"])
    return gone.groupby(["claim", "reason"]).size().rename("companies").reset_index()


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    def plain(x):
        if isinstance(x, pd.DataFrame):
            return json.loads(x.to_json(orient="records"))
        if isinstance(x, np.generic):
            return x.item()
        raise TypeError(type(x))

    path.write_text(json.dumps(payload, indent=1, default=plain))
