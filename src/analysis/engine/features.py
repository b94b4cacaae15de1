"""Customer features per window, computed in the engine (Ibis over DuckDB by default).

The aggregation runs as Ibis expressions, so the same code runs on DuckDB
(embedded default) and on Spark (:mod:`analysis.engine.backends` opens either from the
config's ``[engine]`` table; pass the Ibis backend to :class:`FeatureEngine`). Only one
row per customer comes back to pandas, where the cheap derived columns (ratios, flags)
are added.

Column meanings are documented in ``docs/INTERFACES.md``; window columns use
[start, end), history columns everything before ``end``.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from ibis import _

from analysis.data.contract import CustomerData
from analysis.data.periods import last_complete_month
from analysis.engine.backends import duckdb_backend, is_spark, load_parquet, load_table

SECONDS_PER_DAY = 86400.0

WINDOW_ZERO = ("orders", "revenue", "gross_sales", "returns_value", "promo_sales", "categories",
               "complaints")


class FeatureEngine:
    """Holds the contract tables inside an Ibis backend (default: embedded DuckDB; see
    :func:`analysis.engine.backends.connect`) and builds feature tables from them."""

    def __init__(self, data: CustomerData, backend=None, churn_days: int = 180):
        self.data = data
        self.churn_days = churn_days
        self.con = backend if backend is not None else duckdb_backend()
        self.tables = {}
        stored = getattr(data, "transactions_file", None)
        for name in ("transactions", "customers", "surveys", "interactions"):
            if name == "transactions" and stored is not None and not is_spark(self.con) \
                    and data.transactions_stored:
                # the validated lines stay on disk: DuckDB reads the cache's Parquet file
                self.tables[name] = load_parquet(self.con, f"contract_{name}", stored)
                continue
            frame = getattr(data, name)
            if frame is not None:
                self.tables[name] = load_table(self.con, f"contract_{name}", _for_engine(frame))
        self.data_start, self.data_end = data.time_span()

    def features(self, start: pd.Timestamp, end: pd.Timestamp,
                 coverage_end: pd.Timestamp | None = None) -> pd.DataFrame:
        """One row per customer with a purchase before ``end``; see docs/INTERFACES.md.

        ``coverage_end``: how far the data reach (exclusive); decides whether
        ``repurchase_next`` is known. Default: the end of the last complete month.
        """
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        if start >= end:
            raise ValueError(f"feature window start {start} must be before end {end}")
        frame = self._history(start, end)
        for part in (self._window(start, end), self._next_window(start, end),
                     self._customers(), self._surveys(end), self._interactions(start, end)):
            if part is not None:
                frame = frame.merge(part, on="customer_id", how="left")
        known = self.next_window_known(start, end, coverage_end)
        frame = _derive(frame, start, end, known, self.churn_days, self.data)
        return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)

    def next_window_known(self, start: pd.Timestamp, end: pd.Timestamp,
                          coverage_end: pd.Timestamp | None = None) -> bool:
        """Do the data (up to ``coverage_end``, default the end of the last complete month)
        cover the window that follows [start, end), so ``repurchase_next`` is known?"""
        coverage_end = (pd.Timestamp(coverage_end) if coverage_end is not None
                        else last_complete_month(pd.Series([self.data_end])).end)
        return _next_end(start, end) <= coverage_end

    def purchase_days(self) -> pd.DataFrame:
        """One row per customer and purchase day with the day's summed revenue (returns and
        anonymous lines left out), sorted by customer and day: what
        :func:`analysis.engine.rfm.purchase_days` computes from the lines in pandas."""
        tx = self.tables["transactions"]
        sales = tx.filter(~_.is_return.fill_null(False), _.customer_id.notnull())
        days = (sales.group_by(customer_id=_.customer_id, day=_.timestamp.truncate("D"))
                .aggregate(revenue=_.revenue.sum()).order_by(["customer_id", "day"]))
        out = days.to_pandas()
        return pd.DataFrame({"customer_id": out["customer_id"].astype("string"),
                             "day": out["day"].astype("datetime64[ns]"),
                             "revenue": out["revenue"].astype(float)})

    def early_behaviour(self, end: pd.Timestamp, landmark_days: int) -> pd.DataFrame:
        """Per customer with a purchase before ``end`` (sorted by customer): the first and
        last purchase, and over the sales of the first ``landmark_days`` days the purchase
        days (``early_orders``), categories, revenue and the share of revenue bought on
        promotion (NaN where the early revenue is 0 or the data have no such column)."""
        tx = self.tables["transactions"]
        sales = tx.filter(_.timestamp < pd.Timestamp(end), ~_.is_return)
        life = sales.group_by("customer_id").aggregate(first_purchase=_.timestamp.min(),
                                                       last_purchase=_.timestamp.max())
        early = sales.join(life, "customer_id")
        early = early.filter(early.timestamp
                             < early.first_purchase + ibis.interval(days=int(landmark_days)))
        metrics = {"early_orders": early.timestamp.truncate("D").nunique(),
                   "early_revenue": early.revenue.sum()}
        if "category" in tx.columns:
            metrics["early_categories"] = early.category.nunique()
        if "promotion" in tx.columns:
            promoted = ibis.ifelse(early.promotion.fill_null(False), early.revenue, 0.0).sum()
            metrics["early_promo_share"] = promoted / early.revenue.sum().nullif(0.0)
        out = (life.join(early.group_by("customer_id").aggregate(**metrics), "customer_id")
               .order_by("customer_id").to_pandas())
        for column in ("first_purchase", "last_purchase"):
            out[column] = out[column].astype("datetime64[ns]")
        out["early_categories"] = (out["early_categories"].astype("int64")
                                   if "early_categories" in out else np.nan)
        out["early_promo_share"] = (out["early_promo_share"].astype(float)
                                    if "early_promo_share" in out else np.nan)
        out["early_orders"] = out["early_orders"].astype(float)
        return out[["customer_id", "first_purchase", "last_purchase", "early_orders",
                    "early_categories", "early_promo_share", "early_revenue"]]

    def monthly_coverage(self) -> pd.DataFrame:
        """Revenue (sales minus returns), lines and buying customers per calendar month of
        the kept transactions (``month``: the month's first day)."""
        tx = self.tables["transactions"]
        months = (tx.filter(_.timestamp.notnull())
                  .group_by(month=_.timestamp.truncate("M"))
                  .aggregate(revenue=_.revenue.sum(), lines=_.count(),
                             customers=_.customer_id.nunique())
                  .order_by("month").to_pandas())
        return pd.DataFrame({"month": months["month"].astype("datetime64[ns]"),
                             "revenue": months["revenue"].astype(float),
                             "lines": months["lines"].astype(int),
                             "customers": months["customers"].astype(int)})

    def daily_lines(self) -> pd.DataFrame:
        """Per calendar day: the lines' summed revenue (sales minus returns), their number,
        their summed cost of goods (NaN where no line of the day has one) and how many miss
        a cost; sorted by day. Periods begin at midnight, so a period's totals are the sums
        of its days (:func:`analysis.analyses.kpis.period_totals`)."""
        tx = self.tables["transactions"]
        sums = {"revenue": _.revenue.sum(), "lines": _.count()}
        if "cost" in tx.columns:
            sums.update(cogs=_.cost.sum(), cost_missing=_.cost.isnull().sum())
        days = (tx.filter(_.timestamp.notnull()).group_by(day=_.timestamp.truncate("D"))
                .aggregate(**sums).order_by("day").to_pandas())
        out = pd.DataFrame({"timestamp": days["day"].astype("datetime64[ns]"),
                            "revenue": days["revenue"].astype(float),
                            "lines": days["lines"].astype(int)})
        if "cost" in tx.columns:
            out["cost"] = days["cogs"].astype(float)
            out["cost_missing"] = days["cost_missing"].fillna(0).astype(int)
        return out

    def _history(self, start, end) -> pd.DataFrame:
        tx = self.tables["transactions"]
        hist = tx.filter(_.timestamp < end, ~_.is_return)
        agg = hist.group_by("customer_id").aggregate(
            first_purchase=_.timestamp.min(),
            last_purchase=_.timestamp.max(),
            last_before_start=_.timestamp.max(where=_.timestamp < start),
            orders_total=_.timestamp.date().nunique(),
            categories_total=_.category.nunique() if "category" in tx.columns else ibis.null(),
        )
        return agg.to_pandas()

    def _window(self, start, end) -> pd.DataFrame:
        tx = self.tables["transactions"]
        win = tx.filter(_.timestamp >= start, _.timestamp < end)
        sale = ~win.is_return
        metrics = {
            "orders": win.timestamp.date().nunique(where=sale),
            "revenue": win.revenue.sum(),
            "gross_sales": win.revenue.sum(where=sale),
            "returns_value": -win.revenue.sum(where=win.is_return),
        }
        if "cost" in tx.columns:
            metrics["cogs"] = win.cost.sum()
            metrics["cost_known"] = win.cost.count()
            metrics["lines"] = win.revenue.count()
        if "category" in tx.columns:
            metrics["categories"] = win.category.nunique(where=sale)
        if "promotion" in tx.columns:
            metrics["promo_sales"] = win.revenue.sum(where=sale & win.promotion.fill_null(False))
            metrics["promo_known"] = win.promotion.count()
        return win.group_by("customer_id").aggregate(**metrics).to_pandas()

    def _next_window(self, start, end) -> pd.DataFrame:
        tx = self.tables["transactions"]
        nxt = _next_end(start, end)
        bought = tx.filter(_.timestamp >= end, _.timestamp < nxt, ~_.is_return)
        out = bought.group_by("customer_id").aggregate(next_orders=_.timestamp.date().nunique())
        return out.to_pandas()

    def _customers(self) -> pd.DataFrame | None:
        if "customers" not in self.tables:
            return None
        cols = [c for c in ("customer_id", "signup_date", "channel", "market_type", "region")
                if c in self.tables["customers"].columns]
        return self.tables["customers"].select(*cols).to_pandas()

    def _surveys(self, end) -> pd.DataFrame | None:
        if "surveys" not in self.tables:
            return None
        s = self.tables["surveys"].filter(_.survey_date < end)
        metrics = {
            "satisfaction_latest": s.score.argmax(s.survey_date),
            "satisfaction_mean": s.score.mean(),
            "surveys_total": s.score.count(),
        }
        if "would_recommend" in s.columns:
            metrics["would_recommend"] = s.would_recommend.argmax(s.survey_date)
        return s.group_by("customer_id").aggregate(**metrics).to_pandas()

    def _interactions(self, start, end) -> pd.DataFrame | None:
        if "interactions" not in self.tables:
            return None
        i = self.tables["interactions"].filter(_.opened_at < end)
        in_window = i.opened_at >= start
        complaint = i.type == "complaint"
        resolved = i.resolved_at.notnull() & (i.resolved_at < end)
        hours = response_hours(i.opened_at, i.resolved_at)
        cost = i.service_cost if "service_cost" in i.columns else ibis.literal(0.0)
        agg = i.group_by("customer_id").aggregate(
            service_cost=cost.sum(where=in_window),
            complaints=complaint.sum(where=in_window),
            complaints_total=complaint.sum(),
            unresolved_complaints=(complaint & ~resolved).sum(),
            # a filtered median, written so that Spark can run it too (Ibis passes a
            # median's filter to Spark's percentile as the percentage as well)
            median_response_hours=ibis.ifelse(complaint & resolved, hours, None).median(),
            contacts_total=i.count(),
            referrals_made=(i.type == "referral").sum(),
            # contacts the company initiated (account care); complaints, requests and
            # referrals come from the customer (claim C10 reads these)
            care_contacts_total=(i.type == "contact").sum(),
        )
        return agg.to_pandas()


def response_hours(opened: ibis.Value, resolved: ibis.Value) -> ibis.Value:
    """Hours from opening to resolution, as a double on every engine (Spark would otherwise
    divide as decimals, rounding to six places). Spark counts whole seconds."""
    return (resolved.epoch_seconds() - opened.epoch_seconds()).cast("float64") / 3600.0


def _for_engine(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy-backed dtypes the engines read quickly; timestamps at microsecond
    precision."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.astype("datetime64[us]")
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("boolean")
        else:
            out[col] = s
    return pd.DataFrame(out)


def _next_end(start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp:
    """End of the window of the same length that follows [start, end)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if start.day == end.day == 1 and months > 0:
        return end + pd.DateOffset(months=months)
    return end + (end - start)


def _days(later: pd.Series | pd.Timestamp, earlier: pd.Series | pd.Timestamp) -> pd.Series:
    return (later - earlier) / pd.Timedelta(days=1)


def _derive(frame, start, end, known, churn_days, data: CustomerData) -> pd.DataFrame:
    """Ratios, flags and dtypes; ``start``, ``end`` and ``known`` (is the next window inside
    the data?) are scalars for one window or per-row arrays for a panel."""
    for col in WINDOW_ZERO:
        if col in frame:
            frame[col] = frame[col].fillna(0)
    for col in ("first_purchase", "last_purchase", "last_before_start", "signup_date"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    for col in ("channel", "market_type", "region"):
        frame[col] = frame[col].astype("string") if col in frame else pd.NA
        frame[col] = frame[col].astype("string")
    frame["referred"] = (frame["channel"] == "referral").astype("boolean")
    if "signup_date" in frame:
        frame["signup_date"] = frame["signup_date"].fillna(frame["first_purchase"])
        frame["signup_date"] = frame[["signup_date", "first_purchase"]].min(axis=1)
    else:
        frame["signup_date"] = frame["first_purchase"]
    frame["orders_total"] = frame["orders_total"].astype(int)
    frame["frequency"] = frame["orders_total"] - 1
    frame["recency_days"] = _days(frame["last_purchase"], frame["first_purchase"])
    frame["T_days"] = _days(end, frame["first_purchase"])
    frame["tenure_days"] = _days(end, frame["signup_date"])
    frame["days_since_last"] = _days(end, frame["last_purchase"])
    frame["orders"] = frame["orders"].astype(int)
    if "cogs" in frame:
        complete = frame["cost_known"].fillna(0) == frame["lines"].fillna(0)
        frame["cogs"] = frame["cogs"].fillna(0).where(complete)
        frame = frame.drop(columns=["cost_known", "lines"])
    else:
        frame["cogs"] = np.nan
    frame["gross_margin"] = frame["revenue"] - frame["cogs"]
    if data.interactions is not None:
        for col in ("service_cost", "complaints", "complaints_total", "unresolved_complaints",
                    "contacts_total", "referrals_made", "care_contacts_total"):
            frame[col] = pd.to_numeric(frame[col]).fillna(0)
        for col in ("complaints", "complaints_total", "unresolved_complaints", "contacts_total",
                    "referrals_made", "care_contacts_total"):
            frame[col] = frame[col].astype(int)
    else:
        for col in ("service_cost", "complaints", "complaints_total", "unresolved_complaints",
                    "contacts_total", "referrals_made", "care_contacts_total",
                    "median_response_hours"):
            frame[col] = np.nan
    frame["profit"] = frame["gross_margin"] - frame["service_cost"].fillna(0)
    if "categories" in frame:
        frame["categories"] = frame["categories"].astype(int)
        frame["categories_total"] = frame["categories_total"].astype(int)
    else:
        frame["categories"] = np.nan
        frame["categories_total"] = np.nan
    if "promo_sales" in frame:
        frame["promo_share"] = (frame["promo_sales"] / frame["gross_sales"]).where(
            frame["gross_sales"] > 0)
        frame = frame.drop(columns=["promo_sales", "promo_known"])
    else:
        frame["promo_share"] = np.nan
    frame["return_rate"] = (frame["returns_value"] / frame["gross_sales"]).where(
        frame["gross_sales"] > 0)
    frame["avg_order_value"] = (frame["revenue"] / frame["orders"]).where(frame["orders"] > 0)
    _satisfaction(frame, data)
    active_at_start = _days(start, frame["last_before_start"]) <= churn_days
    frame["active"] = frame["days_since_last"] <= churn_days
    frame["active_at_start"] = active_at_start.fillna(False)
    frame["churned"] = frame["active_at_start"] & ~frame["active"]
    frame["new"] = frame["first_purchase"] >= start
    nxt = (frame.pop("next_orders").fillna(0) > 0).astype("boolean")
    frame["repurchase_next"] = nxt.where(pd.Series(known, index=frame.index), pd.NA)
    frame = frame.drop(columns=["last_before_start"])
    return frame


def _satisfaction(frame: pd.DataFrame, data: CustomerData) -> None:
    if data.surveys is None:
        for col in ("satisfaction_latest", "satisfaction_mean", "would_recommend"):
            frame[col] = np.nan
        frame["surveys_total"] = 0
        frame["top_box"] = pd.array([pd.NA] * len(frame), dtype="boolean")
        return
    if "would_recommend" not in frame:
        frame["would_recommend"] = np.nan
    frame["surveys_total"] = frame["surveys_total"].fillna(0).astype(int)
    top = data.satisfaction_scale.top_box
    frame["top_box"] = (frame["satisfaction_latest"] >= top).astype("boolean").where(
        frame["satisfaction_latest"].notna(), pd.NA)
