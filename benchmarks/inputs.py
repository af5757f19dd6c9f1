"""Seeded benchmark inputs, exactly as the benchmark workloads define them."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_prices(n_bars: int, n_assets: int, seed: int) -> pd.DataFrame:
    """Close prices: log-returns ~ N(0.0002, 0.01^2), close = 100 exp(cumsum), daily from 2000-01-03."""
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(0.0002, 0.01, size=(n_bars, n_assets))
    close = 100.0 * np.exp(np.cumsum(log_ret, axis=0))
    index = pd.date_range("2000-01-03", periods=n_bars, freq="D")
    return pd.DataFrame(close, index=index, columns=[f"A{i:03d}" for i in range(n_assets)])


def make_weights(n_bars: int, n_assets: int, seed: int) -> np.ndarray:
    """Long-only target weights: one Dirichlet(1, ..., 1) draw per bar from seed + 1."""
    return np.random.default_rng(seed + 1).dirichlet(np.ones(n_assets), n_bars)


def make_returns(n_series: int = 500, n_days: int = 5000, seed: int = 11) -> np.ndarray:
    """Daily returns ~ N(0.0004, 0.012^2), shape (n_days, n_series)."""
    return np.random.default_rng(seed).normal(0.0004, 0.012, size=(n_days, n_series))
