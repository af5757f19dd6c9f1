"""1/N: equal weights over the tradable symbols, rebalanced every ``every`` bars."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from quantrl.data.panel import Panel
from strategies.base import equal_weights, rebalance_rows, register, tradable


@register("equal_weight")
@dataclass
class EqualWeight:
    """DeMiguel et al.'s 1/N portfolio; ``every=1`` rebalances daily."""

    every: int = 21
    name: str = "equal_weight"
    lookback: ClassVar[int] = 0  # needs no history

    def target_weights(self, panel: Panel) -> np.ndarray:
        """1/k on the k symbols with a bar at each rebalance date; NaN between."""
        mask = tradable(panel)
        out = np.full(panel.shape, np.nan)
        rows = rebalance_rows(panel.n_dates, self.every)
        out[rows] = equal_weights(mask[rows])
        return out
