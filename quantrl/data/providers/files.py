"""CSV and Parquet files in long format (one row per date and symbol), with flexible column names."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quantrl.data.frames import SYMBOL_ALIASES, normalize_long, snake_case
from quantrl.errors import ConfigError, DataError

SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def is_file_source(source: str) -> bool:
    """True when ``source`` looks like a path to a CSV/Parquet file."""
    return Path(source).suffix.lower() in SUFFIXES or Path(source).exists()


def read_long_file(path: str | Path, *, date_format: str | None = None) -> pl.DataFrame:
    """Read a long CSV/Parquet file and normalise its columns (date, symbol, snake_case fields).

    Date columns may be called Date/date/datetime/timestamp; symbol columns Ticker/symbol/tic/Name.
    A file without a symbol column is read as one symbol named after the file. CSV cells are
    read as text and converted by ``normalize_long``: dates must be ISO 8601 unless
    ``date_format`` (``strptime`` codes, e.g. ``"%m/%d/%Y"``) is given, and a non-numeric cell in
    a numeric column is an error naming its column, symbol and date.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"file {path} does not exist", rule="missing file")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file", rule="missing file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"unsupported file type {path.suffix!r} (use .csv, .tsv or .parquet)")
    try:
        if kind == "parquet":
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(
                path,
                separator="\t" if kind == "tsv" else ",",
                infer_schema=False,
                null_values=["", "NA", "N/A", "NaN", "nan", "null", "None"],
            )
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}", rule="corrupt file") from exc
    if not {snake_case(c) for c in df.columns} & set(SYMBOL_ALIASES):
        df = df.with_columns(pl.lit(path.stem).alias("symbol"))
    return normalize_long(df, date_format=date_format)
