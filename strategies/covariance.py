"""Mean and covariance of past log returns over a trailing window (shared by the optimisers)."""

from __future__ import annotations

import numpy as np


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
