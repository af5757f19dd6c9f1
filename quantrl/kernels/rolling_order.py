"""Rolling order statistics on (T, N) float64 arrays: quantile, median and percentile rank.

Same conventions as ``quantrl.kernels.rolling``: a window ending at row ``t`` covers rows
``t - w + 1 .. t`` only, must be full, and a non-finite value in it yields NaN. Each kernel keeps a
sorted window buffer per symbol, updated row by row for a block of symbols at once with one
branch-free pass (``_order_rows``), and runs ``prange`` over blocks of symbols.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# --------------------------------------------------------------------------- order statistics


@njit(cache=True, error_model="numpy")
def _order_rows(x, w, mode, q, out, j0, j1):
    """Columns ``j0:j1`` of ``x``: a sorted window per column, all columns updated row by row.

    The window of each column is kept sorted in ``buf[:, j]`` (+inf stands for a missing value,
    so it sorts last). Each row removes the value leaving the window and inserts the newcomer
    with one branch-free pass over the buffer positions, vectorised across the columns: with
    B' the buffer without the leaver u (``B'[i] = buf[i]`` where ``buf[i] < u``, else
    ``buf[i + 1]``), the new buffer is ``min(max(B'[i - 1], v), B'[i])``. The inner positions go
    four per sweep over the columns, so each buffer row is loaded once per sweep (the values, and
    so the bits, are those of one position per sweep). mode 0: quantile q (linear interpolation);
    mode 1: percentile rank of the last value (average ties).
    """
    T = x.shape[0]
    m = j1 - j0
    pos = q * (w - 1)
    lo = int(np.floor(pos))
    frac = pos - lo
    buf = np.full((w, m), np.inf)
    nxt = np.empty((w, m))
    bad = np.zeros(m, dtype=np.int64)  # non-finite values in each column's window
    vv = np.empty(m)
    uu = np.empty(m)
    less = np.empty(m)
    equal = np.empty(m)
    for t in range(T):
        row = x[t]
        steady = t >= w and w > 1
        if steady:  # newcomer, leaver and the first position in one sweep
            old = x[t - w]
            r0 = buf[0]
            r1 = buf[1]
            o0 = nxt[0]
            for jj in range(m):
                v = row[j0 + jj]
                ok = np.isfinite(v)
                v = v if ok else np.inf
                u = old[j0 + jj]
                ok_u = np.isfinite(u)
                u = u if ok_u else np.inf
                vv[jj] = v
                uu[jj] = u
                bad[jj] += (0 if ok else 1) - (0 if ok_u else 1)
                cur = r0[jj] if r0[jj] < u else r1[jj]
                o0[jj] = min(v, cur)
        else:
            for jj in range(m):
                v = row[j0 + jj]
                ok = np.isfinite(v)
                vv[jj] = v if ok else np.inf
                bad[jj] += 0 if ok else 1
            if t >= w:
                old = x[t - w]
                for jj in range(m):
                    u = old[j0 + jj]
                    ok = np.isfinite(u)
                    uu[jj] = u if ok else np.inf
                    bad[jj] -= 0 if ok else 1
            else:
                uu[:] = np.inf  # the window is not full yet: an empty slot leaves
        if w == 1:
            for jj in range(m):
                nxt[0, jj] = vv[jj]
        else:
            if not steady:
                r0 = buf[0]
                r1 = buf[1]
                o0 = nxt[0]
                for jj in range(m):
                    cur = r0[jj] if r0[jj] < uu[jj] else r1[jj]
                    o0[jj] = min(vv[jj], cur)
            i = 1
            while i + 4 <= w - 1:  # four positions per sweep: each buffer row is read once
                ra = buf[i - 1]
                rb = buf[i]
                rc = buf[i + 1]
                rd = buf[i + 2]
                re = buf[i + 3]
                rf = buf[i + 4]
                o1 = nxt[i]
                o2 = nxt[i + 1]
                o3 = nxt[i + 2]
                o4 = nxt[i + 3]
                for jj in range(m):
                    u = uu[jj]
                    v = vv[jj]
                    a = ra[jj]
                    b = rb[jj]
                    c = rc[jj]
                    d = rd[jj]
                    e = re[jj]
                    f = rf[jj]
                    pa = a if a < u else b
                    pb = b if b < u else c
                    pc = c if c < u else d
                    pd = d if d < u else e
                    pe = e if e < u else f
                    o1[jj] = min(max(pa, v), pb)
                    o2[jj] = min(max(pb, v), pc)
                    o3[jj] = min(max(pc, v), pd)
                    o4[jj] = min(max(pd, v), pe)
                i += 4
            for p in range(i, w - 1):
                ra = buf[p - 1]
                rb = buf[p]
                rc = buf[p + 1]
                oi = nxt[p]
                for jj in range(m):
                    u = uu[jj]
                    prev = ra[jj] if ra[jj] < u else rb[jj]
                    cur = rb[jj] if rb[jj] < u else rc[jj]
                    oi[jj] = min(max(prev, vv[jj]), cur)
            ra = buf[w - 2]
            rb = buf[w - 1]
            ol = nxt[w - 1]
            for jj in range(m):
                prev = ra[jj] if ra[jj] < uu[jj] else rb[jj]
                ol[jj] = max(prev, vv[jj])
        buf, nxt = nxt, buf
        dest = out[t]
        if t < w - 1:
            for jj in range(m):
                dest[j0 + jj] = np.nan
        elif mode == 0:
            ra = buf[lo]
            rb = buf[lo + 1] if lo + 1 < w else buf[lo]
            for jj in range(m):
                a = ra[jj]
                value = a + frac * (rb[jj] - a) if lo + 1 < w else a
                dest[j0 + jj] = value if bad[jj] == 0 else np.nan
        else:
            less[:] = 0.0
            equal[:] = 0.0
            for i in range(w):
                ri = buf[i]
                for jj in range(m):
                    less[jj] += 1.0 if ri[jj] < vv[jj] else 0.0
                    equal[jj] += 1.0 if ri[jj] == vv[jj] else 0.0
            for jj in range(m):
                rank = (less[jj] + (equal[jj] + 1) / 2.0) / w
                dest[j0 + jj] = rank if bad[jj] == 0 else np.nan


_BLOCK = 64
"""Columns per block of ``_order_stat_nb``: the block's window buffers stay in the L1 cache."""


@njit(cache=True, parallel=True, error_model="numpy")
def _order_stat_nb(x: np.ndarray, w: int, mode: int, q: float) -> np.ndarray:
    """``_order_rows`` on blocks of ``_BLOCK`` columns, the blocks spread over the threads."""
    T, N = x.shape
    out = np.empty((T, N))
    n_blocks = (N + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        _order_rows(x, w, mode, q, out, b * _BLOCK, min(N, (b + 1) * _BLOCK))
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
