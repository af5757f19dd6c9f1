"""Long-only minimum-variance portfolio from a trailing covariance estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from quantrl.data.panel import Panel
from strategies.base import register
from strategies.covariance import optimised_weights


def min_variance_weights(cov: np.ndarray) -> np.ndarray:
    """argmin w'Σw subject to sum(w) = 1, 0 <= w <= 1 (SLSQP from equal weights)."""
    k = cov.shape[0]
    cov = cov / np.mean(np.diag(cov))  # scale-free: the solution does not change
    x0 = np.full(k, 1.0 / k)
    res = minimize(
        lambda w: w @ cov @ w,
        x0,
        jac=lambda w: 2 * cov @ w,
        bounds=[(0.0, 1.0)] * k,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)},),
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 200},
    )
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


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
