"""Run weight-producing strategies on one panel with identical costs and timing.

A panel cut with history before its first row (``Panel.split(..., warmup=k)``, ``panel.warmup``)
is used whole by the strategy, which thus decides with the history it needs; the backtest trades
only from the segment's first row. The targets in force at the end of the history (each asset's
last decision there) carry into the segment's first row where that row has none, so a strategy
that decides only on rebalance dates or on signal changes starts the segment holding what it
would hold after the history, not in cash until its next decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from quantrl.backtest.engine import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError

DEFAULT_HISTORY = 252
"""Rows of history (a year of daily bars) given before a split, at least, where the panel has them."""


class WeightsSource(Protocol):
    """Anything that turns a panel into (T, N) target weights using only past data.

    It may declare ``lookback`` (an int attribute or property): the rows of history it needs
    before its first decision (e.g. 252 for 12-1 month momentum). ``required_history`` reads it.
    """

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Target weights, one row per date."""
        ...


def strategy_lookback(strategy: Any) -> int:
    """The ``lookback`` a strategy declares (0 when it declares none); a bad value is an error."""
    value = getattr(strategy, "lookback", 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ConfigError(f"{strategy!r} declares lookback={value!r}; it must be an int >= 0")
    return int(value)


def required_history(strategies: Iterable[Any], minimum: int = DEFAULT_HISTORY) -> int:
    """Rows of history to give before a split: the largest declared lookback, at least ``minimum``."""
    if isinstance(minimum, bool) or not isinstance(minimum, int | np.integer) or minimum < 0:
        raise ConfigError(f"minimum history must be an int >= 0, got {minimum!r}")
    return max([int(minimum), *(strategy_lookback(s) for s in strategies)])


def carry_history(weights: Any, warmup: int) -> Any:
    """Targets with each asset's last decision of the ``warmup`` history rows carried to row ``warmup``.

    Only the row's NaN entries (no decision) are filled; the history rows themselves are left as
    they are (the backtest drops them). A DataFrame stays a DataFrame.
    """
    if warmup <= 0:
        return weights
    if isinstance(weights, pd.DataFrame):
        if weights.shape[0] <= warmup:
            return weights
        if isinstance(weights.index, pd.DatetimeIndex):
            weights = weights.sort_index()  # run_weights matches dates in any order
        values = carry_history(weights.to_numpy(dtype=np.float64, na_value=np.nan), warmup)
        return pd.DataFrame(values, index=weights.index, columns=weights.columns)
    array = np.asarray(weights)
    if array.ndim != 2 or array.dtype.kind not in "fiu" or array.shape[0] <= warmup:
        return weights  # run_weights reports the problem with the input itself
    out = np.array(array, dtype=np.float64)
    history = out[:warmup]
    decided = np.isfinite(history)
    if not decided.any():
        return out
    last_row = np.where(decided, np.arange(warmup)[:, None], -1).max(axis=0)
    cols = np.flatnonzero((last_row >= 0) & np.isnan(out[warmup]))
    out[warmup, cols] = history[last_row[cols], cols]
    return out


def run_strategy(
    strategy: WeightsSource, panel: Panel, *, benchmark: Any = None, **backtest: Any
) -> BacktestResult:
    """Backtest ``strategy`` on ``panel``: its weights go to ``run_weights`` with ``backtest`` args.

    The strategy sees the whole panel, history rows included; the backtest starts after them, in
    the positions the history's last decisions call for (see the module docstring).
    """
    if not hasattr(strategy, "target_weights"):
        raise ConfigError(f"{strategy!r} has no target_weights(panel) method")
    weights = carry_history(strategy.target_weights(panel), panel.warmup)
    return run_weights(panel, weights, benchmark=benchmark, **backtest)


def compare(
    strategies: Mapping[str, WeightsSource], panel: Panel, *, benchmark: Any = None, **backtest: Any
) -> dict[str, BacktestResult]:
    """Backtest every strategy on the same panel, costs and timing; results keyed by name."""
    if not strategies:
        raise ConfigError("no strategies to compare")
    return {
        name: run_strategy(s, panel, benchmark=benchmark, **backtest)
        for name, s in strategies.items()
    }
