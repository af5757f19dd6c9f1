"""Bring your own data: yfinance frames of every layout, FinRL frames, Qlib CSV and binary folders.

The yfinance frames are built the way yfinance 1.x builds them (one frame per ticker, concatenated
with keys=tickers and names=['Ticker', 'Price'], levels swapped and sorted for group_by='column');
nothing touches the network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from quantrl import DataError, Panel, load_market
from quantrl.data.layouts import frame_to_long

TICKERS = ("MSFT", "AAPL")  # yfinance keeps its own ticker order; the panel sorts symbols


def ticker_frame(seed: int, index: pd.DatetimeIndex, adj: bool = True) -> pd.DataFrame:
    """One ticker's bars as yfinance's history() returns them (auto_adjust=False: Adj Close)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(index))))
    open_ = close * np.exp(rng.normal(0, 0.003, len(index)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, len(index)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, len(index)))
    frame = pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close}, index=index)
    if adj:
        frame["Adj Close"] = close * np.linspace(0.9, 1.0, len(index))
    frame["Volume"] = rng.integers(1_000, 100_000, len(index)).astype(np.int64)
    return frame


def yf_download(
    group_by: str = "column", adj: bool = True, index: pd.DatetimeIndex | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(the frame yf.download returns, the per-ticker frames it was built from)."""
    if index is None:
        index = pd.bdate_range("2021-03-01", periods=30, name="Date")
    per = {t: ticker_frame(i, index, adj) for i, t in enumerate(TICKERS)}
    per["AAPL"] = per["AAPL"].drop(index[5])  # a missing bar: reindexed to NaN by the concat
    data = pd.concat(per.values(), axis=1, sort=True, keys=per.keys(), names=["Ticker", "Price"])
    if group_by == "column":
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    return data, per


def assert_matches(panel: Panel, per: dict[str, pd.DataFrame], mapping: dict[str, str]) -> None:
    """Every panel field equals the source column, NaN where the ticker had no bar."""
    assert panel.symbols == tuple(sorted(per))
    for j, sym in enumerate(panel.symbols):
        src = per[sym].reindex(pd.DatetimeIndex(panel.dates))
        for field, column in mapping.items():
            np.testing.assert_array_equal(panel[field][:, j], src[column].to_numpy(np.float64))


OHLCV = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}


@pytest.mark.parametrize("group_by", ["column", "ticker"])
@pytest.mark.parametrize("adj", [True, False])
def test_yfinance_layouts_load_the_same_panel(group_by, adj):
    data, per = yf_download(group_by, adj)
    panel = load_market(data)
    mapping = {**OHLCV, **({"adj_close": "Adj Close"} if adj else {})}
    assert set(panel.fields) == set(mapping)
    assert_matches(panel, per, mapping)
    assert np.isnan(panel["close"][5, panel.symbols.index("AAPL")])
    assert Panel.from_frame(data).equals(panel.replace(meta={}))


def test_both_layouts_give_identical_panels_and_from_pandas_wide_is_not_transposed():
    by_column, _ = yf_download("column")
    by_ticker, per = yf_download("ticker")
    a, b = Panel.from_pandas_wide(by_column), Panel.from_pandas_wide(by_ticker)
    assert a.equals(b)
    assert a.symbols == ("AAPL", "MSFT") and "adj_close" in a.fields
    assert_matches(b, per, OHLCV)


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_adjust_scales_ohlc_like_yfinance_auto_adjust():
    yf_utils = pytest.importorskip("yfinance.utils")
    data, per = yf_download("ticker", adj=True)
    panel = Panel.from_frame(data, adjust=True)
    assert "adj_close" not in panel.fields
    reference = {t: yf_utils.auto_adjust(f) for t, f in per.items()}
    for j, sym in enumerate(panel.symbols):
        ref = reference[sym].reindex(pd.DatetimeIndex(panel.dates))
        for field, column in OHLCV.items():
            np.testing.assert_allclose(panel[field][:, j], ref[column], rtol=1e-15)


def test_adjust_without_adj_close_is_refused():
    data, _ = yf_download("column", adj=False)
    with pytest.raises(DataError, match="auto_adjust=True is adjusted already"):
        load_market(data, adjust=True)


def test_single_ticker_flat_frame_needs_a_symbol():
    index = pd.bdate_range("2021-03-01", periods=20, name="Date")
    flat = ticker_frame(3, index)
    with pytest.raises(DataError, match="symbol='AAPL'"):
        Panel.from_frame(flat)
    panel = Panel.from_frame(flat, symbol="IBM", layout="yfinance")
    assert panel.symbols == ("IBM",)
    assert_matches(panel, {"IBM": flat}, {**OHLCV, "adj_close": "Adj Close"})
    # multi_level_index=True with one ticker: two levels, one symbol
    data = pd.concat([flat], axis=1, keys=["IBM"], names=["Ticker", "Price"])
    assert Panel.from_frame(data).equals(panel)


def test_tickers_named_like_fields():
    index = pd.bdate_range("2021-03-01", periods=10, name="Date")
    per = {"OPEN": ticker_frame(1, index), "AAPL": ticker_frame(2, index)}
    data = pd.concat(per.values(), axis=1, keys=per.keys())  # unnamed levels
    panel = Panel.from_frame(data)  # only the field level is all field names
    assert panel.symbols == ("AAPL", "OPEN")
    assert_matches(panel, per, OHLCV)
    per = {"OPEN": ticker_frame(1, index), "LOW": ticker_frame(2, index)}
    data = pd.concat(per.values(), axis=1, keys=per.keys())
    with pytest.raises(DataError, match="both levels hold field names"):
        Panel.from_frame(data)
    data.columns.names = ["Ticker", "Price"]  # as yfinance 1.x names them: now it can tell
    assert_matches(Panel.from_frame(data), per, OHLCV)


def test_ambiguous_headers_are_refused():
    index = pd.bdate_range("2021-03-01", periods=5)
    values = np.ones((5, 4))
    unknown = pd.DataFrame(
        values, index=index, columns=pd.MultiIndex.from_product([["a", "b"], ["x", "y"]])
    )
    with pytest.raises(DataError, match="cannot tell which column level holds the fields"):
        Panel.from_frame(unknown)
    named = unknown.copy()
    named.columns.names = ["field", "symbol"]
    assert Panel.from_frame(named).field_names == ("a", "b")
    both = pd.DataFrame(
        values,
        index=index,
        columns=pd.MultiIndex.from_product([["open", "close"], ["high", "low"]]),
    )
    with pytest.raises(DataError, match="both levels hold field names"):
        Panel.from_frame(both)
    data, _ = yf_download("column")
    data.columns.names = ["Ticker", "Price"]  # names contradict the values
    with pytest.raises(DataError, match="rename the levels or swap them"):
        Panel.from_frame(data)
    three = pd.DataFrame(
        values[:, :2],
        index=index,
        columns=pd.MultiIndex.from_tuples([("a", "b", "c"), ("a", "b", "d")]),
    )
    with pytest.raises(DataError, match="3 levels"):
        Panel.from_frame(three)
    with pytest.raises(DataError, match="layout='long'"):
        Panel.from_frame(yf_download()[0], layout="long")
    flat = pd.DataFrame({"A": [1.0, 2.0], "B": [3.0, 4.0]}, index=index[:2])
    with pytest.raises(DataError, match="cannot tell the layout"):
        Panel.from_frame(flat)
    with pytest.raises(DataError, match="no level of|yfinance's field names"):
        Panel.from_frame(named, layout="yfinance")


def test_one_field_wide_frame():
    index = pd.bdate_range("2021-03-01", periods=4, name="Date")
    frame = pd.DataFrame({"B": [1.0, 2.0, np.nan, 4.0], "A": [5.0, 6.0, 7.0, 8.0]}, index=index)
    panel = Panel.from_frame(frame, field="Close")
    assert panel.symbols == ("A", "B") and panel.field_names == ("close",)
    np.testing.assert_array_equal(panel["close"], frame[["A", "B"]].to_numpy())
    with pytest.raises(DataError, match="pass field='close'"):
        Panel.from_frame(frame, layout="wide")


def test_yfinance_parquet_and_csv_files_load(tmp_path):
    data, per = yf_download("ticker")
    data.to_parquet(tmp_path / "by_ticker.parquet")
    data.to_csv(tmp_path / "by_ticker.csv")
    by_column, _ = yf_download("column")
    by_column.to_csv(tmp_path / "by_column.csv")
    expected = Panel.from_frame(data)
    for name in ("by_ticker.parquet", "by_ticker.csv", "by_column.csv"):
        panel = load_market(tmp_path / name)
        assert panel.symbols == expected.symbols and set(panel.fields) == set(expected.fields)
        for f in expected.fields:
            np.testing.assert_allclose(panel[f], expected[f], rtol=1e-15, equal_nan=True)
    # the same parquet file read by polars names its columns "('AAPL', 'Close')"
    polars_frame = pl.read_parquet(tmp_path / "by_ticker.parquet")
    assert Panel.from_frame(polars_frame).equals(expected)


def test_recorded_yfinance_download_fixture(fixtures_dir):
    path = fixtures_dir / "yf_download_AAPL_MSFT_2020Q1.parquet"
    raw = pd.read_parquet(path)
    panel = load_market(path)
    assert panel.symbols == ("AAPL", "MSFT") and panel.n_dates == len(raw)
    for field in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(panel[field], raw[field.capitalize()][["AAPL", "MSFT"]])


def test_intraday_yfinance_frame_goes_to_utc():
    index = pd.date_range("2024-03-04 09:30", periods=390, freq="min", tz="America/New_York")
    index = index.append(index + pd.Timedelta(days=1)).rename("Datetime")
    data, per = yf_download("column", adj=False, index=index)
    panel = load_market(data)
    assert str(panel.dates[0]) == "2024-03-04T14:30:00.000000000"
    assert panel.periods_per_year == 390 * 252


def test_finrl_frame_with_tic_column_and_indicators():
    dates = pd.bdate_range("2021-01-04", periods=15).strftime("%Y-%m-%d")
    rows = []
    for k, tic in enumerate(("AXP", "AAPL")):
        close = 50.0 + k + np.arange(15)
        rows.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "tic": tic,
                    "open": close - 0.5,
                    "high": close + 1,
                    "low": close - 1,
                    "close": close,
                    "volume": 1e6,
                    "day": pd.bdate_range("2021-01-04", periods=15).day_of_week,
                    "macd": np.linspace(-1, 1, 15),
                    "rsi_30": np.linspace(30, 70, 15),
                }
            )
        )
    frame = pd.concat(rows).sort_values(["date", "tic"])
    frame.index = frame["date"].factorize()[0]  # FinRL's data_split index
    panel = load_market(frame)
    assert panel.symbols == ("AAPL", "AXP")
    assert {"macd", "rsi_30", "close"} <= set(panel.fields) and "index" not in panel.fields
    np.testing.assert_array_equal(panel["close"][:, 1], 50.0 + np.arange(15))
    np.testing.assert_array_equal(panel["macd"][:, 0], np.linspace(-1, 1, 15))
    assert Panel.from_frame(pl.from_pandas(frame.reset_index(drop=True))).equals(
        panel.replace(meta={})
    )


def qlib_csv(symbol: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-02", periods=12)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, 12)))
    frame = pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "open": close * 0.99,
            "close": close,
            "high": close * 1.01,
            "low": close * 0.98,
            "volume": rng.integers(100, 1000, 12).astype(float),
            "factor": 0.5,
        }
    )
    frame.loc[3 + seed, ["open", "close", "high", "low", "volume", "factor"]] = np.nan  # halted
    return frame


def test_qlib_csv_folder(tmp_path):
    sources = {"SH600000": qlib_csv("SH600000", 1), "SZ000001": qlib_csv("SZ000001", 2)}
    for sym, frame in sources.items():
        frame.to_csv(tmp_path / f"{sym}.csv", index=False)
    panel = load_market(tmp_path)
    assert panel.symbols == ("SH600000", "SZ000001") and panel.name == tmp_path.name
    assert set(panel.fields) == {"open", "close", "high", "low", "volume", "factor"}
    assert panel.n_dates == 12
    for j, sym in enumerate(panel.symbols):
        expected = sources[sym]["close"].to_numpy()
        np.testing.assert_allclose(panel["close"][:, j], expected, rtol=1e-15)
        assert np.isnan(panel["close"][3 + j + 1, j])
    # a symbol column in the files wins over the file name
    other = tmp_path / "with_symbol"
    other.mkdir()
    sources["SH600000"].assign(symbol="sh600000").to_csv(other / "a.csv", index=False)
    assert load_market(other).symbols == ("sh600000",)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .csv/.tsv/.parquet file"):
        load_market(tmp_path / "empty")


def test_qlib_binary_folder(tmp_path):
    calendar = pd.bdate_range("2020-01-02", periods=10)
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "day.txt").write_text("\n".join(calendar.strftime("%Y-%m-%d")) + "\n")
    (tmp_path / "instruments").mkdir()
    (tmp_path / "instruments" / "all.txt").write_text(
        "SH600000\t2020-01-02\t2020-01-15\nSZ000001\t2020-01-06\t2020-01-15\n"
    )
    values = {
        "sh600000": (0, np.linspace(10.0, 11.0, 10)),
        "sz000001": (2, np.linspace(5.0, 5.7, 8)),
    }
    for sym, (start, close) in values.items():
        folder = tmp_path / "features" / sym
        folder.mkdir(parents=True)
        for field, scale in (("close", 1.0), ("open", 0.99), ("high", 1.01), ("low", 0.98)):
            np.hstack([start, close * scale]).astype("<f").tofile(folder / f"{field}.day.bin")
        np.hstack([start, np.full(close.size, 2.0)]).astype("<f").tofile(folder / "factor.day.bin")
    panel = load_market(tmp_path)
    assert panel.symbols == ("SH600000", "SZ000001")
    assert panel.n_dates == 10 and set(panel.fields) == {"close", "open", "high", "low", "factor"}
    np.testing.assert_array_equal(panel["close"][:, 0], np.linspace(10.0, 11.0, 10).astype("<f"))
    assert np.isnan(panel["close"][:2, 1]).all()
    np.testing.assert_array_equal(panel["close"][2:, 1], np.linspace(5.0, 5.7, 8).astype("<f"))
    # a file that runs past the calendar is refused
    np.hstack([5, np.ones(9)]).astype("<f").tofile(
        tmp_path / "features" / "sh600000" / "close.day.bin"
    )
    with pytest.raises(DataError, match="run past the calendar"):
        load_market(tmp_path)


def test_frame_to_long_normalises_field_names():
    frame = pd.DataFrame(
        {
            "Date": ["2021-01-04", "2021-01-05"],
            "Ticker": ["X", "X"],
            "Adj Close": [1.0, 2.0],
            "Close": [1.0, 2.0],
            "Stock Splits": [0.0, 0.0],
        }
    )
    assert frame_to_long(frame).columns == ["date", "symbol", "adj_close", "close", "stock_splits"]
    collide = frame.assign(close=[3.0, 4.0])
    with pytest.raises(DataError, match="collide"):
        frame_to_long(collide)
