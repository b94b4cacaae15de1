"""The data-quality section: what came in, what was kept, what was excluded and why.

Every row a company hands over is accounted for in the ledger (see
:mod:`analysis.data.ledger`); this module turns it into the tables and the coverage
chart of the report's data-quality section.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from analysis.core import plots, text
from analysis.core.results import Estimate
from analysis.data.contract import CustomerData
from analysis.data.ledger import Ledger

TABLE_DATES = {"transactions": "timestamp", "customers": "signup_date",
               "surveys": "survey_date", "interactions": "opened_at",
               "subscriptions": "start"}


@dataclasses.dataclass(frozen=True)
class DataQuality:
    """The ledger in reader-friendly tables, plus what the analyses cannot use."""

    reconciliation: pd.DataFrame
    excluded: pd.DataFrame
    overview: pd.DataFrame
    missing: tuple[str, ...]
    reconciles: bool

    def headlines(self) -> dict[str, Estimate]:
        rec = self.reconciliation.set_index("table")
        tx = rec.loc["transactions"] if "transactions" in rec.index else None
        if tx is None:
            return {}
        n_in = int(tx["rows_in"])
        return {
            "transaction_rows_kept": Estimate(float(tx["rows_kept"]), n=n_in,
                                              method="count of rows kept (census)"),
            "transaction_rows_excluded": Estimate(float(tx["rows_excluded"]), n=n_in,
                                                  method="count of rows excluded (census)"),
            "revenue_excluded": Estimate(float(tx["revenue_excluded"]), n=n_in, unit="currency",
                                         method="sum of excluded rows' revenue"),
        }


def assess(data: CustomerData) -> DataQuality:
    ledger: Ledger = data.ledger
    return DataQuality(
        reconciliation=ledger.reconciliation(),
        excluded=ledger.excluded()[["table", "reason", "rows", "revenue"]],
        overview=table_overview(data),
        missing=tuple(data.missing()),
        reconciles=ledger.reconciles,
    )


def table_overview(data: CustomerData) -> pd.DataFrame:
    """Rows, customers and date range of each table as used by the analyses."""
    rows = []
    for table, date_column in TABLE_DATES.items():
        if table == "subscriptions" and data.subscriptions is None:
            continue   # an optional table of subscription companies only
        if not data.has(table):
            rows.append({"table": table, "rows": text.count(0), "customers": text.count(0),
                         "from": "", "to": "", "status": "not supplied"})
            continue
        lines, customers, first, last = data.overview(table, date_column)
        rows.append({
            "table": table,
            "rows": text.count(lines),
            "customers": text.count(customers),
            "from": f"{first:%Y-%m-%d}" if first is not None else "no dates",
            "to": f"{last:%Y-%m-%d}" if last is not None else "no dates",
            "status": "used",
        })
    return pd.DataFrame(rows, columns=["table", "rows", "customers", "from", "to", "status"])


def reader_tables(quality: DataQuality) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reconciliation and exclusions formatted for the report."""
    rec = quality.reconciliation.copy()
    for column in ("rows_in", "rows_kept", "rows_excluded"):
        if column in rec:
            rec[column] = rec[column].map(lambda v: text.count(v, missing=""))
    for column in ("revenue_in", "revenue_kept", "revenue_excluded"):
        if column in rec:
            rec[column] = rec[column].map(cents)
    if "reconciles" in rec:
        rec["reconciles"] = rec["reconciles"].map({True: "yes, to the cent", False: "NO"})
    rec = rec.astype(object).where(rec.notna(), "")
    rec.columns = [c.replace("_", " ") for c in rec.columns]
    exc = quality.excluded.copy()
    exc["rows"] = exc["rows"].map(lambda v: text.count(v, missing=""))
    exc["revenue"] = exc["revenue"].map(cents)
    exc["reason"] = exc["reason"].map(lambda v: "" if v is None else str(v))
    return rec, exc


def cents(value) -> str:
    """An amount to the cent ("1,234.50"); empty when there is none (a table without
    money, such as surveys)."""
    amount = text.finite(value)
    return "" if amount is None else f"{amount:,.2f}"


def plot_coverage(coverage: pd.DataFrame, period_start: pd.Timestamp, ax=None):
    """Monthly revenue and buying customers, with the report month marked."""
    if ax is None:
        _, ax = plots.new_figure()
    ax.bar(coverage["month"], coverage["revenue"], width=25, color=plots.PALETTE[2],
           label="revenue")
    plots.money_axis(ax)
    twin = ax.twinx()
    twin.plot(coverage["month"], coverage["customers"], color=plots.PALETTE[1],
              label="buying customers")
    twin.set_ylabel("buying customers")
    twin.set_ylim(bottom=0)
    twin.grid(False)
    ax.tick_params(axis="x", labelrotation=45)
    ax.axvline(period_start, color=plots.HIGHLIGHT, linestyle="--", linewidth=1)
    months = len(coverage)
    plots.finding(ax, f"The data cover {text.count(months)} month{'s' if months != 1 else ''} "
                      "of sales",
                  "bars: revenue per month; line: customers who bought; dashed: report month")
    return ax
