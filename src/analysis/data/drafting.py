"""``analysis init``: look at a company's files and draft a commented config.

The draft names the likely id, date, money, quantity, status and category columns; computes
revenue as quantity x unit price when there is no revenue column; declares the date format
and the decimal convention it sees; proposes cancellation markers (invoice numbers with a
letter prefix on negative lines); for a folder of related files proposes lookups by shared
key names; and lists what it could not decide. The same name rules suggest a mapping when
a required column is missing (:func:`suggest_mapping`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.data.contract import TABLES
from analysis.data.files import file_kind, read_file, sniff_separator

SAMPLE_ROWS = 5_000

#: role -> normalised column names (lower case, letters and digits only), best first
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "person_id": ("customeruniqueid", "personid", "uniquecustomerid"),
    "customer_id": ("customerid", "customer", "custid", "clientid", "client", "kunde",
                    "kundennr", "kundennummer", "customerno", "customernumber", "userid",
                    "accountid", "memberid", "buyerid"),
    "line_id": ("transactionid", "lineid", "orderlineid", "orderitemid", "lineitemid"),
    "order_id": ("invoiceno", "invoice", "invoicenumber", "invoiceid", "orderid", "orderno",
                 "ordernumber", "beleg", "belegnr", "receipt", "receiptid"),
    "timestamp": ("timestamp", "invoicedate", "orderdate", "orderpurchasetimestamp",
                  "purchasedate", "purchasetimestamp", "datetime", "date", "datum",
                  "createdat", "transactiondate", "saledate"),
    "revenue": ("revenue", "amount", "sales", "linetotal", "total", "netamount", "netsales",
                "umsatz", "paymentvalue", "dollarvalue", "turnover", "value"),
    "unit_price": ("unitprice", "price", "preis", "priceeach", "itemprice"),
    "freight": ("freightvalue", "shipping", "freight", "shippingcost"),
    "quantity": ("quantity", "qty", "units", "menge", "numberofcds", "count"),
    "cost": ("cost", "cogs", "costofgoods", "unitcost"),
    "category": ("category", "productcategory", "productcategoryname", "kategorie",
                 "categoryname"),
    "status": ("status", "orderstatus", "state"),
    "score": ("reviewscore", "score", "rating", "csat", "satisfaction"),
    "survey_date": ("reviewcreationdate", "surveydate", "answeredat", "reviewdate"),
    "region": ("region", "customerstate", "state", "country", "customercity"),
    "tenure": ("tenure", "tenuremonths", "monthsactive"),
    "churn": ("churn", "churned", "exited", "ischurned"),
    "plan": ("contract", "plan", "contracttype", "subscriptiontype"),
    "recurring_charge": ("monthlycharges", "monthlycharge", "monthlyfee", "mrr",
                         "recurringcharge"),
}
DATE_FORMATS = ("ISO8601", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M",
                "%m/%d/%Y", "%d/%m/%Y", "%Y%m%d", "%d-%m-%Y", "%Y/%m/%d")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def find_role(role: str, columns: Sequence[str], exclude: Sequence[str] = ()) -> str | None:
    """The column that most likely plays ``role`` (exact normalised name first, then a
    name that contains one of the role's names)."""
    names = ROLE_NAMES[role]
    candidates = [c for c in columns if c not in exclude]
    by_norm = {_norm(c): c for c in candidates}
    for name in names:
        if name in by_norm:
            return by_norm[name]
    for name in names:
        if len(name) < 5:
            continue
        for column in candidates:
            if name in _norm(column):
                return column
    return None


def suggest_mapping(table: str, column: str, columns: Sequence[str]) -> str | None:
    """A mapping line for a missing required contract column, from the file's own names."""
    role = {"customer_id": "customer_id", "timestamp": "timestamp", "revenue": "revenue",
            "survey_date": "survey_date", "score": "score", "opened_at": "timestamp",
            "start": "timestamp"}.get(column)
    found = find_role(role, columns) if role else None
    if found:
        return f'{column} = "{found}"'
    if column == "revenue":
        quantity, price = find_role("quantity", columns), find_role("unit_price", columns)
        if quantity and price:
            return f'{column} = "{_ref(quantity)} * {_ref(price)}"  (quantity x unit price)'
    return None


def _ref(column: str) -> str:
    return column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) else f'\\"{column}\\"'


# -- profiling ------------------------------------------------------------------------------


@dataclasses.dataclass
class FileProfile:
    path: Path
    frame: pd.DataFrame          # a sample of the rows
    rows: int
    options: dict = dataclasses.field(default_factory=dict)   # how it was read (sep)

    def entry(self, folder: Path) -> list[str]:
        """The lines of its [tables....] or [files....] entry."""
        lines = [f'file = "{self.path.relative_to(folder).as_posix()}"']
        if "sep" in self.options:
            lines.append(f"sep = {self.options['sep']!r}".replace("'\\t'", '"\\t"'))
        return lines

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def role(self, role: str, exclude: Sequence[str] = ()) -> str | None:
        return find_role(role, self.columns, exclude)

    def unique(self, column: str) -> bool:
        values = self.frame[column].dropna()
        return len(values) > 0 and values.is_unique


def profile(path: Path) -> FileProfile:
    options = {}
    if file_kind(path, "csv") == "csv":
        sep = sniff_separator(path)
        if sep and sep != ",":
            options["sep"] = sep
    frame = read_file(path, options)
    return FileProfile(path, frame.head(SAMPLE_ROWS), len(frame), options)


def decimal_convention(frame: pd.DataFrame) -> tuple[str, str]:
    """(decimal, thousands) that the text numbers of a file are written with."""
    text = pd.concat([frame[c].dropna().astype(str).head(500) for c in frame.columns
                      if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])],
                     ignore_index=True) if len(frame.columns) else pd.Series(dtype=str)
    text = text.str.strip().str.replace(r"[€$£¥]|EUR|USD|CHF", "", regex=True).str.strip()
    comma = text.str.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d{1,4}").sum()
    dot = text.str.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d{1,4}").sum()
    if comma > dot:
        thousands = "." if text.str.fullmatch(r"-?\d{1,3}(\.\d{3})+,\d+").any() else ""
        return ",", thousands
    thousands = "," if text.str.fullmatch(r"-?\d{1,3}(,\d{3})+\.\d+").any() else ""
    return ".", thousands


def date_format(values: pd.Series) -> tuple[str | None, str]:
    """The format that reads every sampled value (None for typed dates or ISO 8601), and a
    note when day and month could be either way round."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return None, ""
    text = values.dropna().astype(str).str.strip().head(500)
    if text.empty:
        return None, ""
    fits = [f for f in DATE_FORMATS if pd.to_datetime(text, format=f, errors="coerce")
            .notna().all()]
    if not fits:
        return None, f"no date format reads all values (e.g. {text.iloc[0]!r})"
    chosen = fits[0]
    swapped = chosen.replace("%d", "%D").replace("%m", "%d").replace("%D", "%m")
    note = (f"day and month could be either way round ({text.iloc[0]!r}): check date_format"
            if swapped != chosen and swapped in fits else "")
    return (None if chosen == "ISO8601" else chosen), note


def is_date_column(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    fmt, note = date_format(values)
    return not note.startswith("no date format") and values.notna().any() and not \
        pd.api.types.is_numeric_dtype(values)


# -- drafting -------------------------------------------------------------------------------


@dataclasses.dataclass
class Draft:
    """A config being written: lines, and what could not be decided."""

    lines: list[str] = dataclasses.field(default_factory=list)
    undecided: list[str] = dataclasses.field(default_factory=list)

    def add(self, line: str = "", comment: str = "") -> None:
        self.lines.append(f"{line:<40} # {comment}" if comment and line else
                          (f"# {comment}" if comment else line))

    def text(self) -> str:
        out = list(self.lines)
        out += ["", "# What init could not decide (check these before you rely on the config):"]
        out += [f"# - {item}" for item in self.undecided] or ["# - nothing"]
        return "\n".join(out) + "\n"


def draft_config(paths: Sequence[str | Path], output: str | Path | None = None) -> str:
    """A commented draft config for the files (or the files in a folder) in ``paths``."""
    files = _expand(paths)
    if not files:
        raise FileNotFoundError(f"no data files in {', '.join(map(str, paths))} "
                                "(looked for .csv, .tsv, .txt, .parquet, .xlsx, .xls)")
    profiles = [profile(p) for p in files]
    out_dir = Path(output).resolve().parent if output else Path.cwd()
    folder = Path(os.path.commonpath([p.parent for p in files]))
    draft = Draft()
    draft.add(comment=f"Draft written by `analysis init` from {len(files)} file(s) in {folder}.")
    draft.add(comment="Check every line; `analysis validate --config THIS_FILE` says what "
              "does not fit. The mapping language: data/README.md.")
    draft.add(f'name = "{_slug(folder.name if len(files) > 1 else files[0].stem)}"')
    main = _choose_main(profiles)
    if any(p.role("score") for p in profiles if p is not main):
        draft.add('satisfaction_scale = "csat5"', "CHECK: csat5 (1-5) or nps10 (0-10)")
    snapshot = main.role("tenure") and main.role("churn")
    if snapshot:
        draft.add('business = "subscription"', "one row per customer with tenure: a snapshot")
    kinds = {p.path.suffix.lower() for p in profiles}
    kind = ("excel" if kinds <= {".xlsx", ".xlsm", ".xls", ".ods"} else
            "parquet" if kinds <= {".parquet", ".pq"} else "csv" if kinds <= {".csv", ".txt",
                                                                              ".tsv"} else "files")
    draft.add()
    draft.add("[source]")
    draft.add(f'kind = "{kind}"')
    draft.add(f'path = "{Path(os.path.relpath(folder, out_dir)).as_posix()}"',
              "relative to this config file")
    others = [p for p in profiles if p is not main]
    names = {id(p): _slug(p.path.stem) for p in others}
    names = {k: f"{v}_file" if v in TABLES else v for k, v in names.items()}
    for p in others:
        draft.add()
        draft.add(f"[files.{names[id(p)]}]", f"{p.rows:,} rows; columns: "
                  f"{', '.join(p.columns[:8])}{' ...' if len(p.columns) > 8 else ''}")
        for line in p.entry(folder):
            draft.add(line)
    if snapshot:
        _draft_snapshot(draft, main, folder)
    else:
        person = _draft_transactions(draft, main, others, names, folder)
        _draft_surveys(draft, main, others, names, person)
    return draft.text()


def _expand(paths) -> list[Path]:
    out = []
    for item in map(Path, paths):
        if item.is_dir():
            out += sorted(p for p in item.iterdir() if p.suffix.lower() in
                          {".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx", ".xlsm", ".xls"})
        elif item.exists():
            out.append(item)
        else:
            raise FileNotFoundError(f"{item} does not exist")
    return [p.resolve() for p in out]


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    slug = re.sub(r"^(olist_)?(.*?)(_dataset)?$", r"\2", slug)
    return slug if slug and not slug[0].isdigit() else f"f_{slug}"


def _choose_main(profiles: list[FileProfile]) -> FileProfile:
    """The file of purchases (or the snapshot): it has a date column named like a purchase
    date and an order or customer key; ties go to the file with the most rows."""
    def score(p: FileProfile) -> tuple:
        date = p.role("timestamp")
        return (bool(p.role("tenure") and p.role("churn")) or bool(date and p.role("order_id")
                                                                   or date and p.role(
                                                                       "customer_id")),
                bool(date) and not p.role("score"), bool(p.role("revenue") or
                                                         p.role("unit_price")), p.rows)
    return max(profiles, key=score)


def _draft_transactions(draft: Draft, main: FileProfile, others, names, folder):
    """The transactions table; returns the person lookup (file name, key, person column)
    when the customer's id is looked up in another file."""
    cols = main.columns
    draft.add()
    draft.add("[tables.transactions]", f"{main.rows:,} rows; columns: {', '.join(cols)}")
    for line in main.entry(folder):
        draft.add(line)
    mapping: list[tuple[str, str, str]] = []
    joins: list[list[str]] = []
    lookup = None
    order = main.role("order_id")
    customer = main.role("customer_id", [order] if order else [])
    # a lookup to a file that holds the person behind a per-order customer key
    for other in others:
        person = other.role("person_id")
        if customer and person and customer in other.columns and other.unique(customer):
            joins.append([f'file = "{names[id(other)]}"', f'on = "{customer}"'])
            mapping.append(("customer_id", person, f"the person's id, looked up in "
                            f"{other.path.name} by {customer}"))
            lookup = (names[id(other)], customer, person)
            break
    else:
        if customer:
            mapping.append(("customer_id", customer, ""))
        else:
            draft.undecided.append("which column holds the customer's id (map customer_id)")
    date = main.role("timestamp")
    if not date:
        date = next((c for c in cols if is_date_column(main.frame[c])), None)
    if date:
        mapping.append(("timestamp", date, ""))
    else:
        draft.undecided.append("which column holds the purchase date (map timestamp)")
    line = main.role("line_id")
    if line and main.unique(line):
        mapping.append(("transaction_id", line, "unique per line"))
    elif order and main.unique(order) and main.rows == len(main.frame):
        mapping.append(("transaction_id", order, "unique on every line: the line id"))
    elif order:
        draft.undecided.append(f"{order} looks like an order/invoice number (several lines "
                               "per order), so it is not mapped as transaction_id; line ids "
                               "come from the row order")
    revenue = main.role("revenue")
    quantity = main.role("quantity")
    price = main.role("unit_price")
    if revenue:
        mapping.append(("revenue", revenue, ""))
    elif quantity and price:
        mapping.append(("revenue", f"{_ref(quantity)} * {_ref(price)}",
                        "no revenue column: quantity x unit price"))
    else:
        money = _money_join(main, others, names, order)
        if money:
            joins.append(money[0])
            mapping.append(("revenue", money[1], money[2]))
        else:
            draft.undecided.append("no revenue column, and no quantity and unit price: map "
                                   "revenue")
    if quantity:
        mapping.append(("quantity", quantity, ""))
    for role in ("cost", "category", "status"):
        found = main.role(role)
        if found:
            mapping.append((role, found, ""))
    marker = _cancellation_marker(main, order, quantity)
    if marker:
        mapping.append(("is_return", marker[0], marker[1]))
    for join in joins:
        draft.add()
        draft.add("[[tables.transactions.join]]", "a lookup by key (rows are never dropped)")
        for item in join:
            draft.add(item)
    draft.add()
    draft.add("[mapping.transactions]", "contract column = your column or a SQL expression")
    for column, value, comment in mapping:
        draft.add(f'{column} = "{value}"', comment)
    _draft_formats_and_rules(draft, main, date, mapping)
    return lookup


def _money_join(main, others, names, order):
    """Revenue summed per order from a file of items or payments (several rows per order)."""
    if not order:
        return None
    for other in others:
        if order not in other.columns or other.unique(order):
            continue
        freight = other.role("freight")
        money = (other.role("revenue", [freight] if freight else [])
                 or other.role("unit_price", [freight] if freight else []))
        if money:
            total = f"{_ref(money)} + coalesce({_ref(freight)}, 0)" if freight else _ref(money)
            name = names[id(other)]
            return ([f'file = "{name}"', f'on = "{order}"',
                     f'aggregate = {{ order_value = "sum({total})" }}'],
                    "order_value", f"summed per {order} from {other.path.name} (several rows "
                    "per order)")
    return None


def _cancellation_marker(main: FileProfile, order: str | None, quantity: str | None):
    """Invoice numbers with a letter prefix on negative lines: returns / cancellations."""
    if not order:
        return None
    ids = main.frame[order].dropna().astype(str)
    prefixed = ids.str.fullmatch(r"[A-Za-z]\d+")
    plain = ids.str.fullmatch(r"\d+")
    if not prefixed.any() or prefixed.mean() > 0.5 or not (prefixed | plain).all():
        return None
    letter = ids[prefixed].str[0].mode().iloc[0]
    negative = ""
    if quantity:
        q = pd.to_numeric(main.frame.loc[prefixed[prefixed].index, quantity], errors="coerce")
        if (q < 0).mean() > 0.9:
            negative = ", all with negative quantities"
    return (f"starts_with(CAST({_ref(order)} AS VARCHAR), '{letter}')",
            f"{int(prefixed.sum()):,} sampled lines have {order} starting with '{letter}'"
            f"{negative}: cancellations, netted as returns (to drop them instead: a filter)")


def _draft_formats_and_rules(draft, main: FileProfile, date: str | None, mapping) -> None:
    formats = []
    if date:
        fmt, note = date_format(main.frame[date])
        if fmt:
            formats.append(f'date_format = "{fmt}"')
        if note:
            draft.undecided.append(note)
    decimal, thousands = decimal_convention(main.frame)
    if decimal != ".":
        formats.append(f'decimal = "{decimal}"')
    if thousands:
        formats.append(f'thousands = "{thousands}"')
    if formats:
        draft.add()
        draft.add("[formats]")
        for line in formats:
            draft.add(line)
    rules = []
    customer = dict((c, v) for c, v, _ in mapping).get("customer_id")
    if customer in main.columns:
        share = main.frame[customer].isna().mean()
        if share:
            rules.append(('anonymous_transactions = "exclude"', f"{share:.0%} of sampled "
                          "lines have no customer id: excluded and counted"))
    quantity = dict((c, v) for c, v, _ in mapping).get("quantity")
    price = main.role("unit_price")
    if quantity and price and quantity in main.columns:
        q = pd.to_numeric(main.frame[quantity], errors="coerce")
        p = pd.to_numeric(main.frame[price], errors="coerce")
        zero = int(((q * p) == 0).sum())
        if zero:
            rules.append(('zero_revenue = "exclude"', f"{zero:,} sampled lines are worth 0"))
    status = dict((c, v) for c, v, _ in mapping).get("status")
    if status in main.columns:
        words = main.frame[status].dropna().astype(str).str.strip()
        cancel = sorted({w for w in words.unique() if re.match(
            r"(?i)(cancel|storn|annul|void|anul|refus)", w)})
        if cancel:
            rules.append((f"cancelled_values = {cancel!r}".replace("'", '"'),
                          f"{status} values that mark a cancelled order: excluded, counted"))
    if rules:
        draft.add()
        draft.add("[rules]")
        for line, comment in rules:
            draft.add(line, comment)


def _draft_surveys(draft, main: FileProfile, others, names, person) -> None:
    """A file of ratings keyed by order: surveys, with the customer looked up by the order
    (and the person behind it, as for the transactions)."""
    order = main.role("order_id")
    for other in others:
        score = other.role("score")
        if not score:
            continue
        date = other.role("survey_date") or next(
            (c for c in other.columns if c != score and is_date_column(other.frame[c])), None)
        draft.add()
        draft.add("[tables.surveys]", f"ratings in {other.path.name}")
        for line in other.entry(other.path.parent):
            draft.add(line)
        customer = other.role("customer_id")
        if order and order in other.columns and not customer:
            draft.add()
            draft.add("[[tables.surveys.join]]", f"the customer of each rated {order}")
            draft.add('file = "transactions"')
            draft.add(f'on = "{order}"')
            customer = main.role("customer_id", [order])
            if person:
                draft.add()
                draft.add("[[tables.surveys.join]]", "the person, as for the transactions")
                draft.add(f'file = "{person[0]}"')
                draft.add(f'on = "{person[1]}"')
                customer = person[2]
        draft.add()
        draft.add("[mapping.surveys]")
        draft.add(f'score = "{score}"')
        if date:
            draft.add(f'survey_date = "{date}"')
        if customer:
            draft.add(f'customer_id = "{customer}"')
        else:
            draft.undecided.append(f"surveys: which column of {other.path.name} leads to the "
                                   "customer")
        draft.undecided.append("satisfaction_scale: csat5 (1-5) or nps10 (0-10) for "
                               f"{other.path.name}'s {score}")
        return


def _draft_snapshot(draft, main: FileProfile, folder) -> None:
    cols = main.columns
    tenure, churn = main.role("tenure"), main.role("churn")
    customer = main.role("customer_id")
    draft.add()
    draft.add("[periods]")
    draft.add("as_of = 2024-01-31", "CHECK: the day the snapshot was taken")
    draft.undecided.append("[periods] as_of: the date of the snapshot (start = as_of - tenure)")
    draft.add()
    draft.add("[tables.subscriptions]", f"{main.rows:,} rows; columns: {', '.join(cols)}")
    for line in main.entry(folder):
        draft.add(line)
    draft.add()
    draft.add("[mapping.subscriptions]")
    if customer:
        draft.add(f'customer_id = "{customer}"')
    else:
        draft.undecided.append("which column holds the customer's id")
    draft.add(f'start = "as_of() - to_months(CAST({_ref(tenure)} AS INTEGER))"',
              "tenure in months before the snapshot")
    values = main.frame[churn].dropna().astype(str).str.lower().unique().tolist()
    yes = next((v for v in values if v in {"yes", "true", "1", "y"}), "yes")
    draft.add(f"end = \"CASE WHEN lower(CAST({_ref(churn)} AS VARCHAR)) = '{yes}' "
              "THEN as_of() END\"", "churned: ended at the snapshot; empty while active")
    plan = main.role("plan")
    if plan:
        draft.add(f'plan = "{plan}"')
    charge = main.role("recurring_charge")
    if charge:
        draft.add(f'recurring_charge = "{charge}"')
