"""The segments section in one call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.analyses.segments.lifecycle import (
    FEATURES_NEEDED,
    STAGES,
    loyalty_index,
    manager_questions,
    prospects,
    stage_moves,
    stages_for,
    strategies,
    strategy_segment,
    transitions,
)
from analysis.analyses.segments.settings import (
    EXTRA_INDICATORS,
    GROW,
    SegmentSettings,
    _require,
    parse_settings,
    with_defaults,
)
from analysis.analyses.segments.value import (
    PROFIT_NOT_KNOWN,
    Pyramid,
    Scorecard,
    assign_tiers,
    profit_known,
    pyramid,
    scorecard,
    tier_shares_table,
    top_tier_profit_share,
    top_tier_share,
    value_tiers,
)
from analysis.core.results import Estimate
from analysis.core.text import count, has_interval, pct

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
    #: the revenue share of the top tier, where profit is not known
    top_revenue_share: Estimate | None = None

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
        elif self.top_revenue_share is not None and self.top_revenue_share.value is not None:
            out["top_tier_revenue_share"] = self.top_revenue_share
        return out

    def questions_table(self) -> pd.DataFrame:
        """The manager's questions for display: counts with their base and share range."""
        q = self.questions

        def share(row: pd.Series) -> str:
            if pd.isna(row["share"]):
                return "not known"
            return f"{pct(row['share'], 0)} ({pct(row['low'], 0)} to {pct(row['high'], 0)})"

        counts = q["customers"].map(lambda v: count(v, "not known"))
        return pd.DataFrame({"question": q["question"], "customers": counts,
                             "out of": q["out of"].map(count),
                             "share (plausible range)": q.apply(share, axis=1),
                             "how it is counted": q["how it is counted"]})

    def tiers_table(self) -> pd.DataFrame:
        """Single-indicator tiers, one block per measure, with shares of the totals as text."""
        return tier_shares_table(self.tiers)

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
        e, what = self.top_profit_share, "profit"
        if e.value is None and self.top_revenue_share is not None:
            e, what = self.top_revenue_share, "revenue"
        loyal = self.strategies.set_index("segment").loc["loyal customers"]
        total_profit = (self.strategies["profit"].sum() if "profit" in self.strategies
                        else None)
        total_revenue = self.strategies["revenue"].sum()
        grow = int((self.scorecard.scores["quadrant"] == GROW).sum())

        def share(row: pd.Series) -> str:
            return ("" if pd.isna(row["share"]) else
                    f" ({pct(row['share'], 0)}, plausible range {pct(row['low'], 0)} to "
                    f"{pct(row['high'], 0)})")

        def people(row: pd.Series) -> str:
            return count(row["customers"], "an unknown number of")

        out = {
            "questions": (
                f"Of **{count(bought['out of'])} customers on record**, {people(bought)} bought "
                f"this month. {people(twice)} have bought on two or more days{share(twice)}; "
                f"{people(once)} bought once and never came back{share(once)}. This month "
                f"{people(new)} one-time buyers crossed the inactivity line{share(new)} and "
                f"{people(silent)} long-standing customers left without a complaint on "
                f"record{share(silent)}: the second group is worth a personal call."),
            "strategies": (
                f"Loyal customers are {count(loyal['customers'])} people and brought "
                + (f"{pct(loyal['profit'] / total_profit, 0)} of the window's profit. "
                   if total_profit is not None and total_profit > 0 else
                   "a share of profit we cannot state (no profit in the window). "
                   if total_profit is not None else
                   f"{pct(loyal['revenue'] / total_revenue, 0)} of the "
                   f"window's revenue ({PROFIT_NOT_KNOWN}). "
                   if total_revenue > 0 else
                   "no revenue in the window. ")
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
            interval = (f" (plausible range {pct(e.low, 0)} to {pct(e.high, 0)})"
                        if has_interval(e.low, e.high) else "")
            unknown = "" if what == "profit" else f" ({PROFIT_NOT_KNOWN})"
            also = (f" and {pct(top['revenue_share'], 0)} of revenue" if what == "profit"
                    else unknown)
            out["pyramid"] = (
                f"The top layer of the first pyramid, **{count(top['customers'])} customers "
                f"({pct(top['customers_share'], 0)} of buyers)**, brought {pct(e.value, 0)} of "
                f"the {what} of the last {self.settings.window_months} months{interval}{also}. "
                "Losing one of them costs as much as losing many in the bottom layer, so "
                "retention effort belongs at the top.")
        elif not self.buyers:
            out["pyramid"] = ("Nobody bought in the last "
                              f"{self.settings.window_months} months, so the pyramid is empty.")
        else:
            out["pyramid"] = (f"No {what} was recorded in the window, so the pyramid shows no "
                              "shares.")
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
        if not buyers[indicator].notna().any():   # profit without cost data: no tiers of it
            continue
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
    known = profit_known(buyers)
    top_share = (top_tier_profit_share(buyers["profit"], top, settings.bootstrap_replicates,
                                       seed) if top is not None
                 else Estimate(None, method="no pyramid configured"))
    revenue_share = (top_tier_share(buyers["revenue"].clip(lower=0), top,
                                    settings.bootstrap_replicates, seed, "revenue")
                     if top is not None and not known else None)
    questions = manager_questions(ctx.features(), ctx.settings.churn_days,
                                  ctx.data.interactions is not None)
    return SegmentReport(settings, customers, tier_tables, pyramids, card, stages_table, table,
                         stage_moves(table), strategies(frame, segment, n_prospects), questions,
                         tuple(loyalty_missing), n_prospects, top_share, len(buyers),
                         revenue_share)
