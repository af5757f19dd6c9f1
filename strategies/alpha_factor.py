"""Long/short on any formula of the expression engine: top quantile long, bottom quantile short."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.alpha import evaluate, parse
from quantrl.data.panel import Panel
from strategies.base import rebalance_rows, register
from strategies.momentum import quantile_long_short


@register("alpha_factor")
@dataclass
class AlphaFactor:
    """Rank the cross-section by ``formula`` (decided at t's close) and hold the extremes."""

    formula: str = "-($close / Ref($close, 5) - 1)"
    quantile: float = 0.2
    long_short: bool = True
    every: int = 5
    name: str = "alpha_factor"

    @property
    def lookback(self) -> int:
        """Rows of history needed: the formula's lookback."""
        return int(parse(self.formula).lookback)

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Weights at each rebalance date from the factor's value on that date; NaN between."""
        factor = evaluate(self.formula, panel)
        out = np.full(panel.shape, np.nan)
        for row in rebalance_rows(panel.n_dates, self.every):
            scores = np.where(np.isfinite(panel["close"][row]), factor[row], np.nan)
            if np.isfinite(scores).sum() >= 2:
                out[row] = quantile_long_short(scores, self.quantile, self.long_short)
        return out
