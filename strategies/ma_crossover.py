"""Moving-average crossover per asset: long (1/N) while the fast average is above the slow one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.alpha import evaluate
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError
from strategies.base import register, tradable


def changed_rows_only(weights: np.ndarray, ready: np.ndarray) -> np.ndarray:
    """Keep a target where it differs from the previous row or first becomes ready; NaN elsewhere."""
    out = np.where(ready, weights, np.nan)
    same = np.zeros(weights.shape, dtype=bool)
    same[1:] = (weights[1:] == weights[:-1]) & ready[:-1]
    out[same] = np.nan
    return out


@register("ma_crossover")
@dataclass
class MACrossover:
    """Each asset gets 1/N while Mean(close, fast) > Mean(close, slow), 0 otherwise."""

    fast: int = 20
    slow: int = 50
    name: str = "ma_crossover"

    @property
    def lookback(self) -> int:
        """Rows of history needed: the slow moving average's window."""
        return self.slow

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ConfigError(f"need 1 <= fast < slow, got fast={self.fast}, slow={self.slow}")

    def target_weights(self, panel: Panel) -> np.ndarray:
        """1/N on assets in an up-trend; a target only on the bars where a signal changes."""
        fast = evaluate(f"Mean($close, {self.fast})", panel)
        slow = evaluate(f"Mean($close, {self.slow})", panel)
        ready = np.isfinite(fast) & np.isfinite(slow) & tradable(panel)
        long = ready & (fast > slow)
        weights = np.where(long, 1.0 / panel.n_symbols, 0.0)
        return changed_rows_only(weights, ready)
