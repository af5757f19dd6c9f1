"""The validation split that gates a pool's acceptance, and the combined factor of weighted
members."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.expr import Expr
from quantrl.errors import ConfigError
from quantrl.kernels.cross_section import cs_rank_nb
from quantrl.mining.neutral import Exposures
from quantrl.mining.pool_stats import finite_mean
from quantrl.stats.ic import ic_series, label_order, rank_ic_series

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

    @classmethod
    def bind(
        cls,
        panel: Any,
        label: np.ndarray,
        *,
        symbols: Sequence[str],
        transform: str,
        cache: EvalCache | None,
        exposures: Callable[[Any, EvalCache], Exposures | None],
    ) -> ValidationSplit:
        """The split of a pool trained on ``symbols``: ConfigError for a label of another shape
        than the panel, other symbols or no finite label; ``exposures(panel, cache)`` are the
        style exposures, and with the ``"rank"`` transform the target is the label's ranks."""
        y = np.asarray(label, dtype=np.float64)
        shape = (int(panel.n_dates), int(panel.n_symbols))
        if y.shape != shape:
            raise ConfigError(f"validation label shape {y.shape} differs from the panel's {shape}")
        if tuple(panel.symbols) != tuple(symbols):
            raise ConfigError("the validation panel must have the training panel's symbols")
        universe = np.isfinite(y)
        if not universe.any():
            raise ConfigError("the validation label has no finite value")
        cache = cache if cache is not None else EvalCache(max_bytes=128 << 20)
        target = y
        if transform == "rank":
            target = np.where(universe, cs_rank_nb(np.ascontiguousarray(y)), np.nan)
        return cls(panel, y, universe, label_order(y), cache, exposures(panel, cache), target)

    def factor(
        self, expr: Expr, factor_rows: Callable[[np.ndarray, Exposures | None], np.ndarray]
    ) -> np.ndarray:
        """A formula's factor on this panel as ``factor_rows`` transforms it, 0 outside the
        label's universe."""
        values = evaluate(expr, self.panel, cache=self.cache)
        return np.where(self.universe, factor_rows(values, self.expo), 0.0)

    def objective(self, vzs: Sequence[np.ndarray], w: np.ndarray, objective: str) -> float:
        """Mean per-date IC (``"ic"``) or RankIC of the combination ``w`` of validation-panel
        factors; 0 without members."""
        if w.size == 0:
            return 0.0
        combo = masked_combination(vzs, w, self.universe)
        if objective == "ic":
            return finite_mean(ic_series(combo, self.target))
        return finite_mean(rank_ic_series(combo, self.label, order=self.order))
