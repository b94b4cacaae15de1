"""Reporting periods: parsing, listing, trailing windows, calibration/holdout splits.

A period is named by the month it starts in ("2026-10"); it lasts
``months`` calendar months (1 by default). Periods line up with the fiscal
year start, so with ``months=3`` and ``fiscal_start_month=4`` the quarters
start in April, July, October and January. Ends are exclusive.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclasses.dataclass(frozen=True, order=True)
class Period:
    start: pd.Timestamp
    end: pd.Timestamp
    label: str

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    def previous(self) -> Period:
        return make_period(self.start - pd.DateOffset(months=self.months), self.months)

    def next(self) -> Period:
        return make_period(self.end, self.months)

    def __str__(self) -> str:
        return self.label


def make_period(start: pd.Timestamp, months: int = 1) -> Period:
    start = pd.Timestamp(start).normalize().replace(day=1)
    return Period(start, start + pd.DateOffset(months=months), start.strftime("%Y-%m"))


def parse_period(label: str, months: int = 1, fiscal_start_month: int = 1) -> Period:
    """Parse "YYYY-MM"; the month must start a period under the fiscal calendar."""
    if not isinstance(label, str) or not PERIOD_PATTERN.match(label):
        raise ValueError(f"period {label!r} is not of the form YYYY-MM (e.g. 2026-10)")
    start = pd.Timestamp(f"{label}-01")
    if (start.month - fiscal_start_month) % months:
        starts = sorted(
            {(fiscal_start_month - 1 + k * months) % 12 + 1 for k in range(12 // months)}
        )
        raise ValueError(
            f"period {label} does not start a {months}-month period; with fiscal start month "
            f"{fiscal_start_month} periods start in months {starts}"
        )
    return make_period(start, months)


def period_containing(ts: pd.Timestamp, months: int = 1, fiscal_start_month: int = 1) -> Period:
    ts = pd.Timestamp(ts)
    offset = (ts.month - fiscal_start_month) % months
    return make_period(ts.replace(day=1) - pd.DateOffset(months=offset), months)


def periods_between(
    first: pd.Timestamp, last: pd.Timestamp, months: int = 1, fiscal_start_month: int = 1
) -> list[Period]:
    """Every period that overlaps [first, last], in order."""
    period = period_containing(first, months, fiscal_start_month)
    out = []
    while period.start <= pd.Timestamp(last):
        out.append(period)
        period = period.next()
    return out


def last_complete_period(
    data_end: pd.Timestamp, months: int = 1, fiscal_start_month: int = 1
) -> Period:
    """The last period that ends on or before the day after the last observed date."""
    cutoff = pd.Timestamp(data_end).normalize() + pd.Timedelta(days=1)
    period = period_containing(cutoff, months, fiscal_start_month)
    return period if period.end <= cutoff else period.previous()


def last_complete_month(timestamps: pd.Series) -> Period:
    return last_complete_period(pd.Series(timestamps).max(), 1, 1)


def trailing_window(period: Period, months: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the ``months`` months ending where ``period`` ends."""
    if months <= 0:
        raise ValueError("a trailing window needs a positive number of months")
    return period.end - pd.DateOffset(months=months), period.end


@dataclasses.dataclass(frozen=True)
class Split:
    """Calibration [start, calibration_end) and holdout [calibration_end, holdout_end)."""

    calibration_start: pd.Timestamp
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp


def calibration_holdout(
    period: Period,
    holdout_months: int = 6,
    calibration_months: int | None = None,
    data_start: pd.Timestamp | None = None,
) -> Split:
    """Holdout = the ``holdout_months`` ending at the period end; calibration = before it."""
    calibration_end = period.end - pd.DateOffset(months=holdout_months)
    if calibration_months is not None:
        start = calibration_end - pd.DateOffset(months=calibration_months)
    elif data_start is not None:
        start = pd.Timestamp(data_start).normalize()
    else:
        raise ValueError("give calibration_months or data_start")
    if start >= calibration_end:
        raise ValueError(
            f"no calibration time left before {calibration_end.date()}: shorten the holdout"
        )
    return Split(start, calibration_end, period.end)
