"""Customer value segments (seeds 001-004): single-indicator tiers, value pyramids, the value
scorecard, lifecycle stages with their transitions, strategies by segment, the manager's
questions and the actionable export.

Every indicator, weight and cut point comes from the ``[segments]`` table of the company
config (defaults: ``config/segments.default.toml``). Value is measured among the customers
who bought in the trailing value window (``window_months``); customers without a purchase in
that window get no tier and no scorecard values (they are "lapsed" or "target" customers).
Indicators become percentile scores (0-100) among those buyers so that money, counts and
scores can be weighted together; "lower is better" indicators are reversed.

What the data cannot place: the "expected" stage of seed 001 (interest shown, no purchase
intent recorded) needs marketing data; prospects are counted only when the customers table
lists sign-ups without purchases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.analyses.concentration.shares import group_share
from analysis.analyses.segments.settings import GROW, SegmentSettings, Tiering, _require
from analysis.core import plots
from analysis.core.results import Estimate
from analysis.core.text import chart_label, pct

#: what the reader reads where profit cannot be computed
PROFIT_NOT_KNOWN = "profit not known: cost of goods was not supplied for every purchase"
PROFIT_UNKNOWN = f"{PROFIT_NOT_KNOWN}, so shares are of revenue"


def profit_known(frame: pd.DataFrame) -> bool:
    """True when every customer's profit exists (cost of goods supplied for every line)."""
    return "profit" in frame and len(frame) > 0 and bool(frame["profit"].notna().all())

# -- scores, tiers, pyramids, scorecard -----------------------------------------------------------


def percentile_scores(frame: pd.DataFrame, columns: Sequence[str],
                      lower_is_better: Sequence[str] = ()) -> pd.DataFrame:
    """Percentile rank 0-100 of each column (ties averaged); missing values score 50.

    A column absent from the frame or without any value scores 50 for everyone (it cannot
    separate customers), so weights on it shift nobody.
    """
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else None
        if values is None or values.notna().sum() == 0:
            out[column] = 50.0
            continue
        values = values.astype(float)
        if column in lower_is_better:
            values = -values
        out[column] = (values.rank(pct=True, method="average") * 100).fillna(50.0)
    return out


def assign_tiers(values: pd.Series, tiering: Tiering) -> pd.Series:
    """Tier label of each value; missing values get no tier.

    ``by="share"``: by the share of customers ranked below (ties broken by order), so with
    cuts 0.5/0.8/0.95 the top 5% form the last tier. ``by="value"``: a value at or above a
    cut starts the next tier.
    """
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    known = numbers.notna().to_numpy()
    if tiering.by == "share":
        position = numbers.rank(pct=True, method="first").to_numpy()
        codes = np.searchsorted(np.array(tiering.cuts), position, side="left")
    else:
        codes = np.searchsorted(np.array(tiering.cuts), numbers.to_numpy(), side="right")
    codes = np.where(known, codes, -1)
    return pd.Series(pd.Categorical.from_codes(codes, list(tiering.labels), ordered=True),
                     index=values.index)


def composite(scores: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    """Weighted sum of percentile scores (weights sum to 1, so the result is 0-100)."""
    return sum(scores[c] * w for c, w in weights.items())


@dataclasses.dataclass(frozen=True)
class Pyramid:
    name: str
    table: pd.DataFrame   # tier (top first), customers, revenue, profit and their shares

    def _repr_html_(self) -> str:
        return f"<h4>{self.name}</h4>" + self.table.to_html(index=False)


def pyramid(frame: pd.DataFrame, tiers: pd.Series, name: str) -> Pyramid:
    """Customers, revenue and profit per tier (top tier first) with shares of the totals.
    Profit and its share are NaN (unknown, not 0) unless every customer's profit exists."""
    _require(frame, ("revenue", "profit"), "pyramid")
    grouped = frame.groupby(tiers, observed=False)
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(),
                          "profit": grouped["profit"].sum()})
    if not profit_known(frame):
        table["profit"] = np.nan
    for column in ("customers", "revenue", "profit"):
        total = table[column].sum(min_count=1)
        table[f"{column}_share"] = table[column] / total if total else np.nan
    table = table.iloc[::-1].rename_axis("tier").reset_index()
    table["tier"] = table["tier"].astype(str)
    return Pyramid(name, table)


def top_tier_profit_share(profit: pd.Series, top: pd.Series, replicates: int,
                          seed: int = 0) -> Estimate:
    """Share of total profit earned by the top tier, with a customer bootstrap interval.

    Tiers are held fixed (the interval reflects which customers happen to be in the data, not
    re-ranking); percentile interval of ``replicates`` resamples (none when 0). Unknown profit
    (a customer without it) gives no value and says why.
    """
    if len(profit) and profit.isna().any():
        return Estimate(None, n=len(profit), method=f"share of profit; {PROFIT_UNKNOWN}")
    return top_tier_share(profit, top, replicates, seed, "profit")


def top_tier_share(values: pd.Series, top: pd.Series, replicates: int, seed: int = 0,
                   what: str = "profit") -> Estimate:
    """Share of the total of ``values`` (profit, or revenue where profit is unknown) in the
    top tier, with the customer bootstrap interval of :func:`top_tier_profit_share`."""
    p = values.fillna(0).to_numpy(dtype=float)
    t = top.fillna(False).to_numpy(dtype=bool)
    n = len(p)
    if n == 0 or p.sum() == 0:
        return Estimate(None, n=n, method=f"share of {what}; no {what} in the window")
    value = float(p[t].sum() / p.sum())
    if replicates <= 0:
        return Estimate(value, n=n, method=f"share of {what} (census, no interval)",
                        unit="share")
    if p.sum() < 0:
        return Estimate(value, n=n, unit="share",
                        method=f"share of {what} (no interval: the total is a loss)")
    # the concentration section's interval for a fixed group's share (percentile-t: the
    # plain percentile interval covered about 92% for a heavy-tailed top tier)
    e = group_share(p, t, replicates, seed)
    return dataclasses.replace(e, value=value, method=f"share of {what}, " + e.method)


def plot_pyramid(p: Pyramid, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    table = p.table
    layers = len(table)
    for i, row in enumerate(table.itertuples()):
        width = (i + 1) / layers
        y = layers - 1 - i
        ax.barh(y, width, left=-width / 2, height=0.9, color=plots.PALETTE[i % 7])
        ax.text(0.56, y, f"{chart_label(row.tier)}: {row.customers:,} customers\n"
                         f"{pct(row.revenue_share, 0, 'no share')} of revenue, "
                         f"{pct(row.profit_share, 0, 'profit not known')}"
                         + ("" if np.isnan(row.profit_share) else " of profit"),
                ha="left", va="center", fontsize=9)
    ax.set_xlim(-0.55, 1.25)
    ax.axis("off")
    name = p.name.replace("_", " ").capitalize()
    if not layers:
        plots.finding(ax, f"{name}: no customer bought in the window")
        return ax
    top = table.iloc[0]
    share, what = ((top["profit_share"], "profit") if pd.notna(top["profit_share"])
                   else (top["revenue_share"], "revenue (profit not known)"))
    plots.finding(ax, f"{name}: the top layer ({chart_label(top['tier'])}, "
                      f"{pct(top['customers_share'], 0)} of customers) brings "
                      f"{pct(share, 0)} of {what}")
    return ax


def tier_shares_table(tiers: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Single-indicator tiers for reading, one block per measure: customers and the shares of
    customers, revenue and profit as text ("not known" where a share does not exist)."""
    if not tiers:
        return pd.DataFrame(columns=["measure", "tier", "customers"])
    frame = pd.concat({k.replace("_", " ").capitalize(): v for k, v in tiers.items()},
                      names=["measure"]).reset_index(level=0).reset_index(drop=True)
    out = frame[["measure", "tier", "customers"]].copy()
    for column in ("customers", "revenue", "profit"):
        if column == "profit" and frame["profit_share"].isna().all():
            continue   # no cost supplied: no profit column at all, not a column of "not known"
        out[f"{column} share"] = frame[f"{column}_share"].map(
            lambda v: pct(v, 0, "not known"))
    return out


@dataclasses.dataclass(frozen=True)
class Scorecard:
    scores: pd.DataFrame      # financial, sales, customer, service, actual, potential, total,
                              # quadrant (one row per customer who bought in the window)
    quadrants: pd.DataFrame   # quadrant, customers, suggested action

    def _repr_html_(self) -> str:
        return self.quadrants.to_html(index=False)


QUADRANT_ACTIONS = {
    "stars: keep": "high actual and high potential value: keep them close",
    "cash cows: protect": "high actual value, little potential left: protect the margin",
    GROW: "high potential but low actual value: the customers to move up",
    "maintain at low cost": "low on both: serve efficiently",
}


def scorecard(scores: pd.DataFrame, settings: SegmentSettings) -> Scorecard:
    """Seed 003: actual value (financial + sales) and potential value (customer + service),
    each the weighted average of its two aspects; total = weighted average of all four.
    Quadrants split at the medians of actual and potential value."""
    aspects = pd.DataFrame({name: composite(scores, weights)
                            for name, weights in settings.aspects.items()})
    w = settings.aspect_weights

    def blend(a: str, b: str) -> pd.Series:
        total = w[a] + w[b]
        if total == 0:
            return (aspects[a] + aspects[b]) / 2
        return (aspects[a] * w[a] + aspects[b] * w[b]) / total

    aspects["actual"] = blend("financial", "sales")
    aspects["potential"] = blend("customer", "service")
    aspects["total"] = sum(aspects[a] * w[a] for a in w)
    high_actual = aspects["actual"] >= aspects["actual"].median()
    high_potential = aspects["potential"] >= aspects["potential"].median()
    aspects["quadrant"] = np.select(
        [high_actual & high_potential, high_actual & ~high_potential,
         ~high_actual & high_potential],
        ["stars: keep", "cash cows: protect", GROW], "maintain at low cost")
    counts = aspects["quadrant"].value_counts().reindex(list(QUADRANT_ACTIONS), fill_value=0)
    quadrants = pd.DataFrame({"quadrant": counts.index, "customers": counts.to_numpy(),
                              "what it means": [QUADRANT_ACTIONS[q] for q in counts.index]})
    return Scorecard(aspects, quadrants)


def plot_quadrants(card: Scorecard, ax=None, sample: int = 3000, seed: int = 0):
    if ax is None:
        _, ax = plots.new_figure()
    s = card.scores
    shown = s.sample(min(sample, len(s)), random_state=seed)
    for i, quadrant in enumerate(QUADRANT_ACTIONS):
        part = shown[shown["quadrant"] == quadrant]
        ax.scatter(part["actual"], part["potential"], s=6, alpha=0.5, label=quadrant,
                   color=plots.PALETTE[i])
    ax.axvline(s["actual"].median(), color=plots.NEUTRAL, linestyle=":")
    ax.axhline(s["potential"].median(), color=plots.NEUTRAL, linestyle=":")
    grow = int((s["quadrant"] == GROW).sum())
    plots.finding(ax, f"{grow:,} customers have high potential but low actual value: move them "
                      "up", "scores 0-100 from the value scorecard; dotted lines are medians")
    ax.set_xlabel("actual value (financial + sales)")
    ax.set_ylabel("potential value (customer + service)")
    ax.legend(fontsize=8, markerscale=3, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def value_tiers(features: pd.DataFrame, settings: SegmentSettings,
                extra: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Percentile scores of the window's buyers and each pyramid's tiers (NaN for customers
    without a purchase in the window). ``extra`` columns (clv, churn_risk) are already merged
    into ``features`` when used."""
    _require(features, ("orders",), "value_tiers")
    buyers = features[features["orders"] > 0]
    indicators = sorted({c for w in settings.aspects.values() for c in w}
                        | {c for w, _ in settings.pyramids.values() for c in w})
    scores = percentile_scores(buyers, indicators, settings.lower_is_better)
    tiers = {name: assign_tiers(composite(scores, weights), tiering).reindex(features.index)
             for name, (weights, tiering) in settings.pyramids.items()}
    return scores, tiers
