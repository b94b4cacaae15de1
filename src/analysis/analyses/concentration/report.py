"""The concentration section in one call, and its figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.analyses.claims import rule
from analysis.analyses.concentration.base import (
    ValueBasis,
    value_basis,
    window_customers,
    with_profit,
)
from analysis.analyses.concentration.claims import claim_c1, claim_c2, claim_c6
from analysis.analyses.concentration.shares import (
    MIN_CUSTOMERS,
    PROFIT_FRACTIONS,
    TOP_FRACTIONS,
    Concentration,
    _as_values,
    concentration,
    lorenz_curve,
    top_shares,
)
from analysis.analyses.concentration.tail import EXACT_8020_INDEX, fit_tail
from analysis.analyses.concentration.whale import (
    SizeBands,
    WhaleCurve,
    core_customers,
    share_by_window,
    size_bands,
    whale_curve,
)
from analysis.core import plots
from analysis.core.results import ClaimResult, Estimate
from analysis.core.verdicts import ClaimRule

# -- figures --------------------------------------------------------------------------------


def plot_lorenz(values, conc: Concentration, ax=None, label: str | None = None):
    if ax is None:
        _, ax = plots.new_figure()
    label = label or conc.measure
    curve = lorenz_curve(values)
    ax.plot(curve["customers"], curve["value"], label=f"{label} (Lorenz curve)")
    ax.plot([0, 1], [0, 1], color=plots.NEUTRAL, linestyle=":", label="perfect equality")
    ax.scatter([0.8], [0.2], color=plots.HIGHLIGHT, zorder=3, label="exact 80/20")
    share = conc.shares.get(0.2)
    gini_text = f"; Gini {conc.gini.value:.2f}" if conc.gini else ""
    plots.finding(ax, f"The top 20% of customers bring {share.value:.0%} of {label}",
                  f"n={conc.n:,} customers{gini_text}; smallest customers on the left")
    plots.percent_axis(ax, "x")
    plots.percent_axis(ax, "y")
    ax.set_xlabel("share of customers (smallest first)")
    ax.set_ylabel(f"share of {label}")
    ax.legend(loc="upper left")
    return ax


def plot_whale(whale: WhaleCurve, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    ax.plot(whale.curve["customers"], whale.curve["profit"])
    ax.axhline(1.0, color=plots.NEUTRAL, linestyle=":")
    ax.scatter([whale.peak_at], [whale.peak], color=plots.HIGHLIGHT, zorder=3)
    ax.annotate(f"peak {whale.peak:.0%}", (whale.peak_at, whale.peak), textcoords="offset points",
                xytext=(5, 5))
    plots.finding(ax, f"Profit peaks at {whale.peak:.0%} of the total before loss-making "
                      "customers pull it back",
                  f"n={whale.n:,}; {whale.unprofitable_share.value:.0%} of customers lose money")
    plots.percent_axis(ax, "x")
    plots.percent_axis(ax, "y")
    ax.set_xlabel("share of customers (most profitable first)")
    ax.set_ylabel("cumulative share of total profit")
    return ax


def plot_share_by_window(table: pd.DataFrame, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    err = np.clip(np.nan_to_num(np.vstack([table["share"] - table["low"],
                                           table["high"] - table["share"]]).astype(float)),
                  0, None)   # rounding can leave an end a hair inside the estimate
    ax.errorbar(table["months"].astype(str), table["share"], yerr=err, marker="o", capsize=4)
    ax.axhline(0.8, color=plots.HIGHLIGHT, linestyle="--", label="claimed 80%")
    if len(table) > 1:
        first, last = table.iloc[0], table.iloc[-1]
        title = (f"Measured over {_months(first['months'])} the top 20% hold "
                 f"{first['share']:.0%}; over {_months(last['months'])} {last['share']:.0%}")
    elif len(table):
        first = table.iloc[0]
        title = (f"Measured over {_months(first['months'])} the top 20% hold "
                 f"{first['share']:.0%}; the data hold no longer window")
    else:
        title = "Not enough customers to compare windows"
    plots.finding(ax, title, "the same measure over trailing windows of 1 to 12 months")
    plots.percent_axis(ax)
    ax.set_xlabel("window length (months)")
    ax.set_ylabel("share of the top 20%")
    ax.legend()
    return ax


def _months(n) -> str:
    return f"{int(n)} month{'s' if int(n) != 1 else ''}"


def plot_tail(values, fit, ax=None):
    """Log-log complementary CDF with the fitted Pareto tail."""
    if ax is None:
        _, ax = plots.new_figure()
    x = np.sort(_as_values(values, "values"))
    x = x[x >= 0.01]
    ccdf = 1 - np.arange(len(x)) / len(x)
    ax.loglog(x, ccdf, marker=".", linestyle="none", markersize=2, alpha=0.5, label="customers")
    if fit is not None and fit.xmin is not None:
        grid = np.geomspace(fit.xmin, x.max(), 50)
        tail_share = fit.n_tail / len(x)
        ax.loglog(grid, tail_share * (grid / fit.xmin) ** (-fit.index.value), color=plots.HIGHLIGHT,
                  label=f"Pareto tail, index {fit.index.value:.2f}")
        title = (f"Above {plots.fmt_money(fit.xmin)} spend falls off with Pareto index "
                 f"{fit.index.value:.2f} (exact 80/20 needs {EXACT_8020_INDEX:.2f})")
    else:
        title = "No Pareto tail could be fitted"
    plots.finding(ax, title, "share of customers spending at least x, log-log scale")
    ax.set_xlabel("value per customer")
    ax.set_ylabel("share of customers with at least this value")
    ax.legend()
    return ax


# -- the section in one call ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConcentrationReport:
    """Everything the concentration section shows, for one window ending at the period end.

    ``revenue`` is measured over the window's buyers; ``profit``, the whale curve and the
    size bands over the buyers *and* the customers who bought nothing but caused cost
    (``non_buyers`` of them). ``basis`` says whether profit is measured, assumed from a
    declared gross margin, or unknown. A part that cannot be computed is None, with its
    reason in ``notes``; the report itself never fails on data.
    """

    window_months: int
    revenue: Concentration | None
    profit: Concentration | None
    whale: WhaleCurve | None
    bands: SizeBands | None
    tail: object  # concentration_tail.TailFit
    by_window: pd.DataFrame
    core: pd.DataFrame
    claims: tuple[ClaimResult, ...]
    profit_reason: str | None
    basis: ValueBasis | None = None
    non_buyers: int = 0
    non_buyer_cost: float = 0.0
    values: pd.Series | None = None          # the measure per customer behind the claims
    comparison: pd.DataFrame | None = None   # top-20% share with and without non-buyers
    notes: tuple[str, ...] = ()
    reason: str | None = None     # why the section cannot be measured at all (too few buyers)

    def not_shown(self, what: str) -> str:
        """The sentence a notebook shows in place of ``what`` when the section has no data."""
        return f"*No {what}: {self.reason}.*"

    @property
    def measure(self) -> Concentration | None:
        """The concentration the claims rest on: profit if known, else revenue."""
        return self.profit or self.revenue

    def headlines(self) -> dict[str, Estimate]:
        out = {}
        if self.revenue is not None:
            out.update(top20_revenue_share=self.revenue.shares[0.2],
                       revenue_gini=self.revenue.gini,
                       customers_for_80pct_revenue=self.revenue.customers_for_80)
        if self.profit is not None:
            out["top20_profit_share"] = self.profit.shares[0.2]
            out["customers_for_80pct_profit"] = self.profit.customers_for_80
        if self.whale is not None:
            out["unprofitable_customers"] = self.whale.unprofitable_share
        if self.tail is not None and self.tail.index.value is not None:
            out["pareto_tail_index"] = self.tail.index
        return {k: v for k, v in out.items() if v is not None}


def profit_missing_reason(features: pd.DataFrame, basis: ValueBasis | None = None) -> str | None:
    """Why profit cannot be measured on ``features`` (None when it can)."""
    basis = basis or value_basis(features)
    if not basis.has_profit:
        return basis.note
    if "profit" not in features or features["profit"].isna().any():
        return "profit per customer is unknown for some customers"
    if features["profit"].sum() <= 0:
        return "total profit in the window is not positive, so shares of it have no meaning"
    return None


def service_missing_reason(features: pd.DataFrame) -> str | None:
    if "service_cost" not in features or features["service_cost"].isna().all():
        return "service costs are not recorded (no interactions table with service_cost)"
    return None


def _comparison(profit: Concentration | None, buyers: pd.DataFrame) -> pd.DataFrame | None:
    """Top-20% profit share with the costly non-buyers (as tested) and without them."""
    if profit is None:
        return None
    rows = [{"customers counted": "buyers and non-buyers who caused cost", "customers":
             profit.n, "top 20% share": profit.shares[0.2].value}]
    values = buyers["profit"].to_numpy(float)
    if len(values) >= 2 and np.isfinite(values).all() and values.sum() > 0:
        rows.append({"customers counted": "buyers only", "customers": len(values),
                     "top 20% share": float(top_shares(values, (0.2,))[0])})
    return pd.DataFrame(rows)


def covered_windows(months, window, data_start) -> list[int]:
    """The window lengths (``months``) whose start the data reach (``window(m)`` gives
    [start, end); ``data_start`` the first day observed); the shortest is always kept, so a
    window reaching before the data does not repeat a shorter one under a longer name."""
    first = pd.Timestamp(data_start).to_period("M").to_timestamp()
    chosen = sorted(months)
    return [m for m in chosen if m == chosen[0] or window(m)[0] >= first]


def coverage_note(window_start, window_months: int, data_start) -> str | None:
    """A sentence when the data begin after the window's start (None when they cover it)."""
    first = pd.Timestamp(data_start).to_period("M").to_timestamp()
    start = pd.Timestamp(window_start)
    if first <= start:
        return None
    held = max(1, window_months - (first.to_period("M") - start.to_period("M")).n)
    return (f"The data begin in {first:%B %Y}, so the {window_months}-month window holds only "
            f"{_months(held)} of data; a short window overstates how "
            "concentrated customer value is")


def buyers_missing_reason(features: pd.DataFrame, purchases: bool = True) -> str | None:
    """Why the window has too few buyers for any share (None when it has enough).

    ``purchases``: whether the company supplied purchase records at all (False for a
    subscription-only company)."""
    if not purchases:
        return "no purchase records: a subscription-only company"
    n = len(window_customers(features, "revenue")) if "orders" in features else 0
    if n < MIN_CUSTOMERS:
        return (f"only {n:,} customers bought in the window; the shares of a top fifth "
                f"need at least {MIN_CUSTOMERS}")
    if not features.loc[features["orders"].fillna(0) > 0, "revenue"].clip(lower=0).sum() > 0:
        return f"the {n:,} customers who bought in the window brought no positive revenue"
    return None


def recurring_concentration(subscriptions: pd.DataFrame | None, at, replicates: int = 1000,
                            seed: int = 0) -> Concentration | None:
    """How concentrated monthly recurring revenue is across the subscribers active at ``at``
    (context for a company without purchase records; not a test of C1, which is about
    profit over a window). None without enough subscribers with a known positive charge.

    ``subscriptions``: the contract's table (customer_id, start, end, recurring_charge)."""
    if subscriptions is None or "recurring_charge" not in subscriptions:
        return None
    at = pd.Timestamp(at)
    active = (pd.to_datetime(subscriptions["start"]) <= at) & (
        pd.to_datetime(subscriptions["end"]).isna() | (pd.to_datetime(subscriptions["end"]) > at))
    charge = pd.to_numeric(subscriptions.loc[active, "recurring_charge"], errors="coerce")
    per_customer = charge.groupby(subscriptions.loc[active, "customer_id"]).sum(min_count=1)
    values = per_customer.dropna().clip(lower=0)
    if len(values) < MIN_CUSTOMERS or not values.sum() > 0:
        return None
    return concentration(values.to_numpy(float), "monthly recurring revenue", TOP_FRACTIONS,
                         replicates, seed)


def _unmeasured(reason: str, window_months: int, basis: ValueBasis | None,
                rules: Mapping[str, ClaimRule] | None) -> ConcentrationReport:
    """The report of a window without enough buyers: every claim not testable, with why."""
    claims = tuple(ClaimResult.not_testable(claim_id, reason, reading=rule(claim_id, rules)
                                            .reading, quantity=rule(claim_id, rules).quantity)
                   for claim_id in ("C1", "C2", "C6"))
    return ConcentrationReport(
        window_months, None, None, None, None, fit_tail(np.empty(0), 0),
        pd.DataFrame(columns=["months", "customers", "share", "low", "high"]),
        pd.DataFrame(columns=["customer_id", "tier", "revenue", "profit"]), claims, reason,
        basis, reason=reason)


def concentration_report(features: pd.DataFrame, previous: pd.DataFrame | None,
                         windows: Mapping[int, pd.DataFrame], window_months: int = 12,
                         replicates: int = 1000, gof_replicates: int = 100,
                         seed: int = 0, rules: Mapping[str, ClaimRule] | None = None,
                         gross_margin: float | None = None,
                         purchases: bool = True) -> ConcentrationReport:
    """The 80/20 section: shares with intervals, whale curve, size bands, tail, windows, core.

    ``gross_margin``: the company's declared margin (``ctx.settings.gross_margin``), used as
    a labelled assumption only when cost of goods is not supplied. ``purchases``: whether the
    company supplied purchase records (``ctx.data.has("transactions")``). With fewer than
    :data:`MIN_CUSTOMERS` buyers nothing is measured: C1, C2 and C6 are not testable and
    ``reason`` says why.
    """
    notes: list[str] = []
    unmeasurable = buyers_missing_reason(features, purchases)
    if unmeasurable is not None:
        basis = value_basis(features, gross_margin) if len(features) else None
        return _unmeasured(unmeasurable, window_months, basis, rules)

    def attempt(build, what):
        try:
            return build()
        except ValueError as error:
            notes.append(f"{what}: {error}")
            return None

    basis = value_basis(features, gross_margin)
    features = with_profit(features, basis)
    buyers = window_customers(features, "revenue")
    revenue_values = buyers["revenue"].clip(lower=0)
    # buyers_missing_reason above: at least MIN_CUSTOMERS buyers with positive revenue
    revenue = attempt(lambda: concentration(revenue_values, "revenue", TOP_FRACTIONS,
                                            replicates, seed), "revenue")
    counted = window_customers(features, "profit")
    costly = counted[~counted.index.isin(buyers.index)]
    reason = profit_missing_reason(counted, basis)
    profit = whale = None
    if reason is None:
        profit = attempt(lambda: concentration(counted["profit"], "profit", PROFIT_FRACTIONS,
                                               replicates, seed), "profit")
        whale = attempt(lambda: whale_curve(counted["profit"]), "whale curve")
    service_reason = reason or service_missing_reason(counted)
    bands = None
    if service_reason is None:
        bands = attempt(lambda: size_bands(counted), "size bands")
        if bands is None:
            service_reason = notes[-1].removeprefix("size bands: ")
    tail = fit_tail(buyers["revenue"], gof_replicates, seed=seed)
    measure = "profit" if profit is not None else "revenue"
    by_window = share_by_window({m: with_profit(f, basis) for m, f in windows.items()}, measure,
                                max(200, replicates // 4), seed)
    core = core_customers(buyers, previous, by=measure)
    claims = (claim_c1(profit, reason, rules, revenue=revenue, basis=basis,
                       non_buyers=len(costly)),
              claim_c2(whale, profit, reason, rules, basis=basis),
              claim_c6(bands, service_reason, rules, basis=basis))
    values = counted["profit"] if profit is not None else revenue_values
    cost = costly["service_cost"].fillna(0.0).sum() - costly["revenue"].clip(upper=0).sum() \
        if len(costly) else 0.0
    return ConcentrationReport(window_months, revenue, profit, whale, bands, tail, by_window,
                               core, claims, reason, basis, len(costly), float(cost), values,
                               _comparison(profit, buyers), tuple(notes))
