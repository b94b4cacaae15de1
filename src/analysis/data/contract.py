"""The data contract: what a company hands us, and how it is checked.

Five tables. A company supplies ``transactions`` (customer_id, timestamp, revenue) or
``subscriptions`` (customer_id, start) or both; every other table and column is optional
and each analysis says what it cannot test without it. Column names here are the
contract's; a company's own names and formats are mapped onto them by
:mod:`analysis.data.sources`.

:func:`conform` takes mapped tables, applies the exclusion rules (each
excluded row goes into the :class:`~analysis.data.ledger.Ledger` with its reason),
coerces types and validates with pandera. Anything that is not an exclusion
rule and is wrong raises :class:`ContractError`, which names the table,
column, example rows, count and the fix.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

from analysis.data.ledger import Ledger

#: the largest money value one line may carry that float64 still holds to a millionth
#: (2**53 millionths is about 9.007e9); ``[rules] money_limit`` may not exceed it
MONEY_LIMIT_MAX = 9e9


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
    money: bool = False   # finite, within [rules] money_limit, summed exactly in the ledger
    event: bool = False   # a date that may not lie after the as-of date
    pii: bool = False     # personal data: never shown to leadership, never cached


TABLES: dict[str, tuple[Column, ...]] = {
    "transactions": (
        Column("transaction_id", "str", False, "unique line id; derived from row order if absent"),
        Column("customer_id", "str", True, "who bought; empty = anonymous"),
        Column("timestamp", "datetime", True, "when", event=True),
        Column("revenue", "float", True, "net line value in the reporting currency",
               money=True),
        Column("cost", "float", False, "cost of goods for the line", money=True),
        Column("category", "str", False, "product category"),
        Column("quantity", "float", False, "units"),
        Column("promotion", "bool", False, "bought on promotion / with a discount"),
        Column("is_return", "bool", False, "return line (also: any negative revenue)"),
        Column("status", "str", False, "order status; cancelled values are excluded"),
    ),
    "customers": (
        Column("customer_id", "str", True, "key"),
        Column("signup_date", "datetime", False, "first seen / signup", event=True),
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
        Column("name", "str", False, "PII, never shown in leadership outputs", pii=True),
        Column("email", "str", False, "PII, never shown in leadership outputs", pii=True),
    ),
    "surveys": (
        Column("customer_id", "str", True, "who answered"),
        Column("survey_date", "datetime", True, "when", event=True),
        Column("score", "float", True, "satisfaction on the declared scale"),
        Column("would_recommend", "float", False, "0-10 likelihood to recommend"),
    ),
    "interactions": (
        Column("customer_id", "str", True, "who"),
        Column("opened_at", "datetime", True, "when the contact started", event=True),
        Column("resolved_at", "datetime", False, "when it was resolved; empty = still open",
               event=True),
        Column("type", "str", True, "complaint | request | contact | referral"),
        Column("service_cost", "float", False, "cost of handling it", money=True),
    ),
    "subscriptions": (
        Column("customer_id", "str", True, "who subscribed"),
        Column("start", "datetime", True, "when the subscription started", event=True),
        Column("end", "datetime", False, "when it ended; empty while active"),
        Column("plan", "str", False, "plan or contract type"),
        Column("recurring_charge", "float", False, "charge per month", money=True),
        Column("cancellation_reason", "str", False, "why it ended"),
    ),
}
#: a company supplies at least one of these
ACTIVITY_TABLES = ("transactions", "subscriptions")

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
    unknown_customers: str = "exclude"  # survey/interaction rows of unknown customers
    money_limit: float = 1e9  # largest absolute money value on one line

    def __post_init__(self) -> None:
        if isinstance(self.cancelled_values, str):  # one value, not its letters
            object.__setattr__(self, "cancelled_values", (self.cancelled_values,))
        object.__setattr__(self, "cancelled_values",
                           tuple(str(v).strip().lower() for v in self.cancelled_values))
        if not 0 < float(self.money_limit) <= MONEY_LIMIT_MAX:
            raise ValueError(f"rules.money_limit = {self.money_limit} must be in "
                             f"(0, {MONEY_LIMIT_MAX:.0e}]; fix the [rules] table of the config")
        allowed = {
            "anonymous_transactions": {"exclude", "error"},
            "zero_revenue": {"error", "exclude", "keep"},
            "duplicate_transaction_ids": {"error", "exclude"},
            "future_dates": {"error", "exclude"},
            "unknown_customers": {"exclude", "error"},
        }
        for name, options in allowed.items():
            if getattr(self, name) not in options:
                raise ValueError(
                    f"rules.{name} = {getattr(self, name)!r} is not one of {sorted(options)}; "
                    "fix the [rules] table of the config"
                )


_ZONE = re.compile(r"(?:Z|UTC|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Formats:
    """How a company writes dates and numbers in text exports."""

    date_format: str | None = None  # strftime pattern; None = ISO 8601
    decimal: str = "."
    thousands: str = ""
    currency_symbols: tuple[str, ...] = ("$", "€", "£", "¥", "CHF", "EUR", "USD")

    def _number_text(self, raw: pd.Series) -> pd.Series:
        """Text without currency symbols and blanks (blanks inside a number are kept when
        they are the thousands separator, so their groups can be checked)."""
        text = raw.astype("string").str.strip()
        for symbol in self.currency_symbols:
            text = text.str.replace(symbol, "", regex=False)
        text = text.str.strip()
        if self.thousands != " ":
            text = text.str.replace(r"\s", "", regex=True)
        return text

    def number_pattern(self) -> re.Pattern:
        """A number written with the declared separators: digit groups of three after a
        thousands separator, at most one decimal separator, an optional exponent."""
        dec = re.escape(self.decimal)
        whole = r"\d+"
        if self.thousands:
            whole = rf"(?:\d{{1,3}}(?:{re.escape(self.thousands)}\d{{3}})+|\d+)"
        return re.compile(rf"^[+-]?(?:{whole}(?:{dec}\d*)?|{dec}\d+)(?:[eE][+-]?\d+)?$")

    def parse_numbers(self, raw: pd.Series) -> pd.Series:
        if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
            return pd.to_numeric(raw, errors="coerce")
        text = self._number_text(raw)
        if self.thousands:
            text = text.str.replace(self.thousands, "", regex=False)
        if self.decimal != ".":
            text = text.str.replace(self.decimal, ".", regex=False)
        return pd.to_numeric(text, errors="coerce")

    def misshapen(self, raw: pd.Series) -> pd.Series:
        """True where a text value does not fit the declared separators (e.g. '181.38'
        with decimal ',' and thousands '.'); numeric columns have no separators."""
        if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
            return pd.Series(False, index=raw.index)
        text = self._number_text(raw)
        fits = text.str.match(self.number_pattern()).fillna(True)
        return ~fits.astype(bool)

    def parse_dates(self, raw: pd.Series) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(raw):
            parsed = raw
        else:
            text = raw.astype("string").str.strip()
            zoned = "%z" in (self.date_format or "") or bool(self.zoned(raw).any())
            parsed = pd.to_datetime(text, errors="coerce", format=self.date_format or "ISO8601",
                                    utc=zoned)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype("datetime64[ns]")

    @staticmethod
    def zoned(raw: pd.Series) -> pd.Series:
        """True where a text date carries a time zone or UTC offset."""
        if pd.api.types.is_datetime64_any_dtype(raw):
            return pd.Series(getattr(raw.dt, "tz", None) is not None, index=raw.index)
        text = raw.astype("string").str.strip()
        return text.str.contains(_ZONE).fillna(False).astype(bool)


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
        column = f", column '{self.column}'" if self.column != "-" else ""
        shown = "" if self.examples in ("", "-") else f"; {self.examples}"
        if self.count:
            shown = f" in {self.count:,} row(s); e.g. {self.examples}"
        return f"- {where}{column}: {self.issue}{shown}.\n  Fix: {self.fix}"


def plain(value: object) -> str:
    """A value as a reader writes it: 'abc', 0.0, 2026-01-05, empty (never np.float64(0.0))."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty"
    if isinstance(value, (float, np.floating)):
        return "empty" if np.isnan(value) else repr(float(value))
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(value))
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return repr(str(value))


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

    transactions: pd.DataFrame   # empty (contract columns, no rows) when not supplied
    customers: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None
    interactions: pd.DataFrame | None = None
    satisfaction_scale: Scale | None = None
    ledger: Ledger = dataclasses.field(default_factory=Ledger)
    source: str = ""
    subscriptions: pd.DataFrame | None = None

    def time_span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last transaction timestamp (without transactions: the first start and
        the last start or end of the subscriptions)."""
        if self.transactions.empty and self.has("subscriptions"):
            subs = self.subscriptions
            dates = pd.concat([subs["start"], subs["end"]]) if "end" in subs else subs["start"]
            return subs["start"].min(), dates.max()
        timestamps = self.transactions["timestamp"]
        return timestamps.min(), timestamps.max()

    def overview(self, table: str, date_column: str) -> tuple[int, int, pd.Timestamp | None,
                                                             pd.Timestamp | None]:
        """Rows, distinct customers and the first and last date of ``date_column`` (None
        where it has none) of a supplied table."""
        frame = getattr(self, table)
        customers = int(frame["customer_id"].nunique()) if "customer_id" in frame else 0
        return (len(frame), customers, *self.date_range(frame, date_column))

    @staticmethod
    def date_range(frame: pd.DataFrame, column: str) -> tuple[pd.Timestamp | None,
                                                              pd.Timestamp | None]:
        """First and last date of ``column`` (values that are not dates left out); None
        where it has none."""
        if column not in frame:
            return None, None
        dates = pd.to_datetime(frame[column], errors="coerce")
        if not dates.notna().any():
            return None, None
        return dates.min(), dates.max()

    def without_pii(self) -> CustomerData:
        """The same data without personal columns (name, e-mail): what analyses need."""
        pii = {t: [c.name for c in cols if c.pii] for t, cols in TABLES.items()}
        tables = {t: (f.drop(columns=[c for c in pii[t] if c in f.columns])
                      if (f := getattr(self, t)) is not None else None) for t in TABLES}
        return dataclasses.replace(self, **tables)

    def has(self, table: str, column: str | None = None) -> bool:
        frame = getattr(self, table)
        if frame is None or frame.empty:
            return False
        return column is None or (column in frame and frame[column].notna().any())

    def missing(self) -> list[str]:
        """Human-readable list of optional inputs that are absent."""
        out = [t for t in ("customers", "surveys", "interactions") if not self.has(t)]
        if not self.has("transactions"):
            return ["transactions", *out]
        out += [
            f"transactions.{c}"
            for c in ("cost", "category", "promotion")
            if not self.has("transactions", c)
        ]
        return out
