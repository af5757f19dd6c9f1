"""Date columns into datetime64[ns]: ISO text or an explicit format, time zones, the valid range.

Rules (nothing is guessed):

* text must be ISO 8601 -- ``YYYY-MM-DD`` (also ``YYYY/MM/DD`` and ``YYYYMMDD``), optionally
  followed by `` HH:MM[:SS[.fffffffff]]`` (or ``T``) and a UTC offset (``Z``, ``+05:30``).
  Anything else, such as ``01/02/2020`` (January 2 or February 1?), raises a DataError naming
  the column and an example unless ``date_format=`` (``datetime.strptime`` codes, e.g.
  ``"%m/%d/%Y"``) says how to read it; integer columns (``20200102``) need ``date_format`` too.
* time-zone-aware timestamps (a zoned column, or text with offsets) are **daily** when every
  timestamp shows the same local clock time (midnight, or one time on at least two dates): they
  keep their local calendar date, so a Tokyo bar of 2020-01-06 stays on 2020-01-06. Otherwise
  they are **intraday** and converted to UTC (naive). Naive timestamps are kept as they are.
* dates must lie in [1678-01-01, 2262-01-01), the span of datetime64[ns]; others raise DataError.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import polars as pl

from quantrl.errors import ConfigError, DataError

#: First and (excluded) last instant a panel date may take: datetime64[ns] spans 1677..2262.
MIN_DATE = _dt.datetime(1678, 1, 1)
MAX_DATE = _dt.datetime(2262, 1, 1)
_MIN64 = np.datetime64(MIN_DATE, "ns")
_MAX64 = np.datetime64(MAX_DATE, "ns")

_ISO = (
    r"^(?:\d{4}-\d{2}-\d{2}|\d{4}/\d{2}/\d{2}|\d{8})"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?$"
)
_PARTS = (
    r"^(?P<y>\d{4})[-/]?(?P<m>\d{2})[-/]?(?P<d>\d{2})"
    r"(?:[T ](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?"
    r"\s*(?:(?P<z>Z)|(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})?)?$"
)
_ZONE_CODES = ("%z", "%Z", "%:z")


def _error(column: str, message: str, value: Any, rule: str = "date format") -> DataError:
    shown = repr(value) if isinstance(value, str) else str(value)
    return DataError(f"date column {column!r}: {message} (e.g. {shown})", rule=rule)


def _first(series: pl.Series, mask: pl.Series) -> Any:
    return series.filter(mask)[0]


def _checked_ns(naive: pl.Series, column: str, raw: pl.Series) -> pl.Series:
    """Cast naive datetimes (any unit) or dates to Datetime(ns) after checking the range."""
    as_us = naive.cast(pl.Datetime("us")) if naive.dtype == pl.Date else naive
    bad = (as_us < MIN_DATE) | (as_us >= MAX_DATE)
    if bad.any():
        raise _error(
            column,
            f"date outside [{MIN_DATE.date()}, {MAX_DATE.date()}), the range a panel can hold",
            _first(raw, bad.fill_null(False)),
            rule="date out of range",
        )
    return as_us.cast(pl.Datetime("ns"))


def _daily_or_utc(local: pl.Series, utc: pl.Series) -> pl.Series:
    """Local calendar dates for daily (or coarser) zoned bars, else the UTC instants."""
    present = local.drop_nulls()
    if present.len() == 0:
        return utc
    clock = present - present.dt.truncate("1d")
    if clock.n_unique() == 1 and (
        clock[0].total_seconds() == 0 or present.dt.date().n_unique() > 1
    ):
        return local.dt.truncate("1d")
    return utc


def _parse_iso(text: pl.Series, column: str) -> pl.Series:
    present = text.is_not_null()
    bad = present & ~text.str.contains(_ISO).fill_null(False)
    if bad.any():
        raise _error(
            column,
            "dates are not ISO 8601 (YYYY-MM-DD[ HH:MM[:SS]]); pass date_format= to read them, "
            "e.g. date_format='%m/%d/%Y' or '%d/%m/%Y'",
            _first(text, bad),
        )
    parts = (
        pl.DataFrame({"text": text})
        .select(pl.col("text").str.extract_groups(_PARTS).alias("p"))
        .unnest("p")
    )
    parts = parts.with_columns(
        stamp=pl.concat_str(
            pl.col("y"),
            pl.lit("-"),
            pl.col("m"),
            pl.lit("-"),
            pl.col("d"),
            pl.lit("T"),
            pl.col("H").fill_null("00"),
            pl.lit(":"),
            pl.col("M").fill_null("00"),
            pl.lit(":"),
            pl.col("S").fill_null("00"),
        ),
        nanos=pl.col("f").str.pad_end(9, "0").cast(pl.Int64).fill_null(0),
        zoned=pl.col("z").is_not_null() | pl.col("sign").is_not_null(),
        offset_min=(pl.when(pl.col("sign") == "-").then(-1).otherwise(1))
        * (
            pl.col("oh").cast(pl.Int64).fill_null(0) * 60 + pl.col("om").cast(pl.Int64).fill_null(0)
        ),
    )
    base = parts["stamp"].str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", strict=False)
    invalid = present & base.is_null()
    if invalid.any():
        raise _error(column, "not a valid calendar date or time", _first(text, invalid))
    local = _checked_ns(base, column, text) + parts["nanos"].cast(pl.Duration("ns"))
    zoned = parts["zoned"]
    if not zoned.any():
        return local
    if (present & ~zoned).any():
        raise _error(
            column,
            "some timestamps carry a UTC offset and others do not",
            _first(text, present & ~zoned),
        )
    offset = (parts["offset_min"] * 60_000_000_000).cast(pl.Duration("ns"))
    return _daily_or_utc(local, local - offset)


def _parse_with_format(text: pl.Series, column: str, date_format: str) -> pl.Series:
    present = text.is_not_null()
    if not any(code in date_format for code in _ZONE_CODES):
        try:
            parsed = text.str.strptime(pl.Datetime("us"), date_format, strict=False)
        except (pl.exceptions.PolarsError, ValueError) as exc:
            raise ConfigError(f"invalid date_format {date_format!r}: {exc}") from exc
        bad = present & parsed.is_null()
        if bad.any():
            raise _error(column, f"does not match date_format {date_format!r}", _first(text, bad))
        return _checked_ns(parsed, column, text)
    # a zone in the format: python's strptime keeps each offset (needed for local dates)
    local_of: dict[str, _dt.datetime] = {}
    utc_of: dict[str, _dt.datetime] = {}
    for value in text.drop_nulls().unique().to_list():
        try:
            stamp = _dt.datetime.strptime(value, date_format)
        except ValueError as exc:
            raise _error(column, f"does not match date_format {date_format!r}", value) from exc
        if stamp.tzinfo is None:
            raise _error(column, f"has no UTC offset although {date_format!r} expects one", value)
        local_of[value] = stamp.replace(tzinfo=None)
        utc_of[value] = stamp.astimezone(_dt.UTC).replace(tzinfo=None)
    local = _checked_ns(text.replace_strict(local_of, return_dtype=pl.Datetime("us")), column, text)
    utc = text.replace_strict(utc_of, return_dtype=pl.Datetime("us")).cast(pl.Datetime("ns"))
    return _daily_or_utc(local, utc)


def parse_dates(
    series: pl.Series, *, column: str = "date", date_format: str | None = None
) -> pl.Series:
    """Parse a date column to naive Datetime(ns) by the module's rules; DataError when unreadable.

    ``date_format`` (``strptime`` codes) reads non-ISO text or integer columns; ``column`` names
    the column in error messages.
    """
    if date_format is not None and not isinstance(date_format, str):
        raise ConfigError(f"date_format must be a strptime format string, got {date_format!r}")
    dtype = series.dtype
    if dtype == pl.Null:
        return series.cast(pl.Datetime("ns"))
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return _checked_ns(series, column, series)
        local = _checked_ns(series.dt.replace_time_zone(None), column, series)
        utc = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return _daily_or_utc(local, utc.cast(pl.Datetime("ns")))
    if dtype == pl.Date:
        return _checked_ns(series, column, series)
    if dtype.is_integer() and date_format is not None:
        series = series.cast(pl.Utf8)
    elif dtype.is_integer():
        raise _error(
            column,
            "integer dates are ambiguous; pass date_format= (e.g. '%Y%m%d')",
            series.drop_nulls()[0] if series.drop_nulls().len() else None,
        )
    if series.dtype in (pl.Utf8, pl.Categorical):
        # long frames repeat each date once per symbol: parse every distinct text once
        frame = pl.DataFrame({"text": series.cast(pl.Utf8)})
        distinct = frame.unique("text", maintain_order=True)["text"]
        text = distinct.str.strip_chars().replace("", None)
        if date_format is not None:
            parsed = _parse_with_format(text, column, date_format)
        else:
            parsed = _parse_iso(text, column)
        table = pl.DataFrame({"text": distinct, "parsed": parsed})
        joined = frame.join(table, on="text", how="left", maintain_order="left")
        return joined["parsed"].alias(series.name)
    raise DataError(f"date column {column!r} has unsupported type {dtype}", rule="dtype")


def to_ns_array(values: Any, *, what: str = "dates") -> np.ndarray:
    """A datetime64[ns] array from datetime64 of any unit (or ISO text), range-checked.

    numpy casts out-of-range dates to ns silently wrong (1500-01-01 becomes 2084); here they
    raise DataError instead.
    """
    array = np.asarray(values)
    if array.dtype.kind in "iu":  # integers count nanoseconds since the epoch, as numpy reads them
        return array.astype("datetime64[ns]")
    if not np.issubdtype(array.dtype, np.datetime64):
        try:
            array = array.astype("datetime64[us]")
        except (ValueError, TypeError, OverflowError) as exc:
            raise DataError(f"{what} must be datetime64 or ISO text: {exc}", rule="dtype") from exc
    unit = np.datetime_data(array.dtype)[0]
    if unit in ("ns", "ps", "fs", "as", "generic"):
        return array.astype("datetime64[ns]")
    lo, hi = _MIN64.astype(array.dtype), _MAX64.astype(array.dtype)
    bad = ~np.isnat(array) & ((array < lo) | (array >= hi))
    if bad.any():
        raise DataError(
            f"{what} outside [{MIN_DATE.date()}, {MAX_DATE.date()}), the range a panel can hold "
            f"(e.g. {array[bad][0]})",
            rule="date out of range",
        )
    return array.astype("datetime64[ns]")
