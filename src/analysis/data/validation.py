"""Validation of raw tables against the contract: coercion of types, the value checks, and
the exclusion rules whose rows go into the ledger.

Every problem names the table (and file), the column, the count, example rows (row 1 is
the header line) and the fix; all tables are checked before :class:`ContractError` is
raised, so the user sees everything at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.data.contract import (
    ACTIVITY_TABLES,
    CHANNELS,
    INTERACTION_TYPES,
    MARKET_TYPES,
    MONEY_LIMIT_MAX,
    SCALES,
    TABLES,
    ContractError,
    CustomerData,
    Formats,
    Problem,
    Rules,
    Scale,
    plain,
)
from analysis.data.ledger import Ledger

if TYPE_CHECKING:
    import pandera.pandas as pa

#: a boolean column a mapping's ``filter`` adds: rows where it is false are excluded
FILTER_COLUMN = "__keep__"
#: above this share of distinct unknown ids (and at least UNKNOWN_ID_MIN of them), a
#: survey/interaction mapping is an error: it usually maps the wrong key
UNKNOWN_ID_LIMIT = 0.5
UNKNOWN_ID_MIN = 5
SNAPSHOT_HELP = ("see config/examples/subscription_snapshot.toml and the section "
                 "'Subscriptions and snapshots' of data/README.md")
#: checked in this order: the other tables need the customers of these
ORDER = ("transactions", "subscriptions", "customers", "surveys", "interactions")


def _examples(frame: pd.DataFrame, mask, column: str, k: int = 3) -> str:
    rows = frame.loc[np.asarray(mask, dtype=bool), column].head(k)
    return ", ".join(f"row {i + 2}: {plain(v)}" for i, v in zip(rows.index, rows.tolist(),
                                                               strict=True))


def _problem(table, column, issue, mask, frame, fix, source, shown: str | None = None):
    mask = np.asarray(mask, dtype=bool)
    return Problem(table, column, issue, int(mask.sum()),
                   _examples(frame, mask, shown or column), fix, source)


# -- coercion -------------------------------------------------------------------------------


def _coerce(table: str, frame: pd.DataFrame, formats: Formats, rules: Rules, source: str,
            problems: list[Problem], reported: set) -> pd.DataFrame:
    """Coerce contract columns to their types; values that cannot be read are problems."""
    out = frame.copy()
    for col in TABLES[table]:
        if col.name not in out:
            continue
        raw = out[col.name]
        present = _present(raw)
        if col.kind == "str":
            out[col.name] = _text(raw, col.name).where(present)
        elif col.kind == "float":
            out[col.name] = _numbers(table, col, out, formats, rules, source, problems,
                                     reported, present)
        elif col.kind == "datetime":
            out[col.name] = _dates(table, col.name, out, formats, source, problems, reported,
                                   present)
        elif col.kind == "bool":
            out[col.name] = _to_bool(raw)
    return out


def _text(raw: pd.Series, name: str) -> pd.Series:
    """Text, stripped. Ids written as whole floats (13607.0, as spreadsheets and pandas
    write an integer column with gaps) are read as the integer they are (13607)."""
    if name.endswith("_id") and pd.api.types.is_float_dtype(raw):
        finite = raw.dropna()
        if len(finite) and bool((finite == np.floor(finite)).all()):
            return raw.map(lambda v: None if pd.isna(v) else str(int(v))).astype("string")
    text = raw.astype("string").str.strip()
    if name.endswith("_id") and bool(text.str.endswith(".0").any()):   # cheap test first
        filled = text.dropna()
        whole = filled.str.fullmatch(r"-?\d+\.0+")
        if len(filled) and bool(whole.any()) and bool(
                (whole | filled.str.fullmatch(r"-?\d+")).all()):
            text = text.str.replace(r"\.0+$", "", regex=True)
    return text


def _numbers(table, col, out, formats, rules, source, problems, reported, present):
    raw = out[col.name]
    parsed = formats.parse_numbers(raw).astype("float64")
    bad = (present & parsed.isna()).to_numpy(bool)
    if bad.any():
        problems.append(_problem(table, col.name, "values are not numbers", bad, out,
                                 _number_fix(raw[bad], formats), source))
    checked = bad.copy()
    misshapen = (formats.misshapen(raw) & present).to_numpy(bool) & ~checked & \
        np.isfinite(parsed.to_numpy())
    if misshapen.any():
        problems.append(_problem(
            table, col.name, f"numbers do not fit the declared separators (decimal "
            f"{formats.decimal!r}, thousands {formats.thousands or 'none'!r})", misshapen, out,
            _number_fix(raw[misshapen], formats), source))
        checked |= misshapen
    if col.money:
        values = parsed.to_numpy()
        infinite = np.isinf(values) & ~checked
        if infinite.any():
            problems.append(_problem(table, col.name, "values are infinite", infinite, out,
                                     "money must be a finite number; fix the rows", source))
        huge = np.isfinite(values) & (np.abs(values) > rules.money_limit) & ~checked
        if huge.any():
            problems.append(_problem(
                table, col.name, f"values beyond the money limit of {rules.money_limit:,.0f} "
                "on one line", huge, out,
                "check the export (a unit, exponent or separator problem?); if such lines "
                f"are real, raise [rules] money_limit (at most {MONEY_LIMIT_MAX:,.0f})", source))
        checked |= infinite | huge
    reported.update((col.name, i) for i in out.index[checked])
    return parsed


def _number_fix(bad: pd.Series, formats: Formats) -> str:
    """Which [formats] would read the bad values: the example and the setting."""
    text = bad.astype("string").str.strip().dropna()
    example = text.iloc[0] if len(text) else ""
    for decimal, thousands in ((".", ","), (",", "."), (",", " "), (".", ""), (",", "")):
        trial = Formats(decimal=decimal, thousands=thousands,
                        currency_symbols=formats.currency_symbols)
        fits = ~trial.misshapen(text) & trial.parse_numbers(text).notna()
        if len(text) and bool(fits.all()) and (decimal, thousands) != (formats.decimal,
                                                                       formats.thousands):
            return (f"{example!r} reads as {trial.parse_numbers(text).iloc[0]:,} with "
                    f'decimal = "{decimal}" and thousands = "{thousands}" in [formats]; '
                    "set those if the file writes numbers that way, or fix the rows")
    return ("map the column's decimal/thousands separators and currency symbols in the "
            "[formats] table of the config, or fix the rows")


def _dates(table, name, out, formats, source, problems, reported, present):
    raw = out[name]
    zoned = formats.zoned(raw).to_numpy(bool) & present.to_numpy(bool)
    naive = present.to_numpy(bool) & ~zoned
    if zoned.any() and naive.any():
        problems.append(Problem(
            table, name, f"mixed time zones: {int(zoned.sum()):,} dates carry a time zone or "
            f"UTC offset and {int(naive.sum()):,} do not", int(naive.sum()),
            f"{_examples(out, zoned, name, 2)}; {_examples(out, naive, name, 2)}",
            "export every date with its offset (then they are converted to UTC), or every "
            "date without one", source))
        reported.update((name, i) for i in out.index[zoned | naive])
    parsed = formats.parse_dates(raw)
    bad = (present & parsed.isna()).to_numpy(bool)
    fresh = bad & ~np.array([(name, i) in reported for i in out.index]) if bad.any() else bad
    if fresh.any():
        problems.append(_problem(table, name, "dates cannot be parsed", fresh, out,
                                 "set date_format in the [formats] table of the config "
                                 "(e.g. '%d.%m.%Y') or fix the rows", source))
    reported.update((name, i) for i in out.index[bad])
    return parsed


def _present(raw: pd.Series) -> pd.Series:
    """Not missing; for text also not blank (typed columns skip the costly text check)."""
    if (pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_datetime64_any_dtype(raw)
            or pd.api.types.is_bool_dtype(raw)):
        return raw.notna()
    return (raw.notna() & (raw.astype("string").str.strip() != "")).fillna(False).astype(bool)


_TRUE = {"1", "true", "t", "yes", "y", "x", "ja", "oui", "1.0"}
_FALSE = {"0", "false", "f", "no", "n", "", "nein", "non", "0.0"}


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
            f"columns present: {', '.join(map(str, frame.columns[:12]))}",
            f"add the column or map your column name to '{name}' in [mapping.{table}] "
            "of the config",
            source,
        )
        for name in missing
    ]


# -- value checks ---------------------------------------------------------------------------


def _schema(table: str, scale: Scale | None, rules: Rules) -> pa.DataFrameSchema:
    """pandera schema for a coerced table (types and value checks)."""
    import pandera.pandas as pa

    dtypes = {"str": "string", "float": "float64", "datetime": "datetime64[ns]",
              "bool": "boolean"}
    cols = {c.name: pa.Column(dtypes[c.kind], nullable=not c.required, required=False)
            for c in TABLES[table]}
    if table == "transactions":
        nonzero = (
            []
            if rules.zero_revenue == "keep"
            else [pa.Check(lambda s: s != 0, name="nonzero_revenue", error="zero revenue")]
        )
        cols["revenue"] = pa.Column("float64", nullable=False, checks=nonzero)
        cols["transaction_id"] = pa.Column("string", nullable=False)
    if table == "surveys" and scale is not None:
        cols["score"] = pa.Column(
            "float64",
            nullable=False,
            checks=[pa.Check.in_range(scale.low, scale.high, name="score_on_scale")],
        )
    if table == "interactions":
        cols["type"] = pa.Column("string", checks=[pa.Check.isin(INTERACTION_TYPES)])
        cols["service_cost"] = pa.Column("float64", nullable=True, required=False,
                                         checks=[pa.Check.ge(0)])
    if table == "customers":
        cols["customer_id"] = pa.Column("string", unique=True, nullable=False)
        cols["channel"] = pa.Column("string", nullable=True, required=False,
                                    checks=[pa.Check.isin(CHANNELS)])
        cols["market_type"] = pa.Column("string", nullable=True, required=False,
                                        checks=[pa.Check.isin(MARKET_TYPES)])
    if table == "subscriptions":
        cols["recurring_charge"] = pa.Column("float64", nullable=True, required=False,
                                             checks=[pa.Check.ge(0)])
    return pa.DataFrameSchema(cols, strict=False, coerce=False)


ALLOWED = {("interactions", "type"): INTERACTION_TYPES, ("customers", "channel"): CHANNELS,
           ("customers", "market_type"): MARKET_TYPES}

# pandera check label (substring) -> (plain description of the problem, the fix)
_CHECKS = {
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
    "isin": ("unknown category", "map your values onto the contract's {allowed} in "
             "[values.{table}.{column}] of the config"),
    "greater_than_or_equal_to": ("negative values", "money values here must be >= 0; "
                                 "fix the rows"),
    "field_uniqueness": ("duplicate ids", "ids must be unique; deduplicate at the source"),
    "not_nullable": ("missing values", "fill the missing values or drop the rows at the source"),
    "dtype": ("wrong type", "map the column to the contract type (see data/README.md)"),
}


def _validate(table, frame, scale, rules, source, reported) -> list[Problem]:
    import pandera.pandas as pa

    try:
        _schema(table, scale, rules).validate(frame, lazy=True)
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
            allowed = ", ".join(ALLOWED.get((table, str(column)), ()))
            fix = fix.format(allowed=allowed, table=table, column=column)
            examples = ", ".join(f"row {i + 2}: {plain(frame.at[i, column])}" for i in idx[:3])
            examples = examples or ", ".join(plain(v) for v in group["failure_case"].head(3))
            problems.append(
                Problem(table, str(column), issue, len(idx) or len(group), examples, fix, source)
            )
        return problems
    return []


def _value_checks(table: str, frame: pd.DataFrame, source: str) -> list[Problem]:
    """Checks across columns and on optional columns."""
    problems = []
    if table == "surveys" and "would_recommend" in frame:
        off = frame["would_recommend"].notna() & ~frame["would_recommend"].between(0, 10)
        if off.any():
            problems.append(_problem(table, "would_recommend", "likelihood to recommend "
                                     "outside 0-10", off, frame, "map a 0-10 answer, or rescale "
                                     "the column", source))
    if table == "interactions" and "resolved_at" in frame:
        early = (frame["resolved_at"] < frame["opened_at"]).fillna(False)
        if early.any():
            problems.append(_problem(table, "resolved_at", "resolved before it was opened",
                                     early, frame, "check that opened_at and resolved_at are "
                                     "mapped the right way round, and their time zones",
                                     source))
    if table == "subscriptions" and "end" in frame:
        early = (frame["end"] < frame["start"]).fillna(False)
        if early.any():
            problems.append(_problem(table, "end", "ends before it started", early, frame,
                                     "check the mapping of start and end (for a snapshot: "
                                     f"start = as_of - tenure months); {SNAPSHOT_HELP}",
                                     source))
    return problems


# -- conform --------------------------------------------------------------------------------


def conform(
    tables: Mapping[str, pd.DataFrame | None],
    *,
    scale: str | None = None,
    rules: Rules | None = None,
    formats: Formats | None = None,
    as_of: pd.Timestamp | None = None,
    sources: Mapping[str, str] | None = None,
    filters: Mapping[str, str] | None = None,
    business: str = "shop",
    ledger: Ledger | None = None,
) -> CustomerData:
    """Apply exclusion rules, coerce and validate mapped tables into :class:`CustomerData`.

    ``as_of``: dates after this day are future dates (the rule ``future_dates``); None
    checks nothing. ``filters``: per table, the mapping's filter condition, for the ledger
    reason of rows its column :data:`FILTER_COLUMN` marks as filtered out. ``ledger``: one
    that already holds the sources' lines (rows read from each file).

    Raises :class:`ContractError` listing every problem found.
    """
    rules = rules or Rules()
    formats = formats or Formats()
    sources = dict(sources or {})
    ledger = ledger if ledger is not None else Ledger()
    _check_tables(tables, business)
    scale_obj = _scale(tables, scale)
    cutoff = None if as_of is None else pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)

    problems: list[Problem] = []
    out: dict[str, pd.DataFrame | None] = {}
    known = None   # customer ids of the activity tables (an array)
    known_from: list[str] = []
    for table in ORDER:
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
        money = "revenue" if table == "transactions" else None
        frame, filtered = _split_filtered(frame, formats, money)
        reported: set = set()
        frame = _coerce(table, frame, formats, rules, source, problems, reported)
        if not len(filtered):
            ledger.record_input(table, frame, money)
        else:
            both = pd.concat([filtered, frame[[money]]]) if money else \
                pd.DataFrame(index=range(len(frame) + len(filtered)))
            ledger.record_input(table, both, money)
            condition = (filters or {}).get(table, "")
            ledger.record_excluded(table, f"filtered out by the mapping (filter: {condition})",
                                   filtered, money)
        if table == "transactions":
            frame = _apply_transaction_rules(frame, rules, cutoff, ledger, source, problems)
        else:
            frame = _apply_table_rules(table, frame, rules, cutoff, (known, known_from),
                                       ledger, source, problems)
        problems += _validate(table, frame, scale_obj, rules, source, reported)
        problems += _value_checks(table, frame, source)
        frame = frame.reset_index(drop=True)
        out[table] = frame
        if table in ACTIVITY_TABLES:
            ids = frame["customer_id"].dropna()   # kept as an array: isin on a Python set
            known = ids.unique() if known is None else pd.concat(  # was 20x slower
                [pd.Series(known, dtype="string"), ids.astype("string")]).unique()
            known_from.append(table)
    if problems:
        raise ContractError(problems)
    _check_not_empty(out)
    tx = out["transactions"]
    return CustomerData(
        transactions=(tx if tx is not None else empty_table("transactions")).reset_index(
            drop=True),
        customers=out["customers"],
        surveys=out["surveys"],
        interactions=out["interactions"],
        subscriptions=out["subscriptions"],
        satisfaction_scale=scale_obj,
        ledger=ledger,
        source=", ".join(sorted(set(sources.values()))),
    )


def empty_table(table: str) -> pd.DataFrame:
    """A table of the contract without rows (a company without transactions)."""
    dtypes = {"str": "string", "float": "float64", "datetime": "datetime64[ns]",
              "bool": "boolean"}
    return pd.DataFrame({c.name: pd.Series(dtype=dtypes[c.kind]) for c in TABLES[table]
                         if c.required or c.name in {"transaction_id", "is_return"}})


def _check_tables(tables: Mapping[str, pd.DataFrame | None], business: str) -> None:
    check_tables_present({t for t, f in tables.items() if f is not None}, business)


def check_tables_present(present, business: str) -> None:
    """Transactions or subscriptions (or both); subscriptions for a subscription business."""
    have = [t for t in ACTIVITY_TABLES if t in present]
    if business == "subscription" and "subscriptions" not in present:
        raise ContractError([Problem(
            "subscriptions", "-", "table is missing for business = 'subscription'", 0, "-",
            "map your subscriptions (or a snapshot: one row per customer with tenure and a "
            f"churn flag) in [tables.subscriptions]; {SNAPSHOT_HELP}")])
    if not have:
        raise ContractError([Problem(
            "transactions", "-", "table is missing", 0, "-",
            "point [tables.transactions] of the config at your sales export, or "
            f"[tables.subscriptions] at your subscriptions; {SNAPSHOT_HELP}")])


def _scale(tables, scale: str | None) -> Scale | None:
    if scale is not None and scale not in SCALES:
        raise ContractError([Problem("surveys", "score", f"unknown satisfaction scale {scale!r}",
                                     0, "-", f"use one of {sorted(SCALES)} in the config")])
    scale_obj = SCALES.get(scale) if scale else None
    if tables.get("surveys") is not None and scale_obj is None:
        raise ContractError([Problem("surveys", "score", "satisfaction scale not declared", 0,
                                     "-", f"set satisfaction_scale to one of {sorted(SCALES)}")])
    return scale_obj


def _check_not_empty(out: Mapping[str, pd.DataFrame | None]) -> None:
    for table in ACTIVITY_TABLES:
        frame = out.get(table)
        if frame is not None and frame.empty:
            raise ContractError([Problem(table, "-", "no rows left after the exclusion rules",
                                         0, "-", "check the export and the [rules] of the "
                                         "config; the ledger of `analysis validate` says "
                                         "where the rows went")])


def _split_filtered(frame: pd.DataFrame, formats: Formats, money: str | None):
    """Rows the mapping's filter keeps, and those it drops (their money read leniently,
    for the ledger: they are excluded, not checked)."""
    if FILTER_COLUMN not in frame:
        return frame, frame.iloc[:0][[money]] if money else frame.iloc[:0]
    keep = frame.pop(FILTER_COLUMN).astype("boolean").fillna(False).to_numpy(bool)
    dropped = frame[~keep]
    if money:
        dropped = pd.DataFrame({money: formats.parse_numbers(dropped[money])},
                               index=dropped.index)
    return frame[keep], dropped


def _apply_transaction_rules(frame, rules, cutoff, ledger, source, problems) -> pd.DataFrame:
    if "transaction_id" not in frame:
        frame["transaction_id"] = pd.array([f"L{i + 1}" for i in frame.index], dtype="string")
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
            problems.append(_problem("transactions", "customer_id", "customer id is empty",
                                     anonymous, frame, "fill the customer ids, or set "
                                     "rules.anonymous_transactions = 'exclude'", source,
                                     "transaction_id"))
        else:
            exclude("anonymous (no customer id)", anonymous)
    if "status" in frame:
        exclude("cancelled order", frame["status"].str.lower().isin(rules.cancelled_values)
                .fillna(False).to_numpy(bool))
    if "revenue" in frame and rules.zero_revenue == "exclude":
        exclude("zero revenue line", (frame["revenue"] == 0).fillna(False).to_numpy(bool))
    _duplicates(frame, kept, rules, exclude, problems, source)
    _future("transactions", frame, kept, rules, cutoff, exclude, problems, source)
    if not kept.all():
        frame = frame[kept]
    flagged = frame["is_return"].fillna(False) if "is_return" in frame else False
    negative = frame["revenue"] < 0
    if "is_return" in frame:
        unflagged = (negative & ~flagged).fillna(False).to_numpy()
        if unflagged.any():
            problems.append(_problem("transactions", "revenue", "negative revenue on a line "
                                     "not flagged as a return", unflagged, frame,
                                     "flag return lines in is_return, or fix the sign",
                                     source))
    is_return = (negative | flagged).astype("boolean")
    frame = frame.assign(is_return=is_return)
    returns = is_return.fillna(False).to_numpy(bool)
    revenue = frame[["revenue"]]   # only the column the ledger counts is cut in two
    ledger.record_kept("transactions", revenue[~returns], "revenue", "sales lines kept")
    ledger.record_kept("transactions", revenue[returns], "revenue",
                       "returns kept (negative lines, netted against sales)")
    return frame


def _duplicates(frame, kept, rules, exclude, problems, source) -> None:
    ids = frame["transaction_id"]
    if _all_distinct(ids):   # the usual case (then the kept ids are distinct too), fast
        return
    dup = np.zeros(len(frame), dtype=bool)
    dup[kept] = ids[kept].duplicated(keep="first").to_numpy() & ids[kept].notna().to_numpy()
    if not dup.any():
        return
    if rules.duplicate_transaction_ids == "exclude":
        exclude("duplicate transaction id", dup)
        return
    share = dup.sum() / max(int(kept.sum()), 1)
    problems.append(_problem(
        "transactions", "transaction_id", "duplicate transaction ids (lines whose id an "
        "earlier line already has)", dup, frame,
        "is the mapped column an order or invoice number, with several lines per order? "
        "transaction_id must identify one line: then do not map it (leave transaction_id "
        "out, and line ids are taken from the row order). Set rules.duplicate_transaction_ids"
        f" = 'exclude' only for lines exported twice: here it would drop {int(dup.sum()):,} "
        f"of {int(kept.sum()):,} lines ({share:.0%})", source))


def _all_distinct(values: pd.Series) -> bool:
    """No value twice, missing values aside (pandas' hash table: 0.13 s at 340,000 ids,
    against 0.2 s for duplicated() and 0.5 s for Arrow's count_distinct)."""
    return bool((values.dropna() if values.hasnans else values).is_unique)


def _future(table, frame, kept, rules, cutoff, exclude, problems, source) -> None:
    """Dates after the as-of date: an error, or excluded and counted."""
    if cutoff is None:
        return
    as_of = (cutoff - pd.Timedelta(days=1)).date()
    for col in TABLES[table]:
        if not col.event or col.name not in frame:
            continue
        future = (frame[col.name] >= cutoff).fillna(False).to_numpy(bool) & kept
        if not future.any():
            continue
        if rules.future_dates == "exclude":
            exclude(f"dated after {as_of} (the as-of date; column {col.name})", future)
        else:
            problems.append(_problem(
                table, col.name, f"dates in the future (after the as-of date {as_of})", future,
                frame, "check the date format (day and month swapped?) and the time zone; "
                "set [periods] as_of to the export's date, or rules.future_dates = 'exclude' "
                "to count them in the ledger", source))


def _apply_table_rules(table, frame, rules, cutoff, known, ledger, source, problems):
    """Optional-table rows that cannot be used are excluded and counted."""
    kept = np.ones(len(frame), dtype=bool)

    def exclude(reason: str, rows: np.ndarray) -> None:
        rows = rows & kept
        ledger.record_excluded(table, reason, frame[rows])
        kept[rows] = False

    exclude("no customer id", frame["customer_id"].isna().to_numpy())
    if table == "surveys":
        exclude("no score", frame["score"].isna().to_numpy())
    _future(table, frame, kept, rules, cutoff, exclude, problems, source)
    if table in ("surveys", "interactions") and known[0] is not None:
        _unknown_customers(table, frame, kept, known, rules, exclude, problems, source)
    frame = frame[kept]
    ledger.record_kept(table, frame)
    return frame


def _isin(values: pd.Series, known) -> np.ndarray:
    """``values.isin(known)`` for text, in Arrow (pandas' isin on Arrow strings loops in
    Python: 0.5 s for 90,000 survey and contact rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def arrow(x):
        return pa.array(pd.Series(x, dtype="string").to_numpy(dtype=object, na_value=None),
                        type=pa.large_string())

    return pc.is_in(arrow(values), value_set=arrow(known)).to_numpy(zero_copy_only=False) \
        .astype(bool)


def _unknown_customers(table, frame, kept, known, rules, exclude, problems, source) -> None:
    known, known_from = known
    ids = frame["customer_id"]
    unknown = ~_isin(ids, known) & kept
    if not unknown.any():
        return
    distinct = ids[kept].nunique()
    distinct_unknown = ids[unknown].nunique()
    where = "the " + " or ".join(known_from)
    if distinct_unknown > UNKNOWN_ID_LIMIT * distinct and distinct_unknown >= UNKNOWN_ID_MIN:
        problems.append(_problem(
            table, "customer_id", f"{distinct_unknown:,} of {distinct:,} customer ids "
            f"({distinct_unknown / distinct:.0%}) do not appear in {where}", unknown, frame,
            "the mapping probably uses the wrong key (an order or survey id instead of the "
            "customer's id): map customer_id to the column that holds the same ids as the "
            "transactions, or look it up by key (see 'Lookups' in data/README.md)", source))
    elif rules.unknown_customers == "error":
        problems.append(_problem(table, "customer_id", f"customer ids not in {where}", unknown,
                                 frame, "fix the ids, or set rules.unknown_customers = "
                                 "'exclude' to count them in the ledger", source))
    else:
        exclude(f"customer not in {where}", unknown)
