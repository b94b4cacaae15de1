"""Customer value segments (seeds 001-004): single-indicator tiers, value pyramids, the value
scorecard, lifecycle stages with their transitions, strategies by segment, the manager's
questions and the actionable export.

Every indicator, weight and cut point comes from the ``[segments]`` table of the company
config (defaults: ``config/segments.default.toml``). Indicators become percentile scores
(0-100) among the window's customers so that money, counts and scores can be weighted
together; "lower is better" indicators are reversed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis import plots
from analysis.results import Estimate

EXTRA_INDICATORS = ("clv", "p_alive", "churn_risk")
STAGES = ("prospect", "first purchase", "repeat", "long-term", "supporter", "strategic",
          "partner", "lapsed")
NOT_PLACED = ("expected (interest shown, no data on intent)",)
PARTNER_MARKETS = ("intermediary", "producer")
STRATEGIES = {
    "loyal customers": "maximise their potential: widen the range they buy, co-develop, "
                       "reward loyalty",
    "customers": "serve them well to build loyalty: fast answers, follow-up after purchase",
    "potential customers": "convert: deepen the brand, offer a first or second purchase",
    "target customers": "create awareness again: advertising and win-back offers",
}


# -- settings ----------------------------------------------------------------------------------


class SegmentConfigError(ValueError):
    """A [segments] setting is invalid; the message names the key and the fix."""


@dataclasses.dataclass(frozen=True)
class Tiering:
    cuts: tuple[float, ...]
    labels: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SegmentSettings:
    window_months: int
    lower_is_better: tuple[str, ...]
    tier_indicators: tuple[str, ...]
    tiers: Tiering
    pyramids: Mapping[str, tuple[Mapping[str, float], Tiering]]
    aspects: Mapping[str, Mapping[str, float]]
    aspect_weights: Mapping[str, float]


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
    cuts = tuple(float(c) for c in raw.get("cuts", (0.5, 0.8, 0.95)))
    labels = tuple(str(x) for x in raw.get("labels", ("small", "general", "core", "key")))
    if list(cuts) != sorted(cuts) or not all(0 < c < 1 for c in cuts):
        raise SegmentConfigError(f"[{where}] cuts must be increasing shares between 0 and 1")
    if len(labels) != len(cuts) + 1:
        raise SegmentConfigError(f"[{where}] needs one label more than cuts ({len(cuts) + 1})")
    return Tiering(cuts, labels)


def parse_settings(raw: Mapping[str, Any], known: Sequence[str] | None = None
                   ) -> SegmentSettings:
    """Validate a [segments] table; ``known`` lists the allowed indicator names."""
    names = None if known is None else set(known) | set(EXTRA_INDICATORS)
    tiers = raw.get("tiers", {})
    indicators = tuple(tiers.get("indicators", ("revenue", "profit")))
    if names is not None and set(indicators) - names:
        raise SegmentConfigError(f"[segments.tiers] unknown indicators "
                                 f"{sorted(set(indicators) - names)}")
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
    return SegmentSettings(int(raw.get("window_months", 12)),
                           tuple(raw.get("lower_is_better", ())), indicators,
                           _tiering(tiers, "segments.tiers"), pyramids, aspects, aspect_weights)


# -- scores, tiers, pyramids, scorecard -----------------------------------------------------------


def percentile_scores(frame: pd.DataFrame, columns: Sequence[str],
                      lower_is_better: Sequence[str] = ()) -> pd.DataFrame:
    """Percentile rank 0-100 of each column (ties averaged); missing values score 50."""
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else None
        if values is None or values.notna().sum() == 0:
            out[column] = 50.0
            continue
        ranks = values.rank(pct=True, method="average") * 100
        if column in lower_is_better:
            ranks = 100 - ranks + 100 / values.notna().sum()
        out[column] = ranks.fillna(50.0)
    return out


def assign_tiers(values: pd.Series, tiering: Tiering) -> pd.Series:
    """Tier label by the share of customers below each cut (e.g. top 5% = key)."""
    share_below = values.rank(pct=True, method="first")
    codes = np.searchsorted(np.array(tiering.cuts), share_below.to_numpy(), side="left")
    return pd.Series(pd.Categorical.from_codes(codes, list(tiering.labels), ordered=True),
                     index=values.index)


def composite(scores: pd.DataFrame, weights: Mapping[str, float]) -> pd.Series:
    return sum(scores[c] * w for c, w in weights.items())


@dataclasses.dataclass(frozen=True)
class Pyramid:
    name: str
    table: pd.DataFrame   # tier (top first), customers, revenue, profit, shares


def pyramid(frame: pd.DataFrame, tiers: pd.Series, name: str) -> Pyramid:
    grouped = frame.groupby(tiers, observed=False)
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(),
                          "profit": grouped["profit"].sum()})
    for column in ("customers", "revenue", "profit"):
        total = table[column].sum()
        table[f"{column}_share"] = table[column] / total if total else np.nan
    table = table.iloc[::-1].rename_axis("tier").reset_index()
    table["tier"] = table["tier"].astype(str)
    return Pyramid(name, table)


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
    scores: pd.DataFrame   # financial, sales, customer, service, actual, potential, total
    quadrants: pd.DataFrame


def scorecard(scores: pd.DataFrame, settings: SegmentSettings) -> Scorecard:
    aspects = pd.DataFrame({name: composite(scores, weights)
                            for name, weights in settings.aspects.items()})
    w = settings.aspect_weights
    aspects["actual"] = ((aspects["financial"] * w["financial"] + aspects["sales"] * w["sales"])
                         / (w["financial"] + w["sales"]))
    aspects["potential"] = ((aspects["customer"] * w["customer"] + aspects["service"]
                             * w["service"]) / (w["customer"] + w["service"]))
    aspects["total"] = sum(aspects[a] * w[a] for a in w)
    high_actual = aspects["actual"] >= aspects["actual"].median()
    high_potential = aspects["potential"] >= aspects["potential"].median()
    aspects["quadrant"] = np.select(
        [high_actual & high_potential, high_actual & ~high_potential,
         ~high_actual & high_potential],
        ["stars: keep", "cash cows: protect", "grow: move up"], "maintain at low cost")
    quadrants = aspects.groupby("quadrant").size().rename("customers").reset_index()
    return Scorecard(aspects, quadrants)


def plot_quadrants(card: Scorecard, ax=None, sample: int = 3000, seed: int = 0):
    if ax is None:
        _, ax = plots.new_figure()
    s = card.scores
    shown = s.sample(min(sample, len(s)), random_state=seed)
    for i, (quadrant, part) in enumerate(shown.groupby("quadrant")):
        ax.scatter(part["actual"], part["potential"], s=6, alpha=0.5, label=quadrant,
                   color=plots.PALETTE[i])
    ax.axvline(s["actual"].median(), color=plots.NEUTRAL, linestyle=":")
    ax.axhline(s["potential"].median(), color=plots.NEUTRAL, linestyle=":")
    grow = int((s["quadrant"] == "grow: move up").sum())
    plots.finding(ax, f"{grow:,} customers have high potential but low actual value: move them "
                      "up", "scores 0-100 from the value scorecard; dotted lines are medians")
    ax.set_xlabel("actual value (financial + sales)")
    ax.set_ylabel("potential value (customer + service)")
    ax.legend(fontsize=8, markerscale=3)
    return ax


# -- lifecycle --------------------------------------------------------------------------------


def lifecycle_stage(features: pd.DataFrame, value_tier: pd.Series | None = None,
                    top_labels: Sequence[str] = ("key",)) -> pd.Series:
    """Stage of each customer with purchases (prospects are counted separately).

    lapsed: no purchase for the churn rule's days; partner: intermediary or producer in the
    top value tier with 1+ year tenure; strategic: top value tier with 2+ years; supporter:
    2+ purchases and a referral made or a recommendation score of 9+ (or top-box satisfied);
    long-term: 2+ purchases and 1+ year; repeat: 2+ purchases; first purchase: one purchase.
    """
    f = features
    top = (value_tier.astype(str).isin(top_labels) if value_tier is not None
           else pd.Series(False, index=f.index))
    tenure = f["tenure_days"].astype(float)
    repeat = f["orders_total"] >= 2
    recommends = (f["referrals_made"].fillna(0) > 0) | (f["would_recommend"].fillna(0) >= 9) | (
        f["top_box"].fillna(False).astype(bool))
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


def stage_with_value_tier(features: pd.DataFrame, settings: SegmentSettings) -> pd.Series:
    """Lifecycle stage using the first pyramid's top tier (as in the report), for any window."""
    if not settings.pyramids:
        return lifecycle_stage(features)
    weights, tiering = next(iter(settings.pyramids.values()))
    scores = percentile_scores(features, list(weights), settings.lower_is_better)
    tiers = assign_tiers(composite(scores, weights), tiering)
    return lifecycle_stage(features, tiers, (tiering.labels[-1],))


def prospects(customers: pd.DataFrame | None, features: pd.DataFrame,
              end: pd.Timestamp) -> int:
    """Signed-up customers without any purchase yet (needs the customers table)."""
    if customers is None or "signup_date" not in customers:
        return 0
    signed = customers[customers["signup_date"] < end]["customer_id"]
    return int((~signed.isin(features["customer_id"])).sum())


def transitions(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    """Customers by stage at the previous and the current period end (rows: from, cols: to).

    Customers without a stage before enter from "(new)"; every customer appears exactly once,
    so row totals are the previous counts and column totals the current counts.
    """
    frame = pd.DataFrame({"from": before, "to": after}).fillna({"from": "(new)"})
    frame = frame[frame["to"].notna()]
    table = pd.crosstab(frame["from"], frame["to"])
    order = [s for s in ("(new)", *STAGES) if s in table.index]
    cols = [s for s in STAGES if s in table.columns]
    return table.reindex(index=order, columns=cols, fill_value=0)


def strategy_segment(stage: pd.Series) -> pd.Series:
    return stage.map({"partner": "loyal customers", "strategic": "loyal customers",
                      "supporter": "loyal customers", "long-term": "loyal customers",
                      "repeat": "customers", "first purchase": "customers",
                      "lapsed": "target customers"})


def strategies(features: pd.DataFrame, segment: pd.Series, n_prospects: int) -> pd.DataFrame:
    grouped = features.groupby(segment)
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum(),
                          "profit": grouped["profit"].sum()})
    table.loc["potential customers"] = [n_prospects, 0.0, 0.0]
    table = table.reindex(list(STRATEGIES)).fillna(0)
    table["customers"] = table["customers"].astype(int)
    table["action"] = [STRATEGIES[s] for s in table.index]
    return table.rename_axis("segment").reset_index()


# -- manager's questions (seed 002) -----------------------------------------------------------


def manager_questions(period_features: pd.DataFrame, history: pd.DataFrame,
                      churn_days: int) -> pd.DataFrame:
    """The six questions of seed 002 for the period, as counts with their definition.

    ``period_features``: features of the report period; ``history``: features from the first
    data to the period end (for contacts over the whole relationship).
    """
    f = period_features
    bought = int((f["orders"] > 0).sum())
    twice = int((f["orders_total"] >= 2).sum())
    once_gone = int(((f["orders_total"] == 1) & ~f["active"].astype(bool)).sum())
    contacts = history.set_index("customer_id")["contacts_total"]
    never = (int((contacts.fillna(0) == 0).sum()) if contacts.notna().any() else None)
    churned = f["churned"].astype(bool)
    new_left = int((churned & (f["orders_total"] == 1)).sum())
    silent = churned & (f["orders_total"] >= 2) & (f["tenure_days"] >= 365 + churn_days)
    if f["complaints_total"].notna().any():
        silent &= f["complaints_total"].fillna(0) == 0
    rows = [
        ("How many customers bought this period?", bought, "customers with an order in the period"),
        ("How many have bought two times or more?", twice,
         "customers with 2+ purchase days up to the period end"),
        ("How many bought once and never again?", once_gone,
         f"one purchase day and no purchase for {churn_days}+ days"),
        ("How many have never been contacted?", never,
         "no interaction of any type recorded (needs the interactions table)"),
        ("How many new customers left after their first purchase?", new_left,
         "crossed the inactivity line this period with a single purchase day"),
        ("How many long-standing customers left without notice?", int(silent.sum()),
         "crossed the inactivity line this period after 1+ year as a repeat buyer, "
         "without a complaint on record"),
    ]
    return pd.DataFrame(rows, columns=["question", "customers", "how it is counted"])


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
    customers: pd.DataFrame            # the export table (raw ids)
    tiers: Mapping[str, pd.DataFrame]  # indicator -> tier table
    pyramids: tuple[Pyramid, ...]
    scorecard: Scorecard
    stages: pd.DataFrame
    transitions: pd.DataFrame
    strategies: pd.DataFrame
    questions: pd.DataFrame
    loyalty_missing: tuple[str, ...]
    prospects: int

    def headlines(self) -> dict[str, Estimate]:
        n = len(self.customers)
        out = {}
        for row in self.questions.itertuples():
            if row.customers is not None and not pd.isna(row.customers):
                key = row.question.lower().replace("how many ", "").rstrip("?").replace(" ", "_")
                out[key[:60]] = Estimate(float(row.customers), n=n, method="count (census)")
        return out


def segment_report(ctx, raw_settings: Mapping[str, Any] | None = None,
                   value: pd.DataFrame | None = None,
                   risk: pd.DataFrame | None = None) -> SegmentReport:
    """Tiers, pyramids, scorecard, stages, strategies, questions and the export table."""
    raw = raw_settings if raw_settings is not None else ctx.settings.section("segments")
    start, end = ctx.window(int(raw.get("window_months", 12)))
    features = ctx.features(start, end)
    settings = parse_settings(raw, known=list(features.columns))
    frame = features.copy()
    for extra in (value, risk):
        if extra is not None:
            frame = frame.merge(extra, on="customer_id", how="left")
    if "clv" not in frame:
        frame["clv"] = np.nan
    indicators = sorted({c for w in settings.aspects.values() for c in w}
                        | {c for w, _ in settings.pyramids.values() for c in w}
                        | set(settings.tier_indicators))
    scores = percentile_scores(frame, indicators, settings.lower_is_better)
    tier_tables, tier_columns = {}, {}
    for indicator in settings.tier_indicators:
        tiers = assign_tiers(frame[indicator].fillna(0), settings.tiers)
        tier_columns[f"{indicator}_tier"] = tiers
        tier_tables[indicator] = pyramid(frame, tiers, f"{indicator} tiers").table
    pyramids, pyramid_tiers = [], {}
    for name, (weights, tiering) in settings.pyramids.items():
        tiers = assign_tiers(composite(scores, weights), tiering)
        pyramid_tiers[name] = tiers
        pyramids.append(pyramid(frame, tiers, name))
    card = scorecard(scores, settings)
    first_pyramid = next(iter(pyramid_tiers.values()), None)
    top_label = (next(iter(settings.pyramids.values()))[1].labels[-1]
                 if settings.pyramids else "key")
    stage = lifecycle_stage(frame, first_pyramid, (top_label,))
    n_prospects = prospects(ctx.data.customers, features, end)
    before_features = ctx.features(start - pd.DateOffset(months=1), end - pd.DateOffset(months=1))
    before = stage_with_value_tier(before_features, settings).set_axis(
        before_features["customer_id"])
    after = stage.set_axis(frame["customer_id"])
    segment = strategy_segment(stage)
    loyalty, loyalty_missing = loyalty_index(frame)
    customers = pd.DataFrame({"customer_id": frame["customer_id"], "stage": stage,
                              "segment": segment, **tier_columns,
                              **{f"{k}_tier": v for k, v in pyramid_tiers.items()},
                              **card.scores.round(1).to_dict(orient="series"),
                              "loyalty_index": loyalty.round(1)})
    for column in ("clv", "p_alive", "churn_risk"):
        if column in frame and frame[column].notna().any():
            customers[column] = frame[column]
    stage_counts = stage.value_counts().reindex(STAGES, fill_value=0)
    stage_counts["prospect"] = n_prospects
    stages_table = stage_counts.rename("customers").rename_axis("stage").reset_index()
    history = ctx.features(ctx.data_start, end)
    return SegmentReport(settings, customers, tier_tables, tuple(pyramids), card, stages_table,
                         transitions(before, after.reindex(before.index.union(after.index))),
                         strategies(frame, segment, n_prospects),
                         manager_questions(ctx.features(), history, ctx.settings.churn_days),
                         tuple(loyalty_missing), n_prospects)
