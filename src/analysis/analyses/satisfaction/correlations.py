"""Satisfaction and profit: indicators, correlations with intervals, regressions.

Everything here is an *association* measured on observational data: satisfied
customers may buy more, or customers who buy more may be happier, or both may
follow from a third thing (size, tenure, product mix). Controls and partial
correlations remove the confounders we can see, not the ones we cannot.

Conventions
- Satisfaction effects are stated per point of the declared scale and per
  "+5 percentage points of the scale range" (:func:`five_points`): 0.2 points on
  CSAT 1-5, 0.5 points on NPS 0-10.
- Correlation intervals use Fisher's z: standard error ``1/sqrt(n-3-k)`` for
  Pearson and the Bonett-Wright ``sqrt((1 + r^2/2)/(n-3-k))`` for Spearman, with
  ``k`` partialled-out controls. Partial correlations residualise (the ranks of)
  both variables on (the ranks of) the controls.
- Multiple testing: Holm's step-down method (``statsmodels.stats.multitest``)
  over every pair in one table, separately for marginal and partial correlations.

Claims C7-C10 and C12 are assembled from these pieces in
:mod:`analysis.analyses.satisfaction`.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.analyses.satisfaction.indicators import (
    CORRECTION,
    DEFAULT_CONTROLS,
    PROFIT_INDICATORS,
    SATISFACTION_INDICATORS,
    as_float,
    require_columns,
    with_derived,
)
from analysis.core.multitest import holm

# ----------------------------------------------------------------------------- correlations


@dataclasses.dataclass(frozen=True)
class Correlation:
    """One correlation with its Fisher-z interval and p-value."""

    x: str
    y: str
    method: str
    r: float
    low: float
    high: float
    p: float
    n: int
    controls: tuple[str, ...] = ()
    level: float = 0.95

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def _repr_html_(self) -> str:
        part = f" | {', '.join(self.controls)}" if self.controls else ""
        return (f"<code>{html.escape(self.method)} r({self.x}, {self.y}{part}) = {self.r:.3f} "
                f"[{self.low:.3f}, {self.high:.3f}], p={self.p:.3g}, n={self.n:,}</code>")


def _ranks(a: np.ndarray) -> np.ndarray:
    return stats.rankdata(a, axis=0) if a.ndim > 1 else stats.rankdata(a)


def _residualise(values: np.ndarray, design: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coef


def correlation(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                method: str = "spearman", controls: np.ndarray | None = None,
                level: float = 0.95, names: tuple[str, str] = ("x", "y"),
                control_names: tuple[str, ...] = ()) -> Correlation:
    """Pearson or Spearman correlation (optionally partial) with a Fisher-z interval.

    Rows with a missing value in x, y or any control are dropped. Spearman works on
    average ranks; the partial version correlates the residuals of the ranks of x
    and y after a least-squares fit on the ranks of the controls.
    """
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be one-dimensional and of the same length")
    z = np.empty((len(xa), 0)) if controls is None else np.asarray(controls, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    keep = np.isfinite(xa) & np.isfinite(ya) & np.isfinite(z).all(axis=1)
    xa, ya, z = xa[keep], ya[keep], z[keep]
    n, k = len(xa), z.shape[1]
    nan = Correlation(names[0], names[1], method, np.nan, np.nan, np.nan, np.nan, n,
                      tuple(control_names), level)
    if n - k < 5 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return nan
    if method == "spearman":
        xa, ya = _ranks(xa), _ranks(ya)
        z = _ranks(z) if k else z
    design = np.column_stack([np.ones(n), z])
    rx, ry = _residualise(xa, design), _residualise(ya, design)
    if np.allclose(rx, 0) or np.allclose(ry, 0):
        return nan
    r = float(np.clip(np.corrcoef(rx, ry)[0, 1], -0.999999, 0.999999))
    dof = n - 2 - k
    t = r * np.sqrt(dof / (1 - r**2))
    p = float(2 * stats.t.sf(abs(t), dof))
    se = np.sqrt((1 + r**2 / 2) / (n - 3 - k)) if method == "spearman" else 1 / np.sqrt(n - 3 - k)
    q = stats.norm.ppf(0.5 + level / 2)
    low, high = np.tanh(np.arctanh(r) - q * se), np.tanh(np.arctanh(r) + q * se)
    return Correlation(names[0], names[1], method, r, float(low), float(high), p, n,
                       tuple(control_names), level)


@dataclasses.dataclass(frozen=True)
class CorrelationTable:
    """Satisfaction x profit correlations, marginal and partial, with Holm-adjusted p-values.

    ``summary`` has one row per (satisfaction indicator, profit indicator) pair:
    n, r, low, high, p, p_adj, significant, and the same for the partial
    correlation (prefixed ``partial_``), plus the expected sign and whether the
    pair moves with profit as the folk claim says (significant after correction,
    in the expected direction).
    """

    summary: pd.DataFrame
    method: str
    controls: tuple[str, ...]
    correction: str
    level: str
    alpha: float = 0.05

    @property
    def n_tests(self) -> int:
        return int(self.summary["p"].notna().sum())

    def _repr_html_(self) -> str:
        cols = ["satisfaction", "profit", "n", "r", "low", "high", "p_adj", "partial_r",
                "partial_p_adj", "moves_with_profit"]
        return self.summary[[c for c in cols if c in self.summary]].to_html(
            index=False, float_format=lambda v: f"{v:.3g}")


def _adjust(p: pd.Series, alpha: float) -> tuple[pd.Series, pd.Series]:
    mask = p.notna()
    adjusted = pd.Series(np.nan, index=p.index)
    reject = pd.Series(False, index=p.index)
    if mask.any():
        rej, padj, *_ = holm(p[mask].to_numpy(), alpha)
        adjusted[mask], reject[mask] = padj, rej
    return adjusted, reject


def correlation_table(features: pd.DataFrame,
                      satisfaction: Sequence[str] | None = None,
                      profit: Sequence[str] | None = None,
                      controls: Sequence[str] = DEFAULT_CONTROLS,
                      method: str = "spearman", alpha: float = 0.05, level: float = 0.95,
                      level_name: str = "customer") -> CorrelationTable:
    """Correlate every satisfaction indicator with every profit indicator.

    Columns absent from the frame or entirely missing are skipped (so the table
    shows what the data can speak to). Controls are log-free for Spearman (ranks
    are invariant); pass ``controls=()`` for no partial correlations.
    """
    frame = with_derived(features)
    default = [c for c in SATISFACTION_INDICATORS if c != "nps" or level_name != "customer"]
    sat = [c for c in (satisfaction or default) if c in frame
           and np.isfinite(as_float(frame[c])).any()]
    prof = [c for c in (profit or PROFIT_INDICATORS) if c in frame
            and np.isfinite(as_float(frame[c])).any()]
    require_columns(frame, list(controls), "correlation_table controls")
    z = np.column_stack([as_float(frame[c]) for c in controls]) if controls else None
    rows = []
    for s in sat:
        xs = as_float(frame[s])
        for pcol in prof:
            if s == pcol:
                continue
            ys = as_float(frame[pcol])
            marginal = correlation(xs, ys, method, level=level, names=(s, pcol))
            row = {"satisfaction": s, "profit": pcol,
                   "satisfaction_label": SATISFACTION_INDICATORS.get(s, (s, 0))[0],
                   "profit_label": PROFIT_INDICATORS.get(pcol, pcol),
                   "expected_sign": SATISFACTION_INDICATORS.get(s, (s, 0))[1],
                   "n": marginal.n, "r": marginal.r, "low": marginal.low,
                   "high": marginal.high, "p": marginal.p}
            if z is not None:
                part = correlation(xs, ys, method, controls=z, level=level, names=(s, pcol),
                                   control_names=tuple(controls))
                row.update(partial_n=part.n, partial_r=part.r, partial_low=part.low,
                           partial_high=part.high, partial_p=part.p)
            rows.append(row)
    summary = pd.DataFrame(rows)
    if summary.empty:
        raise ValueError("no satisfaction indicator and profit indicator are both known for "
                         "enough customers to correlate them")
    summary["p_adj"], summary["significant"] = _adjust(summary["p"], alpha)
    r_col, sig_col = "r", "significant"
    if z is not None:
        summary["partial_p_adj"], summary["partial_significant"] = _adjust(
            summary["partial_p"], alpha)
        r_col, sig_col = "partial_r", "partial_significant"
    summary["moves_with_profit"] = summary[sig_col] & (
        np.sign(summary[r_col]) == summary["expected_sign"])
    return CorrelationTable(summary, method, tuple(controls), CORRECTION, level_name, alpha)


# ------------------------------------------------------------------------ period / segment level

GROUP_MEASURES = ("satisfaction_latest", "top_box", "would_recommend", "nps", "complaint_rate",
                  "return_rate", "median_response_hours", "promo_share", "avg_order_value",
                  "revenue", "gross_margin", "profit", "repurchase_next", "retained")
#: the panel columns the month-level analyses read: :func:`period_effect`, and
#: :func:`group_correlation_table` by month (the measures and the inputs of the derived ones)
MONTH_LEVEL_COLUMNS = ("month", "orders", "satisfaction_latest", "top_box", "would_recommend",
                       "complaints_total", "orders_total", "return_rate",
                       "median_response_hours", "promo_share", "avg_order_value", "revenue",
                       "gross_margin", "profit", "repurchase_next", "active_at_start",
                       "churned")


def group_indicators(features: pd.DataFrame, by: str | Sequence[str],
                     min_customers: int = 20) -> pd.DataFrame:
    """Mean of each indicator per group (e.g. month, or market type x month).

    Boolean indicators become shares; profit columns become per-customer means.
    Groups with fewer than ``min_customers`` customers are dropped.
    """
    keys = [by] if isinstance(by, str) else list(by)
    frame = with_derived(features)
    require_columns(frame, keys, "group_indicators")
    cols = [c for c in GROUP_MEASURES if c in frame]
    numeric = pd.DataFrame({c: as_float(frame[c]) for c in cols}, index=frame.index)
    numeric[keys] = frame[keys]
    grouped = numeric.groupby(keys, observed=True, dropna=True)
    out = grouped[cols].mean()
    out["customers"] = grouped.size()
    return out[out["customers"] >= min_customers].reset_index()


def group_correlation_table(features: pd.DataFrame, by: str | Sequence[str],
                            method: str = "spearman", alpha: float = 0.05,
                            min_customers: int = 20) -> CorrelationTable:
    """Correlations between group means (periods or segments); n = number of groups.

    Group-level correlations answer "in months (segments) where satisfaction was
    higher, was profit per customer higher?" They are ecological: they need not
    hold for individual customers, and consecutive months are not independent.
    """
    groups = group_indicators(features, by, min_customers)
    name = by if isinstance(by, str) else " x ".join(by)
    return correlation_table(groups, controls=(), method=method, alpha=alpha,
                             level_name=f"{name} level")


def correlation_finding(table: CorrelationTable, profit: str = "profit") -> str:
    """One sentence for a chart title: how many indicators move with profit."""
    rows = table.summary[table.summary["profit"] == profit]
    if rows.empty:
        rows = table.summary
    k, m = int(rows["moves_with_profit"].sum()), int(rows["satisfaction"].nunique())
    label = PROFIT_INDICATORS.get(profit, profit).lower()
    return f"{k} of {m} satisfaction indicators move with {label} as expected"


def plot_correlation_heatmap(table: CorrelationTable, ax=None, partial: bool = True,
                             title: str | None = None):
    """Heatmap of r (partial when available); a star marks pairs significant after Holm."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from analysis.core.plots import finding

    use_partial = partial and "partial_r" in table.summary
    r_col = "partial_r" if use_partial else "r"
    sig_col = "partial_significant" if use_partial else "significant"
    s = table.summary
    values = s.pivot(index="satisfaction_label", columns="profit_label", values=r_col)
    stars = s.assign(text=[f"{r:.2f}{'*' if sig else ''}" if np.isfinite(r) else ""
                           for r, sig in zip(s[r_col], s[sig_col], strict=True)])
    labels = stars.pivot(index="satisfaction_label", columns="profit_label", values="text")
    order_rows = [v[0] for k, v in SATISFACTION_INDICATORS.items() if v[0] in values.index]
    order_cols = [v for v in PROFIT_INDICATORS.values() if v in values.columns]
    values, labels = values.loc[order_rows, order_cols], labels.loc[order_rows, order_cols]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 * len(order_cols) + 3, 0.5 * len(order_rows) + 1.5))
    limit = max(0.1, float(np.nanmax(np.abs(values.to_numpy()))))
    sns.heatmap(values, annot=labels.to_numpy(), fmt="", cmap="RdBu", vmin=-limit, vmax=limit,
                center=0, linewidths=0.5, cbar_kws={"label": f"{table.method} r"}, ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="x", rotation=20)
    kind = "partial (tenure, size) " if use_partial else ""
    finding(ax, title or correlation_finding(table),
            f"{table.method} {kind}correlations, {table.level}; * = significant after "
            f"{table.correction.title()} correction, n up to {int(s['n'].max()):,}")
    return ax
