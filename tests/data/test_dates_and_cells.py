"""Dates are never guessed, time zones keep daily dates, bad cells are named: CSV/Parquet/frames.

Plus a Hypothesis property: random small CSV files load into a Panel or raise DataError /
ConfigError, never anything else.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import quantrl
from quantrl import ConfigError, DataError, Panel
from quantrl.data.panel import to_datetime64


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def days(*texts: str) -> list[np.datetime64]:
    return [np.datetime64(t, "ns") for t in texts]


# ---------------------------------------------------------------------------- ambiguous dates

SLASH = "date,symbol,close\n01/02/2020,A,10\n01/03/2020,A,11\n"


def test_ambiguous_slash_dates_are_refused_with_a_hint(tmp_path):
    path = write(tmp_path, SLASH)
    with pytest.raises(DataError) as info:
        quantrl.load_market(path)
    text = str(info.value)
    assert info.value.rule == "date format"
    assert "'date'" in text and "'01/02/2020'" in text and "date_format" in text


def test_date_format_reads_either_convention(tmp_path):
    path = write(tmp_path, SLASH)
    us = quantrl.load_market(path, date_format="%m/%d/%Y")
    assert list(us.dates) == days("2020-01-02", "2020-01-03")
    eu = quantrl.load_market(path, date_format="%d/%m/%Y")
    assert list(eu.dates) == days("2020-02-01", "2020-03-01")
    with pytest.raises(
        DataError, match=r"does not match date_format '%m/%d/%Y' \(e.g. '13/02/2020'\)"
    ):
        quantrl.load_market(
            write(tmp_path, "Date,Ticker,Close\n13/02/2020,A,10\n", "eu.csv"),
            date_format="%m/%d/%Y",
        )


def test_iso_variants_are_accepted_and_the_column_is_named(tmp_path):
    text = "Timestamp,symbol,close\n2020-01-02,A,1\n2020/01/03,A,2\n20200106,A,3\n2020-01-07 00:00,A,4\n"
    p = quantrl.load_market(write(tmp_path, text))
    assert list(p.dates) == days("2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07")
    with pytest.raises(DataError, match="date column 'Timestamp'"):
        quantrl.load_market(write(tmp_path, "Timestamp,symbol,close\n2.1.2020,A,1\n", "b.csv"))


@pytest.mark.parametrize(
    ("cell", "rule"),
    [
        ("1500-01-02", "date out of range"),
        ("2262-04-12", "date out of range"),
        ("9999-12-31", "date out of range"),
        ("2020-02-30", "date format"),
        ("2020-13-01", "date format"),
        ("9999-99-99", "date format"),
        ("yesterday", "date format"),
    ],
)
def test_dates_out_of_range_or_invalid_are_data_errors(tmp_path, cell, rule):
    path = write(tmp_path, f"date,symbol,close\n{cell},A,10\n2020-01-03,A,11\n")
    with pytest.raises(DataError) as info:
        quantrl.load_market(path)
    assert info.value.rule == rule and cell in str(info.value)


def test_out_of_range_dates_in_typed_frames(tmp_path):
    frame = pl.DataFrame({"date": [dt.date(1500, 1, 1)], "symbol": ["A"], "close": [1.0]})
    frame.write_parquet(tmp_path / "old.parquet")
    with pytest.raises(DataError, match="date out of range"):
        quantrl.load_market(tmp_path / "old.parquet")
    with pytest.raises(DataError, match="date out of range"):
        Panel.from_long(frame)
    # numpy would silently wrap 1500-01-01 to 2084 when casting to nanoseconds
    with pytest.raises(DataError, match="date out of range"):
        Panel(np.array(["1500-01-01"], "datetime64[D]"), ("A",), {"close": np.ones((1, 1))})
    with pytest.raises(ConfigError, match="out of range"):
        to_datetime64("1500-01-01")
    with pytest.raises(ConfigError, match="cannot interpret"):
        to_datetime64("01/02/2020")


def test_integer_dates_need_a_format(tmp_path):
    frame = pl.DataFrame(
        {"trade_date": [20200102, 20200103], "symbol": ["A", "A"], "close": [1.0, 2.0]}
    )
    frame.write_parquet(tmp_path / "int.parquet")
    with pytest.raises(DataError, match="integer dates are ambiguous"):
        quantrl.load_market(tmp_path / "int.parquet")
    p = quantrl.load_market(tmp_path / "int.parquet", date_format="%Y%m%d")
    assert list(p.dates) == days("2020-01-02", "2020-01-03")


# ---------------------------------------------------------------------------- time zones


def test_zoned_daily_bars_keep_their_local_calendar_date(tmp_path):
    tokyo = "date,symbol,close\n2020-01-06T00:00:00+09:00,T,10\n2020-01-07T00:00:00+09:00,T,11\n"
    p = quantrl.load_market(write(tmp_path, tokyo))
    assert list(p.dates) == days("2020-01-06", "2020-01-07")  # not 2020-01-05 15:00 UTC
    new_york = "date,symbol,close\n2020-03-06T16:00-05:00,N,10\n2020-03-09T16:00-04:00,N,11\n"
    q = quantrl.load_market(write(tmp_path, new_york, "ny.csv"))
    assert list(q.dates) == days("2020-03-06", "2020-03-09")  # across the DST change


def test_zoned_intraday_bars_are_converted_to_utc(tmp_path):
    text = "date,symbol,close\n2020-01-06T09:00:00+09:00,T,10\n2020-01-06T09:01:00+09:00,T,11\n"
    p = quantrl.load_market(write(tmp_path, text))
    assert list(p.dates) == days("2020-01-06T00:00", "2020-01-06T00:01")


def test_zoned_pandas_frames_follow_the_same_rule():
    daily = pd.DataFrame(
        {
            "date": pd.to_datetime(["2020-01-06", "2020-01-07"]).tz_localize("Asia/Tokyo"),
            "symbol": "T",
            "close": [10.0, 11.0],
        }
    )
    assert list(Panel.from_long(daily).dates) == days("2020-01-06", "2020-01-07")
    minutes = daily.assign(date=daily["date"] + pd.to_timedelta([9 * 60, 9 * 60 + 1], "min"))
    minutes["date"] = pd.to_datetime(["2020-01-06 09:00", "2020-01-06 09:01"]).tz_localize(
        "Asia/Tokyo"
    )
    assert list(Panel.from_long(minutes).dates) == days("2020-01-06T00:00", "2020-01-06T00:01")


def test_mixing_zoned_and_naive_text_is_refused(tmp_path):
    text = "date,symbol,close\n2020-01-06T00:00:00Z,T,10\n2020-01-07,T,11\n"
    with pytest.raises(DataError, match="some timestamps carry a UTC offset"):
        quantrl.load_market(write(tmp_path, text))


# ---------------------------------------------------------------------------- cells


@pytest.mark.parametrize(
    ("cell", "hint"),
    [('"1,234.5"', "thousands separators"), ("abc", "plain numbers"), ("12..5", "plain numbers")],
)
def test_non_numeric_price_cells_are_named(tmp_path, cell, hint):
    text = f"date,symbol,close,volume\n2020-01-02,A,10,100\n2020-01-03,B,{cell},100\n"
    with pytest.raises(DataError) as info:
        quantrl.load_market(write(tmp_path, text))
    err = info.value
    assert err.rule == "non-numeric value" and err.symbol == "B"
    assert str(err.date)[:10] == "2020-01-03"
    assert "'close'" in str(err) and cell.strip('"') in str(err) and hint in str(err)


def test_non_numeric_cells_in_parquet_and_frames(tmp_path):
    frame = pl.DataFrame(
        {"date": ["2020-01-02", "2020-01-03"], "symbol": ["A", "A"], "volume": ["1,000", "2,000"]}
    ).with_columns(close=pl.lit(1.0))
    frame.write_parquet(tmp_path / "v.parquet")
    with pytest.raises(DataError, match="column 'volume' holds a non-numeric value '1,000'"):
        quantrl.load_market(tmp_path / "v.parquet")
    with pytest.raises(DataError, match="'1,000'"):
        Panel.from_long(frame.to_pandas())


def test_text_columns_stay_out_and_numeric_text_is_read(tmp_path):
    text = (
        "date,symbol,close,sector,halted\n"
        "2020-01-02,A, 10.5 ,Tech,false\n"
        "2020-01-03,A,11,Tech,TRUE\n"
    )
    p = quantrl.load_market(write(tmp_path, text))
    assert "sector" not in p.fields
    np.testing.assert_array_equal(p["close"][:, 0], [10.5, 11.0])
    np.testing.assert_array_equal(p["halted"][:, 0], [0.0, 1.0])


def test_infinite_volume_is_a_validation_rule(tmp_path):
    text = "date,symbol,close,volume\n2020-01-02,A,10,100\n2020-01-03,A,11,inf\n"
    with pytest.raises(DataError) as info:
        quantrl.load_market(write(tmp_path, text))
    assert info.value.rule == "infinite volume" and info.value.symbol == "A"
    assert str(info.value.date)[:10] == "2020-01-03"
    dropped = quantrl.load_market(write(tmp_path, text), on_invalid="drop")
    assert dropped.n_dates == 1


# ---------------------------------------------------------------------------- property


_CELLS = st.one_of(
    st.sampled_from(["", "NA", "nan", "inf", "-1", "0", "1e308", "1,234.5", "abc", "True", " 7 "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.text(alphabet="0123456789.,-+eE /:TZ", max_size=12),
)
_DATES = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(str),
    st.datetimes(dt.datetime(1600, 1, 1), dt.datetime(2400, 1, 1)).map(lambda d: d.isoformat()),
    st.sampled_from(["01/02/2020", "2020-02-30", "20200102", "2020-01-02T00:00+09:00", "", "x"]),
    st.text(alphabet="0123456789-/: T", max_size=20),
)
_COLUMNS = st.lists(
    st.sampled_from(["open", "high", "low", "close", "volume", "vwap", "note", "Close"]),
    min_size=0,
    max_size=4,
    unique=True,
)


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.booleans(),
    st.booleans(),
    _COLUMNS,
    st.lists(
        st.tuples(
            _DATES, st.sampled_from(["A", "B", ""]), st.lists(_CELLS, min_size=4, max_size=4)
        ),
        max_size=6,
    ),
)
def test_random_csv_files_load_or_raise_a_quantrl_error(
    tmp_path, with_date, with_symbol, fields, rows
):
    header = (["date"] if with_date else []) + (["symbol"] if with_symbol else []) + fields
    lines = [",".join(header)]
    for date, symbol, cells in rows:
        row = (
            ([date] if with_date else []) + ([symbol] if with_symbol else []) + cells[: len(fields)]
        )
        lines.append(",".join(_csv_cell(c) for c in row))
    path = tmp_path / "random.csv"
    path.write_text("\n".join(lines) + "\n")
    try:
        panel = quantrl.load_market(path, on_invalid="drop")
    except (DataError, ConfigError):
        return
    assert isinstance(panel, Panel)
    assert panel.dates.dtype == np.dtype("datetime64[ns]")
    assert (np.diff(panel.dates.view("int64")) > 0).all()
    close = panel["close"]
    assert (np.isnan(close) | ((close > 0) & np.isfinite(close))).all()
