"""Period KPIs for the executive summary, and their change against the previous period.

Every KPI is an :class:`~analysis.core.results.Estimate` with its sample size. Counts and
totals are a census of the period (no sampling interval); rates and shares carry a
95% interval: Wilson for the churn rate, a customer bootstrap for the top-20% share,
a t interval for mean satisfaction.

    report = kpis_for_context(ctx)      # current vs previous period
    report.summary()                    # a small table for the notebook
    report.headlines()                  # {name: Estimate} for write_section
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.results import Estimate, to_jsonable

REQUIRED_COLUMNS = ("customer_id", "orders", "revenue", "profit", "active", "active_at_start",
                    "churned", "new")

KPI_LABELS = {
    "customers": "Customers who bought",
    "active": "Active customers at period end",
    "new": "New customers",
    "churned": "Customers lost (churned)",
    "revenue": "Revenue",
    "profit": "Profit after service cost",
    "top20_share": "Share of profit from top 20% of customers",
    "churn_rate": "Churn rate (of customers active at start)",
    "satisfaction": "Mean satisfaction score",
}
RATE_KPIS = ("top20_share", "churn_rate", "satisfaction")
Z95 = stats.norm.ppf(0.975)


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

    def headlines(self) -> dict[str, Estimate]:
        """The current KPIs plus their changes (``<name>_change``) for write_section."""
        out = dict(self.current.values)
        for c in self.changes:
            if c.change is not None:
                out[f"{c.name}_change"] = c.change
        return out

    def to_json(self) -> dict:
        """The KPIs in the shape of results.json (see results_schema.json, ``kpis``)."""
        return to_jsonable({
            "period": self.period,
            "previous_period": self.previous_period,
            "current": dict(self.current.values),
            "previous": dict(self.previous.values) if self.previous else None,
            "change": {c.name: c.change for c in self.changes},
            "relative_change": {c.name: c.relative for c in self.changes},
        })

    def summary(self) -> pd.DataFrame:
        rows = []
        for c in self.changes:
            rows.append({
                "KPI": KPI_LABELS.get(c.name, c.name),
                "this period": format_kpi(c.name, c.current.value),
                "95% interval": format_interval(c.name, c.current),
                "n": c.current.n,
                "previous period": format_kpi(c.name, c.previous.value if c.previous else None),
                "change": format_change(c.name, c.change),
                "change %": "" if c.relative is None else f"{100 * c.relative:+.1f}%",
            })
        frame = pd.DataFrame(rows)
        frame["n"] = frame["n"].map(lambda n: "" if n is None or pd.isna(n) else f"{int(n):,}")
        return frame

    def _repr_html_(self) -> str:
        title = html.escape(f"KPIs {self.period} vs {self.previous_period or 'n/a'}")
        return f"<h4>{title}</h4>" + self.summary().to_html(index=False, escape=True)


def check_features(features: pd.DataFrame, columns: tuple[str, ...] = REQUIRED_COLUMNS) -> None:
    """Raise a ValueError naming every missing feature column."""
    if not isinstance(features, pd.DataFrame):
        raise ValueError("kpis: features must be a pandas DataFrame from ctx.features()")
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(
            f"kpis: feature column(s) {missing} missing; pass the frame returned by "
            "ctx.features(start, end) (see docs/INTERFACES.md)"
        )


def count_estimate(mask: pd.Series, method: str) -> Estimate:
    """A census count (no sampling interval); n is the customers it was counted over."""
    return Estimate(int(mask.fillna(False).astype(bool).sum()), n=int(len(mask)), method=method,
                    unit="customers")


def total_estimate(values: pd.Series, n: int, method: str) -> Estimate:
    if values.isna().any():
        return Estimate(None, n=n, method=method + "; not available: cost data incomplete",
                        unit="currency")
    return Estimate(float(values.sum()), n=n, method=method, unit="currency")


def churn_rate(features: pd.DataFrame) -> Estimate:
    """Churned / active at start, with a Wilson 95% interval."""
    at_risk = features["active_at_start"].fillna(False).astype(bool)
    n = int(at_risk.sum())
    churned = int((features["churned"].fillna(False).astype(bool) & at_risk).sum())
    if n == 0:
        return Estimate(None, n=0, method="no customers active at period start", unit="share")
    return Estimate.wilson_share(churned, n, "churned / active at start; Wilson 95% interval")


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
        return Estimate(None, n=int(x.size), method=f"{method}: total {what} not positive",
                        unit="share")
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
    low, high = np.nanpercentile(boots, [2.5, 97.5])
    return Estimate(point, float(low), float(high), n=int(n), method=method, unit="share")


def mean_estimate(scores: pd.Series, method: str) -> Estimate:
    """Mean with a t 95% interval."""
    x = pd.to_numeric(scores, errors="coerce").dropna().to_numpy(dtype=float)
    if x.size == 0:
        return Estimate(None, n=0, method=method + "; no survey answers", unit="score")
    if x.size == 1:
        return Estimate(float(x[0]), n=1, method=method, unit="score")
    if np.ptp(x) == 0:  # all answers equal: no spread to build an interval from
        low = high = float(x.mean())
    else:
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
    if "satisfaction_latest" not in features.columns:
        return Estimate(None, n=0, method="no satisfaction data", unit="score")
    buyers = features[features["orders"] > 0]
    return mean_estimate(buyers["satisfaction_latest"],
                         "mean latest satisfaction score of buying customers")


def period_kpis(features: pd.DataFrame, period: str, *, surveys: pd.DataFrame | None = None,
                start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                n_boot: int = 1000, seed: int = 0) -> PeriodKPIs:
    """The KPIs of one period from its customer features (``ctx.features(start, end)``)."""
    check_features(features)
    f = features
    buyers = f[f["orders"] > 0]
    n_all = len(f)
    profit_known = not buyers["profit"].isna().any()
    top_values, what = (buyers["profit"], "profit") if profit_known else (buyers["revenue"],
                                                                          "revenue")
    values = {
        "customers": count_estimate(f["orders"] > 0, "customers with a purchase in the period"),
        "active": count_estimate(f["active"], "customers whose last purchase is within the "
                                              "churn window at period end"),
        "new": count_estimate(f["new"], "customers whose first purchase is in the period"),
        "churned": count_estimate(f["churned"], "active at start, inactive at end"),
        "revenue": total_estimate(buyers["revenue"], len(buyers), "net revenue in the period"),
        "profit": total_estimate(f["profit"], n_all, "gross margin minus service cost"),
        "top20_share": top_share_estimate(top_values, 0.2, n_boot, seed, what),
        "churn_rate": churn_rate(f),
        "satisfaction": satisfaction_estimate(f, surveys, start, end),
    }
    return PeriodKPIs(period, values)


def change_estimate(name: str, current: Estimate, previous: Estimate | None) -> Estimate | None:
    """Current minus previous; for rates a normal-approximation 95% interval."""
    if previous is None or current.value is None or previous.value is None:
        return None
    diff = float(current.value) - float(previous.value)
    if name in RATE_KPIS and None not in (current.low, current.high, previous.low, previous.high):
        se = math.hypot((current.high - current.low) / (2 * Z95),
                        (previous.high - previous.low) / (2 * Z95))
        return Estimate(diff, diff - Z95 * se, diff + Z95 * se, n=current.n,
                        method="difference; normal approximation from both intervals, periods "
                               "treated as independent", unit=current.unit)
    return Estimate(diff, n=current.n, method="difference of census values", unit=current.unit)


def compare_kpis(current: PeriodKPIs, previous: PeriodKPIs | None) -> KPIReport:
    changes = []
    for name, estimate in current.values.items():
        before = previous.values.get(name) if previous else None
        change = change_estimate(name, estimate, before)
        relative = None
        if change is not None and before is not None and before.value not in (None, 0):
            relative = change.value / abs(before.value)
        changes.append(KPIChange(name, estimate, before, change, relative))
    return KPIReport(current.period, previous.period if previous else None, current, previous,
                     tuple(changes))


def kpis_for_context(ctx, n_boot: int = 1000, seed: int | None = None) -> KPIReport:
    """KPIs of the context's period and the previous one (if the data reach back that far)."""
    seed = ctx.settings.seed if seed is None else seed
    period, surveys = ctx.period, ctx.data.surveys
    current = period_kpis(ctx.features(period.start, period.end), period.label, surveys=surveys,
                          start=period.start, end=period.end, n_boot=n_boot, seed=seed)
    prev = period.previous()
    previous = None
    if prev.end > ctx.data_start:
        previous = period_kpis(ctx.features(prev.start, prev.end), prev.label, surveys=surveys,
                               start=prev.start, end=prev.end, n_boot=n_boot, seed=seed)
    return compare_kpis(current, previous)


TREND_COLUMNS = REQUIRED_COLUMNS + ("month",)


def kpi_trend_for_context(ctx) -> pd.DataFrame:
    """:func:`kpi_trend` of the context's panel, reading only the columns it needs."""
    return kpi_trend(ctx.panel(TREND_COLUMNS))


def kpi_trend(panel: pd.DataFrame) -> pd.DataFrame:
    """Point KPIs for every month of ``ctx.panel()`` (no intervals; for trend charts)."""
    check_features(panel, TREND_COLUMNS)

    def one(part: pd.DataFrame) -> pd.Series:
        buyers = part[part["orders"] > 0]
        at_risk = part["active_at_start"].astype(bool)
        profit = buyers["profit"]
        top = top_share(profit.to_numpy(float)) if not profit.isna().any() else None
        return pd.Series({
            "customers": int(len(buyers)),
            "active": int(part["active"].astype(bool).sum()),
            "new": int(part["new"].astype(bool).sum()),
            "churned": int(part["churned"].astype(bool).sum()),
            "revenue": float(buyers["revenue"].sum()),
            "profit": float(profit.sum()) if not profit.isna().any() else np.nan,
            "top20_share": np.nan if top is None else top,
            "churn_rate": (float(part.loc[at_risk, "churned"].astype(bool).mean())
                           if at_risk.any() else np.nan),
        })

    rows = {month: one(part) for month, part in panel.groupby("month", sort=True)}
    frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("month").reset_index()
    counts = ["customers", "active", "new", "churned"]
    frame[counts] = frame[counts].astype(int)
    return frame


def format_kpi(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if name in ("top20_share", "churn_rate"):
        return f"{100 * value:.1f}%"
    if name in ("revenue", "profit"):
        return f"{value:,.0f}"
    if name == "satisfaction":
        return f"{value:.2f}"
    return f"{int(value):,}"


def format_interval(name: str, e: Estimate) -> str:
    if e.low is None or e.high is None:
        return ""
    return f"{format_kpi(name, e.low)} to {format_kpi(name, e.high)}"


def format_change(name: str, change: Estimate | None) -> str:
    if change is None or change.value is None:
        return "n/a"
    v = change.value
    if name in ("top20_share", "churn_rate"):
        text = f"{100 * v:+.1f} pts"
        if change.low is not None:
            text += f" [{100 * change.low:+.1f}, {100 * change.high:+.1f}]"
        return text
    if name == "satisfaction":
        text = f"{v:+.2f}"
        if change.low is not None:
            text += f" [{change.low:+.2f}, {change.high:+.2f}]"
        return text
    return f"{v:+,.0f}"
