"""Mean and covariance of past log returns over a trailing window (shared by the optimisers)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from quantrl.data.panel import Panel
from strategies.base import log_returns, rebalance_rows

Solver = Callable[[np.ndarray, np.ndarray], np.ndarray]


def trailing_moments(
    returns: np.ndarray, row: int, window: int, shrinkage: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eligible columns, mean (k,), covariance (k, k)) from returns in rows ``row-window+1..row``.

    Only symbols with a full window of returns are eligible. The covariance is shrunk towards its
    diagonal by ``shrinkage`` (0 = sample covariance) to keep small-window estimates invertible.
    """
    rets = returns
    lo = row - window + 1
    if lo < 1:
        return np.empty(0, dtype=np.intp), np.empty(0), np.empty((0, 0))
    block = rets[lo : row + 1]
    cols = np.flatnonzero(np.isfinite(block).all(axis=0))
    block = block[:, cols]
    mean = block.mean(axis=0)
    cov = np.cov(block, rowvar=False, ddof=1).reshape(cols.size, cols.size)
    cov = (1 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))
    return cols, mean, cov


def optimised_weights(
    panel: Panel, solve: Solver, *, window: int, every: int, shrinkage: float
) -> np.ndarray:
    """Weights from ``solve(mean, cov)`` at each rebalance date (trailing moments); NaN between.

    Symbols without a full window of returns get weight 0 on that date.
    """
    out = np.full(panel.shape, np.nan)
    rets = log_returns(panel)
    for row in rebalance_rows(panel.n_dates, every, start=window):
        cols, mean, cov = trailing_moments(rets, row, window, shrinkage)
        if cols.size == 0:
            continue
        out[row] = 0.0
        out[row, cols] = solve(mean, cov)
    return out
