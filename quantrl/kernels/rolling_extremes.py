"""Rolling max, min and their positions on (T, N) float64 arrays in O(T) (van Herk / Gil-Werman).

The conventions of ``quantrl.kernels.rolling`` hold: a window ending at row t reads rows <= t
only, must be full (the first w - 1 rows are NaN) and yields NaN when it holds a non-finite value.
The max/min kernels split the rows into blocks that start on multiples of w
(``quantrl.kernels.row_blocks``), so the result does not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.row_blocks import row_bounds_nb


@njit(cache=True, error_model="numpy")
def _suffix_extremes(x, sign, b0, b1, suf):
    """suf[k - b0] = max of sign * x over rows k..b1-1 (+inf where a non-finite value enters)."""
    m = x.shape[1]
    inf = np.inf
    for t in range(b1 - 1, b0 - 1, -1):
        k = t - b0
        if t == b1 - 1:
            for jj in range(m):
                v = x[t, jj]
                suf[k, jj] = sign * v if np.isfinite(v) else inf
        else:
            for jj in range(m):
                v = x[t, jj]
                v = sign * v if np.isfinite(v) else inf
                q = suf[k + 1, jj]
                suf[k, jj] = v if v > q else q


@njit(cache=True, error_model="numpy")
def _extreme_value(x, w, sign, out, t0, t1):
    """Rows t0..t1-1 (t0 a multiple of w) of the rolling max of ``sign * x``, times ``sign``.

    Van Herk / Gil-Werman within blocks of w rows: the window ending at t is the suffix of the
    previous block from t-w+1 (kept in a (w, N) buffer) and the prefix of t's block (a running
    row). A non-finite value enters as +inf, so its windows come out NaN.
    """
    m = x.shape[1]
    inf = np.inf
    suf = np.empty((w, m))
    pre = np.empty(m)
    if t0 >= w:
        _suffix_extremes(x, sign, t0 - w, t0, suf)
    for b0 in range(t0, t1, w):
        b1 = min(b0 + w, t1)
        for t in range(b0, b1):
            for jj in range(m):
                v = x[t, jj]
                v = sign * v if np.isfinite(v) else inf
                p = pre[jj]
                pre[jj] = v if (t == b0 or v > p) else p
            if t < w - 1:
                for jj in range(m):
                    out[t, jj] = np.nan
            elif t == b0 + w - 1:  # the window is this whole block
                for jj in range(m):
                    p = pre[jj]
                    out[t, jj] = sign * p if p != inf else np.nan
            else:
                k = t + 1 - b0  # row t-w+1 sits at offset k of the previous block
                for jj in range(m):
                    a = suf[k, jj]
                    p = pre[jj]
                    r = a if a > p else p
                    out[t, jj] = sign * r if r != inf else np.nan
        if b1 == b0 + w:
            _suffix_extremes(x, sign, b0, b1, suf)


@njit(cache=True, parallel=True)
def _extreme_rows(x, w, sign, out):
    bounds = row_bounds_nb(x.shape[0], w)
    for b in prange(bounds.shape[0] - 1):
        _extreme_value(x, w, sign, out, bounds[b], bounds[b + 1])


@njit(cache=True, error_model="numpy")
def _extreme_block(x, w, sign, want_idx, out):
    """Van Herk / Gil-Werman: prefix and suffix extremes within blocks of w rows, O(T).

    ``sign`` = 1 for max, -1 for min (values are multiplied by sign, so max is always taken).
    The window [t-w+1, t] is the suffix of its first block plus the prefix of t's block, so the
    result at t reads rows <= t only. Ties resolve to the earliest row.
    """
    T = x.shape[0]
    m = x.shape[1]
    if not want_idx:
        _extreme_rows(x, w, sign, out)
        return
    pre = np.empty((T, m))
    pre_i = np.empty((T, m), dtype=np.int64)
    suf = np.empty((T, m))
    suf_i = np.empty((T, m), dtype=np.int64)
    for t in range(T):
        start = (t % w) == 0
        for jj in range(m):
            v = x[t, jj]
            v = sign * v if np.isfinite(v) else -np.inf
            if start or v > pre[t - 1, jj]:
                pre[t, jj] = v
                pre_i[t, jj] = t
            else:
                pre[t, jj] = pre[t - 1, jj]
                pre_i[t, jj] = pre_i[t - 1, jj]
    for t in range(T - 1, -1, -1):
        end = (t % w) == w - 1 or t == T - 1
        for jj in range(m):
            v = x[t, jj]
            v = sign * v if np.isfinite(v) else -np.inf
            if end or v >= suf[t + 1, jj]:
                suf[t, jj] = v
                suf_i[t, jj] = t
            else:
                suf[t, jj] = suf[t + 1, jj]
                suf_i[t, jj] = suf_i[t + 1, jj]
    bad = np.zeros(m)
    for t in range(T):
        for jj in range(m):
            bad[jj] += 0.0 if np.isfinite(x[t, jj]) else 1.0
        if t >= w:
            for jj in range(m):
                bad[jj] -= 0.0 if np.isfinite(x[t - w, jj]) else 1.0
        if t < w - 1:
            for jj in range(m):
                out[t, jj] = np.nan
            continue
        s = t - w + 1
        for jj in range(m):
            if s % w == 0 or suf[s, jj] >= pre[t, jj]:
                val = suf[s, jj]
                idx = suf_i[s, jj]
            else:
                val = pre[t, jj]
                idx = pre_i[t, jj]
            res = float(idx - s + 1) if want_idx else sign * val
            out[t, jj] = res if bad[jj] == 0.0 else np.nan


@njit(cache=True, error_model="numpy")
def rolling_max_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling maximum (van Herk / Gil-Werman, O(T))."""
    T, N = x.shape
    out = np.empty((T, N))
    _extreme_block(x, w, 1.0, False, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_min_nb(x: np.ndarray, w: int) -> np.ndarray:
    """Rolling minimum (van Herk / Gil-Werman, O(T))."""
    T, N = x.shape
    out = np.empty((T, N))
    _extreme_block(x, w, -1.0, False, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_argmax_nb(x: np.ndarray, w: int) -> np.ndarray:
    """1-based position of the first maximum inside the window, oldest row = 1 (Qlib IdxMax)."""
    T, N = x.shape
    out = np.empty((T, N))
    _extreme_block(x, w, 1.0, True, out)
    return out


@njit(cache=True, error_model="numpy")
def rolling_argmin_nb(x: np.ndarray, w: int) -> np.ndarray:
    """1-based position of the first minimum inside the window, oldest row = 1 (Qlib IdxMin)."""
    T, N = x.shape
    out = np.empty((T, N))
    _extreme_block(x, w, -1.0, True, out)
    return out
