"""CSV and Parquet files in long format (one row per date and symbol), with flexible column names."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quantrl.data.frames import DATE_ALIASES, SYMBOL_ALIASES, normalize_long, snake_case
from quantrl.errors import ConfigError, DataError

SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def is_file_source(source: str) -> bool:
    """True when ``source`` looks like a path to a CSV/Parquet file."""
    return Path(source).suffix.lower() in SUFFIXES or Path(source).exists()


def read_long_file(path: str | Path) -> pl.DataFrame:
    """Read a long CSV/Parquet file and normalise its columns (date, symbol, snake_case fields).

    Date columns may be called Date/date/datetime/timestamp; symbol columns Ticker/symbol/tic/Name.
    A file without a symbol column is read as one symbol named after the file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"file {path} does not exist", rule="missing file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"unsupported file type {path.suffix!r} (use .csv, .tsv or .parquet)")
    try:
        if kind == "parquet":
            df = pl.read_parquet(path)
        else:
            separator = "\t" if kind == "tsv" else ","
            nulls = ["", "NA", "NaN", "nan", "null", "None"]
            sample = pl.read_csv(
                path, separator=separator, n_rows=1000, try_parse_dates=True, null_values=nulls
            )
            keys = set(DATE_ALIASES) | set(SYMBOL_ALIASES)
            numeric = {
                c: pl.Float64
                for c, dtype in sample.schema.items()
                if dtype.is_numeric() and snake_case(c) not in keys
            }
            df = pl.read_csv(
                path,
                separator=separator,
                try_parse_dates=True,
                schema_overrides=numeric,
                null_values=nulls,
            )
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}", rule="corrupt file") from exc
    lowered = {c.lower().strip() for c in df.columns}
    if not lowered & {"symbol", "ticker", "tic", "name", "code", "instrument", "asset", "stock"}:
        df = df.with_columns(pl.lit(path.stem).alias("symbol"))
    return normalize_long(df)
