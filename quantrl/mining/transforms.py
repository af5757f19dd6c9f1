"""Per-date transforms of factors before the pool combines them: z-score or z-scored rank."""

from __future__ import annotations

import numpy as np

from quantrl.errors import ConfigError
from quantrl.kernels.cross_section import cs_rank_nb

TRANSFORMS = ("zscore", "rank")


def standardize_rows(values: np.ndarray) -> np.ndarray:
    """Per-date z-score over finite cells (ddof=0); missing or degenerate cells become 0."""
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    count = finite.sum(axis=1, keepdims=True)
    filled = np.where(finite, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1, keepdims=True) / count
        centred = np.where(finite, x - mean, 0.0)
        std = np.sqrt((centred * centred).sum(axis=1, keepdims=True) / count)
        z = centred / std
    ok = (count >= 2) & (std > 1e-12 * (np.abs(mean) + 1.0))
    z = np.where(ok & finite, z, 0.0)
    return np.ascontiguousarray(z)


def transform_rows(values: np.ndarray, transform: str = "zscore") -> np.ndarray:
    """Per-date z-score (``"zscore"``) or z-scored percentile rank (``"rank"``) of a factor."""
    if transform == "zscore":
        return standardize_rows(values)
    if transform == "rank":
        return standardize_rows(cs_rank_nb(np.ascontiguousarray(values, dtype=np.float64)))
    raise ConfigError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
