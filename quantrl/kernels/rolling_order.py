"""Rolling order statistics on (T, N) float64 arrays: quantile, median and percentile rank.

Same conventions as ``quantrl.kernels.rolling``: a window ending at row ``t`` covers rows
``t - w + 1 .. t`` only, must be full, and a non-finite value in it yields NaN. Each kernel keeps a
sorted window buffer per symbol (a binary search finds the value leaving the window, a shift places
the new one) and runs ``prange`` over symbols.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# --------------------------------------------------------------------------- order statistics


@njit(cache=True, error_model="numpy")
def _lower_bound(buf, n, v):
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, error_model="numpy")
def _upper_bound(buf, n, v):
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if buf[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, error_model="numpy")
def _order_col(x, w, out, mode, q, buf):
    """Sorted window of the finite values, updated in place.

    When one value leaves and one enters, the newcomer takes the leaver's slot and moves to its
    sorted place, so the cost is the rank distance between them. mode 0: quantile q (linear
    interpolation); mode 1: percentile rank of the last value (average ties).
    """
    T = x.shape[0]
    n = 0
    for t in range(T):
        v = x[t]
        v_ok = np.isfinite(v)
        u_ok = False
        u = 0.0
        if t >= w:
            u = x[t - w]
            u_ok = np.isfinite(u)
        if u_ok and v_ok:
            k = _lower_bound(buf, n, u)
            while k > 0 and buf[k - 1] > v:
                buf[k] = buf[k - 1]
                k -= 1
            while k < n - 1 and buf[k + 1] < v:
                buf[k] = buf[k + 1]
                k += 1
            buf[k] = v
        else:
            if u_ok:
                k = _lower_bound(buf, n, u)
                for i in range(k, n - 1):
                    buf[i] = buf[i + 1]
                n -= 1
            if v_ok:
                k = n
                while k > 0 and buf[k - 1] > v:
                    buf[k] = buf[k - 1]
                    k -= 1
                buf[k] = v
                n += 1
        if t < w - 1 or n != w:
            out[t] = np.nan
        elif mode == 0:
            pos = q * (w - 1)
            lo = int(np.floor(pos))
            frac = pos - lo
            if lo + 1 < w:
                out[t] = buf[lo] + frac * (buf[lo + 1] - buf[lo])
            else:
                out[t] = buf[lo]
        else:
            less = _lower_bound(buf, n, v)
            equal = _upper_bound(buf, n, v) - less
            out[t] = (less + (equal + 1) / 2.0) / w


@njit(cache=True, parallel=True, error_model="numpy")
def _order_stat_nb(x: np.ndarray, w: int, mode: int, q: float) -> np.ndarray:
    """``_order_col`` on every column, columns spread over the threads."""
    T, N = x.shape
    out = np.empty((T, N))
    for j in prange(N):
        buf = np.empty(w + 1)
        col = np.empty(T)
        _order_col(x[:, j].copy(), w, col, mode, q, buf)
        out[:, j] = col
    return out


@njit(cache=True, error_model="numpy")
def rolling_quantile_nb(x: np.ndarray, w: int, q: float) -> np.ndarray:
    """Rolling ``q``-quantile with linear interpolation (pandas ``rolling(w).quantile(q)``)."""
    return _order_stat_nb(x, w, 0, q)


@njit(cache=True, error_model="numpy")
def rolling_median_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling median (mean of the two middle values for even ``w``, as pandas)."""
    return _order_stat_nb(x, w, 0, 0.5)


@njit(cache=True, error_model="numpy")
def rolling_rank_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Percentile rank of the last value in its window (pandas ``rolling(w).rank(pct=True)``)."""
    return _order_stat_nb(x, w, 1, 0.0)
