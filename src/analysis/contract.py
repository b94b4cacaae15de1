"""The data contract: what a company hands us, and how it is checked.

Four tables. Only ``transactions`` (customer_id, timestamp, revenue) is
required; every other table and column is optional and each analysis says what
it cannot test without it. Column names here are the contract's; a company's
own names and formats are mapped onto them by :mod:`analysis.sources`.

:func:`conform` takes mapped tables, applies the exclusion rules (each
excluded row goes into the :class:`~analysis.ledger.Ledger` with its reason),
coerces types and validates with pandera. Anything that is not an exclusion
rule and is wrong raises :class:`ContractError`, which names the table,
column, example rows, count and the fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.ledger import Ledger

# pandera is imported where data are validated: kernels that read the validated cache
# never need it (0.2 s per kernel)
if TYPE_CHECKING:
    import pandera.pandas as pa


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


def _examples(frame: pd.DataFrame, mask: np.ndarray | pd.Series, column: str, k: int = 3) -> str:
    rows = frame.loc[np.asarray(mask), column].head(k)
    return ", ".join(f"row {i + 2}: {v!r}" for i, v in zip(rows.index, rows.tolist(), strict=True))


def _coerce(
    table: str,
    frame: pd.DataFrame,
    formats: Formats,
    source: str,
    problems: list[Problem],
    reported: set,
) -> pd.DataFrame:
    """Coerce contract columns to their types; unparseable values become problems."""
    out = frame.copy()
    for col in TABLES[table]:
        if col.name not in out:
            continue
        raw = out[col.name]
        present = _present(raw)
        if col.kind == "str":
            out[col.name] = raw.astype("string").str.strip().where(present)
        elif col.kind == "float":
            parsed = formats.parse_numbers(raw)
            bad = present & parsed.isna()
            reported.update((col.name, i) for i in out.index[bad])
            if bad.any():
                problems.append(
                    Problem(
                        table,
                        col.name,
                        "values are not numbers",
                        int(bad.sum()),
                        _examples(out, bad, col.name),
                        "map the column's decimal/thousands separators and currency symbols "
                        "in the [formats] table of the config",
                        source,
                    )
                )
            out[col.name] = parsed.astype("float64")
        elif col.kind == "datetime":
            parsed = formats.parse_dates(raw)
            bad = present & parsed.isna()
            reported.update((col.name, i) for i in out.index[bad])
            if bad.any():
                problems.append(
                    Problem(
                        table,
                        col.name,
                        "dates cannot be parsed",
                        int(bad.sum()),
                        _examples(out, bad, col.name),
                        "set date_format in the [formats] table of the config "
                        "(e.g. '%d.%m.%Y') or fix the rows",
                        source,
                    )
                )
            out[col.name] = parsed
        elif col.kind == "bool":
            out[col.name] = _to_bool(raw)
    return out


def _present(raw: pd.Series) -> pd.Series:
    """Not missing; for text also not blank (typed columns skip the costly text check)."""
    if (pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw)
            or pd.api.types.is_bool_dtype(raw)):
        return raw.notna()
    return raw.notna() & (raw.astype("string").str.strip() != "")


_TRUE = {"1", "true", "t", "yes", "y", "x", "ja", "oui"}
_FALSE = {"0", "false", "f", "no", "n", "", "nein", "non"}


def _to_bool(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("boolean")
    text = raw.astype("string").str.strip().str.lower()
    return text.map(lambda v: True if v in _TRUE else (False if v in _FALSE else pd.NA)).astype(
        "boolean"
    )


def _check_required(table: str, frame: pd.DataFrame, source: str) -> list[Problem]:
    missing = [c.name for c in TABLES[table] if c.required and c.name not in frame]
    return [
        Problem(
            table,
            name,
            "required column is missing",
            len(frame),
            f"columns present: {', '.join(map(str, frame.columns[:8]))}",
            f"add the column or map your column name to '{name}' in [mapping.{table}] "
            "of the config",
            source,
        )
        for name in missing
    ]


def _schema(
    table: str, scale: Scale | None, as_of: pd.Timestamp | None, rules: Rules
) -> pa.DataFrameSchema:
    """pandera schema for a coerced table (types and value checks)."""
    import pandera.pandas as pa

    cols: dict[str, pa.Column] = {}
    for col in TABLES[table]:
        dtype = {
            "str": "string",
            "float": "float64",
            "datetime": "datetime64[ns]",
            "bool": "boolean",
        }[col.kind]
        checks = []
        if (
            col.kind == "datetime"
            and as_of is not None
            and col.name in {"timestamp", "survey_date", "opened_at"}
        ):
            checks.append(
                pa.Check(
                    lambda s, t=as_of: s <= t,
                    name="not_in_future",
                    error=f"dates after {as_of.date()}",
                )
            )
        cols[col.name] = pa.Column(dtype, checks=checks, nullable=not col.required, required=False)
    if table == "transactions":
        nonzero = (
            []
            if rules.zero_revenue == "keep"
            else [pa.Check(lambda s: s != 0, name="nonzero_revenue", error="zero revenue")]
        )
        cols["revenue"] = pa.Column("float64", nullable=False, checks=nonzero)
        cols["transaction_id"] = pa.Column("string", unique=True, nullable=False)
    if table == "surveys" and scale is not None:
        cols["score"] = pa.Column(
            "float64",
            nullable=False,
            checks=[pa.Check.in_range(scale.low, scale.high, name="score_on_scale")],
        )
    if table == "interactions":
        cols["type"] = pa.Column(
            "string", checks=[pa.Check.isin(INTERACTION_TYPES, name="known_interaction_type")]
        )
        cols["service_cost"] = pa.Column(
            "float64",
            nullable=True,
            required=False,
            checks=[pa.Check.ge(0, name="non_negative_cost")],
        )
    if table == "customers":
        cols["customer_id"] = pa.Column("string", unique=True, nullable=False)
    return pa.DataFrameSchema(cols, strict=False, coerce=False)


# pandera check label (substring) -> (plain description of the problem, the fix)
_CHECKS = {
    "dates after": (
        "dates in the future",
        "check the timezone/date format, or set rules.future_dates = 'exclude' in the config",
    ),
    "zero revenue": (
        "zero revenue",
        "drop zero-value lines at the source, or set "
        "rules.zero_revenue to 'exclude' or 'keep' in the config",
    ),
    "in_range": (
        "score outside the declared scale",
        "declare the right scale "
        "(satisfaction_scale = 'csat5' or 'nps10') in the config, or rescale the scores",
    ),
    "isin": (
        "unknown category",
        "map your values onto the contract's in [values.<table>.<column>] of the config",
    ),
    "greater_than_or_equal_to": ("negative values", "costs must be >= 0; fix the rows"),
    "field_uniqueness": (
        "duplicate ids",
        "ids must be unique; deduplicate at the source, or for "
        "transactions set rules.duplicate_transaction_ids = 'exclude'",
    ),
    "not_nullable": ("missing values", "fill the missing values or drop the rows at the source"),
    "dtype": ("wrong type", "map the column to the contract type (see data/README.md)"),
}


def _validate(table, frame, scale, as_of, rules, source, reported) -> list[Problem]:
    import pandera.pandas as pa

    try:
        _schema(table, scale, as_of, rules).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        problems = []
        for (column, check), group in err.failure_cases.groupby(["column", "check"], sort=True):
            idx = [int(i) for i in group["index"].dropna() if (column, int(i)) not in reported]
            if group["index"].notna().any() and not idx:
                continue  # already reported as unparseable
            issue, fix = next(
                (v for k, v in _CHECKS.items() if k in str(check)),
                (str(check), "fix the rows at the source"),
            )
            examples = ", ".join(f"row {i + 2}: {frame.at[i, column]!r}" for i in idx[:3])
            examples = examples or str(group["failure_case"].head(3).tolist())
            problems.append(
                Problem(table, str(column), issue, len(idx) or len(group), examples, fix, source)
            )
        return problems
    return []


def conform(
    tables: Mapping[str, pd.DataFrame | None],
    *,
    scale: str | None = None,
    rules: Rules | None = None,
    formats: Formats | None = None,
    as_of: pd.Timestamp | None = None,
    sources: Mapping[str, str] | None = None,
) -> CustomerData:
    """Apply exclusion rules, coerce and validate mapped tables into :class:`CustomerData`.

    Raises :class:`ContractError` listing every problem found (all tables are checked
    before raising, so the user sees everything at once).
    """
    rules = rules or Rules()
    formats = formats or Formats()
    sources = dict(sources or {})
    if "transactions" not in tables or tables["transactions"] is None:
        raise ContractError(
            [
                Problem(
                    "transactions",
                    "-",
                    "table is missing",
                    0,
                    "-",
                    "point [tables.transactions] of the config at your export",
                )
            ]
        )
    if scale is not None and scale not in SCALES:
        raise ContractError(
            [
                Problem(
                    "surveys",
                    "score",
                    f"unknown satisfaction scale {scale!r}",
                    0,
                    "-",
                    f"use one of {sorted(SCALES)} in the config",
                )
            ]
        )
    scale_obj = SCALES.get(scale) if scale else None
    if tables.get("surveys") is not None and scale_obj is None:
        raise ContractError(
            [
                Problem(
                    "surveys",
                    "score",
                    "satisfaction scale not declared",
                    0,
                    "-",
                    f"set satisfaction_scale to one of {sorted(SCALES)}",
                )
            ]
        )

    ledger = Ledger()
    problems: list[Problem] = []
    out: dict[str, pd.DataFrame | None] = {}
    for table in TABLES:
        frame = tables.get(table)
        if frame is None:
            out[table] = None
            continue
        source = sources.get(table, "")
        frame = frame.reset_index(drop=True)
        missing = _check_required(table, frame, source)
        if missing:
            problems += missing
            continue
        reported: set = set()
        frame = _coerce(table, frame, formats, source, problems, reported)
        if table == "transactions":
            frame = _apply_transaction_rules(frame, rules, as_of, ledger, source, problems)
        else:
            ledger.record_input(table, frame)
            frame = _drop_unusable(table, frame, ledger)
            ledger.record_kept(table, frame)
        problems += _validate(table, frame, scale_obj, as_of, rules, source, reported)
        frame = frame.reset_index(drop=True)
        out[table] = frame
    if problems:
        raise ContractError(problems)
    tx = out["transactions"]
    if tx is None or tx.empty:
        raise ContractError(
            [
                Problem(
                    "transactions",
                    "-",
                    "no rows left after the exclusion rules",
                    0,
                    "-",
                    "check the export and the [rules] of the config",
                )
            ]
        )
    return CustomerData(
        transactions=tx.reset_index(drop=True),
        customers=out["customers"],
        surveys=out["surveys"],
        interactions=out["interactions"],
        satisfaction_scale=scale_obj,
        ledger=ledger,
        source=", ".join(sorted(set(sources.values()))),
    )


def _apply_transaction_rules(frame, rules, as_of, ledger, source, problems) -> pd.DataFrame:
    ledger.record_input("transactions", frame, "revenue")
    if "transaction_id" not in frame:
        frame["transaction_id"] = pd.array([f"L{i + 1}" for i in range(len(frame))], dtype="string")
    # each rule sees the rows the earlier ones kept; the frame is cut once, at the end
    # (cutting a 10-million-line frame after every rule took seconds each)
    kept = np.ones(len(frame), dtype=bool)

    def exclude(reason: str, rows: np.ndarray) -> None:
        rows = rows & kept
        ledger.record_excluded("transactions", reason, frame[rows], "revenue")
        kept[rows] = False

    anonymous = frame["customer_id"].isna().to_numpy()
    if anonymous.any():
        if rules.anonymous_transactions == "error":
            problems.append(
                Problem(
                    "transactions",
                    "customer_id",
                    "customer id is empty",
                    int(anonymous.sum()),
                    _examples(frame, anonymous, "transaction_id"),
                    "fill the customer ids, or set rules.anonymous_transactions = 'exclude'",
                    source,
                )
            )
        else:
            exclude("anonymous (no customer id)", anonymous)
    if "status" in frame:
        exclude("cancelled order", frame["status"].str.lower().isin(rules.cancelled_values)
                .fillna(False).to_numpy(bool))
    if "revenue" in frame and rules.zero_revenue == "exclude":
        exclude("zero revenue line", (frame["revenue"] == 0).fillna(False).to_numpy(bool))
    if rules.duplicate_transaction_ids == "exclude":
        dup = np.zeros(len(frame), dtype=bool)
        dup[kept] = frame["transaction_id"][kept].duplicated(keep="first").to_numpy()
        exclude("duplicate transaction id", dup)
    if as_of is not None and rules.future_dates == "exclude":
        exclude(f"dated after {as_of.date()}", (frame["timestamp"] > as_of).fillna(False)
                .to_numpy(bool))
    if not kept.all():
        frame = frame[kept]
    flagged = frame["is_return"].fillna(False) if "is_return" in frame else False
    negative = frame["revenue"] < 0
    if "is_return" in frame:
        unflagged = (negative & ~flagged).fillna(False).to_numpy()
        if unflagged.any():
            problems.append(
                Problem(
                    "transactions",
                    "revenue",
                    "negative revenue on a line not flagged as a return",
                    int(unflagged.sum()),
                    _examples(frame, unflagged, "revenue"),
                    "flag return lines in is_return, or fix the sign",
                    source,
                )
            )
    frame = frame.assign(is_return=(negative | flagged).astype("boolean"))
    ledger.record_kept("transactions", frame, "revenue")
    return frame


def _drop_unusable(table: str, frame: pd.DataFrame, ledger: Ledger) -> pd.DataFrame:
    """Optional-table rows that cannot be used (no customer id) are excluded and counted."""
    no_id = frame["customer_id"].isna().to_numpy()
    ledger.record_excluded(table, "no customer id", frame[no_id])
    frame = frame[~no_id]
    if table == "surveys":
        no_score = frame["score"].isna().to_numpy()
        ledger.record_excluded(table, "no score", frame[no_score])
        frame = frame[~no_score]
    return frame
