"""Long-only maximum-Sharpe (tangency) mean-variance portfolio from trailing estimates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from quantrl.data.panel import Panel
from strategies.base import register
from strategies.covariance import optimised_weights


def max_sharpe_weights(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """argmax mean'w / sqrt(w'Σw) subject to sum(w) = 1, 0 <= w <= 1 (SLSQP)."""
    k = mean.size
    scale = np.mean(np.diag(cov))  # scale-free: the tangency weights do not change
    cov, mean = cov / scale, mean / np.sqrt(scale)

    def neg_sharpe(w: np.ndarray) -> float:
        return -(mean @ w) / np.sqrt(max(w @ cov @ w, 1e-18))

    res = minimize(
        neg_sharpe,
        np.full(k, 1.0 / k),
        bounds=[(0.0, 1.0)] * k,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},),
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 300},
    )
    w = np.clip(res.x, 0.0, None)
    return w / w.sum() if w.sum() > 0 else np.full(k, 1.0 / k)


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
