"""Long-only maximum-Sharpe (tangency) mean-variance portfolio from trailing estimates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.backtest.allocation import max_sharpe_weights
from quantrl.data.panel import Panel
from strategies.base import register
from strategies.covariance import optimised_weights


@register("max_sharpe")
@dataclass
class MaxSharpe:
    """Tangency portfolio of trailing mean and covariance of log returns."""

    window: int = 120
    every: int = 21
    shrinkage: float = 0.1
    name: str = "max_sharpe"

    @property
    def lookback(self) -> int:
        """Rows of history needed: a full ``window`` of past returns before the first decision."""
        return self.window

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Weights at each rebalance date from returns up to that date; NaN between."""
        return optimised_weights(
            panel,
            max_sharpe_weights,
            window=self.window,
            every=self.every,
            shrinkage=self.shrinkage,
        )
