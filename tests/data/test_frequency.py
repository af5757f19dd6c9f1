"""Bars per year inferred from the dates: daily, weekend-trading, coarser and intraday bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.data.frequency import (
    bar_spacing,
    bars_per_day,
    infer_periods_per_year,
    trades_on_weekends,
)


def session_minutes(days: pd.DatetimeIndex, start: str = "14:30", n: int = 390) -> np.ndarray:
    """``n`` one-minute bars from ``start`` (UTC) on each day."""
    offsets = pd.to_timedelta(start + ":00") + pd.to_timedelta(np.arange(n), "min")
    return np.concatenate([(d + offsets).to_numpy() for d in days])


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (pd.bdate_range("2020-01-01", periods=300), 252.0),  # trading days
        (pd.date_range("2020-01-01", periods=300, freq="D"), 365.0),  # crypto daily
        (pd.date_range("2020-01-03", periods=60, freq="W-FRI"), 52.0),
        (pd.date_range("2015-01-31", periods=40, freq="ME"), 12.0),
        (pd.date_range("2000-03-31", periods=20, freq="QE"), 4.0),
        (pd.date_range("2000-12-31", periods=10, freq="YE"), 1.0),
        (pd.date_range("2024-01-01", periods=5 * 1440, freq="min"), 1440 * 365.0),
        (pd.date_range("2024-01-01 00:00", periods=24 * 20, freq="h"), 24 * 365.0),
    ],
)
def test_regular_frequencies(dates, expected):
    assert infer_periods_per_year(dates.to_numpy()) == expected


def test_equity_minutes_and_hours():
    days = pd.bdate_range("2024-03-04", periods=5)
    assert infer_periods_per_year(session_minutes(days)) == 390 * 252
    hours = np.concatenate(
        [
            (d + pd.Timedelta("14:30:00") + pd.to_timedelta(np.arange(7), "h")).to_numpy()
            for d in days
        ]
    )  # yfinance's 1h bars: 7 a session
    assert infer_periods_per_year(hours) == 7 * 252


def test_partial_first_and_last_days_do_not_count():
    minutes = pd.date_range("2024-01-01 22:00", "2024-01-05 03:00", freq="min").to_numpy()
    assert bars_per_day(minutes) == 1440
    assert infer_periods_per_year(minutes) == 1440 * 365


def test_weekend_rule_and_holidays():
    days = pd.bdate_range("2023-01-02", "2023-12-29")
    holidays = days[::20]
    assert infer_periods_per_year(days.difference(holidays).to_numpy()) == 252.0
    sun_to_thu = pd.date_range("2023-01-01", periods=200, freq="D")
    sun_to_thu = sun_to_thu[sun_to_thu.day_of_week.isin([6, 0, 1, 2, 3])]
    assert not trades_on_weekends(sun_to_thu.to_numpy())
    assert infer_periods_per_year(sun_to_thu.to_numpy()) == 252.0


def test_too_few_dates_and_no_dates():
    assert infer_periods_per_year(None) == 252.0
    assert (
        infer_periods_per_year(pd.date_range("2024-01-01", periods=2, freq="min").to_numpy())
        == 252.0
    )
    assert np.isnat(bar_spacing(np.array([], dtype="datetime64[ns]")))
