"""Buy and hold: equal weights on the first date, never rebalanced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from quantrl.data.panel import Panel
from strategies.base import equal_weights, register, tradable


@register("buy_and_hold")
@dataclass
class BuyAndHold:
    """Invest 1/N in every tradable symbol on the first date, then hold (NaN rows = no trade)."""

    name: str = "buy_and_hold"
    lookback: ClassVar[int] = 0  # needs no history

    def target_weights(self, panel: Panel) -> np.ndarray:
        """One target row on the first date with bars; NaN afterwards."""
        mask = tradable(panel)
        out = np.full(panel.shape, np.nan)
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size:
            out[rows[0]] = equal_weights(mask[rows[0]])
        return out
