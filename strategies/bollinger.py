"""Bollinger-band mean reversion: buy below the lower band, sell back at the moving average."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.alpha import evaluate
from quantrl.data.panel import Panel
from quantrl.errors import ConfigError
from strategies.base import register


@register("bollinger")
@dataclass
class BollingerReversion:
    """Enter long (1/N) when close < Mean - k*Std over ``window``; exit when close >= Mean."""

    window: int = 20
    k: float = 2.0
    name: str = "bollinger"

    @property
    def lookback(self) -> int:
        """Rows of history needed: the bands' window."""
        return self.window

    def __post_init__(self) -> None:
        if self.window < 2 or self.k <= 0:
            raise ConfigError(f"need window >= 2 and k > 0, got window={self.window}, k={self.k}")

    def target_weights(self, panel: Panel) -> np.ndarray:
        """A target on entry and exit bars only (NaN = keep the position)."""
        close = panel["close"]
        mean = evaluate(f"Mean($close, {self.window})", panel)
        std = evaluate(f"Std($close, {self.window})", panel)
        lower = mean - self.k * std
        out = np.full(panel.shape, np.nan)
        holding = np.zeros(panel.n_symbols, dtype=bool)
        size = 1.0 / panel.n_symbols
        for t in range(panel.n_dates):
            ok = np.isfinite(close[t]) & np.isfinite(lower[t])
            enter = ok & ~holding & (close[t] < lower[t])
            leave = ok & holding & (close[t] >= mean[t])
            out[t, enter] = size
            out[t, leave] = 0.0
            holding = (holding | enter) & ~leave
        return out
