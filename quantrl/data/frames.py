"""Long/wide frame conversions at the edges: column-name normalisation and pivots to arrays."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from quantrl.errors import DataError

DATE_ALIASES = ("date", "datetime", "timestamp", "time", "dt", "day", "trade_date", "system_time")
SYMBOL_ALIASES = (
    "symbol",
    "ticker",
    "tic",
    "name",
    "code",
    "instrument",
    "asset",
    "stock",
    "secid",
)
KEY_COLUMNS = ("date", "symbol")


def snake_case(name: str) -> str:
    """Lower-case a column name and turn spaces, dots and dashes into underscores."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", str(name).strip()).strip("_")
    return text.lower()


def to_polars_frame(frame: Any) -> pl.DataFrame:
    """Accept a polars or pandas frame and return polars (pandas index columns are kept)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pd.DataFrame):
        if not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        return pl.from_pandas(frame)
    raise DataError(
        f"expected a polars or pandas DataFrame, got {type(frame).__name__}", rule="dtype"
    )


def normalize_long(frame: Any) -> pl.DataFrame:
    """Rename date/symbol aliases, snake-case fields, parse dates to Datetime(ns), cast fields to f64.

    Accepts ``Date``/``date``/``datetime``/``timestamp`` for the date and ``Ticker``/``symbol``/
    ``tic``/``Name`` for the symbol. Raises DataError when either is missing.
    """
    df = to_polars_frame(frame)
    renamed: dict[str, str] = {}
    for col in df.columns:
        renamed[col] = snake_case(col)
    if len(set(renamed.values())) != len(renamed):
        raise DataError(f"columns collide after normalisation: {df.columns}", rule="field missing")
    df = df.rename(renamed)
    for target, aliases in (("date", DATE_ALIASES), ("symbol", SYMBOL_ALIASES)):
        if target in df.columns:
            continue
        found = next((a for a in aliases if a in df.columns), None)
        if found is None:
            raise DataError(
                f"no {target} column; expected one of {', '.join(aliases)} (got {', '.join(df.columns)})",
                rule="field missing",
            )
        df = df.rename({found: target})
    df = df.with_columns(_parse_dates(df["date"]).alias("date"), pl.col("symbol").cast(pl.Utf8))
    numeric = []
    for col in df.columns:
        if col in KEY_COLUMNS:
            continue
        dtype = df.schema[col]
        if dtype.is_numeric() or dtype == pl.Boolean:
            numeric.append(pl.col(col).cast(pl.Float64))
    return df.with_columns(numeric)


def _parse_dates(series: pl.Series) -> pl.Series:
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return series.cast(pl.Datetime("ns"))
    if dtype == pl.Date:
        return series.cast(pl.Datetime("ns"))
    if dtype == pl.Utf8:
        try:
            parsed = series.str.to_datetime(time_unit="ns", strict=True)
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as exc:
            bad = series.head(3).to_list()
            raise DataError(f"cannot parse dates such as {bad}", rule="missing date") from exc
        if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
            parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return parsed.cast(pl.Datetime("ns"))
    raise DataError(f"date column has unsupported type {dtype}", rule="dtype")


def long_to_panel_arrays(
    frame: Any, *, fields: Sequence[str] | None = None
) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]]:
    """Pivot a long frame to (dates, symbols, {field: (T, N) float64}) with NaN for missing bars.

    Symbols are sorted; duplicated (date, symbol) rows raise DataError.
    """
    df = normalize_long(frame)
    if df.height == 0:
        raise DataError("the frame has no rows", rule="empty date range")
    nulls = df.filter(pl.col("date").is_null() | pl.col("symbol").is_null())
    if nulls.height:
        raise DataError("rows without a date or symbol", rule="missing date")
    value_cols = [c for c in df.columns if c not in KEY_COLUMNS and df.schema[c] == pl.Float64]
    if fields is not None:
        missing = [f for f in fields if f not in df.columns]
        if missing:
            raise DataError(
                f"field(s) {', '.join(missing)} missing (have {', '.join(value_cols)})",
                rule="field missing",
            )
        value_cols = list(fields)
    raw_dates = df["date"].to_numpy().astype("datetime64[ns]")
    raw_symbols = df["symbol"].to_numpy().astype(str)
    dates, date_idx = np.unique(raw_dates, return_inverse=True)
    symbols, sym_idx = np.unique(raw_symbols, return_inverse=True)
    n = symbols.size
    flat = date_idx.astype(np.int64) * n + sym_idx
    order = np.argsort(flat, kind="stable")
    dup = np.flatnonzero(np.diff(flat[order]) == 0)
    if dup.size:
        row = int(order[dup[0] + 1])
        raise DataError(
            f"{dup.size} duplicated (date, symbol) row(s)",
            rule="duplicated row",
            symbol=str(raw_symbols[row]),
            date=raw_dates[row],
        )
    arrays: dict[str, np.ndarray] = {}
    for col in value_cols:
        out = np.full(dates.size * n, np.nan)
        values = df[col].to_numpy(allow_copy=True).astype(np.float64, copy=False)
        out[flat] = values
        arrays[col] = out.reshape(dates.size, n)
    return dates, tuple(str(s) for s in symbols), arrays


def wide_to_arrays(frame: Any) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Read a wide frame (date + one column per symbol) into (dates, symbols, (T, N) array)."""
    df = to_polars_frame(frame)
    date_col = next((c for c in df.columns if snake_case(c) in DATE_ALIASES), None)
    if date_col is None:
        raise DataError("wide frame has no date column", rule="field missing")
    dates = _parse_dates(df[date_col]).to_numpy().astype("datetime64[ns]")
    symbols = tuple(str(c) for c in df.columns if c != date_col)
    values = df.select(pl.col(list(symbols)).cast(pl.Float64)).to_numpy()
    return dates, symbols, np.asarray(values, dtype=np.float64)
