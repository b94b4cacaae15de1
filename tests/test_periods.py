"""Period slicing: months, fiscal quarters, last complete period, windows and splits."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.data.periods import (
    calibration_holdout,
    last_complete_period,
    parse_period,
    period_containing,
    periods_between,
    trailing_window,
)


def test_month_period_bounds_are_half_open():
    p = parse_period("2026-02")
    assert (p.start, p.end, p.label) == (pd.Timestamp("2026-02-01"), pd.Timestamp("2026-03-01"),
                                         "2026-02")
    assert p.previous().label == "2026-01" and p.next().label == "2026-03"


@pytest.mark.parametrize("bad", ["2026-13", "26-01", "2026-1", "../2026-01", "2026-01; rm -rf"])
def test_bad_period_labels_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_period(bad)


def test_fiscal_quarters():
    q = parse_period("2026-04", months=3, fiscal_start_month=4)
    assert q.end == pd.Timestamp("2026-07-01")
    with pytest.raises(ValueError, match="does not start"):
        parse_period("2026-05", months=3, fiscal_start_month=4)
    assert period_containing(pd.Timestamp("2026-06-30"), 3, 4).start == pd.Timestamp("2026-04-01")


def test_last_complete_period():
    assert last_complete_period(pd.Timestamp("2026-10-31 23:00")).label == "2026-10"
    assert last_complete_period(pd.Timestamp("2026-10-30")).label == "2026-09"


@given(st.dates(min_value=pd.Timestamp("2000-01-01").date(),
                max_value=pd.Timestamp("2040-01-01").date()),
       st.sampled_from([1, 2, 3, 4, 6, 12]), st.integers(1, 12))
def test_period_containing_contains(day, months, fiscal):
    ts = pd.Timestamp(day)
    p = period_containing(ts, months, fiscal)
    assert p.start <= ts < p.end
    assert p.next().start == p.end


def test_periods_between_cover_without_gaps():
    ps = periods_between(pd.Timestamp("2025-11-15"), pd.Timestamp("2026-02-01"))
    assert [p.label for p in ps] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert all(a.end == b.start for a, b in zip(ps, ps[1:], strict=False))


def test_trailing_window_and_calibration_holdout():
    p = parse_period("2026-10")
    assert trailing_window(p, 12) == (pd.Timestamp("2025-11-01"), pd.Timestamp("2026-11-01"))
    split = calibration_holdout(p, holdout_months=6, calibration_months=12)
    assert (split.calibration_start, split.calibration_end, split.holdout_end) == (
        pd.Timestamp("2025-05-01"), pd.Timestamp("2026-05-01"), pd.Timestamp("2026-11-01"))
    with pytest.raises(ValueError, match="no calibration time"):
        calibration_holdout(p, 6, data_start=pd.Timestamp("2026-06-01"))
