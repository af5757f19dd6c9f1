"""Round trips (vectorbt's exit trades) and the trade statistics built on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import BacktestResult, run_signals, run_weights
from quantrl.kernels.portfolio import TRADE_DTYPE


def result_from_fills(close: np.ndarray, fills: list[tuple[int, int, float, float, float, int]]):
    """A BacktestResult holding the given fills (bar, asset, size, price, fees, side)."""
    trades = np.array(fills, dtype=TRADE_DTYPE)
    n_bars, n = close.shape
    return BacktestResult(
        dates=None,
        symbols=tuple(f"S{j}" for j in range(n)),
        equity=np.full(n_bars, 100.0),
        cash=np.full(n_bars, 100.0),
        positions=np.zeros((n_bars, n)),
        close=close,
        exec_prices=close,
        trades=trades,
        init_cash=100.0,
    )


def test_hand_computed_round_trips():
    """Adds, partial exits, a reversal and an open position, computed by hand."""
    close = np.arange(1.0, 7.0)[:, None]
    buy, sell = 0, 1

    def fill(bar, size, side):
        price = close[bar, 0] * (1.01 if side == buy else 0.99)  # 1% slippage
        return (bar, 0, size, price, 0.01 * size * price, side)

    fills = [fill(0, 1, buy), fill(1, 0.1, buy), fill(2, 1, sell), fill(3, 0.1, sell)]
    fills += [fill(4, 1, buy), fill(5, 2, sell)]
    res = result_from_fills(close, fills)
    trips = res.round_trips()
    entry = (1 * 1.01 + 0.1 * 2.02) / 1.1
    entry_fees = 0.01 * 1.01 + 0.01 * 0.1 * 2.02
    exits = [(1.0, 2.97, 0.01 * 2.97), (0.1, 3.96, 0.01 * 0.1 * 3.96)]
    for row, (size, price, fee) in zip(trips.to_dict("records"), exits, strict=False):
        share = entry_fees * size / 1.1
        assert row["size"] == pytest.approx(size, rel=1e-12)
        assert row["entry_price"] == pytest.approx(entry, rel=1e-12)
        assert row["entry_fees"] == pytest.approx(share, rel=1e-12)
        assert row["exit_price"] == pytest.approx(price, rel=1e-15)
        assert row["exit_fees"] == pytest.approx(fee, rel=1e-12)
        pnl = size * (price - entry) - share - fee
        assert row["pnl"] == pytest.approx(pnl, rel=1e-12)
        assert row["return"] == pytest.approx(pnl / (size * entry), rel=1e-12)
    # bar 5 sells 2 of a 1-unit long: closes it, opens a 1-unit short with the rest
    reversal_fees = 0.01 * 2 * 5.94
    third, fourth = trips.iloc[2], trips.iloc[3]
    assert (third["entry_date"], third["exit_date"], third["status"]) == (4, 5, "closed")
    assert third["exit_fees"] == pytest.approx(reversal_fees / 2, rel=1e-12)
    assert third["pnl"] == pytest.approx(5.94 - 5.05 - 0.01 * 5.05 - reversal_fees / 2, rel=1e-12)
    assert (fourth["direction"], fourth["status"], fourth["size"]) == ("short", "open", 1.0)
    assert fourth["entry_fees"] == pytest.approx(reversal_fees / 2, rel=1e-12)
    assert fourth["exit_price"] == 6.0 and fourth["exit_fees"] == 0.0
    assert fourth["pnl"] == pytest.approx(-(6.0 - 5.94) - reversal_fees / 2, rel=1e-12)
    assert list(trips["bars"]) == [2, 3, 1, 0]
    assert res.to_pandas("round_trips").equals(trips)


def test_round_trip_pnl_adds_up_to_the_profit(dow30):
    rng = np.random.default_rng(3)
    w = rng.normal(size=(dow30.n_dates, dow30.n_symbols))
    w = w / np.abs(w).sum(axis=1, keepdims=True)
    w[rng.random(w.shape) < 0.6] = np.nan
    res = run_weights(dow30, w, fees=0.001, slippage=0.0005, fixed_fees=1.0, max_leverage=1.0)
    trips = res.round_trips()
    assert set(trips["status"]) == {"open", "closed"} and set(trips["direction"]) == {
        "long",
        "short",
    }
    assert trips["pnl"].sum() == pytest.approx(res.equity[-1] - res.init_cash, rel=1e-9)
    assert trips["fees"].sum() == pytest.approx(res.total_fees, rel=1e-9)
    assert (trips.groupby("symbol")["status"].apply(lambda s: (s == "open").sum()) <= 1).all()
    assert isinstance(trips["entry_date"].iloc[0], pd.Timestamp)


def test_trade_stats_from_the_round_trip_table(dow30):
    close = dow30["close"]
    fast = pd.DataFrame(close).rolling(5).mean().to_numpy()
    slow = pd.DataFrame(close).rolling(20).mean().to_numpy()
    up = np.nan_to_num(fast - slow) > 0
    entries = up & ~np.vstack([up[:1], up[:-1]])
    exits = ~up & np.vstack([up[:1], up[:-1]])
    res = run_signals(dow30, entries, exits, short_entries=exits, short_exits=entries, fees=0.002)
    trips = res.round_trips()
    closed = trips[trips["status"] == "closed"]
    stats = res.stats()
    wins, losses = closed[closed["pnl"] > 0], closed[closed["pnl"] < 0]
    assert stats["Total trades"] == len(trips)
    assert stats["Total closed trades"] == len(closed)
    assert stats["Total open trades"] == (trips["status"] == "open").sum()
    assert stats["Win rate"] == pytest.approx(len(wins) / len(closed), rel=1e-12)
    assert stats["Best trade"] == pytest.approx(closed["return"].max(), rel=1e-12)
    assert stats["Worst trade"] == pytest.approx(closed["return"].min(), rel=1e-12)
    assert stats["Avg winning trade"] == pytest.approx(wins["return"].mean(), rel=1e-12)
    assert stats["Avg losing trade"] == pytest.approx(losses["return"].mean(), rel=1e-12)
    pf = wins["pnl"].sum() / -losses["pnl"].sum()
    assert stats["Profit factor"] == pytest.approx(pf, rel=1e-12)
    assert stats["Expectancy"] == pytest.approx(closed["pnl"].mean(), rel=1e-9)
    assert stats["Total fees paid"] == pytest.approx(res.trades["fees"].sum(), rel=1e-12)
    assert stats["Start"] == pd.Timestamp(dow30.dates[0])
    assert stats["Period"] == pd.Timestamp(dow30.dates[-1]) - pd.Timestamp(dow30.dates[0])
    assert stats["End value"] == res.equity[-1] and stats["Start value"] == res.init_cash
    assert stats["Sharpe ratio"] == res.stats()["Sharpe ratio"]  # the summary rows are kept
    gross = np.abs(np.nan_to_num(res.weights)).sum(axis=1).max()
    assert stats["Max gross exposure"] == pytest.approx(gross, rel=1e-12)


def test_no_trades_and_no_dates():
    close = np.linspace(10, 11, 20)[:, None]
    res = run_weights(close, np.full((20, 1), np.nan), lag=0)
    stats = res.trade_stats()
    assert stats["Total trades"] == 0 and np.isnan(stats["Win rate"])
    assert np.isnan(stats["Profit factor"]) and np.isnan(stats["Expectancy"])
    assert (stats["Start"], stats["End"], stats["Period"]) == (0, 19, 20)
    assert res.round_trips().empty


def test_benchmark_return_row(dow30):
    w = np.full(dow30.shape, 1.0 / dow30.n_symbols)
    res = run_weights(dow30, w, benchmark=dow30["close"][:, 0])
    close = dow30["close"][:, 0]
    assert res.stats()["Benchmark return"] == pytest.approx(close[-1] / close[0] - 1, rel=1e-12)
    assert "Benchmark return" not in run_weights(dow30, w).stats().index
