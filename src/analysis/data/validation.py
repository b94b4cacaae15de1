"""Validation of raw tables against the contract: coercion of types, the pandera checks, and
the exclusion rules whose rows go into the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.data.ledger import Ledger

if TYPE_CHECKING:
    import pandera.pandas as pa
from analysis.data.contract import (
    INTERACTION_TYPES,
    SCALES,
    TABLES,
    ContractError,
    CustomerData,
    Formats,
    Problem,
    Rules,
    Scale,
)


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
