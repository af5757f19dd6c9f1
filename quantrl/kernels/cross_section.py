"""Cross-sectional kernels on (T, N) float64 arrays: each row (date) is treated on its own.

Non-finite entries are left out of a row's statistics and stay NaN in the output; ``prange`` runs
over dates. A row only ever reads its own values, so no kernel here can look ahead in time.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.correlation import (
    _blocks,
    _ranks_from_keys_nb,
    key_shift,
    sorted_keys,
)


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


@njit(cache=True, inline="always")
def _zscore_row_nb(vals, valid, n, urow, masked, out):
    """Write the z-score (ddof=0) of ``vals`` over ``valid`` (1.0 / 0.0) into ``out``, 0 elsewhere.

    A row with fewer than 2 valid values or no variance (std <= 1e-12 (|mean| + 1)) is all 0,
    like ``quantrl.mining.transforms.standardize_rows``; with ``masked``, cells outside
    ``urow`` are 0 too.
    """
    n_cols = vals.shape[0]
    s = 0.0
    for j in range(n_cols):
        s += vals[j] if valid[j] > 0.0 else 0.0
    mean = s / n if n > 0 else 0.0
    ss = 0.0
    for j in range(n_cols):
        d = vals[j] - mean if valid[j] > 0.0 else 0.0
        ss += d * d
    std = np.sqrt(ss / n) if n > 0 else 0.0
    ok = n >= 2 and std > 1e-12 * (abs(mean) + 1.0)
    scale = 1.0 / std if ok else 0.0
    if masked:
        for j in range(n_cols):
            keep = valid[j] > 0.0 and urow[j]
            out[j] = (vals[j] - mean) * scale if keep else 0.0
    else:
        for j in range(n_cols):
            out[j] = (vals[j] - mean) * scale if valid[j] > 0.0 else 0.0


@njit(cache=True, parallel=True)
def _zscore_rows_nb(x, universe, masked, out, n_blocks):
    t_len, n_cols = x.shape
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        valid = np.empty(n_cols, dtype=np.float64)
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            row = x[t]
            n = 0.0
            for j in range(n_cols):
                valid[j] = 1.0 if np.isfinite(row[j]) else 0.0
                n += valid[j]
            _zscore_row_nb(row, valid, n, universe[t if masked else 0], masked, out[t])


@njit(cache=True, inline="always")
def _rank_spread_nb(ranks: np.ndarray, valid: np.ndarray, centre: float) -> float:
    """Sum of (rank - centre)^2 over the valid entries, in four interleaved sums.

    Average ranks and their centre are multiples of 1/2, so every square is a multiple of 1/4
    below 2^36 and every partial sum is exact (for rows under 2^15 entries): the total is the
    same in any order, and four chains run four times faster than one.
    """
    n_cols = ranks.shape[0]
    m = n_cols - n_cols % 4
    s0 = s1 = s2 = s3 = 0.0
    for j in range(0, m, 4):
        d0 = ranks[j] - centre if valid[j] else 0.0
        d1 = ranks[j + 1] - centre if valid[j + 1] else 0.0
        d2 = ranks[j + 2] - centre if valid[j + 2] else 0.0
        d3 = ranks[j + 3] - centre if valid[j + 3] else 0.0
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
    for j in range(m, n_cols):
        d = ranks[j] - centre if valid[j] else 0.0
        s0 += d * d
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, parallel=True)
def _rank_zscore_rows_nb(x, keys, shift, top, universe, masked, out, n_blocks):
    """Z-scored percentile ranks per row; average ranks 1..n have mean (n + 1) / 2 exactly
    (ties keep the sum), so only their spread needs a pass before the values are written."""
    t_len, n_cols = x.shape
    step = (t_len + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        finite = np.empty(n_cols, dtype=np.bool_)
        ranks = np.zeros(n_cols, dtype=np.float64)
        run = np.empty(n_cols, dtype=np.int64)
        for t in range(blk * step, min(t_len, (blk + 1) * step)):
            row = x[t]
            n = 0
            for j in range(n_cols):
                finite[j] = np.isfinite(row[j])
                n += 1 if finite[j] else 0
            orow = out[t]
            if n < 2:
                orow[:] = 0.0
                continue
            _ranks_from_keys_nb(row, keys[t], finite, shift, top, ranks, run)
            centre = 0.5 * (n + 1)
            ss = _rank_spread_nb(ranks, finite, centre)
            std = np.sqrt(ss / n)
            # the percentile ranks r / n have mean centre / n and std std / n
            if not std / n > 1e-12 * (centre / n + 1.0):
                orow[:] = 0.0
                continue
            scale = 1.0 / std
            if masked:
                urow = universe[t]
                for j in range(n_cols):
                    keep = finite[j] and urow[j]
                    orow[j] = (ranks[j] - centre) * scale if keep else 0.0
            else:
                for j in range(n_cols):
                    orow[j] = (ranks[j] - centre) * scale if finite[j] else 0.0


def _prepare(
    values: np.ndarray, out: np.ndarray | None, universe: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    x = np.ascontiguousarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (T, N) array, got shape {x.shape}")
    if out is None:
        out = np.empty(x.shape, dtype=np.float64)
    elif out.shape != x.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 {x.shape} array")
    masked = universe is not None
    uni = np.ones((1, 1), dtype=np.bool_) if universe is None else universe
    if masked and (uni.shape != x.shape or uni.dtype != np.bool_):
        raise ValueError(f"universe must be a boolean {x.shape} array")
    return x, out, uni, masked


def cs_zscore_rows(
    values: np.ndarray, out: np.ndarray | None = None, universe: np.ndarray | None = None
) -> np.ndarray:
    """Per-date z-score (ddof=0) over finite cells; missing or degenerate cells 0 (into ``out``).

    With ``universe`` (boolean (T, N)), cells outside it are set to 0 after standardising.
    """
    x, out, uni, masked = _prepare(values, out, universe)
    _zscore_rows_nb(x, uni, masked, out, _blocks(x.shape[0]))
    return out


def cs_rank_zscore_rows(
    values: np.ndarray, out: np.ndarray | None = None, universe: np.ndarray | None = None
) -> np.ndarray:
    """Per-date z-scored percentile rank (ties averaged) over finite cells, as ``cs_zscore_rows``
    of ``cs_rank_nb``'s output; ranks come from one vectorised sort of packed keys."""
    x, out, uni, masked = _prepare(values, out, universe)
    keys = sorted_keys(x)
    shift = key_shift(x.shape[1])
    top = (1 << (8 * keys.itemsize - 1 - shift)) - 1
    _rank_zscore_rows_nb(x, keys, shift, top, uni, masked, out, _blocks(x.shape[0]))
    return out


@njit(cache=True)
def count_finite_in_nb(values: np.ndarray, universe: np.ndarray) -> int:
    """Number of cells of a (T, N) array that are finite and inside the boolean ``universe``."""
    t_len, n_cols = values.shape
    count = 0
    for t in range(t_len):
        row = 0
        for j in range(n_cols):  # branch-free: x - x is 0 exactly when x is finite
            x = values[t, j]
            row += np.int64(universe[t, j]) & np.int64(x - x == 0.0)
        count += row
    return count
