"""Qlib's binary data folder (what ``scripts/dump_bin.py`` writes) as a long frame.

Layout: ``calendars/<freq>.txt`` lists the dates (one a line, ``YYYY-MM-DD`` or ``YYYYMMDD``,
with a time for intraday frequencies); ``features/<symbol>/<field>.<freq>.bin`` holds
little-endian float32 values: the first is the index in the calendar of the first value, the
rest one value per calendar date from there. ``instruments/all.txt`` (``SYMBOL<TAB>start<TAB>
end``) gives the symbols' spelling (feature folders are lower case); without it they are upper-
cased. Values are read as numbers only (nothing in the folder is executed).

Qlib's prices are adjusted (and, from its Yahoo collector, scaled so the first close is 1);
``factor`` is the adjusted price over the raw price, so the raw close is ``close / factor``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from quantrl.data.dates import parse_dates
from quantrl.errors import DataError

DEFAULT_FREQ = "day"


def is_qlib_dir(path: Path) -> bool:
    """True for a folder with ``calendars/`` and ``features/`` subfolders."""
    return (path / "calendars").is_dir() and (path / "features").is_dir()


def _calendar(path: Path, freq: str) -> np.ndarray:
    """The calendar of ``freq`` as datetime64[ns]."""
    file = path / "calendars" / f"{freq}.txt"
    if not file.is_file():
        found = sorted(p.stem for p in (path / "calendars").glob("*.txt"))
        raise DataError(
            f"Qlib folder {path} has no calendars/{freq}.txt (frequencies: {', '.join(found)})",
            rule="missing file",
        )
    lines = [line.strip() for line in file.read_text().splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{file} is empty", rule="empty date range")
    dates = parse_dates(pl.Series("date", lines), column=f"calendars/{freq}.txt")
    return dates.to_numpy().astype("datetime64[ns]")


def _spellings(path: Path) -> dict[str, str]:
    """Lower-case symbol -> its spelling in ``instruments/all.txt`` (empty when absent)."""
    file = path / "instruments" / "all.txt"
    if not file.is_file():
        return {}
    out = {}
    for line in file.read_text().splitlines():
        name = line.split("\t")[0].strip()
        if name:
            out[name.lower()] = name
    return out


def _values(file: Path, n_dates: int) -> tuple[int, np.ndarray]:
    """(first calendar index, float64 values) of one ``.bin`` file."""
    raw = np.fromfile(file, dtype="<f4")
    if raw.size == 0:
        return 0, np.empty(0)
    start = float(raw[0])
    if not np.isfinite(start) or start < 0 or start != int(start):
        raise DataError(f"{file}: first value {start} is not a calendar index", rule="corrupt file")
    first = int(start)
    if first + raw.size - 1 > n_dates:
        raise DataError(
            f"{file}: {raw.size - 1} values from calendar index {first} run past the calendar "
            f"({n_dates} dates)",
            rule="corrupt file",
        )
    return first, raw[1:].astype(np.float64)


def read_qlib_dir(path: str | Path, freq: str = DEFAULT_FREQ) -> pl.DataFrame:
    """A Qlib binary folder as a long frame (date, symbol, one column per field)."""
    path = Path(path).expanduser()
    if not is_qlib_dir(path):
        raise DataError(f"{path} is not a Qlib data folder (calendars/, features/)", rule="layout")
    dates = _calendar(path, freq)
    spell = _spellings(path)
    suffix = f".{freq}.bin"
    parts = []
    for folder in sorted(p for p in (path / "features").iterdir() if p.is_dir()):
        files = sorted(folder.glob(f"*{suffix}"))
        if not files:
            continue
        columns: dict[str, np.ndarray] = {}
        for file in files:
            first, values = _values(file, dates.size)
            column = np.full(dates.size, np.nan)
            column[first : first + values.size] = values
            columns[file.name[: -len(suffix)]] = column
        stacked = np.column_stack(list(columns.values()))
        rows = np.flatnonzero(~np.isnan(stacked).all(axis=1))
        symbol = spell.get(folder.name.lower(), folder.name.upper())
        part = {"date": dates[rows], "symbol": np.full(rows.size, symbol)}
        part.update({k: v[rows] for k, v in columns.items()})
        parts.append(pl.DataFrame(part))
    if not parts:
        raise DataError(f"no features/*/*{suffix} file in {path}", rule="missing file")
    return pl.concat(parts, how="diagonal_relaxed")
