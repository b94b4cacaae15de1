"""Period KPIs for the executive summary, and their change against the previous period.

Every KPI is an :class:`~analysis.core.results.Estimate` with its sample size. Counts and
totals are a census of the period (no sampling interval); rates and shares carry a
95% interval: Wilson for the lapse and cancellation rates, a customer bootstrap for the
top-20% share, a t interval for mean satisfaction.

One definition per figure, the same in the KPI table, the trend charts and the index:

- **net revenue** of a period is the revenue of every kept transaction line in it (sales
  minus returns, whoever made them), so it equals the data-quality ledger's kept revenue
  for those dates (:func:`period_totals`);
- **profit after service cost** is that revenue minus the lines' cost of goods minus the
  service cost of every interaction opened in the period: the company's profit for the
  period, not the sum over the customers who happened to buy (non-buyers' returns and
  service costs are costs too). It exists only where cost of goods was supplied; without
  it there is no profit figure and shares are shares of revenue;
- the **lapse** figures (customers newly without a purchase for N days) are a lagging
  count; the share of customers lost within a year is the purchase model's (the churn
  section's figure, the same as claim C11), read from that section's results.

A subscription-only company (no purchase records) gets the figures that exist for it
(subscribers, new, cancelled, the cancellation rate, recurring revenue, the observed
annual churn); the purchase figures are "not available for a subscription-only company".

    report = kpis_for_context(ctx, sections=read_sections(out))
    report.summary()                    # the table for the notebook
    report.headlines()                  # {name: Estimate} for write_section
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core import text
from analysis.core.results import Estimate, to_jsonable

REQUIRED_COLUMNS = ("customer_id", "orders", "revenue", "profit", "active", "active_at_start",
                    "churned", "new")
NOT_AVAILABLE = text.NOT_AVAILABLE
NOT_FOR_SUBSCRIPTIONS = "not available for a subscription-only company"
NO_COST = "no cost of goods was supplied"
#: where a section's results give the model-based share of customers lost within a year
ANNUAL_CHURN_SOURCES = (("churn", "churn_rate_12m"), ("clv", "model_annual_churn"),
                        ("subscriptions", "observed_annual_churn"))
#: the sections' names for the reader
SECTION_NAMES = {"churn": "churn and retention", "clv": "customer lifetime value",
                 "subscriptions": "subscriptions"}
SHOP_KPIS = ("customers", "active", "new", "churned", "revenue", "profit", "top20_share",
             "churn_rate")
SUBSCRIPTION_KPIS = ("subscribers", "subscribers_new", "cancelled", "cancellation_rate",
                     "recurring_revenue")
COUNT_KPIS = ("customers", "active", "new", "churned", "subscribers", "subscribers_new",
              "cancelled")
MONEY_KPIS = ("revenue", "profit", "recurring_revenue")
SHARE_KPIS = ("top20_share", "churn_rate", "annual_churn", "cancellation_rate")
RATE_KPIS = (*SHARE_KPIS, "satisfaction")
#: the inactivity (lapse) KPIs: left out where leaving is observed (cancellations)
LAPSE_KPIS = ("churned", "churn_rate")
Z95 = stats.norm.ppf(0.975)


@dataclasses.dataclass(frozen=True)
class Supplied:
    """What the company supplied: it decides which KPIs exist and what they are called."""

    transactions: bool = True
    cost: bool = True
    service_cost: bool = True
    subscriptions: bool = False
    subscription_business: bool = False
    churn_days: int = 180

    @classmethod
    def from_context(cls, ctx) -> Supplied:
        data = ctx.data
        return cls(
            transactions=bool(data.has("transactions")),
            cost=bool(data.has("transactions", "cost")),
            service_cost=bool(data.has("interactions", "service_cost")),
            subscriptions=bool(getattr(data, "subscriptions", None) is not None
                               and len(data.subscriptions)),
            subscription_business=(getattr(ctx.settings, "business", "shop") == "subscription"),
            churn_days=int(getattr(ctx.settings, "churn_days", 180)),
        )

    @property
    def subscription_figures(self) -> bool:
        """Whether subscribers are counted: a subscription business, or no purchase records."""
        return self.subscription_business or not self.transactions

    @property
    def basis(self) -> str:
        """What shares are shares of: profit where cost was supplied, else revenue."""
        return "profit" if self.cost else "revenue"


def kpi_labels(supplied: Supplied = Supplied()) -> dict[str, str]:
    """The reader's label of every KPI for a company that supplied ``supplied``: a profit
    label only where cost of goods was supplied."""
    days = supplied.churn_days
    labels = {
        "customers": "Customers who bought",
        "active": f"Active customers (a purchase in the last {days} days)",
        "new": "New customers (first purchase in the period)",
        "churned": f"Customers newly without a purchase for {days} days (a lagging count)",
        "revenue": "Net revenue (sales minus returns)",
        "top20_share": f"Share of {supplied.basis} from the top 20% of buying customers",
        "churn_rate": (f"Lapse rate: active at the start, no purchase for {days} days by "
                       "the end (a lagging count)"),
        "annual_churn": "Customers lost within a year (purchase model, as in claim C11)",
        "satisfaction": "Mean satisfaction score",
        "subscribers": "Active subscribers at the end of the period",
        "subscribers_new": "New subscribers in the period",
        "cancelled": "Subscribers who cancelled in the period",
        "cancellation_rate": "Cancellation rate (of subscribers active at the start)",
        "recurring_revenue": "Monthly recurring revenue at the end of the period",
    }
    if supplied.cost:
        labels["profit"] = ("Profit after service cost" if supplied.service_cost else
                            "Profit after cost of goods (no service costs supplied)")
    if supplied.subscription_figures:
        labels["annual_churn"] = "Subscribers lost within a year (observed, as in claim C11)"
    return labels


#: the labels of a company that supplied everything (the index's fallback)
KPI_LABELS = kpi_labels()


@dataclasses.dataclass(frozen=True)
class PeriodKPIs:
    """The KPIs of one period, each an Estimate."""

    period: str
    values: Mapping[str, Estimate]

    def summary(self) -> pd.DataFrame:
        rows = [
            {"kpi": name, "label": KPI_LABELS.get(name, name), "value": e.value, "low": e.low,
             "high": e.high, "n": e.n, "method": e.method}
            for name, e in self.values.items()
        ]
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False, na_rep="")


@dataclasses.dataclass(frozen=True)
class KPIChange:
    """One KPI now and in the previous period, with the absolute and relative change."""

    name: str
    current: Estimate
    previous: Estimate | None
    change: Estimate | None
    relative: float | None


@dataclasses.dataclass(frozen=True)
class KPIReport:
    """Current period KPIs, the previous period's and the change between them."""

    period: str
    previous_period: str | None
    current: PeriodKPIs
    previous: PeriodKPIs | None
    changes: tuple[KPIChange, ...]
    labels: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(KPI_LABELS))
    #: sentences for the reader: figures that do not exist for this company, and why
    notes: tuple[str, ...] = ()

    def label(self, name: str) -> str:
        return self.labels.get(name) or KPI_LABELS.get(name, name)

    @property
    def has_profit(self) -> bool:
        """Was cost supplied, so that profit figures exist (and profit labels are used)?"""
        return "profit" in self.labels

    def value(self, name: str) -> float | None:
        estimate = self.current.values.get(name)
        return None if estimate is None else text.finite(estimate.value)

    def headlines(self) -> dict[str, Estimate]:
        """The current KPIs plus their changes (``<name>_change``) for write_section."""
        out = dict(self.current.values)
        for c in self.changes:
            if c.change is not None:
                out[f"{c.name}_change"] = c.change
        return out

    def to_json(self) -> dict:
        """The KPIs in the shape of results.json (see results_schema.json, ``kpis``); each
        current and previous estimate carries its ``label``, as the pack shows it."""
        def labelled(values: Mapping[str, Estimate]) -> dict:
            return {name: {**to_jsonable(e), "label": self.label(name)}
                    for name, e in values.items()}

        return to_jsonable({
            "period": self.period,
            "previous_period": self.previous_period,
            "current": labelled(self.current.values),
            "previous": labelled(self.previous.values) if self.previous else None,
            "change": {c.name: c.change for c in self.changes},
            "relative_change": {c.name: c.relative for c in self.changes},
            "labels": {name: self.label(name) for name in self.current.values},
            "notes": list(self.notes),
        })

    def summary(self) -> pd.DataFrame:
        rows = []
        for c in self.changes:
            rows.append({
                "KPI": self.label(c.name),
                "this period": format_estimate(c.name, c.current),
                "95% interval": format_interval(c.name, c.current),
                "n": (text.count(c.current.n, missing="")
                      if text.finite(c.current.value) is not None else ""),
                "previous period": ("" if c.previous is None
                                    else format_kpi(c.name, c.previous.value)),
                "change": format_change(c.name, c.change),
                "change %": ("" if text.finite(c.relative) is None or kpi_kind(c.name)
                             == "share" else f"{100 * c.relative:+.1f}%"),
            })
        return pd.DataFrame(rows, columns=["KPI", "this period", "95% interval", "n",
                                           "previous period", "change", "change %"])

    def _repr_html_(self) -> str:
        title = html.escape(f"KPIs {self.period} vs {self.previous_period or 'no earlier period'}")
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return f"<h4>{title}</h4>" + self.summary().to_html(index=False, escape=True) + notes


def check_features(features: pd.DataFrame, columns: tuple[str, ...] = REQUIRED_COLUMNS) -> None:
    """Raise a ValueError naming every missing feature column."""
    if not isinstance(features, pd.DataFrame):
        raise ValueError("kpis: features must be a pandas DataFrame from ctx.features()")
    absent = [c for c in columns if c not in features.columns]
    if absent:
        raise ValueError(
            f"kpis: feature column(s) {absent} missing; pass the frame returned by "
            "ctx.features(start, end) (see docs/INTERFACES.md)"
        )


def count_estimate(mask: pd.Series, method: str) -> Estimate:
    """A census count (no sampling interval); n is the customers it was counted over."""
    return Estimate(int(mask.fillna(False).astype(bool).sum()), n=int(len(mask)), method=method,
                    unit="customers")


def churn_rate(features: pd.DataFrame) -> Estimate:
    """Lapsed / active at start, with a Wilson 95% interval (a lagging count)."""
    at_risk = features["active_at_start"].fillna(False).astype(bool)
    n = int(at_risk.sum())
    churned = int((features["churned"].fillna(False).astype(bool) & at_risk).sum())
    if n == 0:
        return missing("no customer was active at the start of the period", "share", 0)
    return Estimate.wilson_share(churned, n, "no purchase for the inactivity window by the "
                                             "end / active at the start; Wilson 95% interval")


def top_share(values: np.ndarray, share: float = 0.2) -> float | None:
    """Share of the total earned by the top ``share`` of customers (ranked by value).

    The top group is ``ceil(share * n)`` customers. With loss-making customers the
    share can exceed 1. ``None`` when the total is not positive.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not np.isfinite(values).all():
        return None
    total = values.sum()
    if total <= 0:
        return None
    k = max(1, math.ceil(share * values.size - 1e-9))
    top = np.partition(values, values.size - k)[values.size - k:]
    return float(top.sum() / total)


def top_share_estimate(values: pd.Series, share: float = 0.2, n_boot: int = 1000,
                       seed: int = 0, what: str = "profit") -> Estimate:
    """Top-``share`` share with a percentile bootstrap over customers."""
    x = values.to_numpy(dtype=float)
    point = top_share(x, share)
    method = f"share of {what} from top {share:.0%} of buying customers; bootstrap 95% interval"
    if point is None:
        reason = ("no customer bought in the period" if x.size == 0 else
                  f"the buying customers' total {what} is not positive")
        return missing(reason, "share", int(x.size))
    rng = np.random.default_rng(seed)
    n = x.size
    k = max(1, math.ceil(share * n - 1e-9))
    boots = np.empty(n_boot)
    for start in range(0, n_boot, 100):  # chunks keep memory modest for large n
        stop = min(n_boot, start + 100)
        sample = x[rng.integers(0, n, size=(stop - start, n))]
        top = -np.partition(-sample, k - 1, axis=1)[:, :k]
        totals = sample.sum(axis=1)
        boots[start:stop] = np.where(totals > 0, top.sum(axis=1) / np.where(totals > 0, totals, 1),
                                     np.nan)
    if np.isnan(boots).all():
        return Estimate(point, n=int(n), method=method.split(";")[0], unit="share")
    low, high = np.nanpercentile(boots, [2.5, 97.5])
    return Estimate(point, float(low), float(high), n=int(n), method=method, unit="share")


def mean_estimate(scores: pd.Series, method: str) -> Estimate:
    """Mean with a t 95% interval (none for one answer or equal answers)."""
    x = pd.to_numeric(scores, errors="coerce").dropna().to_numpy(dtype=float)
    if x.size == 0:
        return missing("no survey answers in the period", "score", 0)
    if x.size == 1 or np.ptp(x) == 0:  # no spread to build an interval from
        return Estimate(float(x.mean()), n=int(x.size), unit="score",
                        method=method + "; no interval: " + ("one answer" if x.size == 1
                                                             else "all answers equal"))
    low, high = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    return Estimate(float(x.mean()), float(low), float(high), n=int(x.size),
                    method=method + "; t 95% interval", unit="score")


def satisfaction_estimate(features: pd.DataFrame, surveys: pd.DataFrame | None = None,
                          start: pd.Timestamp | None = None,
                          end: pd.Timestamp | None = None) -> Estimate:
    """Mean satisfaction: one score per customer (their mean answer in the period).

    With ``surveys`` and the period bounds, uses the survey answers given in the period;
    otherwise each buying customer's latest score before the period end.
    """
    if surveys is not None and start is not None and end is not None:
        for col in ("customer_id", "survey_date", "score"):
            if col not in surveys.columns:
                raise ValueError(f"kpis: surveys column {col!r} missing; pass ctx.data.surveys")
        when = pd.to_datetime(surveys["survey_date"])
        inside = surveys[(when >= pd.Timestamp(start)) & (when < pd.Timestamp(end))]
        per_customer = inside.groupby("customer_id")["score"].mean()
        return mean_estimate(per_customer, "mean of survey scores answered in the period, "
                             "one value per customer")
    if ("satisfaction_latest" not in features.columns or "orders" not in features.columns
            or features["satisfaction_latest"].isna().all()):
        return missing("no surveys were supplied", "score", 0)
    buyers = features[features["orders"] > 0]
    return mean_estimate(buyers["satisfaction_latest"],
                         "mean latest satisfaction score of buying customers")


def missing(reason: str, unit: str = "", n: int | None = None) -> Estimate:
    """A KPI that cannot be given, with the reason in its method."""
    return Estimate(None, n=n, method=f"{NOT_AVAILABLE}: {reason}", unit=unit)


# -- company totals of a period ----------------------------------------------------------


def period_totals(transactions: pd.DataFrame | None, interactions: pd.DataFrame | None,
                  periods: Sequence, cost: bool | None = None) -> pd.DataFrame:
    """Net revenue and profit after service cost of each period (``periods``: objects with
    ``label``, ``start``, ``end``, in order), from the kept tables themselves.

    ``transactions``: the kept lines, or their sums per day (:meth:`Context.daily_lines`:
    columns ``lines`` and ``cost_missing`` say how many lines each row stands for).
    ``revenue`` is the sum of every transaction line in the period (sales minus returns,
    whoever made them), so it equals the ledger's kept revenue for those dates.
    ``profit`` is revenue minus the lines' cost of goods minus the service cost of the
    interactions opened in the period; NaN where cost was not supplied (``cost`` False;
    default: the transactions have a cost column with values) or is missing on a line of
    the period (``cost_missing`` counts those lines). Columns: month, revenue, profit,
    lines, cost_missing.
    """
    labels = [p.label for p in periods]
    starts = np.array([np.datetime64(pd.Timestamp(p.start), "ns") for p in periods])
    ends = np.array([np.datetime64(pd.Timestamp(p.end), "ns") for p in periods])
    out = pd.DataFrame({"month": labels, "revenue": 0.0, "cogs": 0.0, "service_cost": 0.0,
                        "lines": 0, "cost_missing": 0})
    tx = transactions if transactions is not None else pd.DataFrame()
    if cost is None:
        cost = "cost" in tx and bool(tx["cost"].notna().any())
    if len(tx) and len(periods):
        idx = _period_index(tx["timestamp"], starts, ends)
        inside = idx >= 0
        groups = pd.Series(idx[inside])
        out["revenue"] = _per_period(tx["revenue"].to_numpy(float)[inside], groups,
                                     len(periods))
        lines = tx["lines"].to_numpy(int) if "lines" in tx else np.ones(len(tx), int)
        out["lines"] = _per_period(lines[inside], groups, len(periods)).astype(int)
        if cost and "cost" in tx:
            costs = pd.to_numeric(tx["cost"], errors="coerce").to_numpy(float)
            missing = (tx["cost_missing"].to_numpy(int) if "cost_missing" in tx
                       else np.isnan(costs).astype(int))
            out["cogs"] = _per_period(costs[inside], groups, len(periods))
            out["cost_missing"] = _per_period(missing[inside], groups, len(periods)).astype(int)
    if (interactions is not None and len(interactions) and "service_cost" in interactions
            and len(periods)):
        idx = _period_index(interactions["opened_at"], starts, ends)
        inside = idx >= 0
        service = pd.Series(pd.to_numeric(interactions["service_cost"], errors="coerce")
                            .fillna(0).to_numpy(float)[inside])
        out["service_cost"] = service.groupby(pd.Series(idx[inside])).sum().reindex(
            range(len(periods)), fill_value=0.0).to_numpy()
    profit = out["revenue"] - out["cogs"] - out["service_cost"]
    out["profit"] = profit.where(bool(cost) & (out["cost_missing"] == 0))
    return out[["month", "revenue", "profit", "lines", "cost_missing"]]


def _per_period(values: np.ndarray, groups: pd.Series, periods: int) -> np.ndarray:
    """Sums of ``values`` (NaN left out) by period position, 0 for a period without rows."""
    return pd.Series(values).groupby(groups).sum().reindex(range(periods),
                                                           fill_value=0).to_numpy()


def _period_index(times: pd.Series, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The position of each time's period in ``starts``/``ends``, -1 outside them."""
    values = pd.to_datetime(times).to_numpy().astype("datetime64[ns]")
    idx = np.searchsorted(starts, values, side="right") - 1
    ok = (idx >= 0) & ~np.isnat(values)
    ok[ok] = values[ok] < ends[idx[ok]]
    return np.where(ok, idx, -1)


def totals_estimates(totals: Mapping[str, Any], n: int | None, supplied: Supplied
                     ) -> dict[str, Estimate]:
    """Revenue and (where cost was supplied) profit of one period as Estimates."""
    lines = int(totals.get("lines", 0) or 0)
    out = {"revenue": Estimate(float(totals["revenue"]), n=n, unit="currency",
                               method=(f"net revenue: every kept transaction line of the "
                                       f"period ({lines:,} lines, sales minus returns); equals "
                                       "the ledger's kept revenue for the period"))}
    if supplied.cost:
        profit = text.finite(totals.get("profit"))
        service = ("minus the service cost of the interactions opened in the period"
                   if supplied.service_cost else "(no service costs supplied)")
        if profit is None:
            gaps = int(totals.get("cost_missing", 0) or 0)
            out["profit"] = missing(f"cost of goods is missing on {gaps:,} line(s) of the "
                                    "period", "currency", n)
        else:
            out["profit"] = Estimate(profit, n=n, unit="currency",
                                     method=f"net revenue minus cost of goods {service}")
    return out


def totals_from_features(features: pd.DataFrame) -> dict[str, float]:
    """Revenue and profit summed over every customer of ``features`` (buyers or not):
    the company totals when no transaction table is at hand (tests, hand-made frames)."""
    profit = features["profit"]
    return {"revenue": float(features["revenue"].sum()),
            "profit": float(profit.sum()) if profit.notna().all() else float("nan"),
            "lines": 0, "cost_missing": int(profit.isna().sum())}


# -- customer KPIs of a period -----------------------------------------------------------


def top_basis_values(buyers: pd.DataFrame, supplied: Supplied) -> pd.Series | None:
    """The values the top-20% share ranks: buyers' profit where cost was supplied (None
    when a buyer's profit is unknown), their revenue otherwise."""
    if supplied.basis == "revenue":
        return buyers["revenue"]
    profit = buyers["profit"]
    return None if profit.isna().any() else profit


def supplied_from_features(features: pd.DataFrame) -> Supplied:
    """What a features frame shows was supplied (cost: some profit is known)."""
    service = "service_cost" in features and bool(features["service_cost"].notna().any())
    return Supplied(cost=bool(features["profit"].notna().any()), service_cost=service)


def period_kpis(features: pd.DataFrame, period: str, *, surveys: pd.DataFrame | None = None,
                start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                n_boot: int = 1000, seed: int = 0, totals: Mapping[str, Any] | None = None,
                supplied: Supplied | None = None) -> PeriodKPIs:
    """The KPIs of one period from its customer features (``ctx.features(start, end)``)
    and the company's totals of the period (:func:`period_totals`; default: summed over
    every customer of ``features``)."""
    check_features(features)
    f = features
    supplied = supplied or supplied_from_features(f)
    buyers = f[f["orders"] > 0]
    totals = totals if totals is not None else totals_from_features(f)
    top_values = top_basis_values(buyers, supplied)
    days = supplied.churn_days
    values = {
        "customers": count_estimate(f["orders"] > 0, "customers with a purchase in the period"),
        "active": count_estimate(f["active"], f"customers with a purchase in the {days} days "
                                              "before the period end"),
        "new": count_estimate(f["new"], "customers whose first purchase is in the period"),
        "churned": count_estimate(f["churned"], f"active at the start, no purchase for {days} "
                                                "days at the end (a lagging count)"),
        **totals_estimates(totals, len(f), supplied),
        "top20_share": (top_share_estimate(top_values, 0.2, n_boot, seed, supplied.basis)
                        if top_values is not None else
                        missing("cost of goods is missing for some buying customers",
                                "share", len(buyers))),
        "churn_rate": churn_rate(f),
        "satisfaction": satisfaction_estimate(f, surveys, start, end),
    }
    return PeriodKPIs(period, values)


# -- subscriptions -----------------------------------------------------------------------


SNAPSHOT_NOTE = ("The subscriptions come from a snapshot export: departures are recorded "
                 "only at the snapshot, so subscriber figures of earlier months are not "
                 "shown and there is no comparison with the previous month.")
NO_DEPARTURE_DATES = ("a snapshot export records no dates of departure (its churn flag is "
                      "read as durations by tenure, see the subscriptions section)")


def snapshot_reading_of(subscriptions: pd.DataFrame, as_of) -> str | None:
    """How the subscriptions section reads the table: None for a history of subscriptions,
    "last month" or "durations" for a snapshot export
    (:func:`analysis.analyses.subscriptions.observed.snapshot_reading`)."""
    from analysis.analyses.subscriptions.observed import snapshot_reading

    ends = (pd.to_datetime(subscriptions["end"]) if "end" in subscriptions
            else pd.Series(pd.NaT, index=subscriptions.index))
    return snapshot_reading(pd.DataFrame({"end": ends, "churned": ends.notna()}),
                            pd.Timestamp(as_of))


def subscription_kpis(subscriptions: pd.DataFrame, period: str, start: pd.Timestamp,
                      end: pd.Timestamp, reading: str | None = None) -> PeriodKPIs:
    """Subscribers at the end, new, cancelled, the cancellation rate (of those active at
    the start, Wilson interval) and recurring revenue (where charges were supplied) of the
    period [start, end), from the subscriptions table (contract columns). ``reading``
    "durations" (a snapshot whose churn flag has no date): no cancellation figures."""
    flags = subscription_flags(subscriptions, pd.Timestamp(start), pd.Timestamp(end))
    n = len(subscriptions)
    at_start = int(flags["at_start"].sum())
    cancelled = int((flags["cancelled"] & flags["at_start"]).sum())
    values = {
        "subscribers": Estimate(int(flags["at_end"].sum()), n=n, unit="customers",
                                method="subscriptions started before the period end and "
                                       "not ended by it"),
        "subscribers_new": Estimate(int(flags["new"].sum()), n=n, unit="customers",
                                    method="subscriptions started in the period"),
        "cancelled": Estimate(int(flags["cancelled"].sum()), n=n, unit="customers",
                              method="subscriptions that ended in the period"),
        "cancellation_rate": (Estimate.wilson_share(cancelled, at_start,
                                                    "cancelled / active at the start; Wilson "
                                                    "95% interval")
                              if at_start else missing("no subscriber was active at the "
                                                       "start of the period", "share", 0)),
    }
    if reading == "durations":
        values["cancelled"] = missing(NO_DEPARTURE_DATES, "customers")
        values["cancellation_rate"] = missing(NO_DEPARTURE_DATES, "share")
    charge = (pd.to_numeric(subscriptions["recurring_charge"], errors="coerce")
              if "recurring_charge" in subscriptions else None)
    if charge is not None and charge.notna().any():
        active = charge[flags["at_end"].to_numpy()]
        values["recurring_revenue"] = (
            Estimate(float(active.sum()), n=int(len(active)), unit="currency",
                     method="sum of the monthly charges of the subscribers active at the end")
            if active.notna().all() else
            missing(f"the charge is missing for {int(active.isna().sum()):,} active "
                    "subscriber(s)", "currency", int(len(active))))
    return PeriodKPIs(period, values)


def subscription_flags(subscriptions: pd.DataFrame, start: pd.Timestamp,
                       end: pd.Timestamp) -> pd.DataFrame:
    """Per subscription: active at the start, active at the end, new, cancelled."""
    began = pd.to_datetime(subscriptions["start"])
    ended = pd.to_datetime(subscriptions["end"]) if "end" in subscriptions else pd.Series(
        pd.NaT, index=subscriptions.index)
    open_at = lambda t: (began < t) & (ended.isna() | (ended >= t))  # noqa: E731
    return pd.DataFrame({
        "at_start": open_at(start), "at_end": open_at(end),
        "new": (began >= start) & (began < end),
        "cancelled": ended.notna() & (ended >= start) & (ended < end),
    })


def subscription_trend(subscriptions: pd.DataFrame, periods: Sequence,
                       reading: str | None = None) -> pd.DataFrame:
    """The subscription KPIs (points, no intervals) for every period, for trend charts."""
    rows = []
    for p in periods:
        values = subscription_kpis(subscriptions, p.label, p.start, p.end, reading).values
        rows.append({"month": p.label, **{k: (np.nan if e.value is None else e.value)
                                          for k, e in values.items()}})
    return pd.DataFrame(rows)


# -- from the sections -------------------------------------------------------------------


def annual_churn_estimate(sections: Mapping[str, Mapping[str, Any]] | None,
                          failed: Iterable[str] = ()) -> Estimate:
    """The share of customers lost within a year as the churn (or value, or subscriptions)
    section reported it (the figure claim C11 is judged on), read from its results, never
    recomputed here. ``failed``: names of sections that failed, for the reason."""
    sections = sections or {}
    unsure = None
    for section, key in ANNUAL_CHURN_SOURCES:
        found = (sections.get(section, {}).get("headlines") or {}).get(key)
        if not found or text.finite(found.get("value")) is None:
            continue
        if not text.has_interval(found.get("low"), found.get("high")):
            unsure = unsure or (section, found)   # a figure without an interval: not shown
            continue
        return Estimate(float(found["value"]), float(found["low"]), float(found["high"]),
                        found.get("n"),
                        f"{found.get('method', '')} (from the {SECTION_NAMES[section]} "
                        "section)".strip(),
                        unit="share")
    if unsure is not None:
        section, found = unsure
        method = found.get("method") or ""
        why = ("not identifiable from these data" if "not identifiable" in method
               else "the model gave no interval")
        return missing(f"{why} (the {SECTION_NAMES[section]} section says why)", "share",
                       found.get("n"))
    failed = [s for s in failed if s]
    if failed:
        names = ", ".join(f"\u201c{name}\u201d" for name in failed)
        return missing(f"section {names} failed", "share")
    return missing("no section gave a model-based annual churn figure for this period",
                   "share")


# -- the report --------------------------------------------------------------------------


def change_estimate(name: str, current: Estimate, previous: Estimate | None) -> Estimate | None:
    """Current minus previous; for rates a normal-approximation 95% interval."""
    if previous is None or text.finite(current.value) is None \
            or text.finite(previous.value) is None:
        return None
    diff = float(current.value) - float(previous.value)
    if name in RATE_KPIS and text.has_interval(current.low, current.high) \
            and text.has_interval(previous.low, previous.high):
        se = math.hypot((current.high - current.low) / (2 * Z95),
                        (previous.high - previous.low) / (2 * Z95))
        return Estimate(diff, diff - Z95 * se, diff + Z95 * se, n=current.n,
                        method="difference; normal approximation from both intervals, periods "
                               "treated as independent", unit=current.unit)
    return Estimate(diff, n=current.n, method="difference of census values", unit=current.unit)


def compare_kpis(current: PeriodKPIs, previous: PeriodKPIs | None,
                 labels: Mapping[str, str] | None = None, notes: Sequence[str] = ()
                 ) -> KPIReport:
    changes = []
    for name, estimate in current.values.items():
        before = previous.values.get(name) if previous else None
        change = change_estimate(name, estimate, before)
        relative = None
        if change is not None and before is not None and before.value not in (None, 0):
            relative = change.value / abs(before.value)
        changes.append(KPIChange(name, estimate, before, change, relative))
    return KPIReport(current.period, previous.period if previous else None, current, previous,
                     tuple(changes), dict(labels or KPI_LABELS), tuple(notes))


def kpi_notes(supplied: Supplied) -> tuple[str, ...]:
    """What the KPI table leaves out for this company, and why, in plain words."""
    notes = []
    if not supplied.transactions:
        notes.append("Buying customers, net revenue, the top-20% share and the lapse "
                     f"figures are {NOT_FOR_SUBSCRIPTIONS}: they need purchase records.")
    elif not supplied.cost:
        notes.append(f"There is no profit figure: {NO_COST}. Figures are based on revenue.")
    return tuple(notes)


def kpis_for_context(ctx, n_boot: int = 1000, seed: int | None = None,
                     sections: Mapping[str, Mapping[str, Any]] | None = None,
                     failed: Iterable[str] = ()) -> KPIReport:
    """KPIs of the context's period and the previous one (if the data reach back that
    far). ``sections`` (``results.read_sections``) give the model-based annual churn;
    ``failed``: the names of sections that failed (said where that figure is missing)."""
    seed = ctx.settings.seed if seed is None else seed
    supplied = Supplied.from_context(ctx)
    period = ctx.period
    prev = period.previous()
    has_previous = prev.end > ctx.data_start
    current: dict[str, Estimate] = {}
    before: dict[str, Estimate] = {}
    if supplied.transactions:
        totals = period_totals(ctx.daily_lines(), ctx.data.interactions,
                               [prev, period] if has_previous else [period], supplied.cost)
        rows = totals.to_dict("records")
        current.update(shop_kpis(ctx, period, rows[-1], supplied, n_boot, seed).values)
        if has_previous:
            before.update(shop_kpis(ctx, prev, rows[0], supplied, n_boot, seed).values)
    notes = list(kpi_notes(supplied))
    if supplied.subscriptions and supplied.subscription_figures:
        subs = ctx.data.subscriptions
        reading = snapshot_reading_of(subs, period.end)
        current.update(subscription_kpis(subs, period.label, period.start, period.end,
                                         reading).values)
        if has_previous and reading is None:
            before.update(subscription_kpis(subs, prev.label, prev.start, prev.end).values)
        if reading is not None:
            notes.append(SNAPSHOT_NOTE)
        for name in LAPSE_KPIS:   # leaving is observed: cancellations
            current.pop(name, None)
            before.pop(name, None)
    current["annual_churn"] = annual_churn_estimate(sections, failed)
    if not supplied.transactions:
        current["satisfaction"] = satisfaction_estimate(
            pd.DataFrame(), ctx.data.surveys, period.start, period.end)
    current = {k: current[k] for k in sorted(current, key=kpi_order)}
    return compare_kpis(PeriodKPIs(period.label, current),
                        PeriodKPIs(prev.label, before) if before else None,
                        kpi_labels(supplied), notes)


#: the order of the KPI table
KPI_ORDER = (*SHOP_KPIS, *SUBSCRIPTION_KPIS, "annual_churn", "satisfaction")


def kpi_order(name: str) -> int:
    return KPI_ORDER.index(name) if name in KPI_ORDER else len(KPI_ORDER)


def shop_kpis(ctx, period, totals: Mapping[str, Any], supplied: Supplied, n_boot: int,
              seed: int) -> PeriodKPIs:
    features = ctx.features(period.start, period.end)
    return period_kpis(features, period.label, surveys=ctx.data.surveys, start=period.start,
                       end=period.end, n_boot=n_boot, seed=seed, totals=totals,
                       supplied=supplied)


TREND_COLUMNS = REQUIRED_COLUMNS + ("month",)


def kpi_trend_for_context(ctx) -> pd.DataFrame:
    """:func:`kpi_trend` of the context: customer KPIs from the panel (reading only the
    columns it needs), revenue and profit from :func:`period_totals` (the KPI table's
    definitions); the subscription KPIs for a subscription company."""
    supplied = Supplied.from_context(ctx)
    periods = ctx.periods()
    frames = []
    if supplied.transactions:
        totals = period_totals(ctx.daily_lines(), ctx.data.interactions, periods,
                               supplied.cost)
        frames.append(kpi_trend(ctx.panel(TREND_COLUMNS), totals, supplied))
    if supplied.subscriptions and supplied.subscription_figures:
        table = ctx.data.subscriptions
        reading = snapshot_reading_of(table, ctx.period.end)
        # a snapshot records departures at the snapshot only: no earlier months
        subs = subscription_trend(table, periods if reading is None else periods[-1:],
                                  reading)
        if frames:
            shop = frames.pop().drop(columns=list(LAPSE_KPIS), errors="ignore")
            subs = shop.merge(subs, on="month", how="outer")
        frames.append(subs)
    if not frames:
        return pd.DataFrame({"month": [p.label for p in periods]})
    return frames[0].sort_values("month").reset_index(drop=True)


def kpi_trend(panel: pd.DataFrame, totals: pd.DataFrame | None = None,
              supplied: Supplied | None = None) -> pd.DataFrame:
    """Point KPIs for every month (no intervals; for trend charts), with the KPI table's
    definitions: customer counts, rates and the top-20% share from the panel
    (``ctx.panel()``); revenue and profit from ``totals`` (:func:`period_totals`; default:
    summed over the panel's rows). No profit column where cost was not supplied."""
    check_features(panel, TREND_COLUMNS)
    supplied = supplied or supplied_from_features(panel)

    def one(part: pd.DataFrame) -> pd.Series:
        buyers = part[part["orders"] > 0]
        at_risk = part["active_at_start"].astype(bool)
        values = top_basis_values(buyers, supplied)
        top = None if values is None else top_share(values.to_numpy(float))
        # revenue and profit come from ``totals`` when given (merged in below)
        sums = (totals_from_features(part) if totals is None
                else {"revenue": np.nan, "profit": np.nan})
        return pd.Series({
            "customers": int(len(buyers)),
            "active": int(part["active"].astype(bool).sum()),
            "new": int(part["new"].astype(bool).sum()),
            "churned": int(part["churned"].astype(bool).sum()),
            "revenue": sums["revenue"],
            "profit": sums["profit"],
            "top20_share": np.nan if top is None else top,
            "churn_rate": (float(part.loc[at_risk, "churned"].astype(bool).mean())
                           if at_risk.any() else np.nan),
        })

    rows = {month: one(part) for month, part in panel.groupby("month", sort=True)}
    columns = ["month", "customers", "active", "new", "churned", "revenue", "profit",
               "top20_share", "churn_rate"]
    frame = (pd.DataFrame.from_dict(rows, orient="index").rename_axis("month").reset_index()
             if rows else pd.DataFrame(columns=columns))
    if totals is not None:
        frame = (totals[["month", "revenue", "profit"]]
                 .merge(frame.drop(columns=["revenue", "profit"]), on="month", how="left"))
    counts = ["customers", "active", "new", "churned"]
    frame[counts] = frame[counts].fillna(0).astype(int)
    if not supplied.cost:
        frame = frame.drop(columns=["profit"])
    return frame[[c for c in columns if c in frame]]


# -- reader text -------------------------------------------------------------------------


def kpi_kind(name: str) -> str:
    if name in SHARE_KPIS:
        return "share"
    if name in MONEY_KPIS:
        return "money"
    if name == "satisfaction":
        return "score"
    return "count"


def format_kpi(name: str, value: Any) -> str:
    """A KPI's value as the KPI table, the summary, the charts and the index show it."""
    kind = kpi_kind(name)
    if text.finite(value) is None:
        return NOT_AVAILABLE
    if kind == "share":
        return text.pct(value)
    if kind == "money":
        return f"{float(value):,.0f}"
    if kind == "score":
        return f"{float(value):.2f}"
    return text.count(value)


def format_estimate(name: str, e: Estimate) -> str:
    """The value, or why it is not available."""
    if text.finite(e.value) is not None:
        return format_kpi(name, e.value)
    method = e.method or ""
    return method if method.startswith(NOT_AVAILABLE) else NOT_AVAILABLE


def format_interval(name: str, e: Estimate) -> str:
    if not text.has_interval(e.low, e.high):
        return ""
    return f"{format_kpi(name, e.low)} to {format_kpi(name, e.high)}"


def format_change(name: str, change: Estimate | None) -> str:
    if change is None or text.finite(change.value) is None:
        return ""
    v = change.value
    spread = text.has_interval(change.low, change.high)
    if kpi_kind(name) == "share":
        out = f"{100 * v:+.1f} pts"
        if spread:
            out += f" (95% interval {100 * change.low:+.1f} to {100 * change.high:+.1f})"
        return out
    if name == "satisfaction":
        out = f"{v:+.2f}"
        if spread:
            out += f" (95% interval {change.low:+.2f} to {change.high:+.2f})"
        return out
    return f"{v:+,.0f}"
