"""Which customers and which value the concentration claims (C1, C2, C6) are measured on.

Customers: everyone who bought in the window, **and** everyone who cost money in it
without buying (service cost, or a return of an earlier purchase). Leaving the costly
non-buyers out makes profit look less concentrated and hides loss-makers.

Value: profit after cost of goods and service cost where cost of goods is supplied. Where
it is not, a gross margin declared in the company config (``[assumptions] gross_margin``)
gives an *assumed* profit, ``margin x revenue - service cost``, labelled as such in every
sentence that uses it. Without either, profit is unknown and C1 is tested on revenue,
labelled so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

PROFIT = "profit"
ASSUMED = "assumed margin"
REVENUE = "revenue"


@dataclasses.dataclass(frozen=True)
class ValueBasis:
    """What "profit" means in this run: measured, assumed from a declared margin, or unknown."""

    kind: str                      # PROFIT, ASSUMED or REVENUE (profit unknown)
    label: str                     # the measure in words, for chart titles and sentences
    note: str | None = None        # the assumption or the reason, in one sentence
    gross_margin: float | None = None

    @property
    def has_profit(self) -> bool:
        return self.kind in (PROFIT, ASSUMED)


def _cost_missing(features: pd.DataFrame) -> str | None:
    if "cogs" not in features or "profit" not in features:
        return "cost of goods is not supplied"
    missing = int(features["cogs"].isna().sum())
    if missing == len(features) and missing:
        return "cost of goods is not supplied"
    if missing:
        return f"cost of goods is missing for {missing:,} of {len(features):,} customers"
    return None


def value_basis(features: pd.DataFrame, gross_margin: float | None = None) -> ValueBasis:
    """Measured profit when cost of goods is supplied; else an assumed margin when declared;
    else revenue (profit unknown), with the reason."""
    reason = _cost_missing(features)
    if reason is None:
        return ValueBasis(PROFIT, "profit")
    if gross_margin is not None and 0 < gross_margin <= 1:
        service = ("service cost" if "service_cost" in features
                   and features["service_cost"].notna().any()
                   else "nothing for service, whose cost is not recorded")
        return ValueBasis(
            ASSUMED, f"profit at an assumed {gross_margin:.0%} gross margin",
            f"Profit is assumed: {gross_margin:.0%} of revenue (the gross margin declared in "
            f"the config under [assumptions]) minus {service}, because {reason}",
            gross_margin)
    return ValueBasis(REVENUE, "revenue",
                      f"{reason}, so profit per customer is unknown (a company can declare "
                      "[assumptions] gross_margin in its config to test the profit claims on an "
                      "assumed margin)")


def with_profit(features: pd.DataFrame, basis: ValueBasis) -> pd.DataFrame:
    """``features`` with the ``profit`` column of ``basis`` (the assumed profit replaces the
    unknown one; measured profit is left as it is)."""
    if basis.kind != ASSUMED:
        return features
    service = (features["service_cost"].fillna(0.0) if "service_cost" in features
               else 0.0)
    return features.assign(profit=basis.gross_margin * features["revenue"] - service)


def costly_non_buyers(features: pd.DataFrame) -> pd.Series:
    """Customers with no purchase in the window who still cost money in it (service cost,
    or a return of an earlier purchase)."""
    orders = features["orders"].fillna(0) if "orders" in features else 0
    service = features["service_cost"].fillna(0.0) if "service_cost" in features else 0.0
    revenue = features["revenue"].fillna(0.0) if "revenue" in features else 0.0
    mask = (orders == 0) & ((service > 0) | (revenue < 0))
    return pd.Series(np.asarray(mask, dtype=bool), index=features.index)


def window_customers(features: pd.DataFrame, measure: str = PROFIT) -> pd.DataFrame:
    """The customers a measure is taken over: buyers for revenue; buyers and costly
    non-buyers for profit."""
    buyers = features["orders"].fillna(0) > 0
    if measure == REVENUE:
        return features[buyers]
    return features[buyers | costly_non_buyers(features)]
