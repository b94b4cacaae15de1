"""The inactivity count, kept as a cross-check of the model-based churn of a shop.

Its window is chosen from the data: a high percentile (default the 95th) of the gaps between
a customer's consecutive purchase days, so that a customer still buying at their usual pace
is rarely counted as lost. The count lags by construction: a departure is counted only a
window after the last purchase.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from analysis.core.results import Estimate


@dataclasses.dataclass(frozen=True)
class InactivityWindow:
    days: int
    percentile: float
    gaps: int                      # gaps between purchase days behind the percentile
    by_segment: pd.DataFrame       # segment, customers, gaps, window_days

    @property
    def lag_months(self) -> float:
        return self.days / (365.25 / 12)

    def text(self) -> str:
        return (f"no purchase for {self.days} days ({self.percentile:.0%} of the gaps between "
                f"a customer's purchases are shorter); a departure is counted only {self.days} "
                f"days after the last purchase, so this count runs about "
                f"{self.lag_months:.0f} months behind")


def inactivity_window(days: pd.DataFrame, segments: pd.Series | None = None,
                      percentile: float = 0.95, fallback: int = 180) -> InactivityWindow:
    """The window from the gaps between consecutive purchase days (``days`` from
    :func:`analysis.engine.rfm.purchase_days`), overall and by segment (``segments``: a
    customer_id -> segment series, e.g. market type). With fewer than 30 gaps the
    ``fallback`` (the configured rule) is used."""
    ordered = days.sort_values(["customer_id", "day"], kind="stable")
    same = ordered["customer_id"].to_numpy()[1:] == ordered["customer_id"].to_numpy()[:-1]
    step = np.diff(ordered["day"].to_numpy()).astype("timedelta64[D]").astype(float)
    gaps = pd.DataFrame({"customer_id": ordered["customer_id"].to_numpy()[1:][same],
                         "gap": step[same]})
    overall = (int(math.ceil(np.quantile(gaps["gap"], percentile))) if len(gaps) >= 30
               else int(fallback))
    rows = []
    if segments is not None and len(gaps):
        labelled = gaps.assign(segment=gaps["customer_id"].map(segments))
        for segment, part in labelled.dropna(subset=["segment"]).groupby("segment", sort=True):
            rows.append({"segment": segment, "customers": part["customer_id"].nunique(),
                         "gaps": len(part),
                         "window_days": (int(math.ceil(np.quantile(part["gap"], percentile)))
                                         if len(part) >= 30 else None)})
    return InactivityWindow(max(overall, 1), percentile, len(gaps),
                            pd.DataFrame(rows, columns=["segment", "customers", "gaps",
                                                        "window_days"]))


def inactivity_churn(days: pd.DataFrame, end, window_days: int, months: int = 12) -> Estimate:
    """Of the customers active ``months`` before ``end`` (a purchase in the window before
    then), the share with no purchase in the window before ``end`` (Wilson). ``days``: the
    purchase days (:func:`analysis.engine.rfm.purchase_days`; those from ``end`` on are
    left out)."""
    end = pd.Timestamp(end)
    start = end - pd.DateOffset(months=months)
    window = pd.Timedelta(days=window_days)
    days = days[days["day"] < end]
    before = days[days["day"] < start]
    last_before = before.groupby("customer_id", observed=True)["day"].max()
    active = last_before[last_before >= start - window].index
    recent = days.loc[days["day"] >= end - window, "customer_id"].unique()
    n = len(active)
    if n == 0:
        return Estimate(None, n=0, method=f"no customer was active {months} months before the "
                        "end of the data", unit="share")
    lost = int((~pd.Index(active).isin(recent)).sum())
    return Estimate.wilson_share(lost, n, f"customers active {months} months ago (a purchase "
                                 f"in the {window_days} days before) with no purchase in the "
                                 f"last {window_days} days, Wilson interval")
