"""Small random companies for property-based tests of every analysis (issue 17, item 5a).

:func:`companies` is a hypothesis strategy of :class:`RandomCompany`: contract tables
(``CustomerData``, built through :func:`analysis.data.validation.conform` so they are what a
loader hands the analyses), the company's settings and a report period. Hypothesis draws the
shape (1-300 customers, 1-40 months, which optional tables and columns exist, the buying
pattern, the report month); a seeded generator fills in the rows, so an example is small to
print and to shrink.

Patterns put in what a large regular demo company hides: every customer buying once, nobody
buying in the last months (everyone lapses), everybody buying every month (nobody lapses),
tied and extreme values, one month of data, a report period at the first month.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from analysis.data.config import Settings, load_settings
from analysis.data.contract import CustomerData
from analysis.data.periods import Period
from analysis.data.validation import conform
from analysis.engine.context import Context, choose_period

START = pd.Timestamp("2022-01-01")
PATTERNS = ("regular", "once", "all_lapse", "none_lapse", "burst")
AMOUNTS = ("lognormal", "tied", "extreme", "tiny")
PERIODS = ("last", "first", "middle")


@dataclasses.dataclass(frozen=True)
class Shape:
    """What hypothesis draws: small to print, enough to rebuild the company."""

    customers: int
    months: int
    pattern: str
    amounts: str
    period: str
    seed: int
    customers_table: bool
    surveys: bool
    interactions: bool
    cost: bool
    category: bool
    promotion: bool
    returns: bool
    subscriptions: bool
    business: str


@dataclasses.dataclass
class RandomCompany:
    shape: Shape
    settings: Settings
    data: CustomerData
    period: Period

    def context(self) -> Context:
        """A notebook's context on this company (features in embedded DuckDB, no cache)."""
        return Context(self.settings, self.data, self.period, cache_dir=None)


def _purchases(shape: Shape, rng: np.random.Generator) -> pd.DataFrame:
    """Customer ids and purchase timestamps following the shape's pattern."""
    days = int((START + pd.DateOffset(months=shape.months) - START).days)
    n = shape.customers
    first = rng.integers(0, days, n)
    if shape.pattern == "once":
        counts = np.ones(n, dtype=int)
    elif shape.pattern == "none_lapse":
        counts = np.full(n, shape.months)
    elif shape.pattern == "burst":
        counts = rng.integers(1, 4, n)
        first = np.zeros(n, dtype=int)
    else:
        counts = 1 + rng.poisson(rng.gamma(0.8, 3.0, n))
    rows = []
    for i in range(n):
        if shape.pattern == "none_lapse":   # every customer buys in every month
            offsets = [int((START + pd.DateOffset(months=m) - START).days)
                       + int(rng.integers(0, 28)) for m in range(shape.months)]
        elif shape.pattern == "burst":      # everyone buys in the first weeks only
            offsets = list(rng.integers(0, min(days, 20), counts[i]))
        else:
            spread = days - first[i]
            offsets = [first[i], *(first[i] + rng.integers(0, max(spread, 1), counts[i] - 1))]
        if shape.pattern == "all_lapse" and shape.months > 1:   # nobody buys late
            cut = max(int(days * 0.4), 1)
            offsets = [o % cut for o in offsets]
        rows += [(f"c{i:03d}", START + pd.Timedelta(days=int(o), hours=int(rng.integers(8, 18))))
                 for o in offsets]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp"])


def _amounts(shape: Shape, rng: np.random.Generator, size: int) -> np.ndarray:
    if shape.amounts == "tied":
        return np.full(size, 25.0)
    if shape.amounts == "extreme":
        values = rng.lognormal(3, 1, size)
        values[rng.random(size) < 0.05] = 5e7
        return np.round(values, 2)
    if shape.amounts == "tiny":
        return np.full(size, 0.01)
    return np.round(rng.lognormal(3.5, 1.2, size), 2) + 0.01


def _transactions(shape: Shape, rng: np.random.Generator) -> pd.DataFrame:
    frame = _purchases(shape, rng)
    frame["revenue"] = _amounts(shape, rng, len(frame))
    if shape.returns and len(frame) > 1:
        back = rng.random(len(frame)) < 0.05
        frame.loc[back, "revenue"] = -frame.loc[back, "revenue"]
    if shape.cost:
        frame["cost"] = np.round(np.abs(frame["revenue"]) * rng.uniform(0.2, 1.3, len(frame)), 2)
    if shape.category:
        frame["category"] = rng.choice(["tools", "Promo $5 off", "a_b"], len(frame))
    if shape.promotion:
        frame["promotion"] = rng.random(len(frame)) < 0.3
    frame["transaction_id"] = [f"t{i}" for i in range(len(frame))]
    return frame


def _customers(shape: Shape, rng: np.random.Generator, ids: list[str],
               first: pd.Series) -> pd.DataFrame:
    channels = ["referral", "advertising", "organic", "trade_fair", "partner", "other"]
    markets = ["consumer", "producer", "intermediary", "government", "international"]
    few = rng.integers(1, len(channels) + 1)   # sometimes a single channel for everyone
    return pd.DataFrame({
        "customer_id": ids,
        "signup_date": [first.get(c, START) - pd.Timedelta(days=int(rng.integers(0, 30)))
                        for c in ids],
        "channel": rng.choice(channels[:few], len(ids)),
        "market_type": rng.choice(markets[: rng.integers(1, len(markets) + 1)], len(ids)),
        "region": rng.choice(["north", "Resellers $$"], len(ids)),
    })


def _surveys(rng: np.random.Generator, buys: pd.DataFrame) -> pd.DataFrame:
    picked = buys.sample(frac=rng.uniform(0.05, 1.0), random_state=int(rng.integers(1 << 30)))
    tied = rng.random() < 0.3
    scores = np.full(len(picked), 4.0) if tied else rng.integers(1, 6, len(picked)).astype(float)
    return pd.DataFrame({
        "customer_id": picked["customer_id"].to_numpy(),
        "survey_date": (picked["timestamp"] + pd.Timedelta(days=2)).to_numpy(),
        "score": scores,
        "would_recommend": rng.integers(0, 11, len(picked)).astype(float),
    })


def _interactions(shape: Shape, rng: np.random.Generator, buys: pd.DataFrame) -> pd.DataFrame:
    picked = buys.sample(frac=rng.uniform(0.05, 0.8), random_state=int(rng.integers(1 << 30)))
    opened = picked["timestamp"] + pd.to_timedelta(rng.integers(0, 10, len(picked)), unit="D")
    hours = rng.exponential(30, len(picked))
    resolved = opened + pd.to_timedelta(hours, unit="h")
    resolved[rng.random(len(picked)) < 0.1] = pd.NaT
    kinds = rng.choice(["complaint", "request", "contact", "referral"][: rng.integers(1, 5)],
                       len(picked))
    last = START + pd.DateOffset(months=shape.months) - pd.Timedelta(days=1)
    return pd.DataFrame({
        "customer_id": picked["customer_id"].to_numpy(),
        "opened_at": opened.clip(upper=last).to_numpy(),
        "resolved_at": resolved.clip(upper=last).to_numpy(),
        "type": kinds,
        "service_cost": np.round(rng.exponential(20, len(picked)), 2),
    })


def _subscriptions(shape: Shape, rng: np.random.Generator, ids: list[str]) -> pd.DataFrame:
    end_of_data = START + pd.DateOffset(months=shape.months)
    days = int((end_of_data - START).days)
    start = START + pd.to_timedelta(rng.integers(0, days, len(ids)), unit="D")
    length = pd.to_timedelta(rng.exponential(300, len(ids)).astype(int) + 1, unit="D")
    end = (start + length).where(start + length < end_of_data - pd.Timedelta(days=1))
    if shape.pattern == "none_lapse":
        end = pd.Series(pd.NaT, index=range(len(ids)), dtype="datetime64[ns]")
    plans = rng.choice(["basic", "plus $"][: rng.integers(1, 3)], len(ids))
    reasons = np.where(pd.isna(end), None,
                       rng.choice(["price", "poor service", "moved"], len(ids)))
    return pd.DataFrame({"customer_id": ids, "start": start, "end": pd.to_datetime(end),
                         "plan": plans, "recurring_charge": rng.choice([9.99, 20.0], len(ids)),
                         "cancellation_reason": reasons})


def build(shape: Shape) -> RandomCompany:
    """The company a shape describes."""
    rng = np.random.default_rng(shape.seed)
    transactions = _transactions(shape, rng)
    ids = sorted(transactions["customer_id"].unique())
    first = transactions.groupby("customer_id")["timestamp"].min()
    tables: dict[str, pd.DataFrame | None] = {"transactions": transactions}
    if shape.customers_table:
        tables["customers"] = _customers(shape, rng, ids, first)
    if shape.surveys:
        tables["surveys"] = _surveys(rng, transactions)
    if shape.interactions:
        tables["interactions"] = _interactions(shape, rng, transactions)
    if shape.subscriptions:
        tables["subscriptions"] = _subscriptions(shape, rng, ids)
    data = conform(tables, scale="csat5" if shape.surveys else None, business=shape.business)
    raw = {"name": "random", "business": shape.business,
           "source": {"kind": "parquet", "path": "."},
           "satisfaction_scale": "csat5" if shape.surveys else None,
           "periods": {"as_of": "2026-06-30"}}
    settings = load_settings(raw)
    first_day, last_day = data.time_span()
    if shape.period == "first":
        label = f"{first_day:%Y-%m}"
    elif shape.period == "middle":
        label = f"{first_day + (last_day - first_day) / 2:%Y-%m}"
    else:   # the last complete month, or the data's only month (as --period would name it)
        label = f"{last_day:%Y-%m}" if last_day - first_day < pd.Timedelta(days=62) else None
    period = choose_period(settings, data, label)
    return RandomCompany(shape, settings, data, period)


@st.composite
def shapes(draw, max_customers: int = 300, max_months: int = 40) -> Shape:
    subscriptions = draw(st.booleans())
    return Shape(
        customers=draw(st.one_of(st.integers(1, 12), st.integers(1, max_customers))),
        months=draw(st.one_of(st.integers(1, 3), st.integers(1, max_months))),
        pattern=draw(st.sampled_from(PATTERNS)),
        amounts=draw(st.sampled_from(AMOUNTS)),
        period=draw(st.sampled_from(PERIODS)),
        seed=draw(st.integers(0, 2**31 - 1)),
        customers_table=draw(st.booleans()),
        surveys=draw(st.booleans()),
        interactions=draw(st.booleans()),
        cost=draw(st.booleans()),
        category=draw(st.booleans()),
        promotion=draw(st.booleans()),
        returns=draw(st.booleans()),
        subscriptions=subscriptions,
        business=draw(st.sampled_from(("shop", "subscription"))) if subscriptions else "shop",
    )


def companies(**limits) -> st.SearchStrategy[RandomCompany]:
    """Random companies (see the module docstring)."""
    return shapes(**limits).map(build)
