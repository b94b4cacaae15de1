"""Customer features for every period at once: the customer x period panel.

Calling :meth:`FeatureEngine.features` once per month re-reads the whole history
each time (36 passes over the data for three years). Here the engine reads each
table once: it aggregates each table per customer and period, fills in the
periods in which a customer has no row, and computes the running totals and the
latest values in one window pass over that grid. The derived columns come from the same
``_derive`` as :meth:`FeatureEngine.features`, and a test checks that every row
equals the per-period features.

The query is Ibis expressions, not one engine's SQL, so it runs on DuckDB and on Spark
alike (a test compares the two row for row). Periods are whole months that follow each
other, so a timestamp's period is arithmetic on its year and month (:func:`period_index`)
instead of a join with a table of periods.

Only rows that matter for monthly work are kept: the customer bought in the
period, or was active (in the sense of ``churn_days``) at its start or end. A
customer who is absent from a period therefore had no order in it. Long-lapsed
customers would otherwise fill most of the panel (13 million of its rows at
10 million transaction lines).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from analysis.data.periods import Period
from analysis.engine.backends import sorted_output
from analysis.engine.features import FeatureEngine, _derive, response_hours

KEYS = ("customer_id", "idx")


def build_panel(engine: FeatureEngine, periods: Sequence[Period],
                coverage_end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Features (as :meth:`FeatureEngine.features`) for each period, with column ``month``
    (the period label); rows sorted by period, then customer."""
    if not periods:
        raise ValueError("build_panel: no periods given")
    with sorted_output(engine.con):
        table = panel_query(engine, periods).to_pyarrow()
    # column by column, freeing the Arrow buffers as they are converted: the panel is held
    # once, not twice (about 4 GB at 10M lines)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    spans = _spans(periods)
    idx = frame.pop("idx").to_numpy()
    start = pd.Series(spans["start"].to_numpy()[idx], index=frame.index)
    end = pd.Series(spans["end"].to_numpy()[idx], index=frame.index)
    known = pd.Series([engine.next_window_known(p.start, p.end, coverage_end) for p in periods])
    frame = _derive(frame, start, end, known.to_numpy()[idx], engine.churn_days, engine.data)
    frame["month"] = pd.Series([p.label for p in periods]).to_numpy()[idx]
    return frame


def _spans(periods: Sequence[Period]) -> pd.DataFrame:
    """Start and end of each period (index = period number), as nanosecond timestamps."""
    return pd.DataFrame({"start": pd.to_datetime([p.start for p in periods]),
                         "end": pd.to_datetime([p.end for p in periods])}).astype(
        "datetime64[ns]")


class PeriodIndex:
    """Numbers the periods 0, 1, ... n - 1 (n for the one after the last, which
    ``repurchase_next`` needs): the period of a timestamp is its month count since the first
    period's start, divided by the period length in months."""

    def __init__(self, periods: Sequence[Period]):
        months = periods[0].months
        for before, after in zip(periods, periods[1:], strict=False):
            if after.start != before.end or after.months != months:
                raise ValueError(f"panel periods must follow each other and be equally long: "
                                 f"{before.label} ({before.months} months) is followed by "
                                 f"{after.label} ({after.months} months)")
        first = periods[0].start
        if first != first.normalize() or first.day != 1 or months <= 0:
            raise ValueError(f"panel periods must start on the first of a month, not {first}")
        self.months = months
        self.base = first.year * 12 + first.month - 1
        self.n = len(periods)
        self.last_end = periods[-1].end

    def of(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """The period number of ``ts`` (negative before the first period)."""
        month = ts.year() * 12 + ts.month() - 1 - self.base
        return month if self.months == 1 else month // self.months


def panel_query(engine: FeatureEngine, periods: Sequence[Period]) -> ir.Table:
    """The panel as one Ibis expression; the optional contract columns and tables switch
    parts on.

    Each source is aggregated per customer and period; the periods a customer has no row
    in are filled in (``grid``, from the customer's first row to the last period that can
    be kept); running totals and the latest values come from one window pass over that
    grid, sorted once. (Joining each running total on with its own ASOF join took about
    1.4x as long at 10 million lines.) The latest survey and the running complaint
    resolution are structs led by their period number, so a running maximum carries the
    latest forward (Ibis compiles ``last`` over a window without skipping nulls on some
    engines)."""
    index = PeriodIndex(periods)
    churn = ibis.interval(days=int(engine.churn_days))
    win, cat_new = _transactions(engine, index)
    sources = {"win": win}
    if cat_new is not None:
        sources["cat_new"] = cat_new
    if "surveys" in engine.tables:
        sources["surveys"] = _surveys(engine, index)
    if "interactions" in engine.tables:
        sources["contacts"], sources["resolved"] = _interactions(engine, index)

    dense = _grid(sources, index, churn)
    for source in sources.values():
        values = [c for c in source.columns if c not in KEYS]
        dense = dense.left_join(source, list(KEYS)).select(*dense.columns, *values)

    w = ibis.window(group_by="customer_id", order_by="idx", rows=(None, 0))
    before = ibis.window(group_by="customer_id", order_by="idx", rows=(None, -1))
    ahead = ibis.window(group_by="customer_id", order_by="idx")
    window_cols = [c for c in win.columns if c not in (*KEYS, "first_sale", "last_sale")]
    history = {
        "first_purchase": dense.first_sale.min().over(w),
        "last_purchase": dense.last_sale.max().over(w),
        "last_before_start": dense.last_sale.max().over(before),
        "orders_total": dense.orders.sum().over(w).cast("int64"),
        "categories_total": (dense.new_categories.sum().over(w).fill_null(0).cast("int64")
                             if cat_new is not None else ibis.null("int64")),
    }
    latest = {"next_orders": dense.orders.lead().over(ahead)}
    if "surveys" in sources:
        n = dense.sv_n.sum().over(w)
        latest |= {"sv_last": dense.sv_last.max().over(w),
                   "satisfaction_mean": dense.sv_total.sum().over(w) / n,
                   "surveys_total": n.cast("int64")}
    if "contacts" in sources:
        latest |= {"contacts_total": dense.contacts.sum().over(w).cast("int64"),
                   "complaints_total": dense.complaint_count.sum().over(w).cast("int64"),
                   "referrals_made": dense.referrals.sum().over(w).cast("int64"),
                   "care_contacts_total": dense.care_contacts.sum().over(w).cast("int64"),
                   "rs_last": dense.rs_last.max().over(w)}
        window_cols += ["service_cost", "complaints"]
    run = dense.select(*KEYS, *window_cols, **history, **latest)

    keep = run.filter(
        run.idx < index.n, run.first_purchase.notnull(),
        (run.orders > 0) | (index.of(run.last_purchase + churn) >= run.idx + 1)
        | (index.of(run.last_before_start + churn) >= run.idx))
    return _columns(engine, keep, window_cols).order_by(["idx", "customer_id"])


def _transactions(engine: FeatureEngine, index: PeriodIndex):
    """Per customer and period: the window columns of the features, the first and last
    sale; and per customer and period the number of categories bought for the first time
    (None without a category column)."""
    tx = engine.tables["transactions"]
    cols = set(tx.columns)
    t = tx.mutate(idx=index.of(tx.timestamp), day=tx.timestamp.date())
    t = t.filter(t.idx >= 0, t.idx <= index.n)
    sale = ~t.is_return
    metrics = {
        "orders": t.day.nunique(where=sale),
        "revenue": t.revenue.sum(),
        "gross_sales": t.revenue.sum(where=sale),
        "returns_value": -t.revenue.sum(where=t.is_return),
    }
    if "cost" in cols:
        metrics |= {"cogs": t.cost.sum(), "cost_known": t.cost.count(),
                    "lines": t.revenue.count()}
    if "category" in cols:
        metrics["categories"] = t.category.nunique(where=sale)
    if "promotion" in cols:
        metrics |= {"promo_sales": t.revenue.sum(where=sale & t.promotion.fill_null(False)),
                    "promo_known": t.promotion.count()}
    metrics |= {"first_sale": t.timestamp.min(where=sale),
                "last_sale": t.timestamp.max(where=sale)}
    win = t.group_by(list(KEYS)).aggregate(**metrics)
    if "category" not in cols:
        return win, None
    firsts = (t.filter(sale, t.category.notnull()).group_by(["customer_id", "category"])
              .aggregate(idx=_.idx.min()))
    return win, firsts.group_by(list(KEYS)).aggregate(new_categories=_.count())


def _surveys(engine: FeatureEngine, index: PeriodIndex) -> ir.Table:
    """Per customer and period: the latest score (as the features: the last survey's, even
    if empty) and would-recommend, as a struct led by the period, and the count and sum of
    scores; surveys before the first period count from it."""
    s = engine.tables["surveys"]
    s = s.filter(s.survey_date < index.last_end).mutate(
        idx=ibis.greatest(index.of(s.survey_date), 0))
    latest = {"score": s.score.argmax(s.survey_date)}
    if "would_recommend" in s.columns:
        latest["recommend"] = s.would_recommend.argmax(s.survey_date)
    per = s.group_by(list(KEYS)).aggregate(**latest, sv_n=s.score.count(),
                                           sv_total=s.score.sum())
    return per.select(*KEYS, sv_last=ibis.struct({"idx": per.idx, **{k: per[k] for k in latest}}),
                      sv_n=per.sv_n, sv_total=per.sv_total)


def _interactions(engine: FeatureEngine, index: PeriodIndex) -> tuple[ir.Table, ir.Table]:
    """Per customer and period: cost and complaints opened in the period (NULL without
    contacts in it), and counts of contacts, complaints and referrals (those before the
    first period count from it); per customer and the period by whose end they were
    resolved (the later of opening and resolution): the running count of resolved
    complaints and the running median response time, as a struct led by the period."""
    i = engine.tables["interactions"]
    i = i.filter(i.opened_at < index.last_end)
    opened = index.of(i.opened_at)
    i = i.mutate(in_panel=opened >= 0, idx=ibis.greatest(opened, 0))
    complaint = i.type == "complaint"
    any_opened = i.count(where=i.in_panel) > 0
    cost = (i.service_cost.sum(where=i.in_panel) if "service_cost" in i.columns
            else ibis.ifelse(any_opened, 0.0, ibis.null("float64")))
    contacts = i.group_by(list(KEYS)).aggregate(
        service_cost=cost,
        complaints=ibis.ifelse(any_opened, i.count(where=complaint & i.in_panel),
                               ibis.null("int64")),
        contacts=i.count(), complaint_count=i.count(where=complaint),
        referrals=i.count(where=i.type == "referral"),
        care_contacts=i.count(where=i.type == "contact"))

    r = engine.tables["interactions"]
    r = r.filter(r.type == "complaint", r.resolved_at.notnull()).mutate(
        done=ibis.greatest(r.opened_at, r.resolved_at),
        hours=response_hours(r.opened_at, r.resolved_at))
    r = r.filter(r.done < index.last_end).mutate(idx=ibis.greatest(index.of(r.done), 0))
    so_far = ibis.window(group_by="customer_id", order_by="idx", range=(None, 0))
    resolved = r.select(*KEYS, rs_last=ibis.struct({
        "idx": r.idx, "resolved": r.count().over(so_far),
        "median": r.hours.median().over(so_far)})).distinct()
    return contacts, resolved


def _grid(sources: dict[str, ir.Table], index: PeriodIndex, churn) -> ir.Table:
    """Every (customer, period) from the customer's first row in any source to the last
    period with a transaction or starting within ``churn`` of the last sale (no later period
    can be kept), at most to the one after the panel; customers with a sale only."""
    win = sources["win"]
    sales = win.group_by("customer_id").aggregate(
        lo=_.idx.min(), tx_hi=_.idx.max(), last_sale=_.last_sale.max(),
        sold=_.first_sale.count()).filter(_.sold > 0)
    others = [sources[name].select(*KEYS) for name in ("surveys", "contacts") if name in sources]
    if others:
        earliest = ibis.union(*others, distinct=False).group_by("customer_id").aggregate(
            other_lo=_.idx.min())
        joined = sales.left_join(earliest, "customer_id")
        sales = joined.select("customer_id", "tx_hi", "last_sale",
                              lo=ibis.least(joined.lo, joined.other_lo.fill_null(joined.lo)))
    hi = ibis.least(ibis.greatest(sales.tx_hi, index.of(sales.last_sale + churn)), index.n)
    return sales.select("customer_id", idx=ibis.range(sales.lo, hi + 1, 1).unnest())


def _columns(engine: FeatureEngine, run: ir.Table, window_cols: list[str]) -> ir.Table:
    """The query's columns in the order of :meth:`FeatureEngine.features` (before
    ``_derive``), with the customers table joined on."""
    names = ["idx", "customer_id", "first_purchase", "last_purchase", "last_before_start",
             "orders_total", "categories_total",
             *[c for c in window_cols if c not in ("service_cost", "complaints")],
             "next_orders"]
    if "customers" in engine.tables:
        customers = engine.tables["customers"]
        cols = [c for c in ("signup_date", "channel", "market_type", "region")
                if c in customers.columns]
        run = run.left_join(customers.select("customer_id", *cols), "customer_id")
        names += cols
    named = {}
    if "sv_last" in run.columns:
        named |= {"satisfaction_latest": run.sv_last["score"],
                  "satisfaction_mean": run.satisfaction_mean,
                  "surveys_total": run.surveys_total}
        if "recommend" in run.sv_last.type().names:
            named["would_recommend"] = run.sv_last["recommend"]
    if "rs_last" in run.columns:
        named |= {"service_cost": run.service_cost, "complaints": run.complaints,
                  "complaints_total": run.complaints_total,
                  "unresolved_complaints":
                      run.complaints_total - run.rs_last["resolved"].fill_null(0),
                  "median_response_hours": run.rs_last["median"],
                  "contacts_total": run.contacts_total, "referrals_made": run.referrals_made,
                  "care_contacts_total": run.care_contacts_total}
    return run.select(*names, **named)
