"""quantrl: quantitative trading research on one market-data panel.

The small public API: ``load_market`` and ``Panel`` (data), ``run_weights`` / ``run_signals``
(backtests), ``parse`` / ``evaluate`` (formula alphas). Heavier pieces (environments, agents,
the miner) live in their subpackages and are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from quantrl.data import Panel, load_market
from quantrl.errors import ConfigError, DataError, FormulaError, JobError, QuantRLError

_LAZY = {
    "run_weights": ("quantrl.backtest", "run_weights"),
    "run_signals": ("quantrl.backtest", "run_signals"),
    "run_grid": ("quantrl.backtest", "run_grid"),
    "BacktestResult": ("quantrl.backtest", "BacktestResult"),
    "parse": ("quantrl.alpha", "parse"),
    "evaluate": ("quantrl.alpha", "evaluate"),
    "make_env": ("quantrl.envs", "make_env"),
}

__all__ = [
    "BacktestResult",
    "ConfigError",
    "DataError",
    "FormulaError",
    "JobError",
    "Panel",
    "QuantRLError",
    "evaluate",
    "load_market",
    "make_env",
    "parse",
    "run_grid",
    "run_signals",
    "run_weights",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import the heavier public names on first use (numba kernels compile lazily)."""
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'quantrl' has no attribute {name!r}")
