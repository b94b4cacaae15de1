"""Lifecycle stages and their transitions, strategy segments, the manager's questions (seed
002) and the loyalty index (seed 004).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from analysis.analyses.segments.settings import SegmentSettings, _require
from analysis.analyses.segments.value import percentile_scores, profit_known, value_tiers
from analysis.core import plots

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
STAGE_COLUMNS = ("orders_total", "active", "tenure_days", "market_type", "referrals_made",
                 "would_recommend", "top_box")
FEATURES_NEEDED = ("customer_id", "orders", "revenue", "profit", *STAGE_COLUMNS)


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
    """Seed 004: size, value in the window and the suggested action of each segment. Without
    profit for every customer (no cost of goods) the table has no profit column: profit is
    unknown there, not 0."""
    grouped = features.groupby(segment)
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum()})
    if profit_known(features) or ("profit" in features and features.empty):
        table["profit"] = grouped["profit"].sum()
    table.loc["potential customers"] = [n_prospects] + [0.0] * (table.shape[1] - 1)
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
    # contacted = a contact the company initiated (interaction type "contact"); complaints,
    # requests and referrals come from the customer
    care = "care_contacts_total" if "care_contacts_total" in f else "contacts_total"
    never = (int((f[care].fillna(0) == 0).sum())
             if has_interactions and f[care].notna().any() else None)
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
         "no contact initiated by the company (interaction type 'contact') recorded; "
         "complaints, requests and referrals come from the customer (needs the interactions "
         "table)"),
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
