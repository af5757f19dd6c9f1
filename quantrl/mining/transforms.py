"""Per-date transforms of factors before the pool combines them: z-score or z-scored rank."""

from __future__ import annotations

import numpy as np

from quantrl.errors import ConfigError
from quantrl.kernels.cross_section import cs_rank_zscore_rows, cs_zscore_rows

TRANSFORMS = ("zscore", "rank")


def standardize_rows(values: np.ndarray) -> np.ndarray:
    """Per-date z-score over finite cells (ddof=0); missing or degenerate cells become 0.

    A date with fewer than 2 finite cells, or whose std is <= 1e-12 (|mean| + 1), is all 0.
    """
    return cs_zscore_rows(values)


def transform_rows(
    values: np.ndarray,
    transform: str = "zscore",
    *,
    out: np.ndarray | None = None,
    universe: np.ndarray | None = None,
) -> np.ndarray:
    """Per-date z-score (``"zscore"``) or z-scored percentile rank (``"rank"``) of a factor.

    Missing and degenerate cells are 0 (see ``standardize_rows``); with ``universe`` (boolean,
    same shape) so are the cells outside it, after standardising. ``out`` (C-contiguous
    float64) receives the result instead of a new array.
    """
    if transform == "zscore":
        return cs_zscore_rows(values, out, universe)
    if transform == "rank":
        return cs_rank_zscore_rows(values, out, universe)
    raise ConfigError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
