"""Readable text for numbers, dates and durations in tables and reprs (one rule for every report).

``format_number`` keeps at least three significant digits at every scale: 0.0123 -> ``0.0123``,
0.001234 -> ``0.00123``, 5.6e-06 -> ``5.6e-06`` (never ``0.0000``), 1234.5 -> ``1234.5000``,
1234567.0 -> ``1,234,567``;
whole numbers print without decimals (with thousands separators), NaN and infinities as ``–`` (or
``inf``). ``format_value`` also accepts dates, durations, booleans and text.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

MISSING = "–"
"""What a missing number (NaN, None, NaT) prints as."""

SMALL = 1e-2
"""Non-zero magnitudes below this print with ``digits - 1`` significant digits (``%g``)."""

LARGE = 1e4
"""Magnitudes at or above this print as whole numbers with thousands separators."""


def format_number(value: float, digits: int = 4) -> str:
    """A float as text: ``digits`` decimals, ``%g`` below 0.01, separators from 1e4 on."""
    x = float(value)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    size = abs(x)
    if x == 0:
        return "0"
    if size >= LARGE or x.is_integer():
        return f"{x:,.0f}"
    if size < SMALL:
        return f"{x:.{max(digits - 1, 1)}g}"
    return f"{x:.{digits}f}"


def format_value(value: Any, digits: int = 4) -> str:
    """Any table cell as text: numbers by ``format_number``, dates, durations, text as is."""
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10 else str(int(value))
    if isinstance(value, float | np.floating):
        return format_number(float(value), digits)
    if isinstance(value, np.datetime64 | _dt.datetime | _dt.date):
        return format_date(value)
    if isinstance(value, np.timedelta64 | _dt.timedelta):
        return format_duration(value)
    return str(value)


def format_date(value: Any) -> str:
    """A date as ``YYYY-MM-DD``, with the time when it is not midnight (``NaT`` -> ``–``)."""
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return MISSING
    if stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat(sep=" ")


def format_duration(value: Any) -> str:
    """A duration: ``61 days`` for whole days, else as pandas prints it (``0 days 06:30:00``)."""
    delta = pd.Timedelta(value)
    if pd.isna(delta):
        return MISSING
    if delta == delta.floor("D"):
        days = delta.days
        return f"{days} day" if abs(days) == 1 else f"{days} days"
    return str(delta)


def format_percent(value: float, digits: int = 2) -> str:
    """A fraction as a percentage (0.1234 -> ``12.34%``); tiny fractions keep their digits."""
    x = float(value)
    if not math.isfinite(x):
        return format_number(x)
    if x != 0 and abs(100 * x) < 10 ** (-digits):
        return f"{100 * x:.2g}%"
    return f"{100 * x:.{digits}f}%"


__all__ = [
    "MISSING",
    "format_date",
    "format_duration",
    "format_number",
    "format_percent",
    "format_value",
]


def summary_html(title: str, rows: Sequence[tuple[str, str]], footer: str = "") -> str:
    """A small two-column HTML table (label, text) under a bold title, for ``_repr_html_``.

    Every text is escaped; the table comes from pandas' ``DataFrame.to_html``.
    """
    frame = pd.DataFrame({"value": [str(v) for _, v in rows]}, index=[str(k) for k, _ in rows])
    table = frame.to_html(header=False, escape=True, border=0)
    tail = f"<small>{html.escape(footer)}</small>" if footer else ""
    return f"<div><b>{html.escape(title)}</b>{table}{tail}</div>"
