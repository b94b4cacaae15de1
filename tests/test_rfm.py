"""RFM summaries: hand-computed cases, validation, cohort cut-off and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.engine.rfm import rfm_summary


def _tx(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "revenue"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601")
    frame["is_return"] = frame["revenue"] < 0
    return frame


def test_hand_computed_summary_in_weeks_with_a_holdout():
    tx = _tx([("a", "2021-01-04 10:00", 10.0), ("a", "2021-01-04 18:00", 2.0),  # one day: 12
              ("a", "2021-01-18", 30.0), ("a", "2021-02-01", 18.0),
              ("a", "2021-02-05", -5.0),  # a return is not a purchase
              ("a", "2021-03-08", 40.0), ("a", "2021-03-15", 20.0),  # holdout
              ("b", "2021-02-14", 9.0),
              ("c", "2021-03-01", 5.0)])  # first purchase after calibration: left out
    s = rfm_summary(tx, "2021-03-01", "2021-03-29")
    assert list(s.index) == ["a", "b"]
    a, b = s.loc["a"], s.loc["b"]
    assert a["frequency"] == 2
    assert a["recency"] == pytest.approx(4.0)  # 28 days
    assert a["T"] == pytest.approx(55 / 7)  # 2021-01-04 .. 2021-02-28
    assert a["monetary_value"] == pytest.approx(24.0)  # (30 + 18) / 2, first day excluded
    assert a["frequency_holdout"] == 2 and a["monetary_value_holdout"] == pytest.approx(30.0)
    assert a["duration_holdout"] == pytest.approx(4.0)
    assert b["frequency"] == 0 and b["recency"] == 0 and b["monetary_value"] == 0
    assert b["T"] == pytest.approx(14 / 7) and b["frequency_holdout"] == 0


def test_days_unit_and_first_purchase_cutoff():
    tx = _tx([("a", "2021-01-01", 5.0), ("a", "2021-01-11", 5.0), ("b", "2021-01-20", 5.0)])
    s = rfm_summary(tx, "2021-02-01", time_unit="D", first_purchase_cutoff="2021-01-15")
    assert list(s.index) == ["a"]
    assert s.loc["a", "recency"] == 10 and s.loc["a", "T"] == 30
    assert "frequency_holdout" not in s.columns


def test_is_return_is_derived_from_negative_revenue_when_absent():
    tx = _tx([("a", "2021-01-01", 5.0), ("a", "2021-01-05", -5.0)]).drop(columns="is_return")
    assert rfm_summary(tx, "2021-02-01").loc["a", "frequency"] == 0


@pytest.mark.parametrize("drop", ["customer_id", "timestamp", "revenue"])
def test_missing_column_is_named(drop):
    tx = _tx([("a", "2021-01-01", 5.0)]).drop(columns=drop)
    with pytest.raises(ValueError, match=drop):
        rfm_summary(tx, "2021-02-01")


def test_bad_arguments_raise_clear_errors():
    tx = _tx([("a", "2021-01-01", 5.0)])
    with pytest.raises(ValueError, match="time_unit"):
        rfm_summary(tx, "2021-02-01", time_unit="Y")
    with pytest.raises(ValueError, match="holdout_end"):
        rfm_summary(tx, "2021-02-01", "2021-01-15")
    with pytest.raises(ValueError, match="timestamp"):
        rfm_summary(tx.assign(timestamp=tx["timestamp"].astype(str)), "2021-02-01")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 120), st.integers(0, 23),
                          st.floats(0.5, 500.0)), min_size=1, max_size=60))
def test_properties_on_random_ledgers(rows):
    start = pd.Timestamp("2022-01-01")
    tx = pd.DataFrame({"customer_id": [r[0] for r in rows],
                       "timestamp": [start + pd.Timedelta(days=r[1], hours=r[2]) for r in rows],
                       "revenue": [r[3] for r in rows], "is_return": False})
    cal_end = start + pd.Timedelta(days=90)
    cal = tx[tx["timestamp"] < cal_end]
    if cal.empty:
        with pytest.raises(ValueError, match="no purchases before calibration_end"):
            rfm_summary(tx, cal_end)
        return
    s = rfm_summary(tx, cal_end, cal_end + pd.Timedelta(days=31), time_unit="D")
    days = cal.groupby("customer_id")["timestamp"].agg(lambda t: t.dt.normalize().nunique())
    assert set(s.index) == set(days.index)
    assert (s["frequency"] == days.reindex(s.index) - 1).all()
    assert ((s["recency"] >= 0) & (s["recency"] <= s["T"]) & (s["T"] <= 89)).all()
    assert (s["monetary_value"] >= 0).all()
    # the first day's value plus frequency x mean repeat value is the calibration revenue
    first_day = cal.assign(day=cal["timestamp"].dt.normalize())
    first_day = first_day[first_day["day"] == first_day.groupby("customer_id")["day"]
                          .transform("min")].groupby("customer_id")["revenue"].sum()
    total = cal.groupby("customer_id")["revenue"].sum()
    rebuilt = first_day.reindex(s.index) + s["frequency"] * s["monetary_value"]
    np.testing.assert_allclose(rebuilt, total.reindex(s.index), rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["b", "a", "c10", "c9"]), st.integers(0, 60),
                          st.integers(0, 23), st.floats(-50.0, 500.0)), min_size=1, max_size=60))
def test_purchase_days_equal_a_plain_groupby(rows):
    """Sales summed per customer and day, sorted by customer and day; returns left out."""
    from analysis.engine.rfm import purchase_days

    start = pd.Timestamp("2022-01-01")
    tx = _tx([(c, start + pd.Timedelta(days=d, hours=h), v) for c, d, h, v in rows])
    tx["customer_id"] = tx["customer_id"].astype("string")
    sales = tx[~tx["is_return"]]
    expected = (sales.assign(day=sales["timestamp"].dt.normalize())
                .groupby(["customer_id", "day"], as_index=False)["revenue"].sum())
    pd.testing.assert_frame_equal(purchase_days(tx), expected)
