"""The validation split that gates a pool's acceptance, and the combined factor of weighted
members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantrl.alpha.engine import EvalCache
from quantrl.mining.neutral import Exposures
from quantrl.mining.pool_stats import finite_mean
from quantrl.stats.ic import ic_series, rank_ic_series

__all__ = ["ValidationSplit", "masked_combination"]


def masked_combination(zs: Sequence[np.ndarray], w: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """The combined factor ``sum_i w_i z_i``, NaN outside ``universe``."""
    combo = np.zeros_like(zs[0])
    for z, wi in zip(zs, w, strict=True):
        combo += wi * z
    return np.where(universe, combo, np.nan)


@dataclass(frozen=True)
class ValidationSplit:
    """A validation panel and label as the pool scores them (``AlphaPool.bind_validation``)."""

    panel: Any
    label: np.ndarray  # (T, N) raw label
    universe: np.ndarray  # (T, N) where the label is finite
    order: np.ndarray  # the label's per-date sort (``quantrl.stats.ic.label_order``)
    cache: EvalCache  # the members' evaluations on this panel
    expo: Exposures | None  # style exposures the factors are neutralised against
    target: np.ndarray  # what the "ic" objective correlates with: the label or its ranks

    def objective(self, vzs: Sequence[np.ndarray], w: np.ndarray, objective: str) -> float:
        """Mean per-date IC (``"ic"``) or RankIC of the combination ``w`` of validation-panel
        factors; 0 without members."""
        if w.size == 0:
            return 0.0
        combo = masked_combination(vzs, w, self.universe)
        if objective == "ic":
            return finite_mean(ic_series(combo, self.target))
        return finite_mean(rank_ic_series(combo, self.label, order=self.order))
