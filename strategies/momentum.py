"""Cross-sectional momentum: hold the past winners (e.g. 12-1 month), optionally short the losers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantrl.data.panel import Panel
from quantrl.errors import ConfigError
from strategies.base import rebalance_rows, register


def quantile_long_short(scores: np.ndarray, quantile: float, long_short: bool) -> np.ndarray:
    """Equal weights on the top ``quantile`` of finite scores (and -weights on the bottom).

    Long-only: the top names share 1. Long/short: the top share +0.5 and the bottom -0.5.
    """
    out = np.zeros(scores.shape)
    valid = np.flatnonzero(np.isfinite(scores))
    if valid.size < 2:
        return out
    k = max(1, int(np.floor(quantile * valid.size)))
    order = valid[np.argsort(scores[valid], kind="stable")]
    top, bottom = order[-k:], order[:k]
    if long_short:
        out[top] = 0.5 / k
        out[bottom] = -0.5 / k
    else:
        out[top] = 1.0 / k
    return out


@register("momentum")
@dataclass
class Momentum:
    """Score = close[t - skip] / close[t - lookback] - 1; top ``quantile`` held equally.

    ``lookback`` is also the rows of history the strategy needs before its first decision.
    """

    lookback: int = 252
    skip: int = 21
    quantile: float = 0.2
    long_short: bool = False
    every: int = 21
    name: str = "momentum"

    def __post_init__(self) -> None:
        if not 0 <= self.skip < self.lookback:
            raise ConfigError(
                f"need 0 <= skip < lookback, got skip={self.skip}, lookback={self.lookback}"
            )
        if not 0 < self.quantile <= 0.5 or (not self.long_short and self.quantile > 1):
            raise ConfigError(f"quantile must be in (0, 0.5], got {self.quantile}")

    def target_weights(self, panel: Panel) -> np.ndarray:
        """Weights at each rebalance date from prices up to that date; NaN between."""
        close = panel["close"]
        out = np.full(panel.shape, np.nan)
        for row in rebalance_rows(panel.n_dates, self.every, start=self.lookback):
            with np.errstate(invalid="ignore", divide="ignore"):
                score = close[row - self.skip] / close[row - self.lookback] - 1.0
            score[~np.isfinite(close[row])] = np.nan
            out[row] = quantile_long_short(score, self.quantile, self.long_short)
        return out
