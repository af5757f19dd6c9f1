"""Cross-sectional kernels on (T, N) float64 arrays: each row (date) is treated on its own.

Non-finite entries are left out of a row's statistics and stay NaN in the output; ``prange`` runs
over dates. A row only ever reads its own values, so no kernel here can look ahead in time.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, error_model="numpy")
def _rank_row(row, out):
    n_all = row.shape[0]
    idx = np.empty(n_all, dtype=np.int64)
    n = 0
    for j in range(n_all):
        if np.isfinite(row[j]):
            idx[n] = j
            n += 1
    if n == 0:
        return
    vals = np.empty(n)
    for k in range(n):
        vals[k] = row[idx[k]]
    order = np.argsort(vals)
    i = 0
    while i < n:
        k = i
        v = vals[order[i]]
        while k + 1 < n and vals[order[k + 1]] == v:
            k += 1
        avg = (i + k) / 2.0 + 1.0
        for m in range(i, k + 1):
            out[idx[order[m]]] = avg / n
        i = k + 1


@njit(cache=True, parallel=True, error_model="numpy")
def cs_rank_nb(x: np.ndarray) -> np.ndarray:
    """Per-date percentile rank in (0, 1], ties averaged (pandas ``rank(pct=True)`` per row)."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for t in prange(T):
        _rank_row(x[t], out[t])
    return out


@njit(cache=True, error_model="numpy")
def _center_row(row, out, scale):
    N = row.shape[0]
    s = 0.0
    n = 0
    for j in range(N):
        v = row[j]
        if np.isfinite(v):
            s += v
            n += 1
    if n == 0:
        return
    m = s / n
    sd = 1.0
    if scale:
        if n < 2:
            return
        ss = 0.0
        for j in range(N):
            v = row[j]
            if np.isfinite(v):
                ss += (v - m) * (v - m)
        sd = np.sqrt(ss / (n - 1))
        if not sd > 0.0:
            return
    for j in range(N):
        v = row[j]
        if np.isfinite(v):
            out[j] = (v - m) / sd


@njit(cache=True, parallel=True, error_model="numpy")
def cs_demean_nb(x: np.ndarray) -> np.ndarray:
    """Subtract each date's cross-sectional mean."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for t in prange(T):
        _center_row(x[t], out[t], False)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def cs_zscore_nb(x: np.ndarray) -> np.ndarray:
    """Per-date z-score (x - mean) / std with ddof=1; NaN on dates with < 2 values or zero std."""
    T, N = x.shape
    out = np.full((T, N), np.nan)
    for t in prange(T):
        _center_row(x[t], out[t], True)
    return out
