"""Backtesting: rebalance to target weights, signal strategies and parameter grids (numba)."""

from __future__ import annotations

from quantrl.backtest.engine import run_signals, run_weights
from quantrl.backtest.grid import run_grid
from quantrl.backtest.result import BacktestResult

__all__ = ["BacktestResult", "run_grid", "run_signals", "run_weights"]
