"""Parameter sweeps: ``run_grid`` streams every combination through a parallel numba kernel."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantrl.backtest.engine import (
    _check_costs,
    _check_timing,
    _exec_prices,
    _number,
    _periods_per_year,
    market_arrays,
)
from quantrl.errors import ConfigError
from quantrl.kernels.grid import grid_ma_cross_nb, grid_momentum_nb, grid_signal_func_nb
from quantrl.kernels.portfolio import DEFAULT_MIN_SIZE

METRIC_COLUMNS = ("total_return", "sharpe", "max_drawdown", "n_trades")

#: Longest window (rows) a built-in grid strategy accepts; beyond it no bar could ever trade.
MAX_GRID_WINDOW = 1_000_000


def _float_values(params: Mapping[str, Any], name: str) -> np.ndarray:
    try:
        values = np.atleast_1d(np.asarray(params[name], dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"params[{name!r}] must be numbers, got {params[name]!r}") from exc
    if values.ndim != 1 or values.size == 0:
        raise ConfigError(f"params[{name!r}] must be a non-empty list of numbers")
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"params[{name!r}] must be finite, got {values[:5]}")
    return values


def _int_values(params: Mapping[str, Any], name: str) -> np.ndarray:
    if name not in params:
        raise ConfigError(f"params needs {name!r} (got keys {sorted(params)})")
    values = np.atleast_1d(np.asarray(params[name]))
    if values.size == 0:
        raise ConfigError(f"params[{name!r}] is empty")
    if (
        not np.issubdtype(values.dtype, np.number)
        or np.issubdtype(values.dtype, np.complexfloating)
        or values.ndim != 1
        or not np.all(np.isfinite(values))
        or np.any(values != np.round(values))
    ):
        raise ConfigError(f"params[{name!r}] must be whole numbers, got {values[:5]}")
    if np.any(values < 1):
        raise ConfigError(f"params[{name!r}] must be >= 1, got min {values.min():g}")
    if np.any(values > MAX_GRID_WINDOW):
        raise ConfigError(
            f"params[{name!r}] must be <= {MAX_GRID_WINDOW} rows, got max {values.max():g}"
        )
    return values.astype(np.int64)


def run_grid(
    panel_or_prices: Any,
    strategy: str | Callable[..., Any] = "ma_cross",
    params: Mapping[str, Sequence[float]] | None = None,
    *,
    long_short: bool = False,
    size: float = 1.0,
    fees: float = 0.001,
    fixed_fees: float = 0.0,
    slippage: float = 0.0,
    init_cash: float = 1e6,
    execution: str = "next_open",
    lag: int = 1,
    open_prices: Any = None,
    periods_per_year: float | None = None,
) -> Any:
    """Backtest every parameter combination on every asset; one metrics row per pair.

    ``strategy`` is ``"ma_cross"`` (params ``fast``, ``slow``: window lists, full product; entry
    when the fast MA crosses above the slow one, exit when it crosses below), ``"momentum"``
    (params ``lookback`` and optional ``threshold``, default 0: long while ``close / close[-lookback]
    - 1`` exceeds it, else flat) or a numba ``@njit`` function ``f(close_col, params_row,
    entries, exits, short_entries, short_exits)`` that fills the four boolean (T,) arrays, with
    ``params`` a mapping of parameter lists (full product, passed in order as ``params_row``).
    ``long_short`` turns exits into short entries for the built-in strategies.

    Each (combination, asset) pair is an independent single-asset backtest with ``init_cash``,
    the same account and timing as ``run_signals``. Combinations are streamed in parallel
    (``prange``): no per-combination series is kept. Returns a pandas DataFrame with the
    parameter columns, ``symbol`` and total_return, sharpe (annualised with
    ``periods_per_year``, ddof=1; inferred from the dates by default, as in ``run_weights``),
    max_drawdown (negative fraction) and n_trades.
    """

    mkt = market_arrays(panel_or_prices, open_prices).without_warmup()
    _check_costs(fees, fixed_fees, slippage, init_cash)
    _check_timing(execution, lag, mkt.open is not None)
    if not 0 < _number("size", size) <= 1:
        raise ConfigError(f"size must be a fraction of cash in (0, 1], got {size}")
    periods_per_year = _periods_per_year(periods_per_year, mkt)
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"params must be a mapping of parameter lists, got {params!r}")
    params = dict(params or {})
    close = np.ascontiguousarray(mkt.close)
    exec_prices = np.ascontiguousarray(_exec_prices(mkt, execution, int(lag)))
    common = (
        float(init_cash),
        float(size),
        float(fees),
        float(fixed_fees),
        float(slippage),
        DEFAULT_MIN_SIZE,
        float(periods_per_year),
    )
    if strategy == "ma_cross":
        fast = _int_values(params, "fast")
        slow = _int_values(params, "slow")
        combos = np.array(list(itertools.product(fast, slow)), dtype=np.int64)
        names = ["fast", "slow"]
        windows, inverse = np.unique(combos, return_inverse=True)
        inverse = inverse.reshape(combos.shape)
        metrics = grid_ma_cross_nb(
            close,
            exec_prices,
            windows.astype(np.int64),
            inverse[:, 0].astype(np.int64),
            inverse[:, 1].astype(np.int64),
            int(lag),
            bool(long_short),
            *common,
        )
    elif strategy == "momentum":
        lookback = _int_values(params, "lookback")
        threshold = _float_values({"threshold": params.get("threshold", [0.0])}, "threshold")
        combos = np.array(list(itertools.product(lookback, threshold)), dtype=np.float64)
        names = ["lookback", "threshold"]
        metrics = grid_momentum_nb(
            close,
            exec_prices,
            combos[:, 0].astype(np.int64),
            combos[:, 1].copy(),
            int(lag),
            bool(long_short),
            *common,
        )
    elif callable(strategy):
        if not hasattr(strategy, "py_func"):
            raise ConfigError("a custom strategy must be a numba @njit function")
        if not params:
            raise ConfigError("a custom strategy needs params={name: values, ...}")
        names = list(params)
        lists = [_float_values(params, k) for k in params]
        combos = np.array(list(itertools.product(*lists)), dtype=np.float64)
        metrics = grid_signal_func_nb(close, exec_prices, combos, strategy, int(lag), *common)
    else:
        raise ConfigError(
            f"strategy must be 'ma_cross', 'momentum' or a numba function, got {strategy!r}"
        )
    n = close.shape[1]
    frame = pd.DataFrame(np.repeat(combos, n, axis=0), columns=names)
    if strategy in ("ma_cross",) or (strategy == "momentum"):
        frame[names[0]] = frame[names[0]].astype(np.int64)
        if strategy == "ma_cross":
            frame[names[1]] = frame[names[1]].astype(np.int64)
    frame["symbol"] = np.tile(np.asarray(mkt.symbols, dtype=object), len(combos))
    for c, name in enumerate(METRIC_COLUMNS):
        frame[name] = metrics[:, c]
    frame["n_trades"] = frame["n_trades"].astype(np.int64)
    return frame
