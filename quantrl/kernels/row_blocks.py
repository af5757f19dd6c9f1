"""Row blocks of the running-sum and rolling-extreme kernels, shared out among numba's threads."""

from __future__ import annotations

import numpy as np
from numba import njit

_ROW_BLOCKS = 8
"""Row blocks of the running-sum kernels, shared out among numba's threads. A fixed count (not
the thread count) keeps every result independent of how many threads run."""


@njit(cache=True)
def row_bounds_nb(T: int, align: int) -> np.ndarray:
    """Row-block bounds: every inner bound a positive multiple of ``align``.

    A block of a running-sum kernel starts on a re-synchronisation row, where the sums are
    rebuilt from the window alone (as the serial pass does there), so blocks give the serial
    result bit for bit at no extra cost.
    """
    n_blocks = max(1, min(_ROW_BLOCKS, T // max(align, 64)))
    bounds = np.empty(n_blocks + 1, dtype=np.int64)
    bounds[0] = 0
    for b in range(1, n_blocks):
        cut = (T * b // n_blocks) // align * align
        bounds[b] = min(max(cut, align, bounds[b - 1]), T)
    bounds[n_blocks] = T
    return bounds
