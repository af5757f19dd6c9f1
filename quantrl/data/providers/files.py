"""CSV and Parquet files and folders of them: long, wide (two header rows) or one symbol a file.

* A long file has one row per date and symbol (date column Date/date/datetime/timestamp/...,
  symbol column Ticker/symbol/tic/Name/...). A file without a symbol column holds one symbol,
  named after the file (``AAPL.csv`` -> ``AAPL``).
* A wide file has two column levels, fields and symbols in either order: what ``df.to_parquet``
  writes for a yfinance frame (MultiIndex columns kept in the pandas metadata) and what
  ``df.to_csv`` writes for it (two header rows, ``Price``/``Ticker``, then a ``Date`` row).
  ``quantrl.data.layouts`` detects which level holds the fields.
* A folder of CSV/Parquet files (Qlib's per-symbol CSVs, one file per symbol) is read file by
  file; a Qlib binary folder (``calendars/``, ``features/``) is read by ``quantrl.data.providers.qlib``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow.parquet as pq

from quantrl.data.frames import DATE_ALIASES, SYMBOL_ALIASES, snake_case
from quantrl.data.layouts import (
    FIELD_LEVEL_NAMES,
    SYMBOL_LEVEL_NAMES,
    FrameLayout,
    frame_to_long,
)
from quantrl.data.providers import qlib
from quantrl.errors import ConfigError, DataError

SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "None"]


def is_file_source(source: str) -> bool:
    """True when ``source`` looks like a path to a CSV/Parquet file or an existing folder."""
    path = Path(source).expanduser()
    return path.suffix.lower() in SUFFIXES or path.exists()


def _parquet_levels(path: Path) -> int:
    """Number of column levels recorded in a parquet file's pandas metadata (1 without any)."""
    try:
        meta = pq.read_schema(path).pandas_metadata or {}
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}", rule="corrupt file") from exc
    return max(len(meta.get("column_indexes") or []), 1)


def _csv_header_rows(path: Path, separator: str) -> int:
    """2 when a CSV starts with two header rows (pandas' MultiIndex columns), else 1."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=separator)
            rows = [row for _, row in zip(range(3), reader, strict=False)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}", rule="corrupt file") from exc
    if len(rows) < 3 or not all(rows[:3]):
        return 1
    first = [snake_case(r[0]) for r in rows[:2]]
    named = {first[0], first[1]} <= FIELD_LEVEL_NAMES | SYMBOL_LEVEL_NAMES and first[0] != first[1]
    date_row = snake_case(rows[2][0]) in DATE_ALIASES and not any(c.strip() for c in rows[2][1:])
    return 2 if named or (date_row and not first[0] and not first[1]) else 1


def read_frame(path: str | Path) -> Any:
    """The raw frame of a CSV/Parquet file: pandas for two column levels, else polars (text)."""
    path = Path(path).expanduser()
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"unsupported file type {path.suffix!r} (use .csv, .tsv or .parquet)")
    separator = "\t" if kind == "tsv" else ","
    try:
        if kind == "parquet":
            if _parquet_levels(path) >= 2:
                return pd.read_parquet(path)
            return pl.read_parquet(path)
        if _csv_header_rows(path, separator) == 2:
            return pd.read_csv(
                path,
                sep=separator,
                header=[0, 1],
                index_col=0,
                dtype=str,
                keep_default_na=False,
                na_values=NULL_VALUES,
            )
        return pl.read_csv(path, separator=separator, infer_schema=False, null_values=NULL_VALUES)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}", rule="corrupt file") from exc


def read_long_file(
    path: str | Path,
    *,
    date_format: str | None = None,
    layout: FrameLayout = "auto",
    adjust: bool = False,
) -> pl.DataFrame:
    """Read a CSV/Parquet file (or a folder of them) as a normalised long frame.

    Date columns may be called Date/date/datetime/timestamp; symbol columns Ticker/symbol/tic/Name.
    A file without a symbol column is read as one symbol named after the file. CSV cells are
    read as text and converted by ``normalize_long``: dates must be ISO 8601 unless
    ``date_format`` (``strptime`` codes, e.g. ``"%m/%d/%Y"``) is given, and a non-numeric cell in
    a numeric column is an error naming its column, symbol and date. Two column levels (a
    yfinance frame written by ``to_parquet``/``to_csv``) are read as a wide frame; ``layout`` and
    ``adjust`` as in ``quantrl.data.layouts.frame_to_long``.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"file {path} does not exist", rule="missing file")
    if path.is_dir():
        return read_folder(path, date_format=date_format, layout=layout, adjust=adjust)
    return _to_long(read_frame(path), path, layout=layout, adjust=adjust, date_format=date_format)


def _to_long(
    frame: Any, path: Path, *, layout: FrameLayout, adjust: bool, date_format: str | None
) -> pl.DataFrame:
    """Long frame of one file's frame; a flat file without a symbol column is named by its stem."""
    flat = isinstance(frame, pl.DataFrame) and not any(c.startswith("(") for c in frame.columns)
    names = {snake_case(c) for c in frame.columns} if flat else set()
    symbol = path.stem if flat and layout != "wide" and not names & set(SYMBOL_ALIASES) else None
    return frame_to_long(frame, layout, symbol=symbol, adjust=adjust, date_format=date_format)


def read_folder(
    path: str | Path,
    *,
    date_format: str | None = None,
    layout: FrameLayout = "auto",
    adjust: bool = False,
) -> pl.DataFrame:
    """Every CSV/Parquet file of a folder (not its subfolders) as one long frame, or a Qlib folder.

    Each file is read as ``read_long_file`` reads it (a file without a symbol column is one
    symbol named after the file, as in Qlib's per-symbol CSVs); fields missing from some files
    are null there. A folder with ``calendars/`` and ``features/`` is a Qlib binary dump.
    """
    path = Path(path).expanduser()
    if qlib.is_qlib_dir(path):
        frame = qlib.read_qlib_dir(path)
        return frame_to_long(frame, "long", adjust=adjust)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise DataError(
            f"folder {path} holds no .csv/.tsv/.parquet file (and is no Qlib data folder)",
            rule="missing file",
        )
    parts = []
    for file in files:
        try:
            frame = read_frame(file)
            parts.append(
                _to_long(frame, file, layout=layout, adjust=adjust, date_format=date_format)
            )
        except DataError as exc:
            text = str(exc).removeprefix(f"[{exc.rule}] ") if exc.rule else str(exc)
            error = DataError(f"{file.name}: {text}", rule=exc.rule)
            error.symbol, error.date = exc.symbol, exc.date
            raise error from exc
    return pl.concat(parts, how="diagonal_relaxed")
