"""Econometric portfolio allocations: minimum variance, maximum Sharpe and risk parity.

Each allocation is long-only and fully invested (weights >= 0 summing to 1) and is computed from
a covariance matrix (and, for the maximum-Sharpe portfolio, mean returns):

* ``min_variance_weights``: ``argmin w' S w``;
* ``max_sharpe_weights``: ``argmax (w' mu - rf) / sqrt(w' S w)`` (the tangency portfolio), solved
  as the convex problem ``min y' S y`` s.t. ``(mu - rf)' y = 1, y >= 0``, ``w = y / sum(y)``;
  when no asset has a mean above ``rf`` it falls back to minimum variance;
* ``risk_parity_weights``: equal risk contributions ``w_i (S w)_i = w' S w / N``, from the
  convex problem ``min y' S y / 2 - sum(log y_i) / N``, ``w = y / sum(y)`` (Spinu, 2013).

``trailing_weights`` applies one of them through time without look-ahead: the weights of row t
use only the returns of rows ``t - lookback + 1 .. t`` (known at the close of row t), and are
re-estimated every ``every`` rows (held in between).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from scipy.optimize import minimize

from quantrl.errors import ConfigError

Method = Literal["min_variance", "max_sharpe", "risk_parity"]
METHODS: tuple[str, ...] = ("min_variance", "max_sharpe", "risk_parity")
"""Allocation methods ``trailing_weights`` knows."""


def _check_cov(cov: np.ndarray) -> np.ndarray:
    s = np.asarray(cov, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] == 0:
        raise ConfigError(f"covariance must be a square (N, N) matrix, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ConfigError("covariance holds NaN or inf")
    return (s + s.T) / 2.0


def _simplex_qp(
    objective: Callable[[np.ndarray], float],
    gradient: Callable[[np.ndarray], np.ndarray],
    n: int,
    equality: tuple[np.ndarray, float],
    start: np.ndarray,
) -> np.ndarray:
    """Minimise a smooth objective over ``y >= 0`` with one linear equality (SLSQP)."""
    a, b = equality
    res = minimize(
        objective,
        start,
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, None)] * n,
        constraints=[{"type": "eq", "fun": lambda y: a @ y - b, "jac": lambda y: a}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return np.clip(res.x, 0.0, None)


def min_variance_weights(cov: np.ndarray) -> np.ndarray:
    """Long-only, fully invested minimum-variance weights of covariance ``cov``."""
    s = _check_cov(cov)
    n = s.shape[0]
    scale = float(np.mean(np.diag(s))) or 1.0
    s = s / scale
    y = _simplex_qp(
        lambda w: float(w @ s @ w), lambda w: 2.0 * s @ w, n, (np.ones(n), 1.0), np.full(n, 1 / n)
    )
    return y / y.sum()


def max_sharpe_weights(mu: np.ndarray, cov: np.ndarray, rf: float = 0.0) -> np.ndarray:
    """Long-only tangency (maximum Sharpe ratio) weights; minimum variance if no mean beats rf."""
    s = _check_cov(cov)
    excess = np.asarray(mu, dtype=np.float64) - rf
    if excess.shape != (s.shape[0],) or not np.isfinite(excess).all():
        raise ConfigError(f"mu must hold {s.shape[0]} finite means")
    if not (excess > 0).any():
        return min_variance_weights(s)
    n = s.shape[0]
    scale = float(np.mean(np.diag(s))) or 1.0
    s = s / scale
    k = np.maximum(excess, 0.0)
    start = k / (k @ k)
    y = _simplex_qp(lambda y: float(y @ s @ y), lambda y: 2.0 * s @ y, n, (excess, 1.0), start)
    return y / y.sum()


def risk_parity_weights(cov: np.ndarray) -> np.ndarray:
    """Long-only equal-risk-contribution weights of covariance ``cov``."""
    s = _check_cov(cov)
    n = s.shape[0]
    scale = float(np.mean(np.diag(s))) or 1.0
    s = s / scale

    def objective(y: np.ndarray) -> float:
        return float(0.5 * y @ s @ y - np.log(y).sum() / n)

    def gradient(y: np.ndarray) -> np.ndarray:
        return s @ y - 1.0 / (n * y)

    start = 1.0 / np.sqrt(np.diag(s))
    start = start / np.sqrt(start @ s @ start)
    res = minimize(
        objective,
        start,
        jac=gradient,
        method="L-BFGS-B",
        bounds=[(1e-12, None)] * n,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000},
    )
    return res.x / res.x.sum()


def allocate(method: str, returns: np.ndarray) -> np.ndarray:
    """Weights of ``method`` from a window of simple returns (rows: dates, columns: assets)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2:
        raise ConfigError(f"returns must be (T >= 2, N), got shape {r.shape}")
    cov = np.cov(r, rowvar=False, ddof=1).reshape(r.shape[1], r.shape[1])
    cov = cov + 1e-10 * np.eye(r.shape[1]) * max(float(np.trace(cov)) / r.shape[1], 1e-12)
    if method == "min_variance":
        return min_variance_weights(cov)
    if method == "max_sharpe":
        return max_sharpe_weights(r.mean(axis=0), cov)
    if method == "risk_parity":
        return risk_parity_weights(cov)
    raise ConfigError(f"unknown allocation {method!r}; choose from {', '.join(METHODS)}")


def trailing_weights(
    close: np.ndarray, method: str, *, lookback: int = 252, every: int = 5, start: int = 0
) -> np.ndarray:
    """(T, N) weights of ``method`` re-estimated every ``every`` rows from trailing returns.

    Row t's weights (for t >= ``start``, estimated at ``start``, ``start + every``, ... and held
    in between) come from the simple close-to-close returns of rows ``t - lookback + 1 .. t``
    only; rows before ``start`` are NaN. ``close`` must be complete (no NaN) from row
    ``start - lookback`` on.
    """
    c = np.asarray(close, dtype=np.float64)
    if c.ndim != 2:
        raise ConfigError(f"close must be (T, N), got shape {c.shape}")
    if lookback < 2 or every < 1:
        raise ConfigError("lookback must be >= 2 and every >= 1")
    if start < lookback:
        raise ConfigError(f"start ({start}) must leave {lookback} rows of history")
    out = np.full(c.shape, np.nan)
    current = None
    for t in range(start, c.shape[0]):
        if current is None or (t - start) % every == 0:
            window = c[t - lookback : t + 1]
            if not np.isfinite(window).all():
                raise ConfigError(f"close has missing values in the window ending at row {t}")
            current = allocate(method, window[1:] / window[:-1] - 1.0)
        out[t] = current
    return out


__all__ = [
    "METHODS",
    "allocate",
    "max_sharpe_weights",
    "min_variance_weights",
    "risk_parity_weights",
    "trailing_weights",
]
