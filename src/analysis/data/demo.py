"""The demo company: a seeded, vectorised generator with documented ground truth.

Every behaviour the analyses look for is put in on purpose, with a known size,
and written to ``truth.json`` next to the data so tests can check that each
estimator recovers it:

- purchases: each customer buys at a Poisson rate (orders per month) drawn from a
  gamma distribution, from a first purchase shortly after sign-up until an
  unobserved dropout time (the Pareto/NBD story) -> concentration emerges;
- dropout: exponential lifetime whose hazard is ``base * exp(x @ log_hr)`` with
  known log hazard ratios for satisfaction (per CSAT point), referral
  acquisition, promotion propensity, breadth (per category), service response
  time (per doubling over 24 h) and account care (never contacted);
- spend: Gamma-Gamma order values (p, q, gamma), scaled by market type and by
  satisfaction (known log spend per CSAT point); category margins; promotions
  sold at a discount;
- service: complaints (more frequent when dissatisfied), requests, account
  visits and referrals made, each with a service cost, so that small customers
  who are visited often lose money;
- surveys on CSAT 1-5: a noisy reading of the customer's latent satisfaction;
- dirt for the ledger: anonymous lines, cancelled orders, return lines.

The latent per-customer values (rates, lifetimes, satisfaction, ...) are
written to ``latent.parquet``. Nothing here is fitted: the truth is the input.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEMO_START = "2023-11-01"
DEMO_END = "2026-11-01"  # exclusive: three full years of data, last month 2026-10
DAYS_PER_MONTH = 365.25 / 12

CATEGORIES = {  # category -> gross margin on list price
    "hardware": 0.22,
    "consumables": 0.30,
    "services": 0.45,
    "accessories": 0.50,
    "training": 0.55,
    "software": 0.65,
}
CHANNELS = {"referral": 0.20, "advertising": 0.35, "organic": 0.25, "trade_fair": 0.10,
            "partner": 0.10}
MARKET_TYPES = {"consumer": 0.60, "producer": 0.10, "intermediary": 0.15, "government": 0.05,
                "international": 0.10}
SPEND_MULTIPLIER = {"consumer": 1.0, "producer": 2.5, "intermediary": 3.0, "government": 1.8,
                    "international": 1.5}
CARE_PROBABILITY = {"consumer": 0.45, "producer": 0.9, "intermediary": 0.9, "government": 0.9,
                    "international": 0.7}
REGIONS = ("north", "south", "east", "west")


def default_truth(n_customers: int = 20_000, seed: int = 20261125,
                  start: str = DEMO_START, end: str = DEMO_END,
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ground-truth parameters of the demo company (all rates per month).

    ``overrides``: a nested dict of parameters to change (e.g. ``{"dropout": {"log_hr":
    {"referral": 0.0}}}``), merged into the defaults key by key; an unknown key is an
    error, so a typo cannot silently leave the default in place."""
    truth = {
        "seed": seed,
        "n_customers": n_customers,
        "start": start,
        "end": end,
        "initial_base_share": 0.25,
        "first_purchase_delay_days": 5.0,
        "purchase_rate": {"gamma_shape": 0.8, "mean_per_month": 0.7},
        "dropout": {
            "base_rate_per_month": 0.035,
            "log_hr": {
                "satisfaction_per_point": -0.30,
                "referral": math.log(0.6),
                "promo_propensity": 1.0,
                "breadth_per_category": -0.15,
                "log2_response_hours_over_24": 0.20,
                "never_contacted": math.log(1.25),
            },
            "centres": {"satisfaction": 3.7, "promo_propensity": 0.2, "breadth": 2.0},
        },
        "spend": {
            "gamma_gamma": {"p": 4.0, "q": 3.0, "gamma": 30.0},
            "log_spend_per_satisfaction_point": 0.06,
            "market_type_multiplier": SPEND_MULTIPLIER,
            "lines_per_order_mean": 1.5,
        },
        "satisfaction": {"scale": "csat5", "latent_mean": 3.7, "latent_sd": 0.8,
                         "survey_noise_sd": 0.5, "survey_rate_per_month": 0.08},
        "categories": {"margin": CATEGORIES, "breadth_probabilities": [0.35, 0.3, 0.2, 0.1, 0.05]},
        "promotion": {"discount": 0.20, "propensity_beta": [1.2, 4.8]},
        "service": {
            "complaint_rate_per_month": 0.04, "complaint_log_rate_per_satisfaction_point": -0.6,
            "request_rate_per_month": 0.05, "visit_rate_per_month_if_cared": 0.2,
            "referral_rate_per_month": 0.02, "referral_log_rate_per_satisfaction_point": 0.8,
            "response_hours_median": 24.0, "response_hours_log_sd_customer": 0.9,
            "response_hours_log_sd_event": 0.5, "unresolved_share": 0.06,
            "cost": {"complaint_fixed": 25.0, "complaint_per_hour": 0.5, "request": 15.0,
                     "contact": 45.0, "referral": 0.0},
            "care_probability": CARE_PROBABILITY,
        },
        "channels": CHANNELS,
        "market_types": MARKET_TYPES,
        "dirt": {"anonymous_line_share": 0.005, "cancelled_order_share": 0.01,
                 "return_line_share": 0.03},
    }
    overrides = overrides or {}
    for section, extra in OPTIONAL_PARAMETERS.items():
        asked = {k: v for k, v in (overrides.get(section) or {}).items() if k in extra}
        truth[section].update(asked)
    return merged(truth, overrides)


#: parameters that are off by default and absent from the demo company's truth (so its
#: truth.json is unchanged); an override may set them:
#: dropout.frailty_sd: sd of an unobserved normal term of the log dropout hazard (customers
#: then differ in loyalty for reasons no column records; used by the simulation study's
#: setting without effects, which would otherwise have no heterogeneity in dropout at all)
OPTIONAL_PARAMETERS = {"dropout": {"frailty_sd": 0.0}}


def merged(base: Mapping[str, Any], changes: Mapping[str, Any], where: str = "truth"
           ) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, nested dicts key by key (copies; ``base`` is not
    changed). A key of ``changes`` that ``base`` does not have raises ``KeyError``."""
    out = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if key not in out:
            raise KeyError(f"{where} has no parameter {key!r}; it has {', '.join(sorted(out))}")
        if isinstance(value, Mapping) and isinstance(out[key], Mapping):
            out[key] = merged(out[key], value, f"{where}.{key}")
        else:
            out[key] = copy.deepcopy(value)
    return out


def size_for_transactions(transactions: int) -> int:
    """Number of customers that yields roughly ``transactions`` lines with the default truth."""
    return max(200, int(round(transactions / 17.0)))


def generate(n_customers: int = 20_000, seed: int = 20261125, start: str = DEMO_START,
             end: str = DEMO_END, overrides: Mapping[str, Any] | None = None
             ) -> tuple[dict[str, pd.DataFrame], dict[str, Any], pd.DataFrame]:
    """Generate the demo company: (raw tables, truth, latent per-customer frame).

    The raw tables are what a company would export (with anonymous lines,
    cancelled orders and returns still in them); load them through the
    contract to get validated data and a ledger. ``overrides`` changes parameters of
    the truth (see :func:`default_truth`); without it this is the demo company.
    """
    truth = default_truth(n_customers, seed, start, end, overrides)
    rng = np.random.default_rng(seed)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    horizon = (t1 - t0).days / DAYS_PER_MONTH  # months
    latent = _customers_latent(truth, rng, horizon)
    orders = _orders(truth, latent, rng, horizon)
    lines = _lines(truth, latent, orders, rng, horizon)
    interactions = _interactions(truth, latent, rng, horizon)
    surveys = _surveys(truth, latent, rng, horizon)
    customers = _customers_table(latent, t0)
    tables = {
        "customers": customers,
        "transactions": _stamp(lines, t0, "timestamp"),
        "surveys": _stamp(surveys, t0, "survey_date"),
        "interactions": _interactions_table(interactions, t0),
    }
    latent_out = latent.assign(
        signup_date=_to_time(latent["signup_month"], t0),
        first_purchase=_to_time(latent["first_month"], t0),
        dropout_date=_to_time(latent["dropout_month"], t0),
        alive_at_end=latent["dropout_month"] >= horizon,
    ).drop(columns=["signup_month", "first_month", "dropout_month"])
    return tables, truth, latent_out


def _to_time(months: pd.Series | np.ndarray, t0: pd.Timestamp) -> pd.Series:
    seconds = np.round(np.asarray(months, dtype=float) * DAYS_PER_MONTH * 86400)
    seconds = np.minimum(seconds, 4e9)  # keep far-future dropout dates representable
    return pd.Series(t0 + pd.to_timedelta(seconds, unit="s")).astype("datetime64[s]")


def _stamp(frame: pd.DataFrame, t0: pd.Timestamp, column: str) -> pd.DataFrame:
    frame = frame.sort_values("month", kind="stable").reset_index(drop=True)
    frame.insert(1, column, _to_time(frame.pop("month"), t0).to_numpy())
    return frame


def _customers_latent(truth: dict, rng: np.random.Generator, horizon: float) -> pd.DataFrame:
    n = truth["n_customers"]
    ids = pd.Series(np.arange(1, n + 1)).map("C{:07d}".format)
    signup = np.where(rng.random(n) < truth["initial_base_share"], rng.uniform(0, 1, n),
                      rng.uniform(0, horizon, n))
    first = signup + rng.exponential(truth["first_purchase_delay_days"] / DAYS_PER_MONTH, n)
    channel = rng.choice(list(CHANNELS), n, p=list(CHANNELS.values()))
    market = rng.choice(list(MARKET_TYPES), n, p=list(MARKET_TYPES.values()))
    sat_cfg = truth["satisfaction"]
    satisfaction = np.clip(rng.normal(sat_cfg["latent_mean"], sat_cfg["latent_sd"], n), 1, 5)
    promo = rng.beta(*truth["promotion"]["propensity_beta"], n)
    breadth = 1 + rng.choice(5, n, p=truth["categories"]["breadth_probabilities"])
    service = truth["service"]
    response = service["response_hours_median"] * np.exp(
        rng.normal(0, service["response_hours_log_sd_customer"], n))
    care_p = pd.Series(market).map(service["care_probability"]).to_numpy()
    cared = rng.random(n) < care_p
    rate_cfg = truth["purchase_rate"]
    shape = rate_cfg["gamma_shape"]
    rate = rng.gamma(shape, rate_cfg["mean_per_month"] / shape, n)
    drop = truth["dropout"]
    beta, centre = drop["log_hr"], drop["centres"]
    log_hazard = (
        beta["satisfaction_per_point"] * (satisfaction - centre["satisfaction"])
        + beta["referral"] * (channel == "referral")
        + beta["promo_propensity"] * (promo - centre["promo_propensity"])
        + beta["breadth_per_category"] * (breadth - centre["breadth"])
        + beta["log2_response_hours_over_24"] * np.log2(response / 24.0)
        + beta["never_contacted"] * (~cared)
    )
    if drop.get("frailty_sd", 0.0) > 0:   # drawn only when asked: the demo's draws stay put
        log_hazard = log_hazard + rng.normal(0.0, drop["frailty_sd"], n)
    hazard = drop["base_rate_per_month"] * np.exp(log_hazard)
    dropout = first + rng.exponential(1.0 / hazard)
    gg = truth["spend"]["gamma_gamma"]
    nu = rng.gamma(gg["q"], 1.0 / gg["gamma"], n)  # scale 1/gamma: nu ~ Gamma(q, rate gamma)
    spend_scale = pd.Series(market).map(SPEND_MULTIPLIER).to_numpy() * np.exp(
        truth["spend"]["log_spend_per_satisfaction_point"]
        * (satisfaction - sat_cfg["latent_mean"]))
    return pd.DataFrame({
        "customer_id": ids, "signup_month": signup, "first_month": first,
        "dropout_month": dropout, "purchase_rate": rate, "dropout_hazard": hazard,
        "channel": channel, "market_type": market, "satisfaction": satisfaction,
        "promo_propensity": promo, "breadth": breadth, "response_hours": response,
        "cared_for": cared, "nu": nu, "spend_scale": spend_scale,
        "expected_order_value": gg["p"] / nu * spend_scale,
    })


def _events(rng, starts, stops, rate) -> tuple[np.ndarray, np.ndarray]:
    """Poisson events on [start, stop) per customer: (customer index, time in months)."""
    length = np.clip(stops - starts, 0, None)
    counts = rng.poisson(rate * length)
    who = np.repeat(np.arange(len(starts)), counts)
    times = starts[who] + rng.random(len(who)) * length[who]
    return who, times


def _orders(truth: dict, latent: pd.DataFrame, rng, horizon: float) -> pd.DataFrame:
    first = latent["first_month"].to_numpy()
    end_of_life = np.minimum(latent["dropout_month"].to_numpy(), horizon)
    buyers = np.flatnonzero(first < horizon)
    who, times = _events(rng, first, end_of_life, latent["purchase_rate"].to_numpy())
    who = np.concatenate([buyers, who])
    times = np.concatenate([first[buyers], times])
    p = truth["spend"]["gamma_gamma"]["p"]
    nu = latent["nu"].to_numpy()[who]
    value = rng.gamma(p, 1.0 / nu) * latent["spend_scale"].to_numpy()[who]
    order = np.argsort(times, kind="stable")
    return pd.DataFrame({"who": who[order], "month": times[order], "value": value[order]})


def _lines(truth: dict, latent: pd.DataFrame, orders: pd.DataFrame, rng, horizon) -> pd.DataFrame:
    n_orders = len(orders)
    per_order = 1 + rng.poisson(truth["spend"]["lines_per_order_mean"] - 1, n_orders)
    order_idx = np.repeat(np.arange(n_orders), per_order)
    weights = rng.gamma(2.0, 1.0, len(order_idx))
    share = weights / np.bincount(order_idx, weights)[order_idx]
    who = orders["who"].to_numpy()[order_idx]
    list_value = orders["value"].to_numpy()[order_idx] * share
    # each customer buys from their first `breadth` categories of a personal ordering
    cats = np.array(list(CATEGORIES))
    margins = np.array(list(CATEGORIES.values()))
    offset = rng.integers(0, len(cats), len(latent))
    pick = rng.integers(0, 1 << 30, len(order_idx)) % latent["breadth"].to_numpy()[who]
    cat_idx = (offset[who] + pick) % len(cats)
    promo = rng.random(len(order_idx)) < latent["promo_propensity"].to_numpy()[who]
    discount = truth["promotion"]["discount"]
    # a line is worth at least one cent: the contract rejects zero-revenue sales (at 10M
    # lines a few tiny split orders would otherwise round to 0.00)
    revenue = np.maximum(np.round(list_value * np.where(promo, 1 - discount, 1.0), 2), 0.01)
    cost = np.round(list_value * (1 - margins[cat_idx]), 2)
    quantity = 1 + rng.poisson(0.6, len(order_idx))
    status = np.where(rng.random(n_orders) < truth["dirt"]["cancelled_order_share"],
                      "cancelled", "completed")[order_idx]
    lines = pd.DataFrame({
        "who": who, "month": orders["month"].to_numpy()[order_idx], "category": cats[cat_idx],
        "quantity": quantity.astype(float), "revenue": revenue, "cost": cost,
        "promotion": promo, "is_return": False, "status": status,
    })
    kept = lines[lines["status"] == "completed"]
    returned = kept[rng.random(len(kept)) < truth["dirt"]["return_line_share"]]
    returns = returned.assign(
        month=returned["month"] + rng.uniform(1, 30, len(returned)) / DAYS_PER_MONTH,
        revenue=-returned["revenue"], cost=-returned["cost"], is_return=True,
    )
    returns = returns[returns["month"] < horizon]
    lines = pd.concat([lines, returns], ignore_index=True).sort_values("month", kind="stable")
    ids = latent["customer_id"].to_numpy()[lines["who"].to_numpy()].astype(object)
    ids[rng.random(len(lines)) < truth["dirt"]["anonymous_line_share"]] = None
    lines = lines.drop(columns="who")
    lines.insert(0, "customer_id", pd.array(ids, dtype="string"))
    lines.insert(0, "transaction_id", pd.Series(np.arange(1, len(lines) + 1)).map("T{:09d}".format)
                 .to_numpy())
    return lines.reset_index(drop=True)


def _interactions(truth: dict, latent: pd.DataFrame, rng, horizon: float) -> pd.DataFrame:
    service = truth["service"]
    first = latent["first_month"].to_numpy()
    end_of_life = np.minimum(latent["dropout_month"].to_numpy(), horizon)
    centred = latent["satisfaction"].to_numpy() - truth["satisfaction"]["latent_mean"]
    rates = {
        "complaint": service["complaint_rate_per_month"]
        * np.exp(service["complaint_log_rate_per_satisfaction_point"] * centred),
        "request": np.full(len(latent), service["request_rate_per_month"]),
        "contact": service["visit_rate_per_month_if_cared"] * latent["cared_for"].to_numpy(),
        "referral": service["referral_rate_per_month"]
        * np.exp(service["referral_log_rate_per_satisfaction_point"] * centred),
    }
    parts = []
    for kind, rate in rates.items():
        who, times = _events(rng, first, end_of_life, rate)
        parts.append(pd.DataFrame({"who": who, "month": times, "type": kind}))
    events = pd.concat(parts, ignore_index=True)
    response = latent["response_hours"].to_numpy()[events["who"].to_numpy()]
    hours = response * np.exp(rng.normal(0, service["response_hours_log_sd_event"], len(events)))
    needs_answer = events["type"].isin(["complaint", "request"]).to_numpy()
    hours = np.where(needs_answer, hours, 0.0)
    unresolved = needs_answer & (rng.random(len(events)) < service["unresolved_share"])
    cost = service["cost"]
    service_cost = np.select(
        [events["type"] == "complaint", events["type"] == "request", events["type"] == "contact"],
        [cost["complaint_fixed"] + cost["complaint_per_hour"] * np.minimum(hours, 300),
         cost["request"], cost["contact"]],
        cost["referral"],
    )
    return events.assign(hours=np.where(unresolved, np.nan, hours),
                         service_cost=np.round(service_cost, 2),
                         customer_id=latent["customer_id"].to_numpy()[events["who"].to_numpy()])


def _interactions_table(events: pd.DataFrame, t0: pd.Timestamp) -> pd.DataFrame:
    events = events.sort_values("month", kind="stable").reset_index(drop=True)
    opened = _to_time(events["month"], t0)
    resolved = opened + pd.to_timedelta(np.round(events["hours"].to_numpy() * 3600), unit="s")
    return pd.DataFrame({"customer_id": events["customer_id"].astype("string"),
                         "opened_at": opened, "resolved_at": resolved, "type": events["type"],
                         "service_cost": events["service_cost"]})


def _surveys(truth: dict, latent: pd.DataFrame, rng, horizon: float) -> pd.DataFrame:
    cfg = truth["satisfaction"]
    first = latent["first_month"].to_numpy()
    end_of_life = np.minimum(latent["dropout_month"].to_numpy(), horizon)
    who, times = _events(rng, first, end_of_life,
                         np.full(len(latent), cfg["survey_rate_per_month"]))
    level = latent["satisfaction"].to_numpy()[who]
    score = np.clip(np.round(level + rng.normal(0, cfg["survey_noise_sd"], len(who))), 1, 5)
    recommend = np.clip(np.round(2.5 * (level - 1) + rng.normal(0, 1.2, len(who))), 0, 10)
    return pd.DataFrame({"customer_id": latent["customer_id"].to_numpy()[who], "month": times,
                         "score": score, "would_recommend": recommend})


def _customers_table(latent: pd.DataFrame, t0: pd.Timestamp) -> pd.DataFrame:
    n = len(latent)
    number = latent["customer_id"].str[1:].astype(int)
    return pd.DataFrame({
        "customer_id": latent["customer_id"],
        "signup_date": _to_time(latent["signup_month"], t0).dt.normalize(),
        "channel": latent["channel"], "market_type": latent["market_type"],
        "region": np.array(REGIONS)[number % len(REGIONS)],
        "name": "Customer " + number.astype(str), "email": "customer" + number.astype(str)
        + "@example.com",
    }).iloc[:n]


def config_text(data: str | Path, name: str = "demo", seed: int = 20261125,
                n_customers: int | None = None, extra: str = "") -> str:
    """The TOML config of a company that :func:`write` wrote into ``data``: its four
    Parquet tables, cancelled lines dropped; with ``n_customers`` a ``[demo]`` table (the
    company is generated when its files are missing); ``extra`` appended."""
    demo_table = (f"\n[demo]\nn_customers = {n_customers}\nseed = {seed}\n"
                  if n_customers is not None else "")
    return f"""name = "{name}"
satisfaction_scale = "csat5"
seed = {seed}

[source]
kind = "parquet"
path = "{Path(data).as_posix()}"

[tables.transactions]
file = "transactions.parquet"
[tables.customers]
file = "customers.parquet"
[tables.surveys]
file = "surveys.parquet"
[tables.interactions]
file = "interactions.parquet"
{demo_table}
[rules]
cancelled_values = ["cancelled"]
{extra}
"""


def write(folder: str | Path, n_customers: int = 20_000, seed: int = 20261125,
          start: str = DEMO_START, end: str = DEMO_END,
          overrides: Mapping[str, Any] | None = None) -> Path:
    """Generate the demo company and write it as Parquet plus truth.json and latent.parquet."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables, truth, latent = generate(n_customers, seed, start, end, overrides)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    latent.to_parquet(folder / "latent.parquet", index=False)
    (folder / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
    return folder


def read_truth(folder: str | Path) -> tuple[dict[str, Any] | None, pd.DataFrame | None]:
    """The truth and latent frame written next to demo data; (None, None) for real data."""
    folder = Path(folder)
    if not (folder / "truth.json").exists():
        return None, None
    latent = folder / "latent.parquet"
    return (json.loads((folder / "truth.json").read_text()),
            pd.read_parquet(latent) if latent.exists() else None)


# -- the demo company's truth about churn (for tests of the churn and value sections) ----------


def true_churn(latent: pd.DataFrame, end, months: int = 12) -> dict[str, float]:
    """From the latent dropout times: of the customers alive at ``end`` (first purchase
    before it, dropout after it), the share who drop out within ``months`` (forward), and of
    those alive ``months`` before ``end``, the share who dropped out by ``end`` (backward)."""
    end = pd.Timestamp(end)
    ahead = end + pd.DateOffset(months=months)
    before = end - pd.DateOffset(months=months)
    alive_now = (latent["first_purchase"] < end) & (latent["dropout_date"] > end)
    alive_then = (latent["first_purchase"] < before) & (latent["dropout_date"] > before)
    return {
        "forward": float((latent.loc[alive_now, "dropout_date"] <= ahead).mean()),
        "alive_now": int(alive_now.sum()),
        "backward": float((latent.loc[alive_then, "dropout_date"] <= end).mean()),
        "alive_then": int(alive_then.sum()),
    }


def latent_dropouts(latent: pd.DataFrame, customer_ids, end) -> pd.DataFrame:
    """The true dropout time of each of ``customer_ids`` (NaT when after ``end``), with
    ``dropped`` (by ``end``): what an estimator of dropout should recover."""
    rows = latent.set_index("customer_id").loc[list(customer_ids)]
    end = pd.Timestamp(end)
    dropped = rows["dropout_date"] <= end
    return pd.DataFrame({"customer_id": rows.index.to_numpy(),
                         "dropout": rows["dropout_date"].where(dropped).to_numpy(),
                         "dropped": dropped.to_numpy()})


# -- a subscription company and a snapshot export ----------------------------------------------

SUBSCRIPTION_PLANS = {  # plan -> (share of sign-ups, sBG alpha, sBG beta, monthly charge)
    "Month-to-month": (0.5, 0.6, 4.0, 30.0),
    "One year": (0.3, 0.8, 12.0, 27.0),
    "Two year": (0.2, 1.0, 30.0, 24.0),
}
CANCELLATION_REASONS = {  # reason -> (probability, lack of care?)
    "Support did not solve my problem": (0.25, True),
    "Poor attention from account staff": (0.15, True),
    "Price too high": (0.30, False),
    "Competitor made a better offer": (0.15, False),
    "Moved or no longer needed": (0.15, False),
}


def _plan_durations(rng, plans: np.ndarray) -> np.ndarray:
    """Months until cancellation: each customer cancels each month with their own
    probability theta ~ Beta(alpha, beta) of their plan (the sBG story)."""
    spec = {p: SUBSCRIPTION_PLANS[p] for p in SUBSCRIPTION_PLANS}
    alpha = np.array([spec[p][1] for p in plans])
    beta = np.array([spec[p][2] for p in plans])
    theta = rng.beta(alpha, beta)
    return rng.geometric(np.clip(theta, 1e-9, 1.0)).astype(float)


def generate_subscriptions(n_customers: int = 3000, seed: int = 20261201,
                           start: str = DEMO_START, end: str = DEMO_END
                           ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """A subscription company: plans with known sBG churn, monthly billing lines as
    transactions, and cancellation reasons with a known share of "lack of care".

    Returns the tables (subscriptions, transactions, customers) and the truth.
    """
    rng = np.random.default_rng(seed)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    span = (t1 - t0).days / DAYS_PER_MONTH
    names = list(SUBSCRIPTION_PLANS)
    plans = rng.choice(names, n_customers, p=[SUBSCRIPTION_PLANS[p][0] for p in names])
    started = rng.uniform(0, span, n_customers)
    months = _plan_durations(rng, plans)
    # cancelled during month k: k - 1 whole months plus part of the k-th
    ended = started + months - 1 + rng.uniform(0.05, 0.95, n_customers)
    charge = np.round(np.array([SUBSCRIPTION_PLANS[p][3] for p in plans])
                      * np.exp(rng.normal(0, 0.1, n_customers)), 2)
    reasons = list(CANCELLATION_REASONS)
    reason = rng.choice(reasons, n_customers, p=[CANCELLATION_REASONS[r][0] for r in reasons])
    ids = pd.Series(np.arange(1, n_customers + 1)).map("S{:06d}".format).to_numpy()
    cancelled = ended < span
    subscriptions = pd.DataFrame({
        "customer_id": ids, "start": _to_time(started, t0).to_numpy(),
        "end": _to_time(np.where(cancelled, ended, np.nan), t0).to_numpy(),
        "plan": plans, "recurring_charge": charge,
        "cancellation_reason": np.where(cancelled, reason, None),
    })
    bills = billing_lines(subscriptions, t1)
    customers = pd.DataFrame({"customer_id": ids,
                              "signup_date": subscriptions["start"].dt.normalize(),
                              "channel": rng.choice(list(CHANNELS), n_customers,
                                                    p=list(CHANNELS.values()))})
    truth = {
        "seed": seed, "n_customers": n_customers, "start": start, "end": end,
        "plans": {p: {"share": s, "sbg_alpha": a, "sbg_beta": b, "monthly_charge": c}
                  for p, (s, a, b, c) in SUBSCRIPTION_PLANS.items()},
        "care_share_of_reasons": sum(p for p, care in CANCELLATION_REASONS.values() if care),
    }
    return {"subscriptions": subscriptions, "transactions": bills, "customers": customers}, truth


def billing_lines(subscriptions: pd.DataFrame, end) -> pd.DataFrame:
    """One transaction per subscription and month billed (at the start of each month of the
    subscription, before its end and before ``end``), worth the recurring charge."""
    end = pd.Timestamp(end)
    start = pd.to_datetime(subscriptions["start"])
    stop = pd.to_datetime(subscriptions["end"]).fillna(end).clip(upper=end)
    months = np.maximum(np.ceil((stop - start).dt.total_seconds() / 86400 / DAYS_PER_MONTH), 1)
    who = np.repeat(np.arange(len(subscriptions)), months.astype(int).to_numpy())
    k = np.concatenate([np.arange(m) for m in months.astype(int)]) if len(who) else np.array([])
    when = start.to_numpy()[who] + pd.to_timedelta(k * DAYS_PER_MONTH, unit="D").to_numpy()
    lines = pd.DataFrame({"customer_id": subscriptions["customer_id"].to_numpy()[who],
                          "timestamp": when,
                          "revenue": subscriptions["recurring_charge"].to_numpy()[who]})
    lines = lines[lines["timestamp"] < end].sort_values("timestamp", kind="stable")
    lines.insert(0, "transaction_id", [f"B{i:09d}" for i in range(1, len(lines) + 1)])
    return lines.reset_index(drop=True).astype({"timestamp": "datetime64[s]"})


def telecom_snapshot(n_customers: int = 2000, seed: int = 20261202,
                     as_of: str = "2026-10-31") -> tuple[pd.DataFrame, dict[str, Any]]:
    """A snapshot export shaped like a telecom's public churn sample: one row per customer
    active at the start of the last month, with ``customerID``, ``tenure`` (months),
    ``Contract``, ``MonthlyCharges``, ``TotalCharges``, ``Churn`` (Yes = left during the last
    month) and ``Churn Reason`` (for those who left)."""
    rng = np.random.default_rng(seed)
    contracts = {"Month-to-month": "Month-to-month", "One year": "One year",
                 "Two year": "Two year"}
    rows = []
    made = 0
    while made < n_customers:
        batch = 4 * n_customers
        plans = rng.choice(list(contracts), batch, p=[0.55, 0.21, 0.24])
        age = rng.uniform(0, 72, batch)            # months since sign-up at the snapshot
        months = _plan_durations(rng, plans)
        # in their month m = floor(age) + 1 at the snapshot: listed if they survived the
        # m - 1 months before it; Churn = Yes if they cancel in month m; tenure counts the
        # months of service including month m (the telecom samples' convention)
        month = np.floor(age) + 1
        listed = months > month - 1
        keep = np.flatnonzero(listed)[: n_customers - made]
        churn = months[keep] == month[keep]
        rows.append(pd.DataFrame({"tenure": month[keep].astype(int),
                                  "Contract": plans[keep], "Churn": np.where(churn, "Yes", "No")}))
        made += len(keep)
    snap = pd.concat(rows, ignore_index=True)
    charge = np.array([SUBSCRIPTION_PLANS[p][3] for p in snap["Contract"]]) * 2.2
    snap["MonthlyCharges"] = np.round(charge * np.exp(rng.normal(0, 0.25, len(snap))), 2)
    snap["TotalCharges"] = np.round(snap["MonthlyCharges"] * snap["tenure"].clip(lower=1), 2)
    reasons = list(CANCELLATION_REASONS)
    picked = rng.choice(reasons, len(snap), p=[CANCELLATION_REASONS[r][0] for r in reasons])
    snap["Churn Reason"] = np.where(snap["Churn"] == "Yes", picked, None)
    snap.insert(0, "customerID", [f"{i:04d}-TELCO" for i in range(1, len(snap) + 1)])
    truth = {"seed": seed, "as_of": as_of,
             "plans": {p: {"sbg_alpha": SUBSCRIPTION_PLANS[p][1],
                           "sbg_beta": SUBSCRIPTION_PLANS[p][2]} for p in contracts},
             "care_share_of_reasons": sum(p for p, care in CANCELLATION_REASONS.values()
                                          if care)}
    return snap, truth


def write_subscription_company(folder: str | Path, n_customers: int = 3000,
                               seed: int = 20261201) -> Path:
    """The subscription company as Parquet files plus truth.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables, truth = generate_subscriptions(n_customers, seed)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
    return folder


def write_telecom_snapshot(folder: str | Path, n_customers: int = 2000,
                           seed: int = 20261202, as_of: str = "2026-10-31") -> Path:
    """The snapshot as CSV, plus billing lines derived from it as CSV (tenure months of the
    monthly charge: the engine cannot yet open a company without transactions) and
    truth.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    snap, truth = telecom_snapshot(n_customers, seed, as_of)
    snap.to_csv(folder / "telco_snapshot.csv", index=False)
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    start = end - pd.to_timedelta(snap["tenure"] * DAYS_PER_MONTH, unit="D")
    subs = pd.DataFrame({"customer_id": snap["customerID"], "start": start.dt.floor("D"),
                         "end": pd.Series(end, index=snap.index).where(snap["Churn"] == "Yes"),
                         "recurring_charge": snap["MonthlyCharges"]})
    billing_lines(subs, end).to_csv(folder / "transactions.csv", index=False)
    (folder / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True))
    return folder
