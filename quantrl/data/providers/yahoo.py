"""Yahoo Finance through yfinance, behind the content-addressed disk cache.

The network is touched only on a cache miss (or after a corrupt entry was discarded). Tests replay
recorded yfinance-shaped frames through the ``downloader`` argument.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pandas as pd
import polars as pl
import yfinance as yf

from quantrl.data.cache import CorruptCacheEntry, DiskCache, request_key
from quantrl.data.layouts import frame_to_long
from quantrl.errors import ConfigError, DataError

Downloader = Callable[..., pd.DataFrame]
NAMESPACE = "yahoo"


def parse_tickers(spec: str | Sequence[str]) -> list[str]:
    """``"yahoo:AAPL,MSFT"`` or ``"AAPL, MSFT"`` or a list -> upper-cased unique tickers, in order."""
    if isinstance(spec, str):
        text = spec.split(":", 1)[1] if spec.lower().startswith("yahoo:") else spec
        items = text.replace(" ", ",").split(",")
    else:
        items = list(spec)
    tickers = list(dict.fromkeys(t.strip().upper() for t in items if t and t.strip()))
    if not tickers:
        raise ConfigError(f"no tickers in {spec!r} (expected e.g. 'yahoo:AAPL,MSFT')")
    return tickers


class _ErrorLog(logging.Handler):
    """Collects yfinance's error log lines (it reports failed tickers there, not by raising)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().strip())


def yfinance_download(
    tickers: list[str], start: str | None, end: str | None, interval: str
) -> pd.DataFrame:
    """Call ``yfinance.download`` (the only function here that touches the network)."""

    log = _ErrorLog()
    logger = logging.getLogger("yfinance")
    logger.addHandler(log)
    try:
        frame = yf.download(
            tickers,
            start=start,
            end=end,
            interval=interval,
            auto_adjust=True,
            actions=False,
            progress=False,
            group_by="column",
            multi_level_index=True,
            threads=True,
        )
    finally:
        logger.removeHandler(log)
    if (frame is None or len(frame) == 0) and log.lines:
        raise ConnectionError("yfinance: " + " | ".join(line for line in log.lines if line)[:400])
    return frame


def yahoo_frame_to_long(raw: pd.DataFrame, tickers: Sequence[str]) -> pl.DataFrame:
    """Turn ``yf.download`` output (MultiIndex (Price, Ticker) or (Ticker, Price)) into a long frame."""
    if raw is None or len(raw) == 0:
        raise DataError(
            f"Yahoo returned no data for {', '.join(tickers)} (unknown ticker or empty range)",
            rule="unknown symbol",
            symbol=tickers[0] if tickers else None,
        )
    if isinstance(raw.columns, pd.MultiIndex):
        out = frame_to_long(raw, "yfinance")
    elif len(tickers) == 1:
        out = frame_to_long(raw, "yfinance", symbol=tickers[0])
    else:
        raise DataError("expected MultiIndex (Price, Ticker) columns from yfinance", rule="shape")
    present = set(out["symbol"].unique().to_list())
    missing = [t for t in tickers if t not in present]
    if missing:
        raise DataError(
            f"Yahoo returned no bars for {', '.join(missing)} (unknown or delisted ticker?)",
            rule="unknown symbol",
            symbol=missing[0],
        )
    return out.sort("symbol", "date")


def _date_str(value: Any) -> str | None:
    if value is None:
        return None
    return str(pd.Timestamp(value).date())


def fetch_yahoo(
    tickers: str | Sequence[str],
    start: Any = None,
    end: Any = None,
    *,
    interval: str = "1d",
    cache: DiskCache | Literal[False] | None = None,
    downloader: Downloader | None = None,
    offline: bool = False,
) -> pl.DataFrame:
    """Long OHLCV frame for ``tickers`` from the cache, downloading only on a miss.

    ``end=None`` means "up to today" and is resolved to today's date, so the cache entry is
    refreshed once a day. A corrupt cache entry is discarded and refetched; when ``offline`` (or the
    download fails) a clear DataError says what is missing. ``cache=False`` always downloads and
    stores nothing.
    """
    names = parse_tickers(tickers)
    store = None if cache is False else (cache if cache is not None else DiskCache())
    start_s = _date_str(start)
    end_s = _date_str(end) if end is not None else str(dt.date.today())
    request = {
        "provider": "yahoo",
        "tickers": sorted(names),
        "start": start_s,
        "end": end_s,
        "interval": interval,
        "auto_adjust": True,
        "version": 1,
    }
    key = request_key(request)
    problem = ""
    try:
        cached = store.get_frame(NAMESPACE, key) if store is not None else None
    except CorruptCacheEntry as exc:
        cached, problem = None, f"the cached copy was corrupt and has been removed ({exc}); "
    if cached is not None:
        return cached
    if offline:
        raise DataError(
            f"{problem}no cached Yahoo data for {', '.join(names)} {start_s}..{end_s} "
            "and offline=True; run `quantrl data fetch` with network access first",
            rule="cache miss",
            symbol=names[0],
        )
    fetch = downloader or yfinance_download
    try:
        raw = fetch(names, start_s, end_s, interval)
    except Exception as exc:
        raise DataError(
            f"{problem}downloading {', '.join(names)} from Yahoo failed: {exc}",
            rule="download failed",
            symbol=names[0],
        ) from exc
    frame = yahoo_frame_to_long(raw, names)
    if store is not None:
        store.put_frame(NAMESPACE, key, frame, request)
    return frame
