"""Flat windows: rolling windows whose values are all equal, where spreads are exactly 0.

A running-sum kernel computes a spread from sums around a fixed centre, so on a window of equal
values it returns rounding noise (1e-16 relative, 1e-5 absolute on prices) instead of 0; such
windows are common in derived series (a 50-day rolling minimum is flat for weeks), and a ratio
or a correlation taken over that noise is meaningless. These kernels find the flat windows in
one row-major pass (the length of the run of equal finite values ending at each row) and write
the exact value there.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def set_flat_nb(out: np.ndarray, x: np.ndarray, w: int, value: float) -> None:
    """Set ``out[t, j] = value`` where the window of ``w`` rows of ``x`` ending at t holds one
    repeated finite value (in place)."""
    T, N = x.shape
    run = np.zeros(N, dtype=np.int64)
    for t in range(T):
        for j in range(N):
            v = x[t, j]
            if not np.isfinite(v):
                run[j] = 0
            elif t > 0 and run[j] > 0 and v == x[t - 1, j]:
                run[j] += 1
            else:
                run[j] = 1
            if run[j] >= w:
                out[t, j] = value


@njit(cache=True, error_model="numpy")
def set_flat_pair_nb(out: np.ndarray, x: np.ndarray, y: np.ndarray, w: int, value: float) -> None:
    """Set ``out[t, j] = value`` where the window of ``w`` rows ending at t is flat in ``x`` or
    in ``y`` and the other operand is finite over it (in place)."""
    T, N = x.shape
    run_x = np.zeros(N, dtype=np.int64)
    run_y = np.zeros(N, dtype=np.int64)
    finite = np.zeros(N, dtype=np.int64)  # run of rows where both are finite
    for t in range(T):
        for j in range(N):
            a, b = x[t, j], y[t, j]
            ok_a, ok_b = np.isfinite(a), np.isfinite(b)
            if not ok_a:
                run_x[j] = 0
            elif t > 0 and run_x[j] > 0 and a == x[t - 1, j]:
                run_x[j] += 1
            else:
                run_x[j] = 1
            if not ok_b:
                run_y[j] = 0
            elif t > 0 and run_y[j] > 0 and b == y[t - 1, j]:
                run_y[j] += 1
            else:
                run_y[j] = 1
            finite[j] = finite[j] + 1 if ok_a and ok_b else 0
            if finite[j] >= w and (run_x[j] >= w or run_y[j] >= w):
                out[t, j] = value
