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
def _step_runs(x: np.ndarray, t: int, run: np.ndarray) -> None:
    """Advance per-column runs of equal finite values to row t (branch-free: vectorises)."""
    inf = np.inf
    if t == 0:
        for j in range(x.shape[1]):
            run[j] = np.int64(abs(x[0, j]) < inf)
        return
    for j in range(x.shape[1]):
        v = x[t, j]
        same = np.int64(v == x[t - 1, j])
        run[j] = (same * run[j] + 1) * np.int64(abs(v) < inf)


@njit(cache=True, error_model="numpy")
def set_flat_nb(out: np.ndarray, x: np.ndarray, w: int, value: float) -> None:
    """Set ``out[t, j] = value`` where the window of ``w`` rows of ``x`` ending at t holds one
    repeated finite value (in place)."""
    T, N = x.shape
    run = np.zeros(N, dtype=np.int64)
    for t in range(T):
        _step_runs(x, t, run)
        for j in range(N):
            out[t, j] = value if run[j] >= w else out[t, j]


@njit(cache=True, error_model="numpy")
def set_flat_pair_nb(out: np.ndarray, x: np.ndarray, y: np.ndarray, w: int, value: float) -> None:
    """Set ``out[t, j] = value`` where the window of ``w`` rows ending at t is flat in ``x`` or
    in ``y`` and the other operand is finite over it (in place)."""
    T, N = x.shape
    run_x = np.zeros(N, dtype=np.int64)
    run_y = np.zeros(N, dtype=np.int64)
    finite = np.zeros(N, dtype=np.int64)  # run of rows where both are finite
    inf = np.inf
    for t in range(T):
        _step_runs(x, t, run_x)
        _step_runs(y, t, run_y)
        for j in range(N):
            ok = np.int64((abs(x[t, j]) < inf) & (abs(y[t, j]) < inf))
            finite[j] = (finite[j] + 1) * ok
            hit = (finite[j] >= w) & ((run_x[j] >= w) | (run_y[j] >= w))
            out[t, j] = value if hit else out[t, j]
