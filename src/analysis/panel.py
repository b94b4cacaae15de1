"""Customer features for every period at once: the customer x period panel.

Calling :meth:`FeatureEngine.features` once per month re-reads the whole history
each time (36 passes over the data for three years). Here DuckDB reads each
table once: it aggregates per customer and period, turns the aggregates into
running totals with window functions, and joins each customer's latest total to
every later period (ASOF joins). The derived columns come from the same
``_derive`` as :meth:`FeatureEngine.features`, and a test checks that every row
equals the per-period features.

Only rows that matter for monthly work are kept: the customer bought in the
period, or was active (in the sense of ``churn_days``) at its start or end. A
customer who is absent from a period therefore had no order in it. Long-lapsed
customers would otherwise fill most of the panel (13 million of its rows at
10 million transaction lines).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.features import FeatureEngine, _derive, _next_end
from analysis.periods import Period

PERIODS_TABLE = "panel_periods"


def build_panel(engine: FeatureEngine, periods: Sequence[Period],
                coverage_end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Features (as :meth:`FeatureEngine.features`) for each period, with column ``month``
    (the period label); rows sorted by period, then customer."""
    if not periods:
        raise ValueError("build_panel: no periods given")
    table = _periods_table(periods)
    con = engine.con.con
    con.register(PERIODS_TABLE, table)
    con.execute("SET preserve_insertion_order = false")  # rows are sorted below; saves memory
    try:
        frame = con.sql(panel_sql(engine, len(periods))).df()
    finally:
        con.execute("RESET preserve_insertion_order")
        con.unregister(PERIODS_TABLE)
    frame = frame.sort_values(["idx", "customer_id"], kind="stable").reset_index(drop=True)
    start = table["start"].to_numpy("datetime64[ns]")[frame["idx"]]
    end = table["end"].to_numpy("datetime64[ns]")[frame["idx"]]
    known = pd.Series([engine.next_window_known(p.start, p.end, coverage_end) for p in periods])
    labels = pd.Series([p.label for p in periods])
    idx = frame.pop("idx")
    frame = _derive(frame, pd.Series(start, index=frame.index), pd.Series(end, index=frame.index),
                    known[idx].to_numpy(), engine.churn_days, engine.data)
    frame["month"] = labels[idx].to_numpy()
    return frame


def _periods_table(periods: Sequence[Period]) -> pd.DataFrame:
    """The periods plus the one after the last (for ``repurchase_next``)."""
    spans = [(p.start, p.end) for p in periods]
    last = periods[-1]
    spans.append((last.end, _next_end(last.start, last.end)))
    return pd.DataFrame({
        "idx": range(len(spans)),
        "start": pd.to_datetime([s for s, _ in spans]).astype("datetime64[us]"),
        "end": pd.to_datetime([e for _, e in spans]).astype("datetime64[us]"),
    })


def panel_sql(engine: FeatureEngine, n_periods: int) -> str:
    """One DuckDB query; the optional contract columns and tables switch parts on."""
    tx_cols = set(engine.tables["transactions"].columns)
    churn = f"INTERVAL {int(engine.churn_days)} DAY"
    window = ["count(DISTINCT day) FILTER (WHERE NOT is_return) AS orders",
              "sum(revenue) AS revenue",
              "sum(revenue) FILTER (WHERE NOT is_return) AS gross_sales",
              "-sum(revenue) FILTER (WHERE is_return) AS returns_value",
              "min(timestamp) FILTER (WHERE NOT is_return) AS first_sale",
              "max(timestamp) FILTER (WHERE NOT is_return) AS last_sale"]
    if "cost" in tx_cols:
        window += ["sum(cost) AS cogs", "count(cost) AS cost_known", "count(revenue) AS lines"]
    if "category" in tx_cols:
        window.append("count(DISTINCT category) FILTER (WHERE NOT is_return) AS categories")
    if "promotion" in tx_cols:
        window += ["sum(revenue) FILTER (WHERE NOT is_return AND coalesce(promotion, false)) "
                   "AS promo_sales", "count(promotion) AS promo_known"]
    tx_select = ", ".join(f"t.{c}" for c in ("customer_id", "timestamp", "revenue", "is_return",
                                            "cost", "category", "promotion") if c in tx_cols)
    window_cols = [w.rsplit(" AS ", 1)[1] for w in window
                   if not w.endswith(("first_sale", "last_sale"))]
    ctes = [
        f"p AS (SELECT * FROM {PERIODS_TABLE})",
        "panel_end AS (SELECT max(\"end\") AS last_end FROM p WHERE idx < "
        f"{n_periods})",
        f"tx AS (SELECT {tx_select}, p.idx, CAST(t.timestamp AS DATE) AS day "
        "FROM contract_transactions t ASOF JOIN p ON t.timestamp >= p.start "
        "WHERE t.timestamp < p.\"end\")",
        f"win AS (SELECT customer_id, idx, {', '.join(window)} FROM tx GROUP BY customer_id, idx)",
        # running history over the periods with a sale
        "hist AS (SELECT customer_id, idx, min(first_sale) OVER w AS first_purchase, "
        "max(last_sale) OVER w AS last_purchase, sum(orders) OVER w AS orders_total "
        "FROM win WHERE orders > 0 "
        "WINDOW w AS (PARTITION BY customer_id ORDER BY idx ROWS UNBOUNDED PRECEDING))",
        "firsts AS (SELECT customer_id, min(idx) AS first_idx FROM hist GROUP BY customer_id)",
        f"grid AS (SELECT f.customer_id, p.idx, p.start, p.\"end\" FROM firsts f "
        f"JOIN p ON p.idx >= f.first_idx AND p.idx < {n_periods})",
        "kept AS (SELECT g.customer_id, g.idx, h.first_purchase, h.last_purchase, "
        "h.orders_total, b.last_purchase AS last_before_start, "
        f"{', '.join(f'w.{c}' for c in window_cols)} FROM grid g "
        "ASOF JOIN hist h ON g.customer_id = h.customer_id AND g.idx >= h.idx "
        "ASOF LEFT JOIN hist b ON g.customer_id = b.customer_id AND g.idx > b.idx "
        "LEFT JOIN win w ON w.customer_id = g.customer_id AND w.idx = g.idx "
        f"WHERE w.orders > 0 OR h.last_purchase >= g.\"end\" - {churn} "
        f"OR b.last_purchase >= g.start - {churn})",
    ]
    history = ["k.idx", "k.customer_id", "k.first_purchase", "k.last_purchase",
               "k.last_before_start", "k.orders_total"]
    select = [*(f"k.{c}" for c in window_cols), "nx.orders AS next_orders"]
    joins = ["LEFT JOIN win nx ON nx.customer_id = k.customer_id AND nx.idx = k.idx + 1"]
    if "category" not in tx_cols:
        history.append("NULL AS categories_total")
    else:
        ctes += [
            "cat_first AS (SELECT customer_id, category, min(idx) AS idx FROM tx "
            "WHERE NOT is_return AND category IS NOT NULL GROUP BY customer_id, category)",
            "cat AS (SELECT customer_id, idx, sum(count(*)) OVER (PARTITION BY customer_id "
            "ORDER BY idx ROWS UNBOUNDED PRECEDING) AS categories_total "
            "FROM cat_first GROUP BY customer_id, idx)"]
        history.append("coalesce(cat.categories_total, 0) AS categories_total")
        joins.append("ASOF LEFT JOIN cat ON cat.customer_id = k.customer_id AND k.idx >= cat.idx")
    if "customers" in engine.tables:
        cols = [c for c in ("signup_date", "channel", "market_type", "region")
                if c in engine.tables["customers"].columns]
        select += [f"c.{c}" for c in cols]
        joins.append("LEFT JOIN contract_customers c ON c.customer_id = k.customer_id")
    if "surveys" in engine.tables:
        ctes += _survey_ctes("would_recommend" in engine.tables["surveys"].columns)
        select += ["sv.satisfaction_latest", "sv.satisfaction_mean", "sv.surveys_total"]
        if "would_recommend" in engine.tables["surveys"].columns:
            select.append("sv.would_recommend")
        joins.append("ASOF LEFT JOIN sv ON sv.customer_id = k.customer_id AND k.idx >= sv.idx")
    if "interactions" in engine.tables:
        has_cost = "service_cost" in engine.tables["interactions"].columns
        ctes += _interaction_ctes(has_cost)
        select += ["ia_now.service_cost", "ia_now.complaints", "ia.complaints_total",
                   "ia.complaints_total - coalesce(rs.resolved, 0) AS unresolved_complaints",
                   "rs.median_response_hours", "ia.contacts_total", "ia.referrals_made"]
        joins += [
            "LEFT JOIN ia_now ON ia_now.customer_id = k.customer_id AND ia_now.idx = k.idx",
            "ASOF LEFT JOIN ia ON ia.customer_id = k.customer_id AND k.idx >= ia.idx",
            "ASOF LEFT JOIN rs ON rs.customer_id = k.customer_id AND k.idx >= rs.idx"]
    return (f"WITH {', '.join(ctes)} SELECT {', '.join(history + select)} FROM kept k "
            + " ".join(joins))


def _survey_ctes(recommend: bool) -> list[str]:
    """Per customer and period: the latest score (as the features: the last survey's, even
    if empty) and running count and sum; surveys before the first period count from it."""
    latest_rec = (", first(would_recommend ORDER BY survey_date DESC) AS would_recommend"
                  if recommend else "")
    rec = ", would_recommend" if recommend else ""
    return [
        f"sv_in AS (SELECT s.customer_id, s.survey_date, s.score"
        f"{', s.would_recommend' if recommend else ''}, "
        "coalesce(p.idx, 0) AS idx FROM contract_surveys s "
        "ASOF LEFT JOIN p ON s.survey_date >= p.start "
        "WHERE s.survey_date < (SELECT last_end FROM panel_end))",
        "sv_per AS (SELECT customer_id, idx, "
        "first(score ORDER BY survey_date DESC) AS satisfaction_latest, "
        f"count(score) AS n, sum(score) AS total{latest_rec} "
        "FROM sv_in GROUP BY customer_id, idx)",
        "sv AS (SELECT customer_id, idx, satisfaction_latest"
        f"{rec}, sum(total) OVER w / sum(n) OVER w AS satisfaction_mean, "
        "sum(n) OVER w AS surveys_total FROM sv_per "
        "WINDOW w AS (PARTITION BY customer_id ORDER BY idx ROWS UNBOUNDED PRECEDING))",
    ]


def _interaction_ctes(has_cost: bool) -> list[str]:
    """In-period cost and complaints; running contacts, complaints and referrals; complaints
    resolved by the period end (keyed by the later of opening and resolution) with their
    running median response time."""
    cost = "sum(service_cost)" if has_cost else "0.0"
    running = "PARTITION BY customer_id ORDER BY idx"
    return [
        f"ia_in AS (SELECT i.customer_id, i.type{', i.service_cost' if has_cost else ''}, "
        "p.idx AS opened_idx FROM contract_interactions i "
        "ASOF LEFT JOIN p ON i.opened_at >= p.start "
        "WHERE i.opened_at < (SELECT last_end FROM panel_end))",
        f"ia_now AS (SELECT customer_id, opened_idx AS idx, {cost} AS service_cost, "
        "count(*) FILTER (WHERE type = 'complaint') AS complaints FROM ia_in "
        "WHERE opened_idx IS NOT NULL GROUP BY customer_id, opened_idx)",
        "ia AS (SELECT customer_id, idx, "
        f"sum(count(*)) OVER ({running}) AS contacts_total, "
        f"sum(count(*) FILTER (WHERE type = 'complaint')) OVER ({running}) AS complaints_total, "
        f"sum(count(*) FILTER (WHERE type = 'referral')) OVER ({running}) AS referrals_made "
        "FROM (SELECT *, coalesce(opened_idx, 0) AS idx FROM ia_in) GROUP BY customer_id, idx)",
        "rs_in AS (SELECT r.customer_id, coalesce(p.idx, 0) AS idx, r.hours FROM "
        "(SELECT customer_id, greatest(opened_at, resolved_at) AS done, "
        "(epoch(resolved_at) - epoch(opened_at)) / 3600.0 AS hours "
        "FROM contract_interactions WHERE type = 'complaint' AND resolved_at IS NOT NULL) r "
        "ASOF LEFT JOIN p ON r.done >= p.start WHERE r.done < (SELECT last_end FROM panel_end))",
        "rs AS (SELECT DISTINCT customer_id, idx, "
        f"count(*) OVER ({running} RANGE UNBOUNDED PRECEDING) AS resolved, "
        f"quantile_cont(hours, 0.5) OVER ({running} RANGE UNBOUNDED PRECEDING) "
        "AS median_response_hours FROM rs_in)",
    ]
