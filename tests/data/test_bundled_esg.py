"""Bundled datasets, the S&P 500 cleaning policy, the panel cache, files and ESG alignment."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

import quantrl
from quantrl import ConfigError, DataError, Panel
from quantrl.data.cache import DiskCache
from quantrl.data.providers import bundled
from quantrl.data.providers.esg import LookAheadWarning, align_snapshots, attach_esg


def test_dow30_matches_the_raw_file(dow30):
    raw = pl.read_parquet(bundled.data_dir() / "us_dow30_daily.parquet")
    assert dow30.shape == (3522, 29)
    assert dow30.symbols == tuple(sorted(raw["symbol"].unique().to_list()))
    row = raw.filter((pl.col("symbol") == "AAPL") & (pl.col("date") == pl.datetime(2010, 1, 4)))
    j = dow30.symbols.index("AAPL")
    assert dow30["close"][0, j] == pytest.approx(row["close"][0])
    assert np.isfinite(dow30["close"]).all()


def test_sp500_cleaning_policy_is_reported():
    p = quantrl.load_market("sp500")
    notes = "\n".join(p.meta["cleaning"])
    assert "filled 11 missing open" in notes
    assert "set 8 missing high/low" in notes
    assert "widened 12 bar" in notes
    assert "kept 4 zero-volume" in notes
    j, i = p.symbols.index("DHR"), int(np.searchsorted(p.dates, np.datetime64("2016-01-12")))
    assert p["open"][i, j] == p["close"][i - 1, j]  # open := previous close
    high, low = p["high"], p["low"]
    ok = ~np.isnan(p["close"])
    assert (high[ok] >= np.maximum(p["open"], p["close"])[ok]).all()
    assert (low[ok] <= np.minimum(p["open"], p["close"])[ok]).all()


def test_panel_cache_warm_equals_cold_and_survives_corruption(tmp_path):
    cache = DiskCache(tmp_path)
    cold = quantrl.load_market("djia", cache=cache)
    (blob,) = (tmp_path / "panels").glob("*.bin")
    warm = quantrl.load_market("djia", cache=cache)
    assert warm.equals(cold)
    blob.write_bytes(b"\x00" * 100)
    rebuilt = quantrl.load_market("djia", cache=cache)
    assert rebuilt.equals(cold)


def test_selection_and_dates(dow30):
    p = quantrl.load_market("dow30", start="2020-01-01", end="2020-12-31", symbols=["MSFT", "AAPL"])
    assert p.symbols == ("MSFT", "AAPL") and str(p.dates[0])[:10] == "2020-01-02"
    np.testing.assert_array_equal(
        p["close"][:, 1], dow30.select(["AAPL"]).slice("2020", "2020-12-31")["close"][:, 0]
    )


def test_table_datasets_are_not_panels():
    with pytest.raises(ConfigError, match="not a market panel"):
        quantrl.load_market("esg_yahoo_2021")
    with pytest.raises(ConfigError, match="unknown market source"):
        quantrl.load_market("nasdaq9000")


def test_minute_datasets_load_and_resample():
    p = quantrl.load_market("crypto_minute")
    hourly = p.resample("1h")
    assert hourly.n_dates < p.n_dates / 50
    first_hour = p.slice(hourly.dates[1], hourly.dates[2] - np.timedelta64(1, "m"))
    assert hourly["high"][1, 0] == first_hour["high"].max()
    assert hourly["volume"][1, 0] == pytest.approx(first_hour["volume"].sum())


def test_flexible_columns_parquet_and_tsv(tmp_path, dow30):
    frame = dow30.select(["AAPL", "KO"]).slice("2015-01-01", "2015-03-31").to_polars("long")
    renamed = frame.rename({"date": "Date", "symbol": "Ticker", "close": "Close"})
    renamed.write_parquet(tmp_path / "x.parquet")
    renamed.write_csv(tmp_path / "x.tsv", separator="\t")
    a = quantrl.load_market(tmp_path / "x.parquet")
    b = quantrl.load_market(str(tmp_path / "x.tsv"))
    expected = dow30.select(["AAPL", "KO"]).slice("2015-01-01", "2015-03-31")
    np.testing.assert_allclose(a["close"], expected["close"])
    np.testing.assert_allclose(b["close"], expected["close"])
    single = frame.filter(pl.col("symbol") == "KO").drop("symbol")
    single.write_csv(tmp_path / "KO.csv")
    assert quantrl.load_market(tmp_path / "KO.csv").symbols == ("KO",)


def test_esg_visible_only_from_publication(dow30):
    p = attach_esg(dow30, sources=("esg_yahoo_2021",))
    q = p["esg_quality"]
    i = int(np.searchsorted(p.dates, np.datetime64("2021-03-03")))
    assert np.isnan(q[:i]).all()  # nothing before the 2021-03-03 snapshot
    assert np.isfinite(q[i:]).any(axis=0).sum() == 18  # 18 DOW30 names are in that snapshot
    j = p.symbols.index("AAPL")
    table = bundled.read_table("esg_yahoo_2021")
    risk = table.filter(pl.col("symbol") == "AAPL")["esgscore_tot"][0]
    assert q[i, j] == pytest.approx(100 - risk)


def test_esg_alignment_does_not_look_ahead():
    dates = np.array(
        ["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01"], dtype="datetime64[ns]"
    )
    panel = Panel(dates, ("A",), {"close": np.ones((4, 1))})
    snaps = pl.DataFrame(
        {"symbol": ["A", "A"], "as_of": dates[[1, 3]], "esg_quality": [70.0, 80.0]}
    )
    out = align_snapshots(panel, snaps)
    np.testing.assert_array_equal(out[:, 0], [np.nan, 70, 70, 80])
    future = snaps.with_columns(
        pl.when(pl.col("as_of") == dates[3])
        .then(5.0)
        .otherwise(pl.col("esg_quality"))
        .alias("esg_quality")
    )
    np.testing.assert_array_equal(align_snapshots(panel, future)[:3], out[:3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        static = align_snapshots(panel, snaps, static=True)
    assert any(issubclass(w.category, LookAheadWarning) for w in caught)
    assert (static == 80).all()


def test_missing_bundled_file_is_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTRL_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="missing"):
        quantrl.load_market("dow30", use_cache=False)
