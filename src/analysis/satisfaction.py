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
:mod:`analysis.satisfaction_claims`.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import special, stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.diagnostic import het_breuschpagan, linear_reset
from statsmodels.stats.outliers_influence import OLSInfluence

from analysis.contract import Scale
from analysis.multitest import holm
from analysis.results import Estimate

CORRECTION = "holm"   # the method label of the tables (analysis.multitest.holm)

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
        raise ValueError("correlation_table found no satisfaction/profit indicator pair with "
                         "data; check that the feature table has survey and profit columns")
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

    from analysis.plots import finding

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


# --------------------------------------------------------------------------- profit regression


@dataclasses.dataclass(frozen=True)
class RegressionChecks:
    """Assumption checks of an OLS fit, reported next to the estimate."""

    breusch_pagan_p: float      # small = heteroskedastic errors (hence HC3 standard errors)
    reset_p: float              # small = a linear term is not enough (curvature)
    jarque_bera_p: float        # small = non-normal residuals (fine for large n with HC3)
    max_cooks_distance: float
    influential_share: float    # share of rows with Cook's distance > 4/n
    coef_without_influential: float  # satisfaction coefficient refitted without them
    n: int

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([
            ("Constant spread (Breusch-Pagan p)", self.breusch_pagan_p,
             "robust HC3 errors used" if self.breusch_pagan_p < 0.05 else "ok"),
            ("Linearity (RESET p)", self.reset_p,
             "curvature: read as average slope" if self.reset_p < 0.05 else "ok"),
            ("Normal residuals (Jarque-Bera p)", self.jarque_bera_p,
             "heavy tails; intervals rely on large n" if self.jarque_bera_p < 0.05 else "ok"),
            ("Largest Cook's distance", self.max_cooks_distance, ""),
            ("Share influential (Cook's D > 4/n)", self.influential_share, ""),
            ("Satisfaction slope without influential rows", self.coef_without_influential, ""),
        ], columns=["check", "value", "reading"])


@dataclasses.dataclass(frozen=True)
class ProfitRegression:
    """OLS of an outcome on satisfaction with centred controls and HC3 errors.

    With every regressor centred, the intercept is the mean outcome, so the
    relative effect of ``delta`` points is ``b * delta / intercept`` with a
    delta-method interval from the joint HC3 covariance.
    """

    outcome: str
    satisfaction: str
    controls: tuple[str, ...]
    per_point: Estimate          # outcome units per scale point
    five_points: Estimate        # outcome units per +5% of the scale range
    relative: Estimate           # share of the mean outcome per +5% of the scale range
    mean_outcome: float
    delta_points: float
    checks: RegressionChecks
    coefficients: pd.DataFrame
    residuals: pd.DataFrame = dataclasses.field(repr=False)  # fitted, residual, cooks_d

    @property
    def summary(self) -> pd.DataFrame:
        rows = [("per scale point", self.per_point), (f"per +{self.delta_points:g} points "
                 "(+5% of scale)", self.five_points), ("relative to mean", self.relative)]
        return pd.DataFrame([{"effect": k, "value": e.value, "low": e.low, "high": e.high,
                              "n": e.n, "unit": e.unit} for k, e in rows])

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format=lambda v: f"{v:.4g}")


def _design(frame: pd.DataFrame, satisfaction: str, controls: Sequence[str],
            categorical: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Centred numeric regressors (log1p for counts/days) and centred dummies."""
    cols: dict[str, np.ndarray] = {"sat": as_float(frame[satisfaction])}
    names = []
    for c in controls:
        values = as_float(frame[c])
        cols[f"log1p_{c}"] = np.log1p(np.clip(values, 0, None))
        names.append(f"log1p_{c}")
    for c in categorical:
        if c in frame and frame[c].notna().any():
            dummies = pd.get_dummies(frame[c].astype("string"), prefix=c, drop_first=True,
                                     dtype=float)
            for d in dummies:
                safe = "".join(ch if ch.isalnum() else "_" for ch in d)
                cols[safe] = dummies[d].where(frame[c].notna()).to_numpy()
                names.append(safe)
    design = pd.DataFrame(cols, index=frame.index)
    return design, names


def profit_regression(features: pd.DataFrame, scale: Scale, outcome: str = "profit",
                      satisfaction: str = "satisfaction_mean",
                      controls: Sequence[str] = ("tenure_days",),
                      categorical: Sequence[str] = ("market_type",),
                      level: float = 0.95) -> ProfitRegression:
    """Profit (or another outcome) on satisfaction with controls and HC3 standard errors.

    Controls default to tenure (log) and market type; purchase counts are left
    out on purpose because satisfied customers stay and buy more, so controlling
    for them would remove part of the association C7 asks about.
    """
    require_columns(features, [outcome, satisfaction, *controls], "profit_regression")
    design, names = _design(features, satisfaction, controls, categorical)
    design["y"] = as_float(features[outcome])
    design = design.dropna()
    if len(design) < 30:
        raise ValueError(f"profit_regression has only {len(design)} customers with both "
                         f"'{satisfaction}' and '{outcome}'; need at least 30")
    names = [c for c in names if design[c].std() > 0]
    centred = design[["sat", *names]] - design[["sat", *names]].mean()
    centred["y"] = design["y"]
    formula = "y ~ " + " + ".join(["sat", *names])
    fit = smf.ols(formula, centred).fit(cov_type="HC3")
    q = stats.norm.ppf(0.5 + level / 2)
    a, b = float(fit.params["Intercept"]), float(fit.params["sat"])
    cov = fit.cov_params().loc[["Intercept", "sat"], ["Intercept", "sat"]].to_numpy()
    n = int(fit.nobs)
    delta = five_points(scale)
    se_b = float(np.sqrt(cov[1, 1]))
    method = f"OLS with HC3 errors, controls: {', '.join(names) or 'none'}"
    per_point = Estimate(b, b - q * se_b, b + q * se_b, n, method, level, f"{outcome}/point")
    five = Estimate(b * delta, (b - q * se_b) * delta, (b + q * se_b) * delta, n, method, level,
                    f"{outcome} per +5% of scale")
    grad = np.array([-b * delta / a**2, delta / a])
    se_rel = float(np.sqrt(grad @ cov @ grad))
    rel = b * delta / a
    relative = Estimate(rel, rel - q * se_rel, rel + q * se_rel, n,
                        method + "; relative to mean outcome, delta method", level, "share")
    infl = OLSInfluence(fit)
    cooks = infl.cooks_distance[0]
    influential = cooks > 4 / n
    refit = smf.ols(formula, centred[~influential]).fit()
    resid = pd.DataFrame({"fitted": fit.fittedvalues, "residual": fit.resid, "cooks_d": cooks,
                          "satisfaction": design["sat"]})
    checks = RegressionChecks(
        breusch_pagan_p=float(het_breuschpagan(fit.resid, fit.model.exog)[1]),
        reset_p=float(linear_reset(fit, power=2, use_f=True).pvalue),
        jarque_bera_p=float(stats.jarque_bera(fit.resid).pvalue),
        max_cooks_distance=float(np.max(cooks)),
        influential_share=float(influential.mean()),
        coef_without_influential=float(refit.params["sat"]),
        n=n,
    )
    coefs = pd.DataFrame({"coef": fit.params, "se_hc3": fit.bse, "p": fit.pvalues,
                          "low": fit.conf_int(1 - level)[0], "high": fit.conf_int(1 - level)[1]})
    return ProfitRegression(outcome, satisfaction, tuple(names), per_point, five, relative,
                            a, delta, checks, coefs.reset_index(names="term"), resid)


def plot_regression_checks(reg: ProfitRegression, axes=None):
    """Residuals vs fitted, Cook's distance, and binned outcome vs satisfaction (linearity).

    Each panel title states what the check found.
    """
    import matplotlib.pyplot as plt

    from analysis.plots import finding, spikes

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    r, checks = reg.residuals, reg.checks
    axes[0].scatter(r["fitted"], r["residual"], s=4, alpha=0.3)
    axes[0].axhline(0, color="grey", lw=1)
    axes[0].set(xlabel="fitted", ylabel="residual")
    finding(axes[0], "Uneven spread: robust errors used" if checks.breusch_pagan_p < 0.05
            else "Even spread of residuals", f"Breusch-Pagan p = {checks.breusch_pagan_p:.2g}")
    spikes(axes[1], r["cooks_d"], lw=0.8)
    axes[1].axhline(4 / len(r), color="grey", lw=1, ls="--")
    axes[1].set(xlabel="customer (row)", ylabel="Cook's distance")
    finding(axes[1], f"{checks.influential_share:.1%} of customers weigh heavily",
            f"slope without them: {checks.coef_without_influential:.3g} per point "
            f"(all: {reg.per_point.value:.3g})")
    binned = (r.assign(y=r["fitted"] + r["residual"])
              .groupby(r["satisfaction"].round(0))["y"].agg(["mean", "sem", "size"]))
    axes[2].errorbar(binned.index, binned["mean"], yerr=1.96 * binned["sem"], fmt="o-")
    axes[2].set(xlabel="satisfaction (rounded)", ylabel=f"mean {reg.outcome}")
    finding(axes[2], "Curved: read the slope as an average" if checks.reset_p < 0.05
            else "A straight line fits", f"RESET p = {checks.reset_p:.2g}; bars: 95% intervals")
    return axes


# ------------------------------------------------------------- effects comparable to the demo


@dataclasses.dataclass(frozen=True)
class SatisfactionEffect:
    """One coefficient of satisfaction (per scale point) with its interval and model."""

    name: str
    estimate: Estimate
    details: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.name)}</b>: " + self.estimate._repr_html_()


def spend_effect(features: pd.DataFrame, satisfaction: str = "satisfaction_mean",
                 categorical: Sequence[str] = ("market_type",),
                 level: float = 0.95) -> SatisfactionEffect:
    """Log average order value per satisfaction point (OLS, HC3), among buyers in the window."""
    require_columns(features, [satisfaction, "avg_order_value"], "spend_effect")
    aov = as_float(features["avg_order_value"])
    frame = features.loc[np.isfinite(aov) & (aov > 0)]
    design, names = _design(frame, satisfaction, (), categorical)
    design["y"] = np.log(as_float(frame["avg_order_value"]))
    design = design.dropna()
    if len(design) < 30:
        raise ValueError(f"spend_effect has only {len(design)} buying customers with "
                         f"'{satisfaction}'; need at least 30")
    names = [c for c in names if design[c].std() > 0]
    fit = smf.ols("y ~ " + " + ".join(["sat", *names]), design).fit(cov_type="HC3")
    low, high = fit.conf_int(1 - level).loc["sat"]
    est = Estimate(float(fit.params["sat"]), float(low), float(high), int(fit.nobs),
                   "OLS of log average order value, HC3 errors", level, "log spend/point")
    return SatisfactionEffect("log spend per satisfaction point", est)


def lapse_times(features: pd.DataFrame, churn_days: float = 180.0,
                min_orders_per_month: float = 0.0) -> pd.DataFrame:
    """Observed lifetimes under the inactivity rule, one row per customer kept.

    Lifetime runs from first purchase to last purchase when the customer has been
    inactive for more than ``churn_days`` (``lapsed``), else to the window end
    (censored). ``min_orders_per_month`` keeps only customers whose purchase rate
    makes a long silence meaningful.
    """
    need = ["days_since_last", "recency_days", "T_days", "orders_total"]
    require_columns(features, need, "lapse_times")
    rate = as_float(features["orders_total"]) / (as_float(features["recency_days"]) / 30.4375 + 1)
    keep = rate >= min_orders_per_month
    lapsed = as_float(features["days_since_last"])[keep] > churn_days
    days = np.where(lapsed, as_float(features["recency_days"])[keep],
                    as_float(features["T_days"])[keep]) + 1
    return pd.DataFrame({"days": days, "lapsed": lapsed.astype(int)},
                        index=features.index[keep])


def hazard_per_point(days: np.ndarray, event: np.ndarray, satisfaction: np.ndarray,
                     level: float = 0.95, method: str = "Cox PH (PHReg, Breslow ties)"
                     ) -> SatisfactionEffect:
    """Log hazard ratio per satisfaction point from a one-covariate Cox model (statsmodels)."""
    days, event, x = (np.asarray(a, dtype=float) for a in (days, event, satisfaction))
    keep = np.isfinite(days) & np.isfinite(event) & np.isfinite(x) & (days > 0)
    events = int(event[keep].sum())
    if keep.sum() < 30 or events < 10:
        raise ValueError(f"hazard_per_point has {int(keep.sum())} customers and {events} "
                         "events; need at least 30 and 10")
    fit = sm.PHReg(days[keep], x[keep][:, None], status=event[keep].astype(int),
                   ties="breslow").fit()
    low, high = fit.conf_int(1 - level)[0]
    est = Estimate(float(fit.params[0]), float(low), float(high), int(keep.sum()), method,
                   level, "log HR/point")
    return SatisfactionEffect("log hazard ratio per satisfaction point", est,
                              {"events": events})


def dropout_effect(features: pd.DataFrame, satisfaction: str = "satisfaction_mean",
                   min_orders_per_month: float = 0.0, churn_days: float = 180.0,
                   level: float = 0.95) -> SatisfactionEffect:
    """Log hazard ratio of lapsing per satisfaction point (Cox PH on :func:`lapse_times`).

    Two things pull the estimate towards zero compared with the effect on true
    dropout: survey scores are noisy readings of satisfaction, and the inactivity
    rule marks rare buyers as lapsed while they are still customers (and real
    dropouts only after ``churn_days``). Read it as a lower bound on the size.
    """
    require_columns(features, [satisfaction], "dropout_effect")
    lapses = lapse_times(features, churn_days, min_orders_per_month)
    method = (f"Cox PH (PHReg, Breslow ties); lapse = no purchase for {churn_days:g} days"
              + (f"; buyers with >= {min_orders_per_month:g} orders/month"
                 if min_orders_per_month else ""))
    effect = hazard_per_point(lapses["days"], lapses["lapsed"],
                              as_float(features.loc[lapses.index, satisfaction]), level, method)
    return dataclasses.replace(effect, name="log hazard ratio of lapsing per satisfaction point")


# ---------------------------------------------------------------------- ordinal satisfaction


class OrderedLogit(OrderedModel):
    """statsmodels' ordered logit (``distr="logit"``) with the logistic cdf and pdf from
    scipy.special. OrderedModel evaluates them through scipy.stats' generic distribution
    machinery, which took 13 of the 23 s of a fit on 330,000 customers (the score is
    numerical, so the likelihood runs many times); the values are the same."""

    def __init__(self, endog, exog, **kwargs):
        super().__init__(endog, exog, distr="logit", **kwargs)

    def cdf(self, x):
        return special.expit(x)

    def pdf(self, x):
        p = special.expit(x)
        return p * (1 - p)


@dataclasses.dataclass(frozen=True)
class SatisfactionDrivers:
    """Ordered logit of the latest satisfaction score on service experience."""

    summary: pd.DataFrame   # term, odds_ratio, low, high, p
    n: int
    method: str

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format=lambda v: f"{v:.3g}")


def satisfaction_drivers(features: pd.DataFrame, level: float = 0.95) -> SatisfactionDrivers:
    """Which service experiences go with higher satisfaction (ordered logit, odds ratios).

    Terms: complaints in history, any unresolved complaint, response time
    (log2 hours, customers without resolved complaints get the median and a flag),
    promotion share and tenure. An odds ratio above 1 means higher scores.
    """
    need = ["satisfaction_latest", "complaints_total", "unresolved_complaints",
            "median_response_hours", "promo_share", "tenure_days"]
    require_columns(features, need, "satisfaction_drivers")
    frame = features.loc[as_float(features["satisfaction_latest"]) == as_float(
        features["satisfaction_latest"])]
    hours = as_float(frame["median_response_hours"])
    has_hours = np.isfinite(hours)
    fill = np.nanmedian(hours) if has_hours.any() else 24.0
    x = pd.DataFrame({
        "complaints (log1p)": np.log1p(as_float(frame["complaints_total"])),
        "unresolved complaint": (as_float(frame["unresolved_complaints"]) > 0).astype(float),
        "response time (log2 h)": np.log2(np.where(has_hours, hours, fill).clip(0.1)),
        "no resolved complaint": (~has_hours).astype(float),
        "promotion share": np.nan_to_num(as_float(frame["promo_share"]), nan=0.0),
        "tenure (log1p days)": np.log1p(as_float(frame["tenure_days"])),
    }, index=frame.index)
    x = x.loc[:, x.std() > 0]
    y = pd.Series(pd.Categorical(as_float(frame["satisfaction_latest"]), ordered=True),
                  index=frame.index)
    keep = x.notna().all(axis=1)
    if keep.sum() < 50:
        raise ValueError(f"satisfaction_drivers has only {int(keep.sum())} surveyed customers")
    fit = OrderedLogit(y[keep].cat.remove_unused_categories(), x[keep]).fit(
        method="bfgs", disp=False, maxiter=500)
    ci = fit.conf_int(1 - level).loc[x.columns]
    table = pd.DataFrame({"term": x.columns, "odds_ratio": np.exp(fit.params[x.columns]),
                          "low": np.exp(ci[0]), "high": np.exp(ci[1]),
                          "p": fit.pvalues[x.columns]}).reset_index(drop=True)
    return SatisfactionDrivers(table, int(keep.sum()), "ordered logit (statsmodels OrderedModel)")


# ------------------------------------------------------------------------------ period level


@dataclasses.dataclass(frozen=True)
class PeriodEffect:
    """Month-level regression of log profit per customer on mean satisfaction (HAC errors)."""

    per_point: Estimate        # log profit per customer per scale point
    relative: Estimate         # relative change in profit per customer for +5% of the scale
    months: pd.DataFrame       # month, satisfaction, profit_per_customer, customers
    delta_points: float

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"effect": k, "value": e.value, "low": e.low, "high": e.high,
                              "n": e.n} for k, e in (("log profit per point", self.per_point),
                                                     ("relative per +5% of scale", self.relative))])


def period_effect(panel: pd.DataFrame, scale: Scale, period_column: str = "month",
                  satisfaction: str = "satisfaction_latest", min_surveyed: int = 20,
                  level: float = 0.95) -> PeriodEffect:
    """Across periods: is profit per buying customer higher when mean satisfaction is higher?

    One row per period (customers with an order in it); log profit per customer on
    mean latest satisfaction of the surveyed ones, with Newey-West (HAC, 3 lags)
    errors because neighbouring months are alike. Few periods and little
    variation in satisfaction give wide intervals; that is the honest answer.
    """
    require_columns(panel, [period_column, satisfaction, "profit", "orders"], "period_effect")
    buyers = panel.loc[as_float(panel["orders"]) > 0]
    grouped = buyers.assign(_sat=as_float(buyers[satisfaction]),
                            _profit=as_float(buyers["profit"])).groupby(period_column)
    months = pd.DataFrame({"satisfaction": grouped["_sat"].mean(),
                           "surveyed": grouped["_sat"].count(),
                           "profit_per_customer": grouped["_profit"].mean(),
                           "customers": grouped.size()}).reset_index()
    usable = months[(months["surveyed"] >= min_surveyed) & (months["profit_per_customer"] > 0)]
    if len(usable) < 6:
        raise ValueError(f"period_effect needs at least 6 periods with {min_surveyed} surveyed "
                         f"buyers and positive profit; found {len(usable)}")
    x = sm.add_constant(usable["satisfaction"].to_numpy())
    fit = sm.OLS(np.log(usable["profit_per_customer"].to_numpy()), x).fit(
        cov_type="HAC", cov_kwds={"maxlags": 3})
    low, high = fit.conf_int(1 - level)[1]
    b = float(fit.params[1])
    n = len(usable)
    method = "OLS of log profit per customer on mean satisfaction by period, HAC(3) errors"
    delta = five_points(scale)
    per_point = Estimate(b, float(low), float(high), n, method, level, "log profit/point")
    relative = Estimate(float(np.expm1(b * delta)), float(np.expm1(low * delta)),
                        float(np.expm1(high * delta)), n, method, level, "share")
    return PeriodEffect(per_point, relative, months, delta)
