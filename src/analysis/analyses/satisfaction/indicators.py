"""Satisfaction and profit indicators, the input checks every satisfaction analysis shares, and
the derived columns (complaint rate, NPS, retained).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.data.contract import Scale

CORRECTION = "holm"   # the method label of the tables (analysis.core.multitest.holm)

#: satisfaction-side indicators: column -> (label, sign expected if they "move with profit")
SATISFACTION_INDICATORS: dict[str, tuple[str, int]] = {
    "satisfaction_latest": ("Latest satisfaction score", +1),
    "satisfaction_mean": ("Mean satisfaction score", +1),
    "top_box": ("Top-box satisfied", +1),
    "would_recommend": ("Would recommend (0-10)", +1),
    "nps": ("Net promoter score", +1),
    "complaint_rate": ("Complaint rate (per purchase day)", -1),
    "return_rate": ("Return rate", -1),
    "median_response_hours": ("Median complaint response (h)", -1),
    "promo_share": ("Price sensitivity (promotion share)", -1),
    "avg_order_value": ("Single purchase amount", +1),
}

#: profit-side indicators: column -> label
PROFIT_INDICATORS: dict[str, str] = {
    "revenue": "Revenue",
    "gross_margin": "Gross margin",
    "profit": "Profit after service cost",
    "repurchase_next": "Repurchase next period",
    "retained": "Retained (not churned)",
    "clv": "Customer lifetime value",
}

#: controls for partial correlations: tenure and size (purchase days in history)
DEFAULT_CONTROLS: tuple[str, ...] = ("tenure_days", "orders_total")


# ----------------------------------------------------------------------------- input checks


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a ValueError naming the missing columns and the fix."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} needs a pandas DataFrame of customer features, "
                         f"got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} needs column(s) {missing} in the feature table; build it with "
            "ctx.features(...) (see docs/INTERFACES.md) or add the column(s)."
        )


def five_points(scale: Scale) -> float:
    """+5 percentage points of the scale range, in scale points (0.2 on CSAT 1-5)."""
    return 0.05 * (scale.high - scale.low)


def satisfaction_missing_reason(features: pd.DataFrame, column: str = "satisfaction_mean",
                                min_n: int = 30) -> str | None:
    """Why satisfaction cannot be analysed here, or None when it can."""
    if column not in features.columns:
        return f"the feature table has no '{column}' column (no surveys table supplied)"
    n = int(pd.to_numeric(features[column], errors="coerce").notna().sum())
    if n == 0:
        return "no customer has a satisfaction survey (surveys table absent or empty)"
    if n < min_n:
        return f"only {n} customers have a satisfaction survey (need at least {min_n})"
    return None


def interactions_missing_reason(features: pd.DataFrame, column: str) -> str | None:
    """Why a service-interaction column cannot be analysed, or None when it can."""
    if column not in features.columns or pd.to_numeric(features[column]).isna().all():
        return f"no interactions table supplied, so '{column}' is unknown"
    return None


def with_derived(features: pd.DataFrame) -> pd.DataFrame:
    """Add derived indicators when their inputs are present.

    ``retained``: not churned, among customers active at the window start (NaN otherwise).
    ``complaint_rate``: complaints in history per purchase day in history (a count of
    complaints alone grows with activity, so it is a rate here).
    ``nps``: +1 promoter (would recommend 9-10), -1 detractor (0-6), 0 passive; its
    mean over customers is the Net Promoter Score (as a share).
    """
    out = features.copy()
    if {"complaints_total", "orders_total"} <= set(out.columns):
        orders = as_float(out["orders_total"])
        out["complaint_rate"] = np.where(orders > 0, as_float(out["complaints_total"])
                                         / np.where(orders > 0, orders, 1), np.nan)
    if "would_recommend" in out.columns:
        rec = as_float(out["would_recommend"])
        out["nps"] = np.select([rec >= 9, rec <= 6], [1.0, -1.0], 0.0)
        out.loc[~np.isfinite(rec), "nps"] = np.nan
    if {"active_at_start", "churned"} <= set(out.columns):
        at_risk = out["active_at_start"].astype("boolean").fillna(False).to_numpy(bool)
        churned = out["churned"].astype("boolean").fillna(False).to_numpy(bool)
        out["retained"] = np.where(at_risk, (~churned).astype(float), np.nan)
    return out


def as_float(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.BooleanDtype) or series.dtype == bool:
        return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
