"""Numbers, dates and durations as table text: small numbers keep their digits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.display import format_number, format_percent, format_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.6e-06, "5.6e-06"),
        (5.6789e-06, "5.68e-06"),
        (-0.000123456, "-0.000123"),
        (0.0123, "0.0123"),
        (1.5, "1.5000"),
        (-0.25, "-0.2500"),
        (1234.5, "1234.5000"),
        (12345.6, "12,346"),
        (1e9, "1,000,000,000"),
        (100.0, "100"),
        (0.0, "0"),
        (np.nan, "–"),
        (np.inf, "inf"),
        (-np.inf, "-inf"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_small_numbers_are_never_rounded_to_zero():
    for x in 10.0 ** -np.arange(3, 20):
        text = format_number(float(x) * 1.234)
        assert float(text) == pytest.approx(float(x) * 1.234, rel=1e-2)


def test_format_value_and_percent():
    assert format_value(pd.Timestamp("2020-01-02")) == "2020-01-02"
    assert format_value(np.datetime64("2020-01-02T14:30")) == "2020-01-02 14:30:00"
    assert format_value(pd.Timedelta(days=61)) == "61 days"
    assert format_value(pd.Timedelta(hours=6, minutes=30)) == "0 days 06:30:00"
    assert format_value(np.int64(12345)) == "12,345"
    assert format_value(7) == "7"
    assert format_value(None) == "–"
    assert format_value(True) == "True"
    assert format_value("text") == "text"
    assert format_value(pd.NaT) == "–"
    assert format_percent(0.1234) == "12.34%"
    assert format_percent(-2e-6) == "-0.0002%"
    assert format_percent(np.nan) == "–"
