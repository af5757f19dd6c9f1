"""Kernels that count how two (T, N) float64 arrays, or one and a constant, compare cell by cell.

Cells where either side is not finite are left out. Serial on purpose: one pass over two arrays
is memory-bound, and the counts are exact integers whatever the order.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def comparison_counts_nb(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """(cells with a > b, cells with a < b, cells with a == b) where both are finite."""
    greater = less = equal = 0
    for t in range(a.shape[0]):
        for j in range(a.shape[1]):
            x, y = a[t, j], b[t, j]
            if x - x != 0.0 or y - y != 0.0:  # NaN or infinite
                continue
            if x > y:
                greater += 1
            elif x < y:
                less += 1
            else:
                equal += 1
    return greater, less, equal


@njit(cache=True)
def threshold_counts_nb(a: np.ndarray, c: float) -> tuple[int, int, int]:
    """(cells with a > c, cells with a < c, cells with a == c) where ``a`` is finite."""
    greater = less = equal = 0
    for t in range(a.shape[0]):
        for j in range(a.shape[1]):
            x = a[t, j]
            if x - x != 0.0:
                continue
            if x > c:
                greater += 1
            elif x < c:
                less += 1
            else:
                equal += 1
    return greater, less, equal
