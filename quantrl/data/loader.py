"""``load_market``: one entry point from a bundled name, a file or ``yahoo:TICKERS`` to a Panel."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from quantrl.data.cache import CorruptCacheEntry, DiskCache, request_key
from quantrl.data.clean import forward_fill, gap_counts
from quantrl.data.layouts import FrameLayout, frame_to_long
from quantrl.data.panel import DateLike, Panel
from quantrl.data.providers import bundled, files, yahoo
from quantrl.data.serialize import panel_from_bytes, panel_to_bytes
from quantrl.data.validate import OnInvalid, ValidationReport, check_symbols, validate_long
from quantrl.errors import ConfigError, DataError

Fill = Literal["ffill"] | None
PANEL_NAMESPACE = "panels"
_LOADER_VERSION = 2  # 2: zoned daily dates keep their local date; infinite volume rule


def _build_panel(
    df: pl.DataFrame, report: ValidationReport, *, name: str, source: str, on_invalid: OnInvalid
) -> Panel:
    df, checked = validate_long(df, required=("close",), on_invalid=on_invalid)
    report.findings.extend(checked.findings)
    report.dropped_rows += checked.dropped_rows
    panel = Panel.from_long(df)
    gaps = gap_counts(panel)
    meta = {
        "name": name,
        "source": source,
        "cleaning": report.changes,
        "validation": [
            f"{f.rule}: {f.count} dropped, first {f.symbol} {str(f.date)[:19]}"
            for f in report.findings
        ],
        "gaps": sum(gaps.values()),
    }
    return panel.replace(meta=meta)


def _bundled_panel(name: str, on_invalid: OnInvalid, cache: DiskCache | None) -> Panel:
    spec = bundled.get_dataset(name)
    if not spec.path.exists():
        raise DataError(f"bundled file {spec.path} is missing", rule="missing file")
    stat = spec.path.stat()
    request = {
        "dataset": name,
        "file": spec.file,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "on_invalid": on_invalid,
        "version": _LOADER_VERSION,
    }
    key = request_key(request)
    if cache is not None:
        try:
            data = cache.get_bytes(PANEL_NAMESPACE, key)
        except CorruptCacheEntry:
            data = None  # discarded; rebuilt from the bundled file below
        if data is not None:
            try:
                return panel_from_bytes(data)
            except DataError:
                cache.discard(PANEL_NAMESPACE, key)
    df, report = bundled.read_bundled_long(name)
    panel = _build_panel(df, report, name=name, source=str(spec.path), on_invalid=on_invalid)
    if cache is not None:
        cache.put_bytes(PANEL_NAMESPACE, key, panel_to_bytes(panel), request)
    return panel


def load_market(
    source: str | Path | pd.DataFrame | pl.DataFrame,
    start: DateLike | None = None,
    end: DateLike | None = None,
    symbols: Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    *,
    on_invalid: OnInvalid = "raise",
    fill: Fill = None,
    cache: DiskCache | bool | None = None,
    use_cache: bool = True,
    offline: bool = False,
    downloader: yahoo.Downloader | None = None,
    date_format: str | None = None,
    layout: FrameLayout = "auto",
    adjust: bool = False,
) -> Panel:
    """Load a market panel from a bundled name, a file or folder, a DataFrame or ``"yahoo:AAPL"``.

    ``source`` is a bundled dataset name, a CSV/Parquet path (long, or wide with two column
    levels as ``to_parquet``/``to_csv`` write a yfinance frame), a folder of such files (one
    symbol a file, as Qlib's CSVs; or a Qlib binary folder), ``"yahoo:AAPL,MSFT"``, or your own
    pandas/polars DataFrame in any layout of ``quantrl.data.layouts`` (``layout="auto"``
    detects long, wide and yfinance frames and refuses ambiguous ones). Field names become lower
    snake case (``Adj Close`` -> ``adj_close``); ``adjust=True`` trades adjusted prices
    (open/high/low/close scaled by ``adj_close / close``, as yfinance's ``auto_adjust``).

    Every bar is validated (``on_invalid="raise"`` raises a DataError naming rule, symbol and date;
    ``"drop"`` removes failing bars and records them in ``panel.meta``). ``fill="ffill"`` forward-
    fills missing bars explicitly. Bundled panels are cached on disk after the first load;
    ``cache=False`` (or ``use_cache=False``) loads without the disk cache, Yahoo data included
    (then always downloaded), and a cache folder that cannot be written only costs a
    ``CacheWarning``. Yahoo data is otherwise downloaded only on a cache miss. File dates must be
    ISO 8601 unless ``date_format`` (``strptime`` codes, e.g. ``"%m/%d/%Y"``) is given; time
    zones follow ``quantrl.data.dates`` (daily bars keep their local date, intraday go to UTC).
    """
    if fill not in (None, "ffill"):
        raise ConfigError(f"fill must be None or 'ffill', got {fill!r}")
    if _is_frame(source):
        frame = frame_to_long(source, layout, adjust=adjust, date_format=date_format)
        panel = _build_panel(
            frame, ValidationReport(), name="frame", source="DataFrame", on_invalid=on_invalid
        )
        return _select(panel, start, end, symbols, fields, fill)
    if not isinstance(source, str | Path):
        raise ConfigError(
            "source must be a bundled name, a file path, 'yahoo:TICKERS' or a pandas/polars "
            f"DataFrame, got {type(source).__name__}"
        )
    text = str(source)
    disk = _disk_cache(cache, use_cache)
    if (adjust or layout != "auto") and (
        text in bundled.DATASETS or text.lower().startswith("yahoo:")
    ):
        raise ConfigError(
            "layout= and adjust= apply to files and DataFrames; bundled and Yahoo data are "
            "long and adjusted already"
        )
    if text in bundled.DATASETS:
        panel = _bundled_panel(text, on_invalid, disk)
        panel = panel.replace(meta={**panel.meta, **bundled.get_dataset(text).panel_meta})
    elif text.lower().startswith("yahoo:"):
        frame = yahoo.fetch_yahoo(
            text,
            start,
            end,
            cache=disk if disk is not None else False,
            downloader=downloader,
            offline=offline,
        )
        panel = _build_panel(
            frame, ValidationReport(), name=text, source="yahoo", on_invalid=on_invalid
        )
    elif files.is_file_source(text):
        frame = files.read_long_file(text, date_format=date_format, layout=layout, adjust=adjust)
        path = Path(text).expanduser()
        name = path.resolve().name if path.is_dir() else path.stem
        panel = _build_panel(
            frame, ValidationReport(), name=name, source=text, on_invalid=on_invalid
        )
    else:
        raise ConfigError(
            f"unknown market source {text!r}: use a bundled name ({', '.join(bundled.DATASETS)}), "
            "a .csv/.parquet path or folder, 'yahoo:TICKER,...', or a DataFrame"
        )
    return _select(panel, start, end, symbols, fields, fill)


def _is_frame(source: Any) -> bool:
    return isinstance(source, pd.DataFrame | pl.DataFrame | pl.LazyFrame)


def _select(
    panel: Panel,
    start: DateLike | None,
    end: DateLike | None,
    symbols: Sequence[str] | None,
    fields: Sequence[str] | None,
    fill: Fill,
) -> Panel:
    """The loaded panel restricted to symbols, fields and dates, then optionally filled."""
    if symbols is not None:
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        check_symbols(panel.symbols, wanted)
        panel = panel.select(wanted)
    if fields is not None:
        panel = panel.select_fields(fields)
    if start is not None or end is not None:
        panel = panel.slice(start, end)
    if symbols is not None or start is not None or end is not None:
        panel = _drop_empty_rows(panel)
    if fill == "ffill":
        panel, n = forward_fill(panel)
        panel = panel.replace(meta=dict(panel.meta, filled=n))
    return panel


def _disk_cache(cache: DiskCache | bool | None, use_cache: bool) -> DiskCache | None:
    """The cache a load uses: the one given, the default folder, or None (``cache=False``)."""
    if isinstance(cache, DiskCache):
        return cache
    if cache is None or cache is True:
        return DiskCache() if use_cache else None
    if cache is False:
        return None
    raise ConfigError(f"cache must be a DiskCache, True or False, got {cache!r}")


def _drop_empty_rows(panel: Panel) -> Panel:
    """Remove dates on which none of the selected symbols has a bar."""
    close = panel["close"] if "close" in panel.fields else next(iter(panel.fields.values()))
    keep = ~np.all(np.isnan(close), axis=1)
    if keep.all():
        return panel
    if not keep.any():
        raise DataError("no bars for the selected symbols in this range", rule="empty date range")
    return panel._take_rows(np.flatnonzero(keep)).replace(meta=dict(panel.meta))


def load_benchmark(
    panel: Panel, market: str | None = None, *, cache: DiskCache | bool | None = None
) -> np.ndarray | None:
    """Close of the market's bundled benchmark (e.g. DJIA for dow30) on ``panel.dates``, or None.

    Dates the benchmark lacks are NaN; ``market`` defaults to ``panel.meta["name"]``; ``cache``
    as in ``load_market``.
    """
    name = market or panel.name
    spec = bundled.DATASETS.get(name)
    if spec is None or spec.benchmark is None:
        return None
    bench = load_market(spec.benchmark, cache=cache)
    close = bench["close"][:, 0]
    pos = np.searchsorted(bench.dates, panel.dates)
    pos = np.clip(pos, 0, bench.n_dates - 1)
    hit = bench.dates[pos] == panel.dates
    return np.where(hit, close[pos], np.nan)
