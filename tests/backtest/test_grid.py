"""run_grid against per-combination run_signals on signals built with pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numba import njit

from quantrl.backtest import run_grid, run_signals
from quantrl.errors import ConfigError


@pytest.fixture(scope="module")
def prices() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, (400, 2)), axis=0))
    opens = close * np.exp(rng.normal(0, 0.004, close.shape))
    return close, opens


def pandas_cross(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """Crossings of pandas rolling means: above now, not above before (NaN resets)."""
    frame = pd.DataFrame(close)
    f = frame.rolling(fast).mean().to_numpy()
    s = frame.rolling(slow).mean().to_numpy()
    above, below = f > s, f < s
    prev_above = np.vstack([np.zeros((1, close.shape[1]), bool), above[:-1]])
    prev_below = np.vstack([np.zeros((1, close.shape[1]), bool), below[:-1]])
    return above & prev_below, below & prev_above


def metrics(equity: np.ndarray, init_cash: float) -> tuple[float, float, float]:
    r = np.concatenate([[equity[0] / init_cash - 1], equity[1:] / equity[:-1] - 1])
    peak = np.maximum.accumulate(np.concatenate([[init_cash], equity]))[1:]
    return (
        equity[-1] / init_cash - 1,
        r.mean() / r.std(ddof=1) * np.sqrt(252),
        (equity / peak - 1).min(),
    )


@pytest.mark.parametrize(
    ("lag", "execution"), [(0, "next_close"), (1, "next_open"), (1, "next_close")]
)
def test_ma_grid_equals_run_signals(prices, lag, execution):
    close, opens = prices
    fast, slow = [3, 7], [15, 30]
    grid = run_grid(
        close,
        "ma_cross",
        {"fast": fast, "slow": slow},
        fees=0.002,
        slippage=0.001,
        lag=lag,
        execution=execution,
        open_prices=opens,
        init_cash=1e5,
    )
    assert len(grid) == 4 * close.shape[1]
    for _, row in grid.iterrows():
        j = int(row["symbol"].split("_")[1])
        entries, exits = pandas_cross(close, int(row["fast"]), int(row["slow"]))
        res = run_signals(
            close[:, j],
            entries[:, j],
            exits[:, j],
            fees=0.002,
            slippage=0.001,
            lag=lag,
            execution=execution,
            open_prices=opens[:, j],
            init_cash=1e5,
        )
        tr, sharpe, mdd = metrics(res.equity, 1e5)
        assert row["total_return"] == pytest.approx(tr, rel=1e-10, abs=1e-12)
        assert row["sharpe"] == pytest.approx(sharpe, rel=1e-9)
        assert row["max_drawdown"] == pytest.approx(mdd, rel=1e-10, abs=1e-12)
        assert row["n_trades"] == len(res.trades) > 0


@pytest.mark.parametrize("long_short", [False, True])
def test_momentum_grid_equals_run_signals(prices, long_short):
    close, _ = prices
    grid = run_grid(
        close,
        "momentum",
        {"lookback": [5, 40], "threshold": [0.0, 0.02]},
        long_short=long_short,
        execution="next_close",
    )
    for _, row in grid.iterrows():
        j = int(row["symbol"].split("_")[1])
        lb, thr = int(row["lookback"]), row["threshold"]
        mom = pd.Series(close[:, j]).pct_change(lb).to_numpy()
        valid = ~np.isnan(mom)
        entries = valid & (mom > thr)
        if long_short:
            res = run_signals(
                close[:, j],
                entries,
                np.zeros_like(entries),
                short_entries=valid & (mom < -thr),
                execution="next_close",
            )
        else:
            res = run_signals(close[:, j], entries, valid & ~(mom > thr), execution="next_close")
        assert row["total_return"] == pytest.approx(res.total_return, rel=1e-10, abs=1e-12)
        assert row["n_trades"] == len(res.trades)


@njit
def momentum_signal(close, params, entries, exits, short_entries, short_exits):
    lb = int(params[0])
    for i in range(lb, close.shape[0]):
        m = close[i] / close[i - lb] - 1.0
        entries[i] = m > params[1]
        exits[i] = not entries[i]


def test_custom_signal_function_matches_builtin(prices):
    close, _ = prices
    params = {"lookback": [5, 20, 60], "threshold": [0.0, 0.01]}
    builtin = run_grid(close, "momentum", params, lag=0)
    custom = run_grid(close, momentum_signal, params, lag=0)
    np.testing.assert_allclose(custom["total_return"], builtin["total_return"], rtol=1e-12)
    np.testing.assert_allclose(custom["sharpe"], builtin["sharpe"], rtol=1e-12)
    assert list(custom.columns[:3]) == ["lookback", "threshold", "symbol"]


def test_grid_no_look_ahead(prices):
    close, opens = prices
    t = 200
    base = run_grid(
        close[: t + 1], "ma_cross", {"fast": [3], "slow": [15]}, open_prices=opens[: t + 1]
    )
    moved_close = close.copy()
    moved_close[t + 1 :] *= 1.5
    # the grid on the longer, perturbed history agrees with the truncated one up to bar t
    res = run_signals(
        moved_close[:, 0],
        *[a[:, 0] for a in pandas_cross(moved_close, 3, 15)],
        open_prices=opens[:, 0],
    )
    assert res.equity[t] / 1e6 - 1 == pytest.approx(base["total_return"].iloc[0], rel=1e-12)


def test_grid_bad_params(prices):
    close, _ = prices
    with pytest.raises(ConfigError, match="needs 'slow'"):
        run_grid(close, "ma_cross", {"fast": [3]}, lag=0)
    with pytest.raises(ConfigError, match="whole numbers"):
        run_grid(close, "ma_cross", {"fast": [2.5], "slow": [10]}, lag=0)
    with pytest.raises(ConfigError, match=">= 1"):
        run_grid(close, "momentum", {"lookback": [0]}, lag=0)
    with pytest.raises(ConfigError, match="strategy must be"):
        run_grid(close, "rsi", {"window": [3]}, lag=0)
    with pytest.raises(ConfigError, match="@njit"):
        run_grid(close, lambda *a: None, {"x": [1]}, lag=0)
    with pytest.raises(ConfigError, match="fees"):
        run_grid(close, "momentum", {"lookback": [3]}, fees=-1, lag=0)
