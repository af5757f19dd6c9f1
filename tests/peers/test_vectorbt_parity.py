"""quantrl's backtester against vectorbt 1.2 on the bundled DOW30 closes."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from quantrl.backtest import run_grid, run_signals, run_weights

vbt = pytest.importorskip("vectorbt")

RTOL = 1e-9


@pytest.fixture(scope="module")
def close(dow30) -> pd.DataFrame:
    return pd.DataFrame(
        np.array(dow30["close"]), index=pd.DatetimeIndex(dow30.dates), columns=list(dow30.symbols)
    )


def vbt_orders(close, size, **kw):
    return vbt.Portfolio.from_orders(
        close,
        size=size,
        size_type="targetpercent",
        cash_sharing=True,
        call_seq="auto",
        group_by=True,
        freq="1D",
        **kw,
    )


def assert_rel(actual, expected, rtol=RTOL):
    rel = np.max(np.abs(np.asarray(actual) / np.asarray(expected) - 1.0))
    assert rel <= rtol, f"max relative difference {rel:.3e} > {rtol}"


@pytest.mark.parametrize(
    ("fees", "slippage", "fixed_fees"), [(0.001, 0.0005, 0.0), (0.002, 0.001, 5.0), (0.0, 0.0, 0.0)]
)
def test_random_weights_equal_from_orders(close, fees, slippage, fixed_fees):
    rng = np.random.default_rng(11)
    w = rng.dirichlet(np.ones(close.shape[1]), close.shape[0])  # fully invested: cash shortfalls
    res = run_weights(
        close, w, fees=fees, slippage=slippage, fixed_fees=fixed_fees, init_cash=1e6, lag=0
    )
    pf = vbt_orders(close, w, fees=fees, slippage=slippage, fixed_fees=fixed_fees, init_cash=1e6)
    assert_rel(res.equity, pf.value().to_numpy())
    # cash is ~0 when fully invested: compare it on the scale of equity
    assert np.max(np.abs(res.cash - pf.cash().to_numpy()) / res.equity) <= RTOL
    rec = pf.orders.values
    assert len(res.trades) == len(rec)
    order = np.lexsort((rec["col"], rec["idx"]))
    mine = np.lexsort((res.trades["asset"], res.trades["bar"]))
    np.testing.assert_array_equal(res.trades["bar"][mine], rec["idx"][order])
    np.testing.assert_array_equal(res.trades["asset"][mine], rec["col"][order])
    np.testing.assert_array_equal(res.trades["side"][mine], rec["side"][order])
    np.testing.assert_allclose(res.trades["size"][mine], rec["size"][order], rtol=1e-9)
    np.testing.assert_allclose(res.trades["price"][mine], rec["price"][order], rtol=1e-15)
    np.testing.assert_allclose(res.trades["fees"][mine], rec["fees"][order], rtol=1e-9, atol=1e-9)


def test_equal_weights_first_bar_shortfall(close):
    """Equal order values: the stable call sequence decides which buy is partly filled."""
    w = np.full(close.shape, 1.0 / close.shape[1])
    res = run_weights(close, w, fees=0.003, slippage=0.001, lag=0)
    pf = vbt_orders(close, w, fees=0.003, slippage=0.001, init_cash=1e6)
    assert_rel(res.equity, pf.value().to_numpy())
    np.testing.assert_allclose(res.positions, pf.assets().to_numpy(), rtol=1e-9)


def test_long_short_nan_weights_and_gaps(close):
    rng = np.random.default_rng(5)
    w = rng.normal(size=close.shape)
    w = w / np.abs(w).sum(axis=1, keepdims=True) * 1.6
    w[rng.random(close.shape) < 0.2] = np.nan  # no target: keep position
    w[::7] = np.nan  # rebalance some days only
    prices = close.copy()
    prices.iloc[100:130, 3] = np.nan  # a trading gap
    res = run_weights(prices, w, fees=0.001, slippage=0.001, lag=0, max_leverage=1.6)
    pf = vbt_orders(prices, w, fees=0.001, slippage=0.001, init_cash=1e6)
    assert_rel(res.equity, pf.value().to_numpy())
    np.testing.assert_allclose(res.positions, pf.assets().to_numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("execution", ["next_open", "next_close"])
def test_to_vectorbt_replays_the_same_run(dow30, execution):
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(dow30.n_symbols), dow30.n_dates)
    res = run_weights(dow30, w, fees=0.001, slippage=0.0005, execution=execution)
    pf = res.to_vectorbt()
    assert_rel(res.equity, pf.value().to_numpy())
    assert len(pf.orders.values) == len(res.trades)


def ma_signals(close, fast, slow):
    f = vbt.MA.run(close, fast)
    s = vbt.MA.run(close, slow)
    return f.ma_crossed_above(s).to_numpy(), f.ma_crossed_below(s).to_numpy()


@pytest.mark.parametrize(("fees", "slippage"), [(0.001, 0.0), (0.002, 0.001)])
def test_ma_crossover_signals_equal_from_signals(close, fees, slippage):
    entries, exits = ma_signals(close, 10, 30)
    n = close.shape[1]
    res = run_signals(close, entries, exits, fees=fees, slippage=slippage, init_cash=1e4 * n, lag=0)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, fees=fees, slippage=slippage, init_cash=1e4, freq="1D"
    )
    assert_rel(res.spec["sleeve_equity"], pf.value().to_numpy())
    assert_rel(res.equity, pf.value().to_numpy().sum(axis=1))
    assert len(res.trades) == len(pf.orders.values)
    # the replay through to_vectorbt is the same portfolio
    assert_rel(res.equity, res.to_vectorbt().value().to_numpy())


def test_long_short_signals_and_partial_size(close):
    entries, exits = ma_signals(close, 5, 20)
    n = close.shape[1]
    res = run_signals(
        close,
        entries,
        exits,
        short_entries=exits,
        short_exits=entries,
        fees=0.001,
        init_cash=1e4 * n,
        lag=0,
    )
    pf = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        short_entries=exits,
        short_exits=entries,
        fees=0.001,
        init_cash=1e4,
        freq="1D",
    )
    assert_rel(res.spec["sleeve_equity"], pf.value().to_numpy())
    half = run_signals(close, entries, exits, size=0.5, fees=0.001, init_cash=1e4 * n, lag=0)
    pf_half = vbt.Portfolio.from_signals(
        close, entries, exits, size=0.5, size_type="percent", fees=0.001, init_cash=1e4, freq="1D"
    )
    assert_rel(half.spec["sleeve_equity"], pf_half.value().to_numpy())


def test_ma_grid_equals_vectorbt(close):
    col = close.iloc[:, 0]
    fast, slow = [3, 5, 8, 13], [10, 20, 40]
    grid = run_grid(col, "ma_cross", {"fast": fast, "slow": slow}, fees=0.001, lag=0)
    combos = list(itertools.product(fast, slow))
    f = vbt.MA.run(col, [c[0] for c in combos])
    s = vbt.MA.run(col, [c[1] for c in combos])
    pf = vbt.Portfolio.from_signals(
        col,
        f.ma_crossed_above(s).to_numpy(),
        f.ma_crossed_below(s).to_numpy(),
        fees=0.001,
        init_cash=1e6,
        freq="1D",
    )
    np.testing.assert_allclose(
        grid["total_return"], pf.total_return().to_numpy(), rtol=1e-9, atol=1e-12
    )
    value = pf.value().to_numpy()
    r = np.vstack([value[:1] / 1e6 - 1, value[1:] / value[:-1] - 1])
    sharpe = r.mean(axis=0) / r.std(axis=0, ddof=1) * np.sqrt(252)
    np.testing.assert_allclose(grid["sharpe"], sharpe, rtol=1e-9)
    np.testing.assert_allclose(grid["max_drawdown"], pf.max_drawdown().to_numpy(), rtol=1e-9)
    np.testing.assert_array_equal(grid["n_trades"], pf.orders.count().to_numpy())


def test_deep_cash_shortfall_uses_the_full_call_sequence():
    """Heavy costs leave most buys short of cash: every buy runs in vectorbt's exact order."""
    rng = np.random.default_rng(9)
    close = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (40, 80)), axis=0)))
    w = rng.dirichlet(np.ones(80), 40)
    w[::3] = 1.0 / 80  # ties in order value on some bars
    res = run_weights(close, w, fees=0.3, slippage=0.01, fixed_fees=2.0, lag=0)
    pf = vbt_orders(close, w, fees=0.3, slippage=0.01, fixed_fees=2.0, init_cash=1e6)
    assert_rel(res.equity, pf.value().to_numpy())
    np.testing.assert_allclose(res.positions, pf.assets().to_numpy(), rtol=1e-9, atol=1e-12)
    assert len(res.trades) == len(pf.orders.values)


def test_signals_next_open_replay(dow30):
    close = pd.DataFrame(np.array(dow30["close"]), columns=list(dow30.symbols))
    entries, exits = ma_signals(close, 10, 30)
    res = run_signals(dow30, entries, exits, fees=0.001, slippage=0.0005)
    assert_rel(res.equity, res.to_vectorbt().value().to_numpy())


@pytest.mark.parametrize("seed", range(12))
def test_random_configurations(seed):
    """Random shapes, costs, long/short weights, NaN targets and price gaps."""
    rng = np.random.default_rng(100 + seed)
    n_bars, n = int(rng.integers(5, 60)), int(rng.integers(1, 12))
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.03, (n_bars, n)), axis=0))
    close[rng.random(close.shape) < 0.1] = np.nan
    w = rng.normal(size=(n_bars, n)) + rng.uniform(-0.5, 1.0)
    gross = rng.uniform(0.2, 2.0)
    w = w / np.abs(w).sum(axis=1, keepdims=True) * gross
    w[rng.random(w.shape) < 0.15] = np.nan
    costs = {
        "fees": float(rng.choice([0.0, 0.001, 0.01, 0.05])),
        "slippage": float(rng.choice([0.0, 0.002, 0.02])),
        "fixed_fees": float(rng.choice([0.0, 1.0, 50.0])),
    }
    init_cash = float(rng.choice([1e3, 1e6]))
    res = run_weights(close, w, lag=0, max_leverage=2.0, init_cash=init_cash, **costs)
    pf = vbt_orders(pd.DataFrame(close), w, init_cash=init_cash, **costs)
    assert_rel(res.equity, pf.value().to_numpy())
    assert len(res.trades) == len(pf.orders.values)
