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
import math
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from analysis import plots
from analysis.concentration import bootstrap_counts
from analysis.config import SECTION_DEFAULTS_DIR
from analysis.results import Estimate

EXTRA_INDICATORS = ("clv", "p_alive", "churn_risk")
STAGES = ("prospect", "first purchase", "repeat", "long-term", "supporter", "strategic",
          "partner", "lapsed")
STAGE_RANK = {s: i for i, s in enumerate(STAGES[:-1])}   # lifecycle order; lapsed is an exit
NEW, GONE = "(new)", "(left the data)"
NOT_PLACED = ("expected (interest shown, no data on intent)",)
PARTNER_MARKETS = ("intermediary", "producer")
STRATEGIES = {
    "loyal customers": "maximise their potential: widen the range they buy, co-develop, "
                       "reward loyalty",
    "customers": "serve them well to build loyalty: fast answers, follow-up after purchase",
    "potential customers": "convert: deepen the brand, offer a first or second purchase",
    "target customers": "create awareness again: advertising and win-back offers",
}
SEGMENT_OF_STAGE = {"partner": "loyal customers", "strategic": "loyal customers",
                    "supporter": "loyal customers", "long-term": "loyal customers",
                    "repeat": "customers", "first purchase": "customers",
                    "prospect": "potential customers", "lapsed": "target customers"}
GROW = "grow: move up"
STAGE_COLUMNS = ("orders_total", "active", "tenure_days", "market_type", "referrals_made",
                 "would_recommend", "top_box")
FEATURES_NEEDED = ("customer_id", "orders", "revenue", "profit", *STAGE_COLUMNS)


# -- settings ----------------------------------------------------------------------------------


class SegmentConfigError(ValueError):
    """A [segments] setting is invalid; the message names the key and the fix."""


@dataclasses.dataclass(frozen=True)
class Tiering:
    """Tier boundaries: ``by="share"`` cuts are shares of customers below each boundary
    (0.95 = top 5% in the last tier); ``by="value"`` cuts are values of the indicator (or of
    the 0-100 composite score) at which the next tier starts."""

    cuts: tuple[float, ...]
    labels: tuple[str, ...]
    by: str = "share"


@dataclasses.dataclass(frozen=True)
class SegmentSettings:
    window_months: int
    lower_is_better: tuple[str, ...]
    tier_indicators: tuple[str, ...]
    tiers: Tiering
    pyramids: Mapping[str, tuple[Mapping[str, float], Tiering]]
    aspects: Mapping[str, Mapping[str, float]]
    aspect_weights: Mapping[str, float]
    bootstrap_replicates: int = 200


def _weights(raw: Any, where: str, known: set[str] | None) -> dict[str, float]:
    if not isinstance(raw, Mapping) or not raw:
        raise SegmentConfigError(f"[{where}] must be a table of indicator = weight")
    weights = {str(k): float(v) for k, v in raw.items()}
    if known is not None:
        unknown = sorted(set(weights) - known)
        if unknown:
            raise SegmentConfigError(
                f"[{where}] names unknown indicators {unknown}; use feature columns such as "
                f"{sorted(known)[:8]}... (see data/README.md)")
    if any(w < 0 for w in weights.values()):
        raise SegmentConfigError(f"[{where}] weights must be >= 0 (list lower-is-better "
                                 "indicators in segments.lower_is_better instead)")
    total = sum(weights.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise SegmentConfigError(f"[{where}] weights sum to {total:g}; they must sum to 1")
    return weights


def _tiering(raw: Mapping[str, Any], where: str) -> Tiering:
    by = str(raw.get("cut_by", "share"))
    if by not in ("share", "value"):
        raise SegmentConfigError(f"[{where}] cut_by must be \"share\" or \"value\", got {by!r}")
    cuts = tuple(float(c) for c in raw.get("cuts", (0.5, 0.8, 0.95)))
    labels = tuple(str(x) for x in raw.get("labels", ("small", "general", "core", "key")))
    if not cuts or any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise SegmentConfigError(f"[{where}] cuts must be strictly increasing, got {list(cuts)}")
    if by == "share" and not all(0 < c < 1 for c in cuts):
        raise SegmentConfigError(f"[{where}] share cuts must lie between 0 and 1 (use "
                                 "cut_by = \"value\" for cut points in the indicator's units)")
    if len(labels) != len(cuts) + 1:
        raise SegmentConfigError(f"[{where}] needs one label more than cuts ({len(cuts) + 1})")
    return Tiering(cuts, labels, by)


def with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A company's [segments] table completed from ``config/segments.default.toml``.

    Missing keys come from the defaults; ``tiers`` and ``scorecard`` are completed one level
    down (e.g. only ``scorecard.weights`` given keeps the default aspects); ``pyramids``, when
    given, replace the default pyramids as a whole.
    """
    path = SECTION_DEFAULTS_DIR / "segments.default.toml"
    defaults = tomllib.loads(path.read_text())["segments"] if path.exists() else {}
    merged = {**defaults, **raw}
    for key in ("tiers", "scorecard"):
        if isinstance(raw.get(key), Mapping):
            merged[key] = {**defaults.get(key, {}), **raw[key]}
    return merged


def parse_settings(raw: Mapping[str, Any], known: Sequence[str] | None = None
                   ) -> SegmentSettings:
    """Validate a [segments] table; ``known`` lists the allowed indicator names."""
    names = None if known is None else set(known) | set(EXTRA_INDICATORS)
    tiers = raw.get("tiers", {})
    indicators = tuple(tiers.get("indicators", ("revenue", "profit")))
    if names is not None and set(indicators) - names:
        raise SegmentConfigError(f"[segments.tiers] names unknown indicators "
                                 f"{sorted(set(indicators) - names)}; use feature columns")
    if not 1 <= len(indicators) <= 3:
        raise SegmentConfigError("[segments.tiers] choose 1 to 3 indicators")
    pyramids = {
        name: (_weights(spec.get("weights"), f"segments.pyramids.{name}.weights", names),
               _tiering(spec, f"segments.pyramids.{name}"))
        for name, spec in raw.get("pyramids", {}).items()
    }
    card = raw.get("scorecard", {})
    aspects = {name: _weights(w, f"segments.scorecard.aspects.{name}", names)
               for name, w in card.get("aspects", {}).items()}
    required = {"financial", "sales", "customer", "service"}
    if set(aspects) != required:
        raise SegmentConfigError(f"[segments.scorecard.aspects] needs exactly {sorted(required)}"
                                 f", got {sorted(aspects)}")
    aspect_weights = _weights(card.get("weights"), "segments.scorecard.weights", required)
    replicates = int(raw.get("bootstrap_replicates", 200))
    if replicates < 0:
        raise SegmentConfigError("[segments] bootstrap_replicates must be >= 0")
    return SegmentSettings(int(raw.get("window_months", 12)),
                           tuple(raw.get("lower_is_better", ())), indicators,
                           _tiering(tiers, "segments.tiers"), pyramids, aspects, aspect_weights,
                           replicates)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs columns {missing}; pass ctx.features(...) output "
                         "(see docs/INTERFACES.md)")


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
    """Customers, revenue and profit per tier (top tier first) with shares of the totals."""
    _require(frame, ("revenue", "profit"), "pyramid")
    grouped = frame.groupby(tiers, observed=False)
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(),
                          "profit": grouped["profit"].sum()})
    for column in ("customers", "revenue", "profit"):
        total = table[column].sum()
        table[f"{column}_share"] = table[column] / total if total else np.nan
    table = table.iloc[::-1].rename_axis("tier").reset_index()
    table["tier"] = table["tier"].astype(str)
    return Pyramid(name, table)


def top_tier_profit_share(profit: pd.Series, top: pd.Series, replicates: int,
                          seed: int = 0) -> Estimate:
    """Share of total profit earned by the top tier, with a customer bootstrap interval.

    Tiers are held fixed (the interval reflects which customers happen to be in the data, not
    re-ranking); percentile interval of ``replicates`` resamples (none when 0).
    """
    p = profit.fillna(0).to_numpy(dtype=float)
    t = top.fillna(False).to_numpy(dtype=bool)
    n = len(p)
    if n == 0 or p.sum() == 0:
        return Estimate(None, n=n, method="share of profit; no profit in the window")
    value = float(p[t].sum() / p.sum())
    if replicates <= 0:
        return Estimate(value, n=n, method="share of profit (census, no interval)", unit="share")
    # the concentration bootstrap's resamples, in chunks (one multinomial matrix of all
    # replicates took 5.7 s and 0.6 GB for 200 replicates of 350,000 customers; this 0.6 s)
    draws = np.concatenate([(counts @ (p * t)) / (counts @ p)
                            for counts in bootstrap_counts(n, replicates, seed)])
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return Estimate(value, float(low), float(high), n=n, unit="share",
                    method=f"share of profit, customer bootstrap ({replicates} resamples, "
                           "tiers fixed)")


def plot_pyramid(p: Pyramid, ax=None):
    if ax is None:
        _, ax = plots.new_figure()
    table = p.table
    layers = len(table)
    for i, row in enumerate(table.itertuples()):
        width = (i + 1) / layers
        y = layers - 1 - i
        ax.barh(y, width, left=-width / 2, height=0.9, color=plots.PALETTE[i % 7])
        ax.text(0.56, y, f"{row.tier}: {row.customers:,} customers\n{row.revenue_share:.0%} of "
                         f"revenue, {row.profit_share:.0%} of profit", ha="left", va="center",
                fontsize=9)
    ax.set_xlim(-0.55, 1.25)
    ax.axis("off")
    top = table.iloc[0]
    plots.finding(ax, f"{p.name.replace('_', ' ').capitalize()}: the top layer ({top['tier']}, "
                      f"{top['customers_share']:.0%} of customers) brings {top['profit_share']:.0%}"
                      " of profit")
    return ax


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


# -- lifecycle --------------------------------------------------------------------------------


def lifecycle_stage(features: pd.DataFrame, value_tier: pd.Series | None = None,
                    top_labels: Sequence[str] = ("key",)) -> pd.Series:
    """Stage of each customer with purchases (prospects are counted separately).

    First matching rule wins: lapsed: not active (no purchase for the churn rule's days);
    partner: intermediary or producer in the top value tier with 1+ year tenure; strategic:
    top value tier with 2+ years; supporter: 2+ purchase days and a referral made, a
    recommendation score of 9+ or a top-box satisfaction score; long-term: 2+ purchase days
    and 1+ year; repeat: 2+ purchase days; first purchase: one purchase day.
    """
    _require(features, STAGE_COLUMNS, "lifecycle_stage")
    f = features
    top = (value_tier.astype(str).isin(top_labels) if value_tier is not None
           else pd.Series(False, index=f.index))
    tenure = f["tenure_days"].astype(float)
    repeat = f["orders_total"] >= 2
    recommends = ((f["referrals_made"].fillna(0) > 0) | (f["would_recommend"].fillna(0) >= 9)
                  | f["top_box"].astype("boolean").fillna(False).astype(bool))
    market = f["market_type"].astype("string").fillna("")
    conditions = [
        ~f["active"].astype(bool),
        top & market.isin(PARTNER_MARKETS) & (tenure >= 365),
        top & (tenure >= 730),
        repeat & recommends,
        repeat & (tenure >= 365),
        repeat,
    ]
    labels = ["lapsed", "partner", "strategic", "supporter", "long-term", "repeat"]
    return pd.Series(np.select(conditions, labels, "first purchase"), index=f.index)


def stages_for(features: pd.DataFrame, settings: SegmentSettings) -> pd.Series:
    """Lifecycle stage using the first pyramid's top tier (as in the report), for any window.

    Indexed by customer_id."""
    tiers = value_tiers(features, settings)[1]
    if not tiers:
        stage = lifecycle_stage(features)
    else:
        first = next(iter(settings.pyramids))
        top_label = settings.pyramids[first][1].labels[-1]
        stage = lifecycle_stage(features, tiers[first], (top_label,))
    return stage.set_axis(features["customer_id"].to_numpy())


def prospects(customers: pd.DataFrame | None, features: pd.DataFrame,
              end: pd.Timestamp) -> int:
    """Signed-up customers without any purchase yet (needs the customers table)."""
    if customers is None or "signup_date" not in customers:
        return 0
    signed = customers[customers["signup_date"] < end]["customer_id"]
    return int((~signed.isin(features["customer_id"])).sum())


def transitions(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    """Customers by stage at the previous period end (rows) and now (columns).

    Both series are indexed by customer_id. Customers only in ``after`` enter from "(new)";
    customers only in ``before`` leave to "(left the data)". Every customer appears exactly
    once, so row totals are the previous counts and column totals the current counts.
    """
    ids = before.index.union(after.index)
    frame = pd.DataFrame({"from": before.reindex(ids).fillna(NEW),
                          "to": after.reindex(ids).fillna(GONE)})
    table = pd.crosstab(frame["from"], frame["to"])
    order = [s for s in (NEW, *STAGES) if s in table.index]
    cols = [s for s in (*STAGES, GONE) if s in table.columns]
    return table.reindex(index=order, columns=cols, fill_value=0)


def stage_moves(table: pd.DataFrame) -> pd.Series:
    """Customers who entered, moved up, stayed, moved back, lapsed, were won back or left."""
    moves = {"new": 0, "moved up": 0, "stayed": 0, "moved back": 0, "lapsed": 0,
             "won back": 0, "left the data": 0}
    for origin, row in table.iterrows():
        for target, count in row.items():
            if origin == NEW:
                kind = "new"
            elif target == GONE:
                kind = "left the data"
            elif origin == target:
                kind = "stayed"
            elif target == "lapsed":
                kind = "lapsed"
            elif origin == "lapsed":
                kind = "won back"
            else:
                kind = "moved up" if STAGE_RANK[target] > STAGE_RANK[origin] else "moved back"
            moves[kind] += int(count)
    return pd.Series(moves, name="customers")


def plot_stages(stages: pd.DataFrame, moves: pd.Series, ax=None):
    """Customers per lifecycle stage now, with the month's movement in the title."""
    if ax is None:
        _, ax = plots.new_figure()
    shown = stages[stages["customers"] > 0].iloc[::-1]
    ax.barh(shown["stage"], shown["customers"], color=plots.PALETTE[0])
    for y, value in enumerate(shown["customers"]):
        ax.text(value, y, f" {value:,}", va="center", fontsize=9)
    ax.set_xlabel("customers")
    plots.finding(ax, f"This month {moves['moved up']:,} customers moved up a stage, "
                      f"{moves['lapsed']:,} lapsed and {moves['won back']:,} were won back",
                  f"{moves['new']:,} new customers; stages as far as the data can place them")
    return ax


def strategy_segment(stage: pd.Series) -> pd.Series:
    return stage.map(SEGMENT_OF_STAGE)


def strategies(features: pd.DataFrame, segment: pd.Series, n_prospects: int) -> pd.DataFrame:
    """Seed 004: size, value in the window and the suggested action of each segment."""
    grouped = features.groupby(segment)
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(),
                          "profit": grouped["profit"].sum()})
    table.loc["potential customers"] = [n_prospects, 0.0, 0.0]
    table = table.reindex(list(STRATEGIES)).fillna(0)
    table["customers"] = table["customers"].astype(int)
    table["action"] = [STRATEGIES[s] for s in table.index]
    return table.rename_axis("segment").reset_index()


# -- manager's questions (seed 002) -----------------------------------------------------------


def _share(count: int | None, base: int) -> tuple[float, float, float]:
    if count is None or base == 0:
        return (np.nan, np.nan, np.nan)
    low, high = proportion_confint(count, base, alpha=0.05, method="wilson")
    return count / base, float(low), float(high)


def manager_questions(period_features: pd.DataFrame, churn_days: int,
                      has_interactions: bool = True) -> pd.DataFrame:
    """The six questions of seed 002 for the period: counts, the base each is a share of,
    and the share with a Wilson 95% interval (customers seen as a sample of the process).

    ``period_features``: ``ctx.features()`` of the report period (history columns reach back
    to the first data).
    """
    _require(period_features, ("orders", "orders_total", "active", "churned",
                               "active_at_start", "tenure_days", "contacts_total",
                               "complaints_total"), "manager_questions")
    f = period_features
    on_record = len(f)
    active = f["active"].astype(bool)
    churned = f["churned"].astype(bool)
    at_start = f["active_at_start"].astype(bool)
    orders_before = f["orders_total"] - f["orders"]
    bought = int((f["orders"] > 0).sum())
    twice = int((f["orders_total"] >= 2).sum())
    once_gone = int(((f["orders_total"] == 1) & ~active).sum())
    never = (int((f["contacts_total"].fillna(0) == 0).sum())
             if has_interactions and f["contacts_total"].notna().any() else None)
    new_base = at_start & (orders_before == 1)
    new_left = int((churned & new_base).sum())
    long_base = at_start & (orders_before >= 2) & (f["tenure_days"] >= 365 + churn_days)
    silent = churned & long_base
    if f["complaints_total"].notna().any():
        silent &= f["complaints_total"].fillna(0) == 0
    rows = [
        ("How many customers bought this period?", bought, on_record,
         "customers with an order in the period, out of all customers on record"),
        ("How many have bought two times or more?", twice, on_record,
         "customers with 2+ purchase days up to the period end"),
        ("How many bought once and never again?", once_gone, on_record,
         f"one purchase day and no purchase for {churn_days}+ days"),
        ("How many have never been contacted?", never, on_record,
         "no interaction of any type recorded (needs the interactions table)"),
        ("How many new customers left after their first purchase?", new_left,
         int(new_base.sum()),
         "crossed the inactivity line this period with a single purchase day, out of "
         "one-purchase customers active at the start"),
        ("How many long-standing customers left without notice?", int(silent.sum()),
         int(long_base.sum()),
         "crossed the inactivity line this period after 1+ year as a repeat buyer, without a "
         "complaint on record, out of such customers active at the start"),
    ]
    table = pd.DataFrame(rows, columns=["question", "customers", "out of", "how it is counted"])
    shares = [_share(c, b) for c, b in zip(table["customers"], table["out of"], strict=True)]
    table.insert(3, "share", [s[0] for s in shares])
    table.insert(4, "low", [s[1] for s in shares])
    table.insert(5, "high", [s[2] for s in shares])
    return table


# -- loyalty index (seed 004) -------------------------------------------------------------------


LOYALTY_ASPECTS = {
    "repeat frequency": "orders_total",
    "referrals and suggestions": "referrals_made",
    "breadth of purchases": "categories_total",
    "recommending": "would_recommend",
    "resistance to competitors": "full_price_share",
}


def loyalty_index(features: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Mean percentile score of the five loyalty aspects the data can measure.

    Resistance to competitors is not observable without competitor data; the share of spend
    at full price (not on promotion) stands in for it. Aspects with no data are left out and
    returned in the second element.
    """
    frame = features.assign(full_price_share=1 - features["promo_share"])
    usable = [c for c in LOYALTY_ASPECTS.values() if frame[c].notna().any()]
    missing = [a for a, c in LOYALTY_ASPECTS.items() if c not in usable]
    scores = percentile_scores(frame, usable)
    return scores.mean(axis=1), missing


# -- the section in one call ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SegmentReport:
    settings: SegmentSettings
    customers: pd.DataFrame            # the export table (raw ids; pseudonymise on export)
    tiers: Mapping[str, pd.DataFrame]  # indicator -> tier table (top tier first)
    pyramids: tuple[Pyramid, ...]
    scorecard: Scorecard
    stages: pd.DataFrame               # stage, customers (prospects included)
    transitions: pd.DataFrame          # previous period end (rows) x now (columns)
    moves: pd.Series                   # new, moved up, stayed, moved back, lapsed, won back, ...
    strategies: pd.DataFrame
    questions: pd.DataFrame
    loyalty_missing: tuple[str, ...]
    prospects: int
    top_profit_share: Estimate         # profit share of the first pyramid's top tier
    buyers: int                        # customers with a purchase in the value window

    def _question(self, start: str) -> pd.Series:
        return self.questions[self.questions["question"].str.startswith(start)].iloc[0]

    def headlines(self) -> dict[str, Estimate]:
        keys = {"How many have bought two": "repeat_buyer_share",
                "How many bought once": "one_and_done_share",
                "How many have never": "never_contacted_share",
                "How many new customers": "new_customers_lost_after_first_purchase",
                "How many long-standing": "long_standing_lost_without_notice"}
        out = {}
        for start, key in keys.items():
            row = self._question(start)
            if not pd.isna(row["share"]):
                out[key] = Estimate(float(row["share"]), float(row["low"]), float(row["high"]),
                                    n=int(row["out of"]), unit="share",
                                    method="Wilson 95% interval")
        if self.top_profit_share.value is not None:
            out["top_tier_profit_share"] = self.top_profit_share
        return out

    def questions_table(self) -> pd.DataFrame:
        """The manager's questions for display: counts with their base and share range."""
        q = self.questions

        def share(row: pd.Series) -> str:
            if pd.isna(row["share"]):
                return "not known"
            return f"{row['share']:.0%} ({row['low']:.0%} to {row['high']:.0%})"

        counts = q["customers"].map(lambda v: "not known" if v is None or pd.isna(v)
                                    else f"{int(v):,}")
        return pd.DataFrame({"question": q["question"], "customers": counts,
                             "out of": q["out of"].map("{:,}".format),
                             "share (plausible range)": q.apply(share, axis=1),
                             "how it is counted": q["how it is counted"]})

    def tiers_table(self) -> pd.DataFrame:
        """Single-indicator tiers, one block per measure, with shares of the totals."""
        if not self.tiers:
            return pd.DataFrame(columns=["measure", "tier", "customers"])
        frame = pd.concat({k.replace("_", " ").capitalize(): v for k, v in self.tiers.items()},
                          names=["measure"]).reset_index(level=0)
        frame = frame[["measure", "tier", "customers", "customers_share", "revenue_share",
                       "profit_share"]]
        return frame.rename(columns=lambda c: c.replace("_share", " share")).reset_index(
            drop=True)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"figure": k.replace("_", " "), "value": str(v),
                              "method": v.method} for k, v in self.headlines().items()])

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False)

    def findings(self) -> dict[str, str]:
        """One short plain-language paragraph per part of the notebook (Markdown)."""
        q = {k: self._question(k) for k in ("How many customers", "How many have bought two",
                                             "How many bought once", "How many new customers",
                                             "How many long-standing")}
        bought, twice, once = (q["How many customers"], q["How many have bought two"],
                               q["How many bought once"])
        new, silent = q["How many new customers"], q["How many long-standing"]
        top = self.pyramids[0].table.iloc[0] if self.pyramids else None
        e = self.top_profit_share
        loyal = self.strategies.set_index("segment").loc["loyal customers"]
        total_profit = self.strategies["profit"].sum()
        grow = int((self.scorecard.scores["quadrant"] == GROW).sum())

        def pct(row: pd.Series) -> str:
            return ("" if pd.isna(row["share"]) else
                    f" ({row['share']:.0%}, plausible range {row['low']:.0%} to "
                    f"{row['high']:.0%})")

        out = {
            "questions": (
                f"Of **{bought['out of']:,} customers on record**, {bought['customers']:,} bought "
                f"this month. {twice['customers']:,} have bought on two or more days{pct(twice)}; "
                f"{once['customers']:,} bought once and never came back{pct(once)}. This month "
                f"{new['customers']:,} one-time buyers crossed the inactivity line{pct(new)} and "
                f"{silent['customers']:,} long-standing customers left without a complaint on "
                f"record{pct(silent)}: the second group is worth a personal call."),
            "strategies": (
                f"Loyal customers are {loyal['customers']:,} people and brought "
                + (f"{loyal['profit'] / total_profit:.0%} of the window's profit. "
                   if total_profit > 0 else "a share of profit we cannot state (no profit). ")
                + "Each segment has one suggested action; the customer list for sales carries "
                  "the segment of every customer."),
            "scorecard": (
                f"{grow:,} of the {self.buyers:,} customers who bought in the window score above "
                "the median on potential (tenure, breadth, referrals, satisfaction, service) but "
                "below it on actual value (profit, revenue, orders). They are the list to work "
                "on first. The scores describe customers; they do not prove that more contact "
                "will raise their value."),
            "stages": (
                f"Compared with the end of last month, {self.moves['moved up']:,} customers moved "
                f"up a stage, {self.moves['moved back']:,} moved back, {self.moves['lapsed']:,} "
                f"lapsed (no purchase for the churn rule's days), {self.moves['won back']:,} were "
                f"won back and {self.moves['new']:,} are new. "
                + (f"{self.prospects:,} signed-up prospects have not bought yet. "
                   if self.prospects else "")
                + "The 'expected' stage (interest without a purchase) cannot be seen in sales "
                  "data."),
        }
        if top is not None and e.value is not None:
            interval = ("" if e.low is None else
                        f" (plausible range {e.low:.0%} to {e.high:.0%})")
            out["pyramid"] = (
                f"The top layer of the first pyramid, **{top['customers']:,} customers "
                f"({top['customers_share']:.0%} of buyers)**, brought {e.value:.0%} of the "
                f"profit of the last {self.settings.window_months} months{interval} and "
                f"{top['revenue_share']:.0%} of revenue. Losing one of them costs as much as "
                f"losing many in the bottom layer, so retention effort belongs at the top.")
        else:
            out["pyramid"] = "No profit was recorded in the window, so the pyramid is empty."
        return out


def segment_report(ctx, raw_settings: Mapping[str, Any] | None = None,
                   value: pd.DataFrame | None = None, risk: pd.DataFrame | None = None,
                   seed: int = 0) -> SegmentReport:
    """Tiers, pyramids, scorecard, stages, strategies, questions and the export table.

    ``value`` (customer_id, clv, p_alive, ...) and ``risk`` (customer_id, churn_risk) are the
    optional hand-offs of the CLV and churn sections, merged by customer_id.
    """
    raw = with_defaults(raw_settings if raw_settings is not None
                        else ctx.settings.section("segments"))
    start, end = ctx.window(int(raw.get("window_months", 12)))
    features = ctx.features(start, end)
    _require(features, FEATURES_NEEDED, "segment_report")
    settings = parse_settings(raw, known=list(features.columns))
    frame = features
    for name, extra in (("value", value), ("risk", risk)):
        if extra is not None:
            _require(extra, ("customer_id",), f"the {name} hand-off")
            keep = [c for c in extra.columns if c == "customer_id" or c not in frame.columns]
            frame = frame.merge(extra[keep].drop_duplicates("customer_id"), on="customer_id",
                                how="left")
    scores, pyramid_tiers = value_tiers(frame, settings)
    buyers = frame.loc[scores.index]
    tier_tables, tier_columns = {}, {}
    for indicator in settings.tier_indicators:
        tiers = assign_tiers(buyers[indicator], settings.tiers)
        tier_columns[f"{indicator}_tier"] = tiers.reindex(frame.index)
        tier_tables[indicator] = pyramid(buyers, tiers, f"{indicator} tiers").table
    pyramids = tuple(pyramid(buyers, tiers.loc[buyers.index], name)
                     for name, tiers in pyramid_tiers.items())
    card = scorecard(scores, settings)
    after = stages_for(frame, settings)
    stage = pd.Series(after.to_numpy(), index=frame.index)
    n_prospects = prospects(ctx.data.customers, features, end)
    previous = ctx.features(start - pd.DateOffset(months=1), end - pd.DateOffset(months=1))
    table = transitions(stages_for(previous, settings), after)
    segment = strategy_segment(stage)
    loyalty, loyalty_missing = loyalty_index(frame)
    customers = pd.DataFrame({"customer_id": frame["customer_id"], "stage": stage,
                              "segment": segment, **tier_columns,
                              **{f"{k}_tier": v for k, v in pyramid_tiers.items()}})
    customers = customers.join(card.scores.round(1)).assign(loyalty_index=loyalty.round(1))
    for column in EXTRA_INDICATORS:
        if column in frame and frame[column].notna().any():
            customers[column] = frame[column]
    stage_counts = stage.value_counts().reindex(STAGES, fill_value=0)
    stage_counts["prospect"] = n_prospects
    stages_table = stage_counts.rename("customers").rename_axis("stage").reset_index()
    top = None
    if settings.pyramids:
        name, (_, tiering) = next(iter(settings.pyramids.items()))
        top = pyramid_tiers[name].loc[buyers.index].astype(str) == tiering.labels[-1]
    top_share = (top_tier_profit_share(buyers["profit"], top, settings.bootstrap_replicates,
                                       seed) if top is not None
                 else Estimate(None, method="no pyramid configured"))
    questions = manager_questions(ctx.features(), ctx.settings.churn_days,
                                  ctx.data.interactions is not None)
    return SegmentReport(settings, customers, tier_tables, pyramids, card, stages_table, table,
                         stage_moves(table), strategies(frame, segment, n_prospects), questions,
                         tuple(loyalty_missing), n_prospects, top_share, len(buyers))
