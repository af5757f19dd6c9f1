"""Bar frequency of a date index and the bars per year that annualise statistics.

``infer_periods_per_year(dates)`` reads only the dates (bars per day observed times trading days
per year observed):

* the bar spacing is the median gap between consecutive dates;
* daily bars (spacing under four days) count 252 bars a year, or 365 when the market trades on
  weekends (some weekend has bars on both Saturday and Sunday, as crypto markets do);
* coarser bars: weekly (spacing up to 10 days) 52, monthly (up to 45 days) 12, quarterly (up to
  140 days) 4, else 1;
* intraday bars (spacing under 20 hours): bars per day is the median number of bars per calendar
  day (the first and last day left out when there are three or more, as they are often partial),
  times 365 trading days when the market trades round the clock (bars per day times the spacing
  covers at least 23 hours) or on weekends, else 252. Crypto minute bars give 1440 * 365 =
  525,600; US equity minute bars (390 a session) give 390 * 252 = 98,280; yfinance's hourly equity
  bars (7 a session) give 7 * 252 = 1,764.

Fewer than three dates say nothing about a frequency: the daily default 252 is returned. A
sample shorter than one whole day of intraday bars cannot show that a market trades round the
clock; pass ``periods_per_year`` explicitly then.
"""

from __future__ import annotations

import numpy as np

DEFAULT_PERIODS_PER_YEAR = 252.0
"""Bars per year when the dates cannot tell (daily trading days)."""

TRADING_DAYS = 252.0
"""Trading days a year of a market closed on weekends and holidays."""

CALENDAR_DAYS = 365.0
"""Trading days a year of a market open every day (crypto)."""

_DAY = np.timedelta64(1, "D").astype("timedelta64[ns]").astype(np.int64)
_HOUR = _DAY // 24
_COARSE = ((10 * _DAY, 52.0), (45 * _DAY, 12.0), (140 * _DAY, 4.0))


def bar_spacing(dates: np.ndarray) -> np.timedelta64:
    """Median gap between consecutive dates (``NaT`` for fewer than two dates)."""
    stamps = np.asarray(dates).astype("datetime64[ns]")
    if stamps.size < 2:
        return np.timedelta64("NaT", "ns")
    gaps = np.diff(stamps.view(np.int64))
    return np.timedelta64(int(np.median(gaps)), "ns")


def trades_on_weekends(dates: np.ndarray) -> bool:
    """True when some weekend has bars on both its Saturday and its Sunday."""
    days = np.unique(np.asarray(dates).astype("datetime64[D]"))
    weekday = (days.view(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    saturdays = days[weekday == 5]
    return bool(np.isin(saturdays + np.timedelta64(1, "D"), days).any())


def bars_per_day(dates: np.ndarray) -> float:
    """Median number of bars per calendar day (first and last day left out from three days on)."""
    days = np.asarray(dates).astype("datetime64[D]")
    _, counts = np.unique(days, return_counts=True)
    if counts.size >= 3:
        counts = counts[1:-1]
    return float(np.median(counts))


def infer_periods_per_year(dates: np.ndarray | None) -> float:
    """Bars per year of a sorted date index by the module's rule (252 when it cannot tell)."""
    if dates is None:
        return DEFAULT_PERIODS_PER_YEAR
    stamps = np.asarray(dates).astype("datetime64[ns]")
    if stamps.size < 3:
        return DEFAULT_PERIODS_PER_YEAR
    spacing = int(bar_spacing(stamps).astype(np.int64))
    if spacing <= 0:
        return DEFAULT_PERIODS_PER_YEAR
    weekends = trades_on_weekends(stamps)
    if spacing >= 20 * _HOUR:
        if spacing < 4 * _DAY:
            return CALENDAR_DAYS if weekends else TRADING_DAYS
        return next((n for limit, n in _COARSE if spacing <= limit), 1.0)
    per_day = bars_per_day(stamps)
    round_the_clock = per_day * spacing >= 23 * _HOUR
    return per_day * (CALENDAR_DAYS if round_the_clock or weekends else TRADING_DAYS)


__all__ = [
    "CALENDAR_DAYS",
    "DEFAULT_PERIODS_PER_YEAR",
    "TRADING_DAYS",
    "bar_spacing",
    "bars_per_day",
    "infer_periods_per_year",
    "trades_on_weekends",
]
