"""Long/wide frame conversions at the edges: column-name normalisation and pivots to arrays."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from quantrl.data.dates import parse_dates
from quantrl.data.validate import price_columns
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
FIELD_ALIASES = {"adjclose": "adj_close", "adjusted_close": "adj_close", "adj_price": "adj_close"}
"""Spellings of a field that mean a canonical name (after snake-casing: ``Adj Close`` ->
``adj_close`` needs no alias)."""
KNOWN_FIELDS = frozenset(
    {
        "open",
        "high",
        "low",
        "close",
        "adj_close",
        "volume",
        "dividends",
        "stock_splits",
        "capital_gains",
        "repaired",
        "vwap",
        "amount",
        "turnover",
        "factor",
        "change",
        "trades",
        "open_interest",
    }
)
"""Field names that identify the field level of a wide frame (yfinance, Qlib and common OHLCV)."""
#: Columns that always hold numbers (with the price columns of ``validate.price_columns``): a
#: non-numeric cell in one of them is an error, never a silently dropped column.
NUMERIC_NAMES = ("volume", "amount", "turnover", "vwap", "open_interest", "trades", "count")
_THOUSANDS = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$"


def snake_case(name: str) -> str:
    """Lower-case a column name and turn spaces, dots and dashes into underscores."""
    text = re.sub(r"[^0-9a-zA-Z]+", "_", str(name).strip()).strip("_")
    return text.lower()


def field_name(name: Any) -> str:
    """The canonical field name of a column: snake case (``Adj Close`` -> ``adj_close``), aliases."""
    text = snake_case(name)
    return FIELD_ALIASES.get(text, text)


def _index_to_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A pandas frame with its index as columns; an unnamed positional index is dropped.

    A named index (``Date``, or ``(date, symbol)``) becomes columns; an unnamed DatetimeIndex
    becomes a ``date`` column; any other unnamed index (FinRL's factorised dates, a filtered
    row number) carries no data and is dropped.
    """
    index = frame.index
    if isinstance(index, pd.RangeIndex):
        return frame
    if any(n is not None for n in index.names):
        return frame.reset_index()
    has_date = any(snake_case(c) in DATE_ALIASES for c in frame.columns)
    if isinstance(index, pd.DatetimeIndex) and not has_date:
        return frame.rename_axis("date").reset_index()
    return frame.reset_index(drop=True)


def to_polars_frame(frame: Any) -> pl.DataFrame:
    """Accept a polars or pandas frame and return polars (named pandas index levels are kept)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pd.DataFrame):
        frame = _index_to_columns(frame)
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        try:
            return pl.from_pandas(frame)
        except Exception as exc:  # pyarrow refuses mixed-type object columns
            raise DataError(
                f"cannot read the pandas frame (mixed types in a column?): {exc}", rule="dtype"
            ) from exc
    raise DataError(
        f"expected a polars or pandas DataFrame, got {type(frame).__name__}", rule="dtype"
    )


def normalize_long(frame: Any, *, date_format: str | None = None) -> pl.DataFrame:
    """Rename date/symbol aliases, snake-case fields, parse dates to Datetime(ns), cast fields to f64.

    Accepts ``Date``/``date``/``datetime``/``timestamp`` for the date and ``Ticker``/``symbol``/
    ``tic``/``Name`` for the symbol. Raises DataError when either is missing. Dates follow
    ``quantrl.data.dates`` (ISO text, or ``date_format=``). Text columns of numbers are cast to
    float64; a cell that is not a number (``"abc"``, ``"1,234.5"``) in a price/volume column or
    in a mostly numeric column raises DataError naming column, symbol, date and value; wholly
    textual columns (a sector name) are left out of the panel.
    """
    df = to_polars_frame(frame)
    renamed: dict[str, str] = {}
    for col in df.columns:
        renamed[col] = field_name(col)
    if len(set(renamed.values())) != len(renamed):
        raise DataError(f"columns collide after normalisation: {df.columns}", rule="field missing")
    original = {v: k for k, v in renamed.items()}
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
        original[target] = original.get(found, found)
        df = df.rename({found: target})
    dates = parse_dates(df["date"], column=original.get("date", "date"), date_format=date_format)
    df = df.with_columns(dates.alias("date"), pl.col("symbol").cast(pl.Utf8))
    numeric = []
    for col in df.columns:
        if col in KEY_COLUMNS:
            continue
        values = _numeric(df, col, original.get(col, col))
        if values is not None:
            numeric.append(values.alias(col))
    return df.with_columns(numeric)


def _numeric(df: pl.DataFrame, col: str, shown: str) -> pl.Series | None:
    """Column ``col`` as float64, None for a textual column; DataError for a bad cell."""
    series = df[col]
    dtype = series.dtype
    if dtype.is_numeric() or dtype == pl.Boolean:
        return series.cast(pl.Float64)
    if dtype not in (pl.Utf8, pl.Categorical):
        return None
    text = series.cast(pl.Utf8).str.strip_chars().replace("", None)
    number = text.cast(pl.Float64, strict=False)
    bad = text.is_not_null() & number.is_null()
    if not bad.any():
        return number
    lower = text.str.to_lowercase()
    if (lower.is_in(["true", "false"]) | text.is_null()).all():
        return (lower == "true").cast(pl.Float64)
    thousands = text.str.contains(_THOUSANDS).fill_null(False)
    numeric_looking = int((number.is_not_null() | thousands).sum())
    known = col in NUMERIC_NAMES or bool(price_columns([col]))
    if not known and 2 * numeric_looking <= int(text.is_not_null().sum()):
        return None  # a text column (sector, exchange, ...): not a panel field
    i = int(bad.arg_true()[0])
    value = text[i]
    hint = (
        "; remove the thousands separators"
        if thousands[i]
        else "; cells must be plain numbers (NA or empty for missing)"
    )
    raise DataError(
        f"column {shown!r} holds a non-numeric value {value!r}{hint}",
        rule="non-numeric value",
        symbol=df["symbol"][i],
        date=df["date"][i],
    )


def long_to_panel_arrays(
    frame: Any, *, fields: Sequence[str] | None = None, date_format: str | None = None
) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]]:
    """Pivot a long frame to (dates, symbols, {field: (T, N) float64}) with NaN for missing bars.

    Symbols are sorted; duplicated (date, symbol) rows raise DataError.
    """
    df = normalize_long(frame, date_format=date_format)
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


def wide_to_arrays(
    frame: Any, *, date_format: str | None = None
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Read a wide frame (date + one column per symbol) into (dates, symbols, (T, N) array)."""
    df = to_polars_frame(frame)
    date_col = next((c for c in df.columns if snake_case(c) in DATE_ALIASES), None)
    if date_col is None:
        raise DataError("wide frame has no date column", rule="field missing")
    dates = parse_dates(df[date_col], column=date_col, date_format=date_format)
    symbols = tuple(str(c) for c in df.columns if c != date_col)
    keyed = pl.DataFrame({"date": dates})
    columns = []
    for sym in symbols:
        values = _numeric(keyed.with_columns(df[sym].alias(sym), symbol=pl.lit(sym)), sym, sym)
        if values is None:
            raise DataError(f"column {sym!r} is not numeric", rule="non-numeric value", symbol=sym)
        columns.append(values.to_numpy())
    array = np.column_stack(columns) if columns else np.empty((df.height, 0))
    return dates.to_numpy().astype("datetime64[ns]"), symbols, np.asarray(array, dtype=np.float64)
