"""Equal-risk-contribution (risk parity) portfolio from a trailing covariance estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from quantrl.data.panel import Panel
from strategies.base import register
from strategies.covariance import optimised_weights


def risk_parity_weights(cov: np.ndarray) -> np.ndarray:
    """Weights whose risk contributions w_i (Σw)_i are equal (Spinu's convex formulation).

    Minimises 0.5 y'Σy - (1/k) Σ log y_i over y > 0, then w = y / sum(y).
    """
    k = cov.shape[0]
    cov = cov / np.mean(np.diag(cov))  # scale-free: the solution does not change
    y0 = 1.0 / np.sqrt(np.diag(cov))
    res = minimize(
        lambda y: 0.5 * y @ cov @ y - np.log(y).sum() / k,
        y0 / y0.sum(),
        jac=lambda y: cov @ y - 1.0 / (k * y),
        bounds=[(1e-12, None)] * k,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 1000},
    )
    return res.x / res.x.sum()


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
