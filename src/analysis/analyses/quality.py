"""The data-quality section: what came in, what was kept, what was excluded and why.

Every row a company hands over is accounted for in the ledger (see
:mod:`analysis.data.ledger`); this module turns it into the tables and the coverage
chart of the report's data-quality section.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from analysis.core import plots
from analysis.core.results import Estimate
from analysis.data.contract import CustomerData
from analysis.data.ledger import Ledger

TABLE_DATES = {"transactions": "timestamp", "customers": "signup_date",
               "surveys": "survey_date", "interactions": "opened_at"}


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
        frame = getattr(data, table)
        if frame is None:
            rows.append({"table": table, "rows": 0, "customers": 0, "from": None, "to": None,
                         "status": "not supplied"})
            continue
        dates = frame[date_column] if date_column in frame else pd.Series(dtype="datetime64[ns]")
        rows.append({
            "table": table,
            "rows": len(frame),
            "customers": int(frame["customer_id"].nunique()),
            "from": dates.min().date() if dates.notna().any() else None,
            "to": dates.max().date() if dates.notna().any() else None,
            "status": "used",
        })
    return pd.DataFrame(rows)


def reader_tables(quality: DataQuality) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reconciliation and exclusions formatted for the report."""
    rec = quality.reconciliation.copy()
    for column in ("rows_in", "rows_kept", "rows_excluded"):
        rec[column] = rec[column].map("{:,}".format)
    for column in ("revenue_in", "revenue_kept", "revenue_excluded"):
        rec[column] = rec[column].map("{:,.2f}".format)
    rec["reconciles"] = rec["reconciles"].map({True: "yes, to the cent", False: "NO"})
    rec.columns = [c.replace("_", " ") for c in rec.columns]
    exc = quality.excluded.copy()
    exc["rows"] = exc["rows"].map("{:,}".format)
    exc["revenue"] = exc["revenue"].map("{:,.2f}".format)
    return rec, exc


def monthly_coverage(transactions: pd.DataFrame) -> pd.DataFrame:
    """Revenue, lines and buying customers per calendar month of the kept transactions."""
    month = transactions["timestamp"].dt.to_period("M")
    grouped = transactions.groupby(month, sort=True)
    frame = pd.DataFrame({
        "revenue": grouped["revenue"].sum(),
        "lines": grouped.size(),
        "customers": grouped["customer_id"].nunique(),
    })
    frame.index = frame.index.to_timestamp()
    return frame.rename_axis("month").reset_index()


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
    plots.finding(ax, f"The data cover {months} months of sales",
                  "bars: revenue per month; line: customers who bought; dashed: report month")
    return ax
