"""The data contract: what a company hands us, and how it is checked.

Four tables. Only ``transactions`` (customer_id, timestamp, revenue) is
required; every other table and column is optional and each analysis says what
it cannot test without it. Column names here are the contract's; a company's
own names and formats are mapped onto them by :mod:`analysis.data.sources`.

:func:`conform` takes mapped tables, applies the exclusion rules (each
excluded row goes into the :class:`~analysis.data.ledger.Ledger` with its reason),
coerces types and validates with pandera. Anything that is not an exclusion
rule and is wrong raises :class:`ContractError`, which names the table,
column, example rows, count and the fix.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pandas as pd

from analysis.data.ledger import Ledger

if TYPE_CHECKING:
    pass


@dataclasses.dataclass(frozen=True)
class Scale:
    """A satisfaction scale; ``top_box`` is the lowest score that counts as top box."""

    name: str
    low: float
    high: float
    top_box: float

    @property
    def span(self) -> float:
        return self.high - self.low


SCALES = {
    "csat5": Scale("csat5", 1, 5, 5),
    "nps10": Scale("nps10", 0, 10, 9),
}


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str" | "datetime" | "float" | "bool"
    required: bool = False
    meaning: str = ""


TABLES: dict[str, tuple[Column, ...]] = {
    "transactions": (
        Column("transaction_id", "str", False, "unique line id; derived from row order if absent"),
        Column("customer_id", "str", True, "who bought; empty = anonymous"),
        Column("timestamp", "datetime", True, "when"),
        Column("revenue", "float", True, "net line value in the reporting currency"),
        Column("cost", "float", False, "cost of goods for the line"),
        Column("category", "str", False, "product category"),
        Column("quantity", "float", False, "units"),
        Column("promotion", "bool", False, "bought on promotion / with a discount"),
        Column("is_return", "bool", False, "return line (also: any negative revenue)"),
        Column("status", "str", False, "order status; cancelled values are excluded"),
    ),
    "customers": (
        Column("customer_id", "str", True, "key"),
        Column("signup_date", "datetime", False, "first seen / signup"),
        Column(
            "channel",
            "str",
            False,
            "referral | advertising | organic | trade_fair | partner | other",
        ),
        Column(
            "market_type",
            "str",
            False,
            "consumer | producer | intermediary | government | international",
        ),
        Column("region", "str", False, "region"),
        Column("name", "str", False, "PII, never shown in leadership outputs"),
        Column("email", "str", False, "PII, never shown in leadership outputs"),
    ),
    "surveys": (
        Column("customer_id", "str", True, "who answered"),
        Column("survey_date", "datetime", True, "when"),
        Column("score", "float", True, "satisfaction on the declared scale"),
        Column("would_recommend", "float", False, "0-10 likelihood to recommend"),
    ),
    "interactions": (
        Column("customer_id", "str", True, "who"),
        Column("opened_at", "datetime", True, "when the contact started"),
        Column("resolved_at", "datetime", False, "when it was resolved; empty = still open"),
        Column("type", "str", True, "complaint | request | contact | referral"),
        Column("service_cost", "float", False, "cost of handling it"),
    ),
}

CHANNELS = ("referral", "advertising", "organic", "trade_fair", "partner", "other")
MARKET_TYPES = ("consumer", "producer", "intermediary", "government", "international")
INTERACTION_TYPES = ("complaint", "request", "contact", "referral")


@dataclasses.dataclass(frozen=True)
class Rules:
    """What happens to rows that break a rule: excluded (counted in the ledger) or an error."""

    anonymous_transactions: str = "exclude"  # "exclude" | "error"
    cancelled_values: tuple[str, ...] = ("cancelled", "canceled")
    zero_revenue: str = "error"  # "error" | "exclude" | "keep"
    duplicate_transaction_ids: str = "error"  # "error" | "exclude" (keeps the first)
    future_dates: str = "error"  # "error" | "exclude"

    def __post_init__(self) -> None:
        allowed = {
            "anonymous_transactions": {"exclude", "error"},
            "zero_revenue": {"error", "exclude", "keep"},
            "duplicate_transaction_ids": {"error", "exclude"},
            "future_dates": {"error", "exclude"},
        }
        for name, options in allowed.items():
            if getattr(self, name) not in options:
                raise ValueError(
                    f"rules.{name} = {getattr(self, name)!r} is not one of {sorted(options)}; "
                    "fix the [rules] table of the config"
                )


@dataclasses.dataclass(frozen=True)
class Formats:
    """How a company writes dates and numbers in text exports."""

    date_format: str | None = None  # strftime pattern; None = ISO 8601
    decimal: str = "."
    thousands: str = ""
    currency_symbols: tuple[str, ...] = ("$", "€", "£", "¥", "CHF", "EUR", "USD")

    def parse_numbers(self, raw: pd.Series) -> pd.Series:
        if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
            return pd.to_numeric(raw, errors="coerce")
        text = raw.astype("string").str.strip()
        for symbol in self.currency_symbols:
            text = text.str.replace(symbol, "", regex=False)
        text = text.str.replace(r"\s", "", regex=True)
        if self.thousands:
            text = text.str.replace(self.thousands, "", regex=False)
        if self.decimal != ".":
            text = text.str.replace(self.decimal, ".", regex=False)
        return pd.to_numeric(text, errors="coerce")

    def parse_dates(self, raw: pd.Series) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(raw):
            parsed = raw
        else:
            text = raw.astype("string").str.strip()
            parsed = pd.to_datetime(text, errors="coerce", format=self.date_format or "ISO8601")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype("datetime64[ns]")


@dataclasses.dataclass(frozen=True)
class Problem:
    table: str
    column: str
    issue: str
    count: int
    examples: str
    fix: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.table}" + (f" ({self.source})" if self.source else "")
        return (
            f"- {where}, column '{self.column}': {self.issue} in {self.count:,} row(s); "
            f"e.g. {self.examples}.\n  Fix: {self.fix}"
        )


class ContractError(ValueError):
    """Input that breaks the data contract; lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(
            f"{len(problems)} data contract problem(s):\n" + "\n".join(str(p) for p in problems)
        )

    def __reduce__(self):   # rebuilt from the problems when raised in a worker process
        return ContractError, (self.problems,)


@dataclasses.dataclass
class CustomerData:
    """Validated contract tables. Optional tables are None when not supplied."""

    transactions: pd.DataFrame
    customers: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None
    interactions: pd.DataFrame | None = None
    satisfaction_scale: Scale | None = None
    ledger: Ledger = dataclasses.field(default_factory=Ledger)
    source: str = ""

    def time_span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last transaction timestamp."""
        timestamps = self.transactions["timestamp"]
        return timestamps.min(), timestamps.max()

    def has(self, table: str, column: str | None = None) -> bool:
        frame = getattr(self, table)
        if frame is None or frame.empty:
            return False
        return column is None or (column in frame and frame[column].notna().any())

    def missing(self) -> list[str]:
        """Human-readable list of optional inputs that are absent."""
        out = [t for t in ("customers", "surveys", "interactions") if not self.has(t)]
        out += [
            f"transactions.{c}"
            for c in ("cost", "category", "promotion")
            if not self.has("transactions", c)
        ]
        return out
