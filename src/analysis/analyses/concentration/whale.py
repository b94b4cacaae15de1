"""The whale curve (C2), profit by customer-size band (C6), the top-20% share by window length,
and the core-customer list.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.analyses.concentration.base import window_customers
from analysis.analyses.concentration.shares import (
    MIN_CUSTOMERS,
    _as_values,
    _run_statistics,
    concentration,
)
from analysis.core.results import Estimate

# -- whale curve and small customers ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WhaleCurve:
    """Cumulative profit by customer rank (most profitable first), as a share of total profit."""

    curve: pd.DataFrame
    peak: float
    peak_at: float
    unprofitable_share: Estimate
    profit_destroyed: float
    top28_share: float
    n: int

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([
            {"statistic": "peak of the whale curve (share of total profit)", "value": self.peak},
            {"statistic": "reached with this share of customers", "value": self.peak_at},
            {"statistic": "customers with negative profit", "value": self.unprofitable_share.value},
            {"statistic": "profit they destroy (share of total profit)",
             "value": self.profit_destroyed},
            {"statistic": "profit share of the top 28%", "value": self.top28_share},
        ])


def whale_curve(profit) -> WhaleCurve:
    p = np.sort(_as_values(profit, "profit"))[::-1]
    n = len(p)
    total = p.sum()
    if n == 0 or total <= 0:
        raise ValueError(f"profit: the whale curve needs a positive total profit (got "
                         f"{total:.2f} over {n} customers)")
    cum = np.concatenate([[0.0], np.cumsum(p)]) / total
    share = np.arange(n + 1) / n
    peak_index = int(np.argmax(cum))
    losers = int((p < 0).sum())
    return WhaleCurve(
        curve=pd.DataFrame({"customers": share, "profit": cum}),
        peak=float(cum[peak_index]), peak_at=float(share[peak_index]),
        unprofitable_share=Estimate.wilson_share(
            losers, n, "share of customers with profit < 0, Wilson interval"),
        profit_destroyed=float(-p[p < 0].sum() / total),
        top28_share=float(_run_statistics(np.ones((1, n)), p, [0.28]).shares[0, 0]),
        n=n,
    )


@dataclasses.dataclass(frozen=True)
class SizeBands:
    """Profit after service cost by customer-size band (revenue quintiles)."""

    table: pd.DataFrame
    smallest_mean_profit: Estimate
    smallest_unprofitable: Estimate

    def reader_table(self) -> pd.DataFrame:
        """The band table with readable headings and number formats."""
        t = self.table
        return pd.DataFrame({
            "size band (1 = smallest)": t["size_band"].astype(str),
            "customers": t["customers"].map("{:,}".format),
            "revenue": t["revenue"].map("{:,.0f}".format),
            "service cost": t["service_cost"].map("{:,.0f}".format),
            "profit": t["profit"].map("{:,.0f}".format),
            "profit per customer": t["mean_profit"].map("{:,.2f}".format),
            "loss-making customers": t["unprofitable_share"].map("{:.0%}".format),
        })


def size_bands(features: pd.DataFrame, bands: int = 5) -> SizeBands:
    """Customers in revenue bands (1 = smallest): revenue, service cost, profit, loss makers.

    Every row of ``features`` is a customer (pass the window's customers: buyers and the
    non-buyers who caused cost, :func:`~analysis.analyses.concentration.base.
    window_customers`); customers without revenue fall in the smallest band.
    """
    _require(features, ("revenue", "profit", "service_cost"), "size_bands")
    buyers = features[features["profit"].notna()]
    if len(buyers) < bands * 10:
        raise ValueError(f"only {len(buyers)} customers bought or caused cost in the window; "
                         f"the size bands need at least {bands * 10}")
    band = pd.qcut(buyers["revenue"].rank(method="first"), bands, labels=range(1, bands + 1))
    grouped = buyers.groupby(band, observed=True)
    table = pd.DataFrame({
        "customers": grouped.size(),
        "revenue": grouped["revenue"].sum(),
        "service_cost": grouped["service_cost"].sum(),
        "profit": grouped["profit"].sum(),
        "mean_profit": grouped["profit"].mean(),
        "unprofitable_share": grouped["profit"].apply(lambda s: float((s < 0).mean())),
    }).rename_axis("size_band").reset_index()
    small = buyers.loc[band == 1, "profit"].to_numpy(float)
    mean, se = small.mean(), small.std(ddof=1) / math.sqrt(len(small))
    if not se > 0:
        raise ValueError("every customer in the smallest size band has the same profit, so "
                         "its mean has no interval")
    from scipy import stats

    t = stats.t.ppf(0.975, len(small) - 1)
    losers = int((small < 0).sum())
    return SizeBands(
        table=table,
        smallest_mean_profit=Estimate(float(mean), float(mean - t * se), float(mean + t * se),
                                      len(small), "mean profit of the smallest revenue band, "
                                      "t interval", unit="currency"),
        smallest_unprofitable=Estimate.wilson_share(losers, len(small),
                                                    "share with profit < 0, Wilson interval"),
    )


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"{what}: the feature table lacks {missing}; build it with "
                         "ctx.features(...)")


# -- window length ----------------------------------------------------------------------------


def share_by_window(windows: Mapping[int, pd.DataFrame], measure: str = "revenue",
                    replicates: int = 500, seed: int = 0) -> pd.DataFrame:
    """Top-20% share of ``measure`` for windows of different length (months -> features).

    Two forces move the share with the window. Purchase noise: in a short window a
    customer's spend is a noisy sample of their value, which spreads customers apart and
    inflates the share. Selection: a short window only sees the customers who happened to
    buy, leaving out occasional small buyers, which deflates it. The chart shows which force
    wins in this company's data, so a one-month 80/20 figure is not over-read.
    """
    rows = []
    for months, features in sorted(windows.items()):
        if measure not in features:
            continue
        values = window_customers(features, measure)[measure].to_numpy(float)
        values = values[np.isfinite(values)]
        if measure == "revenue":
            values = np.clip(values, 0, None)
        if len(values) < MIN_CUSTOMERS or values.sum() <= 0:
            continue
        share = concentration(values, measure, (0.2,), replicates, seed).shares[0.2]
        rows.append({"months": months, "customers": len(values), "share": share.value,
                     "low": share.low, "high": share.high})
    return pd.DataFrame(rows, columns=["months", "customers", "share", "low", "high"])


# -- core customers -----------------------------------------------------------------------


def core_customers(current: pd.DataFrame, previous: pd.DataFrame | None = None,
                   share: float = 0.2, by: str = "profit") -> pd.DataFrame:
    """The top ``share`` of customers by ``by`` with tier, revenue, profit and trend."""
    _require(current, ("customer_id", "revenue", "profit"), "core_customers")
    buyers = current[current["orders"] > 0] if "orders" in current else current
    ranked = buyers.sort_values(by, ascending=False, kind="stable").reset_index(drop=True)
    n = len(ranked)
    top = ranked.head(max(1, math.ceil(share * n))).copy()
    rank_share = (np.arange(len(top)) + 1) / n
    top["tier"] = np.select([rank_share <= 0.01, rank_share <= 0.05, rank_share <= 0.10],
                            ["top 1%", "top 5%", "top 10%"], f"top {share:.0%}")
    columns = ["customer_id", "tier", "revenue", "profit"]
    if previous is None:
        return top[columns]
    columns += [f"{by}_previous", "trend"]
    if not _has_buyers(previous):
        # no earlier window in the data: growth is unknown, not "growing"
        top[f"{by}_previous"] = np.nan
        top["trend"] = UNKNOWN_TREND
        return top[columns]
    before = previous.set_index("customer_id")[by].astype(float)
    top[f"{by}_previous"] = top["customer_id"].map(before).astype(float).fillna(0.0)
    change = top[by] - top[f"{by}_previous"]
    top["trend"] = np.select([change > 0.1 * top[f"{by}_previous"].abs(),
                              change < -0.1 * top[f"{by}_previous"].abs()],
                             ["growing", "shrinking"], "stable")
    return top[columns]


#: the trend of a core customer when the data hold no earlier window
UNKNOWN_TREND = "unknown (no full earlier window)"


def _has_buyers(features: pd.DataFrame) -> bool:
    """Whether a feature table holds any purchase (an earlier window the data cover)."""
    if len(features) == 0:
        return False
    if "orders" in features:
        return bool((features["orders"].fillna(0) > 0).any())
    return True


def core_summary(core: pd.DataFrame) -> pd.DataFrame:
    """Customers, revenue and profit per tier of the core list (and growth where known)."""
    grouped = core.groupby("tier", sort=False)
    out = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(),
                        "profit": grouped["profit"].sum(min_count=1)})
    if out["profit"].isna().all():
        out = out.drop(columns="profit")   # profit unknown (no cost): not shown as 0
    if "trend" in core and (core["trend"] != UNKNOWN_TREND).any():
        out["growing"] = grouped["trend"].apply(lambda s: int((s == "growing").sum()))
        out["shrinking"] = grouped["trend"].apply(lambda s: int((s == "shrinking").sum()))
    elif "trend" in core:
        out["trend"] = UNKNOWN_TREND
    return out.reset_index()
