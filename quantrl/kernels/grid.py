"""Parameter-grid kernels: stream every (combination, asset) pair through a signal backtest.

Nothing per combination is materialised: each parallel task reads shared indicator tables (the
moving averages of each distinct window, one asset at a time), runs the single-asset account of
``plan_signal_orders_nb`` and keeps running metrics (final equity, sums of returns and squared
returns, peak and drawdown). Memory is O(T * N) for the inputs plus O(W * T) for one asset's
indicator table and O(1) per task (O(T) for user signal functions).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.fills import FILLED, order_nb
from quantrl.kernels.portfolio import plan_signal_orders_nb

N_METRICS = 4
"""Columns of a grid result row: total return, Sharpe ratio, max drawdown, number of fills."""


@njit(cache=True)
def cross_step_nb(a: float, b: float, was_below: bool, crossed_ago: int) -> tuple[bool, bool, int]:
    """One step of vectorbt's ``crossed_above``: returns (crossed, was_below, crossed_ago)."""
    if np.isnan(a) or np.isnan(b):
        return False, False, -1
    if a > b:
        if was_below:
            crossed_ago += 1
            return crossed_ago == 0, was_below, crossed_ago
        return False, was_below, crossed_ago
    if a == b:
        return False, was_below, -1
    return False, True, -1


@njit(cache=True)
def _account_step_nb(
    state: np.ndarray,
    price: float,
    le: bool,
    lx: bool,
    se: bool,
    sx: bool,
    size: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
) -> int:
    """Apply signals to a scalar account ``state = [cash, free_cash, position, debt]``."""
    n_orders, s0, p0, d0, s1, p1, d1 = plan_signal_orders_nb(state[2], le, lx, se, sx, size)
    sizes = (s0, s1)
    percents = (p0, p1)
    directions = (d0, d1)
    fills = 0
    for k in range(n_orders):
        cash, free_cash, pos, debt, _, _, _, _, status = order_nb(
            state[0],
            state[1],
            state[2],
            state[3],
            sizes[k],
            price,
            directions[k],
            fees,
            fixed_fees,
            slippage,
            min_size,
            percents[k],
        )
        state[0] = cash
        state[1] = free_cash
        state[2] = pos
        state[3] = debt
        if status == FILLED:
            fills += 1
    return fills


@njit(cache=True)
def _metrics_update_nb(acc: np.ndarray, equity: float) -> None:
    """acc = [prev_equity, n, sum r, sum r^2, peak, max_dd]; add one bar's equity."""
    prev = acc[0]
    acc[1] += 1.0
    if equity != prev:
        r = equity / prev - 1.0
        acc[0] = equity
        acc[2] += r
        acc[3] += r * r
    peak = acc[4]
    if equity > peak:
        acc[4] = equity
    elif equity < peak * (1.0 + acc[5]):
        dd = equity / peak - 1.0
        if dd < acc[5]:
            acc[5] = dd


@njit(cache=True)
def _metrics_out_nb(
    acc: np.ndarray, init_cash: float, fills: int, ppy: float, out: np.ndarray
) -> None:
    n = acc[1]
    out[0] = acc[0] / init_cash - 1.0
    out[1] = np.nan
    if n > 1:
        mean = acc[2] / n
        var = (acc[3] - acc[2] * mean) / (n - 1.0)
        if var > 0:
            out[1] = mean / np.sqrt(var) * np.sqrt(ppy)
    out[2] = acc[5]
    out[3] = fills


@njit(cache=True)
def _run_one_nb(
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    j: int,
    lag: int,
    init_cash: float,
    size: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    ppy: float,
    out: np.ndarray,
) -> None:
    """Backtest asset ``j`` on precomputed (T,) signal rows (decision-bar aligned)."""
    n_bars = close.shape[0]
    state = np.array([init_cash, init_cash, 0.0, 0.0])
    acc = np.array([init_cash, 0.0, 0.0, 0.0, init_cash, 0.0])
    mark = np.nan
    fills = 0
    for t in range(n_bars):
        d = t - lag
        p = exec_prices[t, j]
        if not np.isnan(p):
            mark = p
            if d >= 0:
                fills += _account_step_nb(
                    state,
                    p,
                    entries[d],
                    exits[d],
                    short_entries[d],
                    short_exits[d],
                    size,
                    fees,
                    fixed_fees,
                    slippage,
                    min_size,
                )
        c = close[t, j]
        if not np.isnan(c):
            mark = c
        eq = state[0] + state[2] * mark if state[2] != 0 else state[0]
        _metrics_update_nb(acc, eq)
    _metrics_out_nb(acc, init_cash, fills, ppy, out)


@njit(cache=True)
def rolling_mean_nb(close: np.ndarray, window: int, out: np.ndarray) -> None:
    """Rolling mean of a (T,) series into ``out`` (NaN until ``window`` valid values).

    Prefix-sum arithmetic identical to vectorbt's / pandas' ``rolling(window).mean()``, so the
    values are bit-identical to vectorbt's ``MA``.
    """
    csum = 0.0
    ncnt = 0.0
    n_bars = close.shape[0]
    sums = np.empty(n_bars)
    cnts = np.empty(n_bars)
    for i in range(n_bars):
        x = close[i]
        if np.isnan(x):
            ncnt = ncnt + 1
        else:
            csum = csum + x
        sums[i] = csum
        cnts[i] = ncnt
        if i < window:
            window_len = i + 1 - ncnt
            window_sum = csum
        else:
            window_len = window - (ncnt - cnts[i - window])
            window_sum = csum - sums[i - window]
        out[i] = np.nan if window_len < window else window_sum / window_len


@njit(cache=True, parallel=True)
def _moving_averages_nb(close: np.ndarray, windows: np.ndarray) -> np.ndarray:
    out = np.empty((windows.shape[0], close.shape[0]))
    for w in prange(windows.shape[0]):
        rolling_mean_nb(close, windows[w], out[w])
    return out


@njit(cache=True, parallel=True)
def grid_ma_cross_nb(
    close: np.ndarray,
    exec_prices: np.ndarray,
    windows: np.ndarray,
    fast_idx: np.ndarray,
    slow_idx: np.ndarray,
    lag: int,
    long_short: bool,
    init_cash: float,
    size: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    ppy: float,
) -> np.ndarray:
    """Moving-average crossover for every (fast, slow) pair and every asset column.

    ``windows`` holds the distinct window lengths; combination k uses ``windows[fast_idx[k]]``
    and ``windows[slow_idx[k]]``. Per asset the moving averages of all distinct windows are
    computed once (a (W, T) table), then the combinations run in parallel. Entry when the fast
    MA crosses above the slow MA (vectorbt's ``crossed_above`` rules), exit (or, with
    ``long_short``, reverse to short) when it crosses below; decided at bar d, filled at bar
    d + ``lag``. Returns (K * N, 4) metrics, row ``k * N + j``.
    """
    n_bars, n = close.shape
    n_combos = fast_idx.shape[0]
    out = np.empty((n_combos * n, N_METRICS))
    for j in range(n):
        ma = _moving_averages_nb(np.ascontiguousarray(close[:, j]), windows)
        px = np.ascontiguousarray(exec_prices[:, j])
        cl = np.ascontiguousarray(close[:, j])
        for k in prange(n_combos):
            mfast = ma[fast_idx[k]]
            mslow = ma[slow_idx[k]]
            state = np.array([init_cash, init_cash, 0.0, 0.0])
            acc = np.array([init_cash, 0.0, 0.0, 0.0, init_cash, 0.0])
            up_below = False
            up_ago = -1
            dn_below = False
            dn_ago = -1
            mark = np.nan
            fills = 0
            for t in range(n_bars):
                p = px[t]
                if not np.isnan(p):
                    mark = p
                d = t - lag
                if d >= 0:
                    mf = mfast[d]
                    ms = mslow[d]
                    up, up_below, up_ago = cross_step_nb(mf, ms, up_below, up_ago)
                    dn, dn_below, dn_ago = cross_step_nb(ms, mf, dn_below, dn_ago)
                    if (up or dn) and not np.isnan(p):
                        fills += _account_step_nb(
                            state,
                            p,
                            up,
                            dn,
                            dn and long_short,
                            up and long_short,
                            size,
                            fees,
                            fixed_fees,
                            slippage,
                            min_size,
                        )
                c = cl[t]
                if not np.isnan(c):
                    mark = c
                eq = state[0] + state[2] * mark if state[2] != 0 else state[0]
                _metrics_update_nb(acc, eq)
            _metrics_out_nb(acc, init_cash, fills, ppy, out[k * n + j])
    return out


@njit(cache=True, parallel=True)
def grid_momentum_nb(
    close: np.ndarray,
    exec_prices: np.ndarray,
    lookback: np.ndarray,
    threshold: np.ndarray,
    lag: int,
    long_short: bool,
    init_cash: float,
    size: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    ppy: float,
) -> np.ndarray:
    """Time-series momentum for every (lookback[k], threshold[k]) pair and every asset column.

    Momentum at bar d is ``close[d] / close[d - lookback] - 1``; above the threshold the asset is
    held long, otherwise flat (or, with ``long_short``, short below minus the threshold). Signals
    are levels: an entry while already in the position does nothing. Returns (K * N, 4) metrics.
    """
    n_bars, n = close.shape
    n_combos = lookback.shape[0]
    out = np.empty((n_combos * n, N_METRICS))
    for task in prange(n_combos * n):
        k = task // n
        j = task % n
        lb = lookback[k]
        thr = threshold[k]
        state = np.array([init_cash, init_cash, 0.0, 0.0])
        acc = np.array([init_cash, 0.0, 0.0, 0.0, init_cash, 0.0])
        mark = np.nan
        fills = 0
        for t in range(n_bars):
            d = t - lag
            p = exec_prices[t, j]
            if not np.isnan(p):
                mark = p
                if d >= lb:
                    mom = close[d, j] / close[d - lb, j] - 1.0
                    if not np.isnan(mom):
                        le = mom > thr
                        if long_short:
                            se = mom < -thr
                            fills += _account_step_nb(
                                state,
                                p,
                                le,
                                False,
                                se,
                                False,
                                size,
                                fees,
                                fixed_fees,
                                slippage,
                                min_size,
                            )
                        else:
                            fills += _account_step_nb(
                                state,
                                p,
                                le,
                                not le,
                                False,
                                False,
                                size,
                                fees,
                                fixed_fees,
                                slippage,
                                min_size,
                            )
            c = close[t, j]
            if not np.isnan(c):
                mark = c
            eq = state[0] + state[2] * mark if state[2] != 0 else state[0]
            _metrics_update_nb(acc, eq)
        _metrics_out_nb(acc, init_cash, fills, ppy, out[task])
    return out


@njit(parallel=True)
def grid_signal_func_nb(
    close: np.ndarray,
    exec_prices: np.ndarray,
    params: np.ndarray,
    signal_func,  # noqa: ANN001 - a numba dispatcher
    lag: int,
    init_cash: float,
    size: float,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    ppy: float,
) -> np.ndarray:
    """Grid over rows of ``params`` (K, P) with a user numba signal function, every asset column.

    ``signal_func(close_col (T,), params_row (P,), entries (T,), exits (T,), short_entries (T,),
    short_exits (T,))`` fills the four boolean arrays (pre-set to False) with decisions taken at
    each bar's close; it must only read ``close_col[:d + 1]`` for decision d. Returns (K * N, 4).
    """
    n_bars, n = close.shape
    n_combos = params.shape[0]
    out = np.empty((n_combos * n, N_METRICS))
    for task in prange(n_combos * n):
        k = task // n
        j = task % n
        le = np.zeros(n_bars, dtype=np.bool_)
        lx = np.zeros(n_bars, dtype=np.bool_)
        se = np.zeros(n_bars, dtype=np.bool_)
        sx = np.zeros(n_bars, dtype=np.bool_)
        col = close[:, j].copy()
        signal_func(col, params[k], le, lx, se, sx)
        _run_one_nb(
            le,
            lx,
            se,
            sx,
            exec_prices,
            close,
            j,
            lag,
            init_cash,
            size,
            fees,
            fixed_fees,
            slippage,
            min_size,
            ppy,
            out[task],
        )
    return out
