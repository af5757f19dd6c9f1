"""Bring your own DataFrame: long, wide and yfinance layouts to one normalised long frame.

Layouts (``layout=``):

* ``"long"``: one row per (date, symbol) -- a date column (or index) named date/Date/datetime/
  timestamp/..., a symbol column named symbol/ticker/tic (FinRL)/code/..., one column per field.
  A frame of one symbol without a symbol column needs ``symbol="AAPL"``.
* ``"wide"``: two levels of columns, one of fields and one of symbols, in either order (pandas
  MultiIndex columns, or the ``"('Close', 'AAPL')"`` names polars gives them when it reads such a
  parquet file); or flat columns, one per symbol, of a single ``field=`` (a close-price matrix).
* ``"yfinance"``: what ``yfinance.download`` returns: ``group_by="column"`` gives
  (Price, Ticker) columns, ``group_by="ticker"`` gives (Ticker, Price); with or without
  ``Adj Close`` (``auto_adjust``); a flat single-ticker frame (``multi_level_index=False`` or
  ``Ticker.history``) needs ``symbol=``.
* ``"auto"`` (default): two column levels are read as wide; flat columns with a symbol column as
  long; flat columns of known field names (Open, Close, ...) as one symbol (``symbol=`` needed);
  flat columns with ``field=`` as a one-field wide frame. Anything else is refused.

Which level of a two-level header holds the fields is read from the values: the level whose
names are all known fields (open, high, low, close, adj_close, volume, dividends, ...), or the
only level with any known field name. When the values cannot tell, level names decide
(``Price``/``field`` for fields, ``Ticker``/``symbol`` for symbols); a header where values and
names disagree, or where neither tells, raises a DataError -- never a transposed panel.

Field names are normalised to lower snake case: ``Adj Close`` -> ``adj_close``, ``Stock Splits``
-> ``stock_splits``. Prices are kept as given: with ``adj_close`` present, ``close`` stays the raw
close and ``adj_close`` is its own field. ``adjust=True`` instead trades adjusted prices as
yfinance's ``auto_adjust`` does: open, high, low and close are multiplied by ``adj_close / close``
and ``adj_close`` is dropped (volume is left as it is). A row whose fields are all missing is no
bar and is dropped (wide layouts hold a full date x symbol grid, Qlib CSVs a row for every
calendar day); a row with some fields missing is kept, for validation to judge.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from quantrl.data.frames import (
    DATE_ALIASES,
    KEY_COLUMNS,
    KNOWN_FIELDS,
    SYMBOL_ALIASES,
    field_name,
    normalize_long,
    snake_case,
    to_polars_frame,
)
from quantrl.errors import ConfigError, DataError

FrameLayout = Literal["auto", "long", "wide", "yfinance"]
LAYOUTS = ("auto", "long", "wide", "yfinance")

FIELD_LEVEL_NAMES = frozenset({"price", "field", "fields", "attribute", "feature", "variable"})
"""Names of a column level that holds fields (yfinance names it ``Price``)."""
SYMBOL_LEVEL_NAMES = frozenset({*SYMBOL_ALIASES, "symbols", "tickers"})
"""Names of a column level that holds symbols (yfinance names it ``Ticker``)."""

_TUPLE = re.compile(r"""^\(\s*(['"])(.*?)\1\s*,\s*(['"])(.*?)\3\s*\)$""")
_ADJUSTED = ("open", "high", "low")


def _shown(values: list[str], limit: int = 8) -> str:
    return ", ".join(values[:limit]) + (f", ... ({len(values)})" if len(values) > limit else "")


def frame_to_long(
    frame: Any,
    layout: FrameLayout = "auto",
    *,
    symbol: str | None = None,
    field: str | None = None,
    adjust: bool = False,
    date_format: str | None = None,
) -> pl.DataFrame:
    """A pandas or polars frame of any supported layout as a normalised long polars frame.

    The result has ``date`` (Datetime ns), ``symbol`` and one float64 column per field, named in
    lower snake case; see the module docstring for layouts, detection and ``adjust``.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if symbol is not None and (not isinstance(symbol, str) or not symbol.strip()):
        raise ConfigError(f"symbol must be a non-empty string, got {symbol!r}")
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pd.DataFrame | pl.DataFrame):
        raise DataError(
            f"expected a pandas or polars DataFrame, got {type(frame).__name__}", rule="dtype"
        )
    multi = _as_multi(frame)
    if multi is not None:
        if layout == "long":
            raise DataError(
                "layout='long' but the columns have two levels (a wide frame); use layout='wide'",
                rule="layout",
            )
        long = _multi_to_long(multi, layout, date_format)
    else:
        long = _drop_empty_bars(_flat_to_long(frame, layout, symbol, field, date_format))
    return adjust_prices(long) if adjust else long


def _as_multi(frame: pd.DataFrame | pl.DataFrame) -> pd.DataFrame | None:
    """The frame with two-level pandas columns when it has them (or tuple names), else None."""
    if isinstance(frame, pd.DataFrame):
        if isinstance(frame.columns, pd.MultiIndex):
            if frame.columns.nlevels != 2:
                raise DataError(
                    f"the columns have {frame.columns.nlevels} levels; expected two, "
                    "(field, symbol) or (symbol, field)",
                    rule="layout",
                )
            return frame
        return None
    parsed = {c: _TUPLE.match(c) for c in frame.columns}
    tuples = [c for c, m in parsed.items() if m]
    if not tuples:
        return None
    rest = [c for c in frame.columns if not parsed[c]]
    dates = [c for c in rest if snake_case(c) in DATE_ALIASES]
    if len(dates) != 1 or len(rest) != 1:
        raise DataError(
            "columns named like tuples (a pandas MultiIndex read by polars) need exactly one "
            f"date column beside them; other columns: {_shown(rest)}",
            rule="layout",
        )
    out = frame.select(tuples).to_pandas()
    out.columns = pd.MultiIndex.from_tuples(
        [(parsed[c].group(2), parsed[c].group(4)) for c in tuples]  # type: ignore[union-attr]
    )
    out.index = pd.Index(frame[dates[0]].to_pandas(), name="date")
    return out


def _blank(value: Any) -> bool:
    return (
        value is None
        or str(value).strip() in ("", "nan", "None")
        or str(value).startswith("Unnamed:")
    )


def _field_level(columns: pd.MultiIndex, layout: str) -> int:
    """0 or 1: which column level holds the fields (DataError when it cannot be told)."""
    levels = [[str(v) for v in dict.fromkeys(columns.get_level_values(k))] for k in (0, 1)]
    known = [[v for v in lv if field_name(v) in KNOWN_FIELDS] for lv in levels]
    full = [len(k) == len(lv) for k, lv in zip(known, levels, strict=True)]
    by_values: int | None = None
    if full[0] != full[1]:
        by_values = 0 if full[0] else 1
    elif not any(full) and bool(known[0]) != bool(known[1]):
        by_values = 0 if known[0] else 1
    names = [snake_case(n) if n is not None else "" for n in columns.names]
    by_names: int | None = None
    if names[0] in FIELD_LEVEL_NAMES and names[1] in SYMBOL_LEVEL_NAMES:
        by_names = 0
    elif names[1] in FIELD_LEVEL_NAMES and names[0] in SYMBOL_LEVEL_NAMES:
        by_names = 1
    if by_values is not None and by_names is not None and by_values != by_names:
        raise DataError(
            f"the column levels are named {columns.names} but level {by_values} holds the field "
            f"names ({_shown(levels[by_values])}); rename the levels or swap them",
            rule="layout",
        )
    level = by_values if by_values is not None else by_names
    if level is None:
        if any(known):
            detail = (
                f"both levels hold field names (level 0: {_shown(known[0])}; "
                f"level 1: {_shown(known[1])})"
            )
        else:
            detail = "neither level holds a known field name (open, high, low, close, volume, ...)"
        raise DataError(
            f"cannot tell which column level holds the fields: {detail}; name the levels, "
            "e.g. frame.columns.names = ['field', 'symbol']",
            rule="layout",
        )
    if layout == "yfinance" and by_values is None:
        raise DataError(
            "layout='yfinance' but no column level holds yfinance's field names "
            f"(Open, High, Low, Close, Adj Close, Volume); got {_shown(levels[0])} / "
            f"{_shown(levels[1])}",
            rule="layout",
        )
    return level


def _multi_to_long(frame: pd.DataFrame, layout: str, date_format: str | None) -> pl.DataFrame:
    """Long frame of a frame with (field, symbol) or (symbol, field) columns."""
    columns = frame.columns
    date_cols = [
        i
        for i, (a, b) in enumerate(columns)
        if (snake_case(a) in DATE_ALIASES and _blank(b))
        or (snake_case(b) in DATE_ALIASES and _blank(a))
    ]
    if len(date_cols) > 1:
        raise DataError("more than one date column", rule="layout")
    if date_cols:
        dates = frame.iloc[:, date_cols[0]].to_numpy()
        keep = [i for i in range(columns.size) if i != date_cols[0]]
        frame = frame.iloc[:, keep]
        columns = frame.columns
    elif isinstance(frame.index, pd.RangeIndex):
        raise DataError(
            "no dates: a wide frame needs a DatetimeIndex (as yfinance returns) or a Date column",
            rule="field missing",
        )
    else:
        dates = frame.index
    if columns.size == 0:
        raise DataError("the frame has no data columns", rule="field missing")
    level = _field_level(columns, layout)
    fields = [field_name(v) for v in columns.get_level_values(level)]
    symbols = [str(v) for v in columns.get_level_values(1 - level)]
    raw = [str(v) for v in columns.get_level_values(level)]
    spelled: dict[str, str] = {}
    for name, text in zip(fields, raw, strict=True):
        if spelled.setdefault(name, text) != text:
            raise DataError(
                f"fields {spelled[name]!r} and {text!r} are the same after normalisation "
                f"({name!r})",
                rule="field missing",
            )
        if name in KEY_COLUMNS or not name:
            raise DataError(f"{text!r} cannot be a field name", rule="layout")
    seen: set[tuple[str, str]] = set()
    for pair in zip(fields, symbols, strict=True):
        if pair in seen:
            raise DataError(
                f"column ({pair[0]}, {pair[1]}) appears twice",
                rule="duplicated row",
                symbol=pair[1],
            )
        seen.add(pair)
    order = list(dict.fromkeys(fields))
    by_symbol: dict[str, dict[str, int]] = {}
    for i, (f, s) in enumerate(zip(fields, symbols, strict=True)):
        by_symbol.setdefault(s, {})[f] = i
    date_values = pd.Series(dates, name="date").reset_index(drop=True)
    parts = []
    for sym, cols in by_symbol.items():
        part = pd.DataFrame({"date": date_values, "symbol": sym})
        for f in order:
            part[f] = (
                frame.iloc[:, cols[f]].reset_index(drop=True) if f in cols else np.float64("nan")
            )
        parts.append(part)
    long = normalize_long(pd.concat(parts, ignore_index=True), date_format=date_format)
    return _drop_empty_bars(long)


def _drop_empty_bars(long: pl.DataFrame) -> pl.DataFrame:
    """Rows whose fields are all missing (no bar in a date x symbol grid) removed."""
    values = [c for c in long.columns if c not in KEY_COLUMNS and long.schema[c].is_numeric()]
    if not values:
        return long
    empty = pl.all_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() for c in values])
    return long.filter(~empty)


def _flat_to_long(
    frame: pd.DataFrame | pl.DataFrame,
    layout: str,
    symbol: str | None,
    field: str | None,
    date_format: str | None,
) -> pl.DataFrame:
    """Long frame of a frame with one level of columns."""
    df = to_polars_frame(frame)
    names = {c: snake_case(c) for c in df.columns}
    has_symbol = any(n in SYMBOL_ALIASES for n in names.values())
    fields = [c for c, n in names.items() if field_name(n) in KNOWN_FIELDS]
    if layout == "wide" or (layout == "auto" and field is not None and not has_symbol):
        if field is None:
            raise DataError(
                "a wide frame with one level of columns (one column per symbol) holds one field: "
                "pass field='close' (or give it (field, symbol) MultiIndex columns)",
                rule="layout",
            )
        return _one_field_to_long(df, field_name(field), date_format)
    if layout == "yfinance" and not fields:
        raise DataError(
            "layout='yfinance' but no column is a yfinance field (Open, High, Low, Close, Adj "
            f"Close, Volume); columns: {_shown(list(df.columns))}",
            rule="layout",
        )
    if not has_symbol:
        if symbol is None:
            if layout == "auto" and not fields:
                raise DataError(
                    "cannot tell the layout: no symbol column (symbol, ticker, tic, ...), no "
                    f"field columns (open, close, ...) among {_shown(list(df.columns))}; for one "
                    "column per symbol pass field='close'",
                    rule="layout",
                )
            raise DataError(
                "one symbol's bars without a symbol column: pass symbol='AAPL' (or add a "
                "'symbol' column)",
                rule="field missing",
            )
        df = df.with_columns(pl.lit(symbol).alias("symbol"))
    elif symbol is not None:
        raise ConfigError("symbol= names the symbol of a frame without a symbol column")
    return normalize_long(df, date_format=date_format)


def _one_field_to_long(df: pl.DataFrame, field: str, date_format: str | None) -> pl.DataFrame:
    """Long frame of a date column plus one column per symbol, all values of ``field``."""
    date_cols = [c for c in df.columns if snake_case(c) in DATE_ALIASES]
    if len(date_cols) != 1:
        raise DataError(
            "a wide frame needs exactly one date column (or a DatetimeIndex); "
            f"found {len(date_cols)}",
            rule="field missing",
        )
    date = date_cols[0]
    symbols = [c for c in df.columns if c != date]
    if not symbols:
        raise DataError("the frame has no symbol columns", rule="field missing")
    long = df.unpivot(index=date, on=symbols, variable_name="symbol", value_name=field)
    return _drop_empty_bars(normalize_long(long.rename({date: "date"}), date_format=date_format))


def adjust_prices(long: pl.DataFrame) -> pl.DataFrame:
    """Open, high, low and close scaled by ``adj_close / close``; ``adj_close`` then dropped.

    This is yfinance's ``auto_adjust``: the adjusted close replaces the close and the other
    prices keep their ratio to it. Volume is left as it is.
    """
    missing = [c for c in ("close", "adj_close") if c not in long.columns]
    if missing:
        hint = (
            " (a frame downloaded with auto_adjust=True is adjusted already)"
            if "adj_close" in missing
            else ""
        )
        raise DataError(
            f"adjust=True needs close and adj_close; {', '.join(missing)} missing{hint}",
            rule="field missing",
        )
    ratio = pl.col("adj_close") / pl.col("close")
    scaled = [(pl.col(c) * ratio).alias(c) for c in _ADJUSTED if c in long.columns]
    return long.with_columns(*scaled, pl.col("adj_close").alias("close")).drop("adj_close")


__all__ = [
    "FIELD_LEVEL_NAMES",
    "LAYOUTS",
    "SYMBOL_LEVEL_NAMES",
    "FrameLayout",
    "adjust_prices",
    "frame_to_long",
]
