"""Disk cache and the Yahoo provider, replaying a recorded yfinance frame (never the network)."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import polars as pl
import pytest

import quantrl
from quantrl import DataError
from quantrl.data.cache import CorruptCacheEntry, DiskCache
from quantrl.data.providers import yahoo


@pytest.fixture
def recorded(fixtures_dir):
    """A downloader that replays the recorded frame and counts its calls."""
    frame = pd.read_parquet(fixtures_dir / "yf_download_AAPL_MSFT_2020Q1.parquet")
    calls = []

    def download(tickers, start, end, interval):
        calls.append((tuple(tickers), start, end, interval))
        cols = frame.columns.get_level_values("Ticker").isin(tickers)
        return frame.loc[:, cols]

    download.calls = calls
    return download


@pytest.fixture
def no_network(monkeypatch):
    """Make any socket use or yfinance download raise."""

    def refuse(*args, **kwargs):
        raise AssertionError("network touched")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(yahoo, "yfinance_download", refuse)


def test_cache_round_trip_and_atomic_files(tmp_path):
    cache = DiskCache(tmp_path)
    frame = pl.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    cache.put_frame("ns", "k1", frame, {"q": 1})
    assert cache.get_frame("ns", "k1").equals(frame)
    assert cache.get_frame("ns", "missing") is None
    leftovers = [p for p in (tmp_path / "ns").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_cache_detects_corruption_and_removes_entry(tmp_path):
    cache = DiskCache(tmp_path)
    cache.put_bytes("ns", "k", b"hello world")
    blob = tmp_path / "ns" / "k.bin"
    blob.write_bytes(b"hello w0rld")
    with pytest.raises(CorruptCacheEntry, match="checksum"):
        cache.get_bytes("ns", "k")
    assert not blob.exists() and cache.get_bytes("ns", "k") is None


def test_interrupted_write_is_a_miss(tmp_path):
    cache = DiskCache(tmp_path)
    cache.put_bytes("ns", "k", b"data")
    (tmp_path / "ns" / "k.json").unlink()  # crash between blob and metadata
    assert cache.get_bytes("ns", "k") is None


def test_yahoo_frame_to_long_matches_recorded_values(recorded):
    long = yahoo.fetch_yahoo(
        "yahoo:AAPL,MSFT", "2020-01-02", "2020-04-01", cache=DiskCache(), downloader=recorded
    )
    raw = recorded(["AAPL", "MSFT"], None, None, "1d")
    aapl = long.filter(pl.col("symbol") == "AAPL").sort("date")
    np.testing.assert_allclose(aapl["close"].to_numpy(), raw[("Close", "AAPL")].to_numpy())
    np.testing.assert_allclose(aapl["volume"].to_numpy(), raw[("Volume", "AAPL")].to_numpy())
    assert set(long.columns) == {"date", "symbol", "open", "high", "low", "close", "volume"}


def test_cache_hit_never_touches_network(tmp_path, recorded, monkeypatch):
    cache = DiskCache(tmp_path)
    first = quantrl.load_market(
        "yahoo:AAPL,MSFT", "2020-01-02", "2020-04-01", cache=cache, downloader=recorded
    )
    assert len(recorded.calls) == 1
    monkeypatch.setattr(socket, "socket", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    monkeypatch.setattr(
        yahoo, "yfinance_download", lambda *a, **k: (_ for _ in ()).throw(AssertionError("network"))
    )
    second = quantrl.load_market("yahoo:MSFT,AAPL", "2020-01-02", "2020-04-01", cache=cache)
    assert second.equals(first) and first.symbols == ("AAPL", "MSFT")
    assert first.n_dates == 62


def test_corrupt_cache_entry_is_refetched(tmp_path, recorded):
    cache = DiskCache(tmp_path)
    quantrl.load_market("yahoo:AAPL", "2020-01-02", "2020-04-01", cache=cache, downloader=recorded)
    (blob,) = (tmp_path / "yahoo").glob("*.bin")
    blob.write_bytes(blob.read_bytes()[:-40] + b"\0" * 40)
    p = quantrl.load_market(
        "yahoo:AAPL", "2020-01-02", "2020-04-01", cache=cache, downloader=recorded
    )
    assert len(recorded.calls) == 2 and p.symbols == ("AAPL",)


def test_corrupt_cache_entry_offline_is_a_clear_error(tmp_path, recorded, no_network):
    cache = DiskCache(tmp_path)
    yahoo.fetch_yahoo("AAPL", "2020-01-02", "2020-04-01", cache=cache, downloader=recorded)
    (blob,) = (tmp_path / "yahoo").glob("*.bin")
    blob.write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt") as info:
        yahoo.fetch_yahoo("AAPL", "2020-01-02", "2020-04-01", cache=cache, offline=True)
    assert info.value.rule == "cache miss"


def test_download_failure_names_tickers(tmp_path):
    def broken(*args):
        raise ConnectionError("no route to host")

    with pytest.raises(DataError, match="AAPL.*no route") as info:
        yahoo.fetch_yahoo(
            "AAPL", "2020-01-02", "2020-04-01", cache=DiskCache(tmp_path), downloader=broken
        )
    assert info.value.rule == "download failed"


def test_unknown_ticker(tmp_path, recorded):
    with pytest.raises(DataError) as info:
        yahoo.fetch_yahoo(
            "AAPL,NOPE", "2020-01-02", "2020-04-01", cache=DiskCache(tmp_path), downloader=recorded
        )
    assert info.value.rule == "unknown symbol" and info.value.symbol == "NOPE"


def test_ticker_parsing():
    assert yahoo.parse_tickers("yahoo:aapl, msft,AAPL") == ["AAPL", "MSFT"]
    with pytest.raises(quantrl.ConfigError):
        yahoo.parse_tickers("yahoo:")
