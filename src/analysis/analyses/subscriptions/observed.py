"""What subscriptions show directly: durations per customer, Kaplan-Meier and restricted mean
survival by plan, Cox hazard ratios by plan (acting on the proportional-hazards check),
observed churn (C11) and cancellation reasons (C10).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight

from analysis.analyses.churn.survival import ph_check
from analysis.analyses.claims import rule
from analysis.core.multitest import holm
from analysis.core.results import ClaimResult, Estimate
from analysis.core.verdicts import ClaimRule, answer

MONTH_DAYS = 365.25 / 12
SLACK_DAYS = 3.0   # calendar months differ from MONTH_DAYS by up to about 2.5 days

#: words that mark a cancellation reason as "the care was not enough" (claim C10)
CARE_WORDS = ("support", "service", "care", "attitude", "staff", "help", "complain",
              "respon", "unresolved", "ignored", "attention", "rude", "expertise")


#: how a snapshot export (every departure dated on the snapshot) is read
SNAPSHOT_READINGS = ("auto", "last month", "durations")
#: "auto" reads a snapshot as the last month's departures up to this share of churned rows
LAST_MONTH_MAX_SHARE = 0.10


def customer_spells(subscriptions: pd.DataFrame, as_of, snapshot: str = "auto"
                    ) -> pd.DataFrame:
    """One row per customer: first start, last end (NaT while any subscription is active), the
    plan and charge of the latest subscription, the reason of the last cancellation, and the
    observed duration in whole months (``months``: the month the customer left in, or the
    full months observed while active) with ``churned``; ``entry``: the months each customer
    had completed when observation began (see :func:`snapshot_reading`)."""
    as_of = pd.Timestamp(as_of)
    subs = subscriptions[subscriptions["start"] < as_of].copy()
    subs.loc[subs["end"] > as_of, "end"] = pd.NaT
    subs = subs.sort_values(["customer_id", "start"], kind="stable")
    grouped = subs.groupby("customer_id", sort=True)
    active = grouped["end"].apply(lambda e: e.isna().any())
    last = grouped.tail(1).set_index("customer_id")
    out = pd.DataFrame({"start": grouped["start"].min(),
                        "end": grouped["end"].max().where(~active),
                        "plan": last["plan"], "recurring_charge": last["recurring_charge"]})
    if "cancellation_reason" in subs:
        out["cancellation_reason"] = last["cancellation_reason"].where(~active)
    out["churned"] = out["end"].notna()
    stop = out["end"].fillna(as_of)
    days = (stop - out["start"]).dt.total_seconds() / 86400
    # a customer who left during month k counts k months (at least 1); an active one the
    # full months observed. Months are 365.25 / 12 days, with a few days' slack so that
    # calendar months (a snapshot's start = as_of - tenure months) count whole
    whole = np.floor((days + SLACK_DAYS) / MONTH_DAYS)
    out["months"] = np.where(out["churned"],
                             np.maximum(np.ceil((days - SLACK_DAYS) / MONTH_DAYS), 1),
                             whole).astype(float)
    out["duration_days"] = np.maximum(days, 1.0)
    out["entry"] = 0.0
    out.attrs["reading"] = snapshot_reading(out, as_of, snapshot)
    if out.attrs["reading"] == "last month":
        # only customers still active a month before the snapshot are in it: each enters
        # observation at the months they had completed then (left truncation)
        known = (as_of - out["start"]).dt.total_seconds() / 86400 - MONTH_DAYS
        out["entry"] = np.clip(np.floor((known + SLACK_DAYS) / MONTH_DAYS), 0, None)
        out["entry"] = np.minimum(out["entry"], np.where(out["churned"], out["months"] - 1,
                                                         out["months"]))
    return out.reset_index()


def snapshot_reading(spells: pd.DataFrame, as_of, snapshot: str = "auto") -> str | None:
    """None for a subscriptions history; for a snapshot export (every departure dated on the
    snapshot) how its churn flag is read:

    - "last month": the flag marks customers who left in the snapshot's last month, and only
      customers active a month before it are listed (the documented meaning of the public
      telecom sample): left-truncated data, one month of churn;
    - "durations": tenure and flag are read as complete durations, right-censored (how such
      samples are usually analysed): no calendar information, churn by tenure.

    "auto" takes "last month" while the churned rows are at most ``LAST_MONTH_MAX_SHARE`` of
    the file (a plausible month) and "durations" above that."""
    if snapshot not in SNAPSHOT_READINGS:
        raise ValueError(f"snapshot reading {snapshot!r}: use one of "
                         f"{', '.join(SNAPSHOT_READINGS)}")
    if not is_snapshot(spells, as_of):
        return None
    if snapshot != "auto":
        return snapshot
    share = float(spells["churned"].mean())
    return "last month" if share <= LAST_MONTH_MAX_SHARE else "durations"


def is_snapshot(spells: pd.DataFrame, as_of, at_least: int = 5) -> bool:
    """A snapshot export: every recorded departure falls in the month before ``as_of`` (the
    data list only customers still active a month ago)."""
    ends = spells.loc[spells["churned"], "end"]
    return len(ends) >= at_least and bool(
        (ends >= pd.Timestamp(as_of) - pd.DateOffset(months=1)).all())


# -- observed churn (C11) ---------------------------------------------------------------------


def observed_annual_churn(spells: pd.DataFrame, as_of) -> Estimate:
    """Share of the customers active a year before ``as_of`` who have left since (Wilson).

    A snapshot cannot show a calendar year. Read as the last month's departures, that
    month's churn among the customers active at its start is annualised as 1 - (1 - m)^12;
    read as complete durations, the share lost within the first 12 months of tenure
    (Kaplan-Meier) is given. The method says which.
    """
    as_of = pd.Timestamp(as_of)
    reading = spells.attrs.get("reading")
    if reading == "durations":
        return _first_year_churn(spells)
    months = 1 if reading == "last month" else 12
    start = as_of - pd.DateOffset(months=months)
    at_risk = (spells["start"] <= start) & (spells["end"].isna() | (spells["end"] > start))
    n = int(at_risk.sum())
    if n == 0:
        return Estimate(None, n=0, method=f"no customer was active {months} month(s) before "
                        "the end of the data", unit="share")
    lost = int((at_risk & spells["churned"]).sum())
    share = Estimate.wilson_share(lost, n, "customers active a year ago who have left since, "
                                  "Wilson interval")
    if reading is None:
        return share

    def annual(m):
        return 1 - (1 - m) ** 12

    return Estimate(annual(share.value), annual(share.low), annual(share.high), n,
                    "snapshot read as the last month's departures: that month's churn among "
                    "customers active at its start (Wilson), annualised as 1-(1-m)^12 "
                    "(assumes every month is like it)", unit="share")


def _first_year_churn(spells: pd.DataFrame) -> Estimate:
    sf = SurvfuncRight(spells["months"].to_numpy(float), spells["churned"].to_numpy(int))
    idx = np.searchsorted(sf.surv_times, 12, side="right") - 1
    if idx < 0:
        return Estimate(0.0, None, None, len(spells), "nobody left within 12 months of tenure",
                        unit="share")
    s12, se = float(sf.surv_prob[idx]), float(sf.surv_prob_se[idx])
    return Estimate(1 - s12, max(1 - s12 - 1.96 * se, 0.0), min(1 - s12 + 1.96 * se, 1.0),
                    len(spells), "snapshot read as complete durations (tenure and churn flag, "
                    "right-censored): share lost within the first 12 months of tenure "
                    "(Kaplan-Meier, Greenwood interval)", unit="share")


def claim_c11_observed(annual: Estimate,
                       rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C11 measured directly on subscriptions, judged by the shared rule."""
    c11 = rule("C11", rules)
    if annual.value is None:
        return ClaimResult.not_testable("C11", annual.method, reading=c11.reading,
                                        quantity=c11.quantity)
    if annual.method.startswith("snapshot read as complete durations"):
        found = f"{annual.value:.0%} of subscribers leave within their first year"
    elif annual.method.startswith("snapshot"):
        found = (f"At last month's rate, {annual.value:.0%} of subscribers would cancel in a "
                 "year")
    else:
        found = f"{annual.value:.0%} of subscribers active a year ago have cancelled since"
    return answer(c11, annual, found + " (claim: 5-30%).", details={"observed": True})


# -- cancellation reasons (C10) ---------------------------------------------------------------


def is_care_reason(reason: str) -> bool:
    words = str(reason).lower()
    return any(re.search(rf"\b{w}", words) for w in CARE_WORDS)


def reasons_table(spells: pd.DataFrame) -> pd.DataFrame | None:
    """Cancellations by stated reason, with whether the reason counts as lack of care."""
    if "cancellation_reason" not in spells:
        return None
    stated = spells.loc[spells["churned"], "cancellation_reason"].dropna().astype(str)
    stated = stated[stated.str.strip() != ""]
    if stated.empty:
        return None
    counts = stated.value_counts()
    return pd.DataFrame({"reason": counts.index, "cancellations": counts.to_numpy(),
                         "share": counts.to_numpy() / counts.sum(),
                         "lack of care": [is_care_reason(r) for r in counts.index]})


def care_share(reasons: pd.DataFrame | None) -> Estimate:
    if reasons is None or reasons["cancellations"].sum() == 0:
        return Estimate(None, n=0, method="no cancellation reasons recorded", unit="share")
    total = int(reasons["cancellations"].sum())
    care = int(reasons.loc[reasons["lack of care"], "cancellations"].sum())
    return Estimate.wilson_share(care, total, "cancellations whose stated reason is lack of "
                                 "care or service (keyword match), Wilson interval")


def claim_c10_reasons(share: Estimate,
                      rules: Mapping[str, ClaimRule] | None = None) -> ClaimResult:
    """C10 read from cancellation reasons: the share of cancellations whose stated reason is
    lack of care or service, judged by the shared rule."""
    c10 = rule("C10", rules)
    if share.value is None:
        return ClaimResult.not_testable("C10", "no cancellation reasons are recorded",
                                        reading=c10.reading, quantity=c10.quantity)
    return answer(c10, share,
                  f"{share.value:.0%} of cancellations with a stated reason give lack of care "
                  "or service (claim: two thirds).",
                  method=share.method, details={"source": "cancellation reasons"})


# -- Kaplan-Meier, restricted mean survival, Cox by plan --------------------------------------


def informative(spells: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry information for a survival curve: a customer censored at the tenure
    they entered observation with (e.g. signed up in the snapshot's last month) adds none."""
    return spells[spells["churned"] | (spells["months"] > spells["entry"])]


def rmst(months: np.ndarray, churned: np.ndarray, horizon: float,
         entry: np.ndarray | None = None) -> Estimate:
    """Restricted mean survival time: expected months active within the first ``horizon``
    months (area under the Kaplan-Meier curve), with its Greenwood-type 95% interval."""
    months = np.asarray(months, float)
    churned = np.asarray(churned, bool)
    if len(months) == 0:
        return Estimate(None, n=0, method="no customers", unit="months")
    if not churned.any():
        value = float(np.minimum(months.max(), horizon))
        return Estimate(value, None, None, len(months), "no one left: the Kaplan-Meier curve "
                        "stays at 100%", unit="months")
    sf = SurvfuncRight(months, churned.astype(int), entry=entry)
    times = sf.surv_times[sf.surv_times <= horizon]
    surv = sf.surv_prob[: len(times)]
    grid = np.r_[0.0, times, horizon]
    heights = np.r_[1.0, surv]
    area = np.diff(grid) * heights
    value = float(area.sum())
    # A_i: area under the curve from event time i to the horizon
    tail = np.cumsum(area[::-1])[::-1][1:]
    at_risk = sf.n_risk[: len(times)]
    events = sf.n_events[: len(times)]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = tail**2 * events / (at_risk * (at_risk - events))
    variance = float(np.nansum(np.where(np.isfinite(terms), terms, 0.0)))
    se = math.sqrt(variance)
    low, high = max(value - 1.96 * se, 0.0), min(value + 1.96 * se, horizon)
    return Estimate(value, low, high, len(months), f"restricted mean survival over "
                    f"{horizon:g} months (area under Kaplan-Meier), Greenwood interval",
                    unit="months")


def rmst_by_plan(spells: pd.DataFrame, horizons=(12, 24)) -> pd.DataFrame:
    rows = []
    for plan, part in spells.groupby("plan", sort=True):
        row = {"plan": plan, "customers": len(part), "cancelled": int(part["churned"].sum())}
        part = informative(part)
        for h in horizons:
            e = rmst(part["months"].to_numpy(), part["churned"].to_numpy(), h,
                     part["entry"].to_numpy() if "entry" in part else None)
            row[f"rmst_{h}"], row[f"rmst_{h}_low"], row[f"rmst_{h}_high"] = e.value, e.low, e.high
        rows.append(row)
    return pd.DataFrame(rows)


@dataclasses.dataclass(frozen=True)
class PlanHazards:
    """Cox hazard ratios of each plan against the reference plan (and per doubling of the
    recurring charge). Where the proportional-hazards check fails for a plan term, the plans
    are compared by restricted mean survival instead and the charge effect comes from a model
    stratified by plan (``stratified`` True)."""

    table: pd.DataFrame  # term, meaning, hazard_ratio, low, high, p, p_holm, ph_p
    reference: str
    n: int
    events: int
    stratified: bool
    note: str

    def summary(self) -> pd.DataFrame:
        return self.table


def plan_hazards(spells: pd.DataFrame, min_group: int = 30) -> PlanHazards:
    """Cox PH (Efron ties) of months to cancellation on plan and log2 recurring charge."""
    data = informative(spells.dropna(subset=["plan"]))
    counts = data["plan"].value_counts()
    plans = counts[counts >= min_group].index
    data = data[data["plan"].isin(plans)]
    if len(plans) < 2 or int(data["churned"].sum()) < 20:
        raise ValueError(f"plan hazards need two plans of at least {min_group} customers and 20 "
                         f"cancellations (found {len(plans)} plan(s), "
                         f"{int(data['churned'].sum())} cancellations)")
    reference = str(counts.index[0])
    design = pd.get_dummies(data["plan"], dtype=float).drop(columns=reference)
    design.columns = [f"plan {c} vs {reference}" for c in design.columns]
    charge = data["recurring_charge"].astype(float)
    has_charge = charge.notna().all() and (charge > 0).all() and charge.std() > 0
    if has_charge:
        design["log2 recurring charge"] = np.log2(charge)
    time, status = data["months"].to_numpy(float), data["churned"].to_numpy(int)
    entry = data["entry"].to_numpy(float) if "entry" in data else None
    result = PHReg(time, design.to_numpy(), status=status, entry=entry, ties="efron").fit()
    ph = ph_check(result, time, status)
    plan_terms = [i for i, c in enumerate(design.columns) if c.startswith("plan ")]
    failed = any(np.isfinite(ph[i]) and ph[i] < 0.05 for i in plan_terms)
    note = "proportional hazards hold for the plan terms"
    stratified = False
    if failed:
        stratified = True
        note = ("the plans' hazards are not proportional (their ratio changes with tenure): plans "
                "are compared by restricted mean survival instead, and the charge effect comes "
                "from a model stratified by plan")
        if has_charge:
            keep = ["log2 recurring charge"]
            strata = pd.factorize(data["plan"])[0]
            result = PHReg(time, design[keep].to_numpy(), status=status, entry=entry,
                           ties="efron", strata=strata).fit()
            ph = ph_check(result, time, status)
            design = design[keep]
        else:
            design = design.iloc[:, :0]
    if design.shape[1] == 0:
        table = pd.DataFrame(columns=["term", "hazard_ratio", "low", "high", "p", "p_holm",
                                      "ph_p"])
    else:
        ci = result.conf_int()
        table = pd.DataFrame({"term": design.columns, "hazard_ratio": np.exp(result.params),
                              "low": np.exp(ci[:, 0]), "high": np.exp(ci[:, 1]),
                              "p": result.pvalues, "p_holm": holm(result.pvalues)[1],
                              "ph_p": ph})
    return PlanHazards(table, reference, len(data), int(status.sum()), stratified, note)


def logrank_by_plan(spells: pd.DataFrame) -> float:
    from statsmodels.duration.survfunc import survdiff

    spells = informative(spells)
    if spells["plan"].nunique() < 2:
        return float("nan")
    entry = spells["entry"].to_numpy(float) if "entry" in spells else None
    _chi2, p = survdiff(spells["months"].to_numpy(float), spells["churned"].to_numpy(int),
                        spells["plan"].astype(str).to_numpy(), entry=entry)
    return float(p)


def retention_by_plan(spells: pd.DataFrame, min_group: int = 30):
    """Kaplan-Meier by plan in months (left-truncated where customers enter late), with
    log(-log) 95% bands, one-year retention and the log-rank p."""
    from analysis.analyses.churn.survival import RetentionCurves, _pointwise_cb

    counts = spells["plan"].value_counts()
    data = informative(spells[spells["plan"].isin(counts[counts >= min_group].index)])
    if data["plan"].nunique() < 2:
        raise ValueError(f"retention by plan needs two plans of at least {min_group} customers")
    curves, year = [], []
    for plan, part in data.groupby("plan", sort=True):
        sf = SurvfuncRight(part["months"].to_numpy(float), part["churned"].to_numpy(int),
                           entry=part["entry"].to_numpy(float))
        low, high = _pointwise_cb(sf)
        curves.append(pd.DataFrame({"plan": plan, "days": np.r_[0.0, sf.surv_times] * MONTH_DAYS,
                                    "retention": np.r_[1.0, sf.surv_prob],
                                    "low": np.r_[1.0, low], "high": np.r_[1.0, high]}))
        idx = np.searchsorted(sf.surv_times, 12, side="right") - 1
        value = 1.0 if idx < 0 else float(sf.surv_prob[idx])
        lo, hi = (1.0, 1.0) if idx < 0 else (float(low[idx]), float(high[idx]))
        year.append({"plan": plan, "customers": len(part), "churned": int(part["churned"].sum()),
                     "retention_1y": value, "low": lo, "high": hi})
    p = logrank_by_plan(data)
    return RetentionCurves("plan", pd.concat(curves, ignore_index=True), pd.DataFrame(year),
                           float("nan"), p)
