"""Equal-risk-contribution (risk parity) portfolio from a trailing covariance estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.backtest.allocation import risk_parity_weights
from quantrl.data.panel import Panel
from strategies.base import register
from strategies.covariance import optimised_weights


@register("risk_parity")
@dataclass
class RiskParity:
    """Each eligible symbol contributes the same share of portfolio variance."""

    window: int = 60
    every: int = 21
    shrinkage: float = 0.1
    name: str = "risk_parity"

    @property
    def lookback(self) -> int:
        """Rows of history needed: a full ``window`` of past returns before the first decision."""
        return self.window

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Weights at each rebalance date from returns up to that date; NaN between."""
        return optimised_weights(
            panel,
            lambda mean, cov: risk_parity_weights(cov),
            window=self.window,
            every=self.every,
            shrinkage=self.shrinkage,
        )
