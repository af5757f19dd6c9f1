"""Long-only minimum-variance portfolio from a trailing covariance estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.backtest.allocation import min_variance_weights
from quantrl.data.panel import Panel
from strategies.base import register
from strategies.covariance import optimised_weights


@register("min_variance")
@dataclass
class MinVariance:
    """Minimum variance over the symbols with a full ``window`` of past returns."""

    window: int = 60
    every: int = 21
    shrinkage: float = 0.1
    name: str = "min_variance"

    @property
    def lookback(self) -> int:
        """Rows of history needed: a full ``window`` of past returns before the first decision."""
        return self.window

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Weights at each rebalance date from returns up to that date; NaN between."""
        return optimised_weights(
            panel,
            lambda mean, cov: min_variance_weights(cov),
            window=self.window,
            every=self.every,
            shrinkage=self.shrinkage,
        )
