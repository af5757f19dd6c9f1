"""Run weight-producing strategies on one panel with identical costs and timing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from quantrl.backtest.engine import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError


class WeightsSource(Protocol):
    """Anything that turns a panel into (T, N) target weights using only past data."""

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Target weights, one row per date."""
        ...


def run_strategy(
    strategy: WeightsSource, panel: Panel, *, benchmark: Any = None, **backtest: Any
) -> BacktestResult:
    """Backtest ``strategy`` on ``panel``: its weights go to ``run_weights`` with ``backtest`` args."""
    if not hasattr(strategy, "target_weights"):
        raise ConfigError(f"{strategy!r} has no target_weights(panel) method")
    weights = strategy.target_weights(panel)
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
